"""Hostile environments and resource limits of a user's machine or CI, found by a sweep of the real CLI under
`ulimit -n`, `ulimit -v`, `ulimit -f`, closed standard streams, a deleted current folder and a locked cache index:
each once ended in an internal error (exit 3), a misleading diagnostic or a silent minute-long wait; each is now a
compiler-style error (exit 2) or works, with nothing partial written and the next run resuming."""

from __future__ import annotations

import ast
import json
import os
import resource
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import REPO, run_cli, tiny_recipe, tree_bytes

from humc import cachedb
from humc.cli import main
from humc.cli.system import system_error
from humc.errors import HumcError

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX resource limits and descriptors")

ROWS = [{"context": "Paris is in France.", "question": "Where is Paris?", "answers": ["France"]},
        {"context": "Rome is in Italy.", "question": "Where is Rome?", "answers": ["Italy"]}]


def recipe_in(folder: Path, source: str = "data.jsonl") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    path = folder / "tiny.hum.yaml"
    path.write_text(tiny_recipe(data=source), encoding="utf-8")
    return path


def humc(*args: str, cwd: Path | None = None, before: Callable[[], Any] | None = None) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess; ``before`` runs in the child before humc starts (a limit, a closed stream)."""
    return subprocess.run([sys.executable, "-m", "humc", *args], env={**os.environ, "PYTHONPATH": str(REPO)},
                          cwd=cwd, preexec_fn=before, capture_output=True, text=True, timeout=300)


def files_limit(n: int) -> Callable[[], None]:
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))


def test_too_few_open_files_is_e9002_naming_ulimit_and_the_next_build_resumes(tmp_path: Path) -> None:
    """`ulimit -n 9` ended a build with "internal error: OSError: Too many open files" (exit 3), or E0009 "check the
    file's permissions" at a source that was perfectly readable."""
    recipe = recipe_in(tmp_path / "r")
    cut = humc("build", str(recipe), "-q", before=files_limit(9))
    assert cut.returncode == 2, cut.stderr
    assert cut.stderr.startswith("error[E9002]: out of open files") and "ulimit -n" in cut.stderr
    assert "internal error" not in cut.stderr and "permissions" not in cut.stderr
    assert not (tmp_path / "r" / "out" / "tiny").exists()
    again = run_cli("build", str(recipe), "-q")
    assert again.exit_code == 0, again.output


def test_out_of_memory_threads_or_a_library_that_cannot_be_mapped_are_e9002(monkeypatch: pytest.MonkeyPatch) -> None:
    """`ulimit -v` showed as "internal error: MemoryError", "ImportError: libarrow.so: failed to map segment" or
    "RuntimeError: can't start new thread", each "a bug in humc"."""
    for exc in (MemoryError(), ImportError("libarrow.so.2600: failed to map segment from shared object"),
                RuntimeError("can't start new thread"), OSError(12, "Cannot allocate memory")):
        found = system_error(exc)
        assert found is not None and found.code == "E9002", exc
    assert system_error(RuntimeError("something else")) is None and system_error(ImportError("no module x")) is None
    import humc.cli.system as system  # a thread refused under `ulimit -v` (its stack not mapped) is out of memory

    monkeypatch.setattr(system, "address_space_limited", lambda: True)
    assert system.system_error(RuntimeError("can't start new thread")).message.startswith("out of memory")
    monkeypatch.setattr(system, "address_space_limited", lambda: False)
    assert system.system_error(RuntimeError("can't start new thread")).message.startswith("out of threads")

    def exhausted(*_: object, **__: object) -> None:
        raise MemoryError

    monkeypatch.setattr("humc.cli.explain.did_you_mean", exhausted)  # `humc explain` of an unknown code calls it
    result = CliRunner().invoke(main, ["explain", "E0000"])
    assert result.exit_code == 2 and "error[E9002]: out of memory" in result.output, result.output
    assert "ulimit -v" in result.output and "internal error" not in result.output


@pytest.mark.parametrize(("exc", "code"), [(MemoryError, "E9002"), (RecursionError, "E0010")])
def test_with_format_json_a_machine_limit_or_too_deep_input_gives_its_verdict_on_stdout(
        monkeypatch: pytest.MonkeyPatch, exc: type[BaseException], code: str) -> None:
    """`humc --format json` printed the E0010 verdict of a RecursionError on stderr (stdout, where editors and CI
    read it, stayed empty), unlike every other error's."""

    def exhausted(*_: object, **__: object) -> None:
        raise exc

    monkeypatch.setattr("humc.cli.explain.did_you_mean", exhausted)  # `humc explain` of an unknown code calls it
    result = CliRunner().invoke(main, ["--format", "json", "explain", "E0000"])
    verdict = json.loads(result.stdout)
    assert result.exit_code == 2 and verdict["exit_code"] == 2 and verdict["diagnostics"][0]["code"] == code
    assert '"diagnostics"' not in result.stderr


def test_an_error_that_exits_at_once_with_stdout_closed_still_exits_with_its_code(monkeypatch: pytest.MonkeyPatch) -> None:
    """Python sets sys.stdout to None when descriptor 1 is closed at start (`humc build r.hum.yaml >&-`): the exit at
    once after a render worker was killed (E4402) flushed it, an AttributeError instead of exit 2."""
    from humc.cli import report_error

    def exit_now(code: int) -> None:
        raise SystemExit(code)

    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr("humc.cli.os._exit", exit_now)
    error = HumcError("a render worker was killed", code="E4402")
    error.exit_at_once = True
    with pytest.raises(SystemExit) as exited:
        report_error(error, "text")
    assert exited.value.code == 2


def test_a_deleted_current_folder_with_relative_paths_is_e3002_not_an_internal_error(tmp_path: Path) -> None:
    """`cd work && rm -r ../work && humc build /abs/r.hum.yaml --out rel` ended with an internal FileNotFoundError."""
    recipe = recipe_in(tmp_path / "r")
    assert run_cli("build", str(recipe), "-q").exit_code == 0
    dataset = tmp_path / "r" / "out" / "tiny"
    before = tree_bytes(tmp_path / "r")
    gone = tmp_path / "gone"
    for args in (["build", str(recipe), "-q", "--out", "rel"], ["export", str(dataset), "rel", "--to", "alpaca"]):
        gone.mkdir()
        cut = humc(*args, cwd=gone, before=lambda: os.rmdir(os.getcwd()))
        assert cut.returncode == 2, cut.stderr
        assert cut.stderr.startswith("error[E3002]: the current folder no longer exists"), cut.stderr
    assert tree_bytes(tmp_path / "r") == before


def read_only_stderr() -> None:
    """What a shell wrapper (a pyenv shim) leaves on a closed descriptor 2: its own script, opened read-only."""
    fd = os.open(__file__, os.O_RDONLY)
    os.dup2(fd, 2)
    os.close(fd)


def test_a_closed_stderr_behind_a_shell_wrapper_keeps_the_exit_codes(tmp_path: Path) -> None:
    """`humc build r.hum.yaml 2>&-` through a pyenv shim wrote the dataset and then exited 1 (the summary could not
    be printed: EBADF, then the internal-error line neither); a bad recipe exited 1 instead of 2."""
    recipe = recipe_in(tmp_path / "r")
    built = humc("build", str(recipe), before=read_only_stderr)
    assert built.returncode == 0 and (tmp_path / "r" / "out" / "tiny" / "build.json").is_file()
    assert humc("check", str(tmp_path / "missing.hum.yaml"), before=read_only_stderr).returncode == 2


def member_recipe(folder: Path) -> Path:
    """The tiny recipe reading its rows from a 300 kB member of a zip archive."""
    recipe = recipe_in(folder, source="{path: data.zip, member: d/data.jsonl, format: jsonl}")
    padded = [{**r, "context": r["context"] + " " + "x" * 150_000} for r in ROWS]
    with zipfile.ZipFile(folder / "data.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("d/data.jsonl", "".join(json.dumps(r) + "\n" for r in padded))
    return recipe


def test_an_archive_member_on_a_full_disk_is_e3002_at_member_not_a_bad_name_and_the_rebuild_is_identical(
        tmp_path: Path) -> None:
    """Extracting `member:` over `ulimit -f` (a full disk: ENOSPC likewise) was E4002 "data.zip cannot be read",
    expecting another name, with the hint "did you mean 'd/data.jsonl'? It looks the same but is written with other
    Unicode characters" for the very name written."""
    recipe = member_recipe(tmp_path / "r")
    cut = humc("build", str(recipe), "-q", before=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000)))
    assert cut.returncode == 2, cut.stderr
    assert "error[E3002]: source 'qa': cannot extract 'd/data.jsonl' into" in cut.stderr and "File too large" in cut.stderr
    assert "tiny.hum.yaml:4:" in cut.stderr and "ulimit -f" in cut.stderr and "did you mean" not in cut.stderr
    archives = tmp_path / "r" / ".humc" / "cache" / "archives"
    assert not [p for p in archives.rglob("*") if p.is_file() and p.parent.name != "by-stat"]
    assert not (tmp_path / "r" / "out").exists()
    assert run_cli("build", str(recipe), "-q").exit_code == 0
    clean = member_recipe(tmp_path / "clean")
    assert run_cli("build", str(clean), "-q").exit_code == 0
    assert tree_bytes(tmp_path / "r" / "out" / "tiny") == tree_bytes(tmp_path / "clean" / "out" / "tiny")


def test_a_cache_index_locked_by_another_process_says_so_while_waiting_and_then_names_the_cause(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A sqlite shell holding the index in an exclusive transaction made a build wait a silent minute, then fail with
    E3002 "database is locked" and the hint "pass a writable folder"."""
    with cachedb.CacheDB(tmp_path / "c"):
        pass
    holder = sqlite3.connect(str(tmp_path / "c" / "cache.db"), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    real = cachedb.diskcache.Cache

    def impatient(*args: Any, **kwargs: Any) -> Any:  # diskcache retries a locked index for 60 s: 0.3 s here
        time.sleep(0.3)
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(cachedb, "WAIT_NOTICE_S", 0.05)
    monkeypatch.setattr(cachedb, "LOCK_WAIT_S", 0.5)
    monkeypatch.setattr(cachedb.diskcache, "Cache", impatient)
    with pytest.raises(HumcError) as caught:
        cachedb.CacheDB(tmp_path / "c")
    assert caught.value.code == "E3002" and "database is locked" in caught.value.message
    assert "another process held the cache index locked" in str(caught.value.hint)
    assert "waiting for the cache index in" in capsys.readouterr().err
    holder.rollback()
    holder.close()
    monkeypatch.setattr(cachedb.diskcache, "Cache", real)
    with cachedb.CacheDB(tmp_path / "c"):
        pass


def test_a_cache_write_that_waited_out_a_lock_is_e4401_naming_the_lock_not_an_internal_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write (or the delete of a damaged entry) under an index another process held locked for sqlite's minute
    raised diskcache's Timeout: "internal error: Timeout: " (exit 3), not the E4401 the lock's hint belongs to."""
    real = cachedb.diskcache.Cache
    monkeypatch.setattr(cachedb.diskcache, "Cache", lambda *a, **k: real(*a, **{**k, "timeout": 0.1}))
    monkeypatch.setattr(cachedb, "LOCK_WAIT_S", 0.3)  # humc tries a locked index again for a minute
    with cachedb.CacheDB(tmp_path / "c") as db:
        db.set("kept", 1)
        holder = sqlite3.connect(str(tmp_path / "c" / cachedb.INDEX))
        holder.execute("BEGIN IMMEDIATE")
        for write in (lambda: db.set("k", 1), lambda: db.set_many([("k", 1)])):
            with pytest.raises(HumcError) as caught:
                write()
            assert caught.value.code == "E4401" and "its index stayed locked" in caught.value.message
            assert "another process held the cache index locked" in str(caught.value.hint)
        db.delete("kept")  # best effort, like dropping a damaged entry: the row stays
        holder.rollback()
        holder.close()
        assert db.get("kept") == 1


def test_a_recipe_edited_while_it_is_validated_is_shown_and_hashed_as_it_was_parsed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The recipe's text was read a second time at the end of validation: a `seed:` edited during a build gave data
    of the old seed under a card quoting the new recipe, and a manifest fingerprint of neither."""
    from humc.recipe import validate

    recipe = recipe_in(tmp_path / "r")
    parsed = recipe.read_text(encoding="utf-8")
    real = validate.load_yaml_text

    def edited_meanwhile(text: str, file: str) -> Any:
        node = real(text, file)
        recipe.write_text(parsed.replace("formats: [json, natural]", "formats: [json]"), encoding="utf-8")
        return node

    monkeypatch.setattr(validate, "load_yaml_text", edited_meanwhile)
    compiled = validate.compile_recipe(recipe)
    assert compiled.text == parsed and "formats: [json]\n" in recipe.read_text(encoding="utf-8")


def test_opening_the_cache_leaves_no_waiting_notice_thread_behind(tmp_path: Path) -> None:
    """The lock notice's timer was cancelled but not joined: a thread per open outlived it, which may print on a
    stderr closed meanwhile or be running when render workers fork."""
    for _ in range(3):
        with cachedb.CacheDB(tmp_path / "c"):
            assert not [t for t in threading.enumerate() if isinstance(t, threading.Timer)]



@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc/self/fd")
@pytest.mark.parametrize("closed", [(0,), (1,), (2,), (1, 2), (0, 1, 2)])
def test_a_closed_standard_descriptor_gets_dev_null_and_no_file_takes_its_number(tmp_path: Path,
                                                                                 closed: tuple[int, ...]) -> None:
    """`humc … >&-` (no shell wrapper in between): /dev/null opened for a closed descriptor got that very number
    (the lowest free one), was "moved" onto itself and closed again, so the next file humc opened (a lock, a shard)
    became its stdout or stderr."""
    probe = ("import os, sys\nfrom humc.cli.system import open_std_streams\nopen_std_streams()\n"
             "taken = os.open(os.devnull, os.O_RDONLY)\nlinks = [os.readlink(f'/proc/self/fd/{fd}') for fd in (0, 1, 2)]\n"
             "with open(sys.argv[1], 'w') as out:\n    out.write(repr((taken, links)))\n")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-c", probe, str(out)], env={**os.environ, "PYTHONPATH": str(REPO)},
                          preexec_fn=lambda: [os.close(fd) for fd in closed], timeout=60)
    taken, links = ast.literal_eval(out.read_text())
    assert done.returncode == 0 and taken > 2
    assert all(links[fd] == os.devnull for fd in closed)
