"""The run vocabulary: enum members are the contract's words, and the derived names and codes are right."""

from __future__ import annotations

import pytest

from orchestrator.model import RERUNNABLE, EventName, RunStatus, StepStatus


def test_statuses_are_the_contracts_words():
    """report.json and status --json keep the contract's exact status strings."""
    assert {s.value for s in RunStatus} >= {"succeeded", "failed", "rolled_back", "interrupted"}
    assert RunStatus("interrupted") is RunStatus.INTERRUPTED
    assert f"{StepStatus.AWAITING_APPROVAL}" == "awaiting_approval"


@pytest.mark.parametrize(
    ("status", "code"),
    [(RunStatus.SUCCEEDED, 0), (RunStatus.INTERRUPTED, 130), (RunStatus.FAILED, 1), (RunStatus.ROLLED_BACK, 1)],
)
def test_exit_code_of_each_end_status(status, code):
    """A run's end status maps to the contract's exit code."""
    assert status.exit_code == code


def test_end_events_are_named_from_the_status():
    """Each run and step end status has its own event name (no string joining elsewhere)."""
    for status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.ROLLED_BACK, RunStatus.INTERRUPTED):
        assert EventName.run_ended(status) == f"run_{status}"
    for step_status in (StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.INTERRUPTED):
        assert EventName.step_ended(step_status) == f"step_{step_status}"
    with pytest.raises(ValueError):
        EventName.step_ended(StepStatus.ROLLING_BACK)


def test_only_a_succeeded_step_is_kept_on_resume():
    """A resume runs every step again (verify first) except the succeeded ones."""
    assert StepStatus.SUCCEEDED not in RERUNNABLE
    assert set(StepStatus) - {StepStatus.SUCCEEDED} == RERUNNABLE
