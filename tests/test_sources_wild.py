"""Source files as they come in the wild, read by the real CLI: a JSON list under a `.jsonl` name, Feather files,
Parquet/Arrow files without an extension, records keyed by id, and the hints for JSON layouts humc reads
another way (SQuAD nesting, a list with a non-object item)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from helpers import run_cli

from humc.errors import SourceError
from humc.ir import SourceDef
from humc.sources import infer_format, read_source

RECORDS = [{"text": "good film", "label": "pos"}, {"text": "dull plot", "label": "neg"}]


def recipe(folder: Path, source: str, text: str = "text") -> Path:
    path = folder / "recipe.hum.yaml"
    path.write_text(f"""hum: 1
name: wild
sources:
  s: {source}
tasks:
  - id: cls
    task: classification
    source: s
    fields: {{text: "{text}", label: label}}
    labels: [pos, neg]
    formats: [json]
""", encoding="utf-8")
    return path


def built_texts(folder: Path, source: str, text: str = "text") -> list[str]:
    """Build the recipe reading ``source`` (the text field mapped from ``text``); the instructions written, in order."""
    result = run_cli("build", str(recipe(folder, source, text)), "--out", str(folder / "out"), "--cache",
                     str(folder / "cache"), "-q")
    assert result.exit_code == 0, result.output
    shards = sorted((folder / "out" / "wild" / "data").glob("*.parquet"))
    return [row["instruction"] for shard in shards for row in pq.read_table(shard).to_pylist()]


@pytest.mark.parametrize("text", [
    json.dumps(RECORDS, indent=2),  # pretty-printed export
    json.dumps(RECORDS),            # one line
])
def test_a_json_list_saved_under_a_jsonl_name_is_read_as_its_records(tmp_path, text):
    (tmp_path / "data.jsonl").write_text(text + "\n", encoding="utf-8")
    assert infer_format(tmp_path / "data.jsonl") == "json"
    texts = built_texts(tmp_path, "data.jsonl")
    assert len(texts) == 2 and any("good film" in t for t in texts) and any("dull plot" in t for t in texts)


def test_json_lines_whose_lines_are_lists_stay_json_lines(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("[1, 2]\n[3, 4]\n", encoding="utf-8")
    assert infer_format(path) == "jsonl"
    path.write_text('{"text": "a"}\n', encoding="utf-8")  # one object on one line: still JSON Lines
    assert infer_format(path) == "jsonl"


def test_feather_and_extensionless_arrow_or_parquet_files_are_read(tmp_path):
    table = pa.table({"text": pa.array(["good film", "dull plot"], pa.large_string()),
                      "label": pa.array(["pos", "neg"]).dictionary_encode()})
    feather.write_feather(table, tmp_path / "data.feather")
    feather.write_feather(table, tmp_path / "arrowfile")
    pq.write_table(table, tmp_path / "parquetfile")
    assert [infer_format(tmp_path / n) for n in ("data.feather", "arrowfile", "parquetfile")] == \
        ["arrow", "arrow", "parquet"]
    texts = built_texts(tmp_path, "data.feather")
    assert len(texts) == 2 and "good film" in texts[0]


def test_feather_v1_files_from_old_pandas_are_read_and_a_cut_one_is_located(tmp_path):
    import warnings

    table = pa.table({"text": ["good film", "dull plot"], "label": ["pos", "neg"]})
    with warnings.catch_warnings():  # pyarrow deprecates writing V1; old files remain
        warnings.simplefilter("ignore", DeprecationWarning)
        feather.write_feather(table, tmp_path / "old.feather", version=1)
        feather.write_feather(table, tmp_path / "oldfile", version=1)
    assert (tmp_path / "old.feather").read_bytes()[:4] == b"FEA1" and infer_format(tmp_path / "oldfile") == "arrow"
    texts = built_texts(tmp_path, "oldfile")
    assert len(texts) == 2 and "good film" in texts[0] and "dull plot" in texts[1]
    cut = tmp_path / "cut.feather"
    cut.write_bytes((tmp_path / "old.feather").read_bytes()[:40])
    with pytest.raises(SourceError) as exc:
        list(read_source(SourceDef("s", cut, "arrow", {})))
    assert exc.value.code == "E4001" and exc.value.span is not None and exc.value.span.file == str(cut)


def test_a_column_file_whose_first_token_is_a_magic_number_is_text_not_a_feather_file(tmp_path):
    (tmp_path / "genes").write_text("FEA1 B-GENE\nbinds O\n\nPAR2 B-GENE\n", encoding="utf-8")
    assert infer_format(tmp_path / "genes") == "conll"
    assert [r.record["tokens"] for r in read_source(SourceDef("s", tmp_path / "genes", "conll", {}))] == [
        ["FEA1", "binds"], ["PAR2"]]


def test_records_keyed_by_id_read_with_key_column(tmp_path):
    (tmp_path / "data.json").write_text(json.dumps({"r1": RECORDS[0], "r2": RECORDS[1]}), encoding="utf-8")
    with pytest.raises(SourceError) as exc:
        list(read_source(SourceDef("s", tmp_path / "data.json", "json", {})))
    assert "key_column" in (exc.value.hint or "")
    rows = [r.record for r in read_source(SourceDef("s", tmp_path / "data.json", "json", {"key_column": "id"}))]
    assert rows == [{**RECORDS[0], "id": "r1"}, {**RECORDS[1], "id": "r2"}]


def test_squad_nesting_read_as_plain_json_hints_at_format_squad(tmp_path):
    squad = {"version": "v2.0", "data": [{"title": "t", "paragraphs": [
        {"context": "Paris is in France.", "qas": [{"id": "1", "question": "Where?", "answers": []}]}]}]}
    (tmp_path / "dev.json").write_text(json.dumps(squad), encoding="utf-8")
    with pytest.raises(SourceError) as exc:
        list(read_source(SourceDef("s", tmp_path / "dev.json", "json", {})))
    assert "format: squad" in (exc.value.hint or "")


@pytest.mark.parametrize(("value", "name"), [("3", "a number"), ("null", "null"), ('"x"', "a string")])
def test_a_non_object_in_a_json_list_is_named_by_its_position(tmp_path, value, name):
    (tmp_path / "data.json").write_text(f'[{json.dumps(RECORDS[0])}, {value}]', encoding="utf-8")
    with pytest.raises(SourceError) as exc:
        list(read_source(SourceDef("s", tmp_path / "data.json", "json", {})))
    assert f"item 1 of the JSON list is {name}, not an object" in exc.value.message


def test_a_column_name_with_a_space_written_bare_hints_at_record_indexing(tmp_path):
    (tmp_path / "data.csv").write_text("Review Text,label\ngood film,pos\n", encoding="utf-8")
    result = run_cli("check", str(recipe(tmp_path, "data.csv", "Review Text")))
    assert result.exit_code == 2 and "record['Review Text']" in result.output
    assert built_texts(tmp_path, "data.csv", "record['Review Text']")[0].endswith("good film")


@pytest.mark.parametrize(("name", "kind"), [("train.csv.zip", "zip"), ("train.tar.gz", "tar"), ("book.xlsx", "spreadsheet")])
def test_an_archive_is_named_as_one_with_what_it_holds_not_read_as_text(tmp_path, name, kind):
    import tarfile
    import zipfile

    (tmp_path / "train.csv").write_text("text,label\ngood film,pos\n", encoding="utf-8")
    if kind == "tar":
        with tarfile.open(tmp_path / name, "w:gz") as t:
            t.add(tmp_path / "train.csv", arcname="train.csv")
    else:
        with zipfile.ZipFile(tmp_path / name, "w") as z:
            z.write(tmp_path / "train.csv", "xl/workbook.xml" if kind == "spreadsheet" else "train.csv")
    result = run_cli("check", str(recipe(tmp_path, f"{{path: {name}, format: csv}}")))
    assert result.exit_code == 2 and "error[E4002]" in result.output, result.output
    if kind == "spreadsheet":
        assert "spreadsheet workbook" in result.output and "save the sheet as CSV" in result.output
    else:
        assert f"{name} is a {kind} archive holding train.csv" in result.output and "extract it" in result.output


def test_a_tar_cut_short_still_names_its_first_files(tmp_path):
    import tarfile

    for name in ("train.csv", "dev.csv", "test.csv"):
        (tmp_path / name).write_text("text,label\ngood film,pos\n", encoding="utf-8")
    (tmp_path / "images.bin").write_bytes(os.urandom(1 << 20))  # does not compress: the cut falls inside it
    with tarfile.open(tmp_path / "dump.tar.gz", "w:gz") as t:
        for name in ("train.csv", "dev.csv", "test.csv", "images.bin"):
            t.add(tmp_path / name, arcname=name)
    data = (tmp_path / "dump.tar.gz").read_bytes()
    (tmp_path / "dump.tar.gz").write_bytes(data[: len(data) // 2])  # a download that stopped half-way
    result = run_cli("check", str(recipe(tmp_path, "{path: dump.tar.gz, format: csv}")))
    assert result.exit_code == 2 and "error[E4002]" in result.output, result.output
    assert "dump.tar.gz is a tar archive holding train.csv, dev.csv, test.csv, …" in result.output


def test_save_to_disk_class_labels_read_as_their_names(tmp_path):
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["pos", "neg"])})
    ds = datasets.Dataset.from_dict({"text": ["good film", "dull plot"], "label": [0, 1]}, features=features)
    datasets.DatasetDict({"train": ds, "test": ds}).save_to_disk(str(tmp_path / "ds"))
    plain = [r.record["label"] for r in read_source(SourceDef("s", tmp_path / "ds", "arrow", {}))]
    assert plain == [0, 1]  # without the option the integers are kept as written
    named = [r.record["label"] for r in read_source(SourceDef("s", tmp_path / "ds", "arrow",
                                                              {"split": "test", "class_labels": True}))]
    assert named == ["pos", "neg"]
    arrow = next((tmp_path / "ds" / "train").glob("*.arrow"))
    assert [r.record["label"] for r in read_source(SourceDef("s", arrow, "arrow", {"class_labels": True}))] == \
        ["pos", "neg"]
    texts = built_texts(tmp_path, "{path: ds, options: {class_labels: true}}")
    assert len(texts) == 2 and "good film" in texts[0]


def test_an_error_deep_in_a_large_source_quotes_its_line_without_reading_the_whole_file(tmp_path):
    from humc.errors import Span

    def quoted(path: Path, line: int) -> str:
        return next((ln for ln in SourceError("x", Span(str(path), line, 1)).render().splitlines() if " | " in ln), "")

    path = tmp_path / "big.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        f.write('{"text": "a\u2028b"}\r\n' + '{"text": "x"}\n' * 1000 + "{broken\n")
    assert quoted(path, 1002).endswith("| {broken")
    assert quoted(path, 2).endswith('| {"text": "x"}')  # the U+2028 on line 1 is no line break
    assert quoted(path, 5000) == ""
    huge = tmp_path / "huge.jsonl"
    huge.write_text("y" * (1 << 20) + "\nz\n", encoding="utf-8")  # read in pieces, only a window kept
    assert quoted(huge, 1).endswith("y…") and len(quoted(huge, 1)) < 200 and quoted(huge, 2).endswith("| z")


def test_a_hub_snapshot_folder_reads_its_splits_and_a_missing_split_is_located(tmp_path):
    pytest.importorskip("datasets")
    (tmp_path / "snap" / "data").mkdir(parents=True)
    for split, rows in (("train", RECORDS), ("test", RECORDS[:1])):
        pq.write_table(pa.Table.from_pylist(rows), tmp_path / "snap" / "data" / f"{split}-00000-of-00001.parquet")
    (tmp_path / "snap" / "README.md").write_text("---\nlicense: mit\n---\n# snap\n", encoding="utf-8")
    assert len(built_texts(tmp_path, "{dataset: {name: snap, split: test}}")) == 1
    result = run_cli("build", str(recipe(tmp_path, "{dataset: {name: snap, split: validation}}")), "--out",
                     str(tmp_path / "out2"), "--cache", str(tmp_path / "cache"), "-q")
    assert result.exit_code == 2 and "recipe.hum.yaml:4:16: error[E4001]" in result.output, result.output  # its line
    assert "hint: the folder holds the split(s) train, test: write `split: train` under `dataset:`" in result.output
    assert not (tmp_path / "out2").exists()


@pytest.mark.parametrize("suffix", [".parquet", ".arrow"])
def test_a_column_python_cannot_represent_is_read_as_text_not_a_crash(tmp_path, suffix):
    table = pa.table({"text": ["good film"], "label": ["pos"],
                      "created": pa.array([253402300800000000 * 10], pa.timestamp("us"))})  # past year 9999
    if suffix == ".parquet":
        pq.write_table(table, tmp_path / f"data{suffix}")
    else:
        feather.write_feather(table, tmp_path / f"data{suffix}")
    rows = [r.record for r in read_source(SourceDef("s", tmp_path / f"data{suffix}", suffix[1:], {}))]
    assert rows[0]["text"] == "good film" and isinstance(rows[0]["created"], str)
    assert built_texts(tmp_path, f"data{suffix}")[0].endswith("good film")


def test_a_truncated_arrow_stream_is_located_not_an_internal_error(tmp_path):
    sink = pa.BufferOutputStream()
    table = pa.Table.from_pylist(RECORDS * 50)
    with pa.ipc.new_stream(sink, table.schema) as w:
        for batch in table.to_batches(max_chunksize=20):
            w.write_batch(batch)
    data = sink.getvalue().to_pybytes()
    (tmp_path / "d.arrow").write_bytes(data[: len(data) - 100])
    with pytest.raises(SourceError) as exc:
        list(read_source(SourceDef("s", tmp_path / "d.arrow", "arrow", {})))
    assert "damaged or cut short after 4 record batch(es)" in exc.value.message


@pytest.mark.parametrize("key", ["delimiter", "separator"])
def test_a_backslash_t_written_in_single_quotes_is_refused_with_how_to_write_a_tab(key):
    from humc.sources import source_option_problem

    assert "not a tab" in (source_option_problem(key, "\\t") or "")
    assert source_option_problem(key, "\t") is None


def test_a_json_folder_reads_one_object_per_file_and_points_jsonl_shards_at_dataset(tmp_path):
    (tmp_path / "docs").mkdir()
    for i, record in enumerate(RECORDS):
        (tmp_path / "docs" / f"{i}.json").write_text(json.dumps(record), encoding="utf-8")
    rows = [r.record for r in read_source(SourceDef("s", tmp_path / "docs", "json", {}))]
    assert rows == RECORDS
    (tmp_path / "docs" / "2.json").write_text(json.dumps(RECORDS[0]) + "\n" + json.dumps(RECORDS[1]) + "\n",
                                              encoding="utf-8")
    with pytest.raises(SourceError) as exc:
        list(read_source(SourceDef("s", tmp_path / "docs", "json", {})))
    assert exc.value.span.line == 2 and "dataset: {name: <folder>}" in (exc.value.hint or "")


def test_python_dicts_in_a_json_file_hint_at_double_quotes(tmp_path):
    (tmp_path / "data.json").write_text(str(RECORDS), encoding="utf-8")
    with pytest.raises(SourceError) as exc:
        list(read_source(SourceDef("s", tmp_path / "data.json", "json", {})))
    assert "JSON needs double quotes" in (exc.value.hint or "")
