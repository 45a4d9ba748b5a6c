"""The render node's per-record work: a mapped record -> its instruction records (template x format variant).

``render_checked`` first refuses a record that cannot become a truthful example (``transforms``' problems:
a NaN, null or non-text input the instruction would show, a gold item that does not fit the answer columns, a
gold label outside `labels:`, a gold span not in the input it is copied from, a choice that is not an option),
applies the preference rules to the gold, then renders each chosen (template, format) pair: the instruction
text (Jinja2, with the guidelines, rules and labels the mix draws), the answer in its format, and the gold as
JSON. A variant whose empty answer the format cannot express is dropped with its own problem.

Speed (issue #14) without changing a value: what every record of an entry shares is worked out once
(``_Prepared``: the seeded hashes' constant leading parts as copied blake2b states, the (template, format)
pairs, the label set; ``_PartInfo``: per part shown, its compiled template, format sentence, rule and
guideline texts, label definitions per schema). These memos are keyed by object identity and keep the objects
they name; tests/test_render_fastpaths.py states each shortcut against the definition it replaces.
``retexted`` renders only the instruction texts again for a record whose draws are unchanged (``reuse``).
"""

from __future__ import annotations

import functools
import json
import random
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from humc.answers import formats
from humc.answers.ops import AnswerState
from humc.answers.table import AnswerTable
from humc.build.problems import Problem
from humc.build.transforms import (
    NORMAL_FORM_NOTE,
    HashPrefix,
    apply_rules,
    choice_problem,
    copied_problem,
    declared_empty,
    gold_table,
    input_problem,
    input_text,
    nan_problem,
    option_labels,
    parts_json,
    seeded_random,
    span_problem,
    split_group,
    stable_hash,
    stated_rules,
    surrogate_problem,
    where_of,
)
from humc.errors import HumcError, RecordError, Span
from humc.ir import EventRoles, Guideline, LabelExamples, Mix, PreferenceRule, TaskEntry, Template, Variant
from humc.limits import LIMIT_CODE
from humc.templating import QuotedItems, TemplateRenderer, render_template, template_variables

_JSON_STR = json.encoder.encode_basestring  # how json writes a str (ensure_ascii=False)
_GOLD_JSON = json.JSONEncoder(ensure_ascii=False)  # json.dumps(…, ensure_ascii=False)'s encoder, built once


@dataclass(frozen=True)
class RenderContext:
    entry: TaskEntry
    constants: Mapping[str, Any]
    labels: tuple[str, ...] | None  # the label set of the schema, if the task has one
    recipe: str
    decks: MixDecks | None = None   # a chunk's stratified mix draws (None: one seeded coin per instruction)
    roles: EventRoles = ()          # each event type's argument roles in the gold (ee: ``collect_labels``), sorted

    def for_chunk(self, first: Mapping[str, Any]) -> RenderContext:
        """This context for the chunk starting at record ``first``: fresh mix decks seeded by where it starts."""
        if self.entry.mix.is_default:
            return self
        return replace(self, decks=MixDecks(self.entry.mix, stable_hash("mix", self.entry.seed, self.entry.id,
                                                                     first["_source"], first["_row"])))


class Deck:
    """Stratified yes/no draws at rate ``p``: of every ``BLOCK`` draws exactly the rounded running share are yes,
    in seeded shuffled order — so a chunk's realised rate is ``p`` to within a part of one block, where
    independent coins stray by ±2 points at 500 instructions. Deterministic from the seed."""

    BLOCK = 20

    def __init__(self, p: float, rng: random.Random) -> None:
        self.p, self.rng, self.dealt, self.yes = p, rng, 0, 0
        self.cards: list[bool] = []

    def draw(self) -> bool:
        if not self.cards:
            target = int(self.p * (self.dealt + self.BLOCK) + 0.5)
            yes = min(self.BLOCK, max(0, target - self.yes))
            self.cards = [True] * yes + [False] * (self.BLOCK - yes)
            self.rng.shuffle(self.cards)
            self.dealt, self.yes = self.dealt + self.BLOCK, self.yes + yes
        return self.cards.pop()


class MixDecks:
    """One deck per decision of ``ir.Mix``: compound, then (for compound instructions) guidelines, rules, formats."""

    def __init__(self, mix: Mix, seed: int) -> None:
        rng = random.Random(seed)
        self.compound, self.guidelines, self.rules, self.formats = (
            Deck(p, random.Random(rng.randrange(1 << 62))) for p in (mix.compound, mix.guidelines, mix.rules, mix.formats))


@dataclass
class Rendered:
    """One source record's render result: its instruction records, the problems that dropped
    records (the whole source record, or single variants), gold rows removed by `labels:`, and every
    template rendered for it ("task/id"), the dropped variants' too (what an edit of a template touches)."""

    records: list[dict[str, Any]]
    problems: list[Problem]
    outside_rows: int = 0
    templates: set[str] = field(default_factory=set)


def render_record(ctx: RenderContext, record: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The record's instruction records that have no problem (see ``render_checked``)."""
    yield from render_checked(ctx, record).records


def render_checked(ctx: RenderContext, record: Mapping[str, Any]) -> Rendered:
    entry = ctx.entry
    problem = nan_problem(entry, record) or input_problem(entry, record) or surrogate_problem(entry, record)
    if problem is not None:
        return Rendered([], [problem])
    try:
        gold = gold_table(entry, record)
    except RecordError as exc:
        return Rendered([], [Problem("bad_gold", exc.message)])
    prepared = _prepared(ctx)
    base = prepared.restricted(gold)
    outside = len(gold.rows) - len(base.rows)
    if outside:  # the instruction offers only `labels:`; a gold row outside them makes the record wrong
        column = entry.task.schema_column or ""
        missing = sorted(set(gold.column(column)) - set(base.column(column)))
        detail = f"gold label(s) {', '.join(missing)} not in `labels:`"
        named = entry.schema.labels if entry.schema is not None else None
        if named:
            detail += _outside_hint(missing, [str(n) for n in named])
        return Rendered([], [Problem("label_outside_set", detail)], outside)
    problem = span_problem(entry, record, gold) or copied_problem(entry, record, gold) or choice_problem(entry, record, gold)
    if problem is not None:
        return Rendered([], [problem])
    state = apply_rules(entry, ctx.constants, record, base)
    out = Rendered([], [], outside)
    stated = stated_rules(entry, ctx.constants, record, state)
    try:
        _render_variants(prepared, ctx.decks, record, state, input_text(entry, record), stated, out)
    except HumcError as exc:
        if exc.code == LIMIT_CODE:  # a template over a limit for this record's data (a 50 MB field): name the record
            exc.notes.append(_record_note(record))
        raise
    group = split_group(entry, ctx.constants, record)
    if group is not None:
        for rendered in out.records:
            rendered["_group"] = group
    return out


def _record_note(record: Mapping[str, Any]) -> str:
    """Which source record a render failed on, and its longest text field (the usual cause of a limit)."""
    line = record.get("_line")
    at = f" (line {line} of the source file)" if line is not None else ""
    texts = [(len(v), k) for k, v in record.items() if isinstance(v, str) and not k.startswith("_")]
    size, name = max(texts) if texts else (0, "")
    longest = (f"; its longest field, '{name}', holds {size} characters (a task's `where: len({name}) < 100000` "
               "leaves such records out)") if texts else ""
    return f"while rendering {where_of(record)}{at}{longest}"


def _outside_hint(missing: list[str], named: list[str]) -> str:
    """Why gold labels are not among the entry's `labels:` when the cause can be seen: they are class indices, or
    the same labels in another Unicode normal form."""
    if all(label.lstrip("-").isdigit() for label in missing) \
            and not any(n.lstrip("-").isdigit() for n in named):  # class indices (ClassLabel, a 0/1 column)
        return "; they are numbers: map them to names with lookup(<field>, [<name>, …])"
    normal = {unicodedata.normalize("NFC", n) for n in named}
    if any(m not in named and unicodedata.normalize("NFC", m) in normal for m in missing):
        return "; they are there " + NORMAL_FORM_NOTE
    return ""


def empty_problem(entry: TaskEntry, variant: Variant, state: AnswerState, output: str,
                  stated: Sequence[PreferenceRule]) -> Problem | None:
    """An empty answer whose rendering the instruction (its ``stated`` rules) does not promise."""
    if state.table.rows or state.empty is not None:
        return None
    declared = declared_empty(stated)
    if declared is not None:
        if output.strip() == declared.strip():
            return None
        return Problem("empty_answer", f"no answer: the instruction promises {declared!r}, the {variant.id} output "
                                       f"would be {output!r}")
    if answers_nothing_itself(entry, variant):
        return None
    if entry.task.answer_always:
        return Problem("empty_answer", f"no answer: every record of task '{entry.task.id}' has one (a label, an "
                                       "option, a response) and no stated rule says how to answer nothing")
    return Problem("empty_answer", f"no answer: the {variant.id} format asks for a value, the output would be "
                                   f"{output!r}")


def answers_nothing_itself(entry: TaskEntry, variant: Variant) -> bool:
    """The format writes "no answer" its own way (`[]`, "There is no answer."), as its sentence says: not for a task
    whose every record has an answer (`answer: {always: true}`), whose sentence does not say it."""
    return not entry.task.answer_always and formats.empty_is_expressible(variant.spec.codec, entry.task.cardinality)


def _span_source(entry: TaskEntry) -> str | None:
    """The input the entry's (non-label) answer spans are copied from, if any."""
    return next((src for col, src in entry.task.spans_from if col != entry.task.schema_column), None)


def _format_context(column: str | None, source: str | None, record: Mapping[str, Any],
                    labels: tuple[str, ...], every_mention: bool = False) -> formats.FormatContext:
    """What answer formats need of a record besides its answer: the labels shown, the label column, the
    input the (non-label) answer spans are copied from (``source``: ``_span_source``), and whether the answer lists
    each (label, span) once (``_Prepared.every_mention``)."""
    text = record.get(source) if source is not None else None
    return formats.FormatContext(labels, column, text if isinstance(text, str) else None, every_mention)


def _render_variants(prepared: _Prepared, decks: MixDecks | None, record: Mapping[str, Any], state: AnswerState,
                     text: str, stated: list[str], out: Rendered) -> None:
    """The record's instructions, into ``out``: each (template, format) pair and schema batch is an instruction
    record, or a problem that drops it (a format that cannot write the answer, an empty answer it cannot say);
    every template rendered is noted."""
    entry, batched = prepared.entry, prepared.batched
    source, row = record["_source"], record["_row"]
    where = parts_json(source, row)  # the record's parts of its hashes
    combos = seeded_random(prepared.variants_key.of_json(where)).sample(prepared.pairs, prepared.pair_count)
    every_mention = prepared.every_mention(stated)
    for k, (chosen_template, chosen_variant) in enumerate(combos):
        rng = seeded_random(prepared.rng_key.of_json(f"{where}, {k}"))
        for b, shown in enumerate(prepared.schema_batches(state.table, rng, record)):
            table = with_missing(entry, batch_table(entry, state.table, shown) if batched else state.table, shown)
            key = f"{where}, {k}, {b}"
            part = prepared.draw(key, chosen_template, chosen_variant, decks)
            if not table.rows:
                part = prepared.answering_nothing(part)
            info = prepared.info(part)
            template = part.template
            out.templates.add(f"{template.task}/{template.id}")  # a string of its own, as before (stored bytes)
            # an `empty_as` rendering is what a stated rule promises; unstated, the format's own empty
            empty = state.empty if not table.rows and info.promised is not None else None
            variables = info.variables(record, shown)
            instruction = info.render(variables, (values_key(shown), values_key(variables["option_labels"])))
            context = _format_context(prepared.label_column, prepared.span_source, record, shown, every_mention)
            variant = part.variant
            try:
                output = formats.render(variant.spec, table, empty=empty, seed=rng.randrange(1 << 30),
                                        language=entry.text_language, context=context)
            except formats.NotExpressible as exc:  # this format cannot write this answer (e.g. overlapping tags)
                out.problems.append(Problem("not_expressible", f"{variant.id}: {exc.message}"))
                continue
            rule_ids = info.rule_ids
            rendered = {
                "id": f"{prepared.id_key.of_json(key if batched else f'{where}, {k}'):016x}",
                "task": entry.task.id, "task_entry": entry.id, "family": entry.task.family, "language": entry.language,
                "instruction": instruction, "output": output,
                "gold": gold_json(table),  # each record its own strings, as before: the stored chunks keep their bytes
                "answer_format": variant.id, "template": f"{template.task}/{template.id}",
                "labels": list(shown), "guidelines": list(info.guideline_ids),
                "rules": list(rule_ids), "source": source, "source_row": int(row),
                "_empty": empty, "_line": record.get("_line"), "_kind": part.kind, "_span_text": context.text,
                "_text": text, "_rules": [r for r in stated if r in rule_ids],
            }
            if every_mention:  # the check reads the output back as inline tags were written
                rendered["_every_mention"] = True
            problem = None if table.rows or empty is not None else \
                empty_problem(entry, variant, AnswerState(table, empty), output, part.rules)
            if problem is None:
                out.records.append(rendered)
            else:
                out.problems.append(problem)


def retexted(ctx: RenderContext, record: Mapping[str, Any], given: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """``render_checked(ctx, record).records`` from ``given``: the instructions a render of ``record`` gave, all kept,
    under an entry that differed from ``ctx``'s in its templates' and guidelines' texts alone (the default `mix:`).

    Everything but an instruction's text is a function of what did not change — the draws, the
    gold and the answer, the labels shown — so only the texts are rendered again, each from its template, format
    and labels shown, exactly as ``_render_variants`` renders them. None when an instruction names a template or
    format the entry does not have (render the record whole)."""
    prepared = _prepared(ctx)
    parts = prepared.named_parts()
    out = []
    for earlier in given:
        part = parts.get((earlier["template"], earlier["answer_format"]))
        if part is None:
            return None
        info = prepared.info(part)  # it states every rule: an empty answer needs no other (``answering_nothing``)
        shown = tuple(earlier["labels"])
        variables = info.variables(record, shown)
        instruction = info.render(variables, (values_key(shown), values_key(variables["option_labels"])))
        out.append({**earlier, "instruction": instruction})
    return out


def gold_json(table: AnswerTable) -> str:
    """``json.dumps(table.as_dicts(), ensure_ascii=False)``, written directly when every column name and value is
    a string and the names are distinct (always, for a gold table): ``[{"type": "LOC", "span": "Paris"}, …]``."""
    fields = table.fields
    if len(set(fields)) != len(fields) or not all(type(f) is str for f in fields):
        return _GOLD_JSON.encode(table.as_dicts())
    keys = [_JSON_STR(f) + ": " for f in fields]
    items = []
    for row in table.rows:
        if len(row) != len(keys) or not all(type(v) is str for v in row):
            return _GOLD_JSON.encode(table.as_dicts())
        items.append("{" + ", ".join([key + _JSON_STR(v) for key, v in zip(keys, row, strict=True)]) + "}")
    return "[" + ", ".join(items) + "]"


@dataclass(frozen=True)
class Part:
    """What one instruction shows: basic or compound, its template, format, guidelines and rules (``ir.Mix``)."""

    kind: str                       # basic | compound
    template: Template
    variant: Variant
    guidelines: tuple[Guideline, ...]
    rules: tuple[PreferenceRule, ...]

    def saying_how_to_answer_nothing(self, entry: TaskEntry, table: AnswerTable) -> Part:
        """An empty answer its format cannot write needs the rule that says how to answer nothing (``empty_as``,
        e.g. "unanswerable"): a part that left it out (basic, or rules not drawn) states it, and only it, extra."""
        if table.rows or declared_empty(self.rules) is not None or answers_nothing_itself(entry, self.variant):
            return self
        needed = tuple(r for r in rules_under(entry.rules, self.variant) if any(op.name == "empty_as" for op in r.then))
        return replace(self, rules=self.rules + tuple(r for r in needed if r not in self.rules))

    @staticmethod
    def draw(entry: TaskEntry, key: tuple[Any, ...], template: Template, variant: Variant,
             decks: MixDecks | None = None) -> Part:
        """From the chunk's stratified ``decks`` when given, else a seeded coin per instruction (``key``); the
        default mix draws nothing (every part shown, as before `mix:`)."""
        if entry.mix.is_default:
            return Part("compound", template, variant, entry.guidelines, rules_under(entry.rules, variant))
        compound, show_g, show_r, keep_f = _mix_draws(entry.mix, lambda: stable_hash("mix", entry.seed, entry.id, *key),
                                                      decks)
        if not compound:
            return Part("basic", entry.templates[0], entry.variants[0], (), ())
        kept = variant if keep_f else entry.variants[0]
        return Part("compound", template, kept, entry.guidelines if show_g else (),
                    rules_under(entry.rules, kept) if show_r else ())


def rules_under(rules: tuple[PreferenceRule, ...], variant: Variant) -> tuple[PreferenceRule, ...]:
    """The rules an instruction answered in this format states: those that apply under its codec (a rule's
    `codecs:`, ``PreferenceRule.applies_under``); once per part, not per instruction."""
    codec = variant.spec.codec
    return rules if all(r.applies_under(codec) for r in rules) else tuple(r for r in rules if r.applies_under(codec))


def _mix_draws(mix: Mix, seed: Callable[[], int], decks: MixDecks | None) -> tuple[bool, bool, bool, bool]:
    """(compound, show the guidelines, state the rules, keep the chosen format) of one instruction: from ``decks``
    when given, else from coins seeded by ``seed()``; a basic instruction draws only the first."""
    if decks is None:
        rng = random.Random(seed())

        def coin(p: float) -> Callable[[], bool]:
            return lambda: rng.random() < p

        draws = tuple(coin(p) for p in (mix.compound, mix.guidelines, mix.rules, mix.formats))
    else:
        draws = (decks.compound.draw, decks.guidelines.draw, decks.rules.draw, decks.formats.draw)
    if not draws[0]():
        return False, False, False, False
    show_g, show_r, keep_f = draws[1](), draws[2](), draws[3]()
    return True, show_g, show_r, keep_f


def _choose_variants(entry: TaskEntry, record: Mapping[str, Any]) -> list[tuple[Template, Variant]]:
    """k distinct (template, format) pairs for this record, chosen deterministically."""
    pairs = [(t, v) for t in entry.templates for v in entry.variants]
    rng = random.Random(stable_hash("variants", entry.seed, entry.id, record["_source"], record["_row"]))
    return rng.sample(pairs, min(entry.variants_per_record, len(pairs)))


def schema_batches(ctx: RenderContext, table: AnswerTable, rng: random.Random,
                   record: Mapping[str, Any] | None = None) -> list[tuple[str, ...]]:
    """The schemas one text's instructions show (IEPile/Hum schema construction).

    Candidates: the gold labels, their confusable labels (`hard_negatives`), and `negatives` random
    other labels (every label when unset). Without `split_num` they form one schema; with it they are
    packed into batches of at most `split_num` labels, a label and its confusable labels in one batch.
    A record's `schema_labels` field (a list), when mapped, limits its negatives to those labels (EEA: the
    roles of its event type). A task without a label schema shows none (one instruction)."""
    return _prepared(ctx).schema_batches(table, rng, record)


class _Prepared:
    """What every record rendered in one context shares (its entry, label set and recipe name), worked out once
    instead of per instruction: the seeded hashes' constant leading parts, the (template, format) pairs, the
    label set and its order, the parts an instruction can show and what each renders (``_PartInfo``).

    Everything here is a cache of values the per-record code computed before: the records are the same."""

    def __init__(self, ctx: RenderContext) -> None:
        entry = self.entry = ctx.entry
        self.variants_key = HashPrefix("variants", entry.seed, entry.id)  # _choose_variants' rng
        self.rng_key = HashPrefix(entry.seed, entry.id)                   # one rng per (record, pair)
        self.id_key = HashPrefix(ctx.recipe, entry.id)                    # the instruction's id
        self.mix_key = HashPrefix("mix", entry.seed, entry.id)            # Part.draw's coins
        self.pairs = [(t, v) for t in entry.templates for v in entry.variants]
        self.pair_count = min(entry.variants_per_record, len(self.pairs))
        schema = self.schema = entry.schema
        self.batched = schema is not None and schema.split_num is not None
        self.default_mix = entry.mix.is_default
        self.label_column = entry.task.schema_column
        self.span_source = _span_source(entry)
        # the rules that list each answer once, when a format tags spans in the text (inline_tags: ``every_mention``)
        self.dedupe_rules = frozenset(r.id for r in entry.rules if any(op.name == "dedupe" for op in r.then)) \
            if any(formats.CODECS[v.spec.codec].needs_spans for v in entry.variants) else frozenset()
        collected = schema is None or schema.labels is None
        self.labels, self.aliases = one_per_normal_form(ctx.labels) if collected else (ctx.labels, {})
        self.label_set = frozenset(self.labels or ())
        self.confusable = dict(schema.hard_negatives) if schema is not None else {}
        self.order = "random" if schema is None else schema.order
        self.rank = {label: i for i, label in enumerate(self.labels or ())}
        # a label holding the separator a template joins the labels shown with (", ") is quoted there
        self.label_list: type[list[str]] = QuotedItems if _separator_held(entry.templates, self.labels) else list
        self.parts: dict[tuple[Any, ...], Part] = {}
        self.nothing: dict[int, tuple[Part, Part]] = {}  # id(part) -> (part, the part saying how to answer nothing)
        self.infos: dict[int, _PartInfo] = {}    # id(part) -> what it renders
        self.named: dict[tuple[str, str], Part] | None = None  # ``named_parts``
        # event type -> its roles (ee): the recipe's `schema: {roles}` for a type it lists, else those in the gold
        self.role_map = {**dict(ctx.roles), **dict(entry.event_roles)} if entry.task.labels_have_roles else {}
        self.shown_roles: dict[tuple[str, ...], dict[str, list[str]]] = {}  # ``roles``

    def every_mention(self, applied: list[str]) -> bool:
        """Whether a record's answer lists each (label, span) once (a `dedupe` rule among the rules ``applied`` to
        it) and a format tags spans in the text: inline tags then tag every mention (``FormatContext``)."""
        return bool(self.dedupe_rules) and not self.dedupe_rules.isdisjoint(applied)

    def restricted(self, table: AnswerTable) -> AnswerTable:
        """``restrict_to_labels(entry, table, labels)``: the table itself when no row is outside the labels."""
        column, entry = self.label_column, self.entry
        if column is None or self.labels is None:
            return table
        if entry.schema is None or entry.schema.labels is None:  # collected: a label in another normal form is read as
            return _aliased(table, column, self.aliases) if self.aliases else table  # the one offered
        i, allowed = table.fields.index(column), self.label_set
        if all(r[i] in allowed for r in table.rows):
            return table
        return table.with_rows(r for r in table.rows if r[i] in allowed)

    def schema_batches(self, table: AnswerTable, rng: random.Random,
                       record: Mapping[str, Any] | None) -> list[tuple[str, ...]]:
        column, labels = self.label_column, self.labels
        if column is None or labels is None:
            return [()]
        i = table.fields.index(column)
        positives = list(dict.fromkeys([r[i] for r in table.rows]))
        own = record.get("schema_labels") if record is not None else None
        allowed = self.label_set & set(own) if isinstance(own, list) else self.label_set
        confusable = self.confusable
        hard = list(dict.fromkeys(h for p in positives for h in confusable.get(p, ())
                                  if h in allowed and h not in positives)) if confusable else []
        taken = {*positives, *hard}
        others = [label for label in labels if label in allowed and label not in taken]
        schema = self.schema
        if schema is not None and schema.negatives is not None:
            others = rng.sample(others, min(schema.negatives, len(others)))
        shown = positives + hard + others
        if schema is None or schema.split_num is None:
            return [self.ordered(shown, rng)]
        return [self.ordered(batch, rng) for batch in _packed(shown, confusable, schema.split_num, rng, schema.order)]

    def ordered(self, labels: list[str], rng: random.Random) -> tuple[str, ...]:
        """One schema in the entry's `order`: random (seeded), alphabetical, or as declared in `labels:`."""
        shown = list(labels)
        if self.order == "random":
            rng.shuffle(shown)
        elif self.order == "alphabetical":
            shown.sort()
        else:
            rank = self.rank
            shown.sort(key=lambda label: rank.get(label, len(rank)))
        return tuple(shown)

    def draw(self, key: str, template: Template, variant: Variant, decks: MixDecks | None) -> Part:
        """``Part.draw`` (``key``: the JSON of its key parts, see ``parts_json``), each distinct part one object."""
        if self.default_mix:
            return self.part("compound", template, variant, True, True)
        entry = self.entry
        compound, show_g, show_r, keep_f = _mix_draws(entry.mix, lambda: self.mix_key.of_json(key), decks)
        if not compound:
            return self.part("basic", entry.templates[0], entry.variants[0], False, False)
        return self.part("compound", template, variant if keep_f else entry.variants[0], show_g, show_r)

    def part(self, kind: str, template: Template, variant: Variant, guidelines: bool, rules: bool) -> Part:
        key = (kind, id(template), id(variant), guidelines, rules)
        part = self.parts.get(key)
        if part is None:
            entry = self.entry
            part = self.parts[key] = Part(kind, template, variant, entry.guidelines if guidelines else (),
                                          rules_under(entry.rules, variant) if rules else ())
        return part

    def named_parts(self) -> dict[tuple[str, str], Part]:
        """(template name, format id) -> the part ``draw`` gives for that pair under the default `mix:` (a name or
        id two templates or formats share names none)."""
        if self.named is None:
            names = [f"{t.task}/{t.id}" for t in self.entry.templates]
            ids = [v.id for v in self.entry.variants]
            self.named = {(f"{t.task}/{t.id}", v.id): self.part("compound", t, v, True, True) for t, v in self.pairs
                          if names.count(f"{t.task}/{t.id}") == 1 and ids.count(v.id) == 1}
        return self.named

    def answering_nothing(self, part: Part) -> Part:
        """``part.saying_how_to_answer_nothing`` for an empty table."""
        hit = self.nothing.get(id(part))
        if hit is None or hit[0] is not part:
            hit = self.nothing[id(part)] = (part, part.saying_how_to_answer_nothing(self.entry,
                                                                                   AnswerTable(self.entry.task.columns)))
        return hit[1]

    def info(self, part: Part) -> _PartInfo:
        info = self.infos.get(id(part))
        if info is None or info.part is not part:  # the info keeps its part, so the id stays that part's
            info = self.infos[id(part)] = _PartInfo(self.entry, part, self.label_list, self.roles)
        return info

    def roles(self, shown: tuple[str, ...]) -> dict[str, list[str]]:
        """The `roles` template variable: each shown event type that has roles -> them, in the order shown (once per
        schema shown; empty when the task's labels are not event types). A role holding the separator a template
        joins them with is quoted there (``QuotedItems``), as a label is."""
        role_map = self.role_map
        if not role_map:
            return {}
        roles = self.shown_roles.get(shown)
        if roles is None:
            if len(self.shown_roles) >= 1024:
                self.shown_roles.clear()
            roles = self.shown_roles[shown] = {t: QuotedItems(role_map[t]) for t in shown if role_map.get(t)}
        return roles


_LABELS_JOINED = re.compile(r"""\blabels\s*\|\s*join\(\s*(?:d\s*=\s*)?(['"])(.*?)\1""")  # {{ labels | join(', ') }}


def _separator_held(templates: Sequence[Template], labels: tuple[str, ...] | None) -> bool:
    """Whether a label holds a separator one of the templates joins the labels shown with (once per label set)."""
    if not labels:
        return False
    separators = {m.group(2) for t in templates for m in _LABELS_JOINED.finditer(t.text)} - {""}
    return any(sep in label for sep in separators for label in labels)


def one_per_normal_form(labels: tuple[str, ...] | None) -> tuple[tuple[str, ...] | None, dict[str, str]]:
    """Collected labels with those that differ only in Unicode normal form offered once, in NFC, and each other form
    -> its NFC form (gold labels so written are read as the one offered). Labels in one form each stay as they are."""
    if labels is None or all(label.isascii() for label in labels):
        return labels, {}
    nfc = {label: unicodedata.normalize("NFC", label) for label in labels}
    forms = Counter(nfc.values())
    aliases = {label: form for label, form in nfc.items() if forms[form] > 1 and label != form}
    return tuple(dict.fromkeys(aliases.get(label, label) for label in labels)), aliases


def _aliased(table: AnswerTable, column: str, aliases: Mapping[str, str]) -> AnswerTable:
    i = table.fields.index(column)
    if not any(r[i] in aliases for r in table.rows):
        return table
    return table.with_rows(tuple(aliases.get(v, v) if k == i else v for k, v in enumerate(r)) for r in table.rows)


def values_key(values: Sequence[Any]) -> tuple[Any, ...] | str:
    """A key that tells apart what a template would print differently: the values themselves when all are strings,
    else their ``repr`` (``1``, ``1.0`` and ``True`` are equal keys in a dict but print differently)."""
    return tuple(values) if all(type(v) is str for v in values) else repr(values)


class _PartInfo:
    """What every instruction showing one ``Part`` shares: its names and ids, the texts of its guidelines and
    rules, the format sentence, the label definitions per schema shown, and its compiled template."""

    def __init__(self, entry: TaskEntry, part: Part, label_list: type[list[str]] = list,
                 roles: Callable[[tuple[str, ...]], dict[str, list[str]]] = lambda shown: {}) -> None:
        self.entry, self.part, self.label_list, self.roles = entry, part, label_list, roles
        template = part.template
        self.template_name = f"{template.task}/{template.id}"
        # the record's inputs are the template's holes: what else it shows is named by (schema shown, option labels)
        self.render = TemplateRenderer(template.text, self.template_name, template.origin, holes=entry.task.inputs)
        self.promised = declared_empty(part.rules)
        self.guideline_ids = tuple(g.id for g in part.guidelines)
        self.rule_ids = tuple(r.id for r in part.rules)
        self.guidelines = tuple(g.text for g in part.guidelines if g.text)
        self.rules = tuple(entry.localized(r.text) for r in part.rules if r.text)
        self.inputs, self.columns = entry.task.inputs, entry.task.columns
        self.format_instruction: str | None = None  # rendered at the first instruction (where an error shows)
        self.definitions: dict[tuple[str, ...], dict[str, str]] = {}

    def variables(self, record: Mapping[str, Any], shown: tuple[str, ...]) -> dict[str, Any]:
        """The variables of the part's template for one record and the schema it shows."""
        entry = self.entry
        variables: dict[str, Any] = {name: record.get(name) for name in self.inputs}
        definitions = self.definitions.get(shown)
        if definitions is None:
            if len(self.definitions) >= 1024:
                self.definitions.clear()
            definitions = self.definitions[shown] = label_definitions(self.part.guidelines, shown, entry.text_language)
        if self.format_instruction is None:
            variant = self.part.variant
            said = self._rule_says_how_to_answer_nothing()  # the format sentence need not say it again
            nested = formats.nested_keys(variant.spec, entry.task.columns, entry.task.schema_column)
            self.format_instruction = _format_instruction(
                *_variant_text(variant, entry.text_languages), tuple(formats.shown_keys(variant.spec, entry.task.columns)),
                entry.task.cardinality, None if said else self.promised, variant.id,
                not (entry.task.answer_always or said), tuple((k, tuple(v)) for k, v in nested.items()),
                entry.task.schema_missing)
        variables["labels"] = self.label_list(shown)  # in this order (an input of the same name keeps its place)
        variables["label_definitions"] = dict(definitions)
        variables["roles"] = dict(self.roles(shown))
        variables["guidelines"] = list(self.guidelines)
        variables["rules"] = list(self.rules)
        variables["columns"] = list(self.columns)
        variables["option_labels"] = option_labels(record)
        variables["format_instruction"] = self.format_instruction
        return variables

    def _rule_says_how_to_answer_nothing(self) -> bool:
        """The rule whose `empty_as` the answer follows (the last) has a sentence, and the template shows the rules."""
        last = next((r for r in reversed(self.part.rules) if any(op.name == "empty_as" for op in r.then)), None)
        return last is not None and bool(self.entry.localized(last.text)) and \
            "rules" in template_variables(self.part.template.text)


_PREPARED: dict[tuple[int, tuple[str, ...] | None, str, EventRoles], tuple[TaskEntry, _Prepared]] = {}


def _prepared(ctx: RenderContext) -> _Prepared:
    """The context's ``_Prepared``, made once per (entry, label set, recipe name, roles) a process renders (the entry is
    kept with it, so its id is not reused while it is remembered)."""
    key = (id(ctx.entry), None if ctx.labels is None else tuple(ctx.labels), ctx.recipe, ctx.roles)
    hit = _PREPARED.get(key)
    if hit is not None and hit[0] is ctx.entry:
        return hit[1]
    if len(_PREPARED) >= 16:
        _PREPARED.clear()
    prepared = _Prepared(ctx)
    _PREPARED[key] = (ctx.entry, prepared)
    return prepared


def _packed(labels: list[str], confusable: Mapping[str, Sequence[str]], k: int, rng: random.Random,
            order: str) -> list[list[str]]:
    """Groups (labels linked by the confusable relation, either way, among ``labels``) packed first-fit into
    batches of <= k labels; a group larger than k is cut into pieces of k."""
    linked: dict[str, set[str]] = {label: set() for label in labels}
    for label, others in confusable.items():
        for other in others:
            if label in linked and other in linked and other != label:
                linked[label].add(other)
                linked[other].add(label)
    placed: set[str] = set()
    groups: list[list[str]] = []
    for label in labels:
        if label in placed:
            continue
        group, todo = [], [label]
        placed.add(label)
        while todo:
            current = todo.pop(0)
            group.append(current)
            for other in sorted(linked[current], key=labels.index):
                if other not in placed:
                    placed.add(other)
                    todo.append(other)
        groups.extend(group[i:i + k] for i in range(0, len(group), k))
    if order == "random":
        rng.shuffle(groups)
    batches: list[list[str]] = []
    for group in sorted(groups, key=len, reverse=True):  # stable: equal sizes keep their (shuffled) order
        home = next((b for b in batches if len(b) + len(group) <= k), None)
        if home is None:
            batches.append(list(group))
        else:
            home.extend(group)
    return batches


def with_missing(entry: TaskEntry, table: AnswerTable, shown: Sequence[str]) -> AnswerTable:
    """A task with `schema: {missing: NAN}` (EEA): one row per shown label without gold, its other columns NAN;
    the rows follow the order of the labels shown."""
    missing, column = entry.task.schema_missing, entry.task.schema_column
    if missing is None or column is None:
        return table
    i = table.fields.index(column)
    have = {row[i] for row in table.rows}
    rows: list[tuple[str, ...]] = [tuple(r) for r in table.rows]
    rows += [tuple(label if j == i else missing for j in range(len(table.fields))) for label in shown if label not in have]
    rank = {label: k for k, label in enumerate(shown)}
    ordered = sorted(rows, key=lambda row: rank.get(row[i], len(rank)))  # the order of the labels shown
    return table.with_rows(ordered)


def batch_table(entry: TaskEntry, table: AnswerTable, shown: Sequence[str]) -> AnswerTable:
    """The gold rows whose schema label is in this instruction's batch."""
    column = entry.task.schema_column
    if column is None:
        return table
    i, allowed = table.fields.index(column), set(shown)
    return table.with_rows(r for r in table.rows if r[i] in allowed)


EXAMPLE_WORDS = {"en": ("Examples: ", "Not: ", ", ", ".", "\"{}\"", " ({})"),
                 "zh": ("例如：", "不包括：", "、", "。", "“{}”", "（{}）")}
"""How a label's examples are said, per language: (positives, negatives, separator, full stop, quote, what it is)."""


def describe_label(definition: str, examples: LabelExamples, language: str) -> str:
    """A label's explanation as instructions show it (Hum's guidelines: a definition plus positive and negative
    examples): 'names of people. Examples: "Clinton", "Mrs. Smith". Not: "Clinton Foundation" (ORG).'"""
    pos, neg, sep, stop, quote, instead = EXAMPLE_WORDS.get(language, EXAMPLE_WORDS["en"])
    parts = [definition.strip()] if definition.strip() else []
    if parts and examples and not parts[0].endswith((".", "!", "?", "。", "！", "？")):
        parts[0] += stop
    if examples.positive:
        parts.append(pos + sep.join(quote.format(t) for t in examples.positive) + stop)
    if examples.negative:
        parts.append(neg + sep.join(quote.format(t) + (instead.format(what) if what else "")
                                    for t, what in examples.negative) + stop)
    return ("" if language == "zh" else " ").join(parts)


def label_definitions(guidelines: Sequence[Guideline], labels: Sequence[str], language: str) -> dict[str, str]:
    """label -> its explanation for the labels shown: the last guideline's definition, with the examples of every
    guideline (human-written first, then accepted lockfile examples), each example once."""
    return dict(_label_definitions(tuple(guidelines), tuple(labels), language))


@functools.lru_cache(maxsize=4096)
def _label_definitions(guidelines: tuple[Guideline, ...], labels: tuple[str, ...], language: str) -> dict[str, str]:
    """``label_definitions``, once per (guidelines, schema shown, language): the same for many instructions."""
    definitions = {label: text for g in guidelines for label, text in g.labels}
    positive: dict[str, dict[str, None]] = {}
    negative: dict[str, dict[tuple[str, str], None]] = {}
    for g in guidelines:
        for label, ex in g.examples:
            positive.setdefault(label, {}).update(dict.fromkeys(ex.positive))
            negative.setdefault(label, {}).update(dict.fromkeys(ex.negative))
    out, shown = {}, set(labels)
    for label in labels:  # a negative example names what it is only when that label is offered too
        ex = LabelExamples(tuple(positive.get(label, ())),
                           tuple((t, what if what in shown else "") for t, what in negative.get(label, ())))
        if label in definitions or ex:
            out[label] = describe_label(definitions.get(label, ""), ex, language)
    return out


def _variant_text(variant: Variant, languages: tuple[str, ...]) -> tuple[str, Span | None]:
    """The variant's instruction sentence in the first of ``languages`` it has (``TaskEntry.text_languages``: the
    task's tag, its primary language, English) and where it starts in its file."""
    chosen = next((lang for lang in languages if variant.text.get(lang)), "en")
    return variant.text.get(chosen, ""), dict(variant.origins).get(chosen)


@functools.lru_cache(maxsize=1024)
def _format_instruction(text: str, origin: Span | None, fields: tuple[str, ...], cardinality: str, empty: str | None,
                        variant_id: str, may_be_empty: bool = True,
                        nested: tuple[tuple[str, tuple[str, ...]], ...] = (), missing: str | None = None) -> str:
    """A variant's instruction sentence: the same for every record of an entry, so rendered once. ``empty``: how a
    stated rule says to answer nothing; ``may_be_empty``: the task's answer may be nothing (not a label task's);
    ``nested``: the list a `nest` modifier gathers (``formats.nested_keys``); ``missing``: the value a shown label
    the text does not fill is answered with (EEA's NAN), so a grouped answer never holds an empty list."""
    context = variant_context(fields, cardinality, empty, may_be_empty, {k: list(v) for k, v in nested}, missing)
    return render_template(text, context, f"variant {variant_id}", origin)


def variant_context(fields: Sequence[str], cardinality: str, empty: str | None, may_be_empty: bool,
                    nested: Mapping[str, Sequence[str]] | None = None, missing: str | None = None) -> dict[str, Any]:
    """The variables a format variant's sentence is rendered with (README.md, "Format variants")."""
    return {"fields": list(fields), "cardinality": cardinality, "empty": empty, "may_be_empty": may_be_empty,
            "nested": {k: list(v) for k, v in (nested or {}).items()}, "missing": missing}
