"""`humc check`, `humc plan` and `humc build`."""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console, JustifyMethod
from rich.table import Table
from rich.text import Text

from humc.build.cachectl import build_warnings
from humc.build.compiler import (
    DryRun,
    ablation_plans,
    build,
    build_locks,
    dry_run,
    load_recipe,
    node_states,
    plan_recipe,
    publish_repo,
)
from humc.build.execute import BuildResult
from humc.build.problems import EMPTY_HINTS, ProblemRow, problem_rows, warning_lines
from humc.cli import RESULT_KEY
from humc.cli.params import OutConsole, cache_opt, format_opt, no_wait_opt, out_opt, recipe_arg
from humc.dataset.cardinfo import llm_step_stats
from humc.errors import one_line
from humc.progress import Progress
from humc.recipe.folders import describe_origin
from humc.sources_hub import hub_sources

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = OutConsole()


class RowsParam(click.ParamType):  # type: ignore[type-arg]  # generic only since click 8.4; subscripting fails at run time on older clicks
    """`--rows N|all`: a positive row count, or `all` (None)."""

    name = "N|all"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> int | None:
        if value is None or str(value).lower() == "all":
            return None
        try:
            n = int(str(value))
        except ValueError:
            n = 0
        if n < 1:
            self.fail(f"{value!r} is neither a positive number of rows nor 'all'", param, ctx)
        return min(n, sys.maxsize)  # more rows than any source holds: as many as the reader's counter takes


strict_opt = click.option("--strict", is_flag=True,
                          help="Fail (E4103) on any problem record instead of dropping it (like `output: {strict: true}`).")


@click.command()
@recipe_arg
@format_opt
@click.option("--rows", type=RowsParam(), default="100", show_default=True, metavar="N|all",
              help="Source rows per task entry to push through map, filter, render and check (N or all).")
@strict_opt
def check(recipe: Path, rows: int | None, strict: bool) -> None:
    """Validate RECIPE and dry-run the first rows of every source through the build, writing nothing."""
    result = dry_run(load_recipe(recipe, strict=strict), rows)
    print_dry_run(result)
    problems = sum(p.count for p in result.problems())
    verdict = "ok" if not problems else f"ok with {problems} problem record(s) that a build drops"
    if result.writes_nothing:  # of the first N rows only: `--rows all` (dry_run) makes it error E4104
        verdict = (f"no row checked (the first {rows} of each source) gives a record: a build of rows like these "
                   "writes nothing (error[E4104]); `--rows all` checks every row")
    click.echo(f"{recipe}: {verdict} — {len(result.entries)} task(s), {len(result.recipe.sources)} source(s)")
    click.get_current_context().meta[RESULT_KEY] = {  # the recipe's warnings are its diagnostics (severity warning)
        "check": dry_run_data(result), "diagnostics": [d for w in result.recipe.warnings for d in w.diagnostics()]}


def dry_run_data(result: DryRun) -> dict[str, Any]:
    """What `humc --format json check` adds to its verdict: per entry the rows read, kept and rendered, and the
    problem records a build would drop (by node and reason, with the first locations)."""
    return {
        "entries": [{"id": e.entry, "rows_read": e.rows_read, "kept": e.kept, "rendered": e.rendered,
                     "skipped": e.skipped} for e in result.entries],
        "problems": [{"node": p.node, "reason": p.reason, "count": p.count, "first": list(p.first)}
                     for p in result.problems()],
        "writes_nothing": result.writes_nothing,
        "shared_texts": [{"text": t.text, "splits": list(t.splits), "entries": list(t.entries)}
                         for t in result.shared_texts[:SHOWN_SHARED]],
        "shared_text_count": len(result.shared_texts),
    }


SHOWN_SHARED = 20  # the texts in several splits `--format json` lists (the count says how many there are)


_LABELLED = re.compile(r"^.+?:\d+:\d+: warning\[W\d{4}\]: ")


def self_labelled(line: str) -> bool:
    """A compiler-style warning (`file:line:col: warning[W0001]: …`): printed as it is, not after a second label."""
    return _LABELLED.match(line) is not None


def shared_text_notes(result: DryRun) -> list[str]:
    """The note on input texts the rows checked put in two or more splits, and what keeps each in one."""
    shared = result.shared_texts
    if not shared:
        return []
    shown = "; ".join(f"{one_line(t.text, 60)!r} in {' and '.join(t.splits)}" for t in shared[:3])
    where = "the rows checked" if result.rows is None else f"the first {result.rows} row(s) checked of each source"
    entries = {e.id: e for e in result.recipe.tasks}
    fixes = []
    for name in sorted({n for t in shared for n in t.entries}):
        entry = entries[name]
        if entry.split_by is None and entry.task.inputs:
            fixes.append(f"`split_by: {entry.task.inputs[0]}` in {name}")
        else:
            fixes.append(f"{name}'s `split_by:` groups them by another value")
    lines = [f"{len(shared)} input text(s) of {where} fall in two or more splits, the same text in train and test "
             f"(splits are assigned per source row): {shown}" + (" …" if len(shared) > 3 else ""),
             "; ".join(fixes) + " keeps each text in one split"
             + ("" if result.rows is None else "; `--rows all` checks every row")]
    return lines


def print_dry_run(result: DryRun) -> None:
    for e in result.entries:
        counts = {}
        for meta in e.metas.values():
            counts.update({k.removeprefix("problem: "): v for k, v in meta["notes"].items() if k.startswith("problem: ")})
        problems = ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"
        click.echo(f"  {e.entry}: {e.rows_read} row(s) read, {e.kept} kept, {e.rendered} rendered; problems: {problems}")
        for step in e.skipped:
            click.echo(f"    note: skipped {step}")
        if e.rows_read and not e.kept and any(t.id == e.entry and t.where is not None for t in result.recipe.tasks):
            click.echo(f"    note: none of the {e.rows_read} row(s) read passes the entry's `where:` (a build of "
                       "rows like these writes nothing for it: error[E4104] when no entry writes anything)")
        elif e.kept and not e.rendered and not e.skipped_render:
            click.echo(f"    note: none of the {e.kept} row(s) kept gives a record: each is a problem record below (a "
                       "build of rows like these writes nothing for it: error[E4104] when no entry writes anything)")
    for note in result.recipe.notes():
        click.echo(f"  {note}" if self_labelled(note) else f"  note: {note}")
    for n, line in enumerate(shared_text_notes(result)):
        click.echo(f"  note: {line}" if n == 0 else f"    {line}")
    print_problems(result.problems(), click.echo)


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
    for src in hub_sources(r):
        assert src.dataset is not None
        out.print(f"source {src.id}: Hub dataset {src.dataset['name']} at commit {src.dataset['revision']}")
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
              help="Where the build's nodes run: this process and its render workers, or Ray tasks "
                   "(default: the recipe's `executor:`, else local).")
@click.option("--ray-address", default=None, metavar="ADDR",
              help="Ray cluster to use with --executor ray (default: $RAY_ADDRESS, else a new local instance).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, metavar="N",
              help="Worker processes that render (default: $HUMC_JOBS, else one per CPU; 1: none). "
                   "Never changes the output.")
@strict_opt
@no_wait_opt
@click.option("--ablate", default=None, metavar="PARTS", callback=lambda ctx, param, value: ablated_parts(value),
              help="Also write ablation datasets <name>-no-<part> from the same rows and splits; PARTS is a "
                   "comma-separated list of guidelines, rules, formats, templates (adds to the recipe's `ablations:`).")
def build_cmd(recipe: Path, cache_dir: Path | None, out_dir: Path | None, quiet: bool, push_after: bool,
              executor: str | None, ray_address: str | None, jobs: int | None, strict: bool, no_wait: bool,
              ablate: tuple[str, ...]) -> None:
    """Build the dataset described by RECIPE.

    Another humc command using the same output or cache folder is waited for (one line on stderr says so);
    --no-wait fails instead."""
    p = plan_recipe(recipe, out_dir=out_dir, cache_dir=cache_dir, strict=strict)
    if push_after:
        publish_repo(p.recipe, command="humc build --push")  # where to, and a token: asked before the build
    plans = [p, *ablation_plans(p, ablate)]
    with build_locks(plans, wait=not no_wait):  # every folder first: --no-wait fails before any dataset is written
        for plan_ in plans:
            result = build(plan_, progress=Progress(enabled=not quiet), executor=executor, ray_address=ray_address,
                           jobs=jobs, wait=not no_wait)
            if not quiet:
                print_summary(result)
            which = f"{result.plan.recipe.name}: " if len(plans) > 1 else ""  # with ablations: which dataset's
            for warning in [*warning_lines(problem_rows(result.plan.recipe, result.metas)), *build_warnings(result)]:
                err.print(Text.assemble(("" if self_labelled(warning) else "warning: ", "yellow"), which + warning))
            click.echo(f"wrote {result.output_dir}")
        if push_after:
            from humc.cli.push import push_recipe

            push_recipe(p.recipe, wait=not no_wait)


def ablated_parts(ablate: str | None) -> tuple[str, ...]:
    """The parts `--ablate` names; given, it names one at least."""
    parts = tuple(part.strip() for part in (ablate or "").split(",") if part.strip())
    if ablate is not None and not parts:
        raise click.BadParameter(f"{ablate!r} names no part")
    return parts


def print_summary(result: BuildResult) -> None:
    table = Table(title="build summary")
    columns: tuple[tuple[str, JustifyMethod], ...] = (("node", "left"), ("status", "left"), ("in", "right"), ("out", "right"),
                                                      ("time", "right"), ("notes", "left"))
    for col, justify in columns:
        table.add_column(col, justify=justify)
    for s in result.stats:
        notes = ", ".join(f"{k}: {v}" for k, v in s.notes.items() if v)
        if s.chunks_reused:
            notes = (notes + ", " if notes else "") + f"{s.chunks_reused} chunk(s) resumed"
        reused = ", ".join(f"{k}: {v}" for k, v in s.reused.items() if v)
        if reused:
            notes = (notes + ", " if notes else "") + reused
        color = {"cached": "green", "resumed": "cyan"}.get(s.status, "yellow")
        table.add_row(s.node, f"[{color}]{s.status}[/]", str(s.records_in), str(s.records_out),
                      f"{s.seconds:.2f}s", notes)
    hits = sum(s.status == "cached" for s in result.stats)
    err.print(table)
    print_problems(problem_rows(result.plan.recipe, result.metas), lambda line: err.print(line, markup=False))
    err.print(f"{hits}/{len(result.stats)} node(s) from cache, {sum(s.seconds for s in result.stats):.2f}s")
    llm: Counter[str] = Counter()
    for s in result.stats:
        if s.kind in ("generate", "judge") and s.status != "cached":  # a cached node sent nothing this time
            llm.update({k: v for k, v in s.notes.items() if k.startswith(("llm ", "prompt", "completion"))})
    if any(s.kind in ("generate", "judge") for s in result.stats):
        err.print(f"LLM this build: {llm['llm requests']} request(s) sent, {llm['llm cache hits']} cache hit(s), "
                  f"{llm['llm retries']} retry(ies), {llm['prompt tokens']} prompt + "
                  f"{llm['completion tokens']} completion token(s)")
        for line in llm_step_lines(llm_step_stats(result.plan.recipe, result.metas)):
            err.print(line, markup=False)


def llm_step_lines(steps: list[dict[str, Any]]) -> list[str]:
    """One line per generate/judge node: valid answers (rate, form), the judge's scores, threshold and drops."""
    lines = []
    for s in steps:
        if not s["asked"]:
            continue
        line = f"  {s['node']}: {s['valid']}/{s['asked']} valid answer(s) ({s['valid_rate']:.1%}), structured output {s['form']}"
        if "min_score" in s:
            line += (f"; scores {' '.join(f'{k}:{v}' for k, v in s['scores'].items())}; min_score {s['min_score']} "
                     f"dropped {s['judge_dropped']} ({s['judge_dropped_share']:.1%})")
        if s.get("empty"):
            line += f"; {s['empty']} of {s['generated']} generated answer(s) empty ([])"
        other = {k: v for k, v in s["dropped"].items() if not k.startswith("judge score")}
        if other:
            line += "; dropped " + ", ".join(f"{k}: {v}" for k, v in other.items())
        lines.append(line)
    return lines


def print_problems(rows: list[ProblemRow], echo: Callable[[str], None]) -> None:
    """Dropped problem records: per node and reason, the count and the first source locations."""
    if not rows:
        return
    echo(f"dropped {sum(r.count for r in rows)} problem record(s) (--strict fails on them):")
    for r in rows:
        echo(f"  {r.node}: {r.reason}: {r.count}")
        for where in r.first:
            echo(f"    at {where}")
        if r.reason in EMPTY_HINTS:  # what to change, as the E4104 of a build that dropped them all says
            echo(f"    hint: {EMPTY_HINTS[r.reason]}")
