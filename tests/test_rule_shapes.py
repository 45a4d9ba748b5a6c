"""Every preference-rule operation and every format modifier meets the shapes a recipe writer gives it — a wrong
argument count, a number or a list where a column name is, a string where a number is, a negative or out-of-range
value, a column the task does not have, a field of the record named where an answer column is, a `when` that is not a
condition or reads a name that does not exist, a misspelt operation — and says so in words when the recipe is
checked: a located error (the recipe's line and column of the offending argument or operation, or the stdlib file's
line for a stdlib rule) with a code from the CODES table, `expected:` and a hint where the fix is known; never
Python's own exception text, never a traceback, and before any data is read (the data file here is not JSON)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import run_cli
from test_function_types import RAW_PYTHON

from humc.answers.formats import CODECS, SETTINGS
from humc.answers.ops import COLUMN_OPS, OPS
from humc.errors import CODES

RECIPE = """hum: 1
name: shapes
stdlib: [mystd]
sources:
  s: d.jsonl
tasks:
  - id: ner
    task: ner
    source: s
    fields: {text: text, entities: ents}
    preferences:
      - PREF
    formats: [FMT]
"""
PREF_LINE = 12
FMT_LINE = 13
KNOWN = set(CODES)


@dataclass(frozen=True)
class Case:
    item: str            # the preferences: item (or the formats: item), as YAML
    code: str
    at: str              # the text the error points at (its first occurrence after `then`/`|`, else anywhere)
    words: str           # a phrase the message holds
    hint: str | None = None


def _folder(tmp_path: Path, pref: str = "dedupe_rows", fmt: str = "json", rule_file: str | None = None) -> Path:
    (tmp_path / "d.jsonl").write_text("this is not JSON: a source read too early would fail on it\n", encoding="utf-8")
    (tmp_path / "mystd" / "rules").mkdir(parents=True, exist_ok=True)
    if rule_file is not None:
        (tmp_path / "mystd" / "rules" / "mine.yaml").write_text(rule_file, encoding="utf-8")
    recipe = tmp_path / "r.hum.yaml"
    recipe.write_text(RECIPE.replace("PREF", pref).replace("FMT", fmt), encoding="utf-8")
    return recipe


def _column(line: str, at: str, after: str) -> int:
    start = line.find(after) + len(after) if after in line else 0
    found = line.find(at, start)
    return (found if found >= 0 else line.index(at)) + 1


def _assert_said_in_words(tmp_path: Path, recipe: Path, case: Case, line: int, after: str) -> None:
    """`humc check` and `humc build` refuse the recipe alike: exit 2, located, coded, expected:, no Python words."""
    text_line = recipe.read_text(encoding="utf-8").splitlines()[line - 1]
    col = _column(text_line, case.at, after)
    outputs = []
    for args in (("check", str(recipe)), ("build", str(recipe), "--out", str(tmp_path / "out"),
                                          "--cache", str(tmp_path / "cache"))):
        result = run_cli(*args)
        out = result.output
        assert result.exit_code == 2, out
        assert "Traceback" not in out and not any(p in out for p in RAW_PYTHON), out
        first = out.splitlines()[0]
        assert first.startswith(f"{recipe}:{line}:{col}: error[{case.code}]:"), out
        assert case.code in KNOWN
        assert case.words in first, out
        assert "\n  expected: " in out, out
        if case.hint is not None:
            assert re.search(r"\n  hint: .*" + re.escape(case.hint), out), out
        outputs.append(out)
    assert not (tmp_path / "out").exists()  # nothing written
    assert outputs[0] == outputs[1]


def _rule_cases() -> list[Case]:
    """Wrong shapes for every operation the rule language has (enumerated from OPS)."""
    cases: list[Case] = []
    for name, (_, arity, _) in sorted(OPS.items()):
        if arity == 0:
            cases.append(Case(f"{name}(1)", "E2005", f"{name}(1)", "takes no argument", "without parentheses"))
            cases.append(Case(f'{name}(x="span")', "E2005", '"span"', "takes no named argument 'x'"))
            continue
        column = name in COLUMN_OPS
        noun = "a column name of the answer" if column else "a text"
        cases += [
            Case(f"{name}()", "E2005", f"{name}()", "takes one argument"),
            Case(f'{name}("span", "type")', "E2005", f'{name}("span", "type")', "2 were given"),
            Case(f'{name}(column="span")', "E2005", '"span"', "takes no named argument 'column'", f'{name}('),
            Case(f"{name}(span)", "E0008", "span)", "must be a constant", f'quote it: {name}("span")'),
            Case(f"{name}(-\"span\")", "E0008", "-", "must be a constant"),
        ]
        for value, kind in (("3", "an integer"), ("-1", "an integer"), ("0", "an integer"), ("1.5", "a number"),
                            ('["span"]', "a list"), ("true", "a boolean"), ("null", "null")):
            hint = "in quotes" if column else (f'quote it: {name}("{value}")' if kind != "a list" and value[0] != "t"
                                               and value != "null" else None)
            cases.append(Case(f"{name}({value})", "E0007", value + ")", f"'{name}' takes {noun}, not {kind}", hint))
        if column:
            cases += [
                Case(f'{name}("spam")', "E2005", '"spam"', "names column 'spam', which the answer does not have",
                     "did you mean 'span'?"),
                Case(f'{name}("text")', "E2005", '"text"', "names column 'text'", "is a field of the record"),
                Case(f'{name}("ents")', "E2005", '"ents"', "names column 'ents'"),
                Case(f'{name}("")', "E0008", '""', "names an empty column"),
            ]
    return cases


RULE_CASES = _rule_cases()


@pytest.mark.parametrize("case", RULE_CASES, ids=[c.item for c in RULE_CASES])
@pytest.mark.parametrize("shape", ["inline", "mapping"])
def test_every_operation_refuses_a_wrong_argument_in_words_at_the_argument(tmp_path: Path, case: Case,
                                                                          shape: str) -> None:
    ops = case.item.replace('"', '\\"') if shape == "mapping" else case.item
    item = (f"'when len(answer) > 0 then {case.item}'" if shape == "inline"
            else f'{{id: mine, text: "A sentence.", then: "{ops}"}}')
    recipe = _folder(tmp_path, item)
    at = case.at.replace('"', '\\"') if shape == "mapping" else case.at
    _assert_said_in_words(tmp_path, recipe, Case(item, case.code, at, case.words, case.hint), PREF_LINE,
                          "then")


WHEN_CASES = [
    Case("3", "E0007", "3", "a rule's `when` must be true or false", "len(answer) == 0"),
    Case('"yes"', "E0007", '"yes"', "must be true or false"),
    Case("[1]", "E0007", "[1]", "is a list"),
    Case("len(entities)", "E0007", "len(entities)", "`len(entities)` is a number", "`len(entities) > 0`"),
    Case("lower(text)", "E0007", "lower(text)", "is a text or a list", '`lower(text) != ""`'),
    Case("len(answer) + 1", "E0007", "len(answer) + 1", "is a sum (a number or a text)"),
    Case("len(answer) * 2", "E0007", "len(answer) * 2", "is a number", "`len(answer) * 2 > 0`"),
    Case("null", "E0007", "null", "is null"),
    Case("nosuch > 1", "E2001", "nosuch", "the condition reads unknown name 'nosuch'"),
    Case("len(entitis) > 1", "E2001", "entitis", "unknown name 'entitis'", "did you mean 'entities'?"),
    Case("len(answer) > 0 and ents", "E2001", "ents", "unknown name 'ents'"),
]


@pytest.mark.parametrize("case", WHEN_CASES, ids=[c.item for c in WHEN_CASES])
@pytest.mark.parametrize("shape", ["inline", "mapping"])
def test_a_when_that_is_not_a_condition_on_known_names_is_refused_at_check(tmp_path: Path, case: Case,
                                                                          shape: str) -> None:
    if shape == "inline":
        item = f"'when {case.item} then dedupe'"
    else:
        item = f"{{id: mine, text: A sentence., when: '{case.item}', then: dedupe}}"
    recipe = _folder(tmp_path, item)
    _assert_said_in_words(tmp_path, recipe, Case(item, case.code, case.at, case.words, case.hint), PREF_LINE,
                          "when")


NAME_CASES = [
    Case("'when true then sort_by_positon(\"span\")'", "E2005", "sort_by_positon", "unknown answer operation",
         "did you mean 'sort_by_position'"),
    Case("'when true then nope(\"span\")'", "E2005", "nope", "unknown answer operation 'nope'"),
    Case("'sort_by(\"span\")'", "E1002", "'sort_by", "is an answer operation, not a preference rule",
         "when true then sort_by"),
    Case("dedupe", "E1002", "dedupe", "is an answer operation, not a preference rule", "{id: NAME"),
    Case("'sortby(\"span\")'", "E2005", "'sortby", "unknown preference rule", "did you mean 'sort_by' — an answer operation"),
    Case("order_entities_by_positon", "E2005", "order_entities_by_positon", "unknown preference rule",
         "did you mean 'order_entities_by_position'"),
    Case("{id: mine, text: A sentence., then: dedupe, tasks: [re]}", "E2005", "[re]",
         "preference rule 'mine' does not apply to task 'ner'"),
    Case("shortest_span", "E2005", "shortest_span", "does not apply to task 'ner'"),
]


@pytest.mark.parametrize("case", NAME_CASES, ids=[c.item for c in NAME_CASES])
def test_an_unknown_or_misplaced_operation_is_named_with_a_did_you_mean(tmp_path: Path, case: Case) -> None:
    recipe = _folder(tmp_path, case.item)
    _assert_said_in_words(tmp_path, recipe, case, PREF_LINE, "- ")


STDLIB_RULES = [
    ("tasks: [ner]\nthen: sort_by(\"spam\")\n", 4, 15, "E2005", "names column 'spam'", "did you mean 'span'?"),
    ("then: shortest(3)\n", 3, 16, "E0007", "'shortest' takes a column name of the answer, not an integer (3)",
     "in quotes"),
    ("then: empty_as()\n", 3, 7, "E2005", "'empty_as' takes one argument, a text, but 0 were given", None),
    ("when: nosuch > 1\nthen: dedupe\n", 3, 7, "E2001", "unknown name 'nosuch'", None),
    ("when: '3'\nthen: dedupe\n", 3, 8, "E0007", "must be true or false", None),
    ("when: len(answer)\nthen: dedupe\n", 3, 7, "E0007", "`len(answer)` is a number", "`len(answer) > 0`"),
    ("when: nosuchfn(answer)\nthen: dedupe\n", 3, 7, "E2004", "nosuchfn", None),
    ("then: lowercase(\"text\")\n", 3, 17, "E2005", "names column 'text'", "is a field of the record"),
]


@pytest.mark.parametrize("body, line, col, code, words, hint", STDLIB_RULES, ids=[r[0] for r in STDLIB_RULES])
def test_a_bad_rule_in_a_stdlib_folder_is_located_in_its_file(tmp_path: Path, body: str, line: int, col: int,
                                                             code: str, words: str, hint: str | None) -> None:
    recipe = _folder(tmp_path, "mine", rule_file="id: mine\ntext: A sentence.\n" + body)
    result = run_cli("check", str(recipe))
    out = result.output
    assert result.exit_code == 2, out
    assert "Traceback" not in out and not any(p in out for p in RAW_PYTHON), out
    rule_file = tmp_path / "mystd" / "rules" / "mine.yaml"
    assert out.startswith(f"{rule_file}:{line}:{col}: error[{code}]:"), out
    assert words in out.splitlines()[0], out
    assert "\n  expected: " in out
    if hint is not None:
        assert hint in out, out


# ------------------------------------------------------------------ format modifiers


def _modifier_cases() -> list[Case]:
    """Wrong shapes for every modifier (enumerated from SETTINGS), each on a codec it applies to."""
    cases: list[Case] = []
    for name, setting in sorted(SETTINGS.items()):
        codec = "grouped_json" if name == "nest" else "json"
        assert name in CODECS[codec].settings
        head = f"{codec} | "
        if setting.kind == "object":
            example = 'args=["span"]' if name == "nest" else 'span="text"'
            cases += [
                Case(head + f"{name}(3)", "E0008", f"{name}(3)", "it takes named arguments only", f"e.g. {name}("),
                Case(head + f"{name}", "E0008", name, "it takes named arguments only"),
                Case(head + f"{name}(span=3)" if name == "keys" else head + f"{name}(args=\"span\")", "E0007",
                     name + "(", "bad value"),
                Case(head + (f'{name}(spam="x")' if name == "keys" else f'{name}(args=["spam"])'), "E2006",
                     name + "(", "names column 'spam', which the answer does not have", "did you mean 'span'?"),
                Case(head + (f'{name}(text="x")' if name == "keys" else f'{name}(args=["text"])'), "E2006",
                     name + "(", "names column 'text'", "is a field of the record"),
                Case(head + f"{name}({example}) | {name}({example})", "E0008", f"| {name}", "is given twice",
                     "the first is at"),
            ]
            continue
        good = {"integer": "2", "string": '"upper"', "boolean": "true"}[setting.kind]
        wrong = {"integer": ('"2"', "a string where an integer is expected", "without quotes"),
                 "string": ("3", "an integer where a string is expected", None),
                 "boolean": ('"yes"', "a string where a boolean is expected", "without quotes")}[setting.kind]
        cases += [
            Case(head + f"{name}({good}, {good})", "E0008", name, "it takes one argument, 2 were given"),
            Case(head + f"{name}(bogus={good})", "E0008", name, "it has no argument 'bogus'",
                 f"its one argument is '{setting.arg}'"),
            Case(head + f"{name}({wrong[0]})", "E0007", name, wrong[1], wrong[2]),
            Case(head + f"{name}([1])", "E0007", name, "a list where"),
            Case(head + f"{name}(null)", "E0007", name, "null where"),
            Case(head + f"{name}(nothing)", "E0008", name, "must be constants", f'{name}("nothing")'),
            Case(head + f"{name}(none)", "E0008", name, "must be constants", "writes null, not none"),
            Case(head + f"{name}({good}) | {name}({good})", "E0008", f"| {name}", "is given twice"),
            Case(f"tuples | {name}({good})", "E2006", name, "does not apply to codec 'tuples'",
                 f"'{name}' applies to: "),
        ]
        if setting.kind == "integer" and name == "indent":
            cases += [Case(head + "indent(-1)", "E0008", "indent", "bad value -1", "0 to 8"),
                      Case(head + "indent(9)", "E0008", "indent", "bad value 9", "0 to 8"),
                      Case(head + "indent(2.5)", "E0007", "indent", "a number where an integer is expected")]
        if setting.kind == "boolean":
            cases.append(Case(head + f"{name}(1)", "E0007", name, "an integer where a boolean", f"{name}(true)"))
        if setting.kind == "string":
            cases.append(Case(head + f'{name}("lowr")', "E0008", name, "bad value 'lowr'", "did you mean 'lower'?"))
    cases += [
        Case("json | indnet(2)", "E2006", "indnet", "unknown format modifier 'indnet'", "did you mean 'indent'"),
        Case("json(indnet=2)", "E2006", "json(", "unknown format option 'indnet'", "did you mean 'indent'"),
        Case("json(2)", "E0008", "json(", "options of codec 'json' are named", "json | indent(2)"),
        Case("json(indent=-1)", "E0008", "json(", "bad value -1 for format option 'indent'"),
        Case("jsno | indent(2)", "E2006", "jsno", "unknown format variant 'jsno'", "did you mean 'json'"),
    ]
    return cases


MODIFIER_CASES = _modifier_cases()


@pytest.mark.parametrize("case", MODIFIER_CASES, ids=[c.item for c in MODIFIER_CASES])
def test_every_modifier_refuses_a_wrong_argument_in_words_at_the_modifier(tmp_path: Path, case: Case) -> None:
    item = "'" + case.item + "'"
    recipe = _folder(tmp_path, fmt=item)
    if case.at.startswith("| "):  # a repeated modifier: the error is at its second use
        at, after = case.at[2:], item[:item.rindex(case.at) + 2]
    else:  # a modifier's error is at the modifier (after the first `|`), a head's at the head
        at, after = case.at, ("| " if "| " in case.item and not case.item.startswith(case.at) else "[")
    _assert_said_in_words(tmp_path, recipe, Case(item, case.code, at, case.words, case.hint), FMT_LINE, after)


def test_a_stdlib_variant_modifier_may_be_overridden_and_a_variants_own_keys_stay_silent(tmp_path: Path) -> None:
    """`json_pretty | indent(4)` sets what the variant set (not a duplicate); iepile_json's renamings name columns
    other tasks have (head, tail), which apply only where a task has them."""
    (tmp_path / "d.jsonl").write_text('{"text": "Ada met Bob", "ents": [{"type": "PER", "span": "Ada"}]}\n',
                                      encoding="utf-8")
    (tmp_path / "mystd" / "rules").mkdir(parents=True)
    recipe = tmp_path / "r.hum.yaml"
    recipe.write_text(RECIPE.replace("PREF", "'when len(answer) > 1 then sort_by(\"span\") | dedupe'").replace(
        "FMT", "'json_pretty | indent(4)', iepile_json, 'json | keys(span=\"text\") | key_case(\"upper\")'"),
        encoding="utf-8")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 0, result.output
    assert "ok — 1 task(s)" in result.output
