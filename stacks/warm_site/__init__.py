"""The warm secondary site: its configuration, one component per concern, and the program that wires them.

``stacks/`` is the Pulumi project directory and therefore the import root of this package (the Pulumi CLI
puts the project directory on ``sys.path``); code outside ``stacks/`` adds that directory first, see
``orchestrator.sandbox.pulumi_moto``.
"""
