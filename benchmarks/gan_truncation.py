"""Fidelity against variety: a trained GAN's figures as its noise is truncated (the truncation trick).

    COURSE_OFFLINE=1 .venv/bin/python benchmarks/gan_truncation.py runs/gan
    COURSE_OFFLINE=1 .venv/bin/python benchmarks/gan_truncation.py runs/gan --ema --thresholds 2 1 0.5 --samples 2000

Loads the run's generator as ``gan_quality.py`` does (``generator.pt``, else the last checkpoint; ``--ema``:
the moving average) and, for each threshold T, draws ``--samples`` digits from noise whose every entry is
drawn again until it lies within +-T (``vaegan.train.gan.truncated_noise``; Brock et al. 2019, section
3.1), then reports under the course evaluator the classifier score (against the real test split's), the
FD to the test split (against its floor), the class histogram and the share of unsure predictions.
Every threshold uses the same seed, and the entries beyond a bound are drawn again from a second
generator, so the entries within it are the same draws in every row (``gan_quality.seeded_noise``):
each column of the grid is one noise vector pulled towards the centre of the latent space.

Truncation is meant to raise the classifier score, which rewards confident predictions, at a cost in
variety that only the FD and the histogram show; on the course's GAN it lowers both (lesson 13,
section 8). Results go
to ``benchmarks/results/gan_truncation.json`` with a grid of samples per threshold
(``gan_truncation_grid.png``).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import torch  # noqa: E402

from gan_quality import CLASS_HIGH, CLASS_LOW, SCORE_SHARE, batches_of, load_generator, seeded_noise  # noqa: E402
from vaegan.metrics import (classifier_score, generate, image_quality, load_evaluator,  # noqa: E402
                            real_statistics, sample_images)
from vaegan.plots import save_image_grid  # noqa: E402
from vaegan.train.engine import load_splits, write_json  # noqa: E402

THRESHOLDS = (None, 3.0, 2.0, 1.5, 1.0, 0.75, 0.5, 0.25)  # None: plain N(0, I)
GRID_COLUMNS = 12
UNSURE_BELOW = 0.9  # a prediction whose top class has less probability than this counts as unsure


def confidence(probs: torch.Tensor) -> dict:
    """Mean top-class probability of ``probs`` (n, 10) and the share of predictions below ``UNSURE_BELOW``:
    where the classifier score loses its points (a few unsure digits, or every digit a little)."""
    top = probs.max(dim=1).values
    return {"top_probability_mean": round(top.mean().item(), 4),
            "unsure_share": round((top < UNSURE_BELOW).float().mean().item(), 4)}


def sweep(G, noise_dim: int, train, test, thresholds, samples: int, seed: int) -> list[dict]:
    """One row of figures per threshold, each on noise drawn from the same seed; the digits of a row are
    drawn once, and the test split's statistics and the FD floor are computed once for all rows."""
    evaluator = load_evaluator(train.name, train=train, test=test)
    real = real_statistics(evaluator, test)
    floor = round(image_quality(evaluator, sample_images(train.images, samples, seed), real)["fd"], 4)
    rows = []
    for threshold in thresholds:
        started = time.perf_counter()
        noise = seeded_noise(samples, noise_dim, threshold, seed)  # inside the bound: the same draws in every row
        images = generate(batches_of(G, noise), samples, value_range=(-1, 1))  # (samples, 1, 28, 28) in [0, 1]
        q = image_quality(evaluator, images, real)
        histogram = q["class_histogram"]
        rows.append({"threshold": threshold, "classifier_score": round(q["classifier_score"], 4),
                     "fd": round(q["fd"], 4), "fd_floor": floor, "class_histogram": histogram,
                     "smallest_class": min(histogram), "largest_class": max(histogram),
                     "every_class_5_to_15_percent": all(CLASS_LOW <= h <= CLASS_HIGH for h in histogram),
                     **confidence(evaluator.predict(images)[1]), "seconds": round(time.perf_counter() - started, 2)})
    return rows


def grid(G, noise_dim: int, thresholds, seed: int, path: Path) -> None:
    """One row of ``GRID_COLUMNS`` samples per threshold; the same noise seed in every row."""
    rows = []
    for threshold in thresholds:
        z = seeded_noise(GRID_COLUMNS, noise_dim, threshold, seed)
        with torch.no_grad():
            rows.append(G(z))
    save_image_grid(torch.cat(rows), path, nrow=GRID_COLUMNS, value_range=(-1, 1))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a GAN run folder (python -m vaegan train gan --out RUN)")
    parser.add_argument("--thresholds", type=float, nargs="+", default=None, metavar="T",
                        help="truncation bounds in standard deviations, at least 0.05 (default: plain, "
                             + ", ".join(f"{t:g}" for t in THRESHOLDS[1:]) + ")")
    parser.add_argument("--samples", type=int, default=10000, help="generated digits per threshold (default 10,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ema", action="store_true", help="the moving-average generator of an --ema run")
    parser.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "gan_truncation.json"))
    args = parser.parse_args(argv)
    if args.thresholds is not None and not all(t >= 0.05 for t in args.thresholds):
        parser.error(f"every threshold is at least 0.05 standard deviations, got {args.thresholds}")
    thresholds = THRESHOLDS if args.thresholds is None else (None, *args.thresholds)
    run = Path(args.run)
    G, step, config = load_generator(run, ema=args.ema)
    noise_dim = G.noise_dim
    train, test = load_splits(config.get("data", "mnist"))
    started = time.perf_counter()
    rows = sweep(G, noise_dim, train, test, thresholds, args.samples, args.seed)
    evaluator = load_evaluator(train.name, train=train, test=test)
    real_probs = evaluator.predict(test.images)[1]
    real_score = classifier_score(real_probs)
    for row in rows:
        row["score_share"] = round(row["classifier_score"] / real_score, 4)
        row["score_at_least_90_percent"] = row["classifier_score"] >= SCORE_SHARE * real_score
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = path.with_name(path.stem + "_grid.png")
    grid(G, noise_dim, thresholds, args.seed, image)
    write_json(path, {"run": str(run), "generator": "moving average" if args.ema else "G", "step": step,
                      "schedule_steps": config.get("steps"), "data_source": train.source,
                      "train_images": len(train), "samples": args.samples, "seed": args.seed,
                      "classifier_score_test_split": round(real_score, 4), "test_split": confidence(real_probs),
                      "unsure_below": UNSURE_BELOW, "rows": rows, "grid": image.name,
                      "evaluator": evaluator.describe(), "seconds": round(time.perf_counter() - started, 1)})
    print(f"{run}{' (moving-average G)' if args.ema else ''} at step {step} ({train.source}, {args.samples} samples "
          f"per row; real test split scores {real_score:.3f}):")
    print(f"{'truncation':>10}  {'score':>6}  {'share':>6}  {'FD':>7}  {'floor':>6}  {'unsure':>6}  "
          f"{'classes (min-max %)':>20}")
    for row in rows:
        bound = "none" if row["threshold"] is None else f"{row['threshold']:g}"
        print(f"{bound:>10}  {row['classifier_score']:6.3f}  {100 * row['score_share']:5.1f}%  {row['fd']:7.2f}  "
              f"{row['fd_floor']:6.2f}  {100 * row['unsure_share']:5.1f}%  "
              f"{100 * row['smallest_class']:9.1f} - {100 * row['largest_class']:4.1f}"
              f"{'' if row['every_class_5_to_15_percent'] else '  (outside 5-15%)'}")
    real_unsure = confidence(real_probs)["unsure_share"]
    print(f"unsure: top class below {UNSURE_BELOW:g}; real test split {100 * real_unsure:.1f}%")
    print(f"wrote {path} and {image}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
