"""Hub dataset sources (`dataset: {name: ORG/NAME}`), read by the real `datasets` and `huggingface_hub` clients
from the Hub-compatible loopback server (tests/hubserver.py), with humc run as a real process.

A build pins the revision to the commit it names when it plans (not when the recipe is loaded): a new commit is read again, an
unchanged one is a cache hit, and an unreachable Hub fails at once, at the recipe's `dataset:` node."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from hubserver import HubHTTPServer  # noqa: E402

from humc import __version__  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TOKEN = "hf_test_token_0123456789"
TOPICS = ["World", "Sports", "Business", "Sci/Tech"]
RECIPE = """hum: 1
name: news
sources:
  news:
    dataset: {{name: {name}, split: train{extra}}}
tasks:
  - id: news
    source: news
    task: classification
    fields: {{text: text, label: label}}
    labels: [World, Sports, Business, Sci/Tech]
    formats: [json]
output:
  splits: {{train: 1.0}}
"""


def ag_news_rows(start: int, n: int) -> bytes:
    """Rows of the real AG News sample (tests/data/ag_news), as a Hub upload's JSON Lines: text and label name."""
    with open(REPO / "tests/data/ag_news/train.head80.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))[start:start + n]
    return "".join(json.dumps({"text": f"{title}. {body}", "label": TOPICS[int(label) - 1]}) + "\n"
                   for label, title, body in rows).encode()


@pytest.fixture
def hub() -> Iterator[HubHTTPServer]:
    with HubHTTPServer(TOKEN) as srv:
        yield srv


def humc(tmp: Path, *args: object, endpoint: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PYTHONPATH": str(REPO), "HF_ENDPOINT": endpoint, "HF_TOKEN": TOKEN,
               "HF_HUB_DISABLE_XET": "1", "HF_HOME": str(tmp / "hf"), "HF_HUB_OFFLINE": "0", **env}
    return subprocess.run([sys.executable, "-m", "humc", *map(str, args)], capture_output=True, text=True,
                          env=environ, timeout=120)


def write_recipe(tmp: Path, name: str = "org/news", extra: str = "") -> Path:
    recipe = tmp / "news.hum.yaml"
    recipe.write_text(RECIPE.format(name=name, extra=extra), encoding="utf-8")
    return recipe


def built_texts(out: Path) -> list[str]:
    table = pq.read_table(sorted((out / "news" / "data").glob("train-*.parquet")))
    return [instruction for instruction in table.column("instruction").to_pylist()]


def test_a_hub_dataset_is_read_at_its_commit_and_read_again_only_when_a_new_commit_moves_main(
        hub: HubHTTPServer, tmp_path: Path) -> None:
    first = hub.state.put("org/news", {"data/train.jsonl": ag_news_rows(0, 12)})
    recipe, out = write_recipe(tmp_path), tmp_path / "out"

    plan = humc(tmp_path, "plan", recipe, "--out", out, endpoint=hub.url)
    assert plan.returncode == 0, plan.stderr
    assert f"source news: Hub dataset org/news at commit {first.oid}" in plan.stdout

    build = humc(tmp_path, "build", recipe, "--out", out, endpoint=hub.url)
    assert build.returncode == 0, build.stderr
    texts = built_texts(out)
    assert len(texts) == 12 and any("Wall St. Bears Claw Back Into the Black" in t for t in texts)
    card = (out / "news" / "README.md").read_text(encoding="utf-8")
    assert f"- humc version: `{__version__}`\n- source `news`: Hub dataset `org/news` at commit `{first.oid}`, " \
        "split `train`\n\nThe recipe" in card

    offline = humc(tmp_path, "export", recipe, tmp_path / "alpaca", "--to", "alpaca", "--out", out,
                   endpoint=hub.url, HF_HUB_OFFLINE="1")  # reads the built folder, not the source: no Hub asked
    assert offline.returncode == 0 and len(json.loads((tmp_path / "alpaca" / "train.json").read_text())) == 12
    pushed = humc(tmp_path, "push", recipe, "--repo", "org/news-instructions", "--out", out, endpoint=hub.url)
    assert pushed.returncode == 0 and "published" in pushed.stdout, pushed.stderr  # the build is current
    assert any(p.startswith("data/train-") for p in hub.state.files("org/news-instructions"))

    again = humc(tmp_path, "build", recipe, "--out", out, endpoint=hub.url)
    assert again.returncode == 0 and "9/9 node(s) from cache" in again.stderr, again.stderr

    hub.state.put("org/news", {"data/train.jsonl": ag_news_rows(12, 5)}, title="new rows")
    moved = humc(tmp_path, "build", recipe, "--out", out, endpoint=hub.url)
    assert moved.returncode == 0 and "0/9 node(s) from cache" in moved.stderr, moved.stderr
    texts = built_texts(out)
    assert len(texts) == 5 and not any("Wall St. Bears Claw Back Into the Black" in t for t in texts)


def test_a_hub_dataset_decontaminated_against_is_pinned_and_named_in_the_provenance(hub: HubHTTPServer,
                                                                                   tmp_path: Path) -> None:
    hub.state.put("org/news", {"data/train.jsonl": ag_news_rows(0, 12)})
    held = hub.state.put("org/heldout", {"data/train.jsonl": ag_news_rows(0, 2)})  # two of the twelve
    recipe, out = write_recipe(tmp_path), tmp_path / "out"
    recipe.write_text(recipe.read_text() + "  decontaminate: {against: {dataset: {name: org/heldout, split: train}}}\n",
                      encoding="utf-8")
    plan = humc(tmp_path, "plan", recipe, "--out", out, endpoint=hub.url)
    assert plan.returncode == 0 and f"source eval#1: Hub dataset org/heldout at commit {held.oid}" in plan.stdout, \
        plan.stderr
    build = humc(tmp_path, "build", recipe, "--out", out, endpoint=hub.url)
    assert build.returncode == 0, build.stderr
    texts = built_texts(out)
    assert len(texts) <= 10 and not any("Wall St. Bears Claw Back Into the Black" in t for t in texts)  # held out
    card = (out / "news" / "README.md").read_text(encoding="utf-8")
    assert f"- source `eval#1`: Hub dataset `org/heldout` at commit `{held.oid}`, split `train`" in card


def test_a_revision_names_the_commit_read_even_after_main_moves(hub: HubHTTPServer, tmp_path: Path) -> None:
    first = hub.state.put("org/news", {"data/train.jsonl": ag_news_rows(0, 7)})
    hub.state.put("org/news", {"data/train.jsonl": ag_news_rows(7, 3)})
    recipe, out = write_recipe(tmp_path, extra=f", revision: {first.oid}"), tmp_path / "out"
    build = humc(tmp_path, "build", recipe, "--out", out, endpoint=hub.url)
    assert build.returncode == 0, build.stderr
    assert len(built_texts(out)) == 7


def located(result: subprocess.CompletedProcess[str], recipe: Path) -> str:
    """The diagnostic of a failed command that wrote nothing: its first line, which must name the `dataset:` node."""
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert not (recipe.parent / "out").exists()
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"{recipe}:5:14: error[E4001]: source 'news': "), result.stderr
    return result.stderr


def test_an_unreachable_hub_fails_at_once_at_the_dataset_node_with_what_to_do(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path)
    closed = HubHTTPServer(TOKEN).start()
    closed.stop()  # a port nothing listens on
    started = time.monotonic()
    text = located(humc(tmp_path, "build", recipe, "--out", tmp_path / "out", endpoint=closed.url), recipe)
    assert time.monotonic() - started < 20  # no half minute of retries
    assert "Hub dataset 'org/news' cannot be read: cannot reach" in text
    assert "hf download org/news --repo-type dataset --local-dir data/news" in text


class _NotAHub(BaseHTTPRequestHandler):
    """What a captive portal or a wrong HF_ENDPOINT answers: 200 with an HTML page."""

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        body = b"<html><body>Please log in to the network</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_an_endpoint_that_answers_no_hubs_json_is_an_error_at_the_dataset_node_not_a_crash(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotAHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        recipe = write_recipe(tmp_path)
        text = located(humc(tmp_path, "build", recipe, "--out", tmp_path / "out",
                            endpoint=f"http://127.0.0.1:{server.server_port}"), recipe)
    finally:
        server.shutdown()
        server.server_close()
    assert f"asking http://127.0.0.1:{server.server_port} for dataset 'org/news' failed" in text
    assert "check HF_ENDPOINT" in text


def test_offline_mode_is_refused_without_asking_the_hub(hub: HubHTTPServer, tmp_path: Path) -> None:
    hub.state.put("org/news", {"data/train.jsonl": ag_news_rows(0, 3)})
    recipe = write_recipe(tmp_path)
    text = located(humc(tmp_path, "build", recipe, "--out", tmp_path / "out", endpoint=hub.url,
                        HF_HUB_OFFLINE="1"), recipe)
    assert "HF_HUB_OFFLINE is set" in text and "`dataset: {name: data/news}`" in text


@pytest.mark.parametrize(("name", "extra", "says"), [
    ("org/missing", "", "no dataset 'org/missing' on the Hub"),
    ("org/news", ", revision: v9", "dataset 'org/news' has no revision 'v9'"),
])
def test_a_missing_dataset_or_revision_is_named_at_the_dataset_node(
        hub: HubHTTPServer, tmp_path: Path, name: str, extra: str, says: str) -> None:
    hub.state.put("org/news", {"data/train.jsonl": ag_news_rows(0, 3)})
    recipe = write_recipe(tmp_path, name, extra)
    assert says in located(humc(tmp_path, "check", recipe, endpoint=hub.url), recipe)


def test_a_split_the_dataset_lacks_is_named_at_the_dataset_node(hub: HubHTTPServer, tmp_path: Path) -> None:
    hub.state.put("org/news", {"data/train.jsonl": ag_news_rows(0, 3)})
    recipe = write_recipe(tmp_path)
    recipe.write_text(recipe.read_text().replace("split: train", "split: validation"), encoding="utf-8")
    text = located(humc(tmp_path, "build", recipe, "--out", tmp_path / "out", endpoint=hub.url), recipe)
    assert "cannot load dataset 'org/news'" in text and "validation" in text


@pytest.mark.parametrize("name", ["data/news", "./news", "../elsewhere/news", "corpora/en/news"])
def test_a_missing_local_folder_is_named_as_one_without_asking_the_hub(tmp_path: Path, name: str) -> None:
    (tmp_path / "data").mkdir()
    recipe = write_recipe(tmp_path, name)
    result = humc(tmp_path, "check", recipe, endpoint="http://127.0.0.1:9")  # no Hub there: never asked
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"{recipe}:5:21: error[E0009]: source 'news': dataset folder {name} not found")


def test_a_damaged_parquet_part_on_the_hub_is_named_with_what_to_do(hub: HubHTTPServer, tmp_path: Path) -> None:
    """`datasets` streams the parts and fails with 'ArrowInvalid: … magic bytes' only; the part is named (from the
    client's log), and the hint is to read again or pin a revision whose copy is whole, not the schema hint."""
    import io

    import pyarrow as pa

    rows = [json.loads(line) for line in ag_news_rows(0, 20).decode().splitlines()]
    parts = []
    for part in (rows[:10], rows[10:]):
        sink = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(part), sink)
        parts.append(sink.getvalue())
    hub.state.put("org/news", {"data/train-00000-of-00002.parquet": parts[0],
                               "data/train-00001-of-00002.parquet": parts[1][:len(parts[1]) // 2]})  # an upload cut short
    recipe = write_recipe(tmp_path)
    result = humc(tmp_path, "build", recipe, "--out", tmp_path / "out", endpoint=hub.url)
    text = located(result, recipe)
    assert "reading dataset 'org/news' failed after 10 record(s): its file data/train-00001-of-00002.parquet is not " \
           "a readable Parquet file (ArrowInvalid: " in text
    assert "expected: complete Parquet files" in text and "pin `revision:` under `dataset:`" in text
    assert "schema" not in text
    assert "Failed to read file" not in text   # the client's own log line: the diagnostic names the file instead
