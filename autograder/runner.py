"""Parent side of the worker protocol: spawn, stream, time out, replace crashed workers.

Every check gets a ``CheckRun`` (status, outputs or message). A hang or crash fails only
the check that was running; a fresh worker then grades the remaining checks.
"""
from __future__ import annotations

import atexit
import collections
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import sandbox
from .errors import PlainDataError  # light: the parent starts its zygotes before importing torch

REPO_ROOT = Path(__file__).resolve().parents[1]
MAX_LINE_BYTES = 64 * 1024 * 1024
MAX_LINE_VALUES = 200_000  # JSON values in one event: the largest reference result holds about 600
MAX_NOTEBOOK_VALUES = 25_000_000  # decoded values (tensor elements) kept for one notebook's checks
BETWEEN_CHECKS_SECONDS = 60.0  # from one check's result to the next check's start (or done)
LATE_READ_SECONDS = 5.0  # past a deadline, how long what the worker already sends is still read
LOG_TAIL_BYTES = 2000
SUBMISSION_NAME = "submission.ipynb"
MAX_SKIPPED_CELLS = 3  # cells that hang or crash while loading, each skipped on a fresh attempt, before giving up


@dataclass
class Limits:
    startup_seconds: float = 180.0  # interpreter and torch import, before any student code
    load_seconds: float = 120.0  # reading and executing the notebook's selected cells
    submission_seconds: float = 600.0  # everything for one notebook, restarts included
    file_size_bytes: int = 64 * 1024 * 1024
    threads: int = 1
    check_seconds: float | None = None  # caps every check's own timeout (tests, impatient instructors)
    memory_bytes: int = 3 * 2**30

    def check_timeout(self, check) -> float:
        return min(check.timeout, self.check_seconds) if self.check_seconds else check.timeout


@dataclass
class CheckRun:
    status: str  # ok | not_implemented | error | missing | timeout | crashed | load_failed | not_run
    message: str = ""
    outputs: dict | None = None
    inputs: object = None  # reference mode: plain inputs prepared for students
    seconds: float = 0.0
    values: int = 0  # decoded values in ``outputs`` (``plaindata.size_of``), counted once when received


@dataclass
class WorkerReport:
    runs: dict[str, CheckRun] = field(default_factory=dict)
    load_errors: list[dict] = field(default_factory=list)
    mode: str = ""
    restarts: int = 0
    seconds: float = 0.0
    log_tail: str = ""
    sandbox_problems: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)  # grader or library code the notebook replaced, put back
    loading_cell: int | None = None  # the cell being loaded when the last event came
    skipped_cells: list[int] = field(default_factory=list)  # cells that hung or crashed while loading, skipped on retry
    crashed_cells: dict[int, str] = field(default_factory=dict)  # of those, the ones that crashed: how the worker ended
    garbled: str = ""  # why the last unreadable result line was refused
    values: int = 0  # decoded values (tensor elements and others) of the results kept so far


def _scrubbed_env(result_fd: int, home: str) -> dict:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(REPO_ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
        "COURSE_OFFLINE": "1",
        "MPLCONFIGDIR": home,
        "CUDA_VISIBLE_DEVICES": "",
        "GRADER_RESULT_FD": str(result_fd),
    }
    return env


_RUN_ROOT: str | None = None
_RUN_ROOT_LOCK = threading.Lock()


def run_root() -> str:
    """This process's folder for job folders. In the sandbox an empty, writable tmpfs is mounted over it,
    so a worker sees neither its siblings' folders nor anything left there, and writes only there.
    It is removed when the process that made it exits (a killed run leaves it for the system's cleaner)."""
    global _RUN_ROOT
    with _RUN_ROOT_LOCK:  # zygotes start from several threads at once: one folder for all of them
        if _RUN_ROOT is None or not os.path.isdir(_RUN_ROOT):
            _RUN_ROOT = tempfile.mkdtemp(prefix="grader-")
            os.chmod(_RUN_ROOT, 0o700)
            atexit.register(_remove_run_root, _RUN_ROOT, os.getpid())
        return _RUN_ROOT


def _remove_run_root(path: str, owner: int) -> None:
    if os.getpid() == owner:  # not in a forked child that happens to exit through atexit
        shutil.rmtree(path, ignore_errors=True)


class _Events:
    """Buffered JSON lines of one job's result pipe."""

    fd: int
    partial: list[bytes]
    eof: bool
    selector: selectors.BaseSelector

    def _open(self, read_fd: int) -> None:
        self.fd = read_fd
        os.set_blocking(read_fd, False)
        self.partial: list[bytes] = []  # the line being received, in pieces
        self.partial_bytes, self.eof = 0, False
        self.lines: collections.deque[bytes] = collections.deque()  # complete lines not yet returned
        self.late_for: float | None = None  # the deadline past which what was sent is being read
        self.late_until = 0.0  # until when (LATE_READ_SECONDS after the first late read)
        self.selector = selectors.DefaultSelector()
        self.selector.register(read_fd, selectors.EVENT_READ)

    def next_event(self, deadline: float):
        """The next JSON event, ``"timeout"`` or ``"eof"``; malformed lines raise ``PlainDataError``.

        Past ``deadline``, what the worker is sending is still read before ``"timeout"``: a parent thread kept
        from running (a busy machine, another thread holding the GIL) must not turn a check that finished in time
        into a timeout, and a result line larger than the pipe's buffer arrives in pieces. For at most
        ``LATE_READ_SECONDS`` per deadline, so a worker that keeps writing cannot push the deadline back."""
        while True:
            if self.lines:
                return _parse_event(self.lines.popleft())
            if self.eof:
                return "eof"
            now = time.monotonic()
            remaining = deadline - now
            if remaining <= 0:
                if self.late_for != deadline:
                    self.late_for, self.late_until = deadline, now + LATE_READ_SECONDS
                # a line larger than the pipe's buffer arrives in pieces as the worker's write goes on
                wait = 0.1 if self.partial else 0
                if now >= self.late_until or not self.selector.select(timeout=wait):
                    return "timeout"
            elif not self.selector.select(timeout=min(remaining, 1.0)):
                continue
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                self.eof = True
            self._add(chunk)

    def _add(self, chunk: bytes) -> None:
        """Split ``chunk`` into complete lines (queued) and the start of the next one (kept in pieces): linear
        in what arrives, however it is cut, where joining and re-scanning the whole buffer per read is not."""
        *complete, rest = chunk.split(b"\n")
        if complete:
            if self.partial_bytes + len(complete[0]) > MAX_LINE_BYTES:
                raise PlainDataError("result line larger than any check produces")
            self.lines.append(b"".join(self.partial) + complete[0])
            self.lines.extend(complete[1:])
            self.partial, self.partial_bytes = [], 0
        if rest:
            self.partial.append(rest)
            self.partial_bytes += len(rest)
        if self.partial_bytes > MAX_LINE_BYTES:
            raise PlainDataError("result line larger than any check produces")

    def _close_pipe(self) -> None:
        self.selector.close()
        os.close(self.fd)

    def tail(self) -> str:
        try:
            data = self.log_path.read_bytes()[-LOG_TAIL_BYTES:]
        except OSError:
            return ""
        return data.decode("utf-8", "replace")


def _parse_event(line: bytes) -> dict:
    """One result line as an event dict; ``PlainDataError`` for anything else.

    The values are counted before parsing: a line of 60 MB holding 20 million empty lists or dicts (``[[]] *
    20_000_000``, returned by a probed function or written to the pipe) costs the trusted parent gigabytes of
    memory and most of a minute of CPU, holding the GIL all other grading threads need; no check's result comes
    near ``MAX_LINE_VALUES``."""
    values = line.count(b",") + line.count(b"[") + line.count(b"{")  # each value but the first follows one
    if values > MAX_LINE_VALUES:
        raise PlainDataError(f"over {MAX_LINE_VALUES:,} values in one result, far more than any check produces: "
                             "a huge list or dict returned?")
    try:
        event = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError, MemoryError) as err:  # bad JSON, huge ints, deep nesting
        raise PlainDataError(f"unreadable result line ({err.__class__.__name__})") from err
    if type(event) is not dict or type(event.get("event")) is not str:
        raise PlainDataError("result line is not an event")
    return event


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "did not stop"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class _Worker(_Events):
    """One freshly spawned worker process (no zygote: slower, works everywhere)."""

    def __init__(self, job: dict, limits: Limits, workdir: str):
        read_fd, write_fd = os.pipe()
        self.log_path = Path(workdir) / "worker.log"
        self.log = open(self.log_path, "ab")
        protection = sandbox.detect()
        self.cgroups = sandbox.WorkerCgroups(protection, limits.memory_bytes) if protection.namespaces else None
        job["sandbox"] = {"namespaces": protection.namespaces, "hide": job.pop("hide", []), "private": run_root(),
                          "cgroups": self.cgroups.paths if self.cgroups else []}
        home = run_root() if protection.namespaces else workdir
        self.proc = subprocess.Popen(
            [*protection.command(), sys.executable, "-m", "autograder.worker"],
            stdin=subprocess.PIPE, stdout=self.log, stderr=subprocess.STDOUT,
            pass_fds=(write_fd,), cwd=workdir, env=_scrubbed_env(write_fd, home),
            start_new_session=True, close_fds=True,
        )
        os.close(write_fd)
        self._open(read_fd)
        try:
            self.proc.stdin.write(json.dumps(job).encode("utf-8"))
            self.proc.stdin.close()
        except BrokenPipeError:
            pass

    def stop(self) -> str:
        """Kill the whole process group; returns how the worker ended."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            code = None
        self._close_pipe()
        self.log.close()
        if self.cgroups:
            self.cgroups.remove()
        return _describe_exit(code)


class Zygote:
    """A long-lived process that imported torch once and forks an isolated child per job."""

    def __init__(self, limits: Limits, warm_modules=()):
        import socket

        self.protection = sandbox.detect()
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.log = tempfile.TemporaryFile()
        env = _scrubbed_env(-1, run_root())
        env.pop("GRADER_RESULT_FD")
        env["GRADER_ZYGOTE_FD"] = str(theirs.fileno())
        env["GRADER_WARM_MODULES"] = ",".join(warm_modules)  # imported once, before any fork
        self.proc = subprocess.Popen(
            [*self.protection.command(), sys.executable, "-m", "autograder.zygote"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, pass_fds=(theirs.fileno(),),
            cwd=run_root(), env=env, start_new_session=True, close_fds=True)
        theirs.close()
        self.sock.settimeout(limits.startup_seconds)
        ready = self.receive()
        if ready.get("event") != "zygote_ready":
            raise RuntimeError("the grading zygote did not start")
        self.counter = 0

    def receive(self) -> dict:
        data = self.sock.recv(1 << 16)
        if not data:
            raise ConnectionError("the grading zygote exited")
        return json.loads(data)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        self.sock.close()
        self.log.close()


class ZygotePool:
    """``size`` zygotes shared by the grading threads; a broken zygote is replaced.

    ``warm_modules``: what the graded notebooks' setup cells import (``warm_modules_for``), imported
    by each zygote before it forks, so no child pays for it.
    """

    def __init__(self, size: int, limits: Limits, warm_modules=()):
        import queue

        self.limits, self.warm_modules = limits, tuple(warm_modules)
        self.idle: "queue.Queue[Zygote | None]" = queue.Queue()
        self.started: list[Zygote] = []  # every zygote of this pool, closed by ``close``
        self.lock = threading.Lock()
        self.starting = [threading.Thread(target=self._start, daemon=True) for _ in range(size)]
        for thread in self.starting:  # all at once, in the background: the parent goes on meanwhile
            thread.start()

    def _new(self) -> Zygote:
        zygote = Zygote(self.limits, self.warm_modules)
        with self.lock:
            self.started.append(zygote)
        return zygote

    def _start(self) -> None:
        try:
            zygote = self._new()
        except Exception:  # noqa: BLE001 - retried by the job that acquires the empty slot
            zygote = None
        self.idle.put(zygote)

    def acquire(self) -> Zygote:
        zygote = self.idle.get()
        if zygote is None or not zygote.alive():
            zygote = self._new()
        return zygote

    def release(self, zygote: Zygote | None) -> None:
        self.idle.put(zygote if zygote is not None and zygote.alive() else None)

    def close(self) -> None:
        for thread in self.starting:
            thread.join()
        with self.lock:
            for zygote in self.started:
                zygote.close()
            self.started = []


class _ZygoteWorker(_Events):
    """One job run as a child of a zygote."""

    def __init__(self, job: dict, limits: Limits, workdir: str, pool: ZygotePool):
        import socket

        self.pool, self.zygote = pool, pool.acquire()
        self.log_path = Path(workdir) / "worker.log"
        protection = self.zygote.protection
        self.cgroups = sandbox.WorkerCgroups(protection, limits.memory_bytes) if protection.namespaces else None
        job["sandbox"] = {"namespaces": protection.namespaces, "hide": job.pop("hide", []), "private": run_root(),
                          "cgroups": self.cgroups.paths if self.cgroups else []}
        job_file = Path(workdir) / "job.json"
        job_file.write_text(json.dumps(job))
        read_fd, write_fd = os.pipe()
        log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.zygote.counter += 1
        self.job_id = self.zygote.counter
        try:
            socket.send_fds(self.zygote.sock, [json.dumps({"op": "run", "job": self.job_id, "workdir": workdir,
                                                           "job_file": str(job_file)}).encode()],
                            [write_fd, log_fd])
            started = self.zygote.receive()
            if started.get("event") != "started":
                raise ConnectionError("unexpected zygote reply")
        except (OSError, ValueError):
            self.zygote.close()
        finally:
            os.close(write_fd)
            os.close(log_fd)
        self._open(read_fd)

    def stop(self) -> str:
        code = None
        if self.zygote.alive():
            try:
                self.zygote.sock.send(json.dumps({"op": "kill"}).encode())
                self.zygote.sock.settimeout(30)
                while True:
                    reply = self.zygote.receive()
                    if reply.get("event") == "exited" and reply.get("job") == self.job_id:
                        code = int(reply.get("code", 0))
                        break
            except (OSError, ValueError):
                self.zygote.close()
        self._close_pipe()
        if self.cgroups:
            self.cgroups.remove()
        self.pool.release(self.zygote)
        return _describe_exit(code)


def warm_modules_for(notebooks) -> list[str]:
    """Modules the setup cells of ``notebooks`` (trusted reference notebooks) import, in order, deduplicated."""
    from vaegan.notebooks import NotebookLoadError, read_notebook, setup_imports

    modules: list[str] = []
    for path in notebooks:
        try:
            modules += setup_imports(read_notebook(path))
        except NotebookLoadError:
            continue
    return [m for m in dict.fromkeys(modules) if all(part.isidentifier() for part in m.split("."))]


def run_checks(notebook: str | Path, exercise: str, checks: dict, limits: Limits | None = None,
               mode: str = "student", inputs: dict | None = None, hide=(), extra_checks=None,
               pool: ZygotePool | None = None) -> WorkerReport:
    """Run the probes of ``checks`` (id -> Check) on ``notebook``, replacing workers that hang or crash.

    The notebook is copied into a private working folder; ``hide`` lists folders the worker must
    not see (solutions, data, outputs, other submissions) where the sandbox allows it.
    """
    limits = limits or Limits()
    report = WorkerReport()
    remaining = list(checks)
    started = time.monotonic()
    budget_end = started + limits.submission_seconds
    with tempfile.TemporaryDirectory(prefix="job-", dir=run_root()) as workdir:
        shutil.copyfile(notebook, Path(workdir) / SUBMISSION_NAME)
        while remaining:
            if time.monotonic() >= budget_end:
                for cid in remaining:
                    report.runs[cid] = CheckRun("not_run", f"not run: the notebook used its whole time budget "
                                                           f"({limits.submission_seconds:.0f} s)")
                break
            job = {"notebook": SUBMISSION_NAME, "exercise": exercise, "checks": remaining,
                   "hide": [str(Path(h).resolve()) for h in hide], "memory_bytes": limits.memory_bytes,
                   "extra_checks": str(extra_checks) if extra_checks else None,
                   "mode": mode, "inputs": {k: v for k, v in (inputs or {}).items() if k in remaining},
                   "skip_cells": list(report.skipped_cells),
                   "crashed_cells": {str(cell): how for cell, how in report.crashed_cells.items()},
                   "threads": limits.threads, "file_size_bytes": limits.file_size_bytes,
                   "cpu_seconds": int(limits.submission_seconds * 2) + 30}
            worker = _ZygoteWorker(job, limits, workdir, pool) if pool is not None else _Worker(job, limits, workdir)
            outcome = _drive(worker, checks, remaining, report, limits, budget_end)
            how = worker.stop()
            if outcome is None:
                break
            kind, current = outcome
            report.log_tail = worker.tail()
            hung = report.loading_cell
            if (current is None and kind in ("timeout", "eof") and report.mode == "loading" and hung is not None
                    and hung not in report.skipped_cells and len(report.skipped_cells) < MAX_SKIPPED_CELLS):
                report.skipped_cells.append(hung)  # load again without the cell that hung or crashed
                if kind == "eof":  # os._exit, a segfault, an exception whose __str__ fails at the top level of a cell
                    report.crashed_cells[hung] = how
                report.restarts += 1
                continue
            if current is None and report.mode not in ("starting", "loading"):
                # loaded, then failed between two checks (a stall, a crash or stray output after a result): the
                # results received stay; the checks not run yet get a fresh worker while each attempt adds one
                left = [cid for cid in remaining if cid not in report.runs]
                if left and len(left) < len(remaining):
                    remaining = left
                    report.restarts += 1
                    continue
                for cid in left:
                    report.runs[cid] = CheckRun("error", {
                        "timeout": "not run: the grader's worker stopped answering between two checks",
                        "eof": f"not run: the grader's worker ended between two checks ({how})",
                        "garbled": f"not run: the notebook wrote unreadable results between two checks{_why(report)}",
                    }[kind])
                break
            if current is None:  # failed while loading: nothing can be graded
                message = {
                    "timeout": f"loading the notebook took longer than {limits.load_seconds:.0f} s "
                               "(is a training loop or a long computation left at the top level of a graded cell?)"
                               if report.mode != "starting" else
                               f"the grader could not start within {limits.startup_seconds:.0f} s (machine overloaded?)",
                    "eof": f"the notebook crashed the grader while loading ({how})",
                    "garbled": f"the notebook produced unreadable results while loading{_why(report)}",
                }[kind]
                for cid in remaining:
                    if cid not in report.runs:
                        report.runs[cid] = CheckRun("load_failed", message)
                break
            report.runs[current] = CheckRun(
                "timeout" if kind == "timeout" else "crashed",
                {
                    "timeout": f"timed out after {limits.check_timeout(checks[current]):.0f} s "
                               "(an infinite loop, or far too much work?)",
                    "eof": f"the check crashed the process ({how}); the other checks ran in a fresh process",
                    "garbled": f"the check produced unreadable results{_why(report)}",
                }[kind],
            )
            remaining = [cid for cid in remaining if cid not in report.runs]
            report.restarts += 1
    report.seconds = time.monotonic() - started
    return report


def _why(report: WorkerReport) -> str:
    """`` (a result of over 200,000 values ...)``: why the last unreadable line was refused, if known."""
    why, report.garbled = report.garbled, ""
    return f" ({why})" if why else ""


def _drive(worker: _Worker, checks: dict, remaining: list[str], report: WorkerReport, limits: Limits,
           budget_end: float):
    """Consume events until ``done`` (returns None) or a failure (returns (kind, check id or None))."""
    current = None
    loaded = ready = False
    report.mode, report.loading_cell = "starting", None
    deadline = min(time.monotonic() + limits.startup_seconds, budget_end)
    check_started = time.monotonic()
    while True:
        try:
            event = worker.next_event(deadline)
        except PlainDataError as err:
            report.garbled = str(err)
            return "garbled", current
        if event in ("timeout", "eof"):
            return event, current
        kind = event["event"]
        if kind == "ready" and not ready:
            ready = True
            problems = event.get("sandbox_problems")
            report.sandbox_problems = [str(p) for p in problems] if isinstance(problems, list) else []
            report.mode = "loading"
            deadline = min(time.monotonic() + limits.load_seconds, budget_end)
        elif kind == "cell" and ready and not loaded and isinstance(event.get("index"), int):
            report.loading_cell = event["index"]
        elif kind == "load_failed" and ready and not loaded:
            for cid in remaining:
                report.runs[cid] = CheckRun("load_failed", str(event.get("message", "the notebook could not be loaded")))
            return None
        elif kind == "loaded" and ready and not loaded:
            loaded = True
            report.load_errors = _load_errors(event.get("errors"))
            names = event.get("restored")
            report.restored = [str(n)[:200] for n in names[:20]] if isinstance(names, list) else []
            report.mode = str(event.get("mode", ""))
        elif kind == "start" and loaded and event.get("id") in checks and event.get("id") not in report.runs:
            current = event["id"]
            check_started = time.monotonic()
            deadline = min(check_started + limits.check_timeout(checks[current]), budget_end)
        elif kind == "result" and current is not None and event.get("id") == current:
            report.runs[current] = _within_budget(_check_run(event, time.monotonic() - check_started), report)
            current = None
            deadline = min(time.monotonic() + BETWEEN_CHECKS_SECONDS, budget_end)  # for the next start or done
        elif kind == "done" and loaded:
            missing = [cid for cid in remaining if cid not in report.runs]
            return ("garbled", missing[0]) if missing else None
        else:
            return "garbled", current


def _within_budget(run: CheckRun, report: WorkerReport) -> CheckRun:
    """``run``, or an error once the notebook's decoded outputs together pass ``MAX_NOTEBOOK_VALUES``.

    Every check's outputs are kept in the trusted parent until the notebook is scored, so a notebook returning
    the largest result a line allows from each of its checks would hold most of a gigabyte, times the grading
    slots; the largest reference holds about half a million values in all. A refused result's values are
    not counted, so it does not cost the checks after it."""
    if run.status != "ok":
        return run
    from .plaindata import size_of

    run.values = size_of(run.outputs)
    if report.values + run.values <= MAX_NOTEBOOK_VALUES:
        report.values += run.values
        return run
    return CheckRun("error", f"produced results that bring the notebook's total past {MAX_NOTEBOOK_VALUES:,} "
                    "values, far more than any solution's (huge tensors returned from every function?)",
                    seconds=run.seconds)


def _load_errors(errors) -> list[dict]:
    """The worker's per-cell load errors as ``{"cell": int, "message": str}`` (anything else is dropped:
    the worker ran student code, so its events are untrusted)."""
    if not isinstance(errors, list):
        return []
    plain = []
    for error in errors[:100]:
        if isinstance(error, dict) and type(error.get("cell")) is int and isinstance(error.get("message"), str):
            plain.append({"cell": error["cell"], "message": error["message"][:2000]})
    return plain


def _check_run(event: dict, seconds: float) -> CheckRun:
    status = event.get("status")
    if status not in ("ok", "not_implemented", "error", "missing"):
        return CheckRun("error", "unreadable check result", seconds=seconds)
    if status != "ok":
        return CheckRun(status, str(event.get("message", ""))[:2000], seconds=seconds)
    from .plaindata import decode

    try:
        outputs = decode(event.get("outputs"))
    except (PlainDataError, ValueError, TypeError) as err:
        return CheckRun("error", f"the outputs were not plain data ({err})", seconds=seconds)
    if not isinstance(outputs, dict):
        return CheckRun("error", "the outputs were not a dict", seconds=seconds)
    return CheckRun("ok", "", outputs=outputs, inputs=event.get("inputs"), seconds=seconds)
