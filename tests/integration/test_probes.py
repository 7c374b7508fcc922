"""Each probe kind of `primary.probes` against a real local server the test starts and stops (contract 1.2):
TCP (a listening socket), HTTP (Python's http.server), SIP OPTIONS over UDP and TCP (SIPp, Debian's
sip-tester, answering as an SBC or a carrier's trunk does), a CloudWatch alarm (moto server). A stopped server
fails; a hung one (accepts, never answers) fails within the 5 s bound."""

from __future__ import annotations

import http.server
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from orchestrator.adapters.aws import AwsSession
from orchestrator.adapters.probes import PROBE_TIMEOUT, run_probe
from orchestrator.site import Probe
from tests.helpers import REPO

pytestmark = pytest.mark.integration

SCENARIO = REPO / "tests" / "data" / "sip" / "uas_options.xml"


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def sipp(transport: str) -> Iterator[int]:
    """SIPp as a user agent server answering OPTIONS with 200 OK on 127.0.0.1 (stopped after)."""
    if shutil.which("sipp") is None:
        pytest.fail("sipp (Debian sip-tester) is not installed: make system-deps installs it")
    port = free_port(socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM)
    mode = "u1" if transport == "udp" else "t1"
    process = subprocess.Popen(["sipp", "-sf", str(SCENARIO), "-i", "127.0.0.1", "-p", str(port), "-t", mode,
                                "-m", "1000"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        _wait_listening(port, transport, process)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _wait_listening(port: int, transport: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert process.poll() is None, "sipp exited"
        if transport == "tcp":
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
                continue
        out = subprocess.run(["ss", "-lun"], capture_output=True, text=True).stdout
        if f"127.0.0.1:{port} " in out:
            return
        time.sleep(0.05)
    raise AssertionError(f"sipp did not listen on {transport} port {port}")


@contextmanager
def http_server(status: int) -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def hung_listener(kind: int = socket.SOCK_STREAM) -> Iterator[int]:
    """Accepts connections (or takes datagrams) and never answers."""
    sock = socket.socket(socket.AF_INET, kind)
    sock.bind(("127.0.0.1", 0))
    if kind == socket.SOCK_STREAM:
        sock.listen(16)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def probe(**spec) -> Probe:
    return Probe(name="p", **spec)


def test_tcp_probe_passes_on_a_listener_and_fails_once_it_is_stopped():
    """The SBC accepts connections: ok; the same port with nothing listening: refused."""
    with hung_listener() as port:
        assert run_probe(probe(tcp=f"127.0.0.1:{port}"), None).ok
    stopped = run_probe(probe(tcp=f"127.0.0.1:{port}"), None)
    assert not stopped.ok and "refused" in stopped.detail


def test_http_probe_checks_the_status_and_a_hung_server_fails_within_the_bound():
    """200 where 200 is expected: ok; 503: fails naming both; a server that accepts and never answers fails
    within the 5 s bound; a stopped one is refused."""
    with http_server(200) as port:
        assert run_probe(probe(http=f"http://127.0.0.1:{port}/health"), None).ok
    with http_server(503) as port:
        wrong = run_probe(probe(http=f"http://127.0.0.1:{port}/health"), None)
        assert not wrong.ok and "503" in wrong.detail and "200" in wrong.detail
        assert run_probe(probe(http=f"http://127.0.0.1:{port}/", expect_status=503), None).ok
    with hung_listener() as port:
        hung = run_probe(probe(http=f"http://127.0.0.1:{port}/"), None)
    assert not hung.ok and hung.seconds <= PROBE_TIMEOUT + 1, hung
    assert not run_probe(probe(http=f"http://127.0.0.1:{port}/"), None).ok


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sip_options_probe_against_sipp_and_silence_fails_within_the_bound(transport):
    """SIPp answers OPTIONS with 200 OK: ok ("200 OK"); once stopped, no answer (UDP) or refused (TCP); a
    peer that takes the request and never answers fails within the 5 s bound."""
    with sipp(transport) as port:
        answered = run_probe(probe(sip=f"127.0.0.1:{port}", transport=transport), None)
        assert answered.ok and answered.detail.startswith("200"), answered
    stopped = run_probe(probe(sip=f"127.0.0.1:{port}", transport=transport), None)
    assert not stopped.ok and stopped.seconds <= PROBE_TIMEOUT + 1
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    with hung_listener(kind) as port:
        hung = run_probe(probe(sip=f"127.0.0.1:{port}", transport=transport), None)
    assert not hung.ok and "no answer" in hung.detail and hung.seconds <= PROBE_TIMEOUT + 1, hung


def test_alarm_probe_fails_in_state_alarm_and_for_an_unknown_alarm(aws_env):
    """A CloudWatch alarm (moto server) OK or INSUFFICIENT_DATA: ok; set to ALARM: fails; no such alarm:
    fails saying so."""
    aws = AwsSession(region="us-west-2")
    cloudwatch = aws.client("cloudwatch")
    cloudwatch.put_metric_alarm(AlarmName="calls-abandoned", MetricName="CallsAbandoned", Namespace="CC",
                                Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=10,
                                ComparisonOperator="GreaterThanThreshold")
    assert run_probe(probe(alarm="calls-abandoned"), aws).ok
    cloudwatch.set_alarm_state(AlarmName="calls-abandoned", StateValue="ALARM", StateReason="test")
    alarmed = run_probe(probe(alarm="calls-abandoned"), aws)
    assert not alarmed.ok and alarmed.detail == "alarm ALARM"
    missing = run_probe(probe(alarm="no-such-alarm"), aws)
    assert not missing.ok and "no CloudWatch alarm" in missing.detail
