"""Generic forms real datasets come in, read end to end: a Hub repository clone whose Parquet files carry no
`huggingface` metadata (the card's `dataset_info` names the ClassLabel integers). Each sample follows its
dataset's published format (tests/data/<name>/SOURCE.md names the source and the license)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import REPO, built_gold

from humc.errors import SourceError, Span
from humc.ir import SourceDef
from humc.sources import read_source
from humc.sources_card import card_features

DATA = REPO / "tests" / "data"
EMOTIONS = ["sadness", "joy", "love", "anger", "fear", "surprise"]


def records(path: Path, fmt: str, **options: Any) -> list[dict[str, Any]]:
    return [row.record for row in read_source(SourceDef("s", path, fmt, options))]


def emotion_rows() -> list[tuple[str, str]]:
    lines = (DATA / "emotion" / "emotion.txt").read_text(encoding="utf-8").splitlines()
    return [tuple(line.rsplit(";", 1)) for line in lines]  # type: ignore[misc]


def write_emotion_clone(root: Path) -> Path:
    """dair-ai/emotion as `hf download` leaves it: the card, and Parquet files (written here without `datasets`, so
    with integer labels and no features metadata) under the `split` and `unsplit` configs' folders."""
    clone = root / "emotion"
    (clone / "split").mkdir(parents=True)
    (clone / "unsplit").mkdir()
    (clone / "README.md").write_bytes((DATA / "emotion" / "README.md").read_bytes())
    rows = emotion_rows()
    table = pa.table({"text": [t for t, _ in rows], "label": [EMOTIONS.index(label) for _, label in rows]})
    for name in ("split/train-00000-of-00001.parquet", "split/validation-00000-of-00001.parquet",
                 "unsplit/train-00000-of-00001.parquet"):
        pq.write_table(table, clone / name)
    return clone


def test_a_hub_clone_s_parquet_without_metadata_reads_its_class_labels_from_the_card(tmp_path: Path) -> None:
    clone = write_emotion_clone(tmp_path)
    file = clone / "split" / "train-00000-of-00001.parquet"
    assert pq.read_schema(file).metadata is None or b"huggingface" not in pq.read_schema(file).metadata
    got = records(file, "parquet", class_labels=True)
    assert [(r["text"], r["label"]) for r in got] == emotion_rows()
    assert records(file, "parquet")[0]["label"] == 0  # without the option: the integers as written
    features = card_features(clone / "unsplit" / "train-00000-of-00001.parquet")
    assert features is not None and features["label"] == {"_type": "ClassLabel", "names": EMOTIONS}


def test_card_features_pick_the_config_by_folder_by_data_files_or_the_only_one(tmp_path: Path) -> None:
    card = (DATA / "emotion" / "README.md").read_text(encoding="utf-8")
    (tmp_path / "data").mkdir()
    (tmp_path / "README.md").write_text(card.replace("split/train-*", "data/train-*"), encoding="utf-8")
    assert card_features(tmp_path / "data" / "train-00000-of-00002.parquet") is not None  # by `configs:` data_files
    assert card_features(tmp_path / "data" / "other.parquet") is None  # two configs, neither names the file
    # refs/convert/parquet: <config>/<split>/0000.parquet; newer cards write `list:` for a sequence
    (tmp_path / "README.md").write_text(
        "---\ndataset_info:\n  features:\n  - name: tokens\n    list: string\n  - name: ner_tags\n    list:\n"
        "      class_label:\n        names:\n          '0': O\n          '1': B-PER\n          '2': I-PER\n---\n",
        encoding="utf-8")
    features = card_features(tmp_path / "default" / "train" / "0000.parquet")
    assert features is not None
    assert features["ner_tags"] == {"_type": "Sequence", "feature": {"_type": "ClassLabel", "names": ["O", "B-PER", "I-PER"]}}
    (tmp_path / "README.md").write_text("---\ndataset_info: [unclosed\n---\n", encoding="utf-8")
    assert card_features(tmp_path / "data" / "x.parquet") is None


def test_class_labels_on_a_parquet_file_without_metadata_or_card_is_a_located_error(tmp_path: Path) -> None:
    file = tmp_path / "train.parquet"
    pq.write_table(pa.table({"label": [0, 1]}), file)
    with pytest.raises(SourceError) as err:
        records(file, "parquet", class_labels=True)
    assert err.value.code == "E4001" and err.value.span is not None and err.value.span.file == str(file)
    assert "no Hugging Face features metadata" in err.value.message and "dataset card" in (err.value.expected or "")


def test_a_recipe_builds_the_clone_s_file_with_every_class_the_card_names(tmp_path: Path) -> None:
    write_emotion_clone(tmp_path)
    recipe = """hum: 1
name: emotion
sources:
  emotion: {path: emotion/split/train-00000-of-00001.parquet, options: {class_labels: true}}
tasks:
  - id: emotion
    source: emotion
    task: classification
    fields: {text: text, label: label}
output: {splits: {train: 1.0}}
"""
    gold, text, _ = built_gold(tmp_path, "emotion", recipe)
    assert [gold["emotion"][n] for n in sorted(gold["emotion"])] == [[{"label": label}] for _, label in emotion_rows()]
    assert all(name in text["emotion"][0] for name in EMOTIONS)  # the classes no row uses are offered too


CONLLU = DATA / "conllu"


def test_conllu_reads_words_comments_and_text_leaving_out_multiword_tokens_and_empty_nodes() -> None:
    them, spanish, elided = read_source(SourceDef("s", CONLLU / "format_examples.conllu", "conllu", {}))
    assert them.line == 1 and them.record["idx"] == "1" and them.record["text"] == "They buy and sell books."
    assert them.record["tokens"] == ["They", "buy", "and", "sell", "books", "."]
    assert them.record["deps"][0] == "2:nsubj|4:nsubj" and them.record["misc"][4] == "SpaceAfter=No"
    assert them.record["comments"] == {"newdoc id": "format-examples", "sent_id": "1",
                                       "text": "They buy and sell books."}
    # the words of `1-2 vámonos`, `3-4 al`; without `# text` the surface forms, SpaceAfter=No kept
    assert spanish.record["tokens"] == ["vamos", "nos", "a", "el", "mar", "!"] and spanish.line == 11
    assert spanish.record["text"] == "vámonos al mar!" and spanish.record["head"] == ["0", "1", "5", "5", "1", "1"]
    assert elided.record["ids"] == ["1", "2", "3", "4", "5", "6"]  # the empty node 5.1 is no word
    assert elided.record["upos"] == ["PROPN", "VERB", "NOUN", "CCONJ", "PROPN", "NOUN"]


def test_conllu_plus_names_its_columns_on_its_first_line() -> None:
    from humc.sources import infer_format

    path = CONLLU / "parseme_sample.cupt"
    assert infer_format(path) == "conllu"
    (sentence,) = records(path, "conllu")
    assert sentence["parseme_mwe"] == ["*", "*", "1:VPC.full", "*", "*", "1", "*"]
    assert "lemmas" not in sentence and sentence["text"] == "Der CDU-Politiker nahm das Angebot an."


def test_a_conllu_file_is_known_by_its_content_too(tmp_path: Path) -> None:
    from humc.sources import infer_format

    copy = tmp_path / "en_ewt-ud-dev.txt"
    copy.write_bytes((CONLLU / "format_examples.conllu").read_bytes())
    assert infer_format(copy) == "conllu"
    table = tmp_path / "table.txt"  # ten tab-separated columns, a number first, no comment and no blank line: a table
    table.write_text("".join(f"{n}\t" + "\t".join("abcdefghi") + "\n" for n in range(1, 5)), encoding="utf-8")
    assert infer_format(table) == "tsv"


@pytest.mark.parametrize(("line", "words"), [
    ("1 They they PRON PRP _ 2 nsubj _ _", "1 tab-separated fields, not 10"),
    ("A\tThey\tthey\tPRON\tPRP\t_\t2\tnsubj\t_\t_", "the ID 'A' is not a word number"),
])
def test_a_conllu_line_that_is_not_a_word_line_is_located(tmp_path: Path, line: str, words: str) -> None:
    path = tmp_path / "bad.conllu"
    path.write_text("# sent_id = 1\n1\tHi\thi\tINTJ\tUH\t_\t0\troot\t0:root\t_\n\n# sent_id = 2\n" + line + "\n",
                    encoding="utf-8")
    with pytest.raises(SourceError) as err:
        records(path, "conllu")
    assert err.value.code == "E4001" and err.value.span is not None and err.value.span.line == 5
    assert words in err.value.message and "tabs" in (err.value.hint or "")


def test_a_recipe_builds_norne_entities_from_the_misc_column(tmp_path: Path) -> None:
    (tmp_path / "norne.conllu").write_bytes((CONLLU / "norne_sample.conllu").read_bytes())
    recipe = """hum: 1
name: norne
language: nb
sources:
  norne: {path: norne.conllu}
tasks:
  - id: norne
    source: norne
    task: ner
    fields:
      text: text
      entities: bio_spans(tokens, conllu_attr(misc, "name", "O"), scheme="iob2")
output: {splits: {train: 1.0}}
"""
    gold, _, _ = built_gold(tmp_path, "norne", recipe)
    assert gold["norne"] == {0: [{"type": "PER", "span": "Jens Stoltenberg"}, {"type": "GPE_LOC", "span": "Oslo"}],
                             1: [{"type": "ORG", "span": "Equinor"}, {"type": "GPE_LOC", "span": "Stavanger"}]}


def test_a_json_object_wrapping_its_records_in_metadata_reads_them_without_options(tmp_path: Path) -> None:
    rows = [{"text": "a", "label": 1}, {"text": "b", "label": 0}]
    for n, wrapped in enumerate([{"data": rows}, {"version": "v2.0", "data": rows}, {"meta": None, "rows": rows}]):
        path = tmp_path / f"w{n}.json"
        path.write_text(json.dumps(wrapped, indent=n), encoding="utf-8")
        assert records(path, "json") == rows
    squad = tmp_path / "dev-v1.1.json"  # SQuAD v1.1's articles: `format: squad` reads them, as the error says
    squad.write_text(json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": []}]}), encoding="utf-8")
    with pytest.raises(SourceError) as err:
        records(squad, "json")
    assert err.value.code == "E4001" and "`format: squad`" in (err.value.hint or "")
    one = tmp_path / "one.json"  # one record whose own list holds objects: no envelope
    one.write_text(json.dumps({"text": "EU rejects", "entities": [{"type": "ORG", "span": "EU"}]}), encoding="utf-8")
    with pytest.raises(SourceError) as err:
        records(one, "json")
    assert "expected a JSON list of objects" in err.value.message
    two = tmp_path / "two.json"  # two lists of records: which one is meant is the recipe's to say
    two.write_text(json.dumps({"train": rows, "test": rows}), encoding="utf-8")
    with pytest.raises(SourceError) as err:
        records(two, "json")
    assert "expected a JSON list of objects" in err.value.message and "key_column" in (err.value.hint or "")


def test_a_recipe_builds_coqa_turns_from_its_version_and_data_object(tmp_path: Path) -> None:
    (tmp_path / "coqa.json").write_bytes((DATA / "coqa" / "coqa-dev-v1.0.head.json").read_bytes())
    recipe = """hum: 1
name: coqa
sources:
  coqa: {path: coqa.json, options: {explode: [questions, answers]}}
tasks:
  - id: coqa
    source: coqa
    task: mrc_extractive
    fields: {context: story, question: questions.input_text, answers: "[answers.span_text]"}
output: {splits: {train: 1.0}}
"""
    gold, text, _ = built_gold(tmp_path, "coqa", recipe)
    assert gold["coqa"] == {0: [{"answer": "a little white kitten named Cotton"}], 1: [{"answer": "in a barn"}]}
    assert "What color was Cotton?" in text["coqa"][0]


# European Excel's "CSV (semicolon delimited)": CRLF, ';' between values, a decimal comma, a quoted value holding
# ';' (Excel's own export of a sheet; e.g. the Kaggle "German news" CSVs are written so)
EXCEL_SEMICOLON = 'text;label;score\r\n"Gut; sehr gut";pos;0,9\r\nSchlecht;neg;0,1\r\n'


@pytest.mark.parametrize("head", ["", "sep=;\r\n", "\ufeff"])
def test_a_semicolon_separated_csv_is_read_without_a_delimiter_option(tmp_path: Path, head: str) -> None:
    path = tmp_path / "reviews.csv"
    path.write_bytes((head + EXCEL_SEMICOLON).encode("utf-8"))
    assert records(path, "csv") == [{"text": "Gut; sehr gut", "label": "pos", "score": "0,9"},
                                    {"text": "Schlecht", "label": "neg", "score": "0,1"}]
    pipes = tmp_path / "pipes.csv"
    pipes.write_text("text|label\na|1\n", encoding="utf-8")
    assert records(pipes, "csv") == [{"text": "a", "label": "1"}]


def test_the_delimiter_option_still_wins_and_a_contradicting_sep_line_is_located(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    path.write_bytes(("sep=;\r\n" + EXCEL_SEMICOLON).encode("utf-8"))
    with pytest.raises(SourceError) as err:
        records(path, "csv", delimiter=",")
    assert err.value.code == "E4001" and err.value.span is not None and err.value.span.line == 1
    assert "delimiter: ';'" in (err.value.hint or "")
    commas = tmp_path / "commas.csv"  # a comma in the header: the file is comma-separated whatever its values hold
    commas.write_text("text,label\nja; nein,1\n", encoding="utf-8")
    assert records(commas, "csv") == [{"text": "ja; nein", "label": "1"}]


def test_a_recipe_builds_emotion_s_header_less_semicolon_release_file(tmp_path: Path) -> None:
    (tmp_path / "train.txt").write_bytes((DATA / "emotion" / "emotion.txt").read_bytes())
    recipe = """hum: 1
name: emotion_txt
sources:
  emotion: {path: train.txt, format: csv, options: {header: false, columns: [text, label]}}
tasks:
  - id: emotion
    source: emotion
    task: classification
    fields: {text: text, label: label}
    labels: [sadness, joy, love, anger, fear, surprise]
output: {splits: {train: 1.0}}
"""
    gold, _, _ = built_gold(tmp_path, "emotion_txt", recipe)
    assert [gold["emotion"][n] for n in sorted(gold["emotion"])] == [[{"label": label}] for _, label in emotion_rows()]


BRAT = DATA / "brat"


def built_ie(root: Path, name: str, sources: dict[str, str], tasks: dict[str, tuple[str, str, str]]) -> dict[str, Any]:
    """The gold of a recipe of `{id: (source, task, field)}` entries, each mapping `text` and its answer field as the
    reader names them."""
    lines = ["hum: 1", f"name: {name}", "sources:", *(f"  {sid}: {{path: {path}}}" for sid, path in sources.items()),
             "tasks:", *(f"  - {{id: {tid}, source: {src}, task: {task}, fields: {{text: text, {field}: {field}}}}}"
                         for tid, (src, task, field) in tasks.items()), "output: {splits: {train: 1.0}}"]
    return built_gold(root, name, "\n".join(lines) + "\n")[0]


def test_brat_standoff_reads_entities_relations_events_and_the_rest_per_document() -> None:
    from humc.sources import infer_format

    assert infer_format(BRAT) == "brat" and infer_format(BRAT / "news" / "sony.ann") == "brat"
    report, sony = records(BRAT, "brat")
    assert (report["id"], report["file"], sony["file"]) == ("report1", "clinical/report1.ann", "news/sony.ann")
    # a CRLF is two characters of the offsets; a discontinuous span's fragments are joined by a space
    assert report["text"].startswith("The left and right ventricles were enlarged.\r\n")
    assert [(e["span"], e["start"], e["end"]) for e in report["entities"]][::2] == [("left ventricles", 4, 29),
                                                                                    ("aorta", 50, 55)]
    assert report["entities"][0]["fragments"] == [[4, 8], [19, 29]]
    assert [e["span"] for e in sony["entities"]] == ["Sony", "Ericsson", "Stockholm", "Sweden"]  # no trigger
    assert sony["relations"] == [{"id": "R1", "head": "Stockholm", "relation": "Located_in", "tail": "Sweden",
                                  "head_id": "T4", "tail_id": "T5"}]
    assert [(e["event_type"], e["trigger"], e["role"], e["argument"]) for e in sony["events"]] == [
        ("MERGE-ORG", "joint venture", "Org1", "Sony"), ("MERGE-ORG", "joint venture", "Org2", "Ericsson")]
    assert sony["attributes"] == [{"id": "A1", "type": "Speculation", "target": "E1", "value": True}]
    assert sony["normalizations"][0]["ref"] == "Wikidata:Q34" and sony["notes"][0]["text"] == "the electronics company"
    assert records(BRAT / "news" / "sony.ann", "brat")[0]["relations"] == sony["relations"]  # one pair alone


@pytest.mark.parametrize(("line", "words"), [
    ("T6\tCountry 58 63\tSweden", "T6's offsets select 'Swede' in the text, but the line says 'Sweden'"),
    ("T6\tCountry 58 640\tSweden", "fall outside the text"),
    ("R2\tLocated_in Arg1:T4 Arg2:T9", "T9 names no text-bound annotation or event"),
    ("T6 Country 58 64 Sweden", "does not start with a brat annotation ID and a tab"),
])
def test_a_brat_line_that_does_not_fit_its_text_is_located(tmp_path: Path, line: str, words: str) -> None:
    (tmp_path / "sony.txt").write_bytes((BRAT / "news" / "sony.txt").read_bytes())
    ann = (BRAT / "news" / "sony.ann").read_text(encoding="utf-8")
    (tmp_path / "sony.ann").write_text(ann + line + "\n", encoding="utf-8")
    with pytest.raises(SourceError) as err:
        records(tmp_path, "brat")
    assert err.value.code == "E4001" and err.value.span is not None
    assert (err.value.span.file, err.value.span.line) == (str(tmp_path / "sony.ann"), ann.count("\n") + 1)
    assert words in err.value.message


def test_a_brat_ann_without_its_text_and_a_bad_byte_are_located(tmp_path: Path) -> None:
    (tmp_path / "a.ann").write_text("T1\tX 0 1\ta\n", encoding="utf-8")
    with pytest.raises(SourceError) as err:
        records(tmp_path, "brat")
    assert err.value.code == "E0009" and "has no a.txt beside it" in err.value.message
    (tmp_path / "a.txt").write_bytes(b"a\n\xff\n")
    with pytest.raises(SourceError) as err:
        records(tmp_path, "brat")
    assert err.value.span is not None and (err.value.span.file, err.value.span.line) == (str(tmp_path / "a.txt"), 2)


def test_a_recipe_builds_ner_re_and_ee_from_a_brat_folder(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(BRAT, tmp_path / "brat")
    gold = built_ie(tmp_path, "brat", {"news": "brat/news", "all": "brat"},
                    {"ner": ("news", "ner", "entities"), "re": ("all", "re", "relations"), "ee": ("news", "ee", "events")})
    assert gold["ner"][0] == [{"type": "Organization", "span": "Sony"}, {"type": "Organization", "span": "Ericsson"},
                              {"type": "City", "span": "Stockholm"}, {"type": "Country", "span": "Sweden"}]
    assert gold["re"] == {0: [{"head": "enlarged", "relation": "finding_of", "tail": "right ventricles"}],
                          1: [{"head": "Stockholm", "relation": "Located_in", "tail": "Sweden"}]}
    assert gold["ee"][0] == [
        {"event_type": "MERGE-ORG", "trigger": "joint venture", "role": "Org1", "argument": "Sony"},
        {"event_type": "MERGE-ORG", "trigger": "joint venture", "role": "Org2", "argument": "Ericsson"}]


SNIPS = DATA / "jointbert" / "snips" / "train"
TWEET_EVAL = DATA / "tweet_eval" / "emotion"


def test_lines_pair_each_line_with_the_same_line_of_the_files_beside_it() -> None:
    got = records(SNIPS / "seq.in", "lines", line_files={"tags": "seq.out", "intent": "label"})
    assert got[0] == {"text": "listen to westbam alumb allergic on google music",
                      "tags": "O O B-artist O B-album O B-service I-service", "intent": "PlayMusic"}
    assert [r["intent"] for r in got] == ["PlayMusic", "AddToPlaylist", "BookRestaurant"]
    tweets = records(TWEET_EVAL / "train_text.txt", "lines", label_file="train_labels.txt")
    assert [r["label"] for r in tweets] == ["2", "0", "1", "1"] and tweets[1]["text"].startswith("My roommate")


def test_a_line_file_of_another_length_or_missing_is_located(tmp_path: Path) -> None:
    (tmp_path / "seq.in").write_bytes((SNIPS / "seq.in").read_bytes())
    (tmp_path / "seq.out").write_text("O O\n", encoding="utf-8")
    with pytest.raises(SourceError) as err:
        records(tmp_path / "seq.in", "lines", line_files={"tags": "seq.out"})
    assert err.value.code == "E4001" and err.value.span is not None
    assert (err.value.span.file, err.value.span.line) == (str(tmp_path / "seq.out"), 2)
    assert "the `tags` file seq.out has 1 line(s)" in err.value.message
    with pytest.raises(SourceError) as err:
        records(tmp_path / "seq.in", "lines", line_files={"intent": "label"})
    assert err.value.code == "E0009" and "the `intent` file label is not beside seq.in" in err.value.message
    from humc.sources import source_digest

    src = SourceDef("s", tmp_path / "seq.in", "lines", {"line_files": {"tags": "seq.out"}})
    before = source_digest(src)
    (tmp_path / "seq.out").write_text("O O O\n", encoding="utf-8")
    assert source_digest(src) != before  # a line file is part of the records: a new one is read again


def test_blank_lines_inside_a_lines_file_are_records_and_those_at_its_end_are_not(tmp_path: Path) -> None:
    path = tmp_path / "text.txt"
    path.write_text("a\n\nb\n\n\n", encoding="utf-8")
    assert [(row.record["text"], row.line) for row in read_source(SourceDef("s", path, "lines", {}))] == [
        ("a", 1), ("", 2), ("b", 3)]


def test_a_recipe_builds_snips_slots_and_intents_and_tweet_eval_labels(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(SNIPS, tmp_path / "snips" / "train")
    shutil.copytree(TWEET_EVAL, tmp_path / "emotion")
    recipe = """hum: 1
name: lines
sources:
  snips: {path: snips/train/seq.in, format: lines, options: {line_files: {tags: seq.out, intent: label}}}
  tweets: {path: emotion/train_text.txt, format: lines, options: {label_file: train_labels.txt}}
tasks:
  - id: slots
    source: snips
    task: ner
    fields: {text: text, entities: 'bio_spans(split(text, " "), split(tags, " "), scheme="iob2")'}
  - {id: intent, source: snips, task: classification, fields: {text: text, label: intent}}
  - id: emotion
    source: tweets
    task: classification
    fields: {text: text, label: 'lookup(label, ["anger", "joy", "optimism", "sadness"])'}
output: {splits: {train: 1.0}}
"""
    gold, _, _ = built_gold(tmp_path, "lines", recipe)
    assert gold["slots"][0] == [{"type": "artist", "span": "westbam"}, {"type": "album", "span": "allergic"},
                                {"type": "service", "span": "google music"}]
    assert gold["intent"] == {0: [{"label": "PlayMusic"}], 1: [{"label": "AddToPlaylist"}],
                              2: [{"label": "BookRestaurant"}]}
    assert [gold["emotion"][n] for n in range(4)] == [[{"label": x}] for x in ("optimism", "anger", "joy", "joy")]


def test_a_recipe_builds_cola_semeval_key_crossner_hotpotqa_atis_and_sst_trees_as_published(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(DATA / "layouts4", tmp_path / "data")
    shutil.copy(DATA / "sst_trees" / "dev.head.txt", tmp_path / "data")
    recipe = """hum: 1
name: layouts4
sources:
  cola: {path: data/cola_in_domain_train.tsv, options: {header: false, columns: [source, label, mark, sentence]}}
  semeval: {path: data/TEST_FILE.txt, format: lines, options: {label_file: TEST_FILE_KEY.TXT}}
  crossner: {path: data/crossner_politics_train.txt}
  hotpot: {path: data/hotpot_dev_distractor_v1.head.json}
  atis: {path: data/atis.train.w-intent.iob, format: tsv, options: {header: false, columns: [words, tags]}}
  sst: {path: data/dev.head.txt, format: lines}
tasks:
  - id: cola
    source: cola
    task: classification
    fields: {text: sentence, label: 'lookup(label, ["unacceptable", "acceptable"])'}
  - id: semeval
    source: semeval
    task: re
    fields: {text: semeval_text(text), relations: 'semeval_relations(text, split(label, "\\t")[1])'}
  - {id: crossner, source: crossner, task: ner, fields: {text: 'tokens | join(" ")', entities: 'bio_spans(tokens, tags)'}}
  - id: hotpot
    source: hotpot
    task: mrc_extractive
    fields: {context: 'flatten(pluck(context, 1)) | join("")', question: question, answers: "[answer]"}
    where: not answers[0] in ["yes", "no"]
  - id: slots
    source: atis
    task: ner
    fields:
      text: 'split(words, " ")[1:-1] | join(" ")'
      entities: 'bio_spans(split(words, " ")[1:-1], split(tags, " ")[1:-1], scheme="iob2")'
  - {id: intent, source: atis, task: classification, fields: {text: words, label: 'last(split(tags, " "))'}}
  - id: sst5
    source: sst
    task: classification
    fields:
      text: ptb_leaves(text) | join(" ")
      label: 'lookup(int(split(text, " ")[0][1:]), ["very negative", "negative", "neutral", "positive", "very positive"])'
output: {splits: {train: 1.0}}
"""
    gold, text, _ = built_gold(tmp_path, "layouts4", recipe)
    assert [gold["cola"][n] for n in range(3)] == [[{"label": "acceptable"}]] * 2 + [[{"label": "unacceptable"}]]
    assert 'They drank the pub "dry".' in text["cola"][2]
    assert gold["semeval"] == {0: [{"head": "audits", "relation": "Message-Topic", "tail": "waste"}],
                               1: [{"head": "chairs", "relation": "Product-Producer", "tail": "company"}]}
    assert gold["crossner"] == {0: [{"type": "politicalparty", "span": "Democratic Party"},
                                    {"type": "election", "span": "election"}],
                                1: [{"type": "politician", "span": "Barack Obama"}, {"type": "location", "span": "Chicago"}]}
    assert gold["hotpot"] == {1: [{"answer": "Chicago"}]} and "She was born in Chicago." in text["hotpot"][1]
    assert gold["slots"][1] == [{"type": "fromloc.city_name", "span": "pittsburgh"},
                                {"type": "toloc.city_name", "span": "baltimore"},
                                {"type": "depart_date.day_name", "span": "thursday"},
                                {"type": "depart_time.period_of_day", "span": "morning"}]
    assert gold["intent"] == {0: [{"label": "atis_flight"}], 1: [{"label": "atis_flight"}]}
    assert gold["sst5"] == {0: [{"label": "positive"}], 1: [{"label": "negative"}], 2: [{"label": "neutral"}]}
    assert "It 's a lovely film with lovely performances ." in text["sst5"][0]


def hf(folder: Path, **spec: Any) -> list[dict[str, Any]]:
    src = SourceDef("s", folder, "hf", {"class_labels": True}, {"name": str(folder), **spec})
    return [row.record for row in read_source(src)]


@pytest.fixture
def without_datasets(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "datasets", None)  # `import datasets` raises ImportError


@pytest.mark.usefixtures("without_datasets")
def test_a_hub_clone_is_read_without_datasets_by_its_card_s_configs(tmp_path: Path) -> None:
    clone = write_emotion_clone(tmp_path)
    assert [(r["text"], r["label"]) for r in hf(clone, split="validation")] == emotion_rows()
    assert len(hf(clone, config="unsplit")) == len(emotion_rows())  # unsplit/train-*
    with pytest.raises(SourceError) as err:
        hf(clone, split="test")
    assert err.value.code == "E4001" and "no data file of split 'test'" in err.value.message
    assert "split(s) train, validation" in (err.value.hint or "")


@pytest.mark.usefixtures("without_datasets")
def test_a_folder_without_a_card_finds_a_split_by_the_names_datasets_knows(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    for n in range(2):
        pq.write_table(pa.table({"text": [f"t{n}"], "label": [n]}), tmp_path / "data" / f"train-0000{n}-of-00002.parquet")
    (tmp_path / "dev.jsonl").write_text('{"text": "d", "label": 1}\n', encoding="utf-8")
    (tmp_path / "README.md").write_text("# no front matter\n", encoding="utf-8")
    assert hf(tmp_path, split="train") == [{"text": "t0", "label": 0}, {"text": "t1", "label": 1}]
    assert hf(tmp_path, split="validation") == [{"text": "d", "label": 1}]  # dev is validation
    src = SourceDef("s", None, "hf", {}, {"name": "org/name"}, Span("r.hum.yaml", 4, 12))
    with pytest.raises(SourceError) as err:  # a Hub name needs the package: located at the recipe's `dataset:`
        list(read_source(src))
    assert err.value.code == "E4001" and err.value.span == Span("r.hum.yaml", 4, 12)
    assert "needs the `datasets` package" in err.value.message


@pytest.mark.usefixtures("without_datasets")
def test_a_recipe_builds_a_hub_clone_without_datasets(tmp_path: Path) -> None:
    write_emotion_clone(tmp_path)
    source = "{dataset: {name: emotion, split: validation, class_labels: true}}"
    recipe = (f"hum: 1\nname: clone\nsources:\n  emotion: {source}\ntasks:\n  - {{id: emotion, source: emotion, "
              "task: classification, fields: {text: text, label: label}}\noutput: {splits: {train: 1.0}}\n")
    gold, _, _ = built_gold(tmp_path, "clone", recipe)
    assert [gold["emotion"][n] for n in sorted(gold["emotion"])] == [[{"label": label}] for _, label in emotion_rows()]


@pytest.fixture
def own_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system temporary folder moved into the test's own folder (archive members go to the build's cache)."""
    import tempfile

    folder = tmp_path / "system-temp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def write_release_archives(root: Path) -> None:
    """GLUE's SST-2.zip (the folder SST-2/ with dev.tsv, as the GLUE download script fetches it) and IMDB's
    aclImdb_v1.tar.gz (aclImdb/train/{pos,neg}/*.txt), built from the real samples in tests/data."""
    import tarfile
    import zipfile

    with zipfile.ZipFile(root / "SST-2.zip", "w") as z:
        z.writestr("SST-2/", "")
        z.write(DATA / "sst2" / "dev.head8.tsv", "SST-2/dev.tsv")
    with tarfile.open(root / "aclImdb_v1.tar.gz", "w:gz") as t:
        t.add(DATA / "imdb" / "aclImdb", "aclImdb")


@pytest.mark.usefixtures("own_temp")
def test_a_recipe_reads_a_file_and_a_folder_inside_the_release_archives(tmp_path: Path) -> None:
    write_release_archives(tmp_path)
    recipe = """hum: 1
name: archives
sources:
  sst2: {catalog: sst2, path: SST-2.zip, member: SST-2/dev.tsv}
  imdb: {catalog: imdb, path: aclImdb_v1.tar.gz, member: aclImdb/train}
tasks:
  - source: sst2
  - source: imdb
output: {splits: {train: 1.0}}
"""
    gold, _, _ = built_gold(tmp_path, "archives", recipe)
    expect, _, _ = built_gold(tmp_path, "extracted", recipe.replace("archives", "extracted").replace(
        "path: SST-2.zip, member: SST-2/dev.tsv", f"path: {DATA / 'sst2' / 'dev.head8.tsv'}").replace(
        "path: aclImdb_v1.tar.gz, member: aclImdb/train", f"path: {DATA / 'imdb' / 'aclImdb' / 'train'}"))
    assert gold == expect and len(gold["sst2"]) == 8 and gold["imdb"]


@pytest.mark.usefixtures("own_temp")
def test_an_archive_name_climbing_out_of_its_member_is_never_extracted(tmp_path: Path) -> None:
    import zipfile

    from humc.sources_readers import archive_member

    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as z:
        z.writestr("data/train.jsonl", '{"text": "a"}\n')
        z.writestr("data/../../escaped.txt", "x")
    folder = archive_member(tmp_path / "evil.zip", "data", tmp_path / "cache" / "archives")
    assert isinstance(folder, Path) and [p.name for p in folder.rglob("*")] == ["train.jsonl"]
    assert folder.is_relative_to(tmp_path / "cache" / "archives")
    assert not (folder.parent.parent / "escaped.txt").exists()
    with zipfile.ZipFile(tmp_path / "damaged.zip", "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.txt", "x" * 1000)
    data = bytearray((tmp_path / "damaged.zip").read_bytes())
    data[40] ^= 0xFF  # inside the deflated data: zlib refuses it
    data[45] ^= 0xFF
    (tmp_path / "damaged.zip").write_bytes(bytes(data))
    assert "damaged.zip cannot be read" in str(archive_member(tmp_path / "damaged.zip", "a.txt", tmp_path / "cache"))


@pytest.mark.parametrize(("source", "code", "words", "hint"), [
    ("{path: SST-2.zip, member: SST-2/dev.csv}", "E4002", "SST-2.zip holds no 'SST-2/dev.csv' (it holds SST-2/dev.tsv)",
     "did you mean 'SST-2/dev.tsv'"),
    ("{path: SST-2.zip, member: ../etc/passwd}", "E4002", "is not a relative name inside the archive", "unzip -l"),
    ("{path: dev.tsv, member: SST-2/dev.tsv}", "E0008", "dev.tsv is not one", "leave out `member:`"),
    ("{path: SST-2.zip}", "E4002", "SST-2.zip is a zip archive holding SST-2/dev.tsv", "`member:`"),
])
@pytest.mark.usefixtures("own_temp")
def test_an_archive_member_that_cannot_be_read_is_located_at_the_recipe(tmp_path: Path, source: str, code: str,
                                                                          words: str, hint: str) -> None:
    from helpers import run_cli

    write_release_archives(tmp_path)
    (tmp_path / "dev.tsv").write_bytes((DATA / "sst2" / "dev.head8.tsv").read_bytes())
    (tmp_path / "r.hum.yaml").write_text(f"hum: 1\nname: r\nsources:\n  s: {source}\ntasks:\n  - source: s\n"
                                         "    task: classification\n    fields: {text: sentence, label: label}\n",
                                         encoding="utf-8")
    result = run_cli("check", "r.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 2 and f"error[{code}]" in result.output and "r.hum.yaml:4:" in result.output
    assert words in result.output and hint in result.output


SUPERGLUE = DATA / "superglue"


def test_explode_follows_dotted_paths_level_by_level() -> None:
    rows = records(SUPERGLUE / "MultiRC_val.head.jsonl", "jsonl",
                   explode=["passage.questions", "passage.questions.answers"])
    assert [(r["passage"]["questions"]["question"], r["passage"]["questions"]["answers"]["text"], r["index"])
            for r in rows] == [("Where did Cotton live?", "Above the barn", 0), ("Where did Cotton live?", "In the house", 1),
                               ("What color were her sisters?", "Orange", 0)]
    assert rows[0]["passage"]["text"].startswith("<b>Sent 1: </b>") and rows[0]["idx"] == 0
    flat = records(SUPERGLUE / "MultiRC_val.head.jsonl", "jsonl", explode=["passage.questions"])
    assert len(flat) == 2 and len(flat[0]["passage"]["questions"]["answers"]) == 2
    with pytest.raises(SourceError) as err:
        records(SUPERGLUE / "MultiRC_val.head.jsonl", "jsonl", explode=["passage.text"])
    assert err.value.code == "E4001" and "record 0 has no parallel lists under passage.text" in err.value.message


def test_a_recipe_builds_multirc_answers_and_record_queries_from_superglue_s_jsonl(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(SUPERGLUE, tmp_path / "superglue")
    recipe = """hum: 1
name: superglue
sources:
  multirc:
    path: superglue/MultiRC_val.head.jsonl
    options: {explode: [passage.questions, passage.questions.answers]}
  record: {path: superglue/ReCoRD_val.head.jsonl, options: {explode: [qas]}}
tasks:
  - id: multirc
    source: multirc
    task: mrc_yes_no
    fields:
      context: passage.text
      question: 'passage.questions.question + " Is this answer correct: " + passage.questions.answers.text + "?"'
      answer: 'lookup(passage.questions.answers.label, ["no", "yes"])'
    labels: ["yes", "no"]
  - id: record
    source: record
    task: mrc_extractive
    fields: {context: passage.text, question: qas.query, answers: qas.answers.text}
output: {splits: {train: 1.0}}
"""
    gold, text, _ = built_gold(tmp_path, "superglue", recipe)
    assert gold["multirc"] == {0: [{"answer": "yes"}], 1: [{"answer": "no"}], 2: [{"answer": "yes"}]}
    assert "Is this answer correct: In the house?" in text["multirc"][1]
    assert gold["record"] == {0: [{"answer": "Ohio"}]} and "@placeholder" in text["record"][0]


PUBTATOR = DATA / "pubtator" / "CDR_sample.PubTator.txt"


def test_pubtator_reads_documents_mentions_and_cid_relations() -> None:
    from humc.sources import infer_format

    assert infer_format(PUBTATOR) == "pubtator"
    rows = list(read_source(SourceDef("s", PUBTATOR, "pubtator", {})))
    assert [(r.number, r.line, r.record["id"]) for r in rows] == [(0, 1, "227508"), (1, 11, "354896")]
    first = rows[0].record
    assert first["text"] == first["title"] + " " + first["abstract"]
    assert first["entities"][3] == {"type": "Disease", "span": "decrease in blood pressure", "start": 99, "end": 125,
                                    "id": "D007022"}
    assert first["relations"] == [{"head": "clonidine", "relation": "CID", "tail": "decrease in blood pressure",
                                   "head_id": "D003000", "tail_id": "D007022"}]


@pytest.mark.parametrize(("edit", "line", "words"), [
    (("227508\t0\t8\tNaloxone", "227508\t0\t7\tNaloxone"), 3, "the offsets 0-7 select 'Naloxon', but the line says 'Naloxone'"),
    (("227508\t49\t58", "227509\t49\t58"), 4, "the line is of document '227509', inside 227508"),
    (("227508\tCID\tD003000\tD007022", "227508\tCID\tD003000"), 9, "an annotation line of 3 tab-separated fields"),
])
def test_a_pubtator_line_that_does_not_fit_is_located(tmp_path: Path, edit: tuple[str, str], line: int,
                                                      words: str) -> None:
    path = tmp_path / "cdr.txt"
    path.write_text(PUBTATOR.read_text(encoding="utf-8").replace(*edit), encoding="utf-8")
    with pytest.raises(SourceError) as err:
        records(path, "pubtator")
    assert err.value.code == "E4001" and err.value.span is not None and err.value.span.line == line
    assert words in err.value.message


def test_a_recipe_builds_bc5cdr_ner_and_cid_relations_from_pubtator(tmp_path: Path) -> None:
    (tmp_path / "CDR_DevelopmentSet.PubTator.txt").write_bytes(PUBTATOR.read_bytes())
    gold = built_ie(tmp_path, "cdr", {"cdr": "CDR_DevelopmentSet.PubTator.txt"},
                    {"ner": ("cdr", "ner", "entities"), "cid": ("cdr", "re", "relations")})
    assert gold["ner"][1] == [{"type": "Chemical", "span": "Lidocaine"}, {"type": "Disease", "span": "cardiac asystole"},
                              {"type": "Chemical", "span": "lidocaine"}, {"type": "Disease", "span": "cardiac asystole"}]
    assert gold["cid"] == {0: [{"head": "clonidine", "relation": "CID", "tail": "decrease in blood pressure"}],
                           1: [{"head": "Lidocaine", "relation": "CID", "tail": "cardiac asystole"}]}


def test_maven_s_test_documents_without_events_are_left_out_not_read_as_no_event(tmp_path: Path) -> None:
    valid = (DATA / "maven" / "valid.head2.jsonl").read_text(encoding="utf-8").splitlines()[0]
    test = json.loads(valid)
    del test["events"], test["negative_triggers"]
    test["candidates"] = [{"id": "c0", "trigger_word": "organized", "sent_id": 1, "offset": [1, 2]}]
    (tmp_path / "mixed.jsonl").write_text(valid + "\n" + json.dumps(test) + "\n", encoding="utf-8")
    recipe = ("hum: 1\nname: maven\nsources:\n  maven: {catalog: maven, path: mixed.jsonl}\ntasks:\n  - source: maven\n"
              "output: {splits: {train: 1.0}}\n")
    gold, _, _ = built_gold(tmp_path, "maven", recipe)
    assert list(gold["maven"]) == [0] and gold["maven"][0][0] == {"event_type": "Protest", "trigger": "marches",
                                                                 "role": "", "argument": ""}
