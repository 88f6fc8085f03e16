"""The fixed cost of a run: ``ihconform run`` on its embedded default (this machine, no lab),
JSON only and with every format, median of N runs; optionally side by side with an older commit.

Why: issue 14 sets targets for the cost every run pays whatever it audits (start-up, profile
parsing, pytest's own work per item, report rendering): ≤ 1.0 s wall with ``--formats json``
and ≤ 2.5 s with every format. Each run is a fresh process, as a user starts it; the figure
printed is wall time and the CPU time of the process and its children (the steadier number on
a loaded machine).

``--against REF`` times the same commands on the source of another commit (a temporary git
worktree put first on ``PYTHONPATH``, same venv and packages), so "before" and "after" come
from one run of this script on one machine state.

This image is not a stock Debian in one way that sets the floor of a local run: its
/etc/apt/apt.conf.d/docker-clean disables apt's binary package cache, so ``apt list
--upgradable`` (the pending-updates section) rebuilds it on every call. The row "stock apt
cache" runs the same child as on a server, where /var/cache/apt keeps that cache: in a private
mount namespace (``unshare -m``) with docker-clean hidden and a cache folder of the bench's own
over /var/cache/apt (nothing on the machine changes). Printed only where that can be done.

    .venv/bin/python bench/embedded_default.py --repeat 5 --against fab40dc
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe
from source import env_for, sources

#: The child: ``ihconform run``, writing at exit the CPU of its own process (``RUSAGE_SELF``:
#: the harness) to the file named by the first argument; the rest of the child's CPU is the
#: local facts' commands (on this machine ``apt list --upgradable`` alone is ~1.3 s).
ENTRY = """import atexit, resource, sys
from pathlib import Path
def _own():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    Path(sys.argv[1]).write_text(str(ru.ru_utime + ru.ru_stime))
atexit.register(_own)
from ihconform import cli
sys.exit(getattr(cli, "entry", cli.main)(sys.argv[2:]))  # the program's entry (older sources: main)
"""
FORMATS = {"json only": "json", "all but pdf": "json,junit,html", "every format": "json,junit,html,pdf"}
#: The PDF's share is "every format" minus "all but pdf" (Typst since session 7; WeasyPrint before).


#: This image's apt setting that leaves out the binary package cache a stock Debian keeps.
DOCKER_CLEAN = Path("/etc/apt/apt.conf.d/docker-clean")


def stock_apt(cache: Path) -> list[str] | None:
    """A command prefix that runs its command with apt as on a stock Debian: in a private mount
    namespace where ``DOCKER_CLEAN`` is hidden and /var/cache/apt is ``cache`` (kept between runs,
    as on a server). None where it cannot be done (not root, no unshare, no docker-clean)."""
    if os.geteuid() != 0 or not shutil.which("unshare") or not DOCKER_CLEAN.exists():
        return None
    (cache / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    script = (f"mount --bind /dev/null {shlex.quote(str(DOCKER_CLEAN))} && "
              f"mount --bind {shlex.quote(str(cache))} /var/cache/apt && exec \"$@\"")
    return ["unshare", "-m", "sh", "-c", script, "sh"]


def one_run(src: Path, formats: str, out: Path, pycache: Path | None = None,
            prefix: list[str] | None = None) -> tuple[float, float, float, int]:
    """Wall seconds, CPU seconds (user+sys of the child and its children), the harness's own
    share of that CPU, and the exit code of one run. With ``pycache``, bytecode is written there
    and read back (as on a user's machine, where pip compiled the package); without, the
    environment decides (this sandbox sets PYTHONDONTWRITEBYTECODE, so every run compiles
    ihconform from source)."""
    env = env_for(src)
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    own_file = out.with_name(out.name + ".cpu")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([*(prefix or []), sys.executable, "-c", ENTRY, str(own_file), "run", "-q", "-o", str(out),
                           "--formats", formats], capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 1, 3) or not any(out.glob("*/results.json")):
        sys.stderr.write(proc.stderr[-2000:])
        raise SystemExit(f"run failed with exit {proc.returncode} or wrote no results.json (source {src})")
    return wall, cpu, float(own_file.read_text()), proc.returncode


def spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f} ({min(xs):.2f}–{max(xs):.2f})"


def measure(src: Path, repeat: int, tmp: Path) -> dict[str, tuple[list[float], list[float], list[float]]]:
    out: dict[str, tuple[list[float], list[float], list[float]]] = {}
    tmp.mkdir(parents=True, exist_ok=True)
    runs: list[tuple[str, str, Path | None, list[str] | None]] = [
        (label, formats, None, None) for label, formats in FORMATS.items()]
    runs.append(("json only, bytecode cached", "json", tmp / "pycache", None))
    stock = stock_apt(tmp / "apt-cache")
    if stock is not None:
        runs.append(("json only, bytecode cached, stock apt cache", "json", tmp / "pycache", stock))
    for n, (label, formats, pycache, prefix) in enumerate(runs):
        one_run(src, formats, tmp / "warm", pycache, prefix)  # imports, fontconfig, bytecode, apt's cache
        walls, cpus, owns = [], [], []
        for i in range(repeat):
            wall, cpu, own, _ = one_run(src, formats, tmp / f"{n}-{i}", pycache, prefix)
            walls.append(wall)
            cpus.append(cpu)
            owns.append(own)
        out[label] = (walls, cpus, owns)
    return out


def floor(repeat: int, prefix: list[str] | None = None) -> list[float]:
    """Wall seconds of the pending-updates section's own command, run alone by ``sh`` as the
    collector runs it: the part of the run no harness work can shorten (the run starts it at
    once and overlaps everything else with it). On this image apt rebuilds its package cache
    on every call (``Dir::Cache::pkgcache ""`` in /etc/apt/apt.conf.d/docker-clean)."""
    from ihconform.facts.host import HOST_SECTIONS

    command = next(sec.command for sec in HOST_SECTIONS if sec.name == "packages_upgradable")
    walls = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([*(prefix or []), "/bin/sh", "-c", command], capture_output=True, check=False)
        walls.append(time.perf_counter() - t0)
    return walls


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--against", metavar="REF", help="also time this commit's source (git worktree)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ihc-bench-") as tmpname, sources(args.against) as srcs:
        tmp = Path(tmpname)
        results = {name: measure(src, args.repeat, tmp / name.replace(" ", "-")) for name, src in srcs.items()}
    print(f"\nEmbedded default (`ihconform run` on this machine), median (min–max) of {args.repeat}, "
          f"load {os.getloadavg()[0]:.1f}; {describe()}")
    print("| source | formats | wall s | CPU s, all | CPU s, harness process |")
    print("| --- | --- | --- | --- | --- |")
    for name, by_format in results.items():
        for label, (walls, cpus, owns) in by_format.items():
            print(f"| {name} | {label} | {spread(walls)} | {spread(cpus)} | {spread(owns)} |")
    print(f"\nThe pending-updates section's command alone (`sh -c`, as collected): {spread(floor(args.repeat))} s wall")
    with tempfile.TemporaryDirectory(prefix="ihc-bench-apt-") as aptname:
        stock = stock_apt(Path(aptname))
        if stock is not None:
            floor(1, stock)  # apt writes its cache once
            print(f"  with a stock apt cache: {spread(floor(args.repeat, stock))} s wall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
