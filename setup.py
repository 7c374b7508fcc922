"""Which packages the wheel holds (the rest of the metadata is in pyproject.toml).

Every package under ``orchestrator/`` and ``stacks/`` (found, so a new subpackage cannot be forgotten), plus
``orchestrator.runbooks``, which is the top-level ``runbooks/`` folder mapped in: that folder stays the one
copy users read and edit, the wheel carries it as package data (see docs/decisions.md). The status page's
``templates/`` folder holds no Python but is an importable name: listed too, or every build prints a 30-line
setuptools banner about it.
"""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["orchestrator", "orchestrator.*", "stacks", "stacks.*"]),
        "orchestrator.runbooks",
        "orchestrator.status_page.templates",
    ],
    package_dir={"orchestrator.runbooks": "runbooks"},
)
