"""Inputs a hostile user feeds humc, found by a sweep of the CLI (each case once failed with a traceback, exit 3 or
no location): every one is now a located compiler-style error with exit code 2 and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import run_cli, tiny_recipe

ROWS = [{"context": "Paris is in France.", "question": "Where is Paris?", "answers": ["France"]}]


def write(folder: Path, recipe: str) -> Path:
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    path = folder / "r.hum.yaml"
    path.write_text(recipe, encoding="utf-8")
    return path


def test_a_null_sources_is_one_error_at_sources_not_an_internal_error(tmp_path):
    path = write(tmp_path, tiny_recipe().replace("sources:\n  qa: data.jsonl\n", "sources:\n"))
    result = run_cli("check", str(path))
    assert result.exit_code == 2, result.output
    assert "r.hum.yaml:3:9: error[E0007]: sources must be a mapping, not null" in result.output
    assert "unknown source" not in result.output  # no follow-on error at the task's `source:`


def test_a_recipe_read_from_an_endless_device_stops_at_the_size_limit():
    result = run_cli("check", "/dev/zero")
    assert result.exit_code == 2, result.output
    assert "/dev/zero:1:1: error[E0010]: the file is too large (more than 4194304 bytes" in result.output


def test_an_empty_task_id_is_refused_not_replaced_by_the_tasks_name(tmp_path):
    path = write(tmp_path, tiny_recipe().replace("  - id: qa", "  - id: ''"))
    result = run_cli("check", str(path))
    assert result.exit_code == 2, result.output
    assert "r.hum.yaml:6:9: error[E0008]: the `id:` of task entry #1 is empty" in result.output


def test_split_names_that_differ_only_in_case_are_refused_at_the_second(tmp_path):
    path = write(tmp_path, tiny_recipe(extra="output: {splits: {train: 0.5, TRAIN: 0.5}}\n"))
    result = run_cli("check", str(path))
    assert result.exit_code == 2, result.output
    assert "r.hum.yaml:14:31: error[E0008]: split names 'train' and 'TRAIN' differ only in case" in result.output
    assert "macOS and Windows" in result.output
