"""The Ray executor on a multi-node Ray cluster (two raylets on this machine, one CPU each): workers
read and write the build cache themselves, tasks run on both nodes, the output is byte-identical
to a local build's, a local build resumes what a killed Ray build left, and a chunk lost from the
cache is repaired as locally."""

from __future__ import annotations

import sys

import pytest
from helpers import REPO, tree_bytes

from humc.build.compiler import build, plan_recipe
from humc.build.plan import Plan
from humc.build.store import MAIN, NOTES, Store, chunk_key

sys.path.insert(0, str(REPO))
from helpers import write_ner_workload  # noqa: E402


@pytest.fixture(scope="module")
def two_node_cluster():
    """A head node and one more node, each its own raylet with 1 CPU, and this process connected to it."""
    pytest.importorskip("ray", reason="the Ray executor needs ray (pip install 'humc[ray]')")
    import ray
    from ray.cluster_utils import Cluster

    if ray.is_initialized():  # another module's local instance, in this test process
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, log_to_driver=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def run_on_ray(plan: Plan) -> tuple[object, object]:
    from humc.build.execute_ray import RayExecutor

    store = Store(plan.recipe.cache_dir)
    try:
        ex = RayExecutor(plan, store)
        return ex, ex.run()
    finally:
        store.close()


def test_two_node_cluster_build_is_byte_identical_and_spread_over_both_nodes(two_node_cluster, tmp_path):
    recipe = write_ner_workload(tmp_path, 4_000, shard_rows=3_000)
    build(plan_recipe(recipe, out_dir=tmp_path / "local" / "out", cache_dir=tmp_path / "local" / "cache"))
    reference = tree_bytes(tmp_path / "local" / "out" / "big")

    plan = plan_recipe(recipe, out_dir=tmp_path / "ray" / "out", cache_dir=tmp_path / "ray" / "cache")
    ex, result = run_on_ray(plan)
    assert reference and tree_bytes(tmp_path / "ray" / "out" / "big") == reference
    assert len([node for node in ex.nodes_used if node]) == 2  # both raylets ran tasks
    assert ex.worker_cpu > 0 and {s.status for s in result.stats} == {"built"}
    # the workers filled the cache: a local rebuild from it is all cache hits
    assert {s.status for s in build(plan).stats} == {"cached"}

    # a Ray build killed inside ner/render (its first 2 of 4 chunks committed, no node meta) resumes locally
    store = Store(tmp_path / "ray" / "cache")
    try:
        later = plan.nodes[[n.id for n in plan.nodes].index("ner/render"):]
        for node in later:
            store.invalidate(node.fingerprint)
        for i in range(2, 4):  # a chunk is committed by its notes, written after its records
            for stream in (MAIN, NOTES):
                store.cache.delete(chunk_key(later[0].fingerprint, stream, i))
    finally:
        store.close()
    resumed = {s.node: s for s in build(plan).stats}
    assert resumed["ner/render"].status == "resumed" and resumed["ner/render"].chunks_reused == 2
    assert resumed["ner/render"].records_out == 8_000
    assert tree_bytes(tmp_path / "ray" / "out" / "big") == reference


def test_a_chunk_lost_from_the_cache_is_recomputed_on_ray(two_node_cluster, tmp_path):
    recipe = write_ner_workload(tmp_path, 3_000)
    build(plan_recipe(recipe, out_dir=tmp_path / "local" / "out", cache_dir=tmp_path / "cache"))
    reference = tree_bytes(tmp_path / "local" / "out" / "big")
    plan = plan_recipe(recipe, out_dir=tmp_path / "ray" / "out", cache_dir=tmp_path / "cache")
    store = Store(tmp_path / "cache")
    try:  # map's chunk 1 is gone, and every node after map must run again
        store.cache.delete(chunk_key(plan.node("ner/map").fingerprint, MAIN, 1))
        for node in plan.nodes[[n.id for n in plan.nodes].index("ner/map") + 1:]:
            store.invalidate(node.fingerprint)
    finally:
        store.close()
    _, result = run_on_ray(plan)
    stats = {s.node: s for s in result.stats}
    assert stats["ner/map"].status == "resumed" and stats["ner/map"].chunks_reused == 2
    assert tree_bytes(tmp_path / "ray" / "out" / "big") == reference


def test_a_worker_reopens_a_cache_whose_index_was_replaced(tmp_path):
    from humc.build.execute_ray import worker_store
    from humc.cachedb import remove_cache_files

    first = worker_store(str(tmp_path / "cache"))
    assert worker_store(str(tmp_path / "cache")) is first  # kept open between tasks
    first.close()
    remove_cache_files(tmp_path / "cache")  # `humc cache clean` while the cluster keeps running
    Store(tmp_path / "cache").close()
    again = worker_store(str(tmp_path / "cache"))
    assert again is not first
    again.put_chunk("f" * 64, 0, [{"a": 1}])
    assert Store(tmp_path / "cache").chunk("f" * 64, 0) == [{"a": 1}]
    again.close()


def test_a_chunk_task_computes_stores_and_then_reuses_its_chunk_in_the_worker(tmp_path):
    """The task bodies run in this process here (no Ray): what a worker does with the shared cache."""
    from humc.build.execute import Executor, chunk_fn
    from humc.build.execute_ray import ChunkJob, chunk_task, node_task

    recipe = write_ner_workload(tmp_path, 1_500)
    plan = plan_recipe(recipe, out_dir=tmp_path / "out", cache_dir=tmp_path / "cache")
    build(plan)
    render, merge = plan.node("ner/render"), plan.node("corpus/merge")
    store = Store(tmp_path / "cache")
    try:
        expected = store.chunk(render.fingerprint, 1)
        for stream in (MAIN, NOTES):  # never computed: no records, no commit
            store.cache.delete(chunk_key(render.fingerprint, stream, 1))
        fn = chunk_fn(Executor(plan, store), render)
    finally:
        store.close()
    job = ChunkJob(str(tmp_path / "cache"), plan.node(render.inputs[0]).fingerprint, render.fingerprint)
    done = chunk_task(job, fn, 1)
    assert (done.i, done.records_in, done.records_out, done.reused) == (1, 500, 1_000, False) and done.cpu > 0
    again = chunk_task(job, fn, 1)
    assert again.reused and again.records_out == 1_000 and again.notes == done.notes
    lost = chunk_task(ChunkJob(job.cache, "0" * 64, "1" * 64), fn, 0)
    assert lost.lost == ("0" * 64, MAIN, 0)
    whole = node_task(plan, merge.id, {})
    assert whole.stat.records_out == 3_000 and whole.meta["chunks"] == {MAIN: 3} and whole.lost is None
    store = Store(tmp_path / "cache")
    try:
        assert store.chunk(render.fingerprint, 1) == expected
    finally:
        store.close()
