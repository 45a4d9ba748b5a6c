"""Hostile inputs from angles earlier sweeps left out: expressions that make a value far larger than the record
they read, and more. Each ends in a located diagnostic (code, file:line:col, what was expected), exit 2, nothing
written — never a memory blow-up, a hang or a Python traceback."""

from __future__ import annotations

import datetime
import decimal
import gzip
import json
import sys
import zipfile
from pathlib import Path

import jinja2
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import REPO, built_test_split, run_cli, tiny_recipe, write_ner_workload

from humc.answers.formats import FormatSpec, parse
from humc.dataset.hub import verify_build
from humc.errors import FormatParseError, PublishError
from humc.limits import MAX_MADE_ITEMS
from humc.llm.client import json_candidates
from humc.llm.structured import probe_answer_ok
from humc.llm.transport import TransportBadBody, parse_body, server_message
from humc.templating import render_template

WHERE = "where: len(context) > 0"  # line 13 of tiny_recipe, the expression starts at column 12


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    row = {"context": "Paris is in France.", "question": "Where is Paris?", "answers": ["France"]}
    (tmp_path / "data.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    return tmp_path


def refused(workdir: Path, recipe: str, command: str = "build", at_file: Path | None = None) -> tuple[dict, str]:
    """``humc --format json <command>`` of ``recipe``: exit 2, one diagnostic in the recipe (or ``at_file``),
    nothing written."""
    path = workdir / "bad.hum.yaml"
    path.write_text(recipe, encoding="utf-8")
    extra = ("--out", str(workdir / "out"), "--cache", str(workdir / "cache"), "-q") if command == "build" else ()
    result = run_cli("--format", "json", command, str(path), *extra)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert not (workdir / "out").exists()
    (diag,) = json.loads(result.output)["diagnostics"]
    assert diag["file"] == str(at_file or path)
    return diag, result.output


def at(diag: dict) -> tuple[str, int, int]:
    return diag["code"], diag["line"], diag["column"]


# ---------------------------------------------------------------------------- values an expression makes

def _nested_replace(depth: int) -> str:
    expr = "context"
    for _ in range(depth):
        expr = 'replace(' + expr + ', "", "ab")'
    return expr


@pytest.mark.parametrize(("where", "words"), [
    # each replace of "" triples the text: 18 levels would make gigabytes of a 19-character context
    ("len(" + _nested_replace(18) + ") > 0", "replace(): replacing makes a text of"),
    # a list repeated within the limit, joined with the text itself between its items
    ("len(join([context] * 1000000, context)) > 0", "join(): joining the values makes a text of"),
    # two lists within the limit, added
    ("len([context] * 9000000 + [context] * 9000000) > 0", "adding two values makes a value of"),
], ids=["nested-replace", "join", "add"])
def test_an_expression_that_makes_a_value_over_the_limit_is_refused_before_making_it(workdir, where, words):
    diag, _ = refused(workdir, tiny_recipe(where=json.dumps(where)))
    assert diag["code"] == "E4102" and diag["line"] == 13 and diag["column"] > 13
    assert words in diag["message"] and f"over the limit of {MAX_MADE_ITEMS}" in diag["message"]


def test_percent_on_a_text_is_no_printf_whose_width_fills_memory(workdir):
    diag, _ = refused(workdir, tiny_recipe(where=json.dumps('"%999999999d" % len(context) != ""')))
    assert at(diag) == ("E4102", 13, 13)
    assert "cannot apply '%' to string and integer" in diag["message"] and "not text formatting" in diag["message"]


def test_replace_and_join_within_the_limit_still_work(workdir):
    where = 'len(replace(context, "", "-")) == 39 and join([context, context], "|") == context + "|" + context'
    (workdir / "ok.hum.yaml").write_text(tiny_recipe(where=json.dumps(where)), encoding="utf-8")
    result = run_cli("check", str(workdir / "ok.hum.yaml"))
    assert result.exit_code == 0 and "1 kept" in result.output, result.output


# ---------------------------------------------------------------------------- hints that do not fit the source

@pytest.mark.parametrize("where", ['context < 5', 'int(question) > 0'])
def test_an_expression_failing_on_the_first_json_line_is_not_called_a_header_row(workdir, where):
    """A JSON Lines file has no header line: the hint to set `header: true` fits only a table read without one."""
    diag, _ = refused(workdir, tiny_recipe(where=json.dumps(where)))
    assert at(diag) == ("E4102", 13, 13)
    assert "header" not in diag["hint"] and "humc check RECIPE --rows all" in diag["hint"]


# ---------------------------------------------------------------------------- Parquet columns of other types

def test_str_writes_a_parquet_date_decimal_timestamp_time_or_duration_as_text(tmp_path):
    """`str()` is the conversion the hints name ("write it as text with `str(x)`"): it refused a date or a decimal
    column as "v must be a text"."""
    columns = {"day": pa.array([datetime.date(2024, 1, 31)]), "price": pa.array([decimal.Decimal("12.50")]),
               "at": pa.array([datetime.datetime(2024, 1, 31, 8, 30)], pa.timestamp("us")),
               "clock": pa.array([datetime.time(8, 30)]), "took": pa.array([90], pa.duration("s"))}
    rows = {"context": ["Paris is in France."], "question": ["Where is Paris?"], "answers": [["France"]]}
    pq.write_table(pa.table({**rows, **columns}), tmp_path / "data.parquet")
    question = 'question + " " + ' + ' + " " + '.join(f"str({c})" for c in columns)
    recipe = tiny_recipe(data="data.parquet", formats="[json]").replace("question: question",
                                                                        f"question: {json.dumps(question)}")
    (tmp_path / "r.hum.yaml").write_text(recipe, encoding="utf-8")
    result = run_cli("build", "r.hum.yaml", "-q", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    (shard,) = (tmp_path / "out" / "tiny" / "data").glob("*.parquet")
    (instruction,) = pq.read_table(shard, columns=["instruction"]).column(0).to_pylist()
    assert "Where is Paris? 2024-01-31 12.50 2024-01-31 08:30:00 08:30:00 0:01:30" in instruction


# ---------------------------------------------------------------------------- humc eval: predictions made elsewhere

@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A built tiny dataset (four records, all in test) and its record ids."""
    return built_test_split(tmp_path_factory.mktemp("eval"), 4)


def _eval(dataset: Path, lines: list[str]) -> tuple[int, dict]:
    preds = dataset.parent.parent / "preds.jsonl"
    preds.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    result = run_cli("--format", "json", "eval", str(dataset), "--predictions", str(preds))
    assert "Traceback" not in result.output and "internal error" not in result.output
    return result.exit_code, (json.loads(result.output) if result.exit_code == 2 else {})


def test_a_model_answer_of_thousands_of_nested_brackets_scores_0_not_aborting_the_eval(dataset):
    """A degenerate model output (`[[[[…`) parsed as JSON or YAML ran into Python's recursion limit: the whole eval
    stopped with an unlocated 'input nested too deeply'."""
    folder, ids = dataset
    answer = '{"answer": ' + "[" * 5000 + "]" * 5000 + "}"
    code, _ = _eval(folder, [json.dumps({"id": ids[0], "prediction": answer})]
                    + [json.dumps({"id": i, "prediction": '{"answer": "France"}'}) for i in ids[1:]])
    assert code == 0
    report = folder.parent.parent / "report.json"
    preds = folder.parent.parent / "preds.jsonl"
    assert run_cli("eval", str(folder), "--predictions", str(preds), "--report", str(report)).exit_code == 0
    assert json.loads(report.read_text(encoding="utf-8"))["overall"]["score"] == pytest.approx(0.75)


@pytest.mark.parametrize("answer", ["9" * 5000, "- type: ORG\n  span: 0x" + "f" * 5000, "- 2024-13-45"], ids=["digits", "hex", "date"])
def test_a_model_answer_whose_yaml_holds_an_unreadable_number_or_date_scores_0_not_an_internal_error(tmp_path, answer):
    """The YAML fallback read a model's 5000-digit answer with int() (Python's 4300-digit limit) and an impossible
    date with date(): a ValueError, i.e. `internal error` and exit 3 for the whole eval."""
    write_ner_workload(tmp_path, 20)
    assert run_cli("build", "big.hum.yaml", "-q", cwd=tmp_path).exit_code == 0
    folder = tmp_path / "out" / "big"
    ids = [r["id"] for p in folder.glob("data/test-*.parquet") for r in pq.read_table(p).to_pylist()]
    code, _ = _eval(folder, [json.dumps({"id": i, "prediction": answer}) for i in ids])
    assert code == 0
    with pytest.raises(FormatParseError, match="a value that cannot be read") as exc:
        parse(FormatSpec("yaml"), answer, ("type", "span"), "many")
    assert exc.value.code == "E4201"


@pytest.mark.parametrize(("line", "column", "words"), [
    ('{{"id": "{id}", "prediction": ' + "[" * 5000 + "]" * 5000 + "}}", 1, "nested too deeply to read"),
    ('{{"id": "{id}", "prediction": ' + "9" * 5000 + "}}", 1, "a number over 4300 digits long"),
    ('{{"id": "{id}", "prediction": "a", "prediction": "b"}}', 64, "names the key 'prediction' twice"),
], ids=["deep", "long-number", "key-twice"])
def test_a_predictions_line_python_cannot_read_or_that_says_two_things_is_e6002_at_it(dataset, line, column, words):
    folder, ids = dataset
    code, out = _eval(folder, [json.dumps({"id": ids[1], "prediction": "x"}), line.format(id=ids[0])])
    (diag,) = out["diagnostics"]
    assert code == 2 and diag["code"] == "E6002" and (diag["line"], diag["column"]) == (2, column)
    assert words in diag["message"] and "set_int_max_str_digits" not in json.dumps(diag)


# ---------------------------------------------------------------------------- compressed files where text belongs

def test_a_compressed_constant_file_or_recipe_is_named_so_not_as_a_latin1_byte(workdir):
    """A gzip file's second byte (0x8b) was reported as 'not UTF-8 … a latin-1 or Windows-1252 editor may have
    written it'."""
    (workdir / "labels.txt.gz").write_bytes(gzip.compress(b"France\nSpain\n"))
    with zipfile.ZipFile(workdir / "labels.zip", "w") as z:
        z.writestr("labels.txt", "France\nSpain\n")
    for name, words in (("labels.txt.gz", "is a gzip file (compressed), not text"),
                        ("labels.zip", "is a zip archive, not text")):
        recipe = tiny_recipe(extra=f"constants:\n  countries: {{file: {name}}}\n")
        diag, _ = refused(workdir, recipe, "check", workdir / name)
        assert (diag["code"], diag["line"], diag["column"]) == ("E0009", 1, 1)
        assert words in diag["message"] and "latin-1" not in diag["hint"]
    (workdir / "r.hum.yaml.gz").write_bytes(gzip.compress(tiny_recipe().encode()))
    result = run_cli("check", str(workdir / "r.hum.yaml.gz"))
    assert result.exit_code == 2 and "error[E0009]" in result.output and "is a gzip file (compressed)" in result.output


# ---------------------------------------------------------------------------- source options

@pytest.mark.parametrize(("encoding", "words"), [("undefined", "it decodes nothing"),
                                                 ("punycode", "it encodes domain names"),
                                                 ("[utf-8, idna]", "it encodes domain names")])
def test_a_text_codec_no_file_is_written_in_is_refused_at_its_option(workdir, encoding, words):
    """`undefined` and punycode raise UnicodeError (not UnicodeDecodeError) on reading: an internal error, exit 3."""
    (workdir / "data.csv").write_text("context,question,answers\nParis is in France.,Where?,France\n", encoding="utf-8")
    recipe = tiny_recipe().replace("  qa: data.jsonl", f"  qa: {{path: data.csv, options: {{encoding: {encoding}}}}}")
    diag, _ = refused(workdir, recipe, "check")
    assert diag["code"] == "E0008" and diag["line"] == 4 and diag["column"] == recipe.splitlines()[3].index(encoding) + 1
    assert "option 'encoding'" in diag["message"] and words in diag["message"]


def test_a_split_name_too_long_for_a_file_name_is_refused_at_check_not_after_the_build(workdir):
    """A 300-letter split name passed validation, and the build ended at the write in 'internal error: OSError:
    [Errno 36] File name too long', exit 3."""
    long_name = "a" * 300
    diag, _ = refused(workdir, tiny_recipe(extra=f"output:\n  splits: {{{long_name}: 1.0}}\n"))
    assert at(diag) == ("E0008", 15, 12) and diag["message"] == f"invalid split name '{long_name}'"
    assert "at most 64 characters" in diag["expected"]
    ok = tiny_recipe(extra=f"output:\n  splits: {{{'a' * 64}: 1.0}}\n")
    (workdir / "ok.hum.yaml").write_text(ok, encoding="utf-8")
    assert run_cli("build", "ok.hum.yaml", "-q", cwd=workdir).exit_code == 0
    assert (workdir / "out" / "tiny" / "data" / f"{'a' * 64}-00000-of-00001.parquet").is_file()


# ---------------------------------------------------------------------------- YAML

@pytest.mark.parametrize(("before", "after", "line"), [("", "---\nhum: 1\nname: other\n", 14),
                                                       ("---\n---\n", "", 2)])
def test_a_second_yaml_document_is_named_as_such_at_its_dashes(workdir, before, after, line):
    """PyYAML's 'expected a single document' was cut to 'invalid YAML: but found another document', with the hint to
    check indentation and quoting."""
    diag, _ = refused(workdir, before + tiny_recipe() + after, "check")
    assert at(diag) == ("E0002", line, 1)
    assert diag["message"] == "invalid YAML: a second YAML document starts at this `---` line"
    assert "remove the `---` line" in diag["hint"] and "indentation" not in diag["hint"]


# ---------------------------------------------------------------------------- Jinja2 templates

def test_tojson_with_a_huge_indent_is_refused_before_the_text_is_made(workdir):
    """`tojson(indent=10**8)` of a 20-item list made 2 GB of spaces (29 s, 4 GB of memory) in one render."""
    tpl = workdir / "assets" / "templates" / "mrc_extractive" / "en_9.j2"
    tpl.parent.mkdir(parents=True)
    tpl.write_text("Passage: {{ context }}\n{{ ([question] * 20)|tojson(indent=10**6) }}\nQuestion: {{ question }}\n",
                   encoding="utf-8")
    recipe = tiny_recipe(formats="[json]").replace("name: tiny", "name: tiny\nstdlib: [assets]") + \
        "    templates: [en_9]\n"
    path = workdir / "bad.hum.yaml"
    path.write_text(recipe, encoding="utf-8")
    result = run_cli("--format", "json", "build", str(path), "-q")
    assert result.exit_code == 2 and not (workdir / "out").exists()
    (diag,) = json.loads(result.output)["diagnostics"]
    assert (diag["code"], diag["file"], diag["line"]) == ("E0010", str(tpl), 2)
    assert "indenting JSON by 1000000 makes" in diag["message"]
    # an ordinary indent renders as Jinja2's own filter does
    assert render_template("{{ v|tojson(indent=2) }}", {"v": {"a": [1, {"b": "<"}]}}, "t") == \
        jinja2.Environment().from_string("{{ v|tojson(indent=2) }}").render(v={"a": [1, {"b": "<"}]})


# ---------------------------------------------------------------------------- LLM replies

DEEP = "[" * 5000 + "]" * 5000


def test_a_model_reply_nested_too_deeply_is_an_invalid_answer_not_the_end_of_the_build(tmp_path):
    """A judge answering `[[[[…` (5000 levels) stopped the whole build with an unlocated 'input nested too deeply to
    process': json.loads' RecursionError is no ValueError."""
    sys.path.insert(0, str(REPO))
    from tests.llmserver import LLMServer
    from tests.test_llm_endpoint_damage import write_recipe

    with LLMServer(responder=lambda request: DEEP if "score" in json.dumps(request).lower() else "Apple") as srv:
        recipe = write_recipe(tmp_path, srv.base_url, judge=True, rows=1)
        result = run_cli("--format", "json", "build", str(recipe), "-q")
    (diag,) = json.loads(result.output)["diagnostics"]
    assert result.exit_code == 2 and diag["code"] == "E4104"  # every record dropped, each for its invalid verdict
    assert any("judge invalid output (wrong shape): 1" in note for note in diag["notes"])
    candidates = json_candidates("Here: " + DEEP + ' {"score": 3}')
    assert [v for v in candidates if isinstance(v, dict)] == [{"score": 3}]  # the object after the brackets
    assert probe_answer_ok(DEEP) is False and server_message(DEEP.encode()) == DEEP[:500]
    with pytest.raises(TransportBadBody, match="nested too deeply to read"):
        parse_body(DEEP.encode(), "application/json")


def test_a_first_line_nested_too_deeply_is_located_by_the_reader_not_lost_in_format_sniffing(workdir):
    """Sniffing a .jsonl source (no `format:`) or a constant file parsed its first line with json.loads: a
    RecursionError, reported as an unlocated 'input nested too deeply to process'."""
    (workdir / "data.jsonl").write_text(DEEP + "\n" + (workdir / "data.jsonl").read_text(encoding="utf-8"),
                                        encoding="utf-8")
    diag, _ = refused(workdir, tiny_recipe(), "check", workdir / "data.jsonl")
    assert diag["code"] == "E4001" and diag["line"] == 1 and "nested too deeply" in diag["message"]
    (workdir / "data.jsonl").write_text('{"context": "c", "question": "q", "answers": ["c"]}\n', encoding="utf-8")
    (workdir / "names.json").write_text(DEEP + "\n[1]\n", encoding="utf-8")
    diag, _ = refused(workdir, tiny_recipe(extra="constants:\n  names: {file: names.json}\n"), "check",
                      workdir / "names.json")
    assert diag["code"] in ("E0009", "E0010") and diag["line"] == 1


def test_an_eval_report_nested_too_deeply_is_e6003(tmp_path):
    report = tmp_path / "a.json"
    report.write_text('{"version": 1, "records": ' + DEEP + "}", encoding="utf-8")
    result = run_cli("eval", "--compare", str(report), str(report))
    assert result.exit_code == 2 and "error[E6003]: cannot read eval report" in result.output
    assert "nested too deeply to read" in result.output


def test_a_build_manifest_nested_too_deeply_is_no_manifest_not_the_end_of_the_next_build(workdir):
    """A damaged build.json of 5000 '['s made the next build (and push) stop with an unlocated 'input nested too
    deeply to process'; a build.json that is not JSON at all was already 'holds files humc did not write'."""
    (workdir / "r.hum.yaml").write_text(tiny_recipe(), encoding="utf-8")
    assert run_cli("build", "r.hum.yaml", "-q", cwd=workdir).exit_code == 0
    manifest = workdir / "out" / "tiny" / "build.json"
    manifest.write_text(DEEP, encoding="utf-8")
    result = run_cli("build", "r.hum.yaml", "-q", cwd=workdir)
    assert result.exit_code == 2 and "error[E3003]" in result.output and "holds files humc did not write" in result.output
    assert manifest.read_text(encoding="utf-8") == DEEP  # nothing deleted or written
    with pytest.raises(PublishError, match="build.json is unreadable: nested too deeply to read"):
        verify_build(workdir / "out" / "tiny")


def test_a_record_field_that_hides_a_constant_of_its_name_is_said_when_an_expression_fails(workdir):
    """`lookup(label, names)` with a constant list `names` read the record's `names` column instead; the error
    said names was a string and to write the names as a list, which the recipe did."""
    (workdir / "data.jsonl").write_text(json.dumps({"context": "c", "question": "q", "answers": ["c"],
                                                    "names": "oops"}) + "\n", encoding="utf-8")
    recipe = tiny_recipe().replace("      question: question", "      question: lookup(0, names)") + \
        "constants:\n  names: [Where is it]\n"
    diag, _ = refused(workdir, recipe)
    assert at(diag) == ("E4102", 11, 17) and "names is a string ('oops')" in diag["message"]
    assert "the record's field 'names' hides the constant of that name" in " ".join(diag["notes"])
