"""Evaluation of expression ASTs against a record's fields and the recipe's constants.

An interpreter over the frozen AST (no ``eval``/``exec``); functions come only from the whitelisted table in
``expr.functions``."""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

from humc.errors import EvalError, type_name
from humc.expr import argtypes, functions
from humc.expr.ast import Attr, Binary, Call, Chain, Expr, Item, ListLit, Lit, Name, Pipeline, Slice, Source, Unary
from humc.limits import MAX_INT, MAX_MADE_ITEMS

_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "%": operator.mod,
    "in": lambda a, b: a in b, "not_in": lambda a, b: a not in b,
}


MAX_MESSAGE_CHARS = 400
"""An evaluation error's message is cut after this many characters."""


class Evaluator:
    """Evaluates ASTs against an environment (a record's fields plus recipe constants)."""

    def __init__(self, src: Source, fns: Mapping[str, Callable[..., Any]] | None = None) -> None:
        self.src = src
        self.fns = functions.FUNCTIONS if fns is None else fns

    def fail(self, node: Expr, message: str, where: str = "") -> EvalError:
        if len(message) > MAX_MESSAGE_CHARS:  # it may quote a record's value, which can be a whole document
            message = message[:MAX_MESSAGE_CHARS] + f"… ({len(message)} characters)"
        return EvalError(message + (f" ({where})" if where else ""), self.src.span_of(*node.pos))

    def eval(self, node: Expr, env: Mapping[str, Any], where: str = "") -> Any:
        try:
            return self._eval(node, env, where)
        except EvalError:
            raise
        except (TypeError, ValueError, ArithmeticError, KeyError, IndexError, AttributeError) as exc:
            raise self.fail(node, f"expression failed: {_in_words(exc)}", where) from None
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
        if isinstance(node, Slice):
            return self._getslice(node, env, where)
        if isinstance(node, Call):
            args = [self._eval(a, env, where) for a in node.args]
            kwargs = {k: self._eval(v, env, where) for k, v in node.kwargs}
            return self._call(node, args, kwargs, where)
        if isinstance(node, Unary):
            value = self._eval(node.operand, env, where)
            if node.op == "not":
                return not value
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self.fail(node, f"cannot negate {argtypes.describe(value)}: '-' needs a number", where)
            if type(value) is int and value < -MAX_INT:  # -(-2**63), of a record's int64 value
                raise self._overflow(node, f"-({value})", -value, where)
            return -value
        if isinstance(node, Binary):
            return self._binary(node, env, where)
        if isinstance(node, Chain):
            value = self._eval(node.first, env, where)
            for op, operand in node.rest:
                value = self._apply(node, op, value, self._eval(operand, env, where), where)
            return value
        if isinstance(node, Pipeline):
            value = self._eval(node.head, env, where)
            piped = node.head.pos
            for stage in node.stages:
                args = [value] + [self._eval(a, env, where) for a in stage.args]
                kwargs = {k: self._eval(v, env, where) for k, v in stage.kwargs}
                value = self._call(stage, args, kwargs, where, piped)
                piped = (node.head.pos[0], stage.pos[1])
            return value
        raise self.fail(node, f"cannot evaluate {type(node).__name__} here", where)

    def _binary(self, node: Binary, env: Mapping[str, Any], where: str) -> Any:
        left = self._eval(node.left, env, where)
        if node.op == "and":
            return left and self._eval(node.right, env, where)
        if node.op == "or":
            return left or self._eval(node.right, env, where)
        return self._apply(node, node.op, left, self._eval(node.right, env, where), where)

    def _apply(self, node: Expr, op: str, left: Any, right: Any, where: str) -> Any:
        if op == "*":
            self._check_repeat(node, left, right, where)
        elif op == "+" and isinstance(left, (str, list)) and isinstance(right, (str, list)):
            self._check_made(node, len(left) + len(right), "adding two values", where)
        elif op == "%" and isinstance(left, (str, bytes)):  # Python would format the text: `"%999999999d" % n`
            raise self.fail(node, f"cannot apply '%' to {_tn(left)} and {_tn(right)}: '%' is the remainder of a "
                                  "division of two numbers, not text formatting", where)
        if op in ("==", "!=") and isinstance(node, Binary):
            self._check_list_equality(node, op, left, right, where)
        try:
            result = _BINOPS[op](left, right)
        except TypeError:
            raise self.fail(node, f"cannot apply '{op.replace('_', ' ')}' to {_tn(left)} and {_tn(right)}", where) from None
        except ZeroDivisionError:
            raise self.fail(node, f"'{op}': a division by zero", where) from None
        except OverflowError:  # `/` of two integers whose quotient no float holds
            raise self._overflow(node, f"{left} {op} {right}", None, where) from None
        kind = type(result)
        if kind is int and not -MAX_INT <= result <= MAX_INT \
                or kind is float and math.isinf(result) and not _infinite(left) and not _infinite(right):
            raise self._overflow(node, f"{left} {op} {right}", result, where)
        return result

    def _overflow(self, node: Expr, written: str, result: Any, where: str) -> EvalError:
        """An integer result past what a 64-bit column holds (|n| ≤ ``MAX_INT``, as a literal or a YAML integer
        may be), or a float past the largest finite one: an error at the operation, not a number no dataset
        column could store (``result`` None: too large for any float)."""
        made = ("an infinite float, past the largest finite one" if isinstance(result, float)
                else "a quotient too large for a float" if result is None else f"{result}, past the 64-bit range")
        error = self.fail(node, f"arithmetic overflow: {written} makes {made}", where)
        error.expected = f"an integer between -{MAX_INT} and {MAX_INT}, or a finite number"
        return error

    def _check_list_equality(self, node: Binary, op: str, left: Any, right: Any, where: str) -> None:
        """`entities.type == "PER"` compares a list with one value: never equal, so a filter silently keeps nothing
        (or everything, with !=); the question meant is almost always whether the list holds the value."""
        for items, value, side in ((left, right, node.left), (right, left, node.right)):
            if isinstance(items, list) and isinstance(value, (str, int, float)) and not isinstance(value, bool):
                listed = self.src.text[side.pos[0]:side.pos[1]]
                written = json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)
                error = self.fail(node, f"'{op}' compares a list ({listed}) with one {_tn(value)}: they are never "
                                        "equal", where)
                meant = f"{written} {'in' if op == '==' else 'not in'} {listed}"
                in_yaml = "'" + meant.replace("'", "''") + "'"  # single-quoted YAML doubles an apostrophe
                yaml_form = f" (in YAML, quoted whole: {in_yaml})" if meant.startswith('"') else ""
                error.hint = f"to ask whether the list holds it: `{meant}`{yaml_form}"
                if value == "":  # `answers != ""` asks for a list that is not empty
                    error.hint = f"to ask whether the list is {'empty' if op == '==' else 'not empty'}: " \
                                 f"`len({listed}) {'==' if op == '==' else '>'} 0`"
                raise error

    def _check_repeat(self, node: Expr, left: Any, right: Any, where: str) -> None:
        """`text * n` is refused before it runs when the result would have over ``MAX_MADE_ITEMS`` items (a
        count from the data could ask for gigabytes)."""
        for seq, n in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_MADE_ITEMS:
                raise self.fail(node, f"repeating a value of length {len(seq)} {n} times goes over the limit of "
                                      f"{MAX_MADE_ITEMS} items", where)

    def _check_made(self, node: Expr, size: int, what: str, where: str) -> None:
        """A text or list of ``size`` items is refused before it is made when over ``MAX_MADE_ITEMS`` (`a + a`
        nested doubles a value at each level)."""
        if size > MAX_MADE_ITEMS:
            raise self.fail(node, f"{what} makes a value of {size} items, over the limit of {MAX_MADE_ITEMS}", where)

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
        if isinstance(value, Mapping) and not isinstance(index, (list, dict)):
            return value.get(index)
        raise self.fail(node, f"cannot index {_tn(value)} with {_tn(index)}", where)

    def _getslice(self, node: Slice, env: Mapping[str, Any], where: str) -> Any:
        value = self._eval(node.obj, env, where)
        bounds = [None if b is None else self._eval(b, env, where) for b in (node.start, node.end)]
        if not isinstance(value, (list, str)):
            raise self.fail(node, f"cannot slice {_tn(value)}: only a list or a text has a range [start:end]", where)
        for bound in bounds:
            if bound is not None and (not isinstance(bound, int) or isinstance(bound, bool)):
                raise self.fail(node, f"a slice bound must be a whole number, not {_tn(bound)}", where)
        return value[bounds[0]:bounds[1]]

    def _call(self, node: Call, args: list[Any], kwargs: dict[str, Any], where: str,
              piped: tuple[int, int] | None = None) -> Any:
        fn = self.fns.get(node.fn)
        if fn is None:
            raise self.fail(node, f"unknown function '{node.fn}'", where)
        try:
            if fn is functions.FUNCTIONS.get(node.fn):
                argtypes.check_arguments(node.fn, fn, args, kwargs, lambda at: self._written(node, piped, at))
            return fn(*args, **kwargs)
        except argtypes.ArgumentError as exc:
            raise self._located(node, str(exc), exc, where) from None
        except functions.FunctionError as exc:
            raise self._located(node, f"{node.fn}(): {exc}", exc, where) from None
        except (TypeError, ValueError, AttributeError, KeyError, IndexError, ArithmeticError) as exc:
            # the last-resort net: a Python exception no check foresaw, told in words with the arguments' types
            raise self._located(node, _unforeseen(node.fn, fn, args, kwargs, exc), None, where) from None

    def _located(self, node: Call, message: str, exc: functions.FunctionError | None, where: str) -> EvalError:
        error = self.fail(node, message, where)
        if exc is not None:
            error.expected, error.hint = exc.expected, exc.hint
        return error

    def _written(self, node: Call, piped: tuple[int, int] | None, at: int | str) -> str | None:
        """The text written for the argument of ``node`` at a position or keyword; a pipeline stage's first argument
        is the text before its ``|`` (``piped``: where it is)."""
        if isinstance(at, str):
            arg = next((v for k, v in node.kwargs if k == at), None)
            return None if arg is None else self.src.text[arg.pos[0]:arg.pos[1]] or None
        if piped is not None:
            if at == 0:
                return self.src.text[piped[0]:piped[1]].strip() or None
            at -= 1
        return self.src.text[node.args[at].pos[0]:node.args[at].pos[1]] or None if at < len(node.args) else None


def _infinite(value: Any) -> bool:
    return type(value) is float and math.isinf(value)


def _in_words(exc: Exception) -> str:
    """A Python exception no check foresaw, without Python's wording."""
    if isinstance(exc, KeyError):
        return f"no {_key_text(exc)} in the value"
    if isinstance(exc, IndexError):
        return "a position past the end of a list"
    if isinstance(exc, ZeroDivisionError):
        return "a division by zero"
    if isinstance(exc, OverflowError):
        return "a number too large"
    return "a value of a type this operation cannot use"


def _key_text(exc: KeyError) -> str:
    return f"key {argtypes.sample(exc.args[0])}" if exc.args else "such key"


def _unforeseen(name: str, fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any], exc: Exception) -> str:
    """The last-resort message: the function, each argument's name and type with a sample, and what went wrong."""
    signature = argtypes.signature_of(fn)
    names = list(signature.parameters) if signature is not None else []
    shown = [f"{names[i] if i < len(names) else f'argument {i + 1}'} {argtypes.describe(a)}" for i, a in enumerate(args)]
    shown += [f"{k} {argtypes.describe(v)}" for k, v in kwargs.items()]
    return f"{name}: cannot work with these arguments ({'; '.join(shown)}): {_in_words(exc)}"


def _tn(value: Any) -> str:
    if isinstance(value, (list, tuple)):  # a rule's answer rows are a tuple: the recipe language has lists
        return "list"
    return "mapping" if isinstance(value, Mapping) else type_name(value)
