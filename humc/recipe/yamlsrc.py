"""Parse stage, part 1: YAML with a source span on every node.

``load_yaml`` returns a tree of ``Node`` objects: mappings keep the span of each key,
so the validator can point at the exact key or value that is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from humc.errors import RecipeError, Span, type_name

__all__ = ["Node", "load_yaml", "load_yaml_text", "type_name"]


@dataclass
class Node:
    """A YAML value with its location. ``value`` is dict[str, Node], list[Node] or a scalar."""

    value: Any
    span: Span
    key_spans: dict[str, Span] = field(default_factory=dict)
    style: str | None = None  # scalar style: None (plain), '"', "'", '|', '>'
    in_flow: bool = False     # inside a flow collection ({...} or [...]), where a plain comma ends the value

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

    def expr_origin(self) -> tuple[Span, int]:
        """Where the text of a scalar starts, for mapping DSL error positions: (span, column offset)."""
        if self.style in ('"', "'"):
            return self.span, 1
        return self.span, 0


_constructor = yaml.SafeLoader("")


def _span(file: str, node: yaml.Node) -> Span:
    s, e = node.start_mark, node.end_mark
    return Span(file, s.line + 1, s.column + 1, e.line + 1, e.column + 1)


def _convert(file: str, node: yaml.Node, in_flow: bool = False, path: frozenset[int] = frozenset()) -> Node:
    if id(node) in path:
        raise RecipeError("recursive YAML alias: this value contains itself", _span(file, node),
                          expected="a finite value")
    path = path | {id(node)}
    in_flow = in_flow or bool(getattr(node, "flow_style", False))
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Node] = {}
        keys: dict[str, Span] = {}
        for k, v in node.value:
            if k.tag == "tag:yaml.org,2002:merge":
                raise RecipeError("YAML merge keys (<<) are not supported in recipes", _span(file, k),
                                  expected="the keys written out", hint="an anchor can still name a whole value: key: *name")
            key = _construct(file, k) if isinstance(k, yaml.ScalarNode) else None
            if not isinstance(key, str):
                raise RecipeError("mapping keys must be strings", _span(file, k), expected="a plain key such as `name:`")
            if key in out:
                raise RecipeError(f"duplicate key '{key}'", _span(file, k),
                                  notes=[f"first defined at {keys[key]}"])
            keys[key] = _span(file, k)
            out[key] = _convert(file, v, in_flow, path)
        return Node(out, _span(file, node), keys)
    if isinstance(node, yaml.SequenceNode):
        return Node([_convert(file, v, in_flow, path) for v in node.value], _span(file, node))
    return Node(_construct(file, node), _span(file, node), style=node.style, in_flow=in_flow)


def _construct(file: str, node: yaml.Node) -> Any:
    try:
        return _constructor.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        raise RecipeError(f"invalid YAML value: {problem}", _span(file, node),
                          expected="plain YAML: strings, numbers, booleans, lists and mappings (no custom !tags)") from None


def load_yaml_text(text: str, file: str) -> Node:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        span = Span(file, mark.line + 1, mark.column + 1) if mark else None
        raise RecipeError(f"invalid YAML: {exc.problem or exc.context}", span,
                          hint="check indentation and quoting around this position") from None
    except yaml.YAMLError as exc:
        raise RecipeError(f"invalid YAML: {exc}", Span(file, 1, 1)) from None
    if root is None:
        raise RecipeError("the file is empty", Span(file, 1, 1), expected="a YAML mapping with `hum:` and `name:`")
    return _convert(file, root)


def load_yaml(path: Path) -> Node:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError(f"no such file: {path}") from None
    except UnicodeDecodeError as exc:
        raise RecipeError(f"{path} is not UTF-8 text ({exc.reason})") from None
    return load_yaml_text(text, str(path))
