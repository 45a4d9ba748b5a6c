"""Real samples (tests/data/<name>/, see each SOURCE.md) re-saved the ways their copies circulate: SQuAD as the Hub's
flat records (`Dataset.to_json`'s JSON Lines, a JSON list, a `data` list), a JSON-list adapter given JSON Lines and a
JSON Lines adapter given a JSON list or a CSV table, CoNLL-2003's token-tag copies, and a TSV that quotes its values
(pandas' `to_csv(sep="\\t")`). Each must read, through its catalog adapter, to the gold the published file gives."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from helpers import REPO, run_cli

from humc.errors import SourceError
from humc.ir import SourceDef
from humc.recipe.validate import compile_recipe
from humc.sources import infer_format, read_source

DATA = REPO / "tests" / "data"
SQUAD = DATA / "squad_v2" / "dev-v2.0.normans.json"


def read(path: Path, fmt: str, **options: Any) -> list[dict[str, Any]]:
    return [row.record for row in read_source(SourceDef("s", path, fmt, options))]


def hub_rows() -> list[dict[str, Any]]:
    """The SQuAD sample as the Hub's squad_v2 lays it out: one flat record per question."""
    return [{k: r[k] for k in ("id", "title", "context", "question", "answers")} for r in read(SQUAD, "squad")]


def built_gold(folder: Path, source: str) -> list[str]:
    """Build `{catalog: …}` from ``source`` (one instruction per record, every split kept) -> its gold answers, sorted."""
    folder.mkdir(exist_ok=True)
    (folder / "r.hum.yaml").write_text(f"hum: 1\nname: r\nsources:\n  x: {source}\ntasks:\n  - source: x\n"
                                       "    variants_per_record: 1\noutput: {dedup: false}\n", encoding="utf-8")
    result = run_cli("build", "r.hum.yaml", "-q", "-j", "1", cwd=folder)
    assert result.exit_code == 0, result.output
    return sorted(g for shard in sorted((folder / "out" / "r" / "data").glob("*.parquet"))
                  for g in pq.read_table(shard, columns=["gold"]).column("gold").to_pylist())


@pytest.mark.parametrize("form", ["jsonl", "jsonl_under_json_name", "list", "data_list", "answer_objects"])
def test_squad_as_the_hubs_flat_records_reads_like_the_nested_file(tmp_path: Path, form: str):
    nested, rows = read(SQUAD, "squad"), hub_rows()
    if form == "answer_objects":  # some exports write answers as [{text, answer_start}]
        rows = [r | {"answers": [{"text": t, "answer_start": s} for t, s in
                                 zip(r["answers"]["text"], r["answers"]["answer_start"], strict=True)]} for r in rows]
    lines = "".join(json.dumps(r) + "\n" for r in rows)
    text = {"jsonl": lines, "jsonl_under_json_name": lines, "list": json.dumps(rows),
            "data_list": json.dumps({"version": "v2.0", "data": rows}), "answer_objects": json.dumps(rows)}[form]
    path = tmp_path / ("dev.jsonl" if form == "jsonl" else "dev.json")
    path.write_text(text, encoding="utf-8")
    got = read(path, "squad")
    assert [r["answers"] for r in got] == [r["answers"] for r in nested]
    assert [r["is_impossible"] for r in got] == [r["is_impossible"] for r in nested]
    assert [(r["context"], r["question"], r["id"]) for r in got] == [(r["context"], r["question"], r["id"]) for r in nested]


def test_a_flat_squad_record_without_a_question_is_located_at_its_line(tmp_path: Path):
    rows = hub_rows()[:3]
    del rows[2]["question"]
    path = tmp_path / "dev.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(SourceError) as exc:
        read(path, "squad")
    assert exc.value.span.line == 3 and "line 3 has no string 'question'" in exc.value.message


def test_the_squad_adapter_builds_the_hubs_json_lines_export_to_the_published_gold(tmp_path: Path):
    (tmp_path / "dev.json").write_bytes(SQUAD.read_bytes())
    (tmp_path / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in hub_rows()), encoding="utf-8")
    published = built_gold(tmp_path / "a", "{catalog: squad_v2, path: ../dev.json}")
    assert built_gold(tmp_path / "b", "{catalog: squad_v2, path: ../validation.jsonl}") == published
    assert len(published) == len(read(SQUAD, "squad"))  # unanswerable questions included


def catalog_source(tmp: Path, source: str) -> SourceDef:
    (tmp / "r.hum.yaml").write_text(f"hum: 1\nname: r\nsources:\n  x: {source}\ntasks:\n  - source: x\n", encoding="utf-8")
    return compile_recipe(tmp / "r.hum.yaml").sources["x"]


def test_an_adapter_of_json_records_reads_them_as_json_lines_a_json_list_or_csv(tmp_path: Path):
    arc = json.loads((DATA / "arc" / "ARC-Easy.validation.head120.json").read_text(encoding="utf-8"))
    (tmp_path / "arc.jsonl").write_text("".join(json.dumps(r) + "\n" for r in arc), encoding="utf-8")
    (tmp_path / "arc.json").write_text("".join(json.dumps(r) + "\n" for r in arc), encoding="utf-8")  # JSON Lines
    for name in ("arc.jsonl", "arc.json"):
        src = catalog_source(tmp_path, f"{{catalog: arc, path: {name}}}")
        assert src.format == "jsonl" and [row.record for row in read_source(src)] == arc
    (tmp_path / "race.jsonl").write_text('{"article": "a", "questions": ["q"], "options": [["x"]], "answers": ["A"]}\n'
                                         '{"article": "b", "questions": [], "options": [], "answers": []}\n')
    race = catalog_source(tmp_path, "{catalog: race, path: race.jsonl}")  # articles one per line, then exploded
    assert race.format == "jsonl" and [row.record["questions"] for row in read_source(race)] == ["q"]
    dolly = [json.loads(line) for line in (DATA / "dolly" / "databricks-dolly-15k.head.jsonl").read_text("utf-8").splitlines()]
    (tmp_path / "dolly.jsonl").write_text("".join(json.dumps(r) + "\n" for r in dolly), encoding="utf-8")
    (tmp_path / "dolly.json").write_text(json.dumps(dolly, indent=2), encoding="utf-8")
    with open(tmp_path / "dolly.csv", "w", encoding="utf-8", newline="") as f:  # multi-line values, quoted
        writer = csv.DictWriter(f, fieldnames=list(dolly[0]))
        writer.writeheader()
        writer.writerows(dolly)
    want = built_gold(tmp_path / "d1", "{catalog: dolly, path: ../dolly.jsonl}")
    assert len(want) == len(dolly) and any("\\n" in g for g in want)
    assert [row.record for row in read_source(catalog_source(tmp_path, "{catalog: dolly, path: dolly.json}"))] == dolly
    assert built_gold(tmp_path / "d3", "{catalog: dolly, path: ../dolly.csv}") == want
    table = pd.read_csv(tmp_path / "dolly.csv")  # the empty contexts of open questions become NaN, then null
    table.to_parquet(tmp_path / "dolly.parquet")
    assert table["context"].isna().sum() > 0
    assert built_gold(tmp_path / "d4", "{catalog: dolly, path: ../dolly.parquet}") == want


def test_conll2003_token_tag_copies_read_to_the_four_column_files_gold(tmp_path: Path):
    lines = (DATA / "conll2003" / "eng.testa.head").read_text(encoding="utf-8").split("\n")
    two = "\n".join(f"{line.split()[0]} {line.split()[-1]}" if line.strip() else line for line in lines)
    (tmp_path / "eng.testa").write_text("\n".join(lines), encoding="utf-8")
    (tmp_path / "valid.txt").write_text(two, encoding="utf-8")
    (tmp_path / "valid.tsv.txt").write_text(two.replace(" ", "\t"), encoding="utf-8")
    want = built_gold(tmp_path / "four", "{catalog: conll2003, path: ../eng.testa}")
    assert any('"LOC"' in g for g in want)
    assert built_gold(tmp_path / "two", "{catalog: conll2003, path: ../valid.txt}") == want
    assert built_gold(tmp_path / "tab", "{catalog: conll2003, path: ../valid.tsv.txt}") == want


def test_a_tsv_that_quotes_its_values_is_refused_with_the_quoting_to_set(tmp_path: Path):
    dolly = [json.loads(line) for line in (DATA / "dolly" / "databricks-dolly-15k.head.jsonl").read_text("utf-8").splitlines()]
    path = tmp_path / "dolly.tsv"
    with open(path, "w", encoding="utf-8", newline="") as f:  # as pandas' to_csv(sep="\t") writes it
        writer = csv.DictWriter(f, fieldnames=list(dolly[0]), delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(dolly)
    with pytest.raises(SourceError) as exc:
        read(path, "tsv")
    assert exc.value.code == "E4001" and "values but 4 columns" in exc.value.message
    assert "`options: {quoting: minimal}`" in (exc.value.hint or "")
    assert [r["response"] for r in read(path, "tsv", quoting="minimal")] == [r["response"] for r in dolly]


def test_json_lines_whose_first_document_outgrows_the_sniffed_head_are_json_lines(tmp_path: Path):
    lines = (DATA / "duee" / "duee_dev.head60.json").read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    first["text"] += "长" * 70_000  # one 200 KB document: the first line is longer than the 64 KiB sniffed
    path = tmp_path / "duee_dev.json"
    path.write_text("\n".join([json.dumps(first, ensure_ascii=False), *lines[1:]]) + "\n", encoding="utf-8")
    assert infer_format(path) == "jsonl"
    assert [r["id"] for r in read(path, "jsonl")] == [json.loads(line)["id"] for line in lines]
    squad = tmp_path / "dev.jsonl"
    rows = hub_rows()[:3]
    rows[0]["context"] += " filler" * 20_000
    squad.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert [r["id"] for r in read(squad, "squad")] == [r["id"] for r in rows]
    with pytest.raises(SourceError) as exc:  # read as one JSON document: the hint still names JSON Lines
        read(path, "json")
    assert exc.value.span.line == 2 and "use `format: jsonl`" in (exc.value.hint or "")


def test_a_table_written_by_columns_is_refused_with_how_to_write_records(tmp_path: Path):
    dolly = [json.loads(line) for line in (DATA / "dolly" / "databricks-dolly-15k.head.jsonl").read_text("utf-8").splitlines()]
    path = tmp_path / "dolly.json"
    pd.DataFrame(dolly).to_json(path)  # pandas' default orient: {column: {row: value}}
    with pytest.raises(SourceError) as exc:
        read(path, "json")
    assert exc.value.code == "E4001" and "expected a JSON list of objects" in exc.value.message
    assert "holds columns, not records" in (exc.value.hint or "") and "orient='records'" in (exc.value.hint or "")


def test_the_hubs_json_lines_export_given_to_a_column_file_adapter_is_refused_at_the_path(tmp_path: Path):
    rows = read(DATA / "conll2003" / "eng.testa.head", "conll")[:3]
    (tmp_path / "validation.jsonl").write_text("".join(  # as Dataset.to_json writes eriktks/conll2003: integer tags
        json.dumps({"id": str(n), "tokens": r["tokens"], "ner_tags": [0] * len(r["tokens"])}) + "\n"
        for n, r in enumerate(rows)), encoding="utf-8")
    (tmp_path / "r.hum.yaml").write_text("hum: 1\nname: r\nsources:\n  x: {catalog: conll2003, path: validation.jsonl}\n"
                                         "tasks:\n  - source: x\n", encoding="utf-8")
    result = run_cli("build", "r.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 2 and not (tmp_path / "out").exists()
    assert "r.hum.yaml:4:33: error[E2016]: catalog 'conll2003' reads the column files its dataset is published in " \
           "(conll), and source 'x' is a jsonl file of records" in result.output
    assert "lookup(ner_tags, [names…])" in result.output


def test_a_json_lines_file_of_one_record_stays_json_lines_and_records_names_a_wrapped_list(tmp_path: Path):
    line = (DATA / "dolly" / "databricks-dolly-15k.head.jsonl").read_text("utf-8").splitlines()[0]
    (tmp_path / "one.json").write_text(line + "\n", encoding="utf-8")
    src = catalog_source(tmp_path, "{catalog: dolly, path: one.json}")
    assert src.format == "jsonl" and [row.record for row in read_source(src)] == [json.loads(line)]
    (tmp_path / "wrapped.json").write_text('{"data": [' + line + "]}\n", encoding="utf-8")  # one object, one line
    src = catalog_source(tmp_path, "{catalog: dolly, path: wrapped.json, options: {records: data}}")  # as hinted
    assert src.format == "json" and [row.record for row in read_source(src)] == [json.loads(line)]


def test_a_semicolon_csv_read_with_commas_names_the_delimiter_to_set(tmp_path: Path):
    dolly = [json.loads(line) for line in (DATA / "dolly" / "databricks-dolly-15k.head.jsonl").read_text("utf-8").splitlines()]
    path = tmp_path / "dolly.csv"
    pd.DataFrame(dolly).to_csv(path, sep=";", index=False)  # European Excel's separator
    assert [r["response"] for r in read(path, "csv")] == [r["response"] for r in dolly]  # its header tells ';'
    with pytest.raises(SourceError) as exc:
        read(path, "csv", delimiter=",")
    assert exc.value.span.line == 2 and "values but 1 columns" in exc.value.message
    assert "separated by ';'; set `options: {delimiter: ';'}`" in (exc.value.hint or "")
    assert [r["response"] for r in read(path, "csv", delimiter=";")] == [r["response"] for r in dolly]
