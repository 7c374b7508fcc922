"""From a request to a plan: the site and runbook loaded and checked, the steps for this site, the options
the steps see. ``prepare`` is the one opening of a real run and of a dry run."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import structlog

from orchestrator.clock import Clock
from orchestrator.errors import InvalidInput, NotReady, OrchestratorError
from orchestrator.runbook import Runbook, load_runbook
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
