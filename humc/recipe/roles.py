"""`schema: {roles: …}` of an event task entry (ee, eea): the argument roles each event type has.

Written inline (``{财经/交易-跌停: [时间, 跌停股票], …}``) or as the name of a constant holding such a mapping, or
holding DuEE's schema file as it is published (``{file: duee_event_schema.json}``: JSON Lines of ``{"event_type": …,
"role_list": [{"role": …}, …]}``; InstructUIE's EE labels.json is the same list). A generated answer's roles are
checked against its event type's (build/llmsteps.py); any other structure is an E0008 at the key. A role listed twice
for one type is kept once and warned about (W0001, at the repeat). A catalog adapter's ``roles_file:`` (DuEE's
schema file next to the data) gives the roles of an entry that writes none (``file_roles``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from humc.errors import RecipeError, RecipeWarning, Span, did_you_mean
from humc.expr.argtypes import describe
from humc.ir import EventRoles, TaskDef
from humc.recipe.yamlsrc import Node

EXPECTED = ("a mapping event type -> [roles], or the name of a constant holding one or DuEE's schema (a list of "
            "{event_type, role_list: [{role: …}]}, e.g. {file: duee_event_schema.json})")


@dataclass(frozen=True)
class Repeat:
    """A role its event type lists again (``role_map`` keeps the first): ``item`` the n-th object of a DuEE-style list
    (None in a mapping), ``position`` the role's place in that item's (or the type's) role list."""

    event_type: str
    role: str
    item: int | None
    position: int

    def warning(self, at: Span, where: str) -> RecipeWarning:
        return RecipeWarning(f"{where} lists the role '{self.role}' of '{self.event_type}' twice: the repeat is left "
                             "out", at, code="W0001", expected="each role of an event type once",
                             hint="remove the repeat, or write the role that was meant")


def parse_roles(schema: Node | None, task: TaskDef, constants: Mapping[str, Any],
                warnings: list[RecipeWarning] | None = None) -> EventRoles:
    """The entry's event type -> roles, () when its `schema:` lists none; a role listed twice for one type is a
    located W0001 in ``warnings`` (at the repeat when the recipe writes the roles, else at the constant's name)."""
    node = schema.get("roles") if schema is not None and schema.kind == "mapping" else None
    if node is None:
        return ()
    assert schema is not None
    if task.roles_of is None:
        raise RecipeError(f"task '{task.id}' has no argument roles", schema.key_spans.get("roles", node.span), code="E0008",
                          expected="`schema: {roles: …}` in an event task entry (ee, eea)", hint="remove `roles:`")
    value, what = node.plain(), "`schema: {roles: …}`"
    if node.kind == "string":
        if node.value not in constants:
            raise RecipeError(f"`roles: {node.value}` names no constant", node.span, code="E0008", expected=EXPECTED,
                              hint=did_you_mean(str(node.value), constants) or "declare it under `constants:`")
        value, what = constants[node.value], f"constant '{node.value}'"
    roles, problem, repeats = role_map(value)
    if problem is not None:  # at the name of a constant, else at the key (a block list starts a line below it)
        at = node.span if node.kind == "string" else schema.key_spans.get("roles", node.span)
        raise RecipeError(f"{what} has an unknown structure: {problem}", at, code="E0008", expected=EXPECTED)
    if warnings is not None:
        warnings.extend(repeat.warning(_repeat_span(node, repeat), what) for repeat in repeats)
    return roles


def file_roles(value: Any, path: Path, text: str, what: str, warnings: list[RecipeWarning]) -> EventRoles:
    """Each event type's roles from a schema file (``value``: its JSON, ``text`` as read), a catalog adapter's
    `roles_file:`; E0008 in the file when it has another structure, a repeated role a W0001 at its line."""
    roles, problem, repeats = role_map(value)
    if problem is not None:
        raise RecipeError(f"{what}: {path.name} has an unknown structure: {problem}", Span(str(path), 1, 1),
                          code="E0008", expected=EXPECTED.split(", or the name")[0] + " or DuEE's schema: JSON Lines "
                          "of {event_type, role_list: [{role: …}]}",
                          hint="fix the file, or write the roles under the task entry's `schema: {roles: …}`")
    lines = [n for n, line in enumerate(text.splitlines(), 1) if line.strip()]  # JSON Lines: item n on lines[n]
    for repeat in repeats:
        line = lines[repeat.item] if repeat.item is not None and len(lines) == len(value) else 1
        warnings.append(repeat.warning(Span(str(path), line, 1), what))
    return roles


def _repeat_span(node: Node, repeat: Repeat) -> Span:
    """Where the recipe writes a repeated role: the role in its list, or ``node`` (a constant's name, an odd shape)."""
    found: Node | None = node
    if node.kind == "mapping":
        found = node.get(repeat.event_type)
    elif node.kind == "list" and repeat.item is not None:
        found = node.value[repeat.item].get("role_list") if node.value[repeat.item].kind == "mapping" else None
    if found is not None and found.kind == "list" and repeat.position < len(found.value):
        found = found.value[repeat.position]
    span: Span = (found or node).span
    return span


def role_map(value: Any) -> tuple[EventRoles, str | None, list[Repeat]]:
    """(event type -> roles, None, the roles a type lists twice), or ((), what is wrong, []) for a value of no known
    structure. A type listed twice (two lines of a schema file) has the roles of both, each once."""
    if isinstance(value, Mapping) and isinstance(value.get("event_type"), str) and "role_list" in value:
        value = [value]  # a DuEE schema file of one event type: a .json file's one object, not a list of one
    items: list[tuple[Any, Any, int | None]] = []
    if isinstance(value, Mapping):
        items = [(key, roles, None) for key, roles in value.items()]
    elif isinstance(value, list):
        for n, item in enumerate(value):
            if not isinstance(item, Mapping) or not isinstance(item.get("event_type"), str) or "role_list" not in item:
                return (), f"item {n + 1} is not an object with 'event_type' and 'role_list'", []
            items.append((item["event_type"], item["role_list"], n))
    else:
        return (), f"it is {describe(value)}", []
    if not items:
        return (), "it lists no event type", []
    out: dict[str, dict[str, None]] = {}
    repeats: list[Repeat] = []
    for event_type, roles, item in items:
        names = _role_names(roles)
        if names is None:
            return (), f"the roles of '{event_type}' are not a list of role names (or of {{role: …}} objects)", []
        known = out.setdefault(str(event_type), {})
        for position, name in enumerate(names):
            if name in known:
                repeats.append(Repeat(str(event_type), name, item, position))
            known.setdefault(name)
    return tuple((event_type, tuple(names)) for event_type, names in out.items()), None, repeats


def _role_names(roles: Any) -> tuple[str, ...] | None:
    """A role list: names, or DuEE's ``{"role": name}`` objects; None when it is neither."""
    if not isinstance(roles, list):
        return None
    names = [r.get("role") if isinstance(r, Mapping) else r for r in roles]
    if not all(isinstance(name, str) and name.strip() for name in names):
        return None
    return tuple(str(name) for name in names)
