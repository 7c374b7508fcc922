"""Error translation at the boto3 edge, client configuration and fault-injection hooks."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError

from orchestrator.adapters.aws import AwsSession, client_config, is_not_found, translate_boto_error
from orchestrator.errors import FatalError, RetryableError


def client_error(code: str, status: int = 400, message: str = "boom", op: str = "DoThing") -> ClientError:
    response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, op)


@pytest.mark.parametrize(
    "code",
    [
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "PriorRequestNotComplete",
    ],
)
def test_throttling_codes_are_retryable(code):
    """Every throttling code the brief lists becomes a RetryableError."""
    assert isinstance(translate_boto_error(client_error(code), service="route53"), RetryableError)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retryable(status):
    """A 5xx answer with an AWS error code is transient."""
    assert isinstance(translate_boto_error(client_error("InternalError", status)), RetryableError)
    assert isinstance(translate_boto_error(client_error("SomethingBroke", status)), RetryableError)


@pytest.mark.parametrize(
    "code,status",
    [
        ("AccessDenied", 403),
        ("AccessDeniedException", 400),
        ("ValidationError", 400),
        ("InvalidInput", 400),
        ("NoSuchHostedZone", 404),
        ("ResourceNotFoundException", 400),
        ("InvalidVpnConnectionID.NotFound", 400),
    ],
)
def test_client_faults_are_fatal(code, status):
    """Access denied, validation and not-found answers are never retried."""
    assert isinstance(translate_boto_error(client_error(code, status)), FatalError)


def test_unparseable_500_from_moto_is_fatal():
    """A bare '500' code (moto server's HTML answer to an unimplemented call) is not retried."""
    assert isinstance(translate_boto_error(client_error("500", 500, "Internal Server Error")), FatalError)


def test_response_parser_error_and_not_implemented_are_fatal():
    """moto's unimplemented calls (server: ResponseParserError; in-process: NotImplementedError) are fatal."""
    parser = ResponseParserError("Unable to parse response (syntax error), invalid XML received: <html>")
    assert isinstance(
        translate_boto_error(parser, service="ec2", operation="create_vpn_connection_route"), FatalError
    )
    assert isinstance(translate_boto_error(NotImplementedError("nope")), FatalError)


@pytest.mark.parametrize(
    "exc",
    [
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
        ConnectTimeoutError(endpoint_url="http://127.0.0.1:1"),
        ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
    ],
)
def test_connection_errors_and_timeouts_are_retryable(exc):
    """Connection failures and timeouts are transient."""
    assert isinstance(translate_boto_error(exc), RetryableError)


def test_local_botocore_errors_are_fatal():
    """No credentials or a bad parameter cannot be fixed by retrying."""
    assert isinstance(translate_boto_error(NoCredentialsError()), FatalError)
    assert isinstance(translate_boto_error(ParamValidationError(report="bad")), FatalError)


def test_message_names_service_operation_and_code():
    """The translated message says which service, operation and error code failed."""
    error = translate_boto_error(
        client_error("AccessDenied", 403, "not allowed", op="GetSecretValue"),
        service="secretsmanager",
        operation="get_secret_value",
    )
    assert str(error).startswith("secretsmanager.get_secret_value: AccessDenied: not allowed")
    assert error.service == "secretsmanager"
    assert (error.operation, error.code) == ("get_secret_value", "AccessDenied")


def test_long_messages_are_shortened():
    """A huge error body (an HTML page) never floods the log."""
    error = translate_boto_error(client_error("ValidationError", 400, "x" * 5000))
    assert len(str(error)) < 400


def test_is_not_found():
    """Not-found codes are recognised for existence checks; others are not."""
    assert is_not_found(translate_boto_error(client_error("NoSuchBucket", 404)))
    assert is_not_found(translate_boto_error(client_error("ResourceNotFoundException")))
    assert is_not_found(translate_boto_error(client_error("404", 404)))
    assert not is_not_found(translate_boto_error(client_error("AccessDenied", 403)))


def test_botocore_retries_are_off_and_timeouts_set():
    """botocore makes exactly one attempt; connect/read timeouts are bounded."""
    config = client_config(connect_timeout=3, read_timeout=7)
    assert config.retries["total_max_attempts"] == 1
    assert (config.connect_timeout, config.read_timeout) == (3, 7)


def test_session_honours_aws_endpoint_url(monkeypatch):
    """boto3 1.44 reads AWS_ENDPOINT_URL itself: clients built by AwsSession use it."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:45999")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    session = AwsSession("eu-west-1")
    assert session.client("sqs").meta.endpoint_url == "http://127.0.0.1:45999"
    assert session.client("sqs").meta.region_name == "eu-west-1"
    assert session.client("sqs") is session.client("sqs")
    assert session.endpoint_override == "http://127.0.0.1:45999"


def test_event_hooks_reach_existing_and_future_clients(monkeypatch):
    """add_event_hook registers on clients already built and on those built later."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    seen = []
    session = AwsSession("us-west-2", event_hooks=[("probe-init", lambda **kw: seen.append("init"))])
    existing = session.client("sqs")
    session.add_event_hook("probe-added", lambda **kw: seen.append(kw["event_name"]))
    later = session.client("sns")
    for client in (existing, later):
        client.meta.events.emit("probe-init.x")
        client.meta.events.emit("probe-added.x")
    assert seen == ["init", "probe-added.x", "init", "probe-added.x"]


def test_parameter_values_never_reach_the_message():
    """A ParamValidationError's report echoes values; the translated message hides them."""
    report = (
        "Invalid type for parameter SecretString, value: hunter2-secret, type: <class 'int'>, "
        "valid types: <class 'str'>"
    )
    error = translate_boto_error(ParamValidationError(report=report), service="secretsmanager")
    assert "hunter2-secret" not in str(error) and "SecretString" in str(error)
