"""The stack program: wire one component per concern and shape the outputs as the site file (schema 1).

:func:`build_site` is the whole program. ``__main__.py`` calls it with the config read from Pulumi and
exports each top-level key; CI and the sandbox call it under Pulumi mocks and resolve the same outputs.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi

from stacks.warm_site.access import Access, AccessArgs, ConnectArns, SiteArns, session_seconds, watcher_policy
from stacks.warm_site.config import SiteConfig, SshEndpointConfig
from stacks.warm_site.connect import Connect, ConnectArgs
from stacks.warm_site.dns import Dns, DnsArgs, RecordSpec
from stacks.warm_site.evidence import Evidence, EvidenceArgs
from stacks.warm_site.network import Network, NetworkArgs
from stacks.warm_site.notify import Notify, NotifyArgs
from stacks.warm_site.restore import Restore, RestoreArgs
from stacks.warm_site.seats import IngressRule, Seats, SeatsArgs
from stacks.warm_site.state import State, StateArgs
from stacks.warm_site.status_page import StatusPage, StatusPageArgs
from stacks.warm_site.tags import Tags
from stacks.warm_site.vpn import Vpn, VpnArgs
from stacks.warm_site.watcher import Watcher, WatcherArgs
from stacks.warm_site.workers import Workers, WorkersArgs

SITE_SCHEMA = 1


def build_site(cfg: SiteConfig) -> dict[str, Any]:
    """Declare the warm site's resources; return the site file's top-level keys (values may be Outputs)."""
    tags = Tags(site=cfg.site, owner=cfg.owner)
    network = _network(cfg, tags)
    vpn = _vpn(cfg, tags, network)
    seats = _seats(cfg, tags, network)
    restore = _restore(cfg, tags)
    dns = _dns(cfg, tags)
    notify = Notify(f"{cfg.site}-notify", NotifyArgs(topic_name=cfg.notify.topic_name, tags=tags))
    outputs: dict[str, Any] = {
        "schema": SITE_SCHEMA,
        "site": cfg.site,
        "region": cfg.region,
        "objectives": cfg.objectives.model_dump(),
        "dns": {"zone_id": dns.zone_id, "records": [_record_output(r) for r in cfg.dns.records]},
        "vpn": {
            "connection_ids": [vpn.connection_id],
            "appliance": _endpoint_output(cfg.vpn.appliance, vpn.key_secret_name)
            | {
                "kind": cfg.vpn.appliance.kind,
                "connections": cfg.vpn.appliance.connections,
                "swanctl": cfg.vpn.appliance.swanctl,
                **({"probe": cfg.vpn.appliance.probe} if cfg.vpn.appliance.probe is not None else {}),
            },
        },
        "backup": {
            "sftp": _endpoint_output(cfg.backup.sftp, restore.key_secret_name)
            | {"path": cfg.backup.sftp.path},
            "bucket": restore.bucket_name,
            "prefix": cfg.backup.prefix,
            **({"critical": list(cfg.backup.critical)} if cfg.backup.critical is not None else {}),
        },
        "seats": {"asg_name": seats.asg_name, "warm": cfg.seats.warm, "target": cfg.seats.target},
        "notify": {"topic_arn": notify.topic_arn},
    }
    status_page = _status_page(cfg, tags)
    if status_page is not None:
        outputs["notify"]["status_page"] = _status_page_output(cfg, status_page)
    state = None
    if cfg.state is not None:
        state = State(f"{cfg.site}-state", StateArgs(table_name=cfg.state.table, tags=tags))
        outputs["state"] = {"table": state.table_name}
    connect = None
    if cfg.connect is not None:
        connect = Connect(f"{cfg.site}-connect", ConnectArgs(config=cfg.connect, tags=tags))
        outputs["connect"] = connect.site_file_key()
    workers = None
    if cfg.backup.workers is not None:
        workers = _workers(cfg, tags, network, restore)
        outputs["backup"]["workers"] = {"queue_url": workers.queue_url}
        workers.fleet(dict(outputs))
    evidence = None
    if cfg.evidence is not None:
        evidence = Evidence(f"{cfg.site}-evidence", EvidenceArgs(
            bucket_name=cfg.evidence.bucket, retention_days=cfg.evidence.retention_days, tags=tags,
            kms_key_id=cfg.evidence.kms_key_id))
        outputs["evidence"] = {"bucket": evidence.bucket_name, "retention_days": cfg.evidence.retention_days}
    if cfg.primary is not None:
        outputs["primary"] = cfg.primary.model_dump(exclude_none=True)
    if cfg.secondary is not None:
        outputs["secondary"] = cfg.secondary.model_dump(exclude_none=True)
    if cfg.access is not None or cfg.watcher is not None:
        arns = _site_arns(cfg, dns, seats, restore, vpn, notify, state, connect, status_page, workers, evidence)
    if cfg.access is not None:
        access = _access(cfg, tags, arns)
        outputs["access"] = {"orchestrator_role_arn": access.orchestrator_role_arn,
                             "readiness_role_arn": access.readiness_role_arn}
    if cfg.watcher is not None:
        _watcher(cfg, tags, network, notify, arns).start(dict(outputs))
    return outputs


def _site_arns(cfg: SiteConfig, dns: Dns, seats: Seats, restore: Restore, vpn: Vpn, notify: Notify,
               state: State | None, connect: Connect | None, status_page: StatusPage | None,
               workers: Workers | None = None, evidence: Evidence | None = None) -> pulumi.Output:
    """The ARNs of the resources declared above (an Output of :class:`SiteArns`): what the roles are scoped to."""
    page = cfg.notify.status_page
    return pulumi.Output.all(
        dns.zone_id, seats.group.arn, restore.bucket.arn, notify.topic_arn, vpn.key_secret.arn,
        restore.key_secret.arn, state.table.arn if state is not None else None, _connect_arns(cfg, connect),
        status_page.bucket.arn if status_page is not None else None,
        workers.queue.arn if workers is not None else None,
        evidence.bucket.arn if evidence is not None else None,
    ).apply(lambda v: SiteArns(zone_id=v[0], group_arn=v[1], bucket_arn=v[2], prefix=cfg.backup.prefix,
                               topic_arn=v[3], secret_arns=(v[4], v[5]), table_arn=v[6], connect=v[7],
                               status_page_arn=f"{v[8]}/{page.key}" if v[8] and page else None,
                               work_queue_arn=v[9], evidence_bucket_arn=v[10]))


def _access(cfg: SiteConfig, tags: Tags, arns: pulumi.Output) -> Access:
    """The orchestrator and readiness roles, scoped to the site's ARNs."""
    assert cfg.access is not None
    page = cfg.notify.status_page
    github = cfg.access.github
    return Access(f"{cfg.site}-access", AccessArgs(
        site=cfg.site, arns=arns, principals=list(cfg.access.principals), tags=tags,
        github_repository=github.repository if github else None,
        github_branch=github.branch if github else "main",
        github_provider_arn=github.provider_arn if github else None,
        orchestrator_session_seconds=session_seconds(page.link_expiry_seconds if page else None),
    ))


def _watcher(cfg: SiteConfig, tags: Tags, network: Network, notify: Notify, arns: pulumi.Output) -> Watcher:
    """The instance that runs `orchestrator watch` in the warm site, its role scoped to the site's ARNs."""
    wanted, primary = cfg.watcher, cfg.primary
    assert wanted is not None and primary is not None
    alarms = tuple(p.alarm for p in primary.probes if p.alarm is not None)
    return Watcher(f"{cfg.site}-watcher", WatcherArgs(
        site=cfg.site, interval_seconds=wanted.interval_seconds, stage=wanted.stage,
        policy=arns.apply(lambda a: json.dumps(watcher_policy(a, alarms, wanted.stage))),
        account=notify.topic_arn.apply(lambda arn: arn.split(":")[4]),
        subnet_ids=network.subnet_ids, vpc_id=network.vpc_id, instance_type=wanted.instance_type, ami=wanted.ami,
        tags=tags,
    ))


def _connect_arns(cfg: SiteConfig, connect: Connect | None) -> pulumi.Output | None:
    """What the roles' Connect statements are scoped to (None: the site has no Connect)."""
    if connect is None or cfg.connect is None:
        return None
    wanted = cfg.connect
    return pulumi.Output.all(connect.instance_arn, connect.hours_of_operation_id, connect.prompt_id).apply(
        lambda v: ConnectArns.of(
            instance_arn=v[0], regions=(wanted.primary_region, wanted.secondary_region),
            traffic_distribution_group_id=wanted.traffic_distribution_group_id, hours_of_operation_id=v[1],
            prompt_id=v[2], queue_ids=tuple(wanted.queue_ids) if wanted.min_agents_available or wanted.shift_guard
            else (),
            test_call=wanted.test_call is not None))


def _status_page(cfg: SiteConfig, tags: Tags) -> StatusPage | None:
    page = cfg.notify.status_page
    if page is None:
        return None
    return StatusPage(f"{cfg.site}-status-page",
                      StatusPageArgs(bucket_name=page.bucket, tags=tags, kms_key_id=page.kms_key_id))


def _status_page_output(cfg: SiteConfig, status_page: StatusPage) -> dict[str, Any]:
    """The site file's ``notify.status_page``: where the page is published and how long its links live."""
    page = cfg.notify.status_page
    assert page is not None
    return {"bucket": status_page.bucket_name, "key": page.key, "link_expiry_seconds": page.link_expiry_seconds}


def _network(cfg: SiteConfig, tags: Tags) -> Network:
    net = cfg.network
    return Network(
        f"{cfg.site}-net",
        NetworkArgs(net.vpc_cidr, list(net.subnet_cidrs), tags, availability_zones=net.availability_zones),
    )


def _vpn(cfg: SiteConfig, tags: Tags, network: Network) -> Vpn:
    return Vpn(
        f"{cfg.site}-vpn",
        VpnArgs(
            vpc_id=network.vpc_id,
            route_table_ids=network.route_table_ids,
            customer_gateway_ip=cfg.vpn.customer_gateway_ip,
            bgp_asn=cfg.vpn.bgp_asn,
            primary_cidrs=list(cfg.network.primary_cidrs),
            key_secret_name=cfg.vpn.appliance.private_key_secret,
            tags=tags,
            private_key=cfg.vpn.appliance.private_key,
        ),
    )


def _seats(cfg: SiteConfig, tags: Tags, network: Network) -> Seats:
    seats = cfg.seats
    rules = [
        IngressRule(r.description, r.protocol, r.from_port, r.to_port, list(r.cidrs)) for r in seats.ingress
    ]
    return Seats(
        f"{cfg.site}-seats",
        SeatsArgs(
            asg_name=seats.asg_name,
            vpc_id=network.vpc_id,
            subnet_ids=network.subnet_ids,
            warm=seats.warm,
            max=seats.max,
            instance_type=seats.instance_type,
            ami=seats.ami,
            tags=tags,
            ingress=rules,
        ),
    )


def _restore(cfg: SiteConfig, tags: Tags) -> Restore:
    backup = cfg.backup
    return Restore(
        f"{cfg.site}-restore",
        RestoreArgs(
            bucket_name=backup.bucket,
            key_secret_name=backup.sftp.private_key_secret,
            tags=tags,
            kms_key_id=backup.kms_key_id,
            private_key=backup.sftp.private_key,
        ),
    )


def _workers(cfg: SiteConfig, tags: Tags, network: Network, restore: Restore) -> Workers:
    wanted = cfg.backup.workers
    assert wanted is not None
    return Workers(f"{cfg.site}-workers", WorkersArgs(
        queue_name=wanted.queue_name, max_receives=wanted.max_receives, visibility_seconds=wanted.visibility_seconds,
        bucket_arn=restore.bucket.arn, prefix=cfg.backup.prefix, secret_arn=restore.key_secret.arn,
        subnet_ids=network.subnet_ids, vpc_id=network.vpc_id, max_workers=wanted.max_workers,
        instance_type=wanted.instance_type, ami=wanted.ami, tags=tags,
    ))


def _dns(cfg: SiteConfig, tags: Tags) -> Dns:
    specs = [RecordSpec(r.name, r.type, r.ttl, list(r.primary), list(r.secondary)) for r in cfg.dns.records]
    return Dns(
        f"{cfg.site}-dns",
        DnsArgs(cfg.dns.zone_name, specs, tags, zone_id=cfg.dns.zone_id, create_zone=cfg.dns.create_zone),
    )


def _record_output(record) -> dict[str, Any]:
    values = {"primary": record.primary, "secondary": record.secondary}
    # One value is written as a plain string, as in the contract's example.
    values = {k: v[0] if len(v) == 1 else v for k, v in values.items()}
    return {"name": record.name, "type": record.type, "ttl": record.ttl, **values}


def _endpoint_output(endpoint: SshEndpointConfig, secret_name) -> dict[str, Any]:
    """An SSH endpoint as the site file wants it: the secret's NAME, never the key itself."""
    return {
        "host": endpoint.host,
        "port": endpoint.port,
        "username": endpoint.username,
        "host_key": endpoint.host_key,
        "private_key_secret": secret_name,
    }
