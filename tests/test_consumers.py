"""What humc writes, read by the real consumers: every example recipe's output folder loads with `datasets` exactly
as a Hub user loads it, agrees with its card's metadata (the rules the Hub applies) and with build.json, and reads
the same with pyarrow and pandas."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from huggingface_hub import DatasetCard

from humc.dataset.manifest import MANIFEST, sha256_file
from tests.helpers import REPO, example_recipes, run_cli

# the recipes that build without a network or an LLM server (dolly_llm asks one)
OFFLINE = sorted(p.name.removesuffix(".hum.yaml") for p in example_recipes() if p.name != "dolly_llm.hum.yaml")
SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"))
HUB_TASK_CATEGORIES = {"text-classification", "token-classification", "question-answering", "multiple-choice",
                       "text-generation", "summarization", "translation", "zero-shot-classification"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("consumers")
    for name in OFFLINE:
        result = run_cli("build", str(REPO / "recipes" / f"{name}.hum.yaml"), "--out", str(out / "out"),
                         "--cache", str(out / "cache"), "-q")
        assert result.exit_code == 0, result.output
    return out


def _folder(built: Path, recipe: str) -> Path:
    manifest_names = {json.loads((p / MANIFEST).read_text())["recipe"]: p for p in (built / "out").iterdir()}
    return manifest_names[recipe.replace("_", "-")]


@pytest.mark.parametrize("recipe", OFFLINE)
def test_the_card_metadata_describes_the_shards_as_the_hub_and_datasets_read_it(built: Path, recipe: str) -> None:
    import datasets

    folder = _folder(built, recipe)
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    card = DatasetCard.load(folder / "README.md").data
    shards = sorted(str(p.relative_to(folder)) for p in (folder / "data").glob("*.parquet"))
    (config,) = card.configs
    globs = {f["split"]: f["path"] for f in config["data_files"]}
    assert set(globs) == set(manifest["counts"])
    matched = [s for pattern in globs.values() for s in shards if fnmatch.fnmatch(s, pattern)]
    assert sorted(matched) == shards                         # every shard in exactly one split, none twice
    total = sum(manifest["counts"].values())
    assert card.size_categories == [next(label for bound, label in SIZE_CATEGORIES if total < bound)]
    assert set(card.task_categories) <= HUB_TASK_CATEGORIES and card.license == card.license.lower()

    info = datasets.info.DatasetInfosDict.from_dataset_card_data(card)["default"]
    schema = pq.read_schema(folder / shards[0])
    assert info.features == datasets.Features.from_arrow_schema(schema)
    assert info.download_size == sum((folder / s).stat().st_size for s in shards)
    ds = datasets.load_dataset(str(folder), cache_dir=str(built / "hf"))
    assert {s: ds[s].num_rows for s in ds} == manifest["counts"] == {s: info.splits[s].num_examples for s in ds}
    for split in ds:
        assert ds[split].features == info.features
        loaded = ds[split].info.splits[split].num_bytes       # what `datasets` measured: the Arrow size
        assert abs(info.splits[split].num_bytes - loaded) <= loaded * 0.01, (split, info.splits[split].num_bytes, loaded)
    assert info.dataset_size == sum(info.splits[s].num_bytes for s in ds)
    row = ds[next(iter(ds))][0]
    assert isinstance(row["labels"], list) and isinstance(row["source_row"], int)
    assert row["messages"] == [{"role": "user", "content": row["instruction"]},
                               {"role": "assistant", "content": row["output"]}]


@pytest.mark.parametrize("recipe", OFFLINE)
def test_every_record_loads_once_by_split_name_and_by_parquet_files(built: Path, recipe: str) -> None:
    import datasets
    import pandas as pd

    folder = _folder(built, recipe)
    counts = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["counts"]
    ids: list[str] = []
    for split, n in counts.items():
        one = datasets.load_dataset(str(folder), "default", split=split, cache_dir=str(built / "hf"))
        files = sorted(str(p) for p in (folder / "data").glob(f"{split}-*.parquet"))
        by_files = datasets.load_dataset("parquet", data_files={split: files}, split=split, cache_dir=str(built / "hf"))
        frame = pd.concat([pd.read_parquet(f) for f in files])
        assert one.num_rows == by_files.num_rows == len(frame) == n
        assert one["id"] == by_files["id"] == list(frame["id"])
        ids += one["id"]
    assert len(ids) == len(set(ids)) == sum(counts.values())


def test_a_folder_whose_card_an_older_humc_laid_out_is_written_again(tmp_path: Path) -> None:
    recipe = REPO / "recipes" / "ner.hum.yaml"
    args = ("build", str(recipe), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"), "-q")
    assert run_cli(*args).exit_code == 0
    folder = tmp_path / "out" / "ner"
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    card = (folder / "README.md").read_text(encoding="utf-8")
    old = json.loads(json.dumps({k: v for k, v in manifest.items() if k != "card"}))  # before the card format had a number
    (folder / MANIFEST).write_text(json.dumps(old, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (folder / "README.md").write_text(card.replace("dataset_info:", "old_dataset_info:"), encoding="utf-8")
    old["files"]["README.md"] = sha256_file(folder / "README.md")
    (folder / MANIFEST).write_text(json.dumps(old, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    assert run_cli(*args).exit_code == 0
    assert (folder / "README.md").read_text(encoding="utf-8") == card
    assert json.loads((folder / MANIFEST).read_text(encoding="utf-8")) == manifest


def test_a_declared_split_no_record_fell_in_is_said_by_the_build_and_on_the_card(tmp_path: Path) -> None:
    import datasets

    from tests.helpers import copy_recipes

    recipe = copy_recipes(tmp_path) / "ner.hum.yaml"
    recipe.write_text(recipe.read_text(encoding="utf-8").replace(
        "splits: {train: 0.9, validation: 0.1}", "splits: {train: 0.985, validation: 0.005, test: 0.01}"),
        encoding="utf-8")
    args = ("build", str(recipe), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"), "-q")
    warning = "warning: the declared split(s) validation, test got no records: the dataset has no such split"
    for _ in range(2):                                          # built, then current: said both times
        result = run_cli(*args)
        assert result.exit_code == 0 and warning in result.output, result.output
    folder = tmp_path / "out" / "ner"
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert "The recipe also declares validation, test: no record fell in them, so the dataset has no such split." in card
    assert list(datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "hf"))) == ["train"]
