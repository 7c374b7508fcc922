"""Readiness without SSH secrets (issue 23 #15): the appliance's and the SFTP account's host keys are checked by
the SSH key exchange alone, against a real sshd, with no private key and no login; credentials that may not
read the keys (the readiness role) get "not checked" warnings for what only a login shows, never a blocking
failure and never a login attempt."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from orchestrator import readiness
from orchestrator.adapters import Services
from orchestrator.adapters.aws import AwsFatalError
from orchestrator.adapters.ssh import HostKeyMismatch, verify_host_key
from orchestrator.sandbox import sshd

pytestmark = pytest.mark.integration


def _endpoint(server, host_key=None):
    return SimpleNamespace(host=server.host, port=server.port, username=server.username,
                           host_key=host_key or server.host_key_line)


def _sessions(server) -> tuple[int, int]:
    """(logins accepted, connections closed before authentication) in the sshd's log so far."""
    text = server.log_file.read_text(errors="replace") if server.log_file.exists() else ""
    return text.count("Accepted publickey"), text.count("[preauth]")


def _wait_logged(server, before: tuple[int, int]) -> tuple[int, int]:
    """sshd writes the [preauth] line when it sees the client go: until it has (bounded)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # a real sshd's log file: nothing to inject
        now = _sessions(server)
        if now[1] > before[1]:
            return now
        time.sleep(0.02)
    return _sessions(server)


def test_the_host_key_is_verified_without_a_key_and_without_logging_in(sshd_server):
    """verify_host_key takes no private key; the sshd sees a connection closed before authentication, no
    login."""
    before = _sessions(sshd_server)
    detail = verify_host_key(_endpoint(sshd_server))
    assert "presents the pinned ssh-ed25519 host key SHA256:" in detail and "(no login)" in detail
    after = _wait_logged(sshd_server, before)
    assert after[0] == before[0], "a login was made"
    assert after[1] > before[1], "sshd saw no pre-authentication session end"


def test_another_host_key_is_refused_without_logging_in(sshd_server):
    """A server presenting a key other than the pinned one is refused (no trust on first use)."""
    other = sshd.generate_keypair().public_line
    with pytest.raises(HostKeyMismatch, match=r"host key mismatch: the server presented ssh-ed25519 SHA256:"):
        verify_host_key(_endpoint(sshd_server, host_key=other))


class _MustNotLogIn:
    def __getattr__(self, name):
        raise AssertionError(f"readiness logged in ({name}) with credentials that may not read the key")


def _denied(*_args, **_kwargs):
    error = AwsFatalError("secretsmanager.get_secret_value: AccessDeniedException: User: lp is not authorized")
    error.code = "AccessDeniedException"
    raise error


def test_readiness_without_the_keys_checks_host_keys_and_says_what_it_could_not_check(make_ssh_site, clock):
    """Credentials refused the SSH keys: the host-key checks pass, nothing logs in, the login checks are
    "not checked" warnings naming the secret and why a login would be needed; the site is ready."""
    site = make_ssh_site()
    services = Services(site, clock)
    services.secrets.ssh_private_key = _denied  # type: ignore[method-assign]
    services.__dict__["appliance"] = _MustNotLogIn()
    services.__dict__["backup_source"] = _MustNotLogIn()
    result = readiness.evaluate(services, site, [], datetime.now(UTC))
    checks = {c.name: c for c in result.checks}
    assert checks["backup.sftp.host_key"].ok and checks["vpn.appliance.host_key"].ok
    for name in ("backup.snapshot", "vpn.appliance", "vpn.probe", "restore.estimate"):
        assert (checks[name].ok, checks[name].blocking) == (False, False), checks[name]
        assert checks[name].detail.startswith("not checked: these credentials may not read the SSH key 'cc-dr/")
    assert "list the snapshots" in checks["backup.snapshot"].detail
    assert result.ready and not readiness.Readiness(site.site, result.checks, strict=True).ready


def test_readiness_with_the_keys_logs_in_as_before(make_ssh_site, clock):
    """Credentials that may read the keys: the snapshot and the appliance are checked by logging in, and
    the host-key checks run too."""
    site = make_ssh_site()
    services = Services(site, clock)
    try:
        result = readiness.evaluate(services, site, [], datetime.now(UTC))
    finally:
        services.close()
    checks = {c.name: c for c in result.checks}
    assert checks["backup.sftp.host_key"].ok and checks["vpn.appliance.host_key"].ok
    assert checks["vpn.appliance"].ok and checks["vpn.appliance"].detail.startswith("reachable")
    assert not checks["backup.snapshot"].detail.startswith("not checked"), checks["backup.snapshot"]
