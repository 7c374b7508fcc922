"""The embedded site's primary (contract 1.2, detection): what ``orchestrator watch`` probes, on 127.0.0.1.

One small process (``python -m orchestrator.sandbox.primary --role primary --sbc PORT --agents PORT --sip PORT``)
serves the primary's endpoints: the SBC on TCP (accepts, then closes), the agent desktop on HTTP (``200``) and a
SIP responder on UDP that answers ``OPTIONS`` with an RFC 3261 ``200 OK`` (Via, From, To with a tag, Call-ID,
CSeq echoed; ``Content-Length: 0``), as an SBC answers a carrier's or an SBC's keep-alive. Any endpoint may be
left out (``serve(role, Ports(sip=...))``), so the same responder can stand for the secondary site's SBC.

``sandbox up`` picks the ports once and keeps them in state.json (``state["primary"]``), so the site file's
``primary.probes`` stay valid: ``orchestrator sandbox primary down`` stops the process (TCP and HTTP refused,
SIP silent), ``up`` starts it again on the same ports (``SO_REUSEADDR``).
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
#: how long ``start`` waits for a new responder to answer every endpoint
START_TIMEOUT = 15.0


@dataclass(frozen=True)
class Ports:
    """Where the responder listens on 127.0.0.1; None: that endpoint is not served."""

    sbc: int | None = None
    agents: int | None = None
    sip: int | None = None

    def to_dict(self) -> dict[str, int | None]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ports:
        return cls(**{key: None if data.get(key) is None else int(data[key]) for key in ("sbc", "agents", "sip")})

    @classmethod
    def pick(cls) -> Ports:
        """Free ports chosen by the OS now (TCP for the SBC and the agent desktop, UDP for SIP)."""
        with contextlib.ExitStack() as held:  # all three held open at once: three different ports
            socks = [held.enter_context(socket.socket(socket.AF_INET, kind))
                     for kind in (socket.SOCK_STREAM, socket.SOCK_STREAM, socket.SOCK_DGRAM)]
            for sock in socks:
                sock.bind((HOST, 0))
            sbc, agents, sip = (int(sock.getsockname()[1]) for sock in socks)
        return cls(sbc=sbc, agents=agents, sip=sip)


def probes(ports: Ports) -> list[dict[str, Any]]:
    """The site file's ``primary.probes`` for a responder on ``ports`` (contract 1.2)."""
    out: list[dict[str, Any]] = []
    if ports.sbc is not None:
        out.append({"name": "sbc", "tcp": f"{HOST}:{ports.sbc}"})
    if ports.agents is not None:
        out.append({"name": "agents", "http": f"http://{HOST}:{ports.agents}/", "expect_status": 200})
    if ports.sip is not None:
        out.append({"name": "trunk", "sip": f"{HOST}:{ports.sip}", "transport": "udp"})
    return out


# --------------------------------------------------------------------------- SIP (RFC 3261)

_COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "l": "content-length"}
_ALLOW = "OPTIONS, ACK"


def _headers(message: str) -> tuple[str, list[tuple[str, str]]]:
    """The request line and the headers (name lower-cased, compact forms expanded), in order."""
    head = message.split("\r\n\r\n", 1)[0]
    lines = head.split("\r\n")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # a folded line continues the header before it
            name, value = headers[-1]
            headers[-1] = (name, value + " " + line.strip())
        elif ":" in line:
            name, value = line.split(":", 1)
            name = name.strip().lower()
            headers.append((_COMPACT.get(name, name), value.strip()))
    return lines[0], headers


def sip_response(
    request: bytes, source: tuple[str, int], role: str = "primary"
) -> tuple[bytes, tuple[str, int]] | None:
    """The answer to one SIP request received from ``source`` over UDP, and where to send it: ``200 OK`` to
    ``OPTIONS``, ``501 Not Implemented`` to any other method, nothing to an ``ACK`` or a response."""
    try:
        first, headers = _headers(request.decode("utf-8"))
    except UnicodeDecodeError:
        return None
    parts = first.split(" ")
    if len(parts) != 3 or parts[2] != "SIP/2.0" or parts[0] == "ACK":
        return None
    vias = [value for name, value in headers if name == "via"]
    needed = {name: value for name, value in headers if name in ("from", "to", "call-id", "cseq")}
    if not vias or len(needed) < 4:
        return None
    top, destination = _received(vias[0], source)
    status = "200 OK" if parts[0] == "OPTIONS" else "501 Not Implemented"
    to = needed["to"] if ";tag=" in needed["to"] else f"{needed['to']};tag={secrets.token_hex(4)}"
    lines = [f"SIP/2.0 {status}", *(f"Via: {v}" for v in [top, *vias[1:]]), f"From: {needed['from']}",
             f"To: {to}", f"Call-ID: {needed['call-id']}", f"CSeq: {needed['cseq']}", f"Allow: {_ALLOW}",
             "Accept: application/sdp", f"Server: cc-dr-sandbox-{role}", "Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode(), destination


def _received(via: str, source: tuple[str, int]) -> tuple[str, tuple[str, int]]:
    """The top Via as the response carries it (``received`` always set, ``rport`` filled when asked, RFC 3581)
    and where the response goes (RFC 3261 §18.2.2: the source with ``rport``, else sent-by's port)."""
    sent_by = via.split(";", 1)[0].split()[-1]
    match = re.match(r"^\[?([^\]]*?)\]?(?::(\d+))?$", sent_by)
    port = int(match.group(2)) if match and match.group(2) else 5060
    params = [p for p in via.split(";")[1:] if p.split("=", 1)[0].strip().lower() not in ("received",)]
    if any(p.strip().lower() == "rport" or p.strip().lower().startswith("rport=") for p in params):
        params = [f"rport={source[1]}" if p.strip().lower().startswith("rport") else p for p in params]
        port = source[1]
    top = ";".join([via.split(";", 1)[0], *params, f"received={source[0]}"])
    return top, (source[0], port)


# --------------------------------------------------------------------------- the endpoints


def _serve_sip(sock: socket.socket, role: str) -> None:
    while True:
        data, source = sock.recvfrom(65535)
        answer = sip_response(data, source[:2], role)
        if answer is not None:
            with contextlib.suppress(OSError):
                sock.sendto(answer[0], answer[1])


def _serve_tcp(sock: socket.socket) -> None:
    """The SBC's signalling port: accepts a connection (what a TCP probe checks), then closes it."""
    while True:
        conn, _ = sock.accept()
        conn.close()


class _Desktop(http.server.BaseHTTPRequestHandler):
    """The agent desktop: 200 with a one-line page."""

    role = "primary"

    def do_GET(self) -> None:
        body = f"agent desktop ({self.role} site, cc-dr-sandbox)\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def _bind(kind: int, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, kind)
    if kind == socket.SOCK_STREAM:  # the same port again right after `primary down` (TIME_WAIT)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    if kind == socket.SOCK_STREAM:
        sock.listen(64)
    return sock


def serve(role: str, ports: Ports, stop: threading.Event | None = None) -> None:
    """Serve ``ports`` until ``stop`` is set (or forever): one thread per endpoint, every socket bound before
    the first answer, so a probe never sees half a site."""
    stop = stop or threading.Event()
    workers: list[Callable[[], None]] = []
    if ports.sbc is not None:
        sbc = _bind(socket.SOCK_STREAM, ports.sbc)
        workers.append(lambda: _serve_tcp(sbc))
    if ports.sip is not None:
        sip = _bind(socket.SOCK_DGRAM, ports.sip)
        workers.append(lambda: _serve_sip(sip, role))
    if ports.agents is not None:
        handler = type("Desktop", (_Desktop,), {"role": role})
        desktop = http.server.ThreadingHTTPServer((HOST, ports.agents), handler)
        desktop.daemon_threads = True
        workers.append(desktop.serve_forever)
    for work in workers:
        threading.Thread(target=work, daemon=True, name=f"{role}-endpoint").start()
    stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m orchestrator.sandbox.primary")
    parser.add_argument("--role", default="primary")
    for name in ("sbc", "agents", "sip"):
        parser.add_argument(f"--{name}", type=int, default=None)
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    serve(args.role, Ports(args.sbc, args.agents, args.sip), stop)


# --------------------------------------------------------------------------- the process, for `sandbox`


def start(ports: Ports, *, role: str = "primary", log_file: Path | None = None,
          on_spawn: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Start the responder in its own session (it outlives ``sandbox up``); ``on_spawn`` records it the moment
    it exists; returns ``{"pid", "role", "ports", "log_file"}`` once every endpoint answers."""
    command = [sys.executable, "-m", "orchestrator.sandbox.primary", "--role", role]
    for name, port in ports.to_dict().items():
        if port is not None:
            command += [f"--{name}", str(port)]
    out = log_file.open("ab") if log_file else subprocess.DEVNULL
    try:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    finally:
        if not isinstance(out, int):
            out.close()
    child = {"pid": process.pid, "role": role, "ports": ports.to_dict(),
             "log_file": str(log_file) if log_file else None}
    try:
        if on_spawn is not None:
            on_spawn(child)
        _wait_answering(ports, process)
    except BaseException:
        stop(process.pid)
        raise
    return child


def _wait_answering(ports: Ports, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the sandbox primary exited with status {process.returncode} (port taken?)")
        if all(ok for _, ok, _ in answers(ports, timeout=0.5)):
            return
        time.sleep(0.05)  # a real child process starting: no clock to inject here
    raise RuntimeError(f"the sandbox primary did not answer within {START_TIMEOUT:g}s")


def answers(ports: Ports, timeout: float = 2.0) -> list[tuple[str, bool, str]]:
    """Each endpoint probed as ``orchestrator watch`` probes it: ``(name, ok, detail)``."""
    from orchestrator.adapters.probes import run_probe
    from orchestrator.site import Probe

    results = [run_probe(Probe.model_validate(p), None, timeout) for p in probes(ports)]
    return [(r.name, r.ok, r.detail) for r in results]


def ours(child: dict[str, Any]) -> bool:
    """The recorded pid is still this responder (its command line names its module and SBC or SIP port)."""
    from orchestrator.sandbox.motoserver import cmdline_has

    ports = Ports.from_dict(child.get("ports") or {})
    port = ports.sbc if ports.sbc is not None else ports.sip
    return child.get("pid") is not None and cmdline_has(int(child["pid"]), "orchestrator.sandbox.primary", str(port))


def stop(pid: int) -> bool:
    """SIGTERM (then SIGKILL) the responder; False when it was not running."""
    from orchestrator.sandbox.motoserver import stop as terminate

    return terminate(pid, timeout=5.0)


if __name__ == "__main__":
    main()
    os._exit(0)  # the endpoint threads block in accept/recv: leave without joining them
