"""Differentiable augmentation of the discriminator's input (DiffAugment), for GANs on few images.

With few training images the discriminator memorizes them: after the seed schedule on the 4,000
offline digits, the reference D gives its own training digits a mean D(x) of 0.60, unseen test
digits only 0.37 and generated digits 0.19 (``benchmarks/gan_quality.py`` reports this gap). The
generator then learns from a judge that rewards "looks like one of these 4,000", not "looks like a
digit". Augmenting every image D sees, real **and** generated, with the same random transforms
(Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training",
arXiv:2006.10738) keeps D from memorizing while the generator still learns the un-augmented
distribution: the transforms are differentiable, so G's gradient flows through them, and since both
sides are transformed alike, D cannot tell them apart by the augmentation.

``AugmentedDiscriminator(D, translate=..., cutout=...)`` wraps D for the graded ``gan_train_step``: in
train() mode it shifts each image by a random whole number of pixels (the black background, -1,
shifted in), then blanks a random square of each image (cutout, DeVries and Taylor 2017, applied
as in DiffAugment but filled with the background, -1, and of a size given in pixels); in eval() mode
it is D itself. It adds no parameters or buffers; the trainer saves D itself,
so checkpoints and ``discriminator.pt`` load into the reference architecture.
"""
from __future__ import annotations

import torch
from torch import nn

BACKGROUND = -1.0  # the GAN works in [-1, 1]: black background


def _randint(low: int, high: int, shape: tuple, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Integers in [low, high) drawn on ``generator``'s device (else ``x``'s), returned on ``x``'s device."""
    draw_on = generator.device if generator is not None else x.device
    return torch.randint(low, high, shape, device=draw_on, generator=generator).to(x.device)


def random_translate(x: torch.Tensor, max_shift: int, background: float = BACKGROUND,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image of ``x`` (B, C, H, W) shifted by its own random (dy, dx) in [-max_shift, max_shift]; differentiable.

    Pixels shifted in from outside take ``background``. ``max_shift=0`` returns ``x`` itself.
    """
    if max_shift <= 0 or x.shape[0] == 0:
        return x
    B, _, H, W = x.shape
    shifts = _randint(-max_shift, max_shift + 1, (2, B, 1), x, generator)
    padded = nn.functional.pad(x, (max_shift,) * 4, value=background)  # (B, C, H + 2s, W + 2s)
    rows = torch.arange(H, device=x.device) + max_shift - shifts[0]  # (B, H): source row of each output row
    cols = torch.arange(W, device=x.device) + max_shift - shifts[1]  # (B, W)
    batch = torch.arange(B, device=x.device)[:, None, None, None]
    channel = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]  # (B, C, H, W)


def random_cutout(x: torch.Tensor, size: int, background: float = BACKGROUND,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image of ``x`` (B, C, H, W) with its own random ``size`` x ``size`` square set to ``background``.

    The square's centre is uniform over the image, so near the edges part of it falls outside (as in
    DiffAugment). Differentiable: the pixels outside the square pass through. ``size=0`` returns ``x``.
    """
    if size <= 0 or x.shape[0] == 0:
        return x
    B, _, H, W = x.shape
    top = _randint(0, H, (B, 1), x, generator) - size // 2  # (B, 1)
    left = _randint(0, W, (B, 1), x, generator) - size // 2
    rows = torch.arange(H, device=x.device)
    cols = torch.arange(W, device=x.device)
    in_rows = (rows >= top) & (rows < top + size)  # (B, H)
    in_cols = (cols >= left) & (cols < left + size)  # (B, W)
    blank = (in_rows[:, None, :, None] & in_cols[:, None, None, :])  # (B, 1, H, W)
    return torch.where(blank, torch.as_tensor(background, dtype=x.dtype, device=x.device), x)


class AugmentedDiscriminator(nn.Module):
    """``D`` that sees randomly translated, then cut-out images in train() mode (DiffAugment); ``D`` itself
    in eval() mode."""

    def __init__(self, discriminator: nn.Module, translate: int = 0, cutout: int = 0):
        super().__init__()
        self.discriminator = discriminator
        self.translate = int(translate)
        self.cutout = int(cutout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            x = random_cutout(random_translate(x, self.translate), self.cutout)
        return self.discriminator(x)

    def extra_repr(self) -> str:
        return f"translate={self.translate}, cutout={self.cutout}"


def augment_discriminator(D: nn.Module, translate: int, cutout: int = 0) -> nn.Module:
    """``D`` wrapped in ``AugmentedDiscriminator`` when either augmentation is on, else ``D`` unchanged."""
    if (translate and translate > 0) or (cutout and cutout > 0):
        return AugmentedDiscriminator(D, translate, cutout)
    return D
