"""Fields a task entry maps that nothing reads: a misspelt key (`txt:` beside a catalog adapter's `text`) would
otherwise be accepted in silence and the field it was meant to replace kept its old expression."""

from __future__ import annotations

from collections.abc import Iterable

from humc.errors import RecipeError, did_you_mean
from humc.expr import names_used
from humc.ir import TaskEntry
from humc.recipe.yamlsrc import Node

# mapped fields the build reads when the task has the matching part: option labels of a multiple-choice input, a
# record's own limit on the label schema's negatives (docs/corpus.md)
OPTIONAL_FIELDS = {"option_labels": "choice_of", "schema_labels": "schema_column"}


def fields_read(entry: TaskEntry) -> set[str] | None:
    """The mapped fields the entry's build reads: the task's inputs and answer, its optional fields, and the names
    its `where:`, `split_by:` and rules' `when` read; None when any field may be read (an LLM step's prompt sees the
    whole record, and so does an expression reading `record`)."""
    if entry.generate is not None or entry.judge is not None:
        return None
    read = set(_task_fields(entry))
    for compiled in (entry.where, entry.split_by, *(rule.when for rule in entry.rules)):
        if compiled is not None:
            read |= names_used(compiled.ast)
    return None if "record" in read else read


def _task_fields(entry: TaskEntry) -> list[str]:
    """The fields the entry's task reads: its inputs, its answer and the optional fields it has the part for."""
    task = entry.task
    return [*task.inputs, task.answer_field,
            *(name for name, part in OPTIONAL_FIELDS.items() if getattr(task, part) is not None)]


def check_fields_read(entry: TaskEntry, own: Node | None, adapter_fields: Iterable[str] = ()) -> None:
    """E2010 at the first key of the recipe's own `fields:` (``own``) that nothing reads, with the task's fields
    and the catalog adapter's (``adapter_fields``) as the did-you-mean's candidates."""
    read = fields_read(entry)
    if read is None or own is None or own.kind != "mapping":
        return
    unread = [str(key) for key in own.value if key not in read]
    if not unread:
        return
    task = entry.task
    known = list(dict.fromkeys([*_task_fields(entry), *adapter_fields]))
    key = unread[0]
    near = did_you_mean(key, [name for name in known if name not in own.value] or known)
    others = f" (also unread: {', '.join(unread[1:])})" if len(unread) > 1 else ""
    raise RecipeError(f"field '{key}' of task '{entry.id}' is mapped but nothing reads it{others}",
                      own.key_spans[key], code="E2010",
                      expected=f"a field task '{task.id}' reads ({', '.join(known)}), or one that `where:`, "
                               "`split_by:` or a rule's `when` reads",
                      hint=near or "remove it, or read it in `where:`, `split_by:` or a rule's `when`")
