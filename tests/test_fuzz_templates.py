"""Fuzzing instruction templates: any template text is accepted or refused by ``template_problem`` with a line,
and a template it accepts renders any record's variables or fails with a located HumcError — never another
exception (a traceback, exit 3) — the same way through the per-template renderer as through ``render_template``.

The texts are built from Jinja's own pieces (output and statement tags, filters, tests, loops, the variables humc
gives a template, attribute and item access, literals) so that most of them compile and run.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from humc.errors import HumcError, Span
from humc.templating import TEMPLATE_VARIABLES, TemplateRenderer, render_template, template_problem

INPUTS = ["text", "question"]
NAMES = [*INPUTS, *TEMPLATE_VARIABLES, "loop", "x", "_private", "labels.__class__", "text.upper", "labels.append"]
FILTERS = ["upper", "lower", "length", "join(', ')", "first", "last", "default('-')", "trim", "replace('a', 'b')",
           "json", "int", "float", "list", "sort", "reverse", "unique", "truncate(5)", "wordcount", "indent(2)",
           "uper", "tojson", "safe", "e", "batch(2)", "map('upper')", "select('string')", "join"]
TESTS = ["string", "defined", "none", "number", "sequence", "mapping", "strng", "divisibleby(2)", "in ['a']"]

expression = st.recursive(
    st.sampled_from(NAMES + ["'a'", "1", "0", "1.5", "[]", "['x', 'y']", "{'a': 1}", "none", "true", "range(3)"]),
    lambda inner: st.one_of(
        st.builds(lambda e, f: f"{e} | {f}", inner, st.sampled_from(FILTERS)),
        st.builds(lambda e, i: f"{e}[{i}]", inner, st.sampled_from(["0", "-1", "'a'", "1:2", "x"])),
        st.builds(lambda a, op, b: f"{a} {op} {b}", inner, st.sampled_from(["+", "~", "*", "//", "==", "and"]), inner),
        st.builds(lambda e, t: f"{e} is {t}", inner, st.sampled_from(TESTS)),
    ),
    max_leaves=5)
piece = st.one_of(
    st.builds(lambda e: "{{ " + e + " }}", expression),
    st.builds(lambda e, body: "{% if " + e + " %}" + body + "{% endif %}", expression, st.sampled_from(["{{ text }}", "y"])),
    st.builds(lambda e: "{% for x in " + e + " %}{{ x }}{{ loop.index }} {% endfor %}", expression),
    st.builds(lambda e: "{% set x = " + e + " %}{{ x }}", expression),
    st.sampled_from(["Text: ", "\n", "{{", "}}", "{%", "%}", "{# note #}", "{% raw %}{{{% endraw %}", "{% endif %}",
                     "{% include 'x' %}", "{% macro m() %}m{% endmacro %}{{ m() }}", "{{ text }}", "{{ question }}"]),
)
templates = (st.lists(piece, min_size=1, max_size=6).map(lambda ps: "".join(ps) + "\n{{ text }} {{ question }}")
             | st.lists(piece, min_size=1, max_size=6).map("".join) | st.text(max_size=30))

values = st.recursive(st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=True)
                      | st.text(max_size=10), lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=3), inner, max_size=2), max_leaves=6)
variables = st.fixed_dictionaries({
    "text": st.text(max_size=20), "question": st.text(max_size=10),
    "labels": st.lists(st.text(max_size=5), max_size=4), "label_definitions": st.dictionaries(st.text(max_size=4),
                                                                                             st.text(max_size=8)),
    "guidelines": st.lists(st.text(max_size=8), max_size=2), "rules": st.lists(st.text(max_size=8), max_size=2),
    "columns": st.just(["type", "span"]), "option_labels": st.lists(values, max_size=3),
    "format_instruction": st.text(max_size=10)})

ORIGIN = Span("t.j2", 1, 1)


def _outcome(render: Any) -> tuple[Any, ...]:
    try:
        return ("text", render())
    except HumcError as exc:
        assert exc.span is not None and exc.span.file == "t.j2", f"{exc.code} not located in the template: {exc}"
        return ("error", exc.code, str(exc))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(templates, variables)
@example("{{ 1[1:2] }}\n{{ text }} {{ question }}", {"text": "", "question": ""})  # Python refuses `1[1:2]`
@example("{{ labels | reverse | upper }}\n{{ text }}", {"text": "", "question": "", "labels": []})  # an address
def test_any_template_is_refused_with_a_line_or_renders_or_fails_located(text: str, values: dict[str, Any]) -> None:
    problem = template_problem(text, INPUTS)
    if problem is not None:
        assert problem.line >= 1 and problem.message
        return
    direct = _outcome(lambda: render_template(text, values, "template t", ORIGIN))
    compiled = _outcome(lambda: TemplateRenderer(text, "template t", ORIGIN)(values))
    assert direct == compiled
