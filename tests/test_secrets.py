"""Secrets never leave the environment: an API key (or HF_TOKEN) is absent from the dataset, its card,
the manifest, the build cache, the CLI output and every error message; a key pasted into a recipe is
refused (E2013) without being echoed, and nothing is written."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from helpers import REPO, run_cli
from test_llm_build import responder, write_recipe
from test_publish import REPO as HUB_REPO
from test_publish import TOKEN as HUB_TOKEN
from test_publish import hub, make_build  # noqa: F401 (hub: the loopback Hub fixture)

from humc.llm.client import ModelConfig, api_key_env_problem, looks_like_secret

sys.path.insert(0, str(REPO))
from tests.llmserver import LLMServer  # noqa: E402

KEY = "sk-humcSecret7f3a9c1e5b2d4806QxZ"
HF = "hf_humcToken9b8a7c6d5e4f3a2b1c0D"


def raw_bytes_under(folder: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file()]


def assert_absent(secret: str, output: str, *folders: Path) -> None:
    assert secret not in output
    for folder in folders:
        for path, data in raw_bytes_under(folder):
            assert secret.encode() not in data, path


def test_a_build_with_a_key_in_the_environment_writes_it_nowhere(tmp_path, monkeypatch):
    monkeypatch.setenv("HUMC_TEST_LLM_KEY", KEY)
    monkeypatch.setenv("HF_TOKEN", HF)
    with LLMServer(responder=responder, api_key=KEY) as srv:  # the server insists on the key: it was sent
        recipe = write_recipe(tmp_path, srv.base_url, extra_model="    api_key_env: HUMC_TEST_LLM_KEY")
        result = run_cli("build", str(recipe), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
        assert result.exit_code == 0, result.output
        assert srv.request_count > 0
    card = (tmp_path / "out" / "llm-demo" / "README.md").read_text(encoding="utf-8")
    assert "test-model" in card and "HUMC_TEST_LLM_KEY" in card  # the recipe is quoted, the variable's name only
    cached = raw_bytes_under(tmp_path / "cache")
    assert sum(len(data) for _, data in cached) > 10_000  # LLM answers and chunks are there to search
    for secret in (KEY, HF):
        assert_absent(secret, result.output, tmp_path / "out", tmp_path / "cache")
    plan = run_cli("plan", str(recipe), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
    assert plan.exit_code == 0 and "dolly/generate" in plan.output and KEY not in plan.output


def test_a_rejected_key_is_not_echoed_even_when_the_server_quotes_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HUMC_TEST_LLM_KEY", KEY)
    with LLMServer(responder=responder, api_key="the-right-key") as srv:
        srv.unauthorized_message = f"Incorrect API key provided: {KEY}."  # like some servers do
        recipe = write_recipe(tmp_path, srv.base_url, extra_model="    api_key_env: HUMC_TEST_LLM_KEY")
        result = run_cli("build", str(recipe), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
    assert result.exit_code == 2 and "401" in result.output and "Incorrect API key provided: ***" in result.output
    assert "set the environment variable HUMC_TEST_LLM_KEY" in result.output
    assert_absent(KEY, result.output, tmp_path)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_key_pasted_into_api_key_env_is_refused_without_echoing_it(tmp_path, fmt):
    recipe = write_recipe(tmp_path, "http://127.0.0.1:9/v1", extra_model=f"    api_key_env: {KEY}")
    result = run_cli("--format", fmt, "build", str(recipe), "--out", str(tmp_path / "out"),
                     "--cache", str(tmp_path / "cache"))
    assert result.exit_code == 2
    line = recipe.read_text().splitlines().index(f"    api_key_env: {KEY}") + 1
    if fmt == "json":
        diag = json.loads(result.output)["diagnostics"][0]  # then: models that use 'writer' name an unknown model
        assert (diag["code"], diag["line"], diag["column"]) == ("E2013", line, 18)
        assert diag["message"] == ("model 'writer': 'api_key_env' looks like an API key, "
                                   "not the name of an environment variable")
    else:
        assert result.output.startswith(f"{recipe}:{line}:18: error[E2013]: model 'writer': 'api_key_env' looks like "
                                        "an API key")
        assert f"{line:>4} | " not in result.output  # the line holding the key is not quoted
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()
    assert KEY not in result.output
    assert {p.name for p in tmp_path.iterdir()} == {"gen.jsonl", "ner.jsonl", "llm.hum.yaml"}  # nothing written


@pytest.mark.parametrize("snippet, message", [
    (f"    api_key_env: {HF}", "'api_key_env' looks like an API key"),
    ("    api_key_env: " + "A" * 41, "'api_key_env' looks like an API key"),
    ("    api_key_env: OPENAI-KEY", "'api_key_env' is not the name of an environment variable"),
    (f"    api_key: {KEY}", "API keys never go in a recipe"),
    (f"    base_url: http://user:{KEY}@127.0.0.1:9/v1", "'base_url' carries credentials"),
])
def test_secrets_in_model_settings_are_located_and_never_quoted(tmp_path, snippet, message):
    recipe = write_recipe(tmp_path, "http://127.0.0.1:9/v1", extra_model=snippet)
    text = recipe.read_text()
    if "base_url:" in snippet:
        text = text.replace("    base_url: http://127.0.0.1:9/v1\n", "")
    recipe.write_text(text, encoding="utf-8")
    result = run_cli("check", str(recipe))
    line = text.splitlines().index(snippet) + 1
    assert result.exit_code == 2 and result.output.startswith(f"{recipe}:{line}:")
    assert "error[E2013]" in result.output.splitlines()[0] and message in result.output.splitlines()[0]
    assert f"{line:>4} | " not in result.output
    value = snippet.split(": ", 1)[1]
    assert value not in result.output and KEY not in result.output and HF not in result.output


def test_a_key_in_params_is_refused(tmp_path):
    recipe = write_recipe(tmp_path, "http://127.0.0.1:9/v1")
    recipe.write_text(recipe.read_text().replace("max_tokens: 256}", f"max_tokens: 256, user: {KEY}}}"), encoding="utf-8")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 2 and "error[E2013]" in result.output and "params 'user'" in result.output
    assert KEY not in result.output


@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "HF_TOKEN", "hf_token", "AZURE_OPENAI_API_KEY_PRODUCTION_EU",
                                  "VLLM_KEY_20240101_SERVER1", "_X"])
def test_real_variable_names_are_accepted(name):
    assert api_key_env_problem(name) is None


@pytest.mark.parametrize("value", [KEY, HF, "ghp_0123456789abcdefABCDEF0123456789abcd", "AKIAIOSFODNN7EXAMPLEKEY",
                                   "abc123XYZ789def456GHI0", "Bearer abcdefghijklmnopqrstu"])
def test_key_shaped_values_look_like_secrets(value):
    assert looks_like_secret(value)
    problem = api_key_env_problem(value)
    assert problem is not None and value not in problem


def test_model_config_refuses_a_key_as_api_key_env_without_echoing_it():
    from humc.errors import LLMError

    with pytest.raises(LLMError) as err:
        ModelConfig("writer", "http://127.0.0.1:9/v1", "m", api_key_env=KEY)
    assert err.value.code == "E2013" and KEY not in err.value.render()


@pytest.mark.usefixtures("hub")
def test_the_hf_token_is_not_echoed_by_push(tmp_path, monkeypatch):
    folder = make_build(tmp_path / "demo", {"train": 1})
    good = run_cli("push", str(folder), "--repo", HUB_REPO)
    assert good.exit_code == 0 and "published" in good.output and HUB_TOKEN not in good.output
    monkeypatch.setenv("HF_TOKEN", HF)  # a token the Hub rejects
    bad = run_cli("push", str(folder), "--repo", HUB_REPO + "-2")
    assert bad.exit_code == 2 and "401" in bad.output and HF not in bad.output
