"""What the machine a command runs on can take away from it: its standard streams (closed with `>&-`, `2>&-`), its
current folder (deleted under it), memory, open files and threads (`ulimit -v`, `ulimit -n`, a container's limits).
Each becomes a compiler-style error (or, for a closed stream, silence), not an internal error — nor an exit from a
library before humc can report it (OpenBLAS under `ulimit -v`: ``preload_numpy``)."""

from __future__ import annotations

import errno
import os
import re
import sys

try:
    import fcntl
except ImportError:  # Windows: no descriptor flags, only whether it is open
    fcntl = None  # type: ignore[assignment]

from humc.errors import NAME_MAX, OUT_OF_FILES, PATH_MAX, HumcError, too_long_path
from humc.limits import NUMPY_HEADROOM, address_space_limited, check_blas_headroom


def open_std_streams() -> None:
    """Put /dev/null on a standard stream's descriptor that is closed (`2>&-`) or that output cannot be written to
    (a shell wrapper such as a pyenv shim leaves its own script, read-only, on a closed 2): else the next file humc
    opens (a lock file, a shard) takes a closed number and what a library writes to stdout or stderr lands in it,
    and every line humc writes fails with EBADF, after the work is done, as an internal error."""
    for fd in (0, 1, 2):
        if not _usable(fd):
            null = os.open(os.devnull, os.O_RDWR)  # the lowest free number: this fd itself when it is closed
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def _usable(fd: int) -> bool:
    """Open, and for stdout and stderr open for writing."""
    try:
        if fcntl is None:
            os.fstat(fd)
            return True
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    except OSError:
        return False
    return fd == 0 or flags & os.O_ACCMODE != os.O_RDONLY


def preload_numpy() -> None:
    """Under an address-space limit (`ulimit -v`): numpy loaded now, with one OpenBLAS thread unless the user chose
    how many (``OPENBLAS_NUM_THREADS``), once ``NUMPY_HEADROOM`` is known to be free (MemoryError, E9002, if not).
    numpy, which pyarrow imports mid-build, loads OpenBLAS, which allocates buffers (one per thread it runs) and ends
    the process when one is refused (``humc.limits``), before humc can say what happened; loaded first, in a process
    holding no threads or data yet, it fits, or the command stops with E9002. humc's own numpy work is small, so one
    thread costs nothing. Without a limit nothing is done."""
    if not address_space_limited() or "numpy" in sys.modules:
        return
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    check_blas_headroom("loading numpy (for pyarrow)", NUMPY_HEADROOM)
    try:
        import numpy  # noqa: F401
    except ModuleNotFoundError:  # pyarrow without numpy: nothing loads OpenBLAS
        return


def system_error(exc: BaseException) -> HumcError | None:
    """E9002 for memory, open files or threads run out, E3002 for a current folder deleted under the command
    (a relative path cannot be resolved), or None: an internal error after all."""
    no_thread = isinstance(exc, RuntimeError) and "can't start new thread" in str(exc)
    if isinstance(exc, MemoryError) or _is_out_of_memory(exc) or (no_thread and address_space_limited()):
        return _exhausted("memory", "raise the memory limit (`ulimit -v`, the container's), or use fewer render "
                          "workers (-j 1)")  # under `ulimit -v`, a thread is refused when its stack cannot be mapped
    if isinstance(exc, OSError) and exc.errno in OUT_OF_FILES:
        return _exhausted("open files", "raise the limit of open files (`ulimit -n 1024`)")
    if no_thread:
        return _exhausted("threads", "raise the process or memory limit (`ulimit -u`, `ulimit -v`), or use fewer "
                          "render workers (-j 1)")
    if isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:  # a command-line path (recipe paths are checked
        shown = os.fsdecode(exc.filename) if isinstance(exc.filename, (str, bytes)) else ""  # where they are written)
        reason = too_long_path(shown) or "the file system refuses so long a name"
        return HumcError(f"the path {shown[:80] + '…' if len(shown) > 80 else shown} is too long: {reason}",
                         code="E3002", expected=f"file names of at most {NAME_MAX} bytes, a path of at most {PATH_MAX}",
                         hint="shorten the name (or the folders above it) on the command line")
    if isinstance(exc, FileNotFoundError) and not _cwd_exists():
        return HumcError("the current folder no longer exists (it was deleted or moved while humc ran or before): "
                         "a relative path cannot be resolved", code="E3002",
                         expected="a current folder that exists, or absolute paths",
                         hint="`cd` into an existing folder and run the command again; nothing was written")
    return None


def _is_out_of_memory(exc: BaseException) -> bool:
    """An extension module that could not be mapped (`ulimit -v`), or an allocation the system refused."""
    if isinstance(exc, OSError) and (exc.errno == errno.ENOMEM or "not enough memory" in str(exc)):
        return True  # pyarrow's zstd: OSError('ZSTD compression failed: Allocation error : not enough memory')
    if isinstance(exc, SystemError) and re.search(r"without (setting an )?exception", str(exc)):
        # CPython's import machinery loses the MemoryError of an allocation refused under `ulimit -v`
        return address_space_limited()
    return isinstance(exc, ImportError) and "failed to map segment" in str(exc)


def _exhausted(what: str, hint: str) -> HumcError:
    return HumcError(f"out of {what}: the system refused humc more", code="E9002",
                     hint=f"{hint}; what the build finished is in its cache, and the same command resumes from it")


def _cwd_exists() -> bool:
    try:
        os.getcwd()
    except OSError:
        return False
    return True
