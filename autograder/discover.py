"""Find submissions and decide who and what each one is (student and exercise identity)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vaegan.notebooks import NotebookLoadError, exercise_of, read_notebook


@dataclass
class Submission:
    path: Path
    student: str
    exercise: str | None
    error: str = ""  # why the exercise could not be identified (or the file read)
    superseded: list[Path] = field(default_factory=list)  # older notebooks of the same student and exercise


def notebooks_under(path: Path) -> list[Path]:
    """``path`` itself, or every ``.ipynb`` below it outside ``.ipynb_checkpoints``."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts and p.is_file())


def student_of(path: Path, forced: str | None = None) -> str:
    """``--student``; in ``submitted/<student>/<assignment>/<file>`` the student; else the parent folder."""
    if forced:
        return forced
    parts = path.resolve().parts
    # submitted/<student>/<assignment>/<file>, also with sub-folders below the assignment
    marks = [i for i, part in enumerate(parts) if part == "submitted" and i + 3 < len(parts)]
    if marks:
        return parts[marks[-1] + 1]
    return path.resolve().parent.name or "student"


def identify(path: Path, student: str | None = None) -> Submission:
    who = student_of(path, student)
    try:
        nb = read_notebook(path)
        slug = exercise_of(nb, path)
    except NotebookLoadError as err:
        from vaegan.curriculum import slug_from_filename

        slug = slug_from_filename(path.name)
        return Submission(path, who, slug, error=str(err))
    return Submission(path, who, slug)


def discover(paths, student: str | None = None) -> tuple[list[Submission], list[str]]:
    """Submissions to grade (newest per student and exercise) and notes on what was skipped."""
    found: list[Submission] = []
    notes: list[str] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            notes.append(f"{path}: no such file or folder")
            continue
        files = notebooks_under(path)
        if not files:
            notes.append(f"{path}: no notebooks found")
        found.extend(identify(f, student) for f in files)
    chosen: dict[tuple, Submission] = {}
    unidentified = []
    for sub in found:
        if sub.exercise is None:
            unidentified.append(sub)
            notes.append(f"{sub.student}: {sub.error}")
            continue
        key = (sub.student, sub.exercise)
        other = chosen.get(key)
        if other is None:
            chosen[key] = sub
            continue
        newer, older = (sub, other) if _mtime(sub.path) > _mtime(other.path) else (other, sub)
        newer.superseded += [older.path, *older.superseded]
        chosen[key] = newer
        notes.append(f"{sub.student}: two notebooks for {sub.exercise}; grading the newest, {newer.path.name}, "
                     f"not {older.path}")
    return sorted(chosen.values(), key=lambda s: (s.student, s.exercise)), notes


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
