"""Hub versions that hold several records in one row, read through `hub_layout: {options: {explode: …}}`.

`datasets` stores a `Sequence` of dicts as a struct of lists: the Hub's C3 (dataset-org/c3) keeps one row per document
with `questions: {question: [...], answer: [...], choice: [[...]]}`, and OntoNotes (ontonotes/conll2012_ontonotesv5)
one row per document with a list of sentence structs whose `named_entities` are ClassLabel integers. The samples under
tests/data/{c3,ontonotes_conll2012}/hub/ are the published samples beside them in that layout (their SOURCE.md says
how they were made); each must build exactly the records the adapter builds from the published files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import REPO, run_cli
from test_catalog_hub import build_rows
from test_sources_hub import hub, humc  # noqa: F401  (the loopback Hub fixture)

from humc.ir import SourceDef
from humc.recipe.stdlib import load_stdlib
from humc.sources import read_source

DATA = REPO / "tests" / "data"
C3_D, C3_M = "c3/hub/dialog/validation-00000-of-00001.parquet", "c3/hub/mixed/validation-00000-of-00001.parquet"
ONTO = "ontonotes_conll2012/hub/english_v4/validation-00000-of-00001.parquet"

# adapter, published sample, its Hub version
CASES = [("c3", "c3/c3-d-dev.head4.json", C3_D), ("c3", "c3/c3-m-dev.head3.json", C3_M),
         ("ontonotes_conll2012", "ontonotes_conll2012/bn", ONTO)]


def copy(sample: str, root: Path) -> str:
    target = root / "data" / sample
    target.parent.mkdir(parents=True, exist_ok=True)
    (shutil.copytree if (DATA / sample).is_dir() else shutil.copy)(DATA / sample, target)
    return f"../data/{sample}"


@pytest.mark.parametrize(("name", "published", "hub_file"), CASES, ids=["c3-dialog", "c3-mixed", "ontonotes"])
def test_the_hub_parquet_export_builds_the_published_files_records(name: str, published: str, hub_file: str,
                                                                    tmp_path: Path):
    want = build_rows(tmp_path, "published", f"{name}, path: {copy(published, tmp_path)}")
    got = build_rows(tmp_path, "hub", f"{name}, path: {copy(hub_file, tmp_path)}")
    assert len(want) == {C3_D: 4, C3_M: 5, ONTO: 7}[hub_file]  # one record per question / per sentence
    assert got == want  # the same instruction, output and gold for every source row


@pytest.mark.parametrize("form", ["path: ../saved", "dataset: {name: ../hubdata, split: validation}"])
def test_a_save_to_disk_folder_and_a_dataset_folder_of_the_hub_version_are_exploded_too(form: str, tmp_path: Path):
    ds = datasets.load_dataset("parquet", data_files=str(DATA / ONTO), split="train")
    ds.save_to_disk(str(tmp_path / "saved"))
    shutil.copytree((DATA / ONTO).parent, tmp_path / "hubdata" / "data")
    want = build_rows(tmp_path, "published", f"ontonotes_conll2012, path: {copy('ontonotes_conll2012/bn', tmp_path)}")
    assert build_rows(tmp_path, "hub", f"ontonotes_conll2012, {form}") == want


def test_the_hub_rows_are_exploded_one_record_per_question_and_sentence():
    c3 = load_stdlib().catalog["c3"]
    rows = [r.record for r in read_source(SourceDef("x", DATA / C3_M, "parquet", c3.hub_options))]
    assert [(r["document_id"], r["index"], r["questions"]["answer"]) for r in rows] == \
        [("11-67", 0, "他是一个很虚心的人"), ("8-707", 0, "错误"), ("m1-36", 0, "吃饭"), ("m1-36", 1, "成功"),
         ("m1-36", 2, "爱最值得珍惜")]
    assert isinstance(rows[0]["questions"]["choice"], list) and isinstance(rows[0]["questions"]["choice"][0], str)
    onto = load_stdlib().catalog["ontonotes_conll2012"]
    sentences = [r.record for r in read_source(SourceDef("o", DATA / ONTO, "parquet",
                                                         {**onto.hub_options, "class_labels": True}))]
    assert [(r["document_id"], r["index"]) for r in sentences][4:6] == [("bn/abc/00/abc_0049", 4),
                                                                        ("bn/abc/00/abc_0059", 0)]
    assert sentences[5]["sentences"]["named_entities"][:5] == ["O", "B-NORP", "O", "B-PERSON", "I-PERSON"]


def test_a_hub_dataset_with_configs_is_streamed_and_exploded(hub: Any, tmp_path: Path) -> None:  # noqa: F811
    card = "---\nconfigs:\n- config_name: mixed\n  data_files:\n  - split: validation\n    path: mixed/validation-*\n" \
           "- config_name: dialog\n  data_files:\n  - split: validation\n    path: dialog/validation-*\n---\n"
    hub.state.put("dataset-org/c3", {"README.md": card.encode(), C3_M.removeprefix("c3/hub/"): (DATA / C3_M).read_bytes(),
                                     C3_D.removeprefix("c3/hub/"): (DATA / C3_D).read_bytes()})
    recipe = tmp_path / "r.hum.yaml"
    recipe.write_text("hum: 1\nname: r\nsources:\n  x: {catalog: c3, dataset: {name: dataset-org/c3, config: mixed, "
                      "split: validation}}\ntasks:\n  - source: x\noutput: {splits: {train: 1.0}}\n", encoding="utf-8")
    build = humc(tmp_path, "build", recipe, "--out", tmp_path / "out", endpoint=hub.url)
    assert build.returncode == 0, build.stderr
    table = pq.read_table(tmp_path / "out" / "r" / "data").to_pylist()
    assert [json.loads(r["gold"]) for r in sorted(table, key=lambda r: r["source_row"])] == \
        [[{"answer": a}] for a in "CBABB"]  # as the published c3-m-dev sample gives (test_real_datasets)


def build_own_parquet(root: Path, qa: list[dict[str, list[str]]]) -> Any:
    """A recipe's own Parquet source of struct-of-lists rows `qa: {q, a}`, exploded over both lists, built."""
    pq.write_table(pa.table({"qa": qa}), root / "qa.parquet")
    (root / "r.hum.yaml").write_text(
        "hum: 1\nname: r\nsources:\n  s: {path: qa.parquet, options: {explode: [qa.q, qa.a]}}\ntasks:\n"
        "  - task: classification\n    source: s\n    fields: {text: qa.q, label: qa.a}\n    labels: ['1', '2', '3']\n"
        "output: {splits: {train: 1.0}}\n", encoding="utf-8")
    return run_cli("build", "r.hum.yaml", "-q", cwd=root)


def test_a_parquet_source_of_the_recipes_own_explodes_a_list_inside_a_struct(tmp_path: Path):
    result = build_own_parquet(tmp_path, [{"q": ["a?", "b?"], "a": ["1", "2"]}, {"q": ["c?"], "a": ["3"]}])
    assert result.exit_code == 0, result.output
    built = pq.read_table(tmp_path / "out" / "r" / "data").to_pylist()
    assert sorted((r["source_row"], json.loads(r["gold"])[0]["label"]) for r in built) == [(0, "1"), (1, "2"), (2, "3")]


def test_lists_of_other_lengths_under_explode_are_a_located_error(tmp_path: Path):
    result = build_own_parquet(tmp_path, [{"q": ["a?"], "a": ["1"]}, {"q": ["b?", "c?"], "a": ["2"]}])
    assert result.exit_code == 2
    assert "qa.parquet:1:1: error[E4001]: source 's': record 1 has no parallel lists under qa.q, qa.a" in result.output
    assert "expected: lists of one length under: qa.q, qa.a (found: qa.q: 2 items, qa.a: 1 item)" in result.output
    assert not (tmp_path / "out").exists()


LAYOUT = """id: mine
task: mrc_multiple_choice
description: C3 as an own adapter
license: test
hub: org/mine
format: json
fields: {context: document, question: questions.question, options: questions.choice, answer: questions.answer}
hub_layout:
  options: {OPTIONS}
"""


@pytest.mark.parametrize(("options", "where", "message"), [
    ("{explod: [a]}", "9:13", "error[E0005]: unknown option 'explod' for the Hub's version"),
    ("{columns: [a]}", "9:13", "error[E0005]: unknown option 'columns' for the Hub's version"),
    ("{explode: []}", "9:22", "error[E0008]: bad value for option 'explode' of 'hub_layout' of catalog entry mine.yaml: "
                              "not a non-empty list of names"),
    ("[explode]", "9:12", "error[E0007]: 'options' of 'hub_layout' of catalog entry mine.yaml must be a mapping, not a list"),
])
def test_a_bad_hub_layout_option_is_reported_at_its_line_in_the_catalog_file(options: str, where: str, message: str,
                                                                               tmp_path: Path):
    (tmp_path / "lib" / "catalog").mkdir(parents=True)
    (tmp_path / "lib" / "catalog" / "mine.yaml").write_text(LAYOUT.replace("{OPTIONS}", options), encoding="utf-8")
    (tmp_path / "r.hum.yaml").write_text("hum: 1\nname: r\nstdlib: lib\nsources:\n  x: {catalog: mine, path: m.json}\n"
                                         "tasks:\n  - source: x\n", encoding="utf-8")
    (tmp_path / "m.json").write_text("[]", encoding="utf-8")
    result = run_cli("check", "r.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 2
    assert f"mine.yaml:{where}: {message}" in result.output


def test_stdlib_catalog_shows_the_hub_layouts_options_apart_from_its_fields():
    # C3 has a field named `options`: the hub_layout's reader options are not listed as one of the fields
    shown = run_cli("stdlib", "catalog", "c3").output
    assert "  Hub version:  fields over the ones above (ClassLabels read as names):\n" \
           "    context: documents | join(\"\\n\")\n" \
           "  Hub options:  {explode: [questions.question, questions.answer, questions.choice]}\n" in shown
    assert "  Hub options:  {explode: [sentences]}\n" in run_cli("stdlib", "catalog", "ontonotes_conll2012").output


def test_a_parquet_file_not_in_the_hub_layout_is_a_located_error_naming_its_keys(tmp_path: Path):
    pq.write_table(pa.table({"id": ["m1"], "question": ["Who?"], "choice": [["A", "B"]], "answer": ["A"]}),
                   tmp_path / "c3.parquet")  # one row per question: not the Hub's C3
    (tmp_path / "r.hum.yaml").write_text("hum: 1\nname: r\nsources:\n  x: {catalog: c3, path: c3.parquet}\n"
                                         "tasks:\n  - source: x\n", encoding="utf-8")
    result = run_cli("build", "r.hum.yaml", "-q", cwd=tmp_path)
    assert result.exit_code == 2
    assert "c3.parquet:1:1: error[E4001]: source 'x': record 0 has no parallel lists under questions.question, " \
           "questions.answer, questions.choice" in result.output
    assert "hint: the record's keys are id, question, choice, answer: name its lists under `explode:`" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("explode", "hint"), [
    ("[qa.qq, qa.a]", "hint: record has no 'qa.qq': did you mean 'qa.q'"),                     # a misspelt key
    ("[qa, id]", "hint: 'qa' holds a struct, not a list: name its lists, qa.q, qa.a (a dotted key each)"),
    ("[id]", "hint: the record's lists are qa.q, qa.a; records already one per position"),    # not a list
])
def test_an_explode_key_that_names_no_list_has_a_hint_naming_the_records_lists(tmp_path: Path, explode: str,
                                                                                hint: str) -> None:
    (tmp_path / "qa.jsonl").write_text(json.dumps({"id": "d1", "qa": {"q": ["a?", "b?"], "a": ["1", "2"]}}) + "\n",
                                       encoding="utf-8")
    (tmp_path / "r.hum.yaml").write_text(
        f"hum: 1\nname: r\nsources:\n  s: {{path: qa.jsonl, options: {{explode: {explode}}}}}\ntasks:\n"
        "  - task: classification\n    source: s\n    fields: {text: id, label: id}\n", encoding="utf-8")
    result = run_cli("check", "r.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 2
    assert "qa.jsonl:1:1: error[E4001]: source 's': record 0 has no parallel lists under" in result.output
    assert hint in result.output, result.output
