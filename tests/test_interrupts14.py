"""A randomized kill sweep (SIGKILL, SIGINT, SIGTERM at random delays and at every write point of a build, an LLM
build and a push) found these; each is reproduced here at a chosen point (a server that blocks, a hook on the step
before it), never after a random sleep."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import REPO, run_cli, tree_bytes, write_ner_workload  # noqa: E402
from llmserver import LLMServer  # noqa: E402
from test_concurrency import TIMEOUT, Humc  # noqa: E402
from test_llm_build import responder, write_recipe  # noqa: E402

from humc.build.compiler import load_recipe  # noqa: E402
from humc.cachedb import CacheDB  # noqa: E402
from humc.llm.client import CACHE_VERSION, LLMRequest, cache_key  # noqa: E402


class Blocking:
    """A responder that holds its ``at``-th answer (the whole server with it) until ``release`` is set."""

    def __init__(self, at: int) -> None:
        self.at, self.answered = at, 0
        self.arrived, self.release = threading.Event(), threading.Event()

    def __call__(self, body: dict) -> str:
        if self.answered == self.at:
            self.arrived.set()
            self.release.wait(TIMEOUT)
        self.answered += 1
        return responder(body)


def _answer_keys(cache: Path) -> set[str]:
    """The keys of the answers the LLM cache holds (not the structured-output probe's)."""
    with CacheDB(cache / "llm") as db:
        return {key.split(":", 1)[1] for key in db.keys() if key.startswith(f"{CACHE_VERSION}:")}


def _sent_keys(srv: LLMServer, recipe: Path) -> set[str]:
    """The cache keys of the chat requests the server received."""
    model = load_recipe(recipe).models["writer"]
    return {cache_key(model, LLMRequest(messages=q.json["messages"], response_format=q.json.get("response_format")))
            for q in srv.received if q.path.endswith("/chat/completions")}


def test_an_llm_build_killed_with_answers_in_flight_resumes_asking_nothing_it_had_and_writes_the_same_card(
        tmp_path: Path) -> None:
    """The card's `calls` counted every attempt (a 429 or a 500 retried was two calls), so a build resumed after a
    kill -9, which met other failures than an uninterrupted one, wrote another README.md and build.json."""
    blocking = Blocking(at=10)
    with LLMServer(responder=blocking, fail_sequence=[0, 429, 500, 0, 429, 0, 0, 500], retry_after="0") as srv:
        recipe = write_recipe(tmp_path, srv.base_url)
        out, cache = tmp_path / "out", tmp_path / "cache"
        killed = Humc("build", recipe, "--out", out, "--cache", cache)
        assert blocking.arrived.wait(TIMEOUT), killed.stderr
        os.kill(killed.pid, signal.SIGKILL)
        assert killed.finish() == -signal.SIGKILL
        blocking.release.set()
        assert not (out / "llm-demo").exists()
        cached = _answer_keys(cache)
        srv.reset_stats()  # the failures come again, at the resumed build's first requests
        resumed = run_cli("build", str(recipe), "--out", str(out), "--cache", str(cache))
        assert resumed.exit_code == 0, resumed.output
        assert cached and not _sent_keys(srv, recipe) & cached  # no answer it had was asked for again
        srv.reset_stats()
        srv.fail_sequence = []
        reference = run_cli("build", str(recipe), "--out", str(tmp_path / "ref"), "--cache", str(tmp_path / "rc"))
        assert reference.exit_code == 0, reference.output
        assert cached <= _sent_keys(srv, recipe)  # the keys are those of requests a build sends
    assert "0 retry(ies)" in reference.output and "0 retry(ies)" not in resumed.output
    assert tree_bytes(out / "llm-demo") == tree_bytes(tmp_path / "ref" / "llm-demo")
    assert json.loads((out / "llm-demo" / "build.json").read_text())["counts"] == {"train": 10}


KILLED_MID_WRITE = """
import os, random, signal, sys
from pathlib import Path

import pytest
import diskcache.core
from humc.cachedb import CacheDB

store = diskcache.core.Disk.store

def store_then_die(self, *args, **kwargs):  # the value's file is written; its row is not committed yet
    store(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)

diskcache.core.Disk.store = store_then_die
with CacheDB(Path(sys.argv[1]), compress=True) as db:
    db.set("chunk/lost", random.Random(0).randbytes(100_000))  # incompressible: stored in a value file of its own
"""


def test_cache_gc_removes_the_value_file_a_write_killed_before_its_row_was_committed_left(tmp_path: Path) -> None:
    """diskcache writes a large value's file, then commits its row: a build killed with -9 between the two left a
    file no entry names, which nothing read and, before, `humc cache gc` never removed (a render chunk each)."""
    recipe = write_ner_workload(tmp_path, 3000)
    cache = tmp_path / "cache"
    assert run_cli("build", str(recipe), "-q", "--out", str(tmp_path / "out"), "--cache", str(cache)).exit_code == 0
    listed = sorted(cache.glob("??/??/*.val"))
    killed = subprocess.run([sys.executable, "-c", KILLED_MID_WRITE, str(cache)], timeout=TIMEOUT,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert killed.returncode == -signal.SIGKILL and len(list(cache.glob("??/??/*.val"))) == len(listed) + 1
    result = run_cli("cache", "gc", str(recipe), "--cache", str(cache))
    assert result.exit_code == 0 and "removed 0 stale node(s)" in result.output, result.output
    assert sorted(cache.glob("??/??/*.val")) == listed
    again = run_cli("build", str(recipe), "--out", str(tmp_path / "out"), "--cache", str(cache))
    assert again.exit_code == 0 and "9/9 node(s) from cache" in again.output, again.output


KILLED_AFTER_THE_SWAP = """
import os, signal, sys
import humc.dataset.writer as writer
from humc.__main__ import run

exchange = writer._exchange

def exchange_then_die(a, b):  # the new build is in place; the previous one, in `.big.tmp-<pid>`, is not removed yet
    exchange(a, b)
    os.kill(os.getpid(), signal.SIGKILL)

writer._exchange = exchange_then_die
sys.argv = ["humc", *sys.argv[1:]]
run()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="renameat2 RENAME_EXCHANGE: Linux only")
def test_the_previous_build_a_swap_killed_with_9_left_is_removed_by_the_next_build(tmp_path: Path) -> None:
    """The next build found the new dataset folder current and returned before removing stale siblings: the previous
    build (every shard of it) stayed in a hidden `.big.tmp-<pid>` until the recipe changed."""
    recipe = write_ner_workload(tmp_path, 300, shard_rows=100)
    out, cache = tmp_path / "out", tmp_path / "cache"
    assert run_cli("build", str(recipe), "-q", "--out", str(out), "--cache", str(cache)).exit_code == 0
    recipe.write_text(recipe.read_text().replace("shard_rows: 100", "shard_rows: 150"))  # only the write runs again
    killed = subprocess.run([sys.executable, "-c", KILLED_AFTER_THE_SWAP, "build", str(recipe), "-q", "--out", str(out),
                             "--cache", str(cache)], timeout=TIMEOUT, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert killed.returncode == -signal.SIGKILL
    assert [(p.name.startswith(".big.tmp-"), (p / "build.json").is_file()) for p in out.iterdir() if p.name != "big"
            and p.name != ".big.lock"] == [(True, True)]  # the previous build, whole
    again = run_cli("build", str(recipe), "-q", "--out", str(out), "--cache", str(cache))
    assert again.exit_code == 0, again.output
    assert sorted(p.name for p in out.iterdir()) == ["big"]
    assert run_cli("build", str(recipe), "-q", "--out", str(tmp_path / "ref"), "--cache", str(tmp_path / "rc")).exit_code == 0
    assert tree_bytes(out / "big") == tree_bytes(tmp_path / "ref" / "big")
