"""Resource limits on recipe input, in one place (documented in README.md, "Limits").

Every limit is far beyond what a real recipe needs and well inside what one process can afford,
so that a hostile or broken input (a YAML alias bomb, 10 000 nested brackets, a 5000-digit
integer) ends in a located diagnostic with exit 2 instead of exhausting memory, time or Python's
recursion limit: ``E0010`` before any work is done for the recipe's own text, else the code of the
stage that meets it. Each limit is checked by the stage that reads the input: ``recipe/yamlsrc.py``
(file size, values, depth, integers), ``expr/parse.py`` (expression length, depth, number literals),
``expr/eval.py`` and ``expr/functions.py`` (what an expression makes, per record: E4102 at it),
``sources.py`` (the depth of a JSON record: E4001 at its line) and ``eval/predict.py`` (a predictions
line). This module imports nothing.
"""

from __future__ import annotations

LIMIT_CODE = "E0010"                 # the diagnostic code of a limit checked before any work

MAX_RECIPE_BYTES = 4 * 1024 * 1024   # a recipe, lockfile or stdlib YAML file, checked before parsing
MAX_YAML_VALUES = 100_000            # values (scalars, lists, mappings) after expanding aliases
MAX_YAML_DEPTH = 64                  # nesting of lists and mappings, after expanding aliases
MAX_INT = 2**63 - 1                  # |integer| in YAML and in expressions (fits a 64-bit column)
MAX_INT_DIGITS = 32                  # longer integer text is refused before converting it

MAX_EXPR_CHARS = 10_000              # one expression, pipeline or rule
MAX_EXPR_DEPTH = 200                 # levels of its syntax tree
MAX_MADE_ITEMS = 16 << 20            # a text or list an expression makes (`text * n`, `a + b`, join, replace):
                                     # its characters or items
MAX_PREDICTION_BYTES = 16 << 20     # one line of an eval predictions file (a model's answer: scoring parses it
                                     # several ways, at about 10x its size in memory)
MAX_RECORD_DEPTH = 200               # nesting of lists and objects in one JSON source record (the build
                                     # pickles records, which recurses once per level)
