"""Looking after the build cache: what it holds, checking it, and reclaiming space (`humc cache`).

A cache folder holds the build store (node metas, record chunks and their notes, keyed by node
fingerprint; see ``store.py``), the LLM response cache in ``llm/``, the archive members sources read
(``archives/<archive digest>/``: ``gc`` keeps those the plans' sources read, ``clean`` drops them), and possibly
``cache.corrupt-*`` copies of broken indexes that were moved aside. Every function takes the
folder and returns a small report; the CLI only prints them.

Decisions:

* ``gc`` keeps exactly the entries reachable from the given plans: their nodes' metas, chunks and
  notes, and the shard entries (``shard/<digest>``) their write nodes list (``shards/<write fp>``).
  LLM responses stay unless asked (``llm=True``), since they cost money to ask for again and the
  kept node results never need them. Legacy entries (written before checksums) and
  moved-aside copies are never reachable, nor are value files the index does not list (a process killed between
  writing one and committing its row). Afterwards the index is vacuumed so the space really returns to the file
  system.
* ``clean`` deletes only what humc wrote into the folder, never a user's other files.
* ``gc``, ``clean`` and ``verify`` hold the cache folder's lock exclusively (``humc.locks``) while builds hold it
  shared: they wait for running builds to finish (saying so on stderr) and a build started meanwhile waits for
  them, so no entry a running build needs is deleted or moved aside under it. ``info`` only reads and takes no lock.
* The default folder is the recipe language's default (``.humc/cache``); with a recipe, its own
  resolved ``cache_dir`` is used, so `humc cache` looks where `humc build` writes.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from humc.build.corpus import PASS_MEMO
from humc.build.execute import BuildResult
from humc.build.llmsteps import CACHE_DROPPED, model_warnings
from humc.build.plan import Plan
from humc.build.reuse import MEMO
from humc.build.store import LLM_FOLDER, NOTES, key_node
from humc.cachedb import INDEX, CacheDB, corrupt_copies, folder_bytes, move_aside, quick_check, remove_cache_files, vacuum
from humc.dataset.manifest import empty_splits
from humc.dataset.writer import SHARDS_PREFIX
from humc.errors import HumcError
from humc.ir import HELD_OUT_DROPPED, HeldOut
from humc.locks import cache_lock
from humc.sources_readers import ARCHIVE_FOLDER, ARCHIVE_MEMOS

DEFAULT_CACHE = Path(".humc/cache")  # the default of the recipe's `cache:` key (recipe/validate.py)


@dataclass
class CacheInfo:
    """What a cache folder holds; ``nodes_cached`` maps a plan's node ids to whether they are stored."""

    path: Path
    exists: bool
    bytes: int = 0
    nodes: int = 0
    chunks: int = 0
    llm_responses: int = 0
    archives: int = 0  # archives whose members sources read, extracted (archives/<digest>/)
    legacy: int = 0
    corrupt_copies: list[Path] = field(default_factory=list)
    nodes_cached: dict[str, bool] = field(default_factory=dict)


@dataclass
class GcReport:
    nodes_kept: int
    nodes_removed: int
    entries_removed: int
    llm_removed: int
    bytes_before: int
    bytes_after: int

    @property
    def reclaimed(self) -> int:
        return max(0, self.bytes_before - self.bytes_after)


@dataclass
class VerifyReport:
    checked: int = 0
    dropped: int = 0
    moved_aside: list[Path] = field(default_factory=list)


def has_cache(folder: Path) -> bool:
    return (folder / INDEX).exists() or (folder / LLM_FOLDER / INDEX).exists() or (folder / ARCHIVE_FOLDER).is_dir()


def cache_info(folder: Path, plan: Plan | None = None) -> CacheInfo:
    """Size and entry counts of a cache folder; with a plan, which of its nodes are stored."""
    info = CacheInfo(folder, has_cache(folder))
    if not info.exists:
        info.nodes_cached = {n.id: False for n in plan.nodes if n.kind != "write"} if plan else {}
        return info
    metas: set[str] = set()
    with CacheDB(folder) if (folder / INDEX).exists() else contextlib.nullcontext() as db:
        for key in db.keys() if db is not None else ():
            kind, fp = key_node(key)
            if kind == "meta":
                metas.add(fp)
            elif kind == "chunk" and key.split("/")[2] not in (NOTES, MEMO, PASS_MEMO):
                info.chunks += 1
        info.legacy = len(db.legacy_keys()) if db is not None else 0
    info.nodes = len(metas)
    if (folder / LLM_FOLDER).is_dir():
        with CacheDB(folder / LLM_FOLDER, what="the LLM response cache") as llm:
            info.llm_responses = sum(1 for _ in llm.keys())
            info.legacy += len(llm.legacy_keys())
    info.corrupt_copies = corrupt_copies(folder) + corrupt_copies(folder / LLM_FOLDER)
    extracted = folder / ARCHIVE_FOLDER
    info.archives = sum(1 for p in extracted.iterdir() if p.is_dir() and p.name != ARCHIVE_MEMOS) \
        if extracted.is_dir() else 0
    info.bytes = folder_bytes(folder)
    if plan is not None:
        info.nodes_cached = {n.id: n.fingerprint in metas for n in plan.nodes if n.kind != "write"}
    return info


def _alone(folder: Path, command: str, wait: bool) -> AbstractContextManager[None]:
    """The cache folder's lock, exclusive: running builds finish first (``wait=False``: E3004 instead)."""
    return cache_lock(folder, command=command, shared=False, wait=wait)


def clean_cache(folder: Path, *, wait: bool = True) -> int:
    """Delete everything humc stored in ``folder`` (build results, LLM responses); returns bytes freed."""
    with _alone(folder, "humc cache clean", wait):
        before = folder_bytes(folder) if folder.is_dir() else 0
        remove_cache_files(folder / LLM_FOLDER)
        shutil.rmtree(folder / ARCHIVE_FOLDER, ignore_errors=True)
        remove_cache_files(folder)
        freed = before - (folder_bytes(folder) if folder.is_dir() else 0)
    with contextlib.suppress(OSError):  # emptied, but for the lock file the lock's release removed
        folder.rmdir()
    return freed


def gc_cache(folder: Path, plans: list[Plan], *, llm: bool = False, wait: bool = True) -> GcReport:
    """Keep only the entries the plans' nodes need (and LLM responses unless ``llm``)."""
    with _alone(folder, "humc cache gc", wait):
        try:
            return _gc(folder, plans, llm)
        except sqlite3.DatabaseError as exc:  # a damaged page the build reads past (an entry at a time) stops VACUUM
            raise HumcError(f"cannot reclaim space in the build cache {folder}: its index is damaged ({exc})",
                            code="E4401", expected="a sound cache index (cache.db)",
                            hint="run `humc cache verify` (it drops damaged entries and moves a broken index aside), "
                                 "then `humc cache gc` again") from None


def _gc(folder: Path, plans: list[Plan], llm: bool) -> GcReport:
    before = folder_bytes(folder)
    keep = {node.fingerprint for plan in plans for node in plan.nodes}
    kept: set[str] = set()
    removed: set[str] = set()
    entries = 0
    with CacheDB(folder) as db:
        keys = list(db.keys())
        # shards/<write fp> -> the digests of the shards that write wrote: shard/<digest> is kept while one is kept
        keep |= {str(d) for key in keys if key.startswith(SHARDS_PREFIX) and key_node(key)[1] in keep
                 for d in db.get(key) or []}
        for key in keys:
            kind, fp = key_node(key)
            if kind == "meta":
                (kept if fp in keep else removed).add(fp)
            if kind in ("reuse", "checked"):  # reuse/<shape>, checked/<shape> -> a node: kept while that node is
                fp = str(db.get(key))
            if fp not in keep:
                db.delete(key)
                entries += 1
        for stored in db.legacy_keys():
            db.delete_legacy(stored)
            entries += 1
    _drop_archives(folder / ARCHIVE_FOLDER, plans)
    llm_removed = _drop_llm(folder / LLM_FOLDER) if llm else 0
    for copy in corrupt_copies(folder) + corrupt_copies(folder / LLM_FOLDER):
        remove_cache_files(copy)
    for part in (folder, folder / LLM_FOLDER):
        _drop_unlisted(part)
    vacuum(folder)
    return GcReport(len(kept), len(removed), entries, llm_removed, before, folder_bytes(folder))


def _drop_archives(folder: Path, plans: list[Plan]) -> None:
    """Archive members (``archives/<digest>/``) that no plan's source reads, and the memos of their digests."""
    if not folder.is_dir():
        return
    used = {part for plan in plans for src in plan.recipe.sources.values() if src.path is not None
            and src.path.is_relative_to(folder) for part in src.path.relative_to(folder).parts[:1]}
    for item in folder.iterdir():
        if item.is_dir() and item.name != ARCHIVE_MEMOS and item.name not in used:
            shutil.rmtree(item, ignore_errors=True)
    for memo in (folder / ARCHIVE_MEMOS).glob("*"):
        with contextlib.suppress(OSError):
            if memo.read_text(encoding="ascii").strip() not in used:
                memo.unlink()


def _drop_llm(folder: Path) -> int:
    if not (folder / INDEX).exists():
        return 0
    with CacheDB(folder, what="the LLM response cache") as db:
        n = sum(1 for _ in db.keys()) + len(db.legacy_keys())
    remove_cache_files(folder)
    return n


def _drop_unlisted(folder: Path) -> None:
    """Remove the value files the index does not list: a process killed (-9) between writing an entry's value file
    and committing its row leaves one that nothing reads, and before, nothing removed."""
    if not (folder / INDEX).exists():
        return
    con = sqlite3.connect(str(folder / INDEX))
    try:
        listed = {Path(name).as_posix() for (name,) in con.execute("SELECT filename FROM Cache WHERE filename IS NOT NULL")}
    finally:
        con.close()
    for path in folder.glob("[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]/*.val"):
        if path.relative_to(folder).as_posix() not in listed:
            path.unlink(missing_ok=True)


def verify_cache(folder: Path, *, wait: bool = True) -> VerifyReport:
    """Check both indexes (moving a broken one aside) and read every entry, dropping damaged ones."""
    with _alone(folder, "humc cache verify", wait):
        return _verify(folder)


def _verify(folder: Path) -> VerifyReport:
    report = VerifyReport()
    for part, what in ((folder, "the build cache"), (folder / LLM_FOLDER, "the LLM response cache")):
        if not (part / INDEX).exists():
            continue
        if not quick_check(part / INDEX):
            report.moved_aside.append(move_aside(part))
        with CacheDB(part, what=what) as db:
            if db.moved_aside is not None:
                report.moved_aside.append(db.moved_aside)
            checked, dropped = db.verify()
        report.checked += checked
        report.dropped += dropped
    return report


def build_warnings(result: BuildResult) -> list[str]:
    """What a build should tell: cache indexes moved aside, one line counting damaged entries, declared splits that got
    no records, the recipe's ``notes`` (instructions not in the task's language, a params typo …), and LLM steps
    whose server answered as a model other than the one the recipe asks for."""
    lines = [f"the cache index in {p.parent} was unreadable: moved it to {p} and started a fresh cache"
             for p in result.cache_moved_aside]
    llm = sum(int(s.notes.get(CACHE_DROPPED, 0)) for s in result.stats if s.status != "cached")
    dropped = result.cache_dropped + llm
    if dropped:
        lines.append(f"dropped {dropped} damaged cache entr{'y' if dropped == 1 else 'ies'} and computed "
                     f"{'it' if dropped == 1 else 'them'} again (`humc cache verify` checks the whole cache)")
    manifest = result.metas.get("corpus/write", {}).get("manifest")
    empty = empty_splits(result.plan.recipe, manifest) if manifest else []
    if empty:
        lines.append(f"the declared split(s) {', '.join(empty)} got no records: the dataset has no such split "
                     "(more records, or larger fractions in output.splits, give it some)")
    return lines + empty_source_warnings(result) + held_out_warnings(result) + result.plan.recipe.notes() + \
        model_warnings(result.plan.recipe, result.metas)


def empty_source_warnings(result: BuildResult) -> list[str]:
    """A source that read no row while the build wrote others' records (a download that left an empty file, a CSV
    of its header only): its tasks give nothing, which a dataset of the other sources' records would not show."""
    lines = []
    for node in result.plan.nodes:
        meta = result.metas.get(node.id)
        if node.kind == "load" and meta is not None and not meta.get("out", 0):
            sid = str(node.config.get("source", ""))
            src = result.plan.recipe.sources.get(sid)
            what = f"its file {src.path} is empty or has a header only" if src is not None and src.path else "it is empty"
            lines.append(f"source '{sid}' read 0 rows ({what}): the tasks reading it gave no records")
    return lines


def held_out_warnings(result: BuildResult) -> list[str]:
    """`output.held_out` that put no instruction in its split: nothing used a held-out part, or `inputs: unseen`
    dropped every one (their source rows fell in other splits)."""
    held, split = result.plan.recipe.output.held_out, result.metas.get("corpus/split")
    notes = split.get("notes", {}) if split is not None else {}
    if held is None or split is None:
        return []
    if notes.get("held out"):
        return empty_held_out_parts(held, split.get("mixture", {}))
    dropped = int(notes.get(HELD_OUT_DROPPED, 0))
    why = (f"`inputs: unseen` dropped all {dropped} (their source rows fell in other splits; more source rows, a "
           f"larger '{held.split}' fraction or `inputs: shared` keep some)") if dropped else \
        "no instruction used a held-out template, format, label or task (more source rows give some)"
    return [f"output.held_out put no instruction in '{held.split}': {why}"]


def empty_held_out_parts(held: HeldOut, mixture: dict[str, dict[str, dict[str, int]]]) -> list[str]:
    """A held-out format or task that no instruction of the held-out split uses, while others do (the split's
    realised mixture counts them): a generalisation test that leaves out what it names."""
    lines = []
    for kind, dim, names in (("format", "format", held.formats), ("task", "task", held.tasks)):
        for name in names:
            counts = {**mixture.get("entry", {}).get(name, {}), **mixture.get(dim, {}).get(name, {})}
            if not counts.get(held.split):
                lines.append(f"output.held_out {kind} '{name}' is in no instruction of '{held.split}' (no instruction "
                             f"used it in a row of that split; more source rows, or `inputs: shared`, give some)")
    return lines
