"""Damaged and unusual real-world input to this session's catalog adapters and recipe keys, found by driving the
real CLI (fuzz10): each is a located compiler error (exit 2) naming what was expected, with nothing written, never
an internal error nor a generic 'cannot work with these arguments'. Built from the samples in tests/data/<name>/
(their SOURCE.md gives each one's origin and licence)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from helpers import HOUSE_NER_HEAD, REPO, run_cli

DATA = REPO / "tests" / "data"


def recipe(root: Path, source: str, language: str = "en") -> Path:
    """A recipe with one catalog source, in ``root``."""
    path = root / "r.hum.yaml"
    path.write_text(f"hum: 1\nname: r\nlanguage: {language}\nsources:\n  x: {{catalog: {source}}}\ntasks:\n  - source: x\n"
                    "    formats: [json]\noutput: {splits: {train: 1.0}}\n", encoding="utf-8")
    return path


def build(root: Path) -> str:
    """`humc build` in ``root``, which must fail as a compiler error, writing nothing: its output."""
    result = run_cli("build", "r.hum.yaml", "-q", "-j", "1", cwd=root)
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output and "Traceback" not in result.output
    assert not (root / "out").exists()
    return result.output


def casie_build(root: Path, edit: Callable[[dict[str, Any]], object]) -> str:
    """The CASIE sample with hopper 0's event 0 changed by ``edit``, built (it must fail): its output."""
    shutil.copytree(DATA / "casie", root / "casie")
    article = root / "casie/annotation/1001.json"
    data = json.loads(article.read_text(encoding="utf-8"))
    edit(data["cyberevent"]["hopper"][0]["events"][0])
    article.write_text(json.dumps(data), encoding="utf-8")
    recipe(root, "casie, path: casie/annotation")
    return build(root)


def test_a_casie_argument_that_is_no_list_of_objects_is_named_at_the_adapter(tmp_path: Path) -> None:
    out = casie_build(tmp_path, lambda event: event.update(argument=12))  # a hand-edited or converted file
    # before: 'casie_events: cannot work with these arguments (cyberevent an object {hopper}): a value of a type ...'
    assert "stdlib/catalog/casie.yaml:15:11: error[E4102]: casie_events(): hopper 0's event 0's argument is an " \
           "integer (12) (source 'x' row 0)" in out
    assert "expected: a list of {role: {type}, text, startOffset, endOffset} objects" in out


def test_a_casie_role_written_as_a_text_is_named_at_the_adapter(tmp_path: Path) -> None:
    out = casie_build(tmp_path, lambda event: event["argument"][1].update(role="Compromised-Data"))  # not {type: …}
    assert "stdlib/catalog/casie.yaml:15:11: error[E4102]: casie_events(): hopper 0's event 0's argument 1 has no role " \
           "or no text: its role is a string ('Compromised-Data') (source 'x' row 0)" in out
    assert 'expected: {role: {type: role name}, text, ...}, e.g. {"role": {"type": "Victim"}, "text": "…"}' in out


def test_a_casie_argument_without_its_text_is_named_not_built_as_an_empty_argument(tmp_path: Path) -> None:
    out = casie_build(tmp_path, lambda event: event["argument"][0].pop("text"))
    # before: exit 0, a gold row (Databreach, breached, Attacker, "") with the role's argument empty
    assert "stdlib/catalog/casie.yaml:15:11: error[E4102]: casie_events(): hopper 0's event 0's argument 0 has no role " \
           "or no text: it is an object {type, startOffset, endOffset, role} (source 'x' row 0)" in out
    assert "cannot work with these arguments" not in out


def clinc150(root: Path, part: str, value: object) -> Path:
    """The CLINC150 sample with ``part``'s value replaced; the recipe over it."""
    shutil.copytree(DATA / "clinc150", root / "clinc150")
    path = root / "clinc150/data_full.head.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data[part] = value
    path.write_text(json.dumps(data), encoding="utf-8")
    recipe(root, "clinc150, path: clinc150/data_full.head.json")
    return path


def test_a_clinc150_pair_that_is_no_list_is_named_as_such_not_as_a_list_of_objects(tmp_path: Path) -> None:
    path = clinc150(tmp_path, "val", [-1, ["how much is my electric bill this month", "bill_balance"]])
    out = build(tmp_path)
    # before: "the value of key 'val' is not a list of objects", hinting at the `columns:` the adapter already gives
    assert f"{path}:1:1: error[E4001]: source 'x': `key_column: part`: item 0 of the list under 'val' is a number, " \
           "not a list of values" in out
    assert "expected: a list under each key, each item a list of 2 values (text, intent)" in out
    assert "name the positions" not in out


def test_a_clinc150_part_that_is_no_list_is_named_as_such(tmp_path: Path) -> None:
    path = clinc150(tmp_path, "oos_val", True)
    out = build(tmp_path)
    assert f"{path}:1:1: error[E4001]: source 'x': `key_column: part`: the value of key 'oos_val' is a boolean, " \
           "not a list" in out


EE = """hum: 1
name: ee
language: zh
sources:
  duee: {{path: duee_dev.head60.json}}
constants:
  sch: {value}
tasks:
  - id: ee
    task: ee
    source: duee
    fields:
      text: text
      events: duee_events(event_list)
    schema: {{roles: sch}}
    formats: [json]
output: {{splits: {{train: 1.0}}}}
"""


def test_a_roles_constant_of_no_mapping_names_its_json_type_not_pythons(tmp_path: Path) -> None:
    shutil.copy(DATA / "duee/duee_dev.head60.json", tmp_path)
    for value, said in (("5", "it is an integer (5)"), ("null", "it is null"), ("时间", "it is a string ('时间')")):
        (tmp_path / "r.hum.yaml").write_text(EE.format(value=value), encoding="utf-8")
        out = build(tmp_path)
        # before: 'it is a int', 'it is a NoneType', 'it is a str'
        assert f"r.hum.yaml:15:21: error[E0008]: constant 'sch' has an unknown structure: {said}" in out


def edit_first_line(path: Path, edit: object) -> None:
    """Apply ``edit`` to the first JSON Lines record of ``path``, the other lines kept as written."""
    lines = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[0])
    edit(record)  # type: ignore[operator]
    path.write_text("\n".join([json.dumps(record)] + lines[1:]) + "\n", encoding="utf-8")


def edited_sample(root: Path, catalog: str, file: str, edit: object) -> None:
    """The sample of ``catalog`` with the first record of its JSON Lines ``file`` changed by ``edit``; the recipe
    reading it."""
    shutil.copytree(DATA / catalog, root / catalog)
    edit_first_line(root / catalog / file, edit)
    recipe(root, f"{catalog}, path: {catalog}/{file}")


def test_a_natural_questions_fractional_token_offset_is_refused_not_cut_down(tmp_path: Path) -> None:
    edited_sample(tmp_path, "natural_questions", "simplified-nq-train.head4.jsonl",
                  lambda r: r["annotations"][0]["short_answers"][0].update(end_token=60.5))
    out = build(tmp_path)
    # before: read as token 60, the short answer one token short, exit 0
    assert "stdlib/catalog/natural_questions.yaml:14:12: error[E4102]: nq_answer(): annotation 0's short answer 0 has " \
           "the offset a number (60.5), not a whole number (source 'x' row 0)" in out


def test_a_natural_questions_offset_written_as_a_whole_float_is_read(tmp_path: Path) -> None:
    edited_sample(tmp_path, "natural_questions", "simplified-nq-train.head4.jsonl",
                  lambda r: r["annotations"][0]["short_answers"][0].update(end_token=61.0))  # pandas' to_json
    result = run_cli("build", "r.hum.yaml", "-q", "-j", "1", cwd=tmp_path)
    assert result.exit_code == 0, result.output


def test_a_wikievents_fractional_mention_offset_is_refused_not_cut_down(tmp_path: Path) -> None:
    edited_sample(tmp_path, "wikievents", "dev.head1.jsonl", lambda r: r["entity_mentions"][0].update(end=5.5))
    out = build(tmp_path)
    assert "stdlib/catalog/wikievents.yaml:15:11: error[E4102]: oneie_events(): entity mention 0 has the offset a " \
           "number (5.5), not a whole number (source 'x' row 0)" in out


def test_a_rams_argument_that_is_no_span_is_named_as_written(tmp_path: Path) -> None:
    edited_sample(tmp_path, "rams", "dev.head3.jsonlines",
                  lambda r: r["gold_evt_links"][0].__setitem__(1, "Tehran"))  # the text, not its span
    out = build(tmp_path)
    # before: "link 0's argument has the offset null, not a whole number"
    assert "stdlib/catalog/rams.yaml:14:11: error[E4102]: rams_events(): link 0's argument is a string ('Tehran') " \
           "(source 'x' row 0)" in out
    assert "expected: its span [start, end], e.g. [12, 13]" in out


NER_RECIPE = HOUSE_NER_HEAD + "    formats: [json]\n"


def test_copied_gold_in_a_task_without_copied_from_is_an_error_at_it_not_a_check_left_out(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    shutil.copy(REPO / "recipes/data/conll2003/eng.testa.head40", tmp_path / "data")
    (tmp_path / "mystd/tasks").mkdir(parents=True)
    ner = (REPO / "stdlib/tasks/ner.yaml").read_text(encoding="utf-8")
    task = tmp_path / "mystd/tasks/ner.yaml"
    task.write_text(ner.replace("answer:\n", "answer:\n  copied_gold: true\n", 1), encoding="utf-8")
    (tmp_path / "r.hum.yaml").write_text(NER_RECIPE, encoding="utf-8")
    out = build(tmp_path)
    # before: exit 0, the gold checked against nothing (copied_gold only extends copied_from's columns)
    assert f"{task}:7:16: error[E0008]: 'copied_gold' checks the columns 'copied_from' names, and this task names " \
           "none" in out


def test_an_avro_duration_on_a_fixed_of_8_bytes_is_no_duration_and_reads_as_its_bytes(tmp_path: Path) -> None:
    import fastavro
    import pyarrow.parquet as pq

    # the Avro specification: a logical type on a type it does not fit is ignored (duration annotates a fixed of 12)
    took = {"type": "fixed", "name": "Took", "size": 8, "logicalType": "duration"}
    schema = {"type": "record", "name": "R", "fields": [{"name": "text", "type": "string"},
                                                         {"name": "label", "type": "string"}, {"name": "took", "type": took}]}
    rows = [{"text": "a good film", "label": "pos", "took": b"\x01" * 8}, {"text": "a dull one", "label": "neg",
                                                                            "took": b"\x02" * 8}]
    with open(tmp_path / "d.avro", "wb") as f:
        fastavro.writer(f, fastavro.parse_schema(schema), rows)
    (tmp_path / "r.hum.yaml").write_text(
        "hum: 1\nname: r\nsources:\n  s: {path: d.avro}\ntasks:\n  - task: classification\n    source: s\n"
        "    fields: {text: text, label: label, took: took}\n    where: len(took) == 8\n    labels: [pos, neg]\n    formats: [json]\n"
        "output: {splits: {train: 1.0}}\n", encoding="utf-8")
    result = run_cli("build", "r.hum.yaml", "-q", "-j", "1", cwd=tmp_path)
    # before: 'P16843009M16843009D', read as months and days with the milliseconds missing, and no row kept
    assert result.exit_code == 0, result.output
    assert sum(pq.read_metadata(p).num_rows for p in (tmp_path / "out/r/data").glob("*.parquet")) == 2


def test_an_accepted_lockfile_item_with_an_empty_entry_is_e0008_at_it_not_left_out_with_a_warning(tmp_path: Path) -> None:
    shutil.copy(REPO / "recipes/mrc.hum.yaml", tmp_path)
    (tmp_path / "data").mkdir()
    shutil.copytree(REPO / "recipes/data/squad_v2", tmp_path / "data/squad_v2")
    text = (REPO / "recipes/mrc.hum.lock").read_text(encoding="utf-8")
    (tmp_path / "mrc.hum.lock").write_text(text.replace("  entry: squad\n", "  entry: ''\n", 1), encoding="utf-8")
    line = text[:text.index("  entry: squad\n")].count("\n") + 1
    result = run_cli("build", "mrc.hum.yaml", "-q", "-j", "1", cwd=tmp_path)
    # before: exit 0 and "1 accepted item(s) for task entry '', which the recipe does not have, are not used"
    assert result.exit_code == 2, result.output
    assert f"mrc.hum.lock:{line}:10: error[E0008]: 'entry' in item #1 of lockfile mrc.hum.lock is empty" in result.output
    assert not (tmp_path / "out").exists()


def test_twenty_newsgroups_with_crlf_line_ends_is_read_as_the_release(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    shutil.copytree(DATA / "twenty_newsgroups", tmp_path / "twenty_newsgroups")
    for message in (tmp_path / "twenty_newsgroups").rglob("*"):
        if message.is_file() and message.name != "SOURCE.md":  # as unpacked with a tool converting line ends
            message.write_bytes(message.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    recipe(tmp_path, "twenty_newsgroups, path: twenty_newsgroups/20news-bydate-test")
    result = run_cli("build", "r.hum.yaml", "-q", "-j", "1", cwd=tmp_path)
    # before: E4104, the filter kept 0 of 4 records: no blank line "\n\n" ended the headers, so every body was empty
    assert result.exit_code == 0, result.output
    rows = [r for p in sorted((tmp_path / "out/r/data").glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    assert len(rows) == 4 and not any("\r" in r["instruction"] for r in rows)
    assert not any("Subject:" in r["instruction"] for r in rows)
