"""Recipe values the checks of this release must let through, and errors that must not cascade: a file name with a
comma, the variables the stdlib's own generate prompt uses in an inline prompt, and mixture names of an entry that
failed for another reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq
from helpers import REPO, run_cli

DOLLY = REPO / "tests" / "data" / "dolly" / "databricks-dolly-15k.head.jsonl"
RECIPE = """hum: 1
name: values
models:
  writer: {{base_url: "http://127.0.0.1:9/v1", model: m}}
sources:
  d: {{path: "{path}"}}
tasks:
  - id: g
    task: generalist
    source: d
    fields: {{instruction: instruction, context: context, response: response}}
{extra}    formats: [{formats}]
output:
  splits: {{train: 1.0}}
{output}"""


def recipe(tmp: Path, *, path: str = "dolly.jsonl", extra: str = "", formats: str = "text", output: str = "") -> Path:
    shutil.copy(DOLLY, tmp / path)
    out = tmp / "values.hum.yaml"
    out.write_text(RECIPE.format(path=path, extra=extra, formats=formats, output=output), encoding="utf-8")
    return out


def test_a_source_file_whose_name_holds_a_comma_is_one_file_not_a_list(tmp_path):
    result = run_cli("check", str(recipe(tmp_path, path="dolly,v2.jsonl")))
    assert result.exit_code == 0, result.output
    assert "values.hum.yaml: ok — 1 task(s), 1 source(s)" in result.output


def test_an_inline_prompt_may_use_the_labels_and_language_the_stdlib_prompt_uses(tmp_path):
    prompt = ("    generate:\n      model: writer\n      prompt: |\n"
              "        Answer in {{ language }}{% if labels %}, one of {{ labels | join(', ') }}{% endif %}:\n"
              "        {{ record.instruction }}\n")
    result = run_cli("check", str(recipe(tmp_path, extra=prompt)))
    assert result.exit_code == 0, result.output
    assert "values.hum.yaml: ok" in result.output


def test_mixture_names_of_an_entry_that_failed_are_not_reported_as_typos_too(tmp_path):
    path = recipe(tmp_path, formats='text, "text(nope=1)"', output="  mixture: {caps: {entry: {g: 5}}}\n")
    result = run_cli("check", str(path))
    assert result.exit_code == 2 and "unknown format option 'nope'" in result.output
    assert "E0008" not in result.output and "which no task entry has" not in result.output


def test_a_mixture_format_may_be_written_as_in_formats_with_spaces(tmp_path):
    path = recipe(tmp_path, formats='text, "json | compact"',
                  output='  mixture: {caps: {format: {"json | compact": 2}}}\n')
    result = run_cli("build", str(path), "-q", "-j", "1")
    assert result.exit_code == 0, result.output
    formats = [r["answer_format"] for f in (tmp_path / "out" / "values" / "data").glob("*.parquet")
               for r in pq.read_table(f, columns=["answer_format"]).to_pylist()]
    assert formats.count("json|compact") == 2 and formats.count("text") > 2
