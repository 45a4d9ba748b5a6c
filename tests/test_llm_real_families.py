"""Answers SmolLM2-135M-Instruct (llama.cpp, `json_object+schema`) gave to `generate` on more task families —
multi-label classification (GoEmotions), open IE (CaRB), instruction following (Dolly) — replayed by the loopback
test server, so each stays fixed without the real model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
from helpers import REPO, build_in

sys.path.insert(0, str(REPO))
from tests.llmserver import LLMServer  # noqa: E402


def write_recipe(tmp: Path, base_url: str, rows: list[dict], task: str, fields: str, extra: str = "") -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    recipe = tmp / "fam.hum.yaml"
    recipe.write_text(f"""hum: 1
name: fam
models:
  writer: {{base_url: {base_url}, model: test-model, params: {{temperature: 0.0, max_tokens: 64}}, max_retries: 1}}
sources:
  rows: rows.jsonl
tasks:
  - id: fam
    task: {task}
    source: rows
    fields: {fields}
    generate: {{model: writer, overwrite: true}}
    formats: [json]
{extra}output:
  splits: {{train: 1.0}}
""", encoding="utf-8")
    return recipe


def gold(tmp: Path) -> list:
    return [json.loads(r["gold"]) for r in pq.read_table(tmp / "out" / "fam" / "data").to_pylist()]


def test_a_generated_label_set_names_each_label_once(tmp_path):
    """GoEmotions: SmolLM2 listed 13 labels with "love" twice; the dataset kept `love, love` as a multi-label gold."""
    def twice(body: dict) -> str:
        return json.dumps({"answers": [{"label": "love"}, {"label": "joy"}, {"label": "love"}]})

    rows = [{"text": "I love this so much!", "labels": []}]
    with LLMServer(responder=twice) as srv:
        recipe = write_recipe(tmp_path, srv.base_url, rows, "multilabel_classification",
                              "{text: text, labels: labels}", "    labels: [joy, love, anger]\n")
        result = build_in(recipe, tmp_path)
    assert result.exit_code == 0, result.output
    assert gold(tmp_path) == [[{"label": "love"}, {"label": "joy"}]]


def test_a_generated_open_ie_subject_must_be_in_the_sentence(tmp_path):
    """CaRB: SmolLM2 answered with the guideline's own example ("Gideon Rodan"), "A:" and "The Firm" as subjects of
    sentences that hold none of them, and all were kept. A subject is now copied from the sentence (asked again with
    the reason, then dropped); a predicate or object need not be (CaRB's gold states "is", joins arguments)."""
    def copying(body: dict) -> str:
        prompt = body["messages"][0]["content"]
        if "Keibler" in prompt:
            return json.dumps({"answers": [{"subject": "Keibler", "predicate": "lost", "object": "a match"}]})
        return json.dumps({"answers": [{"subject": "Gideon Rodan", "predicate": "taught at", "object": "Merck"}]})

    rows = [{"text": "Keibler lost a match on Velocity .", "triples": []},
            {"text": "Mr. Baker found an opening under the house .", "triples": []}]
    with LLMServer(responder=copying) as srv:
        recipe = write_recipe(tmp_path, srv.base_url, rows, "openie", "{text: text, triples: triples}")
        result = build_in(recipe, tmp_path)
        retried = [r.json["messages"][-1]["content"] for r in srv.received if len(r.json["messages"]) > 1]
    assert result.exit_code == 0, result.output
    assert gold(tmp_path) == [[{"subject": "Keibler", "predicate": "lost", "object": "a match"}]]
    assert retried and "subject 'Gideon Rodan' does not occur in the text" in retried[0]
    assert "dropped invalid output (span not in the text): 1" in " ".join(result.output.split())


def test_a_verdict_whose_reason_is_the_prompts_placeholder_is_asked_again_then_dropped(tmp_path):
    """GoEmotions, judged: SmolLM2 answered {"reason": "<one short sentence>", "score": 1}, the prompt's own
    placeholder and a score no reason led to; it was kept as a verdict. It is now asked again with the reason, then
    dropped."""
    def verdict(body: dict) -> str:
        prompt = body["messages"][0]["content"]
        if "Lakers" in prompt and len(body["messages"]) > 1:
            return json.dumps({"reason": "The label is right.", "score": 5})
        if "Lakers" in prompt or "Stocks" in prompt:
            return json.dumps({"reason": "<one short sentence>", "score": 5})
        return json.dumps({"reason": "Correct.", "score": 4})

    rows = [{"text": t, "label": "Sports"} for t in ("Lakers win the final", "Stocks fall", "Rain in Spain")]
    with LLMServer(responder=verdict) as srv:
        recipe = write_recipe(tmp_path, srv.base_url, rows, "classification", "{text: text, label: label}",
                              "    labels: [Sports, Business]\n")
        recipe.write_text(recipe.read_text().replace("generate: {model: writer, overwrite: true}",
                                                     "judge: {model: writer, min_score: 3}"))
        result = build_in(recipe, tmp_path)
        told = [r.json["messages"][-1]["content"] for r in srv.received if len(r.json["messages"]) > 1]
    assert result.exit_code == 0, result.output
    assert sorted(r["source_row"] for r in pq.read_table(tmp_path / "out" / "fam" / "data").to_pylist()) == [0, 2]
    assert told and "'<one short sentence>' copies the prompt's placeholder" in told[0]
    assert "dropped judge invalid output (reason copies the placeholder): 1" in " ".join(result.output.split())
