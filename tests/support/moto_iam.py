"""A moto server that enforces IAM, for the least-privilege tests (tests/integration/test_least_privilege.py).

moto 5.2.5 authenticates and authorizes every call once ``INITIAL_NO_AUTH_ACTION_COUNT`` calls have been
served (the env variable at start; ``POST /moto-api/reset-auth`` sets it again at run time). The embedded
site is built with enforcement off (the count is huge); :func:`enforce` then turns it on (count 0), and
every later call needs an IAM user's access key whose policies allow it.

Seven changes are made to moto **in this server process only** (``python -m tests.support.moto_iam``), never
to the product, never to the other moto servers of the suite. Each is also listed in docs/permissions.md:

1. **Route 53 GET signatures** (a moto bug). moto re-computes a request's SigV4 signature from
   ``data=self._body or self._data``: for a GET, the body is empty, so moto signs its parsed parameters
   (``self._data``) as if they were a form body, while the client signed an empty payload. Measured without
   the change: ``ListHostedZones``, ``GetHostedZone`` and ``ListResourceRecordSets`` are refused (403, an
   empty error code: ``SignatureDoesNotMatch``) even for a principal allowed ``*``. The fix: a request
   with an empty body is re-signed with an empty body (:func:`_aws_request_signed_as_sent`). The signature
   is still checked.
2. **Resources moto does not resolve.** moto 5.2.5 authorizes S3 calls against the bucket/object ARN, but
   calls to Route 53, Auto Scaling, EC2, SNS, Secrets Manager and DynamoDB against the resource ``"*"``
   (it has no resource resolution for them). A statement scoped to an ARN can never match ``"*"``, so a
   correctly scoped policy would be refused everything. The change: a request whose resource moto did not
   resolve (``"*"``) matches any statement's ``Resource`` (:func:`_resource_matches`); actions are still
   checked exactly, and S3 resources (bucket, prefix) are still checked exactly. That the ARNs of the other
   services name this site's resources is asserted separately, against what was deployed.
3. **DynamoDB transactions.** moto authorizes ``TransactWriteItems`` as the action
   ``dynamodb:TransactWriteItems``, which AWS does not have: AWS authorizes each item by its own action
   (``PutItem``, ``UpdateItem``, ``DeleteItem``, ``ConditionCheckItem``; DynamoDB developer guide, "Using IAM
   with DynamoDB transactions"). The change: a transaction is authorized item action by item action
   (:func:`_checks_aws_makes`).
4. **The denial's format for JSON services.** moto answers an IAM denial with an XML ``ErrorResponse`` even
   to DynamoDB and Secrets Manager, which speak JSON; botocore cannot parse it (the orchestrator then
   reports "HTTP 403 ..., not an AWS answer"). AWS answers ``{"__type": "AccessDeniedException", "message":
   "User: ... is not authorized to perform: ACTION on resource: ..."}``; the change answers that for the
   services whose botocore model says ``json``. The decision itself is moto's.
5. **S3 action names.** moto authorizes some S3 calls under names IAM does not have: ``HeadBucket`` (AWS
   checks ``s3:ListBucket``), ``GetPublicAccessBlock`` (AWS: ``s3:GetBucketPublicAccessBlock``), and a
   bucket's ``?encryption`` falls to its default ``ListBucket`` (AWS: ``s3:GetEncryptionConfiguration``).
   The change renames them in moto's ``ACTION_MAP`` (:data:`_S3_IAM_NAMES`). And moto authorizes
   ``DeleteObjects`` as ``s3:DeleteObject`` on the *bucket*; AWS checks ``s3:DeleteObject`` on each key
   deleted, so a prefix-scoped grant works there. The change checks each key (:func:`_checks_aws_makes`).
6. **DynamoDB requests one at a time.** moto's ``TransactWriteItems`` deep-copies the table while other
   request threads write to it, and fails with ``RuntimeError: dictionary changed size during iteration``
   (HTTP 500) when the orchestrator's parallel steps journal at the same moment (seen in the drill here;
   DynamoDB itself isolates transactions). The change serializes this server's DynamoDB requests
   (:func:`_one_dynamodb_request_at_a_time`).
7. **CloudWatch's action prefix.** moto authorizes CloudWatch calls under its endpoint prefix,
   ``monitoring:DescribeAlarms``; IAM's prefix for CloudWatch is ``cloudwatch:`` (a policy granting
   ``cloudwatch:DescribeAlarms`` is what AWS checks). The change renames the prefix (:func:`_checks_aws_makes`).

Besides, when ``MOTO_IAM_ACTION_LOG`` names a file, the server appends one line per authorized call
(``principal ARN, action, resource, allowed|denied``): what the tests read to prove which action was denied,
that a denied call was not retried, and that every granted action is used. It changes no decision.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from orchestrator.sandbox import motoserver

#: enforcement off while the embedded site is built (moto's default is "never"; say so explicitly)
NO_AUTH_WHILE_BUILDING = 10**9


def start(port: int | None = None, *, log_file: str | Path | None = None, action_log: str | Path | None = None,
          timeout: float = 30.0, on_spawn=None) -> motoserver.MotoServerState:
    """Start this module as the moto server (same contract as ``orchestrator.sandbox.motoserver.start``);
    ``action_log``: where to log each authorization decision."""
    port = port or motoserver.free_port()
    endpoint = f"http://{motoserver.HOST}:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_CA_BUNDLE", "AWS_ENDPOINT_URL")}
    env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(NO_AUTH_WHILE_BUILDING)
    if action_log:
        env["MOTO_IAM_ACTION_LOG"] = str(action_log)
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.moto_iam", "-H", motoserver.HOST, "-p", str(port)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT if log_file else subprocess.DEVNULL,
            start_new_session=True, env=env, cwd=Path(__file__).resolve().parents[2],
        )
    finally:
        if log_file:
            out.close()
    state = motoserver.MotoServerState(endpoint, process.pid, port, str(log_file) if log_file else None)
    try:
        if on_spawn is not None:
            on_spawn(state)
        motoserver.wait_ready(endpoint, timeout, process)
    except BaseException:
        motoserver.stop(process.pid)
        raise
    return state


def enforce(endpoint: str, free_calls: int = 0) -> None:
    """Turn IAM enforcement on: after ``free_calls`` more calls, every call is authenticated and authorized."""
    request = urllib.request.Request(endpoint.rstrip("/") + "/moto-api/reset-auth", method="POST",  # noqa: S310
                                     data=str(free_calls).encode(), headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        json.loads(answer.read())


def user_with_policy(iam, name: str, policy: dict) -> dict[str, str]:
    """An IAM user whose only permission is ``policy`` (inline); its access key as environment variables."""
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName=f"{name}-only", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


# -- the two changes, applied in the server process only ---------------------------------------------------


def _aws_request_signed_as_sent(self):
    """moto's ``IAMRequestBase._create_aws_request``, except that an empty body is signed as empty (moto
    signs the parsed parameters of a GET as a form body, which no client does)."""
    from botocore.awsrequest import AWSRequest

    signed_headers = self._get_string_between("SignedHeaders=", ",", self._headers["Authorization"]).split(";")
    headers = self._create_headers_for_aws_request(signed_headers, self._headers)
    body = self._body if self._body else (b"" if self._method in ("GET", "HEAD", "DELETE") else self._data)
    request = AWSRequest(method=self._method, url=self._path, data=body, headers=headers)
    request.context["timestamp"] = headers["X-Amz-Date"]
    return request


def read_action_log(path: Path) -> list[tuple[str, str, str, str]]:
    """The action log's lines as (principal ARN, action, resource, "allowed"|"denied")."""
    if not path.exists():
        return []
    return [tuple(line.split("\t")) for line in path.read_text().splitlines() if line]  # type: ignore[misc]


#: AWS authorizes a transaction by the actions of its items (DynamoDB developer guide, "Using IAM with
#: DynamoDB transactions"); there is no IAM action ``dynamodb:TransactWriteItems``
_TRANSACTION_ITEM_ACTIONS = {"Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem",
                             "Delete": "dynamodb:DeleteItem", "ConditionCheck": "dynamodb:ConditionCheckItem",
                             "Get": "dynamodb:GetItem"}
_JSON_PROTOCOL_SERVICES: dict[str, bool] = {}


def _checks_aws_makes(request, resource: str) -> list[tuple[str, str]]:
    """The (action, resource) pairs AWS evaluates for this request: a DynamoDB transaction's item actions,
    an S3 DeleteObjects' ``s3:DeleteObject`` on each key; else moto's own pair."""
    if request._action in ("dynamodb:TransactWriteItems", "dynamodb:TransactGetItems"):
        items = json.loads(request._body or b"{}").get("TransactItems") or []
        return [(action, resource) for action in sorted({_TRANSACTION_ITEM_ACTIONS[k] for i in items for k in i})]
    if request._action == "s3:DeleteObject" and request._method == "POST" and "delete" in request._path:
        import xml.etree.ElementTree as ElementTree

        root = ElementTree.fromstring(request._body or b"<Delete/>")  # noqa: S314 (botocore wrote it: a test)
        keys = [e.text or "" for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "Key"]
        return [("s3:DeleteObject", f"{resource}/{key}") for key in keys]
    if request._action.startswith("monitoring:"):  # change 7: CloudWatch's IAM prefix, not its endpoint's
        return [("cloudwatch:" + request._action.split(":", 1)[1], resource)]
    return [(request._action, resource)]


def _json_protocol(service: str) -> bool:
    if service not in _JSON_PROTOCOL_SERVICES:
        import botocore.session

        try:
            protocol = botocore.session.get_session().get_service_model(service).protocol
        except Exception:
            protocol = ""
        _JSON_PROTOCOL_SERVICES[service] = protocol == "json"
    return _JSON_PROTOCOL_SERVICES[service]


def _authorize_as_aws_does(access_control, log_path: str | None) -> None:
    """Changes 3 and 4 of the module docstring, and the decision log."""
    from moto.core.exceptions import JsonRESTError

    original = access_control.IAMRequestBase.check_action_permitted

    def check(self, requested):
        for action, resource in _checks_aws_makes(self, requested):
            self._action = action
            outcome = "denied"
            try:
                original(self, resource)
                outcome = "allowed"
            except access_control.AccessDeniedError:
                if _json_protocol(self._service):
                    raise JsonRESTError("AccessDeniedException", f"User: {self._access_key.arn} is not "
                                        f"authorized to perform: {action} on resource: {resource}") from None
                raise
            finally:
                if log_path:
                    with open(log_path, "a") as log:
                        log.write(f"{self._access_key.arn}\t{action}\t{resource}\t{outcome}\n")

    access_control.IAMRequestBase.check_action_permitted = check


#: (moto's ACTION_MAP path) -> the IAM action AWS checks for that S3 call
_S3_IAM_NAMES = {
    ("BUCKET", "HEAD", "DEFAULT"): "ListBucket",
    ("BUCKET", "GET", "public_access_block"): "GetBucketPublicAccessBlock",
    ("BUCKET", "GET", "publicAccessBlock"): "GetBucketPublicAccessBlock",
    ("BUCKET", "GET", "encryption"): "GetEncryptionConfiguration",
}


def _one_dynamodb_request_at_a_time() -> None:
    import threading

    from moto.dynamodb.responses import DynamoHandler

    lock = threading.Lock()
    original = DynamoHandler.call_action

    def call_action(self):
        with lock:
            return original(self)

    DynamoHandler.call_action = call_action


def _patch_moto() -> None:
    from moto.iam import access_control
    from moto.s3 import responses as s3_responses

    for (kind, method, key), action in _S3_IAM_NAMES.items():
        s3_responses.ACTION_MAP[kind][method][key] = action

    _authorize_as_aws_does(access_control, os.environ.get("MOTO_IAM_ACTION_LOG"))
    _one_dynamodb_request_at_a_time()

    access_control.IAMRequestBase._create_aws_request = _aws_request_signed_as_sent
    original_match = access_control.IAMPolicyStatement._check_element_matches

    def _resource_matches(self, statement_element, value):
        if statement_element == "Resource" and value == "*":
            return True  # moto did not resolve the resource (see the module docstring, change 2)
        return original_match(self, statement_element, value)

    access_control.IAMPolicyStatement._check_element_matches = _resource_matches


def main() -> None:
    _patch_moto()
    from moto.server import main as moto_main

    moto_main(sys.argv[1:])


if __name__ == "__main__":
    main()
