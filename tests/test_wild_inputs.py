"""Inputs as they arrive from the wild, found by probing the CLI: symbolic links that lead back to themselves, JSON
records nested deeper than the build can cache, keys and columns named twice, NUL bytes (zero padding, UTF-16 without
a byte-order mark) and control characters in a recipe. Each is read as it should be, or refused at its file:line:col
with expected and hint (exit 2), never an internal error (exit 3) nor silently changed data.

The bad-input corpus (tests/corpus/bad) holds the cases that need no symbolic link; the ones here need a link, or
look at one reader from several sides."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.feather as feather
import pytest
from helpers import run_cli

from humc.errors import SourceError
from humc.ir import SourceDef
from humc.limits import MAX_RECORD_DEPTH
from humc.sources import read_source

RECIPE = """hum: 1
name: tiny
sources:
  s: {source}
tasks:
  - id: t
    task: classification
    source: s
    fields: {{text: text, label: label}}
    formats: [json]
"""
JSONL = '{"text": "Fine.", "label": "pos"}\n{"text": "Good.", "label": "neg"}\n'


def recipe(folder: Path, source: str = "data.jsonl", data: str | None = JSONL) -> Path:
    if data is not None:
        (folder / "data.jsonl").write_text(data, encoding="utf-8")
    path = folder / "r.hum.yaml"
    path.write_text(RECIPE.format(source=source), encoding="utf-8")
    return path


def read(path: Path, fmt: str, **options) -> list[dict]:
    return [row.record for row in read_source(SourceDef("s", path, fmt, options))]


def error(path: Path, fmt: str, **options) -> SourceError:
    with pytest.raises(SourceError) as exc:
        read(path, fmt, **options)
    return exc.value


# ---------------------------------------------------------------- symbolic links that lead back to themselves


def test_a_source_that_is_a_symlink_to_itself_is_e0009_at_its_path(tmp_path):
    path = recipe(tmp_path, data=None)
    os.symlink("data.jsonl", tmp_path / "data.jsonl")
    result = run_cli("check", str(path))
    assert result.exit_code == 2, result.output
    assert "r.hum.yaml:4:6: error[E0009]" in result.output and "symbolic link back to itself" in result.output
    assert "internal error" not in result.output


def test_a_dataset_folder_that_is_a_symlink_loop_is_e0009(tmp_path):
    path = recipe(tmp_path, "{dataset: {name: shards}}", data=None)
    os.symlink("shards", tmp_path / "shards")
    result = run_cli("check", str(path))
    assert result.exit_code == 2 and "error[E0009]" in result.output and "symbolic link" in result.output


def test_a_recipe_that_is_a_symlink_loop_is_e0009(tmp_path):
    os.symlink("loop.hum.yaml", tmp_path / "loop.hum.yaml")
    result = run_cli("check", str(tmp_path / "loop.hum.yaml"))
    assert result.exit_code == 2, result.output
    assert "error[E0009]: cannot read" in result.output and "symbolic links" in result.output


@pytest.mark.parametrize("option", ["--out", "--cache"])
def test_an_output_or_cache_folder_that_is_a_symlink_loop_is_e3002_before_any_work(tmp_path, option):
    path = recipe(tmp_path)
    os.symlink("loop", tmp_path / "loop")
    other = "--cache" if option == "--out" else "--out"
    result = run_cli("build", str(path), "-q", option, str(tmp_path / "loop"), other, str(tmp_path / "fine"))
    assert result.exit_code == 2, result.output
    assert "error[E3002]" in result.output and "symbolic link back to itself" in result.output
    assert f"(from {option})" in result.output
    assert not (tmp_path / "fine").exists()  # nothing was written


# ---------------------------------------------------------------- nesting


def test_a_record_just_inside_the_depth_limit_is_read_and_one_level_more_is_located(tmp_path):
    def nested(levels: int) -> str:  # the record itself is the first level
        return '{"text": "a", "x": ' + "[" * (levels - 1) + "]" * (levels - 1) + "}\n"

    ok = tmp_path / "ok.jsonl"
    ok.write_text(nested(MAX_RECORD_DEPTH), encoding="utf-8")
    assert read(ok, "jsonl")[0]["text"] == "a"
    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"text": "b"}\n' + nested(MAX_RECORD_DEPTH + 1), encoding="utf-8")
    exc = error(deep, "jsonl")
    assert (exc.span.line, exc.span.col) == (2, 19 + MAX_RECORD_DEPTH)  # the bracket opening the level too many
    assert "nested too deeply" in exc.message


def test_brackets_inside_strings_do_not_count_as_nesting(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps([{"text": "[{" * 500 + '\\"]', "label": "x"}]), encoding="utf-8")
    assert read(path, "json")[0]["label"] == "x"


# ---------------------------------------------------------------- names given twice


def test_a_key_named_twice_in_a_nested_object_is_located_at_that_object(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "a", "meta": {"k": 1, "k": 2}}\n', encoding="utf-8")
    exc = error(path, "jsonl")
    assert (exc.span.line, exc.span.col) == (1, 38) and "'k' twice" in exc.message


def test_the_same_key_in_two_records_is_no_repetition(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('[{"text": "a", "m": {"k": 1}}, {"text": "b", "m": {"k": 2}}]', encoding="utf-8")
    assert [r["m"]["k"] for r in read(path, "json")] == [1, 2]


def test_an_arrow_file_naming_a_column_twice_is_refused(tmp_path):
    path = tmp_path / "a.arrow"
    table = pa.Table.from_arrays([pa.array(["a"]), pa.array(["x"]), pa.array(["y"])], names=["text", "label", "label"])
    feather.write_feather(table, path)
    exc = error(path, "arrow")
    assert "two columns named 'label'" in exc.message and exc.span.file == str(path)


# ---------------------------------------------------------------- NUL characters


@pytest.mark.parametrize("fmt,data,where", [
    ("tsv", b"text\tlabel\nab\x00c\tx\n", (2, 3)),
    ("conll", b"EU B-ORG\nrej\x00ects O\n", (2, 4)),
    ("blocks", b"one\nx\n\ntw\x00o\ny\n", (4, 3)),
])
def test_a_nul_byte_in_a_line_based_text_file_is_located(tmp_path, fmt, data, where):
    path = tmp_path / f"a.{fmt}"
    path.write_bytes(data)
    exc = error(path, fmt, **({"lines": ["text", "label"]} if fmt == "blocks" else {}))
    assert (exc.span.line, exc.span.col) == where and "NUL character" in exc.message
    assert "padded with zero bytes" in exc.hint


def test_a_nul_byte_in_a_text_files_document_is_located_in_that_file(tmp_path):
    (tmp_path / "pos").mkdir()
    (tmp_path / "pos" / "a.txt").write_bytes(b"fine\nbi\x00nary")
    exc = error(tmp_path, "text_files")
    assert exc.span.file == str(tmp_path / "pos" / "a.txt") and (exc.span.line, exc.span.col) == (2, 3)


@pytest.mark.parametrize("codec,order", [("utf-16-le", "le"), ("utf-16-be", "be")])
def test_utf16_without_a_byte_order_mark_names_its_byte_order_and_reads_with_it(tmp_path, codec, order):
    path = tmp_path / "a.jsonl"
    path.write_bytes(JSONL.encode(codec))
    exc = error(path, "jsonl")
    assert f"encoding: utf-16-{order}" in exc.hint
    assert [r["label"] for r in read(path, "jsonl", encoding=codec)] == ["pos", "neg"]


def test_a_nul_escaped_inside_a_json_string_is_data_not_damage(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "a\\u0000b"}\n', encoding="utf-8")
    assert read(path, "jsonl") == [{"text": "a\x00b"}]


# ---------------------------------------------------------------- recipes


def test_a_character_yaml_refuses_is_located_where_it_stands(tmp_path):
    path = recipe(tmp_path)
    path.write_text(RECIPE.format(source="data.jsonl").replace("name: tiny", "name: ti\x1bny"), encoding="utf-8")
    result = run_cli("check", str(path))
    assert result.exit_code == 2
    assert "r.hum.yaml:2:9: error[E0002]" in result.output and "control character U+001B" in result.output


def test_a_nul_byte_in_a_constant_file_or_a_label_file_is_located_in_that_file(tmp_path):
    (tmp_path / "names.txt").write_bytes(b"pos\nn\x00eg\n")
    path = recipe(tmp_path)
    path.write_text(RECIPE.format(source="data.jsonl").replace("sources:", "constants:\n  names: {file: names.txt}\nsources:"),
                    encoding="utf-8")
    result = run_cli("check", str(path))
    assert result.exit_code == 2 and "names.txt:2:2: error[E0009]" in result.output and "NUL" in result.output
    (tmp_path / "data.jsonl").write_text('{"text": "a"}\n{"text": "b"}\n', encoding="utf-8")
    (tmp_path / "data-labels.lst").write_bytes(b"pos\nn\x00eg\n")
    exc = error(tmp_path / "data.jsonl", "jsonl", label_file="{stem}-labels.lst")
    assert exc.span.file == str(tmp_path / "data-labels.lst") and (exc.span.line, exc.span.col) == (2, 2)


def test_a_quote_escaped_with_a_backslash_is_read_with_escapechar_and_refused_without(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text('text,label\n"He said \\"hi\\", twice.",x\n', encoding="utf-8")
    assert "escapechar" in error(path, "csv").hint
    assert read(path, "csv", escapechar="\\") == [{"text": 'He said "hi", twice.', "label": "x"}]


def test_a_quote_never_closed_is_reported_where_it_opened_not_at_the_end(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text('text,label\nfine,1\n"open,2\nmore,3\nlast,4\n', encoding="utf-8")
    exc = error(path, "csv")
    assert exc.span.line == 3 and "never closed" in exc.message


def test_a_parquet_map_column_reads_as_an_object_and_a_key_twice_is_refused(tmp_path):
    import pyarrow.parquet as pq

    kind = pa.map_(pa.string(), pa.string())
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"text": ["a", "b"], "attrs": pa.array([[("label", "pos")], None], type=kind)}), path)
    assert read(path, "parquet") == [{"text": "a", "attrs": {"label": "pos"}}, {"text": "b", "attrs": None}]
    pq.write_table(pa.table({"attrs": pa.array([[("k", "1"), ("k", "2")]], type=kind)}), path)
    exc = error(path, "parquet")
    assert "map column 'attrs' names a key twice" in exc.message


@pytest.mark.parametrize("written,where,named", [
    ("\u00a0   task: classification", "r.hum.yaml:7:1", "non-breaking space"),
    ("    task\uff1a classification", "r.hum.yaml:7:9", "full-width colon"),
])
def test_a_look_alike_space_or_colon_in_a_recipe_is_named_where_it_stands(tmp_path, written, where, named):
    path = recipe(tmp_path)
    path.write_text(RECIPE.format(source="data.jsonl").replace("    task: classification", written), encoding="utf-8")
    result = run_cli("check", str(path))
    assert result.exit_code == 2 and f"{where}: error[E0002]" in result.output and named in result.output


def test_a_full_width_colon_inside_a_value_is_no_look_alike(tmp_path):
    path = recipe(tmp_path)
    text = RECIPE.format(source="data.jsonl").replace("name: tiny", "name: tiny\ndescription: 数据：新闻\n  bad: [")
    path.write_text(text, encoding="utf-8")
    result = run_cli("check", str(path))
    assert result.exit_code == 2 and "full-width" not in result.output


def test_a_file_compressed_twice_is_named_so_not_as_windows_1252_punctuation(tmp_path):
    import gzip

    path = tmp_path / "a.jsonl.gz"
    path.write_bytes(gzip.compress(gzip.compress(JSONL.encode())))
    exc = error(path, "jsonl")
    assert "compressed twice (a gzip stream inside the gzip one" in exc.hint


@pytest.mark.parametrize("options,key,problem", [
    ({"encoding": "base64"}, "encoding", "not a text encoding"),
    ({"quotechar": ","}, "quotechar", "same character as `delimiter`"),
    ({"delimiter": ";", "escapechar": ";"}, "escapechar", "same character as `delimiter`"),
    ({"delimiter": '"'}, "delimiter", "same character as `quotechar`"),
    ({"delimiter": "\n"}, "delimiter", "a line break"),
    ({"pattern": "/etc/*"}, "pattern", "an absolute path"),
])
def test_options_a_reader_cannot_use_are_refused_at_check(options, key, problem):
    from humc.sources import source_option_problem

    assert problem in (source_option_problem(key, options[key], options) or "")


def test_csv_characters_that_differ_pass():
    from humc.sources import source_option_problem

    options = {"delimiter": ";", "quotechar": "'", "escapechar": "\\"}
    assert not any(source_option_problem(key, value, options) for key, value in options.items())


# ---------------------------------------------------------------- named pipes (reading one waits for a writer)


@pytest.mark.parametrize("pipe,recipe_line", [
    ("names.txt", "constants:\n  names: {file: names.txt}\n"),  # a constant file
    ("card.j2", ""),                                              # the card template
    ("r.hum.lock", ""),                                           # the recipe's lockfile
])
def test_a_named_pipe_where_a_file_is_read_is_e0009_not_a_hang(tmp_path, pipe, recipe_line):
    from test_corpus import run_isolated

    path = recipe(tmp_path)
    text = recipe_line + RECIPE.format(source="data.jsonl")
    if pipe == "card.j2":
        text += "publish:\n  repo: me/tiny\n  card_template: card.j2\n"
    path.write_text(text, encoding="utf-8")
    os.mkfifo(tmp_path / pipe)
    code, output = run_isolated(["check", str(path)], tmp_path, timeout=30)
    assert code == 2, output
    assert "error[E0009]" in output and "not a regular file" in output


# ---------------------------------------------------------------- ClassLabels inside structs


def test_class_labels_inside_structs_and_lists_of_structs_read_as_names(tmp_path):
    datasets = pytest.importorskip("datasets")

    names = datasets.ClassLabel(names=["neg", "pos"])
    features = datasets.Features({"text": datasets.Value("string"), "meta": {"label": names},
                                  "spans": datasets.Sequence({"tag": names, "start": datasets.Value("int32")}),
                                  "items": [{"tag": names}]})
    ds = datasets.Dataset.from_dict({"text": ["a"], "meta": [{"label": 1}], "spans": [{"tag": [0, 1], "start": [3, 5]}],
                                     "items": [[{"tag": 1}, {"tag": -1}]]}, features=features)
    ds.to_parquet(str(tmp_path / "a.parquet"))
    ds.save_to_disk(str(tmp_path / "saved"))
    for record in (*read(tmp_path / "a.parquet", "parquet", class_labels=True),
                   *read(tmp_path / "saved", "arrow", class_labels=True)):
        assert record["meta"] == {"label": "pos"}
        assert record["spans"] == {"tag": ["neg", "pos"], "start": [3, 5]}  # a Sequence of a struct: lists per field
        assert record["items"] == [{"tag": "pos"}, {"tag": None}]  # a list of structs; -1 is no label


# ---------------------------------------------------------------- values that are not text


@pytest.mark.parametrize("value,said", [(b"\xff", "binary data"), ({"k": 1}, "an object"), (["a"], "a list inside")])
def test_join_and_string_functions_refuse_values_that_are_not_text(value, said):
    from humc.expr.functions import FUNCTIONS, FunctionError

    with pytest.raises(FunctionError, match=said):
        FUNCTIONS["join"](["text", value])
    if not isinstance(value, list):  # a list goes item by item through upper()
        with pytest.raises(FunctionError, match=said):
            FUNCTIONS["upper"](value)
    assert FUNCTIONS["join"](["a", 1, 2.5, None]) == "a 1 2.5 "  # numbers are written as they read


def test_a_binary_parquet_column_joined_into_a_text_is_a_located_error_not_bytes_repr(tmp_path):
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": ["a"], "b": pa.array([b"\xff"]), "label": ["x"]}), tmp_path / "data.parquet")
    path = recipe(tmp_path, "data.parquet", data=None)
    path.write_text(RECIPE.format(source="data.parquet").replace("{text: text, label: label}",
                                                                  "{text: \"[text, b] | join(' ')\", label: label}"))
    result = run_cli("build", str(path), "-q", "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "c"))
    assert result.exit_code == 2 and "error[E4102]: join(): b'\\xff' is binary data" in result.output
    assert not (tmp_path / "out").exists()


def test_a_name_that_differs_only_in_unicode_form_is_named_as_such():
    from humc.errors import did_you_mean

    hint = did_you_mean("cafe\u0301", ["caf\u00e9", "tea"])
    assert hint is not None and "other Unicode characters" in hint
    assert did_you_mean("cafe", ["caf\u00e9"]) == "did you mean 'caf\u00e9'?"


# ---------------------------------------------------------------- IE importers


def test_an_iepile_output_with_a_5000_digit_number_is_located_not_an_internal_error(tmp_path):
    line = {"task": "NER", "source": "x", "output": '{"PER": [' + "9" * 5000 + "]}",
            "instruction": json.dumps({"instruction": "i", "schema": ["PER"], "input": "Ada"})}
    path = tmp_path / "a.json"
    path.write_text("\n" + json.dumps(line) + "\n", encoding="utf-8")
    exc = error(path, "iepile")
    assert exc.span.line == 2 and "number too long" in exc.message


def test_a_bad_byte_in_an_instructuie_tree_is_located_in_its_file(tmp_path):
    folder = tmp_path / "IE" / "NER" / "ds"
    folder.mkdir(parents=True)
    (folder / "labels.json").write_text('["PER"]', encoding="utf-8")
    (folder / "train.json").write_bytes('[{"sentence": "Caf\xe9", "entities": []}]'.encode("latin-1"))
    exc = error(tmp_path / "IE", "instructuie")
    assert exc.span.file == str(folder / "train.json") and (exc.span.line, exc.span.col) == (1, 19)


def test_excels_sep_line_is_skipped_when_it_names_the_delimiter_and_named_when_it_does_not(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("sep=;\ntext;label\nFine.;pos\n", encoding="utf-8")
    assert read(path, "csv", delimiter=";") == [{"text": "Fine.", "label": "pos"}]
    assert read(path, "csv") == [{"text": "Fine.", "label": "pos"}]  # without `delimiter:` the line gives it
    exc = error(path, "csv", delimiter=",")
    assert (exc.span.line, exc.span.col) == (1, 1) and "`options: {delimiter: ';'}`" in exc.hint
    tsv = tmp_path / "a.tsv"
    tsv.write_text("sep=;\ntext;label\n", encoding="utf-8")
    assert "`format: csv`" in error(tsv, "tsv").hint
