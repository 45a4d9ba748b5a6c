"""`humc explain CODE`: what a diagnostic code means and what to do about it."""

from __future__ import annotations

import click

from humc.cli.params import format_opt
from humc.errors import CODES, HumcError, did_you_mean


@click.command("explain")
@click.argument("code", required=False)
@format_opt
def explain(code: str | None) -> None:
    """Explain diagnostic CODE (e.g. E2003), or list every code."""
    if code is None:
        for key, entry in CODES.items():
            click.echo(f"{key}  {entry.title}")
        return
    key = code.strip().upper().removeprefix("ERROR[").removesuffix("]").removesuffix("]:")
    key = f"E{key}" if key.isdigit() else key  # `humc explain 2014`, `humc explain error[E2014]`
    if key not in CODES:
        raise HumcError(f"unknown diagnostic code '{code}'", expected="a code such as E2003 (`humc explain` lists them)",
                        hint=did_you_mean(key, CODES))
    entry = CODES[key]
    click.echo(f"{key}: {entry.title}\n\n{entry.explanation}")
