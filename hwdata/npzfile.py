"""A deterministic `.npz` writer: the same arrays always give the same bytes.

`np.savez_compressed` stamps every member with the current time, so two builds differ.
Here each member gets a fixed date, fixed attributes and a fixed compression level, and
members are written in sorted order. Any reader (`np.load(..., allow_pickle=False)`) works.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

_DATE = (1980, 1, 1, 0, 0, 0)        # the earliest date a zip entry can hold
_LEVEL = 9


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write `arrays` to `path` as a compressed npz (no pickles, fixed metadata)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED,
                         compresslevel=_LEVEL) as zf:
        for name in sorted(arrays):
            arr = np.ascontiguousarray(arrays[name])
            if arr.dtype.hasobject:
                raise TypeError(f"{name}: object arrays cannot be stored without pickle")
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3                    # same header on every OS
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=arr.nbytes > (1 << 30)) as fh:
                np.lib.format.write_array(fh, arr, version=(1, 0), allow_pickle=False)


def read_npz(path_or_file) -> dict[str, np.ndarray]:
    """Every array of an npz, loaded eagerly with pickles refused."""
    with np.load(path_or_file, allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}
