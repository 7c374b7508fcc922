"""vpn.bring_up / vpn.tear_down and the traffic checks against a REAL strongSwan pair: two charon daemons
(kernel-libipsec) in two network namespaces, the appliance's own sshd in the first, reached over SSH with
a pinned host key; the probe 198.51.100.129 lives on the far side and answers only through the tunnel.

Needs root, network namespaces and Debian's strongswan-charon, strongswan-swanctl, libcharon-extra-plugins
and iputils-ping (`make system-deps`); skipped with the reason otherwise (CI runs as root: they run there).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator import checks
from orchestrator.adapters.ssh import HostKeyMismatch
from orchestrator.errors import FatalError
from orchestrator.sandbox import sshd, tunnel
from orchestrator.sandbox.sshd import SshServer, generate_keypair
from orchestrator.steps.vpn import BringUp, TearDown
from orchestrator.strongswan import SaList, parse_list_sas
from tests.fixtures.aws import run_step

REASON = tunnel.unavailable_reason()
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(REASON is not None, reason=f"the real strongSwan pair cannot run here: {REASON}"),
]

CHILD = "dr-tunnel-1"


@dataclass
class RealPair:
    state: dict
    server: SshServer

    @property
    def swanctl(self) -> str:
        return self.state["swanctl"]

    def charon_log(self, side: str = "app") -> str:
        return (Path(self.state["workdir"]) / side / "charon.log").read_text()

    def initiations(self, child: str = CHILD) -> int:
        """CHILD SA negotiations the appliance's charon started for ``child`` (its own log)."""
        return self.charon_log().count(f"establishing CHILD_SA {child}{{")

    def terminations(self, child: str = CHILD) -> int:
        return self.charon_log().count(f"closing CHILD_SA {child}{{")

    def list_sas(self) -> SaList:
        out = subprocess.run([self.swanctl, "--list-sas"], capture_output=True, text=True, check=True).stdout
        return parse_list_sas(out)


@pytest.fixture
def make_pair(ssh_client_key):
    """``make_pair(far_selector=...) -> RealPair``; every pair is stopped (namespaces deleted) after the test."""
    made: list[dict] = []

    def build(far_selector: str = tunnel.VPC_RANGE) -> RealPair:
        workdir = Path(tempfile.mkdtemp(prefix="ccdr-tunnel-"))
        state = tunnel.plan(workdir)
        made.append(state)
        tunnel.start(state, sshd.ensure_login_user(), [CHILD], far_selector=far_selector)
        server = sshd.start_in_namespace(state["namespaces"]["app"], workdir / "sshd")
        server.authorize(ssh_client_key.public_line)
        return RealPair(state, server)

    yield build
    for state in made:
        tunnel.stop(state)


@pytest.fixture
def make_real_site(make_moto_site, ssh_client_key):
    """``make_real_site(pair, **appliance) -> Site``: a moto site whose appliance is the pair's (probe set)."""

    def build(pair: RealPair, **appliance):
        endpoint = {"host": pair.server.host, "port": pair.server.port, "username": pair.server.username,
                    "host_key": pair.server.host_key_line, "swanctl": pair.swanctl, "probe": tunnel.PROBE}
        return make_moto_site(appliance={**endpoint, **appliance},
                              secrets={"cc-dr/appliance-key": ssh_client_key.private_openssh,
                                       "cc-dr/backup-key": ssh_client_key.private_openssh})

    return build


def test_bring_up_establishes_a_real_tunnel_and_pings_through_it(make_pair, make_real_site, clock, step_contexts):
    """One initiate brings the real CHILD SA up; the appliance's ping to the probe gets replies, with an RTT."""
    pair = make_pair()
    ctx = step_contexts(BringUp, make_real_site(pair), clock)
    assert run_step(BringUp(), ctx)
    assert pair.list_sas().is_up(CHILD)
    assert pair.initiations() == 1
    assert ctx.state["probe"]["received"] > 0
    assert 0 < ctx.state["probe"]["rtt_ms"] < 1000


def test_bring_up_is_not_applied_twice(make_pair, make_real_site, clock, step_contexts):
    """A second run finds the tunnel up and the probe answering (verify) and initiates nothing."""
    pair = make_pair()
    site = make_real_site(pair)
    assert run_step(BringUp(), step_contexts(BringUp, site, clock))
    assert not run_step(BringUp(), step_contexts(BringUp, site, clock))
    assert pair.initiations() == 1


def test_wrong_far_side_selector_fails_the_step_clearly(make_pair, make_real_site, clock, step_contexts):
    """The far side announces 198.51.100.192/26 (not the probe's range): the tunnel is ESTABLISHED with its
    CHILD SA INSTALLED, but nothing reaches the probe, and the step fails saying so."""
    pair = make_pair(far_selector=tunnel.WRONG_FAR_SELECTOR)
    ctx = step_contexts(BringUp, make_real_site(pair), clock)
    with pytest.raises(FatalError, match=r"ESTABLISHED/INSTALLED but carry no traffic.*198\.51\.100\.129: 0 of \d+ "
                                         r"replies.*traffic selectors"):
        BringUp().apply(ctx)
    assert pair.list_sas().is_up(CHILD)  # the SA state alone would have said "up"
    assert not BringUp().verify(ctx)
    assert ctx.state["probe"]["received"] == 0
    warned = checks.probe_reachable(checks.CheckEnv(ctx.services, ctx.site))  # readiness: a tunnel up, no traffic
    assert (warned.ok, warned.blocking) == (False, False) and f"{CHILD} are INSTALLED" in warned.detail


def test_without_a_probe_the_sa_state_check_stays(make_pair, make_real_site, clock, step_contexts):
    """A site without ``probe`` keeps today's check: ESTABLISHED/INSTALLED is enough (even a wrong selector)."""
    pair = make_pair(far_selector=tunnel.WRONG_FAR_SELECTOR)
    ctx = step_contexts(BringUp, make_real_site(pair, probe=None), clock)
    assert run_step(BringUp(), ctx)
    assert "probe" not in ctx.state


def test_resumed_bring_up_initiates_once(make_pair, make_real_site, clock, step_contexts):
    """A run that crashed right after initiating (journal: initiated) is resumed: the tunnel is found up and
    answering, nothing is initiated again, and there is one IKE SA with one CHILD SA."""
    pair = make_pair()
    site = make_real_site(pair)
    step_contexts(BringUp, site, clock).services.appliance.initiate(CHILD)  # the crashed run got this far
    resumed = step_contexts(BringUp, site, clock, state={"initiated": [CHILD]})
    assert not run_step(BringUp(), resumed)
    sas = pair.list_sas()
    assert len(sas.ikes) == 1 and len(sas.ikes[0].children) == 1
    assert pair.initiations() == 1


def test_tear_down_stops_the_traffic(make_pair, make_real_site, clock, step_contexts):
    """Failback terminates the CHILD SA; verify then requires the probe to be silent, and it is."""
    pair = make_pair()
    site = make_real_site(pair)
    run_step(BringUp(), step_contexts(BringUp, site, clock))
    ctx = step_contexts(TearDown, site, clock)
    assert run_step(TearDown(), ctx)
    assert ctx.state["terminated"] == [CHILD]
    assert pair.terminations() == 1
    assert not ctx.services.appliance.ping(tunnel.PROBE).answered


def test_tear_down_fails_when_the_probe_still_answers(make_pair, make_real_site, clock, step_contexts):
    """A swanctl that says "terminate completed" without terminating (the tunnel still carries traffic)
    fails the failback step, naming the probe that still answers."""
    pair = make_pair()
    site = make_real_site(pair)
    run_step(BringUp(), step_contexts(BringUp, site, clock))
    liar = Path(pair.swanctl).with_name("swanctl-liar")
    liar.write_text('#!/bin/sh\nif [ "$1" = "--terminate" ]; then echo "terminate completed successfully"; '
                    f'exit 0; fi\nexec {pair.swanctl} "$@"\n')
    liar.chmod(0o755)
    appliance = site.vpn.appliance.model_copy(update={"swanctl": str(liar)})
    lying = site.model_copy(update={"vpn": site.vpn.model_copy(update={"appliance": appliance})})
    ctx = step_contexts(TearDown, lying, clock)
    with pytest.raises(FatalError, match=r"the probe still answers: 198\.51\.100\.129: \d+ of \d+ replies"):
        TearDown().apply(ctx)
    assert pair.list_sas().is_up(CHILD)


def test_rollback_terminates_what_bring_up_initiated(make_pair, make_real_site, clock, step_contexts):
    """Rollback of bring_up terminates the real tunnel; tear_down then finds nothing to do."""
    pair = make_pair()
    site = make_real_site(pair)
    up = step_contexts(BringUp, site, clock)
    run_step(BringUp(), up)
    BringUp().rollback(up)
    assert pair.terminations() == 1
    assert not pair.list_sas().is_up(CHILD)
    assert not run_step(TearDown(), step_contexts(TearDown, site, clock))


def test_the_ping_is_bounded_when_nothing_answers(make_pair, make_real_site, clock, step_contexts):
    """An address inside the tunnel's range where no host lives: the appliance's ping gives up at its
    deadline (5 s, echoes 0.2 s apart) and reports no reply, never an error."""
    pair = make_pair()
    ctx = step_contexts(BringUp, make_real_site(pair), clock)
    run_step(BringUp(), ctx)
    started = time.monotonic()
    answer = ctx.services.appliance.ping("198.51.100.200")
    assert time.monotonic() - started < 8
    assert answer.sent >= 3 and (answer.received, answer.answered) == (0, False)


def test_readiness_expects_silence_before_and_smoke_requires_the_probe(make_pair, make_real_site, clock,
                                                                      step_contexts):
    """Before bring-up the probe check passes saying no answer is expected (no tunnel up: nothing for
    `readiness --strict` to fail on) and the smoke check fails; after bring-up both pass with the round trip."""
    pair = make_pair()
    site = make_real_site(pair)
    ctx = step_contexts(BringUp, site, clock)
    env = checks.CheckEnv(ctx.services, site)
    before = checks.probe_reachable(env)
    assert (before.ok, before.blocking) == (True, False)
    assert "as expected while no tunnel is up" in before.detail
    assert not checks.vpn_traffic(env).ok
    run_step(BringUp(), ctx)
    after = checks.vpn_traffic(env)
    assert after.ok and "rtt" in after.detail
    assert checks.probe_reachable(env).ok


def test_plan_changes_nothing(make_pair, make_real_site, clock, step_contexts):
    """The dry-run plan names the initiate command; no SA is negotiated."""
    pair = make_pair()
    lines = BringUp().plan(step_contexts(BringUp, make_real_site(pair), clock))
    assert any(f"--initiate --child {CHILD}" in line for line in lines)
    assert pair.list_sas().ikes == ()
    assert pair.initiations() == 0


def test_appliance_with_wrong_host_key_is_refused(make_pair, make_real_site, clock, step_contexts):
    """The appliance's own sshd presenting another key than the pinned one: refused, nothing initiated."""
    pair = make_pair()
    site = make_real_site(pair, host_key=generate_keypair().public_line)
    with pytest.raises(HostKeyMismatch):
        BringUp().apply(step_contexts(BringUp, site, clock))
    assert pair.initiations() == 0


def test_stop_leaves_nothing_behind(make_pair):
    """Stopping the pair kills both charons and the appliance's sshd, deletes both namespaces, and the veth
    pair and TUN devices go with them."""
    pair = make_pair()
    namespaces = list(pair.state["namespaces"].values())
    pids = [int(p) for ns in namespaces for p in subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                                                                 text=True).stdout.split()]
    assert len(pids) >= 4  # two charons, the sshd, the port into the namespace
    tunnel.stop(pair.state)
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(ns in listed for ns in namespaces)
    assert [pid for pid in pids if _alive(pid)] == []
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert not any(link in links for link in pair.state["links"].values())
    assert not Path(pair.state["workdir"]).exists()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
