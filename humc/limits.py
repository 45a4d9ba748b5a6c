"""Resource limits on recipe input, in one place (documented in README.md, "Limits").

Every limit is far beyond what a real recipe needs and well inside what one process can afford,
so that a hostile or broken input (a YAML alias bomb, 10 000 nested brackets, a 5000-digit
integer) ends in a located diagnostic with exit 2 instead of exhausting memory, time or Python's
recursion limit: ``E0010`` before any work is done for the recipe's own text, else the code of the
stage that meets it. Each limit is checked by the stage that reads the input: ``recipe/yamlsrc.py``
(file size, values, depth, integers), ``expr/parse.py`` (expression length, depth, number literals),
``expr/eval.py`` and ``expr/functions.py`` (what an expression makes, per record: E4102 at it),
``sources.py`` (the depth of a JSON record: E4001 at its line) and ``eval/predict.py`` (a predictions
line). This module imports nothing of humc.

Under an address-space limit (`ulimit -v`), ``check_blas_headroom`` stops a command with MemoryError (E9002) before
numpy's OpenBLAS would end the process itself: it allocates a buffer when it loads and at each thread's first matrix
product, and exits (status 1, "OpenBLAS error: Memory allocation still failed") when one is refused.
"""

from __future__ import annotations

import mmap

try:
    import resource
except ImportError:  # Windows: no address-space limit to read
    resource = None  # type: ignore[assignment]

LIMIT_CODE = "E0010"                 # the diagnostic code of a limit checked before any work

MAX_RECIPE_BYTES = 4 * 1024 * 1024   # a recipe, lockfile or stdlib YAML file, checked before parsing
MAX_YAML_VALUES = 100_000            # values (scalars, lists, mappings) after expanding aliases
MAX_YAML_DEPTH = 64                  # nesting of lists and mappings, after expanding aliases
MAX_INT = 2**63 - 1                  # |integer| in YAML and in expressions (fits a 64-bit column)
MAX_INT_DIGITS = 32                  # longer integer text is refused before converting it

MAX_EXPR_CHARS = 10_000              # one expression, pipeline or rule
MAX_EXPR_DEPTH = 200                 # levels of its syntax tree
MAX_MADE_ITEMS = 16 << 20            # a text or list an expression makes (`text * n`, `a + b`, join, replace):
                                     # its characters or items
MAX_PREDICTION_BYTES = 16 << 20     # one line of an eval predictions file (a model's answer: scoring parses it
                                     # several ways, at about 10x its size in memory)
MAX_RECORD_DEPTH = 200               # nesting of lists and objects in one JSON source record (the build
                                     # pickles records, which recurses once per level)

NUMPY_HEADROOM = 128 << 20           # address space free before numpy loads: its libraries, OpenBLAS's first buffer
BLAS_HEADROOM = 64 << 20             # and before a thread's first matrix product (matplotlib's, drawing the card's
                                     # plots): OpenBLAS's buffer for the thread (32 MiB), with room to spare


def address_space_limited() -> bool:
    """Whether the process runs under an address-space limit (`ulimit -v`)."""
    return resource is not None and resource.getrlimit(resource.RLIMIT_AS)[0] != resource.RLIM_INFINITY


def check_blas_headroom(what: str, size: int = BLAS_HEADROOM) -> None:
    """Under an address-space limit: MemoryError naming ``what`` unless ``size`` bytes can be reserved now (reserved
    and released, never touched: no memory is used). Without a limit nothing is done."""
    if not address_space_limited():
        return
    try:
        mmap.mmap(-1, size).close()
    except OSError:
        raise MemoryError(f"{what} needs {size >> 20} MiB of address space free") from None
