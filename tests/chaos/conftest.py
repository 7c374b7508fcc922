"""Chaos-suite fixtures: one embedded site (moto server behind the AWS proxy with Route 53 / Auto
Scaling / appliance latency, real sshd) shared by every chaos test of the session, each test putting
it back to its warm state first (``back_to_warm``); building a site costs ~17 s."""

from __future__ import annotations

import pytest

from tests.chaos.support import LATENCY, seats_group, site_up


@pytest.fixture(scope="session")
def chaos_site(tmp_path_factory):
    """The shared embedded site with latency (see support.LATENCY); stopped at the end of the session."""
    with site_up(tmp_path_factory.mktemp("chaos-sandbox"), **LATENCY) as site:
        yield site


@pytest.fixture(scope="session")
def warm_group(chaos_site):
    """The seats group as the stack deployed it (what back_to_warm restores)."""
    return seats_group(chaos_site)
