"""No silently wrong records: problem records (a label outside `labels:`, a null or non-text input,
a gold item that does not fit the answer columns, an empty answer the format cannot express) are
dropped and counted with their first `file:line` (the true line of the source file); `--strict` / `output: {strict: true}` turns them
into E4103 before anything is written; `humc check` dry-runs the first rows of every source and
reports exactly what `humc build` would."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers import REPO, copy_recipes, run_cli, tree_bytes

from humc.build.checking import check_rendered
from humc.build.compiler import build as run_build
from humc.build.compiler import load_recipe, plan_recipe
from humc.build.problems import Problem
from humc.build.rendering import RenderContext, render_record

# Shapes copied from recipes/data: NER as {text, ents}, SQuAD-like QA rows, Dolly rows.
NER_ROWS = [
    {"text": "Acme hired Ada in Paris.", "ents": [{"type": "ORG", "span": "Acme"}, {"type": "LOC", "span": "Paris"}]},
    {"text": "Bo visited Rome.", "ents": [{"type": "LOC", "span": "Rome"}]},
    {"text": "The Beatles sang.", "ents": [{"type": "MISC", "span": "The Beatles"}]},   # row 2: MISC only
    {"text": "Acme sued Initech.", "ents": ["Acme", "Initech"]},                         # row 3: not {type, span}
    {"text": "Initech is in Oslo.", "ents": [{"type": "ORG", "span": "Initech"}, {"type": "MISC", "span": "x"}]},
]  # row 4: ORG and MISC — a gold row outside `labels:` makes the whole record a problem
QA_ROWS = [
    {"context": "Paris is in France.", "question": "Where is Paris?", "answers": {"text": ["France"]}},
    {"context": "Rome is in Italy.", "question": None, "answers": {"text": ["Italy"]}},       # row 1: null question
    {"context": ["Oslo", "Norway"], "question": "Where?", "answers": {"text": ["Norway"]}},  # row 2: a list
    {"context": "Bern is in Switzerland.", "question": "Where is Bern?", "answers": {"text": ["Switzerland"]}},
]
DOLLY_ROWS = [
    {"instruction": "Name a colour.", "context": "", "response": "Blue.", "category": "open_qa"},
    {"instruction": "Name a fruit.", "context": "", "response": "", "category": "open_qa"},  # row 1: no answer
    {"instruction": "Name a planet.", "context": "", "response": "Mars.", "category": "open_qa"},
]

RECIPE = """hum: 1
name: mixed
sources:
  ner: ner.jsonl
  qa: qa.jsonl
  dolly: dolly.jsonl
tasks:
  - id: ner
    task: ner
    source: ner
    fields: {text: text, entities: ents}
    labels: [ORG, LOC]
    formats: [json]
  - id: qa
    task: mrc_extractive
    source: qa
    fields: {context: context, question: question, answers: answers.text}
    formats: [json]
  - id: dolly
    task: generalist
    source: dolly
    fields: {instruction: instruction, context: context, response: response}
    formats: [json]
output:
  splits: {train: 1.0}
"""

# (node, reason) -> (records, first location): locations are 1-based lines of the JSONL files (row i is line i + 1)
PROBLEMS = {("ner/render", "label_outside_set"): (2, "ner.jsonl:3"), ("ner/render", "bad_gold"): (1, "ner.jsonl:4"),
            ("qa/render", "missing_input"): (1, "qa.jsonl:2"), ("qa/render", "non_text_input"): (1, "qa.jsonl:3"),
            ("dolly/render", "empty_answer"): (1, "dolly.jsonl:2")}
TOTAL = sum(n for n, _ in PROBLEMS.values())


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture()
def work(tmp_path: Path) -> Path:
    write_jsonl(tmp_path / "ner.jsonl", NER_ROWS)
    write_jsonl(tmp_path / "qa.jsonl", QA_ROWS)
    write_jsonl(tmp_path / "dolly.jsonl", DOLLY_ROWS)
    (tmp_path / "mixed.hum.yaml").write_text(RECIPE, encoding="utf-8")
    return tmp_path


def build(work: Path, *extra: str, recipe: str = "mixed.hum.yaml"):
    return run_cli("build", recipe, "--out", "out", "--cache", "cache", *extra, cwd=work)


def test_problem_records_are_dropped_counted_and_located_by_default(work):
    result = build(work)
    assert result.exit_code == 0, result.output
    rows = pq.read_table(work / "out" / "mixed" / "data").to_pylist()
    written = {(r["source"], r["source_row"]) for r in rows}
    assert written == {("ner", 0), ("ner", 1), ("qa", 0), ("qa", 3), ("dolly", 0), ("dolly", 2)}
    assert all("None" not in r["instruction"] and r["output"] not in ("null", "") for r in rows)
    assert f"dropped {TOTAL} problem record(s)" in result.output
    for (node, reason), (n, where) in PROBLEMS.items():
        assert f"{node}: {reason}: {n}" in result.output and f"at {where}" in result.output
    assert "at ner.jsonl:5 (gold label(s) MISC not in `labels:`)" in result.output
    assert "field 'question' is null" in result.output
    again = run_build(plan_recipe(work / "mixed.hum.yaml", out_dir=work / "out", cache_dir=work / "cache"))
    render = next(s for s in again.stats if s.node == "ner/render")
    assert render.status == "cached" and render.notes["gold rows outside labels: removed"] == 2  # MISC rows of 2 and 4
    assert render.problems["bad_gold"][0][:2] == ["ner", 3]                                       # kept in the meta
    card = (work / "out" / "mixed" / "README.md").read_text()
    section = card[card.index("## Dropped records"):]
    assert "| ner/render | label_outside_set | 2 | ner.jsonl:3, ner.jsonl:5 |" in section
    assert "| dolly/render | empty_answer | 1 | dolly.jsonl:2 |" in section


def test_a_quiet_build_still_warns_once_per_reason_with_its_lines(work):
    result = build(work, "-q")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning: dropped")]
    assert "warning: dropped 2 record(s): label_outside_set (ner.jsonl:3, ner.jsonl:5), first: gold label(s) MISC " \
           "not in `labels:`" in warnings
    assert "warning: dropped 1 record(s): missing_input (qa.jsonl:2), first: field 'question' is null" in warnings
    assert len(warnings) == len({reason for _, reason in PROBLEMS})
    assert pq.read_table(work / "out" / "mixed" / "data").num_rows == 6


def test_strict_flag_fails_with_every_reason_and_location_and_writes_nothing(work):
    result = build(work, "--strict")
    assert result.exit_code == 2
    assert "error[E4103]" in result.output and f"{TOTAL} record(s) with problems" in result.output
    for (node, reason), (n, where) in PROBLEMS.items():
        assert f"{node}: {reason} ({n})" in result.output and where in result.output
    assert "Traceback" not in result.output
    assert not (work / "out").exists()


def test_strict_build_leaves_an_earlier_output_folder_untouched(work):
    assert build(work, "-q").exit_code == 0
    before = tree_bytes(work / "out" / "mixed")
    result = build(work, "-q", "--strict")
    assert result.exit_code == 2 and "E4103" in result.output
    assert tree_bytes(work / "out" / "mixed") == before


def test_output_strict_in_the_recipe_fails_like_the_flag(work):
    strict = work / "strict.hum.yaml"
    strict.write_text(RECIPE.replace("  splits: {train: 1.0}\n", "  splits: {train: 1.0}\n  strict: true\n"))
    result = build(work, recipe="strict.hum.yaml")
    assert result.exit_code == 2 and "error[E4103]" in result.output and "qa.jsonl:2" in result.output
    assert not (work / "out").exists()


def test_strict_does_not_change_fingerprints_of_the_data_nodes(work):
    plain = plan_recipe(work / "mixed.hum.yaml", cache_dir=work / "cache")
    strict = plan_recipe(work / "mixed.hum.yaml", cache_dir=work / "cache", strict=True)
    assert [n.fingerprint for n in plain.nodes] == [n.fingerprint for n in strict.nodes]


def test_a_clean_recipe_builds_in_strict_mode(work):
    write_jsonl(work / "ner.jsonl", NER_ROWS[:2])
    write_jsonl(work / "qa.jsonl", [QA_ROWS[0], QA_ROWS[3]])
    write_jsonl(work / "dolly.jsonl", [DOLLY_ROWS[0], DOLLY_ROWS[2]])
    result = build(work, "--strict")
    assert result.exit_code == 0, result.output
    assert pq.read_table(work / "out" / "mixed" / "data").num_rows == 6
    assert "None: every source row" in (work / "out" / "mixed" / "README.md").read_text()


def test_a_round_trip_failure_is_a_problem_with_a_reason():

    entry = load_recipe(REPO / "recipes" / "ner.hum.yaml").tasks[0]
    record = {"_source": "conll", "_row": 0, "text": "Ada met Bo.", "entities": [{"type": "PER", "span": "Ada"}]}
    rendered = next(render_record(RenderContext(entry, {}, ("PER", "LOC"), "ner"), record))
    problem = check_rendered(entry, {**rendered, "output": "not an answer ["})
    assert isinstance(problem, Problem) and problem.reason in ("unparseable_output", "output_differs")


# ---------------------------------------------------------------- humc check


def test_check_reports_the_problems_build_would_drop(work):
    result = run_cli("check", "mixed.hum.yaml", cwd=work)
    assert result.exit_code == 0, result.output
    assert "ner: 5 row(s) read, 5 kept, 2 rendered; problems: label_outside_set 2, bad_gold 1" in result.output
    assert "dolly: 3 row(s) read, 3 kept, 2 rendered; problems: empty_answer 1" in result.output
    for _, where in PROBLEMS.values():
        assert f"at {where}" in result.output
    assert f"ok with {TOTAL} problem record(s)" in result.output
    assert not (work / "out").exists() and not (work / ".humc").exists()   # no output, no cache
    # a reason with a known fix says it under its locations: the rule that says how to answer nothing
    block = re.search(r"^  dolly/render: empty_answer: 1\n((?:    .*\n)+)", result.output, re.M)
    assert block and "    hint: a record without an answer needs a stated rule saying what to write" in block[1]
    assert "hint: every gold label must be in `labels:`" in result.output


def test_check_strict_fails_like_build_strict(work):
    check = run_cli("check", "mixed.hum.yaml", "--strict", cwd=work)
    built = build(work, "--strict")
    assert check.exit_code == built.exit_code == 2
    first = [line for line in built.output.splitlines() if "error[E4103]" in line]
    assert first and first[0] in check.output


def qa_recipe(work: Path) -> None:
    (work / "qa.hum.yaml").write_text("""hum: 1
name: qa
sources:
  qa: qa.jsonl
tasks:
  - id: qa
    task: mrc_extractive
    source: qa
    fields: {context: context, question: question, answers: answers.text}
    formats: [json, natural]
""", encoding="utf-8")


@pytest.mark.parametrize("bad_row,default_catches", [(150, False), (5, True)])
def test_check_reads_the_first_100_rows_unless_told_all(work, bad_row, default_catches):
    rows = [{"context": f"Town {i} is in Land {i}.", "question": f"Where is Town {i}?",
             "answers": {"text": [f"Land {i}"]}} for i in range(200)]
    rows[bad_row]["question"] = None
    write_jsonl(work / "qa.jsonl", rows)
    qa_recipe(work)
    default = run_cli("check", "qa.hum.yaml", "--strict", cwd=work)
    assert default.exit_code == (2 if default_catches else 0), default.output
    if not default_catches:
        assert "qa: 100 row(s) read, 100 kept, 100 rendered; problems: none" in default.output
    every = run_cli("check", "qa.hum.yaml", "--strict", "--rows", "all", cwd=work)
    assert every.exit_code == 2 and "error[E4103]" in every.output and f"qa.jsonl:{bad_row + 1}" in every.output
    shouted = run_cli("check", "qa.hum.yaml", "--strict", "--rows", "ALL", cwd=work)  # as `--help` once spelt it
    assert shouted.exit_code == 2 and f"qa.jsonl:{bad_row + 1}" in shouted.output
    assert "--rows N|all" in run_cli("check", "--help").output


def test_check_finds_a_malformed_source_line_only_within_the_rows_it_reads(work):
    lines = [json.dumps({"context": "A is B.", "question": "What is A?", "answers": {"text": ["B"]}})] * 200
    lines[150] = '{"context": "broken'
    (work / "qa.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    qa_recipe(work)
    assert run_cli("check", "qa.hum.yaml", cwd=work).exit_code == 0
    every = run_cli("check", "qa.hum.yaml", "--rows", "all", cwd=work)
    built = run_cli("build", "qa.hum.yaml", "--out", "out", "--cache", "cache", cwd=work)
    assert every.exit_code == built.exit_code == 2
    assert "qa.jsonl:151" in every.output and every.output.splitlines()[0] == built.output.splitlines()[0]


def test_check_and_build_report_a_failing_expression_identically(work):
    rows = [{"context": "A is B.", "question": "What is A?", "answers": {"text": ["B"]}} for _ in range(10)]
    rows[7]["context"] = 17
    write_jsonl(work / "qa.jsonl", rows)
    qa_recipe(work)
    recipe = work / "qa.hum.yaml"
    recipe.write_text(recipe.read_text().replace("context: context,", "context: context + \" \","))
    check = run_cli("check", "qa.hum.yaml", cwd=work)
    built = run_cli("build", "qa.hum.yaml", "--out", "out", "--cache", "cache", cwd=work)
    assert check.exit_code == built.exit_code == 2
    head = check.output.splitlines()[0]
    assert "error[E4102]" in head and "row 7" in head and head == built.output.splitlines()[0]
    assert not (work / "out").exists()


def test_check_skips_llm_steps_with_a_note(tmp_path):
    recipes = copy_recipes(tmp_path)
    result = run_cli("check", "dolly_llm.hum.yaml", cwd=recipes)
    assert result.exit_code == 0, result.output
    assert "note: skipped generate, render and check (no LLM calls in check)" in result.output


def test_check_rejects_a_bad_row_count(work):
    result = run_cli("check", "mixed.hum.yaml", "--rows", "0", cwd=work)
    assert result.exit_code == 2 and "neither a positive number of rows nor 'all'" in result.output


def test_ray_drops_and_reports_the_same_problems_as_local(work):
    pytest.importorskip("ray", reason="the Ray executor needs ray (pip install 'humc[ray]')")
    local = run_cli("build", "mixed.hum.yaml", "-q", "--out", "local", "--cache", "local-cache", cwd=work)
    ray = run_cli("build", "mixed.hum.yaml", "-q", "--out", "ray", "--cache", "ray-cache", "--executor", "ray", cwd=work)
    assert local.exit_code == ray.exit_code == 0, ray.output
    assert tree_bytes(work / "ray" / "mixed") == tree_bytes(work / "local" / "mixed")
    assert "| qa/render | missing_input | 1 | qa.jsonl:2 |" in (work / "ray" / "mixed" / "README.md").read_text()


def test_a_dropped_records_detail_stays_on_one_short_line(tmp_path):
    from humc.build.problems import MAX_DETAIL_CHARS, ProblemLog

    log = ProblemLog()
    log.add(Problem("label_outside_set", "gold label(s) pos\nneg not in `labels:`"), "s", 0, 1)
    log.add(Problem("label_outside_set", "gold label(s) " + "x" * 20000), "s", 1, 2)
    shown = [loc[2] for loc in log.first["label_outside_set"]]
    assert shown[0] == "gold label(s) pos\\nneg not in `labels:`"
    assert len(shown[1]) < MAX_DETAIL_CHARS + 40 and shown[1].endswith("(20014 characters)")
    (tmp_path / "data.jsonl").write_text(json.dumps({"text": "hello", "label": "x" * 20000}) + "\n"
                                         + json.dumps({"text": "ok", "label": "pos"}) + "\n", encoding="utf-8")
    (tmp_path / "r.hum.yaml").write_text("hum: 1\nname: t\nsources: {s: data.jsonl}\ntasks:\n  - {id: c, task: "
                                         "classification, source: s, fields: {text: text, label: label}, "
                                         "labels: [pos, neg], formats: [json]}\n", encoding="utf-8")
    result = run_cli("build", str(tmp_path / "r.hum.yaml"), "--out", str(tmp_path / "out"), "--cache",
                     str(tmp_path / "cache"), "-q")
    assert result.exit_code == 0 and " characters)" in result.output and len(result.output) < 2000
    assert pq.read_table(next((tmp_path / "out" / "t" / "data").glob("*.parquet"))).num_rows == 1
