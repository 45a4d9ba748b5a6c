"""Source readers: each public format streams rows (index, record, line); malformed input names file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import REPO, run_cli

from humc.errors import SourceError
from humc.ir import SourceDef
from humc.sources import read_source, source_digest


def read(path: Path, fmt: str, **options) -> list[tuple[int, dict]]:
    return [(row.number, row.record) for row in read_source(SourceDef("s", path, fmt, options))]


def lines(path: Path, fmt: str, **options) -> list[int | None]:
    return [row.line for row in read_source(SourceDef("s", path, fmt, options))]


def error(path: Path, fmt: str, **options) -> SourceError:
    with pytest.raises(SourceError) as exc:
        read(path, fmt, **options)
    return exc.value


# ---------------------------------------------------------------- true line numbers


def test_jsonl_rows_carry_their_line_past_blank_lines(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('\n{"a": 1}\n\n\n{"a": 2}\n', encoding="utf-8")
    assert read(path, "jsonl") == [(0, {"a": 1}), (1, {"a": 2})] and lines(path, "jsonl") == [2, 5]


def test_csv_lines_count_the_header_and_start_where_a_multi_line_value_starts(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text('text,label\n"two\nlines",1\n\nthird,2\n', encoding="utf-8")
    assert lines(path, "csv") == [2, 5]
    assert lines(path, "csv", header=False, columns=["text", "label"])[:1] == [1]


def test_conll_sentences_carry_the_line_of_their_first_token(tmp_path):
    path = tmp_path / "a.conll"
    path.write_text("-DOCSTART- O\n\nEU B-ORG\nrejects O\n\nGerman B-MISC\n", encoding="utf-8")
    assert lines(path, "conll") == [3, 6]


def test_formats_without_lines_have_no_line(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps([{"x": 1}]), encoding="utf-8")
    assert lines(path, "json") == [None]


def test_a_byte_that_is_not_utf8_is_reported_at_its_line_and_column(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"a": "ok"}\n{"a": "caf\xe9"}\n')
    exc = error(path, "jsonl")
    assert (exc.span.line, exc.span.col) == (2, 11) and "encoding" in exc.hint


def test_a_utf16_file_is_read_by_its_byte_order_mark_and_named_when_utf8_is_forced(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes('{"a": 1}\n'.encode("utf-16"))
    assert read(path, "jsonl") == [(0, {"a": 1})]  # Excel's "Unicode text" and PowerShell's `>` write UTF-16
    assert "UTF-16" in error(path, "jsonl", encoding="utf-8").hint


def test_a_json_line_nested_too_deeply_is_a_located_error(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": 1}\n{"a": ' + "[" * 100_000 + "]" * 100_000 + "}\n", encoding="utf-8")
    exc = error(path, "jsonl")
    assert exc.span.line == 2 and "nested too deeply" in exc.message


def test_an_unterminated_csv_quote_is_reported_where_it_opened(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text('text,label\nfine,1\n"open,2\nmore,3\n', encoding="utf-8")
    exc = error(path, "csv")
    assert exc.span.line == 3 and "quote opened on line 3" in exc.message


def test_jsonl_and_its_errors(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n', encoding="utf-8")
    assert read(path, "jsonl") == [(0, {"a": 1}), (1, {"a": 2})]
    path.write_text('{"a": 1}\n{"a": \n', encoding="utf-8")
    with pytest.raises(SourceError) as exc:
        read(path, "jsonl")
    assert exc.value.span.line == 2 and exc.value.span.file == str(path)


def test_json_list_under_a_key(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"version": 1, "items": [{"x": 1}, {"x": 2}]}), encoding="utf-8")
    assert [r for _, r in read(path, "json", records="items")] == [{"x": 1}, {"x": 2}]
    assert [r for _, r in read(path, "json")] == [{"x": 1}, {"x": 2}]  # the one list of an envelope: found alone
    path.write_text(json.dumps({"version": 1, "x": [{"x": 1}], "y": [{"x": 2}]}), encoding="utf-8")
    with pytest.raises(SourceError, match="records"):
        read(path, "json")


def test_csv_without_header_as_ag_news_ships_it():
    rows = read(REPO / "recipes/data/ag_news/train.4x10.csv", "csv", header=False, columns=["label", "title", "description"])
    assert len(rows) == 40 and set(rows[0][1]) == {"label", "title", "description"}
    assert {r["label"] for _, r in rows} == {"1", "2", "3", "4"}


def test_tsv_with_header(tmp_path):
    path = tmp_path / "a.tsv"
    path.write_text("text\tlabel\nhello, world\t1\n", encoding="utf-8")
    assert read(path, "tsv") == [(0, {"text": "hello, world", "label": "1"})]


def test_parquet_streams_in_batches(tmp_path):
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"x": list(range(10_000)), "y": ["v"] * 10_000}), path, row_group_size=1000)
    rows = read(path, "parquet", columns=["x"])
    assert len(rows) == 10_000 and rows[-1] == (9999, {"x": 9999})


def test_conll_columns_documents_and_errors(tmp_path):
    rows = read(REPO / "recipes/data/conll2003/eng.testa.head40", "conll", columns=["tokens", "pos", "chunk", "ner_tags"])
    first = rows[0][1]
    assert len(first["tokens"]) == len(first["ner_tags"]) and "-DOCSTART-" not in first["tokens"]
    path = tmp_path / "bad.conll"
    path.write_text("EU B-ORG\nrejects O\n\nGerman B-MISC x y\n", encoding="utf-8")
    with pytest.raises(SourceError) as exc:
        read(path, "conll", columns=["tokens", "tags"])
    assert exc.value.span.line == 4 and "columns" in exc.value.message


def test_squad_is_flattened_like_the_hub_layout():
    rows = read(REPO / "recipes/data/squad_v2/dev-v2.0.head5.json", "squad")
    assert len(rows) == 31
    impossible = [r for _, r in rows if r["is_impossible"]]
    assert impossible and all(r["answers"]["text"] == [] for r in impossible)
    answered = next(r for _, r in rows if r["answers"]["text"])
    start = answered["answers"]["answer_start"][0]
    assert answered["context"][start:start + len(answered["answers"]["text"][0])] == answered["answers"]["text"][0]


def test_digest_follows_content(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": 1}\n', encoding="utf-8")
    before = source_digest(SourceDef("s", path, "jsonl", {}))
    path.write_text('{"a": 2}\n', encoding="utf-8")
    assert source_digest(SourceDef("s", path, "jsonl", {})) != before


def test_a_local_hugging_face_dataset_folder_is_a_source(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    folder = tmp_path / "my_dataset" / "data"
    folder.mkdir(parents=True)
    rows = [{"text": f"Item {i} costs {i} dollars.", "label": ["cheap", "pricey"][i % 2]} for i in range(12)]
    pq.write_table(pa.Table.from_pylist(rows), folder / "train-00000-of-00001.parquet")
    recipe = tmp_path / "hf.hum.yaml"
    recipe.write_text("""hum: 1
name: hf-local
sources:
  items: {dataset: {name: my_dataset, split: train}}
tasks:
  - id: prices
    task: classification
    source: items
    fields: {text: text, label: label}
output:
  splits: {train: 1.0}
""", encoding="utf-8")
    result = run_cli("build", str(recipe), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"), "-q")
    assert result.exit_code == 0, result.output
    out = pq.read_table(tmp_path / "out" / "hf-local" / "data").to_pylist()
    assert len(out) == 12 and all(sorted(r["labels"]) == ["cheap", "pricey"] for r in out)


def test_a_missing_hub_dataset_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    recipe = tmp_path / "hf.hum.yaml"
    recipe.write_text("""hum: 1
name: hf-missing
sources:
  items: {dataset: no-such-org/no-such-dataset}
tasks:
  - {id: t, task: classification, source: items, fields: {text: text, label: label}}
""", encoding="utf-8")
    result = run_cli("build", str(recipe), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"), "-q")
    assert result.exit_code == 2 and f"{recipe}:4:20: error[E4001]: source 'items': Hub dataset " \
        "'no-such-org/no-such-dataset' cannot be read: HF_DATASETS_OFFLINE is set" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "out" / "hf-missing").exists()
