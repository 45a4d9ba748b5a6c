"""Hum's guidelines in the human–LLM loop: label explanations with positive and negative examples, and
hard negatives — `humc synth` proposes them (kinds `examples`, `hard_negatives`), `humc review` decides,
and `humc build` shows accepted examples with the label's definition and confusable labels together."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest

pytest.importorskip("diskcache")
pytest.importorskip("openai")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jsonschema  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from humc.assets.review import ReviewContext, apply_edit, edit_text, review_context  # noqa: E402
from humc.assets.synth import check_examples, check_hard_negatives, hard_negatives_schema, synthesize  # noqa: E402
from humc.assets.web import _body_html  # noqa: E402
from humc.build.compiler import load_recipe  # noqa: E402
from humc.build.rendering import describe_label, label_definitions  # noqa: E402
from humc.cli import main  # noqa: E402
from humc.errors import HumcError, RecipeError  # noqa: E402
from humc.ir import LabelExamples  # noqa: E402
from humc.recipe.lockfile import Lockfile, LockItem, load_lock, lock_path_for, save_lock  # noqa: E402
from humc.recipe.stdlib import load_stdlib  # noqa: E402
from tests.llmserver import LLMServer  # noqa: E402

LABELS = ["PER", "ORG", "LOC", "MISC"]

RECIPE = """\
hum: 1
name: hn
models:
  writer: {{base_url: {url}, model: test-model, concurrency: 2, max_retries: 0}}
sources:
  s: ents.jsonl
tasks:
  - id: ner
    task: ner
    source: s
    fields: {{text: text, entities: ents}}
    labels: [PER, ORG, LOC, MISC]
    schema: {{negatives: 0, hard_negatives: {{PER: [MISC]}}}}
    guidelines:
      - id: types
        labels:
          PER: names of people
          ORG: {{definition: companies and teams, positive: [Surrey], negative: [{{text: Leicester, label: LOC}}]}}
    templates: [en_1]
    formats: [json]
    synth: {{model: writer, hard_negatives: true, examples: 2}}
output:
  splits: {{train: 1.0}}
"""


def _user(body: dict) -> str:
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


def responder(body: dict) -> str:
    prompt, retry = _user(body), len(body["messages"]) > 2
    if "most easily confuses" in prompt:
        if not retry:
            return '{"PER": ["ORG"'                                     # malformed: retried
        return json.dumps({"PER": ["ORG", "PER"],                       # right + confusable with itself
                           "ORG": ["LOC"], "LOC": ["ORG", "CITY"],      # right; right + not a label
                           "MISC": [], "BOGUS": ["ORG"]})               # nothing; not a label
    if "positive example(s)" in prompt:
        return json.dumps({
            "PER": {"positive": ["Ada Lovelace", "Mrs. Smith"], "negative": ["Lovelace Foundation", "Ada Lovelace"]},
            "ORG": {"positive": ["Acme Corp", ""], "negative": ["Acme Street"]},
            "LOC": {"positive": "Paris", "negative": []},
            "NOPE": {"positive": ["x"], "negative": ["y"]}})
    return "{}"


@pytest.fixture(scope="module")
def server():
    with LLMServer(responder=responder) as srv:
        yield srv


@pytest.fixture
def recipe_path(tmp_path, server):
    with open(tmp_path / "ents.jsonl", "w", encoding="utf-8") as f:
        for i in range(40):
            ents = [{"type": LABELS[(i + k) % 4], "span": f"Thing{i}x{k}"} for k in range(1 + i % 2)]
            f.write(json.dumps({"text": "Here " + " and ".join(e["span"] for e in ents) + ".", "ents": ents}) + "\n")
    path = tmp_path / "hn.hum.yaml"
    path.write_text(RECIPE.format(url=server.base_url), encoding="utf-8")
    return path


def _synth(path: Path, tmp: Path):
    r = load_recipe(path)
    r = replace(r, models={k: replace(v, backoff_base=0.01) for k, v in r.models.items()})
    return synthesize(r, cache_dir=tmp / "cache")


def _items(path: Path, kind: str) -> list[LockItem]:
    return [i for i in load_lock(lock_path_for(path)).items if i.kind == kind]


# ----------------------------------------------------------------------------- synth


def test_synth_proposes_hard_negatives_and_examples_keeping_only_the_valid_parts(recipe_path, server, tmp_path):
    report = _synth(recipe_path, tmp_path)
    (hn,) = _items(recipe_path, "hard_negatives")
    assert hn.hard_negatives == {"PER": ["ORG"], "ORG": ["LOC"], "LOC": ["ORG"]}
    assert (hn.origin, hn.model, hn.recipe_model, hn.status) == ("llm", "test-model", "writer (test-model)", "proposed")
    (ex,) = _items(recipe_path, "examples")
    assert ex.examples == {"PER": LabelExamples(("Mrs. Smith",), (("Lovelace Foundation", ""),)),
                           "ORG": LabelExamples(("Acme Corp",), (("Acme Street", ""),))}
    reasons = "\n".join(f"{w}: {r}" for w, r in report.invalid)
    assert "ner: hard negatives: label 'PER' is confusable with itself" in reasons
    assert "label 'LOC': 'CITY' is not a label of the entry" in reasons
    assert "'BOGUS' is not a label of the entry" in reasons
    assert "ner: label examples: label 'PER': Ada Lovelace is both a positive and a negative example" in reasons
    assert "label 'ORG': a positive example is not a non-empty string" in reasons
    assert "label 'LOC': positive is not a list" in reasons and "'NOPE' is not a label" in reasons
    assert report.by_kind == {"hard_negatives": 1, "examples": 1}
    assert "2 new proposal(s) (1 example set(s), 1 hard-negative map(s))" in report.render()
    # the malformed first answer was retried; the schemas went out as json_schema
    asked = [r.json for r in server.received if "most easily confuses" in _user(r.json)]
    assert len(asked) >= 2 and asked[-1]["response_format"]["type"] == "json_schema"
    schema = asked[-1]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["PER"]["items"]["enum"] == ["ORG", "LOC", "MISC"]
    shown = [r.json for r in server.received if "positive example(s)" in _user(r.json)][-1]
    assert "- ORG: companies and teams" in _user(shown) and "give 2 positive" in _user(shown)
    assert report.answers["hard_negatives"] == [1, 1] and report.answers["examples"] == [1, 1]


def test_hard_negative_schema_validates_with_jsonschema_and_rejects_a_non_label():
    schema = hard_negatives_schema(LABELS)
    jsonschema.validate({"PER": ["ORG"], "ORG": ["LOC", "MISC"], "LOC": [], "MISC": ["PER"]}, schema)
    for bad in ({"PER": ["CITY"], "ORG": [], "LOC": [], "MISC": []},       # not a label
                {"PER": ["PER"], "ORG": [], "LOC": [], "MISC": []},        # itself
                {"PER": ["ORG"]},                                          # a label left out
                {"PER": [], "ORG": [], "LOC": [], "MISC": [], "X": []}):   # an extra key
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_the_checks_say_what_is_wrong():
    assert check_hard_negatives(["PER"], LABELS) == ({}, ["not a JSON object of label -> [labels]"])
    assert check_hard_negatives({"PER": "ORG"}, LABELS)[1] == ["label 'PER': not a list of labels"]
    assert check_examples("x", LABELS)[1] == ["not a JSON object of label -> {positive, negative}"]
    assert check_examples({"PER": ["x"]}, LABELS)[1] == ["label 'PER': not an object with positive and negative examples"]


def test_entries_without_a_fixed_label_set_get_notes(tmp_path, server):
    from humc.ir import SynthSpec
    from humc.llm import ModelConfig
    from tests.helpers import copy_recipes

    r = load_recipe(copy_recipes(tmp_path) / "mrc.hum.yaml")
    entry = replace(r.tasks[0], synth=SynthSpec(model="writer", hard_negatives=True, examples=1))
    cfg = ModelConfig(name="writer", base_url=server.base_url, model="test-model")
    report = synthesize(replace(r, tasks=(entry,), models={"writer": cfg}), cache_dir=tmp_path / "c")
    assert report.proposed == 0
    assert any("no label schema; no hard negatives" in n for n in report.notes)
    assert any("no label schema; no label examples" in n for n in report.notes)


def test_a_synth_spec_with_the_new_kinds_only_is_accepted_and_bounds_are_checked(recipe_path):
    spec = load_recipe(recipe_path).tasks[0].synth
    assert spec is not None and spec.hard_negatives and spec.examples == 2 and not spec.rules
    recipe_path.write_text(recipe_path.read_text(encoding="utf-8").replace("examples: 2", "examples: 99"),
                           encoding="utf-8")
    with pytest.raises(RecipeError, match="'examples' must be between 0 and 20"):
        load_recipe(recipe_path)


# ----------------------------------------------------------------------------- lockfile


def test_lockfile_round_trip_of_the_new_kinds(tmp_path):
    path = tmp_path / "x.hum.lock"
    items = [LockItem(id="h1", kind="hard_negatives", entry="ner", hard_negatives={"PER": ["ORG"], "LOC": ["ORG", "MISC"]}),
             LockItem(id="e1", kind="examples", entry="ner", status="accepted", origin="human",
                      examples={"PER": LabelExamples(("Clinton",), (("Clinton Foundation", "ORG"), ("Clintonian", ""))),
                                "LOC": LabelExamples((), (("Paris Hilton", "PER"),))})]
    save_lock(Lockfile(path, "x", items))
    text = path.read_text(encoding="utf-8")
    assert "hard_negatives:\n    PER:\n    - ORG" in text and "label: ORG" in text and "text:" not in text.split("examples:")[0]
    back = load_lock(path)
    assert [(i.kind, i.hard_negatives, i.examples) for i in back.items] == [
        (i.kind, i.hard_negatives, i.examples) for i in items]
    save_lock(back)
    assert path.read_text(encoding="utf-8") == text


@pytest.mark.parametrize(("body", "message", "line"), [
    ("  hard_negatives: {PER: [PER]}\n", "label 'PER' is listed as confusable with itself", 7),
    ("  hard_negatives: {PER: []}\n", "label 'PER' has no confusable label", 7),
    ("  language: en\n", "a hard_negatives item needs `hard_negatives:`", 3),
])
def test_a_bad_hard_negatives_item_is_a_located_error(tmp_path, body, message, line):
    path = tmp_path / "x.hum.lock"
    path.write_text("humc_lock: 1\nitems:\n- id: a\n  kind: hard_negatives\n  entry: ner\n  status: proposed\n" + body,
                    encoding="utf-8")
    with pytest.raises(RecipeError, match=message) as exc:
        load_lock(path)
    assert exc.value.span is not None and exc.value.span.line == line


@pytest.mark.parametrize(("body", "message"), [
    ("  examples: {PER: {definition: people}}\n", "an examples item holds no definition"),
    ("  examples: {PER: {positive: [[a]]}}\n", "a positive example of label 'PER'"),
    ("  examples: {PER: {positive: [a], negative: [a]}}\n", "'a' is both a positive and a negative example"),
    ("  examples: {PER: [a]}\n", "the examples of label 'PER'"),
    ("  language: en\n", "an examples item needs `examples:`"),
])
def test_a_bad_examples_item_is_a_located_error(tmp_path, body, message):
    path = tmp_path / "x.hum.lock"
    path.write_text("humc_lock: 1\nitems:\n- id: a\n  kind: examples\n  entry: ner\n  status: proposed\n" + body,
                    encoding="utf-8")
    with pytest.raises(RecipeError, match=message) as exc:
        load_lock(path)
    assert exc.value.span is not None and exc.value.span.line >= 3


# ----------------------------------------------------------------------------- review and build


def _built(out: Path) -> list[dict]:
    return [r for f in sorted(out.glob("*/data/*.parquet")) for r in pq.read_table(f).to_pylist()]


def test_accepted_items_reach_the_build(recipe_path, tmp_path):
    _synth(recipe_path, tmp_path)
    res = CliRunner().invoke(main, ["review", str(recipe_path), "--accept-all"], catch_exceptions=False)
    assert res.exit_code == 0 and "2 accepted" in res.output
    entry = load_recipe(recipe_path).tasks[0]
    # the recipe's own PER entry wins; the other proposed labels are added
    assert dict(entry.schema.hard_negatives) == {"PER": ("MISC",), "ORG": ("LOC",), "LOC": ("ORG",)}
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["build", str(recipe_path), "--out", str(out), "--cache", str(tmp_path / "cache"),
                                    "-q"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    records = _built(out)
    assert records
    with_org = [r for r in records if "ORG" in {g["type"] for g in json.loads(r["gold"])}]
    assert with_org and all("LOC" in r["labels"] for r in with_org)
    with_per = [r for r in records if "PER" in {g["type"] for g in json.loads(r["gold"])}]
    assert with_per and all("MISC" in r["labels"] and "ORG" not in set(r["labels"]) - {
        g["type"] for g in json.loads(r["gold"])} for r in with_per)
    shown = "\n".join(r["instruction"] for r in records)
    assert ('- ORG: companies and teams. Examples: "Surrey", "Acme Corp". Not: "Leicester" (LOC), "Acme Street".'
            in shown)
    assert '- PER: names of people. Examples: "Mrs. Smith". Not: "Lovelace Foundation".' in shown
    card = next(out.glob("*/README.md")).read_text(encoding="utf-8")
    assert "hard_negatives" in card and "examples" in card


def test_review_edits_hard_negatives_and_examples(recipe_path, tmp_path, monkeypatch):
    _synth(recipe_path, tmp_path)
    edits = iter(["hard_negatives: {PER: [CITY]}\n",                      # invalid: not a label
                  "hard_negatives: {PER: [ORG, LOC]}\n",
                  "examples:\n  PER: {positive: [Ada], negative: [Ada]}\n",  # invalid: both
                  "examples:\n  PER: {positive: [Ada], negative: [{text: Ada Street, label: LOC}]}\n"])
    monkeypatch.setattr("click.edit", lambda text=None, **kw: next(edits))
    res = CliRunner().invoke(main, ["review", str(recipe_path)], input="e\ne\ne\ne\n", catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "PER is confused with: ORG" in res.output and 'PER: "Mrs. Smith"  not: "Lovelace Foundation"' in res.output
    assert "invalid edit: the edited hard negatives are invalid: label 'PER': 'CITY' is not a label" in res.output
    assert "Ada is both a positive and a negative example" in res.output
    (hn,) = _items(recipe_path, "hard_negatives")
    (ex,) = _items(recipe_path, "examples")
    assert (hn.hard_negatives, hn.status, hn.edited) == ({"PER": ["ORG", "LOC"]}, "accepted", True)
    assert (ex.examples, ex.status, ex.edited) == ({"PER": LabelExamples(("Ada",), (("Ada Street", "LOC"),))},
                                                   "accepted", True)
    listing = CliRunner().invoke(main, ["review", str(recipe_path), "--list"], catch_exceptions=False).output
    assert "PER ~ ORG, LOC" in listing and "PER: Ada / not Ada Street" in listing


def test_edits_without_the_recipe_and_the_web_page(tmp_path):
    hn = LockItem(id="h", kind="hard_negatives", entry="ner", hard_negatives={"PER": ["ORG"]})
    ex = LockItem(id="e", kind="examples", entry="ner", examples={"PER": LabelExamples(("Ada",), (("Ada Inc", "ORG"),))})
    ctx = ReviewContext()
    assert "hard_negatives:" in edit_text(hn) and "label: ORG" in edit_text(ex)
    assert apply_edit(hn, "hard_negatives: {PER: [LOC]}", ctx).hard_negatives == {"PER": ["LOC"]}
    with pytest.raises(HumcError, match="confusable with itself"):
        apply_edit(hn, "hard_negatives: {PER: [PER]}", ctx)
    with pytest.raises(HumcError, match="needs a non-empty `examples:`"):
        apply_edit(ex, "examples: []", ctx)
    assert apply_edit(ex, edit_text(ex), ctx).examples == ex.examples
    assert "<th>PER</th><td>ORG</td>" in _body_html(hn, ctx)
    assert "<td>Ada</td><td>Ada Inc (ORG)</td>" in _body_html(ex, ctx)
    assert review_context(None).entries == {}


# ----------------------------------------------------------------------------- guidelines with examples


def test_stdlib_guidelines_carry_examples_and_render_them_in_both_languages():
    lib = load_stdlib()
    for name in ("conll2003_types", "msra_types", "conll04_relations", "ag_news_topics"):
        g = lib.guidelines[name]
        assert {label for label, _ in g.examples} == {label for label, _ in g.labels}, name
    conll = lib.guidelines["conll2003_types"]
    per = label_definitions([conll], ["PER", "ORG"], "en")
    assert per["PER"] == ('names of people, including fictional characters and family names. '
                          'Examples: "Angela Merkel", "Pelé", "Hemingway". Not: "Clinton Foundation" (ORG).')
    alone = label_definitions([conll], ["PER", "DATE"], "en")  # ORG not offered: the look-alike does not name it
    assert alone == {"PER": per["PER"].replace(" (ORG).", ".")}
    msra = label_definitions([lib.guidelines["msra_types"]], ["ORG", "LOC"], "zh")
    assert msra["ORG"].endswith("。例如：“清华大学”、“新华社”、“国务院”。不包括：“北京”（LOC）。")
    assert label_definitions([lib.guidelines["msra_types"]], ["ORG"], "zh")["ORG"].endswith("不包括：“北京”。")
    assert describe_label("", LabelExamples(("a",)), "en") == 'Examples: "a".'
    assert describe_label("plain", LabelExamples(), "en") == "plain"


@pytest.mark.parametrize(("labels", "message"), [
    ("PER: [a, b]", "label 'PER' of inline guideline must be a definition or a mapping"),
    ("PER: {definition: people, positive: [''] }", "a positive example of label 'PER'"),
    ("PER: {definition: people, examples: [a]}", "unknown key 'examples'"),
    ("PER: {positive: []}", "has neither a definition nor examples"),
    ("PER: {definition: people, negative: [{label: ORG}]}", "missing required key 'text'"),
    ("PER: {definition: people, positive: a}", "'positive' of label 'PER'"),
])
def test_a_guideline_label_of_the_wrong_shape_is_a_located_error(tmp_path, recipe_path, labels, message):
    text = recipe_path.read_text(encoding="utf-8").replace("PER: names of people", labels)
    recipe_path.write_text(text, encoding="utf-8")
    with pytest.raises(RecipeError, match=message) as exc:
        load_recipe(recipe_path)
    assert exc.value.span is not None and exc.value.span.line == 17
