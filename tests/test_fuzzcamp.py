"""Regressions found by a mutation-fuzzing campaign of the CLI (the example recipes, their data and templates
mutated at the byte, line, token and YAML-scalar level; `humc check` / `humc build` in subprocesses). Each input
below, minimized, once ended in a Python traceback (exit 3); now it is a located, coded diagnostic with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_cli, tiny_recipe

from humc.answers import formats
from humc.answers.formats import FormatSpec
from humc.assets.review import ReviewContext, apply_edit
from humc.errors import FormatParseError, HumcError
from humc.recipe.lockfile import LockItem
from humc.sources_card import _front_matter


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


@pytest.mark.parametrize("answer", ["- span: !!bool x", "- span: !!timestamp x", "- span: !!int +"])
def test_a_yaml_answer_with_a_malformed_tagged_value_is_a_parse_error(answer):
    """A model's YAML answer (`humc eval` parses each prediction) holding `!!bool x` raised KeyError through
    formats.parse, which eval's scoring does not catch: the whole eval ended in a traceback."""
    with pytest.raises(FormatParseError, match="tag cannot read") as caught:
        formats.parse(FormatSpec("yaml"), answer, ["span"], "many")
    assert caught.value.code == "E4201"


@pytest.mark.parametrize("value", ["!!bool x", "!!float x", "!!int 0x", "!!timestamp 2020-13-45"])
def test_a_review_edit_with_a_malformed_tagged_value_is_refused(value):
    """`humc review`'s edit of a rule, `text: !!bool x`, raised KeyError out of the review (exit 3); `!!float x`
    (ValueError) still did after that fix."""
    item = LockItem(id="h", kind="hard_negatives", entry="ner", hard_negatives={"PER": ["ORG"]})
    with pytest.raises(HumcError, match="not valid YAML: a value its tag cannot read"):
        apply_edit(item, f"hard_negatives: {value}", ReviewContext())


@pytest.mark.parametrize("value", ["!!timestamp x", "!!float x", "!!timestamp 2020-13-45"])
def test_a_dataset_card_with_a_malformed_tagged_value_has_no_front_matter(tmp_path, value):
    """A local Hugging Face dataset's README front matter with `!!timestamp x` ended reading the source in a
    traceback (`!!float x`, a ValueError, still did after that fix); a card that does not parse is read as none, as
    a YAML syntax error already was."""
    card = tmp_path / "README.md"
    card.write_text(f"---\nlicense: {value}\n---\n# data\n", encoding="utf-8")
    assert _front_matter(card) is None


def _own_template(tmp_path: Path, body: str) -> Path:
    """The tiny extractive-QA recipe (two passages) using the template ``body`` of its own stdlib folder."""
    (tmp_path / "data.jsonl").write_text("".join(json.dumps({"context": f"Ada lived in London {i}.", "question": "Where?",
                                                             "answers": ["London"]}) + "\n" for i in range(2)),
                                         encoding="utf-8")
    folder = tmp_path / "mystd" / "templates" / "mrc_extractive"
    folder.mkdir(parents=True)
    (folder / "en_fz.j2").write_text("Passage: {{ context }}\nQuestion: {{ question }}\n" + body + "\n", encoding="utf-8")
    recipe = tmp_path / "r.hum.yaml"
    recipe.write_text("stdlib: [mystd]\n" + tiny_recipe(extra="    templates: [en_fz]\n"), encoding="utf-8")
    return recipe


@pytest.mark.parametrize(("body", "col"), [("{{ '\\ud800' }}", 5), ("Smile: {{ '\\ud83d\\ude42' }}", 12)])
def test_a_template_string_holding_half_a_surrogate_pair_is_e2011_at_it(tmp_path, body, col):
    """`{{ '\\ud800' }}` in an instruction template passed `humc check`, then `humc build` ended in a traceback
    (UnicodeEncodeError in corpus.dedup_key) with nothing said about the template."""
    recipe = _own_template(tmp_path, body)
    diag = refused(recipe)
    assert (diag["code"], diag["line"], diag["column"]) == ("E2011", 3, col)
    assert diag["file"].endswith("en_fz.j2") and "half of a UTF-16 surrogate pair" in diag["message"]
    result = run_cli("--format", "json", "build", str(recipe), "--out", str(tmp_path / "out"), "-j", "1")
    assert result.exit_code == 2 and not (tmp_path / "out").exists()


@pytest.mark.parametrize("body", ["{{ '%c' % 55296 }}", "{{ '%c'|format(55296) }}", "{{ '{:c}'.format(55296) }}",
                                  "{{ 'x'.translate({120: 55296}) }}", "{{ '\\\\ud800'.encode().decode('unicode-escape') }}"])
def test_a_template_making_half_a_surrogate_pair_is_e4202_at_its_line(tmp_path, body):
    recipe = _own_template(tmp_path, body)
    diag = refused(recipe)
    assert (diag["code"], diag["line"]) == ("E4202", 3)
    assert diag["file"].endswith("en_fz.j2") and "makes \\ud800, half of a UTF-16 surrogate pair" in diag["message"]
