"""The dataset card (README.md): Hub metadata (YAML front matter) plus a Markdown body.

``CardInfo`` is everything the card documents, collected by ``cardinfo.card_info`` from
a finished build; ``render_card`` turns it into the README text. The body is the stdlib
template ``stdlib/cards/default.md.j2``, rendered in the shared sandbox (``templating.render``)
with the plain dict of ``card_variables``; Python here only prepares data, never layout. The output is a pure
function of the ``CardInfo`` (no timestamps, no host names, stable ordering), so an
unchanged build renders a byte-identical card and re-publishing it is a no-op.

A recipe may supply its own Jinja2 template (``publish.card_template``); it is rendered
with every ``CardInfo`` field plus ``body`` (the default body) and replaces the body.
The metadata block is always generated, so the Hub and ``datasets`` keep working.
``check_card_template`` checks that template's variables against ``card_variable_names()`` before
a build runs (`humc check` too), so a misspelt variable is a located error, not a failed write.
huggingface_hub is imported only where a card is rendered (`humc check` does not load it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from humc.errors import HumcError, Span
from humc.ir import primary_language
from humc.limits import check_blas_headroom
from humc.resources import stdlib_dir
from humc.templating import precompile, render, template_problem

if TYPE_CHECKING:
    from huggingface_hub import DatasetCardData

_SIZE_CATEGORIES = [
    (1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"),
    (10_000_000_000, "1B<n<10B"), (100_000_000_000, "10B<n<100B"), (1_000_000_000_000, "100B<n<1T"),
]

# The license ids the Hub accepts in a card's `license` (stdlib/cards/hub_licenses.txt, the Hub's own list): the Hub
# refuses a README with any other value and asks for `license: other` with a `license_name`.
HUB_LICENSES = frozenset(line.strip() for line in (stdlib_dir() / "cards" / "hub_licenses.txt").read_text(
    encoding="utf-8").splitlines() if line.strip() and not line.startswith("#"))

# Keys of an LLM description that may appear on the card; anything else (api keys,
# headers, organisation ids, ...) is dropped, whatever the caller passes.
_LLM_PUBLIC_KEYS = ("model", "recipe_model", "base_url", "temperature", "top_p", "max_tokens", "seed", "n",
                    "presence_penalty", "frequency_penalty", "stop", "system_fingerprint", "answered", "calls", "role")


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
    split_bytes: dict[str, int] = field(default_factory=dict)  # parquet bytes per split (what a user downloads)
    split_memory_bytes: dict[str, int] = field(default_factory=dict)  # Arrow bytes per split (what `datasets` loads)
    features: list[dict[str, Any]] = field(default_factory=list)  # the shards' columns as `datasets` features (YAML)
    empty_splits: list[str] = field(default_factory=list)  # declared in the recipe, but no record fell in them
    dropped: list[dict[str, Any]] = field(default_factory=list)  # problem records: node, reason, records, first
    humc_url: str | None = None    # the project URL of the installed humc's metadata; no link without one
    locked: list[dict[str, Any]] = field(default_factory=list)  # accepted lockfile items: entry, kind, written_by, accepted
    lockfile: str | None = None    # the lockfile's name, when the recipe has one
    llm_steps: list[dict[str, Any]] = field(default_factory=list)  # per generate/judge node: valid answers, scores
    mixture: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)  # dimension -> value -> split -> n
    plots: list[str] = field(default_factory=list)  # PNG files of the realised mixture, relative to the card
    # output.mixture's weights and caps beside what was written: dimension, value, declared, target, n, share
    mixture_declared: list[dict[str, Any]] = field(default_factory=list)
    hub_sources: list[dict[str, str | None]] = field(default_factory=list)  # Hub datasets read: source, name, revision, …
    sources: list[dict[str, str]] = field(default_factory=list)  # the sources read: source, dataset, license, homepage
    held_out: dict[str, Any] | None = None  # output.held_out: split, parts, inputs, records, dropped

    @property
    def total(self) -> int:
        return sum(self.split_counts.values())


MIXTURE_TITLES = {"task": "task", "entry": "task entry", "source": "source", "language": "language",
                  "format": "answer format", "kind": "instruction kind (basic / compound)"}


def realised_mixture(metas: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The realised mixture the split node counted, per dimension shown on the card."""
    mixture = dict(metas.get("corpus/split", {}).get("mixture") or {})
    return {d: mixture[d] for d in MIXTURE_TITLES if mixture.get(d)}


def add_mixture(info: CardInfo, metas: Mapping[str, Mapping[str, Any]], plots: list[str]) -> None:
    """Put the realised mixture (counted by the split node) on the card, with the bar charts ``write_plots`` drew of
    it into the dataset folder (none without matplotlib: the card shows the tables only); the writer lists every
    file of the folder in build.json, so the plots are owned like the shards."""
    info.mixture = realised_mixture(metas)
    info.plots = plots


def pyplot() -> Any | None:
    """matplotlib's pyplot on the file-only Agg backend (`pip install humc[plots]`), or None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def write_plots(mixture: Mapping[str, Mapping[str, Mapping[str, int]]], folder: Path) -> list[str]:
    """One stacked horizontal bar chart (records per value, by split) per dimension with 2+ values; the
    PNG metadata carries no version or date, so an unchanged build writes identical bytes."""
    plt = pyplot()
    if plt is None:
        return []
    check_blas_headroom("drawing the card's plots")  # under `ulimit -v`: this thread's first numpy product
    names = []
    for dim, values in mixture.items():
        if len(values) < 2:
            continue
        splits = sorted({s for counts in values.values() for s in counts})
        labels = list(values)
        fig, ax = plt.subplots(figsize=(7, 0.9 + 0.32 * len(labels)), dpi=80)
        left = [0] * len(labels)
        for split in splits:
            widths = [values[v].get(split, 0) for v in labels]
            ax.barh(labels, widths, left=left, label=split)
            left = [a + b for a, b in zip(left, widths, strict=True)]
        ax.set_xlabel("records")
        ax.set_title(f"records by {MIXTURE_TITLES.get(dim, dim)}")
        ax.invert_yaxis()
        ax.legend(loc="lower right", fontsize="small")
        fig.tight_layout()
        name = f"plots/mixture_{dim}.png"
        (folder / "plots").mkdir(exist_ok=True)
        fig.savefig(folder / name, format="png", metadata={"Software": None})
        plt.close(fig)
        names.append(name)
    return names


def size_category(n: int) -> str:
    for bound, label in _SIZE_CATEGORIES:
        if n < bound:
            return label
    return "n>1T"


def public_llm(llm: dict[str, Any]) -> dict[str, Any]:
    """The parts of an LLM description that are safe to publish (never credentials)."""
    return {k: llm[k] for k in _LLM_PUBLIC_KEYS if llm.get(k) is not None}  # a whitelist: never credentials


def card_metadata(info: CardInfo) -> DatasetCardData:
    from huggingface_hub import DatasetCardData

    splits = [s for s in info.split_files if info.split_files[s]] or list(info.split_counts)
    tags = list(dict.fromkeys(["humc", *info.tags]))
    regional = [tag for tag in info.languages if "-" in tag]  # the Hub's `language` takes ISO 639 codes only
    return DatasetCardData(
        pretty_name=info.pretty_name or info.name,
        **hub_license(info.license),
        language=sorted({primary_language(tag) for tag in info.languages}) or None,
        **_language_details(regional),
        task_categories=list(info.task_categories) or None,
        task_ids=list(info.task_ids) or None,
        size_categories=[size_category(info.total)],
        source_datasets=list(info.source_datasets) or None,
        tags=tags,
        configs=[{"config_name": "default",
                  "data_files": [{"split": s, "path": f"data/{s}-*"} for s in splits]}],
        dataset_info=_dataset_info(info, splits),
    )


def _language_details(regional: list[str]) -> dict[str, Any]:
    """The card's `language_details` (BCP 47 tags: zh-TW), when a task's language has a region or script."""
    return {"language_details": regional} if regional else {}


def hub_license(license: str | None) -> dict[str, Any]:
    """The card's license keys for the recipe's ``license``: a Hub id in any case (the SPDX ``Apache-2.0``,
    ``CC-BY-4.0``, ``GPL-3.0-only``; words apart: ``CC BY 4.0``, ``Apache 2.0``) as the Hub's lowercase id; any other
    license as ``other`` with its name in ``license_name`` (lowercase words joined by ``-``), which is how the Hub
    takes a license not on its list."""
    text = (license or "").strip()
    if not text:
        return {"license": None}
    name = "-".join(re.findall(r"[a-z0-9.+]+", text.lower()))
    for key in (text.lower(), name, *_spelled_out(name)):
        if key.removesuffix("-only") in HUB_LICENSES:
            return {"license": key.removesuffix("-only")}
    return {"license": "other", "license_name": name or "custom"}


# a license's name written out, as its text titles it, and the words of its Hub id
_LICENSE_WORDS = (("gnu-affero-general-public", "agpl"), ("gnu-lesser-general-public", "lgpl"),
                  ("gnu-general-public", "gpl"), ("mozilla-public", "mpl"), ("eclipse-public", "epl"),
                  ("creative-commons", "cc"), ("attribution", "by"), ("share-alike", "sa"), ("sharealike", "sa"),
                  ("non-commercial", "nc"), ("noncommercial", "nc"), ("no-derivatives", "nd"),
                  ("noderivatives", "nd"), ("noderivs", "nd"))
_LICENSE_FILLER = frozenset({"license", "licence", "the", "version", "international", "universal"})


def _spelled_out(name: str) -> tuple[str, ...]:
    """Hub ids a license's written-out name may be (``mit-license`` → ``mit``, ``apache-license-version-2.0`` →
    ``apache-2.0``, ``creative-commons-attribution-sharealike-4.0-international`` → ``cc-by-sa-4.0``,
    ``gnu-general-public-license-v3.0`` → ``gpl-3.0``); the caller keeps only one on the Hub's list."""
    for long, short in _LICENSE_WORDS:
        name = re.sub(rf"(?<![a-z]){long}(?![a-z])", short, name)
    words = [re.sub(r"^v(?=\d)", "", w) for w in name.split("-") if w not in _LICENSE_FILLER]
    key = "-".join(words)
    return key, re.sub(r"-(\d+)$", r"-\1.0", key)  # `GPL v3`: gpl-3.0


def _dataset_info(info: CardInfo, splits: list[str]) -> dict[str, Any] | None:
    """Features and split sizes for the Hub viewer and for `datasets`, which casts the shards to these features,
    checks num_examples on load and keys its local cache on this metadata — so a rebuilt folder is never served
    from a stale cache. The sizes mean what they mean to `datasets`: ``num_bytes`` and ``dataset_size`` the Arrow
    size of the loaded data, ``download_size`` the Parquet files'."""
    if not info.split_bytes:
        return None
    memory = info.split_memory_bytes or info.split_bytes
    return {"config_name": "default", **({"features": info.features} if info.features else {}),
            "download_size": sum(info.split_bytes.values()), "dataset_size": sum(memory.get(s, 0) for s in splits),
            "splits": [{"name": s, "num_bytes": memory.get(s, 0), "num_examples": info.split_counts.get(s, 0)}
                       for s in splits]}


def hub_features(schema: Any) -> list[dict[str, Any]]:
    """A pyarrow schema as the `features` list of a card's ``dataset_info`` (the YAML form `datasets` writes:
    ``dtype`` for a value, ``list`` for a list, a list of named fields for a struct)."""
    return [{"name": f.name, **_feature_type(f.type)} for f in schema]


def _feature_type(t: Any) -> dict[str, Any]:
    import pyarrow as pa

    if pa.types.is_list(t) or pa.types.is_large_list(t):
        inner = _feature_type(t.value_type)
        return {"list": inner["dtype"] if set(inner) == {"dtype"} else inner.get("struct", inner)}
    if pa.types.is_struct(t):
        return {"struct": [{"name": f.name, **_feature_type(f.type)} for f in t]}
    names = {pa.string(): "string", pa.large_string(): "large_string", pa.int64(): "int64", pa.int32(): "int32",
             pa.float64(): "float64", pa.bool_(): "bool"}
    if t not in names:
        raise TypeError(f"no dataset feature for the Arrow type {t}")  # pragma: no cover - humc writes no other type
    return {"dtype": names[t]}


def render_card(info: CardInfo) -> str:
    """README.md text for a built dataset: YAML metadata block + Markdown body."""
    body = default_body(info)
    if info.user_template:
        body = _render_user_template(info, body)
    if not body.endswith("\n"):
        body += "\n"
    meta = card_metadata(info).to_yaml()
    text = f"---\n{meta}\n---\n\n{body}"  # what the Hub's DatasetCard writes (tests: a fixpoint)
    if "\x85" in meta:  # PyYAML writes a NEL in a quoted value as a line break, which reads back as a space: the
        from huggingface_hub import DatasetCard  # Hub's card writes that reading (a fixpoint only through it)

        return str(DatasetCard(text))
    return text


# ---------------------------------------------------------------------------- body


def default_template() -> Path:
    """The stdlib card template (``stdlib/cards/default.md.j2``)."""
    return stdlib_dir() / "cards" / "default.md.j2"


def card_variables(info: CardInfo) -> dict[str, Any]:
    """The plain dict a card template is rendered with: every ``CardInfo`` field and a few derived values."""
    variables = {k: v for k, v in asdict(info).items() if k != "user_template"}
    llms = [m for m in (public_llm(m) for m in info.llms) if m]
    totals: dict[str, int] = {}
    for counts in info.task_counts.values():
        for task, n in counts.items():
            totals[task] = totals.get(task, 0) + n
    variables.update(total=info.total, size_category=size_category(info.total), llms=llms,
                     llm_keys=_keys(llms), length_keys=_keys(info.length_stats.values()),
                     task_totals=dict(sorted(totals.items())), tasks=sorted({t for c in info.task_counts.values() for t in c}),
                     recipe_fence=_fence(info.recipe_text), llm_step_rows=_llm_step_rows(info),
                     llm_dropped=sum(sum(s["dropped"].values()) for s in info.llm_steps),
                     mixture_titles=MIXTURE_TITLES)
    return variables


def _llm_step_rows(info: CardInfo) -> list[list[str]]:
    """Valid answers per build-time LLM step, which records' answers a model wrote, and what the judge kept: how well
    the model did, stated."""
    return [[s["node"], s["form"], f"{s['valid']}/{s['asked']}" + (f" ({s['valid_rate']:.1%})" if s["asked"] else ""),
             generated_answers(s), " ".join(f"{k}:{v}" for k, v in s.get("scores", {}).items()),
             f"score < {s['min_score']}: {s['judge_dropped']} ({(s['judge_dropped_share'] or 0):.1%})" if "min_score" in s else "",
             ", ".join(f"{k}: {v}" for k, v in s["dropped"].items())] for s in info.llm_steps]


def generated_answers(step: dict[str, Any]) -> str:
    """Which records of a generate step's entry hold a model's answer, and how many of those are empty ([])."""
    if "generated" not in step:
        return ""
    which = "every record (`overwrite: true`)" if step["overwrite"] else "the records whose answer was empty"
    empty = f", {step['empty']} of them empty ([])" if step["empty"] else ""
    return f"{step['generated']}: {which}{empty}"


def _keys(rows: Any) -> list[str]:
    """The keys of a list of dicts, in order of first appearance (a table's columns)."""
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    return keys


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks inside ``text``."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def precompile_default() -> None:
    """Compile the stdlib card template ahead of the write (``writer.preload``): a 10 kB template, ~0.1 s."""
    precompile(default_template().read_text(encoding="utf-8"))


def default_body(info: CardInfo) -> str:
    """The card body from ``stdlib/cards/default.md.j2``."""
    path = default_template()
    text = render(path.read_text(encoding="utf-8"), card_variables(info), f"{path} (dataset card)",
                  Span(str(path), 1, 1))
    return text.rstrip("\n") + "\n"


# ---------------------------------------------------------------------------- user template


CARD_EXTRA_VARIABLES = ("body",)  # given to a user template besides card_variables(info)
DERIVED_VARIABLES = ("total", "size_category", "llms", "llm_keys", "length_keys", "task_totals", "tasks", "recipe_fence",
                     "llm_step_rows", "llm_dropped")


def card_variable_names() -> tuple[str, ...]:
    """Every variable a card template may read."""
    names = {f.name for f in fields(CardInfo)} - {"user_template"} | set(CARD_EXTRA_VARIABLES) | set(DERIVED_VARIABLES)
    return tuple(sorted(names))


def check_card_template(path: Path) -> None:
    """E2011 at `card.md.j2:LINE` for a card template variable the card does not provide (before any build work).

    An unreadable file is reported by the recipe check (``recipe/validate.py``) or when the card is written."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return
    problem = template_problem(text, (), card_variable_names())
    if problem is not None:
        raise problem.error(f"card template {path.name}", Span(str(path), 1, 1),
                            hint="the card template is Jinja2 (see docs/publishing.md)")


def _render_user_template(info: CardInfo, body: str) -> str:
    """The user's card template (a file path, or template text itself) rendered in the shared sandbox."""
    source = info.user_template or ""
    where, origin = "of the dataset card", None
    path = Path(source) if "\n" not in source and "{" not in source and len(source) < 4096 else None
    if path is not None:
        try:
            source = path.read_text(encoding="utf-8-sig")  # a BOM (Notepad's "UTF-8 with BOM") would precede the `---`
            where, origin = f"{path} (dataset card)", Span(str(path), 1, 1)
        except OSError as exc:
            raise HumcError(f"cannot read card template {path}: {exc.strerror or exc}",
                            hint="publish.card_template must name a Jinja2 Markdown file", code="E0009") from None
    variables = card_variables(info)
    variables["body"] = body
    try:
        return render(source, variables, where, origin, flavour="document")
    except HumcError as exc:
        if exc.code in ("E2011", "E4202") and exc.hint is None:  # syntax or a misspelt variable
            exc.hint = ("the card template is Jinja2 (see docs/publishing.md); available variables: body, "
                        + ", ".join(sorted(variables)))
        raise
