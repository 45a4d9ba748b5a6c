"""Scale: work that must stay linear in the size of one record (thousands of spans in a long document).

Each test counts the text a step reads rather than timing it, so it catches a quadratic step without flakiness.
"""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

import pytest

from humc.answers.ops import MANY_VALUES, AnswerState, Claimed, ManyClaimed, apply_op, occurrences
from humc.answers.table import AnswerTable
from humc.build import transforms

SPANS = 3000  # mentions in one document: far above MANY_VALUES


class ReadCounting(str):
    """A text that counts the characters its searches read (find from `start` to the hit, or to the end)."""

    read = 0

    def find(self, sub: Any, start: Any = None, end: Any = None) -> int:
        at = str.find(self, sub, start, end)
        ReadCounting.read += (len(self) if at < 0 else at) - (start or 0)
        return at

    def __contains__(self, sub: object) -> bool:
        ReadCounting.read += len(self)
        return str.__contains__(self, sub)


def document(n: int) -> tuple[str, list[str]]:
    """A text of n sentences, each mentioning its own person (Person1 is a prefix of Person10…: overlaps to skip)."""
    names = [f"Person{i}" for i in range(n)]
    return " ".join(f"Yesterday {name} said so." for name in names), names


def test_occurrences_are_every_find() -> None:
    text = "New York City is not York; Paris Hilton, Paris. aaaa"
    values = ["York", "New York City", "Paris", "Berlin", "s", "Paris Hilton", ". ", "aa", "a"]
    expected = {v: [k for k in range(len(text)) if text.startswith(v, k)] for v in values}
    assert occurrences(text, [*values, "York"]) == {v: spots for v, spots in expected.items() if spots}
    assert occurrences(text, ["", "York"]) == {"": [0], "York": [4, 21]}


def test_sort_by_position_reads_a_long_text_once() -> None:
    text, names = document(SPANS)
    rows = [("PER", name) for name in reversed(names)]
    state = AnswerState(AnswerTable(("type", "span"), tuple(rows)))
    ReadCounting.read = 0
    out = apply_op("sort_by_position", ("span",), state, ReadCounting(text))
    assert [span for _, span in out.table.rows] == names
    assert ReadCounting.read < 2 * len(text)  # a search per name from the start read ≈ SPANS × len(text) / 2


@pytest.mark.parametrize("seed", range(5))
def test_many_claimed_claims_as_claimed(seed: int) -> None:
    """Claims in any order (not longest first: overlaps refused both ways), repeated values, missing ones."""
    text, names = document(300)
    values = [*names, "Person1", "Person1", "Person12", "Nobody", "said so.", "so. Yesterday", "", "d"] * 2
    random.Random(seed).shuffle(values)
    plain, many = Claimed(), ManyClaimed(text, values)
    assert len(values) > MANY_VALUES
    assert [plain.claim(text, v) for v in values] == [many.claim(text, v) for v in values]


def test_many_claims_in_random_order_insert_into_no_sorted_list() -> None:
    text, names = document(SPANS)
    random.Random(1).shuffle(names)
    many = ManyClaimed(text, names)
    assert [many.claim(text, v) for v in names] == [text.index(f" {v} ") + 1 for v in names]
    assert many.starts == [] == many.ends  # inserting each claim in order was quadratic in the mentions


@pytest.mark.parametrize("missing", [None, "Nobody"])
def test_span_check_reads_a_long_text_once(monkeypatch: pytest.MonkeyPatch, missing: str | None) -> None:
    text, names = document(SPANS)
    squeezed = transforms.squeezed
    monkeypatch.setattr(transforms, "squeezed", lambda t: ReadCounting(squeezed(t)))
    entry: Any = SimpleNamespace(task=SimpleNamespace(spans_from=(("span", "text"),)))
    spans = [*names, missing] if missing else names
    gold = AnswerTable(("type", "span"), tuple(("PER", s) for s in spans))
    ReadCounting.read = 0
    problem = transforms.span_problem(entry, {"text": text}, gold)
    assert (problem is None) == (missing is None)
    if problem is not None:
        assert problem.reason == "span_not_in_text" and "'Nobody' does not occur" in problem.detail
    assert ReadCounting.read < 2 * len(text)


def test_a_500_term_or_is_not_nested_too_deeply() -> None:
    from humc.expr import Evaluator, Source, depth, parse_expr

    text = " or ".join(f'text == "t{i}"' for i in range(500))
    ast = parse_expr(text)
    assert depth(ast) <= 12  # left-leaning, it was 500 levels: E0010 "nested too deeply" past 200
    evaluator = Evaluator(Source(text))
    assert [evaluator.eval(ast, {"text": t}) for t in ("t0", "t499", "t250", "x")] == [True, True, True, False]


@pytest.mark.parametrize("text", ["a or b or c", "a and b and c", "n or a or b or c", "b and n and c and a",
                                  "a or b and c or n", "n and n and b or c or n"])
def test_and_or_chains_give_the_operand_python_would(text: str) -> None:
    from humc.expr import Evaluator, Source, parse_expr

    env = {"a": 0, "b": "", "c": 0, "n": 2}
    assert Evaluator(Source(text)).eval(parse_expr(text), env) == eval(text, {}, dict(env))
