"""What a user does after a build: scoring predictions whose lines name their keys otherwise, comparing reports that
pair only part of their records (humc eval), each asserting the code, the place and the hint."""

from __future__ import annotations

import json
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
