"""Cache integrity and `humc cache`: damaged entries are dropped and recomputed (only them), a broken
index is moved aside, and info / verify / gc / clean report and reclaim what the cache holds."""

from __future__ import annotations

import json
import pickle
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest
from helpers import REPO, run_cli, tree_bytes, write_ner_source, write_ner_workload
from hypothesis import given
from hypothesis import strategies as st

from humc.build.compiler import build, plan_recipe
from humc.cachedb import KEY_PREFIX, CacheDB, CorruptEntry, decode, encode, pack, seal, unpack
from humc.llm.client import CACHE_VERSION, open_cache

sys.path.insert(0, str(REPO))
from tests.llmserver import LLMServer  # noqa: E402
from tests.test_llm_build import responder, write_recipe  # noqa: E402

TWO_TASKS = """hum: 1
name: two
sources:
  s: big.jsonl
tasks:
  - id: a
    task: ner
    source: s
    fields: {{text: text, entities: ents}}
    formats: [json, tuples]
  - id: b
    task: ner
    source: s
    fields: {{text: text, entities: ents}}
    formats: [{b_formats}]
output:
  splits: {{train: 0.9, test: 0.1}}
"""


def two_tasks(folder: Path, b_formats: str = "json") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "big.jsonl").exists():
        write_ner_source(folder / "big.jsonl", 2500)  # 3 chunks per chunk-wise node
    recipe = folder / "two.hum.yaml"
    recipe.write_text(TWO_TASKS.format(b_formats=b_formats), encoding="utf-8")
    return recipe


def build_into(recipe: Path, cache: Path, out: Path, *extra: str):
    return run_cli("build", str(recipe), "--cache", str(cache), "--out", str(out), *extra)


def damage(cache: Path, key: str, how: str = "flip") -> None:
    """Damage one stored entry: flip a byte of its value (in its value file or its SQLite row), or delete its value file."""
    con = sqlite3.connect(str(cache / "cache.db"))
    try:
        filename, value = con.execute("SELECT filename, value FROM Cache WHERE key = ?", (KEY_PREFIX + key,)).fetchone()
        if filename:
            path = cache / filename
            if how == "delete":
                path.unlink()
                return
            data = bytearray(path.read_bytes())
            data[len(data) // 2] ^= 0xFF
            path.write_bytes(bytes(data))
        else:
            data = bytearray(value)
            data[-1] ^= 0xFF
            con.execute("UPDATE Cache SET value = ? WHERE key = ?", (bytes(data), KEY_PREFIX + key))
            con.commit()
    finally:
        con.close()


def summary_row(output: str, node: str) -> str:
    return next(line for line in output.splitlines() if f" {node} " in line)


@pytest.mark.parametrize("how", ["flip", "delete"])
def test_a_damaged_chunk_is_dropped_and_only_that_chunk_is_recomputed(tmp_path, monkeypatch, how):
    monkeypatch.setenv("COLUMNS", "250")  # one summary row per line
    recipe = two_tasks(tmp_path / "r")
    assert build_into(recipe, tmp_path / "cache", tmp_path / "out").exit_code == 0
    check_fp = plan_recipe(recipe).node("a/check").fingerprint
    damage(tmp_path / "cache", f"chunk/{check_fp}/main/1", how)
    # an edit to task b makes the corpus merge read a/check again, damaged chunk included: what the merge
    # remembers of that chunk (its pass memo) is damaged too, so the chunk itself is read
    damage(tmp_path / "cache", f"chunk/{check_fp}/pass/1")
    recipe = two_tasks(tmp_path / "r", b_formats="json, tuples")
    assert build_into(recipe, tmp_path / "ref-cache", tmp_path / "ref").exit_code == 0

    result = build_into(recipe, tmp_path / "cache", tmp_path / "out")

    assert result.exit_code == 0, result.output
    assert "warning: dropped 2 damaged cache entries and computed them again" in result.output
    assert "resumed" in summary_row(result.output, "a/check") and "2 chunk(s) resumed" in summary_row(result.output, "a/check")
    assert "cached" in summary_row(result.output, "a/render")
    assert tree_bytes(tmp_path / "out" / "two") == tree_bytes(tmp_path / "ref" / "two")


def test_a_damaged_meta_or_split_chunk_rebuilds_that_node_without_a_traceback(tmp_path):
    recipe = write_ner_workload(tmp_path, 300)
    assert build_into(recipe, tmp_path / "cache", tmp_path / "out").exit_code == 0
    plan = plan_recipe(recipe)
    damage(tmp_path / "cache", f"meta/{plan.node('ner/labels').fingerprint}")
    damage(tmp_path / "cache", f"chunk/{plan.node('corpus/split').fingerprint}/train/0")

    result = build_into(recipe, tmp_path / "cache", tmp_path / "again")  # a new output folder reads every split

    assert result.exit_code == 0, result.output
    assert "dropped 2 damaged cache entries" in result.output and "Traceback" not in result.output
    assert tree_bytes(tmp_path / "again" / "big") == tree_bytes(tmp_path / "out" / "big")


@pytest.mark.parametrize("how", ["garbage", "truncated"])
def test_an_unreadable_cache_index_is_moved_aside_and_the_build_starts_afresh(tmp_path, how):
    recipe = write_ner_workload(tmp_path, 300)
    assert build_into(recipe, tmp_path / "cache", tmp_path / "out").exit_code == 0
    index = tmp_path / "cache" / "cache.db"
    data = index.read_bytes()
    index.write_bytes(b"this is not a database\n" * 200 if how == "garbage" else data[: len(data) // 2 + 7])

    result = build_into(recipe, tmp_path / "cache", tmp_path / "again")

    assert result.exit_code == 0, result.output
    assert "warning: the cache index in" in result.output and "started a fresh cache" in result.output
    [aside] = (tmp_path / "cache").glob("cache.corrupt-*")
    assert (aside / "cache.db").exists()
    assert tree_bytes(tmp_path / "again" / "big") == tree_bytes(tmp_path / "out" / "big")
    again = build_into(recipe, tmp_path / "cache", tmp_path / "again")
    assert again.exit_code == 0 and "warning" not in again.output  # the fresh cache is healthy


def test_cache_info_counts_nodes_chunks_and_shows_which_plan_nodes_are_cached(tmp_path):
    recipe = write_ner_workload(tmp_path, 300)
    before = run_cli("cache", "info", str(recipe), "--cache", str(tmp_path / "cache"))
    assert before.exit_code == 0 and "(empty: nothing built yet" in before.output and "0/8 node(s) cached" in before.output
    assert "pass RECIPE" not in before.output  # the hint is for `humc cache info` without RECIPE or --cache only
    assert build_into(recipe, tmp_path / "cache", tmp_path / "out").exit_code == 0

    result = run_cli("cache", "info", str(recipe), "--cache", str(tmp_path / "cache"))

    assert result.exit_code == 0, result.output
    # 300 rows: one chunk each for load, map, render, check, merge, dedup; split: train + test
    assert "nodes: 8, chunks: 8, LLM responses: 0" in result.output
    assert "big: 8/8 node(s) cached" in result.output and "ner/render" in result.output
    assert "size on disk:" in result.output


def test_cache_info_without_a_recipe_looks_in_the_current_directory_and_says_where_a_recipes_cache_is(tmp_path):
    result = run_cli("cache", "info", cwd=tmp_path)
    assert result.exit_code == 0 and result.output.startswith("cache: .humc/cache (empty: nothing built yet")
    assert "a recipe's cache lives beside it, in .humc/cache: pass RECIPE or --cache" in result.output


def test_gc_after_an_edit_reclaims_stale_nodes_and_keeps_the_current_build_cached(tmp_path):
    recipe = two_tasks(tmp_path / "r")
    cache = tmp_path / "cache"
    assert build_into(recipe, cache, tmp_path / "out").exit_code == 0
    recipe = two_tasks(tmp_path / "r", b_formats="tuples")
    assert build_into(recipe, cache, tmp_path / "out").exit_code == 0
    info = run_cli("cache", "info", "--cache", str(cache)).output

    result = run_cli("cache", "gc", str(recipe), "--cache", str(cache))

    assert result.exit_code == 0, result.output
    # b's render and check, the merge, dedup and split of the old recipe are unreachable now
    assert "removed 5 stale node(s)" in result.output and "reclaimed" in result.output
    assert "nodes: 15" in info and "nodes: 10" in run_cli("cache", "info", "--cache", str(cache)).output
    rebuilt = build(plan_recipe(recipe, out_dir=tmp_path / "out", cache_dir=cache))
    assert [s.node for s in rebuilt.stats if s.status != "cached"] == []  # 0 nodes rebuilt


def test_clean_needs_yes_and_then_empties_the_cache(tmp_path):
    recipe = write_ner_workload(tmp_path, 100)
    cache = tmp_path / "cache"
    assert build_into(recipe, cache, tmp_path / "out").exit_code == 0

    refused = run_cli("cache", "clean", "--cache", str(cache))
    assert refused.exit_code == 2 and "--yes" in refused.output and (cache / "cache.db").exists()

    result = run_cli("cache", "clean", "--cache", str(cache), "--yes")

    assert result.exit_code == 0 and f"deleted the cache {cache}" in result.output
    assert not cache.exists()
    info = run_cli("cache", "info", "--cache", str(cache))
    assert "(empty: nothing built yet" in info.output


def test_verify_drops_damaged_entries_once(tmp_path):
    recipe = write_ner_workload(tmp_path, 300)
    cache = tmp_path / "cache"
    assert build_into(recipe, cache, tmp_path / "out").exit_code == 0
    damage(cache, f"chunk/{plan_recipe(recipe).node('ner/map').fingerprint}/main/0")

    first = run_cli("cache", "verify", "--cache", str(cache))
    second = run_cli("cache", "verify", "--cache", str(cache))

    assert first.exit_code == 0 and "dropped 1 damaged" in first.output
    assert second.exit_code == 0 and "dropped 0 damaged" in second.output
    # 8 metas, 8 record chunks, 3 notes, 1 memo, 1 pass memo, 1 reuse, 1 checked, 2 shards and the write's list of
    # them, less the dropped one
    assert "checked 25 entries" in second.output


def test_a_damaged_llm_answer_is_asked_for_again_and_nothing_else(tmp_path):
    with LLMServer(responder=responder) as srv:
        recipe = write_recipe(tmp_path, srv.base_url)
        assert build_into(recipe, tmp_path / "cache", tmp_path / "out").exit_code == 0
        sent = srv.request_count
        # a second cache with the same LLM answers but no node results: every LLM node runs again
        shutil.copytree(tmp_path / "cache" / "llm", tmp_path / "cache2" / "llm")
        with open_cache(tmp_path / "cache2" / "llm") as llm:
            key = next(iter(llm.keys()))
        damage(tmp_path / "cache2" / "llm", key)

        result = build_into(recipe, tmp_path / "cache2", tmp_path / "out2")

        assert result.exit_code == 0, result.output
        assert srv.request_count == sent + 1
    assert "warning: dropped 1 damaged cache entry" in result.output
    assert tree_bytes(tmp_path / "out2" / "llm-demo" / "data") == tree_bytes(tmp_path / "out" / "llm-demo" / "data")


def test_llm_answers_cached_before_checksums_are_kept_and_rewritten(tmp_path):
    import diskcache

    with diskcache.Cache(str(tmp_path / "llm")) as old:
        old.set(f"{CACHE_VERSION}:abc", {"text": "an answer", "usage": {}})
    with open_cache(tmp_path / "llm") as cache:
        assert cache.get(f"{CACHE_VERSION}:abc") == {"text": "an answer", "usage": {}}
        assert cache.legacy_keys() == [] and list(cache.keys()) == [f"{CACHE_VERSION}:abc"]


EXECUTED: list[int] = []


class Payload:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (EXECUTED.append, (1,))


def test_a_value_with_a_bad_checksum_is_never_unpickled():
    blob = bytearray(encode("k", {"records": [1, 2, 3]}))
    assert decode("k", bytes(blob)) == {"records": [1, 2, 3]}
    with pytest.raises(CorruptEntry):
        decode("other key", bytes(blob))  # a value moved under another key
    evil = encode("k", "x")[:-len(pickle.dumps("x", protocol=pickle.HIGHEST_PROTOCOL))] + pickle.dumps(Payload())
    with pytest.raises(CorruptEntry):
        decode("k", evil)
    assert EXECUTED == []


def test_damaged_values_read_as_missing_and_are_counted(tmp_path):
    with CacheDB(tmp_path / "c") as db:
        db.set("a", [1])
        db.set("b", json.loads('{"x": 2}'))
    damage(tmp_path / "c", "a")
    with CacheDB(tmp_path / "c") as db:
        assert db.get("a") is None and db.get("b") == {"x": 2} and db.dropped == 1
        assert db.get("a") is None and db.dropped == 1  # dropped once, then simply missing


def test_a_template_only_build_caches_at_most_twice_the_size_of_its_output(tmp_path):
    """Passed-through records (check, merge, dedup, split) are stored as references to the records rendered,
    and chunks are compressed by column: the whole cache stays within 2× the dataset it built."""
    from humc.cachedb import folder_bytes

    recipe = write_ner_workload(tmp_path, 2500)
    result = build_into(recipe, tmp_path / "cache", tmp_path / "out")
    assert result.exit_code == 0 and "2500" in result.output
    cache, out = folder_bytes(tmp_path / "cache"), folder_bytes(tmp_path / "out")
    assert out > 50_000 and cache <= 2 * out, (cache, out)


def test_a_chunk_another_node_refers_to_is_repaired_when_damaged(tmp_path):
    """The check/merge/dedup/split nodes refer to the records of the render node; when a render chunk is
    damaged, reading through the references finds it missing, and the rebuild recomputes that chunk only."""
    recipe = two_tasks(tmp_path)
    assert build_into(recipe, tmp_path / "cache", tmp_path / "out").exit_code == 0
    before = tree_bytes(tmp_path / "out")
    plan = plan_recipe(recipe, out_dir=tmp_path / "out", cache_dir=tmp_path / "cache")
    damage(tmp_path / "cache", f"chunk/{plan.node('a/render').fingerprint}/main/1")
    shutil.rmtree(tmp_path / "out")
    again = build_into(recipe, tmp_path / "cache", tmp_path / "out")
    assert again.exit_code == 0 and "damaged" in again.output
    assert tree_bytes(tmp_path / "out") == before


@pytest.mark.parametrize("value", [
    [{"a": 1, "b": "x" * 5000}, {"b": "y", "a": 2}, {"c": None}, {}],   # keys in another order, other shapes
    [{"a": 1}] * 3000,                                                   # the same record many times
    ["not", "records"] * 2000,                                           # a list, not of records
    {"meta": "x" * 9000},                                                # not a list
    [{1: "non-string key", "s": "x" * 5000}],
])
def test_compressed_values_read_back_exactly(value):
    blob = encode("k", value, compress=True)
    assert decode("k", blob) == value and len(blob) < len(pickle.dumps(value))
    assert [list(r) for r in decode("k", blob)] == [list(r) for r in value] if isinstance(value, list) and \
        isinstance(value[0], dict) else True                             # every record keeps its key order
    damaged = bytearray(blob)
    damaged[len(damaged) // 2] ^= 0xFF
    with pytest.raises(CorruptEntry):
        decode("k", bytes(damaged))


def test_small_values_are_stored_as_they_are_even_in_a_compressing_cache():
    for value in ([{"a": 1}], {"chunks": {"main": 3}}, []):
        blob = encode("k", value, compress=True)
        assert blob.startswith(b"hc1\x00") and decode("k", blob) == value


def test_record_chunks_written_column_by_column_by_an_earlier_humc_still_load():
    import pickle
    import struct

    import pyarrow

    from humc import cachedb

    records = [{"a": "x", "b": 1}, {"b": 2, "a": "y"}, {"c": None}] * 200
    # the layout humc 0.1 wrote: each key tuple once, each record's key tuple by index, one list per key
    shapes = [("a", "b"), ("b", "a"), ("c",)]
    columns = {key: [r[key] for r in records if key in r] for key in ("a", "b", "c")}
    payload = pickle.dumps((shapes, [0, 1, 2] * 200, columns), protocol=pickle.HIGHEST_PROTOCOL)
    packed = struct.pack("<Q", len(payload)) + pyarrow.Codec("zstd").compress(payload, asbytes=True)
    blob = cachedb.CMAGIC + cachedb._digest("k", packed) + packed
    loaded = cachedb.decode("k", blob)
    assert loaded == records and [list(r) for r in loaded[:2]] == [["a", "b"], ["b", "a"]]  # keys keep their order
    assert cachedb.decode("k", cachedb.encode("k", records, compress=True)) == records
    same_keys = pickle.dumps(([("a", "b")], [0, 0], {"a": ["x", "y"], "b": [1, 2]}), protocol=pickle.HIGHEST_PROTOCOL)
    packed = struct.pack("<Q", len(same_keys)) + pyarrow.Codec("zstd").compress(same_keys, asbytes=True)
    assert cachedb.decode("k", cachedb.CMAGIC + cachedb._digest("k", packed) + packed) == [{"a": "x", "b": 1},
                                                                                          {"a": "y", "b": 2}]


_RECORDS = st.lists(st.dictionaries(st.sampled_from(["instruction", "output", "labels", "_kind"]),
                                    st.one_of(st.text(), st.integers(), st.lists(st.text(), max_size=3)), max_size=4),
                    max_size=40)


@given(records=_RECORDS, compress=st.booleans(), key=st.text(max_size=20))
def test_a_value_packed_elsewhere_is_stored_as_the_cache_encodes_it(records, compress, key):
    """A render worker packs its chunk (``pack``) and the main process seals it under its key: the stored bytes read
    back as the value, as ``encode``'s do, and ``unpack`` gives the value without the key."""
    packed = pack(records, compress=compress)
    assert decode(key, seal(key, packed)) == records == decode(key, encode(key, records, compress=compress))
    assert unpack(packed) == records


def test_a_large_value_is_packed_compressed_when_the_cache_compresses():
    records = [{"instruction": f"text {k} " * 20} for k in range(100)]
    assert pack(records, compress=True)[0] == b"hc1z" and pack(records)[0] == b"hc1\x00"
    assert len(pack(records, compress=True)[1]) < len(pack(records)[1]) / 4
