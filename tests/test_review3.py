"""What a reviewer found reading the records the example recipes build (map -> filter -> labels -> render -> check in
memory, as `humc check --rows all` runs them): each law below held for none or not all of them before."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from helpers import REPO

from humc.build.compiler import load_recipe, pinned
from humc.build.execute import check_chunk_fn, filter_chunk_fn, map_chunk_fn, render_chunk_fn, split_result
from humc.build.rendering import RenderContext
from humc.build.transforms import collect_labels
from humc.dataset.card import CardInfo, render_card
from humc.dataset.cardinfo import source_rows
from humc.recipe.stdlib import load_stdlib
from humc.sources import read_source
from humc.templating import render_template

RECIPES = ("hum", "hum_mix", "ner", "re", "mrc", "classification")


@cache
def built(name: str) -> tuple[dict[str, Any], ...]:
    """Every record the recipe's entries give (no sampling, splits or dedup: they only drop records)."""
    return built_from(REPO / "recipes" / f"{name}.hum.yaml")


def built_from(path: Path) -> tuple[dict[str, Any], ...]:
    """Every record the entries of the recipe at ``path`` give, in memory (as ``built``)."""
    recipe = pinned(load_recipe(path))
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


def _gold_texts(gold: str) -> set[str]:
    """A record's gold items as a reader would spot them in an example: each value, and each "head → tail" pair."""
    items = json.loads(gold)
    found: set[str] = set()
    for item in items if isinstance(items, list) else [items]:
        values = item if isinstance(item, dict) else {"value": item}
        found |= {str(v).casefold() for v in values.values() if isinstance(v, str)}
        if "head" in values and "tail" in values:
            found.add(f"{values['head']} → {values['tail']}".casefold())
    return found


@pytest.mark.parametrize("name", RECIPES)
def test_no_label_example_gives_a_record_its_answer(name: str) -> None:
    """The stdlib's label examples were taken from the very samples the recipes build (CoNLL-2003 testa, CoNLL04 dev,
    AG News, MSRA): "Iraq Halts Oil Exports from Main Southern Pipeline" (Business) was shown as an example under the
    record whose text it is, "John Wilkes Booth → President Lincoln" (Kill) under the sentence it comes from. An example
    shown is neither a gold item of its record nor a second time in the instruction (in its input)."""
    guidelines = load_stdlib().guidelines
    for r in built(name):
        gold = _gold_texts(r["gold"])
        shown: list[str] = []  # every example text the record's definitions show, once per label showing it
        said = ""  # and the texts of its guidelines, which may name an example too ("北京大学" … "北京")
        for gid in r["guidelines"]:
            examples = dict(guidelines[gid].examples) if gid in guidelines else {}
            said += guidelines[gid].text if gid in guidelines and guidelines[gid].text else ""
            for label in r["labels"]:
                if label in examples:
                    shown += [*examples[label].positive, *(t for t, _ in examples[label].negative)]
        for text in shown:
            where = f"{r['task_entry']} row {r['source_row']}: example {text!r}"
            assert text.casefold() not in gold, f"{where} is the record's answer"
            assert r["instruction"].count(text) <= sum(e.count(text) for e in [*shown, said]), f"{where} is in the record's input"


@pytest.mark.parametrize("name", RECIPES)
def test_a_guideline_that_defines_labels_defines_every_label_shown(name: str) -> None:
    """duee_events defined 8 of DuEE's 65 event types: an instruction listing 组织关系-解约, 灾害/意外-坍/垮塌 and
    人生-死亡 defined only the last under its 类型定义 header."""
    guidelines = load_stdlib().guidelines
    for r in built(name):
        for gid in r["guidelines"]:
            defined = {label for label, _ in guidelines[gid].labels} if gid in guidelines else set()
            if defined & set(r["labels"]):
                assert set(r["labels"]) <= defined, f"{r['task_entry']} {gid}: {set(r['labels']) - defined}"


def test_the_card_names_each_source_with_its_license_and_cites_hum() -> None:
    """The card of recipes/hum.hum.yaml said only "License: mixed source licenses." (DuEE is research-only, AG News
    non-commercial) and cited nothing: it now lists each source's dataset, license and homepage, and how to cite."""
    recipe = load_recipe(REPO / "recipes" / "hum.hum.yaml")
    rows = {r["source"]: r for r in source_rows(recipe)}
    assert set(rows) == {e.source for e in recipe.tasks} and all(r["license"] for r in rows.values())
    assert rows["duee"]["dataset"] == "DuEE 1.0" and rows["duee"]["license"].startswith("research-only")
    card = render_card(CardInfo(
        name="hum", pretty_name=None, description=None, license=recipe.license, languages=["en"], task_categories=[],
        task_ids=[], source_datasets=[], tags=[], split_files={}, split_counts={}, task_counts={}, variant_counts={},
        template_counts={}, length_stats={}, guidelines=[], rules=[], dedup={}, llms=[], recipe_text="hum: 1\n",
        recipe_fingerprint="0" * 64, humc_version="0", sources=list(rows.values())))
    assert "| duee | DuEE 1.0 | research-only (Baidu dataset terms) | https://ai.baidu.com/broad/download |" in card
    assert "## Citation" in card and "2502.03843" in card



def test_a_label_the_where_filter_removes_is_not_offered() -> None:
    """recipes/classification.hum.yaml drops GoEmotions comments labelled neutral (`where:`) yet offered `neutral` in
    26 of its 110 instructions: never once the answer, it taught a model that neutral never applies."""
    go = [r for r in built("classification") if r["task_entry"] == "go_emotions"]
    assert go and not any("neutral" in r["labels"] for r in go)
    emotions = {label for label, _ in load_stdlib().guidelines["go_emotions_labels"].labels}
    assert {label for r in go for label in r["labels"]} <= emotions - {"neutral"}


@pytest.mark.parametrize("question", ["NP stands for which class?", "Turing machines compute what?", "BQP is what?"])
def test_a_question_woven_into_a_sentence_keeps_its_proper_nouns(question: str) -> None:
    """mrc_extractive/en_2 (and the mrc lockfile's paraphrase of it) lowercased a question's first letter to write
    "Based on the passage above, what …": SQuAD's "NP …", "BQP …", "Turing …" became "nP", "bQP", "turing"."""
    entry = load_recipe(REPO / "recipes" / "mrc.hum.yaml").tasks[0]
    woven = [t for t in entry.templates if "question[1:]" in t.text]
    assert len(woven) == 2
    for template in woven:
        values = {"context": "c", "question": question, "guidelines": [], "rules": [], "format_instruction": "f"}
        assert question in render_template(template.text, values, template.id)
        said = render_template(template.text, {**values, "question": "What is NP?"}, template.id)
        assert "above, what is NP?" in said


def test_a_task_that_answers_every_shown_label_never_promises_an_empty_answer() -> None:
    """EEA fills every shown role (NAN when the text does not), so its answer is never empty, yet its format sentences
    said 如果没有答案，请输出 [] (If there is no answer, output [])."""
    for task in load_stdlib().tasks.values():
        if task.schema_missing is not None:
            assert task.answer_always, task.id
    for r in built("hum"):
        if r["task"] == "eea":
            assert "没有答案" not in r["instruction"] and "no answer" not in r["instruction"], r["instruction"]


def test_the_multiple_choice_convention_fits_numbered_options() -> None:
    """ARC labels some options 1-4 (NYSEDREGENTS items), yet arc_mc_conventions said "Give the option's label (for
    example "B")" under them."""
    text = load_stdlib().guidelines["arc_mc_conventions"].text or ""
    assert '"B"' in text and '"2"' in text


@pytest.mark.parametrize("language,many", [("en", "one answer per line"), ("zh", "每行一个答案")])
def test_the_markdown_list_sentence_asks_one_line_of_a_single_answer_task(language: str, many: str) -> None:
    from humc.build.rendering import variant_context

    text = load_stdlib().variants["markdown_list"].text[language]
    single = render_template(text, variant_context(["label"], "one", None, False), "markdown_list")
    several = render_template(text, variant_context(["label"], "many", None, True), "markdown_list")
    assert many not in single and "- …" in single and many in several
