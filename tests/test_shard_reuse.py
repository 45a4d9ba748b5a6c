"""An edit rewrites only the shards it changes: a shard whose rows (the places the split node names) and write
settings were written before is copied from the previous output folder, and the folder is byte for byte that of a
cold build of the edited recipe — after a guideline, template, source, split-fraction or shard_rows edit, with the
old folder gone or a shard in it changed, and `humc cache gc` keeps what the current write reuses. The merge, dedup
and split read an unchanged chunk's pass memo instead of its records, with the same decisions and metas."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli, write_ner_source
from hypothesis import given, settings
from hypothesis import strategies as st

import humc.build.corpus as corpus
import humc.dataset.writer as writer
from humc.build.compiler import build, plan_recipe
from humc.cachedb import CacheDB
from humc.dataset.manifest import MANIFEST, sha256_file

RECIPE = """hum: 1
name: two
stdlib: [assets]
sources:
  s: data.jsonl
tasks:
{entries}output:
  splits: {splits}
  shard_rows: {shard_rows}
"""
ENTRY = """  - id: ner{k}
    task: ner
    source: s
    fields: {{text: text, entities: ents}}
    labels: [ORG, LOC]
    guidelines: [types{k}]
    templates: [t{k}a, t{k}b]
    formats: [json, tuples]
    variants_per_record: 1
"""
GUIDELINE = "id: types{k}\ntitle: Entity types\nlabels:\n  ORG: organisations\n  LOC: {loc}\n"
TEMPLATE = ("{name}: extract the entities: {{{{ labels | join(', ') }}}}.\n"
            "{{% for label, text in label_definitions.items() %}}- {{{{ label }}}}: {{{{ text }}}}\n{{% endfor %}}"
            "{{{{ format_instruction }}}}\nText: {{{{ text }}}}\n")


def workspace(folder: Path, *, rows: int = 400, shard_rows: int = 100, splits: str = "{train: 0.8, test: 0.2}",
              named: bool = True, loc1: str = "locations") -> Path:
    """Two entries over one source (own guideline and templates each): 2 × rows records, several shards a split.
    Unless ``named``, the templates do not name themselves: entries whose guidelines agree give duplicates."""
    (folder / "assets" / "guidelines").mkdir(parents=True, exist_ok=True)
    (folder / "assets" / "templates" / "ner").mkdir(parents=True, exist_ok=True)
    for k in range(2):
        (folder / "assets" / "guidelines" / f"types{k}.yaml").write_text(
            GUIDELINE.format(k=k, loc=loc1 if k else "locations"))
        for t in "ab":
            (folder / "assets" / "templates" / "ner" / f"t{k}{t}.j2").write_text(
                TEMPLATE.format(name=f"t{k}{t}" if named else "Task"))
    if not (folder / "data.jsonl").exists():
        write_ner_source(folder / "data.jsonl", rows)
    recipe = folder / "two.hum.yaml"
    recipe.write_text(RECIPE.format(entries="".join(ENTRY.format(k=k) for k in range(2)), splits=splits,
                                    shard_rows=shard_rows), encoding="utf-8")
    return recipe


def run(folder: Path) -> Any:
    return build(plan_recipe(folder / "two.hum.yaml", out_dir=folder / "out", cache_dir=folder / "cache"), jobs=1)


def output(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder / "out")): p.read_bytes() for p in sorted((folder / "out").rglob("*"))
            if p.is_file()}


def corpus_metas(folder: Path) -> dict[str, Any]:
    """The stored metas of the merge, dedup and split nodes (counts, notes, realised mixture)."""
    plan = plan_recipe(folder / "two.hum.yaml", out_dir=folder / "out", cache_dir=folder / "cache")
    with CacheDB(folder / "cache") as db:
        return {node.id: db.get(f"meta/{node.fingerprint}") for node in plan.nodes
                if node.kind in ("merge", "dedup", "split")}


def edit_guideline(folder: Path) -> None:
    path = folder / "assets" / "guidelines" / "types0.yaml"
    path.write_text(path.read_text().replace("LOC: locations", "LOC: places"))


def edit_template(folder: Path) -> None:
    path = folder / "assets" / "templates" / "ner" / "t1b.j2"
    path.write_text(path.read_text().replace("extract the entities", "find every entity"))


def edit_source(folder: Path) -> None:
    lines = (folder / "data.jsonl").read_text().splitlines()
    for i in range(0, len(lines), 100):  # 1% of the rows
        lines[i] = lines[i].replace("was sold by", "was bought from")
    (folder / "data.jsonl").write_text("\n".join(lines) + "\n")


def edit_splits(folder: Path) -> None:
    workspace(folder, splits="{train: 0.7, test: 0.3}")


def edit_shard_rows(folder: Path) -> None:
    workspace(folder, shard_rows=150)


@pytest.fixture
def encoded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The shards the writer encodes (the others it copies from the previous folder)."""
    names: list[str] = []
    real = writer._write_shard

    def counting(table: Any, entry: dict[str, Any], path: Path, shard_rows: int) -> dict[str, Any]:
        names.append(f"{path.parent.name}/{path.name}")
        return real(table, entry, path, shard_rows)

    monkeypatch.setattr(writer, "_write_shard", counting)
    return names


@pytest.mark.parametrize("edit, rewritten", [
    (edit_guideline, "some"), (edit_template, "some"), (edit_source, "all"), (edit_splits, "all"),
    (edit_shard_rows, "all"),
])
def test_an_edit_rewrites_only_the_shards_it_changes_and_the_folder_equals_a_cold_build(
        tmp_path: Path, encoded: list[str], edit: Any, rewritten: str) -> None:
    warm, cold = tmp_path / "warm", tmp_path / "cold"
    workspace(warm)
    run(warm)
    shards = len(list((warm / "out" / "two" / "data").iterdir()))
    encoded.clear()
    edit(warm)
    run(warm)
    edited = list(encoded)

    workspace(cold)
    edit(cold)
    shutil.copy(warm / "data.jsonl", cold / "data.jsonl")
    encoded.clear()
    run(cold)

    assert output(warm) == output(cold)  # shards, README.md, build.json, plots: byte for byte
    assert corpus_metas(warm) == corpus_metas(cold)
    assert len(encoded) == len(list((cold / "out" / "two" / "data").iterdir()))  # a cold build encodes every shard
    if rewritten == "some":
        # entry ner0's rows fill the first shards of each split; the shards holding only ner1's rows are copied
        assert 0 < len(edited) < shards, (edited, shards)
    else:
        # every row's place is new (a source edit renders the entry again), rows moved between splits, or the
        # shards are cut elsewhere
        assert len(edited) == len(encoded), (edited, encoded)


def test_going_back_to_an_earlier_recipe_encodes_only_the_shards_the_folder_no_longer_has(
        tmp_path: Path, encoded: list[str]) -> None:
    folder = tmp_path / "w"
    workspace(folder)
    run(folder)
    first = output(folder)
    edit_guideline(folder)
    run(folder)
    assert output(folder) != first
    (folder / "assets" / "guidelines" / "types0.yaml").write_text(GUIDELINE.format(k=0, loc="locations"))
    encoded.clear()

    run(folder)  # every node is cached; the write finds ner1's shards in the folder, ner0's only in the cache

    assert output(folder) == first
    assert 0 < len(encoded) < len(list((folder / "out" / "two" / "data").iterdir()))


@pytest.mark.parametrize("damage", ["folder deleted", "shard deleted", "shard changed and rehashed"])
def test_a_previous_folder_without_the_shard_makes_the_writer_encode_it(tmp_path: Path, encoded: list[str],
                                                                         damage: str) -> None:
    warm, cold = tmp_path / "warm", tmp_path / "cold"
    workspace(warm)
    run(warm)
    folder = warm / "out" / "two"
    shards = sorted((folder / "data").iterdir())
    first = next((folder / "data").glob("train-00000-*"))  # ner0's rows only: copied after an edit of ner1
    if damage == "folder deleted":
        shutil.rmtree(folder)
    elif damage == "shard deleted":
        first.unlink()
    else:  # edited by hand, and build.json updated to match: humc still owns the folder, but the shard differs
        first.write_bytes(first.read_bytes()[:-1] + b"\x00")
        manifest = json.loads((folder / MANIFEST).read_text())
        manifest["files"][f"data/{first.name}"] = sha256_file(first)
        (folder / MANIFEST).write_text(json.dumps(manifest))
    encoded.clear()
    edit_template(warm)
    result = run(warm)
    encoded_warm = list(encoded)
    workspace(cold)
    edit_template(cold)
    run(cold)

    assert output(warm) == output(cold)
    assert next(s for s in result.stats if s.node == "corpus/write").status == "built"
    if damage == "folder deleted":
        assert len(encoded_warm) == len(shards)
    else:
        assert f"data/{first.name}" in encoded_warm and len(encoded_warm) < len(shards)


def test_cache_gc_keeps_the_shard_entries_of_the_current_write_and_drops_the_old_ones(tmp_path: Path,
                                                                                      encoded: list[str]) -> None:
    folder = tmp_path / "w"
    recipe = workspace(folder)
    run(folder)
    edit_template(folder)
    run(folder)
    with CacheDB(folder / "cache") as db:
        before = sorted(k for k in db.keys() if k.startswith(writer.SHARD_PREFIX))

    result = run_cli("cache", "gc", str(recipe), "--cache", str(folder / "cache"))

    assert result.exit_code == 0, result.output
    assert "reclaimed" in result.output
    with CacheDB(folder / "cache") as db:
        after = sorted(k for k in db.keys() if k.startswith(writer.SHARD_PREFIX))
        lists = [k for k in db.keys() if k.startswith(writer.SHARDS_PREFIX)]
        kept = set(db.get(lists[0]) or [])
    assert len(lists) == 1 and {k.removeprefix(writer.SHARD_PREFIX) for k in after} == kept
    assert 0 < len(after) < len(before)  # the shards only the first write used are gone
    # the kept entries still serve: after another edit the untouched shards are copied, not encoded
    encoded.clear()
    edit_guideline(folder)
    run(folder)
    assert 0 < len(encoded) < len(list((folder / "out" / "two" / "data").iterdir()))


@pytest.mark.parametrize("prefix", [6, 1])
def test_dedup_over_remembered_chunks_removes_the_duplicates_a_cold_build_removes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefix: int) -> None:
    """ner1's guideline becomes ner0's: its instructions now repeat ner0's, whose chunks the pass reads from their
    memo (key prefixes only) — dedup compares the full keys and removes exactly what a cold build removes, also
    when many different records share a prefix (1-byte prefixes)."""
    monkeypatch.setattr(corpus, "PREFIX", prefix)
    warm, cold = tmp_path / "warm", tmp_path / "cold"
    workspace(warm, named=False, loc1="places")
    first = run(warm)
    workspace(warm, named=False)
    result = run(warm)
    workspace(cold, named=False)
    run(cold)

    assert output(warm) == output(cold)
    assert corpus_metas(warm) == corpus_metas(cold)
    removed = corpus_metas(warm)["corpus/dedup"]["notes"]["duplicates removed"]
    assert next(s for s in first.stats if s.node == "corpus/dedup").notes["duplicates removed"] == 0
    assert removed > 0 and next(s for s in result.stats if s.node == "corpus/dedup").records_out == 800 - removed


def test_a_pass_memo_gives_back_the_fields_split_and_dedup_read_and_leaves_out_missing_ones() -> None:
    records = [{"task": "ner", "task_entry": "a", "source": "s", "source_row": 3, "labels": ["ORG"], "template": None,
                "instruction": "long text", "_kind": "basic"},
               {"task": "ner", "task_entry": "a", "source": "s", "source_row": 4, "labels": ["ORG"]}]

    rows = corpus._rows(corpus._slim(records))

    assert rows == [{"task": "ner", "task_entry": "a", "source": "s", "source_row": 3, "labels": ("ORG",),
                     "template": None, "_kind": "basic", "_group": None},  # `split_by:`'s group: None when absent
                    {"task": "ner", "task_entry": "a", "source": "s", "source_row": 4, "labels": ("ORG",),
                     "_group": None}]
    assert rows[0]["labels"] is rows[1]["labels"]  # one object: the pickled memo stays small


CHUNKS = {("fp", "main", i): [{"v": (i, p)} for p in range(10)] for i in range(6)}


def chunk_rows(decoded: list[int]) -> Any:
    """``Store.rows`` over CHUNKS: consecutive runs of one chunk decode it once (counted in ``decoded``)."""
    def rows(runs: list[Any]) -> Any:
        last = None
        for fp, stream, i, start, stop, _ in runs:
            if (fp, stream, i) != last:
                decoded.append(i)
                last = (fp, stream, i)
            yield from CHUNKS[fp, stream, i][start:stop]
    return rows


@settings(max_examples=80, deadline=None)
@given(cuts=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 9), st.integers(1, 10)), min_size=1, max_size=12),
       limit=st.sampled_from([0, 5, 10_000]))
def test_the_rows_of_the_shards_to_encode_are_read_with_each_chunk_decoded_once(cuts: list[Any], limit: int) -> None:
    """Every wanted shard comes once, with exactly its rows in order; with room to hold rows, every chunk is decoded
    once however many shards share it; with no room (limit 0), what is left is read shard by shard, still exact."""
    wanted = [(k, [("fp", "main", i, start, min(10, start + n), False)]) for k, (i, start, n) in enumerate(cuts)]
    decoded: list[int] = []
    got = dict(writer._gathered(chunk_rows(decoded), wanted, limit))
    expected = {k: [r for run in runs for r in CHUNKS[run[:3]][run[3]:run[4]]] for k, runs in wanted}
    assert got == expected
    if limit == 10_000:
        assert sorted(decoded) == sorted({i for i, _, _ in cuts})
