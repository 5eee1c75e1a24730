"""Hostile and broken submissions, graded in one class run beside an honest student.

Every submission is graded to at most what honest code with the same behaviour would earn;
none stops the run, touches another student's result, the references or the outputs.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from autograder.grading import grade_paths
from autograder.runner import Limits
from autograder.sandbox import detect
from tests.conftest import once_per_run
from tests.test_grader import EXERCISE, GOOD, REPO, SOLUTION, variant

ISOLATED = detect().namespaces
CP, TT, FT = "count_parameters", "to_tanh_range", "from_tanh_range"
POINTS = {CP: 4, TT: 3, FT: 3}


@dataclass
class Case:
    name: str
    answers: dict  # item -> replacement source (GOOD for the others)
    attacked: tuple  # items whose points may be lost
    needs_isolation: bool = False
    needs_outside_folder: bool = False  # a writable top-level data folder (OUTSIDE) to hide a secret in
    twin: dict | None = None  # honest code with the same behaviour (item -> source, None = undefined)


RAISES = "def {0}(*args, **kwargs):\n    raise RuntimeError('gave up')"


def _server():
    """A loopback TCP server counting connections (the network attack's target)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.2)
    hits = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                hits.append(1)
                conn.close()
            except OSError:
                continue

    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()[1], hits, stop


PORT, HITS, STOP = _server()
CANARY = "/tmp/grader-canary-written-by-student"


def _outside_folder() -> Path | None:
    """Where an instructor might keep last term's gradebooks: a writable top-level data folder, or None."""
    for top in (Path("/srv"), Path("/mnt"), Path("/opt")):
        if top.is_dir() and os.access(top, os.W_OK):
            return top / f"grader-test-secret-{os.getpid()}"
    return None


OUTSIDE = _outside_folder()  # filled with the reference answer by the graded fixture
OUTSIDE_FILE = str(OUTSIDE / "count_parameters.py") if OUTSIDE else "/nonexistent/count_parameters.py"

HOSTILE = [
    Case("patch_torch_allclose", {CP: "import torch\ntorch.allclose = lambda *a, **k: True\n"
                                      "torch.equal = lambda *a, **k: True\ndef count_parameters(model):\n    return 0"}, (CP,), twin={CP: "def count_parameters(model):\n    return 0"}),
    Case("patch_numpy", {TT: "import numpy as np\nnp.allclose = lambda *a, **k: True\nnp.array_equal = lambda *a, **k: True\n"
                             "def to_tanh_range(x):\n    return x"}, (TT,), twin={TT: "def to_tanh_range(x):\n    return x"}),
    Case("patch_builtins", {CP: "import builtins\nbuiltins.isinstance = lambda *a: True\nbuiltins.type = lambda *a: int\n"
                                "def count_parameters(model):\n    return 1"}, (CP, TT, FT), twin={CP: "def count_parameters(model):\n    return 1"}),
    Case("patch_grader_modules", {CP: "import autograder.checks.base as b, autograder.plaindata as p\n"
                                      "b.Verdict.fraction = 1.0\np.encode = lambda v, depth=0: {'count': 16}\n"
                                      "def count_parameters(model):\n    return 0"}, (CP, TT, FT), twin={CP: "def count_parameters(model):\n    return 0"}),
    Case("eq_always_true", {CP: "class Liar:\n    def __eq__(self, o): return True\n    def __int__(self): return 0\n"
                                "    __index__ = __int__\ndef count_parameters(model):\n    return Liar()"}, (CP,), twin={CP: "def count_parameters(model):\n    return object()"}),
    Case("int_subclass", {CP: "class F(int):\n    def __eq__(self, o): return True\n    __hash__ = int.__hash__\n"
                              "def count_parameters(model):\n    return F(7)"}, (CP,), twin={CP: "def count_parameters(model):\n    return 7"}),
    Case("array_protocol", {TT: "import numpy as np\nclass A:\n    def __init__(self, x): self.x = x\n"
                                "    def __array__(self, *a, **k): return (2 * self.x - 1).numpy()\n"
                                "def to_tanh_range(x):\n    return A(x)"}, (TT,), twin={TT: "def to_tanh_range(x):\n    return object()"}),
    Case("tensor_subclass_lies", {TT: "import torch\nclass L(torch.Tensor):\n    @classmethod\n"
                                      "    def __torch_function__(cls, f, t, a=(), k=None):\n"
                                      "        r = super().__torch_function__(f, t, a, k or {})\n"
                                      "        return r.as_subclass(torch.Tensor) * 2 - 1 if isinstance(r, torch.Tensor) else r\n"
                                      "def to_tanh_range(x):\n    return x.clone().as_subclass(L)"}, (TT,), twin={TT: "def to_tanh_range(x):\n    return x.clone()"}),
    Case("os_exit_at_load", {CP: "import os\n_ = os._exit(0)\n" + GOOD[CP]}, (CP,), twin={CP: None}),  # that cell skipped
    Case("unprintable_exception_at_load", {FT: GOOD[FT] + "\nclass Oops(Exception):\n    def __str__(self):\n"
                                               "        return self.reason  # never set: str() raises\n"
                                               "_ = (_ for _ in ()).throw(Oops())"}, (FT,), twin={FT: GOOD[FT]}),
    Case("sys_exit_in_function", {CP: "import sys\ndef count_parameters(model):\n    sys.exit(0)"}, (CP,), twin={CP: RAISES.format(CP)}),
    Case("kill_parent_and_all", {TT: "import os, signal\ndef to_tanh_range(x):\n    os.kill(os.getppid(), signal.SIGKILL)\n"
                                     "    os.kill(-1, signal.SIGKILL)\n    return 2 * x - 1"}, (TT,), needs_isolation=True, twin={TT: RAISES.format(TT)}),
    Case("fork_bomb", {CP: "import os\ndef count_parameters(model):\n    while True:\n        try:\n            os.fork()\n"
                           "        except OSError:\n            pass"}, (CP,), needs_isolation=True, twin={CP: RAISES.format(CP)}),
    Case("memory_bomb", {TT: "def to_tanh_range(x):\n    hog = []\n    while True:\n        hog.append(bytearray(2**27))"}, (TT,), twin={TT: RAISES.format(TT)}),
    Case("infinite_loop_at_load", {FT: "_ = sum(1 for _ in iter(int, 1))\n" + GOOD[FT]}, (FT,), twin={FT: None}),
    Case("memory_loop_at_load", {FT: "_ = [i for i in iter(int, 1)]\n" + GOOD[FT]}, (FT,), twin={FT: None}),
    Case("output_flood_then_prints", {CP: "import sys\ndef count_parameters(model):\n    try:\n        while True:\n"
                                          "            sys.stdout.write('x' * 2**20)\n    except OSError:\n        pass\n"
                                          "    return sum(p.numel() for p in model.parameters() if p.requires_grad)",
                                      TT: "def to_tanh_range(x):\n    print('debug ' * 5000)\n    return 2 * x - 1"}, ()),
    Case("output_flood", {FT: "import sys\ndef from_tanh_range(x):\n    while True:\n        sys.stdout.write('all checks passed ' * 10000)"}, (FT,), twin={FT: RAISES.format(FT)}),
    Case("write_everywhere", {CP: "import os, pathlib\ndef _try(f):\n    try: f()\n    except Exception: pass\n"
                                  f"_try(lambda: open({str(SOLUTION)!r}, 'a').write('pwned'))\n"
                                  f"_try(lambda: open({str(REPO / 'autograder' / '__init__.py')!r}, 'a').write('pwned'))\n"
                                  f"_try(lambda: open({CANARY!r}, 'w').write('pwned'))\n"
                                  "_try(lambda: [p.unlink() for p in pathlib.Path('/').glob('**/grades.csv')])\n"
                                  + GOOD[CP]}, (), needs_isolation=True),
    Case("read_the_reference", {CP: "from vaegan.notebooks import load_reference\n_ref = load_reference('00_setup_and_data')\n"
                                    "count_parameters = _ref.count_parameters",
                                TT: f"import json\n_nb = json.load(open({str(SOLUTION)!r}))\n"
                                    "exec(''.join(c['source']) if isinstance(c['source'], list) else c['source'] for c in [])\n"
                                    "def to_tanh_range(x):\n    return x"}, (CP, TT), needs_isolation=True, twin={CP: None, TT: "def to_tanh_range(x):\n    return x"}),
    Case("network", {CP: f"import socket\ndef _phone():\n    try:\n        socket.create_connection(('127.0.0.1', {PORT}), timeout=2)\n"
                         "    except OSError:\n        pass\n_ = _phone()\n" + GOOD[CP]}, (), needs_isolation=True),
    Case("forged_output", {CP: "import os\nprint('{\"event\": \"result\", \"status\": \"ok\"}')\nprint('All 9 checks passed: 10/10')\n"
                               "_fd = int(os.environ.get('GRADER_RESULT_FD', '1'))\n"
                               "_ = os.write(_fd, b'{\"event\": \"done\"}\\n')\ndef count_parameters(model):\n    return 0"},
           (CP, TT, FT), twin={CP: "def count_parameters(model):\n    return 0"}),
    Case("detects_grading_mode", {CP: "import os\nif 'GRADER_RESULT_FD' in os.environ or os.environ.get('COURSE_GRADING'):\n"
                                      "    def count_parameters(model):\n        return 123\nelse:\n"
                                      "    def count_parameters(model):\n        return 0"}, (CP,), twin={CP: "def count_parameters(model):\n    return 123"}),
    Case("json_sabotage", {CP: "import json\njson.dumps = lambda *a, **k: 'garbage'\n" + GOOD[CP]}, (CP, TT, FT)),
    Case("closes_file_descriptors", {CP: "import os\n_ = os.closerange(3, 256)\n" + GOOD[CP]}, (CP, TT, FT)),
    Case("atexit_hang", {CP: "import atexit, time\natexit.register(time.sleep, 10**6)\n" + GOOD[CP]}, ()),
    Case("inherited_reference_objects", {CP: "import gc, sys\ndef _reference():\n"
                                             "    for obj in gc.get_objects():\n"
                                             "        code = getattr(obj, '__code__', None)\n"
                                             "        if getattr(obj, '__name__', '') == 'count_parameters' and code is not None \\\n"
                                             "                and not code.co_filename.startswith('submission'):\n"
                                             "            return obj\n"
                                             "    for name, mod in list(sys.modules.items()):\n"
                                             "        if name.startswith('notebook_') and hasattr(mod, 'count_parameters'):\n"
                                             "            return mod.count_parameters\n"
                                             "_ref = _reference()\n"
                                             "def count_parameters(model):\n    return _ref(model) if _ref else 0"},
         (CP,), twin={CP: "def count_parameters(model):\n    return 0"}),  # the zygote never held a solution
    Case("huge_int_result", {CP: "def count_parameters(model):\n    return 10 ** 400"}, (CP,),
         twin={CP: "def count_parameters(model):\n    return 10 ** 400"}),
    Case("forged_huge_int_event", {CP: "import os\n_ = os.write(int(os.environ['GRADER_RESULT_FD']), "
                                       "b'{\"event\": \"cell\", \"index\": ' + b'1' * 5000 + b'}\\n')\n" + GOOD[CP]},
         (CP, TT, FT), twin={CP: None, TT: None, FT: None}),
    Case("forged_deep_json_event", {CP: "import os\n_ = os.write(int(os.environ['GRADER_RESULT_FD']), "
                                        "b'[' * 100000 + b'\\n')\n" + GOOD[CP]},
         (CP, TT, FT), twin={CP: None, TT: None, FT: None}),
    Case("forged_loaded_event", {CP: "import os, json\n_fd = int(os.environ['GRADER_RESULT_FD'])\n"
                                     "_ = os.write(_fd, (json.dumps({'event': 'loaded', 'mode': 'metadata', "
                                     "'errors': [{'cell': None}, 'x', {'cell': 1, 'message': 7}]}) + '\\n').encode())\n"
                                     + GOOD[CP]},
         (CP, TT, FT), twin={CP: None, TT: None, FT: None}),
    Case("terminal_escapes", {CP: "def count_parameters(model):\n"
                                  "    raise RuntimeError('\\x1b[2K\\x1b[1G\\x1b[32mall checks passed 10/10\\x1b[8m')"},
         (CP,), twin={CP: RAISES.format(CP)}),
    Case("read_git_history", {CP: "import subprocess, json\n"
                                  f"_git = subprocess.run(['git', '-C', {str(REPO)!r}, 'show', "
                                  "'HEAD:solutions/00_setup_and_data.ipynb'], capture_output=True, text=True)\n"
                                  "if _git.returncode == 0:\n"
                                  "    for _c in json.loads(_git.stdout)['cells']:\n"
                                  "        if _c['metadata'].get('nbgrader', {}).get('solution'):\n"
                                  "            exec(''.join(_c['source']), globals())\n"
                                  f"if __import__('os').path.exists({str(REPO / 'tests' / 'test_grader.py')!r}):\n"
                                  "    count_parameters = lambda model: sum(p.numel() for p in model.parameters() if p.requires_grad)\n"},
         (CP,), needs_isolation=True, twin={CP: None}),
    Case("read_top_level_data_folder", {CP: f"import os\nif os.path.exists({OUTSIDE_FILE!r}):\n"
                                            f"    exec(open({OUTSIDE_FILE!r}).read())"},
         (CP,), needs_isolation=True, needs_outside_folder=True, twin={CP: None}),
    Case("thread_bomb", {TT: "import threading, time\ndef to_tanh_range(x):\n    for _ in range(10000):\n"
                             "        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n    return 2 * x - 1"},
         (TT,), twin={}),
]


def _with_cells(name: str, edit) -> callable:
    def make(dest: Path) -> Path:
        nb = nbformat.read(variant(dest, GOOD), as_version=4)
        edit(nb)
        nbformat.write(nb, dest)
        return dest
    return make


def _answer_cells(nb, item=None):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")
            and (item is None or c.metadata["nbgrader"]["grade_id"] == item)]


def _strip_vscode(nb):
    for cell in nb.cells:
        cell.metadata = {}
    nb.metadata = {"language_info": {"name": "python"}}


def _strip_colab(nb):
    for i, cell in enumerate(nb.cells):
        cell.metadata = {"id": f"colab{i}", "colab": {"base_uri": "https://localhost/"}}
    nb.metadata = {"colab": {"provenance": []}, "kernelspec": {"name": "python3", "display_name": "Python 3"}}


def _duplicate_last_wins(nb):
    cell = _answer_cells(nb, TT)[0]
    wrong = nbformat.from_dict(dict(cell))
    cell.source = "def to_tanh_range(x):\n    return x"
    nb.cells.insert(nb.cells.index(cell) + 1, wrong)  # the later (correct) definition wins, as in Jupyter


BROKEN = {  # name -> (builder, items that may lose points, expected message fragment or None)
    "invalid_json": (lambda d: _text(d, "{ not json"), (CP, TT, FT), "not a valid Jupyter notebook"),
    "not_a_notebook": (lambda d: _bytes(d, b"\x89PNG\r\n\x1a\n" + bytes(range(256))), (CP, TT, FT), "not"),
    "empty_file": (lambda d: _text(d, ""), (CP, TT, FT), "empty"),
    "symlink_to_the_solution": (lambda d: _link(d, SOLUTION), (CP, TT, FT), "symbolic link"),
    "fifo_named_like_a_notebook": (lambda d: _fifo(d), (CP, TT, FT), "not a plain file"),
    "huge_notebook": (lambda d: _text(d, '{"cells": [], "pad": "' + "x" * (51 * 2**20) + '"}'), (CP, TT, FT), "MB"),
    "deleted_cell": (_with_cells("d", lambda nb: nb.cells.remove(_answer_cells(nb, FT)[0])), (FT,), "not defined"),
    "duplicated_cell": (_with_cells("d", _duplicate_last_wins), (), None),
    "retagged_setup": (_with_cells("d", lambda nb: [c.metadata.pop("tags", None) for c in nb.cells]), (CP, TT, FT), None),
    "stripped_by_vscode": (_with_cells("d", _strip_vscode), (), None),
    "stripped_by_colab": (_with_cells("d", _strip_colab), (), None),
    "renamed_function": (lambda d: variant(d, GOOD | {CP: GOOD[CP].replace("count_parameters", "count_params")}), (CP,),
                         "count_parameters is not defined"),
    "syntax_error": (lambda d: variant(d, GOOD | {TT: "def to_tanh_range(x)\n    return 2 * x - 1"}), (TT,), "SyntaxError"),
    "missing_package": (lambda d: variant(d, GOOD | {FT: "import definitely_not_installed\n" + GOOD[FT]}), (FT,),
                        "ModuleNotFoundError"),
    "training_loop_at_top": (lambda d: variant(d, GOOD | {CP: GOOD[CP] + "\nfor epoch in range(10**9):\n    pass\n"
                                                          "while True:\n    pass"}), (), None),
    "warnings_are_not_failures": (lambda d: variant(d, GOOD | {TT: "import warnings\ndef to_tanh_range(x):\n"
                                                               "    warnings.warn('careful')\n    return 2 * x - 1"}), (), None),
}


def _text(dest: Path, text: str) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text)
    return dest


def _bytes(dest: Path, data: bytes) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)
    return dest


def _link(dest: Path, target: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.symlink_to(target)
    return dest


def _fifo(dest: Path) -> Path:
    import os

    dest.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(dest)  # reading it would block the grader forever
    return dest


def _digest(paths) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.read_bytes())
    return h.hexdigest()


PROTECTED = [SOLUTION, EXERCISE, REPO / "autograder" / "__init__.py"]  # the files the attacks target


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """(results by student, notes, grades folder, digests before, loopback server hits), once per run."""
    return once_per_run(tmp_path_factory, "hostile-class", lambda: _grade_hostile_class(tmp_path_factory))


def _grade_hostile_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    cls = root / "class"
    variant(cls / "honest" / "00_setup_and_data.ipynb", GOOD)
    for case in HOSTILE:
        variant(cls / f"hostile_{case.name}" / "00_setup_and_data.ipynb", GOOD | case.answers)
    for name, (build, _, _) in BROKEN.items():
        build(cls / f"broken_{name}" / "00_setup_and_data.ipynb")
    before = _digest(PROTECTED)
    out = root / "grades"
    out.mkdir()
    (out / "sentinel.txt").write_text("must survive")
    limits = Limits(check_seconds=6, load_seconds=12, memory_bytes=2 * 2**30)
    if OUTSIDE:
        OUTSIDE.mkdir(exist_ok=True)
        Path(OUTSIDE_FILE).write_text(GOOD[CP])
    try:
        run = grade_paths([cls], out, jobs=2, limits=limits, log=lambda m: None)
    finally:
        if OUTSIDE:
            shutil.rmtree(OUTSIDE, ignore_errors=True)
    STOP.set()
    return {r.student: r for r in run.results}, run.notes, out, before, list(HITS)  # this process's server


def twin_scores(twin: dict) -> dict:
    """Per-item score of the honest twin, evaluated in this process (GOOD for items not named)."""
    from autograder.checks import checks_for
    from autograder.points import check_max_scores, item_points
    from autograder.selfcheck import evaluate
    from vaegan.notebooks import load_reference

    student = load_reference("00_setup_and_data")
    for item in POINTS:
        source = twin.get(item, GOOD[item])
        if source is None:
            delattr(student, item)
        else:
            exec(source, student.__dict__)
    verdicts = evaluate(student, "00_setup_and_data", load_reference("00_setup_and_data"))
    max_scores = check_max_scores(item_points(SOLUTION, "00_setup_and_data"), checks_for("00_setup_and_data").checks)
    scores = dict.fromkeys(POINTS, 0.0)
    for cid, verdict in verdicts.items():
        scores[cid.split(".")[0]] += round(max_scores[cid] * verdict.fraction, 2)
    return scores


def _item_scores(result) -> dict:
    scores = dict.fromkeys(POINTS, 0.0)
    for c in result.results:
        scores[c.check.split(".")[0]] += c.score
    return scores


def _lost(result) -> dict:
    lost = {}
    for c in result.results:
        lost[c.check.split(".")[0]] = lost.get(c.check.split(".")[0], 0) + (c.max_score - c.score)
    return lost


def test_honest_student_unaffected(graded):
    assert graded[0]["honest"].score == 10


@pytest.mark.parametrize("case", HOSTILE, ids=lambda c: c.name)
def test_hostile_submission(graded, case):
    if case.needs_isolation and not ISOLATED:
        pytest.skip("needs the Linux namespace sandbox")
    if case.needs_outside_folder and OUTSIDE is None:
        pytest.skip("no writable top-level data folder (/srv, /mnt, /opt) to hide a secret in")
    result = graded[0][f"hostile_{case.name}"]
    allowed = sum(POINTS[i] for i in case.attacked)
    # at most what honest code with the same behaviour earns: full marks on items not attacked
    for item, lost in _lost(result).items():
        if item not in case.attacked:
            assert lost == 0, (item, [c.message for c in result.results if c.score < c.max_score])
    assert result.score >= 10 - allowed
    honest = twin_scores(case.twin or {})
    for item, score in _item_scores(result).items():
        assert score <= honest[item] + 1e-9, (item, score, honest[item], [c.message for c in result.results])


def test_nothing_outside_was_touched(graded):
    _, _, out, before, hits = graded
    assert _digest(PROTECTED) == before
    assert (out / "sentinel.txt").read_text() == "must survive"
    if ISOLATED:
        assert not Path(CANARY).exists()
        assert hits == [], "a worker reached the loopback server: the network is not isolated"


@pytest.mark.parametrize("name", list(BROKEN), ids=str)
def test_broken_submission(graded, name):
    _, may_lose, fragment = BROKEN[name]
    result = graded[0][f"broken_{name}"]
    lost = _lost(result)
    for item, points in lost.items():
        if item not in may_lose:
            assert points == 0, (name, item, [c.message for c in result.results])
    if fragment:
        failed = [c.message for c in result.results if c.score < c.max_score]
        assert failed and all(fragment in m for m in failed), failed


def test_messages_and_notes_are_printable(graded):
    """A message quotes student output: control characters are written out, never passed to a terminal."""
    for result in graded[0].values():
        for text in [*(c.message for c in result.results), *result.notes]:
            assert not any(ord(ch) < 32 and ch not in "\n\t" for ch in text), (result.student, text)
    assert "\\x1b[2K" in graded[0]["hostile_terminal_escapes"].results[0].message


def test_a_cell_that_crashes_the_loader_is_skipped_with_a_reason(graded):
    """os._exit at the top level of a cell: that cell is skipped on a fresh attempt, as one that hangs is; the
    other cells' functions are graded and the message says what happened."""
    result = graded[0]["hostile_os_exit_at_load"]
    lost = [c for c in result.results if c.score < c.max_score]
    assert lost and {c.check.split(".")[0] for c in lost} == {CP}, [c.message for c in lost]
    assert all("crashed the grader while loading" in c.message and "skipped" in c.message for c in lost), \
        [c.message for c in lost]


def test_an_exception_that_cannot_be_shown_is_reported_like_any_other(graded):
    """An exception whose own __str__ raises (an attribute never set), at the top level of a cell after the
    definitions: the definitions are graded, as with a plain ValueError there, and the note says what failed."""
    result = graded[0]["hostile_unprintable_exception_at_load"]
    assert result.score == result.max_score, [c.message for c in result.results if c.score < c.max_score]
    assert any("Oops" in note and "could not be shown" in note for note in result.notes), result.notes


def test_every_submission_got_a_row_per_check(graded):
    results = graded[0]
    assert len(results) == 1 + len(HOSTILE) + len(BROKEN)
    assert all(len(r.results) == 9 for r in results.values())


SYSV = ("import ctypes\n_libc = ctypes.CDLL(None, use_errno=True)\n_libc.shmget.restype = ctypes.c_int\n"
        "_KEY = 0x5EED1E5\n")


@pytest.mark.skipif(not ISOLATED, reason="needs the Linux namespace sandbox")
def test_nothing_passes_from_one_job_to_the_next_through_system_v_memory(tmp_path):
    """A segment left by one notebook (System V IPC outlives its process) is gone for the next one."""
    leaves = SYSV + "_ = _libc.shmget(_KEY, 1 << 20, 0o1666)  # IPC_CREAT | 0666, never removed\n" + GOOD[CP]
    finds = SYSV + ("def count_parameters(model):\n"
                    "    if _libc.shmget(_KEY, 0, 0) == -1:  # nothing left by an earlier job\n        return 0\n"
                    "    return sum(p.numel() for p in model.parameters() if p.requires_grad)\n")
    variant(tmp_path / "class" / "a_leaves" / "00_setup_and_data.ipynb", GOOD | {CP: leaves})
    variant(tmp_path / "class" / "b_finds" / "00_setup_and_data.ipynb", GOOD | {CP: finds})
    run = grade_paths([tmp_path / "class"], tmp_path / "out", jobs=1, log=lambda m: None,
                      limits=Limits(check_seconds=6, load_seconds=12))
    scores = {r.student: r.score for r in run.results}
    assert scores["a_leaves"] == 10
    alone = sum(twin_scores({CP: "def count_parameters(model):\n    return 0"}).values())
    assert scores["b_finds"] == alone < 10, "the second job found the first job's shared memory"


# ---------------------------------------------------------------- the result pipe, read by the trusted parent
def _events_on_a_pipe():
    from autograder.runner import _Events

    read_fd, write_fd = os.pipe()
    events = _Events()
    events._open(read_fd)
    return events, write_fd


def test_a_result_of_millions_of_values_is_refused_before_it_is_parsed():
    """``[[]] * 20_000_000`` (returned by a probed function, or written to the pipe) is 60 MB of JSON that
    json.loads and decode turn into gigabytes in the trusted parent, and most of a minute holding the GIL;
    it is refused from a count of its values, with a reason."""
    import time

    from autograder.errors import PlainDataError

    events, write_fd = _events_on_a_pipe()
    try:
        line = b'{"event": "result", "id": "a.b", "status": "ok", "outputs": {"x": [' + b"[]," * 300_000 + b"[]]}}\n"
        threading.Thread(target=lambda: os.write(write_fd, line), daemon=True).start()
        with pytest.raises(PlainDataError, match="values in one result"):
            events.next_event(time.monotonic() + 10)
    finally:
        os.close(write_fd)
        events._close_pipe()


def test_an_event_written_in_time_but_read_late_is_not_a_timeout(monkeypatch):
    """The grading thread may get to the pipe after the deadline (a busy machine; another thread holding the GIL
    while it parses a large result): what the worker is sending is still read, a line larger than the pipe's
    buffer too, for LATE_READ_SECONDS per deadline; a worker writing on cannot push the deadline back further."""
    import time

    from autograder import runner

    monkeypatch.setattr(runner, "LATE_READ_SECONDS", 1.0)
    events, write_fd = _events_on_a_pipe()
    try:
        big = b'{"event": "result", "id": "a.b", "outputs": "' + b"x" * 2_000_000 + b'"}\n'  # 30 pipe buffers
        writer = threading.Thread(target=lambda: os.write(write_fd, big + b'{"event": "done"}\n'), daemon=True)
        writer.start()
        time.sleep(0.2)  # the worker is blocked in its write, the buffer full
        deadline = time.monotonic() - 1  # already past when the thread looks
        assert events.next_event(deadline)["id"] == "a.b"
        assert events.next_event(deadline) == {"event": "done"}
        writer.join()
        time.sleep(1.1)  # the grace is over: what comes now is late
        os.write(write_fd, b'{"event": "start", "id": "a.c"}\n')
        assert events.next_event(deadline) == "timeout"
    finally:
        os.close(write_fd)
        events._close_pipe()


class _ScriptedWorker:
    """Stands in for a worker: plays ``script`` (delay in seconds, event) on a pipe, as the real one writes."""

    def __init__(self, script):
        from autograder.runner import _Events

        read_fd, self.write_fd = os.pipe()
        self.events = _Events()
        self.events._open(read_fd)

        def play():
            for delay, event in script:
                time.sleep(delay)
                os.write(self.write_fd, (json.dumps(event) + "\n").encode())
        self.thread = threading.Thread(target=play, daemon=True)
        self.thread.start()

    def next_event(self, deadline):
        return self.events.next_event(deadline)

    def stop(self):
        self.events._close_pipe()
        return "stopped"

    def tail(self):
        return ""


def test_a_result_received_in_time_survives_a_stall_before_the_next_check(monkeypatch, tmp_path):
    """The worker answers check a in time, then stalls before starting b: a's result stays, and b alone is graded
    by a fresh worker; neither is called a load failure of the whole notebook (which it was)."""
    from autograder import runner

    monkeypatch.setattr(runner, "BETWEEN_CHECKS_SECONDS", 0.5)
    loaded = [(0, {"event": "ready"}), (0, {"event": "loaded", "mode": "metadata"})]
    scripts = iter([
        [*loaded, (0, {"event": "start", "id": "x.a"}),
         (0.1, {"event": "result", "id": "x.a", "status": "ok", "outputs": {"v": 1}}),
         (1.5, {"event": "start", "id": "x.b"})],  # too late: the first worker is given up
        [*loaded, (0, {"event": "start", "id": "x.b"}),
         (0, {"event": "result", "id": "x.b", "status": "ok", "outputs": {"v": 2}}), (0, {"event": "done"})],
    ])
    monkeypatch.setattr(runner, "_Worker", lambda job, limits, workdir: _ScriptedWorker(next(scripts)))
    notebook = tmp_path / "n.ipynb"
    notebook.write_text("{}")
    report = runner.run_checks(notebook, "00_setup_and_data", {"x.a": _FakeCheck(), "x.b": _FakeCheck()})
    assert {cid: (run.status, run.outputs) for cid, run in report.runs.items()} == \
        {"x.a": ("ok", {"v": 1}), "x.b": ("ok", {"v": 2})}, report.runs
    assert report.restarts == 1


class _FakeCheck:
    timeout = 5.0
    name = "c"


# ---------------------------------------------------------------- the probes' own code, replaced by the notebook
EVALUATE_TWIN = '''def vae_evaluate(model, batches):
    recon_sum, kl_sum, n = 0.0, 0.0, 0
    for x in batches:  # no model.eval(), no torch.no_grad(): loses those two checks
        x_logits, mu, logvar = model(x)
        recon_sum += reconstruction_loss(x_logits, x).sum().item()
        kl_sum += kl_divergence(mu, logvar).sum().item()
        n += x.shape[0]
    recon, kl = recon_sum / n, kl_sum / n
    return {"neg_elbo": recon + kl, "recon": recon, "kl": kl}
'''
PATCHES = {  # student -> (code before the twin's definition, or a line inside it; replaced at load?)
    "recorder_method": ("import autograder.checks.ex05_training_the_vae as _c\n"
                        "_c._Logged._record = lambda self: self.log.append([False, False])\n", True),
    "recorder_code": ("import autograder.checks.ex05_training_the_vae as _c\n"
                      "_c._Logged._record.__code__ = (lambda self: self.log.append([False, False])).__code__\n", True),
    "library_function": ("import torch\ntorch.is_grad_enabled = lambda: False\n", True),
    "check_probe": ("import gc\nfrom autograder.checks.base import Check\ndef _patch():\n"
                    "    for o in gc.get_objects():\n"
                    "        if type(o) is Check and o.item == 'vae_evaluate' and o.name == 'no_grad':\n"
                    "            object.__setattr__(o, 'probe', lambda ns, inputs: {'log': [[False, False]]})\n"
                    "_ = _patch()\n", True),
    "at_call_time": ("import torch\n", False),
    "disguised_as_a_wrapper": ("import functools, torch\ntorch.is_grad_enabled = "
                               "functools.wraps(torch.is_grad_enabled)(lambda: False)\n", True),
}


def _patched_evaluate(name: str) -> str:
    code, at_load = PATCHES[name]
    if at_load:
        return code + EVALUATE_TWIN
    return code + EVALUATE_TWIN.replace("    recon_sum, kl_sum, n = 0.0, 0.0, 0\n",
                                        "    torch.is_grad_enabled = lambda: False\n    recon_sum, kl_sum, n = 0.0, 0.0, 0\n")


def test_replacing_the_probes_code_gains_nothing_and_is_put_back(tmp_path):
    """Recorders, their code, a library function and a check's probe replaced by the notebook, at its top
    level or while a check runs: never more than the honest twin, with a note or a message naming it.
    A notebook that sets library data flags (cudnn.benchmark) and calls set_printoptions is not accused."""
    slug = "05_training_the_vae"
    solution = REPO / "solutions" / f"{slug}.ipynb"
    cls = tmp_path / "class"
    variant(cls / "twin" / f"{slug}.ipynb", {"vae_evaluate": EVALUATE_TWIN}, source=solution)
    nb = nbformat.read(solution, as_version=4)
    nb.cells.insert(1, nbformat.v4.new_code_cell("import torch\ntorch.backends.cudnn.benchmark = True\n"
                                                 "torch.set_printoptions(precision=3)"))
    for cell in nb.cells:  # an honest warning inside a probed function, and a copy of a grader object
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "vae_evaluate":
            cell.source = cell.source.replace("    was_training = model.training\n",
                                              "    import copy, warnings\n    warnings.warn('evaluating', stacklevel=2)\n"
                                              "    copy.deepcopy(model)\n    was_training = model.training\n", 1)
            assert "stacklevel" in cell.source
    (cls / "flags").mkdir(parents=True)
    nbformat.write(nb, cls / "flags" / f"{slug}.ipynb")
    for name in PATCHES:
        variant(cls / name / f"{slug}.ipynb", {"vae_evaluate": _patched_evaluate(name)}, source=solution)
    run = grade_paths([cls], tmp_path / "grades", jobs=2, log=lambda m: None)
    by_student = {r.student: r for r in run.results}
    item = lambda r: sum(c.score for c in r.results if c.check.startswith("vae_evaluate."))  # noqa: E731
    twin = by_student["twin"]
    assert 0 < item(twin) < 4 and twin.score == 8.5, [(c.check, c.score) for c in twin.results]
    assert by_student["flags"].score == 10 and not any("replaced" in n for n in by_student["flags"].notes)
    for name, (_, at_load) in PATCHES.items():
        result = by_student[name]
        assert item(result) <= item(twin) + 1e-9, (name, [(c.check, c.score, c.message) for c in result.results])
        assert result.score <= twin.score + 1e-9
        if at_load:
            assert any("replaced" in n and "put it back" in n for n in result.notes), (name, result.notes)
        else:
            assert any("replaced torch.is_grad_enabled" in c.message for c in result.results), name


def test_outputs_far_larger_than_the_references_are_refused_before_the_judge_runs():
    """Judges run in the trusted parent and some of their work grows with what they compare: an output of
    millions of values where the reference's holds a few is failed with a reason before judging; an output of
    ordinary size (even a wrong shape) still reaches the judge and its message."""
    from types import SimpleNamespace

    import torch

    from autograder.checks.base import Check, Verdict
    from autograder.grading import score_report
    from autograder.runner import CheckRun, WorkerReport, _within_budget

    judged = []

    def judge(student, reference):
        judged.append(student["x"].shape)
        return Verdict.failed("shape differs") if student["x"].shape != reference["x"].shape else Verdict.passed()

    def received(outputs):  # as the runner keeps a result: with its size counted
        return _within_budget(CheckRun("ok", "", outputs=outputs), WorkerReport())

    check = Check("item", "c", probe=lambda ns, inputs: {}, judge=judge)
    expected = received({"x": torch.zeros(32)})
    reference = SimpleNamespace(checks=[check], max_scores={check.id: 1.0}, outputs={check.id: expected.outputs},
                                values={check.id: expected.values})
    results = {}
    for name, x in (("same", torch.zeros(32)), ("wrong shape", torch.zeros(8, 32)), ("huge", torch.zeros(2000, 2000))):
        report = WorkerReport(runs={check.id: received({"x": x})})
        results[name] = score_report(reference, report)[0]
    assert results["same"].score == 1 and results["wrong shape"].message == "shape differs"
    assert results["huge"].score == 0 and "4,000,001 values where the reference's hold 33" in results["huge"].message
    assert judged == [torch.Size([32]), torch.Size([8, 32])]  # the huge output never reached the judge


def test_a_notebooks_results_together_are_capped_in_the_parent():
    """Each check's outputs are kept in the trusted parent until the notebook is scored: once they pass
    MAX_NOTEBOOK_VALUES together, the next results are errors with a reason and are not kept."""
    import torch

    from autograder import runner
    from autograder.runner import CheckRun, WorkerReport

    report = WorkerReport()
    big = runner.MAX_NOTEBOOK_VALUES // 2 - 10  # with its dict, each output holds big + 1 values
    kept = [runner._within_budget(CheckRun("ok", "", outputs={"x": torch.zeros(big)}), report) for _ in range(3)]
    assert [run.status for run in kept] == ["ok", "ok", "error"]
    assert kept[2].outputs is None and "far more than any solution's" in kept[2].message
    small = runner._within_budget(CheckRun("ok", "", outputs={"x": torch.zeros(3)}), report)
    assert small.status == "ok"  # the refused result's values were not counted
    failed = runner._within_budget(CheckRun("error", "raised ValueError"), report)
    assert failed.message == "raised ValueError"  # a failed check is left as it is
