"""The restore workers in the stack (contract 1.2, optional): queue and dead-letter queue (encrypted), the
workers' least-privilege role, the fleet (min 0, private subnets, scaling on the queue's depth), and the
site file's ``backup.workers`` from the outputs. Under Pulumi mocks, checked by the policy pack too."""

from __future__ import annotations

import base64
import json

from orchestrator.site import parse_site
from stacks.testing.policies import check
from stacks.warm_site.workers import worker_policy
from tests.stacks.conftest import PULUMI_AWS_DEPRECATIONS, SFTP_KEY, declare, deployment_of, good_config

pytestmark = PULUMI_AWS_DEPRECATIONS

WORKERS = {"queue_name": "cc-dr-test-restore-work", "ami": "ami-0123456789abcdef0", "max_workers": 6,
           "max_receives": 4}


def with_workers() -> dict:
    config = good_config()
    config["backup"]["workers"] = dict(WORKERS)
    return config


def test_the_site_file_gets_backup_workers_and_the_stack_passes_the_policy_pack():
    config = with_workers()
    outputs, mocks = declare(config)
    site = parse_site(outputs)
    assert site.backup.workers is not None
    assert site.backup.workers.queue_url == "https://sqs.us-west-2.amazonaws.com/123456789012/cc-dr-test-restore-work"
    assert check(deployment_of(config, outputs, mocks.resources)) == []
    without, _ = declare(good_config())
    assert "workers" not in without["backup"]


def test_queue_and_dead_letter_queue_are_encrypted_with_a_redrive_policy():
    _, mocks = declare(with_workers())
    queues = {r.inputs["name"]: r.inputs for r in mocks.of_type("aws:sqs/queue:Queue")}
    assert set(queues) == {"cc-dr-test-restore-work", "cc-dr-test-restore-work-dlq"}
    assert all(q["sqsManagedSseEnabled"] is True for q in queues.values())
    redrive = json.loads(queues["cc-dr-test-restore-work"]["redrivePolicy"])
    assert redrive == {"deadLetterTargetArn": "arn:aws:sqs:us-west-2:123456789012:cc-dr-test-restore-work-dlq",
                       "maxReceiveCount": 4}
    assert queues["cc-dr-test-restore-work"]["visibilityTimeoutSeconds"] == 300


def test_the_workers_role_may_only_take_work_write_the_restore_prefix_and_read_the_sftp_key():
    _, mocks = declare(with_workers())
    [policy] = [json.loads(r.inputs["policy"]) for r in mocks.of_type("aws:iam/rolePolicy:RolePolicy")
                if r.name.startswith("cc-dr-test-workers")]
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert actions == {"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                       "sqs:ReceiveMessage", "s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject",
                       "s3:ListBucket", "s3:ListBucketMultipartUploads", "secretsmanager:GetSecretValue"}
    resources = {s["Sid"]: s["Resource"] for s in policy["Statement"]}
    assert resources["WorkQueue"] == "arn:aws:sqs:us-west-2:123456789012:cc-dr-test-restore-work"
    assert resources["RestoreObjects"].endswith("/restored/*")
    assert "sqs:SendMessage" not in actions and "*" not in resources.values()
    [trust] = [json.loads(r.inputs["assumeRolePolicy"]) for r in mocks.of_type("aws:iam/role:Role")
               if r.inputs["name"] == "cc-dr-test-restore-work-worker"]
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert trust["Statement"][0]["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_the_fleet_starts_empty_in_the_private_subnets_and_scales_on_the_queue():
    _, mocks = declare(with_workers())
    [group] = [r.inputs for r in mocks.of_type("aws:autoscaling/group:Group")
               if r.inputs["name"] == "cc-dr-test-restore-work-workers"]
    assert (group["minSize"], group["maxSize"], group["desiredCapacity"]) == (0, 6, 0)
    assert len(group["vpcZoneIdentifiers"]) == 2
    alarms = {r.inputs["metricName"]: r.inputs for r in mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert alarms["ApproximateNumberOfMessagesVisible"]["dimensions"] == {"QueueName": "cc-dr-test-restore-work"}
    [template] = [r.inputs for r in mocks.of_type("aws:ec2/launchTemplate:LaunchTemplate")
                  if r.inputs["name"] == "cc-dr-test-restore-work-worker-lt"]
    script = base64.b64decode(template["userData"]).decode()
    assert "orchestrator restore-worker --site /etc/cc-dr/site.json" in script
    assert "cc-dr-test-restore-work" in script and SFTP_KEY not in script
    assert template["metadataOptions"]["httpTokens"] == "required"


def test_worker_policy_without_a_prefix_covers_the_bucket():
    policy = worker_policy("arn:aws:sqs:us-west-2:1:q", "arn:aws:s3:::b", "", "arn:aws:secretsmanager:x")
    assert {s["Sid"]: s["Resource"] for s in policy["Statement"]}["RestoreObjects"] == "arn:aws:s3:::b/*"


def test_the_orchestrator_role_may_enqueue_and_remove_its_results_record():
    """With workers, the orchestrator role sends to the work queue and reads its redrive policy, and deletes
    only under PREFIX/_restore_work/ (besides the drills' folder); without workers, no SQS at all."""
    def orchestrator_policy(config):
        _, mocks = declare(config)
        [policy] = [json.loads(r.inputs["policy"]) for r in mocks.of_type("aws:iam/rolePolicy:RolePolicy")
                    if "orchestrator" in r.name]
        return {s["Sid"]: s for s in policy["Statement"]}

    statements = orchestrator_policy(with_workers())
    assert sorted(statements["WorkQueue"]["Action"]) == ["sqs:GetQueueAttributes", "sqs:SendMessage"]
    assert statements["WorkQueue"]["Resource"] == "arn:aws:sqs:us-west-2:123456789012:cc-dr-test-restore-work"
    assert statements["WorkResults"]["Resource"].endswith("/restored/_restore_work/*")
    assert "WorkQueue" not in orchestrator_policy(good_config())


def test_the_results_folder_is_the_one_the_workers_write():
    from orchestrator.backup.work import RESULTS_DIR
    from stacks.warm_site.access import WORK_FOLDER

    assert WORK_FOLDER == RESULTS_DIR
