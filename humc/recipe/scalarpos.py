"""Where each character of a YAML string scalar's value is in its file.

A scalar's value is not its source text: quoted scalars have escapes (``\\n``, ``\\"``, ``''``), flow and plain
scalars fold their line breaks into spaces, block scalars drop their indentation, and folded ones (``>``) join lines.
``scalar_places`` reads the scalar's source again as PyYAML's scanner does and gives, for each character of the
value, the file line and columns of the source text it came from, so an error inside the value (a DSL expression, a
Jinja template) points at the real character. It returns None when its reading does not give PyYAML's value (a
construct it does not follow): callers then locate as before.
"""

from __future__ import annotations

import functools
import re

from humc.errors import Place, Span, TextSpan

__all__ = ["SourceText", "scalar_places", "text_span"]

_BREAKS = "\r\n\x85\u2028\u2029"
_ESCAPES = {"0": "\0", "a": "\x07", "b": "\x08", "t": "\t", "\t": "\t", "n": "\n", "v": "\x0b", "f": "\x0c",
            "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\", "N": "\x85", "_": "\xa0",
            "L": "\u2028", "P": "\u2029"}
_HEX = {"x": 2, "u": 4, "U": 8}
_HEADER = re.compile(r"[|>]([+-]?)([1-9]?)([+-]?)[ \t]*(?:#[^\r\n\x85\u2028\u2029]*)?")


class SourceText:
    """A YAML file's text, shared by the nodes read from it, so that a scalar's source can be read again."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.placed: dict[tuple[Span, str | None], TextSpan | None] = {}  # an alias's copies are read once

    @functools.cached_property
    def line_starts(self) -> list[int]:
        return [0, *(m.end() for m in _LINE_BREAK.finditer(self.text))]

    def raw(self, span: Span) -> str | None:
        """The source text of ``span`` (a node's, start to end); None when the span is not in the text."""
        starts = self.line_starts
        if span.end_line is None or span.end_col is None or not 1 <= span.line <= span.end_line <= len(starts):
            return None
        return self.text[starts[span.line - 1] + span.col - 1:starts[span.end_line - 1] + span.end_col - 1]


_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # where PyYAML counts a new line


MAX_PLACED_CHARS = 1 << 16  # a longer string is located as before: its places would cost memory and time


def text_span(span: Span, style: str | None, value: str, source: SourceText | None,
              limit: int = MAX_PLACED_CHARS) -> TextSpan | None:
    """``span`` (a string scalar's) with the place of each character of its ``value``; None when they are not known
    or the value is longer than ``limit``."""
    if source is None or len(value) > limit:
        return None
    if (span, style) not in source.placed:
        raw = source.raw(span)
        places = scalar_places(raw, span.line, span.col, style, value) if raw is not None else None
        first = places[0] if places else (span.line, span.col, span.col)
        source.placed[span, style] = None if places is None else TextSpan(span.file, first[0], first[1], text=value,
                                                                          places=tuple(places))
    return source.placed[span, style]


class _Raw:
    """The scalar's source text with the file position of each of its characters (PyYAML's line counting)."""

    def __init__(self, raw: str, line: int, col: int) -> None:
        self.raw, self.at = raw, 0
        self.pos: list[tuple[int, int]] = []
        for i, c in enumerate(raw):
            self.pos.append((line, col))
            if c in "\n\x85\u2028\u2029" or (c == "\r" and raw[i + 1:i + 2] != "\n"):
                line, col = line + 1, 1
            else:
                col += 1
        self.pos.append((line, col))
        self.chars: list[str] = []
        self.places: list[Place] = []

    def peek(self, ahead: int = 0) -> str:
        return self.raw[self.at + ahead:self.at + ahead + 1]

    def emit(self, text: str, start: int, end: int) -> None:
        """``text`` made from source characters ``start:end`` (an escape, a fold: one place for each character)."""
        line, col = self.pos[start]
        end_line, end_col = self.pos[end]
        place = (line, col, end_col if end_line == line and end_col > col else col + 1)
        self.chars.append(text)
        self.places.extend([place] * len(text))

    def take(self, count: int = 1) -> None:
        """The next ``count`` source characters, each one character of the value."""
        for _ in range(count):
            self.emit(self.raw[self.at], self.at, self.at + 1)
            self.at += 1

    def line_break(self) -> str:
        """Consume a line break; the value's character for it (\\r\\n, \\r and NEL read as \\n)."""
        c = self.peek()
        if not c:
            return ""
        self.at += 2 if self.raw.startswith("\r\n", self.at) else 1
        return c if c in "\u2028\u2029" else "\n"

    def skip(self, chars: str) -> None:
        while self.peek() and self.peek() in chars:
            self.at += 1


def scalar_places(raw: str, line: int, col: int, style: str | None, value: str) -> list[Place] | None:
    """The place of each character of ``value``, the string a scalar of ``style`` (None: plain, '"', "'", '|' or
    '>') whose source ``raw`` starts at ``line``:``col`` holds; None when reading ``raw`` does not give ``value``."""
    src = _Raw(raw, line, col)
    try:
        if style in ("|", ">"):
            _block(src, style == ">", value)
        else:
            _flow(src, style)
    except (IndexError, KeyError, ValueError):
        return None
    return src.places if "".join(src.chars) == value and len(src.places) == len(value) else None


def _flow(src: _Raw, style: str | None) -> None:
    """A plain or quoted scalar (``raw`` ends where the scalar does)."""
    end = len(src.raw)
    if style is not None:
        src.at, end = 1, len(src.raw) - 1
        if src.raw[-1] != style:
            raise ValueError("not a whole quoted scalar")
    while src.at < end:
        c = src.peek()
        if c in " \t" or c in _BREAKS:
            _spaces(src, end)
        elif style == "'" and c == "'":
            src.emit("'", src.at, src.at + 2)
            src.at += 2
        elif style == '"' and c == "\\":
            _escape(src)
        else:
            src.take()


def _spaces(src: _Raw, end: int) -> None:
    """Whitespace in a flow scalar: kept as written on a line, folded at a line break (PyYAML's scan_flow_scalar_spaces
    and scan_plain_spaces)."""
    start = src.at
    src.skip(" \t")
    if src.at >= end or src.peek() not in _BREAKS:
        for i in range(start, src.at):
            src.emit(src.raw[i], i, i + 1)
        return
    at = src.at
    first = src.line_break()
    breaks = _more_breaks(src)
    if first != "\n":
        src.emit(first, at, at + 1)
    elif not breaks:
        src.emit(" ", at, at + 1)
    for where, char in breaks:
        src.emit(char, where, where + 1)


def _more_breaks(src: _Raw) -> list[tuple[int, str]]:
    """The empty lines after a line break in a flow scalar, and the next line's indentation, skipped."""
    breaks: list[tuple[int, str]] = []
    while True:
        src.skip(" \t")
        if not src.peek() or src.peek() not in _BREAKS:
            return breaks
        at = src.at
        breaks.append((at, src.line_break()))


def _escape(src: _Raw) -> None:
    start = src.at
    code = src.raw[start + 1]
    if code in _ESCAPES:
        src.at += 2
        src.emit(_ESCAPES[code], start, src.at)
    elif code in _HEX:
        digits = src.raw[start + 2:start + 2 + _HEX[code]]
        src.at = start + 2 + _HEX[code]
        src.emit(chr(int(digits, 16)), start, src.at)
    elif code in _BREAKS:  # an escaped line break: it and the next line's indentation are nothing
        src.at += 1
        src.line_break()
        for where, char in _more_breaks(src):
            src.emit(char, where, where + 1)
    else:
        raise ValueError("unknown escape")


def _block(src: _Raw, folded: bool, value: str) -> None:
    """A literal or folded block scalar (``raw`` from its indicator on), as PyYAML's scan_block_scalar reads it."""
    header = _HEADER.match(src.raw)
    if header is None:
        raise ValueError("no block scalar header")
    chomp = header[1] or header[3]
    src.at = header.end()
    src.line_break()
    body = src.at
    widths: list[int | None] = [None]
    if header[2]:  # an explicit indentation counts from the parent's, not known here: each possible one is tried
        deepest = max(len(lead) for lead in re.findall(r"(?m)^ *", src.raw[body:]))
        widths = list(range(int(header[2]), deepest + 1))
    for width in widths:
        src.at, src.chars, src.places = body, [], []
        _block_body(src, folded, chomp, width)
        if "".join(src.chars) == value:
            return


def _block_body(src: _Raw, folded: bool, chomp: str, indent: int | None) -> None:
    breaks = _leading(src, indent)
    if indent is None:
        indent = _column(src)
    line_break: tuple[int, str] | None = None
    while _column(src) == indent and src.peek():
        for at, char in breaks:
            src.emit(char, at, at + 1)
        leading_text = src.peek() not in " \t"
        while src.peek() and src.peek() not in _BREAKS:
            src.take()
        if not src.peek():
            line_break = None
            breaks = []
            break
        line_break = (src.at, src.line_break())
        breaks = _block_breaks(src, indent)
        if _column(src) == indent and src.peek():
            if folded and line_break[1] == "\n" and leading_text and src.peek() not in " \t":
                if not breaks:
                    src.emit(" ", line_break[0], line_break[0] + 1)
            else:
                src.emit(line_break[1], line_break[0], line_break[0] + 1)
        else:
            break
    if chomp != "-" and line_break is not None:
        src.emit(line_break[1], line_break[0], line_break[0] + 1)
    if chomp == "+":
        for at, char in breaks:
            src.emit(char, at, at + 1)


def _column(src: _Raw) -> int:
    """The 0-based column of the reading position (PyYAML's ``column``)."""
    return src.pos[src.at][1] - 1 if src.at < len(src.pos) else 0


def _leading(src: _Raw, indent: int | None) -> list[tuple[int, str]]:
    """Empty lines before a block scalar's first line: with an ``indent``, its spaces skipped (scan_block_scalar_breaks);
    without, all spaces (scan_block_scalar_indentation, which finds the indentation)."""
    if indent is not None:
        return _block_breaks(src, indent)
    breaks: list[tuple[int, str]] = []
    while src.peek() and src.peek() in " " + _BREAKS:
        if src.peek() == " ":
            src.at += 1
        else:
            at = src.at
            breaks.append((at, src.line_break()))
    return breaks


def _block_breaks(src: _Raw, indent: int) -> list[tuple[int, str]]:
    """Empty lines inside a block scalar, each line's indentation (up to ``indent``) skipped."""
    breaks: list[tuple[int, str]] = []
    while True:
        while _column(src) < indent and src.peek() == " ":
            src.at += 1
        if not src.peek() or src.peek() not in _BREAKS:
            return breaks
        at = src.at
        breaks.append((at, src.line_break()))
