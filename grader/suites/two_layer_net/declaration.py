"""two_layer_net: the 8-feature / 4-class homework with a ReLU hidden layer."""
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
        "report_sections": (       # in this order in the REPORT.md template
            "Loss function",
            "Hidden layer size",
            "Batch size and learning-rate strategy",
            "Final accuracy",
        ),
        "report_accuracy_tolerance": 0.03,
        # REPORT.md values checked against HYPERPARAMS: key -> (section, keywords of a prose
        # line, label of the template's "Label: value" line, which wins when present)
        "report_values": {
            "hidden_size": ("Hidden layer size", ("hidden",), "Hidden layer size"),
            "batch_size": ("Batch size and learning-rate strategy", ("batch",), "Batch size"),
            "learning_rate": ("Batch size and learning-rate strategy",
                              ("learning rate", "learning-rate", "step size", "lr"),
                              "Learning rate"),
        },
        "report_accuracy_section": "Final accuracy",   # where the stated test accuracy is read
        "train_seed": 0,           # seed of the constructor and of train() in the accuracy run
        "gradcheck_seed": 21,      # seeds of the trusted-side random inputs of the suite
        "init_std_rtol": 0.15,     # allowed relative deviation of the initial weights' std
        # sqrt(n) times the Kolmogorov-Smirnov distance of the n initial weights from
        # N(0, std**2): a correct draw exceeds 2.5 with probability about 1e-5; a fixed
        # pattern with the right std (e.g. +-std) or a uniform draw is at 3.5 and far more.
        "init_ks_max": 2.5,
        # 3.1: |mean of the last 10 losses - loss of the trained params on the training rows|
        # and |last recorded accuracy - accuracy of the trained params| (the reference: 0.05
        # and 0)
        "history_tolerance": {"loss": 0.2, "accuracy": 0.1},
        "overfit": {"n": 20, "hidden_size": 50, "std": 0.1, "learning_rate": 0.5,
                    "num_iters": 500},   # fixed settings of the overfitting test
        # cost of TwoLayerNet.loss with gradients (in the hidden test 1.3) against the
        # grader's own forward on the same fresh input (OS entropy, one input per call, every
        # answer checked): backpropagation costs a few forwards, finite differences about
        # 2 * #params (here ~7800) of them. max_ratio is set from the measured ratios (see
        # docs/staff/grading-policy.md).
        "grad_cost": {"n": 200, "hidden_size": 300, "repeats": 3, "max_ratio": 150.0},
        "accuracy_margin": 0.05,   # full credit from (reference min accuracy - margin)
        "calibration_seeds": (0, 1, 2, 3, 4),   # seeds of `make calibrate`
    },
)
