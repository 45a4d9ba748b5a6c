"""Regressions found by a mutation-fuzzing campaign of the CLI (the example recipes, their data and templates
mutated at the byte, line, token and YAML-scalar level; `humc check` / `humc build` in subprocesses). Each input
below, minimized, once ended in a Python traceback (exit 3) or ran for minutes (loops in loops); now it is a located,
coded diagnostic with exit 2 (or the parse error its reader reports)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import run_cli, tiny_recipe

from humc.answers import formats
from humc.answers.formats import FormatSpec
from humc.assets.review import ReviewContext, apply_edit
from humc.errors import FormatParseError, HumcError
from humc.recipe.lockfile import LockItem
from humc.sources_card import _front_matter
from humc.templating import render_template, syntax_problem


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


def test_loops_in_loops_over_a_records_text_stop_at_the_step_limit(tmp_path):
    """Three nested for loops over a 1000-character passage ran 10^9 empty passes (two minutes a record, `humc check`
    looked hung): loop passes were no steps, only calls and range items were."""
    loops = "{% for a in context %}{% for b in context %}{% for c in context %}{% endfor %}{% endfor %}{% endfor %}"
    with pytest.raises(HumcError) as err:
        render_template(loops, {"context": "x" * 1000}, "t")
    assert err.value.code == "E0010" and "loop passes" in err.value.message
    once = "{% set r = range(99999) %}{% for i in r %}{% for j in r %}{% endfor %}{% endfor %}"  # one range made
    with pytest.raises(HumcError, match="steps"):
        render_template(once, {}, "t")
    lazy = "{% for a in context|map('upper') %}{% for b in context|map('upper') %}{% endfor %}{% endfor %}"
    with pytest.raises(HumcError, match="steps"):  # no length to charge up front: each pass as it comes
        render_template(lazy, {"context": "x" * 1000}, "t")


@pytest.mark.parametrize(("body", "written"), [
    ("{% for a in x %}{{ loop.index }}/{{ loop.length }} {% else %}none{% endfor %}", "1/3 2/3 3/3"),
    ("{% for a in x|select('ne', 'b') %}{{ a }}{{ loop.length }}{% endfor %}", "a2c2"),
    ("{% for a in [[1, [2]]] recursive %}{{ a }}{% if a is iterable %}{{ loop(a) }}{% endif %}{% endfor %}",
     "[1, [2]]1[2]2"),
    ("{% macro m(xs) %}{% for v in xs %}{{ v }}{% endfor %}{% endmacro %}{{ m(x) }}", "abc"),
    ("{% for a in [] %}x{% else %}none{% endfor %}", "none"),
])
def test_a_counted_loop_renders_as_before(body, written):
    assert render_template(body, {"x": ["a", "b", "c"]}, "t") == written


def test_the_loop_counting_filter_is_never_suggested():
    problem = syntax_problem("{{ x|counted }}")
    assert problem is not None and problem.hint is not None
    assert "count" in problem.hint and "humc:counted" not in problem.hint


@pytest.mark.parametrize(("value", "said", "col"), [("!!binary aGVsbG8=", "bytes", 27), ("2024-01-01", "date '2024-01-01'", 27),
                                                    ("[a, 2024-01-01T10:00:00Z]", "datetime", 31)])
def test_a_model_param_no_json_request_can_carry_is_e0007_at_it(tmp_path, value, said, col):
    """`params: {temperature: 2024-01-01}` passed `humc check`; `humc synth` then ended in a traceback (TypeError:
    Object of type date is not JSON serializable) while building the request."""
    (tmp_path / "data.jsonl").write_text('{"context": "Ada lived in London.", "question": "Where?", "answers": ["London"]}\n',
                                         encoding="utf-8")
    recipe = tmp_path / "r.hum.yaml"
    models = ("models:\n  writer:\n    base_url: http://127.0.0.1:9/v1\n    model: m\n"
              f"    params: {{temperature: {value}, max_tokens: 9}}\n")
    recipe.write_text(tiny_recipe().replace("sources:", models + "sources:"), encoding="utf-8")
    diag = refused(recipe)
    assert (diag["code"], diag["line"], diag["column"]) == ("E0007", 7, col)
    assert f"params 'temperature' holds {said}" in diag["message"] and "JSON request" in diag["message"]


RANDOM_TEMPLATE = ("{{ ['Answer:', 'Reply:', 'Output:', 'Result:', 'Response:']|random }} "
                   "{{ lipsum(2, html=False, min=3, max=6) }} {{ []|random if false else 'x' }}")


def test_random_and_lipsum_write_the_same_text_in_every_process():
    """`|random` and `lipsum` drew from the process's random state: two builds of one recipe wrote different
    instructions, against the README's promise that a template writes the same text for the same record."""
    script = f"from humc.templating import render_template; print(render_template({RANDOM_TEMPLATE!r}, {{}}, 't'))"
    texts = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3")}
    assert len(texts) == 1 and next(iter(texts)).startswith(("Answer:", "Reply:", "Output:", "Result:", "Response:"))
    assert render_template("{{ [1, 2, 3, 4, 5, 6, 7, 8]|random }}", {}, "t") == \
        render_template("{{ [1, 2, 3, 4, 5, 6, 7, 8]|random }}", {}, "t")


def test_random_of_an_empty_sequence_is_a_located_render_error():
    with pytest.raises(HumcError) as exc:
        render_template("{{ []|random }}", {}, "t")
    assert exc.value.code == "E4202" and "no random item" in exc.value.message
