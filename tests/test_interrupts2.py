"""Interruptions of a build the earlier tests (test_concurrency, test_parallel, test_cache) do not cover: each is
made at a chosen point (a hook on the step before it), never after a random sleep."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import run_cli, tree_bytes, write_ner_workload  # noqa: E402

from humc.dataset.hub import verify_build  # noqa: E402


def _build(recipe: Path, tmp: Path) -> Any:
    return run_cli("build", str(recipe), "-q", "-j", "1", "--out", str(tmp / "out"), "--cache", str(tmp / "cache"))


@pytest.mark.parametrize("what", ["file", "link"])
def test_a_file_put_at_the_dataset_path_while_the_build_runs_is_kept_and_nothing_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, what: str) -> None:
    """Before, the write swapped the user's file (or link) aside as `.big.old-<pid>`, where it stayed, and put the
    dataset in its place: the build's first check (E3002 for a file) had run before the file appeared."""
    import humc.dataset.writer as writer

    recipe = write_ner_workload(tmp_path, 50)
    final = tmp_path / "out" / "big"
    elsewhere = tmp_path / "mine"
    elsewhere.mkdir()
    real = writer._remove_stale_siblings

    def appear(folder: Path) -> None:  # the moment the write starts: the compiler's checks have passed
        real(folder)
        if what == "file":
            final.write_text("my notes\n")
        else:
            final.symlink_to(elsewhere, target_is_directory=True)

    monkeypatch.setattr(writer, "_remove_stale_siblings", appear)
    result = _build(recipe, tmp_path)
    assert result.exit_code == 2, result.output
    assert f"error[E3002]: cannot write the dataset to {final}: it is a {'file' if what == 'file' else 'symbolic'}" \
        in result.output and "nothing was deleted or written" in result.output
    assert sorted(p.name for p in final.parent.iterdir()) == ["big"]  # no `.big.old-*`, no `.big.tmp-*`
    assert final.read_text() == "my notes\n" if what == "file" else final.readlink() == elsewhere
    assert not list(elsewhere.iterdir())


def test_an_export_removes_the_partial_files_an_export_killed_with_9_left_and_keeps_a_running_ones(
        tmp_path: Path) -> None:
    """`humc export` writes `.<stem>.<pid>-<hex>.partial<suffix>` beside each file; kill -9 leaves them (no clean-up
    runs) and, before, no later export removed them: `test.jsonl` gained a hidden `.test.<pid>-….partial.jsonl`
    (half an export) that a `*.jsonl` glob in Python reads as data."""
    recipe = write_ner_workload(tmp_path, 50)
    assert _build(recipe, tmp_path).exit_code == 0
    out = tmp_path / "lm"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE) as live:
        left = out / f".test.{dead.pid}-0d7f274d.partial.jsonl"
        running = out / f".test.{live.pid}-1a2b3c4d.partial.jsonl"
        other = out / f".train.{dead.pid}-0d7f274d.partial.txt"  # another file's: not this export's to judge
        for path in (left, running, other):
            path.write_text('{"half": ')
        result = run_cli("export", str(tmp_path / "out" / "big"), "--to", "lm-eval", str(out))
        assert live.stdin is not None
        live.stdin.close()
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(["humc_big.yaml", "test.jsonl", running.name, other.name])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="renameat2 RENAME_EXCHANGE: Linux only")
def test_a_rebuild_swaps_the_new_dataset_in_without_a_moment_the_folder_is_missing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before, the old folder was renamed aside and then the new one into place: a kill -9 between the two renames
    left no dataset folder (only a hidden `.big.old-<pid>`) until the next build."""
    import humc.dataset.writer as writer

    recipe = write_ner_workload(tmp_path, 50, shard_rows=20)
    assert _build(recipe, tmp_path).exit_code == 0
    final = tmp_path / "out" / "big"
    real, seen = os.replace, []

    def replace(src: Any, dst: Any) -> None:  # as if killed with -9 right after any rename of the write
        real(src, dst)
        seen.append(final.is_dir() and (final / "build.json").is_file())

    monkeypatch.setattr(writer.os, "replace", replace)
    recipe.write_text(recipe.read_text().replace("shard_rows: 20", "shard_rows: 30"))
    assert _build(recipe, tmp_path).exit_code == 0
    assert all(seen)
    assert sorted(p.name for p in final.parent.iterdir()) == ["big"]
    manifest, _ = verify_build(final)  # the new build, whole
    assert len(list((final / "data").glob("train-*.parquet"))) == math.ceil(manifest["counts"]["train"] / 30)


def _ignores_hangup(pid: int) -> bool:
    """Whether process ``pid`` ignores SIGHUP (a render worker past its start-up), from /proc."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    ignored = next(int(line.split()[1], 16) for line in status.splitlines() if line.startswith("SigIgn:"))
    return bool(ignored & (1 << (signal.SIGHUP - 1)))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="render workers are forked on Linux only")
@pytest.mark.parametrize("when", ["rendering", "forking"])
def test_a_hangup_of_the_terminal_ends_a_parallel_build_like_sigterm_and_the_next_build_resumes(
        tmp_path: Path, when: str) -> None:
    """Closing the terminal (or a dropped SSH session) sends SIGHUP to the build and its render workers. Before,
    Python's default ended the build on the spot, silently (exit -1): its lock files and any half-written
    `.big.tmp-<pid>` folder stayed behind and no line said what happened. `forking`: the signal comes as the first
    worker appears, while the build may still be forking; before, it could be swallowed inside fork's at-fork hooks
    (an ignored exception, the logging lock left taken) and the build hung at the card's plots (half the time)."""
    from test_concurrency import Humc, child_pids, stopped, until

    from humc.locks import lock_path

    recipe = write_ner_workload(tmp_path, 6000)
    out, cache = tmp_path / "out", tmp_path / "cache"
    build = Humc("build", recipe, "--out", out, "--cache", cache, "-j", "2")
    if when == "forking":
        until(lambda: bool(child_pids(build.pid)), "the build forks its render workers", build)
    else:
        until(lambda: len(child_pids(build.pid)) == 2 and all(map(_ignores_hangup, child_pids(build.pid))),
              "the build's render workers have started", build)
    with stopped(build):  # the whole foreground group is hung up: the workers, then the build
        for pid in [*child_pids(build.pid), build.pid]:
            os.kill(pid, signal.SIGHUP)
    assert build.finish() == 129, build.stderr
    assert "Traceback" not in build.stderr and build.lines[-1].startswith("terminated: finished work is saved")
    assert not out.exists() or not list(out.iterdir())  # no dataset, no temporary folder, no lock file
    assert not lock_path(cache, inside=True).exists() and not child_pids(build.pid)
    again = _build(recipe, tmp_path)
    assert again.exit_code == 0, again.output
    reference = run_cli("build", str(recipe), "-q", "--out", str(tmp_path / "ref"), "--cache", str(tmp_path / "rc"))
    assert reference.exit_code == 0 and tree_bytes(out / "big") == tree_bytes(tmp_path / "ref" / "big")
