"""End-to-end builds of the example recipes: output layout, loading with `datasets`,
caching, selective rebuilds, kill -9 resume, golden plans and golden records."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers import REPO, check_golden, copy_recipes, dumps, run_cli, tree_bytes, write_ner_workload

from humc.build.compiler import build, node_states, plan_recipe
from humc.build.store import Store

RECIPES = ["mrc", "ner", "classification", "re", "hum_mix"]


@pytest.fixture()
def recipes(tmp_path: Path) -> Path:
    return copy_recipes(tmp_path)


def build_cli(recipe: Path, tmp: Path, *extra: str):
    result = run_cli("build", str(recipe), "--out", str(tmp / "out"), "--cache", str(tmp / "cache"), *extra)
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize("name", RECIPES)
def test_example_recipe_builds_and_loads_with_datasets(recipes, tmp_path, name):
    import datasets

    recipe = recipes / f"{name}.hum.yaml"
    build_cli(recipe, tmp_path, "-q")
    folder = next((tmp_path / "out").iterdir())
    manifest = json.loads((folder / "build.json").read_text())
    ds = datasets.load_dataset(str(folder))
    assert set(ds) == set(manifest["counts"])
    for split, n in manifest["counts"].items():
        assert ds[split].num_rows == n > 0
        assert all(Path(folder, f).name.startswith(split) for f in manifest["files"] if f.startswith(f"data/{split}-"))
    row = ds[next(iter(ds))][0]
    for column in ("instruction", "output", "gold", "task", "answer_format", "template", "source", "source_row",
                   "guidelines", "rules"):
        assert column in row
    assert row["instruction"].strip() and row["output"].strip()
    # the chat form, for trainers that read `messages`
    assert row["messages"] == [{"role": "user", "content": row["instruction"]}, {"role": "assistant", "content": row["output"]}]
    card = (folder / "README.md").read_text()
    assert card.startswith("---\n") and manifest["fingerprint"] in card


def test_rebuild_recomputes_nothing_and_keeps_bytes(recipes, tmp_path):
    recipe = recipes / "mrc.hum.yaml"
    build_cli(recipe, tmp_path, "-q")
    folder = tmp_path / "out" / "mrc"
    before = tree_bytes(folder)
    p = plan_recipe(recipe, out_dir=tmp_path / "out", cache_dir=tmp_path / "cache")
    assert set(node_states(p).values()) == {"cached"}
    result = build(p)
    assert {s.status for s in result.stats} == {"cached"}
    assert tree_bytes(folder) == before


def test_changing_one_guideline_rebuilds_only_what_uses_it(recipes, tmp_path):
    # a recipe-local stdlib folder overrides the built-in guideline of the same id
    local = recipes / "my_stdlib" / "guidelines"
    local.mkdir(parents=True)
    shutil.copy(REPO / "stdlib" / "guidelines" / "ag_news_topics.yaml", local)
    recipe = recipes / "classification.hum.yaml"
    recipe.write_text(recipe.read_text().replace("\nlanguage: en\n", "\nlanguage: en\nstdlib: [my_stdlib]\n", 1))
    build_cli(recipe, tmp_path, "-q")

    guideline = local / "ag_news_topics.yaml"
    guideline.write_text(guideline.read_text().replace("labels:", "text: Read the title first.\nlabels:", 1))
    p = plan_recipe(recipe, out_dir=tmp_path / "out", cache_dir=tmp_path / "cache")
    states = node_states(p)
    rebuilt = sorted(n for n, s in states.items() if s != "cached")
    assert rebuilt == ["ag_news/check", "ag_news/render", "corpus/dedup", "corpus/merge", "corpus/split", "corpus/write"]
    result = build(p)
    assert {s.node for s in result.stats if s.status != "cached"} == set(rebuilt)
    rows = pq.read_table(tmp_path / "out" / "classification" / "data").to_pylist()
    assert any("Read the title first." in r["instruction"] for r in rows if r["task_entry"] == "ag_news")


def test_plan_golden(recipes, monkeypatch):
    monkeypatch.chdir(recipes.parent)
    p = plan_recipe(Path("recipes/hum_mix.hum.yaml"), cache_dir=Path("cache"))
    lines = [f"{n.id:<28} {n.kind:<7} <- {', '.join(n.inputs) or '-'}" for n in p.nodes]
    check_golden("plan_hum_mix.txt", "\n".join(lines) + "\n")
    result = run_cli("plan", "recipes/hum_mix.hum.yaml", "--cache", "cache", cwd=recipes.parent)
    assert result.exit_code == 0 and "to build" in result.output and p.fingerprint[:16] in result.output


def test_rendered_records_golden(recipes, tmp_path):
    build_cli(recipes / "hum_mix.hum.yaml", tmp_path, "-q")
    rows = pq.read_table(tmp_path / "out" / "hum-mix" / "data").to_pylist()
    first_per_entry = {}
    for row in sorted(rows, key=lambda r: r["id"]):
        first_per_entry.setdefault(row["task_entry"], row)
    check_golden("records_hum_mix.json", dumps(first_per_entry))


def test_summary_reports_nodes(recipes, tmp_path):
    result = build_cli(recipes / "mrc.hum.yaml", tmp_path)
    assert "build summary" in result.output and "squad/render" in result.output
    again = build_cli(recipes / "mrc.hum.yaml", tmp_path)
    assert "node(s) from cache" in again.output


def test_kill_9_then_resume_gives_identical_output(tmp_path):
    recipe = write_ner_workload(tmp_path, 30_000)
    cmd = [sys.executable, "-m", "humc", "build", str(recipe), "-q"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # reference: a clean build in its own cache and output folder
    subprocess.run(cmd + ["--out", str(tmp_path / "ref"), "--cache", str(tmp_path / "ref-cache")], check=True, env=env)

    p = plan_recipe(recipe, out_dir=tmp_path / "out", cache_dir=tmp_path / "cache")
    render_fp = p.node("ner/render").fingerprint
    proc = subprocess.Popen(cmd + ["--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache")], env=env)
    store = Store(tmp_path / "cache")
    deadline = time.time() + 120
    try:
        while store.chunk(render_fp, 3) is None:  # wait until the render node is part-way through
            assert proc.poll() is None, "build finished before it could be killed"
            assert time.time() < deadline
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert store.meta(render_fp) is None  # the node was interrupted mid-way
    finally:
        store.close()
    assert not (tmp_path / "out" / "big").exists()  # nothing partial was written

    result = run_cli("build", str(recipe), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
    assert result.exit_code == 0, result.output
    assert "resumed" in result.output
    assert tree_bytes(tmp_path / "out" / "big") == tree_bytes(tmp_path / "ref" / "big")


def test_decontamination_drops_records_overlapping_an_eval_set(recipes, tmp_path):
    squad = json.loads((recipes / "data/squad_v2/dev-v2.0.head5.json").read_text())
    context = squad["data"][0]["paragraphs"][0]["context"]
    questions = [q["question"] for q in squad["data"][0]["paragraphs"][0]["qas"]]
    (recipes / "eval.jsonl").write_text(json.dumps({"passage": " ".join(context.split()[5:25])}) + "\n")
    recipe = recipes / "mrc.hum.yaml"
    recipe.write_text(recipe.read_text().replace(
        "  shard_rows: 5000\n", "  shard_rows: 5000\n  decontaminate: {against: [eval.jsonl], ngram: 8}\n"))
    result = build_cli(recipe, tmp_path)
    assert "contaminated removed" in result.output
    rows = pq.read_table(tmp_path / "out" / "mrc" / "data").to_pylist()
    assert rows and not any(context in r["instruction"] for r in rows)
    assert not any(q in r["instruction"] for q in questions for r in rows)
    card = (tmp_path / "out" / "mrc" / "README.md").read_text()
    assert "decontaminated against eval.jsonl (8-gram overlap)" in card
