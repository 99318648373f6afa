"""A linear softmax classifier (graded).

Conventions (the same in every assignment of this kit):
  * X is (N, D): one example per row. For the digits data D = 65: 64 pixels in [0, 1] and a
    constant 1 at the end (the bias trick), so the last row of W holds the class biases.
  * W is (D, C); the class scores of X are X @ W, shape (N, C).
  * y is (N,) with integer labels in [0, C).
  * loss = mean softmax cross-entropy over the batch + reg * np.sum(W * W),
    so the regularization gradient is 2 * reg * W. (With the bias trick the biases live in W
    and are regularized with it; that is intended here.)

Numerical stability (the grader tests it with scores near 1e4). Two steps, both needed:
  1. Subtract each row's largest score from the row: softmax does not change, and exp() of
     the shifted scores is at most 1, so it cannot overflow to inf.
  2. Compute the LOG-probabilities directly (the "log-sum-exp" form):
         log p[c] = shifted[c] - log(sum(exp(shifted)))
     and take the loss from them. Do not form p = exp(shifted) / sum(exp(shifted)) and then
     take np.log(p): when one score is thousands above the others, the other p's underflow
     to exactly 0 and log(0) = -inf, though their log-probabilities are ordinary numbers
     (e.g. -3000). The probabilities the gradient needs are exp(log p), which is safe.

Write the functions in this order: softmax_loss_naive, softmax_loss_vectorized,
Softmax.train, Softmax.predict, then choose HYPERPARAMS. Check each gradient with
gradient_check.eval_numerical_gradient before moving on.
"""
from __future__ import annotations

import numpy as np

# The hyper-parameters the grader trains your Softmax with: the keys are exactly the keyword
# arguments of Softmax.train (the grader passes X and y, caps num_iters and adds a seed).
# Pick values that reach a good validation accuracy on the digits data.
HYPERPARAMS = {
    # BEGIN SOLUTION
    # STUB: "learning_rate": None,   # TODO: step size of gradient descent
    # STUB: "reg": None,             # TODO: regularization strength
    # STUB: "num_iters": None,       # TODO: number of minibatch steps
    # STUB: "batch_size": None,      # TODO: examples per minibatch
    "learning_rate": 0.5,
    "reg": 1e-4,
    "num_iters": 500,
    "batch_size": 200,
    # END SOLUTION
}


def softmax_loss_naive(W: np.ndarray, X: np.ndarray, y: np.ndarray,
                       reg: float) -> tuple[float, np.ndarray]:
    """Softmax loss and its gradient, written with explicit loops.

    Inputs: W (D, C) weights, X (N, D) data, y (N,) labels in [0, C), reg >= 0.
    Returns (loss, dW) with dW the same shape as W.

    Loop over the examples (and, if it helps you, over the classes): compute the scores
    s = X[i] @ W and subtract max(s) from them; compute the log-probabilities
    log p = s - log(sum(exp(s))) of the shifted scores (see "Numerical stability" at the top
    of this file: never np.log of a probability that may have underflowed to 0); add
    -log p[y[i]] to the loss and (p - onehot(y[i])) times X[i] to the gradient, with
    p = exp(log p). Then average over the batch and add the regularization.
    """
    loss = 0.0
    dW = np.zeros_like(W)
    # BEGIN SOLUTION
    num_train, num_classes = X.shape[0], W.shape[1]
    for i in range(num_train):
        scores = X[i] @ W
        scores = scores - np.max(scores)
        exp_scores = np.exp(scores)
        total = np.sum(exp_scores)
        loss += np.log(total) - scores[y[i]]
        for c in range(num_classes):
            p = exp_scores[c] / total
            dW[:, c] += (p - (c == y[i])) * X[i]
    loss = loss / num_train + reg * np.sum(W * W)
    dW = dW / num_train + 2 * reg * W
    # END SOLUTION
    return loss, dW


def softmax_loss_vectorized(W: np.ndarray, X: np.ndarray, y: np.ndarray,
                            reg: float) -> tuple[float, np.ndarray]:
    """Softmax loss and gradient, vectorized: same inputs and outputs as softmax_loss_naive.

    No Python loops: compute all scores at once as X @ W, subtract each row's maximum, turn
    each row into log-probabilities in the log-sum-exp form (see "Numerical stability" at the
    top of this file), and pick those of the correct classes with integer indexing
    (log_probs[np.arange(N), y]). The gradient is X.T @ (probs - onehot(y)) / N plus the
    regularization term, with probs = exp(log_probs). The result must match
    softmax_loss_naive to about 1e-12.
    """
    loss = 0.0
    dW = np.zeros_like(W)
    # BEGIN SOLUTION
    num_train = X.shape[0]
    scores = X @ W
    scores = scores - np.max(scores, axis=1, keepdims=True)
    log_norm = np.log(np.sum(np.exp(scores), axis=1, keepdims=True))
    log_probs = scores - log_norm
    rows = np.arange(num_train)
    loss = -np.mean(log_probs[rows, y]) + reg * np.sum(W * W)
    dscores = np.exp(log_probs)
    dscores[rows, y] -= 1.0
    dW = X.T @ dscores / num_train + 2 * reg * W
    # END SOLUTION
    return loss, dW


class Softmax:
    """A linear classifier trained with minibatch stochastic gradient descent."""

    def __init__(self) -> None:
        self.W: np.ndarray | None = None      # created by train() on its first call

    def loss(self, X_batch: np.ndarray, y_batch: np.ndarray,
             reg: float) -> tuple[float, np.ndarray]:
        """Loss and gradient of the current weights on one minibatch."""
        return softmax_loss_vectorized(self.W, X_batch, y_batch, reg)

    def train(self, X: np.ndarray, y: np.ndarray, learning_rate: float = 1e-3,
              reg: float = 1e-5, num_iters: int = 100, batch_size: int = 200,
              seed: int | None = None, verbose: bool = False) -> list[float]:
        """Train W with minibatch SGD; return the loss of every iteration (a list of floats).

        Inputs: X (N, D), y (N,) labels in [0, C); learning_rate, reg, num_iters and
        batch_size as named; seed makes the run repeatable.

        In every iteration: draw batch_size random example indices with `rng` (with
        replacement is fine: rng.choice(N, batch_size)), compute the loss and gradient on
        that minibatch with self.loss, record the loss, and take one step
        W <- W - learning_rate * dW.
        """
        rng = np.random.default_rng(seed)
        num_train, dim = X.shape
        num_classes = int(np.max(y)) + 1
        if self.W is None:
            self.W = 0.001 * rng.standard_normal((dim, num_classes))
        loss_history: list[float] = []
        for it in range(num_iters):
            # BEGIN SOLUTION
            idx = rng.choice(num_train, batch_size, replace=True)
            loss, grad = self.loss(X[idx], y[idx], reg)
            self.W -= learning_rate * grad
            loss_history.append(float(loss))
            # END SOLUTION
            if verbose and it % 100 == 0:
                print(f"iteration {it} / {num_iters}: loss {loss_history[-1]:.4f}")
        return loss_history

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted labels of X (N, D): an int array (N,), the highest-scoring class."""
        # BEGIN SOLUTION
        return np.argmax(X @ self.W, axis=1)
        # END SOLUTION
