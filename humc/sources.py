"""Source readers: stream records from local files (JSONL, JSON, CSV/TSV, Parquet, ORC, Avro (fastavro, the avro extra),
CoNLL-style column files, SQuAD JSON), a dataset folder, or a Hub dataset streamed at the commit
``sources_hub`` pinned it to.

Text files may be gzip, bz2, xz or zstd-compressed (``sources_readers.open_text``).

Every reader is a generator of ``Row(number, record, line)`` (or a plain ``(number, record)`` pair) so that memory does not grow
with the size of the source: ``index`` is the 0-based record index (it seeds sampling and
variant choice), ``line`` the true 1-based line of the file where the record starts for the
line-based formats (JSONL, CSV/TSV counting the header, CoNLL sentence start) and None
elsewhere. Errors name the file and the line (or row) that is malformed; a byte that does not
decode is reported at its own line and column; a JSON value nested too deeply for Python's
parser is a located error, not a crash.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import itertools
import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from humc.errors import OUT_OF_FILES, SourceError, Span, brief
from humc.ir import SourceDef
from humc.limits import MAX_RECORD_DEPTH
from humc.sources_card import formats_of, holds_unread_formats, split_files
from humc.sources_formats import read_brat, read_conllu, read_pubtator, read_reuters_sgml
from humc.sources_importers import read_iepile, read_instructuie
from humc.sources_readers import (
    COMPRESSED_SUFFIXES,
    DAMAGED_ARCHIVE,
    BinaryTexts,
    ClassLabels,
    archive_members,
    archive_of,
    batch_records,
    binary_inside,
    carries_features,
    class_label_names,
    compressed_binary_hint,
    compressed_inside,
    compression_of,
    decode_class_labels,
    document_files,
    exploded,
    feature_decoders,
    foreign_kind,
    grouped,
    holds_conll_columns,
    holds_json_list,
    lenient_avro_readers,
    looks_like_json_lines,
    newline_of,
    nul_error,
    nul_error_in,
    nul_free,
    open_binary,
    open_text,
    read_arrow,
    read_blocks,
    read_text_files,
    sniff_format,
    source_encoding,
    starts_utf16,
    unmarked_utf16_hint,
)


class Row(NamedTuple):
    """One source record: its 0-based index, the record, and the 1-based line where it starts (if the format has lines)."""

    number: int                 # 0-based position of the record in the source
    record: dict[str, Any]
    line: int | None = None


RawRow = Row | tuple[int, dict[str, Any]] | tuple[int, dict[str, Any], int]
"""What a reader yields: a ``Row``, a ``(number, record)`` pair for formats without lines, or ``(number, record,
line)`` from the readers in ``sources_readers``."""


# format -> allowed options
FORMATS: dict[str, tuple[str, ...]] = {
    "jsonl": ("encoding", "label_file", "explode"),
    "lines": ("encoding", "label_file", "line_files"),
    "json": ("encoding", "records", "key_column", "key_names", "explode", "columns"),
    "csv": ("encoding", "header", "columns", "delimiter", "quoting", "quotechar", "escapechar", "rest", "group_by"),
    "tsv": ("encoding", "header", "columns", "quoting", "quotechar", "escapechar", "rest", "group_by"),
    "parquet": ("columns", "class_labels", "explode"),
    "orc": ("columns", "explode"),
    "avro": ("columns", "explode"),
    "arrow": ("split", "class_labels", "explode"),
    "conll": ("encoding", "columns", "separator", "doc_start", "comment", "rest", "pattern"),
    "conllu": ("encoding",),
    "brat": ("encoding",),
    "pubtator": ("encoding",),
    "reuters_sgml": ("encoding",),
    "blocks": ("encoding", "lines"),
    "iepile": ("encoding",),
    "instructuie": ("split",),
    "squad": ("encoding",),
    "text_files": ("encoding", "pattern"),
    "hf": (),  # configured by `dataset: {name, config, split, revision}`
}

SOURCE_OPTION_DOCS = {
    "encoding": "a Python codec name, e.g. utf-8 or latin-1, or a list of them tried in order: the first that decodes "
                "the whole file (CoNLL-2002's [utf-8-sig, latin-1]: the release is latin-1, NLTK's copies UTF-8)",
    "header": "true or false",
    "columns": "a list of column names (json: the names of a list item's positions, C3's [dialogue, questions, id]; "
               "parquet, orc, avro: the columns read, the others left out)",
    "delimiter": "one character, e.g. ';' (default: the one Excel's first line `sep=;` names, else ';', '|' or a tab "
                 "when the header holds it and no comma, else ',')",
    "records": "the key of the list of records (default: the one data, records, rows, examples, instances, samples, "
               "items or documents key of an object wrapping them in scalar metadata, {version, data: [...]})",
    "separator": "the column separator (default: any whitespace)",
    "doc_start": "a line starting with this text (or matching it as a regex from the line's start) is a "
                 "document marker, not a token, e.g. -DOCSTART-",
    "comment": "lines starting with this text are comments and skipped, e.g. '#'",
    "quoting": "minimal (fields may be \"quoted\", CSV default) or none (quotes are text, TSV default)",
    "quotechar": "one character that quotes fields (default '\"')",
    "escapechar": "one character that escapes a quote inside a quoted field: '\\' for MySQL or PHP exports (which "
                  "write \\\" for a quote); by default there is none, and a quote inside a quoted value is doubled (\"\")",
    "rest": "a column name collecting the values beyond `columns` as a list (variable-arity rows; in a conll "
            "file one list per token)",
    "group_by": "a column: consecutive rows with the same value become one record, other columns lists",
    "split": "the split of a `save_to_disk` DatasetDict folder (default train), or the split file of an "
             "InstructUIE folder (train, dev or test)",
    "explode": "json, jsonl, parquet, orc, avro, arrow: keys of parallel lists (RACE: [questions, options, answers]): one record per "
               "position, the other keys copied; a dotted key is a path into nested objects, its list replaced by each "
               "item (the Hub's C3, a struct of lists: [questions.question, questions.answer, questions.choice]), a "
               "deeper one exploded inside each item (SuperGLUE MultiRC: [passage.questions, passage.questions.answers])",
    "lines": "the names of a block's lines, in order (blocks are separated by blank lines)",
    "class_labels": "true: integer ClassLabel columns (and lists of them) read as their names, from the Parquet "
                    "or Arrow file's Hugging Face features metadata (WikiANN's ner_tags, a save_to_disk folder's labels), else from "
                    "the dataset card (README.md's `dataset_info: features:`) above the file in a Hub repository clone",
    "pattern": "which files are read, a glob such as '*.txt' (default: every file): text_files, of each label "
               "subfolder; conll, of a folder tree (CoNLL-2012: '*gold_conll')",
    "label_file": "a file beside the source with one label per line (AI2's valid-labels.lst: PIQA, Social IQa, "
                  "WinoGrande): line N is record N's `label`; {stem} is the source file's name without extensions "
                  "('{stem}-labels.lst')",
    "line_files": "lines: files beside the source with one value per line, each the column it names ({tags: seq.out, "
                  "intent: label}: JointBERT's ATIS and SNIPS folders, tweet_eval's {label: train_labels.txt}); line N "
                  "of each is record N's value; {stem} is the source file's name without extensions",
    "key_column": "the JSON object maps keys to lists of records (FewRel: relation -> instances) or to one record "
                  "each (records keyed by id): one record per item, its key in this column; items that are lists take "
                  "the names of `columns` (CLINC150's {part: [[query, intent], ...]})",
    "key_names": "with `key_column`: a JSON file beside the source naming every key, as a name or a list whose first "
                 "item is the name (FewRel's pid2name.json: {\"P931\": [name, description]}); each record gets its "
                 "key's name in `<key_column>_name`",
}


def source_option_problem(key: str, value: Any, options: dict[str, Any] | None = None) -> str | None:
    """Why a source option's value is unusable, or None; ``options`` (all of the source's) for the characters a CSV
    reader tells apart: a delimiter, quote or escape character that is another one of them, or a line break."""
    if key == "encoding":
        if isinstance(value, list):
            problems = [_encoding_problem(v) for v in value] if value else ["an empty list"]
            return next((p for p in problems if p), None)
        return _encoding_problem(value)
    if key in _CSV_CHARACTERS and isinstance(value, str) and len(value) == 1:
        return _csv_character_problem(key, value, options or {})
    if key in ("header", "class_labels"):
        return None if isinstance(value, bool) else "not true or false"
    if key == "line_files":
        pairs = value.items() if isinstance(value, dict) else []
        named = bool(pairs) and all(isinstance(k, str) and k and isinstance(v, str) and v for k, v in pairs)
        return None if named else "not a mapping of column names to file names"
    if key in ("columns", "explode", "lines"):
        ok = isinstance(value, list) and value and all(isinstance(v, str) and v for v in value)
        if not ok:
            return "not a non-empty list of names"
        twice = next((v for i, v in enumerate(value) if v in value[:i]), None)
        return None if twice is None else f"names '{twice}' twice (one value would silently overwrite the other)"
    if key in ("delimiter", "separator") and value == "\\t":  # '\t' in single quotes (or plain) is two characters
        return "the two characters \\t, not a tab: write a tab as \"\\t\" (double quotes; or use `format: tsv`)"
    if key == "delimiter":
        return None if isinstance(value, str) and len(value) == 1 else "not a single character"
    if key == "quoting":
        return None if value in ("none", "minimal") else "not none or minimal"
    if key in ("quotechar", "escapechar"):
        return None if isinstance(value, str) and len(value) == 1 else "not a single character"
    if key == "doc_start":
        if not isinstance(value, str) or not value:
            return "not a non-empty string"
        try:
            re.compile(value)
        except re.error as exc:
            return f"not a valid regular expression ({exc})"
        return None
    if key == "pattern" and isinstance(value, str) and re.match(r"[\\/]|[A-Za-z]:[\\/]", value):
        return "an absolute path: the pattern selects files inside the source's folder, e.g. '*.txt'"
    if key == "key_names" and options is not None and not options.get("key_column"):
        return "it names the keys of `key_column:`, which is not set"
    if key in ("records", "comment", "rest", "group_by", "split", "key_column", "key_names", "pattern", "label_file"):
        return None if isinstance(value, str) and value else "not a non-empty string"
    if key == "separator":
        return None if value is None or (isinstance(value, str) and value) else "not a non-empty string"
    return None


_CSV_CHARACTERS = {"delimiter": ",", "quotechar": '"', "escapechar": None}  # and their defaults


# text codecs no file is written in: `undefined` refuses every byte, idna and punycode read a domain name (and raise
# UnicodeError, not UnicodeDecodeError, on any other text)
_NOT_FILE_ENCODINGS = frozenset({"undefined", "idna", "punycode"})


def _encoding_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return "not a string"
    try:
        codec = codecs.lookup(value)
    except LookupError:
        return f"unknown encoding {value!r}"
    if codec.name in _NOT_FILE_ENCODINGS:
        return f"{value!r} is no encoding of a file ({'it decodes nothing' if codec.name == 'undefined' else 'it encodes domain names'})"
    return None if codec._is_text_encoding else f"{value!r} is a codec of bytes, not a text encoding"  # rot13, hex


def _csv_character_problem(key: str, value: str, options: dict[str, Any]) -> str | None:
    """A delimiter, quote or escape character that is a line break or the same as another of them (Python's csv
    reader then reads wrong values, or refuses to start)."""
    if value in "\r\n":
        return "a line break: it ends records, so it cannot also be this character"
    for other, default in _CSV_CHARACTERS.items():
        if other != key and options.get(other, default) == value:
            return f"the same character as `{other}`" + ("" if other in options else f" (by default {default!r})")
    return None


_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv",
               ".parquet": "parquet", ".orc": "orc", ".avro": "avro", ".conll": "conll", ".bio": "conll", ".bioes": "conll",
               ".bmes": "conll", ".iob": "conll", ".conllu": "conllu", ".conllup": "conllu", ".cupt": "conllu", ".ann": "brat",
               ".pubtator": "pubtator", ".sgm": "reuters_sgml", ".arrow": "arrow", ".feather": "arrow", ".ipc": "arrow", ".arrows": "arrow"}


def infer_format(path: Path) -> str | None:
    """The format named by the extension; from the content when the extension says nothing
    (`eng.testb`, `.label`, `.TXT`), says `.json` while the file holds JSON Lines, says `.jsonl` while
    the file holds one JSON list of records (a pretty-printed export), or says `.tsv` while it holds CoNLL columns."""
    if path.is_dir() and ((path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file()):
        return "arrow"
    if path.is_dir() and next(path.rglob("*.ann"), None) is not None:  # brat standoff: X.txt beside X.ann
        return "brat"
    named = Path(path.stem) if path.suffix.lower() in COMPRESSED_SUFFIXES else path  # data.jsonl.gz: jsonl
    fmt = _EXTENSIONS.get(named.suffix.lower())
    if fmt == "json" and path.is_file() and sniff_format(path) == "jsonl":
        return "jsonl"
    if fmt == "jsonl" and path.is_file() and holds_json_list(path):
        return "json"
    if fmt == "tsv" and path.is_file() and holds_conll_columns(path):
        return "conll"
    if fmt is None and path.is_file():
        return sniff_format(path)
    return fmt


def archive_problem(path: Path) -> tuple[str, str] | None:
    """When ``path`` is an archive (zip, tar, 7z, rar), not a data file: (what it is, how to read what it holds)."""
    kind = archive_of(path) if path.is_file() else None
    foreign = foreign_kind(path) if kind is None and path.is_file() else None  # .xls (under a .csv name too), a pickle
    if foreign is not None:
        return f"{path.name} is {foreign[0]}, not a data file humc reads", foreign[1]
    if kind is None:
        return None
    if path.suffix.lower() in (".xlsx", ".xlsm", ".ods"):  # spreadsheets are zip archives of XML
        return (f"{path.name} is a spreadsheet workbook, not a data file humc reads",
                "save the sheet as CSV (UTF-8) and point `path:` at that file")
    members = archive_members(path, kind)
    holding = f" holding {', '.join(members)}{', …' if len(members) == 3 else ''}" if members else ""
    return (f"{path.name} is a {kind} archive{holding}, not a data file",
            "name the file inside with `member:` (a zip or tar archive), or extract it and point `path:` at a file "
            "inside (one source per file); compressed single files (.gz, .bz2, .xz, .zst) are read as they are")


def source_digest(src: SourceDef) -> str:
    """Content hash of a source (file bytes, or the dataset spec and its cache fingerprint)."""
    h = hashlib.sha256()
    h.update(json.dumps([src.format, src.options, src.dataset], sort_keys=True, default=str).encode())
    files = sorted(p for p in src.path.rglob("*") if p.is_file()) if src.path and src.path.is_dir() else [src.path]
    if src.path is not None and src.path.is_file():
        files.extend(p for p in paired_files(src).values() if p.is_file())  # their lines are part of the records
        names = src.path.parent / str(src.options.get("key_names") or "")
        if src.options.get("key_names") and names.is_file():  # FewRel's pid2name.json: its names are in the records
            files.append(names)
    for path in files:
        if path is None:
            continue
        h.update(str(path.relative_to(src.path) if src.path is not None and src.path.is_dir() else "").encode())
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def read_source(src: SourceDef) -> Iterator[Row]:
    keys = src.options.get("explode") if src.format in _EXPLODED_AFTER else None
    try:
        if keys:
            yield from (Row(n, record) for n, record in enumerate(exploded(src, _records(src), list(keys))))
            return
        for row in _READERS[src.format](src):
            yield row if isinstance(row, Row) else Row(*row)
    except (UnicodeDecodeError, *DAMAGED_ARCHIVE) as exc:
        raise _file_failure(src, exc) from None


_EXPLODED_AFTER = ("parquet", "orc", "avro", "arrow", "hf")  # readers without lines: `explode:` applies to the records they yield


def _records(src: SourceDef) -> Iterator[dict[str, Any]]:
    for row in _READERS[src.format](src):
        yield row.record if isinstance(row, Row) else row[1]


def _file_failure(src: SourceDef, exc: Exception) -> Exception:
    """What reading ``src``'s file failing with ``exc`` is: a byte that does not decode, a damaged archive or an
    unreadable file, located in that file (a folder reader passes the file's own SourceDef); else ``exc`` itself."""
    if isinstance(exc, UnicodeDecodeError):
        return _not_decodable(src, exc)
    kind = compression_of(src.path) if src.path is not None and src.path.is_file() else None
    if kind is None and isinstance(exc, OSError) and exc.filename is not None and exc.errno not in OUT_OF_FILES:
        # unreadable: permissions, a folder (out of open files is the machine's limit: E9002, cli/system.py)
        return SourceError(f"source '{src.id}': cannot read {exc.filename}: {exc.strerror}",
                           Span(str(exc.filename), 1, 1), code="E0009", expected="a readable file",
                           hint="check the file's permissions, or that the path names a file")
    if kind is None:
        return exc
    return SourceError(f"source '{src.id}': the {kind}-compressed file is damaged or cut short ({exc})",
                       Span(str(src.path), 1, 1), expected=f"a complete {kind} stream",
                       hint="download or copy the file again; test it with e.g. `gzip -t FILE`")


def _not_decodable(src: SourceDef, exc: UnicodeDecodeError) -> SourceError:
    """The first byte of the file that does not decode, at its line and column (bytes into the line)."""
    path = str(src.path)
    line, col, data, cut = _first_bad_byte(src, exc.encoding)
    byte = data[col - 1:col]
    inside = compressed_inside(Path(path))
    if cut:  # a download or copy stopped inside a character: the rest of the file is missing, not mis-encoded
        return SourceError(f"source '{src.id}': the file ends inside a {exc.encoding} character (bytes "
                           f"{data[col - 1:]!r} at line {line}, column {col}): it is cut short",
                           Span(path, line, col), expected=f"complete {exc.encoding} text",
                           hint="copy or download the file again; the last line is incomplete")
    if (binary := binary_inside(Path(path))) is not None:
        hint = compressed_binary_hint(Path(path), binary.capitalize()) or (
            f"the file is {binary.capitalize()} data, not text (its first bytes say so): set the source's "
            f"`format: {binary}`, or give the file its own extension (.{binary})")
    elif inside is not None:
        hint = (f"the file is compressed twice (a {inside} stream inside the {compression_of(Path(path))} one, as some "
                "servers and upload tools do): decompress it once and point `path:` at the result")
    elif starts_utf16(Path(path)):
        hint = "the file starts with a UTF-16 byte-order mark: save it as UTF-8 or set `options: {encoding: utf-16}`"
    elif (utf16 := unmarked_utf16_hint(Path(path))) is not None:  # latin-1 would read it with a NUL in every pair
        hint = utf16
    elif (east_asian := _east_asian(data)) is not None:  # their lead bytes reach 0x81: before the Windows-1252 guess
        hint = (f"the line reads as {east_asian[1]}: set `options: {{encoding: {east_asian[0]}}}` (latin-1 would read "
                "it as Latin letters), or save the file as UTF-8")
    elif any(0x80 <= b <= 0x9F for b in data):  # Windows-1252 punctuation (curly quotes, dashes): latin-1 reads controls
        hint = ("the line holds Windows-1252 punctuation (a curly quote or dash): set `options: {encoding: cp1252}` "
                "(latin-1 would read it as an invisible control character), or save the file as UTF-8")
    else:
        hint = "set the file's encoding, e.g. `options: {encoding: latin-1}`, or save it as UTF-8"
    return SourceError(f"source '{src.id}': the file is not valid {exc.encoding} text (byte {byte!r} at line {line}, "
                       f"column {col})", Span(path, line, col), expected=f"{exc.encoding} text", hint=hint)


def _east_asian(line: bytes) -> tuple[str, str] | None:
    """(codec, what the text is) when a line that is no UTF-8 reads as Japanese, Korean or Chinese in the codec its
    country's Excel and tools write, told apart by script: Japanese has kana (Shift_JIS bytes make none in the others;
    EUC-JP's kana rows are GB2312's too, but Chinese has no kana), Korean is Hangul throughout (GB2312 Chinese read as
    EUC-KR mixes Hangul and Hanja), Simplified Chinese is GB2312's characters, Traditional Chinese Big5's ideographs."""
    for codec, name, fits in _EAST_ASIAN:
        try:
            text = line.decode(codec)
        except UnicodeDecodeError:
            continue
        wide = [c for c in text if ord(c) > 0x7F]
        if wide and fits(wide):
            return codec, name
    return None


def _share(wide: list[str], test: Callable[[str], bool]) -> float:
    return sum(1 for c in wide if test(c)) / len(wide)


def _kana(char: str) -> bool:
    return "\u3041" <= char <= "\u30ff"  # hiragana and katakana (fullwidth: halfwidth ones are GB bytes in Shift_JIS)


def _hangul(char: str) -> bool:
    return "\uac00" <= char <= "\ud7a3"


def _ideograph(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff" or "\u3000" <= char <= "\u303f" or "\uff01" <= char <= "\uff5e"


def _high_pair(codec: str) -> Callable[[str], bool]:
    """Whether a character is two bytes over 0xA0 in ``codec``: a Latin-1 accented letter before an ASCII letter
    (`Schön`, `señor`, `Århus`) decodes as a Big5 ideograph or a CP949 Hangul syllable too, but with an ASCII second
    byte (Python's euc_kr encodes every Hangul syllable, so being in it tells nothing)."""
    def high(char: str) -> bool:
        try:
            pair = char.encode(codec)
        except UnicodeEncodeError:
            return False
        return len(pair) == 2 and pair[1] > 0xA0

    return high


_EAST_ASIAN: tuple[tuple[str, str, Callable[[list[str]], bool]], ...] = (
    ("cp932", "Japanese in Shift_JIS (Japanese Excel's CSV)", lambda w: _share(w, _kana) >= 0.1),
    ("euc_jp", "Japanese in EUC-JP", lambda w: _share(w, _kana) >= 0.1),
    ("cp949", "Korean in EUC-KR (CP949, Korean Excel's CSV)",  # Hangul that EUC-KR has: not Latin-1 bytes by chance
     lambda w: _share(w, _hangul) >= 0.9 and _share(w, _high_pair("cp949")) >= 0.9),
    # Latin-1 text decodes in GB18030 too, but an accented letter before an ASCII one makes a rare GBK character
    ("gb18030", "Chinese in GB18030 (GBK, GB2312: Chinese Excel's CSV; Taiwan's and Hong Kong's files are big5)",
     lambda w: _share(w, _in_gb2312) >= 0.8),
    ("big5", "Traditional Chinese in Big5 (Taiwan, Hong Kong)",  # a third of Big5's second bytes are ASCII
     lambda w: _share(w, _ideograph) >= 0.8 and any(map(_high_pair("big5"), w))),
)


def _in_gb2312(char: str) -> bool:
    try:
        char.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def _first_bad_byte(src: SourceDef, encoding: str) -> tuple[int, int, bytes, bool]:
    """Decode the file line by line (streaming) until a line fails: (line, column, the line's bytes, whether the file
    ends inside a character there: the bytes of its start are all the file has left)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    lineno, data = 0, b""
    with open_binary(_file(src)) as f:
        for lineno, data in enumerate(f, 1):
            try:
                decoder.decode(data)
            except UnicodeDecodeError as exc:
                return lineno, max(0, min(exc.start, len(data) - 1)) + 1, data, False
    pending = decoder.getstate()[0]
    if lineno and 0 < len(pending) <= len(data):
        return lineno, len(data) - len(pending) + 1, data, True
    return 1, 1, b"", False


_enc = source_encoding


def _file(src: SourceDef) -> Path:
    assert src.path is not None, f"source '{src.id}' is a dataset, not a file"  # file readers get file sources only
    return src.path


_FIX_HINT = "fix the file at this line, or check the source's `format:` and `options:` (`humc stdlib catalog` lists adapters)"


def _fail(src: SourceDef, line: int, message: str, expected: str | None = None, hint: str = _FIX_HINT,
          column: int = 1) -> SourceError:
    return SourceError(f"source '{src.id}': {message}", Span(str(src.path), line, column), expected=expected, hint=hint)


def _too_deep(src: SourceDef, line: int, column: int = 1) -> SourceError:
    return SourceError(f"source '{src.id}': a JSON value is nested too deeply (more than {MAX_RECORD_DEPTH} levels)",
                       Span(str(src.path), line, column), expected=f"JSON records nested at most {MAX_RECORD_DEPTH} levels",
                       hint="flatten the data; reading and caching a record recurse once per nesting level")


def _nested_too_deeply(value: Any, limit: int = MAX_RECORD_DEPTH) -> bool:
    """Whether ``value`` nests lists and objects more than ``limit`` levels deep (a walk without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _may_nest_too_deeply(text: str) -> bool:
    """A cheap test before the walk: a value deeper than the limit opens more brackets than the limit."""
    return text.count("[") + text.count("{") > MAX_RECORD_DEPTH


def _structure(text: str) -> Iterator[tuple[str, int, int]]:
    """The brackets and braces of a JSON text outside its strings, each with its 1-based line and column."""
    line, column, in_string, escaped = 1, 0, False, False
    for char in text:
        column += 1
        if char == "\n":
            line, column = line + 1, 0
        elif in_string:
            in_string, escaped = (char != '"' or escaped), (char == "\\" and not escaped)
        elif char == '"':
            in_string = True
        elif char in "[{]}":
            yield char, line, column


def _deep_point(text: str, limit: int = MAX_RECORD_DEPTH) -> tuple[int, int]:
    """The (line, column) of the bracket that opens level ``limit + 1`` of a JSON text; run only once a value is
    known to be too deep."""
    depth = 0
    for char, line, column in _structure(text):
        depth += 1 if char in "[{" else -1
        if depth > limit:
            return line, column
    return 1, 1


def _object_end(text: str, n: int) -> tuple[int, int]:
    """The (line, column) of the ``n``-th object to close (1-based) in a JSON text: where a parse hook saw it."""
    closed = 0
    for char, line, column in _structure(text):
        closed += char == "}"
        if closed == n:
            return line, column
    return 1, 1


class _RepeatedKey(Exception):
    """An object names a key twice (Python's json would keep the last value without a word): the key, and the
    object's place in the order objects close."""

    def __init__(self, key: str, closed: int) -> None:
        super().__init__(key)
        self.key, self.closed = key, closed


class _UniqueKeys:
    """A JSON ``object_pairs_hook`` that refuses a key named twice in one object, counting the objects it builds."""

    def __init__(self) -> None:
        self.closed = 0

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        self.closed += 1
        record = dict(pairs)
        if len(record) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    raise _RepeatedKey(key, self.closed)
                seen.add(key)
        return record


def loads_unique(text: str) -> Any:
    """``json.loads`` that refuses an object naming a key twice: ValueError naming the key, its line and column."""
    try:
        return json.JSONDecoder(object_pairs_hook=_UniqueKeys()).decode(text)
    except _RepeatedKey as exc:
        line, column = _object_end(text, exc.closed)
        raise RepeatedKeyError(exc.key, line, column) from None


class RepeatedKeyError(ValueError):
    """What ``loads_unique`` raises: the key named twice, and the end of its object (1-based line and column)."""

    def __init__(self, key: str, line: int, column: int) -> None:
        super().__init__(f"an object names the key '{key}' twice")
        self.key, self.line, self.column = key, line, column


def _repeated_key(src: SourceDef, exc: _RepeatedKey, text: str, line: int = 1) -> SourceError:
    """E4001 at the end of the object that names ``exc.key`` twice (``line``: where ``text`` starts in the file)."""
    at_line, column = _object_end(text, exc.closed)
    return SourceError(f"source '{src.id}': an object names the key '{exc.key}' twice",
                       Span(str(src.path), line + at_line - 1, column), code="E4001",
                       expected="each key once in an object",
                       hint="JSON readers disagree on which value counts (Python's keeps the last, others the first): "
                            "remove or rename one of them")


def _read_jsonl(src: SourceDef) -> Iterator[Row]:
    rows = _jsonl_rows(src)
    for column, path in paired_files(src).items():
        rows = _with_lines(src, rows, path, column)
    keys = src.options.get("explode")
    yield from _exploded_rows(src, rows, list(keys)) if keys else rows


def _exploded_rows(src: SourceDef, rows: Iterator[Row], keys: list[str]) -> Iterator[Row]:
    """`explode:` over JSON Lines (RACE's article files written one per line): one row per position, at its line."""
    n = 0
    for row in rows:
        for record in exploded(src, iter([row.record]), keys, row.number, row.line or 1):
            yield Row(n, record, row.line)
            n += 1


def paired_files(src: SourceDef) -> dict[str, Path]:
    """Column -> the file beside the source whose line N is record N's value: `label_file:` (AI2's valid-labels.lst
    next to valid.jsonl) as `label`, and each of `line_files:`; `{stem}` is the file's name without its extensions
    (`{stem}-labels.lst`: train-labels.lst for train.jsonl)."""
    names = {**({"label": src.options["label_file"]} if src.options.get("label_file") else {}),
             **dict(src.options.get("line_files") or {})}
    path = _file(src)
    stem = path.name.split(".")[0]
    return {str(column): path.parent / str(name).replace("{stem}", stem) for column, name in names.items()}


def _read_lines(src: SourceDef) -> Iterator[Row]:
    """`format: lines`: one record {text} per line of a plain text file (blank lines at the end are none), with the
    values of its `label_file:` and `line_files:` (JointBERT's seq.in beside seq.out and label)."""
    rows = _text_lines(src)
    for column, path in paired_files(src).items():
        rows = _with_lines(src, rows, path, column)
    yield from rows


def _text_lines(src: SourceDef) -> Iterator[Row]:
    blank: list[int] = []  # blank lines are records only once a line with text follows them
    row = 0
    with open_text(_file(src), _enc(src), newline_of(_file(src))) as f:
        for lineno, line in enumerate(nul_free(src, f), 1):
            text = line.rstrip("\r\n")
            if not text.strip():
                blank.append(lineno)
                continue
            for at in [*blank, lineno]:
                yield Row(row, {"text": text if at == lineno else ""}, at)
                row += 1
            blank = []


def _with_lines(src: SourceDef, rows: Iterator[Row], path: Path, column: str = "label") -> Iterator[Row]:
    """Line N of the file becomes record N's ``column`` (the label file of PIQA, Social IQa, WinoGrande; JointBERT's
    seq.out); a file with more or fewer lines than there are records is an error at the first line without a
    partner."""
    noun = "label" if column == "label" else f"`{column}`"
    if not path.is_file():
        raise SourceError(f"source '{src.id}': the {noun} file {path.name} is not beside {_file(src).name}",
                          Span(str(path), 1, 1), code="E0009", expected=f"a file with one {noun} per line",
                          hint="`label_file:` and `line_files:` are relative to the folder of the source's file "
                               "(valid-labels.lst, seq.out)")
    labels = SourceDef(src.id, path, src.format, src.options)  # its own file: its own BOM, its own error location
    lineno = 0
    with open_text(path, _enc(labels), newline_of(path)) as f:
        for row in rows:
            lineno += 1
            label = _decoded(labels, f.readline)
            if "\0" in label:
                raise nul_error(labels, path, lineno, label.index("\0") + 1)
            if not label:
                raise _unpaired(src, path, noun, lineno, f"has {lineno - 1} line(s), but {_file(src).name} has more "
                                "records")
            yield Row(row.number, {**row.record, column: label.rstrip("\r\n")}, row.line)
        if _decoded(labels, f.read).strip():  # blank lines at the end are no labels
            raise _unpaired(src, path, noun, lineno + 1, f"has more lines than {_file(src).name} has records ({lineno})")


def _unpaired(src: SourceDef, path: Path, noun: str, line: int, what: str) -> SourceError:
    """A line file and the records do not pair up: located at the line file's first line without a partner."""
    return SourceError(f"source '{src.id}': the {noun} file {path.name} {what}", Span(str(path), line, 1), code="E4001",
                       expected=f"one {noun} per record, in the records' order",
                       hint="pair the records with their own label file (valid.jsonl with valid-labels.lst)")


def _decoded(src: SourceDef, read: Callable[[], str]) -> str:
    """``read()`` of the text of ``src``'s file; a byte that does not decode is reported in that file, at its line."""
    try:
        return read()
    except UnicodeDecodeError as exc:
        raise _not_decodable(src, exc) from None


def _jsonl_rows(src: SourceDef) -> Iterator[Row]:
    row, skipped = 0, False
    keys = _UniqueKeys()
    decoder = json.JSONDecoder(object_pairs_hook=keys)
    with open_text(_file(src), _enc(src), newline_of(_file(src))) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            keys.closed = 0
            try:
                record = decoder.decode(line[1:] if line[0] == "\ufeff" else line)  # a BOM inside: files joined with `cat`
            except _RepeatedKey as exc:
                raise _repeated_key(src, exc, line, lineno) from None
            except json.JSONDecodeError as exc:
                if "\0" in line:  # zero padding, or UTF-16 without a byte-order mark: say so, not "Expecting value"
                    raise nul_error(src, _file(src), lineno, line.index("\0") + 1) from None
                bom = line[0] == "\ufeff"  # the decoder read the line after it: its positions are one short
                raise _fail(src, lineno, f"invalid JSON: {exc.msg}", "one JSON object per line",
                            _jsonl_hint(line, row, exc.pos + bom, exc.msg), column=exc.colno + bom) from None
            except RecursionError:
                raise _too_deep(src, lineno, _deep_point(line)[1]) from None
            except ValueError as exc:  # an integer of more than 4300 digits (CPython's int() limit)
                raise _huge_number(src, lineno, exc) from None
            if _may_nest_too_deeply(line) and _nested_too_deeply(record):
                raise _too_deep(src, lineno, _deep_point(line)[1])
            if not isinstance(record, dict):
                error = _fail(src, lineno, f"a line holds {_json_type(record)}, not an object", "one JSON object per line")
                if isinstance(record, list) and record and all(isinstance(r, dict) for r in record):
                    error.hint = "the line is a JSON list of objects: for a file holding one JSON list use `format: json`"
                elif isinstance(record, str) and record.lstrip()[:1] in ("{", "["):
                    error.hint = _TWICE_HINT
                raise error
            if row == 0 and not skipped and _metadata_line(record):
                skipped = True
                continue
            yield Row(row, record, lineno)
            row += 1


def _metadata_line(record: dict[str, Any]) -> bool:
    """MRQA's files (SQuAD.jsonl.gz, …) open with `{"header": {"dataset": …, "split": …}}`: metadata, not a record."""
    return len(record) == 1 and isinstance(record.get("header"), dict)


def _jsonl_hint(line: str, row: int, pos: int | None = None, problem: str = "") -> str:
    """Why a JSONL line does not parse: a cut-short last line, pretty-printed JSON, two values on one line, or (else)
    the line itself."""
    if not line.endswith("\n"):  # the last line, and it does not parse
        return "the last line ends inside a JSON value: the file looks cut short (copy it again, or delete the partial line)"
    if row == 0 and line.strip() in ("[", "{"):
        return "the file holds pretty-printed JSON, not one object per line: use `format: json`"
    if problem == "Extra data" and pos is not None and line[pos:pos + 1] in ("{", "["):
        return ("a second JSON value starts here, on the same line: JSON Lines hold one record per line (a line "
                "break between `}{` was lost): put each record on its own line")
    if _PYTHON_LITERAL.match(line):
        return _PYTHON_HINT
    if pos is not None and _trailing_comma(line, pos):
        return _TRAILING_COMMA_HINT
    return _FIX_HINT


_TRAILING_COMMA_HINT = ("a comma stands before a closing `]` or `}`: JavaScript and JSON5 allow that, JSON does not; "
                        "remove it (or write the file with json.dump)")


def _trailing_comma(doc: str, pos: int) -> bool:
    """Whether a JSON parse error at ``pos`` is a closing bracket right after a comma (`[{…},]`, `{"a": 1,}`)."""
    return doc[pos:pos + 1] in ("]", "}") and doc[:pos].rstrip().endswith(",")


_PYTHON_LITERAL = re.compile(r"\s*(?:\[\s*)*\{\s*'")  # {'text': …}: a Python dict written with str() or print()
_PYTHON_HINT = ("the text uses single quotes, as Python prints a dict: JSON needs double quotes; write the file with "
                "json.dumps (or pandas to_json)")


def _load_json(src: SourceDef) -> Any:
    try:
        with open_text(_file(src), _enc(src)) as f:
            text = f.read()
        data = json.JSONDecoder(object_pairs_hook=_UniqueKeys()).decode(text)
    except _RepeatedKey as exc:
        raise _repeated_key(src, exc, text) from None
    except json.JSONDecodeError as exc:
        if "\0" in exc.doc:  # zero padding, or UTF-16 without a byte-order mark
            raise nul_error_in(src, _file(src), exc.doc) from None
        hint = _FIX_HINT
        if exc.msg == "Extra data" and looks_like_json_lines(exc.doc[:exc.pos + 1]):
            hint = "the file holds JSON Lines (one object per line): use `format: jsonl`"
        elif exc.msg == "Extra data" and exc.doc[exc.pos] in "{[":
            hint = ("the file holds several JSON documents one after another (pretty-printed, as `jq` writes them): "
                    "write one object per line (`jq -c . FILE`) and read that as `format: jsonl`, or one JSON list")
        elif not exc.doc.strip():
            hint = "the file is empty (or blank): a download or export that wrote nothing; copy or export it again"
        elif not exc.doc[exc.pos:].strip():
            hint = "the file ends inside a JSON value: it looks cut short (copy it again)"
        elif _trailing_comma(exc.doc, exc.pos):
            hint = _TRAILING_COMMA_HINT
        elif _PYTHON_LITERAL.match(exc.doc):
            hint = _PYTHON_HINT
        raise SourceError(f"source '{src.id}': invalid JSON: {exc.msg}", Span(str(src.path), exc.lineno, exc.colno),
                          code="E4001", expected="one JSON document", hint=hint) from None
    except RecursionError:
        raise _too_deep(src, *_deep_point(text)) from None
    except UnicodeDecodeError:  # a ValueError too, but the file's bytes: read_source locates it
        raise
    except ValueError as exc:  # an integer of more than 4300 digits (CPython's int() limit)
        raise _huge_number(src, 1, exc) from None
    if _may_nest_too_deeply(text) and _nested_too_deeply(data):
        raise _too_deep(src, *_deep_point(text))
    return data


def _huge_number(src: SourceDef, line: int, exc: ValueError) -> SourceError:
    return SourceError(f"source '{src.id}': a JSON number is too long to read ({exc.args[0].split(';')[0]})",
                       Span(str(src.path), line, 1), expected="numbers of at most 4300 digits",
                       hint="write such a value as a JSON string (in quotes)")


def _read_json(src: SourceDef) -> Iterator[RawRow]:
    """A JSON list of records (or one object); a folder: every file in it, in name order (RACE)."""
    keys = src.options.get("explode")
    if src.path is not None and src.path.is_dir():
        files = document_files(src.path)
        rows = (record for path in files for _, record in _folder_file(SourceDef(src.id, path, src.format, src.options)))
        yield from enumerate(exploded(src, rows, keys) if keys else rows)
        return
    rows = (record for _, record in _read_json_file(src))
    yield from enumerate(exploded(src, rows, keys) if keys else rows)


def _folder_file(src: SourceDef) -> Iterator[tuple[int, dict[str, Any]]]:
    """One file of a `format: json` folder: a list of records, or one object (one record per file)."""
    try:
        yield from _read_json_file(src, one_object_is_a_record=True)
    except (UnicodeDecodeError, *DAMAGED_ARCHIVE) as exc:  # located in that file, not in the folder
        raise _file_failure(src, exc) from None
    except SourceError as exc:
        if "format: jsonl" in (exc.hint or ""):  # JSON Lines shards: `format: jsonl` reads one file, not a folder
            exc.hint = "the folder's files hold JSON Lines: a folder of shards is one source as `dataset: {name: <folder>}`"
        raise


def _read_json_file(src: SourceDef, one_object_is_a_record: bool = False) -> Iterator[tuple[int, dict[str, Any]]]:
    data = _load_json(src)
    unnamed = src.options.get("records") is None and src.options.get("key_column") is None
    if unnamed and not one_object_is_a_record:
        data = _split_table(src, data)
    envelope = envelope_key(data) if unnamed and not one_object_is_a_record else None
    if isinstance(data, dict) and unnamed and envelope is None and (src.options.get("explode") or one_object_is_a_record):
        data = [data]  # one object per file (RACE)
    key = src.options.get("records") or envelope
    if key is not None:
        data = data.get(key) if isinstance(data, dict) else None
    if src.options.get("key_column") is not None:
        data = _keyed_records(src, data)
    under = f" under '{key}'" if key else ""
    if isinstance(data, list):
        names = src.options.get("columns")
        if names:
            data = [_named_item(src, n, item, names, under) for n, item in enumerate(data)]
        bad = next((i for i, r in enumerate(data) if not isinstance(r, dict)), None)
        if bad is not None:
            hint = ("name the positions of each item with `options: {columns: [...]}` (C3: [dialogue, questions, id])"
                    if isinstance(data[bad], list) else "fix or remove that item")
            line, column = _item_point(src, bad, key)
            raise _fail(src, line, f"item {bad} of the JSON list{under} is {_json_type(data[bad])}, not an object",
                        "a list of objects (one record each)", hint, column)
        yield from enumerate(data)
        return
    raise _fail(src, 1, "expected a JSON list of objects" + under,
                "a list of objects, or `options: {records: <key>}` naming the list", _records_hint(src))


def _item_point(src: SourceDef, n: int, key: str | None) -> tuple[int, int]:
    """The line and column of item ``n`` of the file's JSON list (the one under ``key`` of its object), found when
    reporting it by decoding the items before it again; 1, 1 when the list is not where a plain file has it."""
    with open_text(_file(src), _enc(src)) as f:
        text = f.read()
    decoder = json.JSONDecoder()
    try:
        pos = _blank(text, 0)
        if key is not None:  # the list is a member's value: step over the members before it
            pos = _blank(text, pos + 1)
            while True:
                name, end = decoder.raw_decode(text, pos)
                pos = _blank(text, _blank(text, end) + 1)  # past the colon
                if name == key:
                    break
                pos = _blank(text, _blank(text, decoder.raw_decode(text, pos)[1]) + 1)  # past the value and its comma
        if text[pos] != "[":
            return 1, 1
        pos = _blank(text, pos + 1)
        for _ in range(n):
            pos = _blank(text, _blank(text, decoder.raw_decode(text, pos)[1]) + 1)  # the item, then its comma
    except (ValueError, IndexError, RecursionError):
        return 1, 1
    return text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)


def _blank(text: str, pos: int) -> int:
    """The position of the first character at or after ``pos`` that is not JSON whitespace."""
    return _JSON_BLANK.match(text, pos).end()  # type: ignore[union-attr]  # the pattern matches the empty string


_JSON_BLANK = re.compile(r"[ \t\n\r]*")


ENVELOPE_KEYS = ("data", "records", "rows", "examples", "instances", "samples", "items", "documents")


def envelope_key(data: Any) -> str | None:
    """The key of the records in an object that wraps them in metadata (`{"version": "1.0", "data": [...]}`, as
    CoQA, many releases and `{"data": [...]}` exports write it): the one key of ``ENVELOPE_KEYS`` there, holding a
    non-empty list of objects, every other value a scalar (a record's own list of objects, `entities`, is no
    envelope). None otherwise, and for SQuAD's articles (`format: squad` reads those)."""
    if not isinstance(data, dict):
        return None
    keys = [k for k in ENVELOPE_KEYS if k in data]
    lists = [k for k in keys if isinstance(data[k], list) and data[k] and all(isinstance(r, dict) for r in data[k])]
    if len(keys) != 1 or len(lists) != 1 or any(isinstance(v, (dict, list)) and not _table_schema(k, v)
                                                for k, v in data.items() if k != lists[0]):
        return None
    return None if "paragraphs" in data[lists[0]][0] else lists[0]


def _table_schema(key: str, value: Any) -> bool:
    """Whether ``value`` is the Table Schema pandas' `to_json(orient='table')` writes beside its `data` records
    (`{"schema": {"fields": [...], "primaryKey": [...], "pandas_version": …}, "data": [...]}`): metadata too."""
    return key == "schema" and isinstance(value, dict) and isinstance(value.get("fields"), list)


_SPLIT_KEYS = frozenset({"columns", "index", "data"})


def _split_table(src: SourceDef, data: Any) -> Any:
    """pandas' `to_json(orient='split')`, `{"columns": [names], "index": [labels], "data": [[values], …]}`, as one record
    per row (the index, row labels, left out as `orient='records'` leaves it out); any other value as it is."""
    if not isinstance(data, dict) or not {"columns", "data"} <= data.keys() <= _SPLIT_KEYS:
        return data
    names, rows = data["columns"], data["data"]
    if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names) and isinstance(rows, list)
            and all(isinstance(r, list) and len(r) == len(names) for r in rows)):
        return data
    twice = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if twice is not None:
        raise _fail(src, 1, f"the table's `columns` name {twice!r} twice", "one name per column",
                    "rename the DataFrame's columns before to_json (a record holds one value per name)")
    return [dict(zip(names, row, strict=True)) for row in rows]


def _named_item(src: SourceDef, n: int, item: Any, names: list[str], under: str) -> Any:
    """`columns:` a list item that is a JSON list -> an object with those names for its positions (C3 writes
    [dialogue, questions, id]); an object is kept as it is."""
    if not isinstance(item, list):
        return item
    if len(item) != len(names):
        raise _fail(src, 1, f"item {n} of the JSON list{under} holds {len(item)} values but `columns:` names {len(names)}",
                    "columns: " + ", ".join(names), "name every position of the items under `options: {columns: [...]}`")
    return dict(zip(names, item, strict=True))


def _json_type(value: Any) -> str:
    """The JSON name of a parsed value's type (null, a string, a number, …), for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {str: "a string", int: "a number", float: "a number", list: "a list", dict: "an object"}.get(
        type(value), type(value).__name__)


def _keyed_records(src: SourceDef, data: Any) -> list[dict[str, Any]]:
    """`key_column`: {key: [record, …], …} -> every record with its key stored in the column (FewRel);
    {key: record, …} (records keyed by their id) -> one record per key; with `columns:`, a record that is a list
    has those names for its positions (CLINC150's {split: [[text, intent], …]})."""
    column = src.options["key_column"]
    positions = src.options.get("columns")
    where = f" under '{src.options['records']}'" if src.options.get("records") else ""
    if not isinstance(data, dict):
        raise _fail(src, 1, f"`key_column: {column}` needs a JSON object{where}, found {type(data).__name__}",
                    "an object mapping each key to a list of records", "leave out `key_column` for a list of records")
    out: list[dict[str, Any]] = []
    for key, items in data.items():
        if isinstance(items, dict):  # {id: record, …}: one record per key
            out.append({**items, column: key})
            continue
        if isinstance(items, list) and positions:
            items = [_named_item(src, n, item, positions, f" under '{key}'") for n, item in enumerate(items)]
        if positions and (not isinstance(items, list) or not all(isinstance(r, dict) for r in items)):
            raise _fail(src, 1, f"`key_column: {column}`: " + _not_named(items, key, where),
                        f"a list under each key, each item a list of {len(positions)} values ({', '.join(positions)})",
                        "fix or remove that value")
        if not isinstance(items, list) or not all(isinstance(r, dict) for r in items):
            lists = isinstance(items, list) and any(isinstance(r, list) for r in items)
            raise _fail(src, 1, f"`key_column: {column}`: the value of key {key!r}{where} is not a list of objects",
                        "an object mapping each key to a record or a list of records",
                        "name the positions of each list with `columns: [...]` (CLINC150: [text, intent])" if lists
                        else _FIX_HINT)
        out.extend({**item, column: key} for item in items)
    if src.options.get("key_names"):
        names = _key_names(src, list(data))
        out = [{**r, f"{column}_name": names[r[column]]} for r in out]
    return out


def _not_named(items: Any, key: str, where: str) -> str:
    """What is wrong with a key's value that `columns:` cannot name: not a list, or an item neither list nor object."""
    if not isinstance(items, list):
        return f"the value of key {key!r}{where} is {_json_type(items)}, not a list"
    n = next(i for i, r in enumerate(items) if not isinstance(r, dict))
    return f"item {n} of the list under {key!r}{where} is {_json_type(items[n])}, not a list of values"


def _key_names(src: SourceDef, keys: list[str]) -> dict[str, str]:
    """`key_names:` the JSON object beside the source naming each key of `key_column` (FewRel's pid2name.json, whose
    values are [name, description]): key -> name; a missing file, or a key it does not name, is a located error."""
    path = _file(src).parent / str(src.options["key_names"])
    column = src.options["key_column"]
    if not path.is_file():
        raise SourceError(f"source '{src.id}': the key names file {path.name} is not beside {_file(src).name}",
                          Span(str(path), 1, 1), code="E0009", expected=f"a JSON object naming each `{column}` key "
                          "(FewRel: pid2name.json from the release's data/ folder)",
                          hint="`key_names:` is relative to the folder of the source's file; copy the names file there")
    table = _load_json(SourceDef(src.id, path, "json", {k: v for k, v in src.options.items() if k == "encoding"}))
    names: dict[str, str] = {}
    for key in keys:
        value = table.get(key) if isinstance(table, dict) else None
        name = value[0] if isinstance(value, list) and value else value
        if not isinstance(name, str) or not name:
            found = "no entry" if value is None else f"{_json_type(value)}"
            raise SourceError(f"source '{src.id}': {path.name} names no {column} {key!r} ({found})",
                              Span(str(path), 1, 1), code="E4001",
                              expected=f'an entry "{key}": [name, description] or "{key}": name',
                              hint=f"{path.name} must be the names file of {_file(src).name}'s release; keys that "
                                   "are names already (FewRel 2.0's val_pubmed.json) need no `key_names` (read that "
                                   "file as a source of your own, not through the adapter)")
        names[key] = name
    return names


def _records_hint(src: SourceDef) -> str:
    """Name the keys of the loaded object that hold lists of objects (the likely `records:`), or suggest
    `key_column` when every value is one (an object keyed by label, FewRel)."""
    top = _load_json(src)
    if isinstance(top, dict) and isinstance(top.get("data"), list) and top["data"] \
            and all(isinstance(a, dict) and "paragraphs" in a for a in top["data"]):
        return "the file is SQuAD JSON (articles with paragraphs and qas): `format: squad` reads one record per question"
    keys = [k for k, v in top.items() if isinstance(v, list) and v and all(isinstance(r, dict) for r in v)] \
        if isinstance(top, dict) else []
    if isinstance(top, dict) and top and all(isinstance(v, dict) for v in top.values()):
        if _column_oriented(top):
            return ("the file holds columns, not records (pandas' to_json() writes {column: {row: value}} by "
                    "default): write it with to_json(orient='records', lines=True) and read it as `format: jsonl`")
        return "every key holds an object (records keyed by id): `options: {key_column: <name>}` reads one record " \
               "per key, with the key in that column"
    if len(keys) > 1 and len(keys) == len(top):
        return (f"every key ({', '.join(keys[:3])}{', …' if len(keys) > 3 else ''}) holds a list of objects: "
                "`options: {key_column: <name>}` reads them all, with the key in that column")
    one_line = isinstance(top, dict) and _one_line(src)
    if isinstance(top, dict) and _list_columns(top):
        return (f"every key holds a list of {len(next(iter(top.values())))} values: a table written by columns "
                "(json.dump(dataset.to_dict()), DataFrame.to_dict('list')) is read one record per position with "
                f"`options: {{explode: [{', '.join(list(top)[:4])}{', …' if len(top) > 4 else ''}]}}`"
                + ("; one record on one line is read with `format: jsonl`" if one_line else ""))
    if one_line:  # a JSON Lines file of one record (DuReader's first line, a slice)
        return "the file is one object on one line: a JSON Lines file of one record is read with `format: jsonl`" + (
            "; lists of objects are under: " + ", ".join(keys) if keys else "")
    if keys:
        return "lists of objects are under: " + ", ".join(keys) + f"; e.g. `options: {{records: {keys[0]}}}`"
    return _not_records_hint(top)


def _list_columns(top: dict[str, Any]) -> bool:
    """Whether an object is a table written by columns: two or more keys, each holding a list of the same length."""
    lengths = {len(v) if isinstance(v, list) else -1 for v in top.values()}
    return len(top) > 1 and len(lengths) == 1 and min(lengths) > 0


def _not_records_hint(top: Any) -> str:
    """The hint for a JSON document that holds no records: one object, or a string holding JSON (encoded twice)."""
    if isinstance(top, str) and top.lstrip()[:1] in ("{", "["):
        return _TWICE_HINT
    if isinstance(top, dict):
        names = ", ".join(list(top)[:4]) + (", …" if len(top) > 4 else "")
        return (f"the file holds one object ({names}), not a list of records: write it inside a list (`[{{…}}]`) to "
                "read it as one record, or put such files in a folder, read one record per file as `format: json`")
    return "a JSON Lines file (one object per line) is `format: jsonl`"


_TWICE_HINT = ("the value is a JSON string holding JSON text: it was encoded twice (json.dumps of a json.dumps result, or "
               "to_json of a column of JSON strings): write the records themselves, encoded once")


def _one_line(src: SourceDef) -> bool:
    with open_text(_file(src), _enc(src)) as f:
        return len(f.read().strip().splitlines()) == 1


def _column_oriented(top: dict[str, dict[str, Any]]) -> bool:
    """Whether an object of objects is a table written by columns: two or more keys whose objects have the same
    keys, row numbers (pandas' `DataFrame.to_json()`: its index, 0, 1, … unless set)."""
    rows = [list(v) for v in top.values()]
    return len(rows) > 1 and all(r == rows[0] for r in rows) and all(k.isdigit() for k in rows[0])


def _read_squad(src: SourceDef) -> Iterator[RawRow]:
    """SQuAD 1.1/2.0 JSON, flattened like the Hub's squad/squad_v2 datasets. The Hub's flat records as they are
    exported (`Dataset.to_json`'s JSON Lines, a JSON list, or a `data` list of them) are read as they are."""
    if sniff_format(_file(src)) == "jsonl":
        for row in _jsonl_rows(src):
            yield Row(row.number, _flat_squad(src, row.record, f"line {row.line}", row.line or 1), row.line)
        return
    data = _load_json(src)
    articles = data.get("data") if isinstance(data, dict) else data
    if not isinstance(articles, list):
        raise _fail(src, 1, "not SQuAD JSON", "an object with a `data` list of articles, or a list of flat "
                    "{context, question, answers} records")
    if articles and isinstance(articles[0], dict) and "paragraphs" not in articles[0] and "question" in articles[0]:
        yield from ((n, _flat_squad(src, item, f"record {n}")) for n, item in enumerate(articles))
        return
    if not isinstance(data, dict):
        raise _fail(src, 1, "not SQuAD JSON", "an object with a `data` list of articles")
    yield from _squad_articles(src, articles)


def _flat_squad(src: SourceDef, record: Any, where: str, line: int = 1) -> dict[str, Any]:
    """One flat SQuAD record (the Hub's layout), its `answers` as {text: [...], answer_start: [...]} (a list of
    {text, answer_start} objects, as some exports write it, turned into that) and `is_impossible` when it has none."""
    if not isinstance(record, dict):
        raise _fail(src, line, f"{where} is {_json_type(record)}, not an object", "flat SQuAD records")
    for key in ("context", "question"):
        _squad_text(src, record, key, where, line)
    answers = record.get("answers", [])
    if isinstance(answers, list):
        items = [a if isinstance(a, dict) else {} for a in answers]
        answers = {"text": [_squad_text(src, a, "text", f"{where}.answers[{i}]", line) for i, a in enumerate(items)],
                   "answer_start": [a.get("answer_start", -1) for a in items]}
    if not isinstance(answers, dict) or not isinstance(answers.get("text"), list):
        raise _fail(src, line, f"{where}.answers is not a list of answers", "answers: {text: [...], answer_start: "
                    "[...]} or [{text, answer_start}, ...]")
    return {"is_impossible": not answers["text"], **record, "answers": answers}


def _squad_articles(src: SourceDef, articles: list[Any]) -> Iterator[RawRow]:
    """The questions of SQuAD's nesting (data[].paragraphs[].qas[]), one flat record each."""
    row = 0
    for a, article in enumerate(articles):
        where = f"data[{a}]"
        for p, para in enumerate(_squad_list(src, article, "paragraphs", where)):
            context = _squad_text(src, para, "context", f"{where}.paragraphs[{p}]")
            for q, qa in enumerate(_squad_list(src, para, "qas", f"{where}.paragraphs[{p}]")):
                at = f"{where}.paragraphs[{p}].qas[{q}]"
                answers = _squad_list(src, qa, "answers", at, required=False)
                yield row, {
                    "id": str(qa.get("id", row)), "title": str(article.get("title", "")), "context": context,
                    "question": _squad_text(src, qa, "question", at), "is_impossible": bool(qa.get("is_impossible", False)),
                    **({} if _unanswered(qa) else {"answers": {
                        "text": [_squad_text(src, ans, "text", f"{at}.answers[{i}]") for i, ans in enumerate(answers)],
                        "answer_start": [ans.get("answer_start", -1) for ans in answers]}}),
                }
                row += 1


def _unanswered(qa: dict[str, Any]) -> bool:
    """A question written without `answers` and not said to be unanswerable: a test split released without its gold
    (CMRC 2018's, DuReader-robust's test1), which has no answer, not an empty one (SQuAD 2.0 writes `answers: []`
    with `is_impossible: true`); the record lacks `answers`, so mapping it says so."""
    return "answers" not in qa and not qa.get("is_impossible")


def _squad_list(src: SourceDef, obj: Any, key: str, where: str, required: bool = True) -> list[Any]:
    if not isinstance(obj, dict):
        raise _fail(src, 1, f"{where} is {type(obj).__name__}, not an object", "SQuAD JSON")
    value = obj.get(key, None if required else [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _fail(src, 1, f"{where}.{key} must be a list of objects", "SQuAD JSON")
    return value


def _squad_text(src: SourceDef, obj: dict[str, Any], key: str, where: str, line: int = 1) -> str:
    if not isinstance(obj.get(key), str):
        raise _fail(src, line, f"{where} has no string '{key}'", "SQuAD JSON")
    return str(obj[key])


def _read_delimited(src: SourceDef, delimiter: str) -> Iterator[RawRow]:
    key = src.options.get("group_by")
    rows = _whole_floats(_read_delimited_rows(src, delimiter))
    yield from grouped(src, rows, str(key)) if key else rows


_WHOLE_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)\.0")  # how pandas writes a whole float: 1.0, -3.0
_WHOLE_FLOAT_ROWS = 100


def _whole_floats(rows: Iterator[Row]) -> Iterator[Row]:
    """pandas writes an integer column that holds a missing value (NaN) as floats, `1.0`, `2.0` and an empty cell
    (`to_csv` of a label column with a gap): a column whose values in the first 100 rows all write a whole number
    so (empty cells aside, at least one) is read as the integers, `1`, `2`, in every row; a value that writes
    another number (`1.5`) and every other column are read as written. Decided once per file, from its head; a column
    empty throughout the head (unlabelled rows first) by its first value."""
    head = list(itertools.islice(rows, _WHOLE_FLOAT_ROWS))
    records = [row.record for row in head]
    whole = _whole_float_columns(records)
    undecided = [name for name in (records[0] if records else {}) if all(r.get(name) == "" for r in records)]
    if not whole and not undecided:
        yield from head
        yield from rows
        return
    for row in itertools.chain(head, rows):
        if undecided:
            _decide(row.record, undecided, whole)
        for name in whole:
            value = row.record.get(name)
            if type(value) is str and _WHOLE_FLOAT.fullmatch(value):
                row.record[name] = value[:-2]
        yield row


def _decide(record: dict[str, Any], undecided: list[str], whole: list[str]) -> None:
    """Move the ``undecided`` columns that have a value in ``record`` out of it, into ``whole`` when it is `1.0`."""
    for name in [n for n in undecided if record.get(n, "") != ""]:
        undecided.remove(name)
        if type(record[name]) is str and _WHOLE_FLOAT.fullmatch(record[name]):
            whole.append(name)


def _whole_float_columns(records: list[dict[str, Any]]) -> list[str]:
    """The columns whose values in ``records`` are all whole numbers written as floats (`1.0`) or empty."""
    filled = {name for record in records for name, value in record.items() if value != ""}
    return [name for name in (records[0] if records else {}) if name in filled
            and all(value == "" or (type(value) is str and _WHOLE_FLOAT.fullmatch(value))
                    for value in (record.get(name, "") for record in records))]


CSV_FIELD_LIMIT = (1 << 31) - 1  # the csv module's default, 128 KiB, refuses long documents in valid files


def _csv_reader(src: SourceDef, f: Any, delimiter: str) -> Any:
    if csv.field_size_limit() < CSV_FIELD_LIMIT:
        csv.field_size_limit(CSV_FIELD_LIMIT)
    quoting = src.options.get("quoting", "none" if delimiter == "\t" else "minimal")
    quotechar = str(src.options.get("quotechar", '"'))
    escapechar = src.options.get("escapechar")
    if quoting == "none":
        return csv.reader(f, delimiter=delimiter, quoting=csv.QUOTE_NONE, escapechar=escapechar)
    # strict: text after a closing quote is an error, not glued to the value ("He said \"hi\"" read as `He said \hi\"`)
    return csv.reader(f, delimiter=delimiter, quotechar=quotechar, escapechar=escapechar, strict=True)


def _read_delimited_rows(src: SourceDef, delimiter: str) -> Iterator[Row]:
    rest = src.options.get("rest")
    header = src.options.get("header", True)
    columns = src.options.get("columns")
    with open_text(_file(src), _enc(src), newline="") as f:
        reader = _csv_reader(src, nul_free(src, f), delimiter)
        names: list[str] | None = list(columns) if columns else None
        row, skip_header, start = 0, bool(header), 1
        header_row: list[str] | None = None
        quotes_are_text = delimiter == "\t" and "quoting" not in src.options  # TSV's default: quotes are text
        for values in _csv_rows(src, reader):
            if values and values[0].startswith("\ufeff"):  # a byte-order mark inside: files joined with `cat`
                values[0] = values[0][1:]
            if not values or values == header_row or (reader.line_num == 1 and _excel_separator(src, values, delimiter)):
                start = reader.line_num + 1  # a blank line, the header again (files joined with `cat`), Excel's `sep=`
                continue
            if quotes_are_text and row == 0 and header_row is None:  # the first line: its header, or its first row
                _refuse_quoted_line(src, values, reader.line_num)
            if skip_header:  # the header row names the columns unless `columns:` overrides it
                skip_header, header_row = False, values
                names = names or _header(src, values, reader.line_num)
                start = reader.line_num + 1
                continue
            if names is None:
                names = [f"column{i}" for i in range(len(values))]
            if rest and len(values) >= len(names):  # variable arity: surplus values collected in `rest`
                yield Row(row, dict(zip(names, values[:len(names)], strict=True)) | {str(rest): values[len(names):]}, start)
                row += 1
                start = reader.line_num + 1
                continue
            if len(values) != len(names):
                _unterminated_quote(src, reader, start, values)
                line, hint = reader.line_num, _arity_hint(src, delimiter, values, names)
                if len(values) < len(names) and _unended(_file(src)) and _exhausted(reader):  # cut short mid-line
                    hint = _CUT_LAST_LINE + hint
                raise _fail(src, line, f"{len(values)} values but {len(names)} columns",
                            f"{len(names)} values: {', '.join(names)}", hint)
            yield Row(row, dict(zip(names, values, strict=True)), start)
            row += 1
            start = reader.line_num + 1


def _refuse_quoted_line(src: SourceDef, values: list[str], line: int) -> None:
    """A TSV read with quotes as text (the default) whose first line quotes every value (numbers aside): pandas'
    `to_csv(sep='\\t', quoting=csv.QUOTE_ALL or QUOTE_NONNUMERIC)`, R's `write.table(sep='\\t')`. Its values would
    keep their quotes (`"pos"` as a label), so it is an error saying how to read them."""
    quoted = [len(v) > 1 and v[0] == '"' == v[-1] for v in values]
    if len(values) > 1 and all(q or _number(v) for q, v in zip(quoted, values, strict=True)) and quoted.count(True) > 1:
        raise _fail(src, line, "every value of the line is in double quotes, and a TSV's quotes are read as text",
                    "values without quotes around them",
                    "the file quotes its values (pandas' to_csv(sep='\\t', quoting=QUOTE_ALL), R's write.table): read "
                    "them as quoted with `options: {quoting: minimal}`; `quoting: none` keeps the quotes as text")


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _arity_hint(src: SourceDef, delimiter: str, values: list[str], names: list[str]) -> str:
    """What to do about a row of another length: when quotes are text (TSV's default) and a value opens with one, the
    file quotes its values (pandas' `to_csv(sep="\\t")`, GoEmotions), and a quoted value may hold a line break; a
    header read as one column names the delimiter the file uses (European Excel's ';')."""
    quoted = src.options.get("quoting", "none" if delimiter == "\t" else "minimal") == "none" \
        and any(v.startswith(str(src.options.get("quotechar", '"'))) for v in values)
    if quoted:
        return ("a value starts with a quote: the file quotes values that hold a tab, a quote or a line break (as "
                "pandas' to_csv(sep='\\t') writes them); read them as such with `options: {quoting: minimal}`")
    other = next((c for c in ";|\t," if c != delimiter and len(names) == 1 and c in names[0]), None)
    if other is not None:  # European Excel writes ';'
        return (f"the header is one column holding {other!r}: the values are separated by {other!r}; set "
                + ("`format: tsv`" if other == "\t" else f"`options: {{delimiter: '{other}'}}`"))
    return ("quote values that hold the delimiter; rows of varying length can collect their surplus values with "
            "`options: {rest: <name>}`")


_EXCEL_SEP = re.compile(r"sep=(.)")
_OTHER_DELIMITERS = ";|\t"  # what spreadsheets write in place of ',' (European Excel's ';')
_SNIFFED_LINES = 20


def csv_delimiter(src: SourceDef) -> str:
    """A CSV file's delimiter when `delimiter:` is not set: the one Excel's first line `sep=;` names; else ';', '|'
    or a tab when the file's first line (its header; without one, each of its first 20 lines) holds it and no
    comma, as European Excel writes `text;label`; else ','."""
    lines: list[str] = []
    try:
        with open_text(_file(src), _enc(src), newline="", errors="replace") as f:
            for line in f:
                if line.strip():
                    lines.append(line.rstrip("\r\n").lstrip("\ufeff"))
                if len(lines) == (_SNIFFED_LINES if src.options.get("header") is False else 2):
                    break
    except (*DAMAGED_ARCHIVE, LookupError):
        return ","  # the reader reports it, located
    said = _EXCEL_SEP.fullmatch(lines[0]) if lines else None
    if said is not None:
        return said.group(1)
    sample = lines[:1] if src.options.get("header", True) else lines
    if not sample or any("," in line for line in sample):
        return ","
    return next((c for c in _OTHER_DELIMITERS if all(c in line for line in sample)), ",")


def _excel_separator(src: SourceDef, values: list[str], delimiter: str) -> bool:
    """Whether the first line is Excel's `sep=;` (it names the delimiter; it is no header): skipped when it names
    the delimiter in use, else an error naming the option to set."""
    said = _EXCEL_SEP.fullmatch(delimiter.join(values))
    if said is None:
        return False
    if said.group(1) != delimiter:
        raise _fail(src, 1, f"the file's first line `sep={said.group(1)}` says its values are separated by "
                    f"{said.group(1)!r}, not {delimiter!r}", f"values separated by {delimiter!r}",
                    ("read it as `format: csv` with " if src.format == "tsv" else "set ")
                    + f"`options: {{delimiter: '{said.group(1)}'}}` (Excel writes this line; humc then skips it)")
    return True


def _header(src: SourceDef, names: list[str], line: int) -> list[str]:
    """The header's column names: a name given twice would let one column silently overwrite the other."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise SourceError(f"source '{src.id}': the header names column '{name}' twice", Span(str(src.path), line, 1),
                              expected="distinct column names",
                              hint="rename one of the columns, or name them all with `options: {columns: [...]}`")
        seen.add(name)
    return names


def _csv_rows(src: SourceDef, reader: Any) -> Iterator[list[str]]:
    start = 1  # where the next record starts
    try:
        for values in reader:
            yield values
            start = reader.line_num + 1
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):  # strict: a quote that is never closed runs into the end of the file
            raise _never_closed(src, start, reader.line_num) from None
        hint = "check `options: {delimiter, quoting, quotechar}` against the file"
        if "expected after" in str(exc):  # text right after a closing quote
            hint = ("a quote inside a quoted value is written twice in CSV (\"\"); a file that escapes it with a "
                    "backslash (\\\") needs `options: {escapechar: '\\'}`, and one whose quotes are plain text "
                    "`options: {quoting: none}`")
        raise _fail(src, reader.line_num, f"malformed CSV: {exc}", "CSV rows", hint) from None


def _unterminated_quote(src: SourceDef, reader: Any, start: int, values: list[str]) -> None:
    """A record that runs from ``start`` to the end of the file with a line break inside a value:
    a quote opened on line ``start`` never closed, and swallowed the rest of the file."""
    if reader.line_num > start and any("\n" in v for v in values):
        raise _never_closed(src, start, reader.line_num)


def _never_closed(src: SourceDef, start: int, end: int) -> SourceError:
    return SourceError(f"source '{src.id}': a quote opened on line {start} is never closed; the value runs to "
                       f"line {end}", Span(str(src.path), start, 1), expected="every opening quote closed on the same record",
                       hint='close the quote, or double it ("") inside a quoted value')


def _read_parquet(src: SourceDef) -> Iterator[RawRow]:
    import pyarrow.parquet as pq

    pf = _columnar_file(src, "Parquet", pq.ParquetFile)
    columns = _chosen_columns(src, pf.schema_arrow.names)
    labels = class_label_names(src, pf.schema_arrow.metadata) if src.options.get("class_labels") else {}
    yield from _columnar_rows(src, "Parquet", pf.iter_batches(batch_size=4096, columns=columns), labels)


def _read_orc(src: SourceDef) -> Iterator[RawRow]:
    """An ORC file (Hive, Spark, pyarrow.orc): its stripes' records, as Parquet's."""
    from pyarrow import orc

    of = _columnar_file(src, "ORC", orc.ORCFile)
    columns = _chosen_columns(src, of.schema.names)
    stripes = (of.read_stripe(n, columns=columns) for n in range(of.nstripes))
    yield from _columnar_rows(src, "ORC", stripes, {})


_REPRODUCE = {"Parquet": "import pyarrow.parquet as pq; pq.read_table('FILE')",
              "ORC": "import pyarrow.orc as orc; orc.read_table('FILE')"}
AVRO_EXTRA = "pip install 'humc[avro]' (or pip install fastavro)"
AVRO_MAGIC = b"Obj\x01"


def _read_avro(src: SourceDef) -> Iterator[RawRow]:
    """An Avro object container file (Kafka Connect, Spark, Hive, fastavro): its records, each a dict of the record
    schema's fields. Unions read as the branch's value, enums as their symbol, maps as objects, logical types as
    Python's values (timestamps as UTC datetimes, dates, decimals; uuids as text; a date or timestamp past year 9999
    and a `duration` as ISO 8601 text: ``lenient_avro_readers``); `bytes` and `fixed` stay bytes."""
    try:
        import fastavro
    except ImportError:
        raise _fail(src, 1, "reading an Avro file needs the fastavro package, which is not installed",
                    "fastavro installed: " + AVRO_EXTRA, "install humc's avro extra: " + AVRO_EXTRA) from None
    lenient_avro_readers(fastavro.read.LOGICAL_READERS)
    with open_binary(_file(src)) as f:
        magic = f.read(4)
    if magic != AVRO_MAGIC:
        raise _fail(src, 1, "not an Avro file: " + (f"it starts with {magic!r}, not Avro's {AVRO_MAGIC!r}" if magic
                                                    else "it is empty"), "an Avro object container file", _NOT_AVRO)
    with open_binary(_file(src)) as f:  # read front to back: a gzip'd or zstd'd file is read as it is
        try:
            reader = fastavro.reader(f)
        except Exception as exc:  # fastavro: ValueError (a header cut short, an unknown codec), EOFError
            raise _avro_failure(src, exc, f"not a readable Avro file ({brief(exc)})", "an Avro object container file",
                                _NOT_AVRO) from None
        columns = _chosen_columns(src, _avro_fields(src, reader.writer_schema))
        row = 0
        while True:
            try:
                record: Any = next(reader, None)  # a dict: the schema is a record's
            except Exception as exc:  # a block cut short (EOFError), a bad sync marker or codec stream, a bad value
                raise _avro_damage(src, row, exc) from None
            if record is None:
                return
            yield row, {k: _avro_value(v) for k, v in record.items() if columns is None or k in columns}
            row += 1


_NOT_AVRO = "the file is damaged, cut short or not Avro: copy it again, or set the source's `format:`"
_CODEC_LIBRARIES = re.compile(r"(\w+) codec is supported but you need to install one of the following libraries: "
                              r"\(([^)]*)\)")  # fastavro's words for snappy, zstandard, lz4 without their libraries


def _avro_fields(src: SourceDef, schema: Any) -> list[str]:
    """The field names of a file's record schema; a file whose records are no records (a file of strings) is E4001."""
    if isinstance(schema, dict) and schema.get("type") == "record":
        return [str(field["name"]) for field in schema.get("fields", [])]
    kind = schema.get("type") if isinstance(schema, dict) else schema
    raise _fail(src, 1, f"the Avro file's schema is {json.dumps(kind)}, not a record", "an Avro file whose schema is a "
                "record (its fields become the columns)", "write the file with a record schema: "
                "{type: record, name: …, fields: [{name: text, type: string}, …]}")


def _avro_value(value: Any) -> Any:
    """A uuid (Avro's logical type on string) as its text, in nested records, maps and arrays too; any other value as
    fastavro reads it."""
    import uuid

    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {k: _avro_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_avro_value(v) for v in value]
    return value


def _avro_damage(src: SourceDef, row: int, exc: Exception) -> SourceError:
    """What reading record ``row`` (0-based) of an Avro file failing with ``exc`` means."""
    if isinstance(exc, UnicodeDecodeError):
        return _fail(src, 1, f"record {row + 1} holds a string that is not UTF-8 ({brief(exc)})", "a complete Avro file",
                     "Avro strings are UTF-8: a damaged block reads so too (copy the file again); else rewrite the "
                     "record where the file is written, or store such values as bytes")
    if isinstance(exc, OverflowError):
        return _fail(src, 1, f"record {row + 1} holds a value Python cannot represent ({brief(exc)}: a date or "
                     "timestamp past year 9999?)", "a complete Avro file", "rewrite the value where the file is written")
    return _avro_failure(src, exc, f"the Avro file is damaged after {row} record(s) ({brief(exc)})",
                         "a complete Avro file", "copy or download the file again; `python -c \"import fastavro; list(fastavro.reader(open("
                         "'FILE', 'rb')))\"` reproduces the error")


def _avro_failure(src: SourceDef, exc: Exception, message: str, expected: str, hint: str) -> SourceError:
    """``message``, ``expected`` and ``hint``; when fastavro lacks the library of the file's codec (Spark's and Kafka's snappy),
    that, and the package to install."""
    codec = _CODEC_LIBRARIES.search(str(exc))
    if codec is None:
        return _fail(src, 1, message, expected, hint)
    names = " ".join(re.findall(r"'([^']+)'", codec.group(2)))
    return _fail(src, 1, f"the Avro file is compressed with {codec.group(1)}, and the library that decompresses it "
                 f"({names}) is not installed", f"{names} installed to read {codec.group(1)}-compressed Avro",
                 f"pip install {names}")


def _columnar_file(src: SourceDef, what: str, open_file: Callable[[str], Any]) -> Any:
    """The Parquet or ORC file (``what``) opened by ``open_file``; one that is not readable is E4001 naming it."""
    try:
        return open_file(str(_file(src)))
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise _fail(src, 1, f"not a readable {what} file ({exc})", f"a complete {what} file",
                    compressed_binary_hint(_file(src), what) or
                    f"the file is damaged, cut short or not {what}: copy it again, or set the source's `format:`") from None


def _chosen_columns(src: SourceDef, names: list[str]) -> list[str] | None:
    """The `columns:` to read (None: all); a name the file lacks is an error listing the file's columns."""
    columns = src.options.get("columns")
    missing = [c for c in columns or () if c not in names]
    if missing:
        raise SourceError(f"source '{src.id}': `columns:` names {', '.join(map(repr, missing))}, not in the file",
                          Span(str(src.path), 1, 1), expected="columns of the file: " + ", ".join(names),
                          hint="fix the names under `options: {columns: [...]}`, or leave the option out to read them all")
    return list(columns) if columns else None


def _columnar_rows(src: SourceDef, what: str, batches: Iterator[Any], labels: ClassLabels) -> Iterator[RawRow]:
    """The records of a Parquet or ORC file's record ``batches``; a damaged page is E4001 after the records read."""
    import pyarrow as pa

    row = 0
    texts: BinaryTexts = {}  # the file's binary columns: text or data
    while True:
        try:
            batch = next(batches, None)
        except (OSError, ValueError, pa.ArrowException) as exc:  # pyarrow: a damaged page (OSError), a bad value
            # (ArrowInvalid), a stream that does not decompress (ORC: ArrowException)
            raise _fail(src, 1, f"the {what} file is damaged after {row} record(s) ({exc})", f"a complete {what} file",
                        f"copy or download the file again; `python -c \"{_REPRODUCE[what]}\"` reproduces the error") from None
        if batch is None:
            return
        for record in batch_records(src, batch, row, texts):
            yield row, decode_class_labels(record, labels) if labels else record
            row += 1


def _read_iepile(src: SourceDef) -> Iterator[RawRow]:
    """IEPile's JSON Lines, decoded with the `encoding:` option's codec (of a list, the one that fits the file)."""
    return read_iepile(SourceDef(src.id, src.path, src.format, {**src.options, "encoding": _enc(src)}))


def _read_conll(src: SourceDef) -> Iterator[RawRow]:
    """A column file, or every file of a folder tree matching `pattern` in path order (the CoNLL-2012 release's
    annotations/<genre>/<source>/<nn>/*_conll), each sentence with its `file` (relative to the folder)."""
    folder = src.path
    if folder is None or not folder.is_dir():
        yield from _read_conll_file(src)
        return
    pattern = str(src.options.get("pattern", "*"))
    files = [p for p in document_files(folder) if p.match(pattern)]
    if not files:
        raise SourceError(f"source '{src.id}': no file matching {pattern!r} in the folder {folder.name}",
                          Span(str(folder), 1, 1), code="E4001", expected="column files under the folder",
                          hint="check `options: {pattern: …}` (CoNLL-2012: '*gold_conll'), or point `path:` at a file")
    row = 0
    for path in files:
        name, one = path.relative_to(folder).as_posix(), SourceDef(src.id, path, src.format, src.options)
        try:
            for sentence in _read_conll_file(one):
                yield row, sentence.record | {"file": name}
                row += 1
        except (UnicodeDecodeError, *DAMAGED_ARCHIVE) as exc:  # located in that file, not in the folder
            raise _file_failure(one, exc) from None


def _read_conll_file(src: SourceDef) -> Iterator[Row]:
    """Column files (CoNLL-2003, BIO char files): one token per line, blank line between sentences.
    Yields {tokens, <col2>, ...}: one list per column, named by `columns` (default tokens, tags)."""
    sep = src.options.get("separator")
    doc_start = re.compile(str(src.options.get("doc_start", "-DOCSTART-")))
    comment = src.options.get("comment")
    names = src.options.get("columns")
    rest = src.options.get("rest")
    row, start_line = 0, 1
    sentence: list[tuple[int, list[str]]] = []
    raw = ""
    with open_text(_file(src), _enc(src), newline_of(_file(src))) as f:
        for lineno, raw in enumerate(nul_free(src, f), 1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                if sentence:
                    yield Row(row, _columns(src, sentence, names, start_line, rest), start_line)
                    row += 1
                sentence = []
                continue
            if (comment and line.startswith(comment)) or doc_start.match(line):
                continue
            parts = _split_columns(line, sep)
            if not sentence:
                start_line = lineno
            sentence.append((lineno, parts))
        if sentence:
            yield Row(row, _last_columns(src, sentence, names, start_line, rest, raw), start_line)


def _last_columns(src: SourceDef, sentence: list[tuple[int, list[str]]], names: list[str] | None, start: int,
                  rest: str | None, last: str) -> dict[str, Any]:
    """``_columns`` of the file's last sentence: a last line at fault that has no line end is the file cut short."""
    try:
        return _columns(src, sentence, names, start, rest)
    except SourceError as exc:
        if not last.endswith(("\n", "\r")) and exc.span is not None and exc.span.line == sentence[-1][0]:
            exc.hint = _CUT_LAST_LINE + (exc.hint or "")
        raise


_CUT_LAST_LINE = "the file's last line has no line end: the file looks cut short (copy it again); "


def _exhausted(reader: Any) -> bool:
    """Whether a CSV reader has no row left (one that fails to read is a row)."""
    try:
        return next(reader, None) is None
    except (csv.Error, SourceError, UnicodeDecodeError):
        return False


def _unended(path: Path) -> bool:
    """Whether an uncompressed file's last byte is no line end (a compressed one's is not looked at: False)."""
    if compression_of(path) is not None:
        return False
    try:
        with open(path, "rb") as f:
            f.seek(-1, 2)
            return f.read(1) not in (b"\n", b"\r")
    except OSError:  # empty
        return False


_ASCII_BLANKS = re.compile(r"[ \t\n\r\f\v]+")


def _split_columns(line: str, sep: str | None) -> list[str]:
    """A column line's values: split on `separator:` (else on runs of spaces and tabs), with what a separated line
    carries after its last value left out (`B-location ` or `O<TAB>` at the line's end, as hand-edited copies have).
    Other Unicode blanks are token text, not separators: character-level Chinese NER files have an ideographic space
    (U+3000) as a token, and a no-break space sits inside tokens such as `10 000`."""
    if not sep:
        return line.split() if line.isascii() else [p for p in _ASCII_BLANKS.split(line) if p]
    parts = line.split(sep)
    while len(parts) > 1 and not parts[-1].strip():
        parts.pop()
    parts[-1] = parts[-1].rstrip()
    return parts


def _columns(src: SourceDef, sentence: list[tuple[int, list[str]]], names: list[str] | None, start: int,
             rest: str | None = None) -> dict[str, Any]:
    given = bool(names)
    names = list(names) if names else _unnamed(len(sentence[0][1]))
    if rest:  # variable width (CoNLL-2012 predicate columns): the values beyond `columns`, one list per token
        for lineno, parts in sentence:
            if len(parts) < len(names):
                raise _fail(src, lineno, f"{len(parts)} columns but expected at least {len(names)}",
                            "columns: " + ", ".join(names))
        return ({name: [p[i] for _, p in sentence] for i, name in enumerate(names)}
                | {rest: [p[len(names):] for _, p in sentence], "line": start})
    for lineno, parts in sentence:
        if len(parts) != len(names) and not given:  # unnamed columns are as many as most of the sentence's lines
            common = Counter(len(p) for _, p in sentence).most_common(1)[0][0]  # have: a damaged first line is named
            if common != len(names):
                return _columns(src, sentence, _unnamed(common), start)
        if len(parts) < len(names):
            raise _no_column(src, lineno, len(parts), names)
        if len(parts) != len(names):
            raise _fail(src, lineno, f"{len(parts)} columns but expected {len(names)}", "columns: " + ", ".join(names),
                        "name every column with `options: {columns: [...]}`, collect extra ones with `rest:`, or set "
                        "`separator:` when a token holds spaces")
    return {name: [p[i] for _, p in sentence] for i, name in enumerate(names)} | {"line": start}


def _unnamed(width: int) -> list[str]:
    """The names of ``width`` unnamed columns: the first the tokens, the last the tags, col1… between."""
    return ["tokens", *(f"col{i}" for i in range(1, width - 1)), "tags"]


def _no_column(src: SourceDef, lineno: int, n: int, names: list[str]) -> SourceError:
    """A column line short of the columns named: the ones it lacks, the gold tags of a split released without them
    (WikiANN's and CoNLL's blind test files: tokens only) when it is the last."""
    lacking = ", ".join(f"'{name}'" for name in names[n:])
    gold = names[-1] if n == len(names) - 1 else None
    return _fail(src, lineno, f"{n} column{'s' if n != 1 else ''} but expected {len(names)}: the line has no "
                 + (f"{lacking} column (a split released without its gold tags?)" if gold else
                    f"{lacking} columns"), "columns: " + ", ".join(names),
                 ("read a split that has its tags (train, dev): a test file released without them has none; " if gold
                  else "") + "name the file's columns with `options: {columns: [...]}`, or set `separator:` when a "
                 "token holds spaces")


_AVAILABLE_SPLITS = re.compile(r"Available splits: \[([^\]]*)\]")


def folder_split_hint(message: str, spec: Mapping[str, Any]) -> str:
    """What to write when a dataset folder lacks the split asked for (`split:` defaults to train, and a Hub layout
    folder often holds validation or test only): the split to name, from the folder's own list."""
    found = _AVAILABLE_SPLITS.search(message)
    if found is None:
        return "check `split:` and `config:` under `dataset:` against the folder's files"
    splits = [s.strip().strip("'\"") for s in found.group(1).split(",") if s.strip()]
    asked = "" if "split" in spec else " (`split:` defaults to train)"
    return (f"the folder holds the split(s) {', '.join(splits)}{asked}: write `split: {splits[0]}` under `dataset:`"
            if splits else "check `split:` and `config:` under `dataset:` against the folder's files")


def _read_hf(src: SourceDef) -> Iterator[RawRow]:
    if src.path is not None and src.path.is_dir() and holds_unread_formats(src.path):  # `datasets` reads no ORC or Avro
        yield from _read_clone(src)
        return
    try:
        import datasets
    except ImportError:
        if src.path is not None and src.path.is_dir():  # a Hub repository clone: its files, read by humc
            yield from _read_clone(src)
            return
        raise SourceError(f"source '{src.id}': reading a Hub dataset needs the `datasets` package", src.span,
                          code="E4001", expected="`pip install datasets`, or a local folder of the dataset's files",
                          hint="install it, or download the dataset once (`hf download ORG/NAME --repo-type dataset "
                               "--local-dir data/NAME`) and name the folder: `dataset: {name: data/NAME}`") from None
    spec = src.dataset or {}
    if src.path is not None and src.path.is_dir():
        _refuse_mixed_formats(src, spec)
    try:
        ds = datasets.load_dataset(spec["name"], spec.get("config"), split=spec.get("split", "train"),
                                   revision=spec.get("revision"), streaming=True)
    except Exception as exc:  # datasets raises many types; all mean "not available here"
        if src.path is not None:  # a dataset folder next to the recipe: its files or the split/config named are wrong
            raise SourceError(f"source '{src.id}': cannot load the dataset folder {src.path.name}: {exc}",
                              src.span or Span(str(src.path), 1, 1), expected="a folder of data files whose names tell "
                              "the splits (data/train-00000-of-00001.parquet, train.jsonl, test.csv)",
                              hint=folder_split_hint(str(exc), spec)) from None
        raise SourceError(f"source '{src.id}': cannot load dataset '{spec.get('name')}' at revision "
                          f"{spec.get('revision')}: {brief(exc)}", src.span,
                          expected="a split and config the dataset has, and the Hub reachable while the build reads it",
                          hint="check `split:` and `config:` under `dataset:` against the dataset's page") from None
    labels = feature_decoders(ds.features.to_dict()) if src.options.get("class_labels") and ds.features else {}
    row = 0
    with _FailedFiles() as failed:
        try:  # streaming: the files are read (and cast to one schema) only now
            for record in ds:
                yield row, decode_class_labels(record, labels) if labels else record
                row += 1
        except Exception as exc:  # datasets and pyarrow raise many types for a file they cannot read or cast
            raise _hf_read_failure(src, row, exc, failed.files) from None


class _FailedFiles(logging.Handler):
    """The files `datasets` says it failed to read: its Parquet, CSV, JSON and Arrow builders name the file in their
    log only, not in the exception they raise. While in use, that line is kept from `datasets`' own handlers (stderr):
    the diagnostic that follows names the file."""

    _SAID = re.compile(r"Failed to (?:read|load \w+ from) file '([^']+)'")

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.files: list[str] = []
        self.logger = logging.getLogger("datasets")
        self.others = list(self.logger.handlers)

    def __enter__(self) -> _FailedFiles:
        for handler in self.others:
            handler.addFilter(self._said_elsewhere)
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)
        for handler in self.others:
            handler.removeFilter(self._said_elsewhere)

    def _said_elsewhere(self, record: logging.LogRecord) -> bool:
        return self._SAID.search(record.getMessage()) is None

    def emit(self, record: logging.LogRecord) -> None:
        said = self._SAID.search(record.getMessage())
        if said is not None:
            self.files.append(said.group(1))


def _hf_read_failure(src: SourceDef, row: int, exc: Exception, failed: list[str]) -> SourceError:
    """What ``datasets`` failing after ``row`` records means: a damaged Parquet file (of a local folder: found by
    reading its files with pyarrow; of the Hub: the file `datasets` names), a local shard of another format that humc's
    own reader locates the error in, else files whose schemas differ."""
    spec = src.dataset or {}
    head = f"source '{src.id}': reading dataset '{spec.get('name')}' failed after {row} record(s)"
    damaged = _damaged_parquet(src, spec, row) if src.path is not None and src.path.is_dir() else None
    if damaged is None and src.path is not None and failed:
        _locate_in_file(src, Path(failed[-1]))  # another shard's error (JSON Lines, CSV, …) at its line and column
    elif damaged is not None:
        path, problem = damaged
        name = path.relative_to(Path(str(src.path))).as_posix()
        return SourceError(f"{head}: its file {name} is not a readable Parquet file ({problem})", Span(str(path), 1, 1),
                           code="E4001", expected="complete Parquet files",
                           hint=f"the file is damaged or cut short: copy or download it again (a Hub clone: `hf "
                                f"download ORG/NAME {name} --repo-type dataset --local-dir {src.path}`), or move it out "
                                f"of the folder to read the others; `python -c \"{_REPRODUCE['Parquet'].replace('FILE', name)}"
                                f"\"` in the folder reproduces the error")
    remote = next((f for f in failed if f.endswith(".parquet")), None)
    if remote is not None and src.path is None and "cast" not in str(exc).lower():
        shown = remote.split("@", 1)[-1].split("/", 1)[-1] if remote.startswith("hf://") else remote  # its repo path
        return SourceError(f"{head}: its file {shown} is not a readable Parquet file ({type(exc).__name__}: "
                           f"{brief(exc)})", src.span, code="E4001", expected="complete Parquet files",
                           hint="run the build again (a download cut short is fetched anew); when it fails again the "
                                "file is damaged on the Hub: tell the dataset's owners, or pin `revision:` under "
                                "`dataset:` to a commit whose copy is whole")
    where = Span(str(src.path), 1, 1) if src.path is not None else src.span
    local = Path(failed[-1]) if src.path is not None and failed else None
    if local is not None and local.is_file():  # the folder's file whose columns or types differ from the first's
        where, head = Span(str(local), 1, 1), f"{head}: its file {local.relative_to(Path(str(src.path))).as_posix()}"
    return SourceError(f"{head}: {type(exc).__name__}: {brief(exc)}", where, expected="files that share one schema",
                       hint="the `datasets` library takes the schema from the first file: give a field the same "
                            "type in every file (a string is not a list), or read the files as separate sources")


def _damaged_parquet(src: SourceDef, spec: Mapping[str, Any], row: int) -> tuple[Path, str] | None:
    """The Parquet file of the split that pyarrow cannot read, and why: `datasets` reads the files in order, so the
    footers of those before record ``row`` are read, and the one holding it (where the reading stopped) whole."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files, _ = split_files(Path(str(src.path)), spec.get("config"), str(spec.get("split", "train")))
    before = 0
    for path in (f for f in files if f.name.endswith(".parquet")):
        try:
            pf = pq.ParquetFile(path)
            before += pf.metadata.num_rows
            if before > row:  # the file datasets stopped in: its footer read, a page may not
                for _ in pf.iter_batches():
                    pass
                return None
        except (OSError, ValueError, pa.ArrowException) as exc:
            return path, brief(exc)
    return None


_DATASETS_READS = ("jsonl", "json", "csv", "tsv", "parquet", "arrow")  # the formats of a folder `datasets` reads


def _locate_in_file(src: SourceDef, file: Path) -> None:
    """A dataset folder's file that `datasets` failed on, read by humc's own reader of its format: its error is
    located in that file (a line and column, a cut-short Parquet named); a file it reads raises nothing here."""
    fmt = infer_format(file) if file.is_file() else None
    if fmt not in _DATASETS_READS:
        return
    foreign = foreign_kind(file)  # a Hub clone's shard left a Git LFS pointer
    if foreign is not None:
        raise SourceError(f"source '{src.id}': {file.name} of the dataset folder {src.path.name if src.path else ''} "
                          f"is {foreign[0]}, not a data file", Span(str(file), 1, 1), code="E4001",
                          expected="a data file (JSON Lines, JSON, CSV, TSV, Parquet, …)", hint=foreign[1])
    try:
        for _ in read_source(SourceDef(src.id, file, fmt, {})):
            pass
    except SourceError as exc:
        exc.message = f"{exc.message} (a file of the dataset folder {src.path.name if src.path else ''})"
        raise exc from None


def _refuse_mixed_formats(src: SourceDef, spec: Mapping[str, Any]) -> None:
    """A dataset folder whose split holds files of two formats (shards.jsonl beside extra.csv): `datasets` would read
    those of the commoner format only, and the others' records would be missing from the build without a word."""
    assert src.path is not None
    files, _ = split_files(src.path, spec.get("config"), str(spec.get("split", "train")))
    kinds = formats_of(files)
    if len(kinds) < 2:
        return
    shown = "; ".join(f"{kind}: {', '.join(names[:3])}{', …' if len(names) > 3 else ''}" for kind, names in kinds.items())
    raise SourceError(f"source '{src.id}': the {spec.get('split', 'train')} files of the dataset folder {src.path.name} "
                      f"are of {len(kinds)} formats ({shown})", src.span or Span(str(src.path), 1, 1),
                      expected="the files of one split in one format", code="E4001",
                      hint="the `datasets` library reads a split in one format, that of most of its files, and leaves "
                           "the others out: convert them to one format, or read each file as a source of its own")


def _read_clone(src: SourceDef) -> Iterator[Row]:
    """A Hub repository clone read without `datasets`: the split's files (``split_files``), each by its own format,
    ClassLabel integers named from its metadata or the card when `class_labels` is set."""
    folder, spec = Path(str(src.path)), src.dataset or {}
    split = str(spec.get("split", "train"))
    files, held = split_files(folder, spec.get("config"), split)
    if not files:
        raise SourceError(f"source '{src.id}': no data file of split '{split}' in the folder {folder.name}",
                          src.span or Span(str(folder), 1, 1), code="E4001",
                          expected="files whose path names the split (data/train-00000-of-00001.parquet, dev.jsonl), or "
                                   "a card whose `configs:` list them",
                          hint=f"the folder holds the split(s) {', '.join(held)}: write `split: {held[0]}` under "
                               "`dataset:`" if held else "point `name:` at the folder holding the data files")
    row = 0
    for file in files:
        fmt = infer_format(file) or "jsonl"
        labels = src.options.get("class_labels") and fmt in ("parquet", "arrow") and carries_features(file, fmt)
        one = SourceDef(src.id, file, fmt, {"class_labels": True} if labels else {})
        for record in read_source(one):
            yield Row(row, record.record)
            row += 1


_READERS: dict[str, Callable[[SourceDef], Iterator[RawRow]]] = {
    "jsonl": _read_jsonl, "json": _read_json, "squad": _read_squad, "parquet": _read_parquet, "orc": _read_orc,
    "avro": _read_avro,
    "csv": lambda s: _read_delimited(s, s.options.get("delimiter") or csv_delimiter(s)), "tsv": lambda s: _read_delimited(s, "\t"),
    "conll": _read_conll, "conllu": read_conllu, "brat": read_brat, "pubtator": read_pubtator, "reuters_sgml": read_reuters_sgml,
    "hf": _read_hf, "arrow": read_arrow,
    "blocks": read_blocks, "iepile": _read_iepile, "lines": _read_lines,
    "instructuie": read_instructuie, "text_files": read_text_files,
}
