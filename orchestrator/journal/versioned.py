"""One versioned record store, for what is kept between runs beside the journal: the findings of runs
(``journal/findings.py``) and the primary site's watch state (``journal/watch.py``).

A record is a JSON object under a key, in a partition (the site), stored with a version: a write of version
``v + 1`` applies only if the stored one is still ``v`` (0: there is none yet), so two writers (two runs, two
watchers, a run and a ``findings close``) never lose each other's change; the loser reads again and decides
again. Locally a small SQLite file in the state dir; in team mode items of the site's state table
(``pk = PREFIX#PARTITION``, ``sk = KEY``). Each user keeps its own file, table and item names (its
``SqliteLayout`` / ``DynamoLayout``), so what earlier releases wrote reads the same."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from orchestrator.clock import Clock


class VersionedStore(Protocol):
    def read(self, partition: str, key: str) -> tuple[int, dict[str, Any]]:
        """The record and its version (0 and {} when there is none)."""
        ...

    def write(self, partition: str, key: str, record: dict[str, Any], version: int) -> bool:
        """Store ``record`` as version ``version + 1`` if the stored one is still ``version``; False when
        another writer came first."""
        ...

    def list(self, partition: str | None) -> list[dict[str, Any]]:
        """Every record of ``partition`` (of every partition the store can list when None), by key."""
        ...


@dataclass(frozen=True)
class SqliteLayout:
    """Where a store's records are in its SQLite file: one table, one row per key."""

    file: str
    table: str
    key: str
    record: str
    #: the partition's column; None when the key is the partition (one record per partition)
    partition: str | None = None

    def create(self) -> str:
        partition = f"{self.partition} TEXT NOT NULL, " if self.partition else ""
        return (f"CREATE TABLE IF NOT EXISTS {self.table} ({self.key} TEXT PRIMARY KEY, {partition}"
                f"version INTEGER NOT NULL, {self.record} TEXT NOT NULL)")


class SqliteVersionedStore:
    def __init__(self, state_dir: Path, layout: SqliteLayout) -> None:
        Path(state_dir).mkdir(parents=True, exist_ok=True)
        self.path = Path(state_dir) / layout.file
        self.layout = layout

    def _db(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute(self.layout.create())
        return db

    def _where(self, partition: str) -> tuple[str, tuple[str, ...]]:
        """The row of a key, in its partition when the table has one."""
        if self.layout.partition:
            return f"{self.layout.key}=? AND {self.layout.partition}=?", (partition,)
        return f"{self.layout.key}=?", ()

    def read(self, partition: str, key: str) -> tuple[int, dict[str, Any]]:
        where, args = self._where(partition)
        with contextlib.closing(self._db()) as db:
            row = db.execute(f"SELECT version, {self.layout.record} FROM {self.layout.table} "  # noqa: S608
                             f"WHERE {where}", (key, *args)).fetchone()
        return (0, {}) if row is None else (int(row[0]), json.loads(row[1]))

    def write(self, partition: str, key: str, record: dict[str, Any], version: int) -> bool:
        lay = self.layout
        columns = (lay.key, *([lay.partition] if lay.partition else []), "version", lay.record)
        values = (key, *([partition] if lay.partition else []), version + 1, json.dumps(record, sort_keys=True))
        with contextlib.closing(self._db()) as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(f"SELECT version FROM {lay.table} WHERE {lay.key}=?", (key,)).fetchone()  # noqa: S608
            if (0 if row is None else int(row[0])) != version:
                db.execute("ROLLBACK")
                return False
            db.execute(f"INSERT OR REPLACE INTO {lay.table} ({', '.join(columns)}) "  # noqa: S608
                       f"VALUES ({', '.join('?' * len(columns))})", values)
            db.execute("COMMIT")
        return True

    def list(self, partition: str | None) -> list[dict[str, Any]]:
        lay = self.layout
        args: tuple[str, ...]
        query, args = f"SELECT {lay.record} FROM {lay.table}", ()  # noqa: S608
        if partition:
            query, args = query + f" WHERE {lay.partition or lay.key}=?", (partition,)
        with contextlib.closing(self._db()) as db:
            return [json.loads(r[0]) for r in db.execute(query + f" ORDER BY {lay.key}", args).fetchall()]

    def partition_of(self, key: str) -> str | None:
        """The partition of ``key``'s record; None when there is none."""
        column = self.layout.partition or self.layout.key
        with contextlib.closing(self._db()) as db:
            row = db.execute(f"SELECT {column} FROM {self.layout.table} WHERE {self.layout.key}=?",  # noqa: S608
                             (key,)).fetchone()
        return None if row is None else str(row[0])


@dataclass(frozen=True)
class DynamoLayout:
    """Where a store's records are in the state table: ``pk = PREFIX#PARTITION``, the record's JSON text in
    one attribute."""

    prefix: str
    record: str
    sort_keys: bool = True


class DynamoVersionedStore:
    def __init__(self, table: str, region: str, clock: Clock, layout: DynamoLayout) -> None:
        from orchestrator.journal.dynamodb.table import Table

        self.table = Table(table, region, clock)
        self.layout = layout

    def read(self, partition: str, key: str) -> tuple[int, dict[str, Any]]:
        item = self.table.get(f"{self.layout.prefix}#{partition}", key)
        if not item:
            return 0, {}
        return int(item["version"]["N"]), json.loads(item[self.layout.record]["S"])

    def write(self, partition: str, key: str, record: dict[str, Any], version: int) -> bool:
        from orchestrator.journal.dynamodb.codec import key as item_key
        from orchestrator.journal.dynamodb.codec import n, s
        from orchestrator.journal.dynamodb.table import ConditionFailed

        text = json.dumps(record, sort_keys=self.layout.sort_keys)
        item = {**item_key(f"{self.layout.prefix}#{partition}", key), "version": n(version + 1),
                self.layout.record: s(text)}
        try:
            if version == 0:
                self.table.put(item, "attribute_not_exists(pk)")
            else:
                self.table.call("put_item", TableName=self.table.name, Item=item,
                                ConditionExpression="version = :v", ExpressionAttributeValues={":v": n(version)})
        except ConditionFailed:
            return False
        return True

    def list(self, partition: str | None) -> list[dict[str, Any]]:
        """The records of ``partition``; none when None (a table is listed one partition at a time)."""
        if partition is None:
            return []
        return [json.loads(item[self.layout.record]["S"])
                for item in self.table.query(f"{self.layout.prefix}#{partition}")]

    def partition_of(self, key: str) -> str | None:
        """Not known without the partition (a table is read one partition at a time)."""
        return None
