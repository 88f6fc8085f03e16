"""The ledger in a whole run (CLI -> pytest session -> results.json): each attestation state
gives the right result, waivers mark failures without changing them, everything lands in
results.json (valid against the schema) and in the evidence folder."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ihconform.ledger.signing import keygen
from ihconform.schema import validate_results

from ..conftest import FIXTURES, ROOT
from .test_ledger import attach, attestation, signed, waiver, write_yaml

PROFILE = FIXTURES / "profiles" / "power.yaml"
TODAY = dt.date.today()


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ihconform.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


def site(root: Path, attestations: list[dict[str, Any]] | None, waivers: list[dict[str, Any]] | None,
         extra: dict[str, Any] | None = None) -> Path:
    evidence: dict[str, str] = {}
    if attestations is not None:
        write_yaml(root / "attestations.yaml", {"attestations": attestations})
        evidence["attestations"] = "attestations.yaml"
    if waivers is not None:
        write_yaml(root / "waivers.yaml", {"waivers": waivers})
        evidence["waivers"] = "waivers.yaml"
    inv = {"institution": {"name": "示例医院"}, "system": {"name": "互联网医院信息系统"},
           "hosts": [{"id": "db01", "address": "198.51.100.11", "roles": ["db"]}], "evidence": evidence,
           **(extra or {})}
    return write_yaml(root / "inventory.yaml", inv)


def run_site(root: Path, *only: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], Path]:
    args = ["run", "-q", "-i", str(root / "inventory.yaml"), "-p", str(PROFILE), "-o", str(root / "out")]
    for o in only:
        args += ["--only", o]
    proc = run_cli(*args, cwd=ROOT)
    folders = [p for p in (root / "out").iterdir() if p.is_dir()] if (root / "out").exists() else []
    assert len(folders) == 1, (proc.stdout, proc.stderr)
    data = json.loads((folders[0] / "results.json").read_text(encoding="utf-8"))
    validate_results(data)
    return proc, data, folders[0]


def by_control(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["control_id"]: r for r in data["results"] if r["object_id"] == "site"}


def mlps(kind: str, *, rid: str, level: int = 3, issued: dt.date | None = None, **over: Any) -> dict[str, Any]:
    doc = {"kind": kind, "number": f"{rid}-NO", "level": level, "issuer": "某测评机构",
           "issued": issued or TODAY - dt.timedelta(days=60)}
    if kind == "mlps-assessment-report":  # the official outcome, as the report states it
        doc |= {"conclusion": "良", "score": 86.5, "high_risk_count": 0}
    doc |= over.pop("doc", {})
    return attestation(id=rid, control="P-MLPS", statement=f"{kind} 第{level}级", document=doc, **over)


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    k = tmp_path_factory.mktemp("keys") / "zhangsan.pem"
    keygen("ed25519", k)
    return k


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory, key: Path) -> tuple[subprocess.CompletedProcess[str],
                                                                         dict[str, Any], Path]:
    root = tmp_path_factory.mktemp("good")
    plan = attach(root, "停电应急预案.pdf", b"%PDF-1.7 plan")
    atts = [signed(attestation(id="ATT-PLAN", files=[plan]), key),
            signed(attestation(id="ATT-DEMO", control="P-DEMO", statement="远程会诊演示未通过", result="fail"), key),
            signed(mlps("mlps-filing-certificate", rid="ATT-FILING", issued=dt.date(2021, 3, 1)), key),
            signed(mlps("mlps-assessment-report", rid="ATT-REPORT"), key),
            signed(attestation(id="ATT-TYPO", control="P-PLAM", objects=["sitee"]), key)]
    ws = [waiver(id="W-DEMO"),
          waiver(id="W-OLD", control="P-PLAN", valid_from=dt.date(2024, 1, 1), valid_until=dt.date(2024, 12, 31))]
    site(root, atts, ws)
    return run_site(root, "P-PLAN", "P-DEMO", "P-MLPS")


def test_valid_attestation_gives_its_claim_with_statement_and_id(good: Any) -> None:
    _, data, folder = good
    r = by_control(data)["P-PLAN"]
    assert r["status"] == "pass" and r["attestation"] == "ATT-PLAN"
    assert r["reason"].startswith("停电应急预案已制定并演练 [ATT-PLAN: 张三 (信息科科长, 示例医院)")
    paths = [e["path"] for e in r["evidence"]]
    assert "evidence/ledger/attestations/ATT-PLAN/record.json" in paths
    copied = [p for p in paths if p.endswith(".pdf")]
    assert copied and (folder / copied[0]).read_bytes() == b"%PDF-1.7 plan"
    record = json.loads((folder / "evidence/ledger/attestations/ATT-PLAN/record.json").read_text())
    assert record["state"] == "valid" and record["record"]["signature"]["algorithm"] == "ed25519"


def test_waived_failure_stays_failure_and_counts_as_accepted_risk(good: Any) -> None:
    proc, data, _ = good
    r = by_control(data)["P-DEMO"]
    assert r["status"] == "fail" and r["status_zh"] == "不符合"
    assert r["waiver"]["id"] == "W-DEMO" and r["waiver"]["approver"] == "王五 (院长, 示例医院)"
    assert r["waiver"]["compensating_control"] == "人工电话会诊" and r["waiver"]["risk"] == "medium"
    controls = {c["control_id"]: c["status"] for c in data["controls"]}
    assert controls["P-DEMO"] == "fail"  # never shown as 符合
    assert data["summary"]["accepted_risk"] == 1
    score = data["summary"]["score"]
    assert score is None or (score["accepted_risk"] == 1 and "before_waivers" not in score)  # waivers never score
    assert data["summary"]["status"] != "pass"
    assert proc.returncode == 1


def test_expired_waiver_warns_in_results_and_on_terminal(good: Any) -> None:
    proc, data, _ = good
    states = {w["id"]: (w["state"], w["applied_to"]) for w in data["waivers"]}
    assert states == {"W-DEMO": ("active", 1), "W-OLD": ("expired", 0)}
    assert any("W-OLD" in w and "expired on 2024-12-31" in w for w in data["warnings"])
    assert "W-OLD" in proc.stderr and "expired on 2024-12-31" in proc.stderr


def test_mlps_documents_level_3_recent(good: Any) -> None:
    _, data, _ = good
    r = by_control(data)["P-MLPS"]
    assert r["status"] == "pass", r["reason"]
    assert r["attestation"] == "ATT-FILING,ATT-REPORT"


def test_all_records_are_in_results(good: Any) -> None:
    _, data, folder = good
    assert {a["id"]: a["state"] for a in data["attestations"]} == {
        "ATT-PLAN": "valid", "ATT-DEMO": "valid", "ATT-FILING": "valid", "ATT-REPORT": "valid",
        "ATT-TYPO": "valid"}
    assert (folder / "evidence/ledger/waivers.json").is_file()
    kinds = {e["kind"] for e in data["evidence"]}
    assert {"attestation", "waiver", "attestation-file:plan"} <= kinds


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory, key: Path) -> tuple[subprocess.CompletedProcess[str],
                                                                        dict[str, Any], Path]:
    root = tmp_path_factory.mktemp("bad")
    plan = attach(root, "plan.pdf", b"v1")
    (root / "plan.pdf").write_bytes(b"v2 - edited after attaching")
    dual = signed(attestation(id="ATT-DUAL", control="P-DUAL", statement="双路市电",
                              document={"kind": "dual-feed-contract"}), key)
    dual["statement"] = "双路市电（签名后修改）"
    atts = [signed(attestation(id="ATT-PLAN", files=[plan]), key),
            signed(attestation(id="ATT-DEMO", control="P-DEMO", date=dt.date(2024, 1, 1),
                               valid_until=dt.date(2025, 1, 31)), key),
            signed(mlps("mlps-filing-certificate", rid="ATT-FILING"), key),
            signed(mlps("mlps-assessment-report", rid="ATT-REPORT", issued=TODAY - dt.timedelta(days=430)), key),
            dual]
    site(root, atts, [])
    return run_site(root, "P-PLAN", "P-DEMO", "P-MLPS", "P-DUAL")


def test_tampered_file_is_check_error_naming_it(bad: Any) -> None:
    r = by_control(bad[1])["P-PLAN"]
    assert r["status"] == "error" and "plan.pdf" in r["reason"] and "changed" in r["reason"]
    assert not any(e["path"].endswith("plan.pdf") for e in r["evidence"])  # never copied


def test_expired_attestation_is_not_checked_with_date(bad: Any) -> None:
    r = by_control(bad[1])["P-DEMO"]
    assert r["status"] == "not_checked" and "expired on 2025-01-31" in r["reason"]


def test_stale_assessment_report_fails_quoting_its_date(bad: Any) -> None:
    r = by_control(bad[1])["P-MLPS"]
    issued = TODAY - dt.timedelta(days=430)
    assert r["status"] == "fail" and f"dated {issued}" in r["reason"] and "12 months" in r["reason"]


def test_bad_signature_is_check_error(bad: Any) -> None:
    r = by_control(bad[1])["P-DUAL"]
    assert r["status"] == "error" and "signature does not verify" in r["reason"]
    assert {a["id"]: a["state"] for a in bad[1]["attestations"]}["ATT-DUAL"] == "bad-signature"


def test_no_attestation_is_not_checked_with_expected_evidence(tmp_path: Path, key: Path) -> None:
    site(tmp_path, [signed(mlps("mlps-filing-certificate", rid="F", level=2), key),
                    signed(mlps("mlps-assessment-report", rid="R", level=2), key)], None)
    _, data, _ = run_site(tmp_path, "P-PLAN", "P-MLPS", "P-DEMO")
    res = by_control(data)
    assert res["P-PLAN"]["status"] == "not_checked"
    assert "no attestation recorded; expected: 停电应急预案及演练记录" in res["P-PLAN"]["reason"]
    assert "no tester judgement recorded" in res["P-DEMO"]["reason"]
    assert res["P-MLPS"]["status"] == "fail" and "level 2, required 3" in res["P-MLPS"]["reason"]


def test_the_reports_official_outcome_decides(tmp_path: Path, key: Path) -> None:
    """A level-3 report, in date, attested as passing, whose recorded conclusion is 差 with
    high-risk issues is not 符合; one with no recorded conclusion is 未检查, never 符合."""
    site(tmp_path, [signed(mlps("mlps-filing-certificate", rid="F", doc={"filing_number": "50010099999-00001"}), key),
                    signed(mlps("mlps-assessment-report", rid="R",
                                doc={"conclusion": "测评结论：差", "score": 62.0, "high_risk_count": 3}), key)], None)
    _, data, _ = run_site(tmp_path, "P-MLPS")
    r = by_control(data)["P-MLPS"]
    assert r["status"] == "fail" and "测评结论为“差”" in r["reason"] and "3 个高风险问题" in r["reason"]
    assert "综合得分 62" in r["reason"]


def test_report_outcome_rules() -> None:
    from ihconform.ledger.model import DocumentInfo
    from ihconform.probes.evidence import _report_outcome

    ok = ["优", "良", "中", "符合", "基本符合"]
    assert _report_outcome(DocumentInfo(kind="mlps-assessment-report"), ok) is None
    assert _report_outcome(DocumentInfo(kind="mlps-assessment-report", conclusion="良", high_risk_count=0), ok) == ""
    assert _report_outcome(DocumentInfo(kind="mlps-assessment-report", conclusion="基本符合"), ok) == ""
    assert "不符合" in str(_report_outcome(DocumentInfo(kind="mlps-assessment-report", conclusion="不符合"), ok))
    assert "高风险" in str(_report_outcome(DocumentInfo(kind="mlps-assessment-report", conclusion="中",
                                                       high_risk_count=1), ok))


def test_broken_ledger_is_a_usage_error_and_writes_nothing(tmp_path: Path) -> None:
    site(tmp_path, [], None)
    rec = attestation()
    rec["resutl"] = rec.pop("result")
    write_yaml(tmp_path / "attestations.yaml", {"attestations": [rec]})
    proc = run_cli("run", "-q", "-i", str(tmp_path / "inventory.yaml"), "-p", str(PROFILE),
                   "-o", str(tmp_path / "out"), cwd=ROOT)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "attestations.yaml:2" in proc.stderr and "attestations[0].result" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_records_naming_unknown_controls_or_objects_are_warned(good: Any) -> None:
    proc, data, _ = good
    typo = [w for w in data["warnings"] if "ATT-TYPO" in w]
    assert any("control P-PLAM is not in this run's profile" in w for w in typo)
    assert any("no such object in the inventory: sitee" in w for w in typo)
    assert "P-PLAM" in proc.stderr
