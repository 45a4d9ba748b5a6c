"""Source readers for annotation formats with a fixed published specification: CoNLL-U (Universal Dependencies)
and brat standoff.

Stage: read (below ``humc.sources``, which dispatches here; above ``humc.sources_readers``, whose text opening it
uses). Decisions:

- CoNLL-U (https://universaldependencies.org/format.html): one sentence per block, blank line between; `#` lines
  are comments (`# sent_id = …`, `# text = …` give the record's `idx` and `text`); a word line has exactly ten
  tab-separated fields (ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC; a FORM may hold a space). The record
  holds one list per column under the names of the Hub's `universal_dependencies` loader (tokens, lemmas, upos,
  xpos, feats, head, deprel, deps, misc) and `ids`, all strings as written (`_` included). Multiword token lines
  (`1-2  del`) and empty nodes (`8.1`) are not words: they are left out of the lists, so the tags line up with the
  syntactic words. Without `# text`, the text is the surface forms (a multiword token's, not its words') joined by
  spaces except where MISC says `SpaceAfter=No`.
- CoNLL-U Plus (`.conllup`): a first line `# global.columns = ID FORM UPOS … PARSEME:MWE` names the columns; the
  standard ones keep the names above, others are lower-cased with `:` as `_` (`parseme_mwe`).
- brat standoff (https://brat.nlplab.org/standoff.html): a document is X.txt and its annotations X.ann; a folder
  is every `.ann` of its tree. Offsets count characters of the text as stored (a CRLF is two, as brat reads it).
  Text-bound lines (T) are `entities` ({id, type, span, start, end, fragments}; a discontinuous span's fragments
  joined by a space, as brat writes its text), except event triggers; relations (R) are {head, relation, tail}
  rows, events (E) humc's EE rows ({event_type, trigger, role, argument}, one per argument; an event argument is
  its trigger's text); attributes (A, M), normalizations (N), notes (#) and equivalences (*) are kept as written.
  A line whose offsets select another text than it says, or that names an ID the file lacks, is E4001 at it.
- Reuters-21578 SGML (`reut2-NNN.sgm`, lewis.dtd): one record per `<REUTERS …>` element: its attributes (`newid`,
  `oldid`, `lewissplit`, `cgisplit`, `topics_attr`: the TOPICS attribute), `date`, the category lists `topics`,
  `places`, `people`, `orgs`, `exchanges`, `companies` (the `<D>` items), and `title`, `dateline`, `author`, `body`,
  `text_type` (NORM, BRIEF, UNPROC: an unprocessed story's whole `<TEXT>` is its body). SGML entities are decoded
  (`&lt;` is `<`); the wire's start- and end-of-text marks `&#2;`, `&#3;` are left out.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from humc.errors import SourceError, Span
from humc.ir import SourceDef
from humc.sources_readers import document_files, file_text, newline_of, nul_free, open_text, source_encoding

CONLLU_COLUMNS = ("ID", "FORM", "LEMMA", "UPOS", "XPOS", "FEATS", "HEAD", "DEPREL", "DEPS", "MISC")
_NAMES = {"ID": "ids", "FORM": "tokens", "LEMMA": "lemmas", "UPOS": "upos", "XPOS": "xpos", "FEATS": "feats",
          "HEAD": "head", "DEPREL": "deprel", "DEPS": "deps", "MISC": "misc"}
_WORD_ID = re.compile(r"[1-9]\d*|0(?=\.)")  # 1, 12; an empty node 0.1 (before the first word) too
_ID = re.compile(r"(\d+)(?:-(\d+)|\.(\d+))?")
_COMMENT = re.compile(r"#\s*([^=]+?)\s*=\s?(.*)")
_GLOBAL_COLUMNS = re.compile(r"#\s*global\.columns\s*=\s*(.+)")


def read_conllu(src: SourceDef) -> Iterator[tuple[int, dict[str, Any], int]]:
    """`format: conllu`: one record per sentence of a CoNLL-U (or CoNLL-U Plus) file, at the line it starts."""
    path = Path(str(src.path))
    columns = list(CONLLU_COLUMNS)
    sentence = _Sentence(src, columns)
    row = 0
    with open_text(path, source_encoding(src), newline_of(path)) as f:
        for lineno, raw in enumerate(nul_free(src, f), 1):
            line = raw.rstrip("\r\n")
            declared = _GLOBAL_COLUMNS.fullmatch(line) if lineno == 1 else None
            if declared is not None:
                columns[:] = declared.group(1).split()
                sentence = _Sentence(src, columns)
                continue
            if line.strip():
                sentence.add(lineno, line)
                continue
            if sentence.words or sentence.comments:
                yield row, sentence.record(), sentence.start
                row += 1
                sentence = _Sentence(src, columns)
        if sentence.words or sentence.comments:
            yield row, sentence.record(), sentence.start


class _Sentence:
    """The lines of one CoNLL-U sentence as they are read."""

    def __init__(self, src: SourceDef, columns: list[str]) -> None:
        self.src, self.columns = src, columns
        self.start = 0
        self.comments: dict[str, str] = {}
        self.words: list[list[str]] = []
        self.surface: list[tuple[str, str]] = []  # (form, misc) of what is written: multiword tokens, other words
        self.covered = 0  # the last word id a multiword token covers

    def add(self, lineno: int, line: str) -> None:
        self.start = self.start or lineno
        if line.startswith("#"):
            found = _COMMENT.fullmatch(line)
            if found is not None and not self.words:
                self.comments.setdefault(found.group(1), found.group(2))
            return
        values = line.split("\t")
        if len(values) != len(self.columns):
            raise self._error(lineno, f"a word line with {len(values)} tab-separated fields, not {len(self.columns)}",
                              "ten fields separated by tabs (a space inside a field is part of it)"
                              if len(self.columns) == 10 else "one field per column of `# global.columns`")
        ident = _ID.fullmatch(values[0]) if "ID" in self.columns else None
        at = self.columns.index("ID") if "ID" in self.columns else 0
        word_id = values[at]
        if "ID" in self.columns and (ident is None or not _WORD_ID.match(word_id)):
            raise self._error(lineno, f"the ID {word_id!r} is not a word number, a range (1-2) or an empty node (8.1)",
                              "CoNLL-U word lines: ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC")
        form, misc = self._value(values, "FORM"), self._value(values, "MISC")
        if ident is not None and ident.group(2) is not None:  # a multiword token: its surface, not a word
            self.surface.append((form, misc))
            self.covered = int(ident.group(2))
            return
        if ident is not None and ident.group(3) is not None:  # an empty node (enhanced dependencies only)
            return
        if ident is None or int(ident.group(1)) > self.covered:
            self.surface.append((form, misc))
        self.words.append(values)

    def _value(self, values: list[str], column: str) -> str:
        return values[self.columns.index(column)] if column in self.columns else "_"

    def record(self) -> dict[str, Any]:
        lists = {_column_name(c): [w[i] for w in self.words] for i, c in enumerate(self.columns)}
        text = self.comments.get("text")
        if text is None:
            text = "".join(form + ("" if "SpaceAfter=No" in misc.split("|") else " ")
                           for form, misc in self.surface).rstrip(" ")
        return {"idx": self.comments.get("sent_id", ""), "text": text, **lists, "comments": self.comments,
                "line": self.start}

    def _error(self, line: int, message: str, expected: str) -> SourceError:
        return SourceError(f"source '{self.src.id}': {message}", Span(str(self.src.path), line, 1), code="E4001",
                           expected=expected,
                           hint="separate a CoNLL-U file's fields with tabs, not spaces; a file with other columns is "
                                "`format: conll` (with `columns:`), or names its columns in a first line "
                                "`# global.columns = ID FORM …` (CoNLL-U Plus)")


def _column_name(column: str) -> str:
    """A CoNLL-U column's name in the record: the Hub loader's for the standard ten, else lower case, `:` as `_`."""
    return _NAMES.get(column) or column.lower().replace(":", "_").replace("-", "_")


# brat standoff (https://brat.nlplab.org/standoff.html): ID TAB annotation TAB text; the ID's first letter is the kind
_TEXT_BOUND = re.compile(r"(\S+) (\d+ \d+(?:;\d+ \d+)*)")
_ARGUMENT = re.compile(r"([^:\s]+):([^:\s]+)")


def read_brat(src: SourceDef) -> Iterator[tuple[int, dict[str, Any]]]:
    """`format: brat`: one record per `.ann` file (a folder's tree, in path order, or one file) with the text of
    the `.txt` beside it: {id, file, text, entities, relations, events, attributes, normalizations, notes}."""
    root = Path(str(src.path))
    files = [p for p in document_files(root) if p.suffix == ".ann"] if root.is_dir() else [root.with_suffix(".ann")]
    if not files:
        raise SourceError(f"source '{src.id}': no .ann file in the folder {root.name}", Span(str(root), 1, 1),
                          code="E4001", expected="brat standoff pairs: X.txt and its annotations X.ann",
                          hint="point `path:` at the folder holding the .ann and .txt files (or one .ann file)")
    for n, ann in enumerate(files):
        one = SourceDef(src.id, ann, src.format, src.options)
        yield n, _brat_document(one, root if root.is_dir() else root.parent)


def _brat_document(src: SourceDef, root: Path) -> dict[str, Any]:
    ann = Path(str(src.path))
    txt = ann.with_suffix(".txt")
    if not txt.is_file():
        raise SourceError(f"source '{src.id}': {ann.name} has no {txt.name} beside it", Span(str(ann), 1, 1),
                          code="E0009", expected="the document's text in a .txt file of the same name",
                          hint="brat keeps each document as X.txt (the text) and X.ann (its annotations): copy both")
    encoding = source_encoding(src)
    text = file_text(src, txt, encoding)  # as stored: offsets count a CRLF as two characters, as brat reads it
    document = _BratDocument(src, text)
    for lineno, line in enumerate(file_text(src, ann, encoding).splitlines(), 1):
        if line.strip():
            document.add(lineno, line)
    return {"id": ann.stem, "file": ann.relative_to(root).as_posix(), "text": text, **document.finish()}


class _BratDocument:
    """The annotations of one `.ann` file as its lines are read; references are resolved at the end (a relation
    may name an entity written after it)."""

    def __init__(self, src: SourceDef, text: str) -> None:
        self.src, self.text = src, text
        self.bound: dict[str, dict[str, Any]] = {}  # T ids: entities and event triggers
        self.lines: list[tuple[int, str, str]] = []  # (line, id, annotation) of the R, E, A, M, N, # and * lines

    def add(self, lineno: int, line: str) -> None:
        ident, _, rest = line.partition("\t")
        if not rest or ident[:1] not in "TREAMN#*":
            raise self._error(lineno, f"the line does not start with a brat annotation ID and a tab ({ident[:20]!r})",
                              "T1<TAB>Type start end<TAB>text, R1<TAB>Type Arg1:T1 Arg2:T2, E1<TAB>Type:T1 Role:T2, …")
        if ident[0] == "T":
            self.bound[ident] = self._text_bound(lineno, ident, rest)
        else:
            self.lines.append((lineno, ident, rest))

    def _text_bound(self, lineno: int, ident: str, rest: str) -> dict[str, Any]:
        annotation, _, written = rest.partition("\t")
        found = _TEXT_BOUND.fullmatch(annotation)
        if found is None:
            raise self._error(lineno, f"{ident} is not `Type start end` (got {annotation!r})", "T1<TAB>Type start "
                              "end<TAB>text, fragments of a discontinuous span separated by ';' (0 5;16 23)")
        fragments = [tuple(int(x) for x in part.split()) for part in found.group(2).split(";")]
        if any(not 0 <= s <= e <= len(self.text) for s, e in fragments):
            raise self._error(lineno, f"{ident}'s offsets {found.group(2)} fall outside the text "
                              f"({len(self.text)} characters)", "character offsets into the .txt beside the .ann")
        span = " ".join(self.text[s:e] for s, e in fragments)
        if written and span != written:
            raise self._error(lineno, f"{ident}'s offsets select {span!r} in the text, but the line says {written!r}",
                              "offsets that select the line's text",
                              "the .txt is not the one annotated (its line ends changed from CRLF to LF, or the "
                              "other way round, shift every later offset): copy the pair again")
        return {"id": ident, "type": found.group(1), "span": span, "start": fragments[0][0], "end": fragments[-1][1],
                "fragments": [list(f) for f in fragments]}

    def finish(self) -> dict[str, Any]:
        out: dict[str, list[dict[str, Any]]] = {"relations": [], "events": [], "attributes": [], "normalizations": [],
                                                "notes": [], "equivalences": []}
        events = {ident: rest for _, ident, rest in self.lines if ident[0] == "E"}
        triggers = {ident: self._event_trigger(ident, rest) for ident, rest in events.items()}
        for lineno, ident, rest in self.lines:
            kind = {"R": "relations", "E": "events", "A": "attributes", "M": "attributes", "N": "normalizations",
                    "#": "notes", "*": "equivalences"}[ident[0]]
            out[kind].extend(self._rows(lineno, ident, rest, triggers))
        trigger_ids = set(triggers.values())
        entities = [e for ident, e in self.bound.items() if ident not in trigger_ids]
        return {"entities": entities, **out}

    def _event_trigger(self, ident: str, rest: str) -> str:
        head = rest.split()[0] if rest.split() else ""
        return head.partition(":")[2]

    def _rows(self, lineno: int, ident: str, rest: str, triggers: dict[str, str]) -> list[dict[str, Any]]:
        """The rows one R, E, A/M, N, # or * line gives."""
        fields = rest.split("\t")
        parts = fields[0].split()
        if not parts:
            raise self._error(lineno, f"{ident} has no annotation", "brat standoff lines")
        if ident[0] == "R":
            args = [self._argument(lineno, ident, p) for p in parts[1:]]
            if len(args) != 2:
                raise self._error(lineno, f"relation {ident} has {len(args)} arguments, not 2", "R1<TAB>Type Arg1:T1 Arg2:T2")
            (_, head), (_, tail) = args
            return [{"id": ident, "head": self._span(lineno, head, triggers), "relation": parts[0],
                     "tail": self._span(lineno, tail, triggers), "head_id": head, "tail_id": tail}]
        if ident[0] == "E":
            return self._event_rows(lineno, ident, parts, triggers)
        if ident[0] in "AM":
            return [{"id": ident, "type": parts[0], "target": parts[1] if len(parts) > 1 else "",
                     "value": parts[2] if len(parts) > 2 else True}]
        if ident[0] == "*":
            return [{"type": parts[0], "ids": parts[1:]}]
        target = parts[1] if len(parts) > 1 else ""
        text = fields[1] if len(fields) > 1 else ""
        if ident[0] == "N":
            return [{"id": ident, "type": parts[0], "target": target, "ref": parts[2] if len(parts) > 2 else "",
                     "text": text}]
        return [{"id": ident, "type": parts[0], "target": target, "text": text}]

    def _event_rows(self, lineno: int, ident: str, parts: list[str], triggers: dict[str, str]) -> list[dict[str, Any]]:
        """An event as humc's EE rows: one per argument (an event argument is its trigger's text), or one with an
        empty role and argument."""
        event_type, trigger = self._argument(lineno, ident, parts[0])
        base = {"event_id": ident, "event_type": event_type, "trigger": self._span(lineno, trigger, triggers)}
        args = [self._argument(lineno, ident, p) for p in parts[1:]]
        if not args:
            return [base | {"role": "", "argument": ""}]
        return [base | {"role": role, "argument": self._span(lineno, target, triggers), "argument_id": target}
                for role, target in args]

    def _argument(self, lineno: int, ident: str, part: str) -> tuple[str, str]:
        found = _ARGUMENT.fullmatch(part)
        if found is None:
            raise self._error(lineno, f"{ident}: {part!r} is not Role:ID", "arguments written Role:ID (Arg1:T3)")
        return found.group(1), found.group(2)

    def _span(self, lineno: int, ident: str, triggers: dict[str, str]) -> str:
        """The text an argument names: a text-bound annotation's span, an event's trigger's."""
        bound = self.bound.get(triggers.get(ident, ident))
        if bound is None:
            raise self._error(lineno, f"{ident} names no text-bound annotation or event of this file",
                              "arguments that name a T or E line of the same .ann file")
        return str(bound["span"])

    def _error(self, line: int, message: str, expected: str, hint: str | None = None) -> SourceError:
        return SourceError(f"source '{self.src.id}': {message}", Span(str(self.src.path), line, 1), code="E4001",
                           expected=expected, hint=hint or "fix the line, or check that the file is brat standoff "
                                                            "(https://brat.nlplab.org/standoff.html)")


_PUBTATOR_TEXT = re.compile(r"([^|\t]+)\|([ta])\|(.*)")


def read_pubtator(src: SourceDef) -> Iterator[tuple[int, dict[str, Any], int]]:
    """`format: pubtator`: one record per document of a PubTator file (BC5CDR's CDR_*.PubTator.txt, NCBI-disease's
    corpus files): `PMID|t|title`, `PMID|a|abstract`, then `PMID<TAB>start<TAB>end<TAB>mention<TAB>type<TAB>id` lines
    (offsets into title + " " + abstract) and relation lines `PMID<TAB>CID<TAB>id<TAB>id`; a blank line ends it."""
    path = Path(str(src.path))
    document: _PubtatorDocument | None = None
    row = 0
    with open_text(path, source_encoding(src)) as f:
        for lineno, raw in enumerate(nul_free(src, f), 1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                if document is not None:
                    yield row, document.record(), document.start
                    row, document = row + 1, None
                continue
            found = _PUBTATOR_TEXT.fullmatch(line)
            if found is not None and (document is None or found.group(2) == "t"):
                if document is not None:  # a title right after the last annotation: no blank line between
                    yield row, document.record(), document.start
                    row += 1
                document = _PubtatorDocument(src, lineno, found.group(1))
            if document is None:
                raise _pubtator_error(src, lineno, "an annotation line before any `PMID|t|title` line")
            document.add(lineno, line, found)
        if document is not None:
            yield row, document.record(), document.start


def _pubtator_error(src: SourceDef, line: int, message: str, expected: str = "PubTator lines: PMID|t|title, "
                    "PMID|a|abstract, PMID<TAB>start<TAB>end<TAB>mention<TAB>type<TAB>id") -> SourceError:
    return SourceError(f"source '{src.id}': {message}", Span(str(src.path), line, 1), code="E4001", expected=expected,
                       hint="fix the line, or check that the file is PubTator (a blank line between documents)")


class _PubtatorDocument:
    """One PubTator document as its lines are read."""

    def __init__(self, src: SourceDef, start: int, pmid: str) -> None:
        self.src, self.start, self.pmid = src, start, pmid
        self.title = self.abstract = ""
        self.mentions: list[tuple[int, list[str]]] = []
        self.relations: list[dict[str, Any]] = []

    def add(self, lineno: int, line: str, text: re.Match[str] | None) -> None:
        if text is not None:
            if text.group(1) != self.pmid:
                raise _pubtator_error(self.src, lineno, f"the line is of document {text.group(1)}, inside {self.pmid}")
            if text.group(2) == "t":
                self.title = text.group(3)
            else:
                self.abstract = text.group(3)
            return
        values = line.split("\t")
        if values[0] != self.pmid:
            raise _pubtator_error(self.src, lineno, f"the line is of document {values[0]!r}, inside {self.pmid}")
        if len(values) == 4 and not values[1].isdigit():  # PMID CID chemical disease
            self.relations.append({"relation": values[1], "head_id": values[2], "tail_id": values[3]})
        elif len(values) >= 5 and values[1].isdigit() and values[2].isdigit():
            self.mentions.append((lineno, values))
        else:
            raise _pubtator_error(self.src, lineno, f"an annotation line of {len(values)} tab-separated fields")

    def record(self) -> dict[str, Any]:
        text = f"{self.title} {self.abstract}" if self.abstract else self.title
        entities = [self._entity(text, lineno, values) for lineno, values in self.mentions]
        first: dict[str, str] = {}  # concept id -> its first mention's text, for the relations' head and tail
        for entity in entities:
            for concept in entity["id"].split("|"):
                first.setdefault(concept, entity["span"])
        relations = [{"head": first.get(r["head_id"], ""), "relation": r["relation"], "tail": first.get(r["tail_id"], ""),
                      **r} for r in self.relations]
        return {"id": self.pmid, "title": self.title, "abstract": self.abstract, "text": text, "entities": entities,
                "relations": relations}

    def _entity(self, text: str, lineno: int, values: list[str]) -> dict[str, Any]:
        start, end = int(values[1]), int(values[2])
        # blanks around the written mention are not the span's (NCBI-disease's `" plus "  `, its ` D008661` id)
        if not start <= end <= len(text) or text[start:end] != values[3].strip(" "):
            raise _pubtator_error(self.src, lineno, f"the offsets {start}-{end} select {text[start:end]!r}, but the "
                                  f"line says {values[3]!r}", "offsets into the title, a space and the abstract")
        return {"type": values[4], "span": text[start:end], "start": start, "end": end,
                "id": values[5].strip(" ") if len(values) > 5 else ""}


_REUTERS = re.compile(r"<REUTERS\b([^>]*)>(.*?)</REUTERS>", re.S)
_ATTRIBUTE = re.compile(r'([A-Z]+)="([^"]*)"')
_ELEMENT = re.compile(r"<(DATE|TOPICS|PLACES|PEOPLE|ORGS|EXCHANGES|COMPANIES|TITLE|DATELINE|AUTHOR|BODY|TEXT)\b([^>]*)>"
                      r"(.*?)</\1>", re.S)
_ITEM = re.compile(r"<D>(.*?)</D>", re.S)
_LISTS = ("topics", "places", "people", "orgs", "exchanges", "companies")


def read_reuters_sgml(src: SourceDef) -> Iterator[tuple[int, dict[str, Any], int]]:
    """`format: reuters_sgml`: Reuters-21578's reut2-NNN.sgm files (a folder: every `.sgm` in name order), one
    record per `<REUTERS>` element, at its line."""
    root = Path(str(src.path))
    files = [p for p in document_files(root) if p.suffix.lower() == ".sgm"] if root.is_dir() else [root]
    if not files:
        raise SourceError(f"source '{src.id}': no .sgm file in the folder {root.name}", Span(str(root), 1, 1),
                          code="E4001", expected="Reuters-21578's reut2-000.sgm … reut2-021.sgm",
                          hint="point `path:` at the folder holding the .sgm files (or one of them)")
    row = 0
    for path in files:
        one = SourceDef(src.id, path, src.format, src.options)
        for line, record in _reuters_documents(one, path):
            yield row, record | ({"file": path.relative_to(root).as_posix()} if root.is_dir() else {}), line
            row += 1


def _reuters_documents(src: SourceDef, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    text = file_text(src, path, source_encoding(src))
    line, start, end = 1, 0, 0  # the line and start of the element last read, and its end
    for match in _REUTERS.finditer(text):
        line += text.count("\n", start, match.start())
        start, end = match.start(), match.end()
        if "<REUTERS" in match.group(2):  # the next element's end closed this one: this one is unclosed
            raise _reuters_error(src, line, "a <REUTERS> element without its </REUTERS>")
        yield line, _reuters_record(match.group(1), match.group(2))
    unclosed = text.find("<REUTERS", end)
    if unclosed >= 0:
        raise _reuters_error(src, text.count("\n", 0, unclosed) + 1, "a <REUTERS> element without its </REUTERS>")
    if end == 0:
        raise _reuters_error(src, 1, "no <REUTERS> element in the file")


def _reuters_record(attributes: str, inner: str) -> dict[str, Any]:
    attrs = {name.lower(): value for name, value in _ATTRIBUTE.findall(attributes)}
    record: dict[str, Any] = {"newid": attrs.get("newid", ""), "oldid": attrs.get("oldid", ""),
                              "lewissplit": attrs.get("lewissplit", ""), "cgisplit": attrs.get("cgisplit", ""),
                              "topics_attr": attrs.get("topics", ""), "date": "", **{k: [] for k in _LISTS},
                              "title": "", "dateline": "", "author": "", "body": "", "text_type": "NORM"}
    for name, element_attrs, content in _ELEMENT.findall(inner):
        key = name.lower()
        if key in _LISTS:
            record[key] = [html.unescape(item) for item in _ITEM.findall(content)]
        elif key == "text":
            kind = _ATTRIBUTE.findall(element_attrs)
            record["text_type"] = kind[0][1] if kind else "NORM"
            if record["text_type"] == "UNPROC":  # no TITLE or BODY inside: the whole story
                record["body"] = _sgml_text(content)
            else:
                record.update({k.lower(): _sgml_text(v) for k, _, v in _ELEMENT.findall(content)})
        else:
            record[key] = _sgml_text(content)
    return record


def _sgml_text(content: str) -> str:
    """Text as SGML writes it: entities decoded, the wire's start- and end-of-text marks (&#2;, &#3;) and the ends'
    blanks left out."""
    return html.unescape(content.replace("&#2;", "").replace("&#3;", "")).strip()


def _reuters_error(src: SourceDef, line: int, message: str) -> SourceError:
    return SourceError(f"source '{src.id}': {message}", Span(str(src.path), line, 1), code="E4001",
                       expected="Reuters-21578 SGML: <REUTERS …> elements, each closed by </REUTERS>",
                       hint="copy the file again (it looks cut short), or check that it is Reuters-21578's .sgm")
