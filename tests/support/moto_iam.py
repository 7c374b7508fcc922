"""A moto server that enforces IAM, for the least-privilege tests (tests/stacks/test_least_privilege.py).

moto 5.2.5 authenticates and authorizes every call once ``INITIAL_NO_AUTH_ACTION_COUNT`` calls have been
served (the env variable at start; ``POST /moto-api/reset-auth`` sets it again at run time). The embedded
site is built with enforcement off (the count is huge); :func:`enforce` then turns it on (count 0), and
every later call needs an IAM user's access key whose policies allow it.

Two changes are made to moto **in this server process only** (``python -m tests.support.moto_iam``), never
to the product, never to the other moto servers of the suite. Both are documented in docs/permissions.md:

1. **Route 53 GET signatures** (a moto bug). moto re-computes a request's SigV4 signature from
   ``data=self._body or self._data``: for a GET, the body is empty, so moto signs its parsed parameters
   (``self._data``) as if they were a form body, while the client signed an empty payload. Every Route 53
   GET (``ListHostedZones``, ``GetHostedZone``, ``GetChange``, ``ListResourceRecordSets``) is then refused
   with ``SignatureDoesNotMatch`` even for a principal allowed ``*``. The fix: a request with an empty body
   is re-signed with an empty body (:func:`_aws_request_signed_as_sent`). The signature is still checked.
2. **Resources moto does not resolve.** moto 5.2.5 authorizes S3 calls against the bucket/object ARN, but
   calls to Route 53, Auto Scaling, EC2, SNS, Secrets Manager and DynamoDB against the resource ``"*"``
   (it has no resource resolution for them). A statement scoped to an ARN can never match ``"*"``, so a
   correctly scoped policy would be refused everything. The change: a request whose resource moto did not
   resolve (``"*"``) matches any statement's ``Resource`` (:func:`_resource_matches`); actions are still
   checked exactly, and S3 resources (bucket, prefix) are still checked exactly. That the ARNs of the other
   services name this site's resources is asserted separately, against what was deployed.
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


def start(port: int | None = None, *, log_file: str | Path | None = None,
          timeout: float = 30.0) -> motoserver.MotoServerState:
    """Start this module as the moto server (same contract as ``orchestrator.sandbox.motoserver.start``)."""
    port = port or motoserver.free_port()
    endpoint = f"http://{motoserver.HOST}:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_CA_BUNDLE", "AWS_ENDPOINT_URL")}
    env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(NO_AUTH_WHILE_BUILDING)
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
    try:
        motoserver.wait_ready(endpoint, timeout, process)
    except motoserver.MotoUnavailable:
        motoserver.stop(process.pid)
        raise
    return motoserver.MotoServerState(endpoint, process.pid, port, str(log_file) if log_file else None)


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


def _patch_moto() -> None:
    from moto.iam import access_control

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
