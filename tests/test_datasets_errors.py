"""Datasets: every bad input gives one clear DatasetError naming the file and fix."""
from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import pytest

import hwdata
from hwdata import build, homework
from hwdata import manifest as mf

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "datasets"
GOOD_LINE = "0.4812 0.7790 0.8904 0.7361 0.9552 0.2119 0.7992 0.2409 4 \n"


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    """A copy of the committed processed data, used as the data root."""
    for rel in ("MANIFEST.json", "processed/cihlab.npz", "processed/digits.npz"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(COMMITTED / rel, tmp_path / rel)
    monkeypatch.setenv(mf.ENV_ROOT, str(tmp_path))
    monkeypatch.delenv(mf.ENV_VARIANT, raising=False)
    return tmp_path


def test_missing_file(root):
    (root / "processed" / "cihlab.npz").unlink()
    with pytest.raises(hwdata.DatasetError,
                       match=r"processed/cihlab\.npz: missing\. Fix: run `make datasets`"):
        hwdata.load("cihlab")


def test_truncated_file(root):
    path = root / "processed" / "cihlab.npz"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(hwdata.DatasetError,
                       match=r"cihlab\.npz: truncated or altered \(1000 bytes.*make datasets"):
        hwdata.load("cihlab")


def test_altered_file_even_after_a_cached_load(root):
    assert hwdata.load("digits")["X_train"].shape == (1197, 64)     # verified and cached
    path = root / "processed" / "digits.npz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF                                    # same size, one bit flipped
    path.write_bytes(bytes(data))
    os.utime(path, ns=(1, 1))                                       # a new mtime for sure
    with pytest.raises(hwdata.DatasetError, match=r"digits\.npz: altered \(sha256.*make datasets"):
        hwdata.load("digits")


def test_missing_or_broken_manifest(root):
    (root / "MANIFEST.json").write_text("{not json")
    with pytest.raises(hwdata.DatasetError, match=r"MANIFEST\.json: unreadable.*make datasets"):
        hwdata.load("cihlab")
    (root / "MANIFEST.json").unlink()
    with pytest.raises(hwdata.DatasetError, match=r"MANIFEST\.json: missing"):
        hwdata.load("cihlab")


def test_unknown_names(root):
    with pytest.raises(ValueError, match="choose one of"):
        hwdata.load("imagenet")
    with pytest.raises(hwdata.DatasetError, match=r"no variant seed-3.*make datasets SEED=3"):
        hwdata.load("cihlab", variant="seed-3")
    with pytest.raises(hwdata.DatasetError, match=r"no dataset cifar10.*CIFAR10="):
        hwdata.load("cifar10")
    with pytest.raises(ValueError, match="seed-<n>"):
        hwdata.load("cihlab", variant="spring")


@pytest.mark.parametrize("line, problem", [
    (GOOD_LINE.replace(" 4 \n", " \n"), "line 2 has 8 columns, expected 9"),
    (GOOD_LINE.replace(" 4 \n", " 4 1 \n"), "line 2 has 10 columns"),
    (GOOD_LINE.replace(" 4 \n", " 5 \n"), "line 2 has label '5', expected an integer 1..4"),
    (GOOD_LINE.replace(" 4 \n", " 0 \n"), "line 2 has label '0'"),
    (GOOD_LINE.replace(" 4 \n", " 2.5 \n"), "line 2 has label '2.5'"),
    (GOOD_LINE.replace("0.7790", "nan"), "line 2 holds NaN or infinity"),
    (GOOD_LINE.replace("0.7790", "1.7790"), "line 2 has a feature outside"),
    (GOOD_LINE.replace("0.7790", "abc"), "line 2 holds something that is not a number"),
])
def test_bad_homework_file(tmp_path, line, problem):
    path = tmp_path / "cihlab_dataset.txt"
    path.write_text(GOOD_LINE + line + GOOD_LINE)
    with pytest.raises(hwdata.DatasetError) as err:
        homework.read(path)
    assert str(path) in str(err.value) and problem in str(err.value)
    assert "Fix:" in str(err.value)


def _sources_copy(tmp_path: Path) -> Path:
    sources = tmp_path / "sources"
    shutil.copytree(COMMITTED / "sources", sources)
    return sources


def _assert_nothing_written(out: Path) -> None:
    assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.parametrize("edit, problem", [
    (lambda raw: raw.replace(b" 4 \n", b" 9 \n", 1), "line 1 has label '9'"),
    (lambda raw: raw.replace(b"0.4812 ", b"", 1), "line 1 has 8 columns"),
    (lambda raw: raw.replace(b"0.4812", b"nan", 1), "line 1 holds NaN"),
    (lambda raw: raw[: raw.rindex(b"\n", 0, -1) + 1], "has 499 rows, expected 500"),
    (lambda raw: raw.replace(b"0.4812", b"0.4813", 1), "not the published file (sha256"),
])
def test_build_refuses_a_bad_homework_source_and_writes_nothing(tmp_path, edit, problem):
    sources = _sources_copy(tmp_path)
    path = sources / "cihlab_dataset.txt"
    path.write_bytes(edit(path.read_bytes()))
    out = tmp_path / "out"
    with pytest.raises(hwdata.DatasetError) as err:
        build.build(out, sources=sources, log=lambda _: None)
    assert str(path) in str(err.value) and problem in str(err.value)
    assert "make datasets" in str(err.value)
    _assert_nothing_written(out)


def test_build_refuses_a_bad_mnist_source(tmp_path):
    sources = _sources_copy(tmp_path)
    path = sources / "mnist_5k.csv.gz"
    path.write_bytes(path.read_bytes()[:5000])                      # truncated gzip
    with pytest.raises(hwdata.DatasetError, match=r"mnist_5k\.csv\.gz: not a readable gzipped CSV"):
        build.build(tmp_path / "out", sources=sources, log=lambda _: None)
    path.write_bytes(gzip.compress(b"1,2,3\n4,5,6\n"))             # wrong column count
    with pytest.raises(hwdata.DatasetError,
                       match=r"mnist_5k\.csv\.gz: rows have 3 columns, expected 785"):
        build.build(tmp_path / "out", sources=sources, log=lambda _: None)
    (sources / "mnist_5k.csv.gz").unlink()
    with pytest.raises(hwdata.DatasetError, match=r"mnist_5k\.csv\.gz: missing\. Fix: restore"):
        build.build(tmp_path / "out", sources=sources, log=lambda _: None)
    _assert_nothing_written(tmp_path / "out")


def test_cli_reports_errors_without_a_traceback(tmp_path, capsys):
    code = build.main(["--out", str(tmp_path / "out"), "--sources", str(tmp_path / "none")])
    assert code == 2
    assert "cihlab_dataset.txt: missing" in capsys.readouterr().err
    assert build.main(["--check", "--out", str(COMMITTED)]) == 0
