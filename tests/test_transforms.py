"""Render stage, record by record: gold tables, preference rules, schema sampling, variant choice, provenance."""

from __future__ import annotations

import json

import pytest
from helpers import REPO

from humc.build.checking import check_rendered
from humc.build.compiler import load_recipe
from humc.build.rendering import RenderContext, render_checked, render_record
from humc.build.transforms import apply_rules, gold_table

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
    ctx = RenderContext(ner_entry, {}, LABELS, "ner")
    out = [r for row in range(6) for r in render_record(ctx, {**ner_record(row), "entities": []})]
    codec = {v.id: v.spec.codec for v in ner_entry.variants}
    rule = next(r for r in ner_entry.rules if r.id == "empty_brackets")
    brackets = [r for r in out if rule.applies_under(codec[r["answer_format"]])]
    assert brackets and {r["output"] for r in brackets} == {"[]"} and all("output []" in r["instruction"] for r in brackets)
    for r in out:  # empty_brackets is not stated under a Markdown or sentence answer, which answers nothing its own way
        assert r in brackets or ("output []" not in r["instruction"] and r["output"] != "[]")


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


def test_a_null_list_answer_is_no_annotation_and_drops_the_record(ner_entry, mrc_entry):
    """null is not [] ("nothing applies"): a record whose list answer is null is dropped with its reason, which says
    how to read null as none when the data means that."""
    for entry, field in ((ner_entry, "entities"), (mrc_entry, "answers")):
        record = {"_source": "s", "_row": 0, "text": "Paris.", "context": "Paris.", "question": "Where?", field: None}
        [(reason, detail)] = problems_of(entry, record)
        assert reason == "bad_gold" and f"'{field}' is null: no annotation, not an empty answer" in detail
        assert f"`{field}: <its expression> or []` reads null as none" in detail
    assert gold_table(ner_entry, {**ner_record(), "entities": []}).rows == ()


@pytest.mark.parametrize(("entity", "said"), [
    ({"type": None, "span": "Paris"}, "has no 'type'"),
    ({"type": "", "span": "Paris"}, "has no 'type'"),
    ({"type": ["LOC"], "span": "Paris"}, "'type' is a list, not text"),
    ({"type": "LOC", "span": {"text": "Paris"}}, "'span' is an object, not text"),
    ({"type": "LOC", "span": True}, "'span' is a boolean, not text"),
])
def test_a_gold_item_with_no_label_or_a_cell_that_is_not_text_is_bad_gold(ner_entry, entity, said):
    """str() would put "['LOC']" or "True" into the answer, and a missing label would be shown as the label ""."""
    [(reason, detail)] = problems_of(ner_entry, {**ner_record(), "entities": [entity]})
    assert reason == "bad_gold" and said in detail


def test_how_to_answer_nothing_is_said_once_by_the_stated_rule_or_else_by_the_format(mrc_entry):
    """The `unanswerable` rule's own sentence says what to answer; the format's sentence repeats it only for a
    template that does not show the rules."""
    from dataclasses import replace

    from humc.ir import Template

    record = {"_source": "squad", "_row": 1, "context": "The Normans came.", "question": "Who left?", "answers": []}
    json_only = replace(mrc_entry, variants=tuple(v for v in mrc_entry.variants if v.id == "json"), variants_per_record=1)
    [shown] = list(render_record(RenderContext(json_only, {}, None, "mrc"), record))
    assert shown["output"] == "unanswerable" and 'reply exactly "unanswerable"' in shown["instruction"]
    assert "If there is no answer, output unanswerable." not in shown["instruction"]
    bare = Template("en_bare", "mrc_extractive", "en", "{{ context }}\n{{ question }}\n{{ format_instruction }}", "x.j2",
                    "d")
    [terse] = list(render_record(RenderContext(replace(json_only, templates=(bare,)), {}, None, "mrc"), record))
    assert terse["instruction"].endswith("If there is no answer, output unanswerable.")


def test_a_fenced_gold_answer_survives_the_check():
    entry = load_recipe(REPO / "recipes" / "hum_mix.hum.yaml").tasks[-1]  # dolly: generalist, formats [text, json]
    record = {"_source": "dolly", "_row": 0, "instruction": "Print one.", "context": "",
              "response": "```python\nprint(1)\n```"}
    out = list(render_record(RenderContext(entry, {}, None, "hum-mix"), record))
    assert out and all(check_rendered(entry, r) is None for r in out)


# ---------------------------------------------------------------- problems found in the data


def problems_of(entry, record, labels=LABELS) -> list[tuple[str, str]]:
    return [(p.reason, p.detail) for p in render_checked(RenderContext(entry, {}, labels, "t"), record).problems]


def test_a_span_matches_its_text_across_case_and_whitespace(ner_entry):
    record = {**ner_record(), "text": "PARIS  hilton met EU officials in\nParis ."}
    assert problems_of(ner_entry, record) == []


def test_a_span_that_is_not_in_the_text_is_a_problem(ner_entry):
    record = {**ner_record(), "entities": [{"type": "PER", "span": "Charles"}]}
    assert problems_of(ner_entry, record) == [("span_not_in_text", "span 'Charles' does not occur in 'text'")]


def test_an_extractive_answer_must_occur_in_the_context_and_be_a_list(mrc_entry):
    record = {"_source": "squad", "_row": 0, "context": "Paris is in France.", "question": "Where?"}
    assert problems_of(mrc_entry, {**record, "answers": ["Germany"]}, None)[0][0] == "span_not_in_text"
    assert problems_of(mrc_entry, {**record, "answers": ["france"]}, None) == []
    assert problems_of(mrc_entry, {**record, "answers": "France"}, None) == [
        ("bad_gold", "'answers' is string 'France', not a list")]


def test_a_nan_input_is_its_own_problem(mrc_entry):
    record = {"_source": "squad", "_row": 0, "context": float("nan"), "question": "Where?", "answers": []}
    assert problems_of(mrc_entry, record, None) == [("nan_value", "field 'context' holds NaN")]


def test_any_gold_label_outside_the_label_set_drops_the_record(ner_entry):
    assert problems_of(ner_entry, ner_record(), ("PER", "ORG")) == [
        ("label_outside_set", "gold label(s) LOC not in `labels:`")]


def test_a_multiple_choice_answer_must_be_an_option_label():
    entry = load_recipe(REPO / "recipes" / "hum_mix.hum.yaml").tasks
    arc = next(e for e in entry if e.task.id == "mrc_multiple_choice")
    record = {"_source": "arc", "_row": 0, "context": "", "question": "Which is a mammal?", "options": ["cat", "trout"]}
    assert problems_of(arc, {**record, "answer": "A"}, None) == []
    assert problems_of(arc, {**record, "answer": "E"}, None) == [
        ("answer_not_an_option", "answer 'E' is not one of the option labels A, B")]
    assert problems_of(arc, {**record, "option_labels": ["1", "2"], "answer": "2"}, None) == []


def test_an_answer_of_digits_int_cannot_read_is_dropped_with_no_position_hint():
    """'²' and '١' are digits to str.isdigit, and int() refuses 5000 digits: the hint for an answer given as a
    position must not crash on them."""
    entry = load_recipe(REPO / "recipes" / "hum_mix.hum.yaml").tasks
    arc = next(e for e in entry if e.task.id == "mrc_multiple_choice")
    record = {"_source": "arc", "_row": 0, "context": "", "question": "Which?", "options": ["cat", "trout"]}
    for answer in ("²", "١", "1" * 5000):
        assert problems_of(arc, {**record, "answer": answer}, None) == [
            ("answer_not_an_option", f"answer {answer!r} is not one of the option labels A, B")]
