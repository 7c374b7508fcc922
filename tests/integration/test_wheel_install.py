"""Installed from a wheel (not editable), run from a directory that is not the checkout, the orchestrator finds
its default runbooks (package data) and runs a dry-run failover against the embedded site.

How the install is made honest and fast (no network, ~5 s): the wheel is built from the checkout with this
venv's own setuptools (``--no-build-isolation``); a fresh venv gets it with ``pip install --no-deps``. The
third-party dependencies (boto3, paramiko...) come from this test venv's site-packages through one path line
in a ``.pth`` file: a plain path line adds the directory only, without running the ``.pth`` files inside it,
so the checkout's editable finder is not installed in the fresh venv and ``orchestrator`` can only come from
the wheel (asserted below).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.integration


#: what a build never needs: kept out of the copy the wheel is built from (no stale build/, no write in the checkout)
NOT_SOURCES = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".sandbox",
                                     ".orchestrator", ".pytest_cache", ".ruff_cache", ".hypothesis", "tests", "bench")


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> tuple[Path, str]:
    """The project's wheel, built from a copy of the checkout's sources, and what the build printed."""
    source, out = tmp_path_factory.mktemp("source") / "src", tmp_path_factory.mktemp("wheel")
    shutil.copytree(REPO, source, ignore=NOT_SOURCES)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                           "--wheel-dir", str(out), str(source)], check=True, capture_output=True, text=True,
                          timeout=300)
    (built,) = out.glob("cc_failover_orchestrator-*.whl")
    return built, done.stdout + done.stderr


@pytest.fixture(scope="module")
def wheel(build) -> Path:
    return build[0]


def test_the_build_prints_no_setuptools_banner(build):
    """Issue 25: every `make install` / `pip wheel` printed a 30-line setuptools banner because the status
    page's templates/ folder (an importable name) was not among the packages; the build is quiet now, and
    the template is in the wheel."""
    built, printed = build
    assert "absent from the `packages` configuration" not in printed, printed[-3000:]
    assert "Package would be ignored" not in printed, printed[-3000:]
    with zipfile.ZipFile(built) as archive:
        assert "orchestrator/status_page/templates/status.html.j2" in archive.namelist()


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv (no system site-packages) with the wheel installed; returns its bin/ folder."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120, env=_env())
    site_packages = Path(subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True, env=_env()).stdout.strip())
    (site_packages / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # without PYTHONPATH (the test session names the checkout there): pip would see the checkout's
    # egg-info as an installed copy of the same version and skip the wheel
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)],
                   check=True, capture_output=True, timeout=300, env=_env())
    return venv / "bin"


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in {**os.environ, **(extra or {})}.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return env


def _run(bin_dir: Path, cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(bin_dir / "orchestrator"), *args], cwd=cwd, env=env or _env(), capture_output=True,
                          text=True, timeout=180, stdin=subprocess.DEVNULL, check=False)


def test_the_wheel_ships_the_runbooks_folder_as_it_is(wheel):
    """The wheel's orchestrator/runbooks/ holds exactly the checkout's runbooks/ files, byte for byte."""
    with zipfile.ZipFile(wheel) as archive:
        shipped = {Path(n).name: archive.read(n) for n in archive.namelist()
                   if n.startswith("orchestrator/runbooks/") and not n.endswith(".py")}
    source = {p.name: p.read_bytes() for p in (REPO / "runbooks").iterdir() if p.suffix in (".yaml", ".md")}
    assert shipped == source and "failover.yaml" in shipped


def test_installed_wheel_validates_and_renders_its_default_runbook(installed, tmp_path):
    """From a directory without runbooks/, `runbook validate/render failover` read the installed copy."""
    where = subprocess.run([str(installed / "python"), "-c", "import orchestrator; print(orchestrator.__file__)"],
                           cwd=tmp_path, env=_env(), capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(installed.parent)), where
    validated = _run(installed, tmp_path, "runbook", "validate", "failover")
    assert validated.returncode == 0, validated.stderr[-2000:]
    assert "orchestrator/runbooks/failover.yaml: ok" in validated.stdout
    assert validated.stdout.startswith(str(installed.parent))
    rendered = _run(installed, tmp_path, "runbook", "render", "failover")
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    assert rendered.stdout.startswith("# ") and "dns-cutover" in rendered.stdout


def test_installed_wheel_renders_the_status_page_from_its_own_template(installed, tmp_path):
    """The status page's Jinja2 templates (run page, outage page, shared style) are package data of the wheel:
    the installed copies are the ones read."""
    script = ("from orchestrator.status_page import render as r; env = r.template_environment()\n"
              "for name in (r.TEMPLATE, 'outage.html.j2', '_style.css.j2'):\n"
              "    source, filename, _ = env.loader.get_source(env, name)\n"
              "    print(filename, 'Content-Security-Policy' in source)")
    found = subprocess.run([str(installed / "python"), "-c", script], cwd=tmp_path, env=_env(),
                           capture_output=True, text=True, timeout=60)
    assert found.returncode == 0, found.stderr[-2000:]
    lines = [line.split() for line in found.stdout.splitlines()]
    assert [Path(filename).name for filename, _ in lines] == ["status.html.j2", "outage.html.j2", "_style.css.j2"]
    for filename, _ in lines:
        assert filename.startswith(str(installed.parent)) and "/status_page/templates/" in filename
    assert [has_csp for _, has_csp in lines] == ["True", "True", "False"]


def test_installed_wheel_dry_runs_a_failover_on_the_embedded_site(installed, embedded_site, tmp_path):
    """`orchestrator failover --site S --dry-run --yes` from the wheel, elsewhere: exit 0, every step planned."""
    env = _env({**embedded_site.env, "ORCHESTRATOR_STATE_DIR": str(tmp_path / "state")})
    result = _run(installed, tmp_path, "failover", "--site", str(embedded_site.site_file), "--dry-run", "--yes",
                  env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"DRY RUN of failover ({installed.parent}" in result.stdout
    for step in ("vpn-up", "restore", "seats-up", "dns-cutover"):
        assert step in result.stdout
    assert "DRY RUN complete: no change was made" in result.stdout


def test_installed_wheel_brings_the_sandbox_up_from_its_own_stack(installed, tmp_path):
    """`orchestrator sandbox up/down` from the wheel, elsewhere: the stack program it deploys into moto is the
    wheel's `stacks` package (no checkout on any path), and it says how many failovers the site can take."""
    where = subprocess.run([str(installed / "python"), "-c", "import stacks.testing.moto as m; print(m.__file__)"],
                           cwd=tmp_path, env=_env(), capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(installed.parent)), where
    env = _env({"ORCHESTRATOR_SANDBOX_DIR": str(tmp_path / "sbx"), "ORCHESTRATOR_SANDBOX_MB": "1",
                "ORCHESTRATOR_SANDBOX_DAYS": "1", "ORCHESTRATOR_SANDBOX_FILES": "3"})
    try:
        up = _run(installed, tmp_path, "sandbox", "up", env=env)
    finally:
        down = _run(installed, tmp_path, "sandbox", "down", env=env)
    assert up.returncode == 0, up.stderr[-3000:]
    assert "room for 862 more failovers" in up.stdout
    # issue 25: the ~10 s start is not silent: each stage is said as it starts
    for stage in ("starting the embedded site", "starting sshd", "starting the VPN appliance",
                  "deploying the warm-site stack"):
        assert stage in up.stderr, up.stderr[-3000:]
    assert down.returncode == 0 and "sandbox down" in down.stdout
