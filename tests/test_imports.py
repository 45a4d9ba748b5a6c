"""Import hygiene: the layering contracts hold, sub-packages import each other without cycles, the
light commands stay light (``humc --help`` and ``humc check`` load no pyarrow, openai or Ray), and
``humc/__init__.py`` re-exports the public API through a complete ``__all__``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import grimp
import pytest
from helpers import REPO, copy_recipes

import humc
import humc.errors

# Run in a fresh interpreter: a test process has long since imported everything.
LOADED = """
import json, sys
from humc.cli import main
try:
    main({args!r}, prog_name="humc")
except SystemExit as exc:
    code = exc.code
print(json.dumps({{"code": code, "loaded": sorted(m for m in {heavy!r} if m in sys.modules)}}))
"""
HELP_HEAVY = ["pyarrow", "openai", "ray", "datasets", "huggingface_hub", "jinja2", "lark", "diskcache", "rich", "yaml",
              "httpx", "humc.build", "humc.recipe", "humc.llm"]  # `humc --help` answers in < 0.2 s (bench/README.md)
CHECK_HEAVY = ["pyarrow", "openai", "ray"]


def run_fresh(args: list[str], heavy: list[str], cwd: Path = REPO) -> tuple[int, list[str], str]:
    """Run `humc ARGS` in a new interpreter: (exit code, which of ``heavy`` it imported, its stdout)."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-c", LOADED.format(args=args, heavy=heavy)],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=120)
    *output, last = proc.stdout.splitlines()
    report = json.loads(last)
    return report["code"], report["loaded"], "\n".join(output)


def test_humc_help_imports_no_heavy_library():
    code, loaded, out = run_fresh(["--help"], HELP_HEAVY)
    assert code == 0 and "Commands:" in out and "check" in out
    assert loaded == []


def test_humc_check_imports_no_pyarrow_openai_or_ray(tmp_path):
    recipes = copy_recipes(tmp_path)
    code, loaded, out = run_fresh(["check", str(recipes / "hum_mix.hum.yaml"), "--rows", "5"], CHECK_HEAVY, cwd=tmp_path)
    assert code == 0 and "hum_mix" in out
    assert loaded == []


def test_the_import_linter_contracts_are_kept():
    proc = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()",
                           "--no-cache"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def _package_of(module: str) -> str | None:
    """humc.build.plan -> humc.build; humc.errors -> humc.errors; the facade ``humc`` itself -> None."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else None


def _find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of a directed graph as a path [a, b, …, a], or None when it is acyclic."""
    state: dict[str, str] = {}  # node -> "open" (on the DFS stack) or "done"
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle_and_accepts_a_dag():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_humc_sub_packages_import_each_other_without_a_cycle():
    graph = grimp.build_graph("humc", cache_dir=None)
    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        importer = _package_of(module)
        for imported in graph.find_modules_directly_imported_by(module):
            target = _package_of(imported)
            if importer and target and importer != target:
                edges.setdefault(importer, set()).add(target)
    assert "humc.build" in edges["humc.cli"]  # the graph is real, not empty
    assert _find_cycle(edges) is None, " -> ".join(_find_cycle(edges) or [])


# The public API STYLE.md names; every HumcError subclass is added below.
PUBLIC = {"load_recipe", "plan_recipe", "dry_run", "push_recipe", "compile_recipe", "build_plan", "Span", "Recipe", "Plan",
          "DryRun", "BuildResult", "__version__", "FORMAT_VERSION"}


def _error_classes() -> set[str]:
    return {name for name, value in vars(humc.errors).items()
            if isinstance(value, type) and issubclass(value, humc.errors.HumcError)}


def test_the_public_api_is_declared_in_all_and_complete():
    assert len(humc.__all__) == len(set(humc.__all__))
    missing = (PUBLIC | _error_classes()) - set(humc.__all__)
    assert not missing, f"add to humc.__all__: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(set(humc.__all__) - {"__version__", "FORMAT_VERSION"}))
def test_every_name_in_all_is_the_object_its_module_defines(name):
    value = getattr(humc, name)
    module = sys.modules[value.__module__]
    assert getattr(module, name) is value and value.__module__.startswith("humc.")


def test_the_build_function_lives_in_build_compiler_because_humc_build_is_the_sub_package():
    import humc.build.compiler

    assert humc.build.__name__ == "humc.build" and callable(humc.build.compiler.build)
    assert "build" not in humc.__all__


def test_ctrl_c_while_the_cli_is_being_imported_exits_130_without_a_traceback() -> None:
    import subprocess
    import sys

    stop_importing_the_cli = """
import sys
class Interrupt:
    def find_spec(self, name, path, target=None):
        if name == "humc.cli":
            raise KeyboardInterrupt  # as a Ctrl-C landing in the middle of the CLI's imports
sys.meta_path.insert(0, Interrupt())
from humc.__main__ import run
run()
"""
    done = subprocess.run([sys.executable, "-c", stop_importing_the_cli], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr, done.stdout) == (130, "interrupted\n", "")
