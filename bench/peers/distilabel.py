"""distilabel driver: LoadDataFromDicts >> TextGeneration(OpenAILLM) >> Render, in a Pipeline.

Settings:
* OpenAILLM(base_url=..., max_retries=--max-retries, timeout=...): the openai client's own
  retries (exponential backoff, honours Retry-After) for 429 / 5xx / timeouts;
* concurrency: distilabel sends one batch of an async LLM's step concurrently
  (asyncio.gather), so TextGeneration's input_batch_size = --concurrency (64) is its
  number of requests in flight;
* cache: Pipeline(cache_dir=<work>/cache) with run(use_cache=True) (distilabel's default):
  a finished pipeline with the same signature is loaded back from the cache.
* the render is a custom @step that turns each generated row into one row per format.
"""


import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402  (takes this folder off sys.path again)
from distilabel.models import OpenAILLM  # noqa: E402
from distilabel.pipeline import Pipeline  # noqa: E402
from distilabel.steps import LoadDataFromDicts, StepInput, step  # noqa: E402
from distilabel.steps.tasks import TextGeneration  # noqa: E402

TEMPLATE = C.USER.replace("{instruction}", "{{ instruction }}").replace("{context}", "{{ context }}")


@step(inputs=["row", "instruction", "context", "generation"],
      outputs=["source_row", "format", "rendered", "output"])
def Render(inputs: StepInput):
    out = []
    for r in inputs:
        answer = r.get("generation")
        for fmt in C.FORMATS:
            out.append({"source_row": r["row"], "format": fmt,
                        "rendered": C.render_instruction(r, fmt),
                        "output": C.render_output(answer, fmt) if answer is not None else None})
    yield out


def main() -> int:
    a = C.parse_args()
    work = Path(a.work)
    data = [{"row": i, **rec} for i, rec in enumerate(C.read_source(a.source))]
    with Pipeline(name="peers", cache_dir=work / "cache") as pipeline:
        load = LoadDataFromDicts(data=data, batch_size=a.concurrency)
        gen = TextGeneration(
            llm=OpenAILLM(model=C.MODEL, base_url=a.base_url, api_key="sk-bench-not-a-real-key",
                          max_retries=a.max_retries, timeout=int(a.timeout),
                          generation_kwargs={"temperature": C.TEMPERATURE, "max_new_tokens": C.MAX_TOKENS}),
            template=TEMPLATE, columns=["instruction", "context"],
            input_batch_size=a.concurrency, add_raw_output=False, add_raw_input=False)
        render = Render(input_batch_size=a.concurrency)
        load >> gen >> render
    distiset = pipeline.run(use_cache=True)
    ds = distiset["default"]["train"]
    C.write_rows(a.out, ({"source_row": r["source_row"], "format": r["format"],
                          "instruction": r["rendered"], "output": r["output"]} for r in ds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
