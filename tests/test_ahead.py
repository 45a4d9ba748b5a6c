"""Law of ``execute.Ahead``: a follower given its chunk part by part (an LLM chunk's batches, as they are answered)
returns exactly what one call over the whole chunk returns — the records (the same objects), the notes in the same
order, the first problem locations, and for a render the per-record index."""

from __future__ import annotations

from typing import Any

from helpers import REPO
from hypothesis import given, settings
from hypothesis import strategies as st

from humc.build.compiler import load_recipe
from humc.build.execute import Ahead, _combined, _combined_render, check_chunk_fn, render_chunk_fn
from humc.build.problems import Problem, ProblemLog
from humc.build.rendering import RenderContext

NER = load_recipe(REPO / "recipes" / "ner.hum.yaml").tasks[0]
SPANS = ["Ada", "Bo", "Paris", "Zed"]  # "Zed" never occurs in the text: a span problem


def keep_odd(chunk: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Any, Any]:
    """A check-like chunk function: keeps the records whose v is odd, logs the others as problems."""
    kept, log = [], ProblemLog()
    for record in chunk:
        if record["v"] % 2:
            kept.append(record)
        else:
            log.add(Problem(f"even{record['v'] % 3}", str(record["v"])), "s", record["v"])
    return kept, log.notes(), log.first


def ner_record(k: int, spans: list[int]) -> dict[str, Any]:
    entities = [{"type": "PER", "span": SPANS[s]} for s in spans]
    return {"_source": "conll", "_row": k, "text": "Ada met Bo in Paris .", "entities": entities}


def prefix_parts(chunk: list[dict[str, Any]], cuts: list[int]) -> list[list[dict[str, Any]]]:
    """The chunk's first records cut into consecutive parts at ``cuts`` (a prefix: the rest is left over)."""
    bounds = sorted({min(c, len(chunk)) for c in cuts})
    return [chunk[a:b] for a, b in zip([0, *bounds], bounds, strict=False) if b > a]


def as_compared(result: Any) -> tuple[Any, ...]:
    records, notes, problems, *rest = result
    return ([id(r) for r in records], list(notes.items()), problems, *rest)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.integers(0, 50), max_size=30), cuts=st.lists(st.integers(0, 30), max_size=6))
def test_a_check_given_its_chunk_in_parts_returns_what_one_call_returns(values, cuts):
    chunk = [{"v": v} for v in values]
    ahead = Ahead(keep_odd, _combined)
    for part in prefix_parts(chunk, cuts):
        ahead.take(part)
    assert as_compared(ahead(chunk)) == as_compared(keep_odd(chunk))
    assert ahead.parts == []


@settings(max_examples=25, deadline=None)
@given(spans=st.lists(st.lists(st.integers(0, 3), max_size=3), max_size=12),
       cuts=st.lists(st.integers(0, 12), max_size=4))
def test_a_render_given_its_chunk_in_parts_returns_what_one_call_returns(spans, cuts):
    render = render_chunk_fn(RenderContext(NER, {}, ("PER", "LOC"), "ner"))
    chunk = [ner_record(k, s) for k, s in enumerate(spans)]
    ahead = Ahead(render, _combined_render)
    for part in prefix_parts(chunk, cuts):
        ahead.take(part)
    result, whole = ahead(chunk), render(chunk)
    assert result[0] == whole[0] and as_compared(result)[1:] == as_compared(whole)[1:]


def test_parts_that_are_not_the_start_of_the_chunk_are_not_used():
    """Other objects (equal in value) or parts out of order: the chunk is computed whole, from the chunk itself."""
    chunk = [{"v": v} for v in range(7)]
    for parts in ([[{"v": 0}, {"v": 1}]], [chunk[2:4]], [chunk[:2], chunk[3:5]]):
        ahead = Ahead(keep_odd, _combined)
        for part in parts:
            ahead.take(part)
        assert as_compared(ahead(chunk)) == as_compared(keep_odd(chunk))


def test_the_records_the_next_follower_takes_are_those_the_part_kept():
    check = Ahead(check_chunk_fn(NER, strip=False), _combined)
    render = Ahead(render_chunk_fn(RenderContext(NER, {}, ("PER", "LOC"), "ner")), _combined_render)
    rendered = render.take([ner_record(0, [0, 1]), ner_record(1, [3])])  # the second: "Zed" is not in the text
    assert rendered and all(r["task_entry"] == NER.id for r in rendered)
    assert check.take(rendered) == rendered
