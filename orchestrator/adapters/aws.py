"""The boto3 edge: one session, cached thread-safe clients, and error translation.

Every AWS call in the program goes through ``AwsSession.call``: botocore's own retries are off
(``total_max_attempts=1``) so that our tenacity policy is the only retry layer and every retry is
logged. Credentials, region and ``AWS_ENDPOINT_URL`` (how tests point at a moto server) come from
boto3's own chain; the site's region is passed explicitly and wins for regional calls.

Fault injection for tests: ``AwsSession(region, event_hooks=[(event, handler)])`` or
``session.add_event_hook(event, handler)`` registers a botocore event handler on every client,
present and future (e.g. ``"before-call.route53.ChangeResourceRecordSets"`` raising a throttling
``ClientError``).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import boto3
import botocore.loaders
import botocore.session
import structlog
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.parsers import ResponseParserError

from orchestrator import retry
from orchestrator.clock import Clock, SystemClock
from orchestrator.errors import FatalError, OrchestratorError, RetryableError
from orchestrator.redact import redact_text

T = TypeVar("T")

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "PriorRequestNotComplete",
        "RequestThrottled",
        "RequestThrottledException",
        "ProvisionedThroughputExceededException",
        "BandwidthLimitExceeded",
        "EC2ThrottledException",
    }
)
#: server-side codes that AWS documents as transient even when the status is not 5xx
TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "IDPCommunicationError",
    }
)
#: the bare status codes botocore reports when a 5xx body is not AWS's format; moto's server answers
#: an unimplemented call with an HTML 500 (FACTS.md), which must never be retried
_UNPARSED_FATAL_STATUS = frozenset({"500", "501"})

EventHook = tuple[str, Callable[..., Any]]

_MAX_MESSAGE = 300
_PARAM_VALUE = re.compile(r"value: .*?(?=, (?:type|valid)|$)", re.MULTILINE)


class AwsError(OrchestratorError):
    """Mixin data for translated AWS errors: which service/operation failed and with what code."""

    service: str = ""
    operation: str = ""
    code: str = ""


class AwsRetryableError(RetryableError, AwsError):
    """A transient AWS fault (throttling, 5xx, timeout, connection)."""


class AwsFatalError(FatalError, AwsError):
    """An AWS fault retrying cannot fix (access denied, validation, not found, not implemented)."""


def is_not_found(error: BaseException) -> bool:
    """True for a translated 'does not exist' answer (NoSuchX, XNotFound, NotFound, 404)."""
    code = getattr(error, "code", "") or ""
    return code.startswith("NoSuch") or "NotFound" in code or code in ("404", "NotFound")


def translate_boto_error(
    exc: BaseException, *, service: str = "aws", operation: str | None = None
) -> OrchestratorError:
    """Classify a boto3/botocore (or moto) exception as RetryableError or FatalError.

    The message names the service, the operation and the error code; it carries AWS's own message
    (never request parameters, so never a secret value), shortened.
    """
    if isinstance(exc, OrchestratorError):
        return exc
    operation = operation or getattr(exc, "operation_name", None) or "?"
    code, retryable, text = _classify(exc)
    cls = AwsRetryableError if retryable else AwsFatalError
    error = cls(f"{service}.{operation}: {code}: {_shorten(redact_text(text))}")
    error.service, error.operation, error.code = service, operation, code
    return error


def _classify(exc: BaseException) -> tuple[str, bool, str]:
    """(code, retryable, message) for one exception."""
    if isinstance(exc, ClientError):
        return _classify_client_error(exc)
    if isinstance(exc, ResponseParserError):
        return "ResponseParserError", False, "unparseable response (an unimplemented call on a moto server?)"
    if isinstance(exc, NotImplementedError):
        return "NotImplemented", False, str(exc) or "not implemented"
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return type(exc).__name__, True, str(exc)
    if isinstance(exc, ParamValidationError):  # its report echoes parameter values: hide them
        return "ParamValidationError", False, _PARAM_VALUE.sub("value: <hidden>", str(exc))
    if isinstance(exc, NoCredentialsError | NoRegionError | BotoCoreError):
        return type(exc).__name__, False, str(exc)
    return type(exc).__name__, False, str(exc)


def _classify_client_error(exc: ClientError) -> tuple[str, bool, str]:
    error = exc.response.get("Error", {}) or {}
    code = str(error.get("Code") or "Unknown")
    status = int((exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
    message = str(error.get("Message") or "")
    if code in THROTTLING_CODES or code in TRANSIENT_CODES:
        return code, True, message
    if code in _UNPARSED_FATAL_STATUS:
        return code, False, f"unparseable {code} response (an unimplemented call on a moto server?)"
    if status >= 500 or code in ("502", "503", "504"):
        return code, True, message or f"HTTP {status}"
    return code, False, message or f"HTTP {status}"


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def client_config(connect_timeout: float = 5.0, read_timeout: float = 30.0) -> Config:
    """Timeouts on, botocore's retries off: our tenacity policies retry (and log every retry)."""
    return Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"total_max_attempts": 1, "mode": "standard"},
    )


_loader_lock = threading.Lock()
_loader: botocore.loaders.Loader | None = None


def _botocore_session() -> botocore.session.Session:
    """A fresh botocore session sharing one model loader: service models (JSON) load once per
    process instead of once per AwsSession (~0.1-0.3 s per service)."""
    global _loader
    with _loader_lock:
        if _loader is None:
            _loader = botocore.loaders.create_loader()
        core = botocore.session.get_session()
        core.register_component("data_loader", _loader)
    return core


class AwsSession:
    """One boto3 Session for a region; clients built once per service under a lock."""

    def __init__(
        self,
        region: str,
        *,
        clock: Clock | None = None,
        event_hooks: Iterable[EventHook] = (),
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        policy: str | retry.RetryPolicy = "aws",
    ):
        self.region = region
        self.clock = clock or SystemClock()
        self.policy = policy
        self._config = client_config(connect_timeout, read_timeout)
        self._session = boto3.Session(botocore_session=_botocore_session(), region_name=region)
        self._clients: dict[str, Any] = {}
        self._hooks: list[EventHook] = list(event_hooks)
        self._lock = threading.Lock()

    @property
    def endpoint_override(self) -> str | None:
        """The AWS_ENDPOINT_URL in force (a moto server in tests), else None for real AWS."""
        return os.environ.get("AWS_ENDPOINT_URL") or None

    def client(self, service: str) -> Any:
        """The cached client for ``service`` (boto3 clients are thread-safe once built)."""
        with self._lock:
            if service not in self._clients:
                client = self._session.client(service, config=self._config)
                for event, handler in self._hooks:
                    client.meta.events.register(event, handler)
                self._clients[service] = client
            return self._clients[service]

    def add_event_hook(self, event: str, handler: Callable[..., Any]) -> None:
        """Register a botocore event handler on every client, built now or later (fault injection)."""
        with self._lock:
            self._hooks.append((event, handler))
            for client in self._clients.values():
                client.meta.events.register(event, handler)

    def call(self, service: str, method: str, /, *, policy: str | retry.RetryPolicy | None = None, **kwargs):
        """``client(service).method(**kwargs)`` with errors translated and retried under ``policy``."""
        fn = getattr(self.client(service), method)
        return self.run(lambda: fn(**kwargs), service=service, operation=method, policy=policy)

    def run(
        self,
        fn: Callable[[], T],
        *,
        service: str,
        operation: str,
        policy: str | retry.RetryPolicy | None = None,
    ) -> T:
        """Run any boto callable with translation + retry (for paginators, transfer helpers...)."""

        def attempt() -> T:
            try:
                return fn()
            except (ClientError, BotoCoreError, ResponseParserError, NotImplementedError) as exc:
                raise translate_boto_error(exc, service=service, operation=operation) from exc

        log = structlog.get_logger("orchestrator.aws").bind(service=service, operation=operation)
        return retry.call(
            attempt, policy=policy or self.policy, clock=self.clock, log=log, what=f"{service}.{operation}"
        )
