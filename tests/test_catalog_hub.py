"""Catalog adapters on their datasets' Hub versions (`hub_layout:` in stdlib/catalog/*.yaml).

The Hub's copy of a dataset has other columns than its published files: ClassLabel integers for tag strings,
`premise` for `sentence1`, one text for a title and a description. Each case below turns a real published sample
(tests/data/<dataset>/, its SOURCE.md names where it was cut from) into the Hub's layout the way the dataset's
Hugging Face loading script does (huggingface/datasets, datasets/<name>/<name>.py before the scripts left GitHub),
writes it with the `datasets` library (its `huggingface` features metadata names the ClassLabels) and builds both
through the same catalog adapter under the same source id: every record must get the same gold answer, and the
same instruction wherever the Hub keeps the text as published."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets
import pyarrow.parquet as pq
import pytest
from helpers import REPO, run_cli
from test_sources_hub import hub, humc  # noqa: F401  (the loopback Hub fixture)

from humc.ir import SourceDef
from humc.recipe.stdlib import load_stdlib
from humc.sources import read_source

DATA = REPO / "tests" / "data"
Value, Seq, Label = datasets.Value, datasets.Sequence, datasets.ClassLabel
STRING = Value("string")

BIO = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]  # conll2003 / conll2002
WNUT = ["O", *(f"{p}-{t}" for t in ("corporation", "creative-work", "group", "location", "person", "product")
              for p in "BI")]
WEIBO = [f"{p}-{t}.{k}" for p in "BI" for t in ("GPE", "LOC", "ORG", "PER") for k in ("NAM", "NOM")] + ["O"]
MSRA = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
NLI = ["entailment", "neutral", "contradiction"]
EMOTIONS = ["anger", "anticipation", "disgust", "fear", "joy", "love", "optimism", "pessimism", "sadness", "surprise",
            "trust"]
COARSE = ["ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM"]

Rows = list[dict[str, Any]]
Convert = Callable[[Rows], tuple[Rows, dict[str, Any]]]


def iob2(tags: list[str]) -> list[str]:
    """IOB1 -> IOB2 (an entity opens with B-), as the Hub's CoNLL-2003 tags are."""
    out: list[str] = []
    for tag in tags:
        before = out[-1] if out else "O"
        out.append("B-" + tag[2:] if tag.startswith("I-") and before[2:] != tag[2:] else tag)
    return out


def tagged(tokens: str, tags: str, names: list[str], scheme: Callable[[list[str]], list[str]] = list) -> Convert:
    def convert(rows: Rows) -> tuple[Rows, dict[str, Any]]:
        out = [{"id": str(n), "tokens": r[tokens], "ner_tags": [names.index(t) for t in scheme(r[tags])]}
               for n, r in enumerate(rows)]
        return out, {"id": STRING, "tokens": Seq(STRING), "ner_tags": Seq(Label(names=names))}
    return convert


def squad_like(rows: Rows) -> tuple[Rows, dict[str, Any]]:
    out = [{k: r[k] for k in ("id", "title", "context", "question")} | {"answers": r["answers"]} for r in rows]
    return out, {"id": STRING, "title": STRING, "context": STRING, "question": STRING,
                 "answers": Seq({"text": STRING, "answer_start": Value("int32")})}


def nli(first: str, second: str, gold: str, premise: str = "premise", hypothesis: str = "hypothesis") -> Convert:
    """No gold label ("-") is -1, as SNLI's script writes it (MultiNLI's leaves the pair out)."""
    def convert(rows: Rows) -> tuple[Rows, dict[str, Any]]:
        out = [{premise: r[first], hypothesis: r[second], "label": NLI.index(r[gold]) if r[gold] in NLI else -1}
               for r in rows]
        return out, {premise: STRING, hypothesis: STRING, "label": Label(names=NLI)}
    return convert


def ag_news(rows: Rows) -> tuple[Rows, dict[str, Any]]:
    names = ["World", "Sports", "Business", "Sci/Tech"]
    out = [{"text": " ".join((r["title"], r["description"])), "label": int(r["label"]) - 1} for r in rows]
    return out, {"text": STRING, "label": Label(names=names)}


def go_emotions(rows: Rows) -> tuple[Rows, dict[str, Any]]:
    names = (DATA / "go_emotions" / "labels.txt").read_text(encoding="utf-8").split()
    out = [{"text": r["text"], "labels": [int(i) for i in r["label_ids"].split(",")], "id": r["comment_id"]}
           for r in rows]
    return out, {"text": STRING, "labels": Seq(Label(names=names)), "id": STRING}


def arc(rows: Rows) -> tuple[Rows, dict[str, Any]]:
    return rows, {"id": STRING, "question": STRING, "choices": Seq({"text": STRING, "label": STRING}),
                  "answerKey": STRING}


def arc_original(rows: Rows) -> tuple[Rows, dict[str, Any]]:
    out = [{"id": r["id"], "question": r["question"]["stem"], "answerKey": r["answerKey"],
            "choices": {"text": [c["text"] for c in r["question"]["choices"]],
                        "label": [c["label"] for c in r["question"]["choices"]]}} for r in rows]
    return arc(out)


def imdb(rows: Rows) -> tuple[Rows, dict[str, Any]]:
    return [{"text": r["text"], "label": ["neg", "pos"].index(r["label"])} for r in rows], \
        {"text": STRING, "label": Label(names=["neg", "pos"])}


def trec(rows: Rows) -> tuple[Rows, dict[str, Any]]:
    fine = sorted({r["label"] for r in rows})
    out = [{"text": " ".join(r["words"]), "coarse_label": COARSE.index(r["label"].split(":")[0]),
            "fine_label": fine.index(r["label"])} for r in rows]
    return out, {"text": STRING, "coarse_label": Label(names=COARSE), "fine_label": Label(names=fine)}


def keep(*columns: str, **types: Any) -> Convert:
    def convert(rows: Rows) -> tuple[Rows, dict[str, Any]]:
        return [{c: r[c] for c in columns} for r in rows], {c: types.get(c, STRING) for c in columns}
    return convert


def piqa(rows: Rows) -> tuple[Rows, dict[str, Any]]:
    out = [{"goal": r["goal"], "sol1": r["sol1"], "sol2": r["sol2"], "label": int(r["label"])} for r in rows]
    return out, {"goal": STRING, "sol1": STRING, "sol2": STRING, "label": Label(names=["0", "1"])}


def sst2(rows: Rows) -> tuple[Rows, dict[str, Any]]:
    return [{"idx": n, "sentence": r["sentence"], "label": int(r["label"])} for n, r in enumerate(rows)], \
        {"idx": Value("int32"), "sentence": STRING, "label": Label(names=["negative", "positive"])}


def semeval2018(rows: Rows) -> tuple[Rows, dict[str, Any]]:
    out = [{"ID": r["ID"], "Tweet": r["Tweet"], **{e: r[e] == "1" for e in EMOTIONS}} for r in rows]
    return out, {"ID": STRING, "Tweet": STRING, **{e: Value("bool") for e in EMOTIONS}}


def race(rows: Rows) -> tuple[Rows, dict[str, Any]]:
    out = [{"example_id": r["id"], "article": r["article"], "answer": r["answers"], "question": r["questions"],
            "options": r["options"]} for r in rows]
    return out, {"example_id": STRING, "article": STRING, "answer": STRING, "question": STRING, "options": Seq(STRING)}


def yelp(rows: Rows) -> tuple[Rows, dict[str, Any]]:
    """The script slices the CSV line (``line[5:-2]``): the text keeps its doubled quotes."""
    return [{"text": r["text"].replace('"', '""'), "label": int(r["label"]) - 1} for r in rows], \
        {"text": STRING, "label": Label(names=["1", "2"])}


SEMEVAL = [f"{r}({a},{b})" for r in ("Cause-Effect", "Component-Whole", "Content-Container", "Entity-Destination",
                                     "Entity-Origin", "Instrument-Agency", "Member-Collection", "Message-Topic",
                                     "Product-Producer") for a, b in (("e1", "e2"), ("e2", "e1"))] + ["Other"]


def semeval2010(rows: Rows) -> tuple[Rows, dict[str, Any]]:
    """The script keeps the sentence line's text without its id and quotes, and the relation line."""
    out = [{"sentence": r["sentence"].split("\t", 1)[1].strip()[1:-1], "relation": SEMEVAL.index(r["relation"].strip())}
           for r in rows]
    return out, {"sentence": STRING, "relation": Label(names=SEMEVAL)}


def clue(classes: list[str]) -> Convert:
    """CLUE's TNEWS and IFLYTEK as clue/clue's script writes them: sentence, the release's id as a ClassLabel whose
    names are the ids, idx (keywords and the label's name left out)."""
    def convert(rows: Rows) -> tuple[Rows, dict[str, Any]]:
        out = [{"sentence": r["sentence"], "label": classes.index(r["label"]), "idx": n} for n, r in enumerate(rows)]
        return out, {"sentence": STRING, "label": Label(names=classes), "idx": Value("int32")}
    return convert


def banking77(rows: Rows) -> tuple[Rows, dict[str, Any]]:
    """PolyAI/banking77: text, and the intent as a ClassLabel named as categories.json names them."""
    names = json.loads((DATA / "banking77" / "categories.json").read_text(encoding="utf-8"))
    out = [{"text": r["text"], "label": names.index(r["category"])} for r in rows]
    return out, {"text": STRING, "label": Label(names=names)}


TNEWS = ["100", "101", "102", "103", "104", "106", "107", "108", "109", "110", "112", "113", "114", "115", "116"]


# adapter -> (published sample under tests/data, its Hub layout); race and yelp_polarity: hand-written fixtures in
# the published format (tests/data/fixtures/README.md), no real sample being at hand

CASES: dict[str, tuple[str, Convert]] = {
    "conll2003": ("conll2003/eng.testa.head", tagged("tokens", "tags", BIO, iob2)),
    "conll2002": ("conll2002/esp.testa.head12", tagged("tokens", "tags", BIO)),
    "wnut17": ("wnut17/emerging.dev.head12.conll", tagged("tokens", "ner_tags", WNUT)),
    "msra_ner": ("msra_ner/test.head150.txt", tagged("chars", "tags", MSRA)),
    "weibo_ner": ("weibo_ner/weiboNER_2nd_conll.dev.head24", tagged("chars", "tags", WEIBO)),
    "ag_news": ("ag_news/train.head80.csv", ag_news),
    "go_emotions": ("go_emotions/dev.head300.tsv", go_emotions),
    "squad_v2": ("squad_v2/dev-v2.0.normans.json", squad_like),
    "cmrc2018": ("cmrc2018/cmrc2018_dev.head7.json", squad_like),
    "arc": ("arc/ARC-Easy.validation.head120.json", arc),
    "arc_original": ("arc_original/ARC-Easy-Dev.jsonl", arc_original),
    "boolq": ("boolq/dev.head6.jsonl", keep("question", "answer", "passage", answer=Value("bool"))),
    "commonsense_qa": ("commonsense_qa/dev_rand_split.hub.head4.jsonl",
                       keep("id", "question", "question_concept", "choices", "answerKey",
                            choices=Seq({"label": STRING, "text": STRING}))),
    "dolly": ("dolly/databricks-dolly-15k.head.jsonl", keep("instruction", "context", "response", "category")),
    "imdb": ("imdb/aclImdb/test", imdb),
    "multinli": ("multinli/dev_matched.head6.txt", nli("sentence1", "sentence2", "gold_label")),
    "snli": ("snli/snli_1.0_dev.head7.jsonl", nli("sentence1", "sentence2", "gold_label")),
    "ocnli": ("ocnli/dev.lines60-70.json", nli("sentence1", "sentence2", "label", "sentence1", "sentence2")),
    "piqa": ("piqa/valid.jsonl", piqa),
    "semeval2018_ec": ("semeval2018_ec/2018-E-c-En-dev.head12.txt", semeval2018),
    "sst2": ("sst2/dev.head8.tsv", sst2),
    "trec": ("trec/TREC_10.en.head12.label", trec),
    "semeval2010_task8": ("semeval2010_task8/TRAIN_FILE.head32.TXT", semeval2010),
    "race": ("fixtures/race/dev", race),
    "yelp_polarity": ("fixtures/yelp_polarity/test.csv", yelp),
    "tnews": ("layouts5/tnews_dev.json", clue(TNEWS)),
    "iflytek": ("layouts5/iflytek_dev.json", clue([str(n) for n in range(119)])),
    "banking77": ("banking77/test.head18.csv", banking77),
}
NEW_TEXT = {"ag_news"}  # the Hub joins title and description with a space, the adapter with ". "


def published_rows(name: str, path: Path) -> Rows:
    entry = load_stdlib().catalog[name]
    return [row.record for row in read_source(SourceDef(name, path, entry.format, entry.options))]


def copy_sample(sample: str, root: Path) -> None:
    target = root / "data" / sample
    target.parent.mkdir(parents=True, exist_ok=True)
    if (DATA / sample).is_dir():
        shutil.copytree(DATA / sample, target)
    else:
        shutil.copy(DATA / sample, target)
    labels = DATA / sample.split("/")[0] / "valid-labels.lst"  # PIQA's labels beside its questions
    if labels.is_file():
        shutil.copy(labels, target.parent / labels.name)


def build_rows(root: Path, name: str, source: str) -> dict[int, dict[str, Any]]:
    """source row -> the built record's instruction, output and gold (one instruction per record)."""
    folder = root / name
    folder.mkdir()
    (folder / "r.hum.yaml").write_text(f"hum: 1\nname: r\nsources:\n  x: {{catalog: {source}}}\ntasks:\n"
                                       "  - source: x\n", encoding="utf-8")
    result = run_cli("build", "r.hum.yaml", "-q", "-j", "1", cwd=folder)
    assert result.exit_code == 0, result.output
    out: dict[int, dict[str, Any]] = {}
    for shard in sorted((folder / "out" / "r" / "data").glob("*.parquet")):
        for row in pq.read_table(shard, columns=["source_row", "instruction", "output", "gold"]).to_pylist():
            out[row.pop("source_row")] = row
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_hub_version_gives_the_published_files_gold(name: str, tmp_path: Path):
    sample, to_hub = CASES[name]
    copy_sample(sample, tmp_path)
    rows, features = to_hub(published_rows(name, DATA / sample))
    datasets.Dataset.from_list(rows, features=datasets.Features(features)).to_parquet(tmp_path / "hub.parquet")
    published = build_rows(tmp_path, "published", f"{name}, path: ../data/{sample}")
    from_hub = build_rows(tmp_path, "hub", f"{name}, path: ../hub.parquet")
    assert published, "the published sample builds records"
    assert {k: json.loads(r["gold"]) for k, r in from_hub.items()} == \
        {k: json.loads(r["gold"]) for k, r in published.items()}
    if name not in NEW_TEXT:
        assert from_hub == published  # the same text, template and format: the same instruction


def test_the_hub_joins_ag_news_title_and_description_and_the_label_is_named(tmp_path: Path):
    rows, features = ag_news(published_rows("ag_news", DATA / "ag_news/train.head80.csv"))
    datasets.Dataset.from_list(rows, features=datasets.Features(features)).to_parquet(tmp_path / "hub.parquet")
    built = build_rows(tmp_path, "hub", "ag_news, path: ../hub.parquet")
    assert len(built) == 80
    assert "Wall St. Bears Claw Back Into the Black (Reuters) Reuters - Short-sellers, Wall Street's dwindling band " \
           "of ultra-cynics, are seeing green again." in built[0]["instruction"]  # `\` newlines read as spaces
    assert json.loads(built[0]["gold"]) == [{"label": "Business"}]


def conll_hub(root: Path) -> datasets.Dataset:
    rows, features = CASES["conll2003"][1](published_rows("conll2003", DATA / "conll2003/eng.testa.head"))
    return datasets.Dataset.from_list(rows, features=datasets.Features(features))


@pytest.mark.parametrize("source", ["dataset: ../hubdata", "dataset: {name: ../hubdata, split: train}",
                                    "path: ../saved", "dataset: ../saved", "dataset: {name: ../saved_dict, split: dev}"])
def test_a_dataset_folder_and_a_save_to_disk_folder_are_read_with_the_hub_layout(source: str, tmp_path: Path):
    ds = conll_hub(tmp_path)
    (tmp_path / "hubdata" / "data").mkdir(parents=True)
    ds.to_parquet(tmp_path / "hubdata" / "data" / "train-00000-of-00001.parquet")
    ds.save_to_disk(str(tmp_path / "saved"))
    datasets.DatasetDict({"dev": ds}).save_to_disk(str(tmp_path / "saved_dict"))
    copy_sample("conll2003/eng.testa.head", tmp_path)
    published = build_rows(tmp_path, "published", "conll2003, path: ../data/conll2003/eng.testa.head")
    assert build_rows(tmp_path, "hub", f"conll2003, {source}") == published


def test_a_save_to_disk_folder_named_as_a_dataset_takes_no_config(tmp_path: Path):
    conll_hub(tmp_path).save_to_disk(str(tmp_path / "saved"))
    (tmp_path / "r.hum.yaml").write_text("hum: 1\nname: r\nsources:\n  x: {catalog: conll2003, dataset: {name: saved, "
                                         "config: en}}\ntasks:\n  - source: x\n", encoding="utf-8")
    result = run_cli("check", "r.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 2
    assert "r.hum.yaml:4:58: error[E0008]: source 'x': saved is a `save_to_disk` folder, which has no config" \
        in result.output


def test_an_adapter_without_a_hub_layout_refuses_a_hub_version_at_its_line_and_writes_nothing(tmp_path: Path):
    rows = [{"task": "NER", "source": "CoNLL2003", "instruction": "{}", "output": "{}"}]
    datasets.Dataset.from_list(rows).to_parquet(tmp_path / "ie.parquet")  # IEPile's Hub copy
    (tmp_path / "r.hum.yaml").write_text("hum: 1\nname: r\nsources:\n  x: {catalog: iepile_ner, path: ie.parquet}\n"
                                         "  y: {catalog: iepile_ner, dataset: zjunlp/iepile}\ntasks:\n  - source: x\n"
                                         "  - source: y\n", encoding="utf-8")
    result = run_cli("build", "r.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 2
    assert "r.hum.yaml:4:34: error[E2016]: catalog 'iepile_ner' reads the files its dataset is published in (iepile), " \
           "and source 'x' is a Parquet file (the Hub's export)" in result.output
    assert "r.hum.yaml:5:37: error[E2016]: catalog 'iepile_ner' reads the files its dataset is published in (iepile), " \
           "and source 'y' is a `dataset:` (the Hub's layout)" in result.output
    assert "expected: the published files: IE-en/train.json, IE-zh/train.json" in result.output
    assert not (tmp_path / "out").exists()


def test_records_of_a_dataset_with_no_hub_version_saved_as_parquet_or_arrow_read_with_the_adapter(tmp_path: Path):
    """CoNLL04 has no Hub version (`hub: ""`): a Parquet file pandas wrote, or a `save_to_disk` folder, holds the
    release's own records, read with the adapter's fields: the same gold as the JSON release."""
    release = DATA / "conll04" / "conll04_dev.head80.json"
    rows = json.loads(release.read_text(encoding="utf-8"))
    datasets.Dataset.from_list(rows).to_parquet(tmp_path / "c04.parquet")
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "c04_disk"))
    shutil.copy(release, tmp_path / "c04.json")
    (tmp_path / "r.hum.yaml").write_text(
        "hum: 1\nname: r\nsources:\n  a: {catalog: conll04, path: c04.parquet}\n  b: {catalog: conll04, path: c04_disk}\n"
        "  c: {catalog: conll04, path: c04.json}\ntasks:\n  - source: a\n  - source: b\n  - source: c\n"
        "output: {splits: {train: 1.0}}\n", encoding="utf-8")
    result = run_cli("build", "r.hum.yaml", "-q", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    gold: dict[str, list[tuple[int, str]]] = {"a": [], "b": [], "c": []}
    for row in pq.read_table(sorted((tmp_path / "out" / "r" / "data").glob("*.parquet"))).to_pylist():
        gold[row["task_entry"]].append((row["source_row"], row["gold"]))
    assert len(gold["c"]) == len(rows) and sorted(gold["a"]) == sorted(gold["b"]) == sorted(gold["c"])


def test_a_hub_dataset_named_with_its_catalog_adapter_is_streamed_with_its_class_labels_named(
        hub: Any, tmp_path: Path) -> None:  # noqa: F811  (the fixture imported above)
    rows, features = ag_news(published_rows("ag_news", DATA / "ag_news/train.head80.csv"))
    datasets.Dataset.from_list(rows[:12], features=datasets.Features(features)).to_parquet(tmp_path / "train.parquet")
    hub.state.put("org/ag_news", {"data/train-00000-of-00001.parquet": (tmp_path / "train.parquet").read_bytes()})
    recipe = tmp_path / "news.hum.yaml"
    recipe.write_text("hum: 1\nname: news\nsources:\n  news: {catalog: ag_news, dataset: {name: org/ag_news, split: "
                      "train}}\ntasks:\n  - source: news\noutput: {splits: {train: 1.0}}\n", encoding="utf-8")
    build = humc(tmp_path, "build", recipe, "--out", tmp_path / "out", endpoint=hub.url)
    assert build.returncode == 0, build.stderr
    table = pq.read_table(sorted((tmp_path / "out" / "news" / "data").glob("*.parquet"))).to_pylist()
    assert [json.loads(r["gold"]) for r in sorted(table, key=lambda r: r["source_row"])] == \
        [[{"label": ["World", "Sports", "Business", "Sci/Tech"][r["label"]]}] for r in rows[:12]]


def test_stdlib_catalog_shows_how_an_adapter_reads_the_hub_version():
    snli = run_cli("stdlib", "catalog", "snli")
    assert snli.exit_code == 0
    assert "  Hub version:  fields over the ones above (ClassLabels read as names):\n    premise: premise\n" \
           "    hypothesis: hypothesis\n    label: label\n  Hub where:    label != null\n" in snli.output
    assert "  Hub version:  the same fields (ClassLabels read as names)\n" in run_cli("stdlib", "catalog", "squad_v2").output
    assert "  Hub version:  not read (E2016): point `path:` at the published files\n" in \
        run_cli("stdlib", "catalog", "iepile_ner").output
    assert "  Hub version:  none; a Parquet file or save_to_disk folder of these records is read with the fields " \
           "above\n" in run_cli("stdlib", "catalog", "duee").output


PLAIN = """hum: 1
name: plain
sources:
  a: {{path: {path}, options: {{class_labels: true}}}}
tasks:
  - task: {task}
    source: a
    fields: {{text: text, {field}: {field}}}
"""


def built_labels(root: Path, path: str, task: str, field: str) -> list[tuple[str, ...]]:
    (root / "plain.hum.yaml").write_text(PLAIN.format(path=path, task=task, field=field), encoding="utf-8")
    result = run_cli("build", "plain.hum.yaml", "-q", cwd=root)
    assert result.exit_code == 0, result.output
    return [tuple(sorted(r["labels"])) for r in pq.read_table(root / "out" / "plain" / "data").to_pylist()]


def test_without_labels_a_class_label_column_offers_every_class_of_the_dataset_not_only_those_read(tmp_path: Path):
    rows, features = ag_news(published_rows("ag_news", DATA / "ag_news/train.head80.csv"))
    business = [r for r in rows if r["label"] == 2][:12]  # a sample of one class, as the head of a sorted file is
    datasets.Dataset.from_list(business, features=datasets.Features(features)).to_parquet(tmp_path / "ag.parquet")
    assert set(built_labels(tmp_path, "ag.parquet", "classification", "label")) == \
        {("Business", "Sci/Tech", "Sports", "World")}


def test_a_multi_label_class_label_list_in_a_save_to_disk_folder_offers_every_class(tmp_path: Path):
    rows, features = go_emotions(published_rows("go_emotions", DATA / "go_emotions/dev.head300.tsv"))
    datasets.Dataset.from_list(rows[:20], features=datasets.Features(features)).save_to_disk(str(tmp_path / "ge"))
    names = (DATA / "go_emotions" / "labels.txt").read_text(encoding="utf-8").split()
    assert set(built_labels(tmp_path, "ge", "multilabel_classification", "labels")) == {tuple(sorted(names))}


def test_a_dataset_folder_reads_class_labels_as_names_when_asked_and_check_says_so_when_not(tmp_path: Path):
    rows, features = ag_news(published_rows("ag_news", DATA / "ag_news/train.head80.csv"))
    (tmp_path / "news" / "data").mkdir(parents=True)
    datasets.Dataset.from_list([r for r in rows if r["label"] == 2][:12], features=datasets.Features(features)) \
        .to_parquet(tmp_path / "news" / "data" / "train-00000-of-00001.parquet")
    recipe = PLAIN.replace("{{path: {path}, options: {{class_labels: true}}}}", "{{dataset: {{name: news{names}}}}}")
    (tmp_path / "plain.hum.yaml").write_text(recipe.format(names="", task="classification", field="label"))
    checked = run_cli("check", "plain.hum.yaml", cwd=tmp_path)
    assert checked.exit_code == 0
    assert "note: task 'classification': its labels come from 'label', whose ClassLabel integers are read as numbers; " \
           "`class_labels: true` (in the source's `options:`, or under its `dataset:`) reads them" in checked.output
    (tmp_path / "plain.hum.yaml").write_text(recipe.format(names=", class_labels: true", task="classification",
                                                           field="label"))
    result = run_cli("build", "plain.hum.yaml", "-q", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    built = pq.read_table(tmp_path / "out" / "plain" / "data").to_pylist()
    assert {r["output"] for r in built} == {'{"label": "Business"}'}
    assert {tuple(sorted(r["labels"])) for r in built} == {("Business", "Sci/Tech", "Sports", "World")}


def test_clue_s_hub_layout_names_the_ids_and_leaves_out_the_test_split_s_missing_labels(tmp_path: Path):
    rows, features = clue(TNEWS)(published_rows("tnews", DATA / "layouts5/tnews_dev.json"))
    rows.append({"sentence": "测试集的标题没有标签", "label": -1, "idx": len(rows)})  # the test split's rows: no label
    datasets.Dataset.from_list(rows, features=datasets.Features(features)).save_to_disk(str(tmp_path / "saved"))
    built = build_rows(tmp_path, "hub", "tnews, path: ../saved")
    assert sorted(built) == [0, 1, 2]
    assert [json.loads(built[n]["gold"]) for n in (0, 2)] == [[{"label": "news_edu"}], [{"label": "news_stock"}]]
