"""Tasks in languages the stdlib writes no instructions in (it has en and zh): CoNLL-2002's Spanish and GermEval 2014's
German files (tests/data, each with its SOURCE.md). The records keep the task's language; instructions come from the
recipe's own templates in that language when it has them, else from the English ones, and check and build say so."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from helpers import REPO, run_cli

DATA = REPO / "tests" / "data"
RECIPE = """hum: 1
name: langs
stdlib: [assets]
sources:
  esp: {catalog: conll2002, path: data/conll2002/esp.testa.head12}
  germeval: {path: data/germeval2014/NER-de-dev.head10.tsv, format: conll,
             options: {separator: "\\t", comment: "#", columns: [index, tokens, outer, nested]}}
tasks:
  - source: esp
    language: es
  - id: germeval
    task: ner
    language: de
    source: germeval
    fields:
      text: tokens | join(" ")
      entities: bio_spans(tokens, outer)
"""
GERMAN = """Finde alle Eigennamen dieser Typen im Text: {{ labels | join(', ') }}.
{{ format_instruction }}

Text: {{ text }}
"""
NOTE = ("task 'esp': its text is 'es', its instructions 'en' (no 'es' templates for task 'ner'; add yours as "
        "templates/ner/es_1.j2 in a `stdlib:` folder)")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    for folder in ("conll2002", "germeval2014"):
        shutil.copytree(DATA / folder, tmp_path / "data" / folder, ignore=shutil.ignore_patterns("SOURCE.md"))
    templates = tmp_path / "assets" / "templates" / "ner"
    templates.mkdir(parents=True)
    (templates / "de_1.j2").write_text(GERMAN, encoding="utf-8")
    (tmp_path / "langs.hum.yaml").write_text(RECIPE, encoding="utf-8")
    return tmp_path


def test_records_keep_their_language_and_instructions_fall_back_to_english_without_templates_in_it(workspace: Path):
    result = run_cli("build", "langs.hum.yaml", "-q", "-j", "1", cwd=workspace)
    assert result.exit_code == 0, result.output
    assert result.output.count(NOTE) == 1 and "task 'germeval'" not in result.output
    rows = [r for f in sorted((workspace / "out" / "langs" / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    spanish = [r for r in rows if r["task_entry"] == "esp"]
    german = [r for r in rows if r["task_entry"] == "germeval"]
    assert len(spanish) == 12 and len(german) == 10
    assert {r["language"] for r in spanish} == {"es"} and {r["language"] for r in german} == {"de"}
    assert all(r["template"].startswith("ner/en_") for r in spanish)
    assert any("Sao Paulo" in r["instruction"] for r in spanish)
    assert {r["template"] for r in german} == {"ner/de_1"}
    assert all(r["instruction"].startswith("Finde alle Eigennamen dieser Typen im Text: ") for r in german)
    card = (workspace / "out" / "langs" / "README.md").read_text(encoding="utf-8")
    assert yaml.safe_load(card.split("---")[1])["language"] == ["de", "es"]


def test_check_notes_the_english_instructions(workspace: Path):
    result = run_cli("check", "langs.hum.yaml", cwd=workspace)
    assert result.exit_code == 0, result.output
    assert f"note: {NOTE}" in result.output and "langs.hum.yaml: ok" in result.output


@pytest.mark.parametrize(("written", "hint"), [("German", "write `de`"), ("Klingon", None), ("pt_br", "write `pt-BR`"),
                                               ("zh_hant", "write `zh-Hant`"), ("e", None)])
def test_a_language_that_is_no_language_code_is_located(workspace: Path, written: str, hint: str | None):
    (workspace / "langs.hum.yaml").write_text(RECIPE.replace("language: de", f"language: {written}"), encoding="utf-8")
    result = run_cli("check", "langs.hum.yaml", cwd=workspace)
    assert result.exit_code == 2
    assert f"error[E2014]: '{written}' is not a language code" in result.output
    assert "langs.hum.yaml:13:15" in result.output and "ISO 639" in result.output
    assert (f"hint: {hint}" in result.output) if hint else "hint:" not in result.output


@pytest.mark.parametrize(("tag", "canonical"), [("de", "de"), ("pt-BR", "pt-BR"), ("zh-Hant", "zh-Hant"),
                                                ("es-419", "es-419"), ("gsw", "gsw"), ("DE", "de"), ("zh-tw", "zh-TW")])
def test_language_tags_with_script_and_region_are_accepted_in_any_case(workspace: Path, tag: str, canonical: str):
    (workspace / "langs.hum.yaml").write_text(RECIPE.replace("language: de", f"language: {tag}"), encoding="utf-8")
    result = run_cli("check", "langs.hum.yaml", cwd=workspace)
    assert result.exit_code == 0, result.output
    # de has the recipe's own template; zh-* get the stdlib's zh ones, the others English ones: a note says which
    written = "zh" if canonical.startswith("zh") else "en"
    assert ("task 'germeval'" in result.output) is (canonical != "de")
    assert canonical == "de" or f"its text is '{canonical}', its instructions '{written}'" in result.output


def test_a_regional_tag_uses_the_templates_and_texts_of_its_primary_language(tmp_path: Path):
    shutil.copytree(DATA / "cluener2020", tmp_path / "data", ignore=shutil.ignore_patterns("SOURCE.md"))
    (tmp_path / "tw.hum.yaml").write_text("""hum: 1
name: tw
sources:
  news: {catalog: cluener2020, path: data/dev.head16.json}
tasks:
  - source: news
    language: zh-TW            # the entry's own key: a catalog's language (zh) is a default under it
    formats: [natural]
""", encoding="utf-8")
    result = run_cli("build", "tw.hum.yaml", "-q", "-j", "1", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert "task 'news': its text is 'zh-TW', its instructions 'zh'" in result.output  # Simplified: said
    rows = [r for f in (tmp_path / "out" / "tw" / "data").glob("*.parquet") for r in pq.read_table(f).to_pylist()]
    assert len(rows) == 16 and {r["language"] for r in rows} == {"zh-TW"}
    assert all(r["template"].startswith("ner/zh_") for r in rows)
    assert all(r["output"].startswith("答案是") or r["output"] == "无" or "。" in r["output"] for r in rows)
    card = yaml.safe_load((tmp_path / "out" / "tw" / "README.md").read_text(encoding="utf-8").split("---")[1])
    assert card["language"] == ["zh"] and card["language_details"] == ["zh-TW"]  # the Hub's keys for each


def test_a_multilingual_catalog_takes_the_recipes_language(tmp_path: Path):
    shutil.copytree(DATA / "conll2002", tmp_path / "data", ignore=shutil.ignore_patterns("SOURCE.md"))
    (tmp_path / "nl.hum.yaml").write_text("""hum: 1
name: nl
language: nl
sources:
  ned: {catalog: conll2002, path: data/ned.testa.head12}
tasks:
  - source: ned
""", encoding="utf-8")
    result = run_cli("build", "nl.hum.yaml", "-q", "-j", "1", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    rows = [r for f in (tmp_path / "out" / "nl" / "data").glob("*.parquet") for r in pq.read_table(f).to_pylist()]
    assert len(rows) == 12 and {r["language"] for r in rows} == {"nl"}
    assert "task 'ned': its text is 'nl', its instructions 'en'" in result.output
    assert "names no language" not in result.output
    (tmp_path / "nl.hum.yaml").write_text((tmp_path / "nl.hum.yaml").read_text().replace("language: nl\n", ""))
    unset = run_cli("check", "nl.hum.yaml", cwd=tmp_path)
    assert "note: task 'ned': catalog 'conll2002' names no language (its files are in several), so its records say " \
           "'en'; set `language:`" in unset.output


@pytest.mark.parametrize("tag", ["en-GB", "de"])
def test_accepted_paraphrases_of_the_english_templates_serve_an_entry_instructed_in_english(tmp_path: Path, tag: str):
    """The lockfile's paraphrases of en_1 (language en) are used by an entry whose records are en-GB or de but whose
    instructions come from the English templates (they were silently left out)."""
    work = tmp_path / "mrc"
    shutil.copytree(REPO / "recipes", work)
    recipe = work / "mrc.hum.yaml"
    recipe.write_text(recipe.read_text(encoding="utf-8").replace("  - id: squad\n", f"  - id: squad\n    language: {tag}\n"),
                      encoding="utf-8")
    result = run_cli("build", "mrc.hum.yaml", "-q", "-j", "1", cwd=work)
    assert result.exit_code == 0, result.output
    rows = [r for f in sorted((work / "out" / "mrc" / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert {r["language"] for r in rows} == {tag}
    assert any("~" in r["template"] for r in rows)  # a template from the lockfile (base~id)


def test_a_text_written_for_the_tag_itself_wins_over_its_primary_language(tmp_path: Path):
    shutil.copytree(DATA / "cluener2020", tmp_path / "data", ignore=shutil.ignore_patterns("SOURCE.md"))
    rules = tmp_path / "assets" / "rules"
    rules.mkdir(parents=True)
    (rules / "traditional.yaml").write_text("""id: traditional
text: {en: Order by position., zh: 按位置排序。, zh-TW: 依位置排序。}
then: sort_by_position("span")
""", encoding="utf-8")
    (tmp_path / "tw.hum.yaml").write_text("""hum: 1
name: tw
stdlib: [assets]
sources:
  news: {catalog: cluener2020, path: data/dev.head16.json}
tasks:
  - source: news
    language: zh-TW
    preferences: [traditional]
""", encoding="utf-8")
    result = run_cli("build", "tw.hum.yaml", "-q", "-j", "1", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    rows = [r for f in (tmp_path / "out" / "tw" / "data").glob("*.parquet") for r in pq.read_table(f).to_pylist()]
    assert rows and all("依位置排序。" in r["instruction"] and "按位置排序" not in r["instruction"] for r in rows)
