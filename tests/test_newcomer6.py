"""What a newcomer following the README met: messages that now say how to get on (a name in the wrong case, a path
written from the wrong folder, gold items under other keys, `humc synth`/`review` on a recipe without `synth:`, and
which ablation dataset a build warning is about)."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import run_cli

NEWS = {"text": "Siemens opened a plant in Berlin.", "entities": [{"label": "ORG", "text": "Siemens"}]}


def ner_recipe(folder: Path, *, task: str = "ner", path: str = "data/mine/news.jsonl",
               entities: str = "entities", extra: str = "") -> Path:
    (folder / "data" / "mine").mkdir(parents=True, exist_ok=True)
    (folder / "data" / "mine" / "news.jsonl").write_text(json.dumps(NEWS) + "\n", encoding="utf-8")
    recipe = folder / "news.hum.yaml"
    recipe.write_text(f"hum: 1\nname: news\nsources:\n  news: {{path: {path}}}\ntasks:\n  - id: news\n    task: {task}\n"
                      f"    source: news\n    fields: {{text: text, entities: '{entities}'}}\n    formats: [json]\n{extra}",
                      encoding="utf-8")
    return recipe


def test_a_name_in_the_wrong_case_gets_the_name_it_means(tmp_path: Path) -> None:
    result = run_cli("check", str(ner_recipe(tmp_path, task="NER")))
    assert result.exit_code == 2 and "news.hum.yaml:7:11: error[E2003]: unknown task 'NER'" in result.output
    assert "hint: did you mean 'ner'? Names are case-sensitive" in result.output


def test_a_source_path_missing_its_first_folder_names_the_file_below_the_recipe(tmp_path: Path) -> None:
    result = run_cli("check", str(ner_recipe(tmp_path, path="mine/news.jsonl")))
    assert result.exit_code == 2 and "news.hum.yaml:4:16: error[E0009]" in result.output
    assert "hint: did you mean 'data/mine/news.jsonl'? A file of that name is there" in result.output


def test_gold_items_under_other_keys_get_a_hint_that_maps_them(tmp_path: Path) -> None:
    recipe = ner_recipe(tmp_path)
    checked = run_cli("check", str(recipe))
    assert "bad_gold" in checked.output and "lacks type, span" in checked.output
    assert "hint: the gold answer must have the task's shape" in checked.output and "zip_records(" in checked.output
    built = run_cli("build", str(recipe), "-q")
    assert built.exit_code == 2 and "error[E4104]" in built.output and "zip_records(type=entities.label" in built.output
    fixed = ner_recipe(tmp_path, entities="zip_records(type=entities.label, span=entities.text)")  # the hint, followed
    assert "news: 1 row(s) read, 1 kept, 1 rendered; problems: none" in run_cli("check", str(fixed)).output


def test_synth_and_review_of_a_recipe_without_synth_say_what_to_add(tmp_path: Path) -> None:
    recipe = ner_recipe(tmp_path, entities="zip_records(type=entities.label, span=entities.text)")
    synth = run_cli("synth", str(recipe))
    assert synth.exit_code == 0 and "no model was asked and the lockfile was not written" in synth.output
    assert "synth: {model: writer, paraphrases: 2}" in synth.output and not (tmp_path / "news.hum.lock").exists()
    review = run_cli("review", str(recipe))
    assert review.exit_code == 2 and "error[E9001]: no lockfile" in review.output
    assert "only when a task entry has a `synth:` spec" in review.output


def test_a_warning_of_an_ablation_build_names_its_dataset(tmp_path: Path) -> None:
    recipe = ner_recipe(tmp_path, entities="zip_records(type=entities.label, span=entities.text)",
                        extra="    preferences: ['when len(answer) > 1 then dedupe']\n")  # a rule no text states: noted
    result = run_cli("build", str(recipe), "-q", "-j", "1", "--ablate", "guidelines")
    assert result.exit_code == 0, result.output
    for dataset in ("news", "news-no-guidelines"):
        assert f"warning: {dataset}: task 'news': the preference `when len(answer) > 1 then dedupe` has no text" in result.output
    alone = run_cli("build", str(recipe), "-q", "-j", "1")  # one dataset: the warning as it was
    assert "warning: task 'news': the preference" in alone.output


def test_an_output_folder_or_second_recipe_given_as_an_argument_says_how_to_name_it(tmp_path: Path) -> None:
    recipe = str(ner_recipe(tmp_path))
    folder = run_cli("build", recipe, "out/")
    assert folder.exit_code == 2 and "error[E9001]: got unexpected extra argument (out/)" in folder.output
    assert "hint: the output root is an option: `humc build RECIPE --out out/`" in folder.output
    second = run_cli("plan", recipe, "other.hum.yaml")
    assert second.exit_code == 2 and "hint: `humc plan` takes one recipe: run it once for each" in second.output
    several = run_cli("build", recipe, "a", "b")  # no guess at which word was meant
    assert "hint: `humc build --help` shows the command's options" in several.output


def test_a_guideline_listing_its_labels_is_told_it_defines_them(tmp_path: Path) -> None:
    recipe = ner_recipe(tmp_path, extra="    guidelines: [{id: house, text: Hello., labels: [PER]}]\n")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 2 and "news.hum.yaml:11:52: error[E0007]: 'labels' in inline guideline must be a " \
        "mapping of label to definition, not a list" in result.output
    assert "e.g. {PER: names of people}" in result.output and "entry's own `labels:` lists the label set" in result.output


def test_a_variant_file_with_a_misspelt_codec_is_an_error_at_its_codec_line(tmp_path: Path) -> None:
    recipe = ner_recipe(tmp_path, extra="")
    recipe.write_text(recipe.read_text().replace("formats: [json]", "formats: [json, bullets]").replace(
        "sources:", "stdlib: [mystd]\nsources:"), encoding="utf-8")
    (tmp_path / "mystd" / "variants").mkdir(parents=True)
    variant = tmp_path / "mystd" / "variants" / "bullets.yaml"
    variant.write_text("id: bullets\ncodec: markdown_lists\ntext:\n  en: Answer with bullets.\n", encoding="utf-8")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 2 and "bullets.yaml:2:8: error[E2006]: unknown answer codec 'markdown_lists'" in result.output
    assert "hint: did you mean 'markdown_list'" in result.output
    variant.write_text("id: bullets\ncodec: markdown_list\ntext:\n  en: Answer with bullets: {{ fields }}.\n", encoding="utf-8")
    result = run_cli("check", str(recipe))
    assert result.exit_code == 2 and "bullets.yaml:4:26: error[E0002]: invalid YAML: mapping values" in result.output
    assert "hint: the value of 'en' holds ': ', which YAML reads as a key: quote the whole value" in result.output
    variant.write_text('id: bullets\ncodec: markdown_list\ntext:\n  en: "Answer with bullets: {{ fields }}."\n',
                       encoding="utf-8")  # quoted, as the hint says
    assert run_cli("check", str(recipe)).exit_code == 0
