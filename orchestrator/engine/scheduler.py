"""Which steps may run now: the ready set, in the runbook's topological order.

A step joins the ready set when each step it needs has succeeded (or failed with
``on_failure: continue``); the runbook itself knows the order and who depends on whom.
"""

from __future__ import annotations

import heapq

from orchestrator.journal.records import StepRecord
from orchestrator.model import StepStatus
from orchestrator.runbook import Runbook, Step


class Scheduler:
    def __init__(self, book: Runbook, records: dict[str, StepRecord]) -> None:
        self.book = book
        self.records = records
        self._order = book.order()
        self._position = {s.id: i for i, s in enumerate(self._order)}
        self._dependents = book.dependents()
        self._ready = [self._position[s.id] for s in self._order if self._runnable(s)]
        heapq.heapify(self._ready)

    def peek(self) -> Step | None:
        """The next step that may run (it stays in the ready set until ``take``), or None."""
        while self._ready:
            step = self._order[self._ready[0]]
            if self.records[step.id].status == StepStatus.PENDING:
                return step
            heapq.heappop(self._ready)  # already launched or ended: drop it
        return None

    def take(self) -> None:
        """Remove the step ``peek`` returned from the ready set (it is being launched)."""
        heapq.heappop(self._ready)

    def defer(self) -> None:
        """Set the step ``peek`` returned aside (a gate waiting for a decision): the others go on."""
        heapq.heappop(self._ready)

    def restore(self, step_id: str) -> None:
        """A step set aside with ``defer`` may run again (its decision came)."""
        heapq.heappush(self._ready, self._position[step_id])

    def release(self, step_id: str) -> None:
        """``step_id`` ended in a way its dependents accept: those now runnable become ready."""
        for child in self._dependents[step_id]:
            if self._runnable(self.book.by_id[child]):
                heapq.heappush(self._ready, self._position[child])

    def _runnable(self, step: Step) -> bool:
        return self.records[step.id].status == StepStatus.PENDING and all(
            self._accepts(need) for need in step.needs
        )

    def _accepts(self, need: str) -> bool:
        status = self.records[need].status
        tolerated = status == StepStatus.FAILED and self.book.by_id[need].on_failure == "continue"
        return status == StepStatus.SUCCEEDED or tolerated
