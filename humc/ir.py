"""The intermediate representation: a validated recipe, as plain dataclasses.

Produced by ``validate``; consumed by ``plan``. Every expression is kept as its AST
plus its ``Source`` (text and location), so run-time errors still point into the recipe.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from humc.answers.formats import FormatSpec
from humc.answers.table import Cardinality
from humc.errors import HumcError, Span
from humc.expr import Expr, Source
from humc.llm.client import ModelConfig
from humc.templating import template_variables

# how a template file's name starts when it names its language (en_1.j2, zh-TW_2.j2): a language tag
LANGUAGE_PREFIX = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")

EventRoles = tuple[tuple[str, tuple[str, ...]], ...]  # event type -> its argument roles, in order


@dataclass(frozen=True)
class Compiled:
    """An expression with the text it came from."""

    ast: Expr
    src: Source

    @property
    def text(self) -> str:
        return self.src.text


@dataclass(frozen=True)
class TaskDef:
    id: str
    family: str
    title: str
    description: str
    inputs: tuple[str, ...]
    answer_field: str
    columns: tuple[str, ...]
    cardinality: Cardinality
    schema_column: str | None
    task_categories: tuple[str, ...]
    task_ids: tuple[str, ...]
    digest: str
    spans_from: tuple[tuple[str, str], ...] = ()  # (answer column, input): the column's values are spans of the input
    choice_of: str | None = None                  # the input whose option labels the answer must be one of
    answer_is_list: bool = False                  # the answer field must hold a list (a bare value is bad gold)
    schema_missing: str | None = None             # a shown schema label without a gold row gets a row with this value
    answer_always: bool = False                   # every record has an answer (a label, an option, a response)
    # an empty answer ([]) is gold saying the question cannot be answered from the input (SQuAD 2.0): a `generate`
    # step fills only a missing answer (null, absent) unless it overwrites
    answer_unanswerable: bool = False
    # (answer column, input): a value the column holds, when not empty, is copied from the input. Checked in the
    # answers a `generate` step writes, and in source gold only with `copied_gold` (datasets differ: CaRB's subjects
    # are 90% verbatim, DuEE's triggers and arguments all are). The column may be another input (EEA's trigger), a
    # span of the record checked with its gold
    copied_from: tuple[tuple[str, str], ...] = ()
    copied_gold: bool = False
    # (role column, the answer column or input naming its event type): a recipe's `schema: {roles: …}` lists the roles
    # each event type has, and a generated answer's roles are checked against them
    roles_of: tuple[str, str] | None = None

    @property
    def labels_have_roles(self) -> bool:
        """Its schema labels are event types, each with argument roles (ee, not eea: there the roles are the labels):
        an instruction names each shown type's roles (the `roles` template variable)."""
        return self.roles_of is not None and self.roles_of[1] == self.schema_column


@dataclass(frozen=True)
class Template:
    id: str           # e.g. "en_1"
    task: str
    language: str
    text: str
    path: str
    digest: str
    line: int = 1     # the line of `path` where `text` starts (>1 for a lockfile item's block scalar)
    place: Span | None = field(default=None, compare=False, repr=False)  # a lockfile item's: its TextSpan

    @property
    def origin(self) -> Span:
        """Where line 1 of the template text is, for located render errors."""
        return self.place or Span(self.path, self.line, 1)


@dataclass(frozen=True)
class LabelExamples:
    """Examples of one label: texts that are it, and look-alikes that are not (with what they are instead, or "")."""

    positive: tuple[str, ...] = ()
    negative: tuple[tuple[str, str], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.positive or self.negative)


@dataclass(frozen=True)
class Guideline:
    id: str
    title: str
    text: str
    labels: tuple[tuple[str, str], ...]
    language: str
    tasks: tuple[str, ...]
    digest: str
    examples: tuple[tuple[str, LabelExamples], ...] = ()   # label -> examples (Hum: explanations with examples)


@dataclass(frozen=True)
class AnswerOp:
    name: str
    args: tuple[Any, ...] = ()
    # where the operation is written (its argument when it has one): a recipe's line or a stdlib file's; not part of
    # equality, so a rule means the same wherever it is written
    at: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class PreferenceRule:
    id: str
    title: str
    text: dict[str, str]           # language -> sentence for the instruction
    when: Compiled | None
    then: tuple[AnswerOp, ...]
    tasks: tuple[str, ...]
    digest: str
    codecs: tuple[str, ...] = ()   # the answer codecs it is stated and applied under (`codecs:`); () is every one

    def applies_under(self, codec: str) -> bool:
        """Whether the rule means something under this answer codec (empty_brackets' "output []" does not under a
        sentence or a Markdown answer, whose format sentence says how they answer nothing)."""
        return not self.codecs or codec in self.codecs


@dataclass(frozen=True)
class Variant:
    id: str
    spec: FormatSpec
    text: dict[str, str]           # language -> Jinja2 format instruction
    digest: str
    origins: tuple[tuple[str, Span], ...] = field(default=(), compare=False)  # language -> where its text starts


@dataclass(frozen=True)
class SourceDef:
    id: str
    path: Path | None
    format: str
    options: dict[str, Any]
    dataset: dict[str, Any] | None = None  # Hugging Face dataset: name, config, split, revision
    span: Span | None = field(default=None, compare=False)  # where the recipe declares it (its `dataset:` node)


@dataclass(frozen=True)
class PublishedSource:
    """The published dataset a source is, as its catalog adapter describes it (the dataset card lists each)."""

    source: str
    catalog: str
    title: str
    license: str
    homepage: str = ""

    def card_row(self) -> dict[str, str]:
        return {"source": self.source, "catalog": self.catalog, "title": self.title, "license": self.license,
                "homepage": self.homepage}


@dataclass(frozen=True)
class Sample:
    n: int
    seed: int


@dataclass(frozen=True)
class SchemaSampling:
    """IEPile-style schema construction for closed-schema tasks (see docs/corpus.md).

    The schema shown for a text is its gold labels, their confusable ``hard_negatives``, and
    ``negatives`` random others; with ``split_num`` it is packed into batches of at most that many
    labels (one instruction each, gold restricted to the batch, a hard-negative group kept in one
    batch), and ``negative_ratio`` (p, q) keeps about q all-negative batches per p positive ones.
    """

    labels: tuple[str, ...] | None  # fixed label set, or None: collected from the data
    negatives: int | None           # None: show every label
    shuffle: bool                   # kept for old recipes: False == order "declared"
    hard_negatives: tuple[tuple[str, tuple[str, ...]], ...] = ()  # label -> confusable labels shown with it
    split_num: int | None = None    # at most this many schema items per instruction
    negative_ratio: tuple[int, int] | None = None  # positive : all-negative instructions
    order: str = "random"           # random | alphabetical | declared

    def config(self) -> list[Any]:
        """The fingerprinted form (the old three fields alone when no new option is set)."""
        base: list[Any] = [self.labels, self.negatives, self.shuffle]
        extra = [self.hard_negatives, self.split_num, self.negative_ratio, self.order]
        return base if extra == [(), None, None, "random" if self.shuffle else "declared"] else base + extra


@dataclass(frozen=True)
class Mix:
    """Basic vs compound instructions, drawn per instruction from the entry seed (docs/corpus.md).

    An instruction is compound with probability ``compound``, else basic: the entry's first
    template and first format, no guidelines, no rule sentences. A compound instruction keeps
    its chosen template, shows the guidelines with probability ``guidelines``, states the rules
    with probability ``rules`` and uses its chosen (possibly non-default) format with probability
    ``formats`` (else the first format). No `mix:` is Mix(1, 1, 1, 1): every instruction compound
    with everything, as before.
    """

    compound: float = 1.0
    guidelines: float = 1.0
    rules: float = 1.0
    formats: float = 1.0

    @property
    def is_default(self) -> bool:
        return (self.compound, self.guidelines, self.rules, self.formats) == (1.0, 1.0, 1.0, 1.0)


@dataclass(frozen=True)
class SynthSpec:
    """What `humc synth` asks an LLM to propose for one task entry (reviewed, then pinned in the lockfile)."""

    model: str
    paraphrases: int = 0       # paraphrases per instruction template
    guidelines: bool = False   # draft definitions for labels that no guideline defines
    rules: int = 0             # preference-rule proposals
    seed: int = 0
    hard_negatives: bool = False   # propose confusable labels for each label of the entry
    examples: int = 0          # positive and negative examples to propose per label


@dataclass(frozen=True)
class LLMStep:
    """A graph node that calls an LLM per record while building.

    generate: fill the task's answer field (or `field`) from the model — answer generation for
              instruction-generalist tasks; structured answers are validated against the task columns.
    judge:    LLM-as-judge over rendered records; keeps those scoring at least `min_score` (1-5).
    """

    kind: str                  # "generate" | "judge"
    model: str
    prompt: str | None = None  # Jinja2 template over the record; None: the built-in prompt
    prompt_origin: Span | None = field(default=None, compare=False)  # where an inline prompt's text starts
    field: str | None = None   # generate: the field to fill
    overwrite: bool = False    # generate: also replace non-empty values
    min_score: int = 4         # judge
    attempts: int = 3          # structured-output attempts before the record is dropped


def primary_language(tag: str) -> str:
    """The language of a BCP 47 tag, without its script or region: `zh-TW` -> zh, `en` -> en."""
    return tag.split("-", 1)[0]


def language_chain(tag: str) -> tuple[str, ...]:
    """Where a text for ``tag`` is looked for, in order: the tag itself, its primary language, English."""
    return tuple(dict.fromkeys((tag, primary_language(tag), "en")))


@dataclass(frozen=True)
class TaskEntry:
    id: str
    task: TaskDef
    source: str
    language: str
    fields: tuple[tuple[str, Compiled], ...]
    where: Compiled | None
    sample: Sample | None
    schema: SchemaSampling | None
    guidelines: tuple[Guideline, ...]
    rules: tuple[PreferenceRule, ...]
    templates: tuple[Template, ...]
    variants: tuple[Variant, ...]
    variants_per_record: int
    seed: int
    synth: SynthSpec | None = None
    generate: LLMStep | None = None
    judge: LLMStep | None = None
    mix: Mix = Mix()
    split_by: Compiled | None = None  # records whose value of it is equal share a split (`split_by: context`)
    # `schema: {roles: …}`: event type -> its argument roles (tasks with ``TaskDef.roles_of``); checked at `generate`
    event_roles: EventRoles = ()
    # the catalog adapter whose source it reads when neither it, the recipe nor the adapter names a language (the
    # default en then names its records: a multilingual adapter's files are not all English)
    language_by_default_of: str | None = field(default=None, compare=False)
    # the label field's source column, when it holds ClassLabel integers read as numbers (no `class_labels: true`)
    class_label_column: str | None = field(default=None, compare=False)

    @property
    def text_languages(self) -> tuple[str, ...]:
        """Where an instruction's text is looked up, in order (``language_chain``)."""
        return language_chain(self.language)

    def localized(self, texts: Mapping[str, str]) -> str:
        """The text of ``texts`` (language -> text) for this task: in ``text_languages`` order, "" when none."""
        return next((texts[lang] for lang in self.text_languages if texts.get(lang)), "")

    @property
    def text_language(self) -> str:
        """The language an instruction's stdlib texts (rules, format sentences, label wording, natural answers) are
        looked up in: the primary one of the task's (`zh-TW` -> zh, `en-GB` -> en); each falls back to English."""
        return primary_language(self.language)

    def notes(self) -> list[str]:
        """What `humc check` and a build tell about the entry as written: instructions not in its language (the
        stdlib writes en and zh; the records keep the task's language), a bare `when … then …` preference that no
        instruction states (an `empty_as` shows in the format sentence), more variants per record asked than there
        are (template, format) pairs."""
        out = []
        # a template named without a language (`house.j2`, `t0.j2`) is in none: its name says nothing to note
        written = sorted({t.language for t in self.templates if LANGUAGE_PREFIX.match(t.language)})
        if written and self.language not in written:  # zh-TW shown the (Simplified) zh templates is said too
            out.append(f"task '{self.id}': its text is '{self.language}', its instructions '{', '.join(written)}' "
                       f"(no '{self.language}' templates for task '{self.task.id}'; add yours as "
                       f"templates/{self.task.id}/{self.language}_1.j2 in a `stdlib:` folder)")
        if self.language_by_default_of is not None:
            out.append(f"task '{self.id}': catalog '{self.language_by_default_of}' names no language (its files are "
                       f"in several), so its records say '{self.language}'; set `language:` to the files' language")
        if self.class_label_column is not None:
            out.append(f"task '{self.id}': its labels come from '{self.class_label_column}', whose ClassLabel integers "
                       "are read as numbers; `class_labels: true` (in the source's `options:`, or under its "
                       "`dataset:`) reads them as the dataset's names")
        out += self._unshown()
        for rule in self.rules:
            if rule.id.startswith("inline:") and not rule.text and any(op.name != "empty_as" for op in rule.then):
                out.append(f"task '{self.id}': the preference `{rule.id.removeprefix('inline:')}` has no text, so it "
                           "shapes the gold answers but no instruction states it; to state it, write it as a mapping "
                           "{id, text, when, then}")
        pairs = len(self.templates) * len(self.variants)
        if self.variants_per_record > pairs:
            out.append(f"task '{self.id}': variants_per_record is {self.variants_per_record}, but its "
                       f"{len(self.templates)} template(s) x {len(self.variants)} format(s) make {pairs} pairs: each "
                       f"record gets {pairs}")
        return out

    def _unshown(self) -> list[str]:
        """A template of the entry (one of yours: the stdlib's show them all) that never shows the rules, guidelines,
        label definitions or event roles (`schema: {roles: …}`) the entry has: its instructions leave them out, though
        the records name them (or the answers use them)."""
        has = {"rules": any(r.text for r in self.rules), "guidelines": any(g.text for g in self.guidelines),
               "label_definitions": self.task.schema_column is not None and any(g.labels for g in self.guidelines),
               "roles": self.task.labels_have_roles and bool(self.event_roles)}
        out = []
        for tpl in self.templates:
            shown = template_variables(tpl.text)
            missing = [f"`{name}`" for name, used in has.items() if used and name not in shown]
            if missing:
                out.append(f"task '{self.id}': template '{tpl.task}/{tpl.id}' never shows {', '.join(missing)}, so its "
                           "instructions leave out what the entry gives there (the records' `rules` and `guidelines` "
                           "columns still name it)")
        return out


@dataclass(frozen=True)
class Decontamination:
    """Drop records sharing a word n-gram with any text of the given evaluation sets."""

    against: tuple[SourceDef, ...]
    ngram: int = 13


@dataclass(frozen=True)
class HeldOut:
    """Instruction parts that appear only in the test split (zero-shot generalisation)."""

    templates: tuple[str, ...] = ()   # "<task>/<id>" or "<id>"
    formats: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()       # task ids or task entry ids
    split: str = "test"
    unseen_inputs: bool = True        # `inputs: unseen`: only from source rows of `split`, so no input is shared

    def config(self) -> list[Any]:
        parts: list[Any] = [self.templates, self.formats, self.labels, self.tasks, self.split]
        return parts if self.unseen_inputs else parts + ["inputs: shared"]


HELD_OUT_DROPPED = "dropped: held-out instructions of rows in other splits"  # the split node's note (`inputs: unseen`)


MIXTURE_DIMENSIONS = ("task", "entry", "source", "language", "format")


@dataclass(frozen=True)
class Mixture:
    """Corpus-wide mixture control: per dimension, target weights (downsampling to those shares) and caps."""

    weights: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = ()  # dimension -> ((value, weight), ...)
    caps: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = ()       # dimension -> ((value, max records), ...)
    seed: int = 0


@dataclass(frozen=True)
class FolderOrigin:
    """Where a folder setting came from, for diagnostics: a recipe key (with its span) or a command-line option."""

    what: str                  # "output.dir", "name" (the default root + the recipe's name), "cache", "--out", …
    span: Span | None = None


@dataclass(frozen=True)
class Output:
    dir: Path                  # absolute: <output root>/<name>
    splits: tuple[tuple[str, float], ...]
    shard_rows: int
    dedup: bool
    seed: int
    decontaminate: Decontamination | None = None
    dir_origin: FolderOrigin = field(default=FolderOrigin("output.dir"), compare=False)
    strict: bool = False  # problem records fail the build (E4103) instead of being dropped; not fingerprinted
    held_out: HeldOut | None = None
    mixture: Mixture | None = None


@dataclass(frozen=True)
class Publish:
    repo: str | None
    private: bool
    revision: str | None
    card: dict[str, Any] = field(default_factory=dict)  # pretty_name, tags, source_datasets, template


@dataclass(frozen=True)
class LockedAsset:
    """Who wrote one accepted lockfile item a build uses (for the card): ``origin`` llm, human or unknown.

    ``model`` is the model id the server reported (origin llm only); ``recipe_model`` what the recipe asked for.
    """

    id: str
    kind: str                       # template | guideline | rule
    entry: str
    origin: str                     # llm | human | unknown
    model: str = ""
    recipe_model: str = ""
    edited: bool = False
    system_fingerprint: str = ""
    date: str = ""
    params: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Recipe:
    name: str
    path: Path
    text: str
    description: str
    language: str
    license: str | None
    constants: dict[str, Any]
    sources: dict[str, SourceDef]
    tasks: tuple[TaskEntry, ...]
    output: Output
    publish: Publish | None
    cache_dir: Path                 # absolute
    models: dict[str, ModelConfig] = field(default_factory=dict)
    lock_path: Path | None = None   # <recipe>.lock when it exists: reviewed LLM-made assets
    locked: tuple[LockedAsset, ...] = ()  # the accepted lockfile items the tasks use, with who wrote them
    executor: str = "local"         # local | ray (not fingerprinted: both build the same bytes)
    cache_origin: FolderOrigin = field(default=FolderOrigin("cache"), compare=False)
    ablations: tuple[str, ...] = ()  # `ablations:` — sibling datasets `humc build` also writes (ABLATIONS)
    published: tuple[PublishedSource, ...] = ()  # the published datasets its catalog sources are (for the card)
    lock_notes: tuple[str, ...] = field(default=(), compare=False)  # the lockfile's accepted items no entry uses
    warnings: tuple[HumcError, ...] = field(default=(), compare=False)  # located W-coded ones (a role listed twice)

    def notes(self) -> list[str]:
        """What `humc check` and a build tell about the recipe as written: its warnings (`file:line:col:
        warning[W…]: …`), its models' (``ModelConfig.notes``), its task entries' (``TaskEntry.notes``), and its
        lockfile's accepted items for entries it does not have."""
        return [*(w.head() for w in self.warnings), *(n for model in self.models.values() for n in model.notes),
                *(n for e in self.tasks for n in e.notes()),
                *self._shared_passages(), *self._unlicensed(), *self.lock_notes]

    def _unlicensed(self) -> list[str]:
        """No `license:` for a dataset made from published ones: the card would name none."""
        if self.license or not self.published:
            return []
        licences = sorted({f"{o.title}: {o.license}" for o in self.published})
        return [f"the recipe has no `license:`, so the dataset card names none (its source datasets' licences: "
                f"{'; '.join(licences)}); set `license:` to what the built dataset may be shared under"]

    def _shared_passages(self) -> list[str]:
        """Extractive reading-comprehension entries (answers cut from `context`) split by question: one passage's
        questions land in several splits."""
        if sum(1 for _, share in self.output.splits if share > 0) < 2:
            return []
        return [f"task '{e.id}': its questions are split one by one, so one passage's questions land in several "
                f"splits; `split_by: context` keeps each passage in one" for e in self.tasks
                if e.split_by is None and any(source == "context" for _, source in e.task.spans_from)]


ABLATIONS = ("guidelines", "rules", "formats", "templates")
