"""Adapters of FewRel, MultiNERD (the Hub's JSON Lines and the release's TSV) and the Hub layouts of DocRED and
Reuters-21578, built from samples written in each dataset's published format.

Every row here and in tests/data/{fewrel,multinerd} was written for these tests, shaped after the published format
(field names, nesting, ids, offsets; see each folder's SOURCE.md): none is copied from a release. The Hub layouts are
made the way the datasets' loading scripts lay them out (huggingface/datasets, datasets/<name>/<name>.py): DocRED's
labels renamed to head/tail/relation_id plus relation_text and stored as a struct of lists; Reuters-21578's ModApte
rows with the SGML entities and the attribute quotes left in. The bad cases fail as compiler errors: a missing
pid2name.json, a relation it does not name, a token index out of range, a tag id outside MultiNERD's map."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import datasets
import pyarrow.parquet as pq
from helpers import REPO, run_cli
from test_catalog_hub import build_rows

DATA = REPO / "tests" / "data"
STRING = datasets.Value("string")


def build(root: Path, source: str, language: str = "en", expect: int = 0, fields: str = "") -> tuple[str, list[Any]]:
    """`humc build` of a recipe with one catalog source: its output and each record's gold, in source order."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "r.hum.yaml").write_text(f"hum: 1\nname: r\nlanguage: {language}\nsources:\n  x: {{catalog: {source}}}\n"
                                     f"tasks:\n  - source: x\n    formats: [json]\n{fields}output: {{splits: {{train: 1.0}}}}\n",
                                     encoding="utf-8")
    result = run_cli("build", "r.hum.yaml", "-q", "-j", "1", cwd=root)
    assert result.exit_code == expect, result.output
    assert "Traceback" not in result.output
    if expect:
        return result.output, []
    rows = [r for shard in sorted((root / "out" / "r" / "data").glob("*.parquet")) for r in pq.read_table(shard).to_pylist()]
    return result.output, [json.loads(r["gold"]) for r in sorted(rows, key=lambda r: r["source_row"])]


def copy(name: str, root: Path) -> Path:
    shutil.copytree(DATA / name, root / name)
    return root / name


# FewRel: {relation id: [{tokens, h: [name, id, [[indices]]], t}]} with pid2name.json beside it

FEWREL = [("TJQ", "place served by transport hub", "Tanjung Pandan"),
          ("East Midlands Airport", "place served by transport hub", "Nottingham"),
          ("Pont de Normandie", "crosses", "Seine"), ("It", "crosses", "Hudson River")]


def triples(gold: list[Any]) -> list[tuple[str, str, str]]:
    return [(t["head"], t["relation"], t["tail"]) for record in gold for t in record]


def test_fewrel_reads_every_relation_s_sentences_named_by_pid2name(tmp_path: Path) -> None:
    copy("fewrel", tmp_path)
    _, gold = build(tmp_path, "fewrel, path: fewrel/val_wiki.head4.json")
    assert triples(gold) == FEWREL  # the head and tail as the tokens write them, not h[0] lower-cased ("tjq")


def test_fewrel_without_pid2name_beside_it_is_an_error_at_the_missing_file(tmp_path: Path) -> None:
    (copy("fewrel", tmp_path) / "pid2name.json").unlink()
    out, _ = build(tmp_path, "fewrel, path: fewrel/val_wiki.head4.json", expect=2)
    assert f"{tmp_path / 'fewrel' / 'pid2name.json'}:1:1: error[E0009]: source 'x': the key names file pid2name.json " \
           "is not beside val_wiki.head4.json" in out
    assert "expected: a JSON object naming each `relation` key (FewRel: pid2name.json" in out
    assert not (tmp_path / "out").exists()


def test_fewrel_names_the_relation_pid2name_does_not_name(tmp_path: Path) -> None:
    folder = copy("fewrel", tmp_path)
    (folder / "pid2name.json").write_text(json.dumps({"P931": ["place served by transport hub", "…"]}), encoding="utf-8")
    out, _ = build(tmp_path, "fewrel, path: fewrel/val_wiki.head4.json", expect=2)
    assert "pid2name.json:1:1: error[E4001]: source 'x': pid2name.json names no relation 'P177' (no entry)" in out
    assert 'expected: an entry "P177": [name, description] or "P177": name' in out
    assert "keys that are names already (FewRel 2.0's val_pubmed.json) need no `key_names`" in out


def test_an_edit_of_pid2name_alone_rebuilds_the_records_names(tmp_path: Path) -> None:
    folder = copy("fewrel", tmp_path)
    build(tmp_path, "fewrel, path: fewrel/val_wiki.head4.json")
    names = json.loads((folder / "pid2name.json").read_text(encoding="utf-8"))
    names["P177"][0] = "crosses over"
    (folder / "pid2name.json").write_text(json.dumps(names), encoding="utf-8")
    _, gold = build(tmp_path, "fewrel, path: fewrel/val_wiki.head4.json")  # the same cache: not the names read before
    assert [t[1] for t in triples(gold)][2:] == ["crosses over", "crosses over"]


def test_a_fewrel_token_index_out_of_range_is_an_error_at_the_adapter_s_line(tmp_path: Path) -> None:
    sample = copy("fewrel", tmp_path) / "val_wiki.head4.json"
    sample.write_text(sample.read_text(encoding="utf-8").replace("[[16]]", "[[99]]"), encoding="utf-8")
    out, _ = build(tmp_path, "fewrel, path: fewrel/val_wiki.head4.json", expect=2)
    assert "catalog/fewrel.yaml:18:28: error[E4102]: lookup(): index 99 is out of range for 19 names (source 'x' row 0)" \
        in out
    assert "note: the record has the fields: tokens, h, t, relation, relation_name" in out


def test_key_names_without_key_column_is_refused_at_the_option(tmp_path: Path) -> None:
    copy("fewrel", tmp_path)
    (tmp_path / "r.hum.yaml").write_text(
        "hum: 1\nname: r\nsources:\n  x: {path: fewrel/val_wiki.head4.json, options: {key_names: pid2name.json}}\n"
        "tasks:\n  - task: re\n    source: x\n    fields: {text: tokens | join(' '), relations: '[]'}\n", encoding="utf-8")
    result = run_cli("check", "r.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 2
    assert "error[E0008]" in result.output and "it names the keys of `key_column:`, which is not set" in result.output


def test_fewrel_s_hub_rows_carry_no_relation_name_and_are_refused(tmp_path: Path) -> None:
    entity = {"text": STRING, "type": STRING, "indices": datasets.Sequence(datasets.Sequence(datasets.Value("int64")))}
    features = datasets.Features({"relation": STRING, "tokens": datasets.Sequence(STRING), "head": entity, "tail": entity})
    rows = [{"relation": key, "tokens": s["tokens"], "head": dict(zip(("text", "type", "indices"), s["h"], strict=True)),
             "tail": dict(zip(("text", "type", "indices"), s["t"], strict=True))}
            for key, sentences in json.loads((DATA / "fewrel" / "val_wiki.head4.json").read_text(encoding="utf-8")).items()
            for s in sentences]
    datasets.Dataset.from_list(rows, features=features).to_parquet(tmp_path / "val_wiki.parquet")
    out, _ = build(tmp_path, "fewrel, path: val_wiki.parquet", expect=2)
    assert "error[E2016]" in out


# MultiNERD: the Hub's JSON Lines {tokens, ner_tags: [int], lang} and the release's index/token/tag TSV

EN = [[{"type": "PER", "span": "Barack Obama"}, {"type": "LOC", "span": "Louvre"}, {"type": "LOC", "span": "Paris"}],
      [{"type": "ANIM", "span": "giant panda"}, {"type": "PLANT", "span": "bamboo"}, {"type": "LOC", "span": "Sichuan"}],
      [{"type": "CEL", "span": "Halley 's Comet"}, {"type": "EVE", "span": "Hundred Years ' War"}], []]


def spans(gold: list[Any]) -> list[list[dict[str, str]]]:
    return [[{"type": e["type"], "span": e["span"]} for e in record] for record in gold]


def test_multinerd_reads_the_hub_s_integer_tags_through_the_card_s_tag_map(tmp_path: Path) -> None:
    copy("multinerd", tmp_path)
    _, gold = build(tmp_path, "multinerd, path: multinerd/train_en.head4.jsonl")
    assert spans(gold) == EN


def test_multinerd_joins_chinese_tokens_without_a_space(tmp_path: Path) -> None:
    copy("multinerd", tmp_path)
    _, gold = build(tmp_path, "multinerd, path: multinerd/test_zh.head2.jsonl", language="zh")
    assert spans(gold) == [[{"type": "LOC", "span": "北京"}, {"type": "LOC", "span": "中国"}],
                           [{"type": "MYTH", "span": "孙悟空"}, {"type": "ANIM", "span": "猴子"}]]


def test_multinerd_s_parquet_export_gives_the_json_lines_gold(tmp_path: Path) -> None:
    folder = copy("multinerd", tmp_path)
    rows = [json.loads(line) for line in (folder / "train_en.head4.jsonl").read_text(encoding="utf-8").splitlines()]
    features = datasets.Features({"tokens": datasets.Sequence(STRING), "ner_tags": datasets.Sequence(datasets.Value("int64")),
                                  "lang": STRING})
    datasets.Dataset.from_list(rows, features=features).to_parquet(tmp_path / "train-00000-of-00001.parquet")
    assert build_rows(tmp_path, "hub", "multinerd, path: ../train-00000-of-00001.parquet") == \
        build_rows(tmp_path, "published", "multinerd, path: ../multinerd/train_en.head4.jsonl")


def test_a_multinerd_tag_id_outside_the_map_is_an_error_naming_it(tmp_path: Path) -> None:
    sample = copy("multinerd", tmp_path) / "train_en.head4.jsonl"
    sample.write_text(sample.read_text(encoding="utf-8").replace("[0, 7, 8,", "[0, 31, 32,"), encoding="utf-8")
    out, _ = build(tmp_path, "multinerd, path: multinerd/train_en.head4.jsonl", expect=2)
    assert "catalog/multinerd.yaml" in out and "error[E4102]: lookup(): index 31 is out of range for 31 names " \
                                               "(source 'x' row 1)" in out


def test_multinerd_tsv_reads_the_release_s_index_token_tag_lines(tmp_path: Path) -> None:
    copy("multinerd", tmp_path)
    _, gold = build(tmp_path, "multinerd_tsv, path: multinerd/en/dev_en.head2.tsv")
    assert spans(gold) == [[{"type": "PER", "span": "Marie Curie"}, {"type": "DIS", "span": "aplastic anemia"}],
                           [{"type": "ORG", "span": "Beatles"}, {"type": "MEDIA", "span": "Abbey Road"},
                            {"type": "LOC", "span": "London"}]]


def test_the_hub_s_json_lines_given_to_the_tsv_adapter_are_refused(tmp_path: Path) -> None:
    copy("multinerd", tmp_path)
    out, _ = build(tmp_path, "multinerd_tsv, path: multinerd/train_en.head4.jsonl", expect=2)
    assert "error[E2016]" in out


# DocRED on the Hub: thunlp/docred's loader renames r/h/t and stores the labels as a struct of lists

DOCRED = datasets.Features({
    "title": STRING, "sents": datasets.Sequence(datasets.Sequence(STRING)),
    "vertexSet": [[{"name": STRING, "sent_id": datasets.Value("int32"), "pos": datasets.Sequence(datasets.Value("int32")),
                    "type": STRING}]],
    "labels": datasets.Sequence({"head": datasets.Value("int32"), "tail": datasets.Value("int32"), "relation_id": STRING,
                                 "relation_text": STRING, "evidence": datasets.Sequence(datasets.Value("int32"))})})


def docred_hub_rows() -> list[dict[str, Any]]:
    names = json.loads((DATA / "docred" / "rel_info.json").read_text(encoding="utf-8"))
    docs = json.loads((DATA / "docred" / "dev.head3.json").read_text(encoding="utf-8"))
    renamed = {"head": "h", "tail": "t", "relation_id": "r", "evidence": "evidence"}
    return [{**doc, "labels": {**{k: [x[v] for x in doc["labels"]] for k, v in renamed.items()},
                               "relation_text": [names[x["r"]] for x in doc["labels"]]}} for doc in docs]


def test_docred_s_hub_parquet_gives_the_published_files_gold(tmp_path: Path) -> None:
    copy("docred", tmp_path)
    datasets.Dataset.from_list(docred_hub_rows(), features=DOCRED).to_parquet(tmp_path / "validation.parquet")
    assert pq.read_schema(tmp_path / "validation.parquet").field("labels").type.num_fields == 5  # a struct of lists
    hub = build_rows(tmp_path, "hub", "docred, path: ../validation.parquet")
    assert hub == build_rows(tmp_path, "published", "docred, path: ../docred/dev.head3.json")
    assert [json.loads(r["gold"]) for r in hub.values()][1] == \
        [{"head": "Lark Force", "relation": "part of", "tail": "Australian Army"}]


def test_docred_s_save_to_disk_folder_is_read_by_the_hub_layout_too(tmp_path: Path) -> None:
    copy("docred", tmp_path)
    datasets.DatasetDict({"validation": datasets.Dataset.from_list(docred_hub_rows(), features=DOCRED)}).save_to_disk(
        str(tmp_path / "saved"))
    assert build_rows(tmp_path, "hub", "docred, path: ../saved, options: {split: validation}") == \
        build_rows(tmp_path, "published", "docred, path: ../docred/dev.head3.json")


# Reuters-21578 on the Hub: ucirvine/reuters21578's ModApte rows, entities and attribute quotes left in

SGML = """<!DOCTYPE lewis SYSTEM "lewis.dtd">
<REUTERS TOPICS="YES" LEWISSPLIT="TRAIN" CGISPLIT="TRAINING-SET" OLDID="5544" NEWID="1">
<DATE>26-FEB-1987 15:01:01.79</DATE>
<TOPICS><D>cocoa</D></TOPICS>
<PLACES><D>el-salvador</D></PLACES>
<PEOPLE></PEOPLE>
<ORGS></ORGS>
<EXCHANGES></EXCHANGES>
<COMPANIES></COMPANIES>
<UNKNOWN>&#5;&#5;&#5;C T</UNKNOWN>
<TEXT>&#2;
<TITLE>BAHIA COCOA REVIEW</TITLE>
<DATELINE>    SALVADOR, Feb 26 - </DATELINE><BODY>Showers continued throughout the week in
the Bahia cocoa zone.
 Reuter
&#3;</BODY></TEXT>
</REUTERS>
<REUTERS TOPICS="YES" LEWISSPLIT="TEST" CGISPLIT="TRAINING-SET" OLDID="5550" NEWID="7">
<DATE>26-FEB-1987 15:10:00.00</DATE>
<TOPICS><D>acq</D><D>earn</D></TOPICS>
<PLACES><D>usa</D></PLACES>
<PEOPLE></PEOPLE>
<ORGS></ORGS>
<EXCHANGES></EXCHANGES>
<COMPANIES></COMPANIES>
<UNKNOWN>&#5;&#5;&#5;F</UNKNOWN>
<TEXT>&#2;
<TITLE>STANDARD OIL &lt;SRD> BUYS UNIT</TITLE>
<DATELINE>    CLEVELAND, Feb 26 - </DATELINE><BODY>Standard Oil Co &lt;SRD> said it bought a unit
of Smith &amp; Sons.
 Reuter
&#3;</BODY></TEXT>
</REUTERS>
"""

# the two stories as the loader writes them in the ModApte config (train, then test): the body up to the line holding
# </BODY>, the title sliced out of its line, entities as written, the attributes' values with their quotes
REUTERS_HUB = [
    {"text": "Showers continued throughout the week in\nthe Bahia cocoa zone.\n Reuter\n", "topics": ["cocoa"],
     "lewis_split": '"TRAIN"', "cgis_split": '"TRAINING-SET"', "old_id": '"5544"', "new_id": '"1"',
     "places": ["el-salvador"], "people": [], "orgs": [], "exchanges": [], "date": "26-FEB-1987 15:01:01.79",
     "title": "BAHIA COCOA REVIEW"},
    {"text": "Standard Oil Co &lt;SRD> said it bought a unit\nof Smith &amp; Sons.\n Reuter\n", "topics": ["acq", "earn"],
     "lewis_split": '"TEST"', "cgis_split": '"TRAINING-SET"', "old_id": '"5550"', "new_id": '"7"', "places": ["usa"],
     "people": [], "orgs": [], "exchanges": [], "date": "26-FEB-1987 15:10:00.00",
     "title": "STANDARD OIL &lt;SRD> BUYS UNIT"}]
REUTERS = datasets.Features({k: datasets.Sequence(STRING) if k in ("topics", "places", "people", "orgs", "exchanges")
                             else STRING for k in REUTERS_HUB[0]})


def test_reuters_hub_modapte_rows_give_the_sgml_files_text_labels_and_split(tmp_path: Path) -> None:
    (tmp_path / "reut2-000.sgm").write_text(SGML, encoding="utf-8")
    datasets.Dataset.from_list(REUTERS_HUB, features=REUTERS).to_parquet(tmp_path / "modapte.parquet")
    hub = build_rows(tmp_path, "hub", "reuters21578, path: ../modapte.parquet")
    assert hub == build_rows(tmp_path, "published", "reuters21578, path: ../reut2-000.sgm")
    _, gold = build(tmp_path / "x", "reuters21578, path: ../modapte.parquet")
    assert gold == [[{"label": "cocoa"}], [{"label": "acq"}, {"label": "earn"}]]  # the topics, in alphabetical order


def test_reuters_hub_split_is_read_without_its_quotes(tmp_path: Path) -> None:
    datasets.Dataset.from_list(REUTERS_HUB, features=REUTERS).to_parquet(tmp_path / "modapte.parquet")
    _, gold = build(tmp_path / "x", "reuters21578, path: ../modapte.parquet",
                    fields='    where: modapte and len(labels) > 0 and lewissplit == "TEST"\n')
    assert gold == [[{"label": "acq"}, {"label": "earn"}]]


# DuReader 2.0: JSON Lines under a .json name, answers written by people, the annotators' selected documents

def test_dureader_asks_the_question_over_the_selected_documents_most_related_paragraphs(tmp_path: Path) -> None:
    copy("dureader", tmp_path)
    built = build_rows(tmp_path, "published", "dureader, path: ../dureader/search.dev.head3.json")
    assert sorted(built) == [0, 1]  # the question without answers is left out
    assert [json.loads(r["gold"]) for r in built.values()] == [[{"response": "可以带密封包装的食品和瓶装水，自制食品不可以。"}],
                                                               [{"response": "约6300公里。"}]]
    first, second = built[0]["instruction"], built[1]["instruction"]
    assert "自制食品不可以带入" in first and "入园须知" not in first and "399元" not in first  # paragraph 1 of the selected one
    assert "长江全长约6300公里" in second and "长江干流全长6300余公里" in second and "流经11个" not in second


def test_dureader_yes_no_questions_build_as_the_notes_say(tmp_path: Path) -> None:
    copy("dureader", tmp_path)
    _, gold = build(tmp_path, "dureader, path: dureader/search.dev.head3.json", language="zh", fields=(
        "    task: mrc_yes_no\n    fields: {context: dureader_passages(documents) | join(\"\\n\\n\"), question: question,"
        " answer: first(yesno_answers), type: question_type}\n    where: type == \"YES_NO\"\n    labels: [\"Yes\", \"No\", \"Depends\"]\n"))
    assert gold == [[{"answer": "Depends"}]]


def test_a_dureader_most_related_para_out_of_range_names_the_document(tmp_path: Path) -> None:
    sample = copy("dureader", tmp_path) / "search.dev.head3.json"
    sample.write_text(sample.read_text(encoding="utf-8").replace('"most_related_para": 1', '"most_related_para": 7'),
                      encoding="utf-8")
    out, _ = build(tmp_path, "dureader, path: dureader/search.dev.head3.json", language="zh", expect=2)
    assert "catalog/dureader.yaml" in out and "error[E4102]: dureader_passages(): document 0's most_related_para 7 is " \
                                              "out of range for its 3 paragraph(s) (source 'x' row 0)" in out
    assert "expected: the index of one of the document's paragraphs" in out


def test_multinerd_tsv_keeps_columns_after_the_tag_apart_from_it(tmp_path: Path) -> None:
    """Columns after the tag (disambiguation links on an entity's tokens, none on the others) are kept in `extra`."""
    lines = (DATA / "multinerd" / "en" / "dev_en.head2.tsv").read_text(encoding="utf-8").splitlines()
    linked = [line + "\tbn:00000001n\tQ7186" if line.endswith("-PER") else line for line in lines]
    (tmp_path / "dev_en.tsv").write_text("\n".join(linked) + "\n", encoding="utf-8")
    _, gold = build(tmp_path, "multinerd_tsv, path: dev_en.tsv")
    assert spans(gold)[0] == [{"type": "PER", "span": "Marie Curie"}, {"type": "DIS", "span": "aplastic anemia"}]
