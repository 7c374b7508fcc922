"""The warm-site Pulumi project as an importable package (installed with the orchestrator, see
docs/decisions.md): ``stacks.warm_site`` is the program, ``stacks.policy`` its CrossGuard policy pack,
``stacks.testing`` runs the program without the Pulumi CLI (under mocks, or deployed into moto).

``stacks/__main__.py`` is the Pulumi CLI's entry point; it imports ``stacks.warm_site`` from the project's
virtualenv (``Pulumi.yaml`` names the repository's ``.venv``, where ``make install`` installed this package).
"""
