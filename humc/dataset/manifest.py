"""The build manifest (``build.json``): which plan wrote an output folder, and the hash of every file in it.

It proves that humc owns a folder (only such folders are ever replaced), tells a rebuild that the output is
current, and lets ``push`` refuse a folder that is stale or was edited by hand. No pyarrow here: ``humc check``
and ``humc plan`` read manifests without loading the writer.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from humc.ir import Recipe

MANIFEST = "build.json"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def output_is_current(recipe: Recipe, fingerprint: str) -> bool:
    """True when the output folder holds exactly what this plan would write."""
    folder = recipe.output.dir
    manifest = read_manifest(folder)
    if not manifest or manifest.get("fingerprint") != fingerprint:
        return False
    return all((folder / rel).is_file() and sha256_file(folder / rel) == digest
               for rel, digest in manifest.get("files", {}).items())
