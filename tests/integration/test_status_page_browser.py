"""The status page as a person sees it: a real failover against the embedded site publishes the page at every
milestone (the sandbox's status bucket, versioned here so that every upload is kept), and each version is
loaded in headless Chromium (Debian's `chromium`): the phase in plain words, the ETA line, every step's owner;
at the end the outcome, RTO and RPO. The page makes no request: a page with external references injected makes
none under its CSP, while the same page without the CSP does (so the check can fail)."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from orchestrator.runbook import load_runbook
from orchestrator.status_page import NO_ESTIMATE, phases
from tests.e2e_helpers import cli
from tests.helpers import REPO

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (make system-deps installs it as root; CI always has it)",
)
#: a phone's viewport (CSS pixels) for the screenshot
PHONE = "412,1350"
#: where the README's screenshot comes from, when ORCHESTRATOR_UPDATE_SCREENSHOT=1
SCREENSHOT = REPO / "docs" / "images" / "status-page.png"
#: every phrase the page may show as the phase of a failover
PHASES = {*phases.STEP_WORDS.values(), phases.BULK_RESTORE_WORDS, phases.STARTING, phases.WAITING_FOR_APPROVAL,
          "Failover complete",
          # each milestone update is named by what it announces (issue 25)
          *(phases.step_words("notify.milestone", {"milestone": m}) for m in phases.MILESTONE_WORDS)}


def chromium(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    assert CHROMIUM is not None, "chromium is required here (CI installs it: scripts/system-deps.sh)"
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", *args],
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def dump_dom(page: Path) -> str:
    result = chromium("--virtual-time-budget=2000", "--dump-dom", page.as_uri())
    assert result.returncode == 0 and "</html>" in result.stdout, result.stderr[-2000:]
    return result.stdout


def visible(dom: str, element_id: str) -> str:
    """The text of the element with ``element_id`` as the browser built it (tags dropped, entities decoded)."""
    match = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>(.*?)</\1>', dom, re.S)
    assert match, f"no #{element_id} in the page"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", match.group(2))).split())


def page_versions(site, folder: Path) -> list[Path]:
    """Every version of the page the run uploaded, oldest first, each written to a file."""
    page = site.site["notify"]["status_page"]
    s3 = site.client("s3")
    # S3 lists a key's versions newest first (LastModified has whole seconds only: no use to order them)
    versions = s3.list_object_versions(Bucket=page["bucket"], Prefix=page["key"])["Versions"][::-1]
    assert versions[-1]["IsLatest"]
    files = []
    for number, version in enumerate(versions):
        body = s3.get_object(Bucket=page["bucket"], Key=page["key"], VersionId=version["VersionId"])["Body"].read()
        files.append(folder / f"status-{number:02d}.html")
        files[-1].write_bytes(body)
    return files


@pytest.fixture
def failover_pages(embedded_site, tmp_path) -> tuple[list[Path], Path]:
    """A failover of the embedded site with every page upload kept; (the versions, the run's status.html)."""
    bucket = embedded_site.site["notify"]["status_page"]["bucket"]
    embedded_site.client("s3").put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    state = tmp_path / "state"
    result = cli(embedded_site, state, "failover", "--site", str(embedded_site.site_file), "--yes")
    assert result.returncode == 0, result.stderr[-3000:]
    [page_file] = (state / "reports").glob("*/status.html")
    assert f"status page: {page_file}" in result.stdout
    return page_versions(embedded_site, tmp_path), page_file


@needs_chromium
def test_the_page_at_each_milestone_of_a_real_failover(failover_pages, tmp_path):
    """Each published version, in Chromium: a phase in plain words, the ETA line (no estimate yet without drills)
    and every step with its owner; the last says "Failover complete" with the RTO and RPO against the
    objectives and is the run's status.html; a phone-sized screenshot of a mid-failover version is taken."""
    versions, page_file = failover_pages
    owners = {step.owner for step in load_runbook(REPO / "runbooks" / "failover.yaml").steps}
    assert len(versions) >= 3, versions
    doms = [dump_dom(v) for v in versions]
    for dom in doms:
        assert visible(dom, "phase").split(" Finished")[0].split(" " + NO_ESTIMATE)[0] in PHASES
        shown = visible(dom, "steps")
        assert all(owner in shown for owner in owners), (owners, shown)
        assert not re.search(r"\b(src|href)=", dom)
    middle = [d for d in doms if "id=\"eta\"" in d]
    assert middle, "no version of the page was published before the end"
    assert all(visible(d, "eta") == NO_ESTIMATE for d in middle)
    assert any("In progress" in visible(d, "steps") for d in middle)
    last = doms[-1]
    assert visible(last, "phase").startswith("Failover complete")
    assert re.fullmatch(r".+ \(objective 15 min\) — met", visible(last, "rto"))
    assert re.fullmatch(r"from a backup .+ old when the run started \(objective: at most 24 h\) — met",
                        visible(last, "rpo"))
    assert versions[-1].read_text() == page_file.read_text()

    mid = versions[_most_telling(doms)]
    shot = tmp_path / "status-page.png"
    taken = chromium("--hide-scrollbars", f"--window-size={PHONE}", f"--screenshot={shot}", mid.as_uri())
    assert taken.returncode == 0 and shot.stat().st_size > 10_000, taken.stderr[-2000:]
    if os.environ.get("ORCHESTRATOR_UPDATE_SCREENSHOT"):
        shutil.copy(shot, SCREENSHOT)


def _most_telling(doms: list[str]) -> int:
    """The mid-failover version that shows the most: steps done, in progress and not started."""
    def score(dom: str) -> tuple[bool, int]:
        steps = visible(dom, "steps") if 'id="eta"' in dom else ""
        return ("In progress" in steps and "Not started" in steps, steps.count("Done"))

    return max(range(len(doms)), key=lambda i: score(doms[i]))


class _Counter(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


def _requests_made(page: Path) -> list[str]:
    """Load ``page`` in Chromium with a counting HTTP server on 127.0.0.1; the paths it was asked for."""
    handler = type("Counter", (_Counter,), {"hits": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        text = page.read_text().replace("PORT", str(server.server_address[1]))
        page.write_text(text)
        dump_dom(page)
    finally:
        server.shutdown()
        server.server_close()
    return handler.hits


@needs_chromium
def test_the_page_can_make_no_request(tmp_path):
    """The page's CSP blocks any fetch: with an image, a stylesheet, a font and a script pointing at a local
    server injected, Chromium asks it for nothing; the same page without the CSP asks for them."""
    from datetime import UTC, datetime

    from orchestrator.status_page import render_page
    from tests.unit.test_status_page import _failover_book, _report, build_view

    page = render_page(build_view(_report({"preflight": "running"}), _failover_book(), None, datetime.now(UTC)))
    injected = ('<img src="http://127.0.0.1:PORT/img.png"><link rel="stylesheet" href="http://127.0.0.1:PORT/s.css">'
                '<style>@font-face{font-family:x;src:url(http://127.0.0.1:PORT/f.woff)} body{font-family:x}</style>'
                '<script src="http://127.0.0.1:PORT/s.js"></script></body>')
    guarded = tmp_path / "guarded.html"
    guarded.write_text(page.replace("</body>", injected))
    open_page = tmp_path / "open.html"
    open_page.write_text(re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", guarded.read_text()))
    assert _requests_made(guarded) == []
    assert len(_requests_made(open_page)) >= 2


@needs_chromium
def test_each_run_state_reads_as_one_state_in_the_browser(tmp_path):
    """Every page state (tests/unit/test_status_page.py's table: a run in each), rendered and loaded in Chromium:
    the headline and the line under it are those of the state, the colour is the state's, the ETA line is there
    only while the run moves, "Finished after" only after a final outcome, no step "In progress" when nothing
    runs it; phone-sized screenshots of the held and the failed-but-serving pages are taken."""
    from datetime import UTC, datetime

    from orchestrator.status_page import render_page
    from tests.unit.test_status_page import EXPECTED, NOW, _failover_book, _state_report, build_view

    for state, (headline, tone, detail, service, _) in EXPECTED.items():
        report, live = _state_report(state)
        page = tmp_path / f"{state}.html"
        page.write_text(render_page(build_view(report, _failover_book(), None, NOW, live=live,
                                               link_until=datetime(2026, 11, 29, 4, 0, tzinfo=UTC))))
        dom = dump_dom(page)
        look = phases.PAGE_STATES[state]
        assert visible(dom, "phase") == f"{headline} {detail}", state
        assert f'class="phase phase-{tone} state-{state}"' in dom, state
        assert ('id="eta"' in dom) is look.moving and ("Finished after" in dom) is look.finished, state
        assert ("In progress" in visible(dom, "steps")) is (state in ("running", "waiting")), state
        if service is not None:
            assert visible(dom, "rto") == service, state
        assert visible(dom, "link-expiry").startswith("The link to this page in the latest message works until "
                                                      "2026-11-29 04:00 UTC")
        if state in ("held", "failed_serving", "undoing"):
            shot = tmp_path / f"{state}.png"
            taken = chromium("--hide-scrollbars", f"--window-size={PHONE}", f"--screenshot={shot}", page.as_uri())
            assert taken.returncode == 0 and shot.stat().st_size > 10_000, taken.stderr[-2000:]
    print("screenshots:", sorted(str(p) for p in tmp_path.glob("*.png")))
