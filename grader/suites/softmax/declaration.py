"""softmax: a linear softmax classifier on the 8x8 digits."""
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
        # rows of X in the speed test, drawn per grading from this range (many rows, so that
        # a loop over them costs far more than any whole-array version; not one fixed shape a
        # submission could test for). Every timed call gets fresh inputs from OS entropy (a
        # seed in this file would be public) and its loss and dW are checked.
        "speed_n": (3000, 5000),
        "speed_classes": 10,
        # the vectorized loss may take at most this many times the grader's own loss on the
        # same input (timed in alternation, 7 repeats, minimum). Measured in bwrap: idle, the
        # reference 4.3x (mostly transport), np.einsum without optimize 6.5-6.9x, a loop over
        # the rows 43-45x; on 2 busy cores (load 6) einsum 12x and the row loop 35x. The limit
        # sits near the geometric middle of those two, so load moves neither across it.
        "speed_max_ratio": 20.0,
        # the short training runs of 3.1 / 3.3, judged from the trained W
        "small_train": {"n": 300, "learning_rate": 0.5, "reg": 1e-4, "batch_size": 50,
                        "num_iters": 60, "learned_fraction": 0.8},
        "history_tolerance": 0.25,  # |mean of the last 10 losses - loss of the trained W|; the
                                # reference: 0.02-0.05
        "accuracy_margin": 0.02,   # full credit from (reference min accuracy - margin)
        "calibration_seeds": (0, 1, 2, 3, 4),   # seeds of `make calibrate`
    },
)
