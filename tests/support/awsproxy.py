"""An HTTP reverse proxy on 127.0.0.1 in front of the moto server: AWS faults, AWS latency, call counts.

moto answers every call at once and never fails on its own. This proxy makes the embedded
site behave more like AWS, for the chaos tests and the benchmarks:

* **faults** — a seeded fraction of calls is answered, without reaching moto, with AWS's own throttling
  error for the call's protocol (``throttle_rate``): ``Throttling`` (query and REST-XML services:
  autoscaling, sns, route53...), ``RequestLimitExceeded`` (ec2, HTTP 503), ``SlowDown`` (s3, HTTP 503),
  ``ThrottlingException`` (JSON services: secretsmanager, dynamodb, sqs...); and another fraction with
  HTTP 503 ``ServiceUnavailable`` (``error_rate``). The request body is drained first, so the client's
  connection stays usable, exactly as with AWS.
* **latency** — Route 53 ``GetChange`` answers ``PENDING`` until ``insync_after`` seconds after the
  ``ChangeResourceRecordSets`` that created the change (each change gets its own id: moto reuses one);
  Auto Scaling ``DescribeAutoScalingGroups`` shows instances that appeared after a
  ``SetDesiredCapacity`` (or an ``UpdateAutoScalingGroup`` with a desired capacity) as ``Pending``
  until ``inservice_after`` seconds after that call.
* **counts** — calls that reached moto, per ``service.Operation`` (from ``X-Amz-Target``, the ``Action``
  form field, or the REST method and path), successful S3 writes per ``bucket/key`` (``PutObject`` and
  ``CompleteMultipartUpload``) and the faults injected; ``GET /_proxy/stats`` returns them as JSON,
  ``POST /_proxy/reset`` zeroes them.

API (stable: the chaos tests and ``bench/`` use it)::

    proxy = AwsProxy(upstream, seed=0, throttle_rate=0.0, error_rate=0.0, insync_after=0.0,
                     inservice_after=0.0)
    endpoint = proxy.start()      # "http://127.0.0.1:PORT": point AWS_ENDPOINT_URL at it
    proxy.stats()                 # {"seed", "calls": {"route53.GetChange": 3, ...}, "s3_puts": {...},
                                  #  "injected": {"throttle": n, "error": n}, "injected_by_call": {...}}
    proxy.stop()

As a process (what ``embedded.up(..., front=start_process)`` starts in front of moto when a latency or fault
knob is set; run from the repository root, where ``tests`` is importable)::

    python -m tests.support.awsproxy --upstream http://127.0.0.1:5000 --port 5001 \\
        [--seed N] [--throttle-rate 0.3] [--error-rate 0.1] [--insync-after S] [--inservice-after S]

It prints ``awsproxy listening on URL seed=N`` once it accepts connections. Bodies are streamed both
ways, except the small ones it must read (query-protocol forms, and the two responses it rewrites).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import random
import re
import signal
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HOST = "127.0.0.1"
#: the checkout: the proxy process runs there so that ``-m tests.support.awsproxy`` imports
_REPO = Path(__file__).resolve().parents[2]
CHUNK = 256 * 1024
#: request bodies the proxy reads whole to find the operation (query protocol forms)
MAX_FORM_BYTES = 8 * 1024 * 1024
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
                        "upgrade", "proxy-authorization", "proxy-authenticate"})
_CREDENTIAL = re.compile(r"Credential=[^/]+/[^/]+/([^/]+)/([^/]+)/")
_ROUTE53 = [
    ("POST", re.compile(r"^/\d{4}-\d\d-\d\d/hostedzone/[^/]+/rrset/?$"), "ChangeResourceRecordSets"),
    ("GET", re.compile(r"^/\d{4}-\d\d-\d\d/hostedzone/[^/]+/rrset/?$"), "ListResourceRecordSets"),
    ("GET", re.compile(r"^/\d{4}-\d\d-\d\d/change/[^/]+$"), "GetChange"),
    ("GET", re.compile(r"^/\d{4}-\d\d-\d\d/hostedzone/[^/]+$"), "GetHostedZone"),
    ("GET", re.compile(r"^/\d{4}-\d\d-\d\d/hostedzone/?$"), "ListHostedZones"),
    ("POST", re.compile(r"^/\d{4}-\d\d-\d\d/hostedzone/?$"), "CreateHostedZone"),
    ("GET", re.compile(r"^/\d{4}-\d\d-\d\d/healthcheck/?$"), "ListHealthChecks"),
    ("GET", re.compile(r"^/\d{4}-\d\d-\d\d/healthcheck/[^/]+/status$"), "GetHealthCheckStatus"),
    ("GET", re.compile(r"^/\d{4}-\d\d-\d\d/healthcheck/[^/]+$"), "GetHealthCheck"),
]
_CHANGE_ID = re.compile(rb"<Id>/change/([^<]+)</Id>")
_INSYNC = re.compile(rb"<Status>INSYNC</Status>")
_MEMBER = re.compile(rb"<member>((?:(?!<member>).)*?<InstanceId>(i-[^<]+)</InstanceId>(?:(?!<member>).)*?)</member>",
                     re.DOTALL)
_IN_SERVICE = re.compile(rb"<LifecycleState>InService</LifecycleState>")
_ASG_NAME = re.compile(rb"<AutoScalingGroupName>([^<]+)</AutoScalingGroupName>")


@dataclass(frozen=True)
class Call:
    """One request as the proxy understands it."""

    service: str  # from the SigV4 credential scope ("" when unsigned)
    operation: str
    protocol: str  # "json" | "query" | "rest"
    params: dict[str, str]  # form fields (query protocol) else {}
    bucket_key: str = ""  # "bucket/key" for S3 object calls

    @property
    def name(self) -> str:
        return f"{self.service or '?'}.{self.operation}"


# --- understanding requests --------------------------------------------------------------------------


def identify(method: str, path: str, headers, form: dict[str, str] | None) -> Call:
    """The service and operation of a request (the proxy never needs to parse a body but a form)."""
    match = _CREDENTIAL.search(headers.get("Authorization", "") or "")
    service = match.group(2) if match else ""
    target = headers.get("X-Amz-Target")
    if target:
        return Call(service, target.rsplit(".", 1)[-1], "json", {})
    if form is not None and "Action" in form:
        return Call(service, form["Action"], "query", form)
    split = urllib.parse.urlsplit(path)
    if service == "route53":
        return Call(service, _route53_operation(method, split.path), "rest", {})
    if service == "s3":
        operation, bucket_key = _s3_operation(method, split.path, split.query, headers)
        return Call(service, operation, "rest", {}, bucket_key)
    first = split.path.strip("/").split("/", 1)[0]
    return Call(service, f"{method} /{first}", "rest", {})


def _route53_operation(method: str, path: str) -> str:
    for verb, pattern, operation in _ROUTE53:
        if verb == method and pattern.match(path):
            return operation
    return f"{method} {path}"


def _s3_operation(method: str, path: str, query: str, headers) -> tuple[str, str]:
    bucket, _, key = urllib.parse.unquote(path).lstrip("/").partition("/")
    args = urllib.parse.parse_qs(query, keep_blank_values=True)
    if not bucket:
        return "ListBuckets", ""
    if key:
        return _s3_object_operation(method, args, headers), f"{bucket}/{key}"
    if method == "GET":
        if "list-type" in args:
            return "ListObjectsV2", ""
        sub = next(iter(args), "")
        return (f"GetBucket{sub[:1].upper()}{sub[1:]}" if sub else "ListObjects"), ""
    if method == "POST" and "delete" in args:
        return "DeleteObjects", ""
    if method == "PUT":
        sub = next(iter(args), "")
        return (f"PutBucket{sub[:1].upper()}{sub[1:]}" if sub else "CreateBucket"), ""
    return {"HEAD": "HeadBucket", "DELETE": "DeleteBucket"}.get(method, f"{method} bucket"), ""


def _s3_object_operation(method: str, args: dict, headers) -> str:
    if method == "PUT":
        if "uploadId" in args:
            return "UploadPart"
        return "CopyObject" if headers.get("x-amz-copy-source") else "PutObject"
    if method == "POST":
        return "CreateMultipartUpload" if "uploads" in args else "CompleteMultipartUpload"
    if method == "DELETE":
        return "AbortMultipartUpload" if "uploadId" in args else "DeleteObject"
    if method == "GET" and "uploadId" in args:
        return "ListParts"
    return {"HEAD": "HeadObject", "GET": "GetObject"}.get(method, f"{method} object")


# --- AWS-shaped errors -------------------------------------------------------------------------------


def error_response(call: Call, kind: str, method: str) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of AWS's own throttling (``kind="throttle"``) or 503 answer for ``call``."""
    request_id = "proxy-" + format(random.getrandbits(48), "012x")
    code, status = _error_code(call, kind)
    message = "Rate exceeded" if kind == "throttle" else "Service is unavailable. Please try again later."
    if call.protocol == "json":
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": request_id,
                   "x-amzn-ErrorType": code, "x-amzn-query-error": f"{code};Sender"}
    elif call.service == "s3":
        body = (f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message>"
                f"<RequestId>{request_id}</RequestId></Error>").encode()
        headers = {"Content-Type": "application/xml", "x-amz-request-id": request_id}
    elif call.service == "ec2":
        body = (f"<?xml version='1.0' encoding='UTF-8'?><Response><Errors><Error><Code>{code}</Code>"
                f"<Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
                ).encode()
        headers = {"Content-Type": "text/xml"}
    else:
        body = (f"<?xml version='1.0'?><ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
                f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
                ).encode()
        headers = {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}
    if method == "HEAD":  # a HEAD answer has no body: only its status says what happened
        status, body = 503, b""
    return status, headers, body


def _error_code(call: Call, kind: str) -> tuple[str, int]:
    if kind != "throttle":
        return ("ServiceUnavailableException" if call.protocol == "json" else "ServiceUnavailable"), 503
    if call.service == "s3":
        return "SlowDown", 503
    if call.service == "ec2":
        return "RequestLimitExceeded", 503
    if call.protocol == "json":
        return "ThrottlingException", 400
    return "Throttling", 400


# --- the proxy ---------------------------------------------------------------------------------------


class AwsProxy:
    """The proxy in a background thread of this process (see the module docstring)."""

    def __init__(self, upstream: str, *, seed: int = 0, throttle_rate: float = 0.0, error_rate: float = 0.0,
                 insync_after: float = 0.0, inservice_after: float = 0.0, port: int = 0,
                 clock: Callable[[], float] = time.monotonic):
        split = urllib.parse.urlsplit(upstream)
        if split.scheme != "http" or not split.hostname:
            raise ValueError(f"upstream must be an http:// URL, got {upstream!r}")
        if not 0.0 <= throttle_rate + error_rate <= 1.0:
            raise ValueError("throttle_rate + error_rate must be within 0..1")
        self.upstream = (split.hostname, split.port or 80)
        self.seed, self.throttle_rate, self.error_rate = seed, throttle_rate, error_rate
        self.insync_after, self.inservice_after = insync_after, inservice_after
        self.port, self.clock = port, clock
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._s3_puts: Counter[str] = Counter()
        self._injected: Counter[str] = Counter()
        self._injected_by_call: Counter[str] = Counter()
        self._changes: dict[str, float] = {}  # proxy change id -> when created
        self._scaled: dict[str, float] = {}  # ASG name -> when its desired capacity last changed
        self._first_seen: dict[str, float] = {}  # instance id -> when a describe first showed it
        self._change_counter = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.endpoint = ""

    # lifecycle

    def start(self) -> str:
        handler = type("BoundHandler", (_Handler,), {"proxy": self})
        self._server = ThreadingHTTPServer((HOST, self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.endpoint = f"http://{HOST}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="awsproxy", daemon=True)
        self._thread.start()
        return self.endpoint

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> AwsProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # counters

    def stats(self) -> dict:
        with self._lock:
            return {"seed": self.seed, "throttle_rate": self.throttle_rate, "error_rate": self.error_rate,
                    "insync_after": self.insync_after, "inservice_after": self.inservice_after,
                    "calls": dict(self._calls), "s3_puts": dict(self._s3_puts),
                    "injected": dict(self._injected), "injected_by_call": dict(self._injected_by_call)}

    def reset_stats(self) -> None:
        with self._lock:
            for counter in (self._calls, self._s3_puts, self._injected, self._injected_by_call):
                counter.clear()

    # decisions (called by the handler threads)

    def fault_for(self, call: Call) -> str | None:
        """'throttle', 'error' or None, drawn from the seeded generator; management calls never fail."""
        if not call.service or (self.throttle_rate <= 0 and self.error_rate <= 0):
            return None
        with self._lock:
            draw = self._random.random()
            kind = "throttle" if draw < self.throttle_rate else (
                "error" if draw < self.throttle_rate + self.error_rate else None)
            if kind:
                self._injected[kind] += 1
                self._injected_by_call[call.name] += 1
        return kind

    def count(self, call: Call, status: int) -> None:
        with self._lock:
            self._calls[call.name] += 1
            if status < 300 and call.operation in ("PutObject", "CompleteMultipartUpload", "CopyObject"):
                self._s3_puts[call.bucket_key] += 1

    def wants_rewrite(self, call: Call) -> bool:
        if call.service == "route53" and call.operation in ("ChangeResourceRecordSets", "GetChange"):
            return self.insync_after > 0
        if call.operation == "DescribeAutoScalingGroups":
            return self.inservice_after > 0
        return False

    def observe(self, call: Call, status: int) -> None:
        """Remember when seats were asked for (the start of their Pending time)."""
        if status >= 300 or self.inservice_after <= 0:
            return
        scaled = call.operation == "SetDesiredCapacity" or (
            call.operation == "UpdateAutoScalingGroup" and "DesiredCapacity" in call.params)
        if scaled and "AutoScalingGroupName" in call.params:
            with self._lock:
                self._scaled[call.params["AutoScalingGroupName"]] = self.clock()

    def rewrite(self, call: Call, path: str, body: bytes) -> bytes:
        if call.operation == "ChangeResourceRecordSets":
            return self._new_change(body)
        if call.operation == "GetChange":
            change_id = urllib.parse.unquote(path.rstrip("/").rsplit("/", 1)[-1])
            with self._lock:
                created = self._changes.get(change_id)
            if created is not None and self.clock() - created < self.insync_after:
                return _INSYNC.sub(b"<Status>PENDING</Status>", body)
            return body
        return self._pending_instances(body)

    def _new_change(self, body: bytes) -> bytes:
        with self._lock:
            self._change_counter += 1
            change_id = f"CPROXY{self.seed:04d}{self._change_counter:08d}"
            self._changes[change_id] = self.clock()
        body = _CHANGE_ID.sub(f"<Id>/change/{change_id}</Id>".encode(), body, count=1)
        return _INSYNC.sub(b"<Status>PENDING</Status>", body)

    def _pending_instances(self, body: bytes) -> bytes:
        now = self.clock()
        groups = list(_ASG_NAME.finditer(body))

        def group_of(position: int) -> str:
            name = ""
            for match in groups:
                if match.start() > position:
                    break
                name = match.group(1).decode()
            return name

        def replace(match: re.Match) -> bytes:
            instance = match.group(2).decode()
            with self._lock:
                first = self._first_seen.setdefault(instance, now)
                scaled = self._scaled.get(group_of(match.start()))
            pending = scaled is not None and first >= scaled and now - scaled < self.inservice_after
            block = _IN_SERVICE.sub(b"<LifecycleState>Pending</LifecycleState>", match.group(1)) if pending \
                else match.group(1)
            return b"<member>" + block + b"</member>"

        return _MEMBER.sub(replace, body)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    proxy: AwsProxy  # set on the bound subclass
    timeout = 120  # an idle client connection is closed after this

    def log_message(self, format: str, *args: object) -> None:
        return  # quiet: the orchestrator logs its own calls

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_GET

    def _handle(self) -> None:
        if self.path.startswith("/_proxy/"):
            self._control()
            return
        form, body = self._read_form()
        call = identify(self.command, self.path, self.headers, form)
        fault = self.proxy.fault_for(call)
        if fault:
            for _ in body:  # drain the request so the connection stays usable
                pass
            self._reply(*error_response(call, fault, self.command))
            return
        try:
            self._forward(call, body)
        except (OSError, http.client.HTTPException) as exc:
            self._reply(502, {"Content-Type": "text/plain"}, f"awsproxy: upstream failed: {exc}".encode())

    def _read_form(self) -> tuple[dict[str, str] | None, Iterator[bytes]]:
        """The query-protocol form (read whole, it is small) or None, and the body to forward."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = self._read_chunked()
            return self._as_form(data), iter([data])
        length = int(self.headers.get("Content-Length") or 0)
        content_type = (self.headers.get("Content-Type") or "").lower()
        if content_type.startswith("application/x-www-form-urlencoded") and length <= MAX_FORM_BYTES:
            data = self.rfile.read(length)
            return self._as_form(data), iter([data])
        return None, self._stream(length)

    def _as_form(self, data: bytes) -> dict[str, str] | None:
        content_type = (self.headers.get("Content-Type") or "").lower()
        if not content_type.startswith("application/x-www-form-urlencoded"):
            return None
        pairs = urllib.parse.parse_qsl(data.decode("utf-8", "replace"), keep_blank_values=True)
        return dict(pairs)

    def _read_chunked(self) -> bytes:
        out = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(out)
            out += self.rfile.read(size)
            self.rfile.readline()

    def _stream(self, length: int) -> Iterator[bytes]:
        left = length
        while left > 0:
            piece = self.rfile.read(min(CHUNK, left))
            if not piece:
                raise ConnectionError("client closed mid-request")
            left -= len(piece)
            yield piece

    def _forward(self, call: Call, body: Iterator[bytes]) -> None:
        upstream = http.client.HTTPConnection(*self.proxy.upstream, timeout=120)
        try:
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
            for name, value in self.headers.items():
                if name.lower() not in HOP_BY_HOP and not (chunked and name.lower() == "content-length"):
                    upstream.putheader(name, value)
            pieces = list(body) if chunked else None
            if chunked:
                upstream.putheader("Content-Length", str(sum(len(p) for p in pieces)))
            upstream.endheaders()
            for piece in pieces if pieces is not None else body:
                upstream.send(piece)
            answer = upstream.getresponse()
            self._relay(call, answer)
        finally:
            upstream.close()

    def _relay(self, call: Call, answer: http.client.HTTPResponse) -> None:
        self.proxy.count(call, answer.status)
        self.proxy.observe(call, answer.status)
        headers = [(k, v) for k, v in answer.getheaders() if k.lower() not in HOP_BY_HOP]
        length = answer.getheader("Content-Length")
        rewrite = answer.status < 300 and self.proxy.wants_rewrite(call)
        if self.command == "HEAD" or (length is not None and not rewrite):
            self.send_response_only(answer.status, answer.reason)
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                while piece := answer.read(CHUNK):
                    self.wfile.write(piece)
            return
        data = answer.read()
        if rewrite:
            data = self.proxy.rewrite(call, self.path, data)
        kept = {k: v for k, v in headers if k.lower() != "content-length"}
        self._reply(answer.status, kept, data, answer.reason)

    def _reply(self, status: int, headers: dict[str, str], body: bytes, reason: str | None = None) -> None:
        self.send_response_only(status, reason)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _control(self) -> None:
        for _ in self._stream(int(self.headers.get("Content-Length") or 0)):
            pass
        if self.command == "GET" and self.path.startswith("/_proxy/stats"):
            body = json.dumps(self.proxy.stats()).encode()
        elif self.command == "POST" and self.path.startswith("/_proxy/reset"):
            self.proxy.reset_stats()
            body = b"{}"
        else:
            self._reply(404, {"Content-Type": "text/plain"}, b"unknown proxy endpoint")
            return
        self._reply(200, {"Content-Type": "application/json"}, body)


# --- helpers for other processes ---------------------------------------------------------------------


def fetch_stats(endpoint: str, timeout: float = 10.0) -> dict:
    """``GET /_proxy/stats`` of a proxy running in another process."""
    return _control_call(endpoint, "GET", "/_proxy/stats", timeout)


def reset_stats(endpoint: str, timeout: float = 10.0) -> None:
    _control_call(endpoint, "POST", "/_proxy/reset", timeout)


def _control_call(endpoint: str, method: str, path: str, timeout: float) -> dict:
    split = urllib.parse.urlsplit(endpoint)
    if split.scheme != "http" or not split.hostname:
        raise ValueError(f"not an http endpoint: {endpoint!r}")
    conn = http.client.HTTPConnection(split.hostname, split.port or 80, timeout=timeout)
    try:
        conn.request(method, path, body=b"" if method == "POST" else None)
        answer = conn.getresponse()
        data = answer.read()
        if answer.status != 200:
            raise ConnectionError(f"awsproxy {endpoint}{path} answered {answer.status}")
        return json.loads(data)
    finally:
        conn.close()


def start_process(upstream: str, options, *, log_file=None, timeout: float = 30.0, on_spawn=None) -> dict:
    """Start the proxy as its own process (it outlives the caller) with the knobs of a
    ``SandboxOptions``; returns ``{"endpoint", "pid", "port", "upstream", "seed"}`` once it answers."""
    import subprocess

    from orchestrator.sandbox.motoserver import free_port, stop

    port = free_port()
    command = [sys.executable, "-m", "tests.support.awsproxy", "--upstream", upstream, "--port", str(port),
               "--seed", str(options.fault_seed), "--throttle-rate", str(options.throttle_rate),
               "--error-rate", str(options.error_rate), "--insync-after", str(options.insync_seconds),
               "--inservice-after", str(options.inservice_seconds)]
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
    try:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True, cwd=_REPO)
    finally:
        if log_file:
            out.close()
    endpoint = f"http://{HOST}:{port}"
    if on_spawn is not None:  # recorded before it is waited on (sandbox up: state.json)
        try:
            on_spawn({"endpoint": endpoint, "pid": process.pid, "port": port, "upstream": upstream,
                      "seed": options.fault_seed})
        except BaseException:
            stop(process.pid)
            raise
    deadline = time.monotonic() + timeout
    while True:
        try:
            fetch_stats(endpoint, timeout=1.0)
            break
        except (OSError, ValueError):
            if process.poll() is not None or time.monotonic() > deadline:
                stop(process.pid)
                raise RuntimeError(f"awsproxy did not start on {endpoint} (exit {process.returncode})") from None
            time.sleep(0.05)  # waiting for a real child process to listen
    return {"endpoint": endpoint, "pid": process.pid, "port": port, "upstream": upstream,
            "seed": options.fault_seed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.awsproxy", description=__doc__.split("\n")[0])
    parser.add_argument("--upstream", required=True, help="the moto server's URL")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--throttle-rate", type=float, default=0.0)
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--insync-after", type=float, default=0.0, help="seconds a Route 53 change stays PENDING")
    parser.add_argument("--inservice-after", type=float, default=0.0, help="seconds new seats stay Pending")
    args = parser.parse_args(argv)
    proxy = AwsProxy(args.upstream, seed=args.seed, throttle_rate=args.throttle_rate, error_rate=args.error_rate,
                     insync_after=args.insync_after, inservice_after=args.inservice_after, port=args.port)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    endpoint = proxy.start()
    print(f"awsproxy listening on {endpoint} seed={args.seed}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        stopped.wait()
    proxy.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
