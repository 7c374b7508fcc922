"""One place where a command's journal and AWS/SSH services are opened and closed.

``session(settings, site)`` yields both and closes both in a ``finally`` (services first, then the
journal), whatever the command does with them; the services are built on first use, so a command that
only reads the journal never builds a client.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from orchestrator.clock import Clock
from orchestrator.journal.protocols import Journal
from orchestrator.journal.sqlite import SqliteJournal
from orchestrator.settings import Settings
from orchestrator.site import Site

if TYPE_CHECKING:
    from orchestrator.adapters import Services


def open_journal(settings: Settings, site: Site | None = None) -> Journal:
    """The journal for this site: DynamoDB when the site names a state table, else SQLite locally."""
    if site is not None and site.state is not None:
        from orchestrator.journal.dynamodb.store import DynamoJournal

        return DynamoJournal(site.state.table, region=site.region, clock=settings.clock)
    return SqliteJournal(settings.state_dir)


def has_local_journal(settings: Settings) -> bool:
    """Whether the state dir holds a journal (reading commands do not create one where there is none)."""
    return SqliteJournal.exists_in(settings.state_dir)


def build_services(site: Site, clock: Clock) -> Services:
    from orchestrator.adapters import Services

    return Services(site, clock)


class Session:
    """A command's journal, and the site's services once asked for."""

    def __init__(self, journal: Journal, site: Site | None, clock: Clock) -> None:
        self.journal = journal
        self.site = site
        self._clock = clock
        self._services: Services | None = None

    @property
    def services(self) -> Services:
        if self.site is None:
            raise ValueError("a session without a site has no services")
        if self._services is None:
            self._services = build_services(self.site, self._clock)
        return self._services

    def close(self) -> None:
        try:
            if self._services is not None:
                self._services.close()
        finally:
            self.journal.close()


@contextmanager
def session(settings: Settings, site: Site | None, journal: Journal | None = None) -> Iterator[Session]:
    """The site's journal (or ``journal``, already open) and services, both closed when the block ends."""
    opened = Session(journal if journal is not None else open_journal(settings, site), site, settings.clock)
    try:
        yield opened
    finally:
        opened.close()


@contextmanager
def services_of(site: Site, clock: Clock) -> Iterator[Services]:
    """The site's services alone (no journal), closed when the block ends."""
    services = build_services(site, clock)
    try:
        yield services
    finally:
        services.close()
