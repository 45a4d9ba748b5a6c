"""Compiler-style diagnostics.

Every user-facing failure is a ``HumcError``. Errors that point into a file carry a
``Span`` and render like a compiler: ``file:line:col: error: message``, the offending
line with a caret underline, what was expected, and an optional hint.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Span:
    """A region of a source file; line and column are 1-based, end is exclusive."""

    file: str
    line: int
    col: int
    end_line: int | None = None
    end_col: int | None = None

    def shifted(self, line_offset: int, col: int, end_col: int | None = None) -> Span:
        """A span inside this one (used for DSL expressions embedded in a YAML scalar)."""
        line = self.line + line_offset
        base_col = self.col if line_offset == 0 else 1
        return Span(self.file, line, base_col + col - 1, line, None if end_col is None else base_col + end_col - 1)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class HumcError(Exception):
    """Base class of every error humc reports to a user (exit code 2 unless overridden)."""

    exit_code = 2

    def __init__(self, message: str, span: Span | None = None, *, expected: str | None = None,
                 hint: str | None = None, notes: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.expected = expected
        self.hint = hint
        self.notes = list(notes)

    def render(self) -> str:
        head = f"{self.span}: error: {self.message}" if self.span else f"error: {self.message}"
        lines = [head]
        if self.span:
            lines.extend(_snippet(self.span))
        if self.expected:
            lines.append(f"  expected: {self.expected}")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


class RecipeError(HumcError):
    """The recipe (YAML or an embedded expression) is invalid."""


class SourceError(HumcError):
    """A data source is missing or malformed."""


class PublishError(HumcError):
    """Publishing to the Hub failed."""


class LLMError(HumcError):
    """An LLM backend failed for good (after retries)."""


@dataclass
class ErrorList(HumcError):
    """Several diagnostics reported together (validation collects all it can find)."""

    errors: list[HumcError] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(f"{len(self.errors)} error(s)")

    def render(self) -> str:
        body = "\n\n".join(e.render() for e in self.errors)
        return f"{body}\n\n{len(self.errors)} error(s); nothing was written."


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A 'did you mean' hint for an unknown name, or None when nothing is close."""
    matches = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    if not matches:
        return None
    return "did you mean " + " or ".join(f"'{m}'" for m in matches) + "?"


def type_name(value: Any) -> str:
    """The recipe-language name of a plain value's type (for messages)."""
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string"}.get(type(value), type(value).__name__)


def _snippet(span: Span) -> list[str]:
    try:
        text = Path(span.file).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    if not 1 <= span.line <= len(text):
        return []
    src = text[span.line - 1]
    width = 1
    if span.end_col and (span.end_line in (None, span.line)) and span.end_col > span.col:
        width = span.end_col - span.col
    col = span.col
    if len(src) > MAX_SNIPPET:  # show a window around the caret, not a whole huge line
        start = max(0, min(col - 1 - MAX_SNIPPET // 4, len(src) - MAX_SNIPPET))
        shown = src[start:start + MAX_SNIPPET]
        src = ("…" if start else "") + shown + ("…" if start + MAX_SNIPPET < len(src) else "")
        col = col - start + (1 if start else 0)
        width = max(1, min(width, len(src) - col + 1))
    gutter = f"{span.line:>4} | "
    return [gutter + src, " " * (len(gutter) + col - 1) + "^" + "~" * (width - 1)]


MAX_SNIPPET = 120
