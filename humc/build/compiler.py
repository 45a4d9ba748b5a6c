"""The front door: recipe path -> validated IR -> plan -> executed build.

The CLI and tests call these; each stage module stays independent of the others' callers.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from humc.build.execute import BuildResult, Executor
from humc.build.plan import Plan, build_plan
from humc.build.store import Store
from humc.dataset.hub import PushResult, push_dataset
from humc.dataset.manifest import check_owned, read_manifest
from humc.errors import HumcError, PublishError
from humc.ir import FolderOrigin, Recipe
from humc.progress import Progress
from humc.recipe.folders import check_folders
from humc.recipe.validate import compile_recipe


def load_recipe(path: Path, *, out_dir: Path | None = None, cache_dir: Path | None = None) -> Recipe:
    """Compile a recipe; ``out_dir``/``cache_dir`` (``--out``/``--cache``) override it and resolve against the
    current directory, while the recipe's own folders resolve against its folder. Unsafe folders fail (E3002)."""
    recipe = compile_recipe(path)
    if out_dir is not None:
        output = replace(recipe.output, dir=_absolute(out_dir) / recipe.name, dir_origin=FolderOrigin("--out"))
        recipe = replace(recipe, output=output)
    if cache_dir is not None:
        recipe = replace(recipe, cache_dir=_absolute(cache_dir), cache_origin=FolderOrigin("--cache"))
    check_folders(recipe)
    return recipe


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path))


def plan_recipe(path: Path, **overrides: Path | None) -> Plan:
    return build_plan(load_recipe(path, **overrides))


def build(plan: Plan, *, progress: Progress | None = None, stop_after: str | None = None,
          executor: str | None = None, ray_address: str | None = None, **ray_options: Any) -> BuildResult:
    """Run the plan with the local executor or on Ray (``executor``, else the recipe's
    ``executor:`` key, else local); both write byte-identical output from the same cache."""
    kind = executor or plan.recipe.executor
    _check_output_folder(plan.recipe)
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
        return Executor(plan, store, progress).run(stop_after=stop_after)
    finally:
        store.close()


def _check_output_folder(recipe: Recipe) -> None:
    """Fail before any work when the dataset could not be written there (creating nothing)."""
    folder, span = recipe.output.dir, recipe.output.dir_origin.span
    existing = folder.absolute()
    while not existing.exists():
        existing = existing.parent
    if existing == folder.absolute() and not folder.is_dir():
        raise HumcError(f"cannot write the dataset to {folder}: it is a file", span, code="E3002",
                        hint="pass another --out folder")
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise HumcError(f"cannot write the dataset to {folder}: {existing} is not a writable folder", span,
                        code="E3002", hint="pass a writable folder with --out, or set `output: {dir: …}` in the recipe")


def node_states(plan: Plan) -> dict[str, str]:
    store = Store(plan.recipe.cache_dir)
    try:
        ex = Executor(plan, store)
        return {node.id: ex.status(node) for node in plan.nodes}
    finally:
        store.close()


def push_recipe(recipe: Recipe, *, repo: str | None = None, private: bool | None = None,
                revision: str | None = None) -> PushResult:
    """Publish a recipe's output folder using its `publish:` block (arguments override it); refuses a stale build."""
    publish = recipe.publish
    repo = repo or (publish.repo if publish else None)
    if not repo:
        raise PublishError(f"recipe {recipe.name!r} has no publish.repo: don't know where to publish",
                           hint="add `publish: {repo: ORG/NAME}` to the recipe, or pass --repo ORG/NAME")
    if private is None:
        private = bool(publish.private) if publish else False
    if revision is None and publish:
        revision = publish.revision
    _check_build_is_current(recipe)
    return push_dataset(recipe.output.dir, repo, private=private, revision=revision)


def _check_build_is_current(recipe: Recipe) -> None:
    """Refuse to publish a folder built from an older version of the recipe (or its assets)."""
    manifest = read_manifest(recipe.output.dir)
    if manifest is None:
        raise PublishError(f"{recipe.output.dir} holds no humc build", hint=f"run `humc build {recipe.path}` first")
    if manifest.get("fingerprint") != build_plan(recipe).fingerprint:
        raise PublishError(f"the build in {recipe.output.dir} is out of date: the recipe, its data or its assets "
                           "changed since it was built", hint=f"run `humc build {recipe.path}` (or `--push`) first")
