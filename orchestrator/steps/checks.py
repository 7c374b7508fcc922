"""Preflight and smoke checks as step kinds: thin wrappers over orchestrator.checks."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from orchestrator import checks
from orchestrator.errors import FatalError, RetryableError
from orchestrator.steps import register
from orchestrator.steps.backup import RestoreOutput
from orchestrator.steps.base import Output, Params, StepContext, StepKind


class PreflightParams(Params):
    #: check names to leave out (e.g. "vpn.appliance" where the appliance is checked elsewhere)
    skip: list[str] = Field(default_factory=list)


class SmokeParams(Params):
    #: the id of the restore step whose recorded ``snapshot`` names the marker to look for
    restore_step: str = "restore"
    skip: list[str] = Field(default_factory=list)


class ChecksOutput(Output):
    #: each check's result (name, ok, detail, ...)
    checks: list[dict[str, Any]] = []
    passed: bool | None = None


class _Checks(StepKind):
    Output = ChecksOutput
    """Run a list of checks; fail (FatalError listing them) when a blocking check fails."""

    suite: tuple[checks.CheckFn, ...] = ()

    def suite_for(self, ctx: StepContext) -> tuple[checks.CheckFn, ...]:
        """The checks this step runs for the run's site."""
        return self.suite

    def plan(self, ctx: StepContext) -> list[str]:
        names = [c.check_name for c in self.suite_for(ctx) if c.check_name not in ctx.params.skip]
        return [f"check (read-only): {', '.join(names)}"]

    def verify(self, ctx: StepContext) -> bool:
        # True once this step passed (so the engine's verify-after-apply holds); checks change nothing.
        return ctx.state.get("passed") is True

    def apply(self, ctx: StepContext) -> None:
        results = checks.run_checks(self.suite_for(ctx), self._env(ctx), skip=ctx.params.skip)
        for r in results:
            level = ctx.log.info if r.ok else (ctx.log.error if r.blocking else ctx.log.warning)
            level("check", check=r.name, ok=r.ok, blocking=r.blocking, detail=r.detail)
        failed = checks.blocking_failures(results)
        ctx.record(checks=[r._asdict() for r in results], passed=not failed)
        if failed:
            listing = "; ".join(f"{r.name}: {r.detail}" for r in failed)
            # a check that could not answer for a transient fault (its calls' own retries spent) is asked
            # again under the step's retry policy; a check that answered "no" fails the step for good
            error = RetryableError if all(r.transient for r in failed) else FatalError
            raise error(f"{self.name}: {len(failed)} blocking check(s) failed: {listing}")

    def _env(self, ctx: StepContext) -> checks.CheckEnv:
        return checks.CheckEnv(ctx.services, ctx.site, accept_rpo_breach=ctx.options.accept_rpo_breach)


@register
class Preflight(_Checks):
    name = "checks.preflight"
    summary = "credentials, every site resource, SFTP + snapshot freshness, appliance reachable"
    Params = PreflightParams
    suite = checks.PREFLIGHT

    def suite_for(self, ctx: StepContext) -> tuple[checks.CheckFn, ...]:
        return checks.preflight_for(ctx.site)  # an Amazon Connect site adds its checks

    def manual(self, params: Any) -> str:
        # by hand means the tool is unavailable: the checks themselves, not "run the tool"
        skip = set(getattr(params, "skip", None) or ())
        lines = ["Check each of these by hand (AWS console or CLI; ssh/sftp with the pinned host keys). Stop if a "
                 "**blocking** one fails; note the warnings:", ""]
        lines += [_by_hand(c) for c in checks.PREFLIGHT if _name(c) not in skip]
        connect = [_by_hand(c) for c in checks.CONNECT if _name(c) not in skip]
        if connect:
            lines += ["", "On a site with Amazon Connect (`connect`), also:", "", *connect]
        lines += ["", "(With the tool at hand, `orchestrator readiness --site SITE.json` runs them all.)"]
        return "\n".join(lines)


def _name(check: Any) -> str:
    return str(check.check_name)


def _by_hand(check: Any) -> str:
    """One check as a checklist line: its name, blocking or a warning, and what it checks (its docstring's
    first sentence, up to its first colon: the why stays in the code)."""
    what = " ".join((check.__doc__ or "").strip().split("\n\n")[0].split()).replace("``", "`")
    return f"- [ ] `{check.check_name}` ({'blocking' if getattr(check, 'blocking', True) else 'warning'}): " \
        f"{_first_clause(what)}"


def _first_clause(text: str) -> str:
    """The text up to its first sentence end or colon outside parentheses; a parenthesis that gives a reason
    ("(a warning: ...)") is left out whole."""
    out: list[str] = []
    depth = start = 0
    for at, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "(" and depth == 1:
            start = len(out)
        out.append(char)
        if char == ")" and depth == 0 and ": " in "".join(out[start:]):
            del out[start:]
        if depth == 0 and text[at:at + 2] in (". ", ": "):
            out.pop()
            break
    return " ".join("".join(out).rstrip(" .:").split()) + "."


@register
class Smoke(_Checks):
    name = "checks.smoke"
    summary = "after cutover: records at secondary values, seats in service, restore marker present"
    Params = SmokeParams
    suite = checks.SMOKE

    def _env(self, ctx: StepContext) -> checks.CheckEnv:
        env = super()._env(ctx)
        restored = ctx.output_of(ctx.params.restore_step, RestoreOutput)
        env.snapshot = restored.snapshot
        env.marker_name = restored.marker_name or env.marker_name  # the critical tier's, when tiered
        env.restored_to = restored.target(ctx.site)  # a drill's own folder
        return env

    def manual(self, params: Any) -> str:
        return "Resolve each record (secondary values), count healthy seats, look for the restore marker."
