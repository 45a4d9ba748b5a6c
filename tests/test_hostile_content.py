"""Hostile values inside well-formed source files, found by a sweep of every task family and answer format: Unicode
normal forms, empty and repeated spans, labels holding list separators or line breaks, more options than letters.
Each case once wrote wrong data silently or dropped a record with a message that did not say why; now the record is
written exactly (its output parses back to its gold) or dropped with a problem that names the cause."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from helpers import run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from humc.answers import formats
from humc.answers.formats import FormatSpec
from humc.answers.ops import AnswerState, Claimed, apply_op
from humc.answers.table import AnswerTable

RECIPE = """hum: 1
name: t
sources:
  s: d.jsonl
tasks:
  - id: e
    task: {task}
    source: s
    fields: {fields}
    formats: {formats}
output:
  splits: {{train: 1.0}}
"""
NER = ("ner", "{text: text, entities: ents}")
MC = ("mrc_multiple_choice", "{context: context, question: question, options: options, answer: answer}")


def build(folder: Path, rows: list[dict[str, Any]], task: tuple[str, str], formats: str = "[json]",
          *options: str) -> tuple[list[dict[str, Any]], str]:
    """`humc build -q` of one task entry over ``rows``: the records written and the build's report (its lines
    joined: `warning: dropped N record(s): reason (file:line), first: detail`)."""
    (folder / "d.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    (folder / "r.hum.yaml").write_text(RECIPE.format(task=task[0], fields=task[1], formats=formats), encoding="utf-8")
    result = run_cli("build", "r.hum.yaml", "-q", "-j", "1", *options, cwd=folder)
    written = [row for shard in sorted((folder / "out" / "t" / "data").glob("*.parquet"))
               for row in pq.read_table(shard).to_pylist()]
    assert result.exit_code == 0, result.output
    return written, " ".join(result.output.split())


def test_a_span_in_another_unicode_normal_form_is_dropped_saying_so(tmp_path):
    # "José" with é as e + U+0301 in the span, as one code point in the text: both print the same
    rows = [{"text": "Café Zoë met José.", "ents": [{"type": "PER", "span": "Jose\u0301"}]},
            {"text": "Ada met Bo.", "ents": [{"type": "PER", "span": "Ada"}]}]
    written, output = build(tmp_path, rows, NER)
    assert {r["source_row"] for r in written} == {1}
    assert "dropped 1 record(s): span_not_in_text (d.jsonl:1), first: span 'Jose\u0301' does not occur in 'text': it does" \
        in output
    assert "another Unicode normal form" in output and "map both with nfc(...)" in output
    (tmp_path / "r.hum.yaml").write_text(RECIPE.format(task="ner", fields="{text: nfc(text), entities: nfc(ents)}",
                                                       formats="[json]"), encoding="utf-8")
    assert run_cli("build", "r.hum.yaml", "-q", cwd=tmp_path).exit_code == 0
    written = pq.read_table(tmp_path / "out" / "t" / "data" / "train-00000-of-00001.parquet").to_pylist()
    assert sorted(json.loads(r["output"])[0]["span"] for r in written) == ["Ada", "Jos\u00e9"]


def test_a_labelled_entity_with_an_empty_span_is_dropped_not_written(tmp_path):
    # once written as [{"type": "PER", "span": ""}]: an entity of no text
    rows = [{"text": "Ada met Bo.", "ents": [{"type": "PER", "span": "Ada"}, {"type": "PER", "span": "  "}]},
            {"text": "Ada met Bo.", "ents": [{"type": "PER", "span": "Bo"}]}]
    written, output = build(tmp_path, rows, NER, "[json, markdown_table, grouped_json]")
    assert written and {r["source_row"] for r in written} == {1}
    assert "span_not_in_text" in output and "span is empty in gold item ['PER', '']" in output


def test_more_options_than_letters_are_dropped_not_cut_to_26(tmp_path):
    # once the instruction listed A. to Z. and silently left out options 27 to 30
    rows = [{"context": "c", "question": "q?", "options": [f"o{i}" for i in range(30)], "answer": "B"},
            {"context": "c", "question": "q?", "options": ["yes", "no"], "answer": "B"}]
    written, output = build(tmp_path, rows, MC, "[json, label_only]")
    assert {r["source_row"] for r in written} == {1}
    assert "options_unlabelled (d.jsonl:1), first: 30 options but 26 option labels (A to Z): give `option_labels`" \
        in output


def test_option_labels_of_another_length_than_the_options_are_dropped(tmp_path):
    rows = [{"context": "c", "question": "q?", "options": ["a", "b", "c"], "option_labels": ["1", "2"],
             "answer": "1"},
            {"context": "c", "question": "q?", "options": ["a", "b"], "option_labels": ["1", "2"], "answer": "1"}]
    fields = MC[1].replace("answer: answer}", "answer: answer, option_labels: option_labels}")
    _, output = build(tmp_path, rows, (MC[0], fields))
    assert "options_unlabelled" in output and "3 options but 2 option labels" in output
    assert "give `option_labels`" not in output


def test_one_option_is_written(tmp_path):
    rows = [{"context": "c", "question": "q?", "options": ["only"], "answer": "A"}]
    written, _ = build(tmp_path, rows, MC, "[json]")
    assert [json.loads(r["output"]) for r in written] == [{"answer": "A"}]
    assert "A. only" in written[0]["instruction"]


def test_two_thousand_entities_of_one_span_are_tagged_inline_in_linear_time():
    # once cubic in the entities (each placement looked at every earlier one, for every occurrence it skipped):
    # a record of 2,000 entities over a long text held the build for more than ten minutes
    text = "Ada met Bo in Rome. " * 3000
    table = AnswerTable(("type", "span"), tuple((f"T{i % 7}", "Rome") for i in range(2000)), "many")
    spec, context = FormatSpec("inline_tags"), formats.FormatContext(("T0",), "type", text)
    started = time.perf_counter()
    output = formats.render(spec, table, context=context)
    parsed = formats.parse(spec, output, table.fields, "many", unfence=False, context=context)
    assert time.perf_counter() - started < 10
    assert output.count("<T0>Rome</T0>") == 286 and output.count("Rome") == 3000
    assert parsed.rows == formats.canonical(spec, table, context).rows


CLASSIFY = ("classification", "{text: text, label: label}")


def test_a_byte_order_mark_or_zero_width_space_around_a_label_is_not_a_second_label(tmp_path):
    # once "\ufeffpos" was a label of its own beside "pos", both printed as pos in the instruction's list
    rows = [{"text": "a", "label": "\ufeffpos"}, {"text": "b", "label": "pos\u200b"}, {"text": "c", "label": "neg"},
            {"text": "d", "label": "\u200d👩🏽\u200d💻\u200d"}]
    written, _ = build(tmp_path, rows, CLASSIFY)
    assert sorted(json.loads(r["output"])["label"] for r in written) == ["neg", "pos", "pos", "👩🏽\u200d💻"]
    assert all(sorted(r["labels"]) == ["neg", "pos", "👩🏽\u200d💻"] for r in written)


def test_a_label_of_nothing_visible_is_no_label(tmp_path):
    rows = [{"text": "a", "label": "\u200b\ufeff"}, {"text": "b", "label": "pos"}]
    written, output = build(tmp_path, rows, CLASSIFY)
    assert [r["source_row"] for r in written] == [1] and written[0]["labels"] == ["pos"]
    assert "dropped 1 record(s): empty_answer (d.jsonl:1)" in output


def test_a_label_with_a_line_break_is_dropped_not_listed_across_lines(tmp_path):
    # once "Labels: line, break" across two lines of the instruction, the record written
    rows = [{"text": "a", "label": "line\nbreak"}, {"text": "b", "label": "p\u2028q"}, {"text": "c", "label": "pos"}]
    written, output = build(tmp_path, rows, CLASSIFY, "[json, markdown_table]")
    assert {r["source_row"] for r in written} == {2}
    assert "dropped 2 record(s): bad_gold (d.jsonl:1, d.jsonl:2), first: 'label' 'line\\nbreak' holds a line break" \
        in output


def test_an_entity_type_with_a_line_break_is_dropped(tmp_path):
    rows = [{"text": "Ada met Bo.", "ents": [{"type": "PER\r\nSON", "span": "Ada"}]},
            {"text": "Ada met Bo.", "ents": [{"type": "PER", "span": "Bo"}]}]
    written, output = build(tmp_path, rows, NER)
    assert {r["source_row"] for r in written} == {1}
    assert "'type' 'PER\\r\\nSON' holds a line break" in output


def naive_placement(text: str, rows: list[tuple[str, str]]) -> list[tuple[str, str]] | None:
    """inline_tags' placement as first written (longest spans first, each at its first occurrence overlapping no
    span placed before), in text order; None when a span has no free occurrence. Rows that already read left to right
    (each span found after the end of the one before) are placed there, in their order. A placement that puts a span
    inside a longer word is made again from whole-word occurrences alone, when they place every span."""
    placed = placed_naively(text, rows, lambda b, e: True)
    if placed is not None and any(inside_word(text, b, e) for b, e, _ in placed):
        placed = placed_naively(text, rows, lambda b, e: not inside_word(text, b, e)) or placed
    return None if placed is None else [row for _, _, row in placed]


def inside_word(text: str, start: int, end: int) -> bool:
    return any(0 < i < len(text) and text[i - 1].isalnum() and text[i].isalnum() for i in (start, end))


def placed_naively(text: str, rows: list[tuple[str, str]], ok: Callable[[int, int], bool]
                   ) -> list[tuple[int, int, tuple[str, str]]] | None:
    """``naive_placement`` over the occurrences ``ok`` accepts (start, end)."""
    def spots(span: str, at: int = 0) -> list[int]:
        return [i for i in range(at, len(text)) if span and text.startswith(span, i) and ok(i, i + len(span))]
    found, at = [], 0
    for row in rows:
        starts = spots(row[1], at)
        if not starts:
            break
        found.append((starts[0], starts[0] + len(row[1]), row))
        at = starts[0] + len(row[1])
    else:
        return found
    taken: list[tuple[int, int, tuple[str, str]]] = []
    for row in sorted(rows, key=lambda r: -len(r[1])):
        free = [b for b in spots(row[1]) if not any(b < e and s < b + len(row[1]) for s, e, _ in taken)]
        if not free:
            return None
        taken.append((free[0], free[0] + len(row[1]), row))
    return sorted(taken, key=lambda t: t[0])


@settings(max_examples=300, deadline=None)
@given(text=st.text("ab<&", min_size=1, max_size=30), data=st.data())
def test_inline_tags_place_spans_as_the_plain_search_does(text: str, data: st.DataObject):
    spans = st.tuples(st.integers(0, len(text) - 1), st.integers(1, 4)).map(lambda p: text[p[0]:p[0] + p[1]])
    rows = data.draw(st.lists(st.tuples(st.sampled_from(["X", "Y"]), spans), max_size=8))
    table = AnswerTable(("type", "span"), tuple(rows), "many")
    spec, context = FormatSpec("inline_tags"), formats.FormatContext(("X", "Y"), "type", text)
    expected = naive_placement(text, rows)
    if expected is None:
        with pytest.raises(formats.NotExpressible):
            formats.render(spec, table, context=context)
        return
    output = formats.render(spec, table, context=context)
    assert list(formats.parse(spec, output, table.fields, "many", unfence=False, context=context).rows) == expected
    assert list(formats.canonical(spec, table, context).rows) == expected


def test_a_label_in_another_unicode_normal_form_than_labels_says_so(tmp_path):
    rows = [{"text": "a", "label": "Cafe\u0301"}, {"text": "b", "label": "Tea"}]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    recipe = RECIPE.format(task=CLASSIFY[0], fields=CLASSIFY[1], formats="[json]") \
        .replace("    formats:", "    labels: [Caf\u00e9, Tea]\n    formats:")
    (tmp_path / "r.hum.yaml").write_text(recipe, encoding="utf-8")
    result = run_cli("build", "r.hum.yaml", "-q", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert "label_outside_set (d.jsonl:1), first: gold label(s) Cafe\u0301 not in `labels:`; they are there in " \
           "another Unicode normal form" in " ".join(result.output.split())


def naive_claims(text: str, values: list[str]) -> list[int]:
    """Each value's first occurrence overlapping no earlier claim (-1: none), as the claims were first written:
    every occurrence compared with every claim."""
    claimed: list[tuple[int, int]] = []
    found = []
    for value in values:
        start = text.find(value) if value else -1
        while start >= 0 and any(s < start + len(value) and start < e for s, e in claimed):
            start = text.find(value, start + 1)
        if start >= 0:
            claimed.append((start, start + len(value)))
        found.append(start)
    return found


@settings(max_examples=300, deadline=None)
@given(text=st.text("aab ", max_size=30), values=st.lists(st.text("ab ", max_size=4), max_size=12))
def test_claims_are_those_of_the_plain_search(text: str, values: list[str]):
    claimed = Claimed()
    assert [claimed.claim(text, v) for v in values] == naive_claims(text, values)


def test_two_thousand_mentions_are_ordered_by_position_in_linear_time():
    # order_entities_by_position's claims were cubic too: minutes for one record of 2,000 entities
    text = "Ada met Bo in Rome. " * 3000
    table = AnswerTable(("type", "span"), tuple((f"T{i % 7}", "Rome") for i in range(2000)), "many")
    started = time.perf_counter()
    ordered = apply_op("sort_by_position", ("span",), AnswerState(table), text)
    assert time.perf_counter() - started < 10
    assert ordered.table.rows == table.rows
