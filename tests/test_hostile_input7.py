"""Hostile inputs to the commands around `humc build`: eval's predictions file, push's Hub endpoint, the
LLM base URL given on the command line, bad HUMC_* environment values, an empty lockfile, a terminal review without a
terminal, the review page's dropped connections and empty path arguments. Each ends in a located diagnostic (code,
file:line:col where a file is involved, what was expected), exit 2, nothing written — never a Python traceback or a
silently wrong result."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from helpers import REPO, built_test_split, run_cli, tiny_recipe

import humc.eval.predict as predict
from humc.assets.web import ReviewServer
from humc.build.parallel import JOBS_ENV
from humc.cli import main
from humc.llm.client import base_url_hint, base_url_problem
from humc.recipe.lockfile import Lockfile, LockItem, load_lock, save_lock


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A built tiny dataset (three records, all in test) and its record ids."""
    return built_test_split(tmp_path_factory.mktemp("eval7"), 3)


def refused(*args: str) -> dict:
    """``humc --format json ARGS``: exit 2 and its one diagnostic, no traceback."""
    result = run_cli("--format", "json", *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    (diag,) = json.loads(result.output)["diagnostics"]
    return diag


def _eval_refused(folder: Path, preds: Path) -> dict:
    report = preds.with_name("report.json")
    diag = refused("eval", str(folder), "--predictions", str(preds), "--report", str(report))
    assert not report.exists()
    return diag


# ---------------------------------------------------------------------------- eval: the predictions file

@pytest.mark.parametrize(("value", "said"), [("true", "boolean"), ("null", "null"), ('["x"]', "list"), ("1.5", "number")])
def test_a_prediction_id_that_is_no_record_id_is_e6002_at_its_line(dataset, tmp_path, value, said):
    """`{"id": true}` was read as the id 'True' (null as 'None'): the eval ran, scored every record 0 and exited 0."""
    folder, ids = dataset
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps({"id": ids[0], "prediction": "x"}) + "\n" + f'{{"id": {value}, "prediction": "x"}}\n',
                     encoding="utf-8")
    diag = _eval_refused(folder, preds)
    assert (diag["code"], diag["file"], diag["line"], diag["column"]) == ("E6002", str(preds), 2, 1)
    assert diag["message"] == f"`id` must be a record id (text), not {said}" and "`id` column" in diag["hint"]


def test_an_id_written_as_a_number_still_names_its_record(dataset, tmp_path):
    folder, _ = dataset
    preds = tmp_path / "p.jsonl"
    preds.write_text('{"id": 12, "prediction": "x"}\n', encoding="utf-8")
    result = run_cli("eval", str(folder), "--predictions", str(preds))
    assert result.exit_code == 0 and "e.g. 12; none is a record of 'test'" in result.output


@pytest.mark.parametrize(("content", "words", "hint"), [
    (b'[{"id": "a", "prediction": "x"}]\n', "holds a JSON array, not one prediction per line", "jq -c '.[]'"),
    (b'[\n  {"id": "a", "prediction": "x"}\n]\n', "invalid JSON", "one indented JSON document"),
    (b'{\n  "id": "a",\n  "prediction": "x"\n}\n', "invalid JSON", "one indented JSON document"),
], ids=["array", "indented-array", "indented-object"])
def test_a_predictions_file_that_is_one_json_document_says_to_write_json_lines(dataset, tmp_path, content, words, hint):
    """A JSON array was refused as 'a prediction needs the keys `id` and `prediction`', with no word of JSON Lines."""
    folder, _ = dataset
    preds = tmp_path / "p.json"
    preds.write_bytes(content)
    diag = _eval_refused(folder, preds)
    assert (diag["code"], diag["line"], diag["column"]) == ("E6002", 1, 1)
    assert words in diag["message"] and hint in diag["hint"]


def test_a_parquet_table_of_predictions_is_named_as_parquet(dataset, tmp_path):
    """Was 'not valid UTF-8 (byte b'\\xc0')' at 1:8: true, but no help to whoever saved a DataFrame as Parquet."""
    folder, _ = dataset
    preds = tmp_path / "p.parquet"
    preds.write_bytes(next(folder.glob("data/*.parquet")).read_bytes())
    diag = _eval_refused(folder, preds)
    assert (diag["code"], diag["line"], diag["column"]) == ("E6002", 1, 1)
    assert diag["message"] == "the predictions file is a Parquet file, not JSON Lines" and "to_json(" in diag["hint"]


@pytest.mark.parametrize(("codec", "said"), [("utf-16", "UTF-16"), ("utf-32", "UTF-32")])
def test_a_predictions_file_in_utf16_or_utf32_says_which(dataset, tmp_path, codec, said):
    """Was 'not valid UTF-8 (byte b'\\xff')'."""
    folder, ids = dataset
    preds = tmp_path / "p.jsonl"
    preds.write_bytes((json.dumps({"id": ids[0], "prediction": "x"}) + "\n").encode(codec))
    diag = _eval_refused(folder, preds)
    assert (diag["code"], diag["line"]) == ("E6002", 1)
    assert diag["message"] == f"the predictions file is {said} text, not UTF-8" and "UTF-8" in diag["hint"]


def test_a_predictions_line_over_the_limit_is_e0010_at_it_and_not_read_whole(dataset, tmp_path, monkeypatch):
    """A 600 MB answer took minutes and gigabytes to score (parsed as every format); a line is now read only up to
    the limit (16 MiB, lowered here) and refused."""
    monkeypatch.setattr(predict, "MAX_PREDICTION_BYTES", 1000)
    folder, ids = dataset
    preds = tmp_path / "p.jsonl"
    fine = json.dumps({"id": ids[0], "prediction": "x" * 900})
    preds.write_text(fine + "\n" + json.dumps({"id": ids[1], "prediction": "x" * 5000}) + "\n", encoding="utf-8")
    diag = _eval_refused(folder, preds)
    assert (diag["code"], diag["file"], diag["line"]) == ("E0010", str(preds), 2)
    assert diag["message"] == "a line of the predictions file is over 1,000 bytes long"
    assert "max_tokens" in diag["hint"]
    preds.write_text(fine + "\n", encoding="utf-8")
    assert run_cli("eval", str(folder), "--predictions", str(preds)).exit_code == 0


@pytest.mark.parametrize(("extra", "option", "source"), [
    (["--predictions", "{preds}", "--max-tokens", "5"], "--max-tokens", "--predictions"),
    (["--predictions", "{preds}", "--cache", "{tmp}"], "--cache", "--predictions"),
    (["--predictions", "{preds}", "--batch-size", "8"], "--batch-size", "--predictions"),
    (["--hf-model", "x.gguf", "--base-url", "http://127.0.0.1:1/v1"], "--base-url", "--hf-model"),
    (["--model", "m", "--base-url", "http://127.0.0.1:1/v1", "--device", "cpu"], "--device", "--model"),
    (["--predictions", "{preds}", "--seed", "3"], "--seed", "--predictions"),
], ids=["max-tokens", "cache", "batch-size", "base-url", "device", "seed"])
def test_an_option_of_another_source_of_answers_is_e9001_not_ignored(dataset, tmp_path, extra, option, source):
    """`--predictions P --max-tokens 5` evaluated as if the option were not there (only --adapter was refused)."""
    folder, ids = dataset
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps({"id": ids[0], "prediction": "x"}) + "\n", encoding="utf-8")
    diag = refused("eval", str(folder), *(a.format(preds=preds, tmp=tmp_path) for a in extra))
    assert diag["code"] == "E9001" and diag["message"] == f"{option} does not apply to {source}"
    assert diag["expected"].startswith(f"{option} with --") and f"leave {option} out" in diag["hint"]


@pytest.fixture(scope="module")
def report(dataset: tuple[Path, list[str]], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A report of the tiny dataset, one prediction right."""
    folder, ids = dataset
    tmp = tmp_path_factory.mktemp("report7")
    (tmp / "p.jsonl").write_text(json.dumps({"id": ids[0], "prediction": '{"answer": "France"}'}) + "\n", encoding="utf-8")
    assert run_cli("eval", str(folder), "--predictions", str(tmp / "p.jsonl"), "--report", str(tmp / "r.json")).exit_code == 0
    return json.loads((tmp / "r.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(("edit", "words"), [
    (lambda r: r["records"].__setitem__(0, "x"), "record #1 of `records` is no object"),
    (lambda r: r["records"][0].pop("id"), "record #1 of `records` has no text `id` and `task`"),
    (lambda r: r["records"][1].__setitem__("task", ["ner"]), "record #2 of `records` has no text `id` and `task`"),
    (lambda r: r["records"][0].__setitem__("score", "high"), 'has the score "high", not a number from 0 to 1'),
    (lambda r: r["records"][0].__setitem__("score", None), "has the score null, not a number from 0 to 1"),
    (lambda r: r["records"][0].__setitem__("score", float("nan")), "has the score NaN, not a number from 0 to 1"),
    (lambda r: r["records"][0].__setitem__("strict", "yes"), "has no boolean `strict`"),
    (lambda r: r["records"].append(dict(r["records"][0])), "record #4 of `records` names the id"),
], ids=["not-object", "no-id", "list-task", "text-score", "null-score", "nan-score", "text-strict", "id-twice"])
def test_an_edited_report_given_to_compare_is_e6003_naming_the_record(report, tmp_path, edit, words):
    """Each of these was an internal error (TypeError, ValueError, KeyError: exit 3) or, NaN, a silent NaN delta."""
    edited = json.loads(json.dumps(report))
    edit(edited)
    good, bad = tmp_path / "a.json", tmp_path / "b.json"
    good.write_text(json.dumps(report), encoding="utf-8")
    bad.write_text(json.dumps(edited), encoding="utf-8")
    diag = refused("eval", "--compare", str(good), str(bad))
    assert diag["code"] == "E6003" and diag["message"].startswith(f"{bad}: record #") and words in diag["message"]
    assert "humc eval --report" in diag["hint"]
    result = run_cli("eval", "--compare", str(good), str(good))
    assert result.exit_code == 0 and "3 paired records" in result.output


@pytest.mark.parametrize("gold", ["{{not json", '{"answer": "France"}', '["France"]', "null"])
def test_a_shard_whose_gold_is_no_list_of_rows_is_e6001_naming_the_record(dataset, tmp_path, gold):
    """A hand-edited shard whose `gold` was no JSON was `internal error: JSONDecodeError`, exit 3."""
    folder, ids = dataset
    copy = tmp_path / "tiny"
    shutil.copytree(folder, copy)
    shard = next(copy.glob("data/*.parquet"))
    table = pq.read_table(shard)
    rows = table.to_pylist()
    rows[0]["gold"] = gold
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), shard)
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps({"id": ids[0], "prediction": "x"}) + "\n", encoding="utf-8")
    diag = refused("eval", str(copy), "--predictions", str(preds))
    assert diag["code"] == "E6001" and diag["message"] == f"record {rows[0]['id']}: its `gold` column is no JSON list of answer rows"
    assert "humc build" in diag["hint"]


def test_a_llama_factory_export_into_a_data_folder_keeps_the_other_datasets_it_lists(dataset, tmp_path):
    """LLaMA-Factory's `data/dataset_info.json` lists every dataset; the export replaced it with its own two entries."""
    folder, _ = dataset
    info = tmp_path / "data" / "dataset_info.json"
    info.parent.mkdir()
    info.write_text(json.dumps({"identity": {"file_name": "identity.json"}}), encoding="utf-8")
    assert run_cli("export", str(folder), "--to", "llama-factory", str(info.parent)).exit_code == 0
    listed = json.loads(info.read_text(encoding="utf-8"))
    assert listed["identity"] == {"file_name": "identity.json"} and listed["tiny_test"]["file_name"] == "test.jsonl"


@pytest.mark.parametrize(("content", "words"), [
    ('{"other": {"file_name": "test.jsonl"}}', "it is the file of dataset 'other'"),
    ("[1, 2]", "it exists and is no LLaMA-Factory dataset list"),
    ("{not json", "it exists and is no LLaMA-Factory dataset list"),
], ids=["file-of-another", "list", "not-json"])
def test_a_llama_factory_export_that_would_clobber_another_dataset_is_e3002_writing_nothing(dataset, tmp_path, content, words):
    folder, _ = dataset
    info = tmp_path / "data" / "dataset_info.json"
    info.parent.mkdir()
    info.write_text(content, encoding="utf-8")
    diag = refused("export", str(folder), "--to", "llama-factory", str(info.parent))
    assert (diag["code"], diag["line"]) == ("E3002", 1) and words in diag["message"] and "folder of its own" in diag["hint"]
    assert [p.name for p in info.parent.iterdir()] == ["dataset_info.json"] and info.read_text(encoding="utf-8") == content


# ---------------------------------------------------------------------------- eval and recipes: the LLM base URL

@pytest.mark.parametrize("url", ["http://[::1:8000/v1", "http://[::1/v1"])
def test_a_base_url_with_an_unclosed_ipv6_bracket_is_e0008_not_an_internal_error(dataset, url):
    """`humc eval --base-url 'http://[::1:8000/v1'` (and a recipe's `base_url:`) was `internal error: ValueError:
    Invalid IPv6 URL`, exit 3."""
    folder, _ = dataset
    diag = refused("eval", str(folder), "--model", "m", "--base-url", url)
    assert diag["code"] == "E0008" and "`[` opens an IPv6 address that no `]` closes" in diag["message"]
    assert diag["hint"] == "write an IPv6 host in brackets, e.g. http://[::1]:8000/v1"
    assert url not in json.dumps(diag)  # a base URL may carry credentials: never quoted


def test_a_recipe_base_url_with_an_unclosed_ipv6_bracket_is_located_at_check(tmp_path):
    recipe = tmp_path / "r.hum.yaml"
    recipe.write_text(tiny_recipe(extra='models:\n  m: {base_url: "http://[::1:8000/v1", model: x}\n'), encoding="utf-8")
    (tmp_path / "data.jsonl").write_text('{"context": "a", "question": "b", "answers": ["a"]}\n', encoding="utf-8")
    diag = refused("check", str(recipe))
    assert (diag["code"], diag["file"], diag["line"], diag["column"]) == ("E0008", str(recipe), 15, 17)
    assert "no URL" in diag["message"]


def test_a_port_out_of_range_is_said_to_be_so():
    assert base_url_problem("http://127.0.0.1:99999/v1") == "has a port that is not a number from 0 to 65535"
    assert base_url_problem("http://[::1]:8000/v1") is None and base_url_hint("http://[::1").startswith("write an IPv6")


# ---------------------------------------------------------------------------- push: the Hub endpoint

@pytest.mark.parametrize(("endpoint", "said"), [("http://[::1", "Invalid IPv6 URL"),
                                                ("http://127.0.0.1:99999", "Port out of range"),
                                                ("ftp://hub.example", "no http:// or https:// URL with a host"),
                                                ("huggingface.co", "no http:// or https:// URL with a host")])
def test_a_malformed_hf_endpoint_is_e5001_naming_it_before_any_request(dataset, monkeypatch, capfd, endpoint, said):
    """An unclosed IPv6 bracket or a port over 65535 in HF_ENDPOINT printed 'Error importing
    huggingface_hub._commit_api: …' and failed with a bare ValueError's words; 'huggingface.co' was 'cannot reach'."""
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    folder, _ = dataset
    diag = refused("push", str(folder), "--repo", "org/tiny")
    assert diag["code"] == "E5001" and f"the Hub endpoint {endpoint!r} is not a URL" in diag["message"]
    assert said in diag["message"] and "HF_ENDPOINT" in diag["hint"] and "https://" in diag["expected"]
    assert "Error importing" not in capfd.readouterr().err


def test_build_push_with_a_malformed_hf_endpoint_stops_before_it_builds(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://[::1")
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    (tmp_path / "data.jsonl").write_text('{"context": "a b", "question": "b", "answers": ["a"]}\n', encoding="utf-8")
    (tmp_path / "r.hum.yaml").write_text(tiny_recipe(extra="publish: {repo: org/tiny}\n"), encoding="utf-8")
    diag = refused("build", str(tmp_path / "r.hum.yaml"), "--push", "--out", str(tmp_path / "out"))
    assert diag["code"] == "E5001" and "Hub endpoint" in diag["message"]
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------- the environment

@pytest.mark.parametrize("value", ["two", "0", "-3", "1.5", "٣"])
def test_a_humc_jobs_that_is_no_positive_integer_is_e9001_before_any_output(tmp_path, monkeypatch, value):
    """HUMC_JOBS=two was ignored without a word (one worker per CPU), as were 0 and -3; `--jobs two` is E9001."""
    monkeypatch.setenv(JOBS_ENV, value)
    (tmp_path / "data.jsonl").write_text('{"context": "a b", "question": "b", "answers": ["a"]}\n', encoding="utf-8")
    (tmp_path / "r.hum.yaml").write_text(tiny_recipe(), encoding="utf-8")
    diag = refused("build", str(tmp_path / "r.hum.yaml"), "--out", str(tmp_path / "out"), "-q")
    assert diag["code"] == "E9001" and diag["message"] == f"invalid value for $HUMC_JOBS: {value!r} is not an integer ≥ 1"
    assert "--jobs" in diag["hint"] and not (tmp_path / "out").exists()
    # --jobs overrides the environment, as its help says
    assert run_cli("build", str(tmp_path / "r.hum.yaml"), "--out", str(tmp_path / "out"), "-q", "-j", "1").exit_code == 0
    assert (tmp_path / "out" / "tiny" / "build.json").is_file()


@pytest.mark.parametrize("value", ["opneai", "httpx"])
def test_an_unknown_llm_transport_is_e9001_before_any_request(dataset, monkeypatch, value):
    """HUMC_LLM_TRANSPORT=opneai was quietly the lean transport."""
    monkeypatch.setenv("HUMC_LLM_TRANSPORT", value)
    folder, _ = dataset
    diag = refused("eval", str(folder), "--model", "m", "--base-url", "http://127.0.0.1:1/v1")
    assert diag["code"] == "E9001" and diag["message"] == f"invalid value for $HUMC_LLM_TRANSPORT: {value!r}"
    assert "lean or openai" in diag["expected"]


# ---------------------------------------------------------------------------- lockfiles and the review page

def test_an_empty_lockfile_says_what_a_lockfile_holds_not_what_a_recipe_does(tmp_path):
    """Was 'expected: a YAML mapping with `hum:` and `name:`' — a recipe's keys, for a lockfile."""
    (tmp_path / "data.jsonl").write_text('{"context": "a b", "question": "b", "answers": ["a"]}\n', encoding="utf-8")
    (tmp_path / "r.hum.yaml").write_text(tiny_recipe(), encoding="utf-8")
    (tmp_path / "r.hum.lock").write_text("", encoding="utf-8")
    diag = refused("review", str(tmp_path / "r.hum.yaml"), "--list")
    assert (diag["code"], diag["file"], diag["line"]) == ("E0009", str(tmp_path / "r.hum.lock"), 1)
    assert "`humc_lock:`" in diag["expected"] and "hum:" not in diag["expected"].replace("humc_lock:", "")


def _proposed_lock(tmp_path: Path) -> Path:
    lock = tmp_path / "x.hum.lock"
    save_lock(Lockfile(lock, "x", [LockItem(id=f"a{i}", kind="guideline", entry="e", status="proposed", origin="llm",
                                            model="m", request="k", language="en", text=f"Be brief {i}.", labels={})
                                   for i in range(2)]))
    return lock


def test_a_review_whose_scripted_answers_run_out_is_e9001_keeping_the_decisions_made(tmp_path):
    """Input that ended at a prompt was exit 130, 'interrupted', as if the reviewer had pressed Ctrl-C."""
    lock = _proposed_lock(tmp_path)
    result = CliRunner().invoke(main, ["--format", "json", "review", str(lock)], input="a\n")
    assert result.exit_code == 2, result.output
    (diag,) = json.loads(result.stdout)["diagnostics"]
    assert diag["code"] == "E9001" and diag["message"] == "standard input ended before the review did"
    assert "--accept-all" in diag["hint"] and "saved" in diag["hint"]
    assert [i.status for i in load_lock(lock).items] == ["accepted", "proposed"]


def test_a_review_with_its_standard_input_closed_is_e9001_not_an_internal_error(tmp_path):
    """`humc review R <&-` was `internal error: RuntimeError: input(): lost sys.stdin`, exit 3."""
    lock = _proposed_lock(tmp_path)
    result = subprocess.run([sys.executable, "-m", "humc", "review", str(lock)], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120,
                            preexec_fn=lambda: os.close(0))
    assert result.returncode == 2, result.stderr
    assert "error[E9001]: humc review asks its questions on standard input, which is closed" in result.stderr
    assert "Traceback" not in result.stderr and all(i.status == "proposed" for i in load_lock(lock).items)


def test_a_browser_that_drops_its_connection_prints_no_traceback_in_the_review_terminal(capsys):
    """A reload mid-answer (connection reset, broken pipe) printed socketserver's 'Exception occurred during
    processing of request' and a traceback to the reviewer's terminal."""
    server = ReviewServer.__new__(ReviewServer)
    try:
        raise ConnectionResetError(104, "Connection reset by peer")
    except ConnectionResetError:
        server.handle_error(None, ("127.0.0.1", 1))
    assert capsys.readouterr().err == ""
    try:
        raise ValueError("a bug")
    except ValueError:
        server.handle_error(None, ("127.0.0.1", 1))
    assert "ValueError: a bug" in capsys.readouterr().err and sys.exc_info()[0] is None


# ---------------------------------------------------------------------------- empty paths (an unset shell variable)

@pytest.mark.parametrize(("args", "name", "what"), [
    (["eval", "{ds}", "--predictions", "{preds}", "--markdown", ""], "--markdown", "file"),
    (["eval", "{ds}", "--predictions", "{preds}", "--report", ""], "--report", "file"),
    (["eval", "{ds}", "--predictions", ""], "--predictions", "file"),
    (["review", "", "--list"], "RECIPE_OR_LOCK", "file"),
    (["schema", "--out", ""], "--out", "file"),
    (["cache", "info", ""], "RECIPE", "file"),
    (["stdlib", "--stdlib", "", "tasks"], "--stdlib", "folder"),
], ids=["markdown", "report", "predictions", "review", "schema", "cache-info", "stdlib"])
def test_an_empty_file_or_folder_argument_is_e9001_not_the_current_folder(dataset, tmp_path, args, name, what):
    """`--markdown ""` and `humc review ""` were `internal error: ValueError: PosixPath('.') has an empty name`
    (exit 3); `--report ""` and `schema --out ""` were 'cannot write .'; `cache info ""` read the current folder."""
    folder, ids = dataset
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps({"id": ids[0], "prediction": "x"}) + "\n", encoding="utf-8")
    diag = refused(*(a.format(ds=folder, preds=preds) for a in args))
    assert diag["code"] == "E9001" and diag["message"].startswith(f"invalid value for {name}: the {what} is an empty text")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.jsonl"]


def test_a_max_tokens_no_server_reads_is_a_usage_error_naming_the_range(tmp_path):
    """`--max-tokens 2**64` went to the server as it was."""
    diag = refused("eval", str(tmp_path), "--model", "m", "--base-url", "http://127.0.0.1:1/v1",
                   "--max-tokens", str(2**64))
    assert diag["code"] == "E9001" and "--max-tokens" in diag["message"]
    assert diag["expected"] == "--max-tokens takes an integer from 1 to 2,147,483,647"
