"""Review of d3c699c..dea59c3: what the new guards and parsers got wrong."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import built_test_split, run_cli


def _crlf(path: Path) -> None:
    """The file as humc writes it on Windows (text mode: every \\n written as \\r\\n), or git checks it out."""
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))


def test_files_humc_wrote_with_crlf_line_ends_are_still_its_own(tmp_path: Path) -> None:
    """`humc schema --out`, `humc eval --report` and `humc export --to alpaca` replace only files they wrote, told by
    how they start. On Windows they write them in text mode, with CRLF line ends: the second run of the same command
    was E3003 'a file humc did not write there', since the heads compared hold a bare \\n."""
    folder, ids = built_test_split(tmp_path, 2)
    assert run_cli("schema", "--out", "s.json", cwd=tmp_path).exit_code == 0
    _crlf(tmp_path / "s.json")
    result = run_cli("schema", "--out", "s.json", cwd=tmp_path)
    assert result.exit_code == 0, result.output

    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps({"id": i, "prediction": "[]"}) + "\n" for i in ids), encoding="utf-8")
    assert run_cli("eval", str(folder), "--predictions", str(preds), "--report", "r.json", cwd=tmp_path).exit_code == 0
    _crlf(tmp_path / "r.json")
    result = run_cli("eval", str(folder), "--predictions", str(preds), "--report", "r.json", cwd=tmp_path)
    assert result.exit_code == 0, result.output

    out = tmp_path / "exp"
    assert run_cli("export", str(folder), "--to", "alpaca", str(out)).exit_code == 0
    _crlf(out / "test.json")
    result = run_cli("export", str(folder), "--to", "alpaca", str(out))
    assert result.exit_code == 0, result.output

    (tmp_path / "mine.json").write_bytes(b'{\r\n "my": "own report"\r\n}\r\n')  # a file of one's own stays refused
    result = run_cli("eval", str(folder), "--predictions", str(preds), "--report", "mine.json", cwd=tmp_path)
    assert result.exit_code == 2 and "error[E3003]" in result.output


def test_a_refused_report_or_schema_file_is_named_at_file_line_col(tmp_path: Path) -> None:
    """E3003 for `--report`, `--markdown` or `humc schema --out` naming a file humc did not write was the one error
    of the new guard without a location (export's names the file at 1:1): an editor could not jump to it."""
    folder, ids = built_test_split(tmp_path, 2)
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps({"id": i, "prediction": "[]"}) + "\n" for i in ids), encoding="utf-8")
    result = run_cli("eval", str(folder), "--predictions", str(preds), "--markdown", "r.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 2 and "r.hum.yaml:1:1: error[E3003]: --markdown r.hum.yaml is a file" in result.output
    result = run_cli("schema", "--out", "r.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 2 and "r.hum.yaml:1:1: error[E3003]: --out r.hum.yaml is a file" in result.output
