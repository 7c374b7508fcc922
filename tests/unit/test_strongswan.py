"""The swanctl output parser on strongSwan 5.9's real output shapes (shared sample), failures included."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.strongswan import parse_initiate, parse_list_sas, parse_ping

SAMPLE = Path("/work/shared/samples/strongswan-list-sas.txt")

ESTABLISHED = """\
s2s: #4, ESTABLISHED, IKEv2, 3032a7abc08cdad5_i* 374b038b94adb4bf_r
  local  'a.swan.test' @ 192.0.2.1[4500]
  remote 'b.swan.test' @ 192.0.2.2[4500]
  AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048
  established 0s ago, rekeying in 14393s
  net: #4, reqid 1, INSTALLED, TUNNEL-in-UDP, ESP:AES_CBC-256/HMAC_SHA2_256_128
    installed 0s ago, rekeying in 3391s, expires in 3960s
    in  2a1c0e10,    168 bytes,     2 packets,     0s ago
    out 2cfa7ff7,    168 bytes,     2 packets,     0s ago
    local  198.51.100.1/32
    remote 198.51.100.129/32
"""

CONNECTING = """\
s2s: #5, CONNECTING, IKEv2, 73273ac301da219d_i* 0000000000000000_r
  local  '%any' @ 192.0.2.1[500]
"""

RAW = (
    "list-sa event {s2s {uniqueid=4 version=2 state=ESTABLISHED local-host=192.0.2.1 local-port=4500 "
    "remote-id=b.swan.test initiator=yes encr-alg=AES_CBC encr-keysize=256 child-sas {net-4 {name=net "
    "uniqueid=4 reqid=1 state=INSTALLED mode=TUNNEL protocol=ESP encap=yes spi-in=2a1c0e10 "
    "local-ts=[198.51.100.1/32] remote-ts=[198.51.100.129/32]}}}}\nlist-sas reply {}\n"
)

AUTH_FAILED = """\
[IKE] initiating IKE_SA s2s[1] to 192.0.2.2
[IKE] authentication of 'a.swan.test' (myself) with pre-shared key
[IKE] establishing CHILD_SA net{1}
[ENC] parsed IKE_AUTH response 1 [ N(AUTH_FAILED) ]
[IKE] received AUTHENTICATION_FAILED notify error
initiate failed: establishing CHILD_SA 'net' failed
"""


def test_established_child_is_up():
    """An ESTABLISHED IKE SA with its CHILD SA INSTALLED counts as up, under the child's own name."""
    sas = parse_list_sas(ESTABLISHED)
    assert [(i.name, i.state, i.version) for i in sas.ikes] == [("s2s", "ESTABLISHED", "IKEv2")]
    assert [(c.name, c.state, c.reqid) for c in sas.ikes[0].children] == [("net", "INSTALLED", 1)]
    assert sas.is_up("net")
    assert not sas.is_up("s2s")


def test_connecting_is_not_up():
    """A CONNECTING IKE SA without CHILD SA is not up, and the description says so."""
    sas = parse_list_sas(CONNECTING)
    assert not sas.is_up("net")
    assert sas.describe("net") == "net: no CHILD SA yet (IKE SA s2s CONNECTING)"


def test_empty_output_means_no_sa():
    """swanctl prints nothing (exit 0) when there is no SA."""
    sas = parse_list_sas("")
    assert sas.ikes == ()
    assert sas.describe("net") == "net: no SA"


def test_widened_counters_still_parse():
    """Heavy-traffic counters widen the columns without confusing the child line."""
    text = ESTABLISHED.replace(
        "in  2a1c0e10,    168 bytes,     2 packets", "in  fa5526fc, 117471176 bytes, 101058 packets"
    )
    assert parse_list_sas(text).is_up("net")


def test_installed_child_under_rekeying_ike_is_not_up():
    """A child INSTALLED under an IKE SA that is not ESTABLISHED (e.g. REKEYING) is not reported up."""
    assert not parse_list_sas(ESTABLISHED.replace("#4, ESTABLISHED", "#4, DELETING")).is_up("net")


def test_real_sample_file_parses_both_sites():
    """The shared sample (two charons, plain then raw) yields the established s2s/net SAs."""
    if not SAMPLE.exists():
        pytest.skip("shared sample not present")
    plain = SAMPLE.read_text().split("# same, --raw")[0]
    sas = parse_list_sas(plain)
    assert [i.name for i in sas.ikes] == ["s2s", "s2s"]
    assert sas.is_up("net")


def test_raw_format():
    """--raw output is parsed into the same structure (state, child name from name=, not the key)."""
    sas = parse_list_sas(RAW)
    assert sas.ikes[0].name == "s2s"
    assert sas.ikes[0].version == "IKEv2"
    assert [(c.name, c.state) for c in sas.ikes[0].children] == [("net", "INSTALLED")]
    assert sas.is_up("net")


def test_initiate_timeout_is_pending():
    """'not established after Nms' means charon keeps trying: pending, not failed."""
    outcome = parse_initiate(CONNECTING + "initiate failed: CHILD_SA 'net' not established after 3000ms\n", 1)
    assert outcome.status == "pending"


def test_initiate_auth_failure():
    """AUTHENTICATION_FAILED is reported as a failure flagged auth_failed."""
    outcome = parse_initiate(AUTH_FAILED, 1)
    assert (outcome.status, outcome.auth_failed) == ("failed", True)


def test_initiate_success_and_other_failure():
    """Exit 0 is established; another 'initiate failed' line is a plain failure with its reason."""
    assert parse_initiate("initiate completed successfully\n", 0).status == "established"
    outcome = parse_initiate("initiate failed: CHILD_SA config 'nope' not found\n", 1)
    assert (outcome.status, outcome.reason) == ("failed", "CHILD_SA config 'nope' not found")


PING_OK = """PING 198.51.100.129 (198.51.100.129) 56(84) bytes of data.

--- 198.51.100.129 ping statistics ---
3 packets transmitted, 3 received, 0% packet loss, time 2046ms
rtt min/avg/max/mdev = 0.436/0.787/1.295/0.367 ms
"""
PING_NONE = """PING 198.51.100.129 (198.51.100.129) 56(84) bytes of data.

--- 198.51.100.129 ping statistics ---
3 packets transmitted, 0 received, 100% packet loss, time 2030ms
"""


def test_ping_summary_gives_replies_and_average_rtt():
    """iputils' summary: sent, received and the average round trip (the middle figure)."""
    answer = parse_ping("198.51.100.129", PING_OK, 3)
    assert (answer.sent, answer.received, answer.rtt_ms, answer.answered) == (3, 3, 0.787, True)
    assert answer.describe() == "198.51.100.129: 3 of 3 replies, rtt 0.79 ms"


def test_ping_without_replies_or_without_route_is_no_answer():
    """All echoes lost, or ping refusing at once (no route through a missing tunnel), is no reply."""
    lost = parse_ping("198.51.100.129", PING_NONE, 3)
    assert (lost.received, lost.rtt_ms, lost.answered) == (0, None, False)
    unreachable = parse_ping("198.51.100.129", "ping: connect: Network is unreachable\n", 3)
    assert not unreachable.answered
    assert unreachable.describe() == "198.51.100.129: 0 of 3 replies (ping: connect: Network is unreachable)"
