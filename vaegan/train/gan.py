"""The GAN capstone run (``python -m vaegan train gan``): the graded ``gan_train_step`` on MNIST, with artifacts.

Writes under ``out``: ``gan_gen_imgs/gen_{step:05d}.png`` (the generator on fixed noise, in
eval() mode) at step 0, every ``save_every`` steps and the last step; ``GAN_output.png``
(discriminator and generator losses); ``checkpoint.pt``; ``generator.pt`` and
``discriminator.pt`` (final ``state_dict``s), ``metrics.json`` (schedule, recipe,
device, seed, wall time, final losses; ``quality`` is filled by ``quality_metrics``) and
``index.html`` (the run's report: grids over steps, loss curves, metrics, settings). With ``ema``
(a moving average of G's weights, ``vaegan.train.ema``) also ``gan_ema_imgs/ema_{step:05d}.png``,
``generator_ema.pt`` and ``metrics.json["quality_ema"]``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

import torch

from ..devices import seed_everything
from ..plots import plot_losses, save_image_grid
from .ddp import ShardedBatches
from .engine import (CHECKPOINT, FIXED_BATCH, REPORT, Clock, LossLog, RunConfig, TrainResult, capture_rng,
                     fixed_normal, isolated_rng, load_splits, launch, resume_rng, run_record,
                     save_checkpoint, save_weights, saved_steps_of, start_run, train_loop, write_json)
from .augment import augment_discriminator
from .ema import WeightAverage
from .impl import GAN_NAMES, ImplementationError
from .report import write_report

IMAGE_DIRS = {"gan_gen_imgs": "gen", "gan_ema_imgs": "ema"}
FILES = ("generator.pt", "discriminator.pt", "GAN_output.png", "generator_ema.pt")
LOSS_KEYS = ("d_loss", "g_loss")


@dataclass
class GANConfig(RunConfig):
    """Recipe: Adam lr_g 2e-4, lr_d 1e-4, betas (0.5, 0.999), batch 128, 9,300 steps, real label 0.9,
    gradients clipped to norm 1.0, two generator updates per discriminator update, DCGAN init."""

    lr_g: float = 2e-4
    lr_d: float = 1e-4
    betas: tuple = (0.5, 0.999)
    real_label: float = 0.9
    max_grad_norm: float | None = 1.0  # None (or <= 0) turns clipping off
    g_steps: int = 2
    noise_dim: int = 100
    translate: int = 0  # DiffAugment: D sees images shifted by up to this many pixels (vaegan.train.augment)
    cutout: int = 0  # DiffAugment: D sees each image with a random square this many pixels wide blanked
    ema: float = 0.0  # decay of a moving average of G's weights, sampled beside G (vaegan.train.ema); 0: none

    KIND = "gan"
    DEFAULT_STEPS = (9300, 20)
    MUST_MATCH = ("batch_size", "data", "seed", "lr_g", "lr_d", "betas", "real_label", "max_grad_norm", "g_steps",
                  "noise_dim", "translate", "cutout", "ema")
    ABSENT_MEANS: ClassVar[dict] = {"translate": 0, "cutout": 0, "ema": 0.0}  # checkpoints from before these options

    def with_defaults(self) -> "GANConfig":
        cfg = super().with_defaults()
        clip = cfg.max_grad_norm if cfg.max_grad_norm is not None and cfg.max_grad_norm > 0 else None
        for name in ("translate", "cutout"):
            pixels = getattr(cfg, name)
            if (isinstance(pixels, bool) or not isinstance(pixels, (int, float)) or not float(pixels).is_integer()
                    or pixels < 0):
                raise ValueError(f"{name} must be a whole number of pixels, 0 or more, got {pixels!r}")
        ema = cfg.ema
        if isinstance(ema, bool) or not isinstance(ema, (int, float)) or not 0.0 <= ema < 1.0:
            raise ValueError(f"ema must be a decay in [0, 1) (0 turns the moving average off), got {ema!r}")
        return replace(cfg, max_grad_norm=clip, betas=tuple(float(b) for b in cfg.betas), translate=int(cfg.translate),
                       cutout=int(cfg.cutout), ema=float(ema))


def truncated_noise(n: int, dim: int, threshold: float | None = None, device=None,
                    generator: torch.Generator | None = None,
                    redraws: torch.Generator | None = None) -> torch.Tensor:
    """(n, dim) noise for G: standard normal, or with ``threshold`` every entry beyond +-threshold drawn again
    until none is (the truncation trick, Brock et al. 2019, *Large Scale GAN Training*, section 3.1).

    Truncated noise stays near the centre of the latent space; in BigGAN samples gain fidelity and lose
    variety. The course's DCGAN is not helped: below T = 1.5 its score falls and its FD rises. Its first
    layer is affine in z and eval()-mode BatchNorm is a fixed affine map, so as |z| shrinks every sample
    moves towards the one image G draws for z = 0 (lesson 13, section 8; ``benchmarks/gan_truncation.py``). Plain draws come from ``generator`` (default: the global one) and
    the entries beyond the bound are drawn again from ``redraws`` (default: ``generator``): with a
    generator of their own, every entry inside the bound is the plain draw of the same seed, whatever the
    bound, and a large threshold gives exactly ``torch.randn(n, dim)``.
    """
    z = torch.randn(n, dim, device=device, generator=generator)
    if threshold is None:
        return z
    try:
        bound = float(threshold) if not isinstance(threshold, (bool, str)) else float("nan")
    except (TypeError, ValueError):
        bound = float("nan")
    if not bound >= 0.05:
        raise ValueError(f"threshold must be a number of standard deviations, at least 0.05, got {threshold!r}")
    redraws = generator if redraws is None else redraws
    outside = z.abs() > bound
    while outside.any():  # each pass keeps at least P(|z| <= 0.05) = 4% of what is left
        z[outside] = torch.randn(int(outside.sum()), device=device, generator=redraws)
        outside = z.abs() > bound
    return z


QUALITY_SAMPLES = (2000, 500)  # generated images scored at the end of a run (normal, COURSE_FAST=1)


def quality_metrics(G, test, device, seed: int, noise_dim: int | None = None) -> dict | None:
    """Sample quality for ``metrics.json["quality"]``: classifier FD, classifier score and class histogram of
    ``QUALITY_SAMPLES`` generated images, with the FD floor (as many real training digits) beside them.

    Uses the course evaluator (``vaegan.metrics``; cached in the data root, trained on first use; a tiny
    one under ``COURSE_FAST=1``). ``G`` should be in eval() mode; noise comes from the global generator
    (the caller seeds it). A failure is reported as ``{"error": ...}`` instead of losing the finished run.
    """
    import sys

    from .. import pick
    from ..metrics import sample_quality

    noise_dim = int(noise_dim or getattr(G, "noise_dim", 100))
    try:
        train, _ = load_splits(test.name)
        return sample_quality(lambda b: G(torch.randn(b, noise_dim, device=device)), train, test,
                              n=pick(*QUALITY_SAMPLES), value_range=(-1, 1), device=device, seed=seed)
    except Exception as err:  # noqa: BLE001 - the run is finished; report, do not crash
        print(f"warning: sample-quality metrics failed ({err.__class__.__name__}: {err})", file=sys.stderr)
        return {"error": f"{err.__class__.__name__}: {str(err)[:300]}"}


def save_gan_images(G, fixed_noise, out: Path, step: int, folder: str = "gan_gen_imgs") -> None:
    """The generator on the fixed noise batch, in eval() mode (BatchNorm running statistics), then back to
    the mode it was in."""
    was_training = G.training
    G.eval()
    with torch.no_grad():
        fake = G(fixed_noise)  # (64, 1, 28, 28) in [-1, 1]
    G.train(was_training)
    save_image_grid(fake, out / folder / f"{IMAGE_DIRS[folder]}_{step:05d}.png", nrow=8, value_range=(-1, 1))


def build_gan(cfg: GANConfig, impl, device, speed):
    """G, D (DCGAN init) and their optimizers as a run trains them (``benchmarks/bench.py`` times the same)."""
    G = impl.Generator(noise_dim=cfg.noise_dim).to(device)
    D = impl.Discriminator().to(device)
    if not (isinstance(G, torch.nn.Module) and isinstance(D, torch.nn.Module)):
        raise ImplementationError("Generator and Discriminator must be nn.Modules (exercises 07 and 08)")
    G.apply(impl.weights_init)
    D.apply(impl.weights_init)
    speed.prepare(G)  # in place: memory format, autocast, compile; same state_dict keys
    speed.prepare(D)
    opt_G, opt_D = impl.make_optimizers(G, D, lr_g=cfg.lr_g, lr_d=cfg.lr_d, betas=cfg.betas)
    return G, D, speed.optimizer(opt_G), speed.optimizer(opt_D)  # fused/foreach Adam, same hyper-parameters


def train_gan(config: GANConfig | None = None, **options) -> TrainResult:
    """Train the GAN of ``impl`` and write the capstone artifacts; returns ``(out, metrics)``.

    ``options`` are ``GANConfig`` fields: the common ``steps``, ``batch_size``, ``save_every``,
    ``log_every``, ``data``, ``out``, ``impl``, ``seed``, ``device``, ``resume``, ``stop_after``,
    ``progress``, ``threads``, ``amp``, ``compile``, ``channels_last`` and the recipe ``lr_g``, ``lr_d``,
    ``betas``, ``real_label``, ``max_grad_norm``, ``g_steps``, ``noise_dim``, ``translate`` and ``cutout``
    (DiffAugment) and ``ema`` (a moving average of G).
    Unset ones take the recipe (tiny under ``COURSE_FAST=1``). Under ``torchrun`` every process calls it (see ``vaegan.train.ddp``);
    rank 0 writes the artifacts and gets the metrics, the other ranks get ``(out, None)``.
    """
    cfg = (config or GANConfig()).updated(**options).with_defaults()
    return launch(cfg, GAN_NAMES, _run)


def _run(cfg: GANConfig, impl, device, dist, speed) -> TrainResult:
    out, ckpt_path, state = start_run(cfg, "gan", dist, IMAGE_DIRS, FILES)
    resuming = state is not None
    seed_everything(cfg.seed + dist.rank)  # noise differs per rank; rank 0 draws what a single process draws
    train, test = load_splits(cfg.data)
    batches = ShardedBatches(train.to_tanh_range(), batch_size=cfg.batch_size, device=device, seed=cfg.seed,
                             rank=dist.rank, world_size=dist.world_size)  # this rank's shard of each epoch
    # G and D are the plain modules (weights_init, sample grids, checkpoints, weights); G_net and D_net
    # are what the graded step trains: the same modules, in DDP when several processes run.
    G, D, opt_G, opt_D = build_gan(cfg, impl, device, speed)
    fixed_noise = fixed_normal((FIXED_BATCH, cfg.noise_dim), cfg.seed, device)  # (64, noise_dim), standard normal

    step, history, clock = 0, None, Clock()
    if resuming:
        G.load_state_dict(state["generator"])
        D.load_state_dict(state["discriminator"])
        opt_G.load_state_dict(state["opt_G"])
        opt_D.load_state_dict(state["opt_D"])
        batches.load_state_dict(state["data"])
        step, history, clock = state["step"], state["history"], Clock(state["wall_time_s"])
        resume_rng(state, out, dist.rank, verbose=dist.is_main)
    G_net, D_net = dist.wrap(G, device), dist.wrap(D, device)  # after loading: all ranks start from rank 0's
    ema = None
    if cfg.ema:  # after wrapping: every rank's average starts from rank 0's G
        with torch.random.fork_rng(devices=[]):  # its (overwritten) init must not draw on the training's RNG
            ema = WeightAverage(G, impl.Generator(noise_dim=cfg.noise_dim).to(device), cfg.ema)
        if resuming:
            ema.load_state_dict(state["generator_ema"])
    D_net = augment_discriminator(D_net, cfg.translate, cfg.cutout)  # DiffAugment for the graded step; D itself is saved
    saved_steps = saved_steps_of(state)  # images on disk, across resumed sessions (rank 0 keeps it)
    log = LossLog(LOSS_KEYS, history, device, "gan_train_step", reduce=dist.mean if dist.enabled else None)

    def save_point(at: int) -> None:
        dist.average_buffers(G)  # BatchNorm running statistics: the mean over ranks (see Dist.wrap)
        dist.average_buffers(D)
        if ema is not None:
            dist.average_buffers(ema.average)
        rng_ranks = dist.gather(capture_rng()) if dist.enabled else None  # every rank's RNG, for --resume
        if not dist.is_main:
            return
        save_gan_images(G, fixed_noise, out, at)
        if at not in saved_steps:  # a resumed run replays the steps after its checkpoint
            saved_steps.append(at)
        if ema is not None:
            save_gan_images(ema.average, fixed_noise, out, at, folder="gan_ema_imgs")
        save_checkpoint(ckpt_path, {
            "kind": "gan", "step": at, "saved_steps": list(saved_steps), "generator": G.state_dict(), "discriminator": D.state_dict(),
            "opt_G": opt_G.state_dict(), "opt_D": opt_D.state_dict(), "data": batches.state_dict(),
            "history": log.history, "config": cfg.plain(), "wall_time_s": clock.total(),
            "world_size": dist.world_size, **({"rng_ranks": rng_ranks} if rng_ranks else {}),
            **({"generator_ema": ema.state_dict()} if ema is not None else {}),
        })

    if not resuming:
        save_point(0)
    start_step = step

    def train_step(real):  # real: (batch, 1, 28, 28) in [-1, 1]
        losses = impl.gan_train_step(G_net, D_net, real, opt_G, opt_D, g_steps=cfg.g_steps,
                                     real_label=cfg.real_label, max_grad_norm=cfg.max_grad_norm)
        if ema is not None:
            ema.update()
        return losses

    loop = train_loop(cfg, step, batches.forever(), train_step, log, save_point, "GAN",
                      lambda m: {"d": f"{m['d_loss']:.3f}", "g": f"{m['g_loss']:.3f}"}, device=device)
    if loop.stopped or not dist.is_main:
        return TrainResult(out, None)

    save_weights(G, out / "generator.pt")
    save_weights(D, out / "discriminator.pt")
    if ema is not None:
        save_weights(ema.average, out / "generator_ema.pt")
    plot_losses({"discriminator": log.history["d_loss"], "generator": log.history["g_loss"]}, out / "GAN_output.png",
                title=f"GAN training losses ({cfg.data}, batch {cfg.batch_size}, {cfg.g_steps} G updates per D update)",
                ylabel="BCE with logits (batch mean)")
    G.eval()
    with isolated_rng(device, cfg.seed):
        quality = quality_metrics(G, test, device, cfg.seed, noise_dim=getattr(cfg, "noise_dim", None))
    G.train()
    quality_ema = None
    if ema is not None:
        with isolated_rng(device, cfg.seed):  # the same noise as for G
            quality_ema = quality_metrics(ema.average, test, device, cfg.seed, noise_dim=cfg.noise_dim)
    metrics = {
        "kind": "gan",
        "quality": quality,  # filled by quality_metrics (exercise 13 issue): FID, classifier score, class histogram
        **({"quality_ema": quality_ema, "ema_decay": cfg.ema} if ema is not None else {}),
        "final_losses": log.recent(100),  # means over the last 100 steps, and the last values
        "steps": cfg.steps,
        "batch_size": cfg.batch_size,
        "g_steps": cfg.g_steps,
        "save_every": cfg.save_every,
        "saved_steps": saved_steps,  # every saved grid step (a resumed run may have changed --save-every)
        "recipe": {"optimizer": "Adam (make_optimizers)", "lr_g": cfg.lr_g, "lr_d": cfg.lr_d, "betas": list(cfg.betas),
                   "real_label": cfg.real_label, "max_grad_norm": cfg.max_grad_norm, "init": "DCGAN (weights_init)",
                   "noise_dim": cfg.noise_dim, "translate": cfg.translate, "cutout": cfg.cutout,
                   "ema": cfg.ema},
        **run_record(cfg, train, device, clock, loop, dist, speed, resumed=start_step > 0, impl=impl),
        "artifacts": ["gan_gen_imgs/", "GAN_output.png", CHECKPOINT, "generator.pt", "discriminator.pt",
                      *(["gan_ema_imgs/", "generator_ema.pt"] if ema is not None else []), "metrics.json", REPORT],
    }
    write_json(out / "metrics.json", metrics)
    write_report(out)
    if cfg.progress:
        final = metrics["final_losses"]
        print(f"GAN: D loss {final['d_loss']:.3f}, G loss {final['g_loss']:.3f} (last 100 steps) after {cfg.steps} "
              f"steps in {metrics['wall_time_s']:.1f} s; artifacts in {out}")
    return TrainResult(out, metrics)
