"""`humc push` and `humc build --push`: publish a built dataset folder to the Hub."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from humc.dataset.hub import PushResult, push_dataset
from humc.errors import PublishError


def push_recipe_output(recipe: Any, *, repo: str | None = None, private: bool | None = None,
                       revision: str | None = None) -> PushResult:
    """Publish the output folder of a loaded recipe, using its `publish:` block (options override it)."""
    publish = getattr(recipe, "publish", None)
    repo = repo or (publish.repo if publish else None)
    if not repo:
        raise PublishError(f"recipe {recipe.name!r} has no publish.repo: don't know where to publish",
                           hint="add `publish: {repo: ORG/NAME}` to the recipe, or pass --repo ORG/NAME")
    if private is None:
        private = bool(publish.private) if publish else False
    if revision is None and publish:
        revision = publish.revision
    _check_build_is_current(recipe)
    return push_folder(recipe.output.dir, repo, private=private, revision=revision)


def _check_build_is_current(recipe: Any) -> None:
    """Refuse to publish a folder built from an older version of the recipe (or its assets)."""
    from humc.build.plan import build_plan
    from humc.dataset.writer import read_manifest

    manifest = read_manifest(recipe.output.dir)
    if manifest is None:
        raise PublishError(f"{recipe.output.dir} holds no humc build", hint=f"run `humc build {recipe.path}` first")
    if manifest.get("fingerprint") != build_plan(recipe).fingerprint:
        raise PublishError(f"the build in {recipe.output.dir} is out of date: the recipe, its data or its assets "
                           "changed since it was built", hint=f"run `humc build {recipe.path}` (or `--push`) first")


def push_folder(folder: Path, repo: str, *, private: bool = False, revision: str | None = None) -> PushResult:
    result = push_dataset(Path(folder), repo, private=private, revision=revision)
    report(folder, repo, result)
    return result


def report(folder: Path, repo: str, result: PushResult) -> None:
    where = result.repo_url or repo
    if result.created:
        click.echo(f"created dataset repository {repo}")
    if not result.changed:
        click.echo(f"{where} is up to date with {folder}: nothing to publish")
        return
    parts = [f"{len(result.uploaded)} file(s) updated"]
    if result.deleted:
        parts.append(f"{len(result.deleted)} stale shard(s) deleted")
    click.echo(f"published {folder} to {where} ({', '.join(parts)})")
    click.echo(f"commit {result.commit_url}")


def _is_recipe(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in (".yaml", ".yml")


def make_push_command(reports_errors: Callable[[Callable[..., Any]], Callable[..., Any]]) -> click.Command:
    """The `humc push` command; cli.py registers it with its own error reporting decorator."""

    @click.command("push")
    @click.argument("target", metavar="RECIPE_OR_OUTPUT_DIR", type=click.Path(path_type=Path))
    @click.option("--repo", help="Dataset repository ORG/NAME (default: the recipe's publish.repo).")
    @click.option("--private/--public", "private", default=None,
                  help="Visibility when the repository is created (default: the recipe's publish.private, else "
                       "public). An existing repository keeps its visibility.")
    @click.option("--revision", metavar="BRANCH", help="Branch to publish to; created from main if missing.")
    @click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
                  help="With a recipe: the output root it was built with (`humc build --out`).")
    @reports_errors
    def push(target: Path, repo: str | None, private: bool | None, revision: str | None,
             out_dir: Path | None) -> None:
        """Publish a built dataset (a recipe's output folder, or the folder itself) to the Hugging Face Hub.

        Needs a write token in HF_TOKEN (or `hf auth login`). Re-publishing an unchanged build makes no
        commit; a changed build is published as a single commit that also removes stale shards.
        """
        if _is_recipe(target):
            from humc.build.compiler import load_recipe

            push_recipe_output(load_recipe(target, out_dir=out_dir), repo=repo, private=private, revision=revision)
            return
        if not target.exists():
            raise PublishError(f"{target} does not exist",
                               hint="pass a recipe (.yaml) or a built dataset folder (OUT/<name>)")
        if not target.is_dir():
            raise PublishError(f"{target} is neither a recipe (.yaml) nor a dataset folder")
        if not repo:
            raise PublishError("--repo ORG/NAME is required when publishing a folder",
                               hint=f"humc push {target} --repo my-org/my-dataset")
        push_folder(target, repo, private=bool(private), revision=revision)

    return push
