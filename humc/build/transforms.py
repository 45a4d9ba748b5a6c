"""Per-record work of the graph's first nodes, as pure functions of (config, record).

map:    raw source row -> mapped record (recipe `fields:` expressions)
filter: mapped record -> keep or drop (`where:`)
gold:   mapped record -> gold AnswerTable after preference rules
labels: mapped records -> the label set found in their gold answers (``collect_labels``)

What the render and check nodes share lives here too: the seeded hashes (``stable_hash``, ``HashPrefix``,
``seeded_random``), the problems that keep a record from becoming a truthful example (a NaN, null or non-text
input the instruction would show, a gold item that does not fit the answer columns, a gold span that does
not occur in the input it is copied from, a multiple-choice answer that is not one of the options), each
reported as a ``problems.Problem`` with a stable reason, and the preference rules applied to a gold answer.
``rendering`` turns a record into instructions and ``checking`` parses them back.
"""

from __future__ import annotations

import _random
import hashlib
import json
import math
import random
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from humc.answers.ops import MANY_VALUES, AnswerState, apply_op, occurrences
from humc.answers.table import AnswerTable
from humc.build.problems import Problem
from humc.errors import EvalError, RecordError, did_you_mean, type_name
from humc.expr import Evaluator
from humc.expr.functions import OPTION_LETTERS
from humc.ir import PreferenceRule, SourceDef, TaskEntry

_HASH_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str)  # json.dumps' own, built once
_JSON_STR = json.encoder.encode_basestring  # what _HASH_JSON writes a str with (ensure_ascii=False)


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
               raw: Mapping[str, Any], line: int | None = None, headerless: bool = False,
               file: str | None = None) -> dict[str, Any]:
    """The record's task fields from the source row (``headerless``: a table read without a header line; ``file``:
    the source file's name, for errors)."""
    env = {**constants, **raw}
    out: dict[str, Any] = {"_source": source_id, "_row": row, "_line": line}
    for name, compiled in entry.fields:
        try:
            out[name] = Evaluator(compiled.src).eval(compiled.ast, env, f"source '{source_id}' row {row}")
        except EvalError as exc:
            exc = _about_record(exc, raw, line, constants, headerless)
            if name == entry.task.answer_field and _overwritten(entry, name) and _lacks_gold(exc):
                out[name] = None  # a `generate` step writes every answer: SQuAD's test split is released without them
                continue
            raise (_no_gold(exc, entry, name, file) if name == entry.task.answer_field else exc) from None
    return out


def _overwritten(entry: TaskEntry, name: str) -> bool:
    """Whether a `generate` step with `overwrite: true` writes the field whatever the record holds. Only then does a
    field no record is read with stand for "no gold": a misspelt gold field (`label: gold` for a file's `label`) would
    otherwise have had the model's answers in place of the file's, without a word."""
    step = entry.generate
    return step is not None and step.overwrite and (step.field or entry.task.answer_field) == name


def _lacks_gold(exc: EvalError) -> bool:
    """A field the record lacks, spelt like none of its fields (``_about_record``'s hint): a file without gold."""
    return _UNKNOWN_FIELD.match(exc.message) is not None and str(exc.hint).startswith(_SOME_RECORDS_HINT)


def _no_gold(exc: EvalError, entry: TaskEntry, name: str, file: str | None) -> EvalError:
    """An unknown field in the expression of the task's answer, spelt like no field of the record: the file has no
    gold answers (a test split released without them, CommonsenseQA's `test_rand_split_no_answers.jsonl`)."""
    unknown = _UNKNOWN_FIELD.match(exc.message)
    if unknown is None or not _lacks_gold(exc):
        return exc  # another failure, or a field spelt otherwise (the hint names it)
    field = unknown.group(1)
    exc.message = (f"source '{entry.source}' has no gold answers{f' in {file}' if file else ''}: the task's answer "
                   f"'{name}' is mapped from field '{field}', which the record lacks")
    exc.expected = f"a field '{field}' holding the gold answer in every record"
    exc.hint = (f"a split released without answers (a test file) cannot teach one: point `path:` at a split that has "
                f"them (train, dev); if only some records lack it, `record['{field}']` reads it as null and those "
                "records are dropped and reported")
    if entry.generate is not None and (entry.generate.field or entry.task.answer_field) == name:
        exc.hint += "; to have the `generate` step write every answer, set `overwrite: true` on it"
    return exc


_UNSPLIT = {";": "set `options: {delimiter: ';'}`", "|": "set `options: {delimiter: '|'}`",
            "\t": "the file is tab-separated: use `format: tsv`"}


def _about_record(exc: EvalError, raw: Mapping[str, Any], line: int | None,
                  constants: Mapping[str, Any] | None = None, headerless: bool = False) -> EvalError:
    """A failed field expression, with what the record holds: a misspelt field (or constant), a field a few records
    lack, or a header that was not split (a `;`-separated file read as CSV) shows in the record's keys; from a
    table read without a header line (``headerless``), a line 1 of names may be a header a copy added."""
    keys = [str(k) for k in raw if not str(k).startswith("_")]  # a mapped record's _source, _row, _line: no fields
    shown = ", ".join(keys[:20]) + (f", … ({len(keys)} in all)" if len(keys) > 20 else "")
    at = f" (line {line} of the source file)" if line is not None else ""
    exc.notes.append(f"the record{at} has the fields: {shown or '(none)'}")
    hidden = [k for k in keys if k in (constants or {})]
    if hidden:  # `lookup(label, names)` reads the record's `names` column, not the constant list of that name
        which = ", ".join(map(repr, hidden[:5]))
        exc.notes.append((f"the record's fields {which} hide the constants of those names" if len(hidden) > 1 else
                          f"the record's field {which} hides the constant of that name")
                         + " (an expression reads a record's field first): rename the constant")
    nested = _NO_KEY.match(exc.message)
    if nested is not None and exc.hint is None:
        exc.expected = exc.expected or "a key every record has"
        meant = did_you_mean(nested.group(1), nested.group(2).split(", "))  # a misspelt key of a nested object
        exc.hint = (f"{meant + ' ' if meant else ''}a key only some records have reads as null with "
                    f"`[\"{nested.group(1)}\"]` instead of `.{nested.group(1)}`")
    unknown = _UNKNOWN_FIELD.match(exc.message)
    if unknown is None and exc.hint is None and headerless and line == 1 and _looks_like_a_header(raw):
        exc.hint = ("line 1 looks like a header row, read as a record: set `options: {header: true}` (a CSV/TSV copy "
                    "with a header line, e.g. Kaggle's `Class Index,Title,Description`)")
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
        exc.hint = _spelt_otherwise(unknown.group(1), keys) or _not_a_name(unknown.group(1), keys) \
            or did_you_mean(unknown.group(1), keys) or _constant_meant(unknown.group(1), constants) \
            or _first_row_as_header(keys, headerless) or (
            _SOME_RECORDS_HINT + "; records whose task inputs are null are then dropped and reported")
    return exc


_SOME_RECORDS_HINT = "a field only some records have reads as null with `record['name']`"


def _first_row_as_header(keys: Sequence[str], headerless: bool) -> str | None:
    """Field names that look like data (a number, a sentence): a CSV/TSV without a header line whose first row was
    read as its column names (CoLA's and the emotion release's files have none)."""
    if headerless or len(keys) < 2 or not any(_NUMBER.match(k.strip()) or len(k) > 40 or len(k.split()) >= 4
                                              for k in keys):
        return None
    return ("the field names look like data: if this is a CSV/TSV file without a header line, its first row was read "
            "as the column names; set `options: {header: false, columns: [...]}` to name them")


def _looks_like_a_header(raw: Mapping[str, Any]) -> bool:
    """Every value of the record is a short name, none a number: column names read as a row."""
    values = [v for k, v in raw.items() if not str(k).startswith("_")]
    return len(values) >= 2 and all(isinstance(v, str) and 0 < len(v.strip()) <= 40 and not _NUMBER.match(v.strip())
                                    for v in values)


def _constant_meant(name: str, constants: Mapping[str, Any] | None) -> str | None:
    """The recipe's constant ``name`` is a misspelling of, if any."""
    close = did_you_mean(name, list(constants or ()))
    return close and close.replace("did you mean", "did you mean the constant", 1)


def _spelt_otherwise(name: str, keys: Sequence[str]) -> str | None:
    """The record's field that differs from ``name`` only in case or surrounding spaces (`TEXT`, `Text `)."""
    same = next((k for k in keys if k.strip().lower() == name.lower()), None)
    if same is None:
        return None
    use = same if same.isidentifier() else f"record[{same!r}]"
    return f"the record spells it {same!r} (field names are exact): use {use}"


def _not_a_name(name: str, keys: Sequence[str]) -> str | None:
    """The record's field that starts with ``name`` and goes on with a character no name has (`review-text`,
    `answer.text`, `Review Text`): the expression read only its first part."""
    for key in keys:
        rest = key[len(name):]
        if key.lower().startswith(name.lower()) and rest and not (rest[0].isalnum() or rest[0] == "_"):
            return (f"the record's field {key!r} is no plain name ({rest[0]!r} ends one in an expression): "
                    f"write record[{key!r}]")
    return None


_UNKNOWN_FIELD = re.compile(r"unknown field '([^']*)'")
_NUMBER = re.compile(r"^[-+]?(\d+([.,]\d*)?|\.\d+)([eE][-+]?\d+)?$")  # a value that reads as a number
_NO_KEY = re.compile(r"no field '([^']*)' \(available: ([^)]*)\)")


def reads_no_header(src: SourceDef) -> bool:
    """A CSV/TSV source read without a header line (`header: false`, as an adapter reads a release that has none):
    its line 1 may yet be a header row that a copy of the file added."""
    return src.format in ("csv", "tsv") and src.options.get("header", True) is False


def keep_record(entry: TaskEntry, constants: Mapping[str, Any], record: Mapping[str, Any],
                headerless: bool = False) -> bool:
    assert entry.where is not None
    env = {**constants, **record}
    try:
        return bool(Evaluator(entry.where.src).eval(entry.where.ast, env, where_of(record)))
    except EvalError as exc:
        raise _about_record(exc, record, record.get("_line"), constants, headerless) from None


def split_group(entry: TaskEntry, constants: Mapping[str, Any], record: Mapping[str, Any]) -> str | None:
    """A hash of the record's `split_by:` value (records with equal values share a split: the questions on one
    passage), None when the entry has no `split_by:`."""
    if entry.split_by is None:
        return None
    try:
        value = Evaluator(entry.split_by.src).eval(entry.split_by.ast, {**constants, **record}, where_of(record))
    except EvalError as exc:
        raise _about_record(exc, record, record.get("_line"), constants) from None
    return f"{stable_hash('split_by', json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)):016x}"


# ------------------------------------------------------------------ gold answers

# What a gold value is stripped of at its ends: whitespace, and the invisible characters that are not whitespace to
# str.strip() (zero-width space and joiners, word joiner, a byte-order mark inside a field), which would otherwise
# make "\ufeffPER" a second label that prints as PER, or a label of nothing visible.
_EDGES = "".join(ch for ch in map(chr, range(0x3001)) if ch.isspace()) + "\u200b\u200c\u200d\u2060\ufeff"
_LINE_BREAK = re.compile("[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")  # where str.splitlines() breaks a line


def gold_table(entry: TaskEntry, record: Mapping[str, Any]) -> AnswerTable:
    """The record's answer field as a table with the task's columns (before rules).

    Values are stripped of surrounding whitespace and zero-width characters (``_EDGES``) — the domain on which every
    answer format round-trips — and rows with no value at all are no answer. A null list answer (or a null answer of a
    task with many) is no annotation, not an empty answer ([]): the record is dropped, as teaching "nothing applies" is wrong."""
    task = entry.task
    value = record.get(task.answer_field)
    rows: list[tuple[str, ...]] = []
    if value is None and (task.answer_is_list or task.cardinality == "many"):
        name = task.answer_field
        raise RecordError(f"'{name}' is null: no annotation, not an empty answer ([] is one; `{name}: <its "
                          f"expression> or []` reads null as none)", expected=f"a list in '{name}'")
    if task.answer_is_list and not isinstance(value, list):
        raise RecordError(f"'{task.answer_field}' is {type_name(value)} {short_repr(value)}, not a list",
                          expected=f"a list ([] for no answer) in '{task.answer_field}'")
    items = [] if value in (None, "") else (value if isinstance(value, list) else [value])
    label = task.columns.index(task.schema_column) if task.schema_column in task.columns else None
    for item in items:
        row = _row_of(item, task.columns, record)
        if not any(row):  # a row of empty strings is no answer
            continue
        if label is not None and not row[label]:  # the schema would show "" as a label
            raise RecordError(f"gold item {short_repr(item)} has no '{task.schema_column}'",
                              expected=f"a label in '{task.schema_column}' of every gold item")
        if label is not None and _LINE_BREAK.search(row[label]):  # it would break the instruction's label list
            raise RecordError(f"'{task.schema_column}' {short_repr(row[label])} holds a line break (the instruction "
                              "lists the labels on one line)", expected=f"a label on one line in '{task.schema_column}'")
        rows.append(row)
    return AnswerTable(tuple(task.columns), tuple(rows), "many")  # rows of str already: ``AnswerTable.of``'s table


def _row_of(item: Any, columns: tuple[str, ...], record: Mapping[str, Any]) -> tuple[str, ...]:
    if type(item) is dict or isinstance(item, Mapping):
        missing = [c for c in columns if c not in item]
        if missing:
            raise RecordError(f"gold item {short_repr(item)} lacks {', '.join(missing)}",
                              expected="objects with keys " + ", ".join(columns))
        odd = next((c for c in columns if isinstance(item[c], (bool, list, tuple, dict, Mapping))), None)
        if odd is not None:  # str() would teach Python's spelling of a list or of JSON's true
            what = "a boolean" if isinstance(item[odd], bool) else "a list" if isinstance(item[odd], (list, tuple)) \
                else "an object"
            raise RecordError(f"gold item {short_repr(item)}: '{odd}' is {what}, not text",
                              expected=f"a string (or number) in '{odd}' of every gold item")
        return tuple(["" if (v := item[c]) is None else _gold_text(v) for c in columns])
    if isinstance(item, bool):  # str(True) would teach Python's spelling of JSON's true
        raise RecordError(f"gold item {json.dumps(item)} is a boolean, not text",
                          expected="strings; map booleans in `fields:`, e.g. lookup(int(answer), [\"no\", \"yes\"])")
    if len(columns) == 1 and isinstance(item, (str, int, float)):
        return (_gold_text(item),)
    raise RecordError(f"gold item {short_repr(item)} does not fit the answer columns {', '.join(columns)}",
                      expected="objects with keys " + ", ".join(columns) if len(columns) > 1 else "strings")


def _gold_text(value: Any) -> str:
    """A gold value as text: stripped of its edges (``_EDGES``), a float as ``_number_text`` writes it."""
    return (_number_text(value) if type(value) is float else str(value)).strip(_EDGES)


def _number_text(value: float) -> str:
    """A float in a gold answer as text: a whole one as the integer it is, so 1 and 1.0 are one label (JSON's 1 and
    1.0 are one number, and a float column, pandas' or Parquet's, reads an integer label as 1.0)."""
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else str(value)


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
            return Problem("non_text_input", f"field '{name}' is {type_name(value)} {short_repr(value)}, not {want}")
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


def squeezed(text: str) -> str:
    """Case-folded, every whitespace removed: spans match their text across tokenisation and case."""
    return "".join(text.casefold().split())


def span_problem(entry: TaskEntry, record: Mapping[str, Any], gold: AnswerTable) -> Problem | None:
    """A gold span that does not occur in the input its task copies it from (case and whitespace aside)."""
    for column, source in entry.task.spans_from:
        text = squeezed(str(record.get(source) or ""))
        i = gold.fields.index(column)
        # a labelled item with no span (the output would teach an empty entity), unless a span before it is missing
        empty = next((k for k, row in enumerate(gold.rows) if not row[i]), len(gold.rows))
        missing = _not_in(text, [row[i] for row in gold.rows[:empty]])
        if missing is not None:
            return _not_in_problem(column, missing, source, text)
        if empty < len(gold.rows):
            return Problem("span_not_in_text", f"{column} is empty in gold item {short_repr(list(gold.rows[empty]), 60)}")
    return None


def _not_in(text: str, values: list[str]) -> str | None:
    """The first of ``values`` that does not occur in ``text`` (``squeezed``) case and whitespace aside; thousands of
    them in a long text are all found in one pass (``occurrences``)."""
    keys = [squeezed(value) for value in values]
    occurs = occurrences(text, keys).__contains__ if len(keys) > MANY_VALUES else text.__contains__
    return next((value for value, key in zip(values, keys, strict=True) if not occurs(key)), None)


def _not_in_problem(column: str, value: str, source: str, text: str) -> Problem:
    return Problem("span_not_in_text", f"{column} {value!r} does not occur in '{source}'" + _normal_form_hint(value, text))


def copied_problem(entry: TaskEntry, record: Mapping[str, Any], gold: AnswerTable) -> Problem | None:
    """A gold value of a `copied_from` column of a task with `copied_gold` (an event's trigger or argument) that is
    given (not empty, not the schema's missing value) and does not occur in its input (case and whitespace aside), as
    `span_problem` reports a span: a DuEE trigger not in its text was written as gold (EET, whose trigger is a span,
    reported it). An input copied from another (EEA's given trigger) is checked as the record's one value."""
    for column, source in entry.task.copied_from if entry.task.copied_gold else ():
        text = squeezed(str(record.get(source) or ""))
        if column in gold.fields:
            i = gold.fields.index(column)
            values = [str(row[i]) for row in gold.rows if row[i] and row[i] != entry.task.schema_missing]
        else:
            values = [str(record[column])] if record.get(column) else []
        missing = _not_in(text, values)
        if missing is not None:
            return _not_in_problem(column, missing, source, text)
    return None


# why a value that prints like a part of the text, or like a label, is not: é as one code point in one, e and a
# combining accent in the other
NORMAL_FORM_NOTE = ("in another Unicode normal form (é as one code point in one, as e and a combining accent in the "
                    "other, which look the same): map both with nfc(...) in `fields:`")


def _normal_form_hint(span: str, squeezed_text: str) -> str:
    """The note for a span that occurs in the text only in another Unicode normal form, else ""."""
    if unicodedata.normalize("NFC", squeezed(span)) in unicodedata.normalize("NFC", squeezed_text):
        return ": it does " + NORMAL_FORM_NOTE
    return ""


def choice_problem(entry: TaskEntry, record: Mapping[str, Any], gold: AnswerTable) -> Problem | None:
    """A multiple-choice answer that is not one of the record's option labels."""
    if entry.task.choice_of is None:
        return None
    labels = [str(label) for label in option_labels(record, entry.task.choice_of)]
    options = record.get(entry.task.choice_of)
    if isinstance(options, list) and len(options) != len(labels):  # the instruction pairs them: the rest is lost
        return Problem("options_unlabelled", f"{len(options)} options but {len(labels)} option labels"
                                             + (" (A to Z): give `option_labels`" if len(options) > 26 and
                                                not record.get("option_labels") else ""))
    for row in gold.rows:
        if row[0] not in labels:
            return Problem("answer_not_an_option", f"answer {row[0]!r} is not one of the option labels "
                                                   f"{', '.join(labels) or '(none)'}"
                                                   + _choice_hint(row[0], record.get(entry.task.choice_of), labels))
    return None


def _choice_hint(answer: Any, options: Any, labels: list[str]) -> str:
    """How to map an answer given as an option's text (C3) or as its position (PIQA's 0/1) to its label."""
    if isinstance(options, list) and answer in [str(o) for o in options]:
        return ": it is the text of an option, map it with choice_label(options, answer)"
    if isinstance(answer, str) and answer.isascii() and answer.isdigit() and len(answer) < 10 \
            and int(answer) < len(labels):  # not "²", which int() refuses, nor 5000 digits, which it refuses too
        return f": a position? map it with lookup(answer, [{', '.join(repr(x) for x in labels)}]) (offset=1 if 1-based)"
    return ""


def option_labels(record: Mapping[str, Any], options_field: str = "options") -> list[Any]:
    """The labels of a record's options: its `option_labels`, else A, B, C, ... one per option."""
    options = record.get(options_field) or []
    return list(record.get("option_labels") or OPTION_LETTERS[:len(options)])


def short_repr(value: Any, width: int = 40) -> str:
    """``repr(value)``, cut to ``width`` characters with "..." (for messages)."""
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


def collect_labels(entry: TaskEntry, column: str, records: Iterator[Mapping[str, Any]],
                   roles: dict[str, set[str]] | None = None) -> list[str]:
    """The label set of an entry without `labels:`: every schema label in the gold answers. A record render drops
    is skipped here: its gold does not fit the columns, or it holds a NaN or half a surrogate pair (`nan_value`,
    `lone_surrogate`), whose label ('nan', '\\ud800') would otherwise be offered in every other record's instruction
    (and a lone surrogate there cannot be written as UTF-8 at all). ``roles``, when given, gathers in the same pass
    each event type's argument roles in the gold (``gold_roles``)."""
    found: set[str] = set()
    for record in records:
        if nan_problem(entry, record) is not None or surrogate_problem(entry, record) is not None:
            continue
        try:
            table = gold_table(entry, record)
        except RecordError:
            continue
        found.update(table.column(column))
        if roles is not None:
            gold_roles(entry, table, roles)
    return sorted(found)


def sorted_roles(found: Mapping[str, set[str]]) -> list[list[Any]]:
    """``collect_labels``' roles as a labels node keeps them: [[event type, [role, …]], …], both sorted (the same
    whatever order the records came in)."""
    return [[event_type, sorted(found[event_type])] for event_type in sorted(found)]


def gold_roles(entry: TaskEntry, table: AnswerTable, into: dict[str, set[str]]) -> None:
    """Each event type's non-empty argument roles in one gold table, added to ``into`` (tasks whose schema labels are
    event types with roles, ``TaskDef.roles_of``: ee)."""
    pair = entry.task.roles_of
    if pair is None or pair[1] not in table.fields or pair[0] not in table.fields:
        return
    r, t = table.fields.index(pair[0]), table.fields.index(pair[1])
    for row in table.rows:
        if row[r]:
            into.setdefault(str(row[t]), set()).add(str(row[r]))
