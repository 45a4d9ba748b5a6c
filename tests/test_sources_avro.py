"""Avro sources (`format: avro`, `.avro`, extensionless container files by their magic): files fastavro writes from
the real databricks-dolly-15k sample (tests/data/dolly, CC BY-SA 3.0, see its SOURCE.md), read back through humc and
compared with what was written: record schemas, nulls and unions, enums, maps, arrays, nested records, logical types
(timestamps, dates, decimals, uuids), codecs and compression; damaged files and a missing fastavro are E4001 at the
file, saying what was expected."""

from __future__ import annotations

import datetime
import decimal
import gzip
import json
import sys
import uuid
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from helpers import run_cli

from humc.errors import SourceError
from humc.ir import SourceDef
from humc.sources import infer_format, read_source

fastavro = pytest.importorskip("fastavro")

DOLLY = Path(__file__).parent / "data" / "dolly" / "databricks-dolly-15k.head.jsonl"
CATEGORIES = ["open_qa", "closed_qa", "classification", "information_extraction", "brainstorming", "summarization",
              "creative_writing", "general_qa"]
SCHEMA = {"type": "record", "name": "Dolly", "namespace": "databricks", "fields": [
    {"name": "instruction", "type": "string"},
    {"name": "context", "type": ["null", "string"], "default": None},   # the open categories' "" written as null
    {"name": "response", "type": "string"},
    {"name": "category", "type": {"type": "enum", "name": "Category", "symbols": CATEGORIES}},
]}


def dolly() -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in DOLLY.read_text(encoding="utf-8").splitlines()]
    return [{**row, "context": row["context"] or None} for row in rows]


def write(path: Path, rows: list[dict[str, Any]], schema: dict[str, Any] = SCHEMA, **options: Any) -> Path:
    with open(path, "wb") as f:
        fastavro.writer(f, schema, rows, **options)
    return path


def records(path: Path, fmt: str | None = None, **options: Any) -> list[dict[str, Any]]:
    return [row.record for row in read_source(SourceDef("s", path, fmt or infer_format(path), options))]


def refusal(path: Path, fmt: str = "avro", **options: Any) -> SourceError:
    with pytest.raises(SourceError) as exc:
        records(path, fmt, **options)
    assert exc.value.code == "E4001" and exc.value.span is not None and exc.value.span.file == str(path)
    assert "Traceback" not in exc.value.render()
    return exc.value


def test_dolly_written_as_avro_reads_back_as_written_by_extension_content_codec_and_compression(tmp_path: Path) -> None:
    rows = dolly()
    assert any(r["context"] is None for r in rows) and any(r["context"] for r in rows)
    write(tmp_path / "dolly.avro", rows)
    write(tmp_path / "part-00000", rows, codec="deflate", sync_interval=512)  # Hive/Kafka Connect: no extension
    (tmp_path / "dolly.avro.gz").write_bytes(gzip.compress((tmp_path / "dolly.avro").read_bytes()))
    assert infer_format(tmp_path / "dolly.avro") == infer_format(tmp_path / "part-00000") == "avro"
    assert records(tmp_path / "dolly.avro") == rows
    assert records(tmp_path / "part-00000") == rows
    assert records(tmp_path / "dolly.avro.gz") == rows
    assert [r.number for r in read_source(SourceDef("s", tmp_path / "part-00000", "avro", {}))] == list(range(len(rows)))
    assert records(tmp_path / "dolly.avro", columns=["category", "instruction"]) == \
        [{"instruction": r["instruction"], "category": r["category"]} for r in rows]


def test_logical_types_unions_maps_and_nested_records_read_as_python_values(tmp_path: Path) -> None:
    schema = {"type": "record", "name": "Row", "fields": [
        {"name": "text", "type": "string"},
        {"name": "created", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "seen", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}]},
        {"name": "local", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
        {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "extra", "type": ["null", "string", "long", {"type": "record", "name": "Meta", "fields": [
            {"name": "source", "type": "string"}, {"name": "tags", "type": {"type": "array", "items": "string"}}]}]},
        {"name": "attrs", "type": {"type": "map", "values": "string"}},
        {"name": "digest", "type": {"type": "fixed", "name": "Digest", "size": 4}},
        {"name": "blob", "type": "bytes"},
    ]}
    first = dolly()[0]["instruction"]
    when = datetime.datetime(2023, 4, 12, 9, 30, 15, 250000, tzinfo=datetime.timezone.utc)
    rows = [
        {"text": first, "created": when, "seen": None, "local": datetime.datetime(2023, 4, 12, 11, 30, 15, 1),
         "day": datetime.date(2023, 4, 12), "price": decimal.Decimal("1234.50"), "id": uuid.UUID(int=7),
         "extra": None, "attrs": {"lang": "en", "split": "train"}, "digest": b"\x00\xff\x10\x01", "blob": b"\xff\xfe"},
        {"text": "naïve café, 好", "created": when, "seen": when, "local": datetime.datetime(1970, 1, 1),
         "day": datetime.date(1999, 12, 31), "price": decimal.Decimal("-0.01"), "id": uuid.UUID(int=8),
         "extra": {"source": "dolly", "tags": ["qa", "wiki"]}, "attrs": {}, "digest": b"abcd", "blob": b""},
        {"text": "", "created": when, "seen": None, "local": datetime.datetime(2000, 2, 29), "day": datetime.date(2000, 2, 29),
         "price": decimal.Decimal("0.00"), "id": uuid.UUID(int=9), "extra": 42, "attrs": {"k": ""}, "digest": b"wxyz",
         "blob": b"x"},
    ]
    write(tmp_path / "typed.avro", rows, schema, codec="deflate")
    got = records(tmp_path / "typed.avro")
    assert got == [{**row, "id": str(row["id"])} for row in rows]  # a uuid is its text
    assert got[0]["created"].tzinfo is not None and got[0]["local"].tzinfo is None
    assert isinstance(got[1]["price"], decimal.Decimal) and str(got[1]["price"]) == "-0.01"
    assert got[2]["extra"] == 42 and got[1]["extra"]["tags"] == ["qa", "wiki"]


def test_explode_and_an_unknown_column_name_the_files_fields(tmp_path: Path) -> None:
    schema = {"type": "record", "name": "Race", "fields": [
        {"name": "article", "type": "string"},
        {"name": "questions", "type": {"type": "array", "items": "string"}},
        {"name": "answers", "type": {"type": "array", "items": "string"}}]}
    rows = dolly()
    write(tmp_path / "r.avro", [{"article": rows[0]["context"], "questions": [rows[0]["instruction"], "Who?"],
                                 "answers": [rows[0]["response"], "Virgin"]}], schema)
    assert [(r["questions"], r["answers"], r["index"]) for r in records(tmp_path / "r.avro", explode=["questions", "answers"])] \
        == [(rows[0]["instruction"], rows[0]["response"], 0), ("Who?", "Virgin", 1)]
    error = refusal(tmp_path / "r.avro", columns=["article", "question"])
    assert "'question'" in error.message and error.expected == "columns of the file: article, questions, answers"


def test_a_dolly_avro_file_builds_and_checks_end_to_end(tmp_path: Path) -> None:
    rows = dolly()
    write(tmp_path / "dolly.avro", rows, codec="deflate")
    (tmp_path / "r.hum.yaml").write_text(
        "hum: 1\nname: t\nsources:\n  s: {path: dolly.avro}\ntasks:\n  - id: e\n    task: classification\n"
        "    source: s\n    fields: {text: instruction, label: category}\n    formats: [json]\n", encoding="utf-8")
    assert run_cli("check", "r.hum.yaml", cwd=tmp_path).exit_code == 0
    result = run_cli("build", "r.hum.yaml", "-q", cwd=tmp_path)
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    built = [row for shard in sorted((tmp_path / "out" / "t" / "data").glob("*.parquet"))
             for row in pq.read_table(shard).to_pylist()]
    assert sorted(json.loads(row["output"])["label"] for row in built) == sorted(r["category"] for r in rows)


def test_a_folder_of_avro_part_files_is_one_source(tmp_path: Path) -> None:
    rows, folder = dolly(), tmp_path / "topic"
    folder.mkdir()
    write(folder / "part-00000.avro", rows[:6])
    write(folder / "part-00001.avro", rows[6:], codec="deflate")
    (folder / "_SUCCESS").write_bytes(b"")
    src = SourceDef("s", folder, "hf", {}, {"name": str(folder)})  # `datasets` reads no Avro: humc's own reader does
    assert [r.record for r in read_source(src)] == rows


@pytest.mark.parametrize("damage", ["cut", "text", "empty", "parquet"])
def test_a_file_that_is_no_avro_container_is_located_at_the_file(tmp_path: Path, damage: str) -> None:
    whole = write(tmp_path / "whole.avro", dolly()).read_bytes()
    path = tmp_path / "a.avro"
    path.write_bytes({"cut": whole[:40], "text": b"instruction,category\nhi,open_qa\n", "empty": b"",
                      "parquet": b"PAR1\x15\x04" + bytes(30)}[damage])
    error = refusal(path)
    assert {"cut": "not a readable Avro file (cannot read header", "empty": "not an Avro file: it is empty"}.get(
        damage, "not an Avro file: it starts with ") in error.message
    assert error.expected == "an Avro object container file" and "damaged, cut short or not Avro" in str(error.hint)


@pytest.mark.parametrize("damage", ["cut", "flipped"])
def test_a_damaged_block_says_how_many_records_were_read(tmp_path: Path, damage: str) -> None:
    rows = dolly() * 20
    data = bytearray(write(tmp_path / "z.avro", rows, codec="deflate", sync_interval=2000).read_bytes())
    if damage == "cut":
        data = data[:len(data) * 2 // 3]
    else:
        middle = len(data) // 2
        data[middle:middle + 40] = bytes(b ^ 0x5A for b in data[middle:middle + 40])
    (tmp_path / "z.avro").write_bytes(bytes(data))
    error = refusal(tmp_path / "z.avro")
    assert error.message.startswith("source 's': the Avro file is damaged after ") and error.expected == "a complete Avro file"
    read = int(error.message.split("damaged after ")[1].split(" ")[0])
    assert 0 < read < len(rows)   # the records of the blocks before the damaged one
    assert "fastavro.reader" in str(error.hint)


def test_a_codec_whose_library_is_missing_names_the_package(tmp_path: Path) -> None:
    data = write(tmp_path / "w.avro", dolly()).read_bytes()
    snappy = data.replace(b"\x14avro.codec\x08null", b"\x14avro.codec\x0csnappy")  # Spark's and Kafka's usual codec
    assert snappy != data
    (tmp_path / "s.avro").write_bytes(snappy)
    try:
        import cramjam  # noqa: F401
    except ImportError:
        error = refusal(tmp_path / "s.avro")
        assert error.message == "source 's': the Avro file is compressed with snappy, and the library that " \
                                "decompresses it (cramjam) is not installed"
        assert error.hint == "pip install cramjam" and "damaged" not in error.render()
    else:
        pytest.skip("cramjam is installed: the snappy codec is available")


def test_a_schema_that_is_no_record_and_a_string_that_is_no_utf8_are_named(tmp_path: Path) -> None:
    write(tmp_path / "strings.avro", [r["instruction"] for r in dolly()], "string")  # type: ignore[arg-type]
    error = refusal(tmp_path / "strings.avro")
    assert 'schema is "string", not a record' in error.message and "record schema" in str(error.hint)
    schema = {"type": "record", "name": "T", "fields": [{"name": "text", "type": "string"}]}
    data = write(tmp_path / "t.avro", [{"text": "ok"}, {"text": "ab"}], schema).read_bytes()
    (tmp_path / "t.avro").write_bytes(data.replace(b"\x04ab", b"\x04\xff\xfe"))
    error = refusal(tmp_path / "t.avro")
    assert "record 2 holds a string that is not UTF-8" in error.message


def test_a_date_or_timestamp_past_year_9999_reads_as_its_iso_text(tmp_path: Path) -> None:
    """A timestamp past year 9999 ended the read (E4001 at record 2), a date past it too, said to be damage ('the Avro
    file is damaged after 1 record(s) (year 10000 is out of range)'): each is now its text, written as a date or
    timestamp Python holds is, with ISO 8601's expanded year (numpy's datetime64 agrees); the rows around it read."""
    import numpy as np

    schema = {"type": "record", "name": "T", "fields": [
        {"name": "text", "type": "string"},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "local", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
        {"name": "day", "type": ["null", {"type": "int", "logicalType": "date"}]}]}
    texts = [r["instruction"] for r in dolly()[:3]]
    far, before = 253402300800000000 * 10 + 1_500_000, -62135596800000000 - 86_400_000_000  # 1 day before 0001-01-01
    rows = [{"text": texts[0], "at": 0, "ms": 0, "local": 0, "day": 0},
            {"text": texts[1], "at": far, "ms": far // 1000, "local": far // 1000, "day": 2932897},  # 10000-01-01
            {"text": texts[2], "at": before, "ms": before // 1000, "local": before // 1000, "day": -719163}]
    write(tmp_path / "t.avro", rows, schema)
    got = records(tmp_path / "t.avro")
    assert [r["text"] for r in got] == texts
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    assert got[0] == {"text": texts[0], "at": epoch, "ms": epoch, "local": epoch.replace(tzinfo=None),
                      "day": datetime.date(1970, 1, 1)}
    assert str(np.datetime64(far, "us")) == "82269-12-29T00:00:01.500000"
    assert got[1] == {"text": texts[1], "at": "+82269-12-29 00:00:01.500000+00:00", "ms": "+82269-12-29 00:00:01.500000+00:00",
                      "local": "+82269-12-29 00:00:01.500000", "day": "+10000-01-01"}
    assert str(np.datetime64(before, "us")) == "0000-12-31T00:00:00.000000"  # year 0: 1 BC
    assert got[2] == {"text": texts[2], "at": "0000-12-31 00:00:00+00:00", "ms": "0000-12-31 00:00:00+00:00",
                      "local": "0000-12-31 00:00:00", "day": "0000-12-31"}


def test_far_timestamps_agree_with_numpy_across_the_400_year_cycle() -> None:
    import numpy as np

    from humc.sources_readers import far_timestamp

    for micros in (253402300800000000, 253402300800000000 * 3 + 86_399_999_999, -62135596800000001,
                   -10**18, 10**18 - 1, 12622780800 * 10**6 * 25 + 7, -62135596800000000 * 7):
        at = np.datetime64(micros, "us")
        numpy = str(at if micros % 10**6 else at.astype("datetime64[s]")).replace("T", " ")
        year, rest = numpy.split("-", 1) if not numpy.startswith("-") else ("-" + numpy[1:].split("-", 1)[0],
                                                                              numpy[1:].split("-", 1)[1])
        iso = f"+{int(year)}" if int(year) > 9999 else f"-{-int(year):04d}" if int(year) < 0 else year
        assert far_timestamp(micros, utc=False) == f"{iso}-{rest}", micros


def test_a_duration_reads_as_iso_8601_text_not_bytes(tmp_path: Path) -> None:
    """Avro's `duration` (fixed 12: months, days, milliseconds) stayed 12 raw bytes; it is ISO 8601 text."""
    schema = {"type": "record", "name": "T", "fields": [
        {"name": "text", "type": "string"},
        {"name": "took", "type": ["null", {"type": "fixed", "name": "Duration", "size": 12, "logicalType": "duration"}]}]}

    def duration(months: int, days: int, millis: int) -> bytes:
        return b"".join(n.to_bytes(4, "little") for n in (months, days, millis))

    texts = [r["instruction"] for r in dolly()[:5]]
    values = [duration(1, 2, 3), duration(0, 0, 0), duration(14, 0, 90_061_500), None, duration(0, 30, 0)]
    write(tmp_path / "d.avro", [{"text": t, "took": v} for t, v in zip(texts, values, strict=True)], schema, codec="deflate")
    got = records(tmp_path / "d.avro")
    assert [r["took"] for r in got] == ["P1M2DT0.003S", "PT0S", "P14MT25H1M1.5S", None, "P30D"]
    assert [r["text"] for r in got] == texts


def test_without_fastavro_an_avro_source_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "dolly.avro", dolly())
    monkeypatch.setitem(sys.modules, "fastavro", None)  # `import fastavro` raises ImportError
    error = refusal(tmp_path / "dolly.avro")
    assert "needs the fastavro package" in error.message and "pip install 'humc[avro]'" in str(error.hint)
    (tmp_path / "r.hum.yaml").write_text(
        "hum: 1\nname: t\nsources:\n  s: {path: dolly.avro}\ntasks:\n  - id: e\n    task: classification\n"
        "    source: s\n    fields: {text: instruction, label: category}\n    formats: [json]\n", encoding="utf-8")
    result = run_cli("check", "r.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 2 and "error[E4001]" in result.output and "humc[avro]" in result.output, result.output
    assert "dolly.avro:1:1" in result.output and "Traceback" not in result.output


def test_a_uuid_inside_a_nested_record_an_array_or_a_map_is_its_text_too(tmp_path: Path) -> None:
    key = {"type": "string", "logicalType": "uuid"}
    schema = {"type": "record", "name": "Row", "fields": [
        {"name": "meta", "type": {"type": "record", "name": "Meta", "fields": [{"name": "id", "type": key}]}},
        {"name": "ids", "type": {"type": "array", "items": key}},
        {"name": "by", "type": {"type": "map", "values": key}},
    ]}
    row = {"meta": {"id": uuid.UUID(int=1)}, "ids": [uuid.UUID(int=2)], "by": {"a": uuid.UUID(int=3)}}
    write(tmp_path / "nested.avro", [row], schema)
    assert records(tmp_path / "nested.avro") == [{"meta": {"id": str(uuid.UUID(int=1))}, "ids": [str(uuid.UUID(int=2))],
                                                  "by": {"a": str(uuid.UUID(int=3))}}]
