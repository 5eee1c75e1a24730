"""The evaluator (cache, checksum, weights-only loading) and the quality figures built on it (``vaegan.metrics``).

Everything trains tiny evaluators in about a second; nothing is downloaded (``COURSE_OFFLINE=1``) and
every cache lives in a temporary data root.
"""
from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch

from autograder.checks.ex13_evaluating_generative_models import true_fd
from vaegan import metrics
from vaegan.data import ImageData, load_dataset
from vaegan.metrics import (EvaluatorCacheError, TrainRecipe, add_noise, clear_loaded_evaluators, evaluator_path,
                            feature_statistics, frechet_distance, gaussian_blur, load_evaluator, sample_images,
                            sample_quality)

TINY_RECIPE = TrainRecipe(epochs=1, batch_size=50, lr=3e-3, min_steps=0)  # a few steps on 300 images


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.delenv("COURSE_FAST", raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    clear_loaded_evaluators()
    yield
    clear_loaded_evaluators()
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def splits():
    return load_dataset("mnist", "train"), load_dataset("mnist", "test")


def small(data: ImageData, n: int, start: int = 0) -> ImageData:
    return ImageData(data.images[start:start + n], data.labels[start:start + n], data.name, data.split, data.source)


@pytest.fixture(scope="module")
def fast_evaluator(splits):
    train, test = splits
    clear_loaded_evaluators()
    return load_evaluator("mnist", train=train, test=test, fast=True)


def tiny(splits, root, **options):
    train, test = splits
    return load_evaluator("mnist", train=small(train, 300), test=small(test, 200), root=root, recipe=TINY_RECIPE,
                          fast=False, **options)


# ---------------------------------------------------------------- cache and checksum
def test_cache_is_written_then_read_back(splits, tmp_path):
    first = tiny(splits, tmp_path)
    assert not first.loaded_from_cache and first.path is not None
    assert first.path.parent == tmp_path / "evaluator"
    assert first.path.name.startswith("mnist-") and first.path.suffix == ".pt"
    checksum = first.path.with_name(first.path.name + ".sha256")
    assert checksum.read_text().split() == [metrics.hashlib.sha256(first.path.read_bytes()).hexdigest(),
                                            first.path.name]
    clear_loaded_evaluators()
    second = tiny(splits, tmp_path)
    assert second.loaded_from_cache and second.path == first.path
    assert second.test_accuracy == first.test_accuracy
    for a, b in zip(first.net.state_dict().values(), second.net.state_dict().values()):
        assert torch.equal(a, b)


def test_cache_name_follows_data_and_recipe(splits, tmp_path):
    train, _ = splits
    base = evaluator_path(small(train, 300), TINY_RECIPE, tmp_path)
    assert base == evaluator_path(small(train, 300), TINY_RECIPE, tmp_path)
    assert base != evaluator_path(small(train, 300, start=1), TINY_RECIPE, tmp_path)  # other images
    assert base != evaluator_path(small(train, 300), TrainRecipe(epochs=2, min_steps=0), tmp_path)
    source = train.source.split()[0].lower()
    assert base.name.startswith(f"mnist-{source}")


def _flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_corrupt_cache_is_rejected_with_a_clear_message(splits, tmp_path):
    path = tiny(splits, tmp_path).path
    _flip_a_byte(path)
    clear_loaded_evaluators()
    with pytest.raises(EvaluatorCacheError, match="corrupt") as err:
        tiny(splits, tmp_path, allow_training=False)
    assert str(path) in str(err.value) and "delete" in str(err.value)


def test_corrupt_cache_is_retrained(splits, tmp_path):
    first = tiny(splits, tmp_path)
    _flip_a_byte(first.path)
    clear_loaded_evaluators()
    with pytest.warns(UserWarning, match="Retraining"):
        again = tiny(splits, tmp_path)
    assert not again.loaded_from_cache
    clear_loaded_evaluators()
    assert tiny(splits, tmp_path, allow_training=False).loaded_from_cache  # the rewritten file verifies


def test_missing_checksum_or_cache_is_clear(splits, tmp_path):
    with pytest.raises(EvaluatorCacheError, match="no cached evaluator"):
        tiny(splits, tmp_path, allow_training=False)
    path = tiny(splits, tmp_path).path
    path.with_name(path.name + ".sha256").unlink()
    clear_loaded_evaluators()
    with pytest.raises(EvaluatorCacheError, match="checksum file"):
        tiny(splits, tmp_path, allow_training=False)


class _Boom:
    def __reduce__(self):
        return (exec, ("raise SystemExit('pickle code ran')",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_cache_is_loaded_weights_only(splits, tmp_path):
    """A file whose checksum matches but that holds a code-running pickle is refused, never executed."""
    path = tiny(splits, tmp_path).path
    payload = pickle.dumps({"format": metrics.EVALUATOR_FORMAT, "state_dict": _Boom()})
    path.write_bytes(payload)
    path.with_name(path.name + ".sha256").write_text(f"{metrics.hashlib.sha256(payload).hexdigest()}  {path.name}\n")
    clear_loaded_evaluators()
    with pytest.raises(EvaluatorCacheError, match="cannot be loaded"):
        tiny(splits, tmp_path, allow_training=False)


def test_training_leaves_the_global_rng_alone(splits, tmp_path):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tiny(splits, tmp_path)
    assert torch.equal(torch.rand(3), expected)


def test_fast_mode_trains_in_memory_only(splits, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    train, test = splits
    evaluator = load_evaluator("mnist", train=train, test=test, root=tmp_path)
    assert evaluator.fast and evaluator.path is None and not (tmp_path / "evaluator").exists()
    assert evaluator.test_accuracy > 0.5  # tiny, but a classifier


# ---------------------------------------------------------------- Fréchet distance properties
def _spd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def test_fd_is_zero_symmetric_and_positive():
    rng = np.random.default_rng(0)
    mu1, mu2, s1, s2 = rng.normal(size=5), rng.normal(size=5), _spd(rng, 5), _spd(rng, 5)
    assert abs(frechet_distance(mu1, s1, mu1, s1)) < 1e-9
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(frechet_distance(mu2, s2, mu1, s1), rel=1e-10)
    assert frechet_distance(mu1, s1, mu2, s2) > 0
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(true_fd(mu1, s1, mu2, s2), rel=1e-9)
    assert isinstance(frechet_distance(torch.from_numpy(mu1).float(), torch.from_numpy(s1).float(),
                                       torch.from_numpy(mu2), torch.from_numpy(s2)), float)


def test_fd_closed_forms():
    # one dimension: (m1 - m2)² + (s1 - s2)² for standard deviations s1, s2
    assert frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([-2.0]), np.array([[9.0]])) == \
        pytest.approx(9.0 + 1.0)
    # diagonal covariances: squared distance of the means plus that of the standard deviations
    v1, v2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    want = 2.0 ** 2 + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum()
    assert frechet_distance(np.zeros(3), np.diag(v1), np.array([0.0, 2.0, 0.0]), np.diag(v2)) == pytest.approx(want)


def test_fd_is_invariant_under_rotation():
    rng = np.random.default_rng(1)
    mu1, mu2, s1, s2 = rng.normal(size=6), rng.normal(size=6), _spd(rng, 6), _spd(rng, 6)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    rotated = frechet_distance(q @ mu1, q @ s1 @ q.T, q @ mu2, q @ s2 @ q.T)
    assert rotated == pytest.approx(frechet_distance(mu1, s1, mu2, s2), rel=1e-8)


def test_fd_with_dead_features_is_finite():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(50, 8)), rng.normal(size=(50, 8))
    x[:, :3] = 0.0  # features that never fire: singular covariances
    y[:, 2:4] = 0.0
    a, b = feature_statistics(x), feature_statistics(y)
    value = frechet_distance(a.mu, a.sigma, b.mu, b.sigma)
    assert np.isfinite(value) and value == pytest.approx(true_fd(a.mu, a.sigma, b.mu, b.sigma), rel=1e-2)


def test_feature_statistics_are_float64_mean_and_unbiased_covariance():
    f = torch.randn(40, 6, generator=torch.Generator().manual_seed(0))
    stats = feature_statistics(f)
    assert stats.mu.dtype == np.float64 and stats.sigma.shape == (6, 6) and stats.n == 40
    np.testing.assert_allclose(stats.mu, f.double().mean(0).numpy())
    np.testing.assert_allclose(stats.sigma, np.cov(f.double().numpy(), rowvar=False))
    with pytest.raises(ValueError, match="N >= 2"):
        feature_statistics(f[:1])


# ---------------------------------------------------------------- real data vs degraded data
def test_degradations():
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    assert add_noise(x, 0.0) is x and gaussian_blur(x, 0.0) is x
    noisy = add_noise(x, 0.5, seed=3)
    assert torch.equal(noisy, add_noise(x, 0.5, seed=3)) and noisy.min() >= 0 and noisy.max() <= 1
    blurred = gaussian_blur(x, 1.0)
    assert blurred.shape == x.shape and blurred.std() < x.std()
    centre = torch.zeros(1, 1, 28, 28)
    centre[..., 14, 14] = 1.0
    assert gaussian_blur(centre, 1.0).sum().item() == pytest.approx(1.0, abs=1e-5)  # the kernel sums to 1


def test_fd_grows_with_noise_and_blur(fast_evaluator, splits):
    train, test = splits
    real = metrics.real_statistics(fast_evaluator, test)
    clean = sample_images(train.images, 500)
    noise = metrics.degradation_curve(fast_evaluator, clean, real, "noise", levels=(0.0, 0.2, 0.5))
    blur = metrics.degradation_curve(fast_evaluator, clean, real, "blur", levels=(0.0, 1.0, 2.5))
    for curve in (noise, blur):
        fds = [row["fd"] for row in curve]
        assert fds[0] < fds[1] < fds[2], curve
    floor = noise[0]["fd"]
    assert noise[-1]["fd"] > 3 * floor


def test_collapsed_samples_show_in_histogram_and_score(fast_evaluator, splits):
    train, test = splits
    real = metrics.real_statistics(fast_evaluator, test)
    ones = train.images[train.labels == 1][:300]
    varied = sample_images(train.images, 300)
    collapsed, diverse = metrics.image_quality(fast_evaluator, ones, real), metrics.image_quality(fast_evaluator,
                                                                                                  varied, real)
    assert max(collapsed["class_histogram"]) == collapsed["class_histogram"][1] > 0.5
    assert sum(collapsed["class_histogram"]) == pytest.approx(1.0, abs=1e-3)
    assert collapsed["classifier_score"] < diverse["classifier_score"]
    assert collapsed["fd"] > diverse["fd"]


def test_sampler_statistics_map_the_value_range(fast_evaluator, splits):
    train, _ = splits
    images = sample_images(train.images, 64, seed=4)  # (64, 1, 28, 28) in [0, 1]
    batches = iter(images.split(20))
    stats, probs = metrics.sampler_statistics(fast_evaluator, lambda b: next(batches)[:b] * 2 - 1, 64,
                                              value_range=(-1, 1), batch_size=20)
    direct = feature_statistics(fast_evaluator.predict(images)[0])
    np.testing.assert_allclose(stats.mu, direct.mu, atol=1e-5)
    assert stats.n == 64 and probs.shape == (64, 10)


def test_sample_quality_reports_fd_floor_and_histogram(splits, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    train, test = splits
    g = torch.Generator().manual_seed(0)
    real_like = sample_quality(lambda b: sample_images(train.images, b, seed=7) * 2 - 1, train, test, n=400,
                               value_range=(-1, 1), root=tmp_path)
    noise = sample_quality(lambda b: torch.rand(b, 1, 28, 28, generator=g), train, test, n=400, root=tmp_path)
    for result in (real_like, noise):
        assert {"fd", "fd_floor", "classifier_score", "class_histogram", "samples", "evaluator"} <= set(result)
        assert len(result["class_histogram"]) == 10 and result["samples"] == 400
        assert 1.0 <= result["classifier_score"] <= 10.0
    assert real_like["fd"] < 2 * real_like["fd_floor"] + 1
    assert noise["fd"] > 10 * noise["fd_floor"]
    assert real_like["evaluator"]["fast"] is True


def test_graded_formulas_come_from_the_solution_notebook():
    reference = metrics._graded()
    assert reference.__file__.endswith("solutions/13_evaluating_generative_models.ipynb")
    assert metrics.classifier_score(np.eye(10)) == pytest.approx(10.0)
    assert metrics.class_histogram(torch.tensor([0, 0, 3]), 4).tolist() == pytest.approx([2 / 3, 0, 0, 1 / 3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning escapes for a singular product
        assert np.isfinite(metrics.frechet_distance(np.zeros(3), np.zeros((3, 3)), np.ones(3), np.eye(3)))


def test_the_evaluator_trains_inside_no_grad(splits, tmp_path):
    """A first evaluation often runs under torch.no_grad() (after sampling): training must still happen."""
    with torch.no_grad():
        inside = tiny(splits, tmp_path / "inside")
    clear_loaded_evaluators()
    outside = tiny(splits, tmp_path / "outside")
    assert inside.test_accuracy == outside.test_accuracy  # the same seeded training, not an untrained net
    for a, b in zip(inside.net.state_dict().values(), outside.net.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("cached", [False, True])
def test_loading_or_training_the_evaluator_leaves_the_callers_noise_alone(splits, tmp_path, cached):
    """The same seed draws the same samples whether or not the evaluator was loaded before in this process."""
    if cached:
        tiny(splits, tmp_path)
        clear_loaded_evaluators()  # a cache file to read, nothing in memory
    torch.manual_seed(5)
    expected = torch.randn(4)
    torch.manual_seed(5)
    tiny(splits, tmp_path)  # trains (random init, shuffling) or reads the cache
    assert torch.equal(torch.randn(4), expected), "the evaluator drew on the global RNG"


def test_first_and_later_quality_calls_score_the_same_samples(splits, tmp_path):
    train, test = splits
    G = torch.nn.Sequential(torch.nn.Linear(8, 784), torch.nn.Tanh(), torch.nn.Unflatten(1, (1, 28, 28)))
    scores = []
    for call in range(3):  # trains and caches the evaluator; reads the cache; finds it in memory
        if call == 1:
            clear_loaded_evaluators()
        torch.manual_seed(0)
        with torch.no_grad():
            q = sample_quality(lambda b: G(torch.randn(b, 8)), small(train, 300), small(test, 200), n=200,
                               value_range=(-1, 1), root=tmp_path)
        scores.append((q["fd"], q["classifier_score"]))
    assert scores[0] == scores[1] == scores[2]
