"""Worker process: load one notebook, run probes, stream plain-data results to the parent.

Started by ``autograder.runner`` as ``python -m autograder.worker`` with a job (JSON) on
stdin and a pipe file descriptor in ``GRADER_RESULT_FD``. It writes one JSON line per
event: ``loaded``, then ``start``/``result`` per check, then ``done``. Student code runs
only here; nothing it returns leaves this process except through ``plaindata.encode``.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path


class Channel:
    """Line-oriented JSON writer on the result pipe."""

    def __init__(self, fd: int):
        self.fd = fd

    def send(self, **event) -> None:
        data = (json.dumps(event, allow_nan=False) + "\n").encode("utf-8")
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]


def _where(err: BaseException) -> str:
    """``(cell 4, line 7)`` for the innermost frame in a cell the student writes, if any (see
    ``vaegan.notebooks.location_in_notebook``: a helper given in a setup cell is named after the calling line)."""
    from vaegan.notebooks import location_in_notebook

    return location_in_notebook(err.__traceback__)


def describe_exception(err: BaseException) -> tuple[str, str]:
    """(status, message) for a probe that raised."""
    from .checks.base import explain_error, is_stub  # imports torch: only once a probe ran

    if is_stub(err):
        return "not_implemented", "not implemented yet: the stub still raises NotImplementedError"
    return "error", f"raised {explain_error(err)}{_where(err)}"


def annotate_captured(outputs, note_for, depth: int = 0):
    """``outputs`` with the loader's note added to each ``{"raised": "NameError: ..."}`` that ``capture`` recorded.

    A probe that captures the error (instead of letting it escape) would otherwise lose the note that says
    why the name is missing (a statement the grader skipped, a self-check cell it never runs). Only plain
    dicts, lists and tuples the check built are walked; anything else is left as it is.
    """
    if depth > 6:
        return outputs
    kind = type(outputs)
    if kind is dict:
        text = outputs.get("raised") if set(outputs) in ({"raised"}, {"raised", "received"}) else None
        if type(text) is str:
            if text.startswith("NameError"):
                note = note_for(text.split(": ", 1)[-1])
                if note and note not in text:
                    return {**outputs, "raised": text + note}
            return outputs
        return {key: annotate_captured(value, note_for, depth + 1) for key, value in outputs.items()}
    if kind in (list, tuple):
        return kind(annotate_captured(value, note_for, depth + 1) for value in outputs)
    return outputs


class Tampered(Exception):
    """Student code replaced part of the grader or of a library while a check ran."""

    def __init__(self, names: list[str]):
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        super().__init__(f"while this check ran, the notebook's code replaced {shown} (the grader's or a "
                         "library's own code), so its result cannot be trusted; the grader put it back. "
                         "Leave the grader, PyTorch and the standard library as they are")


def _room_for_output(limit: int) -> None:
    """Empty the worker's log (its stdout and stderr) once it holds half of the file-size limit.

    An output flood in one check fills the log up to ``RLIMIT_FSIZE``; from then on every ``print`` fails with
    ``OSError: [Errno 27] File too large``, in the later checks of this worker and of the fresh ones that append
    to the same log, so an honest debug print would cost those checks their points. Only the log's tail matters
    (the parent keeps the last lines), so starting it again loses nothing."""
    try:
        if os.fstat(1).st_size > limit // 2:
            os.ftruncate(1, 0)  # stdout and stderr share the file, opened for appending: writes go on from 0
            sys.stdout.flush()  # what a failed write left in the buffers, written now there is room
            sys.stderr.flush()
    except (OSError, ValueError, AttributeError):  # not a plain file, or streams the notebook replaced or closed
        pass


def run_job(job: dict, channel: Channel) -> None:
    import torch

    from vaegan.devices import seed_everything
    from vaegan.notebooks import NotebookLoadError, load_notebook

    from .checks import checks_for
    from .integrity import Snapshot
    from .plaindata import decode, encode

    from .sandbox import lock_down

    torch.set_num_threads(int(job.get("threads", 1)))
    notebook = Path(job["notebook"]).read_bytes()
    by_id = checks_for(job["exercise"], job.get("extra_checks")).by_id()  # before the filesystem is locked
    problems = lock_down(job)  # from here on: no network, read-only files, hidden references, no capabilities
    private = Path(os.environ.get("TMPDIR", "."))
    os.chdir(private)
    (private / "submission.ipynb").write_bytes(notebook)
    restore = Snapshot.take({"the result channel": channel, "Channel": type(channel),
                             **{f"check {cid}": check for cid, check in by_id.items()}}).restore  # bound now
    channel.send(event="ready", sandbox_problems=problems)  # the notebook's own time starts now
    try:
        loaded = load_notebook("submission.ipynb", exercise=job["exercise"],
                               skip={int(i) for i in job.get("skip_cells", [])},
                               on_cell=lambda index: channel.send(event="cell", index=index))
    except NotebookLoadError as err:
        restore()
        channel.send(event="load_failed", message=str(err))
        return
    crashed = job.get("crashed_cells") or {}
    for error in loaded.errors:  # a cell skipped because it crashed an earlier attempt, not because it hung
        if str(error.cell) in crashed:
            how = str(crashed[str(error.cell)])
            cause = "too much memory, or os.kill" if "SIGKILL" in how else "os._exit, or a crash in C code"
            error.message = (f"cell {error.cell + 1} crashed the grader while loading ({how}) and was skipped "
                             f"({cause} at the top level of the cell?); the other cells were loaded without it")
    restored = restore()  # what the notebook's top level replaced in the grader or a library, put back
    channel.send(
        event="loaded",
        mode=loaded.mode,
        errors=[{"cell": e.cell, "names": list(e.names), "message": e.message} for e in loaded.errors],
        restored=restored[:20],
    )
    reference_mode = job.get("mode") == "reference"
    output_limit = int(job.get("file_size_bytes", 64 * 1024 * 1024))
    for check_id in job["checks"]:
        check = by_id[check_id]
        _room_for_output(output_limit)
        channel.send(event="start", id=check_id)
        missing = loaded.missing(check.needs())
        if missing:
            reasons = []
            for name in missing:
                err = loaded.error_for(name)
                reasons.append(f"{name} is not defined" + (f" because {err.message}" if err else
                               " (run its cell, and keep the name exactly as given)"))
            channel.send(event="result", id=check_id, status="missing", message="; ".join(reasons))
            continue
        try:
            seed_everything(check.seed)
            if reference_mode and check.prepare is not None:
                inputs_plain = encode(check.prepare(loaded.module))
                seed_everything(check.seed)  # the probe starts from the same state as in a student worker
            else:
                inputs_plain = job.get("inputs", {}).get(check_id, {})
            try:
                outputs = check.probe(loaded.module, decode(inputs_plain))
            finally:
                changed = restore()
            if changed:
                raise Tampered(changed)
            if not isinstance(outputs, dict):
                raise TypeError("probe must return a dict")
            if not reference_mode:
                try:
                    outputs = annotate_captured(outputs, loaded.note_for)
                except Exception:  # noqa: BLE001 - a note must never cost the result
                    pass
            event = {"event": "result", "id": check_id, "status": "ok", "outputs": encode(outputs)}
            if reference_mode:
                event["inputs"] = inputs_plain
            channel.send(**event)
        except BaseException as err:  # noqa: BLE001 - any failure of student code is a result
            if isinstance(err, KeyboardInterrupt):
                raise
            status, message = describe_exception(err)
            try:
                message += loaded.note_for(err)  # an undefined name the loader explains (a skipped statement)
            except Exception:  # noqa: BLE001 - a note must never cost the result
                pass
            if isinstance(err, SystemExit):
                status, message = "error", "called sys.exit() / exit() while being graded"
            if isinstance(err, Tampered):
                status, message = "error", str(err)
            channel.send(event="result", id=check_id, status=status, message=message)
    channel.send(event="done")


def apply_limits(job: dict) -> None:
    """Resource limits set before any student code runs (the hardened sandbox adds more)."""
    import resource

    size = int(job.get("file_size_bytes", 64 * 1024 * 1024))
    cpu = int(job.get("cpu_seconds", 1200))
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    memory = int(job.get("memory_bytes", 3 * 2**30))
    resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))


def main() -> int:
    fd = int(os.environ["GRADER_RESULT_FD"])
    job = json.loads(sys.stdin.read())
    sys.stdin.close()
    apply_limits(job)
    channel = Channel(fd)
    run_job(job, channel)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip interpreter teardown: student atexit hooks and finalizers do not run


if __name__ == "__main__":
    main()
