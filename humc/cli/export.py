"""`humc export`: a built dataset in the formats training and evaluation tools read."""

from __future__ import annotations

from pathlib import Path

import click

from humc.build.compiler import load_recipe
from humc.cli.params import FolderPath, NamedPath, format_opt, refuse_out_beside_folder
from humc.dataset.export import TARGETS, export_dataset


@click.command("export")
@click.argument("target", metavar="DATASET_DIR_OR_RECIPE", type=NamedPath(exists=True))
@click.option("--to", "to", type=click.Choice(TARGETS), required=True,
              help="alpaca (JSON), sharegpt / messages (JSONL), llama-factory (sharegpt + dataset_info.json), "
                   "lm-eval (an lm-evaluation-harness task folder for the test split).")
@click.argument("out", metavar="OUT_DIR", type=FolderPath())
@click.option("--out", "out_root", type=FolderPath(),
              help="With a recipe: the output root it was built with (`humc build --out`).")
@format_opt
def export_cmd(target: Path, to: str, out: Path, out_root: Path | None) -> None:
    """Write a built dataset (a folder, or a recipe's output) in the --to layout into OUT_DIR (files of the same
    name are replaced; other files are left alone)."""
    is_recipe = target.suffix.lower() in (".yaml", ".yml")
    refuse_out_beside_folder(out_root, target, is_recipe, "export")
    folder = load_recipe(target, out_dir=out_root).output.dir if is_recipe else target
    written = export_dataset(folder, to, out)
    for name, n in written.items():
        click.echo(f"wrote {out / name}" + ("" if n is None else f" ({n} record(s))"))
