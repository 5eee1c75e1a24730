"""Our grader against ``nbgrader autograde``: seconds per notebook and pass/fail agreement per item.

    COURSE_OFFLINE=1 .venv/bin/python benchmarks/grade_vs_nbgrader.py
    COURSE_OFFLINE=1 .venv/bin/python benchmarks/grade_vs_nbgrader.py --exercises 03_kl_and_elbo --per-exercise 3

Per exercise, N submissions made from nbgrader's released notebook: even-numbered ones are
copies of the solution, odd-numbered ones carry one catalogued mistake (tests/mistakes/, taken
in catalogue order, so successive submissions hit different items). The same submissions
are graded twice on this machine, one grader after the other:

* ``python -m autograder grade submitted/ --jobs J`` (default: all cores), a subprocess,
  timed from start to exit, computing the reference outputs once per exercise;
* ``nbgrader autograde "*"`` in the assembled course directory (one run for all assignments;
  nbgrader grades one notebook at a time, executing it whole in a fresh kernel).

And all of that in two modes: ``stripped`` (submissions cut to setup, answer and self-check
cells, so the figure compares the graders, not the demos) and ``shipped`` (the notebooks as
students get them, demos included, run in fast mode: COURSE_FAST=1 comes with the course's
nbgrader config). An item passes in our grader when all its checks get their full score, in
nbgrader when its self-check cell gets its points (both run every check: the course's
nbgrader config sets COURSE_SELFCHECK_ALL=1).

Results: printed, and written as JSON to benchmarks/results/grade_vs_nbgrader.json.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import nbformat  # noqa: E402

from autograder import nbgrader_course as course  # noqa: E402
from vaegan.curriculum import EXERCISES  # noqa: E402

DEFAULT_EXERCISES = ("00_setup_and_data", "03_kl_and_elbo", "09_gan_losses")
MODES = ("stripped", "shipped")


def mistakes_of(slug: str) -> list:
    try:
        return list(importlib.import_module(f"tests.mistakes.ex{slug}").MISTAKES)
    except ImportError:
        return []


def plan(exercises, per_exercise: int) -> list[dict]:
    """Who submits what: ``[{student, exercise, kind, item, mistake}]`` (same plan for both modes)."""
    rows = []
    for slug in exercises:
        mistakes = mistakes_of(slug)
        for k in range(per_exercise):
            row = {"student": f"s{k:02d}", "exercise": slug, "kind": "solution", "item": None, "mistake": None}
            if k % 2 == 1 and mistakes:
                m = mistakes[(k // 2) % len(mistakes)]
                row.update(kind="mistake", item=m.item, mistake=m.label)
            rows.append(row)
    return rows


def write_submissions(root: Path, rows: list[dict], stripped: bool) -> None:
    catalogue = {slug: {m.label: m for m in mistakes_of(slug)} for slug in {r["exercise"] for r in rows}}
    for row in rows:
        slug = row["exercise"]
        solution = nbformat.read(REPO / "solutions" / f"{slug}.ipynb", as_version=4)
        release = nbformat.read(root / "release" / slug / f"{slug}.ipynb", as_version=4)
        answers = course.solution_answers(solution)
        if row["kind"] == "mistake":
            m = catalogue[slug][row["mistake"]]
            answers[m.item] = answers[m.item] + "\n\n" + m.source.strip() + "\n"
        nb = course.make_submission(release, answers)
        dest = root / "submitted" / row["student"] / slug / f"{slug}.ipynb"
        dest.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(course.graded_cells_only(nb) if stripped else nb, dest)


def run_mode(mode: str, workdir: Path, exercises, rows, jobs: int, log) -> dict:
    root = workdir / mode / "course"
    shutil.rmtree(root.parent, ignore_errors=True)
    env = course.nbgrader_env({"COURSE_RUNS_DIR": str(workdir / mode / "runs")})
    course.build(root, only=exercises)
    done = course.run_nbgrader(root, "generate_assignment", "*", "--force", env=env)
    if done.returncode != 0:
        raise RuntimeError(f"nbgrader generate_assignment failed:\n{done.stderr[-3000:]}")
    write_submissions(root, rows, stripped=(mode == "stripped"))
    n = len(rows)

    log(f"[{mode}] our grader: {n} notebooks, --jobs {jobs}")
    out = workdir / mode / "grades"
    started = time.monotonic()
    ours_run = subprocess.run([sys.executable, "-m", "autograder", "grade", str(root / "submitted"), "--out", str(out),
                               "--jobs", str(jobs)], cwd=REPO, env=env, capture_output=True, text=True)
    ours_seconds = time.monotonic() - started
    if ours_run.returncode != 0:
        raise RuntimeError(f"our grader failed:\n{ours_run.stderr[-3000:]}")

    log(f"[{mode}] nbgrader autograde: {n} notebooks")
    started = time.monotonic()
    theirs_run = course.run_nbgrader(root, "autograde", "*", "--force", env=env)
    theirs_seconds = time.monotonic() - started

    ours = course.grades_csv_item_passes(out / "grades.csv")
    theirs = course.nbgrader_item_passes(root)
    agreement = course.compare_passes(ours, theirs)
    result = {
        "notebooks": n,
        "grader": {"seconds": round(ours_seconds, 2), "seconds_per_notebook": round(ours_seconds / n, 3),
                   "jobs": jobs, "exit_code": ours_run.returncode},
        "nbgrader": {"seconds": round(theirs_seconds, 2), "seconds_per_notebook": round(theirs_seconds / n, 3),
                     "exit_code": theirs_run.returncode},
        "ratio_nbgrader_over_grader": round(theirs_seconds / ours_seconds, 2) if ours_seconds else None,
        "agreement": agreement,
        "items_failed": {"grader": sum(not ok for items in ours.values() for ok in items.values()),
                         "nbgrader": sum(not ok for items in theirs.values() for ok in items.values())},
    }
    if theirs_run.returncode != 0:
        result["nbgrader"]["log_tail"] = theirs_run.stderr[-2000:]
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exercises", nargs="+", default=None,
                        help=f"NN_slug of the exercises (default: those of {', '.join(DEFAULT_EXERCISES)} that exist)")
    parser.add_argument("--per-exercise", type=int, default=10, help="submissions per exercise (default 10)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="our grader's --jobs (default: all cores)")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "grade_vs_nbgrader.json"))
    parser.add_argument("--workdir", default=None,
                        help="keep the course directories here (default: a temporary folder)")
    args = parser.parse_args(argv)

    available = {p.stem for p in course.solution_notebooks()}
    exercises = args.exercises or [s for s in DEFAULT_EXERCISES if s in available]
    bad = [s for s in exercises if s not in available or not EXERCISES.get(s)]
    if bad:
        parser.error(f"not a graded exercise with a solution here: {', '.join(bad)}")
    rows = plan(exercises, args.per_exercise)

    def log(message):
        print(message, file=sys.stderr, flush=True)

    report = {
        "benchmark": "grade_vs_nbgrader",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "load_average_before": _load(), "platform": platform.platform(),
                    "python": platform.python_version(), "torch": _version("torch"), "nbgrader": _version("nbgrader")},
        "settings": {"exercises": exercises, "per_exercise": args.per_exercise, "jobs": args.jobs,
                     "submissions": rows,
                     "notes": "grader seconds include its start and the reference outputs (once per exercise); "
                              "nbgrader seconds are one `nbgrader autograde \"*\"` run; both wall-clock, one after "
                              "the other; generate_assignment is not timed"},
        "modes": {},
    }
    tmp = None if args.workdir else tempfile.TemporaryDirectory(prefix="grade-vs-nbgrader-")
    workdir = Path(args.workdir or tmp.name)
    try:
        for mode in args.modes:
            report["modes"][mode] = run_mode(mode, workdir, exercises, rows, args.jobs, log)
    finally:
        if tmp:
            tmp.cleanup()
    report["machine"]["load_average_after"] = _load()

    print(f"{len(rows)} notebooks ({', '.join(exercises)}; {args.per_exercise} each), our grader --jobs {args.jobs}")
    print(f"{'mode':10} {'grader s/nb':>12} {'nbgrader s/nb':>14} {'ratio':>7} {'agreement':>14}")
    for mode, r in report["modes"].items():
        a = r["agreement"]
        print(f"{mode:10} {r['grader']['seconds_per_notebook']:12.2f} {r['nbgrader']['seconds_per_notebook']:14.2f} "
              f"{r['ratio_nbgrader_over_grader']:7.2f} {a['agree']:>6}/{a['items']:<4} items")
        for d in a["differ"]:
            print(f"    differ: {d}")
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return 0


def _load():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _version(name: str):
    try:
        return importlib.import_module(name).__version__
    except Exception:  # noqa: BLE001 - informational only
        return None


if __name__ == "__main__":
    sys.exit(main())
