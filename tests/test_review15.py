"""review15: a fresh-eyes review of the session's change (b5b924e..984cff8), each finding a regression test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from helpers import run_cli, tiny_recipe
from test_llm_build import write_recipe

from humc.build.compiler import load_recipe
from humc.llm.client import LLMRequest, merged_params


def test_a_null_sampling_param_is_not_sent_and_not_refused(tmp_path):
    """`max_tokens: null` (or `seed: null`) says "send none": merged_params drops it. The E0008 check of well-known
    sampling params (validate_llm._param_problem) refused it as "must be an integer, not null None"."""
    recipe = write_recipe(tmp_path, "http://127.0.0.1:9/v1")
    settings = "params: {temperature: 0.0, max_tokens: 256}"
    recipe.write_text(recipe.read_text().replace(settings, "params: {temperature: 0.0, max_tokens: null, seed: null}"),
                      encoding="utf-8")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 0, result.output
    model = load_recipe(recipe).models["writer"]
    assert merged_params(model, LLMRequest(messages=[])) == {"temperature": 0.0}
    recipe.write_text(recipe.read_text().replace("seed: null", "seed: 1.5"), encoding="utf-8")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 2 and "params 'seed' must be an integer, not number 1.5" in result.output


BUILD_AND_SAY_LOADED = """
import sys
from humc.cli import main
try:
    main(["build", sys.argv[1]])
except SystemExit as exc:
    assert not exc.code, exc.code
print(sorted(m for m in ("huggingface_hub.hf_api", "huggingface_hub.repocard") if m in sys.modules))
"""


def test_a_build_does_not_import_the_hub_client(tmp_path):
    """render_card writes the card's metadata block itself now (no DatasetCard round trip), yet writer.write_imports
    still imported DatasetCard, which loads huggingface_hub's whole HfApi (~180 ms, in the build's main thread)."""
    rows = [{"context": f"Paris is in France ({i}).", "question": "Where is Paris?", "answers": ["France"]}
            for i in range(12)]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (tmp_path / "r.hum.yaml").write_text(tiny_recipe(), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", BUILD_AND_SAY_LOADED, "r.hum.yaml"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "tiny" / "README.md").read_text(encoding="utf-8").startswith("---\n")
    assert done.stdout.strip().splitlines()[-1] == "[]"
