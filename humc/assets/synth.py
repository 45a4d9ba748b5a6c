"""`humc synth`: ask a recipe's models to PROPOSE assets for task entries with a `synth:` spec.

Three kinds of proposal, each validated before it reaches a person:

* **template paraphrases** — rewordings of the entry's instruction templates. The model sees
  only the prose between the Jinja2 tags, numbered, and rewords each piece; humc puts the
  original tags back, so placeholders survive by construction (a small model rewriting a whole
  template breaks them). The result is still checked (parsed, same variables, same tags,
  renders against a dummy record, differs from the original and from the other proposals);
* **guideline drafts** — definitions for labels of the entry's fixed label set that no
  guideline defines, seeded with the human-written definitions of the other labels;
* **preference rules** — a sentence plus `then` answer operations (and an optional
  `when` condition), compiled exactly as a recipe's rules are;
* **hard negatives** — for each label of the entry's fixed label set, the labels a model would confuse it with
  (the JSON Schema makes each value an array of enums of the entry's *other* labels); accepted maps merge into
  `schema.hard_negatives`, the recipe's own entries first;
* **label examples** — per label, texts that are it and look-alikes that are not (Hum's guidelines: explanations
  with positive and negative examples); accepted examples are shown with the label's definition.

Proposals are merged into the recipe's lockfile as ``proposed``; items already there
(reviewed or not) are kept untouched. All LLM calls go through the disk cache, so a
re-run sends no request and proposes nothing new.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from humc.errors import HumcError, RecipeError, RequestRejected, one_line
from humc.ir import AnswerOp, LabelExamples, Recipe, TaskEntry, Template
from humc.llm.client import (
    TRUNCATED_REASON,
    LLMClient,
    LLMRequest,
    LLMResponse,
    LLMStats,
    ModelConfig,
    cache_key,
    json_failure,
    open_cache,
)
from humc.llm.structured import conforms, response_format, strict_object
from humc.locks import cache_lock
from humc.recipe.lockfile import Lockfile, LockItem, editing_lock, human_assets, item_id, load_lock, lock_path_for, rule_names, save_lock
from humc.recipe.rules import rule_problem
from humc.templating import render_template, syntax_problem, template_variables

ATTEMPTS = 3
LANGUAGE_NAMES = {"en": "English", "zh": "Chinese (简体中文)"}


# ----------------------------------------------------------------------------- report

KIND_NOUNS = {"hard_negatives": "hard-negative map", "examples": "example set"}  # "1 example set(s)", not "examples(s)"


@dataclass
class SynthReport:
    lock_path: Path
    proposed: int = 0                                   # new items added to the lockfile
    kept: int = 0                                       # proposals already in the lockfile (decision kept)
    invalid: list[tuple[str, str]] = field(default_factory=list)   # (what, reason)
    notes: list[str] = field(default_factory=list)
    by_kind: Counter[str] = field(default_factory=Counter)  # kind -> new items
    stats: dict[str, LLMStats] = field(default_factory=dict)      # model alias -> client stats
    awaiting: int = 0                                   # items with status proposed after the merge
    forms: dict[str, str] = field(default_factory=dict)           # model alias -> structured-output form used
    answers: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))  # kind -> [valid, asked]
    well_formed: Counter[str] = field(default_factory=Counter)   # kind -> requests with a reply matching the schema

    @property
    def requests(self) -> int:
        return sum(s.requests_sent for s in self.stats.values())

    @property
    def cache_hits(self) -> int:
        return sum(s.cache_hits for s in self.stats.values())

    @property
    def tokens(self) -> int:
        return sum(s.prompt_tokens + s.completion_tokens for s in self.stats.values())

    def render(self) -> str:
        lines = [f"{self.lock_path}: {self.proposed} new proposal(s)"
                 + (f" ({', '.join(f'{n} {KIND_NOUNS.get(k, k)}(s)' for k, n in sorted(self.by_kind.items()))})"
                    if self.by_kind else "")
                 + f", {self.kept} already in the lockfile, {len(self.invalid)} invalid"]
        for what, reason in self.invalid:
            lines.append(f"  invalid: {what}: {one_line(reason)}")  # a model's reply can run to pages
        for note in self.notes:
            lines.append(f"  note: {note}")
        if self.answers:
            lines.append("  valid answers: " + ", ".join(f"{kind} {ok}/{n}" for kind, (ok, n) in sorted(self.answers.items()))
                         + "; well-formed (matching the schema): "
                         + ", ".join(f"{kind} {self.well_formed[kind]}/{n}" for kind, (_, n) in sorted(self.answers.items())))
        for alias, s in sorted(self.stats.items()):
            lines.append(f"  model {alias}: {s.requests_sent} request(s), {s.cache_hits} cache hit(s), "
                         f"{s.prompt_tokens} prompt + {s.completion_tokens} completion token(s)"
                         + (f", {s.retries} retries" if s.retries else "")
                         + (f", structured output {self.forms[alias]}" if alias in self.forms else ""))
        return "\n".join(lines)


# ----------------------------------------------------------------------------- template checks

_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
_WORD = re.compile(r"\w+")


def _norm_tag(tag: str) -> str:
    inner = tag[2:-2].strip("-+ \t\n")
    return tag[:2] + re.sub(r"\s+", "", inner.replace('"', "'")) + tag[-2:]


def template_tags(text: str) -> Counter[str]:
    return Counter(_norm_tag(t) for t in _TAG.findall(text))


def _wording_key(text: str) -> str:
    """``text``'s words, case-folded: two templates with the same key say the same thing. SmolLM2 "paraphrased"
    zh_structured by dropping its final "。", which glued the request to the format sentence (…的实体以JSON格式…)."""
    return " ".join(_WORD.findall(text)).casefold()


def dummy_contexts(task: Any) -> list[dict[str, Any]]:
    """Variables to test-render a template with: full (every optional part shown) and minimal."""
    base: dict[str, Any] = {}
    for name in task.inputs:
        base[name] = ["first option", "second option"] if name == "options" else f"sample {name}"
    full = dict(base, labels=["LABEL_A", "LABEL_B"], label_definitions={"LABEL_A": "a definition"},
                guidelines=["a guideline"], rules=["a rule"], columns=list(task.columns),
                option_labels=["A", "B"], format_instruction="Answer in JSON.", roles={"LABEL_A": ["ROLE_A", "ROLE_B"]})
    empty = dict(base, labels=["LABEL_A"], label_definitions={}, guidelines=[], rules=[],
                 columns=list(task.columns), option_labels=["A", "B"], format_instruction="Answer in JSON.", roles={})
    for ctx in (full, empty):
        ctx.setdefault("options", ["first option", "second option"])
    return [full, empty]


# words that promise an answer layout: the format instruction (`{{ format_instruction }}`) says how to answer, and a
# template that promises another layout contradicts every format variant but one
_FORMAT_WORDS = re.compile(
    r"\b(?:jsonl?|yaml|markdown|csv|tables?|bullet(?:ed|s)?|(?:numbered|bulleted) list|as a list|in a list|"
    r"comma[- ]separated|(?:one|each) per line|per line|line by line|on (?:its|their) own line|one line)\b"
    r"|表格|列表|每行|逐行|一行|逗号分隔", re.I)


def format_promises(text: str) -> set[str]:
    """The answer layouts ``text`` names ("json", "per line", "表格", …), lower-cased."""
    return {m.group(0).lower() for m in _FORMAT_WORDS.finditer(_SEGMENT.sub(" ", text))}


def check_paraphrase(original: str, text: str, task: Any, layouts: bool = True) -> str | None:
    """Why ``text`` is not a faithful paraphrase of template ``original`` (None when it is); ``layouts``: an answer
    layout the original does not name is a reason too (a model's paraphrase; a reviewer's edit may name one)."""
    if not isinstance(text, str) or not text.strip():
        return "empty text"
    problem = syntax_problem(text)
    if problem is not None:
        if problem.code == "E2012":
            return f"unsafe template (line {problem.line}: {problem.message})"
        return f"not a valid Jinja2 template (line {problem.line}: {problem.message})"
    want, got = template_variables(original), template_variables(text)
    if got != want:
        parts = []
        if want - got:
            parts.append("drops " + ", ".join(sorted(want - got)))
        if got - want:
            parts.append("adds " + ", ".join(sorted(got - want)))
        return "changes the template variables: " + "; ".join(parts)
    want_tags, got_tags = template_tags(original), template_tags(text)
    if want_tags != got_tags:
        missing = sorted((want_tags - got_tags).elements())
        extra = sorted((got_tags - want_tags).elements())
        parts = []
        if missing:
            parts.append("missing " + ", ".join(dict.fromkeys(missing)))
        if extra:
            parts.append("unexpected " + ", ".join(dict.fromkeys(extra)))
        return "does not keep every placeholder/statement: " + "; ".join(parts)
    for ctx in dummy_contexts(task):
        try:
            render_template(text, ctx, "paraphrase")
        except HumcError as exc:
            return f"does not render ({exc.message})"
        except Exception as exc:  # a filter failing on the dummy values (TypeError, ValueError, …)
            return f"does not render ({type(exc).__name__}: {exc})"
    promised = format_promises(text) - format_promises(original)
    if promised and layouts:
        return (f"promises an answer layout ({', '.join(sorted(promised))}): the format instruction says how to "
                "answer, and each instruction draws its own format")
    if _wording_key(text) == _wording_key(original):
        return "identical to the original template"
    return None


# ----------------------------------------------------------------------------- prompts

SYSTEM = ("You help build instruction-tuning datasets for natural language understanding. "
          "You answer with a single JSON object and nothing else: no prose, no code fence.")


def _language(lang: str) -> str:
    return LANGUAGE_NAMES.get(lang, lang)


_SEGMENT = re.compile(r"(\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\})", re.S)


@dataclass(frozen=True)
class TemplateWording:
    """A template split into literal text and Jinja2 tags; ``slots`` index the literal parts that hold words.

    The model rewords only the slots (their text without surrounding whitespace); ``assemble`` puts the
    original tags and whitespace back, so every placeholder and statement is kept by construction.
    """

    parts: tuple[str, ...]       # literal, tag, literal, tag, …, literal
    slots: tuple[int, ...]       # indices of the literal parts with at least one letter

    @classmethod
    def of(cls, text: str) -> TemplateWording:
        parts = tuple(_SEGMENT.split(text))
        return cls(parts, tuple(i for i, p in enumerate(parts) if i % 2 == 0 and any(c.isalpha() for c in p)))

    def wording(self) -> dict[str, str]:
        """The prose to reword, keyed "1", "2", … in template order."""
        return {str(n + 1): self.parts[i].strip() for n, i in enumerate(self.slots)}

    def assemble(self, reworded: dict[str, str]) -> str:
        parts = list(self.parts)
        for n, i in enumerate(self.slots):
            old = parts[i]
            lead, trail = old[:len(old) - len(old.lstrip())], old[len(old.rstrip()):]
            parts[i] = lead + " ".join(reworded[str(n + 1)].split()) + trail
        return "".join(parts)


def paraphrase_schema(wording: TemplateWording, n: int) -> dict[str, Any]:
    """``{"paraphrases": [n objects {"1": str, …, "k": str}]}``: exactly n rewordings of exactly the k slots."""
    version = strict_object({key: {"type": "string", "minLength": 1} for key in wording.wording()})
    return strict_object({"paraphrases": {"type": "array", "minItems": n, "maxItems": n, "items": version}})


def paraphrase_request(entry: TaskEntry, tpl: Template, n: int, seed: int, form: str = "off") -> LLMRequest:
    """Only the template's prose is sent, numbered; the model rewords each piece and humc reassembles the
    template with its own tags (small models break Jinja2 placeholders when asked to rewrite a whole template)."""
    wording = TemplateWording.of(tpl.text)
    user = (
        f"Here are the sentences of an instruction for the task \"{entry.task.title or entry.task.id}\" "
        f"({entry.task.description.strip()}), as JSON:\n"
        f"{json.dumps(wording.wording(), ensure_ascii=False, indent=1)}\n\n"
        f"Rewrite every sentence in different words with the same meaning, in {_language(tpl.language)}. "
        "Keep the same keys.\n"
        f'Answer with JSON: {{"paraphrases": [{{...}}, ...]}}: {n} rewritten version(s), each different.')
    return LLMRequest([{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}],
                      {"seed": seed}, response_format(form, "paraphrases", paraphrase_schema(wording, n)))


def guideline_request(entry: TaskEntry, missing: list[str], seeds: dict[str, str], seed: int,
                      form: str = "off") -> LLMRequest:
    assert entry.schema is not None  # guidelines are drafted only for entries with a label schema
    examples = "\n".join(f"- {label}: {text}" for label, text in seeds.items()) or "(none yet)"
    user = (
        f"Task: {entry.task.title or entry.task.id} — {entry.task.description.strip()}\n"
        f"Label set: {', '.join(entry.schema.labels or ())}\n\n"
        f"Definitions written by the annotation guideline authors:\n{examples}\n\n"
        f"Write a definition, in the same style and in {_language(entry.language)}, for each of these labels: "
        f"{', '.join(missing)}. A definition says what the label covers (with short examples) and what it does "
        "not cover.\n"
        'Answer with JSON: {"<label>": "<definition>", ...} with exactly the labels asked for as keys.')
    return LLMRequest([{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}],
                      {"seed": seed}, response_format(form, "definitions", definitions_schema(missing)))


def definitions_schema(missing: list[str]) -> dict[str, Any]:
    return strict_object({label: {"type": "string", "minLength": 1} for label in missing})


def _definitions_text(entry: TaskEntry) -> str:
    defined = {label: text for g in entry.guidelines for label, text in g.labels}
    return "\n".join(f"- {label}: {defined[label]}" if label in defined else f"- {label}"
                     for label in entry.schema.labels or ()) if entry.schema is not None else ""


def hard_negatives_schema(labels: list[str]) -> dict[str, Any]:
    """``{"<label>": [confusable labels]}`` for every label; each item is an enum of the *other* labels, so a
    constrained decoder can neither invent a label nor make one confusable with itself."""
    return strict_object({label: {"type": "array", "maxItems": 3,
                                  "items": {"type": "string", "enum": [o for o in labels if o != label]}}
                          for label in labels})


def hard_negatives_request(entry: TaskEntry, seed: int, form: str = "off") -> LLMRequest:
    assert entry.schema is not None and entry.schema.labels is not None
    labels = list(entry.schema.labels)
    user = (
        f"Task: {entry.task.title or entry.task.id} — {entry.task.description.strip()}\n"
        f"Labels:\n{_definitions_text(entry)}\n\n"
        "For each label, list the other labels of this set that an annotator or a model most easily confuses it "
        "with (similar meaning, the same kind of text, one often mistaken for the other). Use only labels of the "
        "set; an empty list when none is confusable.\n"
        'Answer with JSON: {"<label>": ["<other label>", ...], ...} with every label as a key.')
    return LLMRequest([{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}],
                      {"seed": seed}, response_format(form, "hard_negatives", hard_negatives_schema(labels)))


def check_hard_negatives(value: Any, labels: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """(label -> confusable labels kept, reasons of the parts dropped): keys and values must be labels of the entry,
    no label confusable with itself; labels with no confusable label are left out."""
    kept: dict[str, list[str]] = {}
    bad: list[str] = []
    if not isinstance(value, dict):
        return kept, ["not a JSON object of label -> [labels]"]
    for label, others in value.items():
        if label not in labels:
            bad.append(f"'{label}' is not a label of the entry")
            continue
        if not isinstance(others, list) or not all(isinstance(o, str) for o in others):
            bad.append(f"label '{label}': not a list of labels")
            continue
        good = []
        for other in dict.fromkeys(others):
            if other == label:
                bad.append(f"label '{label}' is confusable with itself")
            elif other not in labels:
                bad.append(f"label '{label}': '{other}' is not a label of the entry")
            else:
                good.append(other)
        if good:
            kept[label] = good
    return {k: kept[k] for k in labels if k in kept}, bad


def examples_schema(labels: list[str], n: int) -> dict[str, Any]:
    texts = {"type": "array", "minItems": 1, "maxItems": n, "items": {"type": "string", "minLength": 1}}
    return strict_object({label: strict_object({"positive": texts, "negative": texts}) for label in labels})


def examples_request(entry: TaskEntry, n: int, seed: int, form: str = "off") -> LLMRequest:
    assert entry.schema is not None and entry.schema.labels is not None
    labels = list(entry.schema.labels)
    user = (
        f"Task: {entry.task.title or entry.task.id} — {entry.task.description.strip()}\n"
        f"Labels:\n{_definitions_text(entry)}\n\n"
        f"For each label, give {n} positive example(s): short texts, in {_language(entry.language)}, that ARE the "
        f"label (e.g. an entity mention or a phrase), and {n} negative example(s): texts that look like the label "
        "but are NOT it (e.g. they belong to another label of the set).\n"
        'Answer with JSON: {"<label>": {"positive": ["..."], "negative": ["..."]}, ...} with every label as a key.')
    return LLMRequest([{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}],
                      {"seed": seed}, response_format(form, "examples", examples_schema(labels, n)))


def check_examples(value: Any, labels: list[str]) -> tuple[dict[str, LabelExamples], list[str]]:
    """(label -> examples kept, reasons of the parts dropped): keys are labels of the entry, examples non-empty
    strings, and no positive example is also a negative one (it is dropped from both)."""
    kept: dict[str, LabelExamples] = {}
    bad: list[str] = []
    if not isinstance(value, dict):
        return kept, ["not a JSON object of label -> {positive, negative}"]
    for label, ex in value.items():
        if label not in labels:
            bad.append(f"'{label}' is not a label of the entry")
            continue
        if not isinstance(ex, dict):
            bad.append(f"label '{label}': not an object with positive and negative examples")
            continue
        lists: dict[str, list[str]] = {}
        for polarity in ("positive", "negative"):
            items = ex.get(polarity) or []
            if not isinstance(items, list):
                bad.append(f"label '{label}': {polarity} is not a list")
                items = []
            texts = []
            for item in items:
                if not isinstance(item, str) or not item.strip():
                    bad.append(f"label '{label}': a {polarity} example is not a non-empty string")
                else:
                    texts.append(" ".join(item.split()))
            lists[polarity] = list(dict.fromkeys(texts))
        both = set(lists["positive"]) & set(lists["negative"])
        if both:
            bad.append(f"label '{label}': {', '.join(sorted(both))} is both a positive and a negative example")
        pos = tuple(t for t in lists["positive"] if t not in both)
        neg = tuple((t, "") for t in lists["negative"] if t not in both)
        if pos or neg:
            kept[label] = LabelExamples(pos, neg)
    return {k: kept[k] for k in labels if k in kept}, bad


WHEN_CHOICES = ("", "len(answer) == 0", "len(answer) == 1", "len(answer) > 1")
"""The conditions a structured rule proposal may pick (a reviewer can write any other one)."""


def rules_request(entry: TaskEntry, n: int, names: set[str], seed: int, form: str = "off") -> LLMRequest:
    from humc.answers import ops as answerops

    ops = "\n".join(f"- {answerops.signature(name)}" for name in answerops.OPS)
    existing = "\n".join(
        f'- {{"text": {json.dumps(entry.localized(r.text), ensure_ascii=False)}, '
        f'"then": {json.dumps(" | ".join(_op_text(op) for op in r.then))}'
        + (f', "when": {json.dumps(r.when.text)}' if r.when is not None else "") + "}"
        for r in entry.rules) or "(none)"
    shape = ('{"rules": [{"text": "<sentence>", "then": [{"op": "<operation>", "column": "<column>"}], '
             '"when": "<condition or empty>"}]}' if form != "off" else
             '{"rules": [{"text": "<sentence>", "then": "<operations>", "when": "<condition or empty>"}]}')
    user = (
        f"Task: {entry.task.title or entry.task.id} — {entry.task.description.strip()}\n"
        f"The gold answer is a table with columns: {', '.join(entry.task.columns)}.\n\n"
        "A preference rule resolves an ambiguity of the gold answer (order, duplicates, which of several "
        "acceptable answers, how to say 'nothing found') and tells the model about it in one sentence. "
        "Its `then` is a pipeline of answer operations joined by ` | `, chosen ONLY from:\n"
        f"{ops}\n"
        f"(a \"column\" argument is one of: {', '.join(entry.task.columns)}). An optional `when` condition "
        f"may read: {', '.join(sorted(names))} (`answer` is the list of answer rows), e.g. len(answer) == 0.\n\n"
        f"Rules already used:\n{existing}\n\n"
        f"Propose {n} new preference rule(s), the sentence in {_language(entry.language)}.\n"
        f"Answer with JSON: {shape}")
    return LLMRequest([{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}],
                      {"seed": seed}, response_format(form, "rules", rules_schema(entry, form)))


RULES_SCHEMA = strict_object({"rules": {"type": "array", "minItems": 1, "items": strict_object(
    {"text": {"type": "string", "minLength": 1}, "then": {"type": "string", "minLength": 1}, "when": {"type": "string"}})}})


def rules_schema(entry: TaskEntry, form: str) -> dict[str, Any]:
    """Structured forms constrain operations and columns; with no form the prompt asks for pipeline text."""
    return structured_rules_schema(entry.task.columns) if form != "off" else RULES_SCHEMA


def structured_rules_schema(columns: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """Rules whose `then` is a list of operation objects, each valid by construction: the operation names and
    the column arguments are enums (a constrained decoder cannot write an unknown operation or a stray `<`);
    humc joins them into the pipeline text. `when` is one of ``WHEN_CHOICES``."""
    from humc.answers import ops as answerops

    variants = []
    for name, (_, arity, _) in answerops.OPS.items():
        props: dict[str, Any] = {"op": {"type": "string", "enum": [name]}}
        if name in answerops.COLUMN_OPS:
            props["column"] = {"type": "string", "enum": list(columns)}
        elif arity:
            props["value"] = {"type": "string", "minLength": 1}
        variants.append(strict_object(props))
    return strict_object({"rules": {"type": "array", "minItems": 1, "items": strict_object({
        "text": {"type": "string", "minLength": 1},
        "then": {"type": "array", "minItems": 1, "maxItems": 3, "items": {"anyOf": variants}},
        "when": {"type": "string", "enum": list(WHEN_CHOICES)}})}})


def pipeline_text(then: Any) -> Any:
    """A structured `then` (a list of ``{"op", "column"|"value"}`` objects) as pipeline text; other values as
    they are (the checks that follow say what is wrong with them)."""
    if not isinstance(then, list) or not all(isinstance(step, dict) and isinstance(step.get("op"), str)
                                             for step in then):
        return then
    parts = []
    for step in then:
        args = [step[k] for k in ("column", "value") if k in step]
        parts.append(step["op"] + (f"({', '.join(json.dumps(a, ensure_ascii=False) for a in args)})" if args else ""))
    return " | ".join(parts)


def _op_text(op: AnswerOp) -> str:
    if not op.args:
        return op.name
    return f"{op.name}({', '.join(json.dumps(a, ensure_ascii=False) for a in op.args)})"


# ----------------------------------------------------------------------------- jobs


@dataclass
class _Job:
    alias: str
    kind: str
    entry: TaskEntry
    what: str
    request: LLMRequest
    validate: Callable[[Any], str | None]           # shape check for complete_json (retried when it fails)
    collect: Callable[[Any], tuple[list[LockItem], list[str]]]   # value -> (items, reasons of invalid parts)
    key: str = ""
    schema: dict[str, Any] | None = None          # the answer's JSON Schema (sent when the form allows)
    well_formed: bool = False                     # some attempt's reply matched the schema
    last_error: list[str] = field(default_factory=list)
    responses: list[LLMResponse] = field(default_factory=list)   # every attempt's; the last one answered

    def stamp(self, item: LockItem) -> None:
        """Who wrote ``item``: the model the server reported for the accepted answer (unknown if it is not known)."""
        served = self.responses[-1].served if self.responses else None
        if served is None or served.model is None:
            return  # origin stays unknown: never credit the recipe's model with text nobody saw it write
        item.origin, item.model, item.date = "llm", served.model, served.date or ""
        item.system_fingerprint, item.params = served.system_fingerprint or "", dict(served.params)


def _list_of(value: Any, key: str) -> Any:
    if isinstance(value, dict) and key in value:
        return value[key]
    return value


REQUEST_PLACEHOLDERS = ("<reworded sentence", "reworded sentence", "rewritten sentence", "{...}", "[...]", "{…}")
"""Text of humc's own paraphrase request and correction messages that a small model copies into its answer as if it
were the rewording (SmolLM2-135M under llama.cpp: "<reworded sentence 1> {{ question }}", "Paraphrasing, 2}: {...},
{... {{ question }}"): such a sentence rewords nothing."""


def echoes_request(reworded: str, original: str) -> bool:
    """Whether a reworded sentence holds one of ``REQUEST_PLACEHOLDERS`` that its original does not."""
    low, before = reworded.casefold(), original.casefold()
    return any(p in low and p not in before for p in REQUEST_PLACEHOLDERS)


def copied_sentence(reworded: str, key: str, originals: Mapping[str, str]) -> str | None:
    """The key of another sentence of the original that the rewording of sentence ``key`` is (its letters, in any
    case), when it is not its own: SmolLM2 reworded re/en_3's "Read the sentence and report the relation triples it
    states." as "Sentence: 1" (sentence 5 is "Sentence:") and ner/zh_2's "类型定义：" as "标注规范：" (sentence 5),
    leaving a template that asks nothing or defines its labels under the wrong heading."""
    letters = _letters(reworded)
    if letters == _letters(originals[key]):
        return None
    return next((other for other, text in originals.items() if other != key and _letters(text) == letters), None)


def _letters(text: str) -> str:
    return "".join(c for c in text.casefold() if c.isalpha())


def _paraphrase_job(alias: str, cfg: ModelConfig, entry: TaskEntry, tpl: Template, n: int, seed: int, form: str) -> _Job:
    req = paraphrase_request(entry, tpl, n, seed, form)
    asked = f"{alias} ({cfg.model})"
    key = cache_key(cfg, req)
    wording = TemplateWording.of(tpl.text)
    originals = wording.wording()
    keys = list(originals)

    def rebuilt(version: Any) -> tuple[str | None, str | None]:
        """(template, None) from one reworded version, or (None, why not)."""
        if not isinstance(version, dict):
            return None, "not an object of reworded sentences"
        missing = [k for k in keys if not isinstance(version.get(k), str) or not any(c.isalpha() for c in version[k])]
        if missing:
            return None, f"no reworded sentence {', '.join(missing)} (each must hold words)"
        echoed = [k for k in keys if echoes_request(version[k], originals[k])]
        if echoed:
            return None, (f"sentence {', '.join(echoed)} copies a placeholder of the request (such as "
                          "'<reworded sentence 1>' or '{...}') instead of rewording the sentence")
        moved = {k: other for k in keys if (other := copied_sentence(version[k], k, originals)) is not None}
        if moved:
            return None, "; ".join(f"sentence {k} copies sentence {other} of the original instead of rewording its own"
                                   for k, other in moved.items())
        text = wording.assemble({k: version[k] for k in keys})
        return text, check_paraphrase(tpl.text, text, entry.task)

    def parts(value: Any) -> tuple[list[LockItem], list[str]]:
        items: list[LockItem] = []
        bad: list[str] = []
        seen = {_wording_key(tpl.text)}
        for i, version in enumerate(_list_of(value, "paraphrases")):
            text, reason = rebuilt(version)
            if reason is None and text is not None and _wording_key(text) in seen:
                reason = "duplicates another paraphrase"
            if reason is not None or text is None:
                bad.append(f"paraphrase {i + 1}: {reason}")
                continue
            seen.add(_wording_key(text))
            body = text.strip() + "\n"
            items.append(LockItem(id=item_id("template", entry.id, tpl.id, body), kind="template", entry=entry.id,
                                  recipe_model=asked, request=key, base=tpl.id, language=tpl.language, text=body))
        return items, bad

    def validate(value: Any) -> str | None:
        versions = _list_of(value, "paraphrases")
        if not isinstance(versions, list) or not versions:
            return ('expected {"paraphrases": [{' + ", ".join(f'"{k}": "<reworded sentence {k}>"' for k in keys)
                    + "}, ...]}")
        items, bad = parts(value)
        if not items:
            return "no paraphrase is valid: " + "; ".join(bad)
        return None

    return _Job(alias, "template", entry, f"{entry.id}: paraphrases of {tpl.id}", req, validate, parts, key,
                paraphrase_schema(TemplateWording.of(tpl.text), n))


def _guideline_job(alias: str, cfg: ModelConfig, entry: TaskEntry, missing: list[str], seeds: dict[str, str],
                   seed: int, form: str) -> _Job:
    req = guideline_request(entry, missing, seeds, seed, form)
    asked = f"{alias} ({cfg.model})"
    key = cache_key(cfg, req)

    def parts(value: Any) -> tuple[list[LockItem], list[str]]:
        labels: dict[str, str] = {}
        bad: list[str] = []
        for label, text in value.items():
            if label not in missing:
                bad.append(f"label '{label}' was not asked for")
            elif not isinstance(text, str) or not text.strip():
                bad.append(f"label '{label}': the definition is not a non-empty string")
            else:
                labels[label] = text.strip()
        if not labels:
            return [], bad
        labels = {k: labels[k] for k in missing if k in labels}
        return [LockItem(id=item_id("guideline", entry.id, None, "", labels), kind="guideline", entry=entry.id,
                         recipe_model=asked, request=key, language=entry.language, labels=labels)], bad

    def validate(value: Any) -> str | None:
        if not isinstance(value, dict) or not value:
            return 'expected a JSON object {"<label>": "<definition>", ...}'
        extra = sorted(set(value) - set(missing))
        if extra:
            return f"unexpected label(s) {', '.join(extra)}; define only: {', '.join(missing)}"
        items, bad = parts(value)
        return None if items else "; ".join(bad)

    return _Job(alias, "guideline", entry, f"{entry.id}: definitions of {', '.join(missing)}", req, validate,
                parts, key, definitions_schema(missing))


RULE_PLACEHOLDERS = ("<sentence>", "<operation", "<column>", "<condition")
"""The placeholders of humc's rule request (its JSON shape). SmolLM2-135M under llama.cpp (json_object + schema)
proposed a rule whose sentence was "<sentence>": it would be stated as is in the instructions."""


def check_rule(entry: TaskEntry, text: Any, then: Any, when: Any, names: set[str]) -> str | None:
    """Why a proposed rule is invalid (None when it compiles for this entry)."""
    if isinstance(text, str) and any(p in text.casefold() for p in RULE_PLACEHOLDERS):
        return "`text` copies a placeholder of the request (such as '<sentence>') instead of stating the rule"
    return rule_problem(text, then, when, entry.task, names)


def _rules_job(alias: str, cfg: ModelConfig, entry: TaskEntry, n: int, names: set[str], seed: int, form: str) -> _Job:
    req = rules_request(entry, n, names, seed, form)
    asked = f"{alias} ({cfg.model})"
    key = cache_key(cfg, req)

    def parts(value: Any) -> tuple[list[LockItem], list[str]]:
        items: list[LockItem] = []
        bad: list[str] = []
        seen: set[tuple[str, str]] = set()
        for i, rule in enumerate(_list_of(value, "rules")):
            if not isinstance(rule, dict):
                bad.append(f"rule {i + 1}: not an object")
                continue
            text, then, when = rule.get("text", ""), pipeline_text(rule.get("then", "")), rule.get("when") or None
            reason = check_rule(entry, text, then, when, names)
            if reason is None and (then.strip(), (when or "").strip()) in seen:
                reason = "duplicates another proposal"
            if reason is not None:
                bad.append(f"rule {i + 1}: {reason}")
                continue
            seen.add((then.strip(), (when or "").strip()))
            text, then = text.strip(), then.strip()
            when = when.strip() if when else None
            payload = json.dumps([text, when, then], ensure_ascii=False)
            items.append(LockItem(id=item_id("rule", entry.id, None, payload), kind="rule", entry=entry.id,
                                  recipe_model=asked, request=key, language=entry.language, text=text,
                                  when=when, then=then))
        return items, bad

    def validate(value: Any) -> str | None:
        rules = _list_of(value, "rules")
        if not isinstance(rules, list) or not rules:
            return 'expected {"rules": [{"text": ..., "then": ..., "when": ...}, ...]}'
        items, bad = parts(value)
        return None if items else "no rule is valid: " + "; ".join(bad)

    return _Job(alias, "rule", entry, f"{entry.id}: preference rules", req, validate, parts, key,
                rules_schema(entry, form))


def _hard_negatives_job(alias: str, cfg: ModelConfig, entry: TaskEntry, seed: int, form: str) -> _Job:
    req = hard_negatives_request(entry, seed, form)
    asked, key = f"{alias} ({cfg.model})", cache_key(cfg, req)
    labels = list(entry.schema.labels or ()) if entry.schema is not None else []

    def parts(value: Any) -> tuple[list[LockItem], list[str]]:
        kept, bad = check_hard_negatives(value, labels)
        if not kept:
            return [], bad
        payload = json.dumps(sorted(kept.items()), ensure_ascii=False)
        return [LockItem(id=item_id("hard_negatives", entry.id, None, payload), kind="hard_negatives", entry=entry.id,
                         recipe_model=asked, request=key, language=entry.language, hard_negatives=kept)], bad

    def validate(value: Any) -> str | None:
        if not isinstance(value, dict) or not value:
            return 'expected a JSON object {"<label>": ["<confusable label>", ...], ...}'
        items, bad = parts(value)
        return None if items else "no confusable label is valid: " + ("; ".join(bad) or "every list is empty")

    return _Job(alias, "hard_negatives", entry, f"{entry.id}: hard negatives", req, validate, parts, key,
                hard_negatives_schema(labels))


def _examples_job(alias: str, cfg: ModelConfig, entry: TaskEntry, n: int, seed: int, form: str) -> _Job:
    req = examples_request(entry, n, seed, form)
    asked, key = f"{alias} ({cfg.model})", cache_key(cfg, req)
    labels = list(entry.schema.labels or ()) if entry.schema is not None else []

    def parts(value: Any) -> tuple[list[LockItem], list[str]]:
        kept, bad = check_examples(value, labels)
        if not kept:
            return [], bad
        payload = json.dumps(sorted((k, [list(ex.positive), list(ex.negative)]) for k, ex in kept.items()),
                             ensure_ascii=False)
        return [LockItem(id=item_id("examples", entry.id, None, payload), kind="examples", entry=entry.id,
                         recipe_model=asked, request=key, language=entry.language, examples=kept)], bad

    def validate(value: Any) -> str | None:
        if not isinstance(value, dict) or not value:
            return 'expected a JSON object {"<label>": {"positive": [...], "negative": [...]}, ...}'
        items, bad = parts(value)
        return None if items else "no example is valid: " + "; ".join(bad)

    return _Job(alias, "examples", entry, f"{entry.id}: label examples", req, validate, parts, key,
                examples_schema(labels, n))


def _fixed_labels(entry: TaskEntry, what: str, report: SynthReport) -> bool:
    """Whether the entry has a fixed label set to propose ``what`` for (a note says why not)."""
    if entry.schema is None or entry.task.schema_column is None:
        report.notes.append(f"{entry.id}: task '{entry.task.id}' has no label schema; no {what}")
        return False
    if entry.schema.labels is None:
        report.notes.append(f"{entry.id}: labels are collected from the data (no `labels:`); no {what}")
        return False
    return True


def plan_jobs(recipe: Recipe, report: SynthReport, forms: dict[str, str] | None = None) -> list[_Job]:
    """The requests to send; ``forms`` is each model alias's structured-output form (default: off)."""
    forms = forms or {}
    jobs: list[_Job] = []
    for entry in recipe.tasks:
        spec = entry.synth
        if spec is None:
            continue
        cfg = recipe.models.get(spec.model)
        if cfg is None:
            raise RecipeError(f"task '{entry.id}': synth model '{spec.model}' is not declared under `models:`",
                              expected="one of: " + (", ".join(sorted(recipe.models)) or "(no models declared)"), code="E2009")
        entry = human_assets(entry)
        form = forms.get(spec.model, "off")
        if spec.paraphrases > 0:
            for tpl in entry.templates:
                if not TemplateWording.of(tpl.text).slots:
                    report.notes.append(f"{entry.id}: template {tpl.id} has no wording to paraphrase")
                    continue
                jobs.append(_paraphrase_job(spec.model, cfg, entry, tpl, spec.paraphrases, spec.seed, form))
        if spec.guidelines:
            if entry.schema is None or entry.task.schema_column is None:
                report.notes.append(f"{entry.id}: task '{entry.task.id}' has no label schema; no guideline drafts")
            elif entry.schema.labels is None:
                report.notes.append(f"{entry.id}: labels are collected from the data (no `labels:`); "
                                    "no guideline drafts")
            else:
                defined = {label: text for g in entry.guidelines for label, text in g.labels}
                missing = [label for label in entry.schema.labels if label not in defined]
                if not missing:
                    report.notes.append(f"{entry.id}: every label already has a definition; no guideline drafts")
                else:
                    jobs.append(_guideline_job(spec.model, cfg, entry, missing, defined, spec.seed, form))
        if spec.rules > 0:
            names = rule_names(entry, recipe.constants)
            jobs.append(_rules_job(spec.model, cfg, entry, spec.rules, names, spec.seed, form))
        if spec.hard_negatives and _fixed_labels(entry, "hard negatives", report):
            if len(entry.schema.labels or ()) < 2 if entry.schema is not None else True:
                report.notes.append(f"{entry.id}: a single label has nothing to be confused with; no hard negatives")
            else:
                jobs.append(_hard_negatives_job(spec.model, cfg, entry, spec.seed, form))
        if spec.examples > 0 and _fixed_labels(entry, "label examples", report):
            jobs.append(_examples_job(spec.model, cfg, entry, spec.examples, spec.seed, form))
    return jobs


def _run(client: LLMClient, jobs: list[_Job]) -> list[Any]:
    def recording(job: _Job) -> Callable[[Any], str | None]:
        def validate(value: Any) -> str | None:
            job.well_formed = job.well_formed or job.schema is None or conforms(value, job.schema)
            error = job.validate(value)
            if error is not None:
                job.last_error.append(error)
            return error
        return validate

    async def one(job: _Job) -> Any:
        try:
            return await client.complete_json(job.request, recording(job), ATTEMPTS, responses=job.responses)
        except RequestRejected as exc:  # this request's own failure (too long, refused): only this proposal is lost
            job.last_error.append(f"the server rejected the request: {exc.message}")
            return None

    async def go() -> list[Any]:
        try:
            answers: list[Any] = await asyncio.gather(*[one(j) for j in jobs])
            return answers
        finally:
            await client.aclose()

    return asyncio.run(go())


def _note_model(report: SynthReport, job: _Job, asked: str) -> None:
    served = job.responses[-1].served if job.responses else None
    said = served.model_label if served is not None else "unknown"
    note = (f"model {job.alias}: the recipe asks for '{asked}', but the server answered as '{said}'; "
            "the lockfile records the model that answered")
    if said != asked and note not in report.notes:
        report.notes.append(note)


# ----------------------------------------------------------------------------- entry point


def synthesize(recipe: Recipe, *, cache_dir: Path | None = None, lock_path: Path | None = None) -> SynthReport:
    """Propose assets for every entry with `synth:`, merged into the recipe's lockfile."""
    path = lock_path or recipe.lock_path or lock_path_for(recipe.path)
    report = SynthReport(path)
    if path.exists():
        load_lock(path)  # a broken lockfile is reported before any model is asked
    jobs = plan_jobs(recipe, report)
    if not any(e.synth for e in recipe.tasks):
        report.notes.append("no task entry has a `synth:` spec, so no model was asked and the lockfile was not written: "
                            "give an entry one, e.g. `synth: {model: writer, paraphrases: 2}` with `writer` a `models:` alias "
                            "(docs/llm.md, \"The synth spec\")")
    by_alias: dict[str, list[_Job]] = {}
    for job in jobs:
        by_alias.setdefault(job.alias, []).append(job)
    results: dict[int, Any] = {}
    root = Path(cache_dir if cache_dir is not None else recipe.cache_dir)
    if jobs:
        root.mkdir(parents=True, exist_ok=True)
        # shared, as a build holds it: `humc cache clean|gc` waits instead of removing the responses under us
        with cache_lock(root, command="humc synth"), open_cache(root / "llm") as cache:
            clients = {alias: LLMClient(recipe.models[alias], cache) for alias in by_alias}
            report.forms = {}
            for alias, client in clients.items():
                with client.config.declared_here():
                    report.forms[alias] = client.structured_form()
            jobs = plan_jobs(recipe, SynthReport(path), report.forms)  # the same jobs, asking in each model's form
            by_alias = {}
            for job in jobs:
                by_alias.setdefault(job.alias, []).append(job)
            for alias, group in by_alias.items():
                client = clients[alias]
                report.stats[alias] = client.stats
                with client.config.declared_here():
                    answers = _run(client, group)
                for job, value in zip(group, answers, strict=True):
                    results[id(job)] = value
    with editing_lock(path, "humc synth", recipe.name) as lock:  # as saved now: decisions made meanwhile are kept
        _merge(lock, jobs, results, recipe, report)
    report.awaiting = lock.count("proposed")
    return report


def _merge(lock: Lockfile, jobs: list[_Job], results: dict[int, Any], recipe: Recipe, report: SynthReport) -> None:
    """Add the new items the answers give to ``lock`` (an item already there is kept as it is) and save it."""
    if not lock.recipe_name:
        lock.recipe_name = recipe.name
    known = {item.id for item in lock.items}
    changed = False
    for job in jobs:
        value = results.get(id(job))
        report.answers[job.kind][1] += 1
        report.answers[job.kind][0] += value is not None
        report.well_formed[job.kind] += job.well_formed
        if value is None:
            reason = ("the reply was cut off at the model's max_tokens before its JSON ended: raise max_tokens"
                      if json_failure(job.responses) == TRUNCATED_REASON else
                      job.last_error[-1] if job.last_error else "the reply was not valid JSON")
            report.invalid.append((job.what, f"no valid answer after {ATTEMPTS} attempt(s): {reason}"))
            continue
        items, bad = job.collect(value)
        report.invalid.extend((job.what, reason) for reason in bad)
        _note_model(report, job, recipe.models[job.alias].model)
        for item in items:
            job.stamp(item)
            if item.id in known:
                report.kept += 1
                continue
            known.add(item.id)
            lock.items.append(item)
            report.proposed += 1
            report.by_kind[item.kind] += 1
            changed = True
    if changed:
        save_lock(lock)
