"""Probes of the primary site (contract 1.2, detection): TCP connect, HTTP(S) status, SIP ``OPTIONS`` over UDP
or TCP, a CloudWatch alarm's state. Each is bounded (``timeout``, 5 s by default), never raises, and says what
it saw: a ``ProbeResult``. Only loopback or addresses the site file names are ever contacted."""

from __future__ import annotations

import concurrent.futures
import secrets
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.adapters.aws import AwsSession
    from orchestrator.site import Probe

#: the contract's bound on one probe
PROBE_TIMEOUT = 5.0


@dataclass(frozen=True)
class ProbeResult:
    name: str
    kind: str
    target: str
    ok: bool
    detail: str
    seconds: float

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "kind": self.kind, "target": self.target, "ok": self.ok, "detail": self.detail,
                "seconds": self.seconds}


def run_probe(probe: Probe, aws: AwsSession | None, timeout: float = PROBE_TIMEOUT) -> ProbeResult:
    """One probe, bounded by ``timeout``; any error is a failed probe with its reason, never an exception."""
    started = time.monotonic()
    try:
        ok, detail = _PROBES[probe.kind](probe, aws, timeout)
    except Exception as exc:  # a probe says what it saw; it never stops the round
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    return ProbeResult(probe.name, probe.kind, probe.target, ok, detail, round(time.monotonic() - started, 3))


def run_probes(probes: Sequence[Probe], aws: AwsSession | None, timeout: float = PROBE_TIMEOUT) -> list[ProbeResult]:
    """Every probe at once, each bounded: a round takes about as long as its slowest probe."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(probes)), thread_name_prefix="probe") as pool:
        futures = [pool.submit(run_probe, probe, aws, timeout) for probe in probes]
        out = []
        for probe, future in zip(probes, futures, strict=True):
            try:
                out.append(future.result(timeout=timeout + 2))
            except concurrent.futures.TimeoutError:
                out.append(ProbeResult(probe.name, probe.kind, probe.target, False,
                                       f"no answer within {timeout:g}s", timeout))
    return out


def _host_port(value: str) -> tuple[str, int]:
    host, port = value.rsplit(":", 1)
    return host.strip("[]"), int(port)


def _tcp(probe: Probe, aws: AwsSession | None, timeout: float) -> tuple[bool, str]:
    host, port = _host_port(probe.target)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True, "connection accepted"
    except TimeoutError:
        return False, f"no answer within {timeout:g}s"
    except OSError as exc:
        return False, f"refused or unreachable ({exc.strerror or exc})"


def _http(probe: Probe, aws: AwsSession | None, timeout: float) -> tuple[bool, str]:
    request = urllib.request.Request(probe.target, method="GET", headers={"User-Agent": "cc-failover-watch"})  # noqa: S310
    context = ssl.create_default_context()
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as answer:  # noqa: S310
            status = answer.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except TimeoutError:
        return False, f"no answer within {timeout:g}s"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError | socket.timeout):
            return False, f"no answer within {timeout:g}s"
        return False, f"no HTTP answer ({reason})"
    if status == probe.expect_status:
        return True, f"HTTP {status}"
    return False, f"HTTP {status}, expected {probe.expect_status}"


def sip_options(host: str, port: int, local: tuple[str, int], transport: str) -> bytes:
    """A SIP ``OPTIONS`` request (RFC 3261 §11) as an SBC or a carrier sends it to watch a trunk."""
    branch = "z9hG4bK" + secrets.token_hex(8)
    call_id = secrets.token_hex(12)
    via = f"SIP/2.0/{transport.upper()} {local[0]}:{local[1]};branch={branch};rport"
    lines = [
        f"OPTIONS sip:{host}:{port} SIP/2.0",
        f"Via: {via}",
        "Max-Forwards: 70",
        f"From: <sip:cc-failover-watch@{local[0]}>;tag={secrets.token_hex(4)}",
        f"To: <sip:{host}:{port}>",
        f"Call-ID: {call_id}@{local[0]}",
        "CSeq: 1 OPTIONS",
        f"Contact: <sip:cc-failover-watch@{local[0]}:{local[1]};transport={transport}>",
        "Accept: application/sdp",
        "User-Agent: cc-failover-watch",
        "Content-Length: 0",
        "",
        "",
    ]
    return "\r\n".join(lines).encode()


def _sip(probe: Probe, aws: AwsSession | None, timeout: float) -> tuple[bool, str]:
    host, port = _host_port(probe.target)
    deadline = time.monotonic() + timeout
    family = socket.getaddrinfo(host, port)[0][0]
    if probe.transport == "udp":
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((host, port))
            sock.settimeout(timeout)
            sock.send(sip_options(host, port, sock.getsockname()[:2], "udp"))
            return _sip_answer(lambda: sock.recv(65535), sock, deadline, timeout)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(sip_options(host, port, sock.getsockname()[:2], "tcp"))
        return _sip_answer(lambda: sock.recv(65535), sock, deadline, timeout)


def _sip_answer(receive: Callable[[], bytes], sock: socket.socket, deadline: float, timeout: float) -> tuple[bool, str]:
    """Any final or provisional SIP response proves the stack answers (a 4xx/5xx included: the trunk's
    signalling is up); silence until the deadline, or a refusal (ICMP), fails."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False, f"no answer to OPTIONS within {timeout:g}s"
        sock.settimeout(left)
        try:
            data = receive()
        except TimeoutError:
            return False, f"no answer to OPTIONS within {timeout:g}s"
        except ConnectionRefusedError:
            return False, "refused (nothing listens there)"
        if not data:
            return False, "connection closed without an answer"
        first = data.split(b"\r\n", 1)[0].decode(errors="replace")
        if first.startswith("SIP/2.0 "):
            return True, first.removeprefix("SIP/2.0 ")[:80]


def _alarm(probe: Probe, aws: AwsSession | None, timeout: float) -> tuple[bool, str]:
    if aws is None:
        return False, "no AWS session to read the alarm"
    answer = aws.call("cloudwatch", "describe_alarms", policy="none", AlarmNames=[probe.target])
    alarms = answer.get("MetricAlarms", []) + answer.get("CompositeAlarms", [])
    if not alarms:
        return False, f"no CloudWatch alarm named {probe.target!r} in the site's region"
    state = alarms[0].get("StateValue", "?")
    return state != "ALARM", f"alarm {state}"


_PROBES = {"tcp": _tcp, "http": _http, "sip": _sip, "alarm": _alarm}
