"""Validation of a recipe's LLM parts: `models:`, and per task `synth:`, `generate:` and `judge:`.

    models:
      writer:
        base_url: http://127.0.0.1:8000/v1     # any OpenAI-compatible server (vLLM, SGLang, TGI, Ollama…)
        model: Qwen/Qwen2.5-7B-Instruct
        params: {temperature: 0.7, max_tokens: 512}
        concurrency: 16                          # requests in flight
        api_key_env: OPENAI_API_KEY              # the key itself is only ever read from the environment
        structured_output: auto                  # auto | json_schema | json_object | off (docs/llm.md)
    tasks:
      - id: dolly
        synth: {model: writer, paraphrases: 2, guidelines: true, rules: 1, hard_negatives: true, examples: 2}
        generate: {model: writer}                # fill empty answers
        judge: {model: writer, min_score: 4}     # keep records the judge scores >= 4

Secrets (E2013, ``SecretError``: located, but the line is never quoted): `api_key`-like keys, an
`api_key_env` that is not a variable name or looks like a key, credentials in `base_url` and key-like
`params` are refused, because the recipe text is published on the dataset card.
"""

from __future__ import annotations

import difflib
import math
import re
from typing import Any

from humc.errors import LLMError, RecipeError, SecretError, Span, did_you_mean, type_name
from humc.ir import LLMStep, SynthSpec, TaskDef
from humc.llm.client import (
    BASE_URL_EXPECTED,
    ModelConfig,
    api_key_env_problem,
    base_url_hint,
    base_url_problem,
    looks_like_secret,
)
from humc.llm.structured import MODES
from humc.recipe.nodes import check_keys, expect_kind, opt, req, text_origin
from humc.recipe.yamlsrc import Node
from humc.templating import template_problem

MODEL_KEYS = ["base_url", "model", "params", "concurrency", "max_retries", "timeout", "api_key_env", "structured_output"]
STRUCTURED_MODES = MODES  # structured_output: auto | json_schema | json_object | off (humc.llm.structured)
SECRET_KEYS = ("api_key", "key", "token", "password", "authorization")
SYNTH_KEYS = ["model", "paraphrases", "guidelines", "rules", "hard_negatives", "examples", "seed"]
GENERATE_KEYS = ["model", "prompt", "field", "overwrite", "attempts"]
JUDGE_KEYS = ["model", "prompt", "min_score", "attempts"]
# integer settings of the LLM steps: key -> (lowest, highest, default)
COUNT_RANGES: dict[str, tuple[int, int, int]] = {"paraphrases": (0, 20, 0), "rules": (0, 20, 0), "examples": (0, 20, 0),
                                                  "attempts": (1, 10, 3),
                                                  "min_score": (1, 5, 4)}


def parse_models(node: Node | None) -> dict[str, ModelConfig]:
    if node is None:
        return {}
    expect_kind(node, "mapping", what="models")
    return {name: _model(name, item) for name, item in node.value.items()}


def declared_models(node: Node | None) -> dict[str, ModelConfig]:
    """Stand-ins for the models `models:` declares, used when one of them has an error of its own: that error is
    reported once, at the model, and the steps that name a declared model are not refused as naming an unknown one.
    A recipe with an error is never built, so no stand-in is ever asked."""
    if node is None or node.kind != "mapping":
        return {}
    return {str(name): ModelConfig(name=str(name), base_url="http://127.0.0.1/v1", model="(declared with an error)")
            for name in node.value}


def _model(name: str, node: Node) -> ModelConfig:
    what = f"model '{name}'"
    expect_kind(node, "mapping", what=what)
    for key in SECRET_KEYS:
        if node.get(key) is not None:
            raise _secret(f"{what}: API keys never go in a recipe", node.key_spans[key])
    check_keys(node, MODEL_KEYS, what, required=["base_url", "model"])
    _check_secrets(node, what)
    url = node.get("base_url")
    problem = base_url_problem(url.value) if url is not None and isinstance(url.value, str) else None
    if url is not None and problem:
        raise RecipeError(f"{what}: base_url {problem}", url.span, code="E0008", expected=BASE_URL_EXPECTED,
                          hint=base_url_hint(url.value))
    params = opt(node, "params", "mapping", what, {}) or {}
    notes = _check_params(node.get("params"), params, what)
    timeout = node.get("timeout")
    if timeout is not None and (not isinstance(timeout.value, (int, float)) or isinstance(timeout.value, bool)
                                or not 0 < timeout.value < math.inf):
        raise RecipeError(f"{what}: 'timeout' must be a positive number of seconds", timeout.span, code="E0008")
    mode = node.get("structured_output")
    if mode is not None and mode.value is False:  # YAML 1.1 reads a bare `off` as false
        mode.value = "off"
    if mode is not None and mode.value not in MODES:
        raise RecipeError(f"{what}: unknown structured_output {mode.value!r}", mode.span, expected=" | ".join(MODES),
                          hint=did_you_mean(str(mode.value), MODES), code="E0008")
    for key in ("concurrency", "max_retries"):
        child = node.get(key)
        if child is not None and (type(child.value) is not int or child.value < (1 if key == "concurrency" else 0)):
            raise RecipeError(f"{what}: '{key}' must be a {'positive' if key == 'concurrency' else 'non-negative'} integer",
                              child.span, code="E0008")
    try:
        return ModelConfig.from_dict(name, {k: v for k, v in {
            "base_url": req(node, "base_url", "string", what), "model": req(node, "model", "string", what),
            "params": dict(params), "concurrency": opt(node, "concurrency", "integer", what),
            "max_retries": opt(node, "max_retries", "integer", what),
            "timeout": opt(node, "timeout", "number", what),
            "api_key_env": opt(node, "api_key_env", "string", what),
            "structured_output": opt(node, "structured_output", "string", what), "span": node.span,
            "notes": notes}.items() if v is not None})
    except LLMError as exc:
        raise RecipeError(exc.message, node.span, expected=exc.expected, hint=exc.hint) from None


def _secret(message: str, span: Span) -> SecretError:
    return SecretError(message, span, expected="`api_key_env: NAME_OF_ENV_VAR` (default OPENAI_API_KEY)",
                       hint="remove the key from the recipe (revoke it if the recipe was shared) and export it in "
                            "the environment: the key is then never cached, logged or written")


def _check_secrets(node: Node, what: str) -> None:
    """A key pasted into the recipe would be published with it (the card quotes the recipe): refuse it, and
    never echo it back (``SecretError`` does not quote the line)."""
    env = node.get("api_key_env")
    if env is not None and isinstance(env.value, str):
        problem = api_key_env_problem(env.value)
        if problem:
            raise _secret(f"{what}: 'api_key_env' {problem}", env.span)
    url = node.get("base_url")
    if url is not None and isinstance(url.value, str) and re.search(r"//[^/?#]*@", url.value):
        raise _secret(f"{what}: 'base_url' carries credentials (user:password@)", url.span)
    params = node.get("params")
    if params is not None and params.kind == "mapping":
        for key, value in params.value.items():
            if key.lower() in SECRET_KEYS or (isinstance(value.value, str) and looks_like_secret(value.value)):
                raise _secret(f"{what}: API keys never go in a recipe (params '{key}')", params.key_spans[key])


RESERVED_PARAMS = ("model", "messages", "stream", "n", "response_format", "tools")
# request fields of the OpenAI chat API and of the servers that extend it (vLLM, llama.cpp, TGI, SGLang): a params key
# that is none of these but close to one is a typo (sent as it is, most servers ignore it); any other key passes
KNOWN_PARAMS = ("temperature", "top_p", "top_k", "min_p", "typical_p", "max_tokens", "max_completion_tokens",
                "min_tokens", "seed", "stop", "stop_token_ids", "presence_penalty", "frequency_penalty",
                "repetition_penalty", "length_penalty", "logit_bias", "logprobs", "top_logprobs", "best_of",
                "reasoning_effort", "service_tier", "user", "metadata", "store", "ignore_eos", "skip_special_tokens",
                "include_stop_str_in_output", "chat_template_kwargs", "guided_json", "guided_regex", "guided_choice",
                "guided_grammar", "grammar", "json_schema", "mirostat", "mirostat_tau", "mirostat_eta", "tfs_z",
                "n_probs", "cache_prompt", "repeat_penalty", "repeat_last_n", "dry_multiplier", "xtc_probability",
                "truncate_prompt_tokens", "parallel_tool_calls", "tool_choice", "add_special_tokens",
                "spaces_between_special_tokens", "prompt_logprobs", "penalty_last_n", "n_predict", "n_keep",
                "dry_base", "dry_allowed_length", "dry_penalty_last_n", "xtc_threshold", "top_n_sigma",
                "dynatemp_range", "dynatemp_exponent", "top_a", "num_predict", "num_ctx",
                # text-generation-webui, TabbyAPI, KoboldCpp
                "temperature_last", "repetition_penalty_range", "encoder_repetition_penalty", "typical", "mirostat_mode",
                "temp_exponent", "max_temp", "min_temp", "dynatemp_low", "dynatemp_high", "smoothing_factor",
                "no_repeat_ngram_size", "penalty_alpha", "epsilon_cutoff", "eta_cutoff", "tfs", "ban_eos_token",
                "add_bos_token", "banned_strings", "rep_pen", "rep_pen_range", "dry_sequence_breakers")


def _check_params(node: Node | None, params: dict[str, Any], what: str) -> tuple[str, ...]:
    """Sampling parameters only: the model id, the prompt and streaming are humc's to set. What to tell about the
    others: a key close to a request field it is not (`temprature`) is likely a typo that a server would ignore; it
    is still sent (a server's own field may look like one)."""
    notes = []
    for key, value in params.items():
        span = node.key_spans[key] if node is not None else None
        if key in RESERVED_PARAMS:
            raise RecipeError(f"{what}: '{key}' cannot be set in params", span,
                              expected="sampling parameters such as temperature, top_p, max_tokens, seed", code="E0008")
        if isinstance(value, float) and not math.isfinite(value):
            raise RecipeError(f"{what}: params '{key}' must be a finite number", span, code="E0008")
        odd = _unsendable(node.value[key]) if node is not None else None
        if odd is not None:  # a date or !!binary bytes: no JSON request can hold it (humc synth failed sending it)
            raise RecipeError(f"{what}: params '{key}' holds {type_name(odd.value)} {str(odd.value)!r}, which a JSON request "
                              "cannot carry", odd.span, expected="text, numbers, booleans, null, lists and mappings",
                              code="E0007", hint="quote it if it is meant as text")
        wanted = _param_problem(key, value)
        if wanted:
            raise RecipeError(f"{what}: params '{key}' must be {wanted}, not {type_name(value)} {value!r}", span,
                              code="E0008")
        close = difflib.get_close_matches(key, KNOWN_PARAMS, n=1, cutoff=0.8) if key not in KNOWN_PARAMS else []
        if close:
            notes.append(f"{span}: {what}: params '{key}' is no request field humc knows: did you mean "
                         f"'{close[0]}'? (it is sent as written; most servers ignore a field they do not know)")
    return tuple(notes)


# the sampling parameters every server reads as numbers, with the least value each takes (None: any)
NUMBER_PARAMS = {"temperature": 0, "top_p": 0, "min_p": 0, "typical_p": 0, "presence_penalty": None,
                 "frequency_penalty": None, "repetition_penalty": 0}
INTEGER_PARAMS = {"max_tokens": 1, "max_completion_tokens": 1, "min_tokens": 0, "seed": None, "top_k": None,
                  "top_logprobs": 0, "n_predict": None, "best_of": 1}


def _param_problem(key: str, value: Any) -> str | None:
    """What a well-known sampling parameter must be, when ``value`` is not that (`temperature: hot`, `max_tokens: 0`):
    a server would refuse the first request, or every one of them; else None. Null is not sent (``merged_params``)."""
    if value is None:
        return None
    if key in NUMBER_PARAMS:
        least, kind, ok = NUMBER_PARAMS[key], "a number", isinstance(value, (int, float))
    elif key in INTEGER_PARAMS:
        least, kind, ok = INTEGER_PARAMS[key], "an integer", isinstance(value, int)
    else:
        return None
    if isinstance(value, bool) or not ok or (least is not None and value < least):
        return kind + (f" >= {least}" if least is not None else "")
    return None


def _unsendable(node: Node) -> Node | None:
    """The first value under ``node`` that is no JSON value (a YAML date, `!!binary` bytes), or None."""
    if isinstance(node.value, dict):
        return next((odd for child in node.value.values() if (odd := _unsendable(child)) is not None), None)
    if isinstance(node.value, list):
        return next((odd for child in node.value if (odd := _unsendable(child)) is not None), None)
    return None if node.value is None or isinstance(node.value, (str, int, float)) else node


def _model_ref(node: Node, what: str, models: dict[str, ModelConfig]) -> str:
    name: str = req(node, "model", "string", what)
    if name not in models:
        raise RecipeError(f"{what}: unknown model '{name}'", node.require("model").span,
                          expected="a model declared under `models:`" + (f" ({', '.join(models)})" if models else ""),
                          hint=did_you_mean(name, models) if models else "declare it: models: {writer: {base_url: …, model: …}}",
                          code="E2009")
    return name


def _count(node: Node, key: str, what: str) -> int:
    low, high, default = COUNT_RANGES[key]
    value: int = opt(node, key, "integer", what, default)
    if not low <= value <= high:
        raise RecipeError(f"{what}: '{key}' must be between {low} and {high}", node.require(key).span, code="E0008")
    return value


def parse_synth(node: Node | None, models: dict[str, ModelConfig], what: str) -> SynthSpec | None:
    if node is None:
        return None
    what = f"'synth' of {what}"
    check_keys(node, SYNTH_KEYS, what, required=["model"])
    spec = SynthSpec(model=_model_ref(node, what, models), paraphrases=_count(node, "paraphrases", what),
                     guidelines=bool(opt(node, "guidelines", "boolean", what, False)),
                     rules=_count(node, "rules", what), seed=opt(node, "seed", "integer", what, 0),
                     hard_negatives=bool(opt(node, "hard_negatives", "boolean", what, False)),
                     examples=_count(node, "examples", what))
    if not (spec.paraphrases or spec.guidelines or spec.rules or spec.hard_negatives or spec.examples):
        raise RecipeError(f"{what} asks for nothing", node.span,
                          expected="paraphrases: N, guidelines: true, rules: N, hard_negatives: true and/or examples: N",
                          code="E0006")
    return spec


def parse_generate(node: Node | None, models: dict[str, ModelConfig], task: TaskDef, fields: list[str],
                   what: str) -> LLMStep | None:
    if node is None:
        return None
    what = f"'generate' of {what}"
    check_keys(node, GENERATE_KEYS, what, required=["model"])
    field = opt(node, "field", "string", what, task.answer_field)
    if field in task.inputs:
        raise RecipeError(f"{what}: '{field}' is an input of task '{task.id}', not an answer", node.require("field").span,
                          expected=f"the answer field '{task.answer_field}' (the default)", code="E2010")
    if field not in fields:
        raise RecipeError(f"{what}: field '{field}' is not mapped in `fields:`", node.require("field").span,
                          expected="one of: " + ", ".join(fields), hint=did_you_mean(field, fields), code="E2010")
    prompt, origin = _prompt(node, what)
    return LLMStep("generate", _model_ref(node, what, models), prompt=prompt, prompt_origin=origin, field=field,
                   overwrite=bool(opt(node, "overwrite", "boolean", what, False)), attempts=_count(node, "attempts", what))


def parse_judge(node: Node | None, models: dict[str, ModelConfig], what: str) -> LLMStep | None:
    if node is None:
        return None
    what = f"'judge' of {what}"
    check_keys(node, JUDGE_KEYS, what, required=["model"])
    prompt, origin = _prompt(node, what)
    return LLMStep("judge", _model_ref(node, what, models), prompt=prompt, prompt_origin=origin,
                   min_score=_count(node, "min_score", what), attempts=_count(node, "attempts", what))


PROMPT_VARIABLES = ("record", "task", "structured", "guidelines", "labels", "language", "roles")
"""What an LLM step's prompt template may use (see ``build/llmsteps.py``)."""


def _prompt(node: Node, what: str) -> tuple[str | None, Span | None]:
    """An inline `prompt:` and where its text starts, checked (syntax, sandbox, variables) before any data is read."""
    text = opt(node, "prompt", "string", what)
    if text is None:
        return None, None
    prompt_node = node.get("prompt")
    assert prompt_node is not None
    origin = text_origin(prompt_node)
    problem = template_problem(text, (), available=PROMPT_VARIABLES)
    if problem:
        raise problem.error(f"{what}: prompt", origin)
    return text, origin


def model_settings(config: ModelConfig) -> dict[str, Any]:
    """What about a model changes its answers (for fingerprints and the dataset card): never the key or URL."""
    return {"model": config.model, "params": dict(sorted(config.params.items())),
            "structured_output": config.structured_output}
