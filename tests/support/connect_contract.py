"""The contract of the Connect double with the real service: every request it accepted, replayed through
botocore's parameter validation for the real service model, and through botocore's own REST-JSON serializer
(the same parameters must make the same HTTP method and path a real client sends)."""

from __future__ import annotations

from functools import cache
from typing import Any
from urllib.parse import unquote

import botocore.session
from botocore.model import ServiceModel
from botocore.serialize import create_serializer
from botocore.validate import ParamValidator

#: every request the in-process doubles of this test session accepted (the contract test replays them all)
ACCEPTED: list[dict[str, Any]] = []


@cache
def _model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("connect")


def problems(requests: list[dict[str, Any]]) -> list[str]:
    """What is wrong with each accepted request, as the real service model sees it (empty: none)."""
    model = _model()
    serializer = create_serializer("rest-json", include_validation=False)
    found: list[str] = []
    for number, request in enumerate(requests):
        operation = model.operation_model(request["operation"])
        report = ParamValidator().validate(request["params"], operation.input_shape)
        if report.has_errors():
            found.append(f"#{number} {operation.name}: {report.generate_report()}")
            continue
        wire = serializer.serialize_to_request(request["params"], operation)
        path = unquote(wire["url_path"])
        if wire["method"] != request["method"] or path != unquote(request["path"].split("?", 1)[0]):
            found.append(f"#{number} {operation.name}: botocore sends {wire['method']} {path}, "
                         f"the double took {request['method']} {request['path']}")
    return found
