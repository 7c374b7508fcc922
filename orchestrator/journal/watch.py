"""Where ``orchestrator watch`` keeps the primary site's state between rounds (contract 1.2, detection): one
record per site -- since when every probe fails, the open incident, the last round -- written with a version
check, so rounds from a cron job, a systemd timer or two watchers on two machines behave as one loop and
open one incident, not two. Locally a small SQLite file in the state dir; in team mode an item of the site's
state table (``pk = WATCH#SITE``, ``sk = STATE``)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any, Protocol

from orchestrator.clock import Clock


class WatchStore(Protocol):
    def read(self, site: str) -> tuple[int, dict[str, Any]]:
        """The site's state and its version (0 and {} before the first round)."""
        ...

    def write(self, site: str, state: dict[str, Any], version: int) -> bool:
        """Store ``state`` as version ``version + 1`` if the stored one is still ``version``; False when
        another watcher wrote first (read again and decide again)."""
        ...


class SqliteWatchStore:
    def __init__(self, state_dir: Path) -> None:
        Path(state_dir).mkdir(parents=True, exist_ok=True)
        self.path = Path(state_dir) / "watch.sqlite"

    def _db(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("CREATE TABLE IF NOT EXISTS watch (site TEXT PRIMARY KEY, version INTEGER NOT NULL, "
                   "state TEXT NOT NULL)")
        return db

    def read(self, site: str) -> tuple[int, dict[str, Any]]:
        with contextlib.closing(self._db()) as db:
            row = db.execute("SELECT version, state FROM watch WHERE site=?", (site,)).fetchone()
        return (0, {}) if row is None else (int(row[0]), json.loads(row[1]))

    def write(self, site: str, state: dict[str, Any], version: int) -> bool:
        text = json.dumps(state, sort_keys=True)
        with contextlib.closing(self._db()) as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT version FROM watch WHERE site=?", (site,)).fetchone()
            if (0 if row is None else int(row[0])) != version:
                db.execute("ROLLBACK")
                return False
            db.execute("INSERT OR REPLACE INTO watch (site, version, state) VALUES (?, ?, ?)",
                       (site, version + 1, text))
            db.execute("COMMIT")
        return True


class DynamoWatchStore:
    def __init__(self, table: str, region: str, clock: Clock) -> None:
        from orchestrator.journal.dynamodb.table import Table

        self.table = Table(table, region, clock)

    def read(self, site: str) -> tuple[int, dict[str, Any]]:
        item = self.table.get(f"WATCH#{site}", "STATE")
        if not item:
            return 0, {}
        return int(item["version"]["N"]), json.loads(item["state"]["S"])

    def write(self, site: str, state: dict[str, Any], version: int) -> bool:
        from orchestrator.journal.dynamodb.codec import key, n, s
        from orchestrator.journal.dynamodb.table import ConditionFailed

        item = {**key(f"WATCH#{site}", "STATE"), "version": n(version + 1), "state": s(json.dumps(state))}
        try:
            if version == 0:
                self.table.put(item, "attribute_not_exists(pk)")
            else:
                self.table.call("put_item", TableName=self.table.name, Item=item,
                                ConditionExpression="version = :v", ExpressionAttributeValues={":v": n(version)})
        except ConditionFailed:
            return False
        return True
