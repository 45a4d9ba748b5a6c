"""Command-line usage errors in humc's one voice: click's ``UsageError`` becomes an E9001 ``HumcError``.

click catches a mistyped command line itself (unknown option or command, missing argument, bad or missing value)
and would print it in its own style (``Usage: … Error: …``). ``HumcGroup`` (``cli/__init__.py``) hands each such
error to ``usage_error``, which words it as every other diagnostic: a message, ``expected:`` (what the option or
argument takes, read from its declaration) and ``hint:`` (click's did-you-mean, else ``humc COMMAND --help``).
Decision: click's ``Usage:`` line is dropped, except as the ``expected:`` of a missing or extra argument, where the
command's shape is exactly what is expected; elsewhere the hint names the help that shows it in full.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import click

from humc.errors import HumcError, did_you_mean, missing_file_hint

CODE = "E9001"


def command_path(ctx: click.Context | None) -> str:
    """``humc build`` / ``humc cache info``: the command as a user types it, whatever the program was called."""
    names: list[str] = []
    while ctx is not None and ctx.parent is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(["humc", *reversed(names)])


def wants_json(args: Sequence[str]) -> bool:
    """Whether the command line asks for ``--format json`` (read from the words themselves: a usage error may stop
    parsing before the option's callback has run)."""
    words = list(args)
    for i, word in enumerate(words):
        if word == "--":
            return False
        if word == "--format=json" or (word == "--format" and words[i + 1:i + 2] == ["json"]):
            return True
    return False


def takes(param: click.Parameter) -> str:
    """What a parameter takes, in words, from its declaration (type, range, choices)."""
    kind = param.type
    if isinstance(param, click.Option) and param.is_flag:
        return "no value (a flag)"
    if isinstance(kind, click.Choice):
        what = "one of: " + ", ".join(str(c) for c in kind.choices)
    elif isinstance(kind, click.Path):
        what = "a file path" if not kind.dir_okay else "a folder path" if not kind.file_okay else "a path"
        if kind.exists:
            what = "an existing " + what.removeprefix("a ")
    elif isinstance(kind, (click.IntRange, click.FloatRange)):
        noun = "an integer" if isinstance(kind, click.IntRange) else "a number"
        if kind.min is not None and kind.max is not None:
            what = f"{noun} from {kind.min} to {kind.max:,}"
        else:
            bounds = [f"≥ {kind.min}" if kind.min is not None else "", f"≤ {kind.max}" if kind.max is not None else ""]
            what = " ".join([noun, *[b for b in bounds if b]])
    elif kind is click.INT:
        what = "an integer"
    elif kind is click.FLOAT:
        what = "a number"
    elif kind is click.BOOL:
        what = "true or false"
    elif param.metavar:  # a type of humc's own (`--rows N|all`): its metavar and what its help says
        what = param.metavar + _help_of(param)
    else:
        what = "a text value" + _help_of(param)
    if param.nargs > 1:
        what = f"{param.nargs} values, each {what}"
    if isinstance(param, click.Option):
        return f"{_names(param)} takes {what}"
    return f"{_names(param)}: {what}"


def _help_of(param: click.Parameter) -> str:
    text = getattr(param, "help", None) or ""
    first = text.split(". ")[0].split(" (")[0].strip().rstrip(".")
    return f" ({first[:1].lower() + first[1:]})" if first else ""


def _names(param: click.Parameter) -> str:
    if isinstance(param, click.Option):
        return " / ".join(param.opts)
    return param.metavar or (param.name or "").upper()


def _option(ctx: click.Context | None, name: str | None) -> click.Parameter | None:
    if ctx is None or name is None:
        return None
    return next((p for p in ctx.command.params if name in p.opts or name in p.secondary_opts), None)


def _help_hint(path: str, ctx: click.Context | None) -> str:
    if ctx is not None and isinstance(ctx.command, click.Group):
        return f"`{path} --help` shows its commands and options"
    return f"`{path} --help` shows the command's options"


def _usage_line(ctx: click.Context | None, path: str) -> str:
    if ctx is None:
        return path
    pieces = ctx.command.collect_usage_pieces(ctx)
    return " ".join([path, *pieces])


def _unknown_command(ctx: click.Context, path: str, exc: click.UsageError) -> HumcError | None:
    """``No such command 'x'`` from a group: named with a did-you-mean over the group's own commands."""
    group = ctx.command
    if not isinstance(group, click.Group) or not exc.message.startswith("No such command"):
        return None
    names = group.list_commands(ctx)
    given = "".join(exc.message.split("'")[1:2])
    return HumcError(f"unknown command '{given}' for {path}", code=CODE, expected="one of: " + ", ".join(names),
                     hint=did_you_mean(given, names) or _help_hint(path, ctx))


def failing_context(ctx: click.Context, words: list[str]) -> click.Context:
    """The context of the (sub)command ``words`` (what followed ``ctx``'s own options) name: click's parser raises
    some errors (``--out`` without its value) with no context, so the command they belong to is found again from
    the words, parsed leniently."""
    try:
        while isinstance(ctx.command, click.Group) and words:
            name, command, rest = ctx.command.resolve_command(ctx, words)
            if name is None or command is None:
                break
            ctx = command.make_context(name, rest, parent=ctx, resilient_parsing=True)
            words = [*getattr(ctx, "_protected_args", []), *ctx.args]
    except click.UsageError:  # pragma: no cover - the words were resolved once already
        pass
    return ctx


def usage_error(exc: click.UsageError, within: click.Context | None = None, words: Sequence[str] = ()) -> HumcError:
    """The E9001 diagnostic for one of click's usage errors (``within`` and the ``words`` after its options: where
    it was caught, used when click gives the error no context)."""
    ctx = exc.ctx or (failing_context(within, list(words)) if within is not None else None)
    path = command_path(ctx)
    hint = _help_hint(path, ctx)
    if isinstance(exc, click.NoSuchOption):
        options = sorted({o for p in (ctx.command.params if ctx else []) if isinstance(p, click.Option)
                          for o in p.opts if o.startswith("--")} | {"--help"})
        if exc.possibilities:
            hint = "did you mean " + " or ".join(f"'{p}'" for p in sorted(exc.possibilities)) + "?"
        return HumcError(f"unknown option '{exc.option_name}' for {path}", code=CODE,
                         expected="one of its options: " + ", ".join(options), hint=hint)
    if isinstance(exc, click.MissingParameter) and exc.param is not None:
        param = exc.param
        if isinstance(param, click.Argument):
            return HumcError(f"missing argument {_names(param)} for {path}", code=CODE,
                             expected=_usage_line(ctx, path) + f" ({takes(param)})", hint=hint)
        return HumcError(f"missing option {_names(param)} for {path}", code=CODE, expected=takes(param), hint=hint)
    if isinstance(exc, click.BadParameter):
        detail = _bad_value_words(exc.message)
        if exc.param is None:
            return HumcError(f"invalid value: {detail}", code=CODE, hint=hint)
        return HumcError(f"invalid value for {_names(exc.param)}: {detail}", code=CODE, expected=takes(exc.param),
                         hint=_value_hint(exc.param, exc.message) or hint)
    option = _option(ctx, exc.option_name) if isinstance(exc, click.BadOptionUsage) else None
    if isinstance(exc, click.BadOptionUsage) and option is not None:
        if " requires " in exc.message:
            values = "a value" if option.nargs == 1 else f"{option.nargs} values"
            return HumcError(f"option {exc.option_name} needs {values}", code=CODE, expected=takes(option), hint=hint)
        return HumcError(_words(exc.message), code=CODE, expected=takes(option), hint=hint)
    if ctx is not None:
        unknown = _unknown_command(ctx, path, exc)
        if unknown is not None:
            return unknown
    return HumcError(_words(exc.message), code=CODE, expected=_usage_line(ctx, path), hint=_extra_hint(ctx, exc) or hint)


def _extra_hint(ctx: click.Context | None, exc: click.UsageError) -> str | None:
    """`humc build RECIPE out/`: the output root is an option; `humc build a.hum.yaml b.hum.yaml`: one recipe a run."""
    extra = re.match(r"^Got unexpected extra arguments? \((.+)\)$", exc.message)
    if extra is None or ctx is None or ctx.command.name not in ("build", "plan"):
        return None
    if extra[1].endswith((".yaml", ".yml")):
        return f"`humc {ctx.command.name}` takes one recipe: run it once for each"
    if " " in extra[1]:
        return None
    return f"the output root is an option: `humc {ctx.command.name} RECIPE --out {extra[1]}`"


# the parameters that take a recipe (or a lockfile beside one): the only ones a folder's recipes are a hint for
_RECIPE_PARAMS = frozenset({"recipe", "recipes", "target"})


def _value_hint(param: click.Parameter, message: str) -> str | None:
    """A did-you-mean for a misspelt choice (`--to alpacca`) or a file that does not exist (`--predictions`)."""
    choice = re.match(r"^'([^']*)' is not ", message)
    if choice is not None and isinstance(param.type, click.Choice):
        return did_you_mean(choice[1], [str(c) for c in param.type.choices])
    missing = re.match(r"^(?:File|Directory|Path|File or directory) '(.+)' does not exist", message)
    if missing is not None:
        return missing_file_hint(missing[1])
    folder = re.match(r"^(?:File|Path) '(.+)' is a directory", message)  # `humc build recipes`
    if param.name not in _RECIPE_PARAMS:  # `humc schema --out recipes`: naming a recipe would write over it
        return None
    recipes = sorted(p.as_posix() for p in Path(folder[1]).glob("*.hum.y*ml"))[:5] if folder is not None else []
    return f"name a recipe in it: {', '.join(recipes)}" if recipes else None


# click's wordings of a bad value, in humc's (the range itself is in the diagnostic's `expected:`)
_BAD_VALUE_WORDS = ((re.compile(r"^(.+) is not in the range .+$"), r"\1 is out of range"),
                    (re.compile(r"^(.+) is not a valid integer range$"), r"\1 is not an integer"),
                    (re.compile(r"^Directory (.+) is a file$"), r"\1 is a file, not a folder"),
                    (re.compile(r"^File (.+) is a directory$"), r"\1 is a folder, not a file"))


def _bad_value_words(message: str) -> str:
    detail = message.strip().rstrip(".")
    for pattern, words in _BAD_VALUE_WORDS:
        if pattern.match(detail):
            return pattern.sub(words, detail)
    return detail


def _words(message: str) -> str:
    """click's sentence as a diagnostic message: lower-case start, no final full stop."""
    text = message.strip().rstrip(".")
    return text[:1].lower() + text[1:] if text[1:2].islower() or text[1:2] == " " else text
