"""The lean protocol (``Reporter.pytest_runtest_protocol``, a run with only the built-in probes
and no pytest options) judges every call exactly as pytest's protocol does.

The same plan runs twice in pytest, once with pytest's protocol and once with ``--ihc-lean``
(the CLI passes it only without ``--probes``; here it is given by hand so that user probes can
end a call in every way the reporter maps): the verdicts, reasons, observations and evidence are
the same, what a probe prints reaches neither stream, and a fixture that fails to clean up makes
its call 检查错误 on both paths."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ihconform.run.launch import pytest_args

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _run(out: Path, *, lean: bool) -> tuple[dict[tuple[str, str], dict[str, object]], str]:
    args = pytest_args(inventory=FIXTURES / "golden-inventory.yaml", profile=str(FIXTURES / "profiles" / "lean.yaml"),
                       only=[], output=out, run_id="lean" if lean else "full",
                       probes=[FIXTURES / "probes" / "fixed.py", FIXTURES / "probes_lean" / "ends.py"],
                       parallel=2, progress=False, formats=("json",))
    assert "--ihc-lean" not in args  # user probes: the CLI keeps pytest's protocol
    proc = subprocess.run([sys.executable, "-m", "pytest", *args, *(["--ihc-lean"] if lean else [])],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # non-conformant by design, and nothing crashed
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    results = {(r["control_id"], r["object_id"]): {k: v for k, v in r.items() if k != "duration_s"}
               for r in doc["results"]}
    return results, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("lean")
    return _run(base / "full", lean=False), _run(base / "lean", lean=True)


def test_every_verdict_is_the_same_on_both_protocols(both):
    (full, _), (lean, _) = both
    assert set(full) == set(lean) and len(full) >= 15
    assert lean == full


def test_each_end_of_a_call_has_its_verdict(both):
    _, (lean, _) = both
    for isp in ("isp-a", "isp-b"):
        assert lean[("L-PRINTS", isp)]["status"] == "pass"
        assert (lean[("L-SKIPS", isp)]["status"], lean[("L-SKIPS", isp)]["reason"]) == (
            "not_checked", "skipped: no window today")
        assert (lean[("L-FAILS", isp)]["status"], lean[("L-FAILS", isp)]["reason"]) == ("error", "Failed: gave up")
        assert (lean[("L-SETUP", isp)]["status"], lean[("L-SETUP", isp)]["reason"]) == (
            "error", "OSError: fixture could not open its device")
        # judged 符合 by the probe, but its fixture failed afterwards: never 符合
        assert (lean[("L-TEARDOWN", isp)]["status"], lean[("L-TEARDOWN", isp)]["reason"]) == (
            "error", "RuntimeError: fixture could not release its device")
    assert lean[("G-RAISES", "site")]["status"] == "error"
    assert "probe crashed" in str(lean[("G-RAISES", "site")]["reason"])


def test_what_a_probe_prints_reaches_no_stream(both):
    (_, full_out), (_, lean_out) = both
    for out in (full_out, lean_out):
        assert "LEAN-STDOUT-MARK" not in out and "LEAN-STDERR-MARK" not in out
