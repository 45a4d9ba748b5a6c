"""Every stated rule is a fixed point of itself: gold that went through a rule obeys it.

The check step re-applies each rule to the gold answer and reports `rule_violated` when
anything changes, so applying any stdlib rule twice must equal applying it once, for any
answer table and any text; and the ordering ops keep one head's / one event's rows together.
"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from humc.answers.ops import COLUMN_OPS, OPS, AnswerState, apply_op
from humc.answers.table import AnswerTable
from humc.build.checking import rule_problem
from humc.build.compiler import load_recipe
from humc.build.problems import REASONS, Problem
from humc.ir import TaskEntry
from humc.recipe.rules import compile_rule
from humc.recipe.stdlib import load_stdlib

LIB = load_stdlib()
WORDS = ["John", "Jo", "Mary", "Paris", "Paris Hilton", "IBM", "aba", "ab", "ba", "收购", "", "x"]
value = st.sampled_from(WORDS)


def _columns(rule_id: str) -> tuple[str, ...]:
    rule = LIB.rules[rule_id]
    tasks = rule.tasks or ("ner",)
    return LIB.tasks[tasks[0]].columns


def _apply(rule_id: str, state: AnswerState, text: str) -> AnswerState:
    for op in LIB.rules[rule_id].then:
        state = apply_op(op.name, op.args, state, text)
    return state


@settings(max_examples=300, deadline=None)
@given(rule_id=st.sampled_from(sorted(LIB.rules)), data=st.data(),
       text=st.lists(value, max_size=8).map(" ".join))
def test_applying_any_stdlib_rule_twice_equals_applying_it_once(rule_id: str, data: st.DataObject, text: str) -> None:
    columns = _columns(rule_id)
    rows = data.draw(st.lists(st.tuples(*[value] * len(columns)), max_size=7))
    once = _apply(rule_id, AnswerState(AnswerTable.of(columns, rows)), text)
    twice = _apply(rule_id, once, text)
    assert twice == once


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from(["Attack", "Die"]), value, st.sampled_from(["r1", "r2"]), value),
                     max_size=8), text=st.lists(value, max_size=8).map(" ".join))
def test_event_ordering_keeps_each_events_rows_together(rows: list[tuple[str, ...]], text: str) -> None:
    columns = ("event_type", "trigger", "role", "argument")
    out = _apply("order_triggers_by_position", AnswerState(AnswerTable.of(columns, rows)), text).table.rows
    events = [r[:2] for r in out]
    seen = [e for i, e in enumerate(events) if i == 0 or events[i - 1] != e]
    assert len(seen) == len(set(seen))  # no event is split by another one
    assert sorted(out) == sorted(rows)   # a permutation: nothing lost, nothing added


def test_triples_of_a_repeated_head_stay_at_its_first_occurrence() -> None:
    text = "John met Mary in Boston . John works for IBM ."
    rows = [("John", "Live_In", "Boston"), ("Mary", "Live_In", "Boston"), ("John", "Work_For", "IBM")]
    out = _apply("order_relations_by_head", AnswerState(AnswerTable.of(("head", "relation", "tail"), rows)), text)
    assert [r[0] for r in out.table.rows] == ["John", "John", "Mary"]


def _entry(recipe_text: str, tmp_path: Path) -> TaskEntry:  # the compiled entry of a one-task recipe
    (tmp_path / "d.jsonl").write_text(json.dumps({"text": "t"}) + "\n")
    (tmp_path / "r.hum.yaml").write_text(recipe_text)
    return load_recipe(tmp_path / "r.hum.yaml").tasks[0]


def test_check_reports_gold_that_breaks_a_stated_rule(tmp_path: Path) -> None:
    entry = _entry("hum: 1\nname: r\nlanguage: en\nsources: {s: d.jsonl}\ntasks:\n"
                   "  - {id: re, task: re, source: s, fields: {text: text, relations: '[]'},\n"
                   "     preferences: [order_relations_by_head]}\n", tmp_path)
    gold = [{"head": "Mary", "relation": "r", "tail": "x"}, {"head": "John", "relation": "r", "tail": "y"}]
    record = {"gold": json.dumps(gold), "_text": "John and Mary", "_rules": ["order_relations_by_head"]}
    problem = rule_problem(entry, record)
    assert isinstance(problem, Problem) and problem.reason == "rule_violated" and problem.reason in REASONS
    assert "order_relations_by_head" in problem.detail
    record["gold"] = json.dumps(gold[::-1])
    assert rule_problem(entry, record) is None


# ------------------------------------------------------------------ every operation, any argument, awkward values

# values that trip naive code: empty, blank, inner/outer whitespace, newlines, combining marks, case-changing letters
# (ß -> SS, İ -> i̇), scripts without case, emoji, and a very long value; plus anything hypothesis makes up
AWKWARD = st.one_of(
    st.sampled_from(["", " ", "  a  b ", "\t", "a\nb", "Paris", "Paris Hilton", "paris", "收购", "é", "e\u0301", "ß",
                     "SS", "İ", "ǅ", "🙂", "x" * 300, "Ab" * 150 + " "]),
    st.text(max_size=12),
)


def _op_case(data: st.DataObject, name: str) -> tuple[tuple[str, ...], tuple[str, ...], list[tuple[str, ...]], str]:
    """(columns, the op's arguments, rows with duplicates, text mentioning some of the values) for op ``name``."""
    columns = data.draw(st.sampled_from([("answer",), ("type", "span"), ("head", "relation", "tail")]))
    _, arity, kind = OPS[name]
    args = () if arity == 0 else ((data.draw(st.sampled_from(columns)),) if name in COLUMN_OPS
                                  else (data.draw(AWKWARD),))
    rows = data.draw(st.lists(st.tuples(*[AWKWARD] * len(columns)), max_size=6))
    rows += data.draw(st.lists(st.sampled_from(rows), max_size=3)) if rows else []  # duplicates
    said = [v for r in rows for v in r]
    text = " ".join(data.draw(st.lists(st.sampled_from(said), max_size=8)) if said else []) + data.draw(AWKWARD)
    return columns, args, rows, text


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(sorted(OPS)), data=st.data())
def test_every_operation_applied_twice_equals_applying_it_once(name: str, data: st.DataObject) -> None:
    """The fixed point the check node relies on, for every operation (not only the stdlib's uses of them), any
    argument it accepts and answer tables with empty, duplicate, unicode, blank and very long values."""
    columns, args, rows, text = _op_case(data, name)
    once = apply_op(name, args, AnswerState(AnswerTable.of(columns, rows)), text)
    twice = apply_op(name, args, once, text)
    assert twice == once
    assert once.table.fields == columns
    if name not in ("shortest", "longest", "first", "dedupe", "lowercase", "uppercase"):
        assert sorted(once.table.rows) == sorted(rows)  # reordering ops and empty_as keep every row


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_a_compiled_inline_rule_applied_twice_equals_once(data: st.DataObject) -> None:
    """An op compiled from rule text (rules.compile_rule) behaves as the op itself: its arguments arrive unchanged."""
    name = data.draw(st.sampled_from(sorted(n for n, (_, arity, _) in OPS.items() if arity)))
    columns, args, rows, text = _op_case(data, name)
    _, ops = compile_rule(None, f"{name}({json.dumps(args[0], ensure_ascii=False)})", None)
    assert [(op.name, op.args) for op in ops] == [(name, args)]
    state = AnswerState(AnswerTable.of(columns, rows))
    for op in ops:
        state = apply_op(op.name, op.args, state, text)
    again = state
    for op in ops:
        again = apply_op(op.name, op.args, again, text)
    assert again == state
