"""The scheduled drill workflow (.github/workflows/dr-drill.yml): the embedded site needs no credentials;
a real site gets them only by assuming the orchestrator role through GitHub's OIDC provider."""

from __future__ import annotations

from pathlib import Path

import yaml

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "dr-drill.yml"
REAL = "${{ vars.DR_SITE_FILE != '' }}"
EMBEDDED = "${{ vars.DR_SITE_FILE == '' }}"


def _steps() -> list[dict]:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]["drill"]["steps"]


def test_a_real_site_drill_assumes_the_orchestrator_role_with_the_oidc_token():
    """With DR_SITE_FILE set, credentials come from configure-aws-credentials assuming the role named by
    DR_ORCHESTRATOR_ROLE_ARN (id-token: write), before the drill of that site file; no stored AWS key."""
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow["permissions"]["id-token"] == "write"
    steps = _steps()
    (creds,) = [s for s in steps if str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials")]
    assert creds["if"] == REAL and creds["with"]["role-to-assume"] == "${{ vars.DR_ORCHESTRATOR_ROLE_ARN }}"
    assert not any(k in creds["with"] for k in ("aws-access-key-id", "aws-secret-access-key"))
    (drill,) = [s for s in steps if s.get("if") == REAL and "drill --site" in s.get("run", "")]
    assert steps.index(creds) < steps.index(drill) and '"$DR_SITE_FILE"' in drill["run"]
    assert "secrets." not in WORKFLOW.read_text()


def test_the_embedded_drill_runs_without_credentials():
    """Without DR_SITE_FILE the drill runs against the embedded site and no credential step applies."""
    steps = _steps()
    (embedded,) = [s for s in steps if s.get("if") == EMBEDDED and "make drill" in s.get("run", "")]
    assert "SITE=" not in embedded["run"]
    assert all(s.get("if") == REAL for s in steps if "aws-actions" in str(s.get("uses", "")))
