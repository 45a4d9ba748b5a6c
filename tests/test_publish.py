"""Publishing against a local Hub-compatible server (tests/hubserver.py), with the real client."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import run_cli  # noqa: E402
from hubserver import CUT, CUT_AFTER, HubHTTPServer  # noqa: E402

from humc.dataset.card import CardInfo, render_card  # noqa: E402
from humc.dataset.hub import push_dataset  # noqa: E402
from humc.dataset.manifest import MANIFEST, sha256_file  # noqa: E402
from humc.dataset.writer import parquet_schema  # noqa: E402
from humc.errors import PublishError  # noqa: E402

TOKEN = "hf_test_token_0123456789"
REPO = "humc-test/demo"


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from huggingface_hub import constants

    srv = HubHTTPServer(TOKEN).start()
    monkeypatch.setenv("HF_ENDPOINT", srv.url)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    # huggingface_hub reads these at import time: patch the module constants as well
    monkeypatch.setattr(constants, "ENDPOINT", srv.url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", srv.url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)   # the client would otherwise upload with Xet
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-saved-token"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False, raising=False)
    try:
        yield srv
    finally:
        srv.stop()


def _rows(split: str, n: int, tag: str = "v1") -> list[dict]:
    return [{"id": f"{split}-{tag}-{i}", "task": "sentiment", "task_entry": "sent_en", "family": "classification",
             "language": "en", "instruction": f"Classify: text {i} ({tag})", "output": "positive" if i % 2 else "negative",
             "gold": "positive" if i % 2 else "negative", "answer_format": "plain", "template": "en_1",
             "labels": ["positive", "negative"], "guidelines": [], "rules": [], "source": "toy", "source_row": i}
            for i in range(n)]


def make_build(folder: Path, shards: dict[str, int], *, rows_per_shard: int = 5, tag: str = "v1",
               plots: tuple[str, ...] = ()) -> Path:
    """A fake but complete humc build, in writer.py's layout and manifest format (``plots``: the card's PNGs)."""
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    (folder / "data").mkdir(parents=True)
    split_files: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    for split, n_shards in shards.items():
        rows = _rows(split, n_shards * rows_per_shard, tag)
        counts[split] = len(rows)
        names = [f"data/{split}-{i:05d}-of-{n_shards:05d}.parquet" for i in range(n_shards)]
        for i, name in enumerate(names):
            batch = rows[i * rows_per_shard:(i + 1) * rows_per_shard]
            pq.write_table(pa.Table.from_pylist(batch, schema=parquet_schema()), folder / name, compression="zstd")
        split_files[split] = names
    info = CardInfo(
        name=folder.name, pretty_name="Demo dataset", description=f"A toy dataset ({tag}).", license="apache-2.0",
        languages=["en"], task_categories=["text-classification"], task_ids=["sentiment-classification"],
        source_datasets=[], tags=["nlu"], split_files=split_files, split_counts=counts,
        task_counts={s: {"sent_en": c} for s, c in counts.items()}, variant_counts={"plain": sum(counts.values())},
        template_counts={"en_1": sum(counts.values())}, length_stats={}, guidelines=[], rules=[],
        dedup={"duplicates_removed": 0}, llms=[], recipe_text=f"name: {folder.name}\n",
        recipe_fingerprint=f"fp-{tag}", humc_version="0.1.0", user_template=None)
    (folder / "README.md").write_text(render_card(info), encoding="utf-8")
    for plot in plots:
        (folder / "plots").mkdir(exist_ok=True)
        (folder / "plots" / f"mixture_{plot}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + f"{plot} {tag}".encode())
    files = {str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()}
    manifest = {"fingerprint": f"fp-{tag}", "recipe": folder.name, "humc_version": "0.1.0", "counts": counts,
                "files": files}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return folder


def local_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def remote_files(srv: HubHTTPServer, branch: str = "main") -> dict[str, bytes]:
    files = srv.state.files(REPO, branch)
    files.pop(".gitattributes", None)
    return files


def commit_requests(srv: HubHTTPServer) -> int:
    return sum(1 for m, p in srv.state.requests if m == "POST" and "/commit/" in p)


# ---------------------------------------------------------------------------- round trip


def test_push_then_download_roundtrip(hub: HubHTTPServer, tmp_path: Path) -> None:
    from huggingface_hub import snapshot_download

    folder = make_build(tmp_path / "out" / "demo", {"train": 2, "test": 1})
    result = push_dataset(folder, REPO)
    assert result.created and result.commit_url and "/commit/" in result.commit_url
    assert sorted(result.uploaded) == sorted(local_files(folder)) and result.deleted == []
    assert len(hub.state.history(REPO)) == 2  # initial commit + ours

    dl = Path(snapshot_download(REPO, repo_type="dataset", local_dir=tmp_path / "dl", endpoint=hub.url,
                                token=TOKEN))
    for rel, data in local_files(folder).items():
        assert (dl / rel).read_bytes() == data, rel
    assert remote_files(hub) == local_files(folder)

    import datasets

    ds = datasets.load_dataset("parquet", data_files={"train": str(dl / "data" / "train-*.parquet"),
                                                      "test": str(dl / "data" / "test-*.parquet")},
                               cache_dir=str(tmp_path / "ds-cache"))
    assert ds["train"].num_rows == 10 and ds["test"].num_rows == 5
    assert sorted(ds["train"]["id"]) == sorted(r["id"] for r in _rows("train", 10))


def test_card_metadata_roundtrips_through_hub(hub: HubHTTPServer, tmp_path: Path) -> None:
    from huggingface_hub import DatasetCard, HfApi

    folder = make_build(tmp_path / "demo", {"train": 2, "validation": 1})
    push_dataset(folder, REPO)
    card = DatasetCard.load(REPO, repo_type="dataset", token=TOKEN)
    assert card.content == (folder / "README.md").read_text(encoding="utf-8")
    data = card.data
    assert data.license == "apache-2.0" and data.pretty_name == "Demo dataset"
    assert "humc" in data.tags and data.size_categories == ["n<1K"]
    assert data.configs == [{"config_name": "default", "data_files": [
        {"split": "train", "path": "data/train-*"}, {"split": "validation", "path": "data/validation-*"}]}]
    info = HfApi(endpoint=hub.url).dataset_info(REPO, token=TOKEN)
    assert info.card_data.task_categories == ["text-classification"]
    assert {s.rfilename for s in info.siblings} >= set(local_files(folder))


# ---------------------------------------------------------------------------- idempotency and updates


def test_second_push_of_unchanged_build_makes_no_commit(hub: HubHTTPServer, tmp_path: Path) -> None:
    folder = make_build(tmp_path / "demo", {"train": 2})
    first = push_dataset(folder, REPO)
    history = [c.oid for c in hub.state.history(REPO)]
    commits = commit_requests(hub)
    seen = len(hub.state.requests)
    second = push_dataset(folder, REPO)
    assert first.changed and not second.changed
    assert second.commit_url is None and second.uploaded == [] and second.deleted == [] and not second.created
    assert [c.oid for c in hub.state.history(REPO)] == history
    assert commit_requests(hub) == commits
    assert all(m == "GET" for m, _ in hub.state.requests[seen:])   # only looked, uploaded nothing


def test_changed_build_with_fewer_shards_is_one_commit_and_drops_stale_shards(hub: HubHTTPServer,
                                                                              tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    make_build(folder, {"train": 3, "test": 1}, tag="v1")
    push_dataset(folder, REPO)
    before = len(hub.state.history(REPO))
    make_build(folder, {"train": 2}, tag="v2")
    result = push_dataset(folder, REPO)
    assert len(hub.state.history(REPO)) == before + 1          # exactly one new commit
    assert sorted(result.deleted) == ["data/test-00000-of-00001.parquet", "data/train-00000-of-00003.parquet",
                                      "data/train-00001-of-00003.parquet", "data/train-00002-of-00003.parquet"]
    assert remote_files(hub) == local_files(folder)
    assert "README.md" in result.uploaded and MANIFEST in result.uploaded


def test_a_plot_the_rebuilt_card_no_longer_draws_is_deleted_from_the_hub(hub: HubHTTPServer, tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    make_build(folder, {"train": 1}, tag="v1", plots=("task", "format"))
    push_dataset(folder, REPO)
    make_build(folder, {"train": 1}, tag="v2", plots=("format",))   # one task left: no task plot any more
    result = push_dataset(folder, REPO)
    assert result.deleted == ["plots/mixture_task.png"]
    assert remote_files(hub) == local_files(folder)
    assert push_dataset(folder, REPO).commit_url is None              # and the next push finds nothing to do


def test_a_private_dataset_is_never_pushed_into_an_existing_public_repository(hub: HubHTTPServer,
                                                                               tmp_path: Path) -> None:
    from huggingface_hub import HfApi

    HfApi(endpoint=hub.url, token=TOKEN).create_repo(REPO, repo_type="dataset", private=False)
    folder = make_build(tmp_path / "demo", {"train": 1})
    commits = commit_requests(hub)
    with pytest.raises(PublishError) as err:
        push_dataset(folder, REPO, private=True)
    assert err.value.code == "E5004" and "public" in err.value.message
    assert "`humc push … --public`" in (err.value.hint or "")  # `humc build --push` has no --public: name the command
    assert commit_requests(hub) == commits and remote_files(hub) == {}
    assert push_dataset(folder, REPO, private=False).changed          # said public: published as before
    assert not push_dataset(folder, "humc-test/fresh", private=True).deleted and hub.state.repo("humc-test/fresh").private


@pytest.mark.parametrize(("license", "metadata"), [
    ("Apache-2.0", {"license": "apache-2.0"}),                                 # SPDX's spelling of a Hub id
    ("Acme Data License 1.0", {"license": "other", "license_name": "acme-data-license-1.0"}),  # not on the list
])
def test_a_license_in_another_spelling_or_not_on_the_hubs_list_is_published_with_a_card_the_hub_accepts(
        hub: HubHTTPServer, tmp_path: Path, license: str, metadata: dict[str, str]) -> None:
    from helpers import copy_recipes
    from huggingface_hub import DatasetCard

    recipe = copy_recipes(tmp_path) / "ner.hum.yaml"
    recipe.write_text(re.sub(r"(?m)^license: .*$", f"license: {license}", recipe.read_text(encoding="utf-8"), count=1),
                      encoding="utf-8")
    built = run_cli("build", str(recipe), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"), "-q")
    assert built.exit_code == 0, built.output
    assert push_dataset(tmp_path / "out" / "ner", REPO).changed
    card = DatasetCard.load(REPO, repo_type="dataset")
    assert {k: card.data.to_dict().get(k) for k in metadata} == metadata
    assert f"License: {license}." in card.text                                 # the body names it as written


def test_only_changed_files_are_reported(hub: HubHTTPServer, tmp_path: Path) -> None:
    folder = make_build(tmp_path / "demo", {"train": 2})
    push_dataset(folder, REPO)
    readme = folder / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + "\nextra line\n", encoding="utf-8")
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["files"]["README.md"] = sha256_file(readme)
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    result = push_dataset(folder, REPO)
    assert sorted(result.uploaded) == sorted([MANIFEST, "README.md"]) and result.deleted == []
    assert remote_files(hub) == local_files(folder)


def test_revision_pushes_to_a_branch(hub: HubHTTPServer, tmp_path: Path) -> None:
    from huggingface_hub import snapshot_download

    folder = make_build(tmp_path / "demo", {"train": 1})
    main_before = [c.oid for c in hub.state.history(REPO)] if ("dataset", REPO) in hub.state.repos else []
    result = push_dataset(folder, REPO, revision="v2")
    assert result.changed and result.revision == "v2" and result.branch_created
    assert remote_files(hub, "v2") == local_files(folder)
    assert remote_files(hub, "main") == {}                      # main untouched
    assert main_before == [] and len(hub.state.history(REPO, "main")) == 1
    dl = Path(snapshot_download(REPO, repo_type="dataset", revision="v2", local_dir=tmp_path / "dl",
                                endpoint=hub.url, token=TOKEN))
    assert (dl / "README.md").read_bytes() == (folder / "README.md").read_bytes()
    again = push_dataset(folder, REPO, revision="v2")
    assert not again.changed and not again.branch_created


# ---------------------------------------------------------------------------- failures


@pytest.mark.parametrize("repo_id", ["no-namespace", "a/b/c", "bad id/x", "org/-bad--", ""])
def test_bad_repo_id(hub: HubHTTPServer, tmp_path: Path, repo_id: str) -> None:
    folder = make_build(tmp_path / "demo", {"train": 1})
    with pytest.raises(PublishError) as err:
        push_dataset(folder, repo_id)
    assert "repository id" in err.value.message and "ORG/NAME" in (err.value.hint or "")
    assert hub.state.requests == []


def test_missing_token(hub: HubHTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_TOKEN")
    folder = make_build(tmp_path / "demo", {"train": 1})
    with pytest.raises(PublishError) as err:
        push_dataset(folder, REPO)
    assert "token" in err.value.message and "HF_TOKEN" in err.value.hint and "hf auth login" in err.value.hint
    assert hub.state.requests == []


def test_token_rejected_by_server(hub: HubHTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    folder = make_build(tmp_path / "demo", {"train": 1})
    with pytest.raises(PublishError) as err:
        push_dataset(folder, REPO)
    text = err.value.render()
    assert "401" in text and "HF_TOKEN" in text and "Traceback" not in text
    assert hub.state.repos == {}


def test_server_error_on_commit_leaves_remote_unchanged(hub: HubHTTPServer, tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    make_build(folder, {"train": 2}, tag="v1")
    push_dataset(folder, REPO)
    published = remote_files(hub)
    history = [c.oid for c in hub.state.history(REPO)]
    make_build(folder, {"train": 1}, tag="v2")
    hub.state.fail("commit", 500)
    with pytest.raises(PublishError) as err:
        push_dataset(folder, REPO)
    text = err.value.render()
    assert "500" in text and "nothing was published" in text and "retry" in text
    assert remote_files(hub) == published and [c.oid for c in hub.state.history(REPO)] == history
    result = push_dataset(folder, REPO)                       # the same command works once the Hub is back
    assert result.changed and remote_files(hub) == local_files(folder)


def test_first_push_failing_publishes_nothing_and_deletes_the_repository_it_created(hub: HubHTTPServer,
                                                                                       tmp_path: Path) -> None:
    folder = make_build(tmp_path / "demo", {"train": 2})
    hub.state.fail("commit", 503)
    with pytest.raises(PublishError) as err:
        push_dataset(folder, REPO)
    assert "note: deleted the repository humc-test/demo, which this push had created (it was still empty)" \
        in err.value.render()
    assert ("dataset", REPO) not in hub.state.repos
    result = push_dataset(folder, REPO)
    assert result.changed and result.created and remote_files(hub) == local_files(folder)


def test_a_failed_push_to_a_new_branch_removes_that_branch_and_nothing_else(hub: HubHTTPServer,
                                                                            tmp_path: Path) -> None:
    folder = make_build(tmp_path / "demo", {"train": 1})
    push_dataset(folder, REPO)
    published, history = remote_files(hub), [c.oid for c in hub.state.history(REPO)]
    make_build(folder, {"train": 2}, tag="v2")
    hub.state.fail("commit", 500)
    res = run_cli("push", str(folder), "--repo", REPO, "--revision", "v2")
    assert res.exit_code == 2 and "error[E5001]" in res.output and "HTTP 500" in res.output, res.output
    assert "note: removed the branch 'v2', which this push had created" in res.output
    assert "deleted the repository" not in res.output and "Traceback" not in res.output
    assert sorted(hub.state.repo(REPO).branches) == ["main"]
    assert remote_files(hub) == published and [c.oid for c in hub.state.history(REPO)] == history
    assert sum(1 for m, _ in hub.state.requests if m == "DELETE") == 1
    result = push_dataset(folder, REPO, revision="v2")   # the same command once the Hub is back
    assert result.changed and result.branch_created and remote_files(hub, "v2") == local_files(folder)


def test_a_failed_first_push_to_a_branch_removes_the_branch_and_the_repository_it_created(hub: HubHTTPServer,
                                                                                           tmp_path: Path) -> None:
    folder = make_build(tmp_path / "demo", {"train": 1})
    hub.state.fail("lfs-upload", 403)   # the commit's upload fails: nothing reached the Hub but the repo and branch
    with pytest.raises(PublishError) as err:
        push_dataset(folder, REPO, revision="dev")
    text = err.value.render()
    assert "403" in text and "removed the branch 'dev'" in text and "deleted the repository humc-test/demo" in text
    assert hub.state.repos == {}


def _interrupted_push(hub: HubHTTPServer, tmp_path: Path, folder: Path, route: str, signum: int,
                      *args: str) -> subprocess.CompletedProcess[str]:
    """A real `python -m humc push FOLDER --repo REPO ARGS` sent ``signum`` while the server holds its request to
    ``route`` (unanswered, not acted on); the held request is dropped once the push has ended."""
    held = hub.state.hold(route)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent), "HF_ENDPOINT": hub.url, "HF_TOKEN": TOKEN,
           "HF_HUB_DISABLE_XET": "1", "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "humc", "push", str(folder), "--repo", REPO, *args],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    try:
        assert held.arrived.wait(120), "the push never reached " + route
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=120)
    finally:
        held.release.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_ctrl_c_during_the_upload_undoes_the_repository_and_branch_the_push_created(hub: HubHTTPServer,
                                                                                     tmp_path: Path) -> None:
    """Ctrl-C while the Hub held the shard's upload left the repository and the branch `dev` it had just created (a
    failure removed them, an interruption did not): now it takes the same way back, and says so."""
    folder = make_build(tmp_path / "demo", {"train": 1})
    res = _interrupted_push(hub, tmp_path, folder, "lfs-upload", signal.SIGINT, "--revision", "dev")
    assert res.returncode == 130, res.stderr
    assert "interrupted:" in res.stderr and "Traceback" not in res.stderr
    assert "note: removed the branch 'dev', which this push had created" in res.stderr
    assert "note: deleted the repository humc-test/demo, which this push had created (it was still empty)" in res.stderr
    assert hub.state.repos == {}
    assert push_dataset(folder, REPO, revision="dev").changed  # the same command, run again, publishes


def test_sigterm_during_the_commit_removes_the_new_branch_and_keeps_the_repository(hub: HubHTTPServer,
                                                                                   tmp_path: Path) -> None:
    """SIGTERM (humc's Terminated, a KeyboardInterrupt) while the commit to a new branch is held: the branch goes, the
    repository and main, which the push did not create, stay as they were."""
    folder = make_build(tmp_path / "demo", {"train": 1})
    push_dataset(folder, REPO)
    published, history = remote_files(hub), [c.oid for c in hub.state.history(REPO)]
    make_build(folder, {"train": 2}, tag="v2")
    res = _interrupted_push(hub, tmp_path, folder, "commit", signal.SIGTERM, "--revision", "v2")
    assert res.returncode == 128 + signal.SIGTERM, res.stderr
    assert "terminated:" in res.stderr and "note: removed the branch 'v2', which this push had created" in res.stderr
    assert "deleted the repository" not in res.stderr and "Traceback" not in res.stderr
    assert sorted(hub.state.repo(REPO).branches) == ["main"]
    assert remote_files(hub) == published and [c.oid for c in hub.state.history(REPO)] == history


def test_a_failed_push_never_deletes_a_repository_or_branch_it_did_not_create(hub: HubHTTPServer,
                                                                              tmp_path: Path) -> None:
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub.url, token=TOKEN)
    api.create_repo(REPO, repo_type="dataset")            # made empty by someone else, before the push
    api.create_branch(REPO, branch="dev", repo_type="dataset")
    folder = make_build(tmp_path / "demo", {"train": 1})
    for revision in (None, "dev"):
        hub.state.fail("commit", 500)
        with pytest.raises(PublishError) as err:
            push_dataset(folder, REPO, revision=revision)
        text = err.value.render()
        assert "500" in text and "removed" not in text and "deleted" not in text and "kept" not in text
    assert sorted(hub.state.repo(REPO).branches) == ["dev", "main"]
    assert not any(m == "DELETE" for m, _ in hub.state.requests)


@pytest.mark.parametrize("revision", [None, "dev"])
def test_a_commit_that_landed_before_the_connection_broke_keeps_what_the_push_created(hub: HubHTTPServer,
                                                                                      tmp_path: Path,
                                                                                      revision: str | None) -> None:
    folder = make_build(tmp_path / "demo", {"train": 1})
    if revision:
        push_dataset(folder, REPO)              # the repository exists; the push creates the branch only
        make_build(folder, {"train": 2}, tag="v2")
    hub.state.fail("commit", CUT_AFTER)         # the Hub made the commit; its answer never came
    with pytest.raises(PublishError) as err:
        push_dataset(folder, REPO, revision=revision)
    text = err.value.render()
    assert "broke while it made the commit" in text
    assert "kept the branch 'dev' this push created: it holds a commit" in text if revision else \
        "kept the repository humc-test/demo this push created: it is no longer empty" in text
    assert "removed" not in text and "deleted" not in text
    assert remote_files(hub, revision or "main") == local_files(folder)
    assert not push_dataset(folder, REPO, revision=revision).changed   # the same command: nothing to publish


def test_a_cleanup_that_fails_too_is_a_note_beside_the_push_error(hub: HubHTTPServer, tmp_path: Path) -> None:
    folder = make_build(tmp_path / "demo", {"train": 1})
    hub.state.fail("commit", 500)
    hub.state.fail("delete-branch", 503, times=10)
    with pytest.raises(PublishError) as err:
        push_dataset(folder, REPO, revision="dev")
    text = err.value.render()
    assert "error[E5001]" in text and "HTTP 500" in text and "nothing was published" in text
    assert "note: could not check or remove the branch 'dev' and the repository humc-test/demo, which this push " \
           "had created" in text and "503" in text and "delete them on the Hub" in text
    assert sorted(hub.state.repo(REPO).branches) == ["dev", "main"]   # left as they were; a second push uses them
    hub.state.faults.clear()
    result = push_dataset(folder, REPO, revision="dev")
    assert result.changed and not result.created and not result.branch_created


@pytest.mark.parametrize("route", ["preupload", "lfs-batch", "lfs-upload", "create"])
def test_upload_rejected_is_reported(hub: HubHTTPServer, tmp_path: Path, route: str) -> None:
    folder = make_build(tmp_path / "demo", {"train": 1})
    hub.state.fail(route, 403)
    with pytest.raises(PublishError) as err:
        push_dataset(folder, REPO)
    text = err.value.render()
    assert "403" in text and "write access" in text and "Traceback" not in text
    assert ("dataset", REPO) not in hub.state.repos or remote_files(hub) == {}


def test_a_repository_with_files_humc_did_not_publish_is_refused_and_left_as_it_was(hub: HubHTTPServer,
                                                                                   tmp_path: Path) -> None:
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi(endpoint=hub.url, token=TOKEN)
    api.create_repo(REPO, repo_type="dataset")
    api.create_commit(REPO, [CommitOperationAdd("README.md", b"# Our own data\n"),
                             CommitOperationAdd("data/train.csv", b"text,label\nhi,1\n")],
                      commit_message="someone else's dataset", repo_type="dataset")
    before, history = remote_files(hub), [c.oid for c in hub.state.history(REPO)]
    folder = make_build(tmp_path / "demo", {"train": 1})
    result = run_cli("push", str(folder), "--repo", REPO)
    assert result.exit_code == 2 and "error[E5003]" in result.output and "humc did not publish" in result.output
    assert "remote file: data/train.csv" in result.output and "hint: publish to another repository" in result.output
    assert remote_files(hub) == before and [c.oid for c in hub.state.history(REPO)] == history
    assert commit_requests(hub) == 1  # only the setup's commit


def test_a_push_to_a_new_branch_of_a_repository_humc_does_not_own_is_refused_before_the_branch_is_made(
        hub: HubHTTPServer, tmp_path: Path) -> None:
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi(endpoint=hub.url, token=TOKEN)
    api.create_repo(REPO, repo_type="dataset")
    api.create_commit(REPO, [CommitOperationAdd("data/train.csv", b"text,label\nhi,1\n")],
                      commit_message="someone else's dataset", repo_type="dataset")
    folder = make_build(tmp_path / "demo", {"train": 1})
    result = run_cli("push", str(folder), "--repo", REPO, "--revision", "humc")
    assert result.exit_code == 2 and "error[E5003]" in result.output, result.output
    assert sorted(hub.state.repo(REPO).branches) == ["main"]  # the refused push left no branch behind
    assert "branch main, which the new branch humc would start from" in result.output


def test_a_connection_cut_mid_upload_is_retried_and_one_cut_while_committing_says_the_commit_may_have_been_made(
        hub: HubHTTPServer, tmp_path: Path) -> None:
    folder = make_build(tmp_path / "demo", {"train": 1})
    hub.state.fail("lfs-upload", CUT)  # the client sends the shard again
    assert push_dataset(folder, REPO).changed and remote_files(hub) == local_files(folder)
    make_build(folder, {"train": 2}, tag="v2")
    hub.state.fail("commit", CUT)  # no answer: the Hub may have made it (this server did not)
    result = run_cli("push", str(folder), "--repo", REPO)
    assert result.exit_code == 2 and "error[E5001]" in result.output, result.output
    assert "broke while it made the commit" in result.output and "may have applied the commit" in result.output
    assert "nothing was published" not in result.output and "Traceback" not in result.output
    uploads = sum(1 for m, _ in hub.state.requests if m == "PUT")
    assert push_dataset(folder, REPO).changed and remote_files(hub) == local_files(folder)  # the same command again
    assert sum(1 for m, _ in hub.state.requests if m == "PUT") == uploads  # its shards were not sent twice


def test_a_repository_holding_only_a_card_or_an_earlier_humc_build_is_published_to(hub: HubHTTPServer,
                                                                                  tmp_path: Path) -> None:
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi(endpoint=hub.url, token=TOKEN)
    api.create_repo(REPO, repo_type="dataset")
    api.create_commit(REPO, [CommitOperationAdd("README.md", b"# Coming soon\n")], commit_message="card",
                      repo_type="dataset")
    folder = make_build(tmp_path / "demo", {"train": 1})
    assert push_dataset(folder, REPO).changed and remote_files(hub) == local_files(folder)
    api.create_commit(REPO, [CommitOperationAdd("NOTES.md", b"our notes\n")], commit_message="notes", repo_type="dataset")
    make_build(folder, {"train": 2}, tag="v2")  # a repository humc published to keeps the files added beside it
    assert push_dataset(folder, REPO).changed and remote_files(hub) == {**local_files(folder), "NOTES.md": b"our notes\n"}


def test_a_repository_holding_another_recipes_build_is_refused_unless_replace_is_passed(hub: HubHTTPServer,
                                                                                       tmp_path: Path) -> None:
    """Pushing recipe `other` where recipe `demo` is published replaced demo's dataset and deleted its shards, with
    only "N stale file(s) deleted" said: now E5003 naming both recipes, nothing changed; `--replace` publishes."""
    demo = make_build(tmp_path / "demo", {"train": 2})
    assert push_dataset(demo, REPO).changed
    before, history = remote_files(hub), [c.oid for c in hub.state.history(REPO)]
    other = make_build(tmp_path / "other", {"train": 1}, tag="v2")
    result = run_cli("push", str(other), "--repo", REPO)
    assert result.exit_code == 2 and "error[E5003]" in result.output, result.output
    assert "holds the dataset of recipe 'demo', not of 'other'" in result.output and "--replace" in result.output
    assert remote_files(hub) == before and [c.oid for c in hub.state.history(REPO)] == history
    make_build(demo, {"train": 1}, tag="v3")  # the same recipe rebuilt: published over its own dataset as before
    assert push_dataset(demo, REPO).changed and remote_files(hub) == local_files(demo)
    result = run_cli("push", str(other), "--repo", REPO, "--replace")
    assert result.exit_code == 0, result.output
    assert remote_files(hub) == local_files(other)


def test_concurrent_remote_change_is_detected(hub: HubHTTPServer, tmp_path: Path, monkeypatch) -> None:
    import humc.dataset.hub as publish

    folder = tmp_path / "demo"
    make_build(folder, {"train": 1}, tag="v1")
    push_dataset(folder, REPO)
    make_build(folder, {"train": 1}, tag="v2")
    real = publish._remote_files

    def racing(api, repo_id, branch, token):  # someone else commits between our check and our commit
        out = list(real(api, repo_id, branch, token))
        repo = hub.state.repo(REPO)
        head = hub.state.history(REPO)[0]
        hub.state.new_commit(repo, "main", head.oid, dict(head.tree), "someone else", "")
        return iter(out)

    monkeypatch.setattr(publish, "_remote_files", racing)
    with pytest.raises(PublishError) as err:
        push_dataset(folder, REPO)
    assert "412" in err.value.render() and "again" in (err.value.hint or "")


def test_unreachable_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    srv = HubHTTPServer(TOKEN)
    url = srv.url
    srv.server_close()                                        # nothing listens there any more
    folder = make_build(tmp_path / "demo", {"train": 1})
    with pytest.raises(PublishError) as err:
        push_dataset(folder, REPO, token=TOKEN, endpoint=url)
    assert "cannot reach" in err.value.message


@pytest.mark.parametrize("damage", ["no-manifest", "missing-shard", "edited-shard", "empty-dir"])
def test_incomplete_build_is_refused(hub: HubHTTPServer, tmp_path: Path, damage: str) -> None:
    folder = make_build(tmp_path / "demo", {"train": 2})
    shard = folder / "data" / "train-00001-of-00002.parquet"
    if damage == "no-manifest":
        (folder / MANIFEST).unlink()
    elif damage == "missing-shard":
        shard.unlink()
    elif damage == "edited-shard":
        shard.write_bytes(shard.read_bytes() + b"x")
    else:
        folder = tmp_path / "empty"
        folder.mkdir()
    with pytest.raises(PublishError) as err:
        push_dataset(folder, REPO)
    assert "humc build" in (err.value.hint or "")
    assert hub.state.requests == []


# ---------------------------------------------------------------------------- CLI


def test_cli_push_folder(hub: HubHTTPServer, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from humc.cli import main

    folder = make_build(tmp_path / "demo", {"train": 2})
    runner = CliRunner()
    res = runner.invoke(main, ["push", str(folder), "--repo", REPO])
    assert res.exit_code == 0, res.output
    assert "published" in res.output and "commit" in res.output
    assert remote_files(hub) == local_files(folder)
    res = runner.invoke(main, ["push", str(folder), "--repo", REPO])
    assert res.exit_code == 0 and "nothing to publish" in res.output


def test_cli_push_to_a_new_branch_of_the_same_build_says_it_created_the_branch(hub: HubHTTPServer,
                                                                               tmp_path: Path) -> None:
    from click.testing import CliRunner

    from humc.cli import main

    folder = make_build(tmp_path / "demo", {"train": 2})
    runner = CliRunner()
    assert runner.invoke(main, ["push", str(folder), "--repo", REPO]).exit_code == 0
    commits = len(hub.state.history(REPO))
    res = runner.invoke(main, ["push", str(folder), "--repo", REPO, "--revision", "v2"])
    assert res.exit_code == 0, res.output
    assert "created branch v2 of humc-test/demo (from main)" in res.output
    assert "holds" in res.output and "no commit needed" in res.output and "nothing to publish" not in res.output
    assert remote_files(hub, "v2") == local_files(folder) and len(hub.state.history(REPO, "v2")) == commits
    again = runner.invoke(main, ["push", str(folder), "--repo", REPO, "--revision", "v2"])
    assert again.exit_code == 0 and "nothing to publish" in again.output and "created branch" not in again.output


def test_a_push_to_a_hub_server_without_xet_storage_says_to_set_hf_hub_disable_xet(hub: HubHTTPServer, tmp_path: Path,
                                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The loopback Hub, like many mirrors, has only the classic LFS transfer; the client uploads through Xet whenever
    hf_xet is installed, and hf_xet calls the server's 404 a network error. The push names the switch instead."""
    pytest.importorskip("hf_xet")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)
    folder = make_build(tmp_path / "demo", {"train": 1})
    res = run_cli("push", str(folder), "--repo", REPO)
    assert res.exit_code == 2, res.output
    assert "error[E5001]" in res.output and "offers no Xet storage" in res.output
    assert "hint: set HF_HUB_DISABLE_XET=1" in res.output and "check the network connection" not in res.output
    assert "nothing was published" in res.output
    assert "deleted the repository humc-test/demo, which this push had created" in res.output
    assert hub.state.repos == {}   # the repository was made, no data sent: the failed push deleted it again


def test_cli_push_errors_exit_2(hub: HubHTTPServer, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from humc.cli import main

    folder = make_build(tmp_path / "demo", {"train": 1})
    runner = CliRunner()
    for args, needle in [([str(folder)], "--repo"), ([str(folder), "--repo", "nope"], "repository id"),
                         ([str(tmp_path / "missing")], "does not exist"),
                         ([str(folder / MANIFEST), "--repo", REPO], "hint: pass a recipe (.yaml) or a built dataset")]:
        res = runner.invoke(main, ["push", *args])
        assert res.exit_code == 2, (args, res.output)
        assert "error[E" in res.output and needle in res.output and "Traceback" not in res.output
    hub.state.fail("commit", 500)
    res = runner.invoke(main, ["push", str(folder), "--repo", REPO, "--revision", "dev"])
    assert res.exit_code == 2 and "500" in res.output


def test_push_recipe_output_uses_publish_block(hub: HubHTTPServer, tmp_path: Path, monkeypatch) -> None:
    from humc.build import compiler
    from humc.build.compiler import push_recipe as push_recipe_output
    from humc.ir import Publish

    monkeypatch.setattr(compiler, "_check_build_is_current", lambda recipe: None)  # a fake recipe: no plan

    folder = make_build(tmp_path / "out" / "demo", {"train": 1})
    recipe = SimpleNamespace(name="demo", output=SimpleNamespace(dir=folder),
                             publish=Publish(repo=REPO, private=True, revision=None))
    result = push_recipe_output(recipe)
    assert result.changed and hub.state.repo(REPO).private
    with pytest.raises(PublishError) as err:
        push_recipe_output(SimpleNamespace(name="demo", output=SimpleNamespace(dir=folder), publish=None))
    assert "publish.repo" in err.value.message


# ---------------------------------------------------------------------------- a real recipe, end to end


def test_build_push_without_a_repository_or_a_token_stops_before_it_builds(hub: HubHTTPServer, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner
    from helpers import copy_recipes

    from humc.cli import main

    recipes = copy_recipes(tmp_path)
    build = ["build", "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"), "-q", "--push"]
    no_repo = CliRunner().invoke(main, [*build, str(recipes / "ner.hum.yaml")])  # the example has no publish: block
    assert no_repo.exit_code == 2 and "error[E5001]" in no_repo.output and "no publish.repo" in no_repo.output
    monkeypatch.delenv("HF_TOKEN")
    no_token = CliRunner().invoke(main, [*build, str(recipes / "mrc.hum.yaml")])
    assert no_token.exit_code == 2 and "no Hugging Face token found" in no_token.output
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()  # nothing built, nothing written
    assert hub.state.requests == []


def test_build_push_of_an_example_recipe_loads_back_from_the_hub(hub: HubHTTPServer, tmp_path: Path) -> None:
    import datasets
    from click.testing import CliRunner
    from helpers import copy_recipes
    from huggingface_hub import DatasetCard, snapshot_download

    from humc.cli import main

    recipes = copy_recipes(tmp_path)
    recipe = recipes / "mrc.hum.yaml"
    recipe.write_text(recipe.read_text().replace("repo: your-org/humc-mrc", f"repo: {REPO}"), encoding="utf-8")
    res = CliRunner().invoke(main, ["build", str(recipe), "--out", str(tmp_path / "out"),
                                    "--cache", str(tmp_path / "cache"), "-q", "--push"])
    assert res.exit_code == 0, res.output
    assert f"published {tmp_path / 'out' / 'mrc'}" in res.output

    local = tmp_path / "out" / "mrc"
    downloaded = Path(snapshot_download(REPO, repo_type="dataset", local_dir=tmp_path / "download"))
    remote = {k: v for k, v in local_files(downloaded).items() if not k.startswith((".cache", ".gitattributes"))}
    assert remote == local_files(local)

    ds = datasets.load_dataset(str(downloaded), cache_dir=str(tmp_path / "hf-datasets"))
    manifest = json.loads((local / MANIFEST).read_text())
    assert {split: ds[split].num_rows for split in ds} == manifest["counts"]
    card = DatasetCard.load(REPO, repo_type="dataset")
    assert card.data.task_ids == ["extractive-qa"] and card.data.source_datasets == ["rajpurkar/squad_v2"]
    assert manifest["fingerprint"] in card.text

    again = CliRunner().invoke(main, ["push", str(recipe), "--out", str(tmp_path / "out")])
    assert again.exit_code == 0 and "nothing to publish" in again.output

    recipe.write_text(recipe.read_text().replace("license: cc-by-sa-4.0", "license: mit"), encoding="utf-8")
    stale = CliRunner().invoke(main, ["push", str(recipe), "--out", str(tmp_path / "out")])
    assert stale.exit_code == 2 and "is out of date" in stale.output


def test_build_push_without_a_repository_names_a_way_that_exists_and_builds_nothing(tmp_path):
    from helpers import copy_recipes

    recipe = copy_recipes(tmp_path) / "re.hum.yaml"  # no publish: block
    res = run_cli("build", str(recipe), "--out", str(tmp_path / "out"), "-q", "--push")
    assert res.exit_code == 2 and "error[E5001]: recipe 're' has no publish.repo" in res.output
    assert "`humc push RECIPE --repo ORG/NAME`" in res.output and "or pass --repo" not in res.output  # build has no --repo
    assert not (tmp_path / "out").exists()
    res = run_cli("push", str(recipe))
    assert res.exit_code == 2 and "or pass --repo ORG/NAME" in res.output


@pytest.mark.parametrize("repo_id", ["my-org/data\n", "my-org/my-data", "my-org/data.git", "org/" + "x" * 97])
def test_humc_check_accepts_exactly_the_publish_repo_ids_the_hub_client_accepts(tmp_path: Path, repo_id: str) -> None:
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils._validators import validate_repo_id

    case = Path(__file__).parent / "corpus" / "bad" / "output" / "publish-repo-invalid"
    (tmp_path / "data.jsonl").write_bytes((case / "data.jsonl").read_bytes())
    recipe = (case / "recipe.hum.yaml").read_text(encoding="utf-8").replace("repo: my-org/my dataset",
                                                                          f"repo: {json.dumps(repo_id)}")
    (tmp_path / "r.hum.yaml").write_text(recipe, encoding="utf-8")
    try:
        validate_repo_id(repo_id)
        hub_accepts = True
    except HFValidationError:
        hub_accepts = False
    res = run_cli("check", str(tmp_path / "r.hum.yaml"))
    assert ("error[E0008]: invalid repository id" in res.output) is not hub_accepts, res.output
    assert res.exit_code == (0 if hub_accepts else 2), res.output
