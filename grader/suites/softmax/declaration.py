"""softmax: a linear softmax classifier on the 8x8 digits.

Every number the suite grades with (seeds, sizes, tolerances, thresholds, iteration counts)
is a setting below, next to the reason for its value; `tests.py` reads them and keeps none of
its own. A group of settings is a NamedTuple: typed fields read by name, immutable, and plain
JSON data for the build id (grader/build_id.py hashes the settings).
"""
from __future__ import annotations

from typing import NamedTuple

from grader.declaration import Assignment, Limits


class Draw(NamedTuple):
    """Random inputs a test draws on the trusted side (`expected_values.inputs`): the
    generator's seed, rows of X, std of W, and the reg passed with them."""
    seed: int
    n: int
    std: float
    reg: float = 0.0


class Tolerance(NamedTuple):
    """How close two answers must be (`compare.assert_close`)."""
    rtol: float
    atol: float


class Speed(NamedTuple):
    """The speed test (2.8): rows of X drawn per grading from the inclusive range `n`,
    `classes` classes, W ~ N(0, std**2), the reg of every call, the allowed ratio, and the
    timed calls per round (`speed.fresh_against_yardstick`'s repeats)."""
    n: tuple[int, int]
    classes: int
    std: float
    reg: float
    max_ratio: float
    repeats: int


class SmallTrain(NamedTuple):
    """The short training runs of 3.1 and 3.3 on the first `n` training digits, judged from
    the trained W."""
    n: int
    learning_rate: float
    reg: float
    batch_size: int
    num_iters: int
    # the trained W's loss (the grader's own) must be below this fraction of ln C
    learned_fraction: float
    history_seed: int           # train()'s seed in 3.1
    determinism_seed: int       # train()'s seed of both runs of 3.3
    # 3.1: the mean of the last `history_tail` losses recorded must lie within
    # `history_tolerance` of the trained W's loss (the reference: 0.02-0.05)
    history_tail: int
    history_tolerance: float


ASSIGNMENT = Assignment(
    name="softmax",
    title="Softmax classifier on 8x8 digits",
    graded=("softmax.py",),
    given=("gradient_check.py", "data_utils.py"),
    datasets=("digits",),
    limits=Limits(call_seconds=20.0, train_seconds=120.0),
    settings={
        "max_iters": 3000,         # cap on HYPERPARAMS['num_iters'] in the accuracy run
        "num_classes": 10,
        "input_dim": 65,           # 8x8 pixels and the bias column: D of the random inputs
        "train_seed": 0,           # seed passed to Softmax.train in the accuracy run
        # what HYPERPARAMS may hold: key -> (kind, low, high), inclusive; every key required
        "hyperparams": {"learning_rate": ("float", 1e-8, 1e3), "reg": ("float", 0.0, 1e3),
                        "num_iters": ("int", 1, 10**7), "batch_size": ("int", 1, 100_000)},
        # Trusted-side random inputs, one seed per test (public: the visible tests' values
        # are teaching material; hidden inputs come from expected_values). reg > 0 where the
        # gradient of the penalty is part of what is checked.
        # 1.3, 2.3: every sampled entry of W costs two calls of the loss (1.3: the naive
        # loops, linear in n), so 10 rows (was 20: 1.3 took 0.32 -> 0.17 CPU s); enough to
        # average over and to touch most classes.
        "gradcheck": Draw(seed=11, n=10, std=0.1, reg=0.5),
        "agreement": Draw(seed=12, n=50, std=0.2, reg=0.05),        # 2.5
        # naive and vectorized compute the same function: they agree to round-off
        "agreement_tolerance": {"loss": Tolerance(rtol=1e-8, atol=1e-8),
                                "dW": Tolerance(rtol=1e-7, atol=1e-10)},
        # 2.6: n training digits, W ~ N(0, std**2) small enough that every class is about
        # equally likely (loss about ln C)
        "chance": Draw(seed=13, n=200, std=1e-4),
        "reg_check": Draw(seed=14, n=30, std=0.3, reg=0.2),         # 2.7
        "predict_seed": 16,        # 3.2: W ~ N(0, 1) set by the grader, X the validation split
        # 2.8: many rows, so that a loop over them costs far more than any whole-array
        # version; not one fixed shape a submission could test for. Every timed call gets
        # fresh inputs from OS entropy (a seed in this file would be public) and its loss and
        # dW are checked. The vectorized loss may take at most max_ratio times the grader's
        # own loss on the same input (timed in alternation, 4 repeats, minimum; a round over
        # the limit is timed again, up to 3 rounds, so fewer repeats cost a correct loss
        # nothing: 7 repeats took 0.27 s of CPU per grading, 4 take 0.18 s). Measured in
        # bwrap: idle, the reference 4.3x (mostly transport), np.einsum without optimize
        # 6.5-6.9x, a loop over the rows 43-45x; on 2 busy cores (load 6) einsum 12x and the
        # row loop 35x. The limit sits near the geometric middle of those two, so load moves
        # neither across it.
        "speed": Speed(n=(3000, 5000), classes=10, std=0.1, reg=1e-3, max_ratio=20.0,
                       repeats=4),
        "small_train": SmallTrain(n=300, learning_rate=0.5, reg=1e-4, batch_size=50,
                                  num_iters=60, learned_fraction=0.8, history_seed=0,
                                  determinism_seed=7, history_tail=10,
                                  history_tolerance=0.25),
        "accuracy_margin": 0.02,   # full credit from (reference min accuracy - margin)
        "calibration_seeds": (0, 1, 2, 3, 4),   # seeds of `make calibrate`
    },
)
