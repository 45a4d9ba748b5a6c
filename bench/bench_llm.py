"""An LLM-bound build against the loopback OpenAI-compatible server, as a ratio to the physical limit.

    python bench/bench_llm.py [--n 2000]

For each configuration (server latency × slots, injected failures), the test server
(tests/llmserver.py) runs in its own process, and two clients do the same N completions:

* **baseline** — a bare asyncio HTTP/1.1 keep-alive client, ``slots`` requests in flight, a failed one
  waiting (without its slot: ``Retry-After`` for a 429, 0.25 s for a 5xx) and sent again, nothing else:
  what the machine and the server allow, measured in the same run. Its slots are a FIFO
  ``asyncio.Semaphore``, so a retry queues behind every request not yet sent;
* **baseline, retries first** — the same client, but its slots are ``humc.llm.retrying.SlotGate``: a
  request back from its wait is sent before fresh ones (the fair floor for humc's admission);
* **humc client** — ``LLMClient.run_outcomes`` over the same N requests (no cache, no build): the
  transport, retries and concurrency alone;
* **humc build** — a recipe with one ``generate`` step over N records (a generalist task, one
  ``text`` format), planned and built in this process with an empty cache (cold), with the
  model's ``concurrency`` = slots; wall time of ``plan_recipe`` + ``build``, i.e. every node
  (load … write, Parquet + card) and not interpreter start-up nor humc's one-time imports (a
  2-record build with the model's answers already in its source runs first, untimed: it loads
  the recipe compiler, Jinja2, Lark and pyarrow).

ratio = wall / (N × latency / slots). With injected failures, retried attempts are real work the
server did, so the ratio is above 1.0 even for a perfect client. Afterwards the first
configuration is rebuilt warm: it must send 0 requests. Prints a table, writes
bench/results/llm.json; exit code 1 when a record is lost or a warm build sent a request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from humc.build.compiler import build, plan_recipe  # noqa: E402
from humc.llm import LLMClient, LLMRequest, ModelConfig  # noqa: E402
from humc.llm.retrying import SlotGate  # noqa: E402

CONFIGS = [  # (latency s, slots, rate_429, rate_500)
    (0.2, 64, 0.0, 0.0),
    (1.0, 256, 0.0, 0.0),
    (0.2, 64, 0.05, 0.05),
]


class ServerProcess:
    """tests/llmserver.py in its own process, as a real server would be (no GIL shared with the client)."""

    def __init__(self, **opts: Any) -> None:
        self.opts = opts
        self.proc: subprocess.Popen[str] | None = None
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
    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.base_url.rsplit("/v1", 1)[0] + "/_stats", timeout=10) as r:
            return dict(json.load(r))

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


# ----------------------------------------------------------------------------- baseline


async def bare_client(base_url: str, n: int, slots: int, retry_after: float, *, retries_first: bool = False) -> int:
    """N POSTs, at most `slots` in flight over reused keep-alive connections; a 429/5xx waits (without holding a
    slot: `retry_after` for a 429, 0.25 s for a 5xx) and is sent again — after every request not yet sent (a FIFO
    semaphore), or with `retries_first` before them (humc's SlotGate). Returns the number answered 200."""
    url = urllib.parse.urlsplit(base_url)
    path = url.path.rstrip("/") + "/chat/completions"
    sem = asyncio.Semaphore(slots)
    gate = SlotGate(slots)
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def exchange(body: bytes, retry: bool) -> int:
        if retries_first:
            await gate.acquire(retry=retry)
            try:
                return await send(body)
            finally:
                gate.release()
        async with sem:
            return await send(body)

    async def send(body: bytes) -> int:
        reader, writer = idle.pop() if idle else await asyncio.open_connection(url.hostname, url.port)
        writer.write(f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        await reader.readexactly(length)
        idle.append((reader, writer))
        return int(head.split(b" ", 2)[1])

    async def one(i: int) -> bool:
        body = json.dumps({"model": "test-model", "max_tokens": 64,
                           "messages": [{"role": "user", "content": f"record {i}"}]}).encode()
        retry = False
        while (status := await exchange(body, retry)) != 200:
            await asyncio.sleep(retry_after if status == 429 else 0.25)
            retry = True
        return True

    done = await asyncio.gather(*(one(i) for i in range(n)))
    for _, writer in idle:
        writer.close()
    return sum(done)


# ----------------------------------------------------------------------------- humc


def write_workspace(root: Path, base_url: str, n: int, slots: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rows = [{"instruction": f"Summarise record {i} in one sentence.", "context": "", "response": ""} for i in range(n)]
    (root / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    recipe = root / "bench.hum.yaml"
    recipe.write_text(f"""hum: 1
name: bench-llm
models:
  writer:
    base_url: {base_url}
    model: test-model
    concurrency: {slots}
    max_retries: 8
    params: {{temperature: 0.7, max_tokens: 128, seed: 0}}
sources:
  s: data.jsonl
tasks:
  - id: gen
    task: generalist
    source: s
    fields: {{instruction: instruction, context: context, response: response}}
    generate: {{model: writer}}
    formats: [text]
output:
  splits: {{train: 1.0}}
""", encoding="utf-8")
    return recipe


def humc_build(recipe: Path, root: Path) -> tuple[float, int, dict[str, int]]:
    """(wall seconds, records written, generate node notes)."""
    start = time.perf_counter()
    result = build(plan_recipe(recipe, out_dir=root / "out", cache_dir=root / "cache"))
    wall = time.perf_counter() - start
    written = next(s.records_out for s in result.stats if s.node == "corpus/write")
    notes = next(s.notes for s in result.stats if s.node == "gen/generate")
    return wall, written, notes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--retry-after", default="0.5", help="Retry-After sent with injected 429s (seconds)")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "llm.json"))
    args = ap.parse_args(argv)
    n, rows, results, ok = args.n, [], [], True
    root = Path(tempfile.mkdtemp(prefix="humc-bench-llm-"))
    try:
        warm = write_workspace(root / "warm-up", "http://127.0.0.1:9/v1", 2, 1)
        (root / "warm-up" / "data.jsonl").write_text('{"instruction": "a", "context": "", "response": "b"}\n' * 2)
        humc_build(warm, root / "warm-up")  # nothing to generate: no request is sent
        for k, (latency, slots, r429, r500) in enumerate(CONFIGS):
            physical = n * latency / slots
            opts = dict(latency=latency, slots=slots, rate_429=r429, rate_500=r500, retry_after=args.retry_after,
                        seed=1)
            with ServerProcess(**opts) as srv:
                t0 = time.perf_counter()
                base_ok = asyncio.run(bare_client(srv.base_url, n, slots, float(args.retry_after)))
                base = time.perf_counter() - t0
                base_sent = srv.stats["requests"]
            with ServerProcess(**opts) as srv:
                t0 = time.perf_counter()
                first_ok = asyncio.run(bare_client(srv.base_url, n, slots, float(args.retry_after), retries_first=True))
                first = time.perf_counter() - t0
            with ServerProcess(**opts) as srv:
                client = LLMClient(ModelConfig(name="bench", base_url=srv.base_url, model="test-model",
                                               concurrency=slots, max_retries=8, params={"max_tokens": 64}))
                t0 = time.perf_counter()
                client_ok = sum(o.value is not None for o in client.run_outcomes(
                    [LLMRequest([{"role": "user", "content": f"record {i}"}]) for i in range(n)]))
                client_s = time.perf_counter() - t0
            with ServerProcess(**opts) as srv:
                recipe = write_workspace(root / f"c{k}", srv.base_url, n, slots)
                wall, written, notes = humc_build(recipe, root / f"c{k}")
                stats = srv.stats
                warm_sent = None
                if k == 0:
                    shutil.rmtree(root / f"c{k}" / "out")
                    humc_build(recipe, root / f"c{k}")
                    warm_sent = srv.stats["requests"] - stats["requests"]
            lost = n - written
            ok = ok and lost == 0 and base_ok == first_ok == client_ok == n and warm_sent in (None, 0)
            label = f"{latency * 1000:g} ms × {slots} slots" + (f", {r429:.0%} 429 + {r500:.0%} 500" if r429 or r500 else "")
            results.append({"config": label, "n": n, "latency_s": latency, "slots": slots, "rate_429": r429,
                            "rate_500": r500, "physical_s": round(physical, 3),
                            "baseline_s": round(base, 3), "baseline_ratio": round(base / physical, 3),
                            "baseline_requests": base_sent,
                            "retries_first_s": round(first, 3), "retries_first_ratio": round(first / physical, 3),
                            "client_s": round(client_s, 3), "client_ratio": round(client_s / physical, 3),
                            "humc_s": round(wall, 3), "humc_ratio": round(wall / physical, 3),
                            "humc_requests": stats["requests"], "humc_max_in_flight": stats["max_in_flight"],
                            "humc_connections": stats["connections"], "humc_retries": notes.get("llm retries", 0),
                            "records_lost": lost, "warm_requests": warm_sent})
            rows.append((label, f"{physical:.2f} s", f"{base / physical:.3f}×", f"{first / physical:.3f}×",
                         f"{client_s / physical:.3f}×",
                         f"{wall / physical:.3f}×",
                         f"{stats['requests']} / {stats['connections']}", str(lost)))
    finally:
        shutil.rmtree(root, ignore_errors=True)

    head = ("configuration", "physical", "bare asyncio", "bare, retries first", "humc client", "humc build", "requests / conns", "lost")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, tuple("-" * w for w in widths), *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    print(f"warm rebuild of the first configuration: {results[0]['warm_requests']} request(s) sent")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"runs": results, "python": platform.python_version(),
                               "platform": platform.platform()}, indent=2) + "\n", encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
