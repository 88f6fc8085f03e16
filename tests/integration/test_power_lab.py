"""Power controls on the lab, through a whole run: the BMCs' Redfish (sushy-static mockups) and
the NUT upsd with two dummy UPS units. Healthy readings make the power controls pass with the
readings attached as evidence; the psu-failed and ups-on-battery variants fail, quoting the
reading. The dual-supply control combines the readings with a signed dual-feed contract."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from ihconform import lab as ihlab
from ihconform.ledger.core import signed_message
from ihconform.ledger.model import Attestation
from ihconform.ledger.signing import keygen, sign

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "tests" / "fixtures" / "profiles" / "power.yaml"


def write_yaml(path: Path, data: Any) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def signed_contract(tmp: Path) -> dict[str, Any]:
    """A dual-feed contract attestation for P-DUAL, its file attached and the record signed."""
    key = tmp / "key.pem"
    keygen("ed25519", key)
    blob = "两路 10kV 市电进线（实验环境）".encode()
    (tmp / "dual-feed-contract.txt").write_bytes(blob)
    rec: dict[str, Any] = {
        "id": "ATT-FEED", "control": "P-DUAL", "objects": ["site"],
        "statement": "机房两路市电，引自不同变电站（实验环境）",
        "attester": {"name": "张三", "role": "信息科科长", "organisation": "实验互联网医院"},
        "date": "2026-01-10", "valid_until": "2099-12-31", "result": "pass",
        "document": {"kind": "dual-feed-contract"},
        "files": [{"path": "dual-feed-contract.txt", "sha256": hashlib.sha256(blob).hexdigest(), "type": "contract"}],
    }
    public, value = sign("ed25519", key.read_bytes(), signed_message(Attestation.model_validate(rec)))
    return {**rec, "signature": {"algorithm": "ed25519", "public_key": public, "value": value}}


def run_with_ledger(info: ihlab.LabInfo, tmp: Path) -> tuple[dict[str, Any], Path, str]:
    """Run the power controls against the lab's inventory, with a signed dual-feed contract."""
    write_yaml(tmp / "attestations.yaml", {"attestations": [signed_contract(tmp)]})
    inv = yaml.safe_load(info.inventory_path.read_text(encoding="utf-8"))  # read now: variants rewrite it
    inv["evidence"] = {"attestations": str(tmp / "attestations.yaml")}
    write_yaml(tmp / "inventory.yaml", inv)
    proc = subprocess.run([sys.executable, "-m", "ihconform.cli", "run", "-q", "-i", str(tmp / "inventory.yaml"),
                           "-p", str(PROFILE), "--only", "P-PSU", "--only", "P-UPS", "--only", "P-DUAL",
                           "-o", str(tmp / "out")], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    folders = [p for p in (tmp / "out").iterdir() if p.is_dir()]
    assert len(folders) == 1, (proc.stdout, proc.stderr)
    return json.loads((folders[0] / "results.json").read_text(encoding="utf-8")), folders[0], proc.stderr


def by_key(data: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["control_id"], r["object_id"]): r for r in data["results"]}


def test_healthy_power_passes_with_readings_as_evidence(lab: ihlab.LabInfo, tmp_path: Path) -> None:
    data, folder, stderr = run_with_ledger(lab, tmp_path)
    res = by_key(data)
    for bmc in ("bmc-db01", "bmc-app01", "bmc-app02", "bmc-his01"):
        r = res[("P-PSU", bmc)]
        assert r["status"] == "pass", r["reason"]
        assert r["observed"]["healthy"] == 2
        (ref,) = [e for e in r["evidence"] if e["kind"] == "redfish"]
        reading = json.loads((folder / ref["path"]).read_text(encoding="utf-8"))
        assert any(k.endswith("/Chassis/1U/Power") for k in reading["documents"])
    for ups in ("ups-a", "ups-b"):
        r = res[("P-UPS", ups)]
        assert r["status"] == "pass" and "ups.status=OL" in r["reason"], r["reason"]
        (ref,) = [e for e in r["evidence"] if e["kind"] == "nut"]
        assert json.loads((folder / ref["path"]).read_text())["variables"]["ups.status"] == "OL"
    dual = res[("P-DUAL", "site")]
    assert dual["status"] == "pass", dual["reason"]
    assert dual["attestation"] == "ATT-FEED"
    assert {"redfish", "nut", "attestation"} <= {e["kind"] for e in dual["evidence"]}
    assert data["summary"]["status"] == "pass", stderr


def test_failed_psu_and_ups_on_battery_fail_quoting_the_reading(lab_variant: Any, tmp_path: Path) -> None:
    info = lab_variant("psu-failed", "ups-on-battery")
    data, _, _ = run_with_ledger(info, tmp_path)
    res = by_key(data)
    psu = res[("P-PSU", "bmc-db01")]
    assert psu["status"] == "fail"
    assert "Power Supply 2: State=UnavailableOffline, Health=Critical" in psu["reason"]
    assert "PSU Redundancy Group" in psu["reason"] and "Health=Warning" in psu["reason"]
    assert res[("P-PSU", "bmc-app01")]["status"] == "pass"
    onb = res[("P-UPS", "ups-b")]
    assert onb["status"] == "fail" and "ups.status=OB DISCHRG" in onb["reason"], onb["reason"]
    assert res[("P-UPS", "ups-a")]["status"] == "pass"
    dual = res[("P-DUAL", "site")]
    assert dual["status"] == "fail"
    assert "UnavailableOffline" in dual["reason"] and "OB DISCHRG" in dual["reason"]
    controls = {c["control_id"]: c["status"] for c in data["controls"]}
    assert controls == {"P-DUAL": "fail", "P-PSU": "partial", "P-UPS": "partial"}
