"""Generate ``exercises/`` from ``solutions/`` (nbgrader's ClearSolutions/ClearHiddenTests, same markers).

* answer cells (``nbgrader.solution``): each ``### BEGIN SOLUTION`` ... ``### END SOLUTION``
  region becomes the nbgrader stub ``# YOUR CODE HERE`` / ``raise NotImplementedError()``
  at the marker's indentation (a cell without markers becomes the stub);
* test cells: ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` regions are removed;
* outputs and execution counts are cleared; the notebook metadata says ``kind: exercise``.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

STUB = ["# YOUR CODE HERE", "raise NotImplementedError()"]
_BEGIN = re.compile(r"^(\s*)### BEGIN SOLUTION\s*$")
_END = re.compile(r"^\s*### END SOLUTION\s*$")
_BEGIN_HIDDEN = re.compile(r"^\s*### BEGIN HIDDEN TESTS\s*$")
_END_HIDDEN = re.compile(r"^\s*### END HIDDEN TESTS\s*$")


class ReleaseError(ValueError):
    """A solution notebook has unbalanced markers."""


def clear_solution(source: str) -> str:
    lines = source.splitlines()
    if not any(_BEGIN.match(ln) for ln in lines):
        if any(_END.match(ln) for ln in lines):
            raise ReleaseError("### END SOLUTION without BEGIN")
        return "\n".join(STUB)
    out, inside = [], False
    for ln in lines:
        begin = _BEGIN.match(ln)
        if begin:
            if inside:
                raise ReleaseError("nested ### BEGIN SOLUTION")
            inside = True
            out += [begin.group(1) + s for s in STUB]
        elif _END.match(ln):
            if not inside:
                raise ReleaseError("### END SOLUTION without BEGIN")
            inside = False
        elif not inside:
            out.append(ln)
    if inside:
        raise ReleaseError("### BEGIN SOLUTION without END")
    return "\n".join(out)


def clear_hidden_tests(source: str) -> str:
    out, inside = [], False
    for ln in source.splitlines():
        if _BEGIN_HIDDEN.match(ln):
            inside = True
        elif _END_HIDDEN.match(ln):
            inside = False
        elif not inside:
            out.append(ln)
    return "\n".join(out).rstrip()


def exercise_from_solution(nb):
    """A new notebook: ``nb`` with solutions and hidden tests removed."""
    ex = copy.deepcopy(nb)
    for cell in ex.cells:
        grader = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            if grader.get("solution"):
                cell.source = clear_solution(cell.source)
            elif grader.get("grade"):
                cell.source = clear_hidden_tests(cell.source)
        elif cell.cell_type == "markdown" and grader.get("solution"):
            cell.source = "YOUR ANSWER HERE"
    ex.metadata.setdefault("course", {})["kind"] = "exercise"
    return ex


def dumps(nb) -> str:
    return nbformat.writes(nb, version=4) + "\n"


def release_all(solutions: Path, exercises: Path, check: bool = False) -> list[str]:
    """Write (or with ``check`` only compare) every exercise; returns the names that changed."""
    changed = []
    for src in sorted(solutions.glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(src, as_version=4)
        text = dumps(exercise_from_solution(nb))
        dest = exercises / src.name
        if not dest.exists() or dest.read_text(encoding="utf-8") != text:
            changed.append(src.name)
            if not check:
                exercises.mkdir(parents=True, exist_ok=True)
                dest.write_text(text, encoding="utf-8")
    return changed
