"""What a real model does that a scripted server hides, reproduced on the loopback test server so it runs in CI:
answers cut off by ``max_tokens`` (JSON unfinished), JSON in a fence or after chatter, empty replies, labels the
task does not have, a server slower than ``timeout``, a server killed in the middle of a build, and ``humc eval``
of such a model's answers. Each was first seen against SmolLM2-135M-Instruct (tests/test_realmodel.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers import REPO, build_in, run_cli

sys.path.insert(0, str(REPO))
from tests.llmserver import LLMServer  # noqa: E402

ROWS = [{"instruction": f"Name a fruit that is {c}.", "context": "", "response": f"A {c} fruit."}
        for c in ("red", "yellow", "green", "orange")]
REVIEWER = "You are a strict reviewer"


def write_recipe(tmp: Path, base_url: str, *, judge_tokens: int = 64, timeout: float = 30, retries: int = 2) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "gen.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    recipe = tmp / "llm.hum.yaml"
    recipe.write_text(f"""hum: 1
name: real-behaviour
models:
  judge:
    base_url: {base_url}
    model: test-model
    params: {{temperature: 0.0, max_tokens: {judge_tokens}}}
    timeout: {timeout}
    max_retries: {retries}
sources:
  gen: gen.jsonl
tasks:
  - id: dolly
    task: generalist
    source: gen
    fields: {{instruction: instruction, context: context, response: response}}
    judge: {{model: judge, min_score: 4}}
    formats: [text]
output:
  splits: {{train: 1.0}}
""", encoding="utf-8")
    return recipe


build = build_in  # humc build with tmp/out and tmp/cache


def answering(answers: dict[str, str]):
    """A responder that answers a prompt with the answer of the first key it contains."""
    def reply(body: dict) -> str:
        prompt = body["messages"][0]["content"]
        return next(a for key, a in answers.items() if key in prompt)
    return reply


def kept(tmp: Path) -> list[str]:
    return sorted(r["output"] for r in pq.read_table(tmp / "out" / "real-behaviour" / "data").to_pylist())


def test_a_verdict_cut_off_by_max_tokens_asks_for_a_shorter_one_and_is_counted_as_truncated(tmp_path):
    """SmolLM2 copied the record into the verdict's reason until max_tokens cut the JSON before its score: the retry
    says the reply was cut off (not "invalid"), and a verdict that stays cut off is dropped as truncated."""
    def rambling(body: dict) -> str:
        if "red" in body["messages"][0]["content"]:  # short enough
            return json.dumps({"reason": "Correct.", "score": 5})
        return json.dumps({"reason": "The response says " + "a fruit that is a fruit " * 40, "score": 5})

    with LLMServer(responder=rambling, cut_at_max_tokens=True) as srv:
        result = build(write_recipe(tmp_path, srv.base_url), tmp_path)
        retries = [r.json["messages"] for r in srv.received if len(r.json["messages"]) > 1]
    assert result.exit_code == 0, result.output
    assert kept(tmp_path) == ["A red fruit."]
    summary = " ".join(result.output.split())
    assert "dropped judge truncated answer (max_tokens reached): 3" in summary
    assert retries and all("cut off at the token limit" in m[-1]["content"] for m in retries)
    assert all("shorter" in m[-1]["content"] for m in retries)


def test_a_verdict_in_a_fence_or_among_chatter_is_read_the_first_time(tmp_path):
    """Models without structured outputs say "Here is my verdict:" and fence the JSON, or put a remark after it, or
    cite "[1]" before it: the JSON is read from the reply (and still checked), not asked for again."""
    def chatty(body: dict) -> str:
        prompt = body["messages"][0]["content"]
        if "red" in prompt:
            return 'Sure! Here is my verdict:\n```json\n{"reason": "Correct.", "score": 5}\n```\nHope this helps.'
        if "yellow" in prompt:
            return 'As [1] says, bananas are yellow. {"reason": "Correct.", "score": 4} I am confident.'
        if "green" in prompt:
            return '{"reason": "Correct.", "score": 5}\n\nLet me know if you need anything else!'
        return "I would rate this response highly."                 # no JSON at all: asked again, then dropped

    with LLMServer(responder=chatty, structured="none") as srv:
        recipe = write_recipe(tmp_path, srv.base_url)
        recipe.write_text(recipe.read_text().replace("    timeout:", "    structured_output: off\n    timeout:"))
        result = build(recipe, tmp_path)
        sent = srv.request_count
    assert result.exit_code == 0, result.output
    assert kept(tmp_path) == ["A green fruit.", "A red fruit.", "A yellow fruit."]
    assert sent == 3 + 3                                             # one call each; the orange one three
    assert "dropped judge invalid output (not JSON): 1" in " ".join(result.output.split())


NER_SENTENCES = ["Ada Lovelace met Charles Babbage .", "Marie Curie lived in Paris .", "Grace Hopper wrote code ."]


def write_ner_recipe(tmp: Path, base_url: str) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "ner.jsonl").write_text("".join(json.dumps({"text": s, "entities": []}) + "\n" for s in NER_SENTENCES),
                                   encoding="utf-8")
    recipe = tmp / "ner.hum.yaml"
    recipe.write_text(f"""hum: 1
name: real-behaviour
models:
  writer: {{base_url: {base_url}, model: test-model, params: {{temperature: 0.0, max_tokens: 256}}, max_retries: 2}}
sources:
  ner: ner.jsonl
tasks:
  - id: ner
    task: ner
    source: ner
    fields: {{text: text, entities: entities}}
    labels: [PER, LOC]
    generate: {{model: writer, overwrite: true}}
    formats: [json]
output:
  splits: {{train: 1.0}}
""", encoding="utf-8")
    return recipe


def test_generated_labels_outside_the_entry_and_spans_not_in_the_text_are_asked_again_then_dropped_at_generate(
        tmp_path):
    """SmolLM2 answered NER with types "en", "N" and "text" and spans "1234567890" or "": the render stage dropped
    those records as `label_outside_set`, located at the source file's line, which holds nothing wrong. The labels
    are now in the prompt and the answer schema, and a wrong answer is told what is wrong, asked again, and dropped
    at the generate step."""
    def inventive(body: dict) -> str:
        prompt = body["messages"][0]["content"]
        if "Ada" in prompt:                                             # right after being told the labels
            right = len(body["messages"]) > 1
            return json.dumps({"answers": [{"type": "PER" if right else "PERSON", "span": "Ada Lovelace"}]})
        if "Marie" in prompt:
            return json.dumps({"answers": [{"type": "PER", "span": "1234567890"}]})
        return json.dumps({"answers": [{"type": "PER", "span": ""}]})

    with LLMServer(responder=inventive) as srv:
        result = build(write_ner_recipe(tmp_path, srv.base_url), tmp_path)
        asked = [r.json for r in srv.received if r.json.get("response_format") and "Ada" in str(r.json["messages"])]
    assert result.exit_code == 0, result.output
    gold = [json.loads(r["gold"]) for r in pq.read_table(tmp_path / "out" / "real-behaviour" / "data").to_pylist()]
    assert gold == [[{"type": "PER", "span": "Ada Lovelace"}]]
    assert "Use only these labels for type: PER, LOC." in asked[0]["messages"][0]["content"]
    row = asked[0]["response_format"]["json_schema"]["schema"]["properties"]["answers"]["items"]["properties"]
    assert row == {"type": {"type": "string", "enum": ["PER", "LOC"]}, "span": {"type": "string", "minLength": 1}}
    assert "type 'PERSON' is not one of the labels PER, LOC" in asked[1]["messages"][-1]["content"]
    summary = " ".join(result.output.split())
    assert "ner/generate: 1/3 valid answer(s)" in summary
    assert "invalid output (span not in the text): 1" in summary and "invalid output (empty span): 1" in summary
    assert "label_outside_set" not in summary and "span_not_in_text" not in summary


def test_a_server_killed_mid_build_stops_it_cleanly_and_the_restarted_server_gets_only_the_unanswered_calls(tmp_path):
    """SmolLM2's server killed (kill -9) while a build waited on it: the build ends with E4301 naming the model and
    its URL and what to do, exit 2, nothing written; once it is back on the same port, the next build sends only
    the calls that had no answer."""
    def verdict(body: dict) -> str:
        return json.dumps({"reason": "Correct.", "score": 5})

    with LLMServer(responder=verdict, down_after=3) as first:   # the probe and two verdicts, then it is killed
        recipe = write_recipe(tmp_path, first.base_url, retries=1)
        recipe.write_text(recipe.read_text().replace("    max_retries:", "    concurrency: 1\n    max_retries:"))
        port = first.port
        result = build(recipe, tmp_path)
        answered = [r.json["messages"][0]["content"] for r in first.received[1:3]]
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "error[E4301]: model 'judge' (test-model at http://127.0.0.1:" in message and "cannot connect" in message
    assert "is the server running, and listening at http://127.0.0.1:" in message
    assert "/v1? Completed calls are cached, so re-running resumes where this stopped" in message
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()
    with LLMServer(responder=verdict, port=port) as second:
        again = build(recipe, tmp_path)
        sent = [r.json["messages"][0]["content"] for r in second.received]
    assert again.exit_code == 0, again.output
    assert kept(tmp_path) == ["A green fruit.", "A orange fruit.", "A red fruit.", "A yellow fruit."]
    assert len(sent) == 2 and not set(sent) & set(answered)                 # the two verdicts not answered before
    assert "LLM this build: 2 request(s) sent, 2 cache hit(s)" in again.output


def test_a_server_slower_than_the_timeout_because_of_its_queue_is_told_so(tmp_path):
    """llama.cpp answers one request at a time: with `concurrency: 16` the later requests wait in its queue, and that
    wait counts against `timeout:` (SmolLM2 on two CPUs, `timeout: 2`: E4301 after 40 s). The error says so."""
    with LLMServer(latency=0.4, slots=1) as srv:
        recipe = write_recipe(tmp_path, srv.base_url, timeout=1, retries=1)
        recipe.write_text(recipe.read_text().replace("    max_retries:", "    concurrency: 4\n    max_retries:"))
        result = build(recipe, tmp_path)
    message = " ".join(result.output.split())
    assert result.exit_code == 2 and "error[E4301]" in message and "request timed out after 1s" in message
    assert "the wait in the server's queue counts too" in message and "`concurrency: 4`" in message
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()


def test_eval_scores_an_answer_cut_off_by_max_tokens_as_the_model_wrote_it(tmp_path):
    """SmolLM2 asked by `humc eval --max-tokens 48` ran past the limit on 9 of 12 MRC records: those were scored as
    if it had said nothing (missing, prediction null). A cut-off answer is what the model said within its budget,
    as an in-process model's is: it is scored as it is, kept in the report, and a note says to raise --max-tokens."""
    from helpers import copy_recipes

    recipes = copy_recipes(tmp_path)
    built = run_cli("build", str(recipes / "mrc.hum.yaml"), "--out", str(tmp_path / "out"), "-q")
    assert built.exit_code == 0, built.output
    records = [r for p in sorted((tmp_path / "out" / "mrc" / "data").glob("test-*.parquet"))
               for r in pq.read_table(p).to_pylist()]
    long = {r["instruction"]: r["output"] + " because the passage says so, and here is why at length" for r in records}

    def rambling(body: dict) -> str:
        return long.get(body["messages"][0]["content"], "no idea")

    with LLMServer(responder=rambling, cut_at_max_tokens=True) as srv:
        result = run_cli("eval", str(tmp_path / "out" / "mrc"), "--base-url", srv.base_url, "--model", "test-model",
                         "--max-tokens", "5", "--cache", str(tmp_path / "cache"), "--report", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    cut = [r for r in report["records"] if len(long[next(x["instruction"] for x in records if x["id"] == r["id"])]
                                               .split()) > 5]
    assert cut and all(r["prediction"] and not r["missing"] for r in cut)
    assert report["overall"]["missing"] == 0 and report["overall"]["score"] > 0
    assert f"{len(cut)} answer(s) cut off at the token limit" in " ".join(result.output.split())
    assert "raise --max-tokens" in result.output


@pytest.mark.parametrize(("tag", "named"), [("zh", "Chinese"), ("zh-TW", "Chinese (zh-TW)")])
def test_a_free_text_answer_in_the_wrong_language_is_dropped_and_the_prompt_names_the_language(tmp_path, tag, named):
    """SmolLM2 answered Chinese instructions in English ("The gold answer is a reference response."), often after
    copying the question: a zh dataset held them as valid answers. The prompt now names the language, and an answer
    mostly in Latin-script words is dropped; a short Latin answer (a formula) stays."""
    (tmp_path / "zh.jsonl").write_text("".join(json.dumps({"instruction": q, "context": "", "response": ""},
                                                          ensure_ascii=False) + "\n"
                                               for q in ("中国的首都是哪里？", "水的化学式是什么？", "列出三种水果。")),
                                       encoding="utf-8")
    answers = {"中国的首都是哪里？": "中国的首都是北京。", "水的化学式是什么？": "H2O",
               "列出三种水果。": "列出三种水果。\n\nThe gold answer is a reference response."}

    replies = answering(answers)
    recipe = tmp_path / "zh.hum.yaml"
    with LLMServer(responder=replies) as srv:
        recipe.write_text(f"""hum: 1
name: real-behaviour
language: {tag}
models:
  writer: {{base_url: {srv.base_url}, model: test-model}}
sources:
  zh: zh.jsonl
tasks:
  - {{id: zh, task: generalist, source: zh, generate: {{model: writer}}, formats: [text],
     fields: {{instruction: instruction, context: context, response: response}}}}
output:
  splits: {{train: 1.0}}
""", encoding="utf-8")
        result = build(recipe, tmp_path)
        prompts = [r.json["messages"][0]["content"] for r in srv.received if not r.json.get("response_format")]
    assert result.exit_code == 0, result.output
    assert kept(tmp_path) == ["H2O", "中国的首都是北京。"]
    assert prompts and all(f"Reply with the answer only, in {named}." in p for p in prompts)
    assert f"dropped answer not in {tag} (mostly Latin-script words): 1" in " ".join(result.output.split())


def test_an_empty_reply_is_asked_for_again_and_then_dropped_as_empty(tmp_path):
    """A model that stops at once sends "" (no text at all): the retry says the reply was empty, and a record whose
    every reply is empty is counted as `empty answer`, not as invalid JSON."""
    def mute(body: dict) -> str:
        if "red" in body["messages"][0]["content"]:
            return json.dumps({"reason": "Correct.", "score": 5})
        return ""

    with LLMServer(responder=mute) as srv:
        result = build(write_recipe(tmp_path, srv.base_url), tmp_path)
        retries = [r.json["messages"][-1]["content"] for r in srv.received if len(r.json["messages"]) > 1]
    assert result.exit_code == 0, result.output
    assert kept(tmp_path) == ["A red fruit."]
    assert "dropped judge empty answer: 3" in " ".join(result.output.split())
    assert retries and all(m.startswith("That reply is invalid: it is empty.") for m in retries)


def label_recipe(tmp: Path, base_url: str, labels: dict[str, str], model_keys: str = "") -> Path:
    """A classification entry of the texts in ``labels`` (text -> its label in the source, maybe "") whose generate
    step chooses from `labels: [Sports, Business]`."""
    (tmp / "cls.jsonl").write_text("".join(json.dumps({"text": t, "label": v}) + "\n" for t, v in labels.items()),
                                   encoding="utf-8")
    recipe = tmp / "cls.hum.yaml"
    recipe.write_text(f"""hum: 1
name: real-behaviour
models:
  writer: {{base_url: {base_url}, model: test-model{model_keys}}}
sources:
  cls: cls.jsonl
tasks:
  - {{id: cls, task: classification, source: cls, fields: {{text: text, label: label}}, labels: [Sports, Business],
     generate: {{model: writer}}, formats: [text]}}
output:
  splits: {{train: 1.0}}
""", encoding="utf-8")
    return recipe


def test_a_label_generate_step_with_every_label_given_sends_nothing_and_needs_no_server(tmp_path):
    """A generate step choosing from `labels:` probed the endpoint's structured-output form even when every record
    had its label: one request to a running server, and E4301 (the build failed) when none was running."""
    with LLMServer(responder=lambda body: "Sports") as srv:
        recipe = label_recipe(tmp_path, srv.base_url, {"Lakers win the final": "Sports", "Stocks fall again": "Business"})
        result = build(recipe, tmp_path)
        assert result.exit_code == 0, result.output
        assert srv.received == []
    assert kept(tmp_path) == ["Business", "Sports"]


def test_a_generated_class_label_is_read_in_any_case_and_one_outside_the_labels_is_dropped_at_generate(tmp_path):
    """A model writes "sports." for the label Sports, or "Sports news": the first is the label, the second is dropped
    at the generate step instead of reaching the render stage as gold outside `labels:` (a free-text answer: an
    endpoint without structured outputs; with them the label is chosen from an `enum`, tests/test_llm_llamacpp.py)."""
    texts = {"Lakers win the final": "sports.", "Stocks fall again": "Business", "New phone released": "Sports news"}
    with LLMServer(responder=answering(texts)) as srv:
        recipe = label_recipe(tmp_path, srv.base_url, dict.fromkeys(texts, ""), ", structured_output: off")
        result = build(recipe, tmp_path)
        prompts = [r.json["messages"][0]["content"] for r in srv.received if not r.json.get("response_format")]
    assert result.exit_code == 0, result.output
    assert kept(tmp_path) == ["Business", "Sports"]
    assert all("Use only these labels for label: Sports, Business." in p for p in prompts)
    summary = " ".join(result.output.split())
    assert "dropped answer is not one of the labels (Sports, Business): 1" in summary
    assert "label_outside_set" not in summary
