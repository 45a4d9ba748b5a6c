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
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from humc.dataset.export import messages_of
from humc.errors import HumcError, Span, brief
from humc.llm.client import TRUNCATED_REASON, LLMClient, LLMRequest, ModelConfig, open_cache
from humc.locks import cache_lock
from humc.sources import RepeatedKeyError, loads_unique
from humc.sources_readers import DAMAGED_ARCHIVE, open_binary


class Predictor(Protocol):
    """Anything that answers instruction records: ``predict`` returns one text (or None) per record, in order."""

    name: str

    def predict(self, records: Sequence[Mapping[str, Any]]) -> list[str | None]: ...


class FilePredictions:
    """Predictions made elsewhere: JSON Lines of ``{"id": ..., "prediction": "..."}``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"file:{path.name}"
        self.by_id: dict[str, str | None] = {}
        expected = "a UTF-8 JSON Lines file (may be gzip, bz2, xz or zstd-compressed), one {\"id\", \"prediction\"} " \
                   "object per line"
        try:  # gzip, bz2, xz or zstd as they come; lines end at "\n" only (JSON strings may hold U+2028)
            with open_binary(path) as f:
                lines = f.read().removeprefix(codecs.BOM_UTF8).split(b"\n")
        except DAMAGED_ARCHIVE as exc:
            raise HumcError(f"cannot read predictions file {path}: {brief(exc)}", code="E6002",
                            expected=expected) from None
        for n, raw in enumerate(lines, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:  # at its line and byte, as a source's undecodable byte is
                raise HumcError(f"the predictions file is not valid UTF-8 (byte {raw[exc.start:exc.start + 1]!r})",
                                Span(str(path), n, exc.start + 1), code="E6002", expected=expected,
                                hint="save the file as UTF-8") from None
            if line.strip():
                self._add(n, line)

    def _add(self, n: int, line: str) -> None:
        where = Span(str(self.path), n, 1)
        expected = 'one JSON object per line: {"id": "<record id>", "prediction": "<model output>"}'
        try:
            obj = loads_unique(line)
        except RepeatedKeyError as exc:  # json.loads would keep the last value without a word
            raise HumcError(f"a prediction names the key '{exc.key}' twice", Span(str(self.path), n, exc.column),
                            expected=expected, code="E6002") from None
        except json.JSONDecodeError as exc:
            raise HumcError(f"invalid JSON in the predictions file: {exc.args[0]}", where, expected=expected,
                            code="E6002") from None
        except RecursionError:  # thousands of nested brackets outside a string: json recurses once per level
            raise HumcError("a line of the predictions file is nested too deeply to read", where, expected=expected,
                            hint="the prediction is the model's raw output, as one JSON string", code="E6002") from None
        except ValueError:  # an integer of more than 4300 digits (CPython's int() limit)
            raise HumcError("invalid JSON in the predictions file: a number over 4300 digits long", where,
                            expected=expected, hint="the prediction is the model's raw output, as one JSON string",
                            code="E6002") from None
        if not isinstance(obj, dict) or "id" not in obj or "prediction" not in obj:
            raise HumcError("a prediction needs the keys `id` and `prediction`", where, expected=expected, code="E6002")
        pred = obj["prediction"]
        if pred is not None and not isinstance(pred, str):
            raise HumcError(f"`prediction` must be text (or null), not {type(pred).__name__}", where, expected=expected,
                            hint="the prediction is the model's raw output; humc parses it", code="E6002")
        key = str(obj["id"])
        if key in self.by_id:
            raise HumcError(f"record id {key} is predicted twice", where, expected="one line per record", code="E6002")
        self.by_id[key] = pred

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
