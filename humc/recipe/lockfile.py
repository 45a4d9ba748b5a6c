"""The lockfile: LLM-proposed assets, reviewed by a person, pinned next to the recipe.

``humc synth`` adds proposals (``status: proposed``); ``humc review`` records decisions
(``accepted`` / ``rejected``, possibly ``edited``); ``humc build`` uses only accepted
items, offline: nothing in a build calls a model. ``recipes/mrc.hum.yaml`` pins its
assets in ``recipes/mrc.hum.lock``.

An item's ``id`` is a short hash of what was *proposed* (kind, task entry, base
template, text), so re-running ``humc synth`` recognises an item it already proposed
and never overwrites a reviewed decision — even when the accepted text was edited.

Provenance tells the truth: ``origin`` is ``llm`` (then ``model`` is the id the *server*
reported, beside ``recipe_model``, the alias and id the recipe asked for, with the
``system_fingerprint``, sampling ``params`` sent and ``date``), ``human`` (written by a
person) or ``unknown``. An item of an older lockfile without ``origin`` loads as
``unknown``: its ``model`` named what the recipe asked for, not what answered, so it
becomes ``recipe_model``. ``edited: true`` says a person changed the text.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from humc.errors import ErrorList, HumcError, RecipeError, Span, did_you_mean
from humc.expr import Source
from humc.ir import Guideline, LabelExamples, LockedAsset, PreferenceRule, TaskEntry, Template
from humc.locks import folder_lock
from humc.recipe.nodes import check_keys, expect_kind, expr_source, opt, req, string_list
from humc.recipe.nodes import text_origin as nodes_text_origin
from humc.recipe.rules import compile_rule
from humc.recipe.stdlib import digest, label_value
from humc.recipe.yamlsrc import Node, load_yaml
from humc.templating import template_problem

LOCK_VERSION = 1
KINDS = ("template", "guideline", "rule", "hard_negatives", "examples")
STATUSES = ("proposed", "accepted", "rejected")
ORIGINS = ("llm", "human", "unknown")
PROVENANCE_KEYS = ["origin", "model", "recipe_model", "system_fingerprint", "params", "date", "request"]
ITEM_KEYS = ["id", "kind", "entry", "status", "edited", *PROVENANCE_KEYS, "base", "language", "text", "labels",
             "when", "then", "hard_negatives", "examples"]

# answer operations whose single argument names an answer column


def lock_path_for(recipe_path: Path) -> Path:
    """``recipes/mrc.hum.yaml`` -> ``recipes/mrc.hum.lock``."""
    p = Path(recipe_path)
    name = p.name
    for suffix in (".yaml", ".yml", ".YAML", ".YML"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return p.with_name(name + ".lock")


def recipe_path_for(lock_path: Path) -> Path | None:
    """The recipe a lockfile belongs to (``x.hum.lock`` -> ``x.hum.yaml`` or ``.yml``), if it exists."""
    p = Path(lock_path)
    stem = p.name[: -len(".lock")] if p.name.endswith(".lock") else p.stem
    for suffix in (".yaml", ".yml"):
        cand = p.with_name(stem + suffix)
        if cand.exists():
            return cand
    return None


def item_id(kind: str, entry: str, base: str | None, text: str, labels: Mapping[str, str] | None = None) -> str:
    """Stable short hash of what was proposed (never recomputed after an edit)."""
    payload = [kind, entry, base or "", text, sorted((labels or {}).items())]
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode("utf-8")).hexdigest()[:10]


def sha256(text: str) -> str:
    return digest(text.encode("utf-8"))


@dataclass
class LockItem:
    id: str
    kind: str                      # "template" | "guideline" | "rule"
    entry: str                     # task entry id
    status: str = "proposed"       # "proposed" | "accepted" | "rejected"
    origin: str = "unknown"        # "llm" | "human" | "unknown": who wrote the proposal
    model: str = ""                # origin llm: the model id the server reported in its response
    recipe_model: str = ""         # what the recipe asked for: "alias (model id)"
    system_fingerprint: str = ""   # origin llm: the server's system_fingerprint, when it sent one
    params: dict[str, Any] = field(default_factory=dict)   # origin llm: sampling parameters sent
    date: str = ""                 # origin llm: UTC day the answer arrived
    request: str = ""              # LLM cache key of the request that proposed it
    base: str | None = None        # templates: the template it paraphrases, e.g. "en_1"
    language: str = "en"
    text: str = ""                 # template text / guideline text / rule sentence
    labels: dict[str, str] = field(default_factory=dict)   # guideline drafts: label -> definition
    when: str | None = None        # rules
    then: str | None = None        # rules
    hard_negatives: dict[str, list[str]] = field(default_factory=dict)   # label -> confusable labels
    examples: dict[str, LabelExamples] = field(default_factory=dict)    # label -> positive / negative examples
    edited: bool = False
    nodes: dict[str, Node] = field(default_factory=dict, compare=False, repr=False)  # located YAML, when loaded

    def span(self, key: str | None = None) -> Span | None:
        node = self.nodes.get(key) if key else None
        node = node or self.nodes.get("")
        return node.span if node is not None else None

    @property
    def written_by(self) -> str:
        """Who wrote the text, in words: "smollm2 (LLM)", "smollm2 (LLM), edited by hand", "a person", "unknown"."""
        if self.origin == "human":
            return "a person"
        who = f"{self.model} (LLM)" if self.origin == "llm" else "unknown"
        return who + (", edited by hand" if self.edited else "")

    def summary(self, width: int = 60) -> str:
        if self.kind == "guideline":
            s = "; ".join(f"{k}: {v}" for k, v in self.labels.items()) or self.text
        elif self.kind == "rule":
            s = f"{self.text}  [{'when ' + self.when + ' ' if self.when else ''}then {self.then}]"
        elif self.kind == "hard_negatives":
            s = "; ".join(f"{k} ~ {', '.join(v)}" for k, v in self.hard_negatives.items())
        elif self.kind == "examples":
            s = "; ".join(f"{k}: {', '.join(ex.positive)}" + (f" / not {', '.join(t for t, _ in ex.negative)}"
                                                               if ex.negative else "")
                          for k, ex in self.examples.items())
        else:
            s = " ".join(self.text.split())
        return s if len(s) <= width else s[: width - 1] + "…"


@dataclass
class Lockfile:
    path: Path
    recipe_name: str
    items: list[LockItem] = field(default_factory=list)

    def get(self, id_: str) -> LockItem | None:
        return next((i for i in self.items if i.id == id_), None)

    def count(self, status: str) -> int:
        return sum(i.status == status for i in self.items)


# ----------------------------------------------------------------------------- reading


def load_lock(path: Path) -> Lockfile:
    """Parse a lockfile; structural errors are RecipeErrors located in it."""
    path = Path(path)
    root = load_yaml(path, expected="a humc lockfile: a mapping with `humc_lock:` and `items:` (`humc synth` writes one; "
                                    "an empty file holds no decision and may be deleted)")
    what = f"lockfile {path.name}"
    check_keys(root, ["humc_lock", "recipe", "items"], what, required=["humc_lock", "items"])
    version = root.require("humc_lock")
    if isinstance(version.value, bool) or version.value != LOCK_VERSION:
        raise RecipeError(f"unsupported lockfile version {version.value!r}", version.span,
                          expected=f"humc_lock: {LOCK_VERSION}", code="E0011")
    items_node = root.require("items")
    items: list[LockItem] = []
    if items_node.value is not None:
        expect_kind(items_node, "list", what=f"'items' of {what}")
        seen: dict[str, LockItem] = {}
        for i, node in enumerate(items_node.value):
            item = _item(node, f"item #{i + 1} of {what}")
            if item.id in seen:
                raise RecipeError(f"duplicate item id '{item.id}'", node.require("id").span,
                                  notes=[f"first used at {seen[item.id].span('id')}"], code="E3001")
            seen[item.id] = item
            items.append(item)
    return Lockfile(path, opt(root, "recipe", "string", what, "") or "", items)


def _choice(node: Node, key: str, choices: Iterable[str], what: str) -> str:
    value: str = req(node, key, "string", what)
    choices = list(choices)
    if value not in choices:
        raise RecipeError(f"invalid {key} '{value}' in {what}", node.require(key).span,
                          expected="one of: " + ", ".join(choices), hint=did_you_mean(value, choices), code="E0008")
    return value


def _item(node: Node, what: str) -> LockItem:
    check_keys(node, ITEM_KEYS, what, required=["id", "kind", "entry", "status"])
    kind = _choice(node, "kind", KINDS, what)
    status = _choice(node, "status", STATUSES, what)
    id_ = str(req(node, "id", ("string", "integer"), what))
    labels_node = node.get("labels")
    labels: dict[str, str] = {}
    if labels_node is not None:
        expect_kind(labels_node, "mapping", what=f"'labels' in {what}")
        for k, v in labels_node.value.items():
            if v.kind != "string" or not v.value.strip():
                raise RecipeError(f"the definition of label '{k}' must be a non-empty string", v.span, code="E0008")
            labels[k] = v.value.strip()
    entry = req(node, "entry", "string", what)
    if not entry.strip():
        raise RecipeError(f"'entry' in {what} is empty", node.require("entry").span, code="E0008",
                          expected="the id of the task entry the item was proposed for",
                          hint="write the task entry's id back, or remove the item")
    item = LockItem(
        id=id_, kind=kind, entry=entry, status=status,
        request=opt(node, "request", "string", what, "") or "",
        base=opt(node, "base", "string", what), language=opt(node, "language", "string", what, "en") or "en",
        text=opt(node, "text", "string", what, "") or "", labels=labels,
        when=opt(node, "when", "string", what), then=opt(node, "then", "string", what),
        hard_negatives=_hard_negatives(node.get("hard_negatives"), what), examples=_examples(node.get("examples"), what),
        edited=bool(opt(node, "edited", "boolean", what, False)),
        nodes={"": node, **{k: v for k, v in node.value.items()}}, **_provenance(node, what))
    if kind == "template":
        if not item.text.strip():
            raise RecipeError(f"{what}: a template item needs `text:`", node.span, code="E0006")
        if not item.base:
            raise RecipeError(f"{what}: a template item needs `base:` (the template it paraphrases)", node.span, code="E0006")
    elif kind == "guideline":
        if not item.labels and not item.text.strip():
            raise RecipeError(f"{what}: a guideline item needs `labels:` or `text:`", node.span, code="E0006")
    elif kind == "hard_negatives":
        if not item.hard_negatives:
            raise RecipeError(f"{what}: a hard_negatives item needs `hard_negatives:` (label -> confusable labels)",
                              node.span, expected="hard_negatives: {PER: [ORG]}", code="E0006")
    elif kind == "examples":
        if not item.examples:
            raise RecipeError(f"{what}: an examples item needs `examples:` (label -> positive / negative examples)",
                              node.span, expected='examples: {PER: {positive: ["Clinton"], negative: ["Clinton Foundation"]}}',
                              code="E0006")
    else:
        if not item.then:
            raise RecipeError(f"{what}: a rule item needs `then:` (answer operations)", node.span, code="E0006")
    return item


def _hard_negatives(node: Node | None, what: str) -> dict[str, list[str]]:
    """`hard_negatives:` of an item: label -> non-empty list of other labels."""
    if node is None:
        return {}
    expect_kind(node, "mapping", what=f"'hard_negatives' in {what}")
    out: dict[str, list[str]] = {}
    for label, value in node.value.items():
        items = string_list(value, f"the confusable labels of '{label}' in {what}")
        if not items:
            raise RecipeError(f"label '{label}' has no confusable label in {what}", value.span,
                              expected="a non-empty list of other labels", code="E0008")
        for text, item in items:
            if text == label:
                raise RecipeError(f"label '{label}' is listed as confusable with itself in {what}", item.span,
                                  expected="other labels of the entry", code="E0008")
        out[str(label)] = list(dict.fromkeys(text for text, _ in items))
    return out


def _examples(node: Node | None, what: str) -> dict[str, LabelExamples]:
    """`examples:` of an item: label -> {positive: [...], negative: [...]} (checked like a guideline's label)."""
    if node is None:
        return {}
    expect_kind(node, "mapping", what=f"'examples' in {what}")
    out: dict[str, LabelExamples] = {}
    for label, value in node.value.items():
        expect_kind(value, "mapping", what=f"the examples of label '{label}' in {what}")
        if value.get("definition") is not None:
            raise RecipeError(f"an examples item holds no definition (label '{label}' in {what})",
                              value.key_spans.get("definition"), expected="positive: and negative: lists",
                              hint="definitions are guideline items", code="E0005")
        _, examples = label_value(value, str(label), what)
        out[str(label)] = examples
    return out


def _provenance(node: Node, what: str) -> dict[str, Any]:
    """origin, model, recipe_model, system_fingerprint, params and date of an item (see the module docstring)."""
    model = opt(node, "model", "string", what, "") or ""
    if node.get("origin") is None:  # an older lockfile: `model` named what the recipe asked for
        return {"origin": "unknown", "recipe_model": model}
    origin = _choice(node, "origin", ORIGINS, what)
    if origin == "llm" and not model.strip():
        raise RecipeError(f"{what}: an item with `origin: llm` needs `model:` (the model id the server reported)",
                          node.require("origin").span, expected="model: <reported model id>",
                          hint="if nobody knows which model wrote it, say `origin: unknown`", code="E0006")
    if origin != "llm" and model:
        raise RecipeError(f"{what}: `model:` names the model that wrote an item, but this item has `origin: {origin}`",
                          node.require("model").span, expected="origin: llm, or no `model:`",
                          hint="the model the recipe asked for goes in `recipe_model:`", code="E0008")
    params = opt(node, "params", "mapping", what, {}) or {}
    return {"origin": origin, "model": model, "recipe_model": opt(node, "recipe_model", "string", what, "") or "",
            "system_fingerprint": opt(node, "system_fingerprint", "string", what, "") or "",
            "params": dict(params), "date": str(opt(node, "date", ("string", "date"), what, "") or "")}


# ----------------------------------------------------------------------------- writing

HEADER = """\
# humc lockfile for {recipe} — assets proposed by an LLM and reviewed by a person.
#
# `humc synth` adds proposals (status: proposed); `humc review` records decisions
# (accepted / rejected). `humc build` uses only accepted items and never calls a model.
# You may edit an item's text by hand (then set `edited: true`); keep `id` unchanged:
# it identifies what was proposed, so a re-run of `humc synth` keeps your decision.
# `origin` says who wrote an item: llm (then `model` is the id the server reported, beside
# `recipe_model`, what the recipe asked for), human (a person) or unknown.
# `request` is the cache key of the LLM call that made the proposal; no API key is stored.
"""


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _item_dict(item: LockItem) -> dict[str, Any]:
    d: dict[str, Any] = {"id": item.id, "kind": item.kind, "entry": item.entry, "status": item.status}
    if item.edited:
        d["edited"] = True
    d["origin"] = item.origin
    for key in ("model", "recipe_model", "system_fingerprint"):
        if getattr(item, key):
            d[key] = getattr(item, key)
    if item.params:
        d["params"] = dict(item.params)
    if item.date:
        d["date"] = item.date
    if item.request:
        d["request"] = item.request
    if item.base is not None:
        d["base"] = item.base
    d["language"] = item.language
    if item.text or item.kind in ("template", "rule"):
        d["text"] = item.text
    if item.labels:
        d["labels"] = dict(item.labels)
    if item.when:
        d["when"] = item.when
    if item.then is not None:
        d["then"] = item.then
    if item.hard_negatives:
        d["hard_negatives"] = {k: list(v) for k, v in item.hard_negatives.items()}
    if item.examples:
        d["examples"] = {k: examples_dict(ex) for k, ex in item.examples.items()}
    return d


def examples_dict(ex: LabelExamples) -> dict[str, Any]:
    """A label's examples as plain YAML data (a negative with what it is instead as {text, label})."""
    d: dict[str, Any] = {}
    if ex.positive:
        d["positive"] = list(ex.positive)
    if ex.negative:
        d["negative"] = [{"text": t, "label": what} if what else t for t, what in ex.negative]
    return d


def dump_lock(lock: Lockfile, recipe_label: str | None = None) -> str:
    body = {"humc_lock": LOCK_VERSION, "recipe": lock.recipe_name, "items": [_item_dict(i) for i in lock.items]}
    text = yaml.dump(body, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100,
                     default_flow_style=False, indent=2)
    return HEADER.format(recipe=recipe_label or lock.recipe_name or lock.path.name) + text


@contextmanager
def editing_lock(path: Path, command: str, recipe_name: str = "") -> Iterator[Lockfile]:
    """The lockfile as it is on disk now (a new one when there is none), for a load -> change -> ``save_lock`` that no
    other humc process interleaves (``locks.folder_lock`` on the file): a review decision made while ``humc synth``
    waited for its model is kept when synth merges its proposals, and two reviews do not undo each other's."""
    path = Path(path)
    with folder_lock(path, what="lockfile", command=command):
        yield load_lock(path) if path.exists() else Lockfile(path, recipe_name, [])


def save_lock(lock: Lockfile) -> None:
    """Write the lockfile atomically (temp file in the same folder + os.replace); a refused write (a full disk, a
    read-only folder, a file-size limit) is E3002 and leaves the lockfile as it was."""
    path = Path(lock.path)
    text = dump_lock(lock)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    except OSError as exc:
        raise _unsaved(path, exc) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise _unsaved(path, exc) from None
        raise


def _unsaved(path: Path, exc: OSError) -> HumcError:
    return HumcError(f"cannot save the lockfile {path}: {exc.strerror or exc}", code="E3002",
                     expected="a writable folder with free space beside the recipe",
                     hint="free space or make the folder writable, then run the command again; the lockfile is as "
                          "it was")


# ----------------------------------------------------------------------------- using


def is_locked_asset(asset: Any) -> bool:
    """Whether a template / guideline / rule of an entry came from a lockfile."""
    if isinstance(asset, Template):
        return "~" in asset.id
    return str(getattr(asset, "id", "")).startswith("llm:")


def human_assets(entry: TaskEntry) -> TaskEntry:
    """The entry without lockfile-made assets (what `humc synth` builds its prompts from)."""
    return replace(entry, templates=tuple(t for t in entry.templates if not is_locked_asset(t)),
                   guidelines=tuple(g for g in entry.guidelines if not is_locked_asset(g)),
                   rules=tuple(r for r in entry.rules if not is_locked_asset(r)))


def rule_names(entry: TaskEntry, constants: Iterable[str] = ()) -> set[str]:
    """Names a rule's `when` may read: the mapped fields, the task inputs, constants, `answer` and the field a
    `generate:` step fills."""
    filled = {entry.generate.field} if entry.generate is not None and entry.generate.field else set()
    return {"answer", *(name for name, _ in entry.fields), *entry.task.inputs, *constants, *filled}


def _src(item: LockItem, key: str, text: str) -> Source:
    node = item.nodes.get(key)
    if node is not None and isinstance(node.value, str):
        return expr_source(node)
    return Source(text.strip())


def item_rule(item: LockItem, entry: TaskEntry, lock_path: Path | str = "",
              names: set[str] | None = None) -> PreferenceRule:
    """An accepted rule item as the entry's rule; ``names``: what its `when` may read (``rule_names``), checked."""
    when_src = _src(item, "when", item.when) if item.when else None
    then_src = _src(item, "then", item.then or "")
    try:
        when, ops = compile_rule(item.when, item.then or "", entry.task, names=names, when_src=when_src,
                                 then_src=then_src)
    except HumcError as exc:
        if exc.span is None:
            exc.span = item.span("then")
        exc.notes.append(f"in rule item '{item.id}' of {lock_path or 'the lockfile'}")
        raise
    text = {item.language: item.text} if item.text else {}
    payload = json.dumps([item.text, item.when, item.then], ensure_ascii=False)
    return PreferenceRule(id=f"llm:{item.id}", title=f"{_made(item, 'proposed')} rule {item.id}", text=text, when=when,
                          then=ops, tasks=(), digest=sha256(payload))


def _made(item: LockItem, verb: str) -> str:
    """How an asset's title says who made it ("LLM-drafted", "Hand-written", "Lockfile"): never a model it did not come from."""
    return {"llm": f"LLM-{verb}", "human": "Hand-written"}.get(item.origin, "Lockfile")


def item_guideline(item: LockItem) -> Guideline:
    if item.kind == "examples":
        examples = {k: examples_dict(ex) for k, ex in item.examples.items()}
        return Guideline(id=f"llm:{item.id}", title=f"{_made(item, 'proposed')} examples ({', '.join(item.examples)})",
                         text="", labels=(), language=item.language, tasks=(),
                         digest=sha256(json.dumps(["examples", examples], ensure_ascii=False, sort_keys=True)),
                         examples=tuple(item.examples.items()))
    payload = json.dumps([item.text, sorted(item.labels.items())], ensure_ascii=False)
    return Guideline(id=f"llm:{item.id}", title=f"{_made(item, 'drafted')} definitions ({', '.join(item.labels) or item.entry})",
                     text=item.text.strip(), labels=tuple(item.labels.items()), language=item.language,
                     tasks=(), digest=sha256(payload))


def merged_hard_negatives(entry: TaskEntry, items: Iterable[LockItem]) -> TaskEntry:
    """The entry with accepted hard-negative maps merged into `schema.hard_negatives`: a label the recipe (or an
    earlier item) already maps keeps its labels; only labels of the entry's label set are used."""
    schema = entry.schema
    if schema is None:
        return entry
    have = dict(schema.hard_negatives)
    known = set(schema.labels) if schema.labels is not None else None
    for item in items:
        for label, others in item.hard_negatives.items():
            kept = tuple(o for o in others if known is None or o in known)
            if label not in have and kept and (known is None or label in known):
                have[label] = kept
    if len(have) == len(schema.hard_negatives):
        return entry
    return replace(entry, schema=replace(schema, hard_negatives=tuple(have.items())))


def text_origin(item: LockItem, key: str = "text") -> Span | None:
    """Where the first line of an item's text is in the lockfile (the line after `text: |` for a block scalar)."""
    node = item.nodes.get(key)
    if node is None or not isinstance(node.value, str):
        return item.span(key)
    return nodes_text_origin(node)


def item_template(item: LockItem, entry: TaskEntry, lock_path: Path | str) -> Template:
    origin = text_origin(item)
    problem = template_problem(item.text, entry.task.inputs)
    if problem:
        raise problem.error(f"accepted template {item.id}", origin,
                            hint=None if problem.hint else "fix its text in the lockfile, or set its status to rejected")
    return Template(id=f"{item.base}~{item.id}", task=entry.task.id, language=item.language, text=item.text,
                    path=origin.file if origin else str(lock_path), digest=sha256(item.text),
                    line=origin.line if origin else 1, place=origin)


def check_lock_entries(lock: Lockfile, entries: Collection[str]) -> list[str]:
    """Accepted items whose `entry:` names no task entry of the recipe. One whose entry is close to a recipe's
    (``did_you_mean``: a typo made by hand) is E0008 at it, for its reviewed paraphrase or rule would silently leave
    the dataset; the others (an entry taken out of the recipe for now, or for good) are the notes returned."""
    unused: dict[str, list[str]] = {}
    for item in lock.items:
        if item.status != "accepted" or item.entry in entries:
            continue
        hint = did_you_mean(item.entry, entries)
        if hint is not None:
            where = item.nodes.get("entry")
            raise RecipeError(f"accepted {item.kind} {item.id} is for task entry '{item.entry}', which the recipe does "
                              "not have", where.span if where is not None else None, code="E0008",
                              expected="the id of a task entry: " + ", ".join(sorted(entries)), hint=hint)
        unused.setdefault(item.entry, []).append(item.id)
    return [f"{lock.path}: {len(ids)} accepted item(s) for task entry '{entry}', which the recipe does not have, are "
            f"not used ({', '.join(ids)})" for entry, ids in unused.items()]


def apply_lock(entry: TaskEntry, lock: Lockfile, constants: Iterable[str] = ()) -> TaskEntry:
    """The entry with the lockfile's accepted items for it added (its language only; a paraphrase, in the language
    of the templates the entry uses: en for a de or en-GB entry instructed in English).

    Paraphrases are added only for base templates the entry uses. Errors in accepted
    rules (a `when` reading a name that is not a field, an input, one of ``constants`` or `answer`, too) are
    RecipeErrors located in the lockfile; several are reported together.
    """
    instructions = {t.language for t in entry.templates}
    items = [i for i in lock.items if i.entry == entry.id and i.status == "accepted"
             and i.language in (instructions if i.kind == "template" else {entry.language})]
    if not items:
        return entry
    have_t = {t.id for t in entry.templates}
    have_g = {g.id for g in entry.guidelines}
    have_r = {r.id for r in entry.rules}
    templates, guidelines, rules = list(entry.templates), list(entry.guidelines), list(entry.rules)
    errors: list[HumcError] = []
    for item in items:
        if item.kind == "template":
            try:
                tpl = item_template(item, entry, lock.path)
            except HumcError as exc:
                errors.append(exc)
                continue
            if item.base in have_t and tpl.id not in have_t:
                templates.append(tpl)
                have_t.add(tpl.id)
        elif item.kind == "hard_negatives":
            continue  # merged below, after the entry's own assets
        elif item.kind in ("guideline", "examples"):
            g = item_guideline(item)
            if g.id not in have_g:
                guidelines.append(g)
                have_g.add(g.id)
        else:
            try:
                r = item_rule(item, entry, lock.path, rule_names(entry, constants))
            except HumcError as exc:
                errors.append(exc)
                continue
            if r.id not in have_r:
                rules.append(r)
                have_r.add(r.id)
    if errors:
        raise errors[0] if len(errors) == 1 else ErrorList(errors)
    entry = merged_hard_negatives(entry, (i for i in items if i.kind == "hard_negatives"))
    return replace(entry, templates=tuple(templates), guidelines=tuple(guidelines), rules=tuple(rules))


def locked_assets(entries: Iterable[TaskEntry], lock: Lockfile) -> tuple[LockedAsset, ...]:
    """Who wrote each accepted lockfile item the (lock-applied) entries use, in lockfile order."""
    entries = list(entries)
    used = {str(a.id) for e in entries for group in (e.templates, e.guidelines, e.rules) for a in group
            if is_locked_asset(a)}
    used |= {f"hn:{e.id}" for e in entries if e.schema is not None}
    out = []
    for item in lock.items:
        asset_id = {"template": f"{item.base}~{item.id}", "hard_negatives": f"hn:{item.entry}"}.get(item.kind,
                                                                                                     f"llm:{item.id}")
        if item.status == "accepted" and asset_id in used:
            out.append(LockedAsset(item.id, item.kind, item.entry, item.origin, item.model, item.recipe_model,
                                   item.edited, item.system_fingerprint, item.date, tuple(sorted(item.params.items()))))
    return tuple(out)
