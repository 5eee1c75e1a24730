"""Everything a run writes besides the journal: CSV gradebooks, Gradescope results, feedback, summary."""
from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import asdict
from pathlib import Path

from .grading import GradingRun, NotebookResult
from .journal import atomic_write, safe_name

GRADES_HEADER = ["student", "exercise", "check", "score", "max_score", "message"]


def _fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def _cell(text: str) -> str:
    """A text cell a spreadsheet shows as text: one that starts like a formula (``=``, ``+``, ``-``, ``@``)
    gets a leading ``'``, so a folder name or a message quoting student output never runs as one."""
    return f"'{text}" if str(text)[:1] in ("=", "+", "-", "@", "\t", "\r") else str(text)


def grades_csv(results: list[NotebookResult]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(GRADES_HEADER)
    for r in sorted(results, key=lambda r: (r.student, r.exercise)):
        for c in r.results:
            writer.writerow([_cell(r.student), _cell(r.exercise), _cell(c.check), _fmt(c.score), _fmt(c.max_score),
                             _cell(c.message)])
    return buf.getvalue()


def gradebook_csv(results: list[NotebookResult]) -> str:
    exercises = sorted({r.exercise for r in results})
    students = sorted({r.student for r in results})
    table = {(r.student, r.exercise): r.score for r in results}
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["student", *map(_cell, exercises), "total"])
    for s in students:
        row = [table.get((s, e)) for e in exercises]
        total = sum(v for v in row if v is not None)
        writer.writerow([_cell(s), *("" if v is None else _fmt(v) for v in row), _fmt(round(total, 2))])
    return buf.getvalue()


def _by_student(results):
    grouped: dict[str, list[NotebookResult]] = {}
    for r in sorted(results, key=lambda r: (r.student, r.exercise)):
        grouped.setdefault(r.student, []).append(r)
    return grouped


def gradescope_json(results: list[NotebookResult]) -> dict:
    """Gradescope's results.json for one student's notebooks."""
    tests = []
    for r in results:
        for c in r.results:
            tests.append({"name": f"{r.exercise}: {c.check}", "score": c.score, "max_score": c.max_score,
                          "output": c.message if c.score < c.max_score or c.visible else "",
                          "visibility": "visible" if c.visible else "after_published"})
    return {"score": round(sum(r.score for r in results), 2),
            "execution_time": round(sum(r.seconds for r in results), 2),
            "output": "; ".join(n for r in results for n in r.notes)[:2000],
            "tests": tests}


HIDDEN_FAILED = "a hidden check failed; re-read the item's specification"


def _rows(r: NotebookResult, failed_only: bool, reveal_hidden: bool = False) -> list[tuple[str, float, float, str]]:
    """``(check, score, max_score, message)`` as a student reads them. An item whose every check failed with one
    message (a stub, a name not defined, a crash while loading) is one row, ``item (N checks)``, not N copies;
    otherwise a failed hidden check's message is replaced by ``HIDDEN_FAILED``. Per-check rows stay in grades.csv."""
    def shown(c):  # the instructor's console table (reveal_hidden) shows every message
        return c.message if c.visible or reveal_hidden or c.score >= c.max_score else HIDDEN_FAILED

    by_item: dict[str, list] = {}
    for c in r.results:
        by_item.setdefault(c.check.split(".", 1)[0], []).append(c)
    rows, done = [], set()
    for c in r.results:
        item = c.check.split(".", 1)[0]
        group = by_item[item]
        same = (len(group) > 1 and all(g.score <= 0 < g.max_score for g in group)
                and len({g.message for g in group}) == 1 and any(g.visible for g in group))
        if same:  # a visible check shows the same text, so a hidden one's is no secret
            if item not in done:
                done.add(item)
                rows.append((f"{item} ({len(group)} checks)", 0.0, sum(g.max_score for g in group), c.message))
        elif not (failed_only and c.score >= c.max_score):
            rows.append((c.check, c.score, c.max_score, shown(c)))
    return rows


def feedback_markdown(student: str, results: list[NotebookResult]) -> str:
    lines = [f"# Feedback for {student}", ""]
    for r in results:
        lines += [f"## {r.exercise}: {_fmt(r.score)} / {_fmt(r.max_score)}", ""]
        failed = [c for c in r.results if c.score < c.max_score]
        if not failed:
            lines += ["Every check passed.", ""]
        for check, score, max_score, detail in _rows(r, failed_only=True) if failed else ():
            lines.append(f"- **{check}** ({_fmt(score)}/{_fmt(max_score)}): {detail}")
        lines += [f"- note: {n}" for n in r.notes]
        lines.append("")
    return "\n".join(lines)


def feedback_html(student: str, results: list[NotebookResult]) -> str:
    parts = [f"<!doctype html><meta charset='utf-8'><title>Feedback for {html.escape(student)}</title>",
             "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}td,th{padding:.2em .6em;"
             "border-bottom:1px solid #ddd;text-align:left}.fail{color:#a00}.pass{color:#070}</style>",
             f"<h1>Feedback for {html.escape(student)}</h1>"]
    for r in results:
        parts.append(f"<h2>{html.escape(r.exercise)}: {_fmt(r.score)} / {_fmt(r.max_score)}</h2><table>"
                     "<tr><th>check</th><th>score</th><th>message</th></tr>")
        for check, score, max_score, msg in _rows(r, failed_only=False):
            ok = score >= max_score
            parts.append(f"<tr class='{'pass' if ok else 'fail'}'><td>{html.escape(check)}</td>"
                         f"<td>{_fmt(score)}/{_fmt(max_score)}</td><td>{html.escape('' if ok else msg)}</td></tr>")
        parts.append("</table>")
        parts += [f"<p>note: {html.escape(n)}</p>" for n in r.notes]
    return "\n".join(parts) + "\n"


def write_reports(out: Path, run: GradingRun) -> None:
    """grades.csv, gradebook.csv, gradescope/<student>/results.json, feedback/<student>.md/.html, summary.json."""
    out = Path(out)
    atomic_write(out / "grades.csv", grades_csv(run.gradebook))  # earlier runs' notebooks too: nothing is dropped
    atomic_write(out / "gradebook.csv", gradebook_csv(run.gradebook))
    for student, mine in _by_student(run.results).items():
        name = safe_name(student)
        atomic_write(out / "gradescope" / name / "results.json", json.dumps(gradescope_json(mine), indent=1))
        atomic_write(out / "feedback" / f"{name}.md", feedback_markdown(student, mine))
        atomic_write(out / "feedback" / f"{name}.html", feedback_html(student, mine))
    atomic_write(out / "summary.json", json.dumps(asdict(run.summary) | {"notebooks": len(run.results)}, indent=1))


def table(results: list[NotebookResult]) -> str:
    """Per-student table: one line per notebook, then failed checks indented."""
    lines = []
    width = max([len("student")] + [len(r.student) for r in results])
    lines.append(f"{'student':<{width}}  {'exercise':<32} {'score':>11}")
    lines.append("-" * (width + 46))
    for r in sorted(results, key=lambda r: (r.student, r.exercise)):
        lines.append(f"{r.student:<{width}}  {r.exercise:<32} {_fmt(r.score):>5} / {_fmt(r.max_score):<3}")
        for check, _, _, message in _rows(r, failed_only=True, reveal_hidden=True):
            lines.append(f"{'':<{width}}    x {check}: {message[:150]}")
    return "\n".join(lines)


def summary_line(run: GradingRun) -> str:
    s = run.summary
    head = f"{len(run.results)} notebook(s): {s.graded} graded, {s.reused} reused from the journal, in {s.seconds:.1f} s"
    if not s.graded:
        return head
    slow = ", ".join(f"{name} {sec:.1f} s" for name, sec in s.slowest[:3])
    return (f"{head} ({s.seconds / s.graded:.1f} s per graded notebook, start-up included, median "
            f"{s.median_seconds:.2f} s of grading each); slowest: {slow or '-'}")
