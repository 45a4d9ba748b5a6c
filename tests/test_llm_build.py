"""LLM nodes inside a build (generate, judge) against the OpenAI-compatible test server:
answers land in the dataset, rebuilds send nothing, injected failures lose nothing,
invalid structured outputs are dropped and counted, bad credentials are a clear error."""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers import REPO, build_in, pass_memos, run_cli, tree_bytes

from humc.build.compiler import build, plan_recipe

sys.path.insert(0, str(REPO))
from tests.llmserver import LLMServer  # noqa: E402

ROWS = [{"instruction": f"Name a fruit that is {c}.", "context": "", "response": "" if i % 2 else f"A {c} fruit."}
        for i, c in enumerate(["red", "yellow", "green", "orange", "purple", "brown", "black", "white"])]
SENTENCES = ["Ada Lovelace met Charles Babbage in London .", "Nothing to see here .",
             "Marie Curie worked in Paris .", "INVALID sentence for Grace Hopper ."]


def responder(body: dict) -> str:
    prompt = body["messages"][0]["content"]  # retries append a correction message after it
    if prompt.startswith("You are a strict reviewer"):
        if "INVALID" in prompt and "Response:" in prompt:
            return "I think it's fine"                         # not JSON: retried, then dropped
        return json.dumps({"score": 2 if "purple" in prompt else 5, "reason": "ok"})
    if "Reply with JSON only" in prompt:                          # structured generation (NER)
        if "INVALID" in prompt:
            return '[{"type": "PER"}]'                            # missing "span": invalid
        text = prompt.split("Text:\n", 1)[1].split("\n", 1)[0]
        names = re.findall(r"[A-Z][a-z]+ [A-Z][a-z]+", text)
        return json.dumps([{"type": "PER", "span": n} for n in names])
    instruction = prompt.split("Instruction:\n", 1)[1].split("\n", 1)[0]
    return "Generated answer to: " + instruction


def write_recipe(tmp: Path, base_url: str, *, min_score: int = 4, extra_model: str = "") -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "gen.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    (tmp / "ner.jsonl").write_text("".join(json.dumps({"text": s, "entities": []}) + "\n" for s in SENTENCES),
                                   encoding="utf-8")
    recipe = tmp / "llm.hum.yaml"
    recipe.write_text(f"""hum: 1
name: llm-demo
models:
  writer:
    base_url: {base_url}
    model: test-model
    concurrency: 4
    params: {{temperature: 0.0, max_tokens: 256}}
    max_retries: 8
{extra_model}
sources:
  gen: gen.jsonl
  ner: ner.jsonl
tasks:
  - id: dolly
    task: generalist
    source: gen
    fields: {{instruction: instruction, context: context, response: response}}
    generate: {{model: writer}}
    judge: {{model: writer, min_score: {min_score}}}
    formats: [text]
  - id: ner
    task: ner
    source: ner
    fields: {{text: text, entities: entities}}
    labels: [PER, LOC]
    generate: {{model: writer, overwrite: true}}
    preferences: [empty_brackets]
    formats: [json]
output:
  splits: {{train: 1.0}}
""", encoding="utf-8")
    return recipe


run = build_in  # humc build with tmp/out and tmp/cache


def rows(tmp: Path) -> list[dict]:
    return pq.read_table(tmp / "out" / "llm-demo" / "data").to_pylist()


def test_generate_and_judge_nodes_build_a_dataset(tmp_path):
    with LLMServer(responder=responder) as srv:
        result = run(write_recipe(tmp_path, srv.base_url), tmp_path)
        assert result.exit_code == 0, result.output
        sent = srv.request_count
    out = rows(tmp_path)
    dolly = {r["source_row"]: r["output"] for r in out if r["task_entry"] == "dolly"}
    assert dolly[1] == "Generated answer to: Name a fruit that is yellow."
    assert dolly[0] == "A red fruit."                                     # existing answers are kept
    assert sorted(dolly) == [0, 1, 2, 3, 5, 6, 7]                         # purple judged 2 < 4: dropped
    ner = {json.dumps(json.loads(r["gold"])) for r in out if r["task_entry"] == "ner"}
    assert json.dumps([{"type": "PER", "span": "Ada Lovelace"}, {"type": "PER", "span": "Charles Babbage"}]) in ner
    assert len([r for r in out if r["task_entry"] == "ner"]) == 3         # the invalid one is dropped
    assert "LLM this build: 18 request(s) sent, 0 cache hit(s)" in result.output
    card = (tmp_path / "out" / "llm-demo" / "README.md").read_text()
    today = datetime.now(timezone.utc).date().isoformat()
    assert (f"| test-model | writer (test-model) | 0.0 | 256 | {today} | 18 | dolly: answer generation; "
            "dolly: judge filter; ner: answer generation |") in card
    assert "warning" not in result.output                                 # the server answered as asked
    assert sent == 1 + 4 + 3 + 3 + 8  # the structured-output probe, 4 dolly answers, 3 NER + 3 attempts of the
    #                                   invalid one, 8 verdicts


def test_the_card_names_the_model_that_answered_not_the_one_the_recipe_asked_for(tmp_path):
    with LLMServer(responder=responder, reported_model="smollm2-135m-q8", system_fingerprint="fp_b1234") as srv:
        recipe = write_recipe(tmp_path, srv.base_url)
        result = run(recipe, tmp_path)
        assert result.exit_code == 0, result.output
        again = run(recipe, tmp_path)                                     # answers replayed from the cache
    assert again.exit_code == 0 and srv.request_count == 1 + 18  # the structured-output probe, then the answers
    card = (tmp_path / "out" / "llm-demo" / "README.md").read_text()
    assert "| smollm2-135m-q8 | writer (test-model) | 0.0 | 256 | fp_b1234 |" in card
    assert "| test-model |" not in card                                   # never credited to the model asked for
    for output in (result.output, again.output):                          # cached answers still know who wrote them
        warning = " ".join(output.split())
        assert ("warning: dolly/generate: the recipe asks model 'writer' for 'test-model', but the server answered "
                "as 'smollm2-135m-q8'") in warning
        assert "ner/generate:" in warning and "dolly/judge:" in warning


def test_rebuild_sends_no_requests_and_judge_settings_reuse_cached_answers(tmp_path):
    with LLMServer(responder=responder) as srv:
        recipe = write_recipe(tmp_path, srv.base_url)
        assert run(recipe, tmp_path).exit_code == 0
        first = srv.request_count
        again = run(recipe, tmp_path)
        assert again.exit_code == 0 and "LLM this build: 0 request(s) sent" in again.output
        assert srv.request_count == first
        # a stricter judge rebuilds the judge node, but its prompts are unchanged: all cache hits
        recipe = write_recipe(tmp_path, srv.base_url, min_score=5)
        p = plan_recipe(recipe, out_dir=tmp_path / "out", cache_dir=tmp_path / "cache")
        result = build(p)
        assert srv.request_count == first
    judge = next(s for s in result.stats if s.node == "dolly/judge")
    assert judge.status == "built" and judge.notes["llm cache hits"] == 8 and judge.notes["llm requests"] == 0


def test_changing_an_entrys_labels_or_language_asks_its_generate_step_again(tmp_path):
    """The generate prompt names the entry's labels and language and the answers are checked against them: a
    rebuild after either changed must not reuse the answers given for the old ones (they were dropped at render as
    gold outside `labels:` blamed on the source file's lines)."""
    recipe = write_recipe(tmp_path, "http://127.0.0.1:9/v1")

    def generate_fingerprints() -> dict[str, str]:
        return {n.id: n.fingerprint for n in plan_recipe(recipe).nodes if n.id.endswith("/generate")}

    before = generate_fingerprints()
    recipe.write_text(recipe.read_text().replace("labels: [PER, LOC]", "labels: [PER, ORG]"), encoding="utf-8")
    relabelled = generate_fingerprints()
    recipe.write_text(recipe.read_text().replace("    task: ner\n", "    task: ner\n    language: de\n"), encoding="utf-8")
    german = generate_fingerprints()
    assert relabelled["ner/generate"] != before["ner/generate"] and relabelled["dolly/generate"] == before["dolly/generate"]
    assert german["ner/generate"] != relabelled["ner/generate"]


def test_injected_failures_lose_and_duplicate_nothing(tmp_path):
    with LLMServer(responder=responder) as srv:
        assert run(write_recipe(tmp_path / "a", srv.base_url), tmp_path / "a").exit_code == 0
    with LLMServer(responder=responder, rate_429=0.15, rate_500=0.15, retry_after="0", seed=3) as srv:
        result = run(write_recipe(tmp_path / "b", srv.base_url), tmp_path / "b")
        assert result.exit_code == 0, result.output
        assert srv.stats["by_status"].get(429, 0) > 0 and srv.stats["by_status"].get(500, 0) > 0
    assert tree_bytes(tmp_path / "a" / "out" / "llm-demo" / "data") == tree_bytes(tmp_path / "b" / "out" / "llm-demo" / "data")


def test_rejected_credentials_are_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "wrong-key")
    with LLMServer(responder=responder, api_key="right-key") as srv:
        result = run(write_recipe(tmp_path, srv.base_url), tmp_path)
    assert result.exit_code == 2
    assert "401" in result.output and "Traceback" not in result.output and "wrong-key" not in result.output
    assert result.output.startswith(f"{tmp_path / 'llm.hum.yaml'}:5:5: error[E4301]: ")  # the model's declaration
    assert not (tmp_path / "out" / "llm-demo").exists()


@pytest.mark.parametrize("snippet, message", [
    ("    api_key: sk-123\n", "API keys never go in a recipe"),
    ("    concurrency: 0\n", "'concurrency' must be a positive integer"),
    ("    timeout: -5\n", "'timeout' must be a positive number of seconds"),
    ("    params: {model: other}\n", "'model' cannot be set in params"),
    ("    params: {temperature: .nan}\n", "params 'temperature' must be a finite number"),
    ("    params: {temperature: hot}\n", "params 'temperature' must be a number >= 0, not string 'hot'"),
    ("    params: {max_tokens: 0}\n", "params 'max_tokens' must be an integer >= 1, not integer 0"),
    ("    params: {seed: 1.5}\n", "params 'seed' must be an integer, not number 1.5"),
    ("    params: {top_p: true}\n", "params 'top_p' must be a number >= 0, not boolean True"),
])
def test_bad_model_settings_are_located(tmp_path, snippet, message):
    recipe = write_recipe(tmp_path, "http://127.0.0.1:9/v1")
    settings = "    concurrency: 4\n    params: {temperature: 0.0, max_tokens: 256}\n"
    recipe.write_text(recipe.read_text().replace(settings, snippet), encoding="utf-8")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 2 and message in result.output
    assert re.match(rf"{re.escape(str(recipe))}:\d+:\d+: error\[E\d{{4}}\]: ", result.output)


def test_params_a_server_of_its_own_reads_pass_and_a_misspelt_one_is_noted_where_it_stands(tmp_path):
    recipe = write_recipe(tmp_path, "http://127.0.0.1:9/v1")
    settings = "    params: {temperature: 0.0, max_tokens: 256}\n"
    recipe.write_text(recipe.read_text().replace(settings, "    params: {top_n_sigma: 1.5, max_tokens: 256}\n"))
    assert run_cli("check", str(recipe)).exit_code == 0  # llama.cpp's own sampler setting
    for own in ("add_special_tokens: false", "penalty_last_n: 64", "top_a: 0.1",  # vLLM, llama.cpp, OpenRouter
                "temperature_last: true", "repetition_penalty_range: 64", "mirostat_mode: 2"):  # webui, TabbyAPI
        recipe.write_text(re.sub(r"params: \{[^}]*\}", f"params: {{{own}}}", recipe.read_text()), encoding="utf-8")
        result = run_cli("check", str(recipe))
        assert result.exit_code == 0 and "ok —" in result.output and "is no request field" not in result.output
    recipe.write_text(re.sub(r"params: \{[^}]*\}", "params: {top_n_sigma: 1.5, max_tokens: 256}", recipe.read_text()))
    recipe.write_text(recipe.read_text().replace("top_n_sigma: 1.5, max_tokens", "top_n_sigma: 1.5, max_token"))
    result = run_cli("check", str(recipe))  # sent as written (a server's own field may look like a typo): a note
    assert result.exit_code == 0
    assert f"note: {recipe}:8:32: model 'writer': params 'max_token' is no request field humc knows: did you mean " \
           "'max_tokens'?" in result.output


def test_unknown_model_reference(tmp_path):
    recipe = write_recipe(tmp_path, "http://127.0.0.1:9/v1")
    recipe.write_text(recipe.read_text().replace("judge: {model: writer", "judge: {model: writr"), encoding="utf-8")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 2 and "unknown model 'writr'" in result.output and "did you mean 'writer'" in result.output


def test_the_dolly_llm_example_recipe_builds_against_an_openai_compatible_server(tmp_path):
    from helpers import copy_recipes

    recipes = copy_recipes(tmp_path)
    recipe = recipes / "dolly_llm.hum.yaml"
    with LLMServer(responder=responder, models=None) as srv:
        recipe.write_text(recipe.read_text().replace("http://127.0.0.1:8000/v1", srv.base_url), encoding="utf-8")
        result = run(recipe, tmp_path)
        assert result.exit_code == 0, result.output
        assert srv.request_count == 1 + 10  # the probe, one verdict per rendered record (the 10 real Dolly rows); none missing
    out = pq.read_table(tmp_path / "out" / "dolly-llm" / "data").to_pylist()
    assert len(out) == 10 and {r["task"] for r in out} == {"generalist"}


def test_per_record_failures_drop_that_record_and_are_never_cached(tmp_path):
    from tests.llmserver import Reply

    def misbehaving(body: dict) -> str | Reply:
        prompt = body["messages"][0]["content"]
        if prompt.startswith("You are a strict reviewer"):
            return json.dumps({"score": 5, "reason": "ok"})
        if "yellow" in prompt:
            return Reply("This model's maximum context length is 4096 tokens.", status=400)
        if "orange" in prompt:
            return Reply(body={"id": "x", "object": "chat.completion", "created": 0, "model": "test-model",
                               "choices": []})
        if "brown" in prompt:
            return Reply("The answer is that the first half", finish_reason="length")
        return responder(body)

    with LLMServer(responder=misbehaving) as srv:
        result = run(write_recipe(tmp_path, srv.base_url), tmp_path)
        assert result.exit_code == 0, result.output
    dolly = {r["source_row"] for r in rows(tmp_path) if r["task_entry"] == "dolly"}
    assert dolly == {0, 2, 4, 6, 7}  # yellow (1) rejected, orange (3) no choices, brown (5) truncated
    stats = {s.node: s for s in build(plan_recipe(write_recipe(tmp_path, "http://127.0.0.1:9/v1", min_score=5),
                                                  out_dir=tmp_path / "o2", cache_dir=tmp_path / "cache")).stats}
    notes = stats["dolly/generate"].notes
    # the server's own words say why (numbers as N, so one cause is one count); the completion's fault is named
    assert notes["dropped: request rejected (HTTP 400): This model's maximum context length is N tokens."] == 1
    assert notes["dropped: unusable completion: no choices"] == 1
    assert notes["dropped: truncated answer (max_tokens reached)"] == 1


def test_generate_cannot_overwrite_an_input_field(tmp_path):
    recipe = write_recipe(tmp_path, "http://127.0.0.1:9/v1")
    recipe.write_text(recipe.read_text().replace("generate: {model: writer, overwrite: true}",
                                                 "generate: {model: writer, field: text}"), encoding="utf-8")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 2 and "'text' is an input of task 'ner', not an answer" in result.output


def write_many(tmp: Path, base_url: str, n: int, concurrency: int, *, judge: bool = False) -> Path:
    """A generalist recipe over ``n`` records with no answers: one generate (and optionally a judge) call each."""
    tmp.mkdir(parents=True, exist_ok=True)
    rows = [{"instruction": f"Say something about item {i}.", "context": "", "response": ""} for i in range(n)]
    (tmp / "many.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    recipe = tmp / "many.hum.yaml"
    recipe.write_text(f"""hum: 1
name: many
models:
  writer: {{base_url: {base_url}, model: test-model, concurrency: {concurrency}, params: {{max_tokens: 64}}}}
sources:
  s: many.jsonl
tasks:
  - id: gen
    task: generalist
    source: s
    fields: {{instruction: instruction, context: context, response: response}}
    generate: {{model: writer}}
    {"judge: {model: writer, min_score: 1}" if judge else ""}
    formats: [text]
output:
  splits: {{train: 1.0}}
""", encoding="utf-8")
    return recipe


def many_responder(body: dict) -> str:
    prompt = body["messages"][0]["content"]
    return json.dumps({"score": 5, "reason": "ok"}) if prompt.startswith("You are a strict reviewer") else "An answer."


def test_the_endpoint_slots_stay_full_across_chunk_boundaries(tmp_path, monkeypatch):
    """5-record chunks, 4 slots, 50 ms a call: the server answers in waves of 4. Draining each chunk would
    make two waves a chunk (4 + 1), 40 in all, each starting with 1 request in flight; with the next chunks
    queued behind the current one the 100 calls go out in 25 full waves."""
    import humc.build.execute as execute

    monkeypatch.setattr(execute, "CHUNK_SIZE", 5)
    with LLMServer(latency=0.05, slots=4, responder=many_responder) as srv:
        plan = plan_recipe(write_many(tmp_path, srv.base_url, 100, 4), out_dir=tmp_path / "out",
                           cache_dir=tmp_path / "cache")
        result = build(plan)
        received = list(srv.received)
        stats = srv.stats
    assert next(s for s in result.stats if s.node == "gen/generate").records_out == 100
    assert stats["requests"] == 100 and stats["max_in_flight"] == 4       # never more than the model's concurrency
    waves = sum(r.in_flight == 1 for r in received)                       # a request arriving to an idle server
    assert waves <= 30, [r.in_flight for r in received]


def test_one_build_opens_one_client_for_all_its_llm_chunks_and_nodes(tmp_path, monkeypatch):
    """5 chunks of generate, then 5 of judge, same model: one connection pool, so at most `concurrency`
    connections for the whole build (a client per chunk would open 4 more for every chunk)."""
    import humc.build.execute as execute

    monkeypatch.setattr(execute, "CHUNK_SIZE", 20)
    with LLMServer(latency=0.01, slots=4, responder=many_responder) as srv:
        plan = plan_recipe(write_many(tmp_path, srv.base_url, 100, 4, judge=True), out_dir=tmp_path / "out",
                           cache_dir=tmp_path / "cache")
        result = build(plan)
        stats = srv.stats
    judged = next(s for s in result.stats if s.node == "gen/judge")
    assert judged.records_out == 100 and judged.notes["llm requests"] == 100
    assert stats["requests"] == 1 + 200 and stats["connections"] <= 4 + 1  # the probe, 100 answers, 100 verdicts;
    #                                                                       + GET /models, once (who answered)


def test_the_llm_cache_opens_ahead_only_when_a_model_is_to_be_asked_and_is_always_closed(tmp_path, monkeypatch):
    """A cold LLM build opens its response cache in a thread of its own while its first nodes run, and its first
    client takes that cache; a build that stops before its LLM nodes closes it unused; a warm rebuild (nothing to
    ask) does not open it at all."""
    import threading

    from humc import cachedb
    from humc.build import llmsteps

    opened: list[str] = []
    closed: list[str] = []
    real_open, real_close = llmsteps.open_cache, cachedb.CacheDB.close
    monkeypatch.setattr(llmsteps, "open_cache",
                        lambda folder: opened.append(threading.current_thread().name) or real_open(folder))
    monkeypatch.setattr(cachedb.CacheDB, "close", lambda self: closed.append(self.what) or real_close(self))

    def run(**kw: object) -> None:
        opened.clear()
        closed.clear()
        build(plan_recipe(recipe, out_dir=tmp_path / "out", cache_dir=tmp_path / "cache"), **kw)  # type: ignore[arg-type]

    with LLMServer(responder=responder) as srv:
        recipe = write_recipe(tmp_path, srv.base_url)
        run(stop_after="dolly/map")
        assert opened == ["humc-llm-cache"]
        for _ in range(100):  # closed by the opening thread once open, without the build waiting for it
            if "the LLM response cache" in closed:
                break
            threading.Event().wait(0.01)
        assert closed.count("the LLM response cache") == 1
        run()
        assert opened == ["humc-llm-cache"] and closed.count("the LLM response cache") == 1  # one model, one cache
        sent = srv.request_count
        run()
        assert opened == [] and "the LLM response cache" not in closed and srv.request_count == sent


def test_render_and_check_run_chunk_by_chunk_while_the_llm_node_runs_and_change_nothing(tmp_path, monkeypatch):
    """The render and check chunks of an LLM node's output are computed as its chunks come in; the nodes then
    count them as built (not resumed), and the dataset is byte for byte the one built node after node."""
    import humc.build.execute as execute

    monkeypatch.setattr(execute, "CHUNK_SIZE", 20)
    outputs, followed = [], []
    real = execute.followers

    def spy(ex, node, kinds=("render", "check")):
        then = real(ex, node, kinds)
        followed.append([n.id for n, _, _ in then])
        return then

    memos: list[dict] = []
    for name, follow in (("early", True), ("plain", False)):
        monkeypatch.setattr(execute, "followers", spy if follow else lambda ex, node, kinds=(): [])
        with LLMServer(responder=many_responder) as srv:
            plan = plan_recipe(write_many(tmp_path / name, srv.base_url, 70, 4), out_dir=tmp_path / name / "out",
                               cache_dir=tmp_path / name / "cache")
            result = build(plan)
        status = {s.node: (s.status, s.records_out) for s in result.stats}
        assert status["gen/render"] == status["gen/check"] == ("built", 70)
        outputs.append(tree_bytes(tmp_path / name / "out" / "many" / "data"))
        memos.append(pass_memos(plan, tmp_path / name / "cache"))
    assert outputs[0] == outputs[1] and followed[0] == ["gen/render", "gen/check"]
    # the corpus pass memo of each check chunk, stored as it was checked (while the model answered the next
    # chunks), is the one the pass works out from the stored chunks after the last answer
    assert memos[0] == memos[1] == pass_memos(plan, tmp_path / "early" / "cache", fresh=True)
    assert len(memos[0]["gen/check"]) == 4 and all(memos[0]["gen/check"])


def test_an_llm_nodes_check_stores_its_pass_memo_as_each_chunk_is_checked(tmp_path, monkeypatch):
    """The merge after the last answer reads the check's chunks by their memo, unpickling no record: every memo is
    stored by the follower while the build waits for the model, the one of a chunk the check dropped a record of
    too."""
    import humc.build.execute as execute

    monkeypatch.setattr(execute, "CHUNK_SIZE", 10)
    stored: list[int] = []
    real = execute.Executor._put_pass_memo

    def spy(self, render, check, i, rendered, kept, memo):  # type: ignore[no-untyped-def]
        stored.append(i)
        assert len(kept) == len(rendered) - (i == 1)
        real(self, render, check, i, rendered, kept, memo)

    checked = execute.check_rendered

    def check(entry, record):  # type: ignore[no-untyped-def]  # the check drops row 13's instruction
        return execute.Problem("output_differs", "flagged") if record["source_row"] == 13 else checked(entry, record)

    monkeypatch.setattr(execute.Executor, "_put_pass_memo", spy)
    monkeypatch.setattr(execute, "check_rendered", check)
    with LLMServer(responder=many_responder) as srv:
        plan = plan_recipe(write_many(tmp_path, srv.base_url, 30, 4), out_dir=tmp_path / "out", cache_dir=tmp_path / "c")
        result = build(plan)
    assert next(s for s in result.stats if s.node == "corpus/write").records_out == 29
    assert stored == [0, 1, 2]
    assert pass_memos(plan, tmp_path / "c") == pass_memos(plan, tmp_path / "c", fresh=True)


def _edit_recipe(tmp: Path, base_url: str, source: list[dict]) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "gen.jsonl").write_text("".join(json.dumps(r) + "\n" for r in source), encoding="utf-8")
    recipe = tmp / "edit.hum.yaml"
    recipe.write_text(f"""hum: 1
name: llm-demo
models:
  writer: {{base_url: {base_url}, model: test-model, concurrency: 8, params: {{temperature: 0.0}}}}
sources:
  gen: gen.jsonl
tasks:
  - id: dolly
    task: generalist
    source: gen
    fields: {{instruction: instruction, context: context, response: response}}
    generate: {{model: writer}}
    formats: [json, text]
    variants_per_record: 2
output:
  splits: {{train: 1.0}}
""", encoding="utf-8")
    return recipe


def test_a_one_percent_source_edit_re_requests_only_the_changed_rows_and_equals_a_cold_build(tmp_path):
    source = [{"instruction": f"Summarise item {i}.", "context": f"Item {i} of the edit test.", "response": ""}
              for i in range(300)]
    edited = [dict(r, instruction=f"Summarise item {i} in one word.") if i % 100 == 0 else r
              for i, r in enumerate(source)]
    work, fresh = tmp_path / "work", tmp_path / "fresh"
    with LLMServer(responder=responder) as srv:
        assert run(_edit_recipe(work, srv.base_url, source), work).exit_code == 0
        cold = srv.request_count
        result = run(_edit_recipe(work, srv.base_url, edited), work)           # same cache, 3 of 300 rows edited
        assert result.exit_code == 0, result.output
        sent = srv.request_count - cold
        assert run(_edit_recipe(fresh, srv.base_url, edited), fresh).exit_code == 0  # cold build of the edited source
    assert cold == 300 and sent == 3
    assert "LLM this build: 3 request(s) sent, 297 cache hit(s)" in result.output
    out = {(r["source_row"], r["answer_format"]): r["output"] for r in rows(work)}
    assert out[100, "text"] == "Generated answer to: Summarise item 100 in one word."   # not the stale answer
    assert json.loads(out[200, "json"]) == {"response": "Generated answer to: Summarise item 200 in one word."}
    assert out[101, "text"] == "Generated answer to: Summarise item 101."
    assert tree_bytes(work / "out" / "llm-demo" / "data") == tree_bytes(fresh / "out" / "llm-demo" / "data")


def _parts_recipe(tmp: Path, base_url: str) -> Path:
    """Two entries behind LLM nodes, 4 slots: NER answers generated (some invalid: dropped by generate, some
    naming a span the text lacks: dropped by render), and generalist answers generated and judged."""
    tmp.mkdir(parents=True, exist_ok=True)
    names = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Zed Quux"]
    sentences = [f"{'INVALID ' if i % 7 == 3 else ''}{names[i % 3]} met {names[(i + 1) % 3]} in room {i} ."
                 for i in range(45)]
    (tmp / "ner.jsonl").write_text("".join(json.dumps({"text": s, "entities": []}) + "\n" for s in sentences))
    (tmp / "gen.jsonl").write_text("".join(json.dumps({"instruction": f"Describe a {c} thing, case {i}.",
                                                       "context": "", "response": ""}) + "\n"
                                           for i, c in enumerate(["purple", "red", "green"] * 15)))
    recipe = tmp / "parts.hum.yaml"
    recipe.write_text(f"""hum: 1
name: parts
models:
  writer: {{base_url: {base_url}, model: test-model, concurrency: 4, max_retries: 2, params: {{max_tokens: 64}}}}
sources: {{ner: ner.jsonl, gen: gen.jsonl}}
tasks:
  - id: ner
    task: ner
    source: ner
    fields: {{text: text, entities: entities}}
    labels: [PER]
    generate: {{model: writer, overwrite: true, attempts: 1}}
    formats: [json, tuples]
  - id: gen
    task: generalist
    source: gen
    fields: {{instruction: instruction, context: context, response: response}}
    generate: {{model: writer}}
    judge: {{model: writer, min_score: 3}}
    formats: [text]
output:
  splits: {{train: 1.0}}
""")
    return recipe


def parts_responder(body: dict) -> str:
    prompt = body["messages"][0]["content"]
    if prompt.startswith("You are a strict reviewer"):
        return json.dumps({"score": 1 if "purple" in prompt else 5, "reason": "ok"})
    if "Reply with JSON only" in prompt:
        if "INVALID" in prompt:
            return '[{"type": "PER"}]'
        text = prompt.split("Text:\n", 1)[1].split("\n", 1)[0]
        room = int(re.search(r"room (\d+)", text).group(1))
        spans = re.findall(r"[A-Z][a-z]+ [A-Z][a-z]+", text) + (["Zed Quux"] if room % 5 == 1 else [])
        return json.dumps([{"type": "PER", "span": s} for s in spans])
    return "An answer."


def test_an_llm_chunk_is_rendered_and_checked_part_by_part_as_its_batches_are_answered(tmp_path, monkeypatch):
    """With 4 slots each chunk is asked in batches of 4; the render and check take each batch as it is answered,
    so after the last answer only the last batch is left. Dropped records, render problems and judge drops land
    exactly as when each chunk is rendered whole: same dataset bytes, same counts, notes and problem locations."""
    import humc.build.execute as execute
    from humc.build.llmsteps import PendingChunk

    monkeypatch.setattr(execute, "CHUNK_SIZE", 20)
    taken: list[int] = []
    real_take = execute.Ahead.take
    monkeypatch.setattr(execute.Ahead, "take", lambda self, part: taken.append(len(part)) or real_take(self, part))
    results = {}
    for name in ("parts", "whole"):
        if name == "whole":
            monkeypatch.delattr(PendingChunk, "parts")
        with LLMServer(responder=parts_responder) as srv:
            plan = plan_recipe(_parts_recipe(tmp_path / name, srv.base_url), out_dir=tmp_path / name / "out",
                               cache_dir=tmp_path / name / "cache")
            result = build(plan)
        metas = {s.node: (s.status, s.records_in, s.records_out, s.notes, s.problems) for s in result.stats}
        card = [line for line in (tmp_path / name / "out" / "parts" / "README.md").read_text().splitlines()
                if "fingerprint" not in line and srv.base_url not in line]  # the server's port differs
        results[name] = (metas, tree_bytes(tmp_path / name / "out" / "parts" / "data"), card)
        if name == "parts":
            assert taken and max(taken) <= 4 and len(taken) > 20, taken  # every part a batch of at most 4 records
    parts, whole = results["parts"], results["whole"]
    assert parts == whole
    metas = parts[0]
    # 6 answers without a span (no `span` key: the wrong shape), 8 with a span not in the text ("Zed Quux"): invalid
    # answers of the generate step, no longer render problems
    assert "span_not_in_text" not in metas["ner/render"][4]
    assert metas["ner/generate"][3]["dropped: invalid output (wrong shape)"] == 6
    assert metas["ner/generate"][3]["dropped: invalid output (span not in the text)"] == 8
    assert metas["gen/judge"][3]["dropped: judge score < 3"] == 15
