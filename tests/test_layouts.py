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

import pyarrow.parquet as pq
import pytest
from helpers import REPO, run_cli

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
