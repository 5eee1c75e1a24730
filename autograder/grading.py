"""Grade submissions: reference outputs once per exercise, student workers in parallel, scores in the parent."""
from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .checks import checks_for
from .discover import Submission, discover
from .points import ReferenceProblem, check_max_scores, item_points
from .runner import CheckRun, Limits, WorkerReport, run_checks

DEFAULT_REFERENCE = Path(__file__).resolve().parents[1] / "solutions"


@dataclass
class CheckResult:
    check: str
    score: float
    max_score: float
    message: str
    visible: bool = True


@dataclass
class NotebookResult:
    student: str
    exercise: str
    path: str
    results: list[CheckResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return round(sum(r.score for r in self.results), 2)

    @property
    def max_score(self) -> float:
        return round(sum(r.max_score for r in self.results), 2)


class Reference:
    """Reference outputs and points of one exercise, computed once per run from trusted solutions."""

    def __init__(self, slug: str, folder: Path, limits: Limits):
        self.slug = slug
        self.notebook = folder / f"{slug}.ipynb"
        if not self.notebook.exists():
            raise ReferenceProblem(f"no reference solution {self.notebook}")
        self.checks = checks_for(slug).checks
        self.by_id = {c.id: c for c in self.checks}
        self.points = item_points(self.notebook, slug)
        self.max_scores = check_max_scores(self.points, self.checks)
        report = run_checks(self.notebook, slug, self.by_id, limits, mode="reference")
        bad = {cid: run for cid, run in report.runs.items() if run.status != "ok"}
        if bad or report.load_errors:
            detail = "; ".join(f"{cid}: {run.status} {run.message}" for cid, run in bad.items())
            errors = "; ".join(e.get("message", "") for e in report.load_errors)
            raise ReferenceProblem(f"the reference {self.notebook} fails its own checks: {detail or errors}\n"
                                   f"{report.log_tail}")
        self.outputs = {cid: run.outputs for cid, run in report.runs.items()}
        self.inputs = {cid: run.inputs for cid, run in report.runs.items() if run.inputs is not None}


def score_report(reference: Reference, report: WorkerReport) -> list[CheckResult]:
    """Judge every check of a worker report against the reference, in the trusted parent."""
    results = []
    for check in reference.checks:
        run = report.runs.get(check.id) or CheckRun("not_run", "not run")
        max_score = reference.max_scores[check.id]
        if run.status == "ok":
            verdict = check.evaluate(run.outputs, reference.outputs[check.id])
            fraction, message = verdict.fraction, verdict.message
        else:
            fraction, message = 0.0, _status_message(check, run)
        results.append(CheckResult(check.id, round(max_score * fraction, 2), max_score, message, check.visible))
    return results


def _status_message(check, run: CheckRun) -> str:
    if run.status == "not_implemented":
        return f"{check.item}: {run.message}"
    if run.status in ("error", "timeout", "crashed"):
        return f"{check.item} {run.message}" if run.status == "error" else f"{check.item}: {run.message}"
    return run.message


def grade_submission(sub: Submission, reference: Reference, limits: Limits, hide=()) -> NotebookResult:
    started = time.monotonic()
    result = NotebookResult(sub.student, reference.slug, str(sub.path))
    if sub.error:
        message = f"notebook could not be loaded: {sub.error}"
        result.results = [CheckResult(c.id, 0.0, reference.max_scores[c.id], message, c.visible) for c in reference.checks]
    else:
        report = run_checks(sub.path, reference.slug, reference.by_id, limits, inputs=reference.inputs, hide=hide)
        result.notes += [f"sandbox: {p}" for p in report.sandbox_problems]
        result.results = score_report(reference, report)
        result.notes += [f"cell {e.get('cell', -1) + 1}: {e.get('message', '')}" for e in report.load_errors
                         if isinstance(e, dict)]
        if report.restarts:
            result.notes.append(f"{report.restarts} worker restart(s) after a hang or crash")
    result.notes += [f"also found {p}; graded the newest file instead" for p in sub.superseded]
    result.seconds = time.monotonic() - started
    return result


def hidden_paths(paths, out: Path, reference_dir: Path) -> list[str]:
    """What a student's worker must not see: references, data, outputs and every submission."""
    from vaegan.data import default_data_root

    hide = {DEFAULT_REFERENCE, Path(reference_dir), Path(out), default_data_root()}
    hide.update(Path(p) for p in paths)
    needed = [Path(__file__).resolve().parents[1], Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()]
    keep = []
    for p in (p.resolve() for p in hide if p.exists()):
        if not any(n == p or p in n.parents for n in needed):  # never hide the code the worker runs
            keep.append(str(p))
    return sorted(keep)


def write_result(out: Path, result: NotebookResult) -> Path:
    """Atomically write one notebook's result as JSON (kept even if the run dies later)."""
    folder = out / "results" / _safe(result.student)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{result.exercise}.json"
    data = asdict(result) | {"score": result.score, "max_score": result.max_score}
    _atomic_write(path, json.dumps(data, indent=1))
    return path


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)[:100] or "student"


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def grade_paths(paths, out: Path, student: str | None = None, reference_dir: Path | None = None,
                jobs: int | None = None, limits: Limits | None = None, log=print):
    """Grade every notebook under ``paths``; returns (results, notes)."""
    limits = limits or Limits()
    reference_dir = Path(reference_dir) if reference_dir else DEFAULT_REFERENCE
    submissions, notes = discover(paths, student)
    references: dict[str, Reference] = {}
    for slug in sorted({s.exercise for s in submissions}):
        if not checks_for(slug).checks:
            notes.append(f"{slug}: no unit checks (capstones are graded on their run folder)")
            continue
        log(f"reference {slug}: computing expected outputs from {reference_dir / (slug + '.ipynb')}")
        references[slug] = Reference(slug, reference_dir, Limits(threads=limits.threads))  # trusted: default limits
    todo = [s for s in submissions if s.exercise in references]
    out.mkdir(parents=True, exist_ok=True)
    hide = hidden_paths(paths, out, reference_dir)
    results: list[NotebookResult] = []
    jobs = max(1, jobs or os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(grade_submission, s, references[s.exercise], limits, hide) for s in todo]
        for future in futures:
            result = future.result()
            write_result(out, result)
            results.append(result)
            log(f"graded {result.student} / {result.exercise}: {result.score:g}/{result.max_score:g} "
                f"({result.seconds:.1f} s)")
    return results, notes
