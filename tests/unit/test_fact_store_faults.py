"""Fault handling of the fact store (issue 8): a section cut at its cap is never read as a fact
(a flooded ``ps`` would list no forbidden service and pass). The lab test
``tests/integration/test_faults_host.py::test_output_flood`` shows it end to end."""

from __future__ import annotations

import pytest

from ihconform.errors import FactUnavailable
from ihconform.facts.collect import Section, collect
from ihconform.facts.store import FactStore
from ihconform.inventory import local_inventory
from ihconform.transport.local import LocalTransport


def test_a_capped_section_is_not_a_fact() -> None:
    inv = local_inventory()
    t = LocalTransport.connect(inv.hosts[0], inv)
    facts = collect(t, [Section("flood", "yes", cap=1000), Section("small", "echo ok")])
    assert facts.sections["flood"].truncated and len(facts.sections["flood"].output) == 1000
    with pytest.raises(FactUnavailable, match="exceeded the 1000 byte cap"):
        facts.text("flood")
    assert facts.text("small") == "ok\n"
    # the transcript still says what was received
    flood = next(c for c in facts.transcript()["commands"] if c["section"] == "flood")
    assert flood["truncated"] and flood["bytes"] == 1000


def test_store_gathers_capped_facts() -> None:
    inv = local_inventory()
    host = inv.hosts[0]
    store = FactStore(inv, {host.id: [Section("flood", "yes", cap=100)]})
    try:
        with pytest.raises(FactUnavailable, match="byte cap"):
            store.get(host.id).text("flood")
    finally:
        store.close()

