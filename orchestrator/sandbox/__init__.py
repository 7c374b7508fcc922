"""The embedded site behind ``orchestrator sandbox up/down/env/run``: a moto server process (``motoserver``), a
real OpenSSH sshd (``sshd``) holding generated backup snapshots (``snapshots``), the VPN appliance (a real
strongSwan pair in network namespaces, ``tunnel`` and ``netns_port``, or the fake ``swanctl``,
``fake_swanctl``), and the warm-site stack deployed into moto (``stack``); ``site`` ties them up.

Nothing here is used by a failover against a real site. Test-only tooling (the AWS fault proxy, the test step
kinds) lives in tests/support/.
"""

from __future__ import annotations

import importlib.util

from orchestrator.errors import FatalError

#: how a user gets what the sandbox needs (the [sandbox] extra: moto's server and the Pulumi SDKs)
INSTALL_HINT = "pip install 'cc-failover-orchestrator[sandbox]'"
#: the modules the [sandbox] extra brings: moto and its server (flask), the warm-site program's SDKs
EXTRA_MODULES = ("moto", "flask", "pulumi", "pulumi_aws")


class SandboxUnavailable(FatalError):
    """The [sandbox] extra is not installed."""


def missing_modules() -> list[str]:
    """The modules of the [sandbox] extra that cannot be imported here."""
    missing = []
    for name in EXTRA_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a broken install, or a module blocked in sys.modules
            found = False
        if not found:
            missing.append(name)
    return missing


def require_extra() -> None:
    """SandboxUnavailable naming what is missing and how to install it, before anything starts."""
    missing = missing_modules()
    if missing:
        raise SandboxUnavailable(
            f"the sandbox needs the [sandbox] extra ({', '.join(missing)} not installed): {INSTALL_HINT}"
        )
