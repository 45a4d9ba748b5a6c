"""DSL parse stage: expression text + ``Source`` -> frozen AST (grammar/expr.lark, Lark LALR).

Expressions appear inside recipe YAML strings: field paths (``answers.text[0]``), filters
(``len(context) < 4000 and label != "O"``), pipelines (``tokens | join(" ")``,
``json | shuffle_keys(seed=3)``) and preference rules (``when len(answer) == 0 then
empty_as("[]")``). User text is parsed into a small AST and interpreted; nothing is eval'd.

Limits (``humc.limits``, error E0010 at the expression): its length is checked before parsing,
the depth of its AST after (a RecursionError in Lark's recursive tree walk reports the same), and
number literals before converting them (no 5000-digit ``int()``, no infinite floats).
"""

from __future__ import annotations

import functools
import inspect
import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError
from lark.tree import Meta

from humc.errors import RecipeError, did_you_mean, join_surrogate_pairs
from humc.expr import argtypes, functions
from humc.expr.ast import (
    Attr,
    Binary,
    Call,
    Chain,
    Expr,
    Item,
    ListLit,
    Lit,
    Name,
    Pipeline,
    Rule,
    Slice,
    Source,
    Unary,
    depth,
    iter_calls,
    literal_value,
    walk,
)
from humc.limits import LIMIT_CODE, MAX_EXPR_CHARS, MAX_EXPR_DEPTH, MAX_INT, MAX_INT_DIGITS
from humc.resources import grammar_dir


@functools.cache
def _parser() -> Lark:
    grammar = (grammar_dir() / "expr.lark").read_text(encoding="utf-8")
    return Lark(grammar, start=["expr_start", "pipeline_start", "rule_start"], parser="lalr",
                propagate_positions=True, maybe_placeholders=True)


def _describe_expected(expected: Collection[str], what: str = "rule") -> str:
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


MAX_DEPTH = MAX_EXPR_DEPTH  # AST levels: far beyond any real recipe, well within Python's recursion limit


class _LiteralTooLarge(Exception):
    def __init__(self, pos: tuple[int, int]) -> None:
        self.pos = pos


_E = TypeVar("_E", bound=Expr)


def _parse(text: str, start: str, src: Source, what: str, kind: type[_E]) -> _E:
    if len(text) > MAX_EXPR_CHARS:  # before parsing: Lark's LALR is linear, but its tree is walked recursively
        raise RecipeError(f"{what} is too long ({len(text)} characters)", src.span_of(0, len(text)),
                          expected=f"at most {MAX_EXPR_CHARS} characters (split it into several fields)",
                          code=LIMIT_CODE)
    try:
        tree = _parser().parse(text, start=start)
        ast = _ToAst().transform(tree).children[0]
        if depth(ast) > MAX_DEPTH:
            raise RecursionError
        assert isinstance(ast, kind), f"{start} gave {type(ast).__name__}"  # the grammar's start rule fixes the kind
        return ast
    except RecursionError:
        raise _too_deep(text, src, what) from None
    except UnexpectedEOF as exc:
        raise RecipeError(f"unexpected end of {what}", src.span_of(len(text)),
                          expected=_describe_expected(exc.expected, what), hint=_end_hint(src, what), code="E1001") from None
    except UnexpectedCharacters as exc:
        at: int = exc.pos_in_stream  # type: ignore[assignment]  # lark declares it None at class level; this subclass always sets an int
        raise RecipeError(f"unexpected character {text[at]!r} in {what}", src.span_of(at, at + 1),
                          expected=_describe_expected(exc.allowed or (), what), code="E1001") from None
    except UnexpectedToken as exc:
        token = exc.token
        found = "end of text" if token.type == "$END" else repr(str(token))
        start_pos = len(text) if token.type == "$END" or token.start_pos is None else token.start_pos
        raise RecipeError(f"unexpected {found} in {what}", src.span_of(start_pos, start_pos + max(1, len(str(token)))),
                          expected=_describe_expected(exc.expected, what),
                          hint='compare with == (a single = only names a keyword argument)' if str(token) == "="
                          else _end_hint(src, what) if token.type == "$END"
                          else _spaced_name_hint(text, start_pos, token) or _hint_for(what), code="E1001") from None
    except UnexpectedInput as exc:  # pragma: no cover - other lark input errors
        raise RecipeError(f"cannot parse {what}: {exc}", src.span, code="E1001") from None
    except VisitError as exc:
        raise _visit_error(exc.orig_exc, text, src, what) from None


def _balanced(op: str, items: Sequence[Expr], pos: tuple[int, int]) -> Expr:
    """``a or b or c …`` as a balanced tree of ``Binary`` nodes: ``and``/``or`` are associative (the same operands
    evaluated left to right, stopping at the same one), and a 500-term `or` nests 9 levels deep, not 500."""
    if len(items) == 1:
        return items[0]
    half = len(items) // 2
    return Binary(op, _balanced(op, items[:half], pos), _balanced(op, items[half:], pos), pos=pos)


def _too_deep(text: str, src: Source, what: str) -> RecipeError:
    return RecipeError(f"{what} is nested too deeply", src.span_of(0, len(text)), code=LIMIT_CODE,
                       expected=f"at most {MAX_DEPTH} levels (split it into several fields)")


def _visit_error(exc: BaseException, text: str, src: Source, what: str) -> RecipeError:
    if isinstance(exc, RecursionError):  # Lark wraps errors raised inside a transformer callback
        return _too_deep(text, src, what)
    if isinstance(exc, _LiteralTooLarge):
        return RecipeError("number too large", src.span_of(*exc.pos), code=LIMIT_CODE,
                           expected=f"an integer between -{MAX_INT} and {MAX_INT}, or a finite number")
    if isinstance(exc, _BadArguments):
        return RecipeError(exc.message, src.span_of(*exc.pos), expected=exc.expected, hint=exc.hint, code="E2004")
    return RecipeError(f"invalid {what}: {exc}", src.span, code="E0008")


FLOW_COMMA_HINT = ("in a YAML flow mapping or list ({...} or [...]) an unquoted comma ends the value: "
                   "quote the expression ('...') or write the mapping in block style")


_WORDS_BEFORE = re.compile(r"[^\W\d]\w*(?:[ \t]+[^\W\d]\w*)*[ \t]+$")  # names as the grammar's NAME


def _spaced_name_hint(text: str, at: int, token: Token) -> str | None:
    """Two names side by side (`Review Text`): most likely a column whose name holds a space."""
    if token.type != "NAME":
        return None
    found = _WORDS_BEFORE.search(text[:at])
    words = (text[found.start():at] + str(token)).split() if found is not None else []
    last = max((i for i, word in enumerate(words) if word in _KEYWORDS), default=-1)
    words = words[last + 1:]  # `x in labels y`: the name is what follows the last keyword
    if len(words) < 2:
        return None
    name = " ".join(words)
    return f"a column whose name holds a space is written record[{name!r}]; names side by side are not an expression"


_KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "null"})  # the grammar's words that are no names


def _end_hint(src: Source, what: str) -> str | None:
    return FLOW_COMMA_HINT if src.cut_by_comma else _hint_for(what)


def _hint_for(what: str) -> str | None:
    if what == "rule":
        return 'a rule reads `when <condition> then <op>(...) | <op>(...)`, e.g. when len(answer) == 0 then empty_as("[]")'
    if what == "pipeline":
        return 'a pipeline reads `<value> | <function>(args)`, e.g. tokens | join(" ")'
    return 'strings need double quotes; compare with == (not =)'


def parse_expr(text: str, src: Source | None = None) -> Expr:
    return _parse(text, "expr_start", src or Source(text), "expression", Expr)


def parse_pipeline(text: str, src: Source | None = None) -> Pipeline:
    return _parse(text, "pipeline_start", src or Source(text), "pipeline", Pipeline)


def parse_rule(text: str, src: Source | None = None) -> Rule:
    return _parse(text, "rule_start", src or Source(text), "rule", Rule)


def _pos(meta: Meta) -> tuple[int, int]:
    return (getattr(meta, "start_pos", 0), getattr(meta, "end_pos", 0)) if not getattr(meta, "empty", True) else (0, 0)


def _arg_pos(arg: object, meta: Meta) -> tuple[int, int]:
    """Where an argument is written, else where its call is."""
    pos = getattr(arg, "pos", None)
    return pos if isinstance(pos, tuple) and pos != (0, 0) else _pos(meta)


def _unquote(token: str) -> str:
    body = token[1:-1]
    out, i = [], 0
    escapes = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0",
               "b": "\b", "f": "\f", "/": "/"}  # JSON's too: a JSON string literal means the same here
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt == "u":
                digits = body[i + 2:i + 6]
                if not _HEX4.fullmatch(digits):
                    raise ValueError(f"\\u{digits} is not a character escape: \\u takes four hexadecimal digits "
                                     "(\\u00e9 is é; \\\\u is a backslash and u)")
                out.append(chr(int(digits, 16)))
                i += 6
                continue
            out.append(escapes.get(nxt, "\\" + nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return join_surrogate_pairs("".join(out))


_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")


_Arg = Expr | tuple[str, Expr]  # a call argument: positional, or keyword (name, value)


class _Keyword(tuple[str, Expr]):
    """A keyword argument (name, value) that knows where it was written, until its call is built."""

    pos: tuple[int, int]

    def __new__(cls, name: str, value: Expr, pos: tuple[int, int]) -> _Keyword:
        made = super().__new__(cls, (name, value))
        made.pos = pos
        return made


class _BadArguments(Exception):
    """A call's arguments Python would refuse to take (E2004 at ``pos``)."""

    def __init__(self, message: str, expected: str, hint: str, pos: tuple[int, int]) -> None:
        super().__init__(message)
        self.message, self.expected, self.hint, self.pos = message, expected, hint, pos


@v_args(meta=True, inline=True)
class _ToAst(Transformer[Token, "_Wrap"]):
    def expr_start(self, meta: Meta, e: Expr) -> _Wrap:
        return _Wrap([e])

    def pipeline_start(self, meta: Meta, p: Pipeline) -> _Wrap:
        return _Wrap([p])

    def rule_start(self, meta: Meta, cond: Expr, pipe: Pipeline) -> _Wrap:
        return _Wrap([Rule(cond, pipe, pos=_pos(meta))])

    def pipeline(self, meta: Meta, head: Expr, *stages: Call) -> Pipeline:
        return Pipeline(head, tuple(stages), pos=_pos(meta))

    def stage_name(self, meta: Meta, name: Token) -> Call:
        return Call(str(name), pos=_pos(meta))

    def stage_call(self, meta: Meta, name: Token, args: list[_Arg] | None = None) -> Call:
        return self.call(meta, name, args)

    def call(self, meta: Meta, name: Token, args: list[_Arg] | None = None) -> Call:
        args = args or []
        positional = tuple(a for a in args if not isinstance(a, tuple))
        kwargs = tuple(a for a in args if isinstance(a, tuple))
        seen: set[str] = set()
        for key in kwargs:  # `f(sep=",", sep=" ")`: Python refuses it; a mapping of them kept the last silently
            if key[0] in seen:
                raise _BadArguments(f"{name}(): the argument {key[0]}= is given twice", "each named argument once",
                                    f"keep one {key[0]}=", key.pos if isinstance(key, _Keyword) else _pos(meta))
            seen.add(key[0])
        first_named = next((a for a in args if isinstance(a, tuple)), None)
        late = next((a for a in args[args.index(first_named):] if not isinstance(a, tuple)), None) \
            if first_named is not None else None
        if first_named is not None and late is not None:  # `split(sep=" ", text)`: Python refuses it too
            raise _BadArguments(f"{name}(): a positional argument follows the named argument {first_named[0]}=",
                                "the positional arguments first, then the named ones (name=value)",
                                f"move it before {first_named[0]}=, or name it as well", _arg_pos(late, meta))
        return Call(str(name), positional, tuple((k, v) for k, v in kwargs), pos=_pos(meta))

    def args(self, meta: Meta, *items: _Arg) -> list[_Arg]:
        return list(items)

    def kwarg(self, meta: Meta, name: Token, value: Expr) -> tuple[str, Expr]:
        return _Keyword(str(name), value, _pos(meta))

    def or_expr(self, meta: Meta, *items: Expr) -> Expr:
        return _balanced("or", items, _pos(meta))

    def and_expr(self, meta: Meta, *items: Expr) -> Expr:
        return _balanced("and", items, _pos(meta))

    def not_(self, meta: Meta, e: Expr) -> Expr:
        return Unary("not", e, pos=_pos(meta))

    def neg(self, meta: Meta, _minus: Token, e: Expr) -> Expr:
        return Unary("-", e, pos=_pos(meta))

    def compare(self, meta: Meta, a: Expr, op: Token, b: Expr) -> Expr:
        return Binary(str(op), a, b, pos=_pos(meta))

    def in_(self, meta: Meta, a: Expr, b: Expr) -> Expr:
        return Binary("in", a, b, pos=_pos(meta))

    def not_in(self, meta: Meta, a: Expr, b: Expr) -> Expr:
        return Binary("not_in", a, b, pos=_pos(meta))

    def _chain(self, meta: Meta, items: tuple[Expr | Token, ...]) -> Expr:
        """Operands and operator tokens alternate: a (op b)*; a run of more than one operator is one flat
        ``Chain`` node, so a long sum is not "nested"."""
        pairs: list[tuple[str, Expr]] = []
        for op, rhs in zip(items[1::2], items[2::2], strict=True):
            assert isinstance(rhs, Expr)
            pairs.append((str(op), rhs))
        first = items[0]
        assert isinstance(first, Expr)
        if len(pairs) > 1:
            return Chain(first, tuple(pairs), pos=_pos(meta))
        return functools.reduce(lambda acc, pair: Binary(pair[0], acc, pair[1], pos=_pos(meta)), pairs, first)

    def sum(self, meta: Meta, *items: Expr | Token) -> Expr:
        return self._chain(meta, items)

    def product(self, meta: Meta, *items: Expr | Token) -> Expr:
        return self._chain(meta, items)

    def getattr(self, meta: Meta, obj: Expr, name: Token) -> Expr:
        return Attr(obj, str(name), pos=_pos(meta))

    def getitem(self, meta: Meta, obj: Expr, index: Expr) -> Expr:
        return Item(obj, index, pos=_pos(meta))

    def getslice(self, meta: Meta, obj: Expr, start: Expr | None, end: Expr | None) -> Expr:
        return Slice(obj, start, end, pos=_pos(meta))

    def name(self, meta: Meta, tok: Token) -> Expr:
        return Name(str(tok), pos=_pos(meta))

    def string(self, meta: Meta, tok: Token) -> Expr:
        return Lit(_unquote(str(tok)), pos=_pos(meta))

    def number(self, meta: Meta, tok: Token) -> Expr:
        text = str(tok)
        if any(c in text for c in ".eE"):
            value: float | int = float(text)
            if not math.isfinite(value):
                raise _LiteralTooLarge(_pos(meta))
        elif len(text) > MAX_INT_DIGITS or int(text) > MAX_INT:  # int() of a huge text is slow, then refused
            raise _LiteralTooLarge(_pos(meta))
        else:
            value = int(text)
        return Lit(value, pos=_pos(meta))

    def true(self, meta: Meta) -> Expr:
        return Lit(True, pos=_pos(meta))

    def false(self, meta: Meta) -> Expr:
        return Lit(False, pos=_pos(meta))

    def null(self, meta: Meta) -> Expr:
        return Lit(None, pos=_pos(meta))

    def list(self, meta: Meta, *items: Expr | None) -> Expr:
        return ListLit(tuple(i for i in items if i is not None), pos=_pos(meta))


@dataclass
class _Wrap:
    children: list[Expr]


def check_functions(node: Expr, src: Source, allowed: Mapping[str, Any] | None = None) -> None:
    """Reject calls to unknown functions (with a did-you-mean hint), and calls whose arguments do not
    fit the function's signature (too many or too few, an unknown keyword), before any data is read."""
    table = functions.FUNCTIONS if allowed is None else allowed
    piped = {id(stage) for p in walk(node) if isinstance(p, Pipeline) for stage in p.stages}
    for call in iter_calls(node):
        if call.fn not in table:
            raise RecipeError(f"unknown function '{call.fn}'", src.span_of(*call.pos),
                              expected="one of: " + ", ".join(sorted(table)),
                              hint=did_you_mean(call.fn, table), code="E2004")
        _check_arguments(call, table[call.fn], src, id(call) in piped)
        if table[call.fn] is functions.FUNCTIONS.get(call.fn):
            _check_constants(call, table[call.fn], src, id(call) in piped)


def _check_constants(call: Call, fn: Any, src: Source, piped: bool) -> None:
    """E2004 at a constant argument whose shape the function cannot take (`strict="false"`, `sep=0`): it would fail
    on every record, so it is refused before any data is read."""
    written = [(i + piped, arg) for i, arg in enumerate(call.args)] + [(key, arg) for key, arg in call.kwargs]
    for at, arg in written:
        try:
            value = literal_value(arg)
        except (ValueError, TypeError):  # not a constant (or `-"a"`, which fails on its own): checked on each record
            continue
        error = argtypes.literal_misfit(call.fn, fn, at, value, src.text[arg.pos[0]:arg.pos[1]])
        if error is not None:
            raise RecipeError(str(error), src.span_of(*arg.pos), expected=error.expected, hint=error.hint,
                              code="E2004")


def _params(signature: inspect.Signature) -> str:
    """A signature without annotations, as a user writes the call: ``lookup(indices, names, offset=0)``."""
    shown = []
    for p in signature.parameters.values():
        prefix = "*" if p.kind is p.VAR_POSITIONAL else "**" if p.kind is p.VAR_KEYWORD else ""
        shown.append(prefix + p.name + ("" if p.default is p.empty else f"={p.default!r}"))
    return ", ".join(shown)


def _check_arguments(call: Call, fn: Any, src: Source, piped: bool) -> None:
    """E2004 when the call's arguments cannot bind to the whitelisted function's signature.

    A pipeline stage (``value | join(" ")``) receives the piped value as its first argument."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without a signature: checked when it runs
        return
    names = [name for name, _ in call.kwargs]
    unknown = _unknown_keyword(signature, names)
    if unknown is not None:  # reported before a missing argument: the keyword is the likelier slip
        keywords = [p.name for p in signature.parameters.values() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        problem, hint = f"got an unexpected keyword argument '{unknown}'", did_you_mean(unknown, keywords)
    else:
        try:
            signature.bind(*[None] * (len(call.args) + piped), **dict.fromkeys(names))
            return
        except TypeError as exc:
            problem, hint = str(exc), "in a pipeline the value before | is the first argument" if piped else None
    raise RecipeError(f"{call.fn}(): {problem}", src.span_of(*call.pos), expected=f"{call.fn}({_params(signature)})",
                      hint=hint, code="E2004")


def _unknown_keyword(signature: inspect.Signature, names: list[str]) -> str | None:
    """The first keyword the signature has no parameter for (None when it takes any keyword)."""
    params = signature.parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return None
    return next((name for name in names if name not in params or params[name].kind is inspect.Parameter.POSITIONAL_ONLY),
                None)
