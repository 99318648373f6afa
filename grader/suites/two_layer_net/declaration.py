"""two_layer_net: the 8-feature / 4-class homework with a ReLU hidden layer (SPEC §3)."""
from grader.declaration import Assignment, Limits

ASSIGNMENT = Assignment(
    name="two_layer_net",
    title="Two-layer ReLU network on the 8-feature / 4-class homework data",
    graded=("two_layer_net.py",),
    given=("gradient_check.py", "data_utils.py"),
    datasets=("cihlab",),
    report="REPORT.md",
    limits=Limits(call_seconds=20.0, train_seconds=120.0),
    settings={
        "max_iters": 20000,        # cap on HYPERPARAMS['num_iters'] in the accuracy run
        "num_classes": 4,
        "report_sections": (       # SPEC §3, in this order in the REPORT.md template
            "Loss function",
            "Hidden layer size",
            "Batch size and learning-rate strategy",
            "Final accuracy",
        ),
        "report_accuracy_tolerance": 0.03,
    },
)
