"""humc driver: the job as a Hum recipe, built with `humc build RECIPE --out DIR --cache DIR -q`.

Settings: model `writer` with concurrency = --concurrency, max_retries = --max-retries (429s
honour Retry-After, 5xx back off); the LLM answers and every node of the graph are cached in
--cache (humc's cache is always on). `templates: [en_1]` + `formats: [json, text]` +
`variants_per_record: 2` gives exactly one render per format variant for each record.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402  (takes this folder off sys.path again)

RECIPE = """hum: 1
name: peers
models:
  writer:
    base_url: {base_url}
    model: {model}
    params: {{temperature: {temperature}, max_tokens: {max_tokens}}}
    concurrency: {concurrency}
    max_retries: {max_retries}
    timeout: {timeout}
sources:
  src: {source}
tasks:
  - id: gen
    task: generalist
    source: src
    fields: {{instruction: instruction, context: context, response: '""'}}
    generate: {{model: writer}}
    templates: [en_1]
    formats: [json, text]
    variants_per_record: 2
output:
  splits: {{train: 1.0}}
"""


def main() -> int:
    a = C.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    recipe = work / "peers.hum.yaml"
    recipe.write_text(RECIPE.format(base_url=a.base_url, model=C.MODEL, temperature=C.TEMPERATURE,
                                    max_tokens=C.MAX_TOKENS, concurrency=a.concurrency,
                                    max_retries=a.max_retries, timeout=a.timeout,
                                    source=Path(a.source).resolve()), encoding="utf-8")
    from humc.cli import main as humc_cli

    try:
        humc_cli(["build", str(recipe), "--out", str(work / "out"), "--cache", str(work / "cache"), "-q"],
                 standalone_mode=False)
    except SystemExit as exc:
        if exc.code:
            return int(exc.code)
    rows = pq.read_table(work / "out" / "peers" / "data").to_pylist()
    C.write_rows(a.out, ({"source_row": r["source_row"], "format": r["answer_format"],
                          "instruction": r["instruction"], "output": r["output"]} for r in rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
