"""Device choice (``auto`` = CUDA, then MPS, then CPU) and one seeding helper."""
from __future__ import annotations

import os
import random

import numpy as np
import torch


class DeviceUnavailableError(RuntimeError):
    """A device was requested by name but this machine cannot provide it."""


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def available_devices() -> list[str]:
    """Device kinds usable here, best first (always ends with ``cpu``)."""
    kinds = []
    if torch.cuda.is_available():
        kinds.append("cuda")
    if _mps_available():
        kinds.append("mps")
    return kinds + ["cpu"]


def describe_device(device: torch.device) -> str:
    """Human-readable name, e.g. ``cuda:0 (NVIDIA H100)``."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    if device.type == "mps":
        return "mps (Apple GPU)"
    return f"cpu ({torch.get_num_threads()} threads)"


def get_device(name: str | torch.device = "auto", verbose: bool = True) -> torch.device:
    """Resolve ``auto``/``cuda``/``cuda:N``/``mps``/``cpu`` to a ``torch.device``.

    ``auto`` picks CUDA, then MPS, then CPU. Asking for a device that is not
    present raises ``DeviceUnavailableError`` with what is available instead.
    """
    requested = str(name).strip().lower()
    if requested == "auto":
        device = torch.device(available_devices()[0])
    else:
        try:
            device = torch.device(requested)
        except RuntimeError as err:
            raise DeviceUnavailableError(
                f"Unknown device {name!r}: use auto, cuda, cuda:N, mps or cpu."
            ) from err
        _require(device)
    if verbose:
        print(f"Using device: {describe_device(device)}")
    return device


def _require(device: torch.device) -> None:
    here = ", ".join(available_devices())
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailableError(
                f"CUDA was requested but torch.cuda.is_available() is False "
                f"(torch {torch.__version__}, available here: {here}). "
                "Use --device auto, or install a CUDA build of PyTorch on a machine with an NVIDIA GPU."
            )
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise DeviceUnavailableError(
                f"{device} was requested but only {count} CUDA device(s) exist (cuda:0..cuda:{count - 1})."
            )
    elif device.type == "mps":
        if not _mps_available():
            raise DeviceUnavailableError(
                f"MPS was requested but torch.backends.mps.is_available() is False "
                f"(needs Apple silicon and macOS 12.3+; available here: {here}). Use --device auto."
            )
    elif device.type != "cpu":
        raise DeviceUnavailableError(f"Unsupported device {device}: use auto, cuda, mps or cpu.")


def seed_everything(seed: int = 0, deterministic: bool = False) -> int:
    """Seed Python, NumPy and torch (CPU, every CUDA device, MPS); returns the seed.

    ``deterministic=True`` also asks cuDNN and torch for deterministic kernels.
    """
    seed = int(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)  # for subprocesses started after this
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # CPU and all CUDA devices
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if _mps_available():
        torch.mps.manual_seed(seed)
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)
    return seed
