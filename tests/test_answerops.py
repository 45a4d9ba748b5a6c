"""Preference-rule answer operations."""

from __future__ import annotations

from humc.answers.ops import AnswerState, apply_op
from humc.answers.table import AnswerTable

TEXT = "Alice met Bob in Paris, then Bob left."


def table(*rows):
    return AnswerState(AnswerTable.of(("type", "span"), rows))


def test_sort_by_position_orders_by_first_occurrence():
    s = apply_op("sort_by_position", ("span",), table(("LOC", "Paris"), ("PER", "Bob"), ("PER", "Alice")), TEXT)
    assert [r[1] for r in s.table.rows] == ["Alice", "Bob", "Paris"]


def test_sort_dedupe_case_and_pick():
    rows = table(("PER", "Bob"), ("PER", "Bob"), ("LOC", "Paris"))
    assert len(apply_op("dedupe", (), rows, TEXT).table) == 2
    assert apply_op("sort_by", ("type",), rows, TEXT).table.rows[0] == ("LOC", "Paris")
    assert apply_op("lowercase", ("type",), rows, TEXT).table.rows[0] == ("per", "Bob")
    answers = AnswerState(AnswerTable.of(("answer",), [("Paris, France",), ("Paris",)]))
    assert apply_op("shortest", ("answer",), answers, TEXT).table.rows == (("Paris",),)
    assert apply_op("longest", ("answer",), answers, TEXT).table.rows == (("Paris, France",),)
    assert apply_op("first", (), answers, TEXT).table.rows == (("Paris, France",),)


def test_empty_as_sets_the_rendering():
    assert apply_op("empty_as", ("[]",), table(), TEXT).empty == "[]"
