"""The embedded site: a real OpenSSH sshd, generated backup snapshots and a fake ``swanctl``.

Used by the test fixtures and by ``orchestrator sandbox up``; nothing here is used in production.
"""
