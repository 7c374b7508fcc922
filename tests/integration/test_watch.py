"""`orchestrator watch` through the console script against the embedded site (contract 1.2, detection): a
healthy primary, a primary gone down, two watchers in the same second (one incident, one staged failover,
one message), the primary answering again (one primary-up saying how to stand down)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.chaos.support import site_up
from tests.e2e_helpers import cli
from tests.helpers import REPO

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with site_up(tmp_path_factory.mktemp("watch-sandbox")) as site:
        yield site


def listener() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock


def site_with_primary(site, folder: Path, port: int, down_after: int = 0) -> Path:
    data = {**site.site, "primary": {"probes": [{"name": "sbc", "tcp": f"127.0.0.1:{port}"}],
                                     "down_after_seconds": down_after}}
    path = folder / "site-with-primary.json"
    path.write_text(json.dumps(data))
    return path


def subscribe(site) -> str:
    """An SQS queue subscribed to the site's topic: what managers' phones would receive."""
    sqs, sns = site.client("sqs"), site.client("sns")
    url = sqs.create_queue(QueueName=f"watch-{id(site)}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=site.site["notify"]["topic_arn"], Protocol="sqs", Endpoint=arn)
    return url


def messages(site, url: str) -> list[dict]:
    sqs, out = site.client("sqs"), []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            out.append(json.loads(json.loads(message["Body"])["Message"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return out


def round_with_the_primary_back(site, state: Path, folder: Path) -> subprocess.CompletedProcess:
    """One `watch --once` while the primary's SBC answers again (exit 0 expected)."""
    back = listener()
    try:
        up = cli(site, state, "watch", "--site", str(site_with_primary(site, folder, back.getsockname()[1])),
                 "--once")
    finally:
        back.close()
    assert up.returncode == 0, up.stderr
    return up


def shared_page(site) -> str:
    page = site.site["notify"]["status_page"]
    return site.client("s3").get_object(Bucket=page["bucket"], Key=page["key"])["Body"].read().decode()


def test_watch_once_healthy_then_two_watchers_open_one_incident_and_stage_one_failover(site, tmp_path):
    """Healthy: exit 0, no message. The SBC stops answering (down_after 0): two `watch --once --stage` in the
    same second both exit 4, one `primary-down` message, one failover held at dns-cutover with `detected_at`.
    The SBC answers again: exit 0 and one `primary-up` naming `stand-down` for the staged run."""
    state = tmp_path / "state"
    queue = subscribe(site)
    sbc = listener()
    site_file = site_with_primary(site, tmp_path, sbc.getsockname()[1])
    ready = cli(site, state, "readiness", "--site", str(site_file), "--json")
    (never,) = [c for c in json.loads(ready.stdout)["checks"] if c["name"] == "watch.recent"]
    assert not never["ok"] and not never["blocking"] and "no round" in never["detail"]
    healthy = cli(site, state, "watch", "--site", str(site_file), "--once")
    assert healthy.returncode == 0 and "healthy" in healthy.stdout, healthy.stderr
    ready = cli(site, state, "readiness", "--site", str(site_file), "--json")
    (recent,) = [c for c in json.loads(ready.stdout)["checks"] if c["name"] == "watch.recent"]
    assert recent["ok"] and "healthy" in recent["detail"]
    assert [m for m in messages(site, queue) if m.get("event", "").startswith("primary")] == []
    sbc.close()

    env = {**site.env, "ORCHESTRATOR_STATE_DIR": str(state)}
    watchers = [subprocess.Popen([sys.executable, "-m", "orchestrator", "watch", "--site", str(site_file), "--once",
                                  "--stage"], env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [w.communicate(timeout=300) for w in watchers]
    assert [w.returncode for w in watchers] == [4, 4], [r[1][-2000:] for r in results]
    runs = json.loads(cli(site, state, "status", "--json", "--last", "10").stdout)["runs"]
    assert [(r["kind"], r["status"], r.get("waiting_for")) for r in runs] == [("failover", "held", "dns-cutover")]
    down = [m for m in messages(site, queue) if m.get("event") == "primary-down"]
    assert len(down) == 1 and down[0]["probes"][0]["name"] == "sbc"
    report = json.loads((state / "reports" / runs[0]["run_id"] / "report.json").read_text())
    assert report["detected_at"] == down[0]["down_since"]
    # the staged run's page opens on the outage, locally and in the shared page managers read
    since = f"Primary site unreachable since {down[0]['down_since'][11:16]} UTC"
    assert since in (state / "reports" / runs[0]["run_id"] / "status.html").read_text()
    assert since in shared_page(site)

    round_with_the_primary_back(site, state, tmp_path)
    ups = [m for m in messages(site, queue) if m.get("event") == "primary-up"]
    assert len(ups) == 1 and f"orchestrator stand-down {runs[0]['run_id']}" in ups[0]["what_to_do"]
    assert cli(site, state, "stand-down", runs[0]["run_id"]).returncode == 0


def test_without_stage_the_outage_page_opens_updates_and_closes_and_a_run_page_is_never_replaced(site, tmp_path):
    """No --stage: the round that finds the primary down writes the outage page (locally and the shared page
    in S3): "Primary site unreachable since HH:MM UTC", how many checks fail, never what they probe. A probe
    answering again turns it into "answers again". A failover started afterwards owns the shared page: a
    later outage round does not write over it."""
    state = tmp_path / "state"
    sbc = listener()
    port = sbc.getsockname()[1]
    sbc.close()
    site_file = site_with_primary(site, tmp_path, port)
    down = cli(site, state, "watch", "--site", str(site_file), "--once")
    assert down.returncode == 4, down.stderr
    local = state / "reports" / f"primary-{site.site['site']}" / "status.html"
    assert f"status page: {local}" in down.stdout
    html = local.read_text()
    assert "Primary site unreachable since" in html and "1 of 1 failing" in html
    assert f"127.0.0.1:{port}" not in html and "sbc" not in html  # what the probes reach stays in the site file
    assert shared_page(site) == local.read_text()

    round_with_the_primary_back(site, state, tmp_path)
    answered = local.read_text()
    assert "Primary site answers again since" in answered and "Calls stay on the main site" in answered
    assert shared_page(site) == answered

    drill = cli(site, state, "drill", "--site", str(site_file), "--yes")
    assert drill.returncode == 0, drill.stderr[-2000:]
    ours = shared_page(site)
    assert "Drill" in ours and "unreachable" not in ours
    site_file = site_with_primary(site, tmp_path, port)  # nobody listens there any more
    assert cli(site, state, "watch", "--site", str(site_file), "--once").returncode == 4
    # the outage began after the drill started: the outage is the news, the drill's page gives way
    assert "Primary site unreachable since" in shared_page(site)

    held = cli(site, state, "failover", "--site", str(site_file))  # no terminal, no --yes: held at its gate
    assert held.returncode == 4, held.stderr[-2000:]
    run_id = json.loads(cli(site, state, "status", "--json").stdout)["runs"][0]["run_id"]
    run_page = shared_page(site)
    assert "unreachable" not in run_page and "Failover" in run_page
    again = cli(site, state, "watch", "--site", str(site_file), "--once")
    assert again.returncode == 4 and "status page:" not in again.stdout
    assert shared_page(site) == run_page  # the held failover's page stays the site's page
    assert cli(site, state, "stand-down", run_id).returncode == 0


def test_a_failed_round_does_not_end_the_loop_and_fails_a_single_round(site, tmp_path):
    """The loop is what notices an outage: a round that cannot read its state (here a team table that does
    not exist) is reported on stderr with the time and the next round follows; `--once` fails (exit 1)."""
    sbc = listener()
    data = json.loads(site_with_primary(site, tmp_path, sbc.getsockname()[1]).read_text())
    data["state"] = {"table": "cc-dr-no-such-table"}
    site_file = tmp_path / "site-no-table.json"
    site_file.write_text(json.dumps(data))
    env = {**site.env, "ORCHESTRATOR_STATE_DIR": str(tmp_path / "state")}
    loop = subprocess.Popen([sys.executable, "-m", "orchestrator", "watch", "--site", str(site_file),
                             "--interval", "0.2"], env=env, cwd=REPO, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        failed = []
        assert loop.stderr is not None
        for line in loop.stderr:  # bounded: the loop is killed in `finally` at the latest by the test's timeout
            if "round failed" in line:
                failed.append(line)
            if len(failed) == 3:
                break
        assert len(failed) == 3 and loop.poll() is None, failed
        assert re.match(r"\d\d:\d\d:\d\d UTC round failed \(", failed[0]) and "next round in 0.2s" in failed[0]
        assert "cc-dr-no-such-table" in "".join(failed)
    finally:
        loop.terminate()
        loop.wait(30)
        sbc.close()
    once = cli(site, tmp_path / "state", "watch", "--site", str(site_file), "--once")
    assert once.returncode == 1 and "cc-dr-no-such-table" in once.stderr, once.stderr[-2000:]


def test_without_any_credentials_a_failover_fails_its_preflight_clearly_not_internally(site, tmp_path):
    """No AWS credentials anywhere (a watcher's host set up wrong): the failover fails at its preflight,
    exit 1, naming `aws.credentials`; the status page link that cannot be signed is a warning, never an
    "internal error" (it was one: the presign raised botocore's NoCredentialsError out of the run's end)."""
    env = {k: v for k, v in site.env.items() if not k.startswith("AWS_") or k.startswith("AWS_ENDPOINT")}
    env.update({"ORCHESTRATOR_STATE_DIR": str(tmp_path / "state"), "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                "AWS_CONFIG_FILE": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_DEFAULT_REGION": site.site["region"], "PATH": os.environ["PATH"]})
    run = subprocess.run([sys.executable, "-m", "orchestrator", "failover", "--site", str(site.site_file), "--yes"],
                         env=env, cwd=REPO, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert run.returncode == 1, run.stderr[-2000:]
    assert "aws.credentials" in run.stderr and "internal error" not in run.stderr
    assert "status_page.link_failed" in run.stderr
