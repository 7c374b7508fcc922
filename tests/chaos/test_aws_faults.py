"""AWS throttling and 5xx on 30 % of the calls (the AWS proxy in front of the embedded site's moto
server, AWS's own error shapes per protocol): the failover completes, every injected fault is in the run's
audit log once, where the call failed (a retry, or the retries given up), backoff stays bounded and the
RTO within its objective."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from orchestrator.retry import POLICIES, RETRIES_EXHAUSTED
from tests.chaos.support import LATENCY, audit_events, back_to_warm, corrupt_objects, fast_runbook, seeded, trials
from tests.e2e_helpers import aws_state, cli
from tests.support.awsproxy import AwsProxy

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

THROTTLE, ERRORS = 0.15, 0.15
FAULT_WORDS = ("Throttling", "SlowDown", "RequestLimitExceeded", "ServiceUnavailable", "503")


def faulty_failover(site, folder, seed: int) -> tuple[object, dict]:
    """One failover through a fresh proxy (30 % faults, the shared site's latency); (result, proxy stats)."""
    proxy = AwsProxy(site.state["moto"]["endpoint"], seed=seed, throttle_rate=THROTTLE, error_rate=ERRORS,
                     insync_after=LATENCY["insync_seconds"], inservice_after=LATENCY["inservice_seconds"])
    endpoint = proxy.start()
    try:
        env_site = _with_endpoint(site, endpoint)
        result = cli(env_site, folder / "state", "failover", "--site", str(site.site_file),
                     "--runbook", str(fast_runbook(folder)), "--yes", "--log-format", "json")
        return result, proxy.stats()
    finally:
        proxy.stop()


class _with_endpoint:
    """The site with AWS_ENDPOINT_URL pointing at another proxy."""

    def __init__(self, site, endpoint: str):
        self._site, self._endpoint = site, endpoint

    @property
    def env(self) -> dict[str, str]:
        return {**self._site.env, "AWS_ENDPOINT_URL": self._endpoint}


def fault_events(events: list[dict]) -> list[dict]:
    """Audit events that record a failed AWS call where it failed, in the retry layer every call goes
    through: a ``retry`` (it is tried again) or ``retries_exhausted`` (its last attempt failed too; what the
    caller made of the error -- a step attempt retried, a notification given up, a non-blocking check that
    could not answer -- is a consequence, not another fault)."""
    names = ("retry", RETRIES_EXHAUSTED)
    return [e for e in events if e.get("event") in names
            and any(word in str(e.get("error", "")) for word in FAULT_WORDS)]


def by_service(counts: dict[str, int]) -> Counter:
    """Faults per AWS service, from the proxy's ``service.Operation`` counts."""
    out: Counter = Counter()
    for name, count in counts.items():
        out[name.split(".", 1)[0]] += count
    return out


def test_failover_completes_with_30_percent_aws_faults(chaos_site, warm_group, tmp_path, request):
    """30 % throttling/503 on every AWS call: the failover succeeds with the uninterrupted AWS state, each
    injected fault appears in the audit log, no backoff exceeds the policy's bound, RTO within objective."""
    count = trials(request.config, fast=1, full=5)
    seed, rng = seeded("aws-faults", request.config)
    bound = POLICIES["aws"].max_delay + POLICIES["aws"].jitter
    for number in range(count):
        back_to_warm(chaos_site, warm_group)
        folder = tmp_path / f"t{number}"
        folder.mkdir()
        result, stats = faulty_failover(chaos_site, folder, rng.randrange(10**6))
        assert result.returncode == 0, result.stderr[-3000:]
        injected = sum(stats["injected"].values())
        events = audit_events(folder / "state")
        logged = fault_events(events)
        delays = [e["delay_seconds"] for e in events if e.get("event") == "retry" and "delay_seconds" in e]
        report = json.loads(next((folder / "state" / "reports").glob("*/report.json")).read_text())
        print(f"trial {number}: {sum(stats['calls'].values())} calls reached moto, {injected} faults injected "
              f"{stats['injected']}, {len(logged)} in the audit log, max backoff {max(delays, default=0):.2f}s, "
              f"RTO {report['rto_seconds']:.1f}s")
        assert injected > 0
        assert len(logged) == injected, (stats["injected_by_call"], [e.get("what") for e in logged])
        assert Counter(e["what"].split(".", 1)[0] for e in logged) == by_service(stats["injected_by_call"])
        assert max(delays, default=0) <= bound
        assert report["status"] == "succeeded" and report["rto_seconds"] <= report["rto_objective_seconds"]
        after = aws_state(chaos_site)
        assert after["desired"] == chaos_site.site["seats"]["target"]
        assert corrupt_objects(chaos_site) == []
    print(f"aws-faults seed={seed} trials={count}")
