"""The run report ``index.html``: relative links to existing artifacts, grids over steps, curves, metrics, settings."""
from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import torch

from tests.test_train import impl_folder, namespace
from vaegan import cli
from vaegan.train import train_gan, train_vae
from vaegan.train.report import REPORT, main, pick_steps, render, write_report

TINY = dict(batch_size=16, progress=False)
QUALITY = {"fd": 123.4, "fd_floor": 4.9, "classifier_score": 3.21, "class_histogram": [0.1] * 10}


class Links(HTMLParser):
    """Every ``src``/``href`` of a page, and its text."""

    def __init__(self):
        super().__init__()
        self.refs, self.images, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("src", "href"):
            if attrs.get(key):
                self.refs.append(attrs[key])
                if tag == "img":
                    self.images.append(attrs[key])

    def handle_data(self, data):
        self.text.append(data)


def parse(out: Path) -> Links:
    page = Links()
    page.feed((out / REPORT).read_text(encoding="utf-8"))
    return page


def broken_links(out: Path) -> list[str]:
    """References of ``out/index.html`` that are absolute, leave the folder or point at nothing."""
    bad = []
    for ref in parse(out).refs:
        url = urlparse(ref)
        path = unquote(url.path)
        if url.scheme or url.netloc or path.startswith("/") or ".." in Path(path).parts or not (out / path).is_file():
            bad.append(ref)
    return bad


@pytest.fixture(autouse=True)
def one_thread_offline(monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.delenv("COURSE_FAST", raising=False)
    monkeypatch.setattr("vaegan.train.vae.quality_metrics", lambda *args, **kwargs: None)  # "not computed"
    monkeypatch.setattr("vaegan.train.gan.quality_metrics", lambda *args, **kwargs: dict(QUALITY))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny VAE run and a tiny GAN run (the GAN with a quality block in metrics.json)."""
    folder = tmp_path_factory.mktemp("runs")
    mp = pytest.MonkeyPatch()
    mp.setattr("vaegan.train.vae.quality_metrics", lambda *args, **kwargs: None)
    mp.setattr("vaegan.train.gan.quality_metrics", lambda *args, **kwargs: dict(QUALITY))
    mp.setenv("COURSE_OFFLINE", "1")
    try:
        vae, _ = train_vae(impl=namespace(), steps=5, save_every=2, out=folder / "vae", **TINY)
        gan, _ = train_gan(impl=namespace(), steps=3, save_every=1, out=folder / "gan", **TINY)
    finally:
        mp.undo()
    return vae, gan


def test_every_reference_is_relative_and_exists(runs):
    for out in runs:
        assert (out / REPORT).is_file()
        assert broken_links(out) == [], f"{out.name}: broken or absolute links"


def test_the_link_check_can_fail(runs, tmp_path):
    import shutil

    vae, _ = runs
    copy = shutil.copytree(vae, tmp_path / "vae")
    (copy / "vae_gen_imgs" / "gen_00002.png").unlink()
    assert set(broken_links(copy)) == {"vae_gen_imgs/gen_00002.png"}  # in the table and in the list of all grids


def test_the_page_shows_every_saved_grid_the_curves_and_the_figures(runs):
    vae, gan = runs
    page = parse(vae)
    saved = sorted(f"{d}/{p.name}" for d in ("vae_gen_imgs", "vae_recon_imgs") for p in (vae / d).glob("*.png"))
    assert len(saved) == 8 and set(page.images) >= set(saved), "a saved grid is missing from the table"
    assert "VAE_output.png" in page.images
    text = " ".join(page.text)
    metrics = json.loads((vae / "metrics.json").read_text())
    assert f"{metrics['neg_elbo']:.6g}" in text and "step 0" in text and "step 5" in text
    assert "Not computed for this run" in text  # quality None
    for name in ("metrics.json", "vae.pt", "checkpoint.pt"):
        assert name in parse(vae).refs
    gan_text = " ".join(parse(gan).text)
    assert "Sample quality" in gan_text and "fd_floor" in gan_text and "123.4" in gan_text
    assert "GAN_output.png" in parse(gan).images


def test_settings_are_shown_and_escaped(runs, tmp_path):
    vae, _ = runs
    text = " ".join(parse(vae).text)
    assert "Run settings" in text and "latent_dim" in text and "channels_last" in text
    metrics = json.loads((vae / "metrics.json").read_text())
    metrics["settings"]["out"] = "<script>alert(1)</script>"
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    html = render(tmp_path)
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_long_runs_show_a_subset_of_steps():
    assert pick_steps(range(0, 9301, 100)) == [*range(0, 9001, 1000), 9300]
    assert pick_steps(range(0, 2301, 100)) == [0, 500, 1000, 1500, 2000, 2300]
    assert pick_steps([0, 2, 4, 5]) == [0, 2, 4, 5]
    odd = pick_steps([*range(0, 700, 7), 700])
    assert odd[0] == 0 and odd[-1] == 700 and len(odd) <= 12 and odd == sorted(set(odd))


def test_long_run_page_lists_every_grid(tmp_path):
    grids = tmp_path / "gan_gen_imgs"
    grids.mkdir()
    for step in range(0, 2301, 100):
        (grids / f"gen_{step:05d}.png").write_bytes(b"")
    page = parse(write_report(tmp_path).parent)
    assert len(page.images) == 6  # the table: 0, 500, ..., 2000, 2300
    assert len([r for r in page.refs if r.startswith("gan_gen_imgs/")]) == 6 + 24  # and every grid linked
    assert "not finished" in " ".join(page.text)


def test_command_line_prints_the_report_path(tmp_path, capsys):
    folder = impl_folder(tmp_path / "impl")
    out = tmp_path / "vae"
    command = ["train", "vae", "--impl", str(folder), "--steps", "2", "--batch-size", "16", "--out", str(out)]
    assert cli.main(command) == 0
    assert f"report: {out / REPORT}" in capsys.readouterr().out
    (out / REPORT).unlink()
    assert main([str(out)]) == 0 and (out / REPORT).is_file()  # python -m vaegan.train.report rebuilds it
