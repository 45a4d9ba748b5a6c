"""Eval stage, scoring: a built split plus one prediction per record -> per-record scores and their aggregates.

    load_split(folder, split)            data/<split>-*.parquet -> records (the columns the writer wrote)
    Resolver.for_recipe / for_stdlib     a record -> RecordSpec (answer columns, format codec, rules, metric)
    parse_prediction(spec, text, ctx)    strict parse, lenient parse (fences dropped), then other formats
    score_record(spec, record, text)     RecordScore: metric counts, format and rule adherence
    aggregate(scores)                    the metrics of a group of records

Decisions:

* A prediction is parsed with the record's own format codec (``humc.answers.formats``). *Format adherence*
  means the text parses as written (no code fence around it, the requested format, that codec's own
  tolerance: the natural-language codec reads quoted values in any sentence); a reply that parses only after its
  fence is dropped or only in another format (``fallback``) is still scored, and counted apart. A reply
  that parses in no format scores 0 and counts as predicting nothing in micro aggregates.
* *Rule adherence* (per preference rule the record's instruction states): the parsed prediction is a fixed
  point of the rule's operations, as the build's check step verifies gold answers
  (``build.checking.rule_problem``: apply the ops again, compare rows and the empty rendering). The
  dataset keeps the instruction, not the raw input, so positional operations look for values in the
  instruction; a rule is judged on a record only where the gold answer is itself a fixed point under that
  text and the rule's `when` holds for the gold (evaluated on the recipe constants and ``answer``). A rule that only
  says how to answer nothing (``empty_as``) is judged where the gold is empty: an answer with rows there disobeys it.
* Specs come from the recipe when eval is given one (its own rules and inline formats), else from the
  standard library by the ids the dataset records (``task``, ``answer_format``, ``rules``); an unknown rule
  id is reported, not guessed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from humc.answers import formats
from humc.answers.ops import AnswerState, apply_op
from humc.answers.table import AnswerTable, as_cardinality
from humc.build.transforms import declared_empty
from humc.dataset.export import REBUILD_HINT, read_shard, splits_of
from humc.errors import HumcError
from humc.eval import metrics
from humc.expr import Evaluator, Source, parse_pipeline
from humc.ir import PreferenceRule, Recipe, TaskDef, Variant
from humc.recipe.stdlib import Stdlib, load_stdlib, variant_from_pipeline

METRIC_OF_TASK = {"ner": "spans", "re": "spans", "ee": "spans", "openie": "spans", "mrc_extractive": "squad",
                  "mrc_multiple_choice": "choice", "classification": "label", "multilabel_classification": "labels",
                  "generalist": "text"}
GROUPS = ("task", "template", "format", "language")


# ------------------------------------------------------------------ records


def load_split(folder: Path, split: str) -> list[dict[str, Any]]:
    """The records of one split of a built dataset folder, in shard order (E6001 at a damaged shard). The split is a
    name, not a pattern: `--split '*'` read every split as one."""
    shards = splits_of(folder)
    if split not in shards:
        raise HumcError(f"{folder} has no '{split}' split", code="E6001",
                        expected=f"a dataset folder with data/<split>-*.parquet; splits: {', '.join(sorted(shards))}",
                        hint="pick one with --split")
    return [row for f in shards[split] for row in read_shard(f)]


# ------------------------------------------------------------------ specs


@dataclass(frozen=True)
class RecordSpec:
    """How to read and score the answers of one record."""

    task: str
    columns: tuple[str, ...]
    cardinality: str
    format: formats.FormatSpec
    empty: str | None
    rules: tuple[PreferenceRule, ...]
    metric: str
    schema_column: str | None = None


def metric_of(task: TaskDef) -> str:
    """The task's metric kind: by its id, else by its answer's shape. An answer that is one of the options shown is
    a choice, one label of a label set (NLI, yes/no) a label: right or wrong, never token F1 (which gave "not
    entailment" for "entailment" 67%, and "the" for the option "A" 100%: the SQuAD normalisation drops articles)."""
    if task.id in METRIC_OF_TASK:
        return METRIC_OF_TASK[task.id]
    if task.cardinality == "many":
        return "spans"
    if task.choice_of is not None:
        return "choice"
    return "label" if task.schema_column is not None else "text"


@dataclass
class Resolver:
    """Record -> RecordSpec, from a compiled recipe (per task entry) or from the standard library."""

    tasks: dict[str, TaskDef]
    variants: dict[str, Variant]
    rules: dict[str, PreferenceRule]
    entries: dict[str, tuple[dict[str, Variant], tuple[PreferenceRule, ...]]] = field(default_factory=dict)
    constants: Mapping[str, Any] = field(default_factory=dict)
    unknown_rules: set[str] = field(default_factory=set)
    _lib: Stdlib | None = None

    @classmethod
    def for_stdlib(cls, lib: Stdlib | None = None) -> Resolver:
        lib = lib or load_stdlib()
        return cls(dict(lib.tasks), dict(lib.variants), dict(lib.rules), _lib=lib)

    @classmethod
    def for_recipe(cls, recipe: Recipe, lib: Stdlib | None = None) -> Resolver:
        out = cls.for_stdlib(lib)
        out.constants = recipe.constants
        for entry in recipe.tasks:
            out.tasks[entry.task.id] = entry.task
            out.entries[entry.id] = ({v.id: v for v in entry.variants}, entry.rules)
        return out

    def resolve(self, record: Mapping[str, Any]) -> RecordSpec:
        task = self.tasks.get(str(record.get("task")))
        if task is None:
            raise HumcError(f"record {record.get('id')}: unknown task '{record.get('task')}'",
                            expected="one of: " + ", ".join(sorted(self.tasks)), code="E2003",
                            hint="evaluate the recipe that built the dataset (humc eval RECIPE) for its own tasks")
        variants, rules = self.entries.get(str(record.get("task_entry")), ({}, None))
        fmt = str(record.get("answer_format"))
        variant = variants.get(fmt) or self._variant(fmt)
        if rules is None:
            found = (self._rule(str(r)) for r in record.get("rules") or [])
            rules = tuple(rule for rule in found if rule is not None)
        return RecordSpec(task.id, task.columns, task.cardinality, variant.spec, declared_empty(rules), rules,
                          metric_of(task), task.schema_column)

    def _variant(self, fmt: str) -> Variant:
        if fmt in self.variants:
            return self.variants[fmt]
        try:
            variant = variant_from_pipeline(parse_pipeline(fmt, Source(fmt)), Source(fmt), self._lib or load_stdlib())
        except HumcError as exc:
            raise HumcError(f"unknown answer format '{fmt}' in the dataset", code="E2006", expected=exc.expected,
                            hint="evaluate the recipe that built the dataset (humc eval RECIPE)") from None
        self.variants[fmt] = variant
        return variant

    def _rule(self, rule_id: str) -> PreferenceRule | None:
        rule = self.rules.get(rule_id)
        if rule is None:
            self.unknown_rules.add(rule_id)
        return rule


# ------------------------------------------------------------------ parsing


@dataclass(frozen=True)
class Parsed:
    table: AnswerTable | None   # None: the text parses in no format
    strict: bool                # parses as written, in the requested format
    fallback: str | None = None  # the other codec it parsed in


def _try(spec: formats.FormatSpec, text: str, rs: RecordSpec, unfence: bool,
         context: formats.FormatContext) -> AnswerTable | None:
    try:
        return formats.parse(spec, text, rs.columns, rs.cardinality, empty=rs.empty, unfence=unfence, context=context)
    except HumcError:
        return None


def record_context(rs: RecordSpec, record: Mapping[str, Any]) -> formats.FormatContext:
    """What the record's format needs besides its answer: the labels its instruction shows (grouped_json's keys),
    the task's label column (grouped_json's keys, inline_tags' tag names), and whether its answer lists each
    (label, span) once (a `dedupe` rule: inline tags mark every mention and read back as the distinct rows)."""
    once = any(op.name == "dedupe" for rule in rs.rules for op in rule.then) or \
        (rs.format.codec == "inline_tags" and _more_tags_than_rows(record))
    return formats.FormatContext(tuple(str(label) for label in record.get("labels") or ()), rs.schema_column,
                                 every_mention=once)


def _more_tags_than_rows(record: Mapping[str, Any]) -> bool:
    """Whether the record's own inline-tagged output holds more tags than its gold has rows: the build listed each
    (label, span) once and tagged every mention, under a `dedupe` rule the instruction need not state (a basic one
    states none). The text between tags writes < as &lt;, so each "</" closes a tag."""
    try:
        rows = json.loads(record.get("gold") or "[]")
    except (TypeError, ValueError, RecursionError):
        return False
    return isinstance(rows, list) and str(record.get("output") or "").count("</") > len(rows)


def parse_prediction(rs: RecordSpec, text: str | None, context: formats.FormatContext = formats.NO_CONTEXT) -> Parsed:
    """Strict (as written: no code fence, the requested format), then lenient (fence dropped), then each
    other codec in turn (YAML, which reads any bare string as a scalar, last). ``context``: ``record_context``,
    without which grouped_json and inline_tags read nothing; it is not given to the other codecs, or inline_tags
    would read any text without tags as an empty answer."""
    if text is None:
        return Parsed(None, False)
    table = None if text.strip().startswith("```") else _try(rs.format, text, rs, False, context)
    if table is not None:
        return Parsed(table, True)
    table = _try(rs.format, text, rs, True, context)
    if table is not None:
        return Parsed(table, False)
    others = sorted((c for c in formats.codec_names() if c != rs.format.codec),
                    key=lambda c: (c == "yaml", formats.is_single_column(c)))
    for codec in others:
        if formats.is_single_column(codec) and len(rs.columns) != 1:
            continue
        table = _try(formats.FormatSpec(codec), text, rs, True, formats.NO_CONTEXT)  # no label-keyed fallback
        if table is not None:
            return Parsed(table, False, codec)
    return Parsed(None, False)


# ------------------------------------------------------------------ one record


@dataclass
class RecordScore:
    id: str
    task: str
    template: str
    format: str
    language: str
    metric: str
    score: float                     # the record's primary score (0..1)
    parsed: bool
    strict: bool
    fallback: str | None
    missing: bool                    # no prediction at all
    counts: dict[str, float]
    gold_labels: list[str]
    pred_labels: list[str]
    rules: dict[str, bool]           # rule id -> adheres (only rules that apply to the record)
    prediction: str | None


def gold_of(rs: RecordSpec, record: Mapping[str, Any]) -> AnswerTable:
    """The record's gold answer; E6001 when its `gold` column is no JSON list of rows (a shard edited by hand)."""
    try:
        gold = json.loads(record["gold"])
    except (TypeError, ValueError, RecursionError):
        gold = None
    if not isinstance(gold, list) or not all(isinstance(d, dict) for d in gold):
        raise HumcError(f"record {record.get('id')}: its `gold` column is no JSON list of answer rows", code="E6001",
                        expected="the gold answer humc build writes: a JSON list of objects, one per answer row",
                        hint=REBUILD_HINT)
    rows = [[str(d.get(c, "")) for c in rs.columns] for d in gold]
    return AnswerTable.of(rs.columns, rows, as_cardinality(rs.cardinality))


def score_record(rs: RecordSpec, record: Mapping[str, Any], prediction: str | None,
                 constants: Mapping[str, Any] | None = None) -> RecordScore:
    gold = gold_of(rs, record)
    context = record_context(rs, record)
    parsed = parse_prediction(rs, prediction, context)
    # a blank row is no answer (the bare-text codec reads a blank line between labels as one): not a wrong label
    rows = [row for row in parsed.table.rows if any(v.strip() for v in row)] if parsed.table is not None else []
    counts, score, gl, pl = _metric(rs, list(gold.rows), rows, parsed.table is not None)
    rules = rule_adherence(rs, record, gold, parsed, prediction, constants or {}, context)
    return RecordScore(str(record["id"]), rs.task, str(record.get("template")), str(record.get("answer_format")),
                       str(record.get("language")), rs.metric, score, parsed.table is not None, parsed.strict,
                       parsed.fallback, prediction is None, counts, gl, pl, rules, prediction)


def _label(value: str) -> str:
    """A label as compared: case-insensitive, without surrounding spaces or a final full stop."""
    return value.strip().rstrip(".").strip().casefold()


def _metric(rs: RecordSpec, gold: list[tuple[str, ...]], pred: list[tuple[str, ...]], parsed: bool
            ) -> tuple[dict[str, float], float, list[str], list[str]]:
    kind = rs.metric
    if kind == "spans":
        tp, ptp = metrics.exact_matches(gold, pred), metrics.partial_matches(gold, pred)
        counts: dict[str, float] = {"tp": tp, "partial_tp": ptp, "n_pred": len(pred), "n_gold": len(gold)}
        return counts, metrics.prf(tp, len(pred), len(gold)).f1 if parsed else 0.0, [], []
    if kind in ("squad", "text"):
        golds = ["\n".join(r) for r in gold]
        em, f1 = metrics.best_over_golds(golds, "\n".join(pred[0]) if pred else "") if parsed else (0.0, 0.0)
        return {"em": em, "f1": f1}, f1, [], []
    col = rs.columns.index(rs.schema_column) if rs.schema_column in rs.columns else 0
    gl = sorted({_label(r[col]) for r in gold})
    pl = sorted({_label(r[col]) for r in (pred[:1] if rs.cardinality == "one" else pred)})
    if kind in ("choice", "label"):
        correct = float(parsed and gl == pl)
        return {"correct": correct}, correct, gl, pl
    f1 = metrics.prf(len(set(gl) & set(pl)), len(pl), len(gl)).f1 if parsed else 0.0
    return {"f1": f1}, f1, gl, pl


# ------------------------------------------------------------------ rules


def _fixed_point(rule: PreferenceRule, state: AnswerState, text: str, spec: formats.FormatSpec,
                 context: formats.FormatContext) -> bool | None:
    """Whether the rule leaves the answer as it is, in the row order its format writes (grouped_json keeps
    an ordering rule within each label's list: its rows cannot be in text order across labels)."""
    try:
        again = _applied(rule, state, text)
        rows = formats.canonical(spec, again.table, context).rows == formats.canonical(spec, state.table, context).rows
        if not rows and spec.codec == "grouped_json" and context.label_column in state.table.fields \
                and all(op.name in ORDERING_OPS for op in rule.then):  # `first` of each list alone is no `first`
            rows = all(_applied(rule, AnswerState(part), text).table.rows == part.rows
                       for part in _by_label(state.table, context.label_column))
    except (KeyError, ValueError, IndexError, HumcError):
        return None
    return rows and (bool(state.table.rows) or again.empty == state.empty)


# what an operation does to each label's list alone as to the whole answer: reorder it, or drop or change rows by their
# own values (`first`, `shortest`, `longest` pick one row of the whole answer, not one per list)
ORDERING_OPS = frozenset({"sort_by_position", "group_by_position", "sort_by", "dedupe", "lowercase", "uppercase"})


def _applied(rule: PreferenceRule, state: AnswerState, text: str) -> AnswerState:
    """The answer as the rule's operations leave it."""
    for op in rule.then:
        state = apply_op(op.name, op.args, state, text)
    return state


def _by_label(table: AnswerTable, column: str) -> list[AnswerTable]:
    """The table's rows of each label, apart (in the order they come): a grouped answer's lists, each of which an
    ordering rule is judged on alone when the rows as a whole (in label order) are not left as they are. A list in
    reading order is (MSRA's LOC ["北京", "中国", "中国", "京"] of a text whose ORG "中国工程院" comes between them)."""
    i = table.fields.index(column)
    parts: dict[str, list[tuple[str, ...]]] = {}
    for row in table.rows:
        parts.setdefault(row[i], []).append(row)
    return [table.with_rows(rows) for rows in parts.values()]


def _when_holds(rule: PreferenceRule, gold: AnswerTable, constants: Mapping[str, Any]) -> bool:
    if rule.when is None:
        return True
    try:
        return bool(Evaluator(rule.when.src).eval(rule.when.ast, {**constants, "answer": gold.rows}))
    except HumcError:
        return True  # the condition reads record fields the dataset does not keep; the gold fixed point decides


def _says_how_to_answer_nothing(rule: PreferenceRule) -> bool:
    """Whether the rule only says how an empty answer is written (`empty_as`: "unanswerable", []). Any answer with rows
    is a fixed point of it, so it is judged where the gold answer is empty: there an answer with rows disobeys it
    (a model that never abstained was 100% adherent to `unanswerable`), and an empty one must be written its way."""
    return bool(rule.then) and all(op.name == "empty_as" for op in rule.then)


def _unfenced(text: str) -> str:
    t = text.strip()
    if t.startswith("```") and t.endswith("```") and "\n" in t:
        t = t[t.index("\n") + 1:-3]
    return t.strip()


def rule_adherence(rs: RecordSpec, record: Mapping[str, Any], gold: AnswerTable, parsed: Parsed,
                   prediction: str | None, constants: Mapping[str, Any],
                   context: formats.FormatContext = formats.NO_CONTEXT) -> dict[str, bool]:
    """Rule id -> whether the prediction is a fixed point, for the rules that apply to this record."""
    if parsed.table is None or prediction is None:
        return {}
    text = str(record.get("instruction", ""))
    out = str(record.get("output", "")).strip()
    gold_state = AnswerState(gold, out if not gold.rows and rs.empty is not None else None)
    pred_empty = _unfenced(prediction)
    pred_state = AnswerState(parsed.table, pred_empty if not parsed.table.rows else None)
    result = {}
    for rule in rs.rules:
        if not _when_holds(rule, gold, constants) or _fixed_point(rule, gold_state, text, rs.format, context) is not True:
            continue
        if _says_how_to_answer_nothing(rule):  # "if nothing matches, output []": said of the records with nothing
            if gold.rows:
                continue
            if parsed.table.rows:  # an answer where the rule asks for its text: a fixed point, yet not what it asks
                result[rule.id] = False
                continue
        ok = _fixed_point(rule, pred_state, text, rs.format, context)
        if ok is not None:
            result[rule.id] = ok
    return result


# ------------------------------------------------------------------ aggregates


def aggregate(scores: Sequence[RecordScore]) -> dict[str, Any]:
    """n, the mean primary score, parse / format adherence / fallback rates, and the task metrics when the
    records share one metric kind."""
    n = len(scores)
    out: dict[str, Any] = {
        "n": n, "score": metrics.mean([s.score for s in scores]),
        "parsed": metrics.mean([float(s.parsed) for s in scores]),
        "format_adherence": metrics.mean([float(s.strict) for s in scores]),
        "fallback": metrics.mean([float(s.fallback is not None) for s in scores]),
        "missing": sum(s.missing for s in scores),
    }
    kinds = {s.metric for s in scores}
    if len(kinds) == 1:
        out["metric"] = kind = next(iter(kinds))
        out.update(task_metrics(kind, scores))
    rules = rule_table(scores)
    if rules:
        out["rule_adherence"] = metrics.mean([r.n_ok / r.n for r in rules.values()])
    return out


def task_metrics(kind: str, scores: Sequence[RecordScore]) -> dict[str, float]:
    def total(key: str) -> float:
        return sum(s.counts.get(key, 0.0) for s in scores)

    if kind == "spans":
        exact = metrics.prf(total("tp"), total("n_pred"), total("n_gold"))
        partial = metrics.prf(total("partial_tp"), total("n_pred"), total("n_gold"))
        return {"precision": exact.precision, "recall": exact.recall, "f1": exact.f1, "partial_f1": partial.f1}
    if kind in ("squad", "text"):
        return {"exact_match": metrics.mean([s.counts["em"] for s in scores]),
                "f1": metrics.mean([s.counts["f1"] for s in scores])}
    pairs = [(frozenset(s.gold_labels), frozenset(s.pred_labels)) for s in scores]
    if kind == "choice":
        return {"accuracy": metrics.mean([s.counts["correct"] for s in scores])}
    if kind == "label":
        return {"accuracy": metrics.mean([s.counts["correct"] for s in scores]), "macro_f1": metrics.macro_f1(pairs)}
    return {"micro_f1": metrics.micro_f1(pairs).f1, "macro_f1": metrics.macro_f1(pairs)}


@dataclass(frozen=True)
class RuleStat:
    n: int
    n_ok: int


def rule_table(scores: Iterable[RecordScore]) -> dict[str, RuleStat]:
    n: dict[str, int] = defaultdict(int)
    ok: dict[str, int] = defaultdict(int)
    for s in scores:
        for rule, good in s.rules.items():
            n[rule] += 1
            ok[rule] += int(good)
    return {rule: RuleStat(n[rule], ok[rule]) for rule in sorted(n)}


def group_by(scores: Sequence[RecordScore], dim: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[RecordScore]] = defaultdict(list)
    for s in scores:
        groups[getattr(s, dim)].append(s)
    return {key: aggregate(groups[key]) for key in sorted(groups)}


def record_dict(s: RecordScore) -> dict[str, Any]:
    return asdict(s)
