"""The moving average of the generator's weights (``vaegan.train.ema``, ``--ema``): the average and the trainer option."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from vaegan import cli
from vaegan.train import GANConfig, train_gan
from vaegan.train.ema import WeightAverage, warmed_decay


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def no_quality(monkeypatch):
    """No sample-quality metrics at the end of runs (not under test there)."""
    import vaegan.train.gan as gan

    monkeypatch.setattr(gan, "quality_metrics", lambda *args, **kwargs: None)


def small_net() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))


def test_warm_up_starts_small_and_reaches_the_decay():
    assert warmed_decay(0.999, 0) == pytest.approx(0.1)
    assert warmed_decay(0.999, 90) == pytest.approx(0.91)
    assert warmed_decay(0.999, 10**6) == 0.999
    assert all(warmed_decay(0.99, t) <= warmed_decay(0.99, t + 1) for t in range(2000))


def test_the_average_follows_the_closed_form_for_every_float_tensor():
    torch.manual_seed(0)
    model, average = small_net(), small_net()
    ema = WeightAverage(model, average, decay=0.5)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    assert all(torch.equal(start[k], v) for k, v in average.state_dict().items()), "it must start as the model"
    expected = {k: v.clone() for k, v in start.items() if v.is_floating_point()}
    for t in range(30):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))  # an optimizer step, in place
        model.train()(torch.randn(8, 3))  # BatchNorm running statistics and num_batches_tracked move
        d = warmed_decay(0.5, t)
        for k, v in model.state_dict().items():
            if k in expected:
                expected[k] = d * expected[k] + (1 - d) * v
        ema.update()
    mean = average.state_dict()
    for k, v in expected.items():
        torch.testing.assert_close(mean[k], v, msg=f"{k} is not the moving average")
    assert mean["1.num_batches_tracked"] == model.state_dict()["1.num_batches_tracked"] == 30
    assert not any(p.requires_grad for p in average.parameters()) and not average.training


def test_a_constant_model_is_its_own_average():
    model = small_net()
    ema = WeightAverage(model, small_net(), decay=0.9)
    for _ in range(5):
        ema.update()
    assert all(torch.equal(a, b) for a, b in zip(ema.average.state_dict().values(), model.state_dict().values()))


def test_the_state_round_trips_with_its_update_count():
    torch.manual_seed(0)
    model = small_net()
    ema = WeightAverage(model, small_net(), decay=0.99)
    for _ in range(7):
        with torch.no_grad():
            model[0].weight.add_(1.0)
        ema.update()
    other = WeightAverage(small_net(), small_net(), decay=0.99)
    other.load_state_dict(ema.state_dict())
    assert other.updates == 7
    assert all(torch.equal(a, b) for a, b in zip(other.average.state_dict().values(),
                                                  ema.average.state_dict().values()))


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5, 1.5])
def test_a_decay_outside_the_open_unit_interval_is_refused(decay):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        WeightAverage(small_net(), small_net(), decay)


def test_another_architecture_is_refused():
    with pytest.raises((ValueError, RuntimeError)):
        WeightAverage(small_net(), nn.Sequential(nn.Linear(3, 4)), 0.9)


def test_trainer_writes_the_average_beside_the_generator(tmp_path, no_quality):
    from vaegan.notebooks import load_reference
    from vaegan.train.report import REPORT

    out, metrics = train_gan(impl="solutions", steps=4, save_every=2, out=tmp_path / "gan", ema=0.9,
                             batch_size=16, progress=False)
    assert metrics["recipe"]["ema"] == 0.9 and metrics["settings"]["ema"] == 0.9 and metrics["ema_decay"] == 0.9
    assert {"gan_ema_imgs/", "generator_ema.pt"} <= set(metrics["artifacts"])
    assert sorted(p.name for p in (out / "gan_ema_imgs").iterdir()) == [f"ema_{s:05d}.png" for s in (0, 2, 4)]
    G = load_reference("07_generator").Generator()
    average = torch.load(out / "generator_ema.pt", weights_only=True)
    G.load_state_dict(average)  # the reference architecture
    final = torch.load(out / "generator.pt", weights_only=True)
    assert not all(torch.equal(average[k], final[k]) for k in final), "the average must differ from the last G"
    report = (out / REPORT).read_text()
    assert "gan_ema_imgs/ema_00004.png" in report and "moving-average generator" in report


def test_the_run_saves_the_closed_form_average_of_gs_states(tmp_path, no_quality):
    """The saved average is the warmed-up moving average of G's initial state and its state after every step."""
    import types

    from vaegan.train.impl import resolve_impl

    impl = resolve_impl("solutions", ("Generator", "Discriminator", "weights_init", "make_optimizers",
                                      "gan_train_step"))
    states = []

    def recording_step(G, D, *args, **kwargs):
        if not states:  # G's initialization, where the average starts
            states.append({k: v.detach().clone() for k, v in G.state_dict().items()})
        losses = impl.gan_train_step(G, D, *args, **kwargs)
        states.append({k: v.detach().clone() for k, v in G.state_dict().items()})
        return losses

    spy = types.SimpleNamespace(**{**impl.names, "gan_train_step": recording_step})
    out, _ = train_gan(impl=spy, steps=6, save_every=3, out=tmp_path / "gan", ema=0.5, batch_size=16,
                       progress=False)
    assert len(states) == 7
    assert torch.load(out / "checkpoint.pt", weights_only=True)["generator_ema"]["updates"] == 6
    expected = {k: v.double() for k, v in states[0].items() if v.is_floating_point()}
    for t, state in enumerate(states[1:]):
        d = warmed_decay(0.5, t)
        expected = {k: d * v + (1 - d) * state[k].double() for k, v in expected.items()}
    average = torch.load(out / "generator_ema.pt", weights_only=True)
    for k, v in expected.items():
        torch.testing.assert_close(average[k].double(), v, rtol=1e-5, atol=1e-6, msg=f"{k} is not the average")
    assert not all(torch.equal(average[k], states[-1][k]) for k in expected)


def test_without_the_option_nothing_changes(tmp_path, no_quality):
    options = dict(impl="solutions", steps=3, save_every=2, batch_size=16, progress=False)
    out, metrics = train_gan(out=tmp_path / "plain", **options)
    train_gan(out=tmp_path / "ema", ema=0.99, **options)
    assert not (out / "generator_ema.pt").exists() and not (out / "gan_ema_imgs").exists()
    assert "quality_ema" not in metrics and metrics["recipe"]["ema"] == 0.0
    plain, with_ema = (torch.load(tmp_path / name / "generator.pt", weights_only=True) for name in ("plain", "ema"))
    assert all(torch.equal(plain[k], with_ema[k]) for k in plain), "the average must not change training"


def test_the_average_resumes_bit_identically(tmp_path, no_quality):
    options = dict(impl="solutions", steps=5, save_every=2, batch_size=16, progress=False, ema=0.9)
    train_gan(out=tmp_path / "full", **options)
    train_gan(out=tmp_path / "part", stop_after=2, **options)
    train_gan(out=tmp_path / "part", resume=True, **options)
    full, part = (torch.load(tmp_path / name / "generator_ema.pt", weights_only=True) for name in ("full", "part"))
    assert all(torch.equal(full[k], part[k]) for k in full), "the resumed average lost or repeated updates"


def test_resume_refuses_another_decay_and_older_checkpoints_mean_none(tmp_path, no_quality):
    from vaegan.train import CheckpointError

    options = dict(impl="solutions", steps=3, save_every=2, batch_size=16, progress=False)
    out = tmp_path / "gan"
    train_gan(out=out, stop_after=2, ema=0.9, **options)
    with pytest.raises(CheckpointError, match="ema"):
        train_gan(out=out, resume=True, ema=0.99, **options)
    train_gan(out=tmp_path / "old", stop_after=2, **options)
    state = torch.load(tmp_path / "old" / "checkpoint.pt", weights_only=True)
    del state["config"]["ema"]  # written before the option existed: trained without an average
    torch.save(state, tmp_path / "old" / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="ema: checkpoint 0.0, now 0.9"):
        train_gan(out=tmp_path / "old", resume=True, ema=0.9, **options)
    _, metrics = train_gan(out=tmp_path / "old", resume=True, **options)
    assert metrics["resumed"]


def test_quality_is_scored_for_both_generators_on_the_same_noise(tmp_path, monkeypatch):
    import vaegan.train.gan as gan

    seen = []

    def fake_quality(G, test, device, seed, noise_dim=None):
        seen.append((G, torch.randn(3)))  # the noise the scorer would draw
        return {"classifier_score": float(len(seen))}

    monkeypatch.setattr(gan, "quality_metrics", fake_quality)
    _, metrics = train_gan(impl="solutions", steps=2, save_every=5, out=tmp_path / "gan", ema=0.9,
                           batch_size=16, progress=False)
    assert metrics["quality"] == {"classifier_score": 1.0} and metrics["quality_ema"] == {"classifier_score": 2.0}
    (G, noise_g), (average, noise_a) = seen
    assert G is not average and torch.equal(noise_g, noise_a)
    assert not average.training


def test_command_line_option_reaches_the_trainer(tmp_path, monkeypatch):
    import vaegan.train

    calls = []
    monkeypatch.setattr(vaegan.train, "train_gan", lambda **options: calls.append(options) or (tmp_path, None))
    assert cli.main(["train", "gan", "--ema", "0.999", "--out", str(tmp_path)]) == 0
    assert cli.main(["train", "gan", "--out", str(tmp_path)]) == 0
    assert calls[0]["ema"] == 0.999
    assert "ema" not in calls[1], "without the flag the recipe's default (off) must apply"
    for bad in ("1", "-0.1", "x"):
        with pytest.raises(SystemExit):
            cli.build_parser().parse_args(["train", "gan", "--ema", bad])


@pytest.mark.parametrize("bad", [-0.1, 1.0, 2, True, "0.9"])
def test_a_decay_the_trainer_cannot_use_is_refused(bad):
    with pytest.raises(ValueError, match="ema must be a decay"):
        GANConfig(ema=bad).with_defaults()


def test_quality_script_scores_the_average(tmp_path, no_quality, monkeypatch):
    from tests.test_capstone import gan_quality_script

    out, _ = train_gan(impl="solutions", steps=2, save_every=5, out=tmp_path / "gan", ema=0.9, batch_size=16,
                       progress=False)
    script = gan_quality_script()
    for flag, name in (([], "G"), (["--ema"], "moving average")):
        path = tmp_path / f"{name}.json"
        assert script.main([str(out), "--samples", "64", "--json", str(path), *flag]) == 0
        assert json.loads(path.read_text())["generator"] == name
    (out / "generator_ema.pt").unlink()  # an unfinished run: the checkpoint's average
    assert script.main([str(out), "--samples", "64", "--json", str(tmp_path / "c.json"), "--ema"]) == 0
    plain, _ = train_gan(impl="solutions", steps=2, save_every=5, out=tmp_path / "plain", batch_size=16,
                         progress=False)
    (plain / "generator.pt").unlink()
    with pytest.raises(SystemExit, match="not trained with --ema"):
        script.main([str(plain), "--samples", "64", "--json", str(tmp_path / "p.json"), "--ema"])
