"""humc — the Hum recipe compiler.

Pipeline stages, one module each, dependencies pointing one way:
parse (yamlsrc, expr) -> validate (validate) -> IR (ir) -> plan (plan) -> execute (execute) -> write/publish (writer, card, publish).

This module is the public API (``__all__``; a test keeps it complete). The error classes are imported
eagerly (``humc.errors`` imports nothing else); everything else is loaded on first use through the
module ``__getattr__``, so ``import humc`` — which every ``humc`` command does, ``humc --help``
included — costs no Lark, Jinja2, diskcache or Hub client. Type checkers see the real imports.

``humc.build`` is the build sub-package, so the function that runs a plan is not re-exported under
that name: call ``humc.build.compiler.build(plan)`` (a module attribute cannot be both).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from humc.errors import (
    ErrorList,
    EvalError,
    FormatParseError,
    HumcError,
    LLMError,
    PublishError,
    RecipeError,
    RecipeWarning,
    RecordError,
    RequestRejected,
    SecretError,
    SourceError,
    Span,
)

if TYPE_CHECKING:
    from humc.build.compiler import DryRun, dry_run, load_recipe, plan_recipe, push_recipe
    from humc.build.execute import BuildResult
    from humc.build.plan import Plan, build_plan
    from humc.ir import Recipe
    from humc.recipe.validate import compile_recipe

__version__ = "0.1.0"

# Bumped whenever the meaning of a cached node result changes; part of every fingerprint.
FORMAT_VERSION = "15"  # 2: render/check drop problem records and report them (build/problems.py); 3: the messages
# column; 4: stratified mix draws, an empty answer states the rule that renders it, guideline label examples;
# 5: readers read published files as their authors' loaders do (IEPile {head, tail} triples, SPO/KG tasks; InstructUIE
# leaves out NA-typed items), and Jinja2's lazy filters give lists in templates (no memory address in a text); 6: how
# to answer nothing is said once (a stated rule's sentence, else the format's), a null list answer or a gold item
# without a label is bad gold, a bullet-list item writes an empty value as "key:"; 7: the natural sentence ends once,
# a whole float in a gold answer is an integer, collected labels one per Unicode normal form, a label holding a list
# separator quoted in that list, dedup compares an answer's rows in any order; a source row has one split in every
# entry reading it (the split's row key left out the entry), and a held-out instruction is only kept in a held-out row
# (`inputs: unseen`); join_each strips its parts (CaRB's padded columns) and squashes their space runs; a label's
# look-alike names its label only when it is offered; `split_by:`'s group outlives the check (ratio and mixture lost it);
# 8: a SQuAD question written without answers (a test split) has none, not [] (it was cached as unanswerable), and
# MRQA's header line is no record; 9: a column file's values are split on spaces and tabs only (an ideographic or
# no-break space is token text); 10: rows already listed left to right keep that order and their own mentions
# (sort_by_position, inline tags), and a nested format's sentence describes the nesting; a generated answer must be
# one of its record's options (multiple choice) or copied from its text (extractive MRC, `copied_from:`)
# 11: a CSV column pandas wrote as whole floats (1.0) reads as integers, a binary Parquet/ORC/Arrow column as UTF-8 text,
# and lookup() maps a null or empty index to null (was an error) and refuses 1.5 (was the index 1)
# 12: inline tags of an answer listing each (label, span) once (`dedupe`) tag every mention of it, and a span is
# tagged at a whole word rather than inside a longer one ("Ken" not in "Kent") when it has one
# 13: a generated span is written as its input writes it (it matched case and whitespace aside: "Walters Displayed");
# a free-text answer after "The answer is:", or naming an option by its text, is read as that label, option or span;
# a JSON value inside another in a reply is no reading of it (a judge's list of verdicts); SQuAD's [] is not generated
# 14: a free-text reply saying an extractive question has no answer ('unanswerable', 'N/A') is its [] gold
# and a generated reply of one row-shaped object where a list is asked is a list of that row
# and a reply 'The answer to the question "…" is not provided in the passage.' is that [] gold too
# and an event's gold trigger or argument not in its text is span_not_in_text (ee: copied_gold)
# and an Avro duration, or a date or timestamp past year 9999, reads as ISO 8601 text (was bytes, an error)
# (a `duration` on a fixed of another size than 12 is no duration, and reads as its bytes)
# 15: bare B/I tags are untyped (bio_spans `untyped=`), a .tsv of CoNLL columns reads as CoNLL, PubTator mentions
# with blanks around them, lines ending in \r\r\n read as one line break, DuEE's schema file gives an entry its roles;
# an EEA gold argument or given trigger not in its text is span_not_in_text (eea: copied_gold); an event adapter's
# non-text trigger is an error

# public name -> the module that defines it (imported on first access)
_LAZY = {
    "load_recipe": "humc.build.compiler",
    "plan_recipe": "humc.build.compiler",
    "dry_run": "humc.build.compiler",
    "push_recipe": "humc.build.compiler",
    "DryRun": "humc.build.compiler",
    "BuildResult": "humc.build.execute",
    "compile_recipe": "humc.recipe.validate",
    "build_plan": "humc.build.plan",
    "Plan": "humc.build.plan",
    "Recipe": "humc.ir",
}

__all__ = [
    "FORMAT_VERSION", "BuildResult", "DryRun", "ErrorList", "EvalError", "FormatParseError", "HumcError", "LLMError",
    "Plan", "PublishError", "Recipe", "RecipeError", "RecipeWarning", "RecordError", "RequestRejected", "SecretError",
    "SourceError", "Span",
    "__version__", "build_plan", "compile_recipe", "dry_run", "load_recipe", "plan_recipe", "push_recipe",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'humc' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
