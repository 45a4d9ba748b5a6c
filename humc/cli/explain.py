"""`humc explain CODE`: what a diagnostic code means and what to do about it."""

from __future__ import annotations

import re

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
    pasted = re.fullmatch(r"(?:[A-Z]*\[)?([EW]?)(\d{4})\]?:?", code.strip().upper())
    # `humc explain 2014`, `E2014:`, `[E2014]`, `error[E2014]:`, `warning[W0001]:` as pasted from a diagnostic
    key = f"{pasted.group(1) or 'E'}{pasted.group(2)}" if pasted else code.strip().upper()
    if key not in CODES:
        raise HumcError(f"unknown diagnostic code '{code}'", expected="a code such as E2003 (`humc explain` lists them)",
                        hint=did_you_mean(key, CODES))
    entry = CODES[key]
    click.echo(f"{key}: {entry.title}\n\n{entry.explanation}")
