"""Journal values as DynamoDB attribute values and back, and the table's keys.

Record fields map to attribute values one to one; the dict fields (``runbook``, ``options``, ``state``)
are stored as JSON text, zlib-compressed when large (an item is limited to 400 KB). A run's ``RunSettings``
is its ``options`` attribute (the name every release has stored it under).
"""

from __future__ import annotations

import json
import zlib
from dataclasses import fields as dataclass_fields
from typing import Any

from orchestrator.journal.records import RunRecord, RunSettings
from orchestrator.model import RunStatus

#: JSON fields larger than this are stored zlib-compressed (an item is limited to 400 KB)
COMPRESS_ABOVE = 64 * 1024
#: the record fields stored as JSON
JSON_FIELDS = frozenset({"runbook", "options", "state"})

#: an attribute value as boto3's low-level client takes and returns it ({"S": ...}, {"N": ...}, ...)
AttributeValue = dict[str, Any]
#: an item: attribute name -> attribute value
Item = dict[str, AttributeValue]


#: the run record's fields, and the attribute each is stored under
RUN_ATTRIBUTES = {f.name: ("options" if f.name == "settings" else f.name) for f in dataclass_fields(RunRecord)}


def run_attributes(run: RunRecord) -> Item:
    """The run record's fields as the attributes of its ``META`` item."""
    plain = {name: getattr(run, name) for name in RUN_ATTRIBUTES} | {"settings": run.settings.to_json()}
    return {attribute: value(attribute, plain[name]) for name, attribute in RUN_ATTRIBUTES.items()}


def run_of(item: Item) -> RunRecord:
    """The run record stored as ``item`` (``run_attributes`` reversed)."""
    plain = {name: decode(attribute, item.get(attribute)) for name, attribute in RUN_ATTRIBUTES.items()}
    run = RunRecord(**plain | {"settings": RunSettings.from_json(plain["settings"] or {})})
    run.status = RunStatus(run.status)
    run.resumes = run.resumes or 0
    return run


def run_pk(run_id: str) -> str:
    return f"RUN#{run_id}"


def lock_pk(site: str) -> str:
    return f"LOCK#{site}"


def claim_pk(resource: str) -> str:
    """The claim item of one resource a run may change (``orchestrator.site_resources``)."""
    return f"CLAIM#{resource}"


def key(pk: str, sk: str) -> Item:
    return {"pk": s(pk), "sk": s(sk)}


def s(text: str) -> AttributeValue:
    return {"S": text}


def n(number: float) -> AttributeValue:
    return {"N": repr(number)}


def value(name: str, field_value: Any) -> AttributeValue:
    """A record field as an attribute value; dict fields as JSON (compressed when large)."""
    if name in JSON_FIELDS:
        text = json.dumps(field_value, default=str)
        return {"B": zlib.compress(text.encode())} if len(text) > COMPRESS_ABOVE else s(text)
    return av(field_value)


def decode(name: str, attribute: AttributeValue | None) -> Any:
    """The record field stored as ``attribute`` (``value`` reversed)."""
    plain = py(attribute)
    if name in JSON_FIELDS and plain is not None:
        return json.loads(zlib.decompress(plain).decode() if isinstance(plain, bytes) else plain)
    return plain


def av(plain: Any) -> AttributeValue:
    """A plain value (None, bool, number, bytes, else its text) as an attribute value."""
    if plain is None:
        return {"NULL": True}
    if isinstance(plain, bool):
        return {"BOOL": plain}
    if isinstance(plain, int | float):
        return n(plain)
    if isinstance(plain, bytes):
        return {"B": plain}
    return s(str(plain))


def py(attribute: AttributeValue | None) -> Any:
    """An attribute value as a plain value (``av`` reversed)."""
    if not attribute or "NULL" in attribute:
        return None
    ((kind, stored),) = attribute.items()
    if kind == "N":
        return float(stored) if any(c in stored for c in ".eE") else int(stored)
    return stored
