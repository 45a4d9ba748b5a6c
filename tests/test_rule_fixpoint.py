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

from humc.answers.ops import AnswerState, apply_op
from humc.answers.table import AnswerTable
from humc.build.checking import rule_problem
from humc.build.compiler import load_recipe
from humc.build.problems import REASONS, Problem
from humc.ir import TaskEntry
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
