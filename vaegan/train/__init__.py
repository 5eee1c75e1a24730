"""The capstone training engine: ``train_vae`` and ``train_gan`` run the graded notebook code and write the artifacts.

The models and training steps are not here: they are the graded items of the notebooks,
loaded from ``impl`` (``"solutions"``, ``"exercises"`` or a folder such as ``"."``)::

    from vaegan.train import train_vae
    out, metrics = train_vae(impl=".", steps=2300)   # runs/vae/..., metrics["neg_elbo"]

Command line: ``python -m vaegan train vae|gan --help``.
"""
from .engine import CheckpointError, TrainResult
from .gan import GANConfig, train_gan
from .impl import ImplementationError, resolve_impl
from .vae import VAEConfig, train_vae

__all__ = ["train_vae", "train_gan", "VAEConfig", "GANConfig", "TrainResult", "resolve_impl",
           "ImplementationError", "CheckpointError"]
