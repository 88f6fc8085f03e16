"""Benchmark: the full host profile per host, batched (ihconform) vs one SSH command per check.

The "one command per check" side is what a user writing testinfra tests gets: the same
connection (testinfra's paramiko backend reuses it too), one ``exec_command`` per check, sudo
per privileged command. Both sides run the *same* read-only commands on the *same* hosts, so
the ratio isolates the cost of round trips.

    flock /tmp/ihc-lab.lock flock /run/ihlab.lock .venv/bin/python bench/host_profile.py --repeat 5

Without ``--inventory`` it brings the reference lab up (root) and down again.
Figures: medians of ``--repeat`` runs, with min-max spread; round trips counted by the transport.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from ihconform.facts.collect import Section, collect
from ihconform.facts.sections import sections_for
from ihconform.facts.store import sudo_password
from ihconform.inventory import Host, Inventory, load_inventory
from ihconform.transport import open_transport
from ihconform.transport.base import Transport, quote_command


def batched(t: Transport, host: Host, sections: list[Section]) -> tuple[float, int]:
    before = t.round_trips
    start = time.perf_counter()
    facts = collect(t, sections, sudo=host.sudo.enabled, sudo_password=sudo_password(host))
    if facts.error:
        raise RuntimeError(f"{host.id}: {facts.error}")
    return time.perf_counter() - start, t.round_trips - before


def per_check(t: Transport, host: Host, sections: list[Section]) -> tuple[float, int]:
    password = sudo_password(host)
    before = t.round_trips
    start = time.perf_counter()
    for s in sections:
        cmd = s.command
        if s.root and host.sudo.enabled and not t.is_root:
            cmd = quote_command("sudo -S -p '' sh -c %s" if password else "sudo -n sh -c %s", cmd)
            t.run(cmd, stdin=(password + "\n").encode() if password else None, timeout=s.timeout + 5)
        else:
            t.run(cmd, timeout=s.timeout + 5)
    return time.perf_counter() - start, t.round_trips - before


def spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):.3f} s ({min(xs):.3f}-{max(xs):.3f})"


def run(inv: Inventory, repeat: int, skip: set[str]) -> list[dict[str, object]]:
    plan = sections_for(inv)
    rows = []
    for host in inv.hosts:
        sections = [s for s in plan[host.id] if s.name not in skip]
        t = open_transport(host, inv)
        try:
            b = [batched(t, host, sections) for _ in range(repeat)]
            p = [per_check(t, host, sections) for _ in range(repeat)]
        finally:
            t.close()
        bw, pw = [x[0] for x in b], [x[0] for x in p]
        rows.append({"host": host.id, "checks": len(sections), "batched": spread(bw), "batched_rt": b[0][1],
                     "per_check": spread(pw), "per_check_rt": p[0][1],
                     "ratio": statistics.median(pw) / statistics.median(bw)})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inventory", type=Path)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--with-updates", action="store_true",
                    help="include the pending-updates check (apt list --upgradable: ~0.9 s on Debian, same both ways)")
    args = ap.parse_args()
    skip = set() if args.with_updates else {"packages_upgradable"}
    lab = None
    if args.inventory is None:
        from ihconform import lab as ihlab

        lab = ihlab.up((), ihlab.DEFAULT_RUNTIME)
        inv_path = lab.inventory_path
    else:
        inv_path = args.inventory
    try:
        rows = run(load_inventory(Path(inv_path)), args.repeat, skip)
    finally:
        if lab is not None:
            from ihconform import lab as ihlab

            ihlab.down(ihlab.DEFAULT_RUNTIME)
    print(f"full host profile per host, median of {args.repeat} runs (min-max); round trips per host")
    print(f"{'host':<9} {'checks':>6}  {'ihconform batched':<26} {'RT':>3}  "
          f"{'one command per check':<26} {'RT':>4}  ratio")
    for r in rows:
        print(f"{r['host']:<9} {r['checks']:>6}  {r['batched']:<26} {r['batched_rt']:>3}  "
              f"{r['per_check']:<26} {r['per_check_rt']:>4}  {r['ratio']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
