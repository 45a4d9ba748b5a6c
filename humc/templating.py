"""Jinja2 for every template humc renders: one sandboxed environment factory, bounded rendering, compile-time checks.

Instruction templates (stdlib, added stdlib folders, accepted lockfile paraphrases), format-variant sentences,
LLM prompts, synth's paraphrase checks, review edits and the user's dataset-card template all go through
``environment()`` here; no other module builds a Jinja2 environment.

Decisions a reader would otherwise undo:

- **Sandboxed.** Templates come from places a build must not trust blindly (LLM-proposed paraphrases, added stdlib
  folders, recipe prompts, card templates), so the environment is Jinja2's ``ImmutableSandboxedEnvironment``: private
  attributes (``__class__``, ``__globals__``, ``_TemplateReference__context``), Python internals (``mro``, frames,
  code objects) and mutating methods (``list.append``, ``dict.update``) are refused while rendering. A refusal is a
  located ``RecipeError`` E2012. ``template_problem``/``syntax_problem`` also refuse the literal spellings (names
  starting with ``_``, ``mro`` …) when a recipe is checked, so ``humc check`` reports them before any data is read.
- **Bounded.** Rendered text stops at ``MAX_RENDERED_CHARS`` (counted chunk by chunk while rendering, so a runaway
  loop never builds the whole string; a macro's or ``{% set %}`` block's text before it is joined); repetition
  (counting the items inside the list it repeats), joining (``~``, ``+``, ``sum`` of lists, in one pass), padding to a
  width (``center``, ``ljust``, ``%9999999s``; ``indent`` and ``expandtabs`` per line or tab), ``replace``,
  ``translate``, ``urlize``'s link attributes, ``lipsum``, ``**`` and ``*`` of integers are bounded before they run, on texts and on the
  bytes ``.encode()`` makes; so is writing a list as text (``_check_written``: one that holds itself over and over),
  and comparing one (``==``, ``in``, ``is eq``, ``sort``: ``_Sandbox.compared``, each operand but a literal);
  ``range`` is bounded by the sandbox (``MAX_RANGE``). One render may take at most
  ``MAX_TEMPLATE_STEPS`` steps (a call of a function, method or macro is one, each item of a ``range`` one, a long
  text or list ``~`` or ``+`` makes one per ``ITEMS_PER_STEP`` items, so one grown in a loop stops, each item a filter
  walks in Python one, in a value of ``ITEMS_PER_STEP`` items or more: ``(text * 16000) | sort`` stops before
  sorting), plus ``STEPS_PER_ITEM`` per character or item of the values it is given (a long document walked word by
  word is no runaway), so nested loops over ranges and macros that call themselves twice stop within a second or two
  (longer for a long record) instead of running for hours. Going over a limit, and the overflow/recursion errors the
  sandbox raises, are E0010. Loops over the record's own data are not counted: they are bounded by the data.
- **Strict.** ``StrictUndefined`` turns a misspelt variable into an error instead of empty text.
- **Two flavours, same options as before.** ``text`` (instructions, prompts, variant sentences: ``trim_blocks`` and
  ``lstrip_blocks``, the result is stripped) and ``document`` (the card: whitespace kept as written).
- **Fast where it is the same.** ``TemplateRenderer`` is ``render_template`` for a template rendered record after
  record (compiled once, its globals flattened once); the context class calls builtins (``dict.items``) without
  Jinja2's look-ups for ``pass_context`` markers a builtin cannot have. The sandbox's checks run as before.
- **Located.** Errors point at ``origin`` (where line 1 of the template text is: a ``.j2`` file, or a YAML scalar in
  a recipe or lockfile) shifted by the template line Jinja2 reports.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import hashlib
import itertools
import json
import random
import re
import string
import threading
import types
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, ItemsView, Iterable, Iterator, KeysView, Mapping, Sequence, ValuesView
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar, cast

import jinja2
import jinja2.compiler
import jinja2.constants
import jinja2.filters
import jinja2.meta
import jinja2.nodes
import jinja2.utils
from jinja2.exceptions import SecurityError
from jinja2.sandbox import MAX_RANGE, ImmutableSandboxedEnvironment, safe_range

from humc.errors import HumcError, RecipeError, Span, TextSpan, did_you_mean, lone_surrogate

MAX_RENDERED_CHARS = 16 << 20
"""The most characters one rendered instruction, prompt, format sentence or card may have (16 Mi: far above any
real passage, far below what a runaway loop produces)."""

MAX_POWER_BITS = 1 << 12
"""`a ** b` and `a * b` on integers may make a number of at most this many bits (4096); bigger ones take unbounded
time."""

MAX_TEMPLATE_STEPS = 200_000
"""The steps one render may take (calls of functions, methods and macros, the items of every ``range`` made and
every pass of a for loop), plus ``STEPS_PER_ITEM`` for each item of the values it is given. Real templates take a
few dozen; a loop in a loop over ``range(100000)`` would take 10^10."""

MAX_TEMPLATE_TAGS = 4096
"""The most `{{ … }}`, `{% … %}` and `{# … #}` tags one template may hold, checked before it is parsed: Jinja2 parses
and compiles about a thousand a second, so a template of a million (a few MiB) would keep `humc check` busy for an
hour. Real templates hold a few dozen."""

STEPS_PER_ITEM = 4
"""Steps a render may take besides ``MAX_TEMPLATE_STEPS`` for each character of a text it is given (each item of a
list or mapping): a template may walk a long document word by word (``text.split()``), calling a few methods for
each word, whatever the document's length."""

__all__ = ["MAX_RANGE", "MAX_RENDERED_CHARS", "MAX_POWER_BITS", "MAX_TEMPLATE_STEPS", "MAX_TEMPLATE_TAGS", "STEPS_PER_ITEM",
           "ITEMS_PER_STEP",
           "TEMPLATE_VARIABLES",
           "QuotedItems", "TemplateProblem", "environment",
           "render", "render_template", "syntax_problem", "TemplateRenderer", "template_problem", "template_span",
           "template_variables"]

TEMPLATE_VARIABLES = ("labels", "label_definitions", "guidelines", "rules", "columns", "option_labels",
                      "format_instruction", "roles")

ALLOWED = ("templates may use the variables humc gives them, their items and public attributes, and Jinja2's "
           "filters and tests; names starting with '_', Python internals (mro, __globals__, …) and methods that "
           "change a value (append, update, …) are refused")

# Attribute names refused at compile time besides those starting with '_': the sandbox's list of Python internals.
INTERNAL_ATTRIBUTES = frozenset({"mro", "func_globals", "func_code", "func_closure", "f_globals", "f_locals",
                                 "f_builtins", "f_back", "f_code", "tb_frame", "tb_next", "co_code", "im_func",
                                 "im_self", "gi_frame", "gi_code", "cr_frame", "cr_code", "ag_frame", "ag_code"})


# Statements that load another template (a file): refused at compile time, the environment has no loader.
LOADING_NODES: dict[type[jinja2.nodes.Node], str] = {
    jinja2.nodes.Include: "include", jinja2.nodes.Import: "import", jinja2.nodes.FromImport: "from … import",
    jinja2.nodes.Extends: "extends"}


class TemplateLimitError(jinja2.TemplateRuntimeError):
    """A template went over one of the limits above (raised while rendering)."""


_BUILTIN_CALLABLES = frozenset({types.BuiltinFunctionType, types.MethodWrapperType, types.WrapperDescriptorType,
                                types.MethodDescriptorType, types.ClassMethodDescriptorType})
_BUILTIN_TYPES = frozenset({dict, list, tuple, set, frozenset, str, int, float, bool})


class _Context(jinja2.runtime.Context):
    """Jinja2's context, with one shortcut: ``call`` of a builtin (``dict.items``, ``dict(…)``) skips the look-ups
    for ``pass_context``/``pass_environment`` markers (two failing attribute look-ups, i.e. two exceptions, per
    call): a builtin cannot carry them, so Jinja2 would find none and make the same call. The sandbox's own
    check (``is_safe_callable``) has run before, in ``SandboxedEnvironment.call``. The str methods that can make a
    text far longer than their input (``center``, ``join``, ``replace`` …) are checked here before they run.

    The context holds the render's step count (``_Steps``, set by ``_bounded``): macros, ``caller`` and recursive
    loops run in it, and a context derived from it (a scoped block's, which a loop may make once an item) shares it."""

    steps: _Steps

    def __getattr__(self, name: str) -> Any:
        if name == "steps":  # a context ``_bounded`` did not make (Jinja2's own ``Template.render``): a count of its own
            self.steps = _Steps({})
            return self.steps
        raise AttributeError(name)

    def derived(self, locals: dict[str, Any] | None = None) -> jinja2.runtime.Context:  # noqa: A002 (Jinja2's name)
        context = super().derived(locals)
        context.steps = self.steps  # type: ignore[attr-defined]  # a _Context (context_class)
        return context

    def call(__self, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (Jinja2's own signature)
        steps = __self.steps  # every call a template makes is one step (counted here: no extra frame per call)
        steps.left -= 1
        if steps.left < 0:
            _too_many_steps(steps)
        kind = type(__obj)
        if kind in _BUILTIN_CALLABLES or (kind is type and __obj in _BUILTIN_TYPES):
            kwargs.pop("_block_vars", None)
            kwargs.pop("_loop_vars", None)
            if kind is types.BuiltinMethodType and __obj.__name__ in _STR_WATCHED:
                if __obj.__name__ in _TEXT_MAKERS:
                    if __obj.__name__ == "translate" and isinstance(__obj.__self__, str) and args:
                        _check_translate(__obj.__self__, args[0])
                    return _whole(__obj(*args, **kwargs))
                if isinstance(__obj.__self__, _MADE):  # and int.to_bytes(length)
                    args = _checked_str_call(__obj.__self__, __obj.__name__, args, kwargs)
            try:
                return __obj(*args, **kwargs)
            except StopIteration:
                return __self.environment.undefined("value was undefined because a callable raised a"
                                                    " StopIteration exception")
        return super().call(__obj, *args, **kwargs)


class _TooManySteps(TemplateLimitError):
    """A render went over ``MAX_TEMPLATE_STEPS``."""


def _step_budget(variables: Mapping[str, Any]) -> int:
    """The steps a render given ``variables`` may take: ``MAX_TEMPLATE_STEPS``, and ``STEPS_PER_ITEM`` for each
    character of a text, item of a list or entry of a mapping among them (their top level: one ``len`` each)."""
    items = 0
    for value in variables.values():
        if isinstance(value, (str, list, tuple, dict)):
            items += len(value)
    return MAX_TEMPLATE_STEPS + STEPS_PER_ITEM * items


class _Steps:
    """The steps a render may still take (``left``) of its ``budget``: ``MAX_TEMPLATE_STEPS`` at first; the share of
    its ``variables`` (``_step_budget``) is added when those run out (most renders never get there)."""

    __slots__ = ("left", "budget", "variables")

    def __init__(self, variables: Mapping[str, Any]) -> None:
        self.left = self.budget = MAX_TEMPLATE_STEPS
        self.variables: Mapping[str, Any] | None = variables


def _too_many_steps(steps: _Steps, cause: str = "") -> None:
    """The steps ran out: the first time, the record's share is added; then the render stops. ``cause`` names the
    step that went over (a filter walking a huge value), when it is not a call or a loop."""
    if steps.variables is not None:
        share = _step_budget(steps.variables) - MAX_TEMPLATE_STEPS
        steps.variables = None
        steps.budget += share
        steps.left += share
        if steps.left >= 0:
            return
    raise _TooManySteps(f"{cause or 'the template'} takes more than {steps.budget} steps (calls, range items, loop "
                        "passes and items filters walk) in one render: "
                        + ("a value far longer than the record's" if cause else "a loop in a loop, a macro calling "
                           "itself more than once, or a text or list grown in a loop"))


@jinja2.pass_context
def _counted(context: _Context, iterable: Any) -> Any:
    """A for loop's iterable: each item is a step of the render, charged at once when it has a length (a loop in a
    loop over a record's text pays for every pass of the inner one), else as it comes."""
    try:
        size = len(iterable)
    except TypeError:
        return _counting(iterable, context.steps)
    steps = context.steps
    steps.left -= size
    if steps.left < 0:
        _too_many_steps(steps)
    return iterable


def _counting(iterable: Any, steps: _Steps) -> Iterator[Any]:
    """The items of an iterable without a length (a filter's generator), one step each."""
    for item in iterable:
        steps.left -= 1
        if steps.left < 0:
            _too_many_steps(steps)
        yield item


@jinja2.pass_context
def _range(context: _Context, *args: int) -> range:
    """The sandbox's ``range`` (at most ``MAX_RANGE`` items), each item one step of the render."""
    rng = safe_range(*args)
    steps = context.steps
    steps.left -= len(rng)
    if steps.left < 0:
        _too_many_steps(steps)
    return rng


# Filters that walk their value item by item (character by character) in Python: each item is a step of the render,
# charged before they run, so a value made huge (``(text * 16000) | sort``) stops at once instead of after minutes;
# a value of fewer than ``ITEMS_PER_STEP`` items walks free (the label lists the stdlib joins: no work added).
# The filters that walk it in C (``list``, ``length``, ``reverse``, ``json``) need no charge; ``join`` and ``zip``,
# which the stdlib templates use, charge in their own wrappers (``checked_join``, ``_zip``: no call added).
_WALKING_FILTERS = frozenset({"sort", "unique", "map", "select", "reject", "selectattr", "rejectattr", "groupby",
                              "min", "max", "sum", "batch", "slice", "dictsort", "random", "pprint", "wordwrap",
                              "urlize", "title"})


def _charge_walk(steps: _Steps, size: int, name: str) -> None:
    """The filter ``name`` walks ``size`` items: that many steps of the render."""
    steps.left -= size
    if steps.left < 0:
        _too_many_steps(steps, f"the {name} filter on a value of {size} items")


@jinja2.pass_context
def _zip(context: _Context, a: Any, b: Any) -> list[tuple[Any, Any]]:
    """``a | zip(b)``: the pairs as a list (template data: the shorter list wins), each pair a step."""
    try:
        if (size := min(len(a), len(b))) >= ITEMS_PER_STEP:
            _charge_walk(context.steps, size, "zip")
    except TypeError:  # an iterator: its pairs are charged as they come
        return list(_counting(zip(a, b, strict=False), context.steps))
    return list(zip(a, b, strict=False))


def _walking_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (the filter ``name``) charging the render one step per item of its value before it runs, and giving a
    list where ``fn`` gives an iterator (``_eager``'s work, in the same frame: no call more than ``_eager``'s). The
    wrapper takes the context and gives ``fn`` what Jinja2 would have (its ``pass_*`` mark: context, eval context,
    environment or nothing)."""
    mark = getattr(getattr(fn, "jinja_pass_arg", None), "name", None)

    @jinja2.pass_context
    def walking(context: _Context, value: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            size = len(value)
        except TypeError:  # an iterator: its items are charged as they come
            value = _counting(value, context.steps)
        else:
            if size >= ITEMS_PER_STEP:
                _charge_walk(context.steps, size, name)
        first = (context if mark == "context" else context.eval_ctx if mark == "eval_context"
                 else context.environment if mark == "environment" else None)
        result = fn(value, *args, **kwargs) if first is None else fn(first, value, *args, **kwargs)
        return list(result) if isinstance(result, Iterator) else result

    return functools.update_wrapper(walking, fn, assigned=("__name__", "__qualname__", "__doc__"), updated=())


_COUNTED = "humc:counted"  # the filter a for loop's iterable goes through: no template can spell its name


class _CodeGenerator(jinja2.compiler.CodeGenerator):
    """Jinja2's code generator, with ``a ~ b`` joined by ``environment.joined`` (bounded) instead of ``str_join``,
    and each for loop's iterable passed through ``_counted``."""

    def visit_Template(self, node: jinja2.nodes.Template, frame: jinja2.compiler.Frame | None = None) -> None:
        for loop in node.find_all(jinja2.nodes.For):  # before Jinja2 collects the filters the code uses
            loop.iter = jinja2.nodes.Filter(loop.iter, _COUNTED, [], [], None, None, lineno=loop.iter.lineno)
        super().visit_Template(node, frame)

    @jinja2.compiler.optimizeconst
    def visit_Compare(self, node: jinja2.nodes.Compare, frame: jinja2.compiler.Frame) -> None:
        """Jinja2's comparison, each operand but a literal checked first (``_Sandbox.compared``)."""
        self.write("(")
        self._compared_operand(node.expr, frame)
        for op in node.ops:
            self.write(f" {jinja2.compiler.operators[op.op]} ")
            self._compared_operand(op.expr, frame)
        self.write(")")

    def _compared_operand(self, node: jinja2.nodes.Expr, frame: jinja2.compiler.Frame) -> None:
        if isinstance(node, jinja2.nodes.Const):
            self.visit(node, frame)
            return
        self.write("environment.compared(")
        self.visit(node, frame)
        self.write(")")

    @jinja2.compiler.optimizeconst
    def visit_Concat(self, node: jinja2.nodes.Concat, frame: jinja2.compiler.Frame) -> None:
        self.write("environment.joined(context, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


_PADDING_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs", "to_bytes"})
_STR_CHECKED = _PADDING_METHODS | {"join", "replace"}  # str and bytes methods checked before they run
_MADE = (str, bytes, int)  # whose methods in _STR_CHECKED can make a long text (bytes from .encode(), int.to_bytes)
_SIZED = (str, bytes, list, tuple)  # what `+` and `*` make long
_TEXT_MAKERS = frozenset({"translate", "decode"})  # str/bytes methods that can make any character: checked after
#                                                   (and str.translate's length before)
_STR_WATCHED = _STR_CHECKED | _TEXT_MAKERS
_PADDING_FILTERS = ("center", "indent")


_NUMBERS = frozenset({int, float, bool})
_T = TypeVar("_T")


class _Sandbox(ImmutableSandboxedEnvironment):
    # intercepted: checked before they run (and never constant-folded at compile time)
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    context_class = _Context
    code_generator_class = _CodeGenerator

    def call_binop(self, context: jinja2.runtime.Context, op: str, left: Any, right: Any) -> Any:
        """``left op right`` for the intercepted operators, checked first (``+`` on numbers, the common case, first:
        every ``a + b`` of a template comes here)."""
        if op == "+":
            if type(left) not in _NUMBERS:
                _charge(context, _check_join(left, right))
        elif op == "*":
            if type(left) is int and type(right) is int:
                _check_product(left, right)
            else:
                _check_repeat(left, right)
        elif op == "**":
            _check_power(left, right)
        elif op == "%" and isinstance(left, (str, bytes)):
            _check_all_written(right if type(right) is tuple else (right,))
            _check_percent_widths(left if isinstance(left, str) else left.decode("latin-1"), right)
            return _whole(self.binop_table[op](left, right))
        return self.binop_table[op](left, right)  # what the sandbox's own call_binop does

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``text.format(…)`` / ``text.format_map(…)``: the sandbox's own wrapper, the widths checked first."""
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        text, by_map = value.__self__, value.__name__ == "format_map"

        @functools.wraps(wrapper)
        def checked(*args: Any, **kwargs: Any) -> str:
            _check_all_written(args)
            _check_all_written(kwargs.values())
            if by_map:
                _check_all_written(args[0].values() if args and isinstance(args[0], Mapping) else ())
                _check_brace_widths(text, (), args[0] if args and isinstance(args[0], Mapping) else {})
            else:
                _check_brace_widths(text, args, kwargs)
            return _whole(wrapper(*args, **kwargs))

        return checked

    @staticmethod
    def concat(pieces: Iterable[str]) -> str:
        """The text of a captured block (``{% set x %}…{% endset %}``, a macro's, ``caller()``'s, a filter block's),
        refused before it is joined when it is too long: its pieces may repeat one long text (``{{ big }}`` in a
        loop) far past the limit. The main text is bounded as it is rendered (``_bounded``)."""
        parts = pieces if type(pieces) is list else list(pieces)
        _check_length(sum(map(len, parts)), "a block's output")
        return "".join(parts)

    @staticmethod
    def compared(value: Any) -> Any:
        """An operand of a comparison (``==``, ``!=``, ``<``, ``in``; the ``eq`` test, ``sort``: ``_comparing``): a
        list, tuple or dict is compared item by item, nested ones too, so it is refused as writing it would be
        (``_check_written``: two lists each made of itself forty times over took days to compare); any other value
        passes as it is."""
        if type(value) in _NESTED:
            _check_written(value, "comparing")
        return value

    @staticmethod
    def joined(context: jinja2.runtime.Context, values: Sequence[Any]) -> str:
        """``a ~ b ~ …``: the values as text, joined; refused when the text is too long (before a loop that doubles it
        can double it again: joining takes no more memory than the values themselves hold)."""
        _check_all_written(values)
        text = "".join(map(str, values))
        _check_length(len(text), "joining values")
        _charge(context, len(text))
        return text


def _checked_str_call(text: str | bytes | int, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[Any, ...]:
    """The arguments of ``text.<name>(…)`` (a method in ``_STR_CHECKED`` of a str or bytes, or an int's ``to_bytes``)
    once checked: refused when the result would be too long. ``join``'s iterable comes back as a list (an iterator is
    read once: here, then by join)."""
    if name in _PADDING_METHODS:
        _check_width(*args, *kwargs.values())
        if name == "expandtabs":  # every tab may become `tabsize` spaces
            _check_per_line(text, "\t", args[0] if args else kwargs.get("tabsize", 8), "expanding tabs to")
    elif name == "join" and args:
        args = (list(args[0]), *args[1:])
        _check_separator(text, args[0])
    elif name == "replace" and len(args) >= 2:
        _check_replace(text, *args[:3])
    return args


def _whole(text: _T) -> _T:
    """A text a template made with ``%c``, ``{:c}``, ``translate`` or ``decode``, refused when it holds half of a
    UTF-16 surrogate pair (``'%c' % 55296``): no file can hold it, and the build would fail writing the record."""
    lone = lone_surrogate(text) if isinstance(text, str) and not text.isascii() else None
    if lone is not None:
        raise jinja2.TemplateRuntimeError(f"makes \\u{ord(lone):04x}, half of a UTF-16 surrogate pair, which no file "
                                          "can hold")
    return text


def _check_length(size: int, what: str) -> None:
    if size > MAX_RENDERED_CHARS:
        raise TemplateLimitError(f"{what} makes {size} items, over the limit of {MAX_RENDERED_CHARS}")


def _check_per_line(text: Any, mark: str, width: Any, what: str) -> None:
    """A text (or bytes) whose every ``mark`` (a line break, a tab) may take ``width`` more characters (an int, or a
    text's length)."""
    size = len(width) if isinstance(width, str) else width
    if isinstance(size, int) and size > 0:
        marks = text.count(mark.encode() if isinstance(text, bytes) else mark)
        _check_length(len(text) + size * (marks + 1), f"{what} {size}")


def _check_translate(text: str, table: Any) -> None:
    """``text.translate(table)``: a character the table maps to a text becomes that whole text, wherever it occurs."""
    if isinstance(table, Mapping):
        made = table.get  # str.translate looks characters up by code point
        _check_length(sum(n * (len(new) if isinstance(new := made(ord(ch)), str) else 1) for ch, n in Counter(text).items()),
                      "translating text")


def _check_join(left: Any, right: Any) -> int:
    """The size of ``left + right`` when both are texts or lists (0 otherwise), refused when it is too long."""
    if isinstance(left, _SIZED) and isinstance(right, _SIZED):
        _check_length(size := len(left) + len(right), "adding values")
        return size
    return 0


ITEMS_PER_STEP = 256
"""A long text or list made by ``~`` or ``+`` costs a step per this many items: copied whole each time, one grown in a
loop (``{% set ns.v = ns.v + part %}``) would take the square of its length in time, an hour before its size limit."""


def _charge(context: jinja2.runtime.Context, size: int) -> None:
    """The steps of making a text or list of ``size`` items (none for a short one)."""
    if size >= ITEMS_PER_STEP:
        steps: _Steps = context.steps  # type: ignore[attr-defined]  # a _Context (context_class)
        steps.left -= size // ITEMS_PER_STEP
        if steps.left < 0:
            _too_many_steps(steps)


def _check_width(*values: Any) -> None:
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool):
            _check_length(value, f"padding to width {value}")


# one %-conversion: (mapping key) flags (width) (.precision) length (type); `%%` is one with type %
_PERCENT_SPEC = re.compile(r"%(\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.?)", re.DOTALL)
_FORMATTER = string.Formatter()


def _check_percent_widths(text: str, args: Any) -> None:
    """``text % args``: the width and precision of each conversion (``%9999999s``, ``%.9999999f``, ``%*s`` taking
    its width from ``args``) checked before the text is made. Only widths count: a value formatted is not one."""
    values = args if isinstance(args, tuple) else (args,)
    at = 0
    for spec in _PERCENT_SPEC.finditer(text):
        if spec.group(4) == "%":  # `%%`: a literal percent sign, no value
            continue
        for size in spec.group(2, 3):
            if size == "*":
                _check_width(values[at] if at < len(values) else None)
                at += 1
            elif size:
                _check_width(int(size))
        at += spec.group(1) is None


def _check_brace_widths(text: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    """``text.format(*args, **kwargs)``: the widths and precisions in its fields' format specs (``{:>9999999}``),
    a nested field (``{:>{w}}``) by the value it takes, checked before the text is made. Only widths count: a value
    formatted is not one. A malformed text is left to ``format``, which raises the error."""
    try:
        fields = list(_FORMATTER.parse(text))
        auto = 0
        for _, name, spec, _ in fields:
            auto += name == ""
            for literal, inner, _, _ in _FORMATTER.parse(spec or ""):
                for digits in re.findall(r"\d+", literal):
                    _check_width(int(digits))
                if inner == "":
                    value, auto = (args[auto] if auto < len(args) else None), auto + 1
                elif inner is not None:
                    value = args[int(inner)] if inner.isdigit() and int(inner) < len(args) else kwargs.get(inner)
                else:
                    continue
                _check_width(int(value) if isinstance(value, str) and value.isdigit() else value)
    except ValueError:
        return


MAX_LIPSUM_WORDS = 100_000


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # noqa: A002 (Jinja2's names)
    """Jinja2's ``lipsum`` (filler text), refused before it runs when it could pass ``MAX_LIPSUM_WORDS``; the same
    text for the same arguments in every build (Jinja2's draws from the process's random state)."""
    if not all(isinstance(v, int) for v in (n, min, max)) or n * builtins.max(min, max) > MAX_LIPSUM_WORDS:
        raise TemplateLimitError(f"lipsum(n={n!r}, min={min!r}, max={max!r}) may make more than {MAX_LIPSUM_WORDS} "
                                 "words")
    draw = random.Random(f"lipsum {n} {min} {max}")
    words = jinja2.constants.LOREM_IPSUM_WORDS.split()
    paragraphs = []
    for _ in range(n):
        text = " ".join(draw.choice(words) for _ in range(draw.randint(builtins.min(min, max), builtins.max(min, max))))
        paragraphs.append(text[:1].upper() + text[1:] + ".")
    if html:
        return "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return "\n\n".join(paragraphs)


def _random_item(seq: Any) -> Any:
    """Jinja2's ``random`` filter made reproducible: an item chosen by a digest of the items, so the same values give
    the same item in every build (a template is a function of its record, README "Templates")."""
    items = list(seq)
    if not items:
        raise jinja2.TemplateRuntimeError("no random item: the sequence is empty")
    digest = hashlib.blake2b(repr(items).encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return items[int.from_bytes(digest, "big") % len(items)]


def _check_separator(separator: Any, items: Sequence[Any]) -> None:
    size = len(separator) if isinstance(separator, (str, bytes)) else len(str(separator))
    _check_length(size * max(0, len(items) - 1), "the separators of a join")


def _check_replace(text: Any, old: Any, new: Any, count: Any = None) -> None:
    if not isinstance(text, bytes):  # bytes.replace takes bytes (else it raises, as count does here)
        text, old, new = str(text), str(old), str(new)
    n = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        n = min(n, count)
    _check_length(len(text) + n * (len(new) - len(old)), "replacing text")


class QuotedItems(list[str]):
    """A list whose items a template's ``join`` writes as JSON strings when one of them holds the separator, so the
    text still reads as the items it holds: ``"Sci, Tech", "World"``, not ``Sci, Tech, World`` (three labels). An
    instruction's labels are given so only when their set has such a label (``one of these: {{ labels | join(', ') }}``);
    a plain list joins as it is."""


def _quoted(items: QuotedItems, separator: str) -> list[str]:
    if separator and any(separator in str(item) for item in items):
        return [json.encoder.encode_basestring(str(item)) for item in items]  # json.dumps(item, ensure_ascii=False)
    return list(items)


def _checked_filters(env: jinja2.Environment) -> None:
    """The filters that can make a text far longer than their input in one call, checked before they run: ``join``
    (its separator), ``replace``, ``wordwrap`` (its wrapstring), ``urlize`` (its target and rel, in every link),
    ``batch``/``slice`` with a fill value or count, ``tojson`` (its indentation), ``sum`` of lists.
    Each takes what Jinja2 passes its original first (``functools.wraps`` keeps the pass_eval_context mark)."""
    join, replace, wordwrap, batch, slice_ = (env.filters[n] for n in ("join", "replace", "wordwrap", "batch", "slice"))

    @jinja2.pass_context  # (after wraps, which copies join's own pass_eval_context mark)
    @functools.wraps(join)
    def checked_join(context: _Context, value: Any, d: str = "", attribute: Any = None) -> str:
        # join walks the items in Python (str() of each): one step each, charged before a list of them is made
        if type(value) is list or type(value) is QuotedItems or isinstance(value, str):
            if len(value) >= ITEMS_PER_STEP:
                _charge_walk(context.steps, len(value), "join")
            items = value if type(value) is list else _quoted(value, d) if type(value) is QuotedItems else list(value)
        else:  # an iterator is read once: here, then by join
            items = list(_counting(value, context.steps))
        _check_separator(d, items)
        return join(context.eval_ctx, items, d, attribute)  # type: ignore[no-any-return]

    @functools.wraps(replace)
    def checked_replace(eval_ctx: Any, s: Any, old: Any, new: Any, count: Any = None) -> str:
        _check_replace(s, old, new, count)
        return str(replace(eval_ctx, s, old, new, count))

    @functools.wraps(wordwrap)
    def checked_wordwrap(environment: Any, s: Any, *args: Any, **kwargs: Any) -> str:
        text, width = str(s), kwargs.get("width", args[0] if args else 79)
        wrap = kwargs.get("wrapstring", args[2] if len(args) > 2 else None)
        # two wrapped lines together are longer than the width (else they would be one): at most 2 * len / width
        # lines per paragraph, and a wrapstring between each two
        lines = 2 * len(text) // (width if isinstance(width, int) and width > 0 else 1) + text.count("\n") + 2
        _check_length(len(text) + lines * len(str(wrap or "\n")), "wrapping text")
        return str(wordwrap(environment, s, *args, **kwargs))

    @functools.wraps(batch)
    def checked_batch(value: Any, linecount: Any, fill_with: Any = None) -> Any:
        if fill_with is not None:
            _check_width(linecount)
        return batch(value, linecount, fill_with)

    @functools.wraps(slice_)
    def checked_slice(eval_ctx: Any, value: Any, slices: Any, fill_with: Any = None) -> Any:
        if isinstance(slices, int) and slices > MAX_RANGE:
            raise TemplateLimitError(f"slice({slices}) makes more than {MAX_RANGE} slices")
        return slice_(eval_ctx, value, slices, fill_with)

    tojson = env.filters["tojson"]

    @functools.wraps(tojson)
    def checked_tojson(eval_ctx: Any, value: Any, indent: Any = None) -> Any:
        if indent is not None:
            _check_indented(value, len(indent) if isinstance(indent, str) else indent)
        return tojson(eval_ctx, value, indent)

    urlize = env.filters["urlize"]

    @functools.wraps(urlize)
    def checked_urlize(eval_ctx: Any, value: Any, *args: Any, **kwargs: Any) -> str:
        extras = [*args[2:4], kwargs.get("target"), kwargs.get("rel")]  # written into every link made
        text = str(value)
        _check_length(len(text) + len(text.split()) * sum(len(str(e)) for e in extras if e), "making links")
        return str(urlize(eval_ctx, value, *args, **kwargs))

    sum_ = env.filters["sum"]

    @functools.wraps(sum_)
    def checked_sum(environment: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
        if not isinstance(start, (list, tuple)):
            return sum_(environment, iterable, attribute, start)
        parts = list(iterable)
        if attribute is not None:
            parts = list(map(jinja2.filters.make_attrgetter(environment, attribute), parts))
        return _concatenated(start, parts)

    env.filters.update(join=checked_join, replace=checked_replace, wordwrap=checked_wordwrap, batch=checked_batch,
                       slice=checked_slice, tojson=checked_tojson, sum=checked_sum, urlize=checked_urlize)


def _concatenated(start: list[Any] | tuple[Any, ...], parts: list[Any]) -> list[Any] | tuple[Any, ...]:
    """``sum(parts, start)`` of lists (or tuples) made in one pass and bounded like ``+``: Python adds them pair by
    pair, copying the growing list once per part (an hour for 16 Mi items in lists of a thousand)."""
    kind: type[list[Any]] | type[tuple[Any, ...]] = list if isinstance(start, list) else tuple
    for part in parts:
        if not isinstance(part, kind):
            raise TypeError(f'can only concatenate {kind.__name__} (not "{type(part).__name__}") to {kind.__name__}')
    _check_length(len(start) + sum(len(part) for part in parts), "adding values")
    return kind(itertools.chain(start, *parts))


def _check_indented(value: Any, width: Any) -> None:
    """``tojson(indent=width)`` writes each item of a list or object on a line of its own, ``width`` spaces per level
    of nesting: refused before it runs when those spaces alone would go over the limit (the walk stops there)."""
    if not isinstance(width, int) or width <= 0:
        return
    spaces, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, (list, tuple)) else ()
        for child in children:
            spaces += depth * width
            _check_length(spaces, f"indenting JSON by {width}")
            stack.append((child, depth + 1))


def _padding_filter(fn: Callable[..., Any], per_line: bool = False) -> Callable[..., Any]:
    """``center``/``indent``: the width is checked before the padded text is made (``per_line``: indent's, once per
    line of the text)."""

    @functools.wraps(fn)
    def padded(value: Any, *args: Any, **kwargs: Any) -> Any:
        _check_width(*args, *kwargs.values())
        if per_line:
            _check_per_line(str(value), "\n", args[0] if args else kwargs.get("width", 4), "indenting lines by")
        return fn(value, *args, **kwargs)

    return padded


def _format_filter(value: Any, *args: Any, **kwargs: Any) -> str:
    """Jinja2's ``format`` filter (``"%s, %s!"|format(greeting, name)``), its widths checked first."""
    _check_percent_widths(str(value), args or kwargs)
    return _whole(str(jinja2.filters.do_format(value, *args, **kwargs)))


def _check_repeat(left: Any, right: Any) -> None:
    """``seq * n``: refused when the result would hold more than ``MAX_RENDERED_CHARS`` items, counting the items
    and characters inside the items of a list (``[[[1] * 1000] * 1000] * 1000`` is short at every level, but
    writing it out, ``| json`` or ``| sort``, would walk 10^9 items)."""
    for seq, n in ((left, right), (right, left)):
        if isinstance(seq, _SIZED) and isinstance(n, int) and n > 0:
            size = _size(seq, {}) if isinstance(seq, (list, tuple)) else len(seq)
            if size * n > MAX_RENDERED_CHARS:
                nested = f" (holding {size} items)" if size != len(seq) else ""
                raise TemplateLimitError(f"repeating a value of length {len(seq)}{nested} {n} times goes over the "
                                         f"limit of {MAX_RENDERED_CHARS} items")


def _size(value: Any, seen: dict[int, int]) -> int:
    """The items and characters ``value`` holds, nested ones too, at least its length (a list seen twice is counted
    twice, but walked once: ``seen`` maps its id to its size); the walk stops once it passes ``MAX_RENDERED_CHARS``."""
    if isinstance(value, str):
        return len(value)
    if not isinstance(value, (list, tuple, dict)):
        return 1
    known = seen.get(id(value))
    if known is not None:
        return known
    inside = 0
    # a dict's keys and values, not its items: an item is a tuple made for the walk, whose id a later one may reuse
    for item in (itertools.chain(value.keys(), value.values()) if isinstance(value, dict) else value):
        inside += _size(item, seen)
        if inside > MAX_RENDERED_CHARS:
            break
    size = seen[id(value)] = max(len(value), inside)  # a list of n numbers holds n; of n empty lists, n too
    return size


def _check_power(base: Any, exp: Any) -> None:
    if isinstance(base, int) and isinstance(exp, int) and exp > 0 and base.bit_length() * exp > MAX_POWER_BITS:
        raise TemplateLimitError(f"{base} ** {exp} is a number of more than {MAX_POWER_BITS} bits")


def _check_product(left: int, right: int) -> None:
    """``a * b`` on integers: as bounded as ``**`` (a number squared in a loop doubles its bits each time: forty
    squarings of 3 make a number of 2**40 bits, multiplied for hours)."""
    if left.bit_length() + right.bit_length() > MAX_POWER_BITS + 1:
        raise TemplateLimitError(f"a product of a {left.bit_length()}-bit and a {right.bit_length()}-bit number is a "
                                 f"number of more than {MAX_POWER_BITS} bits")


_JSON = json.JSONEncoder(ensure_ascii=False)


_PLAIN = (str, int, float, bool, list, dict, tuple, type(None))
_LAZY = (types.GeneratorType, map, filter, zip, reversed, enumerate)


_NESTED = frozenset({list, tuple, dict})
_FLAT = frozenset({str, int, float, bool, type(None)})
_VIEWS = (KeysView, ValuesView, ItemsView)  # dict.items() and the like, written as dict_items([…])
# the filters that write their value (or their arguments) as text: str(), repr() or JSON of a whole list
_WRITING_FILTERS = frozenset({"string", "upper", "lower", "capitalize", "title", "trim", "center", "indent", "truncate",
                              "wordcount", "wordwrap", "replace", "striptags", "escape", "e", "forceescape", "urlencode",
                              "urlize", "format", "pprint", "json", "tojson", "join"})

# the filters and tests that compare the items of their values (``==`` on two lists walks both, nested ones too)
_COMPARING_FILTERS = frozenset({"sort", "unique", "min", "max", "dictsort", "groupby"})
_COMPARING_TESTS = frozenset({"==", "!=", "<", "<=", ">", ">=", "eq", "equalto", "ne", "lt", "lessthan", "le", "gt",
                              "greaterthan", "ge", "in"})


def _check_written(value: Any, doing: str = "writing") -> None:
    """A list, tuple or dict about to be written as text (or compared: ``doing``), refused when its text would pass
    ``MAX_RENDERED_CHARS``: counted without writing it (``_written_items``). A list made of itself twice, forty times
    over (``{% set ns.x = [ns.x, ns.x] %}``), holds 2**40 items in 40 lists: written whole, by Python's str() or json
    in one call, or compared with another such list (``==`` walks both item by item), it would run for days before
    any other limit could stop it."""
    if _written_items(value, {}) > MAX_RENDERED_CHARS:
        raise TemplateLimitError(f"{doing} a value that holds more than {MAX_RENDERED_CHARS} items and characters "
                                 "(a list that holds itself several times over?)")


def _comparing(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A test or filter that compares its values (``is eq``, ``is in``, ``sort``, ``max``), its values checked first."""

    @functools.wraps(fn)  # keeps Jinja2's pass_context / pass_environment marks
    def comparing(*args: Any, **kwargs: Any) -> Any:
        for value in args:
            _Sandbox.compared(value)
        return fn(*args, **kwargs)

    return comparing


def _written_items(value: list[Any] | tuple[Any, ...] | dict[Any, Any], seen: dict[int, int]) -> int:
    """The items writing ``value`` out walks, a list held in several places counted each time (each item is written
    as one character at least), each list walked once (``seen``: its id -> its count); texts and numbers are not
    walked at all, so a list of them costs one C-level pass. Stops once past ``MAX_RENDERED_CHARS``."""
    known = seen.get(id(value))
    if known is not None:
        return known
    count = 0
    for part in (value, value.values()) if type(value) is dict else (value,):  # a dict: its keys, then its values
        count += len(part)
        if _FLAT.issuperset(map(type, part)):
            continue
        for item in part:
            if isinstance(item, (list, tuple, dict)):
                count += _written_items(item, seen)
                if count > MAX_RENDERED_CHARS:
                    break
    seen[id(value)] = count
    return count


def _check_all_written(values: Iterable[Any]) -> None:
    for value in values:
        if type(value) in _NESTED:
            _check_written(value)
        elif isinstance(value, jinja2.utils.Namespace):  # written as <Namespace {…}>, its values whole
            _check_written(object.__getattribute__(value, "_Namespace__attrs"))
        elif isinstance(value, _VIEWS):
            _check_written(list(value))


def _writing(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that writes its value or its arguments as text (``_WRITING_FILTERS``), checking them first."""

    @functools.wraps(fn)  # keeps Jinja2's pass_context / pass_environment marks
    def writing(*args: Any, **kwargs: Any) -> Any:
        _check_all_written(args)
        _check_all_written(kwargs.values())
        return fn(*args, **kwargs)

    return writing


def _printable(value: Any) -> Any:
    """What a ``{{ … }}`` writes. A lazy sequence (``| map(…)``, ``| batch(2)``, ``| select`` without ``| list`` or
    ``| join``) is written as the list it yields, not as its repr, whose memory address would change the dataset from
    build to build; a function or another object that prints its address (``{{ text.upper }}``) is an error. A list
    whose text would be too long is refused before it is written (``_check_written``)."""
    kind: Any = type(value)
    if kind in _PLAIN or isinstance(value, jinja2.Undefined):  # an undefined value fails as it is written
        if kind in _NESTED:
            _check_written(value)
        return value
    if isinstance(value, _LAZY):
        value = list(value)
        _check_written(value)
        return value
    if callable(value) or (kind.__repr__ is object.__repr__ and kind.__str__ is object.__str__):
        raise jinja2.TemplateRuntimeError(f"writes a {type(value).__name__}, which has no text of its own (call a "
                                          f"method with its parentheses, e.g. text.upper())")
    _check_all_written((value,))
    return value


def _eager(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that gives the list where Jinja2's own gives a lazy sequence (``reverse``, ``map``, ``select``,
    ``batch``, …): a filter after it (``| reverse | upper``) would otherwise write the iterator's memory address."""

    @functools.wraps(fn)  # keeps Jinja2's pass_context / pass_environment marks
    def eager(*args: Any, **kwargs: Any) -> Any:
        value = fn(*args, **kwargs)
        return list(value) if isinstance(value, Iterator) else value

    return eager


@functools.lru_cache(maxsize=2)
def environment(flavour: str = "text") -> jinja2.Environment:
    """The shared sandboxed environment: ``text`` (instructions, prompts, format sentences) or ``document`` (card)."""
    if flavour == "document":
        env = _Sandbox(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False,
                       finalize=_printable)
    else:
        env = _Sandbox(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, trim_blocks=True,
                       lstrip_blocks=True, autoescape=False, finalize=_printable)
    env.filters.update({name: _padding_filter(env.filters[name], per_line=name == "indent") for name in _PADDING_FILTERS})
    env.filters["format"] = _format_filter
    _checked_filters(env)
    env.filters["zip"] = _zip
    env.filters["random"] = _random_item
    env.filters.update({name: _walking_filter(name, fn) if name in _WALKING_FILTERS else _eager(fn)
                        for name, fn in env.filters.items()})
    env.filters[_COUNTED] = _counted
    env.globals["range"] = _range
    env.globals["lipsum"] = _lipsum
    # JSON as IEPile writes it (keys in order, Unicode as is); Jinja2's own `tojson` sorts keys and escapes <>&'
    env.filters["json"] = _JSON.encode  # json.dumps(value, ensure_ascii=False), its encoder built once
    env.filters.update({name: _writing(env.filters[name]) for name in _WRITING_FILTERS})
    env.filters.update({name: _comparing(env.filters[name]) for name in _COMPARING_FILTERS})
    env.tests.update({name: _comparing(cast(Callable[..., Any], env.tests[name])) for name in _COMPARING_TESTS})
    return env


_WARNINGS = threading.Lock()  # warnings.catch_warnings changes process-wide state: one thread at a time


@functools.lru_cache(maxsize=256)
def _compiled(text: str, flavour: str) -> jinja2.Template:
    env = environment(flavour)
    with _WARNINGS, warnings.catch_warnings():
        # Python warns about constant code that always fails (``{{ 1[1:2] }}``: "'int' object is not subscriptable")
        warnings.simplefilter("error", SyntaxWarning)
        try:
            return env.from_string(text)
        except SyntaxError as exc:
            raise _ConstantFailure(str(exc.msg), _line_of_code(env, text, exc.lineno)) from None
        except jinja2.TemplateSyntaxError:
            raise
        except jinja2.TemplateError as exc:  # Jinja2's own folding of a constant part failed (``{{ 1[0] ~ x }}``)
            line = getattr(exc, "lineno", None) or _failing_constant_line(env.parse(text))
            raise _ConstantFailure(exc.message or str(exc), line) from None


class _ConstantFailure(jinja2.TemplateError):
    """Python refused the code Jinja2 made of a template: a constant part that fails whatever the record."""

    def __init__(self, message: str, lineno: int) -> None:
        super().__init__(message)
        self.lineno = lineno


def _line_of_code(env: jinja2.Environment, text: str, code_line: int | None) -> int:
    """The template line of line ``code_line`` of the Python code Jinja2 makes of ``text`` (its ``debug_info``:
    template line = code line pairs)."""
    source = str(env.compile(text, raw=True))  # the Python source only: not compiled, so no warning
    found = re.search(r"^debug_info = '([^']*)'", source, re.MULTILINE)
    pairs = [tuple(map(int, pair.split("="))) for pair in found.group(1).split("&") if pair] if found else []
    before = [line for line, code in pairs if code_line is not None and code <= code_line]
    return before[-1] if before else 1


def template_span(origin: Span | None, line: int, col: int = 1, width: int = 0) -> Span | None:
    """The file position of template line ``line`` (column ``col`` of it, ``width`` characters wide when known)
    when the template text starts at ``origin``. Every line starts at ``origin``'s column: 1 in a template file, the
    block's indentation in a YAML block scalar (an inline prompt, a lockfile paraphrase: ``expr_source``)."""
    if origin is None:
        return None
    if isinstance(origin, TextSpan):  # a YAML scalar's text: its lines may be folded, its characters escaped
        return origin.at(line, col, width)
    at = origin.col + col - 1
    row = origin.line + max(line, 1) - 1
    return Span(origin.file, row, at, row if width else None, at + width if width else None)


# ----------------------------------------------------------------------------- compile-time checks


@dataclass(frozen=True)
class TemplateProblem:
    """Why a template cannot be used, found without rendering it: E2011 (syntax, unknown variable) or E2012 (unsafe)."""

    message: str
    line: int
    code: str = "E2011"
    hint: str | None = None
    col: int = 1       # in the line, when known
    width: int = 0     # of what is wrong, when known

    def error(self, what: str, origin: Span | None, **kwargs: Any) -> RecipeError:
        """The located diagnostic: ``what`` names the template (e.g. "template 'ner/en_1'")."""
        return RecipeError(f"{what}: {self.message}", template_span(origin, self.line, self.col, self.width),
                           code=self.code,
                           hint=kwargs.pop("hint", None) or self.hint, **kwargs)



def _is_unsafe_name(name: str) -> bool:
    return name.startswith("_") or name in INTERNAL_ATTRIBUTES


def _unsafe_names(ast: jinja2.nodes.Template) -> Iterator[tuple[str, int]]:
    """(name, line) of each attribute, item or variable the template spells out that the sandbox would refuse."""
    for node in ast.find_all((jinja2.nodes.Getattr, jinja2.nodes.Getitem, jinja2.nodes.Filter, jinja2.nodes.Name)):
        name: Any = None
        if isinstance(node, jinja2.nodes.Getattr):
            name = node.attr
        elif isinstance(node, jinja2.nodes.Getitem) and isinstance(node.arg, jinja2.nodes.Const):
            name = node.arg.value
        elif isinstance(node, jinja2.nodes.Filter) and node.name == "attr" and node.args \
                and isinstance(node.args[0], jinja2.nodes.Const):
            name = node.args[0].value
        elif isinstance(node, jinja2.nodes.Name) and node.ctx == "load" and node.name.startswith("__"):
            name = node.name
        if isinstance(name, str) and _is_unsafe_name(name):
            yield name, node.lineno


def _bare_self(ast: jinja2.nodes.Template) -> bool:
    """The template writes Jinja2's `self` (not `self.block()`) and sets no `self` of its own."""
    selves = [node for node in ast.find_all(jinja2.nodes.Name) if node.name == "self"]
    through_attribute = {id(node.node) for node in ast.find_all(jinja2.nodes.Getattr)}
    return all(node.ctx == "load" for node in selves) and any(id(node) not in through_attribute for node in selves)


def _surrogate_literal(text: str, ast: jinja2.nodes.Template) -> TemplateProblem | None:
    """A string in the template holding half of a UTF-16 surrogate pair (``'\\ud83d'``: Jinja2 reads each \\u escape
    as one code point, so even a whole pair stays two halves), which no file can hold."""
    for const in ast.find_all(jinja2.nodes.Const):
        lone = lone_surrogate(const.value) if isinstance(const.value, str) else None
        if lone is not None:
            lines = text.splitlines()
            line = lines[const.lineno - 1] if const.lineno <= len(lines) else ""
            escape = re.search(rf"\\u{ord(lone):04x}", line, re.IGNORECASE)
            return TemplateProblem(f"template writes \\u{ord(lone):04x}, half of a UTF-16 surrogate pair, which no "
                                   "file can hold", const.lineno, col=escape.start() + 1 if escape else 1,
                                   width=6 if escape else 0, hint="write the character itself (🙂, not "
                                   "\\ud83d\\ude42): in a template's string a \\u escape is one UTF-16 half")
    return None


_TAG = re.compile(r"\{[{%#]")


def _parse(text: str, flavour: str) -> jinja2.nodes.Template | TemplateProblem:
    too_many = _too_many_tags(text)
    if too_many is not None:
        return too_many
    env = environment(flavour)
    try:
        ast = env.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        line, col = _syntax_place(env, text, exc)
        return TemplateProblem(f"template syntax error: {exc.message}", line, col=col)
    except RecursionError:
        return TemplateProblem("template nested too deeply to parse", 1, "E0010",
                               "write fewer levels of {% if %}, {% for %} or brackets inside one another")
    unknown = _unknown_filter_or_test(env, ast)
    if unknown is not None:
        return unknown
    for name, line in _unsafe_names(ast):
        return TemplateProblem(f"template uses '{name}', which the template sandbox refuses", line, "E2012", ALLOWED)
    surrogate = _surrogate_literal(text, ast)
    if surrogate is not None:
        return surrogate
    if _bare_self(ast):
        line, col = _first_use(text, "self")
        return TemplateProblem("template uses 'self', Jinja2's reference to the template's blocks: it writes "
                               "'<TemplateReference None>', not a text", line, col=col, width=4 if col > 1 else 0,
                               hint="call a block by name (`{{ self.name() }}`) or drop 'self'")
    for node in ast.find_all(tuple(LOADING_NODES)):
        tag = LOADING_NODES[type(node)]
        return TemplateProblem(f"template uses {{% {tag} %}}: templates cannot load other templates or files",
                               node.lineno, "E2012", "write the text into the template itself; humc templates have "
                                                     "no loader (include, import, extends are refused)")
    return ast


def _syntax_place(env: jinja2.Environment, text: str, exc: jinja2.TemplateSyntaxError) -> tuple[int, int]:
    """(line, column) of a syntax error: Jinja2 names only its line, which in a YAML folded scalar is several lines of
    the file. Parsed again with each space and tab a line break (the same template to Jinja2's lexer), the line it
    names is the word where parsing failed; (Jinja2's line, 1) when that parse fails otherwise."""
    spaced = text.replace(" ", "\n").replace("\t", "\n")
    try:
        env.parse(spaced)
    except jinja2.TemplateSyntaxError as again:
        if again.message == exc.message and again.lineno:
            starts = [0, *(m.end() for m in re.finditer("\n", spaced))]
            at = starts[min(again.lineno, len(starts)) - 1]
            if text.count("\n", 0, at) + 1 == exc.lineno:  # Jinja2's own line: the word is on it
                return exc.lineno, at - text.rfind("\n", 0, at)
    except RecursionError:
        pass
    return exc.lineno or 1, 1


def _too_many_tags(text: str) -> TemplateProblem | None:
    """E0010 at the tag past ``MAX_TEMPLATE_TAGS``, or None (a count of the text, once per template)."""
    if text.count("{") <= MAX_TEMPLATE_TAGS:
        return None
    tag = next(itertools.islice(_TAG.finditer(text), MAX_TEMPLATE_TAGS, None), None)
    if tag is None:
        return None
    line = text.count("\n", 0, tag.start()) + 1
    return TemplateProblem(f"template holds more than {MAX_TEMPLATE_TAGS} tags ({{{{ … }}}}, {{% … %}}, {{# … #}})",
                           line, "E0010", col=tag.start() - text.rfind("\n", 0, tag.start()), width=2,
                           hint="write the repeated part once, inside a {% for %} loop over a list")


def _unknown_filter_or_test(env: jinja2.Environment, ast: jinja2.nodes.Template) -> TemplateProblem | None:
    """A `| name` filter or an `is name` test the environment lacks (Jinja2 finds them only when compiling)."""
    for node in ast.find_all((jinja2.nodes.Filter, jinja2.nodes.Test)):
        kind, known = ("filter", env.filters) if isinstance(node, jinja2.nodes.Filter) else ("test", env.tests)
        if node.name not in known:
            spelt = [name for name in known if name != _COUNTED]  # humc's own loop filter is no name to suggest
            hint = did_you_mean(node.name, spelt) or f"the {kind}s are Jinja2's built-in ones, plus json and zip"
            return TemplateProblem(f"template uses unknown {kind} '{node.name}'", node.lineno, hint=hint)
    return None


def syntax_problem(text: str, *, flavour: str = "text") -> TemplateProblem | None:
    """A syntax error or unsafe construct in a template whose variables are not known in advance, or None."""
    parsed = _parse(text, flavour)
    return parsed if isinstance(parsed, TemplateProblem) else None


def template_variables(text: str) -> set[str]:
    """The variables a (syntactically valid) template reads from its caller."""
    return set(_variables(text))


@functools.lru_cache(maxsize=512)
def _variables(text: str) -> frozenset[str]:
    """``template_variables``, once per text: a recipe's entries share their stdlib templates (300 entries, 4 each)."""
    found = _undeclared(environment().parse(text))
    return frozenset() if isinstance(found, TemplateProblem) else frozenset(found)


def _undeclared(ast: jinja2.nodes.Template) -> set[str] | TemplateProblem:
    """The variables a parsed template reads from its caller. Jinja2 finds them by compiling the template, which
    folds constant expressions: one that always fails (``{{ 1[0] ~ text }}``) fails there, whatever the record."""
    try:
        return set(jinja2.meta.find_undeclared_variables(ast))
    except jinja2.TemplateError as exc:
        line = getattr(exc, "lineno", None) or _failing_constant_line(ast)
        return TemplateProblem(f"template fails whatever the record: {exc.message}", line)


def _failing_constant_line(ast: jinja2.nodes.Template) -> int:
    """The line of the first expression whose constant value fails (what Jinja2's folding raised for; 1 if none)."""
    context = jinja2.nodes.EvalContext(environment())
    for node in ast.find_all(jinja2.nodes.Expr):
        try:
            node.as_const(context)
        except jinja2.nodes.Impossible:
            continue
        except Exception:  # noqa: BLE001 - whatever folding raised is the failure being located
            return node.lineno or 1
    return 1


def template_problem(text: str, inputs: Sequence[str],
                     available: Sequence[str] = TEMPLATE_VARIABLES) -> TemplateProblem | None:
    """What is wrong with an instruction template before it renders (syntax, unsafe names, unknown variables), or None.

    ``inputs`` are the task's input fields; ``available`` the variables every render provides besides them.
    """
    return _template_problem(text, tuple(inputs), tuple(available))


@functools.lru_cache(maxsize=512)
def _template_problem(text: str, inputs: tuple[str, ...], available: tuple[str, ...]) -> TemplateProblem | None:
    """``template_problem``, once per (text, inputs, available): entries share their templates."""
    parsed = _parse(text, "text")
    if isinstance(parsed, TemplateProblem):
        return parsed
    used = _undeclared(parsed)
    if isinstance(used, TemplateProblem):
        return used
    try:
        _compiled(text, "text")
    except _ConstantFailure as exc:
        return TemplateProblem(f"template fails whatever the record: {exc.message}", exc.lineno)
    unknown = sorted(used - set(inputs) - set(available))
    if unknown:
        line, col = _first_use(text, unknown[0])
        known = [*inputs, *available]
        return TemplateProblem(f"template uses unknown variable(s) {', '.join(unknown)} (available: "
                               f"{', '.join(known)})", line, col=col, width=len(unknown[0]) if col > 1 else 0,
                               hint=did_you_mean(unknown[0], known))
    unshown = [name for name in inputs if name not in used]
    if unshown:  # an empty template, or one that forgot the text: every instruction would lack the input
        return TemplateProblem(f"template never shows the task input(s) {', '.join(unshown)}: no instruction would "
                               "hold the text it asks about", 1,
                               hint=f"add {{{{ {unshown[0]} }}}} where the input belongs in the instruction (inside "
                                    f"`{{% if {unshown[0]} %}}…{{% endif %}}` when it may be empty)")
    return None


def _first_use(text: str, name: str) -> tuple[int, int]:
    """(line, column) of the first place ``name`` stands as a word inside a `{{ … }}` or `{% … %}` (1, 1 if none)."""
    word = re.compile(rf"(?<![\w.]){re.escape(name)}(?!\w)")
    for block in re.finditer(r"\{\{.*?\}\}|\{%.*?%\}", text, re.DOTALL):
        hit = word.search(block.group())
        if hit is not None:
            at = block.start() + hit.start()
            line = text.count("\n", 0, at) + 1
            return line, at - (text.rfind("\n", 0, at) + 1) + 1
    return 1, 1


# ----------------------------------------------------------------------------- rendering


def _template_line(tb: TracebackType | None) -> int:
    """The template line of the innermost template frame of a traceback Jinja2 rewrote (1 when there is none)."""
    line = 1
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _bounded(template: jinja2.Template, variables: Mapping[str, Any], flat_globals: dict[str, Any] | None = None) -> str:
    """``template.render``, stopping as soon as the text grows past ``MAX_RENDERED_CHARS`` (the render loop of
    Jinja's ``Template.generate``, without its extra generator per chunk). The context is Jinja's own
    ``new_context`` (the template's globals overlaid with the variables, not shared), built in one step;
    ``flat_globals`` is ``dict(template.globals)`` when the caller keeps one (the globals are a ChainMap)."""
    parts: list[str] = []
    size = 0
    environment = template.environment
    flat = flat_globals if flat_globals is not None else template.globals
    context = environment.context_class(environment, dict(flat or (), **variables), template.name, template.blocks,
                                        globals=flat)  # the context keeps only the globals' names
    context.steps = _Steps(variables)  # type: ignore[attr-defined]  # a _Context (context_class)
    append = parts.append
    try:
        for chunk in template.root_render_func(context):
            size += len(chunk)
            if size > MAX_RENDERED_CHARS:
                break
            append(chunk)
    except Exception:
        environment.handle_exception()  # re-raised with the template's own line numbers
    if size > MAX_RENDERED_CHARS:
        raise TemplateLimitError(f"the rendered text is longer than {MAX_RENDERED_CHARS} characters")
    return "".join(parts)


def render(text: str, variables: Mapping[str, Any], where: str, origin: Span | None = None, *,
           flavour: str = "text") -> str:
    """Render ``text`` in the sandbox; every failure is a ``HumcError`` located at ``origin`` + the template line.

    ``where`` names the template in messages ("mrc_extractive/en_1", "variant json", "generate prompt").
    """
    try:
        template = _compiled(text, flavour)
    except jinja2.TemplateError as exc:
        raise _compile_error(exc, where, origin) from None
    return _render_compiled(template, variables, where, origin)


def precompile(text: str, flavour: str = "text") -> None:
    """Compile ``text`` now, so that a later ``render`` of it goes straight to rendering (a failure is left for that
    ``render`` to report, located)."""
    with contextlib.suppress(jinja2.TemplateError):
        _compiled(text, flavour)


def _compile_error(exc: jinja2.TemplateError, where: str, origin: Span | None) -> HumcError:
    """A template that does not compile: a syntax error (E2011), or a constant part that always fails, which Jinja2
    finds while compiling (``{{ 1[0] }}``; E4202, as when it fails rendering)."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return _located(RecipeError, where, f"template syntax error: {exc.message}", origin, exc.lineno or 1, "E2011")
    return _located(HumcError, where, f"fails whatever the record: {exc.message}", origin,
                    getattr(exc, "lineno", None) or 1, "E4202")


def _render_compiled(template: jinja2.Template, variables: Mapping[str, Any], where: str, origin: Span | None,
                     flat_globals: dict[str, Any] | None = None) -> str:
    """``_bounded``, its failures turned into located ``HumcError``s (see ``render``)."""
    try:
        return _bounded(template, variables, flat_globals)
    except SecurityError as exc:
        raise _located(RecipeError, where, f"unsafe: {exc}", origin, _template_line(exc.__traceback__), "E2012",
                       hint=ALLOWED) from None
    except (TemplateLimitError, OverflowError, RecursionError, MemoryError) as exc:
        message = ("goes over a limit: macros call each other too deeply" if isinstance(exc, RecursionError)
                   else f"goes over a limit: {exc}" if isinstance(exc, _TooManySteps)
                   else f"a number overflows: {exc}" if isinstance(exc, OverflowError)  # (1e308 * 10) | int
                   else f"the rendered text would be too long: {exc}")
        raise _located(HumcError, where, message, origin, _template_line(exc.__traceback__),
                       "E0010", hint=f"a rendered text may have at most {MAX_RENDERED_CHARS} characters and "
                                     f"range() at most {MAX_RANGE} items, and a render at most "
                                     f"{MAX_TEMPLATE_STEPS} steps (more for long values: "
                                     f"{STEPS_PER_ITEM} per character or item)") from None
    except jinja2.TemplateError as exc:
        line, col = _failure_place(exc, template, variables, origin)
        raise _located(HumcError, where, str(exc), origin, line, "E4202", col=col) from None
    except (ArithmeticError, TypeError, ValueError, LookupError, AttributeError, AssertionError) as exc:
        # the template's own code failed (Jinja asserts some filter arguments: truncate(-1))
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else f"{type(exc).__name__} (a filter argument out of range?)"
        line, col = _failure_place(exc, template, variables, origin)
        raise _located(HumcError, where, detail, origin, line, "E4202", col=col) from None


def _failure_place(exc: Exception, template: jinja2.Template, variables: Mapping[str, Any],
                   origin: Span | None) -> tuple[int, int]:
    """(line, column) in the template text of a render failure. Jinja2 names the line; in a YAML scalar whose folded
    line breaks joined several lines of the file into that line, the template is rendered again with those line
    breaks written (``TextSpan.lined``; the same text to Jinja2 but for its spaces), and the line that fails there is
    the file's. An error path only."""
    line = _template_line(exc.__traceback__)
    lined = origin.lined() if isinstance(origin, TextSpan) else None
    if not isinstance(origin, TextSpan) or lined is None or lined == origin.text:
        return line, 1
    try:
        _bounded(template.environment.from_string(lined), variables)
    except type(exc) as again:
        at = _line_start(lined, _template_line(again.__traceback__))
        if origin.text.count("\n", 0, at) + 1 == line:
            return line, at - origin.text.rfind("\n", 0, at)
    except Exception:  # noqa: BLE001, S110 - any other failure: Jinja2's line stands
        pass
    return line, 1


def _line_start(text: str, line: int) -> int:
    """The offset in ``text`` where its (1-based) line ``line`` starts."""
    at = 0
    for _ in range(line - 1):
        at = text.find("\n", at) + 1
        if at == 0:
            return len(text)
    return at


def _located(cls: type[HumcError], where: str, message: str, origin: Span | None, line: int, code: str,
             hint: str | None = None, col: int = 1) -> HumcError:
    """The error at the template line; without a file to point into, the message names the line."""
    span = template_span(origin, line, col)
    at = "" if span is not None else f", line {line}"
    return cls(f"template {where}{at}: {message}", span, code=code, hint=hint)


def render_template(text: str, variables: Mapping[str, Any], where: str, origin: Span | None = None) -> str:
    """An instruction, prompt or format sentence: rendered in the ``text`` flavour, stripped."""
    return render(text, variables, where, origin).strip()


class TemplateRenderer:
    """``render_template`` for one template rendered many times (an instruction template, record after record):
    ``TemplateRenderer(text, where, origin)(variables) == render_template(text, variables, where, origin)``, the
    same text or the same error. The template is compiled at the first call (a syntax error is raised where
    ``render_template`` raises it) and kept, so later calls go straight to the sandboxed render.

    ``holes`` (the record's own variables, e.g. ``text``) and ``key`` let a call reuse an earlier render: when the
    template only ever reads a hole to write it out as it is (``{{ text }}`` in the template's body, or in the body
    of an ``if`` or ``for`` there — never in an expression, a filter, a test, a set block or a macro),
    nothing the template does depends on the hole's value, so its text is the text rendered with a marker in the
    hole, the marker replaced by the value. ``key`` must name every other variable's value (the caller's promise);
    the text around the holes is rendered once per key, in the sandbox, and reused. A text over the size limit, a
    failing render or a hole value that is not a string goes the ordinary way (the same text or the same error)."""

    def __init__(self, text: str, where: str, origin: Span | None = None, holes: Sequence[str] = ()) -> None:
        self.text, self.where, self.origin, self.holes = text, where, origin, tuple(holes)
        self.template: jinja2.Template | None = None
        self.globals: dict[str, Any] = {}  # the template's globals, flattened once (nothing changes them)
        self.fillable: tuple[str, ...] | None = None  # the holes, when the template only writes them out
        self.pieces: dict[Any, tuple[tuple[str, ...], tuple[str, ...]] | None] = {}  # key -> (texts, holes between)

    def __call__(self, variables: Mapping[str, Any], key: Any = None) -> str:
        template = self.template
        if template is None:
            template = self._compile()
        if key is not None and self.fillable:
            filled = self._filled(template, variables, key)
            if filled is not None:
                return filled
        return _render_compiled(template, variables, self.where, self.origin, self.globals).strip()

    def _compile(self) -> jinja2.Template:
        try:
            template = _compiled(self.text, "text")
        except jinja2.TemplateError as exc:
            raise _compile_error(exc, self.where, self.origin) from None
        self.template, self.globals = template, dict(template.globals)
        ast = environment().parse(self.text)
        self.fillable = self.holes if self.holes and only_written_out(ast, self.holes) and not _draws(ast) else ()
        return template

    def _filled(self, template: jinja2.Template, variables: Mapping[str, Any], key: Any) -> str | None:
        """The text from the pieces rendered for ``key`` with the holes filled in, or None (render it instead)."""
        holes = self.fillable or ()
        values = {}
        for name in holes:
            value = variables.get(name)
            if type(value) is not str:
                return None
            values[name] = value
        try:
            known = key in self.pieces
        except TypeError:  # an unhashable key: no reuse
            return None
        if known:
            pieces = self.pieces[key]
        else:
            pieces = self._pieces(template, variables, holes)
            if len(self.pieces) >= 1024:
                self.pieces.clear()
            self.pieces[key] = pieces
        if pieces is None:
            return None
        texts, between = pieces
        parts = [texts[0]]
        for name, after in zip(between, texts[1:], strict=True):
            parts += (values[name], after)
        text = "".join(parts)
        return text.strip() if len(text) <= MAX_RENDERED_CHARS else None

    def _pieces(self, template: jinja2.Template, variables: Mapping[str, Any],
                holes: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        """The template rendered with a marker in each hole, cut at the markers: (texts, the hole between each
        two), or None when that render fails (the ordinary render then raises the error) or a marker shows up
        where it was not put."""
        markers = {name: f"\x00hole{uuid.uuid4().hex}\x00" for name in holes}
        try:
            text = _bounded(template, {**variables, **markers}, self.globals)
        except Exception:
            return None
        cut = re.split("(" + "|".join(re.escape(m) for m in markers.values()) + ")", text)
        names = {marker: name for name, marker in markers.items()}
        texts, between = tuple(cut[0::2]), tuple(names[m] for m in cut[1::2])
        if any("\x00hole" in t for t in texts):
            return None
        return texts, between


_PASS_THROUGH = (jinja2.nodes.Template, jinja2.nodes.Output, jinja2.nodes.If, jinja2.nodes.For)


def _draws(ast: jinja2.nodes.Template) -> bool:
    """Whether the template draws random text (``lipsum``, the ``random`` filter): each render differs."""
    return any(isinstance(node, jinja2.nodes.Name) and node.name == "lipsum"
               or isinstance(node, jinja2.nodes.Filter) and node.name == "random"
               for node in ast.find_all((jinja2.nodes.Name, jinja2.nodes.Filter)))


def only_written_out(ast: jinja2.nodes.Template, names: Sequence[str]) -> bool:
    """Whether the template reads each of ``names`` only to write it out as it is (``{{ name }}``), in its body or
    in the body of an ``if``/``for`` there: then nothing it does depends on their values."""
    wanted = set(names)

    def visit(node: jinja2.nodes.Node, plain: bool) -> bool:
        # plain: every ancestor passes the output straight through (Template, If, For bodies, Output)
        for field, value in node.iter_fields():
            children = value if isinstance(value, list) else [value]
            for child in children:
                if not isinstance(child, jinja2.nodes.Node):
                    continue
                if isinstance(child, jinja2.nodes.Name) and child.name in wanted:
                    # a load anywhere else could act on the value; a store (a loop variable or `set` of the same
                    # name) binds a value computed without reading the hole, which both renders write alike
                    if child.ctx == "load" and not (plain and isinstance(node, jinja2.nodes.Output)):
                        return False
                    continue
                in_body = field in ("body", "else_", "elif_", "nodes")
                if not visit(child, plain and in_body and isinstance(child, _PASS_THROUGH)):
                    return False
        return True

    return visit(ast, True)
