"""Fuzzing the expression language: any text parses or is a located recipe error, and any parsed expression
evaluates or is a located evaluation error, on any record — never another exception (a traceback, exit 3).

The texts are drawn from the language's own tokens (names of fields and functions, literals, operators, brackets,
slices, pipes, `when … then …`), so most of them get past the first character and exercise the parser, the function
checks and the evaluator; records hold the kinds of values real sources give (text, numbers, NaN, lists, mappings,
nulls).
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from humc.errors import EvalError, HumcError, Span
from humc.expr import Evaluator, Source, check_functions, parse_expr, parse_pipeline, parse_rule
from humc.expr.functions import FUNCTIONS

FIELDS = ["text", "tokens", "label", "n", "answers", "meta", "missing"]
TOKENS = [*FIELDS, *sorted(FUNCTIONS), "record", "'a'", '"b c"', "''", "0", "1", "-1", "2.5", "1e400", "true",
          "false", "null", "(", ")", "[", "]", "{", "}", ",", ":", ".", "+", "-", "*", "/", "%", "==", "!=", "<", ">=",
          "and", "or", "not", "in", "|", "when", "then", "if", "else", " ", "  ", "\n", "\\", "#", "'", '"']

LITERALS = ["'a'", '"b c"', "''", "0", "1", "-1", "2.5", "1e400", "true", "false", "null", "[]", "['x', 1]"]
FUNCTION_NAMES = sorted(FUNCTIONS)
BINARY = ["+", "-", "*", "/", "%", "==", "!=", "<", ">=", "and", "or", "in"]


def _call(name: str, args: list[str]) -> str:
    return f"{name}({', '.join(args)})"


# expressions built the way the grammar builds them (most parse; calls may still have the wrong arity, which the
# function check refuses), so the evaluator sees deep and odd combinations
well_formed = st.recursive(
    st.sampled_from(FIELDS + LITERALS),
    lambda inner: st.one_of(
        st.builds(lambda a, op, b: f"{a} {op} {b}", inner, st.sampled_from(BINARY), inner),
        st.builds(lambda a: f"not {a}", inner),
        st.builds(lambda a: f"({a})", inner),
        st.builds(lambda a, i: f"{a}[{i}]", inner, inner),
        st.builds(lambda a, i, j: f"{a}[{i}:{j}]", inner, st.sampled_from(["", "0", "1", "-1", "n"]),
                  st.sampled_from(["", "2", "-1", "n + 1"])),
        st.builds(lambda a, f: f"{a}.{f}", inner, st.sampled_from(["text", "start", "a", "upper"])),
        st.builds(lambda items: f"[{', '.join(items)}]", st.lists(inner, max_size=3)),
        st.builds(_call, st.sampled_from(FUNCTION_NAMES), st.lists(inner, max_size=3)),
    ),
    max_leaves=8)
texts = (well_formed | st.lists(st.sampled_from(TOKENS), min_size=1, max_size=14).map(" ".join)
         | st.text(max_size=20))

values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10**20) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["text", "start", "a", "0"]), inner,
                                                                  max_size=3),
    max_leaves=10)
records = st.fixed_dictionaries({name: values for name in FIELDS if name != "missing"})


def _source(text: str) -> Source:
    """The text as a recipe's `where:` value at line 7, column 12, of r.hum.yaml."""
    return Source(text, Span("r.hum.yaml", 7, 12))


def _located(exc: HumcError, text: str) -> bool:
    """The error points into the text: r.hum.yaml, on one of its lines."""
    span = exc.span
    return (span is not None and span.file == "r.hum.yaml" and 7 <= span.line <= 7 + text.count("\n")
            and span.col >= 1)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts, st.sampled_from([parse_expr, parse_pipeline, parse_rule]))
def test_any_text_parses_or_is_a_located_recipe_error(text: str, parse: Any) -> None:
    try:
        ast = parse(text, _source(text))
        check_functions(ast, _source(text))
    except HumcError as exc:
        assert _located(exc, text), f"{exc.code} without a location in {text!r}: {exc}"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts, records)
def test_any_parsed_expression_evaluates_or_is_a_located_evaluation_error(text: str, record: dict[str, Any]) -> None:
    try:
        ast = parse_expr(text, _source(text))
        check_functions(ast, _source(text))
    except HumcError:
        return
    try:
        value = Evaluator(_source(text)).eval(ast, record, "fuzz")
    except EvalError as exc:
        assert _located(exc, text), f"{exc.code} without a location in {text!r}: {exc}"
        return
    assert value is None or isinstance(value, (bool, int, float, str, list, dict)), \
        f"{text!r} evaluated to a {type(value).__name__}, not a value a record field can hold"
