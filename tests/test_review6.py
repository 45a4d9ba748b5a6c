"""What a sixth review found building the real samples of /work/shared/data through the catalog adapters with every
template and format variant their tasks offer, and reading the Parquet back: each test builds a small copy of the
real rows (tests/data, with their SOURCE.md) and asserts the property that was broken in them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from helpers import REPO, run_cli
from test_review3 import built_from
from test_review4 import records_of

from humc.answers.ops import OPS, AnswerState
from humc.answers.table import AnswerTable
from humc.build.rendering import variant_context
from humc.expr.functions import strip_html
from humc.templating import render_template

DATA = REPO / "tests" / "data"


def _recipe(catalog: str, path: Path, entry: str) -> str:
    """A recipe of one source read through a catalog adapter and one task entry (YAML flow mapping or block lines),
    every instruction compound, every record in test."""
    return f"""hum: 1
name: r
license: other
sources:
  src: {{catalog: {catalog}, path: {path}}}
mix: {{compound: 1.0}}
tasks:
{entry}
output: {{splits: {{test: 1.0}}, dedup: false}}
"""


def _build(tmp_path: Path, recipe: str) -> tuple[dict[str, Any], ...]:
    """Every record the recipe gives (map, render and check in memory, as tests/test_review3.py's ``built``)."""
    (tmp_path / "r.hum.yaml").write_text(recipe, encoding="utf-8")
    return built_from(tmp_path / "r.hum.yaml")


MSRA = _recipe("msra_ner", DATA / "msra_ner" / "test.s146_773_782.txt",
               "  - {id: msra, source: src, templates: all, formats: [json, inline_tags], variants_per_record: 6}")


def test_a_single_character_entity_keeps_its_own_mention(tmp_path: Path) -> None:
    """MSRA tags 中 and 美 in "中美两国" and again in "中美关系"; ordering the entities by a search of the text placed
    the second 美 inside 更美好 ("a better future"), so the gold stated under "List the entities in the order in which
    they appear" read [中, 美, 美, 中] and inline tags wrapped the 美 of 更美好 while leaving that of 中美关系 bare
    (12 of 6,000 MSRA records of the 1,000-sentence sample)."""
    records = _build(tmp_path, MSRA)
    first = [r for r in records if r["source_row"] == 1]
    assert {r["answer_format"] for r in first} == {"json", "inline_tags"}
    for r in first:
        assert [(g["type"], g["span"]) for g in json.loads(r["gold"])] == [("LOC", "中"), ("LOC", "美")] * 2
        if r["answer_format"] == "inline_tags":
            assert "更美好" in r["output"] and "<LOC>中</LOC><LOC>美</LOC>关系" in r["output"]
    second = {json.dumps([g["span"] for g in json.loads(r["gold"])], ensure_ascii=False)
              for r in records if r["source_row"] == 2}
    assert second == {json.dumps(["克林顿", "中", "美", "亚洲", "美", "中"], ensure_ascii=False)}
    tagged = [r["output"] for r in records if r["source_row"] == 2 and r["answer_format"] == "inline_tags"]
    assert all("当前<LOC>中</LOC><LOC>美</LOC>在" in t and "希望<LOC>美</LOC><LOC>中</LOC>两国" in t for t in tagged)


def test_ordering_by_position_still_sorts_rows_out_of_reading_order() -> None:
    """Rows that do not read left to right are still sorted, longer spans first ("Paris Hilton" before the "Paris"
    inside it), and the result is a fixed point."""
    text = "Paris Hilton met EU officials in Paris"
    table = AnswerTable(("type", "span"), (("LOC", "Paris"), ("ORG", "EU"), ("PER", "Paris Hilton")), "many")
    sort = OPS["sort_by_position"][0]
    once = sort(AnswerState(table), text, ("span",))
    assert [r[1] for r in once.table.rows] == ["Paris Hilton", "EU", "Paris"]
    assert sort(once, text, ("span",)).table.rows == once.table.rows
    kept = AnswerTable(("type", "span"), (("ORG", "EU"), ("LOC", "Paris")), "many")  # a schema batch without PER
    assert sort(AnswerState(kept), text, ("span",)).table.rows == kept.rows


def test_event_detection_answers_each_event_once(tmp_path: Path) -> None:
    """EET built with recipes/hum.hum.yaml's mapping `duee_events(event_list)` (one row per argument) answered
    [裁掉, 签下, 签下] for "…猛龙已将前锋萨加巴-科纳特裁掉。此前他与猛龙签下了…在被裁掉后…": the 签下 event twice (its two
    arguments) and the second 裁掉 event not at all (1,312 of 2,000 EET records of DuEE's first 500 lines, wherever the
    entry did not dedupe, as tests/test_review4.py's does not). The example now maps one row per event."""
    example = yaml.safe_load((REPO / "recipes" / "hum.hum.yaml").read_text(encoding="utf-8"))
    events = next(t for t in example["tasks"] if t["id"] == "eet_zh")["fields"]["events"]
    path = DATA / "duee" / "duee_dev.head60.json"
    records = _build(tmp_path, _recipe("duee", path, f"  - {{id: eet, task: eet, source: src, language: zh, "
                                                   f"fields: {{text: text, events: '{events}'}}, preferences: []}}"))
    source = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len({r["source_row"] for r in records}) == len(source)
    for r in records:
        shown = [(e["event_type"], e["trigger"]) for e in source[r["source_row"]]["event_list"]
                 if e["event_type"] in r["labels"]]
        assert sorted((g["event_type"], g["trigger"]) for g in json.loads(r["gold"])) == sorted(shown)
    first = next(r for r in records if r["source_row"] == 0)
    assert [g["trigger"] for g in json.loads(first["gold"])] == ["裁掉", "签下", "裁掉"]


SQUAD = _recipe("squad_v2", DATA / "squad_v2" / "dev-v2.0.normans.json",
                "  - {id: squad, source: src, templates: all, formats: [json, text], variants_per_record: 8}")


def test_a_squad_question_is_asked_without_stray_spaces(tmp_path: Path) -> None:
    """SQuAD 2.0 writes 31 of the sample's 626 questions with stray spaces ("Who killed Harold II? ", "When did
    Dyrrachium  fall", " What cannot be solved…"), which the instructions kept: "Question: Who killed Harold II? ",
    "Based on the passage above,  What cannot be solved" (its capital left, the template's lowercasing seeing a
    space) and "question": "…by what?  " in the structured template."""
    records = _build(tmp_path, SQUAD)
    assert {r["template"] for r in records} == {f"mrc_extractive/en_{t}" for t in ("1", "2", "3", "structured")}
    for r in records:
        assert "  " not in r["instruction"] and " \n" not in r["instruction"] and '? "' not in r["instruction"]
    assert any("Based on the passage above, when did Dyrrachium fall to the Normans?" in r["instruction"]
               for r in records)
    assert any('"question": "Who killed Harold II?"' in r["instruction"] for r in records)


def test_an_ag_news_text_has_no_html_markup_and_keeps_its_tickers(tmp_path: Path) -> None:
    """AG News escapes the HTML of some descriptions, which fix_entities turned back into markup: "…download critical
    updates … software. <FONT face="verdana,MS Sans Serif,arial,helvetica" size="-2" color="#666666"><B>-The Washington Post</B>
    </FONT>" and "BAZARAK, Afghanistan<br>Like virtually every adult…" were the texts to classify. Reuters' tickers
    ("crude oil futures <CLc1>") are the story's own words and stay."""
    source = DATA / "ag_news" / "train.rows286_431_434.csv"
    records = _build(tmp_path, _recipe("ag_news", source,
                                       "  - {id: ag, source: src, templates: all, formats: [json], variants_per_record: 4}"))
    texts = {r["source_row"]: r["instruction"] for r in records}
    assert set(texts) == {0, 1, 2}
    assert "anti-virus software. -The Washington Post" in texts[0] and "BAZARAK, Afghanistan Like virtually" in texts[2]
    assert "NYMEX crude oil futures <CLc1> hit a new record" in texts[1]
    assert not [t for t in texts.values() if re.search(r"(?i)</?(font|b|br)\b", t)]
    assert strip_html('a<br/>b <A HREF="x">c</A> <LOW.N>') == 'a b  c  <LOW.N>'


def test_the_open_ie_guideline_explains_the_context_the_carb_gold_ends_with(tmp_path: Path) -> None:
    """CaRB ends the extractions of a reported fact with a context argument, "C: authorities said" (101 arguments in
    55 of the 641 dev sentences), which the adapter joins into the object as it joins every argument ("at a leftist
    union hall in San Salvador, killing at least eight people C: authorities said"); carb_conventions never said so,
    so no instruction told a model where that "C:" comes from."""
    records = _build(tmp_path, _recipe("openie_carb", DATA / "openie_carb" / "dev.lines2353_2358.tsv",
                                       "  - {id: oie, source: src, templates: all, formats: [json], variants_per_record: 4}"))
    assert {r["template"] for r in records} == {f"openie/en_{t}" for t in ("1", "2", "3", "structured")}
    for r in records:
        objects = [t["object"] for t in json.loads(r["gold"])]
        assert len(objects) == 6 and all(o.endswith(" C: authorities said") or o == "C: authorities said"
                                         for o in objects)
        assert 'context, marked as CaRB marks it: \\"C: authorities said\\"' in r["instruction"] \
            or 'context, marked as CaRB marks it: "C: authorities said"' in r["instruction"]


def test_a_nested_grouped_answer_is_described_as_nested(tmp_path: Path) -> None:
    """`grouped_json | nest(arguments=["role", "argument"])` wrote DuEE's events as {"组织关系-裁员": [{"trigger": …,
    "arguments": [{"role": …, "argument": …}]}]} while its sentence promised "objects with the keys of event_type,
    trigger, role, argument other than the label": no arguments key, role and argument at the wrong level."""
    records = _build(tmp_path, _recipe("duee", DATA / "duee" / "duee_dev.head60.json", '  - {id: ee, source: src, '
                                       'formats: [\'grouped_json | nest(arguments=["role", "argument"])\']}'))
    for r in records:
        assert "由 event_type、trigger 中除标签外的键和 arguments（一个对象列表，每个对象包含键 role、argument）组成的对象" \
            in r["instruction"]
    item = next(i for r in records for items in json.loads(r["output"]).values() for i in items)
    assert set(item) == {"trigger", "arguments"} and {k for a in item["arguments"] for k in a} <= {"role", "argument"}
    text = yaml.safe_load((REPO / "stdlib" / "variants" / "grouped_json.yaml").read_text(encoding="utf-8"))["text"]["en"]
    sentence = render_template(text, variant_context(["event_type", "trigger", "role", "argument"], "many", None, True,
                                                     {"arguments": ["role", "argument"]}), "grouped_json")
    assert "(objects with the keys of event_type, trigger other than the label, and arguments: a list of objects " \
           "with the keys role, argument)" in sentence


def test_eval_scores_the_gold_of_grouped_answers_as_following_the_order_rule(tmp_path: Path) -> None:
    """Once entities keep their reading order, `humc eval` with the gold answers as predictions judged 18 grouped_json
    and iepile_json answers of the MSRA sample out of order: it sorted the rows of all labels at once, in label
    order, and the LOC list ["北京", "中国", "中国", "京"] of a text with ORG "中国工程院" between them was sorted
    otherwise (tests/test_review5.py keeps a list out of order judged so). A label's list in reading order now follows
    the rule."""
    (tmp_path / "r.hum.yaml").write_text(MSRA.replace("[json, inline_tags]", "[grouped_json, iepile_json]")
                                         .replace("test.s146_773_782.txt", "test.s146_773_782.txt"), encoding="utf-8")
    assert run_cli("build", str(tmp_path / "r.hum.yaml"), "-q", "-j", "1").exit_code == 0
    records = records_of(tmp_path / "out" / "r")
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps({"id": r["id"], "prediction": r["output"]}) + "\n" for r in records),
                     encoding="utf-8")
    result = run_cli("eval", str(tmp_path / "out" / "r"), "--predictions", str(preds), "--report",
                     str(tmp_path / "e.json"))
    assert result.exit_code == 0, result.output
    scored = json.loads((tmp_path / "e.json").read_text(encoding="utf-8"))["records"]
    judged = [ok for s in scored for rule, ok in s["rules"].items() if rule == "order_entities_by_position"]
    assert len(judged) == len(records) and all(judged)


def test_a_grouped_answer_is_judged_list_by_list_only_for_an_ordering_rule() -> None:
    """The per-label judging of a grouped answer applied to any rule: `first` (or `shortest`) of each one-row list
    leaves it as it is, so a two-label answer was judged to follow "give one answer"."""
    from humc.answers.formats import FormatContext, FormatSpec
    from humc.eval.scoring import _fixed_point
    from humc.ir import AnswerOp, PreferenceRule

    context = FormatContext(labels=("LOC", "PER"), label_column="type", text="Ada met Bob in Paris.")
    answer = AnswerState(AnswerTable.of(("type", "span"), [("LOC", "Paris"), ("PER", "Ada")], "many"))

    def judged(*op: AnswerOp) -> bool | None:
        return _fixed_point(PreferenceRule("r", "r", {}, None, op, (), "d"), answer, "Ada met Bob in Paris.",
                            FormatSpec("grouped_json"), context)

    assert judged(AnswerOp("first")) is False and judged(AnswerOp("shortest", ("span",))) is False
    assert judged(AnswerOp("sort_by_position", ("span",))) is True
    assert judged(AnswerOp("dedupe"), AnswerOp("sort_by_position", ("span",))) is True
