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

import click
import yaml

from humc.errors import HumcError
from humc.ir import Recipe, TaskEntry
from humc.recipe.lockfile import KINDS, Lockfile, LockItem, human_assets, load_lock, lock_path_for, recipe_path_for, rule_names, save_lock


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
class _Context:
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


def _context(recipe: Recipe | None) -> _Context:
    if recipe is None:
        return _Context()
    return _Context({e.id: human_assets(e) for e in recipe.tasks}, tuple(recipe.constants))


def resolve_paths(target: Path) -> tuple[Path, Path | None]:
    """RECIPE_OR_LOCK -> (lock path, recipe path or None)."""
    target = Path(target)
    if target.suffix == ".lock":
        return target, recipe_path_for(target)
    return lock_path_for(target), target


# ----------------------------------------------------------------------------- showing


def _show(item: LockItem, ctx: _Context, index: int, total: int, echo: Callable[..., Any]) -> None:
    head = f"[{index}/{total}] {item.kind} {item.id} for task entry '{item.entry}'"
    if item.base:
        head += f" — paraphrase of {item.base}"
    echo(click.style(head, bold=True))
    echo(f"  proposed by {item.model or '?'}  (language: {item.language})")
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
                echo("  " + (click.style(line, fg=color) if color else line))
    elif item.kind == "guideline":
        if item.text:
            echo(_indent(item.text))
        for label, text in item.labels.items():
            echo(f"    {label}: {text}")
    else:
        echo(f"    sentence: {item.text}")
        if item.when:
            echo(f"    when:     {item.when}")
        echo(f"    then:     {item.then}")


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.rstrip("\n").splitlines())


# ----------------------------------------------------------------------------- editing


def _edit_text(item: LockItem) -> str:
    if item.kind == "template":
        return item.text
    if item.kind == "guideline":
        body: dict[str, Any] = {}
        if item.text:
            body["text"] = item.text
        body["labels"] = dict(item.labels)
        return "# Edit the label definitions (YAML). Lines starting with # are ignored.\n" + \
            yaml.safe_dump(body, allow_unicode=True, sort_keys=False, width=100)
    body = {"text": item.text, "when": item.when or "", "then": item.then or ""}
    return ("# Edit the rule (YAML): the sentence shown to the model, an optional condition,\n"
            "# and answer operations joined by ' | '. Lines starting with # are ignored.\n"
            + yaml.safe_dump(body, allow_unicode=True, sort_keys=False, width=100))


def apply_edit(item: LockItem, new: str, ctx: _Context) -> LockItem:
    """A copy of ``item`` with the edited content; HumcError when the edit is invalid."""
    from dataclasses import replace

    from humc.assets.synth import check_paraphrase, check_rule

    entry = ctx.entry(item)
    if item.kind == "template":
        text = new.strip() + "\n"
        base = ctx.base_text(item)
        if base is not None and entry is not None:
            reason = check_paraphrase(base, text, entry.task)
            if reason is not None and reason != "identical to the original template":
                raise HumcError(f"the edited template {reason}")
        else:
            import jinja2

            from humc.assets.synth import _env
            try:
                _env().parse(text)
            except jinja2.TemplateSyntaxError as exc:
                raise HumcError(f"the edited template is not valid Jinja2 (line {exc.lineno}: {exc.message})") \
                    from None
        return replace(item, text=text, edited=True)
    try:
        data = yaml.safe_load(new)
    except yaml.YAMLError as exc:
        raise HumcError(f"the edit is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise HumcError("the edit must be a YAML mapping")
    if item.kind == "guideline":
        labels = data.get("labels") or {}
        text = data.get("text") or ""
        if not isinstance(labels, dict) or not all(isinstance(v, str) and v.strip() for v in labels.values()):
            raise HumcError("`labels:` must map each label to a non-empty definition")
        if not isinstance(text, str):
            raise HumcError("`text:` must be a string")
        if not labels and not text.strip():
            raise HumcError("a guideline needs `labels:` or `text:`")
        return replace(item, labels={str(k): v.strip() for k, v in labels.items()}, text=text.strip(), edited=True)
    text, then, when = data.get("text"), data.get("then"), data.get("when") or None
    if entry is not None:
        reason = check_rule(entry, text, then, when, rule_names(entry, ctx.constants))
    else:
        reason = _check_rule_alone(text, then, when)
    if reason is not None:
        raise HumcError(f"the edited rule is invalid: {reason}")
    return replace(item, text=text.strip(), then=then.strip(), when=when.strip() if when else None, edited=True)


def _check_rule_alone(text: Any, then: Any, when: Any) -> str | None:
    from humc.expr import Source, check_functions, parse_expr, parse_pipeline
    from humc.recipe.stdlib import compile_ops

    if not isinstance(text, str) or not text.strip():
        return "`text` must be a non-empty sentence"
    if not isinstance(then, str) or not then.strip():
        return "`then` must be answer operations"
    try:
        if when:
            src = Source(str(when))
            check_functions(parse_expr(src.text, src), src)
        src = Source(then.strip())
        compile_ops(parse_pipeline(src.text, src), src)
    except HumcError as exc:
        return exc.message
    return None


# ----------------------------------------------------------------------------- the loop


def _record(lock_path: Path, decided: LockItem) -> None:
    """Save one decision into the lockfile as it is on disk now, so that changes made meanwhile
    (another review, a new `humc synth`) are kept."""
    fresh = load_lock(lock_path)
    ids = [i.id for i in fresh.items]
    if decided.id in ids:
        fresh.items[ids.index(decided.id)] = decided
    else:
        fresh.items.append(decided)
    save_lock(fresh)


def review(lock_path: Path, *, accept_all: bool = False, reject_all: bool = False, only_kind: str | None = None,
           recipe: Recipe | None = None, prompt: Callable[..., Any] | None = None,
           edit: Callable[[str], str | None] | None = None, echo: Callable[..., Any] = click.echo) -> ReviewSummary:
    """Decide on every proposed item of the lockfile (interactive unless accept_all / reject_all)."""
    if accept_all and reject_all:
        raise HumcError("--accept-all and --reject-all exclude each other")
    if only_kind is not None and only_kind not in KINDS:
        raise HumcError(f"unknown kind '{only_kind}'", expected="one of: " + ", ".join(KINDS))
    lock_path = Path(lock_path)
    if not lock_path.exists():
        raise HumcError(f"no lockfile {lock_path}", hint="run `humc synth RECIPE` first to get proposals")
    lock = load_lock(lock_path)
    ctx = _context(recipe)
    prompt = prompt or click.prompt
    edit = edit or (lambda text: click.edit(text, extension=".txt"))
    summary = ReviewSummary()
    pending = [i for i in lock.items if i.status == "proposed" and (only_kind is None or i.kind == only_kind)]
    if accept_all or reject_all:
        status = "accepted" if accept_all else "rejected"
        for item in pending:
            item.status = status
        if pending:
            save_lock(lock)
        summary.accepted = len(pending) if accept_all else 0
        summary.rejected = len(pending) if reject_all else 0
    else:
        for n, item in enumerate(pending, 1):
            _show(item, ctx, n, len(pending), echo)
            while True:
                choice = prompt("[a]ccept / [e]dit / [r]eject / [s]kip / [q]uit",
                                type=click.Choice(["a", "e", "r", "s", "q"]), show_choices=False, default="s")
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
                new = edit(_edit_text(item))
                if new is None:
                    echo("  (no change; choose again)")
                    continue
                try:
                    edited = apply_edit(item, new, ctx)
                except HumcError as exc:
                    echo(click.style(f"  invalid edit: {exc.message}", fg="red"))
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
    for item in lock.items:
        if only_kind is not None and item.kind != only_kind:
            continue
        status = item.status + (" (edited)" if item.edited else "")
        rows.append((item.id, item.kind, item.entry, status, item.base or "-", item.summary(60)))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:5], widths, strict=True)) + "  " + r[5] for r in rows]
    counts = ", ".join(f"{lock.count(s)} {s}" for s in ("proposed", "accepted", "rejected"))
    return "\n".join(lines) + f"\n{len(rows) - 1} item(s): {counts}"


# ----------------------------------------------------------------------------- CLI


def _load_context_recipe(recipe_path: Path | None, echo: Callable[..., Any]) -> Recipe | None:
    if recipe_path is None or not recipe_path.exists():
        return None
    from humc.assets.synth import load_recipe

    try:
        return load_recipe(recipe_path)
    except HumcError as exc:
        first = exc.render().splitlines()[0]
        echo(f"warning: cannot load {recipe_path} ({first}); edits are checked without the recipe", err=True)
        return None


def make_review_command(reports_errors: Callable[[Callable[..., Any]], Callable[..., Any]]) -> click.Command:
    @click.command("review")
    @click.argument("target", metavar="RECIPE_OR_LOCK", type=click.Path(path_type=Path, dir_okay=False))
    @click.option("--accept-all", is_flag=True, help="Accept every proposed item (of --kind) without asking.")
    @click.option("--reject-all", is_flag=True, help="Reject every proposed item (of --kind) without asking.")
    @click.option("--list", "list_only", is_flag=True, help="Print the lockfile's items and their status.")
    @click.option("--kind", "only_kind", type=click.Choice(list(KINDS)), help="Only items of this kind.")
    @click.option("--web", is_flag=True, help="Review in a local web page (127.0.0.1 only) instead of the terminal.")
    @click.option("--port", type=click.IntRange(0, 65535), default=None,
                  help="Port of the --web page (default: any free port).")
    @click.option("--open", "open_browser", is_flag=True, help="With --web: open the page in a browser.")
    @reports_errors
    def review_cmd(target: Path, accept_all: bool, reject_all: bool, list_only: bool, only_kind: str | None,
                   web: bool, port: int | None, open_browser: bool) -> None:
        """Accept, edit or reject the LLM proposals of a recipe's lockfile (written by `humc synth`).

        Every decision is saved immediately; `q` quits and a later run resumes with what is left.
        With --web the same is done in a local web page; Ctrl-C stops it.
        """
        lock_path, recipe_path = resolve_paths(target)
        if not web and (port is not None or open_browser):
            raise HumcError("--port and --open need --web")
        if web:
            if accept_all or reject_all or list_only:
                raise HumcError("--web excludes --accept-all, --reject-all and --list")
            _serve_web(lock_path, recipe_path, only_kind, port or 0, open_browser)
            return
        if list_only:
            if not lock_path.exists():
                raise HumcError(f"no lockfile {lock_path}", hint="run `humc synth RECIPE` first")
            click.echo(list_items(load_lock(lock_path), only_kind))
            return
        recipe = None if (accept_all or reject_all) else _load_context_recipe(recipe_path, click.echo)
        s = review(lock_path, accept_all=accept_all, reject_all=reject_all, only_kind=only_kind, recipe=recipe)
        parts = [f"{s.accepted} accepted" + (f" ({s.edited} edited)" if s.edited else ""), f"{s.rejected} rejected"]
        if s.skipped:
            parts.append(f"{s.skipped} skipped")
        click.echo(f"{lock_path}: {', '.join(parts)}; {s.remaining} proposal(s) still awaiting review")

    return review_cmd


def _serve_web(lock_path: Path, recipe_path: Path | None, only_kind: str | None, port: int,
               open_browser: bool) -> None:
    from humc.assets.web import serve

    if not lock_path.exists():
        raise HumcError(f"no lockfile {lock_path}", hint="run `humc synth RECIPE` first to get proposals")
    recipe = _load_context_recipe(recipe_path, click.echo)
    app = serve(lock_path, recipe, port=port, open_browser=open_browser, initial_kind=only_kind)
    lock = load_lock(lock_path)
    counts = ", ".join(f"{lock.count(s)} {s}" for s in ("proposed", "accepted", "rejected"))
    click.echo(f"\nreview saved: {lock_path}: {app.decisions} decision(s) this session; {counts}")


__all__ = ["ReviewSummary", "apply_edit", "list_items", "make_review_command", "resolve_paths", "review"]
