"""What one execution of a run shares between its steps: made by the engine when the execution starts,
handed to every step (``ctx.restores``), closed by the engine when it ends.

Per-run state does not belong in ``Services`` (the site's adapters, which outlive a run in a long-lived
process): the tiered restores of one run are the run's, and closing them stops that run's transfers only.
"""

from __future__ import annotations

import threading

from orchestrator.backup.tiered import TieredRestores


class RunResources:
    """Built lazily, closed once; thread-safe (steps run in parallel)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._restores: TieredRestores | None = None
        self._closed = False

    @property
    def restores(self) -> TieredRestores:
        """The run's tiered restores: shared by the critical and the bulk restore steps."""
        with self._lock:
            if self._restores is None:
                self._restores = TieredRestores()
            return self._restores

    def close(self) -> None:
        """Stop what the run left running (restore workers); idempotent."""
        with self._lock:
            restores, self._restores = self._restores, None
        if restores is not None:
            restores.close()
