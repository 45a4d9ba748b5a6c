"""Render stage, record by record: gold tables, preference rules, schema sampling, variant choice, provenance."""

from __future__ import annotations

import json

import pytest
from helpers import REPO

from humc.build.compiler import load_recipe
from humc.build.transforms import RenderContext, apply_rules, check_rendered, gold_table, render_record

LABELS = ("PER", "ORG", "LOC", "MISC")


@pytest.fixture(scope="module")
def ner_entry():
    return load_recipe(REPO / "recipes" / "ner.hum.yaml").tasks[0]


@pytest.fixture(scope="module")
def mrc_entry():
    return load_recipe(REPO / "recipes" / "mrc.hum.yaml").tasks[0]


def ner_record(row: int = 0) -> dict:
    return {"_source": "conll", "_row": row, "text": "Paris Hilton met EU officials in Paris and Paris again .",
            "entities": [{"type": "LOC", "span": "Paris"}, {"type": "PER", "span": "Paris Hilton"},
                         {"type": "ORG", "span": "EU"}, {"type": "LOC", "span": "Paris"}]}


def test_rules_order_by_position_and_dedupe(ner_entry):
    state = apply_rules(ner_entry, {}, ner_record(), gold_table(ner_entry, ner_record()))
    assert state.table.rows == (("PER", "Paris Hilton"), ("ORG", "EU"), ("LOC", "Paris"))  # LOC is the later Paris


def test_empty_answers_use_the_declared_convention(ner_entry):
    record = {**ner_record(), "entities": []}
    out = list(render_record(RenderContext(ner_entry, {}, LABELS, "ner"), record))
    assert {r["output"] for r in out} == {"[]"} and all("output []" in r["instruction"] for r in out)


def test_schema_sampling_shows_gold_types_plus_two_negatives(ner_entry):
    for row in range(30):
        for r in render_record(RenderContext(ner_entry, {}, LABELS, "ner"), ner_record(row)):
            assert {"PER", "LOC", "ORG"} <= set(r["labels"]) and len(r["labels"]) == 4


def test_variants_are_distinct_deterministic_and_checked(ner_entry):
    ctx = RenderContext(ner_entry, {}, LABELS, "ner")
    first = list(render_record(ctx, ner_record(3)))
    assert first == list(render_record(ctx, ner_record(3)))
    pairs = {(r["template"], r["answer_format"]) for r in first}
    assert len(pairs) == ner_entry.variants_per_record == 2
    for r in first:
        assert check_rendered(ner_entry, r) is None
        assert r["guidelines"] == ["conll2003_types", "span_boundaries"] and r["source_row"] == 3
        assert json.loads(r["gold"])[0] == {"type": "PER", "span": "Paris Hilton"}


def test_a_tampered_output_fails_the_check(ner_entry):
    r = next(render_record(RenderContext(ner_entry, {}, LABELS, "ner"), ner_record()))
    problem = check_rendered(ner_entry, {**r, "output": r["output"].replace("Paris Hilton", "Hilton")})
    assert problem is not None and problem.reason == "output_differs" and "Hilton" in problem.detail


def test_mrc_rules_pick_the_shortest_span_or_unanswerable(mrc_entry):
    ctx = RenderContext(mrc_entry, {}, None, "mrc")
    record = {"_source": "squad", "_row": 1, "context": "The Normans came.", "question": "Who came?",
              "answers": ["The Normans", "Normans"]}
    assert {json.loads(r["gold"])[0]["answer"] for r in render_record(ctx, record)} == {"Normans"}
    none = list(render_record(ctx, {**record, "answers": []}))
    assert {r["output"] for r in none} == {"unanswerable"} and all(json.loads(r["gold"]) == [] for r in none)


def test_gold_values_are_stripped_and_empty_rows_dropped(ner_entry):
    record = {**ner_record(), "entities": [{"type": "PER", "span": " Paris Hilton "}, {"type": "", "span": ""}]}
    assert gold_table(ner_entry, record).rows == (("PER", "Paris Hilton"),)


def test_a_fenced_gold_answer_survives_the_check():
    entry = load_recipe(REPO / "recipes" / "hum_mix.hum.yaml").tasks[-1]  # dolly: generalist, formats [text, json]
    record = {"_source": "dolly", "_row": 0, "instruction": "Print one.", "context": "",
              "response": "```python\nprint(1)\n```"}
    out = list(render_record(RenderContext(entry, {}, None, "hum-mix"), record))
    assert out and all(check_rendered(entry, r) is None for r in out)
