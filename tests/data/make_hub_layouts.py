"""Write the Hub layouts of the C3 and OntoNotes samples (tests/data/{c3,ontonotes_conll2012}/hub/) the way the
datasets' loading scripts lay them out, with the `huggingface` features metadata `datasets` 2.x writes.
Run from the repository: `python tests/data/make_hub_layouts.py tests/data` (pyarrow only; no network)."""
import json
import re
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

data = Path(sys.argv[1])


def V(dtype: str) -> dict:  # the features JSON `datasets` 2.x writes (the Hub's Parquet exports carry it)
    return {"dtype": dtype, "id": None, "_type": "Value"}


def Seq(feature, length: int = -1) -> dict:
    return {"feature": feature, "length": length, "id": None, "_type": "Sequence"}


def Label(names: list) -> dict:
    return {"num_classes": len(names), "names": names, "id": None, "_type": "ClassLabel"}


def write(rows: list, schema: pa.Schema, features: dict, out: Path) -> None:
    meta = {b"huggingface": json.dumps({"info": {"features": features}}).encode()}
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema.with_metadata(meta)), out)


S = V("string")
STR, LSTR = pa.string(), pa.list_(pa.string())

# dataset-org/c3 (c3.py): one row per document; `questions` a Sequence of a dict, stored as a struct of lists
C3 = {"documents": Seq(S), "document_id": S, "questions": Seq({"question": S, "answer": S, "choice": Seq(S)})}
C3_SCHEMA = pa.schema([("documents", LSTR), ("document_id", STR), ("questions", pa.struct(
    [("question", LSTR), ("answer", LSTR), ("choice", pa.list_(LSTR))]))])
for config, name in (("dialog", "c3-d-dev.head4.json"), ("mixed", "c3-m-dev.head3.json")):
    items = json.loads((data / "c3" / name).read_text(encoding="utf-8"))
    rows = [{"documents": doc, "document_id": id_, "questions": {k: [q[k] for q in qs] for k in ("question", "answer", "choice")}}
            for doc, qs, id_ in items]
    write(rows, C3_SCHEMA, C3, data / "c3" / "hub" / config / "validation-00000-of-00001.parquet")

# ontonotes/conll2012_ontonotesv5 (conll2012_ontonotesv5.py, english_v4): one row per document part
POS = ["XX", "``", "$", "''", ",", "-LRB-", "-RRB-", ".", ":", "ADD", "AFX", "CC", "CD", "DT", "EX", "FW", "HYPH", "IN",
       "JJ", "JJR", "JJS", "LS", "MD", "NFP", "NN", "NNP", "NNPS", "NNS", "PDT", "POS", "PRP", "PRP$", "RB", "RBR", "RBS",
       "RP", "SYM", "TO", "UH", "VB", "VBD", "VBG", "VBN", "VBP", "VBZ", "WDT", "WP", "WP$", "WRB"]
TYPES = ["PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "DATE", "TIME", "PERCENT", "MONEY", "QUANTITY",
         "ORDINAL", "CARDINAL", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE"]
NER = ["O", *(f"{p}-{t}" for t in TYPES for p in "BI")]
ONTO = {"document_id": S, "sentences": [{
    "part_id": V("int32"), "words": Seq(S), "pos_tags": Seq(Label(names=POS)), "parse_tree": S,
    "predicate_lemmas": Seq(S), "predicate_framenet_ids": Seq(S), "word_senses": Seq(V("float32")), "speaker": S,
    "named_entities": Seq(Label(names=NER)), "srl_frames": [{"verb": S, "frames": Seq(S)}],
    "coref_spans": Seq(Seq(V("int32"), length=3))}]}
I32 = pa.int32()
ONTO_SCHEMA = pa.schema([("document_id", STR), ("sentences", pa.list_(pa.struct([
    ("part_id", I32), ("words", LSTR), ("pos_tags", pa.list_(pa.int64())), ("parse_tree", STR), ("predicate_lemmas", LSTR),
    ("predicate_framenet_ids", LSTR), ("word_senses", pa.list_(pa.float32())), ("speaker", STR),
    ("named_entities", pa.list_(pa.int64())), ("srl_frames", pa.list_(pa.struct([("verb", STR), ("frames", LSTR)]))),
    ("coref_spans", pa.list_(pa.list_(I32, 3)))])))])


def bio(column: list[str]) -> list[str]:
    """A bracketed column ((PERSON* * *)) as BIO tags."""
    out, open_ = [], None
    for tag in column:
        m = re.match(r"\(([^*()]+)", tag)
        if m:
            out.append("B-" + m.group(1))
            open_ = m.group(1)
        else:
            out.append("I-" + open_ if open_ else "O")
        if tag.endswith(")"):
            open_ = None
    return out


def coref(column: list[str]) -> list[list[int]]:
    spans, starts = [], {}
    for i, tag in enumerate(column):
        for part in tag.split("|") if tag != "-" else []:
            n = int(part.strip("()"))
            if part.startswith("("):
                starts.setdefault(n, []).append(i)
            if part.endswith(")"):
                spans.append([n, starts[n].pop(), i])
    return sorted(spans, key=lambda s: (s[1], s[2]))


def sentence(rows: list[list[str]]) -> dict:
    words = [r[3] for r in rows]
    args = [[r[11 + k] for r in rows] for k in range(len(rows[0]) - 12)]
    frames = [{"verb": words[next(i for i, t in enumerate(a) if "(V" in t)], "frames": bio(a)} for a in args]
    return {"part_id": int(rows[0][1]), "words": words, "pos_tags": [POS.index(r[4]) for r in rows],
            "parse_tree": "".join(r[5].replace("*", f" ({r[4]} {r[3]})") for r in rows),
            "predicate_lemmas": [None if r[6] == "-" else r[6] for r in rows],
            "predicate_framenet_ids": [None if r[7] == "-" else r[7] for r in rows],
            "word_senses": [None if r[8] == "-" else float(r[8]) for r in rows],
            "speaker": None if rows[0][9] == "-" else rows[0][9], "named_entities": [NER.index(t) for t in bio([r[10] for r in rows])],
            "srl_frames": frames, "coref_spans": coref([r[-1] for r in rows])}


docs = []
for path in sorted((data / "ontonotes_conll2012").rglob("*.gold_conll")):
    doc_id, sentences, rows = "", [], []
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if line.startswith("#begin"):
            doc_id = line.split("(")[1].split(")")[0]
        elif line.startswith("#"):
            continue
        elif line.strip():
            rows.append(line.split())
        elif rows:
            sentences.append(sentence(rows))
            rows = []
    docs.append({"document_id": doc_id, "sentences": sentences})
write(docs, ONTO_SCHEMA, ONTO, data / "ontonotes_conll2012" / "hub" / "english_v4" / "validation-00000-of-00001.parquet")
