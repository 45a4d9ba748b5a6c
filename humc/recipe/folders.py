"""Compile stage, last step: the output and cache folders must be safe places to write.

One path rule, applied before any check here: folders a recipe names (``output.dir``, ``cache:``, and their
defaults ``out`` and ``.humc/cache``) resolve against the recipe's folder; ``--out``/``--cache`` resolve against the
current directory; the dataset goes to ``<output root>/<name>``. ``humc plan`` prints both resolved folders.

Then, because a build replaces its output folder, that folder may hold none of the recipe's own files: not the
recipe, its lockfile, its sources or its cache; and it may not be ``/``, the home directory or a folder above
the recipe. A folder the recipe itself names (``output.dir``) must also lie inside the recipe's folder: a recipe is
shared and built by others, so it may not make a build write elsewhere (``../../..``); writing outside is the
builder's choice, made with ``--out``. The cache folder follows the placement rules, may not be a file and may not
sit inside the output folder.
Each violation is an E3002 error pointing at the YAML node the folder came from (``output.dir``, ``name``,
``cache``) or naming the command-line option. Whether an existing folder is humc's to replace is a separate
question, answered by its manifest (``dataset/manifest.py``, E3003).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

from humc.errors import NAME_MAX, PATH_MAX, ErrorList, HumcError, too_long_path
from humc.ir import FolderOrigin, Recipe
from humc.recipe.lockfile import lock_path_for
from humc.sources_readers import ARCHIVE_FOLDER

CODE = "E3002"


def check_folders(recipe: Recipe) -> None:
    """Raise E3002 (one error, or an ErrorList) when the output or cache folder is unsafe; touches nothing."""
    looping = list(_long_problems(recipe)) or list(_loop_problems(recipe))  # every check below resolves the folders' links
    if looping:
        raise looping[0] if len(looping) == 1 else ErrorList(looping)
    errors = list(_name_problems(recipe)) or list(_output_problems(recipe))
    errors += _cache_problems(recipe, output_ok=not errors)  # a misplaced output folder is reported once
    if errors:
        raise errors[0] if len(errors) == 1 else ErrorList(errors)


def describe_origin(origin: FolderOrigin) -> str:
    """How a folder was chosen, in words: 'from --out', 'from `output.dir`', …"""
    if origin.what.startswith("--"):
        return f"from {origin.what}"
    if origin.what == "name":
        return "the default root `out` beside the recipe + `name`"
    if origin.what == "default cache":
        return "the default `.humc/cache` beside the recipe"
    return f"from `{origin.what}`, relative to the recipe's folder"


def _own_files(recipe: Recipe) -> Iterator[tuple[str, Path]]:
    """(what, path) of every file or folder the recipe reads: a build must never write over them."""
    yield "the recipe", recipe.path
    yield "the recipe's lockfile", lock_path_for(recipe.path)
    extracted = _real(recipe.cache_dir / ARCHIVE_FOLDER)  # archive members humc extracted into the cache: its own
    for sid, src in recipe.sources.items():
        if src.path is not None and not _inside(_real(src.path), extracted):
            yield f"source '{sid}'", src.path
    decon = recipe.output.decontaminate
    for src in decon.against if decon else ():
        if src.path is not None:
            yield "an evaluation set of `decontaminate`", src.path
    template = recipe.publish.card.get("template") if recipe.publish else None
    if template:
        yield "the card template", Path(template)


def _long_problems(recipe: Recipe) -> Iterator[HumcError]:
    """A folder whose name no file system holds: every look at it (exists, is_dir, mkdir) fails with ENAMETOOLONG."""
    for folder, origin, what in ((recipe.output.dir, recipe.output.dir_origin, "output"),
                                 (recipe.cache_dir, recipe.cache_origin, "cache")):
        reason = too_long_path(folder.absolute())
        if reason is not None:
            yield _error(f"the {what} folder's path is too long: {reason}", origin,
                         expected=f"file names of at most {NAME_MAX} bytes, a path of at most {PATH_MAX}",
                         hint="shorten the folder's name (or the folders above it), or pass another folder with "
                              f"--{'out' if what == 'output' else 'cache'}")


def _loop_problems(recipe: Recipe) -> Iterator[HumcError]:
    """A folder that leads through a symbolic link back to itself (`ln -s out out`) cannot be resolved, written or
    checked: say so at the folder's origin (Python's ``Path.resolve`` would raise RuntimeError)."""
    for folder, origin, what in ((recipe.output.dir, recipe.output.dir_origin, "output"),
                                 (recipe.cache_dir, recipe.cache_origin, "cache")):
        try:
            folder.resolve()
        except (RuntimeError, OSError):
            yield _error(f"the {what} folder {folder} leads through a symbolic link back to itself", origin,
                         hint="fix or remove the link (`ls -l` shows where each link points), or pass another folder "
                              f"with --{'out' if what == 'output' else 'cache'}")


def _name_problems(recipe: Recipe) -> Iterator[HumcError]:
    """A dataset's file names are UTF-8 text (Parquet writer, card, Hub): an output folder whose name is other bytes
    (a folder unpacked from an old archive, ``d\\xe9``) or one this locale cannot spell (LANG=C without Python's
    UTF-8 mode) failed in the middle of the write."""
    folder = str(recipe.output.dir.absolute())
    try:
        folder.encode("utf-8")
        os.fsencode(folder)
    except UnicodeEncodeError:
        encoding = sys.getfilesystemencoding()
        locale = "" if encoding == "utf-8" else f" in this locale's file name encoding ({encoding})"
        yield _error(f"the output folder {_shown(folder)} cannot be named as UTF-8 text{locale}",
                     recipe.output.dir_origin, expected="a folder whose path is UTF-8 text",
                     hint="rename the folder with UTF-8 (or ASCII) characters, or pass another --out"
                          + (locale and "; or use a UTF-8 locale (LANG=C.UTF-8) or Python's UTF-8 mode (PYTHONUTF8=1)"))


def _shown(path: str) -> str:
    """A path as its bytes read as UTF-8, a byte that is not shown as ``\\xe9``."""
    try:
        return os.fsencode(path).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return path


def _output_problems(recipe: Recipe) -> Iterator[HumcError]:
    folder, origin = _real(recipe.output.dir), recipe.output.dir_origin
    what = f"the output folder {recipe.output.dir}"
    found = [_error(f"{what} is at the top of the filesystem", origin)] if folder.parent == Path(folder.anchor) else []
    found += _placement(what, folder, recipe, origin)
    yield from found
    home = _real(recipe.path.parent)
    if not found and not origin.what.startswith("--") and not _inside(folder, home):
        yield _error(f"{what} is outside the recipe's folder {home}", origin,
                     hint="a recipe writes only below its own folder, e.g. `output: {dir: out}`; to write the "
                          "dataset elsewhere, pass --out")
    cache = _real(recipe.cache_dir)
    if cache == folder or _inside(folder, cache):
        yield _error(f"{what} is inside the cache folder {recipe.cache_dir}", origin)


def _cache_problems(recipe: Recipe, *, output_ok: bool) -> Iterator[HumcError]:
    folder, origin = _real(recipe.cache_dir), recipe.cache_origin
    what = f"the cache folder {recipe.cache_dir}"
    if folder.exists() and not folder.is_dir():  # a file, or a device such as /dev/null
        yield _error(f"{what} is {'a file' if folder.is_file() else 'not a folder (a device or a pipe)'}", origin)
    yield from _placement(what, folder, recipe, origin)
    if output_ok and _inside(folder, _real(recipe.output.dir)):
        yield _error(f"{what} is inside the output folder {recipe.output.dir}, which each build replaces", origin)


def _placement(what: str, folder: Path, recipe: Recipe, origin: FolderOrigin) -> Iterator[HumcError]:
    """The rules both folders share: not /, not home, not above the recipe, no recipe file inside."""
    home = _home()
    if folder == Path(folder.anchor):
        yield _error(f"{what} is the filesystem root", origin)
    elif home is not None and (folder == home or _inside(home, folder)):
        yield _error(f"{what} is {'' if folder == home else 'above '}your home directory", origin)
    elif folder == _real(recipe.path.parent) or _inside(_real(recipe.path.parent), folder):
        yield _error(f"{what} would contain the recipe's own folder {recipe.path.parent}", origin)
    else:
        for owner, path in _own_files(recipe):
            real = _real(path)
            if real == folder or _inside(real, folder):
                yield _error(f"{what} would contain {owner} ({path})", origin)
            elif path.is_dir() and _inside(folder, real):
                yield _error(f"{what} is inside {owner} ({path})", origin)


def _error(message: str, origin: FolderOrigin, hint: str | None = None, expected: str | None = None) -> HumcError:
    option = origin.what.startswith("--")
    hint = hint or (f"pass a folder of its own with {origin.what}" if option else
            "point it at a folder of its own, e.g. `output: {dir: out}` or `cache: .humc/cache` (relative to the "
            "recipe's folder), or pass --out/--cache")
    return HumcError(f"{message} ({describe_origin(origin)})", origin.span, code=CODE, hint=hint,
                     expected=expected or "a folder that holds none of the recipe's own files: not the recipe, "
                              "its lockfile, its sources or its cache, and not /, your home directory or a folder "
                              "above the recipe")


def _real(path: Path) -> Path:
    return Path(path).resolve()


def _inside(path: Path, folder: Path) -> bool:
    """True when ``path`` lies strictly inside ``folder``."""
    return folder in path.parents


def _home() -> Path | None:
    try:
        return Path.home().resolve()
    except (RuntimeError, KeyError):
        return None
