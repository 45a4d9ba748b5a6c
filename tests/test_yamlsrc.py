"""Parse stage: YAML with located nodes."""

from __future__ import annotations

import pytest

from humc.errors import RecipeError
from humc.recipe.yamlsrc import load_yaml_text


def test_every_node_has_a_span():
    root = load_yaml_text("name: x\ntasks:\n  - id: a\n    where: \"len(x) > 1\"\n", "r.yaml")
    assert root.key_spans["tasks"].line == 2
    where = root.value["tasks"].value[0].value["where"]
    assert (where.span.line, where.span.col, where.style) == (4, 12, '"')
    assert root.plain() == {"name": "x", "tasks": [{"id": "a", "where": "len(x) > 1"}]}


def test_duplicate_keys_are_errors():
    with pytest.raises(RecipeError) as info:
        load_yaml_text("a: 1\nb: 2\na: 3\n", "r.yaml")
    assert info.value.span.line == 3 and "duplicate key 'a'" in info.value.message


def test_yaml_syntax_error_is_located():
    with pytest.raises(RecipeError) as info:
        load_yaml_text("a: [1, 2\nb: 3\n", "r.yaml")
    assert info.value.span is not None and info.value.span.file == "r.yaml"
    assert "invalid YAML" in info.value.message


def test_empty_file():
    with pytest.raises(RecipeError, match="empty"):
        load_yaml_text("", "r.yaml")
