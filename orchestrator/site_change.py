"""A resume runs against the site its run was started with: the site is journaled at the start, and a
site file given to ``resume --site`` is compared with it.

Two kinds of keys (docs/decisions.md, "Resuming against a site file"):

- keys that say **where to reach** the appliance and the SFTP provider (host, port, user, pinned host
  key, where the SSH key is): an appliance moved or rebuilt during an incident is a real event, so these
  may differ, each only when named with ``--allow-site-change KEY``; the change is journaled (event
  ``site_changed``) and reported, and the resumed run uses the new values from then on;
- every other key decides **what the run changes** (site, region, DNS zone and records, VPN connections,
  bucket, seats, topic, objectives, state table): these never differ; a different value is another
  site or another plan, and needs a new run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.errors import InvalidInput
from orchestrator.site import Site, parse_site

if TYPE_CHECKING:  # the run's settings are read, never built, here
    from orchestrator.journal.records import RunSettings

_ENDPOINT_KEYS = ("host", "port", "username", "host_key", "private_key_secret", "private_key_file")
#: the keys a resume may change, each when named with --allow-site-change
CHANGEABLE = frozenset(
    [f"vpn.appliance.{key}" for key in (*_ENDPOINT_KEYS, "swanctl")]
    + [f"backup.sftp.{key}" for key in _ENDPOINT_KEYS]
)
#: the key under which a run's options hold its site
JOURNAL_KEY = "site"


@dataclass(frozen=True)
class Difference:
    key: str
    journaled: object
    given: object

    def describe(self) -> str:
        return f"{self.key}: {_short(self.journaled)} in the run, {_short(self.given)} in the file"


def journaled(site: Site) -> dict[str, Any]:
    """The site as the journal keeps it (plain JSON that ``parse_site`` reads back)."""
    return site.model_dump(mode="json", by_alias=True)


def site_of_run(settings: RunSettings, recorded_file: str) -> Site | None:
    """The run's own site from its journaled settings (None for a run started before sites were journaled)."""
    data = settings.site
    return None if data is None else parse_site(data, source=f"the journaled site of {recorded_file}")


def differences(run_site: Site, given: Site) -> list[Difference]:
    """Every leaf key whose value differs (a key missing on one side counts as None there)."""
    old, new = _flatten(journaled(run_site)), _flatten(journaled(given))
    return [
        Difference(key, old.get(key), new.get(key))
        for key in sorted(set(old) | set(new))
        if key not in old or key not in new or old[key] != new[key]
    ]


def check_allowed(
    run_id: str, changes: list[Difference], allowed: tuple[str, ...], source: str
) -> list[Difference]:
    """The changes a resume may apply; InvalidInput (exit 2) naming every other difference."""
    for key in allowed:
        if key not in CHANGEABLE:
            raise InvalidInput(
                f"--allow-site-change {key}: only where the appliance and the SFTP provider are reached may "
                f"change on resume ({', '.join(sorted(CHANGEABLE))})",
                source=source,
            )
    refused = [c for c in changes if c.key not in allowed]
    if not refused:
        return changes
    lines = [f"  {c.describe()}{_hint(c.key)}" for c in refused[:20]]
    raise InvalidInput(
        f"differs from the site run {run_id} was started with (journaled); a resume uses the run's own "
        f"site:\n" + "\n".join(lines),
        source=source,
    )


def _hint(key: str) -> str:
    if key in CHANGEABLE:
        return f"  (allow it with --allow-site-change {key})"
    return "  (never allowed: it decides what the run changes; start a new run for another site or plan)"


def _flatten(value: object, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for key, item in value.items():
            out |= _flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(value, list) and value and any(isinstance(v, dict | list) for v in value):
        out = {f"{prefix}.length": len(value)}
        for index, item in enumerate(value):
            out |= _flatten(item, f"{prefix}[{index}]")
        return out
    return {prefix: value}


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
