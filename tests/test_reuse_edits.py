"""Record-level reuse and the corpus tail, against a cold build: edits of the where filter, of source rows and of
templates, a template that now fails for some records, a renderer of another release, dedup keys, lone surrogates;
render workers: fork policy, Ctrl-C, dying with a killed build."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

import humc.build.corpus as corpus
import humc.build.execute as execute
import humc.build.reuse as reuse
from humc.build.compiler import build, plan_recipe
from humc.errors import HumcError

RECIPE = """hum: 1
name: big
stdlib: [.]
sources:
  s: big.jsonl
tasks:
  - id: ner
    task: ner
    source: s
    fields: {text: text, entities: ents}
    formats: [inline_tags]
    templates: [t0, t1]
    variants_per_record: 1
output:
  splits: {train: 1.0}
"""


def _workload(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "big.jsonl", "w", encoding="utf-8") as f:
        for i in range(60):
            if i % 6 == 0:  # overlapping spans: the inline_tags variant cannot write it (not_expressible, dropped)
                f.write(json.dumps({"text": f"BAD {i}: Acme Corp{i} sells.",
                                    "ents": [{"type": "ORG", "span": f"Acme Corp{i}"}, {"type": "LOC", "span": "Acme"}]}) + "\n")
            else:
                f.write(json.dumps({"text": f"Item {i} was sold by Acme{i} in City{i}.",
                                    "ents": [{"type": "ORG", "span": f"Acme{i}"}, {"type": "LOC", "span": f"City{i}"}]}) + "\n")
    (folder / "templates" / "ner").mkdir(parents=True, exist_ok=True)
    for k in range(2):
        (folder / "templates" / "ner" / f"t{k}.j2").write_text(
            f"Template {k}. Types: {{{{ labels | join(', ') }}}}\n{{{{ format_instruction }}}}\nText: {{{{ text }}}}\n")
    (folder / "big.hum.yaml").write_text(RECIPE, encoding="utf-8")


def _run(folder: Path) -> object:
    plan = plan_recipe(folder / "big.hum.yaml", out_dir=folder / "out", cache_dir=folder / "cache")
    return build(plan, jobs=1)


def test_a_template_edit_that_fails_for_some_records_fails_the_warm_build_like_a_cold_one(tmp_path: Path) -> None:
    """Records whose instructions were all dropped after their template was rendered (not_expressible) still count
    as having used that template: after it is edited they are rendered again, and its new error is raised."""
    warm = tmp_path / "warm"
    _workload(warm)
    result = _run(warm)
    render = next(s for s in result.stats if s.node == "ner/render")  # type: ignore[attr-defined]
    assert render.notes.get("problem: not_expressible", 0) > 0
    broken = "{% if 'BAD' in text %}{{ 1 // 0 }}{% endif %}Template 1 edited.\n{{ format_instruction }}\nText: {{ text }}\n"
    (warm / "templates" / "ner" / "t1.j2").write_text(broken)
    cold = tmp_path / "cold"
    shutil.copytree(warm, cold, ignore=shutil.ignore_patterns("out", "cache"))
    with pytest.raises(HumcError) as cold_error:
        _run(cold)
    assert cold_error.value.code == "E4202"
    with pytest.raises(HumcError) as warm_error:  # the same recipe and sources with the earlier build's cache
        _run(warm)
    assert warm_error.value.code == "E4202"


def test_dedup_keeps_two_different_records_whose_texts_differ_around_a_nul() -> None:
    """The dedup key is length-prefixed: ("a\\x00b", "c") and ("a", "b\\x00c") are different records."""
    one, other = {"instruction": "Text: a\x00b", "output": "c"}, {"instruction": "Text: a", "output": "b\x00c"}
    assert corpus.dedup_key(one) != corpus.dedup_key(other), "a different record would be removed as a duplicate"
    assert corpus.dedup_key(one) == corpus.dedup_key({"instruction": " Text: a\x00b\n", "output": "c "})


# ---------------------------------------------------------------- warm (record-level reuse) == cold, over edits

DESIGN = """hum: 1
name: d
constants: {{min_len: 0}}
sources:
  s: ents.jsonl
tasks:
  - id: ner
    task: ner
    source: s
    fields: {{text: text, entities: ents}}
    where: {where}
    labels: [PER, ORG, LOC, MISC, DATE, EVENT, PRODUCT, LAW]
    schema: {{negatives: 3, split_num: 3, hard_negatives: {{ORG: [LOC]}}}}
    guidelines: [span_boundaries, d_types]
    preferences: [order_entities_by_position, empty_brackets]
    templates: [t0, t1, t2]
    formats: [json, tuples, natural]
    variants_per_record: 2
  - id: ner2
    task: ner
    source: s
    fields: {{text: text, entities: ents}}
    schema: {{negatives: 1}}
    templates: [t0, t1]
    formats: [json, tuples]
output:
  splits: {{train: 0.7, test: 0.3}}
"""


def _design_source(path: Path, rows: int, edited: set[int] = frozenset()) -> None:  # type: ignore[assignment]
    labels = ["PER", "ORG", "LOC", "MISC", "DATE", "EVENT", "PRODUCT", "LAW"]
    with open(path, "w", encoding="utf-8") as f:
        for i in range(rows):
            ents = [] if i % 7 == 0 else [{"type": labels[(i + k) % 8], "span": f"Thing{i}x{k}"} for k in range(1 + i % 3)]
            word = "names" if i in edited else "mentions"
            f.write(json.dumps({"text": f"Sentence {i} {word} " + " and ".join(e["span"] for e in ents) + ".",
                                "ents": ents}) + "\n")


def _design(folder: Path, where: str = "len(text) > 0", edited: set[int] = frozenset(),  # type: ignore[assignment]
            t1: str = "Template 1.", people: str = "people") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "guidelines").mkdir(exist_ok=True)
    (folder / "guidelines" / "d_types.yaml").write_text(
        f"id: d_types\ntitle: Types\nlabels:\n  PER: {people}\n  ORG: organisations\n  LOC: places\n")
    (folder / "templates" / "ner").mkdir(parents=True, exist_ok=True)
    for k, head in enumerate(["Template 0.", t1, "Template 2."]):
        (folder / "templates" / "ner" / f"t{k}.j2").write_text(
            f"{head} Types: {{{{ labels | join(', ') }}}}\n{{{{ format_instruction }}}}\nText: {{{{ text }}}}\n")
    _design_source(folder / "ents.jsonl", 300, edited)
    (folder / "d.hum.yaml").write_text("stdlib: [.]\n" + DESIGN.format(where=json.dumps(where)), encoding="utf-8")


def _tree(folder: Path, jobs: int = 1) -> dict[str, bytes]:
    plan = plan_recipe(folder / "d.hum.yaml", out_dir=folder / "out", cache_dir=folder / "cache")
    build(plan, jobs=jobs)
    return {str(p.relative_to(folder / "out")): p.read_bytes() for p in sorted((folder / "out").rglob("*")) if p.is_file()}


@pytest.mark.parametrize("edit", [
    {"where": "contains(text, '1')"},
    {"edited": {3, 50, 51, 200}},
    {"t1": "Template one!"},
    {"where": "not contains(text, '2')", "edited": {10, 11}, "t1": "T1 again"},
    {"people": "persons, real or fictional"},
    {"people": "humans", "edited": {7, 8}, "t1": "T1 once more"},
])
def test_a_warm_build_after_an_edit_writes_what_a_cold_build_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    edit: dict[str, object]) -> None:
    monkeypatch.setattr(execute, "CHUNK_SIZE", 40)
    warm, cold = tmp_path / "warm", tmp_path / "cold"
    _design(warm)
    _tree(warm)
    _design(warm, **edit)  # type: ignore[arg-type]
    _design(cold, **edit)  # type: ignore[arg-type]
    assert _tree(warm, jobs=2) == _tree(cold)


def _count_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts of whole renders of a record, renders of its texts alone and checks of an instruction, from now on."""
    calls = {"render": 0, "retext": 0, "check": 0}

    def counting(name: str, fn: Any) -> Any:
        def counted(*args: Any) -> Any:
            calls[name] += 1
            return fn(*args)
        return counted

    monkeypatch.setattr(execute, "render_checked", counting("render", execute.render_checked))
    monkeypatch.setattr(reuse, "retexted", counting("retext", reuse.retexted))
    monkeypatch.setattr(execute, "check_rendered", counting("check", execute.check_rendered))
    return calls


def test_a_template_edit_renders_the_texts_of_the_records_that_chose_it_and_whole_those_with_a_problem(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A record one of whose instructions was dropped (not_expressible: the problem might have been in the text)
    is rendered whole again; the others only have their texts rendered again. The output is a cold build's."""
    warm, cold = tmp_path / "warm", tmp_path / "cold"
    _workload(warm)
    _run(warm)
    calls = _count_calls(monkeypatch)
    for k in range(2):  # every record chose one of these
        path = warm / "templates" / "ner" / f"t{k}.j2"
        path.write_text(path.read_text().replace("Types:", "Entity types:"))
    shutil.copytree(warm, cold, ignore=shutil.ignore_patterns("out", "cache"))
    _run(warm)
    assert calls == {"render": 10, "retext": 50, "check": 0}  # the 10 BAD rows gave no instruction (dropped)
    _run(cold)
    assert [p.read_bytes() for p in sorted((warm / "out").rglob("*.parquet"))] == \
        [p.read_bytes() for p in sorted((cold / "out").rglob("*.parquet"))]


def test_a_guideline_edit_renders_only_the_texts_again_and_checks_nothing_again(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A guideline is in the text of every instruction of its entry, and in nothing else: each instruction whose
    record gave no problem gets its text rendered again (``rendering.retexted``) and keeps the rest, and the check
    keeps it unchecked, as the earlier check passed it with the same check fields (``reuse.PriorChecks``). A record
    that had a dropped instruction is rendered whole. A source edit renders and checks the changed rows only."""
    monkeypatch.setattr(execute, "CHUNK_SIZE", 40)
    calls = _count_calls(monkeypatch)
    _design(tmp_path)
    before = _tree(tmp_path)
    cold = dict(calls)
    assert cold["render"] == 600 and cold["retext"] == 0 and cold["check"] > 1000
    calls.update(render=0, retext=0, check=0)
    _design(tmp_path, people="persons, real or fictional")
    after = _tree(tmp_path)
    assert after != before  # the definition is in every ner instruction
    assert calls == {"render": 0, "retext": 300, "check": 0}  # ner's records; ner2 shows no guideline
    calls.update(render=0, retext=0, check=0)
    _design(tmp_path, people="persons, real or fictional", edited={3, 50})
    _tree(tmp_path)
    assert calls["retext"] == 0 and calls["render"] == 4  # the two rows, in both entries
    assert 0 < calls["check"] < cold["check"] // 20


def test_the_build_summary_says_what_an_edit_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a guideline edit the summary's notes say how many source records had their texts rendered again and how
    many instructions the check kept as passed before; a cold build says nothing of reuse."""
    from tests.helpers import run_cli

    monkeypatch.setenv("COLUMNS", "250")  # one summary row per line

    def rows() -> dict[str, str]:
        result = run_cli("build", "d.hum.yaml", "--out", "out", "--cache", "cache", cwd=tmp_path)
        assert result.exit_code == 0, result.output
        return {node: next(line for line in result.output.splitlines() if f" {node} " in line)
                for node in ("ner/render", "ner/check")}

    _design(tmp_path)
    cold = rows()
    assert not any(word in cold[node] for node in cold for word in ("re-rendered", "reused", "passed before"))
    _design(tmp_path, people="persons, real or fictional")
    warm = rows()
    assert "texts re-rendered: 300" in warm["ner/render"] and "rendered whole" not in warm["ner/render"]
    kept = re.search(r"passed before: (\d+)", warm["ner/check"])
    assert kept is not None and int(kept.group(1)) == int(warm["ner/check"].split("│")[4])  # every instruction


def test_no_render_workers_are_forked_on_macos(monkeypatch: pytest.MonkeyPatch) -> None:
    """macOS offers fork (not as its default), but forking a process that has loaded system frameworks is unsafe:
    humc renders in one process there."""
    import sys

    from humc.build import parallel

    monkeypatch.setattr(sys, "platform", "darwin")
    assert parallel.workers_for("render", 4, 10) == 0


def test_records_rendered_by_another_humc_are_not_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The render shape covers humc's version: after an upgrade that renders differently, a 1-row source edit does
    not mix the old renderer's records with the new one's. (Simulated: the "new humc" suffixes every instruction.)"""
    from humc.build import rendering

    monkeypatch.setattr(execute, "CHUNK_SIZE", 40)
    warm = tmp_path / "warm"
    _design(warm)
    _tree(warm)  # "old humc"
    real = rendering.render_template
    monkeypatch.setattr(rendering, "render_template", lambda *a, **k: real(*a, **k) + " (v2)")
    monkeypatch.setattr("humc.__version__", "9.9.9")  # a new release (the manifest records it)
    _design(warm, edited={5})
    cold = tmp_path / "cold"
    _design(cold, edited={5})
    assert _tree(warm) == _tree(cold)


def test_killing_a_build_leaves_no_render_workers_behind(tmp_path: Path) -> None:
    """kill -9 of humc (an OOM kill, `timeout`, a cancelled CI job) while it renders on worker processes: the workers
    die with it (PR_SET_PDEATHSIG), none is left waiting on the task queue."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.helpers import REPO, write_ner_workload

    write_ner_workload(tmp_path, 20000, shard_rows=5000)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "humc", "build", str(tmp_path / "big.hum.yaml"), "-q", "--jobs", "2",
                             "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache")], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    workers: list[str] = []
    for _ in range(1200):  # until the render's workers are forked
        time.sleep(0.05)
        workers = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        if len(workers) >= 2 or proc.poll() is not None:
            break
    assert len(workers) >= 2, "the render never started its workers"
    proc.kill()
    proc.wait()

    def running(pid: str) -> bool:  # a zombie is dead, only not yet reaped by whoever adopted it
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return False

    left = workers
    for _ in range(20):  # PDEATHSIG kills them at once: within the 2 s this test always allowed
        left = [w for w in workers if running(w)]
        if not left:
            break
        time.sleep(0.1)
    for w in left:  # clean up what this test started
        os.kill(int(w), signal.SIGKILL)
    assert not left, f"render workers {left} outlived the killed build"


def test_a_lone_surrogate_in_a_field_the_output_does_not_show_still_builds(tmp_path: Path) -> None:
    """JSON may escape a lone surrogate ("\\ud800", scraped text with a broken emoji): a mapped field the output
    does not show (only `where:` reads it) may hold one, and the record's digest (reuse.py) still takes it."""
    from tests.helpers import run_cli

    (tmp_path / "data.jsonl").write_text(
        '{"context": "Paris is in France.", "question": "Where is Paris?", "answers": ["France"], "note": "bad \\ud800"}\n'
        '{"context": "Rome is in Italy.", "question": "Where is Rome?", "answers": ["Italy"], "note": "ok"}\n')
    (tmp_path / "tiny.hum.yaml").write_text("""hum: 1
name: tiny
sources:
  qa: data.jsonl
tasks:
  - id: qa
    task: mrc_extractive
    source: qa
    fields: {context: context, question: question, answers: answers, note: note}
    where: len(note) > 0
    formats: [json, natural]
""")
    result = run_cli("build", str(tmp_path / "tiny.hum.yaml"), "-q", "--out", str(tmp_path / "out"),
                     "--cache", str(tmp_path / "cache"), "--jobs", "1", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "tiny" / "data").is_dir()


def test_render_workers_leave_ctrl_c_to_the_build() -> None:
    """A worker ignores SIGINT (the build shuts the pool down, no worker prints a traceback) and knows its parent."""
    import os
    import signal

    from humc.build.parallel import WorkerPool

    with WorkerPool(lambda chunk: [signal.getsignal(signal.SIGINT) == signal.SIG_IGN, os.getppid()], 1) as pool:
        ignored, parent = pool.submit([]).result()
    assert ignored is True and parent == os.getpid()
