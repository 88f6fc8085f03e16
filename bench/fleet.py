"""Benchmark: the level-3 host profile on 2, 10, 25, 50 lab hosts (issue 9, scale).

What runs: ``ihconform run -i <first N fleet hosts> -p annual-normative-test --only probe:host.``
(every host-side control of the default profile, the same selection as
tests/integration/test_default_profile_lab.py), as a user would type it, in a child process,
with ``--parallel`` hosts gathered at once. A second series leaves out the one host probe that
needs the pending-updates simulation (``host.security_updates``: seconds of apt solver CPU per
host), because in a namespace lab every "host" runs on this machine's 2 cores: with it, the
hosts' own CPU, not the harness, sets the wall time of a big fleet.

Per run: wall time of the child; the harness process tree (the ihconform process and its
children) sampled with psutil every 20 ms for peak RSS and peak open file descriptors; the
process's own descriptors counted just before and just after the run (in the child); CPU
seconds of the harness (its children's rusage) and of the whole machine (so the lab hosts'
share shows); round trips per host and the
slowest section, from the transcripts the run writes as evidence.

    .venv/bin/python bench/fleet.py --repeat 5            # brings the lab up with a fleet, and down
    .venv/bin/python bench/fleet.py --repeat 5 --json bench-fleet.json --plot docs/images/perf-scale.png
    .venv/bin/python bench/fleet.py --sizes 50 --series no-updates --repeat 3 --against fab40dc  # before/after

Takes the lab lock (/run/ihlab.lock) for the whole series. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from lablock import fleet_lab, subset_inventory  # noqa: E402
from source import THIS_TREE, env_for, sources  # noqa: E402

from ihconform.catalog import load_profile  # noqa: E402
from ihconform.plan import probe_for  # noqa: E402

PROFILE = "annual-normative-test"
UPDATES_PROBE = "host.security_updates"
SAMPLE_S = 0.02
#: The child: ``ihconform run`` as its entry point runs it, with the process's open file
#: descriptors counted just before the run starts (imports done) and just after it returns
#: (pytest session over, connections closed): a leak per host would show as after > before.
CHILD = """import gc, json, os, sys
from ihconform import cli
fds = lambda: len(os.listdir('/proc/self/fd'))
before = fds()
rc = cli.main(sys.argv[2:])
json.dump({'fds_before': before, 'fds_after': fds(), 'rc': rc}, open(sys.argv[1], 'w'))
if hasattr(cli, 'entry'):  # the program's entry leaves the objects to the process's end (cli.entry)
    gc.freeze()
sys.exit(rc)
"""


@dataclass
class RunStats:
    """One ``ihconform run``."""

    hosts: int
    wall_s: float
    rss_peak_mb: float
    rss_before_mb: float
    fds_before: int
    fds_after: int
    fds_peak: int
    harness_cpu_s: float
    machine_cpu_s: float
    round_trips: list[int] = field(default_factory=list)
    host_facts_s: list[float] = field(default_factory=list)
    section_ms: dict[str, int] = field(default_factory=dict)  # slowest host's sections
    timeouts: int = 0  # sections that hit their own timeout (exit 124), all hosts together
    exit_code: int = 0


def host_probe_selectors(with_updates: bool, src: Path | None = None) -> list[str]:
    """``--only`` selectors: every host probe of the profile (less the updates probe). With
    ``src``, of that source's profile (an older commit's may lack a probe of today's)."""
    if with_updates:
        return ["probe:host."]
    if src is not None:
        code = ("from ihconform.catalog import load_profile; from ihconform.plan import probe_for; "
                f"print(' '.join({{probe_for(c) for c in load_profile({PROFILE!r}).controls}}))")
        probes = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                    env=env_for(src)).stdout.split())
    else:
        probes = {probe_for(c) for c in load_profile(PROFILE).controls}
    return [f"probe:{p}" for p in sorted(probes) if p.startswith("host.") and p != UPDATES_PROBE]


def _tree(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return []


def _sample(proc: psutil.Process) -> tuple[int, int] | None:
    rss = fds = 0
    tree = _tree(proc)
    if not tree:
        return None
    for p in tree:
        try:
            rss += p.memory_info().rss
            fds += p.num_fds()
        except psutil.Error:
            continue
    return rss, fds


def _busy(ct: Any) -> float:
    return float(ct.user + ct.nice + ct.system + getattr(ct, "irq", 0.0) + getattr(ct, "softirq", 0.0))


def child_env(src: Path | None, pycache: Path | None) -> dict[str, str] | None:
    """The child's environment: ``src`` first on the path, and with ``pycache`` the bytecode
    written there and read back, as on a user's machine where pip compiled the package (this
    sandbox sets PYTHONDONTWRITEBYTECODE, so without it every run compiles ihconform again:
    about half a second of the harness's CPU)."""
    env = env_for(src) if src is not None else dict(os.environ)
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def one_run(inventory: Path, n: int, parallel: int, selectors: list[str], out: Path, workers: int = 0,
            src: Path | None = None, pycache: Path | None = None) -> RunStats:
    fd_file = out / "fds.json"
    argv = [sys.executable, "-c", CHILD, str(fd_file), "run", "-i", str(inventory), "-p", PROFILE, "-o",
            str(out / "run"), "--formats", "json", "-q", "--parallel", str(parallel), "--workers", str(workers)]
    for sel in selectors:
        argv += ["--only", sel]
    cpu0 = _busy(psutil.cpu_times())
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=child_env(src, pycache))
    proc = psutil.Process(child.pid)
    samples: list[tuple[int, int]] = []
    while child.poll() is None:
        s = _sample(proc)
        if s is not None:
            samples.append(s)
        time.sleep(SAMPLE_S)
    wall = time.perf_counter() - start
    cpu1 = _busy(psutil.cpu_times())
    # The child was reaped by poll(); its CPU (children included) is in RUSAGE_CHILDREN deltas.
    st = _stats(n, wall, samples, cpu1 - cpu0, out / "run", child.returncode)
    if fd_file.exists():
        doc = json.loads(fd_file.read_text())
        st.fds_before, st.fds_after = int(doc["fds_before"]), int(doc["fds_after"])
    return st


def _stats(n: int, wall: float, samples: list[tuple[int, int]], machine_cpu: float, out: Path,
           code: int) -> RunStats:
    mb = 1024 * 1024
    runs = sorted(out.glob("*/results.json"))
    rts: list[int] = []
    facts_s: list[float] = []
    slowest: dict[str, int] = {}
    timeouts = 0
    if runs:
        worst = -1.0
        for tr in sorted(runs[-1].parent.glob("evidence/hosts/*/transcript.json")):
            doc = json.loads(tr.read_text())
            rts.append(int(doc["round_trips"]))
            timeouts += sum(1 for c in doc["commands"] if c["exit_code"] == 124)
            facts_s.append(float(doc["duration_s"]))
            if doc["duration_s"] > worst:
                worst = float(doc["duration_s"])
                slowest = {c["section"]: c.get("duration_ms") or 0 for c in doc["commands"]}
    return RunStats(hosts=n, wall_s=wall, rss_peak_mb=max((s[0] for s in samples), default=0) / mb,
                    rss_before_mb=(samples[0][0] / mb) if samples else 0.0,
                    fds_before=samples[0][1] if samples else 0, fds_after=samples[-1][1] if samples else 0,
                    fds_peak=max((s[1] for s in samples), default=0), harness_cpu_s=0.0,
                    machine_cpu_s=machine_cpu, round_trips=rts, host_facts_s=facts_s, section_ms=slowest,
                    timeouts=timeouts, exit_code=code)


def timed_run(inventory: Path, n: int, parallel: int, selectors: list[str], workers: int = 0,
              src: Path | None = None, pycache: Path | None = None) -> RunStats:
    before = os.times()
    with tempfile.TemporaryDirectory(prefix="ihc-fleet-") as tmp:
        st = one_run(inventory, n, parallel, selectors, Path(tmp), workers, src, pycache)
    after = os.times()
    st.harness_cpu_s = (after.children_user - before.children_user) + (after.children_system
                                                                        - before.children_system)
    return st


def med(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f} ({min(xs):.2f}-{max(xs):.2f})"


def summarise(series: str, n: int, runs: list[RunStats], parallel: int, source: str = THIS_TREE) -> dict[str, Any]:
    top = max(runs[0].section_ms.items(), key=lambda kv: kv[1], default=("", 0))
    return {
        "source": source, "series": series, "hosts": n, "parallel": parallel, "runs": len(runs),
        "wall_s": [r.wall_s for r in runs], "rss_peak_mb": [r.rss_peak_mb for r in runs],
        "rss_before_mb": [r.rss_before_mb for r in runs],
        "fds_before": [r.fds_before for r in runs], "fds_after": [r.fds_after for r in runs],
        "fds_peak": [r.fds_peak for r in runs], "harness_cpu_s": [r.harness_cpu_s for r in runs],
        "machine_cpu_s": [r.machine_cpu_s for r in runs],
        "round_trips_per_host": sorted({rt for r in runs for rt in r.round_trips}),
        "hosts_reported": [len(r.round_trips) for r in runs],
        "host_facts_s_median": statistics.median([x for r in runs for x in r.host_facts_s] or [0.0]),
        "slowest_section": {"name": top[0], "ms": top[1]},
        "exit_codes": sorted({r.exit_code for r in runs}),
        "section_timeouts": [r.timeouts for r in runs],
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"{'source':<10} {'series':<11} {'hosts':>5} {'wall s, median (min-max)':<26} {'peak RSS MB':<22} "
          f"{'fds before/after/peak':<22} {'harness CPU s':<20} {'machine CPU s':<22} RT/host  slowest section")
    for r in rows:
        fds = (f"{int(statistics.median(r['fds_before']))}/{int(statistics.median(r['fds_after']))}/"
               f"{max(r['fds_peak'])}")
        print(f"{r.get('source', THIS_TREE):<10} {r['series']:<11} {r['hosts']:>5} "
              f"{med(r['wall_s']):<26} {med(r['rss_peak_mb']):<22} "
              f"{fds:<22} {med(r['harness_cpu_s']):<20} {med(r['machine_cpu_s']):<22} "
              f"{','.join(map(str, r['round_trips_per_host'])):<8} "
              f"{r['slowest_section']['name']} {r['slowest_section']['ms']} ms")


def checks(rows: list[dict[str, Any]]) -> list[str]:
    """The issue's targets, as lines to print (a benchmark reports; it does not fail)."""
    out = []
    for source, series in sorted({(r.get("source", THIS_TREE), r["series"]) for r in rows}):
        by_n = {r["hosts"]: r for r in rows if r["series"] == series and r.get("source", THIS_TREE) == source}
        lo, hi = min(by_n), max(by_n)
        ratio = statistics.median(by_n[hi]["wall_s"]) / statistics.median(by_n[lo]["wall_s"])
        peak = max(max(r["rss_peak_mb"]) for r in by_n.values())
        growth = max(max(a - b for a, b in zip(r["fds_after"], r["fds_before"], strict=True))
                     for r in by_n.values())
        out.append(f"{source} {series}: wall {hi} hosts / {lo} hosts = {ratio:.1f}x (target <= 3x: "
                   f"{'met' if ratio <= 3 else 'NOT met'}); peak RSS {peak:.0f} MB (target <= 300 MB: "
                   f"{'met' if peak <= 300 else 'NOT met'}); fd after - before at most {growth} "
                   f"({'no growth' if growth <= 0 else 'GROWTH'})")
    return out


def plot(rows: list[dict[str, Any]], path: Path, note: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for series, style in (("full", "o-"), ("no-updates", "s--")):
        rs = sorted((r for r in rows if r["series"] == series and r.get("source", THIS_TREE) == THIS_TREE),
                    key=lambda r: r["hosts"])
        if not rs:
            continue
        ns = [r["hosts"] for r in rs]
        for ax, key in ((ax1, "wall_s"), (ax2, "rss_peak_mb")):
            meds = [statistics.median(r[key]) for r in rs]
            lo = [m - min(r[key]) for m, r in zip(meds, rs, strict=True)]
            hi = [max(r[key]) - m for m, r in zip(meds, rs, strict=True)]
            ax.errorbar(ns, meds, yerr=[lo, hi], fmt=style, capsize=3,
                        label="host profile" if series == "full" else "host profile less pending updates")
    ax1.set(xlabel="lab hosts", ylabel="wall time (s), median, min-max", title="ihconform run wall time")
    ax2.set(xlabel="lab hosts", ylabel="peak RSS (MB), harness process tree", title="harness memory")
    ax2.axhline(300, color="grey", linestyle=":", label="300 MB target")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_ylim(bottom=0)
    fig.suptitle(note, fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="2,10,25,50", help="host counts (at most 50)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--parallel", type=int, default=16, help="ihconform run --parallel (default 16, the CLI's)")
    ap.add_argument("--series", default="full,no-updates", help="full and/or no-updates")
    ap.add_argument("--workers", type=int, default=0,
                    help="ihconform run --workers (pytest-xdist processes; default 0: one process)")
    ap.add_argument("--json", type=Path, help="write every run's figures here")
    ap.add_argument("--plot", type=Path, help="write the time/memory plot here (PNG)")
    ap.add_argument("--against", metavar="REF", help="also time this commit's source, runs interleaved")
    ap.add_argument("--bytecode", choices=("cached", "compiled"), default="cached",
                    help="cached (default): bytecode kept between runs after one untimed run per source, "
                         "as an installed package; compiled: every run compiles the source again")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    series = [s for s in args.series.split(",") if s]
    load0 = os.getloadavg()
    rows: list[dict[str, Any]] = []
    raw: list[dict[str, Any]] = []
    with (sources(args.against) as srcs, fleet_lab(max(sizes)) as info,
          tempfile.TemporaryDirectory(prefix="ihc-fleet-inv-") as tmp):
        assert info.fleet_inventory is not None
        caches = {label: Path(tmp) / f"pycache-{i}" if args.bytecode == "cached" else None
                  for i, label in enumerate(srcs)}
        if args.bytecode == "cached":  # one untimed run per source writes its bytecode
            warm = subset_inventory(info.fleet_inventory, min(sizes), Path(tmp) / "fleet-warm.yaml")
            for label, src in srcs.items():
                timed_run(warm, min(sizes), args.parallel, host_probe_selectors(False, src), args.workers, src,
                          caches[label])
        for s in series:
            selectors = {label: host_probe_selectors(s == "full", src) for label, src in srcs.items()}
            for n in sizes:
                inv = subset_inventory(info.fleet_inventory, n, Path(tmp) / f"fleet-{n}.yaml")
                runs: dict[str, list[RunStats]] = {label: [] for label in srcs}
                for i in range(args.repeat):  # sources interleaved: the machine's load drifts alike for both
                    for label, src in srcs.items():
                        st = timed_run(inv, n, args.parallel, selectors[label], args.workers, src, caches[label])
                        runs[label].append(st)
                        raw.append({"source": label, "series": s, **asdict(st)})
                        print(f"  {label} {s} {n} hosts run {i + 1}: {st.wall_s:.2f} s, {st.rss_peak_mb:.0f} MB, "
                              f"CPU {st.harness_cpu_s:.2f} s, fds {st.fds_before}/{st.fds_after}/{st.fds_peak}",
                              file=sys.stderr)
                rows += [summarise(s, n, rs, args.parallel, label) for label, rs in runs.items()]
    load1 = os.getloadavg()
    note = (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, --parallel "
            f"{args.parallel}, --workers {args.workers}, {args.repeat} runs each, bytecode {args.bytecode}, "
            f"load avg {load0[0]:.2f} -> {load1[0]:.2f}")
    print(f"level-3 host profile ({PROFILE} --only probe:host.) on N lab fleet hosts; {note}")
    print_table(rows)
    for line in checks(rows):
        print(line)
    if args.json:
        args.json.write_text(json.dumps({"note": note, "rows": rows, "runs": raw}, indent=1))
    if args.plot:
        plot(rows, args.plot, note)
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
