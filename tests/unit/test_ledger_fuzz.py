"""Mutated ledgers never make a traceback escape: the loader raises ConfigError with a location,
and verification turns anything it can parse into a record state (property-based, hypothesis).
A mutated signed record is never "valid" unless it still verifies."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ihconform.errors import ConfigError
from ihconform.ledger.core import load_ledger

from ..conftest import FIXTURES
from .test_fuzz_loaders import OPS, mutate

LEDGER = FIXTURES / "ledger"
ATTESTATIONS = (LEDGER / "attestations.yaml").read_text(encoding="utf-8")
WAIVERS = (LEDGER / "waivers.yaml").read_text(encoding="utf-8")
KEYRING = (LEDGER / "keyring.yaml").read_text(encoding="utf-8")
TODAY = dt.date(2026, 11, 1)
STATES = {"valid", "expired", "not-yet-valid", "unsigned", "bad-signature", "untrusted-key", "file-missing",
          "file-changed", "active"}


def _copy(tmp: Path) -> Path:
    d = tmp / "ledger"
    if not d.exists():
        shutil.copytree(LEDGER, d)
    return d


def _load(d: Path, att: str | None, wai: str | None, ring: str | None) -> None:
    paths = {}
    for name, text in (("attestations.yaml", att), ("waivers.yaml", wai), ("keyring.yaml", ring)):
        if text is not None:
            (d / name).write_text(text, encoding="utf-8", errors="surrogatepass")
            paths[name] = d / name
        else:
            paths[name] = None  # type: ignore[assignment]
    try:
        led = load_ledger(paths["attestations.yaml"], paths["waivers.yaml"], paths["keyring.yaml"], today=TODAY)
    except ConfigError as exc:
        assert exc.location is not None, str(exc)
        return
    for c in (*led.attestations, *led.waivers):
        assert c.state in STATES
    led.attestation_records()
    led.waiver_records({})
    led.warnings()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS, which=st.sampled_from(["attestations", "waivers", "keyring"]))
def test_mutated_ledger_text(tmp_path: Path, ops: list[tuple[int, int, str]], which: str) -> None:
    d = _copy(tmp_path)
    texts = {"attestations": ATTESTATIONS, "waivers": WAIVERS, "keyring": KEYRING}
    texts[which] = mutate(texts[which], ops)
    _load(d, texts["attestations"], texts["waivers"], texts["keyring"])


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.text(max_size=30),
                    st.dates(dt.date(1900, 1, 1), dt.date(2200, 1, 1)), st.sampled_from(["pass", "fail", "*", "高"]))


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*prefix, i))
    return out


def _set(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    cur = data
    for p in path[:-1]:
        cur = cur[p]
    cur[path[-1]] = value
    return data


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.sampled_from(["attestations", "waivers"]), pick=st.integers(0, 10**6), value=SCALARS)
def test_mutated_signed_records(tmp_path: Path, which: str, pick: int, value: Any) -> None:
    """Change one value anywhere in a signed ledger: the loader rejects it with a location, or
    verification gives a state; a record whose signed content changed never stays valid."""
    d = _copy(tmp_path)
    base = ATTESTATIONS if which == "attestations" else WAIVERS
    data = yaml.safe_load(base)
    paths = [p for p in _paths(data) if p]
    path = paths[pick % len(paths)]
    original = yaml.safe_load(base)
    data = _set(data, path, value)
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    _load(d, text if which == "attestations" else ATTESTATIONS, text if which == "waivers" else WAIVERS, KEYRING)
    try:
        led = load_ledger(d / "attestations.yaml", d / "waivers.yaml", d / "keyring.yaml", today=TODAY)
    except ConfigError:
        return
    records = led.attestations if which == "attestations" else led.waivers
    before = original[which]
    for i, c in enumerate(records):
        ok = c.state in ("valid", "active")
        now = c.record.model_dump(mode="json", exclude_defaults=True, exclude={"signature"})
        changed = i >= len(before) or now != type(c.record).model_validate(before[i]).model_dump(
            mode="json", exclude_defaults=True, exclude={"signature"})
        assert not (ok and changed), (path, value, c.state)
