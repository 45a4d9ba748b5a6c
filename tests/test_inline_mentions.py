"""Inline tags of an answer that lists each (label, span) once (a `dedupe` rule, e.g. CoNLL-2003's `dedupe_rows`):
the text is copied with every mention of a kept entity tagged, not only its first one, which taught a model that the
other mentions are no entities. The law: the output reads back as the distinct rows (``canonical``), and no
whole-word mention of a span one row holds is left untagged outside the other tags. And, with or without the rule, a
span is tagged at a whole word when it has one, not inside a longer word ("Ken" in "Kent")."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from humc.answers import formats
from humc.answers.formats import FormatContext, FormatSpec
from humc.answers.table import AnswerTable
from humc.eval.scoring import Resolver, score_record

from test_hostile_content import NER, build  # isort: skip

INLINE = FormatSpec("inline_tags")
FIELDS = ("type", "span")


def tagged(text: str, rows: tuple[tuple[str, str], ...], every: bool = True) -> str:
    context = FormatContext(("LOC", "PER", "ORG", "X"), "type", text, every)
    table = AnswerTable(FIELDS, rows, "many")
    output = formats.render(INLINE, table, context=context)
    assert formats.parse(INLINE, output, FIELDS, "many", unfence=False, context=context).rows == \
        formats.canonical(INLINE, table, context).rows
    return output


def test_every_mention_of_a_kept_entity_is_tagged():
    text = "Germany beat France and Germany won ."
    rows = (("LOC", "Germany"), ("LOC", "France"))
    assert tagged(text, rows, every=False) == "<LOC>Germany</LOC> beat <LOC>France</LOC> and Germany won ."
    assert tagged(text, rows) == "<LOC>Germany</LOC> beat <LOC>France</LOC> and <LOC>Germany</LOC> won ."


def test_no_mention_inside_a_longer_word_or_another_tag_and_none_for_a_span_of_two_labels():
    assert tagged("Ken beat Kent ; Ken won .", (("PER", "Ken"),)) == "<PER>Ken</PER> beat Kent ; <PER>Ken</PER> won ."
    assert tagged("Bank of China in China , China .", (("ORG", "Bank of China"), ("LOC", "China"))) == \
        "<ORG>Bank of China</ORG> in <LOC>China</LOC> , <LOC>China</LOC> ."
    # the same string as PER and as LOC: which label another mention has cannot be told, so each stays where it is
    assert tagged("Washington met Washington in Washington .", (("PER", "Washington"), ("LOC", "Washington"))) == \
        "<PER>Washington</PER> met <LOC>Washington</LOC> in Washington ."


def test_a_span_is_tagged_at_a_whole_word_not_inside_a_longer_one():
    # once "<PER>Ken</PER>t beat Ken .": the first occurrence, inside "Kent", was tagged and the mention left bare
    assert tagged("Kent beat Ken .", (("PER", "Ken"),), every=False) == "Kent beat <PER>Ken</PER> ."
    assert tagged("Kent beat Ken and Ajax .", (("PER", "Ken"), ("ORG", "Ajax")), every=False) == \
        "Kent beat <PER>Ken</PER> and <ORG>Ajax</ORG> ."
    assert tagged("Kent beat Ken .", (("PER", "Ken"), ("LOC", "Kent")), every=False) == \
        "<LOC>Kent</LOC> beat <PER>Ken</PER> ."
    # a span that is only ever part of a word keeps its place there
    assert tagged("Kentucky won .", (("LOC", "Kent"),), every=False) == "<LOC>Kent</LOC>ucky won ."


@settings(max_examples=200, deadline=None)
@given(text=st.text("ab &", min_size=1, max_size=24), data=st.data())
def test_a_span_with_a_whole_word_occurrence_is_never_tagged_inside_a_word(text: str, data: st.DataObject):
    start = data.draw(st.integers(0, len(text) - 1))
    span = text[start:start + data.draw(st.integers(1, 4))]
    whole = [i for i in range(len(text)) if text.startswith(span, i) and not inside(text, i, i + len(span))]
    output = tagged(text, (("X", span),), every=False)
    opened = output.index("<X>")
    at = len(formats._xml_unescape(output[:opened]))
    assert (at in whole) if whole else (text.find(span) == at)


def inside(text: str, start: int, end: int) -> bool:
    return any(0 < i < len(text) and text[i - 1].isalnum() and text[i].isalnum() for i in (start, end))


def test_a_script_written_without_spaces_tags_mentions_between_characters():
    assert tagged("我在北京工作，北京很大。", (("LOC", "北京"),)) == "我在<LOC>北京</LOC>工作，<LOC>北京</LOC>很大。"


def test_a_tagged_answer_of_every_mention_reads_back_as_its_distinct_rows():
    context = FormatContext(("LOC",), "type", "Germany beat France and Germany won .", True)
    output = "<LOC>Germany</LOC> beat <LOC>France</LOC> and <LOC>Germany</LOC> won ."
    assert formats.parse(INLINE, output, FIELDS, "many", context=context).rows == \
        (("LOC", "Germany"), ("LOC", "France"))


WORD = re.compile(r"\w")


def untagged_mentions(text: str, output: str, rows: list[tuple[str, str]]) -> list[tuple[int, str]]:
    """Whole-word occurrences of a span one row holds that overlap no tag of ``output`` (its text is ``text``)."""
    covered = bytearray(len(text))
    plain_at = 0
    for piece in re.split(r"(<[^<>]*>[^<>]*</[^<>]*>)", output):
        inner = re.fullmatch(r"<[^<>]*>([^<>]*)</[^<>]*>", piece)
        size = len(formats._xml_unescape(inner.group(1) if inner else piece))
        if inner:
            covered[plain_at:plain_at + size] = b"\1" * size
        plain_at += size
    holders: dict[str, int] = {}
    for _, span in rows:
        holders[span] = holders.get(span, 0) + 1
    found = []
    for _, span in rows:
        at = text.find(span)
        while at >= 0 and holders[span] == 1:
            end = at + len(span)
            inside = (at > 0 and WORD.match(text[at - 1]) and WORD.match(text[at])) or \
                (end < len(text) and WORD.match(text[end - 1]) and WORD.match(text[end]))
            if covered.find(1, at, end) < 0 and not inside:
                found.append((at, span))
            at = text.find(span, at + 1)
    return found


@settings(max_examples=300, deadline=None)
@given(text=st.text("ab <&", min_size=1, max_size=30), data=st.data())
def test_inline_tags_of_every_mention_round_trip_and_leave_no_mention_untagged(text: str, data: st.DataObject):
    spans = st.tuples(st.integers(0, len(text) - 1), st.integers(1, 4)).map(lambda p: text[p[0]:p[0] + p[1]])
    rows = list(dict.fromkeys(data.draw(st.lists(st.tuples(st.sampled_from(["X", "Y"]), spans), max_size=6))))
    table = AnswerTable(FIELDS, tuple(rows), "many")
    context = FormatContext(("X", "Y"), "type", text, True)
    try:
        output = formats.render(INLINE, table, context=context)
    except formats.NotExpressible:  # overlapping spans, as without every mention
        with pytest.raises(formats.NotExpressible):
            formats.render(INLINE, table, context=FormatContext(("X", "Y"), "type", text))
        return
    parsed = formats.parse(INLINE, output, FIELDS, "many", unfence=False, context=context).rows
    assert parsed == formats.canonical(INLINE, table, context).rows
    assert sorted(parsed) == sorted(rows)  # the distinct rows, each once
    assert untagged_mentions(text, output, rows) == []


def test_a_build_with_dedupe_rows_tags_every_mention_and_eval_reads_it_back(tmp_path: Path):
    rows = [{"text": "Germany beat France and Germany won .",
             "ents": [{"type": "LOC", "span": "Germany"}, {"type": "LOC", "span": "France"},
                      {"type": "LOC", "span": "Germany"}]}]
    written, _ = build(tmp_path, rows, NER, "[inline_tags, json]\n    preferences: [dedupe_rows]\n    variants_per_record: 6")
    inline = [r for r in written if r["answer_format"] == "inline_tags"]
    assert inline and all(r["output"] == "<LOC>Germany</LOC> beat <LOC>France</LOC> and <LOC>Germany</LOC> won ."
                          for r in inline)
    assert all(json.loads(r["gold"]) == [{"type": "LOC", "span": "Germany"}, {"type": "LOC", "span": "France"}]
               for r in written)
    resolver = Resolver.for_stdlib()
    for record in inline:  # the gold output, as a model's answer: full marks, and it keeps the rule it states
        score = score_record(resolver.resolve(record), record, record["output"])
        assert score.score == 1.0 and score.strict
        assert score.rules["dedupe_rows"] is True


def test_a_basic_instruction_states_no_rule_and_eval_still_reads_every_mention_as_one_row(tmp_path: Path):
    # a basic instruction states no rule, but its gold is listed once all the same: eval read the three tags as three
    # rows against two gold rows (F1 0.8) for the very output the build wrote
    rows = [{"text": "Germany beat France and Germany won .",
             "ents": [{"type": "LOC", "span": "Germany"}, {"type": "LOC", "span": "France"},
                      {"type": "LOC", "span": "Germany"}]}]
    written, _ = build(tmp_path, rows, NER, "[inline_tags]\n    preferences: [dedupe_rows]\n    mix: {compound: 0.0}")
    assert [(r["rules"], r["output"]) for r in written] == \
        [([], "<LOC>Germany</LOC> beat <LOC>France</LOC> and <LOC>Germany</LOC> won .")]
    record = written[0]
    score = score_record(Resolver.for_stdlib().resolve(record), record, record["output"])
    assert score.score == 1.0 and score.counts["n_pred"] == 2
