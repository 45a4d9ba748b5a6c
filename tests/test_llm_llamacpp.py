"""What humc did wrong against a real llama.cpp server (llama-cpp-python 0.3.36 serving SmolLM2-135M-Instruct Q4_1,
``../shared/realmodel/serve-smollm2``), reproduced on the loopback test server (tests/llmserver.py) so it runs in CI.
Each test says what the real server did."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
import yaml
from helpers import REPO, copy_recipes, run_cli

sys.path.insert(0, str(REPO))
from tests.llmserver import LLMServer, Reply  # noqa: E402


def _built_mrc(tmp: Path, base_url: str) -> Path:
    """recipes/mrc.hum.yaml built, its `writer` model (max_tokens 1024) pointed at ``base_url``."""
    root = copy_recipes(tmp)
    recipe = root / "mrc.hum.yaml"
    recipe.write_text(recipe.read_text().replace("http://127.0.0.1:8000/v1", base_url)
                      .replace("Qwen/Qwen2.5-7B-Instruct", "test-model"), encoding="utf-8")
    built = run_cli("build", str(recipe), "-q")
    assert built.exit_code == 0, built.output
    return recipe


def test_eval_of_a_recipe_model_obeys_max_tokens(tmp_path):
    """`humc eval RECIPE --model writer --max-tokens 32` sent the recipe's max_tokens (1024) and ignored the option:
    SmolLM2 on two CPUs then wrote for minutes per record. The option now limits a recipe model's answers too, and
    `--max-tokens 0` (llama.cpp: no limit but the context) is refused."""
    with LLMServer() as srv:
        recipe = _built_mrc(tmp_path, srv.base_url)
        result = run_cli("eval", str(recipe), "--model", "writer", "--max-tokens", "32")
        limits = {r.json.get("max_tokens") for r in srv.received}
    assert result.exit_code == 0, result.output
    assert limits == {32}
    zero = run_cli("eval", str(recipe), "--model", "writer", "--max-tokens", "0")
    assert zero.exit_code == 2 and "E9001" in zero.output and "--max-tokens" in zero.output


def test_a_server_that_answers_any_model_id_with_its_one_model_is_credited_with_that_model(tmp_path):
    """llama-cpp-python answers a request for `Qwen/Qwen2.5-7B-Instruct` (the shipped dolly_llm recipe's id) with
    the one model it serves (SmolLM2, listed at /v1/models as `smollm2`) and reports the *asked* id as the response's
    `model`: the card, the summary and the lockfile credited Qwen with SmolLM2's answers, and no warning was printed.
    The one listed model is now recorded as the one that answered, and the build warns."""
    recipe = copy_recipes(tmp_path) / "dolly_llm.hum.yaml"
    verdict = json.dumps({"reason": "Correct.", "score": 5})
    with LLMServer(models=None, responder=lambda body: verdict) as srv:  # any id served, `test-model` listed
        recipe.write_text(recipe.read_text().replace("http://127.0.0.1:8000/v1", srv.base_url), encoding="utf-8")
        result = run_cli("build", str(recipe), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
        asked = {r.json["model"] for r in srv.received}
    assert result.exit_code == 0, result.output
    assert asked == {"Qwen/Qwen2.5-7B-Instruct"}
    message = " ".join(result.output.split())
    assert ("dolly/judge: the recipe asks model 'judge' for 'Qwen/Qwen2.5-7B-Instruct', but the server answered as "
            "'test-model'") in message
    card = (tmp_path / "out" / "dolly-llm" / "README.md").read_text(encoding="utf-8")
    assert "| test-model | judge (Qwen/Qwen2.5-7B-Instruct) |" in card and "| Qwen/Qwen2.5-7B-Instruct |" not in card


def _one_step_recipe(tmp: Path, base_url: str, rows: list[dict], entry: dict, params: dict | None = None) -> Path:
    """A recipe of one task entry over ``rows``, with a free-text or label `generate` step of model `writer`."""
    (tmp / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    writer = {"base_url": base_url, "model": "test-model", "params": params or {}, "max_retries": 1}
    recipe = {"hum": 1, "name": "llamacpp", "sources": {"data": "data.jsonl"}, "output": {"splits": {"train": 1.0}},
              "models": {"writer": writer},
              "tasks": [{"id": "gen", "source": "data", "generate": {"model": "writer"}, "formats": ["text"], **entry}]}
    path = tmp / "llamacpp.hum.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    return path


def _generalist_recipe(tmp: Path, base_url: str, params: dict) -> Path:
    """Two instructions without a response, a free-text `generate` step (no schema, so no probe)."""
    rows = [{"instruction": q, "context": "", "response": ""} for q in ("Name a red fruit.", "Name a yellow fruit.")]
    fields = {name: name for name in ("instruction", "context", "response")}
    return _one_step_recipe(tmp, base_url, rows, {"task": "generalist", "fields": fields}, params)


# what llama-cpp-python 0.3.36 answers to `stop: 5` (HTTP 500, every time); `temperature: hot`, answered the same way,
# is now refused by `humc check` (E0008) before any request
NOT_A_STRING = ("1 validation error:\n  {'type': 'string_type', 'loc': ('body', 'stop', 'str'), 'msg': 'Input should be "
                "a valid string', 'input': 5}")


def test_a_500_that_the_request_causes_is_not_called_an_overloaded_server(tmp_path):
    """llama-cpp-python 0.3.36 answers a parameter it cannot read (`params: {stop: 5}`) with HTTP 500 and its pydantic
    validation error, on every attempt: humc retried, then said "the endpoint is overloaded or down". The hint now
    says a 500 with one message on every attempt is likely the request's doing."""
    def llamacpp(body: dict) -> str | Reply:
        return Reply(NOT_A_STRING, status=500) if isinstance(body.get("stop"), int) else "A fruit."

    with LLMServer(responder=llamacpp) as srv:
        recipe = _generalist_recipe(tmp_path, srv.base_url, {"max_tokens": 16, "stop": 5})
        result = run_cli("build", str(recipe), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
    message = " ".join(result.output.split())
    assert result.exit_code == 2 and "error[E4301]" in message and "'loc': ('body', 'stop', 'str')" in message
    assert "overloaded" not in message and "the same HTTP 500 message" in message
    assert "fix or remove what the message names in the model's `params:`" in message


def test_a_wrong_port_is_said_at_once_and_a_restarting_server_still_gets_every_retry(tmp_path):
    """A recipe pointing at a port where no server listens (`18099` for llama.cpp's `18080`) waited out 6 backoffs,
    about 8 s, before saying "cannot connect". An endpoint that never answered gets 2 retries; one that answered
    before (a server killed mid-build, loading its model again) gets all of `max_retries`."""
    from humc.llm.client import LLMClient, LLMError, LLMRequest, ModelConfig, open_cache

    srv = LLMServer().start()
    url = srv.base_url
    srv.stop()
    ask = [LLMRequest([{"role": "user", "content": "Name a fruit."}])]
    with open_cache(tmp_path / "llm") as cache:
        cold = LLMClient(ModelConfig(name="writer", base_url=url, model="test-model"), cache)  # 6 retries, 0.25 s up
        started = time.monotonic()
        with pytest.raises(LLMError) as info:
            cold.run_batch(ask)
        assert time.monotonic() - started < 2.5 and cold.stats.retries == 2
        assert "cannot connect" in info.value.message and "is the server running" in (info.value.hint or "")
        with LLMServer() as again:
            warm = LLMClient(ModelConfig(name="writer", base_url=again.base_url, model="test-model", max_retries=4,
                                         backoff_base=0.01), cache)
            assert warm.run_batch(ask)[0].text
        with pytest.raises(LLMError):
            warm.run_batch([LLMRequest([{"role": "user", "content": "Name another."}])])
        assert warm.stats.retries == 4 and warm.stats.failures["connection"] == 1


def test_a_paraphrase_that_copies_the_requests_placeholders_is_not_proposed(tmp_path):
    """SmolLM2 asked (`humc synth recipes/mrc.hum.yaml`) for paraphrases wrote "<reworded sentence 1>" — the
    placeholder of humc's correction message — and "Paraphrasing, 2}: {...}, {..." as the sentences of a template,
    and both were proposed as valid paraphrases. A sentence holding a placeholder of the request rewords nothing."""
    from humc.assets.synth import synthesize
    from humc.build.compiler import load_recipe
    from humc.recipe.lockfile import load_lock

    def smollm2(body: dict) -> str:
        prompt = next(m["content"] for m in body["messages"] if m["role"] == "user")
        sentences = json.loads(prompt.split("as JSON:\n", 1)[1].split("\n\nRewrite", 1)[0])
        copied = {k: f"<reworded sentence {k}>" for k in sentences}
        junk = {k: "Paraphrasing, 2}: {...}, {..." for k in sentences}
        good = {k: "Please note: " + v for k, v in sentences.items()}
        return json.dumps({"paraphrases": [copied, junk, good]})

    root = copy_recipes(tmp_path)
    (root / "mrc.hum.lock").unlink()
    with LLMServer(responder=smollm2) as srv:
        recipe = root / "mrc.hum.yaml"
        recipe.write_text(recipe.read_text().replace("http://127.0.0.1:8000/v1", srv.base_url)
                          .replace("Qwen/Qwen2.5-7B-Instruct", "test-model"), encoding="utf-8")
        report = synthesize(load_recipe(recipe), cache_dir=tmp_path / "cache")
    texts = [item.text or "" for item in load_lock(report.lock_path).items]
    assert texts and len(texts) == report.proposed and all("Please note: " in t for t in texts)
    assert not any("reworded sentence" in t or "{...}" in t for t in texts)


def test_a_generated_class_label_is_chosen_from_the_labels_by_constrained_decoding(tmp_path):
    """SmolLM2 under llama.cpp asked for an AG News label as free text answered 'The task is to assign the label
    "Sports" to the text …' for every record: all 4 were dropped as "not one of the labels". A single-label answer
    is now asked as {"label": <one of the labels>} in the endpoint's schema form (json_object + schema here), so
    constrained decoding writes a label; the prompt asks for that object."""
    texts = {"Lakers win the final": "Sports", "Stocks fall again": "Business"}

    def llamacpp(body: dict) -> str:
        schema = (body.get("response_format") or {}).get("schema")
        text = next(t for t in texts if t in body["messages"][0]["content"])
        if schema is None:
            return f'The task is to assign the label "{texts[text]}" to the text "{text}".'
        return json.dumps({"label": texts[text]})

    entry = {"task": "classification", "fields": {"text": "text", "label": "label"}, "labels": ["Sports", "Business"]}
    with LLMServer(responder=llamacpp, structured="json_object+schema") as srv:
        recipe = _one_step_recipe(tmp_path, srv.base_url, [{"text": t, "label": ""} for t in texts], entry)
        result = run_cli("build", str(recipe), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
        asked = [r.json for r in srv.received if "Lakers" in str(r.json.get("messages"))]
    assert result.exit_code == 0, result.output
    import pyarrow.parquet as pq

    assert sorted(r["output"] for r in pq.read_table(tmp_path / "out" / "llamacpp" / "data").to_pylist()) == [
        "Business", "Sports"]
    assert asked[0]["response_format"]["schema"]["properties"] == {"label": {"type": "string",
                                                                             "enum": ["Sports", "Business"]}}
    assert "one object with the keys label" in asked[0]["messages"][0]["content"]
    assert "gen/generate: 2/2 valid answer(s) (100.0%), structured output json_object+schema" in result.output
