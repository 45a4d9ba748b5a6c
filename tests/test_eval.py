"""humc eval and humc export: metrics agree with hand-computed values and reference implementations; a built
example scores 1.0 with its own gold, less against a loopback model that answers wrong or malformed; reports
compare; exports read back in the shape each tool expects."""

from __future__ import annotations

import collections
import gzip
import json
import lzma
import os
import re
import string
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from helpers import REPO, copy_recipes, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from humc.answers.formats import FormatSpec
from humc.dataset.export import written_together
from humc.eval import metrics
from humc.eval.scoring import RecordSpec, Resolver, parse_prediction, score_record

sys.path.insert(0, str(REPO))
from tests.llmserver import LLMServer, Reply, scripted_responder  # noqa: E402

# ------------------------------------------------------------------ the official SQuAD v2 logic, as its script has it
# (evaluate-v2.0.py, https://rajpurkar.github.io/SQuAD-explorer/, CC BY-SA 4.0): the reference our metric must match


def ref_normalize_answer(s: str) -> str:
    def remove_articles(text: str) -> str:
        regex = re.compile(r"\b(a|an|the)\b", re.UNICODE)
        return re.sub(regex, " ", text)

    def white_space_fix(text: str) -> str:
        return " ".join(text.split())

    def remove_punc(text: str) -> str:
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def ref_get_tokens(s: str) -> list[str]:
    if not s:
        return []
    return ref_normalize_answer(s).split()


def ref_compute_exact(a_gold: str, a_pred: str) -> int:
    return int(ref_normalize_answer(a_gold) == ref_normalize_answer(a_pred))


def ref_compute_f1(a_gold: str, a_pred: str) -> float:
    gold_toks = ref_get_tokens(a_gold)
    pred_toks = ref_get_tokens(a_pred)
    common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
    num_same = sum(common.values())
    if len(gold_toks) == 0 or len(pred_toks) == 0:
        return int(gold_toks == pred_toks)
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(pred_toks)
    recall = 1.0 * num_same / len(gold_toks)
    return (2 * precision * recall) / (precision + recall)


PAIRS = [("The Eiffel Tower", "eiffel tower"), ("the cat sat", "cat sat on the mat"), ("Paris!", "paris"),
         ("", ""), ("", "something"), ("an apple a day", "A day"), ("1,000 km", "1000 km"), ("Denver Broncos", "Carolina"),
         ("  spaced   out ", "spaced out"), ("a", "the")]


@pytest.mark.parametrize(("gold", "pred"), PAIRS)
def test_exact_match_and_token_f1_agree_with_the_official_squad_v2_script(gold: str, pred: str) -> None:
    assert metrics.exact_match(gold, pred) == ref_compute_exact(gold, pred)
    assert metrics.token_f1(gold, pred) == pytest.approx(ref_compute_f1(gold, pred))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab the,.!?-'" + "xyz", max_size=30), st.text(alphabet="ab the,.!?-'" + "xyz", max_size=30))
def test_squad_metrics_match_the_reference_on_any_english_text(gold: str, pred: str) -> None:
    assert metrics.exact_match(gold, pred) == ref_compute_exact(gold, pred)
    assert metrics.token_f1(gold, pred) == pytest.approx(ref_compute_f1(gold, pred))


def test_token_f1_by_hand() -> None:
    # gold tokens [cat, sat], predicted [cat, sat, on, mat]: precision 1/2, recall 1, F1 2/3
    assert metrics.token_f1("the cat sat", "cat sat on the mat") == pytest.approx(2 / 3)
    assert metrics.exact_match("The  Cat!", "cat") == 1.0
    # the best over several gold answers; an empty gold (no answer) is matched only by an empty prediction
    assert metrics.best_over_golds(["Denver", "the Denver Broncos"], "Denver Broncos") == (1.0, 1.0)
    assert metrics.best_over_golds([], "") == (1.0, 1.0)
    assert metrics.best_over_golds([], "Paris") == (0.0, 0.0)


def test_chinese_answers_are_compared_per_character() -> None:
    assert metrics.token_f1("主队海城雄鹰", "海城雄鹰") == pytest.approx(2 * (4 / 4) * (4 / 6) / (1 + 4 / 6))


# ------------------------------------------------------------------ spans vs seqeval


def _entities(tags: list[str]) -> list[tuple[str, ...]]:
    """(type, start, end) rows of a BIO sequence (what humc's span metric compares)."""
    rows, start, kind = [], None, None
    for i, tag in enumerate([*tags, "O"]):
        if start is not None and not (tag.startswith("I-") and tag[2:] == kind):
            rows.append((str(kind), str(start), str(i)))
            start = None
        if tag.startswith("B-") or (tag.startswith("I-") and start is None):
            start, kind = i, tag[2:]
    return rows


GOLD_TAGS = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "O", "B-PER"], ["O", "O"], ["B-LOC", "I-LOC", "I-LOC"]]
PRED_TAGS = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O", "O", "O"], ["B-PER", "O"], ["B-LOC", "I-LOC", "O"]]


def test_span_micro_f1_agrees_with_seqeval() -> None:
    seqeval = pytest.importorskip("seqeval.metrics")
    tp = n_pred = n_gold = 0
    for gold, pred in zip(GOLD_TAGS, PRED_TAGS, strict=True):
        g, p = _entities(gold), _entities(pred)
        tp += metrics.exact_matches(g, p)
        n_pred += len(p)
        n_gold += len(g)
    ours = metrics.prf(tp, n_pred, n_gold)
    assert ours.precision == pytest.approx(seqeval.precision_score(GOLD_TAGS, PRED_TAGS))
    assert ours.recall == pytest.approx(seqeval.recall_score(GOLD_TAGS, PRED_TAGS))
    assert ours.f1 == pytest.approx(seqeval.f1_score(GOLD_TAGS, PRED_TAGS))
    # by hand: 5 gold entities, 5 predicted, 2 right (the PER of the first sentence, the ORG of the second): 2/5
    assert (tp, n_pred, n_gold) == (2, 5, 5) and ours.f1 == pytest.approx(0.4)


def test_partial_match_accepts_a_span_cut_short_but_not_another_type() -> None:
    gold = [("LOC", "New York City"), ("PER", "Ada Lovelace")]
    pred = [("LOC", "New York"), ("ORG", "Ada Lovelace")]
    assert metrics.exact_matches(gold, pred) == 0
    assert metrics.partial_matches(gold, pred) == 1
    assert metrics.exact_matches([("A", "x"), ("A", "x")], [("A", "x")]) == 1  # multisets


def test_label_metrics_by_hand_and_against_scikit_learn() -> None:
    pairs = [(frozenset({"A"}), frozenset({"A"})), (frozenset({"B"}), frozenset({"A"})), (frozenset({"B"}), frozenset({"B"}))]
    # A: P 1/2 R 1 F1 2/3; B: P 1 R 1/2 F1 2/3 -> macro 2/3; micro: 2 right of 3 predicted, 3 gold
    assert metrics.macro_f1(pairs) == pytest.approx(2 / 3)
    assert metrics.micro_f1(pairs).f1 == pytest.approx(2 / 3)
    sklearn = pytest.importorskip("sklearn.metrics")
    gold, pred = ["A", "B", "B", "C", "A"], ["A", "A", "B", "C", "C"]
    ours = metrics.macro_f1([(frozenset({g}), frozenset({p})) for g, p in zip(gold, pred, strict=True)])
    assert ours == pytest.approx(sklearn.f1_score(gold, pred, average="macro", zero_division=0))


def test_bootstrap_interval_is_seeded_and_brackets_the_difference() -> None:
    a = [0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0]
    b = [1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0]
    d = metrics.bootstrap_delta(a, b, seed=7)
    assert d == metrics.bootstrap_delta(a, b, seed=7)
    assert d.delta == pytest.approx(0.25) and d.low <= d.delta <= d.high and d.n == 8
    assert metrics.bootstrap_delta(a, a) == metrics.Delta(0.0, 0.0, 0.0, 8)


# ------------------------------------------------------------------ scoring one record

NER = RecordSpec("ner", ("type", "span"), "many", FormatSpec("json"), "[]", (), "spans", "type")


def _record(gold: list[dict[str, str]], **extra: Any) -> dict[str, Any]:
    return {"id": "r1", "gold": json.dumps(gold), "template": "ner/en_1", "answer_format": "json", "language": "en",
            "instruction": "Text: Ada met Bob in Paris.", "output": json.dumps(gold), **extra}


GOLD = [{"type": "PER", "span": "Ada"}, {"type": "PER", "span": "Bob"}, {"type": "LOC", "span": "Paris"}]


def test_a_prediction_is_parsed_strictly_then_leniently_then_in_another_format() -> None:
    strict = parse_prediction(NER, json.dumps(GOLD))
    fenced = parse_prediction(NER, "```json\n" + json.dumps(GOLD) + "\n```")
    other = parse_prediction(NER, "| type | span |\n|---|---|\n| PER | Ada |")
    broken = parse_prediction(NER, '[{"type": "PER", "span": ')
    assert (strict.strict, strict.fallback) == (True, None)
    assert (fenced.strict, fenced.fallback, fenced.table == strict.table) == (False, None, True)
    assert (other.strict, other.fallback, other.table.rows) == (False, "markdown_table", (("PER", "Ada"),))
    assert broken.table is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["PER", "LOC", "ORG"]), st.text(alphabet="abcdef", min_size=1, max_size=5)),
                min_size=1, max_size=5, unique=True), st.data())
def test_perfect_predictions_score_one_and_corrupted_ones_less(rows: list[tuple[str, str]], data: Any) -> None:
    gold = [{"type": t, "span": s} for t, s in rows]
    record = _record(gold)
    assert score_record(NER, record, json.dumps(gold)).score == 1.0
    i = data.draw(st.integers(0, len(gold) - 1))
    corruption = data.draw(st.sampled_from(["drop", "retype", "garble"]))
    bad = [dict(g) for g in gold]
    if corruption == "drop":
        del bad[i]
    elif corruption == "retype":
        bad[i]["type"] = "MISC"
    else:
        bad = '[{"type": '  # type: ignore[assignment]
    assert score_record(NER, record, bad if isinstance(bad, str) else json.dumps(bad)).score < 1.0


def test_rule_adherence_is_the_fixed_point_check_of_the_build() -> None:
    resolver = Resolver.for_stdlib()
    rules = (resolver.rules["order_entities_by_position"], resolver.rules["empty_brackets"])
    spec = RecordSpec("ner", ("type", "span"), "many", FormatSpec("json"), "[]", rules, "spans", "type")
    record = _record(GOLD)
    in_order = score_record(spec, record, json.dumps(GOLD))
    reversed_ = score_record(spec, record, json.dumps(GOLD[::-1]))
    # `empty_as("[]")` says how to answer nothing: not judged where the gold has rows (any answer with rows is a fixed
    # point of it)
    assert in_order.rules == {"order_entities_by_position": True}
    assert reversed_.rules["order_entities_by_position"] is False and reversed_.score == 1.0  # same set, wrong order
    # on an empty gold, `empty_as("[]")` holds only for the promised "[]"
    empty = _record([], output="[]")
    assert score_record(spec, empty, "[]").rules["empty_brackets"] is True
    assert score_record(spec, empty, json.dumps(GOLD)).rules["empty_brackets"] is False


# ------------------------------------------------------------------ end to end


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("eval")
    recipes = copy_recipes(tmp)
    result = run_cli("build", str(recipes / "hum_mix.hum.yaml"), "--out", str(tmp / "out"), "-q")
    assert result.exit_code == 0, result.output
    assert (tmp / "out" / "hum-mix" / "data").is_dir()
    return tmp


def _test_records(built: Path) -> list[dict[str, Any]]:
    return [r for p in sorted((built / "out" / "hum-mix" / "data").glob("test-*.parquet")) for r in pq.read_table(p).to_pylist()]


def _write_predictions(path: Path, records: list[dict[str, Any]], answer: Any = None) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps({"id": r["id"], "prediction": answer(r) if answer else r["output"]}, ensure_ascii=False) + "\n")
    return path


def test_the_built_example_scores_one_with_its_own_gold_as_predictions(built: Path, tmp_path: Path) -> None:
    records = _test_records(built)
    preds = _write_predictions(tmp_path / "gold.jsonl", records)
    result = run_cli("eval", str(built / "out" / "hum-mix"), "--predictions", str(preds), "--report", str(tmp_path / "a.json"),
                     "--markdown", str(tmp_path / "md" / "report.md"))
    assert result.exit_code == 0, result.output
    assert "by task" in result.output and "rule adherence" in result.output
    report = json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))
    assert report["overall"]["n"] == len(records) > 10
    assert report["overall"]["score"] == 1.0 and report["overall"]["format_adherence"] == 1.0
    assert set(report["by"]["task"]) >= {"ner", "re", "ee", "openie", "mrc_extractive", "mrc_multiple_choice",
                                         "multilabel_classification", "generalist"}
    for task, agg in report["by"]["task"].items():
        for key in ("f1", "partial_f1", "exact_match", "accuracy", "micro_f1", "macro_f1"):
            assert agg.get(key, 1.0) == 1.0, (task, key)
    assert report["rules"] and all(r["adherence"] == 1.0 for r in report["rules"].values())
    md = (tmp_path / "md" / "report.md").read_text(encoding="utf-8")
    assert "## By task" in md and "| ner |" in md


def test_the_terminal_tables_show_every_template_name_whole(built: Path, tmp_path: Path) -> None:
    """An 80-column terminal used to cut every name to "mrc_multiple_choic…", so the rows of one task's templates
    could not be told apart."""
    preds = _write_predictions(tmp_path / "gold.jsonl", _test_records(built))
    result = run_cli("eval", str(built / "out" / "hum-mix"), "--predictions", str(preds), "--report", str(tmp_path / "t.json"))
    assert result.exit_code == 0, result.output
    templates = json.loads((tmp_path / "t.json").read_text(encoding="utf-8"))["by"]["template"]
    assert any(len(name) > 20 for name in templates)
    for name in templates:
        assert f"│ {name} " in result.output, name
    assert "…" not in result.output.split("by template")[1].split("by format")[0]


def test_the_recipe_itself_can_be_evaluated_with_its_own_rules(built: Path, tmp_path: Path) -> None:
    preds = _write_predictions(tmp_path / "gold.jsonl", _test_records(built))
    recipe = built / "recipes" / "hum_mix.hum.yaml"
    result = run_cli("eval", str(recipe), "--out", str(built / "out"), "--predictions", str(preds), "--report", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["overall"]["score"] == 1.0


def _wrong(record: dict[str, Any]) -> str:
    return {"ner": '[{"type": "LOC", "span": "Nowhere"}]', "mrc_multiple_choice": '{"answer": "Z"}'}.get(record["task"], "nonsense")


def test_a_loopback_model_answering_right_wrong_and_malformed(built: Path, tmp_path: Path) -> None:
    records = _test_records(built)
    script: dict[str, str | Reply] = {}
    kinds = {}
    for i, r in enumerate(records):
        kind = ("right", "fenced", "wrong", "malformed")[i % 4]
        if r["answer_format"] == "text" and kind == "malformed":  # bare text: "{" is just more text
            kind = "right"
        kinds[r["id"]] = kind
        script[r["instruction"]] = {"right": r["output"], "fenced": f"```\n{r['output']}\n```", "wrong": _wrong(r),
                                    "malformed": '{"unterminated": '}[kind]
    args = ["eval", str(built / "out" / "hum-mix"), "--base-url", "", "--model", "test-model", "--cache", str(tmp_path / "cache"),
            "--report", str(tmp_path / "b.json")]
    with LLMServer(responder=scripted_responder(script)) as srv:
        args[3] = srv.base_url
        result = run_cli(*args)
        assert result.exit_code == 0, result.output
        sent = srv.request_count
        again = run_cli(*args)  # the answers come from the build's kind of cache: nothing is sent again
        assert again.exit_code == 0 and srv.request_count == sent == len(records)
    report = json.loads((tmp_path / "b.json").read_text(encoding="utf-8"))
    by_id = {r["id"]: r for r in report["records"]}
    for rid, kind in kinds.items():
        rec = by_id[rid]
        if kind == "right":
            assert rec["score"] == 1.0 and rec["strict"], rid
        elif kind == "fenced":
            assert rec["score"] == 1.0 and rec["parsed"] and not rec["strict"], rid
        elif kind == "malformed":  # unparseable, or read leniently in another format (counted as a fallback)
            assert rec["score"] == 0.0 and not rec["strict"] and (not rec["parsed"] or rec["fallback"]), rid
    assert 0.0 < report["overall"]["score"] < 1.0
    right = sum(k == "right" for k in kinds.values()) / len(kinds)
    assert right <= report["overall"]["format_adherence"] <= right + sum(k == "wrong" for k in kinds.values()) / len(kinds) < 1
    assert report["predictor"] == "model:test-model"

    gold = _write_predictions(tmp_path / "gold.jsonl", records)
    assert run_cli("eval", str(built / "out" / "hum-mix"), "--predictions", str(gold), "--report", str(tmp_path / "a.json")).exit_code == 0
    cmp = run_cli("eval", "--compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--report", str(tmp_path / "c.json"))
    assert cmp.exit_code == 0, cmp.output
    assert "Δ score" in cmp.output and "ner" in cmp.output
    compared = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))
    overall = compared["groups"]["all"]
    assert overall["score"]["delta"] < 0 and overall["score"]["low"] <= overall["score"]["delta"] <= overall["score"]["high"]
    assert compared["paired"] == len(records)


def test_markdown_without_matplotlib_is_tables_only(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    preds = _write_predictions(tmp_path / "gold.jsonl", _test_records(built))
    result = run_cli("eval", str(built / "out" / "hum-mix"), "--predictions", str(preds), "--markdown", str(tmp_path / "r.md"))
    assert result.exit_code == 0, result.output
    assert "No plots" in (tmp_path / "r.md").read_text(encoding="utf-8") and not list(tmp_path.glob("*.png"))


def test_markdown_with_matplotlib_has_plots(built: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    preds = _write_predictions(tmp_path / "gold.jsonl", _test_records(built))
    result = run_cli("eval", str(built / "out" / "hum-mix"), "--predictions", str(preds), "--markdown", str(tmp_path / "r.md"))
    assert result.exit_code == 0, result.output
    assert "![by task](r-task.png)" in (tmp_path / "r.md").read_text(encoding="utf-8")
    assert (tmp_path / "r-task.png").read_bytes()[:4] == b"\x89PNG"


def test_missing_predictions_score_zero_and_are_noted(built: Path, tmp_path: Path) -> None:
    records = _test_records(built)
    preds = _write_predictions(tmp_path / "half.jsonl", records[: len(records) // 2])
    result = run_cli("eval", str(built / "out" / "hum-mix"), "--predictions", str(preds), "--report", str(tmp_path / "h.json"))
    assert result.exit_code == 0, result.output
    assert "have no prediction" in result.output
    assert "none is a record of" not in result.output  # half of the split's own predictions
    assert json.loads((tmp_path / "h.json").read_text(encoding="utf-8"))["overall"]["missing"] == len(records) - len(records) // 2


def test_predictions_of_another_split_are_noted_as_such(built: Path, tmp_path: Path) -> None:
    train = [r for p in sorted((built / "out" / "hum-mix" / "data").glob("train-*.parquet")) for r in pq.read_table(p).to_pylist()]
    preds = _write_predictions(tmp_path / "train.jsonl", train)
    result = run_cli("eval", str(built / "out" / "hum-mix"), "--predictions", str(preds))
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert f"{len(train)} prediction id(s) are not records of this split" in said
    assert "none is a record of 'test': were they made for another split (--split)" in said


def test_an_empty_predictions_file_is_named_as_given_and_the_note_says_what_it_should_hold(built: Path) -> None:
    result = run_cli("eval", str(built / "out" / "hum-mix"), "--predictions", os.devnull)
    assert result.exit_code == 0, result.output
    assert f"{os.devnull} holds no prediction, so all {len(_test_records(built))} record(s) are scored 0" in result.output
    assert 'one JSON object {"id": "<record id>", "prediction": "<model output>"} per line' in result.output
    assert "in null" not in result.output


@pytest.mark.parametrize(("content", "code", "where"), [
    ('{"id": "x", "prediction": "a"}\nnot json\n', "E6002", "bad.jsonl:2:1"),
    ('{"id": "x"}\n', "E6002", "bad.jsonl:1:1"),
    ('{"id": "x", "prediction": 3}\n', "E6002", "bad.jsonl:1:1"),
])
def test_a_bad_predictions_file_is_a_located_error(built: Path, tmp_path: Path, content: str, code: str, where: str) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(content, encoding="utf-8")
    result = run_cli("eval", str(built / "out" / "hum-mix"), "--predictions", str(bad), "--report", str(tmp_path / "x.json"))
    assert result.exit_code == 2 and f"error[{code}]" in result.output and where in result.output
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("suffix", [".jsonl.gz", ".jsonl.xz"])
def test_compressed_predictions_with_a_bom_and_line_separators_in_answers_are_read(
        built: Path, tmp_path: Path, suffix: str) -> None:
    records = _test_records(built)
    plain = _write_predictions(tmp_path / "gold.jsonl", records, lambda r: r["output"] + "\u2028")
    data = ("\ufeff" + plain.read_text(encoding="utf-8")).encode()
    packed = tmp_path / f"gold{suffix}"
    packed.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else lzma.compress(data))
    result = run_cli("eval", str(built / "out" / "hum-mix"), "--predictions", str(packed), "--report", str(tmp_path / "z.json"))
    assert result.exit_code == 0, result.output
    overall = json.loads((tmp_path / "z.json").read_text(encoding="utf-8"))["overall"]
    assert overall["n"] == len(records) and overall["missing"] == 0


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_an_undecodable_byte_in_the_predictions_file_is_located_at_its_line(built: Path, tmp_path: Path,
                                                                            suffix: str) -> None:
    data = b'{"id": "x", "prediction": "a"}\n{"id": "y", "prediction": "caf\xe9"}\n'
    bad = tmp_path / f"latin{suffix}"
    bad.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
    result = run_cli("eval", str(built / "out" / "hum-mix"), "--predictions", str(bad), "--report", str(tmp_path / "x.json"))
    assert result.exit_code == 2 and f"latin{suffix}:2:31: error[E6002]: the predictions file is not valid UTF-8 " \
        "(byte b'\\xe9')" in result.output, result.output
    assert not (tmp_path / "x.json").exists()


def test_a_damaged_compressed_predictions_file_is_an_error_not_a_crash(built: Path, tmp_path: Path) -> None:
    bad = tmp_path / "cut.jsonl.gz"
    bad.write_bytes(gzip.compress(b'{"id": "x", "prediction": "a"}\n' * 200)[:60])
    result = run_cli("eval", str(built / "out" / "hum-mix"), "--predictions", str(bad), "--report", str(tmp_path / "x.json"))
    assert result.exit_code == 2 and "error[E6002]: cannot read predictions file" in result.output
    assert not (tmp_path / "x.json").exists()


def test_usage_errors_exit_2_with_a_hint(built: Path, tmp_path: Path) -> None:
    folder = str(built / "out" / "hum-mix")
    neither = run_cli("eval", folder)
    assert neither.exit_code == 2 and "--predictions" in neither.output
    nothing = run_cli("eval")
    assert nothing.exit_code == 2 and "nothing to evaluate" in nothing.output
    not_built = run_cli("eval", str(tmp_path), "--predictions", str(_write_predictions(tmp_path / "p.jsonl", [])))
    assert not_built.exit_code == 2 and "error[E6001]" in not_built.output and "humc build" in not_built.output
    # a misspelt folder: E9001 naming the folder meant, as `humc export` says it (was E6001 "not a built dataset")
    misspelt = run_cli("eval", folder + "x", "--predictions", str(tmp_path / "p.jsonl"))
    assert misspelt.exit_code == 2 and "error[E9001]" in misspelt.output and "does not exist" in misspelt.output
    assert "did you mean 'hum-mix'?" in misspelt.output
    no_split = run_cli("eval", folder, "--split", "validation", "--predictions", str(tmp_path / "p.jsonl"))
    assert no_split.exit_code == 2 and "splits: test, train" in no_split.output
    model = run_cli("eval", str(built / "recipes" / "hum_mix.hum.yaml"), "--out", str(built / "out"), "--model", "gtp4")
    assert model.exit_code == 2 and "error[E2009]" in model.output
    (tmp_path / "x.json").write_text("{}", encoding="utf-8")
    bad_cmp = run_cli("eval", "--compare", str(tmp_path / "x.json"), str(tmp_path / "x.json"))
    assert bad_cmp.exit_code == 2 and "error[E6003]" in bad_cmp.output


# ------------------------------------------------------------------ export


def test_export_alpaca_is_a_json_array_per_split(built: Path, tmp_path: Path) -> None:
    result = run_cli("export", str(built / "out" / "hum-mix"), "--to", "alpaca", str(tmp_path / "alpaca"))
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "alpaca" / "test.json").read_text(encoding="utf-8"))
    assert isinstance(rows, list) and rows == [
        {"instruction": r["instruction"], "input": "", "output": r["output"], "id": r["id"], "task": r["task"],
         "template": r["template"], "answer_format": r["answer_format"], "language": r["language"]} for r in _test_records(built)]
    assert (tmp_path / "alpaca" / "train.json").is_file()


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_export_sharegpt_and_messages_are_chat_turns(built: Path, tmp_path: Path) -> None:
    records = _test_records(built)
    for to in ("sharegpt", "messages"):
        assert run_cli("export", str(built / "out" / "hum-mix"), "--to", to, str(tmp_path / to)).exit_code == 0
    share = _jsonl(tmp_path / "sharegpt" / "test.jsonl")
    assert [s["conversations"] for s in share] == [[{"from": "human", "value": r["instruction"]}, {"from": "gpt", "value": r["output"]}]
                                                   for r in records]
    chat = _jsonl(tmp_path / "messages" / "test.jsonl")
    # the same turns as the dataset's own `messages` column
    assert [c["messages"] for c in chat] == [r["messages"] for r in records]
    assert chat[0]["messages"] == [{"role": "user", "content": records[0]["instruction"]},
                                   {"role": "assistant", "content": records[0]["output"]}]


def test_export_llama_factory_names_its_files_in_dataset_info(built: Path, tmp_path: Path) -> None:
    out = tmp_path / "lf"
    result = run_cli("export", str(built / "recipes" / "hum_mix.hum.yaml"), "--out", str(built / "out"), "--to", "llama-factory", str(out))
    assert result.exit_code == 0, result.output
    info = json.loads((out / "dataset_info.json").read_text(encoding="utf-8"))
    assert set(info) == {"hum-mix_train", "hum-mix_test"}
    for entry in info.values():
        assert entry["formatting"] == "sharegpt" and entry["columns"] == {"messages": "conversations"}
        assert entry["tags"] == {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"}
        rows = _jsonl(out / entry["file_name"])
        assert rows and all(r["conversations"][0]["from"] == "human" for r in rows)


def test_export_lm_eval_is_a_generate_until_task_folder(built: Path, tmp_path: Path) -> None:
    import yaml

    out = tmp_path / "lm"
    assert run_cli("export", str(built / "out" / "hum-mix"), "--to", "lm-eval", str(out)).exit_code == 0
    task = yaml.safe_load((out / "humc_hum_mix.yaml").read_text(encoding="utf-8"))
    assert task["task"] == "humc_hum_mix" and task["output_type"] == "generate_until"
    assert task["dataset_path"] == "json" and Path(task["dataset_kwargs"]["data_files"]["test"]) == out / "test.jsonl"
    assert task["metric_list"][0]["metric"] == "exact_match"
    rows = _jsonl(out / "test.jsonl")
    assert [r["output"] for r in rows] == [r["output"] for r in _test_records(built)]


def test_export_lm_eval_of_a_dataset_without_a_test_split_is_refused_not_filled_with_training_records(
        built: Path, tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "hum-mix"
    shutil.copytree(built / "out" / "hum-mix", folder)
    for shard in (folder / "data").glob("test-*.parquet"):
        shard.unlink()
    out = tmp_path / "lm"
    result = run_cli("export", str(folder), "--to", "lm-eval", str(out))
    assert result.exit_code == 2 and "error[E6001]" in result.output and "no test split" in result.output
    assert "its splits: train" in result.output and "output.splits" in result.output
    assert "or a larger fraction when the one declared got no records" in result.output  # a declared split may be empty
    assert not out.exists()


@pytest.mark.parametrize("inside", [".", "data", "exports/alpaca"])
def test_export_into_the_dataset_folder_is_refused_and_writes_nothing(built: Path, tmp_path: Path, inside: str) -> None:
    import shutil

    folder = tmp_path / "hum-mix"
    shutil.copytree(built / "out" / "hum-mix", folder)
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    result = run_cli("export", str(folder), "--to", "sharegpt", str(folder / inside))
    assert result.exit_code == 2 and "error[E3002]" in result.output and "inside the built dataset" in result.output
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before


def test_export_of_a_folder_that_is_not_a_dataset(tmp_path: Path) -> None:
    result = run_cli("export", str(tmp_path), "--to", "alpaca", str(tmp_path / "x"))
    assert result.exit_code == 2 and "error[E6001]" in result.output


def _damaged_copy(built: Path, tmp_path: Path, how: str) -> Path:
    """A copy of the built folder whose train shard is cut short, empty, or a Parquet file of other columns."""
    import shutil

    import pyarrow as pa

    folder = tmp_path / "hum-mix"
    shutil.copytree(built / "out" / "hum-mix", folder)
    shard = next((folder / "data").glob("train-*.parquet"))
    if how == "cut":
        shard.write_bytes(shard.read_bytes()[:300])
    elif how == "empty":
        shard.write_bytes(b"")
    else:
        pq.write_table(pa.table({"text": ["a"], "label": [0]}), shard)
    return folder


@pytest.mark.parametrize(("how", "words"), [("cut", "cannot read the shard"), ("empty", "cannot read the shard"),
                                            ("foreign", "not humc's output")])
def test_a_damaged_shard_is_a_located_error_and_export_writes_nothing(built: Path, tmp_path: Path, how: str,
                                                                      words: str) -> None:
    folder = _damaged_copy(built, tmp_path, how)
    shard = next((folder / "data").glob("train-*.parquet"))
    out = tmp_path / "export"
    for to in ("alpaca", "sharegpt", "llama-factory"):  # the test split is read first and fine: still nothing is left
        result = run_cli("export", str(folder), "--to", to, str(out))
        assert result.exit_code == 2 and "error[E6001]" in result.output and f"{shard}:1:1" in result.output
        assert words in result.output and "humc build" in result.output and "internal error" not in result.output
        assert not out.exists() or list(out.iterdir()) == []
    (tmp_path / "none.jsonl").write_text("", encoding="utf-8")
    scored = run_cli("eval", str(folder), "--split", "train", "--predictions", str(tmp_path / "none.jsonl"))
    assert scored.exit_code == 2 and "error[E6001]" in scored.output and f"{shard}:1:1" in scored.output


def test_an_output_path_that_cannot_be_written_is_E3002_and_nothing_is_left(built: Path, tmp_path: Path) -> None:
    folder = str(built / "out" / "hum-mix")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    exported = run_cli("export", folder, "--to", "alpaca", str(blocker / "alpaca"))
    assert exported.exit_code == 2 and "error[E3002]" in exported.output and "cannot write" in exported.output
    preds = str(_write_predictions(tmp_path / "p.jsonl", _test_records(built)))
    for option in ("--report", "--markdown"):
        result = run_cli("eval", folder, "--predictions", preds, option, str(blocker / "r.out"))
        assert result.exit_code == 2 and "error[E3002]" in result.output and "internal error" not in result.output
    compared = tmp_path / "r.json"
    assert run_cli("eval", folder, "--predictions", preds, "--report", str(compared)).exit_code == 0
    again = run_cli("eval", "--compare", str(compared), str(compared), "--report", str(blocker / "c.json"))
    assert again.exit_code == 2 and "error[E3002]" in again.output
    assert blocker.read_text(encoding="utf-8") == "not a folder" and sorted(p.name for p in tmp_path.iterdir()) == [
        "a-file", "p.jsonl", "r.json"]


def test_a_markdown_report_and_its_plots_appear_together(built: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    preds = str(_write_predictions(tmp_path / "p.jsonl", _test_records(built)))
    result = run_cli("eval", str(built / "out" / "hum-mix"), "--predictions", preds, "--markdown", str(tmp_path / "md" / "r.md"))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "md").iterdir()) == ["r-format.png", "r-task.png", "r.md"]  # no partial file
    assert "![by task](r-task.png)" in (tmp_path / "md" / "r.md").read_text(encoding="utf-8")


def test_the_report_files_are_written_even_when_the_reader_of_the_tables_stops_early(built: Path, tmp_path: Path) -> None:
    # `humc eval ... --report r.json | head`: the closed pipe ends the printing, not the files asked for
    preds = str(_write_predictions(tmp_path / "p.jsonl", _test_records(built)))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for args in (["eval", str(built / "out" / "hum-mix"), "--predictions", preds, "--report", str(tmp_path / "r.json"),
                  "--markdown", str(tmp_path / "r.md")],
                 ["eval", "--compare", str(tmp_path / "r.json"), str(tmp_path / "r.json"), "--report", str(tmp_path / "c.json")]):
        proc = subprocess.Popen([sys.executable, "-m", "humc", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        assert proc.stdout is not None
        proc.stdout.close()  # the reader is gone before humc prints its first table
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0 and b"internal error" not in err, err
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["overall"]["score"] == 1.0
    assert "## By task" in (tmp_path / "r.md").read_text(encoding="utf-8")
    assert json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))


def test_the_stdlib_resolver_reads_ids_and_reports_what_it_cannot_resolve() -> None:
    from humc.errors import HumcError

    resolver = Resolver.for_stdlib()
    base = {"id": "r", "task": "ner", "task_entry": "x", "answer_format": "json|shuffle_keys(seed=3)",
            "rules": ["order_entities_by_position", "my_inline_rule"]}
    spec = resolver.resolve(base)
    assert spec.format.codec == "json" and [r.id for r in spec.rules] == ["order_entities_by_position"]
    assert resolver.unknown_rules == {"my_inline_rule"}
    with pytest.raises(HumcError) as task:
        resolver.resolve({**base, "task": "nre"})
    assert task.value.code == "E2003"
    with pytest.raises(HumcError) as fmt:
        resolver.resolve({**base, "answer_format": "yamlish"})
    assert fmt.value.code == "E2006"


def test_a_recipe_model_is_asked_through_the_builds_cache(built: Path) -> None:
    text = (built / "recipes" / "hum_mix.hum.yaml").read_text(encoding="utf-8")
    with LLMServer() as srv:  # the default responder echoes: every answer is wrong
        recipe = built / "recipes" / "hum_mix_model.hum.yaml"
        recipe.write_text(text.replace("\nsources:", f"\nmodels:\n  tiny: {{base_url: '{srv.base_url}', model: test-model}}\nsources:", 1),
                          encoding="utf-8")
        result = run_cli("eval", str(recipe), "--out", str(built / "out"), "--model", "tiny", "--concurrency", "2",
                         "--report", str(built / "m.json"))
        assert result.exit_code == 0, result.output
        assert srv.request_count == len(_test_records(built))
    report = json.loads((built / "m.json").read_text(encoding="utf-8"))
    assert report["predictor"] == "model:test-model" and report["overall"]["score"] < 0.5
    assert any((built / "recipes" / ".humc" / "cache" / "llm").iterdir())  # the recipe's own build cache


def test_single_label_classification_is_accuracy_and_macro_f1() -> None:
    from humc.eval.scoring import aggregate

    spec = RecordSpec("classification", ("label",), "one", FormatSpec("json"), None, (), "label", "label")
    gold = ["Sports", "World", "World", "Business"]
    answers = ['{"label": "sports"}', '{"label": "World"}', '{"label": "Sports"}', "no idea"]
    scores = [score_record(spec, {"id": str(i), "gold": json.dumps([{"label": g}]), "template": "t", "answer_format": "json",
                                  "language": "en", "instruction": "", "output": ""}, a)
              for i, (g, a) in enumerate(zip(gold, answers, strict=True))]
    assert [s.score for s in scores] == [1.0, 1.0, 0.0, 0.0]  # labels compare case-insensitively
    assert scores[3].fallback == "text" and scores[3].pred_labels == ["no idea"]  # a bare answer is read as a label
    agg = aggregate(scores)
    # per label (gold / predicted / right): sports 1/2/1 F1 2/3, world 2/1/1 F1 2/3, business 1/0/0 and "no idea" 0/1/0 F1 0
    assert agg["accuracy"] == 0.5 and agg["macro_f1"] == pytest.approx((2 / 3 + 2 / 3) / 4)
    sklearn = pytest.importorskip("sklearn.metrics")
    assert agg["macro_f1"] == pytest.approx(sklearn.f1_score(["sports", "world", "world", "business"],
                                                             ["sports", "world", "sports", "no idea"], average="macro", zero_division=0))


def _session_outputs(text: str) -> dict[str, list[str]]:
    """A console session's shown output by the command line it follows (`$ humc eval …` → the lines it printed)."""
    out: dict[str, list[str]] = {}
    command = ""
    for line in text.splitlines():
        if line.startswith("$ "):
            command = line[2:]
            out[command] = []
        elif command:
            out[command].append(line.rstrip())
    return out


def test_the_eval_walkthrough_of_docs_eval_prints_what_the_page_shows(built: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/eval.md's "An example, run for real": its noisy.py, its commands, and the tables it shows (they went stale
    when the example recipe grew: 28 test records shown, 36 printed)."""
    page = (REPO / "docs" / "eval.md").read_text(encoding="utf-8")
    script = re.search(r"^```python\n(.*?)^```$", page, re.S | re.M)
    assert script is not None
    (tmp_path / "out").symlink_to(built / "out")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal, as the page shows
    exec(compile(script[1], "noisy.py", "exec"), {})
    sessions = {}
    for fence in re.findall(r"^```\n(\$ .*?)^```$", page, re.S | re.M):
        sessions.update(_session_outputs(fence))
    assert "humc eval out/hum-mix --predictions gold.jsonl --report gold.json" in page
    assert run_cli("eval", "out/hum-mix", "--predictions", "gold.jsonl", "--report", "gold.json").exit_code == 0
    shown = 0
    for command, lines in sessions.items():
        if not command.startswith("humc eval"):
            continue  # the build and `python noisy.py` print nothing to compare
        result = run_cli(*command.split()[1:])
        assert result.exit_code == 0, result.output
        printed = [line.rstrip() for line in result.output.splitlines()]
        for line in lines:
            if not line.startswith("("):  # "(tables by template, …)": left out on the page
                assert line in printed, f"docs/eval.md shows a line `{command}` does not print:\n{line}\n{result.output}"
                shown += 1
    assert shown > 30


def test_two_exports_into_one_folder_at_once_write_through_their_own_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "out" / "train.json"
    with written_together() as first, written_together() as second:
        mine, theirs = first(target), second(target)
        assert mine != theirs and mine.parent == theirs.parent == target.parent
        mine.write_text("[1]", encoding="utf-8")
        theirs.write_text("[2]", encoding="utf-8")
    assert target.read_text(encoding="utf-8") == "[1]"  # the export finishing last wins, with its whole file
    assert [p.name for p in target.parent.iterdir()] == ["train.json"]
