"""The embedded site's VPN appliance as a real strongSwan pair (root, network namespaces, Debian packages).

Two network namespaces joined by a veth pair, each with its own charon daemon (``kernel-libipsec``: ESP
in user space over a TUN device, since the kernel here has no ESP), negotiating IKEv2 with a pre-shared
key over UDP-encapsulated ESP (see the shared FACTS, "A real VPN tunnel in tests"):

* ``ccdr-TAG-app`` is the customer's appliance: its charon initiates, its own sshd (reached from the host's
  127.0.0.1 through :mod:`orchestrator.sandbox.netns_port`) runs the ``swanctl`` wrapper and ``ping``
  there, as on a real appliance. Outer address 192.0.2.1, inside address 198.51.100.1.
* ``ccdr-TAG-aws`` is the AWS side: its charon answers; the probe address 198.51.100.129 (inside the
  "VPC" range 198.51.100.128/25) lives there and answers pings only through the tunnel.

Only documentation addresses, only inside the namespaces: nothing is added to the host namespace.
:func:`stop` kills every process in both namespaces and deletes them (which removes the veth pair and
the TUN devices with them). :func:`unavailable_reason` says why the machine cannot have the pair.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from orchestrator.errors import FatalError

log = structlog.get_logger("sandbox.tunnel")

CHARON = "/usr/lib/ipsec/charon"
SWANCTL = "/usr/sbin/swanctl"
LIBIPSEC = "/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so"
PING = "/usr/bin/ping"
IKE_NAME = "s2s"
#: the order matters: kernel-libipsec before kernel-netlink (FACTS)
PLUGINS = "random nonce aes sha1 sha2 hmac gmp kdf kernel-libipsec kernel-netlink socket-default vici"

OUTER = {"app": "192.0.2.1", "aws": "192.0.2.2"}
APPLIANCE_INSIDE = "198.51.100.1/32"
VPC_RANGE = "198.51.100.128/25"
PROBE = "198.51.100.129"
#: the far side's traffic selector when it is misconfigured: the VPC range without the probe
WRONG_FAR_SELECTOR = "198.51.100.192/26"
#: addresses on each side's loopback: libipsec installs a tunnel's route only with a local address inside
#: the local selector, so the far side also has a host in the misconfigured range (a real VPC would)
INSIDE = {"app": (APPLIANCE_INSIDE,), "aws": (f"{PROBE}/32", "198.51.100.193/32")}


class TunnelUnavailable(FatalError):
    """The real strongSwan pair could not be started."""


def unavailable_reason() -> str | None:
    """Why this machine cannot run the real pair (None when it can): root, the programs, netns."""
    if os.geteuid() != 0:
        return "not root (network namespaces and charon need root)"
    missing = [p for p in (CHARON, SWANCTL, LIBIPSEC, PING, "/usr/sbin/sshd") if not Path(p).exists()]
    if missing or shutil.which("ip") is None:
        return ("missing " + ", ".join(missing or ["ip"]) + " (apt-get install strongswan-charon "
                "strongswan-swanctl libcharon-extra-plugins iputils-ping iproute2)")
    return None


@dataclass(frozen=True)
class Layout:
    """The names and files of one pair (``tag`` keeps two sandboxes on one machine apart)."""

    tag: str
    workdir: Path

    @property
    def namespaces(self) -> dict[str, str]:
        return {side: f"ccdr-{self.tag}-{side}" for side in ("app", "aws")}

    @property
    def links(self) -> dict[str, str]:
        return {"app": f"cc{self.tag}a", "aws": f"cc{self.tag}b"}

    def side_dir(self, side: str) -> Path:
        return self.workdir / side

    def vici(self, side: str) -> Path:
        return self.side_dir(side) / "charon.vici"


def plan(workdir: Path) -> dict[str, Any]:
    """The names of a new pair (namespaces, links, files): the state :func:`stop` needs, known before
    :func:`start` creates anything."""
    layout = Layout(secrets.token_hex(3), Path(workdir))
    return {"tag": layout.tag, "workdir": str(layout.workdir), "namespaces": layout.namespaces,
            "links": layout.links, "probe": PROBE}


def start(
    state: dict[str, Any], login_user: str, children: list[str], *, far_selector: str = VPC_RANGE
) -> dict[str, Any]:
    """Bring the pair of :func:`plan` up (namespaces, link, both charons with their connections loaded, the
    appliance's swanctl wrapper); adds ``swanctl`` to ``state``. Stops what it started on failure."""
    layout = Layout(state["tag"], Path(state["workdir"]))
    try:
        _make_network(layout)
        psk = secrets.token_urlsafe(24)
        for side in ("app", "aws"):
            _start_charon(layout, side)
            _load(layout, side, _swanctl_conf(side, children, psk, far_selector))
        _give_socket(layout.vici("app"), login_user)
        state["swanctl"] = str(_install_wrapper(layout, login_user))
    except BaseException:
        stop(state)
        raise
    log.info("sandbox.tunnel_up", namespaces=list(layout.namespaces.values()), probe=PROBE)
    return state


def stop(state: dict[str, Any]) -> None:
    """Kill every process in the pair's namespaces, delete them (the veth and TUN devices go with them)."""
    for name in state.get("namespaces", {}).values():
        _kill_namespace_processes(name)
        _ip("netns", "del", name, check=False)
    for link in state.get("links", {}).values():  # only left when a start failed half-way
        _ip("link", "del", link, check=False)
    with contextlib.suppress(OSError):
        shutil.rmtree(state["workdir"])


def netns_exec(namespace: str, *command: str) -> list[str]:
    return ["ip", "netns", "exec", namespace, *command]


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise TunnelUnavailable(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


def _make_network(layout: Layout) -> None:
    ns, links = layout.namespaces, layout.links
    for side in ("app", "aws"):
        _ip("netns", "add", ns[side])
    _ip("link", "add", links["app"], "type", "veth", "peer", "name", links["aws"])
    for side in ("app", "aws"):
        _ip("link", "set", links[side], "netns", ns[side])
        _ip("-n", ns[side], "addr", "add", f"{OUTER[side]}/24", "dev", links[side])
        _ip("-n", ns[side], "link", "set", links[side], "up")
        _ip("-n", ns[side], "link", "set", "lo", "up")
        for address in INSIDE[side]:
            _ip("-n", ns[side], "addr", "add", address, "dev", "lo")


def _strongswan_conf(side_dir: Path) -> str:
    return f"""charon {{
  load = {PLUGINS}
  install_routes = yes
  plugins {{
    vici {{
      socket = unix://{side_dir / 'charon.vici'}
    }}
  }}
  filelog {{
    charon {{
      path = {side_dir / 'charon.log'}
      default = 1
      ike = 2
      flush_line = yes
      time_format = %T
    }}
  }}
}}
"""


def _start_charon(layout: Layout, side: str) -> None:
    """charon in the side's namespace, with its own /run (its pid file is fixed at /var/run/charon.pid)."""
    side_dir = layout.side_dir(side)
    (side_dir / "run").mkdir(parents=True, exist_ok=True)
    conf = side_dir / "strongswan.conf"
    conf.write_text(_strongswan_conf(side_dir))
    script = 'mount --bind "$1" /run && exec "$2"'
    with open(side_dir / "charon.stderr", "ab") as err:
        subprocess.Popen(
            netns_exec(layout.namespaces[side], "sh", "-c", script, "sh", str(side_dir / "run"), CHARON),
            env={**os.environ, "STRONGSWAN_CONF": str(conf)},
            stdin=subprocess.DEVNULL, stdout=err, stderr=err, start_new_session=True,
        )
    _wait_for(layout.vici(side), what=f"charon ({side} side)", log_file=side_dir / "charon.log")


def _wait_for(path: Path, *, what: str, log_file: Path, timeout: float = 30.0) -> None:
    """Until ``path`` (charon's vici socket) accepts a connection: the file appears before charon listens on
    it, and a ``swanctl`` run in between is refused (exit 111, seen on a loaded machine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _accepts(path):
            return
        time.sleep(0.02)
    tail = " | ".join(log_file.read_text(errors="replace").splitlines()[-3:]) if log_file.exists() else ""
    raise TunnelUnavailable(f"{what} did not open {path} within {timeout:.0f}s {tail}".strip())


def _accepts(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


def _swanctl_conf(side: str, children: list[str], psk: str, far_selector: str) -> str:
    """The IKE SA ``s2s`` with one CHILD SA per connection name; the appliance initiates, AWS answers."""
    me, peer = ("a", "b") if side == "app" else ("b", "a")
    local_ts, remote_ts = (APPLIANCE_INSIDE, VPC_RANGE) if side == "app" else (far_selector, APPLIANCE_INSIDE)
    kids = "\n".join(
        f"      {name} {{\n        local_ts = {local_ts}\n        remote_ts = {remote_ts}\n"
        f"        esp_proposals = aes256-sha256\n        start_action = none\n      }}"
        for name in children
    )
    return f"""connections {{
  {IKE_NAME} {{
    version = 2
    local_addrs = {OUTER[side]}
    remote_addrs = {OUTER['aws' if side == 'app' else 'app']}
    encap = yes
    proposals = aes256-sha256-modp2048
    local {{
      auth = psk
      id = {me}.swan.test
    }}
    remote {{
      auth = psk
      id = {peer}.swan.test
    }}
    children {{
{kids}
    }}
  }}
}}
secrets {{
  ike-pair {{
    id-a = a.swan.test
    id-b = b.swan.test
    secret = "{psk}"
  }}
}}
"""


def _load(layout: Layout, side: str, conf_text: str) -> None:
    conf = layout.side_dir(side) / "swanctl.conf"
    conf.touch(mode=0o600)  # the pre-shared key: root only
    conf.write_text(conf_text)
    result = subprocess.run([SWANCTL, "--load-all", "--file", str(conf), "--uri", f"unix://{layout.vici(side)}"],
                            capture_output=True, text=True, check=False, timeout=30)
    if result.returncode != 0:
        raise TunnelUnavailable(f"swanctl --load-all ({side} side) exited {result.returncode}: "
                                f"{(result.stdout + result.stderr).strip()[-300:]}")


def _give_socket(vici: Path, user: str) -> None:
    """The appliance's login user drives charon through this socket (the directory must be reachable)."""
    shutil.chown(vici, user)
    for folder in (vici.parent, vici.parent.parent):
        folder.chmod(0o755)


def _install_wrapper(layout: Layout, user: str) -> Path:
    """``swanctl`` for the appliance's login user: the real one, aimed at this pair's charon."""
    wrapper = layout.workdir / "appliance" / "swanctl"
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    wrapper.parent.chmod(0o755)
    conf = wrapper.parent / "strongswan.conf"
    conf.write_text("swanctl {\n  load = random nonce\n}\n")  # what swanctl needs: no plugin-load noise
    conf.chmod(0o644)
    wrapper.write_text(f'#!/bin/sh\n# the appliance\'s charon has its own vici socket\n'
                       f'STRONGSWAN_CONF={conf} exec {SWANCTL} "$@" --uri unix://{layout.vici("app")}\n')
    wrapper.chmod(0o755)
    shutil.chown(wrapper.parent, user)
    return wrapper


def _kill_namespace_processes(namespace: str, timeout: float = 5.0) -> None:
    """SIGTERM every process living in ``namespace`` (all of them ours), then SIGKILL what is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = _namespace_pids(namespace)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while _namespace_pids(namespace) and time.monotonic() < deadline:
            time.sleep(0.02)
        if not _namespace_pids(namespace):
            return


def _namespace_pids(namespace: str) -> list[int]:
    """The processes in ``namespace``, and those about to enter it: an ``ip netns exec NAMESPACE ...`` that
    has not called setns yet (a ``sandbox up`` killed right then must leave nothing ``down`` cannot find)."""
    result = _ip("netns", "pids", namespace, check=False)
    pids = {int(p) for p in result.stdout.split() if p.isdigit()} | set(_entering(namespace))
    return sorted(p for p in pids if not _zombie(p))


def _entering(namespace: str) -> list[int]:
    """Processes whose command line is still ``ip netns exec NAMESPACE ...`` (started, not yet inside)."""
    wanted = ["netns", "exec", namespace]
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if argv[1:4] == wanted and Path(argv[0]).name == "ip":
            found.append(int(proc.name))
    return found


def _zombie(pid: int) -> bool:
    try:
        return "State:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True


def listening_socket() -> socket.socket:
    """A socket listening on a free port of the host's 127.0.0.1 (handed to :mod:`netns_port`)."""
    sock = socket.create_server(("127.0.0.1", 0))
    sock.set_inheritable(True)
    return sock


def start_port(namespace: str, target_port: int, log_file: Path) -> tuple[int, int]:
    """A host 127.0.0.1 port leading to ``target_port`` inside ``namespace``; (host port, pid)."""
    sock = listening_socket()
    program = Path(__file__).with_name("netns_port.py")
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    try:
        with open(log_file, "ab") as out:
            process = subprocess.Popen(
                netns_exec(namespace, python, str(program), str(sock.fileno()), str(target_port)),
                pass_fds=(sock.fileno(),), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                start_new_session=True,
            )
        return sock.getsockname()[1], process.pid
    finally:
        sock.close()
