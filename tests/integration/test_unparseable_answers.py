"""An endpoint whose answer is not AWS's format (a real HTTP server on 127.0.0.1 answering garbage) is
reported as what it is: its HTTP status and an excerpt of its error body, retried only for gateway statuses."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from orchestrator.adapters.aws import AwsRetryableError, AwsSession
from orchestrator.clock import FakeClock
from orchestrator.errors import FatalError
from orchestrator.retry import RetryPolicy

pytestmark = pytest.mark.integration

CRASH_PAGE = b"<!doctype html><title>500</title><p>Traceback: StopIteration in get_available_subnet_ip</p>"


class GarbageServer:
    """Answers every request with the status and body set on it, and counts the requests."""

    def __init__(self) -> None:
        self.status, self.body, self.requests = 500, CRASH_PAGE, 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.requests += 1
                self.send_response(server.status)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            do_GET = do_POST = _answer

            def log_message(self, *args) -> None:  # keep the test output clean
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.http.server_address[1]}"


@pytest.fixture
def garbage(monkeypatch) -> Iterator[GarbageServer]:
    """A garbage-answering HTTP server, with boto3 in this process pointed at it."""
    server = GarbageServer()
    thread = threading.Thread(target=server.http.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    try:
        yield server
    finally:
        server.http.shutdown()
        server.http.server_close()


def _session() -> AwsSession:
    return AwsSession("us-west-2", clock=FakeClock(), policy=RetryPolicy(attempts=3, backoff=1.0, max_delay=1.0))


@pytest.mark.parametrize(
    ("service", "method", "kwargs"),
    [
        ("autoscaling", "set_desired_capacity", {"AutoScalingGroupName": "seats", "DesiredCapacity": 40}),
        ("secretsmanager", "get_secret_value", {"SecretId": "cc-dr/appliance-key"}),
        ("route53", "get_change", {"Id": "C123"}),
    ],
    ids=["query", "json", "rest-xml"],
)
def test_a_5xx_page_is_reported_with_status_and_body_not_guessed(garbage, service, method, kwargs):
    """An HTML 500 (moto out of subnet addresses) names the status, the endpoint and the page; one attempt."""
    with pytest.raises(FatalError) as caught:
        _session().call(service, method, **kwargs)
    message = str(caught.value)
    assert f"HTTP 500 from the endpoint {garbage.endpoint}" in message
    assert "StopIteration in get_available_subnet_ip" in message
    assert "unimplemented" not in message
    assert garbage.requests == 1


def test_a_gateway_page_is_retried_then_reported(garbage):
    """An unparseable 503 (a gateway in the way) is transient: retried, then reported with its status."""
    garbage.status, garbage.body = 503, b"<html><body>upstream connect error</body></html>"
    with pytest.raises(AwsRetryableError, match=r"HTTP 503 from the endpoint .*upstream connect error"):
        _session().call("autoscaling", "set_desired_capacity", AutoScalingGroupName="seats", DesiredCapacity=4)
    assert garbage.requests == 3


def test_an_unparseable_success_is_reported_without_its_body(garbage):
    """A 200 whose body is not AWS's format fails at once, and its body (it may hold data) is not echoed."""
    garbage.status, garbage.body = 200, b"<DescribeAutoScalingGroupsResponse><the-data-of-someone"
    with pytest.raises(FatalError) as caught:
        _session().call("autoscaling", "describe_auto_scaling_groups")
    assert "HTTP 200 from the endpoint" in str(caught.value)
    assert "the-data-of-someone" not in str(caught.value)
    assert garbage.requests == 1
