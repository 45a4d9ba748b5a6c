"""Per-record work of the graph's nodes, as pure functions of (config, record).

map:    raw source row -> mapped record (recipe `fields:` expressions)
filter: mapped record -> keep or drop (`where:`)
gold:   mapped record -> gold AnswerTable after preference rules
render: mapped record -> N instruction records (template x format variant)
check:  rendered record -> parse its output back and compare with the gold table
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from humc.answers import formats
from humc.answers.ops import AnswerState, apply_op
from humc.answers.table import AnswerTable
from humc.errors import HumcError, RecordError, Span
from humc.expr import Evaluator
from humc.ir import PreferenceRule, TaskEntry, Template, Variant
from humc.templating import render_template

OPTION_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def stable_hash(*parts: Any) -> int:
    data = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str).encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def where_of(record: Mapping[str, Any]) -> str:
    return f"source '{record.get('_source')}' row {record.get('_row')}"


# ------------------------------------------------------------------ map / filter


def map_record(entry: TaskEntry, constants: Mapping[str, Any], source_id: str, row: int,
               raw: Mapping[str, Any]) -> dict[str, Any]:
    env = {**constants, **raw}
    out: dict[str, Any] = {"_source": source_id, "_row": row}
    for name, compiled in entry.fields:
        out[name] = Evaluator(compiled.src).eval(compiled.ast, env, f"source '{source_id}' row {row}")
    return out


def keep_record(entry: TaskEntry, constants: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    assert entry.where is not None
    env = {**constants, **record}
    return bool(Evaluator(entry.where.src).eval(entry.where.ast, env, where_of(record)))


# ------------------------------------------------------------------ gold answers


def gold_table(entry: TaskEntry, record: Mapping[str, Any]) -> AnswerTable:
    """The record's answer field as a table with the task's columns (before rules).

    Values are stripped of surrounding whitespace — the domain on which every answer format
    round-trips — and rows with no value at all are no answer."""
    task = entry.task
    value = record.get(task.answer_field)
    rows: list[tuple[str, ...]] = []
    items = [] if value in (None, "") else (value if isinstance(value, list) else [value])
    for item in items:
        row = _row_of(item, task.columns, record)
        if any(row):  # a row of empty strings is no answer
            rows.append(row)
    return AnswerTable.of(task.columns, rows, "many")


def _row_of(item: Any, columns: tuple[str, ...], record: Mapping[str, Any]) -> tuple[str, ...]:
    if isinstance(item, Mapping):
        missing = [c for c in columns if c not in item]
        if missing:
            raise RecordError(f"gold item {item!r} lacks {', '.join(missing)} ({where_of(record)})",
                              expected="objects with keys " + ", ".join(columns))
        return tuple("" if item[c] is None else str(item[c]).strip() for c in columns)
    if len(columns) == 1 and isinstance(item, (str, int, float)):
        return (str(item).strip(),)
    raise RecordError(f"gold item {item!r} does not fit the answer columns ({where_of(record)})",
                      expected="objects with keys " + ", ".join(columns) if len(columns) > 1 else "strings")


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
                raise RecordError(f"preference rule '{rule.id}': {exc.args[0]}") from None
    rows = state.table.rows[:1] if entry.task.cardinality == "one" else state.table.rows
    return AnswerState(AnswerTable(table.fields, rows, entry.task.cardinality), state.empty)


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


def render_record(ctx: RenderContext, record: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    entry = ctx.entry
    base = restrict_to_labels(entry, gold_table(entry, record), ctx.labels)
    state = apply_rules(entry, ctx.constants, record, base)
    empty = state.empty if not state.table.rows else None
    combos = _choose_variants(entry, record)
    for k, (template, variant) in enumerate(combos):
        rng = random.Random(stable_hash(entry.seed, entry.id, record["_source"], record["_row"], k))
        shown = _sample_labels(ctx, state.table, rng)
        variables = _template_vars(entry, record, shown, variant, declared_empty(entry.rules))
        instruction = render_template(template.text, variables, f"{template.task}/{template.id}", template.origin)
        output = formats.render(variant.spec, state.table, empty=empty, seed=rng.randrange(1 << 30), language=entry.language)
        yield {
            "id": f"{stable_hash(ctx.recipe, entry.id, record['_source'], record['_row'], k):016x}",
            "task": entry.task.id, "task_entry": entry.id, "family": entry.task.family, "language": entry.language,
            "instruction": instruction, "output": output,
            "gold": json.dumps(state.table.as_dicts(), ensure_ascii=False),
            "answer_format": variant.id, "template": f"{template.task}/{template.id}",
            "labels": list(shown), "guidelines": [g.id for g in entry.guidelines],
            "rules": [r.id for r in entry.rules], "source": record["_source"], "source_row": int(record["_row"]),
            "_empty": empty,
        }


def _choose_variants(entry: TaskEntry, record: Mapping[str, Any]) -> list[tuple[Template, Variant]]:
    """k distinct (template, format) pairs for this record, chosen deterministically."""
    pairs = [(t, v) for t in entry.templates for v in entry.variants]
    rng = random.Random(stable_hash("variants", entry.seed, entry.id, record["_source"], record["_row"]))
    return rng.sample(pairs, min(entry.variants_per_record, len(pairs)))


def _sample_labels(ctx: RenderContext, table: AnswerTable, rng: random.Random) -> tuple[str, ...]:
    """Positive labels plus sampled negatives, as IEPile/Hum do for closed-schema tasks."""
    entry, column = ctx.entry, ctx.entry.task.schema_column
    if column is None or ctx.labels is None:
        return ()
    schema = entry.schema
    positives = list(dict.fromkeys(table.column(column)))
    others = [label for label in ctx.labels if label not in positives]
    if schema is not None and schema.negatives is not None:
        others = rng.sample(others, min(schema.negatives, len(others)))
    shown = positives + others
    if schema is None or schema.shuffle:
        rng.shuffle(shown)
    else:
        order = {label: i for i, label in enumerate(ctx.labels)}
        shown.sort(key=lambda label: order.get(label, len(order)))
    return tuple(shown)


def _template_vars(entry: TaskEntry, record: Mapping[str, Any], labels: Sequence[str], variant: Variant,
                   empty: str | None) -> dict[str, Any]:
    lang = entry.language
    definitions = {label: text for g in entry.guidelines for label, text in g.labels}
    variables: dict[str, Any] = {name: record.get(name) for name in entry.task.inputs}
    options = record.get("options") or []
    variables.update(
        labels=list(labels),
        label_definitions={label: definitions[label] for label in labels if label in definitions},
        guidelines=[g.text for g in entry.guidelines if g.text],
        rules=[r.text.get(lang) or r.text.get("en", "") for r in entry.rules if r.text],
        columns=list(entry.task.columns),
        option_labels=list(record.get("option_labels") or OPTION_LETTERS[:len(options)]),
        format_instruction=_format_instruction(*_variant_text(variant, lang),
                                               tuple(formats.shown_keys(variant.spec, entry.task.columns)),
                                               entry.task.cardinality, empty, variant.id),
    )
    return variables


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


def check_rendered(entry: TaskEntry, record: Mapping[str, Any]) -> str | None:
    """Parse the rendered output back; returns a reason when it does not equal the gold answer."""
    variant = next(v for v in entry.variants if v.id == record["answer_format"])
    try:
        parsed = formats.parse(variant.spec, record["output"], entry.task.columns, entry.task.cardinality,
                               empty=record.get("_empty"), unfence=False)
    except HumcError as exc:
        return f"unparseable output ({exc.message})"
    if [list(r) for r in parsed.rows] != [list(d.values()) for d in json.loads(record["gold"])]:
        return "parsed output differs from gold"
    return None
