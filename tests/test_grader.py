"""Grading core end to end: a small class with honest, broken and misbehaving submissions."""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from autograder.checks import checks_for
from autograder.grading import grade_paths
from autograder.report import GRADES_HEADER, write_reports
from autograder.runner import Limits
from tests.conftest import once_per_run

REPO = Path(__file__).resolve().parents[1]
SOLUTION = REPO / "solutions" / "00_setup_and_data.ipynb"
EXERCISE = REPO / "exercises" / "00_setup_and_data.ipynb"
CHECK_IDS = [c.id for c in checks_for("00_setup_and_data").checks]


def variant(dest: Path, replacements: dict[str, str], source: Path = EXERCISE) -> Path:
    """A copy of ``source`` with answer cells of the given items replaced."""
    nb = nbformat.read(source, as_version=4)
    for cell in nb.cells:
        item = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and item in replacements:
            cell.source = replacements[item]
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
    return dest


GOOD = {
    "count_parameters": "def count_parameters(model):\n    return sum(p.numel() for p in model.parameters() if p.requires_grad)",
    "to_tanh_range": "def to_tanh_range(x):\n    return x * 2 - 1",
    "from_tanh_range": "def from_tanh_range(x):\n    return x / 2 + 0.5",
}


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """Grade one class folder once per run; the tests below read the results."""
    return once_per_run(tmp_path_factory, "grader-class", lambda: _grade_class(tmp_path_factory))


def _grade_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    sub = root / "submitted"
    variant(sub / "alice" / "00_setup_and_data" / "00_setup_and_data.ipynb", GOOD)  # honest, different style
    shutil.copy(EXERCISE, _mk(sub / "bob" / "00_setup_and_data") / "00_setup_and_data.ipynb")  # untouched
    variant(sub / "carol" / "00_setup_and_data" / "00_setup_and_data.ipynb", GOOD | {
        "count_parameters": "import os\ndef count_parameters(model):\n    os._exit(3)"})
    variant(sub / "dave" / "00_setup_and_data" / "00_setup_and_data.ipynb", GOOD | {
        "to_tanh_range": "def to_tanh_range(x):\n    while True:\n        pass"})
    (_mk(sub / "erin" / "00_setup_and_data") / "00_setup_and_data.ipynb").write_text("{ this is not json")
    variant(sub / "frank" / "00_setup_and_data" / "00_setup_and_data.ipynb", GOOD | {
        "from_tanh_range": "import ctypes\ndef from_tanh_range(x):\n    ctypes.string_at(0)"})  # segfault
    old = variant(sub / "gina" / "00_setup_and_data" / "old" / "00_setup_and_data.ipynb", {})
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    variant(sub / "gina" / "00_setup_and_data" / "Copy of 00_setup_and_data (2).ipynb", GOOD)
    checkpoint = variant(sub / "gina" / "00_setup_and_data" / ".ipynb_checkpoints" / "00_setup_and_data-checkpoint.ipynb", {})
    os.utime(checkpoint, (time.time() + 60, time.time() + 60))
    (_mk(sub / "hank" / "unknown") / "homework.ipynb").write_text(EXERCISE.read_text().replace("00_setup_and_data", "xx"))
    out = root / "grades"
    limits = Limits(check_seconds=4, load_seconds=60)
    run = grade_paths([sub], out, jobs=2, limits=limits, log=lambda m: None)
    write_reports(out, run)
    return {r.student: r for r in run.results}, run.notes, out


def _mk(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def scores(result) -> dict[str, float]:
    return {c.check: c.score for c in result.results}


def test_honest_unusual_solution_gets_full_marks(graded_class):
    results, _, _ = graded_class
    assert results["alice"].score == 10 and results["alice"].max_score == 10


def test_untouched_exercise_scores_zero_with_readable_messages(graded_class):
    bob = graded_class[0]["bob"]
    assert bob.score == 0
    assert all("not implemented yet" in c.message for c in bob.results)


def test_crash_fails_only_the_checks_it_affects(graded_class):
    carol = scores(graded_class[0]["carol"])
    for cid, score in carol.items():
        assert (score == 0) == cid.startswith("count_parameters."), cid
    messages = [c.message for c in graded_class[0]["carol"].results if c.score == 0]
    assert all("crashed" in m and "exit code 3" in m for m in messages)


def test_segfault_fails_only_its_item(graded_class):
    frank = graded_class[0]["frank"]
    for c in frank.results:
        assert (c.score == 0) == c.check.startswith("from_tanh_range."), c
    assert any("SIGSEGV" in c.message for c in frank.results)


def test_infinite_loop_times_out_only_its_checks(graded_class):
    dave = graded_class[0]["dave"]
    for c in dave.results:
        assert (c.score == 0) == c.check.startswith("to_tanh_range."), c
        if c.score == 0:
            assert "timed out after 4 s" in c.message


def test_unloadable_notebook_gets_a_row_per_check(graded_class):
    erin = graded_class[0]["erin"]
    assert [c.check for c in erin.results] == CHECK_IDS
    assert all(c.score == 0 and "not a valid Jupyter notebook" in c.message for c in erin.results)


def test_newest_duplicate_graded_and_checkpoints_ignored(graded_class):
    results, notes, _ = graded_class
    gina = results["gina"]
    assert gina.score == 10 and gina.path.endswith("Copy of 00_setup_and_data (2).ipynb")
    assert any("two notebooks for 00_setup_and_data" in n for n in notes)
    assert any("also found" in n for n in gina.notes)


def test_unidentifiable_notebook_is_reported_not_fatal(graded_class):
    results, notes, _ = graded_class
    assert "hank" not in results
    assert any("cannot tell which exercise" in n for n in notes)


def test_grades_csv_and_gradebook(graded_class):
    results, _, out = graded_class
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert list(rows[0]) == GRADES_HEADER
    assert len(rows) == len(results) * len(CHECK_IDS)
    assert {r["check"] for r in rows} == set(CHECK_IDS)
    book = {r["student"]: r for r in csv.DictReader((out / "gradebook.csv").open())}
    assert book["alice"]["00_setup_and_data"] == "10" and book["bob"]["total"] == "0"
    per_notebook = json.loads((out / "results" / "alice" / "00_setup_and_data.json").read_text())
    assert per_notebook["score"] == 10


def test_points_come_from_solution_metadata_and_sum_to_ten(graded_class):
    alice = graded_class[0]["alice"]
    by_item = {}
    for c in alice.results:
        by_item[c.check.split(".")[0]] = by_item.get(c.check.split(".")[0], 0) + c.max_score
    assert by_item == {"count_parameters": 4, "to_tanh_range": 3, "from_tanh_range": 3}


def test_cli_exit_zero_and_prints_table(tmp_path):
    scratch = tmp_path / "tmp"  # the grader's temporary folder: its run folder must go when it exits
    scratch.mkdir()
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(EXERCISE), "--out", str(tmp_path),
                           "--student", "zoe"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TMPDIR": str(scratch)})
    assert proc.returncode == 0, proc.stderr
    assert "zoe" in proc.stdout and "0 / 10" in proc.stdout
    assert (tmp_path / "grades.csv").exists()
    assert list(scratch.iterdir()) == [], "the grader left its run folder behind"


def test_load_timeout_skips_the_hung_cell_and_grades_the_rest(tmp_path):
    nb = variant(tmp_path / "s" / "00_setup_and_data.ipynb", GOOD | {
        "to_tanh_range": "import time\nSTALL = time.sleep(30)\ndef to_tanh_range(x):\n    return 2 * x - 1"})
    run = grade_paths([nb], tmp_path / "out", limits=Limits(load_seconds=3), log=lambda m: None)
    result = run.results[0]
    hung = [c for c in result.results if c.check.startswith("to_tanh_range.")]
    assert hung and all(c.score == 0 and "did not finish loading in time" in c.message for c in hung)
    assert all(c.score == c.max_score for c in result.results if c not in hung)  # the other cells still count
    assert any("restart" in n for n in result.notes)


def test_load_timeout_in_every_cell_fails_every_check_with_reason(tmp_path):
    stall = "import time\nSTALL = time.sleep(30)\n"
    nb = variant(tmp_path / "s" / "00_setup_and_data.ipynb", {k: stall + v for k, v in GOOD.items()})
    run = grade_paths([nb], tmp_path / "out", limits=Limits(load_seconds=2), log=lambda m: None)
    assert all(c.score == 0 for c in run.results[0].results)
    assert all("did not finish loading in time" in c.message or "loading the notebook took longer" in c.message
               for c in run.results[0].results)
