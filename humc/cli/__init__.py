"""Command-line interface: humc check | plan | build | push | stdlib."""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from humc import __version__
from humc.build.compiler import build, load_recipe, node_states, plan_recipe
from humc.build.execute import BuildResult
from humc.errors import HumcError
from humc.progress import Progress

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


def reports_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn HumcError into a compiler-style message and exit code 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except HumcError as exc:
            click.echo(exc.render(), err=True)
            sys.exit(exc.exit_code)
        except (KeyboardInterrupt, click.exceptions.Abort):  # Ctrl-C, or end of input at a prompt
            click.echo("\ninterrupted: finished work is saved; run the same command again to resume", err=True)
            sys.exit(130)
        except Exception as exc:  # an internal bug, not bad input
            if os.environ.get("HUMC_DEBUG"):
                traceback.print_exc()
            click.echo(f"internal error: {type(exc).__name__}: {exc}\n"
                       "  this is a bug in humc; set HUMC_DEBUG=1 for a traceback and please report it", err=True)
            sys.exit(3)

    return wrapper


recipe_arg = click.argument("recipe", type=click.Path(path_type=Path, dir_okay=False))
cache_opt = click.option("--cache", "cache_dir", type=click.Path(path_type=Path, file_okay=False),
                         help="Cache folder (default: the recipe's `cache:` or .humc/cache).")
out_opt = click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
                       help="Output root; the dataset goes to OUT/<name> (default: the recipe's output.dir or out).")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="humc")
def main() -> None:
    """humc — compile Hum recipes (.hum.yaml) into diverse NLU instruction datasets."""


@main.command()
@recipe_arg
@reports_errors
def check(recipe: Path) -> None:
    """Validate RECIPE (YAML, expressions, stdlib names, sources) without building."""
    r = load_recipe(recipe)
    click.echo(f"{recipe}: ok — {len(r.tasks)} task(s), {len(r.sources)} source(s)")


@main.command()
@recipe_arg
@cache_opt
@out_opt
@reports_errors
def plan(recipe: Path, cache_dir: Path | None, out_dir: Path | None) -> None:
    """Print the compiled execution graph with fingerprints and cache state."""
    p = plan_recipe(recipe, out_dir=out_dir, cache_dir=cache_dir)
    states = node_states(p)
    table = Table(title=f"plan for {p.recipe.name}  (fingerprint {p.fingerprint[:16]})")
    for col in ("node", "kind", "inputs", "fingerprint", "state"):
        table.add_column(col)
    for node in p.nodes:
        state = states[node.id]
        table.add_row(node.id, node.kind, ", ".join(node.inputs) or "-", node.fingerprint[:16],
                      f"[green]{state}[/]" if state == "cached" else f"[yellow]{state}[/]")
    out.print(table)


@main.command("build")
@recipe_arg
@cache_opt
@out_opt
@click.option("--quiet", "-q", is_flag=True, help="No progress bars and no summary.")
@click.option("--push", "push_after", is_flag=True, help="Publish to the Hub afterwards (uses the recipe's `publish:`).")
@click.option("--executor", type=click.Choice(["local", "ray"]), default=None,
              help="Where chunk-wise nodes run (default: the recipe's `executor:`, else local).")
@click.option("--ray-address", default=None, metavar="ADDR",
              help="Ray cluster to use with --executor ray (default: $RAY_ADDRESS, else a new local instance).")
@reports_errors
def build_cmd(recipe: Path, cache_dir: Path | None, out_dir: Path | None, quiet: bool, push_after: bool,
              executor: str | None, ray_address: str | None) -> None:
    """Build the dataset described by RECIPE."""
    p = plan_recipe(recipe, out_dir=out_dir, cache_dir=cache_dir)
    result = build(p, progress=Progress(enabled=not quiet), executor=executor, ray_address=ray_address)
    if not quiet:
        print_summary(result)
    written = next((s.records_out for s in result.stats if s.kind == "write"), 0)
    if not written:
        err.print("[yellow]warning:[/] the dataset is empty (0 records): check the sources, `where:` filters and "
                  "`sample:`; the build summary shows where records were dropped")
    click.echo(f"wrote {result.output_dir}")
    if push_after:
        from humc.cli.push import push_recipe_output

        push_recipe_output(p.recipe)


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
    llm = Counter()
    for s in result.stats:
        if s.kind in ("generate", "judge") and s.status != "cached":  # a cached node sent nothing this time
            llm.update({k: v for k, v in s.notes.items() if k.startswith(("llm ", "prompt", "completion"))})
    if any(s.kind in ("generate", "judge") for s in result.stats):
        err.print(f"LLM this build: {llm['llm requests']} request(s) sent, {llm['llm cache hits']} cache hit(s), "
                  f"{llm['llm retries']} retry(ies), {llm['prompt tokens']} prompt + "
                  f"{llm['completion tokens']} completion token(s)")


@main.command("stdlib")
@click.argument("kind", required=False,
                type=click.Choice(["tasks", "templates", "guidelines", "rules", "variants"]))
@reports_errors
def stdlib_cmd(kind: str | None) -> None:
    """List the standard library's tasks, templates, guidelines, rules and format variants."""
    from humc.recipe.stdlib import load_stdlib

    lib = load_stdlib()
    kinds = [kind] if kind else ["tasks", "templates", "guidelines", "rules", "variants"]
    for k in kinds:
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


from humc.cli.push import make_push_command  # noqa: E402

main.add_command(make_push_command(reports_errors))

from humc.assets.review import make_review_command  # noqa: E402
from humc.assets.synth import make_synth_command  # noqa: E402

main.add_command(make_synth_command(reports_errors))
main.add_command(make_review_command(reports_errors))


if __name__ == "__main__":  # pragma: no cover
    main()
