"""`humc stdlib`: list the standard library."""

from __future__ import annotations

import click
from rich.console import Console

from humc.recipe.stdlib import load_stdlib

KINDS = ["tasks", "templates", "guidelines", "rules", "variants"]


@click.command("stdlib")
@click.argument("kind", required=False, type=click.Choice(KINDS))
def stdlib_cmd(kind: str | None) -> None:
    """List the standard library's tasks, templates, guidelines, rules and format variants."""
    out = Console(highlight=False, soft_wrap=True)
    lib = load_stdlib()
    for k in [kind] if kind else KINDS:
        out.print(f"[bold]{k}[/]")
        if k == "tasks":
            for t in lib.tasks.values():
                out.print(f"  {t.id:<28} {t.family:<15} columns: {', '.join(t.columns)}")
        elif k == "templates":
            for task, tpls in sorted(lib.templates.items()):
                out.print(f"  {task:<28} {', '.join(sorted(tpls))}")
        elif k == "guidelines":
            for g in lib.guidelines.values():
                out.print(f"  {g.id:<28} {g.language}  {g.title}")
        elif k == "rules":
            for r in lib.rules.values():
                out.print(f"  {r.id:<28} {r.title}")
        else:
            for v in lib.variants.values():
                out.print(f"  {v.id:<28} codec: {v.spec.codec}")
