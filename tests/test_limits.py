"""Inputs over humc's resource limits (humc/limits.py) end in a located E0010 diagnostic, exit 2, fast,
with nothing written: never a hang, a memory blow-up, a RecursionError or an internal error (exit 3)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from helpers import run_cli, tiny_recipe

from humc.limits import MAX_EXPR_CHARS, MAX_RECIPE_BYTES, MAX_YAML_VALUES

GOOD = tiny_recipe(where="len(context) > 0")
WHERE = "where: len(context) > 0"  # line 13, the expression starts at column 12

# a "billion laughs": a8 would expand to 10**9 values
BOMB = "a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9))


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    row = {"context": "Paris is in France.", "question": "Where is Paris?", "answers": ["France"]}
    (tmp_path / "data.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    return tmp_path


def build(workdir: Path, recipe: str) -> tuple[dict, str]:
    """Build with --format json: the one diagnostic, and the whole CLI output. Asserts exit 2, nothing written."""
    path = workdir / "bad.hum.yaml"
    path.write_text(recipe, encoding="utf-8")
    result = run_cli("--format", "json", "build", str(path), "--out", str(workdir / "out"),
                     "--cache", str(workdir / "cache"), "-q")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert not (workdir / "out").exists() and not (workdir / "cache").exists()
    (diag,) = json.loads(result.output)["diagnostics"]
    assert diag["file"] == str(path)
    return diag, result.output


def at(diag: dict) -> tuple[str, int, int]:
    return diag["code"], diag["line"], diag["column"]


def test_the_good_recipe_builds(workdir):
    result = run_cli("build", str(_write(workdir, GOOD)), "--out", str(workdir / "out"), "--cache", str(workdir / "c"), "-q")
    assert result.exit_code == 0, result.output
    assert (workdir / "out" / "tiny" / "README.md").exists()


def _write(workdir: Path, text: str) -> Path:
    path = workdir / "good.hum.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- YAML


def test_a_recipe_over_the_size_limit_is_refused_before_parsing(workdir):
    padding = "# " + "x" * 1000 + "\n"
    text = GOOD + padding * (MAX_RECIPE_BYTES // len(padding) + 1)
    diag, _ = build(workdir, text)
    passed_on = text.count("\n", 0, MAX_RECIPE_BYTES) + 1  # the line where the file goes over 4 MiB
    assert at(diag) == ("E0010", passed_on, 1) and "the file is too large" in diag["message"] and "4 MiB" in diag["message"]


def test_a_billion_laughs_stops_fast_at_the_alias_that_goes_over_the_limit(workdir):
    start = time.perf_counter()
    diag, _ = build(workdir, GOOD.replace("name: tiny\n", "name: tiny\n" + BOMB))
    assert time.perf_counter() - start < 2
    assert at(diag) == ("E0010", 7, 38)  # line `a4: &a4 [*a3,...]`, its 8th alias: 1+11+111+1111+11111+8*11111 > 100k
    assert diag["message"] == f"YAML aliases expand to more than {MAX_YAML_VALUES} values"


def test_too_many_values_without_aliases_point_at_the_value_that_goes_over(workdir):
    values = ",".join(["1"] * (MAX_YAML_VALUES + 1))
    diag, _ = build(workdir, GOOD + f"x: [{values}]\n")
    assert diag["code"] == "E0010" and diag["line"] == 15
    assert diag["message"] == f"the YAML file holds more than {MAX_YAML_VALUES} values"


def test_ten_thousand_nested_brackets_stop_at_the_65th_level(workdir):
    diag, _ = build(workdir, GOOD + "x: " + "[" * 10_000 + "]" * 10_000 + "\n")
    # line 15: `x:` is level 2 of the file (its mapping is level 1), so level 65 is the 64th `[` (column 4 + 63)
    assert at(diag) == ("E0010", 15, 67) and diag["message"] == "YAML nested more than 64 levels deep"


def test_deeply_nested_block_mappings_stop_at_the_65th_level(workdir):
    deep = "".join("  " * i + f"k{i}:\n" for i in range(70)) + "  " * 70 + "leaf\n"
    diag, _ = build(workdir, GOOD + deep)
    assert at(diag) == ("E0010", 15 + 63, 127) and "nested more than 64 levels" in diag["message"]


def test_nesting_built_from_aliases_points_at_the_alias(workdir):
    inner = "[" * 40 + "1" + "]" * 40
    outer = "[" * 40 + "*deep" + "]" * 40
    diag, _ = build(workdir, GOOD + f"d: &deep {inner}\ne: {outer}\n")
    assert at(diag) == ("E0010", 16, 44)  # the *deep inside 40 brackets: column 4 + 40
    assert "nested more than 64 levels" in diag["message"]


def test_a_5000_digit_integer_is_too_large_not_a_crash(workdir):
    diag, out = build(workdir, GOOD.replace("hum: 1", "hum: " + "9" * 5000))
    assert at(diag) == ("E0010", 1, 6) and diag["message"] == "integer too large"
    assert "recipe-language version" in diag["hint"]
    assert "4300" not in out  # not Python's own message


@pytest.mark.parametrize("key, line, col", [("sample", 15, 13), ("variants_per_record", 15, 26)])
def test_a_huge_count_is_too_large_at_its_value(workdir, key, line, col):
    diag, _ = build(workdir, GOOD + f"    {key}: {10**40}\n")
    assert at(diag) == ("E0010", line, col) and diag["message"] == "integer too large"


@pytest.mark.parametrize("key, value, line, col, message", [
    ("sample", ".inf", 15, 13, "'sample' of task 'qa' must be a mapping, not a number"),
    ("sample", "1.0e+400", 15, 13, "'sample' of task 'qa' must be a mapping, not a number"),
    ("variants_per_record", ".nan", 15, 26, "must be a positive integer"),
])
def test_infinite_and_nan_numbers_are_located(workdir, key, value, line, col, message):
    diag, _ = build(workdir, GOOD + f"    {key}: {value}\n")
    assert (diag["line"], diag["column"]) == (line, col) and message in diag["message"]


def test_infinite_split_fraction_is_located(workdir):
    diag, _ = build(workdir, GOOD + "output:\n  splits: {train: .inf}\n")
    assert (diag["line"], diag["column"]) == (16, 19) and "split 'train' has fraction inf" in diag["message"]


def test_an_impossible_date_is_an_invalid_value_not_a_crash(workdir):
    diag, _ = build(workdir, GOOD.replace("name: tiny", "name: tiny\ndescription: 2024-13-45"))
    assert (diag["line"], diag["column"]) == (3, 14) and diag["message"].startswith("invalid YAML value")


# ---------------------------------------------------------------------------- expressions


def test_an_expression_over_the_length_limit_is_refused_at_its_start(workdir):
    diag, _ = build(workdir, GOOD.replace(WHERE, "where: " + "+".join(["1"] * 100_000) + " > 0"))
    assert at(diag) == ("E0010", 13, 12) and diag["message"] == "expression is too long (200003 characters)"
    assert str(MAX_EXPR_CHARS) in diag["expected"]


def test_ten_thousand_nested_parentheses_exit_2(workdir):
    diag, _ = build(workdir, GOOD.replace(WHERE, "where: " + "(" * 10_000 + "1" + ")" * 10_000 + " > 0"))
    assert at(diag) == ("E0010", 13, 12)


@pytest.mark.parametrize("expr", ["-" * 4000 + "1 > 0", "not " * 2400 + "true", "len(" * 1600 + "context" + ")" * 1600,
                                  "'" + "[" * 4900 + "]" * 4900 + " == 1'", "context" + "[0]" * 3000 + " == 1"])
def test_an_expression_nested_too_deeply_is_located(workdir, expr):
    diag, _ = build(workdir, GOOD.replace(WHERE, "where: " + expr))
    col = 13 if expr.startswith("'") else 12
    assert at(diag) == ("E0010", 13, col) and diag["message"] == "expression is nested too deeply"


@pytest.mark.parametrize("literal", ["9" * 5000, "99999999999999999999", "1e999"])
def test_a_huge_number_literal_in_an_expression_is_located(workdir, literal):
    diag, out = build(workdir, GOOD.replace(WHERE, f"where: len(context) > {literal}"))
    assert at(diag) == ("E0010", 13, 27) and diag["message"] == "number too large"
    assert diag["end_column"] == 27 + len(literal) and "4300" not in out


def test_the_text_report_shows_the_limit_with_a_caret(workdir):
    path = _write(workdir, GOOD.replace("name: tiny\n", "name: tiny\n" + BOMB))
    result = run_cli("check", str(path))
    assert result.exit_code == 2
    assert result.output.startswith(f"{path}:7:38: error[E0010]: YAML aliases expand to more than")
    assert "   7 | a4: &a4 [*a3" in result.output and "^" in result.output and "billion laughs" in result.output
