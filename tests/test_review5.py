"""What a fifth review found reading the records the example recipes build: each test builds the real samples in
recipes/data (as tests/test_review3.py's `built` does) and asserts the property that was broken in them."""

from __future__ import annotations

import csv
import io
import json
import re

from helpers import REPO
from test_review3 import built

from humc.expr.functions import join_each

DATA = REPO / "recipes" / "data"


def _ag_news_words(row: list[str]) -> list[str]:
    """The words of an AG News row's title and description, a backslash (the release's line break) a space."""
    return [w for part in row[1:] for w in re.split(r"[^A-Za-z]+", part.replace("\\", " ")) if len(w) > 1]


def test_an_ag_news_line_break_keeps_the_next_word_whole() -> None:
    """AG News writes a line break as a lone backslash before the next word ("would like\\to think"), which the
    adapter read as a \\t escape: "EA Sports would like o think", "rabid enough to ake a sick day", "10 times he
    speed", "complete racks", "referendum hat will" (6 of the 40 texts of recipes/classification.hum.yaml)."""
    rows = list(csv.reader(io.StringIO((DATA / "ag_news" / "train.4x10.csv").read_text(encoding="utf-8"), newline="")))
    records = [r for r in built("classification") if r["task_entry"] == "ag_news"]
    assert {r["source_row"] for r in records} == set(range(len(rows)))
    for r in records:
        text = r["instruction"]
        missing = [w for w in _ag_news_words(rows[r["source_row"]]) if not re.search(rf"\b{w}\b", text)]
        assert not missing, f"row {r['source_row']}: {missing}"
    assert any("EA Sports would like to think" in r["instruction"] for r in records)


def test_an_open_ie_triple_has_single_spaces_in_every_column() -> None:
    """CaRB writes the predicate "primarily batted  at" (two spaces), which became the gold of
    recipes/hum_mix.hum.yaml's row 17 though no model could copy it from the sentence's single-spaced text."""
    triples = [t for r in built("hum_mix") if r["task"] == "openie" for t in json.loads(r["gold"])]
    assert {"subject": "he", "predicate": "primarily batted at", "object": "second base in the Astros"} in triples
    assert not [t for t in triples if any(v != " ".join(v.split()) for v in t.values())]
    assert join_each(["a  b ", [" c", "d  e"]]) == ["a b", "c d e"]


def test_the_neutral_emotion_is_defined_so_that_it_fits_a_gold_pairing_it_with_another() -> None:
    """GoEmotions keeps every label two raters chose, so "neutral" comes with an emotion in 4 of the sample's 25
    neutral comments, yet its definition said "no particular emotion is expressed" above the gold
    ["annoyance", "neutral"] (4 records of recipes/hum_mix.hum.yaml)."""
    paired = [r for r in built("hum_mix") if r["task_entry"] == "go_emotions" and "go_emotions_labels" in r["guidelines"]
              and len(labels := [g["label"] for g in json.loads(r["gold"])]) > 1 and "neutral" in labels]
    assert paired
    for r in paired:
        defined = re.findall(r'(?:^- |")neutral"?: "?([^"\n]*)', r["instruction"], re.M)  # a list line, or JSON
        assert len(defined) == 1 and "may stand beside another label" in defined[0], defined
