"""The readiness/preflight check ``vpn.probe`` judges the probe's silence against the tunnel's state: before
a failover (no CHILD SA installed) no answer is expected and passes, so ``readiness --strict`` is not failed
by it and preflight prints no warning; a tunnel that is up and carries no traffic is the warning."""

from __future__ import annotations

from types import SimpleNamespace

from orchestrator import checks
from orchestrator.strongswan import ChildSa, IkeSa, PingResult, SaList

PROBE = "198.51.100.129"
UP = SaList((IkeSa("s2s", "ESTABLISHED", children=(ChildSa("dr-tunnel-1", "INSTALLED"),)),))


def env(received: int, sas: SaList) -> checks.CheckEnv:
    """A site with a probe, and an appliance whose ping gets ``received`` replies and that lists ``sas``."""
    appliance = SimpleNamespace(ping=lambda address: PingResult(address, 3, received, 0.5 if received else None),
                                list_sas=lambda: sas)
    site = SimpleNamespace(vpn=SimpleNamespace(appliance=SimpleNamespace(probe=PROBE, connections=["dr-tunnel-1"])))
    return checks.CheckEnv(services=SimpleNamespace(appliance=appliance), site=site)


def test_no_answer_with_no_tunnel_up_is_expected_and_passes():
    """Before a failover: passed, saying the silence is expected (nothing for --strict to fail on)."""
    result = checks.probe_reachable(env(0, SaList()))
    assert result.ok and not result.blocking and "as expected" in result.detail
    assert checks.run_checks([checks.probe_reachable], env(0, SaList())) == [result]


def test_no_answer_with_the_tunnel_up_is_a_warning():
    """A CHILD SA installed and no reply: a non-blocking failure naming the tunnel (the warning)."""
    result = checks.probe_reachable(env(0, UP))
    assert (result.ok, result.blocking) == (False, False) and "dr-tunnel-1" in result.detail


def test_an_answer_passes_whatever_the_tunnel_state():
    """Replies: passed, with the round trip."""
    for sas in (SaList(), UP):
        result = checks.probe_reachable(env(3, sas))
        assert result.ok and "rtt 0.50 ms" in result.detail
