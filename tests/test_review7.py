"""What a seventh review found reading the records humc writes, as someone fine-tuning on them would: each test
builds the real samples in recipes/data and asserts the property that was broken in them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers import REPO, run_cli
from test_review3 import built_from
from test_review4 import records_of

DATA = REPO / "recipes" / "data"

IEPILE = f"""hum: 1
name: iepile
license: mit
sources:
  conll: {{catalog: conll2003, path: {DATA / "conll2003" / "eng.testa.head40"}}}
  conll04: {{catalog: conll04, path: {DATA / "conll04" / "conll04_dev.head40.json"}}}
  duee: {{catalog: duee, path: {DATA / "duee" / "duee_dev.head30.json"}}}
tasks:
  - {{id: ner, source: conll, templates: all, formats: [iepile_json]}}
  - {{id: re, source: conll04, templates: all, formats: [iepile_json]}}
  - {{id: ee, source: duee, templates: all, formats: [iepile_json]}}
"""


def _inner_keys(answer: Any) -> set[str]:
    """The keys of the objects inside a grouped answer (not its label keys), at every depth."""
    if isinstance(answer, dict):
        return {k for k in answer} | {k for v in answer.values() for k in _inner_keys(v)}
    if isinstance(answer, list):
        return {k for v in answer for k in _inner_keys(v)}
    return set()


def test_an_iepile_json_instruction_names_the_keys_its_answers_have(tmp_path: Path) -> None:
    """iepile_json renames a relation's head and tail to subject and object and nests an event's arguments as
    {trigger, arguments: [{role, argument}]}, yet its sentence said only "one object keyed by the schema labels, each
    holding the list of its answers": an RE instruction asked for (head, relation, tail) triples (re/en_2) above an
    answer of {"subject", "object"} objects, and no EE instruction named trigger, arguments, role or argument."""
    (tmp_path / "r.hum.yaml").write_text(IEPILE, encoding="utf-8")
    records = built_from(tmp_path / "r.hum.yaml")
    assert {r["task"] for r in records} == {"ner", "re", "ee"}
    seen: dict[str, set[str]] = {}
    for r in records:
        answer = json.loads(r["output"])
        keys = {k for group in answer.values() for k in _inner_keys(group)} if isinstance(answer, dict) else set()
        missing = sorted(k for k in keys if k not in r["instruction"])
        assert not missing, (r["template"], missing, r["instruction"][-400:])
        seen.setdefault(r["task"], set()).update(keys)
    assert seen["re"] == {"subject", "object"}
    assert seen["ee"] == {"trigger", "arguments", "role", "argument"}
    ner = next(r for r in records if r["task"] == "ner")
    assert "(the spans, as strings)" in ner["instruction"]


def _rows(path: Path) -> int:
    """The records of a CoNLL column file: its sentences (blank-line separated, -DOCSTART- lines aside)."""
    blocks = path.read_text(encoding="utf-8").split("\n\n")
    return sum(1 for b in blocks if b.strip() and not b.strip().startswith("-DOCSTART-"))


def test_the_card_counts_the_source_rows_where_and_sample_left_out(tmp_path: Path) -> None:
    """recipes/ner.hum.yaml's `where: words(text) >= 3` keeps 33 of the sample's 40 sentences, yet its card said
    "Dropped records: None: every source row became records whose output matches its instruction" and listed only
    "duplicates removed | 0" under filtering; recipes/hum.hum.yaml's negative_ratio dropped 12 all-negative MSRA
    instructions the card never mentioned. The card now counts what `where`, `sample` and `negative_ratio` left out."""
    out = tmp_path / "out"
    result = run_cli("build", str(REPO / "recipes" / "ner.hum.yaml"), "--out", str(out), "--cache", str(tmp_path / "c"),
                     "-q", "-j", "1")
    assert result.exit_code == 0, result.output
    folder = out / "ner"
    card = (folder / "README.md").read_text(encoding="utf-8")
    records = records_of(folder)
    kept = len({r["source_row"] for r in records})
    read = _rows(DATA / "conll2003" / "eng.testa.head40")
    assert (read, kept) == (40, 33)
    assert f"| source rows filtered out by `where` (conll2003) | {read - kept} |" in card
    assert "every source row became records" not in card
    assert "None at the checks: every record that reached them matches its instruction" in card


def test_the_card_lists_only_label_definitions_some_instruction_offers(tmp_path: Path) -> None:
    """The card's guideline section said "Label definitions (shown with the labels in the instructions):" over every
    label the guideline defines: GoEmotions' "neutral" for recipes/classification.hum.yaml, which drops it (`where`,
    `labels:`), and all 65 DuEE event types for hum.hum.yaml's sample, which offers 8. It now lists the labels the
    entries using the guideline offer."""
    out = tmp_path / "out"
    result = run_cli("build", str(REPO / "recipes" / "classification.hum.yaml"), "--out", str(out), "--cache",
                     str(tmp_path / "c"), "-q", "-j", "1")
    assert result.exit_code == 0, result.output
    card = (out / "classification" / "README.md").read_text(encoding="utf-8")
    offered = {label for r in records_of(out / "classification") for label in r["labels"]}
    prefix = "Label definitions (shown with the labels in the instructions): "
    listed = [line[len(prefix):].rstrip(".").split(", ") for line in card.splitlines() if line.startswith(prefix)]
    assert len(listed) == 2 and "admiration" in listed[1]
    assert {label for labels in listed for label in labels} == offered
    assert "neutral" not in offered


QUESTIONS = f"""hum: 1
name: questions
license: mit
sources:
  boolq: {{catalog: boolq, path: {REPO / "tests" / "data" / "boolq" / "dev.head6.jsonl"}}}
  squad: {{catalog: squad_v2, path: {DATA / "squad_v2" / "dev-v2.0.head5.json"}}}
tasks:
  - {{id: boolq, source: boolq, templates: [en_2], formats: [json]}}
  - {{id: squad, source: squad, templates: [en_2], formats: [json]}}
"""


def test_a_question_the_template_puts_in_a_sentence_reads_as_one(tmp_path: Path) -> None:
    """mrc_yes_no/en_2 and mrc_extractive/en_2 write "Based on the passage above, <question>": every BoolQ question
    (lowercase, no question mark) gave "Based on the passage above, does the nile flow north" followed by "Answer no or
    yes.", as did SQuAD's questions without a mark ("…who gave their name to Normandy in the 1000's and 1100's");
    the yes/no template also kept a capital ("…, Is it …"). The sentence now ends in "?", its first word lowercased
    as mrc_extractive/en_2 already did."""
    (tmp_path / "r.hum.yaml").write_text(QUESTIONS, encoding="utf-8")
    records = built_from(tmp_path / "r.hum.yaml")
    asked = [line for r in records for line in r["instruction"].splitlines()
             if line.startswith("Based on the passage above, ")]
    assert len(asked) == len(records) and {r["task_entry"] for r in records} == {"boolq", "squad"}
    assert all(line.endswith(("?", ".", "!")) for line in asked), [a for a in asked if not a.endswith("?")]
    assert "Based on the passage above, do iran and afghanistan speak the same language?" in asked
    assert "Based on the passage above, who gave their name to Normandy in the 1000's and 1100's?" in asked


EEA = f"""hum: 1
name: eea
license: mit
sources:
  duee: {{catalog: duee, path: {DATA / "duee" / "duee_dev.head30.json"}}}
tasks:
  - id: eea
    task: eea
    source: duee
    language: zh
    fields:
      text: text
      event_type: get(first(event_list), "event_type")
      trigger: get(first(event_list), "trigger")
      arguments: get(first(event_list), "arguments")
    where: event_type == "组织关系-裁员"
    labels: [时间, 裁员方, 裁员人数]
    templates: all
    formats: [grouped_json, iepile_json]
    variants_per_record: 2
"""


def test_a_grouped_eea_answer_is_described_with_nan_not_an_empty_list(tmp_path: Path) -> None:
    """EEA answers a role the text does not fill with NAN, so grouped_json and iepile_json (IEPile's own EEA shape)
    write {"时间": ["NAN"], …}, yet their sentence said "没有对应内容时给出空列表 []" / "不存在的标签返回空列表" right
    after the template's "文本中没有的角色回答 NAN": the instruction contradicted itself and its answer."""
    (tmp_path / "r.hum.yaml").write_text(EEA, encoding="utf-8")
    records = built_from(tmp_path / "r.hum.yaml")
    assert {r["answer_format"] for r in records} == {"grouped_json", "iepile_json"}
    nan_roles = 0
    for r in records:
        answer = json.loads(r["output"])
        assert set(answer) == set(r["labels"]) and all(answer.values()), r["output"]
        nan_roles += sum(v == ["NAN"] for v in answer.values())
        said = json.loads(r["instruction"])["instruction"] if r["template"].endswith("_structured") else r["instruction"]
        assert '["NAN"]' in said and "空列表" not in said, said[-300:]
    assert nan_roles > 0


def test_the_mrc_recipes_pinned_paraphrase_ends_its_question_too(tmp_path: Path) -> None:
    """recipes/mrc.hum.lock pins a human-edited paraphrase of mrc_extractive/en_2 ("According to the text above,
    <question>") with the same gap: a SQuAD question without a mark ran on into the conventions below it."""
    recipe = (REPO / "recipes" / "mrc.hum.yaml").read_text(encoding="utf-8")
    recipe = recipe.replace("path: data/", f"path: {REPO / 'recipes' / 'data'}/").replace(
        "templates: all ", "templates: [en_2] ").replace("variants_per_record: 2", "variants_per_record: 4")
    (tmp_path / "mrc.hum.yaml").write_text(recipe, encoding="utf-8")
    (tmp_path / "mrc.hum.lock").write_text((REPO / "recipes" / "mrc.hum.lock").read_text(encoding="utf-8"),
                                           encoding="utf-8")
    records = built_from(tmp_path / "mrc.hum.yaml")
    asked = [line for r in records if r["template"] == "mrc_extractive/en_2~5ab65ed9d0"
             for line in r["instruction"].splitlines() if line.startswith("According to the text above, ")]
    assert len(asked) >= 31
    assert all(line.endswith(("?", ".", "!")) for line in asked), [a for a in asked if not a.endswith("?")]
    assert "According to the text above, who gave their name to Normandy in the 1000's and 1100's?" in asked
