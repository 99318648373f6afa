"""`make datasets`: rebuild datasets/ from datasets/sources, byte-for-byte the same every time.

    python -m hwdata.build [--seed N] [--cifar10 DIR] [--out DIR] [--sources DIR] [--check]

Always rebuilds the originals (processed/*.npz, ATTRIBUTION.md, MANIFEST.json) from
`sources/` and scikit-learn's bundled digits. `--seed N` also writes the variant
`variants/seed-N/` (a synthetic homework file plus reshuffled digits/MNIST splits);
`--cifar10 DIR` also builds processed/cifar10.npz from staff-provided CIFAR-10 batches.
Variants and CIFAR-10 built earlier are kept in the manifest while their files still match.

Every input is read and checked before anything is written; outputs are written into a
staging folder inside the data root and renamed into place, the manifest last.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hwdata import cifar, homework, prepare, synth
from hwdata import manifest as mf
from hwdata import sources as src
from hwdata.errors import FIX, DatasetError, fail
from hwdata.npzfile import write_npz

ORIGINAL = "original"
NUM_CLASSES = {"cihlab": 4, "digits": 10, "mnist": 10, "cifar10": 10}
SOURCE_OF = {"cihlab": src.CIHLAB, "digits": src.DIGITS, "mnist": src.MNIST,
             "cifar10": src.CIFAR10}


# ---------------------------------------------------------------- manifest entries
def _class_counts(y: np.ndarray, num_classes: int) -> list[int]:
    return np.bincount(y, minlength=num_classes).tolist()


def _file_facts(path: Path) -> dict[str, Any]:
    return {"sha256": mf.sha256_file(path), "bytes": path.stat().st_size}


def processed_entry(path: Path, name: str, arrays: dict[str, np.ndarray],
                    source: str, seed: int | None = None) -> dict[str, Any]:
    """A processed npz's manifest entry: hash, arrays, split sizes, class counts, origin."""
    k = NUM_CLASSES[name]
    origin = SOURCE_OF[name]
    entry = {
        "kind": "processed", "dataset": name, **_file_facts(path),
        "arrays": {key: {"shape": list(arr.shape), "dtype": str(arr.dtype)}
                   for key, arr in sorted(arrays.items())},
        "num_classes": k,
        "split_sizes": {s: int(len(arrays[f"y_{s}"])) for s in ("train", "val", "test")},
        "class_counts": {s: _class_counts(arrays[f"y_{s}"], k) for s in ("train", "val", "test")},
        "preprocessing": prepare.DESCRIPTIONS[name],
        "source": source, "licence": origin.licence, "credit": origin.credit,
    }
    if seed is not None:
        entry["seed"] = seed
    return entry


def homework_entry(path: Path, labels: np.ndarray, origin: src.Source,
                   seed: int | None = None) -> dict[str, Any]:
    """A homework-format text file's manifest entry."""
    n_train = homework.NUM_TRAIN
    entry = {
        "kind": "source" if seed is None else "generated", "dataset": "cihlab",
        **_file_facts(path),
        "shape": [len(labels), homework.NUM_FEATURES + 1],
        "dtype": "text: 8 features %.4f in [0, 1], then label 1..4",
        "split_sizes": {"train": n_train, "test": len(labels) - n_train},
        "class_counts": {"all": _class_counts(labels - 1, 4),
                         "train": _class_counts(labels[:n_train] - 1, 4),
                         "test": _class_counts(labels[n_train:] - 1, 4)},
        "source": origin.origin, "licence": origin.licence, "credit": origin.credit,
    }
    if seed is not None:
        entry.update(seed=seed, generator=f"hwdata.synth v{synth.VERSION}")
    return entry


def mnist_source_entry(path: Path, labels: np.ndarray) -> dict[str, Any]:
    """The MNIST CSV's manifest entry."""
    return {"kind": "source", "dataset": "mnist", **_file_facts(path),
            "shape": [len(labels), 785],
            "dtype": "gzipped CSV: 784 pixels 0..255, then label 0..9",
            "class_counts": {"all": _class_counts(labels, 10)},
            "source": src.MNIST.origin, "licence": src.MNIST.licence,
            "credit": src.MNIST.credit}


# ---------------------------------------------------------------- reading inputs
def _read_source(source: src.Source, folder: Path) -> bytes:
    path = folder / Path(source.path).name
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise fail(path, "missing", src.SOURCE_FIX) from None


def _read_inputs(sources: Path) -> dict[str, Any]:
    """Every original input, parsed and checked (structure first, for precise messages)."""
    raw_cihlab = _read_source(src.CIHLAB, sources)
    cihlab_path = sources / Path(src.CIHLAB.path).name
    X, labels = homework.parse(raw_cihlab, cihlab_path, src.SOURCE_FIX)
    if len(labels) != homework.NUM_ROWS:
        raise fail(cihlab_path, f"has {len(labels)} rows, expected {homework.NUM_ROWS}",
                   src.SOURCE_FIX)
    src.check(src.CIHLAB, raw_cihlab, cihlab_path)
    raw_mnist = _read_source(src.MNIST, sources)
    mnist_path = sources / Path(src.MNIST.path).name
    mnist = prepare.mnist_raw(raw_mnist, mnist_path, src.SOURCE_FIX)
    src.check(src.MNIST, raw_mnist, mnist_path)
    return {"cihlab_bytes": raw_cihlab, "cihlab": (X, labels), "mnist_bytes": raw_mnist,
            "mnist": mnist, "digits": prepare.digits_raw()}


# ---------------------------------------------------------------- carrying entries over
def _still_valid(root: Path, files: dict[str, Any]) -> bool:
    for rel, entry in files.items():
        path = root / rel
        if not path.is_file() or path.stat().st_size != entry.get("bytes") \
                or mf.sha256_file(path) != entry.get("sha256"):
            return False
    return True


def _carry_over(root: Path, manifest: dict[str, Any], seed: int | None, with_cifar: bool,
                log: Callable[[str], None]) -> None:
    """Keep CIFAR-10 and variants from the previous manifest while their files still match."""
    try:
        old = mf.read(root)
    except DatasetError:
        return
    rel = old.get("datasets", {}).get("cifar10")
    if rel and not with_cifar:
        entry = old.get("files", {}).get(rel)
        if entry and _still_valid(root, {rel: entry}):
            manifest["datasets"]["cifar10"] = rel
            manifest["files"][rel] = entry
        else:
            log(f"dropping cifar10 from the manifest: {rel} is missing or changed")
    for name, sec in sorted(old.get("variants", {}).items()):
        if seed is not None and name == mf.variant_name(seed):
            continue
        if isinstance(sec, dict) and _still_valid(root, sec.get("files", {})):
            manifest["variants"][name] = sec
        else:
            log(f"dropping variant {name} from the manifest: its files are missing or changed")


# ---------------------------------------------------------------- the build
def _stage_npz(stage: Path, rel: str, arrays: dict[str, np.ndarray]) -> Path:
    path = stage / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    write_npz(path, arrays)
    return path


def _stage_bytes(stage: Path, rel: str, data: bytes) -> Path:
    path = stage / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _build_set(stage: Path, folder: str, inputs: dict[str, Any], split_seed: str,
               seed: int | None, cihlab_source: str) -> tuple[dict[str, str], dict[str, Any]]:
    """cihlab, digits and mnist npz files under `folder`: (datasets map, files map)."""
    X, labels = inputs["cihlab"]
    made = {"cihlab": (prepare.cihlab(X, labels, split_seed), cihlab_source),
            "digits": (prepare.digits(*inputs["digits"], split_seed),
                       "scikit-learn load_digits()"),
            "mnist": (prepare.mnist(*inputs["mnist"], split_seed), src.MNIST.path)}
    datasets, files = {}, {}
    for name, (arrays, source) in made.items():
        rel = f"{folder}/{name}.npz"
        path = _stage_npz(stage, rel, arrays)
        datasets[name] = rel
        files[rel] = processed_entry(path, name, arrays, source, seed)
    return datasets, files


def build(out: Path | None = None, seed: int | None = None, cifar10: Path | None = None,
          sources: Path | None = None,
          log: Callable[[str], None] = print) -> dict[str, Any]:
    """Rebuild the data root `out` (default: the kit's datasets/); returns the manifest."""
    out = Path(out) if out is not None else mf.data_root()
    sources = Path(sources) if sources is not None else out / "sources"
    if seed is not None and (not isinstance(seed, int) or seed < 0):
        raise ValueError(f"a variant seed is an integer >= 0, not {seed!r}")
    inputs = _read_inputs(sources)
    batches = cifar.read_folder(Path(cifar10)) if cifar10 is not None else None
    variant_text = synth.homework_file(seed) if seed is not None else None

    out.mkdir(parents=True, exist_ok=True)
    stage = out / f".build-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    try:
        manifest: dict[str, Any] = {
            "schema": mf.SCHEMA,
            "about": "Written by `make datasets` (python -m hwdata.build); do not edit. Paths "
                     "are relative to this folder; `hwdata.load` checks sha256 before use.",
            "datasets": {}, "files": {}, "variants": {}}
        files = manifest["files"]
        copy_sources = sources.resolve() != (out / "sources").resolve()
        placed = {}                      # where each source file is (staged copy or in place)
        for source, key in ((src.CIHLAB, "cihlab_bytes"), (src.MNIST, "mnist_bytes")):
            placed[source.name] = (_stage_bytes(stage, source.path, inputs[key])
                                   if copy_sources else out / source.path)
        files[src.CIHLAB.path] = homework_entry(placed["cihlab"], inputs["cihlab"][1],
                                                src.CIHLAB)
        files[src.MNIST.path] = mnist_source_entry(placed["mnist"], inputs["mnist"][1])
        attribution = _stage_bytes(stage, "ATTRIBUTION.md", src.attribution_markdown().encode())
        files["ATTRIBUTION.md"] = {"kind": "attribution", **_file_facts(attribution)}

        datasets, processed = _build_set(stage, "processed", inputs, ORIGINAL, None,
                                         src.CIHLAB.path)
        manifest["datasets"].update(datasets)
        files.update(processed)
        pixels = inputs["digits"][0]
        files["processed/digits.npz"]["source_content_sha256"] = mf.sha256_bytes(
            pixels.tobytes() + inputs["digits"][1].astype(np.uint8).tobytes())

        if batches is not None:
            arrays = prepare.cifar10(batches, ORIGINAL)
            rel = "processed/cifar10.npz"
            path = _stage_npz(stage, rel, arrays)
            manifest["datasets"]["cifar10"] = rel
            files[rel] = processed_entry(path, "cifar10", arrays,
                                         "CIFAR-10 python batches (staff-provided)")
            files[rel]["source_files"] = {
                name: mf.sha256_file(Path(cifar10) / name)
                for name in (*cifar.TRAIN_FILES, cifar.TEST_FILE)}

        if seed is not None:
            name = mf.variant_name(seed)
            folder = mf.variant_dir(name)
            txt_rel = f"{folder}/cihlab_dataset.txt"
            txt_path = _stage_bytes(stage, txt_rel, variant_text)
            X, labels = homework.parse(variant_text, txt_rel)
            var_inputs = dict(inputs, cihlab=(X, labels))
            var_datasets, var_files = _build_set(stage, folder, var_inputs, name, seed, txt_rel)
            var_files[txt_rel] = homework_entry(txt_path, labels, src.SYNTHETIC, seed)
            manifest["variants"][name] = {
                "seed": seed, "generator": f"hwdata.synth v{synth.VERSION}",
                "datasets": var_datasets, "files": var_files}

        _carry_over(out, manifest, seed, batches is not None, log)
        _commit(stage, out, manifest, log)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return manifest


def _commit(stage: Path, out: Path, manifest: dict[str, Any],
            log: Callable[[str], None]) -> None:
    """Rename every staged file into place, then write the manifest (atomically, last)."""
    for path in sorted(p for p in stage.rglob("*") if p.is_file()):
        rel = path.relative_to(stage).as_posix()
        dest = out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, dest)
        log(f"wrote {rel} ({dest.stat().st_size:,} bytes)")
    mf.atomic_write(out / mf.MANIFEST, mf.dumps(manifest))
    log(f"wrote {mf.MANIFEST} ({(out / mf.MANIFEST).stat().st_size:,} bytes) in {out}")


def verify(root: Path | None = None) -> list[str]:
    """Every file the manifest lists (originals and variants), checked: [] when all match."""
    root = Path(root) if root is not None else mf.data_root()
    manifest = mf.read(root)
    sections = [manifest, *manifest.get("variants", {}).values()]
    problems = []
    for sec in sections:
        for rel, entry in sorted(sec.get("files", {}).items()):
            path = root / rel
            if not path.is_file():
                problems.append(f"{path}: missing")
            elif mf.sha256_file(path) != entry.get("sha256"):
                problems.append(f"{path}: sha256 differs from {mf.MANIFEST}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hwdata.build", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, help="also build the variant variants/seed-<n>/")
    parser.add_argument("--cifar10", type=Path,
                        help="folder of the CIFAR-10 python batches (data_batch_1..5, test_batch)")
    parser.add_argument("--out", type=Path, help="data root to write (default: datasets/)")
    parser.add_argument("--sources", type=Path, help="folder of the source files "
                        "(default: <out>/sources; copied into <out>/sources when different)")
    parser.add_argument("--check", action="store_true",
                        help="only verify every file against MANIFEST.json")
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = verify(args.out)
            for line in problems:
                print(line, file=sys.stderr)
            print("all files match MANIFEST.json" if not problems else
                  f"{len(problems)} problem(s). {FIX}")
            return 1 if problems else 0
        if args.seed is not None and args.seed < 0:
            parser.error("--seed must be >= 0")
        build(args.out, args.seed, args.cifar10, args.sources)
        problems = verify(args.out)
        if problems:
            raise DatasetError("; ".join(problems))
        print("verified: every file matches MANIFEST.json")
        return 0
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
