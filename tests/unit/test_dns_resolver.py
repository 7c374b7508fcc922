"""The optional resolver check compares what the zone's name servers answer with what we wanted."""

from __future__ import annotations

import dns.exception

from orchestrator.adapters.route53 import RecordSet
from orchestrator.steps.dns import resolver_check

WANTED = [
    RecordSet("agents.example.com.", "CNAME", 60, ("agents.dr.example.net",)),
    RecordSet("sip.example.com.", "A", 60, ("192.0.2.10", "192.0.2.11")),
]
ANSWERS = {
    ("agents.example.com.", "CNAME"): ["agents.dr.example.net."],
    ("sip.example.com.", "A"): ["192.0.2.11", "192.0.2.10"],
}


def test_matching_answers_are_ok():
    """Answers equal to the wanted values (any order, trailing dots) pass."""
    status, _ = resolver_check(
        WANTED,
        ["ns1"],
        1.0,
        addresses=lambda host, t: ["127.0.0.1"],
        query=lambda ip, n, ty, t: ANSWERS[(n, ty)],
    )
    assert status == "ok"


def test_a_stale_answer_is_a_mismatch_naming_the_record():
    """A name server still answering the old value is reported with the record name."""
    stale = {**ANSWERS, ("sip.example.com.", "A"): ["198.51.100.10"]}
    status, detail = resolver_check(
        WANTED,
        ["ns1"],
        1.0,
        addresses=lambda host, t: ["127.0.0.1"],
        query=lambda ip, n, ty, t: stale[(n, ty)],
    )
    assert status == "mismatch" and "sip.example.com." in detail and "198.51.100.10" in detail


def test_unreachable_name_servers_are_skipped_with_a_reason():
    """When no name server answers, the check is skipped (not failed) and says why."""

    def timeout(ip, name, type_, t):
        raise dns.exception.Timeout()

    status, detail = resolver_check(
        WANTED, ["ns1", "ns2"], 1.0, addresses=lambda h, t: ["127.0.0.1"], query=timeout
    )
    assert status == "skipped" and "ns2: Timeout" in detail


def test_a_zone_without_name_servers_is_skipped():
    """No delegation set: skipped with a reason."""
    assert resolver_check(WANTED, [], 1.0)[0] == "skipped"
