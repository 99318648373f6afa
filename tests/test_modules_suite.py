"""What the modules suite promises beyond the checks every suite gets (tests/test_suites.py,
tests/test_suite_bugs.py): the grader's own LeNet-5 forward is the reference's network, and
a visible test's points follow the hidden verdict (replaying the shipped values earns nothing).
Cheap: in-process reference calls and a few tests in one unisolated worker."""
from __future__ import annotations

import numpy as np
import pytest

from grader import bugs, expected_values
from grader.declaration import ROOT, load
from grader.framework import collect
from grader.suites.modules import trusted
from suite_support import grade_only


def test_trusted_lenet_is_the_reference_network():
    ref = expected_values.reference_importer("modules")
    rng = np.random.default_rng(0)
    model = ref("lenet").lenet5(rng)
    params = model.parameters()
    assert [p.shape for p in params] == list(trusted.PARAM_SHAPES)
    assert sum(p.size for p in params) == load("modules").settings["lenet_parameters"] == 61_706
    X = rng.random((4, 1, 28, 28))
    np.testing.assert_allclose(trusted.scores(params, X), model.forward(X), rtol=1e-10,
                               atol=1e-12)
    y = np.array([0, 3, 7, 9])
    assert trusted.loss(params, X, y) == pytest.approx(
        ref("nn").CrossEntropyCriterion().forward(model.forward(X), y), rel=1e-10)


def replaying_linear() -> str:
    """A Linear right on the visible case's x only (a lookup on its first value)."""
    first = float(expected_values.load("modules", "visible")["linear"]["x"].flat[0])
    return f'''

_Honest = Linear


class Linear(_Honest):
    def forward(self, x):
        out = super().forward(x)
        return out if abs(float(x.flat[0]) - {first!r}) < 1e-12 else out + 1.0
'''


@pytest.mark.parametrize("replay", [False, True], ids=["reference", "replaying"])
def test_visible_points_need_the_hidden_verdict(replay, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADEKIT_ALLOW_PLAIN", "1")
    sub = bugs.edited_copy(ROOT / "reference" / "modules", load("modules").submitted,
                           tmp_path / "sub",
                           append=(("nn.py", replaying_linear()),) if replay else ())
    specs = {s.number: s for s in collect("modules")}
    hidden, visible = grade_only("modules", sub, [specs["1.5"], specs["1.1"]])
    if not replay:
        assert hidden["score"] == 1.0 and visible["score"] == 2.5
        return
    assert hidden["score"] == 0.0
    assert visible["score"] == 0.0 and "failed on the hidden inputs" in visible["output"]


def test_reference_files_of_two_assignments_with_the_same_names_load_side_by_side():
    """convnet and modules both have an `optim.py` (and reference files import each other by
    plain name): one process builds both assignments' expected values without mixing them."""
    import sys
    before = {name: sys.modules.get(name) for name in ("optim", "lenet", "nn", "layers")}
    convnet_optim = expected_values.reference_importer("convnet")("optim")
    lenet = expected_values.reference_importer("modules")("lenet")
    modules_optim = expected_values.reference_importer("modules")("optim")
    assert hasattr(convnet_optim, "sgd_momentum") and hasattr(modules_optim, "Adam")
    assert lenet.Adam is modules_optim.Adam and convnet_optim is not modules_optim
    # whatever other tests in this process imported under those names is left as it was
    assert {name: sys.modules.get(name) for name in before} == before
