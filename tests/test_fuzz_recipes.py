"""Fuzzing the example recipes: random mutations of recipes/*.hum.yaml must make humc either
accept the recipe or report bad input — exit code 0 or 2 — never exit 3 ("internal error"), a
traceback, a hang, or a change to any file outside the temporary copy.

Runs humc through tests/test_corpus.run_isolated (a forked child with a memory limit and a
timeout). Minimal failing examples found here are pinned as cases in tests/corpus/bad/.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import yaml
from helpers import example_recipes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_corpus import REPO, find_pwned, repo_state, run_isolated, snapshot

RECIPES = [p.name for p in example_recipes()]
TIMEOUT = 15.0
HUGE = "<<HUGE-INT>>"  # replaced by a 5000-digit integer in the YAML text (too long for safe_dump)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10, max_value=10),
    st.integers(min_value=10**15, max_value=10**30), st.just(HUGE),
    st.floats(allow_nan=True, allow_infinity=True), st.just(""),
    st.text(max_size=12), st.text(alphabet="()[]{}|.,:'\"\\ -#&*!%@`\t\n", max_size=8),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                      max_leaves=6)


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys / indices) into a parsed recipe."""
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, prefix + (i,))
    return out


def get(node: Any, path: tuple) -> Any:
    for key in path:
        node = node[key]
    return node


def convert(value: Any, kind: str, draw_value: Any) -> Any:
    """The same information in another type: str <-> int <-> list <-> dict <-> null <-> bool."""
    return {"str": str(value), "int": len(str(value)), "list": [value], "dict": {"value": value},
            "null": None, "bool": bool(value), "huge": HUGE, "random": draw_value}[kind]


def dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False).replace(f"'{HUGE}'", "9" * 5000)


@st.composite
def mutated(draw: st.DrawFn, build: bool = False) -> tuple[str, str]:
    name = draw(st.sampled_from([r for r in RECIPES if not build or r != "dolly_llm.hum.yaml"]))
    text = (REPO / "recipes" / name).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if build:  # keep builds small
        for task in data["tasks"]:
            task["sample"] = {"n": 3, "seed": 1}
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["delete", "retype", "retype", "swap", "duplicate", "insert_chars",
                                   "empty", "unicode", "truncate"]))
        all_paths = paths(data)
        if op == "truncate":
            dumped = dump(data).encode()
            return name, dumped[:draw(st.integers(0, len(dumped)))].decode("utf-8", "ignore")
        if not all_paths:
            break
        path = draw(st.sampled_from(all_paths))
        parent, key = get(data, path[:-1]), path[-1]
        if op == "delete":
            del parent[key]
        elif op == "retype":
            kind = draw(st.sampled_from(["str", "int", "list", "dict", "null", "bool", "huge", "random"]))
            parent[key] = convert(parent[key], kind, draw(values))
        elif op == "swap":
            other = draw(st.sampled_from(all_paths))
            try:
                other_parent = get(data, other[:-1])
                a, b = copy.deepcopy(parent[key]), copy.deepcopy(other_parent[other[-1]])
                parent[key], other_parent[other[-1]] = b, a
            except (KeyError, IndexError, TypeError):
                pass
        elif op == "duplicate" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        elif op == "insert_chars" and isinstance(parent[key], str):
            s = parent[key]
            at = draw(st.integers(0, len(s)))
            parent[key] = s[:at] + draw(st.text(alphabet="()[]|.,\"'=<>!+-*/%_ aZ09\\", min_size=1, max_size=4)) + s[at:]
        elif op == "empty":
            parent[key] = type(parent[key])() if isinstance(parent[key], (str, list, dict)) else ""
        elif op == "unicode":
            parent[key] = draw(st.text(min_size=1, max_size=10))
    return name, dump(data)


def run_case(tmp: Path, name: str, text: str, build: bool) -> tuple[list[str], str]:
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copytree(REPO / "recipes", tmp / "recipes")
    recipe = tmp / "recipes" / name
    recipe.write_text(text, encoding="utf-8")
    before, repo_before = snapshot(tmp), repo_state()
    args = ["check", str(recipe)]
    if build:
        args = ["build", str(recipe), "--out", str(tmp / "out"), "--cache", str(tmp / "cache"), "-q"]
    code, output = run_isolated(args, tmp / "recipes", timeout=TIMEOUT)
    problems = []
    if code not in (0, 2):
        problems.append(f"exit code {code}")
    if "Traceback" in output or "internal error" in output:
        problems.append("traceback / internal error")
    after = snapshot(tmp)
    for rel, state in before.items():
        if after.get(rel) != state:
            problems.append(f"changed or deleted: {rel}")
    for rel in set(after) - set(before):
        if not rel.startswith(("out", "cache", "recipes/.humc")):
            problems.append(f"created: {rel}")
    if repo_state() != repo_before:
        problems.append("repository files changed")
    if find_pwned(tmp):
        problems.append("PWNED")
    return problems, f"humc {' '.join(args)} -> {code}\n{output[:1500]}"


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(case=st.integers(0, 5).flatmap(lambda b: st.tuples(st.just(b == 0), mutated(build=b == 0))))
def test_mutated_recipes_exit_0_or_2(case: tuple[bool, tuple[str, str]], tmp_path: Path):
    build, (name, text) = case
    problems, shown = run_case(tmp_path / "fuzz", name, text, build=build)
    assert not problems, "\n".join(problems) + "\n--- recipe " + name + " ---\n" + text[:3000] + "\n---\n" + shown
