"""Build-time LLM nodes: `generate` (fill answers) and `judge` (LLM-as-judge filter).

Both work on one chunk of records at a time, as one concurrent batch through the cached
``LLMClient``: a rebuild (or a resumed build) replays answers from the cache and sends
nothing. A chunk is ``submit``ted (its prompts rendered here, its requests queued on the client's
session) and its result collected later, so the executor keeps the next chunk's requests queued
behind the current one's and the endpoint's slots never drain at a chunk boundary. ``LLMClients``
holds one client (one session, one connection pool, one response cache) per model for a whole
build. Each chunk counts its calls in its own ``LLMStats`` (``batch_stats``), so overlapping chunks
still store exact per-chunk notes. Structured outputs are validated — generated answers must parse as the task's
answer table, verdicts as {"score": 1-5, "reason": …}; invalid ones are retried by the
client with a correction message and finally dropped with a counted reason.

Who answered is kept in the node's notes (``llm/provenance.py``: the model id and fingerprint the
server reported, and the day), so the card names the model that answered, not the one the
recipe asked for, and ``model_warnings`` tells the build when the two differ.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from humc.answers import formats
from humc.answers.table import AnswerTable
from humc.build.store import LLM_FOLDER
from humc.build.transforms import choice_problem, option_labels, span_problem, squeezed
from humc.cachedb import CacheDB
from humc.errors import FormatParseError, Span
from humc.ir import LLMStep, Recipe, TaskDef, TaskEntry
from humc.llm.client import (
    Invalid,
    LLMClient,
    LLMRequest,
    LLMStats,
    ModelConfig,
    Outcome,
    batch_stats,
    open_cache,
)
from humc.llm.provenance import (
    ASKED_NOTE,
    EMPTY_NOTE,
    GENERATED_NOTE,
    SCORE_NOTE,
    UNKNOWN_MODEL,
    VALID_NOTE,
    answered_in,
    served_notes,
)
from humc.llm.structured import VERDICT_SCHEMA, answer_schema, response_format, strict_object
from humc.recipe.validate_llm import model_settings
from humc.resources import stdlib_dir
from humc.templating import TemplateRenderer

JSON_SPEC = formats.FormatSpec("json")
LANGUAGES = {"en": "English", "zh": "Chinese", "ja": "Japanese", "ko": "Korean"}  # named in the generate prompt
# the characters a free-text answer in these languages holds at least one of (checked by ``_in_language``)
SCRIPTS = {"zh": re.compile(r"[\u3400-\u9fff]"), "ja": re.compile(r"[\u3040-\u30ff\u3400-\u9fff]"),
           "ko": re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")}
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_PLACEHOLDER = re.compile(r"<[^<>]*>")  # a placeholder of the judge prompt's JSON, "<one short sentence>"
CACHE_DROPPED = "llm cache entries dropped"  # damaged cached answers asked for again (a note of the node)
# What is wrong with an answer that stays invalid after its retries: the record is counted under "dropped: invalid
# output (<kind>)" (``client.invalid_output``; a reply holding no JSON: "not JSON"). Stable names, listed in docs/llm.md.
WRONG_SHAPE = "wrong shape"                       # JSON, but not the task's answer table, a choice object or a verdict
LABEL_OUTSIDE = "label outside the label set"     # a label not in the entry's `labels:` (or its guidelines' labels)
OPTION_OUTSIDE = "option outside the options"     # a multiple-choice answer that is not one of its record's options
SPAN_NOT_IN_TEXT = "span not in the text"         # a span (`spans_from`) or copied value (`copied_from`) not in its input
EMPTY_SPAN = "empty span"                         # an empty span where the task copies one from its input
ROLE_OUTSIDE = "role outside the event type's roles"  # an argument role its event type lacks (`schema: {roles: …}`)
SCORE_OUTSIDE = "score outside 1-5"               # a verdict whose score is not an integer from 1 to 5
REASON_PLACEHOLDER = "reason copies the placeholder"  # a verdict whose reason is the prompt's "<one short sentence>"
# a multiple-choice record without options: nothing to choose from, so no call is sent (an empty `enum`, which a strict
# endpoint refuses, or a question no answer fits); the record is dropped under this reason
NO_OPTIONS = "no options to choose from"
_PROBLEM_KINDS = {"span_not_in_text": SPAN_NOT_IN_TEXT, "answer_not_an_option": OPTION_OUTSIDE,
                  "options_unlabelled": OPTION_OUTSIDE}  # build/problems.py's reasons an answer check meets


def _builtin_prompt(step: LLMStep) -> Path:
    return stdlib_dir() / "prompts" / f"{step.kind}.j2"


def prompt_text(step: LLMStep) -> str:
    return step.prompt if step.prompt is not None else _builtin_prompt(step).read_text("utf-8")


def prompt_origin(step: LLMStep) -> Span | None:
    """Where line 1 of the step's prompt is: in the recipe for an inline prompt, else the stdlib file."""
    return step.prompt_origin if step.prompt is not None else Span(str(_builtin_prompt(step)), 1, 1)


def step_config(step: LLMStep, model: ModelConfig) -> dict[str, Any]:
    """What goes into the node fingerprint: everything that changes the answers, never the key or URL."""
    return {"kind": step.kind, "model": model_settings(model), "field": step.field, "overwrite": step.overwrite,
            "min_score": step.min_score, "attempts": step.attempts,
            "prompt": hashlib.sha256(prompt_text(step).encode()).hexdigest()}


def is_structured(entry: TaskEntry) -> bool:
    return not (len(entry.task.columns) == 1 and entry.task.cardinality == "one")


ChunkOut = tuple[list[dict[str, Any]], Counter[str]]
Made = tuple[dict[str, Any] | None, tuple[str, ...]]  # what an asked record became (None: dropped) and its notes


class LLMClients:
    """The LLM clients of one build: one per model, each with a running session (``LLMClient.start``)
    and the response cache, opened when first asked for and closed together. ``ahead``: the first client's
    response cache starts opening now, in a thread (a new cache index costs tens of milliseconds of disk syncs,
    which then pass while the build's first nodes run instead of before its first request)."""

    def __init__(self, cache_dir: Path, *, ahead: bool = False) -> None:
        self.cache_dir = cache_dir
        self.clients: dict[str, LLMClient] = {}
        self._opening = _opened_aside(cache_dir / LLM_FOLDER) if ahead else None

    def get(self, model: ModelConfig) -> LLMClient:
        client = self.clients.get(model.name)
        if client is None:
            client = self.clients[model.name] = LLMClient(model, self._cache())
            client.start()
        return client

    def _cache(self) -> CacheDB:
        opening, self._opening = self._opening, None
        return opening.result() if opening is not None else open_cache(self.cache_dir / LLM_FOLDER)

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
            if client.cache is not None:
                client.cache.close()
        if self._opening is not None:  # opened ahead, never asked for: closed once open (without waiting for it)
            self._opening.add_done_callback(_close_opened)
        self.clients, self._opening = {}, None


def _close_opened(opening: concurrent.futures.Future[CacheDB]) -> None:
    if opening.exception() is None:
        opening.result().close()


def _opened_aside(folder: Path) -> concurrent.futures.Future[CacheDB]:
    """``open_cache(folder)`` in a thread of its own; its error, if any, is raised by ``result()``."""
    future: concurrent.futures.Future[CacheDB] = concurrent.futures.Future()

    def open_() -> None:
        try:
            future.set_result(open_cache(folder))
        except BaseException as exc:  # noqa: BLE001 - handed to whoever asks for the cache
            future.set_exception(exc)

    threading.Thread(target=open_, name="humc-llm-cache", daemon=True).start()
    return future


@dataclass
class PendingChunk:
    """A chunk whose requests are queued or in flight, as batches each counted in its own ``LLMStats``;
    ``parts()`` yields each batch's output records as it is answered, ``result()`` waits for them all and returns
    (records, notes) — the very record objects ``parts()`` gave."""

    batches: list[tuple[concurrent.futures.Future[list[Outcome]], LLMStats]]
    todo: list[list[dict[str, Any]]]                            # each batch's input records
    made: Callable[[list[dict[str, Any]], list[Outcome]], dict[int, Made]]
    finish: Callable[[dict[int, Made], list[LLMStats]], ChunkOut]
    done: dict[int, Made] = field(default_factory=dict)         # id(input record) -> what it became
    answered: int = 0                                           # batches whose answers are in ``done``

    def parts(self) -> Iterator[list[dict[str, Any]]]:
        """Each batch's output records (those kept), in order, as soon as that batch is answered."""
        while self.answered < len(self.batches):
            made = self._answer_next()
            yield [record for record, _ in made.values() if record is not None]

    def result(self) -> ChunkOut:
        while self.answered < len(self.batches):
            self._answer_next()
        return self.finish(self.done, [stats for _, stats in self.batches])

    def _answer_next(self) -> dict[int, Made]:
        future, _ = self.batches[self.answered]
        made = self.made(self.todo[self.answered], future.result())
        self.done.update(made)
        self.answered += 1
        return made

    def cancel(self) -> bool:
        return all([future.cancel() for future, _ in self.batches])


@dataclass
class StepRunner:
    step: LLMStep
    entry: TaskEntry
    client: LLMClient
    form: str | None = None        # structured-output form of the endpoint, resolved when first needed
    prompt: str = field(init=False)
    origin: Span | None = field(init=False)
    owns_client: bool = False      # opened by ``open``: closed by ``close``
    _dropped_seen: int = field(init=False, default=0)
    _render_prompt: TemplateRenderer = field(init=False)  # the prompt, compiled once, rendered per record
    _entry_variables: dict[str, Any] = field(init=False)  # the prompt's variables the entry sets for every record
    _roles: dict[str, tuple[str, ...]] = field(init=False)  # event type -> its roles (`schema: {roles: …}`), or empty

    def __post_init__(self) -> None:
        self.prompt, self.origin = prompt_text(self.step), prompt_origin(self.step)  # read once, rendered per record
        self._render_prompt = TemplateRenderer(self.prompt, f"{self.step.kind} prompt", self.origin)
        self._entry_variables = {"task": self.entry.task,
                                 "guidelines": [g.text for g in self.entry.guidelines if g.text],
                                 "labels": list(fixed_labels(self.entry) or ()), "language": language_name(self.entry)}
        self._roles = dict(self.entry.event_roles)
        self._dropped_seen = self.cache_dropped()

    @classmethod
    def open(cls, step: LLMStep, entry: TaskEntry, model: ModelConfig, cache_dir: Path) -> StepRunner:
        """A runner with a client of its own (a Ray task's); in a local build, ``LLMClients`` shares them."""
        client = LLMClient(model, open_cache(cache_dir / LLM_FOLDER))
        client.start()
        return cls(step, entry, client, owns_client=True)

    def structured_form(self) -> str:
        """Probed once per endpoint and model (then read from the LLM cache), and only by a step that has records to
        ask and sends a schema: a free-text step sends nothing, nor does a prompt that fails, except a label choice's
        (whether its prompt asks for JSON depends on the form)."""
        if self.form is None:
            self.form = self.client.structured_form()
        return self.form

    def response_format(self, record: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """What each request of this step asks for: a verdict, the task's answer table, a label or option of
        ``record`` (``label_choice``), or free text (None)."""
        if self.step.kind == "judge":
            return response_format(self.structured_form(), "verdict", VERDICT_SCHEMA)
        choice = self.label_choice()
        if choice is not None:
            enum = {"type": "string", "enum": list(self._choices(record or {}))}
            return response_format(self.structured_form(), "answer", strict_object({choice: enum}))
        if not is_structured(self.entry):
            return None
        task, labels = self.entry.task, fixed_labels(self.entry)
        enums = {task.schema_column: labels} if labels and task.schema_column else None
        schema = answer_schema(task.columns, task.cardinality, enums, spans=[c for c, _ in task.spans_from])
        return response_format(self.structured_form(), "answer", schema)

    def label_choice(self) -> str | None:
        """The answer column of a generate step whose one answer is a label of the entry's `labels:` (single-label
        classification) or an option label of its record (multiple choice), when the endpoint takes a schema: asked as
        ``{"<column>": one of the labels}``, so constrained decoding writes a label. As free text SmolLM2-135M
        (llama.cpp) answered every AG News record with a sentence ('The task is to assign the label "Sports" to the
        text …') and every ARC question with one ('False, the correct answer is "optical tools."')."""
        if not asks_label(self.step, self.entry):
            return None
        return choice_column(self.entry) if self.structured_form() != "off" else None

    def _choices(self, record: Mapping[str, Any]) -> tuple[str, ...]:
        """What a label choice picks from: the record's option labels (multiple choice), else the entry's `labels:`."""
        if self.entry.task.choice_of is not None:
            return tuple(str(label) for label in option_labels(record, self.entry.task.choice_of))
        return fixed_labels(self.entry) or ()

    def structured(self) -> bool:
        """Whether this step asks for JSON (a verdict, an answer table, a label choice) rather than free text."""
        return self.step.kind == "judge" or is_structured(self.entry) or self.label_choice() is not None

    def close(self) -> None:
        if self.owns_client:
            self.client.close()
            if self.client.cache is not None:
                self.client.cache.close()

    def run(self, chunk: list[dict[str, Any]]) -> ChunkOut:
        """One chunk, start to end."""
        return self.submit(chunk).result()

    def submit(self, chunk: list[dict[str, Any]]) -> PendingChunk:
        """Render the chunk's prompts (here, in the caller's thread) and queue its requests on the client's
        session; the returned ``PendingChunk`` collects the answers. Collect chunks in the order submitted."""
        todo = chunk if self.step.kind == "judge" else [r for r in chunk if self._needs_answer(r)]
        unasked: dict[int, Made] = {id(r): (None, (f"dropped: {NO_OPTIONS}",)) for r in todo if self._no_choices(r)}
        asked = [r for r in todo if id(r) not in unasked] if unasked else todo

        def finish(done: dict[int, Made], stats: list[LLMStats]) -> ChunkOut:
            return self._finish(chunk, len(asked), done, stats)

        made = self._generated if self.step.kind == "generate" else self._judged
        if not asked:  # nothing to send: no structured-output probe either, so such a build needs no server
            return PendingChunk([], [], made, finish, done=unasked)
        structured = self.structured()
        # a verdict and a label choice are checked alike for every record; an answer table against its record
        one_check = _check_verdict if self.step.kind == "judge" else None
        check = self._choice_check if self.label_choice() else self._answer_check
        batches, parts = [], []
        step = max(1, self.client.config.concurrency)  # the first requests go out after one slot-full is rendered
        for start in range(0, len(asked), step):
            parts.append(asked[start:start + step])
            requests = self._requests(parts[-1])
            validate: list[Callable[[Any], str | None]] | None = None
            if structured:
                validate = [one_check or check(r) for r in parts[-1]]
            stats = LLMStats()
            batch = self.client.outcomes(requests, json_mode=structured, validate=validate, attempts=self.step.attempts)
            batches.append((self.client.submit(batch_stats(stats, batch)), stats))
            if start == 0:  # the first slot-full goes out now; the rest of the chunk is rendered meanwhile
                self.client.settle()
        return PendingChunk(batches, parts, made, finish, done=unasked)

    def _finish(self, chunk: list[dict[str, Any]], asked: int, done: dict[int, Made],
                counted: list[LLMStats]) -> ChunkOut:
        records, notes = self._collected(chunk, done)
        if asked:
            form = self.structured_form() if self.structured() else "text"
            notes[ASKED_NOTE + form] += asked
            notes[VALID_NOTE] += asked - sum(v for k, v in notes.items() if k.startswith("dropped:") and
                                             "judge score" not in k and k != f"dropped: {NO_OPTIONS}")
        for stats in counted:
            after = stats.as_dict()
            for key, label in (("requests_sent", "llm requests"), ("cache_hits", "llm cache hits"),
                               ("retries", "llm retries"), ("prompt_tokens", "prompt tokens"),
                               ("completion_tokens", "completion tokens")):
                notes[label] += after[key]
            notes.update(served_notes({}, after))
        dropped, self._dropped_seen = self.cache_dropped() - self._dropped_seen, self.cache_dropped()
        if dropped > 0:  # only when it happened, so the metas of a healthy build stay the same
            notes[CACHE_DROPPED] += dropped
        return records, notes

    def cache_dropped(self) -> int:
        return int(getattr(self.client.cache, "dropped", 0))

    def _messages(self, record: Mapping[str, Any]) -> list[dict[str, str]]:
        variables = {**self._entry_variables, "record": record, "roles": self._shown_roles(record),
                     "structured": self.structured()}  # not at __post_init__: it may probe the endpoint
        return [{"role": "user", "content": self._render_prompt(variables)}]

    # ------------------------------------------------------------ generate

    def _generated(self, todo: list[dict[str, Any]], answers: list[Outcome]) -> dict[int, Made]:
        """id(record) -> (the record with its generated answer, its note) or (None, why it was dropped)."""
        field = self.step.field or self.entry.task.answer_field
        choice = self.label_choice()
        outcomes = [o if choice is None or o.value is None else Outcome(o.value[choice]) for o in answers]
        outcomes = self._shaped_outcomes(outcomes)
        if not is_structured(self.entry):
            outcomes = [self._in_input(record, self._in_labels(self._in_language(self._no_answer(record, o)), record))
                        for record, o in zip(todo, outcomes, strict=True)]
        outcomes = [self._verbatim(record, o) for record, o in zip(todo, outcomes, strict=True)]
        return {id(record): (None, (f"dropped: {outcome.reason}",)) if outcome.value is None
                else _filled(record, field, self._shaped(field, outcome.value))
                for record, outcome in zip(todo, outcomes, strict=True)}

    def _in_labels(self, outcome: Outcome, record: Mapping[str, Any]) -> Outcome:
        """A free-text answer that is a label (single-label classification, multiple choice) must be one of the
        entry's `labels:` (the record's option labels): written in another case or with a final period it is the
        label ("sports." -> "Sports"); otherwise it is dropped here, not later as gold outside `labels:` that seems to
        come from the source file."""
        if not asks_label(self.step, self.entry) or not isinstance(outcome.value, str):
            return outcome
        labels = self._choices(record)
        if outcome.value in labels:
            return outcome
        folded = {label.casefold(): label for label in labels}
        for answer in (outcome.value.strip().strip(".").strip(), bare_answer(outcome.value)):
            label = folded.get(answer.casefold()) or self._option_named(record, answer)
            if label is not None:
                return Outcome(label)
        if self.entry.task.choice_of is not None:
            return Outcome(None, "answer is not one of the option labels")
        return Outcome(None, f"answer is not one of the labels ({', '.join(labels)})")

    def _option_named(self, record: Mapping[str, Any], answer: str) -> str | None:
        """The label of the one option whose text the answer is (case, quotes and a final period aside): SmolLM2
        answered ARC questions as free text with an option's text ('The circulatory system', 'The answer is "an
        element"'), not its label."""
        if self.entry.task.choice_of is None or not isinstance(options := record.get(self.entry.task.choice_of), list):
            return None
        labels = [str(label) for label in option_labels(record, self.entry.task.choice_of)]
        key = bare_answer(answer).casefold()
        named = [label for label, option in zip(labels, options, strict=False)
                 if key and bare_answer(str(option)).casefold() == key]
        return named[0] if len(named) == 1 else None

    def _no_answer(self, record: Mapping[str, Any], outcome: Outcome) -> Outcome:
        """A free-text reply that as a whole says the question has no answer ('unanswerable', 'The question cannot be
        answered from the passage.', 'No answer', 'N/A') is the task's no-answer gold `[]` where `[]` is gold
        (`unanswerable: true`); it was dropped as 'answer not copied from the context'. A reply the input holds as
        whole words stays a span (a passage may say 'N/A'), and one that only contains such words is no such reply."""
        task = self.entry.task
        field = self.step.field or task.answer_field
        if not (task.answer_unanswerable and task.spans_from and field == task.answer_field
                and isinstance(outcome.value, str) and says_no_answer(outcome.value)):
            return outcome
        text = str(record.get(task.spans_from[0][1]) or "")
        if any(span_at(text, answer) is not None for answer in (outcome.value, bare_answer(outcome.value))):
            return outcome
        return Outcome([])

    def _in_input(self, record: Mapping[str, Any], outcome: Outcome) -> Outcome:
        """A free-text answer copied from the input (extractive MRC) must occur in it, as whole words: SmolLM2 answered
        SQuAD questions with its own sentences ('No.', 'The British Isles: England, …'), which the render stage then
        dropped as gold spans of the *source file* not in its text (E4104 with a hint at `fields:`); 'No' is in
        'Normans' only as a piece of a word."""
        task = self.entry.task
        if not task.spans_from or not isinstance(outcome.value, str):
            return outcome
        source = task.spans_from[0][1]
        for answer in dict.fromkeys((outcome.value, bare_answer(outcome.value))):
            if span_at(str(record.get(source) or ""), answer) is not None:
                return Outcome(answer)
        return Outcome(None, f"answer not copied from the {source}")

    def _verbatim(self, record: Mapping[str, Any], outcome: Outcome) -> Outcome:
        """A valid answer whose spans (`spans_from`, `copied_from`) are written as their input writes them. A span
        passes its check case and whitespace aside, and was kept as the model wrote it: SmolLM2 gave CoNLL04 the head
        'Vernon A. Walters Displayed photographs …' for the text's 'Vernon A. Walters displayed photographs …', and
        'S.C., have' for 'S.C. , have'."""
        task, value = self.entry.task, outcome.value
        copied = (*task.spans_from, *task.copied_from)
        if value is None or not copied:
            return outcome
        if isinstance(value, str):
            return Outcome(verbatim(str(record.get(copied[0][1]) or ""), value))
        rows = [dict(row) for row in value]
        for row in rows:
            for column, source in copied:
                span = row.get(column)
                if isinstance(span, str) and span and span != task.schema_missing:
                    row[column] = verbatim(str(record.get(source) or ""), span)
        return Outcome(rows)

    def _in_language(self, outcome: Outcome) -> Outcome:
        """A free-text answer in the entry's language, else dropped. Checked where a script tells: SmolLM2 answered
        Chinese instructions with English sentences ("The gold answer is a reference response."), after the question
        copied, which a zh dataset must not hold. Wrong: at least 3 words in Latin letters, and more of them than
        half the characters of the language's script (about its words); a short Latin answer ("H2O", "NBA") or a
        few English terms in a sentence stay."""
        script = SCRIPTS.get(self.entry.text_language)  # zh-TW, zh-Hant: zh
        text = outcome.value if isinstance(outcome.value, str) else ""
        if script is None or not text:
            return outcome
        latin = len(_LATIN_WORD.findall(text))
        if latin < 3 or latin <= len(script.findall(text)) / 2:
            return outcome
        return Outcome(None, f"answer not in {self.entry.language} (mostly Latin-script words)")

    def _collected(self, chunk: list[dict[str, Any]], done: dict[int, Made]) -> ChunkOut:
        """The chunk's output in chunk order (a record not asked about passes through) and its counted notes."""
        notes: Counter[str] = Counter()
        out = []
        for record in chunk:
            made = done.get(id(record))
            if made is None:
                out.append(record)
                continue
            kept, counted = made
            notes.update(counted)
            if kept is not None:
                out.append(kept)
        return out, notes

    def _shaped(self, field: str, value: Any) -> Any:
        """A generated single answer in the shape the task's answer field holds (a list for `list: true` tasks)."""
        task = self.entry.task
        return [value] if field == task.answer_field and task.answer_is_list and not isinstance(value, list) else value

    def _no_choices(self, record: Mapping[str, Any]) -> bool:
        """A multiple-choice record whose answer is to be generated but that has no options (no option labels)."""
        return (self.entry.task.choice_of is not None and asks_label(self.step, self.entry)
                and not self._choices(record))

    def _needs_answer(self, record: Mapping[str, Any]) -> bool:
        """Whether the field the step fills is empty. An empty list is not, for a task whose `[]` is gold saying the
        question is unanswerable (`unanswerable: true`): a SQuAD 2.0 recipe asked SmolLM2 its 17 unanswerable
        questions of 31, dropped them all ('answer not copied from the context') and kept only answerable ones."""
        field = self.step.field or self.entry.task.answer_field
        value = record.get(field)
        if value == [] and field == self.entry.task.answer_field and self.entry.task.answer_unanswerable:
            return self.step.overwrite
        return self.step.overwrite or value in (None, "", [])

    def _requests(self, records: list[dict[str, Any]]) -> list[LLMRequest]:
        """The chunk's requests: prompts rendered first, so a failing prompt sends nothing (not even a probe)."""
        messages = [self._messages(r) for r in records]
        if self.entry.task.choice_of is not None and self.label_choice():  # each record's own option labels
            return [LLMRequest(m, response_format=self.response_format(r)) for m, r in zip(messages, records, strict=True)]
        rf = self.response_format()
        return [LLMRequest(m, response_format=rf) for m in messages]

    def _choice_check(self, record: Mapping[str, Any]) -> Callable[[Any], str | None]:
        """A label choice is ``{"<column>": <one of the labels>}`` (of the record's options, for multiple choice)."""
        column, labels = self.label_choice(), self._choices(record)

        def validate(value: Any) -> str | None:
            if not isinstance(value, dict) or column not in value:
                return Invalid(f'expected an object {{"{column}": <one of {", ".join(labels)}>}}', WRONG_SHAPE)
            if self._in_labels(Outcome(value[column]), record).value is None:
                return Invalid(f"{column} {value[column]!r} is not one of the labels {', '.join(labels)}",
                               LABEL_OUTSIDE if self.entry.task.choice_of is None else OPTION_OUTSIDE)
            return None

        return validate

    def _answer_check(self, record: Mapping[str, Any]) -> Callable[[Any], str | None]:
        """Whether a generated answer for ``record`` is one its task can use: it parses as the answer table, its
        labels are the entry's `labels:` and its spans occur in the input. A real model invents labels ("PERSON",
        "en") and spans; told why, it may answer again, and an answer that stays wrong is dropped here, counted at
        this step, instead of reaching the render stage as gold that seems to come from the source file."""
        task, labels = self.entry.task, fixed_labels(self.entry)

        def validate(value: Any) -> str | None:
            try:
                table = formats.parse(JSON_SPEC, json.dumps(unwrap_answers(value, task)), task.columns, task.cardinality)
            except FormatParseError as exc:
                return Invalid(exc.message, WRONG_SHAPE)
            if labels and task.schema_column:
                outside = sorted({str(v) for v in table.column(task.schema_column)} - set(labels))
                if outside:
                    return Invalid(f"{task.schema_column} {', '.join(repr(v) for v in outside)} is not one of the "
                                   f"labels {', '.join(labels)}", LABEL_OUTSIDE)
            role = self._role_problem(record, table)
            if role is not None:
                return role
            for column, source in task.spans_from:
                if any(not str(value).strip() for value in table.column(column)):
                    return Invalid(f"a {column} is empty: copy each {column} from the {source} exactly", EMPTY_SPAN)
            problem = span_problem(self.entry, record, table) or choice_problem(self.entry, record, table)
            if problem is not None:
                return Invalid(problem.detail, _PROBLEM_KINDS.get(problem.reason, WRONG_SHAPE))
            return self._copied_problem(record, table)

        return validate

    def _role_problem(self, record: Mapping[str, Any], table: AnswerTable) -> Invalid | None:
        """A role its event type does not have, when the entry lists each type's roles (`schema: {roles: …}`); an empty
        role (an event without arguments) and a type the list does not name pass."""
        roles, task = self._roles, self.entry.task
        if not roles or task.roles_of is None:
            return None
        column, typed_by = task.roles_of
        types = table.column(typed_by) if typed_by in table.fields else [record.get(typed_by)] * len(table.rows)
        for role, event_type in zip(table.column(column), types, strict=True):
            allowed = roles.get(str(event_type))
            if role and allowed is not None and role not in allowed:
                return Invalid(f"{column} {role!r} is not a role of the event type {event_type!r}: use one of "
                               f"{', '.join(allowed)}", ROLE_OUTSIDE)
        return None

    def _shown_roles(self, record: Mapping[str, Any]) -> dict[str, list[str]]:
        """The roles the generate prompt lists (`roles`): the record's own event type's, when an input names it (EEA).
        Not every type's in EE: DuEE's 65 types with their roles took a prompt from 1,100 to 2,900 characters, over
        SmolLM2's 4,096-token context (HTTP 400 for 2 of 3 records); a role outside the type the model chose is
        asked again with that type's roles."""
        roles, task = self._roles, self.entry.task
        if not roles or task.roles_of is None or task.roles_of[1] not in task.inputs:
            return {}
        own = str(record.get(task.roles_of[1]))
        return {own: list(roles[own])} if own in roles else {}

    def _copied_problem(self, record: Mapping[str, Any], table: AnswerTable) -> Invalid | None:
        """A value of a `copied_from` column (an event's trigger or argument) that is not empty and not in its input:
        SmolLM2 answered DuEE with triggers '加息', '夺冠' and arguments '跌停' that its texts do not hold."""
        task = self.entry.task
        for column, source in task.copied_from:
            if column not in table.fields:  # an input (EEA's trigger): given, not generated
                continue
            text = squeezed(str(record.get(source) or ""))
            for value in table.column(column):
                if value and value != task.schema_missing and squeezed(value) not in text:
                    return Invalid(f"{column} {value!r} does not occur in the {source}: copy each {column} from it "
                                   "exactly", SPAN_NOT_IN_TEXT)
        return None

    def _shaped_outcomes(self, outcomes: list[Outcome]) -> list[Outcome]:
        if not is_structured(self.entry):
            return outcomes
        return [o if o.value is None else Outcome(_as_field_value(unwrap_answers(o.value, self.entry.task), self.entry.task))
                for o in outcomes]

    # ------------------------------------------------------------ judge

    def _judged(self, todo: list[dict[str, Any]], verdicts: list[Outcome]) -> dict[int, Made]:
        """id(record) -> (the record, its score note) when kept, else (None, why it was dropped)."""
        made: dict[int, Made] = {}
        for record, verdict in zip(todo, verdicts, strict=True):
            if verdict.value is None:
                made[id(record)] = (None, (f"dropped: judge {verdict.reason}",))
                continue
            score = int(verdict.value["score"])
            if score < self.step.min_score:
                made[id(record)] = (None, (f"{SCORE_NOTE}{score}", f"dropped: judge score < {self.step.min_score}"))
            else:
                made[id(record)] = (record, (f"{SCORE_NOTE}{score}",))
        return made


def model_warnings(recipe: Recipe, metas: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One line per LLM step whose server answered as a model other than the one the recipe asks for."""
    lines = []
    for entry in recipe.tasks:
        for step in (entry.generate, entry.judge):
            if step is None or step.model not in recipe.models:
                continue
            asked = recipe.models[step.model].model
            node = f"{entry.id}/{step.kind}"
            others = sorted(m for m in answered_in(metas.get(node, {}).get("notes", {})).models if m != asked)
            if others:
                who = ", ".join(f"'{m}'" if m != UNKNOWN_MODEL else "an unknown model (answers cached before humc "
                                "recorded who answered)" for m in others)
                lines.append(f"{node}: the recipe asks model '{step.model}' for '{asked}', but the server answered "
                             f"as {who}; the card names the model that answered")
    return lines


def language_name(entry: TaskEntry) -> str:
    """The entry's language as the generate prompt names it: "Chinese", "Chinese (zh-TW)", or the tag itself."""
    name = LANGUAGES.get(entry.text_language)
    if name is None:
        return entry.language
    return name if entry.language == entry.text_language else f"{name} ({entry.language})"


def asks_label(step: LLMStep, entry: TaskEntry) -> bool:
    """Whether ``step`` generates one label of the entry's `labels:` (single-label classification) or an option label
    (multiple choice): then it is asked as a choice from an ``enum`` where the endpoint takes a schema
    (``StepRunner.label_choice``)."""
    column = choice_column(entry)
    return (step.kind == "generate" and not is_structured(entry) and column is not None
            and column == (step.field or entry.task.answer_field))


def choice_column(entry: TaskEntry) -> str | None:
    """The answer column that holds one of a fixed set of labels: a multiple-choice task's option label, else the
    label column of an entry with `labels:`."""
    task = entry.task
    if task.choice_of is not None:
        return task.columns[0]
    return task.schema_column if fixed_labels(entry) else None


def fixed_labels(entry: TaskEntry) -> tuple[str, ...] | None:
    """The labels a generated answer may use: the entry's `labels:`, else the labels its guidelines define (DuEE's 65
    event types); None when it has neither (its labels come from the data) or no label schema. Without them in the
    prompt and the schema, SmolLM2 wrote DuEE events of type "1" and "事件1", and all were kept."""
    if entry.schema is None:
        return None
    if entry.schema.labels:
        return entry.schema.labels
    return tuple(dict.fromkeys(label for g in entry.guidelines for label, _ in g.labels)) or None


def unwrap_answers(value: Any, task: TaskDef | None = None) -> Any:
    """A list answer sent as ``{"answers": [...]}`` (a schema's root is an object) -> the list. With ``task`` (of
    cardinality many), one object of exactly an answer row's keys, bare or as ``{"answers": {...}}``, is a list of
    that one row: a model asked for relations answered one as ``{"head": …, "relation": …, "tail": …}``, which was
    refused as 'expected a list of answers, found dict'. Any other object stays what it is (and is refused)."""
    if isinstance(value, dict) and list(value) == ["answers"]:
        if isinstance(value["answers"], list):
            return value["answers"]
        if _one_row(value["answers"], task):
            return [value["answers"]]
    return [value] if _one_row(value, task) else value


def _one_row(value: Any, task: TaskDef | None) -> bool:
    """Whether ``value`` is one object whose keys are exactly the answer columns of ``task``'s list answer."""
    return (task is not None and task.cardinality == "many" and isinstance(value, dict)
            and len(value) == len(task.columns) and set(value) == set(task.columns))


# the lead-in of a free-text answer that is no part of it: SmolLM2 answered an AG News label 'The answer is:\nWorld.'
# and SQuAD questions 'The answer is "Normans"', 'The answer is: "10th century"'
_LEAD_IN = re.compile(r"(?:the\s+)?(?:correct\s+)?answer\s+is\b\s*:?\s*", re.IGNORECASE)
_QUOTES = "\"'“”‘’「」『』"


def bare_answer(text: str) -> str:
    """A free-text answer without a lead-in ("The answer is:"), enclosing quotes and a final period, which a label, an
    option or a span copied from the input does not have."""
    answer = text.strip()
    lead = _LEAD_IN.match(answer)
    return (answer[lead.end():] if lead else answer).strip(_QUOTES + ". \t\n")


# a whole reply saying a reading-comprehension question has no answer (the `unanswerable` rule asks for the first)
_NO_ANSWER = re.compile(
    r"unanswerable|not answerable|no answer|there is no answer|n/?a|none|no answer (?:is )?(?:given|found|provided)"
    r"|(?:the |this )?question (?:cannot|can ?not|can't|could not|is not able to) be answered"
    r"(?: (?:from|with|based on|using|given) (?:the |this )?(?:given |provided )?(?:passage|context|text|information))?"
    r"|(?:the |this )?(?:passage|context|text) does not (?:contain|give|provide|say|mention|state) (?:the |an )?answer"
    r"(?: to (?:the|this) question)?"
    # SmolLM2: 'The answer to the question "What Viking groups were conquered by Rollo?" is not provided in the passage.'
    r"|(?:the answer(?: to (?:the |this )?question(?: [\"“][^\"“”]*[\"”])?)? is )?not (?:provided|given|found|stated|mentioned"
    r"|contained|available) in (?:the |this )?(?:given |provided )?(?:passage|context|text)"
    r"|无法回答|不能回答|没有答案|无答案|原文中没有答案|无法从原文中回答",
    re.IGNORECASE)


def says_no_answer(text: str) -> bool:
    """Whether a free-text reply, a lead-in, quotes and a final period aside, is only a statement that there is no
    answer: 'Unanswerable.', 'The answer is: "N/A"', 'The question cannot be answered from the passage.'."""
    return _NO_ANSWER.fullmatch(" ".join(bare_answer(text).split()).strip("。！!")) is not None


def verbatim(text: str, span: str) -> str:
    """``span`` as ``text`` writes it: where it occurs there case and whitespace aside (``squeezed``; as whole words
    when it does so somewhere, see ``span_at``), else ``span`` itself."""
    where = span_at(text, span) or span_at(text, span, whole_words=False)
    return span if where is None else text[where[0]:where[1]]


def span_at(text: str, span: str, *, whole_words: bool = True) -> tuple[int, int] | None:
    """The first (start, end) in ``text`` where ``span`` occurs case and whitespace aside, and, with ``whole_words``,
    not as a piece of a longer word (``_in_word``): a free-text answer 'No' is not in 'the Normans'. A match ends at
    whole characters: 'strass' is not in 'Straße' ('ß' folds to 'ss', and 'e' would be left over)."""
    folded: list[str] = []
    at: list[int] = []  # the index in ``text`` of each character of ``folded``
    for i, char in enumerate(text):
        if not char.isspace():
            for part in char.casefold():
                folded.append(part)
                at.append(i)
    target, joined = squeezed(span), "".join(folded)
    start = joined.find(target) if target else -1
    while start >= 0:
        last = start + len(target) - 1
        begin, end = at[start], at[last] + 1
        whole_chars = (start == 0 or at[start - 1] != begin) and (last + 1 == len(at) or at[last + 1] != at[last])
        if whole_chars and not (whole_words and (_in_word(text, begin - 1, begin) or _in_word(text, end - 1, end))):
            return begin, end
        start = joined.find(target, start + 1)
    return None


_UNSPACED = ((0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x2E80, 0x10FFFF))  # Thai, Lao, Myanmar, Khmer, CJK…


def _in_word(text: str, left: int, right: int) -> bool:
    """Whether text[left] and text[right] are both letters or digits of a script that spaces its words (Latin, Greek,
    Cyrillic, …, accented letters too: 'No' is not in 'Noël'): a word goes on across them. Scripts written without
    spaces (Chinese, Japanese, Thai, …) have no word edges to check."""
    return all(0 <= i < len(text) and text[i].isalnum() and not _unspaced(text[i]) for i in (left, right))


def _unspaced(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _UNSPACED)


def _filled(record: dict[str, Any], field: str, answer: Any) -> Made:
    """The record with its generated answer, and its notes (an empty list answer is counted apart)."""
    return {**record, field: answer}, (GENERATED_NOTE, EMPTY_NOTE) if answer == [] else (GENERATED_NOTE,)


def _check_verdict(value: Any) -> str | None:
    if not isinstance(value, dict) or "score" not in value:
        return Invalid('expected an object {"score": <1-5>, "reason": "..."}', WRONG_SHAPE)
    score = value["score"]
    # finite first: a reply's `Infinity`, `NaN` or 1e400 (Python's JSON reads them) has no int()
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score) or score != int(score) \
            or not 1 <= score <= 5:
        return Invalid(f"score must be an integer from 1 to 5, got {score!r}", SCORE_OUTSIDE)
    reason = value.get("reason")
    if isinstance(reason, str) and _PLACEHOLDER.fullmatch(reason.strip()):
        # SmolLM2 judged a GoEmotions record {"reason": "<one short sentence>", "score": 1}: a score no reason led to
        return Invalid(f"the reason {reason.strip()!r} copies the prompt's placeholder: write your own one-sentence "
                       "reason about this response, then its score", REASON_PLACEHOLDER)
    return None


def _as_field_value(value: Any, task: TaskDef) -> Any:
    """A validated JSON answer -> the record field shape gold_table expects (list of objects). A label set (the
    answer's one column is the label: multi-label classification) names each label once: SmolLM2 listed GoEmotions'
    "love" twice among 13 labels, and the dataset kept `love, love` as gold."""
    rows = formats.parse(JSON_SPEC, json.dumps(value), task.columns, task.cardinality).as_dicts()
    if task.columns == (task.schema_column,) and task.cardinality == "many":
        return [dict(row) for row in dict.fromkeys(tuple(row.items()) for row in rows)]
    return rows
