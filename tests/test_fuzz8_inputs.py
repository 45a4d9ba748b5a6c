"""Inputs a robustness sweep (fuzz8) found mishandled: each is a located compiler error, never a traceback or exit 3,
and nothing is written. Data: tests/data/dolly (databricks-dolly-15k, CC BY-SA 3.0, see its SOURCE.md)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from helpers import run_cli

DOLLY = Path(__file__).parent / "data" / "dolly" / "databricks-dolly-15k.head.jsonl"


def _dolly_recipe(folder: Path, *, source: str = "d.jsonl", extra: str = "", output: str = "") -> Path:
    """A generalist recipe over the real Dolly sample, copied into ``folder``."""
    shutil.copy(DOLLY, folder / "d.jsonl")
    recipe = folder / "r.hum.yaml"
    recipe.write_text(f"hum: 1\nname: t\nlanguage: en\nlicense: cc-by-sa-3.0\n{extra}"
                      f"sources:\n  d: {{path: {source}, format: jsonl}}\n"
                      "tasks:\n  - id: g\n    task: generalist\n    source: d\n"
                      "    fields: {instruction: instruction, context: 'default(context, \"\")', response: response}\n"
                      f"    formats: [text]\noutput:\n  splits: {{train: 0.8, test: 0.2}}\n{output}", encoding="utf-8")
    return recipe


LONG = "a" * 300  # one name over NAME_MAX (255 bytes): every stat of the path fails with ENAMETOOLONG


@pytest.mark.parametrize(("extra", "source", "output", "where", "message"), [
    ("", LONG + ".jsonl", "", "r.hum.yaml:6:13:", "source 'd' file path is too long"),
    (f"constants:\n  k: {{file: {LONG}.txt}}\n", "d.jsonl", "", "r.hum.yaml:6:13:", "constant 'k' file path is too long"),
    (f"stdlib: [{LONG}]\n", "d.jsonl", "", "r.hum.yaml:5:10:", "stdlib path is too long"),
    ("", "d.jsonl", f"  decontaminate: {{against: [{LONG}.json]}}\n", "r.hum.yaml:15:29:",
     "source 'eval#1' file path is too long"),
    ("", "d.jsonl", f"  dir: {LONG}\n", "r.hum.yaml:15:8:", "the output folder's path is too long"),
    (f"cache: {LONG}\n", "d.jsonl", "", "r.hum.yaml:5:8:", "the cache folder's path is too long"),
], ids=["source", "constant", "stdlib", "decontaminate", "output", "cache"])
def test_a_path_too_long_for_any_file_system_is_located_where_the_recipe_names_it(
        tmp_path: Path, extra: str, source: str, output: str, where: str, message: str) -> None:
    """`Path.exists` swallows "no such file" but not ENAMETOOLONG: a recipe path with a part over 255 bytes was
    `internal error: OSError: [Errno 36] File name too long` (exit 3), the whole path echoed."""
    recipe = _dolly_recipe(tmp_path, source=source, extra=extra, output=output)
    result = run_cli("build", str(recipe))
    assert result.exit_code == 2, result.output
    assert f"{where} error[" in result.output and message in result.output
    assert re.search(r"is 30\d bytes long \(a file name holds at most 255\)", " ".join(result.output.split()))
    assert "internal error" not in result.output and not (tmp_path / "out").exists()


@pytest.mark.parametrize("args", [
    ["build", "{recipe}", "--out", LONG], ["build", "{recipe}", "--cache", LONG], ["cache", "info", "--cache", LONG],
    ["cache", "verify", "--cache", LONG], ["cache", "clean", "--cache", LONG, "--yes"], ["push", LONG],
    ["review", LONG + ".hum.yaml", "--list"], ["export", "{recipe}", "--to", "alpaca", LONG],
    ["check", LONG + ".hum.yaml"], ["build", LONG + ".hum.yaml"],
], ids=["build-out", "build-cache", "cache-info", "cache-verify", "cache-clean", "push", "review", "export",
        "check-recipe", "build-recipe"])
def test_a_command_line_path_too_long_for_any_file_system_is_an_error_not_exit_3(tmp_path: Path, args: list[str]) -> None:
    recipe = _dolly_recipe(tmp_path)
    if args[0] == "export":  # of a built dataset
        assert run_cli("build", str(recipe), "-q").exit_code == 0
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run_cli(*[str(recipe) if a == "{recipe}" else a for a in args], cwd=tmp_path)
    assert result.exit_code == 2, result.output
    assert "error[E3002]:" in result.output and "too long" in result.output, result.output
    assert "internal error" not in result.output and LONG not in result.output  # the path is shown cut short
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


@pytest.mark.parametrize(("value", "tag", "kind"), [
    ("!!python/tuple [World, Sports]", "!!python/tuple", "list"), ("!!set {World, Sports}", "!!set", "mapping"),
    ("!!omap [{World: 1}]", "!!omap", "list"), ("!labels {World: 1}", "!labels", "mapping"),
])
def test_a_tag_on_a_list_or_mapping_is_refused_at_it_not_dropped(tmp_path: Path, value: str, tag: str, kind: str) -> None:
    """A scalar's tag was refused (E0004) but a collection's was silently dropped: `!!set {a, b}` read as a mapping of
    nulls, `!!python/tuple [..]` as a list, and the build went on."""
    recipe = _dolly_recipe(tmp_path, extra=f"constants:\n  topics: {value}\n")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 2, result.output
    assert f"r.hum.yaml:6:11: error[E0004]: invalid YAML value: humc does not read the tag {tag} on a {kind}" \
        in result.output
    assert run_cli("check", str(_dolly_recipe(tmp_path, extra="constants:\n  topics: !!seq [a, b]\n"))).exit_code == 0


def test_split_at_an_empty_separator_says_so_at_check_and_at_run_time(tmp_path: Path) -> None:
    """Python's "empty separator" ValueError was told as `split: cannot work with these arguments (…): a value of a
    type this operation cannot use`, though both arguments were strings."""
    recipe = _dolly_recipe(tmp_path)
    text = recipe.read_text(encoding="utf-8").replace("formats: [text]", "formats: [text]\n    where: 'len(split(context, \"\")) > 0'")
    recipe.write_text(text, encoding="utf-8")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 2 and 'r.hum.yaml:13:32: error[E2004]: split: sep must be a string of one character ' \
        'or more, or null; "" is an empty string' in result.output, result.output
    recipe.write_text(text.replace('split(context, "")', "split(context, instruction[0:0])"), encoding="utf-8")
    result = run_cli("build", str(recipe))
    assert result.exit_code == 2 and "error[E4102]: split: sep must be a string of one character or more, or null; " \
        "instruction[0:0] is an empty string (source 'd' row 0)" in result.output, result.output
    assert "a value of a type" not in result.output and not (tmp_path / "out").exists()


@pytest.mark.parametrize(("where", "value", "at", "message"), [
    ("where", "'len(split(context, sep=\",\", sep=\" \")) > 0'", "13:41:", "split(): the argument sep= is given twice"),
    ("formats", "['json | indent(n=2, n=4)']", "10:35:", "indent(): the argument n= is given twice"),
])
def test_a_named_argument_given_twice_is_e2004_at_the_second_not_the_last_kept(
        tmp_path: Path, where: str, value: str, at: str, message: str) -> None:
    """`f(sep=",", sep=" ")` is a syntax error in Python; the DSL kept the last value silently (a mapping of them)."""
    recipe = _dolly_recipe(tmp_path)
    text = recipe.read_text(encoding="utf-8")
    text = text.replace("formats: [text]", "formats: [text]\n    where: " + value) if where == "where" \
        else text.replace("task: generalist", "task: generalist\n    formats: " + value).replace("    formats: [text]\n", "")
    recipe.write_text(text, encoding="utf-8")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 2 and f"r.hum.yaml:{at} error[E2004]: {message}" in result.output, result.output


def test_a_positional_argument_after_a_named_one_is_e2004_at_it(tmp_path: Path) -> None:
    """`split(sep=" ", context)` is a syntax error in Python; the DSL took `context` as the first argument silently."""
    recipe = _dolly_recipe(tmp_path)
    text = recipe.read_text(encoding="utf-8").replace("formats: [text]", "formats: [text]\n    where: "
                                                      "'len(split(sep=\" \", context)) > 0'")
    recipe.write_text(text, encoding="utf-8")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 2, result.output
    assert "r.hum.yaml:13:32: error[E2004]: split(): a positional argument follows the named argument sep=" \
        in result.output
    assert "move it before sep=, or name it as well" in " ".join(result.output.split())


@pytest.mark.parametrize("index", [-1, -2])
def test_a_negative_spert_entity_index_is_an_error_not_the_last_entity(tmp_path: Path, index: int) -> None:
    """CoNLL04 (SpERT JSON, tests/data/conll04, see its SOURCE.md): a relation whose head is -1 took Python's last
    entity as its head and was written as gold; 99 was refused."""
    rows = json.loads((Path(__file__).parent / "data" / "conll04" / "conll04_dev.head80.json").read_text(encoding="utf-8"))
    rows[0]["relations"][0]["head"] = index
    (tmp_path / "c.json").write_text(json.dumps(rows), encoding="utf-8")
    recipe = tmp_path / "r.hum.yaml"
    recipe.write_text("hum: 1\nname: t\nlanguage: en\nlicense: x\nsources:\n  s: {catalog: conll04, path: c.json}\n"
                      "tasks:\n  - source: s\noutput:\n  splits: {train: 0.8, test: 0.2}\n", encoding="utf-8")
    result = run_cli("build", str(recipe))
    assert result.exit_code == 2, result.output
    assert f"error[E4102]: spert_relations(): relation 0's head names entity {index}, a missing entity: there are " \
        f"{len(rows[0]['entities'])} entities" in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()


def test_two_json_lines_glued_together_are_located_at_the_second_value(tmp_path: Path) -> None:
    """Two Dolly records on one line (the line break lost: `} {`) were `invalid JSON: Extra data` at column 1 with
    the generic hint; every JSON Lines parse error was at column 1."""
    lines = DOLLY.read_text(encoding="utf-8").splitlines()
    recipe = _dolly_recipe(tmp_path)
    (tmp_path / "d.jsonl").write_text(lines[0] + "\n" + lines[1] + " " + lines[2] + "\n", encoding="utf-8")
    result = run_cli("build", str(recipe))
    assert result.exit_code == 2, result.output
    assert f"d.jsonl:2:{len(lines[1]) + 2}: error[E4001]: source 'd': invalid JSON: Extra data" in result.output
    assert "a second JSON value starts here, on the same line" in " ".join(result.output.split())
    (tmp_path / "d.jsonl").write_text(lines[0] + "\n" + '{"instruction": "a",}\n', encoding="utf-8")
    assert "d.jsonl:2:21: error[E4001]" in run_cli("build", str(recipe)).output
    # the same glued line after a byte-order mark (files joined with `cat`): the same column and hint
    (tmp_path / "d.jsonl").write_text(lines[0] + "\n\ufeff" + lines[1] + " " + lines[2] + "\n", encoding="utf-8")
    result = run_cli("build", str(recipe))
    assert f"d.jsonl:2:{len(lines[1]) + 3}: error[E4001]" in result.output
    assert "a second JSON value starts here, on the same line" in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()


def _folder_recipe(folder: Path) -> Path:
    recipe = _dolly_recipe(folder)
    recipe.write_text(recipe.read_text(encoding="utf-8").replace("{path: d.jsonl, format: jsonl}", "{dataset: {name: shards}}"),
                      encoding="utf-8")
    (folder / "shards").mkdir()
    return recipe


def test_a_dataset_folder_of_jsonl_and_csv_files_is_refused_not_read_in_part(tmp_path: Path) -> None:
    """`datasets` reads a split of mixed files by the commoner format: the CSV's records were left out silently."""
    pytest.importorskip("datasets")
    recipe, lines = _folder_recipe(tmp_path), DOLLY.read_text(encoding="utf-8").splitlines()
    (tmp_path / "shards" / "train-0.jsonl").write_text("\n".join(lines[:5]) + "\n", encoding="utf-8")
    (tmp_path / "shards" / "train-1.jsonl").write_text("\n".join(lines[5:8]) + "\n", encoding="utf-8")
    (tmp_path / "shards" / "train-2.csv").write_text("instruction,context,response\nWhat?,,That.\n", encoding="utf-8")
    result = run_cli("build", str(recipe))
    assert result.exit_code == 2, result.output
    assert "r.hum.yaml:6:16: error[E4001]: source 'd': the train files of the dataset folder shards are of 2 formats " \
        "(JSON: train-0.jsonl, train-1.jsonl; CSV: train-2.csv)" in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()
    (tmp_path / "shards" / "train-2.csv").unlink()
    assert run_cli("build", str(recipe)).exit_code == 0


def test_a_damaged_shard_of_a_dataset_folder_is_located_in_that_shard(tmp_path: Path,
                                                                     capfd: pytest.CaptureFixture[str]) -> None:
    """A shard cut short was `reading dataset 'shards' failed after 5 record(s)` at the folder, with a hint about
    schemas, and `datasets`' own log line printed above it."""
    pytest.importorskip("datasets")
    recipe, lines = _folder_recipe(tmp_path), DOLLY.read_text(encoding="utf-8").splitlines()
    (tmp_path / "shards" / "train-0.jsonl").write_text("\n".join(lines[:5]) + "\n", encoding="utf-8")
    (tmp_path / "shards" / "train-1.jsonl").write_text("\n".join(lines[5:8]) + "\n" + lines[8][:50], encoding="utf-8")
    result = run_cli("build", str(recipe))
    assert result.exit_code == 2, result.output
    assert "shards/train-1.jsonl:4:" in result.output and "error[E4001]" in result.output
    assert "the file looks cut short" in result.output
    assert "Failed to load JSON" not in result.output + capfd.readouterr().err  # `datasets`' log line, kept
    assert not (tmp_path / "out").exists()


def test_a_quoted_line_shows_control_characters_as_pictures_not_raw(tmp_path: Path) -> None:
    """The error's quoted line printed a NUL (grep then called the error text binary) and an ESC or a CR raw, which a
    terminal obeys (clearing the screen, moving the cursor back over the line)."""
    line = DOLLY.read_text(encoding="utf-8").splitlines()[0]
    recipe = _dolly_recipe(tmp_path)
    (tmp_path / "d.jsonl").write_text(line.replace("Virgin", "Vir\0gin", 1) + "\n", encoding="utf-8")
    result = run_cli("build", str(recipe))
    assert result.exit_code == 2 and "holds a NUL character" in result.output
    assert "Vir\u2400gin" in result.output and "\0" not in result.output
    (tmp_path / "d.jsonl").write_text('{"instruction": "a\x1b[2J", "response": "b"}\n', encoding="utf-8")
    result = run_cli("build", str(recipe))
    assert result.exit_code == 2 and "d.jsonl:1:19: error[E4001]" in result.output, result.output
    assert '"a\u241b[2J"' in result.output and "\x1b" not in result.output


@pytest.mark.parametrize(("path", "hint"), [
    ("~/dolly.jsonl", "humc does not expand ~ or $VARIABLES in a recipe's paths"),
    ("$HOME/dolly.jsonl", "humc does not expand ~ or $VARIABLES in a recipe's paths"),
    ("https://127.0.0.1:9/dolly.jsonl", "a recipe's paths name local files: download it first"),
])
def test_a_path_a_shell_or_browser_would_expand_says_humc_does_not(tmp_path: Path, path: str, hint: str) -> None:
    """`~/x`, `$DATA/x` and URLs were 'not found' with the hint that folder `<recipe dir>/~` does not exist either."""
    result = run_cli("check", str(_dolly_recipe(tmp_path, source=path)))
    assert result.exit_code == 2 and "r.hum.yaml:6:13: error[E0009]: source 'd' file path not found" in result.output
    assert hint in " ".join(result.output.split()) and "does not exist either" not in result.output


LFS_POINTER = ("version https://git-lfs.github.com/spec/v1\n"
               "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 149135\n")


@pytest.mark.parametrize(("content", "fmt", "what"), [
    (LFS_POINTER, "jsonl", "a Git LFS pointer"), (LFS_POINTER, "parquet", "a Git LFS pointer"),
    ("\ufeff<!DOCTYPE html><html><head><title>404</title></head><body>Not Found</body></html>\n", "csv", "an HTML page"),
    ("%PDF-1.4\n1 0 obj\n<<>>\nendobj\n", "jsonl", "a PDF document"),
])
def test_a_file_that_is_no_data_is_named_for_what_it_is(tmp_path: Path, content: str, fmt: str, what: str) -> None:
    """A clone without `git lfs pull`, a download that saved a 404 page, a PDF: they were 'invalid JSON: Expecting
    value', a Parquet 'magic bytes not found', or a CSV of 0 records (the page read as its header)."""
    recipe = _dolly_recipe(tmp_path, source=f"d.{fmt}")
    recipe.write_text(recipe.read_text(encoding="utf-8").replace("format: jsonl", f"format: {fmt}"), encoding="utf-8")
    (tmp_path / f"d.{fmt}").write_text(content, encoding="utf-8")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 2, result.output
    assert f"r.hum.yaml:6:13: error[E4002]: source 'd': d.{fmt} is {what}" in " ".join(result.output.split())


def test_a_git_lfs_pointer_as_a_constant_file_or_a_dataset_shard_is_named_so(tmp_path: Path) -> None:
    """A labels file left an LFS pointer was read as three labels ('version https://…', 'oid sha256:…', 'size …')."""
    pytest.importorskip("datasets")
    (tmp_path / "labels.txt").write_text(LFS_POINTER, encoding="utf-8")
    result = run_cli("check", str(_dolly_recipe(tmp_path, extra="constants:\n  k: {file: labels.txt}\n")))
    assert result.exit_code == 2 and "r.hum.yaml:6:13: error[E0009]: constant 'k': labels.txt is a Git LFS pointer" \
        in " ".join(result.output.split())
    (tmp_path / "f").mkdir()
    recipe, lines = _folder_recipe(tmp_path / "f"), DOLLY.read_text(encoding="utf-8").splitlines()
    (tmp_path / "f" / "shards" / "train-0.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "f" / "shards" / "train-1.jsonl").write_text(LFS_POINTER, encoding="utf-8")
    result = run_cli("build", str(recipe))
    assert result.exit_code == 2 and "shards/train-1.jsonl:1:1: error[E4001]: source 'd': train-1.jsonl of the " \
        "dataset folder shards is a Git LFS pointer" in " ".join(result.output.split()), result.output
    assert not (tmp_path / "f" / "out").exists()


@pytest.mark.parametrize("text", ['""', '"   "', "|\n        \n"])
def test_an_inline_guideline_of_empty_text_is_refused_not_left_out_silently(tmp_path: Path, text: str) -> None:
    """`guidelines: [{id: g, text: ""}]` built, and no instruction showed the guideline the recipe asked for."""
    recipe = _dolly_recipe(tmp_path)
    recipe.write_text(recipe.read_text(encoding="utf-8").replace(
        "formats: [text]", f"formats: [text]\n    guidelines:\n      - id: g\n        text: {text}"), encoding="utf-8")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 2, result.output
    assert "r.hum.yaml:15:15: error[E0008]: inline guideline has an empty `text:`" in result.output
    recipe.write_text(recipe.read_text(encoding="utf-8").replace(f"text: {text}", "text: Answer briefly."), encoding="utf-8")
    assert run_cli("check", str(recipe)).exit_code == 0


@pytest.mark.parametrize(("line", "new", "hint"), [
    ("language: en", "language: no", 'YAML reads the bare `no` as false: write "no" (quoted) for the text'),
    ("name: t", "name: 2024-01-01", 'YAML reads the bare `2024-01-01` as a date: write "2024-01-01" (quoted)'),
    ("name: t", "name: 12", 'YAML reads the bare `12` as an integer: write "12" (quoted)'),
])
def test_a_bare_word_yaml_reads_as_another_type_hints_at_quoting(tmp_path: Path, line: str, new: str, hint: str) -> None:
    """`language: no` (Norwegian) was 'must be a string, not true or false' with no word on why."""
    recipe = _dolly_recipe(tmp_path)
    recipe.write_text(recipe.read_text(encoding="utf-8").replace(line, new, 1), encoding="utf-8")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 2 and "error[E0007]" in result.output and hint in result.output, result.output
    recipe.write_text(recipe.read_text(encoding="utf-8").replace(new, new.replace(": ", ': "') + '"', 1), encoding="utf-8")
    assert "error[E0007]" not in run_cli("check", str(recipe)).output


def test_a_number_in_exponent_form_without_a_dot_hints_at_what_yaml_reads(tmp_path: Path) -> None:
    """`splits: {train: 8e-1}` was 'must be a number, not a string', though 8e-1 is a number to anyone but YAML 1.1."""
    recipe = _dolly_recipe(tmp_path)
    recipe.write_text(recipe.read_text(encoding="utf-8").replace("{train: 0.8, test: 0.2}", "{train: 8e-1, test: 0.2}"),
                      encoding="utf-8")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 2 and "r.hum.yaml:14:19: error[E0007]: split 'train' must be a number" in result.output
    assert "YAML reads `8e-1` as text: a number in exponent form needs a dot and a sign (8.0e-1), or write it out (0.8)" \
        in " ".join(result.output.split()), result.output
    recipe.write_text(recipe.read_text(encoding="utf-8").replace("8e-1", "8.0e-1"), encoding="utf-8")
    assert run_cli("check", str(recipe)).exit_code == 0
