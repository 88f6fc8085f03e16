"""How long the annual report takes to render, and the bundle to make and verify.

    .venv/bin/python bench/render_report.py                       # synthetic lab-sized run
    .venv/bin/python bench/render_report.py --results RUN_FOLDER  # a real run (folder, bundle, results.json)
    .venv/bin/python bench/render_report.py --hosts 60 --repeat 5 # bigger synthetic run

The synthetic run takes every control of the default profile (annual-normative-test) and
judges it on objects of the types it applies to (``--hosts`` servers, two uplinks, two A/V
systems, ...), with a fixed random mix of verdicts, observed values and per-host evidence, so
the numbers are comparable between machines and over time. Timings are the median of
``--repeat`` runs, after one warm-up (imports, font discovery) that is reported separately.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ihconform.catalog import load_profile
from ihconform.report.bundle import load_run, make_bundle, verify_bundle
from ihconform.report.pdf import render_pdf
from ihconform.report.render import render_html
from ihconform.report.signing import generate_key, load_key
from ihconform.report.view import build_view
from ihconform.results import (
    ControlResult,
    EvidenceRef,
    ObjectResult,
    RunInfo,
    RunResult,
    Status,
    Summary,
    TestedObject,
    aggregate,
    conclude,
    counts,
)
from ihconform.scoring import compute_score

MIX = [Status.PASS] * 6 + [Status.FAIL, Status.PARTIAL, Status.NOT_CHECKED, Status.ERROR, Status.NOT_APPLICABLE]


def synthetic(hosts: int, seed: int = 7) -> RunResult:
    rnd = random.Random(seed)  # noqa: S311 - a fixed, reproducible mix of verdicts, not crypto
    profile = load_profile("annual-normative-test")
    objs: dict[str, list[str]] = {
        "site": ["site"], "host-os": [f"host{i:02d}" for i in range(hosts)], "database": ["pg1", "my1"],
        "web-server": ["app01-web", "app02-web"], "tls-endpoint": ["www", "api"], "uplink": ["isp-a", "isp-b"],
        "av-system": ["av1", "av2"], "power": ["ups1", "bmc1"], "platform-link": ["platform"],
        "clinical-interface": ["pacs", "his"]}
    evidence = {o: EvidenceRef(path=f"evidence/hosts/{o}/transcript.json", sha256=f"{i:064x}", kind="transcript")
                for i, o in enumerate(objs["host-os"])}
    results: list[ObjectResult] = []
    controls: list[ControlResult] = []
    for c in profile.controls:
        states = []
        for t in c.applies_to:
            for o in objs.get(t.value, []):
                st = rnd.choice(MIX)
                obs: object = {"median_mbps": round(rnd.uniform(5, 60), 1)} if t.value == "uplink" else \
                    {"value": rnd.randint(0, 99999), "source": f"/etc/login.defs line {rnd.randint(1, 300)}"}
                results.append(ObjectResult(
                    control_id=c.id, object_id=o, object_type=t.value, status=st, status_zh=st.zh,
                    observed=obs if st in (Status.PASS, Status.FAIL, Status.PARTIAL) else None,
                    expected=">= 90" if st is not Status.NOT_APPLICABLE else None,
                    reason={Status.ERROR: "ssh: connection reset by peer", Status.NOT_CHECKED: "no facts gathered"}
                    .get(st, ""), evidence=(evidence[o],) if o in evidence else ()))
                states.append(st)
        st = aggregate(states)
        controls.append(ControlResult(
            control_id=c.id, title_zh=c.title.zh, title_en=c.title.en, document=c.source.document,
            clause=c.source.clause, item=c.source.item, requirement=c.source.text, method=c.method.value,
            severity=c.severity.value, high_risk=c.high_risk, area=c.area, status=st, status_zh=st.zh,
            counts=counts(states), parameters={k: p.value for k, p in c.parameters.items()
                                               if isinstance(p.value, int | float | str)}))
    done = conclude(controls)
    st, code = done.status, done.exit_code
    objects = tuple(TestedObject(type=t, id=o, label=o) for t, ids in objs.items() for o in ids)
    return RunResult(
        tool={"name": "ihconform", "version": "bench", "python": sys.version.split()[0]},
        institution={"name": "基准测试医院", "credit_code": "12500000MB0000000X"},
        system={"name": "互联网医院信息系统", "mlps_level": 3},
        run=RunInfo(id="bench", started="2026-11-01T09:00:00+00:00", finished="2026-11-01T09:20:00+00:00",
                    duration_s=1200, profile=profile.id, profile_version=profile.version,
                    profile_digests=dict(profile.digests), inventory="inventory.yaml", inventory_sha256="0" * 64),
        summary=Summary(status=st, status_zh=st.zh, exit_code=code, controls=counts(c.status for c in controls),
                        objects=counts(r.status for r in results),
                        # scored by the product's own method, so the bench never builds a stale Score
                        score=compute_score(profile.controls, results, profile.scoring) if profile.scoring else None),
        controls=tuple(controls), results=tuple(results), objects=objects, evidence=tuple(evidence.values()))


CPU: list[float] = []


def timed(fn, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    """Median wall time; the median CPU time of this process goes to CPU[-1] (on a shared,
    loaded machine the CPU time is the steadier number)."""
    times, cpu, out = [], [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    CPU.append(statistics.median(cpu))
    return statistics.median(times), out


def page_count(pdf: bytes) -> int | None:
    if not shutil.which("pdfinfo"):
        return None
    info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    return next((int(line.split()[-1]) for line in info.splitlines() if line.startswith("Pages:")), None)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", help="a run folder, bundle or results.json (default: synthetic)")
    ap.add_argument("--hosts", type=int, default=7, help="servers in the synthetic run (default 7, as the lab)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    result = load_run(Path(args.results)) if args.results else synthetic(args.hosts)
    t0 = time.perf_counter()
    render_pdf(build_view(result))  # warm-up: imports, font scan, template compile
    warm = time.perf_counter() - t0
    t_view, view = timed(lambda: build_view(result), args.repeat)
    t_html, html = timed(lambda: render_html(view), args.repeat)  # type: ignore[arg-type]
    t_pdf, pdf = timed(lambda: render_pdf(view), args.repeat)  # type: ignore[arg-type]
    pdf_cpu = CPU[-1]
    assert isinstance(pdf, bytes) and isinstance(html, str)
    pages = page_count(pdf)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "run"
        (folder / "evidence").mkdir(parents=True)
        (folder / "results.json").write_text(result.model_dump_json(), encoding="utf-8")
        (folder / "report.html").write_text(html, encoding="utf-8")
        (folder / "report.pdf").write_bytes(pdf)
        key = Path(tmp) / "k.key"
        generate_key(key)
        n = 0

        def bundle() -> Path:
            nonlocal n
            n += 1
            out = Path(tmp) / f"b{n}.zip"
            make_bundle(folder, out, load_key(key))
            return out

        t_bundle, out = timed(bundle, args.repeat)
        t_verify, v = timed(lambda: verify_bundle(out), args.repeat)  # type: ignore[arg-type]
        assert v.ok  # type: ignore[union-attr]
        size = out.stat().st_size  # type: ignore[union-attr]
    row = {"controls": len(result.controls), "results": len(result.results), "objects": len(result.objects),
           "warmup_s": round(warm, 2), "view_s": round(t_view, 3), "html_s": round(t_html, 3),
           "pdf_s": round(t_pdf, 2), "pdf_cpu_s": round(pdf_cpu, 2), "pages": pages,
           "html_kb": len(html.encode()) // 1024,
           "pdf_kb": len(pdf) // 1024, "bundle_s": round(t_bundle, 3), "verify_s": round(t_verify, 3),
           "bundle_kb": size // 1024, "load_avg_1m": round(os.getloadavg()[0], 1), "cpus": os.cpu_count()}
    if args.json:
        print(json.dumps(row))
    else:
        for k, val in row.items():
            print(f"{k:>10}: {val}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
