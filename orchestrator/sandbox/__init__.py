"""The embedded site behind ``orchestrator sandbox up/down/env/run``: a moto server process (``motoserver``), a
real OpenSSH sshd (``sshd``) holding generated backup snapshots (``snapshots``), the VPN appliance (a real
strongSwan pair in network namespaces, ``tunnel`` and ``netns_port``, or the fake ``swanctl``,
``fake_swanctl``), and the warm-site stack deployed into moto (``stack``); ``site`` ties them up.

Nothing here is used by a failover against a real site. Test-only tooling (the AWS fault proxy, the test step
kinds) lives in tests/support/.
"""
