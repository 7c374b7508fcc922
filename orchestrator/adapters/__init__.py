"""Adapters: the only place boto3 / paramiko clients are built and their errors translated.

``Services`` is what the CLI hands the engine (as ``ctx.services``). Every adapter is built lazily,
on first use, so a run that never touches SFTP never opens a connection, and no client is ever
built at import time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar, cast

from orchestrator.clock import Clock, SystemClock

if TYPE_CHECKING:
    from orchestrator.adapters.appliance import StrongSwanAppliance
    from orchestrator.adapters.autoscaling import AutoScaling
    from orchestrator.adapters.aws import AwsSession
    from orchestrator.adapters.connect import Connect
    from orchestrator.adapters.route53 import Route53
    from orchestrator.adapters.s3 import S3
    from orchestrator.adapters.secrets import Secrets
    from orchestrator.adapters.sftp import SftpBackupSource
    from orchestrator.adapters.sns import Sns
    from orchestrator.adapters.sqs import WorkQueue
    from orchestrator.adapters.vpn import VpnConnections
    from orchestrator.site import Site, SshEndpoint

A = TypeVar("A")


class Services:
    """Lazily built adapters for one site. Thread-safe construction (steps run in parallel)."""

    def __init__(self, site: Site, clock: Clock | None = None):
        self.site = site
        self.clock = clock or SystemClock()
        self._lock = threading.RLock()

    def _build(self, name: str, factory: Callable[[], A]) -> A:
        with self._lock:
            if name not in self.__dict__:
                self.__dict__[name] = factory()
            return cast(A, self.__dict__[name])

    @property
    def aws(self) -> AwsSession:
        from orchestrator.adapters.aws import AwsSession

        return self._build("aws", lambda: AwsSession(region=self.site.region, clock=self.clock))

    @property
    def secrets(self) -> Secrets:
        from orchestrator.adapters.secrets import Secrets

        return self._build("secrets", lambda: Secrets(self.aws))

    @property
    def route53(self) -> Route53:
        from orchestrator.adapters.route53 import Route53

        return self._build("route53", lambda: Route53(self.aws))

    @property
    def autoscaling(self) -> AutoScaling:
        from orchestrator.adapters.autoscaling import AutoScaling

        return self._build("autoscaling", lambda: AutoScaling(self.aws))

    @property
    def vpn(self) -> VpnConnections:
        from orchestrator.adapters.vpn import VpnConnections

        return self._build("vpn", lambda: VpnConnections(self.aws))

    @property
    def s3(self) -> S3:
        from orchestrator.adapters.s3 import S3

        return self._build("s3", lambda: S3(self.aws))

    @property
    def sns(self) -> Sns:
        from orchestrator.adapters.sns import Sns

        return self._build("sns", lambda: Sns(self.aws))

    @property
    def connect(self) -> Connect:
        """Amazon Connect, one client per Region (the site's ``connect`` key; FatalError without it)."""
        from orchestrator.adapters.aws import AwsSession
        from orchestrator.adapters.connect import Connect
        from orchestrator.errors import FatalError

        site = self.site.connect
        if site is None:
            raise FatalError("the site file has no connect key: it is not an Amazon Connect site")
        return self._build("connect", lambda: Connect(site, lambda region: AwsSession(region, clock=self.clock)))

    @property
    def appliance(self) -> StrongSwanAppliance:
        from orchestrator.adapters.appliance import StrongSwanAppliance

        return self._build(
            "appliance", lambda: StrongSwanAppliance(self.site.vpn.appliance, self.secrets, self.clock)
        )

    @property
    def backup_source(self) -> SftpBackupSource:
        from orchestrator.adapters.sftp import SftpBackupSource

        return self._build(
            "backup_source", lambda: SftpBackupSource(self.site.backup.sftp, self.secrets, self.clock)
        )

    @property
    def work_queue(self) -> WorkQueue:
        """The restore workers' queue (``backup.workers``, contract 1.2), in the queue's own region."""
        from orchestrator.adapters.aws import AwsSession
        from orchestrator.adapters.sqs import WorkQueue
        from orchestrator.errors import FatalError

        workers = self.site.backup.workers
        if workers is None:
            raise FatalError("the site file has no backup.workers key: no restore workers")

        def session() -> AwsSession:
            return self.aws if workers.region == self.site.region else AwsSession(workers.region, clock=self.clock)

        return self._build("work_queue", lambda: WorkQueue(session(), workers.queue_url))

    def verify_host_key(self, endpoint: SshEndpoint) -> str:
        """SSH key exchange only with ``endpoint``, no login (:func:`orchestrator.adapters.ssh.verify_host_key`)."""
        from orchestrator.adapters.ssh import verify_host_key

        return verify_host_key(endpoint)

    def close(self) -> None:
        """Close whatever was opened (SSH connections)."""
        for name in ("appliance", "backup_source"):
            adapter = self.__dict__.get(name)
            if adapter is not None and hasattr(adapter, "close"):
                adapter.close()
