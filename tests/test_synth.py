"""The human–LLM loop: humc synth (proposals) -> humc review (decisions) -> lockfile -> build inputs."""

from __future__ import annotations

import json
import re
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("diskcache")
pytest.importorskip("openai")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from click.testing import CliRunner  # noqa: E402

from humc.assets.review import review  # noqa: E402
from humc.assets.synth import check_paraphrase, synthesize  # noqa: E402
from humc.build.compiler import load_recipe  # noqa: E402
from humc.cli import main  # noqa: E402
from humc.errors import HumcError, RecipeError  # noqa: E402
from humc.ir import SynthSpec  # noqa: E402
from humc.llm import ModelConfig  # noqa: E402
from humc.recipe.lockfile import Lockfile, LockItem, apply_lock, item_id, load_lock, lock_path_for, save_lock  # noqa: E402
from humc.templating import render_template  # noqa: E402
from tests.helpers import copy_recipes, run_cli, uncoded  # noqa: E402
from tests.llmserver import LLMServer, Reply  # noqa: E402

RECIPE = """\
hum: 1
name: ner_synth
language: en
{models}
sources:
  conll:
    path: data/conll2003/eng.testa.head40
    format: conll
    options:
      columns: [tokens, pos, chunk, ner_tags]
tasks:
  - id: conll
    task: ner
    source: conll
    fields:
      text: tokens | join(" ")
      entities: bio_spans(tokens, ner_tags)
    labels: [PER, ORG, LOC, MISC, DATE]
    guidelines: [conll2003_types]
    preferences: [order_entities_by_position]
    templates: [en_1, en_2, en_3]
    formats: [json]
{synth}
output:
  splits: {{train: 1.0}}
"""

SYNTH = "    synth: {model: writer, paraphrases: 2, guidelines: true, rules: 3}"

GOOD_RULE = {"text": "Report each entity once, in order of appearance.",
             "then": 'dedupe | sort_by_position("span")'}
WHEN_RULE = {"text": "If there are no entities, answer none.", "when": "len(answer) == 0",
             "then": 'empty_as("none")'}
BAD_OP = {"text": "Reverse the rows.", "then": "reverse_rows"}
BAD_COLUMN = {"text": "Uppercase the kinds.", "then": 'uppercase("kind")'}


def _first_user(body: dict) -> str:
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


def responder(body: dict) -> str:
    prompt = _first_user(body)
    if "Rewrite every sentence" in prompt:  # the template's prose, numbered; humc puts the tags back
        sentences = json.loads(prompt.split("as JSON:\n", 1)[1].split("\n\nRewrite", 1)[0])
        first = sentences["1"]
        if first.startswith("You are an information extraction system"):      # en_3: never valid JSON
            return '{"paraphrases": [{"1": "unterminated'
        good1 = dict(sentences, **{"1": "Please read carefully. " + first})
        good2 = dict(sentences, **{"1": "Your task: " + first[0].lower() + first[1:]})
        if first.startswith("Extract all named entities"):                     # en_1: 2 good + 1 bad
            sneaked = dict(sentences, **{"1": first + " {{ lang }}"})         # a placeholder of its own
            return json.dumps({"paraphrases": [good1, good2, sneaked]})
        return json.dumps({"paraphrases": [good1, sentences]})               # en_2: 1 good + 1 identical
    if "Write a definition" in prompt:
        return json.dumps({"DATE": "absolute or relative dates and periods (e.g. \"Monday\", \"1996\")"})
    if "preference rule" in prompt:
        return json.dumps({"rules": [GOOD_RULE, BAD_OP, WHEN_RULE, BAD_COLUMN]})
    return "{}"


@pytest.fixture(scope="module")
def server():
    with LLMServer(responder=responder) as srv:
        yield srv


def synth_recipe(tmp_path: Path, base_url: str, params: str = "{temperature: 0.7}") -> Path:
    """The NER recipe with `synth:` (``RECIPE``) among copies of recipes/, its `writer` model at ``base_url``."""
    root = copy_recipes(tmp_path)
    models = (f"models:\n  writer:\n    base_url: {base_url}\n    model: test-model\n"
              f"    params: {params}\n    concurrency: 4\n    max_retries: 0")
    path = root / "ner_synth.hum.yaml"
    path.write_text(RECIPE.format(models=models, synth=SYNTH), encoding="utf-8")
    return path


@pytest.fixture
def recipe_path(tmp_path, server):
    return synth_recipe(tmp_path, server.base_url)


def _recipe(path: Path):
    """The compiled recipe (the validator parses `models:` and `synth:`), with a test-only fast backoff."""
    r = load_recipe(path)
    models = {k: replace(v, backoff_base=0.01) for k, v in r.models.items()}
    return replace(r, models=models)


def _synth(path: Path, server: LLMServer, tmp: Path):
    before = server.request_count
    report = synthesize(_recipe(path), cache_dir=tmp / "cache")
    return report, server.request_count - before


# ----------------------------------------------------------------------------- synth


def test_synth_proposes_valid_and_counts_invalid(recipe_path, server, tmp_path):
    report, sent = _synth(recipe_path, server, tmp_path)
    lock = load_lock(lock_path_for(recipe_path))
    kinds = [i.kind for i in lock.items]
    assert kinds.count("template") == 3          # en_1: 2 good; en_2: 1 good; en_3: invalid JSON
    assert kinds.count("guideline") == 1 and kinds.count("rule") == 2
    assert report.proposed == 6 and report.kept == 0 and report.awaiting == 6
    reasons = "\n".join(f"{w}: {r}" for w, r in report.invalid)
    assert "paraphrases of en_1: paraphrase 3: changes the template variables: adds lang" in reasons
    assert "paraphrases of en_2: paraphrase 2: identical to the original template" in reasons
    assert "paraphrases of en_3: no valid answer after 3 attempt(s)" in reasons
    assert "unknown answer operation 'reverse_rows'" in reasons
    assert "names column 'kind'" in reasons
    assert len(report.invalid) == 5
    # 3 paraphrase requests (en_3 retried twice more) + guidelines + rules, plus one structured-output probe
    assert sent == 3 + 2 + 1 + 1 + 1 == report.requests + 1 and report.forms == {"writer": "json_schema"}
    assert report.stats["writer"].completion_tokens > 0
    t = [i for i in lock.items if i.kind == "template"]
    assert {i.base for i in t} == {"en_1", "en_2"} and all(i.status == "proposed" for i in t)
    assert all(i.origin == "llm" and i.model == "test-model" and i.recipe_model == "writer (test-model)"
               and len(i.request) == 64 and i.params.get("seed") == 0 and len(i.date) == 10 for i in lock.items)
    assert t[0].id == item_id("template", "conll", "en_1", t[0].text)
    g = next(i for i in lock.items if i.kind == "guideline")
    assert g.labels == {"DATE": 'absolute or relative dates and periods (e.g. "Monday", "1996")'}
    rules = [i for i in lock.items if i.kind == "rule"]
    assert [(r.then, r.when) for r in rules] == [(GOOD_RULE["then"], None), (WHEN_RULE["then"], "len(answer) == 0")]
    # the guideline prompt is seeded with the human-written definitions
    seeded = [r.json for r in server.received if "Write a definition" in _first_user(r.json)]
    assert "PER: names of people" in _first_user(seeded[-1]) and "DATE" in _first_user(seeded[-1])


def test_rerun_sends_nothing_and_keeps_decisions(recipe_path, server, tmp_path):
    _synth(recipe_path, server, tmp_path)
    lock_path = lock_path_for(recipe_path)
    lock = load_lock(lock_path)
    lock.items[0].status = "accepted"
    lock.items[1].status = "rejected"
    lock.items[2].text = lock.items[2].text.replace("Please", "Kindly")
    lock.items[2].edited, lock.items[2].status = True, "accepted"
    save_lock(lock)
    before = lock_path.read_text(encoding="utf-8")
    report, sent = _synth(recipe_path, server, tmp_path)    # the lockfile is applied while loading now
    assert sent == 0 and report.requests == 0 and report.cache_hits == 7
    assert report.proposed == 0 and report.kept == 6
    assert lock_path.read_text(encoding="utf-8") == before
    assert report.awaiting == 3


def test_a_review_decision_made_while_synth_waits_for_its_model_is_kept(tmp_path):
    """synth reads the lockfile first and saves it after the model answered: it merges its proposals into the file as
    it is then (under the lockfile's lock), so an item accepted meanwhile stays accepted."""
    asked, go_on = threading.Event(), threading.Event()

    def slow(body: dict) -> str:
        asked.set()
        go_on.wait(60)
        return responder(body)

    with LLMServer(responder=slow) as srv:
        root = copy_recipes(tmp_path)
        path = root / "ner_synth.hum.yaml"
        path.write_text(RECIPE.format(models=f"models:\n  writer:\n    base_url: {srv.base_url}\n    model: test-model"
                                             "\n    max_retries: 0", synth=SYNTH), encoding="utf-8")
        earlier = LockItem(id="0123", kind="guideline", entry="conll", origin="human", labels={"DATE": "dates"})
        save_lock(Lockfile(lock_path_for(path), "ner_synth", [earlier]))
        synth = ThreadPoolExecutor(1).submit(synthesize, _recipe(path), cache_dir=tmp_path / "cache")
        assert asked.wait(60), "synth never asked the model"
        assert review(lock_path_for(path), accept_all=True).accepted == 1  # while synth waits for its answers
        go_on.set()
        report = synth.result(60)
    items = load_lock(lock_path_for(path)).items
    assert [(i.id, i.status) for i in items if i.origin == "human"] == [("0123", "accepted")]
    assert report.proposed == 6 and sum(i.status == "proposed" for i in items) == 6 == report.awaiting


def test_synth_cli(recipe_path, server, tmp_path):
    res = CliRunner().invoke(main, ["synth", str(recipe_path), "--cache", str(tmp_path / "c")],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "6 new proposal(s)" in res.output and "5 invalid" in res.output
    assert f"6 proposal(s) awaiting review: humc review {recipe_path}" in res.output
    assert "model writer:" in res.output


def test_synth_against_a_server_that_is_gone_points_at_the_model_in_the_recipe(tmp_path):
    path = synth_recipe(tmp_path, "http://127.0.0.1:9/v1")
    res = CliRunner().invoke(main, ["synth", str(path), "--cache", str(tmp_path / "c")])
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if text == "  writer:") + 1
    assert res.exit_code == 2 and res.output.startswith(f"{path}:{line}:5: error[E4301]: model 'writer'")
    assert "cannot connect" in res.output and "Traceback" not in res.output


def test_synth_without_models_or_schema_notes(tmp_path, server):
    root = copy_recipes(tmp_path)
    r = load_recipe(root / "mrc.hum.yaml")
    entry = replace(r.tasks[0], synth=SynthSpec(model="writer", guidelines=True))
    cfg = ModelConfig(name="writer", base_url=server.base_url, model="test-model")
    report = synthesize(replace(r, tasks=(entry,), models={"writer": cfg}), cache_dir=tmp_path / "c")
    assert report.proposed == 0 and any("no label schema" in n for n in report.notes)
    with pytest.raises(RecipeError, match="synth model 'nope' is not declared"):
        synthesize(replace(r, tasks=(replace(entry, synth=SynthSpec(model="nope", rules=1)),)))


def test_check_paraphrase():
    from humc.recipe.stdlib import load_stdlib

    lib = load_stdlib()
    task = lib.tasks["ner"]
    original = lib.templates["ner"]["en_1"].text
    assert check_paraphrase(original, "Please. " + original, task) is None
    assert "not a valid Jinja2" in check_paraphrase(original, original + "{% if x %}", task)
    moved = original.replace("{{ labels | join(', ') }}", "{{ labels | join('; ') }}")
    assert "does not keep every placeholder" in check_paraphrase(original, moved, task)
    assert "identical" in check_paraphrase(original, "  " + original, task)


def test_a_paraphrase_that_changes_only_punctuation_or_case_is_the_original():
    """SmolLM2 (json_object+schema) "paraphrased" MSRA's zh_structured by dropping its request's final "。": proposed
    as valid, it glued the request to the format sentence (…符合schema定义的实体以 JSON…)."""
    from humc.assets.synth import TemplateWording
    from humc.recipe.stdlib import load_stdlib

    lib = load_stdlib()
    original = lib.templates["ner"]["zh_structured"].text
    wording = TemplateWording.of(original)
    answered = {k: v.rstrip("。") for k, v in wording.wording().items()}
    assert answered != wording.wording()
    reason = check_paraphrase(original, wording.assemble(answered), lib.tasks["ner"])
    assert reason == "identical to the original template"
    english = lib.templates["ner"]["en_1"].text
    assert check_paraphrase(english, english.replace("Extract", "extract", 1).replace(".", "!", 1),
                            lib.tasks["ner"]) == "identical to the original template"


def test_a_paraphrase_that_promises_an_answer_layout_is_refused():
    """The format instruction says how to answer and each instruction draws its own format: a paraphrase that says
    "answer in JSON" or "one per line" contradicts the other formats (a reviewer's own edit may say it)."""
    from humc.assets.synth import format_promises
    from humc.recipe.stdlib import load_stdlib

    lib = load_stdlib()
    for task, original in (("ner", lib.templates["ner"]["en_1"].text), ("re", lib.templates["re"]["zh_1"].text)):
        for added in ("Answer in JSON. ", "List them one per line. ", "用表格回答。", "Give a Markdown table. "):
            reason = check_paraphrase(original, added + original, lib.tasks[task])
            assert reason is not None and reason.startswith("promises an answer layout"), (task, added)
            assert check_paraphrase(original, added + original, lib.tasks[task], layouts=False) is None
    assert check_paraphrase(original, "请注意。" + original, lib.tasks["re"]) is None
    # a layout the original names already may stay; words inside tags are not prose
    assert format_promises("Return an empty list[] {{ x | tojson }} {# JSON #}") == set()
    assert format_promises("返回空列表。Answer as JSON lines, one per line.") == {"列表", "json", "one per line"}
    for task, templates in lib.templates.items():  # every stdlib template is its own faithful paraphrase's original
        for template in templates.values():
            assert check_paraphrase(template.text, "Note. " + template.text, lib.tasks[task]) is None, template.id


# ----------------------------------------------------------------------------- review


def _statuses(path: Path) -> list[tuple[str, str, bool]]:
    return [(i.kind, i.status, i.edited) for i in load_lock(path).items]


def test_review_interactive_then_accept_all(recipe_path, server, tmp_path, monkeypatch):
    _synth(recipe_path, server, tmp_path)
    lock_path = lock_path_for(recipe_path)
    edits = iter([
        "Read this. {{ labels }}\n",                                      # invalid: drops placeholders
        None,                                                             # editor closed without saving
        load_lock(lock_path).items[2].text.replace("Please read carefully.", "Read attentively."),
    ])
    monkeypatch.setattr("click.edit", lambda text=None, **kw: next(edits))
    runner = CliRunner()
    # en_1 #1 accept, en_1 #2 reject, en_2: edit (invalid) -> edit (aborted) -> edit (ok),
    # guideline accept, rule 1 skip, then quit
    res = runner.invoke(main, ["review", str(recipe_path)], input="a\nr\ne\ne\ne\na\ns\nq\n",
                        catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "invalid edit: the edited template changes the template variables" in res.output
    assert "+Please read carefully." in res.output or "Please read carefully." in res.output
    assert "3 accepted (1 edited), 1 rejected, 1 skipped; 2 proposal(s) still awaiting review" in res.output
    assert _statuses(lock_path) == [("template", "accepted", False), ("template", "rejected", False),
                                    ("template", "accepted", True), ("guideline", "accepted", False),
                                    ("rule", "proposed", False), ("rule", "proposed", False)]
    edited = load_lock(lock_path).items[2]
    assert edited.text.startswith("Read attentively.")
    assert edited.id == item_id("template", "conll", "en_2", edited.text.replace("Read attentively.",
                                                                                 "Please read carefully."))
    listing = runner.invoke(main, ["review", str(lock_path), "--list"], catch_exceptions=False).output
    assert "accepted (edited)" in listing and "6 item(s): 2 proposed, 3 accepted, 1 rejected" in listing
    rules = runner.invoke(main, ["review", str(lock_path), "--list", "--kind", "rule"], catch_exceptions=False).output
    assert rules.endswith("2 rule item(s) (of 6 in the lockfile): 2 proposed, 0 accepted, 0 rejected\n")  # counts what it lists
    res = runner.invoke(main, ["review", str(recipe_path), "--accept-all", "--kind", "rule"],
                        catch_exceptions=False)
    assert "2 accepted, 0 rejected; 0 proposal(s) still awaiting review" in res.output
    # a re-run of synth keeps every decision and sends nothing
    report, sent = _synth(recipe_path, server, tmp_path)
    assert sent == 0 and report.proposed == 0 and report.awaiting == 0
    assert [s for _, s, _ in _statuses(lock_path)] == ["accepted", "rejected", "accepted", "accepted",
                                                        "accepted", "accepted"]


def test_review_edit_rule_and_guideline(recipe_path, server, tmp_path, monkeypatch):
    _synth(recipe_path, server, tmp_path)
    lock_path = lock_path_for(recipe_path)
    edits = iter([
        "labels:\n  DATE: calendar dates only\n",
        "text: Sort them.\nwhen: ''\nthen: sort_by(\"nope\")\n",      # invalid column
        "text: Sort them.\nwhen: ''\nthen: sort_by(\"type\")\n",
    ])
    monkeypatch.setattr("click.edit", lambda text=None, **kw: next(edits))
    res = CliRunner().invoke(main, ["review", str(recipe_path), "--kind", "guideline"], input="e\n",
                             catch_exceptions=False)
    assert "1 accepted (1 edited)" in res.output
    res = CliRunner().invoke(main, ["review", str(recipe_path), "--kind", "rule"], input="e\ne\nr\n",
                             catch_exceptions=False)
    assert "names column 'nope'" in res.output
    lock = load_lock(lock_path)
    g = next(i for i in lock.items if i.kind == "guideline")
    assert g.labels == {"DATE": "calendar dates only"} and g.edited and g.status == "accepted"
    r1, r2 = [i for i in lock.items if i.kind == "rule"]
    assert (r1.text, r1.then, r1.when, r1.status, r1.edited) == ("Sort them.", 'sort_by("type")', None,
                                                                 "accepted", True)
    assert r2.status == "rejected"


def test_review_reject_all_and_missing_lock(recipe_path, server, tmp_path):
    for extra in ([], ["--list"], ["--web"]):  # each way names the recipe to synthesize
        res = CliRunner().invoke(main, ["review", str(recipe_path), *extra])
        assert res.exit_code == 2 and "no lockfile" in res.output
        assert f"hint: run `humc synth {recipe_path}` first" in res.output
    _synth(recipe_path, server, tmp_path)
    res = CliRunner().invoke(main, ["review", str(recipe_path), "--reject-all"], catch_exceptions=False)
    assert "0 accepted, 6 rejected" in res.output
    assert all(s == "rejected" for _, s, _ in _statuses(lock_path_for(recipe_path)))


def test_synth_records_the_model_the_server_reported_and_the_card_shows_it(recipe_path, server, tmp_path):
    server.reported_model, server.system_fingerprint = "smollm2", "fp_42"
    report, _ = _synth(recipe_path, server, tmp_path)
    assert "the recipe asks for 'test-model', but the server answered as 'smollm2'" in report.render()
    lock_path = lock_path_for(recipe_path)
    lock = load_lock(lock_path)
    assert all((i.origin, i.model, i.recipe_model, i.system_fingerprint) == ("llm", "smollm2", "writer (test-model)",
                                                                          "fp_42") for i in lock.items)
    assert all(i.params["temperature"] == 0.7 for i in lock.items)
    assert "test-model" not in "".join(f"{i.model}" for i in lock.items)
    CliRunner().invoke(main, ["review", str(lock_path), "--accept-all"], catch_exceptions=False)
    server.reported_model = None                 # a replay from the cache still knows who answered
    assert _synth(recipe_path, server, tmp_path)[1] == 0
    assert {i.model for i in load_lock(lock_path).items} == {"smollm2"}
    result = run_cli("build", str(recipe_path), "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"), "-q")
    assert result.exit_code == 0, result.output
    card = next((tmp_path / "out").glob("*/README.md")).read_text(encoding="utf-8")
    llms = card.split("## LLMs used", 1)[1].split("## Provenance", 1)[0]
    assert "| smollm2 | writer (test-model) | 0.7 |" in llms and "fp_42" in llms
    assert "(LLM, reported by its server), reviewed by a person" in llms


# ----------------------------------------------------------------------------- lockfile


def test_lock_path_for():
    assert lock_path_for(Path("recipes/mrc.hum.yaml")) == Path("recipes/mrc.hum.lock")
    assert lock_path_for(Path("a/b.yml")) == Path("a/b.lock")


def test_lockfile_round_trip(tmp_path):
    items = [
        LockItem(id="aaaa000001", kind="template", entry="e", status="accepted", origin="llm", model="m-served",
                 recipe_model="w (m)", system_fingerprint="fp_1", params={"temperature": 0.8, "seed": 3},
                 date="2025-06-01", request="k" * 64,
                 base="en_1", text="Line one {{ text }}\n{% if rules %}\n- {{ rules }}\n{% endif %}\n"),
        LockItem(id="0123", kind="guideline", entry="e", origin="human",
                 labels={"DATE": 'dates: "1996"', "时间": "中文定义"}, language="zh"),
        LockItem(id="1e5", kind="rule", entry="e", status="rejected", text="If empty: say none", edited=True,
                 recipe_model="w (m)", when="len(answer) == 0", then='empty_as("none")'),
    ]
    lock = Lockfile(tmp_path / "x.hum.lock", "x", items)
    save_lock(lock)
    text = lock.path.read_text(encoding="utf-8")
    assert text.startswith("# humc lockfile") and "text: |\n" in text and "中文定义" in text
    assert not list(tmp_path.glob(".*.tmp"))
    again = load_lock(lock.path)
    assert again.items == items and again.recipe_name == "x"
    assert [i.origin for i in again.items] == ["llm", "human", "unknown"]   # who wrote each item survives load → save
    assert [i.written_by for i in again.items] == ["m-served (LLM)", "a person", "unknown, edited by hand"]
    assert "date: '2025-06-01'" in text                          # a string, not a YAML date
    save_lock(again)
    assert lock.path.read_text(encoding="utf-8") == text         # deterministic


def test_an_old_lockfile_item_names_no_model_as_its_writer(tmp_path):
    path = tmp_path / "x.hum.lock"
    path.write_text("humc_lock: 1\nrecipe: x\nitems:\n  - id: a1\n    kind: guideline\n    entry: e\n"
                    "    status: accepted\n    model: writer (Qwen/Qwen2.5-7B-Instruct)\n    text: Be brief.\n",
                    encoding="utf-8")
    item = load_lock(path).items[0]
    # it said what the recipe asked for, not who answered: unknown, never credited to that model
    assert (item.origin, item.model, item.recipe_model) == ("unknown", "", "writer (Qwen/Qwen2.5-7B-Instruct)")
    save_lock(load_lock(path))
    assert "origin: unknown\n" in path.read_text(encoding="utf-8") and load_lock(path).items == [item]


@pytest.mark.parametrize("provenance,message", [
    ("origin: llm\n", "`origin: llm` needs `model:`"),
    ("origin: human\n    model: gpt-4o\n", "this item has `origin: human`"),
    ("origin: robot\n", "invalid origin 'robot'"),
])
def test_inconsistent_provenance_is_a_located_error(tmp_path, provenance, message):
    path = tmp_path / "x.hum.lock"
    path.write_text("humc_lock: 1\nitems:\n  - id: a1\n    kind: guideline\n    entry: e\n    status: accepted\n"
                    f"    {provenance}    text: Be brief.\n", encoding="utf-8")
    with pytest.raises(RecipeError, match=re.escape(message)) as info:
        load_lock(path)
    assert info.value.span is not None and info.value.span.line >= 7


def test_bad_lockfile_is_a_located_error(tmp_path):
    path = tmp_path / "x.hum.lock"
    path.write_text("humc_lock: 1\nrecipe: x\nitems:\n  - id: a1\n    kind: template\n    entry: e\n"
                    "    status: maybe\n    base: en_1\n    text: hi\n", encoding="utf-8")
    with pytest.raises(RecipeError) as info:
        load_lock(path)
    assert uncoded(info.value.render()).startswith(f"{path}:7:13: error: invalid status 'maybe'")
    path.write_text("humc_lock: 1\nitems:\n  - id: a1\n    kind: rule\n    entry: e\n    colour: red\n"
                    "    status: proposed\n    then: dedupe\n", encoding="utf-8")
    with pytest.raises(RecipeError, match="unknown key 'colour'") as info:
        load_lock(path)
    assert info.value.span.line == 6


def test_apply_lock_adds_accepted_only(tmp_path):
    root = copy_recipes(tmp_path)
    entry = load_recipe(root / "ner.hum.yaml").tasks[0]
    base = next(t for t in entry.templates if t.id == "en_1")
    para = "Kindly e" + base.text[1:]
    lock_path = tmp_path / "ner.hum.lock"
    lock = Lockfile(lock_path, "ner", [
        LockItem(id="t1", kind="template", entry=entry.id, status="accepted", base="en_1", text=para),
        LockItem(id="t2", kind="template", entry=entry.id, status="proposed", base="en_1", text=para + "x"),
        LockItem(id="t3", kind="template", entry=entry.id, status="rejected", base="en_1", text=para + "y"),
        LockItem(id="t4", kind="template", entry=entry.id, status="accepted", base="en_1", text=para,
                 language="zh"),
        LockItem(id="t5", kind="template", entry="other", status="accepted", base="en_1", text=para),
        LockItem(id="g1", kind="guideline", entry=entry.id, status="accepted", labels={"DATE": "dates"}),
        LockItem(id="g2", kind="guideline", entry=entry.id, status="rejected", labels={"TIME": "times"}),
        LockItem(id="r1", kind="rule", entry=entry.id, status="accepted", text="Say none when empty.",
                 when="len(answer) == 0", then='empty_as("none")'),
        LockItem(id="r2", kind="rule", entry=entry.id, status="proposed", text="x", then="dedupe"),
    ])
    out = apply_lock(entry, lock)
    new_t = [t for t in out.templates if t not in entry.templates]
    assert [(t.id, t.task, t.language, t.path) for t in new_t] == [("en_1~t1", "ner", "en", str(lock_path))]
    import hashlib
    assert new_t[0].digest == hashlib.sha256(para.encode()).hexdigest()
    new_g = [g for g in out.guidelines if g not in entry.guidelines]
    assert [(g.id, g.labels) for g in new_g] == [("llm:g1", (("DATE", "dates"),))]
    new_r = [r for r in out.rules if r not in entry.rules]
    assert [(r.id, r.text, [o.name for o in r.then], r.when.text) for r in new_r] == [
        ("llm:r1", {"en": "Say none when empty."}, ["empty_as"], "len(answer) == 0")]
    assert apply_lock(out, lock) == out                          # idempotent
    # the paraphrase renders like a stdlib template
    variables = {"text": "Paris is nice", "labels": ["LOC"], "label_definitions": {"DATE": "dates"},
                 "guidelines": [], "rules": ["Say none when empty."], "format_instruction": "JSON."}
    assert render_template(new_t[0].text, variables, "x").startswith("Kindly extract all named entities")


def test_apply_lock_bad_rule_is_located_in_lockfile(tmp_path):
    root = copy_recipes(tmp_path)
    entry = load_recipe(root / "ner.hum.yaml").tasks[0]
    path = tmp_path / "ner.hum.lock"
    path.write_text(f"humc_lock: 1\nrecipe: ner\nitems:\n  - id: r1\n    kind: rule\n    entry: {entry.id}\n"
                    "    status: accepted\n    text: Reverse.\n    then: reverse_rows\n", encoding="utf-8")
    with pytest.raises(HumcError) as info:
        apply_lock(entry, load_lock(path))
    assert uncoded(info.value.render()).startswith(f"{path}:9:11: error: unknown answer operation 'reverse_rows'")
    # the recipe loader applies the lockfile next to the recipe: same located error
    (root / "ner.hum.lock").write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(HumcError) as info:
        load_recipe(root / "ner.hum.yaml")
    assert re.search(r"ner\.hum\.lock:9:11: error: unknown answer operation", uncoded(info.value.render()))


def test_a_hand_edited_lockfile_rule_reading_an_unknown_name_is_located_in_the_lockfile(tmp_path):
    """The recipe's own rules and a model's proposals have their `when` names checked; so has a lockfile edited by
    hand: a typo is an error at its place, not a condition that reads nothing."""
    root = copy_recipes(tmp_path)
    entry = load_recipe(root / "ner.hum.yaml").tasks[0]
    item = (f"humc_lock: 1\nrecipe: ner\nitems:\n  - id: r1\n    kind: rule\n    entry: {entry.id}\n"
            "    status: accepted\n    text: Sort them.\n    when: len(anwser) > 1\n    then: dedupe\n")
    (root / "ner.hum.lock").write_text(item, encoding="utf-8")
    with pytest.raises(HumcError) as info:
        load_recipe(root / "ner.hum.yaml")
    shown = uncoded(info.value.render())
    assert re.search(r"ner\.hum\.lock:9:15: error: the condition reads unknown name 'anwser'", shown), shown
    assert "did you mean 'answer'" in shown
    (root / "ner.hum.lock").write_text(item.replace("anwser", "answer"), encoding="utf-8")
    assert any(r.id == "llm:r1" for r in load_recipe(root / "ner.hum.yaml").tasks[0].rules)


def test_end_of_input_at_the_review_prompt_is_a_usage_error_not_a_crash(tmp_path):
    from humc.recipe.lockfile import Lockfile, LockItem, save_lock

    lock = tmp_path / "x.hum.lock"
    save_lock(Lockfile(lock, "x", [LockItem(id="a1", kind="guideline", entry="e", status="proposed", origin="llm", model="m",
                                            request="k", language="en", text="Be brief.", labels={})]))
    result = CliRunner().invoke(main, ["review", str(lock)], input="")
    # was exit 130, "interrupted", as for Ctrl-C: an input that ran out is said so (tests/test_hostile_input7.py)
    assert result.exit_code == 2 and "error[E9001]: standard input ended before the review did" in result.output
    assert "internal error" not in result.output


def test_a_paraphrase_request_sends_only_the_prose_and_humc_puts_the_tags_back(tmp_path):
    from humc.assets.synth import TemplateWording, paraphrase_request
    from humc.recipe.stdlib import load_stdlib

    lib = load_stdlib()
    original = lib.templates["mrc_extractive"]["en_1"].text
    wording = TemplateWording.of(original)
    assert list(wording.wording().values()) == ["Read the passage and answer the question with a span copied from "
                                                "the passage.", "Guidelines:", "Passage:", "Question:"]
    assert wording.assemble(wording.wording()) == original
    reworded = wording.assemble({"1": "Answer  the question\nfrom the passage.", "2": "Rules:", "3": "Text:",
                                 "4": "Q:"})
    assert check_paraphrase(original, reworded, lib.tasks["mrc_extractive"]) is None
    assert reworded.startswith("Answer the question from the passage.\n{% if guidelines or rules %}\nRules:\n")
    entry = load_recipe(copy_recipes(tmp_path) / "mrc.hum.yaml").tasks[0]
    tpl = next(t for t in entry.templates if t.id == "en_1")
    req = paraphrase_request(entry, tpl, 2, 0, "json_schema")
    assert "{{" not in req.messages[1]["content"] and "{%" not in req.messages[1]["content"]
    schema = req.response_format["json_schema"]["schema"]["properties"]["paraphrases"]
    assert schema["minItems"] == schema["maxItems"] == 2 and schema["items"]["required"] == ["1", "2", "3", "4"]
    assert req == paraphrase_request(entry, tpl, 2, 0, "json_schema")   # deterministic: the same cache key


def test_a_request_the_server_rejects_loses_only_that_proposal(tmp_path):
    """A real server refuses a prompt over its context window with HTTP 400: the other kinds still get proposals."""
    def rejecting(body: dict) -> str | Reply:
        if "Write a definition" in _first_user(body):
            return Reply(status=400)
        return responder(body)

    with LLMServer(responder=rejecting) as srv:
        path = synth_recipe(tmp_path, srv.base_url)
        report = synthesize(_recipe(path), cache_dir=tmp_path / "cache")
    kinds = [i.kind for i in load_lock(lock_path_for(path)).items]
    assert kinds.count("guideline") == 0 and kinds.count("template") == 3 and kinds.count("rule") == 2
    reasons = "\n".join(f"{w}: {r}" for w, r in report.invalid)
    assert "definitions of DATE: no valid answer" in reasons and "the server rejected the request" in reasons


def test_a_proposal_cut_off_by_max_tokens_says_so(tmp_path):
    """A real server stops at `max_tokens` mid-JSON: the proposal is invalid because it was cut off, and the report
    says to raise max_tokens instead of calling the reply invalid JSON."""
    def long_definitions(body: dict) -> str:
        if "Write a definition" in _first_user(body):
            return json.dumps({"DATE": "a date " * 200})
        return responder(body)

    with LLMServer(responder=long_definitions, cut_at_max_tokens=True) as srv:
        path = synth_recipe(tmp_path, srv.base_url, "{temperature: 0.7, max_tokens: 100}")
        report = synthesize(_recipe(path), cache_dir=tmp_path / "cache")
    reasons = "\n".join(f"{w}: {r}" for w, r in report.invalid)
    assert "definitions of DATE: no valid answer after 3 attempt(s): the reply was cut off at the model's max_tokens" \
           in reasons and "raise max_tokens" in reasons
