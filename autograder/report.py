"""``grades.csv`` (long), ``gradebook.csv`` (wide, for LMS import) and the terminal table."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from .grading import NotebookResult, _atomic_write

GRADES_HEADER = ["student", "exercise", "check", "score", "max_score", "message"]


def _fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def grades_csv(results: list[NotebookResult]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(GRADES_HEADER)
    for r in sorted(results, key=lambda r: (r.student, r.exercise)):
        for c in r.results:
            writer.writerow([r.student, r.exercise, c.check, _fmt(c.score), _fmt(c.max_score), c.message])
    return buf.getvalue()


def gradebook_csv(results: list[NotebookResult]) -> str:
    exercises = sorted({r.exercise for r in results})
    students = sorted({r.student for r in results})
    table = {(r.student, r.exercise): r.score for r in results}
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["student", *exercises, "total"])
    for s in students:
        row = [table.get((s, e)) for e in exercises]
        total = sum(v for v in row if v is not None)
        writer.writerow([s, *("" if v is None else _fmt(v) for v in row), _fmt(round(total, 2))])
    return buf.getvalue()


def write_reports(out: Path, results: list[NotebookResult]) -> None:
    _atomic_write(out / "grades.csv", grades_csv(results))
    _atomic_write(out / "gradebook.csv", gradebook_csv(results))


def table(results: list[NotebookResult]) -> str:
    """Per-student table: one line per notebook, then failed checks indented."""
    lines = []
    width = max([len("student")] + [len(r.student) for r in results])
    lines.append(f"{'student':<{width}}  {'exercise':<32} {'score':>11}")
    lines.append("-" * (width + 46))
    for r in sorted(results, key=lambda r: (r.student, r.exercise)):
        lines.append(f"{r.student:<{width}}  {r.exercise:<32} {_fmt(r.score):>5} / {_fmt(r.max_score):<3}")
        for c in r.results:
            if c.score < c.max_score:
                lines.append(f"{'':<{width}}    x {c.check}: {c.message[:150]}")
    return "\n".join(lines)
