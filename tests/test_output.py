"""Trustworthy builds: humc never deletes what it did not write, folders follow one path rule, an empty
build fails, and a failed or killed write leaves no partial output behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO, run_cli, tiny_recipe, tree_bytes, write_ner_workload

RECIPE = tiny_recipe(data="{data}", where="{where}", extra="{extra}")

ROWS = [{"context": "Paris is in France.", "question": "Where is Paris?", "answers": ["France"]},
        {"context": "The sky is blue.", "question": "What colour is the sky?", "answers": ["blue"]}]


def write_recipe(folder: Path, *, data: str = "data.jsonl", where: str = "len(context) > 0", extra: str = "",
                 name: str = "tiny.hum.yaml") -> Path:
    """A recipe in ``folder`` reading ``folder/data`` (written here too)."""
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / data
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    recipe = folder / name
    recipe.write_text(RECIPE.format(data=data, where=where, extra=extra), encoding="utf-8")
    return recipe


def build(recipe: Path, *args: str, cwd: Path | None = None):
    return run_cli("build", str(recipe), "-q", *args, cwd=cwd)


def siblings(folder: Path) -> list[str]:
    """Leftovers of the writer beside a dataset folder (``.<name>.tmp-*``, ``.<name>.old-*``)."""
    return sorted(p.name for p in folder.parent.glob(f".{folder.name}.*"))


# ---------------------------------------------------------------- ownership


def test_a_folder_holding_the_recipes_own_data_is_refused_and_left_byte_identical(tmp_path):
    recipe = write_recipe(tmp_path, data="data/tiny/qa.jsonl")
    (tmp_path / "data" / "tiny" / "NOTES.md").write_text("where the data came from\n")
    before = tree_bytes(tmp_path)
    result = build(recipe, "--out", str(tmp_path / "data"), "--cache", str(tmp_path / "cache"))
    assert result.exit_code == 2
    assert "error[E3002]" in result.output and "would contain source 'qa'" in result.output
    assert "from --out" in result.output
    assert tree_bytes(tmp_path) == before and not (tmp_path / "cache").exists()


def test_a_foreign_file_beside_an_old_humc_build_is_refused(tmp_path):
    recipe = write_recipe(tmp_path)
    args = ("--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
    assert build(recipe, *args).exit_code == 0
    folder = tmp_path / "out" / "tiny"
    (folder / "my-analysis.ipynb").write_text("{}")
    recipe.write_text(recipe.read_text().replace("[json, natural]", "[json]"))  # a rebuild would rewrite the folder
    before = tree_bytes(tmp_path / "out")
    result = build(recipe, *args)
    assert result.exit_code == 2
    assert "error[E3003]" in result.output and f"the output folder {folder}" in result.output
    assert "my-analysis.ipynb" in result.output and "nothing was deleted or written" in result.output
    assert tree_bytes(tmp_path / "out") == before and siblings(folder) == []


def test_a_hand_edited_file_in_an_old_build_is_refused(tmp_path):
    recipe = write_recipe(tmp_path)
    args = ("--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
    assert build(recipe, *args).exit_code == 0
    card = tmp_path / "out" / "tiny" / "README.md"
    card.write_text(card.read_text() + "\nMy own notes.\n")
    recipe.write_text(recipe.read_text().replace("[json, natural]", "[json]"))
    result = build(recipe, *args)
    assert result.exit_code == 2 and "README.md (changed since humc wrote it)" in result.output
    assert card.read_text().endswith("My own notes.\n")


def test_a_previous_humc_build_is_replaced(tmp_path):
    recipe = write_recipe(tmp_path)
    args = ("--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
    assert build(recipe, *args).exit_code == 0
    folder = tmp_path / "out" / "tiny"
    old = json.loads((folder / "build.json").read_text())
    recipe.write_text(recipe.read_text().replace("[json, natural]", "[json]"))
    result = build(recipe, *args)
    assert result.exit_code == 0, result.output
    new = json.loads((folder / "build.json").read_text())
    assert new["fingerprint"] != old["fingerprint"]
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == sorted([*new["files"],
                                                                                                  "build.json"])
    assert siblings(folder) == []


def test_an_empty_existing_folder_is_used(tmp_path):
    recipe = write_recipe(tmp_path)
    (tmp_path / "out" / "tiny").mkdir(parents=True)
    result = build(recipe, "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "tiny" / "build.json").is_file()


# ---------------------------------------------------------------- folder rules (E3002)


def test_output_dir_climbing_above_the_recipe_is_refused_at_its_line(tmp_path):
    # the recipe lives in tiny/recipes/sub/: `../../..` + name `tiny` is the recipe's own project folder
    recipe = write_recipe(tmp_path / "tiny" / "recipes" / "sub", extra="output:\n  dir: ../../..\n")
    before = tree_bytes(tmp_path)
    result = build(recipe)
    assert result.exit_code == 2
    assert result.output.startswith(f"{recipe}:16:8: error[E3002]: the output folder {tmp_path / 'tiny'} "
                                    "would contain the recipe's own folder"), result.output
    assert "16 |   dir: ../../.." in result.output
    assert tree_bytes(tmp_path) == before


def test_output_dir_at_the_filesystem_root_is_refused_at_its_line(tmp_path):
    recipe = write_recipe(tmp_path, extra="output:\n  dir: /\n")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 2
    assert result.output.startswith(f"{recipe}:16:8: error[E3002]: the output folder /tiny is at the top of "
                                    "the filesystem"), result.output


def test_an_output_folder_containing_the_cache_is_refused(tmp_path):
    recipe = write_recipe(tmp_path, extra="cache: out/tiny/cache\n")
    result = build(recipe)
    assert result.exit_code == 2
    assert result.output.startswith(f"{recipe}:15:8: error[E3002]: the cache folder {tmp_path / 'out/tiny/cache'} "
                                    f"is inside the output folder {tmp_path / 'out/tiny'}"), result.output
    assert not (tmp_path / "out").exists()


def test_a_cache_inside_the_output_folder_given_on_the_command_line_is_refused(tmp_path):
    recipe = write_recipe(tmp_path)
    result = build(recipe, "--out", str(tmp_path / "o"), "--cache", str(tmp_path / "o" / "tiny" / "c"))
    assert result.exit_code == 2 and "error[E3002]" in result.output and "(from --cache)" in result.output
    assert not (tmp_path / "o").exists()


def test_a_cache_that_is_a_file_is_refused(tmp_path):
    recipe = write_recipe(tmp_path, extra="cache: cache.txt\n")
    (tmp_path / "cache.txt").write_text("not a folder")
    result = build(recipe)
    assert result.exit_code == 2
    assert result.output.startswith(f"{recipe}:15:8: error[E3002]: the cache folder {tmp_path / 'cache.txt'} is a file")


# ---------------------------------------------------------------- one path rule


def test_recipe_folders_resolve_against_the_recipe_not_the_current_directory(tmp_path):
    recipe = write_recipe(tmp_path / "project", extra="output:\n  dir: built\ncache: .cache\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = build(recipe, cwd=elsewhere)
    assert result.exit_code == 0, result.output
    assert f"wrote {tmp_path / 'project' / 'built' / 'tiny'}" in result.output
    assert (tmp_path / "project" / "built" / "tiny" / "build.json").is_file()
    assert (tmp_path / "project" / ".cache").is_dir()
    assert list(elsewhere.iterdir()) == []


def test_command_line_folders_resolve_against_the_current_directory(tmp_path):
    recipe = write_recipe(tmp_path / "project")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = build(recipe, "--out", "o", "--cache", "c", cwd=elsewhere)
    assert result.exit_code == 0, result.output
    assert (elsewhere / "o" / "tiny" / "build.json").is_file() and (elsewhere / "c").is_dir()
    assert sorted(p.name for p in (tmp_path / "project").iterdir()) == ["data.jsonl", "tiny.hum.yaml"]


def test_plan_prints_the_resolved_folders(tmp_path):
    recipe = write_recipe(tmp_path / "project")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_cli("plan", str(recipe), cwd=elsewhere)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"output folder: {tmp_path / 'project' / 'out' / 'tiny'}  ")
    assert lines[1].startswith(f"cache folder:  {tmp_path / 'project' / '.humc' / 'cache'}  ")
    assert "relative to its folder; --out and --cache to the current directory" in lines[2]
    with_options = run_cli("plan", str(recipe), "--out", "o", "--cache", "c", cwd=elsewhere)
    assert f"output folder: {elsewhere / 'o' / 'tiny'}  (from --out)" in with_options.output
    assert f"cache folder:  {elsewhere / 'c'}  (from --cache)" in with_options.output


# ---------------------------------------------------------------- empty builds


def test_an_all_filtered_recipe_fails_and_leaves_the_previous_build_untouched(tmp_path):
    recipe = write_recipe(tmp_path)
    args = ("--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
    assert build(recipe, *args).exit_code == 0
    before = tree_bytes(tmp_path / "out")
    recipe.write_text(recipe.read_text().replace("where: len(context) > 0", "where: len(context) > 1000"))
    result = build(recipe, *args)
    assert result.exit_code == 2
    assert result.output.startswith(f"{recipe}:13:12: error[E4104]: the build would write 0 records")
    assert "note: qa/filter (filter) kept 0 of 2 record(s)" in result.output
    assert tree_bytes(tmp_path / "out") == before and siblings(tmp_path / "out" / "tiny") == []


def test_an_all_filtered_recipe_writes_no_folder(tmp_path):
    recipe = write_recipe(tmp_path, where="len(context) > 1000")
    result = build(recipe, "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
    assert result.exit_code == 2 and "error[E4104]" in result.output
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- atomic writes


def test_a_stale_temporary_folder_of_a_dead_build_is_removed(tmp_path):
    recipe = write_recipe(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / "out" / f".tiny.tmp-{dead.pid}"
    (stale / "data").mkdir(parents=True)
    (stale / "data" / "train-00000-of-00001.parquet").write_bytes(b"half a shard")
    result = build(recipe, "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
    assert result.exit_code == 0, result.output
    assert siblings(tmp_path / "out" / "tiny") == [] and (tmp_path / "out" / "tiny" / "build.json").is_file()


def test_leftovers_of_a_killed_build_are_removed_even_when_their_pid_is_now_another_live_process(tmp_path):
    """A pid is reused (a container restarted, a build killed long ago): before, a leftover named after a pid that
    now belongs to some other live process was taken for a running build's and stayed forever, a dataset's worth of
    disk each. The write holds the output folder's exclusive lock, so no other build can be writing there."""
    recipe = write_recipe(tmp_path)
    out = tmp_path / "out"
    assert build(recipe, "--out", str(out), "--cache", str(tmp_path / "cache")).exit_code == 0
    previous = tree_bytes(out / "tiny")
    other = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        (out / "tiny").rename(out / f".tiny.old-{other.pid}")  # killed between the two renames of the swap
        half = out / f".tiny.tmp-{other.pid}"
        (half / "data").mkdir(parents=True)
        (half / "data" / "train-00000-of-00001.parquet").write_bytes(b"half a shard")
        result = build(recipe, "--out", str(out), "--cache", str(tmp_path / "cache"))
    finally:
        assert other.stdin is not None
        other.stdin.close()
        other.wait()
    assert result.exit_code == 0, result.output
    assert siblings(out / "tiny") == [] and tree_bytes(out / "tiny") == previous


class _CtrlCOnRead(dict):
    """The build's node metas, read by the writer as it starts: Ctrl-C arrives at that moment."""

    def get(self, *args, **kwargs):
        raise KeyboardInterrupt


def test_ctrl_c_right_after_the_write_made_its_temporary_folder_removes_it(tmp_path):
    """Found by a chaos run (SIGINT 0.1 s into the write left `.big.tmp-<pid>`): the folder was made before the
    `try` whose `finally` removes it, so an interrupt while the write set up (the previous shards, the plot
    thread) left it behind."""
    from humc.build.compiler import load_recipe
    from humc.dataset.writer import WriteJob, write_dataset
    from humc.progress import Progress

    recipe = load_recipe(write_recipe(tmp_path), out_dir=tmp_path / "out", cache_dir=tmp_path / "cache")
    job = WriteJob(recipe, "fp", "plan-fp", {"train": 1}, lambda split: iter(()), lambda runs: iter(()), {},
                   _CtrlCOnRead(), Progress(enabled=False))
    with pytest.raises(KeyboardInterrupt):
        write_dataset(job)
    assert list((tmp_path / "out").iterdir()) == []  # no `.tiny.tmp-<pid>` left


def test_a_swap_stopped_between_its_two_renames_puts_the_old_folder_back(tmp_path):
    """Ctrl-C can land between moving the old folder aside and moving the new one in (here: the second rename fails,
    as a refused rename would): before, the dataset folder was then missing until the next build."""
    from humc.dataset.writer import replace_dir

    final = tmp_path / "big"
    (final / "data").mkdir(parents=True)
    (final / "build.json").write_text("{}")
    with pytest.raises(FileNotFoundError):
        replace_dir(tmp_path / ".big.tmp-1", final)  # no new folder to move in
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big"] and (final / "build.json").read_text() == "{}"


def test_kill_9_during_the_write_keeps_the_old_build_and_the_next_build_cleans_up(tmp_path):
    recipe = write_ner_workload(tmp_path, 10_000, shard_rows=300)
    args = ["--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache")]
    assert build(recipe, *args).exit_code == 0
    folder = tmp_path / "out" / "big"
    before = tree_bytes(folder)
    recipe.write_text(recipe.read_text().replace("shard_rows: 300", "shard_rows: 200"))  # only the write reruns
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "humc", "build", str(recipe), "-q", *args], env=env)
    deadline = time.time() + 120
    while not any(folder.parent.glob(".big.tmp-*/data/*.parquet")):  # the write is part-way through
        assert proc.poll() is None, "the build finished before it could be killed"
        assert time.time() < deadline
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert tree_bytes(folder) == before  # the old build is whole; the half-written one never replaced it
    result = build(recipe, *args)
    assert result.exit_code == 0, result.output
    assert siblings(folder) == []
    manifest = json.loads((folder / "build.json").read_text())
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == sorted([*manifest["files"],
                                                                                                  "build.json"])


def test_output_dir_outside_the_recipe_folder_is_refused_but_out_may_point_anywhere(tmp_path):
    recipe = write_recipe(tmp_path / "project" / "recipes", extra="output:\n  dir: ../../elsewhere\n")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 2
    assert result.output.startswith(f"{recipe}:16:8: error[E3002]: the output folder "
                                    f"{tmp_path / 'elsewhere' / 'tiny'} is outside the recipe's folder"), result.output
    assert "pass --out" in result.output
    built = build(recipe, "--out", str(tmp_path / "elsewhere"), "--cache", str(tmp_path / "cache"))
    assert built.exit_code == 0, built.output
    assert (tmp_path / "elsewhere" / "tiny" / "build.json").is_file()


def test_an_out_folder_the_system_refuses_is_e3002_before_any_work(tmp_path):
    """/proc passes os.access(W_OK) for root but refuses a new folder: the probe folder finds out, not the writer."""
    recipe = write_recipe(tmp_path / "r")
    result = build(recipe, "--out", "/proc/humc-out", "--cache", str(tmp_path / "cache"))
    assert result.exit_code == 2 and "internal error" not in result.output
    assert "error[E3002]: cannot write the dataset to /proc/humc-out/tiny: /proc refuses a new folder" in result.output
    assert not (tmp_path / "cache").exists()  # refused before the cache was opened


def test_a_full_disk_during_the_write_is_e3002_and_keeps_the_old_build(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs")
    try:
        recipe = write_recipe(tmp_path / "r")
        out = disk / "out"
        assert build(recipe, "--out", str(out), "--cache", str(tmp_path / "cache")).exit_code == 0
        before = tree_bytes(out / "tiny")
        _fill(disk / "fill")
        write_recipe(tmp_path / "r", where="len(context) > 1")  # another dataset: the write must run again
        result = build(recipe, "--out", str(out), "--cache", str(tmp_path / "cache"))
        assert result.exit_code == 2 and "internal error" not in result.output, result.output
        assert "error[E3002]: cannot write" in result.output and "No space left on device" in result.output
        assert tree_bytes(out / "tiny") == before and siblings(out / "tiny") == []
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=False)  # the failed write's traceback may hold a file


def _fill(path: Path) -> None:
    """Fill the file system (a new folder still fits: tmpfs folders take no blocks)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 1024)
    except OSError:
        pass
    finally:
        os.close(fd)


IMPORT_SPY = """
import json, sys, threading
from importlib.abc import MetaPathFinder

imported = []

class Spy(MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if threading.current_thread() is threading.main_thread() and any(
                t.name.startswith(("humc-plots", "humc-parquet")) for t in threading.enumerate()):
            imported.append(name)
        return None

sys.meta_path.insert(0, Spy())
from humc.cli import main
try:
    main(sys.argv[1:], standalone_mode=False)
finally:
    print(json.dumps(imported))
"""


def test_the_main_thread_imports_nothing_while_the_writes_threads_run(tmp_path):
    """A chaos run hung on Ctrl-C during the write (`Exception ignored in: _get_module_lock.<locals>.cb`): the main
    thread imported pyarrow's pandas shim while the plot thread imported matplotlib, the interrupt left CPython's
    import lock held, and the clean-up waited forever for the plot thread. With no import in the main thread while
    the write's threads run, an interrupt cannot land inside one."""
    recipe = write_ner_workload(tmp_path, 300)
    done = subprocess.run([sys.executable, "-c", IMPORT_SPY, "build", str(recipe), "-q", "--out", str(tmp_path / "out"),
                           "--cache", str(tmp_path / "cache")], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "big" / "build.json").is_file()
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


# ---------------------------------------------------------------------------- the shard table


def _reference_table(batch: list[dict]) -> object:
    """What a shard's table holds, spelt out the plain way: every column from the records, `messages_of` per record."""
    import pyarrow as pa

    from humc.dataset.export import messages_of
    from humc.dataset.writer import parquet_schema

    schema = parquet_schema()
    columns = {c: [r.get(c) for r in batch] for c in schema.names if c != "messages"}
    return pa.Table.from_pydict({**columns, "messages": [messages_of(r) for r in batch]}, schema=schema)


def test_shard_table_equals_the_plain_conversion_for_any_texts() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from humc.dataset.writer import _shard_table

    text = st.text(max_size=30)

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.tuples(text, text, st.lists(text, max_size=3)), max_size=12))
    def same(rows: list[tuple[str, str, list[str]]]) -> None:
        batch = [{"id": f"{i:016x}", "instruction": a, "output": b, "labels": labels, "task_entry": "t",
                  "answer_format": "json", "template": "t/en_1", "source": "s", "source_row": i}
                 for i, (a, b, labels) in enumerate(rows)]
        table, entry = _shard_table("train", batch)
        assert table.equals(_reference_table(batch)) and entry["rows"] == len(batch)

    same()
