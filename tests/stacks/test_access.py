"""The access component: the roles the stack declares, their trust, the site file's access key, and the
generated permissions document (docs/permissions.md)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from orchestrator.errors import InvalidInput
from orchestrator.site import parse_site
from stacks import permissions_doc
from stacks.warm_site import config as config_module
from stacks.warm_site.access import UNSCOPABLE_ACTIONS, SiteArns, orchestrator_policy, readiness_policy
from tests.stacks.conftest import OPERATOR_ROLE, PULUMI_AWS_DEPRECATIONS, _fake_arn, declare, good_config

pytestmark = PULUMI_AWS_DEPRECATIONS

REPO = Path(__file__).resolve().parents[2]
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
OIDC = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"


@pytest.fixture(scope="module")
def declared():
    """The good config's outputs and recorded resources (declared once for the module)."""
    return declare(good_config())


def _inputs(mocks, type_: str, name_part: str) -> dict:
    (found,) = [r.inputs for r in mocks.resources if r.type == type_ and name_part in r.name]
    return dict(found)


def test_the_committed_permissions_doc_is_the_generated_one():
    """docs/permissions.md is exactly what `python -m stacks.permissions_doc` writes (regenerate it)."""
    assert (REPO / "docs" / "permissions.md").read_text() == permissions_doc.render()


def test_declared_role_policies_are_built_from_the_declared_resources_arns(declared):
    """Each role's inline policy is the access module's policy for the ARNs of the resources the program
    declared (zone, group, bucket and prefix, topic, both key secrets, the team table, the status page)."""
    outputs, mocks = declared
    arns = SiteArns(
        zone_id=outputs["dns"]["zone_id"],
        group_arn=_fake_arn("aws:autoscaling/group:Group", "cc-test-agent-seats"),
        bucket_arn=_fake_arn("aws:s3/bucket:Bucket", "cc-dr-test-restore"), prefix="restored/",
        topic_arn=outputs["notify"]["topic_arn"],
        secret_arns=(_fake_arn("aws:secretsmanager/secret:Secret", "cc-dr-test/appliance-key"),
                     _fake_arn("aws:secretsmanager/secret:Secret", "cc-dr-test/backup-key")),
        table_arn=_fake_arn("aws:dynamodb/table:Table", "cc-dr-test-runs"),
        status_page_arn=_fake_arn("aws:s3/bucket:Bucket", "cc-dr-test-status") + "/status/index.html",
    )
    orchestrator = json.loads(_inputs(mocks, ROLE_POLICY, "orchestrator")["policy"])
    assert orchestrator == orchestrator_policy(arns)
    assert json.loads(_inputs(mocks, ROLE_POLICY, "readiness")["policy"]) == readiness_policy(arns)


def test_only_the_unscopable_actions_have_resource_star():
    """Every statement with Resource "*" holds only actions AWS cannot scope; no action is a wildcard."""
    arns = SiteArns("Z1", "arn:g", "arn:aws:s3:::b", "p/", "arn:t", ("arn:s1", "arn:s2"), "arn:d")
    for policy in (orchestrator_policy(arns), readiness_policy(arns)):
        for statement in policy["Statement"]:
            assert all("*" not in action for action in statement["Action"])
            if statement["Resource"] == "*":
                assert set(statement["Action"]) <= UNSCOPABLE_ACTIONS


def test_trust_names_the_principals_and_one_repository_and_branch(declared):
    """Both roles trust the configured principals (ArnEquals on aws:PrincipalArn, their account's root as the
    principal) and GitHub Actions only for repo example-org/cc-dr on branch main, audience STS."""
    _, mocks = declared
    for purpose in ("orchestrator", "readiness"):
        trust = json.loads(_inputs(mocks, ROLE, purpose)["assumeRolePolicy"])
        operators, github = trust["Statement"]
        assert operators["Principal"] == {"AWS": ["arn:aws:iam::123456789012:root"]}
        assert operators["Condition"] == {"ArnEquals": {"aws:PrincipalArn": [OPERATOR_ROLE]}}
        assert github["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert github["Condition"]["StringEquals"] == {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": "repo:example-org/cc-dr:ref:refs/heads/main",
        }
    assert _inputs(mocks, OIDC, "github")["url"] == "https://token.actions.githubusercontent.com"


def test_an_existing_oidc_provider_is_reused_not_created():
    """With github.provider_arn the stack creates no provider and trusts the given one."""
    config = good_config()
    provider = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    config["access"]["github"]["provider_arn"] = provider
    _, mocks = declare(config)
    assert not [r for r in mocks.resources if r.type == OIDC]
    trust = json.loads(_inputs(mocks, ROLE, "orchestrator")["assumeRolePolicy"])
    assert trust["Statement"][1]["Principal"] == {"Federated": provider}


def test_without_access_config_there_are_no_roles_and_no_access_key():
    """access is optional: without it the stack declares no IAM and the site file has no access key."""
    config = good_config()
    del config["access"]
    outputs, mocks = declare(config)
    assert "access" not in outputs
    assert not [r for r in mocks.resources if r.type.startswith("aws:iam/")]


def test_the_site_file_names_both_role_arns(declared):
    """The outputs' access key holds the two role ARNs, and the orchestrator's site schema accepts it."""
    outputs, _ = declared
    assert outputs["access"] == {"orchestrator_role_arn": "arn:aws:iam::123456789012:role/cc-dr-test-orchestrator",
                                 "readiness_role_arn": "arn:aws:iam::123456789012:role/cc-dr-test-readiness"}
    site = parse_site(copy.deepcopy(outputs), "site.json")
    assert site.access is not None and site.access.orchestrator_role_arn.endswith("/cc-dr-test-orchestrator")


def test_the_site_file_refuses_an_access_key_that_is_not_a_role_arn(declared):
    """A wrong access value is invalid input naming the key path."""
    outputs, _ = declared
    bad = copy.deepcopy(outputs)
    bad["access"]["readiness_role_arn"] = "arn:aws:iam::123456789012:user/someone"
    with pytest.raises(InvalidInput, match=r"access\.readiness_role_arn"):
        parse_site(bad, "site.json")


def test_stack_config_refuses_an_access_key_nobody_can_use():
    """access with neither principals nor github is refused (a role nobody can assume)."""
    config = good_config()
    config["access"] = {"principals": []}
    with pytest.raises(config_module.ConfigError, match=r"access: .*principals, github"):
        config_module.parse_config(config)


@pytest.mark.parametrize(("path", "value", "where"), [
    (("access", "principals"), ["*"], r"access\.principals"),
    (("access", "principals"), ["arn:aws:s3:::bucket"], r"access\.principals"),
    # issue 23 #15: a wildcard, or the account itself, would let the whole account assume the roles
    (("access", "principals"), ["arn:aws:iam::123456789012:*"], r"access\.principals.*has a wildcard"),
    (("access", "principals"), ["arn:aws:iam::123456789012:role/*"], r"access\.principals.*has a wildcard"),
    (("access", "principals"), ["arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Ops_*"],
     r"access\.principals.*has a wildcard"),
    (("access", "principals"), ["arn:aws:iam::123456789012:role/dr-operato?"], r"access\.principals.*wildcard"),
    (("access", "principals"), ["arn:aws:iam::123456789012:root"], r"access\.principals.*the whole account"),
    (("access", "principals"), ["arn:aws:iam::123456789012:group/ops"], r"access\.principals.*not an IAM role"),
    (("access", "github", "repository"), "no-owner", r"access\.github\.repository"),
    (("access", "github", "branch"), "release/*", r"access\.github\.branch"),
    (("access", "github", "provider"), "x", r"access\.github\.provider"),
])
def test_stack_config_refuses_bad_access_values(path, value, where):
    """Principals must be full IAM role or user ARNs (no wildcard, not the account), the repository OWNER/NAME,
    the branch one branch (no wildcard)."""
    config = good_config()
    node = config
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(config_module.ConfigError, match=where):
        config_module.parse_config(config)


@pytest.mark.parametrize(("page", "orchestrator_seconds"), [
    ({"bucket": "cc-dr-test-status"}, 43200),  # the default link expiry: 12 h
    ({"bucket": "cc-dr-test-status", "link_expiry_seconds": 7200}, 7200),
    ({"bucket": "cc-dr-test-status", "link_expiry_seconds": 600}, 3600),  # IAM's minimum
    (None, 3600),
])
def test_the_orchestrator_role_session_outlives_the_status_page_links(page, orchestrator_seconds):
    """A presigned link signed with a role session dies with the session: the orchestrator role (which signs
    the links) may hold sessions as long as the configured link expiry (within IAM's 1-12 h); the readiness
    role signs nothing and keeps 1 h."""
    config = good_config()
    if page is None:
        del config["notify"]["status_page"]
    else:
        config["notify"]["status_page"] = page
    _, mocks = declare(config)
    assert _inputs(mocks, ROLE, "orchestrator")["maxSessionDuration"] == orchestrator_seconds
    assert _inputs(mocks, ROLE, "readiness")["maxSessionDuration"] == 3600


def test_stack_config_refuses_links_longer_than_a_role_session():
    """With the stack's roles, a link expiry past 12 h (IAM's longest role session) cannot be kept: refused,
    naming the key; without roles (long-term keys may sign) S3's 7 days stay the bound."""
    config = good_config()
    config["notify"]["status_page"] = {"bucket": "cc-dr-test-status", "link_expiry_seconds": 43201}
    with pytest.raises(config_module.ConfigError, match=r"notify\.status_page\.link_expiry_seconds: 43201 .*12 h"):
        config_module.parse_config(config)
    del config["access"]
    assert config_module.parse_config(config).notify.status_page.link_expiry_seconds == 43201


def test_stack_config_refuses_the_status_page_in_the_restore_bucket():
    """The page in the restore bucket could land on a restore marker or be deleted by a drill: refused."""
    config = good_config()
    config["notify"]["status_page"] = {"bucket": config["backup"]["bucket"]}
    with pytest.raises(config_module.ConfigError, match=r"notify\.status_page\.bucket: .*restore bucket"):
        config_module.parse_config(config)
