"""Every DSL function meets the shapes real data arrives in (Hugging Face ClassLabel integers for tags, null, NaN,
nested lists, an object where a list is meant, a number where a text is, empty lists, tokens and tags of different
lengths, bytes) and either works or says in words, at the call, which argument holds what and what it expected —
never with Python's exception text."""

from __future__ import annotations

import inspect
import json
import math
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from helpers import REPO, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from humc.errors import CODES, EvalError, Span
from humc.expr import Evaluator, Source, parse_pipeline
from humc.expr.argtypes import PARAMS, describe
from humc.expr.functions import FUNCTIONS

# phrases of Python's own exception messages: none may reach a user
RAW_PYTHON = ("object has no attribute", "not subscriptable", "unsupported operand", "NoneType", "argument of type",
              "is not iterable", "unhashable type", "invalid literal", "could not convert", "index out of range",
              "indices must be", "can only concatenate", "must be str", "not supported between", "expected str instance",
              "has no len()", "bytes-like object", "cannot convert float", "<lambda>", "'int'", "'str'", "'list'",
              "'dict'", "'float'", "'bool'", "'bytes'")

TOKENS = ["EU", "rejects", "German"]
# one valid call per function: its arguments, in order (every parameter the function has, keyword ones included)
VALID: dict[str, list[Any]] = {
    "len": [TOKENS], "lower": ["Ab"], "upper": ["Ab"], "strip": [" a "], "str": [3], "int": ["3"], "float": ["3.5"],
    "bool": [1], "join": [TOKENS, " "], "split": ["a b", " "], "first": [TOKENS], "last": [TOKENS],
    "unique": [TOKENS], "sorted": [TOKENS], "contains": ["abc", "b"], "startswith": ["abc", "a"],
    "endswith": ["abc", "c"], "replace": ["abc", "a", "x"], "words": ["a b"], "get": [{"k": 1}, "k", 0],
    "default": [None, "x"], "lookup": [[0, 1], ["O", "B-PER"], 0], "choice_label": [["x", "y"], "y", ["A", "B"]],
    "one_hot": [{"joy": 1, "anger": 0}, ["joy", "anger"]],
    "bio_spans": [TOKENS, ["B-ORG", "O", "B-MISC"], " ", "auto", True], "tag_scheme": [["B-ORG", "O", "B-MISC"]],
    "unescape": ["a\\nb", "\n"], "html_unescape": ["&amp;"], "fix_entities": ["#36;"], "squash_spaces": [" a  b "],
    "strip_html": ["a<br>b"],
    "sentences": [["a?", "b"]], "normalize_space": [" a  b "], "nfc": [[{"span": "Cafe\u0301", "n": 1}]],
    "spert_entities": [TOKENS, [{"type": "ORG", "start": 0, "end": 1}]],
    "spert_relations": [TOKENS, [{"type": "ORG", "start": 0, "end": 1}, {"type": "MISC", "start": 2, "end": 3}],
                        [{"type": "r", "head": 0, "tail": 1}]],
    "duee_events": [[{"event_type": "e", "trigger": "t", "arguments": [{"role": "r", "argument": "a"}]}]],
    "fewfc_events": [[{"type": "e", "mentions": [{"word": "t", "role": "trigger"}, {"word": "a", "role": "r"}]}]],
    "zip_records": [["a", "b"], ["c", "d"]], "pluck": [[{"a": 1}], "a", ""], "flatten": [[TOKENS, TOKENS]],
    "join_each": [[TOKENS, "x"], " "], "rows_without": [[{"r": "x"}, {"r": "None"}], "r", "None"],
    "semeval_text": ['1\t"a <e1>b</e1> <e2>c</e2>"'],
    "semeval_relations": ['1\t"a <e1>b</e1> <e2>c</e2>"', "Cause-Effect(e1,e2)"],
    "oneie_events": [TOKENS, [{"event_type": "e", "trigger": {"start": 0, "end": 1},
                               "arguments": [{"role": "r", "text": "x"}]}], " ", None],
    "bracket_spans": [TOKENS, ["(ORG)", "*", "*"], " "], "weibo_chars": [["科0", "学1"]],
    "wikiann_tokens": [["en:Paris", "en:10:30"]],
    "conllu_attr": [["SpaceAfter=No|name=B-PER", "_"], "name", "O"], "ptb_leaves": ["(3 (2 It) (4 (2 's) (3 fine)))"],
    "maven_events": [[{"type": "Arranging", "mention": [{"trigger_word": "organized", "sent_id": 1, "offset": [3, 4]}]}]],
    "dureader_passages": [[{"paragraphs": ["a", "b"], "is_selected": True, "most_related_para": 1},
                           {"paragraphs": ["c"], "is_selected": False, "most_related_para": 0}]],
    "cluener_entities": [{"org": {"EU": [[0, 1]]}}],
    "inline_slots": ["[org : EU] rejects"],
    "char_spans": ["EU rejects", [{"start": 0, "end": 2, "label": "ORG"}], "start", "end", "label", "chars", None, False],
    "dygie_entities": [[["x"], TOKENS], [[], [[3, 3, "MISC"]]], 1, " "],
    "dygie_relations": [[TOKENS], [[[0, 0, 2, 2, "r"]]], None, " "],
    "dygie_events": [[TOKENS], [[[[1, "e"], [0, 0, "r"]]]], 0, " "],
    "rams_events": [[["x"], TOKENS], [[2, 2, [["e.f", 1.0]]]], [[[2, 2], [1, 1], "evt001arg01r"]], " "],
    "hellaswag_text": ["[title] EU rejects"],
    "casie_events": [{"hopper": [{"events": [{"subtype": "Ransom", "nugget": {"startOffset": 3, "text": "rejects"},
                                              "argument": [{"role": {"type": "Victim"}, "text": "EU"}]}]}]}],
    "nq_answer": ["<P> EU rejects </P>", [{"long_answer": {"start_token": 0, "end_token": 4},
                                           "short_answers": [{"start_token": 1, "end_token": 2}]}]],
}
# the values valid calls give today (they must keep them)
RESULTS: dict[str, Any] = {
    "len": 3, "lower": "ab", "upper": "AB", "strip": "a", "str": "3", "int": 3, "float": 3.5, "bool": True,
    "join": "EU rejects German", "split": ["a", "b"], "first": "EU", "last": "German", "unique": TOKENS,
    "sorted": ["EU", "German", "rejects"], "contains": True, "startswith": True, "endswith": True, "replace": "xbc",
    "words": 2, "get": 1, "default": "x", "lookup": ["O", "B-PER"], "choice_label": "B", "one_hot": ["joy"],
    "bio_spans": [{"type": "ORG", "span": "EU", "start": 0, "end": 1},
                  {"type": "MISC", "span": "German", "start": 2, "end": 3}],
    "tag_scheme": "iob2", "unescape": "a\nb", "html_unescape": "&", "fix_entities": "$", "squash_spaces": "a b",
    "strip_html": "a b", "sentences": "a? b",
    "normalize_space": "a b", "nfc": [{"span": "Caf\u00e9", "n": 1}], "spert_entities": [{"type": "ORG", "span": "EU"}],
    "spert_relations": [{"head": "EU", "relation": "r", "tail": "German"}],
    "duee_events": [{"event_type": "e", "trigger": "t", "role": "r", "argument": "a"}],
    "fewfc_events": [{"event_type": "e", "trigger": "t", "role": "r", "argument": "a"}],
    "zip_records": [{"a0": "a", "a1": "c"}, {"a0": "b", "a1": "d"}], "pluck": [1], "flatten": TOKENS * 2,
    "join_each": ["EU rejects German", "x"], "rows_without": [{"r": "x"}], "semeval_text": "a b c",
    "semeval_relations": [{"head": "b", "relation": "Cause-Effect", "tail": "c"}],
    "oneie_events": [{"event_type": "e", "trigger": "EU", "role": "r", "argument": "x"}],
    "bracket_spans": [{"type": "ORG", "span": "EU", "start": 0, "end": 1}], "weibo_chars": ["科", "学"],
    "wikiann_tokens": ["Paris", "10:30"], "conllu_attr": ["B-PER", "O"], "ptb_leaves": ["It", "'s", "fine"],
    "maven_events": [{"event_type": "Arranging", "trigger": "organized", "role": "", "argument": ""}],
    "dureader_passages": ["b"],
    "cluener_entities": [{"type": "org", "span": "EU", "start": 0, "end": 2}],
    "inline_slots": {"text": "EU rejects", "entities": [{"type": "org", "span": "EU", "start": 0, "end": 2}]},
    "char_spans": [{"type": "ORG", "span": "EU", "start": 0, "end": 2}],
    "dygie_entities": [{"type": "MISC", "span": "German", "start": 2, "end": 3}],
    "dygie_relations": [{"head": "EU", "relation": "r", "tail": "German"}],
    "dygie_events": [{"event_type": "e", "trigger": "rejects", "role": "r", "argument": "EU"}],
    "rams_events": [{"event_type": "e.f", "trigger": "rejects", "role": "r", "argument": "EU"}],
    "hellaswag_text": "EU rejects",
    "casie_events": [{"event_type": "Ransom", "trigger": "rejects", "role": "Victim", "argument": "EU"}],
    "nq_answer": {"context": "EU rejects", "answers": ["EU"], "yes_no": "NONE"},
}
# the wrong shapes real data arrives in
SHAPES: dict[str, Any] = {
    "null": None, "integer": 3, "class-label integers": [3, 4, 0], "NaN": math.nan, "number": 2.5, "boolean": True,
    "nested lists": [["EU", "rejects"], ["German"]], "object": {"a": 1}, "text": "EU rejects German",
    "empty list": [], "bytes": b"EU", "list of objects": [{"a": 1}], "list with a null": [None, "x"],
    "list of NaN": [math.nan], "list of bytes": [b"EU"], "objects with odd fields": [{"start": "x", "end": None}],
    "list of int pairs": [[1, 2]], "short list": ["EU"],
}


def _call_text(name: str, n: int) -> tuple[str, list[str]]:
    """`name(a0, a1, …)`, or with keywords for zip_records' **columns; and the argument names."""
    names = [f"a{i}" for i in range(n)]
    if name == "zip_records":
        return f"zip_records({', '.join(f'{a}={a}' for a in names)})", names
    return f"{name}({', '.join(names)})", names


def evaluate(text: str, env: dict[str, Any]) -> Any:
    src = Source(text, Span("r.hum.yaml", 3, 11))
    return Evaluator(src).eval(parse_pipeline(text, src), env)


def assert_worded(exc: EvalError, name: str) -> None:
    """A located E4102 whose message names the function and holds no Python exception text."""
    assert exc.code == "E4102" and exc.code in CODES
    assert exc.span is not None and exc.span.file == "r.hum.yaml" and exc.span.line == 3
    assert name in exc.message, exc.message
    leaked = [p for p in RAW_PYTHON if p in exc.message or p in (exc.hint or "") or p in (exc.expected or "")]
    assert not leaked, f"{exc.message!r} leaks {leaked}"


def test_every_function_has_its_arguments_shapes_and_a_valid_call_here():
    assert set(PARAMS) == set(FUNCTIONS) == set(VALID) == set(RESULTS)
    for name, shapes in PARAMS.items():
        params = list(inspect.signature(FUNCTIONS[name]).parameters)
        assert set(shapes) <= set(params), name


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_calls_keep_their_results(name: str):
    text, names = _call_text(name, len(VALID[name]))
    assert evaluate(text, dict(zip(names, VALID[name], strict=True))) == RESULTS[name]


@pytest.mark.parametrize("name", sorted(VALID))
def test_every_argument_of_every_function_given_every_wrong_shape_works_or_says_so_in_words(name: str):
    text, names = _call_text(name, len(VALID[name]))
    params = list(inspect.signature(FUNCTIONS[name]).parameters)
    for i, arg in enumerate(names):
        for shape, value in SHAPES.items():
            env = dict(zip(names, VALID[name], strict=True)) | {arg: value}
            try:
                evaluate(text, env)
            except EvalError as exc:
                assert_worded(exc, name)
                param = params[min(i, len(params) - 1)]
                if exc.message.startswith(f"{name}: {param} must be"):  # a shape check: the argument as written
                    assert f"; {arg} " in exc.message and exc.expected and exc.expected.startswith(param), (shape, exc)


# values as sources give them, wrong or right, drawn at random into random arguments
values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 10), st.floats(allow_nan=True), st.text(max_size=8),
              st.binary(max_size=4), st.sampled_from(["B-PER", "I-PER", "O", "(ORG*", "*)", "start", "end"])),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(
        ["type", "start", "end", "head", "tail", "label", "event_type", "trigger", "arguments", "mentions", "role"]),
        inner, max_size=4)),
    max_leaves=10)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(VALID)), data=st.data())
def test_random_values_in_any_argument_work_or_fail_in_words(name: str, data: st.DataObject):
    text, names = _call_text(name, len(VALID[name]))
    env = {a: data.draw(values) if data.draw(st.booleans()) else v for a, v in zip(names, VALID[name], strict=True)}
    try:
        evaluate(text, env)
    except EvalError as exc:
        assert_worded(exc, name)


# ------------------------------------------------------------------ the common cases: specific words and hints


def _error(text: str, **env: Any) -> EvalError:
    with pytest.raises(EvalError) as exc:
        evaluate(text, env)
    return exc.value


def test_class_label_integers_for_tags_name_the_column_and_both_fixes():
    exc = _error('bio_spans(tokens, ner_tags, scheme="iob1")', tokens=TOKENS, ner_tags=[3, 4, 0])
    assert exc.message == ("bio_spans: tags must be a list of tag strings like B-PER, I-PER, O; ner_tags holds "
                           "integers (3, 4, 0): they are class indices")
    assert exc.expected == "tags: a list of tag strings like B-PER, I-PER, O"
    assert exc.hint is not None and "options: {class_labels: true}" in exc.hint
    assert 'lookup(ner_tags, ["O", "B-PER", …])' in exc.hint
    assert (exc.span.col, exc.span.end_col) == (11, 11 + len('bio_spans(tokens, ner_tags, scheme="iob1")'))
    piped = _error("ner_tags | tag_scheme", ner_tags=[1, 2])
    assert "tag_scheme: tags must be" in piped.message and "ner_tags holds integers (1, 2)" in piped.message


def test_a_token_list_where_a_text_is_meant_hints_join_and_a_text_where_tokens_are_hints_split():
    exc = _error("squash_spaces(tokens)", tokens=TOKENS)
    assert "squash_spaces: value must be a text; tokens is a list of strings ('EU', 'rejects', 'German')" \
        in exc.message
    assert exc.hint == 'a list of tokens becomes one text with `tokens | join(" ")`'
    exc = _error("bio_spans(sentence, tags)", sentence="EU rejects German", tags=["B-ORG", "O", "B-MISC"])
    assert "sentence is a string ('EU rejects German'): a text, not a list" in exc.message
    assert exc.hint is not None and "`split(sentence)`" in exc.hint


@pytest.mark.parametrize(("text", "env", "said", "hinted"), [
    ("bio_spans(tokens, tags)", {"tokens": None, "tags": ["O"]}, "tokens is null", "default(tokens, [])"),
    ("bio_spans(tokens, tags)", {"tokens": TOKENS, "tags": math.nan}, "tags is NaN (an empty cell", "`where:`"),
    ("bio_spans(flatten(sents), tags)", {"sents": [TOKENS], "tags": [["B-ORG", "O", "B-MISC"]]},
     "tags holds lists ([…]): a list of lists (one per sentence?)", "flatten(tags)"),
    ("bio_spans(tokens, tags)", {"tokens": TOKENS, "tags": ["B-ORG", None, "O"]}, "tags holds null as tag 1",
     "`where:`"),
    ("duee_events(events)", {"events": {"event_list": []}}, "events is an object {event_list}: an object, not a list",
     "events.field"),
    ("spert_entities(tokens, ents)", {"tokens": TOKENS, "ents": [[0, 1, "ORG"]]},
     "ents holds lists ([…]): each item must be an object", "zip_records"),
    ("lower(blob)", {"blob": b"\xffEU"}, "blob is bytes (b'\\xffEU')", "binary data"),
    ("bio_spans(tokens, tags, strict=flag)", {"tokens": ["a"], "tags": ["O"], "flag": "false"},
     "strict must be true or false; flag is a string ('false')", "unquoted"),
    ("contains(n, 3)", {"n": 7}, "contains: s must be a text, a list or an object; n is an integer (7)", None),
    ("str(tokens)", {"tokens": TOKENS}, "str: v must be a text; tokens is a list of strings", 'join(" ")'),
    ("char_spans(tokens, spans)", {"tokens": TOKENS, "spans": []}, "char_spans: text must be a string; tokens is a "
     "list of strings", 'tokens | join(" ")'),
])
def test_common_wrong_shapes_get_specific_words(text: str, env: dict[str, Any], said: str, hinted: str | None):
    exc = _error(text, **env)
    assert said in exc.message
    assert (exc.hint is None) if hinted is None else (hinted in (exc.hint or "")), exc.hint
    assert_worded(exc, text.split("(")[0])


def test_tokens_and_tags_of_different_lengths_and_offsets_past_the_tokens_are_named():
    assert _error("bio_spans(tokens, tags)", tokens=TOKENS, tags=["O"]).message == "bio_spans(): 3 tokens but 1 tags"
    exc = _error("spert_entities(tokens, ents)", tokens=["EU"], ents=[{"type": "ORG", "start": 0, "end": 3}])
    assert "entity 0 spans tokens 0-3, outside the 1 tokens" in exc.message
    exc = _error("zip_records(a=xs, b=ys)", xs=[1, 2], ys=[1])
    assert "all columns must have the same length, not a 2, b 1" in exc.message
    exc = _error("oneie_events(tokens, evs)", tokens=["EU"],
                 evs=[{"event_type": "e", "trigger": {"start": 2, "end": 4}}])
    assert "event 0's trigger spans tokens 2-4, outside the 1 tokens" in exc.message


def test_items_missing_a_field_or_of_the_wrong_type_are_named_by_position():
    exc = _error("duee_events(evs)", evs=[{"trigger": "t"}])
    assert exc.message == "duee_events(): event 0 has no 'event_type' (its fields: trigger)"
    exc = _error("spert_relations(tokens, ents, rels)", tokens=TOKENS, ents=[{"type": "A", "start": 0, "end": 1}],
                 rels=[{"type": "r", "head": "0", "tail": 0}])
    assert exc.message == "spert_relations(): relation 0's head is a string ('0'), not a whole number"
    exc = _error("sorted(xs)", xs=["b", None, 1])
    assert exc.message == "sorted(): values of different types (integer and null and string) have no order"


def test_null_text_reads_as_no_text_not_the_word_none():
    assert evaluate('replace(t, "o", "0")', {"t": None}) is None
    assert evaluate('startswith(t, "No")', {"t": None}) is False
    assert evaluate("words(t)", {"t": None}) == 0
    assert evaluate('choice_label(["x", "y"], "y", "AB")', {}) == "B"  # labels as one text, a letter each, as before


def test_the_last_resort_net_names_the_function_and_its_arguments_types_in_words():
    src = Source("pick(m)", Span("r.hum.yaml", 1, 1))
    with pytest.raises(EvalError) as exc:
        Evaluator(src, {"pick": lambda m: m["k"]}).eval(parse_pipeline("pick(m)", src), {"m": {"a": None}})
    assert exc.value.message == "pick: cannot work with these arguments (m an object {a}): no key 'k' in the value"
    assert exc.value.span is not None


@pytest.mark.parametrize(("text", "env", "said"), [
    ("-t", {"t": "abc"}, "cannot negate a string ('abc'): '-' needs a number"),
    ("m[k]", {"m": {"a": 1}, "k": ["a"]}, "cannot index mapping with list"),
    ("n / 0", {"n": 1}, "'/': a division by zero"),
])
def test_operators_on_wrong_shapes_say_so_in_words(text: str, env: dict[str, Any], said: str):
    exc = _error(text, **env)
    assert said in exc.message and exc.span is not None


def test_describe_gives_type_and_a_short_sample():
    assert describe([3, 4, 0, 7]) == "a list of integers (3, 4, 0, …)"
    assert describe("x" * 100) == f"a string ('{'x' * 30}…')"
    assert describe([None, "x"]) == "a list of nulls and strings (null, 'x')"
    assert describe({"a": 1}) == "an object {a}" and describe([]) == "an empty list" and describe(None) == "null"


# ------------------------------------------------------------------ end to end: real-shaped files through the CLI

CONLL_NAMES = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def conll_sentences() -> list[dict[str, list[str]]]:
    """CoNLL-2003 sentences (tokens, IOB1 tags) from the test data."""
    rows: list[dict[str, list[str]]] = []
    tokens: list[str] = []
    tags: list[str] = []
    for line in (REPO / "tests/data/conll2003/eng.testa.head").read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip() or line.startswith("-DOCSTART-"):
            if tokens:
                rows.append({"tokens": tokens, "tags": tags})
            tokens, tags = [], []
            continue
        word, *_, tag = line.split()
        tokens.append(word)
        tags.append(tag)
    return rows


def write_class_label_parquet(path: Path) -> None:
    """The sentences as `datasets` writes a Hub export: ner_tags are ClassLabel integers, named in the file's
    `huggingface` schema metadata."""
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=CONLL_NAMES))})
    rows = [{"tokens": r["tokens"], "ner_tags": [CONLL_NAMES.index(t) for t in r["tags"]]} for r in conll_sentences()]
    datasets.Dataset.from_list(rows, features=features).to_parquet(str(path))


RECIPE = """hum: 1
name: hf
constants:
  ner_names: [O, B-PER, I-PER, B-ORG, I-ORG, B-LOC, I-LOC, B-MISC, I-MISC]
sources:
  b: {{path: conll.parquet{options}}}
tasks:
  - id: ner
    task: ner
    source: b
    labels: [PER, ORG, LOC, MISC]
    fields: {{text: 'tokens | join(" ")', entities: '{entities}'}}
"""


def _recipe(tmp_path: Path, entities: str, options: str = "") -> Path:
    write_class_label_parquet(tmp_path / "conll.parquet")
    recipe = tmp_path / "r.hum.yaml"
    recipe.write_text(RECIPE.format(entities=entities, options=options), encoding="utf-8")
    return recipe


def test_a_hub_parquet_with_class_label_tags_is_refused_in_words_by_check_and_build(tmp_path: Path):
    recipe = _recipe(tmp_path, 'bio_spans(tokens, ner_tags, scheme="iob1")')
    assert b"huggingface" in (pq.read_schema(tmp_path / "conll.parquet").metadata or {})  # as `datasets` writes it
    col = recipe.read_text(encoding="utf-8").splitlines()[11].index("bio_spans") + 1
    for args in (("check", str(recipe)), ("build", str(recipe), "--out", str(tmp_path / "out"),
                                          "--cache", str(tmp_path / "cache"))):
        result = run_cli(*args)
        assert result.exit_code == 2, result.output
        assert f"r.hum.yaml:12:{col}: error[E4102]: bio_spans: tags must be a list of tag strings like B-PER, " \
               "I-PER, O; ner_tags holds integers (0, 0, 8, …): they are class indices (source 'b' row 0)" \
               in result.output
        assert "hint: read a Parquet or Arrow source with `options: {class_labels: true}`" in result.output
        assert not any(p in result.output for p in RAW_PYTHON) and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("entities", "options"), [
    ('bio_spans(tokens, ner_tags, scheme="iob1")', ", options: {class_labels: true}"),
    ('bio_spans(tokens, lookup(ner_tags, ner_names), scheme="iob1")', ""),
])
def test_either_fix_the_hint_names_builds_the_entities(tmp_path: Path, entities: str, options: str):
    recipe = _recipe(tmp_path, entities, options)
    result = run_cli("build", str(recipe), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
    assert result.exit_code == 0, result.output
    text = "\n".join(json.dumps(r, ensure_ascii=False) for f in sorted((tmp_path / "out").rglob("*.parquet"))
                     for r in pq.read_table(f).to_pylist())
    assert "ENGLISH COUNTY CHAMPIONSHIP" in text and "Leicestershire" in text


def test_a_text_where_tokens_are_meant_is_refused_in_words_through_the_cli(tmp_path: Path):
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(json.dumps({"sentence": " ".join(r["tokens"]), "tags": r["tags"]})
                              for r in conll_sentences()[:3]) + "\n", encoding="utf-8")
    recipe = tmp_path / "r.hum.yaml"
    recipe.write_text("hum: 1\nname: t\nsources:\n  s: {path: d.jsonl}\ntasks:\n  - id: ner\n    task: ner\n"
                      "    source: s\n    labels: [PER, ORG, LOC, MISC]\n"
                      "    fields: {text: sentence, entities: 'bio_spans(sentence, tags, scheme=\"iob1\")'}\n",
                      encoding="utf-8")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 2
    assert "error[E4102]: bio_spans: tokens must be a list of token strings; sentence is a string ('CRICKET - " \
           "ENGLISH COUNTY CHAMP…'): a text, not a list (source 's' row 0)" in result.output
    assert "hint: split a text into a list with `split(sentence)`" in result.output


@pytest.mark.parametrize(("fields", "said"), [
    ("bio_spans(tokens, tags, strict=\"false\")", "bio_spans: strict must be true or false; \"false\" is a string"),
    ("tokens | join(0)", "join: sep must be a string; 0 is an integer (0)"),
    ("one_hot(record, \"anger\")", "one_hot: names must be a list of column names; \"anger\" is a string ('anger')"),
])
def test_a_constant_argument_of_the_wrong_shape_is_refused_before_any_data_is_read(tmp_path: Path, fields: str,
                                                                                  said: str):
    recipe = tmp_path / "r.hum.yaml"
    recipe.write_text("hum: 1\nname: t\nsources:\n  s: {path: missing.jsonl}\ntasks:\n  - id: ner\n    task: ner\n"
                      "    source: s\n    labels: [PER]\n    fields:\n      text: tokens | join(\" \")\n"
                      f"      entities: '{fields}'\n", encoding="utf-8")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 2
    line = recipe.read_text(encoding="utf-8").splitlines()[11]
    col = line.index(said.split("; ")[1].split(" is ")[0]) + 1  # the constant itself is pointed at
    assert f"r.hum.yaml:12:{col}: error[E2004]: {said}" in result.output, result.output
