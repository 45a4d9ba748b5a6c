"""Readers on real public files, read as published (tests/data/<name>/, see each SOURCE.md):
format sniffing, JSON Lines under a `.json` name, CoNLL markers and comments, CSV/TSV quoting,
grouped variable-arity TSV (CaRB), Arrow; tag schemes and text normalisation functions."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from helpers import REPO

from humc.errors import SourceError
from humc.expr.functions import FunctionError, bio_spans, fix_entities, squash_spaces, tag_scheme, unescape
from humc.ir import SourceDef
from humc.sources import infer_format, read_source

DATA = REPO / "tests" / "data"


def read(path: Path, fmt: str, **options) -> list[dict]:
    return [row.record for row in read_source(SourceDef("s", path, fmt, options))]


def test_duee_json_lines_under_a_json_name_are_read_as_json_lines():
    path = DATA / "duee" / "duee_dev.head60.json"
    assert infer_format(path) == "jsonl"
    rows = read(path, infer_format(path))
    assert len(rows) == 60 and rows[0]["event_list"][0]["trigger"] == "裁掉"


def test_a_json_parse_error_on_json_lines_hints_at_jsonl(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"a": 1}\n{"a": 2}\n', encoding="utf-8")
    with pytest.raises(SourceError) as exc:
        read(path, "json")
    assert exc.value.span.line == 2 and "format: jsonl" in (exc.value.hint or "")


@pytest.mark.parametrize(("name", "text", "fmt"), [
    ("eng.testb", "-DOCSTART- -X- O O\n\nEU NNP I-NP I-ORG\nrejects VBZ I-VP O\n", "conll"),
    ("train.bmes", "中 B-LOC\n国 E-LOC\n人 S-PER\n", "conll"),
    ("dev.label", "a\t1\nb\t2\n", "tsv"),
    ("DATA.TXT", "x,y\n1,2\n", "csv"),
    ("events.data", '{"a": 1}\n{"a": 2}\n', "jsonl"),
])
def test_the_format_is_guessed_from_content_when_the_extension_says_nothing(tmp_path, name, text, fmt):
    (tmp_path / name).write_text(text, encoding="utf-8")
    assert infer_format(tmp_path / name) == fmt


def test_conll2003_iob1_with_docstart_and_comments(tmp_path):
    rows = read(DATA / "conll2003" / "eng.testa.head", "conll", columns=["tokens", "pos", "chunk", "ner"])
    assert rows[0]["tokens"][:2] == ["CRICKET", "-"] and not any("-DOCSTART-" in r["tokens"] for r in rows)
    assert tag_scheme([t for r in rows for t in r["ner"]]) == "iob1"
    path = tmp_path / "c.conll"
    path.write_text("# id = 1\n## DOC 7\nEU B-ORG\n\n# comment\nBonn B-LOC\n", encoding="utf-8")
    assert [r["tokens"] for r in read(path, "conll", comment="#")] == [["EU"], ["Bonn"]]
    assert [r["tokens"] for r in read(path, "conll", doc_start="#+ ?(DOC|id)")][0] == ["EU"]


def test_msra_crlf_character_file_decodes_to_spans():
    rows = read(DATA / "msra_ner" / "test.head150.txt", "conll")
    spans = [e for r in rows for e in bio_spans(r["tokens"], r["tags"], sep="")]
    assert len(rows) == 150 and spans and all("\r" not in t for r in rows for t in r["tags"])


def test_go_emotions_quoted_fields_are_unquoted_only_when_asked():
    path = DATA / "go_emotions" / "dev.head300.tsv"
    quoted = read(path, "tsv", header=False, columns=["text", "labels", "id"], quoting="minimal")
    raw = read(path, "tsv", header=False, columns=["text", "labels", "id"])
    changed = [(a["text"], b["text"]) for a, b in zip(quoted, raw, strict=True) if a != b]
    assert changed and all(b.startswith('"') and not a.startswith('""') for a, b in changed)


def test_carb_variable_arity_lines_grouped_by_sentence():
    rows = read(DATA / "openie_carb" / "dev.head300.tsv", "tsv", header=False,
                columns=["sentence", "relation", "arg1", "arg2"], rest="more", group_by="sentence")
    first = rows[0]
    assert first["sentence"].startswith("Earlier this year")
    assert first["relation"][:2] == ["made a final `` take - it - or - leave it '' offer on", "is"]
    assert first["more"][0] == ["Earlier this year"] and len({r["sentence"] for r in rows}) == len(rows)


def test_arrow_stream_file_and_save_to_disk_folder(tmp_path):
    table = pa.table({"text": ["a", "b"], "label": [0, 1]})
    folder = tmp_path / "ds"
    folder.mkdir()
    with pa.ipc.new_stream(str(folder / "data-00000-of-00001.arrow"), table.schema) as w:
        w.write_table(table)
    (folder / "dataset_info.json").write_text("{}", encoding="utf-8")
    assert infer_format(folder / "data-00000-of-00001.arrow") == "arrow"
    assert read(folder / "data-00000-of-00001.arrow", "arrow") == [{"text": "a", "label": 0}, {"text": "b", "label": 1}]
    assert infer_format(folder) == "arrow"


@pytest.mark.parametrize(("tags", "scheme", "spans"), [
    (["I-PER", "I-PER", "B-PER", "O"], "iob1", [(0, 2), (2, 3)]),
    (["B-PER", "I-PER", "O", "B-LOC"], "iob2", [(0, 2), (3, 4)]),
    (["U-PER", "B-LOC", "L-LOC", "O"], "bilou", [(0, 1), (1, 3)]),
    (["B-PER", "I-PER", "E-PER", "S-LOC"], "bioes", [(0, 3), (3, 4)]),
    (["B-PER", "M-PER", "E-PER", "S-LOC"], "bmes", [(0, 3), (3, 4)]),
])
def test_tag_schemes_are_detected_and_decoded(tags, scheme, spans):
    tokens = list("abcd")
    assert tag_scheme(tags) == scheme
    assert [(e["start"], e["end"]) for e in bio_spans(tokens, tags)] == spans
    assert [(e["start"], e["end"]) for e in bio_spans(tokens, tags, scheme=scheme)] == spans


def test_inconsistent_tags_name_the_token():
    with pytest.raises(FunctionError, match=r"token 1 \('b'\).*not open under iob2"):
        bio_spans(["a", "b"], ["O", "I-PER"], scheme="iob2")
    with pytest.raises(FunctionError, match="never closed"):
        bio_spans(["a", "b", "c"], ["B-PER", "I-PER", "O"], scheme="bioes")


def test_ag_news_text_normalisation_is_explicit():
    rows = read(DATA / "ag_news" / "train.head80.csv", "csv", header=False, columns=["label", "title", "text"])
    assert rows[0]["label"] == "3" and "dwindling\\band" in rows[0]["text"]  # the reader never rewrites
    assert unescape(rows[0]["text"], newline=" ") .endswith("dwindling band of ultra-cynics, are seeing green again.")
    assert fix_entities("rose #36;1.5 billion, it#39;s quot;big quot;") == "rose $1.5 billion, it's \"big \""
    assert squash_spaces("  a \t b\n c ") == "a b c"
    assert json.dumps(unescape(r"a\\b")) == json.dumps("a\\b")
