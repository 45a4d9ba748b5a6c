"""Collects what the dataset card documents from a finished build (recipe, plan, node metas)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from humc import __version__
from humc.dataset.card import CardInfo
from humc.ir import Recipe


def card_info(recipe: Recipe, fingerprint: str, metas: Mapping[str, Mapping[str, Any]],
              split_files: dict[str, list[str]], split_counts: dict[str, int],
              task_counts: Mapping[str, Mapping[str, int]], variant_counts: Mapping[str, int],
              template_counts: Mapping[str, int], length_stats: dict[str, dict[str, float]],
              split_bytes: dict[str, int] | None = None) -> CardInfo:
    card = recipe.publish.card if recipe.publish else {}
    guidelines = {g.id: g for e in recipe.tasks for g in e.guidelines}
    rules = {r.id: r for e in recipe.tasks for r in e.rules}
    dedup = metas.get("corpus/dedup", {}).get("notes", {})
    dropped = {f"{node}: {k}": v for node, m in metas.items() for k, v in m.get("notes", {}).items()
               if k.startswith("dropped") and v}
    return CardInfo(
        name=recipe.name,
        pretty_name=card.get("pretty_name"),
        description=recipe.description or None,
        license=recipe.license,
        languages=sorted({e.language for e in recipe.tasks}),
        task_categories=sorted({c for e in recipe.tasks for c in e.task.task_categories}),
        task_ids=sorted({c for e in recipe.tasks for c in e.task.task_ids}),
        source_datasets=list(card.get("source_datasets", [])),
        tags=list(card.get("tags", [])),
        split_files=split_files,
        split_counts=split_counts,
        task_counts={split: dict(sorted(c.items())) for split, c in task_counts.items()},
        variant_counts=dict(sorted(variant_counts.items())),
        template_counts=dict(sorted(template_counts.items())),
        length_stats=length_stats,
        guidelines=[{"id": g.id, "title": g.title, "text": g.text} for g in guidelines.values()],
        rules=[{"id": r.id, "text": r.text.get("en") or next(iter(r.text.values()), "")} for r in rules.values()],
        dedup={"duplicates_removed": int(dedup.get("duplicates removed", 0)), **_decontamination(recipe, metas),
               **dropped},
        llms=used_llms(recipe, metas),
        recipe_text=recipe.text,
        recipe_fingerprint=fingerprint,
        humc_version=__version__,
        user_template=str(card["template"]) if card.get("template") else None,
        split_bytes=dict(split_bytes or {}),
        dropped=dropped_records(recipe, metas),
        llm_steps=llm_step_stats(recipe, metas),
    )


ASKED_NOTE = "llm answers asked in form "   # notes of the generate/judge nodes (build/llmsteps.py)
VALID_NOTE = "llm valid answers"
SCORE_NOTE = "judge score "


def llm_step_stats(recipe: Recipe, metas: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per generate/judge node: records asked, valid answers and their rate, the structured-output form; for a judge
    also its score histogram, threshold and the records (and share) it dropped. Weak models stay visible."""
    rows = []
    for e in recipe.tasks:
        for step in (e.generate, e.judge):
            if step is None:
                continue
            node = f"{e.id}/{step.kind}"
            notes = metas.get(node, {}).get("notes", {})
            forms = {k[len(ASKED_NOTE):]: int(v) for k, v in notes.items() if k.startswith(ASKED_NOTE) and v}
            asked, valid = sum(forms.values()), int(notes.get(VALID_NOTE, 0))
            row: dict[str, Any] = {"node": node, "model": recipe.models[step.model].model, "form": ", ".join(sorted(forms)),
                                   "asked": asked, "valid": valid, "valid_rate": round(valid / asked, 4) if asked else None,
                                   "dropped": {k.removeprefix("dropped: "): int(v) for k, v in notes.items()
                                               if k.startswith("dropped") and v}}
            if step.kind == "judge":
                low = sum(v for k, v in row["dropped"].items() if k.startswith("judge score"))
                row.update(min_score=step.min_score, scores={s: int(notes.get(f"{SCORE_NOTE}{s}", 0)) for s in range(1, 6)},
                           judge_dropped=low, judge_dropped_share=round(low / asked, 4) if asked else None)
            rows.append(row)
    return rows


PROBLEM_NOTE = "problem: "  # the build's per-reason problem counters (build/problems.py)


def dropped_records(recipe: Recipe, metas: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Problem records per node and reason, with their first `file:row` locations (paths relative to the recipe)."""
    out = []
    for node, meta in metas.items():
        first = meta.get("problems", {})
        for key, count in meta.get("notes", {}).items():
            if key.startswith(PROBLEM_NOTE) and count:
                reason = key[len(PROBLEM_NOTE):]
                out.append({"node": node, "reason": reason, "records": int(count),
                            "first": [_location(recipe, loc[0], loc[1]) for loc in first.get(reason, [])]})
    return out


def _location(recipe: Recipe, source: str, row: int) -> str:
    src = recipe.sources.get(source)
    if src is None or src.path is None:
        return f"{(src.dataset or {}).get('name', source) if src else source}:{row}"
    return f"{os.path.relpath(src.path, recipe.path.parent)}:{row}"


def used_llms(recipe: Recipe, metas: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per model that shaped the data: build-time steps and reviewed `humc synth` proposals."""
    roles: dict[str, list[str]] = {}
    calls: dict[str, int] = {}
    for e in recipe.tasks:
        for step, role in ((e.generate, "answer generation"), (e.judge, "judge filter")):
            if step is not None:
                roles.setdefault(step.model, []).append(f"{e.id}: {role}")
                notes = metas.get(f"{e.id}/{step.kind}", {}).get("notes", {})
                calls[step.model] = calls.get(step.model, 0) + int(notes.get("llm requests", 0)) + int(notes.get("llm cache hits", 0))
        if e.synth is not None and recipe.lock_path is not None:
            roles.setdefault(e.synth.model, []).append(f"{e.id}: reviewed proposals ({recipe.lock_path.name})")
    return [{"model": recipe.models[name].model, **recipe.models[name].params, "role": "; ".join(r),
             "calls": calls.get(name)} for name, r in roles.items()]


def _decontamination(recipe: Recipe, metas: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    decon = recipe.output.decontaminate
    if decon is None:
        return {}
    notes = metas.get("corpus/decontaminate", {}).get("notes", {})
    against = ", ".join(s.path.name if s.path else str((s.dataset or {}).get("name")) for s in decon.against)
    return {f"decontaminated against {against} ({decon.ngram}-gram overlap)": int(notes.get("contaminated removed", 0))}
