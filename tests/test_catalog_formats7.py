"""Files as the tools that write them in the wild write them, read back through humc and compared with what the
writer wrote: ORC (pyarrow.orc, Hive's extensionless part files), Parquet whose strings are stored as binary
(BYTE_ARRAY without the UTF8 annotation, as Spark, Hive and older writers store them; pyarrow's `pa.binary()`), and
pandas' exports of an integer label column that had a gap (`1.0`, `2.0` and an empty cell in CSV, floats in JSON Lines
and Parquet)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import run_cli

from humc.errors import SourceError
from humc.expr.argtypes import FunctionError
from humc.expr.functions import lookup
from humc.ir import SourceDef
from humc.sources import infer_format, read_source

orc = pytest.importorskip("pyarrow.orc")
pd = pytest.importorskip("pandas")

TABLE = pa.table({"text": ["good movie", "naïve café, x/y", "tab\there"], "label": ["pos", "neg", "pos"],
                  "score": [1.5, None, 3.0]})


def records(path: Path, fmt: str | None = None, **options: Any) -> list[dict[str, Any]]:
    return [row.record for row in read_source(SourceDef("s", path, fmt or infer_format(path), options))]


def refusal(path: Path, fmt: str | None = None, **options: Any) -> SourceError:
    with pytest.raises(SourceError) as exc:
        records(path, fmt, **options)
    assert exc.value.code == "E4001" and exc.value.span is not None and exc.value.span.file == str(path)
    return exc.value


def build(folder: Path, source: str, fields: str = "{text: text, label: label}", expect: int = 0) -> tuple[str, list[str]]:
    """`humc build` of a one-entry classification recipe reading ``source``: its output and the labels it wrote."""
    (folder / "r.hum.yaml").write_text(f"hum: 1\nname: t\nsources:\n  s: {source}\ntasks:\n  - id: e\n"
                                       f"    task: classification\n    source: s\n    fields: {fields}\n"
                                       "    formats: [json]\n", encoding="utf-8")
    result = run_cli("build", "r.hum.yaml", "-q", cwd=folder)
    assert result.exit_code == expect, result.output
    assert "Traceback" not in result.output
    shards = sorted((folder / "out" / "t" / "data").glob("*.parquet")) if expect == 0 else []
    return result.output, sorted(json.loads(row["output"])["label"] for shard in shards
                                 for row in pq.read_table(shard).to_pylist())


# ORC

def test_orc_files_read_as_the_table_written_by_extension_content_and_format(tmp_path: Path) -> None:
    orc.write_table(TABLE, tmp_path / "part-00000.snappy.orc", compression="snappy")
    pd.DataFrame(TABLE.to_pylist()).to_orc(tmp_path / "frame.orc", index=False)
    orc.write_table(TABLE, tmp_path / "000000_0")  # Hive writes its ORC files without an extension
    want = TABLE.to_pylist()
    assert records(tmp_path / "part-00000.snappy.orc") == want
    assert records(tmp_path / "frame.orc", "orc") == want
    assert infer_format(tmp_path / "000000_0") == "orc" and records(tmp_path / "000000_0") == want
    assert records(tmp_path / "frame.orc", columns=["label"]) == [{"label": r["label"]} for r in want]
    orc.write_table(pa.table({"q": [["a", "b"], ["c"]], "a": [["x", "y"], ["z"]], "ctx": ["C1", "C2"]}), tmp_path / "e.orc")
    assert records(tmp_path / "e.orc", explode=["q", "a"]) == [
        {"q": "a", "a": "x", "ctx": "C1", "index": 0}, {"q": "b", "a": "y", "ctx": "C1", "index": 1},
        {"q": "c", "a": "z", "ctx": "C2", "index": 0}]
    _, labels = build(tmp_path, "{path: frame.orc}")
    assert labels == ["neg", "pos", "pos"]


def test_an_orc_file_of_many_stripes_numbers_every_record(tmp_path: Path) -> None:
    rows = pa.table({"text": [f"row {i}" for i in range(5000)], "label": ["a", "b"] * 2500})
    orc.write_table(rows, tmp_path / "big.orc", stripe_size=4096)
    assert orc.ORCFile(tmp_path / "big.orc").nstripes > 1
    assert [row.number for row in read_source(SourceDef("s", tmp_path / "big.orc", "orc", {}))] == list(range(5000))
    assert records(tmp_path / "big.orc") == rows.to_pylist()


def test_an_orc_column_the_file_lacks_is_named_with_the_file_s_columns(tmp_path: Path) -> None:
    orc.write_table(TABLE, tmp_path / "a.orc")
    error = refusal(tmp_path / "a.orc", columns=["text", "lable"])
    assert "'lable'" in error.message and error.expected == "columns of the file: text, label, score"


@pytest.mark.parametrize("damage", ["cut", "text", "empty", "gzip"])
def test_an_unreadable_orc_file_is_located_at_the_file(tmp_path: Path, damage: str) -> None:
    import gzip

    orc.write_table(TABLE, tmp_path / "whole.orc")
    data = (tmp_path / "whole.orc").read_bytes()
    path = tmp_path / ("a.orc.gz" if damage == "gzip" else "a.orc")
    path.write_bytes({"cut": data[:len(data) // 2], "text": b"text,label\nhi,pos\n", "empty": b"",
                      "gzip": gzip.compress(data)}[damage])
    error = refusal(path, "orc")
    assert "not a readable ORC file" in error.message
    assert ("gunzip" in str(error.hint)) if damage == "gzip" else "damaged, cut short or not ORC" in str(error.hint)


def test_a_damaged_orc_stripe_says_how_many_records_were_read(tmp_path: Path) -> None:
    rng = random.Random(1)
    rows = pa.table({"text": ["".join(rng.choice("abcdefgh ") for _ in range(200)) for _ in range(5000)],
                     "label": ["pos", "neg"] * 2500})
    orc.write_table(rows, tmp_path / "z.orc", compression="zlib", stripe_size=100_000)
    data = bytearray((tmp_path / "z.orc").read_bytes())
    middle = len(data) // 2
    data[middle:middle + 50] = bytes(b ^ 0x5A for b in data[middle:middle + 50])
    (tmp_path / "z.orc").write_bytes(bytes(data))
    error = refusal(tmp_path / "z.orc")
    assert "the ORC file is damaged after" in error.message and "orc.read_table" in str(error.hint)


# binary columns (BYTE_ARRAY without the UTF8 annotation)

def _binary(values: list[str]) -> pa.Array:
    return pa.array([v.encode("utf-8") for v in values], pa.binary())


def test_text_stored_as_binary_reads_as_utf8_text(tmp_path: Path) -> None:
    texts, labels = ["good movie", "naïve café", "好电影"], ["pos", "neg", "pos"]
    table = pa.table({"text": _binary(texts), "label": pa.array([v.encode() for v in labels], pa.large_binary()),
                      "tags": pa.array([[b"a"], [], [b"b", "é".encode()]], pa.list_(pa.binary())),
                      "digest": pa.array([b"\xff" * 4] * 3, pa.binary(4))})  # fixed-size: a hash, kept as bytes
    pq.write_table(table, tmp_path / "spark.parquet")
    assert pq.read_schema(tmp_path / "spark.parquet").field("text").type == pa.binary()  # no UTF8 annotation
    orc.write_table(table.drop_columns(["digest"]), tmp_path / "hive.orc")
    want = [{"text": t, "label": lab, "tags": tags} for t, lab, tags in zip(texts, labels, [["a"], [], ["b", "é"]],
                                                                           strict=True)]
    assert records(tmp_path / "spark.parquet") == [w | {"digest": b"\xff" * 4} for w in want]
    assert records(tmp_path / "hive.orc") == want
    (tmp_path / "b").mkdir()
    pq.write_table(table.drop_columns(["digest", "tags"]), tmp_path / "b" / "spark.parquet")
    _, built = build(tmp_path / "b", "{path: spark.parquet}")
    assert built == ["neg", "pos", "pos"]


def test_binary_that_is_not_utf8_names_the_column_and_record(tmp_path: Path) -> None:
    good = [f"row {i}".encode() for i in range(5000)]
    table = pa.table({"label": _binary(["pos"] * 5001),
                      "text": pa.array([*good, "café".encode("latin-1")], pa.binary())})
    pq.write_table(table, tmp_path / "latin.parquet", row_group_size=1000)
    error = refusal(tmp_path / "latin.parquet")
    assert "column 'text' of record 5000 is not UTF-8 text" in error.message and "b'\\xe9'" in error.message
    assert "BYTE_ARRAY without the UTF8 annotation" in str(error.expected) and "columns: [...]" in str(error.hint)
    assert records(tmp_path / "latin.parquet", columns=["label"])[-1] == {"label": "pos"}  # left out: read


def test_a_binary_column_of_data_stays_bytes_beside_text(tmp_path: Path) -> None:
    """pandas stores a column of bytes as binary too: one whose first value is no UTF-8 (an image, an embedding) is
    data, kept as bytes, and the file's text columns still read (a recipe that never uses the image builds)."""
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
    frame = pd.DataFrame({"image": [png, b"\xff\xd8\xff\xe0JFIF", None, b"GIF89a"],
                          "text": [t.encode() for t in ("good", "bad", "fine", "poor")],
                          "label": ["pos", "neg", "pos", "neg"]})
    frame.to_parquet(tmp_path / "images.parquet", row_group_size=2)
    assert pq.read_schema(tmp_path / "images.parquet").field("image").type == pa.binary()
    read = records(tmp_path / "images.parquet")
    assert [r["image"] for r in read] == [png, b"\xff\xd8\xff\xe0JFIF", None, b"GIF89a"]  # GIF89a: UTF-8, still data
    assert [r["text"] for r in read] == ["good", "bad", "fine", "poor"]
    _, built = build(tmp_path, "{path: images.parquet}")
    assert built == ["neg", "neg", "pos", "pos"]


def test_a_datasets_binary_feature_stays_bytes(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({"text": datasets.Value("string"), "blob": datasets.Value("binary")})
    datasets.Dataset.from_dict({"text": ["a"], "blob": [b"\x89PNG\xff"]}, features=features).to_parquet(
        tmp_path / "hub.parquet")
    assert records(tmp_path / "hub.parquet") == [{"text": "a", "blob": b"\x89PNG\xff"}]


# pandas' float labels

def _gappy_frame() -> Any:
    return pd.DataFrame({"text": ["a", "b", "c", "d"], "label": [1, None, 2, 4], "note": ["1.0", "v2", "x", "y"]})


def test_pandas_csv_of_an_integer_label_with_a_gap_reads_the_integers(tmp_path: Path) -> None:
    frame = _gappy_frame()
    frame.to_csv(tmp_path / "gap.csv", index=False)
    frame.to_csv(tmp_path / "gap.tsv", sep="\t", index=False)
    assert "1.0" in (tmp_path / "gap.csv").read_text(encoding="utf-8")  # as pandas writes it
    want = [{"text": "a", "label": "1", "note": "1.0"}, {"text": "b", "label": "", "note": "v2"},
            {"text": "c", "label": "2", "note": "x"}, {"text": "d", "label": "4", "note": "y"}]
    assert records(tmp_path / "gap.csv") == want and records(tmp_path / "gap.tsv") == want
    output, labels = build(tmp_path, "{path: gap.csv}")
    assert labels == ["1", "2", "4"] and "empty_answer (gap.csv:3)" in output  # the empty cell stays missing


def test_a_float_column_is_read_as_written(tmp_path: Path) -> None:
    pd.DataFrame({"text": ["a", "b", "c"], "label": [1.0, 2.5, 3.0]}).to_csv(tmp_path / "f.csv", index=False)
    assert [r["label"] for r in records(tmp_path / "f.csv")] == ["1.0", "2.5", "3.0"]
    rows = "".join(f"t{i},{i}.0\n" for i in range(150)) + "t,7.5\n"  # whole in its head: decided there
    (tmp_path / "late.csv").write_text("text,label\n" + rows, encoding="utf-8")
    assert [r["label"] for r in records(tmp_path / "late.csv")][-3:] == ["148", "149", "7.5"]
    frame = pd.concat([pd.DataFrame({"text": [f"u{n}" for n in range(120)], "label": None}),  # unlabelled first
                       pd.DataFrame({"text": ["a", "b"], "label": [3, 1]})]).astype({"label": "float64"})
    frame.to_csv(tmp_path / "unlabelled_first.csv", index=False)
    assert [r["label"] for r in records(tmp_path / "unlabelled_first.csv")][-3:] == ["", "3", "1"]


@pytest.mark.parametrize("write", ["jsonl", "parquet", "csv"])
def test_pandas_float_labels_index_their_names_in_every_format(tmp_path: Path, write: str) -> None:
    frame = _gappy_frame()
    name = f"gap.{write}"
    {"jsonl": lambda: frame.to_json(tmp_path / name, orient="records", lines=True),
     "parquet": lambda: frame.to_parquet(tmp_path / name),
     "csv": lambda: frame.to_csv(tmp_path / name, index=False)}[write]()
    assert pq.read_schema(tmp_path / name).field("label").type == pa.float64() if write == "parquet" else True
    _, labels = build(tmp_path, f"{{path: {name}}}", "{text: text, label: label}")
    assert labels == ["1", "2", "4"]
    (tmp_path / "out").rename(tmp_path / "plain")
    output, named = build(tmp_path, f"{{path: {name}}}",
                          """{text: text, label: 'lookup(label, ["World", "Sports", "Business", "Sci/Tech"], offset=1)'}""")
    assert named == ["Sci/Tech", "Sports", "World"] and "empty_answer" in output  # the gap: no label, dropped


def test_ag_news_written_back_by_pandas_with_a_gap_reads_its_classes(tmp_path: Path) -> None:
    frame = pd.read_csv(Path(__file__).parent / "data" / "ag_news" / "train.head80.csv", header=None)
    frame.iloc[3, 0] = None  # one label lost: the column is floats now
    frame.to_csv(tmp_path / "train.csv", header=False, index=False)
    output, labels = build(tmp_path, "{catalog: ag_news, path: train.csv}", "{}")
    want = sorted(["World", "Sports", "Business", "Sci/Tech"][int(n) - 1] for n in frame[0].dropna())
    assert labels == want and "train.csv:4" in output


def test_lookup_takes_a_whole_float_or_its_text_and_refuses_a_fraction() -> None:
    names = ["a", "b", "c"]
    assert [lookup(1.0, names), lookup("1.0", names), lookup("2", names), lookup([0, 2.0], names)] == \
        ["b", "b", "c", ["a", "c"]]
    assert lookup(None, names) is None and lookup("", names) is None  # no index, no name (NaN's empty cell)
    for bad in (1.5, "1.5", "x", float("nan")):
        with pytest.raises(FunctionError, match="not a whole number"):
            lookup(bad, names)


# Spark's and Hive's output folders

def _spark_folder(folder: Path, fmt: str) -> list[dict[str, Any]]:
    """A folder as Spark's `df.write.orc(…)` / `.parquet(…)` leaves it: part files named by no split, `_SUCCESS`,
    hidden `.crc` checksums."""
    rows = pa.table({"text": [f"t{n}" for n in range(6)], "label": ["pos", "neg"] * 3})
    folder.mkdir()
    write = orc.write_table if fmt == "orc" else pq.write_table
    for n, start in enumerate((0, 4)):
        part = folder / f"part-0000{n}-5f2c7d1e-c000.snappy.{fmt}"
        write(rows.slice(start, 4), part, compression="snappy")
        (folder / f".{part.name}.crc").write_bytes(b"crc\x00\x01")
    (folder / "_SUCCESS").write_bytes(b"")
    return rows.to_pylist()


@pytest.mark.parametrize("fmt", ["orc", "parquet"])
@pytest.mark.parametrize("with_datasets", [True, False])
def test_a_spark_output_folder_is_one_source_of_its_part_files(tmp_path: Path, fmt: str, with_datasets: bool,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    if not with_datasets:
        monkeypatch.setitem(sys.modules, "datasets", None)  # `import datasets` raises ImportError
    elif fmt == "parquet":
        pytest.importorskip("datasets")
    want = _spark_folder(tmp_path / "out.db", fmt)
    src = SourceDef("s", tmp_path / "out.db", "hf", {}, {"name": str(tmp_path / "out.db")})
    assert sorted((r.record["text"], r.record["label"]) for r in read_source(src)) == \
        sorted((r["text"], r["label"]) for r in want)  # every part file is train, as `datasets` reads them
    if not with_datasets:
        with pytest.raises(SourceError, match="no data file of split 'test'") as exc:
            list(read_source(SourceDef("s", tmp_path / "out.db", "hf", {}, {"name": "out.db", "split": "test"})))
        assert "split(s) train" in str(exc.value.hint)
