"""The boto3 edge: one session, cached thread-safe clients, and error translation.

Every AWS call in the program goes through ``AwsSession.call``: botocore's own retries are off
(``total_max_attempts=1``) so that our tenacity policy is the only retry layer and every retry is
logged. Credentials, region and ``AWS_ENDPOINT_URL`` (how tests point at a moto server) come from
boto3's own chain; the site's region is passed explicitly and wins for regional calls.

An answer botocore cannot parse (an HTML error page from a proxy or a crashed server) is reported as what
it is: the HTTP status the endpoint gave and an excerpt of its body (error bodies only: a 2xx body may hold
data), recorded per thread by a ``before-parse`` hook on every client (:class:`HttpAnswer`).

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
from dataclasses import dataclass
from datetime import UTC, datetime
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
#: statuses whose unparseable answer is transient (a gateway or a load balancer in the way); any other
#: unparseable answer is a server that cannot serve this call (e.g. a moto server's HTML 500 for an
#: unimplemented call, or for a subnet out of addresses), and asking again gets the same answer
_UNPARSED_RETRYABLE_STATUS = frozenset({502, 503, 504})
_EXCERPT = 200

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


@dataclass(frozen=True)
class HttpAnswer:
    """The HTTP answer behind a failed call: status, endpoint, and an excerpt of an error body."""

    status: int
    endpoint: str
    excerpt: str = ""


class _LastAnswer(threading.local):
    """The last HTTP answer this thread received (botocore parses in the calling thread)."""

    answer: HttpAnswer | None = None


_last_answer = _LastAnswer()


class _AnswerRecorder:
    """botocore ``before-parse`` handler: remember the raw answer in case it does not parse."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint

    def __call__(self, response_dict: dict[str, Any] | None = None, **_: Any) -> None:
        status = int((response_dict or {}).get("status_code") or 0)
        body = (response_dict or {}).get("body")
        excerpt = ""
        if status >= 300 and isinstance(body, bytes | bytearray):
            excerpt = bytes(body[: _EXCERPT * 4]).decode("utf-8", "replace")
        _last_answer.answer = HttpAnswer(status, self.endpoint, excerpt)


def is_access_denied(error: BaseException) -> bool:
    """A translated AWS answer refusing the caller (``AccessDenied``, ``AccessDeniedException``)."""
    return (getattr(error, "code", "") or "").startswith("AccessDenied")


def is_not_found(error: BaseException) -> bool:
    """True for a translated 'does not exist' answer (NoSuchX, XNotFound, NotFound, 404)."""
    code = getattr(error, "code", "") or ""
    return code.startswith("NoSuch") or "NotFound" in code or code in ("404", "NotFound")


def translate_boto_error(
    exc: BaseException, *, service: str = "aws", operation: str | None = None, answer: HttpAnswer | None = None
) -> OrchestratorError:
    """Classify a boto3/botocore (or moto) exception as RetryableError or FatalError.

    The message names the service, the operation and the error code; it carries AWS's own message
    (never request parameters, so never a secret value), shortened. ``answer`` is the HTTP answer behind
    the exception, when known: an answer that does not parse is reported with its status and body excerpt.
    """
    if isinstance(exc, OrchestratorError):
        return exc
    operation = operation or getattr(exc, "operation_name", None) or "?"
    code, retryable, text = _classify(exc, answer)
    cls = AwsRetryableError if retryable else AwsFatalError
    error = cls(f"{service}.{operation}: {code}: {_shorten(redact_text(text))}")
    error.service, error.operation, error.code = service, operation, code
    return error


def _classify(exc: BaseException, answer: HttpAnswer | None = None) -> tuple[str, bool, str]:
    """(code, retryable, message) for one exception."""
    if isinstance(exc, ClientError):
        return _classify_client_error(exc, answer)
    if isinstance(exc, ResponseParserError):
        if answer is None or not answer.status:
            return "ResponseParserError", False, "an answer that is not AWS's format (no HTTP status recorded)"
        return _unparsed(answer.status, answer)
    if isinstance(exc, NotImplementedError):
        return "NotImplemented", False, str(exc) or "not implemented"
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return type(exc).__name__, True, str(exc)
    if isinstance(exc, ParamValidationError):  # its report echoes parameter values: hide them
        return "ParamValidationError", False, _PARAM_VALUE.sub("value: <hidden>", str(exc))
    if isinstance(exc, NoCredentialsError | NoRegionError | BotoCoreError):
        return type(exc).__name__, False, str(exc)
    return type(exc).__name__, False, str(exc)


def _classify_client_error(exc: ClientError, answer: HttpAnswer | None = None) -> tuple[str, bool, str]:
    error = exc.response.get("Error", {}) or {}
    code = str(error.get("Code") or "Unknown")
    status = int((exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
    message = str(error.get("Message") or "")
    if code in THROTTLING_CODES or code in TRANSIENT_CODES:
        return code, True, message
    # botocore's generic error (only the status is known): a 5xx, or a body that is not AWS's format. A bare
    # 4xx without a body is AWS's own answer to a HEAD request (S3 HeadObject: "404").
    if code.isdigit() and (int(code) >= 500 or (answer is not None and answer.excerpt)):
        return _unparsed(int(code), answer)
    if status >= 500:
        return code, True, message or f"HTTP {status}"
    return code, False, message or f"HTTP {status}"


def _unparsed(status: int, answer: HttpAnswer | None) -> tuple[str, bool, str]:
    """An answer that is not AWS's format: say so, with the status, the endpoint and the body excerpt."""
    where = f"the endpoint {answer.endpoint}" if answer and answer.endpoint else "the endpoint"
    if status < 300:
        body = "body not shown: it may hold data"
    else:
        excerpt = " ".join(answer.excerpt.split()) if answer else ""
        body = f"body: {excerpt[:_EXCERPT]!r}" if excerpt else "no body"
    text = f"HTTP {status} from {where}, not an AWS answer ({body})"
    return str(status), status in _UNPARSED_RETRYABLE_STATUS, text


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


@dataclass(frozen=True)
class SigningCredentials:
    """The credentials that sign presigned links: temporary (a session token) or not, and their expiry."""

    session: bool
    #: when they stop working (None: long-term keys, or temporary ones whose expiry the SDK was not told)
    expires_at: datetime | None


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
                client = self._session.client(service, config=self._client_config(service))
                client.meta.events.register("before-parse", _AnswerRecorder(client.meta.endpoint_url))
                for event, handler in self._hooks:
                    client.meta.events.register(event, handler)
                self._clients[service] = client
            return self._clients[service]

    def _client_config(self, service: str) -> Config:
        if service != "s3":
            return self._config
        # No SHA-256 of every body for the signature: over HTTPS botocore already sends UNSIGNED-PAYLOAD
        # when a checksum header is present; over plain HTTP (the embedded site's moto, an on-prem
        # S3-compatible store) it would hash every restored byte a second time (~0.5 CPU-s per GB).
        # Integrity does not rest on it: every PUT and part carries a checksum S3 verifies (the
        # manifest's SHA-256 for whole files, botocore's CRC32 for parts), and the restore verified
        # each file's SHA-256 before sending it (docs/decisions.md, "S3 payload signing").
        return self._config.merge(Config(s3={"payload_signing_enabled": False}))

    def presigner(self, service: str) -> Any:
        """A client that only signs URLs, with Signature Version 4 (what every region accepts for presigned
        links; the presigned URL is computed locally, no request is made)."""
        with self._lock:
            key = f"{service}#presign"
            if key not in self._clients:
                config = self._config.merge(Config(signature_version="s3v4" if service == "s3" else "v4"))
                self._clients[key] = self._session.client(service, config=config)
            return self._clients[key]

    def signing_credentials(self) -> SigningCredentials:
        """What the credentials a link is signed with now allow: whether they are temporary (a session token)
        and when they expire, when the SDK knows it (a role, SSO or instance session; environment credentials
        with ``AWS_CREDENTIAL_EXPIRATION``). A presigned link dies with the credentials that signed it."""
        credentials = self._session.get_credentials()
        if credentials is None:
            return SigningCredentials(session=False, expires_at=None)
        # freezing refreshes credentials about to expire first: the expiry read next is that of the
        # credentials the next signature uses (or, after a refresh in between, earlier: never later)
        frozen = credentials.get_frozen_credentials()
        expiry = getattr(credentials, "_expiry_time", None)  # botocore's RefreshableCredentials
        if not isinstance(expiry, datetime):
            expiry = None
        elif expiry.tzinfo is None:
            expiry = expiry.replace(tzinfo=UTC)
        return SigningCredentials(session=bool(frozen.token), expires_at=expiry)

    def add_event_hook(self, event: str, handler: Callable[..., Any]) -> None:
        """Register a botocore event handler on every client, built now or later (fault injection)."""
        with self._lock:
            self._hooks.append((event, handler))
            for client in self._clients.values():
                client.meta.events.register(event, handler)

    def call(
        self, service: str, method: str, /, *, policy: str | retry.RetryPolicy | None = None, **kwargs: Any
    ) -> Any:
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
            _last_answer.answer = None
            try:
                return fn()
            except (ClientError, BotoCoreError, ResponseParserError, NotImplementedError) as exc:
                answer = _last_answer.answer
                raise translate_boto_error(exc, service=service, operation=operation, answer=answer) from exc

        log = structlog.get_logger("orchestrator.aws").bind(service=service, operation=operation)
        return retry.call(
            attempt, policy=policy or self.policy, clock=self.clock, log=log, what=f"{service}.{operation}"
        )
