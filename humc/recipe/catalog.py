"""The dataset catalog: named adapters that read a public dataset as published.

Stage: compile (front end). A catalog entry is data, not code — ``stdlib/catalog/<name>.yaml``
(or a recipe's own ``stdlib:`` folder) holding the reader format and options, the `fields:`
mapping recipes use, the task, labels, default guidelines and preferences, and the dataset's
license, homepage and Hub id. A recipe names it from a source (``{catalog: conll2003, path: …}``)
and a task entry reading that source inherits the entry's task defaults.

Decisions:

- Entries keep their located YAML nodes, so an expression or option taken from the catalog is
  reported at its line in the catalog file, exactly like one written in the recipe.
- Defaults merge key by key and the recipe wins: source `options:` and task `fields:` merge per
  key, every other key (labels, guidelines, preferences, where, language) is replaced whole. A
  task entry that names a different task than the entry's takes only the source from the catalog.
- Names an entry uses (task, guidelines, rules) are checked once every stdlib folder is loaded.
- The Hub's version of a dataset (its Parquet export, a ``save_to_disk`` folder, `dataset:`) often has other
  columns than the published files: ClassLabel integers for tag strings, `premise` for `sentence1`. An entry's
  ``hub_layout:`` says how that version is read (`fields:` over the entry's per key, a `where:` of its own, and
  reader `options:` such as `explode:` for a Hub row holding several records: C3's questions, OntoNotes' sentences);
  its ClassLabel integers are read as their names. An entry without one reads only the files it names, and a Hub
  version given to it is refused at the recipe's line (E2016), not misread.
- An event dataset published with a schema file (DuEE's duee_event_schema.json: each type's roles) names it in
  ``roles_file:``; a task entry with argument roles (ee, eea) reading the adapter and writing no `schema: {roles: …}`
  takes each type's roles from that file when it is beside the data (else the roles seen in the gold, as before).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from humc.errors import RecipeError, did_you_mean
from humc.expr import check_functions, parse_expr, parse_pipeline
from humc.recipe.nodes import check_keys, expect_kind, expr_source, opt, req, string_list
from humc.recipe.yamlsrc import Node
from humc.sources import FORMATS, SOURCE_OPTION_DOCS, source_option_problem

# keys of a catalog file; TASK_DEFAULTS are the ones a task entry inherits (the recipe's own value wins)
CATALOG_KEYS = ["id", "title", "description", "task", "language", "license", "homepage", "hub", "citation", "files",
                "format", "options", "fields", "labels", "guidelines", "preferences", "where", "split_by", "constants",
                "notes", "hub_layout", "roles_file"]
TASK_DEFAULTS = ("task", "language", "fields", "labels", "guidelines", "preferences", "where", "split_by")
HUB_LAYOUT_KEYS = ["fields", "where", "options"]
HUB_LAYOUT_OPTIONS = ("explode",)  # reader options every form of the Hub's version takes (Parquet, Arrow, `dataset:`)
HUB_FILE_FORMATS = ("parquet", "arrow")  # how the Hub's version comes as a file: its Parquet export, save_to_disk
RECORD_FORMATS = ("json", "jsonl", "csv", "tsv")  # flat records in a text file: an adapter of one reads the others


@dataclass(frozen=True)
class CatalogEntry:
    """One named dataset adapter (a parsed ``stdlib/catalog/<id>.yaml``)."""

    id: str
    path: Path
    node: Node = field(compare=False, repr=False)
    task: str
    format: str
    options: dict[str, Any]
    description: str = ""
    title: str = ""
    language: str = ""  # "": none declared, the recipe's language names the records (multilingual releases)
    license: str = ""
    homepage: str = ""
    hub: str = ""
    files: str = ""
    labels: tuple[str, ...] = ()
    guidelines: tuple[str, ...] = ()
    preferences: tuple[str, ...] = ()
    split_by: str = ""  # records whose value of it is equal share a split (the questions on one passage)
    constants: dict[str, Any] = field(default_factory=dict)
    digest: str = ""
    roles_file: str = ""  # an event dataset's schema file, looked for next to the data: each type's roles (validate.py)

    @property
    def hub_layout(self) -> Node | None:
        """How the Hub's version is read (``hub_layout:``); an adapter of Parquet or Arrow files reads the Hub's
        layout itself (an empty one)."""
        node = self.node.get("hub_layout")
        if node is None and self.format in HUB_FILE_FORMATS:
            return Node({}, self.node.span, {})
        return node

    @property
    def hub_options(self) -> dict[str, Any]:
        """The reader options of the Hub's version (``hub_layout: {options: …}``), e.g. `explode:`."""
        layout = self.node.get("hub_layout")
        options = layout.get("options") if layout is not None else None
        return dict(options.plain()) if options is not None else {}

    @property
    def reads_record_copies(self) -> bool:
        """A Parquet file or `save_to_disk` folder is the published records saved another way, read with the
        adapter's own fields: its records are flat and its dataset has no Hub version (`hub: ""`: CoNLL04, DuEE)."""
        return not self.hub and self.format in RECORD_FORMATS

    def reads_as_hub_version(self, fmt: str | None) -> bool:
        """A source of this format is the dataset's Hub version rather than one of its published files: `hf`
        (`dataset:`), or a Parquet/Arrow file given to an adapter of other files."""
        return fmt == "hf" or (fmt in HUB_FILE_FORMATS and self.format not in HUB_FILE_FORMATS)

    def summary(self) -> dict[str, Any]:
        """Plain data for listings (`humc stdlib catalog`, docs/catalog.md)."""
        return {"id": self.id, "title": self.title, "description": self.description, "task": self.task,
                "language": self.language or "the recipe's", "format": self.format, "options": self.options, "license": self.license,
                "homepage": self.homepage, "hub": self.hub, "files": self.files, "labels": list(self.labels),
                "guidelines": list(self.guidelines), "preferences": list(self.preferences),
                "split_by": self.split_by, "fields": {k: v.value for k, v in self.fields_node().value.items()}, "path": str(self.path),
                "hub_layout": None if (hub := self.hub_layout) is None else hub.plain(),
                "reads_record_copies": self.reads_record_copies, "roles_file": self.roles_file}

    def fields_node(self) -> Node:
        node = self.node.get("fields")
        assert node is not None  # required when the entry is loaded
        return node


def options_text(options: dict[str, Any]) -> str:
    """Options as one line of YAML flow style, for listings: `{explode: [sentences]}`."""
    def value(v: Any) -> str:
        return "[" + ", ".join(map(str, v)) + "]" if isinstance(v, list) else str(v)
    return "{" + ", ".join(f"{k}: {value(v)}" for k, v in options.items()) + "}"


def catalog_entry_from_node(node: Node, path: Path, sha: str) -> CatalogEntry:
    """A catalog file's tree -> ``CatalogEntry``; every problem is located in the catalog file."""
    what = f"catalog entry {path.name}"
    check_keys(node, CATALOG_KEYS, what, required=["id", "task", "format", "fields", "description", "license"])
    fmt = req(node, "format", "string", what)
    if fmt not in FORMATS or fmt == "hf":
        names = [f for f in FORMATS if f != "hf"]
        raise RecipeError(f"unknown source format '{fmt}'", node.require("format").span, code="E4002",
                          expected="one of: " + ", ".join(names), hint=did_you_mean(fmt, names))
    options = _options(node, fmt, what)
    _check_fields(node.require("fields"), what)
    _check_hub_layout(node.get("hub_layout"), what)
    constants = opt(node, "constants", "mapping", what, {}) or {}
    return CatalogEntry(
        id=req(node, "id", "string", what), path=path, node=node, task=req(node, "task", "string", what), format=fmt,
        options=options, description=req(node, "description", "string", what).strip(),
        title=opt(node, "title", "string", what, "") or "", language=opt(node, "language", "string", what, "") or "",
        license=req(node, "license", "string", what), homepage=opt(node, "homepage", "string", what, "") or "",
        hub=opt(node, "hub", "string", what, "") or "", files=(opt(node, "files", "string", what, "") or "").strip(),
        labels=tuple(v for v, _ in string_list(node.get("labels"), "labels")),
        guidelines=tuple(v for v, _ in string_list(node.get("guidelines"), "guidelines")),
        preferences=tuple(v for v, _ in string_list(node.get("preferences"), "preferences")),
        split_by=_split_by(node.get("split_by"), what), constants=dict(constants), digest=sha,
        roles_file=_roles_file(node.get("roles_file"), what))


def _roles_file(node: Node | None, what: str) -> str:
    """`roles_file:` of a catalog file: the name of a file beside the data (no folder: it is the dataset's own)."""
    if node is None:
        return ""
    expect_kind(node, "string", what=f"'roles_file' of {what}")
    name = str(node.value)
    if not name.strip() or Path(name).name != name:
        raise RecipeError(f"'roles_file' of {what} is {name!r}", node.span, code="E0008",
                          expected="the name of a file beside the data, such as duee_event_schema.json")
    return name


def _split_by(node: Node | None, what: str) -> str:
    """`split_by:` of a catalog file: an expression over the mapped fields (checked like them)."""
    if node is None:
        return ""
    src = expr_source(node)
    check_functions(parse_expr(src.text, src), src)
    return src.text


def _check_fields(fields: Node, what: str) -> None:
    expect_kind(fields, "mapping", what=f"'fields' of {what}")
    for value in fields.value.values():
        src = expr_source(value)
        check_functions(parse_pipeline(src.text, src), src)


def _check_hub_layout(node: Node | None, what: str) -> None:
    """`hub_layout: {fields: {...}, where: ..., options: {...}}` (each may be left out: the Hub's columns are the
    files', one record per row)."""
    if node is None:
        return
    expect_kind(node, "mapping", what=f"'hub_layout' of {what}")
    check_keys(node, HUB_LAYOUT_KEYS, f"'hub_layout' of {what}")
    if (fields := node.get("fields")) is not None:
        _check_fields(fields, f"'hub_layout' of {what}")
    if (where := node.get("where")) is not None:
        src = expr_source(where)
        check_functions(parse_expr(src.text, src), src)
    _options(node, None, f"'hub_layout' of {what}")


def _options(node: Node, fmt: str | None, what: str) -> dict[str, Any]:
    """The `options:` of a catalog file for format ``fmt``, or of its `hub_layout:` (``fmt`` None: the options
    every form of the Hub's version takes)."""
    opt_node = node.get("options")
    if opt_node is None:
        return {}
    expect_kind(opt_node, "mapping", what=f"'options' of {what}")
    allowed = FORMATS[fmt] if fmt is not None else HUB_LAYOUT_OPTIONS
    for key, value in opt_node.value.items():
        if key not in allowed:
            format_ = f"format '{fmt}'" if fmt is not None else "the Hub's version"
            raise RecipeError(f"unknown option '{key}' for {format_}", opt_node.key_spans[key], code="E0005",
                              expected="one of: " + (", ".join(allowed) or "(none)"), hint=did_you_mean(key, allowed))
        problem = source_option_problem(key, value.plain(), opt_node.plain())
        if problem:
            raise RecipeError(f"bad value for option '{key}' of {what}: {problem}", value.span,
                              expected=SOURCE_OPTION_DOCS[key], code="E0008")
    return dict(opt_node.plain())


def check_entry_names(entry: CatalogEntry, tasks: dict[str, Any], guidelines: dict[str, Any],
                      rules: dict[str, Any]) -> None:
    """The task, guidelines and preference rules an entry names exist (checked after every stdlib folder loaded)."""
    node = entry.node
    if entry.task not in tasks:
        raise RecipeError(f"unknown task '{entry.task}'", node.require("task").span, code="E2003",
                          expected="one of: " + ", ".join(sorted(tasks)), hint=did_you_mean(entry.task, tasks))
    for name, item in string_list(node.get("guidelines"), "guidelines"):
        if name not in guidelines:
            raise RecipeError(f"unknown guideline '{name}'", item.span, code="E2008",
                              expected="a stdlib guideline id", hint=did_you_mean(name, guidelines))
    for name, item in string_list(node.get("preferences"), "preferences"):
        if name not in rules and not name.startswith("when "):
            raise RecipeError(f"unknown preference rule '{name}'", item.span, code="E2005",
                              expected="a stdlib rule id or `when … then …`", hint=did_you_mean(name, rules))


def unknown_catalog(name: str, node: Node, catalog: dict[str, CatalogEntry]) -> RecipeError:
    return RecipeError(f"unknown catalog dataset '{name}'", node.span, code="E2015",
                       expected="a dataset adapter listed by `humc stdlib catalog`",
                       hint=did_you_mean(name, catalog) or "`humc stdlib catalog` lists the adapters; a recipe's own "
                                                           "`stdlib:` folder may add more under catalog/")


def merged_options(entry: CatalogEntry, recipe_options: Node | None, fits: Collection[str] | None = None) -> Node:
    """The catalog's `options:` with the recipe's keys on top (each value keeps its own location); ``fits``: the
    options of the format read, when the adapter's own are for another (a table adapter given JSON records)."""
    base = entry.node.get("options")
    values: dict[str, Node] = dict(base.value) if base is not None else {}
    spans = dict(base.key_spans) if base is not None else {}
    if fits is not None:
        values = {k: v for k, v in values.items() if k in fits}
        spans = {k: v for k, v in spans.items() if k in fits}
    if recipe_options is not None:
        expect_kind(recipe_options, "mapping", what="'options'")
        values.update(recipe_options.value)
        spans.update(recipe_options.key_spans)
    span = recipe_options.span if recipe_options is not None else (base.span if base is not None else entry.node.span)
    return Node(values, span, spans)


def task_with_defaults(node: Node, entry: CatalogEntry, hub: bool = False) -> Node:
    """A task entry's node with the catalog entry's task defaults filled in (the recipe's keys win); ``hub``: its
    source is the dataset's Hub version, read with the entry's ``hub_layout``."""
    task = node.get("task")
    if task is not None and task.value != entry.task:
        return node  # another task: the catalog's fields and labels do not fit it
    values: dict[str, Node] = {}
    spans: dict[str, Any] = {}
    for key in TASK_DEFAULTS:
        child = entry.node.get(key)
        if child is not None:
            values[key], spans[key] = child, entry.node.key_spans[key]
    layout = entry.hub_layout if hub else None
    if layout is not None:
        if (where := layout.get("where")) is not None:
            values["where"], spans["where"] = where, layout.key_spans["where"]
        values["fields"] = _merged_fields(values["fields"], layout.get("fields"))
    values["fields"] = _merged_fields(values["fields"], node.get("fields"))
    own = {key: value for key, value in node.value.items() if key != "fields"}
    values.update(own)
    spans.update(node.key_spans)
    return Node(values, node.span, spans, node.style, node.in_flow)


def _merged_fields(base: Node, over: Node | None) -> Node:
    """``over``'s fields on top of ``base``'s, key by key (``over`` when it is not a mapping: reported later)."""
    if over is None:
        return base
    if over.kind != "mapping":
        return over
    return Node({**base.value, **over.value}, over.span, {**base.key_spans, **over.key_spans})
