"""Adapters of BANKING77, WNUT-16, the NCBI-disease corpus and CrossNER, built from real samples of each release
(tests/data/<name>/SOURCE.md names the repository, commit and license), and what reading them taught humc: a PubTator
mention written with blanks around it (NCBI-disease's training file) is its offsets' text, a `.tsv` of CoNLL columns
is read as CoNLL, untyped BIO tags (bare `B`, `I`) are spans of the type `untyped=` names, and HWU64's (and MASSIVE's)
inline `[type : value]` slots are read by `inline_slots`."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from helpers import run_cli
from test_catalog_formats8 import DATA, build
from test_catalog_formats9 import copy, spans

from humc.expr.functions import FunctionError, bio_spans, inline_slots, tag_scheme
from humc.recipe.stdlib import load_stdlib
from humc.recipe.validate import compile_recipe
from humc.sources import infer_format, read_source

# BANKING77: CSV `text,category` (CRLF, quoted texts holding a comma), 77 intents named as categories.json names them


def test_banking77_reads_each_query_s_intent_and_offers_the_77_intents(tmp_path: Path) -> None:
    copy("banking77", tmp_path)
    _, gold = build(tmp_path, "banking77, path: banking77/test.head18.csv")
    rows = list(csv.DictReader(io.StringIO((DATA / "banking77" / "test.head18.csv").read_text(encoding="utf-8"),
                                           newline="")))
    assert [g[0]["label"] for g in gold] == [r["category"] for r in rows]
    assert [g[0]["label"] for g in gold][::3] == ["card_arrival", "card_linking", "exchange_rate",
                                                 "card_payment_wrong_exchange_rate", "extra_charge_on_statement",
                                                 "pending_cash_withdrawal"]
    assert rows[1]["text"] == "I still have not received my new card, I ordered over a week ago."  # quoted, comma kept


def test_banking77_labels_are_categories_json_in_its_spelling() -> None:
    adapter = load_stdlib().catalog["banking77"]
    names = json.loads((DATA / "banking77" / "categories.json").read_text(encoding="utf-8"))
    assert list(adapter.labels) == names and "reverted_card_payment?" in names and "Refund_not_showing_up" in names


# WNUT-16: token<TAB>tag, IOB2, 10 types; the *_notypes twins tag the same entities with a bare B and I


def test_wnut16_reads_the_ten_types_of_tweets(tmp_path: Path) -> None:
    copy("wnut16", tmp_path)
    _, gold = build(tmp_path, "wnut16, path: wnut16/dev.head6")
    assert spans(gold) == [[("other", "ITUNES")], [("other", "Super Bowl Sunday")], [("geo-loc", "Bawana")], [], [],
                           [("geo-loc", "Downtown La Grange")]]


def test_wnut16_notypes_files_read_with_untyped_spans(tmp_path: Path) -> None:
    copy("wnut16", tmp_path)
    fields = "    fields: {entities: 'bio_spans(tokens, tags, untyped=\"ENTITY\")'}\n    labels: [ENTITY]\n"
    _, gold = build(tmp_path, "wnut16, path: wnut16/dev_notypes.head2", fields=fields)
    assert spans(gold) == [[("ENTITY", "ITUNES")], [("ENTITY", "Super Bowl Sunday")]]


def test_wnut16_notypes_without_untyped_is_an_error_naming_the_token(tmp_path: Path) -> None:
    copy("wnut16", tmp_path)
    out, _ = build(tmp_path, "wnut16, path: wnut16/dev_notypes.head2", expect=2)
    assert "stdlib/catalog/wnut16.yaml:14:13: error[E4102]: bio_spans(): token 9 ('ITUNES') has tag 'B': the tag has " \
           'no type (untyped BIO: name its spans\' type, e.g. untyped="ENTITY") under iob2 (source \'x\' row 0)' in out


def test_bio_spans_untyped_tags_are_prefixes_not_io_types() -> None:
    tokens = ["the", "Super", "Bowl", "Sunday", "on", "ITUNES"]
    assert tag_scheme(["O", "B", "I", "I", "O", "B"]) == "iob2"  # not io: the types "B" and "I"
    assert tag_scheme(["O", "I", "I", "I", "O", "I"]) == "iob1"  # an I after an O opens a span
    want = [("K", "Super Bowl Sunday"), ("K", "ITUNES")]
    for tags in (["O", "B", "I", "I", "O", "B"], ["O", "I", "I", "I", "O", "I"]):
        assert [(s["type"], s["span"]) for s in bio_spans(tokens, tags, untyped="K")] == want
    with pytest.raises(FunctionError, match="token 1 \\('Super'\\) has tag 'B': the tag has no type"):
        bio_spans(tokens, ["O", "B", "I", "I", "O", "B"])
    assert bio_spans(tokens, ["O", "B-X", "I-X", "O", "O", "B"], untyped="K")[0]["type"] == "X"  # typed tags keep theirs
    assert bio_spans(tokens, ["O", "person", "person", "O", "O", "O"])[0]["type"] == "person"  # Few-NERD's io as before


# NCBI-disease: PubTator, 4 mention classes; the title and abstract joined by a space as the offsets count them


def test_ncbi_disease_reads_each_abstract_s_mentions(tmp_path: Path) -> None:
    copy("ncbi_disease", tmp_path)
    _, gold = build(tmp_path, "ncbi_disease, path: ncbi_disease/NCBIdevelopset_corpus.head2.txt")
    assert spans(gold) == [  # a mention repeated in the abstract is listed once (dedupe_rows)
        sorted([("DiseaseClass", "enzyme deficiency"),
                ("SpecificDisease", "glucose-6-phosphate dehydrogenase (G6PD) deficiency"),
                ("SpecificDisease", "chronic nonspherocytic hemolytic anemia"), ("SpecificDisease", "G6PD deficiency")]),
        [("Modifier", "ataxia-telangiectasia")]]


def test_a_pubtator_mention_written_with_blanks_around_it_is_its_offsets_text(tmp_path: Path) -> None:
    copy("ncbi_disease", tmp_path)
    _, gold = build(tmp_path, "ncbi_disease, path: ncbi_disease/NCBItrainset_corpus.10923035.txt")
    assert ("SpecificDisease", 'generalized epilepsy and febrile seizures " plus "') in spans(gold)[0]  # no blanks after
    assert ("Modifier", "BFIC") in spans(gold)[0] and ("SpecificDisease", "BFIC") in spans(gold)[0]


def test_pubtator_concept_ids_lose_the_blank_written_before_them(tmp_path: Path) -> None:
    (tmp_path / "r.hum.yaml").write_text(
        f"hum: 1\nname: r\nsources:\n  x: {{path: {DATA / 'ncbi_disease' / 'NCBIdevelopset_corpus.head2.txt'}}}\n"
        "tasks:\n  - {source: x, task: ner, fields: {text: text, entities: entities}}\n", encoding="utf-8")
    recipe = compile_recipe(tmp_path / "r.hum.yaml")
    first = next(read_source(recipe.sources["x"])).record  # the file starts with a blank line: still PubTator
    assert first["entities"][0] == {"type": "DiseaseClass", "span": "enzyme deficiency", "start": 154, "end": 171,
                                    "id": "D008661"}  # written ` D008661`
    assert first["text"][first["entities"][1]["start"]:first["entities"][1]["end"]] == first["entities"][1]["span"]


def test_a_pubtator_mention_differing_inside_is_still_an_error_at_its_line(tmp_path: Path) -> None:
    folder = copy("ncbi_disease", tmp_path)
    path = folder / "NCBItrainset_corpus.10923035.txt"
    path.write_text(path.read_text(encoding="utf-8").replace('" plus "  \t', '"plus"  \t'), encoding="utf-8")
    out, _ = build(tmp_path, "ncbi_disease, path: ncbi_disease/NCBItrainset_corpus.10923035.txt", expect=2)
    assert "NCBItrainset_corpus.10923035.txt:10:1: error[E4001]: source 'x': the offsets 711-761 select 'generalized " \
           "epilepsy and febrile seizures \" plus \"', but the line says 'generalized epilepsy and febrile seizures " \
           "\"plus\"  '" in out


# a `.tsv` of CoNLL columns (no header, a blank line between sentences) is read as CoNLL


def test_a_tsv_of_conll_columns_is_read_as_conll(tmp_path: Path) -> None:
    assert infer_format(DATA / "ncbi_disease" / "devel.head8.tsv") == "conll"
    assert infer_format(DATA / "bc5cdr" / "devel.head10.tsv") == "conll"  # MTL-Bioinformatics-2016's copies
    assert infer_format(DATA / "go_emotions" / "dev.head300.tsv") == "tsv"  # a table without blank lines stays one
    assert infer_format(DATA / "multinerd" / "en" / "dev_en.head2.tsv") == "conll"
    (tmp_path / "r.hum.yaml").write_text(
        f"hum: 1\nname: r\nsources:\n  x: {{path: {DATA / 'ncbi_disease' / 'devel.head8.tsv'}}}\ntasks:\n"
        "  - {source: x, task: ner, fields: {text: tokens | join(\" \"), entities: 'bio_spans(tokens, tags)'}}\n",
        encoding="utf-8")
    recipe = compile_recipe(tmp_path / "r.hum.yaml")
    records = [row.record for row in read_source(recipe.sources["x"])]
    assert len(records) == 8 and records[1]["tokens"][-6:-1] == ["inherited", "breast", "and", "ovarian", "cancer"]
    assert records[1]["tags"][-6:] == ["B-Disease", "I-Disease", "I-Disease", "I-Disease", "I-Disease", "O"]


# CrossNER: token<TAB>tag, IOB2, each domain's own types


def test_crossner_reads_each_domain_s_types(tmp_path: Path) -> None:
    copy("crossner", tmp_path)
    _, science = build(tmp_path / "s", "crossner, path: ../crossner/science_dev.head3.txt")
    assert [(e["type"], e["span"]) for e in science[0]] == [
        ("organisation", "ICRANet"), ("academicjournal", "Physical Review"),
        ("academicjournal", "The Astrophysical Journal"), ("academicjournal", "Astronomy and Astrophysics")]
    assert ("chemicalcompound", "hydrocyanic") in spans(science)[1] and ("scientist", "Richard Myers") in spans(science)[1]
    _, ai = build(tmp_path / "a", "crossner, path: ../crossner/ai_dev.head3.txt")
    assert spans(ai) == [
        [("metrics", "accuracy"), ("metrics", "error rate")],
        sorted([("algorithm", "SVM"), ("misc", "classification algorithms"), ("algorithm", "regularized least-squares"),
                ("algorithm", "logistic regression")]),
        sorted([("person", "Brion James"), ("person", "Leon Kowalski"), ("person", "Joanna Cassidy"),
                ("person", "Zhora")])]


# HWU64: `;`-separated CSV, slots written inline as [type : value] in answer_annotation

HWU64 = """hum: 1
name: hwu
sources:
  alarm: {path: hwu64/alarm_set.csv}
  lights: {path: hwu64/iot_hue_lightchange.csv}
tasks:
  - &intent {id: intent, source: alarm, task: classification, fields: {text: answer_from_anno, label: 'scenario + "_" + intent'}}
  - {<<: *intent, id: intent2, source: lights}
  - &slots
    id: slots
    source: alarm
    task: ner
    fields: {text: inline_slots(answer_annotation).text, entities: inline_slots(answer_annotation).entities}
    formats: [json, inline_tags]
  - {<<: *slots, id: slots2, source: lights}
output: {splits: {train: 1.0}}
"""


def test_hwu64_builds_intents_and_inline_slots(tmp_path: Path) -> None:
    copy("hwu64", tmp_path)
    (tmp_path / "r.hum.yaml").write_text(HWU64, encoding="utf-8")
    result = run_cli("build", "r.hum.yaml", "-q", "-j", "1", "--strict", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    gold: dict[str, dict[int, Any]] = {}
    for shard in (tmp_path / "out" / "hwu" / "data").glob("*.parquet"):
        for r in pq.read_table(shard).to_pylist():
            gold.setdefault(r["task_entry"], {})[r["source_row"]] = json.loads(r["gold"])
    assert {g[0]["label"] for g in gold["intent"].values()} == {"alarm_set"}
    assert {g[0]["label"] for g in gold["intent2"].values()} == {"iot_hue_lightchange"}
    assert gold["slots"][14] == [{"type": "event_name", "span": "meeting"}, {"type": "relation", "span": "the team"},
                                 {"type": "time", "span": "three pm"}, {"type": "date", "span": "friday"}]
    assert gold["slots2"][1] == [{"type": "change_amount", "span": "to fifty percent"}] and gold["slots2"][0] == []


def test_inline_slots_text_is_the_utterance_without_brackets_and_offsets_select_the_values() -> None:
    rows = list(csv.DictReader(io.StringIO((DATA / "hwu64" / "alarm_set.csv").read_text(encoding="utf-8")),
                               delimiter=";"))
    for row in rows:
        slots = inline_slots(row["answer_annotation"])
        assert slots is not None and slots["text"] == row["answer_from_anno"]
        assert all(slots["text"][e["start"]:e["end"]] == e["span"] for e in slots["entities"])
    assert inline_slots("set an alarm for [time : 7:30 am]") == {  # a colon inside the value
        "text": "set an alarm for 7:30 am", "entities": [{"type": "time", "span": "7:30 am", "start": 17, "end": 24}]}
    assert inline_slots(None) is None
    with pytest.raises(FunctionError, match="has a '\\[' outside a `\\[type : value\\]` slot"):
        inline_slots("wake me at [time five am]")


def test_a_malformed_inline_slot_is_an_error_at_the_field_naming_the_row(tmp_path: Path) -> None:
    folder = copy("hwu64", tmp_path)
    path = folder / "alarm_set.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("[time : nine am]", "[time: nine am]"), encoding="utf-8")
    (tmp_path / "r.hum.yaml").write_text(HWU64, encoding="utf-8")
    result = run_cli("build", "r.hum.yaml", "-q", "-j", "1", cwd=tmp_path)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "r.hum.yaml:13:20: error[E4102]: inline_slots(): 'set an alarm for [time: nine am]' has a '[' outside a " \
           "`[type : value]` slot (source 'alarm' row 0)" in result.output
    assert "expected: slots written as [type : value], a space on each side of the colon" in result.output
    assert not (tmp_path / "out").exists()
