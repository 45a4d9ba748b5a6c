"""Source readers for annotation formats with a fixed published specification: CoNLL-U (Universal Dependencies).

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
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from humc.errors import SourceError, Span
from humc.ir import SourceDef
from humc.sources_readers import nul_free, open_text, source_encoding

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
    with open_text(path, source_encoding(src)) as f:
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
