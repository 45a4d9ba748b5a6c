"""Edits of template and guideline texts (``rendering.retexted``) and check reuse (``reuse.PriorChecks``) against a
cold build of the edited recipe: guidelines sharing an id, a broken template edit's error, ``--ablate`` siblings,
and several tasks (EEA with batched schemas and per-record labels, multiple choice, held-out templates)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import humc.build.execute as execute
from humc.build.compiler import build, plan_recipe
from humc.errors import HumcError

RECIPE = """hum: 1
name: r
stdlib: [.]
sources:
  s: ents.jsonl
tasks:
  - id: ner
    task: ner
    source: s
    fields: {{text: text, entities: ents}}
    labels: [PER, ORG, LOC]
    guidelines: {guidelines}
    templates: [t0, t1]
    formats: [json]
    variants_per_record: 1
output:
  splits: {{train: 1.0}}
"""


def _write(folder: Path, guidelines: str, t0: str = "T0.", t1: str = "T1.", rows: int = 30,
           edited: frozenset[int] = frozenset()) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "ents.jsonl", "w", encoding="utf-8") as f:
        for i in range(rows):
            word = "names" if i in edited else "mentions"
            f.write(json.dumps({"text": f"Sentence {i} {word} Acme{i} in City{i}.",
                                "ents": [{"type": "ORG", "span": f"Acme{i}"}, {"type": "LOC", "span": f"City{i}"}]})
                    + "\n")
    (folder / "templates" / "ner").mkdir(parents=True, exist_ok=True)
    for k, head in enumerate([t0, t1]):
        (folder / "templates" / "ner" / f"t{k}.j2").write_text(
            f"{head} Types: {{{{ labels | join(', ') }}}}\n{{{{ guidelines | join(' ') }}}}\n"
            f"{{{{ label_definitions }}}}\n{{{{ format_instruction }}}}\nText: {{{{ text }}}}\n")
    (folder / "r.hum.yaml").write_text(RECIPE.format(guidelines=guidelines), encoding="utf-8")


def _tree(folder: Path, jobs: int = 1) -> dict[str, bytes]:
    plan = plan_recipe(folder / "r.hum.yaml", out_dir=folder / "out", cache_dir=folder / "cache")
    build(plan, jobs=jobs)
    return {str(p.relative_to(folder / "out")): p.read_bytes() for p in sorted((folder / "out").rglob("*"))
            if p.is_file() and p.suffix == ".parquet"}


def _instructions(folder: Path) -> list[str]:
    import pyarrow.parquet as pq
    out: list[str] = []
    for p in sorted((folder / "out").rglob("*.parquet")):
        out += pq.read_table(p).column("instruction").to_pylist()
    return out


def test_an_edit_of_the_first_of_two_guidelines_sharing_an_id_shows_in_a_warm_build(tmp_path: Path) -> None:
    """Nothing stops two guidelines of an entry from sharing an id: an edit of the first must show (the render memo
    compares the guidelines' digests in order, not by id)."""
    before = '[{id: g, text: "Alpha rule."}, {id: g, text: "Beta rule."}]'
    after = '[{id: g, text: "Gamma rule."}, {id: g, text: "Beta rule."}]'
    warm, cold = tmp_path / "warm", tmp_path / "cold"
    _write(warm, before)
    _tree(warm)
    _write(warm, after)
    _write(cold, after)
    w, c = _tree(warm), _tree(cold)
    assert any("Gamma rule." in s for s in _instructions(cold))
    assert w == c


def _templates_by_row(folder: Path) -> dict[int, str]:
    import pyarrow.parquet as pq
    out: dict[int, str] = {}
    for p in sorted((folder / "out").rglob("*.parquet")):
        t = pq.read_table(p).to_pydict()
        out.update(zip(t["source_row"], t["template"], strict=True))
    return out


def test_a_broken_template_edit_reports_the_same_error_warm_as_cold(tmp_path: Path) -> None:
    """Texts are rendered again when a chunk is started, before its fresh records (here: edited rows first in the
    chunk) are rendered: a text that fails sends its record to the fresh render, so the error raised is the first
    one in record order, the cold build's — same record, template and message."""
    g = '[{id: g, text: "Alpha rule."}]'
    warm, cold = tmp_path / "warm", tmp_path / "cold"
    _write(warm, g)
    _tree(warm)
    chosen = _templates_by_row(warm)
    first = chosen[0]
    j = next(r for r in sorted(chosen) if chosen[r] != first)
    edited = frozenset(range(j))  # rows 0..j-1 changed (rendered fresh); row j (other template) is retexted
    broken0, broken1 = "{{ 1 // 0 }}T0", "{{ (1).nope() }}T1"
    _write(warm, g, t0=broken0, t1=broken1, edited=edited)
    _write(cold, g, t0=broken0, t1=broken1, edited=edited)
    with pytest.raises(HumcError) as cold_error:
        _tree(cold)
    with pytest.raises(HumcError) as warm_error:
        _tree(warm)
    assert cold_error.value.code == warm_error.value.code == "E4202"
    cold_text, warm_text = str(cold_error.value).replace(str(cold), "<dir>"), str(warm_error.value).replace(str(warm), "<dir>")
    assert cold_text == warm_text


@pytest.mark.parametrize("ablate", [(), ("templates",)])
def test_with_an_ablation_the_check_reuses_nothing_after_a_guideline_edit(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch,
                                                                          ablate: tuple[str, ...]) -> None:
    """Instruction ids include the recipe's name, so the check shape does too: the `-no-templates` sibling's check
    (another name) does not take ``checked/<shape>`` from the recipe's own, and after a guideline edit the recipe
    checks nothing again."""
    from humc.build.compiler import ablation_plans

    calls = {"check": 0}
    real = execute.check_rendered

    def counted(*a: object) -> object:
        calls["check"] += 1
        return real(*a)  # type: ignore[arg-type]

    monkeypatch.setattr(execute, "check_rendered", counted)

    def run(folder: Path) -> None:
        plan = plan_recipe(folder / "r.hum.yaml", out_dir=folder / "out", cache_dir=folder / "cache")
        for p in [plan, *ablation_plans(plan, ablate)]:
            build(p, jobs=1)

    _write(tmp_path, '[{id: g, text: "Alpha rule."}]')
    run(tmp_path)
    calls["check"] = 0
    _write(tmp_path, '[{id: g, text: "Gamma rule."}]')
    plan = plan_recipe(tmp_path / "r.hum.yaml", out_dir=tmp_path / "out", cache_dir=tmp_path / "cache")
    build(plan, jobs=1)  # the main dataset only: after a guideline edit it should check nothing again
    assert calls["check"] == 0, calls


MULTI = """hum: 1
name: m
stdlib: [.]
sources:
  ev: ev.jsonl
  mc: mc.jsonl
tasks:
  - id: eea
    task: eea
    source: ev
    fields: {{text: text, event_type: event_type, trigger: trigger, arguments: args, schema_labels: roles}}
    labels: [buyer, seller, price, place, time, victim]
    schema: {{negatives: 2, split_num: 2}}
    guidelines: [{{id: ga, text: "{ga}", labels: {{buyer: "{buyer}", seller: who sells}}}}]
    templates: [x_1, x_2]
    formats: [json, tuples]
    variants_per_record: 2
  - id: mc
    task: mrc_multiple_choice
    source: mc
    fields: {{context: context, question: question, options: options, answer: answer}}
    guidelines: [{{id: gm, text: "{gm}"}}]
    templates: [x_1, x_2]
    formats: [json, natural]
    variants_per_record: 2
output:
  splits: {{train: 0.5, test: 0.5}}
  held_out: {{templates: [eea/x_2]}}
"""


def _multi(folder: Path, ga: str = "Roles.", buyer: str = "who buys", gm: str = "Pick one.", head: str = "Do it.",
           edited: frozenset[int] = frozenset()) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    roles = ["buyer", "seller", "price", "place", "time", "victim"]
    with open(folder / "ev.jsonl", "w", encoding="utf-8") as f:
        for i in range(80):
            args = [] if i % 5 == 0 else [{"role": roles[(i + k) % 4], "argument": f"Arg{i}x{k}"} for k in range(i % 3)]
            w = "bought" if i not in edited else "purchased"
            f.write(json.dumps({"text": f"Event {i} {w} " + " ".join(a["argument"] for a in args), "event_type": "trade",
                                "trigger": w, "args": args, "roles": roles[:4] if i % 2 else roles}) + "\n")
    with open(folder / "mc.jsonl", "w", encoding="utf-8") as f:
        for i in range(80):
            f.write(json.dumps({"context": f"Passage {i} " + ("x" if i in edited else ""), "question": f"Q{i}?",
                                "options": [f"o{i}a", f"o{i}b", f"o{i}c"], "answer": "ABC"[i % 3]}) + "\n")
    for task, body in (("eea", "{{ text }} / {{ event_type }} / {{ trigger }}"),
                       ("mrc_multiple_choice", "{{ context }} {{ question }} "
                                               "{% for o in options %}{{ option_labels[loop.index0] }}. {{ o }} {% endfor %}")):
        (folder / "templates" / task).mkdir(parents=True, exist_ok=True)
        for k in (1, 2):
            (folder / "templates" / task / f"x_{k}.j2").write_text(
                f"{head} {k} {{{{ labels | join(', ') }}}} {{{{ label_definitions }}}} {{{{ guidelines | join(' ') }}}}\n"
                f"{{{{ format_instruction }}}}\n{body}\n")
    (folder / "m.hum.yaml").write_text(MULTI.format(ga=ga, buyer=buyer, gm=gm), encoding="utf-8")


def _mtree(folder: Path) -> dict[str, bytes]:
    plan = plan_recipe(folder / "m.hum.yaml", out_dir=folder / "out", cache_dir=folder / "cache")
    build(plan, jobs=1)
    return {str(p.relative_to(folder / "out")): p.read_bytes() for p in sorted((folder / "out").rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("edit", [
    {"ga": "Roles, edited."}, {"buyer": "who pays"}, {"gm": "Choose."}, {"head": "Now do it."},
    {"head": "Again.", "buyer": "the payer", "edited": frozenset({0, 3, 41})},
])
def test_text_edits_over_several_tasks_write_what_a_cold_build_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                      edit: dict[str, object]) -> None:
    """Guideline text, label definition and template edits (and one with edited rows) over an EEA entry with
    batched schemas and per-record labels and a multiple-choice entry, with a held-out template."""
    monkeypatch.setattr(execute, "CHUNK_SIZE", 25)
    warm, cold = tmp_path / "warm", tmp_path / "cold"
    _multi(warm)
    _mtree(warm)
    _multi(warm, **edit)  # type: ignore[arg-type]
    _multi(cold, **edit)  # type: ignore[arg-type]
    w, c = _mtree(warm), _mtree(cold)
    assert w.keys() == c.keys()
    assert [k for k in w if w[k] != c[k]] == []
