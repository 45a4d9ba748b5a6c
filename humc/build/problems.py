"""Per-record problems: source rows that cannot become a truthful training example.

A *problem* is a record whose output would contradict its own instruction (an answer the
format cannot express, a label the instruction never offers, a `None` in the prompt).
Render and check (``transforms``) find them; their chunk functions drop the record and
report it here, so the local and the Ray executor count the same things:

* counts go into the node's notes as ``problem: <reason>`` (stored beside every chunk, so
  a resumed build keeps whole counts);
* the first few locations per reason go into the node's meta under ``problems`` as
  ``[source id, row, detail, line]`` — the row is the record's ``source_row`` (0-based record
  index of the source), the line the 1-based line of the file where the record starts (None
  for formats without lines: then the record index is shown), and paths are resolved only
  when shown (``location``), so a cached meta does not depend on where the recipe lives.

Decisions: problems drop records by default and fail the build only with ``--strict`` /
``output: {strict: true}`` (E4103, raised before the write node touches the output folder).
Reason keys are stable: tests, summaries and cards name them.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from humc.errors import RecordError
from humc.ir import Recipe

PROBLEM_NOTE = "problem: "
META_KEY = "problems"
MAX_LOCATIONS = 5

REASONS: dict[str, str] = {
    "label_outside_set": "a gold label is outside the entry's `labels:`, so the instruction never offers it",
    "missing_input": "a task input that the instruction shows is missing or null",
    "non_text_input": "a task input that the instruction shows is not text",
    "bad_gold": "a gold answer item does not fit the task's answer columns",
    "empty_answer": "the answer is empty where the format (or the instruction) promises a value",
    "unparseable_output": "the rendered answer does not parse back in its own format",
    "output_differs": "the rendered answer parses back to something other than the gold answer",
    "rule_violated": "the gold answer breaks a preference rule its instruction states (applying the rule again "
                     "changes it)",
    "label_not_offered": "the gold answer uses a label the instruction does not list",
    "span_not_in_text": "a gold span (an extractive answer, entity or event trigger) does not occur in the input it is taken "
                        "from",
    "answer_not_an_option": "the multiple-choice answer is not one of the record's option labels",
    "options_unlabelled": "the options and their labels differ in number (more than 26 options without "
                          "`option_labels`), so the instruction would not show every option",
    "nan_value": "a task input or gold answer holds NaN or Infinity (not a number), which no instruction can show",
    "lone_surrogate": "a task input or gold answer holds half of a UTF-16 surrogate pair (JSON's \"\\ud83d\", an emoji "
                      "cut in two), which no UTF-8 file can store",
    "not_expressible": "the answer format cannot write this gold answer (overlapping spans as inline tags, a span "
                       "not verbatim in the text); only that format is skipped for the record",
}


@dataclass(frozen=True)
class Problem:
    """Why one record was dropped: a stable ``reason`` key of ``REASONS`` and a readable detail."""

    reason: str
    detail: str = ""


Located = list[Any]  # [source id, row, detail, line or None]


@dataclass
class ProblemLog:
    """Counts per reason plus the first ``MAX_LOCATIONS`` locations of each (one chunk or a whole node)."""

    counts: Counter[str] = field(default_factory=Counter)
    first: dict[str, list[Located]] = field(default_factory=dict)

    def add(self, problem: Problem, source: str, row: int, line: int | None = None) -> None:
        self.counts[problem.reason] += 1
        shown = self.first.setdefault(problem.reason, [])
        if len(shown) < MAX_LOCATIONS:
            shown.append([source, int(row), _one_line(problem.detail), None if line is None else int(line)])

    def notes(self) -> Counter[str]:
        return Counter({PROBLEM_NOTE + reason: n for reason, n in self.counts.items()})


MAX_DETAIL_CHARS = 300


def _one_line(detail: str) -> str:
    """A detail as shown on one warning line: line breaks escaped, at most ``MAX_DETAIL_CHARS`` characters (it may
    quote a record's value, which can be a whole document)."""
    detail = detail.replace("\r", "\\r").replace("\n", "\\n")
    return detail if len(detail) <= MAX_DETAIL_CHARS else detail[:MAX_DETAIL_CHARS] + f"… ({len(detail)} characters)"


def merge_first(into: dict[str, list[Located]], more: Mapping[str, list[Located]]) -> None:
    """Add a later chunk's first locations, keeping at most MAX_LOCATIONS per reason (chunk order)."""
    for reason, located in more.items():
        shown = into.setdefault(reason, [])
        shown.extend(located[:max(0, MAX_LOCATIONS - len(shown))])


# ---------------------------------------------------------------- reporting


@dataclass(frozen=True)
class ProblemRow:
    """One reason of one node, ready to show: ``first`` holds formatted `file:line (detail)` strings."""

    node: str
    reason: str
    count: int
    first: tuple[str, ...]
    locations: tuple[str, ...] = ()  # the same records' `file:line` without the detail


def location(recipe: Recipe, source: str, row: int, base: Path | None = None, line: int | None = None) -> str:
    """`file:line` for a record of a line-based source, else `file record N` (N: the 0-based record
    index); paths relative to ``base`` (default: the current folder)."""
    src = recipe.sources.get(source)
    if src is None or src.path is None:
        name = (src.dataset or {}).get("name", source) if src is not None else source
    else:
        try:
            name = os.path.relpath(src.path, base if base is not None else Path.cwd())
        except ValueError:  # another drive on Windows
            name = str(src.path)
    return f"{name}:{line}" if line is not None else f"{name} record {row}"


def problem_rows(recipe: Recipe, metas: Mapping[str, Mapping[str, Any]], base: Path | None = None) -> list[ProblemRow]:
    """Every counted problem of a build (or dry run), by node then reason."""
    rows = []
    for node, meta in metas.items():
        first = meta.get(META_KEY, {})
        for key, count in meta.get("notes", {}).items():
            if key.startswith(PROBLEM_NOTE) and count:
                reason = key[len(PROBLEM_NOTE):]
                located = first.get(reason, [])
                shown = tuple(_shown(recipe, loc, base) for loc in located)
                where = tuple(_where(recipe, loc, base) for loc in located)
                rows.append(ProblemRow(node, reason, int(count), shown, where))
    return rows


def warning_lines(rows: list[ProblemRow]) -> list[str]:
    """One line per reason (nodes merged), e.g. `dropped 1 record(s): label_outside_set (data.jsonl:2)`:
    what a quiet build still prints, so dropped records are never silent."""
    counts: Counter[str] = Counter()
    where: dict[str, list[str]] = {}
    detail: dict[str, str] = {}
    for r in rows:
        counts[r.reason] += r.count
        shown = where.setdefault(r.reason, [])
        shown += [w for w in r.locations if w not in shown][:max(0, MAX_LOCATIONS - len(shown))]
        if r.first and r.reason not in detail:
            detail[r.reason] = r.first[0][len(r.locations[0]):].strip() if r.locations else ""
    lines = []
    for reason, n in counts.items():
        line = f"dropped {n} record(s): {reason}"
        if where[reason]:
            line += f" ({', '.join(where[reason])}{', ...' if n > len(where[reason]) else ''})"
        if detail.get(reason):
            line += f", first: {detail[reason].removeprefix('(').removesuffix(')')}"
        lines.append(line)
    return lines


def _where(recipe: Recipe, loc: Located, base: Path | None) -> str:
    return location(recipe, loc[0], loc[1], base, loc[3] if len(loc) > 3 else None)


def _shown(recipe: Recipe, loc: Located, base: Path | None) -> str:
    where = _where(recipe, loc, base)
    return f"{where} ({loc[2]})" if len(loc) > 2 and loc[2] else where


# what to change when every record was dropped for one of these reasons (the E4104 of a build or of `check --rows all`)
EMPTY_HINTS = {
    "label_outside_set": "every gold label must be in `labels:` (a string there is one label, not a list or a "
                         "constant): list all the data uses, or leave `labels:` out to collect them",
    "span_not_in_text": "the gold spans must occur in the input they are copied from: check the `fields:` that map "
                        "the text and the answers",
    "missing_input": "a task input is null or missing: check the `fields:` that map the task's inputs",
    "bad_gold": "the gold answer must have the task's shape (`humc stdlib tasks TASK`: its answer field, its columns, "
                "a list or one value): map keys your data names otherwise in `fields:`, e.g. `entities: "
                "zip_records(type=entities.label, span=entities.text)`; `entities or []` reads a null list as none",
    "empty_answer": "a record without an answer needs a stated rule saying what to write, e.g. `preferences: "
                    "[unanswerable]` (reading comprehension), `[empty_brackets]`, or `when len(answer) == 0 then "
                    "empty_as(\"none\")`; where every record should have one, check the `fields:` that map the answer",
}


def empty_hint(rows: list[ProblemRow], default: str) -> str:
    """The E4104 hint: what to change for the problems that dropped the records, else ``default``."""
    said = [EMPTY_HINTS[r] for r in dict.fromkeys(row.reason for row in rows) if r in EMPTY_HINTS]
    return "; ".join(said) or default


def strict_error(rows: list[ProblemRow]) -> RecordError:
    """E4103: the build (or check) found problem records and strict mode forbids dropping them."""
    total = sum(r.count for r in rows)
    summary = ", ".join(f"{r.node} {r.reason}: {r.count}" for r in rows)
    notes = [f"{r.node}: {r.reason} ({r.count}): {REASONS.get(r.reason, r.reason)}; first at "
             + "; ".join(r.first) for r in rows]
    return RecordError(f"{total} record(s) with problems (strict mode): {summary}", code="E4103", notes=notes,
                       expected="every source row to become a record whose output matches its instruction",
                       hint="fix the rows or the recipe (`fields:`, `labels:`, `preferences:`, `formats:`), or build "
                            "without --strict / `output: {strict: true}` to drop these records; nothing was written")
