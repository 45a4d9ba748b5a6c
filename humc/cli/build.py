"""`humc check`, `humc plan` and `humc build`."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from humc.build.cachectl import build_warnings
from humc.build.compiler import BuildResult, build, load_recipe, node_states, plan_recipe
from humc.cli.params import cache_opt, format_opt, out_opt, recipe_arg
from humc.progress import Progress
from humc.recipe.folders import describe_origin

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


@click.command()
@recipe_arg
@format_opt
def check(recipe: Path) -> None:
    """Validate RECIPE (YAML, expressions, stdlib names, sources) without building."""
    r = load_recipe(recipe)
    click.echo(f"{recipe}: ok — {len(r.tasks)} task(s), {len(r.sources)} source(s)")


@click.command()
@recipe_arg
@cache_opt
@out_opt
@format_opt
def plan(recipe: Path, cache_dir: Path | None, out_dir: Path | None) -> None:
    """Print the resolved output and cache folders, then the execution graph with fingerprints and cache state."""
    p = plan_recipe(recipe, out_dir=out_dir, cache_dir=cache_dir)
    r = p.recipe
    out.print(f"output folder: {r.output.dir}  ({describe_origin(r.output.dir_origin)})")
    out.print(f"cache folder:  {r.cache_dir}  ({describe_origin(r.cache_origin)})")
    out.print("paths in a recipe are relative to its folder; --out and --cache to the current directory", style="dim")
    states = node_states(p)
    table = Table(title=f"plan for {p.recipe.name}  (fingerprint {p.fingerprint[:16]})")
    for col in ("node", "kind", "inputs", "fingerprint", "state"):
        table.add_column(col)
    for node in p.nodes:
        state = states[node.id]
        table.add_row(node.id, node.kind, ", ".join(node.inputs) or "-", node.fingerprint[:16],
                      f"[green]{state}[/]" if state == "cached" else f"[yellow]{state}[/]")
    out.print(table)


@click.command("build")
@recipe_arg
@cache_opt
@out_opt
@format_opt
@click.option("--quiet", "-q", is_flag=True, help="No progress bars and no summary.")
@click.option("--push", "push_after", is_flag=True, help="Publish to the Hub afterwards (uses the recipe's `publish:`).")
@click.option("--executor", type=click.Choice(["local", "ray"]), default=None,
              help="Where chunk-wise nodes run (default: the recipe's `executor:`, else local).")
@click.option("--ray-address", default=None, metavar="ADDR",
              help="Ray cluster to use with --executor ray (default: $RAY_ADDRESS, else a new local instance).")
def build_cmd(recipe: Path, cache_dir: Path | None, out_dir: Path | None, quiet: bool, push_after: bool,
              executor: str | None, ray_address: str | None) -> None:
    """Build the dataset described by RECIPE."""
    p = plan_recipe(recipe, out_dir=out_dir, cache_dir=cache_dir)
    result = build(p, progress=Progress(enabled=not quiet), executor=executor, ray_address=ray_address)
    if not quiet:
        print_summary(result)
    for warning in build_warnings(result):
        err.print(f"[yellow]warning:[/] {warning}")
    click.echo(f"wrote {result.output_dir}")
    if push_after:
        from humc.cli.push import push_recipe

        push_recipe(p.recipe)


def print_summary(result: BuildResult) -> None:
    table = Table(title="build summary")
    for col, justify in (("node", "left"), ("status", "left"), ("in", "right"), ("out", "right"),
                         ("time", "right"), ("notes", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for s in result.stats:
        notes = ", ".join(f"{k}: {v}" for k, v in s.notes.items() if v)
        if s.chunks_reused:
            notes = (notes + ", " if notes else "") + f"{s.chunks_reused} chunk(s) resumed"
        color = {"cached": "green", "resumed": "cyan"}.get(s.status, "yellow")
        table.add_row(s.node, f"[{color}]{s.status}[/]", str(s.records_in), str(s.records_out),
                      f"{s.seconds:.2f}s", notes)
    hits = sum(s.status == "cached" for s in result.stats)
    err.print(table)
    err.print(f"{hits}/{len(result.stats)} node(s) from cache, {sum(s.seconds for s in result.stats):.2f}s")
    llm: Counter[str] = Counter()
    for s in result.stats:
        if s.kind in ("generate", "judge") and s.status != "cached":  # a cached node sent nothing this time
            llm.update({k: v for k, v in s.notes.items() if k.startswith(("llm ", "prompt", "completion"))})
    if any(s.kind in ("generate", "judge") for s in result.stats):
        err.print(f"LLM this build: {llm['llm requests']} request(s) sent, {llm['llm cache hits']} cache hit(s), "
                  f"{llm['llm retries']} retry(ies), {llm['prompt tokens']} prompt + "
                  f"{llm['completion tokens']} completion token(s)")
