"""GAN sample quality against the course's done-criterion, from a run folder (finished or not).

    COURSE_OFFLINE=1 .venv/bin/python benchmarks/gan_quality.py runs/gan            # generator.pt, else checkpoint.pt
    COURSE_OFFLINE=1 .venv/bin/python benchmarks/gan_quality.py runs/gan --samples 2000 --seed 1
    COURSE_OFFLINE=1 .venv/bin/python benchmarks/gan_quality.py runs/gan --ema    # the moving-average G (--ema runs)
    COURSE_OFFLINE=1 .venv/bin/python benchmarks/gan_quality.py runs/gan --truncation 1.0 --json /tmp/t.json

The generator's weights (``generator.pt`` of a finished run, else the ``checkpoint.pt`` of the last
save point; with ``--ema`` the moving average of a run trained with ``--ema``: ``generator_ema.pt``, else
the checkpoint's) are loaded with ``weights_only=True`` into the reference ``Generator``. Under the course
evaluator (``vaegan.metrics``, the same one the capstones use) it reports, in eval() mode, on noise
z ~ N(0, I) (with ``--truncation T``: each entry drawn again until it lies within +-T, the truncation
trick; ``benchmarks/gan_truncation.py`` sweeps T):

- the classifier score of ``--samples`` generated digits, against the score of the real test split
  (criterion: at least 90% of it). The samples themselves are noisy: on one finished run, four noise
  seeds at 2,000 samples scored 7.34-7.58 (FD 16.1-20.9), two at 10,000 (the default) 7.38 and 7.41
  (FD 16.9 and 16.2); read differences between runs against that spread;
- the class histogram of the generated digits (criterion: every class between 5% and 15%);
- the classifier Fréchet distance to the test split, beside its floor (as many real training digits);
- the discriminator's mean output on its training digits, on unseen test digits and on generated ones:
  a large train-minus-test gap means D has memorized its training set (see ``vaegan.train.augment``);
- how far the generated digits wander off centre (the spread of their ink's centre of mass) against
  the test digits, which MNIST centres by that same centre of mass.

Results are printed and written as JSON (default: ``benchmarks/results/gan_quality.json``).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from vaegan.metrics import classifier_score, generate, load_evaluator, sample_quality  # noqa: E402
from vaegan.train.engine import load_splits, write_json  # noqa: E402
from vaegan.train.gan import truncated_noise  # noqa: E402
from vaegan.train.impl import resolve_impl  # noqa: E402

SCORE_SHARE, CLASS_LOW, CLASS_HIGH = 0.9, 0.05, 0.15


def generator_weights(run: Path, ema: bool = False) -> tuple[dict, int | None, dict]:
    """(state_dict, step, config) of the run's generator (``ema``: its moving average): the final weights,
    else the last checkpoint's."""
    final = run / ("generator_ema.pt" if ema else "generator.pt")
    metrics = run / "metrics.json"
    if final.exists():
        info = json.loads(metrics.read_text()) if metrics.exists() else {}
        return torch.load(final, map_location="cpu", weights_only=True), info.get("steps"), info.get("settings", {})
    state = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)
    if ema and "generator_ema" not in state:
        raise SystemExit(f"error: {run} was not trained with --ema: it holds no moving-average generator")
    weights = state["generator_ema"]["average"] if ema else state["generator"]
    return weights, int(state["step"]), state.get("config", {})


def load_generator(run: Path, ema: bool = False):
    """(G in eval() mode with the run's weights, step, config): the reference ``Generator`` (see
    ``generator_weights``)."""
    weights, step, config = generator_weights(run, ema=ema)
    G = resolve_impl("solutions", ("Generator",)).Generator(noise_dim=int(config.get("noise_dim", 100)))
    G.load_state_dict(weights)
    return G.eval(), step, config


def discriminator_weights(run: Path) -> dict | None:
    """The run's discriminator ``state_dict``: the final weights, else the last checkpoint's (None if neither)."""
    if (run / "discriminator.pt").exists():
        return torch.load(run / "discriminator.pt", map_location="cpu", weights_only=True)
    if (run / "checkpoint.pt").exists():
        return torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)["discriminator"]
    return None


def seeded_noise(n: int, noise_dim: int, truncation: float | None, seed: int) -> torch.Tensor:
    """(n, noise_dim) noise for G from ``seed`` (plain: the draws of ``torch.manual_seed(seed)`` and
    ``torch.randn``); with ``truncation`` the entries beyond it are drawn again from a second generator, so
    every entry inside the bound is the same draw whatever the bound, in every batch."""
    return truncated_noise(n, noise_dim, truncation, generator=torch.Generator().manual_seed(seed),
                           redraws=torch.Generator().manual_seed(seed + 1))


def batches_of(G, z: torch.Tensor):
    """A ``sample_fn(b)`` for ``vaegan.metrics``: G on the next ``b`` rows of the noise ``z``."""
    taken = 0

    def draw(b: int) -> torch.Tensor:
        nonlocal taken
        out = G(z[taken:taken + b])
        taken += b
        return out

    return draw


def memorization(D, G, train, test, z: torch.Tensor) -> dict:
    """Mean D(x) (a probability) on ``n`` training digits, ``n`` unseen test digits and the ``n`` digits G draws
    from the noise ``z`` (n, noise_dim).

    D runs in train() mode, normalizing each set with its own batch statistics as in the graded step;
    G draws in eval() mode, as for the metrics.

    A discriminator that has memorized its training set rates its own training digits well above unseen
    real digits; the gap (train minus test) is the overfitting that DiffAugment (``--translate``) counters.
    """
    n = z.shape[0]
    D.train()  # BatchNorm with batch statistics, as in the graded step; no update is made
    with torch.no_grad():
        rate = lambda x: torch.sigmoid(D(x)).mean().item()  # noqa: E731
        scores = {"train_digits": rate(train.images[:n] * 2 - 1), "test_digits": rate(test.images[:n] * 2 - 1),
                  "generated": rate(G(z))}
    scores["train_minus_test"] = scores["train_digits"] - scores["test_digits"]
    return {k: round(v, 4) for k, v in scores.items()}


def centre_of_mass_spread(images: torch.Tensor) -> list[float]:
    """Standard deviation, in pixels, of the ink's centre of mass (rows, columns) over ``images`` (B, 1, H, W) in [0, 1].

    MNIST centres every digit by its centre of mass, so real digits spread by about 0.3 pixel; a generator
    whose digits wander off centre (a leak of a translation augmentation, say) spreads more.
    """
    ink = images.clamp(0, 1).squeeze(1)  # (B, H, W)
    mass = ink.sum((1, 2)).clamp_min(1e-6)
    rows = (ink.sum(2) * torch.arange(ink.shape[1], dtype=ink.dtype)).sum(1) / mass
    cols = (ink.sum(1) * torch.arange(ink.shape[2], dtype=ink.dtype)).sum(1) / mass
    return [round(rows.std().item(), 3), round(cols.std().item(), 3)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a GAN run folder (python -m vaegan train gan --out RUN)")
    parser.add_argument("--samples", type=int, default=10000, help="generated digits scored (default 10,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ema", action="store_true", help="score the moving-average generator of an --ema run")
    parser.add_argument("--truncation", type=float, default=None, metavar="T",
                        help="draw each noise entry again until it lies within +-T (default: plain N(0, I))")
    parser.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "gan_quality.json"))
    args = parser.parse_args(argv)
    if args.truncation is not None and not args.truncation >= 0.05:
        parser.error(f"--truncation is a bound in standard deviations, at least 0.05, got {args.truncation}")
    run = Path(args.run)
    G, step, config = load_generator(run, ema=args.ema)
    data, noise_dim = config.get("data", "mnist"), G.noise_dim
    train, test = load_splits(data)
    started = time.perf_counter()
    noise = seeded_noise(args.samples, noise_dim, args.truncation, args.seed)  # (samples, noise_dim)
    with torch.no_grad():
        quality = sample_quality(batches_of(G, noise), train, test, n=args.samples,
                                 value_range=(-1, 1), seed=args.seed)
        evaluator = load_evaluator(train.name, train=train, test=test)
        _, probs = evaluator.predict(test.images)
        real_score = classifier_score(probs)
    histogram = quality["class_histogram"]
    d_weights = discriminator_weights(run)
    memo = None
    if d_weights is not None:
        D = resolve_impl("solutions", ("Discriminator",)).Discriminator()
        try:
            D.load_state_dict(d_weights)
        except RuntimeError as err:  # another architecture: the quality figures still stand
            print(f"warning: the discriminator does not load into the reference one ({str(err)[:120]}); "
                  "no memorization figures", file=sys.stderr)
        else:
            memo = memorization(D, G, train, test, noise[:min(1000, args.samples, len(test))])
    with torch.no_grad():
        spread = {"generated": centre_of_mass_spread(generate(batches_of(G, noise), args.samples,
                                                              value_range=(-1, 1))),  # in [0, 1]
                  "test_digits": centre_of_mass_spread(test.images)}
    report = {
        "run": str(run), "generator": "moving average" if args.ema else "G", "step": step,
        "schedule_steps": config.get("steps"), "data": data, "truncation": args.truncation,
        "data_source": train.source, "train_images": len(train), "samples": args.samples,
        "classifier_score": quality["classifier_score"], "classifier_score_test_split": round(real_score, 4),
        "score_share": round(quality["classifier_score"] / real_score, 4),
        "class_histogram": histogram, "fd": quality["fd"], "fd_floor": quality["fd_floor"],
        "criteria": {"score_at_least_90_percent": quality["classifier_score"] >= SCORE_SHARE * real_score,
                     "every_class_5_to_15_percent": all(CLASS_LOW <= h <= CLASS_HIGH for h in histogram)},
        "discriminator_mean_output": memo, "centre_of_mass_spread_px": spread,
        "evaluator": quality["evaluator"], "seconds": round(time.perf_counter() - started, 1),
    }
    print(f"{run}{' (moving-average G)' if args.ema else ''}"
          f"{f' (noise truncated at {args.truncation:g})' if args.truncation else ''}"
          f" at step {step} of {config.get('steps')} "
          f"({train.source}, {len(train)} training digits):")
    print(f"  classifier score {report['classifier_score']:.3f} vs real test split {real_score:.3f} "
          f"({100 * report['score_share']:.1f}%; criterion 90%: "
          f"{'met' if report['criteria']['score_at_least_90_percent'] else 'not met'})")
    print(f"  class histogram {', '.join(f'{100 * h:.1f}' for h in histogram)} % "
          f"(criterion 5-15%: {'met' if report['criteria']['every_class_5_to_15_percent'] else 'not met'})")
    print(f"  FD {report['fd']:.2f} (floor {report['fd_floor']:.2f})")
    print(f"  centre-of-mass spread (rows, columns): generated {spread['generated']} px, "
          f"test digits {spread['test_digits']} px")
    if memo:
        print(f"  mean D(x): training digits {memo['train_digits']:.3f}, unseen test digits {memo['test_digits']:.3f}, "
              f"generated {memo['generated']:.3f} (memorization gap {memo['train_minus_test']:+.3f})")
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, report)  # atomic, like the runs' metrics.json
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
