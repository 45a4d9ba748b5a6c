"""``python -m humc`` and the ``humc`` command (``humc.__main__:run``).

Ctrl-C while the CLI is still being imported ends quietly with exit 130, as it does once the CLI runs
(``humc.cli``), not with a traceback of the import.
"""

from __future__ import annotations

import sys


def run() -> None:
    try:
        from humc.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    main()


if __name__ == "__main__":
    run()
