"""The corpus pass memo a render worker works out (``corpus.WorkerMemo``, stored by ``Executor._put_pass_memo``) and
the records it sends packed (``cachedb.pack``): a build with workers writes the bytes, notes and problems of a
one-process build, and every memo it stores is the one ``corpus.pass_chunks`` computes from the stored chunks —
with problem records dropped (a whole chunk of them too), duplicates across chunks and entries, key prefixes that
collide, `split_by:`, a build killed between a check chunk and its memo, and a worker memo that fails."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import humc.build.corpus as corpus
import humc.build.execute as execute
from humc.build.compiler import build, plan_recipe
from humc.build.plan import Plan
from humc.build.store import Store, chunk_key
from tests.helpers import pass_memos, tree_bytes

ROWS = 120  # 6 chunks of 20


def _recipe(folder: Path, output: str = "", schema: str = "{negatives: 1}") -> Path:
    """Two NER entries over one source whose 120 rows repeat every 30 (duplicates across chunks and entries)."""
    folder.mkdir(parents=True)
    with open(folder / "src.jsonl", "w", encoding="utf-8") as f:
        for i in range(ROWS):
            k = i % 30
            f.write(json.dumps({"text": f"Item {k} was sold by Acme{k % 7} in City{k % 5}.",
                                "ents": [{"type": "ORG", "span": f"Acme{k % 7}"},
                                         {"type": "LOC", "span": f"City{k % 5}"}]}) + "\n")
    (folder / "eval.jsonl").write_text(json.dumps({"t": "Item 4 was sold by Acme4"}) + "\n", encoding="utf-8")
    recipe = folder / "r.hum.yaml"
    recipe.write_text(f"""hum: 1
name: memo
sources: {{s: src.jsonl}}
tasks:
  - {{id: ner, task: ner, source: s, fields: {{text: text, entities: ents}}, labels: [ORG, LOC, PER], schema: {schema},
     formats: [json, tuples], split_by: text}}
  - {{id: ner2, task: ner, source: s, fields: {{text: text, entities: ents}}, formats: [json, natural],
     variants_per_record: 2}}
output:
  splits: {{train: 0.7, test: 0.3}}
  shard_rows: 50
{output}""", encoding="utf-8")
    return recipe


@pytest.fixture
def flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small chunks, and a check that drops every 7th row's instructions and all of rows 40-59 (chunk 2: none kept)."""
    monkeypatch.setattr(execute, "CHUNK_SIZE", 20)
    real = execute.check_rendered

    def check(entry, record):  # type: ignore[no-untyped-def]
        if record["source_row"] % 7 == 0 or 40 <= record["source_row"] < 60:
            return execute.Problem("output_differs", f"flagged row {record['source_row']}")
        return real(entry, record)

    monkeypatch.setattr(execute, "check_rendered", check)


@pytest.fixture
def worker_memos(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """(check node, chunk) of each memo stored from what a render worker worked out."""
    stored: list[tuple[str, int]] = []
    real = execute.Executor._put_pass_memo

    def spy(self, render, check, i, rendered, kept, memo):  # type: ignore[no-untyped-def]
        stored.append((check[0].id, i))
        real(self, render, check, i, rendered, kept, memo)

    monkeypatch.setattr(execute.Executor, "_put_pass_memo", spy)
    return stored


def _build(recipe: Path, tag: str, jobs: int) -> tuple[Plan, dict[str, bytes], dict[str, Any]]:
    plan = plan_recipe(recipe, out_dir=recipe.parent / f"out{tag}", cache_dir=recipe.parent / f"cache{tag}")
    stats = {s.node: (s.status, s.records_in, s.records_out, s.notes, s.problems) for s in build(plan, jobs=jobs).stats}
    return plan, tree_bytes(recipe.parent / f"out{tag}" / "memo"), stats


def test_workers_store_the_memos_of_a_one_process_build_and_write_its_bytes(tmp_path, flagged, worker_memos,
                                                                            monkeypatch):
    monkeypatch.setattr(corpus, "PREFIX", 1)  # 256 prefixes for ~400 records: dedup compares full keys often
    recipe = _recipe(tmp_path / "r")
    plan, one, one_stats = _build(recipe, "1", jobs=1)
    assert worker_memos == []
    _, many, many_stats = _build(recipe, "2", jobs=2)
    assert many == one and many_stats == one_stats and len(one) > 3
    assert one_stats["corpus/dedup"][3]["duplicates removed"] > 10
    assert one_stats["ner/check"][3] == {"problem: output_differs": 20 + 15}
    assert sorted(worker_memos) == [(c, i) for c in ("ner/check", "ner2/check") for i in range(ROWS // 20)]
    memos = pass_memos(plan, tmp_path / "r" / "cache2")
    assert all(memo is not None for memos in memos.values() for memo in memos)
    assert memos["ner/check"][2]["places"] == []  # the chunk whose records were all dropped
    assert memos == pass_memos(plan, tmp_path / "r" / "cache1") == pass_memos(plan, tmp_path / "r" / "cache2", fresh=True)


def test_no_memo_is_worked_out_for_a_pass_that_reads_the_text_or_a_check_the_pass_does_not_read(
        tmp_path, flagged, worker_memos):
    recipe = _recipe(tmp_path / "d", output="  decontaminate: {against: [eval.jsonl], ngram: 4}\n")
    plan, one, one_stats = _build(recipe, "1", jobs=1)
    _, many, many_stats = _build(recipe, "2", jobs=2)
    assert many == one and many_stats == one_stats and one_stats["corpus/decontaminate"][3]["contaminated removed"]
    assert worker_memos == [] and not execute.reads_pass_memo(plan, plan.node("ner2/check"))
    assert pass_memos(plan, tmp_path / "d" / "cache2") == pass_memos(plan, tmp_path / "d" / "cache1")  # none stored
    ratio = plan_recipe(_recipe(tmp_path / "n", schema='{split_num: 2, negative_ratio: "1:1"}'))
    assert [execute.reads_pass_memo(ratio, ratio.node(n)) for n in ("ner/check", "ner2/check")] == [False, True]


class _Killed(BaseException):
    """The build process killed."""


def test_a_build_killed_between_a_check_chunk_and_its_memo_resumes_as_one_process(tmp_path, flagged, monkeypatch):
    recipe = _recipe(tmp_path / "k")
    plan, one, one_stats = _build(recipe, "1", jobs=1)
    real = execute.Executor._put_pass_memo

    def killed_at_3(self, render, check, i, rendered, kept, memo):  # type: ignore[no-untyped-def]
        if i == 3:
            raise _Killed
        real(self, render, check, i, rendered, kept, memo)

    monkeypatch.setattr(execute.Executor, "_put_pass_memo", killed_at_3)
    with pytest.raises(_Killed):
        _build(recipe, "2", jobs=2)
    store = Store(tmp_path / "k" / "cache2")
    try:  # chunk 3 of the check is stored (its notes commit it), its memo is not
        check = plan.node("ner/check").fingerprint
        assert execute.saved_chunk(store, check, 3) is not None
        assert [store.cache.get(chunk_key(check, corpus.PASS_MEMO, i)) is None for i in (2, 3)] == [False, True]
    finally:
        store.close()
    monkeypatch.setattr(execute.Executor, "_put_pass_memo", real)
    _, many, many_stats = _build(recipe, "2", jobs=2)
    assert many == one and {k: v[1:] for k, v in many_stats.items()} == {k: v[1:] for k, v in one_stats.items()}
    assert many_stats["ner/check"][0] == "resumed"
    memos = pass_memos(plan, tmp_path / "k" / "cache2")
    assert memos == pass_memos(plan, tmp_path / "k" / "cache1") == pass_memos(plan, tmp_path / "k" / "cache2", fresh=True)


def test_a_worker_memo_that_fails_is_worked_out_by_the_pass(tmp_path, flagged, worker_memos, monkeypatch):
    real = corpus.WorkerMemo.of

    def failing(records):  # type: ignore[no-untyped-def]
        if any(record["source_row"] == 70 for record in records):
            raise ValueError("the memo broke")
        return real(records)

    monkeypatch.setattr(corpus.WorkerMemo, "of", failing)
    recipe = _recipe(tmp_path / "f")
    plan, one, one_stats = _build(recipe, "1", jobs=1)
    _, many, many_stats = _build(recipe, "2", jobs=2)
    assert many == one and many_stats == one_stats
    assert sorted(worker_memos) == [(c, i) for c in ("ner/check", "ner2/check") for i in range(ROWS // 20) if i != 3]
    memos = pass_memos(plan, tmp_path / "f" / "cache2")
    assert memos == pass_memos(plan, tmp_path / "f" / "cache1") == pass_memos(plan, tmp_path / "f" / "cache2", fresh=True)
