"""Export a built dataset folder to the formats training and evaluation tools read.

    messages_of(record)          the chat form of a record: [{"role": "user", ...}, {"role": "assistant", ...}]
    export_dataset(folder, to, out)   alpaca | sharegpt | messages | llama-factory | lm-eval

Targets (every split of the folder unless stated):

* ``alpaca``: ``<split>.json``, a JSON array of ``{"instruction", "input": "", "output"}``;
* ``sharegpt``: ``<split>.jsonl``, ``{"conversations": [{"from": "human"|"gpt", "value"}]}`` per line;
* ``messages``: ``<split>.jsonl``, ``{"messages": [...]}`` per line (OpenAI / TRL chat form);
* ``llama-factory``: the sharegpt files plus ``dataset_info.json`` naming them (``formatting: sharegpt``);
* ``lm-eval``: an lm-evaluation-harness task folder for the test split, refused without one (``humc_<name>.yaml`` with
  ``output_type: generate_until`` and ``exact_match``, ``test.jsonl``): the YAML names no Python code
  (``lm_eval --include_path OUT --tasks humc_<name>``); ``humc eval`` scores the same outputs per task.

Decisions: humc's instructions carry everything (the input text is part of them), so ``input`` is empty;
there is no system prompt (humc writes none, and inventing one would change what is trained). Each record's
id, task, template and format ride along, so a trained model's outputs can be joined back. The output
folder is written in place: files of the same name are replaced, others are left alone; an existing
``dataset_info.json`` keeps its other datasets' entries (LLaMA-Factory lists every dataset in that one file). The files of one
export are written together or not at all (``written_together``): a shard that cannot be read, or a folder
that cannot be written, leaves the output folder as it was (E6001, E3002).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from humc.errors import HumcError, Span, one_line
from humc.locks import folder_lock, other_process_alive

TARGETS = ("alpaca", "sharegpt", "messages", "llama-factory", "lm-eval")
KEPT = ("id", "task", "template", "answer_format", "language")
NEEDED = ("id", "instruction", "output")  # the columns every reader of a built dataset relies on
REBUILD_HINT = "build the recipe again (humc build RECIPE): it rewrites the folder"


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
                        expected="a folder written by humc build (OUT/<name>)", hint=not_a_dataset_hint(folder))
    return shards


def not_a_dataset_hint(path: Path) -> str:
    """What to do about ``path``, which holds no built dataset: name the dataset folder when ``path`` is its ``data/``
    folder, a shard or a file of it (`humc export out/mrc/data`), else build first."""
    for folder in (path.parent, path.parent.parent):
        if folder != path and (folder / "data").is_dir() and any((folder / "data").glob("*.parquet")):
            return f"pass the dataset folder {folder}, which holds data/ and its card"
    return "build the recipe first: humc build RECIPE"


@contextlib.contextmanager
def reading(folder: Path, command: str) -> Iterator[None]:
    """Hold a built dataset folder's lock shared while ``command`` reads it (as ``humc push`` does): a build replacing
    the folder is waited for (its shards are swapped by name, so a read across the swap would mix two builds), and
    waits in turn. A path that is no folder takes no lock (the reader reports it)."""
    if not folder.is_dir():
        yield
        return
    with folder_lock(folder, what="output folder", command=command, shared=True):
        yield


def records_of(paths: list[Path]) -> Iterator[dict[str, Any]]:
    """The records of the shards, in order; a shard that is not a readable Parquet file of humc's columns is
    E6001 at that file."""
    for path in paths:
        yield from read_shard(path)


def read_shard(path: Path) -> list[dict[str, Any]]:
    """One shard's records (E6001 at the file when it is damaged, empty or not humc's output)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise HumcError(f"cannot read the shard {path.name}: {one_line(str(exc))}", Span(str(path), 1, 1),
                        code="E6001", expected="a Parquet file written by humc build", hint=REBUILD_HINT) from None
    missing = [c for c in NEEDED if c not in table.column_names]
    if missing:
        raise HumcError(f"the shard {path.name} has no column {', '.join(repr(c) for c in missing)}: it is not humc's "
                        "output", Span(str(path), 1, 1), code="E6001",
                        expected="the columns humc build writes (" + ", ".join(NEEDED) + ", …)", hint=REBUILD_HINT)
    return list(table.to_pylist())


@contextlib.contextmanager
def written_together() -> Iterator[Callable[[Path], Path]]:
    """Files that appear together or not at all: ``place(path)`` names the file to write ``path``'s content to
    (beside it, hidden); when the block ends they are all moved into place, and when it fails (an error, Ctrl-C)
    they are all removed, so a folder never holds half an export. A refused write is E3002."""
    pending: list[tuple[Path, Path]] = []
    made: list[Path] = []  # folders made for the files, removed again when the export fails

    def place(path: Path) -> Path:
        if path.exists() and not path.is_file():  # a device or a pipe would be replaced by a file (as root, /dev/full)
            raise _unwritable(path, OSError(0, "it is not a regular file (a folder, a device or a pipe)"))
        made.extend(reversed([p for p in path.parents if not p.exists()]))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _unwritable(path, exc) from None
        _remove_dead_partials(path)
        temp = path.with_name(f".{path.stem}.{os.getpid()}-{secrets.token_hex(4)}.partial{path.suffix}")  # one a run
        pending.append((temp, path))
        return temp

    try:
        yield place
        for temp, path in pending:
            os.replace(temp, path)
    except BaseException as exc:
        for temp, _ in pending:
            temp.unlink(missing_ok=True)
        for folder in reversed(made):
            with contextlib.suppress(OSError):  # not empty: something else is in it now
                folder.rmdir()
        if isinstance(exc, OSError):
            finals = {str(temp): path for temp, path in pending}
            failed = finals.get(str(exc.filename)) or Path(str(exc.filename or (pending[-1][1] if pending else ".")))
            raise _unwritable(failed, exc) from None
        raise


def _remove_dead_partials(path: Path) -> None:
    """Remove the hidden ``.<stem>.<pid>-<hex>.partial<suffix>`` files of ``path`` that an export killed with -9
    left (no clean-up runs then), once their process is gone; a running export's are its own."""
    prefix, suffix = f".{path.stem}.", f".partial{path.suffix}"
    for old in path.parent.glob(f".*{suffix}"):
        pid, dash, token = old.name[len(prefix):-len(suffix)].partition("-")
        if old.name.startswith(prefix) and dash and len(token) == 8 and pid.isdigit() \
                and not other_process_alive(int(pid)):
            with contextlib.suppress(OSError):
                old.unlink()


def _unwritable(path: Path, exc: OSError) -> HumcError:
    return HumcError(f"cannot write {path}: {exc.strerror or exc}", code="E3002", expected="a folder humc may write to",
                     hint="choose another output path (a folder you own, on a disk with free space)")


def _meta(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: record.get(k) for k in KEPT}


def _write_jsonl(path: Path, rows: Iterator[dict[str, Any]]) -> int:
    """Write ``rows`` as JSON Lines to ``path`` (a ``written_together`` place); how many."""
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def _sharegpt(record: Mapping[str, Any]) -> dict[str, Any]:
    return {"conversations": [{"from": "human", "value": record["instruction"]}, {"from": "gpt", "value": record["output"]}],
            **_meta(record)}


def refuse_inside(path: Path, folder: Path, doing: str, option: str) -> None:
    """E3002 when ``path`` (a file or folder humc is to write) lies in the built dataset ``folder``."""
    if path.resolve().is_relative_to(folder.resolve()):
        raise HumcError(f"cannot {doing} {path}: it is inside the built dataset {folder}", code="E3002",
                        expected="a place outside the dataset (the next build replaces the dataset folder, and "
                                 "its data/ folder must hold only the Parquet shards)",
                        hint=f"pass another {option}, e.g. one beside the dataset folder")


def export_dataset(folder: Path, to: str, out: Path, name: str | None = None) -> dict[str, int | None]:
    """Write the dataset at ``folder`` as ``to`` into ``out``; returns written file -> its records (None for
    a file that describes the others)."""
    if to not in TARGETS:
        raise HumcError(f"unknown export target '{to}'", expected="one of: " + ", ".join(TARGETS), code="E9001")
    with reading(folder, "humc export"):
        return _export(folder, to, out, name or folder.name)


def _export(folder: Path, to: str, out: Path, name: str) -> dict[str, int | None]:
    shards = splits_of(folder)
    if out.exists() and not out.is_dir():
        raise _unwritable(out, NotADirectoryError(20, "it is a file, not a folder"))
    refuse_inside(out, folder, "export into", "OUT_DIR")
    if to == "lm-eval" and "test" not in shards:  # training records scored as a test set would flatter any model
        raise HumcError(f"{folder} has no test split to evaluate on (its splits: {', '.join(shards)})", code="E6001",
                        expected="a dataset built with a `test` split (data/test-*.parquet)",
                        hint="add a test split to output.splits (e.g. {train: 0.9, test: 0.1}), or a larger fraction "
                             "when the one declared got no records, and build again; nothing was written")
    with written_together() as place:
        def checked(path: Path) -> Path:  # the files written (all or none: a refusal leaves the folder as it was)
            _refuse_foreign(path)
            return place(path)

        if to == "lm-eval":
            return _lm_eval(shards, out, name, checked)
        return _export_splits(shards, to, out, name, checked)


# how each file an export writes starts (alpaca's JSON, an empty one, the JSON Lines, lm-eval's task), any target's:
# a file an export wrote may be replaced by another's
_EXPORT_HEADS = (b'[\n {\n  "instruction": ', b"[]", b'{"messages": [', b'{"conversations": [', b'{"instruction": ',
                 b"task: humc_")


def starts_otherwise(path: Path, heads: tuple[bytes, ...]) -> bool:
    """Whether the file ``path`` holds something that starts with none of ``heads`` (how the files humc writes there
    start): False for a missing, empty or unreadable file (the write says why it cannot). On Windows humc's text
    files are written with CRLF line ends (text mode), as git may check them out: still humc's own."""
    if not path.is_file():
        return False
    try:
        with open(path, "rb") as f:  # twice the head: each line break may be CRLF
            head = f.read(2 * max(map(len, heads)))
    except OSError:
        return False
    return bool(head) and not head.replace(b"\r\n", b"\n").startswith(heads)


def _refuse_foreign(path: Path) -> None:
    """E3003 when ``path`` holds something an export did not write (the user's own `train.json` in OUT_DIR, or their
    own OpenAI chat `train.jsonl`, which starts as a `messages` export does, replaced without a word); an export's
    file, or an empty one, is replaced."""
    if path.name == "dataset_info.json":
        return  # LLaMA-Factory's list keeps its other datasets (_other_datasets)
    if starts_otherwise(path, _EXPORT_HEADS) or not _rows_kept(path):
        raise HumcError(f"cannot export into {path.parent}: {path.name} there is a file humc did not export",
                        Span(str(path), 1, 1), code="E3003", expected="OUT_DIR: a new folder, or one an export wrote",
                        hint="export into a folder of its own; nothing was written")


_FIRST_ROW_LIMIT = 16 << 20  # bytes read to find an exported file's first record


def _rows_kept(path: Path) -> bool:
    """Whether an exported data file's first record holds the columns every export keeps (``KEPT``: id, task, …); True
    for a file that is missing, empty, `[]`, no data file (lm-eval's YAML) or whose first record is too long to read."""
    if path.suffix not in (".json", ".jsonl") or not path.is_file():
        return True
    row = _first_row(path)
    return row is None or (isinstance(row, dict) and all(key in row for key in KEPT))


def _first_row(path: Path) -> Any:
    """The first record of a JSON Lines file, or of an Alpaca export's indented array ("[", " {", its keys, " },"); None
    when there is none or it is longer than ``_FIRST_ROW_LIMIT``, {} when it is no JSON."""
    with open(path, "rb") as f:
        if path.suffix == ".jsonl":
            text = f.readline(_FIRST_ROW_LIMIT + 1)
        else:
            f.readline()
            lines: list[bytes] = []
            while (line := f.readline(_FIRST_ROW_LIMIT + 1)) and sum(map(len, lines)) <= _FIRST_ROW_LIMIT:
                lines.append(line)
                if line.rstrip(b"\r\n") in (b" }", b" },"):
                    break
            text = b"".join(lines).rstrip().removesuffix(b",")
    if not text.strip() or len(text) > _FIRST_ROW_LIMIT:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return {}


def _export_splits(shards: dict[str, list[Path]], to: str, out: Path, name: str,
                   place: Callable[[Path], Path]) -> dict[str, int | None]:
    written: dict[str, int | None] = {}
    for split, paths in shards.items():
        if to == "alpaca":
            rows = [{"instruction": r["instruction"], "input": "", "output": r["output"], **_meta(r)} for r in records_of(paths)]
            place(out / f"{split}.json").write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
            written[f"{split}.json"] = len(rows)
        elif to == "messages":
            written[f"{split}.jsonl"] = _write_jsonl(place(out / f"{split}.jsonl"),
                                                     ({"messages": messages_of(r), **_meta(r)} for r in records_of(paths)))
        else:
            written[f"{split}.jsonl"] = _write_jsonl(place(out / f"{split}.jsonl"), (_sharegpt(r) for r in records_of(paths)))
    if to == "llama-factory":
        ours = {f"{name}_{split}": {"file_name": f"{split}.jsonl", "formatting": "sharegpt",
                                    "columns": {"messages": "conversations"},
                                    "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human",
                                             "assistant_tag": "gpt"}} for split in shards}
        info = {**_other_datasets(out / "dataset_info.json", ours), **ours}
        place(out / "dataset_info.json").write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n",
                                                    encoding="utf-8")
        written["dataset_info.json"] = None
    return written


def _other_datasets(info_path: Path, ours: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The entries of an existing ``dataset_info.json`` that name other datasets (LLaMA-Factory's `data/` lists all
    of them in that one file: replacing it would drop them). E3002 when the file is no JSON object, or another
    dataset's entry names a file this export writes (it would be replaced under that dataset)."""
    if not info_path.is_file():
        return {}
    try:
        existing = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        existing = None
    if not isinstance(existing, dict):
        raise HumcError(f"cannot write {info_path}: it exists and is no LLaMA-Factory dataset list (a JSON object)",
                        Span(str(info_path), 1, 1), code="E3002", expected="a dataset_info.json humc may add its entries to",
                        hint="export into a folder of its own; nothing was written")
    files = {entry["file_name"] for entry in ours.values()}
    for other, entry in existing.items():
        if other not in ours and isinstance(entry, dict) and entry.get("file_name") in files:
            raise HumcError(f"cannot write {info_path.parent / str(entry['file_name'])}: it is the file of dataset "
                            f"'{other}' in {info_path}", Span(str(info_path), 1, 1), code="E3002",
                            expected="file names no other dataset of dataset_info.json uses",
                            hint="export into a folder of its own; nothing was written")
    return {k: v for k, v in existing.items() if k not in ours}


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


def _refuse_shared_data(out: Path, task: str, data: Path) -> None:
    """E3002 when the task of another dataset exported into ``out`` reads ``data`` (its YAML names the file): replaced,
    it would evaluate that task on this dataset's records without a word."""
    named = f"test: {json.dumps(str(data.resolve()), ensure_ascii=False)}"
    for other in sorted(out.glob("humc_*.yaml")) if out.is_dir() else []:
        try:
            reads = other.name != f"{task}.yaml" and named in other.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            reads = False
        if reads:
            raise HumcError(f"cannot write {data}: it is the data file of the lm-eval task {other.stem} ({other.name})",
                            Span(str(other), 1, 1), code="E3002",
                            expected="an OUT_DIR no other dataset's lm-eval task reads test.jsonl from",
                            hint="export into a folder of its own; nothing was written")


def _lm_eval(shards: dict[str, list[Path]], out: Path, name: str, place: Callable[[Path], Path]) -> dict[str, int | None]:
    task = "humc_" + "".join(ch if ch.isalnum() else "_" for ch in name)
    _refuse_shared_data(out, task, out / "test.jsonl")
    n = _write_jsonl(place(out / "test.jsonl"), ({"instruction": r["instruction"], "output": r["output"], **_meta(r)}
                                                 for r in records_of(shards["test"])))
    place(out / f"{task}.yaml").write_text(lm_eval_yaml(task, out / "test.jsonl"), encoding="utf-8")
    return {"test.jsonl": n, f"{task}.yaml": None}
