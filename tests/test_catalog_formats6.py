"""Files as the libraries that write them in the wild write them, read back through humc and compared with what the
writer wrote: pandas' `to_json(orient='split'|'table')` tables, `json.dump(dataset.to_dict())` columns, `jq`'s
pretty-printed stream, JSON encoded twice, TSVs that quote every value (pandas' QUOTE_ALL), character-level CoNLL
files whose tokens are Unicode blanks, and `datasets`' JSON Lines and CSV exports of ClassLabel and list columns."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from helpers import run_cli

from humc.errors import SourceError
from humc.expr.functions import bio_spans
from humc.ir import SourceDef
from humc.sources import read_source

pd = pytest.importorskip("pandas")

ROWS = [{"text": 'He said "hi", then left', "label": "pos", "score": 1.5},
        {"text": "naïve café, x/y", "label": "neg", "score": None},
        {"text": "tab\there", "label": "pos", "score": 3.0}]


def records(path: Path, fmt: str, **options: Any) -> list[dict[str, Any]]:
    return [row.record for row in read_source(SourceDef("s", path, fmt, options))]


def refusal(path: Path, fmt: str, **options: Any) -> SourceError:
    with pytest.raises(SourceError) as exc:
        records(path, fmt, **options)
    assert exc.value.code == "E4001" and exc.value.span is not None and exc.value.span.file == str(path)
    return exc.value


def build(folder: Path, source: str, fields: str = "{text: text, label: label}", task: str = "classification",
          expect: int = 0) -> tuple[str, list[dict[str, Any]]]:
    """`humc build` of a one-entry recipe reading ``source``: its output and the rows it wrote."""
    (folder / "r.hum.yaml").write_text(f"hum: 1\nname: t\nsources:\n  s: {source}\ntasks:\n  - id: e\n    task: {task}\n"
                                       f"    source: s\n    fields: {fields}\n    formats: [json]\n", encoding="utf-8")
    result = run_cli("build", "r.hum.yaml", "-q", cwd=folder)
    assert result.exit_code == expect, result.output
    assert "Traceback" not in result.output
    shards = sorted((folder / "out" / "t" / "data").glob("*.parquet")) if expect == 0 else []
    return result.output, [row for shard in shards for row in pq.read_table(shard).to_pylist()]


def test_pandas_split_and_table_orients_read_as_the_frame_s_records(tmp_path: Path) -> None:
    frame = pd.DataFrame(ROWS)
    frame.to_json(tmp_path / "split.json", orient="split")
    frame.to_json(tmp_path / "split_noindex.json", orient="split", index=False)
    frame.set_index(pd.Index([7, 8, 9], name="id")).to_json(tmp_path / "table.json", orient="table")
    want = frame.astype(object).where(frame.notna(), None).to_dict("records")
    assert records(tmp_path / "split.json", "json") == want
    assert records(tmp_path / "split_noindex.json", "json") == want
    assert records(tmp_path / "table.json", "json") == [{"id": n, **row} for n, row in zip([7, 8, 9], want, strict=True)]
    _, rows = build(tmp_path, "{path: split.json}")  # as a user builds it: every row, the writer's values
    assert sorted(json.loads(r["output"])["label"] for r in rows) == ["neg", "pos", "pos"]
    assert any('He said "hi", then left' in r["instruction"] for r in rows)


def test_a_split_table_naming_a_column_twice_is_located(tmp_path: Path) -> None:
    pd.DataFrame([["a", "b"]], columns=["text", "text"]).to_json(tmp_path / "dup.json", orient="split")
    error = refusal(tmp_path / "dup.json", "json")
    assert "`columns` name 'text' twice" in error.message and error.span.line == 1  # type: ignore[union-attr]


def test_a_dataset_dumped_by_columns_is_refused_with_explode_which_reads_it(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_list([{"text": r["text"], "label": r["label"]} for r in ROWS])
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(ds.to_dict(), indent=2), encoding="utf-8")
    error = refusal(path, "json")
    assert "every key holds a list of 3 values" in (error.hint or "") and "explode: [text, label]" in (error.hint or "")
    assert [{k: r[k] for k in ("text", "label")} for r in records(path, "json", explode=["text", "label"])] \
        == ds.to_list()


@pytest.mark.parametrize(("text", "fmt", "said"), [
    (json.dumps({"text": "good", "label": "pos"}, indent=2), "json", "the file holds one object (text, label)"),
    (json.dumps(json.dumps([{"text": "good", "label": "pos"}])), "json", "encoded twice"),
    (json.dumps(json.dumps({"text": "good", "label": "pos"})) + "\n", "jsonl", "encoded twice"),
])
def test_json_that_holds_no_records_says_what_it_holds(tmp_path: Path, text: str, fmt: str, said: str) -> None:
    path = tmp_path / f"d.{fmt}"
    path.write_text(text, encoding="utf-8")
    error = refusal(path, fmt)
    assert said in (error.hint or "") and "format: jsonl" not in (error.hint or "")


def test_jq_s_pretty_printed_stream_is_refused_with_how_to_write_json_lines(tmp_path: Path) -> None:
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed")
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps(ROWS), encoding="utf-8")
    stream = tmp_path / "stream.json"
    stream.write_bytes(subprocess.run(["jq", ".[]", str(listed)], capture_output=True, check=True).stdout)
    error = refusal(stream, "json")
    assert "invalid JSON: Extra data" in error.message and "several JSON documents" in (error.hint or "")
    lines = tmp_path / "stream.jsonl"  # what the hint says to write
    lines.write_bytes(subprocess.run(["jq", "-c", ".", str(stream)], capture_output=True, check=True).stdout)
    assert records(lines, "jsonl") == ROWS


@pytest.mark.parametrize("quoting", [csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC])
@pytest.mark.parametrize("header", [True, False])
def test_a_tsv_quoting_every_value_is_refused_unless_its_quoting_is_said(tmp_path: Path, quoting: int,
                                                                         header: bool) -> None:
    path = tmp_path / "d.tsv"
    pd.DataFrame(ROWS).to_csv(path, sep="\t", quoting=quoting, index=False, header=header)
    options: dict[str, Any] = {} if header else {"header": False, "columns": ["text", "label", "score"]}
    error = refusal(path, "tsv", **options)
    assert error.span.line == 1 and "quoting: minimal" in (error.hint or "")  # type: ignore[union-attr]
    got = records(path, "tsv", quoting="minimal", **options)
    assert [(r["text"], r["label"]) for r in got] == [(r["text"], r["label"]) for r in ROWS]
    pd.DataFrame(ROWS[:2]).to_csv(path, sep="\t", quoting=quoting, index=False, header=header)  # no tab inside
    assert '"pos"' in records(path, "tsv", quoting="none", **options)[0].values()  # said: quotes are text


def test_a_tsv_with_one_quoted_value_is_still_read_as_written(tmp_path: Path) -> None:
    path = tmp_path / "quotes.tsv"
    path.write_text('text\tlabel\n"To be or not to be"\tquote\n', encoding="utf-8")
    assert records(path, "tsv") == [{"text": '"To be or not to be"', "label": "quote"}]


def test_a_character_column_file_keeps_unicode_blanks_as_tokens(tmp_path: Path) -> None:
    path = tmp_path / "weibo.char.bmes"  # character-level Chinese NER: one character and its tag per line
    chars = ["张", "三", "\u3000", "在", "北", "京", "付", "1\u00a0000", "元"]
    tags = ["B-PER", "E-PER", "O", "O", "B-LOC", "E-LOC", "O", "S-MONEY", "O"]
    path.write_text("".join(f"{c} {t}\n" for c, t in zip(chars, tags, strict=True)), encoding="utf-8")
    [row] = records(path, "conll")
    assert row["tokens"] == chars and row["tags"] == tags
    assert [e["span"] for e in bio_spans(row["tokens"], row["tags"], sep="")] == ["张三", "北京", "1\u00a0000"]
    out, rows = build(tmp_path, "{path: weibo.char.bmes, format: conll}",
                      "{text: 'tokens | join(\"\")', entities: 'bio_spans(tokens, tags, sep=\"\")'}", "ner")
    assert len(rows) == 1 and "北京" in rows[0]["output"], out


def test_datasets_exports_of_class_labels_and_lists_say_what_they_lost(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=["O", "B-PER", "I-PER"]))})
    ds = datasets.Dataset.from_dict({"tokens": [["Ann", "runs"]], "ner_tags": [[1, 0]]}, features=features)
    ds.to_json(tmp_path / "d.jsonl")
    ds.to_csv(tmp_path / "d.csv", index=False)
    fields = "{text: 'tokens | join(\" \")', entities: 'bio_spans(tokens, ner_tags)'}"
    out, _ = build(tmp_path, "{path: d.jsonl}", fields, "ner", expect=2)
    assert "error[E4102]" in out and "they are class indices" in out and "lookup(ner_tags" in out
    assert "a JSON Lines or CSV copy" in out
    out, _ = build(tmp_path, "{path: d.csv}", fields, "ner", expect=2)
    assert "error[E4102]" in out and "a list printed as text" in out and "a CSV cannot hold lists" in out


def test_a_split_the_saved_dataset_is_not_is_refused_at_the_folder(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_dict({"text": ["good"], "label": ["pos"]}, split="train").save_to_disk(tmp_path / "train")
    error = refusal(tmp_path / "train", "arrow", split="test")
    assert "`split: test`, but the folder holds one dataset, of split 'train'" in error.message
    assert records(tmp_path / "train", "arrow", split="train") == [{"text": "good", "label": "pos"}]


def _write_xls(path: Path) -> None:
    xlwt = pytest.importorskip("xlwt")
    book = xlwt.Workbook()
    sheet = book.add_sheet("data")
    for n, row in enumerate([("text", "label"), ("good", "pos")]):
        for m, value in enumerate(row):
            sheet.write(n, m, value)
    book.save(str(path))


def _write_sqlite(path: Path) -> None:
    import sqlite3

    with sqlite3.connect(path) as db:
        db.execute("create table t (text, label)")
        db.execute("insert into t values ('good', 'pos')")
    db.close()


@pytest.mark.parametrize(("name", "write", "said"), [
    ("sheet.xls", _write_xls, "a legacy Excel workbook"),
    ("sheet.csv", _write_xls, "a legacy Excel workbook"),  # a portal's "CSV" download that is an .xls workbook
    ("frame.pkl", lambda p: pd.DataFrame(ROWS).to_pickle(p), "a Python pickle"),
    ("labels.npy", lambda p: np.save(p, np.array(["pos", "neg"])), "a NumPy array"),
    ("corpus.db", _write_sqlite, "an SQLite database"),
])
def test_a_binary_file_of_another_kind_is_named_as_what_it_is_whatever_its_name(tmp_path: Path, name: str, write: Any,
                                                                                said: str) -> None:
    write(tmp_path / name)
    out, _ = build(tmp_path, f"{{path: {name}}}", expect=2)
    assert f"r.hum.yaml:4:13: error[E4002]: source 's': {name} is {said}" in out and "hint: " in out
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("suffix", "tool"), [(".gz", "gunzip"), (".xz", "unxz"), (".bz2", "bunzip2")])
def test_a_parquet_or_arrow_file_compressed_whole_says_to_decompress_it(tmp_path: Path, suffix: str, tool: str) -> None:
    import bz2
    import gzip
    import lzma

    import pyarrow as pa

    compress = {".gz": gzip.compress, ".xz": lzma.compress, ".bz2": bz2.compress}[suffix]
    table = pa.table({"text": ["good"], "label": ["pos"]})
    pq.write_table(table, tmp_path / "t.parquet")
    with pa.ipc.new_file(str(tmp_path / "t.arrow"), table.schema) as writer:
        writer.write_table(table)
    for name, fmt, what in (("t.parquet", "parquet", "Parquet"), ("t.arrow", "arrow", "Arrow")):
        packed = tmp_path / (name + suffix)
        packed.write_bytes(compress((tmp_path / name).read_bytes()))
        error = refusal(packed, fmt)
        assert f"the file is {what} compressed with" in (error.hint or "") and f"`{tool}`" in (error.hint or "")


def test_the_squad_adapter_given_datasets_csv_export_is_refused_at_the_path(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({"id": datasets.Value("string"), "context": datasets.Value("string"),
                                  "question": datasets.Value("string"),
                                  "answers": datasets.Sequence({"text": datasets.Value("string"),
                                                                "answer_start": datasets.Value("int32")})})
    ds = datasets.Dataset.from_dict({"id": ["1"], "context": ["Paris is in France."], "question": ["Where is Paris?"],
                                     "answers": [{"text": ["France"], "answer_start": [12]}]}, features=features)
    ds.to_csv(tmp_path / "dev.csv", index=False)
    ds.to_parquet(tmp_path / "dev.parquet")
    (tmp_path / "r.hum.yaml").write_text("hum: 1\nname: t\nsources:\n  s: {catalog: squad_v2, path: dev.csv}\n"
                                         "tasks:\n  - source: s\n", encoding="utf-8")
    result = run_cli("check", "r.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "r.hum.yaml:4:32: error[E2016]: catalog 'squad_v2' reads JSON (squad), and source 's' is a csv table" \
        in result.output and "Parquet export" in result.output
    (tmp_path / "r.hum.yaml").write_text("hum: 1\nname: t\nsources:\n  s: {catalog: squad_v2, path: dev.parquet}\n"
                                         "tasks:\n  - source: s\n", encoding="utf-8")  # what the hint names
    result = run_cli("check", "r.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 0 and "1 row(s) read, 1 kept, 1 rendered; problems: none" in result.output, result.output


@pytest.mark.parametrize(("name", "text", "line"), [  # hand-edited files, as JavaScript and JSON5 allow them
    ("d.json", '[\n  {"text": "good", "label": "pos"},\n  {"text": "bad", "label": "neg"},\n]\n', 4),
    ("d.jsonl", '{"text": "good", "label": "pos"}\n{"text": "bad", "label": "neg",}\n', 2),
])
def test_a_trailing_comma_is_named_at_its_line(tmp_path: Path, name: str, text: str, line: int) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")
    error = refusal(tmp_path / name, name.split(".")[1])
    assert error.span.line == line and "a comma stands before a closing" in (error.hint or "")  # type: ignore[union-attr]


@pytest.mark.parametrize("codec", ["utf-32", "utf-32-be", "utf-16", "utf-16-be"])
def test_a_text_source_with_a_utf32_or_utf16_byte_order_mark_reads_without_an_encoding(tmp_path: Path,
                                                                                        codec: str) -> None:
    frame = pd.DataFrame(ROWS[:2])
    (tmp_path / "d.jsonl").write_bytes(("\ufeff" + frame.to_json(orient="records", lines=True,
                                                                  force_ascii=False)).encode(codec))
    (tmp_path / "d.csv").write_bytes(("\ufeff" + frame.to_csv(index=False)).encode(codec))
    assert records(tmp_path / "d.jsonl", "jsonl") == frame.astype(object).where(frame.notna(), None).to_dict("records")
    assert [r["text"] for r in records(tmp_path / "d.csv", "csv")] == [r["text"] for r in ROWS[:2]]


@pytest.mark.parametrize(("codec", "texts", "said"), [  # each country's Excel CSV, as pandas writes it in that codec
    ("shift_jis", ["この映画は素晴らしかった。", "つまらない映画でした。"], "encoding: cp932"),
    ("euc_jp", ["この映画は素晴らしかった。", "つまらない映画でした。"], "encoding: euc_jp"),
    ("euc_kr", ["이 영화 정말 좋았어요", "별로였어요"], "encoding: cp949"),
    ("gbk", ["这部电影很好看", "无聊"], "encoding: gb18030"),
    ("big5", ["這部電影很好看", "無聊"], "encoding: big5"),
    ("cp1252", ["Ärger über “quoted” café", "naïve"], "encoding: cp1252"),
])
def test_an_east_asian_or_windows_csv_names_the_codec_that_reads_it_back(tmp_path: Path, codec: str, texts: list[str],
                                                                         said: str) -> None:
    path = tmp_path / "d.csv"
    pd.DataFrame({"text": texts, "label": ["pos", "neg"]}).to_csv(path, index=False, encoding=codec)
    error = refusal(path, "csv")
    assert error.span.line == 2 and said in (error.hint or "")  # type: ignore[union-attr]
    fix = said.split(": ")[1]
    assert [r["text"] for r in records(path, "csv", encoding=fix)] == texts


@pytest.mark.parametrize("word", ["Schön", "señor", "Søren", "Århus", "Kraków", "naïve"])
def test_a_latin1_column_file_is_not_named_big5_or_korean(tmp_path: Path, word: str) -> None:
    """A Latin-1 CoNLL line ("Schön O": an accented letter before an ASCII one) decodes as a Big5 ideograph or a CP949
    Hangul syllable too: the hint said `encoding: big5` (or cp949), whose text reads back as mojibake."""
    path = tmp_path / "d.conll"
    path.write_bytes(f"Die O\n{word} B-PER\n\n".encode("latin-1"))
    error = refusal(path, "conll")
    assert error.span.line == 2 and "latin-1" in (error.hint or "")  # type: ignore[union-attr]
    assert "big5" not in (error.hint or "") and "cp949" not in (error.hint or "")
    assert [r["tokens"] for r in records(path, "conll", encoding="latin-1")] == [["Die", word]]
