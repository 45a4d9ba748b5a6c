"""The dataset card: Hub metadata that parses back, a deterministic body, user templates."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from huggingface_hub import DatasetCard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from humc.dataset.card import CardInfo, check_card_template, render_card, size_category
from humc.dataset.cardinfo import locked_rows, project_url
from humc.errors import HumcError
from humc.ir import LockedAsset
from tests.helpers import REPO, run_cli

RECIPE = """name: demo
description: toy
# a code fence inside the recipe must not end the card's block:
notes: |
  ```
  x
  ```
"""


def info(**changes) -> CardInfo:
    base = CardInfo(
        name="demo", pretty_name="Demo NLU", description="A small demo dataset.", license="apache-2.0",
        languages=["de", "en"], task_categories=["text-classification", "token-classification"],
        task_ids=["sentiment-classification", "named-entity-recognition"], source_datasets=["imdb"],
        tags=["nlu", "humc"],
        split_files={"train": ["data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet"],
                     "test": ["data/test-00000-of-00001.parquet"]},
        split_counts={"train": 1500, "test": 120},
        task_counts={"train": {"ner_de": 700, "sent_en": 800}, "test": {"ner_de": 60, "sent_en": 60}},
        variant_counts={"json": 800, "plain|text": 820}, template_counts={"en_1": 900, "de_2": 720},
        length_stats={"instruction": {"min": 12, "mean": 88.5, "p50": 80, "p95": 190, "max": 260},
                      "output": {"min": 1, "mean": 9.0, "p50": 8, "p95": 20, "max": 31}},
        guidelines=[{"id": "ner_persons", "title": "Persons", "text": "Tag full names.\nNot titles."}],
        rules=[{"id": "prefer_short", "text": "Prefer the shortest span."}],
        dedup={"duplicates_removed": 7, "corpus/filter: dropped empty": 3},
        llms=[], recipe_text=RECIPE, recipe_fingerprint="f" * 64, humc_version="0.1.0", user_template=None)
    return dataclasses.replace(base, **changes)


def test_metadata_parses_back() -> None:
    card = DatasetCard(render_card(info()))
    data = card.data
    assert data.pretty_name == "Demo NLU"
    assert data.license == "apache-2.0"
    assert data.language == ["de", "en"]
    assert data.task_categories == ["text-classification", "token-classification"]
    assert data.task_ids == ["sentiment-classification", "named-entity-recognition"]
    assert data.size_categories == ["1K<n<10K"]
    assert data.source_datasets == ["imdb"]
    assert data.tags == ["humc", "nlu"]                       # always tagged humc, no duplicates
    assert data.configs == [{"config_name": "default", "data_files": [
        {"split": "train", "path": "data/train-*"}, {"split": "test", "path": "data/test-*"}]}]
    assert card.text.lstrip().startswith("# Demo NLU")


@pytest.mark.parametrize(("written", "metadata"), [
    ("CC BY 4.0", {"license": "cc-by-4.0"}),                 # the license's own spelling, words apart
    ("Apache 2.0", {"license": "apache-2.0"}),
    ("CC BY-NC-SA 4.0", {"license": "cc-by-nc-sa-4.0"}),
    ("cc_by_4.0", {"license": "cc-by-4.0"}),
    ("Acme Data License 1.0", {"license": "other", "license_name": "acme-data-license-1.0"}),
    ("MIT License", {"license": "mit"}),                     # the name its text is titled with
    ("Apache License, Version 2.0", {"license": "apache-2.0"}),
    ("Apache License 2.0", {"license": "apache-2.0"}),
    ("Creative Commons Attribution-ShareAlike 4.0 International", {"license": "cc-by-sa-4.0"}),
    ("Creative Commons Attribution-NonCommercial-NoDerivatives 4.0", {"license": "cc-by-nc-nd-4.0"}),
    ("GNU General Public License v3.0", {"license": "gpl-3.0"}),
    ("GNU Lesser General Public License v2.1", {"license": "lgpl-2.1"}),
    ("GPL v3", {"license": "gpl-3.0"}),
    ("CC0 1.0 Universal", {"license": "cc0-1.0"}),
    ("Mozilla Public License 2.0", {"license": "mpl-2.0"}),
    ("Research-only License", {"license": "other", "license_name": "research-only-license"}),
])
def test_a_license_on_the_hubs_list_is_its_hub_id_however_its_words_are_joined(written: str, metadata: dict) -> None:
    data = DatasetCard(render_card(info(license=written))).data.to_dict()
    assert {k: data.get(k) for k in ("license", "license_name")} == {"license_name": None, **metadata}


def test_empty_lists_are_left_out_of_metadata() -> None:
    data = DatasetCard(render_card(info(source_datasets=[], task_ids=[], tags=[], license=None,
                                        pretty_name=None))).data.to_dict()
    assert "source_datasets" not in data and "task_ids" not in data and "license" not in data
    assert data["tags"] == ["humc"] and data["pretty_name"] == "demo"


@pytest.mark.parametrize("n,label", [(0, "n<1K"), (999, "n<1K"), (1000, "1K<n<10K"), (99_999, "10K<n<100K"),
                                     (100_000, "100K<n<1M"), (5_000_000, "1M<n<10M"), (10**13, "n>1T")])
def test_size_categories(n: int, label: str) -> None:
    assert size_category(n) == label


def test_body_documents_the_build() -> None:
    text = render_card(info())
    for needle in ["## Tasks and mix", "| sent_en | 860 |", "| ner_de | 700 | 60 |", "| **total** | 1500 | 120 |",
                   "plain\\|text", "| de_2 | 720 |", "| instruction | 12 | 88.5 | 80 | 190 | 260 |",
                   "### Guideline `ner_persons`: Persons", "`prefer_short`: Prefer the shortest span.",
                   "| duplicates removed | 7 |", "## LLMs used\n\nnone", f"`{'f' * 64}`", "`0.1.0`"]:
        assert needle in text, needle
    # the recipe is embedded verbatim in a fence longer than any fence inside it
    assert "````yaml\n" + RECIPE.rstrip("\n") + "\n````" in text


def test_a_drop_reason_is_written_as_the_summary_and_the_llm_table_write_it() -> None:
    """SmolLM2's Dolly answer cut off at `max_tokens`: "Deduplication and filtering" read "max tokens reached" (every
    `_` of a node or a reason made a space, `conll_2003/generate` too) while "LLMs used" read "max_tokens"."""
    dropped = "conll_2003/generate: dropped: truncated answer (max_tokens reached)"
    text = render_card(info(dedup={"duplicates_removed": 7, dropped: 1}))
    assert f"| {dropped} | 1 |" in text and "| duplicates removed | 7 |" in text


def test_preload_compiles_the_card_template_so_the_write_renders_it_without_compiling() -> None:
    from humc import templating
    from humc.dataset.writer import preload

    templating._compiled.cache_clear()
    preload.cache_clear()
    preload()  # what a build runs in a thread while it waits for an LLM
    compiled = templating._compiled.cache_info().misses
    assert compiled >= 1
    render_card(info())
    assert templating._compiled.cache_info().misses == compiled


def test_rendering_is_deterministic() -> None:
    assert render_card(info()) == render_card(info())
    assert render_card(info()).encode() == render_card(dataclasses.replace(info())).encode()


def test_llms_are_listed_without_secrets() -> None:
    llm = {"model": "gpt-4o-mini", "base_url": "https://api.example/v1", "temperature": 0.7, "top_p": 0.9,
           "api_key": "sk-SECRET", "headers": {"Authorization": "Bearer sk-SECRET2"}}
    text = render_card(info(llms=[llm]))
    assert "gpt-4o-mini" in text and "https://api.example/v1" in text and "0.7" in text
    assert "SECRET" not in text and "api_key" not in text


def test_user_template_file(tmp_path: Path) -> None:
    tpl = tmp_path / "card.md.j2"
    tpl.write_text("# {{ pretty_name }} (custom)\n\n{{ split_counts.train }} training records, "
                   "{{ total }} in all.\n\n{{ body }}", encoding="utf-8")
    text = render_card(info(user_template=str(tpl)))
    card = DatasetCard(text)
    assert card.text.lstrip().startswith("# Demo NLU (custom)")
    assert "1500 training records, 1620 in all." in card.text
    assert "## Provenance" in card.text                       # the default body is available as {{ body }}
    assert card.data.configs[0]["config_name"] == "default"   # metadata is generated whatever the template


def test_a_user_template_saved_with_a_byte_order_mark_writes_none(tmp_path: Path) -> None:
    """Notepad's "UTF-8 with BOM": the mark was written into the card's body, before its first heading."""
    tpl = tmp_path / "card.md.j2"
    tpl.write_text("\ufeff# {{ pretty_name }} (custom)\n\n{{ body }}", encoding="utf-8")
    check_card_template(tpl)
    text = render_card(info(user_template=str(tpl)))
    assert "\ufeff" not in text and DatasetCard(text).text.lstrip().startswith("# Demo NLU (custom)")


def test_user_template_inline_text() -> None:
    text = render_card(info(user_template="Custom card for {{ name }}.\n{% for s in split_files %}- {{ s }}\n"
                                          "{% endfor %}"))
    body = DatasetCard(text).text
    assert "Custom card for demo." in body and "- train\n- test\n" in body and "## Provenance" not in body


@pytest.mark.parametrize("template,needle", [("{{ no_such_field }}", "no_such_field"),
                                             ("{% for x in %}", "line 1")])
def test_user_template_errors_are_humc_errors(template: str, needle: str) -> None:
    with pytest.raises(HumcError) as err:
        render_card(info(user_template=template))
    assert needle in err.value.render()


def test_missing_template_file(tmp_path: Path) -> None:
    with pytest.raises(HumcError) as err:
        render_card(info(user_template=str(tmp_path / "nope.md")))
    assert "cannot read card template" in err.value.message


def test_lockfile_items_are_credited_to_who_wrote_them() -> None:
    locked = locked_rows([LockedAsset("a1", "template", "squad", "human"),
                          LockedAsset("a2", "template", "squad", "human"),
                          LockedAsset("b1", "rule", "squad", "unknown", recipe_model="writer (Qwen/Qwen2.5-7B-Instruct)"),
                          LockedAsset("c1", "guideline", "ner", "llm", model="smollm2", recipe_model="writer (smollm2)",
                                      edited=True)])
    text = render_card(info(locked=locked, lockfile="demo.hum.lock"))
    assert "### Assets pinned in `demo.hum.lock`" in text
    assert "| squad | template | a person | 2 |" in text
    assert "| squad | rule | unknown | 1 |" in text                  # never shown as the model the recipe named
    assert "Qwen" not in text
    assert "| ner | guideline | smollm2 (LLM, reported by its server), reviewed by a person, edited by hand | 1 |" in text


def test_the_card_links_only_to_the_project_url_of_the_installed_package() -> None:
    links = re.findall(r"\]\(([^)]*)\)", render_card(info(humc_url=project_url())))
    assert links == ([project_url()] if project_url() else [])
    assert "pypi.org" not in render_card(info())
    assert "[humc](https://example.org/humc) 0.1.0" in render_card(info(humc_url="https://example.org/humc"))


def test_the_example_card_says_its_paraphrases_were_written_by_a_person(tmp_path: Path) -> None:
    result = run_cli("build", str(REPO / "recipes" / "mrc.hum.yaml"), "--out", str(tmp_path / "out"),
                     "--cache", str(tmp_path / "cache"), "-q")
    assert result.exit_code == 0, result.output
    card = (tmp_path / "out" / "mrc" / "README.md").read_text(encoding="utf-8")
    llms = card.split("## LLMs used", 1)[1].split("## Provenance", 1)[0]
    assert llms.startswith("\n\nnone\n") and "| squad | template | a person | 5 |" in llms
    assert "Qwen" not in llms and "temperature" not in llms
    assert "warning" not in result.output


def test_a_recipe_without_a_license_over_published_datasets_is_told_their_licences(tmp_path: Path) -> None:
    from humc.recipe.validate import compile_recipe

    recipe = tmp_path / "r.hum.yaml"
    recipe.write_text(f"hum: 1\nname: r\nsources:\n  s: {{catalog: conll2003, path: {REPO}/tests/data/conll2003/"
                      "eng.testa.head}\ntasks:\n  - source: s\n")
    notes = [n for n in compile_recipe(recipe).notes() if "`license:`" in n]
    assert notes == ["the recipe has no `license:`, so the dataset card names none (its source datasets' licences: "
                     "CoNLL-2003 English NER: research-only (Reuters RCV1 text; annotations by the CoNLL-2003 "
                     "organisers)); set `license:` to what the built dataset may be shared under"]
    recipe.write_text(recipe.read_text().replace("name: r\n", "name: r\nlicense: other\n"))
    assert not [n for n in compile_recipe(recipe).notes() if "`license:`" in n]


def test_a_card_written_by_an_older_humc_or_card_template_is_written_again(tmp_path: Path) -> None:
    import hashlib
    import json
    import shutil

    from humc.dataset.manifest import card_format

    template = REPO / "stdlib" / "cards" / "default.md.j2"
    assert card_format().endswith(":" + hashlib.sha256(template.read_bytes()).hexdigest()[:16])  # its text counts
    shutil.copytree(REPO / "recipes", tmp_path / "recipes")
    recipe = tmp_path / "recipes" / "ner.hum.yaml"
    assert run_cli("build", str(recipe), "-q").exit_code == 0
    folder = tmp_path / "recipes" / "out" / "ner"
    manifest = json.loads((folder / "build.json").read_text())
    assert manifest["card"] == card_format()
    (folder / "build.json").write_text(json.dumps({**manifest, "card": "3"}))  # as the card template before this one
    card = (folder / "README.md").read_text()
    result = run_cli("build", str(recipe))
    assert result.exit_code == 0
    assert re.search(r"corpus/write\s+│ built", result.output)  # written again, not "cached"
    assert json.loads((folder / "build.json").read_text())["card"] == card_format()
    assert (folder / "README.md").read_text() == card


_WORDS = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pretty=_WORDS, description=_WORDS, license=st.one_of(st.none(), st.sampled_from(["mit", "CC BY 4.0", "x"]),
                                                             _WORDS),
       tags=st.lists(_WORDS, max_size=3), languages=st.lists(st.sampled_from(["en", "de", "zh-TW", "pt-BR"]),
                                                            max_size=3, unique=True),
       splits=st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), st.integers(0, 10**7),
                              min_size=1, max_size=3),
       body=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="{}%#"), max_size=30))
def test_the_card_is_what_the_hubs_dataset_card_writes_of_it(pretty, description, license, tags, languages, splits,
                                                             body) -> None:
    """render_card writes the metadata block as the Hub's DatasetCard would write the same card back (its parse and
    dump are a fixpoint of the text), so no round trip through DatasetCard is needed at build time."""
    text = render_card(info(pretty_name=pretty, description=description, license=license, tags=tags,
                            languages=languages, split_counts=splits, task_counts={s: {"t": n} for s, n in splits.items()},
                            split_files={s: [f"data/{s}-00000-of-00001.parquet"] for s in splits},
                            user_template=f"{body}{{{{ name }}}}"))
    assert str(DatasetCard(text)) == text


@pytest.mark.parametrize("field, value", [("tags", ["\x85"]), ("tags", ["x\x85y"]), ("pretty_name", "x\x85y")])
def test_a_nel_in_the_cards_metadata_is_written_as_the_hubs_card_reads_it(field, value) -> None:
    """PyYAML writes a NEL (U+0085, cp1252's "…" read as Latin-1) inside a quoted value as a line break, which reads back
    as a space: without the DatasetCard round trip the card was not what the Hub writes of it (found by the hypothesis
    test above, at random). Such a card goes through DatasetCard, as every card did before."""
    fields = {"tags": [], "pretty_name": "p", field: value}
    text = render_card(info(license=None, languages=[], split_counts={"a": 0}, task_counts={"a": {"t": 0}},
                            split_files={"a": ["data/a-00000-of-00001.parquet"]}, **fields))
    assert "\x85" not in text.split("\n---\n", 1)[0] and str(DatasetCard(text)) == text
