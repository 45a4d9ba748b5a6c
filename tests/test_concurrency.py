"""Two humc commands on one output or cache folder take turns (humc/locks.py), with real `python -m humc` processes.

Each test synchronises on what it can observe — the pid a build writes into ``.<name>.lock``, a line on a waiting
command's stderr — and holds the first command still with SIGSTOP while the second one arrives, so the overlap never
depends on how fast the machine is.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import REPO, copy_recipes, run_cli, tree_bytes, write_ner_workload  # noqa: E402
from hubserver import HubHTTPServer  # noqa: E402

from humc.dataset.hub import verify_build  # noqa: E402
from humc.errors import HumcError  # noqa: E402
from humc.locks import cache_lock, folder_lock, lock_path  # noqa: E402

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGSTOP and fcntl: POSIX only")

TIMEOUT = 120
TOKEN = "hf_test_token_0123456789"


class Humc:
    """A `python -m humc ...` subprocess whose stderr lines are collected as they come."""

    def __init__(self, *args: object, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "humc", *map(str, args)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                                     env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})
        self.lines: list[str] = []
        self.out: list[str] = []
        self._readers = [threading.Thread(target=self._read, args=(stream, into), daemon=True)
                         for stream, into in ((self.proc.stderr, self.lines), (self.proc.stdout, self.out))]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: IO[str] | None, into: list[str]) -> None:
        assert stream is not None
        with stream:
            for line in stream:
                into.append(line.rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)

    def line(self, needle: str) -> str:
        """The first stderr line holding ``needle``, waiting for it while the process runs."""
        deadline = time.time() + TIMEOUT
        while True:
            found = [line for line in self.lines if needle in line]
            if found:
                return found[0]
            assert self.proc.poll() is None or self._readers[0].is_alive(), f"no {needle!r} on stderr:\n{self.stderr}"
            assert time.time() < deadline, f"no {needle!r} on stderr in {TIMEOUT}s:\n{self.stderr}"
            time.sleep(0.01)

    @property
    def stdout(self) -> str:
        return "\n".join(self.out)

    def finish(self) -> int:
        """Its exit code, once it has ended and both its streams are read."""
        self.proc.wait(TIMEOUT)
        for reader in self._readers:
            reader.join(TIMEOUT)
        return self.proc.returncode


def until(condition: object, what: str, proc: Humc | None = None) -> None:
    deadline = time.time() + TIMEOUT
    while not condition():  # type: ignore[operator]
        assert proc is None or proc.proc.poll() is None, f"the command ended before {what}:\n{proc.stderr if proc else ''}"
        assert time.time() < deadline, f"timed out waiting until {what}"
        time.sleep(0.005)


def holder_pid(folder: Path) -> int | None:
    """The pid an exclusive holder wrote into the folder's lock file (None while there is none)."""
    try:
        text = lock_path(folder).read_text()
    except FileNotFoundError:
        return None
    return int(text.split()[0]) if text.strip() else None


def held(folder: Path, inside: bool = False) -> bool:
    """Whether some process holds the folder's lock (probed without creating the lock file)."""
    try:
        fd = os.open(lock_path(folder, inside), os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@contextmanager
def stopped(proc: Humc) -> Iterator[None]:
    """``proc`` held still (SIGSTOP) inside the block, and always let go again."""
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(proc.pid, signal.SIGCONT)


def started_build(recipe: Path, out: Path, cache: Path, *extra: str) -> Humc:
    """A build that holds its output folder's lock (its pid is in the lock file) and its cache folder's."""
    build = Humc("build", recipe, "--out", out, "--cache", cache, "-j", "1", *extra)
    until(lambda: holder_pid(out / "big") == build.pid, "the build holds its output folder", build)
    until(lambda: held(cache, inside=True) and (cache / "cache.db").exists(), "the build holds its cache", build)
    return build


def check_complete(folder: Path) -> dict[str, object]:
    """The folder is one whole build: every file its manifest lists, with that hash, and the rows it counts."""
    manifest, files = verify_build(folder)
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == sorted([*manifest["files"],
                                                                                                  "build.json"])
    assert pq.read_table(folder / "data").num_rows == sum(manifest["counts"].values())
    return manifest


def holder(folder: Path, *, what: str, shared: bool = False) -> subprocess.Popen[str]:
    """A process holding ``folder``'s lock (as `humc build` would) until its stdin closes (a cache's: inside it)."""
    code = ("import sys; from pathlib import Path; from humc.locks import folder_lock\n"
            "with folder_lock(Path(sys.argv[1]), what=sys.argv[2], command='humc build', shared=sys.argv[3] == '1',\n"
            "                 inside=sys.argv[2] == 'build cache'):\n"
            "    print('held', flush=True); sys.stdin.read()\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(folder), what, "1" if shared else "0"], text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


def let_go(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.close()
    assert proc.wait(TIMEOUT) == 0
    proc.stdout.close()


# ---------------------------------------------------------------------------------------------- builds


def test_two_builds_of_one_output_make_one_dataset_and_the_second_waits_then_finds_it_cached(tmp_path: Path) -> None:
    recipe = write_ner_workload(tmp_path, 3000, shard_rows=1000)
    out, cache = tmp_path / "out", tmp_path / "cache"
    first = started_build(recipe, out, cache, "-q")
    with stopped(first):
        second = Humc("build", recipe, "--out", out, "--cache", cache, "-j", "1")
        line = second.line("is waiting for")
    assert line == f"humc build is waiting for the output folder {out / 'big'}: pid {first.pid} (humc build) is using it"
    assert first.finish() == 0 and second.finish() == 0, second.stderr
    assert "wrote" in first.stdout and "wrote" in second.stdout
    hits = re.search(r"(\d+)/(\d+) node\(s\) from cache", second.stderr)
    assert hits and hits.group(1) == hits.group(2), second.stderr  # the second build found all of the first's work
    assert [line for line in second.lines if "waiting" in line] == [line]  # said once
    manifest = check_complete(out / "big")
    reference = run_cli("build", str(recipe), "-q", "--out", str(tmp_path / "ref"), "--cache", str(tmp_path / "ref-cache"))
    assert reference.exit_code == 0, reference.output
    assert tree_bytes(out / "big") == tree_bytes(tmp_path / "ref" / "big")  # the bytes of one build alone
    assert sum(manifest["counts"].values()) == 6000  # 3000 rows, 2 variants each
    assert not lock_path(out / "big").exists() and not lock_path(cache, inside=True).exists()  # no lock file is left


def test_a_build_killed_while_it_holds_the_locks_does_not_block_the_next_command(tmp_path: Path) -> None:
    recipe = write_ner_workload(tmp_path, 2000)
    out, cache = tmp_path / "out", tmp_path / "cache"
    first = started_build(recipe, out, cache, "-q")
    os.kill(first.pid, signal.SIGKILL)
    first.finish()
    assert holder_pid(out / "big") == first.pid  # its lock file stays behind, naming a dead process
    result = run_cli("build", str(recipe), "-q", "--no-wait", "--out", str(out), "--cache", str(cache))
    assert result.exit_code == 0, result.output
    assert "waiting" not in result.output and f"wrote {out / 'big'}" in result.output
    check_complete(out / "big")
    assert not lock_path(out / "big").exists()  # the next holder removed the stale lock file
    gc = run_cli("cache", "gc", str(recipe), "--no-wait", "--cache", str(cache))
    assert gc.exit_code == 0 and "kept" in gc.output, gc.output


def test_no_wait_fails_with_e3004_while_another_command_holds_the_output_folder(tmp_path: Path) -> None:
    recipe = write_ner_workload(tmp_path, 200)
    out = tmp_path / "out"
    busy = holder(out / "big", what="output folder")
    try:
        result = run_cli("build", str(recipe), "-q", "--no-wait", "--out", str(out), "--cache", str(tmp_path / "cache"))
    finally:
        let_go(busy)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert (f"error[E3004]: the output folder {out / 'big'} is in use by pid {busy.pid} (humc build)"
            in result.output), result.output
    assert "without --no-wait" in result.output
    assert not (out / "big").exists() and not (tmp_path / "cache").exists()  # nothing was written
    again = run_cli("build", str(recipe), "-q", "--no-wait", "--out", str(out), "--cache", str(tmp_path / "cache"))
    assert again.exit_code == 0 and (out / "big" / "build.json").is_file()  # the holder's end released it


def test_builds_share_a_cache_folder_while_gc_and_clean_with_no_wait_refuse_it(tmp_path: Path) -> None:
    recipe = write_ner_workload(tmp_path, 200)
    cache = tmp_path / "cache"
    assert run_cli("build", str(recipe), "-q", "--out", str(tmp_path / "out"), "--cache", str(cache)).exit_code == 0
    build_running = holder(cache, what="build cache", shared=True)  # what a running build holds
    try:
        other = run_cli("build", str(recipe), "-q", "--no-wait", "--out", str(tmp_path / "other"), "--cache", str(cache))
        gc = run_cli("cache", "gc", str(recipe), "--no-wait", "--cache", str(cache))
        clean = run_cli("cache", "clean", "--yes", "--no-wait", "--cache", str(cache))
        verify = run_cli("cache", "verify", "--no-wait", "--cache", str(cache))
    finally:
        let_go(build_running)
    assert other.exit_code == 0 and (tmp_path / "other" / "big" / "build.json").is_file(), other.output
    for refused in (gc, clean, verify):
        assert refused.exit_code == 2, refused.output
        assert f"error[E3004]: the build cache {cache} is in use by another humc process" in refused.output
    assert (cache / "cache.db").is_file()
    assert run_cli("cache", "clean", "--yes", "--no-wait", "--cache", str(cache)).exit_code == 0
    assert not cache.exists()


# ---------------------------------------------------------------------------------------------- cache gc


def test_cache_gc_during_a_build_waits_for_it_and_the_build_is_complete(tmp_path: Path) -> None:
    recipe = write_ner_workload(tmp_path, 3000, shard_rows=1000)
    other = copy_recipes(tmp_path) / "mrc.hum.yaml"  # gc for another recipe keeps nothing of this build's
    out, cache = tmp_path / "out", tmp_path / "cache"
    build = started_build(recipe, out, cache)
    with stopped(build):
        gc = Humc("cache", "gc", other, "--cache", cache)
        line = gc.line("is waiting for")
    assert line == f"humc cache gc is waiting for the build cache {cache}: another humc process is using it"
    assert build.finish() == 0 and gc.finish() == 0, gc.stderr
    assert "damaged" not in build.stderr and "0/9 node(s) from cache" in build.stderr  # nothing was lost under it
    check_complete(out / "big")
    assert "kept 0 node(s), removed 8 stale node(s)" in gc.stdout  # it ran after the build had stored its nodes


def test_cache_clean_waits_for_a_build_instead_of_emptying_the_cache_under_it(tmp_path: Path) -> None:
    recipe = write_ner_workload(tmp_path, 3000, shard_rows=1000)
    out, cache = tmp_path / "out", tmp_path / "cache"
    build = started_build(recipe, out, cache)
    with stopped(build):
        clean = Humc("cache", "clean", "--yes", "--cache", cache)
        clean.line("humc cache clean is waiting for the build cache")
    assert build.finish() == 0 and clean.finish() == 0
    assert "damaged" not in build.stderr
    check_complete(out / "big")
    assert not cache.exists()  # emptied after the build, not under it: no orphan value files stay behind


# ---------------------------------------------------------------------------------------------- push


@pytest.fixture
def hub() -> Iterator[HubHTTPServer]:
    with HubHTTPServer(TOKEN) as srv:
        yield srv


def test_push_waits_for_a_build_that_is_replacing_the_folder_and_publishes_the_new_build(
        hub: HubHTTPServer, tmp_path: Path) -> None:
    recipe = write_ner_workload(tmp_path, 2000, shard_rows=1000)
    out, cache = tmp_path / "out", tmp_path / "cache"
    assert run_cli("build", str(recipe), "-q", "--out", str(out), "--cache", str(cache)).exit_code == 0
    recipe.write_text(recipe.read_text().replace("shard_rows: 1000", "shard_rows: 700"))  # only the write runs again
    build = started_build(recipe, out, cache, "-q")
    env = {"HF_ENDPOINT": hub.url, "HF_TOKEN": TOKEN, "HF_HUB_DISABLE_XET": "1", "HF_HOME": str(tmp_path / "hf"),
           "HF_HUB_OFFLINE": "0"}
    with stopped(build):
        push = Humc("push", out / "big", "--repo", "org/big", env=env)
        line = push.line("is waiting for")
    assert line == f"humc push is waiting for the output folder {out / 'big'}: pid {build.pid} (humc build) is using it"
    assert build.finish() == 0 and push.finish() == 0, push.stderr
    assert "published" in push.stdout
    manifest = check_complete(out / "big")
    remote = hub.state.files("org/big")
    remote.pop(".gitattributes", None)
    assert remote == tree_bytes(out / "big")  # exactly the new build, never a folder half replaced
    assert sorted(f for f in remote if f.startswith("data/")) == [
        "data/test-00000-of-00001.parquet", *(f"data/train-0000{i}-of-00006.parquet" for i in range(6))]
    assert json.loads(remote["build.json"]) == manifest


# ---------------------------------------------------------------------------------------------- the lock itself


def test_a_waiter_is_told_once_who_holds_the_folder_and_takes_the_lock_when_the_holder_lets_go(tmp_path: Path) -> None:
    folder = tmp_path / "out" / "data"
    busy = holder(folder, what="output folder")
    told: list[str] = []

    def notify(message: str) -> None:  # called once, while the holder still holds it: now let it go
        told.append(message)
        let_go(busy)

    with folder_lock(folder, what="output folder", command="humc build", notify=notify):
        assert holder_pid(folder) == os.getpid()  # the holder removed its file; the waiter locked the new one
    assert told == [f"humc build is waiting for the output folder {folder}: pid {busy.pid} (humc build) is using it"]
    assert not lock_path(folder).exists() and not (tmp_path / "out").exists()  # the folder made for the lock is gone


def test_a_lock_is_counted_within_one_process_and_never_turned_exclusive(tmp_path: Path) -> None:
    folder = tmp_path / "out" / "data"
    with folder_lock(folder, what="output folder", command="humc push", shared=True, wait=False):
        with folder_lock(folder, what="output folder", command="humc push", shared=True, wait=False):
            assert held(folder)
        assert held(folder)  # the inner release only counted down
        with pytest.raises(HumcError) as twice:  # a command using one folder to read and to write: exit 2, not 3
            with folder_lock(folder, what="output folder", command="humc build"):
                pass
        assert twice.value.code == "E3004" and "would write the output folder" in twice.value.message
    assert not held(folder) and not lock_path(folder).exists()


def test_a_dead_holders_pid_is_not_shown_as_the_holder(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder.mkdir()
    lock_path(folder, inside=True).write_text(f"{dead.pid} humc build\n")  # left by an exclusive holder killed with -9
    busy = holder(folder, what="build cache", shared=True)  # shared holders write nothing into the file
    try:
        with pytest.raises(HumcError) as refused:
            with cache_lock(folder, command="humc cache gc", shared=False, wait=False):
                pass
    finally:
        let_go(busy)
    assert refused.value.code == "E3004" and refused.value.message == f"the build cache {folder} is in use by another humc process"


def test_a_lock_file_the_system_refuses_is_e3002_and_nothing_is_written(tmp_path: Path) -> None:
    recipe = write_ner_workload(tmp_path, 50)
    result = run_cli("build", str(recipe), "-q", "--out", str(tmp_path / "out"), "--cache", "/proc/humc-cache")
    assert result.exit_code == 2 and "internal error" not in result.output
    assert "error[E3002]: cannot use /proc/humc-cache as the build cache" in result.output, result.output
    assert not (tmp_path / "out").exists()  # the folder made for the output's lock file is removed again


# ---------------------------------------------------------------------------------------------- read-only parents


def _unprivileged() -> list[str]:
    """The command prefix that runs a process without the right to write where its mode bits forbid it (root keeps
    that right unless its capabilities are dropped)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: a read-only folder cannot be made")
    drop = "-dac_override,-dac_read_search"
    return ["setpriv", "--bounding-set", drop, "--inh-caps", drop, "--"]


def _humc_unprivileged(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*_unprivileged(), sys.executable, "-m", "humc", *map(str, args)], capture_output=True,
                          text=True, timeout=TIMEOUT, env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})


@contextmanager
def read_only(folder: Path) -> Iterator[Path]:
    folder.chmod(0o555)
    try:
        yield folder
    finally:
        folder.chmod(0o755)


def test_a_cache_whose_parent_is_read_only_is_locked_from_inside_and_the_build_works(tmp_path: Path) -> None:
    """A volume mounted at /cache: humc cannot make /.cache.lock beside it, so the cache folder's own .humc.lock
    serves (gone again once the build ends)."""
    recipe = write_ner_workload(tmp_path, 50)
    cache = tmp_path / "volume" / "cache"
    cache.mkdir(parents=True)
    with read_only(tmp_path / "volume"):
        done = _humc_unprivileged("build", recipe, "-q", "--out", tmp_path / "out", "--cache", cache)
        again = _humc_unprivileged("cache", "gc", recipe, "--cache", cache)
    assert done.returncode == 0 and "wrote" in done.stdout, done.stderr
    assert check_complete(tmp_path / "out" / "big")
    assert again.returncode == 0 and "kept" in again.stdout, again.stderr
    assert not (cache / ".humc.lock").exists() and not lock_path(cache).exists()


def test_a_read_only_dataset_folder_is_pushed_without_a_lock(hub: HubHTTPServer, tmp_path: Path) -> None:
    recipe = write_ner_workload(tmp_path, 50)
    out = tmp_path / "shelf" / "out"
    assert run_cli("build", str(recipe), "-q", "--out", str(out), "--cache", str(tmp_path / "cache")).exit_code == 0
    env = {"HF_ENDPOINT": hub.url, "HF_TOKEN": TOKEN, "HF_HUB_DISABLE_XET": "1", "HF_HOME": str(tmp_path / "hf"),
           "HF_HUB_OFFLINE": "0"}
    with read_only(out), read_only(out / "big"):
        pushed = _humc_unprivileged("push", out / "big", "--repo", "org/big", env=env)
    assert pushed.returncode == 0 and "published" in pushed.stdout, pushed.stderr
    remote = hub.state.files("org/big")
    remote.pop(".gitattributes", None)
    assert remote == tree_bytes(out / "big")


def test_a_build_whose_output_parent_is_read_only_is_e3002_before_anything_is_written(tmp_path: Path) -> None:
    recipe = write_ner_workload(tmp_path, 50)
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    with read_only(shelf):
        refused = _humc_unprivileged("build", recipe, "-q", "--out", shelf, "--cache", tmp_path / "cache")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert f"error[E3002]: cannot write the dataset to {shelf / 'big'}: {shelf} is not a writable folder" \
        in refused.stderr, refused.stderr
    assert not list(shelf.iterdir()) and not (tmp_path / "cache").exists()


def test_review_with_nothing_to_decide_in_a_read_only_folder_succeeds_and_writes_nothing(tmp_path: Path) -> None:
    from humc.recipe.lockfile import Lockfile, LockItem, save_lock

    folder = tmp_path / "recipes"
    folder.mkdir()
    decided = LockItem(id="0123", kind="guideline", entry="e", origin="human", status="accepted", labels={"A": "a"})
    save_lock(Lockfile(folder / "x.hum.lock", "x", [decided]))
    before = tree_bytes(tmp_path)
    with read_only(folder):
        done = _humc_unprivileged("review", folder / "x.hum.lock", "--accept-all")
    assert done.returncode == 0, done.stderr
    assert "0 accepted" in done.stdout and tree_bytes(tmp_path) == before


def test_no_wait_with_ablations_fails_before_any_of_their_datasets_is_written(tmp_path: Path) -> None:
    recipe = write_ner_workload(tmp_path, 50)
    out = tmp_path / "out"
    busy = holder(out / "big-no-templates", what="output folder")
    try:
        result = run_cli("build", str(recipe), "-q", "--no-wait", "--ablate", "templates", "--out", str(out),
                         "--cache", str(tmp_path / "cache"))
    finally:
        let_go(busy)
    assert result.exit_code == 2 and "error[E3004]" in result.output, result.output
    assert not (out / "big").exists() and "wrote" not in result.output


def test_a_cache_is_one_lock_for_a_process_that_may_write_beside_it_and_one_that_may_not(tmp_path: Path) -> None:
    """Both lock the file inside the cache: a `cache clean` by root cannot empty a cache a build without write access
    to the cache's parent holds."""
    cache = tmp_path / "volume" / "cache"
    recipe = write_ner_workload(tmp_path, 50)
    assert run_cli("build", str(recipe), "-q", "--out", str(tmp_path / "out"), "--cache", str(cache)).exit_code == 0
    code = ("import sys; from pathlib import Path; from humc.locks import cache_lock\n"
            "with cache_lock(Path(sys.argv[1]), command='humc build'):\n"
            "    print('held', flush=True); sys.stdin.read()\n")
    with read_only(tmp_path / "volume"):
        build = subprocess.Popen([*_unprivileged(), sys.executable, "-c", code, str(cache)], text=True,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 env={**os.environ, "PYTHONPATH": str(REPO)})
        assert build.stdout is not None and build.stdout.readline() == "held\n"
        try:
            clean = run_cli("cache", "clean", "--yes", "--no-wait", "--cache", str(cache))
        finally:
            let_go(build)
    assert clean.exit_code == 2 and f"error[E3004]: the build cache {cache} is in use" in clean.output, clean.output
    assert (cache / "cache.db").is_file()


def test_another_users_lock_file_is_locked_read_only_not_skipped(tmp_path: Path) -> None:
    """A shared folder (mode 1777) whose lock file root made: another user cannot open it for writing, and must still
    find it held instead of going on without a lock."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to act as a second user")
    shared = Path(tempfile.mkdtemp(prefix="humc-shared-", dir="/tmp"))  # pytest's tmp_path is root's alone (0700)
    shared.chmod(0o1777)
    busy = holder(shared / "out", what="output folder", shared=True)
    code = ("import sys; from pathlib import Path; from humc.locks import folder_lock\n"
            "from humc.errors import HumcError\n"
            "try:\n"
            "    with folder_lock(Path(sys.argv[1]), what='output folder', command='humc build', wait=False):\n"
            "        print('granted')\n"
            "except HumcError as exc:\n"
            "    print(exc.code)\n")
    try:
        other = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "--",
                                sys.executable, "-c", code, str(shared / "out")], capture_output=True, text=True,
                               timeout=TIMEOUT, env={**os.environ, "PYTHONPATH": str(REPO)})
    finally:
        let_go(busy)
        shutil.rmtree(shared, ignore_errors=True)
    assert other.stdout.strip() == "E3004", other.stdout + other.stderr


# ---------------------------------------------------------------------------------------------- signals


def tmp_sibling(out: Path, pid: int) -> Path:
    return out / f".big.tmp-{pid}"


def test_sigterm_during_the_write_cleans_up_like_ctrl_c_keeps_the_previous_build_and_exits_143(tmp_path: Path) -> None:
    """`kill`, a CI timeout or `docker stop` send SIGTERM: before, Python's default ended humc on the spot, silently,
    leaving the half-written `.big.tmp-<pid>` folder and both lock files behind."""
    recipe = write_ner_workload(tmp_path, 3000, shard_rows=1000)
    out, cache = tmp_path / "out", tmp_path / "cache"
    assert run_cli("build", str(recipe), "-q", "--out", str(out), "--cache", str(cache)).exit_code == 0
    previous = tree_bytes(out / "big")
    recipe.write_text(recipe.read_text().replace("shard_rows: 1000", "shard_rows: 700"))  # only the write runs again
    build = started_build(recipe, out, cache, "-q")
    with stopped(build):
        os.kill(build.pid, signal.SIGTERM)  # delivered as soon as it goes on
    assert build.finish() == 143, build.stderr
    assert build.lines[-1] == "terminated: finished work is saved; run the same command again to resume"
    assert "Traceback" not in build.stderr
    assert tree_bytes(out / "big") == previous  # the previous build, untouched
    assert sorted(p.name for p in out.iterdir()) == ["big"]  # no temporary folder, no lock file
    assert not lock_path(cache, inside=True).exists()


def test_sigterm_while_the_write_has_a_temporary_folder_removes_it(tmp_path: Path) -> None:
    recipe = write_ner_workload(tmp_path, 6000, shard_rows=1000)
    out, cache = tmp_path / "out", tmp_path / "cache"
    build = started_build(recipe, out, cache, "-q")
    until(lambda: tmp_sibling(out, build.pid).is_dir(), "the write has made its temporary folder", build)
    with stopped(build):  # held still while the folder is half written
        os.kill(build.pid, signal.SIGTERM)
    assert build.finish() == 143, build.stderr
    assert "Traceback" not in build.stderr and build.lines[-1].startswith("terminated:")
    assert not out.exists() or not list(out.iterdir())  # nothing partial: no dataset, no temporary folder, no lock
    again = run_cli("build", str(recipe), "-q", "--out", str(out), "--cache", str(cache))
    assert again.exit_code == 0 and f"wrote {out / 'big'}" in again.output, again.output
    reference = run_cli("build", str(recipe), "-q", "--out", str(tmp_path / "ref"), "--cache", str(tmp_path / "ref-cache"))
    assert reference.exit_code == 0, reference.output
    assert tree_bytes(out / "big") == tree_bytes(tmp_path / "ref" / "big")


def child_pids(pid: int) -> list[int]:
    """The processes ``pid`` started (its render workers), from /proc."""
    try:
        return [int(c) for task in os.listdir(f"/proc/{pid}/task")
                for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    except OSError:
        return []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="render workers are forked on Linux only")
def test_a_killed_render_worker_stops_the_build_with_e4402_and_the_next_build_resumes(tmp_path: Path) -> None:
    """A worker killed by the out-of-memory killer: before, the build ended with `internal error: BrokenProcessPool`
    (exit 3)."""
    recipe = write_ner_workload(tmp_path, 12_000)
    out, cache = tmp_path / "out", tmp_path / "cache"
    build = Humc("build", recipe, "--out", out, "--cache", cache, "-j", "2")
    until(lambda: len(child_pids(build.pid)) == 2, "the build has started its render workers", build)
    with stopped(build):  # it cannot finish the render while one of its workers is killed
        os.kill(child_pids(build.pid)[0], signal.SIGKILL)
    assert build.finish() == 2, build.stderr
    assert "error[E4402]: a render worker process ended abruptly" in build.stderr and "Traceback" not in build.stderr
    assert "-j 1" in build.stderr
    assert not (out / "big").exists() and not child_pids(build.pid)
    again = Humc("build", recipe, "--out", out, "--cache", cache, "-j", "2")
    assert again.finish() == 0, again.stderr
    reference = run_cli("build", str(recipe), "-q", "--out", str(tmp_path / "ref"), "--cache", str(tmp_path / "ref-cache"))
    assert reference.exit_code == 0, reference.output
    assert tree_bytes(out / "big") == tree_bytes(tmp_path / "ref" / "big")
