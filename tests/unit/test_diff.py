"""Year over year: regressions, fixes, objects and waivers; exit 1 on regressions for CI;
the annual report's comparison section from last year's signed bundle."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ihconform.diff import diff_runs, format_text
from ihconform.report.bundle import make_bundle
from ihconform.report.signing import generate_key, load_key
from ihconform.results import Status, WaiverRecord
from ihconform.results import TestedObject as Obj

from .test_report_render import rich_result

OLD = dict(run_id="r2025", started="2025-11-01T09:00:00+00:00")


def test_same_run_has_no_changes():
    d = diff_runs(rich_result(), rich_result())
    assert not d.has_regressions and not d.fixes and not d.objects_added and not d.waivers and not d.notes


def test_comparing_different_institutions_is_noted():
    other = rich_result(**OLD)
    other = other.model_copy(update={"institution": {**other.institution, "credit_code": "12500000MB0000001Y"}})
    d = diff_runs(other, rich_result())
    assert d.notes and "12500000MB0000001Y" in d.notes[0] and "注意 / note" in format_text(d)


def test_injected_regression_is_found():
    old = rich_result(**OLD)
    new = rich_result(flip={("CQ-SRV", "site"): Status.FAIL})
    d = diff_runs(old, new)
    assert [(c.control_id, c.object_id, c.old, c.new) for c in d.regressions] == [
        ("CQ-SRV", "site", Status.PASS, Status.FAIL)]
    assert d.regressions[0].high_risk
    assert "CQ-SRV · site: 符合 → 不符合 [高风险/high risk]" in format_text(d)


def test_fixes_partial_steps_and_coverage():
    old = rich_result(**OLD, flip={("L3-CES1-01", "db01"): Status.PARTIAL, ("CQ-AUDIT", "web01"): Status.PASS})
    d = diff_runs(old, rich_result())
    assert [(c.control_id, c.new) for c in d.regressions] == [("L3-CES1-01", Status.FAIL)]  # partial -> fail
    assert [c.control_id for c in d.coverage_lost] == ["CQ-AUDIT"]  # pass -> error: not a regression
    d2 = diff_runs(rich_result(), old)
    assert [(c.control_id, c.new) for c in d2.fixes] == [("L3-CES1-01", Status.PARTIAL)]
    assert [c.control_id for c in d2.coverage_gained] == ["CQ-AUDIT"]


def test_objects_added_and_removed():
    old = rich_result(**OLD)
    new = rich_result()
    new = new.model_copy(update={"objects": (*new.objects[:-1], Obj(type="host-os", id="app02",
                                                                             label="app02"))})
    d = diff_runs(old, new)
    assert d.objects_added == [("host-os", "app02")] and d.objects_removed == [("web-server", "web01")]


def test_waivers_expired_and_renewed():
    old = rich_result(**OLD)
    w = old.waivers[0]
    expired = w.model_copy(update={"state": "expired"})
    renewed = w.model_copy(update={"valid_until": "2028-06-30"})
    extra = WaiverRecord(id="W-NEW", control_id="NHC-RET", objects=("db01",), justification="j",
                         compensating_control="c", risk="低", approver="a", valid_from="2026-01-01",
                         valid_until="2026-12-31", state="active")
    d = diff_runs(old, rich_result().model_copy(update={"waivers": (expired, extra)}))
    assert [(x.id, x.change) for x in d.waivers] == [("W-2026-01", "expired"), ("W-NEW", "added")]
    d = diff_runs(old, rich_result().model_copy(update={"waivers": (renewed,)}))
    assert [(x.id, x.change, x.new_until) for x in d.waivers] == [("W-2026-01", "renewed", "2028-06-30")]


def _write(folder: Path, result) -> Path:  # type: ignore[no-untyped-def]
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(result.model_dump_json(), encoding="utf-8")
    return folder


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ihconform.cli", *args], capture_output=True, text=True,
                          timeout=300, check=False)


def test_cli_diff_exit_codes_and_json(tmp_path):
    old = _write(tmp_path / "old", rich_result(**OLD))
    same = _write(tmp_path / "same", rich_result())
    worse = _write(tmp_path / "worse", rich_result(flip={("CQ-SRV", "site"): Status.FAIL}))
    assert cli("diff", str(old), str(same)).returncode == 0
    p = cli("diff", str(old / "results.json"), str(worse), "--json")
    assert p.returncode == 1, p.stderr
    assert json.loads(p.stdout)["regressions"][0]["control_id"] == "CQ-SRV"
    assert cli("diff", str(old), str(tmp_path / "missing")).returncode == 2


def test_annual_report_compares_with_last_years_bundle(tmp_path):
    old = _write(tmp_path / "20251101-r2025", rich_result(**OLD))
    key = tmp_path / "k.key"
    generate_key(key)
    bundle = tmp_path / "2025.bundle.zip"
    make_bundle(old, bundle, load_key(key))
    new = _write(tmp_path / "20261101-r2026", rich_result(flip={("CQ-SRV", "site"): Status.FAIL}))
    p = cli("report", str(new), "--previous", str(bundle), "--no-pdf", "--lang", "both")
    assert p.returncode == 0, p.stderr
    html = (new / "report.html").read_text(encoding="utf-8")
    section = html[html.index("上年对比</h2>"):]
    assert "r2025" in section and "CQ-SRV" in section and "退步" in section
    assert "Comparison with last year" in (new / "report.en.html").read_text(encoding="utf-8")
    # a tampered baseline is refused: the comparison is only as good as last year's signature
    raw = bytearray(bundle.read_bytes())
    raw[-30] ^= 1
    bundle.write_bytes(bytes(raw))
    p = cli("report", str(new), "--previous", str(bundle), "--no-pdf")
    assert p.returncode == 2 and "failed verification" in p.stderr


def test_evidence_changes_by_digest():
    old = rich_result(**OLD)
    new = rich_result()
    changed = new.evidence[1].model_copy(update={"sha256": "0" * 64})
    new = new.model_copy(update={"evidence": (new.evidence[0], changed)})
    d = diff_runs(old, new)
    assert d.evidence_changed == ["evidence/uplinks/isp-b/iperf3.json"]  # the run-level ref wins over the result's
    assert "~ evidence/uplinks/isp-b/iperf3.json" in format_text(d)


def test_a_changed_profile_is_noted():
    old = rich_result(**OLD)
    old = old.model_copy(update={"run": old.run.model_copy(update={"profile_digests": {"a.yaml": "00" * 32}})})
    assert any("digests differ" in n for n in diff_runs(old, rich_result()).notes)
