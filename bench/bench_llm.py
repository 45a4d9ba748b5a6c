"""Benchmark humc.llm against the OpenAI-compatible test server (tests/llmserver.py).

N records x one chat completion each, server latency 200 ms with 64 slots, client
concurrency 64:

* cold wall time, as a ratio to the physical limit N x latency / slots;
* warm rebuild wall time (everything cached), as a ratio to cold, and the number
  of requests the warm run sent (must be 0);
* records lost with 5% injected 429s + 5% injected 500s (must be 0).

    python bench/bench_llm.py [--n 1000] [--latency 0.2] [--slots 64] [--concurrency 64]

Prints a table and writes bench/results/llm.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import diskcache  # noqa: E402

from humc.llm import LLMClient, LLMRequest, ModelConfig  # noqa: E402
from tests.llmserver import LLMServer  # noqa: E402


class ServerProcess:
    """tests/llmserver.py in its own process (as a real server would be): the client's
    CPU work then does not share a GIL with the server's."""

    def __init__(self, **opts) -> None:
        self.opts = opts
        self.proc: subprocess.Popen | None = None
        self.base_url = ""

    def __enter__(self) -> ServerProcess:
        cmd = [sys.executable, str(REPO / "tests" / "llmserver.py")]
        for k, v in self.opts.items():
            cmd += [f"--{k.replace('_', '-')}", str(v)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()
        if not self.base_url.startswith("http"):
            raise SystemExit(f"test server did not start: {cmd}")
        return self

    @property
    def stats(self) -> dict:
        url = self.base_url.rsplit("/v1", 1)[0] + "/_stats"
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


def server(in_process: bool, **opts):
    if in_process:
        return LLMServer(record_requests=False, **opts)
    return ServerProcess(**opts)


def requests_for(n: int) -> list[LLMRequest]:
    return [LLMRequest([{"role": "system", "content": "Rewrite the instruction."},
                        {"role": "user", "content": f"record {i}: classify the sentiment"}])
            for i in range(n)]


def run(client: LLMClient, reqs: list[LLMRequest]) -> tuple[float, list]:
    t0 = time.perf_counter()
    out = client.run_batch(reqs, return_exceptions=True)
    return time.perf_counter() - t0, out


def lost(reqs: list[LLMRequest], out: list) -> int:
    """Records without their own answer: missing, failed, or someone else's."""
    missing = len(reqs) - len(out)
    bad = sum(1 for r, o in zip(reqs, out, strict=False)
              if o.text is None or o.text != "echo: " + r.messages[-1]["content"])
    return missing + bad


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--slots", type=int, default=64)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--fail-rate", type=float, default=0.05, help="injected 429 rate and 500 rate (each)")
    ap.add_argument("--retry-after", default="1", help="Retry-After sent with injected 429s (seconds)")
    ap.add_argument("--in-process", action="store_true",
                    help="run the server in a thread of this process (shares the GIL with the client)")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "llm.json"))
    args = ap.parse_args(argv)

    n, lat, slots, conc = args.n, args.latency, args.slots, args.concurrency
    reqs = requests_for(n)
    physical = n * lat / slots

    def cfg(url: str) -> ModelConfig:
        return ModelConfig(name="bench", base_url=url, model="test-model",
                           params={"temperature": 0.7, "max_tokens": 128, "seed": 0},
                           concurrency=conc, timeout=30.0)

    with tempfile.TemporaryDirectory() as tmp:
        # cold + warm on a clean endpoint
        with server(args.in_process, latency=lat, slots=slots) as srv, \
                diskcache.Cache(str(Path(tmp) / "c1")) as cache:
            cold_client = LLMClient(cfg(srv.base_url), cache)
            cpu0 = time.process_time()
            cold_s, cold_out = run(cold_client, reqs)
            cold_client_cpu = time.process_time() - cpu0
            cold_sent = srv.stats["requests"]
            max_in_flight = srv.stats["max_in_flight"]
            cold_cpu = cold_client_cpu
            warm_client = LLMClient(cfg(srv.base_url), cache)
            warm_s, warm_out = run(warm_client, reqs)
            warm_sent = srv.stats["requests"] - cold_sent
            cold_lost, warm_lost = lost(reqs, cold_out), lost(reqs, warm_out)

        # cold run under injected failures
        with server(args.in_process, latency=lat, slots=slots, rate_429=args.fail_rate,
                    rate_500=args.fail_rate, retry_after=args.retry_after, seed=1) as srv, \
                diskcache.Cache(str(Path(tmp) / "c2")) as cache:
            flaky_client = LLMClient(cfg(srv.base_url), cache)
            flaky_s, flaky_out = run(flaky_client, reqs)
            flaky_server = srv.stats
            flaky_lost = lost(reqs, flaky_out)

    results = {
        "n": n, "latency_s": lat, "server_slots": slots, "client_concurrency": conc,
        "physical_limit_s": round(physical, 4),
        "cold_s": round(cold_s, 4), "cold_ratio_to_physical": round(cold_s / physical, 3),
        "cold_client_cpu_s": round(cold_cpu, 3),
        "server": "in-process thread" if args.in_process else "separate process",
        "cold_requests_sent": cold_sent, "cold_max_in_flight": max_in_flight,
        "cold_records_lost": cold_lost,
        "warm_s": round(warm_s, 4), "warm_ratio_to_cold": round(warm_s / cold_s, 4),
        "warm_requests_sent": warm_sent, "warm_cache_hits": warm_client.stats.cache_hits,
        "warm_records_lost": warm_lost,
        "failures_injected": {"rate_429": args.fail_rate, "rate_500": args.fail_rate,
                              "retry_after": args.retry_after,
                              "server_status_counts": {str(k): v for k, v in
                                                       sorted(flaky_server["by_status"].items(),
                                                              key=lambda kv: int(kv[0]))}},
        "flaky_s": round(flaky_s, 4), "flaky_ratio_to_physical": round(flaky_s / physical, 3),
        "flaky_retries": flaky_client.stats.retries,
        "flaky_failures": dict(flaky_client.stats.failures),
        "flaky_records_lost": flaky_lost,
        "python": platform.python_version(), "platform": platform.platform(),
    }

    rows = [
        ("records", f"{n}"),
        ("physical limit N*latency/slots", f"{physical:.3f} s"),
        ("cold wall time", f"{cold_s:.3f} s  ({cold_s / physical:.2f}x physical)"),
        ("cold requests sent / max in flight", f"{cold_sent} / {max_in_flight}"),
        ("cold client CPU", f"{cold_cpu:.3f} s  ({cold_cpu / n * 1000:.2f} ms/request)"),
        ("warm rebuild wall time", f"{warm_s:.3f} s  ({warm_s / cold_s:.4f}x cold)"),
        ("warm requests sent", f"{warm_sent}"),
        (f"with {args.fail_rate:.0%} 429 + {args.fail_rate:.0%} 500",
         f"{flaky_s:.3f} s  ({flaky_s / physical:.2f}x physical), {flaky_client.stats.retries} retries"),
        ("records lost (cold / warm / flaky)", f"{cold_lost} / {warm_lost} / {flaky_lost}"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"{'metric':<{width}}  value")
    print(f"{'-' * width}  {'-' * 40}")
    for k, v in rows:
        print(f"{k:<{width}}  {v}")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")
    ok = warm_sent == 0 and cold_lost == warm_lost == flaky_lost == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
