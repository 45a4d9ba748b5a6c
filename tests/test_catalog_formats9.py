"""Adapters of CBLUE's CMeEE (Chinese medical NER, inclusive end offsets) and more published layouts, built from
samples written in each dataset's published format (tests/data/<name>/SOURCE.md says how each was made).

Each test builds a real recipe with `humc build` and reads the written Parquet records back; a damaged file fails
as a compiler error at the adapter's line, naming the record and what was expected."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from test_catalog_formats8 import DATA, build

from humc.expr.functions import FunctionError, char_spans


def copy(name: str, root: Path) -> Path:
    shutil.copytree(DATA / name, root / name)
    return root / name


def spans(gold: list[Any]) -> list[list[tuple[str, str]]]:
    return [sorted((e["type"], e["span"]) for e in record) for record in gold]


# CMeEE: a JSON list of {text, entities: [{start_idx, end_idx, type, entity}]}, end_idx the last character


def test_cmeee_reads_inclusive_ends_and_nested_entities(tmp_path: Path) -> None:
    copy("cmeee", tmp_path)
    _, gold = build(tmp_path, "cmeee, path: cmeee/CMeEE_dev.head4.json", language="zh")
    assert spans(gold)[0] == [("dis", "反复发作或难治性心房内折返性心动过速"), ("pro", "房室结消融"), ("pro", "起搏器植入")]
    assert ("bod", "交感神经") in spans(gold)[1] and ("sym", "交感神经亢进") in spans(gold)[1]  # nested, both kept
    assert len(gold[1]) == 8 and gold[3] == []  # a sentence without entities is a record with none


def test_cmeee_test_file_records_without_entities_are_left_out_not_built_empty(tmp_path: Path) -> None:
    copy("cmeee", tmp_path)
    out, gold = build(tmp_path, "cmeee, path: cmeee/CMeEE_test.head1.json", language="zh", expect=2)
    assert "stdlib/catalog/cmeee.yaml:17:8: error[E4104]: the build would write 0 records" in out
    assert "note: x/filter (filter) kept 0 of 1 record(s)" in out  # CMeEE_test.json has no `entities` to build from


def test_a_cmeee_copy_with_exclusive_ends_is_refused_with_the_reason(tmp_path: Path) -> None:
    folder = copy("cmeee", tmp_path)
    records = json.loads((folder / "CMeEE_dev.head4.json").read_text(encoding="utf-8"))
    for record in records:  # some conversions write end_idx one past the last character
        for entity in record["entities"]:
            entity["end_idx"] += 1
    (folder / "CMeEE_dev.head4.json").write_text(json.dumps(records, ensure_ascii=False, indent=4), encoding="utf-8")
    out, _ = build(tmp_path, "cmeee, path: cmeee/CMeEE_dev.head4.json", language="zh", expect=2)
    assert "stdlib/catalog/cmeee.yaml:" in out and "error[E4102]" in out and "(source 'x' row 0)" in out
    assert "span 0: offsets 3-9 select '房室结消融和', but the span says '房室结消融': the end offset is the character " \
           "after the span, not its last one" in out
    assert "Traceback" not in out


def test_char_spans_inclusive_ends() -> None:
    text = "由于交感神经亢进"
    items = [{"s": 2, "e": 7, "t": "sym"}, {"s": 2, "e": 5, "t": "bod"}]
    assert char_spans(text, items, start="s", end="e", label="t", inclusive=True) == [
        {"type": "bod", "span": "交感神经", "start": 2, "end": 6}, {"type": "sym", "span": "交感神经亢进", "start": 2, "end": 8}]
    assert char_spans(text, [[7, 7, "x"]], inclusive=True)[0]["span"] == "进"  # a one-character span, the last one
    with pytest.raises(FunctionError, match="its last character 8 is outside the text"):
        char_spans(text, [[2, 8, "x"]], inclusive=True)
    with pytest.raises(FunctionError, match="the end offset is the span's last character: give `inclusive=true`"):
        char_spans(text, [{"start": 2, "end": 5, "label": "bod", "text": "交感神经"}], check="text")
    emoji = "😀交感神经"  # UTF-16 offsets (an emoji is two units): the last character's own offset
    assert char_spans(emoji, [[2, 5, "bod"]], units="utf16", inclusive=True)[0]["span"] == "交感神经"


# RAMS: one window of sentences per line, evt_triggers and gold_evt_links with inclusive document token offsets


def rows(gold: list[Any]) -> list[list[tuple[str, str, str, str]]]:
    return [[(e["event_type"], e["trigger"], e["role"], e["argument"]) for e in record] for record in gold]


def test_rams_reads_arguments_across_sentences_with_the_role_names(tmp_path: Path) -> None:
    copy("rams", tmp_path)
    _, gold = build(tmp_path, "rams, path: rams/dev.head3.jsonlines")
    death = "life.die.deathcausedbyviolentevents"
    assert rows(gold) == [
        [("justice.judicialconsequences.execute", "execution", "place", "Tehran")],
        [(death, "killed", "killer", "suicide bomber"), (death, "killed", "victim", "at least twelve people"),
         (death, "killed", "place", "crowded market"), (death, "killed", "place", "Mosul")],  # Mosul: the sentence before
        [("transaction.transaction.transfermoney", "sale", "", "")]]  # a trigger without links keeps its row


def test_a_rams_link_to_no_trigger_is_an_error_naming_the_span_and_the_line(tmp_path: Path) -> None:
    folder = copy("rams", tmp_path)
    lines = (folder / "dev.head3.jsonlines").read_text(encoding="utf-8").splitlines(keepends=True)
    lines[1] = lines[1].replace("[[21, 21], [19, 20]", "[[20, 21], [19, 20]")
    (folder / "dev.head3.jsonlines").write_text("".join(lines), encoding="utf-8")
    out, _ = build(tmp_path, "rams, path: rams/dev.head3.jsonlines", expect=2)
    assert "stdlib/catalog/rams.yaml:14:11: error[E4102]: rams_events(): link 0 points at the trigger [20, 21], which " \
           "evt_triggers does not hold (source 'x' row 1)" in out
    assert "expected: a trigger span of evt_triggers: [21, 21]" in out and "line 2 of the source file" in out


def test_a_rams_argument_outside_the_window_names_its_offsets(tmp_path: Path) -> None:
    folder = copy("rams", tmp_path)
    text = (folder / "dev.head3.jsonlines").read_text(encoding="utf-8")
    (folder / "dev.head3.jsonlines").write_text(text.replace("[[10, 10], [12, 12]", "[[10, 10], [12, 99]"), encoding="utf-8")
    out, _ = build(tmp_path, "rams, path: rams/dev.head3.jsonlines", expect=2)
    assert "link 0's argument spans tokens 12-99, outside tokens 0-29 (source 'x' row 0)" in out
    assert "expected: inclusive token offsets counted from the first token of the document's first sentence" in out


# Natural Questions: the simplified files' document_text or the full files' document_tokens, token offsets


def nq_build(root: Path, path: str, expect: int = 0) -> tuple[str, list[Any], list[str]]:
    """Build, and also return each written record's instruction (the context and question in it)."""
    import pyarrow.parquet as pq
    out, gold = build(root, f"natural_questions, path: {path}", expect=expect)
    records = sorted((r for p in (root / "out" / "r" / "data").glob("*.parquet") for r in pq.read_table(p).to_pylist()),
                     key=lambda r: r["source_row"]) if not expect else []
    return out, gold, [r["instruction"] for r in records]


def test_natural_questions_simplified_asks_over_the_long_answer_without_markup(tmp_path: Path) -> None:
    copy("natural_questions", tmp_path)
    _, gold, inputs = nq_build(tmp_path, "natural_questions/simplified-nq-train.head4.jsonl")
    assert gold == [[{"answer": "a newsletter"}]]  # the yes/no, unanswered and long-answer-only questions are left out
    assert "what is a common example of opt-in email?" in inputs[0]
    assert ("A common example of opt - in email is a newsletter sent to customers who signed up for it on the "
            "company 's website .") in inputs[0]
    assert "<P>" not in inputs[0] and "Opt - out" not in inputs[0]  # markup left out; only the long answer's paragraph


def test_natural_questions_full_dev_file_joins_the_annotators_on_one_paragraph(tmp_path: Path) -> None:
    copy("natural_questions", tmp_path)
    _, gold, inputs = nq_build(tmp_path, "natural_questions/nq-dev-00.head1.jsonl")
    assert gold == [[{"answer": "1978"}]]  # "1978" and "in 1978" from three annotators; the shortest span
    assert "Email marketing began in 1978 , when a marketing manager sent a message to 400 users of ARPANET ." in inputs[0]
    assert "commercial message" not in inputs[0]  # the other annotator's paragraph is not the context


def test_nq_answer_reads_both_layouts_alike() -> None:
    from humc.expr.functions import nq_answer
    simplified = json.loads((DATA / "natural_questions" / "nq-dev-00.head1.jsonl").read_text(encoding="utf-8"))
    text = " ".join(t["token"] for t in simplified["document_tokens"])
    full = nq_answer(simplified["document_tokens"], simplified["annotations"])
    assert full == nq_answer(text, simplified["annotations"]) and full["answers"] == ["1978", "in 1978"]
    assert nq_answer(text, None) == {"context": None, "answers": [], "yes_no": "NONE"}  # the test files: no annotations
    with pytest.raises(FunctionError, match="annotation 0's long answer is a string"):
        nq_answer(text, [{"long_answer": "4-27"}])


def test_a_natural_questions_span_past_the_page_is_an_error_at_the_record(tmp_path: Path) -> None:
    folder = copy("natural_questions", tmp_path)
    first = (folder / "simplified-nq-train.head4.jsonl").read_text(encoding="utf-8").splitlines()[0]
    (folder / "simplified-nq-train.head4.jsonl").write_text(
        first.replace('"start_token": 59, "end_token": 61', '"start_token": 59, "end_token": 610') + "\n", encoding="utf-8")
    out, _, _ = nq_build(tmp_path, "natural_questions/simplified-nq-train.head4.jsonl", expect=2)
    assert "stdlib/catalog/natural_questions.yaml:14:12: error[E4102]: nq_answer(): annotation 0's short answer 0 " \
           "spans tokens 59-610, outside the page's 97 tokens (source 'x' row 0)" in out
    assert "expected: token offsets into this record's document, the end exclusive" in out
    assert "the record (line 1 of the source file)" in out


# WikiEvents: arguments name an entity mention (entity_id); their own text is written apart from the tokens


def test_wikievents_cuts_each_argument_from_the_mention_it_names(tmp_path: Path) -> None:
    copy("wikievents", tmp_path)
    _, gold = build(tmp_path, "wikievents, path: wikievents/dev.head1.jsonl")
    attack, die, make = "Conflict.Attack.DetonateExplode", "Life.Die.Unspecified", "ArtifactExistence.ManufactureAssemble.Unspecified"
    assert rows(gold) == [[
        (attack, "exploded", "ExplosiveDevice", "car bomb"), (attack, "exploded", "Target", "U.S. - run base"),
        (attack, "exploded", "Place", "Khost"), (die, "killing", "Victim", "four guards"), (die, "killing", "Place", "Khost"),
        ("Contact.Contact.Broadcast", "said", "", ""),  # no arguments: the trigger alone
        (make, "built", "ManufacturerAssembler", 'Abu " the Engineer " Said'),  # its `text` drops the quotes
        (make, "built", "Artifact", "device")]]


def test_a_wikievents_argument_naming_no_mention_is_an_error_naming_the_id(tmp_path: Path) -> None:
    folder = copy("wikievents", tmp_path)
    text = (folder / "dev.head1.jsonl").read_text(encoding="utf-8")
    (folder / "dev.head1.jsonl").write_text(text.replace('"entity_id": "wiki_ied_bombings_sample_0-T6"',
                                                         '"entity_id": "wiki_ied_bombings_sample_0-T60"'), encoding="utf-8")
    out, _ = build(tmp_path, "wikievents, path: wikievents/dev.head1.jsonl", expect=2)
    assert "stdlib/catalog/wikievents.yaml:15:11: error[E4102]: oneie_events(): event 2's argument names the entity " \
           "'wiki_ied_bombings_sample_0-T60', which entity_mentions does not hold (source 'x' row 0)" in out
    assert "expected: an entity_id of one of the record's entity_mentions" in out


def test_oneie_events_without_entities_keeps_each_argument_s_own_text() -> None:
    from humc.expr.functions import oneie_events
    events = [{"event_type": "e", "trigger": {"start": 1, "end": 2}, "arguments": [{"entity_id": "T1", "role": "r",
                                                                                   "text": "EU itself"}]}]
    assert oneie_events(["EU", "rejects"], events)[0]["argument"] == "EU itself"
    assert oneie_events(["EU", "rejects"], events, entities=[{"id": "T1", "start": 0, "end": 1}])[0]["argument"] == "EU"
    with pytest.raises(FunctionError, match="entity mention T1 spans tokens 0-3, outside the 2 tokens"):
        oneie_events(["EU", "rejects"], events, entities=[{"id": "T1", "start": 0, "end": 3}])


# HellaSwag: JSON Lines with the right ending's position in `label` (absent in the test file)


def test_hellaswag_reads_the_label_and_takes_the_wikihow_markers_out(tmp_path: Path) -> None:
    import pyarrow.parquet as pq
    copy("hellaswag", tmp_path)
    _, gold = build(tmp_path, "hellaswag, path: hellaswag/hellaswag_val.head2.jsonl")
    assert gold == [[{"answer": "D"}], [{"answer": "A"}]]
    written = sorted((r for p in (tmp_path / "out" / "r" / "data").glob("*.parquet") for r in pq.read_table(p).to_pylist()),
                     key=lambda r: r["source_row"])
    assert "starts pulling up roofing on a roof." in written[0]["instruction"]
    assert "How to repot a succulent. Choose a pot one size larger. A pot with a drainage hole" in written[1]["instruction"]
    assert "Fill the bottom of the pot with a gritty soil mix. Cactus soil works well" in written[1]["instruction"]
    assert not any(mark in written[1]["instruction"] for mark in ("[header]", "[title]", "[step]"))


@pytest.mark.parametrize(("name", "path"), [("hellaswag", "hellaswag/hellaswag_test.head1.jsonl"),
                                          ("swag", "swag/test.head1.csv")])
def test_a_test_file_without_labels_builds_nothing_and_says_so(tmp_path: Path, name: str, path: str) -> None:
    """HellaSwag's test JSON Lines and SWAG's test.csv hold no label: no record, said, not a dataset of guesses."""
    copy(name, tmp_path)
    out, _ = build(tmp_path, f"{name}, path: {path}", expect=2)
    assert "error[E4104]: the build would write 0 records" in out and "kept 0 of 1 record(s)" in out


# CLINC150: one object {part: [[query, intent], …]}, read with key_column and columns together


def test_clinc150_reads_every_part_s_pairs_and_a_where_keeps_the_training_ones(tmp_path: Path) -> None:
    copy("clinc150", tmp_path)
    _, gold = build(tmp_path, "clinc150, path: clinc150/data_full.head.json")
    assert [g[0]["label"] for g in gold] == ["oos", "translate", "bill_balance", "translate", "translate", "bill_balance",
                                             "oos", "translate", "oos"]  # oos_val, val, train, oos_test, test, oos_train
    _, train = build(tmp_path / "t", "clinc150, path: ../clinc150/data_full.head.json",
                     fields='    where: part == "train" or part == "oos_train"\n')
    assert [g[0]["label"] for g in train] == ["translate", "translate", "bill_balance", "oos"]


def test_a_clinc150_item_of_another_length_is_refused_naming_its_part(tmp_path: Path) -> None:
    folder = copy("clinc150", tmp_path)
    text = (folder / "data_full.head.json").read_text(encoding="utf-8")
    (folder / "data_full.head.json").write_text(text.replace('"translate"]], "oos_train"', '"translate", 1]], "oos_train"'),
                                                encoding="utf-8")
    out, _ = build(tmp_path, "clinc150, path: clinc150/data_full.head.json", expect=2)
    assert "data_full.head.json:1:1: error[E4001]: source 'x': item 0 of the JSON list under 'test' holds 3 values but " \
           "`columns:` names 2" in out and "expected: columns: text, intent" in out


def test_key_column_lists_of_lists_without_columns_are_told_to_name_them(tmp_path: Path) -> None:
    (tmp_path / "pairs.json").write_text('{"train": [["a query", "an_intent"]]}', encoding="utf-8")
    (tmp_path / "r.hum.yaml").write_text("hum: 1\nname: r\nsources:\n  x: {path: pairs.json, format: json, options: "
                                         "{key_column: part}}\ntasks:\n  - source: x\n    task: classification\n"
                                         "    fields: {text: text, label: intent}\n", encoding="utf-8")
    from helpers import run_cli
    result = run_cli("build", "r.hum.yaml", "-q", cwd=tmp_path)
    assert result.exit_code == 2 and "the value of key 'train' is not a list of objects" in result.output
    assert "hint: name the positions of each list with `columns: [...]` (CLINC150: [text, intent])" in result.output


# SWAG: pandas' CSV with an empty first header cell; test.csv has no label column


def test_swag_reads_the_csv_with_its_unnamed_index_column(tmp_path: Path) -> None:
    import pyarrow.parquet as pq
    copy("swag", tmp_path)
    _, gold = build(tmp_path, "swag, path: swag/val.head3.csv")
    assert gold == [[{"answer": "C"}], [{"answer": "A"}], [{"answer": "A"}]]
    written = sorted((r for p in (tmp_path / "out" / "r" / "data").glob("*.parquet") for r in pq.read_table(p).to_pylist()),
                     key=lambda r: r["source_row"])
    assert "Students lower their eyes nervously. She" in written[0]["instruction"]
    assert "pats her shoulder, then saunters toward someone." in written[0]["instruction"]  # a quoted comma
    assert 'Someone opens the door. A "Welcome" sign' in written[2]["instruction"]  # a doubled quote


# 20 Newsgroups: a folder per group, one message per file without an extension, Latin-1 bytes in some


def test_twenty_newsgroups_reads_each_group_s_messages_without_their_headers(tmp_path: Path) -> None:
    import pyarrow.parquet as pq
    copy("twenty_newsgroups", tmp_path)
    _, gold = build(tmp_path, "twenty_newsgroups, path: twenty_newsgroups/20news-bydate-test")
    assert [g[0]["label"] for g in gold] == ["comp.graphics", "rec.autos", "sci.space", "sci.space"]
    written = sorted((r for p in (tmp_path / "out" / "r" / "data").glob("*.parquet") for r in pq.read_table(p).to_pylist()),
                     key=lambda r: r["source_row"])
    assert "A café owner near" in written[3]["instruction"]  # the Latin-1 byte \xe9 read as é
    assert not any("Organization:" in r["instruction"] or "From:" in r["instruction"] for r in written)


def test_a_message_that_is_only_headers_is_left_out(tmp_path: Path) -> None:
    folder = copy("twenty_newsgroups", tmp_path)
    (folder / "20news-bydate-test" / "rec.autos" / "103008").write_bytes(b"From: x@example.com\nSubject: (no body)\n")
    _, gold = build(tmp_path, "twenty_newsgroups, path: twenty_newsgroups/20news-bydate-test")
    assert [g[0]["label"] for g in gold] == ["comp.graphics", "rec.autos", "sci.space", "sci.space"]


# CASIE: a folder of one JSON object per article, cyberevent hoppers of events with nuggets and arguments


def test_casie_reads_the_hoppers_events_in_trigger_order(tmp_path: Path) -> None:
    copy("casie", tmp_path)
    _, gold = build(tmp_path, "casie, path: casie/annotation")
    assert rows(gold) == [
        [("Databreach", "breached", "Attacker", "Hackers"), ("Databreach", "breached", "Compromised-Data", "customer database"),
         ("Databreach", "breached", "Victim", "Example Retail Inc."), ("Databreach", "breached", "Time", "last week"),
         ("Phishing", "sent phishing emails", "Attacker", "attackers"), ("Phishing", "sent phishing emails", "Victim", "staff"),
         ("Databreach", "breach", "", "")],  # the hopper's second mention, without `argument`, after the phishing one
        [("PatchVulnerability", "released a patch", "Releaser", "Example Software"),
         ("PatchVulnerability", "released a patch", "Time", "on Tuesday"),
         ("PatchVulnerability", "released a patch", "Supported_Platform", "mail server")]]  # 1003.json: no cyberevent


def test_a_casie_file_that_is_not_json_stops_the_build_at_its_line_and_column(tmp_path: Path) -> None:
    folder = copy("casie", tmp_path)
    (folder / "annotation" / "1004.json").write_text('{"content": "x", "cyberevent": {"hopper": [}\n', encoding="utf-8")
    out, _ = build(tmp_path, "casie, path: casie/annotation", expect=2)
    assert "annotation/1004.json:1:44: error[E4001]: source 'x': invalid JSON: Expecting value" in out


def test_a_casie_event_without_a_nugget_is_an_error_at_the_adapter() -> None:
    from humc.expr.functions import casie_events
    assert casie_events(None) is None
    with pytest.raises(FunctionError, match="hopper 0's event 0 has no nugget"):
        casie_events({"hopper": [{"events": [{"type": "Attack"}]}]})
    with pytest.raises(FunctionError, match="cyberevent is an empty list"):
        casie_events([])


# ANLI: the release's JSON Lines, the premise under `context`, one-letter labels


def test_anli_reads_context_and_one_letter_labels(tmp_path: Path) -> None:
    copy("anli", tmp_path)
    _, gold = build(tmp_path, "anli, path: anli/R1/dev.head3.jsonl")
    assert gold == [[{"label": "entailment"}], [{"label": "contradiction"}], [{"label": "neutral"}]]


def test_an_anli_label_outside_e_n_c_is_an_error_at_the_record(tmp_path: Path) -> None:
    folder = copy("anli", tmp_path)
    path = folder / "R1" / "dev.head3.jsonl"
    path.write_text(path.read_text(encoding="utf-8").replace('"label": "n"', '"label": "x"'), encoding="utf-8")
    out, _ = build(tmp_path, "anli, path: anli/R1/dev.head3.jsonl", expect=2)
    assert "stdlib/catalog/anli.yaml:" in out and "error[E4102]" in out
    assert "key 'x' is not in the mapping (keys: 'e', 'n', 'c')" in out and "(source 'x' row 2)" in out


# CMeIE: JSON Lines of {text, spo_list}, the texts prefixed with "topic@", objects under "@value"


def test_cmeie_reads_the_spo_list_and_keeps_the_topic_prefix(tmp_path: Path) -> None:
    copy("cmeie", tmp_path)
    _, gold = build(tmp_path, "cmeie, path: cmeie/CMeIE_dev.head3.jsonl", language="zh")
    assert [[(r["head"], r["relation"], r["tail"]) for r in g] for g in gold] == [
        [("产后抑郁症", "鉴别诊断", "轻度情绪失调")], [("MCP关节炎症", "临床表现", "尺侧偏斜")],
        [("缺铁性贫血", "临床表现", "乏力"), ("缺铁性贫血", "临床表现", "头晕"), ("缺铁性贫血", "药物治疗", "铁剂")]]


def test_the_cmeie_test_file_without_spo_list_is_an_error_naming_the_field(tmp_path: Path) -> None:
    (tmp_path / "cmeie").mkdir()
    (tmp_path / "cmeie" / "CMeIE_test.json").write_text('{"text": "贫血@贫血常见乏力。"}\n', encoding="utf-8")
    out, _ = build(tmp_path, "cmeie, path: cmeie/CMeIE_test.json", language="zh", expect=2)
    assert "error[E4102]: source 'x' has no gold answers in CMeIE_test.json: the task's answer 'relations' is " \
           "mapped from field 'spo_list', which the record lacks" in out
