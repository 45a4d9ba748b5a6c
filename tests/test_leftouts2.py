"""Left-outs of the last stop, each stated on the error, warning or output a user sees."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import REPO, run_cli

CONLL = REPO / "recipes" / "data" / "conll2003" / "eng.testa.head40"


def _catalog_recipe(tmp: Path, fields: str, extra: str = "") -> Path:
    """A recipe over the CoNLL-2003 adapter whose task entry adds ``fields`` (YAML lines) to the adapter's."""
    shutil.copy(CONLL, tmp / "eng.testa")
    (tmp / "c.hum.yaml").write_text(
        "hum: 1\nname: c\nsources:\n  conll: {catalog: conll2003, path: eng.testa}\ntasks:\n  - source: conll\n"
        f"    fields:\n{fields}{extra}    formats: [json]\n", encoding="utf-8")
    return tmp / "c.hum.yaml"


def _check_json(recipe: Path, *more: str) -> dict[str, object]:
    result = run_cli("--format", "json", "check", str(recipe), *more)
    return json.loads(result.output[result.output.index("{\n"):])  # type: ignore[no-any-return]


# ------------------------------------------------------------------ 1. a mapped field nothing reads


def test_a_misspelt_field_beside_a_catalog_adapters_fields_is_an_error_at_its_key(tmp_path: Path) -> None:
    recipe = _catalog_recipe(tmp_path, '      txt: tokens | join("_")\n')
    report = _check_json(recipe)
    assert report["ok"] is False and report["exit_code"] == 2
    (diag,) = report["diagnostics"]  # type: ignore[misc]
    assert diag["code"] == "E2010"
    assert (diag["line"], diag["column"]) == (8, 7)  # the key `txt`, not its value
    assert "field 'txt'" in diag["message"] and "nothing reads it" in diag["message"]
    assert diag["hint"] == "did you mean 'text'?"


def test_every_unread_field_is_named_and_the_text_form_points_at_the_key(tmp_path: Path) -> None:
    recipe = _catalog_recipe(tmp_path, '      txt: tokens | join("_")\n      entites: "[]"\n')
    result = run_cli("check", str(recipe))
    assert result.exit_code == 2
    assert "c.hum.yaml:8:7: error[E2010]" in result.output
    assert "also unread: entites" in result.output


@pytest.mark.parametrize("extra", [
    "    where: len(title) > 0\n",                                      # a filter reads it
    "    split_by: title\n",                                            # the split key reads it
    '    preferences: ["when len(title) > 3 then empty_as(\\"none\\")"]\n',  # a rule's `when` reads it
])
def test_a_field_read_by_a_filter_split_key_or_rule_is_no_error(tmp_path: Path, extra: str) -> None:
    recipe = _catalog_recipe(tmp_path, "      title: tokens[0]\n", extra)
    report = _check_json(recipe)
    assert report["ok"] is True, report


def test_overriding_an_adapters_field_and_its_optional_fields_are_no_error(tmp_path: Path) -> None:
    recipe = _catalog_recipe(tmp_path, '      text: tokens | join("_")\n      schema_labels: \'["PER", "LOC"]\'\n')
    assert _check_json(recipe)["ok"] is True


def test_an_unread_field_of_a_plain_entry_is_an_error_too(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text('{"text": "a", "label": "x", "note": "n"}\n', encoding="utf-8")
    (tmp_path / "p.hum.yaml").write_text(
        "hum: 1\nname: p\nsources:\n  s: d.jsonl\ntasks:\n  - task: classification\n    source: s\n"
        "    fields: {text: text, label: label, option_labels: note}\n", encoding="utf-8")
    (diag,) = _check_json(tmp_path / "p.hum.yaml")["diagnostics"]  # type: ignore[misc]
    assert diag["code"] == "E2010" and (diag["line"], diag["column"]) == (8, 40)
    assert "option_labels" in diag["message"]



# ------------------------------------------------------------------ 2. a source column named `record`


RECORD_ROWS = '{"record": "The cat sat.", "label": "pos", "mood": 1}\n{"record": "A bad day.", "label": "neg", "mood": 0}\n'


def _record_recipe(tmp: Path, text: str, label: str = "label") -> Path:
    (tmp / "d.jsonl").write_text(RECORD_ROWS, encoding="utf-8")
    (tmp / "r.hum.yaml").write_text(
        "hum: 1\nname: r\nsources:\n  s: d.jsonl\ntasks:\n  - id: c\n    task: classification\n    source: s\n"
        f"    fields: {{text: {text}, label: {label}}}\n    templates: [en_1]\noutput: {{splits: {{train: 1.0}}}}\n",
        encoding="utf-8")
    return tmp / "r.hum.yaml"


@pytest.mark.parametrize(("text", "column"), [("record", 20), ("'record | lower'", 21), ("'len(record) | str'", 25)])
def test_a_bare_record_over_a_record_column_is_an_error_naming_how_to_read_it(tmp_path: Path, text: str,
                                                                              column: int) -> None:
    recipe = _record_recipe(tmp_path, text)
    for command in (("check", str(recipe)), ("build", str(recipe), "-q", "-j", "1")):
        result = run_cli(*command, cwd=tmp_path)
        assert result.exit_code == 2, result.output
        assert f"r.hum.yaml:9:{column}: error[E4102]" in result.output
        assert "has a column named 'record'" in result.output and 'record["record"]' in result.output
    assert not (tmp_path / "out").exists()  # nothing written


def test_the_column_read_as_record_record_and_whole_row_uses_build(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    recipe = _record_recipe(tmp_path, "'record[\"record\"]'", "'get(record, \"label\")'")
    result = run_cli("build", str(recipe), "-q", "-j", "1", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    rows = [r for p in sorted((tmp_path / "out" / "r" / "data").glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    assert sorted(json.loads(r["gold"])[0]["label"] for r in rows) == ["neg", "pos"]
    assert any("The cat sat." in r["instruction"] for r in rows)



# ------------------------------------------------------------------ 3. identical texts of different rows


def _dateline_splits(tmp: Path, split_by: str) -> dict[str, set[str]]:
    """A 50/50 build over 48 rows where every 4th is the dateline "LONDON 1996-08-30" (labels differ, so dedup keeps
    them): the splits each input text is written in."""
    import pyarrow.parquet as pq

    tmp.mkdir()
    rows = [{"text": "LONDON 1996-08-30" if i % 4 == 0 else f"Sentence {i} about Paris.",
             "label": ("a" if i % 8 == 0 else "b") if i % 4 == 0 else "a"} for i in range(48)]
    (tmp / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (tmp / "d.hum.yaml").write_text(
        "hum: 1\nname: d\nlicense: mit\nsources:\n  s: d.jsonl\ntasks:\n  - id: c\n    task: classification\n"
        f"    source: s\n    fields: {{text: text, label: label}}\n    templates: [en_1]\n{split_by}"
        "output:\n  splits: {train: 0.5, test: 0.5}\n", encoding="utf-8")
    result = run_cli("build", "d.hum.yaml", "-q", "-j", "1", cwd=tmp)
    assert result.exit_code == 0, result.output
    splits: dict[str, set[str]] = {}
    for shard in sorted((tmp / "out" / "d" / "data").glob("*.parquet")):
        for r in pq.read_table(shard).to_pylist():
            text = rows[r["source_row"]]["text"]
            assert text in r["instruction"]
            splits.setdefault(text, set()).add(shard.name.split("-")[0])
    return splits


def test_split_by_text_keeps_identical_texts_of_different_rows_in_one_split(tmp_path: Path) -> None:
    """The README's documented resolution: rows are split one by one, so the dateline of six rows lands in train
    and test; `split_by: text` puts every row of one text in one split."""
    assert _dateline_splits(tmp_path / "rows", "")["LONDON 1996-08-30"] == {"train", "test"}
    by_text = _dateline_splits(tmp_path / "text", "    split_by: text\n")
    assert all(len(names) == 1 for names in by_text.values()) and len(by_text) == 37


# ------------------------------------------------------------------ 4. archive members live in the build's cache


MEMBER_RECIPE = """hum: 1
name: m
sources:
  sst2: {catalog: sst2, path: SST-2.zip, member: SST-2/dev.tsv}
tasks:
  - source: sst2
output: {splits: {train: 1.0}}
"""


def _sst2_zip(path: Path) -> Path:
    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        z.write(REPO / "tests" / "data" / "sst2" / "dev.head8.tsv", "SST-2/dev.tsv")
    return path


def test_an_archive_member_is_extracted_once_into_the_builds_cache_and_reused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    from humc import sources_readers

    system_temp = tmp_path / "system-temp"
    system_temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_temp))
    _sst2_zip(tmp_path / "SST-2.zip")
    (tmp_path / "m.hum.yaml").write_text(MEMBER_RECIPE, encoding="utf-8")
    first = run_cli("build", "m.hum.yaml", "-q", "-j", "1", cwd=tmp_path)
    assert first.exit_code == 0, first.output
    (extracted,) = (tmp_path / ".humc" / "cache" / "archives").glob("*/SST-2/dev.tsv")
    assert extracted.read_bytes() == (REPO / "tests" / "data" / "sst2" / "dev.head8.tsv").read_bytes()
    assert not any(system_temp.rglob("dev.tsv"))  # nothing in the system's temporary folder
    data = sorted((tmp_path / "out" / "m" / "data").glob("*.parquet"))

    def no_extracting(*_: object) -> None:
        raise AssertionError("the member was extracted again")

    monkeypatch.setattr(sources_readers, "_ArchiveFiles", no_extracting)
    again = run_cli("build", "m.hum.yaml", "-q", "-j", "1", cwd=tmp_path)
    assert again.exit_code == 0, again.output
    assert [p.read_bytes() for p in sorted((tmp_path / "out" / "m" / "data").glob("*.parquet"))] == \
        [p.read_bytes() for p in data]
    # a copy of the same archive elsewhere is the same content: the same extracted folder
    (tmp_path / "copy").mkdir()
    shutil.copy(tmp_path / "SST-2.zip", tmp_path / "copy" / "SST-2.zip")
    (tmp_path / "copy" / "m.hum.yaml").write_text(MEMBER_RECIPE, encoding="utf-8")
    copied = run_cli("plan", "copy/m.hum.yaml", "--cache", ".humc/cache", cwd=tmp_path)
    assert copied.exit_code == 0, copied.output
    assert list((tmp_path / ".humc" / "cache" / "archives").glob("*/SST-2/dev.tsv")) == [extracted]


def test_cache_gc_keeps_the_members_a_recipe_reads_and_clean_deletes_them(tmp_path: Path) -> None:
    import zipfile

    _sst2_zip(tmp_path / "SST-2.zip")
    with zipfile.ZipFile(_sst2_zip(tmp_path / "other.zip"), "a") as z:  # other bytes: another digest
        z.writestr("README", "another release")
    (tmp_path / "m.hum.yaml").write_text(MEMBER_RECIPE, encoding="utf-8")
    (tmp_path / "o.hum.yaml").write_text(MEMBER_RECIPE.replace("SST-2.zip", "other.zip").replace("name: m", "name: o"),
                                         encoding="utf-8")
    assert run_cli("check", "m.hum.yaml", cwd=tmp_path).exit_code == 0
    assert run_cli("check", "o.hum.yaml", cwd=tmp_path).exit_code == 0
    archives = tmp_path / ".humc" / "cache" / "archives"
    both = sorted(p.parent.parent for p in archives.glob("*/SST-2/dev.tsv"))
    assert len(both) == 2
    assert "extracted archives: 2" in run_cli("cache", "info", "m.hum.yaml", cwd=tmp_path).output
    gc = run_cli("cache", "gc", "m.hum.yaml", cwd=tmp_path)  # o.hum.yaml is not named: its member goes
    assert gc.exit_code == 0, gc.output
    assert "extracted archives: 1" in run_cli("cache", "info", "m.hum.yaml", cwd=tmp_path).output
    kept = [p for p in both if p.exists()]
    assert len(kept) == 1 and (kept[0] / "SST-2" / "dev.tsv").is_file()
    assert len(list((archives / "by-stat").iterdir())) == 1  # the dropped digest's memo went with it
    assert run_cli("check", "m.hum.yaml", cwd=tmp_path).exit_code == 0  # still there: nothing to extract again
    clean = run_cli("cache", "clean", "m.hum.yaml", "--yes", cwd=tmp_path)
    assert clean.exit_code == 0, clean.output
    assert not archives.exists()
