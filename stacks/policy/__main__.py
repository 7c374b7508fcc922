"""The policy pack's entry point: the Pulumi CLI runs it (``pulumi preview --policy-pack stacks/policy``, which
``make preview`` passes) and talks to the analyzer it serves. The rules live in ``stacks.policy.rules``,
imported from the project's virtualenv (``PulumiPolicy.yaml``), so CI runs the very same functions."""

from pulumi_policy import PolicyPack

from stacks.policy.rules import ENFORCEMENT, POLICIES

PolicyPack(name="cc-dr-site-policies", enforcement_level=ENFORCEMENT, policies=list(POLICIES))
