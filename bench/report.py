"""What every bench does with its figures: write them to ``bench/results/<name>.json`` and print them as a table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def report(name: str, results: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    width = max(len("figure"), *(len(key) for key in results)) + 2
    print(f"{'figure':<{width}} value")
    for key, value in results.items():
        print(f"{key:<{width}} {value}")
