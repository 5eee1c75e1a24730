"""Capstone grading (``autograder.capstone``): real tiny runs graded end to end, and what a submission may get wrong.

The grader never trusts ``metrics.json`` and never unpickles anything but weights: these tests
forge the figure, swap in other architectures, a pickle that runs code, huge and broken files,
and check that each costs exactly the points it should, with a message, and never a crash.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from torch import nn

from autograder.capstone import (GAN_POINTS, VAE_BANDS, VAE_POINTS, Band, check_names, grade_capstone,
                                 map_to_reference, reference_module)
from autograder.grading import CheckResult
from vaegan.train import train_gan, train_vae

from .conftest import make_notebook

VAE_SLUG, GAN_SLUG = "06_capstone_vae", "12_capstone_gan"
TINY = dict(batch_size=32, save_every=10, progress=False, threads=1, impl="solutions")


@pytest.fixture(autouse=True)
def one_thread_offline(monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.delenv("COURSE_FAST", raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def submission(folder: Path, slug: str) -> Path:
    """A student folder holding the capstone notebook (the run goes to ``runs/<kind>`` beside it)."""
    return make_notebook(folder / f"{slug}.ipynb", [("markdown", f"# {slug}", None)],
                         {"course": {"exercise": slug, "kind": "exercise"}})


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    """A real (tiny) run of the reference VAE through the engine: 30 steps, images every 10."""
    root = tmp_path_factory.mktemp("vae_student")
    notebook = submission(root, VAE_SLUG)
    torch.set_num_threads(1)
    train_vae(steps=30, out=root / "runs" / "vae", **TINY)
    return notebook


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("gan_student")
    notebook = submission(root, GAN_SLUG)
    torch.set_num_threads(1)
    train_gan(steps=10, out=root / "runs" / "gan", **TINY)
    return notebook


def copy_submission(notebook: Path, dest: Path) -> Path:
    shutil.copytree(notebook.parent, dest)
    return dest / notebook.name


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.check: r for r in results}


def total(results) -> float:
    return round(sum(r.score for r in results), 2)


# ---------------------------------------------------------------- end to end
def test_tiny_vae_run_graded_end_to_end(vae_run):
    results = grade_capstone(vae_run, VAE_SLUG)
    assert all(isinstance(r, CheckResult) for r in results)
    assert [r.check for r in results] == check_names(VAE_SLUG)
    assert sum(r.max_score for r in results) == 10
    got = by_name(results)
    for name in ("gen_grids.saved", "recon_grids.saved", "loss_plot.saved", "checkpoint.saved", "weights.load",
                 "metrics_json.consistent"):
        assert got[name].score == got[name].max_score, got[name].message
    assert "all 4 sample grids" in got["gen_grids.saved"].message  # steps 0, 10, 20, 30
    assert "agrees" in got["metrics_json.consistent"].message
    # too short a run: the quality band fails and says why
    band = got["neg_elbo.band"]
    assert band.score < band.max_score / 2
    assert "recomputed by the grader" in band.message and "trained 30 steps" in band.message
    assert got["schedule.complete"].score < 0.05 and "fast mode" in got["schedule.complete"].message


def test_tiny_gan_run_graded_end_to_end(gan_run):
    results = grade_capstone(gan_run, GAN_SLUG)
    assert [r.check for r in results] == check_names(GAN_SLUG)
    assert sum(r.max_score for r in results) == 10
    got = by_name(results)
    for name in ("gen_grids.saved", "loss_plot.saved", "checkpoint.saved", "weights.load", "samples.range",
                 "metrics_json.consistent"):
        assert got[name].score == got[name].max_score, got[name].message
    assert got["samples.realism"].score == 0 and "do not look like digits" in got["samples.realism"].message
    classifier = got["samples.classifier"]  # the course evaluator's Fréchet distance, when vaegan.metrics exists
    assert classifier.max_score in (0.0, 1.5)
    if classifier.max_score:
        assert classifier.score == 0 and "Fréchet distance" in classifier.message
    else:
        assert classifier.message.startswith("skipped") and got["samples.realism"].max_score == 2.5


def test_missing_run_folder_gives_every_row_zero(tmp_path):
    for slug in (VAE_SLUG, GAN_SLUG):
        notebook = submission(tmp_path / slug, slug)
        results = grade_capstone(notebook, slug)
        assert [r.check for r in results] == check_names(slug)
        assert all(r.score == 0 for r in results)
        assert sum(r.max_score for r in results) == 10
        assert all("no run folder" in r.message and f"runs/{slug[-3:]}" in r.message for r in results)


def test_run_dir_beside_the_notebook_without_runs_folder(vae_run, tmp_path):
    notebook = submission(tmp_path / "flat", VAE_SLUG)
    shutil.copytree(vae_run.parent / "runs" / "vae", tmp_path / "flat" / "vae")
    assert by_name(grade_capstone(notebook, VAE_SLUG))["weights.load"].score == 1.0


# ---------------------------------------------------------------- nothing in the folder is trusted
def test_forged_metrics_json_gains_nothing(vae_run, tmp_path):
    honest = grade_capstone(vae_run, VAE_SLUG)
    notebook = copy_submission(vae_run, tmp_path / "forger")
    path = notebook.parent / "runs" / "vae" / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics.update(neg_elbo=80.0, steps=2300)
    path.write_text(json.dumps(metrics))
    forged = by_name(grade_capstone(notebook, VAE_SLUG))
    assert forged["neg_elbo.band"].score == by_name(honest)["neg_elbo.band"].score
    assert forged["metrics_json.consistent"].score == 0
    assert "claims 80.0" in forged["metrics_json.consistent"].message
    assert forged["schedule.complete"].score == 0  # 2,300 claimed, checkpoint saved at step 30
    assert total(forged.values()) < total(honest)


def test_wrong_architecture_weights(vae_run, tmp_path):
    notebook = copy_submission(vae_run, tmp_path / "mlp")
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(784, 400), nn.ReLU(), nn.Linear(400, 40))
    torch.save(mlp.state_dict(), notebook.parent / "runs" / "vae" / "vae.pt")
    got = by_name(grade_capstone(notebook, VAE_SLUG))
    assert got["weights.load"].score == 0 and "do not fit the course architecture" in got["weights.load"].message
    assert got["neg_elbo.band"].score == 0 and "did not load" in got["neg_elbo.band"].message
    assert got["gen_grids.saved"].score == got["gen_grids.saved"].max_score  # other artifacts still count


def test_other_names_and_head_order_load_like_the_reference(vae_run, tmp_path):
    """Any attribute names, heads registered logvar-first: the grader pairs the layers by shape and output."""
    state = torch.load(vae_run.parent / "runs" / "vae" / "vae.pt", weights_only=True)
    renamed = {}
    for key, value in state.items():  # logvar head first, every name changed
        renamed[key.replace("encoder.", "enc.").replace("decoder.", "dec.").replace("fc_logvar", "head_a")
                .replace("fc_mu", "head_b")] = value
    order = sorted(renamed, key=lambda k: (not k.startswith("enc.head_a"), 0))
    renamed = {k: renamed[k] for k in order}
    notebook = copy_submission(vae_run, tmp_path / "renamed")
    torch.save(renamed, notebook.parent / "runs" / "vae" / "vae.pt")
    original = by_name(grade_capstone(vae_run, VAE_SLUG))
    got = by_name(grade_capstone(notebook, VAE_SLUG))
    assert got["weights.load"].score == 1.0, got["weights.load"].message
    assert got["neg_elbo.band"].message == original["neg_elbo.band"].message


def test_map_to_reference_tries_both_head_pairings():
    ref = reference_module("04_decoder_and_vae")
    model = ref.VAE(latent_dim=4)
    state = model.state_dict()
    heads = {"encoder.fc_logvar": "encoder.head_a", "encoder.fc_mu": "encoder.head_b"}  # logvar registered first
    renamed = {}
    for prefix in ("encoder.fc_logvar", "encoder.fc_mu"):
        renamed.update({f"{heads[prefix]}.{leaf}": state[f"{prefix}.{leaf}"] for leaf in ("weight", "bias")})
    renamed.update({k: v for k, v in state.items() if ".fc_" not in k or k.startswith("decoder")})
    target = state["encoder.fc_mu.weight"]
    by_file_order = map_to_reference(renamed, model)
    assert torch.equal(by_file_order["encoder.fc_mu.weight"], state["encoder.fc_logvar.weight"])
    chosen = map_to_reference(renamed, model, score=lambda c: float((c["encoder.fc_mu.weight"] - target).abs().sum()))
    assert torch.equal(chosen["encoder.fc_mu.weight"], target)
    assert torch.equal(map_to_reference(state, model)["encoder.fc_mu.weight"], target)  # reference names: as named


class Payload:
    """Unpickling this runs ``exec``: what a hostile weights file would do under ``weights_only=False``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",)


def test_malicious_pickle_is_refused_without_running(vae_run, tmp_path):
    marker = tmp_path / "pwned"
    notebook = copy_submission(vae_run, tmp_path / "evil")
    weights = notebook.parent / "runs" / "vae" / "vae.pt"
    torch.save({"encoder.features.0.weight": torch.zeros(1), "payload": Payload(marker)}, weights)
    torch.load(weights, weights_only=False)  # the payload is live: unsafe loading runs it
    assert marker.exists()
    marker.unlink()
    got = by_name(grade_capstone(notebook, VAE_SLUG))
    assert not marker.exists()
    assert got["weights.load"].score == 0
    assert "weights_only=True" in got["weights.load"].message and "exec" in got["weights.load"].message


def test_malicious_checkpoint_is_refused_too(vae_run, tmp_path):
    marker = tmp_path / "pwned"
    notebook = copy_submission(vae_run, tmp_path / "evil_ckpt")
    torch.save({"kind": "vae", "step": 30, "x": Payload(marker)}, notebook.parent / "runs" / "vae" / "checkpoint.pt")
    got = by_name(grade_capstone(notebook, VAE_SLUG))
    assert not marker.exists()
    assert got["checkpoint.saved"].score == 0 and "refused" in got["checkpoint.saved"].message
    assert got["weights.load"].score == 1.0  # vae.pt itself is fine


@pytest.mark.parametrize("damage, expected", [
    ("huge", "over the 64 MB limit"),
    ("not_zip", "not a PyTorch file"),
    ("truncated", "damaged or truncated archive"),
    ("symlink", "symbolic link"),
    ("tensor", "should hold a state_dict"),
    ("nan", "NaN"),
    ("wrong_shapes", "do not fit the course architecture"),
])
def test_malformed_weights_give_a_message_and_zero(vae_run, tmp_path, damage, expected):
    notebook = copy_submission(vae_run, tmp_path / damage)
    weights = notebook.parent / "runs" / "vae" / "vae.pt"
    good = torch.load(weights, weights_only=True)
    weights.unlink()
    if damage == "huge":
        with open(weights, "wb") as fh:
            fh.truncate(200 * 2**20)  # sparse: costs no disk
    elif damage == "not_zip":
        weights.write_bytes(b"\x80\x02}q\x00." * 100)
    elif damage == "truncated":
        torch.save(good, tmp_path / "full.pt")
        data = (tmp_path / "full.pt").read_bytes()
        weights.write_bytes(data[:4] + data[len(data) // 2:])
    elif damage == "symlink":
        torch.save(good, tmp_path / "elsewhere.pt")
        weights.symlink_to(tmp_path / "elsewhere.pt")
    elif damage == "tensor":
        torch.save(torch.zeros(3), weights)
    elif damage == "nan":
        torch.save({k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in good.items()},
                   weights)
    elif damage == "wrong_shapes":
        torch.save({k: v[..., :1] if v.dim() > 1 else v for k, v in good.items()}, weights)
    got = by_name(grade_capstone(notebook, VAE_SLUG))
    assert got["weights.load"].score == 0
    assert expected in got["weights.load"].message, got["weights.load"].message
    assert got["neg_elbo.band"].score == 0


@pytest.fixture
def built_vaes(monkeypatch):
    """The latent sizes of the reference VAEs the grader builds for real; refuses any over 4,096 (gigabytes)."""
    from autograder import capstone

    built, real = [], capstone.reference_module

    def spy(slug, reference_dir=None):
        module = real(slug, reference_dir)
        if slug != "04_decoder_and_vae":
            return module

        def VAE(latent_dim=32):
            if torch.empty(0).device.type != "meta":
                built.append(latent_dim)
                assert latent_dim <= 4096, f"a VAE with latent_dim {latent_dim} was allocated in the trusted parent"
            return module.VAE(latent_dim=latent_dim)
        return type("Reference04", (), {"VAE": staticmethod(VAE)})

    monkeypatch.setattr(capstone, "reference_module", spy)
    return built


def test_a_latent_size_stated_by_the_run_never_sizes_a_model_it_does_not_fit(vae_run, tmp_path, built_vaes):
    """metrics.json is untrusted: a latent_dim of 10**7 there must not allocate a 47 GB VAE in the grader."""
    notebook = copy_submission(vae_run, tmp_path / "huge_latent")
    run = notebook.parent / "runs" / "vae"
    metrics = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps(metrics | {"latent_dim": 10**7}))
    torch.save(reference_module("04_decoder_and_vae").VAE(latent_dim=16).state_dict(), run / "vae.pt")
    got = by_name(grade_capstone(notebook, VAE_SLUG))
    assert got["weights.load"].score == got["weights.load"].max_score, got["weights.load"].message
    assert "latent_dim 16" in got["weights.load"].message
    assert max(built_vaes) <= 1024


def test_weights_that_declare_gigabytes_over_a_tiny_storage_are_refused(vae_run, tmp_path, built_vaes):
    """Stride-0 views make a 5 KB file declare a 47 GB model; with metrics.json agreeing, nothing is allocated."""
    notebook = copy_submission(vae_run, tmp_path / "views")
    run = notebook.parent / "runs" / "vae"
    latent = 10**7
    with torch.device("meta"):
        shapes = reference_module("04_decoder_and_vae").VAE(latent_dim=latent).state_dict()
    torch.save({k: torch.zeros(()).expand(v.shape) for k, v in shapes.items()}, run / "vae.pt")
    metrics = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps(metrics | {"latent_dim": latent}))
    assert (run / "vae.pt").stat().st_size < 2**20
    got = by_name(grade_capstone(notebook, VAE_SLUG))
    assert got["weights.load"].score == 0 and "MB limit" in got["weights.load"].message, got["weights.load"].message
    assert got["gen_grids.saved"].score == got["gen_grids.saved"].max_score  # the rest is still graded
    assert max(built_vaes, default=0) <= 1024


def test_missing_and_broken_images_cost_their_share(vae_run, tmp_path):
    notebook = copy_submission(vae_run, tmp_path / "images")
    run = notebook.parent / "runs" / "vae"
    (run / "vae_gen_imgs" / "gen_00030.png").unlink()
    (run / "vae_recon_imgs" / "recon_00010.png").write_bytes(b"not a png")
    (run / "VAE_output.png").unlink()
    got = by_name(grade_capstone(notebook, VAE_SLUG))
    assert got["gen_grids.saved"].score == pytest.approx(0.75) and "gen_00030.png" in got["gen_grids.saved"].message
    assert got["recon_grids.saved"].score == pytest.approx(0.75) and "not a PNG" in got["recon_grids.saved"].message
    assert got["loss_plot.saved"].score == 0 and "VAE_output.png is missing" in got["loss_plot.saved"].message


def test_a_run_resumed_with_another_interval_is_judged_by_its_own_record(tmp_path):
    notebook = submission(tmp_path / "resumed", GAN_SLUG)
    run = notebook.parent / "runs" / "gan"
    train_gan(steps=20, out=run, stop_after=10, **(TINY | {"save_every": 10}))
    train_gan(steps=20, out=run, resume=True, **(TINY | {"save_every": 4}))  # images 0, 10, 12, 16, 20
    got = by_name(grade_capstone(notebook, GAN_SLUG))
    grids = got["gen_grids.saved"]
    assert grids.score == grids.max_score and "all 5 sample grids" in grids.message, grids.message
    (run / "gan_gen_imgs" / "gen_00012.png").unlink()
    grids = by_name(grade_capstone(notebook, GAN_SLUG))["gen_grids.saved"]
    assert grids.score == pytest.approx(0.8 * grids.max_score) and "gen_00012.png" in grids.message


@pytest.mark.parametrize("record", [[0, 10], [0, 20, 10, 30], [1, 10, 20, 30], "0,10,20,30", [0, 10.5, 20, 30]],
                         ids=["does-not-end-at-steps", "not-increasing", "not-from-0", "not-a-list", "fractional"])
def test_a_malformed_saved_steps_record_falls_back_to_the_interval(vae_run, tmp_path, record):
    notebook = copy_submission(vae_run, tmp_path / "record")
    metrics_path = notebook.parent / "runs" / "vae" / "metrics.json"
    metrics_path.write_text(json.dumps(json.loads(metrics_path.read_text()) | {"saved_steps": record}))
    (notebook.parent / "runs" / "vae" / "vae_gen_imgs" / "gen_00020.png").unlink()
    grids = by_name(grade_capstone(notebook, VAE_SLUG))["gen_grids.saved"]
    assert grids.score == pytest.approx(0.75 * grids.max_score) and "every 10" in grids.message, grids.message


def test_unfinished_run_is_graded_from_its_checkpoint(vae_run, tmp_path):
    notebook = copy_submission(vae_run, tmp_path / "unfinished")
    (notebook.parent / "runs" / "vae" / "vae.pt").unlink()
    got = by_name(grade_capstone(notebook, VAE_SLUG))
    assert got["weights.load"].score == 0.5 and "checkpoint.pt" in got["weights.load"].message
    assert "recomputed by the grader" in got["neg_elbo.band"].message


def test_garbage_metrics_json(vae_run, tmp_path):
    notebook = copy_submission(vae_run, tmp_path / "garbage")
    (notebook.parent / "runs" / "vae" / "metrics.json").write_text("[" * 100000)
    got = by_name(grade_capstone(notebook, VAE_SLUG))
    assert got["metrics_json.consistent"].score == 0 and "not valid JSON" in got["metrics_json.consistent"].message
    assert got["gen_grids.saved"].score == got["gen_grids.saved"].max_score  # schedule read from the checkpoint


def test_collapsed_generator_fails_range_and_diversity(gan_run, tmp_path):
    notebook = copy_submission(gan_run, tmp_path / "collapsed")
    weights = notebook.parent / "runs" / "gan" / "generator.pt"
    state = torch.load(weights, weights_only=True)
    last = [k for k in state if k.endswith("weight") and state[k].dim() == 4][-1]
    state[last] = torch.zeros_like(state[last])  # every output = tanh(bias): one flat image
    torch.save(state, weights)
    got = by_name(grade_capstone(notebook, GAN_SLUG))
    assert got["weights.load"].score == 1.0
    assert got["samples.range"].score == 0 and "same flat image" in got["samples.range"].message
    assert got["samples.diversity"].score == 0 and "mode collapse" in got["samples.diversity"].message


# ---------------------------------------------------------------- bands and points
def test_bands_score_linearly_between_full_and_zero():
    band = VAE_BANDS["mnist-offline"]
    assert band.fraction(band.full - 5) == 1.0 and band.fraction(band.zero + 5) == 0.0
    assert band.fraction((band.full + band.zero) / 2) == pytest.approx(0.5)
    assert band.fraction(float("nan")) == 0.0
    higher = Band(full=0.75, zero=0.35, unit="", evidence="")
    assert higher.fraction(0.8) == 1.0 and higher.fraction(0.3) == 0.0 and higher.fraction(0.55) == pytest.approx(0.5)
    assert sum(VAE_POINTS.values()) == 10 and sum(GAN_POINTS.values()) == 10


def test_reference_band_is_met_by_the_schedules_figure():
    """The recorded reference figure at 2,300 steps (offline split) earns full credit; 300 steps earn none."""
    band = VAE_BANDS["mnist-offline"]
    assert band.fraction(116.2) == 1.0 and band.fraction(179.5) == 0.0
    assert 0.5 < band.fraction(125.4) < 1.0  # 1,000 steps: partial credit


def test_forged_gan_quality_gains_nothing(gan_run, tmp_path):
    notebook = copy_submission(gan_run, tmp_path / "gan_forger")
    path = notebook.parent / "runs" / "gan" / "metrics.json"
    metrics = json.loads(path.read_text())
    if not isinstance(metrics.get("quality"), dict) or "fd" not in metrics["quality"]:
        pytest.skip("this engine writes no classifier figures to metrics.json")
    honest = by_name(grade_capstone(gan_run, GAN_SLUG))
    metrics["quality"]["fd"] = 5.0
    path.write_text(json.dumps(metrics))
    forged = by_name(grade_capstone(notebook, GAN_SLUG))
    assert forged["samples.classifier"].score == honest["samples.classifier"].score
    if forged["samples.classifier"].max_score:
        assert forged["metrics_json.consistent"].score == 0
        assert "claims a classifier Fréchet distance of 5.0" in forged["metrics_json.consistent"].message


def gan_quality_script():
    """``benchmarks/gan_quality.py`` as a module (benchmarks/ is not a package on the path)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gan_quality", Path(__file__).resolve().parents[1]
                                                  / "benchmarks" / "gan_quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gan_quality_benchmark_reads_final_weights_and_checkpoints(gan_run, tmp_path):
    """``benchmarks/gan_quality.py`` scores a finished run and one stopped at a save point alike."""
    import json

    bench = gan_quality_script()
    run = gan_run.parent / "runs" / "gan"
    stopped = tmp_path / "stopped"
    stopped.mkdir()
    shutil.copy(run / "checkpoint.pt", stopped / "checkpoint.pt")  # as if killed after its last save point
    for folder, name in ((run, "final"), (stopped, "stopped")):
        out = tmp_path / f"{name}.json"
        assert bench.main([str(folder), "--samples", "200", "--json", str(out)]) == 0
        report = json.loads(out.read_text())
        assert report["step"] == 10 and len(report["class_histogram"]) == 10
        assert abs(sum(report["class_histogram"]) - 1) < 1e-3 and report["fd"] > report["fd_floor"] > 0
        assert 1 <= report["classifier_score"] <= 10 and report["classifier_score_test_split"] > 5
        assert report["criteria"]["score_at_least_90_percent"] is False  # 10 steps are not a trained GAN
        memo = report["discriminator_mean_output"]
        assert all(0 < memo[k] < 1 for k in ("train_digits", "test_digits", "generated"))
        assert memo["train_minus_test"] == pytest.approx(memo["train_digits"] - memo["test_digits"], abs=2e-4)
        spread = report["centre_of_mass_spread_px"]
        assert 0.1 < spread["test_digits"][0] < 1.0, "MNIST centres digits by their centre of mass"
        assert all(s > 0 for s in spread["generated"])


def benchmark_script(name: str):
    """``benchmarks/<name>.py`` as a module, with benchmarks/ importable for its own imports."""
    import importlib.util
    import sys

    folder = Path(__file__).resolve().parents[1] / "benchmarks"
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_truncation_sweep_matches_plain_scoring_and_writes_its_grid(gan_run, tmp_path):
    """``gan_truncation.py``'s plain row is ``gan_quality.py``'s figure on the same seed; each bound gets a row."""
    run = gan_run.parent / "runs" / "gan"
    plain, truncated, swept = tmp_path / "plain.json", tmp_path / "truncated.json", tmp_path / "sweep.json"
    quality = gan_quality_script()
    assert quality.main([str(run), "--samples", "300", "--json", str(plain)]) == 0
    assert quality.main([str(run), "--samples", "300", "--truncation", "0.5", "--json", str(truncated)]) == 0
    assert benchmark_script("gan_truncation").main([str(run), "--samples", "300", "--thresholds", "0.5",
                                                    "--json", str(swept)]) == 0
    plain, truncated, swept = (json.loads(p.read_text()) for p in (plain, truncated, swept))
    assert plain["truncation"] is None and truncated["truncation"] == 0.5
    assert [row["threshold"] for row in swept["rows"]] == [None, 0.5]
    for row, single in zip(swept["rows"], (plain, truncated)):
        assert row["classifier_score"] == single["classifier_score"] and row["fd"] == single["fd"]
        assert row["class_histogram"] == single["class_histogram"]
        assert row["score_share"] == single["score_share"]
    assert swept["rows"][0]["fd"] != swept["rows"][1]["fd"], "truncation must change the samples"
    assert (tmp_path / swept["grid"]).stat().st_size > 0
    assert all(0 <= row["unsure_share"] <= 1 and 0.1 <= row["top_probability_mean"] <= 1 for row in swept["rows"])
    with pytest.raises(SystemExit):
        quality.main([str(run), "--truncation", "0", "--json", str(tmp_path / "no.json")])


def test_confidence_counts_the_unsure_predictions():
    sweep = benchmark_script("gan_truncation")
    probs = torch.tensor([[1.0] + [0.0] * 9, [0.95, 0.05] + [0.0] * 8, [0.5, 0.5] + [0.0] * 8, [0.1] * 10])
    assert sweep.confidence(probs) == {"top_probability_mean": pytest.approx((1 + 0.95 + 0.5 + 0.1) / 4, abs=1e-4),
                                       "unsure_share": 0.5}


def test_a_run_folder_reached_through_a_link_is_refused(vae_run, tmp_path):
    """``ln -s ../bob/runs runs``: another student's artifacts must not be graded as mine."""
    mallory = tmp_path / "mallory"
    mallory.mkdir()
    notebook = shutil.copy(vae_run, mallory / vae_run.name)
    (mallory / "runs").symlink_to(vae_run.parent / "runs", target_is_directory=True)
    results = grade_capstone(Path(notebook), VAE_SLUG)
    assert [r.check for r in results] == check_names(VAE_SLUG)
    assert total(results) == 0 and all("symbolic link" in r.message for r in results)
    copied = copy_submission(vae_run, tmp_path / "honest")  # the same files, really there: graded
    assert total(grade_capstone(copied, VAE_SLUG)) == total(grade_capstone(vae_run, VAE_SLUG)) > 0


def test_centre_of_mass_spread_measures_how_far_digits_wander():
    bench = gan_quality_script()
    dots = torch.zeros(4, 1, 28, 28)
    for i, (r, c) in enumerate([(10, 14), (18, 14), (14, 10), (14, 18)]):
        dots[i, 0, r, c] = 1.0  # one bright pixel per image: its centre of mass
    rows, cols = bench.centre_of_mass_spread(dots)
    expected = torch.tensor([10.0, 18.0, 14.0, 14.0]).std().item()
    assert rows == pytest.approx(expected, abs=1e-3) and cols == pytest.approx(expected, abs=1e-3)
    assert bench.centre_of_mass_spread(dots[[0, 0, 0]]) == [0.0, 0.0]


# ---------------------------------------------------------------- honest submissions the grader must not fail
@pytest.mark.parametrize("where", ["runs/vae_final", "runs/vae/vae", "capstone/runs/vae", "capstone_vae"])
def test_run_folder_renamed_nested_or_under_a_zip_top_folder_is_found(vae_run, tmp_path, where):
    """A run folder renamed, copied one level too deep (cp -r into an existing runs/vae) or extracted from a
    zip with a top folder is still the student's only run: graded where it is, with a note."""
    notebook = submission(tmp_path / "student", VAE_SLUG)
    shutil.copytree(vae_run.parent / "runs" / "vae", notebook.parent / where)
    results = grade_capstone(notebook, VAE_SLUG)
    assert total(results) == total(grade_capstone(vae_run, VAE_SLUG)) > 0
    assert f"found at {where}/" in results[0].message and "runs/vae/" in results[0].message


def test_several_or_other_students_run_folders_are_never_guessed(vae_run, gan_run, tmp_path):
    notebook = submission(tmp_path / "two_runs", VAE_SLUG)
    for name in ("vae_beta4", "vae_long"):
        shutil.copytree(vae_run.parent / "runs" / "vae", notebook.parent / "runs" / name)
    results = grade_capstone(notebook, VAE_SLUG)
    assert total(results) == 0
    assert all("runs/vae_beta4/" in r.message and "runs/vae_long/" in r.message for r in results)
    # one folder holding several students' notebooks: a run below it may be anyone's
    shared = tmp_path / "shared"
    alice = make_notebook(shared / f"alice_{VAE_SLUG}.ipynb", [("markdown", "# a", None)],
                          {"course": {"exercise": VAE_SLUG, "kind": "exercise"}})
    shutil.copy(alice, shared / f"bob_{VAE_SLUG}.ipynb")
    shutil.copytree(vae_run.parent / "runs" / "vae", shared / "bob" / "runs" / "vae")
    results = grade_capstone(alice, VAE_SLUG)
    assert total(results) == 0 and "no run folder" in results[0].message
    # a GAN run is not the VAE's run folder
    notebook = submission(tmp_path / "gan_only", VAE_SLUG)
    shutil.copytree(gan_run.parent / "runs" / "gan", notebook.parent / "runs" / "gan")
    assert total(grade_capstone(notebook, VAE_SLUG)) == 0


def _prefixed(state, prefix):
    return {prefix + k: v for k, v in state.items()}


VAE_SAVES = {  # how honest code saves a state_dict, besides the engine's torch.save(model.state_dict())
    "tutorial_checkpoint": lambda sd: {"epoch": 3, "model_state_dict": sd, "loss": 101.0,
                                       "optimizer_state_dict": {"state": {}, "param_groups": [{"lr": 1e-3}]}},
    "averaged_model": lambda sd: {"n_averaged": torch.tensor(30), **_prefixed(sd, "module.")},  # swa_utils EMA
    "course_ema": lambda sd: {"decay": 0.999, "updates": 30, "average": sd},  # vaegan.train.ema.WeightAverage
    "data_parallel": lambda sd: _prefixed(sd, "module."),
    "compiled": lambda sd: _prefixed(sd, "_orig_mod."),
    "half": lambda sd: {k: v.half() for k, v in sd.items()},
    "bfloat16": lambda sd: {k: v.bfloat16() for k, v in sd.items()},
}


@pytest.mark.parametrize("save", list(VAE_SAVES))
def test_weights_saved_by_other_honest_code_paths_load(vae_run, tmp_path, save):
    notebook = copy_submission(vae_run, tmp_path / save)
    weights = notebook.parent / "runs" / "vae" / "vae.pt"
    torch.save(VAE_SAVES[save](torch.load(weights, weights_only=True)), weights)
    got, honest = by_name(grade_capstone(notebook, VAE_SLUG)), by_name(grade_capstone(vae_run, VAE_SLUG))
    assert got["weights.load"].score == 1.0, got["weights.load"].message
    assert got["neg_elbo.band"].message == honest["neg_elbo.band"].message


def test_gan_weights_in_one_checkpoint_dict_or_without_batch_counters_load(gan_run, tmp_path):
    notebook = copy_submission(gan_run, tmp_path / "gan_dicts")
    run = notebook.parent / "runs" / "gan"
    G, D = (torch.load(run / name, weights_only=True) for name in ("generator.pt", "discriminator.pt"))
    # both models in generator.pt (the discriminator first), DCGAN-tutorial names; D without num_batches_tracked
    torch.save({"epoch": 1, "netD": D, "netG": G, "optG": {"state": {}, "param_groups": []}}, run / "generator.pt")
    torch.save({k: v for k, v in D.items() if not k.endswith("num_batches_tracked")}, run / "discriminator.pt")
    got = by_name(grade_capstone(notebook, GAN_SLUG))
    assert got["weights.load"].score == 1.0, got["weights.load"].message
    assert "generator.pt['netG']" in got["weights.load"].message
    honest = by_name(grade_capstone(gan_run, GAN_SLUG))
    assert got["samples.diversity"].message == honest["samples.diversity"].message


def test_gan_messages_name_the_band_schedule_and_why_a_short_run_falls_short(gan_run):
    got = by_name(grade_capstone(gan_run, GAN_SLUG))
    for name in ("samples.diversity", "samples.realism", "samples.class_coverage"):
        assert "9,300-step schedule on the offline MNIST split" in got[name].message, got[name].message
    assert "the run trained 10 steps: train the full 9,300-step schedule" in got["samples.realism"].message


def test_a_fast_mode_claim_is_not_called_inconsistent(gan_run, tmp_path):
    """COURSE_FAST=1 scores samples with a tiny evaluator: its FD is on another scale, not a false claim."""
    notebook = copy_submission(gan_run, tmp_path / "fast_claim")
    path = notebook.parent / "runs" / "gan" / "metrics.json"
    metrics = json.loads(path.read_text())
    if not isinstance(metrics.get("quality"), dict) or "fd" not in metrics["quality"]:
        pytest.skip("this engine writes no classifier figures to metrics.json")
    metrics["quality"].update(fd=5.0, samples=500, evaluator={**metrics["quality"]["evaluator"], "fast": True})
    path.write_text(json.dumps(metrics))
    got = by_name(grade_capstone(notebook, GAN_SLUG))
    if not got["samples.classifier"].max_score:
        pytest.skip("the classifier metrics are not available here")
    assert got["metrics_json.consistent"].score == got["metrics_json.consistent"].max_score
    assert "not compared" in got["metrics_json.consistent"].message


def test_another_dataset_and_missing_files_say_what_to_do(vae_run, tmp_path):
    notebook = copy_submission(vae_run, tmp_path / "fashion")
    run = notebook.parent / "runs" / "vae"
    metrics = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps(metrics | {"dataset": "fashion-mnist", "neg_elbo": 250.0}))
    got = by_name(grade_capstone(notebook, VAE_SLUG))
    assert "trained on fashion-mnist" in got["neg_elbo.band"].message and "--data mnist" in got["neg_elbo.band"].message
    assert got["metrics_json.consistent"].score == got["metrics_json.consistent"].max_score  # another test set
    (run / "metrics.json").unlink()
    (run / "VAE_output.png").unlink()
    got = by_name(grade_capstone(notebook, VAE_SLUG))
    for name, missing in (("metrics_json.consistent", "metrics.json"), ("loss_plot.saved", "VAE_output.png")):
        assert got[name].score == 0 and f"{missing} is missing" in got[name].message
        assert "whole run folder" in got[name].message and "--resume" in got[name].message


# ---------------------------------------------------------------- run folders as students really hand them in
@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_metrics_json_reformatted_by_a_windows_editor_keeps_its_points(vae_run, tmp_path, encoding):
    """Notepad saves UTF-8 with a BOM, PowerShell's Out-File UTF-16; CRLF, indentation and key order change:
    the same JSON, the same grade."""
    notebook = copy_submission(vae_run, tmp_path / encoding)
    path = notebook.parent / "runs" / "vae" / "metrics.json"
    data = json.loads(path.read_text())
    path.write_bytes(json.dumps(dict(sorted(data.items())), indent=4).replace("\n", "\r\n").encode(encoding))
    got = by_name(grade_capstone(notebook, VAE_SLUG))
    assert got["metrics_json.consistent"].score == got["metrics_json.consistent"].max_score, \
        got["metrics_json.consistent"].message
    assert "agrees" in got["metrics_json.consistent"].message
    assert total(got.values()) == total(grade_capstone(vae_run, VAE_SLUG))


def test_a_run_folder_whose_names_changed_case_is_graded_with_a_note(vae_run, tmp_path):
    """Copied through Windows, a FAT stick or a zip tool: Runs/VAE/VAE.PT, Vae_Gen_Imgs/GEN_00010.PNG ..."""
    notebook = submission(tmp_path / "upper", VAE_SLUG)
    run = notebook.parent / "Runs" / "VAE"
    shutil.copytree(vae_run.parent / "runs" / "vae", run)
    for path in sorted(run.rglob("*"), key=lambda p: -len(p.parts)):  # deepest first: renames keep parents valid
        path.rename(path.with_name(path.name.upper() if path.is_file() else path.name.title()))
    assert (run / "VAE.PT").exists() and (run / "Vae_Gen_Imgs" / "GEN_00010.PNG").exists()
    results = grade_capstone(notebook, VAE_SLUG)
    assert total(results) == total(grade_capstone(vae_run, VAE_SLUG)) > 0
    first = results[0].message
    assert "Runs/VAE/" in first and "metrics.json as METRICS.JSON" in first and "graded as found" in first
    assert "VAE.PT loads into the reference VAE" in by_name(results)["weights.load"].message


def test_extra_files_in_the_run_folder_cost_nothing(vae_run, tmp_path):
    """Notes, a copied grid, a differently padded or oddly named image and another run below the run folder."""
    notebook = copy_submission(vae_run, tmp_path / "extras")
    run = notebook.parent / "runs" / "vae"
    grids = run / "vae_gen_imgs"
    (run / "notes.txt").write_text("beta 1, 2,300 steps")
    shutil.copytree(run, run / "beta4")
    shutil.copy(grids / "gen_00010.png", grids / "gen_final.png")
    shutil.copy(grids / "gen_00010.png", grids / "gen_00005.png")
    shutil.copy(grids / "gen_00010.png", grids / "gen_0010.png")  # the same step, another padding
    shutil.copy(grids / "gen_00010.png", grids / "gen_\u00b2.png")  # "²".isdigit() but int("²") raises
    (grids / "gen_00020.png").rename(grids / "gen_020.png")
    got = by_name(grade_capstone(notebook, VAE_SLUG))
    assert total(got.values()) == total(grade_capstone(vae_run, VAE_SLUG))
    assert "all 4 sample grids" in got["gen_grids.saved"].message, got["gen_grids.saved"].message
    assert "gen_00020.png as gen_020.png" in got["gen_grids.saved"].message


def test_an_interrupted_run_is_told_to_resume(vae_run, tmp_path):
    notebook = copy_submission(vae_run, tmp_path / "interrupted")
    run = notebook.parent / "runs" / "vae"
    for name in ("metrics.json", "vae.pt", "VAE_output.png"):
        (run / name).unlink()
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    state["config"]["steps"] = 2300  # a 2,300-step run killed after the save point at step 30
    torch.save(state, run / "checkpoint.pt")
    schedule = by_name(grade_capstone(notebook, VAE_SLUG))["schedule.complete"]
    assert "interrupted at step 30 of its 2,300" in schedule.message and "--resume" in schedule.message
    assert "fast mode" not in schedule.message


def test_no_run_folder_says_why_folders_below_were_not_searched(vae_run, tmp_path):
    """A Jupyter "Make a Copy" beside the notebook stops the search below it: the message says so, and where
    the trainer writes under COURSE_RUNS_DIR."""
    notebook = submission(tmp_path / "copy", VAE_SLUG)
    shutil.copy(notebook, notebook.with_name(f"{VAE_SLUG}-Copy1.ipynb"))
    shutil.copytree(vae_run.parent / "runs" / "vae", notebook.parent / "my_runs" / "vae")
    results = grade_capstone(notebook, VAE_SLUG)
    assert total(results) == 0
    assert f"also holds {VAE_SLUG}-Copy1.ipynb" in results[0].message and "not searched" in results[0].message
    assert "$COURSE_RUNS_DIR/vae" in results[0].message


def test_a_run_of_the_reference_solutions_is_noted_not_deducted(vae_run, tmp_path):
    """``python -m vaegan train`` without ``--impl .`` trains the course's solutions: the first row says so (the
    metrics.json is the student's, so it is a note, not a deduction); a run of the student's notebooks says
    nothing."""
    reference = grade_capstone(vae_run, VAE_SLUG)
    assert "trained the course's reference solutions" in reference[0].message and "--impl ." in reference[0].message
    notebook = copy_submission(vae_run, tmp_path / "own")
    path = notebook.parent / "runs" / "vae" / "metrics.json"
    data = json.loads(path.read_text())
    data["impl"] = {"spec": ".", "folder": str(notebook.parent), "notebooks": {"VAE": "04_decoder_and_vae.ipynb"}}
    path.write_text(json.dumps(data))
    own = grade_capstone(notebook, VAE_SLUG)
    assert not any("reference solutions" in r.message for r in own)
    assert total(own) == total(reference)
