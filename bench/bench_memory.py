"""Peak memory of `humc build` as the source grows: is it flat?

For each size N it writes a generated NER source of N records (2 rendered variants each,
so 2N output rows), builds it with `python -m humc.cli build` in a fresh cache, and reads
the child's peak RSS from os.wait4 (ru_maxrss: the whole process lifetime). Then, between
consecutive sizes:

* ``mb_per_100k``  marginal RSS growth per 100k more source records;
* ``ratio``        (RSS_b / RSS_a) / (N_b / N_a): RSS growth relative to record growth;
* ``exponent``     k in RSS ~ N^k, i.e. log(RSS_b/RSS_a) / log(N_b/N_a): < 1 is sublinear,
                   ~0 is flat.

    python bench/bench_memory.py [--sizes 10000,100000,300000] [--max] [--executor local|ray]
                                 [--no-dedup] [--keep DIR]

``--max`` adds 1,000,000 (about 10 minutes on 2 vCPUs). Prints a table and writes
bench/results/memory.json
(memory-nodedup.json with --no-dedup).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "memory.json"
sys.path.insert(0, str(REPO))

from tests.helpers import write_ner_workload  # noqa: E402  (the e2e tests' workload)


def write_source(folder: Path, rows: int, dedup: bool) -> Path:
    return write_ner_workload(folder, rows, shard_rows=10_000, extra_output=f"  dedup: {str(dedup).lower()}\n")


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(recipe: Path, folder: Path, executor: str) -> dict:
    cmd = [sys.executable, "-m", "humc", "build", str(recipe), "-q", "--out", str(folder / "out"),
           "--cache", str(folder / "cache"), "--executor", executor]
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    samples: list[tuple[float, int]] = []  # (seconds, RSS kB) every 0.25 s: where the peak happens
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.25):
            samples.append((round(time.perf_counter() - start, 2), _rss_kb(proc.pid)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stderr = proc.stderr.read() if proc.stderr else b""  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    sampler.join()
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"build failed ({proc.returncode}): {' '.join(cmd)}\n{stderr.decode(errors='replace')}")
    manifest = json.loads((folder / "out" / "big" / "build.json").read_text())
    return {"peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "seconds": round(seconds, 1),
            "rows_out": sum(manifest["counts"].values()),
            "rss_timeline_mb": [(t, round(kb / 1024, 1)) for t, kb in samples[:: max(1, len(samples) // 40)]]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,300000", help="comma-separated source sizes")
    ap.add_argument("--max", action="store_true", help="also build 1,000,000 records")
    ap.add_argument("--executor", choices=["local", "ray"], default="local")
    ap.add_argument("--no-dedup", action="store_true", help="output.dedup: false (isolates the dedup hash set)")
    ap.add_argument("--keep", type=Path, help="keep the generated sources, caches and outputs here")
    args = ap.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",")} | ({1_000_000} if args.max else set()))

    root = args.keep or Path(tempfile.mkdtemp(prefix="humc-mem-"))
    runs = []
    try:
        for n in sizes:
            folder = root / f"n{n}"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            recipe = write_source(folder, n, not args.no_dedup)
            run = {"records": n, "source_mb": round((folder / "big.jsonl").stat().st_size / 2**20, 1),
                   **measure(recipe, folder, args.executor)}
            cache_bytes = sum(p.stat().st_size for p in (folder / "cache").rglob("*") if p.is_file())
            run["cache_mb"] = round(cache_bytes / 2**20, 1)
            runs.append(run)
            print(f"  {n:>9,} records: peak RSS {run['peak_rss_mb']:>7.1f} MB, {run['seconds']:>6.1f} s", flush=True)
            if not args.keep:
                shutil.rmtree(folder, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    steps = []
    for a, b in zip(runs, runs[1:], strict=False):
        rn, rr = b["records"] / a["records"], b["peak_rss_mb"] / a["peak_rss_mb"]
        steps.append({"from": a["records"], "to": b["records"],
                      "mb_per_100k": round((b["peak_rss_mb"] - a["peak_rss_mb"]) / (b["records"] - a["records"]) * 1e5, 2),
                      "ratio": round(rr / rn, 3), "exponent": round(math.log(rr) / math.log(rn), 3)})

    print()
    print("| records | source MB | rows out | peak RSS MB | seconds | cache MB |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in runs:
        print(f"| {r['records']:,} | {r['source_mb']} | {r['rows_out']:,} | {r['peak_rss_mb']} | {r['seconds']} | {r['cache_mb']} |")
    print()
    print("| step | RSS MB per 100k records | RSS growth / record growth | exponent k (RSS ~ N^k) |")
    print("| --- | ---: | ---: | ---: |")
    for s in steps:
        print(f"| {s['from']:,} -> {s['to']:,} | {s['mb_per_100k']} | {s['ratio']} | {s['exponent']} |")

    results = RESULTS.with_name("memory-nodedup.json") if args.no_dedup else RESULTS
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps({
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "executor": args.executor, "dedup": not args.no_dedup, "runs": runs, "steps": steps,
        "sublinear": all(s["ratio"] < 1 for s in steps),
    }, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {results.relative_to(REPO)}")


if __name__ == "__main__":
    main()
