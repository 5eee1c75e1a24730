"""The course sequence and its graded names: one registry for loader, grader and generator.

Mirrors ``shared/curriculum.md``. Points live in the solution notebooks' nbgrader
metadata; this module only names things.
"""
from __future__ import annotations

import re

# NN_slug -> graded item names, in teaching order.
EXERCISES: dict[str, tuple[str, ...]] = {
    "00_setup_and_data": ("count_parameters", "to_tanh_range", "from_tanh_range"),
    "01_encoder": ("Encoder",),
    "02_reparameterization": ("reparameterize",),
    "03_kl_and_elbo": ("kl_divergence", "reconstruction_loss", "vae_loss"),
    "04_decoder_and_vae": ("Decoder", "VAE"),
    "05_training_the_vae": ("vae_train_step", "vae_evaluate", "interpolate_latents"),
    "06_capstone_vae": (),
    "07_generator": ("sample_noise", "Generator"),
    "08_discriminator": ("Discriminator",),
    "09_gan_losses": ("discriminator_loss", "generator_loss"),
    "10_gan_training": ("discriminator_step", "generator_step", "gan_train_step"),
    "11_stabilization": (
        "weights_init",
        "clip_gradients",
        "make_optimizers",
        "instance_noise",
        "ls_discriminator_loss",
        "ls_generator_loss",
    ),
    "12_capstone_gan": (),
    "13_evaluating_generative_models": ("frechet_distance", "classifier_score", "class_histogram"),
}

CAPSTONES = ("06_capstone_vae", "12_capstone_gan")

SLUG_PATTERN = re.compile(r"(\d\d)_([a-z0-9]+(?:_[a-z0-9]+)*)")


def slug_from_filename(name: str) -> str | None:
    """First known ``NN_slug`` in a file name (``Copy of 03_kl_and_elbo (2).ipynb`` -> 03_kl_and_elbo)."""
    for match in re.finditer(r"(\d\d)_", name):
        rest = name[match.start():]
        for slug in EXERCISES:
            if rest.startswith(slug):
                return slug
    return None


def graded_names(slug: str) -> tuple[str, ...]:
    """The graded names of one exercise (KeyError for an unknown slug)."""
    return EXERCISES[slug]
