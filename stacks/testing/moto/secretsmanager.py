"""Secrets Manager: the appliance key and other secrets."""

from __future__ import annotations

from stacks.testing.moto.base import Service, tag_list


class SecretsManager(Service):
    TYPES = {
        "aws:secretsmanager/secret:Secret": "_secret",
        "aws:secretsmanager/secretVersion:SecretVersion": "_secret_version",
    }

    def _secret(self, name: str, inputs: dict) -> tuple[str, dict]:
        answer = self.client("secretsmanager").create_secret(
            Name=inputs["name"], Description=inputs.get("description", ""), Tags=tag_list(inputs.get("tags"))
        )
        return answer["ARN"], {"arn": answer["ARN"], "name": answer["Name"]}

    def _secret_version(self, name: str, inputs: dict) -> tuple[str, dict]:
        answer = self.client("secretsmanager").put_secret_value(
            SecretId=inputs["secretId"], SecretString=inputs["secretString"]
        )
        return f"{answer['ARN']}|{answer['VersionId']}", {
            "arn": answer["ARN"],
            "versionId": answer["VersionId"],
        }
