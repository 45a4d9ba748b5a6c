"""What every driver shares: the command line, the job's prompt and renders, and the
normalised output the benchmark counts.

Dependency-free on purpose: each driver runs in its own interpreter (a venv under
bench/.venvs/ for the peers), and imports this file from its own folder.

The job, for N source records {"instruction", "context"}:

1. one LLM call per record (answer generation), ``temperature 0, max_tokens 256``;
2. one templated render per format variant, ``json`` and ``text`` (2 rows per record);
3. the rows land in the tool's own output, which the driver re-writes as JSONL lines
   ``{"source_row", "format", "instruction", "output"}`` for the benchmark to count.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path

# The drivers are named after the tools they drive (humc.py, distilabel.py, ...): once they have
# imported this module, take their folder off sys.path so `import <tool>` finds the real package.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

FORMATS = ("json", "text")
MODEL = "test-model"
TEMPERATURE = 0.0
MAX_TOKENS = 256

# The answer-generation prompt, one user message: exactly what humc's stdlib prompt
# (stdlib/prompts/generate.j2) renders for this task, so every tool sends the same bytes
# and the test server's echo answers are comparable across tools.
USER = ("You are an expert annotator building a high-quality instruction dataset.\n"
        "Task: Instruction generalist \u2014 Follow a free-form instruction (with optional context); "
        "the gold answer is a reference response.\n"
        "Instruction:\n{instruction}\n\nContext:\n{context}\n\nReply with the answer only.")


def prompt(record: dict) -> str:
    return USER.format(instruction=record["instruction"], context=record["context"])


def expected_answer(record: dict) -> str:
    """What tests/llmserver.py's default responder answers to prompt(record)."""
    return "echo: " + prompt(record)

# The two format variants: instruction suffix + how the answer is written.
FORMAT_INSTRUCTION = {
    "json": "Answer in JSON: one object with the key response.",
    "text": "Reply with the answer only, without any formatting.",
}
# Jinja form of the same renders (used by the tools whose render step is Jinja).
INSTRUCTION_J2 = "{{ instruction }}\nContext:\n{{ context }}\n%s"
OUTPUT_J2 = {"json": '{"response": {{ answer | tojson }}}', "text": "{{ answer }}"}


def render_instruction(record: dict, fmt: str) -> str:
    return f"{record['instruction']}\nContext:\n{record['context']}\n{FORMAT_INSTRUCTION[fmt]}"


def render_output(answer: str, fmt: str) -> str:
    return json.dumps({"response": answer}, ensure_ascii=False) if fmt == "json" else answer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True, help="JSONL: instruction, context")
    ap.add_argument("--work", required=True, help="the tool's working folder (its cache lives here)")
    ap.add_argument("--out", required=True, help="normalised output JSONL")
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--max-retries", type=int, default=8)
    ap.add_argument("--timeout", type=float, default=60.0)
    return ap.parse_args(argv)


def read_source(path: str | Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_rows(path: str | Path, rows: Iterable[dict]) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps({"source_row": int(r["source_row"]), "format": r["format"],
                                "instruction": r["instruction"], "output": r["output"]},
                               ensure_ascii=False) + "\n")
            n += 1
    return n
