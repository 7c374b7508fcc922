"""A Secrets Manager secret that holds an SSH private key, by name only.

The key text comes from a Pulumi config secret (encrypted in state and never exported) or, when the
operator prefers to keep it out of Pulumi entirely, the secret is created without a value and filled with
``aws secretsmanager put-secret-value`` (see stacks/README.md). Stack outputs carry the secret's NAME only.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from stacks.warm_site.tags import Tags


def private_key_secret(
    name: str, secret_name: str, key_text: Any, tags: Tags, parent: pulumi.Resource
) -> aws.secretsmanager.Secret:
    """Create the secret; store ``key_text`` (marked secret) as its value when one is given."""
    secret = aws.secretsmanager.Secret(
        name,
        name=secret_name,
        description=f"OpenSSH private key ({secret_name}); value set from config or by the operator",
        tags=tags.of(secret_name),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    if key_text is not None:
        aws.secretsmanager.SecretVersion(
            name,
            secret_id=secret.id,
            secret_string=pulumi.Output.secret(key_text),
            opts=pulumi.ResourceOptions(parent=parent),
        )
    return secret
