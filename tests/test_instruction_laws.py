"""Laws every rendered stdlib instruction obeys, for every task x template (en and zh) x format variant that fits the
task, with and without label definitions, guidelines and rules (the task's own stdlib ones), and with no, "[]" or
"unanswerable" as the way to answer nothing: what a careful annotator checks by reading records (the data review of
docs/corpus.md), stated once so a new template, variant or guideline cannot bring the faults back.

* no header left without its items ("Guidelines:" followed by nothing), no stray whitespace, no "None"/"nan"/"null";
* a format that writes an object, a list or a sentence never promises a line or row layout ("one line per X");
* where the format itself can write "no answer" and the task's answer may be nothing, its sentence says how;
  elsewhere (a label task: `answer: {always: true}`) it promises nothing;
* no line said twice; a Chinese instruction has no English prose, an English one no Chinese.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from humc.answers import formats
from humc.build.rendering import variant_context
from humc.ir import Guideline, PreferenceRule, TaskDef, Template, Variant
from humc.recipe.stdlib import Stdlib, load_stdlib, variant_problem
from humc.templating import render_template

LIB: Stdlib = load_stdlib()
INPUTS = {
    "en": {"text": "Ada Lovelace met Charles Babbage in London.", "context": "Ada Lovelace wrote the first program.",
           "question": "Who wrote the first program?", "options": ["Ada Lovelace", "Charles Babbage"],
           "instruction": "Summarise the context.", "event_type": "Meet", "trigger": "met",
           "premise": "A man plays a guitar.", "hypothesis": "A person makes music.",
           "text_a": "How old are you?", "text_b": "What is your age?"},
    "zh": {"text": "鲁迅出生于浙江绍兴。", "context": "长江是中国最长的河流。", "question": "中国最长的河流是哪条？",
           "options": ["长江", "黄河"], "instruction": "用一句话介绍长城。", "event_type": "人生-死亡", "trigger": "去世",
           "premise": "一个人在弹吉他。", "hypothesis": "有人在演奏音乐。", "text_a": "你多大了？", "text_b": "你的年龄是多少？"},
}
LABELS = {"en": ["person", "location"], "zh": ["人物", "地点"]}
DEFINITION = {"en": "a definition", "zh": "一个定义"}
ROLES = {"en": ["time", "place"], "zh": ["时间", "地点"]}  # an event type's argument roles (ee's `roles`)
# variants whose answer is one value, an object, a list or a sentence: no line or row to promise
NOT_LINES = {"json", "json_pretty", "json_spo", "yaml", "tuples", "natural", "grouped_json", "iepile_json",
             "inline_tags"}
LINE_LAYOUT = re.compile(r"\b(?:one|each|per) (?:line|row)\b|\bline per\b|\brow per\b|占一行|每行|一行")
ANSWER_NOTHING = re.compile(r"no answer|没有答案|empty list|空列表")
HEADER = re.compile(r"[:：]$")
PER_LABEL_EMPTY = re.compile(r" Give every label, with an empty list \[\] when the text has none of it\."
                             r"|每个标签都要给出，没有对应内容时给出空列表 \[\]。"
                             r"|; return an empty list for a label that does not occur|，不存在的标签返回空列表")


def _cases() -> Iterator[tuple[TaskDef, Template, Variant]]:
    for task_id, task in sorted(LIB.tasks.items()):
        for template in sorted(LIB.templates[task_id].values(), key=lambda t: t.id):
            for variant in sorted(LIB.variants.values(), key=lambda v: v.id):
                if variant_problem(variant.spec, task) is None:
                    yield task, template, variant


def _guidelines(task: TaskDef, language: str) -> list[Guideline]:
    return [g for g in LIB.guidelines.values() if g.language == language and (not g.tasks or task.id in g.tasks)]


def _rules(task: TaskDef) -> list[PreferenceRule]:
    return [r for r in LIB.rules.values() if not r.tasks or task.id in r.tasks]


def _empties(rules: list[PreferenceRule]) -> list[str | None]:
    """None (the format's own way), and each rule-given one, e.g. "[]" or "unanswerable"."""
    return [None, *sorted({str(op.args[0]) for r in rules for op in r.then if op.name == "empty_as"})]


def _render(task: TaskDef, template: Template, variant: Variant, *, full: bool, empty: str | None) -> tuple[str, str]:
    """(instruction, format sentence) as a build renders them (humc/build/rendering.py)."""
    lang = template.language
    shown = formats.shown_keys(variant.spec, task.columns)
    sentence = render_template(variant.text.get(lang) or variant.text["en"],
                               variant_context(shown, task.cardinality, empty, not task.answer_always), variant.id)
    guidelines = _guidelines(task, lang) if full else []
    rules = _rules(task) if full else []
    definitions = {label: DEFINITION[lang] for label in LABELS[lang]} if full else {}
    for g in guidelines:
        definitions.update(g.labels[:2])
    values: dict[str, Any] = {name: INPUTS[lang][name] for name in task.inputs}
    values.update(labels=LABELS[lang], label_definitions=definitions, columns=list(task.columns),
                  guidelines=[g.text for g in guidelines if g.text], option_labels=["A", "B"],
                  rules=[r.text.get(lang) or r.text["en"] for r in rules], format_instruction=sentence,
                  roles={label: ROLES[lang] for label in LABELS[lang]} if task.labels_have_roles and full else {})
    return render_template(template.text, values, f"{task.id}/{template.id}"), sentence


def _prose(template: Template, instruction: str) -> str:
    """What a reader reads as sentences: a structured template's JSON values (its keys are IEPile's, in English)."""
    if not template.id.endswith("_structured"):
        return instruction
    data = json.loads(instruction)
    return "\n".join(str(v) for k, v in data.items() if k in ("instruction", "guidelines"))


CASES = list(_cases())


@pytest.mark.parametrize(("task", "template", "variant"), CASES,
                         ids=[f"{t.id}/{tpl.id}/{v.id}" for t, tpl, v in CASES])
def test_every_stdlib_instruction_reads_cleanly(task: TaskDef, template: Template, variant: Variant) -> None:
    rules = _rules(task)
    for full, empty in itertools.product((False, True), _empties(rules)):
        instruction, sentence = _render(task, template, variant, full=full, empty=empty)
        where = f"{task.id}/{template.id} x {variant.id} (guidelines and rules: {full}, empty: {empty!r})"
        lines = instruction.split("\n")
        for i, line in enumerate(lines):
            if HEADER.search(line) and len(line) < 30:
                following = lines[i + 1] if i + 1 < len(lines) else ""
                assert following.strip() and not HEADER.search(following), f"{where}: empty header {line!r}"
            assert line == line.rstrip(), f"{where}: trailing whitespace in {line!r}"
        assert instruction == instruction.strip() and "\n\n\n" not in instruction, f"{where}: stray blank lines"
        prose = _prose(template, instruction)
        assert "  " not in prose and not re.search(r"[。；，：！？] ", prose), f"{where}: stray spaces in {prose!r}"
        assert not re.search(r"\b(?:None|nan|null)\b", prose), f"{where}: None/nan/null in {prose!r}"
        said = [line for line in lines if line.strip()]
        assert len(said) == len(set(said)), f"{where}: a line said twice"
        if variant.id in NOT_LINES:
            assert not LINE_LAYOUT.search(prose), f"{where}: promises a line layout: {prose!r}"
        if empty is None:
            # grouped JSON's "[] for a label without answers" is how it answers nothing, no promise where that never is
            overall = PER_LABEL_EMPTY.sub("", sentence) if task.answer_always else sentence
            says_how = bool(ANSWER_NOTHING.search(overall)) or "[]" in overall
            can = formats.empty_is_expressible(variant.spec.codec, task.cardinality) and not task.answer_always
            assert says_how == can, (f"{where}: the format {'can' if can else 'cannot'} write 'no answer', "
                                     f"its sentence {'does not say how' if can else 'promises one'}: {sentence!r}")
        if template.language == "zh":
            english = re.findall(r"[A-Za-z]+(?: [A-Za-z]+){2,}", prose)  # prose: three words or more
            assert not english, f"{where}: English in a Chinese instruction: {english}"
        else:
            assert not re.search(r"[\u4e00-\u9fff]", prose), f"{where}: Chinese in an English instruction"



@pytest.mark.parametrize("variant", sorted(LIB.variants.values(), key=lambda v: v.id), ids=lambda v: v.id)
def test_a_format_sentence_is_silent_on_no_answer_when_a_stated_rule_says_it(variant: Variant) -> None:
    """rendering passes empty=None, may_be_empty=False when the stated rule has its own sentence (empty_brackets'
    "If nothing in the text matches, output []."): the JSON, tuples and YAML sentences said "output []" again."""
    for lang, cardinality in itertools.product(("en", "zh"), ("one", "many")):
        text = variant.text.get(lang) or variant.text["en"]
        sentence = render_template(text, variant_context(["type", "span"], cardinality, None, False), variant.id)
        assert not re.search(r"no answer|没有答案|output \[\]|输出 \[\]", sentence), f"{variant.id}/{lang}: {sentence!r}"


def test_the_format_sentence_is_never_labelled_as_the_output() -> None:
    """ee/en_3 and openie/en_3 wrote "Output: Answer in JSON: …", as if that sentence were the answer; ner/en_3 says
    "Output format:"."""
    for templates in LIB.templates.values():
        for template in templates.values():
            assert not re.search(r"^(?:Output|Answer|输出|答案)[:：]\s*\{\{\s*format_instruction", template.text, re.M), \
                template.id
