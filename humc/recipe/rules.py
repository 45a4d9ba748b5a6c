"""The one place where a preference rule compiles: `when <condition>` -> a checked expression, `then <ops>` -> answer
operations (``answers/ops.py``), with names, arities, constant arguments and answer columns checked.

Stdlib rules, inline recipe rules, lockfile rules and the proposals of `humc synth` / edits in `humc review` all
call these functions, so a rule means the same and fails the same way wherever it is written.
"""

from __future__ import annotations

from typing import Any

from humc.answers import ops as answerops
from humc.answers.ops import COLUMN_OPS
from humc.errors import HumcError, RecipeError, did_you_mean
from humc.expr import Call, Pipeline, Source, call_parts, check_functions, literal_value, names_used, parse_expr, parse_pipeline
from humc.ir import AnswerOp, Compiled, TaskDef


def compile_ops(pipe: Pipeline, src: Source) -> tuple[AnswerOp, ...]:
    """A rule's `then` pipeline -> answer ops, checking names and argument counts."""
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
    _, arity, _ = answerops.OPS[call.fn]
    if call.kwargs or len(call.args) != arity:
        raise RecipeError(f"'{call.fn}' takes {arity} positional argument(s)", where,
                          expected=answerops.signature(call.fn), code="E2005")
    try:
        args = tuple(literal_value(a) for a in call.args)
    except ValueError:
        raise RecipeError(f"arguments of '{call.fn}' must be constants", where, expected=answerops.signature(call.fn),
                          code="E0008") from None
    return AnswerOp(call.fn, args)


def compile_rule(when: str | None, then: str, task: TaskDef | None, *, names: set[str] | None = None,
                 when_src: Source | None = None, then_src: Source | None = None
                 ) -> tuple[Compiled | None, tuple[AnswerOp, ...]]:
    """Compile a rule's `when` / `then`; RecipeError (located when sources are) if invalid."""
    compiled_when = None
    if when is not None and str(when).strip():
        src = when_src or Source(str(when).strip())
        ast = parse_expr(src.text, src)
        check_functions(ast, src)
        if names is not None:
            unknown = sorted(names_used(ast) - names)
            if unknown:
                raise RecipeError(f"the condition reads unknown name(s): {', '.join(unknown)}", src.span_of(0),
                                  expected="one of: " + ", ".join(sorted(names)), code="E2001")
        compiled_when = Compiled(ast, src)
    src = then_src or Source(str(then).strip())
    ops = compile_ops(parse_pipeline(src.text, src), src)
    if task is not None:
        _check_columns(ops, task, src)
    return compiled_when, ops


def _check_columns(ops: tuple[AnswerOp, ...], task: TaskDef, src: Source) -> None:
    """Every column an op names is one of the task's answer columns."""
    for op in ops:
        if op.name in COLUMN_OPS and op.args and op.args[0] not in task.columns:
            raise RecipeError(f"'{op.name}' names column '{op.args[0]}', which task '{task.id}' does not have",
                              src.span_of(0), expected="one of: " + ", ".join(task.columns),
                              hint=did_you_mean(str(op.args[0]), task.columns), code="E2005")


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
