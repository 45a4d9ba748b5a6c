"""A newcomer's own guideline, template and preference rules: a guideline and template in a `stdlib:` folder are used
by id when they are where humc looks, and an error says where they belong when they are almost there (instead of
being passed over in silence); a rule no instruction states is noted."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers import HOUSE_NER_HEAD, REPO, run_cli

GUIDELINE = """id: house_ner
title: House NER conventions
tasks: [ner]
text: A person's title (Mr., Dr.) is not part of the name.
labels:
  PER: names of people
  ORG: companies, institutions and sports teams
  LOC: places
  MISC: nationalities, events and other proper names
"""

TEMPLATE = """Find the named entities ({{ labels | join(', ') }}) in the sentence.
{% for label, definition in label_definitions.items() %}
* {{ label }} = {{ definition }}
{% endfor %}
{% for g in guidelines %}{{ g }}
{% endfor %}{% for r in rules %}{{ r }}
{% endfor %}{{ format_instruction }}
Sentence: {{ text }}
"""

RECIPE = HOUSE_NER_HEAD + "    guidelines: [house_ner]\n    templates: [TEMPLATE_ID]\n    formats: [json]\n"


def folder(tmp_path: Path, template: str = "templates/ner/en_house.j2", guidelines: str = "guidelines",
           text: str = TEMPLATE) -> Path:
    """A recipe folder with the real CoNLL-2003 sample, the guideline and the template placed as given."""
    (tmp_path / "data").mkdir(parents=True)
    shutil.copy(REPO / "recipes/data/conll2003/eng.testa.head40", tmp_path / "data")
    (tmp_path / "mystd" / guidelines).mkdir(parents=True)
    (tmp_path / "mystd" / guidelines / "house_ner.yaml").write_text(GUIDELINE, encoding="utf-8")
    (tmp_path / "mystd" / template).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "mystd" / template).write_text(text, encoding="utf-8")
    recipe = tmp_path / "r.hum.yaml"
    recipe.write_text(RECIPE.replace("TEMPLATE_ID", Path(template).stem), encoding="utf-8")
    return recipe


def test_an_own_guideline_and_template_in_a_stdlib_folder_write_the_instructions(tmp_path: Path) -> None:
    recipe = folder(tmp_path)
    result = run_cli("build", "-q", "-j", "1", str(recipe))
    assert result.exit_code == 0, result.output
    rows = pq.read_table(next((tmp_path / "out/house-ner/data").glob("train-*.parquet"))).to_pylist()
    first = rows[0]["instruction"]
    assert first.startswith("Find the named entities (") and "* PER = names of people" in first
    assert "Sentence: CRICKET - ENGLISH COUNTY CHAMPIONSHIP SCORES ." in first
    assert {r["template"] for r in rows} == {"ner/en_house"} and {tuple(r["guidelines"]) for r in rows} == {("house_ner",)}


@pytest.mark.parametrize(("template", "guidelines", "message", "hint"), [
    ("templates/ner/en_house.j2", "guideline", "humc reads 'guidelines/', not 'guideline/'", "to guidelines"),
    ("Templates/ner/en_house.j2", "guidelines", "humc reads 'templates/', not 'Templates/'", "to templates"),
    ("templates/en_house.j2", "guidelines", "templates/en_house.j2 is not in a task's folder",
     "move it into the folder of the task"),
])
def test_a_stdlib_file_almost_where_humc_looks_is_an_error_saying_where_it_belongs(
        tmp_path: Path, template: str, guidelines: str, message: str, hint: str) -> None:
    recipe = folder(tmp_path, template=template, guidelines=guidelines)
    # from a recipe, at its `stdlib:` item naming the folder; from the command line, at no line
    for args, where in ((["check", str(recipe)], f"{recipe}:3:10: "), (["stdlib", "--stdlib", str(tmp_path / "mystd")], "")):
        result = run_cli(*args)
        assert result.exit_code == 2, result.output
        assert result.output.startswith(f"{where}error[E0012]: ") and message in result.output and hint in result.output


def test_a_templates_folder_named_for_no_task_is_an_error_with_the_task_meant(tmp_path: Path) -> None:
    recipe = folder(tmp_path, template="templates/NER/en_house.j2")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 2 and "error[E2003]: templates folder" in result.output
    assert "names no task: 'NER'" in result.output and "hint: task names are lower case: templates/ner/" in result.output


def test_a_recipe_folder_used_as_its_own_stdlib_may_hold_other_folders(tmp_path: Path) -> None:
    recipe = folder(tmp_path)
    for name in ("tests", "plots", "out", "notes"):  # close to no folder humc reads, once case, `-` and a plural aside
        (tmp_path / "mystd" / name).mkdir()
    result = run_cli("check", str(recipe))
    assert result.exit_code == 0 and "ok — 1 task(s)" in result.output


def test_a_template_named_without_a_language_gets_no_note_about_a_language_it_does_not_name(tmp_path: Path) -> None:
    recipe = folder(tmp_path, template="templates/ner/house.j2")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 0 and "ok — 1 task(s)" in result.output
    notes = [line for line in result.output.splitlines() if "note:" in line and "`license:`" not in line]
    assert "its instructions" not in result.output and notes == []


def test_a_bare_when_then_preference_that_no_instruction_states_is_noted_by_check_and_build(tmp_path: Path) -> None:
    recipe = folder(tmp_path)
    recipe.write_text(recipe.read_text(encoding="utf-8") + """    preferences:
      - empty_brackets
      - when len(answer) == 0 then empty_as("[]")
      - when len(answer) > 1 then sort_by("type")
      - {id: by_type, text: "Group the entities by type.", when: len(answer) > 1, then: sort_by("type")}
""", encoding="utf-8")
    note = ("task 'conll': the preference `when len(answer) > 1 then sort_by(\"type\")` has no text, so it shapes the "
            "gold answers but no instruction states it; to state it, write it as a mapping {id, text, when, then}")
    check = run_cli("check", str(recipe))
    assert check.exit_code == 0 and f"note: {note}" in check.output
    assert check.output.count("has no text") == 1   # empty_as shows in the format sentence; by_type has its text
    build = run_cli("build", "-q", "-j", "1", str(recipe))
    assert build.exit_code == 0 and f"warning: {note}" in build.output
    rows = pq.read_table(next((tmp_path / "out/house-ner/data").glob("train-*.parquet"))).to_pylist()
    several = [r for r in rows if r["output"].count("type") > 1]
    assert several and all("Group the entities by type." in r["instruction"] for r in several)


def test_an_own_template_that_never_shows_the_rules_and_guidelines_is_noted_by_check(tmp_path: Path) -> None:
    bare = TEMPLATE.replace("{% for g in guidelines %}{{ g }}\n{% endfor %}{% for r in rules %}{{ r }}\n{% endfor %}", "")
    assert "rules" not in bare and "guidelines" not in bare
    recipe = folder(tmp_path, text=bare)
    result = run_cli("check", str(recipe))
    assert result.exit_code == 0, result.output
    assert ("note: task 'conll': template 'ner/en_house' never shows `rules`, `guidelines`, so its instructions leave "
            "out what the entry gives there") in result.output
    assert "`label_definitions`" not in result.output   # it shows those
    assert "never shows" not in run_cli("check", str(folder(tmp_path / "full"))).output


def test_labels_written_as_one_string_drop_every_record_and_the_error_says_why(tmp_path: Path) -> None:
    """`labels: entity_types` is the one label entity_types (not a constant): every sentence with an entity is dropped
    (label_outside_set); the check of every row and the build stop with the same hint."""
    recipe = folder(tmp_path)
    recipe.write_text(recipe.read_text(encoding="utf-8") + "    labels: entity_types\n    where: len(entities) > 0\n",
                      encoding="utf-8")
    for args in (["check", "--rows", "all", str(recipe)], ["build", "-q", "-j", "1", str(recipe)]):
        result = run_cli(*args)
        assert result.exit_code == 2 and "error[E4104]" in result.output, result.output
        assert "label_outside_set at " in result.output and "eng.testa.head40:3 (gold label(s) MISC not in" in result.output
        assert "hint: every gold label must be in `labels:` (a string there is one label" in result.output
