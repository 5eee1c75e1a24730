"""Image grids, reconstruction pairs and loss curves, written headless (matplotlib Agg)."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import torch


def _prepare(images: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    """Detach, move to CPU float32 and map ``value_range`` to [0, 1]."""
    x = images.detach().to("cpu", torch.float32)
    low, high = value_range
    return ((x - low) / (high - low)).clamp(0, 1)


def image_grid(images: torch.Tensor, nrow: int = 8, value_range=(0.0, 1.0), padding: int = 2) -> torch.Tensor:
    """``(B, 1, 28, 28)`` images -> one ``(3, H, W)`` grid tensor in [0, 1]."""
    from torchvision.utils import make_grid  # imported when drawn: torchvision takes seconds to import

    return make_grid(_prepare(images, value_range), nrow=nrow, padding=padding, pad_value=1.0)


def save_image_grid(images: torch.Tensor, path, nrow: int = 8, value_range=(0.0, 1.0)) -> Path:
    """Save ``images`` as one PNG grid (GAN images: ``value_range=(-1, 1)``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from torchvision.utils import save_image

    save_image(_prepare(images, value_range), path, nrow=nrow, padding=2, pad_value=1.0)
    return path


def save_reconstruction_pairs(originals: torch.Tensor, reconstructions: torch.Tensor, path, n: int = 8) -> Path:
    """Save originals (top row) over their reconstructions (bottom row); both in [0, 1]."""
    n = min(n, originals.shape[0], reconstructions.shape[0])
    pairs = torch.cat([originals[:n].detach().cpu(), reconstructions[:n].detach().cpu()])  # (2n, 1, 28, 28)
    return save_image_grid(pairs, path, nrow=n)


def _pyplot():
    # Without a display matplotlib resolves to Agg by itself; notebooks keep their inline backend.
    import matplotlib.pyplot as plt

    return plt


def plot_losses(curves: Mapping[str, Sequence[float]], path=None, title: str = "Training losses",
                steps: Sequence[int] | None = None, ylabel: str = "loss (nats per image)"):
    """One figure with a subplot per curve (e.g. ``{"BCE": [...], "KLD": [...]}``); saved when ``path`` is given."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 3.5), squeeze=False)
    for ax, (name, values) in zip(axes[0], curves.items()):
        xs = list(steps) if steps is not None else list(range(len(values)))
        ax.plot(xs, list(values), linewidth=1.2)
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig


def show_images(images: torch.Tensor, nrow: int = 8, value_range=(0.0, 1.0), title: str | None = None, ax=None):
    """Display a grid inline in a notebook; returns the axes."""
    plt = _pyplot()
    grid = image_grid(images, nrow=nrow, value_range=value_range)
    if ax is None:
        _, ax = plt.subplots(figsize=(min(12, 1.2 * nrow), 1.2 * (-(-images.shape[0] // nrow))))
    ax.imshow(grid.permute(1, 2, 0).numpy())
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax
