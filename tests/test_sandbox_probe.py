"""The start-up probe (`process.probe`, used by `isolation` to choose a mode) is a Python start,
not a worker start: the probe worker finds numpy without importing it, answers on the reply
pipe and exits; a sandbox where numpy cannot be found fails the probe. And the worker's own
constants stay equal to the trusted side's."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from grader.declaration import Limits
from grader.sandbox import isolation, process
from grader.sandbox.process import Launch, OutputLog, worker_config


def _launcher(site: list[str], home: Path):
    """A plain launch (no isolation: only what the probe does is under test) whose worker
    sees exactly `site` for third-party packages."""
    def launch(*, workdir: Path, config: dict, pass_fds: tuple[int, ...]) -> Launch:
        cfg = dict(config, workdir=str(workdir), site=site)
        return Launch(isolation._worker_argv(str(isolation.HERE), cfg, sys.executable),
                      isolation.base_env(str(home)), str(workdir), pass_fds)
    return launch


@pytest.fixture
def fake_numpy(tmp_path: Path) -> Path:
    """A site folder whose `numpy` fails loudly when imported."""
    site = tmp_path / "site"
    (site / "numpy").mkdir(parents=True)
    (site / "numpy" / "__init__.py").write_text("raise SystemExit('numpy was imported')\n")
    (tmp_path / "work").mkdir()
    return site


def _run(kind, site: list[str], tmp_path: Path):
    log = OutputLog(4096)
    return kind(_launcher(site, tmp_path), tmp_path / "work", worker_config(Limits()), log,
                mode="test", name="probe-test"), log


def test_probe_finds_numpy_without_importing_it(tmp_path, fake_numpy):
    assert _run(process.probe, [str(fake_numpy)], tmp_path)[0] is None
    with pytest.raises(RuntimeError, match="numpy was imported"):
        _run(process.spawn, [str(fake_numpy)], tmp_path)     # a real worker does import it


def test_probe_fails_where_numpy_cannot_be_found(tmp_path, fake_numpy):
    with pytest.raises(RuntimeError, match="numpy cannot be found in the sandbox"):
        _run(process.probe, [str(tmp_path / "empty")], tmp_path)


def test_worker_answers_the_probe_with_the_trusted_sides_constant():
    tree = ast.parse((isolation.HERE / "worker_main.py").read_text())
    values = [n.value.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
              and any(getattr(t, "id", "") == "PROBE_OK" for t in n.targets)]
    assert values == [process.PROBE_OK]
