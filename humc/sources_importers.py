"""Importers of unified IE instruction corpora: IEPile (zjunlp/IEPile) and InstructUIE's IE_INSTRUCTIONS
(BeyonderXX/InstructUIE). Each turns a whole corpus — many datasets, NER, RE and EE mixed — into humc records
in one pass, so one recipe builds them all.

Stage: read (below ``humc.sources``, which dispatches here as the formats ``iepile`` and ``instructuie``).

Every record has the same keys whatever its task: ``dataset`` (IEPile's `source`, InstructUIE's folder name),
``task`` (ner, re or ee), ``text``, ``labels`` (the schema the corpus shows with the record: gold and negative
types), ``entities`` [{type, span}], ``relations`` [{head, relation, tail}] and ``events``
[{event_type, trigger, role, argument}] in the columns of humc's tasks (the two that do not apply are []),
and ``instruction`` (the corpus's own instruction text). ``group_by_dataset`` groups records by dataset for
callers that want one build per dataset. Decisions:

- IEPile keeps its instruction and output as JSON *strings*; they are decoded here, and a string that does not
  decode is an error at its line. IEPile's "NAN" (an absent argument) is no argument.
- EET/EEA (IEPile's trigger-only and argument-only event tasks) are read as ee: EET gives rows with empty
  role/argument, EEA gives the rows of its one event type.
- RE triples are {subject, object} in the published corpus and {head, tail} in what IEPile's own converter
  (ie2instruction) writes for its RE task: both are read. SPO ({subject, object} under typed predicates) and KG
  (entity type -> entity -> {attribute: value or [values]}) are read as re: one row per (entity, attribute, value).
- InstructUIE's labels.json (a list of names, or EE's list of {event_type, role_list} / mapping) becomes
  ``labels``; its `pos` offsets are not needed (spans are copied from the sentence). An entity, relation or event
  of type "NA" or "" is left out, as InstructUIE's own loader (src/uie_dataset.py) does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from humc.errors import SourceError, Span
from humc.ir import SourceDef

TASKS = {"NER": "ner", "RE": "re", "EE": "ee", "EET": "ee", "EEA": "ee", "SPO": "re", "KG": "re"}
_SCHEMA_NAMES = ("event_type", "predicate", "entity_type")  # the name of a schema object (EE, SPO, KG)
ABSENT = ("NAN", "", None)
UIE_NO_TYPE = ("NA", "")  # InstructUIE's "no type": left out like its own loader does


def _fail(src: SourceDef, path: Path, line: int, message: str, expected: str | None = None) -> SourceError:
    return SourceError(f"source '{src.id}': {message}", Span(str(path), line, 1), expected=expected, code="E4001")


def _record(dataset: str, task: str, text: str, labels: list[str], instruction: str = "") -> dict[str, Any]:
    return {"dataset": dataset, "task": task, "text": text, "labels": labels, "entities": [], "relations": [],
            "events": [], "instruction": instruction}


# ------------------------------------------------------------------ IEPile


def read_iepile(src: SourceDef) -> Iterator[tuple[int, dict[str, Any], int]]:
    """IEPile JSON Lines: {task, source, instruction: "<JSON {instruction, schema, input}>", output: "<JSON>"}."""
    path = Path(src.path)  # type: ignore[arg-type]
    row = 0
    with open(path, encoding=str(src.options.get("encoding", "utf-8-sig"))) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            yield row, iepile_record(src, path, lineno, line), lineno
            row += 1


def _json(src: SourceDef, path: Path, lineno: int, text: Any, what: str) -> Any:
    if not isinstance(text, str):
        return text  # already decoded (a copy re-saved with objects instead of strings)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(src, path, lineno, f"{what} is not JSON: {exc.msg}", "a JSON string") from None
    except RecursionError:
        raise _fail(src, path, lineno, f"{what} is nested too deeply to read", "JSON nested a few levels") from None
    except ValueError as exc:  # an integer of more than 4300 digits (CPython's int() limit)
        raise _fail(src, path, lineno, f"{what} holds a number too long to read ({exc.args[0].split(';')[0]})",
                    "numbers of at most 4300 digits") from None


def iepile_record(src: SourceDef, path: Path, lineno: int, line: str) -> dict[str, Any]:
    raw = _json(src, path, lineno, line, "the line")
    if not isinstance(raw, dict) or not {"task", "instruction"} <= set(raw):
        raise _fail(src, path, lineno, "not an IEPile record", "{task, source, instruction, output}")
    task = TASKS.get(str(raw["task"]).upper())
    if task is None:
        raise _fail(src, path, lineno, f"unknown IEPile task {raw['task']!r}", "one of: " + ", ".join(TASKS))
    inst = _json(src, path, lineno, raw["instruction"], "`instruction`")
    if not isinstance(inst, dict) or "input" not in inst:
        raise _fail(src, path, lineno, "`instruction` holds no `input`", '{"instruction", "schema", "input"}')
    schema = inst.get("schema") or []
    labels = [_schema_name(s) for s in schema]
    record = _record(str(raw.get("source", "")), task, str(inst["input"]), labels, str(inst.get("instruction", "")))
    output = _json(src, path, lineno, raw.get("output") or "{}", "`output`")
    if not isinstance(output, dict):
        raise _fail(src, path, lineno, "`output` is not a JSON object", "an object keyed by schema label")
    key = {"ner": "entities", "re": "relations", "ee": "events"}[task]
    record[key] = (_iepile_kg if str(raw["task"]).upper() == "KG" else _IEPILE_ROWS[task])(output)
    return record


def _schema_name(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    return next((str(item[k]) for k in _SCHEMA_NAMES if k in item), "")


def _values(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [str(v) for v in items if v not in ABSENT]


def _iepile_entities(output: dict[str, Any]) -> list[dict[str, str]]:
    return [{"type": label, "span": span} for label, spans in output.items() for span in _values(spans)]


def _iepile_relations(output: dict[str, Any]) -> list[dict[str, str]]:
    return [{"head": str(t.get("subject", t.get("head", ""))), "relation": label,
             "tail": str(t.get("object", t.get("tail", "")))}
            for label, triples in output.items() for t in (triples or []) if isinstance(t, dict)]


def _iepile_kg(output: dict[str, Any]) -> list[dict[str, str]]:
    """KG: {entity type: {entity: {attribute: value or [values]}}} -> one row per (entity, attribute, value)."""
    return [{"head": str(entity), "relation": str(attribute), "tail": value}
            for entities in output.values() if isinstance(entities, dict)
            for entity, attributes in entities.items() if isinstance(attributes, dict)
            for attribute, values in attributes.items() for value in _values(values)]


def _iepile_events(output: dict[str, Any]) -> list[dict[str, str]]:
    rows = []
    for event_type, events in output.items():
        for ev in events or []:
            if not isinstance(ev, dict):  # EET: a bare trigger
                rows.append({"event_type": event_type, "trigger": str(ev), "role": "", "argument": ""})
                continue
            args = [(role, v) for role, value in (ev.get("arguments") or {}).items() for v in _values(value)]
            for role, value in args or [("", "")]:
                rows.append({"event_type": event_type, "trigger": str(ev.get("trigger", "")).strip(), "role": role,
                             "argument": value})
    return rows


_IEPILE_ROWS = {"ner": _iepile_entities, "re": _iepile_relations, "ee": _iepile_events}


# ------------------------------------------------------------------ InstructUIE


def read_instructuie(src: SourceDef) -> Iterator[tuple[int, dict[str, Any]]]:
    """IE_INSTRUCTIONS/<NER|RE|EE>/<dataset>/{labels.json, train.json, dev.json, test.json}: the path is one
    split file, one dataset folder, one task folder or the whole tree (every dataset's `split:` file)."""
    path = Path(src.path)  # type: ignore[arg-type]
    split = str(src.options.get("split", "train"))
    files = [path] if path.is_file() else sorted(path.glob(f"**/{split}.json"))
    if not files:
        raise _fail(src, path, 1, f"no {split}.json under this folder", "IE_INSTRUCTIONS/<task>/<dataset>/<split>.json")
    row = 0
    for file in files:
        task = _uie_task(src, file)
        labels = _uie_labels(src, file.parent / "labels.json")
        data = _load(src, file)
        if not isinstance(data, list):
            raise _fail(src, file, 1, "not a JSON list of sentences", '[{"sentence", "entities", ...}]')
        for item in data:
            yield row, _uie_record(file.parent.name, task, labels, item)
            row += 1


def _load(src: SourceDef, file: Path) -> Any:
    data = file.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:  # located in this file of the folder, not in the folder
        before = data[:exc.start]
        line, column = before.count(b"\n") + 1, exc.start - (before.rfind(b"\n") + 1) + 1
        raise SourceError(f"source '{src.id}': byte {data[exc.start:exc.start + 1]!r} of {file.name} is not UTF-8",
                          Span(str(file), line, column), code="E4001", expected="UTF-8 text",
                          hint="save the file as UTF-8") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(src, file, exc.lineno, f"invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise _fail(src, file, 1, "a JSON value is nested too deeply to read") from None
    except ValueError as exc:  # an integer of more than 4300 digits (CPython's int() limit)
        raise _fail(src, file, 1, f"a JSON number is too long to read ({exc.args[0].split(';')[0]})") from None


def _uie_task(src: SourceDef, file: Path) -> str:
    for part in reversed(file.parts[:-1]):
        if part.upper() in ("NER", "RE", "EE", "EET", "EEA"):
            return TASKS[part.upper()]
    raise _fail(src, file, 1, "cannot tell the task: the file is not under a NER, RE or EE folder",
                "IE_INSTRUCTIONS/<NER|RE|EE>/<dataset>/<split>.json")


def _uie_labels(src: SourceDef, file: Path) -> list[str]:
    if not file.is_file():
        return []
    data = _load(src, file)
    if isinstance(data, dict):
        return [str(k) for k in data]
    if isinstance(data, list) and data and isinstance(data[0], list):
        # EE: [[event types], [argument roles]] (src/uie_dataset.py: "Event type: {labels[0]}, Arguments type:
        # {labels[1]}"): the event types
        return [str(d) for d in data[0]]
    return [str(d.get("event_type", d.get("type", ""))) if isinstance(d, dict) else str(d) for d in data]


def _typed(items: Any) -> list[dict[str, Any]]:
    """The entities, relations or events that have a type: InstructUIE's loader skips type "NA" or "" (a negative
    pair of an RE dataset, an untyped mention), and so does this reader."""
    return [x for x in items or [] if isinstance(x, dict) and str(x.get("type", "")) not in UIE_NO_TYPE]


def _uie_record(dataset: str, task: str, labels: list[str], item: dict[str, Any]) -> dict[str, Any]:
    record = _record(dataset, task, str(item.get("sentence", "")), [x for x in labels if x not in UIE_NO_TYPE])
    if task == "ner":
        record["entities"] = [{"type": str(e.get("type", "")), "span": str(e.get("name", ""))}
                              for e in _typed(item.get("entities"))]
    elif task == "re":
        record["relations"] = [{"head": str(r["head"].get("name", "")), "relation": str(r.get("type", "")),
                                "tail": str(r["tail"].get("name", ""))} for r in _typed(item.get("relations"))]
    else:
        for ev in _typed(item.get("events")):
            args = ev.get("arguments") or [{"role": "", "name": ""}]
            record["events"] += [{"event_type": str(ev.get("type", "")), "trigger": str(ev.get("trigger", "")),
                                  "role": str(a.get("role", "")), "argument": str(a.get("name", ""))} for a in args]
    return record


def group_by_dataset(records: Iterator[tuple[Any, ...]]) -> dict[str, list[dict[str, Any]]]:
    """Imported records grouped by their dataset (IEPile's `source`), in order of first appearance."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in records:
        groups.setdefault(row[1]["dataset"], []).append(row[1])
    return groups
