"""Hub versions that hold several records in one row, read through `hub_layout: {options: {explode: …}}`.

`datasets` stores a `Sequence` of dicts as a struct of lists (`questions: {question: [...], answer: [...]}`): a dotted
`explode:` key names such a list, and a bad `hub_layout` option is reported at its line in the catalog file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import run_cli


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
    assert "expected: lists of one length under: qa.q, qa.a (found: qa.q: 2 items, qa.a: 1 items)" in result.output
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
