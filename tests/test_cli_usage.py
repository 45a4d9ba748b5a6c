"""A mistyped command line reads like every other humc error: `error[E9001]: …` with `expected:` and `hint:`, exit 2,
in text and as a JSON verdict (humc/cli/usage.py, hooked once in HumcGroup)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, run_cli

HELP = "shows the command's options"

# (command line, exact first line, a piece of `expected:`, a piece of `hint:`); DS is a folder that exists
CASES = [
    (["build", "--ouT", "x", "r.hum.yaml"], "unknown option '--ouT' for humc build", "one of its options: --ablate,",
     "did you mean '--out'?"),
    (["build"], "missing argument RECIPE for humc build", "humc build [OPTIONS] RECIPE (RECIPE: a file path)",
     f"`humc build --help` {HELP}"),
    (["build", "r.hum.yaml", "--jobs", "x"], "invalid value for --jobs / -j: 'x' is not an integer",
     "--jobs / -j takes an integer ≥ 1", f"`humc build --help` {HELP}"),
    (["build", "r.hum.yaml", "--ablate", " , "], "invalid value for --ablate: ' , ' names no part",
     "--ablate takes PARTS (also write ablation datasets", f"`humc build --help` {HELP}"),
    (["build", "r.hum.yaml", "--out"], "option --out needs a value", "--out takes a folder path",
     f"`humc build --help` {HELP}"),
    (["buidl", "r.hum.yaml"], "unknown command 'buidl' for humc", "one of: check, plan, build, push,",
     "did you mean 'build'?"),
    (["frobnicate"], "unknown command 'frobnicate' for humc", "one of: check, plan, build,",
     "`humc --help` shows its commands and options"),
    (["check", "--strcit", "r.hum.yaml"], "unknown option '--strcit' for humc check", "--rows, --strict",
     "did you mean '--strict'?"),
    (["check", "r.hum.yaml", "--rows", "abc"],
     "invalid value for --rows: 'abc' is neither a positive number of rows nor 'all'", "--rows takes N|all (source rows",
     f"`humc check --help` {HELP}"),
    (["push"], "missing argument RECIPE_OR_OUTPUT_DIR for humc push", "humc push [OPTIONS] RECIPE_OR_OUTPUT_DIR",
     f"`humc push --help` {HELP}"),
    (["push", "DS", "--privat"], "unknown option '--privat' for humc push", "--private, --replace, --repo",
     "'--private'?"),
    (["push", "DS", "--revision"], "option --revision needs a value", "--revision takes BRANCH",
     f"`humc push --help` {HELP}"),
    (["eval", "DS", "--concurrency", "0"], "invalid value for --concurrency: 0 is out of range",
     "--concurrency takes an integer ≥ 1", f"`humc eval --help` {HELP}"),
    (["eval", "DS", "--predictions", "missing.jsonl"],
     "invalid value for --predictions: File 'missing.jsonl' does not exist", "--predictions takes an existing file path",
     f"`humc eval --help` {HELP}"),
    (["eval", "--compare", "a.json"], "option --compare needs 2 values", "--compare takes 2 values, each an existing",
     f"`humc eval --help` {HELP}"),
    (["eval", "DS", "--predictions", os.devnull, "--model", "m"],
     "give one of --predictions FILE, --model or --hf-model (one source of answers)", "--predictions P.jsonl",
     f"`humc eval --help` {HELP}"),
    (["export"], "missing argument DATASET_DIR_OR_RECIPE for humc export", "humc export [OPTIONS] DATASET_DIR_OR_RECIPE",
     f"`humc export --help` {HELP}"),
    (["export", "DS", "out"], "missing option --to for humc export", "--to takes one of: alpaca, sharegpt,",
     f"`humc export --help` {HELP}"),
    (["export", "DS", "out", "--to", "nope"], "invalid value for --to: 'nope' is not one of 'alpaca', 'sharegpt', "
     "'messages', 'llama-factory', 'lm-eval'", "--to takes one of: alpaca,", f"`humc export --help` {HELP}"),
    (["export", "DS", "out", "--to", "alpacca"], "invalid value for --to: 'alpacca' is not one of 'alpaca', "
     "'sharegpt', 'messages', 'llama-factory', 'lm-eval'", "--to takes one of: alpaca,", "did you mean 'alpaca'?"),
    (["stdlib", "tepmlates"], "invalid value for KIND: 'tepmlates' is not one of 'tasks', 'templates', 'guidelines', "
     "'rules', 'variants', 'catalog'", "KIND: one of: tasks,", "did you mean 'templates'?"),
    (["build", "r.hum.yaml", "--executor", "rey"], "invalid value for --executor: 'rey' is not one of 'local', 'ray'",
     "--executor takes one of: local, ray", "did you mean 'ray'?"),
    (["export", "DS", "out", "--to", "alpaca", "extra"], "got unexpected extra argument (extra)",
     "humc export [OPTIONS] DATASET_DIR_OR_RECIPE OUT_DIR", f"`humc export --help` {HELP}"),
    (["cache", "inof"], "unknown command 'inof' for humc cache", "one of: clean, gc, info, verify",
     "did you mean 'info'?"),
    (["cache", "info", "--bogus"], "unknown option '--bogus' for humc cache info", "one of its options: --cache,",
     f"`humc cache info --help` {HELP}"),
    (["cache", "info", "--cache"], "option --cache needs a value", "--cache takes a folder path",
     f"`humc cache info --help` {HELP}"),
    (["cache", "gc"], "missing argument RECIPES for humc cache gc", "humc cache gc [OPTIONS] RECIPES...",
     f"`humc cache gc --help` {HELP}"),
    (["build", "r.hum.yaml", "--strict=yes"], "option '--strict' does not take a value", "no value (a flag)",
     f"`humc build --help` {HELP}"),
]


def test_a_misspelt_file_name_gets_a_did_you_mean(tmp_path: Path) -> None:
    (tmp_path / "preds.jsonl").write_text("", encoding="utf-8")
    result = run_cli("eval", str(tmp_path), "--predictions", "preds.jsonll", cwd=tmp_path)
    assert result.exit_code == 2 and "error[E9001]: invalid value for --predictions: File 'preds.jsonll'" in result.output
    assert "hint: did you mean 'preds.jsonl'?" in result.output


def test_a_folder_given_for_a_recipe_names_the_recipes_in_it(tmp_path: Path) -> None:
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "mrc.hum.yaml").write_text("hum: 1\n", encoding="utf-8")
    result = run_cli("build", "recipes", cwd=tmp_path)
    assert result.exit_code == 2 and "error[E9001]: invalid value for RECIPE: 'recipes' is a folder" in result.output
    assert "hint: name a recipe in it: recipes/mrc.hum.yaml" in result.output


def _args(args: list[str], folder: Path) -> list[str]:
    return [str(folder) if a == "DS" else a for a in args]


@pytest.mark.parametrize(("args", "first", "expected", "hint"), CASES, ids=[" ".join(c[0])[:40] for c in CASES])
def test_a_usage_mistake_is_an_e9001_diagnostic_with_expected_and_hint(tmp_path: Path, args: list[str], first: str,
                                                                       expected: str, hint: str) -> None:
    result = run_cli(*_args(args, tmp_path), cwd=tmp_path)
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert lines[0] == f"error[E9001]: {first}"
    assert any(line.startswith("  expected: ") and expected in line for line in lines), result.output
    assert any(line.startswith("  hint: ") and hint in line for line in lines), result.output
    assert "Traceback" not in result.output and "Usage:" not in result.output and "Error:" not in result.output
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize(("args", "first", "expected", "hint"), CASES, ids=[" ".join(c[0])[:40] for c in CASES])
def test_a_usage_mistake_is_a_json_verdict_with_format_json(tmp_path: Path, args: list[str], first: str,
                                                            expected: str, hint: str) -> None:
    words = _args(args, tmp_path)
    leaf = 2 if words[0] == "cache" else 1  # where a command's own --format goes (`cache` itself has none)
    places = ("before",) if words[:2] == ["cache", "inof"] else ("before", "after")
    for where in places:  # humc's option, or the command's own (parsed after the mistake, or never)
        line = ["--format", "json", *words] if where == "before" else [*words[:leaf], "--format=json", *words[leaf:]]
        result = run_cli(*line, cwd=tmp_path)
        assert result.exit_code == 2
        verdict = json.loads(result.stdout)
        assert verdict["ok"] is False and verdict["exit_code"] == 2
        [diagnostic] = verdict["diagnostics"]
        assert diagnostic["code"] == "E9001" and diagnostic["message"] == first
        assert expected in diagnostic["expected"] and hint in diagnostic["hint"]
        assert "Traceback" not in result.output


def test_humc_own_options_are_checked_in_the_same_voice() -> None:
    bad = run_cli("--format", "xml", "check", "r.hum.yaml")
    assert bad.exit_code == 2
    assert bad.output.splitlines() == [
        "error[E9001]: invalid value for --format: 'xml' is not one of 'text', 'json'",
        "  expected: --format takes one of: text, json",
        "  hint: `humc --help` shows its commands and options"]
    unknown = run_cli("--bogus", "check")
    assert unknown.exit_code == 2 and unknown.output.startswith("error[E9001]: unknown option '--bogus' for humc\n")
    assert "  expected: one of its options: --format, --help, --version" in unknown.output
    unknown_json = run_cli("--format", "json", "--bogus")
    assert unknown_json.exit_code == 2 and json.loads(unknown_json.stdout)["diagnostics"][0]["code"] == "E9001"


def test_a_bare_group_still_shows_its_help() -> None:
    result = run_cli("cache")
    assert result.exit_code == 2 and "Show, check and reclaim the build cache." in result.output
    assert "info" in result.output and "error[" not in result.output


def test_the_real_entry_point_reports_a_usage_mistake_on_stderr_only(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    text = subprocess.run([sys.executable, "-m", "humc", "build", "--ouT", "x", "r.hum.yaml"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert text.returncode == 2 and text.stdout == ""
    assert text.stderr.splitlines() == [
        "error[E9001]: unknown option '--ouT' for humc build",
        "  expected: one of its options: --ablate, --cache, --executor, --format, --help, --jobs, --no-wait, --out, "
        "--push, --quiet, --ray-address, --strict",
        "  hint: did you mean '--out'?"]
    verdict = subprocess.run([sys.executable, "-m", "humc", "export", str(tmp_path), "out", "--format", "json"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert verdict.returncode == 2 and "Traceback" not in verdict.stderr
    assert json.loads(verdict.stdout)["diagnostics"][0]["message"] == "missing option --to for humc export"
    assert list(tmp_path.iterdir()) == []


def test_cache_commands_refuse_a_cache_that_is_not_a_folder(tmp_path: Path) -> None:
    result = run_cli("cache", "info", "--cache", os.devnull)
    assert result.exit_code == 2
    assert result.output.startswith(f"error[E3002]: {os.devnull} is not a cache folder: it is a device or other "
                                    "special file, not a folder\n")
    assert "  expected: a folder of build results" in result.output and "  hint: pass --cache DIR" in result.output
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x", encoding="utf-8")
    for command in ("info", "verify", "clean"):  # a plain file click's folder type refuses first
        refused = run_cli("cache", command, "--cache", str(a_file))
        assert refused.exit_code == 2
        assert refused.output.startswith(f"error[E9001]: invalid value for --cache: '{a_file}' is a file, not a folder\n")
    assert a_file.read_text(encoding="utf-8") == "x"
