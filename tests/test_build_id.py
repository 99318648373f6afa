"""The build id: one name for the rules a grade was produced under."""
from __future__ import annotations

import json
import re
import shutil

import pytest

import grader
from grader import build_id
from grader.declaration import NAMES, ROOT


def test_kit_version_has_one_value():
    assert re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(),
                     re.M).group(1) == grader.__version__


@pytest.mark.parametrize("name", NAMES)
def test_build_id_is_stable_and_names_the_data_variant(name):
    first = build_id.compute(name)
    assert re.fullmatch(r"gk-[0-9a-f]{12}", first)
    assert build_id.compute(name) == first
    assert build_id.facts(name)["data"]["variant"] == "original"


def test_each_assignment_has_its_own_build_id():
    assert len({build_id.compute(n) for n in NAMES}) == len(NAMES)


@pytest.mark.parametrize("change", ["weight", "setting", "variant"])
def test_build_id_changes_with_a_weight_a_setting_or_the_data(change, monkeypatch, tmp_path):
    before = build_id.compute("softmax")
    if change == "weight":
        from grader.framework import TestSpec
        real = build_id.collect

        def heavier(name):
            specs = real(name)
            return [TestSpec(s.func, s.name, s.number, s.weight + (1 if i == 0 else 0),
                             s.visibility, s.tags) for i, s in enumerate(specs)]
        monkeypatch.setattr(build_id, "collect", heavier)
    elif change == "setting":
        decl = build_id.load("softmax")
        speed = decl.settings["speed"]
        monkeypatch.setitem(decl.settings, "speed", speed._replace(max_ratio=speed.max_ratio + 1))
    else:
        # a copy of the data root whose digits file differs by one byte, as a variant would
        root = tmp_path / "datasets"
        shutil.copytree(ROOT / "datasets", root)
        manifest = json.loads((root / "MANIFEST.json").read_text())
        rel = manifest["datasets"]["digits"]
        data = bytearray((root / rel).read_bytes())
        data[-1] ^= 1
        (root / rel).write_bytes(bytes(data))
        from hwdata import manifest as mf
        monkeypatch.setenv(mf.ENV_ROOT, str(root))
    assert build_id.compute("softmax") != before


def test_a_stamp_wins_in_a_packaged_kit(monkeypatch, tmp_path):
    decl = build_id.load("softmax")
    monkeypatch.setattr(type(decl), "suite_dir", property(lambda self: tmp_path))
    assert build_id.stamped("softmax") is None
    (tmp_path / build_id.STAMP).write_text(json.dumps({"build_id": "gk-000000000000"}))
    assert build_id.build_id("softmax") == "gk-000000000000"
    (tmp_path / build_id.STAMP).write_text(json.dumps({"build_id": "not an id"}))
    assert build_id.stamped("softmax") is None
