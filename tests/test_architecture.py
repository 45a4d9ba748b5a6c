"""docs/architecture.md stays true: its generated pictures match the code, and every stage package
has a short README stating its stage, entry points and types."""

from __future__ import annotations

import importlib.util

import pytest
from helpers import REPO

PACKAGES = ["expr", "answers", "recipe", "build", "dataset", "assets", "cli"]


def load_generator():
    spec = importlib.util.spec_from_file_location("gen_architecture", REPO / "docs" / "gen_architecture.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generated_block_of_the_architecture_doc_is_current():
    gen = load_generator()
    text = gen.DOC.read_text(encoding="utf-8")
    assert gen.updated_doc(text) == text, "docs/architecture.md is stale: run `python docs/gen_architecture.py`"


def test_the_layering_picture_shows_every_package_of_the_contract_and_no_import_against_it():
    gen = load_generator()
    picture = gen.layering_diagram()
    assert all(f'["{p.removeprefix("humc.")}"]' in picture for layer in gen.contract_layers() for p in layer)
    assert "cli --> build" in picture and "linkStyle" not in picture


def test_the_plan_picture_follows_a_compiled_recipe():
    kinds, edges = load_generator().plan_kinds()
    assert kinds[0] == "load" and kinds[-1] == "write"
    assert {("map", "render"), ("render", "check"), ("check", "merge"), ("split", "write")} <= edges


@pytest.mark.parametrize("package", PACKAGES)
def test_every_stage_package_has_a_short_readme(package):
    text = (REPO / "humc" / package / "README.md").read_text(encoding="utf-8")
    assert 10 <= len(text.splitlines()) <= 20
    assert "stage" in text.lower() and "entry" in text.lower()


def test_the_readme_links_the_architecture_doc_and_the_schema():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "(docs/architecture.md)" in readme and "docs/recipe.schema.json" in readme
