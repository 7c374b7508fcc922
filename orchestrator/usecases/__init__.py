"""The use-case layer: what the ``orchestrator`` command does, without its arguments or its screen.

- ``orchestrator.py``: :class:`Orchestrator` (``Orchestrator(settings).failover(request, approver)`` ...);
- ``records.py``: the requests and results (frozen records) the CLI builds and renders;
- ``plan.py``: ``prepare(request) -> RunPlan``, the one opening of a real run and of a dry run;
- ``session.py``: ``session(settings, site)``, the journal and services of a command, both closed at its end;
- ``runs.py`` / ``execute.py`` / ``resume.py``: new runs, resumes, dry runs; running one to its report;
- ``gates.py``: approve, deny, stand-down; ``queries.py``: status, readiness, drills, evidence, findings, watch;
- ``wiring.py``: a run's engine, publisher and ETA source; pending deliveries; the status page link.
"""

from orchestrator.usecases.orchestrator import Orchestrator
from orchestrator.usecases.plan import prepare
from orchestrator.usecases.records import ResumeRequest, RunPlan, RunRequest, RunResult
from orchestrator.usecases.session import session

__all__ = ["Orchestrator", "ResumeRequest", "RunPlan", "RunRequest", "RunResult", "prepare", "session"]
