"""What the issue asks to be shown: the embedded default run (`bootstrap.sh run`, i.e. `ihconform run`
on this machine) says 不符合 while high-risk controls fail, and exits 1.

One machine is one server: 附录1 四(一) 服务器不少于2套 (high-risk) fails on every machine, so the
run must conclude 不符合 whatever else passes, errs or is unchecked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ihconform.schema import validate_results

from ..conftest import ROOT


def test_embedded_default_run_is_non_conformant_while_high_risk_controls_fail(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    proc = subprocess.run([sys.executable, "-m", "ihconform.cli", "run", "-q", "--formats", "json", "-o", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 1, proc.stderr
    (folder,) = list(out.iterdir())
    data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    validate_results(data)
    s = data["summary"]
    assert (s["status"], s["status_zh"], s["exit_code"]) == ("fail", "不符合", 1)
    assert "CQ-A1-4.1-a" in s["high_risk_failures"]
    assert s["incomplete"] is True  # a single machine leaves much unchecked: said, never hidden
    docs = {c["document"]: c for c in s["conclusions"]}
    cq = docs["cq-ih-rules-2023"]
    assert cq["status"] == "fail" and cq["rule"] == "required-failure" and "CQ-A1-4.1-a" in cq["required_failures"]
    for c in s["conclusions"]:
        assert c["status"] != "pass" or not c["unjudged"]  # errors never read as 符合
    score = s["score"]
    assert score["method"] == "mlps-2021" and score["provisional"] is True
    if score["high_risk_candidates"]:
        assert score["grade"] == "差"
    for internal in ("研究笔记", "[K]", "待以官方模板核实"):
        assert internal not in score["rules"]
