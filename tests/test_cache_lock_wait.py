"""A cache index locked by another process in the middle of a build: the first write that waits prints the same
waiting line as opening a locked cache does (once, naming the process that holds the lock), then goes on when the
lock is released; a lock kept past the wait is E4401 with the lock hint. Before, a write mid-build waited a silent
minute (only opening the cache said so), and sqlite's time-out escaped as diskcache's bare ``Timeout``."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from humc import cachedb
from humc.errors import HumcError

HOLDER = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN IMMEDIATE")
con.execute("INSERT INTO Settings VALUES ('humc-test', 1)")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.execute("ROLLBACK")
"""


def hold(cache: Path, seconds: float) -> subprocess.Popen[str]:
    """A second process holding the index's write lock for ``seconds`` (returned once it holds it)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(cache / cachedb.INDEX), str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
    return proc


def ended(proc: subprocess.Popen[str]) -> int:
    """The holder's exit code, once it ended (its pipe closed)."""
    code = proc.wait(timeout=10)
    assert proc.stdout is not None
    proc.stdout.close()
    return code


@pytest.fixture()
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cachedb, "WAIT_NOTICE_S", 0.3)


@pytest.mark.usefixtures("quick")
def test_a_write_waiting_for_another_process_says_so_once_naming_it_then_goes_on(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    with cachedb.CacheDB(tmp_path / "c") as db:
        db.set("a", 1)
        holder = hold(tmp_path / "c", 1.5)
        started = time.monotonic()
        db.set("b", 2)  # waits for the holder
        waited = time.monotonic() - started
        holder2 = hold(tmp_path / "c", 1.0)
        db.set_many([("c", 3), ("d", 4)])  # waits again: no second line
        for proc in (holder, holder2):
            assert ended(proc) == 0
        assert [db.get(k) for k in "abcd"] == [1, 2, 3, 4]
    err = capfd.readouterr().err
    assert waited > 0.5
    lines = [line for line in err.splitlines() if "waiting for the cache index" in line]
    assert len(lines) == 1, err
    assert f"pid {holder.pid} ({sys.executable} -c" in lines[0] and "holds it locked" in lines[0]


@pytest.mark.usefixtures("quick")
def test_a_lock_kept_past_the_wait_is_e4401_with_the_lock_hint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cachedb, "LOCK_WAIT_S", 1.0)
    with cachedb.CacheDB(tmp_path / "c") as db:
        holder = hold(tmp_path / "c", 4.0)
        with pytest.raises(HumcError) as err:
            db.set("a", 1)
        holder.kill()
        ended(holder)
    assert err.value.code == "E4401" and "its index stayed locked" in str(err.value)
    assert "another process held the cache index locked" in str(err.value.hint)
    assert "waiting for the cache index" in capfd.readouterr().err


@pytest.mark.parametrize(("error", "locked"), [
    (sqlite3.OperationalError("database is locked"), True),
    (sqlite3.OperationalError("database table is locked"), True),
    (OSError(28, "No space left on device", "/home/me/locked-out/.humc/cache/cache.db"), False),
    (sqlite3.OperationalError("disk I/O error at /srv/locked/cache.db"), False),
])
def test_only_a_lock_gets_the_lock_hint(error: Exception, locked: bool):
    """A path that holds the word "locked" is no lock: a full disk there gets the disk hint (review7)."""
    assert (cachedb._locked_hint(error) is not None) is locked
