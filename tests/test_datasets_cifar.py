"""Datasets: CIFAR-10 from the published python-pickle batches (faked here)."""
from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

import hwdata
from hwdata import build, cifar
from hwdata import manifest as mf

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "datasets" / "sources"
PER_BATCH = 20                       # 2 images per class in every batch


def write_batch(path: Path, seed: int, n: int = PER_BATCH) -> tuple[np.ndarray, list[int]]:
    """One batch in the published layout: a protocol-2 pickle of a dict with bytes keys,
    whose array refers to numpy.core.multiarray as the original (Python 2) files do."""
    rs = np.random.RandomState(seed)
    data = rs.randint(0, 256, size=(n, 3072)).astype(np.uint8)
    labels = [i % 10 for i in range(n)]
    batch = {b"batch_label": b"fake batch", b"labels": labels, b"data": data,
             b"filenames": [f"img_{i}.png".encode() for i in range(n)]}
    raw = pickle.dumps(batch, protocol=2).replace(b"numpy._core.multiarray",
                                                  b"numpy.core.multiarray")
    path.write_bytes(raw)
    return data, labels


@pytest.fixture
def cifar_dir(tmp_path) -> Path:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for i, name in enumerate((*cifar.TRAIN_FILES, cifar.TEST_FILE)):
        write_batch(folder / name, seed=i)
    return folder


def test_cifar_build_and_load(cifar_dir, tmp_path, monkeypatch):
    out = tmp_path / "data"
    build.build(out, cifar10=cifar_dir, sources=SOURCES, log=lambda _: None)
    monkeypatch.setenv(mf.ENV_ROOT, str(out))
    monkeypatch.delenv(mf.ENV_VARIANT, raising=False)
    data = hwdata.load("cifar10")
    assert data["X_train"].shape == (90, 3, 32, 32) and data["X_val"].shape == (10, 3, 32, 32)
    assert data["X_test"].shape == (20, 3, 32, 32)
    for key, arr in data.items():
        assert arr.dtype == (np.float32 if key[0] == "X" else np.int64)
    assert np.array_equal(np.bincount(data["y_val"]), np.ones(10))       # stratified
    assert data["X_train"].min() >= 0 and data["X_train"].max() <= 1
    # pixel values and channel layout survive: compare with the test batch itself
    test_data, test_labels = cifar.read_batch(cifar_dir / "test_batch")
    idx = np.load(out / "processed" / "cifar10.npz")["idx_test"]
    assert np.array_equal(data["X_test"], test_data[idx].reshape(-1, 3, 32, 32) / np.float32(255))
    assert np.array_equal(data["y_test"], np.array(test_labels)[idx])
    entry = json.loads((out / "MANIFEST.json").read_text())["files"]["processed/cifar10.npz"]
    assert set(entry["source_files"]) == {*cifar.TRAIN_FILES, cifar.TEST_FILE}
    assert entry["split_sizes"] == {"train": 90, "val": 10, "test": 20}
    before = (out / "processed" / "cifar10.npz").read_bytes()
    build.build(out, log=lambda _: None)                 # a plain rebuild keeps CIFAR-10
    assert hwdata.load("cifar10")["y_val"].shape == (10,)
    assert (out / "processed" / "cifar10.npz").read_bytes() == before


def test_not_a_folder(tmp_path):
    with pytest.raises(hwdata.DatasetError, match=r"is not a folder\. Fix: pass CIFAR10="):
        build.build(tmp_path / "out", cifar10=tmp_path / "nowhere", sources=SOURCES)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content, problem", [
    (b"this is the binary version, not a pickle", "not a CIFAR-10 python pickle batch"),
    (pickle.dumps([1, 2, 3], protocol=2), "holds a list, not the batch dict"),
    (pickle.dumps({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}),
     "'data' must be a uint8 array (N, 3072)"),
    (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}),
     "2 images but 1 labels"),
    (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}),
     "labels must be 0..9"),
])
def test_bad_batches(cifar_dir, tmp_path, content, problem):
    bad = cifar_dir / "data_batch_3"
    bad.write_bytes(content)
    out = tmp_path / "out"
    with pytest.raises(hwdata.DatasetError) as err:
        build.build(out, cifar10=cifar_dir, sources=SOURCES, log=lambda _: None)
    assert str(bad) in str(err.value) and problem in str(err.value)
    assert "CIFAR10=" in str(err.value)
    assert not out.exists() or list(out.iterdir()) == []


def test_missing_batch(cifar_dir):
    (cifar_dir / "test_batch").unlink()
    with pytest.raises(hwdata.DatasetError, match=r"test_batch: missing"):
        cifar.read_folder(cifar_dir)


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_pickle_that_runs_code_is_refused(cifar_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (cifar_dir / "data_batch_1").write_bytes(pickle.dumps({b"data": _Evil(), b"labels": []}))
    with pytest.raises(hwdata.DatasetError,
                       match=r"data_batch_1: not a CIFAR-10 python pickle.*refusing to load"):
        cifar.read_folder(cifar_dir)
    assert not (tmp_path / "pwned").exists()
