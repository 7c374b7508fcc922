"""The call-aware shift's guard (issue 27): its pure decisions on the queues of the Region taking the calls, and
the site file's ``connect.shift_guard`` key refused with clear errors naming the key."""

from __future__ import annotations

import copy
import json

import pytest

from orchestrator.adapters.connect import QueueLoad
from orchestrator.errors import InvalidInput
from orchestrator.site import ConnectShiftGuard, load_site
from orchestrator.steps.shift_guard import Verdict, breaches, held_words, next_poll, verdict
from tests.unit.test_site import CONNECT_BASE

GUARD = ConnectShiftGuard(contacts_in_queue=20, oldest_contact_age_seconds=60, hold_limit_seconds=300,
                          poll_seconds=10)


def load(waiting: int = 0, oldest: float = 0.0) -> QueueLoad:
    return QueueLoad(contacts_in_queue=waiting, oldest_contact_age_seconds=oldest)


def test_under_or_at_every_threshold_the_step_goes():
    """A queue at its thresholds (not over) lets the step go, whatever the time held."""
    assert breaches(load(20, 60), GUARD) == []
    assert verdict(load(20, 60), GUARD, held_seconds=0) is Verdict.GO
    assert verdict(load(0, 0), GUARD, held_seconds=299) is Verdict.GO
    assert verdict(load(3, 5), GUARD, held_seconds=10_000) is Verdict.GO


@pytest.mark.parametrize(("seen", "said"), [
    (load(21, 0), ["21 contacts in queue (threshold 20)"]),
    (load(0, 61), ["the oldest contact waiting 61s (threshold 60s)"]),
    (load(40, 95.5), ["40 contacts in queue (threshold 20)", "the oldest contact waiting 95.5s (threshold 60s)"]),
])
def test_either_threshold_exceeded_holds_and_says_which(seen, said):
    """CONTACTS_IN_QUEUE or OLDEST_CONTACT_AGE over its threshold holds the step; each breach is named."""
    assert breaches(seen, GUARD) == said
    assert verdict(seen, GUARD, held_seconds=0) is Verdict.HOLD
    assert verdict(seen, GUARD, held_seconds=299.9) is Verdict.HOLD


def test_still_over_at_the_hold_limit_the_shift_stops():
    """Held for the whole limit with a threshold still exceeded: stop (the share reached stays)."""
    assert verdict(load(25, 0), GUARD, held_seconds=300) is Verdict.STOP
    assert verdict(load(25, 0), GUARD, held_seconds=301) is Verdict.STOP


def test_a_guard_with_one_threshold_watches_only_that_one():
    """Only the thresholds given are watched: a guard of contacts only ignores the oldest contact's age."""
    contacts_only = ConnectShiftGuard(contacts_in_queue=5)
    assert verdict(load(5, 10_000), contacts_only, 0) is Verdict.GO
    assert verdict(load(6, 0), contacts_only, 0) is Verdict.HOLD
    age_only = ConnectShiftGuard(oldest_contact_age_seconds=30)
    assert verdict(load(500, 30), age_only, 0) is Verdict.GO
    assert verdict(load(0, 31), age_only, 0) is Verdict.HOLD


def test_the_next_read_is_never_past_the_hold_limit():
    """Polls every poll_seconds, the last one exactly at the hold limit (a queue that drains just in time
    still lets the shift go)."""
    assert next_poll(GUARD, 0) == 10
    assert next_poll(GUARD, 295) == 5
    assert next_poll(GUARD, 300) == 0


def test_the_held_words_name_the_share_and_the_region():
    """The message says where routing stopped and whose queues are full."""
    assert held_words(50, "backup").startswith("Call routing paused at 50 % — the backup Region's queues are full")


def _site_file(tmp_path, connect: dict) -> str:
    data = copy.deepcopy(CONNECT_BASE)
    data["connect"] = connect
    path = tmp_path / "site.json"
    path.write_text(json.dumps(data))
    return str(path)


@pytest.mark.parametrize(("guard", "where", "needle"), [
    ({"hold_limit_seconds": 60}, "connect.shift_guard", "give contacts_in_queue, oldest_contact_age_seconds or both"),
    ({"contacts_in_queue": -1}, "connect.shift_guard.contacts_in_queue", "greater than or equal to 0"),
    ({"contacts_in_queue": True}, "connect.shift_guard.contacts_in_queue", "not a boolean"),
    ({"oldest_contact_age_seconds": "60s"}, "connect.shift_guard.oldest_contact_age_seconds", "integer"),
    ({"contacts_in_queue": 5, "hold_limit_seconds": 0}, "connect.shift_guard.hold_limit_seconds", "greater than 0"),
    ({"contacts_in_queue": 5, "poll_seconds": 0}, "connect.shift_guard.poll_seconds", "greater than 0"),
    # a misspelt limit of a safety guard is refused, not ignored (the rest of the site file tolerates extras)
    ({"contacts_in_queue": 5, "hold_limt_seconds": 30}, "connect.shift_guard.hold_limt_seconds", "unknown key"),
])
def test_bad_thresholds_are_refused_naming_the_key(tmp_path, guard, where, needle):
    """Each mistake in connect.shift_guard is an InvalidInput (exit 2) at FILE:connect.shift_guard..."""
    site_file = _site_file(tmp_path, {**CONNECT_BASE["connect"], "shift_guard": guard})
    with pytest.raises(InvalidInput) as info:
        load_site(site_file)
    assert info.value.exit_code == 2
    assert str(info.value).startswith(f"{site_file}:{where}: "), str(info.value)
    assert needle in str(info.value)


def test_thresholds_without_queues_are_refused_naming_queue_ids(tmp_path):
    """The guard watches connect.queue_ids: thresholds with no queue named are refused there."""
    site_file = _site_file(tmp_path, {**CONNECT_BASE["connect"], "queue_ids": [],
                                      "shift_guard": {"contacts_in_queue": 5}})
    with pytest.raises(InvalidInput) as info:
        load_site(site_file)
    assert str(info.value).startswith(f"{site_file}:connect.queue_ids: "), str(info.value)
    assert "connect.shift_guard watches the queues named here" in str(info.value)


def test_thresholds_load_with_their_defaults_and_are_optional(tmp_path):
    """The key is optional; given with one threshold, the hold limit is 300 s and the poll 10 s."""
    assert load_site(_site_file(tmp_path, CONNECT_BASE["connect"])).connect.shift_guard is None
    guard = load_site(_site_file(tmp_path, {**CONNECT_BASE["connect"],
                                            "shift_guard": {"oldest_contact_age_seconds": 60}})).connect.shift_guard
    assert (guard.oldest_contact_age_seconds, guard.contacts_in_queue, guard.hold_limit_seconds,
            guard.poll_seconds) == (60, None, 300, 10)
