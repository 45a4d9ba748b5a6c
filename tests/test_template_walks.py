"""A filter that walks a huge value item by item in Python (``| sort``, ``| map``, ``| join`` …) is charged one step of
the render per item before it runs, and a repetition counts the items inside the items it repeats: a template that
makes a value far longer than its record and walks it fails at once (E0010, at its line, naming the filter), where
``(context * 16000) | sort`` ran for 85 s. Filters on the record's own values, however long, render as before."""

from __future__ import annotations

import time

import jinja2
import jinja2.sandbox
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from humc.errors import HumcError
from humc.templating import MAX_RENDERED_CHARS, render

CONTEXT = "Paris is in France. " * 50  # 1000 characters

HUGE = "(context * 16000)"  # under the size limit: 16 000 000 characters


@pytest.mark.parametrize("walk", [
    "sort|first", "unique|first", "map('upper')|first", "select|first", "reject|first", "max", "min",
    "batch(3)|first", "join('')|length", "list|join", "zip(context * 16000)|length", "random", "wordwrap(5)|length",
    "urlize|length", "title|length", "pprint|length", "groupby('x')|length", "slice(3)|first",
])
def test_a_filter_walking_a_huge_value_is_refused_before_it_runs(walk):
    name = walk.split("|")[-1 if walk.startswith("list") else 0].split("(")[0]
    started = time.perf_counter()
    with pytest.raises(HumcError) as err:
        render("{{ context }}\n{{ " + f"{HUGE}|{walk}" + " }}", {"context": CONTEXT}, "t")
    assert time.perf_counter() - started < 5
    assert err.value.code == "E0010"
    message = str(err.value)
    assert "line 2" in message and f"the {name} filter on a value of 16000000 items takes more than" in message


def test_a_walk_over_the_records_own_long_value_renders():
    """The render's budget grows with its values (4 steps per character): a 300 000-character text sorted,
    mapped and joined is no runaway."""
    text = "abcdefghij " * 30_000
    out = render("{{ text|sort|join('')|length }} {{ text.split()|map('upper')|unique|join(',') }}",
                 {"text": text}, "t")
    assert out == f"{len(text)} ABCDEFGHIJ"


@pytest.mark.parametrize("body, held", [
    ("[[[[context] * 1000] * 1000] * 1000] * 1000", "holding"),
    ("[context] * 100000", "holding 1000 items"),
    ("[dict(a=context)] * 20000", "holding"),
])
def test_a_repetition_counts_the_items_inside_what_it_repeats(body, held):
    with pytest.raises(HumcError) as err:
        render("{{ (" + body + ") | json }}", {"context": CONTEXT}, "t")
    assert err.value.code == "E0010" and held in str(err.value) and str(MAX_RENDERED_CHARS) in str(err.value)


def test_a_repetition_under_the_limit_renders():
    assert render("{{ '-' * 3 }}{{ ([[1] * 1000] * 1000)|length }}{{ [1, 2] * 2 }}", {}, "t") == "---1000[1, 2, 1, 2]"


PLAIN = jinja2.sandbox.ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet="abAB ,", max_size=4), max_size=8))
def test_charged_filters_give_what_jinja2s_own_give(items):
    """Charging steps changes no result: the filters give Jinja2's own values on ordinary data."""
    body = ("{{ x|sort|join(';') }}|{{ x|unique|list }}|{{ x|map('upper')|join }}|{{ x|select|list }}|"
            "{{ x|zip(x|reverse)|list }}|{{ x|batch(2)|list }}|{{ x|max if x else '' }}|{{ x|join(', ')|title }}")
    plain = PLAIN.from_string(body.replace("|zip(x|reverse)|list", "|list")).render(x=items)
    ours = render(body.replace("|zip(x|reverse)|list", "|list"), {"x": items}, "t")
    assert ours == plain
    assert render("{{ x|zip(x|reverse)|list }}", {"x": items}, "t") == str(list(zip(items, items[::-1], strict=True)))
