"""What SmolLM2-135M-Instruct (llama-cpp-python 0.3.36, ../shared/realmodel/serve-smollm2) did to `generate` on every
task family, replayed on the loopback test server (tests/llmserver.py) so it runs without the real model. Each test
names the real replies it reproduces."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import yaml
from helpers import REPO, build_in

sys.path.insert(0, str(REPO))
from tests.llmserver import LLMServer  # noqa: E402

QUESTIONS = {  # ARC-Easy validation rows 1, 2 and 24 of recipes/data/arc, as SmolLM2 answered them as free text
    "Which tool measures mass?": ("[C]False", ["a ruler", "a thermometer", "a balance", "a clock"]),
    "Which system moves blood?": ("[The circulatory system, not the answer mentioned previously.]",
                                  ["nervous", "circulatory", "digestive"]),
    "Which tool magnifies cells?": ("C", ["a scale", "a telescope", "a microscope"]),
}


def write_recipe(tmp: Path, base_url: str, rows: list[dict], entry: dict, mode: str) -> Path:
    (tmp / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    writer = {"base_url": base_url, "model": "test-model", "structured_output": mode, "max_retries": 1}
    recipe = {"hum": 1, "name": "rm3", "sources": {"data": "data.jsonl"}, "output": {"splits": {"train": 1.0}},
              "models": {"writer": writer},
              "tasks": [{"id": "gen", "source": "data", "generate": {"model": "writer", "overwrite": True},
                         "formats": ["text"], **entry}]}
    path = tmp / "rm3.hum.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    return path


def outputs(tmp: Path) -> list[str]:
    return sorted(r["output"] for r in pq.read_table(tmp / "out" / "rm3" / "data").to_pylist())


def _arc(tmp: Path, base_url: str, mode: str) -> Path:
    rows = [{"context": "", "question": q, "options": opts, "answer": "A"} for q, (_, opts) in QUESTIONS.items()]
    fields = {name: name for name in ("context", "question", "options", "answer")}
    entry = {"task": "mrc_multiple_choice", "fields": fields}
    return write_recipe(tmp, base_url, rows, entry, mode)


def test_a_free_text_multiple_choice_answer_that_is_no_option_label_is_dropped_at_generate(tmp_path):
    """SmolLM2 answered ARC questions (structured output off) with '[C]False' and '[The circulatory system, not the
    answer mentioned previously.]': every record passed `generate` and the render stage failed the build with E4104,
    blaming the source file (`answer_not_an_option at data/arc/… record 1`). They are dropped at the step now."""
    def arc(body: dict) -> str:
        return next(reply for q, (reply, _) in QUESTIONS.items() if q in body["messages"][0]["content"])

    with LLMServer(responder=arc, structured="none") as srv:
        result = build_in(_arc(tmp_path, srv.base_url, "off"), tmp_path)
    assert result.exit_code == 0, result.output
    assert outputs(tmp_path) == ["C"]
    summary = " ".join(result.output.split())
    assert "gen/generate: 1/3 valid answer(s)" in summary
    assert "dropped answer is not one of the option labels: 2" in summary
    assert "answer_not_an_option" not in summary


def test_a_multiple_choice_answer_is_chosen_from_the_records_option_labels_by_constrained_decoding(tmp_path):
    """With a schema form each record asks for {"answer": one of ITS option labels} (a question with three options:
    A, B, C), so a constrained decoder cannot write '[C]False'; an answer outside them is asked again, then dropped."""
    def constrained(body: dict) -> str:
        prompt = body["messages"][0]["content"]
        return json.dumps({"answer": "D" if "blood" in prompt else "C"})  # D: a label of another record only

    with LLMServer(responder=constrained, structured="json_object+schema") as srv:
        result = build_in(_arc(tmp_path, srv.base_url, "json_object"), tmp_path)
        asked = {q: r.json["response_format"]["schema"] for r in srv.received for q in QUESTIONS
                 if q in r.json["messages"][0]["content"]}
    assert result.exit_code == 0, result.output
    assert outputs(tmp_path) == ["C", "C"]
    assert asked["Which tool measures mass?"]["properties"] == {"answer": {"type": "string",
                                                                           "enum": ["A", "B", "C", "D"]}}
    assert asked["Which system moves blood?"]["properties"]["answer"]["enum"] == ["A", "B", "C"]
    summary = " ".join(result.output.split())
    assert "gen/generate: 2/3 valid answer(s)" in summary and "dropped invalid output (option outside the options): 1" in summary


def test_a_free_text_extractive_answer_not_copied_from_the_context_is_dropped_at_generate(tmp_path):
    """SmolLM2 answered SQuAD questions with 'No.' and 'The British Isles: England, Scotland, Wales, and Ireland.':
    the render stage failed the build with E4104 (`span_not_in_text at data/squad_v2/… record 5`) and a hint to fix
    the recipe's `fields:`. They are dropped at the step, and an answer copied from the context is kept."""
    context = "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, in France."
    replies = {"Where is Normandy?": "France", "Did the Normans rule?": "No.",
               "Where did the Normans live?": "The British Isles: England, Scotland, Wales, and Ireland."}
    rows = [{"context": context, "question": q, "answers": None} for q in replies]  # null: to be generated
    entry = {"task": "mrc_extractive", "fields": {"context": "context", "question": "question", "answers": "answers"}}
    with LLMServer(responder=lambda body: next(a for q, a in replies.items()
                                               if q in body["messages"][0]["content"])) as srv:
        result = build_in(write_recipe(tmp_path, srv.base_url, rows, entry, "auto"), tmp_path)
    assert result.exit_code == 0, result.output
    assert outputs(tmp_path) == ["France"]
    summary = " ".join(result.output.split())
    assert "dropped answer not copied from the context: 2" in summary
    assert "span_not_in_text" not in summary


def test_a_generated_event_type_is_one_the_entrys_guidelines_define_when_it_has_no_labels(tmp_path):
    """DuEE (catalog duee, no `labels:`: its 65 event types are the ones its guideline `duee_events` defines): SmolLM2
    was told no event type and answered {"event_type": "1", "trigger": "the-event", "role": "the-user", …} and
    {"event_type": "事件1", …}; 6 of 6 answers were kept, and "1" became an event type of the dataset's schema. The
    guideline's types are now the step's labels: named in the prompt, an enum in the schema, checked. With the types
    named it wrote triggers ('加息') and arguments ('跌停') its text does not hold: ee's `copied_from` checks them."""
    text = "5月8日，一列火车在陕西发生事故，造成3人死亡。"
    rows = [{"text": text, "event_list": []}]
    entry = {"task": "ee", "language": "zh", "guidelines": ["duee_events"], "formats": ["json"],
             "fields": {"text": "text", "events": "duee_events(event_list)"}}

    def duee(body: dict) -> str:
        attempt = len(body["messages"]) // 2  # 0, then 1 and 2 when asked again with the reason
        row = {"event_type": "灾害/意外-坍/垮塌" if attempt else "1", "trigger": "加息" if attempt == 1 else "事故",
               "role": "时间", "argument": "5月8日"}
        return json.dumps({"answers": [row]}, ensure_ascii=False)

    with LLMServer(responder=duee, structured="json_object+schema") as srv:
        result = build_in(write_recipe(tmp_path, srv.base_url, rows, entry, "auto"), tmp_path)
        asked = [r.json for r in srv.received if text in str(r.json.get("messages"))]
    assert result.exit_code == 0, result.output
    gold = [json.loads(r["gold"]) for r in pq.read_table(tmp_path / "out" / "rm3" / "data").to_pylist()]
    assert gold == [[{"event_type": "灾害/意外-坍/垮塌", "trigger": "事故", "role": "时间", "argument": "5月8日"}]]
    prompt = asked[0]["messages"][0]["content"]
    assert "Use only these labels for event_type: 财经/交易-出售/收购, 财经/交易-跌停" in prompt
    enum = asked[0]["response_format"]["schema"]["properties"]["answers"]["items"]["properties"]["event_type"]["enum"]
    assert len(enum) == 65 and "灾害/意外-坍/垮塌" in enum
    assert "event_type '1' is not one of the labels" in asked[1]["messages"][-1]["content"]
    assert "trigger '加息' does not occur in the text" in asked[2]["messages"][-1]["content"]


def test_empty_generated_answers_and_records_dropped_at_generate_are_stated_in_the_summary_and_the_card(tmp_path):
    """SmolLM2 answered 8 of 9 CoNLL sentences (structured output json_object+schema) with {"answers": []} and one
    with a span not in its text: the build said "9/10 valid answer(s)" and nothing of the empty ones, and the card's
    "Dropped records" said "None: every source row became records…". Both now say what the model wrote."""
    replies = {"Ada Lovelace met Charles Babbage .": {"answers": [{"type": "PER", "span": "Ada Lovelace"}]},
               "Marie Curie lived in Paris .": {"answers": []}, "Grace Hopper wrote code .": {"answers": []},
               "Bristol beat Gloucestershire .": {"answers": [{"type": "PER", "span": "183"}]}}
    rows = [{"text": t, "entities": []} for t in replies]
    entry = {"task": "ner", "labels": ["PER", "LOC"], "fields": {"text": "text", "entities": "entities"},
             "formats": ["json"]}
    with LLMServer(responder=lambda body: json.dumps(next(a for t, a in replies.items()
                                                          if t in body["messages"][0]["content"]))) as srv:
        result = build_in(write_recipe(tmp_path, srv.base_url, rows, entry, "auto"), tmp_path)
    assert result.exit_code == 0, result.output
    summary = " ".join(result.output.split())
    assert "gen/generate: 3/4 valid answer(s) (75.0%)" in summary
    assert "2 of 3 generated answer(s) empty ([]); dropped invalid output (span not in the text): 1" in summary
    card = (tmp_path / "out" / "rm3" / "README.md").read_text()
    assert "| 3/4 (75.0%) | 3: every record (`overwrite: true`), 2 of them empty ([]) |" in card
    assert "None at the checks: every record that reached them matches its instruction. The build-time LLM steps " \
           "dropped 1 record(s) (see LLMs used)." in card
    assert "every source row became records" not in card


def test_a_verdict_with_a_raw_line_break_in_its_reason_is_read_the_first_time(tmp_path):
    """SmolLM2 judging AG News under llama.cpp (json_object + schema) wrote '{ "reason": "Slightly inaccurate format, a
    small error in the JSON file <a real line break>[{","score":2} ' on all 3 calls: strict JSON refuses a control
    character in a string, so a readable verdict was dropped as "invalid output" after 3 calls."""
    verdict = '{ "reason": "Slightly inaccurate format, a small error in the JSON file \n[{","score":4} '
    rows = [{"text": "Lakers win the final", "label": "Sports"}]
    entry = {"task": "classification", "labels": ["Sports", "Business"], "fields": {"text": "text", "label": "label"},
             "judge": {"model": "writer", "min_score": 3}}
    with LLMServer(responder=lambda body: verdict, structured="json_object+schema") as srv:
        recipe = write_recipe(tmp_path, srv.base_url, rows, entry, "auto")
        recipe.write_text(recipe.read_text().replace("  generate:\n    model: writer\n    overwrite: true\n", ""))
        result = build_in(recipe, tmp_path)
        calls = [r for r in srv.received if "Lakers" in str(r.json.get("messages"))]
    assert result.exit_code == 0, result.output
    assert outputs(tmp_path) == ["Sports"]
    assert len(calls) == 1
    assert "gen/judge: 1/1 valid answer(s)" in " ".join(result.output.split())


def test_a_rule_whose_sentence_copies_the_requests_placeholder_is_not_proposed(tmp_path):
    """`humc synth` of an AG News entry (json_object + schema): SmolLM2 proposed the rule {"text": "<sentence>",
    "when": "len(answer) == 0", "then": [dedupe, first]} and it was written to the lockfile as valid; accepted, every
    instruction stating it would read "<sentence>". The request's placeholders make a rule invalid."""
    from humc.assets.synth import synthesize
    from humc.build.compiler import load_recipe
    from humc.recipe.lockfile import load_lock

    rules = {"rules": [{"text": "<sentence>", "then": [{"op": "dedupe"}, {"op": "first"}], "when": "len(answer) == 0"},
                       {"text": "Give one label.", "then": [{"op": "first"}], "when": ""}]}
    rows = [{"text": "Lakers win the final", "label": "Sports"}]
    entry = {"task": "classification", "labels": ["Sports", "Business"], "fields": {"text": "text", "label": "label"},
             "synth": {"model": "writer", "rules": 2}}
    with LLMServer(responder=lambda body: json.dumps(rules), structured="json_object+schema") as srv:
        recipe = write_recipe(tmp_path, srv.base_url, rows, entry, "auto")
        report = synthesize(load_recipe(recipe), cache_dir=tmp_path / "cache")
    assert [item.text for item in load_lock(report.lock_path).items] == ["Give one label."]
    assert any("copies a placeholder of the request" in reason for _, reason in report.invalid)
