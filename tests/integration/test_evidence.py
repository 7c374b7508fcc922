"""Contract 1.2, evidence: every run writes REPORT_DIR/RUN_ID/evidence/ (manifest with each file's SHA-256, a
hash-chained audit log); `orchestrator evidence verify RUN_ID` names each file and audit record altered, removed
or added; `orchestrator findings` tracks what runs found from run to run. Through the real console program,
with test step kinds (no AWS), so these run anywhere."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from orchestrator.evidence import chain
from tests.helpers import SITE, orchestrator, write_runbook

pytestmark = pytest.mark.integration

BOOK = """
name: evidence
kind: test
defaults: {owner: sre}
steps:
  - {id: prepare, uses: builtin.noop, owner: dba}
  - {id: flaky, uses: builtin.fail, needs: [prepare], retry: {attempts: 5, backoff: 0.01, max_delay: 0.01},
     with: {failures: FAILURES}}
  - {id: cutover, uses: builtin.sleep, needs: [flaky], gate: approval, owner: network, with: {seconds: SLEEP}}
"""


def runbook(folder: Path, failures: int = 0, sleep: float = 0.05) -> Path:
    return write_runbook(folder, BOOK.replace("FAILURES", str(failures)).replace("SLEEP", str(sleep)))


def site_file(folder: Path, **changes) -> Path:
    data = json.loads(SITE.read_text())
    for key, value in changes.items():
        data[key] = value
    path = folder / "site.json"
    path.write_text(json.dumps(data))
    return path


def run_id_of(result: subprocess.CompletedProcess) -> str:
    for line in result.stdout.splitlines():
        if line.startswith("run "):
            return line.split()[1].rstrip(":")
    raise AssertionError(result.stdout + result.stderr)


def verify(run_id: str, state: Path) -> subprocess.CompletedProcess:
    return orchestrator("evidence", "verify", run_id, state_dir=state)


@pytest.fixture
def finished(tmp_path) -> tuple[str, Path, Path]:
    state = tmp_path / "state"
    done = orchestrator("failover", "--site", str(SITE), "--runbook", str(runbook(tmp_path)), "--yes",
                        state_dir=state)
    assert done.returncode == 0, done.stderr
    run_id = run_id_of(done)
    return run_id, state, state / "reports" / run_id / "evidence"


def test_every_file_of_the_pack_is_in_the_manifest_and_verify_says_intact(finished):
    run_id, state, pack = finished
    manifest = json.loads((pack / "manifest.json").read_text())
    files = {p.relative_to(pack).as_posix() for p in pack.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(manifest["files"]) == files
    for expected in ("report/report.json", "report/report.md", "report/timeline.png", "audit.jsonl",
                     "decisions.json", "runbook.json", "site.json", "version.json", "index.md", "index.json"):
        assert expected in files
    audit = (pack / "audit.jsonl").read_text()
    assert chain.breaks(audit) == []
    assert json.loads(audit.splitlines()[0])["prev_sha256"] == chain.GENESIS
    result = verify(run_id, state)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "intact" in result.stdout


def test_a_byte_changed_in_any_file_is_named(finished):
    run_id, state, pack = finished
    for rel in json.loads((pack / "manifest.json").read_text())["files"]:
        path = pack / rel
        original = path.read_bytes()
        path.write_bytes(bytes([original[0] ^ 0x01]) + original[1:])
        try:
            result = verify(run_id, state)
            assert result.returncode == 1, rel
            assert f"{rel}: altered" in result.stdout.splitlines(), result.stdout
        finally:
            path.write_bytes(original)
    assert verify(run_id, state).returncode == 0


def test_files_removed_and_added_are_named(finished):
    run_id, state, pack = finished
    (pack / "decisions.json").unlink()
    (pack / "report" / "extra.txt").write_text("not from the run\n")
    lines = verify(run_id, state).stdout.splitlines()
    assert "decisions.json: removed" in lines
    assert "report/extra.txt: added" in lines


def test_audit_records_removed_inserted_and_altered_are_named_by_line(finished):
    run_id, state, pack = finished
    audit = pack / "audit.jsonl"
    original = audit.read_text().splitlines()
    assert len(original) >= 8
    # a line removed (the 4th)
    audit.write_text("\n".join(original[:3] + original[4:]) + "\n")
    result = verify(run_id, state)
    assert result.returncode == 1
    assert "audit.jsonl line 4: record 4 of the written log removed before it" in result.stdout
    # a line inserted (as the 3rd), chained correctly to the line before it: still found
    forged = chain.Head(2, chain.line_hash(original[1])).link({"event": "approval_granted", "by": "mallory"})
    audit.write_text("\n".join([*original[:2], forged, *original[2:]]) + "\n")
    result = verify(run_id, state)
    assert result.returncode == 1
    assert "audit.jsonl line 3: record inserted" in result.stdout
    # a record altered (the 5th): its own prev_sha256 still right, the chain breaks at the next one
    altered = original[4].replace('"info"', '"debug"')
    assert altered != original[4]
    audit.write_text("\n".join([*original[:4], altered, *original[5:]]) + "\n")
    assert chain.breaks(audit.read_text()) == [6]
    result = verify(run_id, state)
    assert result.returncode == 1
    assert "audit.jsonl line 5: record altered" in result.stdout
    # the last record removed: only the manifest can tell
    audit.write_text("\n".join(original[:-1]) + "\n")
    result = verify(run_id, state)
    assert f"records {len(original)}" in result.stdout or f"record {len(original)} " in result.stdout


def test_unknown_run_or_no_pack_is_exit_2(tmp_path):
    result = verify("20260101T000000Z-failover-000000", tmp_path / "state")
    assert result.returncode == 2
    assert "no evidence pack" in result.stderr


def test_a_held_run_has_a_pack_and_its_resume_continues_the_chain(tmp_path):
    """No terminal, no --yes: the run holds at the gate (exit 4) with its pack; `resume --yes` continues the
    same audit chain (seq and prev_sha256 across both processes) and rewrites the pack with the approval."""
    state = tmp_path / "state"
    held = orchestrator("failover", "--site", str(SITE), "--runbook", str(runbook(tmp_path)), state_dir=state)
    assert held.returncode == 4, held.stderr
    run_id = run_id_of(held)
    pack = state / "reports" / run_id / "evidence"
    assert verify(run_id, state).returncode == 0
    before = len((pack / "audit.jsonl").read_text().splitlines())
    done = orchestrator("resume", run_id, "--yes", state_dir=state)
    assert done.returncode == 0, done.stderr
    audit = (pack / "audit.jsonl").read_text().splitlines()
    assert len(audit) > before
    assert [json.loads(line)["seq"] for line in audit] == list(range(1, len(audit) + 1))
    assert chain.breaks("\n".join(audit)) == []
    assert verify(run_id, state).returncode == 0
    decisions = json.loads((pack / "decisions.json").read_text())
    assert [a["step"] for a in decisions["approvals"]] == ["cutover"]
    assert any(e["event"] == "approval_granted" for e in decisions["events"])


def test_the_pack_holds_no_secret(tmp_path):
    """Secrets planted in the site file (a key named password, the environment's AWS secret key as a value,
    a private key file's contents) and in the environment: none of them anywhere in the pack."""
    key_file = tmp_path / "appliance_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key_file)], check=True)
    key_text = key_file.read_text()
    key_line = next(line for line in key_text.splitlines() if len(line) > 40)
    env_secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY-evidence"
    data = json.loads(SITE.read_text())
    appliance = data["vpn"]["appliance"]
    appliance.pop("private_key_secret")
    appliance["private_key_file"] = str(key_file)
    data["vendor"] = {"password": "hunter2-planted-password", "note": f"copied by mistake: {env_secret}",
                      "key_dump": key_line}
    site = tmp_path / "site-secret.json"
    site.write_text(json.dumps(data))
    state = tmp_path / "state"
    done = orchestrator("failover", "--site", str(site), "--runbook", str(runbook(tmp_path)), "--yes",
                        state_dir=state, env={"AWS_SECRET_ACCESS_KEY": env_secret})
    assert done.returncode == 0, done.stderr
    pack = state / "reports" / run_id_of(done) / "evidence"
    assert (pack / "site.json").is_file()
    for path in pack.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            for secret in (env_secret, "hunter2-planted-password", key_line, key_text.strip()):
                assert secret.encode() not in content, (path, secret[:12])
    assert json.loads((pack / "site.json").read_text())["vpn"]["appliance"]["private_key_file"] == str(key_file)


def test_findings_open_closed_by_hand_then_recur_in_the_next_drill(tmp_path):
    """A drill misses its RTO (objective 1 s, a step of 1.2 s) and retries a step 3 times: two findings, with
    the steps' owners. Closed by hand (who and why kept); the next drill misses the RTO again: that finding is
    open again and its report lists it as recurred, the other as still open."""
    site = site_file(tmp_path, objectives={"rto_seconds": 1, "rpo_seconds": 86400})
    state = tmp_path / "state"
    book = runbook(tmp_path, failures=3, sleep=1.2)
    first = orchestrator("drill", "--site", str(site), "--runbook", str(book), state_dir=state)
    assert first.returncode == 0, first.stderr
    report = json.loads((state / "reports" / run_id_of(first) / "report.json").read_text())
    kinds = {f["kind"]: f for f in report["findings"]["new"]}
    assert set(kinds) == {"rto_missed", "retries"}
    assert kinds["retries"]["step"] == "flaky" and kinds["retries"]["owner"] == "sre"
    assert kinds["rto_missed"]["step"] == "cutover" and kinds["rto_missed"]["owner"] == "network"
    listed = json.loads(orchestrator("findings", "--open", "--json", state_dir=state).stdout)["findings"]
    assert {f["id"] for f in listed} == {f["id"] for f in kinds.values()}
    rto_id = kinds["rto_missed"]["id"]
    closed = orchestrator("findings", "close", rto_id, "--note", "cutover sped up", state_dir=state)
    assert closed.returncode == 0, closed.stderr
    shown = {f["id"]: f for f in json.loads(orchestrator("findings", "--json", state_dir=state).stdout)["findings"]}
    assert shown[rto_id]["status"] == "closed" and shown[rto_id]["note"] == "cutover sped up"
    assert shown[rto_id]["closed_by"] and shown[rto_id]["closed_at"]
    assert rto_id not in {f["id"] for f in json.loads(
        orchestrator("findings", "--open", "--json", state_dir=state).stdout)["findings"]}

    second = orchestrator("drill", "--site", str(site), "--runbook", str(runbook(tmp_path, sleep=1.2)),
                          state_dir=state)
    assert second.returncode == 0, second.stderr
    again = json.loads((state / "reports" / run_id_of(second) / "report.json").read_text())["findings"]
    assert [f["id"] for f in again["recurred"]] == [rto_id]
    assert [f["id"] for f in again["open"]] == [kinds["retries"]["id"]]
    assert again["new"] == []
    markdown = (state / "reports" / run_id_of(second) / "report.md").read_text()
    assert f"- Recurred (closed before, found again): `{rto_id}` rto_missed" in markdown
    assert f"- Still open from earlier runs: `{kinds['retries']['id']}` retries" in markdown
    shown = {f["id"]: f for f in json.loads(orchestrator("findings", "--json", state_dir=state).stdout)["findings"]}
    assert shown[rto_id]["status"] == "open" and shown[rto_id]["recurred"] == 1
    assert len(shown[rto_id]["runs"]) == 2
    assert "recurred" in orchestrator("findings", state_dir=state).stdout


def test_closing_an_unknown_finding_is_exit_2(tmp_path):
    result = orchestrator("findings", "close", "F-0000000000", "--note", "x", state_dir=tmp_path / "state")
    assert result.returncode == 2
    assert "no finding" in result.stderr


def test_a_pack_lost_after_the_report_is_written_again_by_resume(finished):
    """A kill -9 after the report files, before the pack: `resume` of the succeeded run writes the pack."""
    import shutil

    run_id, state, pack = finished
    shutil.rmtree(pack)
    resumed = orchestrator("resume", run_id, state_dir=state)
    assert resumed.returncode == 0, resumed.stderr
    assert verify(run_id, state).returncode == 0


def test_a_manifest_naming_files_outside_the_pack_is_altered_and_nothing_outside_is_read(finished):
    run_id, state, pack = finished
    manifest = json.loads((pack / "manifest.json").read_text())
    manifest["files"]["../report.json"] = "0" * 64
    (pack / "manifest.json").write_text(json.dumps(manifest))
    result = verify(run_id, state)
    assert result.returncode == 1
    assert "manifest.json: altered (names paths outside the pack: ../report.json)" in result.stdout


def test_a_whole_pack_removed_from_a_reported_run_is_not_intact_exit_1(finished):
    """The evidence/ folder of a run whose report is there deleted: every file of the pack was removed, so
    `evidence verify` exits 1 naming it (contract: 1 naming what was removed), not 2 as for a run it never saw."""
    import shutil

    run_id, state, pack = finished
    shutil.rmtree(pack)
    result = verify(run_id, state)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith("evidence/: removed"), result.stdout
    assert f"orchestrator resume {run_id}" in result.stdout
