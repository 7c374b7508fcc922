#!/usr/bin/env python3
"""A stand-in for strongSwan's ``swanctl`` that the sandbox appliance runs over SSH when the real strongSwan pair
cannot run (not root, packages missing; see :mod:`orchestrator.sandbox.tunnel`), and that the tests configure.

Standard library only: :func:`install` copies this file as an executable ``swanctl`` (shebang to a
Python the SSH login user can run) into a directory that also holds its config and state:

* ``swanctl.json`` (config): ``mode`` = ``normal`` | ``never`` | ``auth-fail`` | ``hang`` (every
  command sleeps ``hang_seconds``, then fails: an appliance whose charon stopped answering) | ``flap``
  (a tunnel establishes, shows ESTABLISHED/INSTALLED on one ``--list-sas``, then is gone: DPD
  tearing it down);
  ``establish_after_polls`` (that many ``--list-sas`` calls after an initiate show CONNECTING, then
  ESTABLISHED: clock-free and deterministic, for tests); ``establish_after_seconds`` (wall time, for
  the sandbox and benches); ``ike_names`` {child: IKE SA name} (default ``ike-CHILD``).
* ``swanctl.state.json`` (state, under a lock): per child name, when it was initiated, polls seen,
  whether it is established, and how many times it was initiated / terminated (so tests can check
  that a step was not applied twice).

Supports ``--initiate --child NAME [--timeout N]``, ``--terminate --child NAME [--timeout N]`` and
``--list-sas [--raw]``, printing strongSwan 5.9's own output format.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

CONFIG_NAME = "swanctl.json"
STATE_NAME = "swanctl.state.json"
DEFAULT_CONFIG = {
    "mode": "normal",
    "establish_after_polls": 0,
    "establish_after_seconds": 0.0,
    "ike_names": {},
    "hang_seconds": 30.0,
}


def _home() -> Path:
    return Path(os.environ.get("FAKE_SWANCTL_DIR") or Path(sys.argv[0]).resolve().parent)


def load_config(directory: Path) -> dict[str, Any]:
    config = dict(DEFAULT_CONFIG)
    with contextlib.suppress(FileNotFoundError):
        config.update(json.loads((directory / CONFIG_NAME).read_text()))
    return config


@contextlib.contextmanager
def locked_state(directory: Path) -> Iterator[dict[str, Any]]:
    """The state dict, read and written back under an exclusive lock."""
    with open(directory / (STATE_NAME + ".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = directory / STATE_NAME
        try:
            state = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            state = {"children": {}}
        yield state
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        tmp.replace(path)


def _spi(name: str, salt: int) -> str:
    return f"{(zlib.crc32(name.encode()) << 32 | salt) & 0xFFFFFFFFFFFFFFFF:016x}"


def _ike_name(config: dict[str, Any], child: str) -> str:
    return cast("str", config.get("ike_names", {}).get(child, f"ike-{child}"))


def _advance(entry: dict[str, Any], config: dict[str, Any], now: float) -> None:
    """One --list-sas look at a connecting child: establish it once its delay has passed."""
    if entry["established"] or config["mode"] not in ("normal", "flap"):
        entry["polls"] += 1
        return
    polls_ok = entry["polls"] >= int(config["establish_after_polls"])
    time_ok = now - entry["initiated_at"] >= float(config["establish_after_seconds"])
    if polls_ok and time_ok:
        entry["established"] = True
        entry["established_at"] = now
    entry["polls"] += 1


def _plain_block(ike: str, child: str, entry: dict[str, Any], now: float) -> str:
    uid = entry["uniqueid"]
    if not entry["established"]:
        return (
            f"{ike}: #{uid}, CONNECTING, IKEv2, {_spi(ike, uid)}_i* 0000000000000000_r\n"
            f"  local  '%any' @ 192.0.2.1[500]\n"
        )
    age = int(now - entry.get("established_at", now))
    return (
        f"{ike}: #{uid}, ESTABLISHED, IKEv2, {_spi(ike, uid)}_i* {_spi(child, uid)}_r\n"
        f"  local  'a.swan.test' @ 192.0.2.1[4500]\n"
        f"  remote 'b.swan.test' @ 192.0.2.2[4500]\n"
        f"  AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048\n"
        f"  established {age}s ago, rekeying in {max(0, 14393 - age)}s\n"
        f"  {child}: #{uid}, reqid {uid}, INSTALLED, TUNNEL-in-UDP, ESP:AES_CBC-256/HMAC_SHA2_256_128\n"
        f"    installed {age}s ago, rekeying in {max(0, 3391 - age)}s, expires in {max(0, 3960 - age)}s\n"
        f"    in  2a1c0e10, 117471176 bytes, 101058 packets,     0s ago\n"
        f"    out 2cfa7ff7,    168 bytes,     2 packets,     0s ago\n"
        f"    local  198.51.100.1/32\n"
        f"    remote 198.51.100.129/32\n"
    )


def _raw_block(ike: str, child: str, entry: dict[str, Any]) -> str:
    uid = entry["uniqueid"]
    state = "ESTABLISHED" if entry["established"] else "CONNECTING"
    children = ""
    if entry["established"]:
        children = (
            f" child-sas {{{child}-{uid} {{name={child} uniqueid={uid} reqid={uid} state=INSTALLED "
            f"mode=TUNNEL protocol=ESP encap=yes local-ts=[198.51.100.1/32] "
            f"remote-ts=[198.51.100.129/32]}}}}"
        )
    return (
        f"list-sa event {{{ike} {{uniqueid={uid} version=2 state={state} local-host=192.0.2.1 "
        f"remote-host=192.0.2.2 initiator=yes{children}}}}}\n"
    )


def list_sas(directory: Path, raw: bool) -> int:
    config, now = load_config(directory), time.time()
    out = []
    with locked_state(directory) as state:
        for child, entry in state["children"].items():
            if not entry.get("active"):
                continue
            _advance(entry, config, now)
            ike = _ike_name(config, child)
            out.append(_raw_block(ike, child, entry) if raw else _plain_block(ike, child, entry, now))
            if config["mode"] == "flap" and entry["established"]:  # shown once, gone from the next look on
                entry.update(active=False, established=False)
                entry["flaps"] = entry.get("flaps", 0) + 1
    sys.stdout.write("".join(out) + ("list-sas reply {}\n" if raw else ""))
    return 0


def initiate(directory: Path, child: str, timeout: float | None) -> int:
    config, now = load_config(directory), time.time()
    ike = _ike_name(config, child)
    with locked_state(directory) as state:
        state["next_id"] = state.get("next_id", 0) + 1
        entry = state["children"].setdefault(child, {"initiations": 0, "terminations": 0})
        entry["initiations"] += 1
        if not (entry.get("active") and entry.get("established")):
            entry.update(active=True, established=False, initiated_at=now, polls=0, uniqueid=state["next_id"])
        print(f"[IKE] initiating IKE_SA {ike}[{entry['uniqueid']}] to 192.0.2.2")
        print("[ENC] generating IKE_SA_INIT request 0 [ SA KE No N(NATD_S_IP) N(NATD_D_IP) N(FRAG_SUP) ]")
        if config["mode"] == "auth-fail":
            entry["active"] = False
            print("[IKE] authentication of 'a.swan.test' (myself) with pre-shared key")
            print(f"[IKE] establishing CHILD_SA {child}{{{entry['uniqueid']}}}")
            print("[ENC] parsed IKE_AUTH response 1 [ N(AUTH_FAILED) ]")
            print("[IKE] received AUTHENTICATION_FAILED notify error")
            print(f"initiate failed: establishing CHILD_SA '{child}' failed")
            return 1
        ready = (
            config["mode"] in ("normal", "flap")
            and int(config["establish_after_polls"]) == 0
            and float(config["establish_after_seconds"]) <= 0
        )
        if ready or entry["established"]:
            entry.update(established=True, established_at=entry.get("established_at", now))
            print(
                f"[IKE] IKE_SA {ike}[{entry['uniqueid']}] established between 192.0.2.1[a.swan.test]..."
                "192.0.2.2[b.swan.test]"
            )
            print(
                f"[IKE] CHILD_SA {child}{{{entry['uniqueid']}}} established with SPIs 2a1c0e10_i 2cfa7ff7_o"
            )
            print("initiate completed successfully")
            return 0
    print(f"initiate failed: CHILD_SA '{child}' not established after {int((timeout or 0) * 1000)}ms")
    return 1


def terminate(directory: Path, child: str) -> int:
    with locked_state(directory) as state:
        entry = state["children"].get(child)
        if not entry or not entry.get("active"):
            print("terminate failed: no matching SAs to terminate found")
            return 1
        entry.update(active=False, established=False)
        entry["terminations"] = entry.get("terminations", 0) + 1
        print(f"[IKE] closing CHILD_SA {child}{{{entry['uniqueid']}}} with SPIs 2a1c0e10_i 2cfa7ff7_o")
    print("terminate completed successfully")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="swanctl")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--initiate", "-i", action="store_true")
    action.add_argument("--terminate", "-t", action="store_true")
    action.add_argument("--list-sas", "-l", action="store_true")
    parser.add_argument("--child", "-c")
    parser.add_argument("--ike")
    parser.add_argument("--timeout", type=float)
    parser.add_argument("--raw", "-r", action="store_true")
    parser.add_argument("--uri", "-u")
    args = parser.parse_args(argv)
    directory = _home()
    if load_config(directory)["mode"] == "hang":
        time.sleep(float(load_config(directory)["hang_seconds"]))
        print("connecting to 'unix:///var/run/charon.vici' failed: Connection timed out", file=sys.stderr)
        return 1
    if args.list_sas:
        return list_sas(directory, args.raw)
    if not args.child:
        print("--child is required", file=sys.stderr)
        return 1
    if args.initiate:
        return initiate(directory, args.child, args.timeout)
    return terminate(directory, args.child)


# --- used by the fixtures and the sandbox (never by the appliance) ---------------------------------


def install(directory: str | Path, python: str | None = None, owner: str | None = None, **config: object) -> Path:
    """Copy this program as ``DIRECTORY/swanctl`` with its config; returns the executable's path.

    ``python`` defaults to a system Python (the venv's may live under /root, unreadable by the login
    user); ``owner`` gets the directory so the program can keep its state there.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    interpreter = python or ("/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable)
    source = Path(__file__).read_text().split("\n", 1)[1]
    target = directory / "swanctl"
    target.write_text(f"#!{interpreter}\n{source}")
    target.chmod(0o755)
    configure(directory, **config)
    if owner and os.geteuid() == 0:
        for path in (directory, directory / CONFIG_NAME):
            shutil.chown(path, owner, owner)
    return target


def configure(directory: str | Path, **config: object) -> None:
    """Merge ``config`` into the program's config file (mode, establish_after_polls, ...)."""
    path = Path(directory) / CONFIG_NAME
    current = load_config(Path(directory))
    current.update(config)
    path.write_text(json.dumps(current, indent=1))
    path.chmod(0o644)


def read_state(directory: str | Path) -> dict[str, Any]:
    """The program's state (per child: initiations, terminations, established, polls)."""
    try:
        return cast("dict[str, Any]", json.loads((Path(directory) / STATE_NAME).read_text()))
    except FileNotFoundError:
        return {"children": {}}


def reset(directory: str | Path) -> None:
    """Forget every SA (keeps the config)."""
    for name in (STATE_NAME, STATE_NAME + ".lock"):
        with contextlib.suppress(FileNotFoundError):
            (Path(directory) / name).unlink()


if __name__ == "__main__":
    sys.exit(main())
