"""Structured outputs: which `response_format` an endpoint gets, and detecting what it accepts.

Every LLM step knows the JSON Schema of the answer it wants (the task's answer table, a verdict,
a synth proposal). How that schema is sent depends on the server, and servers disagree:

| form (resolved mode)  | `response_format` sent                                                   | servers |
|-----------------------|--------------------------------------------------------------------------|---------|
| `json_schema`         | `{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}`   | OpenAI, vLLM, SGLang, Ollama (/v1) |
| `json_object+schema`  | `{"type": "json_object", "schema": …}`                                   | llama.cpp (llama-cpp-python) |
| `json_object`         | `{"type": "json_object"}` (JSON, but no schema)                          | older servers |
| `off`                 | nothing                                                                  | anything |

A model's `structured_output` option is `auto | json_schema | json_object | off`. `auto` probes the
endpoint with one tiny request per form, best first, and keeps the first form the server accepts
*and* honours (the probe answer must be the JSON the probe schema asks for); a rejection (HTTP
400/422, or the 500 llama-cpp-python answers to an unknown `type`) moves on to the next form. A
forced form is probed too, so a server that rejects it stops the build before any record with E4303.
The answer is stored in the LLM cache folder under the endpoint and model (``probe_key``), so a
build probes at most once per endpoint and model, and a warm rebuild sends nothing at all.

Decisions a reader would otherwise undo:

* The resolved form is not part of the cache key by name: it changes the `response_format` of
  every request, which is. The key holds no URL; the probe record is keyed on the URL (without
  credentials) because the answer is about that server, and it holds no answer text.
* The answer is validated by the same checks whatever the form: constrained decoding is a help,
  not a guarantee (servers differ in the schema features they enforce).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

MODES = ("auto", "json_schema", "json_object", "off")
"""Values of a model's `structured_output` option."""

RESOLVED = ("json_schema", "json_object+schema", "json_object", "off")
"""What a mode resolves to for one endpoint, best first (the order `auto` probes in)."""

# what a forced option may resolve to, best first
CANDIDATES: dict[str, tuple[str, ...]] = {"auto": RESOLVED[:3], "json_schema": ("json_schema",),
                                          "json_object": ("json_object+schema", "json_object")}

PROBE_VERSION = "probe-v1"
PROBE_PROMPT = 'Reply with the JSON object {"ok": true} and nothing else.'
PROBE_SCHEMA: dict[str, Any] = {"type": "object", "properties": {"ok": {"type": "boolean"}},
                                "required": ["ok"], "additionalProperties": False}
# statuses by which a server says "not this response_format" (llama-cpp-python answers 500 to an unknown type)
REJECTED_STATUSES = frozenset({400, 415, 422, 500, 501})


def response_format(form: str, name: str, schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """The `response_format` of a request in resolved form ``form`` for an answer matching ``schema``.

    >>> response_format("json_object+schema", "verdict", {"type": "object"})
    {'type': 'json_object', 'schema': {'type': 'object'}}
    """
    if form == "off" or schema is None and form != "json_object":
        return None
    if form == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": _name(name), "schema": schema, "strict": True}}
    if form == "json_object+schema":
        return {"type": "json_object", "schema": schema}
    return {"type": "json_object"}


def _name(name: str) -> str:
    """OpenAI allows a-z, A-Z, 0-9, _ and - in a schema name, up to 64 characters."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "answer"


def probe_key(base_url: str, model: str, mode: str) -> str:
    """Where the probe result for an endpoint, model and requested mode is stored in the LLM cache."""
    digest = hashlib.sha256(json.dumps([base_url, model, mode]).encode("utf-8")).hexdigest()
    return f"{PROBE_VERSION}:{digest}"


def probe_answer_ok(text: str | None) -> bool:
    """Whether a probe answer is the JSON the probe asked for (the server honoured the form)."""
    try:
        value = json.loads((text or "").strip())
    except (ValueError, RecursionError):  # not JSON, or nested deeper than json can read
        return False
    return isinstance(value, dict) and set(value) == {"ok"} and isinstance(value["ok"], bool)


# ----------------------------------------------------------------------------- schemas of humc's own answers


def strict_object(properties: dict[str, Any]) -> dict[str, Any]:
    """An object schema in the form OpenAI's strict mode accepts: every property required, no others."""
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


REASON_CHARS = 300
"""The longest reason a judge may write (about 75 tokens): the prompt asks for one short sentence, but a small model
copies the record into it until ``max_tokens`` cuts the verdict off before its score (SmolLM2-135M under a judge's
128 tokens); constrained decoding then closes the string in time (OpenAI strict mode, vLLM and llama.cpp honour it)."""

VERDICT_SCHEMA = strict_object({"reason": {"type": "string", "maxLength": REASON_CHARS},
                                "score": {"type": "integer", "enum": [1, 2, 3, 4, 5]}})
"""A judge's verdict: the reason first, so the model reasons before it scores (constrained decoding keeps key order)."""


def answer_schema(columns: tuple[str, ...] | list[str], cardinality: str,
                  enums: Mapping[str, Sequence[str]] | None = None, spans: Sequence[str] = ()) -> dict[str, Any]:
    """The JSON answer of a task with these answer columns: one object, or ``{"answers": [objects]}`` (a schema's
    root must be an object for OpenAI, so a list of rows is wrapped; the step unwraps it). ``enums`` names the
    values a column may take (an entry's fixed `labels:`), ``spans`` the columns copied from the input (never
    empty): constrained decoding then writes only those labels, and no entity without its text."""
    enums = enums or {}
    row = strict_object({c: {"type": "string", "enum": list(enums[c])} if enums.get(c) else
                         {"type": "string", "minLength": 1} if c in spans else {"type": "string"} for c in columns})
    if cardinality == "one":
        return row
    return strict_object({"answers": {"type": "array", "items": row}})



_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "object": dict, "array": list, "string": str, "integer": int, "number": (int, float), "boolean": bool}


def conforms(value: Any, schema: dict[str, Any]) -> bool:
    """Whether ``value`` matches ``schema``, for the keywords humc's answer schemas use (type, enum, properties,
    required, additionalProperties: false, items, min/maxItems, min/maxLength, anyOf) — the measure of a
    well-formed answer, independent of the checks that judge its content.

    >>> conforms({"score": 4}, strict_object({"score": {"type": "integer", "enum": [1, 2, 3, 4, 5]}}))
    True
    >>> conforms({"score": "4"}, strict_object({"score": {"type": "integer"}}))
    False
    """
    if "anyOf" in schema:
        return any(conforms(value, option) for option in schema["anyOf"])
    kind = schema.get("type")
    if kind is not None and (not isinstance(value, _JSON_TYPES[kind]) or kind != "boolean" and isinstance(value, bool)):
        return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    if isinstance(value, str):
        return int(schema.get("minLength", 0)) <= len(value) <= int(schema.get("maxLength", len(value)))
    if isinstance(value, list):
        return (int(schema.get("minItems", 0)) <= len(value) <= int(schema.get("maxItems", len(value)))
                and all(conforms(item, schema.get("items", {})) for item in value))
    if isinstance(value, dict):
        props = schema.get("properties", {})
        if any(key not in value for key in schema.get("required", ())):
            return False
        if schema.get("additionalProperties") is False and any(key not in props for key in value):
            return False
        return all(conforms(item, props.get(key, {})) for key, item in value.items())
    return True
