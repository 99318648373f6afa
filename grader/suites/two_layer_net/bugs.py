"""The two_layer_net suite's bug table (`grader.bugs`): realistic bugs, each a small edit of a
copy of reference/two_layer_net/ (code or REPORT.md) that must lose points on a test tagged
with the bugged function; correct code written differently (as the docstrings teach, einsum,
float32 training, predicting one example at a time) that must keep full marks; and the demo
class of `make grade` (a zip per student)."""
from grader.bugs import PARTIAL, Bug, Demo, Hostile, Student, Table, Variant

FILE, REPORT = "two_layer_net.py", "REPORT.md"
LOSS = "TwoLayerNet.loss"

BUGS = (
    Bug("reg-grad-half", "regularization gradient reg*W2 instead of 2*reg*W2", (LOSS,),
        ((FILE, '"W2": hidden.T @ dscores + 2 * reg * W2',
          '"W2": hidden.T @ dscores + reg * W2'),)),
    Bug("no-max-shift", "scores not shifted before exp", (LOSS,),
        ((FILE, "shifted = scores - np.max(scores, axis=1, keepdims=True)", "shifted = scores"),)),
    Bug("db-averaged-not-summed", "b2 gradient averaged, not summed, over the batch", (LOSS,),
        ((FILE, '"b2": np.sum(dscores, axis=0)', '"b2": np.mean(dscores, axis=0)'),)),
    Bug("relu-mask-on-gradient", "ReLU mask taken from the gradient, not the input", (LOSS,),
        ((FILE, "dhidden[hidden_in <= 0] = 0.0", "dhidden[dhidden <= 0] = 0.0"),)),
    Bug("no-division-by-N", "score gradient not divided by the batch size", (LOSS,),
        ((FILE, "        dscores /= num_train\n", ""),)),
    Bug("lr-decay-never-applied", "learning-rate decay never applied", ("TwoLayerNet.train",),
        ((FILE, "                learning_rate *= learning_rate_decay\n", ""),)),
    Bug("predict-wrong-axis", "predict takes the argmax over the batch", ("TwoLayerNet.predict",),
        ((FILE, "return np.argmax(self.loss(X), axis=1)",
          "return np.argmax(self.loss(X), axis=0)"),)),
    Bug("report-wrong-batch-size", "REPORT.md states the wrong batch size", (REPORT,),
        ((REPORT, "Batch size: 32", "Batch size: 64"),)),
    Bug("report-inflated-accuracy", "REPORT.md inflates the test accuracy", (REPORT,),
        ((REPORT, "Test accuracy: 0.94", "Test accuracy: 0.99"),)),
    Bug("report-section-missing", "REPORT.md lacks a section", (REPORT,),
        ((REPORT, "## Loss function", "## Notes"),)),
    Bug("b1-grad-one-row", "b1 gradient not summed over the batch", (LOSS,),
        ((FILE, 'grads["b1"] = np.sum(dhidden, axis=0)', 'grads["b1"] = dhidden[0]'),)),
    # mutation analysis (#16): realistic mistakes the table lacked
    Bug("normalizer-wrong-axis", "log-sum-exp taken over the batch, not the classes", (LOSS,),
        ((FILE, "np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))",
          "np.log(np.sum(np.exp(shifted), axis=0, keepdims=True))"),)),
    Bug("predict-returns-scores", "predict returns the class scores, not labels",
        ("TwoLayerNet.predict",),
        ((FILE, "return np.argmax(self.loss(X), axis=1)", "return self.loss(X)"),)),
)

VARIANTS = (
    Variant("as-the-docstrings-teach", "log-probabilities in the log-sum-exp form, the "
            "backward pass from their exp and an explicit one-hot", (
        (FILE, "        dscores = np.exp(log_probs)\n        dscores[rows, y] -= 1.0\n"
               "        dscores /= num_train\n",
         "        probs = np.exp(log_probs)\n        onehot = np.zeros_like(probs)\n"
         "        onehot[rows, y] = 1.0\n        dscores = (probs - onehot) / num_train\n"),)),
    Variant("einsum", "products written as einsum", (
        (FILE, "hidden_in = X @ W1 + b1", "hidden_in = np.einsum('nd,dh->nh', X, W1) + b1"),
        (FILE, "scores = hidden @ W2 + b2", "scores = np.einsum('nh,hc->nc', hidden, W2) + b2"))),
    Variant("float32-training", "parameters kept in float32 while training", (
        (FILE, "self.params[name] -= learning_rate * grad",
         "self.params[name] = (self.params[name] - learning_rate * grad).astype(np.float32)"),)),
    # mutation analysis (#16): a surviving mutant that is correct SGD, kept at full marks
    Variant("sample-without-replacement", "minibatches drawn without replacement", (
        (FILE, "rng.choice(num_train, batch_size, replace=True)",
         "rng.choice(num_train, batch_size, replace=False)"),)),
    Variant("predict-one-at-a-time", "correct, but predicts one example at a time", (
        (FILE, "        return np.argmax(self.loss(X), axis=1)",
         "        return np.array([int(np.argmax(self.loss(X[i:i + 1])))\n"
         "                         for i in range(X.shape[0])], dtype=np.int64)"),)),
)

SOME = (0.0, 15.0)        # a broken module: at most a few points
DEMO = Demo("zips", (
    Student("ada", "Ada Lovelace", story="a correct solution with a filled-in report"),
    Hostile("blank", story="the untouched stubs and report template"),
    Student("regbug", "Cy Reg", "reg-grad-half"),
    Student("dbbug", "Dee Bias", "b1-grad-one-row"),
    Student("slow", "Ed Loop", "predict-one-at-a-time"),
    Hostile("crash", FILE, SOME),
    Hostile("hang", FILE, SOME),
    Hostile("forger", FILE, SOME),
    Hostile("missing", REPORT, PARTIAL, (REPORT,), sid="noreport"),
))

TABLE = Table(BUGS, VARIANTS, DEMO)
