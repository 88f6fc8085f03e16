"""How fast this machine runs Python today: a fixed pure-Python workload, timed in a fresh
interpreter, printed beside the benches' tables.

Why: the 2-CPU machines these benches run on differ from day to day. Session 11's commit ran
1.6 times slower on 2026-12-05 than on 2026-12-04 (docs/performance.md §6, session 12), so an
absolute figure read against a target means little without the machine's speed that day. The
side-by-side rows (``--against``) compare code on one machine state; this line says which state.

    .venv/bin/python bench/machine.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys

#: Ten million additions in a loop: the interpreter's dispatch, what the harness's own CPU is made of.
WORKLOAD = ("import time\nt = time.perf_counter()\nx = 0\nfor i in range(10_000_000):\n    x += i\n"
            "print(time.perf_counter() - t)")


def reference_s(repeat: int = 3) -> float:
    """Median seconds of :data:`WORKLOAD`, each in a new interpreter."""
    times = [float(subprocess.run([sys.executable, "-c", WORKLOAD], capture_output=True, text=True,
                                  check=True).stdout) for _ in range(repeat)]
    return statistics.median(times)


def describe() -> str:
    return f"machine reference: {reference_s():.2f} s for 10^7 Python additions (bench/machine.py; lower is faster)"


if __name__ == "__main__":
    print(describe())
