"""The Ray executor: the same graph with chunk-wise nodes as Ray tasks must write
byte-identical output to the local executor, resume what a local build left, send the
same LLM requests (and none on a rebuild), and fail clearly when Ray is missing."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest
from helpers import REPO, copy_recipes, run_cli, tiny_recipe, tree_bytes, uncoded

from humc.build.compiler import build, load_recipe, plan_recipe
from humc.build.store import MAIN, Store

sys.path.insert(0, str(REPO))
from helpers import write_ner_workload  # noqa: E402
from test_llm_build import responder, write_recipe  # noqa: E402

from tests.llmserver import LLMServer  # noqa: E402


@pytest.fixture(scope="module")
def ray_cluster():
    """One small local Ray instance for the whole module (starting one takes seconds)."""
    ray = pytest.importorskip("ray", reason="the Ray executor needs ray (pip install 'humc[ray]')")
    ray.init(address="local", num_cpus=2, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    yield ray
    ray.shutdown()


def build_cli(recipe: Path, tmp: Path, *extra: str):
    result = run_cli("build", str(recipe), "-q", "--out", str(tmp / "out"), "--cache", str(tmp / "cache"), *extra)
    assert result.exit_code == 0, result.output
    return result


def test_hum_mix_on_ray_writes_the_same_bytes_as_local(ray_cluster, tmp_path):
    recipe = copy_recipes(tmp_path) / "hum_mix.hum.yaml"
    build_cli(recipe, tmp_path / "local")
    build_cli(recipe, tmp_path / "ray", "--executor", "ray")
    local = tree_bytes(tmp_path / "local" / "out" / "hum-mix")
    assert local and tree_bytes(tmp_path / "ray" / "out" / "hum-mix") == local
    # the Ray run filled the same cache: a local rebuild from it is all cache hits
    p = plan_recipe(recipe, out_dir=tmp_path / "ray" / "out", cache_dir=tmp_path / "ray" / "cache")
    assert {s.status for s in build(p).stats} == {"cached"}


def test_big_recipe_on_ray_writes_the_same_bytes_and_resumes_local_chunks(ray_cluster, tmp_path):
    recipe = write_ner_workload(tmp_path, 20_000)
    build_cli(recipe, tmp_path / "local")
    reference = tree_bytes(tmp_path / "local" / "out" / "big")

    # a local build killed inside ner/render: its cache holds the first 5 of the node's 20 chunks
    # (1000 input records -> 2000 rendered each) and nothing of the render node or after it. The
    # Ray build computes the other 15 render chunks, all of check and the corpus nodes (a full
    # fresh Ray build is compared with a local one in the hum_mix test; this keeps the file fast)
    cache = tmp_path / "resume" / "cache"
    shutil.copytree(tmp_path / "local" / "cache", cache)
    p = plan_recipe(recipe, out_dir=tmp_path / "resume" / "out", cache_dir=cache)
    later = [n.fingerprint for n in p.nodes[[n.id for n in p.nodes].index("ner/render"):]]
    render = later[0]
    store = Store(cache)
    try:
        assert store.meta(render)["chunks"][MAIN] == 20
        for key in list(store.cache.keys()):  # meta/<fp> and chunk/<fp>/<stream>/<i>
            kind, fp, *rest = key.split("/")
            if fp in later and not (kind == "chunk" and fp == render and int(rest[-1]) < 5):
                store.cache.delete(key)
        assert store.meta(render) is None and store.chunk(render, 4) is not None and store.chunk(render, 5) is None
    finally:
        store.close()

    result = build(p, executor="ray")
    stats = {s.node: s for s in result.stats}
    assert stats["ner/map"].status == "cached"
    assert stats["ner/render"].status == "resumed" and stats["ner/render"].chunks_reused == 5
    assert stats["ner/render"].records_out == 40_000
    assert stats["ner/check"].status == "built" and stats["ner/check"].chunks_reused == 0
    assert tree_bytes(tmp_path / "resume" / "out" / "big") == reference


def test_ray_backpressure_bounds_chunks_in_flight(ray_cluster, tmp_path, monkeypatch):
    from humc.build import execute_ray

    recipe = write_ner_workload(tmp_path, 3_000)
    p = plan_recipe(recipe, out_dir=tmp_path / "out", cache_dir=tmp_path / "cache")
    seen: list[int] = []
    real_wait = ray_cluster.wait

    def spy_wait(refs, **kwargs):
        seen.append(len(refs))
        return real_wait(refs, **kwargs)

    monkeypatch.setattr(ray_cluster, "wait", spy_wait)
    store = Store(p.recipe.cache_dir)
    try:
        ex = execute_ray.RayExecutor(p, store, max_in_flight=2)
        ex.run()
    finally:
        store.close()
    assert seen and max(seen) <= 2


def test_llm_nodes_on_ray_send_the_same_requests_and_none_on_rebuild(ray_cluster, tmp_path):
    with LLMServer(responder=responder) as srv:
        local = write_recipe(tmp_path / "local", srv.base_url)
        build_cli(local, tmp_path / "local")
        sent_local = srv.request_count
        srv.reset_stats()
        on_ray = write_recipe(tmp_path / "ray", srv.base_url)
        first = build_cli(on_ray, tmp_path / "ray", "--executor", "ray")
        sent_ray = srv.request_count
        again = run_cli("build", str(on_ray), "--out", str(tmp_path / "ray" / "out"),
                        "--cache", str(tmp_path / "ray" / "cache"), "--executor", "ray")
        assert again.exit_code == 0 and "LLM this build: 0 request(s) sent" in again.output
        assert srv.request_count == sent_ray
    assert first.exit_code == 0
    assert sent_local == sent_ray == 1 + 18  # the structured-output probe (one per cache folder), then the answers
    assert (tree_bytes(tmp_path / "local" / "out" / "llm-demo" / "data")
            == tree_bytes(tmp_path / "ray" / "out" / "llm-demo" / "data"))


def test_llm_errors_in_ray_tasks_are_clear_errors(ray_cluster, tmp_path):
    with LLMServer(responder=responder, api_key="right-key") as srv:
        result = run_cli("build", str(write_recipe(tmp_path, srv.base_url)), "--out", str(tmp_path / "out"),
                         "--cache", str(tmp_path / "cache"), "--executor", "ray")
    assert result.exit_code == 2, result.output
    assert "401" in result.output and "Traceback" not in result.output
    assert result.output.startswith(f"{tmp_path / 'llm.hum.yaml'}:5:5: error[E4301]: ")  # the model's declaration
    assert not (tmp_path / "out" / "llm-demo").exists()


def test_a_malformed_source_read_by_a_ray_worker_is_the_same_located_error(ray_cluster, tmp_path):
    (tmp_path / "data.jsonl").write_text('{"context": "a", "question": "b", "answers": []}\n{"context": oops}\n')
    recipe = tmp_path / "tiny.hum.yaml"
    recipe.write_text(tiny_recipe())
    result = run_cli("build", str(recipe), "-q", "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"),
                     "--executor", "ray")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert uncoded(result.output).startswith(f"{tmp_path / 'data.jsonl'}:2:13: error: source 'qa': invalid JSON")
    assert not (tmp_path / "out").exists()


def test_recipe_executor_key_selects_ray(ray_cluster, tmp_path, monkeypatch):
    from humc.build import execute_ray

    recipe = copy_recipes(tmp_path) / "mrc.hum.yaml"
    recipe.write_text(recipe.read_text().replace("hum: 1\n", "hum: 1\nexecutor: ray\n", 1))
    assert load_recipe(recipe).executor == "ray"
    calls: list[str] = []
    real = execute_ray.RayExecutor.ray_chunkwise

    def spy(self, node, *args):
        calls.append(node.kind)
        return real(self, node, *args)

    monkeypatch.setattr(execute_ray.RayExecutor, "ray_chunkwise", spy)
    build_cli(recipe, tmp_path)
    assert "render" in calls and "map" in calls
    calls.clear()
    build_cli(recipe, tmp_path / "again", "--executor", "local")  # the flag overrides the recipe
    assert calls == []


def test_bad_executor_value_is_located(tmp_path):
    recipe = copy_recipes(tmp_path) / "mrc.hum.yaml"
    recipe.write_text(recipe.read_text().replace("hum: 1\n", "hum: 1\nexecutor: rya\n", 1))
    result = run_cli("check", str(recipe))
    assert result.exit_code == 2 and "unknown executor 'rya'" in result.output and "did you mean 'ray'" in result.output
    assert re.match(rf"{re.escape(str(recipe))}:\d+:\d+: error\[E\d{{4}}\]: ", result.output) and "executor: rya" in result.output


def test_missing_ray_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    recipe = copy_recipes(tmp_path) / "mrc.hum.yaml"
    result = run_cli("build", str(recipe), "-q", "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"),
                     "--executor", "ray")
    assert result.exit_code == 2
    assert "install humc[ray]" in result.output and "Traceback" not in result.output
