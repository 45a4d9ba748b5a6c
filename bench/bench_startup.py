"""Start-up time of the light commands: `humc --help` must answer in < 0.2 s.

    python bench/bench_startup.py [--runs 10]

Runs `python -m humc --help` (and, for scale, `python -c pass`) in fresh interpreters and prints the
median wall time of each and the difference. tests/test_imports.py checks the cause (no heavy
module is imported by `--help`); this measures the effect.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def median_wall(cmd: list[str], runs: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    bare = median_wall([sys.executable, "-c", "pass"], args.runs)
    helped = median_wall([sys.executable, "-m", "humc", "--help"], args.runs)
    print(f"python -c pass        {bare * 1000:7.1f} ms")
    print(f"python -m humc --help {helped * 1000:7.1f} ms  (humc's own share: {(helped - bare) * 1000:.1f} ms)")
    return 0 if helped < 0.2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
