"""Corpus design after rendering: the positive : all-negative ratio of an entry's instructions
(`schema: {negative_ratio}`), the corpus mixture (`output: {mixture}`: weights and caps per task,
entry, source, language and format), held-out instructions (`output: {held_out}`) and the realised
mixture the dataset card reports.

Selections are two passes over a stored stream: the first reads each record's keys and a seeded
rank, the second keeps the chosen indices, so the result is exact (not a sampled approximation)
and byte-identical on every rebuild. Within a group the records with the lowest
``stable_hash(seed, id)`` are kept.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from humc.build.transforms import stable_hash
from humc.ir import HeldOut, Mixture

REALISED = ("task", "entry", "source", "language", "format", "kind")  # the card's mixture tables


DIMENSION_KEYS = {"task": "task", "entry": "task_entry", "source": "source", "language": "language",
                  "format": "answer_format", "kind": "_kind"}
"""The record field each mixture dimension reads."""


def dimension_value(record: Mapping[str, Any], dim: str) -> str:
    """A record's value on a mixture dimension."""
    return str(record.get(DIMENSION_KEYS[dim]) or ("compound" if dim == "kind" else ""))


def is_negative(record: Mapping[str, Any]) -> bool:
    """An all-negative instruction: its gold answer has no row."""
    return not json.loads(record["gold"])


def ratio_keep(records: Iterable[Mapping[str, Any]], positive: int, negative: int, seed: int) -> tuple[set[int], int]:
    """Indices to keep so that all-negative : positive instructions is at most negative : positive
    (every positive kept; the lowest-ranked all-negative ones kept); also the number dropped."""
    pos, negs = 0, []
    for i, record in enumerate(records):
        if is_negative(record):
            negs.append((stable_hash("ratio", seed, record["id"]), i))
        else:
            pos += 1
    allowed = math.floor(pos * negative / positive + 0.5)
    kept_negs = {i for _, i in sorted(negs)[:allowed]}
    dropped = len(negs) - len(kept_negs)
    return kept_negs, dropped


def mixture_keep(records: Iterable[Mapping[str, Any]], mixture: Mixture) -> tuple[set[int], dict[str, int]]:
    """Indices to keep: per dimension, downsample the weighted values to their shares (values without a
    weight keep every record), then cap each capped value; plus the records dropped per step."""
    keys: list[tuple[int, dict[str, str]]] = []
    for record in records:
        keys.append((stable_hash("mixture", mixture.seed, record["id"]),
                     {d: dimension_value(record, d) for d in ("task", "entry", "source", "language", "format")}))
    alive = set(range(len(keys)))
    dropped: dict[str, int] = {}
    for dim, weights in mixture.weights:
        quota = _weighted_quota(Counter(keys[i][1][dim] for i in alive), dict(weights))
        alive, n = _apply_quota(keys, alive, dim, quota)
        dropped[f"mixture weights: {dim}"] = n
    for dim, caps in mixture.caps:
        alive, n = _apply_quota(keys, alive, dim, {v: int(c) for v, c in caps})
        dropped[f"mixture caps: {dim}"] = n
    return alive, dropped


def _weighted_quota(counts: Mapping[str, int], weights: Mapping[str, float]) -> dict[str, int]:
    """The largest per-value counts proportional to ``weights`` that the available records allow."""
    present = {v: w for v, w in weights.items() if counts.get(v, 0)}
    if not present:
        return {}
    total = sum(present.values())
    scale = min(counts[v] / (w / total) for v, w in present.items())  # the corpus size the scarcest value allows
    return {v: min(counts[v], math.floor(scale * w / total + 1e-9)) for v, w in present.items()}


def _apply_quota(keys: list[tuple[int, dict[str, str]]], alive: set[int], dim: str,
                 quota: Mapping[str, int]) -> tuple[set[int], int]:
    groups: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for i in alive:
        groups[keys[i][1][dim]].append((keys[i][0], i))
    kept: set[int] = set()
    for value, members in groups.items():
        limit = quota.get(value)
        chosen = members if limit is None else sorted(members)[:limit]
        kept.update(i for _, i in chosen)
    return kept, len(alive) - len(kept)


def held_out_match(held: HeldOut, record: Mapping[str, Any]) -> bool:
    """Whether an instruction uses a held-out template, format, label or task (it then goes to the test split)."""
    template = str(record.get("template", ""))
    return (template in held.templates or template.split("/")[-1] in held.templates
            or record.get("answer_format") in held.formats
            or record.get("task") in held.tasks or record.get("task_entry") in held.tasks
            or any(label in held.labels for label in record.get("labels") or ()))


class Realised:
    """Counts per split and mixture dimension, gathered while splitting (for the dataset card)."""

    def __init__(self) -> None:
        self.counts: dict[str, dict[str, Counter[str]]] = {d: defaultdict(Counter) for d in REALISED}

    def add(self, split: str, record: Mapping[str, Any], n: int = 1) -> None:
        """Count ``n`` records like ``record`` in ``split``."""
        for dim in REALISED:
            self.counts[dim][dimension_value(record, dim)][split] += n

    def as_meta(self) -> dict[str, dict[str, dict[str, int]]]:
        return {d: {v: dict(sorted(c.items())) for v, c in sorted(vs.items())} for d, vs in self.counts.items()}
