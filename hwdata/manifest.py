"""Where the data lives, and reading/writing MANIFEST.json (sorted, no timestamps)."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from hwdata.errors import fail

MANIFEST = "MANIFEST.json"
SCHEMA = 1
ENV_ROOT = "GRADEKIT_DATA"             # a data root other than the kit's datasets/ folder
ENV_VARIANT = "GRADEKIT_DATA_VARIANT"  # e.g. "seed-7": the variant load() uses by default


def default_root() -> Path:
    """`datasets/` beside the `hwdata/` package (the repository or an unpacked release)."""
    return Path(__file__).resolve().parent.parent / "datasets"


def data_root() -> Path:
    """The data root: $GRADEKIT_DATA if set, else `default_root()`."""
    env = os.environ.get(ENV_ROOT)
    return Path(env).resolve() if env else default_root()


def variant_name(variant: str | int | None) -> str | None:
    """Normalise a variant: None (the originals), 7 or "7" or "seed-7" -> "seed-7"."""
    if variant is None or variant == "":
        return None
    text = str(variant)
    if text.startswith("seed-"):
        text = text[len("seed-"):]
    if not text.isdigit():
        raise ValueError(f"a variant is 'seed-<n>' with n >= 0, not {variant!r}")
    return f"seed-{int(text)}"


def variant_dir(variant: str) -> str:
    """The folder, relative to the data root, that holds a variant's files."""
    return f"variants/{variant}"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _is_flat(value: Any) -> bool:
    scalar = (str, int, float, bool, type(None))
    if isinstance(value, list):
        return all(isinstance(v, scalar) for v in value)
    if isinstance(value, dict):
        return all(isinstance(v, scalar) or (isinstance(v, list) and _is_flat(v))
                   for v in value.values())
    return True


def _render(value: Any, indent: int) -> str:
    """JSON with sorted keys; small flat lists/dicts on one line so the file stays readable."""
    inline = json.dumps(value, sort_keys=True, ensure_ascii=True)
    if _is_flat(value) and len(inline) + indent <= 96:
        return inline
    if isinstance(value, dict):
        pad = " " * (indent + 2)
        items = [f"{pad}{json.dumps(k)}: {_render(v, indent + 2)}"
                 for k, v in sorted(value.items())]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(value, list):
        pad = " " * (indent + 2)
        items = [f"{pad}{_render(v, indent + 2)}" for v in value]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    return inline


def dumps(manifest: dict[str, Any]) -> bytes:
    """The canonical bytes of a manifest: sorted keys, no timestamps, trailing newline."""
    return (_render(manifest, 0) + "\n").encode("ascii")


def read(root: Path) -> dict[str, Any]:
    """The manifest at `root`, or a DatasetError naming it."""
    path = root / MANIFEST
    try:
        manifest = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise fail(path, "missing") from None
    except (OSError, ValueError) as exc:
        raise fail(path, f"unreadable or not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA:
        raise fail(path, f"not a schema-{SCHEMA} hwdata manifest")
    return manifest


def section(manifest: dict[str, Any], variant: str | None) -> dict[str, Any] | None:
    """The part of the manifest for the originals (None) or one variant; None if absent."""
    if variant is None:
        return manifest
    return manifest.get("variants", {}).get(variant)


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to a temporary name beside `path`, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
