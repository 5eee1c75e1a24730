"""Journal, resume after a kill, --force, private checks and the output files."""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.grading import grade_paths
from autograder.report import summary_line, write_reports
from tests.test_grader import EXERCISE, GOOD, SOLUTION, variant

QUIET = {"log": lambda m: None}


def _class(root: Path, n: int) -> Path:
    for i in range(n):
        variant(root / f"s{i}" / "00_setup_and_data.ipynb", GOOD if i % 2 == 0 else {})
    return root


def test_rerun_is_idempotent_and_changes_are_regraded(tmp_path):
    cls, out = _class(tmp_path / "class", 2), tmp_path / "out"
    first = grade_paths([cls], out, jobs=2, **QUIET)
    write_reports(out, first)
    grades = (out / "grades.csv").read_bytes()
    second = grade_paths([cls], out, jobs=2, **QUIET)
    write_reports(out, second)
    assert (second.summary.graded, second.summary.reused) == (0, 2)
    assert (out / "grades.csv").read_bytes() == grades
    assert second.summary.slowest == [] and "per graded notebook" not in summary_line(second)  # nothing timed
    variant(cls / "s1" / "00_setup_and_data.ipynb", GOOD)  # a resubmission
    third = grade_paths([cls], out, jobs=2, **QUIET)
    assert (third.summary.graded, third.summary.reused) == (1, 1)
    assert [name for name, _ in third.summary.slowest] == ["s1/00_setup_and_data"]  # not the journal's old times
    assert {r.student: r.score for r in third.results} == {"s0": 10, "s1": 10}
    forced = grade_paths([cls], out, jobs=2, force=True, **QUIET)
    assert (forced.summary.graded, forced.summary.reused) == (2, 0)


def test_a_journal_entry_of_another_shape_is_regraded_not_fatal(tmp_path):
    """An entry another grader version wrote (or an edited one) with the right keys but odd results."""
    cls, out = _class(tmp_path / "class", 2), tmp_path / "out"
    grade_paths([cls], out, jobs=1, **QUIET)
    odd = {"s0": lambda e: e["results"][0].pop("max_score"), "s1": lambda e: e.update(results=None)}
    for student, edit in odd.items():
        path = out / "results" / student / "00_setup_and_data.json"
        entry = json.loads(path.read_text())
        edit(entry)
        path.write_text(json.dumps(entry))
    again = grade_paths([cls], out, jobs=1, **QUIET)
    assert (again.summary.graded, again.summary.reused) == (2, 0)
    assert {r.student: r.score for r in again.results} == {"s0": 10, "s1": 0}
    third = grade_paths([cls], out, jobs=1, **QUIET)  # the regraded entries are the journal's again
    assert (third.summary.graded, third.summary.reused) == (0, 2)


SLOW = {**GOOD, "count_parameters": "import time\n\n\ndef count_parameters(model):\n    time.sleep(2)\n"
                                      "    return sum(p.numel() for p in model.parameters() if p.requires_grad)"}


def test_a_late_submission_graded_alone_keeps_the_class_in_the_gradebook(tmp_path):
    cls, out = _class(tmp_path / "class", 2), tmp_path / "out"
    write_reports(out, grade_paths([cls], out, jobs=1, **QUIET))
    late = variant(tmp_path / "late" / "zoe" / "00_setup_and_data.ipynb", GOOD)
    run = grade_paths([late], out, jobs=1, **QUIET)
    write_reports(out, run)
    assert [r.student for r in run.results] == ["zoe"]  # this run's own results, as printed
    assert any("earlier runs" in n for n in run.notes)
    with open(out / "gradebook.csv", newline="") as fh:
        totals = {row["student"]: row["total"] for row in csv.DictReader(fh)}
    assert totals == {"s0": "10", "s1": "0", "zoe": "10"}
    with open(out / "grades.csv", newline="") as fh:
        assert {row["student"] for row in csv.DictReader(fh)} == {"s0", "s1", "zoe"}
    variant(cls / "s1" / "00_setup_and_data.ipynb", GOOD)  # s1 resubmits: this run's result replaces the old
    write_reports(out, grade_paths([cls / "s1"], out, jobs=1, **QUIET))
    with open(out / "gradebook.csv", newline="") as fh:
        assert {row["student"]: row["total"] for row in csv.DictReader(fh)} == {"s0": "10", "s1": "10", "zoe": "10"}
    stray = out / "results" / "s0" / "copy.json"  # an entry outside its own file is not listed twice
    shutil.copy(out / "results" / "s0" / "00_setup_and_data.json", stray)
    again = grade_paths([late], out, jobs=1, **QUIET)
    assert sorted((r.student, r.exercise) for r in again.earlier) == [("s0", "00_setup_and_data"),
                                                                       ("s1", "00_setup_and_data")]


def test_killed_run_resumes_without_losing_results(tmp_path):
    cls, out = _class(tmp_path / "class", 3), tmp_path / "out"
    variant(cls / "s2" / "00_setup_and_data.ipynb", SLOW)  # graded last and slowly: the kill lands before it ends
    cmd = [sys.executable, "-m", "autograder", "grade", str(cls), "--out", str(out), "--jobs", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not list((out / "results").glob("*/*.json")):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {p: p.read_text() for p in (out / "results").glob("*/*.json")}
    assert 1 <= len(finished) < 3, "kill it while grading"
    assert all(json.loads(text)["results"] for text in finished.values())  # atomic: complete files only
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(finished)} reused from the journal" in rerun.stdout
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert len(rows) == 3 * 9 and {r["student"] for r in rows} == {"s0", "s1", "s2"}
    assert all(p.read_text() == text for p, text in finished.items())


def test_outputs_and_private_hidden_checks(tmp_path):
    reference = tmp_path / "private"
    (reference / "checks").mkdir(parents=True)
    shutil.copy(SOLUTION, reference / SOLUTION.name)
    (reference / "checks" / "ex00_setup_and_data.py").write_text(
        "from torch import nn\n"
        "from autograder.checks.base import ExerciseChecks, judge_all_close\n"
        "CHECKS = ExerciseChecks('00_setup_and_data')\n"
        "@CHECKS.check('count_parameters', 'private_big_model', visible=False, judge=judge_all_close(atol=0, rtol=0),\n"
        "              hint='secret hint')\n"
        "def big(ns, inputs):\n"
        "    return {'count': ns.count_parameters(nn.Sequential(nn.Linear(300, 300), nn.Linear(300, 3)))}\n")
    alice = variant(tmp_path / "class" / "alice" / "00_setup_and_data.ipynb", GOOD | {
        "count_parameters": "def count_parameters(model):\n    n = sum(p.numel() for p in model.parameters() if p.requires_grad)\n"
                            "    return n if n < 50000 else 0"})
    out = tmp_path / "out"
    run = grade_paths([alice.parent.parent], out, reference_dir=reference, **QUIET)
    write_reports(out, run)
    result = run.results[0]
    private = [c for c in result.results if c.check == "count_parameters.private_big_model"]
    assert private and private[0].score == 0 and not private[0].visible
    assert sum(c.max_score for c in result.results) == 10  # points still add up to 10
    gradescope = json.loads((out / "gradescope" / "alice" / "results.json").read_text())
    assert set(gradescope) >= {"score", "execution_time", "tests"}
    assert gradescope["score"] == result.score
    test = next(t for t in gradescope["tests"] if t["name"].endswith("private_big_model"))
    assert test["visibility"] != "visible" and test["max_score"] > 0
    feedback = (out / "feedback" / "alice.md").read_text()
    assert "private_big_model" in feedback and "secret hint" not in feedback and "hidden check failed" in feedback
    assert "<table>" in (out / "feedback" / "alice.html").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["graded"] == 1 and "sandbox:" in summary["sandbox"]


def test_feedback_gives_an_untouched_item_one_line_and_keeps_every_check_in_grades_csv():
    """A stub fails every check of its item with one message: the student reads it once (``item (N checks)``, the
    item's points), the gradebook keeps a row per check, and a hidden check's own message never shows."""
    from autograder.grading import CheckResult, NotebookResult
    from autograder.report import feedback_html, feedback_markdown, grades_csv, table

    stub = "kl_divergence: not implemented yet"
    result = NotebookResult("bob", "03_kl_and_elbo", "bob/03.ipynb", [
        CheckResult("kl_divergence.zero_at_prior", 0, 1, stub), CheckResult("kl_divergence.sums", 0, 2, stub),
        CheckResult("kl_divergence.hidden", 0, 1, stub, visible=False),
        CheckResult("vae_loss.batch_means", 0, 1, "off by 2"), CheckResult("vae_loss.beta", 1, 1, "passed"),
        CheckResult("extra.secret_a", 0, 1, "the secret", visible=False),
        CheckResult("extra.secret_b", 0, 1, "the secret", visible=False)])
    markdown = feedback_markdown("bob", [result])
    assert markdown.count(stub) == 1 and "**kl_divergence (3 checks)** (0/4)" in markdown, markdown
    assert "**vae_loss.batch_means** (0/1): off by 2" in markdown and "vae_loss.beta" not in markdown
    assert "the secret" not in markdown and markdown.count("hidden check failed") == 2  # hidden alone: not merged
    page = feedback_html("bob", [result])
    assert page.count(stub) == 1 and "vae_loss.beta" in page and "the secret" not in page
    assert table([result]).count(stub) == 1 and table([result]).count("the secret") == 2  # the instructor's view
    assert grades_csv([result]).count(stub) == 3  # the gradebook keeps every check


@pytest.mark.parametrize("source,says", [("from .base import ExerciseChecks\n", "ImportError"),
                                         ("X = 1\n", "defines no CHECKS")])
def test_private_checks_that_cannot_load_stop_with_the_reason(tmp_path, source, says):
    """A private checks file copied from autograder/checks/ (a relative import) or missing CHECKS: the instructor
    reads what is wrong and how to write it, not a traceback."""
    from autograder.checks import checks_for
    from autograder.points import ReferenceProblem

    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "ex09_gan_losses.py").write_text(source)
    with pytest.raises(ReferenceProblem, match=says) as err:
        checks_for("09_gan_losses", tmp_path)
    assert "absolute names" in str(err.value) and "ex09_gan_losses.py" in str(err.value)
