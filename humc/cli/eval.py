"""`humc eval`: score a model (or predictions made elsewhere) on a built dataset split, or compare two reports."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click
from rich.markup import escape

from humc.build.compiler import load_recipe
from humc.build.store import LLM_FOLDER
from humc.cli.params import FolderPath, NamedPath, OutConsole, format_opt, refuse_foreign_file, refuse_out_beside_folder
from humc.dataset.export import refuse_inside
from humc.errors import HumcError, did_you_mean
from humc.eval.hf import HFModelSpec, TransformersPredictor
from humc.eval.predict import ChatPredictor, FilePredictions, Predictor
from humc.eval.report import compare, compare_notes, compare_table, markdown, read_report, tables, write_json
from humc.eval.run import evaluate
from humc.eval.scoring import Resolver
from humc.ir import Recipe
from humc.llm.client import ModelConfig

DEFAULT_CACHE = Path(".humc/cache")
DEFAULT_MAX_TOKENS = 1024  # an answer length limit, unless --max-tokens (or a recipe model's max_tokens) says otherwise


def _refuse_overwriting(report: Path | None, markdown: Path | None, *inputs: Path | None) -> None:
    """E9001 when --report and --markdown name one file, or either names an input (--predictions, --compare): the
    later write replaced the earlier file, or the model's answers, and the command said it wrote both."""
    written = [(option, path) for option, path in (("--report", report), ("--markdown", markdown)) if path is not None]
    taken = [("--report", report)] if report is not None else []
    taken += [("--predictions" if len(inputs) == 1 else "--compare", path) for path in inputs if path is not None]
    for option, path in written:
        clash = next((other for other, used in taken if other != option and _same_file(path, used)), None)
        if clash is not None:
            raise HumcError(f"{option} {path} is the file {clash} names", code="E9001",
                            expected=f"{option}: a file of its own",
                            hint="name another file; nothing was written")


# how each report file humc writes starts (`write_json` indents by 1: an eval report, then a --compare one)
_REPORT_HEADS = {"--report": (b'{\n "version":', b'{\n "a":'), "--markdown": (b"# Eval report: ",)}


_EVALUATING = ("predictions", "model", "hf_model")  # the sources of answers: an evaluation, not a --compare
# the options that apply to some sources of answers only: (option, the sources it applies to, how it is used)
_SOURCE_OPTIONS = (("adapter", ("hf_model",), "--hf-model ID_DIR_OR_GGUF --adapter LORA_DIR"),
                   ("device", ("hf_model",), "--hf-model ID_DIR_OR_GGUF --device cuda"),
                   ("batch_size", ("hf_model",), "--hf-model ID_DIR_OR_GGUF --batch-size N"),
                   ("base_url", ("model",), "--base-url URL --model ID"),
                   ("concurrency", ("model",), "--model NAME --concurrency N"),
                   ("cache_dir", ("model",), "--model NAME --cache DIR (where the model's answers are kept)"),
                   ("max_tokens", ("model", "hf_model"), "--model NAME (or --hf-model ID) --max-tokens N"),
                   ("seed", ("compare",), "--compare A.json B.json --seed N (the bootstrap's seed)"),
                   # what --compare does not read or write: it compares two reports, evaluating nothing
                   *((name, _EVALUATING, f"DATASET_DIR_OR_RECIPE --predictions P.jsonl {usage}") for name, usage in
                     (("target", "(the dataset to evaluate)"), ("predictions", "(one source of answers)"),
                      ("model", "(or --model NAME)"), ("hf_model", "(or --hf-model ID_DIR_OR_GGUF)"),
                      ("split", "--split validation"), ("markdown_path", "--markdown R.md (an eval report)"),
                      ("out_dir", "--out DIR (with a recipe)"))))
_SOURCE_NAMES = {"predictions": "--predictions", "model": "--model", "hf_model": "--hf-model", "compare": "--compare"}


def _refuse_unused(ctx: click.Context, source: str) -> None:
    """E9001 for an option given that the source of answers does not use (`--predictions P --max-tokens 5` was
    silently ignored): a setting that changes nothing would look applied."""
    params = {p.name: p for p in ctx.command.params}
    for name, sources, usage in _SOURCE_OPTIONS:
        if source not in sources and ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE:
            param = params[name]
            option = param.opts[0] if isinstance(param, click.Option) else param.human_readable_name
            raise HumcError(f"{option} does not apply to {_SOURCE_NAMES[source]}", code="E9001",
                            expected=(f"{option} in an evaluation" if sources == _EVALUATING else f"{option} with "
                                      + " or ".join(_SOURCE_NAMES[s] for s in sources)) + f": {usage}",
                            hint=f"leave {option} out; nothing was {'compared' if source == 'compare' else 'evaluated'}")


def _same_file(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def _is_recipe(path: Path) -> bool:
    return path.suffix.lower() in (".yaml", ".yml")


def _model(recipe: Recipe | None, name: str, base_url: str | None, concurrency: int | None,
           max_tokens: int | None) -> ModelConfig:
    """The endpoint to ask: a recipe's model (its params; ``--max-tokens`` replaces its max_tokens, and one without a
    limit gets the default: llama.cpp's is the context size), or ``--base-url`` with greedy decoding."""
    if base_url is None:
        models = recipe.models if recipe is not None else {}
        if name not in models:
            raise HumcError(f"unknown model '{name}'", code="E2009",
                            expected="a `models:` entry of the recipe" + (f" ({', '.join(models)})" if models else ""),
                            hint=did_you_mean(name, models) or "or name an endpoint: --base-url URL --model MODEL_ID")
        config = models[name]
        limit = max_tokens or config.params.get("max_tokens") or config.params.get("max_completion_tokens")
        if max_tokens is not None or limit is None:  # the command line's limit wins; a server's default may be none
            config = replace(config, params={**config.params, "max_tokens": limit or DEFAULT_MAX_TOKENS})
    else:
        config = ModelConfig(name="eval", base_url=base_url, model=name,
                             params={"temperature": 0, "max_tokens": max_tokens or DEFAULT_MAX_TOKENS})
    if concurrency is not None:
        config = replace(config, concurrency=concurrency)
    return config


@click.command("eval")
@click.argument("target", metavar="DATASET_DIR_OR_RECIPE", type=NamedPath(exists=True), required=False)
@click.option("--predictions", type=NamedPath(dir_okay=False, exists=True),
              help='JSON Lines made elsewhere: one {"id": ..., "prediction": "..."} object per record.')
@click.option("--model", "model", metavar="NAME",
              help="A `models:` entry of the recipe, or with --base-url the model id to ask.")
@click.option("--base-url", help="An OpenAI-compatible endpoint (e.g. http://localhost:8000/v1); the key is read from "
                                 "OPENAI_API_KEY.")
@click.option("--split", default="test", show_default=True, help="The split to evaluate.")
@click.option("--report", "report_path", type=NamedPath(dir_okay=False),
              help="Write the full result (every record's score) as JSON.")
@click.option("--markdown", "markdown_path", type=NamedPath(dir_okay=False),
              help="Write a Markdown report (plots beside it when matplotlib is installed).")
@click.option("--compare", "compare_paths", nargs=2, type=NamedPath(dir_okay=False, exists=True),
              metavar="A.json B.json", help="Compare two --report files: B - A with bootstrap 95% intervals.")
@click.option("--seed", default=0, show_default=True, help="Seed of the bootstrap (--compare).")
@click.option("--out", "out_dir", type=FolderPath(),
              help="With a recipe: the output root it was built with (`humc build --out`).")
@click.option("--cache", "cache_dir", type=FolderPath(),
              help="Cache folder for model answers (default: the recipe's build cache, else .humc/cache).")
@click.option("--concurrency", type=click.IntRange(min=1), help="Requests in flight (default: the model's).")
@click.option("--max-tokens", type=click.IntRange(min=1, max=2**31 - 1),  # servers read a 32-bit count
              help=f"Answer length limit (default {DEFAULT_MAX_TOKENS}; a recipe model's own max_tokens).")
@click.option("--hf-model", metavar="ID_DIR_OR_GGUF",
              help="Run a transformers model in this process: a Hub id, a model folder or a .gguf file "
                   "(needs pip install 'humc[bench]').")
@click.option("--adapter", type=NamedPath(file_okay=False, exists=True),
              help="With --hf-model: a LoRA adapter folder (peft) applied to the model.")
@click.option("--device", default="auto", show_default=True, help="With --hf-model: cpu, cuda, cuda:1, … (auto: cuda if "
                                                                  "available).")
@click.option("--batch-size", default=8, show_default=True, type=click.IntRange(min=1),
              help="With --hf-model: prompts generated together.")
@format_opt
def eval_cmd(target: Path | None, predictions: Path | None, model: str | None, base_url: str | None, split: str,
             report_path: Path | None, markdown_path: Path | None, compare_paths: tuple[Path, Path] | None, seed: int,
             out_dir: Path | None, cache_dir: Path | None, concurrency: int | None, max_tokens: int | None,
             hf_model: str | None, adapter: Path | None, device: str, batch_size: int) -> None:
    """Score a model's answers to a built dataset split: task metrics, format and rule adherence.

    The answers come from --predictions FILE, or from a model: a recipe `models:` entry (--model NAME) or any
    OpenAI-compatible server (--base-url URL --model ID), asked through humc's LLM client with the build's
    cache, concurrency and retries; or a transformers model run in process (--hf-model, optionally --adapter).
    `humc eval --compare A.json B.json` compares two reports.
    """
    out = OutConsole()
    _refuse_overwriting(report_path, markdown_path, predictions, *(compare_paths or ()))
    refuse_foreign_file(report_path, "--report", _REPORT_HEADS["--report"], "a report an earlier `humc eval` wrote")
    refuse_foreign_file(markdown_path, "--markdown", _REPORT_HEADS["--markdown"],
                        "a report an earlier `humc eval` wrote")
    if compare_paths:
        _refuse_unused(click.get_current_context(), "compare")
        a, b = read_report(compare_paths[0]), read_report(compare_paths[1])
        result = compare(a, b, seed=seed)
        if report_path is not None:  # files first: a reader that stops early (`| head`) must not cost them
            write_json(report_path, result)
        out.print(compare_table(result))
        for note in compare_notes(a, b, result):
            out.print(escape(f"note: {note}"))
        return
    if target is None:
        raise HumcError("nothing to evaluate", code="E9001", expected="humc eval DATASET_DIR_OR_RECIPE (--predictions FILE | --model NAME)",
                        hint="or compare two reports: humc eval --compare A.json B.json")
    if sum(x is not None for x in (predictions, model, hf_model)) != 1:
        raise HumcError("give one of --predictions FILE, --model or --hf-model (one source of answers)", code="E9001",
                        expected="--predictions P.jsonl, --model NAME (a recipe model), --base-url URL --model ID "
                                 "or --hf-model ID_DIR_OR_GGUF", hint="`humc eval --help` shows the command's options")
    _refuse_unused(click.get_current_context(), "predictions" if predictions else "model" if model else "hf_model")
    refuse_out_beside_folder(out_dir, target, _is_recipe(target), "eval")
    recipe = load_recipe(target, out_dir=out_dir) if _is_recipe(target) else None
    folder = recipe.output.dir if recipe is not None else target
    for path, option in ((report_path, "--report"), (markdown_path, "--markdown")):
        if path is not None:
            refuse_inside(path, folder, "write the report to", option)
    resolver = Resolver.for_recipe(recipe) if recipe is not None else Resolver.for_stdlib()
    predictor: Predictor
    if predictions is not None:
        predictor = FilePredictions(predictions)
    elif hf_model is not None:
        predictor = TransformersPredictor(HFModelSpec(hf_model, adapter=adapter, device=device, batch_size=batch_size,
                                                      max_new_tokens=max_tokens or DEFAULT_MAX_TOKENS))
    else:
        assert model is not None
        cache = cache_dir or (recipe.cache_dir if recipe is not None else DEFAULT_CACHE)
        predictor = ChatPredictor(_model(recipe, model, base_url, concurrency, max_tokens), cache / LLM_FOLDER)
    report = evaluate(folder, split, predictor, resolver)
    wrote = []  # files first: a reader that stops early (`| head`) must not cost them
    if report_path is not None:
        write_json(report_path, report)
        wrote.append(f"wrote {report_path}")
    if markdown_path is not None:
        plots = markdown(report, markdown_path)
        wrote.append(f"wrote {markdown_path}" + (f" and {len(plots)} plot(s)" if plots else ""))
    for table in tables(report):
        out.print(table)
    for line in [f"note: {note}" for note in report["notes"]] + wrote:
        out.print(escape(line))  # a file name or id in [brackets] is no markup
