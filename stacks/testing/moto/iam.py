"""IAM: the orchestrator's role, its policies, the OIDC provider."""

from __future__ import annotations

from stacks.testing.moto.base import Service, tag_list


class Iam(Service):
    TYPES = {
        "aws:iam/role:Role": "_role",
        "aws:iam/rolePolicy:RolePolicy": "_role_policy",
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider": "_oidc_provider",
    }

    def _role(self, name: str, inputs: dict) -> tuple[str, dict]:
        role = self.client("iam").create_role(
            RoleName=inputs["name"], AssumeRolePolicyDocument=inputs["assumeRolePolicy"],
            Description=inputs.get("description", ""), MaxSessionDuration=int(inputs.get("maxSessionDuration", 3600)),
            Tags=tag_list(inputs.get("tags")),
        )["Role"]
        return role["RoleName"], {"arn": role["Arn"], "name": role["RoleName"], "uniqueId": role["RoleId"]}

    def _role_policy(self, name: str, inputs: dict) -> tuple[str, dict]:
        self.client("iam").put_role_policy(
            RoleName=inputs["role"], PolicyName=inputs["name"], PolicyDocument=inputs["policy"]
        )
        return f"{inputs['role']}:{inputs['name']}", {}

    def _oidc_provider(self, name: str, inputs: dict) -> tuple[str, dict]:
        arn = self.client("iam").create_open_id_connect_provider(
            Url=inputs["url"], ClientIDList=list(inputs.get("clientIdLists") or []),
            ThumbprintList=list(inputs.get("thumbprintLists") or []), Tags=tag_list(inputs.get("tags")),
        )["OpenIDConnectProviderArn"]
        return arn, {"arn": arn}
