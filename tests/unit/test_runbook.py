"""Runbook loading and validation: every error names the file and the line."""

from __future__ import annotations

import pytest

from orchestrator.errors import InvalidInput
from orchestrator.runbook import load_runbook
from tests.helpers import REPO, load, write_runbook

GOOD = """
name: t
kind: test
defaults: {owner: ops, timeout: 5m, retry: {attempts: 2, backoff: 500ms, max_delay: 1m}}
steps:
  - id: a
    uses: builtin.noop
  - id: b
    uses: builtin.sleep
    with: {seconds: 2}
    needs: a
    retry: none
    timeout: 1h30m
    gate: approval
"""


def test_loads_defaults_and_overrides(tmp_path):
    """Defaults apply to each step; step-level values override them; durations become seconds."""
    book = load(tmp_path, GOOD)
    a, b = book.steps
    assert (a.owner, a.timeout, a.retry.attempts, a.retry.backoff, a.retry.max_delay) == (
        "ops",
        300,
        2,
        0.5,
        60,
    )
    assert (b.needs, b.timeout, b.retry.attempts, b.gate, b.params.seconds) == (
        ("a",),
        5400,
        1,
        "approval",
        2.0,
    )


BAD = [
    ("unknown kind", "  - id: a\n    uses: dns.nonsense\n", 6, "unknown step kind 'dns.nonsense'"),
    (
        "unknown param",
        "  - id: a\n    uses: builtin.sleep\n    with: {seconds: 1, colour: red}\n",
        7,
        "unknown key",
    ),
    ("missing dep", "  - id: a\n    uses: builtin.noop\n    needs: [ghost]\n", 7, "needs 'ghost'"),
    (
        "cycle",
        "  - id: a\n    uses: builtin.noop\n    needs: [b]\n  - id: b\n    uses: builtin.noop\n"
        "    needs: [a]\n",
        7,
        "dependency cycle: a -> b -> a",
    ),
    (
        "duplicate id",
        "  - id: a\n    uses: builtin.noop\n  - id: a\n    uses: builtin.noop\n",
        7,
        "duplicate step id 'a'",
    ),
    ("bad duration", "  - id: a\n    uses: builtin.noop\n    timeout: 5 minutes\n", 7, "duration"),
    ("negative duration", "  - id: a\n    uses: builtin.noop\n    timeout: -5\n", 7, "positive"),
    ("bad on_failure", "  - id: a\n    uses: builtin.noop\n    on_failure: panic\n", 7, "on_failure"),
    ("unknown step key", "  - id: a\n    uses: builtin.noop\n    colour: red\n", 7, "unknown key"),
    ("bad id", "  - id: 'A B'\n    uses: builtin.noop\n", 5, "id"),
    (
        "bad retry policy",
        "  - id: a\n    uses: builtin.noop\n    retry: sometimes\n",
        7,
        "unknown retry policy",
    ),
]


@pytest.mark.parametrize(("label", "steps", "line", "needle"), BAD, ids=[b[0] for b in BAD])
def test_invalid_runbooks_name_file_and_line(tmp_path, label, steps, line, needle):
    """Each kind of mistake is refused with the file, the line and the offending key."""
    path = write_runbook(tmp_path, "name: t\nkind: test\ndefaults: {owner: ops}\nsteps:\n" + steps)
    with pytest.raises(InvalidInput) as info:
        load_runbook(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}"), message
    assert needle in message


def test_yaml_syntax_error_is_located(tmp_path):
    """Broken YAML is reported with its line, not a traceback."""
    path = write_runbook(tmp_path, "name: t\nsteps:\n  - id: a\n    uses: [unclosed\n")
    with pytest.raises(InvalidInput, match=r"runbook.yaml:\d+: not valid YAML"):
        load_runbook(path)


def test_empty_and_non_mapping_files(tmp_path):
    """An empty file or a list at the top level is a located error."""
    with pytest.raises(InvalidInput, match="empty"):
        load_runbook(write_runbook(tmp_path, ""))
    with pytest.raises(InvalidInput, match="expected a mapping"):
        load_runbook(write_runbook(tmp_path, "- a\n- b\n"))


def test_missing_file(tmp_path):
    """A missing runbook file names the path."""
    with pytest.raises(InvalidInput, match="not found"):
        load_runbook(tmp_path / "nope.yaml")


def test_phases_chain_runbooks(tmp_path):
    """Phases prefix step ids and make every root of a phase wait for the whole previous phase."""
    write_runbook(
        tmp_path,
        "name: one\nsteps:\n  - {id: a, uses: builtin.noop}\n  - {id: b, uses: builtin.noop}\n",
        "one.yaml",
    )
    book = load(
        tmp_path,
        """
        name: both
        phases:
          - {name: first, runbook: one.yaml, rto: true}
          - name: second
            steps:
              - {id: c, uses: builtin.noop}
              - {id: d, uses: builtin.noop, needs: [c]}
    """,
    )
    assert [s.id for s in book.steps] == ["first/a", "first/b", "second/c", "second/d"]
    assert set(book.by_id["second/c"].needs) == {"first/a", "first/b"}
    assert book.by_id["second/d"].needs == ("second/c",)
    assert book.rto_phase == "first"


def test_thousand_step_chain_has_no_recursion_limit(tmp_path):
    """A 1000-step chain validates (cycle detection is iterative)."""
    steps = "".join(
        f"  - {{id: s{i}, uses: builtin.noop{f', needs: [s{i - 1}]' if i else ''}}}\n"
        for i in range(1000)
    )
    book = load(tmp_path, "name: long\nsteps:\n" + steps)
    assert len(book.order()) == 1000


@pytest.mark.parametrize("name", ["failover.yaml", "failback.yaml", "drill.yaml"])
def test_production_runbooks_validate_without_test_kinds(name):
    """The shipped runbooks validate and use no builtin (test-only) step kinds."""
    path = REPO / "runbooks" / name
    book = load_runbook(path)
    assert not [s.id for s in book.steps if s.uses.startswith("builtin.")]


@pytest.mark.parametrize("name", ["failover", "failback", "drill"])
def test_rendered_checklists_are_current(name):
    """runbooks/NAME.md is exactly what `runbook render` prints (regenerate it when the YAML changes)."""
    from orchestrator.render import render_runbook

    rendered = render_runbook(load_runbook(REPO / "runbooks" / f"{name}.yaml"))
    assert (REPO / "runbooks" / f"{name}.md").read_text() == rendered + "\n"


def test_render_marks_gates_owners_and_manual_steps():
    """The rendered failover names every owner, marks the approval gate and says what to do by hand."""
    from orchestrator.render import render_runbook

    text = render_runbook(load_runbook(REPO / "runbooks" / "failover.yaml"))
    assert "`dns-cutover` — **APPROVAL**" in text
    assert "owner: **dba-oncall**" in text
    assert "By hand:" in text and "sha256sum -c SHA256SUMS" in text


def test_unknown_yaml_tag_is_located(tmp_path):
    """A YAML tag the safe loader cannot construct (found by hypothesis: `!0`) is a located error."""
    with pytest.raises(InvalidInput, match=r"runbook.yaml:3: not valid YAML: could not determine a constructor"):
        load_runbook(write_runbook(tmp_path, "name: t\nsteps:\n  - id: !0 a\n    uses: builtin.noop\n"))


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("9" * 400, "a number with more than 30 digits"),
        ("'" + "9" * 400 + "s'", "at most 7 days"),
        ("99999999h", "at most 7 days"),
        (".inf", "at most 7 days"),
        (".nan", "not NaN"),
        ("0s", "must be positive"),
    ],
)
def test_durations_out_of_range_are_located(tmp_path, value, needle):
    """A timeout too long to be meant (or NaN, infinite, 400 digits) is refused at its line, not an
    OverflowError or a deadline that never comes."""
    steps = f"steps:\n  - id: a\n    uses: builtin.noop\n    timeout: {value}\n"
    path = write_runbook(tmp_path, "name: t\nkind: test\n" + steps)
    with pytest.raises(InvalidInput, match=rf"^{path}:6") as info:
        load_runbook(path)
    assert needle in str(info.value)


def test_step_parameters_refuse_infinity(tmp_path):
    """`.inf` as a wait bound is refused (a wait bounded by infinity never ends)."""
    steps = "steps:\n  - id: a\n    uses: vpn.bring_up\n    with: {timeout_seconds: .inf}\n"
    path = write_runbook(tmp_path, "name: t\n" + steps)
    with pytest.raises(InvalidInput, match=r"steps\[0\]\.with\.timeout_seconds.*finite"):
        load_runbook(path)


def test_phase_runbook_that_is_not_a_file_is_located(tmp_path):
    """A phase naming a directory (or a missing file) is refused at the phase's line."""
    (tmp_path / "sub").mkdir()
    path = write_runbook(tmp_path, "name: t\nphases:\n  - name: p\n    runbook: sub\n")
    with pytest.raises(InvalidInput, match=r"runbook.yaml:4 \(phases\[0\]\.runbook\): phase runbook .* is not a file"):
        load_runbook(path)


def test_the_by_hand_preflight_lists_the_checks_not_the_tool():
    """Issue 25: the by-hand checklist for `preflight` said "Run `orchestrator readiness`", useless when the
    tool itself is unavailable; it lists each check (blocking or a warning, and what it checks)."""
    from orchestrator import checks
    from orchestrator.render import render_runbook

    text = render_runbook(load_runbook(REPO / "runbooks" / "failover.yaml"))
    section = text.split("## 3. `preflight`")[1].split("\n## ")[0]
    assert not section.split("By hand:")[1].strip().startswith("Run `orchestrator readiness")
    for check in (*checks.PREFLIGHT, *checks.CONNECT):
        assert f"- [ ] `{check.check_name}` (" in section, check.check_name
    assert "- [ ] `backup.snapshot` (blocking): SFTP is reachable" in section
    assert "- [ ] `notify.topic` (warning): The milestone SNS topic exists." in section
