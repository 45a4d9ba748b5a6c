"""An EE instruction names, for each event type it offers, the argument roles that type takes (the `roles` template
variable): from the recipe's `schema: {roles: …}` for a type it lists, else the roles seen in the entry's gold. Built
from real DuEE dev lines (tests/data/duee, research-only Baidu terms: see its SOURCE.md)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from helpers import REPO, build_in, run_cli

from humc.build.compiler import load_recipe
from humc.build.rendering import RenderContext, render_checked

DUEE = REPO / "tests" / "data" / "duee"
HEADINGS = ("各事件类型的论元角色：", "每种事件类型的论元角色：")  # zh_1, zh_2

RECIPE = """hum: 1
name: ee
language: zh
sources:
  duee: {{path: {data}}}
{constants}tasks:
  - id: ee
    task: ee
    source: duee
    fields:
      text: text
      events: duee_events(event_list)
    schema: {{negatives: 3, split_num: 2{roles}}}
    preferences: [order_triggers_by_position, empty_brackets]
    formats: [json]
    variants_per_record: 3
output: {{splits: {{train: 1.0}}}}
"""


def duee_lines(name: str = "duee_dev.head60.json") -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DUEE / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def gold_inventory(lines: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Each event type's roles in the DuEE lines, read here by hand: sorted, types without arguments left out."""
    found: dict[str, set[str]] = {}
    for line in lines:
        for event in line["event_list"]:
            for argument in event["arguments"]:
                found.setdefault(event["event_type"], set()).add(argument["role"])
    return {t: sorted(r) for t, r in found.items()}


def schema_inventory() -> dict[str, list[str]]:
    rows = duee_lines("duee_event_schema.json")
    return {row["event_type"]: [r["role"] for r in row["role_list"]] for row in rows}


def build(tmp: Path, lines: list[dict[str, Any]], roles: str = "", constants: str = "") -> list[dict[str, Any]]:
    (tmp / "duee.json").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")
    shutil.copy(DUEE / "duee_event_schema.json", tmp / "duee_event_schema.json")
    recipe = tmp / "ee.hum.yaml"
    recipe.write_text(RECIPE.format(data="duee.json", roles=roles, constants=constants), encoding="utf-8")
    result = build_in(recipe, tmp)
    assert result.exit_code == 0, result.output
    records: list[dict[str, Any]] = pq.read_table(tmp / "out" / "ee" / "data").to_pylist()
    assert {r["template"] for r in records} == {"ee/zh_1", "ee/zh_2", "ee/zh_structured"}
    return records


def listed_roles(record: dict[str, Any]) -> dict[str, list[str]]:
    """The roles an instruction lists per event type, read back from its text (IEPile's schema for the structured one)."""
    instruction = record["instruction"]
    if record["template"].endswith("structured"):
        schema = json.loads(instruction)["schema"]
        return {item["event_type"]: item["arguments"] for item in schema if isinstance(item, dict) and item["arguments"]}
    lines = instruction.splitlines()
    start = next((i for i, line in enumerate(lines) if line in HEADINGS), None)
    out: dict[str, list[str]] = {}
    if start is None:
        return out
    for line in lines[start + 1:]:
        if not line.startswith("- "):
            break
        event_type, roles = line[2:].rsplit(": ", 1)
        out[event_type] = roles.split("、")
    return out


def outside_text(record: dict[str, Any], text: str) -> str:
    """The instruction without the record's text (a structured one's JSON without its `input`)."""
    if record["template"].endswith("structured"):
        return json.dumps({k: v for k, v in json.loads(record["instruction"]).items() if k != "input"},
                          ensure_ascii=False)
    return str(record["instruction"]).replace(text, "")


def check_records(records: list[dict[str, Any]], lines: list[dict[str, Any]], inventory: dict[str, list[str]]) -> None:
    negatives_with_roles = 0
    for record in records:
        offered = list(record["labels"])
        listed = listed_roles(record)
        # every offered type with roles is listed with exactly its roles, in the order offered; no other type is
        assert list(listed) == [t for t in offered if inventory.get(t)], record["instruction"]
        assert listed == {t: inventory[t] for t in offered if inventory.get(t)}
        # a role only types not offered take is not named anywhere outside the record's text
        text = lines[record["source_row"]]["text"]
        own = {role for t in offered for role in inventory.get(t, ())}
        others = {role for t, roles in inventory.items() if t not in offered for role in roles
                  if not any(role in mine for mine in own)}  # (所属组织 is in 原所属组织)
        assert not [role for role in others if role in outside_text(record, text)]
        # each argument role of the gold is among those listed for its event type
        for row in json.loads(record["gold"]):
            if row["role"]:
                assert row["role"] in listed[row["event_type"]], (row, listed)
        gold_types = {row["event_type"] for row in json.loads(record["gold"])}
        negatives_with_roles += sum(1 for t in listed if t not in gold_types)
    assert negatives_with_roles > 0  # negative types (no gold in the text) have their roles named too


def test_without_a_role_inventory_the_roles_seen_in_the_gold_are_named(tmp_path: Path):
    lines = duee_lines()
    records = build(tmp_path, lines)
    assert len(records) > 60
    check_records(records, lines, gold_inventory(lines))


def test_the_roles_named_do_not_depend_on_the_order_of_the_records(tmp_path: Path):
    lines = duee_lines()[:30]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    forward, backward = build(tmp_path / "a", lines), build(tmp_path / "b", lines[::-1])

    def named(records: list[dict[str, Any]]) -> dict[str, list[str]]:
        return {t: roles for r in records for t, roles in listed_roles(r).items()}

    assert named(forward) == named(backward) == {t: r for t, r in gold_inventory(lines).items() if t in named(forward)}


def test_the_recipes_role_inventory_is_named_in_its_order(tmp_path: Path):
    """DuEE's schema file (`schema: {roles: duee_schema}`): its roles, in its order, also the roles no gold line has."""
    lines = duee_lines()
    records = build(tmp_path, lines, roles=", roles: duee_schema",
                    constants="constants:\n  duee_schema: {file: duee_event_schema.json}\n")
    inventory = schema_inventory()
    check_records(records, lines, inventory)
    named = {role for r in records for roles in listed_roles(r).values() for role in roles}
    assert named - {role for roles in gold_inventory(lines).values() for role in roles}  # e.g. 出售价格


def test_a_type_the_recipe_does_not_list_falls_back_to_its_gold_roles(tmp_path: Path):
    lines = duee_lines()
    gold = gold_inventory(lines)
    declared = {"组织关系-裁员": ["裁员方", "裁员人数", "时间", "地点"]}  # not sorted, and 地点 in no gold line
    records = build(tmp_path, lines, roles=", roles: {组织关系-裁员: [裁员方, 裁员人数, 时间, 地点]}")
    check_records(records, lines, {**gold, **declared})
    assert any("组织关系-裁员" in listed_roles(r) for r in records)


def test_a_role_holding_the_separator_is_quoted_where_the_roles_are_joined(tmp_path: Path):
    """`a、b` joined with 、 would read as two roles: it is written as a JSON string there, as a label is."""
    records = build(tmp_path, duee_lines(), roles=', roles: {组织关系-裁员: ["裁员方、公司", 时间]}')
    prose = [r for r in records if "组织关系-裁员" in r["labels"] and not r["template"].endswith("structured")]
    assert prose and all('- 组织关系-裁员: "裁员方、公司"、"时间"' in r["instruction"] for r in prose)
    structured = [r for r in records if "组织关系-裁员" in r["labels"] and r["template"].endswith("structured")]
    assert structured and all({"event_type": "组织关系-裁员", "trigger": True, "arguments": ["裁员方、公司", "时间"]}
                              in json.loads(r["instruction"])["schema"] for r in structured)


def test_renders_with_other_gold_roles_do_not_share_a_prepared_entry(tmp_path: Path):
    """Two builds of one entry and label set whose gold gives a type other roles (a source edited) render each its
    own: the per-entry memo and the reused template pieces are keyed by the roles too."""

    lines = duee_lines()[:1]  # 组织关系-裁员 (裁员方: 猛龙)
    (tmp_path / "duee.json").write_text(json.dumps(lines[0], ensure_ascii=False) + "\n", encoding="utf-8")
    recipe = tmp_path / "ee.hum.yaml"
    recipe.write_text(RECIPE.format(data="duee.json", roles="", constants="").replace("split_num: 2", "split_num: 5"),
                      encoding="utf-8")
    entry = load_recipe(recipe).tasks[0]
    record = {"_source": "duee", "_row": 0, "text": lines[0]["text"],
              "events": [{"event_type": "组织关系-裁员", "trigger": "裁掉", "role": "裁员方", "argument": "猛龙"}]}
    labels = ("组织关系-裁员", "组织关系-加盟")
    seen = []
    for roles in ((("组织关系-裁员", ("裁员方",)),), (("组织关系-裁员", ("时间", "裁员方")), ("组织关系-加盟", ("加盟者",)))):
        out = render_checked(RenderContext(entry, {}, labels, "ee", roles=roles), record)
        seen.append({t: r for rec in out.records for t, r in listed_roles(rec).items()})
    assert seen == [{"组织关系-裁员": ["裁员方"]}, {"组织关系-裁员": ["时间", "裁员方"], "组织关系-加盟": ["加盟者"]}]


def test_an_own_ee_template_that_never_shows_the_recipes_roles_is_noted_by_check(tmp_path: Path):
    own = tmp_path / "mystd" / "templates" / "ee" / "zh_house.j2"
    own.parent.mkdir(parents=True)
    own.write_text("抽取事件：{{ labels | join('、') }}。\n{{ format_instruction }}\n文本：{{ text }}\n", encoding="utf-8")
    (tmp_path / "duee.json").write_text((DUEE / "duee_dev.head60.json").read_text(encoding="utf-8"), encoding="utf-8")
    recipe = tmp_path / "ee.hum.yaml"
    text = RECIPE.format(data="duee.json", roles=", roles: {组织关系-裁员: [裁员方, 裁员人数, 时间]}", constants="")
    recipe.write_text(text.replace("hum: 1\n", "hum: 1\nstdlib: [mystd]\n").replace(
        "    formats: [json]\n", "    templates: [zh_house]\n    formats: [json]\n"), encoding="utf-8")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 0, result.output
    assert "note: task 'ee': template 'ee/zh_house' never shows `rules`, `roles`, so" in result.output
    recipe.write_text(text.replace("    formats: [json]\n", "    templates: [zh_1, zh_structured]\n    formats: [json]\n"),
                      encoding="utf-8")  # the stdlib's show them
    assert "never shows" not in run_cli("check", str(recipe)).output
