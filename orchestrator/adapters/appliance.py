"""The customer-side VPN appliance (kind ``strongswan``), driven with ``swanctl`` over SSH.

One SSH connection is kept open and reused (polling ``--list-sas`` every few seconds must not pay a
handshake each time); a dropped connection is reopened on the next call. Every command is built
with ``shlex.quote`` around each argument, including the ``swanctl`` path from the site file.
"""

from __future__ import annotations

import shlex
import threading
from typing import Any

import structlog

from orchestrator import retry
from orchestrator.adapters import ssh
from orchestrator.clock import Clock
from orchestrator.errors import FatalError, RetryableError
from orchestrator.strongswan import (
    InitiateOutcome,
    PingResult,
    SaList,
    parse_initiate,
    parse_list_sas,
    parse_ping,
)


class StrongSwanAppliance:
    """``initiate`` / ``terminate`` / ``list_sas`` on the appliance named by the site file."""

    #: bounds every command, ``--initiate`` included (swanctl waits for the CHILD SA or its failure)
    command_timeout = 30.0

    def __init__(self, appliance_cfg: Any, secrets: Any, clock: Clock, options: ssh.SshOptions | None = None):
        self.cfg = appliance_cfg
        self.secrets = secrets
        self.clock = clock
        self.options = options or ssh.SshOptions()
        self.log = structlog.get_logger("orchestrator.appliance").bind(appliance=ssh.where(appliance_cfg))
        self._conn: ssh.SshConnection | None = None
        self._lock = threading.Lock()

    def command(self, *args: str) -> str:
        """The shell command line for ``swanctl ARGS`` (every part quoted)."""
        return " ".join(shlex.quote(part) for part in (self.cfg.swanctl, *args))

    def initiate(self, name: str) -> InitiateOutcome:
        """``swanctl --initiate --child NAME``: established, pending (charon keeps trying) or FatalError."""
        # exactly the contract's command line: appliances may wrap swanctl with a strict argument parser
        result = self._run("--initiate", "--child", name)
        outcome = parse_initiate(result.output, result.exit_code)
        self.log.info("appliance.initiate", child=name, status=outcome.status, reason=outcome.reason)
        if outcome.status == "failed":
            error = FatalError if outcome.auth_failed else RetryableError
            raise error(f"swanctl --initiate --child {name} on {self.cfg.host}: {outcome.reason}")
        return outcome

    def terminate(self, name: str) -> bool:
        """``swanctl --terminate --child NAME``; False when there was nothing to terminate."""
        result = self._run("--terminate", "--child", name)
        if result.exit_code == 0:
            self.log.info("appliance.terminate", child=name)
            return True
        if "no matching" in result.output:
            self.log.info("appliance.terminate", child=name, detail="no SA to terminate")
            return False
        raise RetryableError(f"swanctl --terminate --child {name}: {result.output.strip()[-200:]}")

    def list_sas(self) -> SaList:
        """``swanctl --list-sas``, parsed."""
        result = self._run("--list-sas")
        if result.exit_code != 0:
            raise RetryableError(
                f"swanctl --list-sas exited {result.exit_code}: {result.output.strip()[-200:]}"
            )
        return parse_list_sas(result.stdout)

    def ping(self, address: str, count: int = 3, deadline: int = 5) -> PingResult:
        """A bounded ``ping`` run ON the appliance (so through its tunnel): echoes 0.2 s apart until ``count``
        replies came back or ``deadline`` seconds passed (iputils' ``-c`` with ``-w``). No reply is an answer,
        not an error."""
        command = " ".join(shlex.quote(part) for part in (
            "ping", "-n", "-q", "-c", str(count), "-i", "0.2", "-W", "1", "-w", str(deadline), address))
        result = retry.call(lambda: self._run_once(command), policy="ssh", clock=self.clock, log=self.log,
                            what="appliance ping")
        answer = parse_ping(address, result.output, count)
        self.log.info("appliance.ping", address=address, sent=answer.sent, received=answer.received,
                      rtt_ms=answer.rtt_ms)
        return answer

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _run(self, *args: str) -> ssh.CommandResult:
        command = self.command(*args)
        return retry.call(
            lambda: self._run_once(command),
            policy="ssh",
            clock=self.clock,
            log=self.log,
            what=f"appliance {args[0]}",
        )

    def _run_once(self, command: str) -> ssh.CommandResult:
        with self._lock:
            if self._conn is None or not self._conn.active:
                key = self.secrets.ssh_private_key(self.cfg)
                self._conn = ssh.connect(self.cfg, key, self.options)
            conn = self._conn
        try:
            return conn.run(command, self.command_timeout, clock=self.clock)
        except RetryableError:
            with self._lock:
                if self._conn is conn:
                    conn.close()
                    self._conn = None
            raise
