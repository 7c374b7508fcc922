"""Who may assume the site's roles: one IAM role or user per entry, by its full ARN, never a wildcard.

Pure (no Pulumi import): the stack config (``config.py``), the trust policy (``access.py``) and the policy
pack (``stacks/policy/rules.py``) all judge a principal with :func:`principal_arn_problem`.
"""

from __future__ import annotations

import re
from typing import Any

#: the wildcards of IAM's ``ArnLike``/``StringLike`` conditions
WILDCARDS = ("*", "?")
_ACCOUNT_ROOT = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):root$")
#: one IAM role or user (a path allowed): what aws:PrincipalArn is for a role session or a user
_PRINCIPAL_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")


def principal_arn_problem(arn: str) -> str | None:
    """Why ``arn`` may not be one of the principals that assume the roles, or None when it may: exactly one IAM
    role or user, by its full ARN. A wildcard (``arn:aws:iam::ACCOUNT:*``, ``role/*``, ``role/Admin*``) or the
    account's root would let every matching principal of the account assume the orchestrator role."""
    if any(w in arn for w in WILDCARDS):
        return (f"{arn!r} has a wildcard: every matching principal of the account could assume the roles; give "
                "each role or user by its full ARN (an IAM Identity Center permission set's role too: "
                "AWSReservedSSO_NAME_SUFFIX, as the IAM console shows it)")
    if _ACCOUNT_ROOT.match(arn):
        return f"{arn!r} is the whole account: give each role or user by its full ARN"
    if not _PRINCIPAL_ARN.match(arn):
        return f"{arn!r} is not an IAM role or user ARN (arn:aws:iam::ACCOUNT:role/NAME)"
    return None


def is_account_root(principal: str) -> bool:
    """A trust policy principal that stands for a whole account (its root ARN, or the bare account id)."""
    return bool(_ACCOUNT_ROOT.match(principal)) or bool(re.fullmatch(r"\d{12}", principal))


def ec2_trust(account: str) -> dict[str, Any]:
    """EC2 instances of this account only (the condition the policy pack wants on every trust statement): the
    restore workers' and the watcher's instance roles."""
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": account}}}]}
