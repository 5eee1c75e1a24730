"""Exercises are generated from solutions (no drift), stubs keep signatures, hidden tests vanish."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from autograder.release import ReleaseError, clear_hidden_tests, clear_solution, exercise_from_solution, release_all
from vaegan.curriculum import EXERCISES

REPO = Path(__file__).resolve().parents[1]


def test_committed_exercises_match_generated(tmp_path):
    changed = release_all(REPO / "solutions", REPO / "exercises", check=True)
    assert changed == [], f"exercises drifted from solutions: {changed}; run `python -m autograder release`"
    generated = {p.name for p in (REPO / "solutions").glob("[0-9][0-9]_*.ipynb")}
    assert {p.name for p in (REPO / "exercises").glob("[0-9][0-9]_*.ipynb")} == generated


def test_drift_is_detected(tmp_path):
    release_all(REPO / "solutions", tmp_path)
    victim = sorted(tmp_path.glob("*.ipynb"))[0]
    victim.write_text(victim.read_text().replace("raise NotImplementedError()", "return None", 1))
    assert release_all(REPO / "solutions", tmp_path, check=True) == [victim.name]


def test_stub_keeps_signature_docstring_and_indentation():
    source = 'def f(x):\n    """Doc."""\n    ### BEGIN SOLUTION\n    y = x + 1\n    return y\n    ### END SOLUTION\n'
    assert clear_solution(source) == 'def f(x):\n    """Doc."""\n    # YOUR CODE HERE\n    raise NotImplementedError()'


def test_cell_without_markers_becomes_stub_and_unbalanced_markers_fail():
    assert clear_solution("x = 1") == "# YOUR CODE HERE\nraise NotImplementedError()"
    with pytest.raises(ReleaseError):
        clear_solution("### BEGIN SOLUTION\nx = 1")
    with pytest.raises(ReleaseError):
        clear_solution("x = 1\n### END SOLUTION")


def test_hidden_tests_removed():
    assert clear_hidden_tests("check(a)\n### BEGIN HIDDEN TESTS\nsecret()\n### END HIDDEN TESTS\n") == "check(a)"


@pytest.mark.parametrize("path", sorted((REPO / "solutions").glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.name)
def test_solution_notebook_structure(path):
    """Metadata names the exercise; graded items match the curriculum; points add up to 10; no solution leaks."""
    nb = nbformat.read(path, as_version=4)
    slug = nb.metadata["course"]["exercise"]
    assert path.stem == slug and nb.metadata["course"]["kind"] == "solution"
    answers = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert sorted(c.metadata["course"]["item"] for c in answers) == sorted(EXERCISES[slug])
    assert sorted(c.metadata["course"]["item"] for c in graded) == sorted(EXERCISES[slug])
    if EXERCISES[slug]:
        assert sum(c.metadata["nbgrader"]["points"] for c in graded) == 10
    ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    assert len(ids) == len(set(ids)), "nbgrader grade_ids must be unique"
    exercise = exercise_from_solution(nb)
    for cell in exercise.cells:
        assert "### BEGIN SOLUTION" not in cell.source
    assert exercise.metadata["course"]["kind"] == "exercise"
