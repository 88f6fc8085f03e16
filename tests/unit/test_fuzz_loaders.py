"""Mutated inventories and profiles never make a traceback escape the loaders: every
failure is a ConfigError with a location (property-based, hypothesis)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ihconform.catalog import load_profile
from ihconform.errors import ConfigError
from ihconform.inventory import load_inventory

from ..conftest import FIXTURES

INVENTORY = (FIXTURES / "golden-inventory.yaml").read_text(encoding="utf-8")
TEMPLATE = (Path(__file__).resolve().parents[2] / "src" / "ihconform" / "templates" / "inventory.yaml").read_text(
    encoding="utf-8")
PROFILE = (FIXTURES / "profiles" / "mini.yaml").read_text(encoding="utf-8")

SNIPPETS = ["", ":", "- ", "{", "}", "[", "]", "&a", "*a", "!!str", "!!python/name:os.system", "\t", "\x00", "'",
            '"', "#", "<<: *a", "~", "null", "yes", "0x1F", "1e999", "2026-13-45", "  ", "\n", "- id: x",
            "port: -1", "host_key: x", "é", "中文", "\u202e", "%", "---\n", "...\n", "? x\n: y"]


def mutate(base: str, ops: list[tuple[int, int, str]]) -> str:
    text = base
    for pos, cut, snippet in ops:
        p = pos % (len(text) + 1)
        text = text[:p] + snippet + text[p + cut % 8:]
    return text


OPS = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 7), st.sampled_from(SNIPPETS)), min_size=1,
               max_size=6)


def _load(loader, tmp: Path, text: str) -> None:  # type: ignore[no-untyped-def]
    p = tmp / "x.yaml"
    p.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        loader(p)
    except ConfigError as exc:
        assert exc.location is not None or exc.field or "profile" in exc.message, str(exc)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS, base=st.sampled_from([INVENTORY, TEMPLATE]))
def test_mutated_inventories(tmp_path, ops, base):
    _load(load_inventory, tmp_path, mutate(base, ops))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_mutated_profiles(tmp_path, ops):
    _load(load_profile, tmp_path, mutate(PROFILE, ops))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                         lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
                         max_leaves=30))
def test_arbitrary_yaml_documents(tmp_path, data):
    import yaml

    text = yaml.safe_dump(data, allow_unicode=True)
    _load(load_inventory, tmp_path, text)
    _load(load_profile, tmp_path, text)


def test_property_tests_run_derandomised_unless_exploring():
    # tests/conftest.py loads the profile; docs/decisions.md says why
    import os

    exploring = os.environ.get("IHC_HYPOTHESIS_PROFILE") == "explore"
    assert settings.default.derandomize is not exploring
    assert exploring or settings.default.database is None
