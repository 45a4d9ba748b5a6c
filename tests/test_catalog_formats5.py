"""Published layouts of NLU datasets read end to end, and what a file humc cannot read says: DuReader's one-line
files, Chinese CSV in GB18030, UTF-16 TSV with its byte-order mark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from humc.errors import SourceError
from humc.ir import SourceDef
from humc.sources import read_source


def records(path: Path, fmt: str, **options: Any) -> list[dict[str, Any]]:
    return [row.record for row in read_source(SourceDef("s", path, fmt, options))]


def test_a_one_line_json_lines_file_under_a_json_name_is_refused_with_the_jsonl_hint(tmp_path: Path) -> None:
    """DuReader's search.dev.json holds one question per line; a file of one line is a valid JSON object too."""
    line = ('{"documents": [{"is_selected": true, "title": "减肥", "paragraphs": ["第一段。", "每天跑步三十分钟可以减肥。"], '
            '"most_related_para": 1}], "answer_docs": [0], "fake_answers": ["每天跑步三十分钟"], "question": "怎样减肥", '
            '"question_id": 186358}\n')
    file = tmp_path / "search.dev.json"
    file.write_text(line, encoding="utf-8")
    with pytest.raises(SourceError) as err:
        records(file, "json")
    assert err.value.code == "E4001" and err.value.span is not None and err.value.span.line == 1
    assert "one object on one line" in (err.value.hint or "") and "`format: jsonl`" in (err.value.hint or "")
    (got,) = records(file, "jsonl")
    para = got["documents"][got["answer_docs"][0]]
    assert para["paragraphs"][para["most_related_para"]] == "每天跑步三十分钟可以减肥。"


def test_a_gb18030_csv_is_located_with_the_chinese_encoding_to_set(tmp_path: Path) -> None:
    file = tmp_path / "weibo_senti_100k.csv"  # ChineseNlpCorpus' CSVs circulate re-saved by Excel in GBK
    file.write_bytes("label,review\n1,今天天气很好，我很开心\n0,服务太差了，再也不来了\n".encode("gb18030"))
    with pytest.raises(SourceError) as err:
        records(file, "csv")
    assert err.value.code == "E4001" and err.value.span is not None
    assert (err.value.span.line, err.value.span.col) == (2, 3)
    assert "`options: {encoding: gb18030}`" in (err.value.hint or "") and "big5" in (err.value.hint or "")
    assert records(file, "csv", encoding="gb18030") == [{"label": "1", "review": "今天天气很好，我很开心"},
                                                        {"label": "0", "review": "服务太差了，再也不来了"}]
    latin = tmp_path / "reviews.csv"  # Latin-1 text is not taken for Chinese: an accent before an ASCII letter
    latin.write_bytes("label,review\n1,Müller und Söhne, très bien\n".encode("latin-1"))
    with pytest.raises(SourceError) as err:
        records(latin, "csv")
    assert "gb18030" not in (err.value.hint or "") and "latin-1" in (err.value.hint or "")


def test_a_utf16_tsv_with_its_byte_order_mark_reads_without_an_encoding(tmp_path: Path) -> None:
    file = tmp_path / "dev.tsv"  # Excel's "Unicode text" export: UTF-16 LE with a BOM, CRLF
    file.write_bytes("sentence\tlabel\r\nit 's a charming journey .\t1\r\nunflinchingly bleak\t0\r\n".encode("utf-16"))
    assert records(file, "tsv") == [{"sentence": "it 's a charming journey .", "label": "1"},
                                    {"sentence": "unflinchingly bleak", "label": "0"}]
