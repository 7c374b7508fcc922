"""`when: KEY`: a step is part of a run only on a site file with that optional top-level key (issue 16)."""

from __future__ import annotations

import json

import pytest

from orchestrator.errors import InvalidInput
from orchestrator.render import render_runbook
from orchestrator.runbook import OPTIONAL_SITE_KEYS, load_runbook, runbook_from_dict
from orchestrator.site import Site, parse_site
from tests.helpers import REPO, SITE, load

BOOK = REPO / "tests" / "data" / "runbooks" / "when_connect.yaml"
CONNECT = {
    "instance_id": "11111111-2222-3333-4444-555555555555",
    "instance_arn": "arn:aws:connect:us-east-1:123456789012:instance/11111111-2222-3333-4444-555555555555",
    "traffic_distribution_group_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
    "primary_region": "us-east-1",
    "secondary_region": "us-west-2",
}


def _site(connect: dict | None = None) -> Site:
    data = json.loads(SITE.read_text())
    if connect is not None:
        data["connect"] = connect
    return parse_site(data, source="site.json")


def test_optional_site_keys_are_the_sites_optional_top_level_keys():
    """`when` may name exactly the site file's optional top-level keys (connect among them)."""
    assert set(OPTIONAL_SITE_KEYS) == {"state", "access", "connect", "primary", "secondary"}


def test_steps_for_a_missing_key_are_left_out_and_needs_go_through_them():
    """On a site without connect the `when: connect` steps are left out; a step that needed one needs what
    it needed instead, so the cutover still waits for the seats."""
    book = load_runbook(BOOK).for_site(_site())
    assert [s.id for s in book.steps] == ["seats-up", "dns-cutover", "smoke"]
    assert book.by_id["dns-cutover"].needs == ("seats-up",)
    assert [s.id for s in book.order()] == ["seats-up", "dns-cutover", "smoke"]


def test_every_step_stays_on_a_site_with_the_key():
    """On a site with connect the runbook is unchanged, dependencies included."""
    full = load_runbook(BOOK)
    book = full.for_site(_site(CONNECT))
    assert [s.id for s in book.steps] == [s.id for s in full.steps]
    assert book.by_id["shift-traffic"].needs == ("seats-up", "announce-outage")


def test_a_null_key_counts_as_absent():
    """`"connect": null` in the site file leaves the steps out, like no key at all."""
    data = json.loads(SITE.read_text()) | {"connect": None}
    book = load_runbook(BOOK).for_site(parse_site(data))
    assert "shift-traffic" not in book.by_id and "announce-outage" not in book.by_id


def test_needs_resolve_through_a_chain_of_left_out_steps(tmp_path):
    """Two left-out steps in a row: the step after them needs the one before them, once."""
    book = load(tmp_path, """
        name: chain
        steps:
          - {id: a, uses: builtin.noop}
          - {id: b, uses: builtin.noop, needs: [a], when: connect}
          - {id: c, uses: builtin.noop, needs: [b, a], when: connect}
          - {id: d, uses: builtin.noop, needs: [c, a]}
        """).for_site(_site())
    assert [(s.id, s.needs) for s in book.steps] == [("a", ()), ("d", ("a",))]


def test_unknown_when_key_names_file_line_and_key(tmp_path):
    """`when` naming something that is not an optional site key is invalid input naming file, line, key."""
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nsteps:\n  - id: a\n    uses: builtin.noop\n    when: conect\n")
    with pytest.raises(InvalidInput) as caught:
        load_runbook(path)
    text = str(caught.value)
    assert text.startswith(f"{path}:5 (steps[0].when): unknown site key")
    assert "(access, connect, primary, secondary, state) or one of connect.test_call" in text and "'conect'" in text


def test_a_required_key_is_not_a_valid_condition(tmp_path):
    """`when: dns` is refused: every site has dns, so the condition would mean nothing."""
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nsteps:\n  - {id: a, uses: builtin.noop, when: dns}\n")
    with pytest.raises(InvalidInput, match=r"unknown site key.*\(got 'dns'\)"):
        load_runbook(path)


def test_the_journaled_form_keeps_when():
    """to_dict / runbook_from_dict (what the journal keeps for resume) carry `when` through."""
    book = load_runbook(BOOK)
    again = runbook_from_dict(book.to_dict())
    assert again.by_id["shift-traffic"].when == "connect" and again.by_id["seats-up"].when is None


def test_a_left_out_phase_sink_hands_its_needs_to_the_next_phase(tmp_path):
    """In a phased runbook, the next phase waits for what a left-out last step of the previous phase needed."""
    (tmp_path / "first.yaml").write_text(
        "name: first\nsteps:\n  - {id: a, uses: builtin.noop}\n"
        "  - {id: shift, uses: builtin.noop, needs: [a], when: connect}\n"
    )
    book = load(tmp_path, """
        name: phased
        phases:
          - {name: one, runbook: first.yaml}
          - name: two
            steps: [{id: z, uses: builtin.noop}]
        """).for_site(_site())
    assert [(s.id, s.needs) for s in book.steps] == [("one/a", ()), ("two/z", ("one/a",))]


def test_render_marks_conditional_steps():
    """`runbook render` lists every step, conditional ones marked with the key they depend on."""
    text = render_runbook(load_runbook(BOOK))
    assert "| `shift-traffic` (only when the site has `connect`) |" in text
    assert "## 3. `shift-traffic` (only when the site has `connect`)" in text
    assert "| `seats-up` |" in text and "`seats-up` (only" not in text


def test_a_runbook_with_no_step_for_the_site_is_invalid_input(tmp_path):
    """A run would do nothing (every step is `when: connect`, the site has none): refused as invalid input
    naming the runbook, not reported as a failover done."""
    from orchestrator.app import run_runbook

    book = load(tmp_path, "name: only-connect\nsteps:\n  - {id: a, uses: builtin.noop, when: connect}\n")
    with pytest.raises(InvalidInput, match=r"runbook.yaml:steps: no step of runbook 'only-connect' is for site"):
        run_runbook(book, _site())
    assert [s.id for s in run_runbook(book, _site(CONNECT)).steps] == ["a"]
