"""Plan stage: the recipe IR -> an execution graph (a DAG of typed, content-addressed nodes).

Per task entry:  load -> map -> filter -> sample -> labels -> render -> check [-> ratio]
Then, corpus-wide: merge -> dedup [-> decontaminate] [-> mixture] -> split -> write
A node's fingerprint hashes its kind, its own configuration, the fingerprints of its
inputs, the digests of the stdlib assets it uses and humc's FORMAT_VERSION, so changing
one guideline changes only the fingerprints of the render nodes that use it (and what
follows them).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from humc import FORMAT_VERSION
from humc.build.recordname import bare_rows
from humc.ir import LLMStep, Recipe, TaskEntry
from humc.sources import source_digest


@dataclass(frozen=True)
class PlanNode:
    id: str                      # readable and unique, e.g. "squad/render"
    kind: str                    # load | map | filter | sample | labels | render | check | merge | dedup | split | write
    inputs: tuple[str, ...]
    config: dict[str, Any]       # what the node does, as canonical JSON-able data
    fingerprint: str
    entry: str | None = None     # the task entry this node belongs to (None: corpus-wide)


@dataclass
class Plan:
    recipe: Recipe
    nodes: list[PlanNode] = field(default_factory=list)  # topological order

    def node(self, node_id: str) -> PlanNode:
        return next(n for n in self.nodes if n.id == node_id)

    @property
    def fingerprint(self) -> str:
        return self.nodes[-1].fingerprint


def fingerprint(kind: str, config: Any, inputs: list[str]) -> str:
    payload = json.dumps({"v": FORMAT_VERSION, "kind": kind, "config": config, "inputs": inputs},
                         sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


class _Builder:
    def __init__(self, recipe: Recipe) -> None:
        self.plan = Plan(recipe)
        self.by_id: dict[str, PlanNode] = {}

    def add(self, node_id: str, kind: str, inputs: list[str], config: dict[str, Any], entry: str | None = None) -> str:
        fp = fingerprint(kind, config, [self.by_id[i].fingerprint for i in inputs])
        node = PlanNode(node_id, kind, tuple(inputs), config, fp, entry)
        self.plan.nodes.append(node)
        self.by_id[node_id] = node
        return node_id


def build_plan(recipe: Recipe) -> Plan:
    b = _Builder(recipe)
    loads: dict[str, str] = {}
    for sid, src in recipe.sources.items():
        if any(e.source == sid for e in recipe.tasks):
            loads[sid] = b.add(f"source:{sid}/load", "load", [],
                               {"source": sid, "format": src.format, "options": src.options, "digest": source_digest(src)})
    checks = [_entry_nodes(b, recipe, entry, loads[entry.source]) for entry in recipe.tasks]
    merged = b.add("corpus/merge", "merge", checks, {})
    clean = b.add("corpus/dedup", "dedup", [merged], {"enabled": recipe.output.dedup})
    decon = recipe.output.decontaminate
    if decon is not None:
        clean = b.add("corpus/decontaminate", "decontaminate", [clean], {
            "ngram": decon.ngram, "against": [[s.path and s.path.name, source_digest(s)] for s in decon.against]})
    mixture = recipe.output.mixture
    if mixture is not None:
        clean = b.add("corpus/mixture", "mixture", [clean], {
            "weights": mixture.weights, "caps": mixture.caps, "seed": mixture.seed})
    split_config: dict[str, Any] = {"splits": recipe.output.splits, "seed": recipe.output.seed}
    if recipe.output.held_out is not None:
        split_config["held_out"] = recipe.output.held_out.config()
    split = b.add("corpus/split", "split", [clean], split_config)
    # the output folder is not part of the fingerprint: the same data written elsewhere is the same dataset
    b.add("corpus/write", "write", [split], {
        "shard_rows": recipe.output.shard_rows, "recipe": recipe.text,
        **({"published": [o.card_row() for o in recipe.published]} if recipe.published else {}),  # the card lists them
        "publish": None if recipe.publish is None else {"card": _card_config(recipe.publish.card),
                                                         "repo": recipe.publish.repo},
    })
    return b.plan


def _card_config(card: dict[str, Any]) -> dict[str, Any]:
    """The card settings by content: a card template counts by its text, not by where it lives."""
    out = dict(card)
    if card.get("template"):
        out["template"] = hashlib.sha256(Path(card["template"]).read_bytes()).hexdigest()
    return out


def _entry_nodes(b: _Builder, recipe: Recipe, entry: TaskEntry, load: str) -> str:
    e = entry.id
    prev = b.add(f"{e}/map", "map", [load], {
        "fields": [(k, c.text) for k, c in entry.fields], "constants": recipe.constants,
        # a bare `record` is checked against a `record` column since then: its map computed before is not reused
        **({"record_column": 1} if bare_rows(entry) else {})}, e)
    if entry.where is not None:
        prev = b.add(f"{e}/filter", "filter", [prev], {"where": entry.where.text, "constants": recipe.constants}, e)
    if entry.sample is not None:
        prev = b.add(f"{e}/sample", "sample", [prev], {"n": entry.sample.n, "seed": entry.sample.seed}, e)
    if entry.generate is not None:
        prev = b.add(f"{e}/generate", "generate", [prev], _llm_config(recipe, entry, entry.generate), e)
    inputs = [prev]
    if entry.task.schema_column is not None:
        labels = b.add(f"{e}/labels", "labels", [prev], {
            "column": entry.task.schema_column, "answer_field": entry.task.answer_field,
            "fixed": None if entry.schema is None else entry.schema.labels, "task": entry.task.digest,
            # each event type's roles in the gold too (the `roles` an instruction names where `schema: {roles}` has none)
            **({"roles": 1} if entry.task.labels_have_roles else {})}, e)
        inputs.append(labels)
    render = b.add(f"{e}/render", "render", inputs, _render_config(recipe, entry), e)
    check = b.add(f"{e}/check", "check", [render], {"variants": [(v.id, v.digest) for v in entry.variants]}, e)
    if entry.schema is not None and entry.schema.negative_ratio is not None:
        check = b.add(f"{e}/ratio", "ratio", [check], {"ratio": entry.schema.negative_ratio, "seed": entry.seed}, e)
    if entry.judge is not None:
        return b.add(f"{e}/judge", "judge", [check], _llm_config(recipe, entry, entry.judge), e)
    return check


def _llm_config(recipe: Recipe, entry: TaskEntry, step: LLMStep) -> dict[str, Any]:
    from humc.build.llmsteps import asks_label, fixed_labels, is_structured, step_config

    # the prompt names the entry's labels and language, and the answers are checked against both
    config = {**step_config(step, recipe.models[step.model]), "task": [entry.task.id, entry.task.digest],
              "guidelines": [(g.id, g.digest) for g in entry.guidelines], "labels": list(fixed_labels(entry) or ()),
              "language": entry.language,
              # how answers are checked: 1, a dropped record's note names why its answer stayed invalid ("invalid output
              # (…)"); 2, a generated label set keeps each label once, a verdict whose reason is the prompt's placeholder
              # is invalid ("reason copies the placeholder")
              "invalid_kinds": 2}
    if entry.event_roles:
        config["roles"] = [[event_type, list(roles)] for event_type, roles in entry.event_roles]
    if asks_label(step, entry):
        config["label_choice"] = 1
    elif step.kind == "generate" and entry.task.spans_from and not is_structured(entry):
        config["span_check"] = 1  # a free-text answer not copied from its input is dropped at the step
    return config  # the others' fingerprints as they were


def _render_config(recipe: Recipe, entry: TaskEntry) -> dict[str, Any]:
    return {
        "recipe": recipe.name, "entry": entry.id, "task": [entry.task.id, entry.task.digest], "language": entry.language,
        "templates": [(t.id, t.digest) for t in entry.templates],
        "guidelines": [(g.id, g.digest) for g in entry.guidelines],
        "rules": [(r.id, r.digest) for r in entry.rules],
        "variants": [(v.id, v.digest, repr(v.spec)) for v in entry.variants],
        "variants_per_record": entry.variants_per_record, "seed": entry.seed,
        "schema": None if entry.schema is None else entry.schema.config(),
        "constants": recipe.constants,
        **({} if entry.mix.is_default else {"mix": [entry.mix.compound, entry.mix.guidelines, entry.mix.rules,
                                                     entry.mix.formats]}),
        **({} if entry.split_by is None else {"split_by": entry.split_by.text}),
        **({"roles": [[t, list(r)] for t, r in entry.event_roles]} if entry.event_roles else {}),
    }
