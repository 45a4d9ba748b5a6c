"""`humc cache info|clean|gc|verify`: show, check and reclaim the build cache (logic in build/cachectl.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from humc.build.cachectl import DEFAULT_CACHE, cache_info, clean_cache, gc_cache, has_cache, verify_cache
from humc.build.compiler import plan_recipe
from humc.build.plan import Plan
from humc.cli.params import NamedPath, cache_opt, format_opt, no_wait_opt
from humc.errors import HumcError

optional_recipe = click.argument("recipe", required=False, type=NamedPath(dir_okay=False))


@click.group("cache")
def cache_cmd() -> None:
    """Show, check and reclaim the build cache.

    Give a RECIPE to use the cache its builds use (its `cache:` folder, default .humc/cache beside the recipe),
    or --cache DIR; with neither, .humc/cache in the current directory."""


def resolve(recipe: Path | None, cache_dir: Path | None) -> tuple[Path, Plan | None]:
    """The cache folder `humc build` would use, and the recipe's plan when one is given."""
    if recipe is None:
        return usable(cache_dir or DEFAULT_CACHE), None
    plan = plan_recipe(recipe, cache_dir=cache_dir)
    return usable(plan.recipe.cache_dir), plan


def usable(folder: Path) -> Path:
    """``folder`` when it is a folder or not there yet (nothing built); a file or a device (``--cache /dev/null``)
    is no cache, and saying it is empty would hide the mistake (E3002, as other unusable folders)."""
    if folder.exists() and not folder.is_dir():
        kind = "a file" if folder.is_file() else "a device or other special file, not a folder"
        raise HumcError(f"{folder} is not a cache folder: it is {kind}", code="E3002",
                        expected="a folder of build results (humc makes it on the first build)",
                        hint="pass --cache DIR with a folder, or a RECIPE to use the cache its builds use")
    return folder


def human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # not reached


@cache_cmd.command("info", short_help="Where the cache is, its size, what it holds; with RECIPE, its cached nodes.")
@optional_recipe
@cache_opt
@format_opt
def info_cmd(recipe: Path | None, cache_dir: Path | None) -> None:
    """Where the cache is, its size, what it holds; with RECIPE, which plan nodes are cached."""
    folder, plan = resolve(recipe, cache_dir)
    info = cache_info(folder, plan)
    empty = " (empty: nothing built yet)" if recipe is not None or cache_dir is not None else (
        " (empty: nothing built yet; a recipe's cache lives beside it, in .humc/cache: pass RECIPE or --cache)")
    click.echo(f"cache: {folder}" + ("" if info.exists else empty))
    if info.exists:
        click.echo(f"size on disk: {human(info.bytes)}")
        click.echo(f"nodes: {info.nodes}, chunks: {info.chunks}, LLM responses: {info.llm_responses}, "
                   f"extracted archives: {info.archives}")
    if info.legacy:
        click.echo(f"entries from an older humc: {info.legacy} (never read; `humc cache gc` removes them)")
    for copy in info.corrupt_copies:
        click.echo(f"damaged index moved aside: {copy} (`humc cache gc` removes it)")
    if plan is not None:
        cached = sum(info.nodes_cached.values())
        click.echo(f"{plan.recipe.name}: {cached}/{len(info.nodes_cached)} node(s) cached")
        for node_id, hit in info.nodes_cached.items():
            click.echo(f"  {node_id:<28} {'cached' if hit else 'not cached'}")


@cache_cmd.command("clean", short_help="Delete the whole cache: build results and LLM responses.")
@optional_recipe
@cache_opt
@format_opt
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@no_wait_opt
def clean_cmd(recipe: Path | None, cache_dir: Path | None, yes: bool, no_wait: bool) -> None:
    """Delete everything in the cache (build results and LLM responses); waits for running builds first."""
    folder, _ = resolve(recipe, cache_dir)
    if not has_cache(folder):
        click.echo(f"{folder}: no cache, nothing to delete")
        return
    if not yes:
        if not sys.stdin.isatty():
            raise HumcError(f"refusing to delete the cache {folder} without confirmation", code="E9001",
                            expected="--yes", hint="pass --yes to delete it")
        click.confirm(f"delete the cache {folder} (build results and LLM responses)?", abort=True)
    freed = clean_cache(folder, wait=not no_wait)
    click.echo(f"deleted the cache {folder}: {human(freed)} freed")


@cache_cmd.command("gc", short_help="Keep only what the current plans of RECIPES need; delete the rest.")
@click.argument("recipes", nargs=-1, required=True, type=NamedPath(dir_okay=False))
@cache_opt
@format_opt
@click.option("--llm", is_flag=True, help="Also delete the cached LLM responses (kept by default: they cost money).")
@no_wait_opt
def gc_cmd(recipes: tuple[Path, ...], cache_dir: Path | None, llm: bool, no_wait: bool) -> None:
    """Keep only what the current plans of RECIPES need; delete the rest (waits for running builds first).

    Recipes in one folder share its cache: name them all, or the others' cached results go too."""
    plans = [plan_recipe(r, cache_dir=cache_dir) for r in recipes]
    folders = sorted({str(p.recipe.cache_dir) for p in plans})
    if len(folders) > 1:
        raise HumcError(f"the recipes use different caches: {', '.join(folders)}", code="E9001",
                        expected="recipes sharing one cache folder", hint="pass --cache DIR to choose one")
    folder = usable(plans[0].recipe.cache_dir)
    if not has_cache(folder):
        click.echo(f"{folder}: no cache, nothing to collect")
        return
    report = gc_cache(folder, plans, llm=llm, wait=not no_wait)
    llm_note = f", {report.llm_removed} LLM response(s)" if llm else " (LLM responses kept; --llm deletes them)"
    click.echo(f"{folder}: kept {report.nodes_kept} node(s), removed {report.nodes_removed} stale node(s) "
               f"({report.entries_removed} entries){llm_note}; reclaimed {human(report.reclaimed)}")


@cache_cmd.command("verify", short_help="Read every entry and drop the damaged ones (the next build recomputes them).")
@optional_recipe
@cache_opt
@format_opt
@no_wait_opt
def verify_cmd(recipe: Path | None, cache_dir: Path | None, no_wait: bool) -> None:
    """Read every cache entry and drop the damaged ones (the next build recomputes them)."""
    folder, _ = resolve(recipe, cache_dir)
    if not has_cache(folder):
        click.echo(f"{folder}: no cache, nothing to verify (a recipe's cache lives beside it: pass RECIPE or --cache)")
        return
    report = verify_cache(folder, wait=not no_wait)
    for copy in report.moved_aside:
        click.echo(f"damaged index moved aside to {copy}; that part of the cache starts afresh")
    click.echo(f"{folder}: checked {report.checked} entries, dropped {report.dropped} damaged "
               f"(the next build recomputes {'them' if report.dropped else 'nothing'})")
