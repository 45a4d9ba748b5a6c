"""Validate stage: a located YAML tree -> the recipe IR (``ir.Recipe``).

Checks every key, type, name and expression, and reports compiler-style errors that
point at the offending node. Collects as many independent errors as it can (one per
section or task entry) before giving up, so a user fixes them in one pass.
"""

from __future__ import annotations

import codecs
import dataclasses
import functools
import json
import math
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from humc.answers import formats
from humc.answers.ops import OPS
from humc.errors import (
    NAME_MAX,
    PATH_MAX,
    ErrorList,
    HumcError,
    RecipeError,
    RecipeWarning,
    Span,
    did_you_mean,
    file_named_below,
    missing_file_hint,
    too_long_path,
    type_name,
)
from humc.expr import Pipeline, call_parts, check_functions, literal_value, parse_expr, parse_pipeline, parse_rule
from humc.ir import (
    Compiled,
    Decontamination,
    EventRoles,
    FolderOrigin,
    Guideline,
    LockedAsset,
    Mix,
    Output,
    PreferenceRule,
    Publish,
    PublishedSource,
    Recipe,
    Sample,
    SchemaSampling,
    SourceDef,
    TaskDef,
    TaskEntry,
    Template,
    Variant,
    language_chain,
)
from humc.recipe.catalog import (
    HUB_FILE_FORMATS,
    RECORD_FORMATS,
    CatalogEntry,
    merged_options,
    task_with_defaults,
    unknown_catalog,
)
from humc.recipe.fieldsread import check_fields_read
from humc.recipe.lockfile import apply_lock, check_lock_entries, load_lock, lock_path_for, locked_assets
from humc.recipe.mixing import (
    check_held_out,
    check_mixture,
    parse_ablations,
    parse_held_out,
    parse_mix,
    parse_mixture,
    parse_ratio,
)
from humc.recipe.nodes import check_keys, check_present, describe, expect_kind, expr_source, opt, req, string_list
from humc.recipe.roles import file_roles, parse_roles
from humc.recipe.rules import check_columns, check_condition, compile_ops
from humc.recipe.stdlib import (
    Stdlib,
    digest,
    guideline_from_node,
    load_stdlib,
    rule_from_node,
    variant_from_pipeline,
    variant_problem,
)
from humc.recipe.validate_llm import declared_models, parse_generate, parse_judge, parse_models, parse_synth
from humc.recipe.yamlsrc import Node, load_yaml, load_yaml_text, not_a_regular_file, not_utf8, read_yaml_text
from humc.resources import stdlib_dir
from humc.sources import (
    FORMATS,
    SOURCE_OPTION_DOCS,
    RepeatedKeyError,
    archive_problem,
    infer_format,
    loads_unique,
    source_option_problem,
)
from humc.sources_hub import BRANCH_HINT, valid_branch_name
from humc.sources_readers import (
    ARCHIVE_FOLDER,
    archive_member,
    archive_members,
    archive_of,
    carries_features,
    class_label_set,
    foreign_kind,
    holds_json_list,
)
from humc.templating import syntax_problem, template_problem

SUPPORTED_VERSIONS = (1,)
REQUIRED_TOP_KEYS = {"hum": "start the recipe with `hum: 1` (the recipe language version)",
                     "name": "add `name: my-dataset` (it names the output folder)",
                     "tasks": "add `tasks:`, a list of task entries such as `- source: my_source` (README: Writing a "
                              "recipe)"}
TOP_KEYS = ["hum", "name", "description", "language", "license", "stdlib", "constants", "models", "sources",
            "tasks", "output", "publish", "cache", "executor", "mix", "ablations"]
TASK_KEYS = ["id", "task", "source", "language", "fields", "where", "sample", "labels", "schema", "guidelines",
             "preferences", "templates", "formats", "variants_per_record", "seed", "synth", "generate", "judge", "mix",
             "split_by"]
FIELD_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
RESERVED_FIELDS = ("record",)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
LANGUAGES = ("en", "zh")  # the stdlib's instructions are written in these; any other language falls back to en
# ISO 639 language code, then optionally a script and a region (BCP 47's usual tags: de, pt-BR, zh-Hant, es-419)
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(-[A-Z][a-z]{3})?(-(?:[A-Z]{2}|[0-9]{3}))?$")
# the keys each mapping accepts (the JSON Schema in recipe/schema.py reads these same tables)
CONSTANT_FILE_KEYS = ["file", "key"]
SHARDS_HINT = ("a folder of JSONL, CSV or Parquet shards is one source as `dataset: {name: <folder>}` "
               "(read by the `datasets` library); or name one file per source")


def missing_path_hint(text: str, path: Path, base: Path) -> str | None:
    """A glob (not expanded), a misspelt name among the folder's files, a file of that name elsewhere under the
    recipe's folder (`mine/x.jsonl` for `data/mine/x.jsonl`), or a missing folder."""
    if any(c in text for c in "*?["):
        return "paths are not expanded as globs: " + SHARDS_HINT
    expanded = os.path.expandvars(os.path.expanduser(text))
    if expanded != text:  # `~/data/x.jsonl`, `$DATA/x.jsonl`: no shell reads a recipe
        return (f"humc does not expand ~ or $VARIABLES in a recipe's paths (a recipe built elsewhere would read "
                f"another file): write the path relative to the recipe's folder, or absolute ({expanded})")
    if "://" in text:
        return "a recipe's paths name local files: download it first (a Hub dataset is a source's `dataset: {name: ORG/NAME}`)"
    hint = missing_file_hint(path)
    if (hint is None or hint.startswith("the folder")) and (found := file_named_below(base, path.name)) is not None:
        return f"did you mean '{found}'? A file of that name is there, below the recipe's folder"
    return hint


JSON_FORMATS = ("json", "jsonl", "squad", "iepile")  # readers of JSON text: a CSV table given to one is another version
COLUMN_FORMATS = ("conll", "conllu", "blocks")  # one token (or line) per line: a file of JSON records is another version
FOLDER_FORMATS = ("arrow", "json", "instructuie", "text_files", "conll", "brat")  # formats that may read a folder (save_to_disk,
# RACE, IE_INSTRUCTIONS, IMDB's label subfolders, CoNLL-2012's tree of *_conll files)
FOLDER_FORMAT_HINT = ("a folder: `format: text_files` reads one text per file of its label subfolders (IMDB), "
                      "`format: json` one JSON document per file (RACE), `format: conll` every column file of a tree "
                      "(CoNLL-2012), `format: brat` every X.ann/X.txt pair; a folder of shards is `dataset: {name: <folder>}`")
SOURCE_KEYS = ["path", "member", "format", "options", "dataset", "catalog"]
DATASET_KEYS = ["name", "config", "split", "revision", "class_labels"]
DATASET_SPEC_KEYS = DATASET_KEYS[:4]  # what names the data (pinned, fingerprinted); class_labels is how it is read
SAMPLE_KEYS = ["n", "seed"]
SCHEMA_KEYS = ["negatives", "shuffle", "hard_negatives", "split_num", "negative_ratio", "order", "roles"]
SCHEMA_ORDERS = ("random", "alphabetical", "declared")
OUTPUT_KEYS = ["dir", "splits", "shard_rows", "dedup", "seed", "decontaminate", "strict", "held_out", "mixture"]
DECONTAMINATE_KEYS = ["against", "ngram"]
PUBLISH_KEYS = ["repo", "private", "revision", "pretty_name", "tags", "source_datasets", "card_template"]
SPLIT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")  # at most 64: it names files (<split>-00000-of-00001.parquet)
# keys of one mapping written in another (a task entry's `split_by:` under `output:`): the hint says where they go
TASK_KEY_PLACE = "a task entry key (under `tasks:`, in each entry it applies to)"
IN_OUTPUT = {k: TASK_KEY_PLACE for k in TASK_KEYS if k not in OUTPUT_KEYS} | {
    k: "a top-level key of the recipe" for k in TOP_KEYS if k not in OUTPUT_KEYS and k not in TASK_KEYS}
IN_TASK = {k: "an `output:` key" for k in OUTPUT_KEYS if k not in TASK_KEYS} | {
    k: "a top-level key of the recipe" for k in TOP_KEYS if k not in TASK_KEYS and k != "output"} | {
    "output": "a top-level key of the recipe (`output:` beside `tasks:`)"}
NGRAM_RANGE = (3, 50)
DEFAULT_OUT = "out"              # output root and cache folder when the recipe names none: both relative to the
DEFAULT_CACHE = ".humc/cache"    # recipe's folder, like every path a recipe names

T = TypeVar("T")


def compile_recipe(path: Path, lib: Stdlib | None = None, cache_dir: Path | None = None) -> Recipe:
    """Parse and validate a recipe file; raises RecipeError / ErrorList. ``cache_dir`` (`--cache`, absolute) is the
    cache folder the recipe is built with when it is not the recipe's own: archive members are extracted there."""
    text = read_yaml_text(path, stream_ok=True)  # read once: the card shows and the plan hashes the text parsed
    lines = text.replace("\r\n", "\n").replace("\r", "\n")  # as text mode reads it (and always read it)
    return Validator(path, load_yaml_text(text, str(path)), lib, cache_dir).recipe(lines)


def refuse_nul(text: str, span: Span | None, what: str) -> None:
    """Paths reach the operating system, which cannot take a NUL character (``"\\0"`` in YAML)."""
    if "\0" in text:
        raise RecipeError(f"{what} holds a NUL character", span, code="E0008",
                          expected="a file or folder path without \\0 (no file system allows it)")


def resolved(path: Path, span: Span | None, what: str) -> Path:
    """``path`` made absolute with its symbolic links followed; a link that leads back to itself (``ln -s a a``, or a
    loop through folders) is E0009 here, not Python's RuntimeError/OSError from ``Path.resolve``; so is a path too long
    for any file system (every later look at it would fail with ENAMETOOLONG)."""
    too_long = too_long_path(path)
    if too_long is not None:
        raise RecipeError(f"{what} path is too long: {too_long}", span, code="E0009",
                          expected=f"file names of at most {NAME_MAX} bytes, a path of at most {PATH_MAX}",
                          hint="shorten the name (or the folders above it)")
    try:
        return path.resolve()
    except UnicodeEncodeError:  # LANG=C without Python's UTF-8 mode: file names are ASCII only
        raise RecipeError(f"{what} path {path} cannot be named in this system's file name encoding "
                          f"({sys.getfilesystemencoding()})", span, code="E0009",
                          expected="a path the locale can encode",
                          hint="use a UTF-8 locale (LANG=C.UTF-8) or Python's UTF-8 mode (PYTHONUTF8=1), or rename "
                               "the file with ASCII characters") from None
    except (RuntimeError, OSError) as exc:
        raise RecipeError(f"{what} path {path} leads through a symbolic link back to itself ({exc})", span,
                          code="E0009", expected="a path to a file or folder",
                          hint="fix or remove the link (`ls -l` shows where each link points)") from None


class Validator:
    def __init__(self, path: Path, root: Node, lib: Stdlib | None, cache_dir: Path | None = None) -> None:
        self.path = path
        self.cache_override = cache_dir
        self.base = path.parent
        self.root = root
        self.errors: list[HumcError] = []
        self._lib = lib
        self.catalog_of: dict[str, CatalogEntry] = {}  # source id -> the catalog adapter it names
        self.hub_versions: set[str] = set()  # catalog sources that are their dataset's Hub version (``hub_layout``)
        self.constants: dict[str, Any] = {}
        self.own_fields: dict[str, Node | None] = {}  # task entry id -> the `fields:` its recipe writes
        self.warnings: list[RecipeWarning] = []  # located, never raised: the recipe's notes name them

    def attempt(self, fn: Callable[[], T]) -> T | None:
        """Run one independent check; record its error and carry on."""
        try:
            return fn()
        except ErrorList as many:
            self.errors.extend(many.errors)
        except HumcError as exc:
            self.errors.append(exc)
        return None

    def _raise_collected(self) -> NoReturn:
        raise self.errors[0] if len(self.errors) == 1 else ErrorList(self.errors)

    def recipe(self, text: str) -> Recipe:
        """The validated recipe; ``text``: the file's text as it was parsed (the file may change meanwhile)."""
        root = self.root
        expect_kind(root, "mapping", what="the recipe")
        if root.get("hum") is None and (marker := root.get("humc_lock")) is not None:
            name = Path(str(marker.span.file)).name
            recipe = name.removesuffix(".lock") + ".yaml" if name.endswith(".lock") else "the recipe it belongs to"
            raise RecipeError("this is a lockfile (accepted synth proposals), not a recipe", marker.span, code="E0006",
                              expected="a recipe (.hum.yaml) with `hum: 1`", hint=f"name its recipe: {recipe}")
        self.attempt(lambda: check_keys(root, TOP_KEYS, "the recipe"))  # a misspelt `hmu:` too, not only 'no hum'
        for key, hint in REQUIRED_TOP_KEYS.items():
            self.attempt(functools.partial(check_present, root, key, "the recipe", hint=hint))
        if any(root.get(key) is None for key in REQUIRED_TOP_KEYS):  # nothing to go on with
            self._raise_collected()
        self._check_version(root.get("hum"))
        name = req(root, "name", "string", "the recipe")
        if not NAME_RE.match(name):
            raise RecipeError(f"invalid recipe name '{name}'", root.require("name").span,
                              expected="letters, digits, '.', '_' or '-', starting with a letter or digit (it names the output folder)",
                              code="E0008")
        language = self._language(root.get("language"), "en")
        self.stdlib_dirs = self._paths(root.get("stdlib"), "stdlib")
        named = string_list(root.get("stdlib"), "stdlib")
        for (text, item), folder in zip(named, self.stdlib_dirs, strict=True):
            if not folder.is_dir():
                raise RecipeError(f"stdlib folder {text} is a file", item.span, code="E0009",
                                  expected="a folder laid out like stdlib/ (templates/, guidelines/, catalog/, …)",
                                  hint="name the folder that holds your templates/ or guidelines/ folder")
        self.lib = self._lib or load_stdlib(self.stdlib_dirs, [item.span for _, item in named])
        self.mix = self.attempt(lambda: parse_mix(root.get("mix"), "the recipe", Mix())) or Mix()
        constants = self.attempt(lambda: self._constants(root.get("constants"))) or {}
        models = self.attempt(lambda: parse_models(root.get("models")))
        self.models = models if models is not None else declared_models(root.get("models"))  # one error, not one a step
        self.archives = self._archives(root.get("cache"))
        sources = self.attempt(lambda: self._sources(root.get("sources"))) or {}
        for entry in self.catalog_of.values():  # an adapter's constants, unless the recipe defines the name
            constants = {**entry.constants, **constants}
        self.constants = constants  # `labels: NAME` may name one
        failed_before = len(self.errors)
        tasks = self._tasks(root.get("tasks"), language, sources)
        all_tasks = len(self.errors) == failed_before  # else names of a failed entry would read as typos below
        lock_path = lock_path_for(self.path)
        locked: tuple[LockedAsset, ...] = ()
        lock_notes: list[str] = []
        if lock_path.exists():  # reviewed LLM-made assets (humc synth / humc review)
            lock = load_lock(lock_path)
            if all_tasks:  # a failed entry's id would read as unknown
                lock_notes = self.attempt(functools.partial(check_lock_entries, lock, {e.id for e in tasks})) or []
            tasks = [apply_lock(entry, lock, self.constants) for entry in tasks]
            locked = locked_assets(tasks, lock)
        for task_entry in tasks:  # after the lockfile: an accepted rule's `when` may read a field
            adapter = self.catalog_of.get(task_entry.source)
            self.attempt(functools.partial(check_fields_read, task_entry, self.own_fields.get(task_entry.id),
                                           adapter.fields_node().value if adapter is not None else ()))
        name_node = root.get("name")
        assert name_node is not None
        output = self.attempt(lambda: self._output(root.get("output"), name_node))
        publish = self.attempt(lambda: self._publish(root.get("publish")))
        executor = self.attempt(lambda: _executor(root.get("executor"))) or "local"
        ablations = self.attempt(lambda: parse_ablations(root.get("ablations"))) or ()
        if all_tasks and output is not None and output.held_out is not None:
            self.attempt(lambda: check_held_out(output, tasks, root.require("output").require("held_out")))
        if all_tasks and output is not None and output.mixture is not None:
            self.attempt(lambda: check_mixture(tasks, root.require("output").require("mixture")))
        if self.errors:
            self._raise_collected()
        cache = opt(root, "cache", "string", "the recipe", DEFAULT_CACHE)
        cache_node = root.get("cache")
        assert output is not None
        return Recipe(name=name, path=self.path, text=text,
                      description=opt(root, "description", "string", "the recipe", "") or "",
                      language=language, license=opt(root, "license", "string", "the recipe"),
                      constants=constants, sources=sources, tasks=tuple(tasks), output=output, publish=publish,
                      cache_dir=self._folder(cache, cache_node), models=self.models,
                      lock_path=lock_path if lock_path.exists() else None, locked=locked, executor=executor,
                      ablations=ablations, published=self._published(sources, tasks), lock_notes=tuple(lock_notes),
                      warnings=tuple(self.warnings),
                      cache_origin=FolderOrigin("cache", cache_node.span) if cache_node else FolderOrigin("default cache"))

    def _published(self, sources: Mapping[str, SourceDef], tasks: Sequence[TaskEntry]) -> tuple[PublishedSource, ...]:
        """The published datasets of the catalog sources the tasks read, in the recipe's order of sources."""
        used = {e.source for e in tasks}
        return tuple(PublishedSource(sid, e.id, e.title or e.id, e.license, e.homepage)
                     for sid in sources if sid in used for e in [self.catalog_of.get(sid)] if e is not None)

    # ------------------------------------------------------------ header

    def _check_version(self, node: Node | None) -> None:
        assert node is not None
        expected = "hum: " + " or ".join(map(str, SUPPORTED_VERSIONS))
        if type(node.value) is not int:  # 1.0, "1", true, null: the version is an integer as written
            raise RecipeError(f"the recipe version must be an integer, not {describe(node.kind)}", node.span,
                              expected=expected, code="E0011",
                              hint=f"write `{expected}`" + (" without quotes" if isinstance(node.value, str) else ""))
        if node.value not in SUPPORTED_VERSIONS:
            raise RecipeError(f"unsupported recipe version {node.value}", node.span, expected=expected, code="E0011")

    def _language(self, node: Node | None, default: str) -> str:
        if node is None:
            return default
        expect_kind(node, "string", what="language")
        tag = _canonical_tag(str(node.value))  # BCP 47 tags are case-insensitive: zh-tw is zh-TW
        if not LANGUAGE_RE.match(tag):
            raise RecipeError(f"'{node.value}' is not a language code", node.span, code="E2014",
                              expected="an ISO 639 code such as en, zh, de or es, a region after it: pt-BR",
                              hint=_language_hint(node.value))
        return tag

    def _path(self, node: Node | None, what: str, hint: str = "name one file", *, regular: bool = False) -> Path:
        """One file: a list (even of one) is refused here rather than read in part. ``regular``: the file is read
        whole here, so a named pipe or a device (which may never end) is refused too."""
        if node is not None and node.kind == "list":
            raise RecipeError(f"{what} must be one path, not a list", node.span, code="E0007", expected="a string",
                              hint=hint)
        (path,) = self._paths(node, what)
        problem = not_a_regular_file(path, node.span) if regular and node is not None else None
        if problem is not None:
            raise problem
        return path

    def _paths(self, node: Node | None, what: str) -> list[Path]:
        paths = []
        for text, item in string_list(node, what, names=False):  # `data/train,v2.jsonl` is one file
            refuse_nul(text, item.span, f"{what} path")
            if not text.strip():  # '' would name the recipe's own folder
                raise RecipeError(f"{what} path is empty", item.span, code="E0008",
                                  expected=f"a path relative to the recipe's folder ({self.base.resolve()})")
            p = resolved(self.base / text, item.span, what)
            if not p.exists():
                raise RecipeError(f"{what} path not found: {text}", item.span, code="E0009",
                                  expected=f"a path relative to the recipe's folder ({self.base.resolve()})",
                                  hint=missing_path_hint(text, p, self.base))
            paths.append(p)
        return paths

    def _constants(self, node: Node | None) -> dict[str, Any]:
        if node is None:
            return {}
        expect_kind(node, "mapping", what="constants")
        out: dict[str, Any] = {}
        for key, value in node.value.items():
            if value.kind == "mapping" and _is_file_constant(value):
                check_keys(value, CONSTANT_FILE_KEYS, f"constant '{key}'", required=["file"])
                path = self._path(value.get("file"), f"constant '{key}' file", regular=True)
                text = _file_text(f"constant '{key}'", path, value.require("file").span)
                if path.suffix.lower() in (".json", ".jsonl"):
                    out[key] = _json_constant(f"constant '{key}'", path, text)
                    if value.get("key") is not None:
                        out[key] = _plucked(key, path, out[key], value.require("key"))
                else:
                    if value.get("key") is not None:
                        raise RecipeError(f"constant '{key}': `key:` picks a field of JSON objects, and {path.name} "
                                          "is read one item per line", value.key_spans["key"], code="E0008",
                                          expected="a .json or .jsonl file of objects", hint="leave out `key:`")
                    out[key] = [ln.strip() for ln in text.splitlines() if ln.strip()]
            else:  # a value, or a mapping such as a label map (lookup(label, NAME))
                out[key] = value.plain()
        return out

    # ------------------------------------------------------------ sources

    def _sources(self, node: Node | None) -> dict[str, SourceDef]:
        if node is None:
            raise RecipeError("the recipe has no `sources:`", self.root.span, expected="a mapping of source ids to files", code="E0006")
        expect_kind(node, "mapping", what="sources")
        out = {}
        for sid, snode in node.value.items():
            src = self.attempt(functools.partial(self._source, sid, snode))
            if src:
                out[sid] = src
        return out

    def _source(self, sid: str, node: Node) -> SourceDef:
        if node.kind == "string":  # shorthand: `squad: data/squad.json`
            node = Node({"path": node}, node.span, {"path": node.span})
        what = f"source '{sid}'"
        check_keys(node, SOURCE_KEYS, what)
        if node.get("catalog") is not None:
            node = self._with_catalog(sid, node, what)
        fmt_node = node.get("format")
        if node.get("dataset") is not None:
            return self._hf_source(sid, node, what)
        check_present(node, "path", what)
        path_node = node.require("path")
        path = self._path(path_node, f"{what} file", "one source per file, or " + SHARDS_HINT, regular=True)
        if node.get("member") is not None:
            path = self._member(path, node.require("member"), what)
        archive = archive_problem(path)
        if archive is not None:
            raise RecipeError(f"{what}: {archive[0]}", path_node.span, code="E4002",
                              expected="a data file (JSON Lines, JSON, CSV, TSV, Parquet, …)", hint=archive[1])
        fmt = opt(node, "format", "string", what) or infer_format(path)
        if fmt is None:
            empty = path.is_dir() and not any(path.iterdir())
            raise RecipeError(f"{what}: the folder {path_node.value} is empty" if empty else
                              f"cannot tell the format of {path.name}", path_node.span,
                              expected="`format:` one of " + ", ".join(FORMATS), code="E4002",
                              hint=FOLDER_FORMAT_HINT if path.is_dir() else
                              "neither the file's extension nor its first 64 KiB tell the format: set `format:` "
                              "(and `options:` such as `delimiter`)")
        if fmt not in FORMATS:
            raise RecipeError(f"unknown source format '{fmt}'", fmt_node.span if fmt_node else path_node.span,
                              expected="one of: " + ", ".join(FORMATS),
                              hint=did_you_mean(fmt, FORMATS), code="E4002")
        if not path.is_file() and not (fmt in FOLDER_FORMATS and path.is_dir()):  # e.g. a save_to_disk folder
            raise RecipeError(f"{what}: {path_node.value} is not a file", path_node.span,
                              expected="a data file (a dataset folder goes under `dataset: {name: <folder>}`)", code="E0009",
                              hint=SHARDS_HINT)
        options = opt(node, "options", "mapping", what, {}) or {}
        allowed = FORMATS[fmt]
        for key, value in options.items():
            opt_node = node.require("options")
            if key not in allowed:
                raise RecipeError(f"unknown option '{key}' for format '{fmt}'", opt_node.key_spans[key],
                                  expected="one of: " + (", ".join(allowed) or "(none)"), hint=did_you_mean(key, allowed), code="E0005")
            problem = source_option_problem(key, value, options)
            if problem:
                raise RecipeError(f"bad value for option '{key}' of {what}: {problem}", opt_node.require(key).span,
                                  expected=SOURCE_OPTION_DOCS[key], code="E0008")
        if sid in self.hub_versions:
            options = {**self.catalog_of[sid].hub_options, **options}  # `hub_layout: {options: …}`, the recipe's win
            if "class_labels" not in options and carries_features(path, fmt):
                options = {**options, "class_labels": True}  # the Hub layout's ClassLabel integers, read as names
        return SourceDef(sid, path, fmt, options)

    def _archives(self, cache: Node | None) -> Path:
        """Where archive members are extracted: `archives/` in the cache folder the build uses (`--cache`, else
        the recipe's `cache:`, else the default; a `cache:` that is no string is reported at the end)."""
        if self.cache_override is not None:
            return self.cache_override / ARCHIVE_FOLDER
        text = cache.value if cache is not None and isinstance(cache.value, str) and "\0" not in cache.value else DEFAULT_CACHE
        return Path(os.path.abspath(self.base / text)) / ARCHIVE_FOLDER

    def _member(self, path: Path, member: Node, what: str) -> Path:
        """`member:` the file or folder inside the zip or tar archive `path:` names, extracted once into the cache
        folder's `archives/` (E4002 when the archive lacks it, E0008 when `path:` is no archive, E3002 when the disk is
        full)."""
        expect_kind(member, "string", what=f"'member' of {what}")
        if archive_of(path) is None:
            raise RecipeError(f"{what}: `member:` names a file inside an archive, and {path.name} is not one",
                              member.span, code="E0008", expected="`path:` a zip or tar archive (.zip, .tar.gz, .tgz)",
                              hint="leave out `member:` and point `path:` at the file itself")
        try:
            found = archive_member(path, member.value, self.archives)
        except OSError as exc:  # a full disk, `ulimit -f`: the cache folder cannot take the member
            raise RecipeError(f"{what}: cannot extract {member.value!r} into {self.archives}: {exc.strerror}",
                              member.span, code="E3002", expected="a cache folder with room for the archive's member",
                              hint="free disk space (or raise `ulimit -f`), or pass a cache folder on another disk "
                              "with --cache; nothing of the member was kept") from None
        if isinstance(found, str):
            raise RecipeError(f"{what}: {found}", member.span, code="E4002", expected="the name of a file or folder "
                              "inside the archive, as `unzip -l` or `tar -tf` lists it",
                              hint=did_you_mean(member.value, archive_members(path, str(archive_of(path)), 1000))
                              or "list the archive's files with `unzip -l` or `tar -tf`")
        return found

    def _with_catalog(self, sid: str, node: Node, what: str) -> Node:
        """`{catalog: NAME, path: …}`: the adapter's format and options under the recipe's own keys."""
        cat = node.require("catalog")
        expect_kind(cat, "string", what=f"'catalog' of {what}")
        entry = self.lib.catalog.get(cat.value)
        if entry is None:
            raise unknown_catalog(cat.value, cat, self.lib.catalog)
        self.catalog_of[sid] = entry
        # the path's format, sniffed once for the three decisions below (none reads it when `format:` names one)
        own_format = node.get("format")
        found = self._file_format(node) if own_format is None or own_format.kind != "string" else None
        if self._hub_version(sid, node, entry, found):
            return node  # read as the Hub lays it out: the file's own format, none of the adapter's options
        values = dict(node.value)
        if own_format is None:
            self._refuse_records_for_columns(sid, node, entry, found)
        if own_format is None or own_format.value == entry.format:  # another format: the adapter's options do not fit
            values["format"] = fmt = own_format or self._records_format(node, entry, found)
            if own_format is None:
                self._refuse_table_for_json(sid, node, entry, fmt.value, found)
            layout_only = fmt.value != entry.format and _records_of_a_header_table(entry, found)
            values["options"] = merged_options(entry, node.get("options"), ("encoding",) if layout_only else None)
        spans = {**node.key_spans, "format": node.key_spans.get("format", values["format"].span)}
        return Node(values, node.span, spans, node.style, node.in_flow)

    def _refuse_records_for_columns(self, sid: str, node: Node, entry: CatalogEntry, found: str | None) -> None:
        """A `.json`/`.jsonl` file (``found``: the path's format) given to an adapter of column files (CoNLL) holds
        records, most often the Hub's export saved with `to_json` (ClassLabel integers, no names): E2016, not a column
        error at its line 1."""
        if entry.format not in COLUMN_FORMATS or found not in ("json", "jsonl"):
            return
        where = node.get("path") or node
        raise RecipeError(f"catalog '{entry.id}' reads the column files its dataset is published in "
                          f"({entry.format}), and source '{sid}' is a {found} file of records", where.span,
                          code="E2016", expected=f"the published files: {entry.files or entry.format}",
                          hint="point `path:` at those files (or the Hub's Parquet export, read with its ClassLabel "
                               "names), or drop `catalog:` and map the records' keys under the task's `fields:` "
                               "(integer tags: lookup(ner_tags, [names…]))")

    def _refuse_table_for_json(self, sid: str, node: Node, entry: CatalogEntry, fmt: str, found: str | None) -> None:
        """A CSV/TSV table (``found``) given to an adapter that reads it as JSON (``fmt``: SQuAD's nesting, or records
        its options do not fit as a table): E2016 at the path, not "invalid JSON" at the file's line 1."""
        if fmt not in JSON_FORMATS or found not in ("csv", "tsv"):
            return
        where = node.get("path") or node
        raise RecipeError(f"catalog '{entry.id}' reads JSON ({entry.format}), and source '{sid}' is a {found} table",
                          where.span, code="E2016", expected=f"the published files: {entry.files or entry.format}",
                          hint="point `path:` at those files, or at the Hub's JSON Lines or Parquet export (a CSV "
                               "prints nested values such as answer lists as text: `Dataset.to_csv`), or drop "
                               "`catalog:` and map the table's columns under the task's `fields:`")

    def _records_format(self, node: Node, entry: CatalogEntry, found: str | None) -> Node:
        """The adapter's `format:`, or the file's own (``found``) when an adapter of JSON records is given the same
        records written another way: JSON Lines (`Dataset.to_json`'s default) for a JSON list or the other way round,
        a CSV/TSV table with a header (when the adapter's options apply to that format too), or a Parquet or Arrow
        copy (``_copy_of_records``)."""
        declared = entry.node.require("format")
        if found is None or found == entry.format:
            return declared
        options = self._adapter_options(node, entry)
        if found == "json" and entry.format == "jsonl" and options <= set(FORMATS["jsonl"]) \
                and not self._holds_json_list(node):
            return declared  # one object on its one line: a JSON Lines file of one record (`records:` says otherwise)
        another_text_form = entry.format in RECORD_FORMATS and found in RECORD_FORMATS and options <= set(FORMATS[found])
        if another_text_form or self._copy_of_records(node, entry, found) or _records_of_a_header_table(entry, found):
            return Node(found, declared.span)
        return declared

    @staticmethod
    def _adapter_options(node: Node, entry: CatalogEntry) -> set[str]:
        own = node.get("options")
        return set(entry.options) | (set(own.value) if own is not None and own.kind == "mapping" else set())

    def _copy_of_records(self, node: Node, entry: CatalogEntry, fmt: str | None) -> bool:
        """A Parquet file or `save_to_disk` folder given to an adapter that reads such copies as its records
        (``CatalogEntry.reads_record_copies``), when the adapter's options apply to that format too."""
        return fmt in HUB_FILE_FORMATS and entry.reads_record_copies and self._adapter_options(node, entry) <= \
            set(FORMATS[fmt])

    def _holds_json_list(self, node: Node) -> bool:
        path_node = node.get("path")
        return path_node is not None and holds_json_list(self.base / path_node.value)

    def _hub_version(self, sid: str, node: Node, entry: CatalogEntry, found: str | None) -> bool:
        """Whether a catalog source is its dataset's Hub version (`dataset:`, or a Parquet export or `save_to_disk`
        folder given to an adapter of other files; ``found``: the path's format): read with the adapter's
        ``hub_layout``, or refused (E2016)."""
        own_format = node.get("format")
        fmt = "hf" if node.get("dataset") is not None else \
            own_format.value if own_format is not None and own_format.kind == "string" else found
        if not entry.reads_as_hub_version(fmt):
            return False
        if entry.hub_layout is None:
            if self._copy_of_records(node, entry, fmt):
                return False
            where = node.get("dataset") or node.get("path") or node
            version = {"hf": "a `dataset:` (the Hub's layout)", "parquet": "a Parquet file (the Hub's export)"}.get(
                fmt or "", "a save_to_disk folder")
            raise RecipeError(f"catalog '{entry.id}' reads the files its dataset is published in ({entry.format}), "
                              f"and source '{sid}' is {version}", where.span, code="E2016",
                              expected=f"the published files: {entry.files or entry.format}",
                              hint=f"point `path:` at those files, or drop `catalog: {entry.id}` and map the columns "
                                   "yourself under the task's `fields:` (`humc check` names them)")
        self.hub_versions.add(sid)
        return True

    def _file_format(self, node: Node) -> str | None:
        """The format a source's `path:` names by its extension or content, when it names one existing file or
        folder (else None: the source's own checks report it)."""
        path_node = node.get("path")
        if path_node is None or path_node.kind != "string" or "\0" in path_node.value:
            return None
        try:
            path = self.base / path_node.value
            return infer_format(path) if path.exists() else None
        except (OSError, ValueError):
            return None

    def _hf_source(self, sid: str, node: Node, what: str) -> SourceDef:
        """`dataset: NAME` or `{name, config, split, revision}`: a Hub dataset already in the local
        Hugging Face cache, or a dataset folder next to the recipe (its files are fingerprinted)."""
        ds_node = node.get("dataset")
        assert ds_node is not None
        if ds_node.kind == "string":
            ds_node = Node({"name": ds_node}, ds_node.span, {"name": ds_node.span})
        check_keys(ds_node, DATASET_KEYS, f"'dataset' of {what}", required=["name"])
        spec = {k: opt(ds_node, k, "string", f"'dataset' of {what}") for k in DATASET_SPEC_KEYS}
        names = opt(ds_node, "class_labels", "boolean", f"'dataset' of {what}", False)
        extra = next((key for key in ("path", "options") if key in node.key_spans), None)
        if extra is not None:  # at the key that does not belong, not at the source's first key
            raise RecipeError(f"{what}: `dataset:` takes no `path:` or `options:`", node.key_spans[extra],
                              expected="dataset: {name: ORG/NAME or a local folder, config: …, split: …, revision: …}", code="E0008")
        refuse_nul(spec["name"], ds_node.span, f"'dataset' of {what}")
        local = resolved(self.base / spec["name"], ds_node.span, f"'dataset' of {what}")
        path = local if local.is_dir() else None
        if path is None and _names_a_folder(spec["name"], self.base):
            raise RecipeError(f"{what}: dataset folder {spec['name']} not found", ds_node.require("name").span,
                              code="E0009", expected=f"a folder relative to the recipe's folder {self.base.resolve()}",
                              hint="a Hub dataset is named ORG/NAME; a local one by its folder, which must exist")
        options = {"class_labels": True} if names or sid in self.hub_versions else {}  # ClassLabels read as names
        if sid in self.hub_versions:
            options.update(self.catalog_of[sid].hub_options)
        if path is not None and infer_format(path) == "arrow":  # a `save_to_disk` folder: `datasets` reads it another way
            return self._saved_dataset(sid, path, ds_node, spec, options)
        if path is not None:
            spec["name"] = str(local)
        return SourceDef(sid, path, "hf", options, {k: v for k, v in spec.items() if v is not None}, ds_node.span)

    def _saved_dataset(self, sid: str, path: Path, ds_node: Node, spec: dict[str, Any],
                       options: dict[str, Any]) -> SourceDef:
        """`dataset: FOLDER` naming a `save_to_disk` folder: read as `format: arrow` (its `split:` chosen)."""
        for key in ("config", "revision"):
            if spec.get(key) is not None:
                raise RecipeError(f"source '{sid}': {path.name} is a `save_to_disk` folder, which has no {key}",
                                  ds_node.require(key).span, code="E0008", expected="`name:` and `split:` alone",
                                  hint=f"leave out `{key}:`")
        if spec.get("split") is not None:
            options = {**options, "split": spec["split"]}
        return SourceDef(sid, path, "arrow", options)

    # ------------------------------------------------------------ tasks

    def _tasks(self, node: Node | None, language: str, sources: dict[str, SourceDef]) -> list[TaskEntry]:
        assert node is not None
        expect_kind(node, "list", what="tasks")
        if not node.value:
            raise RecipeError("`tasks:` is empty", node.span, expected="at least one task entry", code="E0008")
        out: list[TaskEntry] = []
        seen: dict[str, Node] = {}
        for i, item in enumerate(node.value):
            entry = self.attempt(functools.partial(self._task, item, i, language, sources))
            if entry is None:
                continue
            named = item.get("id") or item.get("source") or item  # the id, or the source it defaults to
            if entry.id in seen:
                self.errors.append(RecipeError(f"duplicate task id '{entry.id}'", named.span,
                                               notes=[f"first used at {seen[entry.id].span}"], code="E3001"))
            seen[entry.id] = named
            out.append(entry)
        return out

    def _task(self, node: Node, index: int, default_language: str, sources: dict[str, SourceDef]) -> TaskEntry:
        what = f"task entry #{index + 1}"
        own_fields = node.get("fields") if node.kind == "mapping" else None
        entry_of = self._catalog_of_task(node)
        if entry_of is not None:  # a catalog source: its task defaults under the entry's own keys
            node = task_with_defaults(node, entry_of, hub=node.require("source").value in self.hub_versions)
        elif node.kind == "mapping" and (named := node.get("source")) is not None and named.kind == "string":
            self._check_source(named, sources)  # before the keys: a misspelt catalog source misses `task:` too
        check_keys(node, TASK_KEYS, what, required=["task", "source", "fields"], elsewhere=IN_TASK)
        task_name = req(node, "task", "string", what)
        task = self.lib.tasks.get(task_name)
        if task is None:
            raise RecipeError(f"unknown task '{task_name}'", node.require("task").span,
                              expected="one of: " + ", ".join(sorted(self.lib.tasks)),
                              hint=did_you_mean(task_name, self.lib.tasks), code="E2003")
        entry_id = opt(node, "id", "string", what)
        if entry_id is not None and not entry_id.strip():
            raise RecipeError(f"the `id:` of {what} is empty", node.require("id").span, code="E0008",
                              expected="a name for the entry (records, the card and `humc check` show it)",
                              hint="leave `id:` out to use the source's or the task's name")
        entry_id = entry_id or (node.require("source").value if entry_of else task_name)
        what = f"task '{entry_id}'"
        self.own_fields[entry_id] = own_fields
        source = req(node, "source", "string", what)
        self._check_source(node.require("source"), sources)
        language = self._language(node.get("language"), default_language)
        fields = self._fields(node.get("fields"), task, what)
        _check_options_field(task, fields, what)
        where = self._expr(node.require("where")) if node.get("where") is not None else None
        if where is not None:  # `where: "yes"` or `where: len(text)` would keep rows by Python truthiness
            check_condition(where.ast, where.src, what="a `where:` filter", example="len(text) > 0")
        seed = opt(node, "seed", "integer", what, 0)
        schema = self._with_class_names(self._schema(node, task, what), task, fields, sources.get(source))
        unnamed = _class_label_column(task, fields, sources.get(source))
        sample = self._sample(node.get("sample"), what)
        guidelines = tuple(self._guidelines(node.get("guidelines"), task.id))
        rules = tuple(self._rules(node.get("preferences"), task, self._when_names(node, task, fields)))
        templates = tuple(self._checked_templates(node.get("templates"), task, language))
        variants = tuple(self._variants(node.get("formats"), task, [k for k, _ in fields]))
        _check_empty_answers(rules, variants, node.get("preferences") or node, what)
        return TaskEntry(
            id=entry_id, task=task, source=source, language=language, fields=fields, where=where,
            sample=sample, schema=schema, guidelines=guidelines, rules=rules,
            templates=templates, variants=variants,
            variants_per_record=self._positive(node, "variants_per_record", what, 1), seed=seed,
            synth=parse_synth(node.get("synth"), self.models, what),
            generate=parse_generate(node.get("generate"), self.models, task, [k for k, _ in fields], what),
            judge=parse_judge(node.get("judge"), self.models, what),
            mix=parse_mix(node.get("mix"), what, self.mix),
            split_by=self._split_by(node.get("split_by")),
            event_roles=parse_roles(node.get("schema"), task, self.constants, self.warnings)
            or self._adapter_roles(entry_of, task, sources.get(source)),
            language_by_default_of=entry_of.id if entry_of is not None and node.get("language") is None
            and self.root.get("language") is None else None, class_label_column=unnamed)

    def _adapter_roles(self, adapter: CatalogEntry | None, task: TaskDef, source: SourceDef | None) -> EventRoles:
        """Each event type's roles from the catalog adapter's `roles_file:` beside the source's data (DuEE's schema
        file), for an entry with argument roles that writes no `schema: {roles: …}`; () without such a file."""
        if adapter is None or not adapter.roles_file or task.roles_of is None or source is None or source.path is None:
            return ()
        path = (source.path if source.path.is_dir() else source.path.parent) / adapter.roles_file
        if not path.is_file():
            return ()
        what = f"the roles file of catalog '{adapter.id}'"
        text = _file_text(what, path, self._source_span(source.id))
        return file_roles(_json_constant(what, path, text), path, text, what, self.warnings)

    def _source_span(self, sid: str) -> Span:
        """Where the recipe declares source ``sid`` (its `path:`)."""
        node = self.root.require("sources").require(sid)
        return (node.get("path") or node).span

    def _check_source(self, named: Node, sources: dict[str, SourceDef]) -> None:
        """A task entry's `source:` names a declared source (one whose declaration failed was reported already)."""
        declared = self.root.get("sources")  # not a mapping (null, a string): reported at `sources:` already
        if (named.value not in sources and declared is not None and declared.kind == "mapping"
                and declared.get(named.value) is None):
            raise RecipeError(f"unknown source '{named.value}'", named.span, expected="one of: " + ", ".join(sources),
                              hint=did_you_mean(named.value, sources), code="E2002")

    def _catalog_of_task(self, node: Node) -> CatalogEntry | None:
        source = node.get("source") if node.kind == "mapping" else None
        if source is None or source.kind != "string":
            return None
        declared = self.root.get("sources")
        src_node = declared.get(source.value) if declared is not None else None
        if source.value not in self.catalog_of and src_node is not None and src_node.get("catalog") is not None:
            raise ErrorList([])  # its catalog source was already reported: no follow-on error for this entry
        return self.catalog_of.get(source.value)

    def _split_by(self, node: Node | None) -> Compiled | None:
        """`split_by:`; null turns off a catalog adapter's (its records are split one by one)."""
        return None if node is None or node.value is None else self._expr(node)

    def _expr(self, node: Node) -> Compiled:
        src = expr_source(node)
        ast = parse_expr(src.text, src)
        check_functions(ast, src)
        return Compiled(ast, src)

    def _fields(self, node: Node | None, task: Any, what: str) -> tuple[tuple[str, Compiled], ...]:
        assert node is not None
        expect_kind(node, "mapping", what=f"'fields' of {what}")
        needed = [*task.inputs, task.answer_field]
        missing = [name for name in needed
                   if name not in node.value and not (task.id == "mrc_multiple_choice" and name == "context")]
        if missing:
            raise _unmapped(node, missing, needed, task.id, what)
        out = []
        for key, value in node.value.items():
            if key.startswith("_") or key in RESERVED_FIELDS or not FIELD_RE.match(key):
                raise RecipeError(f"'{key}' cannot be a field name", node.key_spans[key],
                                  expected="a name of letters, digits and '_' that does not start with '_' and is not "
                                           + " or ".join(f"'{r}'" for r in RESERVED_FIELDS),
                                  hint="names starting with '_' hold humc's provenance; `record` names the whole record", code="E2010")
            src = expr_source(value) if value.kind == "string" else None
            if src is None:
                raise RecipeError(f"field '{key}' must be an expression string", value.span,
                                  expected='a field path or expression, e.g. answers.text or tokens | join(" ")', code="E2010")
            ast = parse_pipeline(src.text, src)
            check_functions(ast, src)
            out.append((key, Compiled(ast, src)))
        return tuple(out)

    def _sample(self, node: Node | None, what: str) -> Sample | None:
        if node is None:
            return None
        if node.kind == "integer":
            return Sample(self._positive_value(node, "sample"), 0)
        check_keys(node, SAMPLE_KEYS, f"'sample' of {what}", required=["n"])
        return Sample(self._positive(node, "n", what, 1), opt(node, "seed", "integer", what, 0))

    def _schema(self, node: Node, task: Any, what: str) -> SchemaSampling | None:
        labels_node, schema_node = node.get("labels"), node.get("schema")
        if task.schema_column is None:
            for n in (labels_node, schema_node):
                if n is not None:
                    raise RecipeError(f"task '{task.id}' has no label schema", n.span,
                                      hint="`labels:` and `schema:` apply to ner, re, ee and classification tasks", code="E0008")
            return None
        labels = self._labels(self._named_labels(labels_node)) if labels_node is not None else None
        if schema_node is None:
            return SchemaSampling(labels, None, True)
        where = f"'schema' of {what}"
        check_keys(schema_node, SCHEMA_KEYS, where)
        neg = opt(schema_node, "negatives", ("integer", "string"), what, "all")
        if neg != "all" and (not isinstance(neg, int) or neg < 0):
            raise RecipeError("'negatives' must be a non-negative integer or \"all\"", schema_node.require("negatives").span,
                              code="E0008")
        shuffle = opt(schema_node, "shuffle", "boolean", what, True)
        order = opt(schema_node, "order", "string", where, "random" if shuffle else "declared")
        if order not in SCHEMA_ORDERS:
            raise RecipeError(f"unknown schema order '{order}'", schema_node.require("order").span,
                              expected="one of: " + ", ".join(SCHEMA_ORDERS), hint=did_you_mean(order, SCHEMA_ORDERS),
                              code="E0008")
        split_num = self._positive(schema_node, "split_num", where, 0) or None
        hard = self._hard_negatives(schema_node.get("hard_negatives"), where)
        hard_node = schema_node.get("hard_negatives")
        if labels is not None and hard_node is not None and hard_node.kind == "mapping":
            _check_hard_labels(hard_node, labels)
        return SchemaSampling(labels, None if neg == "all" else neg, order == "random", hard, split_num,
                              parse_ratio(schema_node.get("negative_ratio")), order)

    def _hard_negatives(self, node: Node | None, what: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """`hard_negatives:` an inline map label -> confusable labels, or the name of a stdlib/hard_negatives map."""
        if node is None:
            return ()
        if node.kind == "string":
            found = [d / "hard_negatives" / f"{node.value}.yaml" for d in (stdlib_dir(), *self.stdlib_dirs)]
            path = next((p for p in reversed(found) if p.is_file()), None)
            if path is None:
                names = sorted({p.stem for d in (stdlib_dir(), *self.stdlib_dirs) for p in (d / "hard_negatives").glob("*.yaml")})
                raise RecipeError(f"unknown hard-negative map '{node.value}'", node.span, code="E2018",
                                  expected="an inline mapping label -> [confusable labels], or one of: " + ", ".join(names),
                                  hint=did_you_mean(node.value, names))
            doc = load_yaml(path, expected="a YAML mapping with `labels:`")
            check_keys(doc, ["id", "description", "labels"], f"hard-negative map {path.name}", required=["labels"])
            node = doc.require("labels")
        expect_kind(node, "mapping", "string", what=f"'hard_negatives' of {what}")
        out = []
        for label, value in node.value.items():
            items = tuple(text for text, _ in string_list(value, f"the confusable labels of '{label}'"))
            out.append((str(label), items))
        return tuple(out)

    @staticmethod
    def _with_class_names(schema: SchemaSampling | None, task: TaskDef, fields: tuple[tuple[str, Compiled], ...],
                          src: SourceDef | None) -> SchemaSampling | None:
        """A classification entry without `labels:` whose label field is a ClassLabel column of a Parquet or Arrow
        source read with `class_labels: true`: the label set is the dataset's classes, those no row uses too (a
        sample without one class would else never offer it)."""
        if schema is None or schema.labels is not None or src is None or not src.options.get("class_labels"):
            return schema
        names = _label_column_classes(task, fields, src)
        return dataclasses.replace(schema, labels=names[1]) if names else schema

    def _named_labels(self, node: Node) -> Node:
        """`labels: NAME` naming a constant (a list, or a file of one label per line): its labels, each located at
        the name; any other single string is one label."""
        if node.kind != "string" or node.value not in self.constants:
            return node
        value = self.constants[node.value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise RecipeError(f"`labels: {node.value}` names a constant that is not a list of labels", node.span,
                              code="E0008", expected="a list of label names (or a file of one per line)",
                              hint=f"write the labels as a list, or give constant '{node.value}' as one")
        return Node([Node(v, node.span) for v in value], node.span)

    @staticmethod
    def _labels(node: Node) -> tuple[str, ...]:
        """`labels:`: a non-empty list of distinct, non-blank labels (E0008 at the offending item)."""
        items = string_list(node, "labels")
        if not items:
            raise RecipeError("'labels' is empty: no record could be labelled", node.span, code="E0008",
                              expected="at least one label, e.g. labels: [PER, ORG]",
                              hint="leave `labels:` out to use every label found in the gold answers")
        seen: dict[str, Node] = {}
        for value, item in items:
            if not value.strip():
                raise RecipeError("a label is blank", item.span, expected="a non-empty label", code="E0008")
            if value in seen:
                raise RecipeError(f"duplicate label '{value}' in 'labels'", item.span, code="E0008",
                                  notes=[f"first listed at {seen[value].span}"], expected="each label listed once")
            seen[value] = item
        return tuple(seen)

    def _guidelines(self, node: Node | None, task_id: str) -> list[Guideline]:
        out = []
        for item in (node.value if node is not None and node.kind == "list" else ([node] if node else [])):
            if item.kind == "mapping":  # inline guideline
                out.append(guideline_from_node(item, "inline guideline", digest(repr(item.plain()).encode())))
                continue
            expect_kind(item, "string", "mapping", what="a guideline")
            g = self.lib.guidelines.get(item.value)
            if g is None:
                raise RecipeError(f"unknown guideline '{item.value}'", item.span,
                                  expected="a stdlib guideline id or an inline mapping with `id:` and `text:`",
                                  hint=did_you_mean(item.value, self.lib.guidelines), code="E2008")
            self._check_applies(g.tasks, task_id, item, f"guideline '{g.id}'")
            out.append(g)
        return out

    def _rules(self, node: Node | None, task: TaskDef, names: set[str] | None = None) -> list[PreferenceRule]:
        """The entry's preference rules, each checked against the task's answer columns and (``names``: what a
        `when` may read) its condition's names; an error in a stdlib rule is at the rule file's line."""
        out = []
        fields = set(names or ()) - {"answer"}
        for item in (node.value if node is not None and node.kind == "list" else ([node] if node else [])):
            rule = self._rule(item, task.id)
            notes = [f"used by the task entry at {item.span}"] if rule.then and rule.then[0].at is not None and (
                rule.then[0].at.file != getattr(item.span, "file", None)) else []
            try:
                check_columns(rule.then, task.columns, fields | set(task.inputs), task_id=task.id, rule_id=rule.id,
                              default=item.span)
                if rule.when is not None:
                    check_condition(rule.when.ast, rule.when.src, names)
            except RecipeError as exc:
                exc.notes.extend(notes)
                raise
            out.append(rule)
        return out

    def _rule(self, item: Node, task_id: str) -> PreferenceRule:
        """One `preferences:` item: a stdlib rule id, an inline `when … then …`, or a mapping."""
        if item.kind == "mapping":
            mapped = rule_from_node(item, "inline preference rule", digest(repr(item.plain()).encode()))
            self._check_applies(mapped.tasks, task_id, item.get("tasks") or item, f"preference rule '{mapped.id}'")
            return mapped
        expect_kind(item, "string", "mapping", what="a preference rule")
        text = item.value.strip()
        if text.startswith(("when ", "when\t")):
            src = expr_source(item)
            rule = parse_rule(src.text, src)
            check_functions(rule.when, src)
            return PreferenceRule(id=f"inline:{text}", title="", text={}, when=Compiled(rule.when, src),
                                  then=compile_ops(rule.then, src), tasks=(), digest=digest(text.encode()))
        if text not in self.lib.rules:
            self._not_a_rule_id(item, text)
        r = self.lib.rules.get(text)
        if r is None:
            raise RecipeError(f"unknown preference rule '{text}'", item.span,
                              expected="a stdlib rule id, `when <condition> then <ops>`, or a mapping with id/text/when/then",
                              hint=did_you_mean(text, self.lib.rules), code="E2005")
        self._check_applies(r.tasks, task_id, item, f"preference rule '{r.id}'")
        return r

    def _when_names(self, node: Node, task: TaskDef, fields: tuple[tuple[str, Compiled], ...]) -> set[str]:
        """The names a rule's `when` may read: the mapped fields, the task's inputs, the constants, `answer`, and the
        field a `generate:` step fills."""
        generate = node.get("generate")
        filled = generate.get("field") if generate is not None and generate.kind == "mapping" else None
        extra = {filled.value} if filled is not None and isinstance(filled.value, str) else set()
        return {"answer", *(name for name, _ in fields), *task.inputs, *self.constants, *extra}

    def _not_a_rule_id(self, item: Node, text: str) -> None:
        """An answer operation written where a rule goes (`sort_by("span")`): say how a rule of one's own is written."""
        try:
            calls = call_parts(parse_pipeline(text))
        except (HumcError, ValueError):
            return
        near = did_you_mean(calls[0].fn, OPS) if calls and calls[0].fn not in OPS else None
        if near and not did_you_mean(text, self.lib.rules):
            raise RecipeError(f"unknown preference rule '{text}'", item.span,
                              expected="a stdlib rule id, `when <condition> then <ops>`, or a mapping with id/text/when/then",
                              hint=f"{near[:-1]} — an answer operation? It goes in a rule: `when true then ...` or "
                                   "{id, text, then}", code="E2005")
        if calls and calls[0].fn in OPS:
            raise RecipeError(f"'{text}' is an answer operation, not a preference rule", item.span,
                              expected="a stdlib rule id, `when <condition> then <ops>`, or a mapping with id/text/when/then",
                              hint=f"a rule of your own is a mapping {{id: NAME, text: \"<the sentence it states>\", "
                                   f"then: '{text}'}}, or `when true then {text}`", code="E1002")

    def _check_applies(self, tasks: tuple[str, ...], task_id: str, node: Node, what: str) -> None:
        if tasks and task_id not in tasks:
            raise RecipeError(f"{what} does not apply to task '{task_id}'", node.span,
                              expected=f"a task among: {', '.join(tasks)}", code="E2005")

    def _checked_templates(self, node: Node | None, task: TaskDef, language: str) -> list[Template]:
        """The chosen templates, each compiled and checked against the variables a render provides."""
        templates = self._templates(node, task.id, language)
        for tpl in templates:
            problem = template_problem(tpl.text, task.inputs)
            if problem:
                raise problem.error(f"template '{task.id}/{tpl.id}'", tpl.origin,
                                    notes=[f"used by the task entry at {node.span if node else 'its default templates'}"])
        return templates

    def _templates(self, node: Node | None, task_id: str, language: str) -> list[Template]:
        available = self.lib.templates.get(task_id, {})
        if node is None or (node.kind == "string" and node.value == "all"):
            chosen = next(([t for t in available.values() if t.language == lang]  # zh-TW, else zh, else English
                           for lang in language_chain(language)
                           if any(t.language == lang for t in available.values())), [])
            if not chosen:
                raise RecipeError(f"no '{language}' templates for task '{task_id}' in the stdlib",
                                  node.span if node else self.root.span, code="E2011")
            return sorted(chosen, key=lambda t: t.id)
        out = []
        names = string_list(node, "templates")
        if not names:
            raise RecipeError("`templates:` is empty: no instruction would be rendered", node.span,
                              expected="`all`, or template ids such as [en_1, en_2]", code="E2007")
        for name, item in names:
            tpl = available.get(name)
            if tpl is None:
                raise RecipeError(f"unknown template '{name}' for task '{task_id}'", item.span,
                                  expected="one of: " + ", ".join(sorted(available)) + ", or `all`",
                                  hint=did_you_mean(name, available), code="E2007")
            out.append(tpl)
        return out

    def _variants(self, node: Node | None, task: TaskDef, fields: Sequence[str] = ()) -> list[Variant]:
        if node is None:
            return [self.lib.variants[v] for v in ("json",) if v in self.lib.variants]
        if node.kind == "string" and node.value == "all":
            return self._all_variants(node, task)
        out = []
        items = string_list(node, "formats")
        if not items:
            raise RecipeError("`formats:` is empty: no answer would be rendered", node.span,
                              expected="format variants such as [json, natural]", code="E0008")
        for text, item in items:
            src = expr_source(item)
            variant = variant_from_pipeline(parse_pipeline(src.text, src), src, self.lib, task.columns,
                                            {*task.inputs, *fields})
            problem = variant_problem(variant.spec, task)
            if problem:
                table_like = formats.is_single_column(variant.spec.codec) and len(task.columns) > 1
                raise RecipeError(f"format '{text}' {problem}", item.span, code="E2006",
                                  expected="a format for tables, e.g. json, tuples or markdown_table" if table_like
                                  else "a format this task's answer columns fit, e.g. json")
            out.append(variant)
        return out

    def _all_variants(self, node: Node, task: TaskDef) -> list[Variant]:
        """`formats: all`: every format variant of the stdlib (with the recipe's own `stdlib:` folders) that can write the
        task's answers, in name order."""
        fitting = [v for _, v in sorted(self.lib.variants.items()) if variant_problem(v.spec, task) is None]
        if not fitting:  # pragma: no cover - json fits every task of the stdlib
            raise RecipeError(f"no format variant can write the answers of task '{task.id}'", node.span, code="E2006",
                              expected="format variants such as [json, natural]")
        return fitting

    def _positive(self, node: Node, key: str, what: str, default: int) -> int:
        child = node.get(key)
        return default if child is None else self._positive_value(child, f"'{key}' in {what}")

    def _positive_value(self, node: Node, what: str) -> int:
        if node.kind != "integer" or node.value < 1:
            raise RecipeError(f"{what} must be a positive integer", node.span, expected="an integer >= 1", code="E0008")
        return int(node.value)

    # ------------------------------------------------------------ output / publish

    def _folder(self, text: str, node: Node | None = None) -> Path:
        """A folder named in the recipe, absolute: a relative one resolves against the recipe's folder (not the CWD)."""
        refuse_nul(text, node.span if node is not None else None, "a folder")
        return Path(os.path.abspath(self.base / text))

    def _output(self, node: Node | None, name_node: Node) -> Output:
        name = name_node.value
        if node is None:
            return Output(self._folder(DEFAULT_OUT) / name, (("train", 1.0),), 10_000, True, 0,
                          dir_origin=FolderOrigin("name", name_node.span))
        what = "output"
        check_keys(node, OUTPUT_KEYS, what, elsewhere=IN_OUTPUT)
        splits_node = node.get("splits")
        splits: tuple[tuple[str, float], ...] = (("train", 1.0),)
        if splits_node is not None:
            expect_kind(splits_node, "mapping", what="splits")
            for k, v in splits_node.value.items():
                expect_kind(v, "number", what=f"split '{k}'")
            splits = tuple((k, float(v.value)) for k, v in splits_node.value.items())
            total = sum(f for _, f in splits)
            for split_name, f in splits:
                if not (math.isfinite(f) and f > 0):
                    raise RecipeError(f"split '{split_name}' has fraction {f:g}: every split must be positive",
                                      splits_node.require(split_name).span, expected="a number above 0 (drop a split you do not want)",
                                      code="E0008")
            if abs(total - 1.0) > 1e-6:
                raise RecipeError(f"split fractions must be positive and add up to 1 (they add up to {total:g})",
                                  splits_node.span, expected="e.g. {train: 0.9, test: 0.1}", code="E0008")
            folded: dict[str, str] = {}
            for split in dict(splits):
                if not SPLIT_RE.match(split):
                    raise RecipeError(f"invalid split name '{split}'", splits_node.key_spans[split],
                                      expected="a name like train, validation or test: a letter, then letters, digits "
                                               "or '_', at most 64 characters", code="E0008")
                if (other := folded.setdefault(split.lower(), split)) != split:
                    raise RecipeError(f"split names '{other}' and '{split}' differ only in case",
                                      splits_node.key_spans[split], expected="split names that differ in letters",
                                      hint=f"their files (data/{split}-….parquet) are one file on macOS and Windows",
                                      code="E0008")
        out_dir = opt(node, "dir", "string", what, DEFAULT_OUT)
        dir_node = node.get("dir")
        origin = FolderOrigin("output.dir", dir_node.span) if dir_node else FolderOrigin("name", name_node.span)
        seed = opt(node, "seed", "integer", what, 0)
        return Output(self._folder(out_dir, node.get("dir")) / name, splits, self._positive(node, "shard_rows", what, 10_000),
                      opt(node, "dedup", "boolean", what, True), seed,
                      self._decontaminate(node.get("decontaminate")), dir_origin=origin,
                      strict=opt(node, "strict", "boolean", what, False),
                      held_out=parse_held_out(node.get("held_out"), splits),
                      mixture=parse_mixture(node.get("mixture"), seed))

    def _decontaminate(self, node: Node | None) -> Decontamination | None:
        """`decontaminate: {against: [eval files, as sources], ngram: 13}`."""
        if node is None:
            return None
        what = "'decontaminate' of output"
        check_keys(node, DECONTAMINATE_KEYS, what, required=["against"])
        against = node.get("against")
        assert against is not None
        items = against.value if against.kind == "list" else [against]
        if not items:
            raise RecipeError(f"{what}: `against:` is empty", against.span, expected="evaluation files to keep out", code="E0008")
        sources = tuple(self._source(f"eval#{i + 1}", item) for i, item in enumerate(items))
        ngram = opt(node, "ngram", "integer", what, 13)
        if not NGRAM_RANGE[0] <= ngram <= NGRAM_RANGE[1]:
            raise RecipeError(f"{what}: 'ngram' must be between {NGRAM_RANGE[0]} and {NGRAM_RANGE[1]}",
                              node.require("ngram").span, code="E0008")
        return Decontamination(sources, ngram)

    def _publish(self, node: Node | None) -> Publish | None:
        if node is None:
            return None
        what = "publish"
        check_keys(node, PUBLISH_KEYS, what)
        card: dict[str, Any] = {k: [text for text, _ in string_list(node.get(k), f"publish.{k}")]
                                for k in ("tags", "source_datasets") if node.get(k) is not None}  # `tags: qa` is [qa]
        if node.get("pretty_name") is not None:
            card["pretty_name"] = req(node, "pretty_name", "string", what)
        if node.get("card_template") is not None:
            card["template"] = self._path(node.get("card_template"), "card_template", regular=True)
            _check_card_template(card["template"])
        repo = opt(node, "repo", "string", what)
        if repo is not None and not _valid_repo_id(repo):
            raise RecipeError(f"invalid repository id '{repo}' in publish.repo", node.require("repo").span, code="E0008",
                              expected="ORG/NAME of letters, digits, '-', '_' and '.' (no '--' or '..', at most 96 "
                                       "characters a part, not starting or ending with '-' or '.')",
                              hint="e.g. `repo: my-org/my-dataset`")
        revision = opt(node, "revision", "string", what)
        if revision is not None and not valid_branch_name(revision):
            raise RecipeError(f"invalid branch name '{revision}' in publish.revision", node.require("revision").span,
                              expected="a git branch name (no spaces, `..`, `~^:?*[\\`, leading `-` or `/`, `.lock` end)",
                              hint=BRANCH_HINT, code="E0008")
        return Publish(repo=repo, private=opt(node, "private", "boolean", what, False), revision=revision, card=card)


REPO_ID_RE = re.compile(r"^\b[\w\-.]{1,96}\b/\b[\w\-.]{1,96}\b$", re.ASCII)  # the Hub client's rule (validate_repo_id), as ORG/NAME


def _valid_repo_id(repo: str) -> bool:
    """A Hub dataset id the Hub client accepts, checked without importing it (`humc check` stays light)."""
    return bool(REPO_ID_RE.fullmatch(repo)) and "--" not in repo and ".." not in repo and not repo.endswith(".git")


def _check_hard_labels(node: Node, labels: tuple[str, ...]) -> None:
    """An inline hard-negative map names only labels of `labels:` (a typo would silently show nothing)."""
    for key, value in node.value.items():
        items = [(str(key), node.key_spans[key])] + [(text, item.span) for text, item in string_list(value, "labels")]
        for label, span in items:
            if label not in labels:
                raise RecipeError(f"hard negative '{label}' is not in `labels:`", span, code="E0008",
                                  expected="one of: " + ", ".join(labels), hint=did_you_mean(label, labels))


def _check_card_template(path: Path) -> None:
    """A card template's syntax and safety, checked before building (its variables are known only when writing)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return  # reported with its reason when the card is written
    problem = syntax_problem(text, flavour="document")
    if problem:
        raise problem.error("card template", Span(str(path), 1, 1))


EXECUTORS = ("local", "ray")


def _executor(node: Node | None) -> str:
    """`executor: local | ray` — where a build runs its chunk-wise nodes (never changes the output)."""
    if node is None:
        return "local"
    expect_kind(node, "string", what="executor")
    if node.value not in EXECUTORS:
        raise RecipeError(f"unknown executor '{node.value}'", node.span, expected="one of: " + ", ".join(EXECUTORS),
                          hint=did_you_mean(node.value, EXECUTORS), code="E0008")
    return str(node.value)


def _label_column_classes(task: TaskDef, fields: tuple[tuple[str, Compiled], ...],
                          src: SourceDef) -> tuple[str, tuple[str, ...]] | None:
    """(column, its class names) when a classification entry's label field is one column of a Parquet, Arrow or local
    `dataset:` source that is a ClassLabel (or a list of them) in the file's `datasets` features."""
    if task.columns != (task.schema_column,) or src.path is None or src.format not in ("parquet", "arrow", "hf"):
        return None
    expr = dict(fields).get(task.answer_field)
    column = expr.text.strip() if expr is not None else ""
    names = class_label_set(src.path, src.format, column) if FIELD_RE.match(column) else None
    return (column, names) if names else None


def _check_empty_answers(rules: Sequence[PreferenceRule], variants: Sequence[Variant], at: Node, what: str) -> None:
    """Two rules that both say, for every empty answer, how to write it under one of the entry's formats, and say it
    differently (`empty_brackets` "[]" and an `empty_as("none")` of yours): an instruction would state both, and every
    empty gold answer would break one of them (dropped as rule_violated)."""
    said: dict[str, tuple[PreferenceRule, Any]] = {}
    for rule in rules:
        value = _unconditional_empty(rule)
        if value is _NO_EMPTY:
            continue
        for codec in sorted({v.spec.codec for v in variants if rule.applies_under(v.spec.codec)}):
            first, first_value = said.setdefault(codec, (rule, value))
            if first_value != value:
                where = next((op.at for op in rule.then if op.at is not None), None) or at.span
                raise RecipeError(f"{what}: the preference rules '{first.id.removeprefix('inline:')}' and "
                                  f"'{rule.id.removeprefix('inline:')}' both say how to write an empty answer under "
                                  f"'{codec}', differently ({json.dumps(first_value)} and {json.dumps(value)})",
                                  where, code="E0008", expected="one rule that says how to answer nothing per format",
                                  hint="keep one of them, or limit each to its formats with `codecs:` (a rule "
                                       "mapping's key; `humc stdlib rules` shows the stdlib's)")


_NO_EMPTY = object()


def _unconditional_empty(rule: PreferenceRule) -> Any:
    """What the rule writes for every empty answer (`empty_as(x)`, with no `when` or `when len(answer) == 0`)."""
    ops = [op for op in rule.then if op.name == "empty_as"]
    when = None if rule.when is None else "".join(rule.when.src.text.split())
    if len(ops) != 1 or when not in (None, "len(answer)==0"):
        return _NO_EMPTY
    return ops[0].args[0] if ops[0].args else None


def _class_label_column(task: TaskDef, fields: tuple[tuple[str, Compiled], ...], src: SourceDef | None) -> str | None:
    """The label field's ClassLabel column when the source reads its integers as numbers (for a note)."""
    if src is None or src.options.get("class_labels"):
        return None
    found = _label_column_classes(task, fields, src)
    return found[0] if found else None


def _unmapped(node: Node, missing: list[str], needed: list[str], task: str, what: str) -> RecipeError:
    """E2010 for a `fields:` mapping that lacks fields the task reads. Keys the task does not read that are most
    likely the missing fields' other names (`entites:`, or `spans:` when it is the one such key) are named there."""
    extra = [key for key in node.value if key not in needed]
    renames = {name: next((key for key in extra if did_you_mean(key, [name])), None) for name in missing}
    if len(missing) == 1 and len(extra) == 1:
        renames[missing[0]] = extra[0]
    if all(renames.values()):
        first = min(renames.values(), key=lambda key: list(node.value).index(str(key)))
        return RecipeError(f"'fields' of {what} does not map {', '.join(map(repr, missing))}, and task '{task}' reads "
                           f"no {', '.join(repr(renames[name]) for name in missing)}", node.key_spans[str(first)],
                           code="E2010", expected=f"a mapping for each of: {', '.join(needed)}",
                           hint="rename " + " and ".join(f"'{renames[name]}' to '{name}'" for name in missing))
    return RecipeError(f"'fields' of {what} does not map {', '.join(map(repr, missing))}", node.span, code="E2010",
                       expected=f"a mapping for each of: {', '.join(needed)} (task '{task}')",
                       hint=f"fields the task does not read: {', '.join(extra)}" if extra else None)


def _check_options_field(task: TaskDef, fields: tuple[tuple[str, Compiled], ...], what: str) -> None:
    """E2010 at a multiple-choice task's options field mapped to a constant that is no list of options (`[]`, `""`,
    `null`, `"A;B"`): no record would have options to choose from (an LLM step would be asked for an empty `enum`)."""
    compiled = dict(fields).get(task.choice_of or "")
    if compiled is None or not isinstance(compiled.ast, Pipeline) or compiled.ast.stages:
        return
    try:
        value = literal_value(compiled.ast.head)
    except (ValueError, TypeError):
        return  # it reads the record (or is `-"a"`, which fails on each record, as the evaluator says)
    if isinstance(value, list) and value:
        return
    raise RecipeError(f"field '{task.choice_of}' of {what} is the constant {compiled.text}: no record has options to "
                      "choose from", compiled.src.span_of(0, len(compiled.text)), code="E2010",
                      expected=f"an expression giving each record's list of options, e.g. {task.choice_of} or "
                               f"choices.text (task '{task.id}')",
                      hint="map it to the source's options column")


def _is_file_constant(node: Node) -> bool:
    """`{file: …}` reads a file; any other mapping is a value (a one-key mapping whose key looks like a misspelt
    `file` is still checked as a file constant, so the typo is reported)."""
    keys = list(node.value)
    return "file" in keys or (len(keys) == 1 and did_you_mean(str(keys[0]), ["file"]) is not None)


def _file_text(what: str, path: Path, at: Span) -> str:
    """The UTF-8 text of a file ``what`` (a constant's) reads, any byte-order mark dropped; E0009 at ``at`` (where
    it is named) when it cannot be read, in the file when it is no text."""
    foreign = foreign_kind(path)  # a Git LFS pointer would be read as three "items"
    if foreign is not None:
        raise RecipeError(f"{what}: {path.name} is {foreign[0]}, not a text file", at,
                          expected="a UTF-8 text file with one item per line", code="E0009", hint=foreign[1])
    try:
        data = path.read_bytes().removeprefix(codecs.BOM_UTF8)
        text = data.decode("utf-8")
    except OSError as exc:
        raise RecipeError(f"{what}: cannot read {path.name}: {exc}", at,
                          expected="a UTF-8 text file with one item per line", code="E0009",
                          hint="name a readable file (one item per line), relative to the recipe's folder") from None
    except UnicodeDecodeError as exc:  # at the byte's line and column in the file (a UTF-16 BOM named)
        raise not_utf8(str(path), data, exc) from None
    _refuse_nul_text(what, path, text)
    return text


def _refuse_nul_text(what: str, path: Path, text: str) -> None:
    """A constant file holding a NUL (UTF-16 without a byte-order mark, zero padding): no label holds one."""
    if "\0" in text:
        at = text.index("\0")
        line = text.count("\n", 0, at) + 1
        raise RecipeError(f"{what}: {path.name} holds a NUL character (byte 0) on line {line}",
                          Span(str(path), line, at - text.rfind("\n", 0, at)), expected="a UTF-8 text file with one item per line",
                          hint="save the file as UTF-8 text (a UTF-16 file has a NUL in every other byte)", code="E0009")


def _plucked(key: str, path: Path, items: Any, field_node: Node) -> list[Any]:
    """`{file: …, key: NAME}`: the NAME field of each object the file holds (DuEE's event_type, one per schema line)."""
    expect_kind(field_node, "string", what=f"'key' of constant '{key}'")
    name = field_node.value
    if not isinstance(items, list):
        raise RecipeError(f"constant '{key}': `key: {name}` picks a field of each object in a list, and {path.name} "
                          f"holds one {type_name(items)}", field_node.span, code="E0008",
                          expected="a JSON list of objects, or JSON Lines of objects", hint="leave out `key:`")
    for n, item in enumerate(items):
        if not isinstance(item, dict) or name not in item:
            got = f"fields {', '.join(map(repr, list(item)[:6]))}" if isinstance(item, dict) else type_name(item)
            raise RecipeError(f"constant '{key}': item {n + 1} of {path.name} has no field '{name}' ({got})",
                              field_node.span, code="E0008", expected=f"every item an object with a '{name}' field",
                              hint=did_you_mean(name, item) if isinstance(item, dict) else None)
    return [item[name] for item in items]


def _json_constant(what: str, path: Path, text: str) -> Any:
    """A `{file: NAME.json}` constant is the file's JSON value (a label map such as DocRED's rel_info.json); a file of
    JSON Lines (`.jsonl`, or a `.json` holding one value a line, as DuEE's schema) is the list of its lines' values."""
    if path.suffix.lower() == ".jsonl" or _json_lines(text):
        return [_json_value(what, path, line, n) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    return _json_value(what, path, text, 1)


def _json_value(what: str, path: Path, text: str, first_line: int) -> Any:
    """``text`` (the file's, from its line ``first_line``) as JSON; errors located in the file."""
    def at(line: int, column: int = 1) -> Span:
        return Span(str(path), first_line + line - 1, column)

    try:
        return loads_unique(text)
    except RepeatedKeyError as exc:  # a label map naming a key twice: one of its values would be dropped unseen
        raise RecipeError(f"{what}: {path.name}: {exc}", at(exc.line, exc.column),
                          expected="each key once in an object",
                          hint="remove or rename one of them (JSON readers disagree on which value counts)",
                          code="E0009") from None
    except json.JSONDecodeError as exc:
        raise RecipeError(f"{what}: {path.name} is not valid JSON: {exc.msg}", at(exc.lineno, exc.colno),
                          expected="one JSON value (a .json constant file is read as JSON; JSON Lines one a line)",
                          hint="fix the file, or give it another extension to read one item per line", code="E0009") from None
    except RecursionError:
        raise RecipeError(f"{what}: {path.name} nests too deeply", at(1),
                          expected="JSON nested at most a few hundred levels", hint="flatten the file",
                          code="E0010") from None
    except ValueError as exc:  # an integer of more than 4300 digits (CPython's int() limit)
        raise RecipeError(f"{what}: {path.name} holds a number too long to read ({exc.args[0].split(';')[0]})",
                          at(1), expected="numbers of at most 4300 digits",
                          hint="write such a value as a JSON string (in quotes)", code="E0010") from None


def _json_lines(text: str) -> bool:
    """Whether ``text`` is JSON Lines: its first line a whole JSON value, and more follow."""
    first, _, rest = text.strip().partition("\n")
    if not rest.strip():
        return False
    try:
        json.loads(first)
    except (ValueError, RecursionError):
        return False
    return True


def _names_a_folder(name: str, base: Path) -> bool:
    """A `dataset:` name that can only mean a local folder: a path (./, ../, absolute, a backslash, more than
    one /) or ORG/NAME whose ORG is a folder beside the recipe (`data/squad`)."""
    if name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1:
        return True
    return "/" in name and (base / name.split("/", 1)[0]).is_dir()


def _canonical_tag(tag: str) -> str:
    """A language tag in BCP 47's usual case: the language lower, a script title-cased, a region upper (zh-hant-tw ->
    zh-Hant-TW)."""
    first, *rest = tag.split("-")
    return "-".join([first.lower(), *(p.title() if len(p) == 4 else p.upper() for p in rest)])


LANGUAGE_NAMES = {"english": "en", "chinese": "zh", "german": "de", "french": "fr", "spanish": "es", "dutch": "nl",
                  "italian": "it", "portuguese": "pt", "russian": "ru", "japanese": "ja", "korean": "ko", "arabic": "ar",
                  "hindi": "hi", "turkish": "tr", "polish": "pl", "vietnamese": "vi", "indonesian": "id", "czech": "cs",
                  "swedish": "sv", "greek": "el", "hebrew": "he", "persian": "fa", "ukrainian": "uk", "thai": "th"}


def _language_hint(value: str) -> str | None:
    """The code a malformed language tag most likely means (`en_US`, `German`), if any."""
    fixed = _canonical_tag(value.replace("_", "-"))
    named = LANGUAGE_NAMES.get(value.strip().lower())
    return f"write `{named}`" if named else f"write `{fixed}`" if LANGUAGE_RE.match(fixed) else None


# the options of a table adapter that only say how its text is written (a JSON record file has no such layout)
_TABLE_LAYOUT_OPTIONS = {"encoding", "header", "quoting", "quotechar", "escapechar", "delimiter"}


def _records_of_a_header_table(entry: CatalogEntry, found: str | None) -> bool:
    """A JSON or JSON Lines file given to an adapter of a CSV/TSV table whose header names the columns: the same
    records keyed by those names (MultiNLI's release ships multinli_1.0_dev_matched.jsonl beside the .txt, with
    sentence1, sentence2, gold_label keys; GLUE SST-2 saved with `to_json`: sentence, label, its `columns:`), read
    as records; the adapter's layout options are left out."""
    return entry.format in ("csv", "tsv") and found in ("json", "jsonl") and entry.options.get("header") is True \
        and set(entry.options) <= _TABLE_LAYOUT_OPTIONS | {"columns"}
