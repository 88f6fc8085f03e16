"""Devices through a whole ``ihconform run`` (issue 15): exported configurations declared under
``network_devices:`` are judged on the device units, each verdict carries the device's transcript
(with the configuration's SHA-256) and listing, and the report's asset inventory lists the devices
like hosts."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "devices"


def test_offline_devices_through_a_run(tmp_path: Path) -> None:
    inv = {
        "institution": {"name": "测试医院"}, "system": {"name": "测试系统"},
        "network_devices": [
            {"id": "core1", "platform": "huawei_vrp", "roles": ["core"],
             "config_file": str(FIXTURES / "huawei_vrp-hardened.cfg")},
            {"id": "fw1", "platform": "huawei_usg", "roles": ["firewall", "border"],
             "config_file": str(FIXTURES / "huawei_usg-unhardened.cfg")},
        ],
    }
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(inv, allow_unicode=True))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "ihconform.cli", "run", "-q", "-i", str(path), "-p", "mlps-l3",
                           "--only", "L3-SMC1-08.device", "--only", "L3-ABS1-05.device", "--only",
                           "L3-CNS1-05.devices", "--formats", "json,html,pdf", "-o", str(out)],
                          capture_output=True, text=True, timeout=300, check=False)
    found = list(out.rglob("results.json"))
    assert found, proc.stdout + proc.stderr
    run = found[0].parent
    res = {(r["control_id"], r["object_id"]): r for r in json.loads(found[0].read_text())["results"]}
    assert res[("L3-SMC1-08.device", "core1")]["status"] == "pass"
    weak = res[("L3-SMC1-08.device", "fw1")]
    assert weak["status"] == "fail" and "telnet off" in weak["reason"]  # decisive: cleartext credentials
    assert "decisive: telnet off" in weak["reason"]
    assert "telnet server enable" in weak["observed"]["lines"]
    assert res[("L3-ABS1-05.device", "core1")]["status"] == "not_applicable"  # a core switch is not a boundary
    assert res[("L3-ABS1-05.device", "fw1")]["status"] == "fail"  # default action permit (decisive, T/ISEAA 8.1.3.2 a))
    # one border device and no VRRP: not redundant
    assert res[("L3-CNS1-05.devices", "site")]["status"] == "fail"
    paths = {e["path"] for e in weak["evidence"]}
    assert paths == {"evidence/devices/fw1/transcript.json", "evidence/devices/fw1/config.txt"}
    transcript = json.loads((run / "evidence/devices/fw1/transcript.json").read_text())
    sha = hashlib.sha256((FIXTURES / "huawei_usg-unhardened.cfg").read_bytes()).hexdigest()
    assert transcript["identity"]["config_sha256"] == sha
    assert transcript["commands"][0]["status"] == "complete"
    html = (run / "report.html").read_text()
    assert "网络与安全设备" in html and "core1 (huawei_vrp" in html and "fw1 (huawei_usg" in html
    if shutil.which("pdftotext"):  # the PDF (Typst, from the same view) lists them too
        pdf = subprocess.run(["pdftotext", str(run / "report.pdf"), "-"], capture_output=True, text=True,
                             check=True).stdout
        assert "网络与安全设备" in pdf and "core1 (huawei_vrp" in pdf and "fw1 (huawei_usg" in pdf
    assert proc.returncode == 1  # non-conformant, not a run error
