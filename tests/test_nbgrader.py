"""nbgrader interoperability (docs/nbgrader.md): the assembled course directory, nbgrader's
metadata and ``validate`` rules on the solutions, ``generate_assignment`` against ``exercises/``,
and ``nbgrader autograde`` against our grader, pass/fail per graded item.

Two tiers. The default run takes about one CPU-minute (two to two and a half minutes of wall
time on a 2-core machine at load 7-8):

* the source notebooks are validated on their setup, answer and self-check cells (validate
  judges only the self-check (grade) cells, and those depend only on the other two) with
  nbgrader's ``Validator`` in one kernel shared by all notebooks (namespace and warning
  registries reset between them);
* ``nbgrader autograde`` runs on one exercise (``AGREEMENT_DEFAULT``), graded cells only:
  nbgrader's released notebook untouched, and per item a copy of the solution with that item
  replaced by its first catalogued mistake (so every item is seen passing and failing).

``COURSE_NBGRADER_FULL=1`` validates every full solution notebook in a fresh kernel, as
``nbgrader validate`` does, and autogrades full notebooks of every exercise, a plain copy of
each solution too (many minutes). ``COURSE_NBGRADER_EXERCISES="03_kl_and_elbo ..."`` picks the
exercises autograded (in either tier).

Tests skip, saying why, only when nbgrader itself cannot run here.
"""
from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from autograder import nbgrader_course as course
from tests.conftest import once_per_run
from vaegan.curriculum import EXERCISES

nbgrader = pytest.importorskip("nbgrader", reason="nbgrader is not installed (pip install -e '.[dev]')")

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = course.solution_notebooks(REPO / "solutions")
FULL = os.environ.get("COURSE_NBGRADER_FULL") == "1"
AGREEMENT_DEFAULT = "09_gan_losses"
GRADED = [p.stem for p in SOLUTIONS if EXERCISES.get(p.stem)]
if os.environ.get("COURSE_NBGRADER_EXERCISES"):  # e.g. "03_kl_and_elbo 10_gan_training"
    AGREEMENT = [s for s in GRADED if s in os.environ["COURSE_NBGRADER_EXERCISES"].split()]
else:
    AGREEMENT = GRADED if FULL else [s for s in GRADED if s == AGREEMENT_DEFAULT] or GRADED[:1]
IDS = [p.stem for p in SOLUTIONS]


def _nbgrader_problem() -> str | None:
    """Why nbgrader cannot run here, or None."""
    try:
        done = subprocess.run([sys.executable, "-m", "nbgrader", "--version"], capture_output=True, text=True,
                              timeout=120, env=course.nbgrader_env())
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"`python -m nbgrader --version` did not run: {err}"
    if done.returncode != 0:
        return f"`python -m nbgrader --version` failed: {done.stderr.strip()[-300:]}"
    if shutil.which("alembic", path=course.nbgrader_env()["PATH"]) is None:
        return "nbgrader's gradebook needs the `alembic` executable, which is not installed"
    return None


@pytest.fixture(scope="module")
def nbgrader_ok():
    problem = _nbgrader_problem()
    if problem:
        pytest.skip(f"nbgrader cannot run here: {problem}")


def _env(tmp: Path) -> dict:
    return course.nbgrader_env({"COURSE_RUNS_DIR": str(tmp / "runs")})


# ---------------------------------------------------------------------------------- the course directory
def test_build_is_idempotent_and_mirrors_solutions(tmp_path):
    root = tmp_path / "course"
    first = course.build(root)
    assert course.CONFIG_NAME in first and len(first) == len(SOLUTIONS) + 1
    for nb in SOLUTIONS:
        assert (root / "source" / nb.stem / nb.name).read_bytes() == nb.read_bytes()
    assert course.build(root) == []  # a second build changes nothing
    config = (root / course.CONFIG_NAME).read_text()
    assert "c.CourseDirectory.course_id = 'vaegan'" in config
    assert f"c.CourseDirectory.root = {str(root.resolve())!r}" in config
    assert "raise NotImplementedError()" in config and "COURSE_SELFCHECK_ALL" in config

    stale = root / "source" / "99_gone" / "99_gone.ipynb"  # an assignment whose solution was removed
    stale.parent.mkdir()
    stale.write_text("{}")
    kept = root / "source" / "98_mine" / "notes.txt"  # not ours: left alone
    kept.parent.mkdir()
    kept.write_text("instructor's file")
    (root / "source" / SOLUTIONS[0].stem / SOLUTIONS[0].name).write_text("edited")
    assert sorted(course.build(root)) == sorted([f"source/{SOLUTIONS[0].stem}/{SOLUTIONS[0].name}",
                                                 "source/99_gone (removed)"])
    assert not stale.parent.exists() and kept.exists()


def test_build_cli_only(tmp_path, capsys):
    slug = SOLUTIONS[0].stem
    assert course.main(["build", str(tmp_path / "c"), "--only", slug]) == 0
    assert [p.name for p in (tmp_path / "c" / "source").iterdir()] == [slug]
    other = SOLUTIONS[1].stem
    assert course.main(["build", str(tmp_path / "c"), "--only", other]) == 0
    assert f"1 assignment(s) assembled: {other} (2 in source/ in all)" in capsys.readouterr().out
    assert course.main(["build", str(tmp_path / "c"), "--only", "99_nothing"]) == 2
    assert "no solution notebook for 99_nothing" in capsys.readouterr().err


def test_config_is_loadable_by_nbgrader(tmp_path):
    from traitlets.config.loader import PyFileConfigLoader

    course.build(tmp_path / "c", only=[SOLUTIONS[0].stem])
    saved = dict(os.environ)
    try:
        config = PyFileConfigLoader(course.CONFIG_NAME, path=str(tmp_path / "c")).load_config()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert config.CourseDirectory.course_id == "vaegan"
    assert config.ClearSolutions.code_stub == {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    assert config.Execute.timeout >= 300
    assert config.Execute.shutdown_kernel == "immediate"  # a graceful stop costs 2 s per notebook


def test_graded_cells_only_keeps_what_the_grader_reads():
    nb = nbformat.read(REPO / "solutions" / f"{GRADED[0]}.ipynb", as_version=4)
    kept = course.graded_cells_only(nb)
    roles = [course.cell_role(c) for c in kept.cells]
    assert "other" not in roles and roles.count("answer") == len(EXERCISES[GRADED[0]])
    assert roles.count("selfcheck") == len(EXERCISES[GRADED[0]]) and roles[0] == "setup"


# ---------------------------------------------------------------------------------- source notebooks
@pytest.mark.parametrize("path", SOLUTIONS, ids=IDS)
def test_source_metadata_is_valid_nbgrader(path):
    """nbgrader's schema-3 metadata validator and the rules generate_assignment enforces."""
    from nbgrader.nbgraderformat import MetadataValidator
    from nbgrader.preprocessors import CheckCellMetadata

    nb = nbformat.read(path, as_version=4)
    MetadataValidator().validate_nb(nb)  # raises ValidationError
    CheckCellMetadata().preprocess(nb, {})
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            assert meta["locked"] and not meta["solution"], f"{meta['grade_id']}: test cells are locked"
            assert meta.get("points", 0) > 0
        if "### BEGIN SOLUTION" in cell.source or "### BEGIN HIDDEN TESTS" in cell.source:
            key = "solution" if "SOLUTION" in cell.source else "grade"
            assert meta.get(key), f"markers in a cell without nbgrader {key} metadata: {cell.source[:80]!r}"


def _reset_kernel(km) -> None:
    """A fresh namespace and warning registries (so a warning prints again) in a shared kernel."""
    from nbclient import NotebookClient

    code = ("get_ipython().reset(new_session=False)\n"
            "import warnings\ngetattr(warnings, '_filters_mutated', lambda: None)()\ndel warnings")
    NotebookClient(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)]), km=km, timeout=120).execute()


@pytest.fixture(scope="module")
def shared_kernel(nbgrader_ok, tmp_path_factory):
    """One kernel for all source validations (default tier); None in the full tier (a kernel each)."""
    if FULL:
        yield None
        return
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync

    saved = dict(os.environ)
    os.environ.update(_env(tmp_path_factory.mktemp("kernel")))
    km = AsyncKernelManager(kernel_name="python3")
    try:
        run_sync(km.start_kernel)(extra_arguments=["--HistoryManager.hist_file=:memory:"])
    finally:
        os.environ.clear()
        os.environ.update(saved)
    yield km
    run_sync(km.shutdown_kernel)(now=True)


@pytest.mark.notebooks
@pytest.mark.parametrize("path", SOLUTIONS, ids=IDS)
def test_source_notebook_passes_nbgrader_validate(path, shared_kernel, tmp_path):
    """`nbgrader validate` on a *source* notebook: execute it and every test (grade) cell must get
    its full points: no error, nothing on stderr. (A student's submission is validated the same
    way plus checksums of its locked cells, which a source notebook does not have yet.)"""
    from nbgrader.preprocessors import CheckCellMetadata, ClearOutput, Execute
    from nbgrader.validator import Validator
    from traitlets.config import Config

    nb = nbformat.read(path, as_version=4)
    target = tmp_path / path.name
    nbformat.write(nb if FULL else course.graded_cells_only(nb), target)
    config = Config()
    config.Execute.timeout = course.CELL_TIMEOUT
    validator = Validator(config=config)
    if shared_kernel is not None:
        km = shared_kernel

        class SharedKernelExecute(Execute):
            def preprocess(self, nb, resources=None, km_=None):
                return super().preprocess(nb, resources, km=km)

        validator.preprocessors = [CheckCellMetadata, ClearOutput, SharedKernelExecute]
        _reset_kernel(km)
    saved = dict(os.environ)
    os.environ.update(_env(tmp_path))
    try:
        results = validator.validate(str(target))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert results == {}, {k: [r.get("raw_error", r.get("source", ""))[-1500:] for r in v] for k, v in results.items()}


# ---------------------------------------------------------------------------------- generate_assignment
@pytest.fixture(scope="module")
def generated(nbgrader_ok, tmp_path_factory):
    return once_per_run(tmp_path_factory, "nbgrader-generated", lambda: _generate(tmp_path_factory))


def _generate(tmp_path_factory):
    root = tmp_path_factory.mktemp("generate") / "course"
    course.build(root)
    done = course.run_nbgrader(root, "generate_assignment", "*", "--force", timeout=600, env=_env(root.parent))
    assert done.returncode == 0, done.stderr[-3000:]
    return root


# What nbgrader's generate_assignment adds and `python -m autograder release` does not: cell
# checksums and the recorded cell type (ComputeChecksums), and deletable/editable flags
# (LockCells). The notebook metadata keeps `course.kind: solution` (ours says `exercise`).
NBGRADER_ONLY = ("checksum", "cell_type")
LOCK_FLAGS = ("deletable", "editable")


def _normalised(cell) -> dict:
    meta = dict(cell.metadata)
    for flag in LOCK_FLAGS:
        if meta.get(flag) is False:
            meta.pop(flag)
    if "nbgrader" in meta:
        meta["nbgrader"] = {k: v for k, v in meta["nbgrader"].items() if k not in NBGRADER_ONLY}
    return {"id": cell.get("id"), "type": cell.cell_type, "source": cell.source, "metadata": meta,
            "outputs": cell.get("outputs", [])}


@pytest.mark.parametrize("path", SOLUTIONS, ids=IDS)
def test_generate_assignment_reproduces_exercises(path, generated):
    """nbgrader's release equals what `python -m autograder release` writes to exercises/ (computed
    here from the solution; tests/test_release.py keeps the committed exercises/ equal to it)."""
    from autograder.release import exercise_from_solution

    ours = exercise_from_solution(nbformat.read(path, as_version=4))
    theirs = nbformat.read(generated / "release" / path.stem / path.name, as_version=4)
    assert len(theirs.cells) == len(ours.cells)
    for mine, other in zip(ours.cells, theirs.cells):
        assert _normalised(other) == _normalised(mine)
        grader = other.metadata.get("nbgrader", {})
        if grader.get("locked") or grader.get("solution") or grader.get("grade"):
            assert grader.get("checksum") and grader.get("cell_type") == other.cell_type
    strip_kind = [{**nb.metadata, "course": {k: v for k, v in nb.metadata.get("course", {}).items() if k != "kind"}}
                  for nb in (ours, theirs)]
    assert strip_kind[0] == strip_kind[1]
    assert theirs.metadata["course"]["kind"] == "solution" and ours.metadata["course"]["kind"] == "exercise"


def test_gradebook_records_the_points(generated):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{generated / 'gradebook.db'}", course.COURSE_ID) as gb:
        for path in SOLUTIONS:
            expected = 10 if EXERCISES.get(path.stem) else 0
            assert gb.find_assignment(path.stem).max_score == expected


# ---------------------------------------------------------------------------------- autograde vs our grader
def _first_mistakes(slug: str) -> dict:
    """``{item: Mistake}``: the first catalogued mistake of each item (tests/mistakes)."""
    try:
        module = importlib.import_module(f"tests.mistakes.ex{slug}")
    except ImportError:
        return {}
    found = {}
    for mistake in module.MISTAKES:
        found.setdefault(mistake.item, mistake)
    return found


@pytest.fixture(scope="module")
def autograded(generated, tmp_path_factory):
    """Submissions in ``submitted/``, graded by ``nbgrader autograde`` (one run) and by our grader."""
    return once_per_run(tmp_path_factory, "nbgrader-autograded", lambda: _autograde(generated))


def _autograde(generated):
    from autograder.grading import grade_paths

    root = generated
    shutil.rmtree(root / "submitted", ignore_errors=True)
    expected_fail: dict[tuple[str, str], set] = {}
    for slug in AGREEMENT:
        solution = nbformat.read(REPO / "solutions" / f"{slug}.ipynb", as_version=4)
        release = nbformat.read(root / "release" / slug / f"{slug}.ipynb", as_version=4)
        answers = course.solution_answers(solution)
        subs = {"blank": release}  # nbgrader's released notebook, untouched
        expected_fail[("blank", slug)] = set(EXERCISES[slug])
        if FULL:  # the solution notebook itself (no nbgrader checksums); in the default tier the
            subs["ref"] = solution  # wrong_<item> submissions are solution copies with one item wrong
            expected_fail[("ref", slug)] = set()
        for item, mistake in _first_mistakes(slug).items():
            wrong = dict(answers, **{item: answers[item] + "\n\n" + mistake.source.strip() + "\n"})
            student = f"wrong_{item}"
            subs[student] = course.make_submission(release, wrong)
            expected_fail[(student, slug)] = {item}
        for student, nb in subs.items():
            dest = root / "submitted" / student / slug / f"{slug}.ipynb"
            dest.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb if FULL else course.graded_cells_only(nb), dest)
    with ThreadPoolExecutor(max_workers=1) as pool:  # both graders at once: halves the wait on a busy machine
        ours_future = pool.submit(grade_paths, [root / "submitted"], root.parent / "ours", jobs=os.cpu_count(),
                                  log=lambda m: None)
        done = course.run_nbgrader(root, "autograde", "*", "--force", timeout=3600, env=_env(root.parent))
        run = ours_future.result()
    results = run.results if hasattr(run, "results") else run[0]
    theirs = course.nbgrader_item_passes(root)
    ours = course.grader_item_passes(results)
    return {"root": root, "done": done, "theirs": theirs, "ours": ours, "expected_fail": expected_fail}


@pytest.mark.notebooks
def test_autograde_agrees_with_our_grader(autograded):
    """Pass/fail per item: our grader (all checks of the item pass) against nbgrader autograde (the
    item's self-check cell gets its points); and passing self-checks write nothing to stderr,
    since nbgrader gives 0 to a test cell with any stderr output. (One test, so that pytest-xdist
    runs the autograde fixture once.)"""
    a = autograded
    log = a["done"].stderr[-3000:]
    assert set(a["ours"]) == set(a["expected_fail"]), "our grader missed submissions"
    assert set(a["theirs"]) == set(a["ours"]), f"nbgrader autograde missed submissions:\n{log}"
    comparison = course.compare_passes(a["ours"], a["theirs"])
    assert comparison["differ"] == [], _explain(a["root"], comparison["differ"])
    for key, failing in a["expected_fail"].items():
        ours = a["ours"][key]
        assert set(ours) == set(EXERCISES[key[1]])
        assert failing <= {item for item, ok in ours.items() if not ok}, (key, ours)
        if key[0] == "ref":
            assert all(ours.values()), (key, ours)

    root = a["root"]
    for (student, slug), items in a["ours"].items():
        nb = nbformat.read(root / "autograded" / student / slug / f"{slug}.ipynb", as_version=4)
        for cell in nb.cells:
            item = cell.metadata.get("course", {}).get("item")
            if course.cell_role(cell) == "selfcheck" and items.get(item):
                assert not [o for o in cell.outputs if o.get("name") == "stderr"], (student, slug, item)


def _explain(root: Path, differ: list) -> str:
    """The self-check cell outputs nbgrader recorded for each disagreement."""
    lines = []
    for d in differ:
        path = root / "autograded" / d["student"] / d["exercise"] / f"{d['exercise']}.ipynb"
        lines.append(f"{d}")
        if path.exists():
            for cell in nbformat.read(path, as_version=4).cells:
                if cell.metadata.get("course", {}).get("item") == d["item"] and course.cell_role(cell) == "selfcheck":
                    for out in cell.outputs:
                        lines.append(f"    {out.get('name') or out.get('ename')}: "
                                     f"{(out.get('text') or out.get('evalue') or '')[:500]}")
    return "\n".join(lines)
