"""Jinja2 for instruction templates: one strict environment, rendering, and compile-time checks.

Shared by the validator (which checks every chosen template before any data is read) and the
render stage; StrictUndefined turns a misspelt variable into an error instead of empty text.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import jinja2
import jinja2.meta

from humc.errors import HumcError


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False,
                             trim_blocks=True, lstrip_blocks=True, autoescape=False)
    env.filters["zip"] = lambda a, b: list(zip(a, b, strict=False))  # template data: shorter list wins
    return env


@functools.lru_cache(maxsize=256)
def _jinja(text: str) -> jinja2.Template:
    return _environment().from_string(text)


TEMPLATE_VARIABLES = ("labels", "label_definitions", "guidelines", "rules", "columns", "option_labels",
                      "format_instruction")


def template_problem(text: str, inputs: Sequence[str]) -> tuple[str, int] | None:
    """(what is wrong, line) for an instruction template that cannot render, or None."""
    try:
        ast = _environment().parse(text)
    except jinja2.TemplateSyntaxError as exc:
        return f"template syntax error: {exc.message}", exc.lineno or 1
    unknown = sorted(jinja2.meta.find_undeclared_variables(ast) - set(inputs) - set(TEMPLATE_VARIABLES))
    if unknown:
        line = next((i for i, ln in enumerate(text.splitlines(), 1) if unknown[0] in ln), 1)
        return (f"template uses unknown variable(s) {', '.join(unknown)} (available: "
                f"{', '.join([*inputs, *TEMPLATE_VARIABLES])})"), line
    return None


def render_template(text: str, variables: Mapping[str, Any], where: str) -> str:
    try:
        return _jinja(text).render(**variables).strip()
    except jinja2.TemplateError as exc:
        raise HumcError(f"template {where}: {exc}") from None
