"""The documentation's examples are true: every recipe snippet marked as an example passes `humc check`, every
example meant to fail fails with the code the text names, and every `humc` command line shown names options the
command has (and every option of a command is documented somewhere).

A fence is an example when the line before it is a marker comment:

    <!-- humc:example -->                                    a whole recipe (its `data/` is recipes/data)
    <!-- humc:example data=tests/data -->                    ... whose `data/` is tests/data
    <!-- humc:example build -->                              ... which `humc build` builds too
    <!-- humc:example base=recipes/ner.hum.yaml -->          a fragment, merged into that recipe
    <!-- humc:example base=recipes/ner.hum.yaml entry=ID --> a fragment of task-entry keys, merged into entry ID
    <!-- humc:example error=E2005 -->                        ... and `humc check` must stop with this code
    <!-- humc:example file=card.md.j2 -->                    a file beside every recipe example of the page
    <!-- humc:example file=mystd/guidelines/x.yaml -->       ... or in a folder beside them

Merging: mappings merge key by key (the fragment wins); a `tasks:` item is merged into the base entry with its
id (an entry's id defaults to its source), else appended. Each recipe runs in its own temporary folder, with
`data/` and the page's `file=` examples beside it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from helpers import REPO, run_cli

from humc.answers.formats import FormatContext, render
from humc.answers.ops import OPS
from humc.answers.table import AnswerTable
from humc.cli import COMMANDS, main
from humc.errors import HumcError
from humc.expr import Source, check_functions, parse_expr, parse_pipeline, parse_rule
from humc.recipe.stdlib import load_stdlib

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
MARKER = re.compile(r"<!-- humc:example(?P<attrs>[^>]*?)-->\n(?P<indent> *)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)\n(?P=indent)```",
                    re.S)


@dataclass(frozen=True)
class Example:
    page: Path
    line: int
    lang: str
    attrs: dict[str, str]
    body: str

    def __str__(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


def examples(page: Path) -> list[Example]:
    text = page.read_text(encoding="utf-8")
    found = []
    for m in MARKER.finditer(text):
        attrs = dict((*item.split("=", 1), "")[:2] for item in m["attrs"].split())
        indent = len(m["indent"])
        body = "\n".join(line[indent:] for line in m["body"].split("\n")) + "\n"
        found.append(Example(page, text.count("\n", 0, m.start()) + 1, m["lang"], attrs, body))
    return found


def merge(base: Any, part: Any) -> Any:
    """`part` over `base`: mappings key by key, task entries by id, anything else replaced."""
    if isinstance(base, dict) and isinstance(part, dict):
        out = dict(base)
        for key, value in part.items():
            out[key] = merge_tasks(base[key], value) if key == "tasks" and key in base else merge(base.get(key), value)
        return out
    return part


def merge_tasks(base: list[dict[str, Any]], part: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = list(base)
    for item in part:
        ids = [entry.get("id", entry.get("source")) for entry in out]
        key = item.get("id", item.get("source"))
        if key in ids:
            out[ids.index(key)] = merge(out[ids.index(key)], item)
        else:
            out.append(item)
    return out


def recipe_text(example: Example) -> str:
    if "base" not in example.attrs:
        return example.body
    base = yaml.safe_load((REPO / example.attrs["base"]).read_text(encoding="utf-8"))
    part = yaml.safe_load(example.body)
    if "entry" in example.attrs:
        part = {"tasks": [{"id": example.attrs["entry"], **part}]}
        base["tasks"] = [{"id": e.get("id", e.get("source")), **e} for e in base["tasks"]]
    return yaml.safe_dump(merge(base, part), allow_unicode=True, sort_keys=False)


def run_page(page: Path, tmp: Path) -> Iterator[tuple[Example, str, int]]:
    """`humc check` on each recipe example of a page, in a folder holding the page's files and `data/`."""
    found = examples(page)
    files = tmp / "files"
    for example in found:
        if "file" in example.attrs:  # a path, maybe in a folder (a `stdlib:` folder's guideline or template)
            (files / example.attrs["file"]).parent.mkdir(parents=True, exist_ok=True)
            (files / example.attrs["file"]).write_text(example.body, encoding="utf-8")
    for n, example in enumerate(e for e in found if "file" not in e.attrs):
        folder = tmp / f"example{n}"
        folder.mkdir()
        (folder / "data").symlink_to(REPO / example.attrs.get("data", "recipes/data"))
        for extra in files.iterdir() if files.is_dir() else ():
            (folder / extra.name).symlink_to(extra)
        (folder / "example.hum.yaml").write_text(recipe_text(example), encoding="utf-8")
        result = run_cli("check", "--rows", "20", "example.hum.yaml", cwd=folder)
        if "build" in example.attrs and result.exit_code == 0:
            result = run_cli("build", "-q", "-j", "1", "example.hum.yaml", cwd=folder)
            assert not result.exit_code and any((folder / "out").glob("*/data/*.parquet")), f"{example}: {result.output}"
        yield example, result.output, result.exit_code


@pytest.mark.parametrize("page", [p for p in PAGES if examples(p)], ids=lambda p: p.name)
def test_every_marked_recipe_example_of_a_page_checks_as_the_text_says(page: Path, tmp_path: Path) -> None:
    wrong = []
    for example, output, code in run_page(page, tmp_path):
        if "error" in example.attrs:
            if code != 2 or f"error[{example.attrs['error']}]" not in output:
                wrong.append(f"{example}: expected error {example.attrs['error']}, got exit {code}:\n{output}")
            for message in re.findall(r"# (error\[E\d{4}\]: [^(\n]*[^(\s])", example.body):  # the diagnostic it quotes
                if message not in output:
                    wrong.append(f"{example}: quotes `{message}`, humc prints:\n{output}")
        elif code != 0 or (": ok — " if "build" not in example.attrs else "wrote ") not in output:
            wrong.append(f"{example} does not check:\n{output}")
    assert not wrong, "\n".join(wrong)


# YAML shown on purpose without a marker: not a recipe, or not a whole one (by page and first line)
NOT_RECIPES = {("README.md", "# yaml-language-server: $schema=../docs/recipe.schema.json"),  # one comment line
               ("llm.md", "# humc lockfile for ner — assets proposed by an LLM and reviewed by a person.")}  # abridged


def test_every_closing_fence_is_a_line_of_its_own() -> None:
    """Text after a closing ``` (```` ``` Every name…````) is no closing fence in CommonMark: the code block would run
    on to the next fence and swallow the prose after it."""
    glued = []
    for page in PAGES:
        inside = False
        for i, line in enumerate(page.read_text(encoding="utf-8").splitlines()):
            if not re.match(r" *```", line):
                continue
            if inside and line.strip() != "```":
                glued.append(f"{page.relative_to(REPO)}:{i + 1}")
            inside = not inside
    assert not glued, "a closing ``` with text after it: " + ", ".join(glued)


def test_every_yaml_or_template_fence_is_a_marked_example_or_known_not_to_be_one() -> None:
    unmarked = []
    for page in PAGES:
        lines = page.read_text(encoding="utf-8").splitlines()
        inside = False
        for i, line in enumerate(lines):
            m = re.match(r"( {0,3})```(\S*)", line)
            if m and not inside and m[2] in ("yaml", "jinja") and "humc:example" not in lines[i - 1]:
                catalog_fields = page.name == "catalog.md" and m[1]  # an adapter's `fields:` (test_catalog.py)
                if not catalog_fields and (page.name, lines[i + 1]) not in NOT_RECIPES:
                    unmarked.append(f"{page.relative_to(REPO)}:{i + 1}")
            inside = not inside if m else inside
    assert not unmarked, "mark these as <!-- humc:example ... --> or add them to NOT_RECIPES: " + ", ".join(unmarked)
    assert sum(len(examples(page)) for page in PAGES) >= 15


# ------------------------------------------------------------------ the README's diagnostic, for real

BAD_RECIPE = """hum: 1
name: bad
sources:
  squad: {catalog: squad_v2, path: data/squad_v2/dev-v2.0.head5.json}
tasks:
  - source: squad
    formats: [json]
    templates: all
    variants_per_record: 1
    where: len(context) < 4000
    seed: 7
    preferences:
      - unanswerable
      - shortest_spam
"""


def test_the_readme_diagnostic_is_what_humc_prints(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    shown = re.search(r"```\n(recipes/bad\.hum\.yaml:14:9: error\[E2005\].*?)```", readme, re.S)
    assert shown is not None
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "data").symlink_to(REPO / "recipes" / "data")
    (tmp_path / "recipes" / "bad.hum.yaml").write_text(BAD_RECIPE, encoding="utf-8")
    result = run_cli("check", "recipes/bad.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 2
    assert shown[1].strip() in result.output


# ------------------------------------------------------------------ the expression language table

def readme_section(title: str) -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index(f"### {title}\n")
    return readme[start:readme.index("\n#", start + 1)]


def test_every_expression_the_readme_shows_parses_and_calls_known_functions() -> None:
    rows = [line for line in readme_section("The expression language").splitlines() if line.startswith("| ")][2:]
    shown, wrong = 0, []
    for row in rows:
        form, example = row[2:].split(" | ", 1)
        if form == "operators":
            continue  # symbols, not expressions
        for code in re.findall(r"`([^`]+)`", example.replace("\\|", "|")):
            if not re.match(r"[^\W\d]|record\[", code) or re.fullmatch(r"\w+=\w+", code):
                continue  # the values a function reads or writes (`#36;`), a keyword argument's name
            try:
                if form == "preference rules":
                    parse_rule(code)
                else:
                    ast = parse_pipeline(code) if form == "pipelines" or " | " in code else parse_expr(code)
                    if not code.startswith("json |"):  # a format's modifiers (test below), not functions
                        check_functions(ast, Source(code))
            except HumcError as exc:
                wrong.append(f"{form}: `{code}`: {exc}")
            shown += 1
    assert not wrong, "\n".join(wrong)
    assert shown >= 30


# ------------------------------------------------------------------ command lines and options

def fences(text: str) -> Iterator[tuple[str, str]]:
    """Each fenced block of a Markdown text: its language and its text."""
    lang, body = None, list[str]()
    for line in text.splitlines():
        m = re.match(r" {0,3}```(\S*)", line)
        if m and lang is None:
            lang, body = m[1], []
        elif m:
            yield lang, "\n".join(body) + "\n"
            lang = None
        elif lang is not None:
            body.append(line)


def command_lines() -> Iterator[tuple[str, str]]:
    """Every `humc ...` command line in a shell fence or an inline code span of the docs, with its page."""
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for lang, fence in fences(text):
            if lang not in ("bash", "sh", "console", ""):
                continue
            lines = fence.replace("\\\n", " ").splitlines()
            prompted = [line for line in lines if line.startswith("$ ")]  # a session: the rest is output
            for line in prompted or lines:
                line = re.sub(r"^\$ |^[A-Z_]+=\S+ (?:[A-Z_]+=\S+ )*", "", line.strip())
                for part in re.split(r"&&|;", line):
                    part = part.split("#")[0].strip()
                    if part.startswith("humc "):
                        yield page.name, part
        prose = re.sub(r"^ *```.*?^ *```", "", text, flags=re.S | re.M)
        for span in re.findall(r"`([^`]+)`", prose):
            if span.startswith("humc "):
                yield page.name, " ".join(span.replace("\\|", "|").split())


def command_of(line: str) -> tuple[click.Command, list[str]]:
    words = shlex.split(line.replace("[", " ").replace("]", " ").replace("(", " ").replace(")", " ").replace("|", " "))
    words = [w for w in words[1:] if w != "--format" and w not in ("text", "json")]
    group = main
    name = words[0] if words else ""
    assert name in COMMANDS, f"{line!r}: no command {name!r}"
    command = main.get_command(click.Context(group), name)
    assert command is not None
    if isinstance(command, click.Group) and len(words) > 1 and words[1] in command.commands:
        command = command.commands[words[1]]
    return command, words


def option_names(command: click.Command) -> set[str]:
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}


def test_every_option_a_documented_command_line_names_exists() -> None:
    lines = list(command_lines())
    assert len(lines) > 40
    wrong = []
    for page, line in lines:
        if line.split()[1] in ("--help", "-h", "--version", "--format"):
            continue  # the group's own options (`humc --format json COMMAND …`)
        command, words = command_of(line)
        known = option_names(command) | {"--format", "--help", "-h"}
        for word in words:
            for opt in re.findall(r"^(--?[a-z][\w/-]*)", word):
                wrong += [f"{page}: `{line}` names {one}, which `humc {command.name}` does not have"
                          for one in opt.split("/") if one not in known]
    assert not wrong, "\n".join(wrong)


def test_every_option_of_every_command_is_documented() -> None:
    docs = "\n".join(page.read_text(encoding="utf-8") for page in PAGES)
    for name in COMMANDS:
        command = main.get_command(click.Context(main), name)
        assert command is not None
        commands = list(command.commands.values()) if isinstance(command, click.Group) else [command]
        for cmd in commands:
            for param in cmd.params:
                if isinstance(param, click.Option) and param.opts[0] not in ("--format", "--help"):
                    assert any(re.search(re.escape(opt) + r"\b", docs) for opt in param.opts), (
                        f"`humc {name} {cmd.name if cmd is not command else ''}` {param.opts[0]} is not in the docs")


def test_every_format_modifier_the_readme_shows_checks_in_a_recipe(tmp_path: Path) -> None:
    section = readme_section("Format variants")
    paragraph = section[section.index("Modifiers are pipeline stages:"):section.index("Each variant's")]
    shown = re.findall(r"`([a-z_]+ \| [^`]+)`", paragraph)
    assert len(shown) >= 7
    entry_of = {"keys(head=": "re", "nest(arguments=": "ee_zh"}  # modifiers for relation and event answers
    recipe = yaml.safe_load((REPO / "recipes" / "hum_mix.hum.yaml").read_text(encoding="utf-8"))
    for entry in recipe["tasks"]:
        entry["formats"] = [f for f in shown if entry_of.get(next((k for k in entry_of if k in f), ""), "ner_en") == entry["id"]]
    recipe["tasks"] = [entry for entry in recipe["tasks"] if entry["formats"]]
    (tmp_path / "data").symlink_to(REPO / "recipes" / "data")
    (tmp_path / "formats.hum.yaml").write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
    result = run_cli("check", "--rows", "10", "formats.hum.yaml", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert "ok — 3 task(s)" in result.output


def test_the_readme_and_the_cli_package_readme_list_every_command() -> None:
    readme = readme_section_text("## Commands")
    cli_readme = (REPO / "humc" / "cli" / "README.md").read_text(encoding="utf-8")
    for name in COMMANDS:
        assert f"| `humc {name}" in readme, f"README's command table lacks humc {name}"
        assert f"`{name}`" in cli_readme or f"`{name} " in cli_readme, f"humc/cli/README.md lacks {name}"


def readme_section_text(heading: str) -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index(heading + "\n")
    return readme[start:readme.index("\n## ", start + 1)]



# ------------------------------------------------------------------ the format variants table

DESCRIBED_NOT_SHOWN = {"json_pretty", "text", "label_only", "iepile_json", "json_spo"}  # rows that describe, not render


def test_the_readme_format_table_shows_what_each_variant_renders() -> None:
    lib = load_stdlib()
    table = AnswerTable(("type", "span"), (("PER", "Ada Lovelace"), ("LOC", "London")), "many")
    context = FormatContext(labels=("PER", "ORG", "LOC"), label_column="type", text="Ada Lovelace lived in London.")
    rows = [line for line in readme_section("Format variants").splitlines() if line.startswith("| `")]
    cells = [re.fullmatch(r"\| `(\w+)` \| (.*) \|", row) for row in rows]
    assert all(cells) and {m[1] for m in cells if m} == set(lib.variants)
    for name, shown in (m.groups() for m in cells if m):
        if name in DESCRIBED_NOT_SHOWN:
            continue
        first = re.search(r"`([^`]+)`", shown.replace("\\|", "|"))
        assert first, name
        rendered = render(lib.variants[name].spec, table, context=context)
        assert rendered.startswith(first[1].split("…")[0].rstrip()), f"{name}: README shows {first[1]!r}, humc writes {rendered!r}"


def test_the_readme_and_docs_llm_list_every_rule_operation_and_only_those() -> None:
    readme = readme_section("The expression language")
    listed = readme[readme.index("Rule operations:"):].split(". All are")[0]
    assert set(re.findall(r"`(\w+)", listed)) == set(OPS)
    llm = (REPO / "docs" / "llm.md").read_text(encoding="utf-8")
    only = llm[llm.index("only `empty_as`"):].split(")")[0]
    assert set(re.findall(r"`(\w+)`", only)) == set(OPS)
    for text in re.findall(r"`(when [^`]+)`", readme):
        parse_rule(text)


# ------------------------------------------------------------------ links

def anchors(page: Path) -> set[str]:
    """GitHub's ids of a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+ (.+)$", re.sub(r"^ *```.*?^ *```", "", page.read_text(encoding="utf-8"), flags=re.S | re.M),
                          re.M)
    ids = set(re.findall(r'<a id="([^"]+)"></a>', page.read_text(encoding="utf-8")))  # explicit anchors
    return ids | {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_every_relative_link_of_the_docs_reaches_a_file_and_heading() -> None:
    broken = []
    for page in [*PAGES, *sorted((REPO / "humc").glob("*/README.md"))]:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+://", target):
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists() or (anchor and file.suffix == ".md" and anchor not in anchors(file)):
                broken.append(f"{page.relative_to(REPO)}: {target}")
    assert not broken, broken


# ------------------------------------------------------------------ file names in code spans

MADE_BY_RUNS = ("out/", ".humc/", "bench/results/")  # what builds and benchmarks write: not in the repository


def test_every_repository_path_a_page_names_exists() -> None:
    """`tests/test_formats.py`, `stdlib/variants/*.yaml`, `humc/limits.py`: a file or folder of the repository named in
    a code span (not a link, which the test above follows) must be there, or a newcomer looking for it is lost."""
    tops = tuple(f"{p.name}/" for p in REPO.iterdir() if p.is_dir() and not p.name.startswith("."))
    missing, checked = [], 0
    for page in [*PAGES, *sorted((REPO / "humc").glob("*/README.md"))]:
        for span in re.findall(r"`([^`\s]+)`", page.read_text(encoding="utf-8")):
            path = span.split(":")[0].split("#")[0].rstrip(".,")
            if not path.startswith(tops) or any(made in path for made in MADE_BY_RUNS) or re.search(r"[<>{}|…$]", path):
                continue
            checked += 1
            if not (list(REPO.glob(path)) if "*" in path else (REPO / path).exists()):
                missing.append(f"{page.relative_to(REPO)}: `{span}`")
    assert not missing, missing
    assert checked > 50
