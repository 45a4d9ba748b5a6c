"""Write stage: the split records -> a Hugging Face dataset folder, atomically.

    <out>/<name>/data/<split>-0000i-of-0000M.parquet
    <out>/<name>/README.md      dataset card (YAML metadata + provenance)
    <out>/<name>/build.json     manifest: plan fingerprint, file hashes, counts

Everything is written into a temporary sibling folder that replaces the old one only
when complete, so a failed or killed build never leaves partial output behind.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from collections import Counter, defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from humc import __version__
from humc.ir import Recipe

if TYPE_CHECKING:
    from humc.build.execute import Executor, NodeStats
    from humc.build.plan import PlanNode

SCHEMA = pa.schema([
    ("id", pa.string()), ("task", pa.string()), ("task_entry", pa.string()), ("family", pa.string()),
    ("language", pa.string()), ("instruction", pa.string()), ("output", pa.string()), ("gold", pa.string()),
    ("answer_format", pa.string()), ("template", pa.string()), ("labels", pa.list_(pa.string())),
    ("guidelines", pa.list_(pa.string())), ("rules", pa.list_(pa.string())), ("source", pa.string()),
    ("source_row", pa.int64()),
])
MANIFEST = "build.json"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def output_is_current(recipe: Recipe, fingerprint: str) -> bool:
    """True when the output folder holds exactly what this plan would write."""
    folder = recipe.output.dir
    manifest = read_manifest(folder)
    if not manifest or manifest.get("fingerprint") != fingerprint:
        return False
    return all((folder / rel).is_file() and sha256_file(folder / rel) == digest
               for rel, digest in manifest.get("files", {}).items())


class _Stats:
    """Counts and length statistics for the dataset card, gathered while writing."""

    def __init__(self) -> None:
        self.task_counts: dict[str, Counter[str]] = defaultdict(Counter)
        self.variants: Counter[str] = Counter()
        self.templates: Counter[str] = Counter()
        # length -> count: exact quantiles in memory bounded by the longest text, not by the row count
        self.lengths: dict[str, Counter[int]] = {"instruction": Counter(), "output": Counter()}

    def add(self, split: str, record: dict[str, Any]) -> None:
        self.task_counts[split][record["task_entry"]] += 1
        self.variants[record["answer_format"]] += 1
        self.templates[record["template"]] += 1
        for column, histogram in self.lengths.items():
            histogram[len(record[column])] += 1

    def length_stats(self) -> dict[str, dict[str, float]]:
        out = {}
        for column, histogram in self.lengths.items():
            n = sum(histogram.values())
            if not n:
                continue
            lengths = sorted(histogram)
            out[column] = {"min": lengths[0], "mean": round(sum(k * c for k, c in histogram.items()) / n, 1),
                           "p50": _quantile(histogram, lengths, n // 2),
                           "p95": _quantile(histogram, lengths, min(n - 1, int(n * 0.95))), "max": lengths[-1]}
        return out


def _quantile(histogram: Counter[int], lengths: list[int], rank: int) -> int:
    """The value at 0-based position `rank` of the sorted data the histogram describes."""
    seen = 0
    for length in lengths:
        seen += histogram[length]
        if seen > rank:
            return length
    return lengths[-1]


def write_dataset(ex: Executor, node: PlanNode, stat: NodeStats) -> dict[str, Any]:
    recipe = ex.recipe
    final = recipe.output.dir
    if output_is_current(recipe, node.fingerprint):
        stat.status = "cached"
        manifest = read_manifest(final) or {}
        stat.records_in = stat.records_out = sum(manifest.get("counts", {}).values())
        return {"chunks": {}, "manifest": manifest}
    split_fp = ex.input_fp(node)
    split_meta = ex.store.meta(split_fp) or {}
    counts: dict[str, int] = split_meta.get("counts", {})
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "data").mkdir(parents=True)
    stats = _Stats()
    split_files: dict[str, list[str]] = {}
    try:
        for split, count in counts.items():
            if count == 0:
                continue
            split_files[split] = _write_split(ex, split_fp, split, count, recipe.output.shard_rows, tmp, stats)
            stat.records_in += count
        stat.records_out = stat.records_in
        _write_card(ex, tmp, split_files, counts, stats)
        files = {str(p.relative_to(tmp)): sha256_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        manifest = {"fingerprint": node.fingerprint, "recipe": recipe.name, "humc_version": __version__,
                    "counts": {k: v for k, v in counts.items() if v}, "files": files}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        _replace_dir(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"chunks": {}, "manifest": manifest}


def _write_split(ex: Executor, split_fp: str, split: str, count: int, shard_rows: int, folder: Path,
                 stats: _Stats) -> list[str]:
    shards = max(1, math.ceil(count / shard_rows))
    names = [f"data/{split}-{i:05d}-of-{shards:05d}.parquet" for i in range(shards)]
    records = ex.store.records(split_fp, split)
    with ex.progress.task(f"write {split}", total=count) as advance:
        for name in names:
            batch = []
            for record in records:
                stats.add(split, record)
                batch.append(record)
                if len(batch) >= shard_rows:
                    break
            table = pa.Table.from_pylist(batch, schema=SCHEMA)
            pq.write_table(table, folder / name, compression="zstd", row_group_size=min(shard_rows, 50_000))
            advance(len(batch))
    return names


def _write_card(ex: Executor, folder: Path, split_files: dict[str, list[str]], counts: dict[str, int],
                stats: _Stats) -> None:
    from humc.dataset.card import render_card
    from humc.dataset.cardinfo import card_info

    info = card_info(ex.recipe, ex.plan.fingerprint, ex.metas, split_files,
                     {k: v for k, v in counts.items() if v}, stats.task_counts, stats.variants, stats.templates,
                     stats.length_stats(),
                     {split: sum((folder / f).stat().st_size for f in files) for split, files in split_files.items()})
    (folder / "README.md").write_text(render_card(info), encoding="utf-8")


def _replace_dir(new: Path, final: Path) -> None:
    """Swap a finished folder into place; the old one is removed only after the rename."""
    old = final.parent / f".{final.name}.old-{os.getpid()}"
    if final.exists():
        os.replace(final, old)
    os.replace(new, final)
    shutil.rmtree(old, ignore_errors=True)
