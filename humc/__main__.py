"""``python -m humc`` and the ``humc`` command (``humc.__main__:run``).

Ctrl-C while the CLI is still being imported ends quietly with exit 130, as it does once the CLI runs
(``humc.cli``), not with a traceback of the import.
"""

from __future__ import annotations

import codecs
import io
import sys


def run() -> None:
    try:
        from humc.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    _tolerant_stdout()
    main()


def _tolerant_stdout() -> None:
    """A locale that cannot spell a character (LANG=C without Python's UTF-8 mode: ASCII; a Latin-1 locale: Chinese)
    shows it as an escape on stdout, as Python does on stderr, instead of ending humc with UnicodeEncodeError
    (`humc stdlib templates ner` prints the Chinese templates)."""
    out = sys.stdout
    if isinstance(out, io.TextIOWrapper) and codecs.lookup(out.encoding).name != "utf-8":
        out.reconfigure(errors="backslashreplace")


if __name__ == "__main__":
    run()
