"""The recipe JSON Schema (docs/recipe.schema.json): generated from the validator's tables, current,
accepting every recipe the validator accepts and rejecting unknown keys and wrong types."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from helpers import REPO, example_recipes, run_cli

from humc.recipe import stdlib, validate, validate_llm
from humc.recipe.schema import OPTION_TYPES, recipe_schema, schema_text
from humc.recipe.validate import compile_recipe
from humc.sources import FORMATS, SOURCE_OPTION_DOCS

SCHEMA_FILE = REPO / "docs" / "recipe.schema.json"
RECIPES = example_recipes()


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = recipe_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def problems(validator: jsonschema.Draft202012Validator, recipe: str | dict) -> list[str]:
    data = yaml.safe_load(recipe) if isinstance(recipe, str) else recipe
    return ["/".join(map(str, e.absolute_path)) + ": " + e.message for e in validator.iter_errors(data)]


def test_the_committed_schema_is_the_generated_one():
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), (
        "docs/recipe.schema.json is stale: regenerate it with `humc schema --out docs/recipe.schema.json`")


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_every_example_recipe_is_valid_and_names_the_schema(validator, path):
    text = path.read_text(encoding="utf-8")
    assert problems(validator, text) == []
    assert text.splitlines()[0] == "# yaml-language-server: $schema=../docs/recipe.schema.json"


FULL = """\
hum: 1
name: full
description: every key the validator knows
language: en
license: mit
cache: .cache
executor: local
constants:
  topics: [a, b]
  names: {file: names.txt}
models:
  writer: {base_url: "http://127.0.0.1:9/v1", model: m, params: {temperature: 0.5}, concurrency: 2, max_retries: 0,
           timeout: 5, api_key_env: KEY}
sources:
  qa: data.jsonl
  qa2: {path: data.csv, format: csv, options: {header: true, delimiter: ",", encoding: utf-8}}
  local: {dataset: {name: hfdir, split: train}}
tasks:
  - id: qa
    task: mrc_extractive
    source: qa
    language: en
    fields: {context: context, question: question, answers: answers}
    where: len(context) > 0
    sample: {n: 1, seed: 3}
    guidelines: [squad_span_conventions, {id: mine, text: Be brief.}]
    preferences: [shortest_span, "when len(answer) == 0 then empty_as(\\"none\\")", {id: r, text: x, then: dedupe}]
    templates: [en_1, en_2]
    formats: [json, natural, "json | shuffle_keys(seed=3) | indent(2)"]
    variants_per_record: 2
    seed: 1
    synth: {model: writer, paraphrases: 1, guidelines: true, rules: 1, seed: 2}
    judge: {model: writer, min_score: 3, attempts: 2}
  - id: topics
    task: classification
    source: qa2
    fields: {text: text, label: label}
    labels: [a, b]
    schema: {negatives: all, shuffle: false}
    sample: 1
    templates: all
    formats: json
    generate: {model: writer, overwrite: true, attempts: 2}
output:
  dir: out
  splits: {train: 0.5, test: 0.5}
  shard_rows: 10
  dedup: false
  seed: 4
  decontaminate: {against: [eval.jsonl], ngram: 5}
publish: {repo: org/name, private: true, revision: main, pretty_name: Full, tags: [x], source_datasets: [y],
          card_template: card.md.j2}
"""


def test_a_recipe_using_every_key_is_accepted_by_both_the_validator_and_the_schema(validator, tmp_path):
    row = {"context": "Paris is in France.", "question": "Where is Paris?", "answers": ["France"]}
    (tmp_path / "data.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    (tmp_path / "eval.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    (tmp_path / "data.csv").write_text("text,label\nhello,a\n", encoding="utf-8")
    (tmp_path / "names.txt").write_text("x\ny\n", encoding="utf-8")
    (tmp_path / "card.md.j2").write_text("# {{ pretty_name }}\n", encoding="utf-8")
    (tmp_path / "hfdir").mkdir()
    path = tmp_path / "full.hum.yaml"
    path.write_text(FULL, encoding="utf-8")
    recipe = compile_recipe(path)
    assert [t.id for t in recipe.tasks] == ["qa", "topics"]
    assert problems(validator, FULL) == []


@pytest.mark.parametrize("change, where", [
    (("name: full", "name: full\nnmae: x"), ""),                                       # unknown top key
    (("name: full", "name: [1]"), "name"),                                             # wrong type
    (("    seed: 1\n", "    sed: 1\n"), "tasks/0"),                                    # unknown task key
    (("task: mrc_extractive", "task: mrc_extractiv"), "tasks/0/task"),                 # not a stdlib task
    (("templates: [en_1, en_2]", "templates: [en_9]"), "tasks/0/templates"),           # not a template of the task
    (("[shortest_span,", "[shortest_spam,"), "tasks/0/preferences"),                  # not a stdlib rule
    (("header: true, delimiter", "header: true, records: x, delimiter"), "sources/qa2"),  # option of another format
    (("shard_rows: 10", "shard_rows: many"), "output/shard_rows"),                     # wrong type
    (("shard_rows: 10", "shard_rows: 0"), "output/shard_rows"),                        # out of range
    (("judge: {model: writer, min_score: 3", "judge: {model: writer, min_score: 9"), "tasks/0/judge/min_score"),
    (("concurrency: 2", "concurrency: 2, api_key: sk-x"), "models/writer"),            # secrets never go in a recipe
    (("  local: {dataset: {name: hfdir, split: train}}", "  local: {dataset: hfdir, path: data.jsonl}"), "sources/local"),
])
def test_invalid_recipes_fail_schema_validation_at_the_offending_key(validator, change, where):
    old, new = change
    assert old in FULL
    found = problems(validator, FULL.replace(old, new, 1))
    assert found, "the schema accepted an invalid recipe"
    assert any(p.startswith(where) for p in found), found


def test_a_recipe_with_its_own_stdlib_may_use_ids_the_builtin_stdlib_lacks(validator):
    custom = FULL.replace("task: mrc_extractive", "task: my_task").replace("[squad_span_conventions,", "[my_guideline,")
    assert problems(validator, custom)
    assert problems(validator, custom.replace("name: full", "name: full\nstdlib: [my_assets]")) == []


def _node(schema: dict, pointer: str) -> dict:
    node = schema
    for part in filter(None, pointer.split("/")):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def test_every_key_of_the_validators_tables_is_in_the_schema_with_a_description():
    schema = recipe_schema()
    task = "$defs/task/properties"
    source = "$defs/source/anyOf/1"
    tables = {  # JSON pointer of an object schema -> the validator table of its keys
        "": validate.TOP_KEYS,
        "$defs/task": validate.TASK_KEYS,
        "$defs/model": validate_llm.MODEL_KEYS,
        "$defs/output": validate.OUTPUT_KEYS,
        "$defs/output/properties/decontaminate": validate.DECONTAMINATE_KEYS,
        "properties/publish": validate.PUBLISH_KEYS,
        "$defs/constant/anyOf/0": validate.CONSTANT_FILE_KEYS,
        f"{task}/sample/anyOf/1": validate.SAMPLE_KEYS,
        f"{task}/schema": validate.SCHEMA_KEYS,
        f"{task}/synth": validate_llm.SYNTH_KEYS,
        f"{task}/generate": validate_llm.GENERATE_KEYS,
        f"{task}/judge": validate_llm.JUDGE_KEYS,
        f"{task}/guidelines/anyOf/0/anyOf/1": stdlib.GUIDELINE_KEYS,
        f"{task}/preferences/anyOf/0/anyOf/1": stdlib.RULE_KEYS,
        source: validate.SOURCE_KEYS,
        f"{source}/properties/dataset/anyOf/1": validate.DATASET_KEYS,
        f"{source}/properties/options": list(SOURCE_OPTION_DOCS),
    }
    for pointer, keys in tables.items():
        obj = _node(schema, pointer)
        assert set(obj["properties"]) == set(keys) and obj["additionalProperties"] is False, pointer
        assert [k for k in keys if "description" not in obj["properties"][k]] == [], pointer
        untyped = [k for k in keys if not {"type", "enum", "anyOf", "$ref"} & set(obj["properties"][k])]
        assert untyped == [], f"{pointer}: give these keys a JSON type in humc/recipe/schema.py TYPES"
    per_format = {fmt: _node(schema, f"{source}/allOf/{i}/then/properties/options/propertyNames")["enum"]
                  for i, fmt in enumerate(FORMATS)}
    assert per_format == {fmt: list(allowed) for fmt, allowed in FORMATS.items()}
    assert set(OPTION_TYPES) == set(SOURCE_OPTION_DOCS), "every source option needs a JSON type in OPTION_TYPES"
    assert set(_node(schema, "$defs/builtinStdlib/properties/task")["enum"]) == set(stdlib.load_stdlib().tasks)


def test_humc_schema_prints_the_schema_and_writes_it_with_out(tmp_path):
    printed = run_cli("schema")
    assert printed.exit_code == 0 and json.loads(printed.output) == recipe_schema()
    target = tmp_path / "sub" / "recipe.schema.json"
    written = run_cli("schema", "--out", str(target))
    assert written.exit_code == 0 and target.read_text(encoding="utf-8") == schema_text()


def test_humc_schema_reports_an_unwritable_target(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    result = run_cli("schema", "--out", str(blocker / "recipe.schema.json"))
    assert result.exit_code == 2 and "error[E3002]: cannot write" in result.output and "Traceback" not in result.output
    assert not Path(blocker / "recipe.schema.json").exists()
