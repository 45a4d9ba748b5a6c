"""Compiler-style diagnostics: one exception tree, stable codes, text and JSON renderings.

Every user-facing failure is a ``HumcError`` with a stable code. Errors that point into a file
carry a ``Span`` and render like a compiler::

    recipes/mrc.hum.yaml:28:11: error[E2003]: unknown task 'mrc_extractiv'
      28 |     task: mrc_extractiv
                     ^~~~~~~~~~~~~
      hint: did you mean 'mrc_extractive'?

The tree (exit code 2 for all of them; internal bugs are plain exceptions, exit 3)::

    HumcError                 E9xxx when nothing more specific applies
    ├── RecipeError           E0xxx YAML and structure, E1xxx DSL syntax, E2xxx names and types, E3xxx graph
    │   ├── SecretError       E2013 a secret in a recipe: located, but its line is never quoted
    │   └── RecipeWarning     W0xxx located, never raised: `humc check` and a build print it and go on
    ├── SourceError           E4xxx run time: sources and records
    │   └── RecordError       a record that cannot become a training example
    │       └── EvalError     an expression failed on a record
    ├── FormatParseError      E42xx text that does not parse in an answer format
    ├── LLMError              E43xx an LLM endpoint failed for good
    │   └── RequestRejected   one request failed for a reason of its own
    ├── PublishError          E5xxx publishing to the Hub
    └── ErrorList             several diagnostics of one stage, reported together

Every exception a user can see is one of these. The few other exception classes are internal signals, each
caught inside the module or stage that raises it (a lost cache chunk, a retryable HTTP status, a template over a
size limit) and turned into one of these before it reaches the CLI.

A code, once published, is never reused; ``CODES`` holds each code's title and explanation
(``humc explain CODE``). This module imports nothing from humc.
"""

from __future__ import annotations

import difflib
import errno
import io
import itertools
import os
import re
import stat
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any


@dataclass(frozen=True)
class Span:
    """A region of a source file; line and column are 1-based, end is exclusive."""

    file: str
    line: int
    col: int
    end_line: int | None = None
    end_col: int | None = None

    def shifted(self, line_offset: int, col: int, end_col: int | None = None) -> Span:
        """A span inside this one (used for DSL expressions embedded in a YAML scalar)."""
        line = self.line + line_offset
        base_col = self.col if line_offset == 0 else 1
        return Span(self.file, line, base_col + col - 1, line, None if end_col is None else base_col + end_col - 1)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


Place = tuple[int, int, int]  # where one character of a text is in its file: line, column, end column (exclusive)
_TEMPLATE_LINES = re.compile(r"\r\n|\r|\n")  # Jinja2's line breaks (it counts template lines at these)


@dataclass(frozen=True)
class TextSpan(Span):
    """Where a text read from a YAML scalar starts, with the place in the file of each of its characters: a quoted
    scalar's escapes, a folded scalar's joined lines and a block scalar's indentation make text positions and file
    positions differ, so an error inside the text (a DSL expression, a template) is located through ``places``."""

    text: str = field(default="", repr=False, compare=False)
    places: tuple[Place, ...] = field(default=(), repr=False, compare=False)

    def of(self, start: int, end: int | None = None) -> Span:
        """The span of ``text[start:end]`` (of the end of the text, when ``start`` is past its last character)."""
        if not self.places:
            return Span(self.file, self.line, self.col)
        if start >= len(self.places):
            line, _, col = self.places[-1]
            return Span(self.file, line, col, line if end is not None else None, col + 1 if end is not None else None)
        line, col, end_col = self.places[start]
        if end is None:
            return Span(self.file, line, col)
        last = self.places[max(start, min(end, len(self.places)) - 1)]
        return Span(self.file, line, col, line, last[2] if last[0] == line else end_col)

    def at(self, line: int, col: int = 1, width: int = 0) -> Span:
        """The span of column ``col`` (1-based, ``width`` characters wide when known) of line ``line`` of the text,
        as a template error names it."""
        starts = [0, *(m.end() for m in _TEMPLATE_LINES.finditer(self.text))]
        start = starts[min(max(line, 1), len(starts)) - 1]
        ends = _TEMPLATE_LINES.search(self.text, start)
        end = ends.start() if ends else len(self.text)
        at = min(start + max(col, 1) - 1, end)
        if col <= 1 and not width:  # the line only: at its first word (a folded line break's space is no place)
            at += len(self.text[at:end]) - len(self.text[at:end].lstrip(" \t")) if self.text[at:end].strip() else 0
        return self.of(at, at + width if width else None)

    def lined(self) -> str:
        """The text with each space a folded line break became written as a line break again (as long, and the same
        template to Jinja2), so that its lines are the file's."""
        folds = [i for i in range(len(self.text) - 1)
                 if self.text[i] == " " and self.places[i + 1][0] > self.places[i][0]]
        if not folds:
            return self.text
        chars = list(self.text)
        for i in folds:
            chars[i] = "\n"
        return "".join(chars)

    def sliced(self, start: int, end: int) -> TextSpan:
        """The span of ``text[start:end]``, itself a text span."""
        places = self.places[start:end]
        first = self.of(start)
        return TextSpan(self.file, first.line, first.col, text=self.text[start:end], places=places)


OUT_OF_FILES = frozenset({errno.EMFILE, errno.ENFILE})  # the process's or the system's open-file limit: E9002


class HumcError(Exception):
    """Base class of every error humc reports to a user (exit code 2 unless overridden)."""

    exit_code = 2
    default_code = "E9001"
    severity = "error"  # "warning": a ``RecipeWarning``, reported without stopping anything
    quote_source = True  # show the offending line under the location (False when the line may hold a secret)
    exit_at_once = False  # exit without Python's shutdown (it would join a thread stuck on a dead worker's pipe)

    def __init__(self, message: str, span: Span | None = None, *, expected: str | None = None,
                 hint: str | None = None, notes: Iterable[str] = (), code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.expected = expected
        self.hint = hint
        self.notes = list(notes)
        self.code = code or self.default_code

    def head(self) -> str:
        """The first line: ``file:line:col: error[CODE]: message`` (a warning says ``warning``)."""
        label = f"{self.severity}[{self.code}]"
        return f"{self.span}: {label}: {self.message}" if self.span else f"{label}: {self.message}"

    def render(self) -> str:
        lines = [self.head()]
        if self.span and self.quote_source:
            lines.extend(_snippet(self.span))
        if self.expected:
            lines.append(f"  expected: {self.expected}")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()

    def diagnostics(self) -> list[dict[str, Any]]:
        """The machine-readable form (``--format json``): one dict per diagnostic."""
        span = self.span
        return [{"code": self.code, "severity": self.severity, "message": self.message,
                 "file": span.file if span else None, "line": span.line if span else None,
                 "column": span.col if span else None, "end_line": span.end_line if span else None,
                 "end_column": span.end_col if span else None,
                 "expected": self.expected, "hint": self.hint, "notes": self.notes}]


class RecipeError(HumcError):
    """The recipe (YAML or an embedded expression) is invalid."""

    default_code = "E0001"


class RecipeWarning(RecipeError):
    """What a recipe says that humc reads, located and with a W code, but most likely not as meant (a role listed
    twice). Never raised: the validator collects them and `humc check` and a build print them with the notes."""

    default_code = "W0001"
    severity = "warning"


class SecretError(RecipeError):
    """A recipe holds (or names as a variable) what looks like a secret. The diagnostic gives the location
    but never the value or the line that holds it."""

    default_code = "E2013"
    quote_source = False


class SourceError(HumcError):
    """A data source is missing or malformed."""

    default_code = "E4001"


class RecordError(SourceError):
    """A record cannot be turned into a training example (bad gold answer, failing expression)."""

    default_code = "E4101"


class EvalError(RecordError):
    """An expression failed on a particular record."""

    default_code = "E4102"


class FormatParseError(HumcError):
    """Text that does not parse in the expected answer format."""

    default_code = "E4201"


class PublishError(HumcError):
    """Publishing to the Hub failed."""

    default_code = "E5001"


class LLMError(HumcError):
    """An LLM backend failed for good (after retries)."""

    default_code = "E4301"


class RequestRejected(LLMError):
    """One request failed for a reason of its own (HTTP 400/413/422, a malformed completion):
    callers may drop that record and go on, unlike endpoint-wide failures."""

    default_code = "E4302"


@dataclass
class ErrorList(HumcError):
    """Several diagnostics reported together (validation collects all it can find)."""

    errors: list[HumcError] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(f"{len(self.errors)} error(s)")

    def render(self) -> str:
        body = "\n\n".join(e.render() for e in self.errors)
        return f"{body}\n\n{len(self.errors)} error(s); nothing was written."

    def diagnostics(self) -> list[dict[str, Any]]:
        return [d for e in self.errors for d in e.diagnostics()]


@dataclass(frozen=True)
class Code:
    """A diagnostic code: its title and what to do about it (``humc explain CODE``)."""

    title: str
    explanation: str


def _codes(*rows: tuple[str, str, str]) -> dict[str, Code]:
    return {code: Code(title, text) for code, title, text in rows}


CODES: dict[str, Code] = _codes(
    # E0xxx: YAML and structure
    ("E0001", "invalid recipe", "The recipe does not have the expected structure. The message names the key or value."),
    ("E0002", "invalid YAML", "The file is not valid YAML at the position shown. Check indentation (spaces, not tabs), "
              "quoting and unbalanced brackets around that position."),
    ("E0003", "duplicate key", "A mapping names the same key twice; YAML would silently keep only the last one."),
    ("E0004", "unsupported YAML feature", "Recipes are plain YAML: custom !tags, merge keys (<<) and recursive aliases "
              "are refused so that a recipe means the same to every reader."),
    ("E0005", "unknown key", "The key is not part of the recipe language at this place. The hint suggests the nearest "
              "known key; `humc explain` of the schema is in docs/recipe.schema.json."),
    ("E0006", "missing required key", "A required key is absent from the mapping shown."),
    ("E0007", "wrong type", "The value has the wrong type (for example a list where a string is expected)."),
    ("E0008", "invalid value", "The value has the right type but is out of range or malformed (a negative count, "
              "split fractions that do not add up to 1, a bad name)."),
    ("E0009", "unreadable file", "A file named on the command line or in the recipe cannot be read: it is missing, "
              "empty, a folder, not UTF-8 text, or (a `.json` constant file) not valid JSON."),
    ("E0010", "input over a limit", "The input exceeds one of humc's resource limits (YAML alias expansion, nesting "
              "depth, integer size, recipe size, rendered text size). The limits protect builds from inputs that "
              "would exhaust memory or time; real recipes stay far below them."),
    ("E0011", "unsupported recipe version", "`hum:` names a recipe-language version this humc does not know."),
    ("E0012", "misplaced stdlib file", "A `stdlib:` folder holds something where humc does not look: a folder named "
              "almost like one humc reads (`template/` for `templates/`), or a template outside `templates/<task>/`. "
              "humc would pass over it in silence; the message says where it belongs."),
    # E1xxx: DSL syntax
    ("E1001", "expression syntax error", "An expression (field path, filter, pipeline or rule) does not parse. The caret "
              "points at the first token that does not fit; `expected` lists what would."),
    ("E1002", "invalid rule", "A preference rule is malformed: `when <condition> then <operations>`, a stdlib rule id, "
              "or a mapping with id/text/when/then."),
    # E2xxx: names and types
    ("E2001", "unknown name", "A name used in an expression is neither a mapped field nor a constant."),
    ("E2002", "unknown source", "A task entry names a source that `sources:` does not declare."),
    ("E2003", "unknown task", "The task is not in the standard library (`humc stdlib tasks`) or an added stdlib folder."),
    ("E2004", "unknown function", "Expressions may call only the whitelisted functions listed in README.md, with "
              "arguments that fit their signatures (count and keyword names; in a pipeline the value before `|` is "
              "the first argument)."),
    ("E2005", "unknown preference rule or operation", "The rule id is not in the stdlib (`humc stdlib rules`), or a "
              "`then` pipeline uses an operation that does not exist or names a column the answer lacks."),
    ("E2006", "unknown or unsuitable format", "The format variant, codec or modifier does not exist "
              "(`humc stdlib variants`) or cannot express this task's answer."),
    ("E2007", "unknown template", "The template id is not among the task's templates (`humc stdlib templates`)."),
    ("E2008", "unknown guideline", "The guideline id is not in the stdlib (`humc stdlib guidelines`)."),
    ("E2009", "unknown model", "An LLM step names a model that `models:` does not declare."),
    ("E2010", "bad field mapping", "`fields:` must map every input and answer field of the task with an expression, "
              "and may not use reserved names. A field the recipe maps must be read by something (the task, "
              "`where:`, `split_by:`, a rule's `when`, an LLM step): a key nothing reads, such as `txt:` written "
              "beside a catalog adapter's `text`, is most likely a misspelling of the field it meant to replace."),
    ("E2011", "template error", "An instruction, prompt or card template does not parse or uses a variable that is "
              "not available."),
    ("E2012", "unsafe template", "Templates run in Jinja2's immutable sandbox: access to private attributes "
              "(`__class__`, `__globals__`, …), to Python internals and to mutating methods is refused. Use only the "
              "template variables the task provides."),
    ("E2013", "secret in a recipe", "API keys never go in a recipe: `api_key_env` names an environment variable "
              "(such as OPENAI_API_KEY) that holds the key."),
    ("E2014", "bad language code", "The language is not a language code (ISO 639: en, zh, de …; a region may follow: pt-BR)."),
    ("E2015", "unknown catalog dataset", "A source names a dataset adapter (`catalog:`) that neither the stdlib "
              "catalog nor a recipe's `stdlib:` folder holds; `humc stdlib catalog` lists them."),
    ("E2016", "catalog adapter cannot read this version", "A source names a dataset adapter (`catalog:`) and a "
              "version of the dataset it has no layout for: its Parquet export, a `save_to_disk` folder or a "
              "`dataset:` when the adapter reads only the files the dataset is published in, or a JSON (Lines) "
              "file of records given to an adapter of column files (CoNLL), or a CSV/TSV table given to an adapter "
              "that reads JSON (SQuAD) (`humc stdlib catalog "
              "NAME` shows its files and `hub_layout`). Point `path:` at the published files, or drop `catalog:` and "
              "map the columns under the task's `fields:`."),
    ("E2018", "unknown hard-negative map", "`schema: {hard_negatives: NAME}` names no map in stdlib/hard_negatives "
              "(or an added stdlib folder); give an inline mapping label -> [confusable labels] instead."),
    # E3xxx: graph, paths and outputs
    ("E3001", "duplicate id", "Two task entries (or sources) share an id; ids name graph nodes and must be unique."),
    ("E3002", "unusable folder", "The output or cache folder cannot be used: it is a file, not writable, "
              "overlaps the recipe's own files, or (`output.dir` in a recipe) lies outside the recipe's folder."),
    ("E3003", "folder not owned by humc", "humc replaces only folders it wrote itself (proved by their build.json "
              "manifest), and only the files `humc eval`, `humc schema` or `humc export` wrote. Choose an empty or "
              "new folder with --out (a new file with --report, --markdown or `humc schema --out`), or remove the "
              "folder yourself."),
    ("E3004", "folder in use", "Another humc command (a build, `humc push`, `humc cache gc|clean|verify`) is using the "
              "output or cache folder, and --no-wait said not to wait for it. Without --no-wait humc waits, saying "
              "so on stderr; nothing was written."),
    # E4xxx: run time
    ("E4001", "bad source data", "A source file is missing or malformed at the location shown."),
    ("E4002", "source format unknown", "The format of a source cannot be told from its name or content; set `format:`. "
              "An archive is no data file: name the file inside with `member:` (zip, tar), or extract it."),
    ("E4101", "bad record", "A record cannot become a training example (its gold answer does not fit the task)."),
    ("E4102", "expression failed on a record", "An expression raised an error on the record named in the message "
              "(the task's answer read from a field the file lacks: a split released without gold answers), or a "
              "field uses a bare `record` (the whole row) where the rows have a column named `record`: read that "
              "column as record[\"record\"]."),
    ("E4103", "records with problems (strict)", "With --strict (or `output: {strict: true}`), any record dropped for "
              "a problem (label outside the label set, missing or non-text field, an answer the format cannot "
              "express) fails the build. The build summary lists the reasons and the first source locations."),
    ("E4104", "no records", "The build would write an empty dataset: every record was filtered, sampled or dropped. "
              "The build summary shows where records were lost."),
    ("E4201", "unparseable answer", "Text does not parse in the expected answer format."),
    ("E4202", "template failed", "A template failed while rendering a record."),
    ("E4301", "LLM endpoint failed", "An LLM endpoint failed for good after retries (unreachable, auth, 5xx)."),
    ("E4302", "LLM request rejected", "One LLM request was rejected for a reason of its own; the record is dropped."),
    ("E4303", "structured output rejected", "The server rejects the `structured_output` form the model forces "
              "(json_schema or json_object); `auto` picks the best form it accepts (docs/llm.md)."),
    ("E4401", "cache problem", "The build cache cannot be used; `humc cache clean` empties it."),
    ("E4402", "render worker died", "A worker process of `humc build -j N` ended abruptly (killed, e.g. by the "
              "out-of-memory killer); the chunks finished before are saved and the next build resumes from them. "
              "Fewer workers (-j) need less memory."),
    # E5xxx: publishing
    ("E5001", "publishing failed", "Publishing to the Hub failed; the message carries the status and a hint. A "
                                   "repository or branch the failed push created is removed again while it is "
                                   "still empty (a note says so)."),
    ("E5002", "stale build", "The folder was built from an older version of the recipe; build again before pushing."),
    ("E5003", "repository holds other content", "The Hub repository (or branch) holds files that humc did not "
              "publish (it has no build.json): humc publishes into a new or empty repository, or one it published to "
              "before, and never mixes its dataset with other files. Publish to another repository, or remove them. "
              "Or its build.json names another recipe: publishing would replace that dataset; `humc push --replace` "
              "does so on purpose."),
    ("E5004", "public repository for a private dataset", "The dataset is to be private (--private, or publish.private) "
              "but the existing Hub repository is public; humc sets the visibility only when it creates a repository. "
              "Make the repository private on the Hub, publish to another one, or pass --public."),
    # E6xxx: evaluation and export
    ("E6001", "not a built dataset", "The folder is not a dataset humc built (no data/<split>-*.parquet), or lacks the "
              "split asked for; build the recipe first, or pick a split with --split."),
    ("E6002", "bad predictions file", "A predictions file must be JSON Lines, one {\"id\", \"prediction\"} object per "
              "record of the split, each id once; the message shows the line."),
    ("E6003", "bad eval report", "`humc eval --compare` reads two JSON reports written by `humc eval --report` for the "
              "same dataset split."),
    ("E6004", "model backend not installed", "`humc eval --hf-model` runs a model in process with torch and "
              "transformers (peft for --adapter, gguf for a .gguf file): pip install 'humc[bench]'."),
    ("E6005", "model not loadable", "`humc eval --hf-model` could not load the model, GGUF file or LoRA adapter "
              "it was given."),
    # Wxxxx: warnings (located; the build goes on)
    ("W0001", "item listed twice", "A list names the same item twice (a role of one event type in `schema: {roles: "
              "…}` or its schema file): humc keeps the first and leaves the repeat out. Remove the repeat, or write "
              "the name that was meant."),
    # E9xxx: everything else
    ("E9001", "command-line usage", "A usage error of the command line: a missing or unknown option or argument, "
              "or a name the command does not know. `humc COMMAND --help` lists what a command takes."),
    ("E9002", "out of a system resource", "The machine or its limits ran out of something humc needs: memory "
              "(`ulimit -v`, a container's limit), open files (`ulimit -n`) or threads. Raise the limit, or use fewer "
              "render workers (-j); whatever the build finished is in its cache, and the same command resumes."),
)


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A 'did you mean' hint for an unknown name, or None when nothing is close. A candidate that differs only in its
    Unicode form (an accent typed as one character or as a letter plus a combining mark, as macOS file names and
    some keyboards write it) looks the same on screen: the hint says so."""
    candidates = [c for c in candidates if c != name]  # the name itself: nothing to suggest
    same = [c for c in candidates if unicodedata.normalize("NFC", c) == unicodedata.normalize("NFC", name)]
    if same:
        return (f"did you mean '{same[0]}'? It looks the same but is written with other Unicode characters (a composed "
                "and a decomposed accent): retype one of them")
    folded = [c for c in candidates if c.casefold() == name.casefold()]
    if folded:  # `task: NER` for `ner`: names are case-sensitive, and difflib counts every changed letter
        return f"did you mean '{folded[0]}'? Names are case-sensitive"
    matches = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
    if not matches:
        return None
    return "did you mean " + " or ".join(f"'{m}'" for m in matches) + "?"


def missing_file_hint(path: str | os.PathLike[str]) -> str | None:
    """A hint for a file that does not exist: its folder is missing too, or a name in the folder is close."""
    parent = os.path.dirname(path) or "."
    if not os.path.isdir(parent):
        return f"the folder {parent} does not exist either"
    try:
        with os.scandir(parent) as entries:  # a huge folder is not listed whole
            names = sorted(entry.name for entry in itertools.islice(entries, 5000))
    except OSError:  # a folder that may not be read: no hint rather than a traceback
        return None
    return did_you_mean(os.path.basename(path), names)


# Linux's limits (ext4, xfs, btrfs, tmpfs): a longer name makes every call on the path fail with ENAMETOOLONG, which
# ``Path.exists`` and ``is_dir`` do not swallow as they do "no such file"
NAME_MAX = 255
PATH_MAX = 4095


def too_long_path(path: str | os.PathLike[str]) -> str | None:
    """Why no file system can hold ``path`` (a part over NAME_MAX bytes, or the whole over PATH_MAX), or None."""
    try:
        raw = os.fsencode(path)
    except UnicodeEncodeError:  # a name the locale cannot spell: said where the path is resolved
        return None
    longest = max(raw.split(b"/"), key=len)
    if len(longest) > NAME_MAX:
        shown = os.fsdecode(longest)
        return f"its part '{shown[:40]}…' is {len(longest)} bytes long (a file name holds at most {NAME_MAX})"
    if len(raw) > PATH_MAX:
        return f"it is {len(raw)} bytes long (a path holds at most {PATH_MAX})"
    return None


def file_named_below(root: str | os.PathLike[str], name: str, limit: int = 5000) -> str | None:
    """The first file called ``name`` in ``root``'s tree (hidden folders such as `.humc` left out), as a path relative
    to ``root``; None when there is none among the first ``limit`` entries (a recipe beside a huge tree)."""
    seen = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if name in files:
            return Path(os.path.relpath(os.path.join(folder, name), root)).as_posix()
        seen += len(dirs) + len(files)
        if seen > limit:
            return None
    return None


def one_line(text: str, width: int = 300) -> str:
    """``text`` on one line (each run of whitespace one space), at most ``width`` characters (`` …`` marks a cut):
    what a message quotes of a server's answer, a model's reply or a library's error."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[:width] + " …"


def brief(exc: BaseException) -> str:
    """An exception's text as a message quotes it (``one_line``; its type's name when it has no text)."""
    return one_line(str(exc)) or type(exc).__name__


SURROGATE_HINT = "write the character itself, or both halves of the pair (\\ud83d\\ude42 is 🙂)"


def join_surrogate_pairs(text: str) -> str:
    """``text`` with each UTF-16 surrogate pair (\\ud83d\\ude42 written as two escapes, as JSON writes an emoji) made
    the one character it names; a lone half stays as it is (``lone_surrogate`` finds it)."""
    if not any("\ud800" <= c <= "\udfff" for c in text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def lone_surrogate(text: str) -> str | None:
    """The first half of a UTF-16 surrogate pair standing alone in ``text`` ("\\ud83d": no UTF-8 file can hold it)."""
    return next((c for c in text if "\ud800" <= c <= "\udfff"), None)


def type_name(value: Any) -> str:
    """The recipe-language name of a plain value's type (for messages)."""
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string"}.get(type(value), type(value).__name__)


# compressed, Parquet, ORC, Arrow (file and stream), Avro, zip: no lines to quote
_BINARY = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd", b"PAR1", b"ORC", b"ARROW1", b"\xff\xff\xff\xff", b"Obj\x01",
           b"PK\x03\x04")
_YAML_SUFFIXES = (".yaml", ".yml", ".lock")  # YAML counts U+2028, U+0085 … as line breaks, as str.splitlines does


def source_line(span: Span) -> str | None:
    """Line ``span.line`` of the file (None when it has no such line, or is binary). A data file is read line by line
    as its readers count lines (\\n, \\r\\n or \\r; a U+2028 inside a JSON string is no line break), and only as far
    as the line, so an error deep in a large source does not load the whole file."""
    try:
        if not stat.S_ISREG(os.stat(span.file).st_mode):  # a named pipe or a device: reading it may never end
            return None
        with open(span.file, "rb") as f:
            if f.read(8).startswith(_BINARY):
                return None
            f.seek(0)
            if span.file.endswith(_YAML_SUFFIXES):
                lines = f.read().decode("utf-8", errors="replace").splitlines()
                return lines[span.line - 1] if 1 <= span.line <= len(lines) else None
            with io.TextIOWrapper(f, encoding="utf-8", errors="replace") as text:
                return _nth_line(text, span.line, span.col + 2 * MAX_SNIPPET)
    except OSError:
        return None


def _nth_line(text: IO[str], line: int, keep: int) -> str | None:
    """Line ``line`` (1-based) of ``text`` without its line break, at most its first ``keep`` characters; read in
    bounded pieces, so a file of one huge line is not read whole."""
    at, shown = 1, ""
    while True:
        piece = text.readline(1 << 16)
        if not piece:
            return shown if at == line and shown else None
        if at == line and len(shown) < keep:
            shown += piece
        if piece.endswith("\n"):
            if at == line:
                return shown.rstrip("\n")[:keep]
            at += 1


def _snippet(span: Span) -> list[str]:
    if span.line < 1:
        return []
    src = source_line(span)
    if src is None:
        return []
    width = 1
    if span.end_col and (span.end_line in (None, span.line)) and span.end_col > span.col:
        width = span.end_col - span.col
    col = span.col
    if len(src) > MAX_SNIPPET:  # show a window around the caret, not a whole huge line
        start = max(0, min(col - 1 - MAX_SNIPPET // 4, len(src) - MAX_SNIPPET))
        shown = src[start:start + MAX_SNIPPET]
        src = ("…" if start else "") + shown + ("…" if start + MAX_SNIPPET < len(src) else "")
        col = col - start + (1 if start else 0)
        width = max(1, min(width, len(src) - col + 1))
    gutter = f"{span.line:>4} | "
    return [gutter + src.translate(_CONTROL_PICTURES), " " * (len(gutter) + col - 1) + "^" + "~" * (width - 1)]


MAX_SNIPPET = 120
# a quoted line's control characters as their visible pictures (NUL as ␀, a lone CR as ␍), one character for one so
# the caret stays under its column: printed as they are, a NUL made the error text binary to grep and a CR or an
# escape (ESC) moved the terminal's cursor over the line (a tab stays a tab)
_CONTROL_PICTURES = {c: 0x2400 + c for c in range(32) if c != 9} | {0x7F: 0x2421}
