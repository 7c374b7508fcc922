"""What a run of a site may change, as lock keys: two runs whose keys meet exclude each other (exit 3).

The site lock alone is keyed on the site's *name*; two site files naming the same records, seat group,
Connect group, restore prefix or appliance tunnels under two names would otherwise run at once and undo
each other (a drill's failback over a failover). So every run also locks, all or none, one key per
resource its site file says it may change (``lock_resources``):

- ``dns:ZONE/NAME``                      the records of NAME in hosted zone ZONE (every type: a CNAME
                                         excludes any other record of its name)
- ``vpn-tunnel:SHA256:FP/CONNECTION``    a strongSwan connection of the appliance whose SSH host key has
                                         fingerprint FP (the appliance's identity: the same box reached as
                                         127.0.0.1 or localhost, or moved with ``--allow-site-change``, is
                                         one appliance)
- ``restore-prefix:s3://BUCKET/PREFIX``  where the backup is restored (drills restore below it)
- ``seat-group:REGION/NAME``             the Auto Scaling group of the seats
- ``connect-traffic:GROUP``              the Connect traffic distribution group (with ``connect``)
- ``connect-hours:INSTANCE/HOURS``       the hours of operation the announcement overrides (with
                                         ``connect.announcement``)
- ``status-page:s3://BUCKET/KEY``        the published status page (with ``notify.status_page``)

What a run only reads (the AWS VPN connections, the SFTP server) or only appends to (the SNS topic) is
not locked. Keys are normalised the way the services compare names (hosted zone ids without
``/hostedzone/``, record names lower case with the trailing dot, ids from ARNs), so two spellings of one
resource give one key; docs/team-mode.md says what the lock covers and where it stops.
"""

from __future__ import annotations

import base64
import hashlib

from orchestrator.dns_names import normal_name, normal_zone_id
from orchestrator.site import Site


def lock_resources(site: Site) -> tuple[str, ...]:
    """The keys of everything a run of ``site`` may change, sorted (the order every backend takes them in)."""
    zone = normal_zone_id(site.dns.zone_id).upper()
    keys = {f"dns:{zone}/{normal_name(record.name)}" for record in site.dns.records}
    appliance = site.vpn.appliance
    identity = host_key_fingerprint(appliance.host_key)
    keys |= {f"vpn-tunnel:{identity}/{connection}" for connection in appliance.connections}
    keys.add(f"restore-prefix:s3://{site.backup.bucket}/{site.backup.prefix}")
    keys.add(f"seat-group:{site.region}/{site.seats.asg_name}")
    if site.connect is not None:
        keys.add(f"connect-traffic:{_last_part(site.connect.traffic_distribution_group_id)}")
        if site.connect.announcement is not None:
            instance = _last_part(site.connect.instance_id)
            keys.add(f"connect-hours:{instance}/{_last_part(site.connect.announcement.hours_of_operation_id)}")
    page = site.notify.status_page
    if page is not None:
        keys.add(f"status-page:s3://{page.bucket}/{page.key.lstrip('/')}")
    return tuple(sorted(keys))


def host_key_fingerprint(host_key: str) -> str:
    """``SHA256:...`` of an OpenSSH public key line, as ``ssh-keygen -lf`` prints it."""
    blob = base64.b64decode(host_key.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _last_part(identifier: str) -> str:
    """An id as given, or the id at the end of an ARN (``.../ID``); Connect ids are case-insensitive UUIDs."""
    return identifier.rsplit("/", 1)[-1].lower()
