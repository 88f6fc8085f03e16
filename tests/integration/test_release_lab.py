"""Stock hosts of real Debian releases (``lab up --release``, issue 16): each on its own root.

One bring-up with a stock host per release (deb11, deb12, deb13, each from a debootstrapped
root cached outside the repository). Each host must answer with its own release's binaries
(OpenSSH version, /etc/debian_version), and a real ``ihconform run`` on them must give exactly
the verdicts docs/platforms.md lists for that release, written down before the run, and no
检查错误 at all: a stock host of a supported release is something the batch must read whole.
The session's conforming lab is taken down for this module and rebuilt at its end.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

from ihconform import lab as ihlab
from ihconform.inventory import load_inventory
from ihconform.lab import plan, roots
from ihconform.transport import open_transport

DOC = Path(__file__).resolve().parents[2] / "docs" / "platforms.md"
RELEASES = tuple(plan.RELEASE_VERSIONS)


class LabManager(Protocol):
    runtime: Path
    info: ihlab.LabInfo | None

    def down(self) -> None: ...

    def ensure(self, variants: tuple[str, ...] = ()) -> ihlab.LabInfo: ...


def expected_verdicts() -> dict[str, dict[str, str]]:
    """docs/platforms.md's table of stock verdicts: host id -> control id -> 符合/不符合/…"""
    text = DOC.read_text(encoding="utf-8")
    block = text.split("<!-- stock-verdicts -->", 2)[1]
    rows = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in block.splitlines()
            if ln.startswith("|") and not ln.startswith("| ---")]
    head, body = rows[0], rows[1:]
    hosts = head[1:]
    return {h: {row[0].strip("`"): row[i + 1] for row in body} for i, h in enumerate(hosts)}


@pytest.fixture(scope="module")
def release_lab(lab_manager: LabManager) -> Iterator[ihlab.LabInfo]:
    was_up = lab_manager.info is not None
    lab_manager.down()
    info = ihlab.up((), lab_manager.runtime, releases=RELEASES)
    try:
        yield info
    finally:
        lab_manager.down()
        if was_up:
            lab_manager.ensure(())


def test_each_release_host_runs_its_own_release(release_lab: ihlab.LabInfo) -> None:
    assert release_lab.release_inventory is not None
    inv = load_inventory(release_lab.release_inventory)
    assert [h.id for h in inv.hosts] == [f"deb{plan.RELEASE_VERSIONS[r]}" for r in RELEASES]
    for host, name in zip(inv.hosts, RELEASES, strict=True):
        release = roots.RELEASES[name]
        t = open_transport(host, inv)
        try:
            res = t.run("hostname; cat /etc/debian_version; ssh -V 2>&1 | head -1; readlink -f /bin/sh")
        finally:
            t.close()
        lines = res.text.splitlines()
        assert lines[0] == host.id
        assert lines[1].startswith(release.version), lines[1]
        assert lines[2].startswith(f"OpenSSH_{release.openssh}"), lines[2]
        assert lines[3] == "/usr/bin/dash"


def test_a_real_run_gives_the_documented_stock_verdicts(release_lab: ihlab.LabInfo, tmp_path: Path) -> None:
    assert release_lab.release_inventory is not None
    proc = subprocess.run([sys.executable, "-c", "import sys; from ihconform.cli import main; sys.exit(main())",
                           "run", "-q", "-i", str(release_lab.release_inventory), "-o", str(tmp_path),
                           "--formats", "json"], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode in (1, 3), proc.stderr[-2000:]
    (found,) = tmp_path.rglob("results.json")
    doc = json.loads(found.read_text())
    got: dict[str, dict[str, str]] = {}
    errors = []
    for r in doc["results"]:
        if r["object_type"] != "host-os":
            continue
        got.setdefault(r["object_id"], {})[r["control_id"]] = r["status_zh"]
        if r["status"] == "error":
            errors.append(f"{r['object_id']} {r['control_id']}: {r['reason']}")
    assert not errors, "检查错误 on a stock host:\n" + "\n".join(errors)
    want = expected_verdicts()
    diffs = [f"{h} {c}: documented {want[h].get(c)!r}, judged {s!r}"
             for h, by in got.items() for c, s in sorted(by.items()) if want.get(h, {}).get(c) != s]
    assert not diffs, "stock verdicts differ from docs/platforms.md:\n" + "\n".join(diffs)
    assert set(got) == set(want)
