"""Answer format variants: render a gold AnswerTable as text, and parse such text back.

The law every codec obeys (tested with hypothesis):

    parse(spec, render(spec, table), table.fields, table.cardinality) == table

for gold values without leading/trailing whitespace. Codecs:

    json            ["Paris"] / [{"type": "LOC", "span": "Paris"}] / {"answer": "x"}
    jsonl           one JSON object per line
    tuples          Python-like literals: [('LOC', 'Paris')] / ('LOC', 'Paris') / 'x'
    markdown_table  | type | span |  with a header row
    markdown_list   - type: LOC; span: Paris
    natural         The answers are "Paris" and "Rome".
    text            the bare value (one column): a free-form response, or one value per line

Modifiers (later pipeline stages, e.g. ``json | shuffle_keys(seed=3)``) set one render
setting each; a variant file may set the same settings under ``options:``.
"""

from __future__ import annotations

import ast
import json
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from humc.answers.table import AnswerTable, as_cardinality
from humc.errors import FormatParseError, HumcError

Row = tuple[str, ...]


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


KEY_CASES = {"upper": str.upper, "lower": str.lower, "title": str.title}
SETTINGS: dict[str, Setting] = {
    "shuffle_keys": Setting("seed", lambda v: type(v) is int, "shuffle_keys(seed=<int>)", 0),
    "indent": Setting("n", lambda v: type(v) is int and 0 <= v <= 8, "indent(<0..8>)", 2),
    "key_case": Setting("case", lambda v: v in KEY_CASES, 'key_case("upper"|"lower"|"title")', None),
    "ensure_ascii": Setting("on", lambda v: type(v) is bool, "ensure_ascii(true|false)", True),
    "compact": Setting("on", lambda v: type(v) is bool, "compact(true|false)", True),
}
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


def check_spec(spec: FormatSpec) -> None:
    """Raise HumcError unless the codec, its options and modifiers are all valid."""
    settings(spec)


def settings(spec: FormatSpec) -> dict[str, Any]:
    if spec.codec not in CODECS:
        raise HumcError(f"unknown answer codec '{spec.codec}'", expected="one of: " + ", ".join(CODECS), code="E2006")
    allowed = CODECS[spec.codec].settings
    out: dict[str, Any] = {}
    for name, value in spec.options.items():
        out[name] = _checked(spec.codec, allowed, name, value, "option")
    for name, kwargs in spec.modifiers:
        out[name] = _checked(spec.codec, allowed, name, _modifier_value(name, kwargs), "modifier")
    return out


def _modifier_value(name: str, kwargs: Mapping[str, Any]) -> Any:
    setting = SETTINGS.get(name)
    if setting is None:
        return None  # reported by _checked
    args = list(kwargs.get("_args", []))
    named = {k: v for k, v in kwargs.items() if k != "_args"}
    if set(named) - {setting.arg} or len(args) + len(named) > 1:
        raise HumcError(f"bad arguments for modifier '{name}'", expected=setting.describe, code="E0008")
    if not args and not named:
        if setting.default is None:
            raise HumcError(f"modifier '{name}' needs an argument", expected=setting.describe, code="E0008")
        return setting.default
    return args[0] if args else named[setting.arg]


def _checked(codec: str, allowed: frozenset[str], name: str, value: Any, kind: str) -> Any:
    if name not in SETTINGS:
        raise HumcError(f"unknown format {kind} '{name}'", expected="one of: " + ", ".join(SETTINGS), code="E2006")
    if name not in allowed:
        raise HumcError(f"format {kind} '{name}' does not apply to codec '{codec}'",
                        expected=f"for {codec}: " + (", ".join(sorted(allowed)) or "no options"), code="E2006")
    if not SETTINGS[name].check(value):
        raise HumcError(f"bad value {value!r} for format {kind} '{name}'", expected=SETTINGS[name].describe, code="E0008")
    return value


# ------------------------------------------------------------------ public API


def render(spec: FormatSpec, table: AnswerTable, empty: str | None = None, seed: int = 0,
           language: str = "en") -> str:
    """The table as text. ``empty`` replaces the codec's own rendering of an empty answer;
    ``language`` picks the phrasing of the natural-language format (en, zh)."""
    codec = CODECS[spec.codec]
    own_empty = codec.empty(table.cardinality, language)
    if not table.rows and (empty is not None or own_empty is not None):
        return empty if empty is not None else own_empty or ""
    s = {**settings(spec), "language": language}
    rng = random.Random(s.get("shuffle_keys", 0) * 1_000_003 + seed)
    return codec.render(table, s, rng)


def parse(spec: FormatSpec, text: str, fields: Sequence[str], cardinality: str,
          empty: str | None = None, unfence: bool = True) -> AnswerTable:
    """Text in this format -> AnswerTable; raises FormatParseError.

    ``unfence`` drops a ```lang … ``` fence around the whole text, as model outputs often
    have; checking humc's own renderings turns it off (a gold answer may be a fenced block)."""
    fields = tuple(fields)
    stripped = _unfence(text) if unfence else text.strip()
    codec = CODECS[spec.codec]
    if stripped == (empty and empty.strip()) or stripped in {codec.empty(cardinality, lang) for lang in PHRASINGS}:
        return AnswerTable(fields, (), as_cardinality(cardinality))
    rows = codec.parse(stripped, fields, cardinality)
    if cardinality == "one" and len(rows) > 1:
        raise FormatParseError(f"expected one answer, found {len(rows)}")
    return AnswerTable(fields, tuple(rows), as_cardinality(cardinality))


@dataclass(frozen=True)
class Codec:
    """Everything about one answer format, in one place: adding a format is one entry in ``CODECS`` (plus its
    instruction sentences, which are data: ``stdlib/variants/<name>.yaml``)."""

    render: Callable[[AnswerTable, dict[str, Any], random.Random], str]
    parse: Callable[[str, Row, str], list[Row]]
    empty: Callable[..., str | None]  # (cardinality, language) -> text of an empty answer; None: render normally
    settings: frozenset[str] = frozenset()          # the modifiers that apply (shuffle_keys, indent, …)
    empty_expressible: frozenset[str] = frozenset({"one", "many"})  # cardinalities whose empty rendering is promised
    single_column: bool = False                     # holds one answer column only


def _unfence(text: str) -> str:
    """Drop a surrounding ```lang … ``` fence, as LLMs often add one."""
    t = text.strip()
    if t.startswith("```") and t.endswith("```") and "\n" in t:
        t = t[t.index("\n") + 1:-3]
    return t.strip()


# ------------------------------------------------------------------ keys and rows


def _cased(fields: Sequence[str], s: Mapping[str, Any]) -> list[str]:
    case = KEY_CASES.get(s.get("key_case") or "")
    return [case(f) if case else f for f in fields]


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
    wanted = [f.lower() for f in fields]
    if sorted(by_key) != sorted(wanted):
        raise FormatParseError(f"object has keys {sorted(obj)}, expected {list(fields)}")
    return tuple(_text(by_key[k]) for k in wanted)


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
    return json.dumps(value, ensure_ascii=s.get("ensure_ascii", False),
                      indent=None if one_line or compact else s.get("indent"),
                      separators=(",", ":") if compact else None)


def _render_json(table: AnswerTable, s: dict[str, Any], rng: random.Random) -> str:
    keys, single = _keys(table, s), len(table.fields) == 1
    if table.cardinality == "one":
        value: Any = _obj(table.rows[0], keys, _key_order(len(keys), s, rng)) if table.rows else None
    elif single:
        value = [r[0] for r in table.rows]
    else:
        value = [_obj(r, keys, _key_order(len(keys), s, rng)) for r in table.rows]
    return _dump(value, s)


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise FormatParseError(f"invalid JSON: {exc}", code="E0008") from None


def _parse_json(text: str, fields: Row, cardinality: str) -> list[Row]:
    return _rows_from_data(_loads(text), fields, cardinality)


def _render_jsonl(table: AnswerTable, s: dict[str, Any], rng: random.Random) -> str:
    keys = _keys(table, s)
    return "\n".join(_dump(_obj(r, keys, _key_order(len(keys), s, rng)), s, one_line=True) for r in table.rows)


def _parse_jsonl(text: str, fields: Row, cardinality: str) -> list[Row]:
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


def _parse_tuples(text: str, fields: Row, cardinality: str) -> list[Row]:
    try:
        data = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise FormatParseError(f"not a Python literal: {exc}") from None
    return _rows_from_data(data, fields, cardinality)


# ------------------------------------------------------------------ markdown

_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r"}
_UNESCAPES = {"n": "\n", "r": "\r"}


def _escape(value: str, special: str) -> str:
    return "".join(_ESCAPES.get(ch) or ("\\" + ch if ch in special else ch) for ch in value)


def _split_escaped(line: str, sep: str | None = None) -> list[str]:
    """Split on unescaped `sep` (never, when None), unescaping \\x sequences in the parts."""
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


def _parse_md_table(text: str, fields: Row, cardinality: str) -> list[Row]:
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
    return "\n".join("- " + "; ".join(f"{k}: {_escape(v, ';')}" for k, v in zip(keys, r, strict=True)) for r in table.rows)


def _parse_md_list(text: str, fields: Row, cardinality: str) -> list[Row]:
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
    return json.dumps(value, ensure_ascii=False)


def _render_natural(table: AnswerTable, s: dict[str, Any], rng: random.Random) -> str:
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


def _unquote(token: str) -> str:
    return str(json.loads(token))


def _parse_natural(text: str, fields: Row, cardinality: str) -> list[Row]:
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


def _parse_text(text: str, fields: Row, cardinality: str) -> list[Row]:
    _single_column(fields)
    if cardinality == "one":
        return [(text,)]
    return [(_split_escaped(line)[0].strip(),) for line in text.split("\n")]


def _single_column(fields: Sequence[str]) -> None:
    if len(fields) != 1:
        raise FormatParseError(f"the text format holds one column, not {len(fields)} ({', '.join(fields)})")


_MANY = frozenset({"many"})
_NONE: frozenset[str] = frozenset()
CODECS: dict[str, Codec] = {
    "json": Codec(_render_json, _parse_json, lambda card, lang="en": "null" if card == "one" else "[]",
                  frozenset({"shuffle_keys", "indent", "key_case", "ensure_ascii", "compact"}), _MANY),
    "jsonl": Codec(_render_jsonl, _parse_jsonl, lambda card, lang="en": "",
                   frozenset({"shuffle_keys", "key_case", "ensure_ascii"})),
    "tuples": Codec(_render_tuples, _parse_tuples, lambda card, lang="en": "None" if card == "one" else "[]",
                    frozenset(), _MANY),
    "markdown_table": Codec(_render_md_table, _parse_md_table, lambda card, lang="en": None, frozenset({"key_case"})),
    "markdown_list": Codec(_render_md_list, _parse_md_list, lambda card, lang="en": NONE_ITEM, frozenset({"key_case"})),
    "natural": Codec(_render_natural, _parse_natural, lambda card, lang="en": PHRASINGS.get(lang, PHRASINGS["en"]).none,
                     frozenset({"key_case"})),
    "text": Codec(_render_text, _parse_text, lambda card, lang="en": "", frozenset(), _NONE, single_column=True),
}
