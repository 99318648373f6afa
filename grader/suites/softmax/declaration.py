"""softmax: a linear softmax classifier on the 8x8 digits (SPEC §3)."""
from grader.declaration import Assignment, Limits

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
        "train_seed": 0,           # seed passed to Softmax.train in the accuracy run
        "gradcheck_seed": 11,      # seeds of the trusted-side random inputs of the suite
        "speed_n": 2000,           # rows of X in the speed test
        "speedup_min": 3.0,        # vectorized must be this many times faster than naive
        "accuracy_margin": 0.02,   # full credit from (reference min accuracy - margin)
        "calibration_seeds": (0, 1, 2, 3, 4),   # seeds of `make calibrate`
    },
)
