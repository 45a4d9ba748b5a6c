"""Eval stage front door: a built split + a Predictor -> the eval report (a JSON-ready dict).

    evaluate(folder, split, predictor, resolver) -> report

The report holds the overall aggregate, the aggregates by task, template, format and language, rule
adherence per rule, and every record's score (``records``), so ``compare`` can pair two reports by
record id. Its ``version`` key names this layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from humc.dataset.export import reading
from humc.eval.predict import FilePredictions, Predictor
from humc.eval.scoring import GROUPS, Resolver, aggregate, group_by, load_split, record_dict, rule_table, score_record

REPORT_VERSION = 1


def evaluate(folder: Path, split: str, predictor: Predictor, resolver: Resolver) -> dict[str, Any]:
    with reading(folder, "humc eval"):  # the split is read whole, then the lock is let go (a model may take hours)
        records = load_split(folder, split)
    specs = [resolver.resolve(r) for r in records]
    predictions = predictor.predict(records)
    scores = [score_record(spec, rec, pred, resolver.constants) for spec, rec, pred in zip(specs, records, predictions, strict=True)]
    report: dict[str, Any] = {
        "version": REPORT_VERSION, "dataset": str(folder), "split": split, "predictor": predictor.name,
        "overall": aggregate(scores),
        "by": {dim: group_by(scores, dim) for dim in GROUPS},
        "rules": {rule: {"n": s.n, "adherence": s.n_ok / s.n} for rule, s in rule_table(scores).items()},
        "notes": _notes(resolver, predictor, records, split),
        "records": [record_dict(s) for s in scores],
    }
    return report


def _notes(resolver: Resolver, predictor: Predictor, records: list[dict[str, Any]], split: str) -> list[str]:
    notes = []
    if resolver.unknown_rules:
        notes.append("rules not in the standard library, so not checked (evaluate the recipe to check them): "
                     + ", ".join(sorted(resolver.unknown_rules)))
    if isinstance(predictor, FilePredictions):
        missing = sum(1 for r in records if str(r["id"]) not in predictor.by_id)
        if missing and not predictor.by_id:  # named as given (`/dev/null`, not `null`), with what it should hold
            notes.append(f"{predictor.path} holds no prediction, so all {missing} record(s) are scored 0: a "
                         'predictions file holds one JSON object {"id": "<record id>", "prediction": "<model output>"} '
                         "per line")
        elif missing:
            notes.append(f"{missing} record(s) have no prediction in {predictor.path} (scored 0)")
        unknown = predictor.unknown_ids(records)
        if unknown:
            notes.append(f"{len(unknown)} prediction id(s) are not records of this split, e.g. {unknown[0]}"
                         + (f"; none is a record of '{split}': were they made for another split (--split) or another "
                            "build of the dataset?" if len(unknown) == len(predictor.by_id) else ""))
    failures = getattr(predictor, "failures", None)
    if failures:
        notes.append("model calls without an answer: " + ", ".join(f"{k}: {v}" for k, v in sorted(failures.items())))
    truncated = getattr(predictor, "truncated", 0)
    if truncated:
        notes.append(f"{truncated} answer(s) cut off at the token limit (finish_reason \"length\"), scored as they are: "
                     "raise --max-tokens (or the model's max_tokens) if the model needs more room")
    return notes
