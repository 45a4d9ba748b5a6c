"""Inputs a mutation-fuzz campaign found mishandled: odd but valid files read as they are meant, damaged ones a
compiler error (never a traceback or exit 3)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from helpers import run_cli

from humc.errors import HumcError, RecipeError, SourceError
from humc.ir import SourceDef
from humc.recipe.yamlsrc import load_yaml_text
from humc.sources import read_source
from humc.templating import MAX_TEMPLATE_TAGS, render, syntax_problem

DUEE_TYPE = {"event_type": "财经/交易-跌停", "role_list": [{"role": "时间"}, {"role": "跌停股票"}], "id": "x"}


def _ee_recipe(folder: Path, constants: str) -> Path:
    row = {"text": "周一，某公司股票跌停。", "events": [{"event_type": "财经/交易-跌停", "trigger": "跌停",
                                                     "role": "跌停股票", "argument": "某公司"}]}
    (folder / "d.jsonl").write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    recipe = folder / "r.hum.yaml"
    recipe.write_text(f"hum: 1\nname: t\nlanguage: zh\nconstants:\n  sc: {constants}\nsources:\n  s: d.jsonl\n"
                      "tasks:\n  - id: e\n    task: ee\n    source: s\n    fields: {text: text, events: events}\n"
                      "    formats: [json]\n    schema: {roles: sc}\n", encoding="utf-8")
    return recipe


def test_a_duee_schema_json_file_of_one_event_type_is_its_roles(tmp_path: Path) -> None:
    """A `.json` schema file of one event type holds one object, not a list of one: it was read as an inline map
    whose 'event_type' key had no role list (E0008 at a valid file)."""
    (tmp_path / "s.json").write_text(json.dumps(DUEE_TYPE, ensure_ascii=False) + "\n", encoding="utf-8")
    result = run_cli("check", str(_ee_recipe(tmp_path, "{file: s.json}")))
    assert result.exit_code == 0, result.output
    (tmp_path / "s.json").write_text(json.dumps({**DUEE_TYPE, "role_list": "时间"}, ensure_ascii=False), encoding="utf-8")
    result = run_cli("check", str(_ee_recipe(tmp_path, "{file: s.json}")))
    assert result.exit_code == 2 and "r.hum.yaml:14:21:" in result.output and "error[E0008]" in result.output
    assert "the roles of '财经/交易-跌停' are not a list of role names" in " ".join(result.output.split())


def test_a_list_column_of_binary_names_the_record_and_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    """A cast of a list column's one-record slice checks all its items, so every bad list was blamed on record 0,
    without the bytes."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    kinds = {"list": [[b"a", None], [b"ok", b"caf\xe9"]], "nested": [[[b"a"]], [[b"ok"], [b"caf\xe9"]]]}
    for kind, values in kinds.items():
        path = tmp_path / f"{kind}.parquet"
        pq.write_table(pa.table({"text": ["x", "y"], "toks": values}), path)
        with pytest.raises(SourceError) as exc:
            list(read_source(SourceDef("s", path, "parquet", {})))
        assert exc.value.code == "E4001" and exc.value.span is not None and exc.value.span.file == str(path)
        assert "column 'toks' of record 1 is not UTF-8 text (byte b'\\xe9' at byte 4 of b'caf\\xe9')" in str(exc.value)


def test_a_negated_non_number_as_multiple_choice_options_is_an_error_at_the_field(tmp_path: Path) -> None:
    """`options: '-"A"'` made the options check's constant folding raise TypeError: exit 3 'internal error'."""
    (tmp_path / "d.jsonl").write_text(json.dumps({"context": "c", "question": "q?", "answer": "A"}) + "\n",
                                      encoding="utf-8")
    for written, what in [('-"A"', "a string ('A')"), ("-[]", "an empty list"), ("-null", "null")]:
        (tmp_path / "r.hum.yaml").write_text(
            "hum: 1\nname: t\nsources:\n  s: d.jsonl\ntasks:\n  - id: e\n    task: mrc_multiple_choice\n    source: s\n"
            f"    fields: {{context: context, question: question, answer: answer, options: '{written}'}}\n"
            "    formats: [json]\n", encoding="utf-8")
        result = run_cli("check", str(tmp_path / "r.hum.yaml"))
        assert result.exit_code == 2, result.output
        assert "r.hum.yaml:9:" in result.output and "error[E4102]" in result.output
        assert f"cannot negate {what}: '-' needs a number" in result.output


def test_a_folder_named_like_a_template_in_a_stdlib_folder_is_an_error_at_it(tmp_path: Path) -> None:
    """`my/templates/classification/en_x.j2/` (a folder) was globbed as a template and read: exit 3 IsADirectoryError."""
    folder = tmp_path / "my" / "templates" / "classification" / "en_x.j2"
    folder.mkdir(parents=True)
    (tmp_path / "d.jsonl").write_text('{"text": "good", "label": "pos"}\n', encoding="utf-8")
    (tmp_path / "r.hum.yaml").write_text(
        "hum: 1\nname: t\nstdlib: [my]\nsources:\n  s: d.jsonl\ntasks:\n  - id: e\n    task: classification\n"
        "    source: s\n    fields: {text: text, label: label}\n    formats: [json]\n", encoding="utf-8")
    result = run_cli("check", str(tmp_path / "r.hum.yaml"))
    assert result.exit_code == 2, result.output
    assert f"{folder}:1:1: error[E0009]" in result.output and "is a folder, not a template file" in result.output


def test_a_template_of_too_many_tags_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    """500 000 `{{ labels }}` lines (6.5 MB) kept `humc check` parsing for minutes: E0010 at the tag past the limit."""
    folder = tmp_path / "my" / "templates" / "classification"
    folder.mkdir(parents=True)
    (folder / "en_x.j2").write_text("{{ text }}" + "{{ labels }}\n" * 500_000, encoding="utf-8")
    (tmp_path / "d.jsonl").write_text('{"text": "good", "label": "pos"}\n', encoding="utf-8")
    (tmp_path / "r.hum.yaml").write_text(
        "hum: 1\nname: t\nstdlib: [my]\nsources:\n  s: d.jsonl\ntasks:\n  - id: e\n    task: classification\n"
        "    source: s\n    fields: {text: text, label: label}\n    formats: [json]\n    templates: [en_x]\n",
        encoding="utf-8")
    started = time.monotonic()
    result = run_cli("check", str(tmp_path / "r.hum.yaml"))
    assert result.exit_code == 2, result.output
    assert f"{folder / 'en_x.j2'}:{MAX_TEMPLATE_TAGS}:1: error[E0010]" in result.output
    assert f"template holds more than {MAX_TEMPLATE_TAGS} tags" in result.output
    assert time.monotonic() - started < 30
    assert syntax_problem("{{ x }}" * MAX_TEMPLATE_TAGS) is None


def test_a_template_number_that_overflows_is_named_so_not_a_text_too_long() -> None:
    with pytest.raises(HumcError) as exc:
        render("{{ (x * 1e308 * 10) | int }}", {"x": 1.0}, "template t")
    assert exc.value.code == "E0010" and "a number overflows: cannot convert float infinity to integer" in str(exc.value)
    assert "too long" not in exc.value.message


def test_a_dictionary_encoded_binary_column_is_text_like_a_plain_one(tmp_path: Path) -> None:
    """pandas' categorical of bytes (Parquet keeps it dictionary-encoded) stayed bytes: every record was dropped as
    `non_text_input`."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": pa.array([b"caf\xc3\xa9", None, b"a"]).dictionary_encode()}), path)
    assert [r.record for r in read_source(SourceDef("s", path, "parquet", {}))] == [
        {"text": "café"}, {"text": None}, {"text": "a"}]
    pq.write_table(pa.table({"text": pa.array([b"a", b"caf\xe9"]).dictionary_encode()}), path)
    with pytest.raises(SourceError) as exc:
        list(read_source(SourceDef("s", path, "parquet", {})))
    assert exc.value.code == "E4001" and "column 'text' of record 1 is not UTF-8 text (byte b'\\xe9'" in str(exc.value)


def test_a_shipped_file_nested_past_the_recursion_limit_is_e0010_not_a_recursion_error() -> None:
    """libyaml (the shipped stdlib's fast path) composes any depth; measuring 5000 levels raised RecursionError."""
    with pytest.raises(RecipeError) as exc:
        load_yaml_text("id: x\ntext: " + "[" * 5000 + "]" * 5000 + "\n", "f.yaml", shipped=True)
    assert exc.value.code == "E0010" and exc.value.span is not None and exc.value.span.file == "f.yaml"


def test_a_damaged_string_column_names_the_record_and_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    """A UTF8-annotated column holding other bytes (a flipped byte in an ORC or Parquet file) named its column only."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "d.parquet"
    text = pa.array([b"ok", b"fine", b"caf\xe9"], pa.binary()).view(pa.string())  # written without validating
    pq.write_table(pa.table({"text": text}), path)
    with pytest.raises(SourceError) as exc:
        list(read_source(SourceDef("s", path, "parquet", {})))
    assert exc.value.code == "E4001" and exc.value.span is not None and exc.value.span.file == str(path)
    assert "column 'text' of record 2 is not UTF-8 text (byte b'\\xe9' at byte 4 of b'caf\\xe9')" in str(exc.value)
