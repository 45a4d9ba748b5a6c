"""What a fifth review found reading the records the example recipes build: each test builds the real samples in
recipes/data (as tests/test_review3.py's `built` does) and asserts the property that was broken in them."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from helpers import REPO, run_cli
from test_review3 import built
from test_review4 import records_of

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


GROUPED = f"""hum: 1
name: grouped
license: mit
sources:
  conll: {{catalog: conll2003, path: {DATA / "conll2003" / "eng.testa.head40"}}}
  conll04: {{catalog: conll04, path: {DATA / "conll04" / "conll04_dev.head40.json"}}}
mix: {{compound: 1.0, rules: 1.0}}
tasks:
  - {{id: ner, source: conll, formats: [grouped_json, iepile_json, inline_tags], variants_per_record: 3}}
  - {{id: re, source: conll04, formats: [grouped_json, iepile_json], variants_per_record: 2}}
output:
  splits: {{test: 1.0}}
"""


def test_eval_reads_grouped_and_tagged_answers_and_judges_their_order_within_a_label(tmp_path: Path) -> None:
    """`humc eval` parsed a prediction without the record's labels: the gold answers themselves, given as predictions,
    scored 0 in format adherence under grouped_json (22%: only its [] answers read), iepile_json (29%) and inline_tags
    (60%). Once read, an ordering rule was judged across labels, which a grouped answer cannot follow: 76% rule
    adherence for the gold itself. Now the gold scores 100% on both, and a label's list out of order does not."""
    (tmp_path / "grouped.hum.yaml").write_text(GROUPED, encoding="utf-8")
    assert run_cli("build", str(tmp_path / "grouped.hum.yaml"), "-q", "-j", "1").exit_code == 0
    folder = tmp_path / "out" / "grouped"
    records = records_of(folder)
    assert {r["answer_format"] for r in records} == {"grouped_json", "iepile_json", "inline_tags"}
    swapped = next(r for r in records if r["answer_format"] == "grouped_json" and "order_entities_by_position" in r["rules"]
                   and any(len(v) > 1 for v in json.loads(r["output"]).values()))
    wrong = json.dumps({k: v[::-1] for k, v in json.loads(swapped["output"]).items()}, ensure_ascii=False)
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps({"id": r["id"], "prediction": wrong if r is swapped else r["output"]}) + "\n"
                             for r in records), encoding="utf-8")
    result = run_cli("eval", str(folder), "--predictions", str(preds), "--report", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    scored = {s["id"]: s for s in report["records"]}
    assert all(s["strict"] and s["score"] == 1.0 for s in scored.values())
    assert scored[swapped["id"]]["rules"]["order_entities_by_position"] is False
    judged = [ok for i, s in scored.items() if i != swapped["id"] for ok in s["rules"].values()]
    assert len(judged) > 50 and all(judged)


def test_a_conll04_quote_is_one_token_as_in_the_other_ptb_texts() -> None:
    """SpERT's CoNLL04 splits PTB's `` and '' into two tokens each, so 7 of the 40 sentences of recipes/re.hum.yaml
    read "` ` With South Carolina being Jesse Jackson 's home state , … the black community. ' '"."""
    texts = {r["instruction"] for r in built("re")}
    assert any("`` With South Carolina being Jesse Jackson 's home state" in t and "community. ''" in t for t in texts)
    assert not [t for t in texts if "` `" in t or "' '" in t]
