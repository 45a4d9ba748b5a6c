"""`humc review`: accept, edit or reject proposals in the terminal or a local web page."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from humc.assets.review import Terminal, list_items, load_context_recipe, resolve_paths, review
from humc.assets.web import serve
from humc.cli.params import NamedPath, format_opt
from humc.errors import HumcError
from humc.recipe.lockfile import KINDS, load_lock


def _warn(message: str) -> None:
    click.echo(message, err=True)


_NO_TERMINAL_HINT = ("review in a terminal, or decide without one: --accept-all / --reject-all (with --kind), or --web; "
                     "the decisions made so far are saved")


def _choose(question: str, choices: list[str], default: str) -> str:
    """The reviewer's answer. A closed or exhausted standard input (`humc review R <&-`, `< /dev/null`, a script's
    answers run out) is E9001, not an internal error or a Ctrl-C's exit 130."""
    if sys.stdin is None or sys.stdin.closed:
        raise HumcError("humc review asks its questions on standard input, which is closed", code="E9001",
                        expected="a terminal to answer in", hint=_NO_TERMINAL_HINT)
    try:
        return str(click.prompt(question, type=click.Choice(choices), show_choices=False, default=default))
    except click.Abort as exc:
        if isinstance(exc.__context__, EOFError):  # click raises Abort from None for Ctrl-C and end of input alike
            raise HumcError("standard input ended before the review did", code="E9001",
                            expected="an answer to each question", hint=_NO_TERMINAL_HINT) from None
        raise


def click_terminal() -> Terminal:
    return Terminal(echo=click.echo, style=click.style, edit=lambda text: click.edit(text, extension=".txt"),
                    choose=_choose)


@click.command("review")
@click.argument("target", metavar="RECIPE_OR_LOCK", type=NamedPath(dir_okay=False))
@click.option("--accept-all", is_flag=True, help="Accept every proposed item (of --kind) without asking.")
@click.option("--reject-all", is_flag=True, help="Reject every proposed item (of --kind) without asking.")
@click.option("--list", "list_only", is_flag=True, help="Print the lockfile's items and their status.")
@click.option("--kind", "only_kind", type=click.Choice(list(KINDS)), help="Only items of this kind.")
@click.option("--web", is_flag=True, help="Review in a local web page (127.0.0.1 only) instead of the terminal.")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port of the --web page (default: any free port).")
@click.option("--open", "open_browser", is_flag=True, help="With --web: open the page in a browser.")
@format_opt
def review_cmd(target: Path, accept_all: bool, reject_all: bool, list_only: bool, only_kind: str | None,
               web: bool, port: int | None, open_browser: bool) -> None:
    """Accept, edit or reject the LLM proposals of a recipe's lockfile (written by `humc synth`).

    Every decision is saved immediately; `q` quits and a later run resumes with what is left.
    With --web the same is done in a local web page; Ctrl-C stops it.
    """
    lock_path, recipe_path = resolve_paths(target)
    if not web and (port is not None or open_browser):
        raise HumcError("--port and --open need --web", code="E0008")
    if web and (accept_all or reject_all or list_only):
        raise HumcError("--web excludes --accept-all, --reject-all and --list", code="E0008")
    if list_only and (accept_all or reject_all):  # a decision asked for and silently not made would look made
        raise HumcError("--list excludes --accept-all and --reject-all", code="E0008",
                        hint="run `humc review RECIPE --accept-all` (or --reject-all), then --list; nothing was changed")
    if not lock_path.exists():  # the recipe named, and why a recipe may have none
        raise HumcError(f"no lockfile {lock_path}", hint=f"run `humc synth {recipe_path or 'RECIPE'}` first to get "
                        "proposals; it writes the lockfile only when a task entry has a `synth:` spec, e.g. "
                        "`synth: {model: writer, paraphrases: 2}` (docs/llm.md, \"The synth spec\")")
    if web:
        _serve_web(lock_path, recipe_path, only_kind, port or 0, open_browser)
        return
    if list_only:
        click.echo(list_items(load_lock(lock_path), only_kind))
        return
    recipe = None if (accept_all or reject_all) else load_context_recipe(recipe_path, _warn)
    s = review(lock_path, accept_all=accept_all, reject_all=reject_all, only_kind=only_kind, recipe=recipe,
               term=click_terminal())
    parts = [f"{s.accepted} accepted" + (f" ({s.edited} edited)" if s.edited else ""), f"{s.rejected} rejected"]
    if s.skipped:
        parts.append(f"{s.skipped} skipped")
    click.echo(f"{lock_path}: {', '.join(parts)}; {s.remaining} proposal(s) still awaiting review")


def _serve_web(lock_path: Path, recipe_path: Path | None, only_kind: str | None, port: int, open_browser: bool) -> None:
    recipe = load_context_recipe(recipe_path, _warn)
    app = serve(lock_path, recipe, port=port, open_browser=open_browser, initial_kind=only_kind, echo=click.echo)
    lock = load_lock(lock_path)
    counts = ", ".join(f"{lock.count(s)} {s}" for s in ("proposed", "accepted", "rejected"))
    click.echo(f"\nreview saved: {lock_path}: {app.decisions} decision(s) this session; {counts}")
