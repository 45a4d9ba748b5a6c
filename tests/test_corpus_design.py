"""Hum-faithful corpus design: IEPile schema construction (hard negatives, split_num batches, the
positive : all-negative ratio, label order), basic vs compound instructions (`mix:`), corpus mixture
weights and caps, held-out instructions, ablation datasets and the EET/EEA event sub-tasks."""

from __future__ import annotations

import json
import math
import random
import re
import shutil
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers import REPO, check_golden, copy_recipes, run_cli, tree_bytes

from humc.build.cachectl import empty_held_out_parts
from humc.build.compiler import build, plan_recipe
from humc.build.mixing import mixture_keep
from humc.build.rendering import RenderContext, render_checked
from humc.build.transforms import map_record
from humc.ir import HELD_OUT_DROPPED, HeldOut, Mixture
from humc.recipe.validate import compile_recipe
from humc.sources import read_source

LABELS = ["PER", "ORG", "LOC", "MISC", "DATE", "EVENT", "PRODUCT", "LAW"]


def write_source(path: Path, rows: int) -> None:
    """Sentences with 0-3 entities of the 8 LABELS (every 7th sentence has none)."""
    with open(path, "w", encoding="utf-8") as f:
        for i in range(rows):
            ents = [] if i % 7 == 0 else [{"type": LABELS[(i + k) % 8], "span": f"Thing{i}x{k}"} for k in range(1 + i % 3)]
            text = f"Sentence {i} mentions " + " and ".join(e["span"] for e in ents) + "."
            f.write(json.dumps({"text": text, "ents": ents}) + "\n")


def recipe(folder: Path, *, rows: int = 200, schema: str = "{negatives: 2}", extra_entry: str = "", top: str = "",
           output: str = "", formats: str = "[json, tuples]", templates: str = "[en_1, en_2]") -> Path:
    write_source(folder / "ents.jsonl", rows)
    path = folder / "d.hum.yaml"
    path.write_text(f"""hum: 1
name: d
{top}
sources:
  s: ents.jsonl
tasks:
  - id: ner
    task: ner
    source: s
    fields: {{text: text, entities: ents}}
    labels: [{", ".join(LABELS)}]
    schema: {schema}
    guidelines: [span_boundaries]
    preferences: [order_entities_by_position, empty_brackets]
    templates: {templates}
    formats: {formats}
{extra_entry}
output:
  splits: {{train: 0.8, test: 0.2}}
{output}
""", encoding="utf-8")
    return path


def rendered(path: Path) -> list[dict]:
    """Every instruction record of the recipe's first entry, rendered in-process (render + its checks)."""
    r = compile_recipe(path)
    entry = r.tasks[0]
    source = r.sources[entry.source]
    ctx = RenderContext(entry, r.constants, entry.schema.labels if entry.schema else None, r.name)
    out = []
    for row in read_source(source):
        record = map_record(entry, r.constants, source.id, row.number, row.record, row.line)
        result = render_checked(ctx, record)
        assert not result.problems, result.problems
        out += result.records
    return out


def built(folder: Path, name: str = "d") -> list[dict]:
    return [r for f in sorted((folder / "out" / name / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]


def share(items: list, pred) -> float:
    return sum(1 for x in items if pred(x)) / len(items)


# ------------------------------------------------------------------ basic vs compound


def test_basic_and_compound_shares_match_the_declared_mix_within_two_points(tmp_path):
    path = recipe(tmp_path, rows=4000, top="mix: {compound: 0.45, guidelines: 0.8, rules: 0.7, formats: 0.5}")
    records = rendered(path)
    assert len(records) == 4000
    compound = [r for r in records if r["_kind"] == "compound"]
    basic = [r for r in records if r["_kind"] == "basic"]
    assert abs(len(compound) / len(records) - 0.45) <= 0.02
    assert abs(share(compound, lambda r: r["guidelines"]) - 0.8) <= 0.02
    assert abs(share(compound, lambda r: r["rules"]) - 0.7) <= 0.02
    # the chosen format is tuples half of the time; a compound instruction keeps it with p=0.5
    assert abs(share(compound, lambda r: r["answer_format"] == "tuples") - 0.25) <= 0.02
    # basic: the first template and format, no guidelines or rule sentences
    assert {(r["template"], r["answer_format"]) for r in basic} == {("ner/en_1", "json")}
    assert not any(r["guidelines"] or r["rules"] for r in basic)
    assert not any("Guidelines:" in r["instruction"] for r in basic)


def test_a_build_realises_the_mix_by_stratified_draws_even_on_a_few_hundred_instructions(tmp_path):
    """Builds draw from per-chunk decks (of every 20 draws, the declared share is yes), so a small dataset shows
    the declared shares to within about a point — independent coins would stray by ±3 points at 300."""
    path = recipe(tmp_path, rows=300, top="mix: {compound: 0.45, guidelines: 0.8, rules: 0.7, formats: 0.5}")
    assert run_cli("build", str(path), "-q", "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "c")).exit_code == 0
    card = (tmp_path / "out" / "d" / "README.md").read_text()
    share = re.search(r"^\| compound \| \d+ \| \d+ \| (\d+) \| ([\d.]+)% \|$", card, re.M)
    assert share and abs(float(share.group(2)) - 45) <= 1, share and share.group(0)


def test_a_deck_deals_the_running_share_exactly_per_block():
    from humc.build.rendering import Deck

    for p in (0.0, 0.33, 0.45, 0.8, 1.0):
        deck = Deck(p, random.Random(7))
        draws = [deck.draw() for _ in range(200)]
        for n in range(20, 201, 20):
            assert sum(draws[:n]) == int(p * n + 0.5), (p, n)


def test_an_entry_mix_overrides_the_recipe_mix_and_no_mix_shows_everything(tmp_path):
    path = recipe(tmp_path, top="mix: {compound: 0.0}")
    assert {r["_kind"] for r in rendered(path)} == {"basic"}
    text = path.read_text().replace("    templates:", "    mix: {compound: 1.0, guidelines: 0.0}\n    templates:")
    path.write_text(text)
    records = rendered(path)
    assert {r["_kind"] for r in records} == {"compound"} and not any(r["guidelines"] for r in records)
    path.write_text(text.replace("mix: {compound: 0.0}", "").replace("    mix: {compound: 1.0, guidelines: 0.0}\n", ""))
    assert all(r["guidelines"] == ["span_boundaries"] and r["rules"] for r in rendered(path))


def test_a_mixed_build_is_byte_identical_when_rebuilt(tmp_path):
    path = recipe(tmp_path, top="mix: {compound: 0.45}", schema="{split_num: 3, negative_ratio: \"1:1\"}")
    first = run_cli("build", str(path), "-q", "--cache", str(tmp_path / "c1"))
    assert first.exit_code == 0, first.output
    before = tree_bytes(tmp_path / "out" / "d")
    again = run_cli("build", str(path), "-q", "--cache", str(tmp_path / "c2"))
    assert again.exit_code == 0 and tree_bytes(tmp_path / "out" / "d") == before


# ------------------------------------------------------------------ schema construction


def test_split_num_batches_every_schema_and_restricts_gold_to_its_batch(tmp_path):
    path = recipe(tmp_path, rows=300, schema="{split_num: 3, order: alphabetical}")  # negatives: all 8 labels
    records = rendered(path)
    per_row: dict[int, list[dict]] = {}
    for r in records:
        per_row.setdefault(r["source_row"], []).append(r)
    assert {len(rs) for rs in per_row.values()} == {math.ceil(8 / 3)}
    for rs in per_row.values():
        assert sorted(label for r in rs for label in r["labels"]) == sorted(LABELS)  # each label in one batch
        for r in rs:
            assert len(r["labels"]) <= 3 and r["labels"] == sorted(r["labels"])
            assert {g["type"] for g in json.loads(r["gold"])} <= set(r["labels"])
    assert len({r["id"] for r in records}) == len(records)


def test_negative_ratio_keeps_the_declared_positive_to_all_negative_ratio(tmp_path):
    path = recipe(tmp_path, rows=2000, schema='{split_num: 2, negative_ratio: "2:3"}', formats="[json]")
    result = run_cli("build", str(path), "-q")
    assert result.exit_code == 0, result.output
    records = built(tmp_path)
    assert all(len(r["labels"]) <= 2 for r in records)
    negative = sum(1 for r in records if not json.loads(r["gold"]))
    positive = len(records) - negative
    assert positive and abs(negative / positive - 1.5) <= 0.02
    assert abs(negative / len(records) - 3 / 5) <= 0.02
    result = build(plan_recipe(path, cache_dir=tmp_path / "c2", out_dir=tmp_path / "o2"))
    assert result.metas["ner/ratio"]["notes"]["all-negative instructions dropped (negative_ratio)"] > 0


def test_negative_ratio_is_an_upper_bound_when_all_negative_batches_are_scarce(tmp_path):
    path = recipe(tmp_path, rows=300, schema='{split_num: 2, negative_ratio: "1:3"}', formats="[json]")
    every = len(rendered(path))
    assert run_cli("build", str(path), "-q").exit_code == 0
    assert len(built(tmp_path)) == every


def test_confusable_labels_appear_together_in_one_batch(tmp_path):
    path = recipe(tmp_path, rows=300, schema="{split_num: 2, negatives: 1, hard_negatives: {ORG: [LOC], PER: LAW}}")
    records = rendered(path)
    with_org = [r for r in records if "ORG" in {g["type"] for g in json.loads(r["gold"])}]
    with_per = [r for r in records if "PER" in {g["type"] for g in json.loads(r["gold"])}]
    assert with_org and all("LOC" in r["labels"] for r in with_org)
    assert with_per and all("LAW" in r["labels"] for r in with_per)


def test_a_stdlib_hard_negative_map_is_used_by_name(tmp_path):
    path = recipe(tmp_path, rows=100, schema="{negatives: 0, hard_negatives: conll2003, order: declared}")
    records = rendered(path)
    for r in records:
        gold = {g["type"] for g in json.loads(r["gold"])}
        if "PER" in gold:
            assert "ORG" in r["labels"]
        assert r["labels"] == [label for label in LABELS if label in r["labels"]]  # declared order


def test_every_stdlib_hard_negative_map_loads(tmp_path):
    names = sorted(p.stem for p in (REPO / "stdlib" / "hard_negatives").glob("*.yaml"))
    assert names == ["ag_news", "conll04", "conll2003", "duee", "go_emotions", "msra"]
    for name in names:
        path = recipe(tmp_path, rows=5, schema=f"{{hard_negatives: {name}}}")
        assert compile_recipe(path).tasks[0].schema.hard_negatives


@pytest.mark.parametrize(("schema", "message"), [
    ("{hard_negatives: conl2003}", "unknown hard-negative map 'conl2003'"),
    ('{negative_ratio: "2"}', "'negative_ratio' must be \"positive:negative\""),
    ("{order: sorted}", "unknown schema order 'sorted'"),
    ("{split_num: 0}", "must be a positive integer"),
])
def test_bad_schema_options_are_located_errors(tmp_path, schema, message):
    path = recipe(tmp_path, rows=5, schema=schema)
    result = run_cli("check", str(path))
    assert result.exit_code == 2 and message in result.output and "d.hum.yaml:" in result.output
    assert not (tmp_path / "out").exists()


def test_a_mix_probability_outside_0_1_is_an_error(tmp_path):
    result = run_cli("check", str(recipe(tmp_path, rows=5, top="mix: {compound: 1.5}")))
    assert result.exit_code == 2 and "must be a probability between 0 and 1" in result.output


# ------------------------------------------------------------------ held-out instructions and mixture


def test_held_out_templates_formats_and_labels_appear_only_in_test(tmp_path):
    path = recipe(tmp_path, rows=300, output="  held_out: {templates: [ner/en_2], formats: [tuples], labels: [LAW]}")
    result = run_cli("build", str(path), "-q")
    assert result.exit_code == 0, result.output
    records = built(tmp_path)
    assert records
    train = [r for f in (tmp_path / "out" / "d" / "data").glob("train-*.parquet") for r in pq.read_table(f).to_pylist()]
    test = [r for f in (tmp_path / "out" / "d" / "data").glob("test-*.parquet") for r in pq.read_table(f).to_pylist()]
    assert train and test
    assert not any(r["template"] == "ner/en_2" or r["answer_format"] == "tuples" or "LAW" in r["labels"] for r in train)
    assert any(r["template"] == "ner/en_2" for r in test) and any("LAW" in r["labels"] for r in test)


def split_records(out: Path, split: str) -> list[dict]:
    return [r for f in sorted((out / "data").glob(f"{split}-*.parquet")) for r in pq.read_table(f).to_pylist()]


def rows_of(records: list[dict]) -> set[int]:
    return {r["source_row"] for r in records}


def test_held_out_inputs_unseen_keeps_every_input_of_the_held_out_split_out_of_train(tmp_path):
    two = "    variants_per_record: 2\n"  # two instructions a row: one may use the held-out template, one not
    shared = recipe(tmp_path, rows=300, extra_entry=two, output="  held_out: {templates: [ner/en_2], inputs: shared}")
    assert run_cli("build", str(shared), "-q").exit_code == 0
    out = tmp_path / "out" / "d"
    shared_train, shared_test = split_records(out, "train"), split_records(out, "test")
    assert rows_of(shared_train) & rows_of(shared_test)  # `inputs: shared`: a held-out instruction's row may be in train

    unseen = recipe(tmp_path, rows=300, extra_entry=two, output="  held_out: {templates: [ner/en_2]}")  # the default
    stats = build(plan_recipe(unseen)).stats
    notes = next(s for s in stats if s.node == "corpus/split").notes
    train, test = split_records(out, "train"), split_records(out, "test")
    held = sum(r["template"] == "ner/en_2" for r in test)
    assert notes["held out"] == held > 0 and notes[HELD_OUT_DROPPED] > 0
    assert held + notes[HELD_OUT_DROPPED] == sum(
        r["template"] == "ner/en_2" for r in shared_test)  # `inputs: shared` sends every held-out instruction to test
    assert not rows_of(train) & rows_of(test)
    assert not any(r["template"] == "ner/en_2" for r in train) and any(r["template"] == "ner/en_2" for r in test)
    # the rows' own split is kept: train is the default's train, test loses the held-out records of train rows
    assert sorted(r["id"] for r in train) == sorted(r["id"] for r in shared_train)
    assert 0 < len(test) < len(shared_test)
    card = (out / "README.md").read_text(encoding="utf-8")
    assert f"instructions that use template `ner/en_2` appear only in `test` ({held} records)" in card
    assert f"(`inputs: unseen`): {notes[HELD_OUT_DROPPED]} held-out instructions" in card


def test_held_out_inputs_unseen_that_leaves_the_held_out_split_none_says_so(tmp_path):
    path = recipe(tmp_path, rows=20, output="  held_out: {templates: [ner/en_2]}")
    path.write_text(path.read_text(encoding="utf-8").replace("{train: 0.8, test: 0.2}", "{train: 0.99, test: 0.01}"),
                    encoding="utf-8")
    result = run_cli("build", str(path))
    assert result.exit_code == 0, result.output
    assert re.search(r"warning: output.held_out put no instruction in 'test': `inputs: unseen` dropped all [1-9]",
                     result.output), result.output
    assert "`inputs: shared` keep some" in result.output


def test_a_held_out_format_or_task_no_instruction_of_the_held_out_split_uses_is_named():
    """Held-out instructions in test, but none in one held-out format (its few rows fell in train): named, from the
    split's realised mixture; a held-out task counts by task or by entry id."""
    mixture = {"format": {"json": {"train": 9, "test": 2}, "tuples": {"train": 3}},
               "task": {"ner": {"train": 5, "test": 1}}, "entry": {"re_en": {"train": 4}, "ner_en": {"test": 1}}}
    held = HeldOut(formats=("json", "tuples"), tasks=("ner", "re_en", "ner_en"))
    assert empty_held_out_parts(held, mixture) == [
        "output.held_out format 'tuples' is in no instruction of 'test' (no instruction used it in a row of that "
        "split; more source rows, or `inputs: shared`, give some)",
        "output.held_out task 're_en' is in no instruction of 'test' (no instruction used it in a row of that split; "
        "more source rows, or `inputs: shared`, give some)"]


def test_held_out_inputs_other_than_shared_or_unseen_is_an_error(tmp_path):
    result = run_cli("check", str(recipe(tmp_path, rows=5, output="  held_out: {templates: [en_2], inputs: unsen}")))
    assert result.exit_code == 2, result.output
    assert "d.hum.yaml:" in result.output and "'inputs' of held_out must be shared or unseen, not 'unsen'" \
        in result.output and "did you mean 'unseen'" in result.output


@pytest.mark.parametrize(("held", "message"), [
    ("{templates: [en_9]}", "held-out template 'en_9' is used by no task entry"),
    ("{formats: [yaml]}", "held-out format 'yaml' is used by no task entry"),
    ("{tasks: [nerr]}", "held-out task 'nerr' is used by no task entry"),
    ("{labels: [MISCC]}", "held-out label 'MISCC' is used by no task entry"),
    ("{split: eval}", "held-out split 'eval' is not among the output splits"),
    ("{inputs: unseen}", "held_out names nothing to hold out"),  # inputs: says where held-out ones go; none are
    ("{templates: [], split: test}", "held_out names nothing to hold out"),
])
def test_a_held_out_name_nothing_uses_is_an_error(tmp_path, held, message):
    result = run_cli("check", str(recipe(tmp_path, rows=5, output=f"  held_out: {held}")))
    assert result.exit_code == 2 and message in result.output


def test_a_held_out_label_of_a_recipe_whose_entries_show_no_labels_says_there_are_none(tmp_path):
    for name in ("valid.jsonl", "valid-labels.lst"):
        (tmp_path / name).write_bytes((REPO / "tests" / "data" / "piqa" / name).read_bytes())
    (tmp_path / "p.hum.yaml").write_text("""hum: 1
name: p
sources:
  p: {catalog: piqa, path: valid.jsonl}
tasks:
  - source: p
output:
  splits: {train: 0.5, test: 0.5}
  held_out: {labels: [A]}
""", encoding="utf-8")
    result = run_cli("check", str(tmp_path / "p.hum.yaml"))
    assert result.exit_code == 2 and "p.hum.yaml:9:23: error[E0008]: held-out label 'A' is used by no task entry" \
        in result.output, result.output
    assert "expected: no held-out labels: no task entry has any" in result.output
    assert "entries with a label set (`labels:`" in result.output


def test_a_held_out_label_is_not_checked_while_an_entry_collects_its_labels_from_the_data(tmp_path):
    path = recipe(tmp_path, rows=5, output="  held_out: {labels: [LAWW]}")
    path.write_text(path.read_text(encoding="utf-8").replace(f"    labels: [{', '.join(LABELS)}]\n", ""), encoding="utf-8")
    result = run_cli("check", str(path))
    assert result.exit_code == 0, result.output
    assert "d.hum.yaml: ok" in result.output


def test_mixture_weights_and_caps_shape_the_corpus_and_the_card_shows_it(tmp_path):
    second = """  - id: ner2
    task: ner
    source: s
    language: zh
    fields: {text: text, entities: ents}
    formats: [json, tuples]
    sample: 90
"""
    path = recipe(tmp_path, rows=300, extra_entry=second,
                  output="  mixture: {weights: {entry: {ner: 1, ner2: 2}}, caps: {format: {tuples: 20}}}")
    result = run_cli("build", str(path), "-q")
    assert result.exit_code == 0, result.output
    records = built(tmp_path)
    by_entry = {e: sum(1 for r in records if r["task_entry"] == e) for e in ("ner", "ner2")}
    assert sum(1 for r in records if r["answer_format"] == "tuples") == 20
    assert by_entry["ner"] <= 45 + 20 and by_entry["ner2"] <= 90
    card = (tmp_path / "out" / "d" / "README.md").read_text()
    assert "## Realised mixture" in card and "| instruction kind (basic / compound) |" in card
    assert "| zh |" in card and "| en |" in card
    manifest = json.loads((tmp_path / "out" / "d" / "build.json").read_text())
    pytest.importorskip("matplotlib")
    assert (tmp_path / "out" / "d" / "plots" / "mixture_entry.png").read_bytes()[:4] == b"\x89PNG"
    assert "plots/mixture_entry.png" in manifest["files"] and "](plots/mixture_entry.png)" in card


def test_installing_matplotlib_after_a_build_adds_the_plots_on_the_next_build(tmp_path, monkeypatch):
    """The plots depend on matplotlib being there, which the plan does not see: the manifest names the matplotlib that
    drew them (none), so the next build is not "cached" without plots but writes what a cold build writes."""
    pytest.importorskip("matplotlib")
    from humc.dataset import card, manifest, writer

    path = recipe(tmp_path, rows=120)
    with monkeypatch.context() as without:  # as before `pip install humc[plots]`
        for module in (manifest, writer):
            without.setattr(module, "plots_engine", lambda: None)
        without.setattr(card, "pyplot", lambda: None)
        assert run_cli("build", str(path), "-q").exit_code == 0
    folder = tmp_path / "out" / "d"
    assert not (folder / "plots").exists() and json.loads((folder / "build.json").read_text())["plots"] is None
    result = run_cli("build", str(path))
    assert result.exit_code == 0 and re.search(r"corpus/write\s*│\s*built", result.output), result.output
    assert sorted(folder.glob("plots/*.png")) and json.loads((folder / "build.json").read_text())["plots"]
    warm = tree_bytes(folder)
    cold = tmp_path / "cold"
    cold.mkdir()
    assert run_cli("build", str(recipe(cold, rows=120)), "-q").exit_code == 0
    assert tree_bytes(cold / "out" / "d") == warm


# ------------------------------------------------------------------ ablations


def test_ablate_writes_sibling_datasets_from_the_same_rows_and_splits(tmp_path):
    path = recipe(tmp_path, rows=150, top="ablations: [guidelines]")
    result = run_cli("build", str(path), "-q", "--ablate", "rules,formats,templates")
    assert result.exit_code == 0, result.output
    names = ["d", "d-no-guidelines", "d-no-rules", "d-no-formats", "d-no-templates"]
    assert all(f"wrote {tmp_path / 'out' / n}" in result.output for n in names)

    def rows(name: str) -> set[tuple[str, int, str]]:
        data = tmp_path / "out" / name / "data"
        return {(r["source"], r["source_row"], f.name.split("-")[0]) for f in data.glob("*.parquet")
                for r in pq.read_table(f).to_pylist()}

    assert all(rows(n) == rows("d") for n in names[1:])
    assert not any(r["guidelines"] for r in built(tmp_path, "d-no-guidelines"))
    assert not any(r["rules"] for r in built(tmp_path, "d-no-rules"))
    assert {r["answer_format"] for r in built(tmp_path, "d-no-formats")} == {"json"}
    assert {r["template"] for r in built(tmp_path, "d-no-templates")} == {"ner/en_1"}
    assert {r["template"] for r in built(tmp_path, "d")} == {"ner/en_1", "ner/en_2"}


def test_an_unknown_ablation_fails_before_anything_is_written(tmp_path):
    result = run_cli("build", str(recipe(tmp_path, rows=5)), "--ablate", "guideline")
    assert result.exit_code == 2 and "unknown ablation 'guideline'" in result.output
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ the Hum recipe, EET and EEA


def test_the_hum_recipe_builds_offline_with_eet_eea_and_both_languages(tmp_path):
    recipes = copy_recipes(tmp_path)
    result = run_cli("build", "hum.hum.yaml", "-q", cwd=recipes)
    assert result.exit_code == 0, result.output
    records = built(recipes, "hum")
    assert {r["language"] for r in records} == {"en", "zh"}
    assert {"ner", "re", "ee", "eet", "eea", "openie", "classification"} <= {r["task"] for r in records}
    eea = [r for r in records if r["task"] == "eea"]
    assert any(g["argument"] == "NAN" for r in eea for g in json.loads(r["gold"]))
    for r in eea:  # one row per shown role, in the order shown
        assert [g["role"] for g in json.loads(r["gold"])] == r["labels"]
    for r in (r for r in records if r["task"] == "eet"):
        gold = json.loads(r["gold"])
        assert all(set(g) == {"event_type", "trigger"} for g in gold) and len(gold) == len({json.dumps(g) for g in gold})
        assert len(r["labels"]) <= 5
    kinds = json.loads((recipes / "out" / "hum" / "build.json").read_text())
    assert kinds["counts"]
    card = (recipes / "out" / "hum" / "README.md").read_text()
    compound = re.search(r"^\| compound \| \d+ \| \d+ \| \d+ \| ([\d.]+)% \|$", card, re.M)
    assert compound and abs(float(compound.group(1)) - 45) <= 2  # the recipe's own `mix: {compound: 0.45}`
    # an empty answer is written as a stated rule promises ("unanswerable"), basic instructions included
    unanswerable = [r for r in records if r["output"] == "unanswerable"]
    assert unanswerable and all("unanswerable" in r["rules"] and "unanswerable" in r["instruction"]
                                for r in unanswerable)
    # so the dataset's own gold, scored as predictions from the folder alone, is perfect in every format
    predictions = tmp_path / "gold.jsonl"
    predictions.write_text("".join(json.dumps({"id": r["id"], "prediction": r["output"]}) + "\n" for r in records))
    scored = run_cli("eval", str(recipes / "out" / "hum"), "--predictions", str(predictions), "--split", "train",
                     "--report", str(tmp_path / "r.json"))
    assert scored.exit_code == 0, scored.output
    overall = json.loads((tmp_path / "r.json").read_text())
    assert (overall["overall"]["score"], overall["overall"]["format_adherence"]) == (1.0, 1.0)
    held = [r for r in records if r["template"] == "ner/en_3" or r["answer_format"] == "markdown_table"]
    train = {r["id"] for f in (recipes / "out" / "hum" / "data").glob("train-*.parquet") for r in pq.read_table(f).to_pylist()}
    assert held and not any(r["id"] in train for r in held)


def test_the_hum_recipe_plan_has_ratio_and_mixture_nodes(tmp_path, monkeypatch):
    recipes = copy_recipes(tmp_path)
    monkeypatch.chdir(recipes.parent)
    p = plan_recipe(Path("recipes/hum.hum.yaml"), cache_dir=Path("cache"))
    lines = [f"{n.id:<28} {n.kind:<7} <- {', '.join(n.inputs) or '-'}" for n in p.nodes]
    check_golden("plan_hum.txt", "\n".join(lines) + "\n")
    assert p.node("ner_en/ratio").config["ratio"] == (1, 2) and p.node("corpus/mixture").inputs == ("corpus/dedup",)


def test_mixture_weights_downsample_to_the_declared_shares_then_caps_apply():
    records = [{"id": f"a{i}", "task_entry": "a", "task": "ner", "source": "s", "language": "en",
                "answer_format": "json" if i % 2 else "tuples"} for i in range(300)]
    records += [{"id": f"b{i}", "task_entry": "b", "task": "re", "source": "t", "language": "zh",
                 "answer_format": "json"} for i in range(90)]
    keep, dropped = mixture_keep(records, Mixture(weights=(("entry", (("a", 1.0), ("b", 2.0))),), seed=3))
    assert sum(1 for i in keep if records[i]["task_entry"] == "a") == 45
    assert sum(1 for i in keep if records[i]["task_entry"] == "b") == 90 and dropped == {"mixture weights: entry": 255}
    keep, _ = mixture_keep(records, Mixture(caps=(("format", (("tuples", 10),)), ("language", (("zh", 5),))), seed=3))
    assert sum(1 for i in keep if records[i]["answer_format"] == "tuples") == 10
    assert sum(1 for i in keep if records[i]["language"] == "zh") == 5 and len(keep) == 150 + 10 + 5
    again, _ = mixture_keep(records, Mixture(caps=(("format", (("tuples", 10),)), ("language", (("zh", 5),))), seed=3))
    assert again == keep


def test_a_record_schema_labels_field_limits_its_negatives(tmp_path):
    path = recipe(tmp_path, rows=60, schema="{negatives: all}")
    path.write_text(path.read_text().replace("fields: {text: text, entities: ents}",
                                             "fields: {text: text, entities: ents, schema_labels: '[\"PER\", \"ORG\"]'}"))
    for r in rendered(path):
        gold = {g["type"] for g in json.loads(r["gold"])}
        assert set(r["labels"]) == gold | {"PER", "ORG"}


def test_without_matplotlib_the_card_keeps_the_tables_and_writes_no_plot(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails, as when not installed
    path = recipe(tmp_path, rows=40, top="mix: {compound: 0.5}")
    result = run_cli("build", str(path), "-q")
    assert result.exit_code == 0, result.output
    card = (tmp_path / "out" / "d" / "README.md").read_text()
    assert "| basic |" in card and "| compound |" in card and ".png" not in card
    assert not (tmp_path / "out" / "d" / "plots").exists()


def test_an_inline_hard_negative_outside_labels_is_a_located_error(tmp_path):
    result = run_cli("check", str(recipe(tmp_path, rows=5, schema="{hard_negatives: {ORG: [LOCATION]}}")))
    assert result.exit_code == 2 and "hard negative 'LOCATION' is not in `labels:`" in result.output
    assert "d.hum.yaml:" in result.output and "expected: one of: PER, ORG, LOC" in result.output


NER_MIX = """hum: 1
name: nermix
sources:
  msra: {{catalog: msra_ner, path: msra.txt}}
  conll: {{catalog: conll2003, path: conll.txt}}
tasks:
  - source: msra
    language: zh
    formats: [json, tuples]
  - source: conll
    formats: [json, tuples]
output:
  mixture:
    weights: {{language: {{en: 1, zh: 1}}}}
{caps}"""


def test_the_card_sets_the_declared_mixture_beside_the_realised_one_and_says_when_a_cap_broke_a_weight(tmp_path):
    """MSRA (zh) + CoNLL-2003 (en) weighted 1:1 by language, then CoNLL capped: the cap applies after the weights,
    so the languages end far from 50/50. The card's table says what was asked and what came out, and says why."""
    shutil.copy(REPO / "tests" / "data" / "msra_ner" / "test.head150.txt", tmp_path / "msra.txt")
    shutil.copy(REPO / "tests" / "data" / "conll2003" / "eng.testa.head", tmp_path / "conll.txt")
    (tmp_path / "r.hum.yaml").write_text(NER_MIX.format(caps="    caps: {entry: {conll: 5}}\n"), encoding="utf-8")
    result = run_cli("build", "r.hum.yaml", "-q", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    records = [r for p in (tmp_path / "out" / "nermix" / "data").glob("*.parquet") for r in pq.read_table(p).to_pylist()]
    en = sum(r["language"] == "en" for r in records)
    assert en == 5 and len(records) > 20
    card = (tmp_path / "out" / "nermix" / "README.md").read_text(encoding="utf-8")
    assert "| dimension | value | declared | target share | records | realised share |" in card
    assert f"| language | en | weight 1 | 50.0% | 5 | {100 * en / len(records):.1f}% |" in card
    assert "| task entry | conll | at most 5 |  | 5 |  |" in card
    assert f"**The realised shares miss the declared weights** (language en: {100 * en / len(records):.1f}% for 50.0%" \
           in card
    (tmp_path / "r.hum.yaml").write_text(NER_MIX.format(caps=""), encoding="utf-8")
    assert run_cli("build", "r.hum.yaml", "-q", cwd=tmp_path).exit_code == 0
    card = (tmp_path / "out" / "nermix" / "README.md").read_text(encoding="utf-8")
    assert "| language | en | weight 1 | 50.0% |" in card and "| language | zh | weight 1 | 50.0% |" in card
    assert "miss the declared weights" not in card
