"""Render on worker processes (``build/parallel.py``) and the one-pass corpus tail: faster, never different."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import humc.build.corpus as corpus
import humc.build.execute as execute
import humc.build.reuse as reuse
from humc.build.compiler import build, plan_recipe
from humc.build.parallel import JOBS_ENV, default_jobs, workers_for
from humc.build.store import Store, chunk_key
from humc.errors import HumcError
from tests.helpers import run_cli, tree_bytes, write_ner_workload


def _build(folder: Path, rows: int, jobs: int, **kw: object) -> tuple[dict[str, bytes], dict[str, tuple[str, int, int]]]:
    recipe = folder / "big.hum.yaml"
    if not recipe.exists():
        folder.mkdir(parents=True, exist_ok=True)
        write_ner_workload(folder, rows, shard_rows=150)
    plan = plan_recipe(recipe, out_dir=folder / "out", cache_dir=folder / "cache")
    result = build(plan, jobs=jobs, **kw)  # type: ignore[arg-type]
    stats = {s.node: (s.status, s.records_in, s.records_out) for s in result.stats}
    return tree_bytes(folder / "out" / "big"), stats


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(execute, "CHUNK_SIZE", 40)  # 300 rows: 8 chunks to render


def test_rendering_on_worker_processes_writes_the_bytes_of_a_one_process_build(tmp_path, small_chunks):
    one, one_stats = _build(tmp_path / "one", 300, jobs=1)
    many, many_stats = _build(tmp_path / "many", 300, jobs=3)
    assert one == many and len(one) > 3
    assert one_stats == many_stats and many_stats["ner/render"] == ("built", 300, 600)
    assert many_stats["ner/check"][0] == "built"  # computed chunk by chunk behind the render, counted as built


def _flagging_check(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The check, failing every 7th source row's instructions; returns the pids of the calls made in this process
    (a forked worker appends to its own copy of the list)."""
    calls: list[int] = []
    real = execute.check_rendered

    def check(entry, record):  # type: ignore[no-untyped-def]
        calls.append(os.getpid())
        if record["source_row"] % 7 == 0:
            return execute.Problem("output_differs", f"flagged row {record['source_row']}")
        return real(entry, record)

    monkeypatch.setattr(execute, "check_rendered", check)
    return calls


def _checked_build(folder: Path, jobs: int) -> tuple[dict[str, bytes], dict[str, object], dict[str, object]]:
    folder.mkdir()
    write_ner_workload(folder, 300, shard_rows=150)
    plan = plan_recipe(folder / "big.hum.yaml", out_dir=folder / "out", cache_dir=folder / "cache")
    stat = next(s for s in build(plan, jobs=jobs).stats if s.node == "ner/check")
    return tree_bytes(folder / "out" / "big"), stat.notes, stat.problems


def test_render_workers_check_what_they_render_and_the_build_is_that_of_one_process(tmp_path, small_chunks,
                                                                                    monkeypatch):
    calls = _flagging_check(monkeypatch)
    one = _checked_build(tmp_path / "one", jobs=1)
    assert len(calls) == 600  # one process: every instruction checked here
    calls.clear()
    many = _checked_build(tmp_path / "many", jobs=3)
    assert calls == []  # with workers the main process checks nothing: it stores, and the workers check
    assert many == one
    out, notes, problems = many
    assert notes["problem: output_differs"] == 2 * len(range(0, 300, 7)) and len(out) > 3
    assert problems["output_differs"][0][:2] == ["s", 0]  # the source, row 0: its first location


def test_a_check_that_fails_in_a_render_worker_fails_in_the_check_node_as_in_one_process(tmp_path, small_chunks,
                                                                                          monkeypatch):
    def check(entry, record):  # type: ignore[no-untyped-def]
        if record["source_row"] == 123:
            raise RuntimeError("the check broke on row 123")
        return None

    monkeypatch.setattr(execute, "check_rendered", check)
    for jobs in (1, 3):
        with pytest.raises(RuntimeError, match="row 123"):
            _checked_build(tmp_path / f"j{jobs}", jobs=jobs)
        store = Store(tmp_path / f"j{jobs}" / "cache")
        plan = plan_recipe(tmp_path / f"j{jobs}" / "big.hum.yaml", cache_dir=tmp_path / f"j{jobs}" / "cache")
        try:  # the render is whole, the check is not
            assert store.meta(plan.node("ner/render").fingerprint) is not None
            assert store.meta(plan.node("ner/check").fingerprint) is None
        finally:
            store.close()


def test_render_workers_work_out_the_corpus_pass_memo_the_main_process_would(tmp_path, small_chunks, monkeypatch):
    """The dedup keys' prefixes and slim columns of what the check kept, worked out where the records were rendered:
    the main process hashes no record, and the memo is the one the corpus pass computes from the stored chunks."""
    calls = _flagging_check(monkeypatch)  # drops every 7th row's records: the memo covers the records kept
    hashed: list[int] = []
    real_key = corpus.dedup_key
    monkeypatch.setattr(corpus, "dedup_key", lambda record: hashed.append(os.getpid()) or real_key(record))
    many = _checked_build(tmp_path / "many", jobs=3)
    assert calls == [] and hashed == []  # the workers checked and hashed: the main process neither
    assert many == _checked_build(tmp_path / "one", jobs=1)
    hashed.clear()  # the one-process build hashed here
    plan = plan_recipe(tmp_path / "many" / "big.hum.yaml", out_dir=tmp_path / "x", cache_dir=tmp_path / "many" / "cache")
    check = plan.node("ner/check").fingerprint
    store = Store(tmp_path / "many" / "cache")
    try:
        memos = [store.cache.get(chunk_key(check, corpus.PASS_MEMO, i)) for i in range(store.chunk_count(check))]
        for i in range(len(memos)):
            store.cache.delete(chunk_key(check, corpus.PASS_MEMO, i))
        fresh = list(corpus.pass_chunks(store, check, text=False))  # the chunks read back, hashed here
        assert [store.cache.get(chunk_key(check, corpus.PASS_MEMO, i)) for i in range(len(memos))] == memos
        assert len(hashed) == sum(len(chunk.places) for chunk in fresh) < 600  # the flagged rows' records dropped
    finally:
        store.close()


def test_a_resumed_parallel_render_recomputes_only_the_missing_chunks(tmp_path, small_chunks):
    folder = tmp_path / "b"
    cold, _ = _build(folder, 300, jobs=2)
    plan = plan_recipe(folder / "big.hum.yaml", out_dir=folder / "out", cache_dir=folder / "cache")
    render = plan.node("ner/render")
    store = Store(folder / "cache")
    try:
        for i in (2, 5):  # drop two chunks (their notes, the commit) and every node from the render on
            store.cache.delete(chunk_key(render.fingerprint, "notes", i))
        for node in plan.nodes[plan.nodes.index(render):]:
            store.invalidate(node.fingerprint)
    finally:
        store.close()
    again, stats = _build(folder, 300, jobs=2)
    assert again == cold
    assert stats["ner/render"] == ("resumed", 300, 600)
    assert stats["ner/map"][0] == "cached"


def test_an_error_in_a_worker_is_the_located_error_of_a_one_process_build(tmp_path, small_chunks):
    folder = tmp_path / "w"
    folder.mkdir()
    write_ner_workload(folder, 200, shard_rows=150)
    (folder / "templates" / "ner").mkdir(parents=True)
    (folder / "templates" / "ner" / "boom.j2").write_text("Text: {{ text }}\n{{ 1 // 0 }}\n", encoding="utf-8")
    recipe = folder / "big.hum.yaml"
    recipe.write_text(recipe.read_text().replace("hum: 1\n", "hum: 1\nstdlib: [.]\n")
                      .replace("    variants_per_record: 2\n", "    variants_per_record: 2\n    templates: [boom]\n"))
    results = [run_cli("build", str(recipe), "-q", "--jobs", jobs, cwd=folder) for jobs in ("1", "2")]
    for result in results:
        assert result.exit_code == 2, result.output
        assert "E4202" in result.output and "boom" in result.output and "Traceback" not in result.output
    assert results[0].output == results[1].output
    assert not (folder / "out").exists()


def test_the_corpus_tail_runs_in_one_pass_and_commits_every_node(tmp_path, small_chunks):
    _, stats = _build(tmp_path / "t", 300, jobs=1)
    assert [stats[n][0] for n in ("corpus/merge", "corpus/dedup", "corpus/split")] == ["built"] * 3
    assert stats["corpus/merge"][1:] == stats["corpus/dedup"][1:] == (600, 600)
    plan = plan_recipe(tmp_path / "t" / "big.hum.yaml", out_dir=tmp_path / "t" / "out", cache_dir=tmp_path / "t" / "cache")
    store = Store(tmp_path / "t" / "cache")
    try:
        assert all(store.meta(plan.node(n).fingerprint) is not None for n in ("corpus/merge", "corpus/dedup", "corpus/split"))
        # the split refers to the rendered records themselves, one level down, not through merge and dedup
        split = plan.node("corpus/split").fingerprint
        refs = store.cache.get(chunk_key(split, "train", 0))["refs"]
        assert {ref[0] for ref in refs} == {plan.node("ner/render").fingerprint}
    finally:
        store.close()


def test_stop_after_a_pass_through_node_stops_there(tmp_path, small_chunks):
    _, stats = _build(tmp_path / "s", 100, jobs=1, stop_after="corpus/dedup")
    assert "corpus/split" not in stats and stats["corpus/dedup"][0] == "built"
    _, stats = _build(tmp_path / "s", 100, jobs=1)
    assert stats["corpus/dedup"][0] == "cached" and stats["corpus/split"][0] == "built"


def test_jobs_come_from_the_option_the_environment_or_the_cpus(monkeypatch):
    monkeypatch.setenv(JOBS_ENV, "3")
    assert default_jobs() == 3
    monkeypatch.setenv(JOBS_ENV, "")
    assert default_jobs() == len(os.sched_getaffinity(0))
    monkeypatch.setenv(JOBS_ENV, "zero")  # refused (E9001, tests/test_hostile_input7.py), not quietly one per CPU
    with pytest.raises(HumcError, match="HUMC_JOBS"):
        default_jobs()
    assert workers_for("render", 4, 10) == 4 and workers_for("render", 4, 2) == 2
    assert workers_for("render", 1, 10) == workers_for("render", 4, 1) == workers_for("check", 4, 10) == 0


# ---------------------------------------------------------------- record-level reuse (build/reuse.py)


def _ner_templates(folder: Path) -> None:
    """Three local NER templates, so one can be edited."""
    (folder / "templates" / "ner").mkdir(parents=True, exist_ok=True)
    for k in range(3):
        (folder / "templates" / "ner" / f"t{k}.j2").write_text(f"Template {k}. Types: {{{{ labels | join(', ') }}}}\n"
                                                              f"{{{{ format_instruction }}}}\nText: {{{{ text }}}}\n")
    recipe = folder / "big.hum.yaml"
    recipe.write_text(recipe.read_text().replace("hum: 1\n", "hum: 1\nstdlib: [.]\n")
                      .replace("    variants_per_record: 2\n", "    variants_per_record: 2\n    templates: [t0, t1, t2]\n"))


@pytest.fixture
def rendered_records(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many source records each build renders (counted in render_checked)."""
    counted: list[int] = [0]
    real = execute.render_checked

    def counting(ctx, record):  # type: ignore[no-untyped-def]
        counted[0] += 1
        return real(ctx, record)

    monkeypatch.setattr(execute, "render_checked", counting)
    return counted


def _cold(tmp_path: Path, name: str, source_from: Path, files: dict[str, str]) -> dict[str, bytes]:
    """A cold build, in a fresh folder and cache, of a copy of ``source_from`` with ``files`` replaced."""
    import shutil

    fresh = tmp_path / name
    shutil.copytree(source_from, fresh, ignore=shutil.ignore_patterns("out", "cache"))
    for rel, text in files.items():
        (fresh / rel).write_text(text, encoding="utf-8")
    return _build(fresh, 0, jobs=1)[0]


def test_a_template_edit_renders_only_the_texts_of_the_records_that_chose_that_template(
        tmp_path, small_chunks, rendered_records, monkeypatch):
    """Their draws, answers and labels shown do not depend on the template's text: only their texts are rendered
    again (``rendering.retexted``), and no record is rendered whole."""
    retexted: list[int] = []
    real = reuse.retexted
    monkeypatch.setattr(reuse, "retexted", lambda ctx, record, given: retexted.append(1) or real(ctx, record, given))
    folder = tmp_path / "e"
    folder.mkdir()
    write_ner_workload(folder, 300, shard_rows=150)
    _ner_templates(folder)
    _build(folder, 0, jobs=1)
    assert rendered_records[0] == 300
    chose_t1 = {r["source_row"] for r in pq_records(folder / "out" / "big") if r["template"] == "ner/t1"}
    edited = (folder / "templates" / "ner" / "t1.j2").read_text().replace("Template 1.", "Template one, edited.")
    (folder / "templates" / "ner" / "t1.j2").write_text(edited)
    rendered_records[0] = 0
    out, stats = _build(folder, 0, jobs=1)
    assert rendered_records[0] == 0 and len(retexted) == len(chose_t1) and 0 < len(chose_t1) < 300 * 0.6
    assert stats["ner/render"][1:] == (300, 600)
    records = pq_records(folder / "out" / "big")
    assert sum("Template one, edited." in r["instruction"] for r in records) > 0
    assert not any("Template 1." in r["instruction"] for r in records)
    assert out == _cold(tmp_path, "cold", folder, {})  # byte for byte what a cold build of the edited recipe writes


def test_a_one_percent_source_edit_renders_only_the_changed_records(tmp_path, small_chunks, rendered_records):
    folder = tmp_path / "s"
    folder.mkdir()
    write_ner_workload(folder, 300, shard_rows=150)
    _build(folder, 0, jobs=1)
    lines = (folder / "big.jsonl").read_text().splitlines()
    lines[10] = lines[10].replace("was sold by", "was bought from")
    lines[250] = lines[250].replace("was sold by", "was lent by")
    (folder / "big.jsonl").write_text("\n".join(lines) + "\n")
    rendered_records[0] = 0
    out, stats = _build(folder, 0, jobs=1)
    assert rendered_records[0] == 2 and stats["ner/render"] == ("built", 300, 600)
    assert out == _cold(tmp_path, "cold", folder, {})


def test_reuse_keeps_problem_counts_and_locations(tmp_path, small_chunks, rendered_records):
    folder = tmp_path / "p"
    folder.mkdir()
    write_ner_workload(folder, 120, shard_rows=150)
    lines = (folder / "big.jsonl").read_text().splitlines()
    lines[5] = lines[5].replace('"span": "City5"', '"span": "Nowhere"')  # a span not in its text: dropped
    (folder / "big.jsonl").write_text("\n".join(lines) + "\n")
    _, cold_stats = _build(folder, 0, jobs=1)
    lines[50] = lines[50].replace("was sold by", "was bought from")
    (folder / "big.jsonl").write_text("\n".join(lines) + "\n")
    rendered_records[0] = 0
    plan = plan_recipe(folder / "big.hum.yaml", out_dir=folder / "out", cache_dir=folder / "cache")
    result = build(plan, jobs=1)
    assert rendered_records[0] == 1
    render = next(s for s in result.stats if s.node == "ner/render")
    assert render.notes == {"problem: span_not_in_text": 1} and render.problems["span_not_in_text"][0][:2] == ["s", 5]


def test_entries_with_a_mix_render_whole_chunks_again(tmp_path, small_chunks, rendered_records):
    folder = tmp_path / "m"
    folder.mkdir()
    write_ner_workload(folder, 120, shard_rows=150)
    recipe = folder / "big.hum.yaml"
    recipe.write_text(recipe.read_text().replace("    variants_per_record: 2\n",
                                                 "    variants_per_record: 2\n    mix: {compound: 0.5}\n"))
    _build(folder, 0, jobs=1)
    lines = (folder / "big.jsonl").read_text().splitlines()
    lines[3] = lines[3].replace("was sold by", "was bought from")
    (folder / "big.jsonl").write_text("\n".join(lines) + "\n")
    rendered_records[0] = 0
    out, _ = _build(folder, 0, jobs=1)
    assert rendered_records[0] == 120
    assert out == _cold(tmp_path, "cold", folder, {})


def pq_records(dataset: Path) -> list[dict[str, object]]:
    import pyarrow.parquet as pq

    return [r for path in sorted((dataset / "data").glob("*.parquet")) for r in pq.read_table(path).to_pylist()]


def test_reused_and_freshly_rendered_records_combine_alike_on_worker_processes(tmp_path, small_chunks):
    folder = tmp_path / "w"
    folder.mkdir()
    write_ner_workload(folder, 300, shard_rows=150)
    _ner_templates(folder)
    _build(folder, 0, jobs=3)
    path = folder / "templates" / "ner" / "t2.j2"
    path.write_text(path.read_text().replace("Template 2.", "Template two."))
    out, stats = _build(folder, 0, jobs=3)
    assert stats["ner/render"] == ("built", 300, 600) and stats["ner/check"][0] == "built"
    assert out == _cold(tmp_path, "cold", folder, {})


def test_a_build_collects_cycles_less_often_and_restores_the_setting():
    import gc

    before = gc.get_threshold()
    with execute.bulk_gc(123_456):
        assert gc.get_threshold()[0] == 123_456
        garbage = []
        for _ in range(1000):  # cycles made meanwhile are still collected
            cycle: list[object] = []
            cycle.append(cycle)
            garbage.append(cycle)
        del garbage
        assert gc.collect() >= 999  # (the last one is still named by `cycle`)
    assert gc.get_threshold() == before


HALF_SENT = """
import os, struct, sys
import humc.build.parallel as parallel
from humc.cli import report_error
from humc.errors import HumcError

parallel.STUCK_SECONDS = 0.5
RESULT_PIPE = None

def half_send_then_die(chunk):
    if chunk[0].get("die"):  # as a worker killed in the middle of sending its result: 10 of 1000 bytes
        os.write(RESULT_PIPE, struct.pack("!i", 1000) + b"x" * 10)
        os._exit(1)
    return chunk

try:
    with parallel.WorkerPool(half_send_then_die, 2) as pool:
        RESULT_PIPE = pool.pool._result_queue._writer.fileno()  # read by the workers, forked at the first submit
        assert pool.submit([{"ok": 1}]).result() == [{"ok": 1}]
        pool.submit([{"die": True}]).result()
except HumcError as exc:
    report_error(exc, "text")
print("not reached")
"""


def test_a_worker_dying_while_it_sends_a_result_ends_the_build_with_e4402_instead_of_hanging(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.helpers import REPO

    done = subprocess.run([sys.executable, "-c", HALF_SENT], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 2 and done.stdout == "", (done.stdout, done.stderr)
    assert done.stderr.startswith("error[E4402]: a render worker process ended abruptly"), done.stderr
