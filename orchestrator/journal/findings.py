"""Where the findings of runs are kept between runs (contract 1.2, evidence: ``orchestrator findings``): one
record per finding, keyed by its id (the same kind, step and site make the same finding, so a recurring one is
found again), written with a version check so that two runs or a run and a ``findings close`` never lose each
other's change. Locally a small SQLite file in the state dir; in team mode items of the site's state table
(``pk = FINDINGS#SITE``, ``sk = ID``). Same pattern as ``journal/watch.py``."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any, Protocol

from orchestrator.clock import Clock


class FindingStore(Protocol):
    def read(self, site: str, finding_id: str) -> tuple[int, dict[str, Any]]:
        """The finding and its version (0 and {} when there is none)."""
        ...

    def write(self, site: str, finding_id: str, finding: dict[str, Any], version: int) -> bool:
        """Store ``finding`` as version ``version + 1`` if the stored one is still ``version``; False when
        another writer came first (read again and decide again)."""
        ...

    def list(self, site: str | None) -> list[dict[str, Any]]:
        """Every finding (of ``site``; of every site this store holds when None)."""
        ...


class SqliteFindingStore:
    def __init__(self, state_dir: Path) -> None:
        Path(state_dir).mkdir(parents=True, exist_ok=True)
        self.path = Path(state_dir) / "findings.sqlite"

    def _db(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("CREATE TABLE IF NOT EXISTS findings (id TEXT PRIMARY KEY, site TEXT NOT NULL, "
                   "version INTEGER NOT NULL, finding TEXT NOT NULL)")
        return db

    def read(self, site: str, finding_id: str) -> tuple[int, dict[str, Any]]:
        with contextlib.closing(self._db()) as db:
            row = db.execute("SELECT version, finding FROM findings WHERE id=? AND site=?",
                             (finding_id, site)).fetchone()
        return (0, {}) if row is None else (int(row[0]), json.loads(row[1]))

    def write(self, site: str, finding_id: str, finding: dict[str, Any], version: int) -> bool:
        text = json.dumps(finding, sort_keys=True)
        with contextlib.closing(self._db()) as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT version FROM findings WHERE id=?", (finding_id,)).fetchone()
            if (0 if row is None else int(row[0])) != version:
                db.execute("ROLLBACK")
                return False
            db.execute("INSERT OR REPLACE INTO findings (id, site, version, finding) VALUES (?, ?, ?, ?)",
                       (finding_id, site, version + 1, text))
            db.execute("COMMIT")
        return True

    def list(self, site: str | None) -> list[dict[str, Any]]:
        args: tuple[str, ...]
        query, args = "SELECT finding FROM findings", ()
        if site:
            query, args = query + " WHERE site=?", (site,)
        with contextlib.closing(self._db()) as db:
            return [json.loads(r[0]) for r in db.execute(query + " ORDER BY id", args).fetchall()]

    def site_of(self, finding_id: str) -> str | None:
        with contextlib.closing(self._db()) as db:
            row = db.execute("SELECT site FROM findings WHERE id=?", (finding_id,)).fetchone()
        return None if row is None else str(row[0])


class DynamoFindingStore:
    def __init__(self, table: str, region: str, clock: Clock) -> None:
        from orchestrator.journal.dynamodb.table import Table

        self.table = Table(table, region, clock)

    def read(self, site: str, finding_id: str) -> tuple[int, dict[str, Any]]:
        item = self.table.get(f"FINDINGS#{site}", finding_id)
        if not item:
            return 0, {}
        return int(item["version"]["N"]), json.loads(item["finding"]["S"])

    def write(self, site: str, finding_id: str, finding: dict[str, Any], version: int) -> bool:
        from orchestrator.journal.dynamodb.codec import key, n, s
        from orchestrator.journal.dynamodb.table import ConditionFailed

        item = {**key(f"FINDINGS#{site}", finding_id), "version": n(version + 1),
                "finding": s(json.dumps(finding, sort_keys=True))}
        try:
            if version == 0:
                self.table.put(item, "attribute_not_exists(pk)")
            else:
                self.table.call("put_item", TableName=self.table.name, Item=item,
                                ConditionExpression="version = :v", ExpressionAttributeValues={":v": n(version)})
        except ConditionFailed:
            return False
        return True

    def list(self, site: str | None) -> list[dict[str, Any]]:
        if site is None:
            return []
        return [json.loads(item["finding"]["S"]) for item in self.table.query(f"FINDINGS#{site}")]

    def site_of(self, finding_id: str) -> str | None:
        return None
