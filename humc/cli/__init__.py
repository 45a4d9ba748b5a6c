"""humc's command line: every click object, and nothing else.

``HumcGroup`` loads each subcommand's module only when it runs (``humc --help`` imports no pyarrow,
openai or Ray) and turns failures into exit codes: a ``HumcError`` prints as a compiler diagnostic
(text, or JSON with ``--format json``) and exits 2, and so does a usage error click catches, worded as one
(E9001, ``cli/usage.py``; hooked here once, in ``parse_args`` and ``invoke``, for every command); Ctrl-C exits 130
and SIGTERM (``kill``, a CI timeout, ``docker stop``) 143 (SIGHUP, a closed terminal, 129), each after the same
clean-up (a build's temporary folder removed, its locks let go) and one line; anything else is a bug in humc,
reported in one line with exit 3 (``HUMC_DEBUG=1`` shows the traceback; 0, false, no, off or empty do not). Each
command's body calls one public function of a lower package.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from types import FrameType
from typing import IO, Any, NoReturn

import click

from humc import __version__
from humc.cli.system import open_std_streams, preload_numpy, system_error
from humc.cli.usage import usage_error, wants_json
from humc.errors import HumcError

# name -> ("module:attribute", one-line help for `humc --help`, which must not import the command)
COMMANDS = {
    "check": ("humc.cli.build:check", "Validate a recipe and dry-run its first rows, without building."),
    "plan": ("humc.cli.build:plan", "Print the execution graph, resolved paths and cache state."),
    "build": ("humc.cli.build:build_cmd", "Build the dataset a recipe describes."),
    "push": ("humc.cli.push:push", "Publish a built dataset to the Hugging Face Hub."),
    "synth": ("humc.cli.synth:synth", "Ask the recipe's models to propose instruction assets for review."),
    "review": ("humc.cli.review:review_cmd", "Accept, edit or reject proposals (terminal or local web page)."),
    "stdlib": ("humc.cli.stdlib:stdlib_cmd", "List the standard library."),
    "schema": ("humc.cli.schema:schema_cmd", "Print the JSON Schema of recipes, for editors (--out FILE writes it)."),
    "explain": ("humc.cli.explain:explain", "Explain a diagnostic code (e.g. humc explain E2003)."),
    "cache": ("humc.cli.cache:cache_cmd", "Show, check and reclaim the build cache."),
    "eval": ("humc.cli.eval:eval_cmd", "Score a model (or predictions) on a built dataset; compare two reports."),
    "export": ("humc.cli.export:export_cmd", "Export a built dataset for training tools (alpaca, sharegpt, LLaMA-Factory, lm-eval)."),
}
FORMAT_KEY = "humc.format"
STDOUT_KEY = "humc.stdout"  # the real stdout, kept for the JSON verdict while the human report goes to stderr
WORDS_KEY = "humc.words"  # the words after humc's own options: the subcommand and its arguments
ARGV_KEY = "humc.argv"  # the command line's words, to find `--format json` when parsing failed before reading it
RESULT_KEY = "humc.result"  # a command's data (e.g. `humc stdlib` listings), added to the JSON verdict on success


class HumcGroup(click.Group):
    """A group whose subcommands are imported lazily and whose errors become exit codes."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        open_std_streams()
        return super().main(*args, **kwargs)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attr = COMMANDS[cmd_name][0].split(":")
        command: click.Command = getattr(importlib.import_module(module), attr)
        return command

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """humc's own options (``humc --format xml``); the raw words are kept to tell ``--format json`` from text
        when a usage error stops parsing before that option's callback runs."""
        ctx.meta[ARGV_KEY] = list(args)
        try:
            return super().parse_args(ctx, args)
        except click.exceptions.NoArgsIsHelpError:  # bare `humc`: its help, as click prints it
            raise
        except click.exceptions.UsageError as exc:
            report_usage(exc, ctx)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, short) for name, (_, short) in COMMANDS.items()])

    def invoke(self, ctx: click.Context) -> Any:
        ctx.meta[WORDS_KEY] = [*getattr(ctx, "_protected_args", []), *ctx.args]  # click empties them as it goes
        try:
            preload_numpy()  # under `ulimit -v` only: before a thread or a record takes the room OpenBLAS needs
            with _terminate_as_interrupt():
                result = super().invoke(ctx)
        except HumcError as exc:
            report_error(exc, ctx.meta.get(FORMAT_KEY, "text"), ctx.meta.get(STDOUT_KEY))
        except Terminated as exc:
            with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
                click.echo("\nterminated: finished work is saved; run the same command again to resume", err=True)
                _echo_notes(exc)
            sys.exit(128 + exc.signum)
        except (KeyboardInterrupt, click.exceptions.Abort) as exc:  # Ctrl-C, or end of input at a prompt
            click.echo("\ninterrupted: finished work is saved; run the same command again to resume", err=True)
            _echo_notes(exc)
            sys.exit(130)
        except BrokenPipeError:  # the reader of our output went away (`humc explain | head`): not an error of ours
            sys.stdout = open(os.devnull, "w")  # kept open: the interpreter flushes stdout at exit
            sys.exit(0)
        except click.exceptions.NoArgsIsHelpError:  # a bare group (`humc cache`): its help, as click prints it
            raise
        except click.exceptions.UsageError as exc:  # any command's or group's: one place for all of them
            report_usage(exc, ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, SystemExit):
            raise
        except RecursionError:  # last resort: humc/limits.py bounds nesting first, with a location
            report_error(HumcError("input nested too deeply to process", code="E0010",
                                   hint="flatten the recipe or the data; humc bounds nesting depth"),
                         ctx.meta.get(FORMAT_KEY, "text"), ctx.meta.get(STDOUT_KEY))
        except Exception as exc:  # an internal bug, not bad input, unless the machine ran out of memory, files, a folder
            if (known := system_error(exc)) is not None:
                report_error(known, ctx.meta.get(FORMAT_KEY, "text"), ctx.meta.get(STDOUT_KEY))
            if os.environ.get("HUMC_DEBUG", "").strip().lower() not in ("", "0", "false", "no", "off"):
                traceback.print_exc()
            click.echo(f"internal error: {type(exc).__name__}: {exc}\n"
                       "  this is a bug in humc; set HUMC_DEBUG=1 for a traceback and please report it", err=True)
            if ctx.meta.get(FORMAT_KEY) == "json":
                _echo_json({"ok": False, "exit_code": 3, "diagnostics": []}, ctx.meta.get(STDOUT_KEY))
            sys.exit(3)
        if ctx.meta.get(FORMAT_KEY) == "json":  # success: the human report went to stderr, the verdict is JSON
            _echo_json({"ok": True, "exit_code": 0, "diagnostics": [], **ctx.meta.get(RESULT_KEY, {})},
                       ctx.meta.get(STDOUT_KEY))
        return result


def _echo_notes(exc: BaseException) -> None:
    """The notes a clean-up left on an interruption (``__notes__``: a push removing the branch it had created)."""
    for note in getattr(exc, "__notes__", None) or ():
        click.echo(f"  note: {note}", err=True)


class Terminated(KeyboardInterrupt):
    """SIGTERM (or SIGHUP: the terminal closed, the SSH session dropped), raised in the main thread like Ctrl-C's
    KeyboardInterrupt: every clean-up Ctrl-C runs runs for it too; the exit code is 128 + the signal's number."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum: int, frame: FrameType | None, *, owner: int) -> None:
    if os.getpid() != owner:  # a render worker forked an instant before its start-up resets the handler: end quietly
        os._exit(128 + signum)
    raise Terminated(signum)


ENDING_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise ``Terminated`` in the main thread while a command runs (Python's default would end
    the process on the spot: a build's temporary folder and lock files left behind, no word on stderr); the previous
    handlers come back afterwards. Render workers set their own (``build/parallel.py``)."""
    if threading.current_thread() is not threading.main_thread():  # signal handlers live in the main thread only
        yield
        return
    handler = functools.partial(_raise_terminated, owner=os.getpid())
    previous = {signum: signal.signal(signum, handler) for signum in ENDING_SIGNALS}
    try:
        yield
    finally:
        for signum, before in previous.items():
            signal.signal(signum, before)


def _echo_json(data: dict[str, Any], stdout: IO[str] | None) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=1), file=stdout or sys.stdout)


def report_error(exc: HumcError, fmt: str, stdout: IO[str] | None = None) -> NoReturn:
    """Print a diagnostic (compiler text on stderr, or JSON on stdout) and exit with its code."""
    if fmt == "json":
        _echo_json({"ok": False, "exit_code": exc.exit_code, "diagnostics": exc.diagnostics()}, stdout)
    else:
        click.echo(exc.render(), err=True)
    if exc.exit_at_once:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:  # None: a stream closed when humc started (`>&-`)
                stream.flush()
        os._exit(exc.exit_code)
    sys.exit(exc.exit_code)


def report_usage(exc: click.exceptions.UsageError, ctx: click.Context) -> NoReturn:
    """A usage error click caught (unknown option or command, missing argument, bad value) as an E9001 diagnostic,
    text or JSON like every other error (``cli/usage.py`` words it)."""
    json_mode = ctx.meta.get(FORMAT_KEY) == "json" or wants_json(ctx.meta.get(ARGV_KEY, []))
    report_error(usage_error(exc, ctx, ctx.meta.get(WORDS_KEY, [])), "json" if json_mode else "text", ctx.meta.get(STDOUT_KEY))


def _set_format(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """`--format json`: keep stdout for the JSON verdict and send the human report to stderr."""
    if value:
        ctx.meta[FORMAT_KEY] = value
    if value == "json" and STDOUT_KEY not in ctx.meta:
        ctx.meta[STDOUT_KEY] = sys.stdout
        ctx.find_root().with_resource(contextlib.redirect_stdout(sys.stderr))
    return value


@click.group(cls=HumcGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="humc")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default=None, expose_value=False,
              callback=_set_format, is_eager=True,
              help="How errors are reported: compiler text on stderr (default) or JSON on stdout, for editors and CI.")
def main() -> None:
    """humc — compile Hum recipes (.hum.yaml) into diverse NLU instruction datasets."""
