"""The warm secondary site: its configuration, one component per concern, and the program that wires them.

Imported as ``stacks.warm_site`` everywhere: by the Pulumi CLI through ``stacks/__main__.py``, by the tests
and by the sandbox (``stacks.testing.moto`` deploys it into a moto server).
"""
