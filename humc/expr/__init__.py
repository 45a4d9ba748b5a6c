"""The expression DSL (grammar/expr.lark): field paths, filters, pipelines and `when … then …` rules.

    parse.py      text + Source -> frozen AST (Lark LALR parser + Transformer; located syntax errors)
    ast.py        the AST node classes and walkers (iter_calls, depth, names_used)
    eval.py       Evaluator: AST + environment -> value (an interpreter; nothing is eval'd)
    functions.py  the whitelisted function table expressions may call
    argtypes.py   the shapes those functions' arguments take, checked before a call; values described in words

It knows spans (``humc.errors.Span``), not YAML.
"""

from __future__ import annotations

from humc.errors import EvalError
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
    call_parts,
    depth,
    iter_calls,
    literal_value,
    names_used,
)
from humc.expr.eval import Evaluator
from humc.expr.parse import check_functions, parse_expr, parse_pipeline, parse_rule

__all__ = ["Attr", "Binary", "Call", "Chain", "EvalError", "Evaluator", "Expr", "Item", "ListLit", "Lit", "Name", "Pipeline",
           "Rule", "Slice", "Source", "Unary", "call_parts", "check_functions", "depth", "iter_calls", "literal_value",
           "names_used", "parse_expr", "parse_pipeline", "parse_rule"]
