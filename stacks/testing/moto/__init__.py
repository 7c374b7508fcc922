"""Deploy the warm-site stack program into a moto server, without the Pulumi CLI.

The very program the Pulumi CLI runs (:func:`stacks.warm_site.program.build_site`) runs here under
``pulumi.runtime.set_mocks``. :class:`MotoMocks` turns each resource registration into the boto3 calls
that create it for real in moto, and answers with moto's ids and outputs (camelCase, like a provider).
:func:`deploy_into_moto` runs the program and returns the resolved stack outputs: the site file.
The sandbox (``orchestrator sandbox up``) and the tests use it.

Pulumi calls ``Mocks.new_resource`` from several threads; clients and the resource log are guarded.

One module per AWS service, as moto itself is laid out: ``ec2``, ``autoscaling``, ``s3``, ``secretsmanager``,
``sns``, ``dynamodb``, ``iam``, ``route53`` each translate their resource types (a ``Service`` of ``base``);
``mocks`` dispatches to them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import structlog

from stacks.testing.mocks import run_under_mocks
from stacks.testing.moto.base import MOTO_ACCOUNT, MotoAccount, Service
from stacks.testing.moto.mocks import MOTO_AMI_NAMES, SERVICES, MotoMocks
from stacks.warm_site import config as config_module
from stacks.warm_site import program as program_module

__all__ = ["MOTO_ACCOUNT", "MOTO_AMI_NAMES", "SERVICES", "MotoAccount", "MotoMocks", "Service", "deploy_into_moto"]

log = structlog.get_logger("stacks.testing.moto")


def deploy_into_moto(
    config: Mapping[str, Any], endpoint_url: str, *, mocks: MotoMocks | None = None
) -> dict[str, Any]:
    """Create the site described by ``config`` (the stack config dict, see stacks/README.md) in the moto
    server at ``endpoint_url``; return the stack outputs, i.e. the site file, as plain data.

    ``seats.ami`` is replaced by an image moto knows when moto does not know it. Pass ``mocks`` to keep
    the record of what was created (``mocks.resources``) for policy checks.
    """
    mocks = mocks or MotoMocks(endpoint_url, config["region"])
    raw = copy.deepcopy(dict(config))
    raw["seats"]["ami"] = mocks.known_ami(raw["seats"].get("ami"))
    cfg = config_module.parse_config(raw)
    outputs = run_under_mocks(lambda: program_module.build_site(cfg), mocks, stack=cfg.site)
    log.info("sandbox.deployed", site=cfg.site, resources=len(mocks.resources), skipped=mocks.skipped)
    return outputs
