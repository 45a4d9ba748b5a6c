"""Checksummed on-disk key/value store: the one place humc's caches touch disk.

Used by ``build/store.py`` (node metas, record chunks, chunk notes) and ``llm/client.py`` (LLM
responses). Both are diskcache folders; this module decides what their bytes look like and what
happens when those bytes are damaged.

Decisions a reader would otherwise undo:

* **One value = header + digest + payload.** ``MAGIC`` (4 bytes), a 16-byte blake2b digest over the
  stored key and the payload, then the payload (pickle, written by humc). diskcache stores these
  bytes raw (inline in SQLite, or in a value file when large) and never pickles or unpickles them
  itself. The digest covers the key, so a value copied under another key is caught too.
* **Large values are compressed** when the cache asks for it (``compress=True``: the build cache,
  whose record chunks are ~10× smaller in zstd): header ``ZMAGIC``, the digest over the stored
  (compressed) bytes, then the raw length (8 bytes) and the zstd frame. zstd comes from pyarrow (a
  dependency the build loads anyway), imported on the first compressed value; the LLM cache holds
  small answers and stays plain. Both forms are read whatever the setting. (Values written column by
  column, ``CMAGIC``, by humc 0.1 before issue #14's decode measurements, are still read: columns
  compressed ~20% better but took ~3× longer to load, rebuilding every record dict in Python.)
* **Verify before loading.** The payload is unpickled only when its digest matches: a flipped or
  truncated byte is never fed to pickle. The digest guards against damage, not tampering; the
  cache folder is as trusted as the code that reads it.
* **Damage is a miss.** A bad digest, an unloadable payload, an SQLite error on that key or a value
  file that has disappeared: the entry is deleted, counted in ``dropped`` and reported as missing,
  so the caller recomputes it. Callers print one warning with the count; nothing here prints.
* **A broken index is moved aside, not fixed.** When ``cache.db`` is not an SQLite database (or is
  truncated), it and its value folders move into ``cache.corrupt-<timestamp>/`` inside the cache
  folder and a fresh cache starts (``moved_aside`` says where). The check reads only the file's
  header, so opening a large cache stays cheap; ``verify`` runs SQLite's full ``quick_check``.
* **Keys are text with a version prefix** (``KEY_PREFIX``). Entries from before checksums (pickled
  by diskcache under other keys) are *legacy*: never read as checked values, listed by
  ``legacy_keys`` so a clean-up can remove them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import pickle
import re
import shutil
import sqlite3
import struct
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import diskcache

from humc.errors import HumcError

MAGIC = b"hc1\x00"
ZMAGIC = b"hc1z"         # the payload is zstd-compressed: 8-byte little-endian raw length + zstd frame
CMAGIC = b"hc1c"         # the same, of a list of records laid out by column (``to_columns``)
ZSTD_LEVEL = 3
COMPRESS_MIN = 4096      # smaller pickles are stored as they are
DIGEST_SIZE = 16
HEADER = len(MAGIC) + DIGEST_SIZE
KEY_PREFIX = "hc1:"
INDEX = "cache.db"
CORRUPT_PREFIX = "cache.corrupt-"
_VALUE_DIR = re.compile(r"^[0-9a-f]{2}$")  # diskcache's value-file folders
_SQLITE_MAGIC = b"SQLite format 3\x00"
# What writing can raise: a damaged index, a full disk, or diskcache's Timeout when sqlite waited a minute for a lock.
_WRITE_ERRORS = (sqlite3.Error, OSError, diskcache.Timeout)
# What reading one entry can raise when its bytes are damaged (diskcache unpickles legacy values).
_READ_ERRORS = (sqlite3.Error, OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError,
                ImportError, IndexError, KeyError)


_T = TypeVar("_T")


class CorruptEntry(Exception):
    """A stored value whose bytes do not check out (internal: callers see a miss)."""


def encode(key: str, value: Any, *, compress: bool = False) -> bytes:
    """The stored bytes of ``value`` under ``key``: header, digest of key and payload, payload
    (zstd-compressed under ``ZMAGIC`` when ``compress`` and the pickle is at least ``COMPRESS_MIN`` bytes)."""
    return seal(key, pack(value, compress=compress))


Packed = tuple[bytes, bytes]  # (MAGIC or ZMAGIC, payload): a value's stored bytes but the key's digest


def pack(value: Any, *, compress: bool = False) -> Packed:
    """``value`` made ready to store under any key (``seal``): the costly part of ``encode``, which a process that
    does not hold the cache (a render worker) can do."""
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    if compress and len(payload) >= COMPRESS_MIN:
        import pyarrow  # the build's dependency, loaded by the write stage anyway; never by the light commands

        codec = pyarrow.Codec("zstd", compression_level=ZSTD_LEVEL)
        return ZMAGIC, struct.pack("<Q", len(payload)) + bytes(codec.compress(payload, asbytes=True))
    return MAGIC, payload


def seal(key: str, packed: Packed) -> bytes:
    """The stored bytes of a packed value under ``key``: header, digest of key and payload, payload."""
    magic, payload = packed
    return magic + _digest(key, payload) + payload


def unpack(packed: Packed) -> Any:
    """The value ``pack`` was given."""
    return _load(*packed)


def from_columns(columns: tuple[list[tuple[str, ...]], list[int], dict[str, list[Any]]]) -> list[dict[str, Any]]:
    """The records of a ``CMAGIC`` payload: (each key tuple, each record's key tuple index, one list per key)."""
    shapes, which, cols = columns
    if len(shapes) == 1:  # every record has the same keys: rows straight from the columns
        keys = shapes[0]
        return [dict(zip(keys, row, strict=True)) for row in zip(*(cols[k] for k in keys), strict=True)] if keys else [{} for _ in which]
    its = {k: iter(v) for k, v in cols.items()}
    return [{k: next(its[k]) for k in shapes[s]} for s in which]


def decode(key: str, blob: Any) -> Any:
    """The value stored as ``blob`` under ``key``; raises CorruptEntry unless the digest matches."""
    if not isinstance(blob, bytes) or len(blob) < HEADER or blob[:len(MAGIC)] not in (MAGIC, ZMAGIC, CMAGIC):
        raise CorruptEntry("not a checksummed humc value")
    payload = blob[HEADER:]
    if not hmac.compare_digest(blob[len(MAGIC):HEADER], _digest(key, payload)):
        raise CorruptEntry("checksum mismatch")
    try:
        return _load(blob[:len(MAGIC)], payload)
    except Exception as exc:  # a payload with a valid digest that still fails to load (written by another humc)
        raise CorruptEntry(f"unloadable payload: {exc}") from None


def _load(magic: bytes, payload: bytes) -> Any:
    if magic in (ZMAGIC, CMAGIC):
        import pyarrow

        (size,) = struct.unpack("<Q", payload[:8])
        payload = pyarrow.decompress(payload[8:], decompressed_size=size, codec="zstd", asbytes=True)
        if magic == CMAGIC:
            return from_columns(pickle.loads(payload))
    return pickle.loads(payload)


def _digest(key: str, payload: bytes) -> bytes:
    h = hashlib.blake2b(digest_size=DIGEST_SIZE)
    h.update(key.encode("utf-8"))
    h.update(b"\x00")
    h.update(payload)
    return h.digest()


# ---------------------------------------------------------------------------- the index file


def index_is_sound(index: Path) -> bool:
    """A cheap structural check of an SQLite file: its magic, page size and length (no full scan);
    a file damaged deeper down fails when diskcache opens it, or later per entry."""
    try:
        size = index.stat().st_size
        if size == 0:
            return True  # SQLite treats an empty file as an empty database
        with open(index, "rb") as f:
            head = f.read(100)
    except FileNotFoundError:
        return True
    except OSError:
        return True  # unreadable for another reason: opening reports it as an unusable folder
    if len(head) < 100 or not head.startswith(_SQLITE_MAGIC):
        return False
    page_size = struct.unpack(">H", head[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    # SQLite writes whole pages. (The header's page count is not compared with the length: another
    # process's checkpoint may have written page 1 before growing the file.)
    return page_size >= 512 and not page_size & (page_size - 1) and size % page_size == 0


def quick_check(index: Path) -> bool:
    """SQLite's own consistency check of the whole index (reads every page; for ``verify``)."""
    if not index.exists():
        return True
    try:
        con = sqlite3.connect(str(index))
        try:
            rows = con.execute("PRAGMA quick_check").fetchall()
        finally:
            con.close()
    except sqlite3.OperationalError:  # locked or unopenable: not a verdict on its content
        return True
    except sqlite3.DatabaseError:
        return False
    return rows == [("ok",)]


def move_aside(folder: Path) -> Path:
    """Move a cache folder's index and value files into ``cache.corrupt-<timestamp>/`` beside them."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = folder / f"{CORRUPT_PREFIX}{stamp}"
    n = 1
    while target.exists():
        n += 1
        target = folder / f"{CORRUPT_PREFIX}{stamp}-{n}"
    target.mkdir()
    for item in sorted(folder.iterdir()):
        if item.name.startswith(INDEX) or (item.is_dir() and _VALUE_DIR.match(item.name)):
            shutil.move(str(item), str(target / item.name))
    return target


def repair_index(folder: Path) -> Path | None:
    """Move a broken index aside (see ``move_aside``); returns where it went, or None if it was sound."""
    return move_aside(folder) if not index_is_sound(folder / INDEX) else None


def folder_bytes(folder: Path) -> int:
    """Size on disk of every file under ``folder``."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += (Path(root) / name).stat().st_size
            except OSError:  # removed while walking
                pass
    return total


# ---------------------------------------------------------------------------- the store


class CacheDB:
    """A diskcache folder of checksummed values under text keys; damaged entries read as missing.

    ``what`` names the cache in messages ("the build cache"). ``migrate_legacy`` reads an entry
    written before checksums (same key, no prefix) once and rewrites it checksummed: for LLM
    answers, which cost money to ask for again.
    """

    def __init__(self, path: Path, *, what: str = "the build cache", migrate_legacy: bool = False,
                 compress: bool = False) -> None:
        self.path, self.what, self.migrate_legacy, self.compress = path, what, migrate_legacy, compress
        self.dropped = 0
        self.moved_aside: Path | None = None
        self.announced = False  # the waiting line was printed (once per cache)
        self.db = self._open()

    def _open(self) -> diskcache.Cache:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self.moved_aside = repair_index(self.path)
            return self._connect()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) or self.moved_aside is not None:
                raise self._unusable(exc) from None
            self.moved_aside = move_aside(self.path)  # a header that looked fine over a broken body
            try:
                return self._connect()
            except (OSError, sqlite3.Error) as again:
                raise self._unusable(again) from None
        except OSError as exc:
            raise self._unusable(exc) from None

    def _connect(self) -> diskcache.Cache:
        """The index, opened; a line on stderr when another process holds it locked (``_patiently``). Each sqlite
        call of the index waits ``WAIT_NOTICE_S`` for a lock, then fails, and ``_patiently`` tries it again."""
        return self._patiently(lambda: diskcache.Cache(str(self.path), size_limit=2**40, eviction_policy="none",
                                                       timeout=WAIT_NOTICE_S))

    def _patiently(self, operation: Callable[[], _T]) -> _T:
        """``operation()`` on the index, tried again while another process holds the index locked (each try waits
        ``WAIT_NOTICE_S`` inside sqlite): the first time this cache waits, one line on stderr names the holder;
        after ``LOCK_WAIT_S`` in all, the lock's error is raised (sqlite's "database is locked", or diskcache's
        ``Timeout`` for a write). Any other error is raised at once."""
        started = time.monotonic()
        while True:
            try:
                return operation()
            except (diskcache.Timeout, sqlite3.OperationalError) as exc:
                if not _lock_error(exc):
                    raise
                if time.monotonic() - started >= LOCK_WAIT_S:
                    raise
            if not self.announced:
                self.announced = True
                _say_waiting(self.path)

    def _unusable(self, exc: Exception) -> HumcError:
        return HumcError(f"cannot use {self.path} as {self.what}: {exc}", code="E3002",
                         expected="a writable folder holding a humc cache (or an empty one)",
                         hint=_locked_hint(exc) or "free disk space, or pass a writable folder with --cache, or set "
                         "`cache:` in the recipe")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> CacheDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- values ---------------------------------------------------------------------

    def get(self, key: str) -> Any | None:
        """The value under ``key``, or None when it is missing or damaged (then it is dropped). A lock another
        process keeps for ``LOCK_WAIT_S`` is E4401, not damage."""
        stored = KEY_PREFIX + key
        try:
            blob = self._patiently(lambda: self.db.get(stored))
            if blob is None:
                if self._patiently(lambda: stored in self.db):  # listed, but its value file is gone
                    raise CorruptEntry("value file missing")
                return self._legacy(key) if self.migrate_legacy else None
            return decode(stored, blob)
        except sqlite3.OperationalError as exc:
            if not _lock_error(exc):
                self._drop(stored)
                return None
            raise self._unwritable(exc, "read") from None
        except (CorruptEntry, *_READ_ERRORS):
            self._drop(stored)
            return None

    def set(self, key: str, value: Any, packed: Packed | None = None) -> None:
        """Store ``value`` under ``key``; ``packed``: the value as ``pack`` made it with this cache's ``compress``
        (stored as it is)."""
        stored = KEY_PREFIX + key
        blob = encode(stored, value, compress=self.compress) if packed is None else seal(stored, packed)
        try:
            self._patiently(lambda: self.db.set(stored, blob))
        except _WRITE_ERRORS as exc:  # a damaged index body, a full disk, a lock held past a minute
            raise self._unwritable(exc) from None

    def set_many(self, items: list[tuple[str, Any]]) -> None:
        """``set`` for each item, in one transaction (one commit for the lot)."""
        blobs = [(KEY_PREFIX + key, value) for key, value in items]
        blobs = [(stored, encode(stored, value, compress=self.compress)) for stored, value in blobs]

        def write() -> None:
            with self.db.transact():
                for stored, blob in blobs:
                    self.db.set(stored, blob)

        try:
            self._patiently(write)
        except _WRITE_ERRORS as exc:
            raise self._unwritable(exc) from None

    def _unwritable(self, exc: Exception, doing: str = "write to") -> HumcError:
        return HumcError(f"cannot {doing} {self.what} {self.path}: {str(exc) or 'its index stayed locked'}", code="E4401",
                         hint=_locked_hint(exc) or "free disk space, or run `humc cache verify` (it moves a "
                         "damaged index aside)")

    def delete(self, key: str) -> None:
        self._delete(KEY_PREFIX + key)

    def _legacy(self, key: str) -> Any | None:
        try:
            value = self._patiently(lambda: self.db.get(key))  # pickled by diskcache itself, as earlier humc wrote it
        except _READ_ERRORS:
            self._drop(key)
            return None
        if value is not None:
            self.set(key, value)
            self._delete(key)
        return value

    def _drop(self, stored: Any) -> None:
        self.dropped += 1
        self._delete(stored)

    def _delete(self, stored: Any) -> None:
        try:
            self._patiently(lambda: self.db.delete(stored))
        except _WRITE_ERRORS:  # the row itself is unreadable, or the index locked: `verify` handles it
            pass

    # -- listing --------------------------------------------------------------------

    def keys(self) -> Iterator[str]:
        """Every checked key (without the prefix)."""
        for stored in self._patiently(lambda: list(self.db.iterkeys())):
            if isinstance(stored, str) and stored.startswith(KEY_PREFIX):
                yield stored[len(KEY_PREFIX):]

    iterkeys = keys  # the name diskcache uses (``llm.client.iter_cache_keys``)

    def legacy_keys(self) -> list[Any]:
        """Keys of entries written before checksums (never read as checked values)."""
        return [k for k in self._patiently(lambda: list(self.db.iterkeys()))
                if not (isinstance(k, str) and k.startswith(KEY_PREFIX))]

    def delete_legacy(self, stored: Any) -> None:
        self._delete(stored)

    def verify(self) -> tuple[int, int]:
        """Read every checked entry; damaged ones are dropped. Returns (entries read, entries dropped)."""
        before, n = self.dropped, 0
        for key in list(self.keys()):
            n += 1
            self.get(key)
        return n, self.dropped - before


WAIT_NOTICE_S = 3.0  # a call of the index still locked after this long: the waiting line, then humc tries again
LOCK_WAIT_S = 60.0   # then it gives up (sqlite's own default wait)


def _say_waiting(folder: Path) -> None:
    print(f"waiting for the cache index in {folder}: {_lock_holders(folder)} holds it locked (humc waits up to "
          f"{LOCK_WAIT_S:.0f} s)", file=sys.stderr, flush=True)


def _lock_holders(folder: Path) -> str:
    """Who holds the write lock of the index: "pid N (command line)" of each other process with a POSIX write lock
    on ``cache.db`` or its ``-shm`` file (sqlite's WAL write lock) in Linux's /proc/locks, else "another process"."""
    files = set()
    for name in (INDEX, INDEX + "-shm"):
        try:
            st = os.stat(folder / name)
        except OSError:
            continue
        files.add(f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}")
    try:
        table = Path("/proc/locks").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "another process"
    pids = []
    for line in table.splitlines():
        fields = line.split()  # "3: POSIX  ADVISORY  WRITE 26425 fe:00:2146462 120 120" ("->" marks a waiter)
        if len(fields) >= 6 and fields[1] == "POSIX" and fields[3] == "WRITE" and fields[5] in files \
                and fields[4].isdigit() and int(fields[4]) != os.getpid() and fields[4] not in pids:
            pids.append(fields[4])
    return ", ".join(f"pid {pid} ({_command_line(pid)})" for pid in pids) or "another process"


def _command_line(pid: str) -> str:
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "ended"
    line = " ".join(w.decode("utf-8", "replace") for w in words if w)
    line = " ".join(line.split())  # one line: a `python -c` script holds newlines
    return line if len(line) <= 80 else line[:79] + "…"


_SQLITE_LOCKED = re.compile(r"database (?:table |schema )?is locked")  # sqlite's SQLITE_LOCKED/BUSY texts


def _lock_error(exc: BaseException) -> bool:
    """Whether ``exc`` says another process holds the index locked: sqlite's lock texts, or diskcache's ``Timeout``
    (a write that waited for the lock); not any error whose text (a path) holds "locked"."""
    return isinstance(exc, diskcache.Timeout) or \
        (isinstance(exc, sqlite3.OperationalError) and _SQLITE_LOCKED.search(str(exc)) is not None)


def _locked_hint(exc: Exception) -> str | None:
    """The hint for sqlite's lock timeout (a minute): another process held the cache index all that time."""
    if not _lock_error(exc):
        return None
    return ("another process held the cache index locked for a minute (a sqlite3 shell or a backup tool left in a "
            "transaction, a build on another machine sharing the folder): end it and run the command again, or pass "
            "another folder with --cache; what the build finished is saved")


def vacuum(folder: Path) -> None:
    """Give the space of deleted rows back to the file system (call with the cache closed)."""
    index = folder / INDEX
    if index.exists():
        con = sqlite3.connect(str(index), isolation_level=None)
        try:
            con.execute("VACUUM")
        finally:
            con.close()


def remove_cache_files(folder: Path) -> None:
    """Delete what a cache folder holds that humc wrote (index, value files, moved-aside copies), and
    the folder itself when that leaves it empty; anything else in it is left alone."""
    if not folder.is_dir():
        return
    for item in folder.iterdir():
        if item.name.startswith(INDEX) and item.is_file():
            item.unlink()
        elif item.is_dir() and (_VALUE_DIR.match(item.name) or item.name.startswith(CORRUPT_PREFIX)):
            shutil.rmtree(item)
    if not any(folder.iterdir()):
        folder.rmdir()


def corrupt_copies(folder: Path) -> list[Path]:
    """The ``cache.corrupt-*`` folders ``move_aside`` left in ``folder``."""
    return sorted(p for p in folder.glob(CORRUPT_PREFIX + "*") if p.is_dir()) if folder.is_dir() else []
