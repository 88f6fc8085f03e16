"""A mixed estate (issue 17): the lab's Linux hosts over SSH and an offline Windows host in one
inventory give one run and one report with both, Linux and Windows verdicts side by side under
the same 测评项, and the site-wide server controls judged over all of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from ihconform import lab as ihlab

ROOT = Path(__file__).resolve().parents[2]
REC = ROOT / "tests" / "fixtures" / "windows" / "recordings" / "ws2022-zh-CN-stock.json"
EXPECTED = yaml.safe_load((ROOT / "tests" / "fixtures" / "windows" / "expected.yaml").read_text(encoding="utf-8"))


def test_lab_linux_and_offline_windows_in_one_report(lab: ihlab.LabInfo, tmp_path: Path) -> None:
    inv = yaml.safe_load(lab.inventory_path.read_text(encoding="utf-8"))
    inv["hosts"].append({"id": "his-win", "address": "198.51.100.90", "platform": "windows", "roles": ["db"],
                         "offline": str(REC)})
    # beside the lab's inventory: its key and known_hosts paths are relative to it
    mixed = lab.inventory_path.parent / f"mixed-windows-{os.getpid()}.yaml"
    mixed.write_text(yaml.safe_dump(inv, allow_unicode=True, sort_keys=False), encoding="utf-8")
    try:
        out = tmp_path / "out"
        proc = subprocess.run([sys.executable, "-m", "ihconform.cli", "run", "-q", "--formats", "json,junit,html",
                               "-i", str(mixed), "--only", "L3-CES1-06", "--only", "CQ-A1-4.1", "-o", str(out)],
                              capture_output=True, text=True, timeout=300, cwd=ROOT, check=False)
    finally:
        mixed.unlink()
    runs = [p for p in out.iterdir() if p.is_dir()]
    assert len(runs) == 1, (proc.returncode, proc.stderr[-2000:])
    data = json.loads((runs[0] / "results.json").read_text(encoding="utf-8"))
    got = {(r["control_id"], r["object_id"]): r for r in data["results"]}
    assert got[("L3-CES1-06.win", "his-win")]["status"] == EXPECTED["ws2022-zh-CN-stock"]["L3-CES1-06.win"]
    linux = {o for (c, o) in got if c == "L3-CES1-06"}
    assert {"db01", "app01"} <= linux and "his-win" not in linux
    assert all(got[("L3-CES1-06", o)]["status"] != "error" for o in linux)
    count = got[("CQ-A1-4.1-a", "site")]
    assert count["status"] == "pass" and "his-win" in count["observed"]["hosts"]
    html = (runs[0] / "report.html").read_text(encoding="utf-8")
    assert "his-win (198.51.100.90, Windows)" in html and "db01" in html
