"""Devices, seeds and plots."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from PIL import Image

from vaegan.devices import DeviceUnavailableError, available_devices, get_device, seed_everything
from vaegan.plots import plot_losses, save_image_grid, save_reconstruction_pairs


def test_auto_picks_best_available_and_says_so(capsys):
    device = get_device("auto")
    assert device.type == available_devices()[0]
    assert "Using device:" in capsys.readouterr().out


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_missing_cuda_is_a_clear_error():
    with pytest.raises(DeviceUnavailableError, match="CUDA was requested.*--device auto"):
        get_device("cuda", verbose=False)


@pytest.mark.skipif(available_devices()[0] == "mps", reason="needs a machine without MPS")
def test_missing_mps_is_a_clear_error():
    with pytest.raises(DeviceUnavailableError, match="MPS was requested"):
        get_device("mps", verbose=False)


def test_unknown_device_name():
    with pytest.raises(DeviceUnavailableError, match="Unknown device"):
        get_device("tpu", verbose=False)


def test_cpu_always_works():
    assert get_device("cpu", verbose=False) == torch.device("cpu")


def test_seed_everything_covers_python_numpy_torch():
    def draw():
        return random.random(), float(np.random.rand()), torch.rand(3).tolist()

    seed_everything(123)
    first = draw()
    seed_everything(123)
    assert draw() == first
    seed_everything(124)
    assert draw() != first


def test_image_grid_and_value_range(tmp_path):
    x = torch.linspace(-1, 1, 16 * 784).reshape(16, 1, 28, 28)
    path = save_image_grid(x, tmp_path / "g" / "grid.png", nrow=8, value_range=(-1, 1))
    img = Image.open(path)
    assert img.size == (8 * 30 + 2, 2 * 30 + 2)
    pixels = np.asarray(img.convert("L"))
    assert pixels.min() == 0 and pixels.max() == 255


def test_reconstruction_pairs_originals_on_top(tmp_path):
    originals, recons = torch.ones(8, 1, 28, 28), torch.zeros(8, 1, 28, 28)
    img = np.asarray(Image.open(save_reconstruction_pairs(originals, recons, tmp_path / "r.png")).convert("L"))
    assert img.shape == (2 * 30 + 2, 8 * 30 + 2)
    assert img[2:30, 2:30].mean() == 255 and img[32:60, 2:30].mean() == 0


def test_loss_curves_written(tmp_path):
    path = tmp_path / "VAE_output.png"
    plot_losses({"BCE": [3.0, 2.0, 1.0], "KLD": [0.1, 0.5, 0.7]}, path, title="VAE")
    assert Image.open(path).size[0] > 500
