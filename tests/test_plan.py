"""Plan stage: the graph's shape and the fingerprint law (own config + inputs + assets + format version)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import humc.build.plan
from humc.build.compiler import build, load_recipe
from humc.build.plan import build_plan

RECIPE = """\
hum: 1
name: tiny
models:
  m: {base_url: "http://127.0.0.1:9/v1", model: test-model}
sources:
  qa: data.jsonl
tasks:
  - id: qa
    task: mrc_extractive
    source: qa
    fields: {context: context, question: question, answers: answers}
    where: len(context) > 0
    sample: {n: 5, seed: 1}
    preferences: [shortest_span]
    formats: [json, natural]
output:
  shard_rows: 100
"""


def plan_of(tmp: Path, text: str) -> dict[str, str]:
    (tmp / "data.jsonl").write_text(json.dumps({"context": "c", "question": "q?", "answers": ["a"]}) + "\n")
    (tmp / "r.hum.yaml").write_text(text, encoding="utf-8")
    return {n.id: n.fingerprint for n in build_plan(load_recipe(tmp / "r.hum.yaml")).nodes}


def changed(a: dict[str, str], b: dict[str, str]) -> list[str]:
    return sorted(k for k in a if a[k] != b.get(k))


def test_graph_shape(tmp_path):
    assert list(plan_of(tmp_path, RECIPE)) == [
        "source:qa/load", "qa/map", "qa/filter", "qa/sample", "qa/render", "qa/check",
        "corpus/merge", "corpus/dedup", "corpus/split", "corpus/write"]


def test_llm_steps_slot_into_the_graph(tmp_path):
    text = RECIPE.replace("    formats:", "    generate: {model: m}\n    judge: {model: m}\n    formats:")
    nodes = list(plan_of(tmp_path, text))
    assert nodes.index("qa/sample") + 1 == nodes.index("qa/generate") < nodes.index("qa/render")
    assert nodes.index("qa/check") + 1 == nodes.index("qa/judge") < nodes.index("corpus/merge")


def test_fingerprints_are_stable(tmp_path):
    assert plan_of(tmp_path, RECIPE) == plan_of(tmp_path, RECIPE)


@pytest.mark.parametrize("old, new, first_changed", [
    ("len(context) > 0", "len(context) > 1", "qa/filter"),
    ("{n: 5, seed: 1}", "{n: 5, seed: 2}", "qa/sample"),
    ("[shortest_span]", "[shortest_span, unanswerable]", "qa/render"),
    ("shard_rows: 100", "shard_rows: 50", "corpus/write"),
])
def test_a_change_invalidates_its_node_and_what_follows(tmp_path, old, new, first_changed):
    before = plan_of(tmp_path, RECIPE)
    after = plan_of(tmp_path, RECIPE.replace(old, new))
    order = list(before)
    assert changed(before, after) == sorted(order[order.index(first_changed):])


def test_source_content_invalidates_everything_downstream(tmp_path):
    before = plan_of(tmp_path, RECIPE)
    (tmp_path / "data.jsonl").write_text(json.dumps({"context": "d", "question": "q?", "answers": []}) + "\n")
    after = {n.id: n.fingerprint for n in build_plan(load_recipe(tmp_path / "r.hum.yaml")).nodes}
    assert changed(before, after) == sorted(before)


def test_format_version_is_part_of_every_fingerprint(tmp_path, monkeypatch):
    before = plan_of(tmp_path, RECIPE)
    monkeypatch.setattr(humc.build.plan, "FORMAT_VERSION", "next")
    assert changed(before, plan_of(tmp_path, RECIPE)) == sorted(before)


def test_model_settings_but_not_endpoints_enter_llm_fingerprints(tmp_path):
    text = RECIPE.replace("    formats:", "    generate: {model: m}\n    formats:")
    base = plan_of(tmp_path, text)
    moved = plan_of(tmp_path, text.replace("127.0.0.1:9", "10.0.0.5:8000"))
    hotter = plan_of(tmp_path, text.replace("model: test-model}", "model: test-model, params: {temperature: 0.9}}"))
    assert changed(base, moved) == ["corpus/write"]  # only the card, which quotes the recipe
    assert "qa/generate" in changed(base, hotter) and "qa/sample" not in changed(base, hotter)


def test_editing_a_variant_file_rebuilds_render_and_check(tmp_path):
    variants = tmp_path / "assets" / "variants"
    variants.mkdir(parents=True)
    (variants / "json.yaml").write_text("id: json\ncodec: json\ntext: {en: Answer in JSON.}\n")
    text = RECIPE.replace("name: tiny", "name: tiny\nstdlib: [assets]")
    before = plan_of(tmp_path, text)
    (variants / "json.yaml").write_text("id: json\ncodec: json\ntext: {en: Reply with JSON only.}\n")
    after = plan_of(tmp_path, text)
    assert changed(before, after) == ["corpus/dedup", "corpus/merge", "corpus/split", "corpus/write",
                                      "qa/check", "qa/render"]


def test_a_card_template_counts_by_content_not_location(tmp_path):
    text = RECIPE + "publish:\n  repo: org/tiny\n  card_template: card.j2\n"
    plans = []
    for folder in (tmp_path / "a", tmp_path / "b"):
        folder.mkdir()
        (folder / "card.j2").write_text("{{ body }}\nVersion one.\n")
        plans.append(plan_of(folder, text))
    assert plans[0] == plans[1]
    (tmp_path / "b" / "card.j2").write_text("{{ body }}\nVersion two.\n")
    assert changed(plans[0], plan_of(tmp_path / "b", text)) == ["corpus/write"]


def test_formats_all_takes_every_variant_that_fits_the_task(tmp_path):
    """`formats: all`, as `templates: all`: every stdlib variant that can write the task's answers, in name order
    (span-only formats such as label_only or inline_tags left out for MRC; a table format kept for NER)."""
    from humc.recipe.stdlib import variant_problem

    rows = [{"context": f"Ada went to Paris in {y}.", "question": "When?", "answers": [str(y)]} for y in range(1900, 1960)]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "r.hum.yaml").write_text(RECIPE.replace("formats: [json, natural]", "formats: all"), encoding="utf-8")
    entry = load_recipe(tmp_path / "r.hum.yaml").tasks[0]
    ids = [v.id for v in entry.variants]
    assert ids == sorted(ids) and {"json", "natural", "text"} <= set(ids) and "label_only" not in ids
    assert all(variant_problem(v.spec, entry.task) is None for v in entry.variants)
    result = build(build_plan(load_recipe(tmp_path / "r.hum.yaml", out_dir=tmp_path / "out",
                                          cache_dir=tmp_path / "cache")))
    assert next(s.records_out for s in result.stats if s.node == "corpus/write") == 5  # `sample: {n: 5}`
