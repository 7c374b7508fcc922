"""Which runbook a command runs by default: runbooks/KIND.yaml of the current directory, else the installed one."""

from __future__ import annotations

from pathlib import Path

from orchestrator import app
from tests.helpers import REPO


def test_the_installed_runbook_when_the_directory_has_none(tmp_path, monkeypatch):
    """Elsewhere than a checkout, the default failover runbook is the installed package data (here: runbooks/)."""
    monkeypatch.chdir(tmp_path)
    found = app.default_runbook("failover")
    assert found.is_absolute() and found.read_bytes() == (REPO / "runbooks" / "failover.yaml").read_bytes()


def test_the_current_directorys_runbook_comes_first(tmp_path, monkeypatch):
    """A runbooks/failback.yaml in the current directory is the default, as the contract's relative path says."""
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "failback.yaml").write_text("name: local\nsteps:\n  - {id: a, uses: builtin.noop}\n")
    monkeypatch.chdir(tmp_path)
    assert app.default_runbook("failback") == Path("runbooks/failback.yaml")
    assert app.load_runbook(app.runbook_file(Path("failback"))).name == "local"


def test_runbook_file_prefers_an_existing_file_over_a_default_name(tmp_path, monkeypatch):
    """`runbook validate drill` reads a file named drill when there is one, else the default drill runbook."""
    monkeypatch.chdir(tmp_path)
    assert app.runbook_file(Path("drill")).name == "drill.yaml"
    (tmp_path / "drill").write_text("name: mine\nsteps:\n  - {id: a, uses: builtin.noop}\n")
    assert app.runbook_file(Path("drill")) == Path("drill")
