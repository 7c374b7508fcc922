"""Contract 1.2, evidence: the uploaded copy. With the site's ``evidence`` key, each file of a run's pack is put
in the evidence bucket under S3 Object Lock (compliance mode) and `evidence verify --site` checks the copy.
Against the moto server: a locked version cannot be deleted, overwritten or have its retention shortened."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.helpers import SITE, orchestrator
from tests.integration.test_evidence import run_id_of, runbook

pytestmark = pytest.mark.integration

BUCKET = "cc-dr-evidence-test"
TABLE = "cc-dr-runs-evidence"


@pytest.fixture
def evidence_site(aws_env, tmp_path):
    s3 = boto3.client("s3", region_name="us-west-2")
    s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True,
                     CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    data = json.loads(SITE.read_text())
    data["evidence"] = {"bucket": BUCKET, "retention_days": 2}
    path = tmp_path / "site.json"
    path.write_text(json.dumps(data))
    return s3, path


def _failover(site: Path, tmp_path: Path) -> tuple[Path, str]:
    """A failover of the evidence site (its pack uploaded at the end): its state dir and run id."""
    state = tmp_path / "state"
    done = orchestrator("failover", "--site", str(site), "--runbook", str(runbook(tmp_path)), "--yes",
                        state_dir=state)
    assert done.returncode == 0, done.stderr
    return state, run_id_of(done)

def test_the_pack_is_uploaded_object_locked_and_verify_checks_the_copy(evidence_site, tmp_path):
    s3, site = evidence_site
    state, run_id = _failover(site, tmp_path)
    pack = state / "reports" / run_id / "evidence"
    prefix = f"runs/{run_id}/evidence/"
    keys = {o["Key"][len(prefix):] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]}
    assert keys == {p.relative_to(pack).as_posix() for p in pack.rglob("*") if p.is_file()}
    head = s3.head_object(Bucket=BUCKET, Key=prefix + "manifest.json")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] > datetime.now(UTC) + timedelta(days=1)

    ok = orchestrator("evidence", "verify", run_id, "--site", str(site), state_dir=state)
    assert ok.returncode == 0, ok.stdout + ok.stderr

    # the locked version cannot be deleted; a PUT only adds a version on top of it
    version = head["VersionId"]
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=BUCKET, Key=prefix + "manifest.json", VersionId=version)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    # (shortening a compliance-mode retention is refused by S3; moto does not model that refusal)
    original = (pack / "audit.jsonl").read_bytes()
    s3.put_object(Bucket=BUCKET, Key=prefix + "audit.jsonl", Body=b'{"forged": true}\n')
    first = s3.list_object_versions(Bucket=BUCKET, Prefix=prefix + "audit.jsonl")["Versions"]
    assert len(first) == 2
    kept = next(v for v in first if not v["IsLatest"])
    assert s3.get_object(Bucket=BUCKET, Key=prefix + "audit.jsonl", VersionId=kept["VersionId"])["Body"].read() \
        == original

    # verify names the copy that no longer matches, and a local change the copy does not have
    (pack / "site.json").write_text((pack / "site.json").read_text() + " ")
    bad = orchestrator("evidence", "verify", run_id, "--site", str(site), state_dir=state)
    assert bad.returncode == 1
    lines = bad.stdout.splitlines()
    assert "site.json: altered" in lines
    assert any(line.startswith(f"uploaded copy s3://{BUCKET}/{prefix}audit.jsonl: differs") for line in lines)
    assert any(line.startswith(f"uploaded copy s3://{BUCKET}/{prefix}site.json: differs") for line in lines)


def test_findings_in_team_mode_live_in_the_state_table_and_close_from_another_machine(aws_env, tmp_path):
    """With a state table the findings are items of it (pk FINDINGS#SITE): a drill on one machine records
    them, `findings close --site` from another state dir (another machine) closes one, the next drill
    anywhere finds it recurred."""
    _create_table(TABLE)
    data = json.loads(SITE.read_text())
    data["state"] = {"table": TABLE}
    data["objectives"] = {"rto_seconds": 1, "rpo_seconds": 86400}
    site = tmp_path / "site.json"
    site.write_text(json.dumps(data))
    book = runbook(tmp_path, sleep=1.2)
    first = orchestrator("drill", "--site", str(site), "--runbook", str(book), state_dir=tmp_path / "a")
    assert first.returncode == 0, first.stderr
    items = boto3.client("dynamodb", region_name="us-west-2").query(
        TableName=TABLE, KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"FINDINGS#{data['site']}"}})["Items"]
    assert len(items) == 1
    listed = json.loads(orchestrator("findings", "--json", "--site", str(site), state_dir=tmp_path / "b").stdout)
    (found,) = listed["findings"]
    assert found["kind"] == "rto_missed"
    assert orchestrator("findings", "close", found["id"], "--note", "fixed", "--site", str(site),
                        state_dir=tmp_path / "b").returncode == 0
    second = orchestrator("drill", "--site", str(site), "--runbook", str(book), state_dir=tmp_path / "c")
    assert second.returncode == 0, second.stderr
    report = json.loads(next((tmp_path / "c").rglob("report.json")).read_text())
    assert [f["id"] for f in report["findings"]["recurred"]] == [found["id"]]


def _create_table(name: str) -> None:
    client = boto3.client("dynamodb", region_name="us-west-2")
    client.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}])


def test_verify_without_site_checks_the_uploaded_copy_of_the_site_the_run_used(evidence_site, tmp_path):
    """`evidence verify RUN_ID` as the contract writes it (no --site): the run's own site names an evidence
    bucket, so its copy is checked too; a forged version on top of the locked one is named, exit 1."""
    s3, site = evidence_site
    state, run_id = _failover(site, tmp_path)
    assert orchestrator("evidence", "verify", run_id, state_dir=state).returncode == 0
    prefix = f"runs/{run_id}/evidence/"
    s3.put_object(Bucket=BUCKET, Key=prefix + "decisions.json", Body=b"{}")
    bad = orchestrator("evidence", "verify", run_id, state_dir=state)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert any(line.startswith(f"uploaded copy s3://{BUCKET}/{prefix}decisions.json: differs")
               for line in bad.stdout.splitlines()), bad.stdout
