"""Real-world source files as they arrive: compressed dumps, long fields, damaged archives, cut-in-two emoji,
duplicate headers and misnamed columns are read, or refused at their file:line:col with expected and hint."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import run_cli

from humc.errors import SourceError
from humc.ir import SourceDef
from humc.sources import infer_format, read_source

ROWS = [{"context": "Paris is in France.", "question": "Where is Paris?", "answers": ["France"]},
        {"context": "Rome is in Italy.", "question": "Where is Rome?", "answers": ["Italy"]}]
JSONL = "".join(json.dumps(r) + "\n" for r in ROWS).encode()


def read(path: Path, fmt: str, **options) -> list[tuple[dict, int | None]]:
    return [(row.record, row.line) for row in read_source(SourceDef("s", path, fmt, options))]


def error(path: Path, fmt: str, **options) -> SourceError:
    with pytest.raises(SourceError) as exc:
        read(path, fmt, **options)
    return exc.value


def zstd(data: bytes) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as f:
        f.write(data)
    return sink.getvalue().to_pybytes()


# ---------------------------------------------------------------- compressed sources


@pytest.mark.parametrize("name,compress", [("a.jsonl.gz", gzip.compress), ("a.jsonl.bz2", bz2.compress),
                                           ("a.jsonl.xz", lzma.compress), ("a.jsonl.zst", zstd)])
def test_a_compressed_jsonl_file_reads_like_the_plain_one(tmp_path, name, compress):
    path = tmp_path / name
    path.write_bytes(compress(JSONL))
    assert infer_format(path) == "jsonl"
    assert read(path, "jsonl") == [(ROWS[0], 1), (ROWS[1], 2)]


def test_the_first_bytes_decide_compression_not_the_name(tmp_path):
    csv_gz = tmp_path / "export.csv"  # gzip bytes under a plain name
    csv_gz.write_bytes(gzip.compress(b"text,label\nhello,a\n"))
    assert read(csv_gz, "csv") == [({"text": "hello", "label": "a"}, 2)]
    plain = tmp_path / "BZh.csv"  # text that merely starts like a bz2 header stays text
    plain.write_text("BZh9,label\nx,a\n", encoding="utf-8")
    assert read(plain, "csv") == [({"BZh9": "x", "label": "a"}, 2)]


def test_a_compressed_json_file_named_json_is_sniffed_inside(tmp_path):
    path = tmp_path / "duee.json.gz"
    path.write_bytes(gzip.compress(JSONL))
    assert infer_format(path) == "jsonl"


def test_a_cut_short_archive_is_a_damaged_archive_not_bad_text(tmp_path):
    path = tmp_path / "a.jsonl.gz"
    data = gzip.compress(JSONL * 40)
    path.write_bytes(data[:len(data) // 2])
    exc = error(path, "jsonl")
    assert "gzip-compressed file is damaged or cut short" in exc.message
    assert exc.span is not None and exc.span.file == str(path) and exc.expected and exc.hint


def test_a_bad_byte_inside_a_compressed_file_is_located_in_the_decompressed_lines(tmp_path):
    path = tmp_path / "a.jsonl.gz"
    path.write_bytes(gzip.compress(JSONL + b'{"context": "caf\xe9"}\n'))
    exc = error(path, "jsonl")
    assert exc.span is not None and (exc.span.line, exc.span.col) == (3, 17)
    assert " | " not in exc.render()  # no compressed bytes quoted as if they were the line


# ---------------------------------------------------------------- delimited files


def test_a_csv_field_longer_than_128_kib_is_read(tmp_path):
    path = tmp_path / "a.csv"
    long = "x" * 300_000
    path.write_text(f'text,label\n"{long}",a\nshort,b\n', encoding="utf-8")
    assert [r["text"] for r, _ in read(path, "csv")] == [long, "short"]


def test_a_header_naming_a_column_twice_is_refused_at_the_header(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("text,text,label\nx,y,a\n", encoding="utf-8")
    exc = error(path, "csv")
    assert "'text' twice" in exc.message and exc.span is not None and exc.span.line == 1 and exc.hint
    assert read(path, "csv", columns=["t1", "t2", "label"]) == [({"t1": "x", "t2": "y", "label": "a"}, 2)]


def test_parquet_columns_that_the_file_lacks_are_refused_with_the_files_columns(tmp_path):
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"text": ["x"], "label": ["a"]}), path)
    exc = error(path, "parquet", columns=["txt", "label"])
    assert "'txt'" in exc.message and exc.expected == "columns of the file: text, label"
    assert " | " not in exc.render()  # a binary file's bytes are not quoted
    assert read(path, "parquet", columns=["text"]) == [({"text": "x"}, None)]


# ---------------------------------------------------------------- JSON


def test_a_json_list_in_a_jsonl_file_hints_at_format_json(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(ROWS), encoding="utf-8")
    assert "format: json" in (error(path, "jsonl").hint or "")


def test_a_surrogate_pair_is_one_character_and_reads(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"context": "smile \\ud83d\\ude00"}\n', encoding="utf-8")
    assert read(path, "jsonl") == [({"context": "smile \U0001F600"}, 1)]


# ---------------------------------------------------------------- through the CLI

RECIPE = """hum: 1
name: tiny
sources:
  qa: {source}
tasks:
  - id: qa
    task: mrc_extractive
    source: qa
    fields:
      context: context
      question: question
      answers: answers
    formats: [json]
"""


def test_a_gzipped_jsonl_source_builds_the_same_records_as_the_plain_file(tmp_path):
    outputs = []
    for name, data in (("plain/data.jsonl", JSONL), ("packed/data.jsonl.gz", gzip.compress(JSONL))):
        path = tmp_path / name
        path.parent.mkdir()
        path.write_bytes(data)
        recipe = path.parent / "r.hum.yaml"
        recipe.write_text(RECIPE.format(source=path.name), encoding="utf-8")
        result = run_cli("build", str(recipe), "--out", str(path.parent / "out"), "--cache", str(tmp_path / "c"), "-q")
        assert result.exit_code == 0, result.output
        table = pq.read_table(sorted((path.parent / "out" / "tiny" / "data").glob("*.parquet")))
        outputs.append(sorted(zip(table.column("instruction").to_pylist(), table.column("output").to_pylist(),
                                  strict=True)))
    assert outputs[0] == outputs[1] and len(outputs[0]) == 2


def test_a_lone_surrogate_in_an_input_drops_the_record_and_the_rest_builds(tmp_path):
    """JSON's "\\ud83d" (an emoji cut in two) in a shown field used to crash the build (exit 3) when it was encoded."""
    (tmp_path / "data.jsonl").write_bytes(JSONL + b'{"context": "cut \\ud83d", "question": "Why?", "answers": []}\n')
    recipe = tmp_path / "r.hum.yaml"
    recipe.write_text(RECIPE.format(source="data.jsonl"), encoding="utf-8")
    result = run_cli("build", str(recipe), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "c"), "-q")
    assert result.exit_code == 0, result.output
    assert "dropped 1 record(s): lone_surrogate" in result.output and "\\ud83d" in result.output
    table = pq.read_table(sorted((tmp_path / "out" / "tiny" / "data").glob("*.parquet")))
    assert sorted(table.column("source_row").to_pylist()) == [0, 1]


def test_a_where_that_fails_on_a_record_names_its_fields_and_how_to_check(tmp_path):
    (tmp_path / "data.jsonl").write_bytes(JSONL)
    recipe = tmp_path / "r.hum.yaml"
    recipe.write_text(RECIPE.format(source="data.jsonl") + "    where: context + 1 > 0\n", encoding="utf-8")
    result = run_cli("build", str(recipe), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "c"))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{recipe}:14:12: error[E4102]: cannot apply '+'" in result.output
    assert "hint: `humc check RECIPE --rows all`" in result.output
    assert "note: the record (line 1 of the source file) has the fields: context, question, answers" in result.output
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- files joined with `cat`


def test_jsonl_files_joined_with_cat_read_past_the_inner_byte_order_mark(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + JSONL[:JSONL.index(b"\n") + 1] + b"\xef\xbb\xbf" + JSONL[JSONL.index(b"\n") + 1:])
    assert read(path, "jsonl") == [(ROWS[0], 1), (ROWS[1], 2)]


def test_csv_files_joined_with_cat_skip_the_repeated_header(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"\xef\xbb\xbftext,label\r\nhello,a\r\n\xef\xbb\xbftext,label\r\nbye,b\r\n")
    assert read(path, "csv") == [({"text": "hello", "label": "a"}, 2), ({"text": "bye", "label": "b"}, 4)]
    assert len(read(path, "csv", header=False, columns=["t", "l"])) == 4  # without a header every row is data


def test_a_nested_key_missing_from_one_record_hints_at_the_null_safe_index(tmp_path):
    (tmp_path / "data.jsonl").write_text(json.dumps({"context": "c", "question": "q", "answers": {"text": ["c"]}}) + "\n"
                                         + json.dumps({"context": "c", "question": "q", "answers": {}}) + "\n",
                                         encoding="utf-8")
    recipe = tmp_path / "r.hum.yaml"
    recipe.write_text(RECIPE.format(source="data.jsonl").replace("answers: answers", "answers: answers.text"),
                      encoding="utf-8")
    result = run_cli("build", str(recipe), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "c"))
    assert result.exit_code == 2 and f"{recipe}:12:16: error[E4102]: no field 'text'" in result.output
    assert 'hint: a key only some records have reads as null with `["text"]` instead of `.text`' in result.output
    assert "note: the record (line 2 of the source file) has the fields: context, question, answers" in result.output


def test_a_misspelt_nested_key_gets_a_did_you_mean(tmp_path):
    (tmp_path / "data.jsonl").write_text(json.dumps({"context": "c", "question": "q", "answers": {"text": ["c"]}}) + "\n",
                                         encoding="utf-8")
    recipe = tmp_path / "r.hum.yaml"
    recipe.write_text(RECIPE.format(source="data.jsonl").replace("answers: answers", "answers: answers.txt"),
                      encoding="utf-8")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 2 and f"{recipe}:12:16: error[E4102]: no field 'txt' (available: text)" in result.output
    assert "hint: did you mean 'text'? a key only some records have reads as null" in result.output


def test_a_misspelt_field_suggests_the_records_field(tmp_path):
    (tmp_path / "data.jsonl").write_bytes(JSONL)
    recipe = tmp_path / "r.hum.yaml"
    recipe.write_text(RECIPE.format(source="data.jsonl").replace("context: context", "context: contxt"), encoding="utf-8")
    result = run_cli("build", str(recipe), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "c"))
    assert result.exit_code == 2 and "hint: did you mean 'context'?" in result.output


def test_a_field_spelt_with_other_case_or_spaces_names_the_records_spelling(tmp_path):
    (tmp_path / "data.csv").write_text("Context ,QUESTION,answers\nParis is in France.,Where is Paris?,France\n",
                                       encoding="utf-8")
    recipe = tmp_path / "r.hum.yaml"
    recipe.write_text(RECIPE.format(source="data.csv"), encoding="utf-8")
    result = run_cli("build", str(recipe), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "c"))
    assert result.exit_code == 2
    assert "hint: the record spells it 'Context ' (field names are exact): use record['Context ']" in result.output
    recipe.write_text(RECIPE.format(source="data.csv").replace("context: context", "context: record['Context ']"),
                      encoding="utf-8")
    result = run_cli("build", str(recipe), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "c"))
    assert "hint: the record spells it 'QUESTION' (field names are exact): use QUESTION" in result.output


def test_an_excel_unicode_text_export_is_sniffed_and_read_as_utf16_tsv(tmp_path):
    path = tmp_path / "export.txt"
    path.write_bytes("text\tlabel\r\nhello\ta\r\n".encode("utf-16"))
    assert infer_format(path) == "tsv"
    assert read(path, "tsv") == [({"text": "hello", "label": "a"}, 2)]


@pytest.mark.parametrize("text,hint", [
    (json.dumps(ROWS, indent=2) + "\n", "the file holds pretty-printed JSON, not one object per line: use `format: json`"),
    (JSONL.decode()[:-20], "the last line ends inside a JSON value: the file looks cut short"),
])
def test_a_jsonl_file_that_does_not_parse_says_why(tmp_path, text, hint):
    path = tmp_path / "a.jsonl"
    path.write_text(text, encoding="utf-8")
    assert (error(path, "jsonl").hint or "").startswith(hint)


def test_a_folder_of_shards_that_disagree_on_a_type_is_a_located_error(tmp_path, monkeypatch):
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "a.jsonl").write_bytes(JSONL)
    (shards / "b.jsonl").write_text(json.dumps({"context": ["a list"], "question": "q", "answers": []}) + "\n",
                                    encoding="utf-8")
    recipe = tmp_path / "r.hum.yaml"
    recipe.write_text(RECIPE.format(source="{dataset: {name: shards}}"), encoding="utf-8")
    result = run_cli("build", str(recipe), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "c"), "-q")
    assert result.exit_code == 2 and "internal error" not in result.output, result.output
    assert f"{shards}:1:1: error[E4001]: source 'qa': reading dataset '{shards}' failed after" in result.output
    assert "hint: the `datasets` library takes the schema from the first file" in result.output
    assert not (tmp_path / "out").exists()


def test_a_parquet_file_damaged_inside_is_a_located_error(tmp_path):
    path = tmp_path / "a.parquet"
    table = pa.table({"text": [f"row {i} " * 20 for i in range(2000)], "label": ["a", "b"] * 1000})
    pq.write_table(table, path, row_group_size=500, compression="snappy")
    data = bytearray(path.read_bytes())
    data[20_000:20_400] = b"\x55" * 400  # a page in the middle, not the footer
    path.write_bytes(bytes(data))
    exc = error(path, "parquet")
    assert "the Parquet file is damaged after" in exc.message and exc.expected and exc.hint


def test_a_source_path_that_cannot_be_opened_is_e0009_not_a_crash(tmp_path):
    exc = error(tmp_path, "jsonl")  # a folder where a file belongs (or a file without read permission)
    assert exc.code == "E0009" and f"cannot read {tmp_path}" in exc.message and exc.hint


def test_a_windows_1252_curly_quote_suggests_cp1252_not_latin1(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"text,label\n\x93quoted\x94,a\n")
    exc = error(path, "csv")
    assert (exc.span.line, exc.span.col) == (2, 1) and "encoding: cp1252" in (exc.hint or "")
    assert read(path, "csv", encoding="cp1252") == [({"text": "\u201cquoted\u201d", "label": "a"}, 2)]


def _ag_news_parts(folder: Path) -> list[dict]:
    """A Hub-layout clone of the real AG News sample (tests/data/ag_news, see its SOURCE.md): two Parquet parts of
    train, as `Dataset.to_parquet` and the Hub's converter write them."""
    import csv

    topics = ["World", "Sports", "Business", "Sci/Tech"]
    with open(Path(__file__).parent / "data" / "ag_news" / "train.head80.csv", encoding="utf-8", newline="") as f:
        rows = [{"text": f"{title}. {body}", "label": topics[int(label) - 1]} for label, title, body in csv.reader(f)]
    (folder / "data").mkdir(parents=True)
    for n, part in enumerate((rows[:40], rows[40:])):
        pq.write_table(pa.Table.from_pylist(part), folder / "data" / f"train-0000{n}-of-00002.parquet",
                       row_group_size=10, compression="snappy")
    return rows


@pytest.mark.parametrize("damage", ["cut", "page", "not parquet"])
def test_a_damaged_parquet_part_read_through_datasets_names_the_file_and_says_to_fetch_it_again(tmp_path, damage):
    """`datasets` says only 'failed after N records: ArrowInvalid …' (and logs the file name); the hint was the one for
    files whose schemas differ. The damaged part is named, located, and the hint says to fetch it again."""
    pytest.importorskip("datasets")
    folder = tmp_path / "ag_news"
    rows = _ag_news_parts(folder)
    part = folder / "data" / "train-00001-of-00002.parquet"
    data = bytearray(part.read_bytes())
    if damage == "cut":
        data = data[:len(data) // 2]
    elif damage == "page":  # a data page of a later row group: the footer reads, the rows do not
        start = pq.ParquetFile(part).metadata.row_group(2).column(0).data_page_offset
        data[start + 20:start + 60] = bytes(b ^ 0x5A for b in data[start + 20:start + 60])
    else:
        data = bytearray(b"text,label\nhi,World\n")
    part.write_bytes(bytes(data))
    (tmp_path / "r.hum.yaml").write_text(
        "hum: 1\nname: t\nsources:\n  s: {dataset: {name: ag_news}}\ntasks:\n  - id: e\n    task: classification\n"
        "    source: s\n    fields: {text: text, label: label}\n    formats: [json]\n", encoding="utf-8")
    result = run_cli("build", "r.hum.yaml", "-q", cwd=tmp_path)
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert f"{part}:1:1: error[E4001]: source 's': reading dataset '{folder}' failed after " in result.output
    assert "its file data/train-00001-of-00002.parquet is not a readable Parquet file" in result.output
    assert "expected: complete Parquet files" in result.output
    assert "hint: the file is damaged or cut short: copy or download it again" in result.output
    assert "pq.read_table('data/train-00001-of-00002.parquet')" in result.output
    assert "schema" not in result.output   # not the hint for files that disagree on a type
    read = int(result.output.split("failed after ")[1].split(" ")[0])
    assert 40 <= read < len(rows)   # the first part, and the second's row groups before the damage
    assert not (tmp_path / "out").exists()
