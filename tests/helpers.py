"""Shared helpers for the end-to-end tests."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

import humc.build.corpus as corpus
from humc.build.plan import Plan
from humc.build.store import Store, chunk_key
from humc.cli import main

REPO = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"


def example_recipes() -> list[Path]:
    """The example recipes recipes/ ships: git's list in a checkout, so a recipe of your own saved beside them (as the
    README suggests) is not built, fuzzed and checked as one of them; without git, every recipes/*.hum.yaml."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--", "*.hum.yaml"], cwd=REPO / "recipes", capture_output=True,
                                check=True).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        listed = ""
    names = sorted(name for name in listed.split("\0") if name and "/" not in name)
    return [REPO / "recipes" / name for name in names] or sorted((REPO / "recipes").glob("*.hum.yaml"))


def copy_recipes(tmp: Path) -> Path:
    """A private copy of recipes/ (recipes + their data), so tests may edit it; never a build cache or output a
    developer's own `humc build recipes/...` left there (git ignores them; a clean checkout has none)."""
    dest = tmp / "recipes"
    shutil.copytree(REPO / "recipes", dest, ignore=shutil.ignore_patterns(".humc", "out"))
    return dest


def run_cli(*args: str, cwd: Path | None = None) -> Result:
    old = os.getcwd()
    try:
        if cwd:
            os.chdir(cwd)
        return CliRunner().invoke(main, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)


def build_in(recipe: Path, tmp: Path) -> Result:
    """`humc build RECIPE` with its output and cache under ``tmp`` (tmp/out, tmp/cache)."""
    return run_cli("build", str(recipe), "--out", str(tmp / "out"), "--cache", str(tmp / "cache"))


def build_jsonl_recipe(work: Path, sources: dict[str, list[dict[str, Any]]], recipe: str, name: str) -> Result:
    """Write each source as ``work/<name>.jsonl`` and ``recipe`` as ``work/<name>.hum.yaml``; build it into work/out with
    its cache in work/cache."""
    for source, rows in sources.items():
        (work / f"{source}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (work / f"{name}.hum.yaml").write_text(recipe, encoding="utf-8")
    return run_cli("build", f"{name}.hum.yaml", "--out", "out", "--cache", "cache", cwd=work)


def uncoded(text: str) -> str:
    """Diagnostics without their codes (``error[E0001]:`` -> ``error:``), for tests about wording and location."""
    return re.sub(r"error\[E\d{4}\]:", "error:", text)


def check_golden(name: str, text: str) -> None:
    """Compare with tests/golden/<name>; HUMC_UPDATE_GOLDEN=1 rewrites it."""
    path = GOLDEN / name
    if os.environ.get("HUMC_UPDATE_GOLDEN") or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if not os.environ.get("HUMC_UPDATE_GOLDEN"):
            raise AssertionError(f"golden file {path} was missing and has been written; rerun")
    assert text == path.read_text(encoding="utf-8"), f"output differs from {path} (HUMC_UPDATE_GOLDEN=1 to accept)"


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


NER_RECIPE = """hum: 1
name: big
sources:
  s: {data}
tasks:
  - id: ner
    task: ner
    source: s
    fields: {{text: text, entities: ents}}
    schema: {{negatives: 1}}
    preferences: [order_entities_by_position]
    formats: [json, tuples, markdown_table, natural]
    variants_per_record: 2
output:
  splits: {{train: 0.9, test: 0.1}}
  shard_rows: {shard_rows}
{extra_output}"""


# a CoNLL-2003 NER recipe over a newcomer's own `mystd` stdlib folder, up to its task entry's first key: each test
# adds the keys it is about (templates, guidelines, formats)
HOUSE_NER_HEAD = """hum: 1
name: house-ner
stdlib: [mystd]
sources:
  conll: {catalog: conll2003, path: data/eng.testa.head40}
tasks:
  - source: conll
"""


def write_ner_source(path: Path, rows: int) -> None:
    """A generated NER source: `rows` short sentences with two entities each (tests and bench/)."""
    with open(path, "w", encoding="utf-8") as f:
        for i in range(rows):
            f.write(json.dumps({"text": f"Item {i} was sold by Acme{i % 97} in City{i % 13}.",
                                "ents": [{"type": "ORG", "span": f"Acme{i % 97}"},
                                         {"type": "LOC", "span": f"City{i % 13}"}]}) + "\n")


def write_ner_workload(folder: Path, rows: int, *, shard_rows: int = 5000, extra_output: str = "") -> Path:
    """big.jsonl + big.hum.yaml in `folder`: 2 rendered variants per row, 4 answer formats."""
    write_ner_source(folder / "big.jsonl", rows)
    recipe = folder / "big.hum.yaml"
    recipe.write_text(NER_RECIPE.format(data="big.jsonl", shard_rows=shard_rows, extra_output=extra_output),
                      encoding="utf-8")
    return recipe


def tiny_recipe(*, data: str = "data.jsonl", where: str | None = None, preferences: str | None = None,
                formats: str = "[json, natural]", extra: str = "") -> str:
    """The small extractive-QA recipe many tests start from (one source, one task entry), as text."""
    lines = ["hum: 1", "name: tiny", "sources:", f"  qa: {data}", "tasks:", "  - id: qa", "    task: mrc_extractive",
             "    source: qa", "    fields:", "      context: context", "      question: question", "      answers: answers"]
    lines += [f"    where: {where}"] if where is not None else []
    lines += [f"    preferences: {preferences}"] if preferences is not None else []
    return "\n".join([*lines, f"    formats: {formats}", ""]) + extra


def built_test_split(tmp: Path, rows: int) -> tuple[Path, list[str]]:
    """`humc build` in ``tmp`` of the tiny recipe over ``rows`` passages, all in a `test` split (json answers):
    the dataset folder and its record ids, for `humc eval` tests."""
    import pyarrow.parquet as pq

    data = [{"context": f"Paris is in France, row {i}.", "question": "Where is Paris?", "answers": ["France"]}
            for i in range(rows)]
    (tmp / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in data), encoding="utf-8")
    (tmp / "r.hum.yaml").write_text(tiny_recipe(formats="[json]", extra="output: {splits: {test: 1.0}}\n"),
                                    encoding="utf-8")
    assert run_cli("build", "r.hum.yaml", "-q", cwd=tmp).exit_code == 0
    folder = tmp / "out" / "tiny"
    return folder, [r["id"] for p in folder.glob("data/*.parquet") for r in pq.read_table(p).to_pylist()]


def built_gold(root: Path, name: str, recipe: str) -> tuple[dict[str, dict[int, Any]], dict[str, dict[int, str]], str]:
    """`humc build` of ``recipe`` (written to root/<name>.hum.yaml) and what it wrote, read back from the Parquet
    shards: each task entry's gold and instruction by source row, and the build's output."""
    import pyarrow.parquet as pq

    (root / f"{name}.hum.yaml").write_text(recipe, encoding="utf-8")
    result = run_cli("build", f"{name}.hum.yaml", "-q", "-j", "1", cwd=root)
    assert result.exit_code == 0, result.output
    gold: dict[str, dict[int, Any]] = {}
    text: dict[str, dict[int, str]] = {}
    for shard in sorted((root / "out" / name / "data").glob("*.parquet")):
        for row in pq.read_table(shard, columns=["task_entry", "source_row", "gold", "instruction"]).to_pylist():
            gold.setdefault(row["task_entry"], {})[row["source_row"]] = json.loads(row["gold"])
            text.setdefault(row["task_entry"], {})[row["source_row"]] = row["instruction"]
    return gold, text, result.output


def read_left_to_right(values: list[str], text: str) -> bool:
    """Whether each value occurs in ``text`` after the end of the one before (a reference for ``ops.in_reading_order``,
    which keeps such rows as they are), written plainly."""
    at = 0
    for value in values:
        start = text.find(value, at) if value else -1
        if start < 0:
            return False
        at = start + len(value)
    return True


def pass_memos(plan: Plan, cache: Path, *, fresh: bool = False) -> dict[str, list[Any]]:
    """Each check node's stored pass memos; ``fresh``: deleted first and computed again by ``pass_chunks``."""
    store = Store(cache)
    out: dict[str, list[Any]] = {}
    try:
        for node in (n for n in plan.nodes if n.kind == "check"):
            keys = [chunk_key(node.fingerprint, corpus.PASS_MEMO, i) for i in range(store.chunk_count(node.fingerprint))]
            if fresh:
                for key in keys:
                    store.cache.delete(key)
                list(corpus.pass_chunks(store, node.fingerprint, text=False))
            out[node.id] = [store.cache.get(key) for key in keys]
    finally:
        store.close()
    return out
