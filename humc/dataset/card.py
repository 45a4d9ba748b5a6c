"""The dataset card (README.md): Hub metadata (YAML front matter) plus a Markdown body.

``CardInfo`` is everything the card documents, collected by ``cardinfo.card_info`` from
a finished build; ``render_card`` turns it into the README text. The output is a pure
function of the ``CardInfo`` (no timestamps, no host names, stable ordering), so an
unchanged build renders a byte-identical card and re-publishing it is a no-op.

A recipe may supply its own Jinja2 template (``publish.card_template``); it is rendered
with every ``CardInfo`` field plus ``body`` (the default body) and replaces the body.
The metadata block is always generated, so the Hub and ``datasets`` keep working.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub import DatasetCard, DatasetCardData

from humc.errors import HumcError, Span
from humc.templating import render

_SIZE_CATEGORIES = [
    (1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"),
    (10_000_000_000, "1B<n<10B"), (100_000_000_000, "10B<n<100B"), (1_000_000_000_000, "100B<n<1T"),
]

# Keys of an LLM description that may appear on the card; anything else (api keys,
# headers, organisation ids, ...) is dropped, whatever the caller passes.
_LLM_PUBLIC_KEYS = ("model", "base_url", "temperature", "top_p", "max_tokens", "seed", "n",
                    "presence_penalty", "frequency_penalty", "stop", "calls", "role")


@dataclass
class CardInfo:
    name: str
    pretty_name: str | None
    description: str | None
    license: str | None
    languages: list[str]
    task_categories: list[str]
    task_ids: list[str]
    source_datasets: list[str]
    tags: list[str]
    split_files: dict[str, list[str]]
    split_counts: dict[str, int]
    task_counts: dict[str, dict[str, int]]
    variant_counts: dict[str, int]
    template_counts: dict[str, int]
    length_stats: dict[str, dict[str, float]]
    guidelines: list[dict[str, str]]
    rules: list[dict[str, str]]
    dedup: dict[str, Any]
    llms: list[dict[str, Any]]
    recipe_text: str
    recipe_fingerprint: str
    humc_version: str
    user_template: str | None = None
    split_bytes: dict[str, int] = field(default_factory=dict)  # parquet bytes per split
    dropped: list[dict[str, Any]] = field(default_factory=list)  # problem records: node, reason, records, first
    llm_steps: list[dict[str, Any]] = field(default_factory=list)  # per generate/judge node: valid answers, scores

    @property
    def total(self) -> int:
        return sum(self.split_counts.values())


def size_category(n: int) -> str:
    for bound, label in _SIZE_CATEGORIES:
        if n < bound:
            return label
    return "n>1T"


def public_llm(llm: dict[str, Any]) -> dict[str, Any]:
    """The parts of an LLM description that are safe to publish (never credentials)."""
    return {k: llm[k] for k in _LLM_PUBLIC_KEYS if llm.get(k) is not None}  # a whitelist: never credentials


def card_metadata(info: CardInfo) -> DatasetCardData:
    splits = [s for s in info.split_files if info.split_files[s]] or list(info.split_counts)
    tags = list(dict.fromkeys(["humc", *info.tags]))
    return DatasetCardData(
        pretty_name=info.pretty_name or info.name,
        license=info.license or None,
        language=list(info.languages) or None,
        task_categories=list(info.task_categories) or None,
        task_ids=list(info.task_ids) or None,
        size_categories=[size_category(info.total)],
        source_datasets=list(info.source_datasets) or None,
        tags=tags,
        configs=[{"config_name": "default",
                  "data_files": [{"split": s, "path": f"data/{s}-*"} for s in splits]}],
        dataset_info=_dataset_info(info, splits),
    )


def _dataset_info(info: CardInfo, splits: list[str]) -> dict[str, Any] | None:
    """Split sizes for the Hub viewer and for `datasets`, which checks num_examples on load and keys
    its local cache on this metadata — so a rebuilt folder is never served from a stale cache."""
    if not info.split_bytes:
        return None
    total = sum(info.split_bytes.values())
    return {"config_name": "default", "download_size": total, "dataset_size": total,
            "splits": [{"name": s, "num_bytes": info.split_bytes.get(s, 0), "num_examples": info.split_counts.get(s, 0)}
                       for s in splits]}


def render_card(info: CardInfo) -> str:
    """README.md text for a built dataset: YAML metadata block + Markdown body."""
    body = default_body(info)
    if info.user_template:
        body = _render_user_template(info, body)
    if not body.endswith("\n"):
        body += "\n"
    data = card_metadata(info)
    card = DatasetCard(f"---\n{data.to_yaml()}\n---\n\n{body}")
    return str(card)


# ---------------------------------------------------------------------------- body


def default_body(info: CardInfo) -> str:
    parts = [f"# {info.pretty_name or info.name}", ""]
    if info.description:
        parts += [info.description.strip(), ""]
    parts += [f"This dataset was compiled by [humc](https://pypi.org/project/humc/) {info.humc_version} "
              f"from the recipe `{info.name}`: {info.total} record(s) in {len(info.split_counts)} split(s).", ""]
    parts += _section_usage(info)
    parts += _section_tasks(info)
    parts += _section_splits(info)
    parts += _section_variants(info)
    parts += _section_lengths(info)
    parts += _section_guidelines(info)
    parts += _section_dedup(info)
    parts += _section_dropped(info)
    parts += _section_llms(info)
    parts += _section_provenance(info)
    return "\n".join(parts).rstrip("\n") + "\n"


def _section_usage(info: CardInfo) -> list[str]:
    lines = ["## Files", ""]
    if not info.split_files:
        return lines + ["No data files.", ""]
    lines += _table(["split", "records", "files"],
                    [[s, info.split_counts.get(s, 0), len(files)] for s, files in info.split_files.items()])
    lines += ["", "Each record has the columns `id`, `task`, `task_entry`, `family`, `language`, `instruction`, "
              "`output`, `gold`, `answer_format`, `template`, `labels`, `guidelines`, `rules`, `source` and "
              "`source_row`.", ""]
    return lines


def _section_tasks(info: CardInfo) -> list[str]:
    totals: dict[str, int] = {}
    for counts in info.task_counts.values():
        for task, n in counts.items():
            totals[task] = totals.get(task, 0) + n
    lines = ["## Tasks and mix", ""]
    if not totals:
        return lines + ["No records.", ""]
    grand = sum(totals.values()) or 1
    lines += _table(["task", "records", "share"],
                    [[t, n, f"{100 * n / grand:.1f}%"] for t, n in sorted(totals.items())])
    if info.task_categories or info.task_ids:
        lines += ["", "Task categories: " + (", ".join(f"`{c}`" for c in info.task_categories) or "-")
                  + "; task ids: " + (", ".join(f"`{c}`" for c in info.task_ids) or "-") + "."]
    return lines + [""]


def _section_splits(info: CardInfo) -> list[str]:
    splits = list(info.split_counts)
    tasks = sorted({t for c in info.task_counts.values() for t in c})
    lines = ["## Splits", ""]
    if not splits:
        return lines + ["No splits.", ""]
    rows = [[t, *[info.task_counts.get(s, {}).get(t, 0) for s in splits]] for t in tasks]
    rows.append(["**total**", *[info.split_counts.get(s, 0) for s in splits]])
    return lines + _table(["task", *splits], rows) + [""]


def _section_variants(info: CardInfo) -> list[str]:
    lines = ["## Format variants and templates", ""]
    if info.variant_counts:
        lines += _table(["answer format", "records"], [[k, v] for k, v in info.variant_counts.items()]) + [""]
    if info.template_counts:
        lines += _table(["template", "records"], [[k, v] for k, v in info.template_counts.items()]) + [""]
    if not info.variant_counts and not info.template_counts:
        lines += ["None.", ""]
    return lines


def _section_lengths(info: CardInfo) -> list[str]:
    lines = ["## Length statistics (characters)", ""]
    if not info.length_stats:
        return lines + ["No records.", ""]
    keys: list[str] = []
    for stats in info.length_stats.values():
        keys += [k for k in stats if k not in keys]
    rows = [[column, *[_num(stats.get(k, "")) for k in keys]] for column, stats in info.length_stats.items()]
    return lines + _table(["column", *keys], rows) + [""]


def _section_guidelines(info: CardInfo) -> list[str]:
    lines = ["## Guidelines and preference rules", ""]
    if not info.guidelines and not info.rules:
        return lines + ["None.", ""]
    for g in info.guidelines:
        lines += [f"### Guideline `{g.get('id', '')}`: {g.get('title', '')}".rstrip(": "), "",
                  str(g.get("text", "")).strip(), ""]
    if info.rules:
        lines += ["### Preference rules", ""]
        lines += [f"- `{r.get('id', '')}`: {_cell(r.get('text', ''))}" for r in info.rules]
        lines += [""]
    return lines


def _section_dedup(info: CardInfo) -> list[str]:
    lines = ["## Deduplication and filtering", ""]
    if not info.dedup:
        return lines + ["None.", ""]
    return lines + _table(["step", "records"], [[k.replace("_", " "), v] for k, v in info.dedup.items()]) + [""]


def _section_dropped(info: CardInfo) -> list[str]:
    lines = ["## Dropped records", ""]
    if not info.dropped:
        return lines + ["None: every source row became records whose output matches its instruction.", ""]
    lines += ["Source rows (or single rendered records) left out because their output would contradict their "
              "instruction; rows are `source_row` indexes.", ""]
    return lines + _table(["step", "reason", "records", "first rows"],
                          [[d["node"], d["reason"], d["records"], ", ".join(d["first"])] for d in info.dropped]) + [""]


def _section_llms(info: CardInfo) -> list[str]:
    lines = ["## LLMs used", ""]
    llms = [public_llm(m) for m in info.llms]
    llms = [m for m in llms if m]
    if not llms:
        return lines + ["none", ""]
    keys: list[str] = []
    for m in llms:
        keys += [k for k in m if k not in keys]
    return lines + _table(keys, [[m.get(k, "") for k in keys] for m in llms]) + [""] + _llm_step_lines(info)


def _llm_step_lines(info: CardInfo) -> list[str]:
    """Valid answers per build-time LLM step, and what the judge kept: how well the model did, stated."""
    if not info.llm_steps:
        return []
    rows = [[s["node"], s["form"], f"{s['valid']}/{s['asked']}" + (f" ({s['valid_rate']:.1%})" if s["asked"] else ""),
             " ".join(f"{k}:{v}" for k, v in s.get("scores", {}).items()),
             f"score < {s['min_score']}: {s['judge_dropped']} ({(s['judge_dropped_share'] or 0):.1%})" if "min_score" in s else "",
             ", ".join(f"{k}: {v}" for k, v in s["dropped"].items())] for s in info.llm_steps]
    return _table(["step", "structured output", "valid answers", "judge scores", "judge dropped", "dropped records"],
                  rows) + [""]


def _section_provenance(info: CardInfo) -> list[str]:
    text = info.recipe_text.rstrip("\n")
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return ["## Provenance", "",
            f"- recipe fingerprint: `{info.recipe_fingerprint}`",
            f"- humc version: `{info.humc_version}`",
            "", "The recipe this dataset was compiled from:", "",
            f"{fence}yaml", text, fence, ""]


def _num(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _cell(v: Any) -> str:
    return " ".join(str(v).split()).replace("|", "\\|")


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(_cell(h) for h in header) + " |",
           "| " + " | ".join("---" for _ in header) + " |"]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out


# ---------------------------------------------------------------------------- user template


def _render_user_template(info: CardInfo, body: str) -> str:
    """The user's card template (a file path, or template text itself) rendered in the shared sandbox."""
    source = info.user_template or ""
    where, origin = "of the dataset card", None
    path = Path(source) if "\n" not in source and "{" not in source and len(source) < 4096 else None
    if path is not None:
        try:
            source = path.read_text(encoding="utf-8")
            where, origin = f"{path} (dataset card)", Span(str(path), 1, 1)
        except OSError as exc:
            raise HumcError(f"cannot read card template {path}: {exc.strerror or exc}",
                            hint="publish.card_template must name a Jinja2 Markdown file", code="E0009") from None
    variables = {k: v for k, v in asdict(info).items() if k != "user_template"}
    variables.update(body=body, total=info.total, size_category=size_category(info.total),
                     llms=[public_llm(m) for m in info.llms])
    try:
        return render(source, variables, where, origin, flavour="document")
    except HumcError as exc:
        if exc.code in ("E2011", "E4202") and exc.hint is None:  # syntax or a misspelt variable
            exc.hint = ("the card template is Jinja2 (see docs/publishing.md); available variables: body, "
                        + ", ".join(sorted(variables)))
        raise
