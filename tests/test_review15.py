"""review15: a fresh-eyes review of the session's change (b5b924e..984cff8), each finding a regression test."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import run_cli

from humc.build.compiler import load_recipe
from humc.llm.client import LLMRequest, merged_params

LLM_RECIPE = """hum: 1
name: nulls
models:
  writer:
    base_url: http://127.0.0.1:9/v1
    model: test-model
    params: {PARAMS}
sources:
  gen: gen.jsonl
tasks:
  - id: dolly
    task: generalist
    source: gen
    fields: {instruction: instruction, context: context, response: response}
    generate: {model: writer}
    formats: [text]
"""


def _llm_recipe(tmp: Path, params: str) -> Path:
    row = {"instruction": "Say hi.", "context": "", "response": None}
    (tmp / "gen.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    recipe = tmp / "nulls.hum.yaml"
    recipe.write_text(LLM_RECIPE.replace("PARAMS", params), encoding="utf-8")
    return recipe


def test_a_null_sampling_param_is_not_sent_and_not_refused(tmp_path):
    """`max_tokens: null` (or `seed: null`) says "send none": merged_params drops it. The E0008 check of well-known
    sampling params (validate_llm._param_problem) refused it as "must be an integer, not null None"."""
    recipe = _llm_recipe(tmp_path, "temperature: 0.0, max_tokens: null, seed: null")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 0, result.output
    model = load_recipe(recipe).models["writer"]
    assert merged_params(model, LLMRequest(messages=[])) == {"temperature": 0.0}
    recipe.write_text(recipe.read_text().replace("seed: null", "seed: 1.5"), encoding="utf-8")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 2 and "params 'seed' must be an integer, not number 1.5" in result.output
