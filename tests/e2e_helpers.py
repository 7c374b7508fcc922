"""Helpers for whole runs through the real CLI against the embedded site (tests/fixtures/sandbox.py):
run the program as a subprocess, read back what a failover may change, watch the SNS milestones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from orchestrator.sandbox import fake_swanctl
from tests.helpers import REPO


def cli(embedded_site, state_dir: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**embedded_site.env, "ORCHESTRATOR_STATE_DIR": str(state_dir)}
    return subprocess.run([sys.executable, "-m", "orchestrator", *args], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=timeout, stdin=subprocess.DEVNULL)


def aws_state(embedded_site) -> dict:
    """Everything a failover may change, read back from moto."""
    site = embedded_site.site
    r53 = embedded_site.client("route53")
    records = {}
    for rec in r53.list_resource_record_sets(HostedZoneId=site["dns"]["zone_id"])["ResourceRecordSets"]:
        if rec["Type"] in ("A", "CNAME"):
            records[(rec["Name"], rec["Type"])] = sorted(v["Value"] for v in rec["ResourceRecords"])
    group = embedded_site.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[site["seats"]["asg_name"]])["AutoScalingGroups"][0]
    s3 = embedded_site.client("s3")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=site["backup"]["bucket"]).get("Contents", []))
    return {"records": records, "desired": group["DesiredCapacity"], "keys": keys,
            "appliance": fake_swanctl.read_state(embedded_site.appliance_dir)}


def subscribe_queue(embedded_site) -> str:
    sqs, sns = embedded_site.client("sqs"), embedded_site.client("sns")
    url = sqs.create_queue(QueueName="milestones")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=embedded_site.site["notify"]["topic_arn"], Protocol="sqs", Endpoint=arn,
                  Attributes={"RawMessageDelivery": "true"})
    return url


def drain(embedded_site, url: str) -> list[dict]:
    sqs, out = embedded_site.client("sqs"), []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return out
        out += [json.loads(m["Body"]) for m in batch]
        for m in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
