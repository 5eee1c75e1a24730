"""Where untrusted notebook code runs: the protection each worker process gets on this platform.

Linux with namespaces (as root, or as a user allowed unprivileged user namespaces):

* the worker starts under ``unshare``: its own network (no interfaces up: no network at all),
  PID (it cannot see or signal anything outside; a fork bomb dies with it), mount, IPC and
  UTS namespaces;
* before any student code runs it joins per-worker cgroups (``pids.max``, memory limit)
  where the cgroup filesystem is writable, remounts every filesystem read-only, mounts a
  private writable temporary folder (a tmpfs over the job folders' root, so the code and
  the Python installation stay visible wherever they live) and ``/dev/shm``, hides the reference solutions, the data root, the
  output folder and every submission behind empty read-only mounts (and, of the repository, the home
  and temporary folders and every non-system top-level folder, all the worker does not run from:
  ``grading.hidden_paths``), then drops all capabilities (bounding set too, with ``no_new_privs``);
* rlimits everywhere: CPU seconds, data segment (memory; works with CUDA builds of torch,
  unlike ``RLIMIT_AS``), file size, no core dumps; and a scrubbed environment.

Elsewhere (macOS, Windows WSL without user namespaces): rlimits, a scrubbed environment and
a temporary working directory only — the grader prints that level at the start of a run.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

CGROUP_V1 = Path("/sys/fs/cgroup")
CGROUP_V2 = Path("/sys/fs/cgroup/unified")
PIDS_MAX = 64


@dataclass
class Protection:
    """What this platform allows; ``describe()`` is printed at the start of every run."""

    namespaces: bool = False
    map_root_user: bool = False
    cgroup_pids: Path | None = None
    cgroup_memory: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def level(self) -> str:
        return "isolated" if self.namespaces else "basic"

    def describe(self, memory_bytes: int) -> str:
        mem = f"{memory_bytes / 2**30:.1f} GiB"
        if not self.namespaces:
            return (f"sandbox: basic ({sys.platform}) — rlimits (CPU, memory {mem}, file size), scrubbed environment, "
                    "temporary working directory; NOT isolated: student code could read files and use the network "
                    "here. Grade on Linux with user namespaces for full isolation.")
        parts = ["network, PID, mount, IPC and UTS namespaces", "read-only filesystem with a private writable temporary folder",
                 "solutions, data, outputs and other submissions hidden", "all capabilities dropped"]
        parts.append(f"cgroup pids.max={PIDS_MAX}" if self.cgroup_pids else "process limit: PID namespace + RLIMIT_NPROC")
        parts.append(f"memory {mem} (cgroup and RLIMIT_DATA)" if self.cgroup_memory else f"memory {mem} (RLIMIT_DATA)")
        parts.append("CPU-time and file-size rlimits")
        mode = "as root" if not self.map_root_user else "in a user namespace"
        return f"sandbox: isolated (Linux, {mode}) — " + "; ".join(parts)

    def command(self) -> list[str]:
        """Prefix that starts the worker inside fresh namespaces (empty for the basic level)."""
        if not self.namespaces:
            return []
        cmd = [shutil.which("unshare") or "unshare", "--net", "--pid", "--fork", "--kill-child", "--mount-proc",
               "--ipc", "--uts", "--propagation", "private"]
        return cmd + (["--map-root-user"] if self.map_root_user else [])


def _writable_cgroup(root: Path, probe_file: str) -> Path | None:
    if not (root / probe_file).exists() and not (root / "cgroup.procs").exists():
        return None
    test = root / f"grader-probe-{uuid.uuid4().hex[:8]}"
    try:
        test.mkdir()
        ok = (test / probe_file).exists()
        test.rmdir()
        return root if ok else None
    except OSError:
        return None


@functools.lru_cache(maxsize=1)
def detect() -> Protection:
    """Probe the platform once: can we start workers in namespaces, and limit them with cgroups?"""
    prot = Protection()
    if not sys.platform.startswith("linux") or os.environ.get("GRADER_SANDBOX") == "basic":
        return prot
    unshare = shutil.which("unshare")
    if unshare is None:
        prot.notes.append("util-linux unshare not found")
        return prot
    for map_root in ((False, True) if os.geteuid() == 0 else (True,)):
        cmd = Protection(namespaces=True, map_root_user=map_root).command() + ["true"]
        try:
            if subprocess.run(cmd, capture_output=True, timeout=20).returncode == 0:
                prot.namespaces, prot.map_root_user = True, map_root
                break
        except (OSError, subprocess.TimeoutExpired):
            pass
    if not prot.namespaces:
        prot.notes.append("namespaces unavailable (unprivileged user namespaces disabled?)")
        return prot
    prot.cgroup_pids = _writable_cgroup(CGROUP_V1 / "pids", "pids.max") or _writable_cgroup(CGROUP_V2, "pids.max")
    prot.cgroup_memory = (_writable_cgroup(CGROUP_V1 / "memory", "memory.limit_in_bytes")
                          or _writable_cgroup(CGROUP_V2, "memory.max"))
    return prot


# ---------------------------------------------------------------- parent side: per-worker cgroups
class WorkerCgroups:
    """Per-worker cgroup folders (created by the parent, joined by the worker, removed afterwards)."""

    def __init__(self, prot: Protection, memory_bytes: int):
        self.paths: list[str] = []
        name = f"grader-{os.getpid()}-{uuid.uuid4().hex[:10]}"
        for root, limits in ((prot.cgroup_pids, {"pids.max": str(PIDS_MAX)}),
                             (prot.cgroup_memory, {"memory.limit_in_bytes": str(memory_bytes),
                                                   "memory.max": str(memory_bytes)})):
            if root is None:
                continue
            path = root / name
            try:
                path.mkdir()
                for key, value in limits.items():
                    if (path / key).exists():
                        (path / key).write_text(value)
                self.paths.append(str(path))
            except OSError:
                continue

    def remove(self) -> None:
        for path in self.paths:
            for _ in range(50):
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:  # still has members for a moment after the kill
                    import time

                    time.sleep(0.05)


# ---------------------------------------------------------------- worker side: lock down before student code
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_BIND, _MS_REC = 32, 4096, 16384
_FLAG_NAMES = {"nosuid": _MS_NOSUID, "nodev": _MS_NODEV, "noexec": _MS_NOEXEC,
               "noatime": 1024, "nodiratime": 2048, "relatime": 1 << 21}


def _libc():
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _mount(libc, source, target, fstype, flags, data=None) -> None:
    enc = (lambda s: s.encode() if isinstance(s, str) else s)
    if libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _mount_points() -> list[tuple[str, int]]:
    points = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")
            flags = 0
            for opt in fields[5].split(","):
                flags |= _FLAG_NAMES.get(opt, 0)
            points.append((point, flags))
    return points


def lock_down(job: dict) -> list[str]:
    """Apply the isolation described in ``job["sandbox"]``; returns what could not be applied."""
    spec = job.get("sandbox") or {}
    problems: list[str] = []
    if not spec.get("namespaces"):
        return problems
    libc = _libc()
    for path in spec.get("cgroups", []):  # join before the filesystem turns read-only
        try:
            Path(path, "cgroup.procs").write_text("0")
        except OSError as err:
            problems.append(f"cgroup {path}: {err}")
    for point, flags in sorted(_mount_points(), key=lambda p: len(p[0])):
        try:
            _mount(libc, None, point, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | flags)
        except OSError as err:
            if point == "/":
                problems.append(f"read-only root: {err}")
    private = spec.get("private") or "/tmp"
    for point, size in ((private, "256m"), ("/dev/shm", "64m")):
        try:
            _mount(libc, "tmpfs", point, "tmpfs", _MS_NOSUID | _MS_NODEV, f"size={size},mode=1777")
        except OSError as err:
            problems.append(f"private {point}: {err}")
    for hidden in spec.get("hide", []):
        if not os.path.exists(hidden):
            continue
        try:
            if os.path.isdir(hidden):
                _mount(libc, "tmpfs", hidden, "tmpfs", _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC,
                       "size=4k,mode=000")
            else:
                _mount(libc, "/dev/null", hidden, None, _MS_BIND)
        except OSError as err:
            problems.append(f"hide {hidden}: {err}")
    problems += _drop_capabilities(libc)
    return problems


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _drop_capabilities(libc) -> list[str]:
    problems = []
    pr_set_no_new_privs, pr_capbset_drop = 38, 24
    if libc.prctl(pr_set_no_new_privs, 1, 0, 0, 0) != 0:
        problems.append("no_new_privs")
    for cap in range(64):
        libc.prctl(pr_capbset_drop, cap, 0, 0, 0)  # EINVAL past the last capability: ignored
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    if libc.capset(ctypes.byref(header), data) != 0:
        problems.append(f"capset: {os.strerror(ctypes.get_errno())}")
    return problems
