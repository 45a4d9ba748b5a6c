"""The build manifest (``build.json``): which plan wrote an output folder, and the hash of every file in it.

It proves that humc owns a folder (only such folders are ever replaced), tells a rebuild that the output is
current, and lets ``push`` refuse a folder that is stale or was edited by hand. No pyarrow here: ``humc check``
and ``humc plan`` read manifests without loading the writer.

Ownership (``check_owned``): a folder is humc's to replace when it is missing, empty, or holds exactly the files
its manifest lists (plus the manifest), each with the listed hash. Anything else (a file the manifest does not
list, a listed file edited by hand, no manifest at all) may be someone's work: E3003, and nothing is touched.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from humc.dataset.card import default_template
from humc.errors import HumcError
from humc.ir import Recipe

MANIFEST = "build.json"
CARD_FORMAT = "5"  # bump when the card (README.md) changes for the same build; 2: dataset_info features and Arrow
#                    sizes, the license as the Hub takes it (and named in the body), declared splits left empty;
#                    3: a license written in words (CC BY 4.0) is the Hub's id, not `other`; provenance names the Hub
#                    datasets decontaminated against; 4: output.mixture's declared weights and caps; 5: a license
#                    written out as its text is titled (MIT License, GNU General Public License v3.0) is its Hub id.
#                    The stdlib card template's text counts too (``card_format``): an edit of it writes the card again


@functools.lru_cache(maxsize=1)
def card_format() -> str:
    """How the card is laid out: ``CARD_FORMAT`` and the stdlib card template's digest. A folder whose manifest says
    another was written by an older humc (or before the template changed): its card is written again."""
    return f"{CARD_FORMAT}:{hashlib.sha256(default_template().read_bytes()).hexdigest()[:16]}"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # unreadable, not JSON, or nested too deeply to read: no manifest
        return None
    return manifest if isinstance(manifest, dict) else None


def plots_engine() -> str | None:
    """The matplotlib version that draws the card's plots here, None without matplotlib (the card shows tables only).

    The plan does not depend on it, but the folder does: a folder written by another is not current, so installing
    matplotlib (``humc[plots]``) after a build adds the plots on the next build, as a cold build would."""
    if importlib.util.find_spec("matplotlib") is None:
        return None
    try:
        return importlib.metadata.version("matplotlib")
    except importlib.metadata.PackageNotFoundError:
        return None


def output_is_current(recipe: Recipe, fingerprint: str) -> bool:
    """True when the output folder holds exactly what this plan would write (its plots drawn and its card laid out as
    they would be now)."""
    folder = recipe.output.dir
    manifest = read_manifest(folder)
    if not manifest or manifest.get("fingerprint") != fingerprint or manifest.get("plots") != plots_engine() \
            or manifest.get("card") != card_format():  # a card an older humc wrote is written again
        return False
    return all((folder / rel).is_file() and sha256_file(folder / rel) == digest
               for rel, digest in manifest.get("files", {}).items())


def empty_splits(recipe: Recipe, manifest: Mapping[str, Any] | None) -> list[str]:
    """The splits the recipe declares that got no records in the build ``manifest`` describes: the folder, its card
    and `datasets` have no such split, which the build says (``build_warnings``) and the card states."""
    counts = (manifest or {}).get("counts") or {}
    return [split for split, _ in recipe.output.splits if not counts.get(split)]


def unowned_entries(folder: Path) -> list[str]:
    """What in ``folder`` humc did not write (sorted, relative paths): [] when humc may replace the folder."""
    if not folder.is_dir():
        return []
    entries = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
    if not entries:
        return []
    manifest = read_manifest(folder)
    listed = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(listed, dict):
        return entries
    allowed = {MANIFEST, *listed}
    allowed |= {str(parent) for rel in listed for parent in Path(rel).parents if str(parent) != "."}
    foreign = [e for e in entries if e not in allowed]
    edited = [rel for rel, digest in listed.items() if (folder / rel).is_symlink()
              or ((folder / rel).is_file() and sha256_file(folder / rel) != digest)]
    return sorted(foreign + [f"{rel} (changed since humc wrote it)" for rel in edited])


def _check_not_a_file(recipe: Recipe) -> None:
    folder = recipe.output.dir
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        what = "a symbolic link" if folder.is_symlink() else "a file"
        raise HumcError(f"cannot write the dataset to {folder}: it is {what}", recipe.output.dir_origin.span,
                        code="E3002", expected="a folder humc may replace (new, empty, or a previous build)",
                        hint="move it away yourself or pass another --out folder; nothing was deleted or written")


def check_owned(recipe: Recipe, *, shown: int = 5) -> None:
    """Raise E3003 unless humc may replace the recipe's output folder (see ``unowned_entries``), E3002 when a file
    or link took its place (the write would swap it aside, after the build's first check); touches nothing."""
    folder = recipe.output.dir
    _check_not_a_file(recipe)
    foreign = unowned_entries(folder)
    if not foreign:
        return
    more = f", and {len(foreign) - shown} more" if len(foreign) > shown else ""
    origin = recipe.output.dir_origin
    via = (f"--out {folder.parent}" if origin.what.startswith("--") else
           "`name`, under the default root `out`" if origin.what == "name" else f"`{origin.what}`")
    raise HumcError(f"the output folder {folder} (chosen by {via}) holds files humc did not write: "
                    + ", ".join(foreign[:shown]) + more, origin.span, code="E3003",
                    expected="a new or empty folder, or one holding only a previous humc build (its build.json "
                             "lists every file)",
                    hint="choose another output root with --out, or move those files away yourself; "
                         "nothing was deleted or written")
