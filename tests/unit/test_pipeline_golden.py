"""The whole pipeline (plan -> pytest session -> reporter -> results model -> writers) on
deterministic user probes, against golden files for results.json and junit.xml.

Rewrite the goldens with ``pytest --update-golden`` after an intended change, and review the diff.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ihconform.schema import validate_results

from ..conftest import FIXTURES, GOLDEN, ROOT


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ihconform.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def golden_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("reports")
    proc = run_cli("run", "-q", "--formats", "json,junit", "-i", str(FIXTURES / "golden-inventory.yaml"),
                   "-p", str(FIXTURES / "profiles" / "golden.yaml"),
                   "--probes", str(FIXTURES / "probes" / "fixed.py"), "-o", str(out), cwd=ROOT)
    folders = [p for p in out.iterdir() if p.is_dir()]
    assert len(folders) == 1, (proc.stdout, proc.stderr)
    return proc, folders[0]


def normalise_json(data: dict) -> dict:  # type: ignore[type-arg]
    run = data["run"]
    for k in ("id", "started", "finished", "inventory", "command"):
        run[k] = "<masked>"
    run["duration_s"] = 0
    run["profile_digests"] = {Path(k).name: v for k, v in run["profile_digests"].items()}
    data["tool"]["python"] = "<masked>"
    data["tool"]["version"] = "<masked>"
    for r in data["results"]:
        r["duration_s"] = 0
    return data


def normalise_junit(text: str) -> str:
    text = re.sub(r'timestamp="[^"]*"', 'timestamp="<masked>"', text)
    text = re.sub(r'time="[^"]*"', 'time="0"', text)
    return re.sub(r'name="run_id" value="[^"]*"', 'name="run_id" value="<masked>"', text)


def compare(actual: str, golden: Path, update: bool) -> None:
    if update or not golden.exists():
        golden.write_text(actual, encoding="utf-8")
    assert actual == golden.read_text(encoding="utf-8"), f"differs from {golden}; --update-golden to accept"


def test_exit_code_is_non_conformant(golden_run):
    proc, _ = golden_run
    assert proc.returncode == 1, proc.stderr


def test_results_json_matches_golden_and_schema(golden_run, update_golden):
    _, folder = golden_run
    data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    validate_results(data)
    compare(json.dumps(normalise_json(data), ensure_ascii=False, indent=2) + "\n",
            GOLDEN / "golden.1.json", update_golden)


def test_junit_matches_golden(golden_run, update_golden):
    _, folder = golden_run
    compare(normalise_junit((folder / "junit.xml").read_text(encoding="utf-8")), GOLDEN / "golden.1.junit.xml",
            update_golden)


def test_every_outcome_maps_to_the_right_state(golden_run):
    _, folder = golden_run
    data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    by = {(r["control_id"], r["object_id"]): r for r in data["results"]}
    assert by[("G-CONTRACT", "isp-a")]["status"] == "pass"
    assert by[("G-CONTRACT", "isp-b")]["status"] == "fail"
    assert by[("G-ASSERT", "isp-b")]["status"] == "fail"
    assert "method is iperf3" in by[("G-ASSERT", "isp-b")]["reason"]
    assert by[("G-RAISES", "site")]["status"] == "error"
    assert "RuntimeError" in by[("G-RAISES", "site")]["reason"]
    assert by[("G-NOVERDICT", "site")]["status"] == "error"
    assert "no verdict" in by[("G-NOVERDICT", "site")]["reason"]
    assert by[("G-NOTCHECKED", "isp-a")]["status"] == "not_checked"
    assert by[("G-ATTEST", "site")]["status"] == "not_checked"
    assert by[("G-NOOBJECT", "-")]["status"] == "not_checked"
    assert by[("G-EXCLUDED", "site")]["status"] == "not_applicable"
    controls = {c["control_id"]: c["status"] for c in data["controls"]}
    assert controls["G-CONTRACT"] == "partial" and controls["G-ASSERT"] == "partial"
    assert data["summary"]["high_risk_failures"] == ["G-CONTRACT"]
    # every control of the profile has a result: nothing silently dropped
    assert set(controls) == {c for c, _ in by}


def test_a_probes_folder_is_collected_whatever_its_file_names(golden_run, tmp_path):
    """``--probes DIR``: every ``*.py`` in the folder is a probe file, named or not ``test_*``
    (the run's ini matches only ``test_*.py``; the launcher names the folder's files)."""
    _, folder = golden_run
    probes = tmp_path / "site-probes"
    (probes / "nested").mkdir(parents=True)
    (probes / "nested" / "contract_checks.py").write_text((FIXTURES / "probes" / "fixed.py").read_text("utf-8"),
                                                           encoding="utf-8")
    (probes / "__pycache__").mkdir()
    (probes / "__pycache__" / "stale.py").write_text("raise SystemExit('never collected')\n", encoding="utf-8")
    out = tmp_path / "reports"
    proc = run_cli("run", "-q", "--formats", "json", "-i", str(FIXTURES / "golden-inventory.yaml"),
                   "-p", str(FIXTURES / "profiles" / "golden.yaml"), "--probes", str(probes), "-o", str(out),
                   cwd=ROOT)
    (again,) = [p for p in out.iterdir() if p.is_dir()]
    assert proc.returncode == 1, proc.stderr

    def verdicts(run: Path) -> list[tuple[str, str, str, str]]:
        data = json.loads((run / "results.json").read_text(encoding="utf-8"))
        return [(r["control_id"], r["object_id"], r["status"], r["reason"]) for r in data["results"]]

    assert verdicts(again) == verdicts(folder)
