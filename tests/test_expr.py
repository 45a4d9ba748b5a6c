"""Parse stage: the expression DSL (grammar/expr.lark) and its evaluator."""

from __future__ import annotations

import json

import pytest

from humc.errors import RecipeError, Span
from humc.expr import (
    Binary,
    Call,
    EvalError,
    Evaluator,
    Name,
    Pipeline,
    Rule,
    Source,
    check_functions,
    depth,
    names_used,
    parse_expr,
    parse_pipeline,
    parse_rule,
)

RECORD = {
    "context": "Paris is the capital of France.",
    "answers": {"text": ["Paris", "Paris, France"], "answer_start": [0, 0]},
    "label": "LOC",
    "tokens": ["John", "lives", "in", "Paris"],
    "tags": ["B-PER", "O", "O", "B-LOC"],
    "choices": [{"text": "red", "label": "A"}, {"text": "blue", "label": "B"}],
    "n": 3,
}


def ev(text: str, env=RECORD):
    return Evaluator(Source(text)).eval(parse_pipeline(text), env)


@pytest.mark.parametrize("text, expected", [
    ("answers.text[0]", "Paris"),
    ("answers.text[-1]", "Paris, France"),
    ("answers.text[7]", None),
    ('len(context) < 4000 and label != "O"', True),
    ('label in ["PER", "LOC"]', True),
    ('label not in ["PER", "LOC"]', False),
    ("not (n > 2)", False),
    ("-n + 2 * 4", 5),
    ("n % 2 == 1 or false", True),
    ('tokens | join(" ")', "John lives in Paris"),
    ('tokens | join("-") | upper', "JOHN-LIVES-IN-PARIS"),
    ("choices.text", ["red", "blue"]),
    ("choices.label[1]", "B"),
    ("'single \\'quoted\\''", "single 'quoted'"),
    ('"tab\\there"', "tab\there"),
    ("null", None),
    ("[1, 2, n]", [1, 2, 3]),
    ('bio_spans(tokens, tags) | len', 2),
])
def test_evaluates(text, expected):
    assert ev(text) == expected


def test_ast_shapes():
    assert parse_expr("a.b[0]").__class__.__name__ == "Item"
    p = parse_pipeline('json | shuffle_keys(seed=3) | indent(2)')
    assert isinstance(p, Pipeline) and p.head == Name("json")
    assert [s.fn for s in p.stages] == ["shuffle_keys", "indent"]
    assert p.stages[0].kwargs[0][0] == "seed"
    r = parse_rule('when len(answer) == 0 then empty_as("[]")')
    assert isinstance(r, Rule) and isinstance(r.when, Binary) and r.then.head == Call("empty_as", (r.then.head.args[0],))
    assert names_used(parse_expr('len(context) > n and x.y == "z"')) == {"context", "n", "x"}


def test_keywords_are_not_names_but_prefixes_are():
    assert ev("android", {"android": 1}) == 1
    assert ev("order", {"order": 2}) == 2


@pytest.mark.parametrize("text, message, col", [
    ("len(context < 3", "unexpected end", 16),
    ('label = "x"', "unexpected '='", 7),
    ("a and", "unexpected end", 6),
    ("x | 3", "unexpected '3'", 5),
    ("a ! b", "unexpected character '!'", 3),
])
def test_syntax_errors_point_at_the_column(text, message, col):
    src = Source(text, Span("r.hum.yaml", 4, 11), 0)
    with pytest.raises(RecipeError) as info:
        parse_pipeline(text, src)
    err = info.value
    assert message in err.message
    assert err.span.line == 4 and err.span.col == 10 + col
    assert err.expected


def test_quoted_scalar_offsets_columns_by_the_quote():
    src = Source("len(x) >", Span("r.hum.yaml", 2, 10), 1)
    with pytest.raises(RecipeError) as info:
        parse_expr("len(x) >", src)
    assert (info.value.span.line, info.value.span.col) == (2, 10 + 1 + 8)


def test_equals_gets_a_hint():
    with pytest.raises(RecipeError) as info:
        parse_expr('label = "x"')
    assert "==" in info.value.hint


def test_unknown_function_is_reported_with_suggestion():
    src = Source("lenn(x)", Span("r.hum.yaml", 1, 1))
    with pytest.raises(RecipeError) as info:
        check_functions(parse_expr("lenn(x)", src), src)
    assert "unknown function 'lenn'" in info.value.message and "'len'" in info.value.hint


def test_runtime_errors_name_the_field_and_record():
    src = Source("contxt", Span("r.hum.yaml", 3, 5))
    with pytest.raises(EvalError) as info:
        Evaluator(src).eval(parse_expr("contxt"), RECORD, "source 'squad' row 4")
    assert "unknown field 'contxt'" in info.value.message and "row 4" in info.value.message
    assert info.value.span.line == 3
    with pytest.raises(EvalError) as info:
        ev("answers.txt")
    assert "no field 'txt'" in info.value.message and "text" in info.value.message
    with pytest.raises(EvalError, match="cannot apply '<'"):
        ev('label < 3')


def test_no_python_eval():
    with pytest.raises(RecipeError):
        parse_expr("__import__('os').system('true')")
    with pytest.raises(EvalError, match="unknown function"):
        Evaluator(Source("x")).eval(parse_expr("__import__(\"os\")"), {})


# ---------------------------------------------------------------- arguments checked against the signatures


@pytest.mark.parametrize("text, message, expected", [
    ("len(context, 2)", "len(): too many positional arguments", "len(value)"),
    ("join()", "join(): missing a required argument: 'values'", "join(values, sep=' ')"),
    ("lookup(label, names, offsets=1)", "lookup(): got an unexpected keyword argument 'offsets'",
     "lookup(indices, names, offset=0)"),
    ('tokens | join(" ", "x")', "join(): too many positional arguments", "join(values, sep=' ')"),
    ("len(x=1)", "len(): got an unexpected keyword argument 'x'", "len(value)"),  # not "missing 'value'"
])
def test_a_call_that_does_not_fit_the_signature_is_located_at_the_call(text, message, expected):
    src = Source(f"x + {text}" if "|" not in text else text, Span("r.hum.yaml", 7, 12))
    with pytest.raises(RecipeError) as info:
        check_functions(parse_pipeline(src.text, src), src)
    err = info.value
    assert err.code == "E2004" and err.message == message and err.expected == expected
    assert err.span.line == 7 and err.span.col == 12 + src.text.index(text.split("|")[-1].strip()[:4])


def test_a_misspelt_keyword_is_named_with_the_keyword_meant():
    src = Source("lookup(label, names, offsets=1)")
    with pytest.raises(RecipeError) as info:
        check_functions(parse_pipeline(src.text, src), src)
    assert info.value.hint == "did you mean 'offset'?"


@pytest.mark.parametrize("text", ['tokens | join(" ")', "lookup(label, names, offset=1)", "get(record, \"a\")",
                                  "zip_records(a=tokens, b=tags)", "bool(n)"])
def test_calls_that_fit_the_signature_pass(text):
    src = Source(text)
    check_functions(parse_pipeline(text, src), src)


# ---------------------------------------------------------------- flat chains are not nesting


def test_a_long_flat_sum_is_one_level_and_evaluates_left_to_right():
    ast = parse_expr(" + ".join(["n"] * 300))
    assert depth(ast) <= 3 and Evaluator(Source("")).eval(ast, RECORD, "row 0") == 900
    assert ev("10 - 3 - 2 + 1") == 6 and ev("12 / 3 / 2 * 5") == 10.0


def test_deep_real_nesting_is_still_refused():
    with pytest.raises(RecipeError, match="nested too deeply"):
        parse_expr("len(" * 250 + "n" + ")" * 250)


def test_an_evaluation_error_quoting_a_whole_document_is_cut_short():
    from humc.expr.eval import MAX_MESSAGE_CHARS

    with pytest.raises(EvalError) as exc:
        ev("semeval_relations(line, context)", {"line": '1\t"x"', "context": "word " * 20000})
    assert len(exc.value.message) < MAX_MESSAGE_CHARS + 40 and exc.value.message.endswith("characters)")
    with pytest.raises(EvalError) as exc:  # a value a message describes is shown by a short sample of it
        ev("int(context)", {"context": "word " * 20000})
    assert len(exc.value.message) < 100 and "a string ('word word" in exc.value.message


@pytest.mark.parametrize("text", ["context * 100000000", "[n] * 100000000", "100000000 * tokens"])
def test_repeating_a_value_past_the_limit_is_refused_before_it_runs(text):
    with pytest.raises(EvalError) as exc:
        ev(text)
    assert "goes over the limit of" in exc.value.message
    assert ev("context * 2") == RECORD["context"] * 2


@pytest.mark.parametrize(("text", "expected"), [
    ("文本", "你好"), ("upper(Überschrift)", "HALLO"), ("len(标签_2) + 1", 4), ('record["Review Text"]', "ok"),
])
def test_column_names_in_any_script_are_names(text, expected):
    record = {"文本": "你好", "Überschrift": "Hallo", "标签_2": "pos", "Review Text": "ok"}
    assert ev(text, record) == expected


def test_repeating_a_rules_answer_rows_past_the_limit_is_refused_before_it_runs():
    with pytest.raises(EvalError) as exc:  # a rule's answer rows are a tuple (see _tn): the same limit as a list
        ev("rows * 100000000", {"rows": ((1, 2), (3, 4))})
    assert "goes over the limit of" in exc.value.message


def test_names_side_by_side_hint_at_a_column_name_with_a_space():
    with pytest.raises(RecipeError) as exc:
        parse_pipeline("Review Text")
    assert "record['Review Text']" in (exc.value.hint or "")


@pytest.mark.parametrize(("text", "name"), [("x in labels y", "labels y"), ("not done yet", "done yet"),
                                           ("a and Review Text", "Review Text"),
                                           ("a in b or c d", "c d")])
def test_a_column_name_hint_starts_after_the_last_keyword(text, name):
    with pytest.raises(RecipeError) as exc:
        parse_pipeline(text)
    assert f"record[{name!r}]" in (exc.value.hint or "")


def test_no_column_name_hint_when_only_a_keyword_stands_before_the_name():
    with pytest.raises(RecipeError) as exc:
        parse_pipeline("a or true y")
    assert "record[" not in (exc.value.hint or "")


def test_type_names_in_errors_are_the_recipe_languages():
    with pytest.raises(EvalError) as exc:
        ev("n.foo", {"n": (1, 2)})
    assert "cannot read '.foo' of list" in exc.value.message


@pytest.mark.parametrize(("text", "meant"), [
    ('tokens == "Paris"', '`"Paris" in tokens`'),
    ('"O" != tags', '`"O" not in tags`'),
    ('tokens != ""', "`len(tokens) > 0`"),  # an empty string asked for an empty list
    ('tokens == ""', "`len(tokens) == 0`"),
])
def test_a_list_compared_with_one_value_is_an_error_naming_the_test_meant(text, meant):
    with pytest.raises(EvalError) as info:
        ev(text)
    assert "compares a list" in info.value.message and meant in (info.value.hint or "")


def test_the_yaml_form_of_the_membership_test_doubles_an_apostrophe_in_the_value():
    with pytest.raises(EvalError) as info:
        ev('tokens == "O\'Brien"')
    assert """(in YAML, quoted whole: '"O''Brien" in tokens')""" in (info.value.hint or "")


def test_a_surrogate_pair_written_as_two_escapes_is_the_one_character_json_means():
    assert ev(r'"a\ud83d\ude42b"') == "a\N{SLIGHTLY SMILING FACE}b"
    assert ev(r'"\u00e9"') == "é" and ev(r'"\ud83d"') == "\ud83d"  # a lone one stays (the checks name it later)


@pytest.mark.parametrize("value", ["\b", "\f", "a/b", "\\b", "tab\there", "\x01\x1f"])
def test_a_json_string_literal_means_what_json_says(value: str):
    """Found by hypothesis (test_rule_fixpoint): json.dumps writes a backspace as \\b, which the DSL kept as a
    backslash and b."""
    assert ev(json.dumps(value)) == value


@pytest.mark.parametrize("text", [r'"\uZZZZ"', r'"\u12"'])
def test_a_backslash_u_without_four_hex_digits_is_a_located_error_in_words(text: str):
    with pytest.raises(RecipeError) as caught:
        parse_expr(f"label == {text}", Source(f"label == {text}", Span("r.hum.yaml", 3, 5)))
    assert "is not a character escape: \\u takes four hexadecimal digits" in caught.value.message
    assert caught.value.span is not None and caught.value.span.line == 3 and "int()" not in caught.value.message
