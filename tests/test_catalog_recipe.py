"""Recipes that name catalog adapters (`sources: {x: {catalog: NAME, path: …}}`): defaults, overrides,
located errors (in the recipe or in the catalog file), user stdlib folders, `humc stdlib catalog`, and the
readers the catalog added (blocks, conll `rest`, json folders with `explode`, IEPile, InstructUIE)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from helpers import REPO, run_cli

from humc.errors import HumcError, RecipeError, SourceError
from humc.expr.functions import (
    FunctionError,
    bracket_spans,
    oneie_events,
    pluck,
    rows_without,
    semeval_relations,
    semeval_text,
)
from humc.ir import SourceDef
from humc.recipe.validate import compile_recipe
from humc.sources import read_source
from humc.sources_importers import group_by_dataset

DATA = REPO / "tests" / "data"
CONLL = "data/conll2003/eng.testa.head"


def write(tmp: Path, body: str, name: str = "r.hum.yaml") -> Path:
    if not (tmp / "data").exists():
        shutil.copytree(DATA / "conll2003", tmp / "data" / "conll2003")
    path = tmp / name
    path.write_text(body, encoding="utf-8")
    return path


def recipe(source: str, task: str = "  - source: conll\n", extra: str = "") -> str:
    return f"hum: 1\nname: r\n{extra}sources:\n  conll: {source}\ntasks:\n{task}"


def test_a_catalog_source_alone_gives_format_options_task_fields_labels_and_guidelines(tmp_path: Path):
    r = compile_recipe(write(tmp_path, recipe(f"{{catalog: conll2003, path: {CONLL}}}")))
    (entry,) = r.tasks
    src = r.sources["conll"]
    assert (src.format, src.options) == ("conll", {"doc_start": "-DOCSTART-"})  # word first, tag last: any width
    assert (entry.id, entry.task.id, entry.schema and entry.schema.labels) == ("conll", "ner", ("PER", "ORG", "LOC", "MISC"))
    assert [g.id for g in entry.guidelines] == ["conll2003_types", "span_boundaries"]
    assert dict(entry.fields)["entities"].src.text == 'bio_spans(tokens, tags, scheme="iob1")'


def test_recipe_values_override_catalog_defaults_key_by_key(tmp_path: Path):
    task = ("  - source: conll\n    id: mine\n    fields: {text: tokens | join(\"_\")}\n    labels: [PER]\n"
            "    guidelines: [span_boundaries]\n    preferences: [empty_brackets]\n")
    source = f"{{catalog: conll2003, path: {CONLL}, options: {{comment: '#'}}}}"
    r = compile_recipe(write(tmp_path, recipe(source, task)))
    (entry,) = r.tasks
    fields = {k: v.src.text for k, v in entry.fields}
    assert fields["text"] == 'tokens | join("_")' and fields["entities"].startswith("bio_spans")  # merged per key
    assert r.sources["conll"].options == {"doc_start": "-DOCSTART-", "comment": "#"}
    assert entry.id == "mine" and entry.schema and entry.schema.labels == ("PER",)
    assert [g.id for g in entry.guidelines] == ["span_boundaries"] and [p.id for p in entry.rules] == ["empty_brackets"]


def test_another_format_takes_none_of_the_catalog_options(tmp_path: Path):
    source = f"{{catalog: conll2003, path: {CONLL}, format: tsv, options: {{header: false}}}}"
    task = "  - source: conll\n    fields: {text: column0, entities: '[]'}\n"
    r = compile_recipe(write(tmp_path, recipe(source, task)))
    assert (r.sources["conll"].format, r.sources["conll"].options) == ("tsv", {"header": False})


def test_another_task_takes_only_the_source_from_the_catalog(tmp_path: Path):
    task = "  - source: conll\n    task: classification\n"
    with pytest.raises(RecipeError) as exc:
        compile_recipe(write(tmp_path, recipe(f"{{catalog: conll2003, path: {CONLL}}}", task)))
    assert exc.value.code == "E0006" and "fields" in exc.value.message


def test_an_unknown_catalog_name_is_located_with_a_did_you_mean(tmp_path: Path):
    path = write(tmp_path, recipe(f"{{catalog: conll2030, path: {CONLL}}}"))
    result = run_cli("check", str(path))
    assert result.exit_code == 2
    assert "r.hum.yaml:4:20: error[E2015]: unknown catalog dataset 'conll2030'" in result.output
    assert "did you mean 'conll2003'" in result.output and "Traceback" not in result.output
    assert "1 error" in result.output or "error(s)" not in result.output  # no follow-on error for the task entry


def test_catalog_options_are_checked_like_recipe_options(tmp_path: Path):
    with pytest.raises(RecipeError) as exc:
        compile_recipe(write(tmp_path, recipe(f"{{catalog: conll2003, path: {CONLL}, options: {{header: true}}}}")))
    assert exc.value.code == "E0005" and "header" in exc.value.message and exc.value.span.line == 4


def user_stdlib(tmp: Path, text: str) -> str:
    folder = tmp / "mylib" / "catalog"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "my_ner.yaml").write_text(text, encoding="utf-8")
    return "stdlib: [mylib]\n"


MY_NER = """id: my_ner
description: CoNLL columns of my own
task: ner
license: cc0-1.0
format: conll
options: {columns: [tokens, pos, chunk, tags], doc_start: -DOCSTART-}
fields:
  text: tokens | join(" ")
  entities: bio_spans(tokens, tags)
guidelines: [span_boundaries]
"""


def test_a_recipe_stdlib_folder_adds_catalog_entries(tmp_path: Path):
    extra = user_stdlib(tmp_path, MY_NER)
    result = run_cli("check", str(write(tmp_path, recipe(f"{{catalog: my_ner, path: {CONLL}}}", extra=extra))),
                     "--rows", "all", "--strict")
    assert result.exit_code == 0, result.output
    assert "conll: 33 row(s) read, 33 kept" in result.output and "problems: none" in result.output


@pytest.mark.parametrize(("bad", "good", "code", "line", "col"), [
    ("entities: bio_spans(tokens, tags)", "entities: bio_spans(tokens, tags,)", "E1001", 9, 36),
    ("guidelines: [span_boundaries]", "guidelines: [span_boundary]", "E2008", 10, 14),
    ("format: conll", "format: conl", "E4002", 5, 9),
    ("doc_start: -DOCSTART-", "doc_start: -DOCSTART-, separator: 3", "E0008", 6, 82),
])
def test_errors_in_a_catalog_file_are_located_in_that_file(tmp_path: Path, bad: str, good: str, code: str, line: int,
                                                            col: int):
    extra = user_stdlib(tmp_path, MY_NER.replace(bad, good))
    result = run_cli("check", str(write(tmp_path, recipe(f"{{catalog: my_ner, path: {CONLL}}}", extra=extra))))
    assert result.exit_code == 2, result.output
    assert f"my_ner.yaml:{line}:{col}: error[{code}]" in result.output, result.output


def test_an_expression_from_the_catalog_that_fails_on_a_record_names_the_record(tmp_path: Path):
    extra = user_stdlib(tmp_path, MY_NER.replace("bio_spans(tokens, tags)", 'bio_spans(tokens, tags, scheme="bioes")'))
    result = run_cli("check", str(write(tmp_path, recipe(f"{{catalog: my_ner, path: {CONLL}}}", extra=extra))),
                     "--rows", "all", "--strict")
    assert result.exit_code == 2 and "my_ner.yaml:9:13: error[E4102]" in result.output
    assert "source 'conll' row 0" in result.output


def test_one_recipe_builds_a_whole_iepile_file_and_a_where_keeps_one_dataset(tmp_path: Path):
    shutil.copytree(DATA / "fixtures" / "iepile", tmp_path / "iepile")
    body = ("hum: 1\nname: r\nsources:\n" + "".join(f"  {k}: {{catalog: iepile_{k}, path: iepile/train.json}}\n"
                                                   for k in ("ner", "re", "ee"))
            + "tasks:\n  - source: ner\n    where: kind == \"ner\" and dataset == \"CoNLL2003\"\n"
              "  - source: re\n  - source: ee\n")
    result = run_cli("check", str(write(tmp_path, body)), "--rows", "all", "--strict")
    assert result.exit_code == 0, result.output
    assert "ner: 4 row(s) read, 2 kept" in result.output and "re: 4 row(s) read, 1 kept" in result.output
    assert "ee: 4 row(s) read, 1 kept" in result.output


@pytest.mark.parametrize("name", ["mrc", "hum_mix", "classification"])
def test_every_example_recipe_reads_catalog_sources_and_writes_to_out_slash_its_name(name: str):
    r = compile_recipe(REPO / "recipes" / f"{name}.hum.yaml")
    assert r.output.dir == REPO / "recipes" / "out" / r.name  # not the last split's name
    assert all(src.path is not None and "data" in src.path.parts for src in r.sources.values())


# ------------------------------------------------------------------ humc stdlib catalog


def test_stdlib_catalog_lists_every_adapter_with_task_format_license_and_description():
    result = run_cli("stdlib", "catalog")
    assert result.exit_code == 0
    line = next(ln for ln in result.output.splitlines() if ln.strip().startswith("conll2003 "))
    assert "ner" in line and "conll" in line and "research-only" in line and "Reuters news NER" in line
    assert sum(1 for ln in result.output.splitlines() if ln.startswith("  ")) >= 31


def test_stdlib_catalog_name_shows_one_adapter():
    result = run_cli("stdlib", "catalog", "go_emotions")
    assert result.exit_code == 0
    assert "format:       tsv" in result.output and "quoting" in result.output
    assert 'labels: lookup(split(label_ids, ","), go_emotions_labels)' in result.output
    assert "use:          sources: {my_data: {catalog: go_emotions, path: …}}" in result.output


def test_stdlib_catalog_json_is_the_verdict_with_the_listing():
    listing = json.loads(run_cli("--format", "json", "stdlib", "catalog").stdout)
    assert listing["ok"] and {e["id"] for e in listing["stdlib"]} >= {"squad_v2", "trec", "iepile_ner"}
    one = json.loads(run_cli("stdlib", "catalog", "trec", "--format", "json").stdout)
    assert one["stdlib"]["options"]["encoding"] == ["utf-8-sig", "latin-1"] and one["stdlib"]["task"] == "classification"


def test_stdlib_catalog_lists_the_entries_of_an_added_stdlib_folder(tmp_path: Path):
    user_stdlib(tmp_path, MY_NER)
    result = run_cli("stdlib", "catalog", "my_ner", "--stdlib", str(tmp_path / "mylib"))
    assert result.exit_code == 0 and "CoNLL columns of my own" in result.output and "cc0-1.0" in result.output


def test_stdlib_catalog_unknown_name_and_a_name_after_another_kind_are_usage_errors():
    result = run_cli("stdlib", "catalog", "squad2")
    assert result.exit_code == 2 and "E2015" in result.output and "did you mean 'squad_v2'" in result.output
    result = run_cli("stdlib", "rules", "x")
    assert result.exit_code == 2 and "error[E9001]: no rule 'x' in the stdlib" in result.output
    task = run_cli("stdlib", "templates", "nerr")  # a task's templates are asked for by the task
    assert task.exit_code == 2 and "error[E9001]: no task 'nerr' with templates in the stdlib" in task.output
    assert "hint: did you mean 'ner'?" in task.output
    one = run_cli("stdlib", "templates", "ner/en_9")  # task/id: that task's templates, not every one
    assert "expected: one of: ner/en_1, ner/en_2, ner/en_3, ner/en_structured, ner/zh_1" in one.output
    assert "re/en_1" not in one.output


def test_stdlib_kind_name_prints_the_file_of_an_item_to_start_your_own_from(tmp_path: Path):
    rule = run_cli("stdlib", "rules", "empty_brackets")
    assert rule.exit_code == 0 and rule.output.startswith("# ") and "stdlib/rules/empty_brackets.yaml" in rule.output
    assert 'then: empty_as("[]")' in rule.output
    templates = run_cli("stdlib", "templates", "mrc_yes_no")
    assert templates.exit_code == 0 and templates.output.count("# ") >= 4 and "{{ format_instruction }}" in templates.output
    one = json.loads(run_cli("--format", "json", "stdlib", "templates", "ner/en_1").stdout)["stdlib"]
    assert len(one) == 1 and one[0]["path"].endswith("templates/ner/en_1.j2")
    assert one[0]["text"] == (REPO / "stdlib" / "templates" / "ner" / "en_1.j2").read_text(encoding="utf-8")
    typo = run_cli("stdlib", "variants", "jsn")
    assert typo.exit_code == 2 and "did you mean 'json' or 'jsonl'?" in typo.output
    task = run_cli("stdlib", "templates", "nerr")  # templates are asked for by task: the tasks are named
    assert task.exit_code == 2 and "did you mean 'ner'?" in task.output and "ner/en_1" not in task.output


def test_a_multilingual_adapter_shows_that_the_recipes_language_names_its_records():
    result = run_cli("stdlib", "catalog", "conll2002")
    assert result.exit_code == 0 and "language:     the recipe's" in result.output
    assert "language:     en" in run_cli("stdlib", "catalog", "conll2003").output


# ------------------------------------------------------------------ the readers the catalog added


def rows(path: Path, fmt: str, **options: object) -> list[dict]:
    return [row.record for row in read_source(SourceDef("s", path, fmt, dict(options)))]


def test_a_block_of_the_wrong_length_is_an_error_at_its_first_line(tmp_path: Path):
    path = tmp_path / "blocks.txt"
    path.write_text('1\t"a <e1>b</e1> <e2>c</e2>"\nOther\nComment:\n\n2\t"x"\nOther\n\n', encoding="utf-8")
    with pytest.raises(SourceError) as exc:
        rows(path, "blocks", lines=["sentence", "relation", "comment"])
    assert exc.value.span.line == 5 and "2 lines, expected 3" in exc.value.message


def test_read_blocks_keeps_each_block_line(tmp_path: Path):
    path = tmp_path / "blocks.txt"
    path.write_text("a\nb\n\n\nc\nd", encoding="utf-8")
    got = list(read_source(SourceDef("s", path, "blocks", {"lines": ["x", "y"]})))
    assert [(r.record, r.line) for r in got] == [({"x": "a", "y": "b"}, 1), ({"x": "c", "y": "d"}, 5)]


def test_conll_rest_collects_the_variable_columns_and_a_short_line_is_located(tmp_path: Path):
    path = tmp_path / "a.conll"
    path.write_text("a X (P*\nb Y *) v1 v2\n\nc\n", encoding="utf-8")
    with pytest.raises(SourceError) as exc:
        rows(path, "conll", columns=["tokens", "pos", "names"], rest="more")
    assert exc.value.span.line == 4
    path.write_text("a X (P*\nb Y *) v1 v2\n", encoding="utf-8")
    assert rows(path, "conll", columns=["tokens", "pos", "names"], rest="more")[0]["more"] == [[], ["v1", "v2"]]


def test_json_explode_needs_parallel_lists(tmp_path: Path):
    path = tmp_path / "1.txt"
    path.write_text('{"questions": ["q1", "q2"], "answers": ["A"]}', encoding="utf-8")
    with pytest.raises(SourceError, match="parallel lists"):
        rows(path, "json", explode=["questions", "answers"])


def test_iepile_lines_that_do_not_decode_are_located(tmp_path: Path):
    path = tmp_path / "train.json"
    good = (DATA / "fixtures" / "iepile" / "train.json").read_text(encoding="utf-8").splitlines()[0]
    for bad, message in [('{"task": "NER", "instruction": "{oops"}', "`instruction` is not JSON"),
                         ('{"task": "XX", "instruction": "{}"}', "unknown IEPile task"),
                         ('{"task": "NER", "instruction": "{\\"input\\": \\"t\\"}", "output": "[]"}', "not a JSON object"),
                         ('{"task": "NER", "instruction": "{}"}', "holds no `input`"), ("[1]", "not an IEPile record")]:
        path.write_text(good + "\n" + bad + "\n", encoding="utf-8")
        with pytest.raises(SourceError) as exc:
            rows(path, "iepile")
        assert exc.value.span.line == 2 and message in exc.value.message


def test_one_iepile_call_groups_a_mixed_file_by_dataset():
    groups = group_by_dataset(read_source(SourceDef("s", DATA / "fixtures" / "iepile" / "train.json", "iepile", {})))
    assert {k: [r["task"] for r in v] for k, v in groups.items()} == {"CoNLL2003": ["ner", "ner"], "NYT11": ["re"],
                                                                      "PHEE": ["ee"]}
    assert groups["CoNLL2003"][0]["labels"] == ["person", "organization", "else", "location"]


def test_instructuie_reads_one_dataset_folder_or_file_and_reports_a_missing_split(tmp_path: Path):
    root = DATA / "fixtures" / "instructuie" / "IE_INSTRUCTIONS"
    assert {r["dataset"] for r in rows(root / "NER" / "CoNLL2003", "instructuie")} == {"CoNLL2003"}
    assert rows(root / "RE" / "CoNLL2004" / "train.json", "instructuie")[0]["labels"][1] == "kill"
    with pytest.raises(SourceError, match="no dev.json"):
        rows(root, "instructuie", split="dev")
    (tmp_path / "X").mkdir()
    (tmp_path / "X" / "train.json").write_text("[]", encoding="utf-8")
    with pytest.raises(SourceError, match="cannot tell the task"):
        rows(tmp_path, "instructuie")


def test_a_folder_is_a_source_only_for_formats_that_read_folders(tmp_path: Path):
    body = recipe(f"{{catalog: conll2003, path: {CONLL}, format: tsv}}").replace(CONLL, "data/conll2003")
    with pytest.raises(HumcError, match="is not a file"):
        compile_recipe(write(tmp_path, body))


# ------------------------------------------------------------------ the adapter functions the catalog added


@pytest.mark.parametrize(("call", "message"), [
    (lambda: bracket_spans(["a"], ["*", "*"]), "1 tokens but 2 tags"),
    (lambda: bracket_spans(["a", "b"], ["(P*", "(Q*"]), "inside the span opened at token 0"),
    (lambda: bracket_spans(["a"], ["B-PER"]), "not a bracketed name tag"),
    (lambda: bracket_spans(["a"], ["*)"]), "closes a span that is not open"),
    (lambda: bracket_spans(["a"], ["(P*"]), "never closed"),
    (lambda: semeval_text("no id here"), "not a SemEval-2010 Task 8 sentence (id TAB"),
    (lambda: semeval_relations('1\t"<e1>a</e1> b"', "Cause-Effect"), "not a SemEval-2010 Task 8 relation label"),
    (lambda: semeval_relations('1\t"<e1>a</e1> b"', "Cause-Effect(e1,e2)"), "no <e2> mention"),
])
def test_adapter_functions_name_what_is_wrong(call, message):
    with pytest.raises(FunctionError, match=re.escape(message)):
        call()


def test_adapter_functions_on_published_shapes():
    assert bracket_spans(["Hong", "Kong", "Disney"], ["(GPE*", "*)", "(ORG)"]) == [
        {"type": "GPE", "span": "Hong Kong", "start": 0, "end": 2}, {"type": "ORG", "span": "Disney", "start": 2, "end": 3}]
    assert semeval_relations('7\t"<e1>x y</e1> of <e2>z</e2>"', "Member-Collection(e1,e2)") == [
        {"head": "x y", "relation": "Member-Collection", "tail": "z"}]
    assert oneie_events(["a"], [{"event_type": "E", "trigger": {"text": "t"}}]) == [
        {"event_type": "E", "trigger": "t", "role": "", "argument": ""}]
    assert pluck([{"@value": "v"}, "plain", {}], "@value") == ["v", "plain", ""]
    assert rows_without([{"r": "None"}, {"r": "x"}], "r", "None") == [{"r": "x"}]


def test_a_header_line_read_as_a_record_gets_the_header_option_as_hint(tmp_path: Path):
    """AG News as Kaggle re-saves it: the release's rows under a `Class Index,Title,Description` header, which the
    adapter (no header, as published) reads as a first record."""
    rows = (DATA / "ag_news" / "train.head80.csv").read_text(encoding="utf-8")
    (tmp_path / "train.csv").write_text('"Class Index","Title","Description"\n' + rows, encoding="utf-8")
    (tmp_path / "r.hum.yaml").write_text("hum: 1\nname: agh\nsources:\n  ag: {catalog: ag_news, path: train.csv}\n"
                                         "tasks:\n  - source: ag\n", encoding="utf-8")
    result = run_cli("build", "r.hum.yaml", "-q", cwd=tmp_path)
    assert result.exit_code == 2 and "error[E4102]: lookup(): the index is a string ('Class Index')" in result.output
    assert "hint: line 1 looks like a header row, read as a record: set `options: {header: true}`" in result.output
    assert not (tmp_path / "out").exists()
    (tmp_path / "r.hum.yaml").write_text("hum: 1\nname: agh\nsources:\n  ag: {catalog: ag_news, path: train.csv, "
                                         "options: {header: true}}\ntasks:\n  - source: ag\n", encoding="utf-8")
    assert run_cli("build", "r.hum.yaml", "-q", cwd=tmp_path).exit_code == 0
