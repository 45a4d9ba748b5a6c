"""Datasets in their original published layouts (tests/data/<name>/, each with a SOURCE.md) build with recipes a user
writes from the docs: BoolQ JSON Lines with a boolean answer, SNLI JSON Lines and MultiNLI's unquoted TSV with `-`
labels, WikiANN's Hub Parquet with ClassLabel integers, TACRED's inclusive token offsets (slices), FewRel's object keyed
by relation (`key_column`), DocRED's entity index lists (`flatten`, `pluck` by index, `lookup` through a `.json`
constant), and IMDB's one-review-per-file label folders (`format: text_files`). Every written answer is the gold."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import REPO, run_cli

from humc.errors import EvalError, SourceError
from humc.expr import Evaluator, Source, parse_pipeline
from humc.expr.functions import FunctionError, flatten, lookup, pluck
from humc.ir import SourceDef
from humc.sources import read_source

DATA = REPO / "tests" / "data"
NAMES = ["boolq", "snli", "multinli", "wikiann", "tacred", "fewrel", "docred", "imdb"]

RECIPE = """hum: 1
name: layouts
language: en
constants:
  pid2name: {file: data/fewrel/pid2name.json}
  rel_info: {file: data/docred/rel_info.json}
  imdb_labels: {neg: negative, pos: positive}
sources:
  boolq: data/boolq/dev.head6.jsonl
  snli: data/snli/snli_1.0_dev.head7.jsonl
  mnli: data/multinli/dev_matched.head6.txt
  wikiann: {path: data/wikiann/en-validation-00000-of-00001.head7.parquet, options: {class_labels: true}}
  tacred: data/tacred/dev.head5.json
  fewrel: {path: data/fewrel/val_wiki.head4.json, options: {key_column: relation}}
  docred: data/docred/dev.head3.json
  imdb: {path: data/imdb/aclImdb/test, format: text_files, options: {pattern: "*.txt"}}
tasks:
  - id: boolq
    task: mrc_yes_no
    source: boolq
    fields:
      context: passage
      question: question + "?"
      answer: lookup(int(answer), ["no", "yes"])
    labels: ["yes", "no"]
    formats: [label_only]
  - id: snli
    task: nli
    source: snli
    fields: {premise: sentence1, hypothesis: sentence2, label: gold_label}
    where: label != "-"
    labels: [entailment, neutral, contradiction]
    formats: [label_only]
  - id: mnli
    task: nli
    source: mnli
    fields: {premise: sentence1, hypothesis: sentence2, label: gold_label}
    where: label != "-"
    labels: [entailment, neutral, contradiction]
    formats: [label_only]
  - id: wikiann
    task: ner
    source: wikiann
    fields:
      text: tokens | join(" ")
      entities: bio_spans(tokens, ner_tags, scheme="iob2")
    labels: [PER, ORG, LOC]
    preferences: [order_entities_by_position, empty_brackets]
    formats: [json]
  - id: tacred
    task: re
    source: tacred
    fields:
      text: token | join(" ")
      relations: >-
        rows_without(zip_records(head=[join(token[subj_start:subj_end + 1], " ")], relation=[relation],
        tail=[join(token[obj_start:obj_end + 1], " ")]), "relation", "no_relation")
    preferences: [empty_brackets]
    formats: [json]
  - id: fewrel
    task: re
    source: fewrel
    fields:
      text: tokens | join(" ")
      relations: >-
        zip_records(head=[join(lookup(h[2][0], tokens), " ")], relation=[get(pid2name, relation)[0]],
        tail=[join(lookup(t[2][0], tokens), " ")])
    formats: [json]
  - id: docred
    task: re
    source: docred
    fields:
      text: flatten(sents) | join(" ")
      relations: >-
        zip_records(head=pluck(lookup(labels.h, vertexSet).name, 0), relation=lookup(labels.r, rel_info),
        tail=pluck(lookup(labels.t, vertexSet).name, 0))
    preferences: [empty_brackets]
    formats: [json]
  - id: imdb
    task: classification
    source: imdb
    fields:
      text: replace(text, "<br /><br />", " ")
      label: lookup(label, imdb_labels)
    labels: [negative, positive]
    formats: [label_only]
output:
  splits: {train: 1.0}
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """The layouts recipe built once; its rows by task entry, in source order."""
    tmp = tmp_path_factory.mktemp("layouts")
    for name in NAMES:
        shutil.copytree(DATA / name, tmp / "data" / name)
    (tmp / "layouts.hum.yaml").write_text(RECIPE, encoding="utf-8")
    result = run_cli("build", "layouts.hum.yaml", "-q", "--strict", cwd=tmp)
    assert result.exit_code == 0, result.output
    rows = [r for f in sorted((tmp / "out" / "layouts" / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    by_entry: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(rows, key=lambda r: (r["task_entry"], r["source_row"])):
        by_entry.setdefault(row["task_entry"], []).append(row)
    return by_entry


def test_every_sample_folder_says_where_its_format_comes_from():
    for name in NAMES:
        text = (DATA / name / "SOURCE.md").read_text(encoding="utf-8")
        assert "Published" in text and "NOT copied" in text and "tests/test_layouts.py" in text, name


def test_boolq_answers_yes_or_no_from_the_json_boolean(built: dict[str, list[dict[str, Any]]]):
    want = ["yes" if json.loads(line)["answer"] else "no"
            for line in (DATA / "boolq" / "dev.head6.jsonl").read_text(encoding="utf-8").splitlines()]
    rows = built["boolq"]
    assert [r["output"] for r in rows] == want == ["yes", "yes", "yes", "yes", "no", "no"]
    assert "do iran and afghanistan speak the same language?" in rows[0]["instruction"]
    assert "Persian (/ˈpɜːrʒən" in rows[0]["instruction"]  # \\u escapes decoded


def test_snli_and_multinli_keep_gold_labels_and_drop_the_no_majority_dash(built: dict[str, list[dict[str, Any]]]):
    snli = built["snli"]
    assert [r["output"] for r in snli] == ["neutral", "contradiction", "entailment", "neutral", "neutral", "entailment"]
    assert 5 not in [r["source_row"] for r in snli]  # gold_label "-"
    mnli = built["mnli"]
    assert [r["output"] for r in mnli] == ["neutral", "contradiction", "entailment", "contradiction", "entailment"]
    shown = [r["instruction"].replace('\\"', '"') for r in mnli]  # some templates show the inputs as JSON
    assert '"I don\'t know what you mean," Tommy said.' in shown[3]  # quotes are text in MultiNLI's TSV
    assert 'its sails "full of wind.' in shown[4]  # an unbalanced quote does not swallow the next rows


def test_wikiann_classlabel_integers_read_as_their_names(built: dict[str, list[dict[str, Any]]]):
    got = [json.loads(r["output"]) for r in built["wikiann"]]
    assert got[0] == [{"type": "ORG", "span": "R.H. Saunders"}, {"type": "ORG", "span": "St. Lawrence River"}]
    assert got[1] == [{"type": "PER", "span": "Richard Kinder"}, {"type": "ORG", "span": "Enron"}]
    assert got[6] == [{"type": "LOC", "span": "Ozark Plateau"}]
    spans = [row["spans"] for row in pq.read_table(DATA / "wikiann" / "en-validation-00000-of-00001.head7.parquet")
             .to_pylist()]
    assert [[f"{e['type']}: {e['span']}" for e in g] for g in got] == spans  # the file's own `spans` column agrees


def test_tacred_token_offsets_are_inclusive_and_no_relation_is_empty(built: dict[str, list[dict[str, Any]]]):
    got = [json.loads(r["output"]) for r in built["tacred"]]
    assert got[0] == [{"head": "Douglas Flint", "relation": "per:title", "tail": "chairman"}]
    assert got[1] == []
    assert got[3] == [{"head": "Flint & Co.", "relation": "org:founded_by", "tail": "Douglas Flint"}]
    assert got[4] == [{"head": "Federal Bureau of Investigation", "relation": "org:alternate_names", "tail": "FBI"}]
    assert "-LRB- AFP -RRB-" in built["tacred"][2]["instruction"]


def test_fewrel_reads_every_relation_of_the_keyed_object_with_its_name(built: dict[str, list[dict[str, Any]]]):
    got = [json.loads(r["output"])[0] for r in built["fewrel"]]
    assert [(g["head"], g["relation"], g["tail"]) for g in got] == [
        ("TJQ", "place served by transport hub", "Tanjung Pandan"),
        ("East Midlands Airport", "place served by transport hub", "Nottingham"),
        ("Pont de Normandie", "crosses", "Seine"), ("It", "crosses", "Hudson River")]


def test_docred_relations_name_the_first_mention_of_each_entity(built: dict[str, list[dict[str, Any]]]):
    got = [json.loads(r["output"]) for r in built["docred"]]
    assert got[0] == [{"head": "Skai TV", "relation": "headquarters location", "tail": "Piraeus"},
                      {"head": "Skai TV", "relation": "country", "tail": "Greek"},
                      {"head": "Skai TV", "relation": "owned by", "tail": "Skai Group"}]
    assert got[1] == [{"head": "Lark Force", "relation": "part of", "tail": "Australian Army"}]
    assert got[2] == []
    assert "Skai TV is a Greek free - to - air television network Piraeus . Skai TV is part" in \
        built["docred"][0]["instruction"]


def test_imdb_label_folders_become_labels_and_side_files_are_not_records(built: dict[str, list[dict[str, Any]]]):
    rows = built["imdb"]
    assert [r["output"] for r in rows] == ["negative", "negative", "negative", "positive", "positive"]
    assert "A classic." in rows[3]["instruction"] and "<br />" not in rows[3]["instruction"]
    assert not any("imdb.com/title" in r["instruction"] for r in rows)  # urls_pos.txt is beside the folders


# ---------------------------------------------------------------- the capabilities these layouts needed


def ev(text: str, env: dict[str, Any]) -> Any:
    return Evaluator(Source(text)).eval(parse_pipeline(text), env)


@pytest.mark.parametrize("text, expected", [
    ("tokens[1:3]", ["b", "c"]), ("tokens[:2]", ["a", "b"]), ("tokens[2:]", ["c", "d"]), ("tokens[-1:]", ["d"]),
    ("tokens[s:e + 1] | join(\" \")", "b c d"), ("word[0:3]", "Par"), ("tokens[:]", ["a", "b", "c", "d"]),
])
def test_a_slice_takes_a_range_of_a_list_or_text_end_excluded(text: str, expected: Any):
    assert ev(text, {"tokens": ["a", "b", "c", "d"], "s": 1, "e": 3, "word": "Paris"}) == expected


@pytest.mark.parametrize("text, message", [
    ("m[0:1]", "cannot slice mapping"), ("tokens[x:2]", "slice bound must be a whole number, not string"),
    ("tokens[0:true]", "whole number, not boolean"),
])
def test_a_slice_of_a_mapping_or_by_a_non_number_is_an_error(text: str, message: str):
    with pytest.raises(EvalError) as exc:
        ev(text, {"tokens": ["a"], "m": {"a": 1}, "x": "1"})
    assert message in str(exc.value) and exc.value.code == "E4102"


def test_lookup_maps_keys_through_a_mapping_and_names_a_missing_key():
    names = {"P17": "country", "P159": "headquarters location"}
    assert lookup(["P159", "P17"], names) == ["headquarters location", "country"]
    assert lookup("P17", names) == "country"
    with pytest.raises(FunctionError, match=r"key 'P6' is not in the mapping \(keys: 'P17', 'P159'\)"):
        lookup("P6", names)


def test_pluck_by_index_takes_that_item_of_each_list_and_flatten_joins_one_level():
    assert pluck([["Skai TV", "Skai"], ["Greek"], []], 0) == ["Skai TV", "Greek", ""]
    assert pluck([["a", "b"], "plain"], -1, None) == ["b", "plain"]
    assert flatten([["Skai", "TV"], ["is"], "x"]) == ["Skai", "TV", "is", "x"]


def test_key_column_reads_every_list_of_a_keyed_object_and_refuses_other_shapes(tmp_path: Path):
    path = tmp_path / "fewrel.json"
    path.write_text(json.dumps({"P1": [{"t": 1}, {"t": 2}], "P2": [{"t": 3}]}), encoding="utf-8")
    rows = [r.record for r in read_source(SourceDef("s", path, "json", {"key_column": "relation"}))]
    assert rows == [{"t": 1, "relation": "P1"}, {"t": 2, "relation": "P1"}, {"t": 3, "relation": "P2"}]
    with pytest.raises(SourceError) as exc:  # without the option the hint names it
        list(read_source(SourceDef("s", path, "json", {})))
    assert exc.value.hint is not None and "key_column" in exc.value.hint
    path.write_text(json.dumps({"P1": [{"t": 1}], "P2": "oops"}), encoding="utf-8")
    with pytest.raises(SourceError, match="value of key 'P2' is not a list of objects"):
        list(read_source(SourceDef("s", path, "json", {"key_column": "relation"})))
    path.write_text(json.dumps([{"t": 1}]), encoding="utf-8")
    with pytest.raises(SourceError, match="needs a JSON object, found list") as exc:
        list(read_source(SourceDef("s", path, "json", {"key_column": "relation"})))
    assert exc.value.span is not None and exc.value.span.line == 1


def test_text_files_refuse_a_file_a_folder_without_label_folders_and_undecodable_bytes(tmp_path: Path):
    (tmp_path / "pos").mkdir()
    (tmp_path / "pos" / "1_9.txt").write_bytes(b"good\nfilm")
    (tmp_path / "pos" / ".hidden").write_bytes(b"x")
    (tmp_path / "README").write_bytes(b"not a record")
    rows = [r.record for r in read_source(SourceDef("s", tmp_path, "text_files", {}))]
    assert rows == [{"text": "good\nfilm", "label": "pos", "file": "pos/1_9.txt"}]
    with pytest.raises(SourceError, match="reads a folder, and README is a file"):
        list(read_source(SourceDef("s", tmp_path / "README", "text_files", {})))
    with pytest.raises(SourceError, match=r"no file matching '\*.txt' in a subfolder of empty \(no subfolders\)"):
        (tmp_path / "empty").mkdir()
        list(read_source(SourceDef("s", tmp_path / "empty", "text_files", {"pattern": "*.txt"})))
    (tmp_path / "pos" / "2_1.txt").write_bytes(b"ok\ncaf\xe9")
    with pytest.raises(SourceError) as exc:
        list(read_source(SourceDef("s", tmp_path, "text_files", {})))
    assert exc.value.span is not None and (exc.value.span.file.endswith("2_1.txt"), exc.value.span.line,
                                           exc.value.span.col) == (True, 2, 4)
    assert [r.record["text"] for r in read_source(SourceDef("s", tmp_path, "text_files", {"encoding": "latin-1"}))] \
        == ["good\nfilm", "ok\ncafé"]


def test_class_labels_need_the_hub_features_metadata_and_keep_minus_one_as_null(tmp_path: Path):
    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"label": [0, 1]}), plain)
    with pytest.raises(SourceError, match="no Hugging Face features metadata") as exc:
        list(read_source(SourceDef("s", plain, "parquet", {"class_labels": True})))
    assert exc.value.hint is not None and "lookup(" in exc.value.hint
    hub = tmp_path / "hub.parquet"
    features = {"label": {"names": ["neg", "pos"], "_type": "ClassLabel"},
                "tags": [{"names": ["O", "B-X"], "_type": "ClassLabel"}],
                "text": {"dtype": "string", "_type": "Value"}}
    table = pa.table({"label": [1, -1], "tags": [[0, 1], None], "text": ["a", "b"]})
    pq.write_table(table.replace_schema_metadata({"huggingface": json.dumps({"info": {"features": features}})}), hub)
    rows = [r.record for r in read_source(SourceDef("s", hub, "parquet", {"class_labels": True}))]
    assert rows == [{"label": "pos", "tags": ["O", "B-X"], "text": "a"}, {"label": None, "tags": None, "text": "b"}]
    assert [r.record["label"] for r in read_source(SourceDef("s", hub, "parquet", {}))] == [1, -1]


CONSTANTS = """hum: 1
name: c
constants:
{constant}
sources:
  qa: data.jsonl
tasks:
  - id: qa
    task: classification
    source: qa
    fields: {{text: text, label: "lookup(label, names)"}}
    formats: [label_only]
"""


def _constant_recipe(tmp_path: Path, constant: str) -> Path:
    (tmp_path / "data.jsonl").write_text('{"text": "hi", "label": "p"}\n', encoding="utf-8")
    (tmp_path / "c.hum.yaml").write_text(CONSTANTS.format(constant=constant), encoding="utf-8")
    return tmp_path


def test_a_mapping_constant_and_a_json_constant_file_are_label_maps(tmp_path: Path):
    _constant_recipe(tmp_path, "  names: {p: positive}")
    result = run_cli("check", "c.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert "problems: none" in result.output
    (tmp_path / "names.json").write_text('{"p": "positive"}', encoding="utf-8")
    _constant_recipe(tmp_path, "  names: {file: names.json}")
    result = run_cli("check", "c.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert "problems: none" in result.output


@pytest.mark.parametrize("constant, where, message", [
    ("  names: {file: names.json}", "names.json:1:7", "names.json is not valid JSON"),
    ("  names: {fiel: names.txt}", "c.hum.yaml:4:11", "unknown key 'fiel' in constant 'names'"),
])
def test_a_broken_json_constant_or_a_misspelt_file_key_is_a_located_error(tmp_path: Path, constant: str,
                                                                          where: str, message: str):
    (tmp_path / "names.json").write_text('{"p": }', encoding="utf-8")
    _constant_recipe(tmp_path, constant)
    result = run_cli("check", "c.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 2 and where in result.output and message in result.output, result.output


def test_a_folder_whose_format_cannot_be_told_points_at_the_folder_formats(tmp_path: Path):
    (tmp_path / "reviews" / "pos").mkdir(parents=True)
    (tmp_path / "reviews" / "pos" / "0_9.txt").write_text("fine", encoding="utf-8")
    recipe = CONSTANTS.format(constant="  names: {pos: positive}").replace("qa: data.jsonl", "qa: reviews")
    (tmp_path / "c.hum.yaml").write_text(recipe, encoding="utf-8")
    result = run_cli("check", "c.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 2 and "E4002" in result.output and "format: text_files" in result.output, result.output
