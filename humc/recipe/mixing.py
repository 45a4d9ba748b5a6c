"""Validate stage, corpus design keys: `mix:` (basic vs compound instructions), `schema: {negative_ratio}`,
`output: {held_out, mixture}` and `ablations:` -> their IR values (``ir.Mix``, ``ir.HeldOut``, ``ir.Mixture``).

Decisions: probabilities are numbers in [0, 1]; a ratio is the string "p:q"; mixture dimensions are
``ir.MIXTURE_DIMENSIONS``; held-out names and the values mixture weights and caps name are checked against what
the task entries use, so a typo cannot silently hold out, weigh or cap nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from humc.errors import RecipeError, did_you_mean
from humc.ir import ABLATIONS, MIXTURE_DIMENSIONS, HeldOut, Mix, Mixture, Output, TaskEntry
from humc.recipe.nodes import check_keys, expect_kind, string_list
from humc.recipe.yamlsrc import Node

MIX_KEYS = ["compound", "guidelines", "rules", "formats"]
HELD_OUT_KEYS = ["templates", "formats", "labels", "tasks", "split", "inputs"]
HELD_OUT_INPUTS = ("shared", "unseen")
MIXTURE_KEYS = ["weights", "caps"]


def parse_mix(node: Node | None, what: str, default: Mix) -> Mix:
    """`mix: {compound, guidelines, rules, formats}`: each a probability; an absent key keeps ``default``'s."""
    if node is None:
        return default
    check_keys(node, MIX_KEYS, f"'mix' of {what}")
    values = {k: getattr(default, k) for k in MIX_KEYS}
    for key, child in node.value.items():
        values[key] = _probability(child, f"'{key}' in 'mix' of {what}")
    return Mix(**values)


def _probability(node: Node, what: str) -> float:
    expect_kind(node, "number", what=what)
    value = float(node.value)
    if isinstance(node.value, bool) or not 0.0 <= value <= 1.0:
        raise RecipeError(f"{what} must be a probability between 0 and 1", node.span,
                          expected="a number from 0 to 1, e.g. 0.45", code="E0008")
    return value


def parse_ratio(node: Node | None) -> tuple[int, int] | None:
    """`negative_ratio: "1:2"`: positive : all-negative instructions (p >= 1, q >= 0)."""
    if node is None:
        return None
    text = str(node.value).strip()
    p, sep, q = text.partition(":")
    if node.kind != "string" or not sep or not p.strip().isdigit() or not q.strip().isdigit() or int(p) < 1:
        raise RecipeError(f"'negative_ratio' must be \"positive:negative\", not {text!r}", node.span,
                          expected='e.g. "1:2" (two all-negative instructions per positive one)', code="E0008")
    return int(p), int(q)


def parse_held_out(node: Node | None, splits: Sequence[tuple[str, float]]) -> HeldOut | None:
    """`held_out: {templates, formats, labels, tasks, split: test}`: instructions using any of these go to `split`."""
    if node is None:
        return None
    check_keys(node, HELD_OUT_KEYS, "'held_out' of output")
    lists = {k: tuple(t for t, _ in string_list(node.get(k), f"'{k}' of held_out")) for k in HELD_OUT_KEYS[:4]}
    split_node = node.get("split")
    split = "test"
    if split_node is not None:
        expect_kind(split_node, "string", what="'split' of held_out")
        split = str(split_node.value)
    names = [name for name, _ in splits]
    if split not in names:
        raise RecipeError(f"held-out split '{split}' is not among the output splits", (split_node or node).span,
                          expected="one of: " + ", ".join(names), hint=did_you_mean(split, names)
                          or f"add it to `splits:`, e.g. splits: {{train: 0.9, {split}: 0.1}}", code="E0008")
    unseen = _held_out_inputs(node.get("inputs")) == "unseen"
    if not any(lists.values()):  # `held_out: {inputs: unseen}` alone holds nothing out (rows never share splits)
        raise RecipeError("held_out names nothing to hold out", node.span, code="E0008",
                          expected="at least one of " + ", ".join(HELD_OUT_KEYS[:4]) + ", e.g. held_out: "
                                   "{formats: [natural], inputs: unseen}",
                          hint="`inputs:` and `split:` say where the instructions using those go; a source row's "
                               "instructions already share one split without held_out")
    return HeldOut(split=split, unseen_inputs=unseen, **lists)


def _held_out_inputs(node: Node | None) -> str:
    """`inputs: unseen` (the default: only rows of the held-out split give held-out instructions, so no input is in
    two splits) or `inputs: shared` (a held-out instruction goes to the held-out split whatever its row's split)."""
    if node is None:
        return "unseen"
    if node.kind != "string" or node.value not in HELD_OUT_INPUTS:
        raise RecipeError(f"'inputs' of held_out must be shared or unseen, not {node.value!r}", node.span,
                          expected="shared | unseen", hint=did_you_mean(str(node.value), HELD_OUT_INPUTS),
                          code="E0008")
    return str(node.value)


def check_held_out(output: Output, tasks: Sequence[TaskEntry], node: Node) -> None:
    """Every held-out template, format and task names something a task entry uses; so does every held-out label
    when the entries' label sets are known before the build (no entry with a label schema collects its labels)."""
    held = output.held_out
    assert held is not None
    used = {
        "templates": {n for e in tasks for t in e.templates for n in (t.id, f"{t.task}/{t.id}")},
        "formats": {v.id for e in tasks for v in e.variants},
        "tasks": {n for e in tasks for n in (e.id, e.task.id)},
    }
    label_sets = [e.schema.labels for e in tasks if e.schema is not None]
    if all(labels is not None for labels in label_sets):
        used["labels"] = {label for labels in label_sets for label in labels or ()}
    for key, known in used.items():
        for name, item in string_list(node.get(key), f"'{key}' of held_out"):
            if name not in known and not known:  # no entry shows labels (MRC, generation): nothing to hold out
                raise RecipeError(f"held-out {key[:-1]} '{name}' is used by no task entry", item.span, code="E0008",
                                  expected=f"no held-out {key}: no task entry has any",
                                  hint="held-out labels are labels of entries with a label set (`labels:`, a catalog's)"
                                  if key == "labels" else None)
            if name not in known:
                raise RecipeError(f"held-out {key[:-1]} '{name}' is used by no task entry", item.span, code="E0008",
                                  expected="one of: " + ", ".join(sorted(known)), hint=did_you_mean(name, sorted(known)))


def check_mixture(tasks: Sequence[TaskEntry], node: Node) -> None:
    """Every value a mixture weight or cap names is one the task entries give records (a typo would weigh or cap
    nothing, silently)."""
    used = {"task": {e.task.id for e in tasks}, "entry": {e.id for e in tasks}, "source": {e.source for e in tasks},
            "language": {e.language for e in tasks}, "format": {v.id for e in tasks for v in e.variants}}
    for key in MIXTURE_KEYS:
        per_dimension = node.get(key)
        for dim, values in per_dimension.value.items() if per_dimension is not None else ():
            known = sorted(used[dim])
            for value in values.value:
                if _value_name(dim, value) not in used[dim]:
                    raise RecipeError(f"mixture {key} name {dim} '{value}', which no task entry has",
                                      values.key_spans[value], code="E0008", expected="one of: " + ", ".join(known),
                                      hint=did_you_mean(str(value), known))


def parse_mixture(node: Node | None, seed: int) -> Mixture | None:
    """`mixture: {weights: {DIM: {value: weight}}, caps: {DIM: {value: max records}}}`."""
    if node is None:
        return None
    check_keys(node, MIXTURE_KEYS, "'mixture' of output")
    weights = _per_dimension(node.get("weights"), "weights", number=True)
    caps = _per_dimension(node.get("caps"), "caps", number=False)
    return Mixture(weights=tuple((d, tuple((k, float(v)) for k, v in vs)) for d, vs in weights),
                   caps=tuple((d, tuple((k, int(v)) for k, v in vs)) for d, vs in caps), seed=seed)


def _per_dimension(node: Node | None, key: str, *, number: bool) -> list[tuple[str, list[tuple[str, float]]]]:
    if node is None:
        return []
    check_keys(node, MIXTURE_DIMENSIONS, f"'{key}' of mixture")
    out = []
    for dim, values in node.value.items():
        expect_kind(values, "mapping", what=f"'{dim}' of mixture {key}")
        row = []
        for value, amount in values.value.items():
            what = f"{key} of {dim} '{value}'"
            expect_kind(amount, "number" if number else "integer", what=what)
            if (isinstance(amount.value, bool) or not math.isfinite(amount.value) or amount.value < 0
                    or (number and amount.value == 0)):  # .nan and .inf are numbers to YAML, no weights
                raise RecipeError(f"{what} must be {'a finite number above 0' if number else 'a non-negative integer'}",
                                  amount.span,
                                  expected="a weight above 0" if number else "a record count >= 0", code="E0008")
            row.append((_value_name(dim, value), float(amount.value)))
        out.append((dim, row))
    return out


def _value_name(dim: str, value: Any) -> str:
    """A mixture value as records name it: a format as its variant id (`json | compact` -> `json|compact`)."""
    return str(value).replace(" ", "") if dim == "format" else str(value)


def parse_ablations(node: Node | None) -> tuple[str, ...]:
    """`ablations: [guidelines, rules, formats, templates]`: sibling datasets `humc build` also writes."""
    out = []
    for name, item in string_list(node, "ablations"):
        if name not in ABLATIONS:
            raise RecipeError(f"unknown ablation '{name}'", item.span, expected="any of: " + ", ".join(ABLATIONS),
                              hint=did_you_mean(name, ABLATIONS), code="E0008")
        out.append(name)
    return tuple(dict.fromkeys(out))
