"""Defects left out of earlier stops, each stated on the output or error a user sees."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from helpers import run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from humc.answers import formats
from humc.answers.formats import FormatSpec
from humc.answers.table import AnswerTable
from humc.build import corpus

NATURAL = FormatSpec("natural")
CLASSIFY = """hum: 1
name: t
sources:
  s: data.jsonl
tasks:
  - id: c
    task: {task}
    source: s
    fields: {{text: text, {column}: label}}
    formats: {formats}
    templates: {templates}
{extra}output:
  splits: {{train: 1.0}}
"""


def built(tmp: Path, rows: list[dict[str, Any]], task: str = "classification", formats: str = "[json]",
          extra: str = "", templates: str = "[en_1]") -> list[dict[str, Any]]:
    """The records `humc build` writes for a one-entry recipe over ``rows`` (text, label)."""
    (tmp / "data.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    column = "labels" if task.startswith("multilabel") else "label"
    (tmp / "t.hum.yaml").write_text(CLASSIFY.format(task=task, formats=formats, extra=extra, column=column,
                                                            templates=templates), encoding="utf-8")
    result = run_cli("build", "t.hum.yaml", "-q", "-j", "1", cwd=tmp)
    assert result.exit_code == 0, result.output
    return [r for shard in sorted((tmp / "out" / "t" / "data").glob("*.parquet")) for r in pq.read_table(shard).to_pylist()]


# ------------------------------------------------------------------ 1. natural: no doubled final punctuation


@pytest.mark.parametrize(("rows", "fields", "language", "said"), [
    ((("a waste of time.",),), ("answer",), "en", 'The answer is "a waste of time."'),
    ((("Paris",), ("Really?",)), ("answer",), "en", 'The answers are "Paris" and "Really?"'),
    ((("PER", "Ada!"),), ("type", "span"), "en", 'The answer: type is "PER", span is "Ada!"'),
    ((("好。",),), ("answer",), "zh", '答案是 "好。"'),
    ((("Paris",),), ("answer",), "en", 'The answer is "Paris".'),
])
def test_natural_sentence_ends_once_when_the_answer_ends_a_sentence(rows: tuple[tuple[str, ...], ...],
                                                                     fields: tuple[str, ...], language: str,
                                                                     said: str) -> None:
    table = AnswerTable(fields, rows, "many" if len(rows) > 1 else "one")
    text = formats.render(NATURAL, table, language=language)
    assert text == said
    assert formats.parse(NATURAL, text, fields, table.cardinality) == table


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(st.sampled_from('ab .!?。"\\'), min_size=1, max_size=6).filter(lambda v: v == v.strip()),
                min_size=1, max_size=3), st.sampled_from(["en", "zh"]))
def test_natural_never_writes_a_stop_after_a_quoted_stop_and_still_round_trips(values: list[str], language: str) -> None:
    table = AnswerTable(("answer",), tuple((v,) for v in values), "many")
    text = formats.render(NATURAL, table, language=language)
    assert not any(text.endswith((f'{end}".', f'{end}"。')) for end in ".!?。")
    assert formats.parse(NATURAL, text, ("answer",), "many") == table


# ------------------------------------------------------------------ 2, 3. one label per meaning


def test_collected_labels_in_two_normal_forms_are_offered_once_in_nfc(tmp_path: Path) -> None:
    nfc, nfd = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")
    records = built(tmp_path, [{"text": "t1", "label": nfc}, {"text": "t2", "label": nfd}, {"text": "t3", "label": "bar"}])
    assert len(records) == 3
    for record in records:
        assert sorted(record["labels"]) == ["bar", nfc]
        assert record["instruction"].count("caf") == 1
    assert [json.loads(r["output"])["label"] for r in sorted(records, key=lambda r: r["source_row"])] == [nfc, nfc, "bar"]


def test_labels_in_one_normal_form_each_are_kept_as_written(tmp_path: Path) -> None:
    nfd = unicodedata.normalize("NFD", "café")
    records = built(tmp_path, [{"text": "t1", "label": nfd}, {"text": "t2", "label": "bar"}])
    assert {label for r in records for label in r["labels"]} == {nfd, "bar"}


def test_numeric_labels_1_and_1_0_are_one_label_written_as_an_integer(tmp_path: Path) -> None:
    records = built(tmp_path, [{"text": "t1", "label": 1}, {"text": "t2", "label": 1.0}, {"text": "t3", "label": 2.5},
                               {"text": "t4", "label": "1"}])
    assert {label for r in records for label in r["labels"]} == {"1", "2.5"}
    assert sorted(json.loads(r["output"])["label"] for r in records) == ["1", "1", "1", "2.5"]


# ------------------------------------------------------------------ 5. dedup: an answer's rows in any order


def test_dedup_drops_a_copy_whose_multi_label_answer_lists_the_labels_in_another_order(tmp_path: Path) -> None:
    rows = [{"text": "same text", "label": ["a", "b"]}, {"text": "other", "label": ["c"]},
            {"text": "same text", "label": ["b", "a"]}, {"text": "same text", "label": ["a", "b", "c"]}]
    records = built(tmp_path, rows, task="multilabel_classification", extra="    schema: {order: alphabetical}\n")
    assert sorted(r["source_row"] for r in records) == [0, 1, 3]  # row 2 is row 0 with its labels reordered


def test_dedup_key_ignores_row_order_only() -> None:
    def record(gold: list[str], output: str = "x", fmt: str = "json") -> dict[str, Any]:
        return {"instruction": "I", "output": output, "answer_format": fmt,
                "gold": json.dumps([{"label": g} for g in gold], ensure_ascii=False)}

    assert corpus.dedup_key(record(["a", "b"], '["a", "b"]')) == corpus.dedup_key(record(["b", "a"], '["b", "a"]'))
    assert corpus.dedup_key(record(["a", "b"])) != corpus.dedup_key(record(["a", "b", "b"]))
    assert corpus.dedup_key(record(["a", "b"])) != corpus.dedup_key(record(["a", "b"], fmt="natural"))
    assert corpus.dedup_key(record(["a"], "A")) != corpus.dedup_key(record(["a"], "B"))


# ------------------------------------------------------------------ 6. empty_brackets only where [] is the answer's look

NER = """hum: 1
name: t
sources:
  s: data.jsonl
tasks:
  - id: n
    task: ner
    source: s
    fields: {{text: text, entities: entities}}
    preferences: [{rule}]
    formats: [natural, markdown_list, markdown_table, json, tuples]
    variants_per_record: 5
    templates: [en_1]
output:
  splits: {{train: 1.0}}
"""


def test_empty_brackets_is_stated_only_under_formats_that_write_brackets(tmp_path: Path) -> None:
    (tmp_path / "data.jsonl").write_text('{"text": "Nothing here.", "entities": []}\n', encoding="utf-8")
    (tmp_path / "t.hum.yaml").write_text(NER.format(rule="empty_brackets"), encoding="utf-8")
    result = run_cli("build", "t.hum.yaml", "-q", "-j", "1", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    shards = sorted((tmp_path / "out" / "t" / "data").glob("*.parquet"))
    by_format = {r["answer_format"]: r for shard in shards for r in pq.read_table(shard).to_pylist()}
    assert {f: r["output"] for f, r in by_format.items()} == {
        "natural": "There is no answer.", "markdown_list": "(none)", "markdown_table": "| type | span |\n|---|---|",
        "json": "[]", "tuples": "[]"}
    for fmt, record in by_format.items():
        brackets = fmt in ("json", "tuples")
        assert ("output []" in record["instruction"]) is brackets, fmt
        assert ("empty_brackets" in record["rules"]) is brackets, fmt
    assert 'say "There is no answer."' in by_format["natural"]["instruction"]
    assert "output (none)" in by_format["markdown_list"]["instruction"]


def test_stdlib_rules_lists_the_codecs_a_rule_is_stated_under() -> None:
    shown = run_cli("stdlib", "rules").output
    assert "Output [] when nothing matches  (codecs: json, jsonl, tuples," in shown  # not natural nor Markdown
    assert "Report each answer once\n" in shown  # every codec: nothing added
    listed = {r["id"]: r["codecs"] for r in json.loads(run_cli("--format", "json", "stdlib", "rules").output)["stdlib"]}
    assert "natural" not in listed["empty_brackets"] and listed["dedupe_rows"] == []


@pytest.mark.parametrize(("rule", "code", "said"), [
    ('{id: r, text: "Say none.", then: empty_as("none"), codecs: [natural, jsn]}', "E2006",
     "unknown answer codec 'jsn' in 'codecs' of inline preference rule"),
    ('{id: r, text: "Sort.", then: sort_by("type"), codecs: [json]}', "E0008",
     "only a rule that says how to answer nothing (empty_as) may be limited to some answer codecs"),
    ('{id: r, text: "Say none.", then: empty_as("none"), codecs: [json_pretty]}', "E2006",  # a variant, not a codec
     "hint: 'json_pretty' is a format variant, written by the answer codec 'json': name that codec"),
    ('{id: r, text: "Say none.", then: empty_as("none"), codecs: [label_only]}', "E2006",
     "written by the answer codec 'label'"),
    ('empty_brackets, {id: r, text: "Say none.", when: "len(answer) == 0", then: empty_as("none")}', "E0008",
     "the preference rules 'empty_brackets' and 'r' both say how to write an empty answer under 'json', differently"),
])
def test_a_rules_codecs_are_known_codecs_of_an_empty_as_rule(tmp_path: Path, rule: str, code: str, said: str) -> None:
    (tmp_path / "data.jsonl").write_text('{"text": "Nothing here.", "entities": []}\n', encoding="utf-8")
    (tmp_path / "t.hum.yaml").write_text(NER.format(rule=rule), encoding="utf-8")
    result = run_cli("check", "t.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 2
    assert "t.hum.yaml:10:" in result.output and f"error[{code}]" in result.output and said in result.output, result.output


# ------------------------------------------------------------------ 8. a split without gold answers

CHOICE = """hum: 1
name: t
sources:
  s: {{path: test_rand_split_no_answers.jsonl}}
tasks:
  - id: q
    task: mrc_multiple_choice
    source: s
    fields:
      context: '""'
      question: question.stem
      options: question.choices.text
      option_labels: question.choices.label
      answer: {answer}
    formats: [json]
"""
NO_ANSWERS = '{"id": "a1", "question": {"choices": [{"label": "A", "text": "one"}, {"label": "B", "text": "two"}], "stem": "Which?"}}\n'


def test_a_split_without_gold_answers_says_so_naming_the_field_and_the_file(tmp_path: Path) -> None:
    (tmp_path / "test_rand_split_no_answers.jsonl").write_text(NO_ANSWERS, encoding="utf-8")
    (tmp_path / "t.hum.yaml").write_text(CHOICE.format(answer="answerKey"), encoding="utf-8")
    for command in ("check", "build"):
        result = run_cli(command, "t.hum.yaml", cwd=tmp_path)
        assert result.exit_code == 2
        first = result.output.splitlines()[0]
        assert first.endswith("t.hum.yaml:14:15: error[E4102]: source 's' has no gold answers in "
                              "test_rand_split_no_answers.jsonl: the task's answer 'answer' is mapped from field "
                              "'answerKey', which the record lacks"), result.output
        assert "a split released without answers (a test file) cannot teach one" in result.output
    assert not (tmp_path / "out").exists()


def test_a_misspelt_answer_field_still_gets_its_did_you_mean(tmp_path: Path) -> None:
    (tmp_path / "test_rand_split_no_answers.jsonl").write_text(NO_ANSWERS.replace('"id": "a1"', '"answerKey": "A"'),
                                                               encoding="utf-8")
    (tmp_path / "t.hum.yaml").write_text(CHOICE.format(answer="answerkey"), encoding="utf-8")
    result = run_cli("check", "t.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 2
    assert "unknown field 'answerkey'" in result.output and "no gold answers" not in result.output
    assert "the record spells it 'answerKey'" in result.output


# ------------------------------------------------------------------ 7. a column file without its tag column

WIKIANN = """hum: 1
name: t
sources:
  s: {catalog: wikiann, path: test}
tasks:
  - source: s
    formats: [json]
"""


def test_a_column_file_without_its_tag_column_says_the_gold_column_is_missing(tmp_path: Path) -> None:
    (tmp_path / "test").write_text("en:Paris\tB-LOC\nen:is\tO\n\nen:Ada\n\n", encoding="utf-8")
    (tmp_path / "t.hum.yaml").write_text(WIKIANN, encoding="utf-8")
    result = run_cli("build", "t.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 2
    assert result.output.splitlines()[0].endswith(
        "test:4:1: error[E4001]: source 's': 1 column but expected 2: the line has no 'ner_tags' column "
        "(a split released without its gold tags?)"), result.output
    assert "expected: columns: tokens, ner_tags" in result.output
    assert "read a split that has its tags (train, dev)" in result.output
    assert not (tmp_path / "out").exists()


def test_a_line_short_of_several_columns_names_them(tmp_path: Path) -> None:
    (tmp_path / "test").write_text("Paris NNP\n\n", encoding="utf-8")
    recipe = """hum: 1
name: t
sources:
  s: {path: test, format: conll, options: {columns: [tokens, pos, chunk, tags]}}
tasks:
  - id: n
    task: ner
    source: s
    fields:
      text: tokens | join(" ")
      entities: bio_spans(tokens, tags)
"""
    (tmp_path / "t.hum.yaml").write_text(recipe, encoding="utf-8")
    result = run_cli("build", "t.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 2
    assert "test:1:1: error[E4001]: source 's': 2 columns but expected 4: the line has no 'chunk', 'tags' columns" \
        in result.output, result.output
    assert "read a split that has its tags" not in result.output


# ------------------------------------------------------------------ 4. a label holding the list separator


def test_a_label_holding_the_list_separator_is_quoted_where_the_labels_are_joined_with_it(tmp_path: Path) -> None:
    rows = [{"text": "t1", "label": "Sci, Tech"}, {"text": "t2", "label": "World"}, {"text": "t3", "label": "Sci/Tech"}]
    records = built(tmp_path, rows, formats="[json, label_only]", templates="all", extra="    variants_per_record: 8\n")
    by_template: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_template.setdefault(record["template"], []).append(record)
    for record in by_template["classification/en_1"]:  # one of these categories: {{ labels | join(', ') }}
        assert ": " + ", ".join(f'"{label}"' for label in record["labels"]) + "." in record["instruction"]
    for record in by_template["classification/en_2"]:  # {{ labels | join(' / ') }}: no label holds " / "
        assert " / ".join(record["labels"]) in record["instruction"]
    for record in by_template["classification/en_structured"]:  # a JSON list, unquoted
        assert json.loads(record["instruction"])["schema"] == record["labels"]
    quoted = [r for r in by_template["classification/en_1"] if r["answer_format"] == "label_only"]
    assert quoted and all(r["output"] in ("Sci, Tech", "World", "Sci/Tech") for r in quoted)
    label = FormatSpec("label")
    context = formats.FormatContext(("Sci, Tech", "World"), "label")
    assert formats.parse(label, '"Sci, Tech"', ("label",), "one", context=context).rows == (("Sci, Tech",),)


def test_labels_without_a_separator_are_joined_as_they_are(tmp_path: Path) -> None:
    records = built(tmp_path, [{"text": "t1", "label": "Sci/Tech"}, {"text": "t2", "label": "World"}])
    assert all(", ".join(r["labels"]) in r["instruction"] and '"' not in r["instruction"] for r in records)


@pytest.mark.parametrize("formats", ["[natural, markdown_list]",   # empty_brackets is not stated under these
                                     "[json]"])                     # with the other rule limited to natural
def test_two_empty_answer_rules_that_never_meet_under_one_format_are_fine(tmp_path: Path, formats: str) -> None:
    codecs = ", codecs: [natural]" if formats == "[json]" else ""
    rule = f'empty_brackets, {{id: r, text: "Say none.", then: empty_as("none"){codecs}}}'
    (tmp_path / "data.jsonl").write_text('{"text": "Nothing here.", "entities": []}\n', encoding="utf-8")
    (tmp_path / "t.hum.yaml").write_text(NER.format(rule=rule).replace(
        "[natural, markdown_list, markdown_table, json, tuples]", formats), encoding="utf-8")
    result = run_cli("check", "t.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 0, result.output


def test_a_tsv_without_a_header_line_read_with_one_says_its_first_row_became_the_column_names(tmp_path: Path) -> None:
    """CoLA's in_domain_train.tsv has no header line: read as having one, its first sentence is a column name."""
    (tmp_path / "in_domain_train.tsv").write_text(
        "gj04\t1\t\tOur friends will not buy this analysis, let alone the next one we propose.\n"
        "gj04\t0\t*\tThey drank the pub.\n", encoding="utf-8")
    (tmp_path / "c.hum.yaml").write_text("""hum: 1
name: c
sources:
  s: {path: in_domain_train.tsv, format: tsv}
tasks:
  - id: cola
    task: classification
    source: s
    fields: {text: sentence, label: label}
    labels: ["0", "1"]
output:
  splits: {train: 1.0}
""", encoding="utf-8")
    result = run_cli("build", str(tmp_path / "c.hum.yaml"))
    assert result.exit_code == 2, result.output
    assert "c.hum.yaml:9:20: error[E4102]: unknown field 'sentence'" in result.output
    assert "its first row was read as the column names; set `options: {header: false, columns: [...]}`" \
        in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()
