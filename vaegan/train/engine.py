"""Pieces shared by the VAE and GAN capstone runs: run folders, checkpoints, RNG state, loss logs, progress, speed.

Speed (``Speed``, chosen by ``resolve_speed``) wraps the graded step functions, never replaces them:

- the dataset stays on the device (``TensorBatches``) and losses reach the host only every
  ``log_every`` steps (``LossLog``): between log points (and epochs) the host queues CUDA steps
  without waiting for the GPU;
- Adam runs ``fused`` on CUDA and on the CPU (torch 2.4+), ``foreach`` elsewhere (the optimizer
  ``make_optimizers`` returns is rebuilt with the same class, groups and hyper-parameters when it is
  a fresh Adam/AdamW);
- on the CPU, three kernel rules (``vaegan.train.kernels``; the same functions, other kernels):
  transposed convolutions add their bias after the convolution (``deconv_bias_apart``), those with
  one output channel run their forward in PyTorch's own kernel, not oneDNN's
  (``native_single_channel_deconv``: several times faster for the decoders' last layer), and
  convolutions that are fully connected layers (the GAN's first and last) run as one matrix
  product (``whole_image_convs_as_matmul``);
- ``amp="bf16"`` runs each model's forward under ``torch.autocast`` (training mode only; outputs
  cast back to float32 so the graded losses, backward and optimizer step stay in float32) on CUDA
  and on CPUs with native bfloat16 (AVX512-BF16 or AMX); MPS stays float32;
- ``channels_last`` (default on the CPU, and on CUDA with bf16) and ``compile=True``
  (``nn.Module.compile``: the module and its ``state_dict`` keys stay the same) for the models.

On Apple GPUs, ``PYTORCH_ENABLE_MPS_FALLBACK=1`` runs any operator MPS lacks on the CPU instead of failing.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import random
import re
import sys
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import ClassVar, NamedTuple

import numpy as np
import torch

from .. import pick
from ..data import ImageData, default_data_root, load_dataset, offline_requested
from ..devices import DeviceUnavailableError, describe_device
from .ddp import distributed
from .impl import resolve_impl
from .kernels import CPU_RULES

CHECKPOINT = "checkpoint.pt"
CHECKPOINT_FORMAT = 1
FIXED_BATCH = 64  # images in every sample grid (8 x 8)
REPORT = "index.html"
AMP_CHOICES = ("none", "bf16")


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
    amp: str = "none"  # "bf16": autocast the models' forward (CUDA; CPUs with native bf16); MPS stays float32
    compile: bool = False  # torch.compile the models (worth it on CUDA; minutes of compiling on a CPU)
    channels_last: bool | None = None  # None: on for the CPU, and for CUDA with bf16
    native_deconv: bool | None = None  # None: on for the CPU (see kernels.native_single_channel_deconv)
    matmul_convs: bool | None = None  # None: on for the CPU (see kernels.whole_image_convs_as_matmul)
    deconv_bias_apart: bool | None = None  # None: on for the CPU (see kernels.deconv_bias_apart)

    KIND = "run"
    DEFAULT_STEPS = (100, 20)  # (normal, fast)
    MUST_MATCH = ("batch_size", "data", "seed")  # a resumed run must keep these
    ABSENT_MEANS: ClassVar[dict] = {}  # a MUST_MATCH setting added later: its value in checkpoints written before

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
        amp = str(cfg.amp or "none").lower()
        if amp not in AMP_CHOICES:
            raise ValueError(f"amp must be one of {', '.join(AMP_CHOICES)}, got {cfg.amp!r}")
        return replace(cfg, amp=amp)

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
        data["device"] = str(data["device"])  # a torch.device is accepted too
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


def saved_steps_of(state: dict | None) -> list[int]:
    """The steps whose images a run has saved so far (``[]`` for a fresh run).

    Checkpoints keep the record (``saved_steps``), so a run resumed with another ``--save-every``
    or ``--steps`` still states exactly which images exist. For a checkpoint written before the
    record was kept, the save points of its own settings up to its step stand in.
    """
    if state is None:
        return []
    if isinstance(state.get("saved_steps"), list):
        return [int(s) for s in state["saved_steps"]]
    config, at = state.get("config") or {}, int(state["step"])
    every, steps = int(config.get("save_every") or 0), int(config.get("steps") or at)
    if every <= 0:
        return sorted({0, at})
    return [s for s in range(at + 1) if is_save_point(s, steps, every)]


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


def start_run(cfg: RunConfig, kind: str, dist, image_dirs: dict, files: tuple) -> tuple[Path, Path, dict | None]:
    """The run folder, its checkpoint path and the checkpoint to resume from (``None``: a fresh run).

    Rank 0 decides, reads the checkpoint and prepares the folder; the other ranks of a multi-process
    run receive the checkpoint from it (no shared disk needed) or the same ``CheckpointError``.
    """
    out = Path(cfg.out)
    ckpt_path = out / CHECKPOINT
    packet = None
    if dist.is_main:
        try:
            state = None
            if cfg.resume and ckpt_path.exists():
                state = load_checkpoint(ckpt_path, kind, cfg, dist.world_size)
            elif cfg.resume:
                print(f"note: --resume but {ckpt_path} does not exist; starting a fresh run")
            prepare_out(out, fresh=state is None, image_dirs=image_dirs, files=(*files, REPORT))
            packet = (state, None)
        except CheckpointError as err:
            packet = (None, str(err))
    state, error = dist.broadcast(packet)
    if error is not None:
        raise CheckpointError(error)
    return out, ckpt_path, state


def speed_record(speed, loop, global_batch: int) -> dict:
    """``metrics.json["speed"]``: the settings and the training throughput (save points left out)."""
    per_second = loop.steps_run * global_batch / loop.train_seconds if loop.train_seconds > 0 else None
    return {**speed.describe(), "images_per_second": round(per_second, 1) if per_second else None}


def write_json(path: Path, data: dict) -> Path:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)
    return path


def cpu_state_dict(module: torch.nn.Module) -> dict:
    """``state_dict`` with every tensor on the CPU and contiguous (whatever the training memory format),
    loadable with ``torch.load(weights_only=True)`` anywhere."""
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in module.state_dict().items()}


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


def resume_rng(state: dict, out: Path, rank: int = 0, verbose: bool = True) -> None:
    """Restore the checkpoint's RNG state (this rank's, for a multi-process run) and say where the run resumes."""
    per_rank = state.get("rng_ranks")
    skipped = restore_rng(per_rank[rank] if per_rank else state["rng"])
    note = f" (could not restore the {', '.join(skipped)} RNG here: not bit-identical)" if skipped else ""
    if verbose:
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


def load_checkpoint(path: Path, kind: str, cfg: RunConfig, world_size: int = 1) -> dict:
    """Read ``path`` (``weights_only=True``) and check it belongs to a compatible run of ``kind``."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same advice
        raise CheckpointError(f"{path} cannot be read ({err.__class__.__name__}: {str(err)[:200]}); "
                              "delete it or run without --resume") from err
    if not isinstance(state, dict) or state.get("kind") != kind or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a {kind} checkpoint of this course's format {CHECKPOINT_FORMAT}")
    config = state.get("config", {})
    saved = {k: config.get(k, cfg.ABSENT_MEANS.get(k)) for k in cfg.MUST_MATCH}  # settings added since it was written
    clashes = [f"{k}: checkpoint {saved[k]!r}, now {getattr(cfg, k)!r}" for k in cfg.MUST_MATCH
               if _differs(saved[k], getattr(cfg, k))]
    if clashes:
        raise CheckpointError(f"--resume from {path} with different settings ({'; '.join(clashes)}); "
                              "use the original settings or start a fresh run in another --out")
    if state["step"] > cfg.steps:
        raise CheckpointError(f"{path} is at step {state['step']}, beyond --steps {cfg.steps}")
    saved_world = int(state.get("world_size", 1))
    if saved_world != world_size:
        raise CheckpointError(f"{path} was written by a {saved_world}-process run and this run has {world_size} "
                              f"process(es); resume with the same number of processes (the batch size is per "
                              "process, and every rank's data position and RNG are in the checkpoint)")
    return state


def _differs(a, b) -> bool:
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return list(a or []) != list(b or [])
    return a != b


# ---------------------------------------------------------------- losses and progress
class LossLog:
    """Per-step losses kept as detached tensors and copied to the host only at log points (one sync).

    ``reduce`` (multi-process runs) turns each rank's pending values into the mean over ranks before
    they reach the host, so every rank keeps the same history.
    """

    def __init__(self, keys: tuple[str, ...], history: dict | None, device: torch.device, source: str,
                 reduce=None):
        self.keys, self.device, self.source, self.reduce = keys, device, source, reduce
        self.history = {k: list(history.get(k, [])) for k in keys} if history else {k: [] for k in keys}
        self.pending: list[torch.Tensor] = []  # len(keys) scalars per step, stacked only at flush
        self.warned = False

    def add(self, stats) -> None:
        if not isinstance(stats, dict) or any(k not in stats for k in self.keys):
            got = sorted(stats) if isinstance(stats, dict) else type(stats).__name__
            raise TypeError(f"{self.source} must return a dict with keys {', '.join(self.keys)}; got {got}")
        self.pending.extend(self._scalar(stats[k], k) for k in self.keys)

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
        values = torch.stack(self.pending).view(-1, len(self.keys))  # (n, len(keys)), still on the device
        self.pending = []
        if self.reduce is not None:
            values = self.reduce(values)
        values = values.cpu()  # the only host sync
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


def run_record(cfg: RunConfig, train: ImageData, device: torch.device, clock: Clock, loop: "LoopResult", dist, speed,
               resumed: bool, impl) -> dict:
    """The part of ``metrics.json`` both capstones share: data, machine, timing, processes, settings."""
    return {
        "dataset": cfg.data,
        "data_source": train.source,
        "train_images": len(train),
        "seed": cfg.seed,
        **environment(device),
        "wall_time_s": round(clock.total(), 3),
        "seconds_per_100_steps": round(loop.seconds_per_100_steps, 3),
        "world_size": dist.world_size,  # processes (torchrun); batch_size is per process
        "global_batch_size": cfg.batch_size * dist.world_size,
        "speed": speed_record(speed, loop, cfg.batch_size * dist.world_size),
        "resumed": resumed,
        "impl": describe_impl(impl),
        "settings": cfg.plain(),
    }


def synchronize(device: torch.device | None) -> None:
    """Wait for the device's queued work (timings of asynchronous CUDA/MPS steps); nothing on the CPU."""
    if device is None:
        return
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


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
    steps_run: int = 0
    train_seconds: float = 0.0  # the steps alone: save points (images, checkpoints) left out


def train_loop(cfg: RunConfig, step: int, batch_iter, train_step, log: LossLog, save_point, desc: str,
               postfix, device: torch.device | None = None) -> LoopResult:
    """Steps ``step+1 .. cfg.steps``: one ``train_step(batch)`` each, losses logged, save points saved.

    ``postfix(means) -> dict`` formats the progress bar's losses. Stops early (as if killed) after
    ``cfg.stop_after``; what survives is the checkpoint of the last save point. Nothing waits for the
    device between log points (``LossLog``); ``device`` is synchronized only to time the save points.
    """
    start_step, start, saving_seconds = step, time.perf_counter(), 0.0
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
                synchronize(device)
                began = time.perf_counter()
                save_point(step)
                saving_seconds += time.perf_counter() - began
            if cfg.stop_after is not None and cfg.stop_after <= step < cfg.steps:
                stopped = True
                break
    finally:
        bar.close()
    if stopped:
        print(f"stopped after step {step} (stop_after); continue with resume")
    synchronize(device)
    seconds = time.perf_counter() - start
    steps_run = step - start_step
    return LoopResult(step, stopped, 100 * seconds / max(steps_run, 1), steps_run, max(seconds - saving_seconds, 0.0))


# ---------------------------------------------------------------- speed
def bf16_support(device: torch.device) -> tuple[bool, str]:
    """Whether ``device`` runs bfloat16 natively, and why not when it does not."""
    if device.type == "cuda":
        try:
            native = torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # older torch: no emulation argument
            native = torch.cuda.is_bf16_supported()
        why = "this GPU has no native bfloat16 (needs compute capability 8.0+: A100, H100, RTX 30xx and later)"
        return native, "" if native else why
    if device.type == "cpu":
        cpu = getattr(torch, "cpu", None)
        native = any(bool(getattr(cpu, probe, lambda: False)())
                     for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
        why = "this CPU has no native bfloat16 (AVX512-BF16 or AMX): autocast would be slower"
        return native, "" if native else why
    return False, f"{device.type} trains in float32 here"


def autocast_forward(module: torch.nn.Module, device_type: str, dtype: torch.dtype) -> torch.nn.Module:
    """Run ``module``'s forward under ``torch.autocast`` in training mode, returning float32 outputs (in place).

    Only the forward is autocast (what the AMP docs recommend): the graded losses, backward and
    optimizer step see float32 outputs. In eval() mode (sample grids, evaluation) the forward is untouched.
    """
    # A partial over the module, not a closure: deepcopy and pickling rebuild it around the copy.
    inner = module._autocast[2] if "_autocast" in vars(module) else module.forward  # its class's, or a rule's
    module._autocast = (device_type, dtype, inner)  # applied twice: the second replaces the first
    module.forward = functools.partial(_autocast_forward, module)  # parameters and state_dict keys unchanged
    return module


def _autocast_forward(self: torch.nn.Module, *args, **kwargs):
    device_type, dtype, inner = self._autocast
    if not self.training:
        return inner(*args, **kwargs)
    with torch.autocast(device_type, dtype=dtype):
        out = inner(*args, **kwargs)
    return torch.utils._pytree.tree_map(_to_float32, out)


def _to_float32(value):
    if isinstance(value, torch.Tensor) and value.is_floating_point() and value.dtype != torch.float32:
        return value.float()
    return value


@dataclass(frozen=True)
class Speed:
    """How a run executes the graded step: autocast dtype, compile, memory format, Adam implementation."""

    amp: str = "none"
    compile: bool = False
    channels_last: bool = False
    adam: str = "for-loop"  # "fused" (CUDA; the CPU where torch has it), "foreach" (MPS) or "for-loop"
    device_type: str = "cpu"
    native_deconv: bool = False  # CPU: single-output-channel transposed convolutions without oneDNN
    matmul_convs: bool = False  # CPU: convolutions that are fully connected layers as one matrix product
    deconv_bias_apart: bool = False  # CPU: transposed convolutions add their bias after the convolution

    @property
    def adam_flags(self) -> dict:
        return {"fused": {"fused": True}, "foreach": {"foreach": True}}.get(self.adam, {})

    def prepare(self, module: torch.nn.Module) -> torch.nn.Module:
        """Memory format, autocast and compile for ``module``, in place (the same object, same state_dict keys)."""
        if self.channels_last:
            module.to(memory_format=torch.channels_last)
        for name, apply_rule in CPU_RULES.items():  # the kernel rules, in any order (one forward dispatches them)
            if getattr(self, name):
                apply_rule(module)
        if self.amp == "bf16":
            autocast_forward(module, self.device_type, torch.bfloat16)
        if self.compile:
            module.compile()
        return module

    def optimizer(self, opt: torch.optim.Optimizer) -> torch.optim.Optimizer:
        """A fresh Adam/AdamW rebuilt with this device's fast implementation; anything else is returned as is.

        Same class, parameter groups and hyper-parameters (``make_optimizers`` is graded: its learning
        rates and betas must survive); an optimizer whose groups already chose ``fused``/``foreach`` is kept.
        """
        if type(opt) not in (torch.optim.Adam, torch.optim.AdamW) or opt.state or not self.adam_flags:
            return opt
        if any(g.get("fused") or g.get("foreach") is not None for g in opt.param_groups):
            return opt
        flags = {"fused": None, "foreach": None, **self.adam_flags}
        groups = [{**group, **flags} for group in opt.param_groups]
        return type(opt)(groups, **{**opt.defaults, **flags})

    def describe(self) -> dict:
        return asdict(self)


def resolve_speed(cfg: RunConfig, device: torch.device, verbose: bool = True) -> Speed:
    """The ``Speed`` for ``cfg`` on ``device``; an unsupported request falls back with a one-line note."""
    amp = cfg.amp
    if amp == "bf16":
        native, why = bf16_support(device)
        if not native:
            amp = "none"
            if verbose:
                print(f"note: --amp bf16 ignored: {why}; training in float32")
    channels_last = cfg.channels_last
    if channels_last is None:  # measured on the CPU (benchmarks/bench.py); NVIDIA's advice for bf16 convs
        channels_last = device.type == "cpu" or (device.type == "cuda" and amp == "bf16")
    if cfg.compile and device.type == "cpu" and verbose:
        print("note: --compile on a CPU compiles for a minute or more; it gained nothing for these small models here")
    adam = "fused" if device.type == "cuda" or (device.type == "cpu" and cpu_fused_adam()) else "foreach"
    # The CPU kernel rules, measured by benchmarks/bench.py (the "trainer oneDNN ..." rows): on by
    # default on the CPU, off under --compile (inductor chooses its own kernels), never elsewhere.
    on_cpu = device.type == "cpu"
    rules = {name: on_cpu and bool(not cfg.compile if getattr(cfg, name) is None else getattr(cfg, name))
             for name in CPU_RULES}
    return Speed(amp=amp, compile=bool(cfg.compile), channels_last=bool(channels_last), adam=adam,
                 device_type=device.type, **rules)


@functools.lru_cache(maxsize=1)
def cpu_fused_adam() -> bool:
    """Whether this torch has the fused Adam kernel for the CPU (2.4 and later): one kernel for all parameters."""
    try:
        p = torch.nn.Parameter(torch.zeros(2))
        p.grad = torch.ones(2)
        torch.optim.Adam([p], lr=1e-3, fused=True).step()
        return True
    except (RuntimeError, TypeError, ValueError):
        return False


def not_implemented_error(impl, err: NotImplementedError, device: torch.device) -> Exception:
    """An operator MPS lacks gets the fallback advice; anything else names the unfinished graded item."""
    from .impl import explain_not_implemented

    if device.type == "mps" and "mps" in str(err).lower():
        return DeviceUnavailableError(
            f"an operator is not implemented on MPS ({str(err).splitlines()[0][:200]}); run with "
            "PYTORCH_ENABLE_MPS_FALLBACK=1 (that operator then runs on the CPU) or with --device cpu")
    return explain_not_implemented(impl, err)


def launch(cfg: RunConfig, names: tuple[str, ...], run) -> TrainResult:
    """What ``train_vae`` and ``train_gan`` share around their ``run(cfg, impl, device, dist, speed)``.

    Joins the process group under torchrun, loads the graded functions ``names`` of ``cfg.impl``
    (before seeding: loading notebooks may draw random numbers), picks the speed settings, limits the
    CPU threads, shows progress on rank 0 only, and turns an unimplemented graded item (or an
    operator MPS lacks) into a readable error.
    """
    with distributed(cfg.device) as (dist, device):
        impl = resolve_impl(cfg.impl, names)
        speed = resolve_speed(cfg, device, verbose=dist.is_main)
        try:
            with cpu_threads(cfg.threads):
                return run(replace(cfg, progress=cfg.progress and dist.is_main), impl, device, dist, speed)
        except NotImplementedError as err:
            raise not_implemented_error(impl, err, device) from err
