"""Numbers in the expression DSL stay inside what a 64-bit column holds, as literals and YAML integers must
(|n| ≤ 2^63 - 1, humc/limits.py): an arithmetic result past that range, ``int()`` of a longer number, or a float
operation that overflows to infinity is error E4102 ("arithmetic overflow") at the expression — not a Python big
integer passed on to a field, a filter or a dataset column."""

from __future__ import annotations

import json
import math
import operator
from pathlib import Path

import pytest
from helpers import run_cli, tiny_recipe
from hypothesis import given, settings
from hypothesis import strategies as st

from humc.errors import EvalError, Span
from humc.expr import Evaluator, Source, parse_expr
from humc.limits import MAX_INT

INT64 = st.integers(-MAX_INT, MAX_INT)
NEAR_EDGE = st.one_of(INT64, st.integers(MAX_INT - 5, MAX_INT), st.integers(-MAX_INT, -MAX_INT + 5),
                      st.integers(-2**40, 2**40))
OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul}


def evaluate(text: str, **env: object) -> object:
    src = Source(text, Span("r.hum.yaml", 3, 1))
    return Evaluator(src).eval(parse_expr(text, src), env)


@settings(max_examples=300, deadline=None)
@given(NEAR_EDGE, NEAR_EDGE, st.sampled_from(sorted(OPS)))
def test_integer_arithmetic_is_exact_inside_the_64_bit_range_and_an_error_past_it(a, b, op):
    exact = OPS[op](a, b)
    if -MAX_INT <= exact <= MAX_INT:
        assert evaluate(f"a {op} b", a=a, b=b) == exact
        return
    with pytest.raises(EvalError) as err:
        evaluate(f"a {op} b", a=a, b=b)
    assert err.value.code == "E4102" and "arithmetic overflow" in str(err.value) and str(exact) in str(err.value)
    span = err.value.span
    assert span is not None and (span.line, span.col, span.end_col) == (3, 1, 6)  # the whole operation `a op b`


@settings(max_examples=200, deadline=None)
@given(st.integers(-10**25, 10**25))
def test_int_of_a_text_is_the_number_inside_the_range_and_an_error_past_it(n):
    if abs(n) <= MAX_INT:
        assert evaluate("int(s)", s=str(n)) == n
        return
    with pytest.raises(EvalError) as err:
        evaluate("int(s)", s=str(n))
    assert err.value.code == "E4102" and "past the 64-bit integer range" in str(err.value)


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False), st.floats(allow_nan=False, allow_infinity=False))
def test_a_float_product_is_finite_or_an_error(x, y):
    if math.isfinite(x * y):
        assert evaluate("x * y", x=x, y=y) == x * y
        return
    with pytest.raises(EvalError, match="makes an infinite float"):
        evaluate("x * y", x=x, y=y)


def test_infinity_from_the_record_is_no_overflow_of_the_expression():
    assert evaluate("x + 1", x=math.inf) == math.inf


def test_negating_the_smallest_int64_of_a_record_overflows():
    with pytest.raises(EvalError, match=r"arithmetic overflow: -\(-9223372036854775808\)"):
        evaluate("-n", n=-2**63)


def test_a_literal_sum_past_the_range_is_located_at_check(tmp_path: Path):
    row = {"context": "Paris is in France.", "question": "Where is Paris?", "answers": ["France"]}
    (tmp_path / "data.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    recipe = tmp_path / "r.hum.yaml"
    recipe.write_text(tiny_recipe(where="len(context) * 9223372036854775807 > 0"), encoding="utf-8")
    result = run_cli("--format", "json", "check", str(recipe))
    assert result.exit_code == 2, result.output
    (diag,) = json.loads(result.output)["diagnostics"]
    assert (diag["code"], diag["file"], diag["line"], diag["column"]) == ("E4102", str(recipe), 13, 12)
    assert "arithmetic overflow: 19 * 9223372036854775807" in diag["message"]
