"""strongSwan's ``swanctl`` output, parsed: ``--list-sas`` (plain and ``--raw``) and ``--initiate``.

The shapes are those of strongSwan 5.9 (see samples in the shared docs). An IKE SA line starts at
column 0 (``s2s: #4, ESTABLISHED, IKEv2, ...``); its CHILD SAs are indented by two spaces
(``  net: #4, reqid 1, INSTALLED, TUNNEL-in-UDP, ...``); deeper lines are details. The IKE SA and the
CHILD SA usually have different names, and ``--initiate --child NAME`` names the child, so the
question asked here is "is CHILD NAME installed under an established IKE SA?".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TypeAlias

_IKE = re.compile(r"^(?P<name>[^\s:][^:]*): #(?P<id>\d+), (?P<state>[A-Z_]+)(?:, (?P<version>IKEv\d))?")
_CHILD = re.compile(r"^  (?P<name>[^\s:][^:]*): #(?P<id>\d+), reqid (?P<reqid>\d+), (?P<state>[A-Z_]+)")
_RAW_TOKEN = re.compile(r"\{|\}|\[[^\]]*\]|[^\s{}=\[\]]+=(?:\[[^\]]*\]|[^\s{}]*)|[^\s{}=\[\]]+")


@dataclass(frozen=True)
class ChildSa:
    name: str
    state: str
    uniqueid: int | None = None
    reqid: int | None = None


@dataclass(frozen=True)
class IkeSa:
    name: str
    state: str
    uniqueid: int | None = None
    version: str | None = None
    children: tuple[ChildSa, ...] = ()


@dataclass(frozen=True)
class SaList:
    """Every IKE SA listed (several may share a name while rekeying), in output order."""

    ikes: tuple[IkeSa, ...] = field(default_factory=tuple)

    def by_name(self) -> dict[str, list[IkeSa]]:
        out: dict[str, list[IkeSa]] = {}
        for ike in self.ikes:
            out.setdefault(ike.name, []).append(ike)
        return out

    def is_up(self, child: str) -> bool:
        """CHILD SA ``child`` is INSTALLED under an ESTABLISHED IKE SA."""
        return any(
            ike.state == "ESTABLISHED"
            and any(c.name == child and c.state == "INSTALLED" for c in ike.children)
            for ike in self.ikes
        )

    def describe(self, child: str) -> str:
        """A short status of ``child`` for logs and timeout messages."""
        if self.is_up(child):
            return f"{child}: INSTALLED"
        seen = [
            f"{ike.name} {ike.state}/{c.state}" for ike in self.ikes for c in ike.children if c.name == child
        ]
        if seen:
            return f"{child}: " + ", ".join(seen)
        pending = [f"{ike.name} {ike.state}" for ike in self.ikes if not ike.children]
        if pending:
            return f"{child}: no CHILD SA yet (IKE SA " + ", ".join(pending) + ")"
        return f"{child}: no SA"


def parse_list_sas(text: str) -> SaList:
    """``swanctl --list-sas`` output (plain or ``--raw``). Empty output means no SA at all."""
    if "list-sa event" in text or "list-sas reply" in text:
        return parse_list_sas_raw(text)
    ikes: list[IkeSa] = []
    current: IkeSa | None = None
    children: list[ChildSa] = []
    for line in text.splitlines():
        ike = _IKE.match(line)
        if ike:
            if current is not None:
                ikes.append(_with_children(current, children))
            current, children = _ike_from_match(ike), []
            continue
        child = _CHILD.match(line)
        if child and current is not None:
            children.append(ChildSa(child["name"], child["state"], int(child["id"]), int(child["reqid"])))
    if current is not None:
        ikes.append(_with_children(current, children))
    return SaList(tuple(ikes))


def _ike_from_match(match: re.Match[str]) -> IkeSa:
    return IkeSa(match["name"], match["state"], int(match["id"]), match["version"])


def _with_children(ike: IkeSa, children: list[ChildSa]) -> IkeSa:
    return IkeSa(ike.name, ike.state, ike.uniqueid, ike.version, tuple(children))


def parse_list_sas_raw(text: str) -> SaList:
    """``swanctl --list-sas --raw``: one ``list-sa event {NAME {k=v ... child-sas {...}}}`` per IKE SA."""
    ikes: list[IkeSa] = []
    for line in text.splitlines():
        if not line.startswith("list-sa event"):
            continue
        tree = _parse_raw_section(_RAW_TOKEN.findall(line[len("list-sa event") :]))
        for name, attrs in tree.items():
            if isinstance(attrs, dict):
                ikes.append(_ike_from_raw(name, attrs))
    return SaList(tuple(ikes))


def _ike_from_raw(name: str, attrs: RawSection) -> IkeSa:
    kids = attrs.get("child-sas", {})
    children = tuple(
        ChildSa(
            str(c.get("name", key)), str(c.get("state", "")), _int(c.get("uniqueid")), _int(c.get("reqid"))
        )
        for key, c in (kids.items() if isinstance(kids, dict) else [])
        if isinstance(c, dict)
    )
    version = attrs.get("version")
    return IkeSa(
        name,
        str(attrs.get("state", "")),
        _int(attrs.get("uniqueid")),
        f"IKEv{version}" if version else None,
        children,
    )


#: a ``--raw`` section: ``key=value`` pairs and named sub-sections
RawSection: TypeAlias = "dict[str, str | RawSection]"


def _parse_raw_section(tokens: list[str]) -> RawSection:
    """Tokens of ``{ a=b c { ... } }`` into nested dicts (the outer braces included)."""
    stack: list[RawSection] = []
    root: RawSection = {}
    pending_key: str | None = None
    for token in tokens:
        if token == "{":  # noqa: S105 (a brace, not a password)
            section: RawSection = {}
            if stack and pending_key is not None:
                stack[-1][pending_key] = section
            elif not stack:
                section = root
            stack.append(section)
            pending_key = None
        elif token == "}":  # noqa: S105
            if stack:
                stack.pop()
        elif "=" in token and stack:
            key, _, value = token.partition("=")
            stack[-1][key] = value
        else:
            pending_key = token
    return root


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class InitiateOutcome:
    """What ``swanctl --initiate`` said: ``established``, ``pending`` (timed out, charon keeps trying)
    or ``failed`` (with a reason; ``auth_failed`` when the peer refused our credentials)."""

    status: str
    reason: str = ""
    auth_failed: bool = False


def parse_initiate(output: str, exit_code: int) -> InitiateOutcome:
    """Classify ``swanctl --initiate --child NAME [--timeout N]`` output and exit code."""
    if "AUTHENTICATION_FAILED" in output or "authentication failed" in output.lower():
        return InitiateOutcome("failed", "authentication failed (peer sent AUTHENTICATION_FAILED)", True)
    failed = re.search(r"^initiate failed: (.*)$", output, re.MULTILINE)
    if failed and "not established after" in failed.group(1):
        return InitiateOutcome("pending", failed.group(1).strip())
    if failed:
        return InitiateOutcome("failed", failed.group(1).strip())
    if exit_code == 0:
        return InitiateOutcome("established", "initiate completed successfully")
    tail = output.strip().splitlines()[-1:] or [f"exit code {exit_code}"]
    return InitiateOutcome("failed", tail[0][:200])


@dataclass(frozen=True)
class PingResult:
    """What a bounded ``ping -c COUNT -w DEADLINE`` on the appliance saw (``rtt_ms`` is the average)."""

    address: str
    sent: int
    received: int
    rtt_ms: float | None = None
    error: str = ""

    @property
    def answered(self) -> bool:
        return self.received > 0

    def describe(self) -> str:
        rtt = f", rtt {self.rtt_ms:.2f} ms" if self.rtt_ms is not None else ""
        why = f" ({self.error})" if self.error and not self.answered else ""
        return f"{self.address}: {self.received} of {self.sent} replies{rtt}{why}"

    def to_dict(self) -> dict[str, object]:
        return {"address": self.address, "sent": self.sent, "received": self.received, "rtt_ms": self.rtt_ms}


_PING_COUNTS = re.compile(r"(\d+) packets transmitted, (\d+) (?:packets )?received")
_PING_RTT = re.compile(r"= [\d.]+/([\d.]+)/")


def parse_ping(address: str, output: str, count: int) -> PingResult:
    """iputils ``ping -q`` output: the summary lines; anything else (no route, unknown host) is no reply."""
    counts = _PING_COUNTS.search(output)
    if counts is None:
        last = output.strip().splitlines()[-1:] or ["no output"]
        return PingResult(address, count, 0, None, last[0][:200])
    rtt = _PING_RTT.search(output)
    return PingResult(address, int(counts[1]), int(counts[2]), float(rtt[1]) if rtt else None)
