"""The durable journal: runs, steps, events, the site lock and drill history.

Every state change of a run or a step is written here *before* the engine moves on, so a run can be
resumed after the orchestrator itself dies.

- ``records``: what is stored (``RunRecord``, ``StepRecord``, ``Holder``, ``LockInfo``) and ``RunNotFound``;
- ``protocols``: the narrow interfaces callers type against (``RunStore``, ``EventLog``, ``SiteLock``,
  ``DrillHistory``; ``Journal`` is all four, for the engine and the app that use all of them);
- ``lease``: when a lock's holder counts as alive, and the "locked by ..." message (both backends);
- ``sqlite``: ``SqliteJournal``, the journal in the state dir (one machine), with ``hostlock``;
- ``dynamodb``: ``DynamoJournal``, the same interface on a DynamoDB table (team mode).
"""
