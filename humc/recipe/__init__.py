"""Front end: located YAML -> validated ``ir.Recipe`` (stdlib assets, lockfile, all errors collected)."""

from __future__ import annotations
