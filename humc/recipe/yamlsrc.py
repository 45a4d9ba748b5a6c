"""Parse stage, part 1: YAML with a source span on every node.

``load_yaml`` returns a tree of ``Node`` objects: mappings keep the span of each key,
so the validator can point at the exact key or value that is wrong.

Limits (``humc.limits``, each an E0010 diagnostic): the file size is checked before parsing.
PyYAML's composer shares an anchored node between its aliases, so composing is cheap, but it
recurses once per nesting level, so ``_Loader`` bounds its depth. Aliases are expanded when the
composed tree becomes ``Node`` objects (``_Converter``); before that, ``_Measure`` computes the
expanded size and depth in time linear in the file, so an alias bomb stops at its alias without
building anything. Integer text is bounded before it is converted.
"""

from __future__ import annotations

import errno
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from humc.errors import SURROGATE_HINT, RecipeError, Span, TextSpan, join_surrogate_pairs, lone_surrogate, missing_file_hint, type_name
from humc.limits import LIMIT_CODE, MAX_INT, MAX_INT_DIGITS, MAX_RECIPE_BYTES, MAX_YAML_DEPTH, MAX_YAML_VALUES
from humc.recipe.scalarpos import MAX_PLACED_CHARS, SourceText, text_span
from humc.sources_readers import UTF16_BOMS, UTF32_BOMS, archive_of, compression_of

__all__ = ["Node", "load_yaml", "load_yaml_text", "not_a_regular_file", "not_utf8", "type_name"]


@dataclass
class Node:
    """A YAML value with its location. ``value`` is dict[str, Node], list[Node] or a scalar."""

    value: Any
    span: Span
    key_spans: dict[str, Span] = field(default_factory=dict)
    style: str | None = None  # scalar style: None (plain), '"', "'", '|', '>'
    in_flow: bool = False     # inside a flow collection ({...} or [...]), where a plain comma ends the value
    source: SourceText | None = field(default=None, repr=False, compare=False)  # a string's file text (``text_span``)

    @property
    def kind(self) -> str:
        if isinstance(self.value, dict):
            return "mapping"
        if isinstance(self.value, list):
            return "list"
        return type_name(self.value)

    def get(self, key: str) -> Node | None:
        return self.value.get(key) if isinstance(self.value, dict) else None

    def require(self, key: str) -> Node:
        """The child under ``key``; a located error when this mapping lacks it."""
        child = self.get(key)
        if child is None:
            raise RecipeError(f"missing required key '{key}'", self.span, expected=f"`{key}:` in this mapping", code="E0006")
        return child

    def plain(self) -> Any:
        """The value with every Node unwrapped (plain Python data)."""
        if isinstance(self.value, dict):
            return {k: v.plain() for k, v in self.value.items()}
        if isinstance(self.value, list):
            return [v.plain() for v in self.value]
        return self.value

    def text_span(self, limit: int = MAX_PLACED_CHARS) -> TextSpan | None:
        """A string's span with the place in the file of each character of its value; None when not known or the
        value is longer than ``limit``."""
        if not isinstance(self.value, str):
            return None
        return text_span(self.span, self.style, self.value, self.source, limit)

    def expr_origin(self) -> tuple[Span, int]:
        """Where the text of a scalar starts, for mapping DSL error positions: (span, column offset)."""
        if self.style in ('"', "'"):
            return self.span, 1
        return self.span, 0


_constructor = yaml.SafeLoader("")
_INT_TAG = "tag:yaml.org,2002:int"


def _span(file: str, node: yaml.Node | yaml.Mark) -> Span:
    s, e = (node, node) if isinstance(node, yaml.Mark) else (node.start_mark, node.end_mark)
    return Span(file, s.line + 1, s.column + 1, e.line + 1, e.column + 1)


def _limit(message: str, span: Span, expected: str, hint: str | None = None) -> RecipeError:
    return RecipeError(message, span, expected=expected, hint=hint, code=LIMIT_CODE)


def _too_deep(span: Span) -> RecipeError:
    return _limit(f"YAML nested more than {MAX_YAML_DEPTH} levels deep", span, "a flatter recipe",
                  hint="lists and mappings (aliases included) nest at most this deep; humc bounds nesting depth")


_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass
class _Alias:
    """Where an alias (``*name``) was used: the composer shares the anchored node, this keeps the place."""

    node: yaml.Node
    mark: yaml.Mark


class _TooDeep(Exception):
    def __init__(self, mark: yaml.Mark) -> None:
        self.mark = mark


class _Loader(yaml.SafeLoader):
    """PyYAML's safe composer, bounded in depth (it recurses per level) and remembering alias sites."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark: yaml.Mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]  # types-PyYAML leaves peek_event unannotated
            target = super().compose_node(parent, index)  # the anchored node itself, shared
            assert target is not None  # an undefined alias raises ComposerError
            return _Alias(target, mark)
        if self._depth >= MAX_YAML_DEPTH:
            raise _TooDeep(self.peek_event().start_mark)  # type: ignore[no-untyped-call]  # types-PyYAML leaves peek_event unannotated
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _unwrap(item: yaml.Node | _Alias, alias: Span | None, file: str) -> tuple[yaml.Node, Span | None]:
    """The node behind an alias, and the outermost alias being expanded (where expansion errors point)."""
    if isinstance(item, _Alias):
        return item.node, alias or _span(file, item.mark)
    return item, alias


def _children(node: yaml.Node) -> list[Any]:
    if isinstance(node, yaml.MappingNode):
        return [v for _, v in node.value]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


@dataclass
class _Measure:
    """Values and depth of each composed node once its aliases are expanded, memoized per shared node:
    linear in the file however far aliases would expand, so limits are checked before anything is built."""

    file: str
    sizes: dict[int, tuple[int, int]] = field(default_factory=dict)  # id(node) -> (values, depth)
    active: set[int] = field(default_factory=set)

    def of(self, item: yaml.Node | _Alias) -> tuple[int, int]:
        node = item.node if isinstance(item, _Alias) else item
        if id(node) in self.sizes:
            return self.sizes[id(node)]
        if id(node) in self.active:
            raise RecipeError("recursive YAML alias: this value contains itself", _span(self.file, node),
                              expected="a finite value", code="E0004")
        self.active.add(id(node))
        children = [self.of(c) for c in _children(node)]
        self.active.discard(id(node))
        self.sizes[id(node)] = (1 + sum(v for v, _ in children), 1 + max((d for _, d in children), default=0))
        return self.sizes[id(node)]

    def check(self, root: yaml.Node) -> None:
        values, depth = self.of(root)
        if depth > MAX_YAML_DEPTH:
            raise _too_deep(self._deepest(root, MAX_YAML_DEPTH, None))
        if values > MAX_YAML_VALUES:
            where, alias = self._overflow(root, MAX_YAML_VALUES, None)
            if alias is None:
                raise _limit(f"the YAML file holds more than {MAX_YAML_VALUES} values", where,
                             "a smaller recipe", hint="move bulk data into a source file")
            raise _limit(f"YAML aliases expand to more than {MAX_YAML_VALUES} values", alias,
                         "an alias that names a small value", hint="each *alias copies its anchored value; "
                         "aliases of aliases multiply (a 'billion laughs' recipe)")

    def _deepest(self, item: yaml.Node | _Alias, levels: int, alias: Span | None) -> Span:
        node, alias = _unwrap(item, alias, self.file)
        deeper = next((c for c in _children(node) if self.of(c)[1] >= levels), None)
        if levels == 0 or deeper is None:
            return alias or _span(self.file, node)
        return self._deepest(deeper, levels - 1, alias)

    def _overflow(self, item: yaml.Node | _Alias, budget: int, alias: Span | None) -> tuple[Span, Span | None]:
        """Where the running count of values first passes ``budget`` (and the alias being expanded there)."""
        node, alias = _unwrap(item, alias, self.file)
        budget -= 1
        for child in _children(node) if budget >= 0 else ():
            size = self.of(child)[0]
            if size > budget:
                return self._overflow(child, budget, alias)
            budget -= size
        return _span(self.file, node), alias


@dataclass
class _Converter:
    """Composed YAML → ``Node`` tree, expanding aliases (after ``_Measure`` has bounded the result)."""

    file: str
    source: SourceText | None = None

    def convert(self, item: yaml.Node | _Alias, in_flow: bool = False) -> Node:
        node = item.node if isinstance(item, _Alias) else item
        in_flow = in_flow or bool(getattr(node, "flow_style", False))
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_COLLECTION_TAGS:
            raise _tagged_collection(self.file, node)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, in_flow)
        if isinstance(node, yaml.SequenceNode):
            return Node([self.convert(v, in_flow) for v in node.value], _span(self.file, node))
        style = (node.style or None) if isinstance(node, yaml.ScalarNode) else None  # libyaml's plain style is ''
        value = _construct(self.file, node)
        return Node(value, _span(self.file, node), style=style, in_flow=in_flow,
                    source=self.source if isinstance(value, str) else None)

    def _mapping(self, node: yaml.MappingNode, in_flow: bool) -> Node:
        """A mapping; merge keys (``<<: *defaults``, ``<<: [*a, *b]``) as YAML 1.1 defines them: the mapping's own
        keys override the merged ones (of which an earlier mapping wins); keys keep the order written, a merge key's
        keys where it stands (``{z: 0, <<: *m}``: z, then m's keys)."""
        out: dict[str, Node] = {}
        keys: dict[str, Span] = {}
        own: set[str] = set()
        for k, v in node.value:
            k = k.node if isinstance(k, _Alias) else k
            if k.tag == _MERGE_TAG:
                for name, (value, span) in self._merged(v, in_flow, k).items():
                    if name not in out:
                        out[name], keys[name] = value, span
                continue
            key = _construct(self.file, k) if isinstance(k, yaml.ScalarNode) else None
            if not isinstance(key, str):
                raise RecipeError("mapping keys must be strings", _span(self.file, k), expected="a plain key such as `name:`", code="E0004")
            if key in own:
                raise RecipeError(f"duplicate key '{key}'", _span(self.file, k),
                                  notes=[f"first defined at {keys[key]}"], code="E0003")
            own.add(key)
            keys[key] = _span(self.file, k)
            out[key] = self.convert(v, in_flow)
        return Node(out, _span(self.file, node), keys)

    def _merged(self, item: yaml.Node | _Alias, in_flow: bool, merge_key: yaml.Node) -> dict[str, tuple[Node, Span]]:
        """The keys a merge key's value brings (a mapping, or a list of them: the earlier wins), with their spans."""
        node = item.node if isinstance(item, _Alias) else item
        if isinstance(node, yaml.SequenceNode) and all(
                isinstance(i.node if isinstance(i, _Alias) else i, yaml.MappingNode) for i in node.value):
            merged: dict[str, tuple[Node, Span]] = {}
            for part in node.value:
                for key, value in self._merged(part, in_flow, merge_key).items():
                    merged.setdefault(key, value)
            return merged
        if not isinstance(node, yaml.MappingNode):
            raise RecipeError("a merge key (<<) takes a mapping or a list of mappings", _span(self.file, merge_key),
                              expected="<<: *anchor_of_a_mapping, or <<: [*a, *b]", code="E0004")
        mapping = self._mapping(node, in_flow)
        return {key: (value, mapping.key_spans[key]) for key, value in mapping.value.items()}


_PLAIN_COLLECTION_TAGS = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})


def _tagged_collection(file: str, node: yaml.Node) -> RecipeError:
    """A list or mapping under a tag (`!!set {a, b}`, `!!omap [...]`, `!!python/tuple [...]`, `!mine {...}`): its
    tag was dropped and the plain list or mapping read, a set as a mapping of nulls (a scalar's tag is refused or
    honoured by PyYAML's safe constructor)."""
    tag = node.tag.replace("tag:yaml.org,2002:", "!!")
    kind = "mapping" if isinstance(node, yaml.MappingNode) else "list"
    return RecipeError(f"invalid YAML value: humc does not read the tag {tag} on a {kind}", _span(file, node),
                       expected="plain YAML: strings, numbers, booleans, lists and mappings (no custom !tags)",
                       hint=f"remove `{tag}` and write a plain {kind}", code="E0004")


def _construct(file: str, node: yaml.Node) -> Any:
    if node.tag == _INT_TAG and len(node.value) > MAX_INT_DIGITS:  # int() of a huge text is slow, then refused
        raise _int_too_large(file, node)
    try:
        value = _constructor.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, LookupError, AttributeError) as exc:  # ValueError: a date such as 2024-13-45
        problem = getattr(exc, "problem", None) or str(exc)
        if not isinstance(exc, (yaml.YAMLError, ValueError)):  # PyYAML's own failure on `!!bool x`, `!!timestamp x`
            problem = f"{node.value!r} is no {node.tag.rsplit(':', 1)[-1]}"
        raise RecipeError(f"invalid YAML value: {problem}", _span(file, node),
                          expected="plain YAML: strings, numbers, booleans, lists and mappings (no custom !tags)", code="E0004") from None
    if type(value) is int and abs(value) > MAX_INT:
        raise _int_too_large(file, node)
    if isinstance(value, str) and lone_surrogate(value) is not None:
        return _paired(file, node, value)
    return value


def _paired(file: str, node: yaml.Node, text: str) -> str:
    """A double-quoted scalar's surrogate escapes: a pair ("\\ud83d\\ude42", as JSON writes an emoji) is the one
    character it names; a lone half is no text a file can hold (it would fail when a record is written)."""
    joined = join_surrogate_pairs(text)
    lone = lone_surrogate(joined)
    if lone is not None:
        raise RecipeError(f"invalid YAML value: \\u{ord(lone):04x} is half of a UTF-16 surrogate pair", _span(file, node),
                          expected="whole characters", code="E0004", hint=SURROGATE_HINT)
    return joined


def _int_too_large(file: str, node: yaml.Node) -> RecipeError:
    return _limit("integer too large", _span(file, node), f"an integer between -{MAX_INT} and {MAX_INT}",
                  hint="write it as a string if it is an identifier, not a number")


_QUOTED_START = re.compile(r"^(\s*(?:-\s+)?[^\s:#'\"][^:#]*:\s+)((['\"]).*?\3\s*[^\s#,}\]].*?)(\s+#.*)?$")


def _quoted_start_hint(text: str, line: int | None) -> str | None:
    """An expression value that starts with a quoted string and goes on (`where: "PER" in labels`): YAML reads the
    quotes as the whole value. The hint quotes the expression whole."""
    if line is None:
        return None
    lines = text.splitlines()
    match = _QUOTED_START.match(lines[line]) if line < len(lines) else None
    if match is None:
        return None
    key, value = match.group(1).strip(), match.group(2).rstrip()
    if len(value) > 1 and value[0] == value[-1] == "'":  # quoted whole already: an apostrophe inside ends it
        return f"inside '…' an apostrophe is written twice: {key} '{value[1:-1].replace(chr(39), chr(39) * 2)}'"
    if len(value) > 1 and value[0] == value[-1] == '"':
        return f'inside "…" a quote is written \\": {key} "{value[1:-1].replace(chr(34), chr(92) + chr(34))}"'
    quoted = "'" + value.replace("'", "''") + "'" if '"' in value else '"' + value.replace('"', '\\"') + '"'
    return f"a value that starts with a quote is read as that quoted text alone; quote the whole expression: " \
           f"{key} {quoted}"


def _key_column(line: str) -> int:
    """The 1-based column where a line's key starts (after its indentation and any `- ` of a list item)."""
    rest = line.lstrip(" ")
    while rest.startswith("- "):
        rest = rest[2:].lstrip(" ")
    return len(line) - len(rest) + 1


def _indent_hint(text: str, line: int | None) -> str | None:
    """A key that starts in a column where no key above it starts, below a line that opens no block (PyYAML says
    "expected <block end>" or "mapping values are not allowed here"): the columns, as a person counts them."""
    lines = text.splitlines()
    if line is None or not 0 < line < len(lines):
        return None
    above = [n for n in range(line) if lines[n].strip() and not lines[n].lstrip().startswith("#")]
    if not above or lines[above[-1]].split(" #")[0].rstrip().endswith(":"):
        return None
    column = len(lines[line]) - len(lines[line].lstrip(" ")) + 1
    columns = sorted({_key_column(lines[n]) for n in above})
    if column in columns:
        return None
    return (f"line {line + 1} starts in column {column}, where no key above it starts (columns "
            f"{', '.join(map(str, columns))}): a key lines up with the other keys of its mapping (indent with spaces, "
            "the same number for each level)")


def _colon_hint(text: str, line: int | None, problem: str | None) -> str | None:
    """A plain value holding `: ` (a format sentence `en: Answer with: {{ fields }}`): YAML reads a second key there."""
    lines = text.splitlines()
    if line is None or line >= len(lines) or problem != "mapping values are not allowed here":
        return None
    key, sep, value = lines[line].strip().removeprefix("- ").partition(": ")
    if not sep or ": " not in value or value.startswith(("'", '"', "{", "[")):
        return None
    return (f"the value of '{key}' holds ': ', which YAML reads as a key: quote the whole value, or write it as a "
            f"block (`{key}: >-`, then the text on the lines below, indented further)")


RECIPE_EXPECTED = "a YAML mapping with `hum:` and `name:`"


# libyaml's composer, where PyYAML was built with it: for humc's own files only (``shipped``), since it neither bounds
# depth (it recurses in C) nor marks alias sites; a shipped file composes to the same nodes either way (test_yamlsrc)
_C_LOADER: type[Any] | None = getattr(yaml, "CSafeLoader", None)
# libyaml's recursion ends the process (SIGSEGV) some 100 000 levels deep, and a level takes at least a character:
# texts longer than this go the bounded way (the stdlib's longest file has 7 088 characters; fuzz7 crashed libyaml
# at 200 000 levels, and at 20 000 PyYAML's depth bound still reports first)
_C_MAX_CHARS = 16_384


def _composed(text: str, shipped: bool) -> yaml.Node | None:
    """``text`` composed; a shipped file of up to ``_C_MAX_CHARS`` by libyaml (20× faster: the stdlib's 120 files
    took 0.2 s of every plan), which gives way to PyYAML's own composer on any error, so that error is reported."""
    if shipped and _C_LOADER is not None and len(text) <= _C_MAX_CHARS:
        try:
            return yaml.compose(text, Loader=_C_LOADER)
        except yaml.YAMLError:
            pass
    return yaml.compose(text, Loader=_Loader)


def load_yaml_text(text: str, file: str, *, expected: str = RECIPE_EXPECTED, shipped: bool = False) -> Node:
    """``text`` as a ``Node`` tree; ``expected`` says what an empty file should hold (a recipe, by default);
    ``shipped``: the text is a file humc ships (its stdlib), composed by libyaml where it can."""
    if len(text) > MAX_RECIPE_BYTES:
        raise _too_big(file, len(text), _line_at(text, MAX_RECIPE_BYTES)[0])
    try:
        root = _composed(text, shipped)
    except _TooDeep as exc:
        raise _too_deep(_span(file, exc.mark)) from None
    except RecursionError:  # a last resort: the composer is bounded above, so this is not expected
        raise _too_deep(Span(file, 1, 1)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        span = Span(file, mark.line + 1, mark.column + 1) if mark else None
        if mark is not None and _tab_indented(text, mark.line):
            raise RecipeError("invalid YAML: a tab is used for indentation", Span(file, mark.line + 1, 1),
                              expected="spaces before the key",
                              hint="YAML does not allow tabs for indentation; use spaces", code="E0002") from None
        if exc.problem == "but found another document":  # PyYAML's "expected a single document in the stream"
            raise RecipeError("invalid YAML: a second YAML document starts at this `---` line", span,
                              expected="one YAML document per file", code="E0002",
                              hint="a recipe is one document: remove the `---` line, or move what follows it to a file "
                                   "of its own") from None
        anchor = re.match(r"found duplicate anchor '(.*)'; first occurrence$", exc.context or "")
        if anchor is not None and exc.context_mark is not None:  # PyYAML's problem, "second occurrence", said nothing
            first = Span(file, exc.context_mark.line + 1, exc.context_mark.column + 1)
            raise RecipeError(f"invalid YAML: the anchor &{anchor[1]} is defined twice", span, code="E0002",
                              expected="each anchor name once in a file",
                              hint=f"rename one of them, and the aliases (*{anchor[1]}) meant for it",
                              notes=[f"first defined at {first}"]) from None
        lookalike = _lookalike(file, text, mark.line) if mark is not None else None
        if lookalike is not None:
            raise RecipeError(f"invalid YAML: {exc.problem or exc.context}", lookalike[0], hint=lookalike[1],
                              code="E0002") from None
        tab = "'\\t'" in str(exc.problem)  # a tab between tokens: PyYAML takes none outside quoted text
        raise RecipeError(f"invalid YAML: {exc.problem or exc.context}", span,
                          hint="YAML takes no tab here: use spaces (a tab inside quotes is text)" if tab
                          else _quoted_start_hint(text, mark.line if mark else None)
                          or _indent_hint(text, mark.line if mark else None)
                          or _colon_hint(text, mark.line if mark else None, exc.problem)
                          or "check indentation and quoting around this position", code="E0002") from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow, before any token: no mark, a position
        raise _bad_character(file, text, exc) from None
    except yaml.YAMLError as exc:
        raise RecipeError(f"invalid YAML: {exc}", Span(file, 1, 1), code="E0002") from None
    if root is None:
        raise RecipeError("the file is empty", Span(file, 1, 1), expected=expected, code="E0009")
    _check_version_size(file, root)
    try:
        _Measure(file).check(root)
    except RecursionError:  # libyaml (``shipped``) composes any depth: its tree is measured here, recursively
        raise _too_deep(Span(file, 1, 1)) from None
    return _Converter(file, SourceText(text)).convert(root)


def _bad_character(file: str, text: str, exc: yaml.reader.ReaderError) -> RecipeError:
    """E0002 at the line and column of a character YAML refuses (a control character; NUL, which UTF-16 text
    without a byte-order mark is full of), not at the top of the file."""
    line, column = _line_at(text, exc.position)
    code = exc.character if isinstance(exc.character, int) else 0
    kind = "control character" if code < 0x20 or 0x7F <= code <= 0x9F else "character"
    if code == 0:
        hint = ("a NUL character is no text: if the file is UTF-16 (every other byte 0), save it as UTF-8; "
                "else remove the NUL bytes")
    else:
        hint = f"remove the {kind} U+{code:04X} (editors often do not show it)"
    return RecipeError(f"invalid YAML: the {kind} U+{code:04X} is not allowed", Span(file, line, column),
                       expected="printable text (a tab or a line break is fine)", hint=hint, code="E0002")


_LOOKALIKES = {"\u00a0": ("a non-breaking space (U+00A0)", "a space"),
               "\u3000": ("an ideographic space (U+3000)", "a space"),
               "\uff1a": ("a full-width colon '：' (U+FF1A)", "':' followed by a space"),
               "\u200b": ("a zero-width space (U+200B)", "nothing")}


def _lookalike(file: str, text: str, line: int) -> tuple[Span, str] | None:
    """A character on the (0-based) line of a YAML error, or the line before, that looks like a space or a colon but is
    text to YAML (a recipe copied from a web page or chat, a Chinese input method's colon): where it is, and a hint.
    Only the part before a line's first ':' counts (its indentation and key): a value may hold any of them."""
    lines = text.splitlines()
    for number in (line - 1, line):
        body = (lines[number] if 0 <= number < len(lines) else "").split(":", 1)[0]
        found = next(((i, char) for i, char in enumerate(body) if char in _LOOKALIKES), None)
        if found is not None:
            what, instead = _LOOKALIKES[found[1]]
            return Span(file, number + 1, found[0] + 1), f"this line holds {what}, which YAML reads as text: type {instead}"
    return None


def _tab_indented(text: str, line: int) -> bool:
    """Whether the (0-based) line's leading whitespace holds a tab: PyYAML then says only "found character '\\t'"."""
    lines = text.splitlines()
    if not 0 <= line < len(lines):
        return False
    body = lines[line]
    return "\t" in body[:len(body) - len(body.lstrip(" \t"))]


def _check_version_size(file: str, root: yaml.Node) -> None:
    """`hum:` with an integer too long to convert: the limit error, with a hint about the version."""
    if not isinstance(root, yaml.MappingNode):
        return
    for key, value in root.value:
        if (isinstance(key, yaml.ScalarNode) and key.value == "hum" and isinstance(value, yaml.ScalarNode)
                and value.tag == _INT_TAG and len(value.value) > MAX_INT_DIGITS):
            raise _limit("integer too large", _span(file, value), f"an integer between -{MAX_INT} and {MAX_INT}",
                         hint="`hum:` is the recipe-language version: write `hum: 1`")


def _too_big(file: str, size: int, line: int = 1) -> RecipeError:
    """E0010 for a file over the limit; ``size`` 0 for a device or stream that reports none (/dev/zero)."""
    said = f"{size} bytes" if size > MAX_RECIPE_BYTES else f"more than {MAX_RECIPE_BYTES} bytes"
    return _limit(f"the file is too large ({said}; the limit is {MAX_RECIPE_BYTES // 2**20} MiB)",
                  Span(file, line, 1), f"at most {MAX_RECIPE_BYTES} bytes of YAML",
                  hint=f"the limit is passed on line {line}; move bulk data into a source file")


def _line_at(data: bytes | str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of an offset into text or bytes."""
    nl = b"\n" if isinstance(data, bytes) else "\n"
    start = data.rfind(nl, 0, offset) + 1  # type: ignore[arg-type]
    return data.count(nl, 0, offset) + 1, offset - start + 1  # type: ignore[arg-type]


_ARCHIVES = frozenset({"zip", "tar", "7z", "rar"})  # what ``archive_of`` names (the rest: ``compression_of``'s)


def not_utf8(file: str, data: bytes, exc: UnicodeDecodeError) -> RecipeError:
    """E0009 for a file that is not UTF-8, at the line and column of its first bad byte (a UTF-16 BOM says so)."""
    utf = "UTF-32" if data.startswith(UTF32_BOMS) else "UTF-16" if data.startswith(UTF16_BOMS) else None
    if utf is not None:
        return RecipeError(f"{file} is {utf} text (it starts with a byte-order mark), not UTF-8", Span(file, 1, 1),
                           expected="UTF-8 text", hint="save the file as UTF-8 (most editors: 'Save with encoding')",
                           code="E0009")
    packed = archive_of(Path(file)) or compression_of(Path(file))
    if packed is not None:  # its bytes are no text in any encoding: not a latin-1 editor's
        return RecipeError(f"{file} is a {packed} {'archive' if packed in _ARCHIVES else 'file (compressed)'}, not text",
                           Span(file, 1, 1), expected="UTF-8 text", code="E0009",
                           hint=f"{'unpack' if packed in _ARCHIVES else 'decompress'} it and name the text file")
    line, col = _line_at(data, exc.start)
    return RecipeError(f"{file} is not UTF-8 text: byte {data[exc.start:exc.start + 1]!r} at line {line}, "
                       f"column {col} ({exc.reason})", Span(file, line, col), expected="UTF-8 text",
                       hint="save the file as UTF-8; a latin-1 or Windows-1252 editor may have written it",
                       code="E0009")


def not_a_regular_file(path: Path, span: Span | None = None) -> RecipeError | None:
    """E0009 when ``path`` is a named pipe, socket or device: reading one waits for a writer (forever, for a pipe
    nobody writes to); None for a regular file, a folder or a missing path (their own errors say so)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return RecipeError(f"{path} is not a regular file (a named pipe or a device)", span or Span(str(path), 1, 1),
                       code="E0009", expected="a file", hint="save the content to a file and name that file")


def load_yaml(path: Path, *, stream_ok: bool = False, expected: str = RECIPE_EXPECTED, shipped: bool = False) -> Node:
    """A YAML file as a ``Node`` tree; ``stream_ok``: the path may be a pipe (the recipe, as `<(…)`), else only a
    regular file is read; ``expected``: what an empty file should hold; ``shipped``: see ``load_yaml_text``."""
    return load_yaml_text(read_yaml_text(path, stream_ok=stream_ok), str(path), expected=expected, shipped=shipped)


def read_yaml_text(path: Path, *, stream_ok: bool = False) -> str:
    """A YAML file's text, read once (located errors for a missing, unreadable, huge or non-UTF-8 file)."""
    problem = None if stream_ok else not_a_regular_file(path)
    if problem is not None:
        raise problem
    try:
        with open(path, "rb") as f:  # one byte past the limit at most: a huge file (or /dev/zero) is refused, not read
            data = f.read(MAX_RECIPE_BYTES + 1)
        if len(data) > MAX_RECIPE_BYTES:
            raise _too_big(str(path), path.stat().st_size, _line_at(data, MAX_RECIPE_BYTES)[0])
    except FileNotFoundError:
        raise RecipeError(f"no such file: {path}", code="E0009", hint=missing_file_hint(path)) from None
    except IsADirectoryError:
        hint = "humc keeps a recipe's lockfile beside it as a file of that name: move the folder away" \
            if path.name.endswith(".hum.lock") else "name the YAML file inside it"
        raise RecipeError(f"{path} is a folder, not a YAML file", Span(str(path), 1, 1), code="E0009",
                          expected="a YAML file", hint=hint) from None
    except OSError as exc:  # a symbolic link that leads back to itself, no permission
        if exc.errno == errno.ENAMETOOLONG:
            raise  # a command-line path no file system holds: E3002 naming it cut short (cli/system.py)
        raise RecipeError(f"cannot read {path}: {exc.strerror}", code="E0009", expected="a readable YAML file",
                          hint="check the file's permissions, and where a symbolic link points (`ls -l`)") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise not_utf8(str(path), data, exc) from None
