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

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWNET = 0x00020000, 0x08000000, 0x40000000
MS_REC, MS_PRIVATE = 16384, 1 << 18
PR_SET_PDEATHSIG = 1


def _send(sock: socket.socket, **message) -> None:
    sock.send(json.dumps(message).encode("utf-8"))


def _child(request: dict, result_fd: int, log_fd: int, isolated: bool) -> None:
    """In the forked child: own mount, IPC and network namespaces, stdout/stderr to the log, then the usual
    worker job. A fresh IPC namespace per job: System V shared memory, semaphores and message queues a
    submission leaves behind die with it, and no job can pass anything to the next one that way (nor
    through abstract UNIX sockets, which belong to the network namespace)."""
    from .sandbox import _libc, _mount
    from .worker import Channel, apply_limits, run_job

    libc = _libc()
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    if isolated:
        if libc.unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET)")
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


WARM_MODULES_ENV = "GRADER_WARM_MODULES"


def warm_up(modules=()) -> list[str]:
    """Do once, before any fork, what every child would otherwise do on its own: imports and lazy init.

    ``modules``: what the notebooks' setup cells import (the parent reads them from the reference
    notebooks' setup cells, which students get verbatim). Only imports and fixed tensor operations on
    made-up data run here, never a reference answer: nothing of a solution is in the memory the
    children inherit. Returns the modules that could not be imported (they fail later, in the child,
    with the notebook's own error message).
    """
    import importlib

    import torch

    from vaegan import devices, notebooks  # noqa: F401
    from vaegan.curriculum import EXERCISES

    from . import checks, plaindata, sandbox, worker  # noqa: F401
    from .checks import base, weights  # noqa: F401

    failed = []
    for name in ("numpy", "autograder.selfcheck", *modules):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - an optional package; the notebook that needs it will say so
            failed.append(name)
    for slug in EXERCISES:  # the public check modules (private ones are loaded in the child)
        try:
            importlib.import_module(checks.module_name(slug))
        except ModuleNotFoundError:
            pass
    torch.set_num_threads(1)
    _exercise_torch()
    return failed


def _exercise_torch() -> None:
    """Run each kind of operation the checks use once, so the children start with torch's lazy state built."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.manual_seed(0)
    for dtype in (torch.float32, torch.float64):
        x = torch.rand(4, 1, 28, 28, dtype=dtype)
        enc = nn.Sequential(nn.Conv2d(1, 4, 4, 2, 1), nn.BatchNorm2d(4), nn.LeakyReLU(0.2), nn.Flatten(),
                            nn.Linear(4 * 14 * 14, 8), nn.ReLU(), nn.Tanh(), nn.Sigmoid()).to(dtype)
        dec = nn.Sequential(nn.Linear(8, 4 * 7 * 7), nn.Unflatten(1, (4, 7, 7)),
                            nn.ConvTranspose2d(4, 1, 4, 4, 0), nn.Dropout(0.1)).to(dtype)
        params = [*enc.parameters(), *dec.parameters()]
        for foreach in (False, True):
            opt = torch.optim.Adam(params, lr=1e-3, betas=(0.5, 0.999), foreach=foreach)
            logits = dec(enc(x))
            loss = (F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum((1, 2, 3)).mean()
                    + F.mse_loss(logits, x) + logits.logsumexp(1).mean())
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
        with torch.no_grad():
            enc.eval(), dec(enc(x)), enc.train()
        torch.randn_like(x), torch.randn(3, 2, device="meta", dtype=dtype).exp().sum(1)
        meta = torch.nn.Sequential(enc, dec).to("meta")  # checks run models on the meta device too
        meta(torch.empty_like(x, device="meta")).sum()
    torch.distributions.kl_divergence(torch.distributions.Normal(torch.zeros(2), torch.ones(2)),
                                      torch.distributions.Normal(torch.ones(2), torch.ones(2)))


def serve(sock: socket.socket) -> None:
    modules = [m for m in os.environ.get(WARM_MODULES_ENV, "").split(",") if m]
    warm_up(modules)
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
