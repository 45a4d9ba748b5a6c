"""Generic forms real datasets come in, read end to end: a Hub repository clone whose Parquet files carry no
`huggingface` metadata (the card's `dataset_info` names the ClassLabel integers). Each sample follows its
dataset's published format (tests/data/<name>/SOURCE.md names the source and the license)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import REPO, built_gold

from humc.errors import SourceError
from humc.ir import SourceDef
from humc.sources import read_source
from humc.sources_card import card_features

DATA = REPO / "tests" / "data"
EMOTIONS = ["sadness", "joy", "love", "anger", "fear", "surprise"]


def records(path: Path, fmt: str, **options: Any) -> list[dict[str, Any]]:
    return [row.record for row in read_source(SourceDef("s", path, fmt, options))]


def emotion_rows() -> list[tuple[str, str]]:
    lines = (DATA / "emotion" / "emotion.txt").read_text(encoding="utf-8").splitlines()
    return [tuple(line.rsplit(";", 1)) for line in lines]  # type: ignore[misc]


def write_emotion_clone(root: Path) -> Path:
    """dair-ai/emotion as `hf download` leaves it: the card, and Parquet files (written here without `datasets`, so
    with integer labels and no features metadata) under the `split` and `unsplit` configs' folders."""
    clone = root / "emotion"
    (clone / "split").mkdir(parents=True)
    (clone / "unsplit").mkdir()
    (clone / "README.md").write_bytes((DATA / "emotion" / "README.md").read_bytes())
    rows = emotion_rows()
    table = pa.table({"text": [t for t, _ in rows], "label": [EMOTIONS.index(label) for _, label in rows]})
    for name in ("split/train-00000-of-00001.parquet", "split/validation-00000-of-00001.parquet",
                 "unsplit/train-00000-of-00001.parquet"):
        pq.write_table(table, clone / name)
    return clone


def test_a_hub_clone_s_parquet_without_metadata_reads_its_class_labels_from_the_card(tmp_path: Path) -> None:
    clone = write_emotion_clone(tmp_path)
    file = clone / "split" / "train-00000-of-00001.parquet"
    assert pq.read_schema(file).metadata is None or b"huggingface" not in pq.read_schema(file).metadata
    got = records(file, "parquet", class_labels=True)
    assert [(r["text"], r["label"]) for r in got] == emotion_rows()
    assert records(file, "parquet")[0]["label"] == 0  # without the option: the integers as written
    features = card_features(clone / "unsplit" / "train-00000-of-00001.parquet")
    assert features is not None and features["label"] == {"_type": "ClassLabel", "names": EMOTIONS}


def test_card_features_pick_the_config_by_folder_by_data_files_or_the_only_one(tmp_path: Path) -> None:
    card = (DATA / "emotion" / "README.md").read_text(encoding="utf-8")
    (tmp_path / "data").mkdir()
    (tmp_path / "README.md").write_text(card.replace("split/train-*", "data/train-*"), encoding="utf-8")
    assert card_features(tmp_path / "data" / "train-00000-of-00002.parquet") is not None  # by `configs:` data_files
    assert card_features(tmp_path / "data" / "other.parquet") is None  # two configs, neither names the file
    # refs/convert/parquet: <config>/<split>/0000.parquet; newer cards write `list:` for a sequence
    (tmp_path / "README.md").write_text(
        "---\ndataset_info:\n  features:\n  - name: tokens\n    list: string\n  - name: ner_tags\n    list:\n"
        "      class_label:\n        names:\n          '0': O\n          '1': B-PER\n          '2': I-PER\n---\n",
        encoding="utf-8")
    features = card_features(tmp_path / "default" / "train" / "0000.parquet")
    assert features is not None
    assert features["ner_tags"] == {"_type": "Sequence", "feature": {"_type": "ClassLabel", "names": ["O", "B-PER", "I-PER"]}}
    (tmp_path / "README.md").write_text("---\ndataset_info: [unclosed\n---\n", encoding="utf-8")
    assert card_features(tmp_path / "data" / "x.parquet") is None


def test_class_labels_on_a_parquet_file_without_metadata_or_card_is_a_located_error(tmp_path: Path) -> None:
    file = tmp_path / "train.parquet"
    pq.write_table(pa.table({"label": [0, 1]}), file)
    with pytest.raises(SourceError) as err:
        records(file, "parquet", class_labels=True)
    assert err.value.code == "E4001" and err.value.span is not None and err.value.span.file == str(file)
    assert "no Hugging Face features metadata" in err.value.message and "dataset card" in (err.value.expected or "")


def test_a_recipe_builds_the_clone_s_file_with_every_class_the_card_names(tmp_path: Path) -> None:
    write_emotion_clone(tmp_path)
    recipe = """hum: 1
name: emotion
sources:
  emotion: {path: emotion/split/train-00000-of-00001.parquet, options: {class_labels: true}}
tasks:
  - id: emotion
    source: emotion
    task: classification
    fields: {text: text, label: label}
output: {splits: {train: 1.0}}
"""
    gold, text, _ = built_gold(tmp_path, "emotion", recipe)
    assert [gold["emotion"][n] for n in sorted(gold["emotion"])] == [[{"label": label}] for _, label in emotion_rows()]
    assert all(name in text["emotion"][0] for name in EMOTIONS)  # the classes no row uses are offered too
