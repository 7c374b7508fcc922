"""The use-case layer's one entry: ``Orchestrator(settings)``."""

from __future__ import annotations

from contextlib import AbstractContextManager

from orchestrator.settings import Settings
from orchestrator.site import Site
from orchestrator.usecases.gates import GateUseCases
from orchestrator.usecases.queries import QueryUseCases
from orchestrator.usecases.runs import RunUseCases
from orchestrator.usecases.session import Session, session


class Orchestrator(RunUseCases, GateUseCases, QueryUseCases):
    """Every use case of the ``orchestrator`` command, with the settings it runs with. Runs (failover,
    failback, drill, resume, dry run: ``usecases.runs``), the decision point (approve, deny, stand-down:
    ``usecases.gates``) and what reads state (status, readiness, drills, evidence, findings, watch, the restore
    worker: ``usecases.queries``); each returns a typed record (``usecases.records``) the CLI renders."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def session(self, site: Site | None) -> AbstractContextManager[Session]:
        """The site's journal and services (built on first use), both closed when the block ends."""
        return session(self.settings, site)
