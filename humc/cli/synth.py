"""`humc synth`: ask a recipe's models to propose assets for review."""

from __future__ import annotations

from pathlib import Path

import click

from humc.assets.synth import synthesize
from humc.build.compiler import load_recipe
from humc.cli.params import FolderPath, format_opt, recipe_arg


@click.command("synth")
@recipe_arg
@click.option("--cache", "cache_dir", type=FolderPath(),
              help="Cache folder, relative to the current directory (default: the recipe's `cache:`, else .humc/cache "
                   "beside the recipe); LLM answers go to CACHE/llm.")
@format_opt
def synth(recipe: Path, cache_dir: Path | None) -> None:
    """Ask the recipe's models to propose templates, guidelines, rules, hard negatives and label examples (for
    entries with `synth:`).

    Proposals are added to the lockfile next to the recipe (RECIPE.lock) for `humc review`;
    reviewed decisions are never overwritten. LLM answers are cached: a re-run sends no request.
    """
    report = synthesize(load_recipe(recipe), cache_dir=cache_dir)
    click.echo(report.render())
    if report.awaiting:
        click.echo(f"{report.awaiting} proposal(s) awaiting review: humc review {recipe}")
    else:
        click.echo("no proposal awaiting review")
