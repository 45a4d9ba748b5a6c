"""The one place where a preference rule compiles: `when <condition>` -> a checked expression, `then <ops>` -> answer
operations (``answers/ops.py``), with names, arities, constant arguments and answer columns checked.

Stdlib rules, inline recipe rules, lockfile rules and the proposals of `humc synth` / edits in `humc review` all
call these functions, so a rule means the same and fails the same way wherever it is written.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import fields as fields_of
from typing import Any

from humc.answers import ops as answerops
from humc.answers.ops import column_problem
from humc.errors import SURROGATE_HINT, HumcError, RecipeError, Span, did_you_mean, lone_surrogate
from humc.expr import (
    Binary,
    Call,
    Expr,
    ListLit,
    Lit,
    Name,
    Pipeline,
    Source,
    Unary,
    call_parts,
    check_functions,
    literal_value,
    parse_expr,
    parse_pipeline,
)
from humc.expr.argtypes import describe
from humc.ir import AnswerOp, Compiled, TaskDef

# functions whose value is never true/false: a `when` that is one of them (or a constant, a list, arithmetic) is not
# a condition (Python would take any non-empty value as true)
NOT_CONDITIONS = frozenset({"len", "words", "lower", "upper", "strip", "str", "int", "float", "join", "split", "unique",
                            "sorted", "replace", "squash_spaces", "normalize_space", "nfc", "unescape", "html_unescape",
                            "fix_entities", "strip_html", "flatten", "tag_scheme"})
ARITHMETIC = frozenset({"+", "-", "*", "/", "%"})
# what each kind of operation argument is, in words
ARG_NOUNS = {'"column"': "a column name of the answer", '"text"': "a text"}


def compile_ops(pipe: Pipeline, src: Source) -> tuple[AnswerOp, ...]:
    """A rule's `then` pipeline -> answer ops, checking names, argument counts and argument types."""
    try:
        calls = call_parts(pipe)
    except ValueError:
        raise RecipeError("a rule's `then` must be answer operations like shortest(\"answer\") | empty_as(\"[]\")",
                          src.span_of(*pipe.head.pos), expected="one of: " + ", ".join(map(answerops.signature, answerops.OPS)),
                          code="E0008") from None
    return tuple(_compile_op(call, src) for call in calls)


def _compile_op(call: Call, src: Source) -> AnswerOp:
    where = src.span_of(*call.pos)
    if call.fn not in answerops.OPS:
        raise RecipeError(f"unknown answer operation '{call.fn}'", where,
                          expected="one of: " + ", ".join(map(answerops.signature, answerops.OPS)),
                          hint=did_you_mean(call.fn, answerops.OPS), code="E2005")
    _, arity, kind = answerops.OPS[call.fn]
    usage = answerops.signature(call.fn)
    if call.kwargs:
        name, value = call.kwargs[0]
        raise RecipeError(f"'{call.fn}' takes no named argument '{name}'", src.span_of(*value.pos) or where,
                          expected=usage, hint=f"write {usage}" if arity else f"write {call.fn} alone", code="E2005")
    if len(call.args) != arity:
        given = f"{len(call.args)} were given" if len(call.args) != 1 else "1 was given"
        wants = "no argument" if arity == 0 else f"one argument, {ARG_NOUNS.get(kind, kind)}"
        raise RecipeError(f"'{call.fn}' takes {wants}, but {given}", where, expected=usage,
                          hint=f"write {call.fn} alone, without parentheses" if arity == 0 else None, code="E2005")
    if not call.args:
        return AnswerOp(call.fn, (), at=where)
    arg = call.args[0]
    at = src.span_of(*arg.pos) or where
    try:
        value = literal_value(arg)
    except (ValueError, TypeError):
        hint = f'quote it: {call.fn}("{arg.name}")' if isinstance(arg, Name) else None
        raise RecipeError(f"the argument of '{call.fn}' must be a constant: {ARG_NOUNS.get(kind, kind)}", at,
                          expected=usage, hint=hint, code="E0008") from None
    if not isinstance(value, str):
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        hint = (f'write the column\'s name in quotes, e.g. {call.fn}("span"); an operation cannot name a column by '
                f'its position' if kind == '"column"' else f'quote it: {call.fn}("{value}")' if number else None)
        raise RecipeError(f"'{call.fn}' takes {ARG_NOUNS.get(kind, kind)}, not {describe(value)}", at,
                          expected=f"{usage}, with a quoted string", hint=hint, code="E0007")
    lone = lone_surrogate(value)  # "\ud83d": half an emoji, no text a file holds
    if lone is not None:
        raise RecipeError(f"'{call.fn}' text holds \\u{ord(lone):04x}, half of a UTF-16 surrogate pair", at,
                          expected=f"{usage}, with whole characters", code="E0008", hint=SURROGATE_HINT)
    if kind == '"column"' and not value.strip():
        raise RecipeError(f"'{call.fn}' names an empty column", at, expected=f"{usage}, naming one of the answer's columns",
                          code="E0008")
    return AnswerOp(call.fn, (value,), at=at)


def check_columns(ops: tuple[AnswerOp, ...], columns: tuple[str, ...], fields: Iterable[str] = (), *,
                  task_id: str = "", rule_id: str = "", default: Span | None = None) -> None:
    """Every column an op names is one of the answer's ``columns``; a record field (``fields``) named instead is said so.

    The error is at the op's argument (``default`` when the op has no location)."""
    for op in ops:
        problem = column_problem(op.name, op.args, columns)
        if problem is None:
            continue
        name = str(op.args[0])
        prefix = f"preference rule '{rule_id}': " if rule_id else ""
        field_hint = (f"'{name}' is a field of the record, not a column of the answer: an operation works on the "
                      f"answer's rows, whose columns are {', '.join(columns)}") if name in set(fields) else None
        raise RecipeError(prefix + problem, op.at or default,
                          expected=(f"a column of task '{task_id}': " if task_id else "one of: ") + ", ".join(columns),
                          hint=field_hint or did_you_mean(name, columns), code="E2005")


def check_condition(ast: Expr, src: Source, names: Collection[str] | None = None, *, what: str = "a rule's `when`",
                    example: str = "len(answer) > 1 or len(answer) == 0") -> None:
    """A rule's `when` (or an entry's `where:`, ``what``) reads only known names (``names``, when given; `_`-names are
    humc's) and is a condition."""
    if names is not None:
        for node in _name_nodes(ast):
            if node.name not in names and not node.name.startswith("_"):
                known = sorted(names)
                raise RecipeError(f"the condition reads unknown name '{node.name}'", src.span_of(*node.pos) or src.span_of(0),
                                  expected="a mapped field, a constant or `answer`: " + ", ".join(known),
                                  hint=did_you_mean(node.name, known), code="E2001")
    kind = _not_a_condition(ast)
    if kind is not None:
        written = src.text[ast.pos[0]:ast.pos[1]] or src.text
        raise RecipeError(f"{what} must be true or false, but `{written}` is {kind}",
                          src.span_of(*ast.pos) or src.span_of(0), expected=f"a condition, e.g. {example}",
                          hint="compare it with something, e.g. " + (f"`{written} > 0`" if kind == "a number" else
                                                                      f"`{written} != \"\"`" if kind == "a text or a list"
                                                                      else f"`{example.split(' or ')[-1]}`"), code="E0007")


def _not_a_condition(ast: Expr) -> str | None:
    """What the condition's value is when it can never be true/false (a number, a text, a list), else None."""
    if isinstance(ast, Lit) and not isinstance(ast.value, bool):
        return "null" if ast.value is None else describe(ast.value)
    if isinstance(ast, ListLit):
        return "a list"
    if isinstance(ast, Binary) and ast.op == "+":
        return "a sum (a number or a text)"
    if isinstance(ast, Binary) and ast.op in ARITHMETIC or isinstance(ast, Unary) and ast.op == "-":
        return "a number"
    if isinstance(ast, Call) and ast.fn in NOT_CONDITIONS:
        return "a number" if ast.fn in ("len", "words", "int", "float") else "a text or a list"
    return None


def _name_nodes(ast: Expr) -> list[Name]:
    """The Name nodes an expression reads (a function's name and an attribute's name are not Names)."""
    out: list[Name] = []
    stack: list[Any] = [ast]
    while stack:
        node = stack.pop()
        if isinstance(node, Name):
            out.append(node)
        elif isinstance(node, Expr):
            stack.extend(getattr(node, f.name) for f in fields_of(node) if f.name != "pos")
        elif isinstance(node, tuple):
            stack.extend(node)
    return sorted(out, key=lambda n: n.pos)


def compile_rule(when: str | None, then: str, task: TaskDef | None, *, names: set[str] | None = None,
                 when_src: Source | None = None, then_src: Source | None = None
                 ) -> tuple[Compiled | None, tuple[AnswerOp, ...]]:
    """Compile a rule's `when` / `then`; RecipeError (located when sources are) if invalid."""
    compiled_when = None
    if when is not None and str(when).strip():
        src = when_src or Source(str(when).strip())
        ast = parse_expr(src.text, src)
        check_functions(ast, src)
        check_condition(ast, src, names)
        compiled_when = Compiled(ast, src)
    src = then_src or Source(str(then).strip())
    ops = compile_ops(parse_pipeline(src.text, src), src)
    if task is not None:
        check_columns(ops, task.columns, task.inputs, task_id=task.id, default=src.span_of(0))
    return compiled_when, ops


def rule_problem(text: Any, then: Any, when: Any, task: TaskDef | None = None, names: set[str] | None = None) -> str | None:
    """Why a proposed or edited rule is invalid (None when it compiles; for ``task``'s columns when given)."""
    if not isinstance(text, str) or not text.strip():
        return "`text` must be a non-empty sentence"
    if not isinstance(then, str) or not then.strip():
        return "`then` must be answer operations, e.g. sort_by_position(\"span\")"
    if when is not None and not isinstance(when, str):
        return "`when` must be a condition string"
    try:
        compile_rule(when, then, task, names=names)
    except HumcError as exc:
        return exc.message + (f" (expected {exc.expected})" if exc.expected and len(exc.expected) < 120 else "")
    return None
