"""The answer model: AnswerTable, rule operations and format codecs (pure functions, no I/O)."""

from __future__ import annotations
