"""Pieces shared by the VAE and GAN capstone runs: run folders, checkpoints, RNG state, loss logs, progress."""
from __future__ import annotations

import contextlib
import json
import os
import platform
import random
import re
import sys
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from .. import pick
from ..data import default_data_root, load_dataset, offline_requested
from ..devices import describe_device

CHECKPOINT = "checkpoint.pt"
CHECKPOINT_FORMAT = 1
FIXED_BATCH = 64  # images in every sample grid (8 x 8)


class CheckpointError(RuntimeError):
    """``--resume`` found a checkpoint it cannot continue from; the message says why."""


class TrainResult(NamedTuple):
    """What ``train_vae``/``train_gan`` return: the run folder and its metrics (``None`` when stopped early)."""

    out: Path
    metrics: dict | None


# ---------------------------------------------------------------- configuration
@dataclass
class RunConfig:
    """Options common to both capstones; ``None`` means the recipe default (smaller under ``COURSE_FAST=1``)."""

    steps: int | None = None
    batch_size: int | None = None
    save_every: int | None = None
    log_every: int | None = None
    data: str = "mnist"
    out: str | os.PathLike | None = None
    impl: object = "solutions"  # "solutions", "exercises", a folder, or an Impl-like namespace
    seed: int = 0
    device: str = "auto"
    resume: bool = False
    stop_after: int | None = None  # stop (as if killed) after this step; the last save point's checkpoint stays
    progress: bool = True
    threads: int | None = None  # CPU threads for torch during the run (None: torch's default)

    KIND = "run"
    DEFAULT_STEPS = (100, 20)  # (normal, fast)
    MUST_MATCH = ("batch_size", "data", "seed")  # a resumed run must keep these

    def with_defaults(self) -> "RunConfig":
        """Fill every ``None`` with the recipe value (fast-mode value under ``COURSE_FAST=1``)."""
        filled = {
            "steps": self.steps if self.steps is not None else pick(*self.DEFAULT_STEPS),
            "batch_size": self.batch_size if self.batch_size is not None else pick(128, 32),
            "save_every": self.save_every if self.save_every is not None else pick(100, 10),
            "log_every": self.log_every if self.log_every is not None else pick(25, 5),
            "out": Path(self.out) if self.out is not None else runs_root() / self.KIND,
        }
        cfg = replace(self, **filled)
        for name in ("steps", "batch_size", "save_every", "log_every"):
            if int(getattr(cfg, name)) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(cfg, name)}")
        return cfg

    def updated(self, **overrides) -> "RunConfig":
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"unknown option(s) for {self.KIND}: {', '.join(unknown)} "
                            f"(known: {', '.join(sorted(known))})")
        return replace(self, **overrides)

    def plain(self) -> dict:
        """JSON-friendly copy (the implementation as its spec)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["out"] = str(data["out"]) if data["out"] is not None else None
        data["impl"] = impl_spec(self.impl)
        return data


def runs_root() -> Path:
    """``$COURSE_RUNS_DIR`` when set (the notebook tests set it), else ``runs/`` in the working folder."""
    return Path(os.environ.get("COURSE_RUNS_DIR", "runs"))


def impl_spec(impl) -> str:
    if isinstance(impl, (str, os.PathLike)):
        return str(impl)
    return str(getattr(impl, "spec", None) or type(impl).__name__)


def describe_impl(impl) -> dict:
    """Where the graded code came from, for ``metrics.json`` (a namespace passed by a test: its spec only)."""
    describe = getattr(impl, "describe", None)
    return describe() if callable(describe) else {"spec": impl_spec(impl), "folder": None, "notebooks": {}}


@contextlib.contextmanager
def cpu_threads(threads: int | None):
    """``torch.set_num_threads(threads)`` for the block (on a busy shared CPU, 1 thread can be many times faster)."""
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def is_save_point(step: int, steps: int, save_every: int) -> bool:
    """Images and checkpoints at step 0, every ``save_every`` steps and at the last step."""
    return step == 0 or step % save_every == 0 or step == steps


# ---------------------------------------------------------------- data
_SPLITS: dict = {}


def load_splits(name: str):
    """Train and test splits of ``name``, kept for the next run in this process (tests and demos train often)."""
    key = (name, str(default_data_root()), offline_requested())
    if key not in _SPLITS:
        _SPLITS.clear()  # keep one dataset at most
        _SPLITS[key] = (load_dataset(name, "train"), load_dataset(name, "test"))
    return _SPLITS[key]


# ---------------------------------------------------------------- run folder
def prepare_out(out: Path, fresh: bool, image_dirs: dict, files: tuple) -> Path:
    """Create ``out``; for a fresh run remove the artifacts of an earlier run there (only ours)."""
    out.mkdir(parents=True, exist_ok=True)
    if not fresh:
        return out
    removed = 0
    for folder, prefix in image_dirs.items():
        for path in (out / folder).glob(f"{prefix}_*.png"):
            if re.fullmatch(rf"{prefix}_\d{{5,}}\.png", path.name):
                path.unlink()
                removed += 1
    for name in (CHECKPOINT, "metrics.json", *files):
        if (out / name).exists():
            (out / name).unlink()
            removed += 1
    if removed:
        print(f"note: {out} held an earlier run; its {removed} artifact(s) were replaced "
              "(use --resume to continue one)")
    return out


def write_json(path: Path, data: dict) -> Path:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)
    return path


def cpu_state_dict(module: torch.nn.Module) -> dict:
    """``state_dict`` with every tensor on the CPU, loadable with ``torch.load(weights_only=True)`` anywhere."""
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def save_weights(module: torch.nn.Module, path: Path) -> Path:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(cpu_state_dict(module), tmp)
    os.replace(tmp, path)
    return path


# ---------------------------------------------------------------- RNG state
def capture_rng() -> dict:
    """Every RNG a training step may draw from: torch CPU, CUDA (all devices), MPS, NumPy, Python."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": random.getstate(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "mps": None,
    }
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        state["mps"] = torch.mps.get_rng_state()
    return state


def resume_rng(state: dict, out: Path) -> None:
    """Restore the checkpoint's RNG state and say where the run resumes."""
    skipped = restore_rng(state["rng"])
    note = f" (could not restore the {', '.join(skipped)} RNG here: not bit-identical)" if skipped else ""
    print(f"resuming {out} from step {state['step']}{note}")


def restore_rng(state: dict) -> list[str]:
    """Restore what ``capture_rng`` saved; returns the generators that could not be restored here."""
    skipped = []
    torch.set_rng_state(state["torch"])
    npy = state["numpy"]
    np.random.set_state((npy["kind"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"],
                         npy["cached_gaussian"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    cuda = state.get("cuda")
    if cuda is not None:
        if torch.cuda.is_available() and torch.cuda.device_count() == len(cuda):
            torch.cuda.set_rng_state_all(cuda)
        else:
            skipped.append("cuda")
    mps = state.get("mps")
    if mps is not None:
        backend = getattr(torch.backends, "mps", None)
        if backend is not None and backend.is_available():
            torch.mps.set_rng_state(mps)
        else:
            skipped.append("mps")
    return skipped


@contextlib.contextmanager
def isolated_rng(device: torch.device, seed: int):
    """Run a block with freshly seeded generators, then put the training RNG back untouched.

    Sample grids and the final evaluation draw their noise here, so they are the same at
    every save point and never shift the training stream (``--save-every`` changes nothing).
    """
    cpu_state = torch.get_rng_state()
    device_state = None
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        device_state = torch.cuda.get_rng_state(index)
    elif device.type == "mps":
        device_state = torch.mps.get_rng_state()
    try:
        torch.default_generator.manual_seed(seed)
        if device.type == "cuda":
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        elif device.type == "mps":
            torch.mps.manual_seed(seed)
        yield
    finally:
        torch.set_rng_state(cpu_state)
        if device.type == "cuda":
            torch.cuda.set_rng_state(device_state, index)
        elif device.type == "mps":
            torch.mps.set_rng_state(device_state)


def fixed_normal(shape: tuple, seed: int, device: torch.device) -> torch.Tensor:
    """A standard normal batch drawn on the CPU from its own generator: the same on every device and run."""
    generator = torch.Generator().manual_seed(int(seed) + 12345)
    return torch.randn(*shape, generator=generator).to(device)


# ---------------------------------------------------------------- checkpoints
def save_checkpoint(path: Path, state: dict) -> Path:
    """Write atomically (temporary file, then rename): a run killed while saving keeps the previous one."""
    state = {"format": CHECKPOINT_FORMAT, **state, "rng": capture_rng()}
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: Path, kind: str, cfg: RunConfig) -> dict:
    """Read ``path`` (``weights_only=True``) and check it belongs to a compatible run of ``kind``."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same advice
        raise CheckpointError(f"{path} cannot be read ({err.__class__.__name__}: {str(err)[:200]}); "
                              "delete it or run without --resume") from err
    if not isinstance(state, dict) or state.get("kind") != kind or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a {kind} checkpoint of this course's format {CHECKPOINT_FORMAT}")
    saved = state.get("config", {})
    clashes = [f"{k}: checkpoint {saved.get(k)!r}, now {getattr(cfg, k)!r}" for k in cfg.MUST_MATCH
               if _differs(saved.get(k), getattr(cfg, k))]
    if clashes:
        raise CheckpointError(f"--resume from {path} with different settings ({'; '.join(clashes)}); "
                              "use the original settings or start a fresh run in another --out")
    if state["step"] > cfg.steps:
        raise CheckpointError(f"{path} is at step {state['step']}, beyond --steps {cfg.steps}")
    return state


def _differs(a, b) -> bool:
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return list(a or []) != list(b or [])
    return a != b


# ---------------------------------------------------------------- losses and progress
class LossLog:
    """Per-step losses kept as detached tensors and copied to the host only at log points (one sync)."""

    def __init__(self, keys: tuple[str, ...], history: dict | None, device: torch.device, source: str):
        self.keys, self.device, self.source = keys, device, source
        self.history = {k: list(history.get(k, [])) for k in keys} if history else {k: [] for k in keys}
        self.pending: list[torch.Tensor] = []
        self.warned = False

    def add(self, stats) -> None:
        if not isinstance(stats, dict) or any(k not in stats for k in self.keys):
            got = sorted(stats) if isinstance(stats, dict) else type(stats).__name__
            raise TypeError(f"{self.source} must return a dict with keys {', '.join(self.keys)}; got {got}")
        self.pending.append(torch.stack([self._scalar(stats[k], k) for k in self.keys]))

    def _scalar(self, value, key: str) -> torch.Tensor:
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise TypeError(f"{self.source} returned {key} of shape {tuple(value.shape)}; expected a scalar")
            return value.detach().reshape(()).to(self.device, torch.float32)
        return torch.tensor(float(value), device=self.device)

    def flush(self) -> dict:
        """Move the pending values to the host; returns their means (empty dict when nothing is pending)."""
        if not self.pending:
            return {}
        values = torch.stack(self.pending).cpu()  # (n, len(keys)): the only host sync
        self.pending = []
        for i, key in enumerate(self.keys):
            self.history[key].extend(values[:, i].tolist())
        if not torch.isfinite(values).all() and not self.warned:
            self.warned = True
            print(f"warning: a loss became NaN or infinite (step {len(self.history[self.keys[0]])}); "
                  "training goes on, but check the learning rates and your training step", file=sys.stderr)
        return dict(zip(self.keys, values.mean(0).tolist()))

    def recent(self, n: int = 100) -> dict:
        """Mean of the last ``n`` recorded steps of each loss, and the last value."""
        out = {}
        for key, values in self.history.items():
            tail = values[-n:]
            out[key] = float(np.mean(tail)) if tail else None
            out[f"{key}_last"] = float(values[-1]) if values else None
        return out


def progress_bar(cfg: RunConfig, start: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=cfg.steps, initial=start, desc=desc, unit="step", disable=not cfg.progress,
                dynamic_ncols=True, file=sys.stderr)


def environment(device: torch.device) -> dict:
    return {"device": str(device), "device_name": describe_device(device), "torch_version": torch.__version__,
            "python_version": platform.python_version(), "platform": platform.platform(),
        "cpu_threads": torch.get_num_threads()}


class Clock:
    """Wall time of a run across resumed sessions."""

    def __init__(self, before: float = 0.0):
        self.before, self.start = float(before), time.perf_counter()

    def total(self) -> float:
        return self.before + time.perf_counter() - self.start


class LoopResult(NamedTuple):
    step: int
    stopped: bool
    seconds_per_100_steps: float


def train_loop(cfg: RunConfig, step: int, batch_iter, train_step, log: LossLog, save_point, desc: str,
               postfix) -> LoopResult:
    """Steps ``step+1 .. cfg.steps``: one ``train_step(batch)`` each, losses logged, save points saved.

    ``postfix(means) -> dict`` formats the progress bar's losses. Stops early (as if killed) after
    ``cfg.stop_after``; what survives is the checkpoint of the last save point.
    """
    start_step, start = step, time.perf_counter()
    bar = progress_bar(cfg, step, desc)
    stopped = False
    try:
        while step < cfg.steps:
            log.add(train_step(next(batch_iter)))
            step += 1
            saving = is_save_point(step, cfg.steps, cfg.save_every)
            if saving or step % cfg.log_every == 0:
                bar.set_postfix(postfix(log.flush()), refresh=False)
            bar.update(1)
            if saving:
                save_point(step)
            if cfg.stop_after is not None and cfg.stop_after <= step < cfg.steps:
                stopped = True
                break
    finally:
        bar.close()
    if stopped:
        print(f"stopped after step {step} (stop_after); continue with resume")
    seconds = time.perf_counter() - start
    return LoopResult(step, stopped, 100 * seconds / max(step - start_step, 1))
