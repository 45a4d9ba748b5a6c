"""Start-up time of humc's commands: `humc --help` must answer in < 0.2 s; `humc plan` of an example recipe is the
fixed cost every `check`, `plan` and `build` pays before its first record.

    python bench/bench_startup.py [--runs 10] [--recipe recipes/hum.hum.yaml] [--baseline REV]

Runs, in fresh interpreters with their bytecode cached (as an installed humc has it), `python -c pass` for scale,
`python -m humc --help`, and `python -m humc plan RECIPE` (parse, the stdlib, validation, the graph; no build), and
prints the median wall time of each. With ``--baseline REV`` the same `plan` runs from humc at git revision REV
(extracted to a temporary folder) in the same run, alternating with the current code, and the ratio is printed.
tests/test_imports.py checks the cause of the `--help` figure (no heavy module is imported); this measures the effect.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def wall(cmd: list[str], tree: Path, cwd: Path) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # users' installs have .pyc files
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env={**env, "PYTHONPATH": str(tree)}, cwd=cwd)
    return time.perf_counter() - start


def medians(commands: dict[str, tuple[list[str], Path]], runs: int, cwd: Path) -> dict[str, float]:
    """Median wall seconds of each command, run in turn ``runs`` times (after one run each that writes bytecode)."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for cmd, tree in commands.values():
        wall(cmd, tree, cwd)
    for _ in range(runs):
        for name, (cmd, tree) in commands.items():
            times[name].append(wall(cmd, tree, cwd))
    return {name: statistics.median(t) for name, t in times.items()}


def extracted(rev: str, into: Path) -> Path:
    """humc's tree at git revision ``rev``, extracted under ``into``."""
    tree = into / f"humc-{rev}"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--recipe", default="recipes/hum.hum.yaml", help="the recipe `humc plan` reads (from the repo)")
    ap.add_argument("--baseline", default=None, metavar="REV", help="also time `humc plan` by humc at this git rev")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="humc-bench-startup-") as tmp:
        root = Path(tmp)
        plan = [sys.executable, "-m", "humc", "plan", str(REPO / args.recipe), "--cache", str(root / "cache"),
                "--out", str(root / "out")]
        commands = {"python -c pass": ([sys.executable, "-c", "pass"], REPO),
                    "python -m humc --help": ([sys.executable, "-m", "humc", "--help"], REPO),
                    f"humc plan {args.recipe}": (plan, REPO)}
        if args.baseline:
            commands[f"humc plan {args.recipe} at {args.baseline}"] = (plan, extracted(args.baseline, root))
        took = medians(commands, args.runs, root)
    bare = took["python -c pass"]
    for name, seconds in took.items():
        share = "" if name == "python -c pass" else f"  (humc's own share: {(seconds - bare) * 1000:.1f} ms)"
        print(f"{name:<48} {seconds * 1000:8.1f} ms{share}")
    if args.baseline:
        now, then = took[f"humc plan {args.recipe}"], took[f"humc plan {args.recipe} at {args.baseline}"]
        print(f"plan at {args.baseline} / now: {then / now:.2f}×  (own shares: {(then - bare) / (now - bare):.2f}×)")
    return 0 if took["python -m humc --help"] < 0.2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
