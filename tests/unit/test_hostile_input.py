"""Hostile input without a lab (issue 8): YAML bombs, structure-aware fuzzing of every input file
the harness reads, and hostile target text through every output format.

Why beside test_fuzz_loaders / test_ledger_fuzz: those mutate the *text* of a file, so most
examples die as YAML syntax errors. Here the documents stay valid YAML and the *values* are
replaced at random paths (wrong types, huge or hostile strings, nested junk), which reaches the
pydantic models, the ledger's verification and the env-file parser. Each scenario records what it
observed in the reliability ledger (tests/reliability.py).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ihconform.catalog import load_profile
from ihconform.errors import ConfigError
from ihconform.inventory import load_inventory
from ihconform.ledger.core import load_ledger
from ihconform.report.junit import render_junit
from ihconform.report.render import render_html
from ihconform.report.view import build_view
from ihconform.secrets import parse_env_file
from ihconform.yamlio import MAX_BYTES

from ..conftest import FIXTURES
from ..reliability import Ledger
from .test_report_escaping import ALLOWED_TAGS, Tags
from .test_report_render import rich_result

ROOT = Path(__file__).resolve().parents[2]

# ---- 8. yaml-bombs --------------------------------------------------------------------------------


def billion_laughs(levels: int = 9, fan: int = 10) -> str:
    lines = ['lol0: &lol0 "lol"']
    for i in range(1, levels + 1):
        lines.append(f"lol{i}: &lol{i} [" + ", ".join([f"*lol{i - 1}"] * fan) + "]")
    return "institution: {name: x}\n" + "\n".join(lines) + "\n"


def merge_bomb(levels: int = 20) -> str:
    lines = ["a0: &a0 {k0: 0, k1: 1, k2: 2, k3: 3}"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} {{<<: [*a{i - 1}, *a{i - 1}, *a{i - 1}], x{i}: {i}}}")
    return "\n".join(lines) + "\n"


def nested_merge_bomb(levels: int = 30) -> str:
    """Each level defines its anchor inside its own merge list and merges it three times: PyYAML's
    flatten_mapping alone would build 3^levels entries."""
    inner = "&b0 {k0: 0, k1: 1}"
    for i in range(1, levels):
        inner = f"&b{i} {{<<: [{inner}, *b{i - 1}, *b{i - 1}], u{i}: 0}}"
    return "x: " + inner + "\n"


BOMBS: dict[str, tuple[Callable[[], str], str]] = {
    "billion laughs (10^9 expansions)": (billion_laughs, r"alias bomb"),
    "aliases of merge keys (20 levels)": (merge_bomb, r"alias bomb|duplicate key|nodes"),
    "nested merge keys (30 levels, 3^30 entries)": (nested_merge_bomb, r"alias bomb"),
    "flow nesting 100 000 deep": (lambda: "hosts: " + "[" * 100_000 + "]" * 100_000 + "\n", r"nest"),
    "block nesting 2 000 deep": (lambda: "".join(f"{' ' * i}k{i}:\n" for i in range(2000)) + " " * 2000 + "v\n",
                                 r"nest"),
    "huge scalar (7 MiB hostname)": (
        lambda: "hosts:\n  - id: a\n    address: " + "a" * (7 << 20) + "\n", r"longer than"),
    "huge key (2 MiB, explicit '? ' key)": (lambda: "? " + "k" * (2 << 20) + "\n: 1\n", r"longer than"),
    "file over the size limit": (lambda: "# " + "x" * (MAX_BYTES + 10) + "\n", r"larger than"),
}

_CHILD = r"""
import resource, sys, time
from pathlib import Path
from ihconform.errors import ConfigError
from ihconform.inventory import load_inventory
from ihconform.catalog import load_profile
t = time.process_time()  # CPU seconds: a loaded 2-core machine stretches wall time, not work
out = []
for loader in (load_inventory, load_profile):
    try:
        loader(Path(sys.argv[1]))
        out.append("accepted")
    except ConfigError as exc:
        out.append("ConfigError: " + str(exc)[:300].replace("\n", " "))
print(time.process_time() - t)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
print("\n".join(out))
"""


def _baseline_rss_kib() -> int:
    """A child that imports the same modules and loads nothing: what the interpreter costs."""
    p = subprocess.run([sys.executable, "-c", "import resource, ihconform.inventory, ihconform.catalog;"
                        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"],
                       capture_output=True, text=True, check=True, cwd=ROOT)
    return int(p.stdout.strip())


def test_yaml_bombs_are_refused_in_bounded_time_and_memory(tmp_path: Path, reliability: Ledger) -> None:
    """Each bomb in a fresh interpreter (so its memory is measured alone), through both the
    inventory and the profile loader: refused with a ConfigError naming the cause, in a few
    seconds, with a bounded resident set (the limits leave room for a shared 2-core machine)."""
    base = _baseline_rss_kib()
    rows = []
    for name, (make, expect) in BOMBS.items():
        p = tmp_path / "bomb.yaml"
        p.write_text(make(), encoding="utf-8")
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(p)], capture_output=True, text=True,
                              timeout=60, check=False, cwd=ROOT)
        assert proc.returncode == 0, (name, proc.stderr[-3000:])
        secs, rss, *outcomes = proc.stdout.strip().splitlines()
        extra_mib = (int(rss) - base) / 1024
        for outcome in outcomes:
            assert outcome.startswith("ConfigError") and re.search(expect, outcome), (name, outcome)
        assert float(secs) < 10, (name, secs)  # CPU seconds of the loader, not wall time
        assert extra_mib < 200, (name, extra_mib)
        rows.append(f"{name}: {float(secs):.2f} s, +{extra_mib:.0f} MiB, “{outcomes[0][13:80]}”")
    reliability.record(
        "yaml-bombs", fault=f"{len(BOMBS)} bombs fed to the inventory and profile loaders, each in its own "
        "interpreter: " + ", ".join(BOMBS),
        exit_code=None, affected="every bomb refused with ConfigError: " + "; ".join(rows),
        unaffected="the loaders' ordinary inputs (test_yamlio, test_fuzz_loaders)",
        report="nothing: refused before any run starts", false_passes=0)


# ---- 7. fuzz-inputs -------------------------------------------------------------------------------

INVENTORY = yaml.safe_load((FIXTURES / "golden-inventory.yaml").read_text(encoding="utf-8"))
PROFILE = yaml.safe_load((FIXTURES / "profiles" / "mini.yaml").read_text(encoding="utf-8"))
ATTESTATIONS = yaml.safe_load((FIXTURES / "ledger" / "attestations.yaml").read_text(encoding="utf-8"))
WAIVERS = yaml.safe_load((FIXTURES / "ledger" / "waivers.yaml").read_text(encoding="utf-8"))

HOSTILE_TEXT = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "\x1b[31m\x1b]0;pwn\x07",
                "../../../../etc/passwd", "/dev/zero", "a" * 5000, "中文\u202e", "", " ", "-1", "0", "1e999",
                "${HOME}", "$(id)", "`id`", "%s%n", "\ufeff", "null", "~", "2026-02-30", "::1", "0.0.0.0",
                "198.51.100.1/33", "ssh-ed25519 AAAA", "--help"]
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True)
    | st.sampled_from(HOSTILE_TEXT) | st.text(max_size=30),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(["id", "x", "address", "port", "hosts"])
                                                        | st.text(max_size=8), c, max_size=3),
    max_leaves=8)


def paths_of(doc: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += paths_of(v, (*here, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += paths_of(v, (*here, i))
    return out


def replaced(doc: Any, path: tuple[Any, ...], value: Any, mode: str) -> Any:
    """A deep copy of ``doc`` with the node at ``path`` replaced, deleted or given a sibling."""
    doc = json.loads(json.dumps(doc, default=str))
    if not path:
        return value
    parent = doc
    for p in path[:-1]:
        parent = parent[p]
    last = path[-1]
    if mode == "delete":
        del parent[last]
    elif mode == "sibling" and isinstance(parent, dict):
        parent[f"{last}_x"] = value
    elif mode == "sibling" and isinstance(parent, list):
        parent.append(value)
    else:
        parent[last] = value
    return doc


OUTCOMES: Counter[str] = Counter()


def _dump(value: Any) -> str:
    return yaml.safe_dump(value, allow_unicode=True, default_flow_style=False, sort_keys=False)


def _fuzz_one(kind: str, base: Any, load: Callable[[Path], Any], tmp: Path,
              pick: int, mode: str, value: Any) -> None:
    paths = paths_of(base)
    doc = replaced(base, paths[pick % len(paths)], value, mode)
    p = tmp / f"{kind}.yaml"
    p.write_text(_dump(doc), encoding="utf-8", errors="surrogatepass")
    try:
        load(p)
        OUTCOMES[f"{kind}: accepted"] += 1
    except ConfigError as exc:  # the one documented error of the loaders, always located
        assert exc.location is not None or exc.field, str(exc)
        OUTCOMES[f"{kind}: ConfigError"] += 1


def _ledger(tmp: Path, which: str) -> Callable[[Path], Any]:
    def load(p: Path) -> Any:
        led = load_ledger(p if which == "attestations" else None, p if which == "waivers" else None,
                          FIXTURES / "ledger" / "keyring.yaml")
        led.attestation_records()
        led.waiver_records({})
        return led

    return load


MODES = st.sampled_from(["replace", "replace", "delete", "sibling"])
N_EXAMPLES = 120


def test_fuzz_inputs_structure_aware(tmp_path_factory: pytest.TempPathFactory, reliability: Ledger) -> None:
    """Valid YAML with one value replaced, deleted or given an unknown sibling, at any path of an
    inventory, a profile, an attestation file and a waiver file; and env files of random lines.
    Nothing but ConfigError may escape; the counts of examples and outcomes go to the ledger."""
    OUTCOMES.clear()
    tmp = tmp_path_factory.mktemp("fuzz")
    cfg = settings(max_examples=N_EXAMPLES, deadline=None, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    targets: dict[str, tuple[Any, Callable[[Path], Any]]] = {
        "inventory": (INVENTORY, load_inventory), "profile": (PROFILE, load_profile),
        "attestations": (ATTESTATIONS, _ledger(tmp, "attestations")), "waivers": (WAIVERS, _ledger(tmp, "waivers")),
    }
    def fuzzer(kind: str, base: Any, load: Callable[[Path], Any]) -> Callable[[], None]:
        @cfg
        @given(pick=st.integers(0, 10**6), mode=MODES, value=VALUES)
        def run(pick: int, mode: str, value: Any) -> None:
            _fuzz_one(kind, base, load, tmp, pick, mode, value)

        return run

    for kind, (base, load) in targets.items():
        fuzzer(kind, base, load)()

    @cfg
    @given(lines=st.lists(st.text(max_size=40) | st.sampled_from(
        ["A=1", "export B='x'", "C=\"y", "=v", "D", "#c", "E=\x00", "F=\x1b[31m", "G=" + "g" * 10000]), max_size=8),
        raw=st.binary(max_size=40))
    def env(lines: list[str], raw: bytes) -> None:
        p = tmp / "lab.env"
        p.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass") + raw)
        p.chmod(0o600)
        try:
            parsed = parse_env_file(p)
            assert all("\x00" not in k + v for k, v in parsed.items()), parsed
            OUTCOMES["env file: accepted"] += 1
        except ConfigError as exc:
            assert exc.location is not None
            OUTCOMES["env file: ConfigError"] += 1

    env()
    total = sum(OUTCOMES.values())
    assert total >= 5 * N_EXAMPLES * 0.9, OUTCOMES  # hypothesis ran (nearly) what was asked
    for kind in (*targets, "env file"):
        assert OUTCOMES[f"{kind}: ConfigError"] > 0, (kind, OUTCOMES)  # the fuzz reached the validators
    reliability.record(
        "fuzz-inputs",
        fault=f"hypothesis, structure-aware: {N_EXAMPLES} examples each for inventory, profile, attestations, "
              "waivers (a value at a random path replaced by hostile/mistyped data, deleted, or given an unknown "
              "sibling) and env files of random lines and bytes; besides the text mutations of "
              "test_fuzz_loaders.py and test_ledger_fuzz.py",
        exit_code=None,
        affected=f"{total} examples, no uncaught exception: " + ", ".join(
            f"{k} {n}" for k, n in sorted(OUTCOMES.items())),
        unaffected="accepted examples loaded into valid models",
        report="nothing: loader-level", false_passes=0)


# ---- 6. hostile-target (the unit half: every output format) ---------------------------------------

HOSTILE = ("<script>alert(1)</script>\"><img src=x onerror=alert(1)>\x1b[2J\x1b]0;pwned\x07\x1b[31m"
           "\udcff\udcfe\x00\x08\x7f\x85\u2028\ufffe\u202e" + "W" * 300_000)


def hostile_result() -> Any:
    r = rich_result()
    results = list(r.results)
    results[0] = results[0].model_copy(update={"object_id": "obj" + HOSTILE[:200], "reason": HOSTILE,
                                               "observed": {"banner": HOSTILE, HOSTILE[:50]: [HOSTILE[:80]]}})
    return r.model_copy(update={"results": tuple(results), "warnings": (HOSTILE[:500],)})


def test_hostile_target_text_in_every_format() -> None:
    """Markup, ANSI/OSC escapes, lone surrogates (undecodable bytes kept by surrogateescape), NUL,
    C1 controls and a 300 000-character line in an object id, a reason and observed data: JSON
    stays valid, junit.xml parses, the HTML has no tag, attribute, control character or lone
    surrogate from the data. (The lab half, with a real host, records the ledger row.)"""
    r = hostile_result()
    junit = render_junit(r)
    root = ET.fromstring(junit)
    assert root.tag == "testsuite"
    assert b"\x1b" not in junit and b"\x00" not in junit
    json.loads(json.dumps(r.model_dump(mode="json")))
    html = render_html(build_view(r))
    tags = Tags()
    tags.feed(html)
    assert tags.tags <= ALLOWED_TAGS and not any(a.startswith("on") for a in tags.attrs)
    assert "\x1b" not in html and "<script" not in html.lower()
    html.encode("utf-8")  # no lone surrogate survives into the file
