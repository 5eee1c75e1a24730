"""Train the course evaluator on a full-size split and print its reference figures (``vaegan.metrics``).

    .venv/bin/python benchmarks/evaluator.py                                  # full Fashion-MNIST, 1 thread
    COURSE_OFFLINE=1 .venv/bin/python benchmarks/evaluator.py --dataset fashion-mnist mnist --threads 2

Fashion-MNIST (60,000 + 10,000 images, ``apt-get install dataset-fashion-mnist`` offline) stands in
for full MNIST, which has the same size. For each dataset: training wall time (and CPU time, which
does not depend on how busy the machine is), test accuracy, the FD floor (real train vs real test:
all 60,000 against the 10,000, and ``--n`` train images against the test split, the sample size the
capstones use), the FD curve for Gaussian noise and blur applied to those ``--n`` real images, and
the classifier score of the real test split. Results go to ``benchmarks/results/evaluator.json``.
The evaluator is trained fresh (the cache is not read) and then stored in the data root's cache.

One thread by default: on a shared, busy CPU two threads can be many times slower than one (they
spin waiting for each other); the CPU time printed beside the wall time is the machine-independent
figure (an idle 2-core machine with 2 threads needs about half of it, plus overhead).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vaegan.data import load_dataset  # noqa: E402
from vaegan.metrics import (BLUR_LEVELS, FULL_RECIPE, NOISE_LEVELS, Evaluator, classifier_score,  # noqa: E402
                            class_histogram, degradation_curve, evaluator_path, fd_between, feature_statistics,
                            sample_images, save_evaluator, train_evaluator)


def run(name: str, n: int, cache: bool) -> dict:
    start = time.perf_counter()
    train, test = load_dataset(name, "train"), load_dataset(name, "test")
    load_seconds = time.perf_counter() - start
    print(f"{name}: {len(train)} train / {len(test)} test images from {train.source} ({load_seconds:.1f} s to load)")
    net, info = train_evaluator(train, test, FULL_RECIPE, progress=True)
    evaluator = Evaluator(net, train.name, train.source, info["test_accuracy"], info["train_seconds"], FULL_RECIPE)
    print(f"  trained in {info['train_seconds']:.1f} s wall, {info['train_cpu_seconds']:.1f} s CPU "
          f"({info['threads']} threads, {info['epochs']} epochs, {info['steps']} steps); "
          f"test accuracy {info['test_accuracy']:.4f}")
    if cache:
        path = save_evaluator(net, {**info, "dataset": train.name, "source": train.source},
                              evaluator_path(train, FULL_RECIPE))
        print(f"  cached as {path}")

    start = time.perf_counter()
    test_feats, test_probs = evaluator.predict(test.images)
    real = feature_statistics(test_feats)
    train_feats, _ = evaluator.predict(train.images)
    floor_full = fd_between(feature_statistics(train_feats), real)
    subset = sample_images(train.images, n, seed=0)
    floor_n = fd_between(feature_statistics(evaluator.predict(subset)[0]), real)
    score = classifier_score(test_probs)
    histogram = class_histogram(test_probs.argmax(dim=1), test_probs.shape[1])
    noise = degradation_curve(evaluator, subset, real, "noise", NOISE_LEVELS)
    blur = degradation_curve(evaluator, subset, real, "blur", BLUR_LEVELS)
    eval_seconds = time.perf_counter() - start
    print(f"  FD floor: {floor_full:.3f} (all {len(train)} train vs {len(test)} test), "
          f"{floor_n:.3f} ({n} train images vs the test split)")
    print(f"  classifier score of the real test split: {score:.3f} (maximum 10)")
    for label, curve in (("noise std", noise), ("blur sigma", blur)):
        print(f"  {label:10s} " + "  ".join(f"{r['level']:g}: FD {r['fd']:.2f} / score {r['classifier_score']:.2f}"
                                           for r in curve))
    return {"dataset": name, "source": train.source, "train_images": len(train), "test_images": len(test),
            "train_seconds": round(info["train_seconds"], 1), "train_cpu_seconds": round(info["train_cpu_seconds"], 1),
            "threads": info["threads"], "epochs": info["epochs"], "steps": info["steps"],
            "test_accuracy": round(info["test_accuracy"], 4),
            "fd_floor_full": round(floor_full, 4), "fd_floor_n": round(floor_n, 4), "n": n,
            "classifier_score_test": round(score, 4),
            "test_prediction_histogram": [round(float(v), 4) for v in histogram],
            "noise_curve": noise, "blur_curve": blur, "evaluation_seconds": round(eval_seconds, 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", nargs="+", default=["fashion-mnist"], choices=("fashion-mnist", "mnist"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n", type=int, default=2000, help="real images in the FD floor at sample size n and the curves")
    parser.add_argument("--no-cache", action="store_true", help="do not store the trained evaluator in the data root")
    parser.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "evaluator.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = {"torch_version": torch.__version__, "platform": platform.platform(), "threads": args.threads,
               "cpu_count": os.cpu_count(), "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
               "recipe": {k: getattr(FULL_RECIPE, k) for k in ("epochs", "batch_size", "lr", "min_steps")},
               "runs": [run(name, args.n, not args.no_cache) for name in args.dataset]}
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
