"""Evidence for the GAN recipe defaults: the recipe and one-at-a-time ablations, short runs at fixed seeds.

    COURSE_OFFLINE=1 python benchmarks/recipe_evidence.py                 # recipe + ablations, 300 steps, seed 0
    COURSE_OFFLINE=1 python benchmarks/recipe_evidence.py --steps 600 --seeds 0 1 --threads 1 \\
        --configs recipe no_smoothing no_clipping lr_d_eq_lr_g g_steps_1 no_dcgan_init \\
                  instance_noise lsgan spectral_norm --out benchmarks/results/recipe_evidence.json

Each configuration trains the course's DCGAN pair (reference code from ``solutions/``) on MNIST
for ``--steps`` discriminator updates and reports simple quality signals: final D and G losses,
D's accuracy on real and fake batches, the largest gradient norm, and three sample statistics
on a fixed noise batch (pixel-wise std across the batch, distance to the nearest real digit,
and how many digit classes the nearest real digits cover).

The same module is lesson 11's experiment bench: ``GanConfig``, ``train_gan``,
``quality_signals`` and ``real_signals`` are imported there. Nothing runs at import time.
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from vaegan.data import TensorBatches, load_dataset
from vaegan.devices import get_device, seed_everything
from vaegan.notebooks import load_reference

NOISE_DIM = 100
BANK_SIZE = 2000  # real training digits used as the nearest-neighbour reference
EVAL_SAMPLES = 256  # fixed noise batch for the sample statistics


@dataclass(frozen=True)
class GanConfig:
    """One training recipe. The defaults are the course recipe (curriculum.md, "Recipes")."""

    lr_g: float = 2e-4
    lr_d: float = 1e-4
    betas: tuple = (0.5, 0.999)
    real_label: float = 0.9  # one-sided label smoothing (BCE loss only)
    max_grad_norm: float | None = 1.0  # None: no clipping (the norm is still measured)
    g_steps: int = 2  # generator updates per discriminator update
    dcgan_init: bool = True  # weights_init applied to G and D
    noise_std: float = 0.0  # instance noise std at step 0, annealed linearly to 0 at the last step
    loss: str = "bce"  # "bce" (non-saturating GAN) or "ls" (LSGAN)
    spectral_norm: bool = False  # spectral norm on D's conv layers, D's BatchNorm removed


RECIPE = GanConfig()
ABLATIONS = {  # one change at a time from the recipe
    "recipe": RECIPE,
    "no_smoothing": replace(RECIPE, real_label=1.0),
    "no_clipping": replace(RECIPE, max_grad_norm=None),
    "lr_d_eq_lr_g": replace(RECIPE, lr_d=RECIPE.lr_g),
    "g_steps_1": replace(RECIPE, g_steps=1),
    "no_dcgan_init": replace(RECIPE, dcgan_init=False),
}
ADDITIONS = {  # tricks the recipe does not use, added on top of it
    "instance_noise": replace(RECIPE, noise_std=0.2),
    "lsgan": replace(RECIPE, loss="ls"),
    "spectral_norm": replace(RECIPE, spectral_norm=True),
}
CONFIGS = {**ABLATIONS, **ADDITIONS}


# ---------------------------------------------------------------- reference code and data
@functools.lru_cache(maxsize=None)
def reference():
    """The reference module of lesson 11: graded names of 07-11 (its setup cell carries 07-10)."""
    return load_reference("11_stabilization")


@functools.lru_cache(maxsize=None)
def _digits() -> dict:
    """Training digits in [-1, 1] and fixed random subsets of them (whatever order the files have)."""
    train, test = load_dataset("mnist", "train"), load_dataset("mnist", "test")
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))
    bank, probe = order[:BANK_SIZE], order[BANK_SIZE:BANK_SIZE + 64]
    test_order = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))
    x = train.to_tanh_range()
    return {"train": x, "bank": x[bank], "bank_labels": train.labels[bank], "probe": x[probe],
            "test": test.to_tanh_range()[test_order], "source": train.source}


def training_images() -> torch.Tensor:
    """MNIST training digits in [-1, 1], (N, 1, 28, 28)."""
    return _digits()["train"]


def data_source() -> str:
    return _digits()["source"]


# ---------------------------------------------------------------- measurements
@torch.no_grad()
def quality_signals(samples: torch.Tensor) -> dict:
    """Sample statistics of ``samples`` (B, 1, 28, 28) in [-1, 1] against real training digits.

    pixel_std: std across the batch, averaged over pixels (0 for a collapsed generator).
    nn_distance: mean L2 distance to the nearest of BANK_SIZE real digits (lower looks more real).
    class_coverage: perplexity of the labels of those nearest digits (1 = one class, 10 = all, evenly).
    """
    images, labels = _digits()["bank"], _digits()["bank_labels"]
    x = samples.detach().to("cpu", torch.float32).flatten(1)  # (B, 784)
    distances = torch.cdist(x, images.flatten(1))  # (B, BANK_SIZE)
    nearest, index = distances.min(dim=1)
    share = torch.bincount(labels[index], minlength=10).double() / len(index)
    entropy = -(share[share > 0] * share[share > 0].log()).sum()
    return {"pixel_std": x.std(dim=0).mean().item(), "nn_distance": nearest.mean().item(),
            "class_coverage": entropy.exp().item()}


def real_signals(n: int = EVAL_SAMPLES) -> dict:
    """The same statistics for ``n`` held-out real test digits: what a perfect generator would score."""
    return quality_signals(_digits()["test"][:n])


def top_singular_value(w: torch.Tensor, iterations: int = 100) -> float:
    """Largest singular value of the matrix ``w`` by power iteration (matmuls only: fast on any CPU)."""
    v = torch.randn(w.shape[1], generator=torch.Generator().manual_seed(0)).to(w)
    for _ in range(iterations):
        u = nn.functional.normalize(w @ v, dim=0)
        v = nn.functional.normalize(w.T @ u, dim=0)
    return torch.dot(u, w @ v).item()


@torch.no_grad()
def layer_sigmas(D: nn.Module) -> list[float]:
    """Largest singular value of each conv/linear weight of ``D`` as used in the forward pass."""
    sigmas = []
    for m in D.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            w = m.weight.detach().flatten(1)  # (out, in * k * k); the normalized weight under spectral_norm
            sigmas.append(top_singular_value(w))
    return sigmas


def input_gradient_norm(D: nn.Module, x: torch.Tensor) -> float:
    """Mean over the batch of ||d D(x) / d x||: how steeply D's output changes around real digits."""
    x = x.detach().clone().requires_grad_(True)
    grad, = torch.autograd.grad(D(x).sum(), x)
    return grad.flatten(1).norm(dim=1).mean().item()


# ---------------------------------------------------------------- models
def spectral_normalize(D: nn.Module) -> nn.Module:
    """Wrap every conv/linear layer of ``D`` in spectral norm and replace its BatchNorm2d by Identity."""
    from torch.nn.utils.parametrizations import spectral_norm

    for parent in list(D.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.BatchNorm2d):
                setattr(parent, name, nn.Identity())  # BN would rescale the normalized layer again
            elif isinstance(child, (nn.Conv2d, nn.Linear)):
                setattr(parent, name, spectral_norm(child))
    return D


def build_models(config: GanConfig, device="cpu"):
    """G and D of the reference architecture, initialised as ``config`` says."""
    ref = reference()
    G, D = ref.Generator(NOISE_DIM).to(device), ref.Discriminator().to(device)
    if config.dcgan_init:
        G.apply(ref.weights_init)
        D.apply(ref.weights_init)  # before spectral_norm: init writes the raw weight
    if config.spectral_norm:
        spectral_normalize(D)
    return G, D


# ---------------------------------------------------------------- training
@dataclass
class Run:
    """A finished run: per-step history, periodic evaluations and the trained models."""

    name: str
    config: GanConfig
    num_steps: int
    batch_size: int
    seed: int
    history: dict = field(default_factory=dict)  # name -> list, one value per step
    evals: list = field(default_factory=list)  # dicts with "step" and the measurements
    G: nn.Module | None = None
    D: nn.Module | None = None
    wall_s: float = 0.0

    def last(self, key: str, n: int = 50) -> float:
        """Mean of the last ``n`` values of ``history[key]``."""
        values = self.history[key][-n:]
        return sum(values) / len(values)

    def final(self, key: str):
        return self.evals[-1][key]

    def summary(self, n: int = 50) -> dict:
        """Final signals: losses and accuracies averaged over the last ``n`` steps, sample statistics at the end."""
        return {
            "d_loss": self.last("d_loss", n), "g_loss": self.last("g_loss", n),
            "acc_real": self.last("acc_real", n), "acc_fake": self.last("acc_fake", n),
            "grad_norm_D_max": max(self.history["grad_norm_D"]),
            "grad_norm_G_max": max(self.history["grad_norm_G"]),
            **{k: self.final(k) for k in ("pixel_std", "nn_distance", "class_coverage")},
            "wall_s": self.wall_s,
        }


def _d_losses(config: GanConfig):
    ref = reference()
    if config.loss == "ls":  # targets 1 and 0; D's output is a score, "real" when above 1/2
        return ref.ls_discriminator_loss, ref.ls_generator_loss, 0.5
    d_loss = functools.partial(ref.discriminator_loss, real_label=config.real_label)
    return d_loss, ref.generator_loss, 0.0  # logits: "real" when above 0


def train_gan(config: GanConfig = RECIPE, num_steps: int = 300, batch_size: int = 64, seed: int = 0,
              eval_every: int = 50, device="cpu", name: str = "", eval_samples: int = EVAL_SAMPLES) -> Run:
    """Train G and D from scratch with ``config``; one step = one D update and ``g_steps`` G updates.

    Records every step: d_loss, g_loss, acc_real, acc_fake (D's accuracy on the batch it just
    trained on), grad_norm_D, grad_norm_G (global norms before clipping), mean_real_out,
    mean_fake_out. Every ``eval_every`` steps (and at steps 0 and ``num_steps``):
    ``quality_signals`` on ``eval_samples`` fixed noise vectors (G in eval mode), D's layer
    sigmas and its input-gradient norm on 64 real digits.
    """
    ref = reference()
    seed_everything(seed)
    G, D = build_models(config, device)
    opt_G, opt_D = ref.make_optimizers(G, D, lr_g=config.lr_g, lr_d=config.lr_d, betas=config.betas)
    d_loss_fn, g_loss_fn, threshold = _d_losses(config)
    max_norm = config.max_grad_norm if config.max_grad_norm is not None else math.inf
    batches = TensorBatches(training_images(), batch_size, device=device, seed=seed).forever()
    fixed_noise = torch.randn(eval_samples, NOISE_DIM, generator=torch.Generator().manual_seed(1234)).to(device)
    probe_real = _digits()["probe"].to(device)  # 64 real digits D's input gradient is measured on

    keys = ("d_loss", "g_loss", "acc_real", "acc_fake", "grad_norm_D", "grad_norm_G", "mean_real_out", "mean_fake_out")
    run = Run(name or "run", config, num_steps, batch_size, seed, history={k: [] for k in keys}, G=G, D=D)

    def evaluate(step):
        G.eval()
        with torch.no_grad():
            signals = quality_signals(G(fixed_noise))
        G.train()
        run.evals.append({"step": step, **signals, "sigmas": layer_sigmas(D),
                          "input_grad_norm": input_gradient_norm(D, probe_real)})

    start = time.perf_counter()
    evaluate(0)
    for step in range(num_steps):
        real = next(batches)  # (B, 1, 28, 28) in [-1, 1]
        std = config.noise_std * (1 - step / max(1, num_steps - 1))  # annealed to 0 at the last step

        # Discriminator: real vs a detached fake batch, both noised when instance noise is on.
        fake = G(ref.sample_noise(batch_size, NOISE_DIM, device=device)).detach()
        if std > 0:
            real, fake = ref.instance_noise(real, std), ref.instance_noise(fake, std)
        real_out, fake_out = D(real), D(fake)  # (B, 1) each
        d_loss = d_loss_fn(real_out, fake_out)
        opt_D.zero_grad()
        d_loss.backward()
        grad_norm_D = ref.clip_gradients(D, max_norm)  # after backward(), before step()
        opt_D.step()

        # Generator: g_steps updates through the fixed D (fresh noise each time).
        for _ in range(config.g_steps):
            fake = G(ref.sample_noise(batch_size, NOISE_DIM, device=device))
            if std > 0:
                fake = ref.instance_noise(fake, std)  # D must see fakes as it saw them in training
            g_loss = g_loss_fn(D(fake))
            opt_G.zero_grad()
            g_loss.backward()
            grad_norm_G = ref.clip_gradients(G, max_norm)
            opt_G.step()

        record = (d_loss.item(), g_loss.item(), (real_out > threshold).float().mean().item(),
                  (fake_out <= threshold).float().mean().item(), float(grad_norm_D), float(grad_norm_G),
                  real_out.mean().item(), fake_out.mean().item())
        for key, value in zip(keys, record):
            run.history[key].append(value)
        if (step + 1) % eval_every == 0 or step + 1 == num_steps:
            evaluate(step + 1)
    run.wall_s = time.perf_counter() - start
    return run


# ---------------------------------------------------------------- the benchmark
COLUMNS = ("d_loss", "g_loss", "acc_real", "acc_fake", "grad_norm_D_max", "pixel_std", "nn_distance",
           "class_coverage", "wall_s")


def _mean(values):
    return sum(values) / len(values)


def format_table(results: dict, real: dict) -> str:
    """Markdown table: one row per configuration, seed means (and the spread over seeds when >1)."""
    head = "| config | " + " | ".join(COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 1)]
    for name, entry in results.items():
        cells = []
        for col in COLUMNS:
            values = [s[col] for s in entry["per_seed"]]
            text = f"{_mean(values):.3g}" if col != "wall_s" else f"{_mean(values):.0f}"
            if len(values) > 1 and col != "wall_s":
                text += f" ±{(max(values) - min(values)) / 2:.2g}"
            cells.append(text)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("| real test digits | | | | | | " + " | ".join(f"{real[k]:.3g}" for k in
                 ("pixel_std", "nn_distance", "class_coverage")) + " | |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300, help="D updates per run (default 300)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--configs", nargs="+", choices=sorted(CONFIGS), default=list(ABLATIONS),
                        help="default: the recipe and its ablations; add instance_noise lsgan spectral_norm")
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--out", type=Path, default=None, help="JSON file to write")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = get_device(args.device)

    started = time.perf_counter()
    real = real_signals()
    results = {}
    for name in args.configs:
        per_seed = []
        for seed in args.seeds:
            run = train_gan(CONFIGS[name], args.steps, args.batch_size, seed, args.eval_every, device, name)
            per_seed.append({"seed": seed, **run.summary()})
            print(f"{name:>15} seed {seed}: " + "  ".join(f"{k} {per_seed[-1][k]:.3g}" for k in COLUMNS), flush=True)
        config = asdict(CONFIGS[name])
        results[name] = {"config": config, "per_seed": per_seed,
                         "mean": {k: _mean([s[k] for s in per_seed]) for k in COLUMNS}}
    table = format_table(results, real)
    print()
    print(table)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "steps": args.steps, "batch_size": args.batch_size, "seeds": args.seeds, "device": str(device),
            "torch": torch.__version__, "threads": torch.get_num_threads(), "python": platform.python_version(),
            "data": data_source(), "wall_s": time.perf_counter() - started,
            "signals": "losses and accuracies: mean of the last 50 steps; sample statistics: at the last step "
                       f"on {EVAL_SAMPLES} fixed noise vectors; grad_norm_D_max: largest D gradient norm "
                       "before clipping; wall_s depends on the machine's load",
            "real_test_digits": real, "results": results, "table": table,
        }
        args.out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
