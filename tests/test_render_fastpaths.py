"""The render and check shortcuts (issue #14) give exactly what the definitions they stand for give.

Each law is stated against the plain definition (the code before the shortcut, kept here as the reference):
hashes with a precomputed prefix, the direct JSON of hash parts and gold tables, a compiled template renderer,
Jinja2 context calls of builtins, the tuples reader that does not compile, the escaping fast paths, the NaN scan,
the per-entry schema construction and mix draws, position claims, and the check that reads a record's gold once
and remembers its rule check. The build-level law (same Parquet bytes) is the golden record files' job.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import random
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import jinja2
import pytest
from helpers import read_left_to_right
from hypothesis import given, settings
from hypothesis import strategies as st

from humc.answers import formats
from humc.answers.ops import AnswerState, apply_op
from humc.answers.table import AnswerTable
from humc.build.checking import _checker, _round_trip_problem, check_rendered, label_problem, rule_problem
from humc.build.compiler import load_recipe
from humc.build.rendering import MixDecks, Part, RenderContext, _packed, _prepared, gold_json, render_checked, retexted, schema_batches
from humc.build.reuse import CHECK_FIELDS
from humc.build.transforms import _HASH_JSON, HashPrefix, _non_finite, parts_json, restrict_to_labels, seeded_random, stable_hash
from humc.errors import HumcError
from humc.ir import Guideline, TaskEntry
from humc.templating import MAX_RENDERED_CHARS, TemplateRenderer, _Context, environment, render_template

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8)


# ------------------------------------------------------------------ hashing


@settings(max_examples=300, deadline=None)
@given(st.lists(json_values, max_size=6), st.integers(0, 6))
def test_a_hash_prefix_hashes_like_stable_hash_of_all_parts(parts: list[Any], cut: int) -> None:
    whole = tuple(parts)
    expected = int.from_bytes(hashlib.blake2b(_HASH_JSON.encode(whole).encode(), digest_size=8).digest(), "big")
    head, tail = whole[:cut], whole[cut:]
    assert stable_hash(*whole) == expected
    assert HashPrefix(*head)(*tail) == expected
    assert HashPrefix(*head).of_json(parts_json(*tail)) == expected


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**64 - 1))
def test_a_seeded_random_is_random_random_of_the_seed(seed: int) -> None:
    ours, theirs = seeded_random(seed), random.Random(seed)
    assert type(ours) is random.Random and ours.getstate() == theirs.getstate() and vars(ours) == vars(theirs)
    assert [ours.random(), ours.randrange(1 << 30), ours.gauss(0, 1)] == \
        [theirs.random(), theirs.randrange(1 << 30), theirs.gauss(0, 1)]


# ------------------------------------------------------------------ templates

VARIABLES = {"text": "Ada <b> & \"Bo\"", "labels": ["PER", "LOC"], "label_definitions": {"PER": "people"},
             "guidelines": ["g"], "rules": ["r1", "r2"], "columns": ["type", "span"], "option_labels": [],
             "format_instruction": "Answer in JSON.", "it": iter(())}
TEMPLATES = [
    *(p.read_text(encoding="utf-8") for p in sorted((Path(__file__).parent.parent / "stdlib" / "templates" / "ner")
                                                    .glob("en_*.j2"))),
    "{{ dict(dict(a=1), b=2) | json }} {{ label_definitions.items() | list }} {{ labels | join(', ') }}",
    "{% for i in range(3) %}{{ i }}{% endfor %} {{ '%s-%s' % (1, 2) }} {{ '{}!'.format(text) }}",
    "{{ cycler('a', 'b').next() }}{{ joiner(', ')() }}{{ namespace(a=1).a }}",
    "{% set x %}in a block{% endset %}{{ x | upper }}",
    "{{ x", "{{ nope }}", "{{ labels.__class__ }}", "{{ labels.append(1) }}", "{{ 'x' * 20000000 }}", "{{ 1 / 0 }}",
    "{{ labels.mro }}", "{% for x in range(100000000) %}{% endfor %}",
]


def _outcome(render: Any) -> tuple[Any, ...]:
    try:
        return ("text", render())
    except HumcError as exc:
        return ("error", exc.code, str(exc))


@pytest.mark.parametrize("text", TEMPLATES)
def test_a_template_renderer_renders_or_fails_like_render_template(text: str) -> None:
    origin = None
    renderer = TemplateRenderer(text, "ner/x", origin)
    expected = _outcome(lambda: render_template(text, VARIABLES, "ner/x", origin))
    assert _outcome(lambda: renderer(VARIABLES)) == expected
    assert _outcome(lambda: renderer(VARIABLES)) == expected  # compiled once, the same again


HOLE_TEMPLATES = [
    *TEMPLATES[:4],  # the stdlib NER templates
    "{{ text }}", "  {{ text }}  x", "{% if labels %}{{ text }}{% else %}-{% endif %}",
    "{% for l in labels %}{{ text }}|{{ l }}{% endfor %}{{ text }}",
    "{% for label, text in label_definitions.items() %}{{ text }}{% endfor %}{{ text }}",
    "{% set text = 'x' %}{{ text }}", "{{ text | upper }}", "{{ text ~ '!' }}", "{% if text %}{{ text }}{% endif %}",
    "{% set y %}{{ text }}{% endset %}{{ y | upper }}", "{% macro m() %}{{ text }}{% endmacro %}{{ m() }}",
    "{% filter upper %}{{ text }}{% endfilter %}", "{{ nope }}{{ text }}", "{{ 'x' * 3 }}{{ text }}", "no hole",
    "{% for l in labels %}{{ l }}{% else %}{{ text }}{% endfor %}", "{{ text.upper() }}", "{{ labels }}{{ text }}",
]
HOLE_VALUES = st.text(max_size=12) | st.sampled_from(["  padded  ", "\x00hole", "{{ text }}", "\n"])


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(HOLE_TEMPLATES), st.lists(HOLE_VALUES, min_size=1, max_size=4),
       st.lists(st.sampled_from(["PER", "LOC", "ORG"]), max_size=3, unique=True))
def test_a_renderer_filling_holes_renders_or_fails_like_render_template(text: str, values: list[str],
                                                                        labels: list[str]) -> None:
    renderer = TemplateRenderer(text, "ner/x", None, holes=("text",))
    for value in values:  # the pieces of one key are reused for the later values
        variables = {**VARIABLES, "text": value, "labels": labels}
        expected = _outcome(lambda v=variables: render_template(text, v, "ner/x", None))
        assert _outcome(lambda v=variables: renderer(v, (tuple(labels),))) == expected


@pytest.mark.parametrize(("text", "fillable"), [
    ("Text: {{ text }}", True), ("{% for label, text in label_definitions.items() %}{{ text }}{% endfor %}", True),
    ("{% if labels %}{% for l in labels %}{{ text }}{% endfor %}{% endif %}", True), ("{{ text | upper }}", False),
    ("{% if text %}x{% endif %}", False), ("{% set y %}{{ text }}{% endset %}", False), ("{{ text ~ 'x' }}", False),
    ("{% for t in text %}{{ t }}{% endfor %}", False), ("{{ lipsum(1) }}{{ text }}", False),
    ("{{ labels | random }}{{ text }}", False), ("{% macro m() %}{{ text }}{% endmacro %}", False)])
def test_only_templates_that_write_the_hole_out_as_it_is_reuse_their_pieces(text: str, fillable: bool) -> None:
    renderer = TemplateRenderer(text, "t", None, holes=("text",))
    renderer({**VARIABLES, "text": "abc"}, ("k",))
    assert bool(renderer.fillable) == fillable and bool(renderer.pieces) == fillable


def test_a_filled_text_over_the_limit_fails_as_the_render_fails() -> None:
    big = "x" * (MAX_RENDERED_CHARS // 2 + 1)
    text = "{{ text }}{{ text }}"
    renderer = TemplateRenderer(text, "t", None, holes=("text",))
    assert renderer({"text": "small"}, ("k",)) == "smallsmall"
    expected = _outcome(lambda: render_template(text, {"text": big}, "t"))
    assert expected[0] == "error" and _outcome(lambda: renderer({"text": big}, ("k",))) == expected


def test_context_calls_of_builtins_are_jinjas_calls() -> None:
    env = environment()
    ours = env.from_string("x").new_context({})
    theirs = jinja2.runtime.Context(env, {}, None, {})
    assert type(ours) is _Context

    @jinja2.pass_context
    def which(context: Any) -> Any:
        return context

    for fn, args, kwargs in [(dict, (), {"a": 1}), (len, ([1, 2],), {}), ({"a": 1}.items, (), {}),
                             (str.upper, ("a",), {}), (sorted, ([2, 1],), {"_loop_vars": {}}), (list, ("ab",), {})]:
        assert ours.call(fn, *args, **kwargs) == theirs.call(fn, *args, **kwargs)
    assert ours.call(which) is ours and theirs.call(which) is theirs  # pass_context still passes the context
    stopped = ours.call(next, iter(()))
    assert type(stopped) is type(theirs.call(next, iter(()))) and isinstance(stopped, jinja2.Undefined)


# ------------------------------------------------------------------ formats

simple_values = st.recursive(
    st.none() | st.text(alphabet=st.characters(codec="utf-8"), max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.lists(inner, max_size=3).map(tuple), max_leaves=6)


def _same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (a tuple is not a list)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@settings(max_examples=400, deadline=None)
@given(simple_values)
def test_the_tuples_reader_reads_what_literal_eval_reads(value: Any) -> None:
    text = repr(value)
    read = formats.simple_literal(text)
    assert read is formats.NOT_SIMPLE or _same(read, ast.literal_eval(text))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.text(alphabet="abc 'é\"-|", max_size=5), st.text(alphabet="xy é'", max_size=5)),
                max_size=4))
def test_the_tuples_reader_takes_the_fast_path_for_what_the_format_writes(rows: list[tuple[str, str]]) -> None:
    read = formats.simple_literal(repr(rows))
    escaped = any("'" in v and '"' in v for row in rows for v in row)  # repr writes a backslash: literal_eval reads it
    assert (read is formats.NOT_SIMPLE) == escaped and (escaped or _same(read, rows))


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="[](), 'None\"\\\nab#", max_size=16))
def test_the_tuples_reader_never_reads_what_literal_eval_would_not(text: str) -> None:
    read = formats.simple_literal(text)
    if read is not formats.NOT_SIMPLE:
        assert _same(read, ast.literal_eval(text))


def _escape_reference(value: str, special: str) -> str:
    return "".join(formats._ESCAPES.get(ch) or ("\\" + ch if ch in special else ch) for ch in value)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab|;\\\n\r é", max_size=12), st.sampled_from(["", "|", ";"]), st.sampled_from([None, "|", ";"]))
def test_escaping_shortcuts_equal_the_character_loops(text: str, special: str, sep: str | None) -> None:
    assert formats._escape(text, special) == _escape_reference(text, special)
    if "\\" not in text:  # the shortcut: nothing escaped, a plain split
        assert formats._split_escaped(text, sep) == (text.split(sep) if sep else [text])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="ab|;\\\n\r é", max_size=6), min_size=1, max_size=4), st.sampled_from(["|", ";"]))
def test_escaped_parts_joined_split_back_into_the_parts(parts: list[str], sep: str) -> None:
    """The law both paths of ``_split_escaped`` serve: it reads back what ``_escape`` wrote."""
    assert formats._split_escaped(sep.join(formats._escape(part, sep) for part in parts), sep) == parts
    assert formats._split_escaped(formats._escape(parts[0], ""), None) == [parts[0]]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=10))
def test_a_plain_quoted_value_reads_like_json(value: str) -> None:
    for token in (json.dumps(value), json.dumps(value, ensure_ascii=False), '"' + value.replace('"', "") + '"'):
        try:
            expected: Any = str(json.loads(token))
        except ValueError:
            expected = ValueError
        try:
            got: Any = formats._unquote(token)
        except ValueError:
            got = ValueError
        assert got == expected


@settings(max_examples=200, deadline=None)
@given(json_values, st.booleans(), st.sampled_from([None, 0, 2, 4]), st.booleans())
def test_json_encoders_built_once_write_what_dumps_writes(value: Any, ascii_only: bool, indent: int | None,
                                                          compact: bool) -> None:
    s = {"ensure_ascii": ascii_only, "indent": indent, "compact": compact}
    expected = json.dumps(value, ensure_ascii=ascii_only, indent=None if compact else indent,
                          separators=(",", ":") if compact else None)
    assert formats._dump(value, s) == expected


def test_a_format_without_shuffled_keys_never_draws_a_random_number() -> None:
    with pytest.raises(AssertionError):
        formats._NO_DRAWS.random()
    with pytest.raises(AssertionError):
        formats._NO_DRAWS.shuffle([1, 2, 3])
    table = AnswerTable(("type", "span"), (("PER", "Ada"), ("LOC", "Oslo")))
    context = formats.FormatContext(("PER", "LOC"), "type", "Ada lives in Oslo")
    for codec in formats.codec_names():
        if formats.is_single_column(codec):
            continue
        try:
            formats.render(formats.FormatSpec(codec), table, seed=3, context=context)  # raises if a codec drew
        except formats.NotExpressible:
            pass
    shuffled = formats.FormatSpec("json", {}, (("shuffle_keys", {"seed": 1}),))
    assert formats.render(shuffled, table, seed=5) == formats.render(shuffled, table, seed=5)


# ------------------------------------------------------------------ transforms

gold_values = st.text(max_size=6) | st.integers(0, 3) | st.none()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["type", "span", "é", "a\"b"]), min_size=1, max_size=3),
       st.lists(st.lists(gold_values, min_size=3, max_size=3), max_size=3))
def test_gold_json_is_json_dumps_of_the_rows(fields: list[str], rows: list[list[Any]]) -> None:
    fields_t = tuple(fields)
    table = AnswerTable(fields_t, tuple(tuple(r[:len(fields_t)]) for r in rows))
    assert gold_json(table) == json.dumps(table.as_dicts(), ensure_ascii=False)


def _non_finite_reference(value: Any) -> bool:
    """Recursively: a float NaN or infinity anywhere in the mappings, lists and tuples of ``value``."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, Mapping):
        return any(_non_finite_reference(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(_non_finite_reference(item) for item in value)
    return False


nan_values = st.recursive(
    st.none() | st.text(max_size=3) | st.floats(allow_nan=True, allow_infinity=True) | st.integers(),
    lambda inner: st.lists(inner, max_size=3) | st.lists(inner, max_size=2).map(tuple)
    | st.dictionaries(st.text(max_size=2), inner, max_size=2)
    | st.dictionaries(st.text(max_size=2), inner, max_size=2).map(OrderedDict), max_leaves=8)


@settings(max_examples=400, deadline=None)
@given(nan_values)
def test_the_nan_scan_finds_what_the_abstract_class_scan_finds(value: Any) -> None:
    assert (_non_finite(value) is not None) == _non_finite_reference(value)


def _sort_by_position_reference(rows: list[tuple[str, ...]], i: int, text: str) -> list[tuple[str, ...]]:
    """ops._sort_by_position before its shortcuts: rows that read left to right in the text (each value found after
    the end of the one before) stay as they are, else each claims its occurrence, longest first."""
    values = [r[i] for r in rows]
    if read_left_to_right(values, text):
        return list(rows)
    claimed: list[tuple[int, int]] = []
    last: dict[str, int] = {}
    starts = [0] * len(values)
    for k in sorted(range(len(values)), key=lambda k: (-len(values[k]), values[k], k)):
        value = values[k]
        start = text.find(value) if value else -1
        found = len(text) + 1
        while start >= 0:
            end = start + len(value)
            if not any(s < end and start < e for s, e in claimed):
                claimed.append((start, end))
                found = start
                break
            start = text.find(value, start + 1)
        if found <= len(text) or value not in last:
            last[value] = found
        starts[k] = last[value]
    order = sorted(range(len(rows)), key=lambda k: (starts[k], k))
    return [rows[k] for k in order]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("ABC"), st.sampled_from(["Paris", "Paris Hilton", "a", "ab", "", "x"])),
                max_size=5), st.lists(st.sampled_from(["Paris ", "Hilton ", "a", "b", "x "]), max_size=10).map("".join))
def test_position_claims_order_rows_as_before(rows: list[tuple[str, str]], text: str) -> None:
    state = AnswerState(AnswerTable.of(("type", "span"), rows))
    assert list(apply_op("sort_by_position", ("span",), state, text).table.rows) == \
        _sort_by_position_reference(rows, 1, text)


RECIPE = """hum: 1
name: fast
{top}
sources:
  s: d.jsonl
tasks:
  - id: ner
    task: ner
    source: s
    fields: {{text: text, entities: ents}}
    labels: [PER, ORG, LOC, MISC, DATE]
    schema: {schema}
    preferences: [order_entities_by_position, empty_brackets]
    formats: [json, tuples, markdown_table, natural]
    variants_per_record: 3
"""


def _entry(folder: Path, schema: str = "{negatives: 2}", top: str = "") -> TaskEntry:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "d.jsonl").write_text(json.dumps({"text": "t", "ents": []}) + "\n")
    (folder / "r.hum.yaml").write_text(RECIPE.format(schema=schema, top=top))
    return load_recipe(folder / "r.hum.yaml").tasks[0]


SCHEMAS = ["{negatives: 2}", "{order: alphabetical}", "{order: declared, negatives: 1}",
           "{split_num: 2, hard_negatives: {PER: [ORG], LOC: [DATE, MISC]}}", "{split_num: 3, order: declared}"]
MIX = "mix: {compound: 0.5, guidelines: 0.5, rules: 0.5, formats: 0.5}"


@pytest.fixture(scope="module")
def entries(tmp_path_factory: pytest.TempPathFactory) -> list[TaskEntry]:
    root = tmp_path_factory.mktemp("fast")
    return [_entry(root / str(i), schema, MIX if i % 2 else "") for i, schema in enumerate(SCHEMAS)]


def _schema_batches_reference(ctx: RenderContext, table: AnswerTable, rng: random.Random,
                              record: Mapping[str, Any] | None) -> list[tuple[str, ...]]:
    """rendering.schema_batches before the per-entry constants."""
    entry, column = ctx.entry, ctx.entry.task.schema_column
    if column is None or ctx.labels is None:
        return [()]
    schema = entry.schema
    positives = list(dict.fromkeys(table.column(column)))
    confusable = dict(schema.hard_negatives) if schema is not None else {}
    own = record.get("schema_labels") if record is not None else None
    allowed = set(ctx.labels) & set(own) if isinstance(own, list) else set(ctx.labels)
    hard = list(dict.fromkeys(h for p in positives for h in confusable.get(p, ())
                              if h in allowed and h not in positives))
    others = [label for label in ctx.labels if label in allowed and label not in positives and label not in hard]
    if schema is not None and schema.negatives is not None:
        others = rng.sample(others, min(schema.negatives, len(others)))
    shown = positives + hard + others

    def ordered(labels: list[str]) -> tuple[str, ...]:
        order = "random" if schema is None else schema.order
        out = list(labels)
        if order == "random":
            rng.shuffle(out)
        elif order == "alphabetical":
            out.sort()
        else:
            rank = {label: i for i, label in enumerate(ctx.labels or ())}
            out.sort(key=lambda label: rank.get(label, len(rank)))
        return tuple(out)

    if schema is None or schema.split_num is None:
        return [ordered(shown)]
    return [ordered(batch) for batch in _packed(shown, confusable, schema.split_num, rng, schema.order)]


LABELS = ("PER", "ORG", "LOC", "MISC", "DATE")


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(SCHEMAS) - 1), st.lists(st.sampled_from([*LABELS, "EVENT"]), max_size=4),
       st.none() | st.lists(st.sampled_from(LABELS), max_size=3), st.integers(0, 2**32))
def test_schema_construction_per_entry_matches_the_definition(entries: list[TaskEntry], i: int, gold: list[str],
                                                              own: list[str] | None, seed: int) -> None:
    entry = entries[i]
    ctx = RenderContext(entry, {}, LABELS, "fast")
    table = AnswerTable.of(("type", "span"), [(label, f"s{k}") for k, label in enumerate(gold)])
    record = {} if own is None else {"schema_labels": own}
    assert schema_batches(ctx, table, random.Random(seed), record) == \
        _schema_batches_reference(ctx, table, random.Random(seed), record)
    assert _prepared(ctx).restricted(table) == restrict_to_labels(entry, table, LABELS)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, len(SCHEMAS) - 1), st.integers(0, 10_000), st.integers(0, 3), st.integers(0, 2), st.booleans())
def test_per_entry_mix_draws_are_part_draw(entries: list[TaskEntry], i: int, row: int, k: int, b: int,
                                           decks: bool) -> None:
    entry = entries[i]
    prepared = _prepared(RenderContext(entry, {}, LABELS, "fast"))
    template, variant = entry.templates[-1], entry.variants[-1]
    ours = MixDecks(entry.mix, row) if decks and not entry.mix.is_default else None
    theirs = MixDecks(entry.mix, row) if decks and not entry.mix.is_default else None
    for n in range(5):  # several draws from the same decks
        got = prepared.draw(parts_json("s", row, k, b + n), template, variant, ours)
        assert got == Part.draw(entry, ("s", row, k, b + n), template, variant, theirs)
        empty = AnswerTable(entry.task.columns)
        assert prepared.answering_nothing(got) == got.saying_how_to_answer_nothing(entry, empty)


# ------------------------------------------------------------------ check


TEXTS = ["Paris Hilton met EU officials in Paris .", "Ada and Bo", "", "Oslo | Bergen ; \"x\""]


def _inputs(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for row in range(8):
        text = rng.choice(TEXTS)
        words = text.split() or ["none"]
        ents = [{"type": rng.choice(LABELS[:4]), "span": rng.choice(words)} for _ in range(rng.randint(0, 3))]
        out.append({"_source": "s", "_row": row, "text": text, "entities": ents})
    return out


def _rendered(entry: TaskEntry, seed: int) -> list[dict[str, Any]]:
    ctx = RenderContext(entry, {}, LABELS, "fast")
    return [r for record in _inputs(seed) for r in render_checked(ctx.for_chunk(_inputs(seed)[0]), record).records]


def _with_texts(entry: TaskEntry, word: str) -> TaskEntry:
    """The entry with other template and guideline texts and label definitions: what an edit of texts gives."""
    guideline = Guideline("g", "Types", f"Mind the {word}.", (("PER", f"{word} people"), ("ORG", f"{word} firms")),
                          "en", ("ner",), f"g-{word}")
    templates = tuple(replace(t, text=f"{word}: {t.text}", digest=f"{word}-{t.digest}") for t in entry.templates)
    return replace(entry, templates=templates, guidelines=(guideline,))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(range(0, len(SCHEMAS), 2)), st.integers(0, 1000),
       st.sampled_from(["beta", "{{ labels | length }} {{ guidelines | join }}", "{{ nope }}", "{{ 1 / 0 }}"]))
def test_instructions_with_their_texts_rendered_again_are_what_a_render_with_the_new_texts_gives(
        entries: list[TaskEntry], i: int, seed: int, word: str) -> None:
    """What ``reuse.Reuse`` stands on for a record that gave no problem (the default `mix:`): ``retexted`` of its
    earlier instructions equals a whole render under the entry with the new template and guideline texts."""
    before, after = _with_texts(entries[i], "alpha"), _with_texts(entries[i], word)
    assert before.mix.is_default
    old_ctx, new_ctx = RenderContext(before, {}, LABELS, "fast"), RenderContext(after, {}, LABELS, "fast")
    for record in _inputs(seed):
        earlier = render_checked(old_ctx, record)
        if earlier.problems:
            continue
        again = partial(retexted, new_ctx, record, earlier.records)
        assert _outcome(again) == _outcome(lambda: render_checked(new_ctx, record).records)  # noqa: B023 - called here


def _tampered(record: dict[str, Any], how: int) -> dict[str, Any]:
    gold = json.loads(record["gold"])
    if how == 1:
        return {**record, "gold": json.dumps(gold[::-1])}      # maybe out of order: rule_violated
    if how == 2:
        return {**record, "output": record["output"] + "]"}    # unparseable, or another answer
    if how == 3:
        return {**record, "labels": record["labels"][:1]}      # a label not offered
    if how == 4:
        return {**record, "_rules": []}                        # no rule stated
    return record


@settings(max_examples=60, deadline=None)
@given(st.integers(0, len(SCHEMAS) - 1), st.integers(0, 1000), st.lists(st.tuples(st.integers(0, 100),
                                                                                  st.integers(0, 4)), max_size=30))
def test_the_check_remembering_a_records_gold_and_rule_check_finds_the_same_problems(
        entries: list[TaskEntry], i: int, seed: int, picks: list[tuple[int, int]]) -> None:
    entry = entries[i]
    records = _rendered(entry, seed)
    if not records:
        return
    stream = [_tampered(records[p % len(records)], how) for p, how in picks] + records
    for record in stream:
        expected = rule_problem(entry, record) or label_problem(entry, record) or _round_trip_problem(entry, record)
        assert check_rendered(entry, record) == expected
        # the rule check is a function of the gold, its empty rendering, the stated rules and the input text
        other = {**record, "output": "?", "labels": [], "answer_format": "?", "id": "x"}
        assert _checker(entry).rule_problem(other, [list(d.values()) for d in json.loads(other["gold"])]) == \
            rule_problem(entry, record)


class _CheckFieldsOnly(Mapping[str, Any]):
    """A record that lets the check read its ``CHECK_FIELDS`` (and where it comes from) and nothing else."""

    READABLE = frozenset(CHECK_FIELDS) | {"source", "source_row", "_line"}

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record

    def __getitem__(self, key: str) -> Any:
        assert key in self.READABLE, f"the check read {key!r}, which is not among reuse.CHECK_FIELDS"
        return self.record[key]

    def __iter__(self) -> Any:
        raise AssertionError("the check iterated over a record's fields")

    def __len__(self) -> int:
        return len(self.record)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, len(SCHEMAS) - 1), st.integers(0, 1000), st.lists(st.tuples(st.integers(0, 100),
                                                                                  st.integers(0, 4)), max_size=30))
def test_the_check_decides_by_the_check_fields_alone(entries: list[TaskEntry], i: int, seed: int,
                                                     picks: list[tuple[int, int]]) -> None:
    """What ``reuse.PriorChecks`` stands on: a verdict is a function of the entry and the record's check fields, so
    a record whose check fields equal those of one a check passed passes too."""
    entry = entries[i]
    records = _rendered(entry, seed)
    for record in [_tampered(records[p % len(records)], how) for p, how in picks if records] + records:
        expected = rule_problem(entry, record) or label_problem(entry, record) or _round_trip_problem(entry, record)
        assert check_rendered(entry, _CheckFieldsOnly(record)) == expected  # type: ignore[arg-type]


def test_instruction_records_keep_strings_of_their_own(entries: list[TaskEntry]) -> None:
    """The stored chunks are pickles: a string shared by two records would be written once and change their bytes."""
    ctx = RenderContext(entries[0], {}, LABELS, "fast")
    records = [r for row in range(4) for r in render_checked(ctx, {"_source": "s", "_row": row, "text": "Ada and Bo",
                                                                  "entities": [{"type": "PER", "span": "Ada"}]}).records]
    assert len(records) >= 4
    for key in ("gold", "template"):
        assert len({id(r[key]) for r in records}) == len(records)


def test_records_whose_option_labels_are_equal_keys_but_print_differently_get_their_own_text(tmp_path: Path) -> None:
    """``[1, 0]`` and ``[True, False]`` are equal as dict keys, not as text: the reused pieces of a template must
    not carry one record's option labels into another's instruction (whichever came first in the process)."""
    from test_shard_reuse import workspace

    workspace(tmp_path, rows=5)
    for k in range(2):
        for t in "ab":
            (tmp_path / "assets" / "templates" / "ner" / f"t{k}{t}.j2").write_text(
                "Extract entities ({{ labels|join(', ') }}); options {{ option_labels|join('/') }}.\n"
                "{{ format_instruction }}\nText: {{ text }}\n")
    entry = load_recipe(tmp_path / "two.hum.yaml").tasks[0]
    base = {"_source": "s", "_row": 0, "text": "Acme hired Bob.", "entities": [{"type": "ORG", "span": "Acme"}]}
    first_lines = []
    for labels in ([1, 0], [True, False], [1.0, 0.0]):
        out = render_checked(RenderContext(entry, {}, ("ORG", "LOC"), "two"), {**base, "option_labels": labels})
        first_lines.append({r["instruction"].splitlines()[0].rsplit(" ", 1)[1] for r in out.records})
    assert first_lines == [{"1/0."}, {"True/False."}, {"1.0/0.0."}]
