"""convnet: layers, update rules and a three-layer ConvNet on MNIST digits (SPEC §3)."""
from grader.declaration import Assignment, Limits

ASSIGNMENT = Assignment(
    name="convnet",
    title="Layers, optimizers and a three-layer ConvNet on MNIST",
    graded=("layers.py", "optim.py", "cnn.py"),
    given=("gradient_check.py", "data_utils.py", "layer_utils.py", "solver.py"),
    datasets=("mnist",),
    limits=Limits(call_seconds=30.0, train_seconds=240.0, memory_mb=1536),
    settings={
        "num_classes": 10,
        # The accuracy run trains the student's ThreeLayerConvNet with the given Solver under
        # these settings (not the student's): filled in from the reference's bounded run.
        "accuracy_run": {},
    },
)
