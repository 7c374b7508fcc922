"""The embedded site: everything a failover needs, on 127.0.0.1, with no AWS account.

``up`` starts a moto server (its own process), the Amazon Connect double (its own process, started while
moto starts; :mod:`orchestrator.sandbox.connect`; ``state["connect"]``, exported as
``AWS_ENDPOINT_URL_CONNECT`` by ``env_for``; the site file's ``connect`` key describes its seeded instance)
and a real OpenSSH sshd, seeds the third-party SFTP account with several days of realistic snapshots,
starts the VPN appliance (as root with strongSwan installed, a real strongSwan pair in two network
namespaces, :mod:`orchestrator.sandbox.tunnel`; otherwise
a ``swanctl`` that speaks strongSwan's output format, :mod:`orchestrator.sandbox.fake_swanctl`; one line,
``state["appliance"]``, says which and why), deploys the warm-site stack from ``stacks/`` into moto through
the moto-backed Pulumi mocks, and writes the site file from the stack outputs. ``down`` stops every
process it started. State lives in ``SANDBOX_DIR/state.json`` (default ``.sandbox/``), so ``down`` works
from another process.

``state["failover_budget"]`` is how many failovers the seats subnets can take (moto never frees the
address of a terminated instance; see :mod:`orchestrator.sandbox.stack`).

AWS latency and faults (moto answers everything at once and never fails) are test tooling: when any of
``SandboxOptions.insync_seconds`` (Route 53 changes stay PENDING that long), ``inservice_seconds`` (new
seats stay Pending that long after a desired-capacity change), ``throttle_rate`` / ``error_rate`` (that
fraction of AWS calls answered with AWS's throttling error / HTTP 503; seeded by ``fault_seed``) is
non-zero, the caller passes ``front`` (the tests and benchmarks pass ``tests.support.awsproxy.start_process``),
which ``up`` starts in front of moto and records in state.json (``state["proxy"]``: endpoint, pid, port);
``env_for`` then points ``AWS_ENDPOINT_URL`` at it and ``down`` stops it. The stack is deployed straight into
moto (no faults), and ``state["moto"]`` still names moto itself.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import structlog

from orchestrator.errors import FatalError, InvalidInput

if TYPE_CHECKING:
    from orchestrator.sandbox.sshd import KeyPair, SshServer

log = structlog.get_logger("sandbox")

#: starts a process in front of moto: ``(moto_endpoint, options, log_file=PATH, on_spawn=RECORD) -> {"endpoint", "pid",
#: ...}``; it calls ``on_spawn`` with that dict as soon as the process exists, before waiting on it
Front = Callable[..., dict[str, Any]]

REGION = "us-west-2"
SITE_NAME = "cc-dr-sandbox"


@dataclass
class SandboxOptions:
    """Knobs (also from the environment: ORCHESTRATOR_SANDBOX_MB, _DAYS, _FILES, _SEATS, _TUNNEL_SECONDS, _APPLIANCE,
    _INSYNC_SECONDS, _INSERVICE_SECONDS, _THROTTLE_RATE, _ERROR_RATE, _FAULT_SEED, _CONNECT, _WORKERS,
    _DOWN_AFTER_SECONDS)."""

    size_mb: float = 200.0
    days: int = 4
    files: int = 60
    seats: int = 40
    #: seconds the fake appliance takes to establish a tunnel after `--initiate`
    tunnel_seconds: float = 0.5
    #: the VPN appliance: ``auto`` (the real strongSwan pair when the machine allows it, else the fake
    #: swanctl), ``real`` (the pair or an error), ``fake``
    appliance: str = "auto"
    team_table: str | None = None
    #: seconds a Route 53 change stays PENDING after ChangeResourceRecordSets (AWS proxy)
    insync_seconds: float = 0.0
    #: seconds new seats stay Pending after SetDesiredCapacity (AWS proxy)
    inservice_seconds: float = 0.0
    #: fraction of AWS calls answered with AWS's throttling error (AWS proxy)
    throttle_rate: float = 0.0
    #: fraction of AWS calls answered with HTTP 503 ServiceUnavailable (AWS proxy)
    error_rate: float = 0.0
    #: seed of the proxy's fault draws
    fault_seed: int = 0
    #: an Amazon Connect site (the Connect double started, the site file's ``connect`` key); off: a SIP/DNS site
    connect: bool = True
    #: restore workers (contract 1.2): with N > 0, an SQS queue and its dead-letter queue in moto, the site
    #: file's ``backup.workers``, and N ``orchestrator restore-worker`` processes (stopped by ``down``)
    workers: int = 0
    #: the site file's ``primary.down_after_seconds``: how long every probe of the sandbox primary must fail
    #: before ``orchestrator watch`` calls it down (small, so the detection demo takes seconds, not minutes)
    down_after_seconds: int = 20

    @property
    def needs_proxy(self) -> bool:
        return any((self.insync_seconds, self.inservice_seconds, self.throttle_rate, self.error_rate))

    @classmethod
    def from_env(cls) -> SandboxOptions:
        env = os.environ
        return cls(
            size_mb=float(env.get("ORCHESTRATOR_SANDBOX_MB", cls.size_mb)),
            days=int(env.get("ORCHESTRATOR_SANDBOX_DAYS", cls.days)),
            files=int(env.get("ORCHESTRATOR_SANDBOX_FILES", cls.files)),
            seats=int(env.get("ORCHESTRATOR_SANDBOX_SEATS", cls.seats)),
            tunnel_seconds=float(env.get("ORCHESTRATOR_SANDBOX_TUNNEL_SECONDS", cls.tunnel_seconds)),
            appliance=env.get("ORCHESTRATOR_SANDBOX_APPLIANCE", cls.appliance),
            team_table=env.get("ORCHESTRATOR_SANDBOX_TEAM_TABLE") or None,
            connect=env.get("ORCHESTRATOR_SANDBOX_CONNECT", "on").strip().lower() not in ("0", "off", "no", "false"),
            insync_seconds=float(env.get("ORCHESTRATOR_SANDBOX_INSYNC_SECONDS", cls.insync_seconds)),
            inservice_seconds=float(env.get("ORCHESTRATOR_SANDBOX_INSERVICE_SECONDS", cls.inservice_seconds)),
            throttle_rate=float(env.get("ORCHESTRATOR_SANDBOX_THROTTLE_RATE", cls.throttle_rate)),
            error_rate=float(env.get("ORCHESTRATOR_SANDBOX_ERROR_RATE", cls.error_rate)),
            fault_seed=int(env.get("ORCHESTRATOR_SANDBOX_FAULT_SEED", cls.fault_seed)),
            workers=int(env.get("ORCHESTRATOR_SANDBOX_WORKERS", cls.workers)),
            down_after_seconds=int(env.get("ORCHESTRATOR_SANDBOX_DOWN_AFTER_SECONDS", cls.down_after_seconds)),
        )


def sandbox_dir() -> Path:
    return Path(os.environ.get("ORCHESTRATOR_SANDBOX_DIR", ".sandbox"))


def state_path(folder: Path | None = None) -> Path:
    return (folder or sandbox_dir()) / "state.json"


def load_state(folder: Path | None = None) -> dict[str, Any] | None:
    path = state_path(folder)
    if not path.exists():
        return None
    return cast("dict[str, Any] | None", json.loads(path.read_text()))


def env_for(state: dict[str, Any]) -> dict[str, str]:
    """What a user exports to point the aws CLI / boto3 / the orchestrator at the sandbox."""
    return {
        "AWS_ENDPOINT_URL": (state.get("proxy") or state["moto"])["endpoint"],
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": state["region"],
        "AWS_REGION": state["region"],
        "ORCHESTRATOR_SITE": state["site_file"],
        **({"AWS_ENDPOINT_URL_CONNECT": state["connect"]["endpoint"]} if "connect" in state else {}),
    }


def apply_env(state: dict[str, Any]) -> None:
    os.environ.update(env_for(state))
    os.environ.pop("AWS_CA_BUNDLE", None)  # a plain-HTTP moto server must not depend on it
    os.environ.pop("AWS_PROFILE", None)


def _already_up(folder: Path) -> dict[str, Any] | None:
    """The running sandbox's state when every part of it is alive; a half-dead one is taken down (None)."""
    existing = load_state(folder)
    if existing and all(_alive(existing[part]["pid"]) for part in ("moto", "sshd", "proxy", "connect")
                        if part in existing) and _tunnel_intact(existing):
        existing["failover_budget"] = _budget(existing)
        log.info("sandbox.already_up", site_file=existing["site_file"], failover_budget=existing["failover_budget"])
        return existing
    if existing:
        down(folder)
    return None


def _write_site_file(folder: Path, site: dict[str, Any], endpoint: str, connect_key: dict[str, Any] | None,
                     options: SandboxOptions, primary: dict[str, Any] | None = None,
                     secondary: dict[str, Any] | None = None) -> str:
    """The deployed stack's outputs, with what lives outside the stack's moto (the Connect double, the restore
    workers' queue, the primary's probes, the secondary SBC's), written as ``folder/site.json``; its absolute
    path."""
    if connect_key is not None:
        site.setdefault("connect", connect_key)  # Amazon Connect lives in the double, not in the stack's moto
    if options.workers > 0:
        site["backup"]["workers"] = {"queue_url": _work_queue(endpoint)}
    if primary is not None:  # what `orchestrator watch` probes (contract 1.2): the sandbox primary
        from orchestrator.sandbox.primary import Ports, probes

        site["primary"] = {"probes": probes(Ports.from_dict(primary["ports"])),
                           "down_after_seconds": options.down_after_seconds}
    if secondary is not None:  # what `smoke.secondary` probes after the cutover: the warm site's SBC
        from orchestrator.sandbox.primary import HOST

        site["secondary"] = {"probes": [{"name": "dr-sbc", "sip": f"{HOST}:{secondary['ports']['sip']}",
                                         "transport": "udp"}]}
    site_file = folder / "site.json"
    site_file.write_text(json.dumps(site, indent=2) + "\n")
    return str(site_file.resolve())


def _require_front(options: SandboxOptions, front: Front | None) -> None:
    if options.needs_proxy and front is None:
        raise InvalidInput("the AWS latency/fault knobs (ORCHESTRATOR_SANDBOX_INSYNC_SECONDS, _INSERVICE_SECONDS, "
                           "_THROTTLE_RATE, _ERROR_RATE) need the fault proxy of the test suite "
                           "(tests/support/awsproxy.py): unset them, or start the sandbox from the tests",
                           source="environment")


def up(folder: Path | None = None, options: SandboxOptions | None = None, *, front: Front | None = None,
       say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Start the embedded site; returns its state (also saved to state.json). Idempotent when up.

    ``front`` starts the AWS fault proxy the latency/fault knobs need (test tooling, not shipped); ``say``
    hears each stage as it starts (the ~10 s start is not silent at a terminal)."""
    say = say or (lambda text: None)
    from orchestrator.sandbox import motoserver, sshd

    folder = folder or sandbox_dir()
    options = options or SandboxOptions.from_env()
    _require_front(options, front)
    running = _already_up(folder)
    if running is not None:
        return running
    folder.mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {"region": REGION, "site": SITE_NAME, "started_at": datetime.now(UTC).isoformat()}
    try:
        # Every child is recorded in state.json as soon as it exists, before it is waited on: `up` killed
        # (even by SIGKILL) while one starts leaves nothing `down` cannot find.
        say("starting the embedded site: moto server (AWS)" + (", Amazon Connect double" if options.connect else "")
            + " …")
        connect = _spawn_connect(folder, state) if options.connect else None  # its start overlaps moto's
        moto = motoserver.start(log_file=folder / "moto.log", on_spawn=_recorder(folder, state, "moto"))
        connect_key = _connect_ready(connect, state) if connect is not None else None
        log.info("sandbox.moto_started", endpoint=moto.endpoint, pid=moto.pid)
        say("starting sshd (the backup provider's SFTP server) and seeding its snapshots …")
        server = sshd.start(on_spawn=_recorder(folder, state, "sshd"))
        state["sshd"] = server.state()
        _save(folder, state)
        log.info("sandbox.sshd_started", port=server.port, pid=server.pid, user=server.username)
        key = sshd.generate_keypair("cc-dr-sandbox")
        server.authorize(key.public_line)
        exports = _seed_snapshots(server.workdir, options)
        say("starting the VPN appliance …")
        appliance = _start_appliance(folder, server, key, options, state)
        _save(folder, state)
        say("deploying the warm-site stack into moto …")
        site = _deploy(moto.endpoint, server, key.private_openssh, exports, appliance, options)
        # what `orchestrator watch` probes, and what the smoke check probes after the cutover
        primary, secondary = _start_primary(folder, state, say=say), _start_secondary_sbc(folder, state)
        state["site_file"] = _write_site_file(folder, site, moto.endpoint, connect_key, options, primary, secondary)
        if options.workers > 0:
            _start_workers(folder, state, options.workers)
        state["appliance_dir"] = str(Path(appliance["swanctl"]).parent)
        state["exports"] = str(exports)
        state["failover_budget"] = _budget(state)
        if options.needs_proxy and front is not None:
            state["proxy"] = front(moto.endpoint, options, log_file=folder / "awsproxy.log",
                                   on_spawn=_recorder(folder, state, "proxy"))
            log.info("sandbox.proxy_started", **state["proxy"])
        _save(folder, state)
    except BaseException:
        down(folder)
        raise
    log.info("sandbox.up", site_file=state["site_file"], failover_budget=state["failover_budget"])
    return state


#: the Amazon Connect instance's home Region in the sandbox; its replica is in the warm site's REGION
CONNECT_PRIMARY_REGION = "us-east-1"
#: agents the sandbox's traffic shift waits for in the target Region (12 are seeded in each Region)
CONNECT_MIN_AGENTS = 5
#: the embedded Connect site's queue thresholds: each traffic shift step waits for the receiving Region's
#: queues (the double's are empty unless a test scripts them)
CONNECT_SHIFT_GUARD = {"contacts_in_queue": 20, "oldest_contact_age_seconds": 60, "hold_limit_seconds": 300,
                       "poll_seconds": 5}


def _spawn_connect(folder: Path, state: dict[str, Any]) -> tuple[Any, Any]:
    """Start the Amazon Connect double (its own process; :mod:`orchestrator.sandbox.connect`), seeded with an
    instance replicated from CONNECT_PRIMARY_REGION to REGION, 100 % of the traffic in the primary."""
    from orchestrator.sandbox.connect import server as connect_double
    from orchestrator.sandbox.connect.world import Seed
    from orchestrator.sandbox.motoserver import HOST, free_port

    seed = Seed.default(primary_region=CONNECT_PRIMARY_REGION, secondary_region=REGION)
    port = free_port()
    process = connect_double.spawn(seed, folder / "connect-seed.json", port, log_file=folder / "connect.log")
    state["connect"] = {"endpoint": f"http://{HOST}:{port}", "pid": process.pid, "port": port}
    _save(folder, state)
    return process, seed


def _connect_ready(started: tuple[Any, Any], state: dict[str, Any]) -> dict[str, Any]:
    """Wait for the double to answer; the site file's ``connect`` key."""
    from orchestrator.sandbox.connect import server as connect_double

    process, seed = started
    try:
        connect_double.wait_healthy(process, state["connect"]["port"])
    except RuntimeError as exc:
        raise FatalError(f"sandbox: {exc}") from None
    log.info("sandbox.connect_started", endpoint=state["connect"]["endpoint"], pid=process.pid)
    return dict(seed.site_key(min_agents_available=CONNECT_MIN_AGENTS, shift_guard=CONNECT_SHIFT_GUARD))


def _tunnel_intact(state: dict[str, Any]) -> bool:
    """The real pair's namespaces are still there (always true for the fake appliance)."""
    names = state.get("tunnel", {}).get("namespaces", {}).values()
    return all(Path("/run/netns", name).exists() for name in names)


def _budget(state: dict[str, Any]) -> int:
    from orchestrator.sandbox.stack import failover_budget

    return failover_budget(json.loads(Path(state["site_file"]).read_text()), state["moto"]["endpoint"])


def down(folder: Path | None = None) -> bool:
    """Stop every process the sandbox started and forget it; False when nothing was up."""
    from orchestrator.sandbox import motoserver, sshd

    folder = folder or sandbox_dir()
    state = load_state(folder)
    if state is None:
        return False
    if "proxy" in state and _ours(state["proxy"]):
        with suppress(Exception):
            motoserver.stop(state["proxy"]["pid"])
    if "tunnel" in state:  # before sshd: the pair's files live in its work dir
        from orchestrator.sandbox import tunnel

        try:
            tunnel.stop(state["tunnel"])
        except Exception as exc:  # the other processes must still be stopped
            log.warning("sandbox.tunnel_stop_failed", error=str(exc))
    for worker in state.get("workers", []):  # before moto and sshd: each finishes or drops its unit
        if motoserver.cmdline_has(int(worker["pid"]), "restore-worker", state.get("site_file", "")):
            with suppress(Exception):
                motoserver.stop(int(worker["pid"]), timeout=30)
    for role in ("primary", "secondary"):
        if state.get(role, {}).get("pid") is not None:
            _stop_primary(state[role])
    if "sshd" in state:
        with suppress(Exception):
            sshd.stop_from_state(state["sshd"])
    if "connect" in state and _ours(state["connect"]):
        with suppress(Exception):
            motoserver.stop(state["connect"]["pid"])
    if "moto" in state and _ours(state["moto"]):
        with suppress(Exception):
            motoserver.stop(state["moto"]["pid"])
    state_path(folder).unlink(missing_ok=True)
    with suppress(FileNotFoundError):
        (folder / "site.json").unlink()
    log.info("sandbox.down")
    return True


#: the embedded site's restore workers' queue and its dead-letter queue (3 receives), both encrypted
WORK_QUEUE = f"{SITE_NAME}-restore-work"


def _work_queue(endpoint: str) -> str:
    """The restore workers' queue in moto (a redrive policy to its dead-letter queue); its AWS-style URL."""
    import boto3

    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint,
                       aws_access_key_id="testing", aws_secret_access_key="testing")  # noqa: S106 (moto's)
    encrypted = {"SqsManagedSseEnabled": "true"}
    dlq = sqs.create_queue(QueueName=f"{WORK_QUEUE}-dlq", Attributes=encrypted)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "3"})
    sqs.create_queue(QueueName=WORK_QUEUE, Attributes={**encrypted, "RedrivePolicy": redrive})
    account = arn.split(":")[4]
    return f"https://sqs.{REGION}.amazonaws.com/{account}/{WORK_QUEUE}"


def _start_workers(folder: Path, state: dict[str, Any], count: int) -> None:
    """``count`` restore-worker processes on the site file, each recorded in state.json as it starts."""
    import subprocess
    import sys

    env = {**os.environ, **env_for(state)}
    env.pop("AWS_CA_BUNDLE", None)
    state["workers"] = []
    for index in range(count):
        log_file = folder / f"worker-{index}.log"
        with log_file.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "orchestrator", "restore-worker", "--site", state["site_file"],
                 "--log-format", "json", "--poll", "5", "--retry-after", "5"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env, start_new_session=True,
            )
        state["workers"].append({"pid": process.pid, "log": str(log_file)})
        _save(folder, state)
    log.info("sandbox.workers_started", workers=count, queue=WORK_QUEUE)


def _start_primary(folder: Path, state: dict[str, Any], ports: dict[str, Any] | None = None,
                   say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The primary's endpoints (:mod:`orchestrator.sandbox.primary`) on ``ports`` (new ones at ``up``), recorded
    in state.json the moment the process exists."""
    from orchestrator.sandbox import primary

    if say is not None:
        say("starting the primary site's endpoints (SBC on TCP, agent desktop on HTTP, SIP OPTIONS on UDP) …")
    chosen = primary.Ports.from_dict(ports) if ports else primary.Ports.pick()
    try:
        child = primary.start(chosen, log_file=folder / "primary.log", on_spawn=_recorder(folder, state, "primary"))
    except RuntimeError as exc:
        raise FatalError(f"sandbox: {exc}; see {folder / 'primary.log'}") from None
    log.info("sandbox.primary_started", pid=child["pid"], **chosen.to_dict())
    return child


def _start_secondary_sbc(folder: Path, state: dict[str, Any]) -> dict[str, Any]:
    """The warm site's SBC: a SIP responder only (the same module as the primary's), recorded in state.json
    the moment it exists; `sandbox primary down` never touches it."""
    from orchestrator.sandbox import primary

    chosen = primary.Ports(sip=primary.Ports.pick().sip)
    try:
        child = primary.start(chosen, role="secondary", log_file=folder / "secondary.log",
                              on_spawn=_recorder(folder, state, "secondary"))
    except RuntimeError as exc:
        raise FatalError(f"sandbox: {exc}; see {folder / 'secondary.log'}") from None
    log.info("sandbox.secondary_sbc_started", pid=child["pid"], sip=chosen.sip)
    return child


def _stop_primary(child: dict[str, Any]) -> None:
    from orchestrator.sandbox import primary

    if primary.ours(child):
        with suppress(Exception):
            primary.stop(int(child["pid"]))


def primary_state(folder: Path | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The running sandbox's state and its primary's record; FatalError when the sandbox is not up."""
    state = load_state(folder or sandbox_dir())
    if state is None or "primary" not in state or "site_file" not in state:
        raise FatalError("the sandbox is not up (orchestrator sandbox up)")
    return state, state["primary"]


def primary_down(folder: Path | None = None) -> bool:
    """Stop the primary's endpoints (TCP and HTTP refused, SIP silent); False when they were already down."""
    folder = folder or sandbox_dir()
    from orchestrator.sandbox.primary import ours

    state, child = primary_state(folder)
    was_up = child.get("pid") is not None and ours(child)
    _stop_primary(child)
    state["primary"] = {**child, "pid": None}
    _save(folder, state)
    log.info("sandbox.primary_down", **child["ports"])
    return was_up


def primary_up(folder: Path | None = None) -> bool:
    """Start the primary's endpoints again on the same ports; False when they were already up."""
    folder = folder or sandbox_dir()
    from orchestrator.sandbox.primary import ours

    state, child = primary_state(folder)
    if ours(child):
        return False
    _start_primary(folder, state, child["ports"])
    return True


def primary_answers(folder: Path | None = None) -> list[tuple[str, bool, str]]:
    """Each of the primary's endpoints probed as `orchestrator watch` probes it: (name, ok, detail)."""
    from orchestrator.sandbox.primary import Ports, answers

    return answers(Ports.from_dict(primary_state(folder)[1]["ports"]))


def _recorder(folder: Path, state: dict[str, Any], part: str) -> Callable[[Any], None]:
    """Records a child in state.json (``state[part]``) the moment it exists, before anyone waits on it."""

    def record(child: Any) -> None:
        state[part] = child.to_dict() if hasattr(child, "to_dict") else dict(child)
        _save(folder, state)

    return record


def _save(folder: Path, state: dict[str, Any]) -> None:
    tmp = state_path(folder).with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(state_path(folder))


def _ours(child: dict[str, Any]) -> bool:
    """The recorded process is still the server the sandbox started (its command line names its port): a
    pid recorded before its process was waited on may outlive it and be reused by another program."""
    from orchestrator.sandbox.motoserver import cmdline_has

    return cmdline_has(int(child["pid"]), str(child["port"]))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _seed_snapshots(workdir: Path, options: SandboxOptions) -> Path:
    """Daily snapshots at 02:00 UTC, the newest within the RPO, plus one still being written (no
    SHA256SUMS yet) to show that only complete snapshots are restored."""
    from orchestrator.sandbox import snapshots

    exports = workdir / "exports" / "contact-center"
    exports.mkdir(parents=True, mode=0o755)
    now = datetime.now(UTC)
    newest = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    infos = snapshots.make_snapshots(exports, newest=newest, days=options.days, files=options.files,
                                     total_mb=options.size_mb)
    snapshots.make_incomplete(exports, snapshots.snapshot_name(now.replace(microsecond=0)), files=5,
                              total_mb=min(5.0, options.size_mb))
    _world_readable(exports)
    log.info("sandbox.snapshots_seeded", snapshots=[i.name for i in infos], mb_each=options.size_mb)
    return exports


def _world_readable(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def _start_appliance(
    folder: Path, server: SshServer, key: KeyPair, options: SandboxOptions, state: dict[str, Any]
) -> dict[str, Any]:
    """The VPN appliance's endpoint (host, port, username, host_key, swanctl): the real strongSwan pair when
    the machine allows it (``state["tunnel"]``), else the fake ``swanctl`` on the sandbox's sshd; either way
    ``state["appliance"]`` is the one line that says which, and why."""
    from orchestrator.sandbox import tunnel

    reason = _real_pair_refused(options)
    if reason is None:
        # saved before anything exists, so that down() finds every name even after a crash mid-start
        state["tunnel"] = tunnel.plan(server.workdir / "tunnel")
        _save(folder, state)
        tunnel.start(state["tunnel"], server.username, list(CONNECTIONS))
        appliance = _real_appliance(state["tunnel"], key)
        namespaces = ", ".join(state["tunnel"]["namespaces"].values())
        state["appliance"] = (f"real strongSwan pair in network namespaces {namespaces}; "
                              f"ping {state['tunnel']['probe']} through the tunnel")
    else:
        appliance = _fake_appliance(server, options)
        state["appliance"] = f"fake swanctl (no real tunnel): {reason}"
    log.info("sandbox.appliance", detail=state["appliance"])
    return appliance


#: the appliance's connections (CHILD SA names) in the sandbox
CONNECTIONS = ("dr-tunnel-1",)


def _real_pair_refused(options: SandboxOptions) -> str | None:
    from orchestrator.sandbox import tunnel

    if options.appliance not in ("auto", "real", "fake"):
        raise InvalidInput(f"ORCHESTRATOR_SANDBOX_APPLIANCE={options.appliance!r}: expected auto, real or fake",
                           source="environment")
    if options.appliance == "fake":
        return "ORCHESTRATOR_SANDBOX_APPLIANCE=fake"
    reason = tunnel.unavailable_reason()
    if reason and options.appliance == "real":
        raise InvalidInput(f"ORCHESTRATOR_SANDBOX_APPLIANCE=real, but the real strongSwan pair cannot run: {reason}",
                           source="environment")
    return reason


def _real_appliance(pair: dict[str, Any], key: KeyPair) -> dict[str, Any]:
    from orchestrator.sandbox import sshd

    server = sshd.start_in_namespace(pair["namespaces"]["app"], Path(pair["workdir"]) / "sshd")
    server.authorize(key.public_line)
    # the probe lives on the far side of the pair's tunnel: stack config, so the stack outputs it
    return {"host": server.host, "port": server.port, "username": server.username,
            "host_key": server.host_key_line, "swanctl": pair["swanctl"], "probe": pair["probe"]}


def _fake_appliance(server: SshServer, options: SandboxOptions) -> dict[str, Any]:
    from orchestrator.sandbox import fake_swanctl

    swanctl = fake_swanctl.install(server.workdir / "appliance", owner=server.username,
                                   ike_names={"dr-tunnel-1": "s2s"}, establish_after_seconds=options.tunnel_seconds)
    return {"host": server.host, "port": server.port, "username": server.username,
            "host_key": server.host_key_line, "swanctl": str(swanctl)}


def _deploy(endpoint: str, server: SshServer, private_key: str, exports: Path, appliance: dict[str, Any],
            options: SandboxOptions) -> dict[str, Any]:
    from orchestrator.sandbox.stack import deploy, sandbox_config

    endpoint_cfg = {"host": server.host, "port": server.port, "username": server.username,
                    "host_key": server.host_key_line, "private_key": private_key}
    config = sandbox_config(
        appliance={**appliance, "private_key": private_key},
        sftp={**endpoint_cfg, "path": str(exports)},
        site=SITE_NAME, region=REGION, state_table=options.team_table, warm=2, target=options.seats,
    )
    return _with_status_page(deploy(config, endpoint), endpoint)


def _with_status_page(site: dict[str, Any], endpoint: str) -> dict[str, Any]:
    """The live status page (issue 15) published to a private bucket in moto, so that `make failover`
    exercises the upload and prints a link that works while the sandbox is up. A stack that already
    outputs ``notify.status_page`` keeps its own; so does a stack that declares the IAM roles (``access``):
    a bucket added here would be outside their policies, and the least-privilege proof would be wrong."""
    if site["notify"].get("status_page") or site.get("access"):
        return site
    import boto3

    bucket = f"{SITE_NAME}-status-page"
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=endpoint,
                      aws_access_key_id="testing", aws_secret_access_key="testing")  # noqa: S106 (moto's)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    site["notify"]["status_page"] = {"bucket": bucket, "key": "status/index.html"}
    return site


def remove(folder: Path | None = None) -> None:
    """Remove the sandbox folder entirely (after down)."""
    shutil.rmtree(folder or sandbox_dir(), ignore_errors=True)
