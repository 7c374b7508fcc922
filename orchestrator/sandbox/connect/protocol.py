"""Connect's REST-JSON protocol, read from botocore's own service model: which operation a request is (its
HTTP method and ``requestUri`` template), its parameters (each input member's location: uri, querystring,
header or JSON body), the checks botocore's ParamValidator makes, and the response (members of the output
shape only; timestamps as epoch seconds; errors with the status code of their error shape and the
``x-amzn-ErrorType`` header). A field the model does not know, in either direction, is a failure: a drift of
the model breaks the tests instead of passing unnoticed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import parse_qs, unquote

from botocore.model import OperationModel, ServiceModel, Shape, StructureShape
from botocore.validate import ParamValidator

from orchestrator.sandbox.connect.world import ConnectError

#: the operations the double serves
OPERATIONS = (
    "GetTrafficDistribution",
    "UpdateTrafficDistribution",
    "DescribeTrafficDistributionGroup",
    "DescribeHoursOfOperation",
    "CreateHoursOfOperationOverride",
    "ListHoursOfOperationOverrides",
    "DeleteHoursOfOperationOverride",
    "DescribePrompt",
    "GetCurrentMetricData",
    "StartOutboundVoiceContact",
    "DescribeContact",
    "StopContact",
)

_CREDENTIAL = re.compile(r"Credential=[^/]+/\d{8}/(?P<region>[a-z0-9-]+)/connect/aws4_request")


class ProtocolError(Exception):
    """A request the double cannot take: no such route, or parameters the model refuses."""


@cache
def service_model() -> ServiceModel:
    import botocore.session

    return botocore.session.get_session().get_service_model("connect")


@dataclass(frozen=True)
class Route:
    operation: OperationModel
    pattern: re.Pattern[str]


@cache
def routes() -> tuple[Route, ...]:
    model = service_model()
    return tuple(_route(model.operation_model(name)) for name in OPERATIONS)


def _route(operation: OperationModel) -> Route:
    path = operation.http["requestUri"].split("?", 1)[0]
    regex = re.sub(r"\\\{(\w+)(\\\+)?\\\}", lambda m: f"(?P<{m.group(1)}>{'.+' if m.group(2) else '[^/]+'})",
                   re.escape(path))
    return Route(operation, re.compile(f"^{regex}$"))


@dataclass(frozen=True)
class Call:
    """One parsed request: the operation, the Region of its signature, its parameters."""

    operation: str
    region: str
    params: dict[str, Any]


def signing_region(headers: dict[str, str]) -> str | None:
    """The Region of the SigV4 credential scope (the Region the caller's client is for)."""
    match = _CREDENTIAL.search(headers.get("authorization", ""))
    return match.group("region") if match else None


def parse(method: str, target: str, headers: dict[str, str], body: bytes) -> Call:
    """The operation and its parameters, validated against the input shape."""
    path, _, query = target.partition("?")
    for route in routes():
        if route.operation.http["method"] != method:
            continue
        match = route.pattern.match(path)
        if match:
            operation = route.operation
            params = _params(operation, {k: unquote(v) for k, v in match.groupdict().items()},
                             parse_qs(query), headers, body)
            _validate(operation, params)
            region = signing_region(headers)
            if region is None:
                raise ConnectError("MissingAuthenticationTokenException", "no SigV4 Authorization header")
            return Call(operation.name, region, params)
    raise ProtocolError(f"no Connect operation for {method} {path}")


def _params(operation: OperationModel, uri: dict[str, str], query: dict[str, list[str]],
            headers: dict[str, str], body: bytes) -> dict[str, Any]:
    shape = operation.input_shape
    assert isinstance(shape, StructureShape)
    try:
        params: dict[str, Any] = json.loads(body) if body.strip() else {}
    except ValueError as exc:
        raise ProtocolError(f"the body is not JSON: {exc}") from None
    if not isinstance(params, dict):
        raise ProtocolError("the body is not a JSON object")
    for name, member in shape.members.items():
        location, wire = member.serialization.get("location"), member.serialization.get("name", name)
        if location == "uri" and wire in uri:
            params[name] = uri[wire]
        elif location == "querystring" and wire in query:
            params[name] = _scalar(member, query[wire][-1])
        elif location == "header" and wire.lower() in headers:
            params[name] = _scalar(member, headers[wire.lower()])
    return params


def _scalar(member: Shape, text: str) -> Any:
    if member.type_name in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            raise ProtocolError(f"{member.name}: {text!r} is not an integer") from None
    return text


def _validate(operation: OperationModel, params: dict[str, Any]) -> None:
    """botocore's own checks (required members, types, ranges, unknown members): what a real client sends
    passes them; anything else is a drift of the model or a hand-made request."""
    report = ParamValidator().validate(params, operation.input_shape)
    if report.has_errors():
        raise ProtocolError(f"{operation.name}: {report.generate_report()}")


def response(operation: str, result: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """A success answer: the result serialised through the operation's output shape."""
    shape = service_model().operation_model(operation).output_shape
    body = _serialise(shape, result, operation) if shape is not None else {}
    return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()


def _serialise(shape: Shape, value: Any, where: str) -> Any:
    if isinstance(shape, StructureShape):
        unknown = set(value) - set(shape.members)
        if unknown:  # the double would answer a field the model does not have
            raise AssertionError(f"{where}: {sorted(unknown)} not in the model's {shape.name}")
        return {k: _serialise(shape.members[k], v, f"{where}.{k}") for k, v in value.items() if v is not None}
    if shape.type_name == "list":
        return [_serialise(shape.member, v, f"{where}[]") for v in value]
    if shape.type_name == "map":
        return {k: _serialise(shape.value, v, f"{where}.{k}") for k, v in value.items()}
    if shape.type_name == "timestamp":
        return value.timestamp() if isinstance(value, datetime) else value
    return value


def error(operation: str | None, failure: ConnectError) -> tuple[int, dict[str, str], bytes]:
    """An error answer the way REST-JSON services give it: the error shape's status code, the code in the
    ``x-amzn-ErrorType`` header and the message in the body. A modelled error must be one the operation
    declares (protocol-level ones, like a missing signature, are not in any operation's list)."""
    model = service_model()
    status = 403 if failure.code == "MissingAuthenticationTokenException" else 400
    if failure.code in model.shape_names:
        shape = model.shape_for(failure.code)
        status = int(shape.metadata.get("error", {}).get("httpStatusCode", 400))
        if operation is not None:
            declared = {e.name for e in model.operation_model(operation).error_shapes}
            if failure.code not in declared:
                raise AssertionError(f"{operation} does not declare {failure.code} in the model")
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": failure.code}
    return status, headers, json.dumps({"Message": failure.message}).encode()
