"""The functions recipe expressions may call — a closed, whitelisted set.

General helpers (len, lower, join …) plus adapters that turn common public dataset
encodings (IOB tags, SpERT index lists, DuEE event lists) into the gold answer shapes
humc's tasks expect.
"""

from __future__ import annotations

import html
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from humc.expr.argtypes import FunctionError, describe, kind_of, sample
from humc.limits import MAX_INT, MAX_MADE_ITEMS

__all__ = ["FUNCTIONS", "FunctionError"]


def _len(value: Any) -> int:
    if value is None:
        return 0
    if not hasattr(value, "__len__"):
        raise FunctionError(f"len() needs a string or list, got {describe(value)}")
    return len(value)


def _as_text(value: Any) -> str:
    """A value as text for a string function: numbers, dates and decimals as written; bytes (a Parquet binary column),
    objects and lists are refused rather than written as Python's `b'...'`, `{'k': ...}` or `['a']` into an
    instruction."""
    if isinstance(value, (bytes, bytearray)):
        raise FunctionError(f"{bytes(value[:20])!r} is binary data (bytes), not text: read the column as text, or leave "
                            "it out")
    if isinstance(value, dict):
        raise FunctionError("an object is not text: name one of its fields (value.field), or join its values")
    if isinstance(value, (list, tuple)):
        raise FunctionError("a list inside the list is not text: join it first (`inner | join(' ')`), or flatten it")
    return str(value)


def _str_fn(fn: Callable[[str], Any]) -> Callable[[Any], Any]:
    def wrapped(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, list):
            return [wrapped(v) for v in value]
        return fn(_as_text(value))
    return wrapped


def join(values: Iterable[Any], sep: str = " ") -> str:
    parts = ["" if v is None else _as_text(v) for v in values]
    _check_made(sum(map(len, parts)) + len(sep) * max(len(parts) - 1, 0), "joining the values")
    return sep.join(parts)


def _replace(s: Any, a: str, b: str) -> Any:
    if s is None:
        return None
    text = str(s)
    if len(b) > len(a):  # every "" of a text (one more than its characters) is replaced: `replace(t, "", t)`
        _check_made(len(text) + (len(text) + 1 if a == "" else text.count(a)) * (len(b) - len(a)), "replacing")
    return text.replace(a, b)


def _check_made(size: int, what: str) -> None:
    """A text of ``size`` characters is refused before it is made when over ``MAX_MADE_ITEMS`` (nested calls can
    triple a text at each level)."""
    if size > MAX_MADE_ITEMS:
        raise FunctionError(f"{what} makes a text of {size} characters, over the limit of {MAX_MADE_ITEMS}",
                            expected=f"a result of at most {MAX_MADE_ITEMS} characters")


def split(value: str, sep: str | None = None) -> list[str]:
    return [] if value in (None, "") else str(value).split(sep)


def first(values: Sequence[Any]) -> Any:
    return values[0] if values else None


def last(values: Sequence[Any]) -> Any:
    return values[-1] if values else None


def _sorted(v: Iterable[Any]) -> list[Any]:
    try:
        return sorted(v)
    except TypeError:
        kinds = sorted({kind_of(item) for item in v})
        raise FunctionError(f"values of different types ({' and '.join(kinds)}) have no order",
                            expected="a list of strings, or a list of numbers",
                            hint="sort one kind only: leave out nulls with a `where:` filter, or write every value "
                                 "as text (`str(x)`)") from None


def _contains(s: Any, sub: Any) -> bool:
    if isinstance(s, str) and not isinstance(sub, str):
        raise FunctionError(f"what a text is searched for must be a string, not {describe(sub)}",
                            expected="contains(text, \"word\") or contains(list, value)",
                            hint="write a number as text with `str(…)`")
    try:
        return sub in s
    except TypeError:  # an unhashable value looked up among an object's keys
        raise FunctionError(f"an object's keys are names, not {describe(sub)}",
                            expected="contains(object, \"key\")") from None


def unique(values: Iterable[Any]) -> list[Any]:
    seen: list[Any] = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return seen


def lookup(indices: Any, names: Sequence[Any] | Mapping[Any, Any], offset: int = 0) -> Any:
    """Map an index (or list of indices, or "1,4" string) to names: lookup(label, ["World", "Sports"], offset=1);
    with a mapping for ``names``, map each key through it: lookup(labels.r, rel_info) (DocRED's "P17" -> "country").
    A missing index (null, or a CSV's empty cell: pandas' NaN) is a missing name, null."""
    if indices is None or indices == "":
        return None
    if isinstance(names, Mapping):
        return _lookup_key(indices, names)
    if isinstance(indices, str) and "," in indices:
        indices = indices.split(",")
    if isinstance(indices, list):
        return [lookup(i, names, offset) for i in indices]
    i = _index(indices) - offset
    if not 0 <= i < len(names):
        raise FunctionError(f"index {indices!r} is out of range for {len(names)} names")
    return names[i]


def _index(value: Any) -> int:
    """``lookup``'s index as an integer: a whole number, also as a float (1.0: a JSON, Parquet or pandas float column
    of integer labels) or a text writing one ("1", "1.0"); 1.5 or "x" is an error, not the index 1 or a crash."""
    try:
        number = float(value) if isinstance(value, str) and "." in value else value
        if isinstance(number, float) and not number.is_integer():
            raise ValueError(value)
        return int(number)
    except (TypeError, ValueError, OverflowError):
        raise FunctionError(f"the index is {describe(value)}, not a whole number",
                            expected="an index (a whole number), a list of indices, or a text \"1,4\"") from None


OPTION_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # the labels of options that name none: A, B, C, ... one per option


def choice_label(options: Sequence[Any], answer: Any, labels: Sequence[Any] | None = None) -> Any:
    """The label of the option whose text is ``answer`` (C3 and DREAM give the answer as the option's text):
    choice_label(choices, answer) -> "C"; ``labels`` default to A, B, C, ... one per option."""
    if not isinstance(options, list):
        raise FunctionError(f"the options are {describe(options)}, not a list")
    names = list(labels) if labels is not None else list(OPTION_LETTERS[:len(options)])
    if len(names) != len(options):
        raise FunctionError(f"{len(options)} options but {len(names)} labels")
    if answer not in options:
        shown = ", ".join(map(repr, options[:5])) + (", …" if len(options) > 5 else "")
        raise FunctionError(f"the answer {sample(answer)} is not one of the options ({shown or 'none'})")
    return names[options.index(answer)]


_ON = (1, "1", True, "true", "True")
_OFF = (0, "0", False, "false", "False", "", None)


def one_hot(row: Mapping[str, Any], names: Sequence[str]) -> list[str]:
    """The names whose column holds 1 (one 0/1 column per label: SemEval-2018 E-c, GoEmotions' raw files, Jigsaw):
    one_hot(record, ["anger", "joy"]) -> ["joy"]. 1/0 may be numbers, strings or booleans, an empty cell counts as 0;
    a column missing or holding another value is an error."""
    if not isinstance(row, Mapping):
        raise FunctionError(f"the first argument is {describe(row)}, not a record: write one_hot(record, [...])")
    out: list[str] = []
    for name in names:
        if name not in row:
            known = ", ".join(map(repr, itertools.islice(row, 8))) + (", …" if len(row) > 8 else "")
            raise FunctionError(f"no column {name!r} (columns: {known})")
        value = row[name]
        if value not in _ON and value not in _OFF:
            raise FunctionError(f"column {name!r} holds {sample(value)}, not 0 or 1")
        if value in _ON:
            out.append(str(name))
    return out


def _lookup_key(keys: Any, names: Mapping[Any, Any]) -> Any:
    if isinstance(keys, list):
        return [_lookup_key(k, names) for k in keys]
    if isinstance(keys, (dict, list, bytes, bytearray)) or keys not in names:
        known = ", ".join(map(repr, itertools.islice(names, 5))) + (", …" if len(names) > 5 else "")
        raise FunctionError(f"key {keys!r} is not in the mapping (keys: {known or 'none'})")
    return names[keys]


TAG_SCHEMES = ("auto", "iob1", "iob2", "bioes", "bilou", "bmes", "io")
# scheme -> (begin, inside, end, single) prefixes
_PREFIXES = {"iob1": ("B", "I", "", ""), "iob2": ("B", "I", "", ""), "bioes": ("B", "I", "E", "S"),
             "bilou": ("B", "I", "L", "U"), "bmes": ("B", "M", "E", "S")}


def tag_scheme(tags: Sequence[str]) -> str:
    """The tagging scheme tags use: io (no prefixes, Few-NERD), bilou (U-/L-), bmes (M-), bioes (E-/S-), iob2 (every span
    opens with B-), else iob1 (I- may open a span, B- only splits two adjacent spans of one type)."""
    prefixes = {_split_tag(t)[0] for t in tags if t != "O"}
    if prefixes == {""}:  # no tag has a prefix: the type alone (Few-NERD's person-actor)
        return "io"
    if prefixes & {"U", "L"}:
        return "bilou"
    if "M" in prefixes:
        return "bmes"
    if prefixes & {"E", "S"}:
        return "bioes"
    previous = "O"
    for tag in tags:
        prefix, label = _split_tag(tag)
        if prefix == "I" and (previous == "O" or _split_tag(previous)[1] != label):
            return "iob1"
        previous = tag
    return "iob2"


def _split_tag(tag: str) -> tuple[str, str]:
    if tag == "O":
        return "O", ""
    if len(tag) == 1 and tag in "BIESLUM":  # a prefix without a type: untyped BIO (WNUT-16's *_notypes, keyphrases)
        return tag, ""
    for sep in ("-", "_"):
        prefix, found, label = tag.partition(sep)
        if found and len(prefix) == 1:
            return prefix, label
    return "", tag


def bio_spans(tokens: Sequence[str], tags: Sequence[str], sep: str = " ", scheme: str = "auto",
              strict: bool = True, untyped: str = "") -> list[dict[str, Any]]:
    """Entities from IOB1/IOB2/BIOES/BILOU/BMES tags: [{type, span, start, end}] (token offsets,
    end exclusive). ``scheme="auto"`` detects the scheme (``tag_scheme``); a tag the scheme does
    not allow where it stands (an I- with no open span under iob2/bioes, a B- never closed under
    bioes, ...) is an error naming the token. ``strict=false`` reads such tags the way conlleval
    does instead: a continuation with no open span opens one, a span left open ends where the
    next span, an O or the sentence starts (Resume NER's train file splits names across sentences).
    Bare prefixes (``B``, ``I``: untyped BIO) make spans of the type ``untyped`` names, an error without it."""
    if len(tokens) != len(tags):
        raise FunctionError(f"{len(tokens)} tokens but {len(tags)} tags")
    if scheme not in TAG_SCHEMES:
        raise FunctionError(f"unknown tag scheme {scheme!r} (one of: {', '.join(TAG_SCHEMES)})")
    used = tag_scheme(tags) if scheme == "auto" else scheme
    if used == "io":
        return _io_spans(tokens, tags, sep)
    begin, inside, end_, single = _PREFIXES[used]
    spans: list[dict[str, Any]] = []
    start: int | None = None
    kind = ""

    def close(end: int) -> None:
        nonlocal start
        if start is not None:
            spans.append({"type": kind, "span": sep.join(tokens[start:end]), "start": start, "end": end})
        start = None

    def bad(i: int, why: str) -> FunctionError:
        return FunctionError(f"token {i} ({tokens[i]!r}) has tag {tags[i]!r}: {why} under {used}"
                             + (" (detected)" if scheme == "auto" else ""))

    for i, tag in enumerate(tags):
        prefix, label = _split_tag(tag)
        if prefix not in ("O", "") and not label:
            if not untyped:
                raise bad(i, "the tag has no type (untyped BIO: name its spans' type, e.g. untyped=\"ENTITY\")")
            label = untyped
        open_same = start is not None and label == kind
        if prefix == "O":
            if end_ and start is not None and strict:
                raise bad(i, f"the span opened at token {start} is never closed with {end_}-")
            close(i)
        elif not prefix:
            raise bad(i, "the tag has no prefix (B-, I-, ...) while others have one"
                         + ("" if scheme != "auto" else "; tags that are all bare types are scheme=\"io\""))
        elif prefix not in {p for p in (begin, inside, end_, single) if p}:
            raise bad(i, f"prefix {prefix!r} is not one of this scheme's")
        elif prefix == begin or prefix == single:
            if end_ and start is not None and strict:
                raise bad(i, f"the span opened at token {start} is never closed with {end_}-")
            close(i)
            start, kind = i, label
            if prefix == single:
                close(i + 1)
        elif prefix == inside or prefix == end_:
            if not open_same:
                if used != "iob1" and strict:
                    raise bad(i, "it continues a span that is not open")
                close(i)
                start, kind = i, label
            if prefix == end_:
                close(i + 1)
    if end_ and start is not None and strict:
        raise bad(len(tags) - 1, f"the span opened at token {start} is never closed with {end_}-")
    close(len(tags))
    return spans


def _io_spans(tokens: Sequence[str], tags: Sequence[str], sep: str) -> list[dict[str, Any]]:
    """IO tags (Few-NERD): each tag is the type itself, a run of tokens with one type is one span; a tag with a
    B-/I- prefix is an error (two adjacent entities of one type cannot be told apart, as in the release)."""
    spans: list[dict[str, Any]] = []
    start = 0
    for i, tag in enumerate(tags):
        if tag != "O" and _split_tag(tag)[0]:
            raise FunctionError(f"token {i} ({tokens[i]!r}) has tag {tag!r}: a prefixed tag under io "
                                "(IO tags are bare types: use scheme=\"auto\" for B-/I- tags)")
        if i + 1 == len(tags) or tags[i + 1] != tag:
            if tag != "O":
                spans.append({"type": tag, "span": sep.join(tokens[start:i + 1]), "start": start, "end": i + 1})
            start = i + 1
    return spans


def spert_entities(tokens: Sequence[str], entities: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """SpERT-style entities ({type, start, end} token indices) -> [{type, span}]."""
    for n, e in enumerate(entities):
        _fields(e, n, "entity", type=str, start=int, end=int)
        if not 0 <= e["start"] < e["end"] <= len(tokens):
            raise FunctionError(f"entity {n} spans tokens {e['start']}-{e['end']}, outside the {len(tokens)} tokens "
                                "(start before end, counted from 0, end exclusive)",
                                expected="token offsets into this record's tokens")
    return [{"type": e["type"], "span": " ".join(tokens[e["start"]:e["end"]])} for e in entities]


def _fields(item: Mapping[str, Any], n: int, what: str, **kinds: type) -> None:
    """``item`` (the ``n``-th ``what``) has each field, of its type (str: any text-like value)."""
    for field, kind in kinds.items():
        if field not in item:
            raise FunctionError(f"{what} {n} has no {field!r} (its fields: {', '.join(map(str, item)) or 'none'})",
                                expected=f"each {what} an object with " + ", ".join(kinds))
        value = item[field]
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise FunctionError(f"{what} {n}'s {field} is {describe(value)}, not a whole number",
                                expected=f"{field}: a whole number (a token index)")
        if kind is str:
            _span_text(value, f"{what} {n}'s {field}")


def _span_text(value: Any, what: str) -> Any:
    """A trigger or argument an event adapter writes: a string, or a number (written as text with the gold, a whole
    1.0 as 1); a list, an object, a boolean, null or NaN is an error, not Python's spelling of it as the span."""
    if kind_of(value) not in ("string", "integer", "number"):
        raise FunctionError(f"{what} is {describe(value)}, not a text",
                            expected=f"{what.rsplit(' ', 1)[-1]}: a string (a number is written as text)")
    return value


def spert_relations(tokens: Sequence[str], entities: Sequence[dict[str, Any]],
                    relations: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """SpERT-style relations ({type, head, tail} entity indices) -> [{head, relation, tail}]."""
    spans = spert_entities(tokens, entities)
    for n, r in enumerate(relations):
        _fields(r, n, "relation", type=str, head=int, tail=int)
        for end in ("head", "tail"):  # -1 is no entity (Python's index would take the last one)
            if not 0 <= r[end] < len(spans):
                raise FunctionError(f"relation {n}'s {end} names entity {r[end]}, a missing entity: there are "
                                    f"{len(spans)} entities (head and tail count from 0)",
                                    expected="head and tail: indices into this record's entities")
    return [{"head": spans[r["head"]]["span"], "relation": r["type"], "tail": spans[r["tail"]]["span"]}
            for r in relations]


def duee_events(event_list: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """DuEE events -> flat rows [{event_type, trigger, role, argument}] (one row per argument;
    an event without arguments keeps one row with empty role/argument). A row equal to an earlier one is left out:
    two events of one type and trigger that share an argument (two players cut by one club) give that row twice,
    which the flat rows cannot tell apart."""
    rows: dict[tuple[Any, ...], dict[str, str]] = {}
    for n, ev in enumerate(event_list):
        _fields(ev, n, "event", event_type=str, trigger=str)
        args = ev.get("arguments") or [{"role": "", "argument": ""}]
        if not isinstance(args, list) or not all(isinstance(a, dict) for a in args):
            raise FunctionError(f"event {n}'s arguments are {describe(args)}, not a list of {{role, argument}} objects")
        for arg in args:
            row = {"event_type": ev["event_type"], "trigger": ev["trigger"],
                   "role": arg.get("role", ""), "argument": arg.get("argument", "")}
            rows.setdefault(tuple(map(repr, row.values())), row)
    return list(rows.values())


def fewfc_events(events: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """FewFC / CCKS 2020 events ({type, mentions: [{word, span, role}]}, the trigger one of the mentions with role
    "trigger") -> rows [{event_type, trigger, role, argument}]; an event without arguments keeps one row."""
    rows: list[dict[str, str]] = []
    for n, ev in enumerate(events):
        mentions = ev.get("mentions") if isinstance(ev, dict) else None
        if not isinstance(mentions, list) or not all(isinstance(m, dict) for m in mentions):
            raise FunctionError(f"event {n} has no list of mentions ({{word, span, role}} objects)")
        triggers = [_span_text(m.get("word", ""), f"event {n}'s trigger") for m in mentions if m.get("role") == "trigger"]
        if len(triggers) != 1:
            raise FunctionError(f"event {n} ({ev.get('type')!r}) has {len(triggers)} trigger mentions, not one")
        args = [m for m in mentions if m.get("role") != "trigger"] or [{"role": "", "word": ""}]
        rows.extend({"event_type": str(ev.get("type", "")), "trigger": triggers[0], "role": str(arg.get("role", "")),
                     "argument": _span_text(arg.get("word", ""), f"event {n}'s argument")} for arg in args)
    return rows


def zip_records(**columns: Sequence[Any]) -> list[dict[str, Any]]:
    """Parallel lists -> list of records: zip_records(subject=a, predicate=b, object=c)."""
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        sizes = ", ".join(f"{k} {len(v)}" for k, v in columns.items())
        raise FunctionError(f"all columns must have the same length, not {sizes}")
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]


_BACKSLASH = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}


def unescape(value: Any, newline: str = "\n") -> Any:
    """Backslash escapes as written by C-style exports (Yelp): \\n, \\t, \\\\, \\" (``newline``
    replaces \\n, e.g. " "); a backslash before any other character is read as ``newline``. Not for AG News,
    whose lone backslash line break precedes any letter ("would like\\to think" would lose its "t")."""
    if value is None:
        return None
    text, out, i = str(value), [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "\\" or nxt in _BACKSLASH:
                out.append(newline if nxt == "n" else _BACKSLASH[nxt])
                i += 2
                continue
            out.append(newline)
            i += 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def html_unescape(value: Any) -> Any:
    """HTML character references (&amp; &quot; &#39; &#36;) to characters."""
    return None if value is None else html.unescape(str(value))


_BARE_ENTITY = re.compile(r"(?<!&)#(\d{2,5});")
_NAMED_BARE = re.compile(r"(?<![&\w])(quot|amp|lt|gt|nbsp|apos);")


def fix_entities(value: Any) -> Any:
    """AG News-style broken entities whose '&' was lost: "#36;" -> "$", "#39;" -> "'", "quot;" -> '"',
    then the complete ones (&amp;, &#39;)."""
    if value is None:
        return None
    text = _BARE_ENTITY.sub(lambda m: "&#" + m.group(1) + ";", str(value))
    text = _NAMED_BARE.sub(lambda m: "&" + m.group(1) + ";", text)
    return html.unescape(text)


def nfc(value: Any) -> Any:
    """Every text in ``value`` (a text, or the texts inside lists and objects: a record's entities) in Unicode normal
    form C (é as one code point, not e and a combining accent): one spelling for texts, spans and labels that print
    the same; other values unchanged."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, list):
        return [nfc(v) for v in value]
    if isinstance(value, dict):
        return {k: nfc(v) for k, v in value.items()}
    return value


_SENTENCE_END = tuple(".!?…。！？")
_CLOSING_QUOTES = "\"'”’»」』"


def sentences(parts: Sequence[Any]) -> str:
    """Texts joined as sentences: each stripped (empty ones and nulls left out), and each but the last given a full
    stop unless it already ends a sentence (`.`, `!`, `?`, `…`, `。`, `！`, `？`, before any closing quote); a space
    between them, none after Chinese or Japanese text (whose full stop is `。`). AG News' title and description:
    "Is Google the Next Netscape? Investors …", not "Netscape?. Investors …"."""
    texts = _phrases(parts)
    return "".join(map(_ended, texts[:-1])) + (texts[-1] if texts else "")


def _ended(text: str) -> str:
    """``text`` ending a sentence, with what follows it: a space, or nothing after Chinese or Japanese."""
    cjk = text[-1] >= "\u2e80"
    if not text.rstrip(_CLOSING_QUOTES).endswith(_SENTENCE_END):
        text += "。" if cjk else "."
    return text if cjk else text + " "


_HTML_TAG = re.compile(r"</?(?:a|abbr|b|big|br|center|div|em|font|h[1-6]|hr|i|img|li|ol|p|small|span|strong|sub|sup|"
                       r"table|td|th|tr|tt|u|ul)(?:\s[^<>]*)?/?>", re.IGNORECASE)


def strip_html(value: Any) -> Any:
    """HTML markup tags (<b>, </FONT>, <br/>, <font face="…">, <a href="…">) to a space; other text in angle brackets,
    such as the tickers of Reuters stories ("Lowe's Cos. <LOW.N>"), is kept."""
    return None if value is None else _HTML_TAG.sub(" ", str(value))


def squash_spaces(value: Any) -> Any:
    """Runs of whitespace (spaces, tabs, newlines, NBSP) to one space, ends stripped."""
    return None if value is None else " ".join(str(value).split())


# --- dataset adapters used by the catalog (stdlib/catalog/*.yaml) ---------------------------------


def pluck(items: Sequence[Any], key: str | int, default: Any = "") -> list[Any]:
    """The value under ``key`` of each mapping in a list (keys such as DuIE's "@value" that a path cannot spell),
    or with a whole-number ``key`` the item at that index of each list (DocRED's first mention of each entity);
    a plain value passes through."""
    if isinstance(key, int) and not isinstance(key, bool):
        return [(item[key] if -len(item) <= key < len(item) else default) if isinstance(item, list) else item
                for item in items]
    return [item.get(key, default) if isinstance(item, dict) else item for item in items]


def flatten(lists: Sequence[Any]) -> list[Any]:
    """One level of nesting removed: a document's sentences of tokens -> its tokens (DocRED's ``sents``)."""
    return [x for item in lists for x in (item if isinstance(item, list) else [item])]


def join_each(lists: Sequence[Any], sep: str = " ") -> list[str]:
    """Each item joined into one text (a text item is one part): CaRB's per-line arguments after the subject
    ([arg2, arg3, …] of each extraction line) -> one object per line, as CaRB's own scorer binarises them. The
    parts are stripped, their runs of spaces squashed and empty ones left out: CaRB pads its columns ("Jillian
    Hall " + "after a short absence" was "Jillian Hall  after a short absence", a double space in the gold) and
    writes a few with a double space inside (the predicate "primarily batted  at")."""
    return [join([" ".join(p.split()) for p in _phrases(item if isinstance(item, list) else [item])], sep)
            for item in lists]


def _phrases(values: Sequence[Any]) -> list[str]:
    return [text for text in (_as_text(v).strip() for v in values if v is not None) if text]


def rows_without(rows: Sequence[dict[str, Any]], column: str, value: Any) -> list[dict[str, Any]]:
    """The rows whose ``column`` is not ``value`` (NYT's "None" relation mentions, SemEval's "Other")."""
    return [row for row in rows if row.get(column) != value]


_SEMEVAL_LINE = re.compile(r'^\s*\d+\s+"(?P<text>.*)"\s*$')
_SEMEVAL_TAG = re.compile(r"</?e[12]>")
_SEMEVAL_REL = re.compile(r"^(?P<rel>[^()]+)\((?P<first>e[12]),(?P<second>e[12])\)$")


def _semeval_body(line: str) -> str:
    """The sentence of a release line (`8001<TAB>"…"`), or the sentence itself as the Hub's copy gives it."""
    m = _SEMEVAL_LINE.match(line)
    if m is not None:
        return m.group("text")
    if "<e1>" in line and "<e2>" in line:
        return line
    raise FunctionError(f"not a SemEval-2010 Task 8 sentence (id TAB \"text\" with <e1> and <e2>): {line[:60]!r}")


def semeval_text(line: str) -> str:
    """SemEval-2010 Task 8 sentence line `8001\t"... <e1>x</e1> ... <e2>y</e2> ..."` -> the plain sentence."""
    return _SEMEVAL_TAG.sub("", _semeval_body(line))


def semeval_relations(line: str, relation: str) -> list[dict[str, str]]:
    """The sentence's relation as [{head, relation, tail}]: `Cause-Effect(e2,e1)` has head e2; `Other` is no relation."""
    relation = relation.strip()
    if relation == "Other":
        return []
    m = _SEMEVAL_REL.match(relation)
    if m is None:
        raise FunctionError(f"not a SemEval-2010 Task 8 relation label: {relation!r}")
    body = _semeval_body(line)
    args = {}
    for name in ("e1", "e2"):
        found = re.search(f"<{name}>(.*?)</{name}>", body)
        if found is None:
            raise FunctionError(f"the sentence has no <{name}> mention")
        args[name] = _SEMEVAL_TAG.sub("", found.group(1))
    return [{"head": args[m.group("first")], "relation": m.group("rel"), "tail": args[m.group("second")]}]


def oneie_events(tokens: Sequence[str], events: Sequence[dict[str, Any]], sep: str = " ",
                 entities: Sequence[Any] | None = None) -> list[dict[str, str]]:
    """OneIE-style `event_mentions` ({event_type, trigger: {start, end, text}, arguments: [{role, text}]}) ->
    rows [{event_type, trigger, role, argument}]; the trigger is cut from the tokens by its offsets. With
    ``entities`` (the record's `entity_mentions`, {id, start, end}), each argument is cut from the tokens by the
    mention its `entity_id` names (WikiEvents: the argument's own `text` is written apart from the tokens)."""
    mentions = _mention_spans(tokens, entities, sep)
    rows: list[dict[str, str]] = []
    for n, ev in enumerate(events):
        trig = ev.get("trigger") or {}
        if not isinstance(trig, Mapping):
            raise FunctionError(f"event {n}'s trigger is {describe(trig)}, not an object {{start, end, text}}")
        if "start" in trig and "end" in trig:
            first, end = _offset(trig["start"], f"event {n}'s trigger"), _offset(trig["end"], f"event {n}'s trigger")
            if not 0 <= first < end <= len(tokens):
                raise FunctionError(f"event {n}'s trigger spans tokens {first}-{end}, outside the {len(tokens)} tokens",
                                    expected="token offsets into this record's tokens")
            trigger = sep.join(tokens[first:end])
        else:
            trigger = _span_text(trig.get("text", ""), f"event {n}'s trigger")
        args = ev.get("arguments") or [{"role": "", "text": ""}]
        if not isinstance(args, list) or not all(isinstance(a, dict) for a in args):
            raise FunctionError(f"event {n}'s arguments are {describe(args)}, not a list of {{role, text}} objects")
        for arg in args:
            rows.append({"event_type": str(ev.get("event_type", "")), "trigger": trigger,
                         "role": str(arg.get("role", "")), "argument": _argument_text(arg, mentions, n)})
    return rows


def _mention_spans(tokens: Sequence[str], entities: Sequence[Any] | None, sep: str) -> dict[str, str] | None:
    """Each entity mention's id -> its tokens (end exclusive); None without ``entities``."""
    if entities is None:
        return None
    spans = {}
    for n, mention in enumerate(entities):
        if not isinstance(mention, Mapping) or not {"id", "start", "end"} <= mention.keys():
            raise FunctionError(f"entity mention {n} is {describe(mention)}", expected="an object {id, start, end, ...}")
        first, end = (_offset(mention[k], f"entity mention {n}") for k in ("start", "end"))
        if not 0 <= first < end <= len(tokens):
            raise FunctionError(f"entity mention {mention['id']!s} spans tokens {first}-{end}, outside the "
                                f"{len(tokens)} tokens", expected="token offsets into this record's tokens, the end exclusive")
        spans[str(mention["id"])] = sep.join(tokens[first:end])
    return spans


def _argument_text(arg: Mapping[str, Any], mentions: dict[str, str] | None, n: int) -> Any:
    """An argument's text: its own (a string or a number: ``_span_text``), or the tokens of the entity mention it
    names."""
    if mentions is None or "entity_id" not in arg:
        return _span_text(arg.get("text", ""), f"event {n}'s argument")
    key = str(arg.get("entity_id"))
    if key not in mentions:
        raise FunctionError(f"event {n}'s argument names the entity {key!r}, which entity_mentions does not hold",
                            expected="an entity_id of one of the record's entity_mentions")
    return mentions[key]


def _dygie_tokens(sentences: Sequence[Any], sentence: Any) -> tuple[Sequence[Any], int]:
    """The tokens DyGIE offsets point into and the document offset of the first: the whole document (``sentence``
    null), or its sentence number ``sentence`` (the offsets count from the document's first token)."""
    if not all(kind_of(s) == "list" for s in sentences):
        raise FunctionError(f"sentences is {describe(sentences)}, not a list of sentences",
                            expected="the document's sentences, each a list of tokens")
    words = next((t for s in sentences for t in s if kind_of(t) != "string"), "")
    if kind_of(words) != "string":
        raise FunctionError(f"a sentence holds {describe(words)}, not a token", expected="sentences of token strings")
    if sentence is None:
        return [t for s in sentences for t in s], 0
    if isinstance(sentence, bool) or not isinstance(sentence, int) or not 0 <= sentence < len(sentences):
        raise FunctionError(f"sentence {sample(sentence)} is not one of the document's {len(sentences)} sentences",
                            expected="a sentence number counted from 0 (the record's `index` after `explode:`)")
    return sentences[sentence], sum(len(s) for s in sentences[:sentence])


def _unnested(items: Sequence[Any], is_item: Callable[[Any], bool], sentence: Any) -> list[Any]:
    """One sentence's items as they are; a document's (one list of items per sentence) as one list, or with
    ``sentence`` that sentence's list."""
    if items and all(kind_of(group) == "list" and all(map(is_item, group)) for group in items):
        if isinstance(sentence, int) and 0 <= sentence < len(items):
            return list(items[sentence])
        return [item for group in items for item in group]
    return list(items)


def _is_list(value: Any) -> bool:
    return kind_of(value) == "list"


def _is_event(value: Any) -> bool:
    return kind_of(value) == "list" and bool(value) and kind_of(value[0]) == "list"


def _dygie_items(items: Sequence[Any], width: int, what: str, sentence: Any = None) -> list[list[Any]]:
    """DyGIE's lists per sentence (or one sentence's), each item a list of ``width`` values."""
    flat = _unnested(items, _is_list, sentence)
    for n, item in enumerate(flat):
        if kind_of(item) != "list" or len(item) < width:
            raise FunctionError(f"{what} {n} is {describe(item)}", expected=f"each {what} a list of {width} values")
    return flat


_IN_THE_TEXT_READ = ("inclusive token offsets counted from the document's first token, inside the text read "
                     "(`sentence=` names the sentence)")


def _dygie_span(tokens: Sequence[Any], base: int, first: Any, last: Any, what: str, sep: str,
                inside: str = _IN_THE_TEXT_READ) -> str:
    """The tokens from document offset ``first`` to ``last`` (inclusive), which must fall in ``tokens``."""
    for value in (first, last):
        if isinstance(value, bool) or not isinstance(value, int):
            raise FunctionError(f"{what} has the offset {sample(value)}, not a whole number",
                                expected="token offsets counted from the document's first token")
    if not base <= first <= last < base + len(tokens):
        raise FunctionError(f"{what} spans tokens {first}-{last}, outside tokens {base}-{base + len(tokens) - 1}",
                            expected=inside)
    return sep.join(map(str, tokens[first - base:last - base + 1]))


def _dygie_label(value: Any, what: str) -> str:
    """A type or role as written: a text (or a number)."""
    if kind_of(value) not in ("string", "integer"):
        raise FunctionError(f"{what} is {describe(value)}, not a name", expected="a type or role name (a string)")
    return str(value)


def dygie_entities(sentences: Sequence[Any], ner: Sequence[Any], sentence: Any = None,
                   sep: str = " ") -> list[dict[str, Any]]:
    """DyGIE / SciERC `ner` ([start, end, type], inclusive token offsets into the whole document, one list per
    sentence) -> [{type, span, start, end}], the offsets into the tokens read (end exclusive): the document's, or
    with ``sentence`` those of that sentence."""
    tokens, base = _dygie_tokens(sentences, sentence)
    return [{"type": _dygie_label(e[2], f"entity {n}'s type"),
             "span": _dygie_span(tokens, base, e[0], e[1], f"entity {n}", sep), "start": e[0] - base,
             "end": e[1] - base + 1}
            for n, e in enumerate(_dygie_items(ner, 3, "entity", sentence))]


def dygie_relations(sentences: Sequence[Any], relations: Sequence[Any], sentence: Any = None,
                    sep: str = " ") -> list[dict[str, str]]:
    """DyGIE / SciERC `relations` ([head start, head end, tail start, tail end, relation], inclusive document token
    offsets) -> [{head, relation, tail}]."""
    tokens, base = _dygie_tokens(sentences, sentence)
    return [{"head": _dygie_span(tokens, base, r[0], r[1], f"relation {n}'s head", sep),
             "relation": _dygie_label(r[4], f"relation {n}'s type"),
             "tail": _dygie_span(tokens, base, r[2], r[3], f"relation {n}'s tail", sep)}
            for n, r in enumerate(_dygie_items(relations, 5, "relation", sentence))]


def dygie_events(sentences: Sequence[Any], events: Sequence[Any], sentence: Any = None,
                 sep: str = " ") -> list[dict[str, str]]:
    """DyGIE++ `events` (each [[trigger offset, event type], [start, end, role], ...], document token offsets) ->
    rows [{event_type, trigger, role, argument}], one per argument; an event without arguments keeps one row."""
    tokens, base = _dygie_tokens(sentences, sentence)
    rows: list[dict[str, str]] = []
    for n, event in enumerate(_unnested(events, _is_event, sentence)):
        if not _is_event(event):
            raise FunctionError(f"event {n} is {describe(event)}",
                                expected="each event a list: [trigger offset, event type], then [start, end, role]s")
        kind = _dygie_items(event[:1], 2, f"event {n}'s trigger")[0]
        head = {"event_type": _dygie_label(kind[1], f"event {n}'s type"),
                "trigger": _dygie_span(tokens, base, kind[0], kind[0], f"event {n}'s trigger", sep)}
        args = [{"role": _dygie_label(a[2], f"event {n}'s role {k}"),
                 "argument": _dygie_span(tokens, base, a[0], a[1], f"event {n}'s argument {k}", sep)}
                for k, a in enumerate(_dygie_items(event[1:], 3, f"event {n}'s argument"))]
        rows.extend(head | arg for arg in args or [{"role": "", "argument": ""}])
    return rows


_RAMS_ROLE = re.compile(r"evt\d+arg\d+(.+)")  # RAMS names a role by event and argument: evt090arg02victim
_RAMS_OFFSETS = "inclusive token offsets counted from the first token of the document's first sentence"


def rams_events(sentences: Sequence[Any], triggers: Sequence[Any], links: Sequence[Any],
                sep: str = " ") -> list[dict[str, str]]:
    """RAMS 1.0 (`evt_triggers` [[start, end, [[event type, score]]]], `gold_evt_links` [[[trigger start, end],
    [argument start, end], "evt090arg02victim"]], inclusive token offsets over the document's sentences) -> rows
    [{event_type, trigger, role, argument}], one per link in file order under its trigger; the role is the name after
    `evtNNNargNN`; a trigger without links keeps one row."""
    tokens, _ = _dygie_tokens(sentences, None)
    kinds: dict[tuple[Any, Any], str] = {}
    words: dict[tuple[Any, Any], str] = {}
    for n, trigger in enumerate(_dygie_items(triggers, 3, "trigger")):
        types = trigger[2]
        if kind_of(types) != "list" or not types or kind_of(types[0]) != "list" or not types[0]:
            raise FunctionError(f"trigger {n}'s types are {describe(types)}",
                                expected='[[event type, score]], e.g. [["life.die.deathcausedbyviolentevents", 1.0]]')
        kinds[(trigger[0], trigger[1])] = _dygie_label(types[0][0], f"trigger {n}'s event type")
        words[(trigger[0], trigger[1])] = _dygie_span(tokens, 0, trigger[0], trigger[1], f"trigger {n}", sep,
                                                      _RAMS_OFFSETS)
    rows: dict[tuple[Any, Any], list[dict[str, str]]] = {key: [] for key in kinds}
    for n, link in enumerate(_dygie_items(links, 3, "link")):
        key = tuple(link[0]) if kind_of(link[0]) == "list" and len(link[0]) == 2 else None
        if key not in kinds:
            raise FunctionError(f"link {n} points at the trigger {_shown(link[0])}, which evt_triggers does not hold",
                                expected=f"a trigger span of evt_triggers: {', '.join(map(str, map(list, kinds)))}")
        arg = link[1]
        if kind_of(arg) != "list" or len(arg) != 2:
            raise FunctionError(f"link {n}'s argument is {describe(arg)}", expected="its span [start, end], e.g. [12, 13]")
        role = _dygie_label(link[2], f"link {n}'s role")
        named = _RAMS_ROLE.fullmatch(role)
        rows[key].append({"event_type": kinds[key], "trigger": words[key], "role": named.group(1) if named else role,
                          "argument": _dygie_span(tokens, 0, arg[0], arg[1], f"link {n}'s argument", sep,
                                                  _RAMS_OFFSETS)})
    return [row for key in kinds
            for row in rows[key] or [{"event_type": kinds[key], "trigger": words[key], "role": "", "argument": ""}]]


def _shown(span: Any) -> str:
    """A [start, end] pair as written; anything else described."""
    return str(list(span)) if kind_of(span) == "list" and len(span) == 2 and all(kind_of(v) == "integer" for v in span) \
        else sample(span)


_NQ_MARKUP = re.compile(r"</?[A-Za-z][A-Za-z0-9]*>")  # the page's markup as simplified NQ keeps it: <P>, </Td>, <H2>


def nq_answer(document: Any, annotations: Sequence[Any]) -> dict[str, Any]:
    """Natural Questions' annotations over its page -> {context, answers, yes_no}. ``document`` is the simplified
    files' `document_text` (tokens joined by spaces, markup tokens such as <P> among them) or the full files'
    `document_tokens` ([{token, html_token}]); offsets are token indices, the end exclusive. The annotation chosen is
    the first with a short or yes/no answer, else the first with a long one: `context` is its long answer's paragraph
    without markup tokens (null when no annotator chose one), `answers` the distinct short answers of every annotation
    on that same paragraph (the full dev files have five annotators), `yes_no` its yes_no_answer (NONE, YES, NO)."""
    tokens = _nq_tokens(document)
    items = [_nq_annotation(tokens, n, a) for n, a in enumerate(annotations or [])]
    chosen = next((a for a in items if a[1] and (a[2] or a[3] != "NONE")), None) or next((a for a in items if a[1]), None)
    if chosen is None:
        return {"context": None, "answers": [], "yes_no": "NONE"}
    answers = [text for a in items if a[0] == chosen[0] for text in a[2]]
    return {"context": chosen[1], "answers": list(dict.fromkeys(answers)), "yes_no": chosen[3]}


def _nq_tokens(document: Any) -> list[tuple[str, bool]]:
    """The page's tokens, each with whether it is markup."""
    if isinstance(document, str):
        return [(t, bool(_NQ_MARKUP.fullmatch(t))) for t in document.split(" ")]
    if kind_of(document) == "list" and all(isinstance(t, Mapping) and "token" in t for t in document):
        return [(str(t["token"]), bool(t.get("html_token"))) for t in document]
    raise FunctionError(f"the document is {describe(document)}",
                        expected="the simplified files' document_text, or the full files' document_tokens "
                                 "([{token, html_token, start_byte, end_byte}])")


def _nq_annotation(tokens: list[tuple[str, bool]], n: int, annotation: Any) -> tuple[Any, str | None, list[str], str]:
    """One annotation: its long answer's span and text (None: no long answer), its short answers' texts, yes/no."""
    if not isinstance(annotation, Mapping) or "long_answer" not in annotation:
        raise FunctionError(f"annotation {n} is {describe(annotation)}",
                            expected="{long_answer: {start_token, end_token, ...}, short_answers: [...], yes_no_answer}")
    long = _nq_span(tokens, annotation["long_answer"], f"annotation {n}'s long answer")
    shorts = [_nq_span(tokens, s, f"annotation {n}'s short answer {k}")
              for k, s in enumerate(annotation.get("short_answers") or [])]
    return (long and long[0], long and long[1], [text for _, text in filter(None, shorts)],
            str(annotation.get("yes_no_answer") or "NONE"))


def _nq_span(tokens: list[tuple[str, bool]], span: Any, what: str) -> tuple[tuple[int, int], str] | None:
    """A {start_token, end_token} span's offsets and words (markup left out); None for NQ's -1 (no answer)."""
    if not isinstance(span, Mapping) or "start_token" not in span or "end_token" not in span:
        raise FunctionError(f"{what} is {describe(span)}", expected="an object {start_token, end_token, ...}")
    first, end = _offset(span["start_token"], what), _offset(span["end_token"], what)
    if first < 0:
        return None
    if not first < end <= len(tokens):
        raise FunctionError(f"{what} spans tokens {first}-{end}, outside the page's {len(tokens)} tokens",
                            expected="token offsets into this record's document, the end exclusive")
    return (first, end), " ".join(t for t, markup in tokens[first:end] if not markup)


_WIKIHOW_MARK = re.compile(r"\[[^\]]*\]")  # HellaSwag's WikiHow contexts and endings: [header], [step], [substeps]


def hellaswag_text(value: Any) -> Any:
    """HellaSwag's WikiHow markers taken out of a text or of each text in a list, as the evaluation harnesses do:
    " [title]" becomes ". ", any other [marker] is removed, double spaces become one, the ends are stripped."""
    if isinstance(value, list):
        return [hellaswag_text(v) for v in value]
    if value is None:
        return None
    text = _WIKIHOW_MARK.sub("", str(value).strip().replace(" [title]", ". "))
    return re.sub(r"  +", " ", text).strip()


def casie_events(cyberevent: Any) -> list[dict[str, str]] | None:
    """CASIE's `cyberevent` ({hopper: [{events: [{type, subtype, realis, nugget: {startOffset, endOffset, text},
    argument: [{role: {type}, text, startOffset, endOffset}]}]}]}, a hopper a cluster of coreferent events) -> rows
    [{event_type (the subtype: Databreach, Phishing, Ransom, DiscoverVulnerability, PatchVulnerability), trigger,
    role, argument}] in the order of the triggers' offsets; an event without `argument` keeps one row. Null (an
    article the annotators left without `cyberevent`) stays null: no annotation is not "no event"."""
    if cyberevent is None:
        return None
    hoppers = cyberevent.get("hopper") if isinstance(cyberevent, Mapping) else None
    if not isinstance(hoppers, list) or not all(isinstance(h, Mapping) for h in hoppers):
        raise FunctionError(f"cyberevent is {describe(cyberevent)}", expected="an object {hopper: [{events: [...]}]}")
    found = []
    for h, hopper in enumerate(hoppers):
        for n, event in enumerate(hopper.get("events") or []):
            nugget = event.get("nugget") if isinstance(event, Mapping) else None
            if not isinstance(nugget, Mapping) or "text" not in nugget:
                raise FunctionError(f"hopper {h}'s event {n} has no nugget {{startOffset, endOffset, text}}",
                                    expected="each event {type, subtype, nugget, argument}")
            rows = [{"role": _casie_role(arg, f"hopper {h}'s event {n}'s argument {k}"),
                     "argument": _span_text(arg.get("text", ""), f"hopper {h}'s event {n}'s argument")}
                    for k, arg in enumerate(_casie_arguments(event.get("argument"), f"hopper {h}'s event {n}"))]
            head = {"event_type": str(event.get("subtype") or event.get("type") or ""),
                    "trigger": _span_text(nugget["text"], f"hopper {h}'s event {n}'s trigger")}
            found.append((_int(nugget.get("startOffset", 0)), [head | row for row in rows or [{"role": "", "argument": ""}]]))
    return [row for _, rows in sorted(found, key=lambda f: f[0]) for row in rows]


def _casie_arguments(args: Any, what: str) -> list[Mapping[str, Any]]:
    """An event's `argument` list (none: empty); anything else than a list of objects is an error."""
    if args is None:
        return []
    if not isinstance(args, list) or not all(isinstance(a, Mapping) for a in args):
        raise FunctionError(f"{what}'s argument is {describe(args)}",
                            expected="a list of {role: {type}, text, startOffset, endOffset} objects")
    return args


def _casie_role(arg: Mapping[str, Any], what: str) -> str:
    """An argument's role name, written {type: name}; an argument without a role or a text is an error (it would be
    the empty row of an event without arguments)."""
    role = arg.get("role")
    if not isinstance(role, Mapping) or role.get("type") in (None, "") or arg.get("text") in (None, ""):
        found = f"its role is {describe(role)}" if not isinstance(role, Mapping) else f"it is {describe(dict(arg))}"
        raise FunctionError(f"{what} has no role or no text: {found}",
                            expected='{role: {type: role name}, text, ...}, e.g. {"role": {"type": "Victim"}, "text": "…"}')
    return str(role["type"])


_WEIBO_CHAR = re.compile(r"(\ufffd+|.)(\d+)", re.S)


def weibo_chars(chars: Sequence[str]) -> list[str]:
    """Weibo NER as golden-horse publishes it writes each character with its position in its word (`科0`, `学1`,
    `82` is the digit 8 at position 2; a broken emoji is `\ufffd\ufffd0`) -> the characters; a plain character
    (other copies of the corpus) passes through."""
    out = []
    for c in chars:
        m = _WEIBO_CHAR.fullmatch(str(c))
        out.append(m.group(1) if m else str(c))
    return out


def maven_events(events: Sequence[Mapping[str, Any]] | None) -> list[dict[str, str]] | None:
    """MAVEN's events (a type and its mentions: trigger_word, sent_id, offset) -> EE rows, one per mention in document
    order (sentence, then token), with an empty role and argument: MAVEN annotates triggers only. Null (the test
    split's documents carry no `events`) stays null: no annotation is not "no event"."""
    if events is None:
        return None
    mentions = [(m.get("sent_id", 0), (m.get("offset") or [0])[0], str(e.get("type", "")),
                 _span_text(m.get("trigger_word", ""), f"event {n}'s trigger"))
                for n, e in enumerate(events) for m in e.get("mention") or []]
    return [{"event_type": kind, "trigger": word, "role": "", "argument": ""}
            for _, _, kind, word in sorted(mentions, key=lambda m: (m[0], m[1]))]


def dureader_passages(documents: Sequence[Mapping[str, Any]] | None) -> list[str]:
    """DuReader 2.0's documents -> the passage of each one the annotators selected (`is_selected`): its paragraph
    `most_related_para`; a document without those keys (the test sets, which hold no answers) gives all its
    paragraphs, one per line. A `most_related_para` outside the document's paragraphs is an error naming both."""
    out: list[str] = []
    for n, doc in enumerate(documents or []):
        if not doc.get("is_selected", True):
            continue
        paragraphs = doc.get("paragraphs")
        if not isinstance(paragraphs, list) or not all(isinstance(p, str) for p in paragraphs):
            raise FunctionError(f"document {n}'s paragraphs are {describe(paragraphs)}, not a list of texts")
        index = doc.get("most_related_para")
        if index is None:
            out.append("\n".join(paragraphs))
            continue
        i = _index(index)
        if not 0 <= i < len(paragraphs):
            raise FunctionError(f"document {n}'s most_related_para {index!r} is out of range for its "
                                f"{len(paragraphs)} paragraph(s)", expected="the index of one of the document's paragraphs")
        out.append(paragraphs[i])
    return out


_TREE_TOKEN = re.compile(r"[()]|[^\s()]+")


def ptb_leaves(tree: str) -> list[str]:
    """The words of a bracketed (Penn Treebank style) tree, in order: the Stanford Sentiment Treebank's
    `(3 (2 It) (4 (2 's) ...))` lines -> It, 's, …; a label is the token right after an opening bracket."""
    tokens = _TREE_TOKEN.findall(str(tree))
    return [t for i, t in enumerate(tokens) if t not in "()" and (i == 0 or tokens[i - 1] != "(")]


def conllu_attr(values: Any, key: str, default: Any = None) -> Any:
    """The value under ``key`` of a CoNLL-U FEATS or MISC field (`Key=Value|Key=Value`, `_` for none), or of each
    field of a list: NorNE's entity tags, `conllu_attr(misc, "name", "O")` on `SpaceAfter=No|name=B-PER`; a field
    without the key gives ``default``."""
    if isinstance(values, list):
        return [conllu_attr(v, key, default) for v in values]
    for pair in str(values or "").split("|"):
        name, eq, value = pair.partition("=")
        if eq and name == key:
            return value
    return default


def wikiann_tokens(tokens: Sequence[str]) -> list[str]:
    """WikiANN as Rahimi et al. publish it (panx_dataset/<lang>.tar.gz: train, dev, test) prefixes each token with
    its language (`en:Paris`, `en:10:30`) -> the tokens, cut after the first colon as the Hub's loader did; a token
    without one passes through."""
    return [str(t).split(":", 1)[1] if ":" in str(t) else str(t) for t in tokens]


def cluener_entities(label: Any) -> list[dict[str, Any]]:
    """CLUENER 2020's nested `label` {type: {entity text: [[start, end], ...]}} (end inclusive) -> one row per
    occurrence [{type, span, start, end}] (end exclusive), in text order; a record without `label` (test.json) has
    none."""
    if label is None:
        return []
    if not isinstance(label, dict):
        raise FunctionError(f"a CLUENER label is an object {{type: {{text: [[start, end]]}}}}, not {describe(label)}")
    rows = []
    for kind, spans in label.items():
        if not isinstance(spans, dict):
            raise FunctionError(f"label {kind!r} holds {describe(spans)}, not an object {{text: [[start, end]]}}")
        for text, places in spans.items():
            for place in places or []:
                if not (isinstance(place, list) and len(place) == 2 and all(isinstance(i, int) for i in place)):
                    raise FunctionError(f"{kind} {text!r}: {place!r} is not a [start, end] pair")
                rows.append({"type": str(kind), "span": str(text), "start": place[0], "end": place[1] + 1})
    return sorted(rows, key=lambda r: (r["start"], r["end"]))


_INLINE_SLOT = re.compile(r"\[([^\[\]]*?) : ([^\[\]]*)\]")


def inline_slots(annotation: str | None) -> dict[str, Any] | None:
    """An utterance whose slots are written inline as `[type : value]` (Amazon MASSIVE's `annot_utt`, HWU64's
    `answer_annotation`: "wake me up at [time : five am]") -> {text: the utterance without the brackets, entities:
    [{type, span, start, end}] (character offsets into that text, end exclusive)}; null stays null. A bracket that is
    not `[type : value]` is an error naming it."""
    if annotation is None:
        return None
    parts: list[str] = []
    entities: list[dict[str, Any]] = []
    done = 0
    for found in _INLINE_SLOT.finditer(annotation):
        parts.append(annotation[done:found.start()])
        start = sum(map(len, parts))
        entities.append({"type": found.group(1).strip(), "span": found.group(2).strip(), "start": start,
                         "end": start + len(found.group(2).strip())})
        parts.append(found.group(2).strip())
        done = found.end()
    parts.append(annotation[done:])
    outside = "".join(parts[0::2])  # the text between the slots
    stray = next((c for c in "[]" if c in outside), None)
    if stray is not None:
        raise FunctionError(f"{annotation!r} has a {stray!r} outside a `[type : value]` slot",
                            expected="slots written as [type : value], a space on each side of the colon")
    return {"text": "".join(parts), "entities": entities}


OFFSET_UNITS = {"chars": "characters", "utf16": "UTF-16 code units", "bytes": "UTF-8 bytes"}  # units= -> what they count


def char_spans(text: Any, items: Any, start: str | int = "start", end: str | int = "end", label: str | int = "label",
               units: str = "chars", check: str | None = None, inclusive: bool = False) -> list[dict[str, Any]]:
    """Entities given by character offsets into ``text``, as annotation tools export them -> [{type, span, start, end}]
    (end exclusive, Python characters), in text order. An item is a mapping (Prodigy's {start, end, label}; name other
    keys: doccano's ``start="start_offset", end="end_offset"``) or a list ([start, end, label]: doccano's classic JSONL,
    spaCy's training tuples; positions 0, 1, 2 unless given as numbers). A label that is a list (Label Studio's
    `labels`) gives one row per label. ``units``: what the offsets count, "chars" (Python, Java code points),
    "utf16" (JavaScript tools: Label Studio, brat's web UI; an emoji is two) or "bytes" (UTF-8: spaCy's Span.start_char
    is not, but Rust and Go tools are). ``check``: the item's own copy of the span (Label Studio's `text`): offsets
    that select something else (counted on another version of the text: CRLF, HTML, a BOM) are an error.
    ``inclusive``: the end offset is the span's last character (CBLUE's CMeEE `end_idx`), not the one after it."""
    if not isinstance(text, str):
        raise FunctionError(f"char_spans needs the text as a string, got {describe(text)}")
    if units not in OFFSET_UNITS:
        raise FunctionError(f"unknown offset units {units!r} (one of: {', '.join(OFFSET_UNITS)})")
    if items is None:
        return []
    if not isinstance(items, (list, tuple)):
        raise FunctionError(f"char_spans needs a list of annotated spans, got {describe(items)}")
    to_char = None if units == "chars" else _offset_map(text, units)
    rows: list[dict[str, Any]] = []
    for k, item in enumerate(items):
        first, last = (_char_offset(_item_value(item, key, pos, k), text, to_char, units, k, what, shift)
                       for key, pos, what, shift in ((start, 0, "start", 0), (end, 1, "end", int(inclusive))))
        if first >= last:
            raise FunctionError(f"span {k}: start {first} is not before end {last}")
        span = text[first:last]
        if check is not None and (own := _item_value(item, check, 3, k)) != span:
            raise FunctionError(f"span {k}: offsets {first}-{last} select {span!r}, but the span says {own!r}: "
                                + _misread_why(text, first, last, own, inclusive))
        kinds = _item_value(item, label, 2, k)
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if not kinds or any(kind in (None, "") for kind in kinds):
            raise FunctionError(f"span {k} ({span!r}) has no label: {kinds!r}")
        rows.extend({"type": str(kind), "span": span, "start": first, "end": last} for kind in kinds)
    return sorted(rows, key=lambda r: (r["start"], r["end"]))


def _misread_why(text: str, first: int, last: int, own: Any, inclusive: bool) -> str:
    """Why offsets select another text than the span's own copy: an end read one character off, else another text."""
    if text[first:last - 1 if inclusive else last + 1] == own:
        return ("the end offset is the character after the span, not its last one: leave out `inclusive=true`"
                if inclusive else "the end offset is the span's last character: give `inclusive=true`")
    return ("the offsets were counted on another version of the text (line ends, markup, a BOM), or in other units "
            "(`units=`)")


def _item_value(item: Any, key: str | int, position: int, k: int) -> Any:
    """``item[key]`` of a mapping; of a list, ``item[key]`` for a number key, else the item at ``position``."""
    if isinstance(item, Mapping):
        if key not in item:
            raise FunctionError(f"span {k} has no {key!r} (its keys: {', '.join(map(str, item))})")
        return item[key]
    if isinstance(item, (list, tuple)):
        at = key if isinstance(key, int) else position
        if not -len(item) <= at < len(item):
            raise FunctionError(f"span {k} ({item!r}) has no item {at}")
        return item[at]
    raise FunctionError(f"span {k} ({item!r}) is neither {{start, end, label}} nor [start, end, label]")


def _char_offset(value: Any, text: str, to_char: dict[int, int] | None, units: str, k: int, what: str,
                 shift: int = 0) -> int:
    """The character index at ``value`` (one past it for an inclusive end: ``shift`` 1)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise FunctionError(f"span {k}: its {what} {value!r} is not a whole number")
    if shift:  # an inclusive end: the index of the character after the span's last one
        at = value if to_char is None else to_char.get(value, -1)
        if not 0 <= at < len(text):
            where = "outside the text" if to_char is None or not 0 <= value < max(to_char) else "inside a character"
            raise FunctionError(f"span {k}: its last character {value} is {where} ({len(text)} characters)",
                                expected="an inclusive end: the offset of the span's last character")
        return at + 1
    if to_char is None:
        if not 0 <= value <= len(text):
            raise FunctionError(f"span {k}: its {what} {value} is outside the text ({len(text)} characters)")
        return value
    if value not in to_char:
        size = max(to_char)
        where = f"outside the text ({size} {OFFSET_UNITS[units]})" if not 0 <= value <= size else \
            f"inside a character (in {OFFSET_UNITS[units]}: the middle of {'a surrogate pair' if units == 'utf16' else 'its bytes'})"
        raise FunctionError(f"span {k}: its {what} {value} is {where}")
    return to_char[value]


def _offset_map(text: str, units: str) -> dict[int, int]:
    """The character index at each offset in ``units`` that starts a character (and the text's end)."""
    out, at = {}, 0
    for i, c in enumerate(text):
        out[at] = i
        at += len(c.encode("utf-16-le")) // 2 if units == "utf16" else len(c.encode("utf-8", "surrogatepass"))
    out[at] = len(text)
    return out


def bracket_spans(tokens: Sequence[str], tags: Sequence[str], sep: str = " ") -> list[dict[str, Any]]:
    """CoNLL-2012 (OntoNotes) bracketed name column: `(PERSON)`, `(ORG*` … `*)`, `*` -> [{type, span, start, end}]."""
    if len(tokens) != len(tags):
        raise FunctionError(f"{len(tokens)} tokens but {len(tags)} tags")
    spans: list[dict[str, Any]] = []
    start: int | None = None
    kind = ""
    for i, tag in enumerate(tags):
        tag = tag.strip()
        if tag.startswith("("):
            if start is not None:
                raise FunctionError(f"token {i} ({tokens[i]!r}) opens {tag!r} inside the span opened at token {start}")
            start, kind = i, tag[1:].rstrip("*)")
        elif tag not in ("*", "*)", "-"):
            raise FunctionError(f"token {i} ({tokens[i]!r}) has tag {tag!r}: not a bracketed name tag")
        if tag.endswith(")"):
            if start is None:
                raise FunctionError(f"token {i} ({tokens[i]!r}) closes a span that is not open")
            spans.append({"type": kind, "span": sep.join(tokens[start:i + 1]), "start": start, "end": i + 1})
            start = None
    if start is not None:
        raise FunctionError(f"the span opened at token {start} is never closed")
    return spans


def _int(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise FunctionError(f"{describe(value)} is not a whole number",
                            expected="a whole number, or a text that writes one (\"42\")") from None
    if not -MAX_INT <= number <= MAX_INT:
        raise FunctionError(f"{describe(value)} is past the 64-bit integer range",
                            expected=f"a whole number between -{MAX_INT} and {MAX_INT}")
    return number


def _offset(value: Any, what: str) -> int:
    """A token offset: a whole number (12, 12.0, "12"); a fraction is an error, not cut to the number below it."""
    if isinstance(value, float) and not value.is_integer():
        raise FunctionError(f"{what} has the offset {describe(value)}, not a whole number",
                            expected="token offsets (whole numbers)")
    return _int(value)


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise FunctionError(f"{describe(value)} is not a number",
                            expected="a number, or a text that writes one (\"4.5\")") from None


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": _len,
    "lower": _str_fn(str.lower),
    "upper": _str_fn(str.upper),
    "strip": _str_fn(str.strip),
    "str": lambda v: "" if v is None else str(v),
    "int": _int,
    "float": _float,
    "bool": lambda value: bool(value),
    "join": join,
    "split": split,
    "first": first,
    "last": last,
    "unique": unique,
    "sorted": _sorted,
    "contains": _contains,
    "startswith": lambda s, p: s is not None and str(s).startswith(p),
    "endswith": lambda s, p: s is not None and str(s).endswith(p),
    "replace": _replace,
    "words": lambda s: 0 if s is None else len(str(s).split()),
    "get": lambda m, k, default=None: m.get(k, default) if isinstance(m, dict) else default,
    "default": lambda v, d: d if v in (None, "", []) else v,
    "lookup": lookup,
    "choice_label": choice_label,
    "one_hot": one_hot,
    "bio_spans": bio_spans,
    "tag_scheme": tag_scheme,
    "unescape": unescape,
    "html_unescape": html_unescape,
    "fix_entities": fix_entities,
    "strip_html": strip_html,
    "squash_spaces": squash_spaces,
    "normalize_space": squash_spaces,
    "sentences": sentences,
    "nfc": nfc,
    "spert_entities": spert_entities,
    "spert_relations": spert_relations,
    "duee_events": duee_events,
    "fewfc_events": fewfc_events,
    "zip_records": zip_records,
    "pluck": pluck,
    "flatten": flatten,
    "join_each": join_each,
    "rows_without": rows_without,
    "semeval_text": semeval_text,
    "semeval_relations": semeval_relations,
    "oneie_events": oneie_events,
    "dygie_entities": dygie_entities,
    "dygie_relations": dygie_relations,
    "dygie_events": dygie_events,
    "rams_events": rams_events,
    "nq_answer": nq_answer,
    "hellaswag_text": hellaswag_text,
    "casie_events": casie_events,
    "bracket_spans": bracket_spans,
    "weibo_chars": weibo_chars,
    "wikiann_tokens": wikiann_tokens,
    "conllu_attr": conllu_attr,
    "ptb_leaves": ptb_leaves,
    "maven_events": maven_events,
    "dureader_passages": dureader_passages,
    "cluener_entities": cluener_entities,
    "inline_slots": inline_slots,
    "char_spans": char_spans,
}
