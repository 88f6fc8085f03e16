"""The explicit probe registry resolves: every entry imports, carries its own id, and names
only fact sections that exist."""

from __future__ import annotations

import inspect

import pytest

from ihconform.facts.contract import COLLECTORS, collector_for
from ihconform.facts.neutral import ADAPTERS, adapters_for
from ihconform.facts.sections import known_fact_names
from ihconform.registry import FACTS_ATTR, PROBE_ATTR, PROBES, facts_needed, probe_function


@pytest.mark.parametrize("probe_id", sorted(PROBES))
def test_entry_imports_and_carries_its_id(probe_id: str) -> None:
    fn = probe_function(probe_id)
    assert getattr(fn, PROBE_ATTR) == probe_id
    assert fn.__name__.startswith("test_")  # pytest collects it
    assert "check" in inspect.signature(fn).parameters


@pytest.mark.parametrize("probe_id", sorted(p for p in PROBES if p.startswith(("host.", "db.", "web."))))
def test_host_db_web_probes_declare_existing_facts(probe_id: str) -> None:
    facts = getattr(probe_function(probe_id), FACTS_ATTR)
    assert facts, f"{probe_id} must list the fact sections it reads"
    unknown = set(facts) - known_fact_names()
    assert not unknown, f"{probe_id} reads unknown sections {unknown}"


def test_probe_docstrings_say_why() -> None:
    for probe_id in PROBES:
        if probe_id.startswith(("host.", "db.", "web.")):
            assert (probe_function(probe_id).__doc__ or "").strip(), probe_id


def test_facts_needed_is_the_union() -> None:
    assert facts_needed(["db.tls", "web.logging"]) == {"db", "nginx", "tomcat"}
    assert facts_needed(["no.such_probe"]) is None


@pytest.mark.parametrize("platform", sorted(COLLECTORS))
def test_every_collector_loads_and_fits_the_contract(platform: str) -> None:
    """Each registered collector is an object with the contract's three calls for its platform."""
    c = collector_for(platform)
    assert c.platform == platform
    for call in ("script", "parse", "collect"):
        assert callable(getattr(c, call)), call


def test_an_unknown_platform_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"known: .*linux"):
        collector_for("vms")


@pytest.mark.parametrize("platform", sorted(ADAPTERS))
def test_every_neutral_adapter_set_loads(platform: str) -> None:
    found = adapters_for(platform)
    assert found is not None and found.platform == platform and found.functions
