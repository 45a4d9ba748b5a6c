"""Parse stage: YAML with located nodes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from humc.errors import RecipeError
from humc.recipe.yamlsrc import Node, load_yaml, load_yaml_text
from humc.resources import stdlib_dir


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


def test_merge_keys_bring_the_anchored_keys_which_the_mapping_own_keys_override():
    root = load_yaml_text("a: &base {x: 1, y: 2}\nb: &more {y: 20, z: 30}\n"
                          "c:\n  <<: [*base, *more]\n  x: 100\nd: {<<: *more, y: 0}\n", "r.yaml")
    assert root.plain()["c"] == {"x": 100, "y": 2, "z": 30}  # the earlier mapping wins, the own key wins over both
    assert root.plain()["d"] == {"y": 0, "z": 30}
    c = root.value["c"]
    assert (c.key_spans["x"].line, c.key_spans["y"].line, c.key_spans["z"].line) == (5, 1, 2)  # where each was written
    assert (c.value["z"].span.line, c.value["z"].span.col) == (2, 21)


def test_a_merge_key_does_not_hide_a_duplicate_own_key():
    with pytest.raises(RecipeError) as info:
        load_yaml_text("a: &base {x: 1}\nc:\n  <<: *base\n  y: 1\n  y: 2\n", "r.yaml")
    assert info.value.span.line == 5 and "duplicate key 'y'" in info.value.message


def test_task_entries_share_defaults_through_a_merge_key(tmp_path):
    import shutil

    import pyarrow.parquet as pq
    from helpers import REPO, run_cli

    shutil.copytree(REPO / "recipes" / "data" / "squad_v2", tmp_path / "squad_v2")
    (tmp_path / "r.hum.yaml").write_text("""hum: 1
name: merged
sources:
  squad: {catalog: squad_v2, path: squad_v2/dev-v2.0.head5.json}
tasks:
  - &squad
    id: squad_json
    source: squad
    preferences: [shortest_span, unanswerable]
    formats: [json]
  - <<: *squad
    id: squad_natural
    formats: [natural]
output:
  splits: {train: 1.0}
""", encoding="utf-8")
    result = run_cli("build", str(tmp_path / "r.hum.yaml"), "-q", "--out", str(tmp_path / "out"), "--cache",
                     str(tmp_path / "cache"))
    assert result.exit_code == 0, result.output
    rows = pq.read_table(tmp_path / "out" / "merged" / "data").to_pylist()
    by_entry = {e: [r for r in rows if r["task_entry"] == e] for e in ("squad_json", "squad_natural")}
    assert len(by_entry["squad_json"]) == len(by_entry["squad_natural"]) > 0  # the same source rows and filters
    assert {r["answer_format"] for r in by_entry["squad_natural"]} == {"natural"}
    assert {r["rules"][0] for r in by_entry["squad_natural"] if r["rules"]} <= {"shortest_span", "unanswerable"}


def test_yaml_syntax_error_is_located():
    with pytest.raises(RecipeError) as info:
        load_yaml_text("a: [1, 2\nb: 3\n", "r.yaml")
    assert info.value.span is not None and info.value.span.file == "r.yaml"
    assert "invalid YAML" in info.value.message


def test_empty_file():
    with pytest.raises(RecipeError, match="empty"):
        load_yaml_text("", "r.yaml")


def test_a_tab_used_for_indentation_is_named_on_its_line():
    with pytest.raises(RecipeError) as info:
        load_yaml_text("name: x\ntasks:\n  - id: a\n\tsource: qa\n", "r.yaml")
    err = info.value
    assert (err.span.line, err.span.col) == (4, 1) and "tab" in err.message
    assert err.hint == "YAML does not allow tabs for indentation; use spaces"


def test_a_tab_inside_a_value_is_not_called_indentation():
    assert load_yaml_text("name: 'a\tb'\n", "r.yaml").plain() == {"name": "a\tb"}


def test_a_byte_that_is_not_utf8_is_reported_at_its_line_and_column(tmp_path):
    path = tmp_path / "r.hum.yaml"
    path.write_bytes(b"hum: 1\nname: x\ndescription: caf\xe9 au lait\n")
    with pytest.raises(RecipeError) as info:
        load_yaml(path)
    err = info.value
    assert err.code == "E0009" and (err.span.line, err.span.col) == (3, 17) and "not UTF-8" in err.message


def test_a_utf16_file_is_recognised_by_its_byte_order_mark(tmp_path):
    path = tmp_path / "r.hum.yaml"
    path.write_bytes("hum: 1\nname: x\n".encode("utf-16"))
    with pytest.raises(RecipeError) as info:
        load_yaml(path)
    assert info.value.span.line == 1 and "UTF-16" in info.value.message and "UTF-8" in info.value.hint


@pytest.mark.parametrize("name,hint", [("r.hum.lock", "lockfile beside it"), ("assets", "the YAML file inside it")])
def test_a_folder_where_a_yaml_file_belongs_is_named_at_its_path(tmp_path, name, hint):
    (tmp_path / name).mkdir()
    with pytest.raises(RecipeError) as info:
        load_yaml(tmp_path / name)
    err = info.value
    assert err.code == "E0009" and err.span is not None and err.span.file == str(tmp_path / name)
    assert "is a folder, not a YAML file" in err.message and hint in (err.hint or "")


# ----------------------------------------------------------------------------- shipped files (libyaml's composer)


def _tree(node: Node) -> tuple[object, ...]:
    """Everything a ``Node`` holds, its children's too: values, spans, key spans, scalar style, flow context."""
    value = node.value
    if isinstance(value, dict):
        value = {k: _tree(v) for k, v in value.items()}
    elif isinstance(value, list):
        value = [_tree(v) for v in value]
    return value, node.span, node.key_spans, node.style, node.in_flow


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML built without libyaml: shipped files take the same path")
@pytest.mark.parametrize("path", sorted(stdlib_dir().rglob("*.yaml")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_shipped_file_composes_to_the_same_nodes_through_libyaml(path: Path):
    text = path.read_text(encoding="utf-8")
    assert _tree(load_yaml_text(text, str(path), shipped=True)) == _tree(load_yaml_text(text, str(path)))


def _error(text: str, shipped: bool) -> RecipeError:
    with pytest.raises(RecipeError) as info:
        load_yaml_text(text, "s.yaml", shipped=shipped)
    return info.value


@pytest.mark.parametrize("text", ["a: 1\na: 2\n", "a: [1, 2\n", "a:\n\t- 1\n", "a: *nowhere\n", "a: b: c\n"])
def test_a_shipped_file_that_is_wrong_gets_the_error_of_the_checked_path(text: str):
    checked, shipped = _error(text, False), _error(text, True)
    assert (shipped.code, shipped.span, shipped.message, shipped.hint) == \
        (checked.code, checked.span, checked.message, checked.hint)


def test_a_shipped_file_nested_too_deep_is_refused_where_it_goes_too_deep():
    checked, shipped = _error("[" * 200 + "]" * 200, False), _error("[" * 200 + "]" * 200, True)
    assert shipped.code == checked.code == "E0010"  # libyaml composes it; the depth is measured after
    assert (shipped.span.line, shipped.span.col) == (checked.span.line, checked.span.col) == (1, 65)


def test_only_the_files_humc_ships_take_libyaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from humc.recipe import stdlib, yamlsrc

    composed: list[bool] = []
    real = yamlsrc._composed
    monkeypatch.setattr(yamlsrc, "_composed", lambda text, shipped: composed.append(shipped) or real(text, shipped))
    stdlib._LOADED.clear()
    (tmp_path / "guidelines").mkdir()
    (tmp_path / "guidelines" / "mine.yaml").write_text("id: mine\ntitle: Mine\ntext: Be brief.\n", encoding="utf-8")
    lib = stdlib.load_stdlib([tmp_path])
    assert "mine" in lib.guidelines and composed.count(False) == 1 and composed.count(True) == len(composed) - 1


def test_a_shipped_file_too_long_for_libyaml_goes_the_bounded_way():
    """libyaml recurses in C and ends the process some 100 000 levels deep (fuzz7: SIGSEGV at 200 000); a text past
    ``_C_MAX_CHARS`` is composed by the bounded composer, which reports the depth (run in a child: a crash is a fail)."""
    code = ("from humc.recipe.yamlsrc import load_yaml_text\nfrom humc.errors import RecipeError\n"
            "try:\n    load_yaml_text('a: ' + '[' * 300000 + ']' * 300000, 's.yaml', shipped=True)\n"
            "except RecipeError as e:\n    print(e.code, e.span.line, e.span.col)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    assert (done.returncode, done.stdout.split()) == (0, ["E0010", "1", "67"]), done.stderr[-400:]
