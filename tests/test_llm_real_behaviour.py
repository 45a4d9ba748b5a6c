"""What a real model does that a scripted server hides, reproduced on the loopback test server so it runs in CI:
answers cut off by ``max_tokens`` (JSON unfinished), JSON in a fence or after chatter, empty replies, labels the
task does not have, a server slower than ``timeout``, a server killed in the middle of a build, and ``humc eval``
of such a model's answers. Each was first seen against SmolLM2-135M-Instruct (tests/test_realmodel.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
from helpers import REPO, run_cli

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


def build(recipe: Path, tmp: Path):
    return run_cli("build", str(recipe), "--out", str(tmp / "out"), "--cache", str(tmp / "cache"))


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
    assert "dropped judge invalid output: 1" in " ".join(result.output.split())
