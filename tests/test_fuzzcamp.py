"""Regressions found by a mutation-fuzzing campaign of the CLI (the example recipes, their data and templates
mutated at the byte, line, token and YAML-scalar level; `humc check` / `humc build` in subprocesses). Each input
below, minimized, once ended in a Python traceback (exit 3); now it is a located, coded diagnostic with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_cli


def refused(recipe: Path) -> dict:
    """``humc --format json check RECIPE``: exit 2 and its one diagnostic, no traceback."""
    result = run_cli("--format", "json", "check", str(recipe))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    (diag,) = json.loads(result.output)["diagnostics"]
    return diag


@pytest.mark.parametrize(("value", "said"), [("!!timestamp x", "'x' is no timestamp"), ("!!bool x", "'x' is no bool"),
                                             ("!!int +", "'+' is no int"), ("!!float _", "'_' is no float"),
                                             ("!!bool ''", "'' is no bool")])
def test_a_malformed_explicitly_tagged_scalar_is_e0004_at_it(tmp_path, value, said):
    """`license: !!timestamp x` (PyYAML's constructor: AttributeError on a failed match), `!!bool x` (KeyError) and
    `!!int +` (IndexError) ended the check in a traceback."""
    recipe = tmp_path / "r.hum.yaml"
    recipe.write_text(f"hum: 1\nname: r\nlicense: {value}\n", encoding="utf-8")
    diag = refused(recipe)
    assert (diag["code"], diag["line"], diag["column"]) == ("E0004", 3, 10)
    assert diag["file"].endswith("r.hum.yaml") and said in diag["message"]
