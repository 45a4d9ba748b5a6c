"""What humc did wrong against a real llama.cpp server (llama-cpp-python 0.3.36 serving SmolLM2-135M-Instruct Q4_1,
``../shared/realmodel/serve-smollm2``), reproduced on the loopback test server (tests/llmserver.py) so it runs in CI.
Each test says what the real server did."""

from __future__ import annotations

import sys
from pathlib import Path

from helpers import REPO, copy_recipes, run_cli

sys.path.insert(0, str(REPO))
from tests.llmserver import LLMServer  # noqa: E402


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
