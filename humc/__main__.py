"""``python -m humc``: the same as the ``humc`` command."""

from __future__ import annotations

from humc.cli import main

if __name__ == "__main__":
    main()
