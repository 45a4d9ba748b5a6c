"""`humc review --web`: the local review page (stdlib HTTP server) and its decisions."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("diskcache")
pytest.importorskip("openai")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from click.testing import CliRunner  # noqa: E402

from humc.assets.web import make_server  # noqa: E402
from humc.build.compiler import load_recipe  # noqa: E402
from humc.cli import main  # noqa: E402
from humc.recipe.lockfile import Lockfile, LockItem, load_lock, save_lock  # noqa: E402
from tests.helpers import REPO, copy_recipes  # noqa: E402


@pytest.fixture
def lock_setup(tmp_path):
    """recipes/ner.hum.yaml with a lockfile of proposals next to it."""
    root = copy_recipes(tmp_path)
    recipe_path = root / "ner.hum.yaml"
    recipe = load_recipe(recipe_path)
    entry = recipe.tasks[0]
    base = next(t for t in entry.templates if t.id == "en_1").text
    lock = Lockfile(root / "ner.hum.lock", "ner", [
        LockItem(id="tpl0000001", kind="template", entry=entry.id, origin="llm", model="m", recipe_model="writer (m)", base="en_1",
                 text="Kindly e" + base[1:]),
        LockItem(id="tpl0000002", kind="template", entry=entry.id, origin="llm", model="m", recipe_model="writer (m)", base="en_1",
                 text="Please <b>carefully</b> & e" + base[1:]),
        LockItem(id="gdl0000001", kind="guideline", entry=entry.id, origin="llm", model="m", recipe_model="writer (m)",
                 labels={"DATE": 'dates like "1996" <x>'}),
        LockItem(id="rul0000001", kind="rule", entry=entry.id, origin="llm", model="m", recipe_model="writer (m)",
                 text="Report each entity once.", then="dedupe"),
    ])
    save_lock(lock)
    return recipe_path, lock.path, recipe


@pytest.fixture
def web(lock_setup):
    _, lock_path, recipe = lock_setup
    server = make_server(lock_path, recipe, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, lock_path
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _get(url: str, **headers: str) -> tuple[int, str]:
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        with exc:  # an HTTPError holds the open response: close it (ResourceWarning otherwise)
            return exc.code, exc.read().decode("utf-8")


def _post(url: str, fields: dict[str, str]) -> tuple[int, str]:
    data = urllib.parse.urlencode(fields).encode("utf-8")
    req = urllib.request.Request(url + "decide", data=data, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:     # follows the 303 to the list page
            return resp.status, resp.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        with exc:  # an HTTPError holds the open response: close it (ResourceWarning otherwise)
            return exc.code, exc.read().decode("utf-8")


def _token(page: str) -> str:
    m = re.search(r'name="token" value="([^"]+)"', page)
    assert m, page
    return m.group(1)


def _state(lock_path: Path) -> dict[str, tuple[str, bool]]:
    return {i.id: (i.status, i.edited) for i in load_lock(lock_path).items}


def test_list_page_is_escaped_and_filters(web):
    server, _ = web
    status, page = _get(server.url)
    assert status == 200
    for id_ in ("tpl0000001", "tpl0000002", "gdl0000001", "rul0000001"):
        assert f'id="item-{id_}"' in page
    assert "4 item(s): 4 proposed, 0 accepted, 0 rejected" in page
    assert "Please &lt;b&gt;carefully&lt;/b&gt; &amp; e" in page and "<b>carefully</b>" not in page
    assert "dates like &quot;1996&quot; &lt;x&gt;" in page
    assert '<span class="add">+ Kindly extract' in page               # line diff against en_1
    assert '<span class="del">- Extract' in page
    _, rules = _get(server.url + "?kind=rule")
    assert 'id="item-rul0000001"' in rules and 'id="item-tpl0000001"' not in rules
    _, none = _get(server.url + "?status=accepted")
    assert "No item matches the filter." in none
    assert _get(server.url + "nope")[0] == 404
    assert _get(server.url, Host="evil.example:80")[0] == 403           # DNS rebinding


def test_decisions_are_saved_at_once(web):
    server, lock_path = web
    token = _token(_get(server.url)[1])
    url = server.url

    status, page = _post(url, {"token": token, "id": "tpl0000001", "action": "accept"})
    assert status == 200 and "template tpl0000001 accepted" in page
    assert _state(lock_path)["tpl0000001"] == ("accepted", False)

    status, page = _post(url, {"token": token, "id": "tpl0000002", "action": "reject", "status": "proposed"})
    assert status == 200 and 'id="item-tpl0000002"' not in page          # the filter is kept
    assert _state(lock_path)["tpl0000002"] == ("rejected", False)

    # an invalid edit: the error is shown, the text kept, the lockfile unchanged
    before = lock_path.read_bytes()
    bad = "text: Reverse <them>.\nthen: reverse_rows\n"
    status, page = _post(url, {"token": token, "id": "rul0000001", "action": "edit", "text": bad})
    assert status == 422
    assert "invalid edit: the edited rule is invalid: unknown answer operation" in page
    assert "text: Reverse &lt;them&gt;.\nthen: reverse_rows" in page and "<details open>" in page
    assert lock_path.read_bytes() == before
    bad_tpl = "Read this. {{ labels }}\r\n"                               # drops placeholders
    status, page = _post(url, {"token": token, "id": "tpl0000001", "action": "edit", "text": bad_tpl})
    assert status == 422 and "changes the template variables" in page
    assert lock_path.read_bytes() == before

    # a valid edit (CRLF from a browser's textarea) is saved as accepted + edited
    good = "text: Report each entity once, sorted.\r\nwhen: ''\r\nthen: dedupe | sort_by_position(\"span\")\r\n"
    status, page = _post(url, {"token": token, "id": "rul0000001", "action": "edit", "text": good})
    assert status == 200 and "rule rul0000001 edited and accepted" in page
    rule = load_lock(lock_path).get("rul0000001")
    assert (rule.status, rule.edited, rule.text, rule.when, rule.then) == (
        "accepted", True, "Report each entity once, sorted.", None, 'dedupe | sort_by_position("span")')
    status, page = _post(url, {"token": token, "id": "gdl0000001", "action": "edit",
                               "text": "labels:\n  DATE: calendar dates only\n"})
    assert status == 200
    assert load_lock(lock_path).get("gdl0000001").labels == {"DATE": "calendar dates only"}
    assert _state(lock_path) == {"tpl0000001": ("accepted", False), "tpl0000002": ("rejected", False),
                                 "gdl0000001": ("accepted", True), "rul0000001": ("accepted", True)}
    assert not list(lock_path.parent.glob(".*.tmp"))


def test_refuses_forged_and_non_post_requests(web):
    server, lock_path = web
    before = lock_path.read_bytes()
    token = _token(_get(server.url)[1])
    assert _post(server.url, {"id": "tpl0000001", "action": "accept"})[0] == 403
    assert _post(server.url, {"token": "x" + token, "id": "tpl0000001", "action": "accept"})[0] == 403
    assert _get(server.url + "decide?token=" + token + "&id=tpl0000001&action=accept")[0] == 405
    req = urllib.request.Request(server.url + "decide", method="POST", headers={"Origin": "http://evil.example"},
                                 data=urllib.parse.urlencode({"token": token, "id": "tpl0000001",
                                                              "action": "accept"}).encode())
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=5)
    info.value.close()
    assert info.value.code == 403
    assert _post(server.url, {"token": token, "id": "nope", "action": "accept"})[0] == 404
    assert _post(server.url, {"token": token, "id": "tpl0000001", "action": "delete"})[0] == 400
    assert lock_path.read_bytes() == before
    assert server.server_address[0] == "127.0.0.1"


def test_cli_options(lock_setup):
    recipe_path, _, _ = lock_setup
    res = CliRunner().invoke(main, ["review", str(recipe_path), "--web", "--list"])
    assert res.exit_code == 2 and "--web excludes" in res.output
    res = CliRunner().invoke(main, ["review", str(recipe_path), "--port", "8000"])
    assert res.exit_code == 2 and "need --web" in res.output


@pytest.mark.skipif(os.name != "posix", reason="SIGINT to a child process")
def test_cli_serves_until_ctrl_c(lock_setup):
    recipe_path, lock_path, _ = lock_setup
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "humc", "review", str(recipe_path), "--web", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            # a shell running us in the background ignores SIGINT in its children: undo that
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        line = proc.stdout.readline()
        m = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
        assert m, line + proc.stderr.read()
        token = _token(_get(m.group(1))[1])
        assert _post(m.group(1), {"token": token, "id": "tpl0000002", "action": "reject"})[0] == 200
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)  # generous: CI machines may be loaded
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "review saved" in out
    assert "1 decision(s) this session; 3 proposed, 0 accepted, 1 rejected" in out
    assert _state(lock_path)["tpl0000002"] == ("rejected", False)
