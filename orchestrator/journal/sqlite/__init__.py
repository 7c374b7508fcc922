"""The journal in the state dir (one machine): ``SqliteJournal``.

It implements every interface of ``orchestrator.journal.protocols``; ``orchestrator.journal.dynamodb`` is
the same on a DynamoDB table (team mode). Its parts: ``store`` (the journal, opened), ``db`` (the
connection's edge: errors translated, a lost file noticed), ``schema`` (tables, upgrades, rows),
``runs``, ``events`` (timeline and drills), ``outbox``, ``lock`` (site lock, host lock, resource claims),
``rescue`` (a journal file lost under a run).
"""

from orchestrator.journal.sqlite.db import BUSY_TIMEOUT_SECONDS, JournalBusy, JournalDamaged
from orchestrator.journal.sqlite.store import SqliteJournal

__all__ = ["BUSY_TIMEOUT_SECONDS", "JournalBusy", "JournalDamaged", "SqliteJournal"]
