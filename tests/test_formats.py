"""Answer formats: examples of each codec, and the round-trip law as a property test."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from humc.answers import formats
from humc.answers.formats import FormatParseError, FormatSpec
from humc.answers.table import AnswerTable
from humc.errors import HumcError

NER = AnswerTable(("type", "span"), (("PER", "Ada Lovelace"), ("LOC", "London")), "many")
SPANS = AnswerTable(("answer",), (("the Normans",),), "one")


def spec(codec: str, *modifiers: tuple[str, dict], **options: object) -> FormatSpec:
    return FormatSpec(codec, options, tuple(modifiers))


@pytest.mark.parametrize("codec, expected", [
    ("json", '[{"type": "PER", "span": "Ada Lovelace"}, {"type": "LOC", "span": "London"}]'),
    ("jsonl", '{"type": "PER", "span": "Ada Lovelace"}\n{"type": "LOC", "span": "London"}'),
    ("tuples", "[('PER', 'Ada Lovelace'), ('LOC', 'London')]"),
    ("markdown_table", "| type | span |\n|---|---|\n| PER | Ada Lovelace |\n| LOC | London |"),
    ("markdown_list", "- type: PER; span: Ada Lovelace\n- type: LOC; span: London"),
    ("natural", 'There are 2 answers: (1) type is "PER", span is "Ada Lovelace"; (2) type is "LOC", span is "London".'),
])
def test_each_codec_renders_a_readable_answer(codec: str, expected: str) -> None:
    assert formats.render(spec(codec), NER) == expected
    assert formats.parse(spec(codec), expected, NER.fields, "many") == NER


@pytest.mark.parametrize("codec, expected", [
    ("json", '{"answer": "the Normans"}'),
    ("tuples", "'the Normans'"),
    ("natural", 'The answer is "the Normans".'),
    ("markdown_list", "- the Normans"),
])
def test_single_answers(codec: str, expected: str) -> None:
    assert formats.render(spec(codec), SPANS) == expected


def test_natural_sentences_follow_the_task_language() -> None:
    zh = formats.render(spec("natural"), NER, language="zh")
    assert zh == '共有 2 个答案：(1) type 为 "PER"，span 为 "Ada Lovelace"；(2) type 为 "LOC"，span 为 "London"。'
    assert formats.parse(spec("natural"), zh, NER.fields, "many") == NER
    assert formats.render(spec("natural"), AnswerTable(("a",), (("x",), ("y",)), "many"), language="zh") == '答案是 "x"和"y"。'


def test_declared_empty_answer_round_trips() -> None:
    empty = AnswerTable(("answer",), (), "one")
    assert formats.render(spec("natural"), empty, empty="unanswerable") == "unanswerable"
    assert formats.parse(spec("natural"), " unanswerable\n", ("answer",), "one", empty="unanswerable") == empty
    assert formats.render(spec("json"), empty) == "null"
    assert formats.render(spec("markdown_list"), AnswerTable(("a",), (), "many")) == "(none)"


def test_modifiers_change_the_text_not_the_answer() -> None:
    upper = spec("json", ("key_case", {"_args": ["upper"]}), ("indent", {"_args": [2]}))
    text = formats.render(upper, NER)
    assert '"TYPE": "PER"' in text and "\n  " in text
    assert formats.parse(upper, text, NER.fields, "many") == NER
    shuffled = spec("json", ("shuffle_keys", {"seed": 3}))
    orders = {formats.render(shuffled, NER, seed=s).index('"span"') < formats.render(shuffled, NER, seed=s).index('"type"')
              for s in range(20)}
    assert orders == {True, False}


def test_text_format_is_the_bare_response() -> None:
    table = AnswerTable(("response",), (("Line one.\nLine two.",),), "one")
    assert formats.render(spec("text"), table) == "Line one.\nLine two."
    assert formats.parse(spec("text"), "Line one.\nLine two.\n", ("response",), "one") == table
    with pytest.raises(FormatParseError, match="one column"):
        formats.render(spec("text"), NER)


def test_llm_style_fences_are_tolerated() -> None:
    text = "```json\n" + formats.render(spec("json"), NER) + "\n```"
    assert formats.parse(spec("json"), text, NER.fields, "many") == NER


@pytest.mark.parametrize("codec, text, message", [
    ("json", "[{'type': 1}]", "invalid JSON"),
    ("json", '[{"type": "PER"}]', "expected ['type', 'span']"),
    ("tuples", "[('PER',", "not a Python literal"),
    ("markdown_table", "| type | span |", "header row and a |---| separator"),
    ("markdown_list", "PER: x", "must start with '- '"),
    ("natural", "PER Ada", "groups of 2"),
])
def test_malformed_text_is_a_parse_error(codec: str, text: str, message: str) -> None:
    with pytest.raises(FormatParseError, match=message.replace("[", r"\[").replace("|", r"\|")):
        formats.parse(spec(codec), text, NER.fields, "many")


def test_one_answer_expected() -> None:
    with pytest.raises(FormatParseError, match="expected one answer"):
        formats.parse(spec("markdown_list"), "- a\n- b", ("answer",), "one")


@pytest.mark.parametrize("bad, message", [
    (FormatSpec("yml"), "unknown answer codec"),
    (spec("tuples", ("indent", {"_args": [2]})), "does not apply to codec 'tuples'"),
    (spec("json", ("key_case", {"_args": ["camel"]})), "bad value 'camel'"),
    (spec("json", ("key_case", {})), "needs an argument"),
    (spec("json", ("sparkle", {})), "unknown format modifier"),
    (spec("json", colour=True), "unknown format option"),
    (spec("json", ("keys", {"_args": ["x"]})), "bad arguments"),
    (spec("json", ("keys", {})), "bad arguments"),
    (spec("json", keys={"head": ""}), "bad value"),
    (spec("grouped_json", nest={"a": ["x"], "b": ["y"]}), "bad value"),
    (spec("natural", keys={"head": "subject"}), "does not apply"),
])
def test_invalid_specs_are_rejected(bad: FormatSpec, message: str) -> None:
    with pytest.raises(HumcError, match=message):
        formats.check_spec(bad)


# ------------------------------------------------------------------ formats that need the record

CTX = formats.FormatContext(("PER", "ORG", "LOC"), "type", "Ada Lovelace lived in London & Paris.")
RE = AnswerTable(("head", "relation", "tail"), (("Ada", "born_in", "London"), ("Ada", "knows", "Bo")), "many")
RE_CTX = formats.FormatContext(("knows", "born_in", "works_for"), "relation")
EE = AnswerTable(("event_type", "trigger", "role", "argument"),
                 (("Attack", "shot", "victim", "Bo"), ("Attack", "shot", "place", "Oslo"),
                  ("Meet", "met", "", ""), ("Attack", "hit", "victim", "Cy")), "many")
EE_CTX = formats.FormatContext(("Meet", "Attack", "Die"), "event_type")
IEPILE = spec("grouped_json", keys={"head": "subject", "tail": "object"}, nest={"arguments": ["role", "argument"]})


def test_grouped_json_keys_answers_by_every_shown_label() -> None:
    text = formats.render(spec("grouped_json"), NER, context=CTX)
    assert text == '{"PER": ["Ada Lovelace"], "ORG": [], "LOC": ["London"]}'
    assert formats.parse(spec("grouped_json"), text, NER.fields, "many", context=CTX) == NER
    assert formats.render(spec("grouped_json"), AnswerTable(NER.fields, (), "many"), context=CTX) == \
        '{"PER": [], "ORG": [], "LOC": []}'  # no answer: every label with an empty list


def test_iepile_shapes_for_relations_and_events() -> None:
    text = formats.render(IEPILE, RE, context=RE_CTX)
    assert json.loads(text) == {"knows": [{"subject": "Ada", "object": "Bo"}],
                                "born_in": [{"subject": "Ada", "object": "London"}], "works_for": []}
    parsed = formats.parse(IEPILE, text, RE.fields, "many", context=RE_CTX)
    assert parsed == formats.canonical(IEPILE, RE, RE_CTX) and parsed.rows[0] == ("Ada", "knows", "Bo")
    events = json.loads(formats.render(IEPILE, EE, context=EE_CTX))
    assert events == {"Meet": [{"trigger": "met", "arguments": []}],
                      "Attack": [{"trigger": "shot", "arguments": [{"role": "victim", "argument": "Bo"},
                                                                   {"role": "place", "argument": "Oslo"}]},
                                 {"trigger": "hit", "arguments": [{"role": "victim", "argument": "Cy"}]}],
                      "Die": []}
    back = formats.parse(IEPILE, json.dumps(events), EE.fields, "many", context=EE_CTX)
    assert back == formats.canonical(IEPILE, EE, EE_CTX) and back.rows[0] == ("Meet", "met", "", "")


@pytest.mark.parametrize("text, message", [
    ('["Ada"]', "expected an object keyed by label"),
    ('{"PER": "Ada"}', "not a list"),
    ('{"PER": [["Ada"]]}', "is not text"),
])
def test_grouped_json_parse_errors(text: str, message: str) -> None:
    with pytest.raises(FormatParseError, match=message):
        formats.parse(spec("grouped_json"), text, NER.fields, "many", context=CTX)


@pytest.mark.parametrize("text, message", [
    ('{"knows": ["Ada"]}', "is not an object"),
    ('{"knows": [{"subject": "Ada"}]}', "expected"),
])
def test_grouped_items_need_their_keys(text: str, message: str) -> None:
    with pytest.raises(FormatParseError, match=message):
        formats.parse(IEPILE, text, RE.fields, "many", context=RE_CTX)


@pytest.mark.parametrize("text, message", [
    ('{"Meet": [{"trigger": "met", "arguments": "x"}]}', "not a list"),
    ('{"Meet": [{"trigger": "met", "arguments": ["x"]}]}', "is not an object"),
])
def test_nested_event_arguments_are_objects(text: str, message: str) -> None:
    with pytest.raises(FormatParseError, match=message):
        formats.parse(IEPILE, text, EE.fields, "many", context=EE_CTX)


def test_renamed_keys_are_written_and_read_back() -> None:
    spo = spec("json", keys={"head": "subject", "relation": "predicate", "tail": "object"})
    text = formats.render(spo, RE)
    assert text.startswith('[{"subject": "Ada", "predicate": "born_in", "object": "London"}')
    assert formats.parse(spo, text, RE.fields, "many") == RE
    assert formats.shown_keys(spo, RE.fields) == ["subject", "predicate", "object"]
    modifier = spec("markdown_table", ("keys", {"head": "Subject"}))
    assert formats.render(modifier, RE).startswith("| Subject | relation | tail |")
    with pytest.raises(FormatParseError, match="expected"):
        formats.parse(spo, '[{"head": "Ada", "relation": "knows", "tail": "Bo"}]', RE.fields, "many")


def test_inline_tags_write_the_text_with_its_spans_tagged() -> None:
    text = formats.render(spec("inline_tags"), NER, context=CTX)
    assert text == "<PER>Ada Lovelace</PER> lived in <LOC>London</LOC> &amp; Paris."
    assert formats.parse(spec("inline_tags"), text, NER.fields, "many", context=CTX) == NER
    assert formats.render(spec("inline_tags"), AnswerTable(NER.fields, (), "many"), context=CTX) == \
        "Ada Lovelace lived in London &amp; Paris."


def test_inline_tags_find_a_free_occurrence_and_refuse_overlaps() -> None:
    ctx = formats.FormatContext(("ORG", "LOC"), "type", "Bank of China opened in China.")
    table = AnswerTable(("type", "span"), (("LOC", "China"), ("ORG", "Bank of China")), "many")
    text = formats.render(spec("inline_tags"), table, context=ctx)
    assert text == "<ORG>Bank of China</ORG> opened in <LOC>China</LOC>."  # the longest span is placed first
    assert formats.parse(spec("inline_tags"), text, table.fields, "many", context=ctx).rows == \
        formats.canonical(spec("inline_tags"), table, ctx).rows == (("ORG", "Bank of China"), ("LOC", "China"))
    nested = formats.FormatContext(("ORG", "LOC"), "type", "China Bank grew.")
    with pytest.raises(formats.NotExpressible, match="overlapping"):
        formats.render(spec("inline_tags"), AnswerTable(table.fields, (("ORG", "China Bank"), ("LOC", "China"))),
                       context=nested)
    with pytest.raises(formats.NotExpressible, match="need"):
        formats.render(spec("inline_tags"), NER)  # no text to tag
    odd = formats.FormatContext(("/x", "a<b"), "type", "1 < 2 and 3 > 2")
    weird = AnswerTable(("type", "span"), (("/x", "1"), ("a<b", "3 > 2")), "many")
    text = formats.render(spec("inline_tags"), weird, context=odd)
    assert text == "<&#47;x>1</&#47;x> &lt; 2 and <a&lt;b>3 &gt; 2</a&lt;b>"
    assert formats.parse(spec("inline_tags"), text, weird.fields, "many", context=odd) == weird


@pytest.mark.parametrize("text, message", [
    ("<PER>Ada <LOC>Lovelace</LOC></PER> lived in London &amp; Paris.", "may not nest"),
    ("<PER>Ada Lovelace</LOC> lived in London &amp; Paris.", "without a matching"),
    ("<PER>Ada Lovelace lived in London &amp; Paris.", "never closed"),
    ("<PER>Ada Lovelace</PER> lived in Rome.", "differs from the input"),
])
def test_inline_tag_parse_errors(text: str, message: str) -> None:
    with pytest.raises(FormatParseError, match=message):
        formats.parse(spec("inline_tags"), text, NER.fields, "many", context=CTX)


def test_label_only_answers_match_the_label_list() -> None:
    ctx = formats.FormatContext(("positive", "negative"), "label")
    one = AnswerTable(("label",), (("positive",),), "one")
    assert formats.render(spec("label"), one, context=ctx) == "positive"
    assert formats.parse(spec("label"), "Positive.", ("label",), "one", context=ctx) == one
    many = AnswerTable(("label",), (("positive",), ("negative",)), "many")
    assert formats.parse(spec("label"), "positive\n\nNEGATIVE\n", ("label",), "many", context=ctx) == many
    with pytest.raises(FormatParseError, match="not one of the labels"):
        formats.parse(spec("label"), "great", ("label",), "one", context=ctx)
    with pytest.raises(formats.NotExpressible):
        formats.render(spec("label"), AnswerTable(("label",), (("two\nlines",),), "many"))


def test_yaml_answers() -> None:
    text = formats.render(spec("yaml"), NER)
    assert text == "- type: PER\n  span: Ada Lovelace\n- type: LOC\n  span: London"
    assert formats.parse(spec("yaml"), text, NER.fields, "many") == NER
    tricky = AnswerTable(("answer",), (("yes",), ("1.0",), ("a\x85b",), ("null",)), "many")
    assert formats.parse(spec("yaml"), formats.render(spec("yaml"), tricky), ("answer",), "many") == tricky
    assert formats.render(spec("yaml"), AnswerTable(("answer",), (), "one")) == "null"
    with pytest.raises(FormatParseError, match="invalid YAML"):
        formats.parse(spec("yaml"), "- [unclosed", ("answer",), "many")


@pytest.mark.parametrize("codec, columns, schema_column, spans, message", [
    ("text", ("type", "span"), "type", ("span",), "single answer column"),
    ("grouped_json", ("label",), "label", (), "no label column besides"),
    ("grouped_json", ("subject", "predicate", "object"), None, (), "no label column besides"),
    ("inline_tags", ("head", "relation", "tail"), "relation", ("head", "tail"), "label, span"),
    ("inline_tags", ("answer",), None, ("answer",), "label, span"),
])
def test_formats_that_do_not_fit_a_task_are_named(codec: str, columns: tuple[str, ...], schema_column: str | None,
                                                  spans: tuple[str, ...], message: str) -> None:
    assert message in (formats.fit_problem(spec(codec), columns, schema_column, spans) or "")
    assert formats.fit_problem(spec("json"), columns, schema_column, spans) is None
    clash = spec("json", keys={"head": "tail"})
    assert "share a key" in (formats.fit_problem(clash, ("head", "relation", "tail"), "relation") or "")


# ------------------------------------------------------------------ round-trip law

# Gold values: any text without surrounding whitespace (span text from real data is stripped).
values = st.text(st.characters(exclude_categories=("Cs",)), max_size=12).filter(lambda v: v == v.strip())
field_names = st.lists(st.from_regex(r"[a-z][a-z_]{0,7}", fullmatch=True), min_size=1, max_size=4, unique=True)
RENAMED = ("keys", {})  # `specs` fills in a renaming of the drawn columns
MODIFIERS = {
    "json": [("shuffle_keys", {"seed": 1}), ("indent", {"_args": [2]}), ("key_case", {"_args": ["upper"]}),
             ("ensure_ascii", {}), ("compact", {}), RENAMED],
    "jsonl": [("shuffle_keys", {}), ("key_case", {"_args": ["title"]}), ("ensure_ascii", {}), RENAMED],
    "tuples": [],
    "markdown_table": [("key_case", {"_args": ["upper"]}), RENAMED],
    "markdown_list": [("key_case", {"_args": ["title"]}), RENAMED],
    "natural": [("key_case", {"_args": ["upper"]})],
    "text": [],
    "label": [],
    "yaml": [("shuffle_keys", {"seed": 2}), ("key_case", {"_args": ["upper"]}), RENAMED],
    "grouped_json": [("shuffle_keys", {"seed": 1}), ("indent", {"_args": [2]}), ("key_case", {"_args": ["upper"]}),
                     ("ensure_ascii", {}), ("compact", {}), RENAMED, ("nest", {"_nest": True})],
    "inline_tags": [],
}


def test_every_codec_is_in_the_round_trip_law() -> None:
    assert set(MODIFIERS) == set(formats.codec_names())


def test_every_modifier_a_codec_takes_is_in_its_round_trip_law() -> None:
    """Each codec × each modifier it accepts is drawn by `specs` (and nothing it refuses)."""
    for codec, mods in MODIFIERS.items():
        assert {name for name, _ in mods} == set(formats.CODECS[codec].settings), codec


@st.composite
def tables(draw: st.DrawFn, fields: st.SearchStrategy[list[str]] = field_names) -> AnswerTable:
    names = tuple(draw(fields))
    cardinality = draw(st.sampled_from(["one", "many"]))
    rows = draw(st.lists(st.tuples(*[values] * len(names)), max_size=1 if cardinality == "one" else 5))
    return AnswerTable(names, tuple(rows), cardinality)


def _argument(draw: st.DrawFn, name: str, kwargs: dict[str, object]) -> dict[str, object]:
    """Any value the modifier accepts, by position or by name (the table's value half the time)."""
    if not draw(st.booleans()):
        return kwargs
    setting = formats.SETTINGS[name]
    value = {"shuffle_keys": st.integers(-10**6, 10**6), "indent": st.integers(0, 8),
             "key_case": st.sampled_from(sorted(formats.KEY_CASES)), "ensure_ascii": st.booleans(),
             "compact": st.booleans()}[name]
    return {setting.arg: draw(value)} if draw(st.booleans()) else {"_args": [draw(value)]}


@st.composite
def specs(draw: st.DrawFn, codec: str, fields: tuple[str, ...]) -> FormatSpec:
    mods = draw(st.lists(st.sampled_from(MODIFIERS[codec]), max_size=4, unique_by=lambda m: m[0])) if MODIFIERS[codec] else []
    out: list[tuple[str, dict[str, object]]] = []
    for name, kwargs in mods:
        if name == "keys":  # a key of its own for some columns ("-" never occurs in a column name)
            renamed = draw(st.lists(st.sampled_from(fields), min_size=1, unique=True))
            kwargs = {f: f"K-{f}" for f in renamed}
        elif name == "nest":
            kwargs = {"N-list": draw(st.lists(st.sampled_from(fields), min_size=1, unique=True))}
        else:
            kwargs = _argument(draw, name, kwargs)
        out.append((name, kwargs))
    spec = FormatSpec(codec, {}, tuple(out))
    formats.check_spec(spec)  # every drawn modifier and value is one the codec accepts
    return spec


@st.composite
def contexts(draw: st.DrawFn, table: AnswerTable, labelled: bool) -> formats.FormatContext:
    """The record a table belongs to: its labels (the table's plus others) and, for (label, span) tables, a
    text made of the spans (in any order) and filler."""
    label_column = draw(st.sampled_from(table.fields if labelled else [None, *table.fields]))
    if label_column is None:
        return formats.FormatContext()
    i = table.fields.index(label_column)
    labels = list(dict.fromkeys([*draw(st.lists(values, max_size=3)), *(r[i] for r in table.rows)]))
    text = None
    if len(table.fields) == 2:
        pieces = [draw(values) for _ in range(len(table.rows) + 1)]
        spans = [r[1 - i] for r in draw(st.permutations(table.rows))]
        text = pieces[0] + "".join(f" {span} {filler}" for span, filler in zip(spans, pieces[1:], strict=True))
    return formats.FormatContext(tuple(draw(st.permutations(labels))), label_column, text)


def fields_for(codec: str) -> st.SearchStrategy[list[str]]:
    """Columns a codec can hold: one (bare text, labels), a (label, span) pair (inline tags), a label column and
    others (grouped), any."""
    c = formats.CODECS[codec]
    if c.single_column or c.needs_spans:
        n = 1 if c.single_column else 2
        return st.lists(st.from_regex(r"[a-z][a-z_]{0,7}", fullmatch=True), min_size=n, max_size=n, unique=True)
    return field_names.filter(lambda f: len(f) > 1) if c.needs_labels else field_names


@pytest.mark.parametrize("codec", formats.codec_names())
@settings(max_examples=150, deadline=None)
@given(data=st.data(), empty=st.sampled_from([None, "[]", "unanswerable", "None"]), seed=st.integers(0, 99),
       language=st.sampled_from(["en", "zh"]))
def test_render_then_parse_gives_back_the_gold_answer(codec: str, data: st.DataObject, empty: str | None, seed: int,
                                                      language: str) -> None:
    c = formats.CODECS[codec]
    table = data.draw(tables(fields_for(codec)))
    fmt = data.draw(specs(codec, table.fields))
    context = data.draw(contexts(table, labelled=c.needs_labels or c.needs_spans))
    if c.single_column:  # bare text and labels: "" is indistinguishable from no answer
        assume(all(r[0] for r in table.rows))
    try:
        text = formats.render(fmt, table, empty=empty, seed=seed, language=language, context=context)
    except formats.NotExpressible:  # inline tags: an empty span or one only inside another; multi-line labels
        assume(False)
    parsed = formats.parse(fmt, text, table.fields, table.cardinality, empty=empty, context=context)
    assert parsed == formats.canonical(fmt, table, context)


@pytest.mark.parametrize(("name", "value", "said"), [
    ("keys", {"head": 5}, "bad value {'head': 5} for format option 'keys': its values must be texts"),
    ("nest", {"arguments": "role"}, "for format option 'nest': its values must be lists of texts"),
])
def test_a_key_mapping_whose_values_are_not_texts_says_so(name: str, value: Any, said: str) -> None:
    codec = "json" if name == "keys" else "grouped_json"
    with pytest.raises(HumcError) as info:
        formats._checked(codec, formats.CODECS[codec].settings, name, value, "option")
    assert info.value.code == "E0007" and said in info.value.message
