"""The data tour: what the data layer loads, where from, and what it looks like (``make demo``)."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from .data import load_dataset
from .devices import get_device, seed_everything
from .plots import plot_losses, save_image_grid


def data_tour(out: Path, dataset: str = "mnist", device: str = "auto") -> dict:
    """Load both splits, print their facts, save a sample grid and a class histogram; returns the facts."""
    seed_everything(0)
    dev = get_device(device)
    out.mkdir(parents=True, exist_ok=True)
    train, test = load_dataset(dataset, "train"), load_dataset(dataset, "test")
    facts = {
        "dataset": dataset,
        "source": train.source,
        "train_images": len(train),
        "test_images": len(test),
        "shape": list(train.images.shape[1:]),
        "pixel_range": [float(train.images.min()), float(train.images.max())],
        "pixel_mean": round(float(train.images.mean()), 4),
        "train_class_counts": torch.bincount(train.labels, minlength=10).tolist(),
        "test_class_counts": torch.bincount(test.labels, minlength=10).tolist(),
        "device": str(dev),
    }
    order = torch.argsort(train.labels, stable=True)
    per_class = torch.stack([train.images[order][train.labels[order] == c][:8] for c in range(10)])  # (10, 8, 1, 28, 28)
    save_image_grid(per_class.reshape(-1, 1, 28, 28), out / "samples_by_class.png", nrow=8)
    plot_losses({"train": facts["train_class_counts"], "test": facts["test_class_counts"]},
                out / "class_counts.png", title="Images per class", steps=range(10), ylabel="images")
    (out / "data_tour.json").write_text(json.dumps(facts, indent=1))
    print(f"{dataset}: {facts['train_images']} train / {facts['test_images']} test images from {facts['source']}, "
          f"shape {facts['shape']}, pixels in {facts['pixel_range']}, mean {facts['pixel_mean']}")
    print(f"  images per class (train): {facts['train_class_counts']}")
    print(f"  wrote {out / 'samples_by_class.png'} and {out / 'class_counts.png'}")
    return facts
