"""What a run locks besides its site (issue 23 item 1): the resource keys a site file yields
(orchestrator.site_resources) and the machine-wide claims on them (orchestrator.journal.hostlock), taken with
the SQLite journal's site lock, all or none."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest

from orchestrator.errors import LockHeld
from orchestrator.journal.hostlock import LOCK_SCOPE_ENV, ResourceBusy, ResourceClaims
from orchestrator.journal.records import Holder
from orchestrator.journal.sqlite import SqliteJournal
from orchestrator.site import parse_site
from orchestrator.site_resources import host_key_fingerprint, lock_resources
from tests.helpers import SITE

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
DATA = json.loads(SITE.read_text())


def site_with(**edits):
    data = copy.deepcopy(DATA)
    for dotted, value in edits.items():
        *path, last = dotted.split("__")
        target = data
        for part in path:
            target = target[part]
        target[last] = value
    return parse_site(data)


def test_a_site_locks_its_records_tunnels_prefix_and_seat_group():
    """One key per record name, appliance connection (by the appliance's host key), the restore prefix and
    the seat group; nothing for what a run only reads or appends to (VPN connections, SFTP, SNS topic)."""
    fingerprint = host_key_fingerprint(DATA["vpn"]["appliance"]["host_key"])
    assert fingerprint.startswith("SHA256:") and len(fingerprint) == 50
    assert lock_resources(parse_site(DATA)) == (
        "dns:Z0123456789/agents.example.com.",
        "restore-prefix:s3://cc-dr-restore/restored/",
        "seat-group:us-west-2/cc-agent-seats",
        f"vpn-tunnel:{fingerprint}/dr-tunnel-1",
    )


def test_two_spellings_of_one_resource_give_one_key():
    """The site's name is not part of any key; a record name's case and trailing dot, the hosted zone's
    /hostedzone/ prefix, the prefix's slashes and the address the appliance is reached at do not count."""
    spelled = site_with(
        site="cc-dr-sandbox-b",
        dns__zone_id="/hostedzone/Z0123456789",
        dns__records=[{**DATA["dns"]["records"][0], "name": "Agents.Example.COM"}],
        backup__prefix="/restored",
        vpn__appliance__host="localhost",
        vpn__appliance__port=2222,
    )
    assert lock_resources(spelled) == lock_resources(parse_site(DATA))


def test_connect_and_the_status_page_are_locked_when_the_site_has_them():
    connect = {
        "instance_id": "11111111-2222-3333-4444-555555555555",
        "instance_arn": "arn:aws:connect:us-west-2:123456789012:instance/11111111-2222-3333-4444-555555555555",
        "traffic_distribution_group_id": "arn:aws:connect:us-west-2:123456789012:traffic-distribution-group/ABC",
        "primary_region": "us-east-1", "secondary_region": "us-west-2",
        "announcement": {"hours_of_operation_id": "hours-1"},
    }
    page = {"bucket": "cc-status", "key": "pages/status.html"}
    keys = lock_resources(site_with(connect=connect, notify__status_page=page))
    assert "connect-traffic:abc" in keys
    assert "connect-hours:11111111-2222-3333-4444-555555555555/hours-1" in keys
    assert "status-page:s3://cc-status/pages/status.html" in keys


def test_claims_are_all_or_none_and_name_their_holder():
    """A claim held by another holder refuses the whole set (nothing else of it stays claimed) with what the
    holder said of itself; once released, the set is claimed."""
    first, second = ResourceClaims(), ResourceClaims()
    try:
        first.claim(["b-shared"], {"run_id": "run-1", "site": "one"})
        with pytest.raises(ResourceBusy) as busy:
            second.claim(["a-own", "b-shared", "c-own"], {"run_id": "run-2", "site": "two"})
        assert busy.value.resource == "b-shared" and busy.value.about == {"run_id": "run-1", "site": "one"}
        assert second.held == []
        third = ResourceClaims()
        third.claim(["a-own", "c-own"], {})  # "a-own" was released by the refused call
        third.release()
        first.release()
        second.claim(["a-own", "b-shared", "c-own"], {"run_id": "run-2"})
        assert second.held == ["a-own", "b-shared", "c-own"]
    finally:
        first.release()
        second.release()


def test_claims_in_two_scopes_do_not_meet(monkeypatch):
    """ORCHESTRATOR_LOCK_SCOPE (and the AWS endpoint) separate machine-wide claims: two test sessions or two
    AWS endpoints never refuse each other's runs."""
    first, second, third = ResourceClaims(), ResourceClaims(), ResourceClaims()
    try:
        first.claim(["r"], {})
        monkeypatch.setenv(LOCK_SCOPE_ENV, "another-scope")
        second.claim(["r"], {})
        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        third.claim(["r"], {})  # another cloud
        with pytest.raises(ResourceBusy):
            ResourceClaims().claim(["r"], {})
    finally:
        for claims in (first, second, third):
            claims.release()


def test_two_state_dirs_one_machine_share_the_resource_lock(tmp_path):
    """Two local journals (two state dirs): a run of site b sharing a resource with a live run of site a
    is refused naming run, site, resource and the holder's state dir; it keeps no site lock; after the
    release it runs."""
    a, b = SqliteJournal(tmp_path / "a"), SqliteJournal(tmp_path / "b")
    holder_a, holder_b = Holder.me("run-a"), Holder.me("run-b")
    a.acquire_lock("site-a", holder_a, NOW, ["dns:Z/x.", "seat-group:r/g"])
    with pytest.raises(LockHeld) as refused:
        b.acquire_lock("site-b", holder_b, NOW, ["dns:Z/x.", "restore-prefix:s3://b/"])
    message = str(refused.value)
    assert message.startswith("dns:Z/x. is locked by run run-a of site 'site-a' (pid ")
    assert "since 2026-12-01T03:00:00.000Z: a run of site 'site-b' would change it too" in message
    assert f"`orchestrator resume run-a --state-dir {(tmp_path / 'a').resolve()}`" in message
    assert b.current_lock("site-b") is None
    b.acquire_lock("site-c", Holder.me("run-c"), NOW, ["restore-prefix:s3://b/"])  # not left claimed
    b.release_lock("site-c", Holder.me("run-c"))
    a.release_lock("site-a", holder_a)
    assert b.acquire_lock("site-b", holder_b, NOW, ["dns:Z/x.", "restore-prefix:s3://b/"]) is None
    b.release_lock("site-b", holder_b)
    a.close()
    b.close()
