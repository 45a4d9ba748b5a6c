"""What a user does after a build: scoring predictions whose lines name their keys otherwise, comparing reports that
pair only part of their records (humc eval), each asserting the code, the place and the hint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import built_test_split, run_cli


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    return built_test_split(tmp_path_factory.mktemp("built"), 4)


@pytest.mark.parametrize(("line", "message", "hint"), [
    ({"id": "X", "output": "a"}, "needs the key `prediction`: this line has `id`, `output`",
     "rename `output` to `prediction` in every line, e.g. `jq -c '{id, prediction: .output}' P.jsonl > fixed.jsonl`"),
    ({"record_id": "X", "prediction": "a"}, "needs the key `id`: this line has `record_id`, `prediction`",
     "rename `record_id` to `id` in every line, e.g. `jq -c '{id: .record_id, prediction}' P.jsonl > fixed.jsonl`"),
    ({"id": "X", "generated text": "a"}, "needs the key `prediction`: this line has `id`, `generated text`",
     """jq -c '{id, prediction: ."generated text"}'"""),
    ({"id": "X", "output": "a", "score": 1}, "needs the key `prediction`: this line has `id`, `output`, `score`",
     "`prediction` the model's raw answer; rename the keys that hold them"),
    ({}, "needs the keys `id` and `prediction`: this line has none", "rename the keys that hold them"),
    ("just text", "a prediction is a JSON object, not a JSON string", None),
])
def test_a_prediction_line_with_other_keys_says_which_key_is_missing_and_how_to_rename(
        split: tuple[Path, list[str]], tmp_path: Path, line: object, message: str, hint: str | None) -> None:
    folder, ids = split
    good = json.dumps({"id": ids[0], "prediction": "x"})
    bad = json.dumps(line).replace('"X"', json.dumps(ids[1]))
    preds = tmp_path / "p.jsonl"
    preds.write_text(f"{good}\n{bad}\n", encoding="utf-8")
    result = run_cli("--format", "json", "eval", str(folder), "--predictions", str(preds))
    assert result.exit_code == 2, result.output
    diag = json.loads(result.output)["diagnostics"][0]
    assert (diag["code"], diag["file"], diag["line"]) == ("E6002", str(preds), 2)
    assert message in diag["message"]
    assert hint is None or hint in diag["hint"]


def _report(split: tuple[Path, list[str]], where: Path, name: str) -> Path:
    folder, ids = split
    preds = where / f"{name}.jsonl"
    preds.write_text("".join(json.dumps({"id": i, "prediction": "France"}) + "\n" for i in ids), encoding="utf-8")
    report = where / f"{name}.json"
    result = run_cli("eval", str(folder), "--predictions", str(preds), "--report", str(report))
    assert result.exit_code == 0, result.output
    return report


def test_comparing_reports_that_pair_part_of_their_records_says_how_many_were_left_out(
        split: tuple[Path, list[str]], tmp_path: Path) -> None:
    a = _report(split, tmp_path, "a")
    b = tmp_path / "b.json"  # a report of another build: one record is no longer in it
    data = json.loads(a.read_text(encoding="utf-8"))
    data["records"] = data["records"][1:]
    b.write_text(json.dumps(data), encoding="utf-8")
    result = run_cli("eval", "--compare", str(a), str(b), "--report", str(tmp_path / "c.json"))
    assert result.exit_code == 0, result.output
    assert "note: 1 record(s) of A and 0 of B are in one report only and not compared" in result.output
    assert "[test]: was the dataset rebuilt between them?" in result.output
    assert json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))["unpaired"] == {"a": 1, "b": 0}
    assert "in one report only" not in run_cli("eval", "--compare", str(a), str(a)).output


def test_a_predictions_file_given_to_compare_is_located_and_named_as_json_lines(
        split: tuple[Path, list[str]], tmp_path: Path) -> None:
    a = _report(split, tmp_path, "a")
    result = run_cli("--format", "json", "eval", "--compare", str(a), str(tmp_path / "a.jsonl"))
    assert result.exit_code == 2, result.output
    diag = json.loads(result.output)["diagnostics"][0]
    assert (diag["code"], diag["file"], diag["line"], diag["column"]) == ("E6003", str(tmp_path / "a.jsonl"), 2, 1)
    assert "it is JSON Lines, not one JSON document" in diag["message"] and "--report A.json" in diag["hint"]


def test_file_names_in_brackets_are_printed_whole(split: tuple[Path, list[str]], tmp_path: Path) -> None:
    where = tmp_path / "[draft]"
    where.mkdir()
    (where / "p.jsonl").write_text("", encoding="utf-8")
    result = run_cli("eval", str(split[0]), "--predictions", str(where / "p.jsonl"), "--report", str(where / "r.json"))
    assert result.exit_code == 0, result.output
    assert f"note: {where / 'p.jsonl'} holds no prediction" in result.output  # rich read [draft] as markup
    assert f"wrote {where / 'r.json'}" in result.output


HOLD = """import sys
from pathlib import Path
from humc.locks import folder_lock
with folder_lock(Path(sys.argv[1]), what="output folder", command="humc build"):
    print("held", flush=True)
    sys.stdin.readline()
"""


@pytest.mark.parametrize("command", ["export", "eval"])
def test_export_and_eval_wait_for_a_build_replacing_the_folder(split: tuple[Path, list[str]], tmp_path: Path,
                                                               command: str) -> None:
    folder, ids = split
    (tmp_path / "p.jsonl").write_text("", encoding="utf-8")
    args = ["export", str(folder), "--to", "alpaca", str(tmp_path / "x")] if command == "export" else \
        ["eval", str(folder), "--predictions", str(tmp_path / "p.jsonl")]
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        reader = subprocess.Popen([sys.executable, "-m", "humc", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        assert reader.stderr is not None
        said = reader.stderr.readline()  # its first words (one that does not wait ends, saying nothing: '')
        assert said.startswith(f"humc {command} is waiting for the output folder {folder}") and "humc build" in said
        assert reader.poll() is None  # it waits while the build holds the folder
    finally:
        holder.communicate("\n", timeout=30)
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    assert ("wrote" if command == "export" else "holds no prediction") in out


@pytest.mark.parametrize("inside", ["data", "shard"])
def test_export_and_eval_of_a_datasets_data_folder_or_shard_name_the_dataset_folder(
        split: tuple[Path, list[str]], tmp_path: Path, inside: str) -> None:
    folder, _ = split
    given = folder / "data" if inside == "data" else next((folder / "data").glob("*.parquet"))
    (tmp_path / "p.jsonl").write_text("", encoding="utf-8")
    for args in (["export", str(given), "--to", "alpaca", str(tmp_path / "x")],
                 ["eval", str(given), "--predictions", str(tmp_path / "p.jsonl")]):
        result = run_cli("--format", "json", *args)
        assert result.exit_code == 2, result.output
        diag = json.loads(result.output)["diagnostics"][0]
        assert diag["code"] == "E6001" and diag["hint"] == f"pass the dataset folder {folder}, which holds data/ and its card"
    assert not (tmp_path / "x").exists()
