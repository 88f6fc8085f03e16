"""Host keys are never auto-accepted: an unknown key gives 检查错误 and no facts; `ihconform trust`
shows the fingerprint and pins it only when confirmed; then the host is audited."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from ihconform.transport.ssh import fingerprint, parse_public_key

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ihconform.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=180, check=False, stdin=subprocess.DEVNULL)


def unpinned_inventory(lab, tmp_path: Path) -> tuple[Path, Path, str]:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(Path(lab.inventory_path).read_text(encoding="utf-8"))
    bastion = next(h for h in data["hosts"] if h["id"] == "bastion")
    pinned = bastion.pop("host_key")
    known = tmp_path / "known_hosts"
    known.write_text("")
    data["defaults"]["known_hosts"] = str(known)
    data["hosts"] = [bastion]  # the bastion is reached directly; the others only through it
    for section in ("databases", "uplinks", "av_systems", "power", "platform", "clinical_interfaces",
                    "tls_endpoints"):
        data.pop(section, None)
    data["vantage"] = {"outside": "local"}
    data["evidence"] = {}
    inv = tmp_path / "inventory.yaml"
    inv.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return inv, known, fingerprint(parse_public_key(pinned))


def test_unknown_key_refused_then_trusted(lab, tmp_path):
    inv, known, expected_fp = unpinned_inventory(lab, tmp_path)

    first = cli("run", "-q", "--formats", "json,junit", "-i", str(inv), "--only", "probe:host.high_risk_ports",
                "-o", str(tmp_path / "r1"))
    (folder,) = list((tmp_path / "r1").iterdir())
    data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    (res,) = [r for r in data["results"] if r["object_id"] == "bastion" and r["control_id"] == "L3-CES1-18"]
    assert res["status"] == "error" and "unknown host key" in res["reason"] and expected_fp in res["reason"]
    assert first.returncode == 3  # incomplete, not conformant
    transcript = json.loads((folder / "evidence/hosts/bastion/transcript.json").read_text())
    assert transcript["commands"] == []  # nothing was gathered from an unverified host

    refused = cli("trust", "bastion", "-i", str(inv))  # no terminal, no --yes: never pins
    assert refused.returncode == 2 and expected_fp in refused.stdout
    assert known.read_text() == ""

    pinned = cli("trust", "bastion", "-i", str(inv), "--yes")
    assert pinned.returncode == 0, pinned.stderr
    assert expected_fp in pinned.stdout and known.read_text().strip()

    cli("run", "-q", "--formats", "json,junit", "-i", str(inv), "--only", "probe:host.high_risk_ports",
        "-o", str(tmp_path / "r2"))
    (folder,) = list((tmp_path / "r2").iterdir())
    data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    (res,) = [r for r in data["results"] if r["object_id"] == "bastion" and r["control_id"] == "L3-CES1-18"]
    assert res["status"] != "error", res["reason"]
