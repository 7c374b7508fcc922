"""Run the CrossGuard policies of ``stacks.policy.rules`` in-process, without the Pulumi CLI.

Input is deliberately plain: ``(type, name, inputs)`` resources (Pulumi type tokens, camelCase inputs, exactly
what ``pulumi.runtime.Mocks.new_resource`` receives) plus the stack outputs (the site file). :func:`check`
turns them into what the Pulumi engine hands a policy pack -- ``ResourceValidationArgs`` per resource,
``StackValidationArgs`` with every resource and the root ``pulumi:pulumi:Stack`` carrying the outputs --
and calls each policy's own ``validate``. So the rules CI runs under Pulumi mocks, against what was
deployed into moto, or on a recording of any other deployment are the ones ``pulumi preview`` enforces.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.policy import _NotApplicableError  # what `args.not_applicable()` raises

from stacks.policy.rules import POLICIES as PACK
from stacks.policy.rules import STACK
from stacks.testing.mocks import PROJECT, Resource

#: the pack's policies by name
POLICIES = {policy.name: policy for policy in PACK}


@dataclass(frozen=True)
class Violation:
    policy: str
    resource: str
    message: str

    def __str__(self) -> str:
        return f"[{self.policy}] {self.resource}: {self.message}"


@dataclass(frozen=True)
class Deployment:
    """What the policies look at, and their config: ``primary_cidrs`` (the cidrs rule), ``owner`` (tags),
    ``secret_values`` (texts that must never appear in the outputs, besides the stack's own secrets)."""

    resources: Sequence[Resource]
    outputs: Mapping[str, Any]
    primary_cidrs: Sequence[str] = ()
    owner: str | None = None
    secret_values: Sequence[str] = field(default_factory=tuple)

    @classmethod
    def of(cls, resources: Iterable[tuple[str, str, Mapping[str, Any]]], outputs: Mapping[str, Any], **kw):
        """Build from plain ``(type, name, inputs)`` tuples."""
        return cls(resources=[Resource(*r) for r in resources], outputs=outputs, **kw)

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def config_for(self, policy: str) -> dict[str, Any]:
        """The policy config a `--policy-pack-config` file would give each policy."""
        config: dict[str, dict[str, Any]] = {
            "cidrs": {"primary_cidrs": list(self.primary_cidrs)},
            "tags": {"owner": self.owner} if self.owner else {},
            "secrets": {"secret_values": list(self.secret_values)},
        }
        return config.get(policy, {})


def check(dep: Deployment, only: Iterable[str] | None = None) -> list[Violation]:
    """Run every policy of the pack (or the named ones); an empty list means the site passes."""
    resources = policy_resources(dep)
    names = {r.urn: r.name for r in resources}
    violations: list[Violation] = []
    for name in list(only) if only is not None else list(POLICIES):
        policy = POLICIES[name]

        def report(message: str, urn: str | None = None, *, policy: str = name) -> None:
            violations.append(Violation(policy, names.get(urn or "", "stack"), message))

        config = dep.config_for(name)
        try:
            if isinstance(policy, ResourceValidationPolicy):
                for r in resources:
                    args = ResourceValidationArgs(r.resource_type, r.props, r.urn, r.name, r.opts, None, config)
                    policy.validate(args, report)
            else:
                policy.validate(StackValidationArgs(resources, config), report)
        except _NotApplicableError as exc:
            violations.append(Violation(name, "stack", f"not applicable: {exc.reason}"))
    return violations


def policy_resources(dep: Deployment) -> list[PolicyResource]:
    """The recorded resources as the engine hands them to a policy pack (secret wrappers unwrapped), plus
    the root stack resource whose outputs are the stack outputs."""
    stack = _policy_resource(STACK, f"{PROJECT}-stack", dict(dep.outputs))
    return [stack, *(_policy_resource(r.type, r.name, deserialize_properties(dict(r.inputs))) for r in dep.resources)]


def _policy_resource(type_: str, name: str, props: Mapping[str, Any]) -> PolicyResource:
    opts = PolicyResourceOptions(False, [], False, [], PolicyCustomTimeouts(0, 0, 0), [])
    return PolicyResource(type_, props, f"urn:pulumi:stack::{PROJECT}::{type_}::{name}", name, opts, None, None, [], {})
