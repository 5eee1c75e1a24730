"""Zygote: import torch and the grader once, then fork one isolated worker per notebook.

Started by the parent (``runner.ZygotePool``) under the same ``unshare`` namespaces as a plain
worker, so it is PID 1 of its own PID namespace. It serves one job at a time over a
``SOCK_SEQPACKET`` socket: a ``run`` message carries the job file and two file descriptors
(the job's result pipe and its log); the zygote forks, the child enters a fresh mount
namespace, applies the sandbox (``worker.run_job`` does ``lock_down``) and grades. When the
child ends — or the parent asks for a ``kill`` — every other process in the namespace is
killed too, so nothing a submission started survives into the next one.
"""
from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import socket
import sys

CLONE_NEWNS = 0x00020000
MS_REC, MS_PRIVATE = 16384, 1 << 18
PR_SET_PDEATHSIG = 1


def _send(sock: socket.socket, **message) -> None:
    sock.send(json.dumps(message).encode("utf-8"))


def _child(request: dict, result_fd: int, log_fd: int, isolated: bool) -> None:
    """In the forked child: own mount namespace, stdout/stderr to the log, then the usual worker job."""
    from .sandbox import _libc, _mount
    from .worker import Channel, apply_limits, run_job

    libc = _libc()
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    if isolated:
        if libc.unshare(CLONE_NEWNS) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
        _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)
    else:
        os.setpgid(0, 0)
    os.chdir(request["workdir"])
    with open(request["job_file"], encoding="utf-8") as fh:
        job = json.load(fh)
    os.environ["GRADER_RESULT_FD"] = str(result_fd)
    apply_limits(job)
    run_job(job, Channel(result_fd))
    sys.stdout.flush()
    sys.stderr.flush()


def _reap_all() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _end_everything(pid: int, isolated: bool) -> None:
    try:
        if isolated and os.getpid() == 1:
            os.kill(-1, signal.SIGKILL)  # as PID 1: every process of this namespace except the zygote
        else:
            os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def serve(sock: socket.socket) -> None:
    import torch  # noqa: F401 - the point of the zygote: imported once

    import nbformat  # noqa: F401
    import numpy  # noqa: F401

    from vaegan import devices, notebooks  # noqa: F401

    from . import checks, plaindata, sandbox, worker  # noqa: F401
    from .checks import base, weights  # noqa: F401

    torch.set_num_threads(1)
    isolated = os.getpid() == 1
    _send(sock, event="zygote_ready", isolated=isolated)
    while True:
        message, fds, _, _ = socket.recv_fds(sock, 1 << 16, 2)
        if not message:
            return  # the parent went away
        request = json.loads(message)
        if request.get("op") != "run" or len(fds) != 2:
            for fd in fds:
                os.close(fd)
            continue
        result_fd, log_fd = fds
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                sock.close()
                _child(request, result_fd, log_fd, isolated)
            except BaseException:  # noqa: BLE001 - report through the exit code
                import traceback

                traceback.print_exc()
                code = 70
            os._exit(code)
        os.close(result_fd)
        os.close(log_fd)
        _send(sock, event="started", job=request["job"], pid=pid)
        pidfd = os.pidfd_open(pid)
        killed = False
        while True:
            ready, _, _ = select.select([sock, pidfd], [], [])
            if pidfd in ready:
                break
            more = sock.recv(1 << 16)
            if not more:
                _end_everything(pid, isolated)
                return
            if json.loads(more).get("op") == "kill" and not killed:
                killed = True
                _end_everything(pid, isolated)
        _, status = os.waitpid(pid, 0)
        os.close(pidfd)
        _end_everything(pid, isolated)  # whatever the submission left running
        _reap_all()
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        _send(sock, event="exited", job=request["job"], code=code)


def main() -> None:
    sock = socket.socket(fileno=int(os.environ["GRADER_ZYGOTE_FD"]))
    try:
        serve(sock)
    finally:
        os._exit(0)


if __name__ == "__main__":
    main()
