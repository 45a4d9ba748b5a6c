"""The gold answer model shared by every task and every format variant.

Every Hum task's answer is normalised to a small table: named string columns
(e.g. NER: ``type, span``; RE: ``head, relation, tail``) and ordered rows.
``cardinality == "one"`` means at most one row (MRC answer, single label).
Format variants render an ``AnswerTable`` to text and parse it back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Cardinality = Literal["one", "many"]


def as_cardinality(value: str) -> Cardinality:
    """A task's cardinality string, checked ("one" or "many")."""
    if value == "one":
        return "one"
    if value == "many":
        return "many"
    raise ValueError(f"cardinality must be 'one' or 'many', not {value!r}")


@dataclass(frozen=True)
class AnswerTable:
    fields: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...] = ()
    cardinality: Cardinality = "many"

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.fields):
                raise ValueError(f"row {row!r} does not match fields {self.fields!r}")
        if self.cardinality == "one" and len(self.rows) > 1:
            raise ValueError("cardinality 'one' allows at most one row")

    @classmethod
    def of(cls, fields: Iterable[str], rows: Iterable[Iterable[str]], cardinality: Cardinality = "many") -> AnswerTable:
        return cls(tuple(fields), tuple([tuple(map(str, r)) for r in rows]), cardinality)

    def with_rows(self, rows: Iterable[Iterable[str]]) -> AnswerTable:
        return AnswerTable.of(self.fields, rows, self.cardinality)

    def as_dicts(self) -> list[dict[str, str]]:
        return [dict(zip(self.fields, row, strict=True)) for row in self.rows]

    def column(self, name: str) -> list[str]:
        i = self.fields.index(name)
        return [row[i] for row in self.rows]

    def __len__(self) -> int:
        return len(self.rows)
