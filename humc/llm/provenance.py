"""Who answered an LLM call: the provenance humc keeps for every answer that shapes data.

Stage: beside the client (``llm/``). In: a chat completion and the request body sent. Out: :class:`ServedBy`,
stored with the answer in the response cache, counted by :class:`humc.llm.client.LLMStats`, written into
build-node notes (``served_notes``) and read back from them for the card and the build warnings
(``answered_in``).

Decisions a reader would otherwise undo:

- **The server's word, not the recipe's.** ``model`` is the ``model`` field of the *response*; a recipe that
  asks for ``Qwen/Qwen2.5-7B-Instruct`` from a server that answers as ``smollm2`` is recorded as ``smollm2``.
  An answer whose answerer is not known (cached before humc kept provenance) is ``unknown``, never the
  recipe's model.
- **Nothing secret.** Only the reported model id, ``system_fingerprint``, the sampling parameters of the body
  (never messages, never headers) and the UTC day. No key, no URL.
- **Counters, not records, in build notes.** Node notes are integer counters summed over chunks (and stored
  beside every chunk, so resumed and Ray builds agree); provenance goes in as ``"llm answered by: <model>"``
  → answers, and the same for fingerprints and days. The day is part of the cached answer, so a rebuild
  from the cache writes the same notes and the same card.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

UNKNOWN_MODEL = "unknown"  # who answered, when nobody recorded it

ANSWERED_BY = "llm answered by: "       # node note prefix: reported model id -> answers
FINGERPRINT = "llm system fingerprint: "  # node note prefix: reported system_fingerprint -> answers
ANSWERED_ON = "llm answered on: "       # node note prefix: UTC day -> answers
# The other notes of a generate/judge node (build/llmsteps.py), read back for the summary and the card
# (dataset/cardinfo.py, ``llm_step_stats``):
ASKED_NOTE = "llm answers asked in form "  # + structured-output form ("text" for free text): records asked
VALID_NOTE = "llm valid answers"           # records whose answer passed the checks
SCORE_NOTE = "judge score "                # + 1..5: the judge's score histogram
GENERATED_NOTE = "generated"               # records whose answer the model wrote
EMPTY_NOTE = "generated empty answers"     # of those, answers that found nothing ([]): SmolLM2 answered 8 of 9 NER
#                                            sentences with [], which the checks keep (an empty answer is valid)

# Request-body keys that are not sampling parameters (so not listed as "parameters sent").
_NOT_SAMPLING = frozenset({"model", "messages", "response_format", "tools", "tool_choice", "stream", "user",
                           "service_tier", "timeout", "extra_headers", "extra_body"})


@dataclass(frozen=True)
class ServedBy:
    """Who answered one completion, as the server reported it: stored with the answer in the cache.

    ``model`` is the response's ``model`` field (``None`` when unknown); ``params`` the sampling parameters
    sent; ``date`` the UTC day the answer arrived (``2025-06-01``).
    """

    model: str | None
    system_fingerprint: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    date: str | None = None

    @property
    def model_label(self) -> str:
        return self.model or UNKNOWN_MODEL

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "system_fingerprint": self.system_fingerprint, "params": dict(self.params),
                "date": self.date}

    @classmethod
    def from_dict(cls, data: Any) -> ServedBy:
        """A cached provenance record; anything unreadable (or missing) is an unknown answerer."""
        if not isinstance(data, Mapping):
            return cls(None)
        params = data.get("params")
        return cls(_text(data.get("model")), _text(data.get("system_fingerprint")),
                   dict(params) if isinstance(params, Mapping) else {}, _text(data.get("date")))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def served_by(completion: Any, body: Mapping[str, Any]) -> ServedBy:
    """The provenance of a fresh completion: reported model and fingerprint, parameters sent, today's UTC day."""
    return ServedBy(_text(getattr(completion, "model", None)), _text(getattr(completion, "system_fingerprint", None)),
                    {k: v for k, v in body.items() if k not in _NOT_SAMPLING},
                    datetime.now(timezone.utc).date().isoformat())


def answering_model(served: ServedBy, asked: str, listed: tuple[str, ...] | None) -> ServedBy:
    """Who answered, when the server's word cannot be taken: a server that lists one model at ``/models`` and not the
    one asked for answers with the one it has, whatever the request names — and llama.cpp (llama-cpp-python 0.3.36
    and llama-server alike) then reports the *asked* id as the response's ``model`` (older llama-servers a fixed
    ``gpt-3.5-turbo``). The listed model answered."""
    if listed is None or len(listed) != 1 or asked in listed:
        return served
    return ServedBy(listed[0], served.system_fingerprint, dict(served.params), served.date)


# ----------------------------------------------------------------------------- node notes


def served_notes(before: Mapping[str, Any], after: Mapping[str, Any]) -> Counter[str]:
    """Node notes for the answers handed out between two ``LLMStats.as_dict()`` snapshots."""
    notes: Counter[str] = Counter()
    for stat, prefix in (("answered_by", ANSWERED_BY), ("fingerprints", FINGERPRINT), ("dates", ANSWERED_ON)):
        old = before.get(stat, {})
        for key, n in after.get(stat, {}).items():
            if n - old.get(key, 0):
                notes[prefix + key] += n - old.get(key, 0)
    return notes


@dataclass
class Answered:
    """Who answered a node's calls, read back from its notes: id -> answers, for models, fingerprints and days."""

    models: dict[str, int] = field(default_factory=dict)
    fingerprints: dict[str, int] = field(default_factory=dict)
    dates: dict[str, int] = field(default_factory=dict)

    def add(self, other: Answered) -> None:
        for mine, theirs in ((self.models, other.models), (self.fingerprints, other.fingerprints),
                             (self.dates, other.dates)):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n

    @property
    def date_range(self) -> str:
        """``2025-06-01`` or ``2025-06-01 to 2025-06-03``; empty when no day is known."""
        days = sorted(self.dates)
        if not days:
            return ""
        return days[0] if days[0] == days[-1] else f"{days[0]} to {days[-1]}"


def answered_in(notes: Mapping[str, Any]) -> Answered:
    """The provenance counters in one node's notes."""
    out = Answered()
    for key, n in notes.items():
        for prefix, into in ((ANSWERED_BY, out.models), (FINGERPRINT, out.fingerprints), (ANSWERED_ON, out.dates)):
            if key.startswith(prefix) and n:
                into[key[len(prefix):]] = into.get(key[len(prefix):], 0) + int(n)
    return out
