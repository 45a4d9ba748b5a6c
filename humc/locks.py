"""Folder locks between humc processes: two commands sharing an output or cache folder take turns.

Not a stage: a helper under ``build/`` (a build locks its output and cache folders), ``dataset/`` (``push_dataset``
reads an output folder) and ``cli/``. Like cargo's "Blocking waiting for file lock on build directory", a command that
finds a folder in use says so on stderr in one line and waits; ``wait=False`` (``--no-wait``) fails instead
(a ``HumcError`` E3004) before anything is written.

Decisions:

* **An output folder's lock file lies beside it** (``<parent>/.<name>.lock``), never inside: a dataset folder is
  hashed and pushed exactly as it is. **A cache folder's lies inside it** (``<cache>/.humc.lock``, ``cache_lock``):
  every process then locks the same file, also one that may not write beside the cache (a volume mounted at
  /cache); ``humc cache clean`` leaves that file and removes the emptied folder afterwards. Another user's lock
  file is locked read-only; a shared reader that cannot make one at all (``humc push`` of a read-only folder) goes
  on without a lock; any other lock file humc cannot make is E3002.
* **Two kinds.** Exclusive: a build on its output folder (the swap of ``.<name>.tmp-<pid>`` into place, and the
  ownership checks before it); ``humc cache gc|clean|verify`` on a cache folder. Shared: a build on its cache folder
  (builds of different recipes share the default cache and run side by side); ``humc push`` on the folder it reads
  (it waits for a build to finish the swap, and a build waits for the upload to finish reading).
* **POSIX: ``fcntl.flock``.** The kernel releases the lock when its holder dies, kill -9 included, so a crashed
  command never blocks the next one; forked render workers inherit the lock and die with the build
  (``build/parallel.py``). **Windows has no fcntl:** ``filelock.FileLock`` (``msvcrt.locking``, also released by
  the OS when the process dies) serves both kinds, so a shared lock is exclusive there — still safe, but builds
  sharing a cache folder take turns instead of running side by side, and the holder's pid is not shown.
* **Who holds it.** An exclusive holder writes ``<pid> <command>`` into the lock file; a waiter shows it when that
  process is still alive, else "another humc process" (shared holders write nothing).
* **No lock file is left behind** by a command that ends normally: the last holder (an exclusive lock taken without
  waiting proves it) removes the file, and parent folders it created for it when they are empty. A waiter that then
  finds it locked a removed file (another inode at the path, or none) opens the path again. After a kill -9 an empty
  or stale lock file stays; it is harmless and the next holder removes it.
* **Re-entrant within a process** (counted per lock file), so ``push_recipe`` around ``push_dataset``, or
  ``build --push``, never waits for itself. Locks coordinate processes, not threads of one process.
"""

from __future__ import annotations

import errno
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from humc.errors import HumcError

Notify = Callable[[str], None]


def lock_path(folder: Path, inside: bool = False) -> Path:
    """The lock file of ``folder``: ``.<name>.lock`` beside it, or (``inside``: a cache folder) ``<folder>/.humc.lock``."""
    folder = Path(os.path.abspath(folder))
    return folder / INSIDE if inside else folder.parent / f".{folder.name}.lock"


INSIDE = ".humc.lock"  # a cache folder's lock file, inside it


def stderr_line(message: str) -> None:
    """The default ``notify``: one line on stderr."""
    print(message, file=sys.stderr, flush=True)


@dataclass
class _Held:
    handle: Any          # the open file descriptor (POSIX) or the filelock object (Windows); None: no lock
    created: list[Path]  # parent folders made for the lock file, deepest first
    shared: bool
    count: int = 1


@dataclass(frozen=True)
class _Request:
    """Who asks for which folder's lock, and what to do when another process holds it."""

    folder: Path
    what: str       # "output folder", "build cache"
    command: str    # "humc build"
    wait: bool
    notify: Notify

    def waiting(self, holder: str) -> None:
        self.notify(f"{self.command} is waiting for the {self.what} {self.folder}: {holder} is using it")

    def busy(self, holder: str) -> HumcError:
        return HumcError(f"the {self.what} {self.folder} is in use by {holder}", code="E3004",
                         expected="a folder no other humc command is using",
                         hint=f"wait for it to finish, or run {self.command} without --no-wait to wait for it; "
                              "nothing was written")


_held: dict[Path, _Held] = {}
_guard = threading.Lock()


@contextmanager
def folder_lock(folder: Path, *, what: str, command: str, shared: bool = False, wait: bool = True,
                notify: Notify = stderr_line, inside: bool = False) -> Iterator[None]:
    """Hold the lock of ``folder`` (``what`` names it in messages: "output folder", "build cache") for ``command``
    ("humc build"): shared or exclusive; waiting (``notify`` is told once) or, with ``wait=False``, raising E3004.

    The lock file is ``lock_path(folder, inside)``. Another user's lock file is locked through a read-only
    descriptor; a shared lock whose file cannot be made at all (a reader where nothing may be written, e.g.
    ``humc push`` of a read-only folder) goes on without one; any other lock file humc cannot make is E3002."""
    path = lock_path(folder, inside)
    with _guard:
        held = _held.get(path)
        if held is not None:
            if held.shared and not shared:
                raise HumcError(f"{command} would write the {what} {folder} it also reads", code="E3004",
                                hint="give the output folders and the cache folder different places (--out, --cache)")
            held.count += 1
    if held is None:
        held = _take(path, shared, _Request(Path(os.path.abspath(folder)), what, command, wait, notify))
        with _guard:
            _held[path] = held
    try:
        yield
    finally:
        with _guard:
            held.count -= 1
            last = held.count == 0
            if last:
                del _held[path]
        if last and held.handle is not None:
            _release(path, held)


def cache_lock(folder: Path, *, command: str, shared: bool = True, wait: bool = True) -> AbstractContextManager[None]:
    """The lock of a build cache folder, inside it (so every process locks the same file, whatever it may write
    beside the folder): shared by builds and the LLM steps, exclusive for ``humc cache gc|clean|verify``."""
    return folder_lock(folder, what="build cache", command=command, shared=shared, wait=wait, inside=True)


_REFUSED = (errno.EACCES, errno.EPERM, errno.EROFS)


def _take(path: Path, shared: bool, request: _Request) -> _Held:
    try:
        return _Held(*_acquire(path, shared, request), shared=shared)
    except _NoLockFile as exc:
        if shared and exc.error.errno in _REFUSED and not path.exists():
            return _Held(None, [], shared=True)  # a reader where nothing may be written: no writer of ours to wait for
        raise _unusable(path, request, exc.error) from None


def _holder(text: str) -> str:
    """Who holds a lock, from its file's ``<pid> <command>`` when that process is alive."""
    pid, _, command = text.strip().partition(" ")
    if pid.isdigit() and other_process_alive(int(pid)):
        return f"pid {pid} ({command or 'humc'})"
    return "another humc process"


def other_process_alive(pid: int) -> bool:
    """Whether ``pid`` is a running process other than this one (a pid we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True
    return pid != os.getpid()


def _missing_parents(folder: Path) -> list[Path]:
    """The ancestors of ``folder`` (itself included) that do not exist yet, deepest first."""
    missing = []
    while not folder.exists() and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    return missing


class _NoLockFile(Exception):
    """The lock file could not be made (``error``): ``_take`` decides whether that is an error."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


def _unusable(path: Path, request: _Request, exc: OSError) -> HumcError:
    where = "in" if path.parent == request.folder else "beside"
    return HumcError(f"cannot use {request.folder} as the {request.what}: {exc.strerror or exc} (making its lock file "
                     f"{path})", code="E3002", expected=f"a folder where humc may make {path.name} {where} the {request.what}",
                     hint="humc keeps a lock file beside each dataset folder and lockfile it writes and inside each cache, "
                          "so that two commands take turns; make that folder writable, or work on a copy in a writable folder")


if sys.platform == "win32":  # pragma: no cover - no fcntl: one exclusive lock kind (see the module docstring)
    def _acquire(path: Path, shared: bool, request: _Request) -> tuple[Any, list[Path]]:
        import filelock

        created: list[Path] = []
        lock = filelock.FileLock(str(path))
        try:
            created = _missing_parents(path.parent)  # inside: a folder humc may not search is refused like POSIX's
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                lock.acquire(timeout=0)
            except filelock.Timeout:
                if not request.wait:
                    raise request.busy("another humc process") from None
                request.waiting("another humc process")
                lock.acquire()
        except OSError as exc:
            _remove_empty(created)
            raise _NoLockFile(exc) from None
        return lock, created

    def _release(path: Path, held: _Held) -> None:
        held.handle.release()
else:
    import fcntl

    def _acquire(path: Path, shared: bool, request: _Request) -> tuple[Any, list[Path]]:
        """An open descriptor of ``path`` locked as asked (the file at ``path`` when it is returned), and the
        folders made for it."""
        kind = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        announced = False
        created: list[Path] = []
        while True:
            fd, made = _open(path)
            created += made
            try:
                if not _try_lock(fd, kind):
                    holder = _holder(os.pread(fd, 200, 0).decode("utf-8", "replace"))
                    if not request.wait:
                        raise request.busy(holder)
                    if not announced:
                        request.waiting(holder)
                        announced = True
                    fcntl.flock(fd, kind)
                if _same_file(fd, path):
                    if not shared:
                        _sign(fd, request.command)
                    return fd, created
            except BaseException:
                os.close(fd)
                _remove_empty(created)
                raise
            os.close(fd)  # its last holder removed the file while we waited: lock the one at the path now

    def _open(path: Path) -> tuple[int, list[Path]]:
        created: list[Path] = []
        for _ in range(10):  # another process may remove a parent folder it had made between our mkdir and open
            try:
                created = _missing_parents(path.parent)
                path.parent.mkdir(parents=True, exist_ok=True)
                return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666), created  # umask applies
            except FileNotFoundError as exc:
                error: OSError = exc
                if path.parent.is_dir() or not created:  # not a folder removed under us: refused for good
                    break
            except OSError as exc:
                error = exc
                if exc.errno in _REFUSED:  # another user's lock file: flock needs no write access
                    try:
                        return os.open(path, os.O_RDONLY | os.O_CLOEXEC), created
                    except OSError:
                        pass
                break
        _remove_empty(created)
        raise _NoLockFile(error)

    def _sign(fd: int, command: str) -> None:
        """Write ``<pid> <command>`` into the held lock file, for waiters to show (best effort: a full disk skips it)."""
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {command}\n".encode(), 0)
        except OSError:
            pass

    def _try_lock(fd: int, kind: int) -> bool:
        try:
            fcntl.flock(fd, kind | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise
        return True

    def _same_file(fd: int, path: Path) -> bool:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return False
        own = os.fstat(fd)
        return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)

    def _release(path: Path, held: _Held) -> None:
        fd = held.handle
        try:
            if _try_lock(fd, fcntl.LOCK_EX) and _same_file(fd, path):  # no one else holds it: remove the file
                path.unlink()
                _remove_empty(held.created)
        except OSError:  # pragma: no cover - the file or folder went away under us: nothing left to tidy
            pass
        finally:
            os.close(fd)


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders made for a lock file, deepest first, while they are empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return
