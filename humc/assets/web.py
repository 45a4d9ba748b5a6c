"""`humc review RECIPE --web`: review the lockfile's proposals in a small local web page.

A stdlib ``ThreadingHTTPServer`` bound to 127.0.0.1 only. The page lists the items
(filtered by status / kind), shows each proposal beside its base template (a line diff
for paraphrases) and offers accept / reject / edit. An edit is validated exactly like
an edit in the terminal (``review.apply_edit``); an invalid one is shown again with its
error and nothing is saved. Every decision is written at once with ``save_lock``
(atomically), re-reading the lockfile from disk first, so the file stays the truth.

Safety: every mutating form carries a random per-session token (403 without it);
mutations are POST-only (405 otherwise); the Host header must name this server
(against DNS rebinding) and a cross-site Origin is refused.
"""

from __future__ import annotations

import difflib
import hmac
import secrets
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from humc.assets.review import ReviewContext, apply_edit, edit_text, proposer, review_context
from humc.errors import HumcError
from humc.ir import Recipe
from humc.recipe.lockfile import KINDS, STATUSES, Lockfile, LockItem, editing_lock, load_lock, save_lock

MAX_BODY = 1 << 20          # 1 MiB: far more than any template or rule
ACTIONS = ("accept", "reject", "edit")


def _h(value: Any) -> str:
    return escape(str(value), quote=True)


# ----------------------------------------------------------------------------- the application


@dataclass
class ReviewApp:
    """The state of one review session: the lockfile, the recipe context, the CSRF token."""

    lock_path: Path
    recipe: Recipe | None = None
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    mutex: threading.Lock = field(default_factory=threading.Lock)
    decisions: int = 0
    ctx: ReviewContext = field(init=False)

    def __post_init__(self) -> None:
        self.lock_path = Path(self.lock_path)
        self.ctx = review_context(self.recipe)

    def load(self) -> Lockfile:
        return load_lock(self.lock_path)

    def decide(self, item_id: str, action: str, text: str | None = None) -> str:
        """Apply one decision and save; returns a message. HumcError when the edit is invalid."""
        with self.mutex, editing_lock(self.lock_path, "humc review --web") as lock:
            item = lock.get(item_id)
            if item is None:
                raise LookupError(item_id)
            if action in ("accept", "reject"):
                item.status = "accepted" if action == "accept" else "rejected"
                save_lock(lock)
                self.decisions += 1
                return f"{item.kind} {item.id} {item.status}"
            new = (text or "").replace("\r\n", "\n").replace("\r", "\n")
            if new.strip() == edit_text(item).strip():
                raise HumcError("no change: the text is the same as the proposal (use accept to take it as is)")
            edited = apply_edit(item, new, self.ctx)
            edited.status = "accepted"
            lock.items[lock.items.index(item)] = edited
            save_lock(lock)
            self.decisions += 1
            return f"{item.kind} {item.id} edited and accepted"


# ----------------------------------------------------------------------------- rendering

CSS = """
body{font-family:system-ui,sans-serif;max-width:70rem;margin:1rem auto;padding:0 1rem;color:#222}
h1{font-size:1.3rem} h2{font-size:1rem;margin:0 0 .3rem}
.item{border:1px solid #ccc;border-radius:4px;padding:.6rem .8rem;margin:.8rem 0}
.meta{color:#555;font-size:.85rem}
.proposed{border-left:5px solid #c90}.accepted{border-left:5px solid #2a2}.rejected{border-left:5px solid #c33}
pre{background:#f6f6f6;padding:.4rem;overflow-x:auto;white-space:pre-wrap;margin:.3rem 0}
.add{background:#dfd}.del{background:#fdd}
.cols{display:flex;gap:.6rem}.cols>div{flex:1;min-width:0}
.msg{background:#eef;padding:.4rem .6rem}.err{background:#fee;color:#900;padding:.4rem .6rem;white-space:pre-wrap}
textarea{width:100%;font-family:monospace;font-size:.85rem}
form.inline{display:inline}.actions{margin:.4rem 0}
nav a{margin-right:.4rem} nav a.on{font-weight:bold;text-decoration:none;color:#000}
table{border-collapse:collapse} td,th{padding:.1rem .5rem;text-align:left;vertical-align:top}
"""


def _diff_html(base: str, proposal: str) -> str:
    rows = []
    for line in difflib.ndiff(base.strip("\n").splitlines(), proposal.strip("\n").splitlines()):
        tag, body = line[:2], line[2:]
        if tag == "? ":
            continue
        cls = "add" if tag == "+ " else "del" if tag == "- " else ""
        mark = tag[0] if tag.strip() else " "
        rows.append(f'<span class="{cls}">{_h(mark + " " + body)}</span>' if cls else _h(mark + " " + body))
    return "<pre>" + "\n".join(rows) + "</pre>"


def _body_html(item: LockItem, ctx: ReviewContext) -> str:
    if item.kind == "template":
        base = ctx.base_text(item)
        if base is None:
            return ('<p class="meta">base template not found in the recipe; the proposal alone:</p>'
                    f"<pre>{_h(item.text)}</pre>")
        return (f'<p class="meta">line diff: <span class="del">- base {_h(item.base)}</span> '
                f'<span class="add">+ proposal</span></p>{_diff_html(base, item.text)}'
                f'<details><summary>side by side</summary><div class="cols">'
                f'<div><b>base {_h(item.base)}</b><pre>{_h(base)}</pre></div>'
                f'<div><b>proposal</b><pre>{_h(item.text)}</pre></div></div></details>')
    if item.kind == "guideline":
        out = f"<pre>{_h(item.text)}</pre>" if item.text else ""
        if item.labels:
            out += "<table>" + "".join(f"<tr><th>{_h(k)}</th><td>{_h(v)}</td></tr>"
                                       for k, v in item.labels.items()) + "</table>"
        return out
    if item.kind == "hard_negatives":
        return ("<table><tr><th>label</th><th>confusable with (shown together in a schema)</th></tr>"
                + "".join(f"<tr><th>{_h(k)}</th><td>{_h(', '.join(v))}</td></tr>" for k, v in item.hard_negatives.items())
                + "</table>")
    if item.kind == "examples":
        return ("<table><tr><th>label</th><th>positive</th><th>negative</th></tr>"
                + "".join(f"<tr><th>{_h(k)}</th><td>{_h(', '.join(ex.positive))}</td>"
                          f"<td>{_h(', '.join(t + (f' ({w})' if w else '') for t, w in ex.negative))}</td></tr>"
                          for k, ex in item.examples.items()) + "</table>")
    rows = [("sentence", item.text)] + ([("when", item.when)] if item.when else []) + [("then", item.then or "")]
    return "<table>" + "".join(f"<tr><th>{k}</th><td><code>{_h(v)}</code></td></tr>" for k, v in rows) + "</table>"


def _hidden(app: ReviewApp, item: LockItem, filters: dict[str, str]) -> str:
    fields = {"token": app.token, "id": item.id, **{k: v for k, v in filters.items() if v}}
    return "".join(f'<input type="hidden" name="{_h(k)}" value="{_h(v)}">' for k, v in fields.items())


def _item_html(app: ReviewApp, item: LockItem, filters: dict[str, str],
               error: tuple[str, str, str] | None) -> str:
    status = item.status + (" (edited)" if item.edited else "")
    head = f"{_h(item.kind)} <code>{_h(item.id)}</code> for task entry <code>{_h(item.entry)}</code>"
    if item.base:
        head += f" — paraphrase of <code>{_h(item.base)}</code>"
    err_here = error is not None and error[0] == item.id
    text = error[2] if error is not None and err_here else edit_text(item)
    hidden = _hidden(app, item, filters)
    buttons = "".join(
        f'<form class="inline" method="post" action="/decide">{hidden}'
        f'<button name="action" value="{a}">{label}</button></form> '
        for a, label in (("accept", "Accept"), ("reject", "Reject")))
    rows = max(4, min(30, text.count("\n") + 2))
    return (f'<div class="item {_h(item.status)}" id="item-{_h(item.id)}">'
            f"<h2>{head}</h2>"
            f'<p class="meta">status: <b>{_h(status)}</b> · written by {_h(proposer(item))} · '
            f"language: {_h(item.language)}</p>"
            f"{_body_html(item, app.ctx)}"
            + (f'<p class="err">invalid edit: {_h(error[1])}</p>' if error is not None and err_here else "")
            + f'<div class="actions">{buttons}</div>'
            f'<details{" open" if err_here else ""}><summary>Edit</summary>'
            f'<form method="post" action="/decide">{hidden}'
            f'<textarea name="text" rows="{rows}">\n{_h(text)}</textarea>'
            f'<div><button name="action" value="edit">Save edit and accept</button></div></form></details>'
            "</div>")


def _nav(filters: dict[str, str], key: str, choices: tuple[str, ...]) -> str:
    links = []
    for value in ("", *choices):
        q = {k: v for k, v in {**filters, key: value}.items() if v}
        cls = ' class="on"' if filters.get(key, "") == value else ""
        links.append(f'<a{cls} href="/?{_h(urlencode(q))}">{_h(value or "all")}</a>')
    return f"<nav>{key}: {' '.join(links)}</nav>"


def render_page(app: ReviewApp, lock: Lockfile, filters: dict[str, str], message: str = "",
                error: tuple[str, str, str] | None = None) -> str:
    """The list page. ``error`` = (item id, message, submitted text) of an invalid edit."""
    status, kind = filters.get("status", ""), filters.get("kind", "")
    shown = error[0] if error is not None else None
    items = [i for i in lock.items
             if i.id == shown or ((not status or i.status == status) and (not kind or i.kind == kind))]
    counts = ", ".join(f"{lock.count(s)} {s}" for s in ("proposed", "accepted", "rejected"))
    body = "".join(_item_html(app, i, filters, error) for i in items) or "<p>No item matches the filter.</p>"
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>humc review — {_h(lock.path.name)}</title><style>{CSS}</style></head><body>"
            f"<h1>humc review — <code>{_h(lock.path)}</code></h1>"
            f"<p>{len(lock.items)} item(s): {_h(counts)}. Showing {len(items)}. "
            "Each decision is saved to the lockfile at once.</p>"
            + (f'<p class="msg">{_h(message)}</p>' if message else "")
            + _nav(filters, "status", STATUSES) + _nav(filters, "kind", KINDS)
            + body + "</body></html>")


def _simple_page(title: str, text: str) -> str:
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{_h(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{_h(title)}</h1><p class=\"err\">{_h(text)}</p>"
            '<p><a href="/">back to the list</a></p></body></html>')


# ----------------------------------------------------------------------------- HTTP


class _Handler(BaseHTTPRequestHandler):
    server_version = "humc-review"
    app: ReviewApp          # set on the subclass made by make_server
    timeout = 60

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 — quiet: the terminal shows the URL only
        pass

    # --- helpers

    def _send(self, status: int, html: str = "", headers: dict[str, str] | None = None) -> None:
        data = html.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Security-Policy",
                         "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _fail(self, status: HTTPStatus, text: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, _simple_page(f"{status.value} {status.phrase}", text), headers)

    def _host_ok(self) -> bool:
        port = _port(self.server)
        host = (self.headers.get("Host") or "").lower()
        return host in {f"127.0.0.1:{port}", f"localhost:{port}"}

    def _origin_ok(self) -> bool:
        origin = self.headers.get("Origin")
        if origin is None:
            return True
        port = _port(self.server)
        return origin.lower() in {f"http://127.0.0.1:{port}", f"http://localhost:{port}"}

    @staticmethod
    def _filters(q: dict[str, list[str]]) -> dict[str, str]:
        status = (q.get("status") or [""])[0]
        kind = (q.get("kind") or [""])[0]
        return {"status": status if status in STATUSES else "", "kind": kind if kind in KINDS else ""}

    # --- methods

    def do_GET(self) -> None:  # noqa: N802
        if not self._host_ok():
            return self._fail(HTTPStatus.FORBIDDEN, "unexpected Host header")
        url = urlsplit(self.path)
        if url.path == "/decide":
            return self._fail(HTTPStatus.METHOD_NOT_ALLOWED, "decisions are made with POST",
                              {"Allow": "POST"})
        if url.path != "/":
            return self._fail(HTTPStatus.NOT_FOUND, f"no page {url.path}")
        q = parse_qs(url.query)
        try:
            lock = self.app.load()
        except HumcError as exc:
            return self._fail(HTTPStatus.INTERNAL_SERVER_ERROR, exc.render())
        self._send(HTTPStatus.OK, render_page(self.app, lock, self._filters(q), (q.get("msg") or [""])[0]))

    do_HEAD = do_GET

    def do_POST(self) -> None:  # noqa: N802
        if not self._host_ok() or not self._origin_ok():
            return self._fail(HTTPStatus.FORBIDDEN, "cross-site request refused")
        url = urlsplit(self.path)
        if url.path != "/decide":
            return self._fail(HTTPStatus.NOT_FOUND, f"no page {url.path}")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            return self._fail(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body too large")
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        raw = self.rfile.read(length).decode("utf-8", "replace")
        if ctype != "application/x-www-form-urlencoded":
            return self._fail(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "expected a form")
        form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        if not hmac.compare_digest(form.get("token", "").encode(), self.app.token.encode()):
            return self._fail(HTTPStatus.FORBIDDEN, "missing or invalid form token; reload the page")
        action, item_id = form.get("action", ""), form.get("id", "")
        if action not in ACTIONS:
            return self._fail(HTTPStatus.BAD_REQUEST, f"unknown action {action!r}")
        filters = self._filters({k: [v] for k, v in form.items()})
        try:
            message = self.app.decide(item_id, action, form.get("text"))
        except LookupError:
            return self._fail(HTTPStatus.NOT_FOUND, f"no item {item_id!r} in the lockfile")
        except HumcError as exc:
            if action != "edit":
                return self._fail(HTTPStatus.INTERNAL_SERVER_ERROR, exc.render())
            try:
                lock = self.app.load()
            except HumcError as exc2:
                return self._fail(HTTPStatus.INTERNAL_SERVER_ERROR, exc2.render())
            page = render_page(self.app, lock, filters, error=(item_id, exc.message, form.get("text", "")))
            return self._send(HTTPStatus.UNPROCESSABLE_ENTITY, page)
        q = urlencode({**{k: v for k, v in filters.items() if v}, "msg": message})
        self._send(HTTPStatus.SEE_OTHER, _simple_page("saved", message), {"Location": f"/?{q}#item-{item_id}"})


def _port(server: Any) -> int:
    """The TCP port a (loopback, IPv4) server listens on."""
    return int(server.server_address[1])


class ReviewServer(ThreadingHTTPServer):
    daemon_threads = True
    app: ReviewApp

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A browser that went away mid-answer (a reload, a closed tab: reset, broken pipe) is no bug to print a
        traceback for in the reviewer's terminal; anything else is, as socketserver prints it."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def make_server(lock_path: Path, recipe: Recipe | None = None, port: int = 0) -> ReviewServer:
    """A review server for ``lock_path`` on 127.0.0.1:``port`` (0: a free port); not started yet."""
    lock_path = Path(lock_path)
    if not lock_path.exists():
        raise HumcError(f"no lockfile {lock_path}", hint="run `humc synth RECIPE` first to get proposals")
    load_lock(lock_path)                    # a broken lockfile is reported before serving
    app = ReviewApp(lock_path, recipe)
    handler = type("ReviewHandler", (_Handler,), {"app": app})
    try:
        server = ReviewServer(("127.0.0.1", port), handler)
    except OSError as exc:
        raise HumcError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}",
                        hint="choose another --port (0 picks a free one)") from None
    server.app = app
    return server


def serve(lock_path: Path, recipe: Recipe | None = None, *, port: int = 0, open_browser: bool = False,
          initial_kind: str | None = None, echo: Callable[..., Any] = print) -> ReviewApp:
    """Serve the review page until Ctrl-C; returns the session (its ``decisions`` count)."""
    server = make_server(lock_path, recipe, port)
    url = server.url + (f"?{urlencode({'status': 'proposed', 'kind': initial_kind})}" if initial_kind else "")
    echo(f"reviewing {lock_path} at {url}  (Ctrl-C to stop)")
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        with server.app.mutex:          # let a decision being saved finish
            pass
    return server.app


__all__ = ["ReviewApp", "ReviewServer", "make_server", "render_page", "serve"]
