"""`schema: {roles: …}` of an event task entry (ee, eea): the argument roles each event type has.

Written inline (``{财经/交易-跌停: [时间, 跌停股票], …}``) or as the name of a constant holding such a mapping, or
holding DuEE's schema file as it is published (``{file: duee_event_schema.json}``: JSON Lines of ``{"event_type": …,
"role_list": [{"role": …}, …]}``; InstructUIE's EE labels.json is the same list). A generated answer's roles are
checked against its event type's (build/llmsteps.py); any other structure is an E0008 at the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from humc.errors import RecipeError, did_you_mean
from humc.expr.argtypes import describe
from humc.ir import EventRoles, TaskDef
from humc.recipe.yamlsrc import Node

EXPECTED = ("a mapping event type -> [roles], or the name of a constant holding one or DuEE's schema (a list of "
            "{event_type, role_list: [{role: …}]}, e.g. {file: duee_event_schema.json})")


def parse_roles(schema: Node | None, task: TaskDef, constants: Mapping[str, Any]) -> EventRoles:
    """The entry's event type -> roles, () when its `schema:` lists none."""
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
    roles, problem = role_map(value)
    if problem is not None:  # at the name of a constant, else at the key (a block list starts a line below it)
        at = node.span if node.kind == "string" else schema.key_spans.get("roles", node.span)
        raise RecipeError(f"{what} has an unknown structure: {problem}", at, code="E0008", expected=EXPECTED)
    return roles


def role_map(value: Any) -> tuple[EventRoles, str | None]:
    """(event type -> roles, None), or ((), what is wrong) for a value of no known structure."""
    if isinstance(value, Mapping) and isinstance(value.get("event_type"), str) and "role_list" in value:
        value = [value]  # a DuEE schema file of one event type: a .json file's one object, not a list of one
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, list):
        items = []
        for n, item in enumerate(value, 1):
            if not isinstance(item, Mapping) or not isinstance(item.get("event_type"), str) or "role_list" not in item:
                return (), f"item {n} is not an object with 'event_type' and 'role_list'"
            items.append((item["event_type"], item["role_list"]))
    else:
        return (), f"it is {describe(value)}"
    if not items:
        return (), "it lists no event type"
    out: dict[str, tuple[str, ...]] = {}
    for event_type, roles in items:
        names = _role_names(roles)
        if names is None:
            return (), f"the roles of '{event_type}' are not a list of role names (or of {{role: …}} objects)"
        out[str(event_type)] = tuple(dict.fromkeys(out.get(str(event_type), ()) + names))
    return tuple(out.items()), None


def _role_names(roles: Any) -> tuple[str, ...] | None:
    """A role list: names, or DuEE's ``{"role": name}`` objects; None when it is neither."""
    if not isinstance(roles, list):
        return None
    names = [r.get("role") if isinstance(r, Mapping) else r for r in roles]
    if not all(isinstance(name, str) and name.strip() for name in names):
        return None
    return tuple(str(name) for name in names)
