"""Catalog adapters on more forms of their datasets' original files, each written here from a real file (the
comment names the repository and path): the CoNLL-2002 release's latin-1 bytes (NLTK's copies, in tests/data, are
UTF-8), TREC's latin-1 and UTF-8 copies, and MultiNLI's JSON Lines (the release zip holds a .jsonl beside each .txt).
One recipe builds them all with `humc build`; the gold is read back from the Parquet shards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from helpers import REPO, built_gold, run_cli

from humc.errors import SourceError
from humc.expr.functions import wikiann_tokens
from humc.ir import SourceDef
from humc.sources import read_source

DATA = REPO / "tests" / "data"

# MultiNLI 1.0, multinli_1.0_dev_matched.jsonl: one line as the release writes it (keys in this order, the parses
# beside the sentences, a trailing space kept in sentence2), the record quoted in huggingface/datasets'
# datasets/xnli README (pairID 63735n); the second line is the same layout with gold_label "-" (no majority).
# Text: Slate via the OANC (MultiNLI's terms; quoted for testing).
MNLI_LINE = {
    "annotator_labels": ["neutral", "entailment", "neutral", "neutral", "neutral"], "genre": "slate",
    "gold_label": "neutral", "pairID": "63735n", "promptID": "63735", "sentence1": "The new rights are nice enough",
    "sentence1_binary_parse": "( ( The ( new rights ) ) ( are ( nice enough ) ) )",
    "sentence1_parse": "(ROOT (S (NP (DT The) (JJ new) (NNS rights)) (VP (VBP are) (ADJP (JJ nice) (RB enough)))))",
    "sentence2": "Everyone really likes the newest benefits ",
    "sentence2_binary_parse": "( Everyone ( really ( likes ( the ( newest benefits ) ) ) ) )",
    "sentence2_parse": "(ROOT (S (NP (NN Everyone)) (VP (ADVP (RB really)) (VBZ likes) (NP (DT the) (JJS newest) "
                       "(NNS benefits)))))"}
MNLI_NO_MAJORITY = {**MNLI_LINE, "annotator_labels": ["neutral", "entailment", "contradiction"], "gold_label": "-",
                    "pairID": "63735c"}

# CoNLL-2002 ned.testa around a document boundary, as Stanford CoreNLP's CoNLLDocumentReaderAndWriter javadoc
# quotes it ("encoded in the character set ISO-8859-1"): a blank line, then the -DOCSTART- line with no blank line
# after it; "één" added to the first sentence for a latin-1 byte
NED_DOC_BOUNDARY = ("één Num O\nde Art O\norde N O\n. Punc O\n\n-DOCSTART- -DOCSTART- O\nMet Prep O\ntien Num O\n"
                    "miljoen Num O\nkomen V O\nwe Pron O\n, Punc O\ndenk V O\nik Pron O\n")

# TREC: the first line of train_5500.label (tmadhuri/TREC-HindiData, tests/data/trec), with the latin-1 byte the
# CogComp release has in one question put into it (é, 0xE9)
TREC_LINE = "DESC:manner How did serfdom develop in and then leave Russia café ?\n"

SUPERGLUE_BOOLQ = [
    {"question": "does ethanol take more energy make that produces", "passage": "Ethanol fuel -- All biomass goes "
     "through at least some of these steps.", "idx": 0, "label": False},
    {"question": "is house tax and property tax are same", "passage": "Property tax -- Property tax or 'house tax' "
     "is a local tax on buildings.", "idx": 1, "label": True},
    {"question": "is there a sequel to the movie the golden compass", "passage": "The Golden Compass (film) -- In "
     "2011, the sequels were put on hold.", "idx": 2}]

RECIPE = """hum: 1
name: more
sources:
  esp_latin1: {catalog: conll2002, path: data/esp.testa}
  esp_nltk: {catalog: conll2002, path: data/esp.testa.nltk}
  ned_latin1: {catalog: conll2002, path: data/ned.testa}
  trec_latin1: {catalog: trec, path: data/trec_latin1.label}
  trec_utf8: {catalog: trec, path: data/trec_utf8.label}
  mnli_jsonl: {catalog: multinli, path: data/multinli_1.0_dev_matched.jsonl}
  mnli_txt: {catalog: multinli, path: data/dev_matched.head6.txt}
  sst2_tsv: {catalog: sst2, path: data/dev.head8.tsv}
  sst2_jsonl: {catalog: sst2, path: data/sst2_validation.jsonl}
  wnut17: {catalog: wnut17, path: data/emerging.dev.head12.conll}
  wnut17_edited: {catalog: wnut17, path: data/emerging.dev.edited.conll}
  boolq_superglue: {catalog: boolq, path: data/BoolQ/val.jsonl}
  wikiann_release: {catalog: wikiann, path: data/en/dev}
  wikiann_hub: {catalog: wikiann, path: data/en-validation-00000-of-00001.head7.parquet}
tasks:
  - source: esp_latin1
  - source: esp_nltk
  - source: ned_latin1
  - source: trec_latin1
  - source: trec_utf8
  - source: mnli_jsonl
  - source: mnli_txt
  - source: sst2_tsv
  - source: sst2_jsonl
  - source: wnut17
  - source: wnut17_edited
  - source: boolq_superglue
  - source: wikiann_release
  - source: wikiann_hub
"""

Built = tuple[dict[str, dict[int, Any]], dict[str, dict[int, str]]]


def write_samples(data: Path) -> None:
    data.mkdir()
    # CoNLL-2002 esp.testa (teropa/nlp resources/corpora/conll2002/esp.testa, NLTK's UTF-8 copy, head in
    # tests/data/conll2002): the release's own file is latin-1, word and tag per line (the POS column is NLTK's)
    nltk = (DATA / "conll2002" / "esp.testa.head12").read_text(encoding="utf-8")
    (data / "esp.testa.nltk").write_text(nltk, encoding="utf-8")
    two_columns = "\n".join(" ".join(line.split()[::2]) if line.strip() else "" for line in nltk.split("\n"))
    (data / "esp.testa").write_bytes(two_columns.encode("latin-1"))
    (data / "ned.testa").write_bytes(NED_DOC_BOUNDARY.encode("latin-1"))
    (data / "trec_latin1.label").write_bytes(TREC_LINE.encode("latin-1"))
    (data / "trec_utf8.label").write_text(TREC_LINE, encoding="utf-8")
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in (MNLI_LINE, MNLI_NO_MAJORITY))
    (data / "multinli_1.0_dev_matched.jsonl").write_text(lines, encoding="utf-8")
    (data / "dev_matched.head6.txt").write_bytes((DATA / "multinli" / "dev_matched.head6.txt").read_bytes())
    write_wikiann(data)
    write_sst2(data)
    write_wnut17(data)
    # SuperGLUE's BoolQ/val.jsonl layout (super.gluebenchmark.com; huggingface/datasets' super_glue loader reads
    # question, passage, idx, label: a JSON boolean): BoolQ's questions, passages as "Title -- text" (shortened
    # here); the third line is the test file's, without a label
    (data / "BoolQ").mkdir()
    (data / "BoolQ" / "val.jsonl").write_text("".join(json.dumps(r) + "\n" for r in SUPERGLUE_BOOLQ), encoding="utf-8")


def write_wnut17(data: Path) -> None:
    """WNUT-17's emerging.dev.conll head (tests/data/wnut17, real) and a copy as an editor on Windows saves it: a
    byte-order mark, CRLF line ends, a space after a tag and a tab after another."""
    real = (DATA / "wnut17" / "emerging.dev.head12.conll").read_text(encoding="utf-8")
    (data / "emerging.dev.head12.conll").write_text(real, encoding="utf-8")
    lines = real.split("\n")
    tagged = [n for n, line in enumerate(lines) if line.strip()]
    lines[tagged[1]] += " "
    lines[tagged[3]] += "\t"
    (data / "emerging.dev.edited.conll").write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8"))


def write_sst2(data: Path) -> None:
    """GLUE's SST-2/dev.tsv head (tests/data/sst2, real) and the same rows as the Hub's GLUE sst2 saved with
    `Dataset.to_json` writes them: {"idx", "sentence", "label": 0|1} per line."""
    tsv = (DATA / "sst2" / "dev.head8.tsv").read_text(encoding="utf-8")
    (data / "dev.head8.tsv").write_text(tsv, encoding="utf-8")
    rows = [line.split("\t") for line in tsv.splitlines()[1:]]
    (data / "sst2_validation.jsonl").write_text("".join(
        json.dumps({"idx": n, "sentence": sentence, "label": int(label)}) + "\n" for n, (sentence, label) in enumerate(rows)),
        encoding="utf-8")


def write_wikiann(data: Path) -> None:
    """WikiANN's Hub sample (tests/data/wikiann) and the same sentences as Rahimi et al.'s release writes them
    (panx_dataset/en.tar.gz: en/dev), the layout huggingface/datasets' datasets/wikiann/wikiann.py read: `en:token`
    (the language before the first colon), a tab, the IOB2 tag; a blank line after each sentence."""
    parquet = DATA / "wikiann" / "en-validation-00000-of-00001.head7.parquet"
    (data / parquet.name).write_bytes(parquet.read_bytes())
    names = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
    lines = []
    for row in pq.read_table(parquet, columns=["tokens", "ner_tags"]).to_pylist():
        lines += [f"en:{token}\t{names[tag]}" for token, tag in zip(row["tokens"], row["ner_tags"], strict=True)] + [""]
    (data / "en").mkdir()
    (data / "en" / "dev").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("more")
    write_samples(root / "data")
    gold, text, _ = built_gold(root, "more", RECIPE)
    return gold, text


def spans(rows: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(r["type"], r["span"]) for r in rows]


def test_conll2002_reads_the_latin1_release_like_nltks_utf8_copy(built: Built):
    gold, text = built
    assert gold["esp_latin1"] == gold["esp_nltk"]
    assert spans(gold["esp_latin1"][2]) == [("ORG", "Telefónica"), ("LOC", "Sao Paulo"), ("ORG", "Telesp"),
                                             ("ORG", "Telefónica do Brasil"), ("PER", "Fernando Xavier Ferreira")]
    assert "La multinacional española Telefónica" in text["esp_latin1"][2]


def test_conll2002_dutch_doc_start_line_without_a_blank_line_after_it_is_no_token(built: Built):
    _, text = built
    assert sorted(text["ned_latin1"]) == [0, 1]
    assert "één de orde ." in text["ned_latin1"][0]
    assert "Met tien miljoen komen we , denk ik" in text["ned_latin1"][1] and "DOCSTART" not in text["ned_latin1"][1]


def test_trec_reads_latin1_and_utf8_copies_alike(built: Built):
    gold, text = built
    assert gold["trec_latin1"][0] == gold["trec_utf8"][0] == [{"label": "description"}]
    assert "Russia café ?" in text["trec_latin1"][0] and "Russia café ?" in text["trec_utf8"][0]


def test_multinli_reads_the_releases_jsonl_like_its_tsv(built: Built):
    gold, text = built
    assert sorted(gold["mnli_jsonl"]) == [0]  # line 2: gold_label "-", left out by the adapter's where:
    assert gold["mnli_jsonl"][0] == gold["mnli_txt"][0] == [{"label": "neutral"}]  # the same pair in both files
    assert "The new rights are nice enough" in text["mnli_jsonl"][0]
    assert "Everyone really likes the newest benefits" in text["mnli_jsonl"][0]


def test_a_list_of_encodings_none_of_which_fits_names_the_last_and_the_byte(tmp_path: Path):
    path = tmp_path / "esp.testa"
    path.write_bytes("española O\n".encode("latin-1"))
    src = SourceDef("s", path, "conll", {"encoding": ["utf-8", "ascii"]})
    with pytest.raises(SourceError) as err:
        list(read_source(src))
    assert err.value.code == "E4001"
    assert "not valid ascii text" in str(err.value) and ":1:5" in str(err.value)


@pytest.mark.parametrize(("value", "problem"), [("[]", "an empty list"), ("[utf-8, nope]", "unknown encoding 'nope'"),
                                                ("[utf-8, 3]", "not a string")])
def test_a_bad_list_of_encodings_is_a_located_recipe_error(tmp_path: Path, value: str, problem: str):
    (tmp_path / "a.label").write_text(TREC_LINE, encoding="utf-8")
    (tmp_path / "r.hum.yaml").write_text(f"hum: 1\nname: r\nsources:\n  t: {{catalog: trec, path: a.label, "
                                         f"options: {{encoding: {value}}}}}\ntasks:\n  - source: t\n", encoding="utf-8")
    result = run_cli("check", "r.hum.yaml", cwd=tmp_path)
    assert result.exit_code != 0
    assert "E0008" in result.output and problem in result.output and "r.hum.yaml:4:" in result.output


def test_instructuie_ee_labels_as_event_types_and_roles_lists_give_the_event_types(tmp_path: Path):
    # InstructUIE's src/uie_dataset.py (BeyonderXX/InstructUIE) reads an EE dataset's labels.json as two lists:
    # "Event type: {labels[0]}, Arguments type: {labels[1]}"; its events are {trigger, type, pos, arguments: [{name,
    # role, pos}]}, an event without arguments included
    folder = tmp_path / "IE_INSTRUCTIONS" / "EE" / "ACE2005"
    folder.mkdir(parents=True)
    (folder / "labels.json").write_text('[["Life:Die", "Contact:Meet"], ["Victim", "Place", "Entity"]]',
                                        encoding="utf-8")
    (folder / "train.json").write_text(json.dumps([
        {"sentence": "He was killed in Baghdad .", "events": [
            {"trigger": "killed", "type": "Life:Die", "pos": [7, 13], "arguments": [
                {"name": "He", "role": "Victim", "pos": [0, 2]}, {"name": "Baghdad", "role": "Place", "pos": [17, 24]}]},
            {"trigger": "Talks", "type": "Contact:Meet", "pos": [0, 5], "arguments": []}]}]), encoding="utf-8")
    (row,) = [r.record for r in read_source(SourceDef("s", tmp_path / "IE_INSTRUCTIONS", "instructuie", {}))]
    assert row["labels"] == ["Life:Die", "Contact:Meet"]
    assert [(e["event_type"], e["trigger"], e["role"], e["argument"]) for e in row["events"]] == [
        ("Life:Die", "killed", "Victim", "He"), ("Life:Die", "killed", "Place", "Baghdad"),
        ("Contact:Meet", "Talks", "", "")]


def test_sst2_reads_a_to_json_copy_by_its_column_names(built: Built):
    gold, text = built
    assert len(gold["sst2_jsonl"]) == 8
    assert all(gold["sst2_jsonl"][n] == rows for n, rows in gold["sst2_tsv"].items())
    assert gold["sst2_jsonl"][0] == [{"label": "positive"}] and gold["sst2_jsonl"][1] == [{"label": "negative"}]
    assert "it 's a charming and often affecting journey ." in text["sst2_jsonl"][0]


def test_wnut17_reads_a_bom_crlf_copy_with_stray_trailing_blanks_like_the_release(built: Built):
    gold, text = built
    assert len(gold["wnut17_edited"]) == 12
    assert all(gold["wnut17_edited"][n] == rows for n, rows in gold["wnut17"].items())
    assert spans(gold["wnut17_edited"][1]) == [("location", "Redondo Beach Blvd"), ("location", "Gardena"),
                                               ("location", "Compton")]


def test_boolq_reads_superglues_label_key_and_leaves_out_the_unlabelled_line(built: Built):
    gold, text = built
    assert gold["boolq_superglue"] == {0: [{"answer": "no"}], 1: [{"answer": "yes"}]}
    assert "is house tax and property tax are same?" in text["boolq_superglue"][1]
    assert "Property tax -- Property tax or 'house tax'" in text["boolq_superglue"][1]


def test_wikiann_reads_rahimis_release_like_the_hub_parquet(built: Built):
    gold, text = built
    assert len(gold["wikiann_release"]) == 7  # the build's dedup may keep the Hub copy's twin of a row, not both
    assert all(gold["wikiann_release"][n] == hub for n, hub in gold["wikiann_hub"].items())
    assert spans(gold["wikiann_release"][1]) == [("PER", "Richard Kinder"), ("ORG", "Enron")]
    assert "* Richard Kinder , President and COO of Enron" in text["wikiann_release"][1]
    assert "en:" not in text["wikiann_release"][1]


def test_wikiann_tokens_cut_the_language_before_the_first_colon_only():
    assert wikiann_tokens(["en:Paris", "en:10:30", "en::", "Paris"]) == ["Paris", "10:30", ":", "Paris"]


def test_race_reads_its_article_files_written_one_per_line(tmp_path: Path):
    # RACE's dev/{high,middle}/*.txt (one JSON object per article: article, questions, options, answers, id; the
    # hand-written files of tests/data/fixtures/race) re-saved as one JSON Lines file, as copies of RACE often are
    articles = [json.loads(f.read_text(encoding="utf-8")) for f in sorted((DATA / "fixtures" / "race" / "dev").glob("*/*.txt"))]
    (tmp_path / "dev.jsonl").write_text("".join(json.dumps(a) + "\n" for a in articles), encoding="utf-8")
    gold, text, _ = built_gold(tmp_path, "race", "hum: 1\nname: race\nsources:\n  race: {catalog: race, path: dev.jsonl}\n"
                                                  "tasks:\n  - source: race\n")
    questions = [(a["article"], q, answer) for a in articles for q, answer in zip(a["questions"], a["answers"], strict=True)]
    assert len(gold["race"]) == len(questions) == 3
    for n, (article, question, answer) in enumerate(questions):
        assert article in text["race"][n] and question in text["race"][n]
        assert gold["race"][n] == [{"answer": answer}]


def test_race_hub_rows_as_json_lines_are_an_error_at_the_line_naming_the_parquet(tmp_path: Path):
    # ehovy/race saved with `to_json`: one question per row (example_id, article, answer, question, options)
    row = {"example_id": "high1.txt", "article": "A b.", "answer": "B", "question": "What?", "options": ["w", "x", "y", "z"]}
    (tmp_path / "race.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    (tmp_path / "r.hum.yaml").write_text("hum: 1\nname: r\nsources:\n  race: {catalog: race, path: race.jsonl}\n"
                                         "tasks:\n  - source: race\n", encoding="utf-8")
    result = run_cli("build", "r.hum.yaml", "-q", cwd=tmp_path)
    assert result.exit_code != 0
    assert "E4001" in result.output and "race.jsonl:1:1" in result.output
    assert "no parallel lists under questions, options, answers" in result.output and "Parquet" in result.output
