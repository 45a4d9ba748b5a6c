"""What a reviewer found reading the records the example recipes build (map -> filter -> labels -> render -> check in
memory, as `humc check --rows all` runs them): each law below held for none or not all of them before."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import pytest
from helpers import REPO

from humc.build.compiler import load_recipe, pinned
from humc.build.execute import check_chunk_fn, filter_chunk_fn, map_chunk_fn, render_chunk_fn, split_result
from humc.build.rendering import RenderContext
from humc.build.transforms import collect_labels
from humc.sources import read_source

RECIPES = ("hum", "hum_mix", "ner", "re", "mrc", "classification")


@cache
def built(name: str) -> tuple[dict[str, Any], ...]:
    """Every record the recipe's entries give (no sampling, splits or dedup: they only drop records)."""
    recipe = pinned(load_recipe(REPO / "recipes" / f"{name}.hum.yaml"))
    raw = {sid: [{"_row": row.number, "_line": row.line, "raw": row.record} for row in read_source(src)]
           for sid, src in recipe.sources.items()}
    out: list[dict[str, Any]] = []
    for entry in recipe.tasks:
        records = split_result(map_chunk_fn(entry, recipe.constants)(raw[entry.source]))[0]
        if entry.where is not None:
            records = split_result(filter_chunk_fn(entry, recipe.constants)(records))[0]
        labels = None
        if entry.task.schema_column is not None:
            fixed = entry.schema.labels if entry.schema is not None else None
            labels = tuple(fixed) if fixed is not None else tuple(collect_labels(entry, entry.task.schema_column,
                                                                                 iter(records)))
        rendered = split_result(render_chunk_fn(RenderContext(entry, recipe.constants, labels, recipe.name))(records))[0]
        out += split_result(check_chunk_fn(entry)(rendered))[0]
    return tuple(out)


NO_ANSWER = re.compile(r"If (?:there is no answer|nothing in the text matches|the passage does not contain the answer)"
                       r"|如果(?:没有答案|文本中没有符合要求的内容|完全没有答案)")


@pytest.mark.parametrize("name", RECIPES)
def test_how_to_answer_nothing_is_said_at_most_once(name: str) -> None:
    """A stated empty_brackets rule ("If nothing in the text matches, output []") was followed by the JSON, tuples
    or YAML format's own "If there is no answer, output []." in the same instruction."""
    for r in built(name):
        said = NO_ANSWER.findall(r["instruction"])
        assert len(said) <= 1, f"{r['task_entry']} {r['template']} x {r['answer_format']}: {said}"
