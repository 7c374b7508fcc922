"""SFTP and appliance trouble against a real OpenSSH sshd (and S3 in a moto server): links cut mid-file,
sshd restarted mid-restore, missing / truncated / lying SHA256SUMS, a file changing while read, hostile
snapshot content; an appliance refusing SSH, refusing our key, hanging, flapping. Each ends in a
verified restore or a clear refusal (never a marker over bad data), in bounded time (FakeClock waits;
real time measured where a socket must time out)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from orchestrator.adapters.appliance import StrongSwanAppliance
from orchestrator.adapters.sftp import SftpBackupSource
from orchestrator.adapters.ssh import SshAuthFailed
from orchestrator.backup.contract import MARKER_NAME
from orchestrator.backup.sha256sums import Sha256SumsError, format_sha256sums
from orchestrator.backup.source import SnapshotError
from orchestrator.backup.transfer import ChecksumMismatch
from orchestrator.errors import FatalError, OrchestratorError, RetryableError
from orchestrator.sandbox import snapshots, sshd
from orchestrator.steps.backup import BackupRestore
from orchestrator.steps.vpn import BringUp
from tests.chaos.support import seeded, trials
from tests.fixtures.aws import build_moto_site, run_step

pytestmark = [pytest.mark.chaos, pytest.mark.integration]


def fresh_snapshot(root, clock, files: int = 6, total_mb: float = 14, hours_old: float = 1):
    return snapshots.write_snapshot(root, snapshots.snapshot_name(clock.now() - timedelta(hours=hours_old)),
                                    files=files, total_mb=total_mb)


def bucket_keys(ctx) -> dict[str, bytes]:
    s3, bucket = ctx.services.aws.client("s3"), ctx.site.backup.bucket
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def assert_verified(ctx, info) -> None:
    """Every file at its key with its SHA256SUMS digest, the marker present, nothing else in the bucket."""
    objects = bucket_keys(ctx)
    prefix = f"restored/{info.name}/"
    assert set(objects) == {prefix + p for p in info.files} | {prefix + MARKER_NAME}
    for relpath, digest in info.files.items():
        assert hashlib.sha256(objects[prefix + relpath]).hexdigest() == digest


def assert_refused(ctx, info, bad: set[str] = frozenset()) -> None:
    """No marker; no object for a bad file; whatever is there is under the snapshot prefix and intact."""
    objects = bucket_keys(ctx)
    prefix = f"restored/{info.name}/"
    assert prefix + MARKER_NAME not in objects
    for key, body in objects.items():
        assert key.startswith(prefix), key
        relpath = key[len(prefix):]
        assert relpath not in bad and hashlib.sha256(body).hexdigest() == info.files[relpath]
    uploads = ctx.services.aws.client("s3").list_multipart_uploads(Bucket=ctx.site.backup.bucket)
    assert not uploads.get("Uploads")


# --- SFTP trouble ------------------------------------------------------------------------------------


def test_links_cut_mid_file_end_in_a_verified_restore(make_ssh_site, snapshot_root, cutting_proxy, clock, step_contexts,
                                                      request):
    """The SFTP links are cut at 1-3 random points of the transfer (seeded; each point chosen within the
    bytes the snapshot's download carries, so every cut lands): the restore resumes and ends verified,
    every file's bytes identical."""
    seed, rng = seeded("sftp-cuts", request.config)
    info = fresh_snapshot(snapshot_root, clock)
    site = make_ssh_site()
    carried = sum(info.sizes.values())  # at least this much crosses the proxy: every file, once
    for _ in range(trials(request.config, fast=1, full=8)):
        cuts = rng.randint(1, 3)
        grid = rng.sample(range(50_000, carried - 300_000, 300_000), cuts)  # points >= 100 kB apart
        proxy = cutting_proxy(at_total=[point + rng.randrange(0, 200_000) for point in grid])
        sftp = site.backup.sftp.model_copy(update={"port": proxy.port})
        site = site.model_copy(update={"backup": site.backup.model_copy(update={"sftp": sftp})})
        ctx = step_contexts(BackupRestore, site, clock, params={"workers": 2, "part_size_mib": 5})
        _empty_bucket(ctx)
        assert run_step(BackupRestore(), ctx)
        assert proxy.cuts_done == cuts
        assert_verified(ctx, info)
    print(f"sftp-cuts seed={seed}")


def _empty_bucket(ctx) -> None:
    s3, bucket = ctx.services.aws.client("s3"), ctx.site.backup.bucket
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=item["Key"])


@pytest.fixture
def own_sshd(ssh_client_key):
    """A dedicated sshd (this test restarts it); stopped, with every session process, after the test."""
    server = sshd.start()
    server.authorize(ssh_client_key.public_line)
    yield server
    for pid in descendants(server.pid):
        with _suppress():
            os.kill(pid, signal.SIGKILL)
    server.stop()


class _suppress:
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        return exc[0] is not None and issubclass(exc[0], ProcessLookupError | PermissionError | FileNotFoundError)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (sshd's per-connection processes call setsid: not in its group)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with _suppress(), open(entry / "stat") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
    out, pending = [], [pid]
    while pending:
        kids = children.get(pending.pop(), [])
        out += kids
        pending += kids
    return out


def restart_sshd(server) -> None:
    """Kill sshd and every session it serves, then start it again on the same port with the same host key
    and config, as a provider's restart does."""
    for pid in [server.pid, *descendants(server.pid)]:
        with _suppress():
            os.kill(pid, signal.SIGKILL)
    server._process.wait(timeout=10)
    config = sshd._write_config(server.workdir, server.port, server.username)
    process = subprocess.Popen([sshd.SSHD, "-D", "-e", "-f", str(config), "-E", str(server.log_file)],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    assert sshd._wait_listening(server.port, process)
    server.pid, server._process = process.pid, process


def test_sshd_restarted_mid_restore_ends_verified(own_sshd, ssh_client_key, aws_env, clock, step_contexts, monkeypatch):
    """sshd (and every session) is killed after the first MiB of a file and started again: the download
    reconnects, resumes at its offset and the restore ends verified."""
    root = own_sshd.workdir / "exports"
    root.mkdir(mode=0o755)
    info = fresh_snapshot(root, clock, files=3, total_mb=12)
    endpoint = {"host": own_sshd.host, "port": own_sshd.port, "username": own_sshd.username,
                "host_key": own_sshd.host_key_line, "path": str(root)}
    site = build_moto_site(sftp=endpoint, appliance=endpoint | {"swanctl": "swanctl"},
                           secrets={"cc-dr/appliance-key": ssh_client_key.private_openssh,
                                    "cc-dr/backup-key": ssh_client_key.private_openssh})
    original, restarted = SftpBackupSource.stream, []

    def stream(self, snapshot, remote, offset=0):
        for piece_number, piece in enumerate(original(self, snapshot, remote, offset)):
            yield piece
            if piece_number == 32 and not restarted:
                restarted.append(remote.path)
                restart_sshd(own_sshd)

    monkeypatch.setattr(SftpBackupSource, "stream", stream)
    monkeypatch.setattr(SftpBackupSource, "window", 512 * 1024)  # so the file is still being read after 1 MiB
    ctx = step_contexts(BackupRestore, site, clock, params={"workers": 1, "part_size_mib": 5})
    with capture_logs() as logs:
        assert run_step(BackupRestore(), ctx)
    assert restarted and any(e["event"] == "sftp.resume" for e in logs)
    assert_verified(ctx, info)


def test_snapshot_without_sha256sums_is_never_restored(make_ssh_site, snapshot_root, clock, step_contexts):
    """A newer snapshot whose SHA256SUMS is missing is skipped for the newest complete one; with none
    complete, a clear refusal (NoSnapshot) and an empty bucket."""
    older = fresh_snapshot(snapshot_root, clock, files=3, total_mb=2, hours_old=3)
    newer = fresh_snapshot(snapshot_root, clock, files=3, total_mb=2, hours_old=1)
    (newer.path / "SHA256SUMS").unlink()
    site = make_ssh_site()
    ctx = step_contexts(BackupRestore, site, clock)
    assert run_step(BackupRestore(), ctx)
    assert_verified(ctx, older)
    (older.path / "SHA256SUMS").unlink()
    _empty_bucket(ctx)
    with pytest.raises(FatalError, match="no complete snapshot"):
        BackupRestore().apply(step_contexts(BackupRestore, site, clock))
    assert bucket_keys(ctx) == {}


@pytest.mark.parametrize("damage", ["truncated-mid-line", "lying-digest", "not-utf8", "garbage"])
def test_bad_sha256sums_is_a_clear_refusal(make_ssh_site, snapshot_root, clock, step_contexts, damage):
    """SHA256SUMS cut mid-line, lying about one file, not UTF-8, or garbage: the step fails with a
    message naming the problem, no marker, nothing at a bad file's key."""
    info = fresh_snapshot(snapshot_root, clock, files=4, total_mb=8)
    sums = info.path / "SHA256SUMS"
    text, bad = sums.read_text(), set()
    if damage == "truncated-mid-line":
        sums.write_text(text[: text.rindex("\n", 0, len(text) - 1) + 30])
        expected = (Sha256SumsError, "line")
    elif damage == "lying-digest":
        bad = {sorted(info.files)[0]}
        entries = [(p, ("0" * 64 if p in bad else d)) for p, d in info.files.items()]
        sums.write_text(format_sha256sums(entries))
        expected = (ChecksumMismatch, "sha256 mismatch")
    elif damage == "not-utf8":
        sums.write_bytes(text.encode() + b"\xff\xfe  bad\n")
        expected = (SnapshotError, "not UTF-8")
    else:
        sums.write_bytes(os.urandom(4096).replace(b"\n", b" "))
        expected = (OrchestratorError, r"not UTF-8|SHA256SUMS")
    ctx = step_contexts(BackupRestore, make_ssh_site(), clock)
    with pytest.raises(expected[0], match=expected[1]):
        BackupRestore().apply(ctx)
    assert_refused(ctx, info, bad)
    assert not BackupRestore().verify(ctx)


def test_file_changing_while_read_is_refused(make_ssh_site, snapshot_root, clock, step_contexts, monkeypatch):
    """The provider rewrites a file while it is being downloaded: its digest no longer matches, the step
    fails (ChecksumMismatch), nothing for it and no marker lands in S3."""
    info = fresh_snapshot(snapshot_root, clock, files=3, total_mb=12)
    victim = max(info.sizes, key=info.sizes.get)
    original = SftpBackupSource.stream

    def stream(self, snapshot, remote, offset=0):
        for number, piece in enumerate(original(self, snapshot, remote, offset)):
            yield piece
            if remote.path == victim and number == 8:
                with open(info.path / victim, "r+b") as handle:  # the provider's job rewriting it
                    handle.seek(remote.size // 2)
                    handle.write(os.urandom(65536))

    monkeypatch.setattr(SftpBackupSource, "stream", stream)
    # at most 1 MiB requested ahead of what was delivered, so the server has not read the rewritten half yet
    # when piece 8 (~2 MB) is delivered (the default 8 MiB window would have it read ahead of the rewrite)
    monkeypatch.setattr(SftpBackupSource, "window", 1 << 20)
    ctx = step_contexts(BackupRestore, make_ssh_site(), clock, params={"workers": 1, "part_size_mib": 5})
    with pytest.raises(ChecksumMismatch, match=victim):
        BackupRestore().apply(ctx)
    assert_refused(ctx, info, {victim})


# --- hostile content ---------------------------------------------------------------------------------


@pytest.mark.parametrize("hostile", ["absolute", "dotdot", "symlink-file", "symlink-dir", "marker-name"])
def test_hostile_listing_never_leaves_the_snapshot(make_ssh_site, snapshot_root, clock, step_contexts, hostile):
    """Absolute paths, `..`, a symlinked file or directory (pointing at /etc) and a listing that forges the
    restore marker are refused by name; nothing is written outside (or inside) the target prefix."""
    info = fresh_snapshot(snapshot_root, clock, files=2, total_mb=1)
    entries = list(info.files.items())
    digest = "a" * 64
    if hostile == "absolute":
        entries.append(("/etc/passwd", digest))
    elif hostile == "dotdot":
        entries.append(("../../../../etc/passwd", digest))
    elif hostile == "symlink-file":
        (info.path / "passwd").symlink_to("/etc/passwd")
        entries.append(("passwd", hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest()))
    elif hostile == "symlink-dir":
        (info.path / "etc").symlink_to("/etc")
        entries.append(("etc/passwd", hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest()))
    else:
        (info.path / MARKER_NAME).write_text("{}")
        entries.append((MARKER_NAME, hashlib.sha256(b"{}").hexdigest()))
    (info.path / "SHA256SUMS").write_text(format_sha256sums(entries))
    ctx = step_contexts(BackupRestore, make_ssh_site(), clock)
    with pytest.raises(FatalError, match=r"absolute|'\.\.'|not a regular file|missing|marker"):
        BackupRestore().apply(ctx)
    assert_refused(ctx, info)


def test_names_that_are_not_utf8_are_refused_or_ignored(make_ssh_site, snapshot_root, clock, step_contexts):
    """A file whose name is not valid UTF-8 beside the listed ones: the restore neither crashes nor writes
    it; the listed files are restored verified (or the snapshot is refused with a clear error)."""
    info = fresh_snapshot(snapshot_root, clock, files=2, total_mb=1)
    (info.path / os.fsdecode(b"bad-\xff\xfe.bin")).write_bytes(b"x" * 100)
    ctx = step_contexts(BackupRestore, make_ssh_site(), clock)
    try:
        assert run_step(BackupRestore(), ctx)
    except OrchestratorError as exc:  # a clear refusal is acceptable; a raw UnicodeDecodeError is not
        assert "not valid UTF-8" in str(exc)
        assert_refused(ctx, info)
    else:
        assert_verified(ctx, info)


def test_file_shorter_or_longer_than_listed_is_bounded(make_ssh_site, snapshot_root, clock, step_contexts, monkeypatch):
    """Sizes the listing announced lie by the time of the read: a file that shrank is refused ("ends at
    byte"), a file that grew by 64 MiB is read only up to its listed size (memory stays bounded)."""
    info = fresh_snapshot(snapshot_root, clock, files=2, total_mb=2)
    ordered = sorted(info.sizes, key=info.sizes.get)
    small, big = ordered[0], ordered[-1]
    original = SftpBackupSource.manifest

    def manifest(self, snapshot, sums=None):
        files = original(self, snapshot, sums)
        with open(info.path / small, "r+b") as handle:
            handle.truncate(info.sizes[small] // 2)
        with open(info.path / big, "ab") as handle:
            handle.truncate(info.sizes[big] + (64 << 20))  # sparse: costs no disk
        return files

    monkeypatch.setattr(SftpBackupSource, "manifest", manifest)
    ctx = step_contexts(BackupRestore, make_ssh_site(), clock, params={"workers": 1})
    tracemalloc.start()
    try:
        with pytest.raises(SnapshotError, match="ends at byte"):
            BackupRestore().apply(ctx)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 48 << 20
    assert_refused(ctx, info, {small})


def test_listing_of_100k_entries_is_refused_in_bounded_memory(make_ssh_site, snapshot_root, clock, step_contexts):
    """A SHA256SUMS listing 100,000 files that are not there: a clear refusal naming the first missing
    file, quickly and in bounded memory; nothing written."""
    info = fresh_snapshot(snapshot_root, clock, files=2, total_mb=1)
    entries = list(info.files.items()) + [(f"d{i % 100}/f{i}.bin", f"{i:064x}") for i in range(100_000)]
    (info.path / "SHA256SUMS").write_text(format_sha256sums(entries))
    ctx = step_contexts(BackupRestore, make_ssh_site(), clock)
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(SnapshotError, match="listed in SHA256SUMS but missing"):
            BackupRestore().apply(ctx)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 60 and peak < 256 << 20
    assert_refused(ctx, info)


# --- appliance trouble -------------------------------------------------------------------------------


def test_appliance_ssh_refused_fails_clearly_in_bounded_time(make_ssh_site, clock, step_contexts):
    """The appliance's SSH port is closed: bring-up retries under the ssh policy (on the FakeClock) and
    fails with a retryable 'refused' error; real time stays small."""
    site = make_ssh_site(appliance={"port": sshd.free_port()})
    ctx = step_contexts(BringUp, site, clock)
    started = time.monotonic()
    with capture_logs() as logs, pytest.raises(RetryableError, match=r"(?i)refused"):
        BringUp().apply(ctx)
    assert time.monotonic() - started < 10
    assert 1 <= sum(1 for e in logs if e["event"] == "retry") <= 3 and sum(clock.sleeps) <= 60


def test_appliance_refusing_our_key_fails_at_once(make_ssh_site, clock, step_contexts):
    """An appliance that does not accept our key: SshAuthFailed at once, no retry, nothing initiated."""
    other = sshd.generate_keypair("not-authorized")
    site = make_ssh_site()
    ctx = step_contexts(BringUp, site, clock)
    ctx.services.aws.client("secretsmanager").put_secret_value(SecretId="cc-dr/appliance-key",
                                                                SecretString=other.private_openssh)
    with capture_logs() as logs, pytest.raises(SshAuthFailed):
        BringUp().apply(ctx)
    assert not [e for e in logs if e["event"] == "retry"]


def test_appliance_swanctl_hanging_is_bounded(make_ssh_site, fake_swanctl, clock, step_contexts, monkeypatch):
    """`swanctl` never answers: each command is cut at the command timeout, retried under the ssh policy,
    then the step fails with a timeout error; real time is bounded by attempts x timeout."""
    fake_swanctl.configure(mode="hang", hang_seconds=4)
    monkeypatch.setattr(StrongSwanAppliance, "command_timeout", 0.5)
    ctx = step_contexts(BringUp, make_ssh_site(), clock)
    started = time.monotonic()
    with pytest.raises(OrchestratorError, match=r"(?i)time"):
        BringUp().apply(ctx)
    assert time.monotonic() - started < 4 * 0.5 + 6


def test_appliance_tunnel_flapping_is_never_reported_up(make_ssh_site, fake_swanctl, clock, step_contexts):
    """The tunnel shows ESTABLISHED once and is gone at the next look: verify after the apply sees it down
    (the engine retries: VerificationFailed), each retry initiates once more, never a false 'up'."""
    fake_swanctl.configure(mode="flap")
    site = make_ssh_site()
    ctx = step_contexts(BringUp, site, clock, params={"poll_interval_seconds": 1})
    for attempt in (1, 2):
        BringUp().apply(ctx)  # it saw the tunnel ESTABLISHED/INSTALLED once
        assert not BringUp().verify(ctx)
        assert "no SA" in ctx.services.appliance.list_sas().describe("dr-tunnel-1")
        assert fake_swanctl.child("dr-tunnel-1")["initiations"] == attempt
    assert fake_swanctl.child("dr-tunnel-1")["flaps"] == 2
