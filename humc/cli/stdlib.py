"""`humc stdlib`: list the standard library; `humc stdlib KIND [NAME]` lists one kind or shows one item's file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console

from humc.cli import FORMAT_KEY, RESULT_KEY
from humc.cli.params import NamedPath, OutConsole, format_opt
from humc.errors import HumcError, did_you_mean
from humc.recipe.catalog import options_text
from humc.recipe.stdlib import Stdlib, load_stdlib

KINDS = ["tasks", "templates", "guidelines", "rules", "variants", "catalog"]
SHOWN = ("title", "description", "task", "language", "format", "options", "license", "homepage", "hub", "files",
         "labels", "guidelines", "preferences", "split_by", "roles_file", "fields", "path")


@click.command("stdlib")
@click.argument("kind", required=False, type=click.Choice(KINDS))
@click.argument("name", required=False)
@click.option("--stdlib", "extra", multiple=True, type=NamedPath(file_okay=False, exists=True),
              help="Also list an added stdlib folder (as a recipe's `stdlib:` names it); repeatable.")
@format_opt
@click.pass_context
def stdlib_cmd(ctx: click.Context, kind: str | None, name: str | None, extra: tuple[Path, ...]) -> None:
    """List the standard library's tasks, templates, guidelines, rules, format variants and dataset catalog.

    `humc stdlib catalog NAME` shows one dataset adapter, `humc stdlib KIND NAME` the file of one template (all of a
    task's: `templates ner`), guideline, rule, format variant or task — a start for your own in a `stdlib:` folder. With
    --format json the listing is part of the JSON verdict."""
    lib = load_stdlib(extra)
    if name is not None and kind is None:
        raise HumcError(f"`humc stdlib` takes a kind before a NAME (got {name!r})", code="E9001",
                        expected="humc stdlib KIND NAME, KIND one of: " + ", ".join(KINDS))
    if ctx.meta.get(FORMAT_KEY) == "json":
        ctx.meta[RESULT_KEY] = {"stdlib": _data(lib, kind, name)}
        return
    out = OutConsole()
    if kind == "catalog" and name is not None:
        _show_entry(out, lib, name)
        return
    if kind is not None and name is not None:
        for path, text in _files(lib, kind, name):
            out.print(f"[bold]# {path}[/]")
            out.print(text.rstrip("\n"), markup=False, highlight=False)
        return
    for k in [kind] if kind else KINDS:
        out.print(f"[bold]{k}[/]")
        for line in _lines(lib, k):
            out.print("  " + line, markup=False)


def _lines(lib: Stdlib, kind: str) -> list[str]:
    if kind == "tasks":
        return [f"{t.id:<28} {t.family:<15} columns: {', '.join(t.columns)}" for t in lib.tasks.values()]
    if kind == "templates":
        return [f"{task:<28} {', '.join(sorted(tpls))}" for task, tpls in sorted(lib.templates.items())]
    if kind == "guidelines":
        return [f"{g.id:<28} {g.language}  {g.title}" for g in lib.guidelines.values()]
    if kind == "rules":
        return [f"{r.id:<28} {r.title}" + (f"  (codecs: {', '.join(r.codecs)})" if r.codecs else "")
                for r in lib.rules.values()]
    if kind == "variants":
        return [f"{v.id:<28} codec: {v.spec.codec}" for v in lib.variants.values()]
    return [f"{e.id:<22} {e.task:<26} {e.format:<12} {e.license[:28]:<28}  {e.description}"
            for e in sorted(lib.catalog.values(), key=lambda e: e.id)]


def _entry(lib: Stdlib, name: str) -> dict[str, Any]:
    entry = lib.catalog.get(name)
    if entry is None:
        raise HumcError(f"unknown catalog dataset '{name}'", code="E2015", expected="one of: " + ", ".join(sorted(lib.catalog)),
                        hint=did_you_mean(name, lib.catalog))
    return entry.summary()


def _show_entry(out: Console, lib: Stdlib, name: str) -> None:
    data = _entry(lib, name)
    out.print(f"[bold]{data['id']}[/]", markup=True)
    for key in SHOWN:
        value = data[key]
        if key == "fields":
            out.print("  fields:", markup=False)
            for field, expr in value.items():
                out.print(f"    {field}: {expr}", markup=False)
        elif value not in ("", [], {}):
            shown = ", ".join(map(str, value)) if isinstance(value, list) else value
            out.print(f"  {key + ':':<13} {shown}", markup=False)
    _show_hub_layout(out, data)
    out.print(f"  use:          sources: {{my_data: {{catalog: {data['id']}, path: …}}}}", markup=False)


RECORD_COPIES = "none; a Parquet file or save_to_disk folder of these records is read with the fields above"


def _show_hub_layout(out: Console, data: dict[str, Any]) -> None:
    """How the adapter reads its dataset's Hub version (`dataset:`, the Parquet export, a save_to_disk folder)."""
    layout = data["hub_layout"]
    if layout is None:
        out.print("  Hub version:  " + (RECORD_COPIES if data["reads_record_copies"] else
                                        "not read (E2016): point `path:` at the published files"), markup=False)
        return
    fields = layout.get("fields") or {}
    out.print("  Hub version:  " + ("fields over the ones above (ClassLabels read as names):" if fields else
                                    "the same fields (ClassLabels read as names)"), markup=False)
    for field, expr in fields.items():
        out.print(f"    {field}: {expr}", markup=False)
    # hub_layout keys beside `fields:`, shown apart: C3 has a field named `options`
    if "where" in layout:
        out.print(f"  Hub where:    {layout['where']}", markup=False)
    if "options" in layout:
        out.print(f"  Hub options:  {options_text(layout['options'])}", markup=False)


def _files(lib: Stdlib, kind: str, name: str) -> list[tuple[Path, str]]:
    """The file of the stdlib item ``name`` of ``kind`` (every template of a task, for a task's name), with its text."""
    ids = sorted(i for k, i in lib.files if k == kind)
    chosen = [i for i in ids if i == name or (kind == "templates" and i.startswith(f"{name}/"))]
    if not chosen:
        # a template is asked for by its task (`templates ner`) or as task/id: name the tasks, not 100 files
        by_task = kind == "templates" and "/" not in name
        names = sorted({i.split("/", 1)[0] for i in ids}) if by_task else ids
        if kind == "templates" and not by_task:  # task/id: that task's templates, when the task is right
            names = [i for i in ids if i.startswith(name.split("/", 1)[0] + "/")] or ids
        what = f"task '{name}' with templates" if by_task else f"{kind[:-1]} '{name}'"
        raise HumcError(f"no {what} in the stdlib", code="E9001",
                        expected=("a task (`templates ner`) or one of its templates (`templates TASK/ID`); the tasks: " if by_task
                                  else "one of: ") + ", ".join(names),
                        hint=did_you_mean(name, names))
    return [(lib.files[kind, i], lib.files[kind, i].read_text(encoding="utf-8")) for i in chosen]


def _data(lib: Stdlib, kind: str | None, name: str | None) -> Any:
    if kind == "catalog" and name is not None:
        return _entry(lib, name)
    if kind is not None and name is not None:
        return [{"path": str(path), "text": text} for path, text in _files(lib, kind, name)]
    data = {
        "tasks": [{"id": t.id, "family": t.family, "columns": list(t.columns)} for t in lib.tasks.values()],
        "templates": {task: sorted(tpls) for task, tpls in sorted(lib.templates.items())},
        "guidelines": [{"id": g.id, "language": g.language, "title": g.title} for g in lib.guidelines.values()],
        "rules": [{"id": r.id, "title": r.title, "codecs": list(r.codecs)} for r in lib.rules.values()],
        "variants": [{"id": v.id, "codec": v.spec.codec} for v in lib.variants.values()],
        "catalog": [{k: e.summary()[k] for k in ("id", "task", "format", "license", "description")}
                    for e in sorted(lib.catalog.values(), key=lambda e: e.id)],
    }
    return data[kind] if kind else data
