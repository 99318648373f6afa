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
    },
)
