"""The check node's per-record work: parse a rendered instruction's output back and compare it with the gold.

A rendered record passes when its output, parsed in its format, equals the gold answer (in the order the format
writes), the gold is a fixed point of the preference rules its instruction states, and every gold label is
among the labels the instruction offers. Otherwise it is a ``problems.Problem`` with a stable reason
(``output_differs``, ``unparseable_output``, ``rule_violated``, ``label_not_offered``).

Speed (issue #14): ``_Checker`` reads a record's gold once and remembers the last rule check, since a record's
instructions follow one another and often share both (values equal to what is computed afresh).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from humc.answers import formats
from humc.answers.ops import AnswerState, apply_op
from humc.answers.table import AnswerTable
from humc.build.problems import Problem
from humc.build.transforms import short_repr
from humc.errors import HumcError
from humc.ir import TaskEntry, Variant


def check_rendered(entry: TaskEntry, record: Mapping[str, Any]) -> Problem | None:
    """Parse the rendered output back; a problem when it does not equal the gold answer, when
    the gold breaks a rule its instruction states, or names a label the instruction does not offer.

    The same as ``rule_problem(entry, record) or label_problem(entry, record) or _round_trip_problem(entry,
    record)``; the gold is read once, and the rule check (a function of the gold, its empty rendering, the
    stated rules and the input text, which a record's instructions often share) is worked out once for the
    records in a row that have the same of these."""
    checker = _checker(entry)
    dicts, rows = checker.read_gold(record["gold"])
    return (checker.rule_problem(record, rows) or _label_problem(entry, record, dicts)
            or _round_trip_problem(entry, record, checker.variant(record["answer_format"]),
                                   checker.gold_table(record["gold"], rows)))


def rule_problem(entry: TaskEntry, record: Mapping[str, Any]) -> Problem | None:
    """A stated rule the gold does not obey: applying the rule's operations to the gold again
    changes it (the gold is not a fixed point: unordered, duplicated, not the shortest, ...)."""
    return _rule_problem(entry, record, _rows_of(json.loads(record["gold"])))


def _rows_of(gold: list[dict[str, Any]]) -> list[list[Any]]:
    """A rendered record's gold answer (its JSON, read), as rows of values."""
    return [list(d.values()) for d in gold]


def _rule_problem(entry: TaskEntry, record: Mapping[str, Any], rows: list[list[Any]]) -> Problem | None:
    gold = AnswerTable.of(entry.task.columns, rows, entry.task.cardinality)
    state = AnswerState(gold, record.get("_empty"))
    stated = record.get("_rules")
    text = str(record.get("_text", ""))
    for rule in entry.rules:
        if stated is not None and rule.id not in stated:
            continue
        again = state
        for op in rule.then:
            again = apply_op(op.name, op.args, again, text)
        if again.table.rows != state.table.rows or (not state.table.rows and again.empty != state.empty):
            return Problem("rule_violated", f"rule '{rule.id}': the gold answer changes when the rule is applied "
                                            f"again ({short_repr([list(r) for r in again.table.rows], 80)})")
    return None


def label_problem(entry: TaskEntry, record: Mapping[str, Any]) -> Problem | None:
    """A gold label the instruction does not offer (when it lists labels)."""
    return _label_problem(entry, record, json.loads(record["gold"]))


def _label_problem(entry: TaskEntry, record: Mapping[str, Any], gold: list[dict[str, Any]]) -> Problem | None:
    column, shown = entry.task.schema_column, record.get("labels")
    if column is None or not shown:
        return None
    outside = sorted({d[column] for d in gold} - set(shown))
    if outside:
        return Problem("label_not_offered", f"gold label(s) {', '.join(outside)} not among the labels shown")
    return None


def _round_trip_problem(entry: TaskEntry, record: Mapping[str, Any], variant: Variant | None = None,
                        gold: AnswerTable | None = None) -> Problem | None:
    if variant is None:
        variant = next(v for v in entry.variants if v.id == record["answer_format"])
    context = formats.FormatContext(tuple(record.get("labels") or ()), entry.task.schema_column,
                                    record.get("_span_text"), bool(record.get("_every_mention")))
    try:
        parsed = formats.parse(variant.spec, record["output"], entry.task.columns, entry.task.cardinality,
                               empty=record.get("_empty"), unfence=False, context=context)
    except HumcError as exc:
        return Problem("unparseable_output", f"{variant.id}: {exc.message}")
    if gold is None:
        gold = AnswerTable.of(entry.task.columns, _rows_of(json.loads(record["gold"])))
    if parsed.rows != formats.canonical(variant.spec, gold, context).rows:  # in the order the format writes
        return Problem("output_differs", f"{variant.id} output parses back to {[list(r) for r in parsed.rows]!r}")
    return None


class _Checker:
    """One entry's check, remembering the last gold read and the last rule check (a record's instructions come
    one after another and often share them): values equal to what is computed afresh."""

    def __init__(self, entry: TaskEntry) -> None:
        self.entry = entry
        self.variants: dict[str, Variant] = {}
        for variant in entry.variants:
            self.variants.setdefault(variant.id, variant)  # the first of an id, as ``next`` finds it
        self.gold: tuple[str, list[dict[str, Any]], list[list[Any]]] | None = None
        self.table: tuple[str, AnswerTable] | None = None
        self.rules: tuple[tuple[Any, ...], Problem | None] | None = None

    def variant(self, name: str) -> Variant | None:
        return self.variants.get(name)

    def read_gold(self, gold: str) -> tuple[list[dict[str, Any]], list[list[Any]]]:
        """The gold JSON read, and as rows of values (callers do not change them)."""
        last = self.gold
        if last is None or last[0] != gold:
            dicts = json.loads(gold)
            last = self.gold = (gold, dicts, _rows_of(dicts))
        return last[1], last[2]

    def gold_table(self, gold: str, rows: list[list[Any]]) -> AnswerTable:
        last = self.table
        if last is None or last[0] != gold:
            last = self.table = (gold, AnswerTable.of(self.entry.task.columns, rows))
        return last[1]

    def rule_problem(self, record: Mapping[str, Any], rows: list[list[Any]]) -> Problem | None:
        key = (record["gold"], record.get("_empty"), record.get("_rules"), record.get("_text", ""))
        last = self.rules
        if last is None or last[0] != key:
            last = self.rules = (key, _rule_problem(self.entry, record, rows))
        return last[1]


_CHECKERS: dict[int, _Checker] = {}


def _checker(entry: TaskEntry) -> _Checker:
    """The entry's ``_Checker`` (it keeps the entry, so its id is not reused while remembered)."""
    checker = _CHECKERS.get(id(entry))
    if checker is None or checker.entry is not entry:
        if len(_CHECKERS) >= 16:
            _CHECKERS.clear()
        checker = _CHECKERS[id(entry)] = _Checker(entry)
    return checker
