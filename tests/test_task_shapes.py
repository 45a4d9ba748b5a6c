"""New task shapes (sentence pairs, yes/no, multi-span and passage-choice MRC) and the formats that need the
record (grouped JSON, inline tags, labels only): each builds end to end, gets the same gold checks as its
siblings (span_not_in_text, answer_not_an_option, label_outside_set), and every written output parses back."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers import build_jsonl_recipe, check_golden, dumps, run_cli

from humc.recipe.stdlib import load_stdlib
from humc.templating import render_template

ROWS: dict[str, list[dict]] = {
    "nli": [
        {"p": "A man plays a guitar.", "h": "A person makes music.", "y": "entailment"},
        {"p": "A dog sleeps.", "h": "A cat runs.", "y": "contradiction"},
        {"p": "Kids play.", "h": "Kids are outside.", "y": "maybe"},                        # row 2: not a label
    ],
    "pairs": [
        {"a": "How old are you?", "b": "What is your age?", "y": "paraphrase"},
        {"a": "Is it raining?", "b": "Where is the station?", "y": "different"},
    ],
    "boolq": [
        {"passage": "The Nile flows north into the Mediterranean.", "q": "does the nile flow north", "a": True},
        {"passage": "Mars has two moons.", "q": "does mars have three moons", "a": False},
    ],
    "spans": [
        {"c": "Ada and Bo founded Acme in Oslo.", "q": "Who founded Acme?", "a": ["Ada", "Bo"]},
        {"c": "Nobody lives on the island.", "q": "Who lives there?", "a": []},
        {"c": "Cy wrote it.", "q": "Who wrote it?", "a": ["Dee"]},                          # row 2: not in text
    ],
    "race": [
        {"c": "Tom missed the bus, so he walked.", "q": "How did Tom get there?", "o": ["By bus", "On foot"],
         "a": "B"},
        {"c": "It rained all day.", "q": "What was the weather?", "o": ["Rainy", "Sunny"], "a": "C"},  # row 1: no C
    ],
    "ner": [
        {"text": "Ada Lovelace lived in London & Paris.", "ents": [{"type": "PER", "span": "Ada Lovelace"},
                                                                  {"type": "LOC", "span": "London"}]},
        {"text": "Bank of China opened in China.", "ents": [{"type": "ORG", "span": "Bank of China"},
                                                           {"type": "LOC", "span": "China"}]},
        {"text": "China Bank grew.", "ents": [{"type": "ORG", "span": "China Bank"},       # row 2: nested spans
                                              {"type": "LOC", "span": "China"}]},
    ],
}

RECIPE = """hum: 1
name: shapes
sources:
  nli: nli.jsonl
  pairs: pairs.jsonl
  boolq: boolq.jsonl
  spans: spans.jsonl
  race: race.jsonl
  ner: ner.jsonl
tasks:
  - id: nli
    task: nli
    source: nli
    fields: {premise: p, hypothesis: h, label: y}
    labels: [entailment, neutral, contradiction]
    formats: [label_only, json]
    variants_per_record: 16
  - id: pairs
    task: sentence_pair_classification
    source: pairs
    fields: {text_a: a, text_b: b, label: y}
    formats: [label_only, yaml]
    variants_per_record: 16
  - id: boolq
    task: mrc_yes_no
    source: boolq
    fields: {context: passage, question: q, answer: 'lookup(int(a), ["no", "yes"])'}
    labels: ["yes", "no"]
    formats: [label_only]
    variants_per_record: 16
  - id: spans
    task: mrc_multi_span
    source: spans
    fields: {context: c, question: q, answers: a}
    formats: [json, yaml]
    variants_per_record: 16
  - id: race
    task: mrc_passage_choice
    source: race
    fields: {context: c, question: q, options: o, answer: a}
    formats: [label_only, json]
    variants_per_record: 16
  - id: ner
    task: ner
    source: ner
    fields: {text: text, entities: ents}
    labels: [PER, ORG, LOC]
    schema: {shuffle: false}
    formats: [inline_tags, iepile_json]
    variants_per_record: 16
output:
  splits: {train: 1.0}
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, list[dict]]:
    work = tmp_path_factory.mktemp("shapes")
    result = build_jsonl_recipe(work, ROWS, RECIPE, "shapes")
    assert result.exit_code == 0, result.output
    return work, result.output, pq.read_table(work / "out" / "shapes" / "data").to_pylist()


def rows_of(built: tuple[Path, str, list[dict]], entry: str) -> list[dict]:
    return [r for r in built[2] if r["task_entry"] == entry]


def test_sentence_pairs_show_both_texts_and_answer_with_the_label(built):
    nli = rows_of(built, "nli")
    assert {r["source_row"] for r in nli} == {0, 1}
    assert "nli/render: label_outside_set: 1" in built[1]
    label_only = [r for r in nli if r["answer_format"] == "label_only"]
    assert label_only and all(r["output"] in ("entailment", "contradiction") for r in label_only)
    assert all("A man plays a guitar." in r["instruction"] and "A person makes music." in r["instruction"]
               for r in nli if r["source_row"] == 0)
    pairs = rows_of(built, "pairs")
    assert {r["output"] for r in pairs if r["answer_format"] == "yaml"} <= {"label: paraphrase", "label: different"}
    assert all("What is your age?" in r["instruction"] for r in pairs if r["source_row"] == 0)


def test_yes_no_questions_answer_yes_or_no(built):
    boolq = {r["source_row"]: r for r in rows_of(built, "boolq")}
    assert boolq[0]["output"] == "yes" and boolq[1]["output"] == "no"
    assert "does mars have three moons" in boolq[1]["instruction"]


def test_multi_span_answers_keep_every_span_and_check_them_against_the_passage(built):
    spans = rows_of(built, "spans")
    assert {r["source_row"] for r in spans} == {0, 1}
    json_rows = {r["source_row"]: r["output"] for r in spans if r["answer_format"] == "json"}
    assert json_rows.get(0, '["Ada", "Bo"]') == '["Ada", "Bo"]' and json_rows.get(1, "[]") == "[]"
    assert "spans/render: span_not_in_text: 1" in built[1]


def test_passage_choice_shows_the_passage_and_checks_the_option(built):
    race = rows_of(built, "race")
    assert {r["source_row"] for r in race} == {0}
    assert all("Tom missed the bus" in r["instruction"] and "B. On foot" in r["instruction"] for r in race)
    assert "race/render: answer_not_an_option: 1" in built[1]


def test_inline_tags_mark_spans_in_the_text_and_skip_overlapping_ones(built):
    ner = rows_of(built, "ner")
    tagged = {r["source_row"]: r["output"] for r in ner if r["answer_format"] == "inline_tags"}
    assert tagged[0] == "<PER>Ada Lovelace</PER> lived in <LOC>London</LOC> &amp; Paris."
    assert tagged[1] == "<ORG>Bank of China</ORG> opened in <LOC>China</LOC>."
    assert 2 not in tagged  # "China" only occurs inside "China Bank": not expressible, that format skipped
    assert "ner/render: not_expressible: 4" in built[1]  # once per template that would have used it


def test_iepile_json_groups_answers_by_every_shown_label(built):
    grouped = {r["source_row"]: r["output"] for r in rows_of(built, "ner") if r["answer_format"] == "iepile_json"}
    assert json.loads(grouped[0]) == {"PER": ["Ada Lovelace"], "ORG": [], "LOC": ["London"]}
    assert json.loads(grouped[2]) == {"PER": [], "ORG": ["China Bank"], "LOC": ["China"]}  # grouped JSON can say it


def test_structured_templates_are_one_json_string(built):
    structured = [r for r in built[2] if r["template"].endswith("/en_structured")]
    assert structured
    for r in structured:
        data = json.loads(r["instruction"])
        assert data["instruction"].startswith("You are an expert") or data["instruction"].startswith("Please follow")
    ner = next(r for r in structured if r["task_entry"] == "ner")
    assert json.loads(ner["instruction"])["schema"] == ["PER", "ORG", "LOC"]


def test_rendered_records_of_each_new_template_golden(built):
    """One record per (entry, template): pins the new tasks' prompts and every structured template they use."""
    first: dict[str, dict] = {}
    for row in sorted(built[2], key=lambda r: r["id"]):
        first.setdefault(f"{row['task_entry']} {row['template']}", row)
    check_golden("records_task_shapes.json", dumps(first))


SAMPLE = {"text": "Ada Lovelace met Charles Babbage in London.", "premise": "Ada wrote notes.",
          "hypothesis": "Ada wrote something.", "text_a": "How old are you?", "text_b": "What is your age?",
          "context": "Ada Lovelace wrote the first program.", "question": "Who wrote the first program?",
          "options": ["Ada Lovelace", "Charles Babbage"], "instruction": "Summarise the context.",
          "event_type": "Meet", "trigger": "met"}


def test_every_task_has_structured_templates_that_render_one_json_object():
    """IEPile-style basic instructions for every stdlib task, in English and Chinese, pinned by a golden file."""
    lib = load_stdlib()
    rendered = {}
    for task in sorted(lib.tasks):
        for language in ("en", "zh"):
            tpl = lib.templates[task][f"{language}_structured"]
            variables = {name: SAMPLE[name] for name in lib.tasks[task].inputs}
            variables.update(labels=["person", "location"], label_definitions={}, guidelines=[], rules=[],
                             columns=list(lib.tasks[task].columns), option_labels=["A", "B"],
                             format_instruction="FORMAT.",
                             # ee names each shown event type's roles (one without any is listed with none)
                             roles={"person": ["agent", "time"]} if task == "ee" else {})
            text = render_template(tpl.text, variables, f"{task}/{tpl.id}")
            data = json.loads(text)
            assert data["instruction"].endswith("FORMAT.") and ("schema" in data) == (lib.tasks[task].schema_column
                                                                                      is not None)
            rendered[f"{task}/{tpl.id}"] = text  # the string itself: key order is part of the prompt
    guided = render_template(lib.templates["ner"]["en_structured"].text,
                             {**variables, "text": "x", "guidelines": ["Tag full names."], "rules": ["No titles."],
                              "label_definitions": {"person": "a human"}}, "ner/en_structured")
    assert list(json.loads(guided)) == ["instruction", "guidelines", "schema definitions", "schema", "input"]
    check_golden("structured_templates.json", dumps(rendered))


@pytest.mark.parametrize(("task", "fields", "fmt", "message"), [
    ("re", "{text: text, relations: rels}", "inline_tags", "format 'inline_tags' tags spans in the text"),
    # "Answer with the label only, exactly as it is written in the list": a span answer has no list to point to
    ("mrc_extractive", "{context: text, question: text, answers: rels}", "label_only",
     "format 'label_only' answers with a label from the list shown, but task 'mrc_extractive' shows no label list"),
])
def test_a_format_that_cannot_hold_the_task_answer_is_a_located_error(tmp_path, task, fields, fmt, message):
    (tmp_path / "re.jsonl").write_text('{"text": "Ada knows Bo.", "rels": []}\n', encoding="utf-8")
    recipe = (f"hum: 1\nname: bad\nsources:\n  re: re.jsonl\ntasks:\n  - id: re\n    task: {task}\n    source: re\n"
              f"    fields: {fields}\n    formats: [json, {fmt}]\n")
    (tmp_path / "bad.hum.yaml").write_text(recipe, encoding="utf-8")
    result = run_cli("check", "bad.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 2
    assert f"bad.hum.yaml:10:21: error[E2006]: {message}" in result.output
    assert "expected: a format this task's answer columns fit, e.g. json" in result.output
    assert not (tmp_path / "out").exists()
