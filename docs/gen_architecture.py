"""Regenerate the pictures in docs/architecture.md (between the `generated` markers).

    python docs/gen_architecture.py          # rewrite the generated block
    python docs/gen_architecture.py --check  # exit 1 if the block is stale (tests/test_architecture.py does this)

Two Mermaid diagrams, both derived, never drawn by hand:

1. Package layering: the layers of the import-linter contract in pyproject.toml (top to bottom) and the
   imports that actually exist between humc's packages, read with `ast` from every module (function-level
   imports included). An import that points up or sideways in the contract would be drawn red.
2. Plan node kinds: the kinds of node `humc.build.compiler.plan_recipe` makes for the example recipes
   (recipes/*.hum.yaml: hum_mix is the widest, dolly_llm adds the LLM steps) and which kind feeds which.
"""

from __future__ import annotations

import argparse
import ast
import functools
import subprocess
import sys
from collections import Counter
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
sys.path.insert(0, str(ROOT))  # this checkout's humc, also when run as a script
START, END = "<!-- generated:start -->", "<!-- generated:end -->"


def contract_layers() -> list[list[str]]:
    """The `layers` contract of pyproject.toml, top (may import everything below) to bottom."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contract = next(c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers")
    return [[name.strip() for name in layer.split("|")] for layer in contract["layers"]]


def package_of(module: str, packages: set[str]) -> str | None:
    """The contract package (humc.build, humc.ir, …) a dotted module name belongs to."""
    parts = module.split(".")
    for n in range(len(parts), 1, -1):
        if ".".join(parts[:n]) in packages:
            return ".".join(parts[:n])
    return None


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imported_modules(path: Path) -> set[str]:
    """Every humc module ``path`` imports, at module level or inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = module_name(path).split(".")
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import
                base = here if is_package else here[:-1]
                base = base[: len(base) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            out.add(prefix)
            out.update(f"{prefix}.{a.name}" for a in node.names)
    return {m for m in out if m == "humc" or m.startswith("humc.")}


def package_imports(layers: list[list[str]]) -> Counter[tuple[str, str]]:
    """(importer package, imported package) -> number of modules with such an import."""
    packages = {p for layer in layers for p in layer}
    edges: Counter[tuple[str, str]] = Counter()
    for path in sorted((ROOT / "humc").rglob("*.py")):
        src = package_of(module_name(path), packages)
        if src is None:
            continue
        targets = {package_of(m, packages) for m in imported_modules(path)}
        for dst in sorted(t for t in targets if t and t != src):
            edges[(src, dst)] += 1
    return edges


def _id(name: str) -> str:
    return name.replace("humc.", "").replace(".", "_")


def layering_diagram() -> str:
    layers = contract_layers()
    rank = {p: i for i, layer in enumerate(layers) for p in layer}
    lines = ["```mermaid", "flowchart TB"]
    for i, layer in enumerate(layers):
        lines.append(f'  subgraph L{i}["layer {i + 1}"]')
        lines.append("    direction LR")
        lines.extend(f'    {_id(p)}["{p.removeprefix("humc.")}"]' for p in layer)
        lines.append("  end")
    edges = sorted(package_imports(layers), key=lambda e: (rank[e[0]], e[0], rank[e[1]], e[1]))
    lines.extend(f"  {_id(src)} --> {_id(dst)}" for src, dst in edges)
    bad = [str(n) for n, (src, dst) in enumerate(edges) if rank[dst] <= rank[src]]
    if bad:
        lines.append(f"  linkStyle {','.join(bad)} stroke:red")
    lines.append("```")
    return "\n".join(lines)


def imports_table() -> str:
    """The same imports as a table: each package, what it imports (number of importing modules in brackets)."""
    layers = contract_layers()
    edges = package_imports(layers)
    order = [p for layer in layers for p in layer]
    rows = ["| package | imports (modules doing so) |", "|---|---|"]
    for src in order:
        targets = [f"{dst.removeprefix('humc.')} ({edges[(src, dst)]})" for dst in order if (src, dst) in edges]
        rows.append(f"| `{src.removeprefix('humc.')}` | {', '.join(targets) or '—'} |")
    return "\n".join(rows)


def shipped_recipes() -> list[Path]:
    """recipes/*.hum.yaml as git tracks them: a recipe of one's own saved beside the examples is not drawn (nor, half
    written, a crash here); every one of them outside a git checkout."""
    try:
        out = subprocess.run(["git", "ls-files", "--", "*.hum.yaml"], cwd=ROOT / "recipes", capture_output=True,
                             text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        out = ""
    return sorted(ROOT / "recipes" / n for n in out.split() if "/" not in n) or sorted((ROOT / "recipes").glob("*.hum.yaml"))


@functools.cache
def plan_kinds() -> tuple[list[str], set[tuple[str, str]]]:
    """Node kinds (in dependency order) and kind -> kind edges over the plans of the example recipes."""
    from humc.build.compiler import plan_recipe

    edges: set[tuple[str, str]] = set()
    found: set[str] = set()
    for recipe in shipped_recipes():
        plan = plan_recipe(recipe)
        kind = {n.id: n.kind for n in plan.nodes}
        for n in plan.nodes:
            found.add(n.kind)
            edges.update((kind[i], n.kind) for i in n.inputs)
    depth = {k: 0 for k in found}
    for _ in found:  # longest path from a root: a topological rank of the (acyclic) kind graph
        for a, b in edges:
            depth[b] = max(depth[b], depth[a] + 1)
    return sorted(found, key=lambda k: (depth[k], k)), edges


def plan_diagram() -> str:
    kinds, edges = plan_kinds()
    position = {k: i for i, k in enumerate(kinds)}
    corpus = {"merge", "dedup", "decontaminate", "split", "write"}
    lines = ["```mermaid", "flowchart LR"]
    lines.append('  subgraph entry["per source and task entry"]')
    lines.extend(f"    {k}" for k in kinds if k not in corpus)
    lines.append("  end")
    lines.append('  subgraph corpus["corpus-wide"]')
    lines.extend(f"    {k}" for k in kinds if k in corpus)
    lines.append("  end")
    lines.extend(f"  {a} --> {b}" for a, b in sorted(edges, key=lambda e: (position[e[0]], position[e[1]])))
    lines.append("```")
    return "\n".join(lines)


def kinds_table() -> str:
    """Every node kind the executor can run: chunk-wise (local and Ray) or whole-stream, and whether an example uses it."""
    from humc.build.execute import CHUNK_FNS, RUNNERS

    used, _ = plan_kinds()
    order = used + sorted(set(RUNNERS) - set(used))
    rows = ["| kind | runs | in the example recipes |", "|---|---|---|"]
    for kind in order:
        runs = "chunk-wise (local or Ray task)" if kind in CHUNK_FNS else "whole stream (locally, or one Ray task)"
        rows.append(f"| `{kind}` | {runs} | {'yes' if kind in used else 'no'} |")
    return "\n".join(rows)


def generated_block() -> str:
    return "\n".join([
        START,
        "<!-- made by docs/gen_architecture.py; edit that script, not this block -->",
        "",
        "**Package layering.** The layers of the import-linter contract in `pyproject.toml`, top to bottom; an arrow",
        "is an import that exists today (a red one would break the contract, and `lint-imports` would fail).",
        "",
        layering_diagram(),
        "",
        imports_table(),
        "",
        "**Plan node kinds.** What `plan_recipe` makes of the example recipes (`recipes/*.hum.yaml`): which kind of",
        "node feeds which.",
        "",
        plan_diagram(),
        "",
        "Node kinds the executor knows (`RUNNERS` and `CHUNK_FNS` in `build/execute.py`):",
        "",
        kinds_table(),
        END,
    ])


def updated_doc(text: str) -> str:
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return head + generated_block() + tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/architecture.md is stale")
    args = parser.parse_args(argv)
    text = DOC.read_text(encoding="utf-8")
    new = updated_doc(text)
    if args.check:
        if new != text:
            print("docs/architecture.md is stale: run python docs/gen_architecture.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(new, encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
