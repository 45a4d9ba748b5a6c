"""``python -m humc``: the same as the ``humc`` command."""

from humc.cli import main

if __name__ == "__main__":
    main()
