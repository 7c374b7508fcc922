"""Pulumi entry point: read the stack config (the only place pulumi.Config is read), build, export.

Every top-level key of the site file is exported on its own, so `pulumi stack output --json` prints the
site file (contract schema 1) and nothing else.
"""

import pulumi

from stacks.warm_site.config import parse_config
from stacks.warm_site.program import build_site

OBJECT_KEYS = ("objectives", "network", "dns", "vpn", "backup", "seats", "notify")
#: optional sections (stacks/README.md): team mode, the roles, Amazon Connect sites (docs/connect.md), the
#: evidence bucket, detection (the primary's and the secondary's probes, the watcher)
OPTIONAL_KEYS = ("state", "access", "connect", "evidence", "primary", "secondary", "watcher")
SECRET_KEYS = {  # config secret -> where its value goes in the config dict
    "appliancePrivateKey": ("vpn", "appliance"),
    "sftpPrivateKey": ("backup", "sftp"),
}


def read_config() -> dict:
    """The stack config as the plain dict `warm_site.config.parse_config` takes."""
    config = pulumi.Config()
    raw: dict = {
        "site": config.require("site"),
        "owner": config.require("owner"),
        "region": pulumi.Config("aws").require("region"),
        **{key: config.require_object(key) for key in OBJECT_KEYS},
    }
    for key in OPTIONAL_KEYS:
        value = config.get_object(key)
        if value:
            raw[key] = value
    for key, (section, endpoint) in SECRET_KEYS.items():
        if "private_key" in raw[section][endpoint]:
            raise pulumi.RunError(
                f"{section}.{endpoint}.private_key must not be in plain config: "
                f"use `pulumi config set --secret {key} < keyfile`"
            )
        raw[section][endpoint]["private_key"] = config.get_secret(key)
    return raw


for name, value in build_site(parse_config(read_config())).items():
    pulumi.export(name, value)
