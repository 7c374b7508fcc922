"""Where the findings of runs are kept between runs (contract 1.2, evidence: ``orchestrator findings``): one
record per finding, keyed by its id (the same kind, step and site make the same finding, so a recurring one is
found again), in the site's partition of a ``VersionedStore`` (``journal/versioned.py``, shared with
``journal/watch.py``): locally ``STATE_DIR/findings.sqlite``, in team mode items of the site's state table
(``pk = FINDINGS#SITE``, ``sk = ID``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from orchestrator.clock import Clock
from orchestrator.journal.versioned import (
    DynamoLayout,
    DynamoVersionedStore,
    SqliteLayout,
    SqliteVersionedStore,
)

SQLITE = SqliteLayout(file="findings.sqlite", table="findings", key="id", record="finding", partition="site")
DYNAMO = DynamoLayout(prefix="FINDINGS", record="finding")


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


class SqliteFindingStore(SqliteVersionedStore):
    def __init__(self, state_dir: Path) -> None:
        super().__init__(state_dir, SQLITE)

    def site_of(self, finding_id: str) -> str | None:
        return self.partition_of(finding_id)


class DynamoFindingStore(DynamoVersionedStore):
    def __init__(self, table: str, region: str, clock: Clock) -> None:
        super().__init__(table, region, clock, DYNAMO)

    def site_of(self, finding_id: str) -> str | None:
        return self.partition_of(finding_id)
