"""Source readers, part two: format sniffing from content, grouped / variable-arity delimited
files (CaRB), and Arrow (`save_to_disk` folders, `.arrow` files).

Stage: read (below ``humc.sources``, which dispatches here). Decisions:

- A format is guessed from the file's first 64 KiB only when the extension says nothing (or says
  `.json` while the content is JSON Lines); a guess never rewrites values.
- Grouping merges *consecutive* rows with the same key (CaRB lists a sentence's extractions on
  adjacent lines); the key column keeps its one value, every other column becomes a list.
- Arrow is read with `datasets.load_from_disk` when `datasets` is installed, else pyarrow's IPC
  stream/file readers; pyarrow is imported only here and only when an Arrow source is read.
- A `text_files` folder is one record per file of its label subfolders (aclImdb/train/pos/0_9.txt, 20 Newsgroups):
  the file's whole text, unchanged, its subfolder as the label; files beside the subfolders (urls_pos.txt) are
  not records, and the order is by subfolder, then file name.
- `class_labels: true` on Parquet (and Arrow: `save_to_disk` folders, `.arrow` files) decodes the integer
  ClassLabel columns the Hub's exports keep (WikiANN's `ner_tags`, a Sequence of ClassLabel) to their names, from
  the file's own `huggingface` features metadata; -1 (no label) reads as null. Without the option the integers are kept as written.
- A text source may be compressed (gzip, bz2, xz, zstd, as published dumps often are): the file's first bytes
  decide, not its name, and every text reader opens it through ``open_text``; line numbers count the
  decompressed lines. zstd goes through pyarrow's codec (no extra dependency).
"""

from __future__ import annotations

import bz2
import codecs
import contextlib
import errno
import gzip
import hashlib
import io
import json
import lzma
import os
import re
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from humc.errors import SourceError, Span, did_you_mean, one_line, type_name
from humc.ir import SourceDef
from humc.sources_card import card_features

Row = tuple[int, dict[str, Any]]  # (number, record); sources.Row is one too

SNIFF_BYTES = 1 << 16
_TAG = re.compile(r"^(O|[BIESLUM]-\S+|[BIESLUM]_\S+)$")
_PUBTATOR_TITLE = re.compile(r"[^|\t\n]+\|t\|")
_CONLLU_LINE = re.compile(r"\d+(?:-\d+|\.\d+)?(?:\t[^\t]*){9}")  # a CoNLL-U word line: ID and nine more fields


COMPRESSED_SUFFIXES = frozenset({".gz", ".bz2", ".xz", ".zst"})
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")  # a file's first two bytes when it is UTF-16 text (Excel's "Unicode text")
UTF32_BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")  # test before UTF-16's: the little-endian one starts with it
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"))
_BZ2_BLOCK = (b"1AY&SY", b"\x17rE8P\x90")  # after "BZh1".."BZh9": a first block, or the end of an empty stream
DAMAGED_ARCHIVE = (EOFError, OSError, lzma.LZMAError, zlib.error)  # what gzip, bz2, lzma, zlib (a flipped bit in
# a gzip stream) and pyarrow raise on damaged data


def _file_head(path: Path, size: int) -> bytes | None:
    """A file's first ``size`` bytes as stored (None when it cannot be read)."""
    try:
        with open(path, "rb") as f:
            return f.read(size)
    except OSError:
        return None


def _announced(head: bytes, magics: tuple[tuple[bytes, str], ...]) -> str | None:
    """The name of the first magic number ``head`` starts with, or None."""
    return next((name for magic, name in magics if head.startswith(magic)), None)


def compression_of(path: Path) -> str | None:
    """The compression a file's first bytes announce (gzip, bz2, xz, zstd), or None for a plain file."""
    head = _file_head(path, 10)
    if head is None:
        return None
    if head[:3] == b"BZh" and head[3:4].isdigit() and head[3:4] != b"0" and head[4:10] in _BZ2_BLOCK:
        return "bz2"
    return _announced(head, _MAGIC)


_ARCHIVE_MAGIC = ((b"PK\x03\x04", "zip"), (b"PK\x05\x06", "zip"), (b"7z\xbc\xaf\x27\x1c", "7z"), (b"Rar!\x1a\x07", "rar"))


def archive_of(path: Path) -> str | None:
    """The kind of archive a file is (zip, tar, 7z, rar; a tar may be compressed: train.tar.gz), or None. An archive
    holds files, not records: no reader takes one."""
    kind = _announced(_file_head(path, 8) or b"", _ARCHIVE_MAGIC)
    if kind is not None:
        return kind
    try:
        with open_binary(path) as f:
            block = f.read(512)
    except (*DAMAGED_ARCHIVE, ValueError):
        return None
    return "tar" if block[257:262] == b"ustar" else None


_TO_PARQUET = "load it in Python and save the records as JSON Lines or Parquet"
# files that hold data humc reads no records from, by their first bytes: (magic, what the file is, what to do)
_FOREIGN_MAGIC = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Excel workbook (.xls, a Microsoft compound file)",
     "save the sheet as CSV (UTF-8) and point `path:` at that file"),
    *((bytes([0x80, protocol]), "a Python pickle", "humc loads no pickles (loading one runs code in it): "
       + _TO_PARQUET + " (a DataFrame: `pandas.read_pickle(FILE).to_parquet('data.parquet')`)") for protocol in (2, 3, 4, 5)),
    (b"\x93NUMPY", "a NumPy array file (.npy)", _TO_PARQUET + ", one record per text with its label"),
    (b"SQLite format 3\x00", "an SQLite database", "export its table as CSV (`sqlite3 -header -csv FILE 'select * from "
     "TABLE' > TABLE.csv`)"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file", _TO_PARQUET + " (`pandas.read_hdf(FILE).to_parquet('data.parquet')`)"),
    (b"version https://git-lfs.github.com/spec/", "a Git LFS pointer (the clone holds a pointer to the file, not the file)",
     "fetch the content: `git lfs pull` in the clone (after `git lfs install`), or download the file itself"),
    (b"%PDF-", "a PDF document", "extract its text first, into a JSON Lines or CSV file of records"),
)
# a saved web page (a download that fetched an error or a sign-in page instead of the data), after a BOM or blanks
_HTML_PAGE = (b"<!doctype html", "an HTML page (a download that saved an error or sign-in page?)",
              "download the data file itself (a browser or `curl -L` may need the file's direct link)")


def foreign_kind(path: Path) -> tuple[str, str] | None:
    """(what the file is, what to do) for a file that is no data file humc reads whatever its name (a legacy `.xls`
    workbook, a pickle, a NumPy array, an SQLite or HDF5 database), by its first bytes; else None."""
    head = _file_head(path, 64) or b""
    if head.removeprefix(codecs.BOM_UTF8).lstrip().lower().startswith(_HTML_PAGE[0]):
        return _HTML_PAGE[1], _HTML_PAGE[2]
    return next(((kind, hint) for magic, kind, hint in _FOREIGN_MAGIC if head.startswith(magic)), None)


def archive_members(path: Path, kind: str, limit: int = 3) -> list[str]:
    """The names of the first ``limit`` files in a zip or tar archive (empty when they cannot be listed)."""
    try:
        if kind == "zip":
            with zipfile.ZipFile(path) as z:
                return [n for n in z.namelist() if not n.endswith("/")][:limit]
        if kind == "tar":
            return _tar_members(path, limit)
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError):
        pass
    return []


def _tar_members(path: Path, limit: int) -> list[str]:
    """The first ``limit`` file names of a tar, read member by member (``getmembers`` would read, and decompress, the
    whole archive: gigabytes for a dataset dump, and an error for one cut short after its first files)."""
    names: list[str] = []
    with tarfile.open(path) as t:
        for member in t:
            if member.isfile():
                names.append(member.name)
                if len(names) == limit:
                    break
    return names


def compressed_inside(path: Path) -> str | None:
    """The compression of what a compressed file holds, when it holds another compressed stream (a `.gz` gzipped
    again by a web server or an upload tool), else None."""
    if compression_of(path) is None:
        return None
    try:
        with open_binary(path) as f:
            head = f.read(10)
    except (*DAMAGED_ARCHIVE, ValueError):
        return None
    return _announced(head, _MAGIC) or ("bz2" if head[:3] == b"BZh" and head[4:10] in _BZ2_BLOCK else None)


_DECOMPRESS = {"gzip": "gunzip", "bz2": "bunzip2", "xz": "unxz", "zstd": "unzstd"}


def compressed_binary_hint(path: Path, what: str) -> str | None:
    """The hint for a Parquet or Arrow file (``what``) that is compressed as a whole (`train.parquet.gz`): its
    readers seek in the file itself; None when it is not compressed."""
    kind = compression_of(path)
    if kind is None:
        return None
    return (f"the file is {what} compressed with {kind}, and {what} is read from the file itself (it seeks to its "
            f"footer): decompress it first (`{_DECOMPRESS[kind]}`) and point `path:` at the {what} file")


def binary_inside(path: Path) -> str | None:
    """The binary format (parquet, arrow, avro) a file holds by its first bytes once decompressed, else None: a
    Parquet file saved under a text name (`train.jsonl`) is no text in any encoding."""
    try:
        with open_binary(path) as f:
            return _announced(f.read(8), BINARY_MAGIC)
    except (*DAMAGED_ARCHIVE, ValueError):
        return None


def open_binary(path: Path) -> IO[bytes]:
    """The file's bytes, decompressed when it is compressed."""
    return _decompressed(path, compression_of(path))


def _decompressed(path: Path, kind: str | None) -> IO[bytes]:
    """The file's bytes through the ``kind`` of decompression (``compression_of``; None: as they are)."""
    if kind == "gzip":
        return gzip.open(path, "rb")  # type: ignore[return-value]  # a GzipFile is a binary IO
    if kind == "bz2":
        return bz2.open(path, "rb")
    if kind == "xz":
        return lzma.open(path, "rb")
    if kind == "zstd":
        import pyarrow as pa

        # buffered: pyarrow's stream reads blocks but cannot iterate lines (finding a bad byte's line needs that)
        return io.BufferedReader(pa.input_stream(str(path), compression="zstd"))
    return open(path, "rb")


def open_text(path: Path, encoding: str, newline: str | None = None, errors: str = "strict") -> IO[str]:
    """The file as text (``open``'s meaning of the arguments), decompressed when it is compressed."""
    kind = compression_of(path)
    if kind is None:
        return open(path, encoding=encoding, newline=newline, errors=errors)
    return io.TextIOWrapper(_decompressed(path, kind), encoding=encoding, newline=newline, errors=errors)


def newline_of(path: Path) -> str | None:
    """``open``'s ``newline`` for a text whose blank lines mean something (CoNLL sentences, blocks): "\n" when its
    lines end in CR CR LF (a CRLF text written again in Windows text mode, Python's `f.write("…\r\n")` there), which
    universal newlines would read as a blank line after every line; else None (universal newlines)."""
    try:
        with open_binary(path) as f:
            return "\n" if b"\r\r\n" in f.read(SNIFF_BYTES) else None
    except (*DAMAGED_ARCHIVE, ValueError):
        return None  # the reader's own open reports it


def fitting_encoding(option: Any, path: Path | None, default: str = "utf-8-sig") -> str:
    """The `encoding:` option's codec: itself, or of a list the first that decodes the whole (decompressed) file
    (the last when none does: its error then names the byte); ``default`` when the option is unset."""
    if option is None:
        return default
    if isinstance(option, str):
        return option
    names = [str(name) for name in option]
    if path is None or not path.is_file():
        return names[0]
    for name in names[:-1]:
        decoder = codecs.getincrementaldecoder(name)()
        try:
            with open_binary(path) as f:
                while chunk := f.read(1 << 20):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
            return name
        except UnicodeDecodeError:
            continue
    return names[-1]


def source_encoding(src: SourceDef) -> str:
    """A text source's codec: the `encoding:` option, else UTF-16 when the file starts with its byte-order mark
    (Excel's "Unicode text"), else UTF-8 ignoring the BOM spreadsheet exports write."""
    if "encoding" in src.options:
        return fitting_encoding(src.options["encoding"], src.path)
    return bom_codec(src.path) if src.path is not None and src.path.is_file() else "utf-8-sig"


def bom_codec(path: Path) -> str:
    """The codec a (decompressed) file's byte-order mark names: utf-32 (PowerShell's `-Encoding utf32`), utf-16
    (Excel's "Unicode text"), else utf-8-sig (UTF-8, its BOM left out when there is one)."""
    try:
        with open_binary(path) as f:
            head = f.read(4)
    except DAMAGED_ARCHIVE:
        return "utf-8-sig"
    if head in UTF32_BOMS:  # before UTF-16's: the little-endian UTF-32 mark starts with UTF-16's
        return "utf-32"
    return "utf-16" if head[:2] in UTF16_BOMS else "utf-8-sig"


def starts_utf16(path: Path) -> bool:
    """Whether the (decompressed) file starts with a UTF-16 byte-order mark (and is no UTF-32 text)."""
    return bom_codec(path) == "utf-16"


def nul_free(src: SourceDef, lines: Iterator[str] | IO[str], path: Path | None = None) -> Iterator[str]:
    """The lines of a text file (as read, for csv.reader or a loop), refusing a NUL character: no text holds one, so
    it is a binary file, a file padded with zeros when a crash or a copy cut it short, or UTF-16 text without a
    byte-order mark read as UTF-8 (every other byte NUL); passed on, it would reach the dataset unseen."""
    for lineno, line in enumerate(lines, 1):
        if "\0" in line:
            raise nul_error(src, path or Path(str(src.path)), lineno, line.index("\0") + 1)
        yield line


def nul_error(src: SourceDef, path: Path, line: int, column: int) -> SourceError:
    """E4001 for a NUL character at ``line``:``column`` of ``path``, with what it most likely means."""
    hint = unmarked_utf16_hint(path) or ("the file is binary, or was padded with zero bytes when a crash or a copy "
                                         "cut it short: copy it again, or remove the NUL bytes")
    return SourceError(f"source '{src.id}': line {line} holds a NUL character (byte 0) at column {column}",
                       Span(str(path), line, column), code="E4001", expected="text without NUL characters", hint=hint)


def unmarked_utf16_hint(path: Path) -> str | None:
    """The hint for a file that starts as UTF-16 text without a byte-order mark does, else None."""
    head = _file_head(path, 2) or b""
    if len(head) == 2 and (head[0] == 0) != (head[1] == 0):  # ASCII in UTF-16: one byte of each pair is 0
        order = "be" if head[0] == 0 else "le"
        return (f"the file looks like UTF-16 text without a byte-order mark: set `options: {{encoding: utf-16-{order}}}`, "
                "or save it as UTF-8")
    return None


def nul_error_in(src: SourceDef, path: Path, text: str) -> SourceError:
    """``nul_error`` at the first NUL character of a whole file's ``text``."""
    before = text[:text.index("\0")]
    return nul_error(src, path, before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1)


_FEATHER_V1 = b"FEA1"
# Parquet, Arrow IPC (Feather V2) and Feather V1 files start so (V1 pads its magic to 8 bytes with NULs, which no text
# holds: a CoNLL file whose first token is FEA1 is text)
BINARY_MAGIC = ((b"PAR1", "parquet"), (b"ARROW1", "arrow"), (_FEATHER_V1 + bytes(4), "arrow"),
                (b"Obj\x01", "avro"))  # Avro object container files: Hive's and Kafka Connect's have no extension


def _head(path: Path) -> str | None:
    """The (decompressed) file's first ``SNIFF_BYTES`` characters as text, or None when it cannot be read."""
    try:
        with open_text(path, bom_codec(path), newline="", errors="replace") as f:
            return f.read(SNIFF_BYTES)
    except DAMAGED_ARCHIVE:
        return None


def sniff_format(path: Path) -> str | None:
    """The format a file's content looks like (parquet, arrow, orc, avro, jsonl, json, conllu, conll, tsv, csv), or None."""
    magic = _file_head(path, 8)
    if magic is None:
        return None
    fmt = _announced(magic, BINARY_MAGIC)
    if fmt is not None:
        return fmt
    if magic.startswith(b"ORC") and _orc_tail(path):  # Hive's ORC files have no extension (000000_0)
        return "orc"
    head = _head(path)
    if head is None:
        return None
    text = head.lstrip()
    if not text:
        return None
    if text[0] in "{[":
        return "jsonl" if looks_like_json_lines(head if "\n" in text or len(head) < SNIFF_BYTES else _first_lines(path)) \
            else "json"
    if re.match(r"#\s*global\.columns\s*=", text):  # CoNLL-U Plus names its columns on its first line
        return "conllu"
    if _PUBTATOR_TITLE.match(text):  # PubTator: PMID|t|title (BC5CDR, NCBI-disease)
        return "pubtator"
    lines = [line.rstrip("\r") for line in head.split("\n")[:200]]
    if len(head) == SNIFF_BYTES:
        lines = lines[:-1]  # the last line may be cut
    filled = [line for line in lines if line.strip() and not line.startswith("#")]
    if not filled:
        return None
    sentences = any(line.startswith("#") for line in lines) or "" in lines[:-1]  # comments, or blank lines between
    if sentences and all(_CONLLU_LINE.fullmatch(line) for line in filled):  # (not a table of ten columns, an id first)
        return "conllu"
    if sum(1 for line in filled if _TAG.match(line.split()[-1]) and len(line.split()) >= 2) >= 0.9 * len(filled):
        return "conll"
    if all("\t" in line for line in filled):
        return "tsv"
    if all("," in line for line in filled):
        return "csv"
    return None


def holds_conll_columns(path: Path) -> bool:
    """Whether a file named as a table (`.tsv`) holds CoNLL columns instead: `token<TAB>tag` lines without a header,
    a blank line between sentences (MTL-Bioinformatics-2016's BC5CDR and NCBI-disease copies, `conll/train.tsv`)."""
    if sniff_format(path) != "conll":
        return False
    lines = [line.strip() for line in (_head(path) or "").split("\n")[:200]]
    return any(not line and following for line, following in zip(lines, lines[1:], strict=False))


def _orc_tail(path: Path) -> bool:
    """Whether the file ends as ORC files do: "ORC" in the postscript, before its length byte (its first bytes alone
    could be a text's)."""
    try:
        with open(path, "rb") as f:
            f.seek(-4, os.SEEK_END)
            return f.read(3) == b"ORC"
    except OSError:  # shorter than 4 bytes
        return False


def holds_json_list(path: Path) -> bool:
    """Whether a file (named `.jsonl`) holds one JSON list of records rather than JSON Lines: its first line opens
    a list that goes on past it (pretty-printed), or its only line is a list of objects."""
    head = _head(path)
    lines = [line for line in (head or "").splitlines() if line.strip()]
    if not lines or not lines[0].lstrip().startswith("["):
        return False
    try:
        first = json.loads(lines[0])
    except ValueError:  # the list goes on past its first line (or the 64 KiB read)
        return True
    except RecursionError:  # one line nested too deeply: JSON Lines, whose reader locates the depth
        return False
    return len(lines) == 1 and isinstance(first, list) and bool(first) and all(isinstance(r, dict) for r in first)


def _first_lines(path: Path, count: int = 2) -> str:
    """The file's first ``count`` non-blank lines, whole: a JSON Lines file of long documents has a first line longer
    than the sniffed head (a SQuAD context of 100 KB)."""
    lines: list[str] = []
    try:
        with open_text(path, bom_codec(path), errors="replace") as f:
            for line in f:
                if line.strip():
                    lines.append(line)
                    if len(lines) == count:
                        break
    except DAMAGED_ARCHIVE:
        pass
    return "".join(lines)


def looks_like_json_lines(head: str) -> bool:
    """Two or more non-blank lines, the first of which is a JSON object on its own."""
    lines = [line for line in head.splitlines() if line.strip()]
    if len(lines) < 2:
        return False
    try:
        return isinstance(json.loads(lines[0]), dict)
    except (json.JSONDecodeError, RecursionError):
        return False


def grouped(src: SourceDef, rows: Iterator[tuple[Any, ...]], key: str) -> Iterator[Row]:
    """Merge consecutive rows with the same ``key`` value: {key: value, other: [values...]}."""
    current: dict[str, Any] | None = None
    out = 0
    for row in rows:
        record: dict[str, Any] = row[1]
        if key not in record:
            raise SourceError(f"source '{src.id}': `group_by: {key}` names no column (columns: {', '.join(record)})",
                              Span(str(src.path), 1, 1), expected="one of: " + ", ".join(record), code="E4001")
        if current is not None and current[key] == record[key]:
            for name, value in record.items():
                if name != key:
                    current[name].append(value)
            continue
        if current is not None:
            yield out, current
            out += 1
        current = {name: (value if name == key else [value]) for name, value in record.items()}
    if current is not None:
        yield out, current


def read_arrow(src: SourceDef) -> Iterator[Row]:
    """A `save_to_disk` folder (dataset_info.json + *.arrow) or one `.arrow` file."""
    path = Path(src.path)  # type: ignore[arg-type]
    if path.is_dir():
        try:
            import datasets
        except ImportError:
            datasets = None
        if datasets is not None:
            try:
                ds = datasets.load_from_disk(str(path))
            except Exception as exc:  # datasets raises many types for a folder it cannot read
                raise _unloaded(src, path, exc) from None
            if isinstance(ds, datasets.DatasetDict):
                split = str(src.options.get("split", "train"))
                if split not in ds:
                    raise _fail(src, f"no split '{split}' (splits: {', '.join(ds)})")
                ds = ds[split]
            elif "split" in src.options and ds.split is not None and str(ds.split) != str(src.options["split"]):
                raise _fail(src, f"`split: {src.options['split']}`, but the folder holds one dataset, of split "
                                 f"'{ds.split}' (`Dataset.save_to_disk` of load_dataset(…, split='{ds.split}'))")
            names = class_label_names(src, ds.data.schema.metadata) if src.options.get("class_labels") else {}
            try:
                ds.data.validate(full=True)  # as for a single file: a damaged offset must not crash the reader
            except Exception as exc:  # pyarrow's ArrowInvalid, or an OSError for a cut-short file
                raise _fail(src, f"the `save_to_disk` folder's data is damaged ({one_line(str(exc))})") \
                    from None
            n = 0
            try:
                for n, record in enumerate(ds):
                    yield n, decode_class_labels(record, names) if names else record
            except _UNCONVERTIBLE as exc:  # datasets converts to Python itself: a year past 9999 fails there
                raise _fail(src, f"a record after record {n} holds a value Python cannot read ({exc})") from None
            return
        files = sorted(path.glob("*.arrow"))
        if not files:
            raise _fail(src, "the folder holds no .arrow files")
    else:
        files = [path]
    row = 0
    labels: ClassLabels | None = None if src.options.get("class_labels") else {}
    for file in files:
        texts: BinaryTexts = {}
        for batch in _arrow_batches(src, file):
            if labels is None:  # `class_labels: true`: the names from the first file's features metadata
                labels = class_label_names(src, batch.schema.metadata)
            for record in _arrow_records(src, file, batch, row, texts):
                yield row, decode_class_labels(record, labels) if labels else record
                row += 1


def _arrow_batches(src: SourceDef, file: Path) -> Iterator[Any]:
    """The record batches of an Arrow stream or file; a file cut short or damaged is E4001 naming it."""
    import pyarrow as pa

    damaged = (pa.ArrowException, OSError)  # pyarrow raises ArrowInvalid (a ValueError) or an OSError
    if _file_head(file, 4) == _FEATHER_V1:
        yield from _feather_v1_batches(src, file)
        return
    try:
        stream: Any = pa.ipc.open_stream(pa.memory_map(str(file)))
    except damaged:
        stream = None
    if stream is None:
        try:
            reader = pa.ipc.open_file(pa.memory_map(str(file)))
        except damaged as exc:
            raise _unopened(src, file, exc) from None
    batches = 0
    try:
        if stream is not None:
            for batch in stream:
                yield batch
                batches += 1
            return
        for i in range(reader.num_record_batches):
            yield reader.get_batch(i)
            batches += 1
    except damaged as exc:
        raise _damaged(src, file, f"{batches} record batch(es)", exc) from None


def _unloaded(src: SourceDef, folder: Path, exc: Exception) -> SourceError:
    """A `save_to_disk` folder ``datasets`` cannot load, at the file in it that is damaged (a JSON file that does not
    parse, an Arrow file cut short) when one is."""
    import pyarrow as pa

    damaged = next((f for f in _saved_files(folder) if not _whole(f, pa)), None)
    what = f"its {damaged.relative_to(folder)} is damaged or cut short" if damaged is not None else "it cannot be loaded"
    return SourceError(f"source '{src.id}': {folder.name} is not a readable `save_to_disk` folder: {what} "
                       f"({one_line(str(exc))})", Span(str(damaged or folder), 1, 1), code="E4001",
                       expected="the folder `save_to_disk` wrote: state.json, dataset_info.json and its .arrow files "
                                "(a DatasetDict's: dataset_dict.json and one such folder per split)",
                       hint="copy the whole folder again, or save the dataset again with `save_to_disk`")


def _saved_files(folder: Path) -> list[Path]:
    """The JSON and Arrow files of a `save_to_disk` folder (and of its split folders)."""
    return sorted(f for pattern in ("*.json", "*/*.json", "*.arrow", "*/*.arrow") for f in folder.glob(pattern))


def _whole(file: Path, pa: Any) -> bool:
    """Whether a JSON file parses, or an Arrow stream reads to its end."""
    try:
        if file.suffix == ".json":
            json.loads(file.read_bytes())
        else:
            with pa.memory_map(str(file)) as source:
                pa.ipc.open_stream(source).read_all().validate(full=True)
    except (ValueError, OSError, pa.ArrowException, RecursionError):
        return False
    return True


def _unopened(src: SourceDef, file: Path, exc: Exception) -> SourceError:
    """An Arrow file pyarrow cannot open: one that starts as an Arrow file is cut short or damaged (its footer, which
    indexes the batches, is at the end), else it is no Arrow data at all."""
    if _file_head(file, 6) == b"ARROW1":  # pyarrow says "Not an Arrow file" of it
        return _cut_arrow(src, file, f"{file.name} starts as an Arrow file but its footer, at the end, is missing or "
                                     "unreadable: it is cut short or damaged")
    error = _fail(src, f"{file.name} is not an Arrow stream or file ({one_line(str(exc))})")
    error.expected = "an Arrow IPC file or stream (`save_to_disk`'s .arrow files, Feather)"
    error.hint = compressed_binary_hint(file, "Arrow") or ("the file is damaged or not Arrow: copy it again, or set "
                                                           "the source's `format:`")
    return error


def _feather_v1_batches(src: SourceDef, file: Path) -> Iterator[Any]:
    """A Feather V1 file (pandas' `to_feather` before pyarrow 0.17), converted to an Arrow IPC file by a child
    process first: pyarrow's V1 reader crashes the process (SIGSEGV) on some damaged files."""
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="humc-feather-") as tmp:
        converted = Path(tmp) / f"{file.name}.arrow"
        done = subprocess.run([sys.executable, "-c", _FEATHER_V1_TO_IPC, str(file), str(converted)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            why = (done.stderr.strip().splitlines() or [f"the reader died of signal {-done.returncode}"])[-1]
            raise _damaged(src, file, "its Feather V1 header", ValueError(why))
        yield from _arrow_batches(src, converted)


_FEATHER_V1_TO_IPC = """import sys, warnings
warnings.simplefilter("ignore", DeprecationWarning)  # pyarrow deprecates V1; the user's file is what it is
from pyarrow import feather
table = feather.read_table(sys.argv[1], memory_map=False)
table.validate(full=True)
feather.write_feather(table, sys.argv[2])
"""


def _arrow_records(src: SourceDef, file: Path, batch: Any, row: int, texts: BinaryTexts) -> list[dict[str, Any]]:
    import pyarrow as pa

    try:
        batch.validate(full=True)  # a damaged offset would otherwise make to_pylist read outside the file (SIGBUS)
    except (pa.ArrowException, OSError) as exc:
        raise _damaged(src, file, f"{row} record(s)", exc) from None
    return batch_records(src, batch, row, texts)


_UNCONVERTIBLE = (OverflowError, ValueError, ArithmeticError)  # a year past 9999, a decimal Python cannot read


BinaryTexts = dict[str, bool]  # a binary column -> whether it holds text, as its first value in the file decides


def batch_records(src: SourceDef, batch: Any, first: int = 0, texts: BinaryTexts | None = None) -> list[dict[str, Any]]:
    """A Parquet/ORC/Arrow record batch (its first record ``first`` of the file, ``texts`` what the file's earlier
    batches decided of its binary columns) as Python records. A column whose
    values Python cannot represent (a timestamp past year 9999, a malformed decimal) is read as Arrow's text of each
    value rather than failing the source. Two columns of one name are refused: one would silently overwrite the other
    in every record. A map column (Spark's map<string,string>) reads as an object, so `attrs.color` reaches into it; a
    map naming a key twice is refused. Binary columns are text (``binary_as_text``)."""
    _refuse_repeated_columns(src, batch.schema.names)
    batch = binary_as_text(src, batch, first, {} if texts is None else texts)
    try:
        return batch.to_pylist(maps_as_pydicts="strict")  # type: ignore[no-any-return]
    except (*_UNCONVERTIBLE, KeyError):  # KeyError: a map with a key twice, named below with its column
        pass
    import pyarrow as pa
    import pyarrow.compute as pc

    columns: dict[str, list[Any]] = {}
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        try:
            columns[name] = column.to_pylist(maps_as_pydicts="strict")
        except KeyError as exc:
            raise SourceError(f"source '{src.id}': map column '{name}' names a key twice in one value ({exc.args[0]})",
                              Span(str(src.path), 1, 1), code="E4001", expected="each key once in a map value",
                              hint="remove the repeated key where the file is written, or leave the column out "
                                   "(Parquet: `options: {columns: [...]}`)") from None
        except _UNCONVERTIBLE as exc:
            if isinstance(exc, UnicodeDecodeError):  # text that is not UTF-8: its record and bytes
                raise _not_utf8(src, name, column, first) from None
            try:
                columns[name] = pc.cast(column, pa.string()).to_pylist()
            except (*_UNCONVERTIBLE, pa.ArrowException):
                raise SourceError(f"source '{src.id}': column '{name}' holds a value Python cannot read ({exc})",
                                  Span(str(src.path), 1, 1), code="E4001", expected="values Python can represent",
                                  hint="leave the column out (Parquet: `options: {columns: [...]}`), or rewrite it"
                                  ) from None
    return [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)] \
        if columns else [{} for _ in range(batch.num_rows)]


def binary_as_text(src: SourceDef, batch: Any, first: int, texts: BinaryTexts) -> Any:
    """``batch`` with its binary columns (and lists of them) read as UTF-8 text: Spark, Hive, Impala and older writers
    store strings as BYTE_ARRAY without the UTF8 annotation, which pyarrow reads as bytes (as does `pa.binary()`). A
    column whose first value in the file is no UTF-8 holds data, not text (an image, an embedding) and stays bytes;
    a later value that is not UTF-8 in a column of text is E4001 naming the column and record. A file `datasets`
    wrote (its `huggingface` metadata) is left as it is: there a binary column is `Value('binary')`."""
    if b"huggingface" in (batch.schema.metadata or {}):
        return batch
    kinds = {i: t for i, field in enumerate(batch.schema) if (t := _text_type(field.type)) is not None}
    if not kinds:
        return batch
    import pyarrow as pa
    import pyarrow.compute as pc

    columns, fields = list(batch.columns), list(batch.schema)
    for i, text in kinds.items():
        name = fields[i].name
        if name not in texts:
            texts.update(_holds_text(name, columns[i]))
        if not texts.get(name, True):
            continue
        try:
            columns[i] = pc.cast(columns[i], text)  # checks that every value is UTF-8
        except pa.ArrowInvalid:
            raise _not_utf8(src, name, columns[i], first) from None
        fields[i] = fields[i].with_type(text)
    return pa.RecordBatch.from_arrays(columns, schema=pa.schema(fields, metadata=batch.schema.metadata))


def _holds_text(name: str, column: Any) -> dict[str, bool]:
    """{name: whether the column's first value (of a list column, its first item) is UTF-8}; {} while all are null."""
    import pyarrow as pa

    values = column
    while pa.types.is_list(values.type) or pa.types.is_large_list(values.type):
        values = values.flatten()
    values = values.drop_null()
    if len(values) == 0:
        return {}
    try:
        values[0].as_py().decode("utf-8")
    except UnicodeDecodeError:
        return {name: False}
    return {name: True}


def _text_type(kind: Any) -> Any:
    """The type that reads ``kind``'s binary as text (binary, large binary, binary view, dictionary-encoded; and lists
    of them), or None when it holds none (a fixed-size binary is a hash or an id, and structs are left as they are)."""
    import pyarrow as pa

    if pa.types.is_binary(kind) or pa.types.is_binary_view(kind):
        return pa.string()
    if pa.types.is_large_binary(kind):
        return pa.large_string()
    if pa.types.is_dictionary(kind) and not pa.types.is_nested(kind.value_type):  # pandas' categorical of bytes
        return _text_type(kind.value_type)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        item = _text_type(kind.value_type)
        make = pa.list_ if pa.types.is_list(kind) else pa.large_list
        return None if item is None else make(kind.value_field.with_type(item))
    return None


def _not_utf8(src: SourceDef, name: str, column: Any, first: int) -> SourceError:
    """E4001 at the first value of a binary or string ``column`` (or list column of them) that is not UTF-8: its record
    and the bytes that fail (found in Python: a cast of a list column's one-record slice checks all its items)."""
    n, where = 0, ""
    for n in range(len(column)):
        try:
            failing = _first_not_utf8(column[n].as_py())
        except UnicodeDecodeError as decoding:  # a string column (UTF8-annotated) of a damaged file
            failing = bytes(decoding.object), decoding
        if failing is not None:
            value, error = failing
            where = f" (byte {value[error.start:error.start + 1]!r} at byte {error.start + 1} of {_short_bytes(value)})"
            break
    return SourceError(f"source '{src.id}': column '{name}' of record {first + n} is not UTF-8 text{where}",
                       Span(str(src.path), 1, 1), code="E4001",
                       expected=f"UTF-8 text in '{name}' (a binary column, BYTE_ARRAY without the UTF8 annotation as "
                                "Spark and older writers store strings, is read as UTF-8)",
                       hint="re-encode the text as UTF-8 where the file is written; a column of other bytes (an "
                            "image, a hash) can be left out (Parquet, ORC: `options: {columns: [...]}`)")


def _first_not_utf8(value: Any) -> tuple[bytes, UnicodeDecodeError] | None:
    """The first bytes in ``value`` (bytes, or a list nesting them) that are not UTF-8, with the decoding error."""
    if isinstance(value, list):
        return next((found for item in value if (found := _first_not_utf8(item)) is not None), None)
    if isinstance(value, bytes):
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as exc:
            return value, exc
    return None


def _short_bytes(value: bytes, limit: int = 40) -> str:
    """A bytes value for a message, cut to ``limit`` bytes."""
    return repr(value[:limit]) + ("…" if len(value) > limit else "")


def _refuse_repeated_columns(src: SourceDef, names: list[str]) -> None:
    twice = next((name for i, name in enumerate(names) if name in names[:i]), None)
    if twice is not None:
        raise SourceError(f"source '{src.id}': the file has two columns named '{twice}'", Span(str(src.path), 1, 1),
                          code="E4001", expected="distinct column names (a record holds one value per name)",
                          hint="rename one of the columns where the file is written (pyarrow's "
                               "Table.rename_columns), or read only the others (Parquet: `options: {columns: [...]}`)")


def _damaged(src: SourceDef, file: Path, after: str, exc: Exception) -> SourceError:
    return _cut_arrow(src, file, f"{file.name} is damaged or cut short after {after} ({one_line(str(exc))})")


def _cut_arrow(src: SourceDef, file: Path, what: str) -> SourceError:
    return SourceError(f"source '{src.id}': {what}", Span(str(file), 1, 1), code="E4001",
                       expected="a complete Arrow file", hint="copy or download the file again (or save the dataset "
                       "again with `save_to_disk`)")


def _fail(src: SourceDef, message: str) -> SourceError:
    return SourceError(f"source '{src.id}': {message}", Span(str(src.path), 1, 1), code="E4001")


def document_files(folder: Path) -> list[Path]:
    """The files of a folder of documents (RACE: one `.txt` or `.json` file per article; CoNLL-2012's tree), in name
    order; hidden files and everything under a hidden folder (.git, .ipynb_checkpoints' copies) are no documents."""
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def exploded(src: SourceDef, records: Iterator[dict[str, Any]], keys: list[str], first: int = 0,
             line: int = 1) -> Iterator[dict[str, Any]]:
    """One record per position of the parallel lists under ``keys`` (RACE: questions, options, answers);
    the other keys are copied, and `index` numbers the position (``first``, ``line``: the first record's number and
    line, for the error's location). A dotted key is a path into nested objects (SuperGLUE MultiRC's
    passage.questions), its list replaced by each item in turn; keys under one parent are parallel (a struct of lists,
    as the Hub's C3 stores its questions: questions.question, questions.answer, questions.choice), and a deeper
    parent is exploded inside each item of a shallower one (passage.questions, then passage.questions.answers)."""
    levels: dict[str, list[str]] = {}
    for key in keys:
        levels.setdefault(key.rpartition(".")[0], []).append(key)
    groups = [levels[parent] for parent in sorted(levels, key=lambda parent: parent.count(".") + bool(parent))]
    for n, record in enumerate(records, first):
        yield from _explode_levels(src, record, groups, n, line)


def _explode_levels(src: SourceDef, record: dict[str, Any], groups: list[list[str]], n: int,
                    line: int) -> Iterator[dict[str, Any]]:
    if not groups:
        yield record
        return
    keys = groups[0]
    lists = [_at(record, k) for k in keys]
    if not all(isinstance(v, list) for v in lists) or len({len(v) for v in lists if isinstance(v, list)}) > 1:
        raise SourceError(f"source '{src.id}': record {n} has no parallel lists under {', '.join(keys)}",
                          src.span if src.path is None and src.span is not None else Span(str(src.path), line, 1),
                          expected="lists of one length under: " + ", ".join(keys) + _found(keys, lists),
                          code="E4001", hint=_explode_hint(record, keys, lists))
    for i, values in enumerate(zip(*lists, strict=True)):
        item = record
        for key, value in zip(keys, values, strict=True):
            item = _with(item, key, value)
        yield from _explode_levels(src, {**item, "index": i}, groups[1:], n, line)


def _at(record: Any, key: str) -> Any:
    """The value under ``key``: a key of the record as written (`answers.text` in a flattened export), else a
    dotted path into nested objects."""
    if not isinstance(record, dict):
        return None
    if key in record or "." not in key:
        return record.get(key)
    head, _, rest = key.partition(".")
    return _at(record.get(head), rest)


def _with(record: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """A copy of ``record`` with ``value`` under ``key`` (as ``_at`` finds it); the objects on the way are copied."""
    if key in record or "." not in key:
        return {**record, key: value}
    head, _, rest = key.partition(".")
    return {**record, head: _with(record[head], rest, value)}


def _explode_hint(record: dict[str, Any], keys: list[str], lists: list[Any]) -> str:
    own = _list_paths(record)
    for key, value in zip(keys, lists, strict=True):
        close = did_you_mean(key, [path for path in own if path not in keys]) if value is None else None
        if close:  # a misspelt key beside right ones
            return f"record has no '{key}': {close}"
        inner = [path for path in own if path.startswith(f"{key}.")] if isinstance(value, dict) else []
        if inner:
            return f"'{key}' holds a struct, not a list: name its lists, {', '.join(inner)} (a dotted key each)"
    if any(v is not None for v in lists):
        return (f"the record's lists are {', '.join(own)}; " if own else "") + "records already one per position (a " \
               "Hub export of RACE: question, options, answer) are the Hub's layout: give its Parquet file"
    return f"the record's keys are {', '.join(map(str, record)) or 'none'}: name its lists under `explode:` (a dotted " \
           "key for a list inside a struct), or give a file in the layout the source's catalog adapter reads " \
           "(`humc stdlib catalog NAME` shows it)"


def _list_paths(record: dict[str, Any], prefix: str = "", depth: int = 3) -> list[str]:
    """The keys of a record's lists, dotted through structs (``qa.q``), for the hint of a key `explode:` misses."""
    paths = []
    for key, value in record.items():
        if isinstance(value, list):
            paths.append(f"{prefix}{key}")
        elif isinstance(value, dict) and depth > 1:
            paths += _list_paths(value, f"{prefix}{key}.", depth - 1)
    return paths


def _found(keys: list[str], lists: list[Any]) -> str:
    """What the record holds under ``keys`` instead (a missing key, a string, lists of other lengths)."""
    def what(v: Any) -> str:
        return (f"{len(v)} item" + "s" * (len(v) != 1)) if isinstance(v, list) else type_name(v)
    return " (found: " + ", ".join(f"{k}: {what(v)}" for k, v in zip(keys, lists, strict=True)) + ")"


Decode = Callable[[Any], Any]
ClassLabels = dict[str, Decode]  # column -> how to decode its value's ClassLabel integers


def class_label_names(src: SourceDef, metadata: dict[bytes, bytes] | None) -> ClassLabels:
    """Column -> how to decode its ClassLabel integers to names, from a Parquet or Arrow file's `huggingface` features
    metadata: a ClassLabel column, a list of them, and ClassLabels inside structs (`meta.label`) and their lists."""
    features = _metadata_features(metadata)
    if features is None and src.path is not None:
        features = card_features(src.path)
    if features is None:
        raise SourceError(f"source '{src.id}': `class_labels: true`, but the file has no Hugging Face features metadata",
                          Span(str(src.path), 1, 1), code="E4001", expected="a Parquet or Arrow file written by `datasets` "
                          "(its schema metadata names the ClassLabel columns), or one below a dataset card (README.md) "
                          "whose `dataset_info: features:` names them",
                          hint="leave out `class_labels` and map the integers with lookup(column, [names…])")
    return feature_decoders(features)


def _metadata_features(metadata: dict[bytes, bytes] | None) -> dict[str, Any] | None:
    """The features (JSON form) of a Parquet or Arrow schema's `huggingface` metadata, or None."""
    try:
        features = json.loads((metadata or {})[b"huggingface"])["info"]["features"]
    except (KeyError, TypeError, ValueError):
        return None
    return features if isinstance(features, dict) else None


def class_label_set(path: Path, fmt: str, column: str) -> tuple[str, ...] | None:
    """The names of ``column``'s ClassLabel (or of a list of them: multi-label) in a Parquet or Arrow source's
    `datasets` features: every class the dataset defines, those its rows never use too. None when there is none."""
    features = _source_features(path, fmt)
    feature = features.get(column) if features else None
    if isinstance(feature, dict) and feature.get("_type") in ("Sequence", "List", "LargeList"):
        feature = feature.get("feature")
    elif isinstance(feature, list) and len(feature) == 1:  # the newer `[feature]` spelling of a list
        feature = feature[0]
    if isinstance(feature, dict) and feature.get("_type") == "ClassLabel" and isinstance(feature.get("names"), list):
        return tuple(str(name) for name in feature["names"])
    return None


def _source_features(path: Path, fmt: str) -> dict[str, Any] | None:
    """A Parquet file's, an Arrow file's or a `save_to_disk` folder's `datasets` features (JSON form), if it has any."""
    if fmt == "hf":  # a `dataset:` folder of data files: the first Parquet file's features
        first = next(iter(sorted(path.rglob("*.parquet"))), None) if path.is_dir() else None
        return _source_features(first, "parquet") if first is not None else None
    try:
        if path.is_dir():
            infos = [path / "dataset_info.json", *sorted(path.glob("*/dataset_info.json"))]
            info = next((json.loads(p.read_text(encoding="utf-8")) for p in infos if p.is_file()), None)
            features = info.get("features") if isinstance(info, dict) else None
        else:
            features = _metadata_features(_schema_metadata(path, fmt)) or card_features(path)
    except (OSError, KeyError, TypeError, ValueError):
        return None
    return features if isinstance(features, dict) else None


def feature_decoders(features: dict[str, Any]) -> ClassLabels:
    """Column -> how to decode its ClassLabel integers, from `datasets` features in their JSON form
    (``Features.to_dict()``, or the `huggingface` metadata's ``features``); columns without one are left out."""
    decoders = {column: _label_decoder(feature) for column, feature in features.items()}
    return {column: decode for column, decode in decoders.items() if decode is not None}


def carries_features(path: Path, fmt: str) -> bool:
    """Whether a Parquet or Arrow source holds the `huggingface` features metadata `datasets` writes, or lies below a
    dataset card declaring its features (so that `class_labels: true` can name its ClassLabel integers); a
    `save_to_disk` folder always does."""
    if path.is_dir():
        return fmt == "arrow"
    return b"huggingface" in (_schema_metadata(path, fmt) or {}) or card_features(path) is not None


def _schema_metadata(path: Path, fmt: str) -> dict[bytes, bytes] | None:
    """A Parquet or Arrow file's schema metadata; None for a file that cannot be read (its reader says so, located)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    metadata: dict[bytes, bytes] | None
    try:
        if fmt == "parquet":
            metadata = pq.read_schema(path).metadata
        else:
            try:
                metadata = pa.ipc.open_stream(pa.memory_map(str(path))).schema.metadata
            except (pa.ArrowException, OSError):
                metadata = pa.ipc.open_file(pa.memory_map(str(path))).schema.metadata
    except (pa.ArrowException, OSError):
        return None
    return metadata


def _label_decoder(feature: Any) -> Decode | None:
    """How to decode one value of a `datasets` feature (None when no ClassLabel is inside): a ClassLabel's integer is
    its name (-1, no label, is null), a list decodes its items, a struct its fields."""
    if isinstance(feature, list) and len(feature) == 1:  # the newer `[feature]` spelling of a list
        return _list_of(_label_decoder(feature[0]))
    if not isinstance(feature, dict):
        return None
    kind = feature.get("_type")
    if kind == "ClassLabel" and isinstance(feature.get("names"), list):
        names = [str(n) for n in feature["names"]]
        return lambda v: names[v] if type(v) is int and 0 <= v < len(names) else None
    if kind in ("Sequence", "List", "LargeList"):
        inner = feature.get("feature")
        if isinstance(inner, dict) and "_type" not in inner:  # a list of structs
            return _list_of_structs(inner)
        return _list_of(_label_decoder(inner))
    if kind is None:  # a struct: {field: feature}
        return _struct_of({key: _label_decoder(f) for key, f in feature.items()})
    return None


def _list_of(decode: Decode | None) -> Decode | None:
    if decode is None:
        return None
    return lambda v: [decode(x) for x in v] if isinstance(v, list) else decode(v)


def _struct_of(fields: dict[str, Decode | None]) -> Decode | None:
    decoders = {key: decode for key, decode in fields.items() if decode is not None}
    if not decoders:
        return None
    return lambda v: {key: decoders[key](x) if key in decoders and x is not None else x for key, x in v.items()} \
        if isinstance(v, dict) else v


def _list_of_structs(fields: dict[str, Any]) -> Decode | None:
    """A Sequence of a struct: pyarrow reads a list of objects, `datasets` an object of lists; both are decoded."""
    items = _struct_of({key: _label_decoder(f) for key, f in fields.items()})
    columns = _struct_of({key: _list_of(_label_decoder(f)) for key, f in fields.items()})
    if items is None or columns is None:
        return None
    return lambda v: [items(x) for x in v] if isinstance(v, list) else columns(v)


def decode_class_labels(record: dict[str, Any], labels: ClassLabels) -> dict[str, Any]:
    """The record with its ClassLabel integers replaced by names (-1, no label, is null)."""
    for column, decode in labels.items():
        value = record.get(column)
        if value is not None:
            record[column] = decode(value)
    return record


def read_text_files(src: SourceDef) -> Iterator[Row]:
    """`format: text_files`: {text, label, file} for every file matching `pattern` in a subfolder of the folder."""
    folder = src.path
    assert folder is not None
    if not folder.is_dir():
        raise SourceError(f"source '{src.id}': `format: text_files` reads a folder, and {folder.name} is a file",
                          Span(str(folder), 1, 1), code="E4001", expected="a folder with one subfolder per label",
                          hint="name the folder holding the label subfolders (aclImdb/train), or pick the file's format")
    pattern = src.options.get("pattern", "*")
    labels = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    files = [(label.name, f) for label in labels for f in sorted(label.glob(pattern))
             if f.is_file() and not f.name.startswith(".")]
    if not files:
        found = ", ".join(p.name for p in labels[:5]) or "no subfolders"
        raise SourceError(f"source '{src.id}': no file matching {pattern!r} in a subfolder of {folder.name} ({found})",
                          Span(str(folder), 1, 1), code="E4001", expected="label subfolders holding one text per file",
                          hint="point `path:` at the folder whose subfolders are the labels (aclImdb/train, not aclImdb), "
                               "and check `options: {pattern: …}`")
    option = src.options.get("encoding")
    for n, (label, path) in enumerate(files):
        text = file_text(src, path, fitting_encoding(option, path, "utf-8"))
        yield n, {"text": text, "label": label, "file": path.relative_to(folder).as_posix()}


def file_text(src: SourceDef, path: Path, encoding: str) -> str:
    """A whole text file, decoded; a byte that does not decode or a NUL character is E4001 at its line and column."""
    data = path.read_bytes()
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        before = data[:exc.start]
        line, column = before.count(b"\n") + 1, exc.start - (before.rfind(b"\n") + 1) + 1
        raise SourceError(f"source '{src.id}': byte {data[exc.start:exc.start + 1]!r} of {path.name} is not {encoding}",
                          Span(str(path), line, column), code="E4001", expected=f"{encoding} text",
                          hint="set the source's `options: {encoding: …}` (e.g. latin-1), or re-save the file") from None
    if "\0" in text:
        raise nul_error_in(src, path, text)
    return text


def read_blocks(src: SourceDef) -> Iterator[tuple[int, dict[str, Any], int]]:
    """Records of a fixed number of lines separated by blank lines (SemEval-2010 Task 8: sentence, relation,
    comment); `lines:` names them. A block of another length is an error at its first line."""
    names = list(src.options.get("lines") or ["text"])
    enc = fitting_encoding(src.options.get("encoding"), src.path)
    block: list[str] = []
    start, row = 1, 0
    with open_text(src.path, enc, newline_of(src.path)) as f:  # type: ignore[arg-type]
        for lineno, line in enumerate(nul_free(src, f), 1):
            line = line.rstrip("\r\n")
            if line.strip():
                if not block:
                    start = lineno
                block.append(line)
                continue
            if block:
                yield row, _block(src, names, block, start), start
                row += 1
                block = []
        if block:
            yield row, _block(src, names, block, start), start


def _block(src: SourceDef, names: list[str], block: list[str], start: int) -> dict[str, Any]:
    if len(block) != len(names):
        raise SourceError(f"source '{src.id}': a block of {len(block)} lines, expected {len(names)}",
                          Span(str(src.path), start, 1), expected="lines: " + ", ".join(names), code="E4001",
                          hint="blocks are separated by one blank line; set `options: {lines: [...]}` to their lines")
    return dict(zip(names, block, strict=True))


FOLDER_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})  # a write refused: disk full, ulimit -f
ARCHIVE_FOLDER = "archives"  # in the build's cache folder: <content digest>/<member>, and by-stat/ memos
ARCHIVE_MEMOS = "by-stat"


def archive_member(path: Path, member: str, folder: Path) -> Path | str:
    """The file (or folder) ``member`` of the zip or tar archive ``path``, extracted once into ``folder`` (the build
    cache's ``archives/``) under the archive's content digest, so every build and worker sharing the cache reads the
    same copy (written whole, then renamed into place), or why not: a member the archive lacks (with its first
    names), an unsafe name, an archive kind Python cannot read, or a folder that cannot be written; a write the
    file system refuses (``FOLDER_FULL``: a full disk, `ulimit -f`) raises its OSError, nothing of it kept."""
    kind = archive_of(path)
    name = member.strip("/")
    if kind not in ("zip", "tar"):
        return f"{path.name} is a {kind} archive, which Python cannot open: extract it and point `path:` at the file"
    if not name or name.startswith("/") or ".." in name.split("/") or "\\" in name:
        return f"{member!r} is not a relative name inside the archive"
    try:
        root = folder / archive_digest(path, folder / ARCHIVE_MEMOS)
    except OSError as exc:
        if exc.errno in FOLDER_FULL:
            raise
        return f"{path.name} cannot be read, or its member not extracted into {folder} ({one_line(str(exc))})"
    target = root / name
    if target.exists():
        return target
    try:
        with _ArchiveFiles(path, kind) as files:
            chosen = [n for n in files.names if (n == name or n.startswith(name + "/")) and ".." not in n.split("/")]
            if not chosen:
                return f"{path.name} holds no {member!r}" + _holding(files.names)
            staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=_made(root)))
            try:
                for n in chosen:
                    files.extract(n, staging / n)
                _made(target.parent)
                if not target.exists():  # another build may have extracted it meanwhile
                    os.replace(staging / name, target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except OSError as exc:
        if exc.errno in FOLDER_FULL:
            raise  # the cache folder's problem, not the archive's
        return f"{path.name} cannot be read ({one_line(str(exc))})"
    except (EOFError, zipfile.BadZipFile, tarfile.TarError, zlib.error, lzma.LZMAError,
            RuntimeError, NotImplementedError) as exc:  # damaged data; an encrypted zip, an unsupported method
        return f"{path.name} cannot be read ({one_line(str(exc))})"
    return target


def archive_digest(path: Path, memos: Path) -> str:
    """The sha256 of the archive's bytes (32 hex digits), read once per version of the file: a memo in ``memos``
    keyed by its path, size and modification time keeps it."""
    stat = path.stat()
    memo = memos / hashlib.sha256(f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()[:32]
    with contextlib.suppress(OSError):
        known = memo.read_text(encoding="ascii").strip()
        if re.fullmatch(r"[0-9a-f]{32}", known):
            return known
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()[:32]
    staged = _made(memos) / f".{memo.name}.{os.getpid()}"
    staged.write_text(digest, encoding="ascii")
    os.replace(staged, memo)
    return digest


def _made(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _holding(names: list[str]) -> str:
    shown = names[:5]
    return f" (it holds {', '.join(shown)}{', …' if len(names) > 5 else ''})" if shown else " (it holds no file)"


class _ArchiveFiles:
    """The regular files of a zip or tar archive, by name, and extracting one to a path (links and devices are
    not files: never extracted)."""

    def __init__(self, path: Path, kind: str) -> None:
        self.kind = kind
        self.zip = zipfile.ZipFile(path) if kind == "zip" else None
        self.tar = tarfile.open(path) if kind == "tar" else None
        if self.zip is not None:
            self.names = [n for n in self.zip.namelist() if not n.endswith("/")]
        else:
            assert self.tar is not None
            self.members = {m.name.removeprefix("./"): m for m in self.tar.getmembers() if m.isfile()}
            self.names = list(self.members)

    def extract(self, name: str, to: Path) -> None:
        _made(to.parent)
        source = self.zip.open(name) if self.zip is not None else self._tar_file(name)
        with source, open(to, "wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)

    def _tar_file(self, name: str) -> IO[bytes]:
        assert self.tar is not None
        f = self.tar.extractfile(self.members[name])
        assert f is not None  # a regular file always has a file object
        return f

    def __enter__(self) -> _ArchiveFiles:
        return self

    def __exit__(self, *_: object) -> None:
        (self.zip or self.tar).close()  # type: ignore[union-attr]


# ---------------------------------------------------------------------------- Avro logical types fastavro leaves out

_DAY_MICROS = 86_400_000_000
_CYCLE_DAYS = 146_097  # days in 400 Gregorian years, after which the calendar repeats


def _expanded_year(year: int) -> str:
    """A year as ISO 8601 writes it past 0000-9999: '+10000', '-0001' (year 0 is 1 BC)."""
    return f"{year:04d}" if 0 <= year <= 9999 else f"+{year}" if year > 0 else f"-{-year:04d}"


def far_timestamp(micros: int, *, utc: bool, date_only: bool = False) -> str:
    """A date or timestamp (``micros`` since 1970-01-01) that Python's datetime cannot hold (before year 1, after
    9999), written as ``str()`` writes one it can hold, with ISO 8601's expanded year: '+10000-01-01 00:00:00+00:00',
    '+10000-01-01'. The calendar repeats every 400 years: the date is found 400·k years nearer, k put back in the year."""
    import datetime

    cycles = (micros // _DAY_MICROS) // _CYCLE_DAYS
    near = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=micros - cycles * _CYCLE_DAYS * _DAY_MICROS)
    text = str(near.date()) if date_only else str(near) + ("+00:00" if utc else "")
    return _expanded_year(near.year + 400 * cycles) + text[4:]


def avro_duration(data: bytes) -> str:
    """Avro's `duration` (fixed 12: months, days, milliseconds, little-endian unsigned 32-bit) as ISO 8601:
    'P1M2DT3.5S', 'PT0S'. Months and days stay apart (neither has a fixed length in the other)."""
    months, days, millis = (int.from_bytes(data[i:i + 4], "little") for i in (0, 4, 8))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds = f"{rest // 1000}.{rest % 1000:03d}".rstrip("0").rstrip(".")
    date = f"{months}M" * bool(months) + f"{days}D" * bool(days)
    time = f"{hours}H" * bool(hours) + f"{minutes}M" * bool(minutes) + f"{seconds}S" * bool(rest)
    return "P" + date + ("T" + time if time else "") if date or time else "PT0S"


def _lenient(read: Callable[..., Any], far: Callable[[int], str]) -> Callable[..., Any]:
    """fastavro's logical reader ``read``, with a value it cannot make a datetime of written by ``far``."""
    def lenient(data: Any, writer_schema: Any = None, reader_schema: Any = None) -> Any:
        try:
            return read(data, writer_schema, reader_schema)
        except (OverflowError, ValueError):  # datetime's "date value out of range", "year 10000 is out of range"
            return far(data)

    lenient.humc = True  # type: ignore[attr-defined]
    return lenient


def lenient_avro_readers(readers: dict[str, Callable[..., Any]]) -> None:
    """Teach fastavro's logical readers (``fastavro.read.LOGICAL_READERS``, the registry it documents for custom
    logical types) what it leaves out: a date or timestamp past year 9999 (or before year 1) reads as its ISO text
    instead of ending the read at that record, and `duration` as ISO 8601 text instead of 12 raw bytes. Values fastavro
    reads stay its own. Idempotent."""
    fars: dict[str, Callable[[int], str]] = {
        "long-timestamp-millis": lambda v: far_timestamp(v * 1000, utc=True),
        "long-timestamp-micros": lambda v: far_timestamp(v, utc=True),
        "long-local-timestamp-millis": lambda v: far_timestamp(v * 1000, utc=False),
        "long-local-timestamp-micros": lambda v: far_timestamp(v, utc=False),
        "int-date": lambda v: far_timestamp(v * _DAY_MICROS, utc=False, date_only=True),
    }
    for key, far in fars.items():
        read = readers.get(key)
        if read is not None and not getattr(read, "humc", False):
            readers[key] = _lenient(read, far)
    readers.setdefault("fixed-duration", _duration)


def _duration(data: bytes, writer_schema: Any = None, reader_schema: Any = None) -> Any:
    """A `duration` as ISO 8601 text; on a fixed of another size than 12 the logical type is invalid, and the Avro
    specification has it ignored: the bytes as a plain fixed reads."""
    return avro_duration(data) if len(data) == 12 else data
