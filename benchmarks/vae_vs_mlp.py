"""The course's conv VAE against a classic MLP VAE (784-400-20, as in pytorch/examples), same data and steps.

    COURSE_OFFLINE=1 .venv/bin/python benchmarks/vae_vs_mlp.py                  # 2,300 steps, batch 128, CPU
    .venv/bin/python benchmarks/vae_vs_mlp.py --device cuda --steps 2300 --out benchmarks/results/cuda.json

The conv VAE is the reference solution trained by the capstone engine (``train_vae``). The MLP
VAE is written here (it is not graded code): 784 -> 400 -> (mu, logvar) of 20, 20 -> 400 -> 784
logits, ReLU, Adam ``1e-3``, the same loss (BCE summed over pixels + KL, batch mean). Both see
the same batches (``TensorBatches`` with the same seed) for the same number of steps, and both
are scored with the reference ``vae_evaluate``: test negative ELBO, ``z`` sampled, nats per image.
Wall times are the training loops (save points included for the engine) and the whole call.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from vaegan.data import TensorBatches  # noqa: E402
from vaegan.devices import get_device, seed_everything  # noqa: E402
from vaegan.notebooks import load_reference  # noqa: E402
from vaegan.train import train_vae  # noqa: E402
from vaegan.train.engine import isolated_rng, load_splits  # noqa: E402

DEFAULT_OUT = REPO / "benchmarks" / "results" / "vae_vs_mlp.json"


class MLPVAE(nn.Module):
    """Fully connected VAE: 784 -> 400 -> 2 x latent_dim; latent_dim -> 400 -> 784 logits."""

    def __init__(self, hidden: int = 400, latent_dim: int = 20):
        super().__init__()
        self.hidden = nn.Linear(784, hidden)
        self.to_mu = nn.Linear(hidden, latent_dim)
        self.to_logvar = nn.Linear(hidden, latent_dim)
        self.from_z = nn.Linear(latent_dim, hidden)
        self.to_pixels = nn.Linear(hidden, 784)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.relu(self.hidden(x.flatten(1)))  # (B, 784) -> (B, 400)
        return self.to_mu(h), self.to_logvar(h)  # (B, latent_dim) each

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.from_z(z))  # (B, 400)
        return self.to_pixels(h).view(-1, 1, 28, 28)  # logits (B, 1, 28, 28)

    def forward(self, x: torch.Tensor):
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)  # reparameterization
        return self.decode(z), mu, logvar


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_batches(test, device) -> TensorBatches:
    return TensorBatches(test.images, batch_size=1000, device=device, shuffle=False, drop_last=False)


def run_conv(args, device, ref) -> dict:
    """The reference conv VAE through the capstone engine (images only at step 0 and the last step)."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        _, metrics = train_vae(impl="solutions", steps=args.steps, batch_size=args.batch_size, seed=args.seed,
                               save_every=10 * args.steps, device=str(device), threads=args.threads,
                               out=Path(tmp) / "vae", progress=False)
        total = time.perf_counter() - start
    model = ref.VAE(latent_dim=32)
    return {"model": "conv VAE (course, latent 32)", "parameters": count_parameters(model),
            "train_seconds": round(metrics["seconds_per_100_steps"] * args.steps / 100, 2),
            "seconds_per_100_steps": metrics["seconds_per_100_steps"], "total_seconds": round(total, 2),
            **{k: round(metrics[k], 3) for k in ("neg_elbo", "recon", "kl")}, "test_images": metrics["test_images"]}


def run_mlp(args, device, ref) -> dict:
    """The MLP VAE with the same batches, steps and optimizer; the loss is the reference ``vae_loss``."""
    train, test = load_splits("mnist")
    start = time.perf_counter()
    seed_everything(args.seed)
    model = MLPVAE().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = TensorBatches(train.images, batch_size=args.batch_size, device=device, seed=args.seed).forever()
    loop_start = time.perf_counter()
    losses = []
    for _ in range(args.steps):
        losses.append(ref.vae_train_step(model, next(batches), optimizer)["loss"])
    final_train = torch.stack(losses[-100:]).mean().item()  # one host sync, after the loop
    train_seconds = time.perf_counter() - loop_start
    with isolated_rng(device, args.seed):
        result = ref.vae_evaluate(model, test_batches(test, device))
    return {"model": "MLP VAE (784-400-20)", "parameters": count_parameters(model),
            "train_seconds": round(train_seconds, 2),
            "seconds_per_100_steps": round(100 * train_seconds / args.steps, 3),
            "total_seconds": round(time.perf_counter() - start, 2),
            **{k: round(float(result[k]), 3) for k in ("neg_elbo", "recon", "kl")}, "test_images": len(test),
            "train_loss_last_100": round(final_train, 3)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2300)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, mps or auto")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: steady on a shared CPU)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON file to write")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = get_device(args.device)
    ref = load_reference("05_training_the_vae")  # vae_train_step, vae_evaluate (and the reference VAE)
    train, test = load_splits("mnist")
    rows = [run_conv(args, device, ref), run_mlp(args, device, ref)]
    print(f"{args.steps} steps, batch {args.batch_size}, {train.source} data ({len(train)} train / {len(test)} test), "
          f"device {device}, {args.threads} thread(s)")
    print(f"{'model':30} {'params':>8} {'train s':>8} {'s/100':>7} {'neg ELBO':>9} {'recon':>7} {'KL':>6}")
    for r in rows:
        print(f"{r['model']:30} {r['parameters']:8d} {r['train_seconds']:8.1f} {r['seconds_per_100_steps']:7.2f} "
              f"{r['neg_elbo']:9.2f} {r['recon']:7.2f} {r['kl']:6.2f}")
    payload = {"steps": args.steps, "batch_size": args.batch_size, "seed": args.seed, "device": str(device),
               "threads": args.threads, "data": train.source, "train_images": len(train), "test_images": len(test),
               "metric": "test negative ELBO, z sampled, nats per image (reference vae_evaluate)",
               "torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform(),
               "results": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
