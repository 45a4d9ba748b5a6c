"""Parse stage, part 2: the expression DSL (grammar/expr.lark) — parsing and evaluation.

Expressions appear inside recipe YAML strings: field paths (``answers.text[0]``), filters
(``len(context) < 4000 and label != "O"``), pipelines (``tokens | join(" ")``,
``json | shuffle_keys(seed=3)``) and preference rules (``when len(answer) == 0 then
empty_as("[]")``). User text is parsed into a small AST and interpreted; nothing is eval'd.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

from lark import Lark, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from . import functions
from .errors import HumcError, RecipeError, Span, did_you_mean
from .paths import grammar_dir

# ---------------------------------------------------------------- AST


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
class Pipeline(Expr):
    head: Expr
    stages: tuple[Call, ...] = ()


@dataclass(frozen=True)
class Rule(Expr):
    when: Expr
    then: Pipeline


# ---------------------------------------------------------------- parsing


@dataclass(frozen=True)
class Source:
    """Where an expression's text came from, for diagnostics."""

    text: str
    span: Span | None = None
    col_offset: int = 0  # e.g. 1 for a quoted YAML scalar
    cut_by_comma: bool = False  # an unquoted scalar in a YAML flow collection: a comma ended it

    def span_of(self, start: int, end: int | None = None) -> Span | None:
        if self.span is None:
            return None
        line_offset = self.text.count("\n", 0, start)
        line_start = self.text.rfind("\n", 0, start) + 1
        col = start - line_start + 1 + (self.col_offset if line_offset == 0 else 0)
        end_col = None if end is None else col + (end - start)
        if self.span.line + line_offset != self.span.line:  # block scalar continuation lines
            return Span(self.span.file, self.span.line + line_offset, col, None, end_col)
        return self.span.shifted(0, col, end_col)


@functools.lru_cache(maxsize=None)
def _parser() -> Lark:
    grammar = (grammar_dir() / "expr.lark").read_text(encoding="utf-8")
    return Lark(grammar, start=["expr_start", "pipeline_start", "rule_start"], parser="lalr",
                propagate_positions=True, maybe_placeholders=True)


def _describe_expected(expected: Sequence[str], what: str = "rule") -> str:
    pretty = {
        "NAME": "a name", "STRING": "a string", "NUMBER": "a number", "LPAR": "'('", "RPAR": "')'",
        "LSQB": "'['", "RSQB": "']'", "COMMA": "','", "DOT": "'.'", "VBAR": "'|'", "COMP_OP": "a comparison",
        "PLUS": "'+'", "MINUS": "'-'", "MUL_OP": "an operator", "EQUAL": "'='", "THEN": "`then`", "WHEN": "`when`",
        "AND": "`and`", "OR": "`or`", "NOT": "`not`", "IN": "`in`", "TRUE": "`true`", "FALSE": "`false`",
        "NULL": "`null`", "$END": "end of expression",
    }
    if what != "rule":
        expected = [e for e in expected if e not in ("THEN", "WHEN")]
    names = sorted({pretty.get(e, e) for e in expected})
    return ", ".join(names) if names else "a valid expression"


MAX_DEPTH = 200  # AST levels: far beyond any real recipe, well within Python's recursion limit


def _parse(text: str, start: str, src: Source, what: str) -> Any:
    try:
        tree = _parser().parse(text, start=start)
        ast = _ToAst().transform(tree).children[0]
        if depth(ast) > MAX_DEPTH:
            raise RecursionError
        return ast
    except RecursionError:
        raise RecipeError(f"{what} is nested too deeply", src.span_of(0, len(text)),
                          expected="a shorter expression (split it into several fields)") from None
    except UnexpectedEOF as exc:
        raise RecipeError(f"unexpected end of {what}", src.span_of(len(text)),
                          expected=_describe_expected(exc.expected, what), hint=_end_hint(src, what)) from None
    except UnexpectedCharacters as exc:
        raise RecipeError(f"unexpected character {text[exc.pos_in_stream]!r} in {what}", src.span_of(exc.pos_in_stream, exc.pos_in_stream + 1),
                          expected=_describe_expected(exc.allowed or (), what)) from None
    except UnexpectedToken as exc:
        token = exc.token
        found = "end of text" if token.type == "$END" else repr(str(token))
        start_pos = len(text) if token.type == "$END" or token.start_pos is None else token.start_pos
        raise RecipeError(f"unexpected {found} in {what}", src.span_of(start_pos, start_pos + max(1, len(str(token)))),
                          expected=_describe_expected(exc.expected, what),
                          hint='compare with == (a single = only names a keyword argument)' if str(token) == "="
                          else _end_hint(src, what) if token.type == "$END" else _hint_for(what)) from None
    except UnexpectedInput as exc:  # pragma: no cover - other lark input errors
        raise RecipeError(f"cannot parse {what}: {exc}", src.span) from None
    except VisitError as exc:
        raise RecipeError(f"invalid {what}: {exc.orig_exc}", src.span) from None


FLOW_COMMA_HINT = ("in a YAML flow mapping or list ({...} or [...]) an unquoted comma ends the value: "
                   "quote the expression ('...') or write the mapping in block style")


def _end_hint(src: Source, what: str) -> str | None:
    return FLOW_COMMA_HINT if src.cut_by_comma else _hint_for(what)


def _hint_for(what: str) -> str | None:
    if what == "rule":
        return 'a rule reads `when <condition> then <op>(...) | <op>(...)`, e.g. when len(answer) == 0 then empty_as("[]")'
    if what == "pipeline":
        return 'a pipeline reads `<value> | <function>(args)`, e.g. tokens | join(" ")'
    return 'strings need double quotes; compare with == (not =)'


def parse_expr(text: str, src: Source | None = None) -> Expr:
    return _parse(text, "expr_start", src or Source(text), "expression")


def parse_pipeline(text: str, src: Source | None = None) -> Pipeline:
    return _parse(text, "pipeline_start", src or Source(text), "pipeline")


def parse_rule(text: str, src: Source | None = None) -> Rule:
    return _parse(text, "rule_start", src or Source(text), "rule")


def _pos(meta: Any) -> tuple[int, int]:
    return (getattr(meta, "start_pos", 0), getattr(meta, "end_pos", 0)) if not getattr(meta, "empty", True) else (0, 0)


def _unquote(token: str) -> str:
    body = token[1:-1]
    out, i = [], 0
    escapes = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0"}
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt == "u" and i + 5 < len(body) + 0:
                out.append(chr(int(body[i + 2:i + 6], 16)))
                i += 6
                continue
            out.append(escapes.get(nxt, "\\" + nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


@v_args(meta=True, inline=True)
class _ToAst(Transformer):
    def expr_start(self, meta, e):  # type: ignore[no-untyped-def]
        return _Wrap([e])

    def pipeline_start(self, meta, p):  # type: ignore[no-untyped-def]
        return _Wrap([p])

    def rule_start(self, meta, cond, pipe):  # type: ignore[no-untyped-def]
        return _Wrap([Rule(cond, pipe, pos=_pos(meta))])

    def pipeline(self, meta, head, *stages):  # type: ignore[no-untyped-def]
        return Pipeline(head, tuple(stages), pos=_pos(meta))

    def stage_name(self, meta, name):  # type: ignore[no-untyped-def]
        return Call(str(name), pos=_pos(meta))

    def stage_call(self, meta, name, args=None):  # type: ignore[no-untyped-def]
        return self.call(meta, name, args)

    def call(self, meta, name, args=None):  # type: ignore[no-untyped-def]
        positional = tuple(a for a in (args or []) if not isinstance(a, tuple))
        kwargs = tuple(a for a in (args or []) if isinstance(a, tuple))
        return Call(str(name), positional, kwargs, pos=_pos(meta))

    def args(self, meta, *items):  # type: ignore[no-untyped-def]
        return list(items)

    def kwarg(self, meta, name, value):  # type: ignore[no-untyped-def]
        return (str(name), value)

    def or_expr(self, meta, *items):  # type: ignore[no-untyped-def]
        return functools.reduce(lambda a, b: Binary("or", a, b, pos=_pos(meta)), items)

    def and_expr(self, meta, *items):  # type: ignore[no-untyped-def]
        return functools.reduce(lambda a, b: Binary("and", a, b, pos=_pos(meta)), items)

    def not_(self, meta, e):  # type: ignore[no-untyped-def]
        return Unary("not", e, pos=_pos(meta))

    def neg(self, meta, _minus, e):  # type: ignore[no-untyped-def]
        return Unary("-", e, pos=_pos(meta))

    def compare(self, meta, a, op, b):  # type: ignore[no-untyped-def]
        return Binary(str(op), a, b, pos=_pos(meta))

    def in_(self, meta, a, b):  # type: ignore[no-untyped-def]
        return Binary("in", a, b, pos=_pos(meta))

    def not_in(self, meta, a, b):  # type: ignore[no-untyped-def]
        return Binary("not_in", a, b, pos=_pos(meta))

    def _chain(self, meta, items):  # type: ignore[no-untyped-def]
        result = items[0]
        for op, rhs in zip(items[1::2], items[2::2]):
            result = Binary(str(op), result, rhs, pos=_pos(meta))
        return result

    def sum(self, meta, *items):  # type: ignore[no-untyped-def]
        return self._chain(meta, items)

    def product(self, meta, *items):  # type: ignore[no-untyped-def]
        return self._chain(meta, items)

    def getattr(self, meta, obj, name):  # type: ignore[no-untyped-def]
        return Attr(obj, str(name), pos=_pos(meta))

    def getitem(self, meta, obj, index):  # type: ignore[no-untyped-def]
        return Item(obj, index, pos=_pos(meta))

    def name(self, meta, tok):  # type: ignore[no-untyped-def]
        return Name(str(tok), pos=_pos(meta))

    def string(self, meta, tok):  # type: ignore[no-untyped-def]
        return Lit(_unquote(str(tok)), pos=_pos(meta))

    def number(self, meta, tok):  # type: ignore[no-untyped-def]
        text = str(tok)
        return Lit(float(text) if any(c in text for c in ".eE") else int(text), pos=_pos(meta))

    def true(self, meta):  # type: ignore[no-untyped-def]
        return Lit(True, pos=_pos(meta))

    def false(self, meta):  # type: ignore[no-untyped-def]
        return Lit(False, pos=_pos(meta))

    def null(self, meta):  # type: ignore[no-untyped-def]
        return Lit(None, pos=_pos(meta))

    def list(self, meta, *items):  # type: ignore[no-untyped-def]
        return ListLit(tuple(i for i in items if i is not None), pos=_pos(meta))


@dataclass
class _Wrap:
    children: list[Any]


# ---------------------------------------------------------------- static checks


def check_functions(node: Expr, src: Source, allowed: Mapping[str, Any] | None = None) -> None:
    """Reject calls to unknown functions (with a did-you-mean hint) before any data is read."""
    table = functions.FUNCTIONS if allowed is None else allowed
    for call in iter_calls(node):
        if call.fn not in table:
            raise RecipeError(f"unknown function '{call.fn}'", src.span_of(*call.pos),
                              expected="one of: " + ", ".join(sorted(table)),
                              hint=did_you_mean(call.fn, table))


def _children(node: Expr) -> Iterator[Expr]:
    for value in node.__dict__.values():
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, tuple):  # kwargs pairs
                item = item[1]
            if isinstance(item, Expr):
                yield item


def iter_calls(node: Any) -> Iterator[Call]:
    """Every Call in an AST (pipeline stages included), walked without recursion."""
    stack = [node] if isinstance(node, Expr) else []
    while stack:
        current = stack.pop()
        if isinstance(current, Call):
            yield current
        stack.extend(reversed(list(_children(current))))


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


# ---------------------------------------------------------------- evaluation


class EvalError(HumcError):
    """An expression failed on a particular record."""


_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "%": operator.mod,
    "in": lambda a, b: a in b, "not_in": lambda a, b: a not in b,
}


class Evaluator:
    """Evaluates ASTs against an environment (a record's fields plus recipe constants)."""

    def __init__(self, src: Source, fns: Mapping[str, Callable[..., Any]] | None = None) -> None:
        self.src = src
        self.fns = functions.FUNCTIONS if fns is None else fns

    def fail(self, node: Expr, message: str, where: str = "") -> EvalError:
        return EvalError(message + (f" ({where})" if where else ""), self.src.span_of(*node.pos))

    def eval(self, node: Expr, env: Mapping[str, Any], where: str = "") -> Any:
        try:
            return self._eval(node, env, where)
        except EvalError:
            raise
        except (TypeError, ValueError, ArithmeticError, KeyError, IndexError, AttributeError) as exc:
            raise self.fail(node, f"expression failed: {exc}", where) from None
        except (MemoryError, RecursionError):
            raise self.fail(node, "expression failed: the value grew too large or too deep", where) from None

    def _eval(self, node: Expr, env: Mapping[str, Any], where: str) -> Any:
        if isinstance(node, Lit):
            return node.value
        if isinstance(node, Name):
            if node.name == "record":
                return dict(env)
            if node.name not in env:
                raise self.fail(node, f"unknown field '{node.name}'", where) from None
            return env[node.name]
        if isinstance(node, ListLit):
            return [self._eval(i, env, where) for i in node.items]
        if isinstance(node, Attr):
            return self._getattr(node, self._eval(node.obj, env, where), where)
        if isinstance(node, Item):
            return self._getitem(node, self._eval(node.obj, env, where), self._eval(node.index, env, where), where)
        if isinstance(node, Call):
            args = [self._eval(a, env, where) for a in node.args]
            kwargs = {k: self._eval(v, env, where) for k, v in node.kwargs}
            return self._call(node, args, kwargs, where)
        if isinstance(node, Unary):
            value = self._eval(node.operand, env, where)
            return (not value) if node.op == "not" else -value
        if isinstance(node, Binary):
            return self._binary(node, env, where)
        if isinstance(node, Pipeline):
            value = self._eval(node.head, env, where)
            for stage in node.stages:
                args = [value] + [self._eval(a, env, where) for a in stage.args]
                kwargs = {k: self._eval(v, env, where) for k, v in stage.kwargs}
                value = self._call(stage, args, kwargs, where)
            return value
        raise self.fail(node, f"cannot evaluate {type(node).__name__} here", where)

    def _binary(self, node: Binary, env: Mapping[str, Any], where: str) -> Any:
        left = self._eval(node.left, env, where)
        if node.op == "and":
            return left and self._eval(node.right, env, where)
        if node.op == "or":
            return left or self._eval(node.right, env, where)
        right = self._eval(node.right, env, where)
        try:
            return _BINOPS[node.op](left, right)
        except TypeError:
            raise self.fail(node, f"cannot apply '{node.op.replace('_', ' ')}' to {_tn(left)} and {_tn(right)}", where) from None

    def _getattr(self, node: Attr, value: Any, where: str) -> Any:
        if isinstance(value, list):  # broadcast over lists of mappings: choices.text
            return [self._getattr(node, v, where) for v in value]
        if isinstance(value, Mapping):
            if node.name not in value:
                raise self.fail(node, f"no field '{node.name}' (available: {', '.join(map(str, value)) or 'none'})", where)
            return value[node.name]
        raise self.fail(node, f"cannot read '.{node.name}' of {_tn(value)}", where)

    def _getitem(self, node: Item, value: Any, index: Any, where: str) -> Any:
        if isinstance(value, (list, str)) and isinstance(index, int) and not isinstance(index, bool):
            return value[index] if -len(value) <= index < len(value) else None  # out of range -> null
        if isinstance(value, Mapping):
            return value.get(index)
        raise self.fail(node, f"cannot index {_tn(value)} with {_tn(index)}", where)

    def _call(self, node: Call, args: list[Any], kwargs: dict[str, Any], where: str) -> Any:
        fn = self.fns.get(node.fn)
        if fn is None:
            raise self.fail(node, f"unknown function '{node.fn}'", where)
        try:
            return fn(*args, **kwargs)
        except functions.FunctionError as exc:
            raise self.fail(node, f"{node.fn}(): {exc}", where) from None
        except TypeError as exc:
            raise self.fail(node, f"{node.fn}(): {exc}", where) from None


def _tn(value: Any) -> str:
    from .yamlsrc import type_name

    return type_name(value) if not isinstance(value, (list, dict)) else ("list" if isinstance(value, list) else "mapping")


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
