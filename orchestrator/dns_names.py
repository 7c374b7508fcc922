"""DNS names and values compared as Route 53 compares them: pure functions, no client.

The site file (``site.py``: one entry per record name), the lock keys of a run (``site_resources.py``), the
checks and the DNS steps all compare names this way; ``adapters/route53.py`` uses the same rules on what
Route 53 answers. Kept apart from the adapter so that reading a site file needs no AWS code.
"""

from __future__ import annotations

#: record types whose values are host names (compared case- and trailing-dot-insensitively)
HOSTNAME_TYPES = ("CNAME", "NS", "MX", "PTR", "SRV")


def normal_name(name: str) -> str:
    """Lower case, trailing dot, Route 53's octal escape for '*' undone."""
    name = name.replace("\\052", "*").lower()
    return name if name.endswith(".") else name + "."


def normal_value(value: str, type_: str) -> str:
    """Compare hostnames case- and trailing-dot-insensitively; other values as given."""
    if type_ in HOSTNAME_TYPES:
        return value.lower().rstrip(".")
    return value


def normal_zone_id(zone_id: str) -> str:
    """``/hostedzone/Z123`` -> ``Z123`` (both forms appear in stack outputs)."""
    return zone_id.rsplit("/", 1)[-1]
