"""The expression DSL's syntax tree: frozen nodes whose ``pos`` (offsets into the source text) is
excluded from equality, plus walkers over them. Produced by ``expr.parse``; read by ``expr.eval``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from humc.errors import Span, TextSpan


@dataclass(frozen=True)
class Expr:
    pos: tuple[int, int] = field(default=(0, 0), compare=False, kw_only=True)  # [start, end) offsets in the text


@dataclass(frozen=True)
class Lit(Expr):
    value: Any


@dataclass(frozen=True)
class Name(Expr):
    name: str


@dataclass(frozen=True)
class Attr(Expr):
    obj: Expr
    name: str


@dataclass(frozen=True)
class Item(Expr):
    obj: Expr
    index: Expr


@dataclass(frozen=True)
class Slice(Expr):
    """``obj[start:end]``: Python's slice of a list or text (end excluded); a bound left out is None."""

    obj: Expr
    start: Expr | None
    end: Expr | None


@dataclass(frozen=True)
class ListLit(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Call(Expr):
    fn: str
    args: tuple[Expr, ...] = ()
    kwargs: tuple[tuple[str, Expr], ...] = ()


@dataclass(frozen=True)
class Unary(Expr):
    op: str  # "not" | "-"
    operand: Expr


@dataclass(frozen=True)
class Binary(Expr):
    op: str  # and or == != < <= > >= in not_in + - * / %
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Chain(Expr):
    """A left-associative run of one precedence level with two or more operators, ``a + b - c``:
    one flat node, so a 300-term sum is one level deep (its depth, repr, pickling and evaluation
    do not recurse per term). A single operator stays a ``Binary``."""

    first: Expr
    rest: tuple[tuple[str, Expr], ...]  # (operator, operand) pairs, applied left to right


@dataclass(frozen=True)
class Pipeline(Expr):
    head: Expr
    stages: tuple[Call, ...] = ()


@dataclass(frozen=True)
class Rule(Expr):
    when: Expr
    then: Pipeline





def _children(node: Expr) -> Iterator[Expr]:
    for value in node.__dict__.values():
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, tuple):  # kwargs pairs
                item = item[1]
            if isinstance(item, Expr):
                yield item


def walk(node: Any) -> Iterator[Expr]:
    """Every node of an AST in source order, walked without recursion."""
    stack = [node] if isinstance(node, Expr) else []
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(list(_children(current))))


def iter_calls(node: Any) -> Iterator[Call]:
    """Every Call in an AST (pipeline stages included), walked without recursion."""
    return (n for n in walk(node) if isinstance(n, Call))


def depth(node: Expr) -> int:
    """How deeply an AST nests (evaluation recurses this deep)."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        current, d = stack.pop()
        deepest = max(deepest, d)
        stack.extend((child, d + 1) for child in _children(current))
    return deepest


def names_used(node: Any) -> set[str]:
    """Free names an expression reads (field names and constants)."""
    found: set[str] = set()
    stack = [node] if isinstance(node, Expr) else []
    while stack:
        current = stack.pop()
        if isinstance(current, Name):
            found.add(current.name)
        stack.extend(_children(current))
    return found


@dataclass(frozen=True)
class Source:
    """Where an expression's text came from, for diagnostics."""

    text: str
    span: Span | None = None
    col_offset: int = 0  # e.g. 1 for a quoted YAML scalar
    cut_by_comma: bool = False  # an unquoted scalar in a YAML flow collection: a comma ended it
    indent: int = 0  # a YAML block scalar's: the columns before every line of the text in its file

    def span_of(self, start: int, end: int | None = None) -> Span | None:
        if self.span is None:
            return None
        if isinstance(self.span, TextSpan):  # the place of each character is known
            return self.span.of(start, end)
        line_offset = self.text.count("\n", 0, start)
        line_start = self.text.rfind("\n", 0, start) + 1
        col = start - line_start + 1 + (self.col_offset if line_offset == 0 else 0)
        end_col = None if end is None else col + (end - start)
        if self.span.line + line_offset != self.span.line:  # block scalar continuation lines
            return Span(self.span.file, self.span.line + line_offset, col + self.indent, None,
                        None if end_col is None else end_col + self.indent)
        return self.span.shifted(0, col, end_col)


def literal_value(node: Expr) -> Any:
    """The value of a constant expression (stage arguments in variants and rules)."""
    if isinstance(node, Lit):
        return node.value
    if isinstance(node, ListLit):
        return [literal_value(i) for i in node.items]
    if isinstance(node, Unary) and node.op == "-":
        return -literal_value(node.operand)
    raise ValueError("not a constant")


def call_parts(pipe: Pipeline) -> list[Call]:
    """A pipeline whose every stage is a call (`a(1) | b | c(x=2)`), head included."""
    head = pipe.head
    if isinstance(head, Name):
        head = Call(head.name, pos=head.pos)
    if not isinstance(head, Call):
        raise ValueError("pipeline must start with a name or call")
    return [head, *pipe.stages]
