"""Damaged source data as real downloads and exports leave it, found by a sweep of corruptions over every source
format through the real CLI (fuzz11): each is a compiler error (exit 2) at the file and line that names what was
expected, with nothing written, and the build succeeds once the file is whole again."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from helpers import run_cli

from humc.ir import SourceDef
from humc.sources import read_source

ROWS = [{"text": f"héllo wörld {i} 😀", "label": ["World", "Sports"][i % 2]} for i in range(6)]

RECIPE = """hum: 1
name: cls
sources: {{s: {source}}}
tasks:
  - {{id: c, task: classification, source: s, fields: {{text: text, label: label}}, labels: [World, Sports], formats: [json]{where}}}
output: {{splits: {{train: 1.0}}}}
"""


def build(root: Path, path: str, where: str = "") -> tuple[int, str]:
    """`humc build` of the classification recipe over ``path`` (a file, or a source mapping) in ``root``: (exit
    code, output)."""
    source = path if path.startswith("{") else f"{{path: {path}}}"  # a file, or a whole source mapping
    (root / "r.hum.yaml").write_text(RECIPE.format(source=source, where=where), encoding="utf-8")
    result = run_cli("build", "r.hum.yaml", "-q", "-j", "1", "--out", "out", "--cache", "cache", cwd=root)
    assert "Traceback" not in result.output and "internal error" not in result.output
    return result.exit_code, result.output


def refused(root: Path, path: str, where: str = "") -> str:
    """The build fails as a compiler error that writes nothing: its output."""
    code, out = build(root, path, where)
    assert code == 2, out
    assert not (root / "out").exists()
    return out


def jsonl(rows: list[dict[str, str]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def csv(rows: list[dict[str, str]]) -> bytes:
    return ("text,label\n" + "".join(f"{r['text']},{r['label']}\n" for r in rows)).encode()


@pytest.mark.parametrize(("name", "write", "line"), [("data.jsonl", jsonl, 6), ("data.csv", csv, 7)])
def test_a_text_file_cut_inside_a_utf8_character_says_it_is_cut_short_where(tmp_path, name, write, line):
    whole = write(ROWS)
    cut = whole[:whole.rindex("😀".encode()) + 2]  # a download stopped inside the last emoji's four bytes
    (tmp_path / name).write_bytes(cut)
    out = refused(tmp_path, name)
    column = len(cut) - cut.rindex(b"\n") - 2  # the emoji's first byte, in bytes into the line
    # before: "the file is not valid utf-8 text (byte b'' at line 1, column 1)" with a hint to set the encoding
    assert f"{name}:{line}:{column}: error[E4001]: source 's': the file ends inside a utf-8 character (bytes " \
           f"b'\\xf0\\x9f' at line {line}, column {column}): it is cut short" in out
    assert "expected: complete utf-8 text" in out and "hint: copy or download the file again" in out
    (tmp_path / name).write_bytes(whole)
    assert build(tmp_path, name)[0] == 0


def arrow_file() -> bytes:
    sink = io.BytesIO()
    feather.write_feather(pa.Table.from_pylist(ROWS), sink)
    return sink.getvalue()


@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_an_arrow_file_cut_short_is_named_cut_short_not_no_arrow_file(tmp_path, keep):
    whole = arrow_file()
    (tmp_path / "data.arrow").write_bytes(whole[:int(len(whole) * keep)])
    out = refused(tmp_path, "data.arrow")
    # before: "data.arrow is not an Arrow stream or file (Not an Arrow file)", no expected, no hint
    assert "data.arrow:1:1: error[E4001]: source 's': data.arrow starts as an Arrow file but its footer, at the end, " \
           "is missing or unreadable: it is cut short or damaged" in out
    assert "expected: a complete Arrow file" in out and "hint: copy or download the file again" in out
    (tmp_path / "data.arrow").write_bytes(whole)
    assert build(tmp_path, "data.arrow")[0] == 0


def test_bytes_that_are_no_arrow_file_say_what_was_expected(tmp_path):
    (tmp_path / "data.arrow").write_bytes(jsonl(ROWS))  # text saved under an .arrow name
    out = refused(tmp_path, "data.arrow")
    assert "data.arrow:1:1: error[E4001]: source 's': data.arrow is not an Arrow stream or file" in out
    assert "expected: an Arrow IPC file or stream" in out and "hint: the file is damaged or not Arrow" in out


def test_a_record_too_long_to_render_names_its_row_and_how_to_leave_it_out(tmp_path):
    huge = {"text": "x" * (17 << 20), "label": "World"}  # one 17 MiB field: a scraped page, a base64 blob
    (tmp_path / "data.jsonl").write_bytes(jsonl(ROWS[:2]) + jsonl([huge]) + jsonl(ROWS[2:]))
    out = refused(tmp_path, "data.jsonl")
    # before: only the template's line (stdlib/templates/classification/…), no word of which record was too long
    assert "error[E0010]: template classification/" in out and "the rendered text would be too long" in out
    assert "note: while rendering source 's' row 2 (line 3 of the source file); its longest field, 'text', holds " \
           f"{17 << 20} characters (a task's `where: len(text) < 100000` leaves such records out)" in out
    assert build(tmp_path, "data.jsonl", ", where: len(text) < 100000")[0] == 0


def test_a_parquet_file_under_a_text_name_says_it_is_parquet_not_cp1252(tmp_path):
    table = pa.Table.from_pylist(ROWS)
    pq.write_table(table, tmp_path / "data.jsonl")  # pandas' to_parquet("train.jsonl"): a name mix-up
    out = refused(tmp_path, "data.jsonl")
    # before: hint "the line holds Windows-1252 punctuation …: set `options: {encoding: cp1252}`"
    assert "data.jsonl:1:8: error[E4001]: source 's': the file is not valid utf-8 text" in out
    assert "hint: the file is Parquet data, not text (its first bytes say so): set the source's `format: parquet`" in out
    assert "cp1252" not in out
    assert build(tmp_path, "data.jsonl, format: parquet")[0] == 0


@pytest.mark.parametrize(("damaged", "cut"), [("data-00000-of-00001.arrow", 0.5), ("dataset_info.json", 0.5)])
def test_a_save_to_disk_folder_with_a_file_cut_short_names_that_file(tmp_path, damaged, cut):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "saved"))
    file = tmp_path / "saved" / damaged
    whole = file.read_bytes()
    file.write_bytes(whole[:int(len(whole) * cut)])
    out = refused(tmp_path, "saved")
    # before: "saved:1:1: … not a `save_to_disk` folder (Expected to read 336 metadata bytes, but only read 192)"
    assert f"saved/{damaged}:1:1: error[E4001]: source 's': saved is not a readable `save_to_disk` folder: its " \
           f"{damaged} is damaged or cut short (" in out
    assert "expected: the folder `save_to_disk` wrote: state.json, dataset_info.json and its .arrow files" in out
    assert "hint: copy the whole folder again, or save the dataset again with `save_to_disk`" in out
    file.write_bytes(whole)
    assert build(tmp_path, "saved")[0] == 0


CONLL = """hum: 1
name: ner
sources:
  c: {catalog: conll2003, path: eng.testa}
tasks:
  - source: c
    formats: [json]
output:
  splits: {train: 1.0}
"""


def test_a_damaged_first_line_of_a_conll_sentence_is_the_line_named(tmp_path):
    whole = "-DOCSTART- -X- O O\n\nEU NNP I-NP I-ORG\nrejects VBZ I-VP O\nGerman JJ I-NP I-MISC\ncall NN I-NP O\n"
    (tmp_path / "eng.testa").write_text(whole.replace("EU NNP I-NP I-ORG", "EU NNP"), encoding="utf-8")
    (tmp_path / "r.hum.yaml").write_text(CONLL, encoding="utf-8")
    result = run_cli("build", "r.hum.yaml", "-q", "-j", "1", cwd=tmp_path)
    assert result.exit_code == 2 and not (tmp_path / "out").exists()
    # before: "eng.testa:4:1: … 4 columns but expected 2", at the sentence's next line, which is whole
    assert "eng.testa:3:1: error[E4001]: source 'c': 2 columns but expected 4: the line has no 'col2', 'tags' " \
           "columns" in result.output
    (tmp_path / "eng.testa").write_text(whole, encoding="utf-8")
    assert run_cli("build", "r.hum.yaml", "-q", "-j", "1", cwd=tmp_path).exit_code == 0


TWO_SOURCES = """hum: 1
name: two
sources:
  a: {path: a.csv}
  b: {path: b.jsonl}
tasks:
  - {id: ta, task: classification, source: a, fields: {text: text, label: label}, labels: [World, Sports], formats: [json]}
  - {id: tb, task: classification, source: b, fields: {text: text, label: label}, labels: [World, Sports], formats: [json]}
output:
  splits: {train: 1.0}
"""


@pytest.mark.parametrize("empty", [b"", b"text,label\n"])
def test_a_source_left_empty_beside_others_is_a_warning_not_silence(tmp_path, empty):
    (tmp_path / "a.csv").write_bytes(empty)  # a download that failed midway, an export of no rows
    (tmp_path / "b.jsonl").write_bytes(jsonl(ROWS))
    (tmp_path / "r.hum.yaml").write_text(TWO_SOURCES, encoding="utf-8")
    result = run_cli("build", "r.hum.yaml", "-q", "-j", "1", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    # before: exit 0 and not a word: the dataset silently lacked task ta
    assert f"warning: source 'a' read 0 rows (its file {tmp_path / 'a.csv'} is empty or has a header only): the " \
           "tasks reading it gave no records" in result.output
    (tmp_path / "a.csv").write_bytes(csv(ROWS))
    assert "read 0 rows" not in run_cli("build", "r.hum.yaml", "-q", "-j", "1", cwd=tmp_path).output


def test_a_parquet_shard_with_other_columns_is_the_file_named(tmp_path, monkeypatch):
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    (tmp_path / "data").mkdir()
    pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / "data/a.parquet")
    pq.write_table(pa.table({"txt": ["x"], "label": ["World"]}), tmp_path / "data/b.parquet")  # a renamed column
    out = refused(tmp_path, "{dataset: {name: data}}")
    # before: located at the folder (data:1:1), the file that differs unnamed
    assert f"{tmp_path / 'data/b.parquet'}:1:1: error[E4001]: source 's': reading dataset " in out
    assert "failed after 6 record(s): its file b.parquet: CastError: Couldn't cast txt: string" in out
    assert "expected: files that share one schema" in out
    pq.write_table(pa.table({"text": ["x"], "label": ["World"]}), tmp_path / "data/b.parquet")
    assert build(tmp_path, "{dataset: {name: data}}")[0] == 0


@pytest.mark.parametrize(("document", "source", "where"), [
    (ROWS[:2] + [[1, 2]] + ROWS[2:], "data.json", "item 2 of the JSON list is a list"),
    ({"version": "1.0", "notes": [1, {"a": [2]}], "data": ROWS[:2] + ["oops"]}, "{path: data.json, options: {records: "
     "data}}", "item 2 of the JSON list under 'data' is a string"),
])
def test_a_non_object_item_of_a_pretty_printed_json_list_is_located_at_its_line(tmp_path, document, source, where):
    text = json.dumps(document, indent=2, ensure_ascii=False)  # json.dump(…, indent=2): one value per line
    (tmp_path / "data.json").write_text(text, encoding="utf-8")
    out = refused(tmp_path, source)
    line = next(n for n, ln in enumerate(text.splitlines(), 1) if ln.strip() in ("[", '"oops"') and n > 2)
    column = len(text.splitlines()[line - 1]) - len(text.splitlines()[line - 1].lstrip()) + 1
    # before: data.json:1:1, the list's first line, whatever the item
    assert f"data.json:{line}:{column}: error[E4001]: source 's': {where}, not an object" in out


@pytest.mark.parametrize("text", [b"", b"  \n\n"])
def test_an_empty_json_file_is_called_empty_not_cut_inside_a_value(tmp_path, text):
    (tmp_path / "data.json").write_bytes(text)
    out = refused(tmp_path, "data.json")
    # before: "hint: the file ends inside a JSON value: it looks cut short"
    assert "data.json:" in out and "error[E4001]: source 's': invalid JSON: Expecting value" in out
    assert "hint: the file is empty (or blank): a download or export that wrote nothing" in out


@pytest.mark.parametrize(("name", "write"), [("data.jsonl", jsonl), ("data.csv", csv)])
def test_utf16_without_a_byte_order_mark_hints_at_utf16_not_latin1(tmp_path, name, write):
    (tmp_path / name).write_bytes(write(ROWS).decode().encode("utf-16-le"))  # .NET's Encoding.Unicode, no preamble
    out = refused(tmp_path, name)
    # before: "hint: set the file's encoding, e.g. `options: {encoding: latin-1}`", which reads a NUL in every pair
    assert "error[E4001]: source 's': the file is not valid utf-8 text" in out
    assert "hint: the file looks like UTF-16 text without a byte-order mark: set `options: {encoding: utf-16-le}`" in out
    assert build(tmp_path, f"{{path: {name}, options: {{encoding: utf-16-le}}}}")[0] == 0


CONLL_TEXT = "-DOCSTART- -X- O O\n\nEU NNP I-NP I-ORG\nrejects VBZ I-VP O\n\nPeter NNP I-NP I-PER\nBlackburn NNP I-NP I-PER\n"


@pytest.mark.parametrize(("fmt", "text", "options"), [
    ("conll", CONLL_TEXT, {}),
    ("conllu", "# text = Hi there\n1\tHi\thi\tINTJ\t_\t_\t0\troot\t_\t_\n2\tthere\tthere\tADV\t_\t_\t1\tadvmod\t_\t_\n\n"
               "1\tBye\tbye\tINTJ\t_\t_\t0\troot\t_\t_\n", {}),
    ("blocks", "A sentence.\nCause-Effect(e1,e2)\n\nAnother one.\nOther\n", {"lines": ["text", "relation"]}),
    ("lines", "one\ntwo\n", {}),  # was: one, an empty record, two
    ("jsonl", '{"a": 1}\n{"a": 2}\n', {}),  # was: at lines 1 and 3
])
def test_lines_ending_in_cr_cr_lf_read_as_the_same_records_at_the_same_lines(tmp_path, fmt, text, options):
    plain, doubled = tmp_path / "plain.txt", tmp_path / "doubled.txt"
    plain.write_bytes(text.encode())
    doubled.write_bytes(text.replace("\n", "\r\n").encode().replace(b"\r\n", b"\r\r\n"))  # f.write("…\r\n") on Windows
    rows = list(read_source(SourceDef("s", plain, fmt, options)))
    # before: a blank line after every line, so every token was a sentence (415 one-token CoNLL-2003 records for 40)
    assert list(read_source(SourceDef("s", doubled, fmt, options))) == rows
    assert len(rows) == 2


def test_a_label_file_whose_lines_end_in_cr_cr_lf_pairs_line_n_with_record_n(tmp_path):
    (tmp_path / "valid.jsonl").write_bytes(jsonl([{"text": "a"}, {"text": "b"}]))
    (tmp_path / "valid-labels.lst").write_bytes(b"World\r\r\nSports\r\r\n")
    rows = read_source(SourceDef("s", tmp_path / "valid.jsonl", "jsonl", {"label_file": "{stem}-labels.lst"}))
    # before: "the label file valid-labels.lst has more lines than valid.jsonl has records (2)"
    assert [row.record["label"] for row in rows] == ["World", "Sports"]


def test_a_conll_file_cut_inside_its_last_line_says_it_looks_cut_short(tmp_path):
    whole = "-DOCSTART- -X- O O\n\nEU NNP I-NP I-ORG\nrejects VBZ I-VP O\n\nPeter NNP I-NP I-PER\nBlackburn NNP I-NP I-PER\n"
    (tmp_path / "eng.testa").write_text(whole[:-12], encoding="utf-8")  # a download stopped mid-line: "Blackburn NNP"
    (tmp_path / "r.hum.yaml").write_text(CONLL, encoding="utf-8")
    result = run_cli("build", "r.hum.yaml", "-q", "-j", "1", cwd=tmp_path)
    assert result.exit_code == 2 and not (tmp_path / "out").exists()
    assert "eng.testa:7:1: error[E4001]: source 'c': 2 columns but expected 4" in result.output
    # before: only the hint to name the columns, as if the file were whole
    assert "hint: the file's last line has no line end: the file looks cut short (copy it again); " in result.output
    (tmp_path / "eng.testa").write_text(whole, encoding="utf-8")
    assert run_cli("build", "r.hum.yaml", "-q", "-j", "1", cwd=tmp_path).exit_code == 0


@pytest.mark.parametrize(("name", "text"), [("data.csv", "text,label\nhello,World\nhi there"),
                                            ("data.tsv", "text\tlabel\nhello\tWorld\nhi there")])
def test_a_table_cut_inside_its_last_row_says_it_looks_cut_short(tmp_path, name, text):
    (tmp_path / name).write_text(text, encoding="utf-8")  # a download or export stopped mid-row
    out = refused(tmp_path, name)
    # before: only "quote values that hold the delimiter; rows of varying length can collect …"
    assert f"{name}:3:1: error[E4001]: source 's': 1 values but 2 columns" in out
    assert "hint: the file's last line has no line end: the file looks cut short (copy it again); " in out
    (tmp_path / name).write_text(text + text[text.index("World") - 1:text.index("World") + 5] + "\n", encoding="utf-8")
    assert build(tmp_path, name)[0] == 0


def test_a_short_row_that_is_not_the_last_is_not_called_cut_short(tmp_path):
    (tmp_path / "data.csv").write_text("text,label\nhi there\nhello,World", encoding="utf-8")
    out = refused(tmp_path, "data.csv")
    assert "data.csv:2:1: error[E4001]: source 's': 1 values but 2 columns" in out and "cut short" not in out
