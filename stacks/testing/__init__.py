"""Running the stack program without the Pulumi CLI: under recording mocks, deployed into a moto server,
and its CrossGuard policies run in-process on what was declared or deployed."""
