"""Where humc's data folders (grammar/, stdlib/) live: beside the package in a checkout
or an editable install, or under ``<prefix>/share/humc`` for a wheel install."""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent


def _data_dir(name: str) -> Path:
    for base in (_ROOT, Path(sys.prefix) / "share" / "humc"):
        if (base / name).is_dir():
            return base / name
    raise FileNotFoundError(f"humc data folder '{name}' not found (looked beside the package and in {sys.prefix}/share/humc)")


def grammar_dir() -> Path:
    return _data_dir("grammar")


def stdlib_dir() -> Path:
    return _data_dir("stdlib")
