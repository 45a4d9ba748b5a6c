"""What SmolLM2-135M-Instruct (llama-cpp-python 0.3.36, ../shared/realmodel/serve-smollm2) did to `generate` over the
real samples of SQuAD 2.0, CoNLL04, MSRA, GoEmotions, DuEE and AG News (2026-11-27), replayed on the loopback test
server (tests/llmserver.py) so it runs without the real model. Each test names the real replies it reproduces;
replies marked scripted are written for the test, in shapes models answer in."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml
from helpers import REPO, build_in
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(REPO))
from tests.llmserver import LLMServer  # noqa: E402

SQUAD = REPO / "tests" / "data" / "squad_v2" / "dev-v2.0.normans.json"  # CC BY-SA 4.0, see its SOURCE.md


def flat(text: str) -> str:
    return " ".join(text.split())


def squad_head(tmp: Path, paragraphs: int) -> Path:
    """The first ``paragraphs`` paragraphs of the real SQuAD 2.0 sample (Normans), as a SQuAD file."""
    data = json.loads(SQUAD.read_text(encoding="utf-8"))
    article = data["data"][0]
    cut = {"version": data["version"], "data": [{**article, "paragraphs": article["paragraphs"][:paragraphs]}]}
    path = tmp / "squad.json"
    path.write_text(json.dumps(cut), encoding="utf-8")
    return path


def recipe(tmp: Path, base_url: str, sources: dict[str, Any], entry: dict[str, Any], **generate: Any) -> Path:
    writer = {"base_url": base_url, "model": "test-model", "max_retries": 1, "params": {"max_tokens": 64}}
    doc = {"hum": 1, "name": "rm5", "models": {"writer": writer}, "sources": sources,
           "tasks": [{"id": "gen", "generate": {"model": "writer", **generate}, "formats": ["json"], **entry}],
           "output": {"splits": {"train": 1.0}}}
    path = tmp / "rm5.hum.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def golds(tmp: Path) -> list[Any]:
    return [json.loads(r["gold"]) for r in pq.read_table(tmp / "out" / "rm5" / "data").to_pylist()]


# ------------------------------------------------------------------ SQuAD 2.0: an unanswerable question is answered

NOT_COPIED = {  # SmolLM2's free-text replies to three of the 17 unanswerable questions it was asked
    "Who did King Charles III swear fealty to?": "The Normans (Nourmands; French: Normanni) were the people who",
    "When did the Frankish identity emerge?": 'The answer is: "circa 1054"',
    "What is France a region of?": "France is a region of the continent of Europe.",
}


def test_an_unanswerable_squad_question_is_gold_that_generate_keeps_unasked(tmp_path):
    """`generate: {model: writer}` (fill empty answers) over the first 31 questions of SQuAD 2.0's dev set sent the 17
    unanswerable ones (`answers: []`) to SmolLM2, which answered each with a sentence ('France is a region of the
    continent of Europe.', 'The answer is: "circa 1054"'): all 17 were dropped as `answer not copied from the context`
    and the dataset kept only the 14 answerable questions. `[]` is mrc_extractive's gold for "unanswerable": nothing
    is asked, and every question keeps its gold."""
    source = {"squad": {"catalog": "squad_v2", "path": str(squad_head(tmp_path, 5))}}
    with LLMServer(responder=lambda body: next((r for q, r in NOT_COPIED.items()
                                                if q in body["messages"][0]["content"]), "Rollo")) as srv:
        result = build_in(recipe(tmp_path, srv.base_url, source, {"source": "squad"}), tmp_path)
        sent = len(srv.received)
    assert result.exit_code == 0, result.output
    assert sent == 0
    kept = golds(tmp_path)
    assert len(kept) == 31
    assert kept.count([]) == 17


def test_overwrite_asks_an_unanswerable_question_too(tmp_path):
    """`overwrite: true` re-annotates every record, unanswerable ones included; a reply not copied from the context
    is dropped as before."""
    source = {"squad": {"catalog": "squad_v2", "path": str(squad_head(tmp_path, 1))}}
    replies = {**NOT_COPIED, "Who gave their name to Normandy": "The Normans"}
    with LLMServer(responder=lambda body: next((r for q, r in replies.items()
                                                if q in body["messages"][0]["content"]), "Rollo")) as srv:
        result = build_in(recipe(tmp_path, srv.base_url, source, {"source": "squad"}, overwrite=True), tmp_path)
        sent = len(srv.received)
    assert result.exit_code == 0, result.output
    assert sent == 9  # the paragraph's 5 answerable and 4 unanswerable questions
    summary = flat(result.output)
    assert "gen/generate: 6/9 valid answer(s)" in summary
    assert "dropped answer not copied from the context: 3" in summary


def test_a_missing_extractive_answer_is_asked_and_an_empty_one_is_not(tmp_path):
    """In a JSON Lines source, `answers: null` (or no `answers`) is an answer to generate; `answers: []` is the
    question's gold: unanswerable."""
    context = "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy."
    rows = [{"context": context, "question": "Who gave their name to Normandy?", "answers": None},
            {"context": context, "question": "What is France a region of?", "answers": []}]
    (tmp_path / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    entry = {"source": "qa", "task": "mrc_extractive", "preferences": ["unanswerable"],
             "fields": {"context": "context", "question": "question", "answers": "answers"}}
    with LLMServer(responder=lambda body: "The Normans") as srv:
        result = build_in(recipe(tmp_path, srv.base_url, {"qa": "qa.jsonl"}, entry), tmp_path)
        asked = [r.json["messages"][0]["content"] for r in srv.received]
    assert result.exit_code == 0, result.output
    assert len(asked) == 1 and "Who gave their name to Normandy?" in asked[0]
    assert sorted(map(json.dumps, golds(tmp_path))) == ["[]", '[{"answer": "The Normans"}]']


# ------------------------------------------------------------------ scripted replies (the shapes models answer in,
# not SmolLM2's own): a reply saying "no answer", one relation object where a list is asked

NO_ANSWER_REPLIES = {  # question -> the scripted reply
    "Who signed the treaty?": "unanswerable",
    "When did the duchy end?": "The question cannot be answered from the passage.",
    "What did Rollo eat?": "No answer",
    "Where was the king born?": 'The answer is: "N/A"',
    "Who gave their name to Normandy?": "The Normans",
    "What was the status field?": "N/A",  # the passage writes it: a span, not "no answer"
    "What was thought of the riddle?": "long thought unanswerable",  # a span holding the word
    "Who ruled after Rollo?": "No answer was given by the chronicle",  # not a bare "no answer", not in the text
}


def test_a_reply_saying_there_is_no_answer_is_the_unanswerable_gold(tmp_path):
    """A model asked an extractive question whose passage has no answer says so in words ('unanswerable', 'The
    question cannot be answered from the passage.', 'No answer', 'N/A'): such a whole reply was dropped as `answer
    not copied from the context`; where `[]` is gold (`unanswerable: true`) it is that gold. A reply the passage
    holds stays a span, and a sentence that only contains such words is still no answer the passage holds."""
    normans = "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy."
    riddle = "The status field read N/A. The riddle was long thought unanswerable."
    rows = [{"context": riddle if "field" in q or "riddle" in q else normans, "question": q, "answers": None}
            for q in NO_ANSWER_REPLIES]
    (tmp_path / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    entry = {"source": "qa", "task": "mrc_extractive", "preferences": ["unanswerable"],
             "fields": {"context": "context", "question": "question", "answers": "answers"}}
    with LLMServer(responder=lambda body: next(r for q, r in NO_ANSWER_REPLIES.items()
                                               if q in body["messages"][0]["content"])) as srv:
        result = build_in(recipe(tmp_path, srv.base_url, {"qa": "qa.jsonl"}, entry), tmp_path)
    assert result.exit_code == 0, result.output
    kept = sorted(map(json.dumps, golds(tmp_path)))
    assert kept == sorted(["[]"] * 4 + ['[{"answer": "The Normans"}]', '[{"answer": "N/A"}]',
                                        '[{"answer": "long thought unanswerable"}]'])
    assert "dropped answer not copied from the context: 1" in flat(result.output)


def test_says_no_answer_reads_only_a_whole_reply():
    from humc.build.llmsteps import says_no_answer
    for text in ("Unanswerable.", "N/A", "n/a", "None.", "There is no answer.", "The answer is: \"unanswerable\"",
                 "This question cannot be answered based on the given passage.", "无法回答。",
                 "The passage does not contain the answer."):
        assert says_no_answer(text), text
    for text in ("Nana", "No answer was given", "The unanswerable riddle", "Not applicable law", "Nobody", ""):
        assert not says_no_answer(text), text


# ------------------------------------------------------------------ CoNLL04: a span kept as the model wrote it

CONLL04 = REPO / "tests" / "data" / "conll04" / "conll04_dev.head80.json"  # research use, see its SOURCE.md
WALTERS = [  # SmolLM2's two replies (json_object + schema) for dev sentence 24, "On Friday , U.S. Ambassador …"
    '{"answers":[{ "head":"Work_For", "relation":"Work_For","tail":"On Friday, U.S. Ambassador Vernon A. Walters '
    'displayed photographs of one Libyan jet showing shapes resembling missile pods on its wings and fuselage,"}, '
    '{"head":"Vernon A. Walters Displayed photographs of one Libyan jet showing shapes resembling missile pods on its '
    'wings and fuselage" ,"relation":"Work_For","tail":"On Friday, U.S. Amb',
    '{"answers":[{ "head":"Vernon A. Walters Displayed photographs of one Libyan jet showing shapes resembling missile '
    'pods on its wings and fuselage" ,"relation":"Work_For","tail":"On Friday, U.S. Ambassador Vernon A. Walters '
    'displayed photographs of one Libyan jet showing shapes resembling missile pods on its wings and fuselage"}]}',
]


def test_a_generated_span_is_kept_as_its_text_writes_it(tmp_path):
    """A span passes its check case and whitespace aside, and was kept as SmolLM2 wrote it: the dataset's gold head
    read 'Vernon A. Walters Displayed photographs …' (the text: 'displayed') and the tail 'On Friday, U.S.
    Ambassador …' (the text: 'On Friday , U.S. …'). They are now the text's own characters."""
    source = {"conll04": {"catalog": "conll04", "path": str(CONLL04)}}
    entry = {"source": "conll04", "where": "'Vernon A. Walters' in text"}

    def reply(body: dict) -> str:
        return WALTERS[min(len(body["messages"]) // 2, 1)]

    with LLMServer(responder=reply, structured="json_object+schema") as srv:
        result = build_in(recipe(tmp_path, srv.base_url, source, entry, overwrite=True), tmp_path)
        sent = len([r for r in srv.received if "Walters" in r.json["messages"][0]["content"]])
    assert result.exit_code == 0, result.output
    assert sent == 2
    [gold] = golds(tmp_path)
    assert gold == [{"head": "Vernon A. Walters displayed photographs of one Libyan jet showing shapes resembling "
                             "missile pods on its wings and fuselage", "relation": "Work_For",
                     "tail": "On Friday , U.S. Ambassador Vernon A. Walters displayed photographs of one Libyan jet "
                             "showing shapes resembling missile pods on its wings and fuselage"}]


ONE_OBJECT = {  # a phrase of the sentence -> the scripted reply: one relation as a bare object, not a list of them
    "who assassinated President Lincoln": '{"head": "John Wilkes Booth", "relation": "Kill", "tail": "President Lincoln"}',
    "Wang Ziqiang": '{"answers": {"head": "Wang Ziqiang", "relation": "Work_For", "tail": "Institute of Mechanics"}}',
    "Sun Hung Kai": '{"head": "Sun Hung Kai Properties", "relation": "OrgBased_In", "tail": "Hong Kong", "score": 0.9}',
    "Ten oil workers": '{"head": "Morgan City", "relation": "Located_In"}',
}


def test_one_relation_object_is_a_list_of_one_and_another_object_is_refused(tmp_path):
    """A relation-extraction reply that is one object of an answer row's keys, bare or under `answers`, is the list of
    that one row (it was refused as 'expected a list of answers, found dict' and the record dropped); an object with
    a key more or less is no row and stays refused."""
    source = {"conll04": {"catalog": "conll04", "path": str(CONLL04)}}
    entry = {"source": "conll04", "where": " or ".join(f"{phrase!r} in text" for phrase in ONE_OBJECT)}

    def reply(body: dict) -> str:
        return next(r for phrase, r in ONE_OBJECT.items() if phrase in body["messages"][0]["content"])

    with LLMServer(responder=reply, structured="json_object+schema") as srv:
        result = build_in(recipe(tmp_path, srv.base_url, source, entry, overwrite=True), tmp_path)
    assert result.exit_code == 0, result.output
    assert sorted(golds(tmp_path), key=json.dumps) == [
        [{"head": "John Wilkes Booth", "relation": "Kill", "tail": "President Lincoln"}],
        [{"head": "Wang Ziqiang", "relation": "Work_For", "tail": "Institute of Mechanics"}]]
    assert "gen/generate: 2/4 valid answer(s)" in flat(result.output)


def test_unwrap_answers_takes_only_a_row_shaped_object():
    from humc.build.llmsteps import unwrap_answers
    from humc.recipe.stdlib import load_task
    re_task = load_task(REPO / "stdlib" / "tasks" / "re.yaml")
    row = {"tail": "b", "head": "a", "relation": "r"}
    assert unwrap_answers(row, re_task) == [row]
    assert unwrap_answers({"answers": row}, re_task) == [row]
    assert unwrap_answers({"answers": [row]}, re_task) == [row]
    for other in ({**row, "x": 1}, {"head": "a", "tail": "b"}, {"answers": {"head": "a"}}, "a", None):
        assert unwrap_answers(other, re_task) == other
    assert unwrap_answers(row) == row  # no task: no reading of an object as a list
    mrc = load_task(REPO / "stdlib" / "tasks" / "mrc_extractive.yaml")  # cardinality one: an object is its answer
    assert unwrap_answers({"answer": "x"}, mrc) == {"answer": "x"}


# ------------------------------------------------------------------ a free-text answer after "The answer is:"

AG_NEWS = REPO / "recipes" / "data" / "ag_news" / "train.4x10.csv"  # non-commercial research use, see its SOURCE.md
AG_REPLIES = {  # SmolLM2's free-text replies (structured output off), by a phrase of the record's text
    "Tearaway world oil prices": "The answer is:\nWorld.",
    "hunger strike": 'The task is to assign the label "World" to the given text.',
}


def build_free_text(tmp_path, replies: dict[str, str], source: dict, entry: dict):
    """A build whose model (structured output off, as SmolLM2 was asked) answers each prompt with the reply under the
    first key the prompt holds; (the CLI result, requests the server received)."""
    def reply(body: dict) -> str:
        return next(r for key, r in replies.items() if key in body["messages"][0]["content"])

    with LLMServer(responder=reply, structured="none") as srv:
        path = recipe(tmp_path, srv.base_url, source, entry, overwrite=True)
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        doc["models"]["writer"]["structured_output"] = "off"
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return build_in(path, tmp_path), len(srv.received)


def test_a_free_text_label_after_the_answer_is_is_read_as_that_label(tmp_path):
    """SmolLM2 answered an AG News record 'The answer is:\\nWorld.': dropped as `answer is not one of the labels`.
    The lead-in is no part of the answer; a sentence that names a label among others is still no label."""
    source = {"ag": {"catalog": "ag_news", "path": str(AG_NEWS)}}
    entry = {"source": "ag", "where": "'Tearaway world oil prices' in text or 'hunger strike' in text"}

    result, _ = build_free_text(tmp_path, AG_REPLIES, source, entry)
    assert result.exit_code == 0, result.output
    assert golds(tmp_path) == [[{"label": "World"}]]
    summary = flat(result.output)
    assert "gen/generate: 1/2 valid answer(s)" in summary, summary
    assert "dropped answer is not one of the labels (World, Sports, Business, Sci/Tech): 1" in summary


def test_an_extractive_answer_after_the_answer_is_is_read_as_its_span(tmp_path):
    """SmolLM2 answered SQuAD questions (`overwrite: true`) 'The answer is "the river Epte"' (gold: Epte) and 'The
    answer is "10th century"' (gold: 911): dropped as `answer not copied from the context`, though the quoted span is
    the context's. A sentence after the lead-in that is not in the context is still dropped."""
    source = {"squad": {"catalog": "squad_v2", "path": str(squad_head(tmp_path, 4))}}
    replies = {"What river originally bounded the Duchy": 'The answer is "the river Epte"',
               "When was the Duchy of Normandy founded?": 'The answer is "10th century"',
               "Who did Rollo sign the treaty of Saint-Clair-sur-Epte with?":
                   "The answer is: Rollo signed the treaty of Saint-Clair-sur-Epte with King Charles III of West Francia."}
    entry = {"source": "squad", "where": " or ".join(f"{q!r} in question" for q in replies)}
    with LLMServer(responder=lambda body: next(r for q, r in replies.items()
                                               if q in body["messages"][0]["content"])) as srv:
        result = build_in(recipe(tmp_path, srv.base_url, source, entry, overwrite=True), tmp_path)
    assert result.exit_code == 0, result.output
    assert sorted(map(json.dumps, golds(tmp_path))) == ['[{"answer": "10th century"}]',
                                                       '[{"answer": "the river Epte"}]']
    assert "dropped answer not copied from the context: 1" in flat(result.output)


# ------------------------------------------------------------------ ARC: an option's text for its label

ARC = REPO / "recipes" / "data" / "arc" / "ARC-Easy.validation.head40.json"  # CC BY-SA 4.0, see its SOURCE.md
ARC_REPLIES = {  # SmolLM2's free-text replies (structured output off), by the start of the question
    "Soccer players use their muscle": "The circulatory system",          # options: …, The circulatory system (D)
    "A green plant absorbs light": "The answer is 'produce offspring'",   # options labelled 1-4: produce offspring (3)
    "How is a pond different": "The answer is 'B'",
    "Organisms contain DNA": "The molecular shape of DNA is a unique structure that distinguishes it from the other "
                             "nucleic acids.",
}


def test_a_free_text_multiple_choice_answer_that_is_an_options_text_is_that_options_label(tmp_path):
    """Asked ARC questions as free text, SmolLM2 wrote an option's text ('The circulatory system', 'The answer is
    'produce offspring'') rather than its label: 9 of 10 were dropped as `answer is not one of the option labels`.
    The one option the answer names is the answer; a sentence about an option is still dropped."""
    source = {"arc": {"catalog": "arc", "path": str(ARC)}}
    entry = {"source": "arc", "where": " or ".join(f"startswith(question, {q!r})" for q in ARC_REPLIES)}

    result, sent = build_free_text(tmp_path, ARC_REPLIES, source, entry)
    assert result.exit_code == 0, result.output
    assert sent == 4
    assert sorted(json.dumps(g) for g in golds(tmp_path)) == ['[{"answer": "3"}]', '[{"answer": "B"}]',
                                                             '[{"answer": "D"}]']
    assert "dropped answer is not one of the option labels: 1" in flat(result.output)


def test_a_squad_split_written_without_answers_is_answered_by_an_overwriting_generate_step(tmp_path):
    """A SQuAD file whose questions carry no `answers` (a test split) failed `humc build` with E4102 "has no gold
    answers … cannot teach one" though the recipe's `generate` step is there to answer them. With `overwrite: true`
    (the step writes every answer) such a question's answer is null, which the step fills; without it, the E4102
    stays (a misspelt gold field must not be filled by the model) and its hint names `overwrite: true`. Paragraph 4
    of the Normans, two questions, their answers taken out; SmolLM2's replies to them."""
    data = json.loads(squad_head(tmp_path, 4).read_text(encoding="utf-8"))
    paragraph = data["data"][0]["paragraphs"][3]
    data["data"][0]["paragraphs"] = [paragraph]
    replies = {"When was the Duchy of Normandy founded?": 'The answer is "10th century"',
               "What river originally bounded the Duchy": 'The answer is "the river Epte"'}
    paragraph["qas"] = [qa for qa in paragraph["qas"] if qa["question"] in replies]
    for qa in paragraph["qas"]:
        del qa["answers"], qa["is_impossible"]
    (tmp_path / "squad.json").write_text(json.dumps(data), encoding="utf-8")
    source = {"squad": {"catalog": "squad_v2", "path": str(tmp_path / "squad.json")}}
    with LLMServer(responder=lambda body: next(r for q, r in replies.items()
                                               if q in body["messages"][0]["content"])) as srv:
        refused = build_in(recipe(tmp_path, srv.base_url, source, {"source": "squad"}), tmp_path)
        assert refused.exit_code == 2 and "error[E4102]" in refused.output and not srv.received
        assert "set `overwrite: true` on it" in flat(refused.output)
        result = build_in(recipe(tmp_path, srv.base_url, source, {"source": "squad"}, overwrite=True), tmp_path)
        sent = len(srv.received)
    assert result.exit_code == 0, result.output
    assert sent == 2
    assert sorted(map(json.dumps, golds(tmp_path))) == ['[{"answer": "10th century"}]',
                                                        '[{"answer": "the river Epte"}]']


# ------------------------------------------------------------------ judge: a list of verdicts is no verdict

LISTED = ('Sorted by order of correctness and format, the response is:\n'
          '[{"reason": "1", "score": 5}, {"reason": "2", "score": 4}]')


def test_a_judge_reply_listing_several_verdicts_is_not_read_as_its_first(tmp_path):
    """SmolLM2 (structured output off) judged the CoNLL04 record of dev sentence 24 with two made-up verdicts in a
    list: the first, `{"reason": "1", "score": 5}`, was read as the verdict and the record kept with score 5. A JSON
    value inside another one the reply holds is a part of it, not a reading of the reply: asked again, then
    dropped."""
    source = {"conll04": {"catalog": "conll04", "path": str(CONLL04)}}
    doc = yaml.safe_load(recipe(tmp_path, "http://127.0.0.1:9/v1", source, {}).read_text(encoding="utf-8"))
    with LLMServer(responder=lambda body: LISTED, structured="none") as srv:
        doc["models"]["writer"].update(base_url=srv.base_url, structured_output="off")
        doc["tasks"] = [{"id": "gen", "source": "conll04", "where": "'Vernon A. Walters' in text",
                         "judge": {"model": "writer", "min_score": 3}, "formats": ["json"]},
                        {"id": "other", "source": "conll04", "where": "'Sun Hung Kai' in text", "formats": ["json"]}]
        path = tmp_path / "rm5.hum.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        result = build_in(path, tmp_path)
        sent = len(srv.received)
    assert result.exit_code == 0, result.output
    assert sent == 3
    assert len(golds(tmp_path)) == 1  # the other entry's record only
    assert "gen/judge: 0/1 valid answer(s)" in flat(result.output)
    assert "dropped judge invalid output (wrong shape): 1" in flat(result.output)


# ------------------------------------------------------------------ synth: a sentence moved into another's place

PARAPHRASES = {  # SmolLM2's replies (json_object + schema) to `humc synth` paraphrase requests, by a sentence asked
    "类型定义：": {"1": "文本：", "2": "找出上文中属于", "3": "的所有实体，并给出实体类型。", "4": "标注规范：",
               "5": "编码: 1028"},                                        # ner/zh_2: 4 "类型定义：", 5 "标注规范："
    "Read the sentence and report": {"1": "Relation schema:", "2": "Definitions:", "3": "Sentence: 1",
                                     "4": "Rules:", "5": "Sentence:"},    # re/en_3: 3 "Read the sentence …"
}


def test_a_paraphrase_sentence_that_copies_another_sentence_of_the_template_is_not_proposed(tmp_path):
    """SmolLM2 reworded re/en_3's only instruction, "Read the sentence and report the relation triples it states.",
    as "Sentence: 1" (its sentence 5 is "Sentence:") and ner/zh_2's heading "类型定义：" as "标注规范：" (its sentence
    5, itself reworded "编码: 1028"): both were proposed as valid paraphrases — a template that asks for nothing, one
    whose label definitions stand under the heading of the guidelines."""
    from humc.assets.synth import synthesize
    from humc.build.compiler import load_recipe

    def smollm2(body: dict) -> str:
        prompt = next(m["content"] for m in body["messages"] if m["role"] == "user")
        return json.dumps({"paraphrases": [next(v for k, v in PARAPHRASES.items() if k in prompt)]},
                          ensure_ascii=False)

    msra = REPO / "tests" / "data" / "msra_ner" / "test.head150.txt"  # research use, see its SOURCE.md
    sources = {"conll04": {"catalog": "conll04", "path": str(CONLL04)},
               "msra": {"catalog": "msra_ner", "path": str(msra)}}
    with LLMServer(responder=smollm2, structured="json_object+schema") as srv:
        doc = yaml.safe_load(recipe(tmp_path, srv.base_url, sources, {}).read_text(encoding="utf-8"))
        synth = {"model": "writer", "paraphrases": 1}
        doc["tasks"] = [{"id": "re", "source": "conll04", "templates": ["en_3"], "synth": synth, "formats": ["json"]},
                        {"id": "ner", "source": "msra", "language": "zh", "templates": ["zh_2"], "synth": synth,
                         "formats": ["json"]}]
        path = tmp_path / "rm5.hum.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
        report = synthesize(load_recipe(path), cache_dir=tmp_path / "cache")
    assert report.proposed == 0
    reasons = " ".join(reason for _, reason in report.invalid)
    assert "sentence 3 copies sentence 5 of the original instead of rewording its own" in reasons
    assert "sentence 4 copies sentence 5 of the original instead of rewording its own" in reasons


# ------------------------------------------------------------------ span_at: whole words, whole characters


def test_a_span_is_found_as_whole_words_of_any_spaced_script_and_whole_characters():
    from humc.build.llmsteps import span_at, verbatim

    assert span_at("the Normans", "No") is None and span_at("Noël arrived", "No") is None  # accented letters are letters
    assert span_at("the café opened", "caf") is None and span_at("the café opened", "CAFÉ") == (4, 8)
    assert span_at("Straße Nord", "stras", whole_words=False) is None  # half of 'ß' ('ss') is no character
    assert verbatim("Straße Nord", "STRASSE nord") == "Straße Nord"
    assert span_at("诺曼人来了", "诺曼") == (0, 2)  # Chinese has no spaces, so no word edges to keep


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="aAbß é.İ诺\n", max_size=12), st.text(alphabet="aAbß é.İ诺", min_size=1, max_size=4),
       st.booleans())
def test_a_found_span_is_the_span_case_and_whitespace_aside(text: str, span: str, whole_words: bool):
    from humc.build.llmsteps import span_at
    from humc.build.transforms import squeezed

    found = span_at(text, span, whole_words=whole_words)
    if found is not None:
        assert squeezed(text[found[0]:found[1]]) == squeezed(span)
