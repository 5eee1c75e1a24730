"""Find submissions and decide who and what each one is (student and exercise identity)."""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from vaegan.curriculum import slug_from_filename
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
    return sorted(p for p in path.rglob("*.ipynb")
                  if ".ipynb_checkpoints" not in p.parts and (p.is_symlink() or not p.is_dir()))  # links, FIFOs: refused, said why


def student_of(path: Path, forced: str | None = None, root: Path | None = None) -> str:
    """``--student``; in ``submitted/<student>/<assignment>/<file>`` the student; else the parent folder.

    ``root`` is the folder given on the command line: the innermost ``submitted`` of the root itself,
    else the first one below it, decides, so a ``submitted/bob/...`` folder inside alice's own
    submission is still alice's.
    """
    if forced:
        return readable_name(forced)
    parts = Path(os.path.abspath(path)).parts  # links are not followed: a link cannot choose the student
    # submitted/<student>/<assignment>/<file>, also with sub-folders below the assignment
    marks = [i for i, part in enumerate(parts) if part == "submitted" and i + 3 < len(parts)]
    if marks:
        depth = len(Path(os.path.abspath(root)).parts) if root is not None else len(parts)
        inside = [i for i in marks if i < depth]  # the root is, or is inside, a submitted/ tree: its own
        return readable_name(parts[(inside[-1] if inside else marks[0]) + 1])  # else the first one below the root
    return readable_name(Path(os.path.abspath(path)).parent.name or "student")


def readable_name(name: str) -> str:
    """``name`` as the reports show it: unchanged when it is printable text without a backslash; else
    with backslashes doubled and line breaks, tabs, control characters and undecodable bytes written out
    (``\\n``, ``\\x1b``, ``\\udcf6``): no folder name can rewrite the terminal or stop the reports, and
    names that differ stay different."""
    from .grading import printable

    if not any(ch in name for ch in "\\\n\t") and printable(name) == name:
        return name
    return printable(name.replace("\\", "\\\\")).replace("\n", "\\n").replace("\t", "\\t")


def linked_component(base: Path, path: Path) -> Path | None:
    """The first symbolic link on the way from folder ``base`` down to ``path`` (inclusive), else None.

    A path reached through a link could be the reference solutions or another student's files
    (``ln -s ../bob/runs runs``). A ``path`` outside ``base`` is checked on its own.
    """
    try:
        parts = Path(path).relative_to(base).parts
    except ValueError:
        return Path(path) if Path(path).is_symlink() else None
    current = Path(base)
    for part in parts:
        current = current / part
        if current.is_symlink():
            return current
    return None


def refusal(path: Path, root: Path | None = None) -> str:
    """Why ``path`` is not graded as a notebook file ("" when it is a plain file).

    A link could point at the reference solutions, another student's notebook or any file the
    grader can read; a device or FIFO could block. Links in the folders below ``root`` count too.
    """
    path = Path(path)
    base = Path(root) if root is not None and Path(root).is_dir() else path.parent
    link = linked_component(base, path)
    if link is not None:
        return (f"{path.name}: {'the notebook' if link == path else link.name + '/'} is a symbolic "
                "link; submit the notebook file itself")
    try:
        info = os.lstat(path)
    except OSError as err:
        return f"{path.name}: could not be read ({err.__class__.__name__})"
    if not stat.S_ISREG(info.st_mode):
        return f"{path.name}: not a plain file"
    return ""


def identify(path: Path, student: str | None = None, root: Path | None = None) -> Submission:
    who = student_of(path, student, root)
    refused = refusal(path, root)
    if refused:
        return Submission(path, who, slug_from_filename(path.name), error=refused)
    try:
        nb = read_notebook(path)
        slug = exercise_of(nb, path)
    except NotebookLoadError as err:
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
        seen = {os.path.abspath(s.path) for s in found}  # a file named twice (itself, its folder) is one; links not followed
        found.extend(identify(f, student, path) for f in files if os.path.abspath(f) not in seen)
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
