"""Task metrics, as pure functions of gold and predicted values (no I/O, no humc types).

* spans (NER, RE, EE, open IE): micro precision / recall / F1 over answer rows. *Exact*: a predicted row
  counts when the same row (every column equal after trimming) is in the gold, as a multiset. *Partial*: a
  predicted row matches a still unmatched gold row when every column agrees after SQuAD normalisation or one
  value's normalised tokens are a contiguous run of the other's (a span cut too short or too long still counts;
  "US" is no part of "Russia"); matching is greedy, one to one.
* extractive MRC: exact match and token F1 with the official SQuAD v2 normalisation (lowercase, drop
  punctuation and the articles a/an/the, squeeze whitespace; Chinese punctuation too, as CMRC's does); the best
  over the gold answers; an empty gold (no answer) matches only an empty prediction.
* multiple choice: accuracy. Single-label classification: accuracy and macro-F1 over the labels seen in gold
  or predictions. Multi-label: micro-F1 over (record, label) pairs and macro-F1 over labels.
* ``bootstrap_delta``: a paired bootstrap confidence interval for a difference of means, seeded.

Decisions: an aggregate with nothing to find and nothing found scores 1.0 (an empty gold answered with an
empty prediction is right); Chinese text (no spaces) is tokenised per character for token F1, as the
CMRC/DuReader evaluations do.
"""

from __future__ import annotations

import collections
import random
import re
import string
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Row = tuple[str, ...]

# ------------------------------------------------------------------ SQuAD v2 normalisation

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = frozenset(string.punctuation)
_CJK = re.compile(r"([\u3400-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef])")


def normalize_answer(s: str) -> str:
    """Lower text and remove punctuation, articles and extra whitespace (the official SQuAD v2 function); the
    punctuation of Chinese text (。，《》, fullwidth ！？) goes too, as CMRC's evaluation drops it."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT and not _cjk_punct(ch))
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def _cjk_punct(ch: str) -> bool:
    """Whether ``ch`` is punctuation of the CJK ranges (CJK symbols and punctuation, fullwidth forms); other non-ASCII
    punctuation stays, as SQuAD's own normalisation keeps it."""
    return ch >= "\u3000" and _CJK.fullmatch(ch) is not None and unicodedata.category(ch).startswith("P")


def answer_tokens(s: str) -> list[str]:
    """The normalised tokens of an answer; each CJK character is a token of its own."""
    if not s:
        return []
    return _CJK.sub(r" \1 ", normalize_answer(s)).split()


def exact_match(gold: str, pred: str) -> float:
    return float(normalize_answer(gold) == normalize_answer(pred))


def token_f1(gold: str, pred: str) -> float:
    gold_toks, pred_toks = answer_tokens(gold), answer_tokens(pred)
    if not gold_toks or not pred_toks:  # no-answer: right only when both are empty
        return float(gold_toks == pred_toks)
    common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_toks), same / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def best_over_golds(golds: Sequence[str], pred: str) -> tuple[float, float]:
    """(EM, F1) of one prediction against the best of several gold answers ([""] when there is none)."""
    golds = [g for g in golds if normalize_answer(g)] or [""]
    return max(exact_match(g, pred) for g in golds), max(token_f1(g, pred) for g in golds)


# ------------------------------------------------------------------ precision / recall / F1


@dataclass(frozen=True)
class PRF:
    precision: float
    recall: float
    f1: float


def prf(tp: float, n_pred: float, n_gold: float) -> PRF:
    """Precision, recall and F1 from counts; nothing to find and nothing found is perfect."""
    if n_pred == 0 and n_gold == 0:
        return PRF(1.0, 1.0, 1.0)
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    return PRF(p, r, 2 * p * r / (p + r) if p + r else 0.0)


def _trimmed(rows: Iterable[Row]) -> list[Row]:
    return [tuple(v.strip() for v in row) for row in rows]


def exact_matches(gold: Iterable[Row], pred: Iterable[Row]) -> int:
    """How many predicted rows equal a gold row (multiset intersection)."""
    return sum((collections.Counter(_trimmed(gold)) & collections.Counter(_trimmed(pred))).values())


def _close(a: str, b: str) -> bool:
    """Equal, or one's normalised tokens a contiguous run of the other's ("York" of "New York", 北京 of 北京市): a
    span cut too short or too long. Not any substring: "US" is no part of "Russia"."""
    ta, tb = answer_tokens(a), answer_tokens(b)
    if ta == tb:
        return True
    return bool(ta and tb) and (_within(ta, tb) or _within(tb, ta))


def _within(part: list[str], whole: list[str]) -> bool:
    """Whether ``part`` occurs in ``whole`` as a contiguous run of tokens."""
    n = len(part)
    return any(whole[i:i + n] == part for i in range(len(whole) - n + 1))


def partial_matches(gold: Iterable[Row], pred: Iterable[Row]) -> int:
    """How many predicted rows match a distinct gold row column by column (equal or overlapping)."""
    free = list(_trimmed(gold))
    found = 0
    for row in _trimmed(pred):
        for i, g in enumerate(free):
            if len(g) == len(row) and all(_close(a, b) for a, b in zip(g, row, strict=True)):
                found += 1
                del free[i]
                break
    return found


# ------------------------------------------------------------------ labels


def macro_f1(pairs: Iterable[tuple[frozenset[str], frozenset[str]]]) -> float:
    """Macro-F1 over labels: per label F1 of (gold set, predicted set) pairs, averaged over every label
    seen in gold or predictions."""
    tp: collections.Counter[str] = collections.Counter()
    n_pred: collections.Counter[str] = collections.Counter()
    n_gold: collections.Counter[str] = collections.Counter()
    for gold, pred in pairs:
        tp.update(gold & pred)
        n_pred.update(pred)
        n_gold.update(gold)
    labels = set(n_pred) | set(n_gold)
    if not labels:
        return 1.0
    return sum(prf(tp[k], n_pred[k], n_gold[k]).f1 for k in labels) / len(labels)


def micro_f1(pairs: Iterable[tuple[frozenset[str], frozenset[str]]]) -> PRF:
    tp = n_pred = n_gold = 0
    for gold, pred in pairs:
        tp += len(gold & pred)
        n_pred += len(pred)
        n_gold += len(gold)
    return prf(tp, n_pred, n_gold)


# ------------------------------------------------------------------ bootstrap


@dataclass(frozen=True)
class Delta:
    delta: float
    low: float
    high: float
    n: int


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def bootstrap_delta(a: Sequence[float], b: Sequence[float], *, resamples: int = 1000, seed: int = 0,
                    confidence: float = 0.95) -> Delta:
    """mean(b) - mean(a) over paired items, with a percentile bootstrap interval (seeded: reproducible)."""
    if len(a) != len(b):
        raise ValueError("paired samples must have the same length")
    n = len(a)
    diffs = [y - x for x, y in zip(a, b, strict=True)]
    if n == 0:
        return Delta(0.0, 0.0, 0.0, 0)
    rng = random.Random(seed)
    means = sorted(mean([diffs[rng.randrange(n)] for _ in range(n)]) for _ in range(resamples))
    tail = (1 - confidence) / 2
    low = means[int(tail * (resamples - 1))]
    high = means[int(round((1 - tail) * (resamples - 1)))]
    return Delta(mean(diffs), low, high, n)
