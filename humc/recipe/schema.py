"""A JSON Schema (draft 2020-12) for `.hum.yaml` recipes, for editors (yaml-language-server, VS Code).

Stage: recipe (documentation of the validate stage; the build never reads it). Decisions:

- The hand-written validator stays the authority. This schema is GENERATED from the validator's own tables
  (``TOP_KEYS``, ``TASK_KEYS``, ``OUTPUT_KEYS``… in ``validate.py``, ``MODEL_KEYS`` and the LLM step keys in
  ``validate_llm.py``, ``FORMATS`` / ``SOURCE_OPTION_DOCS`` in ``sources.py``) and from the built-in stdlib
  (``load_stdlib()``), so a key added to the validator shows up here. ``docs/recipe.schema.json`` is the
  committed copy; ``humc schema --out docs/recipe.schema.json`` regenerates it and a test keeps it current.
- It is looser than the validator where JSON Schema cannot say more (expressions are plain strings, split
  fractions are not summed, source files are not opened), never stricter on a recipe the validator accepts,
  with one exception: stdlib ids are enums of the built-in stdlib. A recipe that declares its own
  ``stdlib:`` folders gets the same structure without those enums (its ids are unknown here).
- Mappings the validator closes (unknown key → error) carry ``additionalProperties: false``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from humc.answers.formats import codec_names
from humc.ir import ABLATIONS, MIXTURE_DIMENSIONS
from humc.recipe import validate, validate_llm
from humc.recipe.stdlib import GUIDELINE_KEYS, RULE_KEYS, Stdlib, load_stdlib
from humc.sources import FORMATS, SOURCE_OPTION_DOCS

Schema = dict[str, Any]

# What each key means, by its path in the recipe (wording from the README's recipe reference).
DESCRIPTIONS: dict[str, str] = {
    "hum": "Recipe language version.",
    "name": "Names the output folder out/<name> (letters, digits, '.', '_' or '-').",
    "description": "Free text for the dataset card.",
    "language": "Default language of instruction templates.",
    "license": "License of the built dataset (dataset card metadata), e.g. cc-by-sa-4.0.",
    "stdlib": "Extra stdlib folders (same layout as stdlib/); their assets override built-ins of the same id.",
    "constants": "Values expressions can use; {file: …} reads one item per line.",
    "models": "OpenAI-compatible models used by synth/generate/judge, by recipe-local name.",
    "sources": "Source id -> a data file (jsonl, json, csv, tsv, parquet, orc, avro, arrow, conll, squad) or a local HF dataset.",
    "tasks": "Task entries: each maps a source onto a stdlib task and chooses guidelines, rules, templates, formats.",
    "output": "Where and how the dataset is written.",
    "publish": "Hugging Face Hub settings for `humc push` / `humc build --push`.",
    "cache": "Cache folder (default .humc/cache).",
    "executor": "Where a build runs its chunk-wise nodes; never changes the output.",
    "constant.file": "A UTF-8 text file (relative to the recipe) with one item per line; a .json file's value; "
                     "a .jsonl file (or a .json of JSON Lines) the list of its lines' values.",
    "constant.key": "With a JSON list or JSON Lines of objects: the value of this field of each object.",
    "source.path": "A data file, relative to the recipe.",
    "source.member": "A file or folder inside the zip or tar archive `path:` names (SST-2/dev.tsv in SST-2.zip), "
                     "read without extracting the archive by hand.",
    "source.format": "The reader; inferred from the file extension (else the content) when omitted.",
    "source.options": "Reader options; which ones apply depends on the format.",
    "source.catalog": "A dataset adapter (`humc stdlib catalog`): the dataset's format, options and task defaults; "
                      "a task entry reading this source may leave out task, fields, labels, guidelines and preferences.",
    "source.dataset": "A Hub dataset already in the local Hugging Face cache, or a dataset folder next to the recipe.",
    "dataset.name": "ORG/NAME on the Hub, or a local folder.",
    "dataset.config": "Dataset configuration name.",
    "dataset.split": "Split to read.",
    "dataset.revision": "Dataset revision (branch, tag or commit).",
    "dataset.class_labels": "true: ClassLabel integers read as their names (from the dataset's features).",
    "model.base_url": "Base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1.",
    "model.model": "The model id sent to the server.",
    "model.params": "Sampling parameters (temperature, top_p, max_tokens, seed…); not model/messages/stream.",
    "model.concurrency": "Requests in flight.",
    "model.max_retries": "Retries of 429/5xx/timeouts and malformed answers.",
    "model.timeout": "Seconds per request.",
    "model.api_key_env": "Name of the environment variable holding the API key (default OPENAI_API_KEY).",
    "model.structured_output": "How answer schemas reach the server: auto (probe once: json_schema, else json_object "
                               "+ schema, else json_object, else off), json_schema, json_object or off.",
    "task.id": "Entry id (default: the task name); must be unique.",
    "task.task": "A stdlib task: see `humc stdlib tasks`.",
    "task.source": "A source id declared under `sources:`.",
    "task.language": "Template language of this entry (default: the recipe's).",
    "task.fields": "Task field <- expression over the source row.",
    "task.where": "Filter expression (sees the mapped fields).",
    "task.split_by": "Expression over the mapped fields: records with equal values share a split (`context`: one "
                     "passage's questions in one split, in every task entry); null: none, over a catalog adapter's.",
    "task.sample": "Deterministic sample: n, or {n, seed}.",
    "task.labels": "Closed-schema tasks: fixed label set (default: collected), or the name of a constant holding one.",
    "task.schema": "IEPile-style negative label sampling.",
    "task.guidelines": "Stdlib guideline ids or inline {id, text, labels}.",
    "task.preferences": "Stdlib rule ids, inline `when … then …` rules, or {id, text, when, then}.",
    "task.templates": "`all`, or a list of template ids (en_1, en_2, …).",
    "task.formats": "Format variants, optionally with modifiers: json, natural, \"json | shuffle_keys(seed=3) | indent(2)\"; "
                    "`all`: every variant that can write the task's answers.",
    "task.variants_per_record": "(template, format) pairs drawn per source row.",
    "task.seed": "Seed of this entry's random choices.",
    "task.synth": "`humc synth` proposals (paraphrases, guidelines, rules, hard negatives, examples) → `humc review` → RECIPE.lock.",
    "task.generate": "Build-time LLM step: fill empty answers (validated against the task).",
    "task.judge": "Build-time LLM-as-judge filter.",
    "sample.n": "Rows to keep.",
    "sample.seed": "Sampling seed.",
    "schema.negatives": "Negative label types sampled per instruction, or `all`.",
    "schema.shuffle": "Shuffle the label order shown in the instruction.",
    "schema.hard_negatives": "Confusable labels shown with a gold label: label -> [labels], or a stdlib/hard_negatives name.",
    "schema.split_num": "At most this many schema items per instruction; a text's schema is batched over instructions.",
    "schema.negative_ratio": "Positive : all-negative instructions, e.g. \"1:2\" (extra all-negative ones are dropped).",
    "schema.order": "Order of the labels shown: random (seeded), alphabetical or declared.",
    "schema.roles": "Event tasks (ee, eea): each event type's argument roles, event type -> [roles], or the name of a "
                    "constant holding that or DuEE's schema file; an ee instruction names them for each type it offers "
                    "(else the roles the gold gives it), a generated answer's roles are checked against them.",
    "mix": "Basic vs compound instructions: probabilities per instruction (task entries may override).",
    "task.mix": "Basic vs compound instructions for this entry (overrides the recipe's `mix:`).",
    "ablations": "Ablation datasets <name>-no-<part> written beside the dataset from the same rows and splits.",
    "output.held_out": "Templates, formats, labels and tasks whose instructions go only to the held-out split.",
    "output.mixture": "Corpus mixture: weights (target shares, by downsampling) and caps per dimension.",
    "synth.model": "A model declared under `models:`.",
    "synth.paraphrases": "Template paraphrases to propose.",
    "synth.guidelines": "Propose a guideline draft.",
    "synth.rules": "Preference rules to propose.",
    "synth.hard_negatives": "Propose confusable labels for each label (merged into schema.hard_negatives).",
    "synth.examples": "Positive and negative examples to propose per label (shown with its definition).",
    "synth.seed": "Seed of the proposals.",
    "generate.model": "A model declared under `models:`.",
    "generate.prompt": "A prompt template file (default: stdlib/prompts/generate.j2).",
    "generate.field": "The answer field to fill (default: the task's answer field).",
    "generate.overwrite": "Regenerate answers that are already present.",
    "generate.attempts": "Attempts per record before it is dropped.",
    "judge.model": "A model declared under `models:`.",
    "judge.prompt": "A prompt template file (default: stdlib/prompts/judge.j2).",
    "judge.min_score": "Keep records the judge scores at least this (1–5).",
    "judge.attempts": "Attempts per record before it is dropped.",
    "guideline.id": "Guideline id.",
    "guideline.title": "Title.",
    "guideline.tasks": "Tasks it applies to.",
    "guideline.language": "Language of the text (default en).",
    "guideline.text": "The guideline text.",
    "guideline.labels": "Label -> definition.",
    "rule.id": "Rule id.",
    "rule.title": "Title.",
    "rule.tasks": "Tasks it applies to.",
    "rule.text": "The instruction sentence, or {en: …, zh: …}.",
    "rule.when": "Condition expression (default: always).",
    "rule.then": "Answer operations, e.g. shortest(\"answer\") | empty_as(\"[]\").",
    "rule.codecs": "An empty_as rule only: the answer codecs it is stated under (default: every one).",
    "output.dir": "Output root; the dataset goes to <dir>/<name> (default out).",
    "output.splits": "Split -> fraction (they add up to 1); assigned per source row, so variants never leak across splits.",
    "output.shard_rows": "Rows per Parquet shard.",
    "output.dedup": "Drop exact (instruction, output) duplicates.",
    "output.seed": "Seed of the split assignment.",
    "output.strict": "Fail the build when any record is dropped for a problem.",
    "output.decontaminate": "Drop records sharing an n-gram with evaluation sets.",
    "decontaminate.against": "Evaluation files (as sources) to keep out.",
    "decontaminate.ngram": "n-gram length.",
    "publish.repo": "Hub dataset repository ORG/NAME.",
    "publish.private": "Create the repository as private.",
    "publish.revision": "Branch to publish to.",
    "publish.pretty_name": "Dataset card title.",
    "publish.tags": "Extra dataset card tags.",
    "publish.source_datasets": "Dataset card source_datasets.",
    "publish.card_template": "A Jinja2 Markdown file replacing the card body.",
}

STRING: Schema = {"type": "string"}
STRINGS: Schema = {"anyOf": [STRING, {"type": "array", "items": STRING}]}
POSITIVE: Schema = {"type": "integer", "minimum": 1}
NAMES: Schema = {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1, "uniqueItems": True}
# JSON types of source option values (what sources.source_option_problem accepts)
OPTION_TYPES: dict[str, Schema] = {
    "encoding": {"anyOf": [STRING, {"type": "array", "items": STRING, "minItems": 1}]}, "header": {"type": "boolean"},
    "columns": NAMES,
    "delimiter": {"type": "string", "minLength": 1, "maxLength": 1},
    "records": {"type": "string", "minLength": 1}, "doc_start": {"type": "string", "minLength": 1},
    "separator": {"type": ["string", "null"], "minLength": 1},
    "comment": {"type": "string", "minLength": 1}, "quoting": {"enum": ["none", "minimal"]},
    "quotechar": {"type": "string", "minLength": 1, "maxLength": 1}, "rest": {"type": "string", "minLength": 1},
    "escapechar": {"type": "string", "minLength": 1, "maxLength": 1},
    "group_by": {"type": "string", "minLength": 1}, "split": {"type": "string", "minLength": 1},
    "key_column": {"type": "string", "minLength": 1}, "key_names": {"type": "string", "minLength": 1},
    "pattern": {"type": "string", "minLength": 1},
    "class_labels": {"type": "boolean"}, "label_file": {"type": "string", "minLength": 1},
    "explode": NAMES,
    "lines": NAMES,
    "line_files": {"type": "object", "minProperties": 1,
                   "additionalProperties": {"type": "string", "minLength": 1}, "propertyNames": {"minLength": 1}},
}
# JSON types of the remaining keys, by path; a key missing here (a new validator key) is a bare `{}` with its description
MIX: Schema = {"type": "object", "additionalProperties": False,
               "properties": {k: {"type": "number", "minimum": 0, "maximum": 1} for k in ("compound", "guidelines",
                                                                                        "rules", "formats")}}
TYPES: dict[str, Schema] = {
    "hum": {"type": "integer", "enum": list(validate.SUPPORTED_VERSIONS)},
    "name": {"type": "string", "pattern": validate.NAME_RE.pattern},
    "description": STRING, "license": STRING, "stdlib": STRINGS, "cache": STRING,
    "executor": {"enum": list(validate.EXECUTORS)},
    "constant.file": STRING, "constant.key": STRING, "source.path": STRING, "source.member": STRING,
    "source.format": {"enum": list(FORMATS)},
    "source.catalog": STRING,
    "dataset.name": STRING, "dataset.config": STRING, "dataset.split": STRING, "dataset.revision": STRING,
    "dataset.class_labels": {"type": "boolean"},
    "model.base_url": STRING, "model.model": STRING, "model.concurrency": POSITIVE,
    "model.params": {"type": "object", "propertyNames": {"not": {"enum": list(validate_llm.RESERVED_PARAMS)}}},
    "model.max_retries": {"type": "integer", "minimum": 0}, "model.timeout": {"type": "number", "exclusiveMinimum": 0},
    "model.api_key_env": STRING, "model.structured_output": {"enum": list(validate_llm.STRUCTURED_MODES)},
    "task.id": STRING, "task.task": STRING, "task.source": STRING, "task.where": STRING,
    "task.split_by": {"type": ["string", "null"]}, "task.labels": STRINGS,
    "task.variants_per_record": POSITIVE, "task.seed": {"type": "integer"},
    "sample.n": POSITIVE, "sample.seed": {"type": "integer"},
    "schema.negatives": {"anyOf": [{"type": "integer", "minimum": 0}, {"const": "all"}]},
    "schema.shuffle": {"type": "boolean"},
    "schema.hard_negatives": {"anyOf": [STRING, {"type": "object", "additionalProperties": {
        "anyOf": [STRING, {"type": "array", "items": STRING}]}}]},
    "schema.split_num": POSITIVE,
    "schema.negative_ratio": {"type": "string", "pattern": r"^\s*[0-9]+\s*:\s*[0-9]+\s*$"},
    "schema.order": {"enum": list(validate.SCHEMA_ORDERS)},
    "schema.roles": {"anyOf": [STRING, {"type": "object", "additionalProperties": {"type": "array", "items": STRING}}]},
    "mix": MIX, "task.mix": MIX,
    "ablations": {"anyOf": [{"enum": list(ABLATIONS)}, {"type": "array", "items": {"enum": list(ABLATIONS)}}]},
    "output.held_out": {"type": "object", "additionalProperties": False, "properties": {
        **{k: {"anyOf": [STRING, {"type": "array", "items": STRING}]} for k in ("templates", "formats", "labels", "tasks")},
        "split": STRING, "inputs": {"enum": ["shared", "unseen"]}}},
    "output.mixture": {"type": "object", "additionalProperties": False, "properties": {
        key: {"type": "object", "additionalProperties": False, "properties": {
            dim: {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}}
            for dim in MIXTURE_DIMENSIONS}} for key in ("weights", "caps")}},
    "synth.model": STRING, "generate.model": STRING, "judge.model": STRING,
    "synth.guidelines": {"type": "boolean"}, "synth.seed": {"type": "integer"}, "synth.hard_negatives": {"type": "boolean"},
    "generate.prompt": STRING, "generate.field": STRING, "generate.overwrite": {"type": "boolean"},
    "judge.prompt": STRING,
    "guideline.id": STRING, "guideline.title": STRING, "guideline.tasks": STRINGS, "guideline.language": STRING,
    "guideline.text": STRING, "guideline.labels": {"type": "object"},
    "rule.id": STRING, "rule.title": STRING, "rule.tasks": STRINGS, "rule.when": STRING, "rule.then": STRING,
    "rule.codecs": {"anyOf": [{"enum": list(codec_names())}, {"type": "array", "items": {"enum": list(codec_names())}}]},
    "rule.text": {"anyOf": [STRING, {"type": "object", "additionalProperties": STRING}]},
    "output.dir": STRING, "output.shard_rows": POSITIVE, "output.dedup": {"type": "boolean"}, "output.seed": {"type": "integer"},
    "output.strict": {"type": "boolean"},
    "output.splits": {"type": "object", "minProperties": 1, "propertyNames": {"pattern": validate.SPLIT_RE.pattern},
                      "additionalProperties": {"type": "number", "exclusiveMinimum": 0, "maximum": 1}},
    "decontaminate.ngram": {"type": "integer", "minimum": validate.NGRAM_RANGE[0], "maximum": validate.NGRAM_RANGE[1]},
    "publish.repo": STRING, "publish.private": {"type": "boolean"}, "publish.revision": STRING,
    "publish.pretty_name": STRING, "publish.tags": STRINGS, "publish.source_datasets": STRINGS,
    "publish.card_template": STRING,
}


def recipe_schema(lib: Stdlib | None = None) -> Schema:
    """The recipe JSON Schema, built from the validator's tables and the (built-in) stdlib."""
    lib = lib or load_stdlib()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "humc recipe (.hum.yaml)",
        "description": "A Hum recipe: sources -> task entries -> an NLU instruction dataset. Generated by `humc schema`.",
        **_closed("", validate.TOP_KEYS, required=["hum", "name", "sources", "tasks"], special={
            "language": {"$ref": "#/$defs/language"},
            "constants": {"type": "object", "additionalProperties": {"$ref": "#/$defs/constant"}},
            "models": {"type": "object", "additionalProperties": {"$ref": "#/$defs/model"}},
            "sources": {"type": "object", "additionalProperties": {"$ref": "#/$defs/source"}},
            "tasks": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/task"}},
            "output": {"$ref": "#/$defs/output"},
            "publish": _closed("publish", validate.PUBLISH_KEYS),
        }),
        # a recipe with its own stdlib folders may use ids the built-in stdlib does not have
        "if": {"required": ["stdlib"]},
        "else": {"properties": {"tasks": {"items": {"$ref": "#/$defs/builtinStdlib"}}}},
        "$defs": {**_defs(), "builtinStdlib": _builtin_names(lib)},
    }


def schema_text(lib: Stdlib | None = None) -> str:
    """The schema as committed in docs/recipe.schema.json (stable key order, trailing newline)."""
    return json.dumps(recipe_schema(lib), indent=2, ensure_ascii=False) + "\n"


def _defs() -> dict[str, Schema]:
    return {
        "language": {"type": "string", "pattern": validate.LANGUAGE_RE.pattern,
                     "description": "ISO 639 code (+ region); instructions are in it when templates for it exist "
                                    "(the stdlib: " + ", ".join(validate.LANGUAGES) + "), else in English"},
        "constant": {"anyOf": [_closed("constant", validate.CONSTANT_FILE_KEYS, required=["file"]),
                               {"type": "object", "not": {"required": ["file"]},
                                "description": "a mapping value, e.g. a label map for lookup(label, NAME)"},
                               {"not": {"type": "object"}}]},
        "model": _closed("model", validate_llm.MODEL_KEYS, required=["base_url", "model"]),
        "source": _source(),
        # task and fields may come from a catalog source (`sources: {x: {catalog: …}}`), which a schema cannot see
        "task": _closed("task", validate.TASK_KEYS, required=["source"], special={
            "language": {"$ref": "#/$defs/language"},
            "fields": {"type": "object", "additionalProperties": STRING, "propertyNames": {
                "pattern": validate.FIELD_RE.pattern, "not": {"enum": list(validate.RESERVED_FIELDS)}}},
            "sample": {"anyOf": [POSITIVE, _closed("sample", validate.SAMPLE_KEYS, required=["n"])]},
            "schema": _closed("schema", validate.SCHEMA_KEYS),
            "guidelines": _one_or_many({"anyOf": [STRING, _closed("guideline", GUIDELINE_KEYS, required=["id"])]}),
            "preferences": _one_or_many({"anyOf": [STRING, _closed("rule", RULE_KEYS, required=["id", "then"])]}),
            "templates": {"anyOf": [STRING, {"type": "array", "minItems": 1, "items": STRING}]},
            "formats": {"anyOf": [STRING, {"type": "array", "minItems": 1, "items": STRING}]},
            "synth": _closed("synth", validate_llm.SYNTH_KEYS, required=["model"]),
            "generate": _closed("generate", validate_llm.GENERATE_KEYS, required=["model"]),
            "judge": _closed("judge", validate_llm.JUDGE_KEYS, required=["model"]),
        }),
        "output": _closed("output", validate.OUTPUT_KEYS, special={
            "decontaminate": _closed("decontaminate", validate.DECONTAMINATE_KEYS, required=["against"], special={
                "against": {"anyOf": [{"$ref": "#/$defs/source"}, {"type": "array", "minItems": 1,
                                                                  "items": {"$ref": "#/$defs/source"}}]}}),
        }),
    }


def _source() -> Schema:
    """`path` shorthand or a mapping; options are checked per format, and `dataset:` excludes path/options."""
    options = {key: {**OPTION_TYPES.get(key, {}), "description": doc} for key, doc in SOURCE_OPTION_DOCS.items()}
    mapping = _closed("source", validate.SOURCE_KEYS, special={
        "options": {"type": "object", "properties": options, "additionalProperties": False},
        "dataset": {"anyOf": [STRING, _closed("dataset", validate.DATASET_KEYS, required=["name"])]},
    })
    mapping["oneOf"] = [{"required": ["path"], "not": {"required": ["dataset"]}},
                        {"required": ["dataset"], "not": {"anyOf": [{"required": ["path"]}, {"required": ["options"]}]}}]
    mapping["allOf"] = [{"if": {"required": ["format"], "properties": {"format": {"const": fmt}}},
                         "then": {"properties": {"options": {"propertyNames": {"enum": list(allowed)}}}}}
                        for fmt, allowed in FORMATS.items()]
    return {"anyOf": [{"type": "string", "description": "Shorthand for {path: …}."}, mapping]}


def _builtin_names(lib: Stdlib) -> Schema:
    """The stdlib-id constraints on a task entry, applied when the recipe adds no stdlib folders."""
    guideline = {"anyOf": [_named(lib.guidelines, "title"), {"type": "object"}]}
    rule = {"anyOf": [_named(lib.rules, "title"), {"type": "string", "pattern": r"^\s*when\s"}, {"type": "object"}]}
    variants = {v.id: f"codec {v.spec.codec}" for v in lib.variants.values()}
    codecs = {c: "a bare codec" for c in codec_names() if c not in variants}
    fmt = {"anyOf": [_named_plain({**variants, **codecs}),
                     {"type": "string", "pattern": r"[|(]", "description": "A pipeline: json | shuffle_keys(seed=3)"}]}
    return {
        "properties": {
            "task": _named(lib.tasks, "title"),
            "guidelines": _one_or_many(guideline),
            "preferences": _one_or_many(rule),
            "formats": _one_or_many(fmt),
        },
        "allOf": [{"if": {"required": ["task"], "properties": {"task": {"const": task}}},
                   "then": {"properties": {"templates": _one_or_many({"enum": ["all", *sorted(templates)]})}}}
                  for task, templates in sorted(lib.templates.items())],
    }


def _closed(prefix: str, keys: Iterable[str], required: Iterable[str] = (), special: Mapping[str, Schema] | None = None) -> Schema:
    """An object schema with exactly ``keys``, each typed from ``special`` / ``TYPES`` and described."""
    special = special or {}
    props = {}
    for key in keys:
        path = f"{prefix}.{key}" if prefix else key
        schema = dict(special.get(key) or TYPES.get(path) or _count(key) or {})
        if path in DESCRIPTIONS:
            schema["description"] = DESCRIPTIONS[path]
        props[key] = schema
    out: Schema = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        out["required"] = list(required)
    return out


def _count(key: str) -> Schema | None:
    """LLM step counts (`paraphrases`, `attempts`, …) with the validator's bounds and defaults."""
    if key not in validate_llm.COUNT_RANGES:
        return None
    low, high, default = validate_llm.COUNT_RANGES[key]
    return {"type": "integer", "minimum": low, "maximum": high, "default": default}


def _one_or_many(item: Schema) -> Schema:
    return {"anyOf": [item, {"type": "array", "items": item}]}


def _named(assets: Mapping[str, Any], attr: str) -> Schema:
    return _named_plain({name: getattr(asset, attr) for name, asset in assets.items()})


def _named_plain(titles: Mapping[str, str]) -> Schema:
    """An enum whose members carry a description each (shown by editors in completions)."""
    return {"type": "string", "enum": sorted(titles), "markdownEnumDescriptions": [titles[k] for k in sorted(titles)]}
