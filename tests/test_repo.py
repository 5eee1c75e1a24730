"""Repository hygiene: dependencies agree, notebooks carry no outputs, the two commands are documented."""
from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for folder in ("lessons", "exercises", "solutions") for p in (REPO / folder).glob("*.ipynb"))
CONDA_NAMES = {"torch": "pytorch"}  # pip name -> conda name


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_agrees_with_pyproject_runtime_dependencies():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = {CONDA_NAMES.get(_name(r), _name(r)) for r in project["dependencies"]}
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python", "pip"}
    pip_section = [d for d in env["dependencies"] if isinstance(d, dict)]
    assert pip_section and "-e ." in pip_section[0]["pip"], "environment.yml must install the project with pip"
    assert runtime <= conda, f"missing from environment.yml: {sorted(runtime - conda)}"
    dev = {CONDA_NAMES.get(_name(r), _name(r)) for r in project["optional-dependencies"]["dev"]}
    assert conda <= runtime | dev, f"environment.yml lists packages pyproject.toml does not: {sorted(conda - runtime - dev)}"
    # the list for conda users
    for name in ("pytorch", "torchvision", "matplotlib", "jupyterlab", "nbgrader", "pytest", "tqdm", "scipy", "mlxtend"):
        assert name in conda


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebooks_have_no_outputs(path):
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        assert not cell.get("outputs") and cell.get("execution_count") is None, f"{path.name}: clear outputs"


def test_every_number_exists_three_times():
    for folder in ("lessons", "exercises", "solutions"):
        assert (REPO / folder / "00_setup_and_data.ipynb").exists()
    names = lambda f: {p.name for p in (REPO / f).glob("[0-9][0-9]_*.ipynb")}  # noqa: E731
    assert names("solutions") == names("exercises")


def test_readme_opens_with_the_two_commands_and_ci_calls_make_test():
    readme = (REPO / "README.md").read_text()
    head = readme[:1500]
    assert "make demo" in head and "make test" in head
    for needle in ("LeCun", "Xiao", "Fashion-MNIST", "License"):
        assert needle in readme
    assert "make test" in (REPO / ".ci" / "run").read_text()
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^test:", makefile, re.M) and re.search(r"^demo:", makefile, re.M)


GIVEN = re.compile(r"^# --- given: reference code from (\d\d_\w+) \(read-only\) ---$", re.M)


def _given_definitions():
    """(notebook, slug, name, node) for each def/class in a setup cell's "given: reference code" block."""
    import ast

    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] != "code":
                continue
            parts = GIVEN.split("".join(cell["source"]))
            for slug, block in zip(parts[1::2], parts[2::2]):
                for node in ast.parse(block).body:
                    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                        yield path.relative_to(REPO), slug, node.name, node


def test_given_reference_code_matches_the_reference():
    """Code given from earlier notebooks (one mistake costs points once) is the reference itself, not a
    drifted copy: same syntax tree as the solution's definition (comments and markers aside)."""
    import ast

    from vaegan.notebooks import source_of

    drifted, seen = [], 0
    for where, slug, name, node in _given_definitions():
        seen += 1
        reference = next(n for n in ast.parse(source_of(slug, name)).body if getattr(n, "name", None) == name)
        if ast.dump(reference) != ast.dump(node):
            drifted.append(f"{where}: {name} differs from solutions/{slug}.ipynb")
    assert seen >= 10, "no given blocks found: has the marker changed?"
    assert not drifted, drifted
