"""modules: nn modules in numpy the Torch7 way, optimizers, initializers and LeNet-5 on MNIST.

Every number the suite grades with (seeds, sizes, tolerances, limits) is a setting below, next
to the reason for its value; `tests.py` keeps none of its own. Groups are NamedTuples: typed
fields read by name, immutable, plain JSON data for the build id.
"""
from __future__ import annotations

from typing import NamedTuple

from grader.declaration import Assignment, Limits


class DropoutCheck(NamedTuple):
    """Dropout draws its mask with one `rng.random(x.shape) >= p` from the Generator it is
    given, so the grader, seeding a Generator in the worker, knows every mask. Visible tests
    use `p` and `seed`; the hidden test draws p from `hidden_p` and the seed at grading time.
    x has `shape` (large enough that a mask of the wrong rate cannot match by chance)."""
    p: float
    seed: int
    shape: tuple[int, int]
    hidden_p: tuple[float, float]


class InitCheck(NamedTuple):
    """Initializer statistics over one large draw per (function, shape): the sample std within
    `std_rtol` of the formula's (a fully connected shape of 40,000 values: sd of the estimate
    0.2-0.4%; the conv shape's 2,400 values: 1.4%, so 0.06 is over 4 sd, and every wrong
    formula tried (fan_in only, fan_out only, the other fan, a missing 2 or 6) is 12% or more
    off), |mean| within `mean_z` standard errors of 0, uniform draws inside +-bound and
    reaching `reach` of it, and the shape of the distribution by a Kolmogorov-Smirnov
    statistic sqrt(n) * D of at most `ks_max` (2.6: p about 3e-6 for one correct array;
    measured on the reference, 2.3 failed 1 of 12,000 hidden arrays; a uniform draw passed
    off as normal gives about 0.058 * sqrt(n): 11.6 on the 40,000 values of `linear`). The
    shapes have fan_in far from fan_out, so mixing them up changes the std by 2x or more.
    The hidden test draws its shapes from the inclusive ranges `hidden_linear` and
    `hidden_conv`: at least 2,400 values each, fan_out at least 2.5 fan_in."""
    seed: int
    linear: tuple[int, int]
    conv: tuple[int, int, int, int]
    hidden_linear: tuple[tuple[int, int], ...]
    hidden_conv: tuple[tuple[int, int], ...]
    std_rtol: float
    mean_z: float
    reach: float
    ks_max: float


class TrainCheck(NamedTuple):
    """The short training run of the `train` test: the first `n` training images, `epochs`
    with these settings; the grader's loss of the trained parameters on those images must
    fall below `fraction` of the loss of the initial ones (the reference: about 0.3-0.5)."""
    n: int
    learning_rate: float
    weight_decay: float
    batch_size: int
    epochs: int
    seed: int
    fraction: float


class SearchCheck(NamedTuple):
    """random_search with lenet5 as the builder, a Generator seeded `seed`, `draws` trials of
    one minibatch on `n_train` images, scored on `n_val` (tiny: the draws are what is judged).
    log10 of the drawn learning rates and weight decays must be uniform over the range's
    decades: Kolmogorov-Smirnov sqrt(n) * D at most `ks_max` (2.3: p about 5e-5 for one
    correct sample; drawing uniformly over the range instead gives about 0.75 * sqrt(n),
    4.7 for the hidden test's 40 draws). The hidden test
    makes `hidden_draws` draws from a seed drawn at grading time."""
    seed: int
    draws: int
    hidden_draws: int
    lr_range: tuple[float, float]
    reg_range: tuple[float, float]
    ks_max: float
    n_train: int
    n_val: int
    batch_size: int


ASSIGNMENT = Assignment(
    name="modules",
    title="Neural-network modules (Torch7 style) and LeNet-5 on MNIST",
    graded=("nn.py", "optim.py", "lenet.py"),
    given=("gradient_check.py", "data_utils.py"),
    datasets=("mnist",),
    # The reference's whole grading: see the closing note of issue 14 (CPU and wall seconds);
    # the accuracy run's training is the longest call.
    limits=Limits(call_seconds=30.0, train_seconds=150.0, memory_mb=1536),
    # the grader's own LeNet-5 forward (trusted.py) is the code students write: the
    # autograder has it, the student release does not (its checks are then provisional)
    grading_only=("trusted.py",),
    settings={
        "num_classes": 10,
        # Trusted-side inputs of the visible tests: this seed plus an offset per test.
        "seed": 1998,
        "dropout": DropoutCheck(p=0.3, seed=7, shape=(40, 60), hidden_p=(0.1, 0.7)),
        "init": InitCheck(seed=11, linear=(400, 100), conv=(16, 6, 5, 5),
                          hidden_linear=((150, 300), (20, 60)),
                          hidden_conv=((24, 40), (4, 8), (5, 5), (5, 5)), std_rtol=0.06,
                          mean_z=5.0, reach=0.99, ks_max=2.6),
        # LeNet-5 (the classic layout with 10 outputs, lenet.py's docstring)
        "lenet_parameters": 61_706,
        "lenet_images": 3,           # images of the structure test's forward
        "predict_images": 60,        # validation images of the predict test
        "train_check": TrainCheck(n=200, learning_rate=2e-3, weight_decay=0.0, batch_size=20,
                                  epochs=2, seed=5, fraction=0.8),
        "search": SearchCheck(seed=3, draws=60, hidden_draws=40, lr_range=(1e-5, 1e-1),
                              reg_range=(1e-7, 1e-2), ks_max=2.3, n_train=4, n_val=4,
                              batch_size=4),
        # The accuracy test trains lenet5 with the file's HYPERPARAMS (validated against these
        # bounds, epochs capped at `max_epochs`) on the whole training split; train()'s rng
        # is a Generator seeded `train_seed`.
        "hyperparams": {"learning_rate": ("float", 1e-6, 1.0),
                        "weight_decay": ("float", 0.0, 1.0),
                        "batch_size": ("int", 1, 4000), "epochs": ("int", 1, 100)},
        "max_epochs": 3,
        "train_seed": 0,
        "accuracy_margin": 0.03,     # full credit from (reference min accuracy - margin)
        "calibration_seeds": (0, 1),
    },
)
