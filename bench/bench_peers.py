"""Run the same LLM-backed dataset job in humc and in peer tools, and compare them.

    python bench/bench_peers.py [--n 2000] [--latency 0.2] [--slots 64] [--tools humc,distilabel,...]

The job (bench/peers/_common.py): a JSONL source of N records {instruction, context};
one chat completion per record (answer generation) against tests/llmserver.py, an
OpenAI-compatible server started here in its own process; one templated render per
format variant (json, text), so 2N output rows. Each tool's driver is bench/peers/<tool>.py;
the peers run from their own venvs under bench/.venvs/<tool>/ (created and pip-installed
here, pinned versions below), humc from this interpreter.

For each tool, each run in a fresh subprocess:

* cold    empty cache, clean server: wall time, peak memory, requests sent;
* warm    the same job again, the tool's cache kept: wall time, requests sent (server counter);
* edit    1% of the source records edited in place (every 100th record's instruction), the
          tool's cache kept: wall time, requests sent against expected (= the records edited),
          stale records (an edited record delivered with its old instruction or old answer) and
          correct records (delivered exactly as a cold run on the edited source delivers them);
* flaky   empty cache, server injecting 5% 429 (Retry-After) + 5% 500: records lost.

A record counts as delivered when both of its rows (json and text) are in the tool's output
with exactly the expected instruction and answer. Peak memory is the peak of the summed RSS
of the tool's process tree (sampled from /proc every 50 ms; the tools that fork workers are
charged for them), with the largest single process's ru_maxrss (os.wait4) beside it.

Prints one table with every figure also as a ratio to humc's, and humc's cold time as a ratio
to the physical limit N x latency / slots; writes bench/results/peers.json. A peer that cannot
be installed, or cannot run the job offline against a base_url, gets its reason recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH / "peers"))

import _common as C  # noqa: E402
from bench_llm import ServerProcess  # noqa: E402

VENVS = BENCH / ".venvs"

# tool -> pip requirements of its venv (None: runs in this interpreter). Pinned: the versions
# measured in bench/README.md.
PEERS: dict[str, list[str] | None] = {
    "humc": None,
    # distilabel 1.5.3 imports requests without declaring it
    "distilabel": ["distilabel[openai]==1.5.3", "requests"],
    "curator": ["bespokelabs-curator==0.1.31"],
    "datadesigner": ["data-designer==0.9.7"],
}
PACKAGE = {"humc": "humc", "distilabel": "distilabel", "curator": "bespokelabs-curator",
           "datadesigner": "data-designer"}

# Environment of every driver: no telemetry, nothing fetched from a hub, a dummy key (the test
# server checks none). Caches are pointed into the run's work folder by the drivers themselves.
OFFLINE_ENV = {
    "OPENAI_API_KEY": "sk-bench-not-a-real-key",
    "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False",
    "DO_NOT_TRACK": "1", "ANONYMIZED_TELEMETRY": "False", "TELEMETRY_ENABLED": "false",
    "CURATOR_DISABLE_TELEMETRY": "1", "NEMO_TELEMETRY_ENABLED": "false",
    "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1",
}


# ---------------------------------------------------------------------------- setup


def venv_python(tool: str) -> Path:
    return VENVS / tool / "bin" / "python"


def ensure_venv(tool: str, install: bool) -> tuple[Path | None, str, str]:
    """(python, version, reason-if-unavailable)."""
    reqs = PEERS[tool]
    if reqs is None:
        from importlib.metadata import version
        return Path(sys.executable), version("humc"), ""
    py = venv_python(tool)
    marker = VENVS / f"{tool}.installed"
    wanted = "\n".join(reqs)
    if not (py.exists() and marker.exists() and marker.read_text() == wanted):
        if not install:
            return None, "", f"venv {VENVS / tool} missing (run without --no-install)"
        print(f"[setup] creating {py.parent.parent} and installing {' '.join(reqs)} ...", flush=True)
        if not py.exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENVS / tool)], check=True)
        log = VENVS / f"{tool}.pip.log"
        with open(log, "w") as f:
            rc = subprocess.run([str(py), "-m", "pip", "install", "-q", *reqs], stdout=f,
                                stderr=subprocess.STDOUT).returncode
        if rc != 0:
            tail = [ln for ln in log.read_text().splitlines() if not ln.startswith("WARNING: Location")]
            return None, "", f"pip install {' '.join(reqs)} failed: " + " | ".join(tail[-5:])
        marker.write_text(wanted)
    out = subprocess.run([str(py), "-c", f"from importlib.metadata import version; print(version({PACKAGE[tool]!r}))"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return None, "", f"{PACKAGE[tool]} does not import: {out.stderr.strip()[-300:]}"
    return py, out.stdout.strip(), ""


def driver_info(tool: str) -> dict:
    """Where the driver is, what it installs, and its settings (the driver's docstring)."""
    import ast

    path = BENCH / "peers" / f"{tool}.py"
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return {"driver": str(path.relative_to(REPO)), "pip": PEERS[tool] or "this interpreter",
            "settings": doc}


# ---------------------------------------------------------------------------- measuring


def _tree_rss(root: int) -> int:
    """Summed RSS (bytes) of root and its descendants, from /proc."""
    parent: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat", "rb") as f:
                    stat = f.read()
                parent[int(d)] = int(stat[stat.rindex(b")") + 2:].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    tree, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parent.items() if pp == p and c not in tree]
        tree.update(kids)
        frontier.extend(kids)
    page, total = os.sysconf("SC_PAGE_SIZE"), 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * page
        except (OSError, ValueError, IndexError):
            pass
    return total


def run_driver(py: Path, tool: str, *, source: Path, work: Path, out: Path, base_url: str,
               concurrency: int, max_retries: int, timeout: float, log: Path) -> dict:
    cmd = [str(py), str(BENCH / "peers" / f"{tool}.py"), "--source", str(source), "--work", str(work),
           "--out", str(out), "--base-url", base_url, "--concurrency", str(concurrency),
           "--max-retries", str(max_retries)]
    env = {**os.environ, **OFFLINE_ENV}
    if PEERS[tool] is not None:
        env.pop("PYTHONPATH", None)
        env["VIRTUAL_ENV"] = str(py.parent.parent)
        env["PATH"] = f"{py.parent}{os.pathsep}{env.get('PATH', '')}"
    peak = [0]
    done = threading.Event()
    t0 = time.perf_counter()
    with open(log, "w") as logf:
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env, cwd=str(work),
                                start_new_session=True)

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], _tree_rss(proc.pid))
                done.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        result: list = []
        waiter = threading.Thread(target=lambda: result.append(os.wait4(proc.pid, 0)), daemon=True)
        waiter.start()
        waiter.join(timeout)
        timed_out = waiter.is_alive()
        if timed_out:
            os.killpg(proc.pid, signal.SIGKILL)
            waiter.join(30)
        else:  # leftover workers of the tool, if any
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        done.set()
        sampler.join()
        proc.returncode = -9  # reaped by os.wait4; keep Popen from waiting again
    wall = time.perf_counter() - t0
    _, status, rusage = result[0] if result else (0, -1, None)
    rc = os.waitstatus_to_exitcode(status) if result else -9
    res = {"wall_s": round(wall, 3), "exit_code": rc, "timed_out": timed_out,
           "peak_tree_rss_mb": round(peak[0] / 2**20, 1),
           "max_single_rss_mb": round(rusage.ru_maxrss / 1024, 1) if rusage else None,
           "cpu_s": round(rusage.ru_utime + rusage.ru_stime, 2) if rusage else None}
    if rc != 0 or timed_out:
        tail = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()][-8:]
        res["error_tail"] = tail
    return res


def _same_output(output: object, answer: str, fmt: str) -> bool:
    """The json variant is compared as JSON (tools escape non-ASCII differently)."""
    if fmt != "json" or not isinstance(output, str):
        return output == C.render_output(answer, fmt)
    try:
        return json.loads(output) == {"response": answer}
    except ValueError:
        return False


def count_delivered(src: list[dict], out: Path) -> dict:
    """Records whose json and text rows are both present and exactly right."""
    good: dict[int, set[str]] = {}
    rows = wrong = 0
    if out.exists():
        with open(out, encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                rows += 1
                i, fmt = r["source_row"], r["format"]
                ok = (0 <= i < len(src) and fmt in C.FORMATS
                      and r["instruction"] == C.render_instruction(src[i], fmt)
                      and _same_output(r["output"], C.expected_answer(src[i]), fmt))
                if ok:
                    good.setdefault(i, set()).add(fmt)
                else:
                    wrong += 1
    delivered = sum(1 for fmts in good.values() if len(fmts) == len(C.FORMATS))
    return {"rows_out": rows, "rows_wrong": wrong, "delivered": delivered, "lost": len(src) - delivered}


# ---------------------------------------------------------------------------- main


def edit_source(src: list[dict], every: int = 100) -> tuple[list[dict], list[int]]:
    """The source with every `every`-th record's instruction rewritten (1% at every=100), and
    the rows edited. Deterministic, and the new text changes the prompt, so each edited record
    needs exactly one new LLM call."""
    changed = list(range(0, len(src), every))
    edited = [dict(r) for r in src]
    for i in changed:
        edited[i]["instruction"] = f"Summarise item {i} in exactly three words (edited)."
    return edited, changed


def write_source(path: Path, src: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in src), encoding="utf-8")


def count_stale(src: list[dict], edited: list[dict], changed: list[int], out: Path) -> int:
    """Edited records that some output row still delivers from the old source: its old
    instruction, or the answer the old prompt gets (the server's answers are a deterministic
    function of the prompt, so the old answer is known)."""
    stale: set[int] = set()
    wanted = set(changed)
    if out.exists():
        with open(out, encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                i, fmt = r["source_row"], r["format"]
                if i not in wanted or fmt not in C.FORMATS:
                    continue
                old_answer = C.expected_answer(src[i])
                assert old_answer != C.expected_answer(edited[i])
                if (r["instruction"] == C.render_instruction(src[i], fmt)
                        or _same_output(r["output"], old_answer, fmt)):
                    stale.add(i)
    return len(stale)


def bench_tool(tool: str, py: Path, args: argparse.Namespace, tmp: Path, source: Path,
               src: list[dict]) -> dict:
    common = dict(concurrency=args.concurrency, max_retries=args.max_retries, timeout=args.run_timeout)
    res: dict = {}
    work = tmp / tool / "job"
    work.mkdir(parents=True)
    own_source = tmp / tool / "source.jsonl"   # edited in place by the edit run
    shutil.copyfile(source, own_source)
    edited, changed = edit_source(src)
    with ServerProcess(latency=args.latency, slots=args.slots) as srv:
        for run in ("cold", "warm", "edit"):
            if run == "edit":
                write_source(own_source, edited)
            before = srv.stats["requests"]
            print(f"[{tool}] {run} ...", flush=True)
            r = run_driver(py, tool, source=own_source, work=work, out=tmp / tool / f"{run}.jsonl",
                           base_url=srv.base_url, log=tmp / tool / f"{run}.log", **common)
            stats = srv.stats
            r["requests_sent"] = stats["requests"] - before
            if run == "cold":
                r["max_in_flight"] = stats["max_in_flight"]
            if run == "edit":
                r["requests_expected"] = len(changed)
                r["records_edited"] = len(changed)
                r["stale"] = count_stale(src, edited, changed, tmp / tool / "edit.jsonl")
                r.update(count_delivered(edited, tmp / tool / "edit.jsonl"))
            else:
                r.update(count_delivered(src, tmp / tool / f"{run}.jsonl"))
            res[run] = r
            print(f"[{tool}] {run}: {_brief(r)}", flush=True)
    flaky_work = tmp / tool / "flaky"
    flaky_work.mkdir()
    with ServerProcess(latency=args.latency, slots=args.slots, rate_429=args.fail_rate,
                       rate_500=args.fail_rate, retry_after=args.retry_after, seed=1) as srv:
        print(f"[{tool}] flaky ...", flush=True)
        r = run_driver(py, tool, source=source, work=flaky_work, out=tmp / tool / "flaky.jsonl",
                       base_url=srv.base_url, log=tmp / tool / "flaky.log", **common)
        stats = srv.stats
        r["requests_sent"] = stats["requests"]
        r["server_status_counts"] = {str(k): v for k, v in sorted(stats["by_status"].items(),
                                                                  key=lambda kv: int(kv[0]))}
        r.update(count_delivered(src, tmp / tool / "flaky.jsonl"))
        res["flaky"] = r
        print(f"[{tool}] flaky: {_brief(r)}", flush=True)
    return res


def _brief(r: dict) -> str:
    s = f"{r['wall_s']:.2f}s, {r['requests_sent']} req, peak {r['peak_tree_rss_mb']} MB, lost {r['lost']}"
    if "stale" in r:
        s += f", expected {r['requests_expected']} req, stale {r['stale']}, correct {r['delivered']}"
    if r["exit_code"] != 0:
        s += f", exit {r['exit_code']}" + (" (timed out)" if r["timed_out"] else "")
    return s


def _ratio(x: float | None, base: float | None, digits: int = 2) -> str:
    if x is None or not base:
        return ""
    return f" ({x / base:.{digits}f}x)"


def table(results: dict, physical: float) -> str:
    tools = results["tools"]
    base = tools.get("humc", {}).get("runs")
    head = ["tool", "cold s", "warm s", "warm req", "peak RSS MB", "flaky s", "lost (flaky)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for tool, t in tools.items():
        name = f"{tool} {t.get('version', '')}".strip()
        if "runs" not in t:
            lines.append(f"| {name} | " + " | ".join(["n/a"] * (len(head) - 1)) + " |")
            continue
        cold, warm, flaky = t["runs"]["cold"], t["runs"]["warm"], t["runs"]["flaky"]
        bc, bw, bf = (base["cold"], base["warm"], base["flaky"]) if base else ({}, {}, {})

        def cell(r: dict, b: dict, key: str, fmt: str, tool: str = tool) -> str:
            v = r.get(key)
            s = format(v, fmt) if v is not None else "?"
            if r["exit_code"] != 0:
                s += " (failed)"
            return s + ("" if tool == "humc" else _ratio(v, b.get(key)))

        cold_s = cell(cold, bc, "wall_s", ".2f")
        if tool == "humc":
            cold_s += f" ({cold['wall_s'] / physical:.2f}x physical)"
        lost = f"{flaky['lost']} / {results['n']}"
        if tool != "humc" and base:
            lost += f" (humc: {bf['lost']})"
        lines.append(f"| {name} | {cold_s} | {cell(warm, bw, 'wall_s', '.2f')} | {warm['requests_sent']} | "
                     f"{cell(cold, bc, 'peak_tree_rss_mb', '.0f')} | {cell(flaky, bf, 'wall_s', '.2f')} | {lost} |")
    return "\n".join(lines)


def edit_table(results: dict) -> str:
    """The edit run: is the rebuild incremental (requests sent / expected) and correct (no
    stale record, every record as a cold run on the edited source delivers it)?"""
    tools = results["tools"]
    base = tools.get("humc", {}).get("runs", {}).get("edit")
    head = ["tool", "edit s", "requests sent / expected", "stale records", "correct records"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for tool, t in tools.items():
        name = f"{tool} {t.get('version', '')}".strip()
        e = t.get("runs", {}).get("edit")
        if e is None:
            lines.append(f"| {name} | " + " | ".join(["n/a"] * (len(head) - 1)) + " |")
            continue
        wall = f"{e['wall_s']:.2f}" + (" (failed)" if e["exit_code"] != 0 else "")
        if tool != "humc" and base:
            wall += _ratio(e["wall_s"], base["wall_s"])
        lines.append(f"| {name} | {wall} | {e['requests_sent']} / {e['requests_expected']} | "
                     f"{e['stale']} / {e['records_edited']} | {e['delivered']} / {results['n']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--slots", type=int, default=64)
    ap.add_argument("--concurrency", type=int, default=None, help="requests in flight per tool (default: --slots)")
    ap.add_argument("--max-retries", type=int, default=8)
    ap.add_argument("--fail-rate", type=float, default=0.05, help="injected 429 rate and 500 rate (each)")
    ap.add_argument("--retry-after", default="1")
    ap.add_argument("--tools", default=",".join(PEERS), help=f"comma-separated, of: {', '.join(PEERS)}")
    ap.add_argument("--no-install", action="store_true", help="do not create or install the peers' venvs")
    ap.add_argument("--run-timeout", type=float, default=1200, help="seconds before a run is killed")
    ap.add_argument("--keep", action="store_true", help="keep the work folders and logs (printed)")
    ap.add_argument("--out", default=str(BENCH / "results" / "peers.json"))
    args = ap.parse_args(argv)
    args.concurrency = args.concurrency or args.slots
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = [t for t in tools if t not in PEERS]
    if unknown:
        ap.error(f"unknown tool(s): {', '.join(unknown)}")

    n = args.n
    physical = n * args.latency / args.slots
    src = [{"instruction": f"Summarise item {i} in one sentence.",
            "context": f"Item {i} is a sample record of the peers benchmark; its number is {i}."}
           for i in range(n)]
    results: dict = {
        "n": n, "latency_s": args.latency, "server_slots": args.slots, "concurrency": args.concurrency,
        "max_retries": args.max_retries, "physical_limit_s": round(physical, 4),
        "failures_injected": {"rate_429": args.fail_rate, "rate_500": args.fail_rate,
                              "retry_after": args.retry_after},
        "python": platform.python_version(), "platform": platform.platform(),
        "cpus": os.cpu_count(), "tools": {},
    }
    tmp = Path(tempfile.mkdtemp(prefix="bench_peers_"))
    try:
        source = tmp / "source.jsonl"
        write_source(source, src)
        for tool in tools:
            py, version, reason = ensure_venv(tool, install=not args.no_install)
            entry: dict = {"version": version} if version else {}
            entry.update(driver_info(tool))
            results["tools"][tool] = entry
            if py is None:
                entry["unavailable"] = reason
                print(f"[{tool}] unavailable: {reason}", flush=True)
                continue
            entry["runs"] = bench_tool(tool, py, args, tmp, source, src)
            if args.keep:
                entry["logs"] = str(tmp / tool)
            failed = [run for run, r in entry["runs"].items() if r["exit_code"] != 0]
            if failed:
                entry["failed_runs"] = {run: entry["runs"][run].get("error_tail", []) for run in failed}
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    base = results["tools"].get("humc", {}).get("runs")
    if base:
        results["humc_cold_ratio_to_physical"] = round(base["cold"]["wall_s"] / physical, 3)
        for tool, t in results["tools"].items():
            if "runs" in t and tool != "humc":
                t["ratio_to_humc"] = {
                    "cold_s": round(t["runs"]["cold"]["wall_s"] / base["cold"]["wall_s"], 3),
                    "warm_s": round(t["runs"]["warm"]["wall_s"] / base["warm"]["wall_s"], 3),
                    "edit_s": round(t["runs"]["edit"]["wall_s"] / base["edit"]["wall_s"], 3),
                    "peak_tree_rss": round(t["runs"]["cold"]["peak_tree_rss_mb"] / base["cold"]["peak_tree_rss_mb"], 3),
                    "flaky_s": round(t["runs"]["flaky"]["wall_s"] / base["flaky"]["wall_s"], 3),
                    "warm_requests_sent": [t["runs"]["warm"]["requests_sent"], base["warm"]["requests_sent"]],
                    "flaky_records_lost": [t["runs"]["flaky"]["lost"], base["flaky"]["lost"]],
                }

    print()
    print(f"N = {n}, latency {args.latency} s, {args.slots} slots, concurrency {args.concurrency}; "
          f"physical limit N x latency / slots = {physical:.3f} s")
    print(table(results, physical))
    print()
    print("Edit run: every 100th record's instruction edited in place, the tool's cache kept")
    print(edit_table(results))
    for tool, t in results["tools"].items():
        if "unavailable" in t:
            print(f"  {tool}: unavailable: {t['unavailable']}")
        for run, tail in t.get("failed_runs", {}).items():
            print(f"  {tool}: {run} run failed: {' | '.join(tail[-3:])}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
