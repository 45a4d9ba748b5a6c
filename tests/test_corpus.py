"""The bad-input corpus: tests/corpus/bad/<category>/<case>/ (recipe.hum.yaml, data files, expect.yaml).

Each case runs in a fresh copy of its folder (the working directory of the run) and must end
the way its expect.yaml says — by default a located compiler-style error and exit code 2 — and,
whatever humc does, it must never: print a traceback or "internal error", hang, leave output
behind after a failure, delete or modify the user's files, touch anything outside its folder,
execute code (the file PWNED must not appear) or write a secret named in `not_written`.

expect.yaml keys:
  args:        [SUBCOMMAND, options...]; the recipe path (recipe.hum.yaml) is added after the
               subcommand; with no options listed, build/plan get `--out out --cache cache` (build: -q)
  exit:        the expected exit code (2 for bad input)
  where:       FILE:LINE[:COL] that must appear in the output (FILE relative to the case folder)
  contains:    substrings that must appear in the output (case-insensitive)
  not_written: strings that must not appear in any file humc created or changed
  absent_from_output: strings that must not appear in any record of the written Parquet files
               nor in a written README.md (a dropped problem record); at least one Parquet
               file must have been written
  setup:       generated content, to keep the committed case tiny:
               {file, replace, with, times} or {file, append, times}
  why:         what is wrong and what a user should see

Cases listed in tests/corpus/KNOWN_FAILURES.txt are humc bugs that are not fixed yet: they are
strict xfails, so a fix makes them XPASS (a failure) until the line is removed from the list.

Every case runs in a forked child with a memory limit and a hard timeout, so an alias bomb or
an endless loop fails its own test instead of eating the machine or hanging the suite.
"""

from __future__ import annotations

import json
import os
import re
import resource
import select
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import pytest
import yaml

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus" / "bad"
KNOWN_FAILURES = HERE / "corpus" / "KNOWN_FAILURES.txt"
REPO = HERE.parent
TIMEOUT = 20.0  # seconds per case
MEMORY_LIMIT = 4 << 30  # bytes of address space for the child running humc
WATCHED_REPO_DIRS = ("recipes", "stdlib", "grammar", "tests/corpus")


def discover() -> list[Path]:
    return sorted(p.parent for p in CORPUS.glob("*/*/expect.yaml"))


def case_id(folder: Path) -> str:
    return f"{folder.parent.name}/{folder.name}"


def known_failures() -> dict[str, str]:
    out: dict[str, str] = {}
    if KNOWN_FAILURES.exists():
        for line in KNOWN_FAILURES.read_text(encoding="utf-8").splitlines():
            entry, _, reason = line.partition("#")
            if entry.strip():
                out[entry.strip()] = reason.strip() or "known failure"
    return out


def _params() -> list[Any]:
    known = known_failures()
    params = []
    for folder in discover():
        cid = case_id(folder)
        marks = [pytest.mark.xfail(strict=True, reason=known[cid])] if cid in known else []
        params.append(pytest.param(folder, id=cid, marks=marks))
    return params


def test_known_failures_name_existing_cases():
    ids = {case_id(f) for f in discover()}
    assert len(ids) >= 130
    stale = sorted(set(known_failures()) - ids)
    assert not stale, f"KNOWN_FAILURES.txt names cases that do not exist: {stale}"


# ------------------------------------------------------------------ running humc in isolation


def run_isolated(args: list[str], cwd: Path, timeout: float = TIMEOUT) -> tuple[int | str, str]:
    """Run the CLI (helpers.run_cli) in a forked child: (exit code or "timeout"/"crash", output)."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns
        status = 0
        try:
            os.close(rfd)
            os.setsid()
            resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
            sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
            from helpers import run_cli

            try:
                result = run_cli(*args, cwd=cwd)
                payload = {"exit": result.exit_code, "output": result.output}
            except BaseException:  # an exception escaping the CLI wrapper
                payload = {"exit": "exception", "output": traceback.format_exc()}
            data = json.dumps(payload).encode()
            view = memoryview(data)
            while view:
                view = view[os.write(wfd, view):]
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(wfd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    timed_out = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([rfd], [], [], left)
            if ready:
                block = os.read(rfd, 1 << 16)
                if not block:
                    break
                chunks.append(block)
    finally:
        os.close(rfd)
        if timed_out:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        os.waitpid(pid, 0)
    if timed_out:
        return "timeout", f"humc did not finish within {timeout:.0f}s"
    try:
        payload = json.loads(b"".join(chunks).decode())
    except ValueError:
        return "crash", "the child running humc died without a result (memory limit or a signal)"
    return payload["exit"], payload["output"]


def command_line(expect: dict[str, Any]) -> list[str]:
    """SUBCOMMAND recipe.hum.yaml [options]: options as listed in expect.yaml, or, when none are
    listed, `--out out --cache cache` for build/plan (and -q for build)."""
    args = [str(a) for a in expect.get("args", ["build"])]
    sub, rest = args[0], args[1:]
    if not rest and sub in ("build", "plan"):
        rest = ["--out", "out", "--cache", "cache"] + (["-q"] if sub == "build" else [])
    return [sub, "recipe.hum.yaml", *rest]


def apply_setup(folder: Path, steps: list[dict[str, Any]]) -> None:
    for step in steps:
        path = folder / step["file"]
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        times = int(step.get("times", 1))
        if "replace" in step:
            text = text.replace(step["replace"], step["with"] * times, 1)
        if "append" in step:
            text += step["append"] * times
        path.write_text(text, encoding="utf-8")


# ------------------------------------------------------------------ snapshots


def snapshot(root: Path) -> dict[str, tuple[str, int, int]]:
    """Every file and folder under root: kind, size, content hash (files)."""
    out: dict[str, tuple[str, int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        for d in dirnames:
            out[str((base / d).relative_to(root))] = ("dir", 0, 0)
        for f in filenames:
            p = base / f
            try:
                data = p.read_bytes()
            except OSError:
                data = b"<unreadable>"
            out[str(p.relative_to(root))] = ("file", len(data), hash(data))
    return out


def repo_state() -> dict[str, tuple[int, int]]:
    out = {}
    for sub in WATCHED_REPO_DIRS:
        for p in (REPO / sub).rglob("*"):
            if p.is_file():
                st = p.stat()
                out[str(p.relative_to(REPO))] = (st.st_size, st.st_mtime_ns)
    return out


def find_pwned(*roots: Path) -> list[str]:
    hits = []
    for root in roots:
        if (root / "PWNED").exists():
            hits.append(str(root / "PWNED"))
    for root in roots[:1]:
        hits += [str(p) for p in root.rglob("PWNED")]
    return sorted(set(hits))


def absent_problems(root: Path, changed: list[str], absent: list[str]) -> list[str]:
    """`absent_from_output`: none of the strings in a written record (Parquet, read back) or card."""
    if not absent:
        return []
    import pyarrow.parquet as pq

    found, shards = [], 0
    for rel in changed:
        path = root / rel
        if path.suffix == ".parquet":
            shards += 1
            text = json.dumps(pq.read_table(path).to_pylist(), ensure_ascii=False, default=str)
        elif path.name == "README.md":
            text = path.read_text(encoding="utf-8")
        else:
            continue
        found += [f"{s!r} written to {rel}" for s in absent if s in text]
    return found + ([] if shards else ["absent_from_output: no Parquet file was written"])


# ------------------------------------------------------------------ the test


@pytest.mark.parametrize("folder", _params())
def test_bad_input_case(folder: Path, tmp_path: Path):
    problems, shown = check_case(folder, tmp_path)
    assert not problems, "\n".join(problems) + "\n\n" + shown


def check_case(folder: Path, tmp_path: Path) -> tuple[list[str], str]:
    """Run one case; (what went wrong, the command and its output)."""
    expect = yaml.safe_load((folder / "expect.yaml").read_text(encoding="utf-8"))
    sandbox = tmp_path / "a" / "b" / "c"  # room for cases that climb out with ../../..
    work = sandbox / "case"
    shutil.copytree(folder, work, ignore=shutil.ignore_patterns("expect.yaml"))
    apply_setup(work, expect.get("setup", []))
    before = snapshot(tmp_path)
    repo_before = repo_state()
    args = command_line(expect)

    code, output = run_isolated(args, work)
    time.sleep(0.05)  # let any stray child process (a sandbox escape) finish writing
    after = snapshot(tmp_path)
    shown = f"humc {' '.join(args)} -> exit {code}\n{output[:3000]}"

    problems: list[str] = []
    if code != expect["exit"]:
        problems.append(f"exit code {code}, expected {expect['exit']}")
    for bad in ("Traceback", "internal error"):
        if bad in output:
            problems.append(f"output contains {bad!r}")
    where = str(expect.get("where") or "")
    if where and not re.search(re.escape(where) + (r"(?!\d)" if where[-1].isdigit() else ""), output):
        problems.append(f"location {where!r} not in the output")
    low = output.lower()
    for text in expect.get("contains", []):
        if str(text).lower() not in low:
            problems.append(f"{text!r} not in the output")

    case_prefix = str(work.relative_to(tmp_path))
    may_change = [f"{case_prefix}/cache", f"{case_prefix}/.humc"]
    changed = []
    for rel, state in before.items():
        if rel not in after:
            problems.append(f"deleted: {rel}")
        elif after[rel] != state and not any(rel == m or rel.startswith(m + "/") for m in may_change):
            problems.append(f"modified: {rel}")
    for rel in after:
        if rel in before:
            if after[rel] != before[rel]:
                changed.append(rel)
            continue
        changed.append(rel)
        if any(rel == m or rel.startswith(m + "/") for m in may_change):
            continue
        inside_case = rel == case_prefix or rel.startswith(case_prefix + "/")
        if not inside_case:
            problems.append(f"created outside the case folder: {rel}")
        elif code != 0:
            problems.append(f"created although the run failed: {rel}")
    if repo_state() != repo_before:
        problems.append("files in the repository (recipes/, stdlib/, grammar/, tests/corpus/) changed")
    pwned = find_pwned(tmp_path, REPO, Path.cwd())
    if pwned:
        problems.append(f"code was executed: {pwned}")
    problems += absent_problems(tmp_path, changed, expect.get("absent_from_output", []))
    for secret in expect.get("not_written", []):
        for rel in changed:
            p = tmp_path / rel
            if p.is_file() and secret.encode() in p.read_bytes():
                problems.append(f"secret written to {rel}")
    return problems, shown
