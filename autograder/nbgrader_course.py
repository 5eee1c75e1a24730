"""Assemble an nbgrader course directory from ``solutions/`` (nbgrader interoperability).

    python -m autograder.nbgrader_course build DIR [--course-id vaegan] [--only NN_slug ...]

writes, and rewrites only what changed (running it twice changes nothing):

* ``DIR/source/NN_slug/NN_slug.ipynb`` -- one nbgrader assignment per solution notebook,
  a byte-for-byte copy (the solutions are valid nbgrader *source* notebooks: solution
  markers, ``grade``/``locked``/``points`` metadata, schema 3);
* ``DIR/nbgrader_config.py`` -- course id, ``CourseDirectory.root``, the code stub of
  ``python -m autograder release`` (nbgrader's default, pinned so ``generate_assignment``
  reproduces ``exercises/``), a per-cell timeout for the self-checks, and the environment
  the course's self-check cells need when nbgrader executes them (see ``COURSE_ENV``).

Assignments whose solution disappeared are removed from ``source/`` (only there: nbgrader's
``release/``, ``submitted/``, ``autograded/`` and ``gradebook.db`` belong to nbgrader and are
never touched). Then, in ``DIR``: ``nbgrader generate_assignment NN_slug``, ``nbgrader
autograde NN_slug``, ... (docs/nbgrader.md).

Helpers shared by ``tests/test_nbgrader.py`` and ``benchmarks/grade_vs_nbgrader.py``:
``graded_cells_only`` (a notebook cut to its setup, answer and self-check cells: what our
grader reads), ``make_submission`` (a released notebook with answers filled in),
``run_nbgrader`` (this interpreter's nbgrader, with the environment it needs) and the
per-item pass/fail maps of both graders (``nbgrader_item_passes``, ``grader_item_passes``,
``grades_csv_item_passes``) with ``compare_passes``.
"""
from __future__ import annotations

import argparse
import copy
import os
import shutil
import sys
from pathlib import Path

from .release import STUB

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions"
COURSE_ID = "vaegan"
CONFIG_NAME = "nbgrader_config.py"
TEXT_STUB = "YOUR ANSWER HERE"
CELL_TIMEOUT = 600  # seconds per cell; nbgrader's default (30 s) is short for a check on a busy machine

# Set (unless already set) for every kernel that nbgrader starts from the course directory:
# all checks, hidden ones included (as `python -m autograder grade` runs them); demos in fast
# mode (nbgrader executes the whole notebook, our grader only setup and answer cells); no
# network, no GPU, a non-interactive plot backend.
COURSE_ENV = {
    "COURSE_SELFCHECK_ALL": "1",
    "COURSE_FAST": "1",
    "COURSE_OFFLINE": "1",
    "MPLBACKEND": "Agg",
    "CUDA_VISIBLE_DEVICES": "",
}


def solution_notebooks(solutions: Path = SOLUTIONS, only=None) -> list[Path]:
    """The ``NN_slug.ipynb`` notebooks of ``solutions`` (restricted to the slugs in ``only``)."""
    found = sorted(p for p in Path(solutions).glob("[0-9][0-9]_*.ipynb") if p.is_file())
    if only:
        wanted = set(only)
        unknown = wanted - {p.stem for p in found}
        if unknown:
            raise FileNotFoundError(f"no solution notebook for {', '.join(sorted(unknown))} in {solutions}")
        found = [p for p in found if p.stem in wanted]
    return found


def config_text(root: Path, course_id: str = COURSE_ID, solutions: Path = SOLUTIONS) -> str:
    """The ``nbgrader_config.py`` of a course directory (deterministic: same inputs, same text)."""
    env = dict(COURSE_ENV, COURSE_REFERENCE=str(Path(solutions).resolve()))
    env_lines = "\n".join(f"    {key!r}: {value!r}," for key, value in env.items())
    return f'''"""nbgrader configuration of the VAE/GAN course (written by python -m autograder.nbgrader_course build).

Rebuilding rewrites this file; put local changes in ~/.jupyter/nbgrader_config.py or on the command line.
"""
import os

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.course_id = {course_id!r}
c.CourseDirectory.root = {str(Path(root).resolve())!r}

# The stub `python -m autograder release` writes (also nbgrader's default): pinned so that
# `nbgrader generate_assignment` reproduces exercises/.
c.ClearSolutions.code_stub = {{"python": {chr(10).join(STUB)!r}}}
c.ClearSolutions.text_stub = {TEXT_STUB!r}

# A self-check cell runs every check of its item; nbgrader's default cell timeout is 30 s.
c.Execute.timeout = {CELL_TIMEOUT}
# Stopped at once after its last cell (the outputs are in by then): a graceful shutdown of a
# kernel that imported torch takes about 2 s more per notebook graded.
c.Execute.shutdown_kernel = "immediate"

# The kernels nbgrader starts (validate, autograde) inherit this environment: every check,
# hidden ones too, as `python -m autograder grade` runs them; the reference solutions the
# self-checks compare with; fast-mode demos; no network, no GPU. Existing values win.
for _key, _value in {{
{env_lines}
}}.items():
    os.environ.setdefault(_key, _value)
# The kernel imports `autograder.selfcheck` and `vaegan`: make the course repository importable.
_repo = {str(REPO)!r}
if _repo not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_repo, os.environ.get("PYTHONPATH", "")) if p)
'''


def _write_if_changed(path: Path, data: bytes) -> bool:
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return True


def build(root, solutions: Path = SOLUTIONS, course_id: str = COURSE_ID, only=None) -> list[str]:
    """Create or update the course directory ``root``; returns the paths (relative to it) that changed."""
    root = Path(root)
    solutions = Path(solutions)
    notebooks = solution_notebooks(solutions, only)
    if not notebooks:
        raise FileNotFoundError(f"no NN_slug.ipynb solution notebooks in {solutions}")
    root.mkdir(parents=True, exist_ok=True)
    changed = []
    if _write_if_changed(root / CONFIG_NAME, config_text(root, course_id, solutions).encode("utf-8")):
        changed.append(CONFIG_NAME)
    source = root / "source"
    for nb in notebooks:
        dest = source / nb.stem / nb.name
        if _write_if_changed(dest, nb.read_bytes()):
            changed.append(str(dest.relative_to(root)))
    if not only:  # a full build mirrors solutions/: drop assignments whose solution is gone
        keep = {nb.stem for nb in notebooks}
        for folder in sorted(source.iterdir()):
            if folder.is_dir() and folder.name not in keep and _looks_like_ours(folder):
                shutil.rmtree(folder)
                changed.append(f"source/{folder.name} (removed)")
    return changed


def _looks_like_ours(folder: Path) -> bool:
    """An assignment folder this builder wrote: ``NN_slug/NN_slug.ipynb`` and nothing else."""
    from vaegan.curriculum import SLUG_PATTERN

    files = [p.name for p in folder.iterdir()]
    return bool(SLUG_PATTERN.fullmatch(folder.name)) and files == [f"{folder.name}.ipynb"]


def cell_role(cell) -> str:
    """``setup``, ``answer``, ``selfcheck`` or ``other`` (demos, markdown), from the nbgrader metadata."""
    grader = cell.get("metadata", {}).get("nbgrader", {})
    if cell.get("cell_type") != "code" or not grader:
        return "other"
    if grader.get("solution"):
        return "answer"
    if grader.get("grade"):
        return "selfcheck"
    if grader.get("locked"):
        return "setup"
    return "other"


def graded_cells_only(nb):
    """A copy of ``nb`` with only its setup, answer and self-check cells (no demos, no markdown)."""
    out = copy.deepcopy(nb)
    out.cells = [cell for cell in out.cells if cell_role(cell) != "other"]
    return out


# ------------------------------------------------------------------ running nbgrader and comparing results
def nbgrader_env(extra: dict | None = None) -> dict:
    """The environment for nbgrader commands: ``COURSE_ENV`` defaults, and this interpreter's ``bin/``
    first on ``PATH`` (nbgrader runs the ``alembic`` executable when it opens the gradebook)."""
    env = dict(os.environ)
    for key, value in COURSE_ENV.items():
        env.setdefault(key, value)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(extra or {})
    return env


def run_nbgrader(root, *args: str, timeout: float | None = None, env: dict | None = None):
    """``nbgrader ARGS`` in the course directory ``root`` (this interpreter's nbgrader); CompletedProcess."""
    import subprocess

    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, env=env or nbgrader_env(),
                          capture_output=True, text=True, timeout=timeout)


def answer_cells(nb) -> dict:
    """``{item: answer cell}`` (cells with ``nbgrader.solution`` naming ``course.item``)."""
    return {cell.metadata["course"]["item"]: cell for cell in nb.cells
            if cell_role(cell) == "answer" and "item" in cell.metadata.get("course", {})}


def grade_cell_items(nb) -> dict[str, str]:
    """``{grade_id: item}`` for the self-check (grade) cells of a source notebook."""
    return {cell.metadata["nbgrader"]["grade_id"]: cell.metadata.get("course", {}).get("item")
            for cell in nb.cells if cell_role(cell) == "selfcheck"}


def make_submission(release_nb, answers: dict):
    """A student's notebook: the released notebook with the answer cells of ``answers`` (item -> source)
    replaced; items left out keep nbgrader's stub, as if untouched."""
    nb = copy.deepcopy(release_nb)
    cells = answer_cells(nb)
    unknown = set(answers) - set(cells)
    if unknown:
        raise KeyError(f"no answer cell for {sorted(unknown)}")
    for item, source in answers.items():
        cells[item].source = source
    return nb


def solution_answers(solution_nb) -> dict[str, str]:
    """``{item: source}`` of a solution's answer cells, solution markers removed (what a student writes)."""
    marker = ("### BEGIN SOLUTION", "### END SOLUTION")
    return {item: "\n".join(ln for ln in cell.source.splitlines() if ln.strip() not in marker)
            for item, cell in answer_cells(solution_nb).items()}


def nbgrader_item_passes(root, course_id: str = COURSE_ID) -> dict[tuple[str, str], dict[str, bool]]:
    """From the gradebook after ``nbgrader autograde``: ``{(student, assignment): {item: passed}}``,
    an item passed when its self-check cell got all its points (items via the source notebooks)."""
    import nbformat
    from nbgrader.api import Gradebook

    root = Path(root)
    items_of = {}
    for source in sorted(root.glob("source/*/*.ipynb")):
        items_of[(source.parent.name, source.stem)] = grade_cell_items(nbformat.read(source, as_version=4))
    out: dict[tuple[str, str], dict[str, bool]] = {}
    with Gradebook(f"sqlite:///{(root / 'gradebook.db').resolve()}", course_id) as gb:
        for assignment in gb.assignments:
            for submission in assignment.submissions:
                passes = out.setdefault((submission.student.id, assignment.name), {})
                for nb in submission.notebooks:
                    mapping = items_of.get((assignment.name, nb.name), {})
                    for grade in nb.grades:
                        item = mapping.get(grade.name, grade.name)
                        ok = grade.auto_score is not None and grade.auto_score >= grade.max_score
                        passes[item] = passes.get(item, True) and ok
    return out


def grader_item_passes(results) -> dict[tuple[str, str], dict[str, bool]]:
    """From ``autograder.grading`` results: ``{(student, exercise): {item: passed}}``, an item passed
    when every one of its checks got its full score (nbgrader has one cell, all or nothing, per item)."""
    out: dict[tuple[str, str], dict[str, bool]] = {}
    for result in results:
        passes = out.setdefault((result.student, result.exercise), {})
        for check in result.results:
            item = check.check.split(".", 1)[0]
            passes[item] = passes.get(item, True) and check.score >= check.max_score
    return out


def grades_csv_item_passes(path) -> dict[tuple[str, str], dict[str, bool]]:
    """The same map from a ``grades.csv`` written by ``python -m autograder grade`` (``check`` is
    ``<item>.<check_name>``)."""
    import csv

    out: dict[tuple[str, str], dict[str, bool]] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            passes = out.setdefault((row["student"], row["exercise"]), {})
            item = row["check"].split(".", 1)[0]
            passes[item] = passes.get(item, True) and float(row["score"]) >= float(row["max_score"])
    return out


def compare_passes(ours: dict, theirs: dict) -> dict:
    """Agreement of two ``{(student, exercise): {item: passed}}`` maps on the (student, exercise, item)
    triples of ``ours``; a triple missing from ``theirs`` counts as a disagreement."""
    agree, total, differ = 0, 0, []
    for key, items in sorted(ours.items()):
        for item, passed in sorted(items.items()):
            other = theirs.get(key, {}).get(item)
            total += 1
            if other == passed:
                agree += 1
            else:
                differ.append({"student": key[0], "exercise": key[1], "item": item, "grader": passed,
                               "nbgrader": other})
    return {"items": total, "agree": agree, "fraction": agree / total if total else 1.0, "differ": differ}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.nbgrader_course", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="create or update an nbgrader course directory from solutions/")
    b.add_argument("dir", help="the course directory (created when missing)")
    b.add_argument("--solutions", default=str(SOLUTIONS), help="folder of NN_slug.ipynb source notebooks")
    b.add_argument("--course-id", default=COURSE_ID)
    b.add_argument("--only", nargs="+", metavar="NN_slug", help="assemble these assignments only")
    args = parser.parse_args(argv)
    try:
        changed = build(Path(args.dir), Path(args.solutions), args.course_id, args.only)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    assignments = sorted(p.name for p in (Path(args.dir) / "source").iterdir() if p.is_dir())
    built = sorted(set(args.only)) if args.only else assignments
    more = f" ({len(assignments)} in source/ in all)" if len(built) != len(assignments) else ""
    print(f"{args.dir}: {len(built)} assignment(s) assembled: {' '.join(built)}{more}")
    print("up to date" if not changed else "wrote " + ", ".join(changed))
    print(f"next: cd {args.dir} && nbgrader generate_assignment NN_slug  (see docs/nbgrader.md)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
