"""Where ``orchestrator watch`` keeps the primary site's state between rounds (contract 1.2, detection): one
record per site -- since when every probe fails, the open incident, the last round -- in a ``VersionedStore``
(``journal/versioned.py``, shared with ``journal/findings.py``), so rounds from a cron job, a systemd timer or
two watchers on two machines behave as one loop and open one incident, not two. Locally
``STATE_DIR/watch.sqlite``; in team mode an item of the site's state table (``pk = WATCH#SITE``,
``sk = STATE``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from orchestrator.clock import Clock
from orchestrator.journal.versioned import DynamoLayout, DynamoVersionedStore, SqliteLayout, SqliteVersionedStore

SQLITE = SqliteLayout(file="watch.sqlite", table="watch", key="site", record="state")
DYNAMO = DynamoLayout(prefix="WATCH", record="state", sort_keys=False)
#: the key of a site's one record (its partition is the site)
_STATE = "STATE"


class WatchStore(Protocol):
    def read(self, site: str) -> tuple[int, dict[str, Any]]:
        """The site's state and its version (0 and {} before the first round)."""
        ...

    @property
    def where(self) -> str:
        """Where the state is kept, as an error message names it."""
        ...

    def write(self, site: str, state: dict[str, Any], version: int) -> bool:
        """Store ``state`` as version ``version + 1`` if the stored one is still ``version``; False when
        another watcher wrote first (read again and decide again)."""
        ...


class SqliteWatchStore:
    def __init__(self, state_dir: Path) -> None:
        self.store = SqliteVersionedStore(state_dir, SQLITE)
        self.path = self.store.path

    @property
    def where(self) -> str:
        return str(self.path)

    def read(self, site: str) -> tuple[int, dict[str, Any]]:
        return self.store.read(site, site)

    def write(self, site: str, state: dict[str, Any], version: int) -> bool:
        return self.store.write(site, site, state, version)


class DynamoWatchStore:
    def __init__(self, table: str, region: str, clock: Clock) -> None:
        self.store = DynamoVersionedStore(table, region, clock, DYNAMO)
        self.table = self.store.table
        self.table_name, self.region = table, region

    @property
    def where(self) -> str:
        return f"the state table {self.table_name} ({self.region}, site file key state.table)"

    def read(self, site: str) -> tuple[int, dict[str, Any]]:
        return self.store.read(site, _STATE)

    def write(self, site: str, state: dict[str, Any], version: int) -> bool:
        return self.store.write(site, _STATE, state, version)
