"""Defects left out of earlier stops, each stated on the output or error a user sees."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from humc.answers import formats
from humc.answers.formats import FormatSpec
from humc.answers.table import AnswerTable

NATURAL = FormatSpec("natural")


# ------------------------------------------------------------------ 1. natural: no doubled final punctuation


@pytest.mark.parametrize(("rows", "fields", "language", "said"), [
    ((("a waste of time.",),), ("answer",), "en", 'The answer is "a waste of time."'),
    ((("Paris",), ("Really?",)), ("answer",), "en", 'The answers are "Paris" and "Really?"'),
    ((("PER", "Ada!"),), ("type", "span"), "en", 'The answer: type is "PER", span is "Ada!"'),
    ((("好。",),), ("answer",), "zh", '答案是 "好。"'),
    ((("Paris",),), ("answer",), "en", 'The answer is "Paris".'),
])
def test_natural_sentence_ends_once_when_the_answer_ends_a_sentence(rows: tuple[tuple[str, ...], ...],
                                                                     fields: tuple[str, ...], language: str,
                                                                     said: str) -> None:
    table = AnswerTable(fields, rows, "many" if len(rows) > 1 else "one")
    text = formats.render(NATURAL, table, language=language)
    assert text == said
    assert formats.parse(NATURAL, text, fields, table.cardinality) == table


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(st.sampled_from('ab .!?。"\\'), min_size=1, max_size=6).filter(lambda v: v == v.strip()),
                min_size=1, max_size=3), st.sampled_from(["en", "zh"]))
def test_natural_never_writes_a_stop_after_a_quoted_stop_and_still_round_trips(values: list[str], language: str) -> None:
    table = AnswerTable(("answer",), tuple((v,) for v in values), "many")
    text = formats.render(NATURAL, table, language=language)
    assert not any(text.endswith((f'{end}".', f'{end}"。')) for end in ".!?。")
    assert formats.parse(NATURAL, text, ("answer",), "many") == table
