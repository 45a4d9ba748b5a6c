"""Inputs a hostile user feeds humc, found by a sweep of the CLI (each case once failed with a traceback, exit 3 or
no location): every one is now a located compiler-style error with exit code 2 and nothing written."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers import run_cli, tiny_recipe

ROWS = [{"context": "Paris is in France.", "question": "Where is Paris?", "answers": ["France"]}]


def write(folder: Path, recipe: str) -> Path:
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    path = folder / "r.hum.yaml"
    path.write_text(recipe, encoding="utf-8")
    return path


def build(folder: Path, recipe: str, *options: str):
    return run_cli("build", str(write(folder, recipe)), "--out", str(folder / "out"), "--cache", str(folder / "cache"),
                   *options)


def refused_by_build(folder: Path, recipe: str, said: str) -> None:
    """The build fails with ``said`` in its report (exit 2) and writes no output folder."""
    result = build(folder, recipe)
    assert result.exit_code == 2, result.output
    assert said in result.output
    assert not (folder / "out").exists()


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


# (recipe, what the report says): each once an internal error (exit 3) or a record written wrong at build time
REFUSED_AT_BUILD = [
    (tiny_recipe(extra="output: {mixture: {weights: {entry: {qa: .nan}}}}\n"),  # int(NaN) while mixing
     "r.hum.yaml:14:42: error[E0008]: weights of entry 'qa' must be a finite number above 0"),
    (tiny_recipe(extra="output: {mixture: {weights: {entry: {qa: .inf}}}}\n"),
     "r.hum.yaml:14:42: error[E0008]: weights of entry 'qa' must be a finite number above 0"),
    (tiny_recipe(extra="publish: {tags: [{a: 1}]}\n"),  # an unhashable dict while writing the card
     "r.hum.yaml:14:18: error[E0007]: each item of publish.tags must be a string, not a mapping"),
    (tiny_recipe(preferences="['when len(answer) == 0 then empty_as(\"\\ud800\")']"),  # UnicodeEncodeError on writing
     "r.hum.yaml:13:56: error[E0008]: 'empty_as' text holds \\ud800, half of a UTF-16 surrogate pair"),
    (tiny_recipe(extra='description: "a \\ud800"\n'),
     "r.hum.yaml:14:14: error[E0004]: invalid YAML value: \\ud800 is half of a UTF-16 surrogate pair"),
]


@pytest.mark.parametrize(("recipe", "said"), REFUSED_AT_BUILD)
def test_a_recipe_value_that_broke_the_build_is_refused_where_it_is_written(tmp_path, recipe, said):
    refused_by_build(tmp_path, recipe, said)


@pytest.mark.parametrize(("extra", "shown", "not_shown"), [
    ("publish: {tags: qa, pretty_name: Tiny}\n", "- qa\n", "- q\n"),  # one tag, not its letters
    ('description: "a \\ud83d\\ude42"\n', "a \N{SLIGHTLY SMILING FACE}", "\ufffd"),  # an escaped pair is one character
])
def test_what_the_card_shows_of_a_recipe_value(tmp_path, extra, shown, not_shown):
    result = build(tmp_path, tiny_recipe(extra=extra), "-q")
    assert result.exit_code == 0, result.output
    card = (tmp_path / "out" / "tiny" / "README.md").read_text(encoding="utf-8")
    assert shown in card and not_shown not in card


@pytest.mark.parametrize(("written", "said"), [("1.0", "not a number"), ("'1'", "not a string"),
                                               ("true", "not true or false"), ("", "not null")])
def test_a_recipe_version_that_is_not_an_integer_says_what_it_is(tmp_path, written, said):
    path = write(tmp_path, tiny_recipe().replace("hum: 1", f"hum: {written}"))
    result = run_cli("check", str(path))
    assert result.exit_code == 2, result.output
    assert f"error[E0011]: the recipe version must be an integer, {said}" in result.output
    assert "expected: hum: 1" in result.output


@pytest.mark.parametrize("codec", ["utf-32", "utf-32-be"])
def test_a_utf32_recipe_is_named_utf32_not_utf16(tmp_path, codec):
    path = tmp_path / "r.hum.yaml"
    path.write_bytes(("\ufeff" if codec.endswith("be") else "").encode(codec) + tiny_recipe().encode(codec))
    result = run_cli("check", str(path))
    assert result.exit_code == 2, result.output
    assert "r.hum.yaml:1:1: error[E0009]" in result.output and "is UTF-32 text (it starts with a byte-order mark)" in result.output


def test_an_empty_source_path_is_refused_not_read_as_the_recipes_folder(tmp_path):
    path = write(tmp_path, tiny_recipe(data="''"))
    result = run_cli("check", str(path))
    assert result.exit_code == 2, result.output
    assert "r.hum.yaml:4:7: error[E0008]: source 'qa' file path is empty" in result.output


def test_a_cache_that_is_a_device_is_located_at_cache_before_any_work(tmp_path):
    path = write(tmp_path, tiny_recipe(extra="cache: /dev/null\n"))
    result = run_cli("build", str(path), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    assert "r.hum.yaml:14:8: error[E3002]: the cache folder /dev/null is not a folder (a device or a pipe)" in result.output
    assert not (tmp_path / "out").exists()


def test_a_control_character_in_a_template_of_ones_own_is_located_not_copied_into_every_instruction(tmp_path):
    folder = tmp_path / "mystd" / "templates" / "mrc_extractive"
    folder.mkdir(parents=True)
    (folder / "en_h.j2").write_text("{{ context }} {{ question }}\n{{ format_instruction }}\x00", encoding="utf-8")
    recipe = tiny_recipe().replace("name: tiny", "name: tiny\nstdlib: [mystd]").replace(
        "    formats:", "    templates: [en_h]\n    formats:")
    result = run_cli("check", str(write(tmp_path, recipe)))
    assert result.exit_code == 2, result.output
    assert "en_h.j2:2:25: error[E0009]: template holds the control character U+0000" in result.output


@pytest.mark.parametrize(("text", "said"), [("{en: 5}", "the 'en' text of inline preference rule must be a string, not an integer"),
                                            ("{en: [a]}", "the 'en' text of inline preference rule must be a string, not a list"),
                                            ("5", "'text' in inline preference rule must be a mapping or a string")])
def test_a_rule_text_that_is_not_a_sentence_is_refused_not_written_as_python_prints_it(tmp_path, text, said):
    path = write(tmp_path, tiny_recipe(preferences=f"[{{id: x, text: {text}, then: dedupe}}]"))
    result = run_cli("check", str(path))
    assert result.exit_code == 2, result.output
    assert "r.hum.yaml:13:" in result.output and f"error[E0007]: {said}" in result.output


def test_a_row_count_beyond_any_source_checks_every_row_not_an_internal_error(tmp_path):
    result = run_cli("check", str(write(tmp_path, tiny_recipe())), "--rows", "9" * 30)
    assert result.exit_code == 0, result.output  # was an internal ValueError from islice
    assert "1 row(s) read" in result.output


@pytest.mark.parametrize("option", ["--out", "--cache"])
def test_an_empty_folder_option_is_a_usage_error_not_the_current_folder(tmp_path, option):
    result = run_cli("build", str(write(tmp_path, tiny_recipe())), option, "", cwd=tmp_path)
    assert result.exit_code == 2, result.output
    assert f"error[E9001]: invalid value for {option}: the folder is an empty text" in result.output
    assert not (tmp_path / "tiny").exists() and not (tmp_path / "out").exists()


def test_a_source_linked_to_a_device_names_the_device_not_an_unknown_format(tmp_path):
    (tmp_path / "z.jsonl").symlink_to("/dev/zero")
    result = run_cli("check", str(write(tmp_path, tiny_recipe(data="{path: z.jsonl}"))))
    assert result.exit_code == 2, result.output
    assert "r.hum.yaml:4:14: error[E0009]: /dev/zero is not a regular file (a named pipe or a device)" in result.output


def test_an_empty_source_folder_is_said_to_be_empty(tmp_path):
    (tmp_path / "shards").mkdir()
    result = run_cli("check", str(write(tmp_path, tiny_recipe(data="shards"))))
    assert result.exit_code == 2, result.output
    assert "r.hum.yaml:4:7: error[E4002]: source 'qa': the folder shards is empty" in result.output


@pytest.mark.parametrize(("where", "col", "said"), [("'\"yes\"'", 13, "`\"yes\"` is a string ('yes')"),
                                                    ("len(context)", 12, "`len(context)` is a number")])
def test_a_where_that_is_no_condition_is_refused_like_a_rules_when(tmp_path, where, col, said):
    result = run_cli("check", str(write(tmp_path, tiny_recipe(where=where))))
    assert result.exit_code == 2, result.output  # was accepted: every row kept by Python truthiness
    assert f"r.hum.yaml:13:{col}: error[E0007]: a `where:` filter must be true or false, but {said}" in result.output


@pytest.mark.parametrize(("data", "said"), [("caf\xe9\n".encode("latin-1"), "k.txt:1:4: error[E0009]"),
                                            ("PER\n".encode("utf-16"), "is UTF-16 text (it starts with a byte-order mark)")])
def test_a_constant_file_that_is_not_utf8_is_located_at_its_byte(tmp_path, data, said):
    (tmp_path / "k.txt").write_bytes(data)
    result = run_cli("check", str(write(tmp_path, tiny_recipe(extra="constants: {k: {file: k.txt}}\n"))))
    assert result.exit_code == 2, result.output
    assert said in result.output and "codec can't decode" not in result.output


def test_an_export_that_fails_on_a_damaged_shard_leaves_no_folder_behind(tmp_path):
    assert build(tmp_path, tiny_recipe(), "-q").exit_code == 0
    shard = next((tmp_path / "out" / "tiny" / "data").glob("*.parquet"))
    with open(shard, "r+b") as f:
        f.truncate(100)
    result = run_cli("export", str(tmp_path / "out" / "tiny"), "--to", "sharegpt", str(tmp_path / "ex" / "deep"))
    assert result.exit_code == 2, result.output
    assert f"{shard.name}:1:1: error[E6001]: cannot read the shard" in result.output
    assert not (tmp_path / "ex").exists()  # the folders made for the export were removed with its files


@pytest.fixture()
def built(tmp_path: Path) -> Path:
    """A built dataset with a test split (tmp/out/tiny) and a predictions file of its gold answers (tmp/p.jsonl)."""
    assert build(tmp_path, tiny_recipe(extra="output: {splits: {test: 1}}\n"), "-q").exit_code == 0
    dataset = tmp_path / "out" / "tiny"
    rows = pq.read_table(next((dataset / "data").glob("test-*.parquet"))).to_pylist()
    (tmp_path / "p.jsonl").write_text("".join(json.dumps({"id": r["id"], "prediction": r["output"]}) + "\n" for r in rows),
                                      encoding="utf-8")
    return dataset


def test_an_eval_report_is_never_written_into_the_dataset(built, tmp_path):
    result = run_cli("eval", str(built), "--predictions", str(tmp_path / "p.jsonl"), "--report", str(built / "data" / "r.json"))
    assert result.exit_code == 2, result.output
    assert "error[E3002]: cannot write the report to" in result.output and "inside the built dataset" in result.output
    assert sorted(p.name for p in (built / "data").iterdir()) == ["test-00000-of-00001.parquet"]


def test_an_eval_report_to_a_named_pipe_is_refused_not_replaced_by_a_file(built, tmp_path):
    os.mkfifo(tmp_path / "r.md")  # as root, /dev/full would have been replaced the same way
    result = run_cli("eval", str(built), "--predictions", str(tmp_path / "p.jsonl"), "--markdown", str(tmp_path / "r.md"))
    assert result.exit_code == 2, result.output
    assert "error[E3002]: cannot write" in result.output and "not a regular file (a folder, a device or a pipe)" in result.output
    assert stat.S_ISFIFO((tmp_path / "r.md").stat().st_mode)


@pytest.mark.parametrize(("text", "said"), [
    ("{% if 1 %}" * 300 + "x" + "{% endif %}" * 300,
     "en_x.j2:1:1: error[E0010]: template 'mrc_extractive/en_x': template nested too deeply to parse"),
    ("{{ context | truncate(-1) }}\n{{ question }}\n{{ format_instruction }}\n",
     "en_x.j2:1:1: error[E4202]: template mrc_extractive/en_x: AssertionError: expected length >= 3, got -1"),
])
def test_a_template_too_deep_to_parse_or_failing_a_jinja_assertion_is_located_in_its_file(tmp_path, text, said):
    folder = tmp_path / "std" / "templates" / "mrc_extractive"
    folder.mkdir(parents=True)
    (folder / "en_x.j2").write_text(text, encoding="utf-8")
    recipe = tiny_recipe().replace("name: tiny\n", "name: tiny\nstdlib: [std]\n") + "    templates: [en_x]\n"
    refused_by_build(tmp_path, recipe, said)


def test_a_null_label_list_of_a_multilabel_task_is_no_annotation_not_none_apply(tmp_path):
    """GoEmotions-style rows: `labels: null` is a row nobody annotated, dropped and reported; `[]` is none apply."""
    rows = [{"text": "I love it", "labels": ["joy"]}, {"text": "meh", "labels": None}, {"text": "so so", "labels": []}]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (tmp_path / "r.hum.yaml").write_text(
        "hum: 1\nname: ge\nsources:\n  s: d.jsonl\ntasks:\n  - id: m\n    task: multilabel_classification\n"
        "    source: s\n    fields: {text: text, labels: labels}\n    labels: [joy, anger]\n    formats: [json]\n"
        "output: {splits: {train: 1.0}}\n", encoding="utf-8")
    result = run_cli("build", "r.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert "bad_gold (d.jsonl:2), first: 'labels' is null: no annotation, not an empty answer" in result.output
    table = pq.read_table(next((tmp_path / "out" / "ge" / "data").glob("*.parquet"))).to_pylist()
    assert sorted(r["source_row"] for r in table) == [0, 2]
