"""The product's default profile (annual-normative-test) on the conforming lab, bandwidth
included: the wall time of a whole ``ihconform run`` a tester would start, median of N runs.

Why: issue 9 asks for the whole default profile, network probes running alongside the host
probes, in under 2 minutes. TLS and exposure scans start when the session has collected
(``ihc_prefetch``) and run in threads while hosts are gathered and judged; this script shows
the wall time of the whole run and how much of it the network probes' own calls took.

    .venv/bin/python bench/default_profile.py --repeat 5
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
from collections import defaultdict
from pathlib import Path

from lablock import machine_lock

from ihconform import lab as ihlab

IHCONFORM = str(Path(sys.executable).with_name("ihconform"))
NETWORK = ("tls.", "exposure.", "uplink.", "av.", "platform.", "clinical.")


def one_run(info: ihlab.LabInfo, out: Path, formats: str) -> tuple[float, int, dict[str, float]]:
    env = dict(os.environ)
    for line in info.env_file.read_text().splitlines():
        k, _, v = line.partition("=")
        env[k.strip()] = v.strip()
    t0 = time.perf_counter()
    proc = subprocess.run([IHCONFORM, "run", "-q", "-i", str(info.inventory_path), "-o", str(out),
                           "--formats", formats], capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t0
    (found,) = out.rglob("results.json")
    doc = json.loads(found.read_text())
    calls: dict[str, float] = defaultdict(float)
    for r in doc["results"]:
        family = "network" if str(r["probe"]).startswith(NETWORK) else "host/other"
        calls[family] += float(r["duration_s"])
    return wall, proc.returncode, dict(calls)


def spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):.1f} ({min(xs):.1f}–{max(xs):.1f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--formats", default="json,junit,html,pdf", help="report formats (default: all, as a user)")
    args = ap.parse_args()
    load0 = os.getloadavg()
    walls: list[float] = []
    net: list[float] = []
    other: list[float] = []
    codes: set[int] = set()
    with machine_lock(), tempfile.TemporaryDirectory(prefix="ihc-default-") as tmp:
        ihlab.down(ihlab.DEFAULT_RUNTIME)
        info = ihlab.up((), ihlab.DEFAULT_RUNTIME)
        try:
            for i in range(args.repeat):
                wall, code, calls = one_run(info, Path(tmp) / f"run{i}", args.formats)
                walls.append(wall)
                net.append(calls.get("network", 0.0))
                other.append(calls.get("host/other", 0.0))
                codes.add(code)
                print(f"  run {i + 1}: {wall:.1f} s (exit {code})", file=sys.stderr)
        finally:
            ihlab.down(ihlab.DEFAULT_RUNTIME)
    load1 = os.getloadavg()
    print(f"default profile (annual-normative-test) on the conforming lab, formats {args.formats}; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, {args.repeat} runs, "
          f"load avg {load0[0]:.2f} -> {load1[0]:.2f}, exit codes {sorted(codes)}")
    print(f"  wall s, median (min–max):              {spread(walls)}")
    print(f"  network probe calls, s (sum per run):  {spread(net)}")
    print(f"  host and other probe calls, s:         {spread(other)}")
    print(f"  under 2 minutes: {'yes' if max(walls) < 120 else 'NO'} (slowest run {max(walls):.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
