"""Write stage: the split records -> a Hugging Face dataset folder, atomically.

    <out>/<name>/data/<split>-0000i-of-0000M.parquet
    <out>/<name>/README.md      dataset card (YAML metadata + provenance)
    <out>/<name>/build.json     manifest: plan fingerprint, file hashes, counts

Besides the record columns each row has ``messages``, its chat form (``export.messages_of``: the
instruction as the user turn, the output as the assistant turn), which chat trainers read as is.

**A shard is encoded once.** Its bytes are a function of its rows, and its rows are named, without being read, by
the split node's references (``WriteJob.runs``: the place each record was first stored) — so each shard has a digest
of those places, its split and the write settings (``SHARD_FORMAT``, humc, FORMAT_VERSION, pyarrow, schema,
``shard_rows``, compression). The build cache keeps ``shard/<digest>`` → the shard's sha256 and its share of the card's
statistics, and ``shards/<write fp>`` → the digests a write used (``humc cache gc`` keeps those of a kept write). A
shard whose sha256 the previous output folder's ``build.json`` lists is copied from there (the copy's hash checked)
instead of reading and encoding its rows; anything missing or different is encoded as before. The card's counts and
length histograms are merged per shard, so its quantiles stay exact and the folder is byte-identical to a cold build.

Everything is written into a temporary sibling folder (``.<name>.tmp-<pid>``) that replaces the
old one only when complete, so a failed or killed build never leaves partial output behind; a
temporary folder left by a killed build is removed by the next write (or the next build that finds the folder current).
That write holds the output folder's
exclusive lock, so every other ``.tmp-``/``.old-`` sibling is a dead build's, whatever its pid: a pid says nothing
once it is reused (a container restarted, a build killed days ago), and such a folder would otherwise stay forever.
The old folder is replaced only when humc owns it (``manifest.check_owned``: checked before the
temporary folder is made and again right before the swap), and an empty dataset is never written.
The writer itself takes no lock: ``build.compiler.build`` holds the output folder's lock (``humc.locks``) around
the whole build, so no two swaps (or a swap and a ``push_dataset`` reading the folder) ever overlap.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import itertools
import json
import math
import os
import re
import shutil
import sys
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from humc import FORMAT_VERSION, __version__
from humc.dataset.card import (
    add_mixture,
    hub_features,
    precompile_default,
    pyplot,
    realised_mixture,
    render_card,
    write_plots,
)
from humc.dataset.cardinfo import card_info, project_url
from humc.dataset.manifest import (
    MANIFEST,
    card_format,
    check_owned,
    empty_splits,
    output_is_current,
    plots_engine,
    read_manifest,
    sha256_file,
)
from humc.errors import SourceError
from humc.ir import Recipe
from humc.progress import Progress

Run = tuple[str, str, int, int, int, bool]  # records [start, stop) of one stored chunk: (node fp, stream, chunk,
#                                             start, stop, private keys stripped) — ``build.store.Run``
SHARD_FORMAT = "1"       # bump when a shard's bytes change for the same rows and settings
COMPRESSION = "zstd"
ROW_GROUP_ROWS = 50_000


class KeyValue(Protocol):
    """The build cache as the writer uses it (``cachedb.CacheDB``): small entries by key."""

    def get(self, key: str) -> Any | None: ...

    def set(self, key: str, value: Any) -> None: ...


@dataclass(frozen=True)
class WriteJob:
    """What the write stage needs from a build, and nothing of the executor: the split node's
    ``counts``, its streams as runs of places (``runs``, read without the records) and a reader of
    the records of runs (``rows``), the build cache (``cache``: shard entries), the fingerprints,
    and the other nodes' metas (for the card)."""

    recipe: Recipe
    fingerprint: str                                       # the write node's: the manifest proves it
    plan_fingerprint: str
    counts: dict[str, int]                                 # split -> records
    runs: Callable[[str], Iterator[Run]]                   # split -> where its records are, in order
    rows: Callable[[list[Run]], Iterator[dict[str, Any]]]  # runs -> their records, in order
    cache: KeyValue
    metas: Mapping[str, Mapping[str, Any]]
    progress: Progress


@dataclass(frozen=True)
class WriteResult:
    meta: dict[str, Any]
    records: int
    cached: bool

STRING_COLUMNS = ("id", "task", "task_entry", "family", "language", "instruction", "output", "gold", "answer_format",
                  "template")
LIST_COLUMNS = ("labels", "guidelines", "rules")


@functools.lru_cache(maxsize=1)
def preload() -> None:
    """Import what writing needs (pyarrow.parquet, the pandas shim pyarrow loads on its first table conversion, the
    Hub's card classes, matplotlib: 1–2 s on a slow machine), compile the card template and read the project URL ahead
    of time; the build calls it in a background thread while it waits for an LLM, so the write starts at once."""
    try:
        write_imports()
        precompile_default()
        project_url()
    except Exception:  # pragma: no cover - best effort: the write itself reports what is missing
        pass
    pyplot()  # the card's plots (humc[plots]): matplotlib takes ~0.5 s to import


def write_imports() -> None:
    """Import what the write needs but the plots (pyarrow.parquet, the pandas shim pyarrow loads on its first table
    conversion, the Hub's card classes). ``write_dataset`` calls it before it starts its threads, so that the main
    thread imports nothing while the plot thread imports matplotlib: a Ctrl-C that lands inside an import of the main thread while another
    thread imports can leave CPython's import lock held (``Exception ignored in: _get_module_lock.<locals>.cb``),
    and the clean-up, waiting for the plot thread stuck on that lock, then hung forever (found by a chaos run)."""
    import pyarrow as pa
    import pyarrow.parquet  # noqa: F401
    from huggingface_hub import DatasetCardData  # noqa: F401

    schema = parquet_schema()
    pa.Table.from_pydict({name: [] for name in schema.names}, schema=schema)


def parquet_schema() -> Any:
    """The Parquet schema of every shard (pyarrow is imported here, on the write path only)."""
    import pyarrow as pa

    return pa.schema([*((name, pa.string()) for name in STRING_COLUMNS),
                      *((name, pa.list_(pa.string())) for name in LIST_COLUMNS),
                      ("source", pa.string()), ("source_row", pa.int64()),
                      ("messages", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())])))])


class _Stats:
    """Counts and length statistics for the dataset card, gathered while writing."""

    def __init__(self) -> None:
        self.task_counts: dict[str, Counter[str]] = defaultdict(Counter)
        self.variants: Counter[str] = Counter()
        self.templates: Counter[str] = Counter()
        # length -> count: exact quantiles in memory bounded by the longest text, not by the row count
        self.lengths: dict[str, Counter[int]] = {"instruction": Counter(), "output": Counter()}
        self.memory_bytes: Counter[str] = Counter()  # split -> Arrow bytes of its shards (the card's num_bytes)

    def add_columns(self, split: str, columns: Mapping[str, list[Any]]) -> None:
        """Count a shard's rows from its columns (in row order: first-seen order as record by record)."""
        self.task_counts[split].update(columns["task_entry"])
        self.variants.update(columns["answer_format"])
        self.templates.update(columns["template"])
        for column, histogram in self.lengths.items():
            histogram.update(map(len, columns[column]))

    def entry(self, split: str) -> dict[str, Any]:
        """This (one shard's) statistics as a cache entry: pairs in first-seen order, so merging the shards' entries
        in shard order gives the counters one pass over every record would."""
        return {"tasks": list(self.task_counts[split].items()), "variants": list(self.variants.items()),
                "templates": list(self.templates.items()),
                "lengths": {column: list(h.items()) for column, h in self.lengths.items()}}

    def merge(self, split: str, entry: Mapping[str, Any]) -> None:
        """Add one shard's ``entry`` (the histograms merge exactly: the quantiles stay exact)."""
        self.task_counts[split].update(dict(entry["tasks"]))
        self.variants.update(dict(entry["variants"]))
        self.templates.update(dict(entry["templates"]))
        for column, histogram in self.lengths.items():
            histogram.update(dict(entry["lengths"][column]))

    def length_stats(self) -> dict[str, dict[str, float]]:
        out = {}
        for column, histogram in self.lengths.items():
            n = sum(histogram.values())
            if not n:
                continue
            lengths = sorted(histogram)
            out[column] = {"min": lengths[0], "mean": round(sum(k * c for k, c in histogram.items()) / n, 1),
                           "p50": _quantile(histogram, lengths, n // 2),
                           "p95": _quantile(histogram, lengths, min(n - 1, int(n * 0.95))), "max": lengths[-1]}
        return out


def _quantile(histogram: Counter[int], lengths: list[int], rank: int) -> int:
    """The value at 0-based position `rank` of the sorted data the histogram describes."""
    seen = 0
    for length in lengths:
        seen += histogram[length]
        if seen > rank:
            return length
    return lengths[-1]


def write_dataset(job: WriteJob) -> WriteResult:
    """Write the dataset folder (or find it current) and return the manifest as the node's meta."""
    recipe = job.recipe
    final = recipe.output.dir
    if output_is_current(recipe, job.fingerprint):
        _remove_stale_siblings(final)  # a swap killed before it removed the previous build (now a `.tmp-` folder)
        manifest = read_manifest(final) or {}
        return WriteResult({"chunks": {}, "manifest": manifest}, sum(manifest.get("counts", {}).values()), True)
    counts = job.counts
    if not sum(counts.values()):  # the build stage explains where records went; this guards the folder
        raise SourceError("the dataset would be empty (0 records); nothing was written", code="E4104")
    check_owned(recipe)
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_siblings(final)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
    write_imports()  # before any thread of the write starts (see there)
    drawing = ThreadPoolExecutor(1, thread_name_prefix="humc-plots")
    try:  # from the moment the temporary folder exists: whatever stops the write (Ctrl-C too) removes it
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "data").mkdir(parents=True)
        stats = _Stats()
        shards = _Shards(job, _previous_shards(final))  # the old folder is read before it is replaced
        # the card's plots need only the split node's counts: drawn in a thread while the shards are written
        plots = drawing.submit(write_plots, realised_mixture(job.metas), tmp)
        split_files = _write_shards(job, tmp, stats, shards)
        written = sum(counts.values())
        _write_card(job, tmp, split_files, stats, plots.result())
        files = {rel: shards.hashes.get(rel) or sha256_file(p)
                 for p in sorted(tmp.rglob("*")) if p.is_file() for rel in [str(p.relative_to(tmp))]}
        manifest = {"fingerprint": job.fingerprint, "recipe": recipe.name, "humc_version": __version__,
                    "counts": {k: v for k, v in counts.items() if v}, "files": files, "plots": plots_engine(),
                    "card": card_format()}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        check_owned(recipe)  # again: someone may have added a file while the build ran
        job.cache.set(f"{SHARDS_PREFIX}{job.fingerprint}", shards.digests)  # what `humc cache gc` keeps for it
        replace_dir(tmp, final)
    finally:
        drawing.shutdown(wait=True)  # never remove the folder under a plot being drawn
        shutil.rmtree(tmp, ignore_errors=True)
    return WriteResult({"chunks": {}, "manifest": manifest}, written, False)


SHARD_PREFIX = "shard/"    # shard/<digest> -> {"sha256", "rows", "nbytes", "stats"}: a shard's file hash, Arrow size, card statistics
SHARDS_PREFIX = "shards/"  # shards/<write fp> -> [digest, ...]: the shards that write node wrote


class _Shards:
    """Reuse of unchanged shards within one write: the previous folder's shards by sha256, the settings every
    shard digest starts from, and what this write learnt (each file's sha256, the digests in order)."""

    def __init__(self, job: WriteJob, previous: dict[str, Path]) -> None:
        import pyarrow as pa

        self.job, self.previous = job, previous
        shard_rows = job.recipe.output.shard_rows
        self.settings = json.dumps({"shard": SHARD_FORMAT, "v": FORMAT_VERSION, "humc": __version__,
                                    "pyarrow": pa.__version__, "schema": str(parquet_schema()),
                                    "shard_rows": shard_rows, "row_group": min(shard_rows, ROW_GROUP_ROWS),
                                    "compression": COMPRESSION}, sort_keys=True)
        self.hashes: dict[str, str] = {}   # relative path -> sha256 of the files this write put in the folder
        self.digests: list[str] = []

    def digest(self, split: str, runs: list[Run]) -> str:
        h = hashlib.blake2b(f"{self.settings}\0{split}\0".encode(), digest_size=20)
        for fp, stream, i, start, stop, strip in runs:
            h.update(f"{fp}\0{stream}\0{i}\0{start}\0{stop}\0{int(strip)}\n".encode())
        return h.hexdigest()

    def reuse(self, digest: str, target: Path) -> dict[str, Any] | None:
        """The cached entry of a shard once its file is copied from the previous folder into ``target`` (the
        copy's sha256 checked); None when there is no entry, no such file, or the copy differs."""
        entry = self.job.cache.get(SHARD_PREFIX + digest)
        if not isinstance(entry, dict) or not isinstance(entry.get("stats"), dict) or \
                not isinstance(entry.get("nbytes"), int):  # an entry of a humc that did not count them: encode again
            return None
        source = self.previous.get(str(entry.get("sha256")))
        if source is None:
            return None
        try:
            shutil.copyfile(source, target)
            copied = sha256_file(target)
        except OSError:
            copied = ""
        if copied != entry["sha256"]:
            target.unlink(missing_ok=True)
            return None
        return entry


def _previous_shards(final: Path) -> dict[str, Path]:
    """sha256 -> shard file of the output folder as its manifest lists it (empty without one)."""
    manifest = read_manifest(final) or {}
    files = manifest.get("files")
    if not isinstance(files, dict):
        return {}
    return {str(sha): final / rel for rel, sha in files.items()
            if str(rel).startswith("data/") and str(rel).endswith(".parquet")}


def shard_runs(runs: Iterator[Run], size: int) -> Iterator[list[Run]]:
    """The runs of consecutive ``size``-record shards (the last may be shorter), each a canonical list: adjacent
    runs of one chunk are joined, so the same records give the same list however they were chunked."""
    shard: list[Run] = []
    n = 0
    for fp, stream, i, start, stop, strip in runs:
        while start < stop:
            take = min(stop - start, size - n)
            last = shard[-1] if shard else None
            if last is not None and last[:3] == (fp, stream, i) and last[4] == start and last[5] == strip:
                shard[-1] = (fp, stream, i, last[3], start + take, strip)
            else:
                shard.append((fp, stream, i, start, start + take, strip))
            start += take
            n += take
            if n == size:
                yield shard
                shard, n = [], 0
    if shard:
        yield shard


@dataclass
class _Shard:
    split: str
    name: str        # data/<split>-<k>-of-<n>.parquet
    digest: str
    runs: list[Run]
    reused: dict[str, Any] | None  # its cache entry when copied from the previous folder, else None: encode it


def _write_shards(job: WriteJob, folder: Path, stats: _Stats, shards: _Shards) -> dict[str, list[str]]:
    """Every split's shards (split -> file names): each reused (``_Shards.reuse``) or encoded. The rows of the
    shards to encode are read in one pass (``_gathered``: every stored chunk decoded once, however many splits
    share it); each shard is made a table as soon as its rows are in, while a thread writes the one before it
    (Parquet encoding and zstd run outside the GIL). The card's counters merge in split and shard order."""
    shard_rows = job.recipe.output.shard_rows
    plan: list[_Shard] = []
    for split, count in job.counts.items():
        if count == 0:
            continue
        n_shards = max(1, math.ceil(count / shard_rows))
        names = [f"data/{split}-{i:05d}-of-{n_shards:05d}.parquet" for i in range(n_shards)]
        for name, runs in zip(names, shard_runs(job.runs(split), shard_rows), strict=True):
            digest = shards.digest(split, runs)
            plan.append(_Shard(split, name, digest, runs, shards.reuse(digest, folder / name)))
    written: dict[int, Future[dict[str, Any]]] = {}
    with job.progress.task("write", total=sum(job.counts.values())) as advance, \
            ThreadPoolExecutor(1, thread_name_prefix="humc-parquet") as writer:
        advance(sum(int(s.reused["rows"]) for s in plan if s.reused is not None))
        waiting: deque[Future[dict[str, Any]]] = deque()
        todo = [(k, s.runs) for k, s in enumerate(plan) if s.reused is None]
        for k, rows in _gathered(job.rows, todo, limit=max(4, len(job.counts)) * shard_rows):
            table, entry = _shard_table(plan[k].split, rows)
            written[k] = writer.submit(_write_shard, table, entry, folder / plan[k].name, shard_rows)
            waiting.append(written[k])
            while len(waiting) > 1:  # at most one more table waits for the writer
                waiting.popleft().result()
            advance(len(rows))
    for k, shard in enumerate(plan):
        entry = shard.reused or written[k].result()
        if shard.reused is None:
            job.cache.set(SHARD_PREFIX + shard.digest, entry)
        stats.merge(shard.split, entry["stats"])
        stats.memory_bytes[shard.split] += entry["nbytes"]
        shards.hashes[shard.name] = entry["sha256"]
        shards.digests.append(shard.digest)
    return {split: [s.name for s in plan if s.split == split] for split in dict.fromkeys(s.split for s in plan)}


def _gathered(rows: Callable[[list[Run]], Iterator[dict[str, Any]]], wanted: list[tuple[int, list[Run]]],
              limit: int) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """(k, its rows) of each wanted shard, as soon as they are all read. The stored chunks are read in the order the
    shards (in order) first need them, each once for all the shards that need it. Should more than ``limit`` rows
    of unfinished shards be held (a split whose chunks come late), the shards left are read one by one instead."""
    needs: dict[tuple[str, str, int], list[tuple[int, int, Run]]] = {}
    parts: dict[int, list[list[dict[str, Any]]]] = {}
    missing: dict[int, int] = {}
    for k, runs in wanted:
        parts[k] = [[] for _ in runs]
        for j, run in enumerate(runs):
            needs.setdefault(run[:3], []).append((k, j, run))
        missing[k] = len({run[:3] for run in runs})
    held = 0
    for chunk_needs in needs.values():
        read = rows([run for _, _, run in chunk_needs])  # runs of one chunk: it is decoded once
        for k, j, run in chunk_needs:
            parts[k][j] = list(itertools.islice(read, run[4] - run[3]))
            held += run[4] - run[3]
        for k in dict.fromkeys(k for k, _, _ in chunk_needs):
            missing[k] -= 1
            if not missing[k]:
                done = [record for part in parts.pop(k) for record in part]
                held -= len(done)
                yield k, done
        if held > limit:
            break
    for k, runs in wanted:  # only after the break above: what is left, shard by shard
        if k in parts:
            parts.pop(k)
            yield k, list(rows(runs))


def _shard_table(split: str, batch: list[dict[str, Any]]) -> tuple[Any, dict[str, Any]]:
    """A shard's records as a Parquet table, and the shard's cache entry but its file's hash."""
    import pyarrow as pa

    schema = parquet_schema()
    names = [column for column in schema.names if column != "messages"]
    columns = {column: [record.get(column) for record in batch] for column in names}
    local = _Stats()
    local.add_columns(split, columns)
    arrays = [pa.array(columns[column], schema.field(column).type) for column in names]
    table = pa.Table.from_arrays([*arrays, _messages_array(len(batch), columns, schema.field("messages").type)], schema=schema)
    return table, {"rows": len(batch), "nbytes": table.nbytes, "stats": local.entry(split)}


def _messages_array(n: int, columns: Mapping[str, list[Any]], kind: Any) -> Any:
    """The `messages` column (``messages_of`` of each record) built from the instruction and output columns: one
    list of the interleaved texts under fixed offsets, not two dicts per record for Arrow to take apart."""
    import pyarrow as pa

    contents: list[str | None] = [None] * (2 * n)
    contents[0::2], contents[1::2] = columns["instruction"], columns["output"]  # texts (their lengths are counted)
    turns = pa.StructArray.from_arrays([pa.array(["user", "assistant"] * n, pa.string()), pa.array(contents, pa.string())],
                                       fields=list(kind.value_type))
    return pa.ListArray.from_arrays(pa.array(range(0, 2 * n + 1, 2), pa.int32()), turns, type=kind)


def _write_shard(table: Any, entry: dict[str, Any], path: Path, shard_rows: int) -> dict[str, Any]:
    """Write one shard's table; its cache entry, with the file's sha256."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with pa.OSFile(str(path), "wb") as sink:  # closed even when the write fails (a full disk)
        pq.write_table(table, sink, compression=COMPRESSION, row_group_size=min(shard_rows, ROW_GROUP_ROWS))
    return {"sha256": sha256_file(path), **entry}


def _write_card(job: WriteJob, folder: Path, split_files: dict[str, list[str]], stats: _Stats,
                plots: list[str]) -> None:
    info = card_info(job.recipe, job.plan_fingerprint, job.metas, split_files,
                     {k: v for k, v in job.counts.items() if v}, stats.task_counts, stats.variants, stats.templates,
                     stats.length_stats(),
                     {split: sum((folder / f).stat().st_size for f in files) for split, files in split_files.items()})
    add_mixture(info, job.metas, plots)  # realised mixture tables and plots (plots/*.png, in build.json)
    info.split_memory_bytes = {split: stats.memory_bytes[split] for split in split_files}
    info.features = hub_features(parquet_schema())
    info.empty_splits = empty_splits(job.recipe, {"counts": job.counts})
    (folder / "README.md").write_text(render_card(info), encoding="utf-8")


def replace_dir(new: Path, final: Path) -> None:
    """Swap a finished folder into place; the old one is removed only after the rename. On Linux the two folders
    are exchanged in one step (the dataset folder is never missing, even under kill -9); elsewhere, should the
    second rename not happen (Ctrl-C or SIGTERM between the two, a refused rename), the old folder is moved back:
    only a kill -9 there leaves the dataset folder missing, and the next write moves it back
    (``_remove_stale_siblings``)."""
    if final.is_dir() and not final.is_symlink() and _exchange(new, final):
        shutil.rmtree(new, ignore_errors=True)  # now the previous build
        return
    old = final.parent / f".{final.name}.old-{os.getpid()}"
    try:
        if final.exists():
            os.replace(final, old)
        os.replace(new, final)
    except BaseException:
        if old.exists() and not final.exists():
            os.replace(old, final)
        raise
    shutil.rmtree(old, ignore_errors=True)


RENAME_EXCHANGE = 2  # <linux/fs.h>
AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders atomically (Linux renameat2 RENAME_EXCHANGE); False where the system or file system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # pragma: no cover - a libc older than glibc 2.28
        return False
    return bool(renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0)


def _remove_stale_siblings(final: Path) -> None:
    """Remove the ``.<name>.tmp-<pid>`` / ``.<name>.old-<pid>`` folders of builds that were killed (any but this
    process's: the caller holds the output folder's exclusive lock, so no other write is under way); a killed swap's
    ``.old-`` folder is moved back first when the dataset folder itself is missing."""
    pattern = re.compile(rf"^\.{re.escape(final.name)}\.(tmp|old)-(\d+)$")
    for sibling in sorted(final.parent.iterdir()):
        match = pattern.match(sibling.name)
        if not match or not sibling.is_dir() or int(match.group(2)) == os.getpid():
            continue
        if match.group(1) == "old" and not final.exists():
            os.replace(sibling, final)
        else:
            shutil.rmtree(sibling, ignore_errors=True)
