"""review14: eval, export, push and cache used as a user would, each finding a regression test.

* label-like tasks (nli, sentence pairs, yes/no) are scored right or wrong, passage choice by its option label: token F1
  gave a wrong NLI label 67% and the answer "the" to option "A" 100% (SQuAD's normalisation drops articles);
* partial span matches are by words ("US" is no part of "Russia"), and Chinese answers are compared without their
  punctuation (CMRC's evaluation drops it);
* `humc eval --compare` refuses what it does not use (a --markdown it never wrote, a dataset, --split);
* `--out` beside a dataset folder (eval, export, push) is refused, not ignored.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers import build_in, build_jsonl_recipe, copy_recipes, run_cli

from humc.eval import metrics
from humc.eval.scoring import Resolver, score_record

SOURCES = {
    "nli": [{"p": "A man plays a guitar.", "h": "A person makes music.", "y": "entailment"},
            {"p": "A dog sleeps.", "h": "A cat runs.", "y": "not entailment"}],
    "race": [{"c": "Tom missed the bus, so he walked.", "q": "How did Tom get there?", "o": ["By bus", "On foot"],
              "a": "A"},
             {"c": "It rained all day.", "q": "What was the weather?", "o": ["Rainy", "Sunny"], "a": "B"}],
    "boolq": [{"passage": "The Nile flows north.", "q": "does the nile flow north", "a": "yes"},
              {"passage": "Mars has two moons.", "q": "does mars have three moons", "a": "no"}],
}

RECIPE = """hum: 1
name: shapes
sources: {nli: nli.jsonl, race: race.jsonl, boolq: boolq.jsonl}
tasks:
  - id: nli
    task: nli
    source: nli
    fields: {premise: p, hypothesis: h, label: y}
    labels: [entailment, not entailment]
    formats: [label_only]
  - id: race
    task: mrc_passage_choice
    source: race
    fields: {context: c, question: q, options: o, answer: a}
    formats: [label_only]
  - id: boolq
    task: mrc_yes_no
    source: boolq
    fields: {context: passage, question: q, answer: a}
    formats: [label_only]
output:
  splits: {test: 1.0}
"""

# a wrong answer to each gold output: the other label, and for option A the article "the" (normalised to nothing)
WRONG = {"entailment": "not entailment", "not entailment": "entailment", "A": "the", "B": "A", "yes": "no", "no": "yes"}


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built dataset folder of a recipe with an NLI, a passage-choice and a yes/no task entry."""
    work = tmp_path_factory.mktemp("review14")
    result = build_jsonl_recipe(work, SOURCES, RECIPE, "shapes")
    assert result.exit_code == 0, result.output
    return work / "out" / "shapes"


def predictions(folder: Path, path: Path, answer: dict[str, str] | None = None) -> Path:
    """A predictions file answering every test record with its gold output, or ``answer[output]``."""
    rows = pq.read_table(folder / "data").to_pylist()
    path.write_text("".join(json.dumps({"id": r["id"], "prediction": (answer or {}).get(r["output"], r["output"])}) + "\n"
                            for r in rows), encoding="utf-8")
    return path


def evaluate(folder: Path, preds: Path, report: Path) -> dict:
    result = run_cli("eval", str(folder), "--predictions", str(preds), "--report", str(report))
    assert result.exit_code == 0, result.output
    return json.loads(report.read_text(encoding="utf-8"))


# ------------------------------------------------------------------ metrics


def test_label_tasks_are_right_or_wrong_not_token_f1(shapes: Path, tmp_path: Path) -> None:
    wrong = evaluate(shapes, predictions(shapes, tmp_path / "wrong.jsonl", WRONG), tmp_path / "wrong.json")
    assert wrong["overall"]["parsed"] == 1.0 and wrong["overall"]["format_adherence"] == 1.0
    by_task = wrong["by"]["task"]
    assert {t: g["score"] for t, g in by_task.items()} == {"nli": 0.0, "mrc_passage_choice": 0.0, "mrc_yes_no": 0.0}
    assert {t: g["metric"] for t, g in by_task.items()} == {"nli": "label", "mrc_passage_choice": "choice",
                                                          "mrc_yes_no": "label"}
    assert by_task["nli"]["accuracy"] == 0.0 and by_task["mrc_passage_choice"]["accuracy"] == 0.0
    right = evaluate(shapes, predictions(shapes, tmp_path / "gold.jsonl"), tmp_path / "gold.json")
    assert right["overall"]["score"] == 1.0 and right["by"]["task"]["nli"]["macro_f1"] == 1.0


def test_a_partial_span_match_is_a_run_of_words_not_any_substring() -> None:
    assert metrics.partial_matches([("LOC", "Russia")], [("LOC", "US")]) == 0
    assert metrics.partial_matches([("PER", "Joanna")], [("PER", "Ann")]) == 0
    assert metrics.partial_matches([("LOC", "New York City")], [("LOC", "New York")]) == 1
    assert metrics.partial_matches([("LOC", "the City of London")], [("LOC", "London")]) == 1
    assert metrics.partial_matches([("LOC", "北京市")], [("LOC", "北京")]) == 1  # a token per Chinese character


def test_chinese_answers_are_compared_without_their_punctuation() -> None:
    assert metrics.exact_match("北京。", "北京") == 1.0
    assert metrics.token_f1("《红楼梦》", "红楼梦") == 1.0
    assert metrics.exact_match("你好！", "你好") == 1.0  # a fullwidth exclamation mark
    assert metrics.normalize_answer("“Quoted”") == "“quoted”"  # SQuAD keeps other non-ASCII punctuation


# ------------------------------------------------------------------ the command line


@pytest.mark.parametrize(("extra", "option"), [(("--markdown", "cmp.md"), "--markdown"),
                                                (("--split", "train"), "--split"),
                                                (("DATASET",), "DATASET_DIR_OR_RECIPE"),
                                                (("--predictions", "gold.jsonl"), "--predictions")])
def test_compare_refuses_what_it_does_not_use(shapes: Path, tmp_path: Path, extra: tuple[str, ...],
                                              option: str) -> None:
    predictions(shapes, tmp_path / "gold.jsonl")
    evaluate(shapes, tmp_path / "gold.jsonl", tmp_path / "a.json")
    evaluate(shapes, predictions(shapes, tmp_path / "wrong.jsonl", WRONG), tmp_path / "b.json")
    args = [str(shapes) if arg == "DATASET" else arg for arg in extra]
    result = run_cli("eval", "--compare", "a.json", "b.json", *args, cwd=tmp_path)
    assert result.exit_code == 2
    assert f"error[E9001]: {option} does not apply to --compare" in result.output
    assert not (tmp_path / "cmp.md").exists()
    done = run_cli("eval", "--compare", "a.json", "b.json", "--seed", "1", "--report", "cmp.json", cwd=tmp_path)
    assert done.exit_code == 0 and json.loads((tmp_path / "cmp.json").read_text())["groups"]["all"]["score"]["delta"] < 0


@pytest.mark.parametrize("command", ["eval", "export", "push"])
def test_out_beside_a_dataset_folder_is_refused_not_ignored(shapes: Path, tmp_path: Path, command: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_unused")  # refused before any token or Hub is asked for
    args = {"eval": ["--predictions", str(predictions(shapes, tmp_path / "gold.jsonl"))],
            "export": ["--to", "alpaca", str(tmp_path / "exported")], "push": ["--repo", "me/shapes"]}[command]
    result = run_cli(command, str(shapes), *args, "--out", str(tmp_path / "elsewhere"))
    assert result.exit_code == 2
    assert f"error[E9001]: --out does not apply to the dataset folder {shapes}" in result.output
    assert f"humc {command} RECIPE --out DIR" in result.output
    assert not (tmp_path / "exported").exists()


@pytest.mark.parametrize("split", ["*", "t*", "tes?"])
def test_a_split_is_a_name_not_a_file_pattern(shapes: Path, tmp_path: Path, split: str) -> None:
    result = run_cli("eval", str(shapes), "--predictions", str(predictions(shapes, tmp_path / "gold.jsonl")),
                     "--split", split)
    assert result.exit_code == 2
    assert f"error[E6001]: {shapes} has no '{split}' split" in result.output and "splits: test" in result.output


@pytest.mark.parametrize(("to", "name", "own"), [
    ("messages", "test.jsonl", '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n'),
    ("sharegpt", "test.jsonl", '{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}\n'),
    ("alpaca", "test.json", '[\n {\n  "instruction": "hi",\n  "input": "",\n  "output": "yo"\n }\n]\n'),
    ("lm-eval", "test.jsonl", '{"instruction": "hi", "output": "yo"}\n')])
def test_export_keeps_a_chat_file_of_ones_own_that_starts_as_an_export_does(shapes: Path, tmp_path: Path, to: str,
                                                                            name: str, own: str) -> None:
    out = tmp_path / "finetune"
    out.mkdir()
    (out / name).write_text(own, encoding="utf-8")
    result = run_cli("export", str(shapes), "--to", to, str(out))
    assert result.exit_code == 2 and "error[E3003]" in result.output and f"{name} there is a file humc did not export" \
        in result.output
    assert (out / name).read_text(encoding="utf-8") == own and [p.name for p in out.iterdir()] == [name]
    again = tmp_path / "again"  # an export's own files are replaced, as before
    for _ in range(2):
        assert run_cli("export", str(shapes), "--to", to, str(again)).exit_code == 0
    assert len((again / name).read_text(encoding="utf-8")) > len(own)


def test_a_rule_on_how_to_answer_nothing_is_judged_where_there_is_nothing(tmp_path: Path) -> None:
    recipes = copy_recipes(tmp_path)
    assert build_in(recipes / "hum_mix.hum.yaml", tmp_path).exit_code == 0
    folder = tmp_path / "out" / "hum-mix"
    rows = pq.read_table(folder / "data" / "test-00000-of-00001.parquet").to_pylist()
    unanswerable = {r["id"] for r in rows if "unanswerable" in r["rules"] and r["gold"] == "[]"}
    assert len(unanswerable) == 2
    # a model that never abstains: it names a span where the passage holds no answer
    with open(tmp_path / "never.jsonl", "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps({"id": r["id"], "prediction": "Rollo" if r["id"] in unanswerable else r["output"]}) + "\n")
    never = evaluate(folder, tmp_path / "never.jsonl", tmp_path / "never.json")
    assert never["rules"]["unanswerable"] == {"n": 2, "adherence": 0.0}
    gold = evaluate(folder, predictions(folder, tmp_path / "gold.jsonl"), tmp_path / "gold.json")
    assert gold["rules"]["unanswerable"] == {"n": 2, "adherence": 1.0}
    # `empty_brackets` is judged on no record: every test record it is stated in has an answer
    assert "empty_brackets" not in gold["rules"] and any("empty_brackets" in r["rules"] for r in rows)


def test_a_blank_line_between_labels_is_no_wrong_label() -> None:
    resolver = Resolver.for_stdlib()
    spec = resolver.resolve({"task": "multilabel_classification", "answer_format": "text", "rules": []})
    record = {"id": "r1", "gold": json.dumps([{"label": "anger"}, {"label": "joy"}]), "template": "t", "language": "en",
              "answer_format": "text", "instruction": "Which emotions? Text: grr, yay", "output": "anger\njoy"}
    scored = score_record(spec, record, "anger\n\njoy\n")
    assert scored.score == 1.0 and scored.pred_labels == ["anger", "joy"]


def test_lm_eval_export_of_a_second_dataset_does_not_swap_the_first_tasks_data(shapes: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"  # the same dataset under another name: another lm-eval task
    shutil.copytree(shapes, other)
    out = tmp_path / "lm"
    assert run_cli("export", str(shapes), "--to", "lm-eval", str(out)).exit_code == 0
    before = (out / "test.jsonl").read_bytes()
    result = run_cli("export", str(other), "--to", "lm-eval", str(out))
    assert result.exit_code == 2 and "error[E3002]" in result.output
    assert "it is the data file of the lm-eval task humc_shapes (humc_shapes.yaml)" in result.output
    assert (out / "test.jsonl").read_bytes() == before and sorted(p.name for p in out.iterdir()) == [
        "humc_shapes.yaml", "test.jsonl"]
    assert run_cli("export", str(shapes), "--to", "lm-eval", str(out)).exit_code == 0  # its own task again: replaced
