"""Why the build-time `generate` / `judge` steps drop a record, named: an answer that stays invalid after its retries is
counted as "invalid output (<kind>)" in the build summary and the card (was "invalid output" alone); a multiple-choice
record without options is dropped unasked (was asked with an empty `enum`, which a strict endpoint refuses); an event's
role is checked against its event type's roles when the entry lists them (`schema: {roles: …}`). Loopback server
(tests/llmserver.py) with scripted answers."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml
from helpers import REPO, build_in, run_cli
from test_realmodel3 import outputs, write_recipe

sys.path.insert(0, str(REPO))
from tests.llmserver import LLMServer  # noqa: E402

DUEE_SCHEMA = REPO / "tests" / "data" / "duee" / "duee_event_schema.json"


def flat(text: str) -> str:
    return " ".join(text.split())


def card(tmp: Path) -> str:
    return flat((tmp / "out" / "rm3" / "README.md").read_text(encoding="utf-8"))


def by_text(replies: dict[str, Any]) -> Any:
    """A responder answering each prompt by the reply of the text it holds (a str as it is, else as JSON)."""
    def respond(body: dict) -> str:
        reply = next(r for text, r in replies.items() if text in body["messages"][0]["content"])
        return reply if isinstance(reply, str) else json.dumps(reply, ensure_ascii=False)
    return respond


def edited(recipe: Path, **top: Any) -> Path:
    """The recipe with top-level keys added (``constants:``)."""
    doc = yaml.safe_load(recipe.read_text(encoding="utf-8"))
    recipe.write_text(yaml.safe_dump({**doc, **top}, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return recipe


# ------------------------------------------------------------------ 1. invalid output, by kind

NER_REPLIES: dict[str, Any] = {
    "Ada Lovelace met Charles Babbage .": {"answers": [{"type": "PER", "span": "Ada Lovelace"}]},
    "Marie Curie lived in Paris .": "Marie Curie is a person.",                           # not JSON
    "Grace Hopper wrote code .": {"answers": [{"type": "PER"}]},                          # no span: wrong shape
    "Alan Turing visited Rome .": {"answers": [{"type": "PERSON", "span": "Alan Turing"}]},   # label outside
    "Bristol beat Gloucestershire .": {"answers": [{"type": "LOC", "span": "183"}]},          # span not in the text
    "Linus Torvalds wrote Linux .": {"answers": [{"type": "PER", "span": ""}]},               # empty span
}
KINDS = ["not JSON", "wrong shape", "label outside the label set", "span not in the text", "empty span"]


def test_an_answer_that_stays_invalid_is_counted_under_its_kind_in_the_summary_and_the_card(tmp_path):
    rows = [{"text": t, "entities": []} for t in NER_REPLIES]
    entry = {"task": "ner", "labels": ["PER", "LOC"], "fields": {"text": "text", "entities": "entities"},
             "formats": ["json"]}
    with LLMServer(responder=by_text(NER_REPLIES)) as srv:
        result = build_in(write_recipe(tmp_path, srv.base_url, rows, entry, "auto"), tmp_path)
        sent = srv.request_count
    assert result.exit_code == 0, result.output
    assert sent == 1 + 1 + 5 * 3  # the probe, the right answer, each wrong one asked 3 times
    summary = flat(result.output)
    assert "gen/generate: 1/6 valid answer(s) (16.7%)" in summary
    assert "dropped " + ", ".join(f"invalid output ({kind}): 1" for kind in KINDS) in summary
    text = card(tmp_path)
    assert "| gen/generate: dropped: invalid output (span not in the text) | 1 |" in text  # Deduplication and filtering
    assert ", ".join(f"invalid output ({kind}): 1" for kind in KINDS) + " |" in text      # the LLM steps' table
    assert "The build-time LLM steps dropped 5 record(s)" in text


def test_a_verdict_whose_score_stays_outside_1_to_5_is_counted_as_such(tmp_path):
    """`Infinity` and `NaN` (which Python's JSON reads) stopped the build with a traceback: int() has no value for
    them."""
    rows = [{"text": "Lakers win the final", "label": "Sports"}, {"text": "Stocks fall", "label": "Business"},
            {"text": "Rain in Spain", "label": "Sports"}, {"text": "Snow in Oslo", "label": "Sports"}]
    entry = {"task": "classification", "labels": ["Sports", "Business"], "fields": {"text": "text", "label": "label"},
             "judge": {"model": "writer", "min_score": 3}}
    replies = {"Lakers": {"reason": "ok", "score": 7}, "Stocks": {"reason": "ok", "score": 4},
               "Rain": '{"reason": "ok", "score": Infinity}', "Snow": '{"reason": "ok", "score": NaN}'}
    with LLMServer(responder=by_text(replies)) as srv:
        recipe = write_recipe(tmp_path, srv.base_url, rows, entry, "auto")
        recipe.write_text(recipe.read_text().replace("  generate:\n    model: writer\n    overwrite: true\n", ""))
        result = build_in(recipe, tmp_path)
    assert result.exit_code == 0, result.output
    assert outputs(tmp_path) == ["Business"]
    assert "dropped judge invalid output (score outside 1-5): 3" in flat(result.output)
    assert "judge invalid output (score outside 1-5): 3" in card(tmp_path)


# ------------------------------------------------------------------ 2. multiple choice without options

MC_ROWS = [{"context": "", "question": "Which tool measures mass?", "options": ["a ruler", "a balance"], "answer": ""},
           {"context": "", "question": "Which colour is the sky?", "options": [], "answer": ""},
           {"context": "", "question": "Which fruit is red?", "options": None, "answer": ""}]
MC_FIELDS = {name: name for name in ("context", "question", "options", "answer")}


def test_a_multiple_choice_record_without_options_is_dropped_unasked_with_its_reason(tmp_path):
    """It was asked with `{"answer": {"enum": []}}`, which vLLM's guided decoding and OpenAI's strict mode refuse
    (HTTP 400: dropped as "request rejected"); as free text it was asked a question no answer could fit."""
    for mode, behaviour in (("json_schema", "json_schema"), ("off", "none")):
        tmp = tmp_path / mode
        tmp.mkdir()
        answer = (lambda body: '{"answer": "B"}') if mode != "off" else (lambda body: "B")
        with LLMServer(responder=answer, structured=behaviour) as srv:
            entry = {"task": "mrc_multiple_choice", "fields": MC_FIELDS}
            result = build_in(write_recipe(tmp, srv.base_url, MC_ROWS, entry, mode), tmp)
            asked = [r.json for r in srv.received if "Which" in json.dumps(r.json, ensure_ascii=False)]
            statuses = [r.status for r in srv.received]
        assert result.exit_code == 0, result.output
        assert outputs(tmp) == ["B"]
        assert len(asked) == 1 and "mass" in asked[0]["messages"][0]["content"] and set(statuses) == {200}
        summary = flat(result.output)
        assert "gen/generate: 1/1 valid answer(s) (100.0%)" in summary, mode
        assert "dropped no options to choose from: 2" in summary
        assert "no options to choose from: 2 |" in card(tmp)
        assert "request rejected" not in summary


def test_a_strict_server_refuses_an_empty_enum(tmp_path):
    """What the loopback server models (and the step no longer sends)."""
    from openai import BadRequestError, OpenAI

    schema = {"type": "object", "properties": {"answer": {"type": "string", "enum": []}}}
    with LLMServer() as srv:
        client = OpenAI(base_url=srv.base_url, api_key="x")
        try:
            client.chat.completions.create(model="test-model", messages=[{"role": "user", "content": "hi"}],
                                           response_format={"type": "json_schema",  # type: ignore[arg-type]
                                                            "json_schema": {"name": "a", "schema": schema}})
        except BadRequestError as exc:
            assert "'enum' must have at least one value" in str(exc)
        else:
            raise AssertionError("an empty enum was accepted")


def test_options_mapped_to_a_constant_that_is_no_list_of_options_is_a_compile_error(tmp_path):
    for constant in ("[]", "null", '"A;B"'):
        recipe = write_recipe(tmp_path, "http://127.0.0.1:9/v1", MC_ROWS, {"task": "mrc_multiple_choice",
                              "fields": {**MC_FIELDS, "options": constant}}, "off")
        result = run_cli("check", str(recipe))
        line = next(n for n, text in enumerate(recipe.read_text().splitlines(), 1) if "options:" in text)
        assert result.exit_code == 2, result.output
        assert f"rm3.hum.yaml:{line}:" in result.output and "error[E2010]" in result.output
        assert f"field 'options' of task 'gen' is the constant {constant}: no record has options to choose from" \
               in result.output


# ------------------------------------------------------------------ 3. roles of each event type

CRASH = "5月8日，一列火车在陕西发生事故，造成3人死亡。"
STOCK = "周一，某公司股票跌停。"


def _duee_recipe(tmp: Path, base_url: str, roles: Any) -> Path:
    shutil.copy(DUEE_SCHEMA, tmp / "duee_event_schema.json")
    rows = [{"text": CRASH, "event_list": []}, {"text": STOCK, "event_list": []}]
    entry = {"task": "ee", "language": "zh", "guidelines": ["duee_events"], "formats": ["json"],
             "fields": {"text": "text", "events": "duee_events(event_list)"}, "schema": {"roles": roles}}
    recipe = write_recipe(tmp, base_url, rows, entry, "auto")
    return edited(recipe, constants={"duee_schema": {"file": "duee_event_schema.json"}})


def test_a_generated_role_outside_its_event_types_roles_is_dropped_with_that_reason(tmp_path):
    """DuEE's schema file gives each of its 65 event types its roles; `收购方` (a buyer) is no role of a limit-down
    (财经/交易-跌停: 时间, 跌停股票), so that answer is asked again with that type's roles, then dropped. The prompt does
    not list every type's roles (SmolLM2's 4,096-token context could not hold them)."""
    replies = {CRASH: {"answers": [{"event_type": "灾害/意外-坍/垮塌", "trigger": "事故", "role": "死亡人数",
                                    "argument": "3人"}]},
               STOCK: {"answers": [{"event_type": "财经/交易-跌停", "trigger": "跌停", "role": "收购方",
                                    "argument": "某公司"}]}}
    with LLMServer(responder=by_text(replies)) as srv:
        result = build_in(_duee_recipe(tmp_path, srv.base_url, "duee_schema"), tmp_path)
        asked = [r.json for r in srv.received if STOCK in json.dumps(r.json, ensure_ascii=False)]
    assert result.exit_code == 0, result.output
    assert len(asked) == 3
    prompt = asked[0]["messages"][0]["content"]
    assert "Use only these labels for event_type:" in prompt and "跌停股票" not in prompt
    assert "role '收购方' is not a role of the event type '财经/交易-跌停': use one of 时间, 跌停股票" \
           in asked[1]["messages"][-1]["content"]
    summary = flat(result.output)
    assert "gen/generate: 1/2 valid answer(s)" in summary
    assert "dropped invalid output (role outside the event type's roles): 1" in summary
    assert "invalid output (role outside the event type's roles): 1 |" in card(tmp_path)


def test_eea_roles_are_checked_against_the_records_own_event_type_from_an_inline_map(tmp_path):
    rows = [{"text": STOCK, "event_type": "财经/交易-跌停", "trigger": "跌停", "arguments": []},
            {"text": CRASH, "event_type": "灾害/意外-坍/垮塌", "trigger": "事故", "arguments": []}]
    roles = {"财经/交易-跌停": ["时间", "跌停股票"], "灾害/意外-坍/垮塌": ["时间", "死亡人数"]}
    entry = {"task": "eea", "language": "zh", "formats": ["json"], "schema": {"roles": roles},
             "fields": {"text": "text", "event_type": "event_type", "trigger": "trigger", "arguments": "arguments"}}
    replies = {STOCK: {"answers": [{"role": "跌停股票", "argument": "某公司"}]},
               CRASH: {"answers": [{"role": "跌停股票", "argument": "火车"}]}}  # a role of another event type
    with LLMServer(responder=by_text(replies)) as srv:
        result = build_in(write_recipe(tmp_path, srv.base_url, rows, entry, "auto"), tmp_path)
        crash = next(r.json for r in srv.received if CRASH in json.dumps(r.json, ensure_ascii=False))
    assert result.exit_code == 0, result.output
    prompt = crash["messages"][0]["content"]
    assert "Use only these roles for 灾害/意外-坍/垮塌: 时间, 死亡人数." in prompt and "跌停股票" not in prompt
    summary = flat(result.output)
    assert "gen/generate: 1/2 valid answer(s)" in summary
    assert "dropped invalid output (role outside the event type's roles): 1" in summary


def test_roles_of_an_unknown_structure_or_on_a_task_without_roles_are_compile_errors(tmp_path):
    cases = [  # (roles, constants, what the error says)
        (["时间", "地点"], None, "`schema: {roles: …}` has an unknown structure: item 1 is not an object with "
                               "'event_type' and 'role_list'"),
        ("event_types", {"event_types": {"file": "duee_event_schema.json", "key": "event_type"}},
         "constant 'event_types' has an unknown structure: item 1 is not an object"),
        ({"财经/交易-跌停": "时间"}, None, "the roles of '财经/交易-跌停' are not a list of role names"),
        ("duee_shema", {"duee_schema": {"file": "duee_event_schema.json"}}, "`roles: duee_shema` names no constant"),
    ]
    for roles, constants, message in cases:
        recipe = _duee_recipe(tmp_path, "http://127.0.0.1:9/v1", roles)
        if constants is not None:
            recipe = edited(recipe, constants=constants)
        result = run_cli("check", str(recipe))
        line = next(n for n, text in enumerate(recipe.read_text().splitlines(), 1) if "roles:" in text)
        assert result.exit_code == 2, result.output
        assert f"rm3.hum.yaml:{line}:" in result.output and "error[E0008]" in result.output, result.output
        assert message in flat(result.output), result.output
    assert "did you mean 'duee_schema'?" in result.output
    ner = write_recipe(tmp_path, "http://127.0.0.1:9/v1", [{"text": "Ada", "entities": []}],
                       {"task": "ner", "fields": {"text": "text", "entities": "entities"},
                        "formats": ["json"], "schema": {"roles": {"PER": ["x"]}}}, "off")
    result = run_cli("check", str(ner))
    assert result.exit_code == 2 and "error[E0008]" in result.output
    assert "task 'ner' has no argument roles" in result.output
