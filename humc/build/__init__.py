"""Plan and run: ``ir.Recipe`` -> ``Plan`` (content-addressed DAG) -> cached chunks -> dataset."""

from __future__ import annotations
