"""Build throughput and cache effectiveness of the local executor, as ratios measured in one run.

    python bench/bench_build.py [--n 50000]

A generated NER source of N rows (two entities each) is built with four format variants and
two (template, format) pairs per row. Reported, all from the same run:

* cold build: wall time and instructions per second;
* warm rebuild (nothing changed) as a ratio to cold — every node comes from the cache;
* a one-guideline edit as a ratio to cold — only the render/check nodes and the corpus tail rerun;
* a resumed build after the render node was interrupted half-way, as a ratio to cold;
* the size of the build cache as a ratio to the size of the output folder (after the cold build).

Results go to bench/results/build.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from humc.build.compiler import build, plan_recipe  # noqa: E402
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=50_000)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="humc-bench-"))
    try:
        recipe = make_workspace(root, args.n)
        plain, plain_records = plain_loop(root)
        preload()  # humc's one-time imports (pyarrow, the card classes), as the plain loop's are, outside the timing
        cold, stats = timed_build(recipe, root)
        records = next(s.records_out for s in stats if s.node == "corpus/write")
        cache_bytes, out_bytes = folder_bytes(root / "cache"), folder_bytes(root / "out")
        warm, warm_stats = timed_build(recipe, root)
        assert all(s.status == "cached" for s in warm_stats), "warm rebuild recomputed a node"

        (root / "assets" / "guidelines" / "bench_types.yaml").write_text(GUIDELINE.format(misc="any other proper name"))
        edit, edit_stats = timed_build(recipe, root)
        rebuilt = sorted(s.node for s in edit_stats if s.status != "cached")

        # resume: drop the render node's commit marker and its second half of chunks
        plan = plan_recipe(recipe, out_dir=root / "out", cache_dir=root / "cache")
        render = plan.node("ner/render")
        store = Store(root / "cache")
        try:
            chunks = store.meta(render.fingerprint)["chunks"]["main"]
            for i in range(chunks // 2, chunks):
                store.cache.delete(chunk_key(render.fingerprint, "main", i))
            for node in plan.nodes[plan.nodes.index(render):]:
                store.invalidate(node.fingerprint)
        finally:
            store.close()
        shutil.rmtree(root / "out")
        resumed, _ = timed_build(recipe, root)

        results = {
            "n_rows": args.n, "instructions": records,
            "cold_seconds": round(cold, 3), "instructions_per_second": round(records / cold),
            "plain_loop_instructions_per_second": round(plain_records / plain),
            "cold_over_plain_loop": round((cold / records) / (plain / plain_records), 3),
            "warm_over_cold": round(warm / cold, 4),
            "guideline_edit_over_cold": round(edit / cold, 4), "guideline_edit_rebuilt": rebuilt,
            "resume_half_render_over_cold": round(resumed / cold, 4),
            "cache_bytes": cache_bytes, "output_bytes": out_bytes,
            "cache_over_output": round(cache_bytes / out_bytes, 3),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "build.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'figure':<34} value")
    for key, value in results.items():
        print(f"{key:<34} {value}")


if __name__ == "__main__":
    main()
