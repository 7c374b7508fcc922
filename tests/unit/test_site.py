"""Site-file validation: every mistake found by trying to break the CLI is an InvalidInput naming the file
and the key path (exit 2), never a failed run later."""

from __future__ import annotations

import copy
import json

import pytest

from orchestrator.errors import InvalidInput
from orchestrator.site import load_site
from tests.helpers import SITE

BASE = json.loads(SITE.read_text())
RECORD = BASE["dns"]["records"][0]
KEY = BASE["vpn"]["appliance"]["host_key"]


def _edit(path: str, value):
    """BASE with the value at dotted ``path`` replaced (a list index is a number in the path)."""
    data = copy.deepcopy(BASE)
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node = data
    for part in parents:
        node = node[part]
    node[last] = value
    return data


BAD = [
    ("same record twice", "dns.records", [RECORD, RECORD], "dns.records[1]", "the same record"),
    ("without trailing dot", "dns.records", [RECORD, {**RECORD, "name": "agents.example.com"}], "dns.records[1]",
     "the same record"),
    ("other case", "dns.records", [RECORD, {**RECORD, "name": "AGENTS.Example.COM."}], "dns.records[1]",
     "the same record"),
    ("CNAME beside an A", "dns.records",
     [RECORD, {**RECORD, "type": "A", "primary": "192.0.2.1", "secondary": "192.0.2.2"}], "dns.records[1]",
     "CNAME"),
    ("host key not base64", "vpn.appliance.host_key", "ssh-ed25519 !!!!", "vpn.appliance.host_key", "not valid base64"),
    ("host key too short", "backup.sftp.host_key", "ssh-ed25519 AAAA", "backup.sftp.host_key", "not an ssh-ed25519"),
    ("host key of another type", "vpn.appliance.host_key", "ssh-rsa " + KEY.split()[1], "vpn.appliance.host_key",
     "not an ssh-rsa"),
    ("schema true", "schema", True, "schema", "not a boolean"),
    ("warm true", "seats.warm", True, "seats.warm", "not a boolean"),
    ("target false", "seats.target", False, "seats.target", "not a boolean"),
    ("ttl true", "dns.records.0.ttl", True, "dns.records[0].ttl", "not a boolean"),
    ("port true", "vpn.appliance.port", True, "vpn.appliance.port", "not a boolean"),
    ("rto true", "objectives.rto_seconds", True, "objectives.rto_seconds", "not a boolean"),
    ("empty connection", "vpn.appliance.connections", [""], "vpn.appliance.connections[0]", "cannot be empty"),
    ("duplicate connection", "vpn.appliance.connections", ["t1", "t2", "t1"], "vpn.appliance.connections[2]",
     "the same connection as connections[0]"),
    ("newline in connection", "vpn.appliance.connections", ["t1\nt2"], "vpn.appliance.connections[0]", "newlines"),
    ("space in connection", "vpn.appliance.connections", ["t 1"], "vpn.appliance.connections[0]", "spaces"),
    ("option as connection", "vpn.appliance.connections", ["--help"], "vpn.appliance.connections[0]",
     "cannot start with '-'"),
    ("dash connection", "vpn.appliance.connections", ["-t"], "vpn.appliance.connections[0]", "read it as an option"),
    ("duplicate VPN id", "vpn.connection_ids", ["vpn-0abc", "vpn-0abc"], "vpn.connection_ids[1]",
     "the same VPN connection"),
    ("empty swanctl", "vpn.appliance.swanctl", "", "vpn.appliance.swanctl", "at least 1 character"),
    ("probe not an address", "vpn.appliance.probe", "vpc-host", "vpn.appliance.probe", "expected an IP address"),
    ("probe a network", "vpn.appliance.probe", "198.51.100.128/25", "vpn.appliance.probe", "expected an IP address"),
    ("probe a number", "vpn.appliance.probe", 42, "vpn.appliance.probe", "string"),
    ("page on the restore marker", "notify.status_page",
     {"bucket": "cc-dr-restore", "key": "restored/20261123T020000Z/_RESTORE_COMPLETE.json"},
     "notify.status_page.key", "collide with the restore's marker _RESTORE_COMPLETE.json"),
    ("page on the critical marker", "notify.status_page",
     {"bucket": "cc-dr-restore", "key": "restored/20261123T020000Z/_RESTORE_CRITICAL.json"},
     "notify.status_page.key", "'restored/20261123T020000Z/_RESTORE_CRITICAL.json' is under s3://cc-dr-restore/restored/"),
    ("page under the restore prefix", "notify.status_page", {"bucket": "cc-dr-restore", "key": "restored/x.html"},
     "notify.status_page.key", "where the restore writes"),
    ("workers queue not SQS", "backup.workers", {"queue_url": "https://example.com/123456789012/q"},
     "backup.workers.queue_url", "expected a standard SQS queue URL"),
    ("workers queue over http", "backup.workers", {"queue_url": "http://sqs.us-west-2.amazonaws.com/123456789012/q"},
     "backup.workers.queue_url", "expected a standard SQS queue URL"),
    ("workers FIFO queue", "backup.workers", {"queue_url": "https://sqs.us-west-2.amazonaws.com/123456789012/q.fifo"},
     "backup.workers.queue_url", "FIFO"),
    ("workers without a queue", "backup.workers", {}, "backup.workers.queue_url", "required"),
    ("workers zero tries", "backup.workers",
     {"queue_url": "https://sqs.us-west-2.amazonaws.com/123456789012/q", "max_tries": 0},
     "backup.workers.max_tries", "greater than or equal to 1"),
    # contract 1.2 keys: a misspelt key would silently fall back to a default (a probe's status, how long
    # before the primary is down, the workers' tries), so it is refused, not ignored
    ("misspelt probe key", "primary",
     {"probes": [{"name": "agents", "http": "https://desktop.example.net/health", "expect_staus": 503}]},
     "primary.probes[0].expect_staus", "unknown key"),
    ("misspelt down_after_seconds", "primary",
     {"probes": [{"name": "sbc", "tcp": "sbc.example.net:5061"}], "down_after": 60},
     "primary.down_after", "unknown key"),
    ("misspelt secondary probe key", "secondary",
     {"probes": [{"name": "dr-sbc", "sip": "sbc.dr.example.net:5060", "transprot": "tcp"}]},
     "secondary.probes[0].transprot", "unknown key"),
    ("misspelt workers key", "backup.workers",
     {"queue_url": "https://sqs.us-west-2.amazonaws.com/123456789012/q", "max_trys": 5},
     "backup.workers.max_trys", "unknown key"),
]


@pytest.mark.parametrize(("label", "path", "value", "where", "needle"), BAD, ids=[b[0] for b in BAD])
def test_bad_site_values_name_the_file_and_key(tmp_path, label, path, value, where, needle):
    """Each mistake is refused with FILE:key.path and says what was expected."""
    site_file = tmp_path / "site.json"
    site_file.write_text(json.dumps(_edit(path, value)))
    with pytest.raises(InvalidInput) as info:
        load_site(site_file)
    assert info.value.exit_code == 2
    assert str(info.value).startswith(f"{site_file}:{where}: "), str(info.value)
    assert needle in str(info.value)


#: a site with the Connect double's ``connect`` key
CONNECT_BASE = {**BASE, "connect": {
    "instance_id": "0f4a7c1e-5b2d-4c8e-9a3f-1d2e3f4a5b6c",
    "instance_arn": "arn:aws:connect:us-east-1:123456789012:instance/0f4a7c1e-5b2d-4c8e-9a3f-1d2e3f4a5b6c",
    "traffic_distribution_group_id": "7c2b9e4d-1a3f-4b5c-8d6e-9f0a1b2c3d4e",
    "primary_region": "us-east-1", "secondary_region": "us-west-2",
    "announcement": {"hours_of_operation_id": "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9",
                     "override_name": "dr-outage-announcement", "prompt_id": "3a4b5c6d-7e8f-4a9b-b0c1-d2e3f4a5b6c7",
                     "text": "We are answering from our backup site."},
    "min_agents_available": 5, "queue_ids": ["9b8a7c6d-5e4f-4a3b-b2c1-d0e9f8a7b6c5"]}}

CONNECT_BAD = [
    ("blank instance id", "connect.instance_id", " ", "connect.instance_id", "cannot be blank"),
    ("tab instance id", "connect.instance_id", "\t", "connect.instance_id", "cannot be blank"),
    ("space in instance id", "connect.instance_id", "0f4a 7c1e", "connect.instance_id", "spaces"),
    ("blank group id", "connect.traffic_distribution_group_id", "  ", "connect.traffic_distribution_group_id",
     "cannot be blank"),
    ("blank hours id", "connect.announcement.hours_of_operation_id", " ", "connect.announcement.hours_of_operation_id",
     "cannot be blank"),
    ("blank override name", "connect.announcement.override_name", "   ", "connect.announcement.override_name",
     "cannot be blank"),
    ("newline in override name", "connect.announcement.override_name", "dr\nx", "connect.announcement.override_name",
     "control characters"),
    ("blank prompt id", "connect.announcement.prompt_id", " ", "connect.announcement.prompt_id", "cannot be blank"),
    ("blank announcement text", "connect.announcement.text", " ", "connect.announcement.text", "cannot be blank"),
    ("blank queue id", "connect.queue_ids", ["9b8a7c6d-5e4f-4a3b-b2c1-d0e9f8a7b6c5", " "], "connect.queue_ids[1]",
     "cannot be blank"),
    ("instance ARN with nothing after the service", "connect.instance_arn", "arn:aws:connect: ",
     "connect.instance_arn", "should match pattern"),
    ("instance ARN without the instance", "connect.instance_arn", "arn:aws:connect:us-east-1:123456789012:instance/",
     "connect.instance_arn", "should match pattern"),
    ("misspelt test call key", "connect.test_call",
     {"contact_flow_id": "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a", "queue_id": "9b8a7c6d-5e4f-4a3b-b2c1-d0e9f8a7b6c5",
      "destination_phone_number": "+15555550100", "answer_within": 30},
     "connect.test_call.answer_within", "unknown key"),
]


def _connect_edit(path: str, value):
    data = copy.deepcopy(CONNECT_BASE)
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node = data
    for part in parents:
        node = node[part]
    node[last] = value
    return data


@pytest.mark.parametrize(("label", "path", "value", "where", "needle"), CONNECT_BAD, ids=[b[0] for b in CONNECT_BAD])
def test_blank_connect_keys_are_refused_naming_the_file_and_key(tmp_path, label, path, value, where, needle):
    """A Connect id, name or text that is blank (or an id with spaces) is refused with FILE:key.path (exit 2),
    not sent to AWS as " " at the worst moment."""
    site_file = tmp_path / "site.json"
    site_file.write_text(json.dumps(_connect_edit(path, value)))
    with pytest.raises(InvalidInput) as info:
        load_site(site_file)
    assert info.value.exit_code == 2
    assert str(info.value).startswith(f"{site_file}:{where}: "), str(info.value)
    assert needle in str(info.value)


def test_a_connect_site_and_a_govcloud_instance_arn_still_load(tmp_path):
    """The Connect key as the stack writes it loads; so does a GovCloud ARN, and a name with spaces."""
    for data in (CONNECT_BASE, _connect_edit(
            "connect.instance_arn", "arn:aws-us-gov:connect:us-gov-west-1:210987654321:instance/abc"),
                 _connect_edit("connect.announcement.override_name", "DR outage announcement")):
        site_file = tmp_path / "site.json"
        site_file.write_text(json.dumps(data))
        assert load_site(site_file).connect is not None


def test_the_example_site_and_shell_characters_in_connection_names_still_load(tmp_path):
    """The example site loads; names with shell metacharacters stay allowed (they are quoted when run)."""
    site_file = tmp_path / "site.json"
    site_file.write_text(json.dumps(_edit("vpn.appliance.connections", ["dr-tunnel-1", "t;$(id)", "a'b"])))
    assert load_site(site_file).vpn.appliance.connections == ["dr-tunnel-1", "t;$(id)", "a'b"]
    assert load_site(SITE).dns.records[0].name == "agents.example.com."


def test_probe_is_optional_and_takes_an_address(tmp_path):
    """Without vpn.appliance.probe the site loads with none; an IPv4 or IPv6 address is kept as written."""
    site_file = tmp_path / "site.json"
    site_file.write_text(json.dumps(BASE))
    assert load_site(site_file).vpn.appliance.probe is None
    for address in ("198.51.100.129", "2001:db8::1"):
        site_file.write_text(json.dumps(_edit("vpn.appliance.probe", address)))
        assert load_site(site_file).vpn.appliance.probe == address


def test_a_status_page_apart_from_what_the_restore_writes_loads(tmp_path):
    """The restore bucket outside its prefix, or another bucket, is fine for the page; with an empty prefix the
    restore writes anywhere in its bucket, so the page must go to another bucket."""
    site_file = tmp_path / "site.json"
    for page in ({"bucket": "cc-dr-restore", "key": "status/index.html"},
                 {"bucket": "cc-dr-status", "key": "restored/20261123T020000Z/_RESTORE_COMPLETE.json"}):
        site_file.write_text(json.dumps(_edit("notify.status_page", page)))
        assert load_site(site_file).notify.status_page.key == page["key"]
    data = _edit("notify.status_page", {"bucket": "cc-dr-restore", "key": "status/index.html"})
    data["backup"]["prefix"] = ""
    site_file.write_text(json.dumps(data))
    with pytest.raises(InvalidInput, match=r"notify\.status_page\.key: .* is under s3://cc-dr-restore/, where"):
        load_site(site_file)


def test_backup_workers_is_optional_and_names_its_queue_region(tmp_path):
    """``backup.workers`` (contract 1.2): absent, nothing changes; present, the queue's own region is used."""
    assert load_site(_write(tmp_path, BASE)).backup.workers is None
    data = _edit("backup.workers", {"queue_url": "https://sqs.eu-central-1.amazonaws.com/123456789012/cc-dr-restore"})
    workers = load_site(_write(tmp_path, data)).backup.workers
    assert workers is not None and (workers.region, workers.max_tries) == ("eu-central-1", 3)


def _write(tmp_path, data):
    path = tmp_path / "site.json"
    path.write_text(json.dumps(data))
    return path


def test_unknown_keys_elsewhere_load_with_one_warning_naming_file_and_key(tmp_path):
    """An unknown key outside the 1.2 objects still loads (a newer stack may output more), but is not silent: one
    warning names FILE:key.path (a misspelt optional `state` would silently turn team mode off)."""
    from structlog.testing import capture_logs

    data = {**copy.deepcopy(BASE), "stat": {"table": "cc-dr-runs"}}
    data["seats"]["targte"] = 80
    path = _write(tmp_path, data)
    with capture_logs() as logs:
        load_site(path)
        load_site(path)
    warned = [e for e in logs if e["event"] == "site.unknown_keys"]
    assert len(warned) == 1 and warned[0]["log_level"] == "warning"
    assert warned[0]["keys"] == [f"{path}:seats.targte", f"{path}:stat"]
    with capture_logs() as logs:
        load_site(SITE)  # the contract's example: nothing unknown
    assert not [e for e in logs if e["event"] == "site.unknown_keys"]
