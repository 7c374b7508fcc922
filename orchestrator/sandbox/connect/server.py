"""The Connect double's HTTP server: in-process (:class:`ConnectDouble`, for tests) or as its own process
(:func:`start`, for ``orchestrator sandbox up``; ``python -m orchestrator.sandbox.connect --seed FILE``).

Besides the Connect operations it answers a small control endpoint under ``/_double/`` (JSON):

- ``GET /_double/health``; ``GET /_double/state`` (distribution and overrides per Region);
- ``GET /_double/requests``: every request the double accepted (operation, Region, parameters), for the
  contract test; ``GET /_double/calls``: how many calls of each operation succeeded;
- ``POST /_double/faults`` ``{"operation": NAME, "throttle": N}`` (the next N calls answer
  ``ThrottlingException``) and/or ``{"operation": NAME, "latency_seconds": S}``;
- ``POST /_double/agents`` ``{"region": R, "available": N[, "after_updates": K]}`` (K: once K more
  UpdateTrafficDistribution calls succeeded); ``POST /_double/reset`` (back to the seed);
- ``POST /_double/queues`` ``{"region": R, "samples": [{"contacts_in_queue": N, "oldest_contact_age_seconds": S,
  "agents_on_contact": N, "agents_available": N}, ...][, "queue": ID][, "after_updates": K]}``: a script the
  queue plays, one sample per GetCurrentMetricData read of its load (``queues``); ``GET /_double/queues``: each queue's
  metrics now.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from orchestrator.sandbox.connect import protocol
from orchestrator.sandbox.connect.world import ConnectError, Seed, World

HOST = "127.0.0.1"


def _snake(operation: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


@dataclass
class Faults:
    """Injected faults: throttled calls left and latency, per operation."""

    throttle: Counter[str] = field(default_factory=Counter)
    latency: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_throttle(self, operation: str) -> bool:
        with self.lock:
            if self.throttle[operation] > 0:
                self.throttle[operation] -= 1
                return True
            return False


class Service:
    """The double behind the HTTP handler: state, faults, and what it accepted."""

    def __init__(self, seed: Seed):
        self.seed = seed
        self.world = World(seed)
        self.faults = Faults()
        self.accepted: list[dict[str, Any]] = []
        self.calls: Counter[str] = Counter()
        #: defects of the double itself (an answer the model does not allow...): the tests require none
        self.defects: list[str] = []
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.world = World(self.seed)
            self.faults = Faults()
            self.accepted.clear()
            self.calls.clear()
            self.defects.clear()

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any], bytes]:
        operation = None
        try:
            call = protocol.parse(method, target, headers, body)
            operation = call.operation
            with self._lock:
                self.accepted.append({"operation": call.operation, "region": call.region, "params": call.params,
                                      "method": method, "path": target})
            time.sleep(self.faults.latency.get(operation, 0.0))  # the double's own network latency
            if self.faults.take_throttle(operation):
                raise ConnectError("ThrottlingException", "Rate exceeded")
            result = getattr(self.world, _snake(operation))(call.region, call.params)
            with self._lock:
                self.calls[operation] += 1
            return protocol.response(operation, result)
        except ConnectError as failure:
            return protocol.error(operation, failure)
        except protocol.ProtocolError as failure:
            return protocol.error(operation, ConnectError("InvalidRequestException", str(failure)))
        except Exception as exc:  # a defect of the double (e.g. an answer outside the model): loud, kept for tests
            with self._lock:
                self.defects.append(f"{operation or method + ' ' + target}: {type(exc).__name__}: {exc}")
            return protocol.error(None, ConnectError("InternalServiceException", f"Connect double defect: {exc}"))

    def control(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        data = json.loads(body) if body.strip() else {}
        if method == "GET" and path == "/_double/health":
            return 200, {"ok": True}
        if method == "GET" and path == "/_double/state":
            return 200, self.world.snapshot()
        if method == "GET" and path == "/_double/requests":
            with self._lock:
                return 200, list(self.accepted)
        if method == "GET" and path == "/_double/calls":
            with self._lock:
                return 200, dict(self.calls)
        if method == "GET" and path == "/_double/contacts":
            return 200, [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in c.items()}
                         | _stamps(c) for c in self.world.contacts()]
        if method == "GET" and path == "/_double/defects":
            with self._lock:
                return 200, list(self.defects)
        if method == "POST" and path == "/_double/faults":
            with self.faults.lock:
                if "throttle" in data:
                    self.faults.throttle[data["operation"]] += int(data["throttle"])
                if "latency_seconds" in data:
                    self.faults.latency[data["operation"]] = float(data["latency_seconds"])
            return 200, {"ok": True}
        if method == "POST" and path == "/_double/agents":
            self.world.set_agents(data["region"], int(data["available"]), int(data.get("after_updates", 0)))
            return 200, {"ok": True}
        if method == "POST" and path == "/_double/queues":
            try:
                self.world.script_queue(data["region"], list(data["samples"]), data.get("queue"),
                                        int(data.get("after_updates", 0)))
            except (KeyError, ValueError) as exc:
                return 400, {"error": str(exc)}
            return 200, {"ok": True}
        if method == "GET" and path == "/_double/queues":
            return 200, self.world.queue_state()
        if method == "POST" and path == "/_double/reset":
            self.reset()
            return 200, {"ok": True}
        return 404, {"error": f"no control endpoint {method} {path}"}


def _stamps(contact: dict[str, Any]) -> dict[str, Any]:
    """The nested timestamps of a contact as ISO text (the control endpoint answers JSON)."""
    out: dict[str, Any] = {}
    for key in ("QueueInfo", "AgentInfo"):
        if key in contact:
            out[key] = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in contact[key].items()}
    return out


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/_double/"):
            status, data = self.server.service.control(self.command, self.path.split("?", 1)[0], body)
            self._send(status, {"Content-Type": "application/json"}, json.dumps(data, default=str).encode())
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        self._send(*self.server.service.handle(self.command, self.path, headers, body))

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", "00000000-0000-4000-8000-000000000000")
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the tests and the sandbox read state instead
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    service: Service


class ConnectDouble:
    """The double in this process on 127.0.0.1 and a free port (``port=0``); a context manager."""

    def __init__(self, seed: Seed | None = None, port: int = 0):
        self.service = Service(seed or Seed.default())
        self._server = _Server((HOST, port), _Handler)
        self._server.service = self.service
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="connect-double", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}"

    @property
    def world(self) -> World:
        return self.service.world

    def start(self) -> ConnectDouble:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ConnectDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class DoubleControl:
    """The control endpoint of a running double, over HTTP (the double may be another process)."""

    def __init__(self, endpoint: str):
        if not endpoint.startswith("http://"):
            raise ValueError(f"not an http endpoint: {endpoint!r}")
        self.endpoint = endpoint.rstrip("/")

    def _call(self, method: str, path: str, data: dict[str, Any] | None = None, timeout: float = 5.0) -> Any:
        body = json.dumps(data).encode() if data is not None else None
        request = urllib.request.Request(self.endpoint + path, data=body, method=method)  # noqa: S310
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            return json.loads(answer.read())

    def healthy(self) -> bool:
        with contextlib.suppress(OSError, ValueError):
            return bool(self._call("GET", "/_double/health", timeout=1.0).get("ok"))
        return False

    def state(self) -> dict[str, Any]:
        return dict(self._call("GET", "/_double/state"))

    def requests(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/_double/requests"))

    def calls(self) -> dict[str, int]:
        return dict(self._call("GET", "/_double/calls"))

    def defects(self) -> list[str]:
        return list(self._call("GET", "/_double/defects"))

    def throttle(self, operation: str, count: int) -> None:
        self._call("POST", "/_double/faults", {"operation": operation, "throttle": count})

    def latency(self, operation: str, seconds: float) -> None:
        self._call("POST", "/_double/faults", {"operation": operation, "latency_seconds": seconds})

    def contacts(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/_double/contacts"))

    def set_agents(self, region: str, available: int, after_updates: int = 0) -> None:
        self._call("POST", "/_double/agents", {"region": region, "available": available,
                                               "after_updates": after_updates})

    def script_queue(self, region: str, samples: list[dict[str, Any]], *, queue: str | None = None,
                     after_updates: int = 0) -> None:
        """The queue (the first by default) plays ``samples``, one per metric read, the last one staying."""
        self._call("POST", "/_double/queues", {"region": region, "samples": samples, "queue": queue,
                                               "after_updates": after_updates})

    def queues(self) -> dict[str, dict[str, dict[str, float]]]:
        return dict(self._call("GET", "/_double/queues"))

    def reset(self) -> None:
        self._call("POST", "/_double/reset", {})


def spawn(seed: Seed, seed_file: Path, port: int, *, log_file: Path | None = None) -> subprocess.Popen[bytes]:
    """Start the double as its own process (it outlives the caller, like the sandbox's moto server); it answers
    once :func:`wait_healthy` returns, so a caller can start other things meanwhile."""
    seed_file.write_text(json.dumps(seed.to_dict(), indent=2) + "\n")
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "orchestrator.sandbox.connect", "--seed", str(seed_file), "--port", str(port)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT if log_file else subprocess.DEVNULL,
            start_new_session=True)
    finally:
        if not isinstance(out, int):
            out.close()


def wait_healthy(process: subprocess.Popen[bytes], port: int, timeout: float = 15.0) -> None:
    """Until the spawned double answers; RuntimeError (the process killed) if it exits or the time is up."""
    control = DoubleControl(f"http://{HOST}:{port}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # a real child process: no clock to inject
        if process.poll() is not None:
            raise RuntimeError(f"the Connect double exited with status {process.returncode} before answering")
        if control.healthy():
            return
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"the Connect double did not answer within {timeout:g}s")


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m orchestrator.sandbox.connect")
    parser.add_argument("--seed", required=True, help="the seed JSON file (Seed fields)")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    seed = Seed.from_dict(json.loads(Path(args.seed).read_text()))
    server = _Server((HOST, args.port), _Handler)
    server.service = Service(seed)
    protocol.routes()  # load the model before answering the first health check
    server.serve_forever()
