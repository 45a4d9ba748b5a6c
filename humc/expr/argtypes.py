"""What each DSL function's arguments may hold, checked before the call runs (DSL stage, at evaluation).

Real data arrives in shapes a function cannot use: Hugging Face ClassLabel integers where tags are strings, null, NaN
(pandas' empty cell), a text where a list of tokens is meant, an object where a list is, bytes. Every whitelisted
function's parameters have a ``Shape`` in ``PARAMS``; a value outside it becomes a ``FunctionError`` in words that names
the function, the parameter (and the expression written for it), what it holds (type and a short sample) and what was
expected, with a hint when the fix is known (``class_labels``/``lookup`` for integer tags, ``| join(" ")`` for a token
list given where a text is meant, ``split`` the other way round).

Decisions: a shape accepts every value its function handled before (valid inputs keep their results); it refuses only
values that made the function raise Python's own exception or write a Python-printed value (``['a']``, ``b'..'``)
into an instruction. The table covers every function (a test keeps it so); ``describe`` is the one way a value is
shown in these messages."""

from __future__ import annotations

import datetime
import decimal
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class FunctionError(ValueError):
    """A function got arguments it cannot work with; ``expected`` and ``hint`` go to the user's diagnostic."""

    def __init__(self, message: str, *, expected: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.expected = expected
        self.hint = hint


class ArgumentError(FunctionError):
    """An argument does not fit its parameter's shape; the message names the function itself."""


SAMPLE_ITEMS = 3  # items of a list shown in a message
SAMPLE_CHARS = 30  # characters of a text shown in a message

# ------------------------------------------------------------------ values in words


def kind_of(value: Any) -> str:
    """The recipe-language name of a value's type: null, NaN, boolean, integer, number, string, bytes, object, list."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (bytes, bytearray)):
        return "bytes"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (list, tuple)):
        return "list"
    return type(value).__name__


_PLURAL = {"null": "nulls", "NaN": "NaNs", "boolean": "booleans", "integer": "integers", "number": "numbers",
           "string": "strings", "bytes": "bytes", "object": "objects", "list": "lists"}
_ARTICLE = {"null": "", "NaN": "", "bytes": "", "integer": "an ", "object": "an "}


def sample(value: Any) -> str:
    """A short written form of one value: 'EU', 3, null, NaN, true, b'EU', [...], {...}."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, str):
        return repr(value if len(value) <= SAMPLE_CHARS else value[:SAMPLE_CHARS] + "…")
    if isinstance(value, (bytes, bytearray)):
        return repr(bytes(value[:SAMPLE_CHARS]))
    if isinstance(value, Mapping):
        keys = [str(k) for k in list(value)[:4]]
        return "{" + ", ".join(keys) + (", …" if len(value) > 4 else "") + "}"
    if isinstance(value, (list, tuple)):
        return "[…]" if value else "[]"
    return repr(value)[:SAMPLE_CHARS]


def _samples(items: Sequence[Any]) -> str:
    shown = ", ".join(sample(v) for v in items[:SAMPLE_ITEMS])
    return shown + (", …" if len(items) > SAMPLE_ITEMS else "")


def describe(value: Any) -> str:
    """A value's type and a short sample, for messages: "integers (3, 4, 0)" reads in "ner_tags holds …";
    this returns the phrase after "is": "a list of integers (3, 4, 0)", "null", "a string ('EU rejects…')"."""
    kind = kind_of(value)
    if kind == "null":
        return "null"
    if kind == "NaN":
        return "NaN (an empty cell, as pandas writes a missing value)"
    if kind == "list":
        if not value:
            return "an empty list"
        kinds = {kind_of(v) for v in value}
        of = _PLURAL.get(next(iter(kinds)), "values") if len(kinds) == 1 else \
            " and ".join(_PLURAL.get(k, k) for k in sorted(kinds)[:3])
        return f"a list of {of} ({_samples(value)})"
    if kind == "object":
        return f"an object {sample(value)}"
    return f"{_ARTICLE.get(kind, 'a ')}{kind} ({sample(value)})"


# ------------------------------------------------------------------ shapes


@dataclass(frozen=True)
class Misfit:
    """Why a value does not fit a shape: ``got`` follows the argument's name ("holds integers (3, 4, 0)"),
    ``why`` adds a sentence to the message, ``hint`` the known fix (``{w}`` is replaced by the written argument)."""

    got: str
    why: str = ""
    hint: str | None = None


@dataclass(frozen=True)
class Shape:
    """What a parameter takes: ``expected`` in words, ``misfit`` says why a value does not fit (None: it fits)."""

    expected: str
    misfit: Callable[[Any], Misfit | None]


def _is(value: Any) -> Misfit:
    return Misfit(f"is {describe(value)}", hint=_general_hint(value))


def _general_hint(value: Any) -> str | None:
    kind = kind_of(value)
    if kind == "null":
        return "the record has no value here: `default({w}, …)` gives one, or a `where:` filter skips such records"
    if kind == "NaN":
        return "the column has empty cells: skip those records with a `where:` filter, or fill the column"
    if kind == "bytes":
        return "the column holds binary data: read it as text, or leave it out"
    return None


def _any(value: Any) -> Misfit | None:
    return None


# values with one plain written form, as a Parquet or Arrow column gives them: dates, times and timestamps (pandas'
# too: they are datetime's subclasses), durations, decimals
_WRITTEN_AS_TEXT = (datetime.date, datetime.time, datetime.timedelta, decimal.Decimal)


def _text(value: Any, *, null: bool = True, numbers: bool = True) -> Misfit | None:
    """A text; numbers, booleans, dates and decimals written as text when ``numbers``; null passes through when
    ``null``."""
    if type(value) is str:
        return None
    kind = kind_of(value)
    if kind == "string" or (null and kind == "null") or (numbers and kind in ("boolean", "integer", "number")):
        return None
    if numbers and isinstance(value, _WRITTEN_AS_TEXT):
        return None
    if kind == "list" and value and all(isinstance(v, str) for v in value):
        return Misfit(f"is {describe(value)}", hint="a list of tokens becomes one text with `{w} | join(\" \")`")
    if kind == "list":
        return Misfit(f"is {describe(value)}", hint="pick one item (`{w}[0]`) or join them (`{w} | join(\" \")`)")
    if kind == "object":
        return Misfit(f"is {describe(value)}", hint="name one of its fields: `{w}.field`")
    if kind in ("integer", "number", "boolean"):
        return Misfit(f"is {describe(value)}", hint="write it as text with `str({w})`")
    return _is(value)


def _list(value: Any, *, null: bool = False, text: bool = False) -> Misfit | None:
    """A list; null passes through when ``null``, a text (read as its characters) when ``text``."""
    kind = kind_of(value)
    if kind == "list" or (null and kind == "null") or (text and kind == "string"):
        return None
    if kind == "string" and _printed_list(value):
        return Misfit(f"is {describe(value)}", why="a list printed as text, not a list",
                      hint="a CSV cannot hold lists: pandas' and `Dataset.to_csv` print a list column this way; read a "
                           "JSON Lines or Parquet copy (to_json(orient='records', lines=True), to_parquet)")
    if kind == "string":
        return Misfit(f"is {describe(value)}", why="a text, not a list",
                      hint="split a text into a list with `split({w})`, or write one item as `[{w}]`")
    if kind == "object":
        return Misfit(f"is {describe(value)}", why="an object, not a list",
                      hint="name its field that holds the list: `{w}.field`")
    if kind == "null":
        return Misfit("is null", hint="the record has no list here: `default({w}, [])` reads it as empty")
    return _is(value)


def _printed_list(text: str) -> bool:
    """Whether a text is a list as Python or numpy print it (`['EU', 'rejects']`, `['EU' 'rejects']`, `[3 0 7]`)."""
    return (len(text) > 2 and text[0] == "[" and text[-1] == "]" and (text[1] in "'\"-" or text[1].isdigit())) \
        or text == "[]"


def _items(value: Any, fits: Callable[[Any], bool]) -> tuple[int, Any] | None:
    """The first item (index, value) of a list that does not fit, or None."""
    for i, item in enumerate(value):
        if not fits(item):
            return i, item
    return None


def _items_misfit(value: Sequence[Any], i: int, item: Any, noun: str) -> Misfit:
    """``value``'s items do not fit from item ``i`` on: all of one wrong kind, or a single odd one."""
    kinds = {kind_of(v) for v in value}
    if len(kinds) == 1:
        return Misfit(f"holds {_PLURAL.get(kind_of(item), 'values')} ({_samples(value)})")
    return Misfit(f"holds {describe(item)} as {noun} {i}")


def _strings(value: Any, noun: str, *, nested_hint: str, int_why: str = "", int_hint: str | None = None) -> Misfit | None:
    """A list of strings (tokens, tags); an integer, null, nested list or object among them is named."""
    if type(value) is list and set(map(type, value)) <= {str}:  # the common case, at C speed
        return None
    if (bad := _list(value)) is not None:
        return bad
    first = _items(value, lambda v: isinstance(v, str))
    if first is None:
        return None
    i, item = first
    misfit = _items_misfit(value, i, item, noun)
    kind = kind_of(item)
    if kind == "integer":
        return Misfit(misfit.got, why=int_why, hint=int_hint)
    if kind == "list":
        return Misfit(misfit.got, why="a list of lists (one per sentence?)", hint=nested_hint)
    if kind in ("null", "NaN"):
        return Misfit(misfit.got, hint=f"every {noun} must be a string: a row with gaps in its {noun}s cannot be "
                                       "read; skip it with a `where:` filter")
    return misfit


_CLASS_LABEL_WHY = "they are class indices"
_CLASS_LABEL_HINT = ("read a Parquet or Arrow source with `options: {class_labels: true}` (the Hugging Face features "
                     "`datasets` writes into it name them), or map them with lookup({w}, [\"O\", \"B-PER\", …]) "
                     "(a JSON Lines or CSV copy, `Dataset.to_json`'s, keeps no names)")


def _tags(value: Any) -> Misfit | None:
    return _strings(value, "tag", nested_hint="one list per sentence: `flatten({w})` makes one list of the document's "
                                               "tags (and `flatten` its tokens too)",
                    int_why=_CLASS_LABEL_WHY, int_hint=_CLASS_LABEL_HINT)


def _tokens(value: Any) -> Misfit | None:
    return _strings(value, "token", nested_hint="one list per sentence: `flatten({w})` makes one list of the "
                                                 "document's tokens",
                    int_why="token ids, not words",
                    int_hint="tokens are the words themselves: use the dataset's token column, not its ids")


def _records(value: Any) -> Misfit | None:
    """A list of objects (entities, relations, events, rows)."""
    if type(value) is list and set(map(type, value)) <= {dict}:
        return None
    if (bad := _list(value)) is not None:
        return bad
    first = _items(value, lambda v: isinstance(v, Mapping))
    if first is None:
        return None
    i, item = first
    misfit = _items_misfit(value, i, item, "item")
    return Misfit(misfit.got, why="each item must be an object with named fields",
                  hint="an item that is a list has no field names: build objects with `zip_records(…)`"
                  if kind_of(item) == "list" else None)


def _key(value: Any, *, null: bool = False) -> Misfit | None:
    """A field name or position: a string or a whole number."""
    kind = kind_of(value)
    if kind in ("string", "integer") or (null and kind == "null"):
        return None
    return Misfit(f"is {describe(value)}", why="a key is one name (a string) or one position (a whole number)")


def _keys(value: Any) -> Misfit | None:
    """A list of column names."""
    if (bad := _list(value)) is not None:
        return bad
    first = _items(value, lambda v: kind_of(v) in ("string", "integer"))
    return None if first is None else _items_misfit(value, first[0], first[1], "name")


def _whole(value: Any) -> Misfit | None:
    return None if kind_of(value) == "integer" else Misfit(f"is {describe(value)}")


def _flag(value: Any) -> Misfit | None:
    if isinstance(value, bool) or value in (0, 1) and kind_of(value) == "integer":
        return None
    return Misfit(f"is {describe(value)}", hint="write true or false, unquoted (the text \"false\" counts as true)"
                  if isinstance(value, str) else None)


def _string(value: Any) -> Misfit | None:
    return _text(value, null=False, numbers=False)


def _sized(value: Any) -> Misfit | None:
    kind = kind_of(value)
    return None if kind in ("null", "string", "list", "object", "bytes") else _is(value)


def _sequence(value: Any) -> Misfit | None:
    """A list or a text (its characters), or null."""
    return _list(value, null=True, text=True)


def _names(value: Any) -> Misfit | None:
    """lookup's names: a list (index -> name) or an object (key -> name)."""
    return None if kind_of(value) in ("list", "object") else Misfit(
        f"is {describe(value)}", hint="write the names as a list ([\"O\", \"B-PER\", …]) or a constant mapping")


def _separator(value: Any) -> Misfit | None:
    """split()'s separator: a text, or null for runs of white space; an empty text splits nothing (Python refuses it)."""
    if value == "":
        return Misfit("is an empty string", hint='split(x) splits at runs of white space; else name the separator, '
                      'e.g. split(x, ",")')
    return _text(value, numbers=False)


def _texts(value: Any) -> Misfit | None:
    """A text, or a list of texts (each is changed), or null; lists may nest."""
    if type(value) is str:
        return None
    if kind_of(value) == "list":
        first = _items(value, lambda v: _texts(v) is None)
        if first is None:
            return None
        inner = _texts(first[1])
        return Misfit(f"holds {describe(first[1])} as item {first[0]}", hint=None if inner is None else inner.hint)
    return _text(value)


def _container(value: Any) -> Misfit | None:
    return None if kind_of(value) in ("string", "list", "object") else _is(value)


TEXT = Shape("a text", _text)
STRING = Shape("a string", _string)
TEXTS = Shape("a text or a list of texts", _texts)
LIST = Shape("a list", _list)
SEQUENCE = Shape("a list or a text", _sequence)
SIZED = Shape("a text, a list or an object", _sized)
CONTAINER = Shape("a text, a list or an object", _container)
TOKENS = Shape("a list of token strings", _tokens)
TAGS = Shape("a list of tag strings like B-PER, I-PER, O", _tags)
BRACKETS = Shape("a list of bracketed name tags like (PERSON*, *, *)", _tags)
SEQUENCE_NOT_NULL = Shape("a list or a text", lambda v: _list(v, text=True))
RECORDS = Shape("a list of objects", _records)
KEY = Shape("a field name or a position", _key)
KEY_OR_NULL = Shape("a field name, a position or null", lambda v: _key(v, null=True))
KEYS = Shape("a list of column names", _keys)
WHOLE = Shape("a whole number", _whole)
FLAG = Shape("true or false", _flag)
NAMES = Shape("a list of names, or an object mapping keys to names", _names)
ANY = Shape("any value", _any)

# every whitelisted function's parameters (a test keeps this complete); a parameter left out takes any value
PARAMS: dict[str, dict[str, Shape]] = {
    "len": {"value": SIZED},
    "lower": {"value": TEXTS}, "upper": {"value": TEXTS}, "strip": {"value": TEXTS},
    "str": {"v": TEXT},
    "int": {"value": ANY}, "float": {"value": ANY}, "bool": {"value": ANY},
    "join": {"values": SEQUENCE_NOT_NULL, "sep": STRING},
    "split": {"value": TEXT, "sep": Shape("a string of one character or more, or null", _separator)},
    "first": {"values": SEQUENCE}, "last": {"values": SEQUENCE},
    "unique": {"values": SEQUENCE_NOT_NULL}, "sorted": {"v": SEQUENCE_NOT_NULL},
    "contains": {"s": CONTAINER, "sub": ANY},
    "startswith": {"s": TEXT, "p": STRING}, "endswith": {"s": TEXT, "p": STRING},
    "replace": {"s": TEXT, "a": STRING, "b": STRING},
    "words": {"s": TEXT},
    "get": {"m": ANY, "k": KEY_OR_NULL, "default": ANY},
    "default": {"v": ANY, "d": ANY},
    "lookup": {"indices": ANY, "names": NAMES, "offset": WHOLE},
    "choice_label": {"options": LIST, "answer": ANY, "labels": Shape("a list, a text (one letter each) or null",
                                                                       lambda v: _list(v, null=True, text=True))},
    "one_hot": {"row": ANY, "names": KEYS},
    "bio_spans": {"tokens": TOKENS, "tags": TAGS, "sep": STRING, "scheme": STRING, "strict": FLAG, "untyped": STRING},
    "tag_scheme": {"tags": TAGS},
    "unescape": {"value": TEXT, "newline": STRING},
    "html_unescape": {"value": TEXT}, "fix_entities": {"value": TEXT}, "strip_html": {"value": TEXT},
    "squash_spaces": {"value": TEXT}, "normalize_space": {"value": TEXT}, "nfc": {"value": ANY},
    "sentences": {"parts": LIST},
    "spert_entities": {"tokens": TOKENS, "entities": RECORDS},
    "spert_relations": {"tokens": TOKENS, "entities": RECORDS, "relations": RECORDS},
    "duee_events": {"event_list": RECORDS},
    "fewfc_events": {"events": LIST},
    "zip_records": {"columns": LIST},
    "pluck": {"items": LIST, "key": KEY, "default": ANY},
    "flatten": {"lists": LIST},
    "join_each": {"lists": LIST, "sep": STRING},
    "rows_without": {"rows": RECORDS, "column": KEY, "value": ANY},
    "semeval_text": {"line": STRING},
    "semeval_relations": {"line": STRING, "relation": STRING},
    "oneie_events": {"tokens": TOKENS, "events": RECORDS, "sep": STRING,
                     "entities": Shape("a list of objects or null", lambda v: None if v is None else _records(v))},
    "dygie_entities": {"sentences": LIST, "ner": LIST, "sentence": ANY, "sep": STRING},
    "dygie_relations": {"sentences": LIST, "relations": LIST, "sentence": ANY, "sep": STRING},
    "dygie_events": {"sentences": LIST, "events": LIST, "sentence": ANY, "sep": STRING},
    "rams_events": {"sentences": LIST, "triggers": LIST, "links": LIST, "sep": STRING},
    "hellaswag_text": {"value": TEXTS},
    "casie_events": {"cyberevent": ANY},
    "nq_answer": {"document": ANY, "annotations": Shape("a list of objects or null", lambda v: None if v is None else _records(v))},
    "bracket_spans": {"tokens": TOKENS, "tags": BRACKETS, "sep": STRING},
    "weibo_chars": {"chars": Shape("a list of characters", lambda v: _list(v, text=True))},
    "wikiann_tokens": {"tokens": TOKENS},
    "conllu_attr": {"values": TEXTS, "key": STRING, "default": ANY},
    "ptb_leaves": {"tree": TEXT},
    "maven_events": {"events": Shape("a list of objects or null", lambda v: None if v is None else _records(v))},
    "dureader_passages": {"documents": Shape("a list of objects or null", lambda v: None if v is None else _records(v))},
    "cluener_entities": {"label": ANY},
    "inline_slots": {"annotation": Shape("a text or null", lambda v: _text(v, numbers=False))},
    "char_spans": {"text": STRING, "items": ANY, "start": KEY, "end": KEY, "label": KEY,
                   "units": STRING, "check": KEY_OR_NULL, "inclusive": FLAG},
}

_SIGNATURES: dict[Callable[..., Any], inspect.Signature | None] = {}


def signature_of(fn: Callable[..., Any]) -> inspect.Signature | None:
    """``fn``'s signature (None for a builtin without one), computed once per function."""
    if fn not in _SIGNATURES:
        try:
            _SIGNATURES[fn] = inspect.signature(fn)
        except (TypeError, ValueError):
            _SIGNATURES[fn] = None
    return _SIGNATURES[fn]


@dataclass(frozen=True)
class _Plan:
    """A function's parameters in call order with their shapes (None: any value), and the shape of ``**columns``."""

    positional: tuple[tuple[str, Shape | None], ...]
    named: dict[str, Shape | None]
    rest: Shape | None


_PLANS: dict[tuple[str, Callable[..., Any]], _Plan | None] = {}


def _plan(name: str, fn: Callable[..., Any]) -> _Plan | None:
    """``fn``'s parameters and shapes, worked out once (binding a signature on every call costs more than the check)."""
    key = (name, fn)
    if key not in _PLANS:
        shapes, signature = PARAMS.get(name), signature_of(fn)
        if not shapes or signature is None:
            _PLANS[key] = None
        else:
            params = signature.parameters.values()
            rest = next((p.name for p in params if p.kind is inspect.Parameter.VAR_KEYWORD), None)
            positional = tuple((p.name, shapes.get(p.name)) for p in params
                               if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD))
            named = {p.name: shapes.get(p.name) for p in params if p.kind is not inspect.Parameter.POSITIONAL_ONLY}
            _PLANS[key] = _Plan(positional, named, None if rest is None else shapes.get(rest))
    return _PLANS[key]


def check_arguments(name: str, fn: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any],
                    written: Callable[[int | str], str | None]) -> None:
    """Raise ``ArgumentError`` (with expected= and hint=) when an argument of the whitelisted function ``name`` (``fn``)
    does not fit its parameter's shape. ``written(position or keyword)`` is the argument's text in the expression,
    asked for only when there is something to report. Arity is not checked here: ``check_functions`` refuses a call
    that cannot bind before any data is read."""
    plan = _plan(name, fn)
    if plan is None or len(args) > len(plan.positional):
        return
    for i, value in enumerate(args):
        param, shape = plan.positional[i]
        if shape is not None and (misfit := shape.misfit(value)) is not None:
            raise _error(name, param, shape, misfit, written(i))
    for keyword, value in kwargs.items():
        shape = plan.named[keyword] if keyword in plan.named else plan.rest
        if shape is not None and (misfit := shape.misfit(value)) is not None:
            raise _error(name, keyword, shape, misfit, written(keyword))


def literal_misfit(name: str, fn: Callable[..., Any], at: int | str, value: Any, written: str) -> ArgumentError | None:
    """The error a constant argument (a literal written in the recipe) would raise on every record, found before any
    data is read; ``at`` is its position in the call (the piped value counted) or its keyword."""
    plan = _plan(name, fn)
    if plan is None or (isinstance(at, int) and at >= len(plan.positional)):
        return None
    param, shape = plan.positional[at] if isinstance(at, int) else (at, plan.named.get(at, plan.rest))
    misfit = None if shape is None else shape.misfit(value)
    return None if shape is None or misfit is None else _error(name, param, shape, misfit, written)


def _error(name: str, param: str, shape: Shape, misfit: Misfit, written: str | None) -> ArgumentError:
    shown = written if written and len(written) <= 40 else None
    subject = param if shown is None or shown == param else shown
    message = f"{name}: {param} must be {shape.expected}; {subject} {misfit.got}"
    if misfit.why:
        message += f": {misfit.why}"
    hint = None if misfit.hint is None else misfit.hint.replace("{w}", shown or param)
    return ArgumentError(message, expected=f"{param}: {shape.expected}", hint=hint)

