"""``python -m vaegan demo`` (and, from the capstone issues, ``train vae|gan``)."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _demo(args) -> int:
    from autograder.cli import main as autograder_main

    from .tour import data_tour

    out = Path(args.out)
    print("== 1. Data tour ==")
    data_tour(out / "data_tour", dataset=args.data, device=args.device)
    print("\n== 2. Grading lesson 00: the reference solution and the untouched exercise ==")
    folder = out / "grading_00"
    for who in ("solutions", "exercises"):
        (folder / "submissions" / who).mkdir(parents=True, exist_ok=True)
        src = REPO / who / "00_setup_and_data.ipynb"
        (folder / "submissions" / who / src.name).write_bytes(src.read_bytes())
    return autograder_main(["grade", str(folder / "submissions"), "--out", str(folder / "grades")])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vaegan", description="VAE/GAN course helpers")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="data tour and grading of lesson 00 (make demo)")
    demo.add_argument("--out", default=str(REPO / "runs" / "demo"))
    demo.add_argument("--data", default="mnist", choices=("mnist", "fashion-mnist"))
    demo.add_argument("--device", default="auto")
    demo.set_defaults(func=_demo)
    return parser


def main(argv=None) -> int:
    os.environ.setdefault("MPLBACKEND", "Agg")
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
