"""`char_spans`: entities given by character offsets, the way annotation tools export them (Label Studio, doccano,
Prodigy, spaCy's training tuples). The exports here are made from CLUENER 2020's real dev records (tests/data, with
its SOURCE.md), whose own offsets `cluener_entities` reads: both must give the same gold."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers import REPO, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from humc.expr.functions import FunctionError, char_spans, cluener_entities

CLUENER = REPO / "tests" / "data" / "cluener2020" / "dev.head16.json"
STUDIO_RECIPE = """hum: 1
name: studio
language: zh
sources:
  studio: export.json
  cluener: {catalog: cluener2020, path: dev.json}
tasks:
  - id: studio
    task: ner
    source: studio
    fields:
      text: data.text
      entities: char_spans(data.text, pluck(annotations[0].result, "value"), label="labels", check="text")
"""


def cluener_records() -> list[dict]:
    return [json.loads(line) for line in CLUENER.read_text(encoding="utf-8").splitlines()]


def label_studio_export(records: list[dict]) -> list[dict]:
    """The records as Label Studio exports an NER project (JSON, one task per record)."""
    return [{"id": i, "data": {"text": r["text"]},
             "annotations": [{"id": i, "result": [
                 {"value": {"start": e["start"], "end": e["end"], "text": e["span"], "labels": [e["type"]]},
                  "from_name": "label", "to_name": "text", "type": "labels"}
                 for e in cluener_entities(r["label"])]}]} for i, r in enumerate(records)]


def test_every_export_layout_gives_the_spans_the_dataset_annotates() -> None:
    for record in cluener_records():
        gold = cluener_entities(record["label"])
        text = record["text"]
        doccano = [[e["start"], e["end"], e["type"]] for e in gold]
        doccano_new = [{"start_offset": e["start"], "end_offset": e["end"], "label": e["type"]} for e in gold]
        prodigy = [{"start": e["start"], "end": e["end"], "label": e["type"], "token_start": 0} for e in gold]
        studio = [{"start": e["start"], "end": e["end"], "text": e["span"], "labels": [e["type"]]} for e in gold]
        assert char_spans(text, doccano) == gold
        assert char_spans(text, doccano_new, start="start_offset", end="end_offset") == gold
        assert char_spans(text, prodigy) == gold
        assert char_spans(text, studio, label="labels", check="text") == gold


def test_a_label_studio_export_builds_the_same_gold_as_the_dataset_itself(tmp_path: Path) -> None:
    records = cluener_records()
    (tmp_path / "export.json").write_text(json.dumps(label_studio_export(records), ensure_ascii=False), encoding="utf-8")
    (tmp_path / "dev.json").write_text(CLUENER.read_text(encoding="utf-8"), encoding="utf-8")
    labels = "    labels: [address, book, company, game, government, movie, name, organization, position, scene]\n"
    (tmp_path / "r.hum.yaml").write_text(STUDIO_RECIPE + labels + "  - source: cluener\n", encoding="utf-8")
    result = run_cli("build", "r.hum.yaml", "-q", "-j", "1", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    gold: dict[str, dict[int, str]] = {}
    for shard in (tmp_path / "out" / "studio" / "data").glob("*.parquet"):
        for row in pq.read_table(shard, columns=["task_entry", "source_row", "gold"]).to_pylist():
            gold.setdefault(row["task_entry"], {})[row["source_row"]] = row["gold"]
    assert len(gold["studio"]) == len(records) and gold["studio"] == gold["cluener"]


def test_offsets_that_select_another_span_are_a_located_error(tmp_path: Path) -> None:
    export = label_studio_export(cluener_records()[:3])
    export[1]["annotations"][0]["result"][0]["value"]["start"] += 1  # counted on another version of the text
    (tmp_path / "export.json").write_text(json.dumps(export, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "r.hum.yaml").write_text(STUDIO_RECIPE.replace("  cluener: {catalog: cluener2020, path: dev.json}\n", ""),
                                         encoding="utf-8")
    result = run_cli("check", "r.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "r.hum.yaml:12:17: error[E4102]: char_spans(): span 0: offsets 1-2 select '格', but the span says '温格'" \
        in result.output and "(source 'studio' row 1)" in result.output


@pytest.mark.parametrize(("items", "kwargs", "message"), [
    ([[3, 2, "X"]], {}, "span 0: start 3 is not before end 2"),
    ([[0, 99, "X"]], {}, "span 0: its end 99 is outside the text (13 characters)"),
    ([{"begin": 1, "end": 2, "label": "X"}], {}, "span 0 has no 'start' (its keys: begin, end, label)"),
    ([["1", 2, "X"]], {}, "span 0: its start '1' is not a whole number"),
    ([[0, 2]], {}, "span 0 ([0, 2]) has no item 2"),
    ([7], {}, "span 0 (7) is neither {start, end, label} nor [start, end, label]"),
    ([[0, 2, None]], {}, "span 0 ('Hi') has no label: [None]"),
    ([{"start": 0, "end": 2, "labels": []}], {"label": "labels"}, "span 0 ('Hi') has no label: []"),
    ({"start": 0}, {}, "needs a list of annotated spans"),
    ([[0, 2, "X"]], {"units": "words"}, "unknown offset units 'words'"),
    ([[0, 2, "X"]], {"units": "utf16", "check": 3}, "has no item 3"),
    ([[4, 8, "X"]], {"units": "utf16"}, "its start 4 is inside a character (in UTF-16 code units: the middle of a surrogate pair)"),
    ([[10, 12, "X"]], {"units": "bytes"}, "its start 10 is inside a character (in UTF-8 bytes: the middle of its bytes)"),
    ([[0, 40, "X"]], {"units": "bytes"}, "its end 40 is outside the text (17 UTF-8 bytes)"),
])
def test_offsets_that_do_not_fit_are_errors_naming_the_span(items, kwargs, message) -> None:
    with pytest.raises(FunctionError) as err:
        char_spans("Hi 😀 Köln ok.", items, **kwargs)
    assert message in str(err.value)


def test_utf16_and_byte_offsets_count_what_javascript_and_utf8_tools_count() -> None:
    text = "Hi 😀 Köln ok."
    assert char_spans(text, [[6, 10, "LOC"]], units="utf16") == [{"type": "LOC", "span": "Köln", "start": 5, "end": 9}]
    assert char_spans(text, [[8, 13, "LOC"]], units="bytes") == [{"type": "LOC", "span": "Köln", "start": 5, "end": 9}]
    assert char_spans(text, None) == [] and char_spans(text, []) == []


def _units(text: str, index: int, units: str) -> int:
    return len(text[:index].encode("utf-16-le")) // 2 if units == "utf16" else len(text[:index].encode("utf-8"))


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40), st.data(),
       st.sampled_from(["utf16", "bytes"]))
def test_offsets_in_any_units_select_the_same_characters(text: str, data: st.DataObject, units: str) -> None:
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    expected = [{"type": "T", "span": text[start:end], "start": start, "end": end}]
    assert char_spans(text, [[start, end, "T"]]) == expected
    assert char_spans(text, [[_units(text, start, units), _units(text, end, units), "T"]], units=units) == expected
