"""`humc schema [--out FILE]`: print or write the recipe JSON Schema (for editors)."""

from __future__ import annotations

from pathlib import Path

import click

from humc.cli.params import NamedPath, format_opt, refuse_foreign_file
from humc.dataset.export import written_together
from humc.recipe.schema import schema_text


@click.command("schema")
@click.option("--out", "out_file", type=NamedPath(dir_okay=False),
              help="Write the schema to FILE (e.g. docs/recipe.schema.json) instead of printing it.")
@format_opt
def schema_cmd(out_file: Path | None) -> None:
    """Print the JSON Schema of .hum.yaml recipes (generated from the validator and the stdlib)."""
    text = schema_text()
    if out_file is None:
        click.echo(text, nl=False)
        return
    refuse_foreign_file(out_file, "--out", (text[:80].encode(),), "a schema `humc schema` wrote")
    with written_together() as place:  # a full disk leaves the previous file, not half a schema (E3002)
        place(out_file).write_text(text, encoding="utf-8")
    click.echo(f"wrote {out_file}")
