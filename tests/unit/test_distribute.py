"""Distributed runs (pytest-xdist): the same results as one process, each host's checks on
one worker, one results model written by the controller. Three hosts reached through the
local transport (this machine), so no network is needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ihconform.catalog import load_profile
from ihconform.inventory import load_inventory
from ihconform.plan import RunPlan
from ihconform.run.distribute import group_of

from ..conftest import FIXTURES, GOLDEN
from .test_pipeline_golden import normalise_json, run_cli

ROOT = Path(__file__).resolve().parents[2]
IHCONFORM = str(Path(sys.executable).with_name("ihconform"))
PROFILE = ROOT / "tests" / "fixtures" / "profiles" / "host-l3.yaml"

INVENTORY = """\
institution: {name: 测试医院}
system: {name: 分布式运行测试}
hosts:
  - {id: h1, address: 127.0.0.1, connection: local, roles: [app]}
  - {id: h2, address: 127.0.0.1, connection: local, roles: [app]}
  - {id: h3, address: 127.0.0.1, connection: local, roles: [db]}
"""


def _run(tmp: Path, name: str, extra: list[str], env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    inv = tmp / "inventory.yaml"
    inv.write_text(INVENTORY, encoding="utf-8")
    args = [IHCONFORM, "run", "-q", "-i", str(inv), "-p", str(PROFILE), "-o", str(tmp / name), "--formats", "json"]
    proc = subprocess.run(args + (["--", *extra] if extra else []), capture_output=True, text=True, timeout=300,
                          cwd=ROOT, env=env, check=False)
    assert proc.returncode in (0, 1, 3), proc.stdout[-3000:] + proc.stderr[-3000:]
    (found,) = (tmp / name).rglob("results.json")
    assert not list((tmp / name).glob("*.partial")), "the .partial folder was left behind"
    return proc.returncode, json.loads(found.read_text())


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[tuple[int, dict[str, Any]], tuple[int, dict[str, Any]],
                                                             list[dict[str, str]], Path]:
    tmp = tmp_path_factory.mktemp("dist")
    env = dict(os.environ, PYTHONPATH=str(ROOT), IHC_SPY_OUT=str(tmp / "spy.jsonl"))
    single = _run(tmp, "single", [], env)
    dist = _run(tmp, "dist", ["-n", "2", "-p", "tests.fixtures.plugins.xdist_spy"], env)
    spy = [json.loads(line) for line in (tmp / "spy.jsonl").read_text().splitlines()]
    return single, dist, spy, tmp / "dist"


def _verdicts(doc: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(r["control_id"], r["object_id"]): r["status"] for r in doc["results"]}


def test_distributed_run_writes_the_golden_results(tmp_path: Path) -> None:
    """The pipeline's golden run (deterministic probes), spread over two workers: the same
    results.json, byte for byte after masking run metadata, as one process."""
    proc = run_cli("run", "-q", "--formats", "json,junit", "-i", str(FIXTURES / "golden-inventory.yaml"),
                   "-p", str(FIXTURES / "profiles" / "golden.yaml"), "--probes", str(FIXTURES / "probes" / "fixed.py"),
                   "-o", str(tmp_path), "--workers", "2", cwd=ROOT)
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    data = normalise_json(json.loads((folder / "results.json").read_text(encoding="utf-8")))
    golden = json.loads((GOLDEN / "golden.1.json").read_text(encoding="utf-8"))
    assert data == golden, proc.stderr[-2000:]


def test_distributed_run_keeps_every_result(both: Any) -> None:
    """On live hosts (this machine three times) the verdicts can move between two runs; the
    results' keys cannot."""
    (_, doc1), (_, doc2), _, _ = both
    assert set(_verdicts(doc1)) == set(_verdicts(doc2))
    assert len(doc2["results"]) > 30
    assert not [r for r in doc2["results"] if "did not run" in r["reason"]]


def test_each_hosts_checks_run_on_one_worker(both: Any) -> None:
    _, (_, doc), spy, _ = both
    on_hosts = [r for r in doc["results"] if r["object_id"] in ("h1", "h2", "h3")]
    assert len([r for r in spy if "@h" in r["nodeid"]]) >= len(on_hosts) > 30, \
        "every host check went through a worker"
    workers_of: dict[str, set[str]] = {}
    for rec in spy:
        group = rec["nodeid"].rsplit("@", 1)[1].rstrip("]")  # [CONTROL@OBJECT]
        workers_of.setdefault(group, set()).add(rec["worker"])
    assert {"h1", "h2", "h3"} <= set(workers_of), workers_of
    assert all(len(w) == 1 for w in workers_of.values()), workers_of


def test_workers_evidence_is_in_the_one_run_folder(both: Any) -> None:
    _, (_, doc), _, out = both
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    paths = {e["path"] for e in doc["evidence"]}
    for host in ("h1", "h2", "h3"):
        t = f"evidence/hosts/{host}/transcript.json"
        assert t in paths and (run / t).is_file()
    r = next(r for r in doc["results"] if r["object_id"] == "h2")
    assert r["evidence"][0]["path"] == "evidence/hosts/h2/transcript.json"


def test_checks_are_grouped_by_the_host_they_use() -> None:
    inv = load_inventory(ROOT / "src" / "ihconform" / "templates" / "inventory.yaml")  # `ihconform init`
    plan = RunPlan.build(load_profile("annual-normative-test"), inv, ())
    groups = {(p.obj.type.value, p.obj.id): group_of(p, inv) for p in plan.pairs.values()}
    hosts = {h.id for h in inv.hosts}
    for (kind, oid), group in groups.items():
        if kind == "host-os":
            assert group == oid
        elif kind in ("database", "web-server", "uplink"):  # they live on a host: its facts, its connection
            assert group in hosts, (kind, oid, group)
        elif kind in ("tls-endpoint", "site", "bmc", "ups"):  # own group: one scan per endpoint
            assert group == f"{kind}:{oid}", (kind, oid, group)
    kinds = {k for k, _ in groups}
    assert {"host-os", "database", "web-server", "tls-endpoint", "site"} <= kinds, kinds
