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


CONLL = """hum: 1
name: named
constants:
  types: {{file: types.txt}}
  topics: {{World: w}}
sources:
  c: {{path: eng.testa.head, format: conll, options: {{columns: [tokens, pos, chunk, ner_tags]}}}}
tasks:
  - id: ner
    task: ner
    source: c
    fields:
{fields}    labels: {labels}
    formats: [json]
output:
  splits: {{train: 1.0}}
"""


def conll_recipe(tmp: Path, labels: str, fields: str = "      text: tokens | join(\" \")\n"
                 "      entities: bio_spans(tokens, ner_tags, scheme=\"iob1\")\n") -> Path:
    shutil.copy(REPO / "tests" / "data" / "conll2003" / "eng.testa.head", tmp)
    (tmp / "types.txt").write_text("PER\nORG\nLOC\n", encoding="utf-8")
    out = tmp / "named.hum.yaml"
    out.write_text(CONLL.format(labels=labels, fields=fields), encoding="utf-8")
    return out


def test_labels_naming_a_constant_are_its_labels(tmp_path):
    result = run_cli("build", str(conll_recipe(tmp_path, "types")), "-q", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    rows = pq.read_table(tmp_path / "out" / "named" / "data").to_pylist()
    assert rows and all(sorted(r["labels"]) == ["LOC", "ORG", "PER"] for r in rows)
    assert "MISC" not in "".join(r["gold"] for r in rows)  # records with MISC are outside the set: dropped


def test_labels_naming_a_constant_that_is_no_list_is_located_at_the_name(tmp_path):
    result = run_cli("check", str(conll_recipe(tmp_path, "topics")))
    assert result.exit_code == 2
    assert "named.hum.yaml:15:13: error[E0008]: `labels: topics` names a constant that is not a list of labels" \
        in result.output


def test_a_field_mapped_under_another_name_is_named_with_the_rename(tmp_path):
    fields = "      txt: tokens | join(\" \")\n      spans: bio_spans(tokens, ner_tags)\n      pos: pos\n"
    result = run_cli("check", str(conll_recipe(tmp_path, "types", fields)))
    assert result.exit_code == 2
    assert "named.hum.yaml:13:7: error[E2010]: 'fields' of task 'ner' does not map 'text', 'entities'" in result.output
    assert "hint: fields the task does not read: txt, spans, pos" in result.output  # `spans` is unlike `entities`
    fields = "      txt: tokens | join(\" \")\n      entites: bio_spans(tokens, ner_tags)\n"
    result = run_cli("check", str(conll_recipe(tmp_path, "types", fields)))
    assert "error[E2010]: 'fields' of task 'ner' does not map 'text', 'entities', and task 'ner' reads no 'txt', " \
           "'entites'" in result.output
    assert "hint: rename 'txt' to 'text' and 'entites' to 'entities'" in result.output


DUEE = REPO / "tests" / "data" / "duee"
SCHEMA_RECIPE = """hum: 1
name: du
constants:
  event_types: {{file: duee_event_schema.json{key}}}
sources:
  d: {{catalog: duee, path: duee_dev.head60.json}}
tasks:
  - source: d
    labels: event_types
"""


def test_a_json_lines_schema_file_gives_a_constant_of_one_field_per_line(tmp_path):
    for name in ("duee_event_schema.json", "duee_dev.head60.json"):
        shutil.copy(DUEE / name, tmp_path)
    (tmp_path / "du.hum.yaml").write_text(SCHEMA_RECIPE.format(key=", key: event_type"), encoding="utf-8")
    result = run_cli("build", "du.hum.yaml", "-q", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    rows = pq.read_table(tmp_path / "out" / "du" / "data").to_pylist()
    assert rows and all(len(r["labels"]) == 65 and "财经/交易-出售/收购" in r["labels"] for r in rows)

    (tmp_path / "du.hum.yaml").write_text(SCHEMA_RECIPE.format(key=", key: event_typ"), encoding="utf-8")
    result = run_cli("check", "du.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 2
    assert "du.hum.yaml:4:52: error[E0008]: constant 'event_types': item 1 of duee_event_schema.json has no field " \
           "'event_typ' (fields 'event_type', 'role_list', 'id', 'class')" in result.output
    assert "did you mean 'event_type'?" in result.output

    (tmp_path / "du.hum.yaml").write_text(SCHEMA_RECIPE.format(key=""), encoding="utf-8")  # the objects themselves
    result = run_cli("check", "du.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 2 and "`labels: event_types` names a constant that is not a list of labels" in result.output
