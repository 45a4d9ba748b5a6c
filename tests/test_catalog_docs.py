"""docs/catalog.md is generated from stdlib/catalog/*.yaml and kept current."""

from __future__ import annotations

import importlib.util

from helpers import REPO


def test_the_catalog_doc_is_current_and_lists_every_adapter():
    spec = importlib.util.spec_from_file_location("gen_catalog", REPO / "docs" / "gen_catalog.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    text = (REPO / "docs" / "catalog.md").read_text(encoding="utf-8")
    assert gen.render() == text, "docs/catalog.md is stale: run `python docs/gen_catalog.py`"
    for path in (REPO / "stdlib" / "catalog").glob("*.yaml"):
        assert f"## `{path.stem}`" in text


def test_the_readme_links_the_catalog_doc():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "## Dataset catalog" in readme and "docs/catalog.md" in readme
