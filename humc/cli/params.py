"""Options (and the stdout console) shared by several commands, each defined once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console

from humc.cli import _set_format
from humc.errors import HumcError, Span


class NamedPath(click.Path):
    """A path given on the command line: ``""`` (an unset shell variable) is refused, not read as the current
    folder (`humc export DATASET --to alpaca "$OUT"` wrote into the current folder)."""

    def __init__(self, *, file_okay: bool = True, dir_okay: bool = True, exists: bool = False) -> None:
        super().__init__(path_type=Path, file_okay=file_okay, dir_okay=dir_okay, exists=exists)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            what = "folder" if not self.file_okay else "file" if not self.dir_okay else "path"
            named = "file or folder" if what == "path" else what
            leave = ", or leave the option out" if isinstance(param, click.Option) else ""
            self.fail(f"the {what} is an empty text (an unset shell variable?); name the {named}{leave}", param, ctx)
        return super().convert(value, param, ctx)


class FolderPath(NamedPath):
    """A folder option's or argument's value (not a file; not empty)."""

    def __init__(self) -> None:
        super().__init__(file_okay=False)


recipe_arg = click.argument("recipe", type=NamedPath(dir_okay=False))
cache_opt = click.option("--cache", "cache_dir", type=FolderPath(),
                         help="Cache folder, relative to the current directory (default: the recipe's `cache:`, else "
                              ".humc/cache beside the recipe; `humc plan` shows it).")
out_opt = click.option("--out", "out_dir", type=FolderPath(),
                       help="Output root, relative to the current directory; the dataset goes to OUT/<name> (default: "
                            "the recipe's output.dir, else out/ beside the recipe).")
no_wait_opt = click.option("--no-wait", is_flag=True,
                           help="Fail (E3004) instead of waiting when another humc command is using the output or "
                                "cache folder.")
format_opt = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default=None, expose_value=False,
                          callback=_set_format, help="Report errors as compiler text (stderr) or JSON (stdout).")


def echo_json(data: Any) -> None:
    import json

    click.echo(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True))


class OutConsole(Console):
    """rich's console for a command's report on stdout. A reader that goes away (`humc stdlib | head`) ends the
    command as it does for click's output (``HumcGroup``: exit 0), not with rich's own exit code 1."""

    def __init__(self) -> None:
        super().__init__(highlight=False, soft_wrap=True)

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


def refuse_foreign_file(path: Path | None, option: str, heads: tuple[bytes, ...], written: str) -> None:
    """E3003 when ``path``, a file a command is to write, holds something else than what humc writes there (a file
    starting with one of ``heads``): `--report r.hum.yaml` or `humc schema --out r.hum.yaml` replaced the recipe
    without a word. A file written before, or an empty one, is replaced as asked."""
    from humc.dataset.export import starts_otherwise

    if path is not None and starts_otherwise(path, heads):
        raise HumcError(f"{option} {path} is a file humc did not write there: writing would replace it",
                        Span(str(path), 1, 1), code="E3003", expected=f"{option}: a new file, or {written}",
                        hint="name another file; nothing was written")


def refuse_out_beside_folder(out_dir: Path | None, target: Path, is_recipe: bool, command: str) -> None:
    """E9001 for ``--out`` beside a dataset folder: the option names the root a recipe was built into, and the folder
    is the dataset itself (`humc push out/mrc --out elsewhere` published out/mrc without a word about --out)."""
    if out_dir is not None and not is_recipe:
        raise HumcError(f"--out does not apply to the dataset folder {target}", code="E9001",
                        expected=f"--out with a recipe: humc {command} RECIPE --out DIR (the root it was built into)",
                        hint=f"leave --out out, or name the dataset folder itself (e.g. {out_dir / target.name}); "
                             "nothing was done")
