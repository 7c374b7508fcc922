"""Change batches stay whole unless Route 53's per-request quotas force a split."""

from __future__ import annotations

from orchestrator.adapters.route53 import Change, RecordSet, split_change_batch
from orchestrator.dns_names import normal_name, normal_zone_id


def upsert(i: int, values: int = 1, width: int = 8) -> Change:
    return Change(
        "UPSERT", RecordSet(f"r{i}.example.com.", "TXT", 60, tuple("v" * width for _ in range(values)))
    )


def test_a_site_fits_in_one_batch():
    """A normal site's records go out in one ChangeBatch."""
    changes = [upsert(i) for i in range(20)]
    assert split_change_batch(changes) == [changes]


def test_upserts_count_twice_against_the_record_quota():
    """500 one-value UPSERTs are 1000 elements (one batch); 501 need a second batch."""
    assert len(split_change_batch([upsert(i) for i in range(500)])) == 1
    batches = split_change_batch([upsert(i) for i in range(501)])
    assert [len(b) for b in batches] == [500, 1]


def test_deletes_count_once():
    """DELETE changes count once: 1000 one-value DELETEs fit in one batch."""
    deletes = [Change("DELETE", upsert(i).record) for i in range(1000)]
    assert len(split_change_batch(deletes)) == 1


def test_value_characters_quota_splits_in_order():
    """Past 32000 characters of values (UPSERT counted twice) a new batch starts; order is kept."""
    changes = [upsert(i, width=4000) for i in range(5)]  # 8000 counted chars each
    batches = split_change_batch(changes)
    assert [len(b) for b in batches] == [4, 1]
    assert [c for b in batches for c in b] == changes


def test_an_oversized_change_gets_its_own_batch():
    """A single change over a quota is sent alone (Route 53 then refuses it) rather than dropped."""
    big, small = upsert(0, width=20000), upsert(1)
    assert split_change_batch([small, big, small]) == [[small], [big], [small]]


def test_names_and_zone_ids_are_normalized():
    """Names compare case-insensitively with a trailing dot; '/hostedzone/' prefixes are dropped."""
    assert normal_name("Agents.Example.COM") == "agents.example.com."
    assert normal_name("\\052.example.com.") == "*.example.com."
    assert normal_zone_id("/hostedzone/Z123") == "Z123"


def test_record_values_compare_order_and_case_insensitively():
    """Several A values match in any order; CNAME targets ignore case and the trailing dot."""
    a = RecordSet("a.example.com.", "A", 60, ("192.0.2.2", "192.0.2.1"))
    assert a.same_values(["192.0.2.1", "192.0.2.2"], 60)
    assert not a.same_values(["192.0.2.1"], 60)
    assert not a.same_values(["192.0.2.1", "192.0.2.2"], 300)
    cname = RecordSet("c.example.com.", "CNAME", 60, ("Agents.DR.example.net.",))
    assert cname.same_values(["agents.dr.example.net"])
