"""bespokelabs-curator driver: a curator.LLM subclass (prompt + parse) over the source rows.

Settings (backend="openai", backend_params):
* base_url = the test server, api_key = a dummy;
* max_concurrent_requests = --concurrency (64); max_requests_per_minute / max_tokens_per_minute
  set high (10^6 / 10^9) so curator's own rate limiter never binds below the concurrency cap
  (with no limits given, curator falls back to conservative defaults for unknown models);
* max_retries = --max-retries; require_all_responses = False (a record that still fails after
  its retries is dropped rather than failing the whole run, which is what humc does too);
* seconds_to_pause_on_rate_limit = 1, the test server's Retry-After (curator's default is 10 s);
* cache: curator's default response cache, working_dir=<work>/cache (keyed by a fingerprint
  of the dataset, the prompt/parse functions, the model and its parameters).
* the render: parse() returns one row per format variant.

Offline patch (the only one): curator's OpenAI backend loads tiktoken's cl100k_base encoding,
which tiktoken downloads from the internet on first use, only to estimate input tokens for its
rate limiter. Offline that download fails and the run dies before its first request, so this
driver gives it a 4-characters-a-token estimate instead (curator's own fallback when tiktoken
cannot encode a value). Nothing that is sent or cached changes.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402  (takes this folder off sys.path again)
from bespokelabs import curator  # noqa: E402
from bespokelabs.curator.request_processor.online import openai_online_request_processor as _oorp  # noqa: E402


class _FourCharsAToken:
    def encode(self, text: str, **_: object) -> range:
        return range((len(text) + 3) // 4)


_oorp.OpenAIOnlineRequestProcessor.get_token_encoding = lambda self: _FourCharsAToken()


class Answer(curator.LLM):
    def prompt(self, row: dict) -> str:
        return C.prompt(row)

    def parse(self, row: dict, response: str) -> list[dict]:
        return [{"source_row": row["row"], "format": fmt, "instruction": C.render_instruction(row, fmt),
                 "output": C.render_output(response, fmt)} for fmt in C.FORMATS]


def main() -> int:
    a = C.parse_args()
    work = Path(a.work)
    rows = [{"row": i, **rec} for i, rec in enumerate(C.read_source(a.source))]
    llm = Answer(model_name=C.MODEL, backend="openai",
                 generation_params={"temperature": C.TEMPERATURE, "max_tokens": C.MAX_TOKENS},
                 backend_params={"base_url": a.base_url, "api_key": "sk-bench-not-a-real-key",
                                 "max_concurrent_requests": a.concurrency,
                                 "max_requests_per_minute": 1_000_000, "max_tokens_per_minute": 1_000_000_000,
                                 "max_retries": a.max_retries, "request_timeout": int(a.timeout),
                                 "require_all_responses": False, "seconds_to_pause_on_rate_limit": 1})
    result = llm(rows, working_dir=str(work / "cache"))
    ds = getattr(result, "dataset", result)
    C.write_rows(a.out, ds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
