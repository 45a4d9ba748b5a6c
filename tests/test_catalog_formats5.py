"""Published layouts of NLU datasets read end to end: DyGIE's document JSON Lines (SciERC, ACE05 via dygiepp: token
offsets over a whole document's sentence lists), DocRED's documents, DREAM's dialogue lists, DRCD's SQuAD JSON, CLUE's
TNEWS and IFLYTEK JSON Lines (each with its own key for the class name), DuReader's one-line files and Chinese CSV
in GB18030. Samples: tests/data/layouts5/SOURCE.md (hand-written in each release's layout)."""

from __future__ import annotations

import bz2
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import REPO, built_gold, run_cli

from humc.errors import SourceError
from humc.expr.argtypes import FunctionError
from humc.expr.functions import FUNCTIONS
from humc.ir import SourceDef
from humc.sources import read_source

DATA = REPO / "tests" / "data" / "layouts5"
SCIERC = DATA / "scierc_train.json"
ABSTRACT = [["We", "present", "a", "statistical", "machine", "translation", "system", "that", "uses", "phrase",
             "alignments", "."],
            ["The", "system", "outperforms", "a", "word-based", "baseline", "on", "Chinese-English", "news", "data", "."]]
NER = [[[3, 6, "Method"], [9, 10, "OtherScientificTerm"]],
       [[13, 13, "Generic"], [16, 17, "Method"], [19, 21, "Material"]]]


def records(path: Path, fmt: str, **options: Any) -> list[dict[str, Any]]:
    return [row.record for row in read_source(SourceDef("s", path, fmt, options))]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copytree(DATA, tmp_path / "data")
    return tmp_path


def test_dygie_offsets_count_over_the_document_and_sentence_names_the_one_read() -> None:
    entities = FUNCTIONS["dygie_entities"]
    whole = entities(ABSTRACT, NER)  # the document: one list per sentence, offsets from its first token
    assert [(e["type"], e["span"], e["start"], e["end"]) for e in whole][2:] == [
        ("Generic", "system", 13, 14), ("Method", "word-based baseline", 16, 18),
        ("Material", "Chinese-English news data", 19, 22)]
    second = entities(ABSTRACT, NER[1], sentence=1)  # one sentence's list (after `explode:`), offsets into it
    assert [(e["span"], e["start"], e["end"]) for e in second] == [
        ("system", 1, 2), ("word-based baseline", 4, 6), ("Chinese-English news data", 7, 10)]
    assert entities(ABSTRACT, NER, sentence=1) == second  # the whole document's lists, the sentence's picked
    assert FUNCTIONS["dygie_relations"](ABSTRACT, [[19, 21, 13, 13, "EVALUATE-FOR"]], sentence=1) == [
        {"head": "Chinese-English news data", "relation": "EVALUATE-FOR", "tail": "system"}]


@pytest.mark.parametrize(("call", "words"), [
    (lambda: FUNCTIONS["dygie_entities"](ABSTRACT, [[3, 6, "Method"]], sentence=1), "outside tokens 12-22"),
    (lambda: FUNCTIONS["dygie_entities"](ABSTRACT, [[3, 60, "Method"]]), "spans tokens 3-60"),
    (lambda: FUNCTIONS["dygie_entities"](ABSTRACT, [[3, "6", "Method"]]), "offset '6', not a whole number"),
    (lambda: FUNCTIONS["dygie_entities"](ABSTRACT, NER, sentence=2), "not one of the document's 2 sentences"),
    (lambda: FUNCTIONS["dygie_entities"](["We", "present"], []), "not a list of sentences"),
    (lambda: FUNCTIONS["dygie_relations"](ABSTRACT, [[9, 10, 3, "USED-FOR"]]), "relation 0 is a list"),
    (lambda: FUNCTIONS["dygie_events"](ABSTRACT, [{"trigger": 2}]), "event 0 is an object"),
])
def test_a_dygie_offset_that_does_not_fit_is_an_error_naming_it(call: Any, words: str) -> None:
    with pytest.raises(FunctionError) as err:
        call()
    assert words in str(err.value)


def test_a_recipe_builds_scierc_per_sentence_and_per_abstract_and_ace05_events_from_dygie_json(root: Path) -> None:
    recipe = """hum: 1
name: dygie
sources:
  ner: {catalog: scierc_ner, path: data/scierc_train.json}
  re: {catalog: scierc_re, path: data/scierc_train.json}
  abstract: {path: data/scierc_train.json, format: jsonl}
  ace: {path: data/ace05_dygie_dev.json, format: jsonl, options: {explode: [ner, relations, events]}}
tasks:
  - source: ner
  - source: re
  - id: abstract
    source: abstract
    task: ner
    fields: {text: 'flatten(sentences) | join(" ")', entities: 'dygie_entities(sentences, ner)'}
  - id: ace
    source: ace
    task: ee
    fields: {text: 'sentences[index] | join(" ")', events: 'dygie_events(sentences, events, sentence=index)'}
output: {splits: {train: 1.0}}
"""
    gold, text, _ = built_gold(root, "dygie", recipe)
    assert gold["ner"] == {
        0: [{"type": "Method", "span": "statistical machine translation system"},
            {"type": "OtherScientificTerm", "span": "phrase alignments"}],
        1: [{"type": "Generic", "span": "system"}, {"type": "Method", "span": "word-based baseline"},
            {"type": "Material", "span": "Chinese-English news data"}],
        2: [{"type": "Metric", "span": "Accuracy"}, {"type": "Material", "span": "Penn Treebank"}]}
    assert "The system outperforms a word-based baseline" in text["ner"][1] and "We present" not in text["ner"][1]
    assert gold["re"] == {
        0: [{"head": "phrase alignments", "relation": "USED-FOR", "tail": "statistical machine translation system"}],
        1: [{"head": "system", "relation": "COMPARE", "tail": "word-based baseline"},
            {"head": "Chinese-English news data", "relation": "EVALUATE-FOR", "tail": "system"}],
        2: []}
    assert len(gold["abstract"][0]) == 5 and gold["abstract"][0][2] == {"type": "Generic", "span": "system"}
    assert gold["ace"][0] == [
        {"event_type": "Conflict.Attack", "trigger": "bombed", "role": "Attacker", "argument": "U.S. forces"},
        {"event_type": "Conflict.Attack", "trigger": "bombed", "role": "Place", "argument": "Baghdad"}]
    # the second sentence's trigger is token 9 of the document, "resigned"; no argument: one row
    assert gold["ace"][1] == [{"event_type": "Personnel.End-Position", "trigger": "resigned", "role": "",
                               "argument": ""}]
    assert "The minister resigned ." in text["ace"][1]


def test_an_offset_past_the_sentence_is_located_at_the_call_and_nothing_is_written(root: Path) -> None:
    bad = SCIERC.read_text(encoding="utf-8").replace("[19, 21, \"Material\"]", "[19, 24, \"Material\"]")
    (root / "data" / "scierc_train.json").write_text(bad, encoding="utf-8")
    (root / "s.hum.yaml").write_text("hum: 1\nname: s\nsources:\n  ner: {catalog: scierc_ner, path: "
                                     "data/scierc_train.json}\ntasks:\n  - source: ner\n", encoding="utf-8")
    result = run_cli("build", "s.hum.yaml", "-q", "-j", "1", cwd=root)
    assert result.exit_code == 2 and "error[E4102]" in result.output, result.output
    assert "dygie_entities" in result.output and "spans tokens 19-24, outside tokens 12-22" in result.output
    assert "scierc_ner.yaml:15:13" in result.output and "line 1 of the source file" in result.output
    assert not (root / "out").exists()


def test_a_recipe_builds_docred_dream_drcd_tnews_and_iflytek_through_their_adapters(root: Path) -> None:
    shutil.copy(REPO / "tests" / "data" / "docred" / "dev.head3.json", root / "data")
    recipe = """hum: 1
name: five
sources:
  docred: {catalog: docred, path: data/dev.head3.json}
  dream: {catalog: dream, path: data/dream_dev.json}
  drcd: {catalog: drcd, path: data/DRCD_dev.json}
  tnews: {catalog: tnews, path: data/tnews_dev.json}
  iflytek: {catalog: iflytek, path: data/iflytek_dev.json}
tasks:
  - source: docred
  - source: dream
  - source: drcd
  - source: tnews
  - source: iflytek
output: {splits: {train: 1.0}}
"""
    gold, text, _ = built_gold(root, "five", recipe)
    assert gold["docred"][0] == [{"head": "Skai TV", "relation": "headquarters location", "tail": "Piraeus"},
                                 {"head": "Skai TV", "relation": "country", "tail": "Greek"},
                                 {"head": "Skai TV", "relation": "owned by", "tail": "Skai Group"}]
    assert gold["docred"][1] == [{"head": "Lark Force", "relation": "part of", "tail": "Australian Army"}]
    assert gold["docred"][2] == []
    assert gold["dream"] == {0: [{"answer": "B"}], 1: [{"answer": "A"}], 2: [{"answer": "B"}]}
    assert "W: Tom, look at your shoes." in text["dream"][0] and "In a shoe shop." in text["dream"][0]
    assert gold["drcd"] == {0: [{"answer": "終點站"}], 1: [{"answer": "350公里／小時"}], 2: [{"answer": "臺北帝國大學"}]}
    assert gold["tnews"] == {0: [{"label": "news_edu"}], 1: [{"label": "news_entertainment"}],
                             2: [{"label": "news_stock"}]}
    assert "news_agriculture" in text["tnews"][0]  # the adapter's 15 classes are offered, not only those used
    assert gold["iflytek"] == {0: [{"label": "社区超市"}], 1: [{"label": "薅羊毛"}], 2: [{"label": "支付"}]}


def test_dream_s_hub_rows_give_the_release_s_gold(root: Path) -> None:
    """dataset-org/dream as its loading script writes it: one row per question (dialogue a list of turns)."""
    import json

    items = json.loads((DATA / "dream_dev.json").read_text(encoding="utf-8"))
    rows = [{"id": n, "dialogue_id": did, "dialogue": turns, "question": q["question"], "choice": q["choice"],
             "answer": q["answer"]} for n, (turns, did, q) in enumerate(
                 (turns, did, q) for turns, questions, did in items for q in questions)]
    pq.write_table(pa.Table.from_pylist(rows), root / "data" / "validation-00000-of-00001.parquet")
    recipe = """hum: 1
name: dream
sources:
  hub: {catalog: dream, path: data/validation-00000-of-00001.parquet}
  release: {catalog: dream, path: data/dream_dev.json}
tasks:
  - source: hub
  - source: release
output: {splits: {train: 1.0}}
"""
    gold, text, _ = built_gold(root, "dream", recipe)
    assert gold["hub"] == gold["release"] == {0: [{"answer": "B"}], 1: [{"answer": "A"}], 2: [{"answer": "B"}]}
    assert "M: Sorry, Mum." in text["hub"][0]


def test_a_tnews_file_compressed_under_its_json_name_reads_as_json_lines(root: Path) -> None:
    (root / "data" / "tnews_dev.json.bz2").write_bytes(bz2.compress((DATA / "tnews_dev.json").read_bytes()))
    assert [r["label_desc"] for r in records(root / "data" / "tnews_dev.json.bz2", "jsonl")] == [
        "news_edu", "news_entertainment", "news_stock"]


def test_a_one_line_json_lines_file_under_a_json_name_is_refused_with_the_jsonl_hint(tmp_path: Path) -> None:
    """DuReader's search.dev.json holds one question per line; a file of one line is a valid JSON object too."""
    line = ('{"documents": [{"is_selected": true, "title": "减肥", "paragraphs": ["第一段。", "每天跑步三十分钟可以减肥。"], '
            '"most_related_para": 1}], "answer_docs": [0], "fake_answers": ["每天跑步三十分钟"], "question": "怎样减肥", '
            '"question_id": 186358}\n')
    file = tmp_path / "search.dev.json"
    file.write_text(line, encoding="utf-8")
    with pytest.raises(SourceError) as err:
        records(file, "json")
    assert err.value.code == "E4001" and err.value.span is not None and err.value.span.line == 1
    assert "one object on one line" in (err.value.hint or "") and "`format: jsonl`" in (err.value.hint or "")
    (got,) = records(file, "jsonl")
    para = got["documents"][got["answer_docs"][0]]
    assert para["paragraphs"][para["most_related_para"]] == "每天跑步三十分钟可以减肥。"


def test_a_gb18030_csv_is_located_with_the_chinese_encoding_to_set(tmp_path: Path) -> None:
    file = tmp_path / "weibo_senti_100k.csv"  # ChineseNlpCorpus' CSVs circulate re-saved by Excel in GBK
    file.write_bytes("label,review\n1,今天天气很好，我很开心\n0,服务太差了，再也不来了\n".encode("gb18030"))
    with pytest.raises(SourceError) as err:
        records(file, "csv")
    assert err.value.code == "E4001" and err.value.span is not None
    assert (err.value.span.line, err.value.span.col) == (2, 3)
    assert "`options: {encoding: gb18030}`" in (err.value.hint or "") and "big5" in (err.value.hint or "")
    assert records(file, "csv", encoding="gb18030") == [{"label": "1", "review": "今天天气很好，我很开心"},
                                                        {"label": "0", "review": "服务太差了，再也不来了"}]
    latin = tmp_path / "reviews.csv"  # Latin-1 text is not taken for Chinese: an accent before an ASCII letter
    latin.write_bytes("label,review\n1,Müller und Söhne, très bien\n".encode("latin-1"))
    with pytest.raises(SourceError) as err:
        records(latin, "csv")
    assert "gb18030" not in (err.value.hint or "") and "latin-1" in (err.value.hint or "")


def test_a_utf16_tsv_with_its_byte_order_mark_reads_without_an_encoding(tmp_path: Path) -> None:
    file = tmp_path / "dev.tsv"  # Excel's "Unicode text" export: UTF-16 LE with a BOM, CRLF
    file.write_bytes("sentence\tlabel\r\nit 's a charming journey .\t1\r\nunflinchingly bleak\t0\r\n".encode("utf-16"))
    assert records(file, "tsv") == [{"sentence": "it 's a charming journey .", "label": "1"},
                                    {"sentence": "unflinchingly bleak", "label": "0"}]


def test_a_recipe_builds_mrqa_s_release_and_its_hub_rows_alike(root: Path) -> None:
    """MRQA's SQuAD.jsonl.gz: a header line, then contexts with their questions; the Hub's mrqa-workshop/mrqa has one
    row per question, `detected_answers` a struct of lists."""
    import gzip
    import json

    header, *lines = gzip.decompress((DATA / "SQuAD.jsonl.gz").read_bytes()).decode("utf-8").splitlines()
    rows = [{"subset": "SQuAD", "context": d["context"], "qid": qa["qid"], "question": qa["question"],
             "detected_answers": {"text": [a["text"] for a in qa["detected_answers"]],
                                  "char_spans": [{"start": [s for s, _ in a["char_spans"]],
                                                  "end": [e for _, e in a["char_spans"]]}
                                                 for a in qa["detected_answers"]]},
             "answers": qa["answers"]} for d in map(json.loads, lines) for qa in d["qas"]]
    pq.write_table(pa.Table.from_pylist(rows), root / "data" / "validation-00000-of-00001.parquet")
    recipe = """hum: 1
name: mrqa
sources:
  release: {catalog: mrqa, path: data/SQuAD.jsonl.gz}
  hub: {catalog: mrqa, path: data/validation-00000-of-00001.parquet}
tasks:
  - source: release
  - source: hub
output: {splits: {train: 1.0}}
"""
    gold, text, _ = built_gold(root, "mrqa", recipe)
    assert gold["release"] == gold["hub"] == {0: [{"answer": "France"}], 1: [{"answer": "Normandy"}],
                                              2: [{"answer": "1975"}]}
    assert "[PAR]" not in text["release"][2] and "[SEP]" not in text["hub"][2]
    assert "New York .\n\nLeon Botstein\nLeon Botstein has been" in text["release"][2]
    assert json.loads(header) == {"header": {"dataset": "SQuAD", "split": "dev"}}


def test_only_a_first_line_holding_just_a_header_object_is_metadata(tmp_path: Path) -> None:
    file = tmp_path / "x.jsonl"
    file.write_text('{"header": {"dataset": "NewsQA"}}\n{"header": {"a": 1}}\n{"header": "b", "text": "c"}\n',
                    encoding="utf-8")
    rows = list(read_source(SourceDef("s", file, "jsonl", {})))
    assert [(r.number, r.line, r.record) for r in rows] == [(0, 2, {"header": {"a": 1}}),
                                                            (1, 3, {"header": "b", "text": "c"})]
    file.write_text('{"header": "MRQA", "text": "a"}\n', encoding="utf-8")  # a record that has a header field
    assert records(file, "jsonl") == [{"header": "MRQA", "text": "a"}]


REUTERS = DATA / "reut2-000.head.sgm"


def test_reuters_sgml_reads_each_story_s_attributes_categories_and_decoded_text(tmp_path: Path) -> None:
    cocoa, oil, mead = read_source(SourceDef("s", REUTERS, "reuters_sgml", {}))
    assert cocoa.line == 2 and oil.line == 24 and mead.line == 43
    assert cocoa.record["newid"] == "1" and cocoa.record["lewissplit"] == "TRAIN"
    assert cocoa.record["topics"] == ["cocoa"] and cocoa.record["places"] == ["el-salvador", "usa", "uruguay"]
    assert cocoa.record["title"] == "BAHIA COCOA REVIEW" and cocoa.record["dateline"] == "SALVADOR, Feb 26 -"
    assert cocoa.record["body"].startswith("Showers continued") and cocoa.record["body"].endswith("review.\n Reuter")
    assert oil.record["topics_attr"] == "NO" and oil.record["title"] == "STANDARD OIL <SRD> TO FORM FINANCIAL UNIT"
    assert mead.record["text_type"] == "UNPROC" and mead.record["title"] == ""  # the whole <TEXT> is the body
    assert mead.record["body"].startswith("Mead Corp said it agreed to buy a paper mill & reported")
    assert mead.record["topics"] == ["earn", "acq"] and "\x02" not in mead.record["body"]
    # the release's folder: every .sgm in name order, each record with its file; the extension gives the format
    (tmp_path / "reut2-001.sgm").write_bytes(REUTERS.read_bytes().replace(b'NEWID="', b'NEWID="100'))
    shutil.copy(REUTERS, tmp_path / "reut2-000.sgm")
    (tmp_path / "README.txt").write_text("Reuters-21578 text categorization test collection\n", encoding="utf-8")
    got = records(tmp_path, "reuters_sgml")
    assert [(r["file"], r["newid"]) for r in got] == [("reut2-000.sgm", "1"), ("reut2-000.sgm", "2"),
                                                      ("reut2-000.sgm", "3"), ("reut2-001.sgm", "1001"),
                                                      ("reut2-001.sgm", "1002"), ("reut2-001.sgm", "1003")]


@pytest.mark.parametrize(("edit", "line", "words"), [
    (("</REUTERS>\n<REUTERS TOPICS=\"NO\"", "\n<REUTERS TOPICS=\"NO\""), 2, "without its </REUTERS>"),
    (("&#3;</TEXT>\n</REUTERS>", "&#3;</TEXT>\n"), 43, "without its </REUTERS>"),
    (("<REUTERS", "<STORY"), 1, "no <REUTERS> element"),
])
def test_a_reuters_file_cut_short_or_of_another_kind_is_located(tmp_path: Path, edit: tuple[str, str], line: int,
                                                                words: str) -> None:
    file = tmp_path / "reut2-000.sgm"
    file.write_text(REUTERS.read_text(encoding="utf-8").replace(*edit), encoding="utf-8")
    with pytest.raises(SourceError) as err:
        records(file, "reuters_sgml")
    assert err.value.code == "E4001" and err.value.span is not None and err.value.span.line == line
    assert words in err.value.message and "Reuters-21578 SGML" in (err.value.expected or "")


def test_a_recipe_builds_reuters_modapte_topics_from_the_sgml_with_a_latin1_byte(root: Path) -> None:
    data = REUTERS.read_bytes().replace(b"Comissaria Smith", "Comissária Smith".encode("latin-1"))
    (root / "data" / "reut2-017.sgm").write_bytes(data)  # the release's reut2-017.sgm holds such a byte
    recipe = """hum: 1
name: reuters
sources:
  reuters: {catalog: reuters21578, path: data/reut2-017.sgm}
tasks:
  - source: reuters
  - {id: test, source: reuters, where: 'modapte and len(labels) > 0 and lewissplit == "TEST"'}
output: {splits: {train: 1.0}}
"""
    gold, text, _ = built_gold(root, "reuters", recipe)
    assert gold["reuters"] == {0: [{"label": "cocoa"}], 2: [{"label": "acq"}, {"label": "earn"}]}
    assert "BAHIA COCOA REVIEW. Showers continued throughout the week in the Bahia cocoa zone" in text["reuters"][0]
    assert "Comissária Smith" in text["reuters"][0] and "paper mill & reported" in text["reuters"][2]
    assert gold["test"] == {2: [{"label": "acq"}, {"label": "earn"}]}


def test_a_squad_test_split_without_answers_is_no_gold_not_unanswerable(root: Path) -> None:
    """CMRC 2018's and DuReader-robust's test files write no `answers`: SQuAD 2.0's adapter read every question as
    unanswerable and wrote that as the gold; a question said to be unanswerable keeps its empty answers."""
    import json

    (root / "data" / "test1.json").write_text(json.dumps({"data": [{"title": "", "paragraphs": [
        {"context": "北京是中国的首都。", "qas": [{"question": "中国的首都是哪里？", "id": "q1"}]}]}]},
        ensure_ascii=False), encoding="utf-8")
    (root / "t.hum.yaml").write_text("hum: 1\nname: t\nsources:\n  d: {catalog: squad_v2, path: data/test1.json}\n"
                                     "tasks:\n  - source: d\n", encoding="utf-8")
    result = run_cli("build", "t.hum.yaml", "-q", "-j", "1", cwd=root)
    assert result.exit_code == 2 and "error[E4102]" in result.output and "squad_v2.yaml:14" in result.output
    assert "has no gold answers in test1.json" in result.output and "a split released without answers" in result.output
    assert not (root / "out").exists()
    (root / "data" / "test1.json").write_text(json.dumps({"data": [{"title": "", "paragraphs": [
        {"context": "x", "qas": [{"question": "y?", "id": "q1", "is_impossible": True}]}]}]}), encoding="utf-8")
    (got,) = records(root / "data" / "test1.json", "squad")
    assert got["answers"] == {"text": [], "answer_start": []} and got["is_impossible"] is True
