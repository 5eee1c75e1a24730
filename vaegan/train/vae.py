"""The VAE capstone run (``python -m vaegan train vae``): the graded ``vae_train_step`` on MNIST, with artifacts.

Writes under ``out``: ``vae_gen_imgs/gen_{step:05d}.png`` (a fixed latent batch decoded),
``vae_recon_imgs/recon_{step:05d}.png`` (fixed test digits over their reconstructions) at
step 0, every ``save_every`` steps and the last step; ``VAE_output.png`` (BCE and KLD
curves); ``checkpoint.pt`` (for ``resume``); ``vae.pt`` (final ``state_dict``),
``metrics.json`` (test negative ELBO with sampled ``z``, schedule, device, seed, wall time) and
``index.html`` (the run's report: grids over steps, loss curves, metrics, settings).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..data import TensorBatches
from ..devices import seed_everything
from ..plots import plot_losses, save_image_grid, save_reconstruction_pairs
from .ddp import ShardedBatches
from .engine import (CHECKPOINT, FIXED_BATCH, REPORT, Clock, LossLog, RunConfig, TrainResult, capture_rng,
                     fixed_normal, isolated_rng, load_splits, launch, resume_rng, run_record,
                     save_checkpoint, save_weights, saved_steps_of, start_run, train_loop, write_json)
from .impl import VAE_NAMES, ImplementationError
from .report import write_report

IMAGE_DIRS = {"vae_gen_imgs": "gen", "vae_recon_imgs": "recon"}
FILES = ("vae.pt", "VAE_output.png")
LOSS_KEYS = ("loss", "recon", "kl")
EVAL_BATCH = 1000


@dataclass
class VAEConfig(RunConfig):
    """Recipe: Adam lr 1e-3, batch 128, 2,300 steps, beta 1 (``shared/curriculum.md``)."""

    lr: float = 1e-3
    beta: float = 1.0
    latent_dim: int = 32

    KIND = "vae"
    DEFAULT_STEPS = (2300, 20)
    MUST_MATCH = ("batch_size", "data", "seed", "lr", "beta", "latent_dim")


def one_per_class(images: torch.Tensor, labels: torch.Tensor, classes: int = 10) -> torch.Tensor:
    """The first image of each class, ``(classes, 1, 28, 28)``: the fixed originals of the reconstruction grid."""
    picks = [int(torch.nonzero(labels == c)[0]) for c in range(classes) if bool((labels == c).any())]
    return images[picks]


def save_vae_images(model, fixed_z, fixed_x, out: Path, step: int, device, seed: int) -> None:
    """Decode the fixed latent batch and reconstruct the fixed originals, in eval() mode, then back to train()."""
    model.eval()
    with torch.no_grad(), isolated_rng(device, seed):
        samples = torch.sigmoid(model.decoder(fixed_z))  # (64, 1, 28, 28) in [0, 1]
        x_logits, _, _ = model(fixed_x)
    model.train()
    save_image_grid(samples, out / "vae_gen_imgs" / f"gen_{step:05d}.png", nrow=8)
    save_reconstruction_pairs(fixed_x, torch.sigmoid(x_logits), out / "vae_recon_imgs" / f"recon_{step:05d}.png",
                              n=fixed_x.shape[0])


def evaluate(impl, model, test, device, seed: int) -> dict:
    """``vae_evaluate`` over the whole test split (sampled ``z``, seeded so the figure is reproducible)."""
    batches = TensorBatches(test.images, batch_size=min(EVAL_BATCH, len(test)), device=device,
                            shuffle=False, drop_last=False)
    model.eval()
    with isolated_rng(device, seed):
        result = impl.vae_evaluate(model, batches)
    model.train()
    return {k: float(result[k]) for k in ("neg_elbo", "recon", "kl")}


QUALITY_SAMPLES = (2000, 500)  # decoded prior samples scored at the end of a run (normal, COURSE_FAST=1)


def quality_metrics(model, test, device, seed: int, latent_dim: int = 32) -> dict | None:
    """Sample quality of the VAE's prior samples ``sigmoid(decoder(z))``, ``z ~ N(0, I)``, for ``metrics.json``:
    classifier FD (with the FD floor of as many real training digits), classifier score, class histogram.

    Same evaluator and figures as the GAN's ``quality_metrics``; ``model`` should be in eval() mode and the
    caller seeds the global generator. A failure is reported as ``{"error": ...}``.
    """
    import sys

    from .. import pick
    from ..metrics import sample_quality

    try:
        train, _ = load_splits(test.name)
        return sample_quality(lambda b: torch.sigmoid(model.decoder(torch.randn(b, latent_dim, device=device))),
                              train, test, n=pick(*QUALITY_SAMPLES), value_range=(0, 1), device=device, seed=seed)
    except Exception as err:  # noqa: BLE001 - the run is finished; report, do not crash
        print(f"warning: sample-quality metrics failed ({err.__class__.__name__}: {err})", file=sys.stderr)
        return {"error": f"{err.__class__.__name__}: {str(err)[:300]}"}


def build_vae(cfg: VAEConfig, impl, device, speed):
    """The VAE of ``impl`` and its Adam as a run trains them (``benchmarks/bench.py`` times the same objects)."""
    model = impl.VAE(latent_dim=cfg.latent_dim).to(device)
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "decoder"):
        raise ImplementationError("VAE must be an nn.Module with a .decoder (see exercise 04)")
    speed.prepare(model)  # in place: memory format, autocast, compile; same state_dict keys
    return model, torch.optim.Adam(model.parameters(), lr=cfg.lr, **speed.adam_flags)


def train_vae(config: VAEConfig | None = None, **options) -> TrainResult:
    """Train the VAE of ``impl`` and write the capstone artifacts; returns ``(out, metrics)``.

    ``options`` are ``VAEConfig`` fields: ``steps``, ``batch_size``, ``save_every``, ``log_every``,
    ``data``, ``out``, ``impl``, ``seed``, ``device``, ``resume``, ``stop_after``, ``progress``, ``threads``,
    ``amp``, ``compile``, ``channels_last``, ``lr``, ``beta``, ``latent_dim``. Unset ones take the recipe
    (tiny under ``COURSE_FAST=1``). Under ``torchrun`` every process calls it (see ``vaegan.train.ddp``);
    rank 0 writes the artifacts and gets the metrics, the other ranks get ``(out, None)``.
    """
    cfg = (config or VAEConfig()).updated(**options).with_defaults()
    return launch(cfg, VAE_NAMES, _run)


def _run(cfg: VAEConfig, impl, device, dist, speed) -> TrainResult:
    out, ckpt_path, state = start_run(cfg, "vae", dist, IMAGE_DIRS, FILES)
    resuming = state is not None
    seed_everything(cfg.seed + dist.rank)  # z differs per rank; rank 0 draws what a single process draws
    train, test = load_splits(cfg.data)
    batches = ShardedBatches(train.images, batch_size=cfg.batch_size, device=device, seed=cfg.seed,
                             rank=dist.rank, world_size=dist.world_size)  # this rank's shard of each epoch
    model, optimizer = build_vae(cfg, impl, device, speed)
    fixed_z = fixed_normal((FIXED_BATCH, cfg.latent_dim), cfg.seed, device)  # (64, latent_dim)
    fixed_x = one_per_class(test.images, test.labels).to(device)  # (10, 1, 28, 28)

    step, history, clock = 0, None, Clock()
    if resuming:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        batches.load_state_dict(state["data"])
        step, history, clock = state["step"], state["history"], Clock(state["wall_time_s"])
        resume_rng(state, out, dist.rank, verbose=dist.is_main)
    net = dist.wrap(model, device)  # DDP for several processes (after loading: all ranks start from rank 0's)
    saved_steps = saved_steps_of(state)  # images on disk, across resumed sessions (rank 0 keeps it)
    log = LossLog(LOSS_KEYS, history, device, "vae_train_step", reduce=dist.mean if dist.enabled else None)

    def save_point(at: int) -> None:
        rng_ranks = dist.gather(capture_rng()) if dist.enabled else None  # every rank's RNG, for --resume
        if not dist.is_main:
            return
        save_vae_images(model, fixed_z, fixed_x, out, at, device, cfg.seed)
        if at not in saved_steps:  # a resumed run replays the steps after its checkpoint
            saved_steps.append(at)
        save_checkpoint(ckpt_path, {
            "kind": "vae", "step": at, "saved_steps": list(saved_steps), "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "data": batches.state_dict(), "history": log.history, "config": cfg.plain(),
            "wall_time_s": clock.total(), "world_size": dist.world_size,
            **({"rng_ranks": rng_ranks} if rng_ranks else {}),
        })

    if not resuming:
        save_point(0)
    start_step = step
    loop = train_loop(cfg, step, batches.forever(),
                      lambda x: impl.vae_train_step(net, x, optimizer, beta=cfg.beta),  # x: (B, 1, 28, 28) in [0, 1]
                      log, save_point, "VAE", lambda m: {"bce": f"{m['recon']:.1f}", "kld": f"{m['kl']:.1f}"},
                      device=device)
    if loop.stopped or not dist.is_main:
        return TrainResult(out, None)

    save_weights(model, out / "vae.pt")
    plot_losses({"BCE (reconstruction)": log.history["recon"], "KLD": log.history["kl"]}, out / "VAE_output.png",
                title=f"VAE training losses ({cfg.data}, batch {cfg.batch_size})")
    test_metrics = evaluate(impl, model, test, device, cfg.seed)
    model.eval()
    with isolated_rng(device, cfg.seed):
        quality = quality_metrics(model, test, device, cfg.seed, cfg.latent_dim)
    model.train()
    metrics = {
        "kind": "vae",
        "neg_elbo": test_metrics["neg_elbo"],  # nats per image, test split, z sampled
        "recon": test_metrics["recon"],
        "kl": test_metrics["kl"],
        "test_images": len(test),
        "z": "sampled",
        "quality": quality,  # prior samples: classifier FD (with its floor), classifier score, class histogram
        "train_final": log.recent(100),
        "steps": cfg.steps,
        "batch_size": cfg.batch_size,
        "save_every": cfg.save_every,
        "saved_steps": saved_steps,  # every saved grid step (a resumed run may have changed --save-every)
        "optimizer": "Adam",
        "lr": cfg.lr,
        "beta": cfg.beta,
        "latent_dim": cfg.latent_dim,
        **run_record(cfg, train, device, clock, loop, dist, speed, resumed=start_step > 0, impl=impl),
        "artifacts": ["vae_gen_imgs/", "vae_recon_imgs/", "VAE_output.png", CHECKPOINT, "vae.pt", "metrics.json",
                      REPORT],
    }
    write_json(out / "metrics.json", metrics)
    write_report(out)
    if cfg.progress:
        print(f"VAE: test negative ELBO {metrics['neg_elbo']:.2f} nats/image (recon {metrics['recon']:.2f}, "
              f"KL {metrics['kl']:.2f}) after {cfg.steps} steps in {metrics['wall_time_s']:.1f} s; artifacts in {out}")
    return TrainResult(out, metrics)
