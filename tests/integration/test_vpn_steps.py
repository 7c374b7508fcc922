"""vpn.bring_up / vpn.tear_down against a moto server (AWS VPN) and a real sshd running the fake swanctl:
delayed establishment driven by polls (FakeClock, no real waiting), never establishing, auth failure,
idempotence, rollback, wrong host key."""

from __future__ import annotations

import pytest

from orchestrator.adapters.ssh import HostKeyMismatch
from orchestrator.errors import FatalError, RetryableError, StepTimeout
from orchestrator.sandbox.sshd import generate_keypair
from orchestrator.steps.vpn import BringUp, TearDown
from tests.fixtures.aws import run_step

pytestmark = pytest.mark.integration

CHILD = "dr-tunnel-1"


def test_bring_up_waits_until_installed(make_ssh_site, fake_swanctl, clock, step_contexts):
    """The tunnel shows CONNECTING for 3 polls, then ESTABLISHED/INSTALLED; the step waits on the clock."""
    fake_swanctl.configure(establish_after_polls=3)
    ctx = step_contexts(BringUp, make_ssh_site(), clock, params={"poll_interval_seconds": 2})
    assert run_step(BringUp(), ctx)
    child = fake_swanctl.child(CHILD)
    assert child["initiations"] == 1
    assert child["established"] is True
    assert len(clock.sleeps) == 3
    assert ctx.state["initiated"] == [CHILD]


def test_bring_up_is_not_applied_twice(make_ssh_site, fake_swanctl, clock, step_contexts):
    """A second run finds the tunnel up (verify) and initiates nothing."""
    site = make_ssh_site()
    assert run_step(BringUp(), step_contexts(BringUp, site, clock))
    assert not run_step(BringUp(), step_contexts(BringUp, site, clock))
    assert fake_swanctl.child(CHILD)["initiations"] == 1


def test_bring_up_never_establishing_times_out_clearly(make_ssh_site, fake_swanctl, clock, step_contexts):
    """A tunnel that never establishes ends in StepTimeout naming the child and what was last seen."""
    fake_swanctl.configure(mode="never")
    ctx = step_contexts(BringUp, make_ssh_site(), clock, params={"timeout_seconds": 60, "poll_interval_seconds": 5})
    with pytest.raises(StepTimeout, match=r"dr-tunnel-1.*not reached after 60s.*s2s CONNECTING"):
        BringUp().apply(ctx)
    assert clock.monotonic() <= 60
    assert fake_swanctl.child(CHILD)["polls"] >= 3


def test_resumed_bring_up_does_not_initiate_a_connecting_tunnel_again(
    make_ssh_site, fake_swanctl, clock, step_contexts
):
    """After a crash mid-negotiation (journal says initiated, the IKE SA is CONNECTING) the step waits
    for charon instead of initiating the tunnel a second time."""
    fake_swanctl.configure(establish_after_polls=2)
    site = make_ssh_site()
    first = step_contexts(BringUp, site, clock)
    first.services.appliance.initiate(CHILD)  # the crashed run got this far
    resumed = step_contexts(BringUp, site, clock, state={"initiated": [CHILD]}, params={"poll_interval_seconds": 1})
    assert run_step(BringUp(), resumed)
    assert fake_swanctl.child(CHILD)["initiations"] == 1


def test_bring_up_auth_failure_is_fatal(make_ssh_site, fake_swanctl, clock, step_contexts):
    """strongSwan's AUTHENTICATION_FAILED from the peer fails the step at once (no retry, no wait)."""
    fake_swanctl.configure(mode="auth-fail")
    ctx = step_contexts(BringUp, make_ssh_site(), clock)
    with pytest.raises(FatalError, match="authentication failed"):
        BringUp().apply(ctx)
    assert fake_swanctl.child(CHILD)["initiations"] == 1
    assert clock.sleeps == []


def test_rollback_and_tear_down_terminate_the_tunnel(make_ssh_site, fake_swanctl, clock, step_contexts):
    """Rollback of bring_up terminates what it initiated; tear_down then finds nothing left to do."""
    site = make_ssh_site()
    up = step_contexts(BringUp, site, clock)
    run_step(BringUp(), up)
    BringUp().rollback(up)
    assert fake_swanctl.child(CHILD)["terminations"] == 1
    assert not run_step(TearDown(), step_contexts(TearDown, site, clock))


def test_tear_down_terminates_each_connection(make_ssh_site, fake_swanctl, clock, step_contexts):
    """Failback's tear_down runs --terminate for the child and verify then sees no SA."""
    site = make_ssh_site()
    run_step(BringUp(), step_contexts(BringUp, site, clock))
    ctx = step_contexts(TearDown, site, clock)
    assert run_step(TearDown(), ctx)
    assert ctx.state["terminated"] == [CHILD]
    assert fake_swanctl.child(CHILD)["active"] is False


def test_missing_aws_connection_is_fatal(make_ssh_site, fake_swanctl, clock, step_contexts):
    """A site naming a VPN connection AWS does not have fails before anything is initiated."""
    site = make_ssh_site()
    site = site.model_copy(update={"vpn": site.vpn.model_copy(update={"connection_ids": ["vpn-0000dead"]})})
    ctx = step_contexts(BringUp, site, clock)
    with pytest.raises(FatalError):
        BringUp().apply(ctx)
    assert fake_swanctl.child(CHILD) == {}


def test_appliance_with_wrong_host_key_is_refused(make_ssh_site, fake_swanctl, clock, step_contexts):
    """An appliance presenting another host key is refused (FatalError) and nothing runs on it."""
    site = make_ssh_site(appliance={"host_key": generate_keypair().public_line})
    with pytest.raises(HostKeyMismatch):
        BringUp().apply(step_contexts(BringUp, site, clock))
    assert fake_swanctl.child(CHILD) == {}
    assert clock.sleeps == []


def test_plan_names_the_initiate_command(make_ssh_site, fake_swanctl, clock, step_contexts):
    """The dry-run plan says which child would be initiated, without initiating it."""
    lines = BringUp().plan(step_contexts(BringUp, make_ssh_site(), clock))
    assert any(f"--initiate --child {CHILD}" in line for line in lines)
    assert fake_swanctl.child(CHILD) == {}


def _with_stuck_terminate(site, fake_swanctl, stuck: str):
    """``site`` whose appliance runs a swanctl wrapper: ``--terminate --child STUCK`` fails (charon not
    answering for that tunnel); every other command goes to the fake swanctl."""
    wrapper = fake_swanctl.directory / "swanctl-stuck"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "--terminate" ] && [ "$3" = "{stuck}" ]; then\n'
        "  echo \"terminate failed: connecting to 'unix:///var/run/charon.vici' failed\"; exit 1\n"
        "fi\n"
        f'exec {fake_swanctl.path} "$@"\n'
    )
    wrapper.chmod(0o755)
    appliance = site.vpn.appliance.model_copy(update={"swanctl": str(wrapper)})
    return site.model_copy(update={"vpn": site.vpn.model_copy(update={"appliance": appliance})})


def test_rollback_goes_on_past_a_failed_terminate(make_ssh_site, fake_swanctl, clock, step_contexts):
    """Rollback terminates every tunnel it brought up even when the first terminate fails, journals
    which ones went down, and raises one error naming the stuck tunnel."""
    names = ["tunnel-a", "tunnel-b", "tunnel-c"]
    site = make_ssh_site(appliance={"connections": names})
    up = step_contexts(BringUp, site, clock)
    run_step(BringUp(), up)
    down = step_contexts(BringUp, _with_stuck_terminate(site, fake_swanctl, "tunnel-a"), clock, state=dict(up.state))
    with pytest.raises(RetryableError, match=r"1 of 3 tunnel\(s\) could not be terminated.*tunnel-a"):
        BringUp().rollback(down)
    assert [fake_swanctl.child(n).get("active") for n in names] == [True, False, False]
    assert down.state["terminated"] == ["tunnel-b", "tunnel-c"]


def test_retried_rollback_only_terminates_what_is_left(make_ssh_site, fake_swanctl, clock, step_contexts):
    """A rollback attempt after a partial one terminates only the tunnels still up (each once)."""
    names = ["tunnel-a", "tunnel-b"]
    site = make_ssh_site(appliance={"connections": names})
    up = step_contexts(BringUp, site, clock)
    run_step(BringUp(), up)
    up.state["terminated"] = ["tunnel-b"]  # an earlier attempt got this far
    BringUp().rollback(up)
    assert fake_swanctl.child("tunnel-a")["terminations"] == 1
    assert fake_swanctl.child("tunnel-b").get("terminations", 0) == 0


def test_tear_down_goes_on_past_a_failed_terminate(make_ssh_site, fake_swanctl, clock, step_contexts):
    """Failback's tear_down tries every connection and names the one that would not go down."""
    names = ["tunnel-a", "tunnel-b"]
    site = make_ssh_site(appliance={"connections": names})
    run_step(BringUp(), step_contexts(BringUp, site, clock))
    ctx = step_contexts(TearDown, _with_stuck_terminate(site, fake_swanctl, "tunnel-a"), clock)
    with pytest.raises(RetryableError, match="tunnel-a"):
        TearDown().apply(ctx)
    assert fake_swanctl.child("tunnel-b")["active"] is False
    assert ctx.state["terminated"] == ["tunnel-b"]
