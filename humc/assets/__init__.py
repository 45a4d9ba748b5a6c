"""The propose -> review -> pin loop for LLM-made assets (synth, review, lockfile edits)."""

from __future__ import annotations
