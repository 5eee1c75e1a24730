"""DiffAugment for the GAN capstone (``vaegan.train.augment``): the translation, the wrapper and the trainer option."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from vaegan import cli
from vaegan.train import GANConfig, train_gan
from vaegan.train.augment import AugmentedDiscriminator, augment_discriminator, random_cutout, random_translate


@pytest.fixture(autouse=True)
def one_thread_no_quality(monkeypatch):
    """One torch thread, and no sample-quality metrics at the end of runs (not under test here)."""
    import vaegan.train.gan as gan

    monkeypatch.setattr(gan, "quality_metrics", lambda *args, **kwargs: None)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def shifted(image: torch.Tensor, dy: int, dx: int, background: float) -> torch.Tensor:
    """``image`` (C, H, W) moved down by dy and right by dx, the uncovered pixels set to ``background``."""
    out = torch.full_like(image, background)
    H, W = image.shape[-2:]
    out[:, max(dy, 0):H + min(dy, 0), max(dx, 0):W + min(dx, 0)] = \
        image[:, max(-dy, 0):H + min(-dy, 0), max(-dx, 0):W + min(-dx, 0)]
    return out


def test_every_image_is_a_whole_pixel_shift_within_the_limit():
    torch.manual_seed(0)
    x = torch.rand(64, 2, 9, 7) * 2 - 1
    y = random_translate(x, 3)
    assert y.shape == x.shape and y.dtype == x.dtype
    seen = set()
    for image, moved in zip(x, y):
        matches = [(dy, dx) for dy in range(-3, 4) for dx in range(-3, 4)
                   if torch.equal(moved, shifted(image, dy, dx, -1.0))]
        assert len(matches) == 1, "each output must be its own input shifted, background -1 shifted in"
        seen.add(matches[0])
    assert len(seen) > 20, "shifts must be drawn per image, over the whole range"
    for axis in (0, 1):
        assert {s[axis] for s in seen} >= {-3, 3}, "both ends of [-max_shift, max_shift] must be drawn"


def test_gradient_reaches_exactly_the_pixels_that_stay_in_view():
    x = torch.rand(8, 1, 6, 6, dtype=torch.float64, requires_grad=True)
    y = random_translate(x, 2)
    y.sum().backward()
    for image, moved, grad in zip(x.detach(), y.detach(), x.grad):
        in_view = torch.isin(image, moved)  # random values: each pixel is unique
        assert torch.equal(grad, in_view.to(grad.dtype))


def test_no_shift_and_empty_batches_pass_through():
    x = torch.rand(4, 1, 5, 5)
    assert random_translate(x, 0) is x
    empty = torch.rand(0, 1, 5, 5)
    assert random_translate(empty, 2).shape == (0, 1, 5, 5)


def test_translation_draws_on_the_images_device():
    before = torch.get_rng_state()
    y = random_translate(torch.empty(3, 1, 28, 28, device="meta"), 2)
    assert y.device.type == "meta" and y.shape == (3, 1, 28, 28)
    assert torch.equal(torch.get_rng_state(), before), "shifts for a meta (or CUDA) batch were drawn on the CPU"


def test_a_generator_draws_the_same_shifts_wherever_it_lives():
    x = torch.rand(6, 1, 8, 8)
    a = random_translate(x, 2, generator=torch.Generator().manual_seed(3))
    b = random_translate(x, 2, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def blanked_box(image: torch.Tensor, moved: torch.Tensor) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the pixels that changed, when they form one rectangle; None if none changed."""
    changed = (moved != image).any(0)  # (H, W)
    if not changed.any():
        return None
    rows, cols = changed.any(1).nonzero().flatten(), changed.any(0).nonzero().flatten()
    top, bottom, left, right = rows.min().item(), rows.max().item() + 1, cols.min().item(), cols.max().item() + 1
    assert changed[top:bottom, left:right].all() and changed.sum() == (bottom - top) * (right - left), "not one square"
    return top, bottom, left, right


def test_cutout_blanks_one_random_square_per_image_and_nothing_else():
    torch.manual_seed(0)
    x = torch.rand(400, 2, 12, 10) * 0.5  # no pixel at -1: every blanked pixel changes
    y = random_cutout(x, 4)
    assert y.shape == x.shape and y.dtype == x.dtype
    boxes = set()
    for image, moved in zip(x, y):
        box = blanked_box(image, moved)
        assert box is not None, "every image must lose a square"
        top, bottom, left, right = box
        assert (moved[:, top:bottom, left:right] == -1).all(), "the square must take the background"
        assert bottom - top <= 4 and right - left <= 4
        assert (bottom - top == 4 or top == 0 or bottom == 12) and (right - left == 4 or left == 0 or right == 10), \
            "a square may only be smaller where it runs off the edge"
        boxes.add(box)
    assert len(boxes) > 50, "squares must be placed per image"
    assert {b[0] for b in boxes} >= {0, 8} and {b[2] for b in boxes} >= {0, 6}, "every position must be reachable"
    assert any(b[1] - b[0] < 4 for b in boxes), "squares centred near the edge must run off it (as DiffAugment)"


def test_cutout_gradient_is_zero_exactly_on_the_square():
    x = torch.rand(8, 1, 9, 9, dtype=torch.float64, requires_grad=True)
    y = random_cutout(x, 3)
    y.sum().backward()
    for image, moved, grad in zip(x.detach(), y.detach(), x.grad):
        assert torch.equal(grad, (moved == image).to(grad.dtype))


def test_no_cutout_and_empty_batches_pass_through():
    x = torch.rand(4, 1, 5, 5)
    assert random_cutout(x, 0) is x
    assert random_cutout(torch.rand(0, 1, 5, 5), 2).shape == (0, 1, 5, 5)
    a = random_cutout(x, 2, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, random_cutout(x, 2, generator=torch.Generator().manual_seed(1)))


def test_wrapper_translates_then_cuts_out():
    D = nn.Identity()
    x = torch.rand(32, 1, 10, 10) * 0.5
    only_cutout = augment_discriminator(D, 0, 3)
    assert isinstance(only_cutout, AugmentedDiscriminator) and augment_discriminator(D, 0, 0) is D
    torch.manual_seed(0)
    out = only_cutout.train()(x)
    assert all(blanked_box(a, b) is not None for a, b in zip(x, out)), "cutout alone must still apply"
    both = augment_discriminator(D, 1, 3).train()
    torch.manual_seed(1)
    seen = both(x)
    torch.manual_seed(1)
    in_order = random_cutout(random_translate(x, 1), 3)
    torch.manual_seed(1)
    reversed_order = random_translate(random_cutout(x, 3), 1)
    assert torch.equal(seen, in_order), "translation first, then cutout (as DiffAugment)"
    assert not torch.equal(seen, reversed_order), "the check above cannot tell the order apart"


def test_wrapper_augments_in_training_only_and_adds_no_state():
    torch.manual_seed(0)
    D = nn.Sequential(nn.Flatten(), nn.Linear(36, 1))
    wrapped = augment_discriminator(D, 2)
    assert isinstance(wrapped, AugmentedDiscriminator) and augment_discriminator(D, 0) is D
    assert [p for p in wrapped.parameters()] == [p for p in D.parameters()]
    x = torch.rand(16, 1, 6, 6)
    wrapped.train()
    assert not torch.allclose(wrapped(x), D(x)), "train() mode must see shifted images"
    wrapped.eval()
    assert torch.equal(wrapped(x), D(x)), "eval() mode must be D itself"


def test_generator_gradient_flows_through_the_augmentation():
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(4, 36), nn.Unflatten(1, (1, 6, 6)))
    D = augment_discriminator(nn.Sequential(nn.Flatten(), nn.Linear(36, 1)), 1)
    D(G(torch.randn(8, 4))).mean().backward()
    assert G[0].weight.grad is not None and G[0].weight.grad.abs().sum() > 0


def test_trainer_option_is_recorded_and_discriminator_saved_plain(tmp_path):
    from vaegan.notebooks import load_reference

    out, metrics = train_gan(impl="solutions", steps=2, save_every=5, out=tmp_path / "gan", translate=2,
                             batch_size=16, progress=False)
    assert metrics["recipe"]["translate"] == 2 and metrics["settings"]["translate"] == 2
    load_reference("08_discriminator").Discriminator().load_state_dict(
        torch.load(out / "discriminator.pt", weights_only=True))


@pytest.mark.parametrize("name, pixels", [("translate", 2), ("cutout", 6)])
def test_augmentation_changes_training_resumes_bit_identically_and_is_recorded(tmp_path, name, pixels):
    from vaegan.train import CheckpointError

    options = dict(impl="solutions", steps=3, save_every=2, batch_size=16, progress=False, **{name: pixels})
    _, metrics = train_gan(out=tmp_path / "full", **options)
    assert metrics["recipe"][name] == pixels and metrics["settings"][name] == pixels
    train_gan(out=tmp_path / "part", stop_after=2, **options)
    train_gan(out=tmp_path / "part", resume=True, **options)
    train_gan(out=tmp_path / "plain", **{**options, name: 0})
    weights = {run: torch.load(tmp_path / run / "discriminator.pt", weights_only=True)
               for run in ("full", "part", "plain")}
    assert all(torch.equal(weights["full"][k], weights["part"][k]) for k in weights["full"])
    assert not all(torch.equal(weights["full"][k], weights["plain"][k]) for k in weights["full"])
    with pytest.raises(CheckpointError, match=name):
        train_gan(out=tmp_path / "part", resume=True, **{**options, name: pixels - 1})


def test_resume_refuses_another_translation_and_accepts_older_checkpoints(tmp_path):
    from vaegan.train import CheckpointError

    options = dict(impl="solutions", steps=3, save_every=2, batch_size=16, progress=False)
    out = tmp_path / "gan"
    train_gan(out=out, stop_after=2, translate=2, **options)
    with pytest.raises(CheckpointError, match="translate"):
        train_gan(out=out, resume=True, translate=0, **options)
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    del state["config"]["translate"]  # a checkpoint written before the setting existed trained without it
    torch.save(state, out / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="translate: checkpoint 0, now 2"):
        train_gan(out=out, resume=True, translate=2, **options)
    _, metrics = train_gan(out=out, resume=True, translate=0, **options)
    assert metrics["resumed"]


@pytest.mark.parametrize("flag", ["translate", "cutout"])
def test_command_line_option_reaches_the_trainer(tmp_path, monkeypatch, flag):
    import vaegan.train

    calls = []
    monkeypatch.setattr(vaegan.train, "train_gan", lambda **options: calls.append(options) or (tmp_path, None))
    assert cli.main(["train", "gan", f"--{flag}", "3", "--out", str(tmp_path)]) == 0
    assert cli.main(["train", "gan", "--out", str(tmp_path)]) == 0
    assert calls[0][flag] == 3
    assert flag not in calls[1], "without the flag the recipe's default must apply"
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["train", "gan", f"--{flag}", "-1"])


@pytest.mark.parametrize("name", ["translate", "cutout"])
@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_an_augmentation_that_is_not_a_whole_number_of_pixels_is_refused(bad, name):
    with pytest.raises(ValueError, match=f"{name} must be a whole number of pixels"):
        GANConfig(**{name: bad}).with_defaults()


def test_a_whole_float_is_stored_as_an_int():
    cfg = GANConfig(translate=2.0, cutout=8.0).with_defaults()
    assert cfg.translate == 2 and cfg.cutout == 8 and isinstance(cfg.cutout, int)
