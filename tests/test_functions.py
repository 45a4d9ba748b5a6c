"""Whitelisted expression functions, including the public-dataset adapters."""

from __future__ import annotations

import pytest

from humc.expr.functions import FunctionError, bio_spans, duee_events, lookup, sentences, spert_relations, zip_records


def test_bio_spans_iob2_iob1_and_bioes():
    tokens = ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."]
    tags = ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"]
    assert [(s["type"], s["span"]) for s in bio_spans(tokens, tags)] == [("ORG", "EU"), ("MISC", "German"), ("MISC", "British")]
    # IOB1: I- starts an entity; B- only separates two adjacent entities of one type
    assert [s["span"] for s in bio_spans(["Peter", "Blackburn", "Paris"], ["I-PER", "I-PER", "I-LOC"])] == ["Peter Blackburn", "Paris"]
    assert [s["span"] for s in bio_spans(["a", "b", "c"], ["S-X", "B-Y", "E-Y"])] == ["a", "b c"]
    assert bio_spans(["中", "国"], ["B-LOC", "I-LOC"], sep="") == [{"type": "LOC", "span": "中国", "start": 0, "end": 2}]
    with pytest.raises(FunctionError):
        bio_spans(["a"], [])


def test_spert_relations():
    tokens = "John Smith works for Acme".split()
    entities = [{"type": "Peop", "start": 0, "end": 2}, {"type": "Org", "start": 4, "end": 5}]
    assert spert_relations(tokens, entities, [{"type": "Work_For", "head": 0, "tail": 1}]) == [
        {"head": "John Smith", "relation": "Work_For", "tail": "Acme"}]
    with pytest.raises(FunctionError):
        spert_relations(tokens, entities, [{"type": "Kill", "head": 0, "tail": 5}])


def test_duee_events_gives_a_row_shared_by_two_events_once():
    """DuEE dev: two 组织关系-裁员 events of one trigger share their 裁员方; the flat rows would hold it twice."""
    events = [{"event_type": "组织关系-裁员", "trigger": "裁掉", "arguments": [{"role": "裁员方", "argument": "猛龙"},
                                                                             {"role": "裁员人数", "argument": "一人"}]},
              {"event_type": "组织关系-裁员", "trigger": "裁掉", "arguments": [{"role": "裁员方", "argument": "猛龙"}]}]
    assert [(r["role"], r["argument"]) for r in duee_events(events)] == [("裁员方", "猛龙"), ("裁员人数", "一人")]


def test_duee_events_keeps_argumentless_events():
    rows = duee_events([{"event_type": "人生-死亡", "trigger": "去世", "arguments": []}])
    assert rows == [{"event_type": "人生-死亡", "trigger": "去世", "role": "", "argument": ""}]


def test_lookup_and_zip():
    assert lookup("2", ["World", "Sports"], offset=1) == "Sports"
    assert lookup("0,1", ["a", "b"]) == ["a", "b"]
    with pytest.raises(FunctionError):
        lookup(9, ["a"])
    assert zip_records(s=["a"], p=["b"], o=["c"]) == [{"s": "a", "p": "b", "o": "c"}]


@pytest.mark.parametrize(("parts", "text"), [
    (["Is Google the Next Netscape?", "Investors wait"], "Is Google the Next Netscape? Investors wait"),
    (["Wall St. Bears Claw Back (Reuters)", "Short-sellers are back"], "Wall St. Bears Claw Back (Reuters). Short-sellers are back"),
    (['He said "no!"', None, "  ", " More "], 'He said "no!" More'),
    (["北京欢迎你", "好"], "北京欢迎你。好"),
    (["北京欢迎你！", "ok"], "北京欢迎你！ok"),
    (["only one"], "only one"),
    ([], ""),
])
def test_sentences_adds_a_full_stop_only_where_a_part_does_not_end_a_sentence(parts, text):
    assert sentences(parts) == text
