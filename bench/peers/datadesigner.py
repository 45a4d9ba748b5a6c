"""NeMo data-designer driver: a seed dataset (the source, read from a local JSONL file), an
LLMTextColumnConfig (answer generation) and four ExpressionColumnConfig (Jinja renders:
instruction + output of the json and text variants), built with DataDesigner.create().

Settings:
* ModelProvider(endpoint=the test server, provider_type="openai", api_key=a dummy);
* ChatCompletionInferenceParams(max_parallel_requests=--concurrency, timeout, temperature 0,
  max_tokens 256); skip_health_check=True (the health check would send one extra request a run);
* retries: data-designer's built-in policy, which its public API does not expose: 3 transport
  retries for 502/503/504 and connection errors, and adaptive (AIMD) request admission for
  429s. A 500 is not in its retryable set, so --max-retries cannot be passed through;
* RunConfig(disable_early_shutdown=True) so a failed request costs that record, not the run
  (data-designer otherwise stops the whole run once 50% of a window of tasks fail);
* "cache": data-designer has no LLM response cache. The closest thing it has is resuming a
  run from its artifacts: create(..., dataset_name="peers", resume=ResumeMode.IF_POSSIBLE)
  in the same artifact_path (<work>/artifacts), which is what the warm run uses.
* buffer_size = N (one row group), OTel metrics endpoint off, no TUI;
* jinja_rendering_engine=NATIVE: the default "secure" sandbox forbids the `tojson` filter
  that the json render needs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402  (takes this folder off sys.path again)
import data_designer.config as dd  # noqa: E402
from data_designer.interface import DataDesigner  # noqa: E402

PROMPT = C.USER.replace("{instruction}", "{{ instruction }}").replace("{context}", "{{ context }}")


def main() -> int:
    a = C.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    rows = C.read_source(a.source)
    seed = work / "seed.jsonl"   # the source with its row number, so rows can be matched back
    seed.write_text("".join(json.dumps({"row": i, **r}) + "\n" for i, r in enumerate(rows)), encoding="utf-8")

    provider = dd.ModelProvider(name="bench", endpoint=a.base_url, provider_type="openai",
                                api_key="sk-bench-not-a-real-key")
    model = dd.ModelConfig(alias="writer", model=C.MODEL, provider="bench", skip_health_check=True,
                           inference_parameters=dd.ChatCompletionInferenceParams(
                               temperature=C.TEMPERATURE, max_tokens=C.MAX_TOKENS,
                               max_parallel_requests=a.concurrency, timeout=int(a.timeout)))
    builder = dd.DataDesignerConfigBuilder(model_configs=[model])
    builder.with_seed_dataset(dd.LocalFileSeedSource(path=str(seed)))
    builder.add_column(dd.LLMTextColumnConfig(name="answer", model_alias="writer", prompt=PROMPT))
    for fmt in C.FORMATS:
        builder.add_column(dd.ExpressionColumnConfig(
            name=f"{fmt}_instruction", expr=C.INSTRUCTION_J2 % C.FORMAT_INSTRUCTION[fmt]))
        builder.add_column(dd.ExpressionColumnConfig(name=f"{fmt}_output", expr=C.OUTPUT_J2[fmt]))

    designer = DataDesigner(artifact_path=work / "artifacts", model_providers=[provider])
    designer.set_run_config(dd.RunConfig(disable_early_shutdown=True, buffer_size=len(rows),
                                         otel_metrics_port=None, display_tui=False,
                                         jinja_rendering_engine=dd.JinjaRenderingEngine.NATIVE))
    result = designer.create(builder, num_records=len(rows), dataset_name="peers",
                             resume=dd.ResumeMode.IF_POSSIBLE)
    df = result.load_dataset()
    out = []
    for r in df.to_dict(orient="records"):
        for fmt in C.FORMATS:
            out.append({"source_row": r["row"], "format": fmt, "instruction": r.get(f"{fmt}_instruction"),
                        "output": r.get(f"{fmt}_output")})
    C.write_rows(a.out, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
