"""Apache httpd and Tomcat in the lab (variant ``middleware``), on a real ``ihconform run``:
app01 runs them hardened, app02 as the Debian packages install them (ports moved only).

One bring-up, one run: the stock host fails the controls Debian leaves open (banner and
version, directory listing, the stock Tomcat page and error-page version, no TLS) and the
hardened host passes every control; what Debian already does right (access logs, non-root
workers, Tomcat's shutdown port off) passes on both, never a false fail.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ihconform import lab as ihlab

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "tests" / "fixtures" / "profiles" / "middleware.yaml"

#: (control, object) -> status. app02 is Debian stock, app01 hardened.
EXPECTED = {
    ("L3-CES1-18.mw", "app02:web"): "partial",  # ServerTokens OS, ServerSignature On, Indexes, ROOT page, version
    ("L3-CES1-27.mw", "app02:web"): "fail",  # no TLS, plaintext :8081
    ("L3-CES1-12.mw", "app02:web"): "pass",  # Debian logs access and errors
    ("L3-CES1-08.mw", "app02:web"): "pass",  # workers as www-data
    ("W-USER", "app02:web"): "pass",  # Tomcat as tomcat
    ("W-LOG", "app02:web"): "pass",  # Debian's server.xml has an AccessLogValve
    ("W-HARDEN", "app02:web"): "pass",  # Debian's shutdown port is -1
    ("L3-CES1-18.mw", "app01:web"): "pass",
    ("L3-CES1-27.mw", "app01:web"): "pass",
    ("L3-CES1-12.mw", "app01:web"): "pass",
    ("L3-CES1-08.mw", "app01:web"): "pass",
    ("W-USER", "app01:web"): "pass",
    ("W-LOG", "app01:web"): "pass",
    ("W-HARDEN", "app01:web"): "pass",
}
STOCK_UNMET = {"Apache ServerTokens Prod", "Apache ServerSignature Off", "Apache no directory listing",
               "Tomcat <base>: no default or sample applications", "Tomcat <base>: error pages without server version"}


@pytest.fixture(scope="module")
def mw_run(lab_variant: Callable[..., ihlab.LabInfo], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    info = lab_variant("middleware")
    out = tmp_path_factory.mktemp("middleware")
    proc = subprocess.run([sys.executable, "-m", "ihconform.cli", "run", "-p", str(PROFILE), "-i",
                           str(info.inventory_path), "-o", str(out)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    runs = sorted(p for p in out.iterdir() if p.is_dir())
    assert runs, f"no run folder: rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    results = json.loads((runs[-1] / "results.json").read_text())
    return {r["control_id"] + "@" + r["object_id"]: r for r in results["results"]}


def test_stock_fails_and_hardened_passes(mw_run: dict[str, Any]) -> None:
    got = {(k.split("@")[0], k.split("@")[1]): v["status"] for k, v in mw_run.items()
           if k.split("@")[1] in ("app01:web", "app02:web")}
    assert got == EXPECTED, {f"{c}@{o}": mw_run[f"{c}@{o}"]["reason"] for c, o in got
                             if got[(c, o)] != EXPECTED.get((c, o))}


def test_stock_findings_are_the_ones_debian_leaves_open(mw_run: dict[str, Any]) -> None:
    r = mw_run["L3-CES1-18.mw@app02:web"]
    unmet = {re.sub(r"^Tomcat \S+/hosts/app02/tomcat:", "Tomcat <base>:", p)
             for p in r["reason"].removeprefix("unmet: ").split(", ")}
    assert unmet == STOCK_UNMET
    tls = mw_run["L3-CES1-27.mw@app02:web"]
    assert tls["observed"]["plaintext_listeners"] == ["8081"]
