"""Eval stage, prediction: where the answers to a split's instructions come from.

A ``Predictor`` maps records to prediction texts (None: no prediction). Two exist:

* ``FilePredictions`` reads JSON Lines made elsewhere (plain or compressed), one ``{"id", "prediction"}`` object
  per record;
* ``ChatPredictor`` asks any OpenAI-compatible server through humc's own LLM client (``humc.llm.client``):
  the same cache, concurrency limit and retries as the build's LLM steps, so a rerun replays answers.

An in-process backend (a local model) plugs in as one more class with ``name`` and ``predict``.
"""

from __future__ import annotations

import codecs
import contextlib
import itertools
import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Protocol

from humc.dataset.export import messages_of
from humc.errors import HumcError, Span, brief, type_name
from humc.limits import LIMIT_CODE, MAX_PREDICTION_BYTES
from humc.llm.client import TRUNCATED_REASON, LLMClient, LLMRequest, ModelConfig, open_cache
from humc.locks import cache_lock
from humc.sources import RepeatedKeyError, loads_unique
from humc.sources_readers import BINARY_MAGIC, DAMAGED_ARCHIVE, UTF16_BOMS, UTF32_BOMS, open_binary


class Predictor(Protocol):
    """Anything that answers instruction records: ``predict`` returns one text (or None) per record, in order."""

    name: str

    def predict(self, records: Sequence[Mapping[str, Any]]) -> list[str | None]: ...


_EXPECTED_FILE = "a UTF-8 JSON Lines file (may be gzip, bz2, xz or zstd-compressed), one {\"id\", \"prediction\"} " \
                 "object per line"
_EXPECTED_LINE = 'one JSON object per line: {"id": "<record id>", "prediction": "<model output>"}'
_TO_JSON_LINES = "write one object per line (JSON Lines), e.g. `jq -c '.[]' P.json > P.jsonl`"
_PANDAS_HINT = "write it as JSON Lines, e.g. with pandas: df[['id', 'prediction']].to_json('P.jsonl', orient='records', " \
               "lines=True, force_ascii=False)"
_UTF8_HINT = "save the file as UTF-8"
# what a predictions file may be instead of JSON Lines, by its first bytes (UTF-32's BOM before UTF-16's: it starts so)
_FOREIGN = (*((magic, f"{'a Parquet' if kind == 'parquet' else 'an Arrow'} file, not JSON Lines", _PANDAS_HINT)
              for magic, kind in BINARY_MAGIC),
            *((bom, "UTF-32 text, not UTF-8", _UTF8_HINT) for bom in UTF32_BOMS),
            *((bom, "UTF-16 text, not UTF-8", _UTF8_HINT) for bom in UTF16_BOMS))


def _rename_hint(obj: Mapping[str, Any], missing: list[str]) -> str:
    """How to rename the keys of a line that names the id or the answer otherwise (`output`, `record_id`)."""
    others = [key for key in obj if key not in ("id", "prediction")]
    if len(missing) == 1 and len(others) == 1 and len(others[0]) <= 40:
        path = "." + (others[0] if others[0].isidentifier() and others[0].isascii() else json.dumps(others[0]))
        renamed = "{id, prediction: " + path + "}" if missing == ["prediction"] else "{id: " + path + ", prediction}"
        return f"rename `{others[0]}` to `{missing[0]}` in every line, e.g. `jq -c '{renamed}' P.jsonl > fixed.jsonl`"
    return "`id` is the record's `id` column, `prediction` the model's raw answer; rename the keys that hold them"


class FilePredictions:
    """Predictions made elsewhere: JSON Lines of ``{"id": ..., "prediction": "..."}``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"file:{path.name}"
        self.by_id: dict[str, str | None] = {}
        try:  # gzip, bz2, xz or zstd as they come, read whole first: a damaged archive is that, whatever its lines say
            with open_binary(path) as f:
                lines = list(self._lines(f))
        except DAMAGED_ARCHIVE as exc:
            raise HumcError(f"cannot read predictions file {path}: {brief(exc)}", code="E6002",
                            expected=_EXPECTED_FILE) from None
        for n, raw in lines:
            line = self._decoded(n, raw)
            if line.strip():
                self._add(n, line)

    def _lines(self, f: IO[bytes]) -> Iterator[tuple[int, bytes]]:
        """The file's numbered lines (ending at "\n" only: JSON strings may hold U+2028), each read only up to the
        limit (a line of gigabytes is refused unread)."""
        for n in itertools.count(1):
            raw = f.readline(MAX_PREDICTION_BYTES + 1)
            if not raw:
                return
            if n == 1:
                self._check_kind(raw)
                raw = raw.removeprefix(codecs.BOM_UTF8)
            if len(raw) > MAX_PREDICTION_BYTES:
                raise HumcError(f"a line of the predictions file is over {MAX_PREDICTION_BYTES:,} bytes long",
                                Span(str(self.path), n, 1), code=LIMIT_CODE, expected=_EXPECTED_LINE,
                                hint="a prediction is one model answer: cut runaway output (max_tokens) before scoring")
            yield n, raw.removesuffix(b"\n")

    def _check_kind(self, first: bytes) -> None:
        """E6002 for a file that is no UTF-8 text at all (a Parquet table, UTF-16), named as what it is."""
        for magic, kind, hint in _FOREIGN:
            if first.startswith(magic):
                raise HumcError(f"the predictions file is {kind}", Span(str(self.path), 1, 1),
                                code="E6002", expected=_EXPECTED_FILE, hint=hint)

    def _decoded(self, n: int, raw: bytes) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:  # at its line and byte, as a source's undecodable byte is
            raise HumcError(f"the predictions file is not valid UTF-8 (byte {raw[exc.start:exc.start + 1]!r})",
                            Span(str(self.path), n, exc.start + 1), code="E6002", expected=_EXPECTED_FILE,
                            hint=_UTF8_HINT) from None

    def _add(self, n: int, line: str) -> None:
        where = Span(str(self.path), n, 1)
        obj = self._parsed(n, line)
        if isinstance(obj, list) and n == 1:
            raise HumcError("the predictions file holds a JSON array, not one prediction per line", where,
                            expected=_EXPECTED_LINE, hint=_TO_JSON_LINES, code="E6002")
        if not isinstance(obj, dict):
            raise HumcError(f"a prediction is a JSON object, not a JSON {type_name(obj)}", where, expected=_EXPECTED_LINE,
                            code="E6002")
        missing = [key for key in ("id", "prediction") if key not in obj]
        if missing:
            raise HumcError(f"a prediction needs the key{'s' if len(missing) > 1 else ''} "
                            + " and ".join(f"`{key}`" for key in missing) + ": this line has "
                            + (", ".join(f"`{key[:40]}`" for key in list(obj)[:8]) or "none"), where,
                            expected=_EXPECTED_LINE, hint=_rename_hint(obj, missing), code="E6002")
        pred, key = obj["prediction"], obj["id"]
        if pred is not None and not isinstance(pred, str):
            raise HumcError(f"`prediction` must be text (or null), not {type(pred).__name__}", where,
                            expected=_EXPECTED_LINE, hint="the prediction is the model's raw output; humc parses it",
                            code="E6002")
        if isinstance(key, bool) or not isinstance(key, (str, int)):  # an id written as a number still names its record
            raise HumcError(f"`id` must be a record id (text), not {type_name(key)}", where, expected=_EXPECTED_LINE,
                            hint="copy the `id` column of the split's records (`humc export` keeps it)", code="E6002")
        if str(key) in self.by_id:
            raise HumcError(f"record id {key} is predicted twice", where, expected="one line per record", code="E6002")
        self.by_id[str(key)] = pred

    def _parsed(self, n: int, line: str) -> Any:
        """The line's JSON value; E6002 at the line when it is none."""
        where = Span(str(self.path), n, 1)
        try:
            return loads_unique(line)
        except RepeatedKeyError as exc:  # json.loads would keep the last value without a word
            raise HumcError(f"a prediction names the key '{exc.key}' twice", Span(str(self.path), n, exc.column),
                            expected=_EXPECTED_LINE, code="E6002") from None
        except json.JSONDecodeError as exc:
            pretty = n == 1 and line.strip() in ("[", "{")  # the first line of an indented JSON document
            raise HumcError(f"invalid JSON in the predictions file: {exc.args[0]}", where, expected=_EXPECTED_LINE,
                            hint=f"the file is one indented JSON document: {_TO_JSON_LINES}" if pretty else None,
                            code="E6002") from None
        except RecursionError:  # thousands of nested brackets outside a string: json recurses once per level
            raise HumcError("a line of the predictions file is nested too deeply to read", where, expected=_EXPECTED_LINE,
                            hint="the prediction is the model's raw output, as one JSON string", code="E6002") from None
        except ValueError:  # an integer of more than 4300 digits (CPython's int() limit)
            raise HumcError("invalid JSON in the predictions file: a number over 4300 digits long", where,
                            expected=_EXPECTED_LINE, hint="the prediction is the model's raw output, as one JSON string",
                            code="E6002") from None

    def predict(self, records: Sequence[Mapping[str, Any]]) -> list[str | None]:
        return [self.by_id.get(str(r["id"])) for r in records]

    def unknown_ids(self, records: Sequence[Mapping[str, Any]]) -> list[str]:
        """Ids the file predicts that are not records of the split (a file made for another dataset)."""
        known = {str(r["id"]) for r in records}
        return sorted(set(self.by_id) - known)


class ChatPredictor:
    """A model behind an OpenAI-compatible endpoint; the instruction is the only (user) message."""

    def __init__(self, config: ModelConfig, cache_dir: Path | None) -> None:
        self.config = config
        self.name = f"model:{config.model}"
        self.cache_dir = cache_dir
        self.failures: Counter[str] = Counter()   # why calls gave no answer (the record scores 0)
        self.truncated = 0                         # answers cut off by max_tokens: scored as they are
        self.stats: dict[str, Any] = {}

    def predict(self, records: Sequence[Mapping[str, Any]]) -> list[str | None]:
        with contextlib.ExitStack() as stack:
            cache = None
            if self.cache_dir is not None:  # <cache>/llm: held shared, as builds hold it, so `cache clean` waits
                stack.enter_context(cache_lock(self.cache_dir.parent, command="humc eval"))
                cache = stack.enter_context(open_cache(self.cache_dir))
            client = LLMClient(self.config, cache)
            requests = [LLMRequest(messages_of(r)[:1]) for r in records]
            outcomes = client.run_outcomes(requests, keep_truncated=True)
        self.stats = client.stats.as_dict()
        for o in outcomes:
            if o.value is None and o.reason:
                self.failures[o.reason] += 1
            elif o.reason == TRUNCATED_REASON:  # the text the model wrote within its budget, as an in-process model's
                self.truncated += 1
        return [o.value for o in outcomes]
