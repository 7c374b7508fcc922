"""The Connect double's contract with the real service: every request it accepted in this test session (each
in-process double records them; the embedded site's double is read over its control endpoint), replayed
through botocore's ParamValidator for the real service model and through botocore's own REST-JSON serializer
(same method, same path). The file runs after the other Connect tests; it also drives every operation the
double serves itself, so it holds on its own."""

from __future__ import annotations

import pytest

from orchestrator.sandbox.connect.protocol import OPERATIONS
from orchestrator.steps.connect import Announce, ShiftBack, ShiftTraffic, Unannounce
from tests.fixtures.aws import make_step_context, run_step
from tests.fixtures.connect import with_connect
from tests.support import connect_contract

pytestmark = pytest.mark.integration


def drive_every_operation(site, clock) -> None:
    """A readiness pass, an announcement, a shift and a shift back (both reading the queues: the site has
    queue thresholds), its announcement off."""
    from orchestrator import checks

    site = with_connect(site, shift_guard={"contacts_in_queue": 20, "oldest_contact_age_seconds": 60})
    services = make_step_context(ShiftTraffic, site, clock).services
    checks.run_checks(checks.CONNECT, checks.CheckEnv(services, site))
    for kind, params in ((Announce, {}), (ShiftTraffic, {"steps": [30, 100]}), (ShiftBack, {"steps": [100]}),
                         (Unannounce, {})):
        run_step(kind(), make_step_context(kind, site, clock, params=params, services=services))


def test_every_accepted_request_passes_the_real_service_model(connect_site, connect_double, clock):
    """Each request the doubles accepted this session validates against botocore's model of Connect and is what
    botocore itself would send; every operation the double serves was exercised."""
    drive_every_operation(connect_site, clock)
    accepted = connect_contract.ACCEPTED + list(connect_double.service.accepted)
    assert {r["operation"] for r in accepted} == set(OPERATIONS)
    assert connect_contract.problems(accepted) == []
    metrics = {m["Name"] for r in accepted if r["operation"] == "GetCurrentMetricData"
               for m in r["params"]["CurrentMetrics"]}
    assert {"AGENTS_AVAILABLE", "CONTACTS_IN_QUEUE", "OLDEST_CONTACT_AGE"} <= metrics  # the queue reads too


def test_the_contract_check_catches_a_drifted_request(connect_site, connect_double, clock):
    """A member the model does not know, or a path botocore would not send, is reported (the check can fail)."""
    drive_every_operation(connect_site, clock)
    update = next(r for r in connect_double.service.accepted if r["operation"] == "UpdateTrafficDistribution")
    drifted = {**update, "params": {**update["params"], "Weights": [1]}}
    moved = {**update, "path": "/traffic-distributions/" + update["params"]["Id"]}
    found = connect_contract.problems([drifted, moved])
    assert len(found) == 2
    assert "Unknown parameter" in found[0] and "Weights" in found[0]
    assert "botocore sends PUT /traffic-distribution/" in found[1]
