"""A ledger written before management requirements were split per 测评项 keeps working.

``tests/fixtures/ledger-legacy/attestations.yaml`` was written and signed by main's ledger code
when 8.1.6–8.1.10 were one control per 安全控制点 (``L3-M-8.1.10.13`` 应急预案管理,
``L3-M-8.1.6.1`` 安全策略). Today each 测评项 is a control naming its former id in
``legacy_ids``: an attestation on the old id judges every item of that 控制点 until the item is
attested itself, and ``validate`` and the run say so, naming the old id and its items.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ihconform.catalog import load_profile
from ihconform.ledger.core import load_ledger
from ihconform.ledger.migration import legacy_map
from ihconform.schema import validate_results

from ..conftest import FIXTURES, ROOT
from .test_ledger import attestation, waiver, write_yaml

LEGACY = FIXTURES / "ledger-legacy"
TODAY = dt.date(2026, 6, 1)


@pytest.fixture(scope="module")
def items() -> dict[str, tuple[str, ...]]:
    """Former control-point id -> the ids of its items in the default profile."""
    return legacy_map(load_profile("annual-normative-test").controls)


def test_the_fixture_is_an_old_ledger(items: dict[str, tuple[str, ...]]) -> None:
    data = yaml.safe_load((LEGACY / "attestations.yaml").read_text(encoding="utf-8"))
    assert {a["control"] for a in data["attestations"]} == {"L3-M-8.1.10.13", "L3-M-8.1.6.1"}
    assert all(a["signature"]["value"] for a in data["attestations"])
    ids = {c.id for c in load_profile("annual-normative-test").controls}
    assert "L3-M-8.1.10.13" not in ids and "L3-M-8.1.6.1" not in ids  # those ids are gone
    assert len(items["L3-M-8.1.10.13"]) == 4 and items["L3-M-8.1.6.1"] == ("L3-PSS1-01",)


def test_an_old_attestation_applies_to_every_item_of_its_control_point(items: dict[str, tuple[str, ...]]) -> None:
    ledger = load_ledger(LEGACY / "attestations.yaml", None, today=TODAY)
    assert [c.state for c in ledger.attestations] == ["valid", "valid"]  # signatures and files verify
    profile = load_profile("annual-normative-test")
    ledger.check_refs({c.id for c in profile.controls}, {"site"}, legacy_map(profile.controls))
    for item in items["L3-M-8.1.10.13"]:
        assert [c.id for c in ledger.attestations_for(item, "site")] == ["ATT-2025-010"], item
    assert [c.id for c in ledger.attestations_for("L3-PSS1-01", "site")] == ["ATT-2025-001"]
    assert ledger.attestations_for("L3-PSS1-02", "site") == []  # 8.1.6.2 was never attested
    notes = "\n".join(ledger.warnings())
    assert "L3-M-8.1.10.13" in notes and all(i in notes for i in items["L3-M-8.1.10.13"])
    assert "不在本次配置中" not in notes  # not reported as an unknown id


def test_without_the_mapping_the_old_ids_would_judge_nothing() -> None:
    ledger = load_ledger(LEGACY / "attestations.yaml", None, today=TODAY)
    profile = load_profile("annual-normative-test")
    ledger.check_refs({c.id for c in profile.controls}, {"site"})
    assert ledger.attestations_for("L3-PSS1-01", "site") == []
    assert "L3-M-8.1.6.1 不在本次配置中" in "\n".join(ledger.warnings())


def test_an_item_attested_itself_no_longer_uses_the_old_record(tmp_path: Path,
                                                               items: dict[str, tuple[str, ...]]) -> None:
    shutil.copytree(LEGACY, tmp_path / "ledger")
    old = yaml.safe_load((tmp_path / "ledger" / "attestations.yaml").read_text(encoding="utf-8"))
    first = items["L3-M-8.1.10.13"][0]
    new = attestation(id="ATT-2026-045", control=first, statement="应急预案框架已于 2026-05 修订")
    write_yaml(tmp_path / "ledger" / "attestations.yaml", {"attestations": [*old["attestations"], new]})
    ledger = load_ledger(tmp_path / "ledger" / "attestations.yaml", None, today=TODAY)
    profile = load_profile("annual-normative-test")
    ledger.check_refs({c.id for c in profile.controls}, {"site"}, legacy_map(profile.controls))
    assert [c.id for c in ledger.attestations_for(first, "site")] == ["ATT-2026-045"]
    for sibling in items["L3-M-8.1.10.13"][1:]:
        assert [c.id for c in ledger.attestations_for(sibling, "site")] == ["ATT-2025-010"]


def test_a_waiver_on_a_former_control_point_covers_its_items(tmp_path: Path,
                                                             items: dict[str, tuple[str, ...]]) -> None:
    path = write_yaml(tmp_path / "waivers.yaml", {"waivers": [waiver(id="W-OLD", control="L3-M-8.1.10.13")]})
    ledger = load_ledger(None, path, today=TODAY)
    profile = load_profile("annual-normative-test")
    ledger.check_refs({c.id for c in profile.controls}, {"site"}, legacy_map(profile.controls))
    for item in items["L3-M-8.1.10.13"]:
        active = ledger.active_waiver(item, "site")
        assert active is not None and active.id == "W-OLD", item
    assert ledger.active_waiver("L3-PSS1-01", "site") is None
    assert any("W-OLD" in n and "L3-M-8.1.10.13" in n for n in ledger.warnings())


def _site(root: Path) -> Path:
    shutil.copytree(LEGACY, root / "ledger")
    inv = {"institution": {"name": "示例医院"}, "system": {"name": "互联网医院信息系统"},
           "hosts": [{"id": "db01", "address": "198.51.100.11", "roles": ["db"]}],
           "evidence": {"attestations": "ledger/attestations.yaml"}}
    return write_yaml(root / "inventory.yaml", inv)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ihconform.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=180, check=False)


def test_validate_names_the_old_id_and_its_items(tmp_path: Path, items: dict[str, tuple[str, ...]]) -> None:
    proc = _cli("validate", "-i", str(_site(tmp_path)))
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if "L3-M-8.1.10.13" in ln]  # warnings go to stderr
    assert len(lines) == 1 and all(i in lines[0] for i in items["L3-M-8.1.10.13"]), proc.stderr
    assert "until each is attested itself" in lines[0]


def test_a_run_judges_the_items_from_the_old_attestation(tmp_path: Path, items: dict[str, tuple[str, ...]]) -> None:
    inv = _site(tmp_path)
    proc = _cli("run", "-q", "-i", str(inv), "--only", "L3-M-8.1.10.13", "--only", "8.1.6.2",
                "-o", str(tmp_path / "out"), "--formats", "html")
    folders = [p for p in (tmp_path / "out").iterdir() if p.is_dir()]
    assert len(folders) == 1, (proc.stdout, proc.stderr)
    data = json.loads((folders[0] / "results.json").read_text(encoding="utf-8"))
    validate_results(data)
    got = {r["control_id"]: r for r in data["results"] if r["object_id"] == "site"}
    for item in items["L3-M-8.1.10.13"]:
        assert got[item]["status"] == "partial", got[item]  # the claim of ATT-2025-010
        assert "ATT-2025-010" in json.dumps(got[item], ensure_ascii=False)
    for item in items["L3-M-8.1.6.2"]:
        assert got[item]["status"] == "not_checked"  # nothing recorded: never a pass
    assert any("L3-M-8.1.10.13" in w for w in data["warnings"])  # the run says so too
    points = {c["control_id"]: c["control_point"] for c in data["controls"]}
    assert {points[i] for i in items["L3-M-8.1.10.13"]} == {"8.1.10.13 应急预案管理"}
    # the report shows each 安全控制点 with its result, then its 测评项
    html = next(folders[0].glob("*.html")).read_text(encoding="utf-8")
    for point, n in (("8.1.10.13 应急预案管理", 4), ("8.1.6.2 管理制度", 3)):
        at = html.index(f"<b>{point}</b>")
        head = html[at:html.index("</tr>", at)]
        assert f"{n} 个测评项" in head, head
        first = items["L3-M-" + point.split(" ")[0]][0]
        assert html.index(first, at) > at  # its first item follows the heading
