"""Hub dataset repository clones: the `datasets` features their card declares, and the files of a split.

Stage: read (below ``humc.sources_readers``, which decodes ClassLabel integers with them). A clone of a Hub dataset
repository (`hf download ORG/NAME --repo-type dataset`, or `git clone`) keeps its Parquet files under
`data/train-00000-of-00002.parquet` (or `<config>/train-*.parquet`; the Hub's own conversion,
`refs/convert/parquet`, `<config>/<split>/0000.parquet`), and files uploaded by other tools than `datasets` (pandas,
Spark, DuckDB) carry no `huggingface` schema metadata: their labels are integers whose names only the README.md's
YAML front matter gives, under `dataset_info: features:` (a list of `{name, dtype | class_label | sequence | list |
struct}`; `class_label: names:` maps '0', '1', … to names). Decisions:

- The card is the README.md of the file's folder or of one of its parents (at most ``CARD_DEPTH`` levels up), the
  first that has `dataset_info` features; a card of several configs (`dataset_info:` a list, each with
  `config_name`) gives the config named by a folder on the way from the card to the file (`<config>/...`), else the
  one whose `configs:` `data_files` match the file's path, else the only one.
- Only the shape ClassLabel decoding needs is converted (the JSON form ``Features.to_dict()`` writes: `_type`
  ClassLabel with `names`, Sequence with `feature`, structs as plain objects); other dtypes are kept as Values.
- A card that does not parse, or declares no features for the file, gives None: the caller says what is missing.
- Without `datasets` installed, a clone's split is its files as `datasets` would find them: the card's `configs:`
  `data_files` patterns, else the split's keyword in the file's path (train, training; validation, valid, dev,
  val; test, testing, eval, evaluation).
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any

import yaml

CARD_DEPTH = 3  # data/train-….parquet and <config>/<split>/0000.parquet are one and two folders below the card
_LISTS = ("sequence", "list", "large_list")


def card_features(path: Path) -> dict[str, Any] | None:
    """The features (``Features.to_dict()`` form) a dataset card above the data file ``path`` declares for it."""
    for card in (p / "README.md" for p in list(path.parents)[:CARD_DEPTH]):
        meta = _front_matter(card)
        infos = meta.get("dataset_info") if meta else None
        if meta is None or infos is None:
            continue
        info = _config_info(infos, meta.get("configs"), path.relative_to(card.parent).as_posix())
        features = info.get("features") if isinstance(info, dict) else None
        return _from_card(features) if isinstance(features, list) else None
    return None


def _front_matter(card: Path) -> dict[str, Any] | None:
    """The YAML block between the README's first two `---` lines, or None."""
    try:
        text = card.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---" or "---" not in (line.strip() for line in lines[1:]):
        return None
    end = next(i for i, line in enumerate(lines[1:], 1) if line.strip() == "---")
    try:
        meta = yaml.safe_load("\n".join(lines[1:end]))
    except (yaml.YAMLError, LookupError, AttributeError, ValueError):  # the others: PyYAML on `!!bool x`, `!!float x`
        return None
    return meta if isinstance(meta, dict) else None


def _config_info(infos: Any, configs: Any, relative: str) -> Any:
    """The `dataset_info` entry of the config the file at ``relative`` (to the card's folder) belongs to."""
    if isinstance(infos, dict):
        return infos
    if not isinstance(infos, list):
        return None
    named = {str(i.get("config_name", "default")): i for i in infos if isinstance(i, dict)}
    folders = relative.split("/")[:-1]
    config = next((name for name in named if name in folders), None) or _config_of_file(configs, relative)
    if config in named:
        return named[config]
    return next(iter(named.values())) if len(named) == 1 else None


def _config_of_file(configs: Any, relative: str) -> str | None:
    """The `configs:` entry whose `data_files` patterns match ``relative``."""
    for config in configs if isinstance(configs, list) else []:
        files = config.get("data_files") if isinstance(config, dict) else None
        entries = files if isinstance(files, list) else [files]
        patterns = [p for e in entries for p in (_paths(e.get("path")) if isinstance(e, dict) else _paths(e))]
        if any(fnmatch.fnmatch(relative, p) for p in patterns):
            return str(config.get("config_name", "default"))
    return None


def _paths(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)] if isinstance(value, str) else []


def _from_card(feature: Any) -> Any:
    """A card's feature (YAML form) in the JSON form ``feature_decoders`` reads."""
    if isinstance(feature, list):  # a struct: its fields, each {name, …}
        return {str(f["name"]): _from_card(f) for f in feature if isinstance(f, dict) and "name" in f}
    if not isinstance(feature, dict):
        return {"_type": "Value", "dtype": str(feature)}
    kind = next((k for k in _LISTS if k in feature), None)
    if kind is not None:
        inner = feature[kind]
        return {"_type": "Sequence", "feature": _from_card(inner if isinstance(inner, (list, dict)) else
                                                           {"dtype": inner})}
    if isinstance(feature.get("class_label"), dict):
        return {"_type": "ClassLabel", "names": _label_names(feature["class_label"].get("names"))}
    if "struct" in feature:
        return _from_card(feature["struct"])
    dtype = feature.get("dtype")
    return _from_card(dtype) if isinstance(dtype, (dict, list)) else {"_type": "Value", "dtype": str(dtype)}


def _label_names(names: Any) -> list[str] | None:
    """`names:` as the card writes it ({'0': neg, '1': pos}, or a list) in class order; None when ids are missing."""
    if isinstance(names, list):
        return [str(n) for n in names]
    if not isinstance(names, dict):
        return None
    try:
        ids = sorted(int(i) for i in names)
    except (TypeError, ValueError):
        return None
    if ids != list(range(len(ids))):
        return None
    return [str(names.get(str(i), names.get(i))) for i in ids]


SPLIT_NAMES = {"train": ("train", "training"), "validation": ("validation", "valid", "dev", "val"),
               "test": ("test", "testing", "eval", "evaluation")}  # the keywords `datasets` knows a split's files by
_DATA_SUFFIXES = (".parquet", ".orc", ".avro", ".arrow", ".jsonl", ".ndjson", ".json", ".csv", ".tsv")
_NOT_DATA = ("dataset_info.json", "dataset_dict.json", "state.json", "dataset_infos.json")
_COMPRESSED = (".gz", ".bz2", ".xz", ".zst")
_PATH_TOKENS = re.compile(r"[/\-._ 0-9]+")


def data_files(folder: Path) -> list[str]:
    """The data files of a dataset folder (relative POSIX paths, in name order): Parquet, ORC, Avro, Arrow, JSON (Lines),
    CSV and TSV files, compressed or not, outside hidden folders (and not hidden: Spark's `.part-0.orc.crc`); the card
    and `save_to_disk`'s JSON files are none."""
    out = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder)
        name = path.name.lower()
        plain = name.rsplit(".", 1)[0] if name.endswith(_COMPRESSED) else name
        if not any(part.startswith(".") for part in relative.parts) and plain.endswith(_DATA_SUFFIXES) \
                and name not in _NOT_DATA:
            out.append(relative.as_posix())
    return out



# the `datasets` builder that reads each data suffix: a split is read by one of them, the one most of its files need
_BUILDER = {".parquet": "Parquet", ".orc": "ORC", ".arrow": "Arrow", ".jsonl": "JSON", ".ndjson": "JSON",
            ".json": "JSON", ".csv": "CSV", ".tsv": "CSV"}


def formats_of(files: list[Path]) -> dict[str, list[str]]:
    """The files (names) of each reader's format (JSON, CSV, Parquet …): `datasets` reads a split of mixed files by
    the format most of them have and leaves the others out, saying nothing."""
    out: dict[str, list[str]] = {}
    for path in files:
        name = path.name.lower()
        plain = name.rsplit(".", 1)[0] if name.endswith(_COMPRESSED) else name
        suffix = next((s for s in _DATA_SUFFIXES if plain.endswith(s)), "")
        out.setdefault(_BUILDER.get(suffix, suffix), []).append(path.name)
    return out


def split_files(folder: Path, config: str | None, split: str) -> tuple[list[Path], list[str]]:
    """The files of ``split`` (of ``config``) in a Hub repository clone, as `datasets` finds them without a loading
    script: the card's `configs:` `data_files` patterns when it has them, else the split's keyword as a part of the
    file's path (data/train-00000-of-00002.parquet, dev.jsonl, test/0000.parquet; under `<config>/` when a config
    is named). Also the splits the folder holds, for the message when ``split`` has no file."""
    files = data_files(folder)
    patterns = _card_patterns(_front_matter(folder / "README.md"), config)
    if patterns is not None:
        held = [s for s, globs in patterns.items() if any(fnmatch.fnmatch(f, g) for f in files for g in globs)]
        chosen = [f for f in files if any(fnmatch.fnmatch(f, g) for g in patterns.get(split, []))]
        return [folder / f for f in chosen], held
    if config is not None:
        files = [f for f in files if f.startswith(config + "/")]
    held = [s for s in SPLIT_NAMES if any(_names_split(f, s) for f in files)]
    if not held and files:  # no file names a split (Spark's part-00000-….parquet): all are train, as `datasets` has it
        return ([folder / f for f in files] if split == "train" else []), ["train"]
    return [folder / f for f in files if _names_split(f, split)], held


def holds_unread_formats(folder: Path) -> bool:
    """Whether a dataset folder holds ORC or Avro files (Spark's, Hive's or Kafka Connect's output), which `datasets`
    does not read."""
    return any(f.endswith((".orc", ".avro")) for f in data_files(folder))


def _names_split(relative: str, split: str) -> bool:
    """Whether a file's path names ``split`` (`datasets`' keywords: dev is validation) as one of its parts."""
    stem = relative.rsplit(".", 1)[0]
    tokens = set(_PATH_TOKENS.split(stem.lower()))
    return bool(tokens & set(SPLIT_NAMES.get(split, (split,))))


def _card_patterns(meta: dict[str, Any] | None, config: str | None) -> dict[str, list[str]] | None:
    """Split -> the `data_files` patterns of the card's config (``config``, else the default one), or None."""
    configs = [c for c in (meta or {}).get("configs") or [] if isinstance(c, dict) and c.get("data_files")]
    if config is not None:
        chosen = next((c for c in configs if c.get("config_name") == config), None)
    else:  # the one marked `default: true`, else the one named default, else the first
        ranked = sorted(configs, key=lambda c: (not c.get("default"), c.get("config_name", "default") != "default"))
        chosen = ranked[0] if ranked else None
    if chosen is None:
        return None
    files = chosen["data_files"]
    if isinstance(files, (str, list)) and not (isinstance(files, list) and files and isinstance(files[0], dict)):
        return {"train": _paths(files)}
    if isinstance(files, dict):
        return {str(split): _paths(globs) for split, globs in files.items()}
    return {str(e.get("split", "train")): _paths(e.get("path")) for e in files if isinstance(e, dict)}
