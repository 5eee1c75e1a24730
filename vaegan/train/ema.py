"""A moving average of the generator's weights, for sampling (``GANConfig.ema``, ``--ema DECAY``).

The GAN trains exactly as before; beside it an exponential moving average of G's parameters and
BatchNorm buffers is kept, and that averaged generator is the one sampled and scored as
``generator_ema.pt``. G's last iterate oscillates around the equilibrium that the two players
circle; averaging the iterates cancels much of that oscillation (Yazıcı et al. 2019, "The Unusual
Effectiveness of Averaging in GAN Training"; Karras et al. sample ProGAN, 2018, and StyleGAN, 2019,
from such an average).

Early on the average would be dominated by the random initialization, so the decay warms up as in
TensorFlow's ``ExponentialMovingAverage(num_updates=...)``: ``min(decay, (1 + t) / (10 + t))`` at update t.
That warm-up is long: it reaches 0.999 only at t = 8,990, so the average spans about the last 100
steps at step 1,000, 300 at step 3,100 and 930 at step 9,300, whatever the decay above 0.999.
"""
from __future__ import annotations

import torch


def warmed_decay(decay: float, updates: int) -> float:
    """The decay used at update number ``updates`` (0-based): at most ``decay``, smaller early on."""
    return min(decay, (1.0 + updates) / (10.0 + updates))


class WeightAverage:
    """``average = d * average + (1 - d) * current`` over every floating-point tensor of ``model``'s
    ``state_dict`` (weights and BatchNorm running statistics); integer buffers (BatchNorm's
    ``num_batches_tracked``) are copied.

    ``average`` is a separate module of the same architecture (built by the caller, so a compiled or
    channels-last ``model`` is not deep-copied); it starts as a copy of ``model``.
    """

    def __init__(self, model: torch.nn.Module, average: torch.nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the moving-average decay must lie strictly between 0 and 1, got {decay!r}")
        self.decay, self.updates = float(decay), 0
        self.model, self.average = model, average
        average.load_state_dict(model.state_dict())  # strict: another architecture raises here
        average.eval()  # it is only ever sampled
        average.requires_grad_(False)

    @torch.no_grad()
    def update(self) -> None:
        """Fold the model's current weights into the average (the trainer calls it after each training step)."""
        weight = 1.0 - warmed_decay(self.decay, self.updates)
        mean_state, current_state = self.average.state_dict(), self.model.state_dict()  # fresh: tensors may be swapped
        for key, mean in mean_state.items():
            current = current_state[key]
            if mean.is_floating_point():
                mean.lerp_(current.detach(), weight)
            else:
                mean.copy_(current)
        self.updates += 1

    def state_dict(self) -> dict:
        return {"decay": self.decay, "updates": self.updates, "average": self.average.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """The average and its update count (the decay is the run's: a resume must use the same one)."""
        self.updates = int(state["updates"])
        self.average.load_state_dict(state["average"])
