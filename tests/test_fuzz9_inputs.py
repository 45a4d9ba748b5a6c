"""Bad input a careless user hits, found by driving the real CLI (fuzz9): editor files and mistakes in a recipe's own
`stdlib:` folder, and command-line hints. Each is a located compiler error (exit 2) or is read as meant, never an
internal error (exit 3) nor text copied wrong into every instruction."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq
from helpers import REPO, run_cli

TEMPLATE = """Find the named entities ({{ labels | join(', ') }}) in the sentence.
{% for g in guidelines %}{{ g }}
{% endfor %}{% for r in rules %}{{ r }}
{% endfor %}{{ format_instruction }}
Sentence: {{ text }}
"""

RECIPE = """hum: 1
name: house-ner
stdlib: [mystd]
sources:
  conll: {catalog: conll2003, path: data/eng.testa.head40}
tasks:
  - source: conll
    templates: [en_house]
    formats: [json]
"""


def own_stdlib(tmp_path: Path, template: bytes = TEMPLATE.encode()) -> Path:
    """A recipe over the real CoNLL-2003 sample whose own stdlib folder holds the template en_house."""
    (tmp_path / "data").mkdir()
    shutil.copy(REPO / "recipes/data/conll2003/eng.testa.head40", tmp_path / "data")
    (tmp_path / "mystd/templates/ner").mkdir(parents=True)
    (tmp_path / "mystd/templates/ner/en_house.j2").write_bytes(template)
    recipe = tmp_path / "r.hum.yaml"
    recipe.write_text(RECIPE, encoding="utf-8")
    return recipe


def test_an_editors_hidden_lock_or_checkpoint_file_in_a_stdlib_folder_is_passed_over(tmp_path: Path) -> None:
    recipe = own_stdlib(tmp_path)
    # Emacs marks a modified buffer with `.#<name>`, a symbolic link to user@host.pid (no file): an internal error
    (tmp_path / "mystd/templates/ner/.#en_house.j2").symlink_to("me@host.4242:1700000000")
    (tmp_path / "mystd/guidelines").mkdir()
    (tmp_path / "mystd/guidelines/.#house.yaml").symlink_to("me@host.4242:1700000000")
    # JupyterLab's copy of a file it edits: a template folder named for no task (E2003), or a broken second template
    (tmp_path / "mystd/templates/.ipynb_checkpoints").mkdir()
    (tmp_path / "mystd/templates/.ipynb_checkpoints/en_1-checkpoint.j2").write_text("{{ text", encoding="utf-8")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 0, result.output
    assert "internal error" not in result.output


def test_a_template_that_is_a_link_to_nowhere_is_e0009_at_it_not_an_internal_error(tmp_path: Path) -> None:
    recipe = own_stdlib(tmp_path)
    gone = tmp_path / "mystd/templates/ner/en_gone.j2"
    gone.symlink_to("nowhere.j2")
    result = run_cli("build", str(recipe), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
    assert result.exit_code == 2, result.output
    assert f"{gone}:1:1: error[E0009]: cannot read template {gone}: No such file or directory" in result.output
    assert "internal error" not in result.output
    assert not (tmp_path / "out").exists()
