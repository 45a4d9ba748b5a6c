"""`humc review`: a person accepts, edits or rejects the LLM's proposals in a lockfile.

Each decision is saved at once (atomically), so quitting — or a crash — loses nothing.
An edited template or rule is re-validated before it is accepted.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from humc.build.compiler import load_recipe
from humc.errors import HumcError
from humc.ir import Recipe, TaskEntry
from humc.recipe.lockfile import (
    KINDS,
    Lockfile,
    LockItem,
    editing_lock,
    examples_dict,
    human_assets,
    load_lock,
    lock_path_for,
    recipe_path_for,
    rule_names,
    save_lock,
)
from humc.recipe.rules import rule_problem
from humc.templating import syntax_problem


def proposer(item: LockItem) -> str:
    """Who proposed an item, for a reviewer: the model the server reported (and what the recipe asked for)."""
    if item.origin == "llm":
        return item.model + (f" (asked as {item.recipe_model})" if item.recipe_model else "")
    return "a person" if item.origin == "human" else "unknown" + (
        f" (the recipe named {item.recipe_model})" if item.recipe_model else "")


def _plain(text: str, **_style: Any) -> str:
    return text


@dataclass(frozen=True)
class Terminal:
    """How the review loop talks to a person; the CLI passes click's functions, tests pass scripts."""

    echo: Callable[..., Any]
    choose: Callable[[str, list[str], str], str]     # (question, choices, default) -> choice
    edit: Callable[[str], str | None]                # text -> edited text, or None for no change
    style: Callable[..., str] = _plain               # (text, bold=…, fg=…) -> text to echo


@dataclass
class ReviewSummary:
    accepted: int = 0
    rejected: int = 0
    edited: int = 0
    skipped: int = 0
    remaining: int = 0          # still proposed afterwards
    quit: bool = False
    warnings: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- context


@dataclass
class ReviewContext:
    """What the recipe tells about the items: their entries (for base templates, columns, names)."""

    entries: dict[str, TaskEntry] = field(default_factory=dict)
    constants: tuple[str, ...] = ()

    def entry(self, item: LockItem) -> TaskEntry | None:
        return self.entries.get(item.entry)

    def base_text(self, item: LockItem) -> str | None:
        entry = self.entry(item)
        if entry is None:
            return None
        tpl = next((t for t in entry.templates if t.id == item.base), None)
        return tpl.text if tpl is not None else None


def review_context(recipe: Recipe | None) -> ReviewContext:
    if recipe is None:
        return ReviewContext()
    return ReviewContext({e.id: human_assets(e) for e in recipe.tasks}, tuple(recipe.constants))


def resolve_paths(target: Path) -> tuple[Path, Path | None]:
    """RECIPE_OR_LOCK -> (lock path, recipe path or None)."""
    target = Path(target)
    if target.suffix == ".lock":
        return target, recipe_path_for(target)
    return lock_path_for(target), target


# ----------------------------------------------------------------------------- showing


def _show(item: LockItem, ctx: ReviewContext, index: int, total: int, term: Terminal) -> None:
    echo, style = term.echo, term.style
    head = f"[{index}/{total}] {item.kind} {item.id} for task entry '{item.entry}'"
    if item.base:
        head += f" — paraphrase of {item.base}"
    echo(style(head, bold=True))
    echo(f"  written by {proposer(item)}  (language: {item.language})")
    if item.kind == "template":
        base = ctx.base_text(item)
        if base is None:
            echo("  (base template not found in the recipe; showing the proposal only)")
            echo(_indent(item.text))
        else:
            echo("  --- base template / +++ proposal:")
            for line in difflib.unified_diff(base.strip().splitlines(), item.text.strip().splitlines(),
                                             f"{item.base}", "proposal", lineterm="", n=100):
                if line.startswith(("---", "+++", "@@")):
                    continue
                color = "green" if line.startswith("+") else "red" if line.startswith("-") else None
                echo("  " + (style(line, fg=color) if color else line))
    elif item.kind == "guideline":
        if item.text:
            echo(_indent(item.text))
        for label, text in item.labels.items():
            echo(f"    {label}: {text}")
    elif item.kind == "hard_negatives":
        for label, others in item.hard_negatives.items():
            echo(f"    {label} is confused with: {', '.join(others)}")
    elif item.kind == "examples":
        for label, ex in item.examples.items():
            echo(f"    {label}: " + ", ".join(f'"{t}"' for t in ex.positive)
                 + (("  not: " + ", ".join(f'"{t}"' for t, _ in ex.negative)) if ex.negative else ""))
    else:
        echo(f"    sentence: {item.text}")
        if item.when:
            echo(f"    when:     {item.when}")
        echo(f"    then:     {item.then}")


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.rstrip("\n").splitlines())


# ----------------------------------------------------------------------------- editing


def edit_text(item: LockItem) -> str:
    if item.kind == "template":
        return item.text
    if item.kind == "guideline":
        body: dict[str, Any] = {}
        if item.text:
            body["text"] = item.text
        body["labels"] = dict(item.labels)
        return "# Edit the label definitions (YAML). Lines starting with # are ignored.\n" + \
            yaml.safe_dump(body, allow_unicode=True, sort_keys=False, width=100)
    if item.kind == "hard_negatives":
        return ("# Edit the confusable labels (YAML): label -> [labels shown with it]. Lines starting with # are ignored.\n"
                + yaml.safe_dump({"hard_negatives": item.hard_negatives}, allow_unicode=True, sort_keys=False, width=100))
    if item.kind == "examples":
        return ("# Edit the examples (YAML): per label, texts that are it (positive) and look-alikes that are not\n"
                "# (negative: a text, or {text: ..., label: what it is}). Lines starting with # are ignored.\n"
                + yaml.safe_dump({"examples": {k: examples_dict(ex) for k, ex in item.examples.items()}},
                                 allow_unicode=True, sort_keys=False, width=100))
    body = {"text": item.text, "when": item.when or "", "then": item.then or ""}
    return ("# Edit the rule (YAML): the sentence shown to the model, an optional condition,\n"
            "# and answer operations joined by ' | '. Lines starting with # are ignored.\n"
            + yaml.safe_dump(body, allow_unicode=True, sort_keys=False, width=100))


def apply_edit(item: LockItem, new: str, ctx: ReviewContext) -> LockItem:
    """A copy of ``item`` with the edited content; HumcError when the edit is invalid."""
    from dataclasses import replace

    from humc.assets.synth import check_paraphrase, check_rule

    entry = ctx.entry(item)
    if item.kind == "template":
        text = new.strip() + "\n"
        base = ctx.base_text(item)
        if base is not None and entry is not None:
            reason = check_paraphrase(base, text, entry.task, layouts=False)
            if reason is not None and reason != "identical to the original template":
                raise HumcError(f"the edited template {reason}")
        else:
            problem = syntax_problem(text)
            if problem is not None:
                what = "is unsafe" if problem.code == "E2012" else "is not valid Jinja2"
                raise HumcError(f"the edited template {what} (line {problem.line}: {problem.message})",
                                code=problem.code, hint=problem.hint)
        return replace(item, text=text, edited=True)
    try:
        data = yaml.safe_load(new)
    except yaml.YAMLError as exc:
        raise HumcError(f"the edit is not valid YAML: {exc}") from None
    except (LookupError, AttributeError, ValueError):  # PyYAML's constructor on a malformed tagged value (`!!float x`)
        raise HumcError("the edit is not valid YAML: a value its tag cannot read (`!!bool x`, `!!timestamp x`)") from None
    if not isinstance(data, dict):
        raise HumcError("the edit must be a YAML mapping", code="E0008")
    if item.kind == "guideline":
        labels = data.get("labels") or {}
        text = data.get("text") or ""
        if not isinstance(labels, dict) or not all(isinstance(v, str) and v.strip() for v in labels.values()):
            raise HumcError("`labels:` must map each label to a non-empty definition", code="E0008")
        if not isinstance(text, str):
            raise HumcError("`text:` must be a string", code="E0008")
        if not labels and not text.strip():
            raise HumcError("a guideline needs `labels:` or `text:`", code="E0006")
        return replace(item, labels={str(k): v.strip() for k, v in labels.items()}, text=text.strip(), edited=True)
    if item.kind in ("hard_negatives", "examples"):
        return _edit_label_item(item, data, entry)
    sentence, then, when = data.get("text"), data.get("then"), data.get("when") or None
    if entry is not None:
        reason = check_rule(entry, sentence, then, when, rule_names(entry, ctx.constants))
    else:
        reason = rule_problem(sentence, then, when)
    if reason is not None or not isinstance(sentence, str) or not isinstance(then, str):
        raise HumcError(f"the edited rule is invalid: {reason or 'text and then must be strings'}")
    return replace(item, text=sentence.strip(), then=then.strip(), when=when.strip() if when else None, edited=True)


def _edit_label_item(item: LockItem, data: dict[str, Any], entry: TaskEntry | None) -> LockItem:
    """An edited hard-negative map or examples item, checked as `humc synth` checks a proposal (against the
    entry's labels when the recipe is known) and as the lockfile loader does."""
    from dataclasses import replace

    from humc.assets.synth import check_examples, check_hard_negatives

    labels = list(entry.schema.labels or ()) if entry is not None and entry.schema is not None else None
    value = data.get(item.kind)
    if not isinstance(value, dict) or not value:
        raise HumcError(f"the edit needs a non-empty `{item.kind}:` mapping", code="E0008")
    if item.kind == "hard_negatives":
        kept, bad = check_hard_negatives(value, labels if labels is not None else
                                         sorted({str(k) for k in value} | {str(o) for v in value.values()
                                                                           if isinstance(v, list) for o in v}))
        if bad or not kept:
            raise HumcError("the edited hard negatives are invalid: " + ("; ".join(bad) or "every list is empty"),
                            code="E0008")
        return replace(item, hard_negatives=kept, edited=True)
    plain = {k: {"positive": v.get("positive") or [],
                 "negative": [n.get("text") if isinstance(n, dict) else n for n in v.get("negative") or []]}
             if isinstance(v, dict) else v for k, v in value.items()}
    kept_ex, bad = check_examples(plain, labels if labels is not None else [str(k) for k in value])
    if bad or not kept_ex:
        raise HumcError("the edited examples are invalid: " + ("; ".join(bad) or "no example"), code="E0008")
    for label, ex in kept_ex.items():  # keep what a negative is instead, when the edit says it
        said = {n["text"]: str(n.get("label") or "") for n in value[label].get("negative") or []
                if isinstance(n, dict) and isinstance(n.get("text"), str)}
        kept_ex[label] = replace(ex, negative=tuple((t, said.get(t, "")) for t, _ in ex.negative))
    return replace(item, examples=kept_ex, edited=True)


# ----------------------------------------------------------------------------- the loop


def _record(lock_path: Path, decided: LockItem) -> None:
    """Save one decision into the lockfile as it is on disk now, so that changes made meanwhile
    (another review, a new `humc synth`) are kept."""
    with editing_lock(lock_path, "humc review") as fresh:
        ids = [i.id for i in fresh.items]
        if decided.id in ids:
            fresh.items[ids.index(decided.id)] = decided
        else:
            fresh.items.append(decided)
        save_lock(fresh)


def review(lock_path: Path, *, accept_all: bool = False, reject_all: bool = False, only_kind: str | None = None,
           recipe: Recipe | None = None, term: Terminal | None = None) -> ReviewSummary:
    """Decide on every proposed item of the lockfile (interactive unless accept_all / reject_all)."""
    if accept_all and reject_all:
        raise HumcError("--accept-all and --reject-all exclude each other", code="E0008")
    if only_kind is not None and only_kind not in KINDS:
        raise HumcError(f"unknown kind '{only_kind}'", expected="one of: " + ", ".join(KINDS))
    lock_path = Path(lock_path)
    if not lock_path.exists():
        raise HumcError(f"no lockfile {lock_path}", hint="run `humc synth RECIPE` first to get proposals")
    lock = load_lock(lock_path)
    ctx = review_context(recipe)
    summary = ReviewSummary()
    pending = [i for i in lock.items if i.status == "proposed" and (only_kind is None or i.kind == only_kind)]
    if accept_all or reject_all:
        status = "accepted" if accept_all else "rejected"
        if pending:  # nothing to decide: nothing is written (nor locked), also in a read-only folder
            with editing_lock(lock_path, "humc review") as fresh:  # the items as saved now, a synth's new ones too
                pending = [i for i in fresh.items if i.status == "proposed" and (only_kind is None or i.kind == only_kind)]
                for item in pending:
                    item.status = status
                if pending:
                    save_lock(fresh)
        summary.accepted = len(pending) if accept_all else 0
        summary.rejected = len(pending) if reject_all else 0
    else:
        if term is None:
            raise HumcError("interactive review needs a terminal", hint="use --accept-all or --reject-all")
        echo = term.echo
        for n, item in enumerate(pending, 1):
            _show(item, ctx, n, len(pending), term)
            while True:
                choice = term.choose("[a]ccept / [e]dit / [r]eject / [s]kip / [q]uit", ["a", "e", "r", "s", "q"], "s")
                if choice in ("a", "r"):
                    item.status = "accepted" if choice == "a" else "rejected"
                    _record(lock_path, item)
                    if choice == "a":
                        summary.accepted += 1
                    else:
                        summary.rejected += 1
                    break
                if choice == "s":
                    summary.skipped += 1
                    break
                if choice == "q":
                    summary.quit = True
                    break
                new = term.edit(edit_text(item))
                if new is None:
                    echo("  (no change; choose again)")
                    continue
                try:
                    edited = apply_edit(item, new, ctx)
                except HumcError as exc:
                    echo(term.style(f"  invalid edit: {exc.message}", fg="red"))
                    continue
                edited.status = "accepted"
                _record(lock_path, edited)
                summary.accepted += 1
                summary.edited += 1
                echo("  edited and accepted")
                break
            if summary.quit:
                break
    summary.remaining = load_lock(lock_path).count("proposed")  # as saved, including others' changes
    return summary


def list_items(lock: Lockfile, only_kind: str | None = None) -> str:
    rows = [("id", "kind", "entry", "status", "base", "proposal")]
    shown = [item for item in lock.items if only_kind is None or item.kind == only_kind]
    for item in shown:
        status = item.status + (" (edited)" if item.edited else "")
        rows.append((item.id, item.kind, item.entry, status, item.base or "-", item.summary(60)))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:5], widths, strict=True)) + "  " + r[5] for r in rows]
    counts = ", ".join(f"{sum(i.status == s for i in shown)} {s}" for s in ("proposed", "accepted", "rejected"))
    what = "item(s)" if only_kind is None else f"{only_kind} item(s) (of {len(lock.items)} in the lockfile)"
    return "\n".join(lines) + f"\n{len(shown)} {what}: {counts}"


def load_context_recipe(recipe_path: Path | None, warn: Callable[[str], Any]) -> Recipe | None:
    """The recipe a lockfile belongs to, for showing and checking edits; None (with a warning) if it cannot load."""
    if recipe_path is None or not recipe_path.exists():
        return None
    try:
        return load_recipe(recipe_path)
    except HumcError as exc:
        first = exc.render().splitlines()[0]
        warn(f"warning: cannot load {recipe_path} ({first}); edits are checked without the recipe")
        return None
