"""The functions recipe expressions may call — a closed, whitelisted set.

General helpers (len, lower, join …) plus adapters that turn common public dataset
encodings (IOB tags, SpERT index lists, DuEE event lists) into the gold answer shapes
humc's tasks expect.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any


class FunctionError(ValueError):
    """A function got arguments it cannot work with."""


def _len(value: Any) -> int:
    if value is None:
        return 0
    if not hasattr(value, "__len__"):
        raise FunctionError(f"len() needs a string or list, got {type(value).__name__}")
    return len(value)


def _str_fn(fn: Callable[[str], Any]) -> Callable[[Any], Any]:
    def wrapped(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, list):
            return [wrapped(v) for v in value]
        return fn(str(value))
    return wrapped


def join(values: Iterable[Any], sep: str = " ") -> str:
    return sep.join("" if v is None else str(v) for v in values)


def split(value: str, sep: str | None = None) -> list[str]:
    return [] if value in (None, "") else str(value).split(sep)


def first(values: Sequence[Any]) -> Any:
    return values[0] if values else None


def last(values: Sequence[Any]) -> Any:
    return values[-1] if values else None


def unique(values: Iterable[Any]) -> list[Any]:
    seen: list[Any] = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return seen


def lookup(indices: Any, names: Sequence[Any], offset: int = 0) -> Any:
    """Map an index (or list of indices, or "1,4" string) to names: lookup(label, ["World", "Sports"], offset=1)."""
    if isinstance(indices, str) and "," in indices:
        indices = indices.split(",")
    if isinstance(indices, list):
        return [lookup(i, names, offset) for i in indices]
    try:
        i = int(indices) - offset
    except (TypeError, ValueError):
        raise FunctionError(f"index {indices!r} is not a whole number") from None
    if not 0 <= i < len(names):
        raise FunctionError(f"index {indices!r} is out of range for {len(names)} names")
    return names[i]


def bio_spans(tokens: Sequence[str], tags: Sequence[str], sep: str = " ") -> list[dict[str, Any]]:
    """Entities from IOB1/IOB2/BIOES tags: [{type, span, start, end}] (token offsets, end exclusive)."""
    if len(tokens) != len(tags):
        raise FunctionError(f"{len(tokens)} tokens but {len(tags)} tags")
    spans: list[dict[str, Any]] = []
    start, kind = None, None

    def close(end: int) -> None:
        nonlocal start, kind
        if start is not None:
            spans.append({"type": kind, "span": sep.join(tokens[start:end]), "start": start, "end": end})
        start, kind = None, None

    for i, tag in enumerate(tags):
        prefix, _, label = tag.partition("-")
        if tag == "O" or not label:
            close(i)
        elif prefix in ("B", "S") or label != kind or start is None:
            close(i)
            start, kind = i, label
            if prefix == "S":
                close(i + 1)
        elif prefix == "E":
            close(i + 1)
    close(len(tags))
    return spans


def spert_entities(tokens: Sequence[str], entities: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """SpERT-style entities ({type, start, end} token indices) -> [{type, span}]."""
    return [{"type": e["type"], "span": " ".join(tokens[e["start"]:e["end"]])} for e in entities]


def spert_relations(tokens: Sequence[str], entities: Sequence[dict[str, Any]],
                    relations: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """SpERT-style relations ({type, head, tail} entity indices) -> [{head, relation, tail}]."""
    spans = spert_entities(tokens, entities)
    try:
        return [{"head": spans[r["head"]]["span"], "relation": r["type"], "tail": spans[r["tail"]]["span"]}
                for r in relations]
    except (IndexError, KeyError) as exc:
        raise FunctionError(f"relation refers to a missing entity ({exc})") from None


def duee_events(event_list: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """DuEE events -> flat rows [{event_type, trigger, role, argument}] (one row per argument;
    an event without arguments keeps one row with empty role/argument)."""
    rows: list[dict[str, str]] = []
    for ev in event_list:
        args = ev.get("arguments") or [{"role": "", "argument": ""}]
        for arg in args:
            rows.append({"event_type": ev["event_type"], "trigger": ev["trigger"],
                         "role": arg.get("role", ""), "argument": arg.get("argument", "")})
    return rows


def zip_records(**columns: Sequence[Any]) -> list[dict[str, Any]]:
    """Parallel lists -> list of records: zip_records(subject=a, predicate=b, object=c)."""
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise FunctionError("all columns must have the same length")
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise FunctionError(f"{value!r} is not a whole number") from None


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": _len,
    "lower": _str_fn(str.lower),
    "upper": _str_fn(str.upper),
    "strip": _str_fn(str.strip),
    "str": lambda v: "" if v is None else str(v),
    "int": _int,
    "float": float,
    "bool": lambda value: bool(value),
    "join": join,
    "split": split,
    "first": first,
    "last": last,
    "unique": unique,
    "sorted": lambda v: sorted(v),
    "contains": lambda s, sub: sub in s,
    "startswith": lambda s, p: str(s).startswith(p),
    "endswith": lambda s, p: str(s).endswith(p),
    "replace": lambda s, a, b: str(s).replace(a, b),
    "words": lambda s: len(str(s).split()),
    "get": lambda m, k, default=None: m.get(k, default) if isinstance(m, dict) else default,
    "default": lambda v, d: d if v in (None, "", []) else v,
    "lookup": lookup,
    "bio_spans": bio_spans,
    "spert_entities": spert_entities,
    "spert_relations": spert_relations,
    "duee_events": duee_events,
    "zip_records": zip_records,
}
