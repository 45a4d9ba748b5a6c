"""Errors inside a YAML scalar's text point at the character in the file: a DSL expression or a Jinja template
written as a quoted scalar (escapes, folded lines), a literal block (leading empty lines, deeper indentation) or a
folded block (joined lines), in a recipe, a variant of an added stdlib folder or a lockfile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from helpers import run_cli, tiny_recipe
from hypothesis import given, settings
from hypothesis import strategies as st

from humc.recipe.yamlsrc import load_yaml_text

HEAD = tiny_recipe().split("    formats:")[0]  # the tiny QA recipe up to its task entry's `fields:`

JUDGED = HEAD.replace("sources:", "models:\n  judge:\n    base_url: http://127.0.0.1:8000/v1\n    model: some-model\n"
                      "sources:") + "    formats: [json]\n    judge:\n      model: judge\n      min_score: 4\n"


def build(tmp_path: Path, recipe: str, name: str = "r.hum.yaml") -> str:
    """`humc build` of ``recipe`` over 20 rows: its output, after checking it failed and wrote nothing."""
    rows = [{"context": f"Paris {i} is in France.", "question": "Where is Paris?", "answers": ["France"]}
            for i in range(20)]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (tmp_path / name).write_text(recipe, encoding="utf-8")
    result = run_cli("build", str(tmp_path / name), "--out", str(tmp_path / "out"), "--cache",
                     str(tmp_path / "cache"), "-q")
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "out").exists()
    return result.output


def quoted_line(output: str, line: int, text: str, col: int) -> None:
    """The snippet under the location quotes file line ``line`` (holding ``text``) with the caret at ``col``."""
    gutter = f"{line:>4} | "
    lines = output.splitlines()
    at = next(i for i, shown in enumerate(lines) if shown.startswith(gutter))
    assert text in lines[at]
    assert lines[at + 1].index("^") == len(gutter) + col - 1


@pytest.mark.parametrize(("where", "at", "text"), [
    # a double-quoted scalar over lines: its line breaks fold into spaces (was 13:49, past the end of the first line)
    ('    where: "len(context) > 0\n      and len(question)\n      >> 0"\n', "15:8", ">> 0"),
    # escapes (\", \\n) and an escaped \n before the error (was 14:17, on the next key's line)
    ('    where: "len(context) > 0 and \\"a\\\\nb\\" != context and\\n len(question) >> 0"\n', "13:76", "len(question) >> 0"),
    # a single-quoted scalar: '' is one quote, an empty line one line break (was 14:20, on the empty line)
    ("    where: 'len(context) > 0 and ''a'' != context\n\n      and len(question) >> 0'\n", "15:26", ">> 0'"),
    # a literal block opening with an empty line, a line indented deeper (was 15:18, on the line above)
    ("    where: |-\n\n        len(context) > 0 and\n          len(question) >> 0\n", "16:26", "len(question) >> 0"),
])
def test_a_dsl_syntax_error_in_a_quoted_or_block_scalar_is_at_its_character(tmp_path: Path, where: str, at: str,
                                                                           text: str) -> None:
    output = build(tmp_path, HEAD + where + "    formats: [json]\n")
    assert f"r.hum.yaml:{at}: error[E1001]: unexpected '>' in expression" in output
    line, col = map(int, at.split(":"))
    quoted_line(output, line, text, col)


@pytest.mark.parametrize(("prompt", "at", "code", "text"), [
    # a folded block: Jinja2's line 2 is the file's lines 25 and 26; the error is at `%}` of line 26 (was 23:9)
    ("      prompt: >-\n        Rate the answer to {{ record.question }}\n        from 1 to 5.\n\n"
     "        The answer: {{ record.context\n        | upper }} and {% if %}\n", "26:30", "E2011", "{% if %}"),
    # a double-quoted one: \\n, \" and a folded line break before the unknown variable (was 24:58, past the file's last line)
    ('      prompt: "Rate the answer to {{ record.question }}\\n\\\n        from 1 to 5.\\n\\nThe \\"answer\\": '
     '{{ record.context }}\n        and {{ nosuch }}"\n', "23:16", "E2011", "{{ nosuch }}"),
    # a literal block opening with an empty line (was 25:16: its indentation was read from the empty line)
    ("      prompt: |\n\n        Rate the answer to {{ record.question }}\n          from 1 to 5.\n"
     "        The answer: {{ nosuch }}\n", "25:24", "E2011", "{{ nosuch }}"),
])
def test_a_template_error_in_an_inline_prompt_is_at_its_file_line(tmp_path: Path, prompt: str, at: str, code: str,
                                                                   text: str) -> None:
    output = build(tmp_path, JUDGED + prompt)
    assert f"r.hum.yaml:{at}: error[{code}]: 'judge' of task 'qa': prompt: template " in output
    line, col = map(int, at.split(":"))
    quoted_line(output, line, text, col)


def own_variant(tmp_path: Path, variant: str) -> str:
    """A recipe whose added stdlib folder holds the variant ``mine`` (the text given)."""
    (tmp_path / "mylib" / "variants").mkdir(parents=True)
    (tmp_path / "mylib" / "variants" / "mine.yaml").write_text(variant, encoding="utf-8")
    return HEAD.replace("sources:", "stdlib: mylib\nsources:") + "    formats: [mine]\n"


def test_a_syntax_error_in_a_folded_variant_text_is_at_its_tag(tmp_path: Path) -> None:
    variant = ("id: mine\ncodec: natural\ntext:\n  en: >-\n    Answer in a plain sentence,\n"
               "    putting each answer in quotes.\n\n    {% if empty %} Say {{ empty\n    }} {% endfor %}\n")
    output = build(tmp_path, own_variant(tmp_path, variant))
    # was mine.yaml:6:5, a line without a tag
    assert "mine.yaml:9:11: error[E2011]: variant mine.yaml text (en): template syntax error: Encountered unknown " \
           "tag 'endfor'" in output
    quoted_line(output, 9, "{% endfor %}", 11)


def test_a_render_error_in_a_double_quoted_variant_text_is_on_its_file_line(tmp_path: Path) -> None:
    variant = ('id: mine\ncodec: natural\ntext:\n  en: "Answer in a plain sentence,\\n\n'
               '    putting each \\"answer\\" in quotes.\n    {{ fields | join(\', \') }} {{ (fields | length) / 0 }}"\n')
    output = build(tmp_path, own_variant(tmp_path, variant))
    # Jinja2's line 2 is the file's lines 5 and 6; was mine.yaml:5:8, inside the first line's escape
    assert "mine.yaml:6:5: error[E4202]: template variant mine: ZeroDivisionError: division by zero" in output
    quoted_line(output, 6, "{{ fields", 5)


def test_a_render_error_in_a_folded_lockfile_template_is_on_its_file_line(tmp_path: Path) -> None:
    (tmp_path / "r.hum.lock").write_text(
        "humc_lock: 1\nrecipe: tiny\nitems:\n- id: 614eae8e70\n  kind: template\n  entry: qa\n  status: accepted\n"
        "  origin: human\n  base: en_1\n  language: en\n  text: >-\n    Answer the question below\n"
        "    using an exact excerpt.\n\n    {{ format_instruction }}\n"
        "    Passage: {{ context }} Question: {{ question }}\n    {{ (question | length) / 0 }}\n", encoding="utf-8")
    output = build(tmp_path, HEAD + "    templates: [en_1]\n    formats: [json]\n")
    # was r.hum.lock:13:1: the template's first line, at column 1
    assert "r.hum.lock:17:5: error[E4202]: template mrc_extractive/en_1~614eae8e70: ZeroDivisionError" in output
    quoted_line(output, 17, "{{ (question | length) / 0 }}", 5)


TEXT = st.text(st.sampled_from(list("ab c\n\t\"'\\#:-{}\u00e9")), max_size=40)


@settings(max_examples=300, deadline=None)
@given(value=TEXT, style=st.sampled_from([None, '"', "'", "|", ">"]), width=st.sampled_from([12, 30, 80]))
def test_each_character_of_a_scalar_is_placed_on_its_source_character(value: str, style: str | None,
                                                                       width: int) -> None:
    """PyYAML's own writing of a value in each style, read back: each character of the value has a place, the
    character written there (or the escape or fold that made it)."""
    text = yaml.dump({"k": {"key": value}}, default_style=style, width=width, allow_unicode=True)
    node = load_yaml_text(text.replace('"k":', "k:").replace("'k':", "k:"), "x.yaml").value["k"].value
    scalar = next(iter(node.values()))
    if scalar.value != value or scalar.style != style:  # PyYAML chose another style: nothing to check
        return
    placed = scalar.text_span()
    if placed is None:  # a form the reading does not follow (a block of line breaks only): located as before
        assert set(value) <= set("\n ") or style in ("|", ">")
        return
    lines = text.replace('"k":', "k:").replace("'k':", "k:").split("\n")
    for char, (line, col, _) in zip(value, placed.places, strict=True):
        written = lines[line - 1][col - 1] if col <= len(lines[line - 1]) else "\n"
        assert written == char or char in " \n\t" or written in "\\'", (char, written, line, col)


def test_a_dataset_source_with_a_path_is_refused_at_the_path_key(tmp_path: Path) -> None:
    recipe = HEAD.replace("  qa: data.jsonl", "  qa:\n    dataset: org/name\n    path: data.jsonl") + "    formats: [json]\n"
    output = build(tmp_path, recipe)
    # was r.hum.yaml:5:5, the `dataset:` key, which is right
    assert "r.hum.yaml:6:5: error[E0008]: source 'qa': `dataset:` takes no `path:` or `options:`" in output
    quoted_line(output, 6, "path: data.jsonl", 5)


def test_a_nul_in_a_constant_file_is_at_its_column(tmp_path: Path) -> None:
    (tmp_path / "labels.txt").write_text("yes\nno\x00pe\n", encoding="utf-8")
    recipe = HEAD.replace("hum: 1", "hum: 1\nconstants:\n  answers_allowed: {file: labels.txt}") + "    formats: [json]\n"
    output = build(tmp_path, recipe)
    assert "labels.txt:2:3: error[E0009]: constant 'answers_allowed': labels.txt holds a NUL character" in output  # was 2:1


@pytest.mark.parametrize(("stdlib", "files", "at", "message"), [
    ("stdlib: lib", {"lib/template/mrc_extractive/en_x.j2": "hi"}, "1:9",
     "error[E0012]: stdlib folder {lib}: humc reads 'templates/', not 'template/'"),
    ("stdlib: [lib2, lib]", {"lib2/x.txt": "", "lib/rules": "a file"}, "1:16",
     "error[E0012]: stdlib folder {lib}: 'rules' is a file, not a folder"),
    ("stdlib:\n  - lib", {"lib/templates/mrc_extractve/en_x.j2": "hi"}, "2:5",
     "error[E2003]: templates folder {lib}/templates/mrc_extractve names no task: 'mrc_extractve'"),
])
def test_a_stdlib_folder_laid_out_wrong_is_located_at_the_recipe_item_naming_it(
        tmp_path: Path, stdlib: str, files: dict[str, str], at: str, message: str) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    output = build(tmp_path, stdlib + "\n" + HEAD + "    formats: [json]\n")
    # was at no line at all: a folder has none, the recipe's item naming it has
    assert output.startswith(f"{tmp_path / 'r.hum.yaml'}:{at}: " + message.format(lib=tmp_path / "lib"))


def test_a_syntax_error_in_a_template_file_is_at_the_word_jinja_stopped_at(tmp_path: Path) -> None:
    (tmp_path / "lib/templates/mrc_extractive").mkdir(parents=True)
    (tmp_path / "lib/templates/mrc_extractive/en_x.j2").write_text("Answer.\n{{ context }}\n{% if %}\n", encoding="utf-8")
    output = build(tmp_path, "stdlib: lib\n" + HEAD + "    templates: [en_x]\n    formats: [json]\n")
    # was en_x.j2:3:1: Jinja2 names only the line
    assert "en_x.j2:3:7: error[E2011]: template 'mrc_extractive/en_x': template syntax error: Expected an expression" \
           in output
    quoted_line(output, 3, "{% if %}", 7)


def test_a_duplicate_task_id_is_at_the_second_id(tmp_path: Path) -> None:
    recipe = tiny_recipe(formats="[json]") + "  - id: qa\n    task: mrc_extractive\n    source: qa\n" \
        "    fields: {context: context, question: question, answers: answers}\n"
    output = build(tmp_path, recipe)
    # was 14:5, the entry's first key: the value that repeats is the id
    assert "r.hum.yaml:14:9: error[E3001]: duplicate task id 'qa'" in output
    assert f"note: first used at {tmp_path / 'r.hum.yaml'}:6:9" in output
