"""Run the benchmarks and print their tables: the embedded default's fixed cost (issue 14; with
``--against REF`` beside an older commit), the fleet series, the side-by-side and the default
profile on the conforming lab (issue 9).

    .venv/bin/python bench/run.py              # 5 runs each (about 20-25 min on the 2-CPU lab machine)
    .venv/bin/python bench/run.py --repeat 1   # a quick look

Needs root (the lab) and the ``bench`` extra (``pip install -e '.[bench]'``) and Lynis
(``bash bootstrap.sh install``). Each script takes the lab lock while it uses the lab.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from machine import describe

HERE = Path(__file__).resolve().parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--against", metavar="REF",
                    help="also time this commit, side by side: embedded default, fleet, default profile")
    ap.add_argument("--plot", type=Path, default=HERE.parent / "docs" / "images" / "perf-scale.png")
    args = ap.parse_args()
    ap_ref = args.against
    print(describe(), flush=True)  # the machine's speed today, against which every figure below is read
    rc = subprocess.call([sys.executable, str(HERE / "embedded_default.py"), "--repeat", str(args.repeat),
                          *(["--against", ap_ref] if ap_ref else [])])
    against = ["--against", ap_ref] if ap_ref else []
    rc |= subprocess.call([sys.executable, str(HERE / "fleet.py"), "--repeat", str(args.repeat),
                          "--plot", str(args.plot), *against])
    rc |= subprocess.call([sys.executable, str(HERE / "compare.py"), "--repeat", str(args.repeat)])
    rc |= subprocess.call([sys.executable, str(HERE / "default_profile.py"), "--repeat", str(args.repeat),
                          *against])
    return rc


if __name__ == "__main__":
    sys.exit(main())
