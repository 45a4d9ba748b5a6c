"""Left-outs of the last stop, each stated on the error, warning or output a user sees."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import REPO, run_cli

CONLL = REPO / "recipes" / "data" / "conll2003" / "eng.testa.head40"


def _catalog_recipe(tmp: Path, fields: str, extra: str = "") -> Path:
    """A recipe over the CoNLL-2003 adapter whose task entry adds ``fields`` (YAML lines) to the adapter's."""
    shutil.copy(CONLL, tmp / "eng.testa")
    (tmp / "c.hum.yaml").write_text(
        "hum: 1\nname: c\nsources:\n  conll: {catalog: conll2003, path: eng.testa}\ntasks:\n  - source: conll\n"
        f"    fields:\n{fields}{extra}    formats: [json]\n", encoding="utf-8")
    return tmp / "c.hum.yaml"


def _check_json(recipe: Path, *more: str) -> dict[str, object]:
    result = run_cli("--format", "json", "check", str(recipe), *more)
    return json.loads(result.output[result.output.index("{\n"):])  # type: ignore[no-any-return]


# ------------------------------------------------------------------ 1. a mapped field nothing reads


def test_a_misspelt_field_beside_a_catalog_adapters_fields_is_an_error_at_its_key(tmp_path: Path) -> None:
    recipe = _catalog_recipe(tmp_path, '      txt: tokens | join("_")\n')
    report = _check_json(recipe)
    assert report["ok"] is False and report["exit_code"] == 2
    (diag,) = report["diagnostics"]  # type: ignore[misc]
    assert diag["code"] == "E2010"
    assert (diag["line"], diag["column"]) == (8, 7)  # the key `txt`, not its value
    assert "field 'txt'" in diag["message"] and "nothing reads it" in diag["message"]
    assert diag["hint"] == "did you mean 'text'?"


def test_every_unread_field_is_named_and_the_text_form_points_at_the_key(tmp_path: Path) -> None:
    recipe = _catalog_recipe(tmp_path, '      txt: tokens | join("_")\n      entites: "[]"\n')
    result = run_cli("check", str(recipe))
    assert result.exit_code == 2
    assert "c.hum.yaml:8:7: error[E2010]" in result.output
    assert "also unread: entites" in result.output


@pytest.mark.parametrize("extra", [
    "    where: len(title) > 0\n",                                      # a filter reads it
    "    split_by: title\n",                                            # the split key reads it
    '    preferences: ["when len(title) > 3 then empty_as(\\"none\\")"]\n',  # a rule's `when` reads it
])
def test_a_field_read_by_a_filter_split_key_or_rule_is_no_error(tmp_path: Path, extra: str) -> None:
    recipe = _catalog_recipe(tmp_path, "      title: tokens[0]\n", extra)
    report = _check_json(recipe)
    assert report["ok"] is True, report


def test_overriding_an_adapters_field_and_its_optional_fields_are_no_error(tmp_path: Path) -> None:
    recipe = _catalog_recipe(tmp_path, '      text: tokens | join("_")\n      schema_labels: \'["PER", "LOC"]\'\n')
    assert _check_json(recipe)["ok"] is True


def test_an_unread_field_of_a_plain_entry_is_an_error_too(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text('{"text": "a", "label": "x", "note": "n"}\n', encoding="utf-8")
    (tmp_path / "p.hum.yaml").write_text(
        "hum: 1\nname: p\nsources:\n  s: d.jsonl\ntasks:\n  - task: classification\n    source: s\n"
        "    fields: {text: text, label: label, option_labels: note}\n", encoding="utf-8")
    (diag,) = _check_json(tmp_path / "p.hum.yaml")["diagnostics"]  # type: ignore[misc]
    assert diag["code"] == "E2010" and (diag["line"], diag["column"]) == (8, 40)
    assert "option_labels" in diag["message"]

