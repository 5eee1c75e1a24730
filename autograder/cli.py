"""``python -m autograder grade PATH... --out DIR [--student NAME]`` and ``release``."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _grade(args) -> int:
    from .grading import grade_paths
    from .points import ReferenceProblem
    from .report import summary_line, table, write_reports
    from .runner import Limits

    from .sandbox import detect

    out = Path(args.out)
    print(detect().describe(Limits().memory_bytes), file=sys.stderr)
    limits = Limits(load_seconds=args.load_timeout, submission_seconds=args.submission_timeout,
                    check_seconds=args.check_timeout)
    try:
        run = grade_paths(args.paths, out, student=args.student, reference_dir=args.reference, jobs=args.jobs,
                          limits=limits, log=lambda m: print(m, file=sys.stderr), force=args.force)
    except ReferenceProblem as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    write_reports(out, run)
    for note in run.notes:
        print(f"note: {note}", file=sys.stderr)
    print(table(run.results))
    print(f"\n{summary_line(run)}")
    print(f"wrote {out / 'grades.csv'}, {out / 'gradebook.csv'}, feedback/, gradescope/ and summary.json")
    return 0


def _release(args) -> int:
    from .release import release_all

    changed = release_all(Path(args.solutions), Path(args.exercises), check=args.check)
    if args.check and changed:
        print("exercises are out of date with solutions: " + ", ".join(changed), file=sys.stderr)
        print("run: python -m autograder release", file=sys.stderr)
        return 1
    print("up to date" if not changed else "wrote " + ", ".join(changed))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade notebooks, folders of notebooks or an nbgrader submitted/ tree")
    g.add_argument("paths", nargs="+")
    g.add_argument("--out", required=True, help="folder for grades.csv, gradebook.csv and per-notebook results")
    g.add_argument("--student", help="student name for every notebook given (default: from the folder names)")
    g.add_argument("--reference", help="folder of reference solution notebooks (default: solutions/)")
    g.add_argument("--jobs", type=int, default=os.cpu_count(), help="notebooks graded in parallel")
    g.add_argument("--load-timeout", type=float, default=120.0, help="seconds to load one notebook")
    g.add_argument("--submission-timeout", type=float, default=600.0, help="seconds for all checks of one notebook")
    g.add_argument("--force", action="store_true", help="regrade notebooks already in the journal")
    g.add_argument("--check-timeout", type=float, default=None, help="cap on each check's own time limit")
    g.set_defaults(func=_grade)
    r = sub.add_parser("release", help="generate exercises/ from solutions/")
    repo = Path(__file__).resolve().parents[1]
    r.add_argument("--solutions", default=str(repo / "solutions"))
    r.add_argument("--exercises", default=str(repo / "exercises"))
    r.add_argument("--check", action="store_true", help="only report drift, write nothing")
    r.set_defaults(func=_release)
    args = parser.parse_args(argv)
    return args.func(args)
