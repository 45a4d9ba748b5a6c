"""Structured outputs: each LLM step sends its answer schema in the form the server accepts.

`structured_output: auto` is detected against the three server behaviours of tests/llmserver.py
(accepts json_schema like vLLM / only json_object + schema like llama.cpp / no response_format at all),
once per endpoint and model, and stored in the LLM cache; a forced form the server rejects is E4303.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace

import pytest
from helpers import REPO, run_cli, tiny_recipe
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(REPO))
from humc.llm.client import LLMClient, LLMRequest, ModelConfig, cache_key, open_cache  # noqa: E402
from humc.llm.structured import VERDICT_SCHEMA, answer_schema, response_format  # noqa: E402
from tests.llmserver import LLMServer  # noqa: E402
from tests.test_llm_build import responder, write_recipe  # noqa: E402


def _form(srv: LLMServer, cache_dir, mode: str = "auto") -> str:
    with open_cache(cache_dir) as cache:
        return LLMClient(ModelConfig("m", srv.base_url, "test-model", structured_output=mode, backoff_base=0.01),
                         cache).structured_form()


@pytest.mark.parametrize(("behaviour", "form", "probes"), [
    ("json_schema", "json_schema", 1),                  # OpenAI, vLLM, SGLang, Ollama /v1
    ("json_object+schema", "json_object+schema", 3),    # llama.cpp: json_schema refused with a 500, asked twice
    ("none", "off", 3),                                 # json_schema, json_object + schema, json_object: all 400
])
def test_auto_detects_what_the_server_accepts_once_and_remembers_it(tmp_path, behaviour, form, probes):
    with LLMServer(structured=behaviour) as srv:
        assert _form(srv, tmp_path / "llm") == form
        assert srv.request_count == probes
        assert _form(srv, tmp_path / "llm") == form     # a second build reads the stored answer
        assert srv.request_count == probes


def test_each_step_sends_its_schema_in_the_detected_form_and_the_answers_build(tmp_path):
    with LLMServer(responder=responder, structured="json_object+schema") as srv:
        result = run_cli("build", str(write_recipe(tmp_path, srv.base_url)), "--out", str(tmp_path / "out"),
                         "--cache", str(tmp_path / "cache"))
        assert result.exit_code == 0, result.output
        formats = [r.json.get("response_format") for r in srv.received if r.status == 200]
    verdict = {"type": "json_object", "schema": VERDICT_SCHEMA}
    ner = {"type": "json_object", "schema": answer_schema(("type", "span"), "many", {"type": ["PER", "LOC"]}, spans=["span"])}
    assert formats.count(verdict) == 8 and formats.count(ner) == 6
    assert formats.count(None) == 4                     # free-text answers (generalist) carry no schema
    assert "dolly/judge: 8/8 valid answer(s) (100.0%), structured output json_object+schema" in result.output
    assert "scores 1:0 2:1 3:0 4:0 5:7; min_score 4 dropped 1 (12.5%)" in result.output
    assert "ner/generate: 3/4 valid answer(s) (75.0%)" in result.output
    card = (tmp_path / "out" / "llm-demo" / "README.md").read_text()
    assert ("| dolly/judge | json_object+schema | 8/8 (100.0%) |  | 1:0 2:1 3:0 4:0 5:7 | score < 4: 1 (12.5%) | "
            "judge score < 4: 1 |") in card  # a judge writes no answer: its "answers written by the model" cell is empty


def test_a_forced_form_the_server_rejects_stops_the_build_before_any_record(tmp_path):
    with LLMServer(responder=responder, structured="json_object+schema") as srv:
        recipe = write_recipe(tmp_path, srv.base_url, extra_model="    structured_output: json_schema")
        result = run_cli("build", str(recipe), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
        schema_requests = [r for r in srv.received if (r.json.get("response_format") or {}).get("type") == "json_schema"]
    assert result.exit_code == 2
    assert "error[E4303]" in result.output and "does not accept structured_output json_schema" in result.output
    assert "literal_error" in result.output and "structured_output: auto" in result.output
    assert len(schema_requests) == 2 and not (tmp_path / "out").exists()


def test_an_unknown_structured_output_is_refused_at_its_line(tmp_path):
    recipe = write_recipe(tmp_path, "http://127.0.0.1:9/v1", extra_model="    structured_output: json_shema")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 2
    assert "error[E0008]" in result.output and "unknown structured_output 'json_shema'" in result.output
    assert "did you mean 'json_schema'" in result.output


def test_the_form_is_part_of_the_cache_key_and_the_url_is_not():
    cfg = ModelConfig("m", "http://a/v1", "model-x")
    other_url = ModelConfig("m", "http://b/v1", "model-x")
    msgs = [{"role": "user", "content": "rate this"}]
    keys = {form: cache_key(cfg, LLMRequest(msgs, response_format=response_format(form, "verdict", VERDICT_SCHEMA)))
            for form in ("json_schema", "json_object+schema", "json_object", "off")}
    assert len(set(keys.values())) == 4
    rf = response_format("json_schema", "verdict", VERDICT_SCHEMA)
    assert cache_key(other_url, LLMRequest(msgs, response_format=rf)) == keys["json_schema"]
    assert rf == {"type": "json_schema", "json_schema": {"name": "verdict", "schema": VERDICT_SCHEMA, "strict": True}}
    assert json.dumps(answer_schema(("type", "span"), "many"))  # a plain JSON document


def test_synth_asks_for_its_proposal_shape_as_a_schema(tmp_path):
    from tests.test_synth import RECIPE, SYNTH
    from tests.test_synth import responder as synth_responder

    with LLMServer(responder=synth_responder) as srv:
        models = f"models:\n  writer:\n    base_url: {srv.base_url}\n    model: test-model\n    max_retries: 0"
        path = tmp_path / "ner_synth.hum.yaml"
        from helpers import copy_recipes
        root = copy_recipes(tmp_path)
        path = root / "ner_synth.hum.yaml"
        path.write_text(RECIPE.format(models=models, synth=SYNTH), encoding="utf-8")
        result = run_cli("synth", str(path), "--cache", str(tmp_path / "cache"))
        names = {r.json["response_format"]["json_schema"]["name"] for r in srv.received if r.json.get("response_format")}
    assert result.exit_code == 0, result.output
    assert names == {"probe", "paraphrases", "definitions", "rules"}
    assert "structured output json_schema" in result.output and "valid answers: guideline 1/1, rule 1/1, template 2/3" in result.output


def test_a_bare_off_is_off_although_yaml_reads_it_as_false(tmp_path):
    from humc.build.compiler import load_recipe

    recipe = write_recipe(tmp_path, "http://127.0.0.1:9/v1", extra_model="    structured_output: off")
    assert load_recipe(recipe).models["writer"].structured_output == "off"


def test_structured_rule_proposals_are_valid_by_construction_and_become_pipeline_text(tmp_path):
    """Under structured output a rule's `then` is a list of operation objects whose names and columns are enums,
    so a constrained decoder cannot invent an operation; humc joins them into the pipeline the lockfile keeps."""
    import jsonschema

    from humc.assets.synth import WHEN_CHOICES, pipeline_text, structured_rules_schema
    from tests.test_synth import RECIPE
    from tests.test_synth import responder as synth_responder

    schema = structured_rules_schema(("type", "span"))
    good = {"rules": [{"text": "Once each, in order.", "when": "",
                       "then": [{"op": "dedupe"}, {"op": "sort_by_position", "column": "span"}]},
                      {"text": "Say none.", "when": "len(answer) == 0", "then": [{"op": "empty_as", "value": "none"}]}]}
    jsonschema.validate(good, schema)
    for bad in ([{"op": "reverse_rows"}], [{"op": "sort_by", "column": "kind"}], [{"op": "dedupe", "column": "span"}], []):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"rules": [{"text": "x", "when": "", "then": bad}]}, schema)
    assert "len(answer) == 0" in WHEN_CHOICES
    assert pipeline_text(good["rules"][0]["then"]) == 'dedupe | sort_by_position("span")'
    assert pipeline_text("dedupe") == "dedupe"  # free text (form off) is checked as written

    def structured(body: dict) -> str:
        rf = body.get("response_format") or {}
        if rf.get("json_schema", {}).get("name") == "rules":
            jsonschema.validate(good, rf["json_schema"]["schema"])
            return json.dumps(good)
        return synth_responder(body)

    with LLMServer(responder=structured) as srv:
        from helpers import copy_recipes
        root = copy_recipes(tmp_path)
        path = root / "ner_synth.hum.yaml"
        models = f"models:\n  writer:\n    base_url: {srv.base_url}\n    model: test-model\n    max_retries: 0"
        path.write_text(RECIPE.format(models=models, synth="    synth: {model: writer, rules: 2}"), encoding="utf-8")
        result = run_cli("synth", str(path), "--cache", str(tmp_path / "cache"))
    assert result.exit_code == 0, result.output
    assert "valid answers: rule 1/1" in result.output
    lock = (root / "ner_synth.hum.lock").read_text()
    assert "then: dedupe | sort_by_position(\"span\")" in lock and "then: empty_as(\"none\")" in lock


def _schemas() -> list[dict]:
    from humc.assets.synth import RULES_SCHEMA, TemplateWording, definitions_schema, paraphrase_schema, structured_rules_schema

    return [VERDICT_SCHEMA, answer_schema(("type", "span"), "many"), answer_schema(("answer",), "one"), RULES_SCHEMA,
            structured_rules_schema(("head", "relation", "tail")), definitions_schema(["DATE", "TIME"]),
            paraphrase_schema(TemplateWording.of("Read {{ text }}. Then answer."), 2)]


_json = st.recursive(st.none() | st.booleans() | st.integers(-3, 6) | st.sampled_from(
    ["", "x", "span", "dedupe", "sort_by", "head", "len(answer) == 0", "DATE", "1", "2"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(
        ["score", "reason", "answers", "type", "span", "answer", "rules", "text", "then", "when", "op", "column",
         "value", "DATE", "TIME", "paraphrases", "1", "2"]), inner, max_size=4), max_leaves=12)


@given(schema_index=st.integers(0, 6), value=_json)
@settings(max_examples=400, deadline=None)
def test_conforms_agrees_with_jsonschema_on_every_answer_schema(schema_index, value):
    """The well-formedness measure the synth report prints is JSON Schema validation, for humc's own schemas."""
    import jsonschema

    from humc.llm.structured import conforms

    schema = _schemas()[schema_index]
    assert conforms(value, schema) == jsonschema.Draft202012Validator(schema).is_valid(value)


def test_conforms_accepts_what_each_schema_describes():
    from humc.llm.structured import conforms

    verdict, rows, one, rules, structured, definitions, paraphrases = _schemas()
    assert conforms({"reason": "fine", "score": 5}, verdict) and not conforms({"reason": "fine", "score": 6}, verdict)
    assert conforms({"answers": [{"type": "PER", "span": "Ann"}]}, rows) and not conforms({"answers": [{"type": "PER"}]}, rows)
    assert conforms({"rules": [{"text": "t", "then": [{"op": "sort_by", "column": "head"}], "when": ""}]}, structured)
    assert not conforms({"rules": [{"text": "t", "then": [{"op": "sort_by", "column": "span"}], "when": ""}]}, structured)
    assert conforms({"DATE": "d", "TIME": "t"}, definitions) and not conforms({"DATE": "d"}, definitions)
    assert not conforms({"paraphrases": [{"1": "a", "2": "b"}]}, paraphrases)  # two asked


def test_the_server_recipes_in_docs_llm_compile_and_get_the_form_their_comment_promises(tmp_path, monkeypatch):
    """docs/llm.md's `models:` entry for each common server is a valid recipe block, and against a loopback server
    that behaves like that server, `auto` (or the forced form) resolves to the form its comment names."""
    import re

    import yaml

    from humc.build.compiler import load_recipe

    doc = (REPO / "docs" / "llm.md").read_text()
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", doc, re.S) if "sglang:" in b)
    promised = dict(re.findall(r"^  (\w+):.*# (json_schema|json_object \+ schema)", block, re.M))
    assert set(promised) == {"vllm", "sglang", "llamacpp", "ollama", "openai"}
    behaviour = {"json_schema": "json_schema", "json_object + schema": "json_object+schema"}
    models = yaml.safe_load(block)["models"]
    (tmp_path / "data.jsonl").write_text("", encoding="utf-8")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")  # the openai entry names the variable that holds its key
    for alias, form in promised.items():
        with LLMServer(structured=behaviour[form], models=None) as srv:
            entry = dict(models[alias], base_url=srv.base_url)
            recipe = tmp_path / f"{alias}.hum.yaml"
            recipe.write_text(tiny_recipe() + yaml.safe_dump({"models": {alias: entry}}), encoding="utf-8")
            config = load_recipe(recipe).models[alias]
            with open_cache(tmp_path / alias) as cache:
                got = LLMClient(replace(config, backoff_base=0.01), cache).structured_form()
        assert got == behaviour[form], alias
