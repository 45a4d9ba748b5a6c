"""Small typed accessors over located YAML nodes, shared by the recipe validator and the
stdlib loader. Each failure is a ``RecipeError`` pointing at the offending key or value."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from humc.errors import RecipeError, Span, did_you_mean, source_line
from humc.expr import Source
from humc.limits import MAX_EXPR_CHARS
from humc.recipe.yamlsrc import Node, type_name

_KIND_WORDS = {"mapping": "a mapping", "list": "a list", "string": "a string", "integer": "an integer",
               "number": "a number", "boolean": "true or false", "null": "null"}


def describe(kind: str) -> str:
    return _KIND_WORDS.get(kind, kind)


def expect_kind(node: Node, *kinds: str, what: str) -> None:
    actual = node.kind
    if actual in kinds or (actual == "integer" and "number" in kinds):
        return
    raise RecipeError(f"{what} must be {' or '.join(describe(k) for k in kinds)}, not {describe(actual)}",
                      node.span, expected=" or ".join(describe(k) for k in kinds), code="E0007",
                      hint=_quote_hint(node) if "string" in kinds else
                      _number_hint(node) if "number" in kinds or "integer" in kinds else None)


_EXPONENT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _number_hint(node: Node) -> str | None:
    """A number in exponent form without a dot (`8e-1`, `1e5`): YAML 1.1, which PyYAML reads, takes it for text."""
    if node.style is not None or node.kind != "string" or not _EXPONENT.fullmatch(str(node.value)):
        return None
    mantissa, _, exponent = str(node.value).lower().partition("e")
    dotted = (mantissa if "." in mantissa else mantissa + ".0") + "e" + (exponent if exponent[0] in "+-" else "+" + exponent)
    value = float(str(node.value))
    plain = f", or write it out ({value:g})" if math.isfinite(value) and "e" not in f"{value:g}" else ""
    return f"YAML reads `{node.value}` as text: a number in exponent form needs a dot and a sign ({dotted}){plain}"


def _quote_hint(node: Node) -> str | None:
    """A bare word YAML reads as another type where a string is wanted (`language: no`, Norwegian, is false; `on`,
    `off`, `yes`, `12`, `2024-01-01`): quoting it keeps the text."""
    if node.style is not None or node.kind not in ("boolean", "integer", "number", "date", "datetime"):
        return None
    span, line = node.span, source_line(node.span)
    if line is None or span.end_line not in (None, span.line) or not span.end_col:
        return None
    written = line[span.col - 1:span.end_col - 1]
    if not written or '"' in written:
        return None
    read = str(node.value).lower() if node.kind == "boolean" else _READ_AS.get(node.kind, describe(node.kind))
    return f'YAML reads the bare `{written}` as {read}: write "{written}" (quoted) for the text'


_READ_AS = {"date": "a date", "datetime": "a date and time"}


def check_keys(node: Node, allowed: Iterable[str], what: str, required: Iterable[str] = (),
               elsewhere: Mapping[str, str] | None = None) -> None:
    """``node`` is a mapping of ``allowed`` keys holding ``required`` ones; ``elsewhere`` names, for keys that belong
    to another mapping of the recipe (a task entry's `split_by:` put under `output:`), where they go: the hint."""
    expect_kind(node, "mapping", what=what)
    allowed = list(allowed)
    for key, span in node.key_spans.items():
        if key not in allowed:
            place = (elsewhere or {}).get(key)
            hint = f"'{key}' is {place}: move it there" if place else did_you_mean(key, allowed)
            raise RecipeError(f"unknown key '{key}' in {what}", span,
                              expected="one of: " + ", ".join(allowed), hint=hint, code="E0005")
    for key in required:
        if key not in node.value:
            raise RecipeError(f"{what} is missing required key '{key}'", node.span,
                              expected=f"`{key}:` in this mapping", code="E0006")


def opt(node: Node, key: str, kind: str | tuple[str, ...], what: str, default: Any = None) -> Any:
    """The plain value under ``key`` (checked against ``kind``), or ``default`` when absent."""
    child = node.get(key)
    if child is None:
        return default
    kinds = (kind,) if isinstance(kind, str) else kind
    expect_kind(child, *kinds, what=f"'{key}' in {what}")
    return child.plain()


def req(node: Node, key: str, kind: str | tuple[str, ...], what: str) -> Any:
    check_present(node, key, what)
    return opt(node, key, kind, what)


def check_present(node: Node, key: str, what: str, hint: str | None = None) -> None:
    if node.get(key) is None:
        raise RecipeError(f"{what} is missing required key '{key}'", node.span, expected=f"`{key}:` in this mapping",
                          hint=hint, code="E0006")


def string_list(node: Node | None, what: str, *, names: bool = True) -> list[tuple[str, Node]]:
    """A string or list of strings, with each item's node (for locating later errors). ``names``: the items are
    names, so one string with a comma is a list written wrong; a file path (``names=False``) may hold a comma."""
    if node is None:
        return []
    if node.kind == "string":
        parts = _top_level_parts(node.value) if names else [node.value]
        if len(parts) > 1:  # `formats: json, natural` reads as one name
            items = ", ".join(part.strip() for part in parts)
            raise RecipeError(f"{what} is one string holding a comma-separated list", node.span, code="E0007",
                              expected="a YAML list (or one name)", hint=f"write it in brackets: [{items}]")
        return [(node.value, node)]
    expect_kind(node, "list", "string", what=what)
    for item in node.value:
        expect_kind(item, "string", what=f"each item of {what}")
    return [(item.value, item) for item in node.value]


def _top_level_parts(text: str) -> list[str]:
    """``text`` cut at each comma outside brackets and quotes (a format pipeline's arguments stay whole)."""
    parts, depth, quote, start = [], 0, "", 0
    for i, c in enumerate(text):
        if quote:
            quote = "" if c == quote else quote
        elif c in "\"'":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def expr_source(node: Node) -> Source:
    """The DSL ``Source`` for a string scalar, so expression errors point inside the YAML."""
    if not isinstance(node.value, str):
        raise RecipeError(f"expected an expression string, not {describe(type_name(node.value))}", node.span, code="E0007")
    text = node.value.strip() if node.style in ("|", ">") else node.value
    placed = node.text_span(2 * MAX_EXPR_CHARS)  # a longer one is refused as too long, located at its start
    if placed is not None:  # each character's place known: escapes, folded lines and indentation located exactly
        lead = len(node.value) - len(node.value.lstrip()) if node.style in ("|", ">") else 0
        return Source(text, placed.sliced(lead, lead + len(text)), cut_by_comma=node.in_flow and node.style is None)
    span, offset = node.expr_origin()
    indent = 0
    if node.style in ("|", ">"):
        span = span.shifted(1, 1)  # block scalars start on the next line, indented
        first = source_line(span) or ""
        indent = len(first) - len(first.lstrip(" "))
        span = span.shifted(0, indent + 1)
    return Source(text, span, offset, cut_by_comma=node.in_flow and node.style is None, indent=indent)


def text_origin(node: Node) -> Span | None:
    """Where a string's text (a template: an inline prompt, a variant's sentence, a lockfile item's text) starts, with
    the place of each of its characters when known, so that a template error's line and column are the file's."""
    return node.text_span() or expr_source(node).span_of(0)
