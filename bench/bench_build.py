"""Build throughput and cache effectiveness of the local executor, as ratios measured in one run.

    python bench/bench_build.py [--n 50000] [--baseline REV] [--jobs N] [--split-n 10000]

A generated NER source of N rows (two entities each) is built with four format variants and
two (template, format) pairs per row. Reported, all from the same run:

* the floor: the same rows through a plain jinja2 + json + pyarrow loop (``plain_loop``);
* cold build: wall time, instructions per second, instructions per CPU-second (this process and its
  render workers), with the default worker processes and with ``jobs=1``; as ratios to the floor;
* with ``--baseline REV``: the same cold build by humc at git revision REV (extracted to a temporary
  folder, run in a subprocess), so "× faster than REV" is measured in this run;
* warm rebuild (nothing changed) as a ratio to cold — every node comes from the cache;
* a resumed build after the render node was interrupted half-way, as a ratio to cold;
* the size of the build cache as a ratio to the size of the output folder (after the cold build);
* edits of a four-entry recipe (the same source, one guideline and one template file per entry):
  one guideline edited, one template edited, 1% of the source rows edited — each as a ratio to that
  recipe's cold build, with the source records rendered again (records-level reuse, ``build/reuse.py``);
* where a one-process build's CPU goes (``cpu_split``): CPU microseconds per instruction of humc, of humc with its
  check (``check_rendered``: each answer parsed back in its format, the rules' fixed point, the labels shown)
  replaced by a no-op, and of the plain loop, on ``--split-n`` rows, alternating the three twice (the least of
  each).

Results go to bench/results/build.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from report import report  # noqa: E402

from humc.build.compiler import build, plan_recipe  # noqa: E402
from humc.build.parallel import default_jobs  # noqa: E402
from humc.build.store import Store, chunk_key  # noqa: E402
from humc.cachedb import folder_bytes  # noqa: E402
from humc.dataset.writer import preload  # noqa: E402
from tests.helpers import write_ner_source  # noqa: E402

RECIPE = """hum: 1
name: bench
stdlib: [assets]
sources:
  s: data.jsonl
tasks:
  - id: ner
    task: ner
    source: s
    fields: {{text: text, entities: ents}}
    labels: [ORG, LOC, PER, MISC]
    schema: {{negatives: 1}}
    guidelines: [bench_types]
    preferences: [order_entities_by_position, empty_brackets]
    formats: [json, tuples, markdown_table, natural]
    variants_per_record: 2
output:
  splits: {{train: 0.95, test: 0.05}}
  shard_rows: {shard}
"""
GUIDELINE = """id: bench_types
title: Entity types
labels:
  ORG: organisations
  LOC: locations
  PER: people
  MISC: {misc}
"""


def make_workspace(root: Path, n: int) -> Path:
    (root / "assets" / "guidelines").mkdir(parents=True)
    (root / "assets" / "guidelines" / "bench_types.yaml").write_text(GUIDELINE.format(misc="other names"))
    write_ner_source(root / "data.jsonl", n)
    recipe = root / "bench.hum.yaml"
    recipe.write_text(RECIPE.format(shard=max(10_000, n // 4)))
    return recipe


def plain_loop(root: Path) -> tuple[float, int]:
    """The floor: the same rows through a bare jinja2 + json + pyarrow loop (humc's two NER templates, a JSON
    answer, constant guideline text; no checks, no cache, no dedup or split), written as one Parquet file."""
    import jinja2
    import pyarrow as pa
    import pyarrow.parquet as pq

    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    templates = [env.from_string((REPO / "stdlib" / "templates" / "ner" / f"en_{k}.j2").read_text()) for k in (1, 2)]
    constants = {"labels": ["ORG", "LOC", "PER", "MISC"], "guidelines": [], "rules": ["List entities in text order."],
                 "label_definitions": {"ORG": "organisations", "LOC": "locations", "PER": "people", "MISC": "other"},
                 "format_instruction": "Answer with a JSON list of objects with keys type and span."}
    start = time.perf_counter()
    rows: dict[str, list[str]] = {"instruction": [], "output": [], "id": []}
    with open(root / "data.jsonl", encoding="utf-8") as f:
        for n, line in enumerate(f):
            record = json.loads(line)
            answer = json.dumps([{"type": e["type"], "span": e["span"]} for e in record["ents"]], ensure_ascii=False)
            for k, template in enumerate(templates):
                rows["instruction"].append(template.render(text=record["text"], **constants).strip())
                rows["output"].append(answer)
                rows["id"].append(f"{n}-{k}")
    pq.write_table(pa.table(rows), root / "plain.parquet")
    return time.perf_counter() - start, len(rows["id"])


def timed_build(recipe: Path, root: Path, **kw) -> tuple[float, list]:
    plan = plan_recipe(recipe, out_dir=root / "out", cache_dir=root / "cache")
    start = time.perf_counter()
    result = build(plan, **kw)
    return time.perf_counter() - start, result.stats


def cpu_seconds() -> tuple[float, float]:
    """CPU time of this process and of its finished children (the render workers), and of this process alone."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system, t.user + t.system


def cpu_split(root: Path, n: int, rounds: int = 2) -> dict[str, float]:
    """CPU µs per instruction of a one-process cold build, of the same build with its check a no-op, and of the plain
    loop; the least of ``rounds`` alternating runs each (this process's CPU: ``jobs=1`` forks no worker)."""
    import humc.build.execute as execute

    recipe = make_workspace(root, n)
    check = execute.check_rendered
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name in ("humc", "humc_without_check", "plain_loop"):
            shutil.rmtree(root / "out", ignore_errors=True)
            shutil.rmtree(root / "cache", ignore_errors=True)
            before = cpu_seconds()[1]
            if name == "plain_loop":
                made = plain_loop(root)[1]
            else:
                execute.check_rendered = check if name == "humc" else (lambda entry, record: None)  # type: ignore[assignment]
                try:
                    stats = build(plan_recipe(recipe, out_dir=root / "out", cache_dir=root / "cache"), jobs=1).stats
                finally:
                    execute.check_rendered = check
                made = next(s.records_out for s in stats if s.node == "corpus/write")
            used = (cpu_seconds()[1] - before) / made * 1e6
            best[name] = min(best.get(name, used), used)
    return {f"cpu_us_per_instruction_{k}": round(v, 1) for k, v in best.items()}


def cold_build(recipe: Path, root: Path, name: str, jobs: int | None) -> tuple[float, float, float]:
    """(wall, CPU, this process's CPU) seconds of a cold build into ``root/name``."""
    folder = root / name
    cpu, own = cpu_seconds()
    plan = plan_recipe(recipe, out_dir=folder / "out", cache_dir=folder / "cache")
    start = time.perf_counter()
    build(plan, jobs=jobs)
    wall = time.perf_counter() - start
    cpu_after, own_after = cpu_seconds()
    return wall, cpu_after - cpu, own_after - own


BASELINE_SCRIPT = """
import sys, time
sys.path.insert(0, sys.argv[1])
from humc.build.compiler import build, plan_recipe
from humc.dataset.writer import preload
preload()
plan = plan_recipe(__import__("pathlib").Path(sys.argv[2]), out_dir=__import__("pathlib").Path(sys.argv[3]) / "out",
                   cache_dir=__import__("pathlib").Path(sys.argv[3]) / "cache")
start = time.perf_counter()
build(plan)
print(time.perf_counter() - start)
"""


def baseline_build(rev: str, recipe: Path, root: Path) -> float:
    """Seconds of the same cold build by humc at git revision ``rev`` (its own tree, in a subprocess)."""
    tree = root / f"humc-{rev}"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", BASELINE_SCRIPT, str(tree), str(recipe), str(root / "baseline")],
                          check=True, capture_output=True, text=True, env=env, cwd=root)
    return float(done.stdout.strip().splitlines()[-1])


FOUR = """hum: 1
name: four
stdlib: [assets]
sources:
  s: data.jsonl
tasks:
{entries}output:
  shard_rows: {shard}
"""
FOUR_ENTRY = """  - id: ner{k}
    task: ner
    source: s
    fields: {{text: text, entities: ents}}
    labels: [ORG, LOC, PER, MISC]
    guidelines: [types{k}]
    preferences: [order_entities_by_position, empty_brackets]
    templates: [t{k}a, t{k}b, t{k}c]
    formats: [json, tuples, markdown_table, natural]
    variants_per_record: 2
"""
FOUR_TEMPLATE = "{name}: extract the entities of these types: {{{{ labels | join(', ') }}}}.\n" \
                "{{% for label, text in label_definitions.items() %}}- {{{{ label }}}}: {{{{ text }}}}\n{{% endfor %}}" \
                "{{% for r in rules %}}- {{{{ r }}}}\n{{% endfor %}}{{{{ format_instruction }}}}\n\nText: {{{{ text }}}}\n"


def make_four(root: Path, n: int) -> Path:
    """A four-entry recipe over one source of n rows: each entry has its own guideline and three templates."""
    (root / "assets" / "guidelines").mkdir(parents=True)
    (root / "assets" / "templates" / "ner").mkdir(parents=True)
    for k in range(4):
        (root / "assets" / "guidelines" / f"types{k}.yaml").write_text(
            GUIDELINE.format(misc="other names").replace("bench_types", f"types{k}"))
        for t in "abc":
            (root / "assets" / "templates" / "ner" / f"t{k}{t}.j2").write_text(FOUR_TEMPLATE.format(name=f"t{k}{t}"))
    write_ner_source(root / "data.jsonl", n)
    recipe = root / "four.hum.yaml"
    recipe.write_text(FOUR.format(entries="".join(FOUR_ENTRY.format(k=k) for k in range(4)), shard=max(10_000, n)))
    return recipe


def edits(root: Path, n: int) -> dict[str, object]:
    """Cold build of the four-entry recipe, then three edits, each timed and counted against it."""
    import humc.build.execute as execute
    import humc.build.reuse as reuse

    recipe = make_four(root, n)
    counted = {"rendered": 0, "retexted": 0}  # source records rendered whole again / only their texts rendered again
    real_render, real_retext = execute.render_checked, reuse.retexted

    def rendering(ctx, record):  # noqa: ANN001, ANN202
        counted["rendered"] += 1
        return real_render(ctx, record)

    def retexting(ctx, record, given):  # noqa: ANN001, ANN202
        counted["retexted"] += 1
        return real_retext(ctx, record, given)

    execute.render_checked, reuse.retexted = rendering, retexting

    def timed(jobs: int = 1) -> tuple[float, dict[str, int], list[str]]:
        counted.update(rendered=0, retexted=0)
        seconds, stats = timed_build(recipe, root, jobs=jobs)
        return seconds, dict(counted), sorted(s.node for s in stats if s.status != "cached")

    try:
        cold, counts_cold, _ = timed()
        guideline = root / "assets" / "guidelines" / "types0.yaml"
        guideline.write_text(guideline.read_text().replace("other names", "any other proper name"))
        g_edit, g_counts, g_rebuilt = timed()
        template = root / "assets" / "templates" / "ner" / "t1b.j2"
        template.write_text(template.read_text().replace("extract the entities", "find every entity"))
        t_edit, t_counts, _ = timed()
        lines = (root / "data.jsonl").read_text().splitlines()
        for i in range(0, len(lines), 100):
            lines[i] = lines[i].replace("was sold by", "was bought from")
        (root / "data.jsonl").write_text("\n".join(lines) + "\n")
        s_edit, s_counts, _ = timed()
    finally:
        execute.render_checked, reuse.retexted = real_render, real_retext
    return {"four_entries_cold_seconds": round(cold, 3), "four_entries_records_rendered_cold": counts_cold["rendered"],
            "guideline_edit_over_cold": round(g_edit / cold, 4), "guideline_edit_records_rendered": g_counts["rendered"],
            "guideline_edit_records_retexted": g_counts["retexted"], "guideline_edit_rebuilt": g_rebuilt,
            "template_edit_over_cold": round(t_edit / cold, 4), "template_edit_records_rendered": t_counts["rendered"],
            "template_edit_records_retexted": t_counts["retexted"],
            "source_edit_1pct_over_cold": round(s_edit / cold, 4), "source_edit_1pct_records_rendered": s_counts["rendered"],
            "source_edit_1pct_records_retexted": s_counts["retexted"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--baseline", default=None, metavar="REV", help="also time the cold build by humc at this git rev")
    ap.add_argument("--jobs", type=int, default=None, help="render worker processes (default: one per CPU)")
    ap.add_argument("--split-n", type=int, default=10_000, help="rows of the CPU split (0: skip it)")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="humc-bench-"))
    try:
        recipe = make_workspace(root, args.n)
        plain, plain_records = plain_loop(root)
        preload()  # humc's one-time imports (pyarrow, the card classes), as the plain loop's are, outside the timing
        jobs = args.jobs or default_jobs()
        cold, cold_cpu, _ = cold_build(recipe, root, "jobs1", 1)
        cold_n, cold_n_cpu, main_cpu = cold_build(recipe, root, f"jobs{jobs}", jobs) if jobs > 1 else \
            (cold, cold_cpu, cold_cpu)
        base = baseline_build(args.baseline, recipe, root) if args.baseline else None
        # the single-process build's folder is the one the cache figures and the later builds use
        shutil.move(str(root / "jobs1" / "cache"), root / "cache")
        shutil.move(str(root / "jobs1" / "out"), root / "out")
        stats = timed_build(recipe, root)[1]
        records = next(s.records_out for s in stats if s.node == "corpus/write")
        cache_bytes, out_bytes = folder_bytes(root / "cache"), folder_bytes(root / "out")
        warm, warm_stats = timed_build(recipe, root)
        assert all(s.status == "cached" for s in warm_stats), "warm rebuild recomputed a node"

        # resume: a build killed half-way through rendering (the second half of its chunks never committed)
        plan = plan_recipe(recipe, out_dir=root / "out", cache_dir=root / "cache")
        render = plan.node("ner/render")
        store = Store(root / "cache")
        try:
            chunks = store.meta(render.fingerprint)["chunks"]["main"]
            for i in range(chunks // 2, chunks):
                for stream in ("main", "notes", "memo"):
                    store.cache.delete(chunk_key(render.fingerprint, stream, i))
            for node in plan.nodes[plan.nodes.index(render):]:
                store.invalidate(node.fingerprint)
        finally:
            store.close()
        shutil.rmtree(root / "out")
        resumed, _ = timed_build(recipe, root, jobs=1)

        floor = plain / plain_records
        results: dict[str, object] = {
            "n_rows": args.n, "instructions": records, "jobs": jobs,
            "plain_loop_instructions_per_second": round(plain_records / plain),
            "cold_seconds_jobs_1": round(cold, 3), "instructions_per_second_jobs_1": round(records / cold),
            "instructions_per_cpu_second_jobs_1": round(records / cold_cpu),
            "cold_over_plain_loop_jobs_1": round((cold / records) / floor, 3),
            f"cold_seconds_jobs_{jobs}": round(cold_n, 3), f"instructions_per_second_jobs_{jobs}": round(records / cold_n),
            f"instructions_per_cpu_second_jobs_{jobs}": round(records / cold_n_cpu),
            f"cold_over_plain_loop_jobs_{jobs}": round((cold_n / records) / floor, 3),
            # the build's serial part: what the main process computes itself, however many workers render
            f"main_process_cpu_share_jobs_{jobs}": round(main_cpu / cold_n_cpu, 3),
            f"most_speedup_with_more_workers_jobs_{jobs}": round(cold_n_cpu / main_cpu, 2),
        }
        if base is not None:
            results.update({"baseline": args.baseline, "baseline_cold_seconds": round(base, 3),
                            "speedup_over_baseline_jobs_1": round(base / cold, 3),
                            f"speedup_over_baseline_jobs_{jobs}": round(base / cold_n, 3)})
        results.update({
            "warm_over_cold": round(warm / cold, 4), "resume_half_render_over_cold": round(resumed / cold, 4),
            "cache_bytes": cache_bytes, "output_bytes": out_bytes, "cache_over_output": round(cache_bytes / out_bytes, 3),
        })
        four = root / "four"
        four.mkdir()
        results.update(edits(four, args.n // 4))
        if args.split_n:
            split = root / "split"
            split.mkdir()
            results.update(cpu_split(split, args.split_n))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report("build", results)


if __name__ == "__main__":
    main()
