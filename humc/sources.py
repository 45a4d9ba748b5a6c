"""Source readers: stream records from local files (JSONL, JSON, CSV/TSV, Parquet,
CoNLL-style column files, SQuAD JSON) or from a locally available Hugging Face dataset.

Every reader is a generator of ``(row_id, record)`` so that memory does not grow with
the size of the source. Errors name the file and the line (or row) that is malformed.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from humc.errors import SourceError, Span
from humc.ir import SourceDef

Row = tuple[int, dict[str, Any]]

# format -> allowed options
FORMATS: dict[str, tuple[str, ...]] = {
    "jsonl": ("encoding",),
    "json": ("encoding", "records"),
    "csv": ("encoding", "header", "columns", "delimiter"),
    "tsv": ("encoding", "header", "columns"),
    "parquet": ("columns",),
    "conll": ("encoding", "columns", "separator", "doc_start"),
    "squad": ("encoding",),
    "hf": (),  # configured by `dataset: {name, config, split, revision}`
}

SOURCE_OPTION_DOCS = {
    "encoding": "a Python codec name, e.g. utf-8 or latin-1", "header": "true or false",
    "columns": "a list of column names", "delimiter": "one character, e.g. ';'",
    "records": "the key of the list of records", "separator": "the column separator (default: any whitespace)",
    "doc_start": "the token that starts a document line, e.g. -DOCSTART-",
}


def source_option_problem(key: str, value: Any) -> str | None:
    """Why a source option's value is unusable, or None."""
    if key == "encoding":
        try:
            codecs.lookup(str(value))
        except LookupError:
            return f"unknown encoding {value!r}"
        return None if isinstance(value, str) else "not a string"
    if key == "header":
        return None if isinstance(value, bool) else "not true or false"
    if key == "columns":
        ok = isinstance(value, list) and value and all(isinstance(v, str) and v for v in value)
        return None if ok else "not a non-empty list of names"
    if key == "delimiter":
        return None if isinstance(value, str) and len(value) == 1 else "not a single character"
    if key in ("records", "doc_start"):
        return None if isinstance(value, str) and value else "not a non-empty string"
    if key == "separator":
        return None if value is None or (isinstance(value, str) and value) else "not a non-empty string"
    return None


_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv",
               ".parquet": "parquet", ".conll": "conll", ".bio": "conll"}


def infer_format(path: Path) -> str | None:
    return _EXTENSIONS.get(path.suffix.lower())


def source_digest(src: SourceDef) -> str:
    """Content hash of a source (file bytes, or the dataset spec and its cache fingerprint)."""
    h = hashlib.sha256()
    h.update(json.dumps([src.format, src.options, src.dataset], sort_keys=True, default=str).encode())
    files = sorted(p for p in src.path.rglob("*") if p.is_file()) if src.path and src.path.is_dir() else [src.path]
    for path in files:
        if path is None:
            continue
        h.update(str(path.relative_to(src.path) if src.path is not None and src.path.is_dir() else "").encode())
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def read_source(src: SourceDef) -> Iterator[Row]:
    try:
        yield from _READERS[src.format](src)
    except UnicodeDecodeError as exc:
        raise SourceError(f"source '{src.id}': the file is not valid {exc.encoding} text (byte {exc.start}: "
                          f"{exc.object[exc.start:exc.start + 1]!r})", Span(str(src.path), 1, 1),
                          hint="set the file's encoding, e.g. `options: {encoding: latin-1}`") from None


def _enc(src: SourceDef) -> str:
    return str(src.options.get("encoding", "utf-8-sig"))  # utf-8, ignoring the BOM spreadsheet exports write


def _file(src: SourceDef) -> Path:
    assert src.path is not None, f"source '{src.id}' is a dataset, not a file"  # file readers get file sources only
    return src.path


def _fail(src: SourceDef, line: int, message: str, expected: str | None = None) -> SourceError:
    return SourceError(f"source '{src.id}': {message}", Span(str(src.path), line, 1), expected=expected)


def _read_jsonl(src: SourceDef) -> Iterator[Row]:
    row = 0
    with open(_file(src), encoding=_enc(src)) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise _fail(src, lineno, f"invalid JSON: {exc.msg}", "one JSON object per line") from None
            if not isinstance(record, dict):
                raise _fail(src, lineno, f"a line holds {type(record).__name__}, not an object", "one JSON object per line")
            yield row, record
            row += 1


def _load_json(src: SourceDef) -> Any:
    try:
        with open(_file(src), encoding=_enc(src)) as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise SourceError(f"source '{src.id}': invalid JSON: {exc.msg}", Span(str(src.path), exc.lineno, exc.colno), code="E0008") from None


def _read_json(src: SourceDef) -> Iterator[Row]:
    data = _load_json(src)
    key = src.options.get("records")
    if key is not None:
        data = data.get(key) if isinstance(data, dict) else None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise _fail(src, 1, "expected a JSON list of objects" + (f" under '{key}'" if key else ""),
                    "a list of objects, or `options: {records: <key>}` naming the list")
    yield from enumerate(data)


def _read_squad(src: SourceDef) -> Iterator[Row]:
    """SQuAD 1.1/2.0 JSON, flattened like the Hub's squad/squad_v2 datasets."""
    data = _load_json(src)
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise _fail(src, 1, "not SQuAD JSON", "an object with a `data` list of articles")
    row = 0
    for a, article in enumerate(data["data"]):
        where = f"data[{a}]"
        for p, para in enumerate(_squad_list(src, article, "paragraphs", where)):
            context = _squad_text(src, para, "context", f"{where}.paragraphs[{p}]")
            for q, qa in enumerate(_squad_list(src, para, "qas", f"{where}.paragraphs[{p}]")):
                at = f"{where}.paragraphs[{p}].qas[{q}]"
                answers = _squad_list(src, qa, "answers", at, required=False)
                yield row, {
                    "id": str(qa.get("id", row)), "title": str(article.get("title", "")), "context": context,
                    "question": _squad_text(src, qa, "question", at), "is_impossible": bool(qa.get("is_impossible", False)),
                    "answers": {"text": [_squad_text(src, ans, "text", f"{at}.answers[{i}]") for i, ans in enumerate(answers)],
                                "answer_start": [ans.get("answer_start", -1) for ans in answers]},
                }
                row += 1


def _squad_list(src: SourceDef, obj: Any, key: str, where: str, required: bool = True) -> list[Any]:
    if not isinstance(obj, dict):
        raise _fail(src, 1, f"{where} is {type(obj).__name__}, not an object", "SQuAD JSON")
    value = obj.get(key, None if required else [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _fail(src, 1, f"{where}.{key} must be a list of objects", "SQuAD JSON")
    return value


def _squad_text(src: SourceDef, obj: dict[str, Any], key: str, where: str) -> str:
    if not isinstance(obj.get(key), str):
        raise _fail(src, 1, f"{where} has no string '{key}'", "SQuAD JSON")
    return str(obj[key])


def _read_delimited(src: SourceDef, delimiter: str) -> Iterator[Row]:
    header = src.options.get("header", True)
    columns = src.options.get("columns")
    with open(_file(src), encoding=_enc(src), newline="") as f:
        reader = csv.reader(f, delimiter=delimiter) if delimiter != "\t" else csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        names: list[str] | None = list(columns) if columns else None
        row, skip_header = 0, bool(header)
        for values in reader:
            if not values:
                continue
            if skip_header:  # the header row names the columns unless `columns:` overrides it
                skip_header = False
                names = names or values
                continue
            if names is None:
                names = [f"column{i}" for i in range(len(values))]
            if len(values) != len(names):
                raise _fail(src, reader.line_num, f"{len(values)} values but {len(names)} columns",
                            f"{len(names)} values: {', '.join(names)}")
            yield row, dict(zip(names, values, strict=True))
            row += 1


def _read_parquet(src: SourceDef) -> Iterator[Row]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(src.path)
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise _fail(src, 1, f"not a readable Parquet file ({exc})") from None
    row = 0
    for batch in pf.iter_batches(batch_size=4096, columns=src.options.get("columns")):
        for record in batch.to_pylist():
            yield row, record
            row += 1


def _read_conll(src: SourceDef) -> Iterator[Row]:
    """Column files (CoNLL-2003, BIO char files): one token per line, blank line between sentences.
    Yields {tokens, <col2>, ...}: one list per column, named by `columns` (default tokens, tags)."""
    sep = src.options.get("separator")
    doc_start = src.options.get("doc_start", "-DOCSTART-")
    names = src.options.get("columns")
    row, start_line = 0, 1
    sentence: list[tuple[int, list[str]]] = []
    with open(_file(src), encoding=_enc(src)) as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                if sentence:
                    yield row, _columns(src, sentence, names, start_line)
                    row += 1
                sentence = []
                continue
            parts = line.split(sep) if sep else line.split()
            if parts[0] == doc_start:
                continue
            if not sentence:
                start_line = lineno
            sentence.append((lineno, parts))
        if sentence:
            yield row, _columns(src, sentence, names, start_line)


def _columns(src: SourceDef, sentence: list[tuple[int, list[str]]], names: list[str] | None, start: int) -> dict[str, Any]:
    width = len(sentence[0][1])
    middle = [f"col{i}" for i in range(1, width - 1)]
    names = list(names) if names else ["tokens", *middle, "tags"]
    for lineno, parts in sentence:
        if len(parts) != len(names):
            raise _fail(src, lineno, f"{len(parts)} columns but expected {len(names)}", "columns: " + ", ".join(names))
    return {name: [p[i] for _, p in sentence] for i, name in enumerate(names)} | {"line": start}


def _read_hf(src: SourceDef) -> Iterator[Row]:
    try:
        import datasets
    except ImportError:
        raise SourceError(f"source '{src.id}': Hugging Face datasets need `pip install datasets`") from None
    spec = src.dataset or {}
    try:
        ds = datasets.load_dataset(spec["name"], spec.get("config"), split=spec.get("split", "train"),
                                   revision=spec.get("revision"), streaming=True)
    except Exception as exc:  # datasets raises many types; all mean "not available here"
        raise SourceError(f"source '{src.id}': cannot load dataset '{spec.get('name')}': {exc}",
                          hint="datasets are read from the local Hugging Face cache; download it once with network access") from None
    yield from enumerate(ds)


_READERS: dict[str, Callable[[SourceDef], Iterator[Row]]] = {
    "jsonl": _read_jsonl, "json": _read_json, "squad": _read_squad, "parquet": _read_parquet,
    "csv": lambda s: _read_delimited(s, s.options.get("delimiter", ",")), "tsv": lambda s: _read_delimited(s, "\t"),
    "conll": _read_conll, "hf": _read_hf,
}
