"""Who and what a submission is, and what the parent refuses to read (links, FIFOs), before any worker runs."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from autograder.discover import discover, student_of
from autograder.grading import contained, printable, submission_hash
from autograder.journal import Journal, safe_name
from tests.test_grader import GOOD, SOLUTION, variant

SLUG = "00_setup_and_data"


def test_a_submitted_folder_inside_a_submission_does_not_change_the_student(tmp_path):
    root = tmp_path / "course" / "submitted"
    mine = variant(root / "alice" / "ps1" / f"{SLUG}.ipynb", GOOD)
    planted = variant(root / "alice" / "ps1" / "submitted" / "bob" / "ps1" / f"{SLUG}.ipynb", GOOD)
    assert student_of(mine, root=root) == "alice"
    assert student_of(planted, root=root) == "alice", "alice's files were credited to bob"
    assert student_of(planted, root=root / "alice") == "alice"  # the root may be below submitted/
    assert student_of(planted, root=tmp_path) == "alice"  # or above it
    subs, _ = discover([tmp_path / "course"])
    assert {s.student for s in subs} == {"alice"}


def test_links_and_special_files_are_refused_with_a_reason(tmp_path):
    linked = tmp_path / "class" / "mallory" / f"{SLUG}.ipynb"
    linked.parent.mkdir(parents=True)
    linked.symlink_to(SOLUTION)
    folder_link = tmp_path / "class" / "eve"
    honest = variant(tmp_path / "elsewhere" / "eve" / f"{SLUG}.ipynb", GOOD)
    folder_link.symlink_to(honest.parent, target_is_directory=True)
    fifo = tmp_path / "class" / "trent" / f"{SLUG}.ipynb"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    plain = variant(tmp_path / "class" / "bob" / f"{SLUG}.ipynb", GOOD)
    subs = {s.student: s for s in discover([tmp_path / "class"])[0]}
    assert "symbolic link" in subs["mallory"].error
    assert "not a plain file" in subs["trent"].error
    assert "eve" not in subs  # a linked folder is not walked into
    assert subs["bob"].error == "" and subs["bob"].path == plain
    for sub in subs.values():  # hashing never follows a link nor blocks on a FIFO
        assert len(submission_hash(sub)) == 64


def test_a_notebook_named_twice_is_one_submission(tmp_path):
    nb = variant(tmp_path / "class" / "alice" / f"{SLUG}.ipynb", GOOD)
    subs, notes = discover([tmp_path / "class", nb, tmp_path / "class" / "alice" / ".." / "alice" / nb.name])
    assert [(s.student, s.superseded) for s in subs] == [("alice", [])] and notes == []


def test_names_that_differ_never_share_a_file(tmp_path):
    names = ["bob smith", "bob_smith", "bob/smith", "Bob Smith", "ünïcode", "..", ""]
    files = {safe_name(n) for n in names}
    assert len(files) == len(names)
    assert all("/" not in f and not f.startswith(".") and f for f in files)
    assert safe_name("alice-01") == "alice-01"  # plain names are unchanged


def test_journal_entries_belong_to_their_student(tmp_path):
    from autograder.grading import NotebookResult

    journal = Journal(tmp_path)
    journal.store(NotebookResult("bob smith", SLUG, "x"), "h", "r")
    assert journal.load("bob smith", SLUG, "h", "r") is not None
    assert journal.load("bob_smith", SLUG, "h", "r") is None


def test_a_grader_failure_on_one_notebook_becomes_a_zero_with_a_reason(tmp_path):
    from autograder.discover import Submission

    def broken(sub, *args):
        raise OverflowError("int too large to convert to float")

    result = contained(broken, Submission(tmp_path / "x.ipynb", "alice", SLUG))
    assert result.student == "alice" and result.score == 0
    assert "the grader failed on this notebook (OverflowError" in " ".join(result.notes)


def test_control_characters_are_written_out():
    assert printable("ok\x1b[2K\x07\u202e\nnext\tcol") == "ok\\x1b[2K\\x07\\u202e\nnext\tcol"


def test_odd_folder_names_and_student_text_never_stop_the_reports(tmp_path):
    """A folder name in Latin-1 (a zip unpacked on Linux), with a terminal escape or shaped like a spreadsheet
    formula, and an exception text no encoding can write: every student is graded and every report written."""
    import csv

    from autograder.grading import grade_paths
    from autograder.report import write_reports
    from autograder.runner import Limits

    root = tmp_path / "class"
    for raw in (b"J\xf6rg", b"eve\x1b[2J", b"=1+2", b"alice"):
        variant(Path(os.fsdecode(bytes(root) + b"/" + raw)) / f"{SLUG}.ipynb", GOOD)
    variant(root / "mallory" / f"{SLUG}.ipynb",
            GOOD | {"count_parameters": "def count_parameters(model):\n    raise ValueError('\\udcff\\x1b[2J')"})
    out = tmp_path / "out"
    run = grade_paths([root], out, jobs=1, limits=Limits(check_seconds=20), log=lambda m: None)
    write_reports(out, run)
    rows = list(csv.DictReader((out / "grades.csv").open(encoding="utf-8")))
    assert {r["student"] for r in rows} == {"J\\udcf6rg", "eve\\x1b[2J", "'=1+2", "alice", "mallory"}
    assert {r.student: r.score for r in run.results} == {"J\\udcf6rg": 10, "eve\\x1b[2J": 10, "=1+2": 10,
                                                         "alice": 10, "mallory": 6}
    assert all(printable(v) == v for r in rows for v in r.values())
    assert not list(out.glob(".*.tmp"))
    for name in ("gradebook.csv", "summary.json", "feedback/mallory.md", "feedback/mallory.html"):
        (out / name).read_text(encoding="utf-8")


def test_readable_names_keep_different_names_apart():
    from autograder.discover import readable_name

    names = ["bob", "b\\x1bob", "b\x1bob", "b\\\\x1bob", "a\nb", "a\\nb", "a\tb", "J\udcf6rg", "J\\udcf6rg"]
    shown = [readable_name(n) for n in names]
    assert len(set(shown)) == len(names)
    assert readable_name("Zoë O'Brien, Jr.") == "Zoë O'Brien, Jr."  # printable names are unchanged
    assert all(printable(s) == s and "\n" not in s and "\t" not in s for s in shown)


def test_spreadsheet_formulas_in_text_cells_are_neutralised():
    from autograder.grading import CheckResult, NotebookResult
    from autograder.report import gradebook_csv, grades_csv

    result = NotebookResult("@evil", SLUG, "x", [CheckResult("a.b", 0, 1, '=HYPERLINK("http://x","ok")'),
                                                  CheckResult("a.c", 1, 1, "-1 is fine")])
    assert "\n'@evil,00_setup_and_data,a.b,0,1,\"'=HYPERLINK" in grades_csv([result])
    assert ",a.c,1,1,'-1 is fine" in grades_csv([result])
    assert gradebook_csv([result]).splitlines()[1] == "'@evil,1,1"


def test_files_are_hashed_in_chunks(tmp_path):
    from autograder.journal import content_hash
    import hashlib

    big = tmp_path / "big.bin"
    with open(big, "wb") as fh:
        fh.truncate(3 * 2**20 + 5)
    assert content_hash(big) == hashlib.sha256(big.read_bytes()).hexdigest()
    shutil.rmtree(tmp_path / "none", ignore_errors=True)


def test_top_level_data_folders_are_hidden_and_the_system_is_not(tmp_path):
    from autograder.grading import _beyond_the_system

    root = tmp_path / "root"
    for folder in ("usr/lib", "etc", "srv/grades-2025", "opt/conda/lib/python3.11", "opt/other", "home/ta"):
        (root / folder).mkdir(parents=True)
    (root / "container_info.json").write_text("{}")
    (root / "bin").symlink_to(root / "usr" / "lib")  # links are never hidden (that would hide their target)
    needed = [root / "opt" / "conda" / "lib" / "python3.11"]
    hidden = sorted(p.relative_to(root).as_posix() for p in _beyond_the_system(needed, root=root))
    assert hidden == ["container_info.json", "home", "opt/other", "srv"]


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="Linux only")
def test_the_folders_of_loaded_libraries_stay_visible():
    import torch

    from autograder.grading import _mapped_folders

    folders = _mapped_folders()
    assert Path(torch.__file__).resolve().parent / "lib" in [f.resolve() for f in folders]
    assert all(f.is_dir() for f in folders)


def test_a_link_on_the_way_to_the_python_keeps_its_folder(tmp_path, monkeypatch):
    import sys

    from autograder.grading import hidden_paths

    brew = tmp_path / "linuxbrew"  # Linuxbrew's shape: opt/ is a real folder of links into Cellar/
    (brew / "Cellar" / "python" / "3.11" / "lib").mkdir(parents=True)
    (brew / "Cellar" / "sqlite").mkdir(parents=True)
    (brew / "opt").mkdir()
    (brew / "opt" / "python").symlink_to(brew / "Cellar" / "python" / "3.11")
    monkeypatch.setattr(sys, "path", [*sys.path, str(brew / "opt" / "python" / "lib")])
    hidden = hidden_paths([], tmp_path / "out", tmp_path / "ref")
    assert str(brew / "opt") not in hidden, "the folder holding the link the Python runs through was hidden"
    assert str(brew / "Cellar" / "sqlite") in hidden


def test_a_crowded_folder_is_reported_not_silently_half_hidden(tmp_path):
    from autograder.grading import _all_but

    for i in range(12):
        (tmp_path / f"u{i:02d}").mkdir()
    crowded = []
    assert len(_all_but(tmp_path, [tmp_path / "u11" / "python"], limit=5, crowded=crowded)) == 5
    assert crowded == [tmp_path.resolve()]
    crowded = []
    assert len(_all_but(tmp_path, [], limit=50, crowded=crowded)) == 12 and crowded == []


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="Linux only")
def test_a_data_file_the_grader_maps_does_not_open_its_folder(tmp_path):
    import mmap

    from autograder.grading import _mapped_folders

    data = tmp_path / "grades.csv"
    data.write_bytes(b"x" * 4096)
    with open(data, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ):
        assert tmp_path not in _mapped_folders()


def test_slash_tmp_is_cleaned_when_tmpdir_points_elsewhere(tmp_path, monkeypatch):
    import tempfile
    import uuid

    from autograder.grading import hidden_paths

    other = Path("/tmp") / f"grader-test-other-class-{uuid.uuid4().hex[:8]}"
    other.mkdir()
    try:
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
        hidden = hidden_paths([], tmp_path / "out", tmp_path / "ref")
        assert str(other) in hidden
    finally:
        shutil.rmtree(other, ignore_errors=True)


def test_library_path_folders_stay_visible(tmp_path, monkeypatch):
    from autograder.grading import hidden_paths

    runtime = tmp_path / "opt" / "intel" / "mkl" / "lib"  # loaded by the worker on first use only
    runtime.mkdir(parents=True)
    (tmp_path / "opt" / "grades").mkdir()
    monkeypatch.setenv("LD_LIBRARY_PATH", f"relative/ignored:{runtime}")
    hidden = hidden_paths([], tmp_path / "out", tmp_path / "ref")
    assert not any(runtime == Path(h) or Path(h) in runtime.parents for h in hidden)
    assert str(tmp_path / "opt" / "grades") in hidden


def test_a_library_path_inside_the_reference_folder_does_not_open_it(tmp_path, monkeypatch):
    from autograder.grading import hidden_paths

    reference = tmp_path / "private-reference"
    (reference / "lib").mkdir(parents=True)
    monkeypatch.setenv("LD_LIBRARY_PATH", str(reference / "lib"))
    heard = []
    hidden = hidden_paths([], tmp_path / "out", reference, warn=heard.append)
    assert str(reference.resolve()) in hidden
    assert any("LD_LIBRARY_PATH" in line for line in heard)
