"""Left-outs closed in leftovers14: the DuEE adapter reads its event schema file beside the data (every role of a type
offered, not only those its gold shows); a role listed twice is a located warning W0001; EEA's gold arguments must
occur in their text (`copied_gold`, as EE's); a comparison of self-referencing lists in a template fails fast (E0010);
an event adapter's trigger that is no text fails its record instead of being written as Python's spelling of it.
Built from real DuEE, FewFC and MAVEN lines (tests/data, see each SOURCE.md)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from helpers import REPO, build_in, run_cli
from test_ee_roles import check_records, duee_lines, gold_inventory, listed_roles, schema_inventory
from test_review7 import EEA as EEA_REVIEW7

from humc.build.compiler import load_recipe
from humc.errors import HumcError
from humc.templating import render_template

DATA = REPO / "tests" / "data"
SCHEMA = DATA / "duee" / "duee_event_schema.json"

CATALOG_EE = """hum: 1
name: ee
language: zh
license: research-only
sources:
  duee: {{catalog: duee, path: {data}}}
tasks:
  - id: ee
    source: duee
    schema: {{negatives: 3, split_num: 2{roles}}}
    guidelines: []
    formats: [json]
    templates: [zh_1, zh_2, zh_structured]
    variants_per_record: 3
output: {{splits: {{train: 1.0}}}}
"""
EEA = EEA_REVIEW7.replace(str(REPO / "recipes" / "data" / "duee" / "duee_dev.head30.json"), "duee.json")  # 裁员 events


def write_lines(path: Path, lines: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")


def catalog_build(tmp: Path, *, schema: bool, roles: str = "") -> list[dict[str, Any]]:
    """The DuEE adapter built over the real dev lines, DuEE's schema file beside them when ``schema``."""
    write_lines(tmp / "duee.json", duee_lines())
    if schema:
        shutil.copy(SCHEMA, tmp / "duee_event_schema.json")
    recipe = tmp / "ee.hum.yaml"
    recipe.write_text(CATALOG_EE.format(data="duee.json", roles=roles), encoding="utf-8")
    result = build_in(recipe, tmp)
    assert result.exit_code == 0, result.output
    return pq.read_table(tmp / "out" / "ee" / "data").to_pylist()


# ----------------------------------------------------------------------------- 1. the DuEE adapter's schema file


def test_the_duee_adapter_offers_every_role_of_its_schema_file_beside_the_data(tmp_path: Path):
    records = catalog_build(tmp_path, schema=True)
    check_records(records, duee_lines(), schema_inventory())
    named = {role for r in records for roles in listed_roles(r).values() for role in roles}
    unseen = named - {role for roles in gold_inventory(duee_lines()).values() for role in roles}
    assert unseen  # roles no gold line has (出售价格 …) are offered too
    assert load_recipe(tmp_path / "ee.hum.yaml").tasks[0].event_roles == tuple(
        (t, tuple(r)) for t, r in schema_inventory().items())


def test_without_the_schema_file_the_adapter_names_the_roles_seen_in_the_gold(tmp_path: Path):
    records = catalog_build(tmp_path, schema=False)
    check_records(records, duee_lines(), gold_inventory(duee_lines()))
    assert load_recipe(tmp_path / "ee.hum.yaml").tasks[0].event_roles == ()


def test_the_recipes_own_roles_win_over_the_adapters_schema_file(tmp_path: Path):
    records = catalog_build(tmp_path, schema=True, roles=", roles: {组织关系-裁员: [裁员方, 时间]}")
    entry = load_recipe(tmp_path / "ee.hum.yaml").tasks[0]
    assert entry.event_roles == (("组织关系-裁员", ("裁员方", "时间")),)
    assert any(listed_roles(r).get("组织关系-裁员") == ["裁员方", "时间"] for r in records)


def test_an_eea_entry_reading_the_adapter_takes_the_roles_of_the_schema_file_too(tmp_path: Path):
    write_lines(tmp_path / "duee.json", duee_lines()[:5])
    shutil.copy(SCHEMA, tmp_path)
    recipe = tmp_path / "eea.hum.yaml"
    recipe.write_text(EEA, encoding="utf-8")
    roles = dict(load_recipe(recipe).tasks[0].event_roles)
    assert roles["组织关系-裁员"] == ("时间", "裁员方", "裁员人数") and len(roles) == 65


def test_a_schema_file_of_another_structure_is_an_error_in_that_file(tmp_path: Path):
    write_lines(tmp_path / "duee.json", duee_lines()[:3])
    (tmp_path / "duee_event_schema.json").write_text('{"event_type": "a", "roles": []}\n{"event_type": "b"}\n',
                                                     encoding="utf-8")
    recipe = tmp_path / "ee.hum.yaml"
    recipe.write_text(CATALOG_EE.format(data="duee.json", roles=""), encoding="utf-8")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 2
    assert (f"{tmp_path / 'duee_event_schema.json'}:1:1: error[E0008]: the roles file of catalog 'duee': "
            "duee_event_schema.json has an unknown structure: item 1 is not an object with 'event_type' and "
            "'role_list'") in result.output


def test_a_role_the_schema_file_repeats_is_warned_about_at_its_line(tmp_path: Path):
    write_lines(tmp_path / "duee.json", duee_lines()[:3])
    rows = [json.loads(line) for line in SCHEMA.read_text(encoding="utf-8").splitlines()]
    rows[2]["role_list"].append({"role": rows[2]["role_list"][0]["role"]})  # 财经/交易-加息: 时间 again
    write_lines(tmp_path / "duee_event_schema.json", rows)
    recipe = tmp_path / "ee.hum.yaml"
    recipe.write_text(CATALOG_EE.format(data="duee.json", roles=""), encoding="utf-8")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 0, result.output
    assert (f"{tmp_path / 'duee_event_schema.json'}:3:1: warning[W0001]: the roles file of catalog 'duee' lists the "
            "role '时间' of '财经/交易-加息' twice: the repeat is left out") in result.output
    assert dict(load_recipe(recipe).tasks[0].event_roles)["财经/交易-加息"] == ("时间", "加息幅度", "加息机构")


def test_the_catalog_listing_names_the_adapters_roles_file():
    result = run_cli("stdlib", "catalog", "duee")
    assert result.exit_code == 0 and "roles_file:   duee_event_schema.json" in result.output
    catalog_md = (REPO / "docs" / "catalog.md").read_text(encoding="utf-8")
    assert "each event type's from `duee_event_schema.json` when it is beside the data" in catalog_md


# ----------------------------------------------------------------------------- 2. a role listed twice: W0001


def test_a_role_listed_twice_in_the_recipe_is_a_located_warning_and_kept_once(tmp_path: Path):
    write_lines(tmp_path / "duee.json", duee_lines()[:3])
    recipe = tmp_path / "ee.hum.yaml"
    recipe.write_text(CATALOG_EE.format(data="duee.json", roles=", roles: {组织关系-裁员: [裁员方, 时间, 裁员方]}"),
                      encoding="utf-8")
    line_no, line = next((n, t) for n, t in enumerate(recipe.read_text(encoding="utf-8").splitlines(), 1) if "roles:" in t)
    column = line.rindex("裁员方") + 1  # the repeat, not the first
    result = run_cli("check", str(recipe))
    assert result.exit_code == 0, result.output
    assert (f"{recipe}:{line_no}:{column}: warning[W0001]: `schema: {{roles: …}}` lists the role '裁员方' of "
            "'组织关系-裁员' twice: the repeat is left out") in result.output
    assert load_recipe(recipe).tasks[0].event_roles == (("组织关系-裁员", ("裁员方", "时间")),)
    built = build_in(recipe, tmp_path)
    assert built.exit_code == 0 and "warning[W0001]" in built.output  # a build says it too
    assert f"note: {recipe}" not in result.output and f"warning: {recipe}" not in built.output  # labelled once
    as_json = json.loads(run_cli("--format", "json", "check", str(recipe)).stdout)
    assert as_json["ok"] and [(d["severity"], d["code"], d["line"], d["column"]) for d in as_json["diagnostics"]] == [
        ("warning", "W0001", line_no, column)]
    explained = run_cli("explain", "warning[W0001]:")
    assert explained.exit_code == 0 and explained.output.startswith("W0001: item listed twice\n")


def test_a_role_a_duee_style_list_repeats_is_warned_about_at_the_repeat(tmp_path: Path):
    write_lines(tmp_path / "duee.json", duee_lines()[:3])
    recipe = tmp_path / "ee.hum.yaml"
    roles = (", roles: [{event_type: 组织关系-裁员, role_list: [{role: 时间}]}, "
             "{event_type: 组织关系-裁员, role_list: [{role: 裁员方}, {role: 时间}]}]")
    recipe.write_text(CATALOG_EE.format(data="duee.json", roles=roles), encoding="utf-8")
    line_no, line = next((n, t) for n, t in enumerate(recipe.read_text(encoding="utf-8").splitlines(), 1) if "roles:" in t)
    column = line.rindex("{role: 时间}") + 1
    result = run_cli("check", str(recipe))
    assert f"{recipe}:{line_no}:{column}: warning[W0001]: `schema: {{roles: …}}` lists the role '时间'" in result.output
    assert load_recipe(recipe).tasks[0].event_roles == (("组织关系-裁员", ("时间", "裁员方")),)


def test_a_role_a_constant_repeats_is_warned_about_at_the_constants_name(tmp_path: Path):
    write_lines(tmp_path / "duee.json", duee_lines()[:3])
    recipe = tmp_path / "ee.hum.yaml"
    text = CATALOG_EE.format(data="duee.json", roles=", roles: mine").replace(
        "sources:", "constants:\n  mine: {组织关系-裁员: [时间, 时间]}\nsources:")
    recipe.write_text(text, encoding="utf-8")
    line_no, line = next((n, t) for n, t in enumerate(text.splitlines(), 1) if "roles: mine" in t)
    result = run_cli("check", str(recipe))
    assert (f"{recipe}:{line_no}:{line.index('mine') + 1}: warning[W0001]: constant 'mine' lists the role '时间' of "
            "'组织关系-裁员' twice") in result.output


# ----------------------------------------------------------------------------- 3. EEA: copied_gold


def test_an_eea_gold_argument_not_in_its_text_is_span_not_in_text_at_its_line(tmp_path: Path):
    lines = duee_lines()[:3]  # each first event a layoff (组织关系-裁员); line 1: 裁员方 猛龙
    assert lines[0]["event_list"][0]["arguments"][0]["argument"] == "猛龙"
    lines[0]["event_list"][0]["arguments"][0]["argument"] = "湖人"  # not in the text
    write_lines(tmp_path / "duee.json", lines)
    recipe = tmp_path / "eea.hum.yaml"
    recipe.write_text(EEA, encoding="utf-8")
    result = build_in(recipe, tmp_path)
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "span_not_in_text" in out and "duee.json:1 (argument '湖人' does not occur in 'text')" in out
    records = pq.read_table(tmp_path / "out" / "eea" / "data").to_pylist()
    assert {r["source_row"] for r in records} == {1, 2}  # the other layoffs, their NAN rows not refused
    assert all("NAN" in r["output"] for r in records)


def test_an_eea_trigger_not_in_its_text_is_span_not_in_text_too(tmp_path: Path):
    """EEA's trigger is an input, given with the event: one its text does not hold teaches a wrong premise."""
    lines = duee_lines()[:3]
    lines[1]["event_list"][0]["trigger"] = "开除了"  # line 2's text says 裁员
    write_lines(tmp_path / "duee.json", lines)
    recipe = tmp_path / "eea.hum.yaml"
    recipe.write_text(EEA, encoding="utf-8")
    result = build_in(recipe, tmp_path)
    assert result.exit_code == 0, result.output
    assert "duee.json:2 (trigger '开除了' does not occur in 'text')" in " ".join(result.output.split())
    assert {r["source_row"] for r in pq.read_table(tmp_path / "out" / "eea" / "data").to_pylist()} == {0, 2}


def test_a_task_copying_an_input_from_itself_is_refused_at_its_line(tmp_path: Path):
    own = tmp_path / "mystd" / "tasks" / "eea2.yaml"
    own.parent.mkdir(parents=True)
    text = (REPO / "stdlib" / "tasks" / "eea.yaml").read_text(encoding="utf-8").replace("id: eea\n", "id: eea2\n")
    own.write_text(text.replace("trigger: text}", "trigger: trigger}"), encoding="utf-8")
    write_lines(tmp_path / "duee.json", duee_lines()[:3])
    recipe = tmp_path / "eea.hum.yaml"
    recipe.write_text(EEA.replace("hum: 1\n", "hum: 1\nstdlib: [mystd]\n").replace("task: eea\n", "task: eea2\n"),
                      encoding="utf-8")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 2
    line = next(n for n, t in enumerate(own.read_text(encoding="utf-8").splitlines(), 1) if "copied_from" in t)
    assert f"{own}:{line}:" in result.output and "error[E0008]: 'copied_from' maps 'trigger' to 'trigger'" in result.output


# ----------------------------------------------------------------------------- 4. comparisons in the sandbox

_TWO = ("{% set ns = namespace(a=[1], b=[1]) %}{% for i in range(40) %}{% set ns.a = [ns.a, ns.a] %}"
        "{% set ns.b = [ns.b, ns.b] %}{% endfor %}")


@pytest.mark.parametrize("compared", [
    "{{ ns.a == ns.b }}", "{{ ns.a != ns.b }}", "{{ ns.a in [ns.b] }}", "{{ ns.a not in [ns.b] }}",
    "{{ ns.a < ns.b }}", "{% if [ns.a] == [ns.b] %}x{% endif %}", "{{ ns.a is eq ns.b }}", "{{ ns.a is in [ns.b] }}",
    "{{ [ns.a, ns.b] | select('eq', ns.b) | list | length }}", "{{ [ns.a, ns.b] | sort | length }}",
    "{{ [ns.a, ns.b] | max | length }}", "{{ 1 < 2 < ns.a | length }}{{ ns.a == ns.b == ns.a }}",
])
def test_comparing_two_lists_made_of_themselves_fails_fast_as_a_limit(compared: str):
    """Two lists each holding the one before twice, forty times over: `==` walked 2**40 pairs (days)."""
    started = time.perf_counter()
    with pytest.raises(HumcError) as err:
        render_template(_TWO + "\n\n" + compared, {}, "t")
    assert time.perf_counter() - started < 1
    assert err.value.code == "E0010" and "comparing a value that holds more than 16777216" in err.value.message
    assert "line 3" in err.value.message  # where the template compares them


def test_comparisons_of_ordinary_values_are_as_before():
    body = ("{{ [1, [2]] == [1, [2]] }} {{ 'b' in labels }} {{ 'x' not in labels }} {{ (1, 2) < (1, 3) }} "
            "{{ labels | sort | join(',') }} {{ labels | select('in', ['a']) | list }} {{ 3 is eq 3 }} {{ 1 < 2 < 3 }}")
    assert render_template(body, {"labels": ["b", "a"]}, "t") == "True True True True a,b ['a'] True True"
    small = _TWO.replace("range(40)", "range(5)")
    assert render_template(small + "{{ ns.a == ns.b }} {{ ns.a in [1, ns.b] }}", {}, "t") == "True True"


def test_a_recipe_template_comparing_such_lists_is_a_located_build_error(tmp_path: Path):
    own = tmp_path / "mystd" / "templates" / "ee" / "zh_cmp.j2"
    own.parent.mkdir(parents=True)
    own.write_text(_TWO + "\n{% if ns.a == ns.b %}同{% endif %}\n{{ text }}\n{{ format_instruction }}\n", encoding="utf-8")
    write_lines(tmp_path / "duee.json", duee_lines()[:2])
    recipe = tmp_path / "ee.hum.yaml"
    text = CATALOG_EE.format(data="duee.json", roles="").replace("hum: 1\n", "hum: 1\nstdlib: [mystd]\n")
    recipe.write_text(text.replace("templates: [zh_1, zh_2, zh_structured]", "templates: [zh_cmp]"), encoding="utf-8")
    started = time.perf_counter()
    result = build_in(recipe, tmp_path)
    assert time.perf_counter() - started < 60
    assert result.exit_code == 2
    assert "error[E0010]" in result.output and "comparing a value that holds more than" in result.output
    assert f"{own}:2" in result.output  # the template's line that compares
    assert not (tmp_path / "out" / "ee" / "data").exists()


# ----------------------------------------------------------------------------- 5. a trigger that is no text


def test_a_fewfc_trigger_that_is_a_list_is_an_error_naming_its_record(tmp_path: Path):
    """As DuEE's adapter refuses one (E4102, the record's line named): no dataset with "['担保']" as a trigger."""
    lines = [json.loads(line) for line in (DATA / "fewfc" / "dev_base.head8.json").read_text(encoding="utf-8").splitlines()]
    trigger = next(m for m in lines[1]["events"][0]["mentions"] if m["role"] == "trigger")
    trigger["word"] = [trigger["word"]]  # ["…"]: written as "['…']" before
    write_lines(tmp_path / "fewfc.json", lines)
    recipe = tmp_path / "f.hum.yaml"
    recipe.write_text("hum: 1\nname: f\nlicense: cc-by-sa-4.0\nsources:\n  f: {catalog: fewfc, path: fewfc.json}\n"
                      "tasks:\n  - {id: ee, source: f, formats: [json]}\noutput: {splits: {train: 1.0}}\n",
                      encoding="utf-8")
    result = build_in(recipe, tmp_path)
    assert result.exit_code == 2
    out = " ".join(result.output.split())
    assert ("error[E4102]: fewfc_events(): event 0's trigger is a list of strings ('担保'), not a text (source 'f' "
            "row 1)") in out and "the record (line 2 of the source file)" in out
    assert "expected: trigger: a string (a number is written as text)" in out
    assert not (tmp_path / "out" / "f" / "data").exists()
    lines[1]["events"][0]["mentions"] = [m for m in lines[1]["events"][0]["mentions"] if m is not trigger] + [
        {**trigger, "word": trigger["word"][0]}]
    write_lines(tmp_path / "fewfc.json", lines)  # the line as published builds
    assert build_in(recipe, tmp_path).exit_code == 0


def test_a_maven_trigger_that_is_null_fails_its_record_not_written_as_none(tmp_path: Path):
    line = json.loads((DATA / "maven" / "valid.head2.jsonl").read_text(encoding="utf-8").splitlines()[0])
    line["events"][0]["mention"][0]["trigger_word"] = None
    (tmp_path / "m.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    recipe = tmp_path / "m.hum.yaml"
    recipe.write_text("hum: 1\nname: m\nlicense: mit\nsources:\n  m: {catalog: maven, path: m.jsonl}\n"
                      "tasks:\n  - {id: ee, source: m, formats: [json]}\noutput: {splits: {train: 1.0}}\n",
                      encoding="utf-8")
    result = run_cli("check", str(recipe))
    out = " ".join(result.output.split())
    assert result.exit_code == 2
    assert "error[E4102]: maven_events(): event 0's trigger is null, not a text (source 'm' row 0)" in out
    assert "the record (line 1 of the source file)" in out


def test_a_number_trigger_is_written_as_text_as_gold_values_are(tmp_path: Path):
    """DuEE's trigger as a JSON number (a year): the documented conversion, as a number in any gold column."""
    line = {"text": "他们在2019年裁掉了三人。", "id": "x", "event_list": [
        {"event_type": "组织关系-裁员", "trigger": 2019, "arguments": [{"role": "裁员人数", "argument": "三人"}]}]}
    write_lines(tmp_path / "duee.json", [line])
    recipe = tmp_path / "ee.hum.yaml"
    recipe.write_text(CATALOG_EE.format(data="duee.json", roles="").replace("variants_per_record: 3",
                                                                            "variants_per_record: 1"), encoding="utf-8")
    result = build_in(recipe, tmp_path)
    assert result.exit_code == 0, result.output
    (record,) = pq.read_table(tmp_path / "out" / "ee" / "data").to_pylist()
    assert json.loads(record["gold"])[0]["trigger"] == "2019"
