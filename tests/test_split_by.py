"""`split_by:` — records whose value of an expression is equal share a split. Split by question, one SQuAD
passage's questions land in both train and test (the test split then holds passages the model trained on);
`split_by: context` keeps each passage in one split, in every task entry. Built from the real SQuAD 2.0 sample
(tests/data/squad_v2, its SOURCE.md names where it was cut from) and read back with pyarrow."""

from __future__ import annotations

import shutil
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq
from helpers import REPO, run_cli

from humc.ir import SourceDef
from humc.sources import read_source

SQUAD = REPO / "tests" / "data" / "squad_v2" / "dev-v2.0.normans.json"
RECIPE = """hum: 1
name: qa
sources:
  squad: {{catalog: squad_v2, path: squad.json}}
tasks:
  - id: qa
    source: squad
{split_by}  - id: again
    source: squad
    formats: [natural]
{split_by}output:
  splits: {{train: 0.5, test: 0.5}}
"""


def build(tmp: Path, split_by: str) -> tuple[int, dict[str, set[str]]]:
    """(records, passage -> the splits its records went to) of a build with ``split_by``."""
    shutil.copy(SQUAD, tmp / "squad.json")
    (tmp / "qa.hum.yaml").write_text(RECIPE.format(split_by=split_by), encoding="utf-8")
    result = run_cli("build", "qa.hum.yaml", "-q", cwd=tmp)
    assert result.exit_code == 0, result.output
    context = [row.record["context"] for row in read_source(SourceDef("squad", SQUAD, "squad", {}))]
    splits: dict[str, set[str]] = defaultdict(set)
    records = 0
    for shard in (tmp / "out" / "qa" / "data").glob("*.parquet"):
        for row in pq.read_table(shard, columns=["source_row"]).to_pylist():
            splits[context[row["source_row"]]].add(shard.name.split("-")[0])
            records += 1
    return records, splits


def test_split_by_null_splits_by_question_and_puts_one_passage_in_both_splits(tmp_path: Path):
    records, splits = build(tmp_path, "    split_by: null\n")  # over the squad_v2 adapter's `split_by: context`
    assert records > 300 and sum(len(s) > 1 for s in splits.values()) > len(splits) // 2


def test_split_by_context_keeps_each_passage_in_one_split_in_every_entry(tmp_path: Path):
    records, splits = build(tmp_path, "    split_by: context\n")
    assert records > 300 and all(len(s) == 1 for s in splits.values())
    assert {next(iter(s)) for s in splits.values()} == {"train", "test"}  # both splits still get passages


def test_a_catalog_adapter_of_passages_splits_by_context_by_default(tmp_path: Path):
    records, splits = build(tmp_path, "")
    assert records > 300 and all(len(s) == 1 for s in splits.values())
    assert {next(iter(s)) for s in splits.values()} == {"train", "test"}
    same = tmp_path / "same"
    same.mkdir()
    assert build(same, "    split_by: context\n") == (records, splits)


def test_check_notes_an_extractive_entry_split_by_question(tmp_path: Path):
    shutil.copy(SQUAD, tmp_path / "squad.json")
    (tmp_path / "qa.hum.yaml").write_text(RECIPE.format(split_by="    split_by: null\n"), encoding="utf-8")
    result = run_cli("check", "qa.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 0
    assert "note: task 'qa': its questions are split one by one, so one passage's questions land in several splits; " \
           "`split_by: context` keeps each passage in one" in result.output
    for split_by in ("    split_by: context\n", ""):  # "": the adapter's own
        (tmp_path / "qa.hum.yaml").write_text(RECIPE.format(split_by=split_by), encoding="utf-8")
        assert "split one by one" not in run_cli("check", "qa.hum.yaml", cwd=tmp_path).output


def test_a_split_by_naming_no_field_is_located_at_its_expression(tmp_path: Path):
    shutil.copy(SQUAD, tmp_path / "squad.json")
    (tmp_path / "qa.hum.yaml").write_text(RECIPE.format(split_by="    split_by: contxt\n"), encoding="utf-8")
    result = run_cli("build", "qa.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 2
    assert "qa.hum.yaml:8:15: error[E4102]" in result.output and "did you mean 'context'" in result.output
    assert not (tmp_path / "out").exists()


def test_split_by_written_under_output_says_it_is_a_task_entry_key(tmp_path: Path):
    shutil.copy(SQUAD, tmp_path / "squad.json")
    (tmp_path / "qa.hum.yaml").write_text(RECIPE.format(split_by="") + "  split_by: context\n", encoding="utf-8")
    result = run_cli("check", "qa.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 2
    assert "qa.hum.yaml:13:3: error[E0005]: unknown key 'split_by' in output" in result.output
    assert "hint: 'split_by' is a task entry key (under `tasks:`, in each entry it applies to): move it there" \
           in result.output and "did you mean 'splits'" not in result.output


def test_an_output_key_written_in_a_task_entry_says_it_belongs_under_output(tmp_path: Path):
    shutil.copy(SQUAD, tmp_path / "squad.json")
    recipe = RECIPE.format(split_by="").replace("    formats: [natural]\n",
                                                "    formats: [natural]\n    held_out: {formats: [natural]}\n")
    (tmp_path / "qa.hum.yaml").write_text(recipe, encoding="utf-8")
    result = run_cli("check", "qa.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 2
    assert "error[E0005]: unknown key 'held_out' in task entry #2" in result.output
    assert "hint: 'held_out' is an `output:` key: move it there" in result.output


# identical input texts of two rows (CoNLL's datelines) in two splits: `humc check` says so, `split_by: text` fixes it

CONLL = REPO / "tests" / "data" / "conll2003" / "eng.testa.head"   # research-only sample: see its SOURCE.md
CONLL_RECIPE = """hum: 1
name: ner
sources:
  conll: {{catalog: conll2003, path: eng.testa.head}}
tasks:
  - id: ner
    source: conll
    formats: [json]{split_by}
output:
  splits: {{train: 0.5, test: 0.5}}
  seed: 5
"""


def _conll(tmp: Path, split_by: str = "") -> Path:
    shutil.copy(CONLL, tmp / "eng.testa.head")
    recipe = tmp / "ner.hum.yaml"
    recipe.write_text(CONLL_RECIPE.format(split_by=split_by), encoding="utf-8")
    return recipe


def _splits_of_dateline(tmp: Path) -> dict[str, set[str]]:
    """The splits a build put the rows of the sentence 'LONDON 1996-08-30' in (the sample holds it twice)."""
    found: dict[str, set[str]] = defaultdict(set)
    for shard in sorted((tmp / "out" / "ner" / "data").glob("*.parquet")):
        for row in pq.read_table(shard, columns=["instruction", "source_row"]).to_pylist():
            if "LONDON 1996-08-30" in row["instruction"]:
                found[shard.name.split("-")[0]].add(row["source_row"])
    return found


def test_check_notes_an_input_text_that_two_rows_put_in_train_and_test_as_the_build_does(tmp_path: Path) -> None:
    import json

    recipe = _conll(tmp_path)
    checked = run_cli("check", str(recipe))
    assert checked.exit_code == 0, checked.output
    assert ("note: 1 input text(s) of the first 100 row(s) checked of each source fall in two or more splits, the same "
            "text in train and test (splits are assigned per source row): 'LONDON 1996-08-30' in train and test\n"
            "    `split_by: text` in ner keeps each text in one split; `--rows all` checks every row") in checked.output
    data = json.loads(run_cli("--format", "json", "check", str(recipe), "--rows", "all").stdout)
    assert data["check"]["shared_texts"] == [{"text": "LONDON 1996-08-30", "splits": ["train", "test"],
                                              "entries": ["ner"]}] and data["check"]["shared_text_count"] == 1
    assert run_cli("build", str(recipe), "-q").exit_code == 0
    where = _splits_of_dateline(tmp_path)
    assert sorted(where) == ["test", "train"] and where["train"] != where["test"]  # the build did what the note says


def test_split_by_text_keeps_the_repeated_text_in_one_split_and_check_says_nothing(tmp_path: Path) -> None:
    recipe = _conll(tmp_path, "\n    split_by: text")
    checked = run_cli("check", str(recipe), "--rows", "all")
    assert checked.exit_code == 0 and "fall in two or more splits" not in checked.output, checked.output
    assert run_cli("build", str(recipe), "-q").exit_code == 0
    where = _splits_of_dateline(tmp_path)
    assert len(where) == 1 and len(next(iter(where.values()))) == 2   # both rows, one split
