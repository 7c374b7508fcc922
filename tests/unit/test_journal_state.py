"""The SQLite journal's guards: a damaged or foreign file refused untouched, a removed or replaced file
detected and rescued, the host lock that outlives a deleted journal, and the site-change rules of resume."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3

import pytest

from orchestrator.errors import InvalidInput, LockHeld
from orchestrator.journal.records import Holder, RunNotFound, RunRecord
from orchestrator.journal.sqlite import JournalDamaged, SqliteJournal
from orchestrator.model import RunStatus
from orchestrator.site import load_site
from orchestrator.site_change import check_allowed, differences
from tests.helpers import SITE


def new_run(journal: SqliteJournal, run_id: str) -> None:
    journal.create_run(RunRecord(run_id, "failover", "s1", "-", {}), [])


def test_garbage_file_is_damaged_and_left_untouched(tmp_path):
    """A journal file of random bytes: JournalDamaged (exit 2) naming it, the bytes unchanged."""
    (tmp_path / "journal.sqlite").write_bytes(os.urandom(8192))
    before = hashlib.sha256((tmp_path / "journal.sqlite").read_bytes()).digest()
    with pytest.raises(JournalDamaged, match="is damaged") as info:
        SqliteJournal(tmp_path)
    assert info.value.exit_code == 2 and str(tmp_path / "journal.sqlite") in str(info.value)
    assert hashlib.sha256((tmp_path / "journal.sqlite").read_bytes()).digest() == before


def test_record_that_does_not_decode_is_damage_not_a_crash(tmp_path):
    """A run row whose JSON column was garbled reads as JournalDamaged, never a JSONDecodeError."""
    journal = SqliteJournal(tmp_path)
    new_run(journal, "r1")
    journal.close()
    db = sqlite3.connect(tmp_path / "journal.sqlite")
    db.execute("UPDATE runs SET options='{garbled' WHERE run_id='r1'")
    db.commit()
    db.close()
    with pytest.raises(JournalDamaged, match="does not decode"):
        SqliteJournal(tmp_path).get_run("r1")


def test_missing_run_is_run_not_found(tmp_path):
    """A readable journal without the run raises RunNotFound (the only case resume calls "no run")."""
    with pytest.raises(RunNotFound):
        SqliteJournal(tmp_path).get_run("nope")


def test_removed_file_is_detected_and_put_back(tmp_path):
    """The journal file removed under an open journal: the next write sets `lost` and calls on_lost; rescue
    puts the content back at the path, writes included."""
    journal = SqliteJournal(tmp_path)
    calls = []
    journal.on_lost = lambda: calls.append(1)
    new_run(journal, "r1")
    for name in ("journal.sqlite", "journal.sqlite-wal", "journal.sqlite-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    journal.finish("r1", RunStatus.INTERRUPTED, "2026-11-23T03:10:00.000Z", None)
    assert calls == [1] and "was removed" in journal.lost
    assert "put back" in journal.rescue()
    assert SqliteJournal(tmp_path).get_run("r1").status == "interrupted"


def test_replaced_file_gets_the_rescued_runs_merged(tmp_path):
    """The journal file replaced by another journal: rescue merges the lost runs into it, keeping its own."""
    other_dir = tmp_path / "other"
    other = SqliteJournal(other_dir)
    new_run(other, "theirs")
    other.close()
    journal = SqliteJournal(tmp_path / "state")
    new_run(journal, "mine")
    os.replace(other_dir / "journal.sqlite", tmp_path / "state" / "journal.sqlite")
    journal.add_event("mine", "t", "e", None, {})
    assert "replaced" in journal.lost
    assert "merged" in journal.rescue()
    merged = SqliteJournal(tmp_path / "state")
    assert sorted(r.run_id for r in merged.list_runs()) == ["mine", "theirs"]
    assert [e["event"] for e in merged.get_events("mine")] == ["e"]


def test_host_lock_refuses_a_second_run_after_the_journal_vanished(tmp_path):
    """A live holder's lock row gone with the journal file: another journal on the same state dir still
    gets LockHeld (exit 3) naming the holder's pid; after release the site is free."""
    from datetime import UTC, datetime

    first = SqliteJournal(tmp_path)
    me = Holder.me("r1")
    first.acquire_lock("s1", me, datetime.now(UTC))
    os.unlink(tmp_path / "journal.sqlite")
    with pytest.raises(LockHeld, match=f"pid {os.getpid()}") as info:
        SqliteJournal(tmp_path).acquire_lock("s1", Holder.me("r2"), datetime.now(UTC))
    assert info.value.exit_code == 3
    first.release_lock("s1", me)
    assert SqliteJournal(tmp_path).acquire_lock("s1", Holder.me("r2"), datetime.now(UTC)) is None


def test_state_dir_that_is_a_file_is_invalid_input(tmp_path):
    """--state-dir naming a file: InvalidInput naming it, not FileExistsError."""
    (tmp_path / "f").write_text("x")
    with pytest.raises(InvalidInput, match="not a directory"):
        SqliteJournal(tmp_path / "f")


def _site(tmp_path, change):
    data = json.loads(SITE.read_text())
    change(data)
    path = tmp_path / "site.json"
    path.write_text(json.dumps(data))
    return load_site(path)


def test_site_differences_name_each_key_and_only_endpoints_may_be_allowed(tmp_path):
    """Two sites differing in a DNS value and the appliance host: both named; allowing the host alone still
    refuses the DNS value; allowing a DNS key is refused outright."""
    original = load_site(SITE)

    def change(data):
        data["dns"]["records"][0]["secondary"] = "elsewhere.example.net"
        data["vpn"]["appliance"]["host"] = "192.0.2.10"

    changes = differences(original, _site(tmp_path, change))
    assert sorted(c.key for c in changes) == ["dns.records[0].secondary", "vpn.appliance.host"]
    with pytest.raises(InvalidInput, match=r"dns\.records\[0\]\.secondary.*never allowed"):
        check_allowed("r1", changes, ("vpn.appliance.host",), "other.json")
    with pytest.raises(InvalidInput, match="only where the appliance"):
        check_allowed("r1", changes, ("dns.zone_id",), "other.json")
    host_only = [c for c in changes if c.key == "vpn.appliance.host"]
    assert check_allowed("r1", host_only, ("vpn.appliance.host",), "other.json") == host_only
