"""Answer format variants: render a gold AnswerTable as text, and parse such text back.

The law every codec obeys (tested with hypothesis):

    parse(spec, render(spec, table, context=c), table.fields, table.cardinality, context=c) == canonical(spec, table, c)

for gold values without leading/trailing whitespace. Codecs:

    json            ["Paris"] / [{"type": "LOC", "span": "Paris"}] / {"answer": "x"}
    jsonl           one JSON object per line
    tuples          Python-like literals: [('LOC', 'Paris')] / ('LOC', 'Paris') / 'x'
    markdown_table  | type | span |  with a header row
    markdown_list   - type: LOC; span: Paris
    natural         The answers are "Paris" and "Rome".  (no full stop after a value ending in one: "… of time.")
    text            the bare value (one column): a free-form response, or one value per line
    label           the label itself (one column), matched back to the record's labels
    yaml            the json shapes as YAML
    grouped_json    IEPile style, keyed by the schema labels: {"PER": ["Ada"], "LOC": []}
    inline_tags     the input text with tagged spans: <PER>Ada</PER> lives in <LOC>London</LOC> (every mention of a
                    (label, span) when the answer lists each once: ``FormatContext.every_mention``)

Some formats need the record besides its answer (``FormatContext``): its schema labels (grouped_json's keys,
label's label set) and the text spans are tagged in (inline_tags). A format may express only one order of the
rows (grouped_json: by schema label; inline_tags: by position), so the law is stated on ``canonical(table)``;
for the other codecs that is the table itself. An answer a format cannot write down (overlapping spans as inline
tags, a span that is not in the text) raises ``NotExpressible``: the build skips that format for that record.

Modifiers (later pipeline stages, e.g. ``json | shuffle_keys(seed=3)``) set one render
setting each; a variant file may set the same settings under ``options:``.

Checking a build parses every output back, so parsing is on the hot path: the tuples format reads the literals
it writes (``repr`` of plain strings) without compiling them (``simple_literal``; anything else goes to
``ast.literal_eval``), and only ``shuffle_keys`` seeds a random generator.
"""

from __future__ import annotations

import ast
import functools
import json
import random
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from humc.answers.ops import MANY_VALUES, Claimed, ManyClaimed, in_reading_order, occurrences
from humc.answers.table import AnswerTable, as_cardinality
from humc.errors import FormatParseError, HumcError, did_you_mean

Row = tuple[str, ...]
_JSON_STR = json.encoder.encode_basestring  # how json.dumps(..., ensure_ascii=False) writes a str


class NotExpressible(FormatParseError):
    """An answer this format cannot write down for this record (overlapping spans as inline tags, a span that
    is not in the text, a label on several lines): the build skips the format for the record and counts it."""


@dataclass(frozen=True)
class FormatContext:
    """What some formats need of the record besides its answer.

    ``labels``: the schema labels the instruction shows, in order (grouped_json's keys, label's label set);
    ``label_column``: the answer column holding them (the task's schema column); ``text``: the input answer
    spans are copied from (inline_tags writes it out with the spans tagged); ``every_mention``: the answer lists
    each (label, span) once (a `dedupe` rule), so inline_tags tags every mention of it (``_tags``) and reads a
    tagged text back as its distinct (label, span) rows."""

    labels: tuple[str, ...] = ()
    label_column: str | None = None
    text: str | None = None
    every_mention: bool = False


NO_CONTEXT = FormatContext()


@dataclass(frozen=True)
class FormatSpec:
    codec: str
    options: Mapping[str, Any] = field(default_factory=dict)
    modifiers: tuple[tuple[str, Mapping[str, Any]], ...] = ()


# ------------------------------------------------------------------ settings


@dataclass(frozen=True)
class Setting:
    arg: str                        # the modifier's argument name
    check: Callable[[Any], bool]
    describe: str
    default: Any                    # value when the modifier is used without an argument
    kind: str = "integer"           # the kind of value it takes (a value of another kind is a wrong type, E0007)


KEY_CASES = {"upper": str.upper, "lower": str.lower, "title": str.title}
ALL_KWARGS = "**"  # a Setting whose value is the modifier's keyword arguments, as a mapping


def _is_renaming(v: Any) -> bool:
    return isinstance(v, Mapping) and bool(v) and all(isinstance(k, str) and isinstance(x, str) and x.strip()
                                                      for k, x in v.items())


def _is_nesting(v: Any) -> bool:
    return (isinstance(v, Mapping) and len(v) == 1 and all(isinstance(k, str) and k for k in v)
            and all(isinstance(cols, list) and cols and all(isinstance(c, str) for c in cols) for cols in v.values()))

SETTINGS: dict[str, Setting] = {
    "shuffle_keys": Setting("seed", lambda v: type(v) is int, "shuffle_keys(seed=<int>)", 0),
    "indent": Setting("n", lambda v: type(v) is int and 0 <= v <= 8, "indent(<0..8>)", 2),
    "key_case": Setting("case", lambda v: isinstance(v, str) and v in KEY_CASES, 'key_case("upper"|"lower"|"title")', None, "string"),
    "ensure_ascii": Setting("on", lambda v: type(v) is bool, "ensure_ascii(true|false)", True, "boolean"),
    "compact": Setting("on", lambda v: type(v) is bool, "compact(true|false)", True, "boolean"),
    "keys": Setting(ALL_KWARGS, _is_renaming, 'keys(<column>="<key>", ...): a key for some columns', None, "object"),
    "nest": Setting(ALL_KWARGS, _is_nesting, 'nest(<key>=["<column>", ...]): one list key gathering these columns',
                    None, "object"),
}


def value_kind(value: Any) -> str:
    """A setting value's kind in the recipe language's words (integer, number, string, boolean, list, object, null)."""
    if value is None:
        return "null"
    for kind, types in (("boolean", bool), ("integer", int), ("number", float), ("string", str), ("list", list),
                        ("object", Mapping)):
        if isinstance(value, types):
            return kind
    return type(value).__name__


def setting_columns(name: str, value: Any) -> list[str]:
    """The answer columns a checked ``keys`` / ``nest`` value names (none for the other settings)."""
    if name == "keys":
        return [str(c) for c in value]
    if name == "nest":
        return [str(c) for cols in value.values() for c in cols]
    return []


def codec_names() -> tuple[str, ...]:
    return tuple(CODECS)


def is_single_column(codec: str) -> bool:
    """Whether a codec holds one answer column only (such as ``text``)."""
    return CODECS[codec].single_column


def empty_is_expressible(codec: str, cardinality: str) -> bool:
    """Whether the codec's own rendering of "no answer" is what its instruction sentence promises
    even without an `empty_as` rule (an empty list, "There is no answer.", "(none)", a bare header,
    nothing for JSON lines). Elsewhere — a JSON object, a quoted string, a bare value — an empty
    answer would contradict the instruction ("null" where an object is asked for)."""
    return cardinality in CODECS[codec].empty_expressible


def modifier_names() -> tuple[str, ...]:
    return tuple(SETTINGS)


def shown_keys(spec: FormatSpec, fields: Sequence[str]) -> list[str]:
    """The column names as this variant writes them (after key_case)."""
    return _cased(fields, settings(spec))


def nested_keys(spec: FormatSpec, columns: Sequence[str], label: str | None) -> dict[str, list[str]]:
    """The list a `nest` modifier gathers, as this variant writes it: {its key: the keys of its entries} (EE's
    {"arguments": ["role", "argument"]}), or {} when it nests nothing (no `nest`, or not these columns)."""
    s = settings(spec)
    if not s.get("nest") or label is None or label not in columns:
        return {}
    g = _groups(columns, {**s, "label_index": list(columns).index(label), "columns": list(columns)})
    keys = _cased(columns, s)
    return {g.nest_key: [keys[i] for i in g.inner]} if g.nest_key else {}


def check_spec(spec: FormatSpec) -> None:
    """Raise HumcError unless the codec, its options and modifiers are all valid."""
    settings(spec)


_SETTINGS: dict[int, tuple[FormatSpec, dict[str, Any]]] = {}  # id(spec) -> (spec, its settings): checked once


def settings(spec: FormatSpec) -> dict[str, Any]:
    """The spec's checked options and modifiers (computed once per spec object; callers must not change it)."""
    memo = _SETTINGS.get(id(spec))
    if memo is not None and memo[0] is spec:
        return memo[1]
    out = _settings(spec)
    if len(_SETTINGS) > 4096:
        _SETTINGS.clear()
    _SETTINGS[id(spec)] = (spec, out)  # the spec is kept alive, so its id is not reused while memoised
    return out


def _settings(spec: FormatSpec) -> dict[str, Any]:
    if spec.codec not in CODECS:
        raise HumcError(f"unknown answer codec '{spec.codec}'", expected="one of: " + ", ".join(CODECS), code="E2006")
    allowed = CODECS[spec.codec].settings
    out: dict[str, Any] = {}
    for name, value in spec.options.items():
        out[name] = _checked(spec.codec, allowed, name, value, "option")
    for name, kwargs in spec.modifiers:
        out[name] = _checked(spec.codec, allowed, name, _modifier_value(name, kwargs), "modifier")
    return out


def check_modifier(codec: str, name: str, kwargs: Mapping[str, Any]) -> Any:
    """One modifier's checked value (``kwargs``: its keyword arguments, ``_args`` its positional ones) for ``codec``;
    HumcError with the modifier's own words otherwise. Compile time only: a spec's settings are checked once."""
    return _checked(codec, CODECS[codec].settings, name, _modifier_value(name, kwargs), "modifier")


def check_option(codec: str, name: str, value: Any) -> Any:
    """One option's checked value (a variant's ``options:`` or a codec head's ``json(indent=2)``) for ``codec``."""
    return _checked(codec, CODECS[codec].settings, name, value, "option")


def _modifier_value(name: str, kwargs: Mapping[str, Any]) -> Any:
    setting = SETTINGS.get(name)
    if setting is None:
        return None  # reported by _checked
    args = list(kwargs.get("_args", []))
    named = {k: v for k, v in kwargs.items() if k != "_args"}
    if setting.arg == ALL_KWARGS:
        if args or not named:
            raise HumcError(f"bad arguments for modifier '{name}': it takes named arguments only, "
                            + ("none were given" if not args else f"not {len(args)} positional one(s)"),
                            expected=setting.describe, hint=f"e.g. {name}(" + ('span=["span"]' if name == "nest"
                                                                               else 'span="text"') + ")", code="E0008")
        return named
    unknown = sorted(set(named) - {setting.arg})
    if unknown:
        raise HumcError(f"bad arguments for modifier '{name}': it has no argument '{unknown[0]}'",
                        expected=setting.describe, hint=f"its one argument is '{setting.arg}'", code="E0008")
    if len(args) + len(named) > 1:
        raise HumcError(f"bad arguments for modifier '{name}': it takes one argument, {len(args) + len(named)} were given",
                        expected=setting.describe, code="E0008")
    if not args and not named:
        if setting.default is None:
            raise HumcError(f"modifier '{name}' needs an argument", expected=setting.describe, code="E0008")
        return setting.default
    return args[0] if args else named[setting.arg]


def _checked(codec: str, allowed: frozenset[str], name: str, value: Any, kind: str) -> Any:
    if name not in SETTINGS:
        raise HumcError(f"unknown format {kind} '{name}'", expected="one of: " + ", ".join(SETTINGS),
                        hint=did_you_mean(name, SETTINGS), code="E2006")
    if name not in allowed:
        takes = [c for c, codec_def in CODECS.items() if name in codec_def.settings]
        raise HumcError(f"format {kind} '{name}' does not apply to codec '{codec}'",
                        expected=f"for {codec}: " + (", ".join(sorted(allowed)) or "no options"),
                        hint=f"'{name}' applies to: {', '.join(takes)}", code="E2006")
    setting = SETTINGS[name]
    if not setting.check(value):
        inner = _inner_misfit(name, value)
        wrong_kind = value_kind(value) != setting.kind or inner
        why = (f": its values must be {'texts' if name == 'keys' else 'lists of texts'}" if inner
               else f": {_a(value_kind(value))} where {_a(setting.kind)} is expected" if wrong_kind else "")
        raise HumcError(f"bad value {value!r} for format {kind} '{name}'" + why,
                        expected=setting.describe, hint=_value_hint(name, value), code="E0007" if wrong_kind else "E0008")
    return value


def _inner_misfit(name: str, value: Any) -> bool:
    """A `keys` / `nest` mapping holding something other than texts (keys) or lists of texts (nest): a wrong type."""
    if not isinstance(value, Mapping) or name not in ("keys", "nest"):
        return False
    if name == "keys":
        return any(not isinstance(v, str) for v in value.values())
    return any(not isinstance(v, list) or not all(isinstance(c, str) for c in v) for v in value.values())


def _a(kind: str) -> str:
    return kind if kind == "null" else ("an " if kind[0] in "aeiou" else "a ") + kind


def _value_hint(name: str, value: Any) -> str | None:
    """How to write a refused setting value, when the fix is known."""
    setting = SETTINGS[name]
    if isinstance(value, str) and setting.kind == "string":
        return did_you_mean(value, KEY_CASES)
    if isinstance(value, str) and setting.kind == "integer" and value.strip().lstrip("-").isdigit():
        return f"write the number without quotes: {name}({value.strip()})"
    if isinstance(value, str) and setting.kind == "boolean" and value.lower() in ("true", "false", "yes", "no"):
        return f"write {name}({'true' if value.lower() in ('true', 'yes') else 'false'}), without quotes"
    if type(value) is int and setting.kind == "boolean" and value in (0, 1):
        return f"write {name}({'true' if value else 'false'})"
    if type(value) is int and name == "indent":
        return "an indent of 0 to 8 spaces"
    return None


# ------------------------------------------------------------------ public API


def render(spec: FormatSpec, table: AnswerTable, empty: str | None = None, seed: int = 0,
           language: str = "en", context: FormatContext = NO_CONTEXT) -> str:
    """The table as text. ``empty`` replaces the codec's own rendering of an empty answer;
    ``language`` picks the phrasing of the natural-language format (en, zh); ``context`` is what
    some formats need of the record (see ``FormatContext``). Raises ``NotExpressible``."""
    codec = CODECS[spec.codec]
    own_empty = codec.empty(table.cardinality, language)
    if not table.rows and (empty is not None or own_empty is not None):
        return empty if empty is not None else own_empty or ""
    s = {**settings(spec), "language": language, **_context_settings(context, table.fields)}
    # only shuffle_keys draws from the rng (``_key_order``): without it no generator is seeded
    rng = random.Random(s.get("shuffle_keys", 0) * 1_000_003 + seed) if "shuffle_keys" in s else _NO_DRAWS
    return codec.render(table, s, rng)


class _NoDraws(random.Random):
    """The rng a codec gets when its spec does not shuffle keys: drawing from it is a bug (an output that
    would depend on a seed no setting asked for), so it raises instead of drawing."""

    def random(self) -> float:
        raise AssertionError("a format drew a random number without shuffle_keys")

    def getrandbits(self, k: int, /) -> int:
        raise AssertionError("a format drew a random number without shuffle_keys")


_NO_DRAWS = _NoDraws(0)


def parse(spec: FormatSpec, text: str, fields: Sequence[str], cardinality: str,
          empty: str | None = None, unfence: bool = True, context: FormatContext = NO_CONTEXT) -> AnswerTable:
    """Text in this format -> AnswerTable (in the format's canonical row order); raises FormatParseError.

    ``unfence`` drops a ```lang … ``` fence around the whole text, as model outputs often
    have; checking humc's own renderings turns it off (a gold answer may be a fenced block)."""
    fields = tuple(fields)
    stripped = _unfence(text) if unfence else text.strip()
    codec = CODECS[spec.codec]
    if stripped == (empty and empty.strip()) or stripped in _own_empties(spec.codec, cardinality):
        return AnswerTable(fields, (), as_cardinality(cardinality))
    s = {**settings(spec), **_context_settings(context, fields)}
    try:
        rows = codec.parse(stripped, tuple(_cased(fields, s)), cardinality, s)
    except RecursionError:  # a model's answer of 5000 nested brackets: json/yaml recurse once per level
        raise FormatParseError("the answer is nested too deeply to read") from None
    except ValueError:  # what a codec's reader (yaml's int(), a date) or str() of a read value raises past its checks
        raise FormatParseError("the answer holds a value that cannot be read: a number over 4300 digits long, or an "
                               "impossible date") from None
    if cardinality == "one" and len(rows) > 1:
        raise FormatParseError(f"expected one answer, found {len(rows)}")
    return AnswerTable(fields, tuple(rows), as_cardinality(cardinality))


@functools.lru_cache(maxsize=64)
def _own_empties(codec: str, cardinality: str) -> frozenset[str | None]:
    """The codec's own renderings of an empty answer, in every language it is phrased in."""
    return frozenset(CODECS[codec].empty(cardinality, lang) for lang in PHRASINGS)


def canonical(spec: FormatSpec, table: AnswerTable, context: FormatContext = NO_CONTEXT) -> AnswerTable:
    """The table in the row order the format writes (grouped by label, or by position in the text): what
    ``parse(render(table))`` gives back. The table itself for formats that keep any order."""
    order = CODECS[spec.codec].order
    if order is None or not table.rows:
        return table
    s = {**settings(spec), **_context_settings(context, table.fields)}
    return table.with_rows(order(table, s))


def fit_problem(spec: FormatSpec, columns: Sequence[str], schema_column: str | None,
                span_columns: Sequence[str] = ()) -> str | None:
    """Why this format cannot write answers with these columns (a sentence), or None.

    ``schema_column`` is the task's label column; ``span_columns`` the columns copied from the input."""
    codec = CODECS[spec.codec]
    if codec.single_column and len(columns) != 1:
        return f"holds a single answer column, but this task has {len(columns)}"
    if codec.needs_labels and (schema_column is None or len(columns) < 2):
        return "groups answers by schema label, but this task has no label column besides its answer"
    if codec.needs_spans and (schema_column is None or len(columns) != 2 or not set(span_columns) - {schema_column}):
        return "tags spans in the text, which needs a task whose answer is (label, span copied from the input)"
    shown = _cased(columns, settings(spec))
    if len({k.lower() for k in shown}) != len(shown):
        return f"writes the columns as {', '.join(shown)}: two columns would share a key"
    return None


def _context_settings(context: FormatContext, fields: Sequence[str]) -> dict[str, Any]:
    column = context.label_column
    index = list(fields).index(column) if column is not None and column in fields else None
    return {"context": context, "label_index": index, "columns": tuple(fields)}


@dataclass(frozen=True)
class Codec:
    """Everything about one answer format, in one place: adding a format is one entry in ``CODECS`` (plus its
    instruction sentences, which are data: ``stdlib/variants/<name>.yaml``)."""

    render: Callable[[AnswerTable, dict[str, Any], random.Random], str]
    parse: Callable[[str, Row, str, Mapping[str, Any]], list[Row]]  # (text, shown keys, cardinality, settings)
    empty: Callable[..., str | None]  # (cardinality, language) -> text of an empty answer; None: render normally
    settings: frozenset[str] = frozenset()          # the modifiers that apply (shuffle_keys, indent, …)
    empty_expressible: frozenset[str] = frozenset({"one", "many"})  # cardinalities whose empty rendering is promised
    single_column: bool = False                     # holds one answer column only
    order: Callable[[AnswerTable, Mapping[str, Any]], list[Row]] | None = None  # the only row order it writes
    needs_labels: bool = False                      # groups rows by the schema column
    needs_spans: bool = False                       # tags (label, span) rows in the input text


def _unfence(text: str) -> str:
    """Drop a surrounding ```lang … ``` fence, as LLMs often add one."""
    t = text.strip()
    if t.startswith("```") and t.endswith("```") and "\n" in t:
        t = t[t.index("\n") + 1:-3]
    return t.strip()


# ------------------------------------------------------------------ keys and rows


def _cased(fields: Sequence[str], s: Mapping[str, Any]) -> list[str]:
    """Column names as written: renamed by `keys`, then cased by `key_case`."""
    if not s.get("key_case") and not s.get("keys"):
        return [str(f) for f in fields]  # neither renamed nor cased (the usual variant)
    case = KEY_CASES.get(s.get("key_case") or "")
    renamed = [str((s.get("keys") or {}).get(f, f)) for f in fields]
    return [case(f) if case else f for f in renamed]


def _keys(table: AnswerTable, s: Mapping[str, Any]) -> list[str]:
    return _cased(table.fields, s)


def _key_order(n: int, s: Mapping[str, Any], rng: random.Random) -> list[int]:
    order = list(range(n))
    if "shuffle_keys" in s:
        rng.shuffle(order)
    return order


def _obj(row: Row, keys: list[str], order: list[int]) -> dict[str, str]:
    return {keys[i]: row[i] for i in order}


def _row_from_obj(obj: Mapping[str, Any], fields: Row) -> Row:
    by_key = {str(k).lower(): v for k, v in obj.items()}
    wanted, expected = _wanted_keys(tuple(fields))
    if sorted(by_key) != expected:
        raise FormatParseError(f"object has keys {sorted(obj)}, expected {list(fields)}")
    return tuple([_text(by_key[k]) for k in wanted])


@functools.lru_cache(maxsize=256)
def _wanted_keys(fields: Row) -> tuple[list[str], list[str]]:
    """The keys an answer object must have, lower-cased: in column order, and sorted (callers do not change them)."""
    wanted = [f.lower() for f in fields]
    return wanted, sorted(wanted)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise FormatParseError(f"answer value {value!r} is not text")


def _row_from_item(item: Any, fields: Row) -> Row:
    if isinstance(item, Mapping):
        return _row_from_obj(item, fields)
    if isinstance(item, (list, tuple)) and len(item) == len(fields) and len(fields) > 1:
        return tuple(_text(v) for v in item)
    if len(fields) == 1 and not isinstance(item, (list, tuple, Mapping)):
        return (_text(item),)
    raise FormatParseError(f"answer item {item!r} does not match the columns {list(fields)}")


def _rows_from_data(data: Any, fields: Row, cardinality: str) -> list[Row]:
    if cardinality == "one":
        return [] if data is None else [_row_from_item(data, fields)]
    if not isinstance(data, list):
        raise FormatParseError(f"expected a list of answers, found {type(data).__name__}")
    return [_row_from_item(item, fields) for item in data]


# ------------------------------------------------------------------ json / jsonl


def _dump(value: Any, s: Mapping[str, Any], one_line: bool = False) -> str:
    compact = s.get("compact", False)
    return _encoder(bool(s.get("ensure_ascii", False)), None if one_line or compact else s.get("indent"),
                    bool(compact)).encode(value)


@functools.lru_cache(maxsize=64)
def _encoder(ensure_ascii: bool, indent: int | None, compact: bool) -> json.JSONEncoder:
    """The encoder ``json.dumps(value, ensure_ascii=…, indent=…, separators=…)`` builds, built once per setting."""
    return json.JSONEncoder(ensure_ascii=ensure_ascii, indent=indent, separators=(",", ":") if compact else None)


def _plain_value(table: AnswerTable, s: dict[str, Any], rng: random.Random) -> Any:
    """The answer as JSON-like data: one object (or None), a list of values (one column), or a list of objects."""
    keys = _keys(table, s)
    if table.cardinality == "one":
        return _obj(table.rows[0], keys, _key_order(len(keys), s, rng)) if table.rows else None
    if len(table.fields) == 1:
        return [r[0] for r in table.rows]
    return [_obj(r, keys, _key_order(len(keys), s, rng)) for r in table.rows]


def _render_json(table: AnswerTable, s: dict[str, Any], rng: random.Random) -> str:
    return _dump(_plain_value(table, s, rng), s)


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise FormatParseError(f"invalid JSON: {exc}", code="E0008") from None


def _parse_json(text: str, fields: Row, cardinality: str, s: Mapping[str, Any]) -> list[Row]:
    return _rows_from_data(_loads(text), fields, cardinality)


def _render_jsonl(table: AnswerTable, s: dict[str, Any], rng: random.Random) -> str:
    keys = _keys(table, s)
    return "\n".join(_dump(_obj(r, keys, _key_order(len(keys), s, rng)), s, one_line=True) for r in table.rows)


def _parse_jsonl(text: str, fields: Row, cardinality: str, s: Mapping[str, Any]) -> list[Row]:
    rows = []
    for n, line in enumerate(text.split("\n"), 1):
        if line.strip():
            obj = _loads(line)
            if not isinstance(obj, dict):
                raise FormatParseError(f"line {n} is not a JSON object")
            rows.append(_row_from_obj(obj, fields))
    return rows


# ------------------------------------------------------------------ tuples


def _render_tuples(table: AnswerTable, s: dict[str, Any], rng: random.Random) -> str:
    single = len(table.fields) == 1
    if table.cardinality == "one":
        return repr(table.rows[0][0] if single else tuple(table.rows[0])) if table.rows else "None"
    return repr([r[0] if single else tuple(r) for r in table.rows])


def _parse_tuples(text: str, fields: Row, cardinality: str, s: Mapping[str, Any]) -> list[Row]:
    data = simple_literal(text)
    if data is NOT_SIMPLE:
        try:
            data = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
            raise FormatParseError(f"not a Python literal: {exc}") from None
    return _rows_from_data(data, fields, cardinality)


NOT_SIMPLE: Any = object()
"""What ``simple_literal`` returns for a text it leaves to ``ast.literal_eval``."""

_LITERAL_TOKEN = re.compile(r"""[\[\]()]|, ?|'[^'\\\n\r]*'|"[^"\\\n\r]*"|None""")
_LITERAL_DEPTH = 4


def simple_literal(text: str) -> Any:
    """``ast.literal_eval(text)`` for the literals the tuples format writes, read without compiling them: ``None``,
    strings without escapes whose characters are all printable, and lists and tuples of these written as ``repr``
    writes them (", " or "," between items, no other spaces, nesting at most ``_LITERAL_DEPTH`` deep).
    ``NOT_SIMPLE`` for any other text (including every text ``ast.literal_eval`` would refuse)."""
    tokens: list[str] = []
    at = 0
    while at < len(text):
        m = _LITERAL_TOKEN.match(text, at)
        if m is None:
            return NOT_SIMPLE
        tokens.append(m.group())
        at = m.end()
    value, end = _literal_value(tokens, 0, 0)
    return value if end == len(tokens) else NOT_SIMPLE


def _literal_value(tokens: list[str], k: int, depth: int) -> tuple[Any, int]:
    """The value whose tokens start at ``k`` and the index after them (``NOT_SIMPLE`` when it is none)."""
    if k >= len(tokens):
        return NOT_SIMPLE, k
    token = tokens[k]
    if token[0] in "'\"":
        content = token[1:-1]
        return (content, k + 1) if content.isprintable() else (NOT_SIMPLE, k)
    if token == "None":
        return None, k + 1
    if token not in ("[", "(") or depth >= _LITERAL_DEPTH:
        return NOT_SIMPLE, k
    close = "]" if token == "[" else ")"
    items: list[Any] = []
    k += 1
    comma = False  # a comma before the closing bracket: ('a',) is a tuple, ('a') the string
    if k < len(tokens) and tokens[k] == close:
        k += 1
    else:
        while True:
            value, k = _literal_value(tokens, k, depth + 1)
            if value is NOT_SIMPLE or k >= len(tokens):
                return NOT_SIMPLE, k
            items.append(value)
            if tokens[k] == close:
                k += 1
                break
            if tokens[k][0] != ",":
                return NOT_SIMPLE, k
            k += 1
            if k < len(tokens) and tokens[k] == close:
                comma = True
                k += 1
                break
    if close == "]":
        return items, k
    if len(items) == 1 and not comma:
        return items[0], k  # a value in parentheses
    return tuple(items), k


# ------------------------------------------------------------------ markdown

_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r"}
_UNESCAPES = {"n": "\n", "r": "\r"}


def _escape(value: str, special: str) -> str:
    if "\\" not in value and "\n" not in value and "\r" not in value and not any(ch in value for ch in special):
        return value  # nothing to escape (the usual value)
    return "".join(_ESCAPES.get(ch) or ("\\" + ch if ch in special else ch) for ch in value)


def _split_escaped(line: str, sep: str | None = None) -> list[str]:
    """Split on unescaped `sep` (never, when None), unescaping \\x sequences in the parts."""
    if "\\" not in line:  # nothing escaped (the usual line)
        return [line] if sep is None else line.split(sep)
    parts: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == "\\" and i + 1 < len(line):
            cur.append(_UNESCAPES.get(line[i + 1], line[i + 1]))
            i += 2
            continue
        if ch == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


def _md_cell(value: str) -> str:
    return _escape(value, "|")


def _render_md_table(table: AnswerTable, s: dict[str, Any], rng: random.Random) -> str:
    keys = _keys(table, s)
    lines = ["| " + " | ".join(_md_cell(k) for k in keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in table.rows]
    return "\n".join(lines)


def _md_cells(line: str, n: int) -> list[str]:
    line = line.strip()
    cells = _split_escaped(line[1:], "|") if line.startswith("|") else []
    if not cells or cells[-1].strip():
        raise FormatParseError(f"table row {line!r} must start and end with '|'")
    if len(cells) - 1 != n:
        raise FormatParseError(f"table row {line!r} has {len(cells) - 1} cells, expected {n}")
    return [c.strip() for c in cells[:-1]]


def _parse_md_table(text: str, fields: Row, cardinality: str, s: Mapping[str, Any]) -> list[Row]:
    lines = [ln for ln in text.split("\n") if ln.strip()]
    if len(lines) < 2 or not set(lines[1].replace("|", "").strip()) <= set("-: "):
        raise FormatParseError("a markdown table needs a header row and a |---| separator row")
    header = [h.lower() for h in _md_cells(lines[0], len(fields))]
    if sorted(header) != sorted(f.lower() for f in fields):
        raise FormatParseError(f"table columns {header} differ from {list(fields)}")
    order = [header.index(f.lower()) for f in fields]
    return [tuple(cells[i] for i in order) for cells in (_md_cells(ln, len(fields)) for ln in lines[2:])]


NONE_ITEM = "(none)"


def _render_md_list(table: AnswerTable, s: dict[str, Any], rng: random.Random) -> str:
    keys = _keys(table, s)
    if len(keys) == 1:
        return "\n".join(f"- {_escape(r[0], '')}" for r in table.rows)
    # an empty value is "key:" with no space after the colon (no trailing space at the end of a line)
    return "\n".join("- " + "; ".join(f"{k}: {_escape(v, ';')}" if v else f"{k}:" for k, v in zip(keys, r, strict=True))
                     for r in table.rows)


def _parse_md_list(text: str, fields: Row, cardinality: str, s: Mapping[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for line in (ln.strip() for ln in text.split("\n")):
        if not line:
            continue
        if not (line[:2] in ("- ", "* ") or line in ("-", "*")):
            raise FormatParseError(f"list item {line!r} must start with '- '")
        item = line[2:]
        if len(fields) == 1:
            rows.append((_split_escaped(item)[0].strip(),))
            continue
        obj = {}
        for part in _split_escaped(item, ";"):
            key, colon, value = part.partition(":")
            if not colon:
                raise FormatParseError(f"list item part {part!r} needs 'key: value'")
            obj[key.strip()] = value.strip()
        rows.append(_row_from_obj(obj, fields))
    return rows


# ------------------------------------------------------------------ natural language

@dataclass(frozen=True)
class Phrasing:
    one: str          # "The answer is {v}."
    many: str         # "The answers are {vs}."
    sep: str          # between values, before the last
    last_sep: str     # before the last value
    pair: str         # "{k} is {v}"
    pair_sep: str     # between pairs of one answer
    one_row: str      # "The answer: {d}."
    many_rows: str    # "There are {n} answers: {ds}."
    row_sep: str
    none: str         # the empty answer


PHRASINGS = {
    "en": Phrasing("The answer is {v}.", "The answers are {vs}.", ", ", " and ", "{k} is {v}", ", ",
                   "The answer: {d}.", "There are {n} answers: {ds}.", "; ", "There is no answer."),
    "zh": Phrasing("答案是 {v}。", "答案是 {vs}。", "、", "和", "{k} 为 {v}", "，",
                   "答案：{d}。", "共有 {n} 个答案：{ds}。", "；", "没有答案。"),
}
NO_ANSWER = PHRASINGS["en"].none
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_PAIR = re.compile(r"([A-Za-z_]\w*) (?:is|为) (" + _QUOTED + ")")


def _quote(value: str) -> str:
    return _JSON_STR(value)  # json.dumps(value, ensure_ascii=False) of a str


def _render_natural(table: AnswerTable, s: dict[str, Any], rng: random.Random) -> str:
    return _closed(_natural_sentence(table, s), table.rows[-1][-1] if table.rows else "")


def _natural_sentence(table: AnswerTable, s: dict[str, Any]) -> str:
    p = PHRASINGS.get(s.get("language", "en"), PHRASINGS["en"])
    keys, rows = _keys(table, s), table.rows
    if len(keys) == 1:
        quoted = [_quote(r[0]) for r in rows]
        if len(rows) == 1:
            return p.one.format(v=quoted[0])
        return p.many.format(vs=p.sep.join(quoted[:-1]) + p.last_sep + quoted[-1])
    described = [p.pair_sep.join(p.pair.format(k=k, v=_quote(v)) for k, v in zip(keys, r, strict=True)) for r in rows]
    if len(rows) == 1:
        return p.one_row.format(d=described[0])
    return p.many_rows.format(n=len(rows), ds=p.row_sep.join(f"({i}) {d}" for i, d in enumerate(described, 1)))


_SENTENCE_ENDS = frozenset(".!?…。！？")


def _closed(sentence: str, last: str) -> str:
    """The sentence without its own full stop when the quoted value it ends with ends a sentence itself
    (`The answer is "a waste of time."`, not `… time.".`); parsing reads the quoted values only."""
    if last and last[-1] in _SENTENCE_ENDS and sentence[-2:] in ('".', '"。'):
        return sentence[:-1]
    return sentence


_PLAIN_QUOTED = re.compile(r'"[^"\\\x00-\x1f]*"')  # a JSON string without escapes or control characters


def _unquote(token: str) -> str:
    if _PLAIN_QUOTED.fullmatch(token):
        return token[1:-1]  # what json.loads gives for it
    return str(json.loads(token))


def _parse_natural(text: str, fields: Row, cardinality: str, s: Mapping[str, Any]) -> list[Row]:
    if len(fields) == 1:
        values = [_unquote(m.group(0)) for m in re.finditer(_QUOTED, text)]
        if not values:
            raise FormatParseError('no quoted answer found (answers are written in "double quotes")')
        return [(v,) for v in values]
    pairs = [(m.group(1), _unquote(m.group(2))) for m in _PAIR.finditer(text)]
    n = len(fields)
    if not pairs or len(pairs) % n:
        raise FormatParseError(f'expected groups of {n} `key is "value"` pairs, found {len(pairs)} pairs')
    return [_row_from_obj(dict(pairs[i:i + n]), fields) for i in range(0, len(pairs), n)]


# ------------------------------------------------------------------ bare text


def _render_text(table: AnswerTable, s: dict[str, Any], rng: random.Random) -> str:
    _single_column(table.fields)
    if table.cardinality == "one":
        return table.rows[0][0]
    return "\n".join(_escape(r[0], "") for r in table.rows)


def _parse_text(text: str, fields: Row, cardinality: str, s: Mapping[str, Any]) -> list[Row]:
    _single_column(fields)
    if cardinality == "one":
        return [(text,)]
    return [(_split_escaped(line)[0].strip(),) for line in text.split("\n")]


def _single_column(fields: Sequence[str]) -> None:
    if len(fields) != 1:
        raise FormatParseError(f"the text format holds one column, not {len(fields)} ({', '.join(fields)})")


# ------------------------------------------------------------------ label only


def _render_label(table: AnswerTable, s: dict[str, Any], rng: random.Random) -> str:
    _single_column(table.fields)
    values = [r[0] for r in table.rows]
    if table.cardinality == "many" and any("\n" in v or "\r" in v for v in values):
        raise NotExpressible("a label written on several lines cannot be one line of a label list")
    return "\n".join(values)


def _parse_label(text: str, fields: Row, cardinality: str, s: Mapping[str, Any]) -> list[Row]:
    """Each line (the whole text for one answer) is a label; matched back to the record's labels, case and a
    closing full stop aside, so "Positive." is the label `positive`."""
    _single_column(fields)
    labels: tuple[str, ...] = s["context"].labels
    lines = [text] if cardinality == "one" else [ln.strip() for ln in text.split("\n") if ln.strip()]
    return [(_known_label(line, labels),) for line in lines]


def _known_label(value: str, labels: Sequence[str]) -> str:
    if not labels or value in labels:
        return value
    by_folded = {label.casefold(): label for label in labels}
    for candidate in (value, value.rstrip(".。"), value.strip().strip('"')):  # as listed: quoted when it holds a ", "
        found = by_folded.get(candidate.strip().casefold())
        if found is not None:
            return found
    raise FormatParseError(f"{value!r} is not one of the labels {', '.join(labels)}")


# ------------------------------------------------------------------ yaml


class _YamlDumper(yaml.SafeDumper):
    """Block style; keys keep their order; Unicode as is; no line folding."""


def _yaml_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    """Plain or quoted as PyYAML chooses, but double-quoted (with escapes) when a character is not printable
    or is a line break other than \\n (NEL, LS, PS), which a plain or single-quoted scalar would change."""
    odd = any(not ch.isprintable() for ch in value)
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"' if odd else None)


_YamlDumper.add_representer(str, _yaml_str)


def _render_yaml(table: AnswerTable, s: dict[str, Any], rng: random.Random) -> str:
    text = yaml.dump(_plain_value(table, s, rng), Dumper=_YamlDumper, allow_unicode=True, sort_keys=False, default_flow_style=False,
                     width=1 << 30)
    return str(text).removesuffix("\n...\n").rstrip("\n")


def _parse_yaml(text: str, fields: Row, cardinality: str, s: Mapping[str, Any]) -> list[Row]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FormatParseError(f"invalid YAML: {str(exc).splitlines()[0]}") from None
    except (LookupError, AttributeError):  # PyYAML's constructor failing on a malformed tagged value
        raise FormatParseError("invalid YAML: a value its tag cannot read (`!!bool x`, `!!timestamp x`)") from None
    return _rows_from_data(data, fields, cardinality)


# ------------------------------------------------------------------ grouped json (IEPile)


@dataclass(frozen=True)
class _Groups:
    """How grouped_json lays a row out: its label column, the columns of an item, and a nested list."""

    label: int
    outer: list[int]                 # columns written in the item itself
    nest_key: str | None             # the list key gathering `inner` (EE: arguments)
    inner: list[int]                 # columns of a nested entry (EE: role, argument)


def _groups(fields: Sequence[str], s: Mapping[str, Any]) -> _Groups:
    label = s.get("label_index")
    if label is None:
        raise NotExpressible("grouped answers need the record's label column")
    rest = [i for i in range(len(fields)) if i != label]
    names = s.get("columns", fields)  # the task's column names (`fields` may be the keys as written)
    for key, columns in (s.get("nest") or {}).items():
        inner = [names.index(c) for c in columns if c in names]
        if len(inner) == len(columns) and label not in inner:
            return _Groups(label, [i for i in rest if i not in inner], str(key), inner)
    return _Groups(label, rest, None, [])


def _group_order(table: AnswerTable, s: Mapping[str, Any]) -> list[Row]:
    """Rows grouped by label: the record's labels in order, then other labels as they first occur."""
    g = _groups(table.fields, s)
    rank = {label: i for i, label in enumerate(s["context"].labels)}
    seen = {r[g.label]: i for i, r in reversed(list(enumerate(table.rows)))}
    return sorted(table.rows, key=lambda r: (rank.get(r[g.label], len(rank)), seen[r[g.label]]))


def _render_grouped(table: AnswerTable, s: dict[str, Any], rng: random.Random) -> str:
    g, keys = _groups(table.fields, s), _keys(table, s)
    out: dict[str, list[Any]] = {label: [] for label in s["context"].labels}
    merged_from: dict[str, Row] = {}  # the last row each label's last item holds, for merging nested entries
    for row in _group_order(table, s):
        items = out.setdefault(row[g.label], [])
        if g.nest_key is None:
            items.append(row[g.outer[0]] if len(g.outer) == 1 else
                         {keys[i]: row[i] for i in _ordered(g.outer, s, rng)})
            continue
        entry = {keys[i]: row[i] for i in g.inner}
        last = merged_from.get(row[g.label])
        if (items and last is not None and all(last[i] == row[i] for i in g.outer)
                and any(last[i] for i in g.inner) and any(entry.values())):
            items[-1][g.nest_key].append(entry)
        else:
            item: dict[str, Any] = {keys[i]: row[i] for i in _ordered(g.outer, s, rng)}
            item[g.nest_key] = [entry] if any(entry.values()) else []
            items.append(item)
        merged_from[row[g.label]] = row
    return _dump(out, s)


def _ordered(columns: list[int], s: Mapping[str, Any], rng: random.Random) -> list[int]:
    return [columns[i] for i in _key_order(len(columns), s, rng)]


def _parse_grouped(text: str, fields: Row, cardinality: str, s: Mapping[str, Any]) -> list[Row]:
    data, g = _loads(text), _groups(fields, s)
    if not isinstance(data, dict):
        raise FormatParseError(f"expected an object keyed by label, found {type(data).__name__}")
    rows: list[Row] = []
    for label, items in data.items():
        if not isinstance(items, list):
            raise FormatParseError(f"the answers for {label!r} are {type(items).__name__}, not a list")
        for item in items:
            rows.extend(_grouped_rows(item, str(label), fields, g))
    return rows


def _grouped_rows(item: Any, label: str, fields: Row, g: _Groups) -> list[Row]:
    if g.nest_key is None and len(g.outer) == 1:  # one column besides the label: bare values
        return [_assemble(len(fields), g.label, label, {g.outer[0]: _text(item)})]
    if not isinstance(item, Mapping):
        raise FormatParseError(f"answer item {item!r} is not an object")
    outer_keys = [fields[i] for i in g.outer] + ([g.nest_key] if g.nest_key else [])
    by_key = {str(k).lower(): v for k, v in item.items()}
    if sorted(by_key) != sorted(k.lower() for k in outer_keys):
        raise FormatParseError(f"answer item has keys {sorted(item)}, expected {outer_keys}")
    values = {i: _text(by_key[fields[i].lower()]) for i in g.outer}
    if g.nest_key is None:
        return [_assemble(len(fields), g.label, label, values)]
    entries = by_key[g.nest_key.lower()]
    if not isinstance(entries, list):
        raise FormatParseError(f"'{g.nest_key}' holds {type(entries).__name__}, not a list")
    inner_fields = tuple(fields[i] for i in g.inner)
    if not entries:
        return [_assemble(len(fields), g.label, label, {**values, **{i: "" for i in g.inner}})]
    rows = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise FormatParseError(f"'{g.nest_key}' entry {entry!r} is not an object")
        inner = _row_from_obj(entry, inner_fields)
        rows.append(_assemble(len(fields), g.label, label, {**values, **dict(zip(g.inner, inner, strict=True))}))
    return rows


def _assemble(n: int, label_index: int, label: str, values: Mapping[int, str]) -> Row:
    return tuple(label if i == label_index else values[i] for i in range(n))


# ------------------------------------------------------------------ inline tags

_TAG_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_UNESCAPE = re.compile(r"&(amp|lt|gt|#47);")
_UNESCAPED = {"amp": "&", "lt": "<", "gt": ">", "#47": "/"}


def _xml_escape(text: str) -> str:
    return "".join(_TAG_ESCAPES.get(ch, ch) for ch in text)


def _tag_name(label: str) -> str:
    name = _xml_escape(label)
    return "&#47;" + name[1:] if name.startswith("/") else name


def _xml_unescape(text: str) -> str:
    return _UNESCAPE.sub(lambda m: _UNESCAPED[m.group(1)], text)


def _span_index(fields: Sequence[str], s: Mapping[str, Any]) -> tuple[int, int, str]:
    label, text = s.get("label_index"), s["context"].text
    if label is None or len(fields) != 2 or text is None:
        raise NotExpressible("inline tags need a (label, span) answer and the text the spans come from")
    return label, 1 - label, text


def _placed(table: AnswerTable, s: Mapping[str, Any]) -> list[tuple[int, int, Row]]:
    """Where each row's span is tagged: rows that read left to right in the text (``in_reading_order``) at those
    occurrences, else longest spans first, each at its first occurrence that overlaps no span placed before;
    (start, end, row) in text order. NotExpressible when a span has no free occurrence. A placement that puts a span
    inside a longer word ("Ken" in "Kent beat Ken .") is made again from whole-word occurrences alone, when they
    place every span (``_placed_in_words``)."""
    label, span, text = _span_index(table.fields, s)
    placed = _first_placed(table, label, span, text)
    if any(_inside_word(text, start, end) for start, end, _ in placed):
        return _placed_in_words(table, span, text) or placed
    return placed


def _placed_in_words(table: AnswerTable, span: int, text: str) -> list[tuple[int, int, Row]] | None:
    """``_first_placed`` with each span at an occurrence that is no part of a longer word: in reading order when the
    rows read left to right so, else longest spans first; None when a span has no such occurrence left."""
    starts, at = [], 0
    for row in table.rows:
        start = _word_at(text, row[span], at, None)
        if start < 0:
            break
        starts.append(start)
        at = start + len(row[span])
    else:
        return [(start, start + len(row[span]), row) for start, row in zip(starts, table.rows, strict=True)]
    taken, placed = bytearray(len(text)), []
    for row in sorted(table.rows, key=lambda r: -len(r[span])):
        start, end = _word_at(text, row[span], 0, taken), len(row[span])
        if start < 0:
            return None
        taken[start:start + end] = b"\1" * end
        placed.append((start, start + end, row))
    return sorted(placed, key=lambda t: t[0])


def _word_at(text: str, value: str, at: int, taken: bytearray | None) -> int:
    """The first occurrence of ``value`` from ``at`` that is no part of a longer word and overlaps nothing
    ``taken``; -1 when there is none."""
    for start in _finds(text, value, at):
        end = start + len(value)
        if not _inside_word(text, start, end) and (taken is None or taken.find(1, start, end) < 0):
            return start
    return -1


def _first_placed(table: AnswerTable, label: int, span: int, text: str) -> list[tuple[int, int, Row]]:
    """``_placed`` by first occurrences, whole words or not."""
    starts = in_reading_order([row[span] for row in table.rows], text)
    if starts is not None:
        return [(start, start + len(row[span]), row) for start, row in zip(starts, table.rows, strict=True)]
    taken: list[tuple[int, int, Row]] = []
    rows = table.rows
    claimed = ManyClaimed(text, [row[span] for row in rows]) if len(rows) > MANY_VALUES else Claimed()
    for row in sorted(rows, key=lambda r: -len(r[span])):
        value = row[span]
        if not value:
            raise NotExpressible(f"the {row[label]!r} span is empty")
        start = claimed.claim(text, value)
        if start < 0:
            raise NotExpressible(f"{value!r} has no occurrence in the text apart from other tagged spans "
                                 "(overlapping or missing spans cannot be tagged inline)")
        taken.append((start, start + len(value), row))
    return sorted(taken, key=lambda t: t[0])


def _tags(table: AnswerTable, s: Mapping[str, Any]) -> list[tuple[int, int, Row]]:
    """Where inline tags go: each row at its place (``_placed``); with ``every_mention`` (each (label, span) listed
    once) also every other mention of a span that one row holds: each occurrence, longest spans first, that overlaps
    no tag and is no part of a longer word ("Ken" in "Kent"). (start, end, row) in text order."""
    placed = _placed(table, s)
    if not s["context"].every_mention:
        return placed
    _, span, text = _span_index(table.fields, s)
    holders = Counter(row[span] for row in table.rows)
    rows = [row for _, _, row in sorted(placed, key=lambda t: (t[0] - t[1], t[0])) if holders[row[span]] == 1]
    spots = occurrences(text, [row[span] for row in rows]) if len(rows) > MANY_VALUES else None
    taken = bytearray(len(text))
    for start, end, _ in placed:
        taken[start:end] = b"\1" * (end - start)
    tags = list(placed)
    for row in rows:
        value = row[span]
        for start in spots.get(value, ()) if spots is not None else _finds(text, value):
            end = start + len(value)
            if taken.find(1, start, end) < 0 and not _inside_word(text, start, end):
                taken[start:end] = b"\1" * len(value)
                tags.append((start, end, row))
    return sorted(tags, key=lambda t: t[0])


def _finds(text: str, value: str, at: int = 0) -> Iterator[int]:
    """Every start of ``value`` in ``text`` from ``at`` on (overlapping ones too)."""
    at = text.find(value, at)
    while at >= 0:
        yield at
        at = text.find(value, at + 1)


# scripts written without spaces between words (Thai, Lao, Myanmar, Khmer, CJK): any character may end a word there
_UNSPACED = re.compile("[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u2e80-\u9fff\uf900-\ufaff]")


def _inside_word(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] begins or ends inside a word of a script written with spaces."""
    return any(0 < at < len(text) and text[at - 1].isalnum() and text[at].isalnum()
               and not _UNSPACED.match(text[at - 1]) and not _UNSPACED.match(text[at]) for at in (start, end))


def _position_order(table: AnswerTable, s: Mapping[str, Any]) -> list[Row]:
    try:
        rows = [row for _, _, row in _tags(table, s)]
    except NotExpressible:
        return list(table.rows)
    return list(dict.fromkeys(rows)) if s["context"].every_mention else rows


def _render_inline(table: AnswerTable, s: dict[str, Any], rng: random.Random) -> str:
    label, _, text = _span_index(table.fields, s)
    parts, at = [], 0
    for start, end, row in _tags(table, s):
        name = _tag_name(row[label])
        parts += [_xml_escape(text[at:start]), f"<{name}>", _xml_escape(text[start:end]), f"</{name}>"]
        at = end
    parts.append(_xml_escape(text[at:]))
    return "".join(parts)


_TAG = re.compile(r"<(/?)([^<>]*)>")


def _parse_inline(text: str, fields: Row, cardinality: str, s: Mapping[str, Any]) -> list[Row]:
    """Tagged spans in text order; the text without its tags must be the input text (when known)."""
    label = s.get("label_index")
    if label is None or len(fields) != 2:
        raise FormatParseError("inline tags hold (label, span) answers")
    rows: list[Row] = []
    plain: list[str] = []
    open_tag: tuple[str, int] | None = None  # (name, where its content starts in `plain`)
    at = 0
    for m in _TAG.finditer(text):
        plain.append(text[at:m.start()])
        at = m.end()
        closing, name = m.group(1) == "/", m.group(2)
        if not closing and open_tag is not None:
            raise FormatParseError(f"tag <{name}> opens inside <{open_tag[0]}>: tags may not nest or overlap")
        if not closing:
            open_tag = (name, len(plain))
            continue
        if open_tag is None or open_tag[0] != name:
            raise FormatParseError(f"closing tag </{name}> without a matching opening tag")
        span = _xml_unescape("".join(plain[open_tag[1]:]))
        tag = _xml_unescape(name)
        rows.append((tag, span) if label == 0 else (span, tag))
        open_tag = None
    if open_tag is not None:
        raise FormatParseError(f"tag <{open_tag[0]}> is never closed")
    plain.append(text[at:])
    source = s["context"].text
    if source is not None and _xml_unescape("".join(plain)).strip() != source.strip():
        raise FormatParseError("the text around the tags differs from the input text")
    return list(dict.fromkeys(rows)) if s["context"].every_mention else rows


_MANY = frozenset({"many"})
_NONE: frozenset[str] = frozenset()
CODECS: dict[str, Codec] = {
    "json": Codec(_render_json, _parse_json, lambda card, lang="en": "null" if card == "one" else "[]",
                  frozenset({"shuffle_keys", "indent", "key_case", "ensure_ascii", "compact", "keys"}), _MANY),
    "jsonl": Codec(_render_jsonl, _parse_jsonl, lambda card, lang="en": "",
                   frozenset({"shuffle_keys", "key_case", "ensure_ascii", "keys"})),
    "tuples": Codec(_render_tuples, _parse_tuples, lambda card, lang="en": "None" if card == "one" else "[]",
                    frozenset(), _MANY),
    "markdown_table": Codec(_render_md_table, _parse_md_table, lambda card, lang="en": None,
                             frozenset({"key_case", "keys"})),
    "markdown_list": Codec(_render_md_list, _parse_md_list, lambda card, lang="en": NONE_ITEM,
                            frozenset({"key_case", "keys"})),
    "natural": Codec(_render_natural, _parse_natural, lambda card, lang="en": PHRASINGS.get(lang, PHRASINGS["en"]).none,
                     frozenset({"key_case"})),
    "text": Codec(_render_text, _parse_text, lambda card, lang="en": "", frozenset(), _NONE, single_column=True),
    "label": Codec(_render_label, _parse_label, lambda card, lang="en": "", frozenset(), _NONE, single_column=True),
    "yaml": Codec(_render_yaml, _parse_yaml, lambda card, lang="en": "null" if card == "one" else "[]",
                  frozenset({"shuffle_keys", "key_case", "keys"}), _MANY),
    "grouped_json": Codec(_render_grouped, _parse_grouped, lambda card, lang="en": None,
                          frozenset({"shuffle_keys", "indent", "key_case", "ensure_ascii", "compact", "keys", "nest"}),
                          _MANY, order=_group_order, needs_labels=True),
    "inline_tags": Codec(_render_inline, _parse_inline, lambda card, lang="en": None, frozenset(), _MANY,
                         order=_position_order, needs_spans=True),
}
