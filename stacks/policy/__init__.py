"""The warm site's CrossGuard policy pack (``pulumi preview --policy-pack stacks/policy``): the rules are in
:mod:`stacks.policy.rules`, ``__main__.py`` serves them to the Pulumi CLI."""
