"""The front door: recipe path -> validated IR -> plan -> executed build (or an in-memory dry run).

The CLI and tests call these; each stage module stays independent of the others' callers.
``dry_run`` (`humc check`) pushes the first rows of every entry through the very chunk
functions a build uses (map, filter, labels, render, check) without a cache or an output,
so it raises the same errors and counts the same problems; LLM steps are skipped.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from humc.build.corpus import split_at, split_key
from humc.build.execute import (
    CHUNK_SIZE,
    BuildResult,
    ChunkFn,
    Executor,
    NodeStats,
    Records,
    check_chunk_fn,
    entry_reads_no_header,
    filter_chunk_fn,
    map_chunk_fn,
    render_chunk_fn,
    sample_records,
    source_file,
    split_result,
)
from humc.build.parallel import held_signals
from humc.build.plan import Plan, build_plan
from humc.build.problems import META_KEY, ProblemRow, empty_hint, problem_rows, strict_error
from humc.build.rendering import RenderContext
from humc.build.store import Store
from humc.build.transforms import HashPrefix, collect_labels, sorted_roles
from humc.dataset.card import check_card_template
from humc.dataset.hub import PushResult, check_repo_id, hub_endpoint, push_dataset, resolve_token
from humc.dataset.manifest import check_owned, read_manifest
from humc.errors import ErrorList, HumcError, PublishError, RecipeError, SourceError, did_you_mean
from humc.ir import ABLATIONS, FolderOrigin, Recipe, TaskEntry
from humc.locks import cache_lock, folder_lock
from humc.progress import Progress
from humc.recipe.folders import check_folders, describe_origin
from humc.recipe.validate import compile_recipe
from humc.sources import read_source
from humc.sources_hub import pinned_source


def load_recipe(path: Path, *, out_dir: Path | None = None, cache_dir: Path | None = None,
                strict: bool = False) -> Recipe:
    """Compile a recipe; ``out_dir``/``cache_dir`` (``--out``/``--cache``) override it and resolve against the
    current directory, while the recipe's own folders resolve against its folder. Unsafe folders fail (E3002).
    ``strict`` turns on `output.strict` (command-line --strict)."""
    recipe = compile_recipe(path, cache_dir=None if cache_dir is None else _absolute(cache_dir))
    if out_dir is not None:
        output = replace(recipe.output, dir=_absolute(out_dir) / recipe.name, dir_origin=FolderOrigin("--out"))
        recipe = replace(recipe, output=output)
    if cache_dir is not None:
        recipe = replace(recipe, cache_dir=_absolute(cache_dir), cache_origin=FolderOrigin("--cache"))
    if strict:
        recipe = replace(recipe, output=replace(recipe.output, strict=True))
    check_folders(recipe)
    template = (recipe.publish.card if recipe.publish is not None else {}).get("template")
    if template is not None:
        check_card_template(Path(template))
    return recipe


def pinned(recipe: Recipe) -> Recipe:
    """The recipe with its Hub datasets' revisions pinned to the commits they name now (``sources_hub``): what a
    plan or a dry run reads, and what push compares a build with. Commands that read no source (export, eval,
    review, push of a folder) leave the Hub alone."""
    decon = recipe.output.decontaminate
    if decon is not None:
        against = tuple(pinned_source(src) for src in decon.against)
        recipe = replace(recipe, output=replace(recipe.output, decontaminate=replace(decon, against=against)))
    return replace(recipe, sources={sid: pinned_source(src) for sid, src in recipe.sources.items()})


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path))


def plan_recipe(path: Path, *, out_dir: Path | None = None, cache_dir: Path | None = None, strict: bool = False) -> Plan:
    return build_plan(pinned(load_recipe(path, out_dir=out_dir, cache_dir=cache_dir, strict=strict)))


def ablated(recipe: Recipe, what: str) -> Recipe:
    """The recipe's ablation dataset ``<name>-no-<what>`` beside its output folder: the same source rows,
    samples, seeds and splits, one instruction part left out (``ir.ABLATIONS``):

    guidelines: no guideline is shown;  rules: no preference rule is stated (the gold still obeys them);
    formats: every instruction uses the entry's first format;  templates: only the entry's first template."""
    if what not in ABLATIONS:
        raise RecipeError(f"unknown ablation '{what}'", expected="any of: " + ", ".join(ABLATIONS),
                          hint=did_you_mean(what, ABLATIONS), code="E0008")
    tasks = []
    for entry in recipe.tasks:
        if what == "guidelines":
            entry = replace(entry, guidelines=())
        elif what == "rules":
            entry = replace(entry, mix=replace(entry.mix, rules=0.0))
        elif what == "formats":
            entry = replace(entry, mix=replace(entry.mix, formats=0.0))
        else:
            entry = replace(entry, templates=entry.templates[:1])
        tasks.append(entry)
    name = f"{recipe.name}-no-{what}"
    return replace(recipe, name=name, tasks=tuple(tasks), ablations=(),
                   output=replace(recipe.output, dir=recipe.output.dir.parent / name))


def ablation_plans(plan: Plan, extra: tuple[str, ...] = ()) -> list[Plan]:
    """Plans of the recipe's `ablations:` and of ``extra`` (`--ablate`), in that order, each once."""
    return [build_plan(ablated(plan.recipe, what)) for what in dict.fromkeys((*plan.recipe.ablations, *extra))]


def build(plan: Plan, *, progress: Progress | None = None, stop_after: str | None = None,
          executor: str | None = None, ray_address: str | None = None, jobs: int | None = None, wait: bool = True,
          **ray_options: Any) -> BuildResult:
    """Run the plan with the local executor or on Ray (``executor``, else the recipe's
    ``executor:`` key, else local); both write byte-identical output from the same cache. ``jobs``: the local
    executor's worker processes for rendering (default ``$HUMC_JOBS``, else one per CPU; never changes the output).

    The build holds its output folder's lock (exclusive) and its cache folder's (shared) from start to end
    (``humc.locks``): a second build of the same output waits, then finds the work cached; `humc cache gc` waits for
    it. ``wait=False`` (``--no-wait``) fails with E3004 instead of waiting."""
    with build_locks([plan], wait=wait):
        return _build(plan, progress, stop_after, executor, ray_address, jobs, ray_options)


@contextlib.contextmanager
def build_locks(plans: Sequence[Plan], *, wait: bool = True) -> Iterator[None]:
    """The locks the plans' builds take (each output folder exclusive, each cache shared), all taken before the
    first is built, outputs first and in path order (so two commands never wait for each other's): `humc build
    --ablate … --no-wait` fails on a folder in use before any of its datasets is written."""
    for plan in plans:  # every folder checked before any lock is taken or any dataset written
        check_folders(plan.recipe)
        _check_output_folder(plan.recipe)
        _check_stream_recipe(plan.recipe)
        _check_outside_datasets(plan.recipe)
    with contextlib.ExitStack() as stack:
        for folder in sorted({plan.recipe.output.dir for plan in plans}):
            stack.enter_context(folder_lock(folder, what="output folder", command="humc build", wait=wait))
        for folder in sorted({plan.recipe.cache_dir for plan in plans}):
            stack.enter_context(cache_lock(folder, command="humc build", wait=wait))
        yield


def _build(plan: Plan, progress: Progress | None, stop_after: str | None, executor: str | None,
           ray_address: str | None, jobs: int | None, ray_options: dict[str, Any]) -> BuildResult:
    kind = executor or plan.recipe.executor
    check_owned(plan.recipe)  # before any work: a folder humc did not write is never replaced (E3003)
    store = Store(plan.recipe.cache_dir)
    try:
        if kind == "ray":
            from humc.build.execute_ray import RayExecutor

            ex = RayExecutor(plan, store, progress, address=ray_address, **ray_options)
            try:
                return ex.run(stop_after=stop_after)
            finally:
                ex.close()
        return Executor(plan, store, progress, jobs=jobs).run(stop_after=stop_after)
    except OSError as exc:
        error = _unwritable(plan.recipe, exc)
        if error is None:
            raise
        raise error from None
    finally:
        store.close()


_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})  # EFBIG: a file-size limit (FAT32, ulimit -f)
_NO_ROOM = _FULL | {errno.EACCES, errno.EPERM}


def _unwritable(recipe: Recipe, exc: OSError) -> HumcError | None:
    """A full disk, a read-only or refused folder while the build writes (the writer works in a temporary
    sibling folder and removes it, so the old output stays as it was), or None for any other OSError."""
    name = exc.filename if isinstance(exc.filename, str) else None
    root = recipe.output.dir.absolute().parent
    inside = name is not None and Path(name).absolute().is_relative_to(root)
    if exc.errno not in _NO_ROOM and not inside:
        return None
    what = name or "the dataset"
    verb = "write" if inside or exc.errno in _FULL else "use"  # EACCES on a source file: not a write
    return HumcError(f"cannot {verb} {what}: {exc.strerror or exc}", recipe.output.dir_origin.span, code="E3002",
                     expected="a writable output and cache folder with free space",
                     hint=("the file system or `ulimit -f` limits a file's size: a smaller `output.shard_rows` keeps "
                           "each shard under it" if exc.errno == errno.EFBIG else
                           "free space or pass writable folders with --out and --cache")
                     + "; nothing was written (an existing output folder is left as it was)")


# ---------------------------------------------------------------- dry run (`humc check`)


@dataclass
class EntryCheck:
    """What a dry run found for one task entry (``metas`` like a build's: node id -> notes and problems)."""

    entry: str
    rows_read: int = 0
    kept: int = 0                  # after map, filter (and sample, when every row was read)
    rendered: int = 0              # instruction records that passed render and check
    skipped: list[str] = field(default_factory=list)
    metas: dict[str, dict[str, Any]] = field(default_factory=dict)
    row_texts: dict[tuple[Any, ...], str] = field(default_factory=dict)  # a checked record's split key -> input text

    @property
    def skipped_render(self) -> bool:
        """Render and check did not run (an LLM `generate` step comes first), so ``rendered`` says nothing."""
        return any(s.startswith("generate") for s in self.skipped)


@dataclass(frozen=True)
class SharedText:
    """An input text that rows of two or more splits hold (the same text in train and test)."""

    text: str
    splits: tuple[str, ...]
    entries: tuple[str, ...]   # the task entries whose rows hold it


@dataclass
class DryRun:
    recipe: Recipe
    rows: int | None
    entries: list[EntryCheck]

    @cached_property
    def shared_texts(self) -> list[SharedText]:
        """The input texts that the rows checked put in more than one split: splits are assigned per source row (or
        `split_by:` value), so two rows of one text (CoNLL's "LONDON 1996-08-30" datelines, a repeated tweet) may
        fall in two. Computed as the build's split node assigns them (``corpus.Split.split_names``)."""
        splits = self.recipe.output.splits
        if len(splits) < 2:
            return []
        row_hash = HashPrefix("split", self.recipe.output.seed)
        found: dict[str, tuple[set[str], set[str]]] = {}
        for e in self.entries:
            for (source, row, group), text in e.row_texts.items():
                if text.strip():
                    names, entries = found.setdefault(text, (set(), set()))
                    names.add(split_at(splits, row_hash(*split_key(source, row, group))))
                    entries.add(e.entry)
        order = [name for name, _ in splits]
        return [SharedText(text, tuple(sorted(names, key=order.index)), tuple(sorted(entries)))
                for text, (names, entries) in found.items() if len(names) > 1]

    def problems(self) -> list[ProblemRow]:
        return problem_rows(self.recipe, {k: v for e in self.entries for k, v in e.metas.items()})

    @property
    def writes_nothing(self) -> bool:
        """No row checked gave a record, and no entry's records were left unchecked (an LLM `generate` step)."""
        return bool(self.entries) and not any(e.rendered or e.skipped_render for e in self.entries)


def empty_dry_run_error(result: DryRun) -> SourceError:
    """E4104 for a dry run of every row that kept no record: the error the build would stop with, before it runs."""
    notes, span, dropped = [], None, []
    wheres = {e.id: e.where for e in result.recipe.tasks}
    for e in result.entries:
        notes.append(f"{e.entry}: {e.rows_read} row(s) read, {e.kept} kept, 0 passed render and check")
        rows = problem_rows(result.recipe, e.metas)
        dropped += rows
        notes += [f"{r.reason} at " + "; ".join(r.first) for r in rows if r.first]
        where = wheres.get(e.entry)
        if e.rows_read and not e.kept and where is not None:
            span = span or where.src.span
    return SourceError("a build would write 0 records: no row of any source gives a record", span, code="E4104",
                       notes=notes, expected="at least one record after filtering, sampling and checks",
                       hint=empty_hint(dropped, "check the sources and `where:` filters (the notes say why rows "
                                                "were dropped)") + "; nothing was written")


def dry_run(recipe: Recipe, rows: int | None = 100) -> DryRun:
    """Open every source the build reads and push the first ``rows`` rows (None: all) of each
    entry through map -> filter -> [sample] -> labels -> render -> check in memory.

    Raises what `humc build` would raise on those rows (same codes and locations), including
    E4103 when the recipe is strict and a problem record is found, and E4104 when every row was read and none
    gives a record; writes nothing."""
    recipe = pinned(recipe)
    used = [sid for sid in recipe.sources if any(e.source == sid for e in recipe.tasks)]
    raw = {sid: [{"_row": row.number, "_line": row.line, "raw": row.record}
                 for row in _first(read_source(recipe.sources[sid]), rows)] for sid in used}
    result = DryRun(recipe, rows, [_dry_run_entry(recipe, entry, raw[entry.source], rows) for entry in recipe.tasks])
    decon = recipe.output.decontaminate
    for src in decon.against if decon is not None else ():
        for _ in _first(read_source(src), rows):
            pass
    if recipe.output.strict and (found := result.problems()):
        raise strict_error(found)
    if rows is None and result.writes_nothing:
        raise empty_dry_run_error(result)
    return result


def _first(items: Iterator[Any], rows: int | None) -> Iterator[Any]:
    return items if rows is None else itertools.islice(items, rows)


def _dry_run_entry(recipe: Recipe, entry: TaskEntry, raw: Records, rows: int | None) -> EntryCheck:
    check, e = EntryCheck(entry.id, rows_read=len(raw)), entry.id
    headerless = entry_reads_no_header(recipe, entry)
    records = _chunked(map_chunk_fn(entry, recipe.constants, headerless, source_file(recipe, entry)), raw)
    if entry.where is not None:
        records = _chunked(filter_chunk_fn(entry, recipe.constants, headerless), records)
    if entry.sample is not None:
        if rows is None:
            records = sample_records(iter(records), entry.sample.n, entry.sample.seed)
        else:
            check.skipped.append(f"sample (it picks from the whole source; checked all {len(records)} kept rows)")
    check.kept = len(records)
    if entry.generate is not None:
        check.skipped.append("generate, render and check (no LLM calls in check)")
        return check
    labels: tuple[str, ...] | None = None
    roles: dict[str, set[str]] | None = None
    if entry.task.schema_column is not None:
        fixed = entry.schema.labels if entry.schema is not None else None
        roles = {} if entry.task.labels_have_roles else None  # as the labels node gathers them
        collected = tuple(collect_labels(entry, entry.task.schema_column, iter(records), roles)) \
            if fixed is None or roles is not None else ()
        labels = tuple(fixed) if fixed is not None else collected
    ctx = RenderContext(entry, recipe.constants, labels, recipe.name,
                        roles=tuple((t, tuple(r)) for t, r in sorted_roles(roles or {})))
    rendered = _chunked(render_chunk_fn(ctx), records, check.metas, f"{e}/render")
    checked = _chunked(check_chunk_fn(entry), rendered, check.metas, f"{e}/check")
    check.rendered = len(checked)
    kept = {r["id"] for r in checked}  # the check leaves out the input text: the rendered record has it
    check.row_texts = {(r["source"], r["source_row"], r.get("_group")): str(r.get("_text") or "") for r in rendered
                       if r["id"] in kept}
    if entry.judge is not None:
        check.skipped.append("judge (no LLM calls in check)")
    return check


def _chunked(fn: ChunkFn, records: Records, metas: dict[str, dict[str, Any]] | None = None,
             node: str | None = None) -> Records:
    """Run a chunk function over records in build-sized chunks, summing notes into ``metas[node]``."""
    stat, out = NodeStats(node or "", ""), []
    for i in range(0, len(records), CHUNK_SIZE):
        chunk_out, notes, problems = split_result(fn(records[i:i + CHUNK_SIZE]))
        out += chunk_out
        stat.add_notes(notes, problems)
    if metas is not None and node is not None:
        metas[node] = {"notes": stat.notes, META_KEY: stat.problems}
    return out


def _check_output_folder(recipe: Recipe) -> None:
    """Fail before any work when the dataset could not be written there (creating nothing)."""
    folder, span = recipe.output.dir, recipe.output.dir_origin.span
    if folder.is_symlink():  # the write swaps a new folder in: the link was replaced, left behind as `.name.old-*`
        target = folder.resolve()
        raise HumcError(f"cannot write the dataset to {folder}: it is a symbolic link (to {target}), which the "
                        "build would replace with a folder", span, code="E3002",
                        expected="a dataset folder that is not itself a link (its output root may be one)",
                        hint=f"pass --out {target.parent} to write there (the dataset folder is then "
                             f"{target.parent / recipe.name}), or link the output root instead of the dataset folder")
    if folder.exists() and not folder.is_dir():
        raise HumcError(f"cannot write the dataset to {folder}: it is a file", span, code="E3002",
                        hint="pass another --out folder")
    existing = folder.absolute().parent  # the writer works in a sibling folder: never probe inside the dataset
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise HumcError(f"cannot write the dataset to {folder}: {existing} is not a writable folder", span,
                        code="E3002", hint="pass a writable folder with --out, or set `output: {dir: …}` in the recipe")
    try:  # access() says yes to root on /proc, a read-only bind mount or a full quota: try it
        with held_signals():  # a Ctrl-C or SIGTERM between the two calls left the probe folder behind
            os.rmdir(tempfile.mkdtemp(prefix=".humc-probe-", dir=existing))
    except OSError as exc:
        raise HumcError(f"cannot write the dataset to {folder}: {existing} refuses a new folder ({exc.strerror})", span,
                        code="E3002", expected="a writable folder",
                        hint="pass a writable folder with --out, or set `output: {dir: …}` in the recipe") from None


def _check_stream_recipe(recipe: Recipe) -> None:
    """A recipe read from a stream (``humc build /dev/stdin``, ``<(…)``; `humc check` reads it fine) has no folder of
    its own: the default folders beside it were ``/dev/out`` and ``/dev/.humc/cache``, in memory and gone at the next
    boot. E3002 unless --out and --cache name the folders."""
    home = recipe.path.absolute().parent
    if recipe.path.is_file() and home.parts[1:2] not in (("dev",), ("proc",)):
        return
    errors = [HumcError(f"the recipe is read from {recipe.path}, a stream with no folder of its own, so {folder} is "
                        f"no place for its {what} ({describe_origin(origin)})", origin.span, code="E3002",
                        expected="a recipe file, or --out and --cache naming the folders",
                        hint=f"pass {option} (and the other folder option), or save the recipe to a file")
              for folder, origin, what, option in ((recipe.output.dir, recipe.output.dir_origin, "output", "--out"),
                                                   (recipe.cache_dir, recipe.cache_origin, "cache", "--cache"))
              if not origin.what.startswith("--")]
    if errors:
        raise errors[0] if len(errors) == 1 else ErrorList(errors)


def _check_outside_datasets(recipe: Recipe) -> None:
    """E3002 when the output or cache folder lies inside a dataset humc built (``--out out/mrc``, the dataset
    itself): its files would be foreign to that dataset, whose next build then refuses the folder (E3003) and whose
    push would carry them."""
    for folder, origin, option in ((recipe.output.dir, recipe.output.dir_origin, "--out"),
                                   (recipe.cache_dir, recipe.cache_origin, "--cache")):
        dataset = next((parent for parent in folder.resolve().parents if _is_built_dataset(parent)), None)
        if dataset is not None:
            raise HumcError(f"the {'output' if option == '--out' else 'cache'} folder {folder} is inside the built "
                            f"dataset {dataset} ({describe_origin(origin)})", origin.span, code="E3002",
                            expected="a folder outside every dataset humc built (a dataset folder holds only what "
                                     "its build.json lists)",
                            hint=f"pass another {option}, e.g. {dataset.parent}; nothing was written")


def _is_built_dataset(folder: Path) -> bool:
    manifest = read_manifest(folder)
    return manifest is not None and isinstance(manifest.get("files"), dict) and "fingerprint" in manifest


def node_states(plan: Plan) -> dict[str, str]:
    store = Store(plan.recipe.cache_dir)
    try:
        ex = Executor(plan, store)
        return {node.id: ex.status(node) for node in plan.nodes}
    finally:
        store.close()


def publish_repo(recipe: Recipe, repo: str | None = None, *, command: str = "humc push") -> str:
    """The repository a recipe publishes to (``repo`` overrides ``publish.repo``), once its id and a token are
    checked: `humc build --push` asks before it builds, so a missing one costs no build. ``command`` is the one
    asking: only `humc push` has a --repo option to name the repository with."""
    publish = recipe.publish
    repo = repo or (publish.repo if publish else None)
    if not repo:
        other = ("pass --repo ORG/NAME" if command == "humc push"
                 else "build without --push and publish with `humc push RECIPE --repo ORG/NAME`")
        raise PublishError(f"recipe {recipe.name!r} has no publish.repo: don't know where to publish",
                           hint=f"add `publish: {{repo: ORG/NAME}}` to the recipe, or {other}")
    check_repo_id(repo)
    resolve_token()
    hub_endpoint()
    return repo


def push_recipe(recipe: Recipe, *, repo: str | None = None, private: bool | None = None,
                revision: str | None = None, wait: bool = True, replace: bool = False) -> PushResult:
    """Publish a recipe's output folder using its `publish:` block (arguments override it); refuses a stale build.
    The folder's lock is held (shared) from the staleness check to the end of the upload (``push_dataset``)."""
    publish = recipe.publish
    repo = publish_repo(recipe, repo)
    if private is None:
        private = bool(publish.private) if publish else False
    if revision is None and publish:
        revision = publish.revision
    with folder_lock(recipe.output.dir, what="output folder", command="humc push", shared=True, wait=wait):
        _check_build_is_current(recipe)
        return push_dataset(recipe.output.dir, repo, private=private, revision=revision, wait=wait, replace=replace)


def _check_build_is_current(recipe: Recipe) -> None:
    """Refuse to publish a folder built from an older version of the recipe (or its assets)."""
    manifest = read_manifest(recipe.output.dir)
    if manifest is None:
        raise PublishError(f"{recipe.output.dir} holds no humc build", hint=f"run `humc build {recipe.path}` first", code="E5002")
    if manifest.get("fingerprint") != build_plan(pinned(recipe)).fingerprint:
        raise PublishError(f"the build in {recipe.output.dir} is out of date: the recipe, its data or its assets "
                           "changed since it was built", hint=f"run `humc build {recipe.path}` (or `--push`) first", code="E5002")
