"""Per-record work of the graph's nodes, as pure functions of (config, record).

map:    raw source row -> mapped record (recipe `fields:` expressions)
filter: mapped record -> keep or drop (`where:`)
gold:   mapped record -> gold AnswerTable after preference rules
render: mapped record -> N instruction records (template x format variant), or a Problem
check:  rendered record -> parse its output back and compare with the gold table

A record that cannot become a truthful example (a NaN, null or non-text input the instruction
would show, a gold item that does not fit the answer columns, a gold label outside `labels:`,
a gold span that does not occur in the input the task says it is copied from, a
multiple-choice answer that is not one of the options, an empty answer the format cannot
express, a failed round trip) is not rendered but reported as a ``problems.Problem`` with a
stable reason; the chunk functions count them.

Speed (issue #14) without changing a value: what every record of an entry shares is worked out once
(``_Prepared``: the seeded hashes' constant leading parts as copied blake2b states, the (template, format)
pairs, the label set; ``_PartInfo``: per part shown, its compiled template, format sentence, rule and
guideline texts, label definitions per schema), and the check reads a record's gold once and remembers the
last rule check (``_Checker``: a record's instructions follow one another). These memos are keyed by object
identity and keep the objects they name; tests/test_render_fastpaths.py states each shortcut against the
definition it replaces.
"""

from __future__ import annotations

import _random
import functools
import hashlib
import json
import math
import random
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from humc.answers import formats
from humc.answers.ops import AnswerState, apply_op
from humc.answers.table import AnswerTable
from humc.build.problems import Problem
from humc.errors import EvalError, HumcError, RecordError, Span, did_you_mean, type_name
from humc.expr import Evaluator
from humc.ir import Guideline, LabelExamples, Mix, PreferenceRule, TaskEntry, Template, Variant
from humc.templating import TemplateRenderer, render_template

OPTION_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


_HASH_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str)  # json.dumps' own, built once
_JSON_STR = json.encoder.encode_basestring  # what _HASH_JSON writes a str with (ensure_ascii=False)
_GOLD_JSON = json.JSONEncoder(ensure_ascii=False)  # json.dumps(…, ensure_ascii=False)'s encoder, built once


def stable_hash(*parts: Any) -> int:
    """A 64-bit hash of JSON-able parts, the same in every process and Python version: blake2b of their JSON
    array (``_HASH_JSON``; its text is written by ``_hash_json``, which gives the same characters faster)."""
    return int.from_bytes(hashlib.blake2b(_hash_json(parts).encode(), digest_size=8).digest(), "big")


def _hash_json(parts: tuple[Any, ...]) -> str:
    """``_HASH_JSON.encode(parts)``: strings and ints (the usual parts) written directly, anything else by it."""
    return "[" + parts_json(*parts) + "]"


def parts_json(*parts: Any) -> str:
    """The JSON of ``parts`` as the elements of an array: ``_HASH_JSON.encode(parts)`` without its brackets."""
    return ", ".join(map(_part_json, parts))


def _part_json(part: Any) -> str:
    kind = type(part)
    if kind is str:
        return _JSON_STR(part)
    if kind is int:
        return int.__repr__(part)
    return _HASH_JSON.encode(part)  # an element of an array is written as it is at the top level


_NEW_RANDOM = random.Random.__new__
_SEED_RANDOM = _random.Random.seed  # the generator's own seeding (random.Random's base class)


def seeded_random(seed: int) -> random.Random:
    """``random.Random(seed)`` for an int ``seed``, in the same state: its Python-level ``__init__`` and ``seed``
    do nothing else for an int than the generator's own seeding and ``gauss_next = None``."""
    rng = _NEW_RANDOM(random.Random)
    _SEED_RANDOM(rng, seed)
    vars(rng)["gauss_next"] = None
    return rng


class HashPrefix:
    """``stable_hash`` with fixed leading parts: ``HashPrefix(a, b)(c, d) == stable_hash(a, b, c, d)``.

    The blake2b state after the fixed parts' JSON is computed once and copied for each call, so a per-record
    hash whose leading parts are an entry's constants hashes only the record's own parts; ``of_json`` takes
    those as their JSON (``parts_json``), for a caller that hashes several keys starting with the same parts."""

    def __init__(self, *prefix: Any) -> None:
        self.state = hashlib.blake2b(_hash_json(prefix)[:-1].encode(), digest_size=8)  # "[a, b" without "]"
        self.separator = ", " if prefix else ""

    def __call__(self, *parts: Any) -> int:
        return self.of_json(parts_json(*parts))

    def of_json(self, json_parts: str) -> int:
        """The hash of the prefix followed by the parts whose JSON is ``json_parts`` ("" for none)."""
        state = self.state.copy()
        state.update((self.separator + json_parts + "]" if json_parts else "]").encode())
        return int.from_bytes(state.digest(), "big")


def where_of(record: Mapping[str, Any]) -> str:
    return f"source '{record.get('_source')}' row {record.get('_row')}"


# ------------------------------------------------------------------ map / filter


def map_record(entry: TaskEntry, constants: Mapping[str, Any], source_id: str, row: int,
               raw: Mapping[str, Any], line: int | None = None) -> dict[str, Any]:
    env = {**constants, **raw}
    out: dict[str, Any] = {"_source": source_id, "_row": row, "_line": line}
    for name, compiled in entry.fields:
        try:
            out[name] = Evaluator(compiled.src).eval(compiled.ast, env, f"source '{source_id}' row {row}")
        except EvalError as exc:
            raise _about_record(exc, raw, line) from None
    return out


_UNSPLIT = {";": "set `options: {delimiter: ';'}`", "|": "set `options: {delimiter: '|'}`",
            "\t": "the file is tab-separated: use `format: tsv`"}


def _about_record(exc: EvalError, raw: Mapping[str, Any], line: int | None) -> EvalError:
    """A failed field expression, with what the record holds: a misspelt field, a field a few records lack, or a
    header that was not split (a `;`-separated file read as CSV) shows in the record's keys."""
    keys = [str(k) for k in raw if not str(k).startswith("_")]  # a mapped record's _source, _row, _line: no fields
    shown = ", ".join(keys[:20]) + (f", … ({len(keys)} in all)" if len(keys) > 20 else "")
    at = f" (line {line} of the source file)" if line is not None else ""
    exc.notes.append(f"the record{at} has the fields: {shown or '(none)'}")
    nested = _NO_KEY.match(exc.message)
    if nested is not None and exc.hint is None:
        exc.expected = exc.expected or "a key every record has"
        exc.hint = (f"a key only some records have reads as null with `[\"{nested.group(1)}\"]` instead of "
                    f"`.{nested.group(1)}`")
    unknown = _UNKNOWN_FIELD.match(exc.message)
    if unknown is None or exc.hint is not None:
        exc.expected = exc.expected or "an expression that evaluates on every record"
        exc.hint = exc.hint or "`humc check RECIPE --rows all` runs every expression on every record, writing nothing"
        return exc
    exc.expected = exc.expected or "a field of the record"
    one = keys[0] if len(keys) == 1 else ""
    fix = next((fix for d, fix in _UNSPLIT.items() if d in one), None)
    if fix is not None:
        exc.hint = f"the header {one!r} was read as one column: {fix}"
    else:
        exc.hint = _spelt_otherwise(unknown.group(1), keys) or did_you_mean(unknown.group(1), keys) or (
            "a field only some records have reads as null with `record['name']`; records whose task inputs are "
            "null are then dropped and reported")
    return exc


def _spelt_otherwise(name: str, keys: Sequence[str]) -> str | None:
    """The record's field that differs from ``name`` only in case or surrounding spaces (`TEXT`, `Text `)."""
    same = next((k for k in keys if k.strip().lower() == name.lower()), None)
    if same is None:
        return None
    use = same if same.isidentifier() else f"record[{same!r}]"
    return f"the record spells it {same!r} (field names are exact): use {use}"


_UNKNOWN_FIELD = re.compile(r"unknown field '([^']*)'")
_NO_KEY = re.compile(r"no field '([^']*)' \(available")


def keep_record(entry: TaskEntry, constants: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    assert entry.where is not None
    env = {**constants, **record}
    try:
        return bool(Evaluator(entry.where.src).eval(entry.where.ast, env, where_of(record)))
    except EvalError as exc:
        raise _about_record(exc, record, record.get("_line")) from None


# ------------------------------------------------------------------ gold answers


def gold_table(entry: TaskEntry, record: Mapping[str, Any]) -> AnswerTable:
    """The record's answer field as a table with the task's columns (before rules).

    Values are stripped of surrounding whitespace — the domain on which every answer format
    round-trips — and rows with no value at all are no answer."""
    task = entry.task
    value = record.get(task.answer_field)
    rows: list[tuple[str, ...]] = []
    if task.answer_is_list and value is not None and not isinstance(value, list):
        raise RecordError(f"'{task.answer_field}' is {type_name(value)} {_short(value)}, not a list",
                          expected=f"a list ([] for no answer) in '{task.answer_field}'")
    items = [] if value in (None, "") else (value if isinstance(value, list) else [value])
    for item in items:
        row = _row_of(item, task.columns, record)
        if any(row):  # a row of empty strings is no answer
            rows.append(row)
    return AnswerTable(tuple(task.columns), tuple(rows), "many")  # rows of str already: ``AnswerTable.of``'s table


def _row_of(item: Any, columns: tuple[str, ...], record: Mapping[str, Any]) -> tuple[str, ...]:
    if type(item) is dict or isinstance(item, Mapping):
        missing = [c for c in columns if c not in item]
        if missing:
            raise RecordError(f"gold item {_short(item)} lacks {', '.join(missing)}",
                              expected="objects with keys " + ", ".join(columns))
        return tuple(["" if item[c] is None else str(item[c]).strip() for c in columns])
    if isinstance(item, bool):  # str(True) would teach Python's spelling of JSON's true
        raise RecordError(f"gold item {json.dumps(item)} is a boolean, not text",
                          expected="strings; map booleans in `fields:`, e.g. lookup(int(answer), [\"no\", \"yes\"])")
    if len(columns) == 1 and isinstance(item, (str, int, float)):
        return (str(item).strip(),)
    raise RecordError(f"gold item {_short(item)} does not fit the answer columns {', '.join(columns)}",
                      expected="objects with keys " + ", ".join(columns) if len(columns) > 1 else "strings")


# Task inputs that templates iterate over (lists of strings); every other input is shown as text.
LIST_INPUTS = frozenset({"options"})


def input_problem(entry: TaskEntry, record: Mapping[str, Any]) -> Problem | None:
    """A missing, null or non-text task input: rendering it would put `None` or `[1, 2]` into the instruction."""
    for name in entry.task.inputs:
        value = record.get(name)
        if value is None:
            return Problem("missing_input", f"field '{name}' is {'null' if name in record else 'missing'}")
        if name in LIST_INPUTS:
            fits = isinstance(value, list) and all(isinstance(v, str) for v in value)
        else:
            fits = isinstance(value, str)
        if not fits:
            want = "a list of strings" if name in LIST_INPUTS else "a string"
            return Problem("non_text_input", f"field '{name}' is {type_name(value)} {_short(value)}, not {want}")
    return None


def nan_problem(entry: TaskEntry, record: Mapping[str, Any]) -> Problem | None:
    """A NaN or an infinity anywhere in a task input or the gold answer (JSON's NaN and Infinity, an empty Parquet
    float): no instruction can show it, and the output would read `nan` or `inf`."""
    for name in (*entry.task.inputs, entry.task.answer_field):
        bad = _non_finite(record.get(name))
        if bad is not None:
            return Problem("nan_value", f"field '{name}' holds {'NaN' if bad != bad else 'Infinity' if bad > 0 else '-Infinity'}")
    return None


def surrogate_problem(entry: TaskEntry, record: Mapping[str, Any]) -> Problem | None:
    """Half of a UTF-16 surrogate pair in a task input or the gold answer (JSON's "\\ud83d", an emoji cut in two by
    a scraper): no UTF-8 file can hold the instruction or answer that would show it."""
    for name in (*entry.task.inputs, entry.task.answer_field):
        bad = _lone_surrogate(record.get(name))
        if bad is not None:
            return Problem("lone_surrogate", f"field '{name}' holds \\u{ord(bad):04x}, half of a UTF-16 surrogate pair")
    return None


def _lone_surrogate(value: Any) -> str | None:
    """The first lone surrogate character in the strings inside ``value``, or None."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError as exc:
                    return item[exc.start]
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return None


def _non_finite(value: Any) -> float | None:
    """The first NaN or ±infinity inside ``value``, or None."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)  # the usual types first, without the (slower) abstract-class checks
        if kind is str:
            continue
        if kind is dict:
            stack.extend(item.values())
            continue
        if kind is list:
            stack.extend(item)
            continue
        if isinstance(item, float) and not math.isfinite(item):
            return item
        if isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return None


def _squeezed(text: str) -> str:
    """Case-folded, every whitespace removed: spans match their text across tokenisation and case."""
    return "".join(text.casefold().split())


def span_problem(entry: TaskEntry, record: Mapping[str, Any], gold: AnswerTable) -> Problem | None:
    """A gold span that does not occur in the input its task copies it from (case and whitespace aside)."""
    for column, source in entry.task.spans_from:
        text = _squeezed(str(record.get(source) or ""))
        i = gold.fields.index(column)
        for row in gold.rows:
            if row[i] and _squeezed(row[i]) not in text:
                return Problem("span_not_in_text", f"{column} {row[i]!r} does not occur in '{source}'")
    return None


def choice_problem(entry: TaskEntry, record: Mapping[str, Any], gold: AnswerTable) -> Problem | None:
    """A multiple-choice answer that is not one of the record's option labels."""
    if entry.task.choice_of is None:
        return None
    labels = [str(label) for label in option_labels(record, entry.task.choice_of)]
    for row in gold.rows:
        if row[0] not in labels:
            return Problem("answer_not_an_option", f"answer {row[0]!r} is not one of the option labels "
                                                   f"{', '.join(labels) or '(none)'}")
    return None


def option_labels(record: Mapping[str, Any], options_field: str = "options") -> list[Any]:
    """The labels of a record's options: its `option_labels`, else A, B, C, ... one per option."""
    options = record.get(options_field) or []
    return list(record.get("option_labels") or OPTION_LETTERS[:len(options)])


def _short(value: Any, width: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def input_text(entry: TaskEntry, record: Mapping[str, Any]) -> str:
    return "\n".join(str(record.get(name) or "") for name in entry.task.inputs)


def apply_rules(entry: TaskEntry, constants: Mapping[str, Any], record: Mapping[str, Any],
                table: AnswerTable) -> AnswerState:
    state = AnswerState(table)
    text = input_text(entry, record)
    for rule in entry.rules:
        if rule.when is not None:
            env = {**constants, **record, "answer": state.table.rows}
            if not Evaluator(rule.when.src).eval(rule.when.ast, env, where_of(record)):
                continue
        for op in rule.then:
            try:
                state = apply_op(op.name, op.args, state, text)
            except KeyError as exc:
                raise RecordError(f"preference rule '{rule.id}': {exc.args[0]}", code="E2005") from None
    rows = state.table.rows[:1] if entry.task.cardinality == "one" else state.table.rows
    return AnswerState(AnswerTable(table.fields, rows, entry.task.cardinality), state.empty)


def stated_rules(entry: TaskEntry, constants: Mapping[str, Any], record: Mapping[str, Any],
                 state: AnswerState) -> list[str]:
    """Ids of the rules that hold for the final gold answer: every rule without `when`, and those
    whose `when` is true of the answer the rules produced (what check re-applies)."""
    ids = []
    for rule in entry.rules:
        if rule.when is not None:
            env = {**constants, **record, "answer": state.table.rows}
            if not Evaluator(rule.when.src).eval(rule.when.ast, env, where_of(record)):
                continue
        ids.append(rule.id)
    return ids


def declared_empty(rules: Sequence[PreferenceRule]) -> str | None:
    """The empty-answer rendering a recipe's rules ask for (last `empty_as` wins)."""
    empty = None
    for rule in rules:
        for op in rule.then:
            if op.name == "empty_as":
                empty = str(op.args[0])
    return empty


def restrict_to_labels(entry: TaskEntry, table: AnswerTable, labels: Sequence[str] | None) -> AnswerTable:
    """With a fixed label set, drop gold rows whose schema label is outside it."""
    column = entry.task.schema_column
    if column is None or labels is None or entry.schema is None or entry.schema.labels is None:
        return table
    i, allowed = table.fields.index(column), set(labels)
    return table.with_rows(r for r in table.rows if r[i] in allowed)


# ------------------------------------------------------------------ decontamination

_TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\W\u3400-\u9fff\uf900-\ufaff]+")


def ngram_hashes(text: str, n: int) -> set[int]:
    """Hashes of the lower-cased word n-grams of a text (each CJK character is a word).

    Python's str hash: stable within one process, which is all a decontamination pass needs."""
    tokens = _TOKEN.findall(text.lower())
    return {hash(" ".join(tokens[i:i + n])) for i in range(len(tokens) - n + 1)}


def strings_in(value: Any) -> Iterator[str]:
    """Every string inside a (nested) record."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from strings_in(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from strings_in(v)


# ------------------------------------------------------------------ rendering


@dataclass(frozen=True)
class RenderContext:
    entry: TaskEntry
    constants: Mapping[str, Any]
    labels: tuple[str, ...] | None  # the label set of the schema, if the task has one
    recipe: str
    decks: MixDecks | None = None   # a chunk's stratified mix draws (None: one seeded coin per instruction)

    def for_chunk(self, first: Mapping[str, Any]) -> RenderContext:
        """This context for the chunk starting at record ``first``: fresh mix decks seeded by where it starts."""
        if self.entry.mix.is_default:
            return self
        return replace(self, decks=MixDecks(self.entry.mix, stable_hash("mix", self.entry.seed, self.entry.id,
                                                                     first["_source"], first["_row"])))


class Deck:
    """Stratified yes/no draws at rate ``p``: of every ``BLOCK`` draws exactly the rounded running share are yes,
    in seeded shuffled order — so a chunk's realised rate is ``p`` to within a part of one block, where
    independent coins stray by ±2 points at 500 instructions. Deterministic from the seed."""

    BLOCK = 20

    def __init__(self, p: float, rng: random.Random) -> None:
        self.p, self.rng, self.dealt, self.yes = p, rng, 0, 0
        self.cards: list[bool] = []

    def draw(self) -> bool:
        if not self.cards:
            target = int(self.p * (self.dealt + self.BLOCK) + 0.5)
            yes = min(self.BLOCK, max(0, target - self.yes))
            self.cards = [True] * yes + [False] * (self.BLOCK - yes)
            self.rng.shuffle(self.cards)
            self.dealt, self.yes = self.dealt + self.BLOCK, self.yes + yes
        return self.cards.pop()


class MixDecks:
    """One deck per decision of ``ir.Mix``: compound, then (for compound instructions) guidelines, rules, formats."""

    def __init__(self, mix: Mix, seed: int) -> None:
        rng = random.Random(seed)
        self.compound, self.guidelines, self.rules, self.formats = (
            Deck(p, random.Random(rng.randrange(1 << 62))) for p in (mix.compound, mix.guidelines, mix.rules, mix.formats))


@dataclass
class Rendered:
    """One source record's render result: its instruction records, the problems that dropped
    records (the whole source record, or single variants), gold rows removed by `labels:`, and every
    template rendered for it ("task/id"), the dropped variants' too (what an edit of a template touches)."""

    records: list[dict[str, Any]]
    problems: list[Problem]
    outside_rows: int = 0
    templates: set[str] = field(default_factory=set)


def render_record(ctx: RenderContext, record: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The record's instruction records that have no problem (see ``render_checked``)."""
    yield from render_checked(ctx, record).records


def render_checked(ctx: RenderContext, record: Mapping[str, Any]) -> Rendered:
    entry = ctx.entry
    problem = nan_problem(entry, record) or input_problem(entry, record) or surrogate_problem(entry, record)
    if problem is not None:
        return Rendered([], [problem])
    try:
        gold = gold_table(entry, record)
    except RecordError as exc:
        return Rendered([], [Problem("bad_gold", exc.message)])
    prepared = _prepared(ctx)
    base = prepared.restricted(gold)
    outside = len(gold.rows) - len(base.rows)
    if outside:  # the instruction offers only `labels:`; a gold row outside them makes the record wrong
        column = entry.task.schema_column or ""
        labels = ", ".join(sorted(set(gold.column(column)) - set(base.column(column))))
        return Rendered([], [Problem("label_outside_set", f"gold label(s) {labels} not in `labels:`")], outside)
    problem = span_problem(entry, record, gold) or choice_problem(entry, record, gold)
    if problem is not None:
        return Rendered([], [problem])
    state = apply_rules(entry, ctx.constants, record, base)
    out = Rendered([], [], outside)
    stated = stated_rules(entry, ctx.constants, record, state)
    _render_variants(prepared, ctx.decks, record, state, input_text(entry, record), stated, out)
    return out


def empty_problem(entry: TaskEntry, variant: Variant, state: AnswerState, output: str,
                  stated: Sequence[PreferenceRule]) -> Problem | None:
    """An empty answer whose rendering the instruction (its ``stated`` rules) does not promise."""
    if state.table.rows or state.empty is not None:
        return None
    declared = declared_empty(stated)
    if declared is not None:
        if output.strip() == declared.strip():
            return None
        return Problem("empty_answer", f"no answer: the instruction promises {declared!r}, the {variant.id} output "
                                       f"would be {output!r}")
    if formats.empty_is_expressible(variant.spec.codec, entry.task.cardinality):
        return None
    return Problem("empty_answer", f"no answer: the {variant.id} format asks for a value, the output would be "
                                   f"{output!r}")


def _span_source(entry: TaskEntry) -> str | None:
    """The input the entry's (non-label) answer spans are copied from, if any."""
    return next((src for col, src in entry.task.spans_from if col != entry.task.schema_column), None)


def _format_context(column: str | None, source: str | None, record: Mapping[str, Any],
                    labels: tuple[str, ...]) -> formats.FormatContext:
    """What answer formats need of a record besides its answer: the labels shown, the label column, and the
    input the (non-label) answer spans are copied from (``source``: ``_span_source``)."""
    text = record.get(source) if source is not None else None
    return formats.FormatContext(labels, column, text if isinstance(text, str) else None)


def _render_variants(prepared: _Prepared, decks: MixDecks | None, record: Mapping[str, Any], state: AnswerState,
                     text: str, stated: list[str], out: Rendered) -> None:
    """The record's instructions, into ``out``: each (template, format) pair and schema batch is an instruction
    record, or a problem that drops it (a format that cannot write the answer, an empty answer it cannot say);
    every template rendered is noted."""
    entry, batched = prepared.entry, prepared.batched
    source, row = record["_source"], record["_row"]
    where = parts_json(source, row)  # the record's parts of its hashes
    combos = seeded_random(prepared.variants_key.of_json(where)).sample(prepared.pairs, prepared.pair_count)
    for k, (chosen_template, chosen_variant) in enumerate(combos):
        rng = seeded_random(prepared.rng_key.of_json(f"{where}, {k}"))
        for b, shown in enumerate(prepared.schema_batches(state.table, rng, record)):
            table = with_missing(entry, batch_table(entry, state.table, shown) if batched else state.table, shown)
            key = f"{where}, {k}, {b}"
            part = prepared.draw(key, chosen_template, chosen_variant, decks)
            if not table.rows:
                part = prepared.answering_nothing(part)
            info = prepared.info(part)
            template = part.template
            out.templates.add(f"{template.task}/{template.id}")  # a string of its own, as before (stored bytes)
            # an `empty_as` rendering is what a stated rule promises; unstated, the format's own empty
            empty = state.empty if not table.rows and info.promised is not None else None
            variables = info.variables(record, shown)
            instruction = info.render(variables, (values_key(shown), values_key(variables["option_labels"])))
            context = _format_context(prepared.label_column, prepared.span_source, record, shown)
            variant = part.variant
            try:
                output = formats.render(variant.spec, table, empty=empty, seed=rng.randrange(1 << 30),
                                        language=entry.language, context=context)
            except formats.NotExpressible as exc:  # this format cannot write this answer (e.g. overlapping tags)
                out.problems.append(Problem("not_expressible", f"{variant.id}: {exc.message}"))
                continue
            rule_ids = info.rule_ids
            rendered = {
                "id": f"{prepared.id_key.of_json(key if batched else f'{where}, {k}'):016x}",
                "task": entry.task.id, "task_entry": entry.id, "family": entry.task.family, "language": entry.language,
                "instruction": instruction, "output": output,
                "gold": gold_json(table),  # each record its own strings, as before: the stored chunks keep their bytes
                "answer_format": variant.id, "template": f"{template.task}/{template.id}",
                "labels": list(shown), "guidelines": list(info.guideline_ids),
                "rules": list(rule_ids), "source": source, "source_row": int(row),
                "_empty": empty, "_line": record.get("_line"), "_kind": part.kind, "_span_text": context.text,
                "_text": text, "_rules": [r for r in stated if r in rule_ids],
            }
            problem = None if table.rows or empty is not None else \
                empty_problem(entry, variant, AnswerState(table, empty), output, part.rules)
            if problem is None:
                out.records.append(rendered)
            else:
                out.problems.append(problem)


def retexted(ctx: RenderContext, record: Mapping[str, Any], given: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """``render_checked(ctx, record).records`` from ``given``: the instructions a render of ``record`` gave, all kept,
    under an entry that differed from ``ctx``'s in its templates' and guidelines' texts alone (the default `mix:`).

    Everything but an instruction's text is a function of what did not change — the draws, the
    gold and the answer, the labels shown — so only the texts are rendered again, each from its template, format
    and labels shown, exactly as ``_render_variants`` renders them. None when an instruction names a template or
    format the entry does not have (render the record whole)."""
    prepared = _prepared(ctx)
    parts = prepared.named_parts()
    out = []
    for earlier in given:
        part = parts.get((earlier["template"], earlier["answer_format"]))
        if part is None:
            return None
        info = prepared.info(part)  # it states every rule: an empty answer needs no other (``answering_nothing``)
        shown = tuple(earlier["labels"])
        variables = info.variables(record, shown)
        instruction = info.render(variables, (values_key(shown), values_key(variables["option_labels"])))
        out.append({**earlier, "instruction": instruction})
    return out


def gold_json(table: AnswerTable) -> str:
    """``json.dumps(table.as_dicts(), ensure_ascii=False)``, written directly when every column name and value is
    a string and the names are distinct (always, for a gold table): ``[{"type": "LOC", "span": "Paris"}, …]``."""
    fields = table.fields
    if len(set(fields)) != len(fields) or not all(type(f) is str for f in fields):
        return _GOLD_JSON.encode(table.as_dicts())
    keys = [_JSON_STR(f) + ": " for f in fields]
    items = []
    for row in table.rows:
        if len(row) != len(keys) or not all(type(v) is str for v in row):
            return _GOLD_JSON.encode(table.as_dicts())
        items.append("{" + ", ".join([key + _JSON_STR(v) for key, v in zip(keys, row, strict=True)]) + "}")
    return "[" + ", ".join(items) + "]"


@dataclass(frozen=True)
class Part:
    """What one instruction shows: basic or compound, its template, format, guidelines and rules (``ir.Mix``)."""

    kind: str                       # basic | compound
    template: Template
    variant: Variant
    guidelines: tuple[Guideline, ...]
    rules: tuple[PreferenceRule, ...]

    def saying_how_to_answer_nothing(self, entry: TaskEntry, table: AnswerTable) -> Part:
        """An empty answer its format cannot write needs the rule that says how to answer nothing (``empty_as``,
        e.g. "unanswerable"): a part that left it out (basic, or rules not drawn) states it, and only it, extra."""
        if table.rows or declared_empty(self.rules) is not None or \
                formats.empty_is_expressible(self.variant.spec.codec, entry.task.cardinality):
            return self
        needed = tuple(r for r in entry.rules if any(op.name == "empty_as" for op in r.then))
        return replace(self, rules=self.rules + tuple(r for r in needed if r not in self.rules))

    @staticmethod
    def draw(entry: TaskEntry, key: tuple[Any, ...], template: Template, variant: Variant,
             decks: MixDecks | None = None) -> Part:
        """From the chunk's stratified ``decks`` when given, else a seeded coin per instruction (``key``); the
        default mix draws nothing (every part shown, as before `mix:`)."""
        if entry.mix.is_default:
            return Part("compound", template, variant, entry.guidelines, entry.rules)
        compound, show_g, show_r, keep_f = _mix_draws(entry.mix, lambda: stable_hash("mix", entry.seed, entry.id, *key),
                                                      decks)
        if not compound:
            return Part("basic", entry.templates[0], entry.variants[0], (), ())
        return Part("compound", template, variant if keep_f else entry.variants[0],
                    entry.guidelines if show_g else (), entry.rules if show_r else ())


def _mix_draws(mix: Mix, seed: Callable[[], int], decks: MixDecks | None) -> tuple[bool, bool, bool, bool]:
    """(compound, show the guidelines, state the rules, keep the chosen format) of one instruction: from ``decks``
    when given, else from coins seeded by ``seed()``; a basic instruction draws only the first."""
    if decks is None:
        rng = random.Random(seed())

        def coin(p: float) -> Callable[[], bool]:
            return lambda: rng.random() < p

        draws = tuple(coin(p) for p in (mix.compound, mix.guidelines, mix.rules, mix.formats))
    else:
        draws = (decks.compound.draw, decks.guidelines.draw, decks.rules.draw, decks.formats.draw)
    if not draws[0]():
        return False, False, False, False
    show_g, show_r, keep_f = draws[1](), draws[2](), draws[3]()
    return True, show_g, show_r, keep_f


def _choose_variants(entry: TaskEntry, record: Mapping[str, Any]) -> list[tuple[Template, Variant]]:
    """k distinct (template, format) pairs for this record, chosen deterministically."""
    pairs = [(t, v) for t in entry.templates for v in entry.variants]
    rng = random.Random(stable_hash("variants", entry.seed, entry.id, record["_source"], record["_row"]))
    return rng.sample(pairs, min(entry.variants_per_record, len(pairs)))


def schema_batches(ctx: RenderContext, table: AnswerTable, rng: random.Random,
                   record: Mapping[str, Any] | None = None) -> list[tuple[str, ...]]:
    """The schemas one text's instructions show (IEPile/Hum schema construction).

    Candidates: the gold labels, their confusable labels (`hard_negatives`), and `negatives` random
    other labels (every label when unset). Without `split_num` they form one schema; with it they are
    packed into batches of at most `split_num` labels, a label and its confusable labels in one batch.
    A record's `schema_labels` field (a list), when mapped, limits its negatives to those labels (EEA: the
    roles of its event type). A task without a label schema shows none (one instruction)."""
    return _prepared(ctx).schema_batches(table, rng, record)


class _Prepared:
    """What every record rendered in one context shares (its entry, label set and recipe name), worked out once
    instead of per instruction: the seeded hashes' constant leading parts, the (template, format) pairs, the
    label set and its order, the parts an instruction can show and what each renders (``_PartInfo``).

    Everything here is a cache of values the per-record code computed before: the records are the same."""

    def __init__(self, ctx: RenderContext) -> None:
        entry = self.entry = ctx.entry
        self.variants_key = HashPrefix("variants", entry.seed, entry.id)  # _choose_variants' rng
        self.rng_key = HashPrefix(entry.seed, entry.id)                   # one rng per (record, pair)
        self.id_key = HashPrefix(ctx.recipe, entry.id)                    # the instruction's id
        self.mix_key = HashPrefix("mix", entry.seed, entry.id)            # Part.draw's coins
        self.pairs = [(t, v) for t in entry.templates for v in entry.variants]
        self.pair_count = min(entry.variants_per_record, len(self.pairs))
        schema = self.schema = entry.schema
        self.batched = schema is not None and schema.split_num is not None
        self.default_mix = entry.mix.is_default
        self.label_column = entry.task.schema_column
        self.span_source = _span_source(entry)
        self.labels = ctx.labels
        self.label_set = frozenset(ctx.labels or ())
        self.confusable = dict(schema.hard_negatives) if schema is not None else {}
        self.order = "random" if schema is None else schema.order
        self.rank = {label: i for i, label in enumerate(ctx.labels or ())}
        self.parts: dict[tuple[Any, ...], Part] = {}
        self.nothing: dict[int, tuple[Part, Part]] = {}  # id(part) -> (part, the part saying how to answer nothing)
        self.infos: dict[int, _PartInfo] = {}    # id(part) -> what it renders
        self.named: dict[tuple[str, str], Part] | None = None  # ``named_parts``

    def restricted(self, table: AnswerTable) -> AnswerTable:
        """``restrict_to_labels(entry, table, labels)``: the table itself when no row is outside the labels."""
        column, entry = self.label_column, self.entry
        if column is None or self.labels is None or entry.schema is None or entry.schema.labels is None:
            return table
        i, allowed = table.fields.index(column), self.label_set
        if all(r[i] in allowed for r in table.rows):
            return table
        return table.with_rows(r for r in table.rows if r[i] in allowed)

    def schema_batches(self, table: AnswerTable, rng: random.Random,
                       record: Mapping[str, Any] | None) -> list[tuple[str, ...]]:
        column, labels = self.label_column, self.labels
        if column is None or labels is None:
            return [()]
        i = table.fields.index(column)
        positives = list(dict.fromkeys([r[i] for r in table.rows]))
        own = record.get("schema_labels") if record is not None else None
        allowed = self.label_set & set(own) if isinstance(own, list) else self.label_set
        confusable = self.confusable
        hard = list(dict.fromkeys(h for p in positives for h in confusable.get(p, ())
                                  if h in allowed and h not in positives)) if confusable else []
        taken = {*positives, *hard}
        others = [label for label in labels if label in allowed and label not in taken]
        schema = self.schema
        if schema is not None and schema.negatives is not None:
            others = rng.sample(others, min(schema.negatives, len(others)))
        shown = positives + hard + others
        if schema is None or schema.split_num is None:
            return [self.ordered(shown, rng)]
        return [self.ordered(batch, rng) for batch in _packed(shown, confusable, schema.split_num, rng, schema.order)]

    def ordered(self, labels: list[str], rng: random.Random) -> tuple[str, ...]:
        """One schema in the entry's `order`: random (seeded), alphabetical, or as declared in `labels:`."""
        shown = list(labels)
        if self.order == "random":
            rng.shuffle(shown)
        elif self.order == "alphabetical":
            shown.sort()
        else:
            rank = self.rank
            shown.sort(key=lambda label: rank.get(label, len(rank)))
        return tuple(shown)

    def draw(self, key: str, template: Template, variant: Variant, decks: MixDecks | None) -> Part:
        """``Part.draw`` (``key``: the JSON of its key parts, see ``parts_json``), each distinct part one object."""
        if self.default_mix:
            return self.part("compound", template, variant, True, True)
        entry = self.entry
        compound, show_g, show_r, keep_f = _mix_draws(entry.mix, lambda: self.mix_key.of_json(key), decks)
        if not compound:
            return self.part("basic", entry.templates[0], entry.variants[0], False, False)
        return self.part("compound", template, variant if keep_f else entry.variants[0], show_g, show_r)

    def part(self, kind: str, template: Template, variant: Variant, guidelines: bool, rules: bool) -> Part:
        key = (kind, id(template), id(variant), guidelines, rules)
        part = self.parts.get(key)
        if part is None:
            entry = self.entry
            part = self.parts[key] = Part(kind, template, variant, entry.guidelines if guidelines else (),
                                          entry.rules if rules else ())
        return part

    def named_parts(self) -> dict[tuple[str, str], Part]:
        """(template name, format id) -> the part ``draw`` gives for that pair under the default `mix:` (a name or
        id two templates or formats share names none)."""
        if self.named is None:
            names = [f"{t.task}/{t.id}" for t in self.entry.templates]
            ids = [v.id for v in self.entry.variants]
            self.named = {(f"{t.task}/{t.id}", v.id): self.part("compound", t, v, True, True) for t, v in self.pairs
                          if names.count(f"{t.task}/{t.id}") == 1 and ids.count(v.id) == 1}
        return self.named

    def answering_nothing(self, part: Part) -> Part:
        """``part.saying_how_to_answer_nothing`` for an empty table."""
        hit = self.nothing.get(id(part))
        if hit is None or hit[0] is not part:
            hit = self.nothing[id(part)] = (part, part.saying_how_to_answer_nothing(self.entry,
                                                                                   AnswerTable(self.entry.task.columns)))
        return hit[1]

    def info(self, part: Part) -> _PartInfo:
        info = self.infos.get(id(part))
        if info is None or info.part is not part:  # the info keeps its part, so the id stays that part's
            info = self.infos[id(part)] = _PartInfo(self.entry, part)
        return info


def values_key(values: Sequence[Any]) -> tuple[Any, ...] | str:
    """A key that tells apart what a template would print differently: the values themselves when all are strings,
    else their ``repr`` (``1``, ``1.0`` and ``True`` are equal keys in a dict but print differently)."""
    return tuple(values) if all(type(v) is str for v in values) else repr(values)


class _PartInfo:
    """What every instruction showing one ``Part`` shares: its names and ids, the texts of its guidelines and
    rules, the format sentence, the label definitions per schema shown, and its compiled template."""

    def __init__(self, entry: TaskEntry, part: Part) -> None:
        self.entry, self.part = entry, part
        template, lang = part.template, entry.language
        self.template_name = f"{template.task}/{template.id}"
        # the record's inputs are the template's holes: what else it shows is named by (schema shown, option labels)
        self.render = TemplateRenderer(template.text, self.template_name, template.origin, holes=entry.task.inputs)
        self.promised = declared_empty(part.rules)
        self.guideline_ids = tuple(g.id for g in part.guidelines)
        self.rule_ids = tuple(r.id for r in part.rules)
        self.guidelines = tuple(g.text for g in part.guidelines if g.text)
        self.rules = tuple(r.text.get(lang) or r.text.get("en", "") for r in part.rules if r.text)
        self.inputs, self.columns = entry.task.inputs, entry.task.columns
        self.format_instruction: str | None = None  # rendered at the first instruction (where an error shows)
        self.definitions: dict[tuple[str, ...], dict[str, str]] = {}

    def variables(self, record: Mapping[str, Any], shown: tuple[str, ...]) -> dict[str, Any]:
        """The variables of the part's template for one record and the schema it shows."""
        entry = self.entry
        variables: dict[str, Any] = {name: record.get(name) for name in self.inputs}
        definitions = self.definitions.get(shown)
        if definitions is None:
            if len(self.definitions) >= 1024:
                self.definitions.clear()
            definitions = self.definitions[shown] = label_definitions(self.part.guidelines, shown, entry.language)
        if self.format_instruction is None:
            variant = self.part.variant
            self.format_instruction = _format_instruction(
                *_variant_text(variant, entry.language), tuple(formats.shown_keys(variant.spec, entry.task.columns)),
                entry.task.cardinality, self.promised, variant.id)
        variables["labels"] = list(shown)  # in this order (an input of the same name keeps its place)
        variables["label_definitions"] = dict(definitions)
        variables["guidelines"] = list(self.guidelines)
        variables["rules"] = list(self.rules)
        variables["columns"] = list(self.columns)
        variables["option_labels"] = option_labels(record)
        variables["format_instruction"] = self.format_instruction
        return variables


_PREPARED: dict[tuple[int, tuple[str, ...] | None, str], tuple[TaskEntry, _Prepared]] = {}


def _prepared(ctx: RenderContext) -> _Prepared:
    """The context's ``_Prepared``, made once per (entry, label set, recipe name) a process renders (the entry is
    kept with it, so its id is not reused while it is remembered)."""
    key = (id(ctx.entry), None if ctx.labels is None else tuple(ctx.labels), ctx.recipe)
    hit = _PREPARED.get(key)
    if hit is not None and hit[0] is ctx.entry:
        return hit[1]
    if len(_PREPARED) >= 16:
        _PREPARED.clear()
    prepared = _Prepared(ctx)
    _PREPARED[key] = (ctx.entry, prepared)
    return prepared


def _packed(labels: list[str], confusable: Mapping[str, Sequence[str]], k: int, rng: random.Random,
            order: str) -> list[list[str]]:
    """Groups (labels linked by the confusable relation, either way, among ``labels``) packed first-fit into
    batches of <= k labels; a group larger than k is cut into pieces of k."""
    linked: dict[str, set[str]] = {label: set() for label in labels}
    for label, others in confusable.items():
        for other in others:
            if label in linked and other in linked and other != label:
                linked[label].add(other)
                linked[other].add(label)
    placed: set[str] = set()
    groups: list[list[str]] = []
    for label in labels:
        if label in placed:
            continue
        group, todo = [], [label]
        placed.add(label)
        while todo:
            current = todo.pop(0)
            group.append(current)
            for other in sorted(linked[current], key=labels.index):
                if other not in placed:
                    placed.add(other)
                    todo.append(other)
        groups.extend(group[i:i + k] for i in range(0, len(group), k))
    if order == "random":
        rng.shuffle(groups)
    batches: list[list[str]] = []
    for group in sorted(groups, key=len, reverse=True):  # stable: equal sizes keep their (shuffled) order
        home = next((b for b in batches if len(b) + len(group) <= k), None)
        if home is None:
            batches.append(list(group))
        else:
            home.extend(group)
    return batches


def with_missing(entry: TaskEntry, table: AnswerTable, shown: Sequence[str]) -> AnswerTable:
    """A task with `schema: {missing: NAN}` (EEA): one row per shown label without gold, its other columns NAN;
    the rows follow the order of the labels shown."""
    missing, column = entry.task.schema_missing, entry.task.schema_column
    if missing is None or column is None:
        return table
    i = table.fields.index(column)
    have = {row[i] for row in table.rows}
    rows: list[tuple[str, ...]] = [tuple(r) for r in table.rows]
    rows += [tuple(label if j == i else missing for j in range(len(table.fields))) for label in shown if label not in have]
    rank = {label: k for k, label in enumerate(shown)}
    ordered = sorted(rows, key=lambda row: rank.get(row[i], len(rank)))  # the order of the labels shown
    return table.with_rows(ordered)


def batch_table(entry: TaskEntry, table: AnswerTable, shown: Sequence[str]) -> AnswerTable:
    """The gold rows whose schema label is in this instruction's batch."""
    column = entry.task.schema_column
    if column is None:
        return table
    i, allowed = table.fields.index(column), set(shown)
    return table.with_rows(r for r in table.rows if r[i] in allowed)


EXAMPLE_WORDS = {"en": ("Examples: ", "Not: ", ", ", ".", "\"{}\"", " ({})"),
                 "zh": ("例如：", "不包括：", "、", "。", "“{}”", "（{}）")}
"""How a label's examples are said, per language: (positives, negatives, separator, full stop, quote, what it is)."""


def describe_label(definition: str, examples: LabelExamples, language: str) -> str:
    """A label's explanation as instructions show it (Hum's guidelines: a definition plus positive and negative
    examples): 'names of people. Examples: "Clinton", "Mrs. Smith". Not: "Clinton Foundation" (ORG).'"""
    pos, neg, sep, stop, quote, instead = EXAMPLE_WORDS.get(language, EXAMPLE_WORDS["en"])
    parts = [definition.strip()] if definition.strip() else []
    if parts and examples and not parts[0].endswith((".", "!", "?", "。", "！", "？")):
        parts[0] += stop
    if examples.positive:
        parts.append(pos + sep.join(quote.format(t) for t in examples.positive) + stop)
    if examples.negative:
        parts.append(neg + sep.join(quote.format(t) + (instead.format(what) if what else "")
                                    for t, what in examples.negative) + stop)
    return ("" if language == "zh" else " ").join(parts)


def label_definitions(guidelines: Sequence[Guideline], labels: Sequence[str], language: str) -> dict[str, str]:
    """label -> its explanation for the labels shown: the last guideline's definition, with the examples of every
    guideline (human-written first, then accepted lockfile examples), each example once."""
    return dict(_label_definitions(tuple(guidelines), tuple(labels), language))


@functools.lru_cache(maxsize=4096)
def _label_definitions(guidelines: tuple[Guideline, ...], labels: tuple[str, ...], language: str) -> dict[str, str]:
    """``label_definitions``, once per (guidelines, schema shown, language): the same for many instructions."""
    definitions = {label: text for g in guidelines for label, text in g.labels}
    positive: dict[str, dict[str, None]] = {}
    negative: dict[str, dict[tuple[str, str], None]] = {}
    for g in guidelines:
        for label, ex in g.examples:
            positive.setdefault(label, {}).update(dict.fromkeys(ex.positive))
            negative.setdefault(label, {}).update(dict.fromkeys(ex.negative))
    out = {}
    for label in labels:
        ex = LabelExamples(tuple(positive.get(label, ())), tuple(negative.get(label, ())))
        if label in definitions or ex:
            out[label] = describe_label(definitions.get(label, ""), ex, language)
    return out


def _variant_text(variant: Variant, lang: str) -> tuple[str, Span | None]:
    """The variant's instruction sentence in ``lang`` (else English) and where it starts in its file."""
    chosen = lang if variant.text.get(lang) else "en"
    return variant.text.get(chosen, ""), dict(variant.origins).get(chosen)


@functools.lru_cache(maxsize=1024)
def _format_instruction(text: str, origin: Span | None, fields: tuple[str, ...], cardinality: str, empty: str | None,
                        variant_id: str) -> str:
    """A variant's instruction sentence: the same for every record of an entry, so rendered once."""
    return render_template(text, {"fields": list(fields), "cardinality": cardinality, "empty": empty},
                           f"variant {variant_id}", origin)


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
                                            f"again ({_short([list(r) for r in again.table.rows], 80)})")
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
                                    record.get("_span_text"))
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


def collect_labels(entry: TaskEntry, column: str, records: Iterator[Mapping[str, Any]]) -> list[str]:
    """The label set of an entry without `labels:`: every schema label in the gold answers
    (a record whose gold does not fit the columns is skipped here and reported by render)."""
    found: set[str] = set()
    for record in records:
        try:
            found.update(gold_table(entry, record).column(column))
        except RecordError:
            continue
    return sorted(found)
