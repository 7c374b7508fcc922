"""One place that decides how the site's resources are tagged.

Tags are passed explicitly to every taggable resource rather than injected by a stack transform: Pulumi's
mock monitor does not run stack transforms, and the policy checks must see the tags in CI exactly as the
engine would send them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Tags:
    """The tags every resource of one site carries: ``site`` and ``owner`` (plus a ``Name``)."""

    site: str
    owner: str
    extra: dict[str, str] = field(default_factory=dict)

    def of(self, name: str) -> dict[str, str]:
        """Tags for a resource whose console name is ``name``."""
        return {**self.extra, "site": self.site, "owner": self.owner, "Name": name}

    def for_asg(self, name: str) -> list[dict[str, object]]:
        """The same tags in the list form an Auto Scaling group takes, propagated to its instances."""
        return [{"key": k, "value": v, "propagate_at_launch": True} for k, v in self.of(name).items()]
