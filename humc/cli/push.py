"""`humc push` (and `humc build --push`): publish a built dataset folder to the Hub."""

from __future__ import annotations

from pathlib import Path

import click

from humc.build.compiler import load_recipe
from humc.build.compiler import push_recipe as _push_recipe
from humc.cli.params import FolderPath, NamedPath, format_opt, no_wait_opt, refuse_out_beside_folder
from humc.dataset.hub import PushResult, push_dataset
from humc.errors import PublishError
from humc.ir import Recipe


def push_recipe(recipe: Recipe, *, repo: str | None = None, private: bool | None = None,
                revision: str | None = None, wait: bool = True, replace: bool = False) -> PushResult:
    result = _push_recipe(recipe, repo=repo, private=private, revision=revision, wait=wait, replace=replace)
    report(recipe.output.dir, repo or (recipe.publish.repo if recipe.publish else None) or "?", result)
    return result


def report(folder: Path, repo: str, result: PushResult) -> None:
    where = result.repo_url or repo
    if result.created:
        click.echo(f"created dataset repository {repo}")
    if result.branch_created:
        click.echo(f"created branch {result.revision} of {repo} (from main)")
    if not result.changed and result.branch_created:
        click.echo(f"{where} holds {folder} already (main had this build): no commit needed")
        return
    if not result.changed:
        click.echo(f"{where} is up to date with {folder}: nothing to publish")
        return
    parts = [f"{len(result.uploaded)} file(s) updated"]
    if result.deleted:
        parts.append(f"{len(result.deleted)} stale file(s) deleted")
    click.echo(f"published {folder} to {where} ({', '.join(parts)})")
    click.echo(f"commit {result.commit_url}")


def _is_recipe(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in (".yaml", ".yml")


@click.command("push")
@click.argument("target", metavar="RECIPE_OR_OUTPUT_DIR", type=NamedPath())
@click.option("--repo", help="Dataset repository ORG/NAME (default: the recipe's publish.repo).")
@click.option("--private/--public", "private", default=None,
              help="Visibility when the repository is created (default: the recipe's publish.private, else "
                   "public). An existing repository keeps its visibility; a public one is refused for a private dataset (E5004).")
@click.option("--revision", metavar="BRANCH", help="Branch to publish to; created from main if missing.")
@click.option("--out", "out_dir", type=FolderPath(),
              help="With a recipe: the output root it was built with (`humc build --out`).")
@click.option("--replace", is_flag=True,
              help="Publish over a repository holding another recipe's dataset (refused by default, E5003).")
@format_opt
@no_wait_opt
def push(target: Path, repo: str | None, private: bool | None, revision: str | None, out_dir: Path | None,
         replace: bool, no_wait: bool) -> None:
    """Publish a built dataset (a recipe's output folder, or the folder itself) to the Hugging Face Hub.

    Needs a write token in HF_TOKEN (or `hf auth login`). Re-publishing an unchanged build makes no
    commit; a changed build is published as a single commit that also removes stale shards and plots. A build replacing
    the folder is waited for (--no-wait: fail instead).
    """
    refuse_out_beside_folder(out_dir, target, target.suffix.lower() in (".yaml", ".yml"), "push")
    if _is_recipe(target):
        push_recipe(load_recipe(target, out_dir=out_dir), repo=repo, private=private, revision=revision,
                    wait=not no_wait, replace=replace)
        return
    if not target.exists():
        raise PublishError(f"{target} does not exist", hint="pass a recipe (.yaml) or a built dataset folder (OUT/<name>)")
    if not target.is_dir():
        raise PublishError(f"{target} is neither a recipe (.yaml) nor a dataset folder",
                           hint="pass a recipe (.yaml) or a built dataset folder (OUT/<name>)")
    if not repo:
        raise PublishError("--repo ORG/NAME is required when publishing a folder",
                           hint=f"humc push {target} --repo my-org/my-dataset")
    report(target, repo, push_dataset(target, repo, private=bool(private), revision=revision, wait=not no_wait,
                                      replace=replace))
