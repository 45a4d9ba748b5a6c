"""Eval stage, reporting: an eval report (``run.evaluate``) as rich tables, Markdown (with plots when matplotlib
is installed: ``pip install humc[eval]``), and the comparison of two reports.

``compare(a, b)`` pairs the records of two reports by id and gives, overall and per task, the difference of
the mean score (b - a) with a seeded paired-bootstrap 95% interval, and the same for format adherence.
Percentages are shown with one decimal; the JSON keeps fractions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from humc.dataset.card import pyplot
from humc.dataset.export import written_together
from humc.errors import HumcError, Span
from humc.eval.metrics import bootstrap_delta, mean

METRIC_KEYS = ("precision", "recall", "f1", "partial_f1", "exact_match", "accuracy", "macro_f1", "micro_f1")
SHORT = {"precision": "P", "recall": "R", "f1": "F1", "partial_f1": "partial F1", "exact_match": "EM", "accuracy": "acc",
         "macro_f1": "macro F1", "micro_f1": "micro F1"}
BRIEF = {"spans": ("f1", "partial_f1"), "squad": ("exact_match", "f1"), "text": ("exact_match", "f1"),
         "choice": ("accuracy",), "label": ("accuracy", "macro_f1"), "labels": ("micro_f1", "macro_f1")}
TITLES = {"task": "by task", "template": "by template", "format": "by format", "language": "by language"}


def pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}"


def _metrics_text(agg: Mapping[str, Any], brief: bool = False) -> str:
    keys = BRIEF.get(agg.get("metric", ""), ()) if brief else METRIC_KEYS
    return " ".join(f"{SHORT[k]} {pct(agg[k])}" for k in keys if k in agg)


def _row(name: str, agg: Mapping[str, Any], brief: bool) -> list[str]:
    return [name, str(agg["n"]), pct(agg["score"]), pct(agg["format_adherence"]), pct(agg["parsed"]),
            pct(agg["fallback"]), pct(agg.get("rule_adherence")), _metrics_text(agg, brief)]


def rows_of(report: Mapping[str, Any], dim: str, brief: bool = False) -> list[list[str]]:
    """One row per group: name, n, score, format adherence, parsed, fallback, rule adherence, task metrics
    (shown for groups of one task kind; ``brief``: the headline ones)."""
    return [_row(name, agg, brief) for name, agg in report["by"][dim].items()]


HEADER = ["", "n", "score", "format ok", "parsed", "fallback", "rules ok", "task metrics"]


def tables(report: Mapping[str, Any]) -> list[Table]:
    """The report as rich tables: overall, each grouping, and rule adherence."""
    overall = report["overall"]
    out = []
    head = Table(title=escape(f"humc eval: {report['dataset']} [{report['split']}] with {report['predictor']} (%)"))
    for h in HEADER:
        head.add_column(h)
    head.add_row(*map(escape, _row("all", overall, True)))
    out.append(head)
    for dim, title in TITLES.items():
        table = Table(title=title)
        # a group's name is never cut short ("mrc_multiple_choic…" for every template): it keeps its width, or wraps
        table.add_column(dim, overflow="fold", min_width=min(40, max(map(len, report["by"][dim]), default=0)))
        for h in HEADER[1:] if dim == "task" else HEADER[1:-1]:
            table.add_column(h)
        for row in rows_of(report, dim, brief=True):
            table.add_row(*map(escape, row if dim == "task" else row[:-1]))
        out.append(table)
    if report["rules"]:
        rules = Table(title="rule adherence (prediction is a fixed point of the rule)")
        for h in ("rule", "n", "adherence"):
            rules.add_column(h)
        for rule, stat in report["rules"].items():
            rules.add_row(escape(rule), str(stat["n"]), pct(stat["adherence"]))
        out.append(rules)
    return out


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def cell(v: str) -> str:
        return v.replace("|", "\\|")

    return ["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(map(cell, r)) + " |" for r in rows), ""]


def markdown(report: Mapping[str, Any], path: Path) -> list[Path]:
    """Write the report as Markdown at ``path``, its plots beside it: all of them or none (E3002)."""
    with written_together() as place:
        return _markdown(report, path, place)


def write_json(path: Path, data: Any) -> None:
    """Write a JSON report, whole or not at all (E3002 when the place refuses it)."""
    with written_together() as place:
        place(path).write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def _markdown(report: Mapping[str, Any], path: Path, place: Callable[[Path], Path]) -> list[Path]:
    """Write the Markdown report to ``path`` (plots beside it as <stem>-<dim>.png when matplotlib is
    installed); returns the plot files written."""
    overall = report["overall"]
    lines = [f"# Eval report: {Path(report['dataset']).name} ({report['split']})", "",
             f"Predictor: `{report['predictor']}`. Records: {overall['n']}. Scores in %.", ""]
    lines += _md_table(HEADER, [_row("all", overall, False)])
    plots = _plots(report, path, place)
    for dim, title in TITLES.items():
        lines += [f"## {title[0].upper()}{title[1:]}", ""]
        rows = rows_of(report, dim)
        lines += _md_table([dim, *HEADER[1:]] if dim == "task" else [dim, *HEADER[1:-1]],
                           rows if dim == "task" else [r[:-1] for r in rows])
        if dim in plots:
            lines += [f"![{title}]({plots[dim].name})", ""]
    if report["rules"]:
        lines += ["## Rule adherence", ""]
        lines += _md_table(["rule", "n", "adherence"], [[r, str(s["n"]), pct(s["adherence"])] for r, s in report["rules"].items()])
    if report.get("notes"):
        lines += ["## Notes", "", *(f"- {n}" for n in report["notes"]), ""]
    if not plots:
        lines += ["(No plots: install matplotlib, e.g. `pip install 'humc[eval]'`.)", ""]
    place(path).write_text("\n".join(lines), encoding="utf-8")
    return list(plots.values())


def _plots(report: Mapping[str, Any], path: Path, place: Callable[[Path], Path]) -> dict[str, Path]:
    plt = pyplot()
    if plt is None:
        return {}

    out = {}
    for dim in ("task", "format"):
        groups = report["by"][dim]
        if not groups:
            continue
        names = list(groups)
        fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(names) + 2), 3.2))
        xs = range(len(names))
        ax.bar([x - 0.2 for x in xs], [100 * groups[n]["score"] for n in names], width=0.4, label="score")
        ax.bar([x + 0.2 for x in xs], [100 * groups[n]["format_adherence"] for n in names], width=0.4, label="format ok")
        ax.set_xticks(list(xs), names, rotation=30, ha="right", fontsize=8)
        ax.set_ylim(0, 105)
        ax.set_ylabel("%")
        ax.set_title(f"score and format adherence by {dim}")
        ax.legend(fontsize=8)
        fig.tight_layout()
        target = path.with_name(f"{path.stem}-{dim}.png")
        fig.savefig(place(target), dpi=100, metadata={"Software": None})
        plt.close(fig)
        out[dim] = target
    return out


# ------------------------------------------------------------------ compare


def read_report(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:  # at its line; JSON Lines (a predictions file?) says so
        lines = exc.msg == "Extra data" and exc.colno == 1
        raise HumcError(f"cannot read eval report {path}: " + ("it is JSON Lines, not one JSON document" if lines else
                                                              f"{exc.msg}"), Span(str(path), exc.lineno, exc.colno),
                        code="E6003", expected="a JSON file written by humc eval --report",
                        hint="--compare takes two reports: humc eval DATASET --predictions P.jsonl --report A.json "
                             "writes one" if lines else None) from None
    except (OSError, ValueError, RecursionError) as exc:
        why = "nested too deeply to read" if isinstance(exc, RecursionError) else exc
        raise HumcError(f"cannot read eval report {path}: {why}", code="E6003",
                        expected="a JSON file written by humc eval --report") from None
    if not isinstance(data, dict) or not isinstance(data.get("records"), list) or "version" not in data:
        raise HumcError(f"{path} is not a humc eval report", code="E6003", expected="a JSON file written by humc eval --report",
                        hint="write one with: humc eval DATASET --predictions P.jsonl --report A.json")
    seen: set[str] = set()
    for n, record in enumerate(data["records"], 1):
        problem = _record_problem(record, seen)
        if problem is not None:  # an edited or merged report: compare pairs and averages these fields
            raise HumcError(f"{path}: record #{n} of `records` {problem}", code="E6003",
                            expected="records as humc eval --report writes them: a unique text `id`, a text `task`, "
                                     "a `score` from 0 to 1 and a boolean `strict`",
                            hint="write the report again with humc eval --report rather than editing it")
    return data


def _record_problem(record: Any, seen: set[str]) -> str | None:
    """What makes one record of a report unusable for ``compare`` (None: nothing); ``seen``: the ids before it."""
    if not isinstance(record, dict):
        return "is no object"
    rid, task, score = record.get("id"), record.get("task"), record.get("score")
    if not isinstance(rid, str) or not isinstance(task, str):
        return "has no text `id` and `task`"
    if rid in seen:
        return f"names the id {rid} a second time"
    seen.add(rid)
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 1:  # NaN fails too
        return f"(id {rid}) has the score {json.dumps(score)[:40]}, not a number from 0 to 1"
    if not isinstance(record.get("strict"), bool):
        return f"(id {rid}) has no boolean `strict` (format adherence)"
    return None


def compare(a: Mapping[str, Any], b: Mapping[str, Any], *, seed: int = 0, resamples: int = 1000) -> dict[str, Any]:
    """b - a on the records both reports scored (paired by id), overall and per task, with bootstrap intervals."""
    by_id_a = {r["id"]: r for r in a["records"]}
    paired = [(by_id_a[r["id"]], r) for r in b["records"] if r["id"] in by_id_a]
    if not paired:
        raise HumcError("the two reports share no record ids", code="E6003",
                        hint="compare reports of the same dataset split (e.g. two models on one test split)")
    groups: dict[str, list[tuple[Mapping[str, Any], Mapping[str, Any]]]] = {"all": paired}
    for pair in paired:
        groups.setdefault(pair[1]["task"], []).append(pair)
    out: dict[str, Any] = {"a": a.get("predictor"), "b": b.get("predictor"), "paired": len(paired), "seed": seed,
                           "unpaired": {"a": len(a["records"]) - len(paired), "b": len(b["records"]) - len(paired)},
                           "groups": {}}
    for name, pairs in groups.items():
        row = {}
        for key, field in (("score", "score"), ("format_adherence", "strict")):
            xs, ys = [float(x[field]) for x, _ in pairs], [float(y[field]) for _, y in pairs]
            d = bootstrap_delta(xs, ys, seed=seed, resamples=resamples)
            row[key] = {"a": mean(xs), "b": mean(ys), "delta": d.delta, "low": d.low, "high": d.high}
        out["groups"][name] = {"n": len(pairs), **row}
    return out


def compare_notes(a: Mapping[str, Any], b: Mapping[str, Any], result: Mapping[str, Any]) -> list[str]:
    """What the comparison left out: records only one report scored (reports of two builds or splits pair only their
    common records, and the deltas say nothing of the others)."""
    alone = result["unpaired"]
    if not alone["a"] and not alone["b"]:
        return []
    where = {side: f"{report.get('dataset', '?')} [{report.get('split', '?')}]" for side, report in (("a", a), ("b", b))}
    return [f"{alone['a']} record(s) of A and {alone['b']} of B are in one report only and not compared: "
            + (f"A is {where['a']}, B {where['b']}" if where["a"] != where["b"] else
               f"both are {where['a']}: was the dataset rebuilt between them?")
            + "; compare reports of one build's split for a paired difference of every record"]


def compare_table(result: Mapping[str, Any]) -> Table:
    table = Table(title=escape(f"B - A: {result['b']} vs {result['a']} ({result['paired']} paired records, "
                               "95% bootstrap interval, %)"))
    for h in ("group", "n", "score A", "score B", escape("Δ score [95% CI]"), escape("Δ format ok [95% CI]")):
        table.add_column(h)
    for name, g in result["groups"].items():
        s, f = g["score"], g["format_adherence"]
        table.add_row(escape(name), str(g["n"]), pct(s["a"]), pct(s["b"]), escape(_delta(s)), escape(_delta(f)))
    return table


def _delta(d: Mapping[str, float]) -> str:
    return f"{100 * d['delta']:+.1f} [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}]"
