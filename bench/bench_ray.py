"""The Ray executor on a multi-node local Ray cluster: how much of the build's CPU the driver spends,
Ray wall time against local, and byte-identical output, as figures from one run.

    PYTHONPATH=$PWD python bench/bench_ray.py [--n 10000] [--nodes 2]

The template-only job of ``bench_build.py`` (a generated NER source of N rows, four formats, two
variants per row) is built twice from a cold cache: once with the local executor, once on a
``ray.cluster_utils.Cluster`` of ``--nodes`` nodes (each its own raylet with 1 CPU, all on this
machine, sharing one cache folder as a real cluster shares one on NFS). Before the timed Ray build a
200-row build of the same recipe warms the cluster's workers (process start, imports), so the Ray
figure is a running cluster's, not its start-up (the local build is warmed the same way). Reported:

* ``driver_cpu_share``: the driver process's CPU time (``time.process_time``, all its threads, Ray's
  included) during the Ray build ÷ (that + the CPU seconds every Ray task reports from its worker);
  the target is ≤ 0.10: workers read and write the cache, the driver moves metadata only;
* ``driver_cpu_share_proc``: the same with the workers' CPU read from the operating system (the
  CPU time of every ``ray::`` process under this one, before and after the build, idle time
  included), a cross-check; ``ray_daemons_cpu_seconds`` is what the raylets and the GCS spent
  meanwhile (cluster overhead, counted in neither);
* ``ray_over_local``: Ray build wall time ÷ local build wall time, in the same run;
* ``byte_identical``: the Ray build's output folder equals the local one byte for byte (asserted);
* ``tasks_per_node``: how many tasks each Ray node ran.

Results go to bench/results/ray.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_build import make_workspace  # noqa: E402
from report import report  # noqa: E402

from humc.build.compiler import build, plan_recipe  # noqa: E402
from humc.build.store import Store  # noqa: E402
from tests.helpers import tree_bytes  # noqa: E402


def cluster_cpu() -> dict[str, float]:
    """CPU seconds so far of this process's descendants (the cluster's raylets, GCS, workers), as
    {"workers": ..., "daemons": ...}; Ray names its worker processes ``ray::<task>``."""
    import psutil  # a dependency of Ray

    out = {"workers": 0.0, "daemons": 0.0}
    for proc in psutil.Process().children(recursive=True):
        try:
            times, cmd = proc.cpu_times(), proc.cmdline()
        except psutil.Error:
            continue
        kind = "workers" if cmd and cmd[0].startswith("ray::") else "daemons"
        out[kind] += times.user + times.system
    return out


def ray_build(recipe: Path, root: Path) -> tuple[float, float, dict[str, float], Any]:
    """(wall seconds, driver CPU seconds, cluster CPU seconds by kind, executor) of one Ray build into ``root``."""
    from humc.build.execute_ray import RayExecutor

    plan = plan_recipe(recipe, out_dir=root / "out", cache_dir=root / "cache")
    store = Store(plan.recipe.cache_dir)
    try:
        ex = RayExecutor(plan, store)
        before = cluster_cpu()
        wall, cpu = time.perf_counter(), time.process_time()
        ex.run()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        after = cluster_cpu()
        return wall, cpu, {k: after[k] - before[k] for k in after}, ex
    finally:
        store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--nodes", type=int, default=2, help="Ray nodes (raylets) of 1 CPU each")
    args = ap.parse_args()
    import ray
    from ray.cluster_utils import Cluster

    root = Path(tempfile.mkdtemp(prefix="humc-bench-ray-"))
    cluster = None
    try:
        recipe = make_workspace(root / "job", args.n)
        warm_recipe = make_workspace(root / "warm", 200)

        # the same warm-up locally: this process has imported what a build needs before either is timed
        build(plan_recipe(warm_recipe, out_dir=root / "warm-local" / "out", cache_dir=root / "warm-local" / "cache"))
        start = time.perf_counter()
        build(plan_recipe(recipe, out_dir=root / "local" / "out", cache_dir=root / "local" / "cache"))
        local = time.perf_counter() - start

        start = time.perf_counter()
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        for _ in range(args.nodes - 1):
            cluster.add_node(num_cpus=1)
        ray.init(address=cluster.address, log_to_driver=False)
        cluster_start = time.perf_counter() - start
        ray_build(warm_recipe, root / "warm")  # worker processes started, humc imported on every node

        wall, driver_cpu, proc_cpu, ex = ray_build(recipe, root / "ray")
        same = tree_bytes(root / "ray" / "out" / "bench") == tree_bytes(root / "local" / "out" / "bench")
        assert same, "the Ray build's output differs from the local build's"
        records = sum(json.loads((root / "local" / "out" / "bench" / "build.json").read_text())["counts"].values())
        results = {
            "n_rows": args.n, "instructions": records, "ray_nodes": args.nodes,
            "local_seconds": round(local, 3), "ray_seconds": round(wall, 3),
            "ray_over_local": round(wall / local, 3),
            "driver_cpu_seconds": round(driver_cpu, 3), "worker_cpu_seconds": round(ex.worker_cpu, 3),
            "driver_cpu_share": round(driver_cpu / (driver_cpu + ex.worker_cpu), 4),
            "worker_cpu_seconds_proc": round(proc_cpu["workers"], 3),
            "driver_cpu_share_proc": round(driver_cpu / (driver_cpu + proc_cpu["workers"]), 4),
            "ray_daemons_cpu_seconds": round(proc_cpu["daemons"], 3),
            "byte_identical": same,
            "tasks_per_node": sorted(ex.nodes_used.values(), reverse=True),
            "cluster_start_seconds": round(cluster_start, 2),
        }
    finally:
        if ray.is_initialized():
            ray.shutdown()
        if cluster is not None:
            cluster.shutdown()
        shutil.rmtree(root, ignore_errors=True)
    report("ray", results)


if __name__ == "__main__":
    main()
