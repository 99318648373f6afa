"""The softmax suite's bug table (`grader.bugs`): realistic bugs, each a small edit of a copy
of reference/softmax/ that must lose points on a test tagged with the bugged function;
correct code written differently (as the docstrings teach, einsum, float32 training) that
must keep full marks; and the demo class of `make grade` (a folder per student)."""
from grader.bugs import PARTIAL, ZERO, Bug, Demo, Hostile, Student, Table, Variant

FILE = "softmax.py"
NAIVE, VEC = "softmax_loss_naive", "softmax_loss_vectorized"

BUGS = (
    Bug("reg-grad-half", "regularization gradient reg*W instead of 2*reg*W", (VEC,),
        ((FILE, "dW = X.T @ dscores / num_train + 2 * reg * W",
          "dW = X.T @ dscores / num_train + reg * W"),)),
    Bug("no-max-shift", "naive loss without max-subtraction", (NAIVE,),
        ((FILE, "        scores = scores - np.max(scores)\n", ""),)),
    Bug("loss-not-averaged", "vectorized loss summed, not averaged, over the batch", (VEC,),
        ((FILE, "loss = -np.mean(log_probs[rows, y])", "loss = -np.sum(log_probs[rows, y])"),)),
    Bug("naive-dW-not-averaged", "naive dW not divided by the batch size", (NAIVE,),
        ((FILE, "dW = dW / num_train + 2 * reg * W", "dW = dW + 2 * reg * W"),)),
    Bug("gradient-ascent", "training steps up the gradient", ("Softmax.train",),
        ((FILE, "self.W -= learning_rate * grad", "self.W += learning_rate * grad"),)),
    Bug("argmin", "predict takes the argmin", ("Softmax.predict",),
        ((FILE, "return np.argmax(X @ self.W, axis=1)", "return np.argmin(X @ self.W, axis=1)"),)),
    Bug("global-rng", "minibatches drawn from the global RNG, not the seeded one",
        ("Softmax.train",),
        ((FILE, "idx = rng.choice(num_train, batch_size, replace=True)",
          "idx = np.random.choice(num_train, batch_size, replace=True)"),)),
    Bug("vec-no-max-shift", "no max-subtraction: exp overflows on large logits", (VEC,),
        ((FILE, "scores = scores - np.max(scores, axis=1, keepdims=True)", "scores = scores"),)),
    Bug("vec-calls-naive", "'vectorized' loss that calls the naive loops", (VEC,),
        ((FILE, "    num_train = X.shape[0]\n    scores = X @ W\n",
          "    return softmax_loss_naive(W, X, y, reg)\n    num_train = X.shape[0]\n"
          "    scores = X @ W\n"),)),
    # mutation analysis (#16): realistic mistakes the table lacked
    Bug("max-shift-wrong-axis", "scores shifted by each column's max, not each row's", (VEC,),
        ((FILE, "scores = scores - np.max(scores, axis=1, keepdims=True)",
          "scores = scores - np.max(scores, axis=0, keepdims=True)"),)),
    Bug("predict-returns-scores", "predict returns the class scores, not labels",
        ("Softmax.predict",),
        ((FILE, "return np.argmax(X @ self.W, axis=1)", "return X @ self.W"),)),
)

# Written exactly as the docstrings teach (shift by the row max, log-probabilities in the
# log-sum-exp form, probabilities as their exp), in a student's own words: an outer product
# per example in the naive loss, an explicit one-hot matrix in the vectorized one.
NAIVE_REF = ("        loss += np.log(total) - scores[y[i]]\n"
             "        for c in range(num_classes):\n"
             "            p = exp_scores[c] / total\n"
             "            dW[:, c] += (p - (c == y[i])) * X[i]\n")
NAIVE_TAUGHT = ("        log_p = scores - np.log(np.sum(np.exp(scores)))\n"
                "        loss += -log_p[y[i]]\n"
                "        onehot = np.zeros(num_classes)\n"
                "        onehot[y[i]] = 1.0\n"
                "        dW += np.outer(X[i], np.exp(log_p) - onehot)\n")
VEC_REF = ("    log_norm = np.log(np.sum(np.exp(scores), axis=1, keepdims=True))\n"
           "    log_probs = scores - log_norm\n    rows = np.arange(num_train)\n"
           "    loss = -np.mean(log_probs[rows, y]) + reg * np.sum(W * W)\n"
           "    dscores = np.exp(log_probs)\n    dscores[rows, y] -= 1.0\n"
           "    dW = X.T @ dscores / num_train + 2 * reg * W\n")
VEC_TAUGHT = ("    log_probs = scores - np.log(np.sum(np.exp(scores), axis=1, keepdims=True))\n"
              "    rows = np.arange(num_train)\n"
              "    loss = -np.mean(log_probs[rows, y]) + reg * np.sum(W * W)\n"
              "    probs = np.exp(log_probs)\n"
              "    onehot = np.zeros_like(probs)\n"
              "    onehot[rows, y] = 1.0\n"
              "    dW = X.T @ (probs - onehot) / num_train + 2 * reg * W\n")
VARIANTS = (
    Variant("as-the-docstrings-teach", "log-probabilities in the log-sum-exp form, "
            "probabilities as their exp",
            ((FILE, VEC_REF, VEC_TAUGHT), (FILE, NAIVE_REF, NAIVE_TAUGHT))),
    Variant("einsum", "products written as einsum", (
        (FILE, "    scores = X @ W\n    scores = scores - np.max(scores, axis=1",
         "    scores = np.einsum('nd,dc->nc', X, W)\n    scores = scores - np.max(scores, axis=1"),
        (FILE, "dW = X.T @ dscores / num_train + 2 * reg * W",
         "dW = np.einsum('nd,nc->dc', X, dscores) / num_train + 2 * reg * W"))),
    Variant("float32-training", "weights kept in float32 while training", (
        (FILE, "self.W -= learning_rate * grad",
         "self.W = (self.W - learning_rate * grad).astype(np.float32)"),)),
    # mutation analysis (#16): a surviving mutant that is correct SGD, kept at full marks
    Variant("sample-without-replacement", "minibatches drawn without replacement", (
        (FILE, "rng.choice(num_train, batch_size, replace=True)",
         "rng.choice(num_train, batch_size, replace=False)"),)),
)

DEMO = Demo("folders", (
    Student("ada", "Ada Lovelace", story="a correct, vectorized solution"),
    Hostile("blank"),
    Student("regbug", "Cy Reg", "reg-grad-half"),
    Student("nomax", "Di Overflow", "vec-no-max-shift"),
    Student("slow", "Ed Loop", "vec-calls-naive"),
    Hostile("crash", FILE),
    Hostile("hang", FILE, PARTIAL, ("Softmax.predict",), "infinite loop in predict",
            edit=(FILE, "        return np.argmax(X @ self.W, axis=1)",
                  "        while True:\n            pass")),
    Hostile("forger", FILE),
    Hostile("missing", FILE, ZERO, story="forgot to upload softmax.py"),
))

TABLE = Table(BUGS, VARIANTS, DEMO)
