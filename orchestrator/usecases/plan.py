"""From a request to a plan: the site and runbook loaded and checked, the steps for this site, the options
the steps see. ``prepare`` is the one opening of a real run and of a dry run."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from importlib import resources
from pathlib import Path

import structlog

from orchestrator.clock import Clock
from orchestrator.errors import InvalidInput, NotReady, OrchestratorError
from orchestrator.journal.protocols import Journal
from orchestrator.journal.records import RunRecord
from orchestrator.model import RunStatus, StepStatus
from orchestrator.runbook import Runbook, load_runbook, runbook_from_dict
from orchestrator.site import Site, load_site
from orchestrator.steps.base import RunOptions
from orchestrator.usecases.records import RunPlan, RunRequest
from orchestrator.usecases.session import services_of

#: the default runbooks: package data of ``orchestrator.runbooks`` (the top-level runbooks/ folder, mapped in)
DEFAULT_RUNBOOKS = {"failover": "failover.yaml", "failback": "failback.yaml", "drill": "drill.yaml"}


def default_runbook(kind: str) -> Path:
    """The default runbook of ``kind``: ``runbooks/KIND.yaml`` of the current directory when there is one (the
    contract's default path), else the installed one -- the checkout's runbooks/ in an editable install, the
    wheel's copy otherwise (installed packages are plain files, so it is a real path)."""
    local = Path("runbooks") / DEFAULT_RUNBOOKS[kind]
    if local.is_file():
        return local
    return Path(str(resources.files("orchestrator.runbooks").joinpath(DEFAULT_RUNBOOKS[kind])))


def runbook_file(argument: Path) -> Path:
    """What ``runbook validate/render ARGUMENT`` reads: the file ARGUMENT, or, when no such file exists and
    ARGUMENT is a default runbook's name (failover, failback, drill), that installed runbook."""
    if not argument.exists() and str(argument) in DEFAULT_RUNBOOKS:
        return default_runbook(str(argument))
    return argument


def run_runbook(book: Runbook, site: Site) -> Runbook:
    """The steps a run on ``site`` is made of: those whose ``when`` the site satisfies (decided once, at the
    run's creation; the journal keeps this runbook, so a resume runs the same steps). Approvals given for a
    left-out step are checked against the whole runbook and simply not used. A runbook none of whose steps
    is for this site is invalid input: a run that does nothing must not report a failover as done."""
    run_book = book.for_site(site)
    if not run_book.steps:
        keys = ", ".join(sorted({s.when for s in book.steps if s.when}))
        raise InvalidInput(f"no step of runbook {book.name!r} is for site {site.site!r}: every step needs a site "
                           f"key it does not have ({keys})", source=book.source, location="steps")
    return run_book


def left_out_detail(book: Runbook, site: Site) -> dict[str, str]:
    """Step id -> the site key it waited for, for the steps a run on ``site`` is made without."""
    return {s.id: s.when for s in book.left_out_on(site) if s.when is not None}


def check_approvals(book: Runbook, approvals: Iterable[str], flag: str) -> None:
    for step_id in approvals:
        if step_id not in book.by_id:
            raise InvalidInput(f"{flag} {step_id}: no such step in runbook {book.name}", source=book.source)


def prepare(request: RunRequest, dry_run: bool = False) -> RunPlan:
    """Load and check the site and runbook of ``request`` (invalid input, exit 2, before anything else)."""
    site = load_site(request.site_file)
    full = load_runbook(request.runbook_file or default_runbook(request.kind))
    check_approvals(full, request.approvals, "--approve")
    book = run_runbook(full, site)
    options = RunOptions(kind=request.kind, dry_run=dry_run, accept_rpo_breach=request.accept_rpo_breach)
    return RunPlan(request, site, full, book, left_out_detail(full, site), options)


def new_run_id(kind: str, clock: Clock) -> str:
    return f"{clock.now():%Y%m%dT%H%M%SZ}-{kind}-{secrets.token_hex(3)}"


def refuse_unmatched_critical(plan: RunPlan, clock: Clock) -> None:
    """Before a run that restores tiers is even recorded: every ``backup.critical`` pattern must match a file of
    the newest complete snapshot, or the run would restore (and mark, and cut over on) a critical tier without
    what a pattern names. Not ready (exit 4), naming each pattern; nothing is changed or journaled. When the
    provider cannot be asked now, the run starts and its preflight step asks again (with its retries)."""
    from orchestrator.backup.contract import Tier
    from orchestrator.checks import critical_pattern_answer

    site, book = plan.site, plan.book
    if site.backup.critical is None or not any(
        s.uses == "backup.restore" and getattr(s.params, "tier", Tier.ALL) is not Tier.ALL for s in book.steps
    ):
        return
    with services_of(site, clock) as services:
        try:
            answer = critical_pattern_answer(services, site)
        except OrchestratorError as exc:
            structlog.get_logger("orchestrator").warning("preflight.critical_patterns_unchecked", error=str(exc))
            return
    refusal = answer.refusal() if answer is not None else None
    if refusal is not None:
        raise NotReady(f"{plan.request.site_file}: {refusal}; the {book.kind or 'run'} was not started and nothing "
                       "was changed (correct backup.critical, then check with `orchestrator readiness`)")


def half_done_failovers(journal: Journal, site: str, now_alive: Callable[[RunRecord], bool]) -> list[RunRecord]:
    """The site's failovers left ``held``, ``interrupted`` or ``failed`` (or running with no live process)
    with changes made and not stood down, newer than the site's last successful failback or drill."""
    out = []
    for run in journal.list_runs(limit=50, site=site):
        if run.kind in ("failback", "drill") and run.status == RunStatus.SUCCEEDED:
            break  # the site was brought back to its start after anything older
        if run.kind != "failover":
            continue
        stopped = run.status in (RunStatus.HELD, RunStatus.INTERRUPTED, RunStatus.FAILED) or (
            run.status == RunStatus.RUNNING and not now_alive(run)
        )
        if stopped and any(s.applied or s.status == StepStatus.SUCCEEDED for s in journal.get_steps(run.run_id)):
            out.append(run)
    return out


def passed_gate(journal: Journal, run: RunRecord) -> bool:
    """Whether a gate of ``run`` was passed (its step went on after a decision): stand-down refuses such a run,
    failback undoes it."""
    status = {s.step_id: s.status for s in journal.get_steps(run.run_id)}
    before = (StepStatus.PENDING, StepStatus.AWAITING_APPROVAL)
    return any(s.gate == "approval" and status.get(s.id, StepStatus.PENDING) not in before
               for s in runbook_from_dict(run.runbook).order())


def refuse_over_half_done(journal: Journal, plan: RunPlan, now_alive: Callable[[RunRecord], bool]) -> None:
    """A new failover (or drill) of a site whose failover is held at a gate with changes made (not stood down)
    would run over it, and a stand-down of either would undo what the other counts on: not ready (exit 4)
    before anything is recorded, naming the run and both ways out. Only ``held`` (1.2): a new run after an
    interrupted or failed one stays allowed, as before 1.2 (readiness still names those)."""
    held = [r.run_id for r in half_done_failovers(journal, plan.site.site, now_alive) if r.status == RunStatus.HELD]
    if held:
        ways = "; ".join(f"`orchestrator resume {r}` or `orchestrator stand-down {r}`" for r in held)
        raise NotReady(f"failover {', '.join(held)} of site {plan.site.site} is held at its gate with changes made: "
                       f"the {plan.request.kind} was not started; {ways}")
