"""CI runs exactly what the README tells a contributor to run, and that command holds every gate:
ruff, mypy --strict, the import-layering contracts, and pytest under a coverage floor."""

from __future__ import annotations

import re

from helpers import REPO


def readme_test_command() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    m = re.search(r"exactly what CI runs.*?```bash\n(.+?)\n```", readme, re.S)
    assert m, "the README's test command block is missing"
    return m.group(1)


def test_ci_runs_exactly_the_readme_test_command():
    script = (REPO / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert script[-1] == readme_test_command()


def test_the_test_command_runs_every_gate_and_ends_with_pytest():
    steps = [s.strip() for s in readme_test_command().split("&&")]
    assert steps[1:4] == ["ruff check humc tests bench", "mypy", "lint-imports"]
    assert steps[-1].startswith("python -m pytest") and "--cov=humc" in steps[-1]


def test_the_coverage_in_the_readme_is_above_the_floor_and_warnings_are_errors():
    config = (REPO / "pyproject.toml").read_text(encoding="utf-8")  # regexes: no tomllib on Python 3.10
    floor = re.search(r"^fail_under = ([\d.]+)", config, re.M)
    m = re.search(r"Coverage is ([\d.]+)% of `humc/`", (REPO / "README.md").read_text(encoding="utf-8"))
    assert m and floor and float(floor.group(1)) < float(m.group(1)) < float(floor.group(1)) + 2
    assert re.search(r'^filterwarnings = \[\s*"error",', config, re.M)
    assert re.search(r"^\[tool\.mypy\]\nstrict = true$", config, re.M)


def test_every_stdlib_folder_is_installed_with_a_wheel():
    """A wheel carries stdlib/ through pyproject's data-files: a folder missing there is missing for every user
    who installs humc without a checkout."""
    import tomllib

    data_files = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    listed = {dest.removeprefix("share/humc/") for dest in data_files}
    folders = {str(p.parent.relative_to(REPO)) for p in (REPO / "stdlib").rglob("*") if p.is_file()}
    assert folders <= listed, sorted(folders - listed)
