"""Seconds per 100 training steps of the capstone engine (reference solutions), for the README's time estimates.

    COURSE_OFFLINE=1 .venv/bin/python benchmarks/train_speed.py --device cpu --steps 200 --threads 1
    .venv/bin/python benchmarks/train_speed.py --device cuda --steps 1000 --json benchmarks/cuda.json

Each run saves images only at step 0 and the last step, so the figure is the training loop itself
(plus two save points); the full schedules' estimates are printed next to it.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vaegan.train import train_gan, train_vae  # noqa: E402

FULL_STEPS = {"vae": 2300, "gan": 9300}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--impl", default="solutions")
    parser.add_argument("--only", choices=("vae", "gan"), default=None)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind, train in (("vae", train_vae), ("gan", train_gan)):
            if args.only not in (None, kind):
                continue
            _, metrics = train(steps=args.steps, batch_size=args.batch_size, save_every=10 * args.steps,
                               device=args.device, threads=args.threads, impl=args.impl, out=Path(tmp) / kind,
                               progress=False)
            per_100 = metrics["seconds_per_100_steps"]
            row = {"model": kind, "steps": args.steps, "batch_size": args.batch_size, "device": metrics["device_name"],
                   "cpu_threads": metrics["cpu_threads"], "seconds_per_100_steps": per_100,
                   "full_schedule_minutes": round(per_100 * FULL_STEPS[kind] / 100 / 60, 1),
                   "torch_version": metrics["torch_version"]}
            results.append(row)
            print(f"{kind}: {per_100:.2f} s per 100 steps at batch {args.batch_size} on {row['device']} "
                  f"-> about {row['full_schedule_minutes']} min for {FULL_STEPS[kind]} steps")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
