"""Collects what the dataset card documents from a finished build (recipe, plan, node metas).

LLM rows name the model each server *reported* (read back from the LLM nodes' notes, and from the
lockfile items' provenance), beside the alias and id the recipe asked for; lockfile items written by
a person, or by nobody knows whom, are listed as such and never credited to a model. The humc link
is the installed package's project URL, or no link at all.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from humc import __version__
from humc.dataset.card import CardInfo
from humc.ir import HELD_OUT_DROPPED, LockedAsset, Recipe
from humc.llm import provenance  # the LLM nodes' note names (provenance.ASKED_NOTE, …)
from humc.llm.provenance import UNKNOWN_MODEL, Answered, answered_in
from humc.sources_hub import hub_sources


def card_info(recipe: Recipe, fingerprint: str, metas: Mapping[str, Mapping[str, Any]],
              split_files: dict[str, list[str]], split_counts: dict[str, int],
              task_counts: Mapping[str, Mapping[str, int]], variant_counts: Mapping[str, int],
              template_counts: Mapping[str, int], length_stats: dict[str, dict[str, float]],
              split_bytes: dict[str, int] | None = None) -> CardInfo:
    card = recipe.publish.card if recipe.publish else {}
    guidelines = {g.id: g for e in recipe.tasks for g in e.guidelines}
    rules = {r.id: r for e in recipe.tasks for r in e.rules}
    offered = offered_labels(recipe, metas)
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
        guidelines=[{"id": g.id, "title": g.title, "text": g.text,
                     "labels": ", ".join(label for label, _ in g.labels if offered(g.id, label))}
                    for g in guidelines.values()],
        rules=[{"id": r.id, "text": r.text.get("en") or next(iter(r.text.values()), "")} for r in rules.values()],
        dedup={**left_out(recipe, metas), "duplicates_removed": int(dedup.get("duplicates removed", 0)),
               **_decontamination(recipe, metas), **dropped},
        llms=used_llms(recipe, metas),
        recipe_text=recipe.text,
        recipe_fingerprint=fingerprint,
        humc_version=__version__,
        hub_sources=[{"source": src.id, **{k: (src.dataset or {}).get(k) for k in ("name", "revision", "config", "split")}}
                     for src in hub_sources(recipe)],
        user_template=str(card["template"]) if card.get("template") else None,
        split_bytes=dict(split_bytes or {}),
        dropped=dropped_records(recipe, metas),
        humc_url=project_url(),
        locked=locked_rows(recipe.locked),
        lockfile=recipe.lock_path.name if recipe.lock_path is not None else None,
        llm_steps=llm_step_stats(recipe, metas),
        mixture_declared=declared_mixture(recipe, metas),
        sources=source_rows(recipe),
        held_out=held_out_info(recipe, metas),
    )


def offered_labels(recipe: Recipe, metas: Mapping[str, Mapping[str, Any]]) -> Callable[[str, str], bool]:
    """Whether a guideline's label is one an entry using that guideline offers (its labels node: the entry's
    `labels:` or the labels its gold holds), so the card lists as "shown with the labels in the instructions" only
    definitions some instruction can show: not DuEE's 65 event types for a sample offering 8, nor GoEmotions'
    "neutral" when the recipe drops it. A guideline some entry uses without a labels node keeps every label."""
    sets: dict[str, set[str]] = {}
    unknown: set[str] = set()
    for entry in recipe.tasks:
        meta = metas.get(f"{entry.id}/labels") or {}
        for g in entry.guidelines:
            if "labels" in meta:
                sets.setdefault(g.id, set()).update(meta["labels"])
            else:
                unknown.add(g.id)
    return lambda gid, label: gid in unknown or label in sets.get(gid, ())


# an entry's node that leaves source rows (or instructions) out by design, and what the card calls what it left out
LEFT_OUT = (("filter", "source rows filtered out by `where`"), ("sample", "source rows not drawn by `sample`"),
            ("ratio", "all-negative instructions dropped by `negative_ratio`"))


def left_out(recipe: Recipe, metas: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """What each entry's `where`, `sample` and `negative_ratio` left out (their nodes' records in minus out), so
    that the card does not say every source row became records when some were filtered or not drawn."""
    out = {}
    for entry in recipe.tasks:
        for kind, what in LEFT_OUT:
            meta = metas.get(f"{entry.id}/{kind}")
            if meta is not None and (n := int(meta.get("in", 0)) - int(meta.get("out", 0))) > 0:
                out[f"{what} ({entry.id})"] = n
    return out


def held_out_info(recipe: Recipe, metas: Mapping[str, Mapping[str, Any]]) -> dict[str, Any] | None:
    """`output.held_out` as the card states it: the split, what is held out, how many records, whether inputs are
    shared with the other splits and how many held-out instructions `inputs: unseen` dropped."""
    held = recipe.output.held_out
    if held is None:
        return None
    notes = metas.get("corpus/split", {}).get("notes", {})
    parts = [(kind, names) for kind, names in (("template", held.templates), ("format", held.formats),
                                                ("label", held.labels), ("task", held.tasks)) if names]
    return {"split": held.split, "parts": parts, "inputs": "unseen" if held.unseen_inputs else "shared",
            "records": int(notes.get("held out", 0)),
            "dropped": int(notes.get(HELD_OUT_DROPPED, 0))}


def source_rows(recipe: Recipe) -> list[dict[str, str]]:
    """One row per source a task reads: the dataset (its catalog adapter's title, else its Hub name or file), the
    license its adapter declares (none for a source read without one) and the homepage."""
    published = {o.source: o for o in recipe.published}
    rows = []
    for sid in sorted({e.source for e in recipe.tasks}):
        src, origin = recipe.sources[sid], published.get(sid)
        plain = (src.dataset or {}).get("name") or (src.path.name if src.path is not None else sid)
        rows.append({"source": sid, "dataset": origin.title if origin else str(plain),
                     "license": origin.license if origin else "", "homepage": origin.homepage if origin else ""})
    return rows


MISSED_BY = 0.01  # a realised share this far from its weight's target is called out on the card


def declared_mixture(recipe: Recipe, metas: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``output.mixture``'s weights and caps, each beside what the build wrote (the split node's realised counts):
    a weight's target share among the values its dimension lists and the share realised among them, a cap and the
    records kept. Caps apply after weights, so a cap on one value can move a weighted dimension off its target;
    ``missed`` marks a share more than a point away, which the card then explains."""
    mixture = recipe.output.mixture
    if mixture is None:
        return []
    realised = metas.get("corpus/split", {}).get("mixture") or {}

    def written(dim: str, value: str) -> int:
        return sum((realised.get(dim, {}).get(value) or {}).values())

    rows: list[dict[str, Any]] = []
    for dim, weights in mixture.weights:
        total_weight = sum(w for _, w in weights)
        total = sum(written(dim, v) for v, _ in weights)
        for value, weight in weights:
            n = written(dim, value)
            target, share = weight / (total_weight or 1), n / (total or 1)
            rows.append({"dimension": dim, "value": value, "declared": f"weight {weight:g}", "target": target, "n": n,
                         "share": share, "missed": abs(share - target) > MISSED_BY})
    for dim, caps in mixture.caps:
        rows.extend({"dimension": dim, "value": value, "declared": f"at most {cap}", "target": None,
                     "n": written(dim, value), "share": None, "missed": False} for value, cap in caps)
    return rows


_URL_LABELS = ("repository", "source", "source code", "homepage", "home")


@functools.lru_cache(maxsize=1)
def project_url() -> str | None:
    """The project's URL from the installed package's metadata (a `Project-URL`, else `Home-page`), or None. Read
    once a process (finding and parsing the metadata takes ~25 ms; ``writer.preload`` does it while a build waits)."""
    try:
        meta = importlib.metadata.metadata("humc")
    except importlib.metadata.PackageNotFoundError:
        return None
    urls = {}
    for entry in meta.get_all("Project-URL") or []:
        label, _, url = entry.partition(",")
        urls[label.strip().lower()] = url.strip()
    url = next((urls[k] for k in _URL_LABELS if urls.get(k)), None) or next(iter(meta.get_all("Home-page") or []), None)
    return url if url and url.startswith("https://") else None


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
            forms = {k[len(provenance.ASKED_NOTE):]: int(v) for k, v in notes.items() if k.startswith(provenance.ASKED_NOTE) and v}
            asked, valid = sum(forms.values()), int(notes.get(provenance.VALID_NOTE, 0))
            row: dict[str, Any] = {"node": node, "model": recipe.models[step.model].model, "form": ", ".join(sorted(forms)),
                                   "asked": asked, "valid": valid, "valid_rate": round(valid / asked, 4) if asked else None,
                                   "dropped": {k.removeprefix("dropped: "): int(v) for k, v in notes.items()
                                               if k.startswith("dropped") and v}}
            if step.kind == "generate":
                row.update(generated=int(notes.get(provenance.GENERATED_NOTE, 0)), empty=int(notes.get(provenance.EMPTY_NOTE, 0)),
                           overwrite=step.overwrite)
            if step.kind == "judge":
                low = sum(v for k, v in row["dropped"].items() if k.startswith("judge score"))
                row.update(min_score=step.min_score, scores={s: int(notes.get(f"{provenance.SCORE_NOTE}{s}", 0)) for s in range(1, 6)},
                           judge_dropped=low, judge_dropped_share=round(low / asked, 4) if asked else None)
            rows.append(row)
    return rows


PROBLEM_NOTE = "problem: "  # the build's per-reason problem counters (build/problems.py)


def dropped_records(recipe: Recipe, metas: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Problem records per node and reason, with their first `file:line` locations (paths relative to the recipe)."""
    out = []
    for node, meta in metas.items():
        first = meta.get("problems", {})
        for key, count in meta.get("notes", {}).items():
            if key.startswith(PROBLEM_NOTE) and count:
                reason = key[len(PROBLEM_NOTE):]
                out.append({"node": node, "reason": reason, "records": int(count),
                            "first": [_location(recipe, loc[0], loc[1], loc[3] if len(loc) > 3 else None)
                                      for loc in first.get(reason, [])]})
    return out


def _location(recipe: Recipe, source: str, row: int, line: int | None = None) -> str:
    """`file:line` (line-based sources) or `file record N` (0-based record index), as build/problems.py shows it."""
    src = recipe.sources.get(source)
    if src is None or src.path is None:
        name = (src.dataset or {}).get("name", source) if src else source
    else:
        name = os.path.relpath(src.path, recipe.path.parent)
    return f"{name}:{line}" if line is not None else f"{name} record {row}"


def used_llms(recipe: Recipe, metas: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per model that shaped the data: build-time steps (per recipe alias) and reviewed lockfile items
    an LLM wrote (per reported model). ``model`` is what the server reported; ``recipe_model`` what was asked."""
    roles: dict[str, list[str]] = {}
    calls: dict[str, int] = {}
    answered: dict[str, Answered] = {}
    for e in recipe.tasks:
        for step, role in ((e.generate, "answer generation"), (e.judge, "judge filter")):
            if step is not None:
                roles.setdefault(step.model, []).append(f"{e.id}: {role}")
                notes = metas.get(f"{e.id}/{step.kind}", {}).get("notes", {})
                calls[step.model] = calls.get(step.model, 0) + _calls(notes)
                answered.setdefault(step.model, Answered()).add(answered_in(notes))
    rows = [_llm_row(answered[name], calls.get(name, 0), f"{name} ({recipe.models[name].model})",
                     recipe.models[name].params, "; ".join(r)) for name, r in roles.items()]
    return rows + _locked_llm_rows(recipe)


def _calls(notes: Mapping[str, Any]) -> int:
    """The requests a step's answers took, sent or replayed from the cache; a retry (a 429, a 500, a dropped
    connection) is the same call again, so a build resumed after an interruption, or one that met another server's
    failures, states the count a build that met none does."""
    return int(notes.get("llm requests", 0)) - int(notes.get("llm retries", 0)) + int(notes.get("llm cache hits", 0))


def _llm_row(answered: Answered, calls: int, recipe_model: str, params: Mapping[str, Any], role: str) -> dict[str, Any]:
    model = ", ".join(sorted(answered.models)) or (UNKNOWN_MODEL if calls else "no call")
    return {"model": model, "recipe_model": recipe_model, **params,
            "system_fingerprint": ", ".join(sorted(answered.fingerprints)) or None,
            "answered": answered.date_range or None, "role": role, "calls": calls}


def _locked_llm_rows(recipe: Recipe) -> list[dict[str, Any]]:
    """Lockfile items an LLM wrote, one row per (reported model, recipe model)."""
    groups: dict[tuple[str, str], list[LockedAsset]] = {}
    for a in recipe.locked:
        if a.origin == "llm":
            groups.setdefault((a.model, a.recipe_model), []).append(a)
    lock = recipe.lock_path.name if recipe.lock_path is not None else "the lockfile"
    rows = []
    for (model, recipe_model), assets in groups.items():
        fingerprints = sorted({a.system_fingerprint for a in assets if a.system_fingerprint})
        days = sorted({a.date for a in assets if a.date})
        rows.append({"model": model, "recipe_model": recipe_model or None, **_merged_params(dict(a.params) for a in assets),
                     "system_fingerprint": ", ".join(fingerprints) or None,
                     "answered": (days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}") if days else None,
                     "role": f"{_proposals(assets)}, reviewed by a person ({lock})"})
    return rows


def _proposals(assets: list[LockedAsset]) -> str:
    parts = []
    for entry in dict.fromkeys(a.entry for a in assets):
        mine = [a for a in assets if a.entry == entry]
        edited = sum(a.edited for a in mine)
        kinds = ", ".join(f"{sum(a.kind == k for a in mine)} {k}(s)" for k in dict.fromkeys(a.kind for a in mine))
        parts.append(f"{entry}: {kinds} proposed" + (f", {edited} edited by hand" if edited else ""))
    return "; ".join(parts)


def _merged_params(params: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Sampling parameters over several calls: one value where they agree, the distinct values where they differ."""
    values: dict[str, list[Any]] = {}
    for p in params:
        for k, v in p.items():
            if v not in values.setdefault(k, []):
                values[k].append(v)
    return {k: v[0] if len(v) == 1 else ", ".join(map(str, v)) for k, v in values.items()}


def locked_rows(locked: Iterable[LockedAsset]) -> list[dict[str, Any]]:
    """Accepted lockfile items by task entry, kind and who wrote them (a person, a reported model, or unknown)."""
    counts: dict[tuple[str, str, str], int] = {}
    for a in locked:
        counts[(a.entry, a.kind, _written_by(a))] = counts.get((a.entry, a.kind, _written_by(a)), 0) + 1
    return [{"entry": e, "kind": k, "written_by": w, "accepted": n} for (e, k, w), n in counts.items()]


def _written_by(a: LockedAsset) -> str:
    if a.origin == "human":
        return "a person"
    who = f"{a.model} (LLM, reported by its server), reviewed by a person" if a.origin == "llm" else "unknown"
    return who + (", edited by hand" if a.edited else "")


def _decontamination(recipe: Recipe, metas: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    decon = recipe.output.decontaminate
    if decon is None:
        return {}
    notes = metas.get("corpus/decontaminate", {}).get("notes", {})
    against = ", ".join(s.path.name if s.path else str((s.dataset or {}).get("name")) for s in decon.against)
    return {f"decontaminated against {against} ({decon.ngram}-gram overlap)": int(notes.get("contaminated removed", 0))}
