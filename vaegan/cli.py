"""``python -m vaegan demo`` and ``python -m vaegan train vae|gan`` (the capstone runs)."""
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
    status = autograder_main(["grade", str(folder / "submissions"), "--out", str(folder / "grades")])
    if args.no_train:
        return status
    return _demo_training(args, out) or status


def _demo_training(args, out: Path) -> int:
    """Steps 3 and 4 of the demo: both capstones on a CPU-friendly schedule with the reference solutions."""
    from . import pick
    from .train import train_gan, train_vae

    steps = args.steps if args.steps is not None else pick(300, 10)
    schedule = dict(steps=steps, batch_size=pick(64, 32), save_every=pick(100, 5), data=args.data,
                    device=args.device, impl="solutions", progress=not args.quiet)
    failed, reports = 0, []
    for number, (name, train) in enumerate((("VAE", train_vae), ("GAN", train_gan)), start=3):
        print(f"\n== {number}. Training the {name} ({steps} steps, batch {schedule['batch_size']}, impl solutions) ==")
        try:
            run, metrics = train(out=out / name.lower(), **schedule)
        except _user_errors() as err:
            print(f"error: {err}", file=sys.stderr)
            failed = 1
            continue
        grids = sorted(run.glob(f"{name.lower()}_gen_imgs/gen_*.png"))
        final = metrics.get("final_losses", {})
        figure = (f"test negative ELBO {metrics['neg_elbo']:.1f} nats/image" if name == "VAE" else
                  f"final D loss {final['d_loss']:.3f}, G loss {final['g_loss']:.3f}")
        print(f"  {figure}; {len(grids)} sample grids ({grids[0].name} .. {grids[-1].name}), "
              f"{name}_output.png, metrics.json, checkpoint.pt in {run}")
        reports.append(run / "index.html")
    if reports:
        print("\nOpen the run reports in a browser:\n" + "\n".join(f"  {path}" for path in reports))
    return failed


def _train(args) -> int:
    from .train import train_gan, train_vae

    options = {k: getattr(args, k) for k in _COMMON if getattr(args, k, None) is not None}
    if args.model == "vae":
        options.update(lr=args.lr, beta=args.beta)
        train = train_vae
    else:
        options.update(lr_g=args.lr_g, lr_d=args.lr_d, real_label=args.real_label, max_grad_norm=args.max_grad_norm,
                       g_steps=args.g_steps)
        if args.translate is not None:
            options.update(translate=args.translate)
        if args.cutout is not None:
            options.update(cutout=args.cutout)
        if args.ema is not None:
            options.update(ema=args.ema)
        train = train_gan
    try:
        out, metrics = train(resume=args.resume, **options)
    except _user_errors() as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if metrics is not None:  # a finished run, on rank 0 of a torchrun run
        print(f"report: {out / 'index.html'}")
    return 0


_COMMON = ("device", "steps", "batch_size", "save_every", "log_every", "data", "out", "impl", "seed", "stop_after",
           "threads", "amp", "compile", "channels_last")


def _user_errors() -> tuple:
    """Errors that carry a message for the user (no traceback): bad device, impl, data or checkpoint."""
    from .data import DataError
    from .devices import DeviceUnavailableError
    from .notebooks import NotebookLoadError
    from .train import CheckpointError, ImplementationError

    return DeviceUnavailableError, ImplementationError, CheckpointError, DataError, NotebookLoadError


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or a positive integer, got {text}")
    return value


def _decay(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be a decay in [0, 1), got {text}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _add_train_parsers(sub) -> None:
    train = sub.add_parser("train", help="capstone training runs: train vae | train gan")
    models = train.add_subparsers(dest="model", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cuda, cuda:N, mps or cpu")
    common.add_argument("--batch-size", type=_positive, default=None, help="images per step (default 128)")
    common.add_argument("--save-every", type=_positive, default=None,
                        help="images and checkpoint every N steps, plus step 0 and the last step (default 100)")
    common.add_argument("--log-every", type=_positive, default=None,
                        help="refresh the progress bar's losses every N steps (default 25)")
    common.add_argument("--data", default="mnist", choices=("mnist", "fashion-mnist"))
    common.add_argument("--impl", default="solutions",
                        help="where the graded code comes from: solutions, exercises, or a folder of notebooks "
                             "(. = this folder) (default: solutions)")
    common.add_argument("--seed", type=int, default=0)
    common.add_argument("--threads", type=_positive, default=None,
                        help="CPU threads for torch (default: torch's choice; 1 is often fastest on a busy machine)")
    common.add_argument("--amp", choices=("none", "bf16"), default=None,
                        help="bf16: autocast the models' forward (CUDA; CPUs with AVX512-BF16/AMX); MPS stays float32")
    common.add_argument("--compile", action="store_true", default=None,
                        help="torch.compile the models (worth it on CUDA; a minute or more of compiling on a CPU)")
    common.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                        help="channels_last memory format (default: on for the CPU, and for CUDA with --amp bf16)")
    common.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt when it exists")
    common.add_argument("--stop-after", type=_positive, default=None, metavar="N",
                        help="stop after step N as if interrupted (keeps the last save point's checkpoint)")
    vae = models.add_parser("vae", parents=[common], help="train the VAE (Adam lr 1e-3, beta 1)",
                            description="Train the VAE of --impl on MNIST and write the capstone artifacts.")
    vae.add_argument("--steps", type=_positive, default=None,
                     help="optimizer steps (default 2300; 20 under COURSE_FAST=1)")
    vae.add_argument("--out", default=None, help="run folder (default runs/vae, under $COURSE_RUNS_DIR when set)")
    vae.add_argument("--lr", type=float, default=1e-3)
    vae.add_argument("--beta", type=float, default=1.0, help="weight of the KL term")
    gan = models.add_parser("gan", parents=[common], help="train the DCGAN (recipe of lesson 11)",
                            description="Train the GAN of --impl on MNIST and write the capstone artifacts.")
    gan.add_argument("--steps", type=_positive, default=None,
                     help="discriminator updates (default 9300; 20 under COURSE_FAST=1)")
    gan.add_argument("--out", default=None, help="run folder (default runs/gan, under $COURSE_RUNS_DIR when set)")
    gan.add_argument("--real-label", type=float, default=0.9, help="one-sided label smoothing target")
    gan.add_argument("--max-grad-norm", type=float, default=1.0, help="gradient clipping norm (0 turns it off)")
    gan.add_argument("--lr-g", type=float, default=2e-4)
    gan.add_argument("--lr-d", type=float, default=1e-4)
    gan.add_argument("--g-steps", type=_positive, default=2, help="generator updates per discriminator update")
    gan.add_argument("--translate", type=_non_negative, default=None, metavar="PIXELS",
                     help="DiffAugment: D sees real and generated images shifted by up to PIXELS "
                          "(0 turns it off; default: the recipe's)")
    gan.add_argument("--cutout", type=_non_negative, default=None, metavar="PIXELS",
                     help="DiffAugment: D sees real and generated images with a random PIXELS-wide square blanked "
                          "(0 turns it off; default: the recipe's)")
    gan.add_argument("--ema", type=_decay, default=None, metavar="DECAY",
                     help="also keep a moving average of G's weights with this decay (e.g. 0.999; warmed up as "
                          "min(DECAY, (1+t)/(10+t))), sampled and scored beside G as generator_ema.pt "
                          "(0 turns it off; default: off)")
    train.set_defaults(func=_train)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vaegan", description="VAE/GAN course helpers")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="data tour, grading of lesson 00 and short capstone runs (make demo)")
    demo.add_argument("--out", default=str(REPO / "runs" / "demo"))
    demo.add_argument("--data", default="mnist", choices=("mnist", "fashion-mnist"))
    demo.add_argument("--device", default="auto")
    demo.add_argument("--no-train", action="store_true", help="skip training the two capstones (steps 3 and 4)")
    demo.add_argument("--steps", type=_positive, default=None,
                      help="training steps of each capstone in the demo (default 300; 10 under COURSE_FAST=1)")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(func=_demo)
    _add_train_parsers(sub)
    return parser


def main(argv=None) -> int:
    os.environ.setdefault("MPLBACKEND", "Agg")
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
