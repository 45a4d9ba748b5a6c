"""Export a built dataset folder to the formats training and evaluation tools read.

    messages_of(record)          the chat form of a record: [{"role": "user", ...}, {"role": "assistant", ...}]
    export_dataset(folder, to, out)   alpaca | sharegpt | messages | llama-factory | lm-eval

Targets (every split of the folder unless stated):

* ``alpaca``: ``<split>.json``, a JSON array of ``{"instruction", "input": "", "output"}``;
* ``sharegpt``: ``<split>.jsonl``, ``{"conversations": [{"from": "human"|"gpt", "value"}]}`` per line;
* ``messages``: ``<split>.jsonl``, ``{"messages": [...]}`` per line (OpenAI / TRL chat form);
* ``llama-factory``: the sharegpt files plus ``dataset_info.json`` naming them (``formatting: sharegpt``);
* ``lm-eval``: an lm-evaluation-harness task folder for the test split (``humc_<name>.yaml`` with
  ``output_type: generate_until`` and ``exact_match``, ``test.jsonl``): the YAML names no Python code
  (``lm_eval --include_path OUT --tasks humc_<name>``); ``humc eval`` scores the same outputs per task.

Decisions: humc's instructions carry everything (the input text is part of them), so ``input`` is empty;
there is no system prompt (humc writes none, and inventing one would change what is trained). Each record's
id, task, template and format ride along, so a trained model's outputs can be joined back. The output
folder is written in place: files of the same name are replaced, others are left alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from humc.errors import HumcError

TARGETS = ("alpaca", "sharegpt", "messages", "llama-factory", "lm-eval")
KEPT = ("id", "task", "template", "answer_format", "language")


def messages_of(record: Mapping[str, Any]) -> list[dict[str, str]]:
    """The chat form of one record: the instruction as the user turn, the output as the assistant turn."""
    return [{"role": "user", "content": str(record["instruction"])},
            {"role": "assistant", "content": str(record["output"])}]


def splits_of(folder: Path) -> dict[str, list[Path]]:
    """split -> its Parquet shards, in order."""
    shards: dict[str, list[Path]] = {}
    for path in sorted((folder / "data").glob("*.parquet")) if folder.is_dir() else []:
        shards.setdefault(path.name.split("-")[0], []).append(path)
    if not shards:
        raise HumcError(f"{folder} is not a built humc dataset (no data/<split>-*.parquet)", code="E6001",
                        expected="a folder written by humc build (OUT/<name>)", hint="build the recipe first: humc build RECIPE")
    return shards


def records_of(paths: list[Path]) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    for path in paths:
        yield from pq.read_table(path).to_pylist()


def _meta(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: record.get(k) for k in KEPT}


def _write_jsonl(path: Path, rows: Iterator[dict[str, Any]]) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def _sharegpt(record: Mapping[str, Any]) -> dict[str, Any]:
    return {"conversations": [{"from": "human", "value": record["instruction"]}, {"from": "gpt", "value": record["output"]}],
            **_meta(record)}


def export_dataset(folder: Path, to: str, out: Path, name: str | None = None) -> dict[str, int | None]:
    """Write the dataset at ``folder`` as ``to`` into ``out``; returns written file -> its records (None for
    a file that describes the others)."""
    if to not in TARGETS:
        raise HumcError(f"unknown export target '{to}'", expected="one of: " + ", ".join(TARGETS), code="E9001")
    shards = splits_of(folder)
    name = name or folder.name
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, int | None] = {}
    if to == "lm-eval":
        return _lm_eval(shards, out, name)
    for split, paths in shards.items():
        if to == "alpaca":
            rows = [{"instruction": r["instruction"], "input": "", "output": r["output"], **_meta(r)} for r in records_of(paths)]
            (out / f"{split}.json").write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
            written[f"{split}.json"] = len(rows)
        elif to == "messages":
            written[f"{split}.jsonl"] = _write_jsonl(out / f"{split}.jsonl",
                                                     ({"messages": messages_of(r), **_meta(r)} for r in records_of(paths)))
        else:
            written[f"{split}.jsonl"] = _write_jsonl(out / f"{split}.jsonl", (_sharegpt(r) for r in records_of(paths)))
    if to == "llama-factory":
        info = {f"{name}_{split}": {"file_name": f"{split}.jsonl", "formatting": "sharegpt",
                                    "columns": {"messages": "conversations"},
                                    "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human",
                                             "assistant_tag": "gpt"}} for split in shards}
        (out / "dataset_info.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        written["dataset_info.json"] = None
    return written


def lm_eval_yaml(task: str, data_file: Path) -> str:
    """An lm-evaluation-harness task: generate until the end of the answer, scored by exact match. The data
    file is named by its absolute path (the harness resolves relative paths against its working folder)."""
    return "\n".join([
        f"task: {task}",
        "dataset_path: json",
        f"dataset_kwargs:\n  data_files:\n    test: {json.dumps(str(data_file.resolve()), ensure_ascii=False)}",
        "test_split: test",
        "output_type: generate_until",
        'doc_to_text: "{{instruction}}"',
        'doc_to_target: "{{output}}"',
        "generation_kwargs:\n  until: []\n  do_sample: false\n  max_gen_toks: 512",
        "metric_list:\n  - metric: exact_match\n    aggregation: mean\n    higher_is_better: true\n"
        "    ignore_case: false\n    ignore_punctuation: false\n    regexes_to_ignore: []",
        "metadata:\n  version: 1.0",
        ""])


def _lm_eval(shards: dict[str, list[Path]], out: Path, name: str) -> dict[str, int | None]:
    split = "test" if "test" in shards else next(iter(shards))
    task = "humc_" + "".join(ch if ch.isalnum() else "_" for ch in name)
    n = _write_jsonl(out / "test.jsonl", ({"instruction": r["instruction"], "output": r["output"], **_meta(r)}
                                          for r in records_of(shards[split])))
    (out / f"{task}.yaml").write_text(lm_eval_yaml(task, out / "test.jsonl"), encoding="utf-8")
    return {"test.jsonl": n, f"{task}.yaml": None}
