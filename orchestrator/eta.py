"""The ETA shown to managers and agents: when service is expected back, learned from drills (issue 15)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Eta:
    """When the RTO-counted steps are expected to be done, as a range: ``earliest`` takes each remaining
    step at its p50 over the last ``drills`` drills, ``latest`` at its p90."""

    earliest: datetime
    latest: datetime
    #: how many drills the per-step durations come from
    drills: int
