"""Bad input gets located, compiler-style errors (file:line:col, caret, expected, hint),
exit code 2, no traceback and no output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import REPO, run_cli, tiny_recipe, uncoded
from hypothesis import given
from hypothesis import strategies as st

GOOD = tiny_recipe(where="len(context) > 0", preferences="[shortest_span, unanswerable]")


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    rows = [{"context": "Paris is in France.", "question": "Where is Paris?", "answers": ["France"]},
            {"context": "The sky is blue.", "question": "Who won?", "answers": []}]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return tmp_path


def build_bad(workdir: Path, recipe: str):
    path = workdir / "bad.hum.yaml"
    path.write_text(recipe, encoding="utf-8")
    result = run_cli("build", str(path), "--out", str(workdir / "out"), "--cache", str(workdir / "cache"), "-q")
    return result, path


def test_the_good_recipe_builds(workdir):
    result, _ = build_bad(workdir, GOOD)
    assert result.exit_code == 0, result.output
    assert (workdir / "out" / "tiny" / "README.md").exists()


CASES = [
    # (description, replace-this, with-this, expected first line (after the path), expected text in the rest)
    ("unknown top key", "name: tiny", "name: tiny\nnmae: x", "3:1: error[E0005]: unknown key 'nmae' in the recipe", "did you mean 'name'"),
    ("bad name type", "name: tiny", "name: [1]", "2:7: error[E0007]: 'name' in the recipe must be a string, not a list", "expected: a string"),
    ("unknown task", "task: mrc_extractive", "task: mrc_extractiv", "7:11: error[E2003]: unknown task 'mrc_extractiv'", "did you mean 'mrc_extractive'"),
    ("unknown source", "    source: qa", "    source: qaa", "8:13: error[E2002]: unknown source 'qaa'", "did you mean 'qa'"),
    ("missing source file", "  qa: data.jsonl", "  qa: nope.jsonl", "4:7: error[E0009]: source 'qa' file path not found: nope.jsonl", "expected: a path relative to"),
    ("unknown rule", "[shortest_span, unanswerable]", "[shortest_spam, unanswerable]", "14:19: error[E2005]: unknown preference rule 'shortest_spam'", "did you mean 'shortest_span'"),
    ("unknown variant", "[json, natural]", "[json, natral]", "15:21: error[E2006]: unknown format variant 'natral'", "did you mean 'natural'"),
    ("bad filter syntax", "where: len(context) > 0", "where: len(context) >> 0", "13:26: error[E1001]: unexpected '>' in expression", "expected:"),
    ("single equals", "where: len(context) > 0", 'where: context = "x"', "13:20: error[E1001]: unexpected '=' in expression", "compare with =="),
    ("unknown function", "where: len(context) > 0", "where: lenght(context) > 0", "13:12: error[E2004]: unknown function 'lenght'", "did you mean 'len'"),
    ("missing field mapping", "      answers: answers\n", "", "10:7: error[E2010]: 'fields' of task 'qa' does not map 'answers'", "expected: a mapping for each of"),
    ("bad rule op", "[shortest_span, unanswerable]", '["when len(answer) == 0 then empty(\\"x\\")"]', "14:47: error[E2005]: unknown answer operation 'empty'", "empty_as"),
    ("flow comma", "    fields:\n      context: context\n      question: question\n      answers: answers\n",
     "    fields: {context: context, question: question, answers: default(answers, x)}\n",
     "9:76: error[E1001]: unexpected end of text in pipeline", "an unquoted comma ends the value"),
    ("reserved field name", "      answers: answers\n", "      answers: answers\n      _row: question\n",
     "13:7: error[E2010]: '_row' cannot be a field name", "provenance"),
    ("nan split", "formats: [json, natural]", "formats: [json, natural]\noutput:\n  splits: {train: .nan, test: 0.2}",
     "17:19: error[E0008]: split 'train' has fraction nan: every split must be positive", "a number above 0"),
    ("empty formats", "formats: [json, natural]", "formats: []", "15:14: error[E0008]: `formats:` is empty", "expected:"),
    ("merge key of a scalar", "name: tiny", "name: tiny\nx: &b 1\ny: {<<: *b}",
     "4:5: error[E0004]: a merge key (<<) takes a mapping or a list of mappings", "<<: *anchor_of_a_mapping"),
    ("custom tag", "name: tiny", "name: !shout tiny", "2:7: error[E0004]: invalid YAML value", "custom !tags"),
    ("bad source option", "  qa: data.jsonl", "  qa: {path: data.jsonl, options: {encoding: klingon}}",
     "4:46: error[E0008]: bad value for option 'encoding' of source 'qa': unknown encoding 'klingon'", "codec name"),
    ("rule names a missing column", "[shortest_span, unanswerable]", '["when true then sort_by(\\"span\\")"]',
     "14:43: error[E2005]: preference rule 'inline:when true then sort_by(\"span\")': 'sort_by' names column 'span'",
     "a column of task 'mrc_extractive': answer"),
    ("bad version", "hum: 1", "hum: 7", "1:6: error[E0011]: unsupported recipe version 7", "expected: hum: 1"),
    ("duplicate key", "name: tiny", "name: tiny\nname: again", "3:1: error[E0003]: duplicate key 'name'", "first defined at"),
    ("bad split sum", "formats: [json, natural]", "formats: [json, natural]\noutput:\n  splits: {train: 0.5, test: 0.2}", "17:11: error[E0008]: split fractions must be positive and add up to 1 (they add up to 0.7)", "e.g. {train: 0.9"),
    ("bad publish repo", "formats: [json, natural]", "formats: [json, natural]\npublish:\n  repo: my org/data--set",
     "17:9: error[E0008]: invalid repository id 'my org/data--set' in publish.repo", "e.g. `repo: my-org/my-dataset`"),
    ("bad publish revision", "formats: [json, natural]", "formats: [json, natural]\npublish:\n  revision: release..v2",
     "17:13: error[E0008]: invalid branch name 'release..v2' in publish.revision", "release/2024-06"),
    ("huge integer", "hum: 1", "hum: " + "9" * 5000, "1:6: error[E0010]: integer too large", "expected: an integer between"),
    ("misspelt hum", "hum: 1", "hmu: 1", "1:1: error[E0005]: unknown key 'hmu' in the recipe",
     "hint: start the recipe with `hum: 1`"),  # both: the did-you-mean, and what the missing key is
    ("key indented less", "    source: qa", "   source: qa",
     "8:4: error[E0002]: invalid YAML: expected <block end>, but found '<block mapping start>'",
     "line 8 starts in column 4, where no key above it starts (columns 1, 3, 5)"),
    ("key indented more", "    source: qa", "     source: qa", "8:12: error[E0002]: invalid YAML: mapping values are "
     "not allowed here", "line 8 starts in column 6, where no key above it starts (columns 1, 3, 5)"),
    ("deep nesting", "name: tiny", "name: tiny\nx: " + "[" * 100 + "]" * 100, "3:67: error[E0010]: YAML nested more than 64 levels deep",
     "expected: a flatter recipe"),
    ("rule codec unknown", "[shortest_span, unanswerable]", '[shortest_span, {id: u, then: empty_as("x"), codecs: [jsn]}]',
     "14:72: error[E2006]: unknown answer codec 'jsn' in 'codecs' of inline preference rule", "did you mean 'json'"),
]


@pytest.mark.parametrize("desc, old, new, first, detail", CASES, ids=[c[0] for c in CASES])
def test_bad_recipe_is_reported_precisely(workdir, desc, old, new, first, detail):
    assert old in GOOD
    result, path = build_bad(workdir, GOOD.replace(old, new, 1))
    assert result.exit_code == 2
    out = result.output
    assert "Traceback" not in out
    assert out.splitlines()[0].startswith(f"{path}:{first}"), out
    assert detail in out
    assert " | " in out and "^" in out  # the offending line with a caret
    assert not (workdir / "out").exists()


def test_runtime_record_error_points_to_expression_and_row(workdir):
    bad = GOOD.replace("      question: question", "      question: questoin")
    result, path = build_bad(workdir, bad)
    assert result.exit_code == 2
    assert uncoded(result.output).startswith(f"{path}:11:17: error: unknown field 'questoin' (source 'qa' row 0)")
    assert not (workdir / "out").exists()


def test_malformed_source_line_is_located(workdir):
    (workdir / "data.jsonl").write_text('{"context": "a", "question": "b", "answers": []}\n{"context": oops}\n')
    result, _ = build_bad(workdir, GOOD)
    assert result.exit_code == 2
    assert uncoded(result.output).startswith(f"{workdir / 'data.jsonl'}:2:13: error: source 'qa': invalid JSON")


def test_several_errors_are_reported_together(workdir):
    bad = GOOD.replace("task: mrc_extractive", "task: nope").replace("name: tiny", "name: tiny\nextra: 1")
    result, _ = build_bad(workdir, bad)
    assert result.exit_code == 2
    assert "unknown key 'extra'" in result.output and "unknown task 'nope'" in result.output
    assert "2 error(s); nothing was written." in result.output
    check = run_cli("check", str(workdir / "bad.hum.yaml"))
    assert check.exit_code == 2


def test_missing_recipe_file(tmp_path):
    result = run_cli("check", str(tmp_path / "none.hum.yaml"))
    assert result.exit_code == 2 and "no such file" in result.output
    (tmp_path / "mrc.hum.yaml").write_text("hum: 1\n", encoding="utf-8")
    typo = run_cli("check", str(tmp_path / "mrc.hum.yml"))  # the extension a newcomer types
    assert typo.exit_code == 2 and "error[E0009]: no such file" in typo.output
    assert "hint: did you mean 'mrc.hum.yaml'?" in typo.output
    folder = run_cli("build", str(tmp_path / "recipe" / "mrc.hum.yaml"))
    assert f"hint: the folder {tmp_path / 'recipe'} does not exist either" in folder.output


def test_single_column_format_on_a_table_task(workdir):
    recipe = GOOD.replace("task: mrc_extractive", "task: ner").replace(
        "      context: context\n      question: question\n      answers: answers\n",
        "      text: context\n      entities: answers\n").replace("where: len(context) > 0", "where: len(text) > 0")
    recipe = recipe.replace("preferences: [shortest_span, unanswerable]", "preferences: []").replace(
        "formats: [json, natural]", "formats: [json, text]")
    result, path = build_bad(workdir, recipe)
    assert result.exit_code == 2
    assert uncoded(result.output).splitlines()[0] == (f"{path}:14:21: error: format 'text' holds a single answer column, "
                                             "but this task has 2")


def test_a_template_that_cannot_render_is_reported_in_its_file(workdir):
    tpl = workdir / "assets" / "templates" / "mrc_extractive" / "en_9.j2"
    tpl.parent.mkdir(parents=True)
    tpl.write_text("Passage: {{ context }}\nQuestion: {{ qestion }}\n", encoding="utf-8")
    recipe = GOOD.replace("name: tiny", "name: tiny\nstdlib: [assets]").replace(
        "    formats: [json, natural]", "    formats: [json, natural]\n    templates: [en_9]")
    result, path = build_bad(workdir, recipe)
    assert result.exit_code == 2
    assert uncoded(result.output).splitlines()[0].startswith(f"{tpl}:2:14: error: template 'mrc_extractive/en_9': "
                                                    "template uses unknown variable(s) qestion")
    assert "hint: did you mean 'question'?" in result.output
    assert f"used by the task entry at {path}:17:16" in result.output


def test_undecodable_source_is_a_located_error(workdir):
    (workdir / "data.jsonl").write_bytes(b'{"context": "caf\xe9", "question": "q?", "answers": []}\n')
    result, _ = build_bad(workdir, GOOD)
    assert result.exit_code == 2 and "the file is not valid utf-8 text" in result.output and "encoding: latin-1" in result.output


def test_an_expression_in_a_yaml_block_is_located_at_its_column_in_the_file(workdir):
    path = workdir / "r.hum.yaml"
    path.write_text(GOOD.replace("where: len(context) > 0", "where: |\n      len(context) > 0 and\n      len(qestion) > 0"),
                    encoding="utf-8")
    result = run_cli("check", str(path))
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "qestion" in text)
    assert result.exit_code == 2 and result.output.startswith(f"{path}:{line}:11: error[E4102]: unknown field 'qestion'")


def test_check_notes_a_filter_that_keeps_none_of_the_rows_it_read(workdir):
    path = workdir / "r.hum.yaml"
    path.write_text(GOOD.replace("where: len(context) > 0", "where: len(context) < 0"), encoding="utf-8")
    result = run_cli("check", str(path))
    assert result.exit_code == 0 and "2 row(s) read, 0 kept" in result.output
    assert "note: none of the 2 row(s) read passes the entry's `where:`" in result.output
    path.write_text(GOOD, encoding="utf-8")
    assert "passes the entry's `where:`" not in run_cli("check", str(path)).output


def test_check_and_build_note_more_variants_per_record_asked_than_pairs_exist(workdir):
    path = workdir / "r.hum.yaml"
    path.write_text(GOOD.replace("    formats: [json, natural]", "    formats: [json, natural]\n    variants_per_record: 99"),
                    encoding="utf-8")
    note = "task 'qa': variants_per_record is 99, but its 4 template(s) x 2 format(s) make 8 pairs: each record gets 8"
    assert f"note: {note}" in run_cli("check", str(path)).output
    built = run_cli("build", str(path), "--out", str(workdir / "out"), "--cache", str(workdir / "cache"), "-q")
    assert built.exit_code == 0 and f"warning: {note}" in built.output


def test_an_empty_result_is_an_error_at_the_filter_that_dropped_everything(workdir):
    result, path = build_bad(workdir, GOOD.replace("where: len(context) > 0", "where: len(context) < 0"))
    assert result.exit_code == 2
    assert result.output.startswith(f"{path}:13:12: error[E4104]: the build would write 0 records")
    assert "note: qa/filter (filter) kept 0 of 2 record(s)" in result.output
    assert not (workdir / "out").exists()


def test_unusable_cache_or_output_folders_fail_before_any_work(workdir):
    (workdir / "data.jsonl.d").write_text("a file, not a folder")
    recipe = workdir / "bad.hum.yaml"
    recipe.write_text(GOOD, encoding="utf-8")
    bad_cache = run_cli("build", str(recipe), "--cache", str(workdir / "data.jsonl.d" / "c"), "-q")
    assert bad_cache.exit_code == 2 and "cannot use" in bad_cache.output and "as the build cache" in bad_cache.output
    bad_out = run_cli("build", str(recipe), "--out", str(workdir / "data.jsonl.d" / "o"),
                      "--cache", str(workdir / "cache"), "-q")
    assert bad_out.exit_code == 2 and "cannot write the dataset to" in bad_out.output
    assert not (workdir / "cache").exists()  # nothing ran


# ----------------------------------------------------------------------------- codes, explain, --format json


def test_every_code_raised_in_humc_is_documented_for_explain():
    import re as _re

    from humc.errors import CODES

    used = set()
    for path in (Path(__file__).resolve().parent.parent / "humc").rglob("*.py"):
        used |= set(_re.findall(r'code="(E\d{4})"', path.read_text(encoding="utf-8")))
        used |= set(_re.findall(r'default_code = "(E\d{4})"', path.read_text(encoding="utf-8")))
    assert used and used <= set(CODES), sorted(used - set(CODES))


def test_explain_prints_a_codes_title_and_what_to_do():
    result = run_cli("explain", "e2003")
    assert result.exit_code == 0
    assert result.output.startswith("E2003: unknown task\n") and "humc stdlib tasks" in result.output
    listing = run_cli("explain")
    assert listing.exit_code == 0 and "E3003  folder not owned by humc" in listing.output
    for written in ("2003", "error[E2003]:", " E2003 ", "E2003:", "[E2003]", "error[E2003]"):  # as typed, or pasted
        assert run_cli("explain", written).output.startswith("E2003: unknown task\n")


def test_explain_of_the_usage_error_a_missing_option_gives_says_what_it_is_and_where_to_look(workdir):
    missing = run_cli("--format", "json", "export", str(workdir), str(workdir / "x"))
    assert missing.exit_code == 2 and json.loads(missing.output)["diagnostics"][0]["code"] == "E9001"
    result = run_cli("explain", "E9001")
    assert result.exit_code == 0 and result.output.startswith("E9001: command-line usage\n")
    assert "missing or unknown option or argument" in result.output and "humc COMMAND --help" in result.output


def test_explain_of_an_unknown_code_suggests_a_near_one():
    result = run_cli("explain", "E2033")
    assert result.exit_code == 2 and "unknown diagnostic code 'E2033'" in result.output and "did you mean" in result.output


def test_format_json_reports_every_diagnostic_with_code_and_position(workdir):
    bad = GOOD.replace("task: mrc_extractive", "task: nope").replace("name: tiny", "name: tiny\nextra: 1")
    path = workdir / "bad.hum.yaml"
    path.write_text(bad, encoding="utf-8")
    for args in (["--format", "json", "check", str(path)], ["check", str(path), "--format", "json"]):
        result = run_cli(*args)
        assert result.exit_code == 2
        report = json.loads(result.stdout)
        assert report["ok"] is False and report["exit_code"] == 2
        found = {(d["code"], d["line"], d["column"]) for d in report["diagnostics"]}
        assert found == {("E0005", 3, 1), ("E2003", 8, 11)}
        assert all(d["file"] == str(path) and d["severity"] == "error" for d in report["diagnostics"])


@pytest.mark.parametrize(("args", "code"), [
    (["push", "missing-folder"], "E5001"), (["synth", "missing.hum.yaml"], "E0009"), (["review", "missing.hum.yaml"], "E9001"),
    (["explain", "E0000"], "E9001"), (["eval"], "E9001"), (["build", "missing.hum.yaml"], "E0009"),
    (["cache", "gc", "missing.hum.yaml"], "E0009")])
def test_every_command_takes_format_json_after_its_name_too(workdir, args, code):
    result = run_cli(*args, "--format", "json", cwd=workdir)
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["ok"] is False and [d["code"] for d in report["diagnostics"]] == [code]


def test_a_template_whose_own_code_fails_is_a_located_error_not_a_crash(workdir):
    tpl = workdir / "lib" / "templates" / "mrc_extractive" / "en_9.j2"
    tpl.parent.mkdir(parents=True)
    tpl.write_text("Passage: {{ context }}\n{{ 1 // 0 }}\nQuestion: {{ question }}\n", encoding="utf-8")
    result, _ = build_bad(workdir, GOOD.replace("name: tiny", "name: tiny\nstdlib: [lib]") + "    templates: [en_9]\n")
    assert result.exit_code == 2, result.output
    assert f"{tpl}:2:1: error[E4202]: template mrc_extractive/en_9: ZeroDivisionError" in result.output
    assert not (workdir / "out").exists()


def test_format_json_prints_a_json_verdict_on_success_and_the_report_on_stderr(workdir):
    path = workdir / "good.hum.yaml"
    path.write_text(GOOD, encoding="utf-8")
    result = run_cli("--format", "json", "check", str(path))
    assert result.exit_code == 0
    verdict = json.loads(result.stdout)
    assert {k: verdict[k] for k in ("ok", "exit_code", "diagnostics")} == {"ok": True, "exit_code": 0, "diagnostics": []}
    assert verdict["check"]["entries"][0]["rows_read"] == 2 and verdict["check"]["problems"] == []
    assert "ok — 1 task(s)" in result.stderr
    usage = run_cli("--format", "json", "check", str(path), "--rows", "abc")
    assert usage.exit_code == 2 and json.loads(usage.stdout)["diagnostics"][0]["code"] == "E9001"


def test_format_json_check_names_the_problem_records_a_build_would_drop(workdir):
    """A dry run whose every row is a problem record still succeeds (nothing is wrong with the recipe itself), but the
    JSON verdict says so: what each entry read and rendered, each reason with its first locations, writes nothing."""
    rows = [{"context": "Paris is in France.", "question": "Where is Paris?", "answers": ["Spain"]}]
    (workdir / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    path = workdir / "good.hum.yaml"
    path.write_text(GOOD, encoding="utf-8")
    result = run_cli("--format", "json", "check", str(path))
    check = json.loads(result.stdout)["check"]
    assert result.exit_code == 0 and check["writes_nothing"] is True
    assert check["entries"] == [{"id": check["entries"][0]["id"], "rows_read": 1, "kept": 1, "rendered": 0,
                                 "skipped": []}]
    (problem,) = check["problems"]
    assert problem["count"] >= 1 and "data.jsonl:1" in problem["first"][0], problem


def test_a_misspelt_command_is_a_usage_error_that_names_the_command_meant():
    result = run_cli("biuld", "recipe.hum.yaml")
    assert result.exit_code == 2 and result.output.startswith("error[E9001]: unknown command 'biuld' for humc\n")
    assert "  hint: did you mean 'build'?" in result.output
    unknown = run_cli("frobnicate")
    assert unknown.exit_code == 2 and unknown.output.startswith("error[E9001]: unknown command 'frobnicate' for humc\n")
    assert "did you mean" not in unknown.output


def test_a_closed_pipe_is_not_an_internal_error():
    import subprocess
    import sys

    proc = subprocess.run(f"{sys.executable} -m humc explain | head -1", shell=True, capture_output=True, text=True)
    assert proc.stdout.startswith("E0001") and "internal error" not in proc.stderr


def test_a_reader_that_goes_away_ends_a_table_report_with_exit_0_too(tmp_path):
    # rich prints these reports (its own default on a closed pipe is exit 1); `humc explain` is click's output
    import subprocess
    import sys

    for args in (["stdlib"], ["plan", str(REPO / "recipes" / "mrc.hum.yaml"), "--cache", str(tmp_path / "c")], ["explain"]):
        proc = subprocess.Popen([sys.executable, "-m", "humc", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None
        proc.stdout.close()  # gone before the first line is printed
        _, err = proc.communicate(timeout=120)
        assert (proc.returncode, err) == (0, b""), args


@given(st.text(), st.integers(min_value=1, max_value=400))
def test_one_line_is_one_line_within_its_width_and_whole_when_it_fits(text: str, width: int) -> None:
    from humc.errors import one_line

    flat = " ".join(text.split())
    quoted = one_line(text, width)
    assert "\n" not in quoted and "\r" not in quoted
    assert quoted == flat if len(flat) <= width else quoted == flat[:width] + " …"


def test_a_synth_report_quotes_an_invalid_reply_on_one_short_line(tmp_path: Path) -> None:
    from humc.assets.synth import SynthReport

    report = SynthReport(tmp_path / "r.hum.lock", invalid=[("paraphrases of en_1", "no valid answer: " + "echo\n" * 5000)])
    line = report.render().splitlines()[1]
    assert line.startswith("  invalid: paraphrases of en_1: no valid answer: echo echo") and len(line) < 350


def test_check_says_when_no_row_it_checked_gives_a_record_and_fails_like_the_build_when_it_read_every_row(workdir):
    """Answers that are the questions: no gold span occurs in its context, so every record is dropped (span_not_in_text)."""
    path = workdir / "r.hum.yaml"
    path.write_text(GOOD.replace("answers: answers", "answers: \"[question]\""), encoding="utf-8")
    first = run_cli("check", str(path))
    assert first.exit_code == 0, first.output
    assert "note: none of the 2 row(s) kept gives a record: each is a problem record below" in first.output
    assert "no row checked (the first 100 of each source) gives a record" in first.output
    assert ": ok" not in first.output
    every = run_cli("check", str(path), "--rows", "all")
    assert every.exit_code == 2 and every.output.startswith("error[E4104]: a build would write 0 records")
    assert "note: qa: 2 row(s) read, 2 kept, 0 passed render and check" in every.output
    assert "note: span_not_in_text at " in every.output and "data.jsonl:1 (answer 'Where is Paris?' does not occur" in every.output
    assert "hint: the gold spans must occur in the input they are copied from" in every.output
    build = run_cli("build", str(path))
    assert build.exit_code == 2 and "error[E4104]" in build.output
    assert "hint: the gold spans must occur in the input they are copied from" in build.output


def test_check_of_every_row_of_a_recipe_that_gives_records_is_ok(workdir):
    path = workdir / "r.hum.yaml"
    path.write_text(GOOD, encoding="utf-8")
    result = run_cli("check", str(path), "--rows", "all")
    assert result.exit_code == 0 and result.output.rstrip().endswith("ok — 1 task(s), 1 source(s)")


@pytest.mark.parametrize(("debug", "traced"), [("1", True), ("yes", True), ("0", False), ("false", False), ("", False)])
def test_humc_debug_shows_an_internal_error_s_traceback_only_when_set_to_a_true_value(workdir, monkeypatch, capsys,
                                                                                       debug, traced):
    import humc.cli.build as cli_build

    def broken(*_args, **_kw):
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli_build, "dry_run", broken)
    monkeypatch.setenv("HUMC_DEBUG", debug)
    path = workdir / "good.hum.yaml"
    path.write_text(GOOD, encoding="utf-8")
    result = run_cli("check", str(path))
    assert result.exit_code == 3 and "internal error: RuntimeError: a bug" in result.output
    assert ("Traceback (most recent call last)" in result.output + capsys.readouterr().err) is traced
