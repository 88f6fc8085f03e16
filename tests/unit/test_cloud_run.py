"""A run of a cloud-hosted system: the cloud extension is judged, and the report finds its texts.

The default profile brings in ``mlps-l3-cloud`` only for ``system.hosting.kind: cloud``. The
run records the inventory's system (with ``hosting``) in results.json, so re-rendering a report
later resolves the same controls and finds their remediation advice.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ihconform.report.render import profile_texts
from ihconform.results import RunResult
from ihconform.schema import validate_results

from ..conftest import ROOT
from .test_ledger import write_yaml


def test_a_cloud_hosted_run_judges_the_extension_and_its_report_finds_the_texts(tmp_path: Path) -> None:
    inv = {"institution": {"name": "示例医院"},
           "system": {"name": "互联网医院信息系统",
                      "hosting": {"kind": "cloud", "provider": "某云计算有限公司", "platform": "重庆市卫生健康云",
                                  "platform_mlps_level": 3}},
           "hosts": [{"id": "app01", "address": "198.51.100.21", "roles": ["app"]}]}
    path = write_yaml(tmp_path / "inventory.yaml", inv)
    proc = subprocess.run([sys.executable, "-m", "ihconform.cli", "run", "-q", "-i", str(path), "--only", "L3-CMS2",
                           "-o", str(tmp_path / "out"), "--formats", "html"], cwd=ROOT, capture_output=True,
                          text=True, timeout=180, check=False)
    folders = [p for p in (tmp_path / "out").iterdir() if p.is_dir()]
    assert len(folders) == 1, (proc.stdout, proc.stderr)
    data = json.loads((folders[0] / "results.json").read_text(encoding="utf-8"))
    validate_results(data)
    ids = sorted(c["control_id"] for c in data["controls"])
    assert ids == [f"L3-CMS2-{n:02d}" for n in range(1, 9)]
    assert {c["status"] for c in data["controls"]} == {"not_checked"}  # nothing attested: never a pass
    assert data["system"]["hosting"]["kind"] == "cloud"
    texts = profile_texts(RunResult.model_validate(data))
    assert all(i in texts.remediation for i in ids)
