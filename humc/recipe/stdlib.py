"""The standard library of reusable assets — task schemas, instruction templates,
guidelines, preference rules, format variants and the dataset catalog — loaded from data folders.

Built-in assets live in ``stdlib/``; a recipe may add its own folders with the same
layout (``stdlib: [./my_assets]``), whose assets override built-ins of the same id.
Every asset carries the sha256 of its file, which enters the fingerprints of the graph
nodes that use it: editing one guideline rebuilds only what depends on it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from humc.answers import formats
from humc.errors import HumcError, RecipeError, Span, did_you_mean
from humc.expr import Call, Name, Pipeline, Source, call_parts, check_functions, literal_value, parse_expr, parse_pipeline
from humc.ir import AnswerOp, Compiled, Guideline, LabelExamples, PreferenceRule, TaskDef, Template, Variant
from humc.recipe.catalog import CatalogEntry, catalog_entry_from_node, check_entry_names
from humc.recipe.nodes import check_keys, expect_kind, expr_source, opt, req, string_list, text_origin
from humc.recipe.rules import check_condition, compile_ops
from humc.recipe.yamlsrc import Node, load_yaml, not_a_regular_file, not_utf8
from humc.resources import stdlib_dir
from humc.templating import TEMPLATE_VARIABLES, syntax_problem

FAMILIES = ("closed_ie", "open_ie", "mrc", "classification", "generalist")
# the folders of a stdlib folder (the built-in one, or one a recipe's `stdlib:` adds)
FOLDERS = ("tasks", "templates", "guidelines", "rules", "variants", "catalog", "hard_negatives", "prompts", "cards")
# keys of a guideline / preference rule, in a stdlib file or inline in a recipe
GUIDELINE_KEYS = ["id", "title", "tasks", "language", "text", "labels"]
RULE_KEYS = ["id", "title", "tasks", "text", "when", "then", "codecs"]


@dataclass
class Stdlib:
    tasks: dict[str, TaskDef] = field(default_factory=dict)
    templates: dict[str, dict[str, Template]] = field(default_factory=dict)  # task -> id -> template
    guidelines: dict[str, Guideline] = field(default_factory=dict)
    rules: dict[str, PreferenceRule] = field(default_factory=dict)
    variants: dict[str, Variant] = field(default_factory=dict)
    catalog: dict[str, CatalogEntry] = field(default_factory=dict)  # dataset adapters (recipe/catalog.py)
    files: dict[tuple[str, str], Path] = field(default_factory=dict)  # (kind, id; a template's "task/id") -> its file


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_stdlib(extra_dirs: Iterable[Path] = (), named_at: Sequence[Span] = ()) -> Stdlib:
    """The stdlib and the ``extra_dirs`` added to it; ``named_at``: where a recipe names each of them, the place of
    an error about a folder itself (its layout), which has no line of its own."""
    lib = Stdlib()
    extra = [Path(root) for root in extra_dirs]
    places = dict(zip(extra, named_at, strict=False))  # a caller may name no places
    for root in (stdlib_dir(), *extra):
        try:
            _load_dir(lib, Path(root))
        except RecipeError as exc:
            exc.span = exc.span or places.get(Path(root))
            raise
    for entry in lib.catalog.values():  # names are checked once every folder has added its assets
        check_entry_names(entry, lib.tasks, lib.guidelines, lib.rules)
    for task in sorted(set(lib.templates) - set(lib.tasks)):
        folder = lib.files["templates", f"{task}/{next(iter(lib.templates[task]))}"].parent
        raise RecipeError(f"templates folder {folder} names no task: '{task}'", places.get(folder.parent.parent),
                          code="E2003",
                          expected="templates/<task>/ with a task of `humc stdlib tasks`",
                          hint=f"task names are lower case: templates/{task.lower()}/" if task.lower() in lib.tasks
                          else did_you_mean(task, lib.tasks) or "a new task needs its tasks/<task>.yaml too")
    return lib


def _normal(name: str) -> str:
    return re.sub(r"[-_ ]", "", name.lower()).rstrip("s")


def _check_layout(root: Path) -> None:
    """A folder of ``root`` that is almost a stdlib folder (`template/`, `Guidelines/`, `hard-negatives/`) or a template
    outside a task's folder would be passed over in silence: both are errors. Other folders are not humc's (a recipe
    folder used as its own stdlib holds `data/` and `out/`)."""
    for name in FOLDERS:  # a file where a folder belongs: every asset of that kind was passed over
        if (root / name).exists() and not (root / name).is_dir():
            raise RecipeError(f"stdlib folder {root}: '{name}' is a file, not a folder", code="E0012",
                              expected=f"{name}/, a folder holding the files",
                              hint=f"humc reads the files inside {name}/: make it a folder and put them in it")
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in FOLDERS):
        meant = next((f for f in FOLDERS if _normal(f) == _normal(sub.name)), None)
        if meant is not None:
            raise RecipeError(f"stdlib folder {root}: humc reads '{meant}/', not '{sub.name}/'", code="E0012",
                              expected="one of the folders: " + ", ".join(FOLDERS), hint=f"rename {sub} to {meant}")
    for path in _files(root / "templates", "*.j2"):
        raise RecipeError(f"template {path} is not in a task's folder", code="E0012",
                          expected=f"templates/<task>/{path.name}, e.g. templates/ner/{path.name}",
                          hint="move it into the folder of the task it is for (`humc stdlib tasks` lists them)")


def _load_dir(lib: Stdlib, root: Path) -> None:
    if not root.is_dir():
        raise RecipeError(f"stdlib folder not found: {root}", code="E0009")
    _check_layout(root)
    for path in _files(root / "tasks", "*.yaml"):
        task = _loaded(load_task, path)
        lib.tasks[task.id] = task
        lib.files["tasks", task.id] = path
    for path in _files(root / "templates", "*/*.j2"):
        tpl = _loaded(load_template, path)
        lib.templates.setdefault(tpl.task, {})[tpl.id] = tpl
        lib.files["templates", f"{tpl.task}/{tpl.id}"] = path
    for path in _files(root / "guidelines", "*.yaml"):
        g = _loaded(load_guideline, path)
        lib.guidelines[g.id] = g
        lib.files["guidelines", g.id] = path
    for path in _files(root / "rules", "*.yaml"):
        r = _loaded(load_rule, path)
        lib.rules[r.id] = r
        lib.files["rules", r.id] = path
    for path in _files(root / "variants", "*.yaml"):
        v = _loaded(load_variant, path)
        lib.variants[v.id] = v
        lib.files["variants", v.id] = path
    for path in _files(root / "catalog", "*.yaml"):
        entry = _loaded(load_catalog_entry, path)
        lib.catalog[entry.id] = entry


def _files(folder: Path, pattern: str) -> list[Path]:
    """The files of ``folder`` matching ``pattern``, sorted, but hidden ones: an editor's lock or backup file (Emacs's
    `.#en_1.j2`, a link to nowhere while the buffer is modified), a `.ipynb_checkpoints/` copy, is none of the user's
    assets; reading it was an internal error, or a second template of the same id."""
    return sorted(p for p in folder.glob(pattern) if not any(part.startswith(".") for part in p.relative_to(folder).parts))


T = TypeVar("T")
_LOADED: dict[tuple[str, str, str], Any] = {}  # (loader, path, digest of its bytes) -> what the loader made of it


def _loaded(load: Callable[[Path], T], path: Path) -> T:
    """``load(path)``, once a process per content of the file: planning loads the whole stdlib, and checking its 44
    catalog adapters' field expressions and its variants' sentences took 0.3 s of every plan."""
    key = (load.__name__, str(path), digest(path.read_bytes()) if path.is_file() else "")
    if not key[2]:
        return load(path)  # raises the located error of what is not a file
    if key not in _LOADED:
        if len(_LOADED) > 4096:
            _LOADED.clear()
        _LOADED[key] = load(path)
    return cast(T, _LOADED[key])


def _asset(path: Path) -> tuple[Node, str]:
    """A stdlib YAML file, parsed, and the digest of its bytes (each loaded once a process: ``_loaded``)."""
    # raises the located error of a missing, too large or malformed file
    node = load_yaml(path, expected="a YAML mapping", shipped=path.is_relative_to(stdlib_dir()))
    return node, digest(path.read_bytes())


def load_task(path: Path) -> TaskDef:
    node, sha = _asset(path)
    what = f"task {path.name}"
    check_keys(node, ["id", "family", "title", "description", "inputs", "answer", "schema", "hf"], what,
               required=["id", "family", "inputs", "answer"])
    family = req(node, "family", "string", what)
    if family not in FAMILIES:
        raise RecipeError(f"unknown task family '{family}'", node.require("family").span,
                          expected="one of: " + ", ".join(FAMILIES), hint=did_you_mean(family, FAMILIES), code="E2003")
    answer = node.require("answer")
    check_keys(answer, ["field", "columns", "cardinality", "list", "spans_from", "copied_from", "choice_of", "always",
                        "unanswerable", "copied_gold"], f"'answer' of {what}",
               required=["field", "columns"])
    cardinality = opt(answer, "cardinality", "string", what, "many")
    if cardinality not in ("one", "many"):
        raise RecipeError("cardinality must be 'one' or 'many'", answer.require("cardinality").span, code="E0008")
    schema = node.get("schema")
    schema_column = schema_missing = roles_of = None
    columns = _task_names(answer.get("columns"), "answer columns", (), template=False)
    inputs = _task_names(node.get("inputs"), "inputs", TEMPLATE_VARIABLES, template=True)
    if schema is not None:
        check_keys(schema, ["column", "missing", "roles"], f"'schema' of {what}", required=["column"])
        schema_column = req(schema, "column", "string", what)
        schema_missing = opt(schema, "missing", "string", what)
        if schema_column not in columns:
            raise RecipeError(f"schema column '{schema_column}' is not an answer column", schema.require("column").span,
                              expected="one of: " + ", ".join(columns), code="E0008")
        roles_of = _roles_of(schema.get("roles"), columns, inputs)
    spans_from = _spans_from(answer.get("spans_from"), columns, inputs)
    copied_from = _spans_from(answer.get("copied_from"), columns, inputs, "copied_from")
    choice_of = opt(answer, "choice_of", "string", what, None)
    if choice_of is not None and choice_of not in inputs:
        raise RecipeError(f"'choice_of' names '{choice_of}', which is not an input", answer.require("choice_of").span,
                          expected="one of: " + ", ".join(inputs), code="E0008")
    copied_gold = opt(answer, "copied_gold", "boolean", what, False)
    if copied_gold and not copied_from:
        raise RecipeError("'copied_gold' checks the columns 'copied_from' names, and this task names none",
                          answer.require("copied_gold").span, code="E0008",
                          expected="`copied_from: {column: input}` beside `copied_gold: true`",
                          hint="add copied_from, or remove copied_gold (spans_from checks a gold span already)")
    hf = _hf_metadata(node.get("hf"), what)
    return TaskDef(
        id=_asset_id(node, what), family=family, title=opt(node, "title", "string", what, ""),
        description=opt(node, "description", "string", what, ""),
        inputs=inputs, answer_field=req(answer, "field", "string", what), columns=columns, cardinality=cardinality,
        schema_column=schema_column, task_categories=hf["task_categories"],
        task_ids=hf["task_ids"], digest=sha, spans_from=spans_from, choice_of=choice_of,
        answer_is_list=opt(answer, "list", "boolean", what, False), schema_missing=schema_missing,
        answer_always=opt(answer, "always", "boolean", what, False),
        answer_unanswerable=opt(answer, "unanswerable", "boolean", what, False), copied_from=copied_from,
        copied_gold=copied_gold, roles_of=roles_of)


def _hf_metadata(node: Node | None, what: str) -> dict[str, tuple[str, ...]]:
    """A task's `hf: {task_categories: [...], task_ids: [...]}`, the dataset card's metadata: each a list of names (a
    list `hf:` was an internal error, and one string was written into the card a letter an item)."""
    keys = ("task_categories", "task_ids")
    if node is None or node.value is None:
        return dict.fromkeys(keys, ())
    check_keys(node, keys, f"'hf' of {what}")
    return {key: tuple(name for name, _ in string_list(node.get(key), f"'{key}' in {what}")) for key in keys}


def _task_names(node: Node | None, what: str, taken: tuple[str, ...], *, template: bool) -> tuple[str, ...]:
    """A task's `inputs:` or answer `columns:`, each once and not empty; ``template``: each a name a template can
    write (an input is a template variable), none of ``taken`` (the variables every template has). E0008 at the
    name: it was taken, and the error came later, at a catalog adapter's fields or a recipe's formats."""
    names: list[str] = []
    for name, item in string_list(node, what):
        problem = ("is not a name (letters, digits and _, not first a digit)" if template and not name.isidentifier()
                   else "is empty" if not name.strip()
                   else "is given twice" if name in names
                   else "is a variable every template has" if name in taken else None)
        if problem is not None:
            raise RecipeError(f"'{name}' in a task's {what} {problem}", item.span, code="E0008",
                              expected="distinct names such as text, question" + (
                                  f", none of: {', '.join(taken)}" if taken else ""))
        names.append(name)
    return tuple(names)


def _asset_id(node: Node, what: str) -> str:
    """An asset's `id:`, the name recipes give it: a text with a visible character (an empty one was taken, and named
    an instruction's guideline or rule by nothing in the records' columns)."""
    name = str(req(node, "id", "string", what))
    if not name.strip():
        raise RecipeError(f"'id' in {what} is empty", node.require("id").span, code="E0008",
                          expected="a name, e.g. house_ner", hint="the id is the name a recipe gives it")
    return name


def _roles_of(node: Node | None, columns: tuple[str, ...], inputs: tuple[str, ...]) -> tuple[str, str] | None:
    """A task's `schema: {roles: {<role column>: <the answer column or input naming its event type>}}`."""
    if node is None:
        return None
    expect_kind(node, "mapping", what="'roles' of a task's schema")
    pairs = [(str(column), value) for column, value in node.value.items()]
    if len(pairs) != 1 or pairs[0][0] not in columns or pairs[0][1].value not in (*columns, *inputs):
        raise RecipeError("a task's `schema: {roles: …}` maps its role column to the column or input naming the event "
                          "type", node.span, code="E0008",
                          expected=f"one answer column ({', '.join(columns)}) mapped to an answer column or input "
                                   f"({', '.join(inputs)})")
    return pairs[0][0], str(pairs[0][1].value)


def _spans_from(node: Node | None, columns: tuple[str, ...], inputs: tuple[str, ...],
                key: str = "spans_from") -> tuple[tuple[str, str], ...]:
    """`answer: {spans_from: {column: input}}` (or `copied_from`): answer columns whose values are copied from an input.
    `copied_from` may map another input too (EEA's given trigger, a span of its text: checked in gold only)."""
    if node is None:
        return ()
    expect_kind(node, "mapping", what=f"'{key}'")
    copied = columns + inputs if key == "copied_from" else columns
    out = []
    for column, value in node.value.items():
        if column not in copied or value.value not in inputs or column == value.value:
            raise RecipeError(f"'{key}' maps '{column}' to '{value.value}'", value.span, code="E0008",
                              expected=f"an answer column ({', '.join(columns)}){' or another input' * (key == 'copied_from')}"
                                       f" mapped to an input ({', '.join(inputs)})")
        out.append((column, str(value.value)))
    return tuple(out)


def load_catalog_entry(path: Path) -> CatalogEntry:
    node, sha = _asset(path)
    return catalog_entry_from_node(node, path, sha)


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # C0 controls and DEL but tab, line feed, carriage return


def load_template(path: Path) -> Template:
    problem = not_a_regular_file(path)
    if problem is not None:
        raise problem
    if path.is_dir():  # a folder named en_1.j2 (globbed as a template): read_bytes raised IsADirectoryError, exit 3
        raise RecipeError(f"{path} is a folder, not a template file", Span(str(path), 1, 1), code="E0009",
                          expected="a Jinja2 template file", hint="move the folder away, or rename it without `.j2`")
    try:
        data = path.read_bytes()
    except OSError as exc:  # a symbolic link to nowhere (globbed all the same), no permission: was exit 3
        raise RecipeError(f"cannot read template {path}: {exc.strerror}", Span(str(path), 1, 1), code="E0009",
                          expected="a readable Jinja2 template file",
                          hint="check the file's permissions, and where a symbolic link points (`ls -l`)") from None
    language = path.stem.split("_", 1)[0]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise not_utf8(str(path), data, exc) from None
    # the byte-order mark Windows editors put first in UTF-8 is no text: it went first into every instruction; the
    # digest is of the text used, so a build cached before this reads none
    text = text.removeprefix("\ufeff")
    control = _CONTROL.search(text)  # a NUL or escape byte would be copied into every instruction
    if control is not None:
        line = text.count("\n", 0, control.start()) + 1
        col = control.start() - text.rfind("\n", 0, control.start())
        raise RecipeError(f"template holds the control character U+{ord(control.group()):04X}", Span(str(path), line, col),
                          code="E0009", expected="text (a tab or a line break is fine)",
                          hint="remove it (editors often do not show it); a file full of NUL bytes may be UTF-16: save "
                               "it as UTF-8")
    return Template(id=path.stem, task=path.parent.name, language=language, text=text,
                    path=str(path), digest=digest(text.encode()))


def load_guideline(path: Path) -> Guideline:
    node, sha = _asset(path)
    return guideline_from_node(node, f"guideline {path.name}", sha)


def guideline_from_node(node: Node, what: str, sha: str) -> Guideline:
    check_keys(node, GUIDELINE_KEYS, what, required=["id"])
    labels_node = node.get("labels")
    if labels_node is not None and labels_node.kind == "list":  # the entry's label set, written in a guideline
        raise RecipeError(f"'labels' in {what} must be a mapping of label to definition, not a list", labels_node.span,
                          code="E0007", expected=f"label: definition, e.g. {{PER: names of people}}; each value {LABEL_SHAPE}",
                          hint="a guideline defines labels; the task entry's own `labels:` lists the label set")
    if labels_node is not None:
        expect_kind(labels_node, "mapping", what=f"'labels' in {what}")
    items = labels_node.value.items() if labels_node is not None and labels_node.value else []
    parsed = [(str(k), *label_value(v, str(k), what)) for k, v in items]
    if node.get("text") is None and not parsed:
        raise RecipeError(f"{what} needs `text:` or `labels:`", node.span, code="E0006")
    text_node = node.get("text")
    if text_node is not None and isinstance(text_node.value, str) and not text_node.value.strip() and not parsed:
        raise RecipeError(f"{what} has an empty `text:`: no instruction would show it", text_node.span, code="E0008",
                          expected="a guideline sentence, or `labels:` with a definition of each label",
                          hint="write the guideline, or leave it out of `guidelines:`")
    return Guideline(id=_asset_id(node, what), title=opt(node, "title", "string", what, ""),
                     text=(opt(node, "text", "string", what, "") or "").strip(),
                     labels=tuple((k, d) for k, d, _ in parsed if d),
                     language=opt(node, "language", "string", what, "en"),
                     tasks=tuple(v for v, _ in string_list(node.get("tasks"), "tasks")), digest=sha,
                     examples=tuple((k, ex) for k, _, ex in parsed if ex))


LABEL_KEYS = ["definition", "positive", "negative"]
LABEL_SHAPE = ('a definition, or {definition: "...", positive: ["an example"], '
               'negative: ["a look-alike", {text: "a look-alike", label: "what it is"}]}')


def label_value(node: Node, label: str, what: str) -> tuple[str, LabelExamples]:
    """A guideline label's value: its definition (a string), or a mapping with a definition and examples — `positive`
    texts that are the label and `negative` look-alikes that are not (a string, or {text, label: what it is})."""
    where = f"label '{label}' of {what}"
    if node.kind != "mapping":
        if node.kind in ("list", "null") or not str(node.value).strip():
            raise RecipeError(f"{where} must be a definition or a mapping with one", node.span, expected=LABEL_SHAPE,
                              code="E0007")
        return str(node.value).strip(), LabelExamples()
    check_keys(node, LABEL_KEYS, where)
    definition = opt(node, "definition", "string", where, "") or ""
    positive = tuple(_example(item, f"a positive example of {where}") for item in _example_items(node, "positive", where))
    negative = []
    for item in _example_items(node, "negative", where):
        if item.kind == "mapping":
            check_keys(item, ["text", "label"], f"a negative example of {where}", required=["text"])
            negative.append((_example(item.require("text"), f"a negative example of {where}"),
                             (opt(item, "label", "string", where, "") or "").strip()))
        else:
            negative.append((_example(item, f"a negative example of {where}"), ""))
        if negative[-1][0] in positive:
            raise RecipeError(f"'{negative[-1][0]}' is both a positive and a negative example of {where}", item.span,
                              expected="a negative example that is not the label", code="E0008")
    if not definition.strip() and not positive and not negative:
        raise RecipeError(f"{where} has neither a definition nor examples", node.span, expected=LABEL_SHAPE,
                          code="E0006")
    return definition.strip(), LabelExamples(positive, tuple(negative))


def _example_items(node: Node, key: str, where: str) -> list[Node]:
    child = node.get(key)
    if child is None or child.value is None:
        return []
    expect_kind(child, "list", what=f"'{key}' of {where}")
    items: list[Node] = child.value
    return items


def _example(node: Node, what: str) -> str:
    if node.kind not in ("string", "integer", "number") or not str(node.value).strip():
        raise RecipeError(f"{what} must be a non-empty text", node.span, expected='a quoted text, e.g. "Clinton"',
                          code="E0007")
    return str(node.value).strip()


def load_rule(path: Path) -> PreferenceRule:
    node, sha = _asset(path)
    return rule_from_node(node, f"rule {path.name}", sha)


def rule_from_node(node: Node, what: str, sha: str) -> PreferenceRule:
    check_keys(node, RULE_KEYS, what, required=["id", "then"])
    texts = _texts(node, what)
    when = None
    if node.get("when") is not None:
        src = expr_source(node.require("when"))
        ast = parse_expr(src.text, src)
        check_functions(ast, src)
        check_condition(ast, src)
        when = Compiled(ast, src)
    then_src = expr_source(node.require("then"))
    ops = compile_ops(parse_pipeline(then_src.text, then_src), then_src)
    return PreferenceRule(id=_asset_id(node, what), title=opt(node, "title", "string", what, ""),
                          text=texts, when=when, then=ops,
                          tasks=tuple(v for v, _ in string_list(node.get("tasks"), "tasks")), digest=sha,
                          codecs=_rule_codecs(node.get("codecs"), ops, what))


def _rule_codecs(node: Node | None, ops: tuple[AnswerOp, ...], what: str) -> tuple[str, ...]:
    """A rule's `codecs:`, the answer codecs it is stated under, each a known one (E2006 at the unknown name); only
    for a rule that says how to answer nothing (`empty_as`): a rule changing the gold rows changes them for every
    format of the record, so it must be stated under every one."""
    names = string_list(node, "codecs")
    if node is not None and any(op.name != "empty_as" for op in ops):
        raise RecipeError(f"'codecs' in {what}: only a rule that says how to answer nothing (empty_as) may be "
                          "limited to some answer codecs", node.span, code="E0008",
                          expected="`then: empty_as(...)` with `codecs:`, or no `codecs:`",
                          hint="a rule changing the answer's rows is stated under every format")
    for name, item in names:
        _check_codec(name, item.span, f" in 'codecs' of {what}")
    return tuple(name for name, _ in names)


def _check_codec(name: str, span: Span | None, where: str) -> None:
    """E2006 at ``span`` for a name that is no answer codec, with the codec meant (or writing that variant)."""
    if name not in formats.CODECS:
        raise RecipeError(f"unknown answer codec '{name}'{where}", span, code="E2006",
                          expected="one of: " + ", ".join(formats.CODECS),
                          hint=_variant_codec_hint(name) or did_you_mean(name, formats.CODECS))


def _variant_codec_hint(name: str) -> str:
    """When ``name`` is a built-in format variant rather than a codec (`json_pretty`, `label_only`): the codec that
    writes it, the name `codecs:` takes."""
    path = stdlib_dir() / "variants" / f"{name}.yaml"
    if "/" in name or not path.is_file():
        return ""
    codec = _loaded(load_variant, path).spec.codec
    return f"'{name}' is a format variant, written by the answer codec '{codec}': name that codec (it covers " \
           "every variant it writes)"


def _texts(node: Node, what: str) -> dict[str, str]:
    """A rule's or variant's `text:`: one sentence (English), or language -> sentence, each a string (a number or a
    list would be written into instructions as Python prints it)."""
    text = node.get("text")
    if text is None:
        return {}
    expect_kind(text, "mapping", "string", what=f"'text' in {what}")
    if text.kind == "string":
        return {"en": text.value}
    for language, sentence in text.value.items():
        expect_kind(sentence, "string", what=f"the '{language}' text of {what}")
    return {language: sentence.value for language, sentence in text.value.items()}


def load_variant(path: Path) -> Variant:
    node, sha = _asset(path)
    what = f"variant {path.name}"
    check_keys(node, ["id", "codec", "options", "modifiers", "text"], what, required=["id", "codec"])
    modifiers: list[tuple[str, dict[str, Any]]] = []
    codec = req(node, "codec", "string", what)
    _check_codec(codec, node.require("codec").span, f" in {what}")  # at its line, not the file's first
    for text, item in string_list(node.get("modifiers"), "modifiers"):
        src = expr_source(item)
        calls = call_parts(parse_pipeline(text, src))
        modifiers.extend(_modifier(c, src) for c in calls)
        if codec in formats.codec_names():
            for call, (name, kwargs) in zip(calls, modifiers[-len(calls):], strict=True):
                _located(src.span_of(*call.pos), formats.check_modifier, codec, name, kwargs)
    options = opt(node, "options", "mapping", what, {}) or {}
    options_node = node.get("options")
    if codec in formats.codec_names() and options_node is not None and options_node.kind == "mapping":
        for name, item in options_node.value.items():  # each at its line, not the file's first
            known = name in formats.CODECS[codec].settings  # a bad value at the value, an unknown option at its key
            _located(item.span if known else options_node.key_spans[name], formats.check_option, codec, name,
                     options[name])
    spec = formats.FormatSpec(codec, options, tuple(modifiers))
    _check_spec(spec, node.span)
    return Variant(id=_asset_id(node, what), spec=spec, text=_texts(node, what), digest=sha,
                   origins=_checked_variant_texts(node.get("text"), what))


def _checked_variant_texts(node: Node | None, what: str) -> tuple[tuple[str, Span], ...]:
    """(language, where its sentence starts) for a variant's `text:`, each checked for syntax and sandbox safety."""
    if node is None:
        return ()
    items = [("en", node)] if node.kind == "string" else list(node.value.items())
    origins = []
    for language, item in items:
        if not isinstance(item.value, str):
            continue
        origin = text_origin(item)
        problem = syntax_problem(item.value)
        if problem:
            raise problem.error(f"{what} text ({language})", origin)
        if origin is not None:
            origins.append((language, origin))
    return tuple(origins)


def variant_problem(spec: formats.FormatSpec, task: TaskDef) -> str | None:
    """Why this format cannot write the task's answers (a sentence), or None: ``formats.fit_problem``, and a label-only
    answer needs a list to pick from (the task's labels or its options), which free answers such as spans lack."""
    problem = formats.fit_problem(spec, task.columns, task.schema_column, [c for c, _ in task.spans_from])
    if problem is None and spec.codec == "label" and task.schema_column is None and task.choice_of is None:
        return f"answers with a label from the list shown, but task '{task.id}' shows no label list"
    return problem


def variant_from_pipeline(pipe: Pipeline, src: Source, lib: Stdlib, columns: Sequence[str] | None = None,
                          fields: Collection[str] = ()) -> Variant:
    """An inline format variant: `json | shuffle_keys(seed=3)` or `json_pretty | indent(4)`.

    The head names a stdlib variant (whose instruction text is reused) or a bare codec. Each option and modifier is
    checked where it is written; with ``columns`` (the task's answer columns) a `keys`/`nest` written here must name
    them (``fields``: the record's, named by mistake)."""
    try:
        calls = call_parts(pipe)
    except ValueError:
        raise RecipeError("a format must be a variant or codec name, optionally followed by modifiers",
                          src.span_of(*pipe.pos), expected='e.g. json, natural or "json | shuffle_keys(seed=3)"', code="E2006") from None
    head, rest = calls[0], [_modifier(c, src) for c in calls[1:]]
    base = lib.variants.get(head.fn)
    own: list[tuple[Call, str, Any]] = []  # (where, name, checked value) of the settings written here
    if base is not None and not head.args and not head.kwargs:
        spec = formats.FormatSpec(base.spec.codec, base.spec.options, base.spec.modifiers + tuple(rest))
    elif head.fn in formats.codec_names():
        _, options = _modifier(head, src)
        if options.pop("_args", None):
            raise RecipeError(f"options of codec '{head.fn}' are named", src.span_of(*head.pos), code="E0008",
                              expected=f"{head.fn}(<option>=<value>, ...), e.g. json(indent=2)",
                              hint="a modifier after `|` takes its value by position: json | indent(2)")
        spec = formats.FormatSpec(head.fn, options, tuple(rest))
        own += [(head, name, _located(src.span_of(*head.pos), formats.check_option, head.fn, name, value))
                for name, value in options.items()]
        base = next((v for v in lib.variants.values() if v.spec.codec == head.fn), None)
    else:
        names = sorted(set(lib.variants) | set(formats.codec_names()))
        raise RecipeError(f"unknown format variant '{head.fn}'", src.span_of(*head.pos),
                          expected="a stdlib variant or codec: " + ", ".join(names), hint=did_you_mean(head.fn, names), code="E2006")
    seen: dict[str, Call] = {}
    for call, (name, kwargs) in zip(calls[1:], rest, strict=True):
        where = src.span_of(*call.pos)
        if name in seen:
            raise RecipeError(f"format modifier '{name}' is given twice", where, code="E0008",
                              expected="each modifier once (the last one would silently win)",
                              hint=f"keep one of them; the first is at {src.span_of(*seen[name].pos)}")
        seen[name] = call
        own.append((call, name, _located(where, formats.check_modifier, spec.codec, name, kwargs)))
    _check_spec(spec, src.span_of(*pipe.pos))
    if columns is not None:
        for call, name, value in own:
            _check_named_columns(name, value, columns, fields, src.span_of(*call.pos))
    # the digest covers the pipeline and the variant file whose instruction text it reuses
    return Variant(id=src.text.replace(" ", ""), spec=spec, text=base.text if base else {},
                   digest=digest(src.text.encode() + (base.digest.encode() if base else b"")),
                   origins=base.origins if base else ())


def _check_named_columns(name: str, value: Any, columns: Sequence[str], fields: Collection[str], where: Span | None) -> None:
    """A `keys` / `nest` written in the recipe names answer columns (a stdlib variant's may name columns other tasks
    have: they apply only where the task has them)."""
    for column in formats.setting_columns(name, value):
        if column not in columns:
            in_record = column in fields
            raise RecipeError(f"format modifier '{name}' names column '{column}', which the answer does not have", where,
                              expected="a column of the answer: " + ", ".join(columns),
                              hint=(f"'{column}' is a field of the record, not a column of the answer" if in_record
                                    else did_you_mean(column, columns)), code="E2006")


def _located(where: Span | None, check: Callable[..., Any], *args: Any) -> Any:
    """The value ``check(*args)`` returns; its HumcError (code, expected and hint kept) at ``where``."""
    try:
        return check(*args)
    except HumcError as exc:
        raise RecipeError(exc.message, where, expected=exc.expected, hint=exc.hint, code=exc.code) from None


def _modifier(call: Call, src: Source) -> tuple[str, dict[str, Any]]:
    """A pipeline stage -> (name, keyword options); one positional arg is allowed for one-arg modifiers."""
    try:
        kwargs = {k: literal_value(v) for k, v in call.kwargs}
        args = [literal_value(a) for a in call.args]
    except (ValueError, TypeError):
        raise RecipeError(f"arguments of '{call.fn}' must be constants", src.span_of(*call.pos), code="E0008",
                          expected="numbers, quoted strings, true/false, null or lists of them",
                          hint=_constant_hint(call)) from None
    if args:
        kwargs["_args"] = args
    return call.fn, kwargs


def _constant_hint(call: Call) -> str:
    """How to write a modifier's argument that is a bare name (`key_case(upper)`, `indent(none)`)."""
    name = next((a.name for a in [*call.args, *(v for _, v in call.kwargs)] if isinstance(a, Name)), None)
    spelled = {"none": "null", "None": "null", "True": "true", "False": "false"}
    if name in spelled:
        return f"the recipe language writes {spelled[name]}, not {name}"
    return f'a name is not a value here: quote a text, {call.fn}("{name}")' if name else "write a constant value"


def _check_spec(spec: formats.FormatSpec, span: Any) -> None:
    _located(span, formats.check_spec, spec)
