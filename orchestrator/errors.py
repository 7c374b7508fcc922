"""The error hierarchy: one root, classified by what the engine and the CLI must do with it.

Adapters translate library errors into these at the edge; the engine only looks at the class:
``RetryableError`` is retried under the step's policy, anything else fails the step for good.
The CLI maps classes to the contract's exit codes.
"""

from __future__ import annotations


class OrchestratorError(Exception):
    """Root of every error this program raises on purpose."""

    exit_code = 1


class RetryableError(OrchestratorError):
    """A transient fault (throttling, timeout, connection reset): the same call may succeed later."""


class FatalError(OrchestratorError):
    """A fault that retrying cannot fix (access denied, validation, not implemented, host key mismatch)."""


class StepTimeout(FatalError):
    """A step ran past its runbook timeout (or a wait inside it ran past its own bound)."""


class VerificationFailed(RetryableError):
    """A step's apply returned but its verify says the desired state is not there (yet)."""


class InvalidInput(OrchestratorError):
    """Bad arguments, site file or runbook. Always names the file and the location."""

    exit_code = 2

    def __init__(self, message: str, *, source: str | None = None, location: str | None = None):
        self.source = source
        self.location = location
        prefix = ":".join(p for p in (source, location) if p)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.detail = message


class LockHeld(OrchestratorError):
    """Another run holds the site lock."""

    exit_code = 3


class NotReady(OrchestratorError):
    """Readiness failed, or an approval was refused or is missing in a non-interactive run."""

    exit_code = 4


class ApprovalRequired(NotReady):
    """A gated step needs an approval this run does not have (non-interactive)."""


class ApprovalRefused(NotReady):
    """An operator answered no at an approval prompt."""


class Interrupted(OrchestratorError):
    """SIGINT/SIGTERM: the run was stopped and stays resumable."""

    exit_code = 130
