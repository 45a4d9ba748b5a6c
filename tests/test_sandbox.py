"""Templates run in Jinja2's immutable sandbox, at every entry point humc renders one from: a template in an added
stdlib folder, an accepted lockfile paraphrase, an inline LLM prompt, a format variant and the dataset-card template.
Walking to Python internals is refused with exit 2 and a file:line diagnostic (E2012) — at `humc check` when the
template spells it out, while building when it is computed — and no command ever runs. Templates that go over a
size limit are located E0010 errors. Ordinary templates render exactly as before."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import jinja2
import pyarrow.parquet as pq
import pytest
from helpers import REPO, run_cli, tiny_recipe

from humc.assets.synth import check_paraphrase, dummy_contexts
from humc.errors import HumcError, Span
from humc.recipe.stdlib import load_stdlib
from humc.templating import MAX_RENDERED_CHARS, MAX_TEMPLATE_STEPS, STEPS_PER_ITEM, render, render_template, template_problem

sys.path.insert(0, str(REPO))
from tests.llmserver import LLMServer  # noqa: E402

RECIPE = tiny_recipe(formats="[json]")

# Spelt out in the template: refused by `humc check` before any data is read.
# {marker} is replaced by the path of a file that must never be created.
STATIC_ATTACKS = {
    "__class__": "{{ question.__class__ }}",
    "__globals__": "{{ question.upper.__globals__ }}",
    "__subclasses__": "{{ question.__class__.__mro__[1].__subclasses__() }}",
    "__builtins__": "{{ __builtins__ }}",
    "os.popen": "{{ cycler.__init__.__globals__.os.popen('touch {marker}').read() }}",
    "_TemplateReference__context": "{{ self._TemplateReference__context }}",
    "lipsum.__globals__": "{{ lipsum.__globals__['os'].popen('touch {marker}').read() }}",
    "cycler.__init__.__globals__": "{{ cycler.__init__.__globals__ }}",
    "joiner": "{{ joiner.__init__.__globals__['os'].popen('touch {marker}').read() }}",
    "namespace": "{{ namespace.__init__.__globals__['os'].popen('touch {marker}').read() }}",
    "attr filter": "{{ question|attr('__class__') }}",
    "item lookup": "{{ question['__class__'] }}",
    "mro": "{{ question.__class__.mro() }}",
}

# Computed while rendering, so only the sandbox itself can refuse them (at build time).
RUNTIME_ATTACKS = {
    "computed __class__": "{{ question|attr('__cla' ~ 'ss__') }}",
    "computed item": "{{ question['__' ~ 'class__'] }}",
    "mutating method": "{{ labels|attr('app' ~ 'end') }}",
}


def attack(text: str, marker: Path) -> str:
    return text.replace("{marker}", str(marker))


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    rows = [{"context": "Paris is in France.", "question": "Where is Paris?", "answers": ["France"]}]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return tmp_path


def build(recipe: Path, workdir: Path):
    return run_cli("build", str(recipe), "--out", str(workdir / "out"), "--cache", str(workdir / "cache"), "-q")


def assert_refused(result, where: str, code: str, marker: Path, workdir: Path) -> None:
    """Exit 2, the first diagnostic at `where` (file:line) with `code`, nothing run and nothing written."""
    assert result.exit_code == 2, result.output
    assert re.match(rf"{re.escape(where)}:\d+: error\[{code}\]: ", result.output), result.output
    assert "Traceback" not in result.output
    assert not marker.exists()
    assert not (workdir / "out" / "tiny").exists()


# ----------------------------------------------------------------------------- a template in an added stdlib folder


def stdlib_template_recipe(workdir: Path, body: str) -> tuple[Path, Path]:
    tpl = workdir / "assets" / "templates" / "mrc_extractive" / "en_9.j2"
    tpl.parent.mkdir(parents=True, exist_ok=True)
    tpl.write_text(f"Passage: {{{{ context }}}}\n{body}\nQuestion: {{{{ question }}}}\n", encoding="utf-8")
    recipe = workdir / "tiny.hum.yaml"
    recipe.write_text(RECIPE.replace("name: tiny", "name: tiny\nstdlib: [assets]")
                      + "    templates: [en_9]\n", encoding="utf-8")
    return recipe, tpl


@pytest.mark.parametrize("name", STATIC_ATTACKS)
def test_a_stdlib_folder_template_that_spells_out_internals_fails_check_at_its_line(workdir, name):
    marker = workdir / "PWNED"
    recipe, tpl = stdlib_template_recipe(workdir, attack(STATIC_ATTACKS[name], marker))
    result = run_cli("check", str(recipe))
    assert_refused(result, f"{tpl}:2", "E2012", marker, workdir)
    assert "which the template sandbox refuses" in result.output and "hint: templates may use" in result.output
    assert_refused(build(recipe, workdir), f"{tpl}:2", "E2012", marker, workdir)


@pytest.mark.parametrize("name", RUNTIME_ATTACKS)
def test_a_stdlib_folder_template_that_computes_internals_is_refused_while_building(workdir, name):
    """A computed attack passes the static check, but `humc check` renders the first rows in the sandbox
    and `humc build` renders every row there: both refuse it at the template line."""
    marker = workdir / "PWNED"
    recipe, tpl = stdlib_template_recipe(workdir, RUNTIME_ATTACKS[name])
    for result in (run_cli("check", str(recipe)), build(recipe, workdir)):
        assert_refused(result, f"{tpl}:2", "E2012", marker, workdir)
        assert "template mrc_extractive/en_9: unsafe: access to attribute" in result.output


def test_an_unknown_global_such_as_os_is_refused_by_check(workdir):
    marker = workdir / "PWNED"
    recipe, tpl = stdlib_template_recipe(workdir, f"{{{{ os.popen('touch {marker}').read() }}}}")
    result = run_cli("check", str(recipe))
    assert_refused(result, f"{tpl}:2", "E2011", marker, workdir)
    assert "unknown variable(s) os" in result.output


@pytest.mark.parametrize("body, message, line", [
    ("{% for i in range(10**9) %}x{% endfor %}", "Range too big", 2),
    ("{{ question * 100000000 }}", "goes over the limit", 2),
    ("{{ 7 ** 100000 }}", "more than 4096 bits", 2),
    # the whole text is too long: reported at the template's first line
    ("{% for i in range(100000) %}{{ context * 1000 }}{% endfor %}", f"longer than {MAX_RENDERED_CHARS} characters", 1),
    # a loop in a loop makes short text for hours: the render's step limit stops it
    ("{% for i in range(100000) %}{% for j in range(100) %}{% endfor %}{% endfor %}",
     "steps (calls, range items, loop passes and items filters walk) in one render", 2),
    ("{% set ns = namespace(v=context) %}{% for i in range(64) %}{% set ns.v = ns.v ~ ns.v %}{% endfor %}",
     "joining values makes", 2),
    ("{{ 'x'|center(10**10) }}", "padding to width 10000000000", 2),
    ("{{ (context * 800000).replace('a', context * 10000) }}", "replacing text makes", 2),
    ("{{ [1]|slice(10**10)|list }}", "makes more than 100000 slices", 2),
    ("{{ lipsum(n=10**6) }}", "may make more than 100000 words", 2),
])
def test_a_template_over_a_size_limit_is_a_located_error(workdir, body, message, line):
    recipe, tpl = stdlib_template_recipe(workdir, body)
    result = build(recipe, workdir)
    assert_refused(result, f"{tpl}:{line}", "E0010", workdir / "PWNED", workdir)
    assert message in result.output and "hint: a rendered text may have at most" in result.output


# ----------------------------------------------------------------------------- an accepted lockfile paraphrase


def lockfile_recipe(workdir: Path, body: str) -> tuple[Path, Path]:
    recipe = workdir / "tiny.hum.yaml"
    recipe.write_text(RECIPE + "    templates: [en_1]\n    variants_per_record: 2\n", encoding="utf-8")
    lock = workdir / "tiny.hum.lock"
    lock.write_text(f"""\
humc_lock: 1
recipe: tiny
items:
- id: 614eae8e70
  kind: template
  entry: qa
  status: accepted
  base: en_1
  language: en
  text: |
    Answer the question from the passage.
    {body}
    {{{{ format_instruction }}}}

    Passage: {{{{ context }}}}
    Question: {{{{ question }}}}
""", encoding="utf-8")
    return recipe, lock


@pytest.mark.parametrize("name", STATIC_ATTACKS)
def test_an_accepted_lockfile_template_that_spells_out_internals_fails_check_at_its_lockfile_line(workdir, name):
    marker = workdir / "PWNED"
    recipe, lock = lockfile_recipe(workdir, attack(STATIC_ATTACKS[name], marker))
    result = run_cli("check", str(recipe))
    assert_refused(result, f"{lock}:12", "E2012", marker, workdir)
    assert_refused(build(recipe, workdir), f"{lock}:12", "E2012", marker, workdir)


@pytest.mark.parametrize("name", RUNTIME_ATTACKS)
def test_an_accepted_lockfile_template_that_computes_internals_is_refused_at_its_lockfile_line(workdir, name):
    marker = workdir / "PWNED"
    recipe, lock = lockfile_recipe(workdir, RUNTIME_ATTACKS[name])
    assert_refused(build(recipe, workdir), f"{lock}:12", "E2012", marker, workdir)


def test_a_safe_lockfile_template_still_builds(workdir):
    recipe, _ = lockfile_recipe(workdir, "{{ question|upper }}")
    result = build(recipe, workdir)
    assert result.exit_code == 0, result.output
    rows = pq.read_table(workdir / "out" / "tiny" / "data").to_pylist()
    paraphrased = [r["instruction"] for r in rows if r["template"] == "mrc_extractive/en_1~614eae8e70"]
    assert len(paraphrased) == 1 and "\nWHERE IS PARIS?\n" in paraphrased[0]


# ----------------------------------------------------------------------------- an inline LLM prompt


def prompt_recipe(workdir: Path, base_url: str, body: str) -> Path:
    recipe = workdir / "tiny.hum.yaml"
    recipe.write_text(RECIPE.replace("name: tiny", f"name: tiny\nmodels:\n  writer:\n    base_url: {base_url}\n"
                                                   "    model: test-model\n    max_retries: 0")
                      + "    generate:\n      model: writer\n      overwrite: true\n      prompt: |\n"
                        "        Answer the question about the passage.\n"
                        f"        {body}\n"
                        "        {{ record.context }} {{ record.question }}\n", encoding="utf-8")
    return recipe


PROMPT_LINE = 24  # the line of {body} in prompt_recipe


@pytest.mark.parametrize("name", STATIC_ATTACKS)
def test_an_inline_prompt_that_spells_out_internals_fails_check_at_its_recipe_line(workdir, name):
    marker = workdir / "PWNED"
    recipe = prompt_recipe(workdir, "http://127.0.0.1:9/v1", attack(STATIC_ATTACKS[name], marker).replace(
        "question", "record"))
    result = run_cli("check", str(recipe))
    assert_refused(result, f"{recipe}:{PROMPT_LINE}", "E2012", marker, workdir)


@pytest.mark.parametrize("name", RUNTIME_ATTACKS)
def test_an_inline_prompt_that_computes_internals_is_refused_before_any_request(workdir, name):
    marker = workdir / "PWNED"
    body = RUNTIME_ATTACKS[name].replace("question", "record.question").replace("labels", "guidelines")
    with LLMServer(responder=lambda body: "Paris") as srv:
        recipe = prompt_recipe(workdir, srv.base_url, body)
        assert run_cli("check", str(recipe)).exit_code == 0
        result = build(recipe, workdir)
        assert srv.request_count == 0
    assert_refused(result, f"{recipe}:{PROMPT_LINE}", "E2012", marker, workdir)
    assert "template generate prompt: unsafe" in result.output


def test_a_safe_inline_prompt_is_sent_as_rendered(workdir):
    prompts: list[str] = []

    def responder(body: dict) -> str:
        prompts.append(body["messages"][0]["content"])
        return "France"

    with LLMServer(responder=responder) as srv:
        result = build(prompt_recipe(workdir, srv.base_url, "{{ record.question|upper }}"), workdir)
    assert result.exit_code == 0, result.output
    assert prompts == ["Answer the question about the passage.\nWHERE IS PARIS?\nParis is in France. Where is Paris?"]


# ----------------------------------------------------------------------------- a format variant in a stdlib folder


def test_a_variant_sentence_that_spells_out_internals_fails_check_at_its_line(workdir):
    marker = workdir / "PWNED"
    variant = workdir / "assets" / "variants" / "evil.yaml"
    variant.parent.mkdir(parents=True)
    variant.write_text("id: evil\ncodec: json\ntext:\n  en: |\n    Answer in JSON.\n"
                       f"    {attack(STATIC_ATTACKS['os.popen'], marker)}\n", encoding="utf-8")
    recipe = workdir / "tiny.hum.yaml"
    recipe.write_text(RECIPE.replace("name: tiny", "name: tiny\nstdlib: [assets]").replace("[json]", "[evil]"),
                      encoding="utf-8")
    assert_refused(run_cli("check", str(recipe)), f"{variant}:6", "E2012", marker, workdir)


# ----------------------------------------------------------------------------- the dataset-card template


def card_recipe(workdir: Path, body: str) -> tuple[Path, Path]:
    card = workdir / "card.md.j2"
    card.write_text(f"# {{{{ name }}}}\n\n{body}\n\n{{{{ body }}}}\n", encoding="utf-8")
    recipe = workdir / "tiny.hum.yaml"
    recipe.write_text(RECIPE + "publish:\n  repo: org/tiny\n  card_template: card.md.j2\n", encoding="utf-8")
    return recipe, card


@pytest.mark.parametrize("name", STATIC_ATTACKS)
def test_a_card_template_that_spells_out_internals_fails_check_at_its_line(workdir, name):
    marker = workdir / "PWNED"
    recipe, card = card_recipe(workdir, attack(STATIC_ATTACKS[name], marker).replace("question", "name"))
    assert_refused(run_cli("check", str(recipe)), f"{card}:3", "E2012", marker, workdir)
    assert_refused(build(recipe, workdir), f"{card}:3", "E2012", marker, workdir)


@pytest.mark.parametrize("name", RUNTIME_ATTACKS)
def test_a_card_template_that_computes_internals_is_refused_and_nothing_is_written(workdir, name):
    marker = workdir / "PWNED"
    body = RUNTIME_ATTACKS[name].replace("question", "name").replace("labels", "tags")
    recipe, card = card_recipe(workdir, body)
    assert run_cli("check", str(recipe)).exit_code == 0
    assert_refused(build(recipe, workdir), f"{card}:3", "E2012", marker, workdir)


def test_an_os_lookup_in_a_card_template_fails_as_an_unknown_variable_before_the_build(workdir):
    marker = workdir / "PWNED"
    recipe, card = card_recipe(workdir, f"{{{{ os.popen('touch {marker}').read() }}}}")
    result = build(recipe, workdir)
    assert_refused(result, f"{card}:3", "E2011", marker, workdir)
    assert "unknown variable(s) os" in result.output
    assert run_cli("check", str(recipe)).output == result.output  # `humc check` finds it too


# ----------------------------------------------------------------------------- rendering as before, synth and review


def test_every_stdlib_template_renders_exactly_as_an_unsandboxed_environment_would():
    plain = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, trim_blocks=True,
                               lstrip_blocks=True, autoescape=False)
    plain.filters["zip"] = lambda a, b: list(zip(a, b, strict=False))
    plain.filters["json"] = lambda value: json.dumps(value, ensure_ascii=False)
    lib = load_stdlib([])
    rendered = 0
    for task_id, templates in lib.templates.items():
        for tpl in templates.values():
            assert template_problem(tpl.text, lib.tasks[task_id].inputs) is None
            for ctx in dummy_contexts(lib.tasks[task_id]):
                assert render_template(tpl.text, ctx, tpl.id, tpl.origin) == plain.from_string(tpl.text).render(**ctx).strip()
                rendered += 1
    assert rendered >= 20


def test_render_errors_name_the_template_line_without_a_file():
    with pytest.raises(HumcError) as err:
        render("line one\n{{ x.__class__ }}", {"x": 1}, "of the dataset card", flavour="document")
    assert err.value.code == "E2012" and err.value.message.startswith("template of the dataset card, line 2: unsafe")


def test_macros_that_recurse_forever_are_a_limit_error():
    with pytest.raises(HumcError) as err:
        render_template("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", {}, "t")
    assert err.value.code == "E0010" and "too deeply" in err.value.message


@pytest.mark.parametrize("body", [
    "{% for w in text.split() %}{{ w.strip().upper() }} {% endfor %}",  # two calls a word
    "{% macro tag(w) %}<{{ w.upper() }}>{% endmacro %}{% for w in text.split() %}{{ tag(w) }}{{ loop.cycle('', ' ') }}"
    "{% endfor %}",  # three
])
def test_a_long_document_walked_word_by_word_is_no_runaway(body):
    text = " ".join(["tok"] * 100_000)  # 100k words: more steps than MAX_TEMPLATE_STEPS, within the record's share
    assert render_template(body, {"text": text}, "t").count("TOK") == 100_000


def test_the_step_limit_grows_with_the_record_not_with_the_template():
    loop = "{% for w in words %}{% for v in words %}{% if v.strip() == 'x' %}x{% endif %}{% endfor %}{% endfor %}"
    words = ["w"] * 2_000  # a loop in a loop over the record's words: 4 million calls, more than its share
    with pytest.raises(HumcError) as err:
        render_template(loop, {"words": words}, "t")
    budget = MAX_TEMPLATE_STEPS + STEPS_PER_ITEM * len(words)
    assert err.value.code == "E0010" and f"more than {budget} steps" in err.value.message


@pytest.mark.parametrize(("body", "written"), [
    ("{{ '{\"id\": 20000000, \"q\": \"%s\"}' % x }}", '{"id": 20000000, "q": "y"}'),  # no {}-spec in a %-format
    ("{{ '%*d' % (3, n) }}|{{ '%-*s|' % (4, 'ab') }}", "20000000|ab  |"),  # the value after a * width is no width
    ("{{ '{:>{w}}'.format(n, w=3) }}|{{ '{:>{}}'.format(n, 3) }}", "20000000|20000000"),
    ("[{{ '{a:>{w}}'.format_map({'a': n, 'w': 9}) }}]", "[ 20000000]"),
    ("[{{ '%*d'|format(9, n) }}|{{ '%(a)5s'|format(a=n) }}|{{ '%d%%' % 50 }}", "[ 20000000|20000000|50%"),
])
def test_a_large_number_formatted_is_not_a_width(body, written):
    assert render_template(body, {"n": 20_000_000, "x": "y"}, "t") == written


@pytest.mark.parametrize("body", [
    "{{ '%99999999s' % x }}", "{{ '%.99999999f' % 1 }}", "{{ '%*s' % (99999999, x) }}", "{{ '%-*.*f' % (2, n, 1) }}",
    "{{ '%(a)99999999s' % {'a': x} }}", "{{ '{:>99999999}'.format(x) }}", "{{ '{:.99999999f}'.format(1) }}",
    "{{ '{:>{w}}'.format(x, w=n) }}", "{{ '{:>{}}'.format(x, n) }}", "{{ '{0:>{1}}'.format(x, n) }}",
    "{{ '{a:>{w}}'.format_map({'a': x, 'w': n}) }}", "{{ '%*s'|format(n, x) }}", "{{ '%99999999s'|format(x) }}",
])
def test_a_width_or_precision_past_the_limit_is_refused_before_the_text_is_made(body):
    with pytest.raises(HumcError) as err:
        render_template(body, {"n": 99_999_999, "x": "y"}, "t")
    assert err.value.code == "E0010" and "padding to width 99999999" in err.value.message


@pytest.mark.parametrize(("body", "message"), [
    # a width under the limit, on each of 20 lines: 20 Mi characters were made without a word (20 000 lines: 20 GB)
    ("{{ (('a' ~ nl) * 20) | indent(1000000) | length }}", "indenting lines by 1000000 makes"),
    ("{{ (('a' ~ nl) * 20) | indent(width=' ' * 1000000) | length }}", "indenting lines by 1000000 makes"),
    ("{{ ('\t' * 20).expandtabs(1000000) | length }}", "expanding tabs to 1000000 makes"),
    # Python's sum adds lists pair by pair: 16 Mi items in lists of a thousand took an hour
    ("{{ ([range(1000) | list] * 16000) | sum(start=[0] * 1000000) | length }}", "adding values makes 17000000 items"),
    # (a repetition counts the items inside the lists it repeats: 20 000 of a thousand are refused before any sum)
    ("{{ ([range(1000) | list] * 20000) | sum(start=[]) | length }}",
     "repeating a value of length 1 (holding 1000 items) 20000 times"),
    # urlize writes its target (and rel) into every link: 200 links, 20 Mi characters
    ("{{ (('http://example.com ' * 200) | urlize(target='x' * 100000)) | length }}", "making links makes"),
    ("{{ ('a' * 200).translate({97: 'x' * 100000}) | length }}", "translating text makes"),
    # bytes (from .encode()) and int.to_bytes were not checked as texts are: 20 MB, or 100 MB from a replace
    ("{{ 'x'.encode().ljust(20000000) | length }}", "padding to width 20000000"),
    ("{{ (1).to_bytes(20000000, 'big') | length }}", "padding to width 20000000"),
    ("{{ ('x'.encode() * 20000000) | length }}", "repeating a value of length 1 20000000 times"),
    ("{{ ('ab'.encode() * 1000).replace('a'.encode(), ('x' * 100000).encode()) | length }}", "replacing text makes"),
    ("{{ ('%20000000s'.encode() % 'x'.encode()) | length }}", "padding to width 20000000"),
    # a captured block or a macro repeating one long text: 50 Mi characters joined unchecked
    ("{% set big = 'x' * 1000000 %}{% set x %}{% for i in range(50) %}{{ big }}{% endfor %}{% endset %}{{ x | length }}",
     "a block's output makes 50000000 items"),
    ("{% set big = 'x' * 1000000 %}{% macro m() %}{% for i in range(50) %}{{ big }}{% endfor %}{% endmacro %}"
     "{{ m() | length }}", "a block's output makes 50000000 items"),
])
def test_a_text_a_filter_multiplies_past_the_limit_is_refused_before_it_is_made(body, message):
    with pytest.raises(HumcError) as err:
        render_template(body, {"nl": "\n"}, "t")
    assert err.value.code == "E0010" and message in err.value.message


@pytest.mark.parametrize(("start", "op", "part", "times"), [("[]", "+", "range(1000) | list", 1000),
                                                      ("''", "~", "'x' * 1000", 3000)])
def test_a_text_or_list_grown_in_a_loop_runs_out_of_steps_not_for_an_hour(start, op, part, times):
    """Each `+` or `~` copies what was grown so far: a list of a million items grown a thousand at a time took 11 s in
    one render (16 Mi items, below the size limit: an hour), without a step counted."""
    body = (f"{{% set ns = namespace(v={start}) %}}{{% set part = {part} %}}{{% for i in range({times}) %}}"
            f"{{% set ns.v = ns.v {op} part %}}{{% endfor %}}{{{{ ns.v | length }}}}")
    with pytest.raises(HumcError) as err:
        render_template(body, {}, "t")
    assert err.value.code == "E0010" and "or a text or list grown in a loop" in err.value.message
    assert render_template(body.replace(f"in range({times})", "in range(10)"), {}, "t") == str(10 * 1000)


_DOUBLED = "{% set ns = namespace(x=[1]) %}{% for i in range(40) %}{% set ns.x = [ns.x, ns.x] %}{% endfor %}"


@pytest.mark.parametrize("written", [
    "{{ ns.x }}", "{{ ns }}", "{{ ns.x | json }}", "{{ ns.x | tojson }}", "{{ ns.x | tojson(indent=2) }}",
    "{{ ns.x | string }}", "{{ ns.x | upper }}", "{{ ns.x | pprint }}", "{{ [1, ns.x] | join(', ') }}",
    "{{ 'a' ~ ns.x }}", "{{ '%s' % (ns.x,) }}", "{{ '%s' | format(ns.x) }}", "{{ '{}'.format(ns.x) }}",
    "{{ '{a}'.format_map({'a': ns.x}) }}", "{{ {'k': ns.x} }}", "{{ ns.x | map('string') | list }}",
    "{{ {'k': ns.x}.items() }}", "{{ ns.x | reverse }}",
])
def test_a_list_made_of_itself_over_and_over_is_refused_before_it_is_written(written):
    """40 lists, each holding the one before twice: 2**40 items once written out. Python's str() or json.dumps wrote it
    in one C call that no step count reaches (the render ran for days, holding all its memory)."""
    with pytest.raises(HumcError) as err:
        render_template(_DOUBLED + written, {}, "t")
    assert err.value.code == "E0010" and "writing a value that holds more than 16777216" in err.value.message


def test_a_number_squared_in_a_loop_is_refused_once_past_the_bits_a_power_may_have():
    """Each squaring doubles the bits: forty of them made a number of 2**40 bits, multiplied for hours."""
    body = "{% set ns = namespace(x=3) %}{% for i in range(40) %}{% set ns.x = ns.x * ns.x %}{% endfor %}{{ ns.x > 0 }}"
    with pytest.raises(HumcError) as err:
        render_template(body, {}, "t")
    assert err.value.code == "E0010" and "a product of a 3247-bit and a 3247-bit number" in err.value.message
    assert render_template(body.replace("range(40)", "range(5)") + "|{{ 6 * 7 }}|{{ 2 ** 2000 * 2 ** 90 > 0 }}", {}, "t") \
        == "True|42|True"


def test_the_same_list_held_twice_a_few_times_is_written_as_before():
    body = _DOUBLED.replace("range(40)", "range(3)")
    assert render_template(body + "{{ ns.x | json }}", {}, "t") == "[[[[1], [1]], [[1], [1]]], [[[1], [1]], [[1], [1]]]]"
    assert render_template(body + "{{ ns.x | length }}|{{ ns.x[0] }}", {}, "t") == "2|[[[1], [1]], [[1], [1]]]"
    assert render_template("{{ labels }} {{ labels | join(', ') }}", {"labels": ["PER", "ORG"]}, "t") == \
        "['PER', 'ORG'] PER, ORG"


def test_bytes_methods_checked_for_length_still_work():
    body = "{{ 'a\tb'.encode().expandtabs(4).decode() }}|{{ '-'.encode().join(['a'.encode(), 'b'.encode()]).decode() }}|" \
           "{{ 'ab'.encode().replace('a'.encode(), 'xy'.encode()).decode() }}|{{ (258).to_bytes(2, 'big') | list }}|" \
           "{{ ('%s-%3d'.encode() % ('x'.encode(), 5)).decode() }}"
    assert render_template(body, {}, "t") == "a   b|a-b|xyb|[1, 2]|x-  5"


def test_summing_lists_takes_one_pass_and_keeps_pythons_results():
    assert render_template("{{ ([range(1000) | list] * 2000) | sum(start=[]) | length }}", {}, "t") == "2000000"
    assert render_template("{{ [[1], [2]] | sum(start=[0]) }} {{ [(1,), (2,)] | sum(start=()) }} "
                           "{{ [{'a': [1]}, {'a': [2]}] | sum('a', start=[]) }} {{ [1, 2] | sum }}", {}, "t") == "[0, 1, 2] (1, 2) [1, 2] 3"
    with pytest.raises(HumcError, match='can only concatenate list \\(not "tuple"\\) to list'):
        render_template("{{ [[1], (2,)] | sum(start=[]) }}", {}, "t")


def test_a_scoped_block_in_a_loop_takes_its_steps_from_the_render():
    block = "{% for i in range(1000) %}{% block b scoped %}{% for j in range(1000) %}{% endfor %}{% endblock %}{% endfor %}"
    with pytest.raises(HumcError) as err:  # a million steps: a count of the block's own would let it run
        render_template(block, {}, "t")
    assert err.value.code == "E0010" and f"more than {MAX_TEMPLATE_STEPS} steps" in err.value.message


def test_a_long_document_wrapped_at_a_width_renders_and_a_width_of_one_is_refused():
    text = "word " * 200_000  # a million characters: wrapped at 80, about 25,000 wrapstrings of 20 characters
    wrapped = render_template("{{ text|wordwrap(80, wrapstring='<br>' ~ ' ' * 16) }}", {"text": text}, "t")
    assert wrapped.count("<br>") == 12_499
    with pytest.raises(HumcError) as err:  # at width 1 every word is a line: 200,000 wrapstrings of 100 characters
        render_template("{{ text|wordwrap(1, wrapstring=' ' * 100) }}", {"text": text}, "t")
    assert err.value.code == "E0010" and "wrapping text makes" in err.value.message


def test_jinja2s_own_render_counts_steps_too():
    from humc.templating import environment

    assert environment().from_string("{{ x.upper() }}{% block b scoped %}{{ x }}{% endblock %}").render(x="a") == "Aa"
    with pytest.raises(jinja2.TemplateRuntimeError, match="steps"):
        environment().from_string("{% for i in range(100000) %}{{ range(100000)|length }}{% endfor %}").render()


def test_synth_refuses_an_unsafe_paraphrase():
    lib = load_stdlib([])
    task = lib.tasks["mrc_extractive"]
    original = lib.templates["mrc_extractive"]["en_1"].text
    reason = check_paraphrase(original, original + "\n{{ context.__class__ }}", task)
    assert reason is not None and reason.startswith("unsafe template (line")


@pytest.mark.parametrize("text,message,hint", [
    ("{{ text | uper }}", "unknown filter 'uper'", "did you mean 'upper'?"),
    ("{{ text }}{% if text is strng %}!{% endif %}", "unknown test 'strng'", "did you mean 'string'?"),
    ("{{ text | nosuchthing }}", "unknown filter 'nosuchthing'", "the filters are Jinja2's built-in ones, plus json and zip"),
])
def test_an_unknown_filter_or_test_is_a_template_problem_not_a_crash(text, message, hint):
    problem = template_problem(text, ["text"])
    assert problem is not None and problem.message == f"template uses {message}" and problem.hint == hint


@pytest.mark.parametrize("text,line,col", [("Find: {{ text }} {{ self }}", 1, 21),
                                           ("Find:\n{% if self %}{{ text }}{% endif %}", 2, 7)])
def test_jinja2s_bare_self_is_refused_at_its_place_not_written_as_a_template_reference(text, line, col):
    problem = template_problem(text, ["text"])
    assert problem is not None and "'self'" in problem.message and "<TemplateReference None>" in problem.message
    assert (problem.line, problem.col) == (line, col) and "self.name()" in (problem.hint or "")


@pytest.mark.parametrize("text", ["{% block b %}B{% endblock %}{{ self.b() }} {{ text }}",
                                  "{% set self = 'me' %}{{ self }} {{ text }}"])
def test_a_block_called_through_self_or_a_self_of_its_own_is_accepted(text):
    assert template_problem(text, ["text"]) is None


@pytest.mark.parametrize("text", ["", "{# a comment #}", "Classify into {{ labels | join(', ') }}."])
def test_a_template_that_never_shows_a_task_input_is_refused(text):
    problem = template_problem(text, ["text"])
    assert problem is not None and "never shows the task input(s) text" in problem.message
    assert problem.hint == "add {{ text }} where the input belongs in the instruction (inside " \
                           "`{% if text %}…{% endif %}` when it may be empty)"


def test_a_template_whose_constant_part_always_fails_is_refused_not_a_crash() -> None:
    """Jinja2 folds constants while compiling: ``1[0]`` fails there, before any record (found by fuzzing)."""
    problem = template_problem("{{ 1[0] ~ text }}", ["text"])
    assert problem is not None and problem.message.startswith("template fails whatever the record")
    with pytest.raises(HumcError) as caught:
        render_template("{{ 1[0] ~ text }}", {"text": "a"}, "ner/t", Span("t.j2", 3, 1))
    assert caught.value.code == "E4202" and caught.value.span == Span("t.j2", 3, 1)



@pytest.mark.parametrize("constant", ["{{ 1[1:2] }}", "{{ 1[1:2] ~ 'a' }}"])
def test_a_constant_python_refuses_to_compile_is_refused_at_its_line_not_a_warning_or_a_crash(constant: str) -> None:
    """Python itself refuses some of the code Jinja2 makes (``1[1:2]``: "'int' object is not subscriptable"), a
    SyntaxWarning printed on the terminal, or a SyntaxError where warnings are errors (found by fuzzing)."""
    text = f"Read this.\n{constant}\n{{{{ text }}}}"
    problem = template_problem(text, ["text"])
    assert problem is not None and problem.message.startswith("template fails whatever the record")
    assert problem.line == 2 and ("not subscriptable" in problem.message or "no element slice" in problem.message)
    with pytest.raises(HumcError) as caught:
        render_template(text, {"text": "a"}, "ner/t", Span("t.j2", 3, 1))
    assert caught.value.code == "E4202" and caught.value.span == Span("t.j2", 4, 1)

@pytest.mark.parametrize(("text", "written"), [
    ("{{ labels | map('upper') }}", "['X', 'Y']"),
    ("{{ labels | batch(1) }}", "[['x'], ['y']]"),
    ("{{ labels | select('string') }}", "['x', 'y']"),
    ("{{ labels | reverse | upper }}", "['Y', 'X']"),
    ("{{ labels | map('upper') | string }}", "['X', 'Y']"),
])
def test_a_lazy_sequence_is_written_as_its_list_not_as_its_address(text: str, written: str) -> None:
    """A generator's repr holds its memory address: the same recipe would write other instructions each build, also
    when a filter after it turns it into text (``| reverse | upper``, found by fuzzing)."""
    assert render_template(text, {"labels": ["x", "y"]}, "t") == written


@pytest.mark.parametrize("text", ["{{ text.upper }}", "{{ cycler(1, 2) }}"])
def test_writing_a_function_or_an_object_without_text_is_a_located_error(text: str) -> None:
    with pytest.raises(HumcError) as caught:
        render_template(text, {"text": "a"}, "ner/t", Span("t.j2", 3, 1))
    assert caught.value.code == "E4202" and "has no text of its own" in str(caught.value)
    assert "0x" not in str(caught.value)


@pytest.mark.parametrize(("text", "line", "col"), [
    ("Text: {{ txt }}", 1, 10),
    ("A txt in prose.\n{% if txt %}{{ text }}{% endif %}", 2, 7),   # the word in plain text is no use of it
    ("{{ text }}\n{{ labels | join(', ') }} {{ x.txt }} {{ txt|upper }}", 2, 42),  # an attribute named so neither
])
def test_an_unknown_variable_is_located_at_its_first_use(text: str, line: int, col: int) -> None:
    problem = template_problem(text, ["text"])
    assert problem is not None and "unknown variable(s)" in problem.message
    assert (problem.line, problem.col, problem.width) == (line, col, 3) and problem.hint == "did you mean 'text'?"


def test_an_unknown_variable_in_a_yaml_block_is_located_at_its_column_in_the_file(tmp_path: Path) -> None:
    """A template inside a block scalar (an inline prompt, a lockfile paraphrase) has its lines indented in the file:
    the column is where the name stands there, not in the template's own text."""
    from humc.recipe.nodes import expr_source
    from humc.recipe.yamlsrc import load_yaml

    text = "Answer this:\n{{ record.instruction }} for {{ recrod.context }}\n"
    path = tmp_path / "r.hum.yaml"
    path.write_text("prompt: |\n" + "".join("      " + line + "\n" for line in text.splitlines()), encoding="utf-8")
    block = load_yaml(path).require("prompt")
    problem = template_problem(block.value, (), available=("record",))
    assert problem is not None and block.value == text
    error = problem.error("prompt", expr_source(block).span_of(0))  # where the block's text starts: line 2, column 7
    assert (error.span.line, error.span.col, error.span.end_col) == (3, 39, 45)
    assert path.read_text().splitlines()[2][38:44] == "recrod"
