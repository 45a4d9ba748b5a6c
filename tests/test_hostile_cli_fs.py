"""Hostile command lines, folders and environments, found by a sweep of every subcommand and option beyond a plain
`humc build RECIPE` (each case once corrupted a dataset, ignored an option silently or wrote somewhere unasked):
each is now a compiler-style error with exit code 2, and nothing is written."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, run_cli, tiny_recipe, tree_bytes

ROWS = [{"context": "Paris is in France.", "question": "Where is Paris?", "answers": ["France"]},
        {"context": "Rome is in Italy.", "question": "Where is Rome?", "answers": ["Italy"]}]


def recipe_in(folder: Path, name: str = "tiny") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    path = folder / f"{name}.hum.yaml"
    path.write_text(tiny_recipe().replace("name: tiny", f"name: {name}"), encoding="utf-8")
    return path


def built(tmp: Path) -> tuple[Path, Path]:
    """A recipe and its dataset, built to tmp/out/tiny with the cache in tmp/cache."""
    recipe = recipe_in(tmp / "r")
    result = run_cli("build", str(recipe), "-q", "--out", str(tmp / "out"), "--cache", str(tmp / "cache"))
    assert result.exit_code == 0, result.output
    return recipe, tmp / "out" / "tiny"


def test_an_output_or_cache_folder_inside_a_built_dataset_is_refused_and_the_dataset_kept(tmp_path: Path) -> None:
    """`--out out/tiny` wrote a second dataset inside the first (out/tiny/tiny): the first one's next build then
    failed with E3003 on files it did not write, and its push would have carried them; a cache there did the same."""
    recipe, dataset = built(tmp_path)
    before = tree_bytes(dataset)
    other = recipe_in(tmp_path / "other", "other")
    for options, said in ((["--out", str(dataset)], "the output folder"),
                          (["--out", str(dataset / "data"), "--cache", str(tmp_path / "c2")], "the output folder"),
                          (["--out", str(tmp_path / "o2"), "--cache", str(dataset / "cache")], "the cache folder")):
        for path in (recipe, other):
            result = run_cli("build", str(path), "-q", *options)
            assert result.exit_code == 2, result.output
            assert "error[E3002]" in result.output and f"{said} " in result.output
            assert f"is inside the built dataset {dataset}" in result.output
            assert tree_bytes(dataset) == before
    assert not (tmp_path / "o2").exists() and not (tmp_path / "c2").exists()
    rebuilt = run_cli("build", str(recipe), "-q", "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
    assert rebuilt.exit_code == 0, rebuilt.output


def proposed_lock(folder: Path) -> Path:
    """The tiny recipe's lockfile with one proposed template."""
    lock = recipe_in(folder).with_suffix(".lock")  # tiny.hum.lock
    lock.write_text("humc_lock: 1\nrecipe: tiny\nitems:\n- id: 614eae8e70\n  kind: template\n  entry: qa\n"
                    "  status: proposed\n  origin: human\n  base: en_1\n  language: en\n"
                    "  text: 'Q: {{ question }} C: {{ context }}'\n", encoding="utf-8")
    return lock


def test_review_list_with_accept_all_or_reject_all_is_refused_not_a_silent_no_op(tmp_path: Path) -> None:
    """`humc review --list --accept-all` listed the items, accepted none and exited 0, as if done."""
    lock = proposed_lock(tmp_path)
    text = lock.read_text(encoding="utf-8")
    for decision in ("--accept-all", "--reject-all"):
        result = run_cli("review", str(lock), "--list", decision)
        assert result.exit_code == 2, result.output
        assert "error[E0008]" in result.output and "--list excludes --accept-all and --reject-all" in result.output
        assert lock.read_text(encoding="utf-8") == text
    assert "1 proposed" in run_cli("review", str(lock), "--list").output


def ascii_locale() -> dict[str, str]:
    """The C locale without Python's UTF-8 mode: file names and stdout are ASCII."""
    return {**os.environ, "LC_ALL": "POSIX", "LANG": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": "",
            "PYTHONPATH": str(REPO)}


def humc(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "humc", *args], env=env, cwd=cwd, capture_output=True, timeout=120)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file names are bytes")
def test_an_output_folder_whose_name_is_not_utf8_is_refused_before_the_write(tmp_path: Path) -> None:
    """A recipe unpacked into a folder named in Latin-1 bytes (`d\\xe9`) failed in the Parquet write with an internal
    UnicodeEncodeError (exit 3); the dataset's files are UTF-8 names, so the folder is refused up front."""
    home = tmp_path / os.fsdecode(b"d\xe9")
    recipe = recipe_in(home)
    result = run_cli("build", str(recipe), "-q", "--cache", str(tmp_path / "cache"))
    assert result.exit_code == 2, result.output
    assert "error[E3002]" in result.output and "d\\xe9/out/tiny cannot be named as UTF-8 text" in result.output
    assert "d\\udce9/tiny.hum.yaml:2:7:" in result.output  # at `name`, which chose the folder
    assert not (home / "out").exists()
    result = run_cli("build", str(recipe_in(tmp_path / "ok")), "-q", "--out", str(home / "o"))
    assert result.exit_code == 2 and "(from --out)" in result.output


@pytest.mark.skipif(sys.platform == "win32", reason="the C locale")
def test_an_ascii_locale_escapes_what_it_cannot_print_and_locates_a_path_it_cannot_name(tmp_path: Path) -> None:
    """LANG=C without Python's UTF-8 mode: `humc stdlib templates ner` (Chinese templates) and a recipe naming
    `données.jsonl` both ended in an internal UnicodeEncodeError, exit 3."""
    shown = humc("stdlib", "templates", "ner", env=ascii_locale())
    assert shown.returncode == 0, shown.stderr
    assert b"internal error" not in shown.stderr and b"\\u" in shown.stdout
    recipe = recipe_in(tmp_path)
    recipe.write_text(recipe.read_text(encoding="utf-8").replace("qa: data.jsonl", "qa: données.jsonl"),
                      encoding="utf-8")
    checked = humc("check", str(recipe), env=ascii_locale())
    assert checked.returncode == 2, checked.stderr
    text = checked.stderr.decode("ascii", "backslashreplace")
    assert f"{recipe}:4:7: error[E0009]" in text and "file name encoding (ascii)" in text
    assert "PYTHONUTF8=1" in text


def limited(max_file_bytes: int, *args: str) -> subprocess.CompletedProcess[bytes]:
    """humc in a process whose files may not grow past ``max_file_bytes`` (`ulimit -f`, a FAT32 stick: EFBIG)."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    return subprocess.run([sys.executable, "-m", "humc", *args], env={**os.environ, "PYTHONPATH": str(REPO)},
                          preexec_fn=limit, capture_output=True, timeout=300)


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE")
def test_a_shard_over_a_file_size_limit_is_e3002_and_the_rebuild_is_identical(tmp_path: Path) -> None:
    """A shard larger than the file system allows (EFBIG, `ulimit -f`) ended the build with an internal OSError (exit
    3); it is a place that cannot be written, like a full disk, with nothing written."""
    recipe = recipe_in(tmp_path / "r")
    noise = random.Random(0)  # text Parquet cannot compress: shards much larger than the cache's index
    rows = [{"context": " ".join(f"{noise.getrandbits(40):x}" for _ in range(300)) + f" Paris{i}.",
             "question": f"Which city {i}?", "answers": [f"Paris{i}"]} for i in range(150)]
    (recipe.parent / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    first = run_cli("build", str(recipe), "-q", "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
    assert first.exit_code == 0, first.output
    shard = max((tmp_path / "out" / "tiny" / "data").iterdir(), key=lambda p: p.stat().st_size)
    cut = limited(shard.stat().st_size // 2, "build", str(recipe), "-q", "--out", str(tmp_path / "out2"), "--cache",
                  str(tmp_path / "cache"))
    assert cut.returncode == 2, cut.stderr
    said = cut.stderr.decode()
    assert "error[E3002]: cannot write the dataset" in said and "File too large" in said
    assert "output.shard_rows" in said and "internal error" not in said
    assert not (tmp_path / "out2").exists() or not any((tmp_path / "out2").iterdir())
    again = run_cli("build", str(recipe), "-q", "--out", str(tmp_path / "out2"), "--cache", str(tmp_path / "cache"))
    assert again.exit_code == 0, again.output
    assert tree_bytes(tmp_path / "out2" / "tiny") == tree_bytes(tmp_path / "out" / "tiny")


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE")
def test_schema_out_on_a_full_disk_keeps_the_previous_file_not_half_a_schema(tmp_path: Path) -> None:
    """`humc schema --out FILE` wrote straight into FILE: a full disk left the first 1000 bytes of the schema in it."""
    target = tmp_path / "recipe.schema.json"
    previous = (REPO / "docs/recipe.schema.json").read_bytes()[:999]  # a schema humc wrote (it replaces only one)
    target.write_bytes(previous)
    cut = limited(1000, "schema", "--out", str(target))
    assert cut.returncode == 2 and b"error[E3002]: cannot write" in cut.stderr and b"File too large" in cut.stderr
    assert target.read_bytes() == previous and [p.name for p in tmp_path.iterdir()] == [target.name]


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE")
def test_a_review_decision_that_cannot_be_saved_is_e3002_and_the_lockfile_kept(tmp_path: Path) -> None:
    """The lockfile's atomic save kept the file on a full disk but ended `humc review` with an internal OSError."""
    lock = proposed_lock(tmp_path)
    before = lock.read_bytes()
    cut = limited(len(before) // 2, "review", str(lock), "--accept-all")
    assert cut.returncode == 2, cut.stderr
    assert b"error[E3002]: cannot save the lockfile" in cut.stderr and b"File too large" in cut.stderr
    assert lock.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["data.jsonl", "tiny.hum.yaml", "tiny.hum.lock"])


def test_cache_gc_on_a_damaged_index_is_e4401_pointing_at_verify_which_mends_it(tmp_path: Path) -> None:
    """A cache index damaged inside (a page overwritten) ended `humc cache gc` in VACUUM with an internal
    DatabaseError; now E4401 says to run `humc cache verify`, after which gc and the build go through."""
    recipe, dataset = built(tmp_path)
    index = tmp_path / "cache" / "cache.db"
    with open(index, "r+b") as f:
        f.seek(index.stat().st_size // 2)
        f.write(b"\xff" * 8192)
    cache = ["--cache", str(tmp_path / "cache")]
    damaged = run_cli("cache", "gc", str(recipe), *cache)
    assert damaged.exit_code == 2, damaged.output
    assert "error[E4401]: cannot reclaim space in the build cache" in damaged.output
    assert "its index is damaged" in damaged.output and "humc cache verify" in damaged.output
    assert run_cli("cache", "verify", *cache).exit_code == 0
    assert run_cli("cache", "gc", str(recipe), *cache).exit_code == 0
    before = tree_bytes(dataset)
    again = run_cli("build", str(recipe), "-q", "--out", str(tmp_path / "out2"), *cache)
    assert again.exit_code == 0, again.output
    assert tree_bytes(tmp_path / "out2" / "tiny") == before


@pytest.mark.skipif(not Path("/dev/stdin").exists(), reason="/dev/stdin")
def test_a_recipe_read_from_stdin_builds_only_into_folders_the_command_line_names(tmp_path: Path) -> None:
    """`humc build /dev/stdin < r.hum.yaml` wrote the dataset to /dev/out and its cache to /dev/.humc (the folder
    of /dev/stdin: memory, gone at the next boot); `humc check /dev/stdin` still reads it."""
    recipe = recipe_in(tmp_path / "r")
    text = recipe.read_text(encoding="utf-8").replace("qa: data.jsonl", f"qa: {recipe.parent / 'data.jsonl'}")
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def piped(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "humc", *args], input=text.encode(), env=env,
                              capture_output=True, timeout=120)

    refused = piped("build", "/dev/stdin", "-q", "--out", str(tmp_path / "out"))
    assert refused.returncode == 2, refused.stderr
    said = refused.stderr.decode()
    assert "error[E3002]: the recipe is read from /dev/stdin, a stream with no folder of its own" in said
    assert "/dev/.humc/cache is no place for its cache" in said and "pass --cache" in said
    assert not Path("/dev/.humc").exists() and not (tmp_path / "out").exists()
    assert piped("check", "/dev/stdin").returncode == 0
    done = piped("build", "/dev/stdin", "-q", "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "tiny" / "build.json").is_file()


def test_an_empty_path_argument_is_a_usage_error_not_the_current_folder(tmp_path: Path) -> None:
    """`humc export DATASET --to alpaca "$OUT"` with OUT unset wrote train.json and test.json into the current folder;
    `humc push ""` published the current folder."""
    _, dataset = built(tmp_path)
    work = tmp_path / "cwd"
    work.mkdir()
    for args, name in ((["export", str(dataset), "--to", "alpaca", ""], "OUT_DIR"),
                       (["export", str(dataset), "--to", "alpaca", str(tmp_path / "e"), "--out", ""], "--out"),
                       (["push", "", "--repo", "org/name"], "RECIPE_OR_OUTPUT_DIR"),
                       (["eval", "", "--predictions", os.devnull], "DATASET_DIR_OR_RECIPE")):
        result = run_cli(*args, cwd=work)
        assert result.exit_code == 2, (args, result.output)
        assert f"error[E9001]: invalid value for {name}: the " in result.output and "is an empty text" in result.output
        assert not any(work.iterdir()) and not (tmp_path / "e").exists()


def test_eval_never_writes_its_report_over_the_predictions_or_the_other_report(tmp_path: Path) -> None:
    """`--report P.jsonl` with `--predictions P.jsonl` replaced the model's answers with the report, and `--report X
    --markdown X` the JSON report with the Markdown one, each saying `wrote`."""
    _, dataset = built(tmp_path)
    answers = tmp_path / "p.jsonl"
    answers.write_text('{"id": "x", "prediction": "France"}\n', encoding="utf-8")
    report = tmp_path / "r.json"
    report.write_text("{}", encoding="utf-8")
    scored = ["eval", str(dataset), "--split", "train", "--predictions", str(answers)]
    for args, said in (([*scored, "--report", str(answers)], "--report"),
                       ([*scored, "--markdown", f"{tmp_path}/./p.jsonl"], "--markdown"),
                       ([*scored, "--report", str(tmp_path / "x"), "--markdown", str(tmp_path / "x")], "--markdown"),
                       (["eval", "--compare", str(report), str(report), "--report", str(report)], "--report")):
        result = run_cli(*args)
        assert result.exit_code == 2, result.output
        assert f"error[E9001]: {said} " in result.output and "is the file --" in result.output
    assert answers.read_text(encoding="utf-8") == '{"id": "x", "prediction": "France"}\n'
    assert report.read_text(encoding="utf-8") == "{}" and not (tmp_path / "x").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links")
def test_a_dataset_folder_that_is_a_symbolic_link_is_refused_and_the_link_kept(tmp_path: Path) -> None:
    """out/tiny -> another disk's folder: the build swapped a new folder in for the link and left the link behind as
    `.tiny.old-<pid>` for good; a link to another recipe's dataset had it replaced by this one's. A linked output
    root still works."""
    recipe, dataset = built(tmp_path)
    before = tree_bytes(dataset)
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "tiny").symlink_to(dataset)
    result = run_cli("build", str(recipe), "-q", "--out", str(tmp_path / "linked"), "--cache", str(tmp_path / "cache"))
    assert result.exit_code == 2, result.output
    assert "error[E3002]: cannot write the dataset to" in result.output and "it is a symbolic link" in result.output
    assert f"pass --out {tmp_path / 'out'}" in result.output
    assert [p.name for p in (tmp_path / "linked").iterdir()] == ["tiny"] and (tmp_path / "linked" / "tiny").is_symlink()
    assert tree_bytes(dataset) == before
    (tmp_path / "root").symlink_to(tmp_path / "out")
    again = run_cli("build", str(recipe), "-q", "--out", str(tmp_path / "root"), "--cache", str(tmp_path / "cache"))
    assert again.exit_code == 0, again.output
    assert tree_bytes(dataset) == before
