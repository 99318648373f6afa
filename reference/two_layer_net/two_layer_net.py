"""A two-layer fully connected network (graded): affine - ReLU - affine - softmax.

Conventions (the same in every assignment of this kit):
  * X is (N, D), one example per row; y is (N,) with integer labels in [0, C).
  * Weights are (D_in, D_out) and a layer computes x @ W + b.
  * loss = mean softmax cross-entropy over the batch + reg * (sum(W1**2) + sum(W2**2)):
    the weight matrices are regularized, the biases are not. Its gradient is 2 * reg * W.

Numerical stability (the grader tests the loss with scores near 1e4). Two steps, both needed:
  1. Subtract each row's largest score from the row: softmax does not change, and exp() of
     the shifted scores is at most 1, so it cannot overflow to inf.
  2. Compute the LOG-probabilities directly (the "log-sum-exp" form):
         log p[c] = shifted[c] - log(sum(exp(shifted)))
     and take the loss from them. Do not form p = exp(shifted) / sum(exp(shifted)) and then
     take np.log(p): when one score is thousands above the others, the other p's underflow
     to exactly 0 and log(0) = -inf, though their log-probabilities are ordinary numbers
     (e.g. -3000). The probabilities the gradient needs are exp(log p), which is safe.

Write TwoLayerNet.loss first (the scores, then the loss, then the gradients; check them with
gradient_check.eval_numerical_gradient), then train, then predict, then choose HYPERPARAMS and
fill in REPORT.md.
"""
from __future__ import annotations

import numpy as np

# The hyper-parameters the grader trains your network with: "hidden_size" goes to the
# constructor, every other key is a keyword argument of TwoLayerNet.train (the grader passes
# the data, caps num_iters and adds a seed). Report the values you chose in REPORT.md.
HYPERPARAMS = {
    # BEGIN SOLUTION
    # STUB: "hidden_size": None,          # TODO: number of hidden units
    # STUB: "learning_rate": None,        # TODO: initial step size
    # STUB: "learning_rate_decay": None,  # TODO: factor applied to the step size every epoch
    # STUB: "reg": None,                  # TODO: regularization strength
    # STUB: "num_iters": None,            # TODO: number of minibatch steps
    # STUB: "batch_size": None,           # TODO: examples per minibatch
    "hidden_size": 64,
    "learning_rate": 0.5,
    "learning_rate_decay": 0.99,
    "reg": 1e-4,
    "num_iters": 3500,
    "batch_size": 32,
    # END SOLUTION
}


class TwoLayerNet:
    """affine - ReLU - affine - softmax, with parameters in self.params:

    W1 (D, H) first layer weights     b1 (H,) first layer biases
    W2 (H, C) second layer weights    b2 (C,) second layer biases
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int,
                 std: float = 1e-4, seed: int | None = None) -> None:
        """Weights drawn from N(0, std**2) with np.random.default_rng(seed); biases zero."""
        rng = np.random.default_rng(seed)
        self.params = {
            "W1": std * rng.standard_normal((input_size, hidden_size)),
            "b1": np.zeros(hidden_size),
            "W2": std * rng.standard_normal((hidden_size, output_size)),
            "b2": np.zeros(output_size),
        }

    def loss(self, X: np.ndarray, y: np.ndarray | None = None,
             reg: float = 0.0) -> np.ndarray | tuple[float, dict[str, np.ndarray]]:
        """Class scores, or the loss and the gradients of every parameter.

        Inputs: X (N, D); y (N,) labels in [0, C) or None; reg the regularization strength.
        Returns, when y is None: the scores (N, C) (the output of the second affine layer,
        before the softmax). Otherwise (loss, grads): the loss as a float and a dict with
        the same keys and shapes as self.params holding the gradient of the loss.

        Forward: h = max(0, X @ W1 + b1); scores = h @ W2 + b2. Loss: as in the module
        docstring, from log-probabilities in the log-sum-exp form (subtract each row's max
        score, then log p = shifted - log(sum(exp(shifted))); see "Numerical stability").
        Backward: go through the same steps in reverse, starting from probs = exp(log p);
        the ReLU passes the gradient only where its input was > 0. No Python loops are
        needed.
        """
        W1, b1 = self.params["W1"], self.params["b1"]
        W2, b2 = self.params["W2"], self.params["b2"]
        num_train = X.shape[0]

        # BEGIN SOLUTION: the forward pass
        hidden_in = X @ W1 + b1
        hidden = np.maximum(hidden_in, 0.0)
        scores = hidden @ W2 + b2
        # END SOLUTION
        if y is None:
            return scores

        # BEGIN SOLUTION: the loss and the backward pass
        shifted = scores - np.max(scores, axis=1, keepdims=True)
        log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
        rows = np.arange(num_train)
        loss = -np.mean(log_probs[rows, y]) + reg * (np.sum(W1 * W1) + np.sum(W2 * W2))

        dscores = np.exp(log_probs)
        dscores[rows, y] -= 1.0
        dscores /= num_train
        grads = {
            "W2": hidden.T @ dscores + 2 * reg * W2,
            "b2": np.sum(dscores, axis=0),
        }
        dhidden = dscores @ W2.T
        dhidden[hidden_in <= 0] = 0.0
        grads["W1"] = X.T @ dhidden + 2 * reg * W1
        grads["b1"] = np.sum(dhidden, axis=0)
        # END SOLUTION
        return float(loss), grads

    def train(self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray,
              learning_rate: float = 1e-3, learning_rate_decay: float = 0.95,
              reg: float = 5e-6, num_iters: int = 100, batch_size: int = 200,
              seed: int | None = None, verbose: bool = False) -> dict[str, list[float]]:
        """Minibatch SGD; returns {'loss_history', 'train_acc_history', 'val_acc_history'}.

        Inputs: training data X (N, D), y (N,); validation data X_val, y_val; the step size
        learning_rate, multiplied by learning_rate_decay once per epoch; reg; num_iters
        minibatch steps of batch_size examples; seed makes the run repeatable.

        In every iteration: draw batch_size random indices with `rng` (with replacement is
        fine: rng.choice(N, batch_size)), compute the loss and gradients on that minibatch
        with self.loss, record the loss, and update every parameter,
        p <- p - learning_rate * dp. At the end of every epoch (every iterations_per_epoch
        iterations) record the accuracy on the whole training set and on the validation set,
        then decay the learning rate.
        """
        rng = np.random.default_rng(seed)
        num_train = X.shape[0]
        iterations_per_epoch = max(num_train // batch_size, 1)
        loss_history: list[float] = []
        train_acc_history: list[float] = []
        val_acc_history: list[float] = []

        for it in range(num_iters):
            # BEGIN SOLUTION
            idx = rng.choice(num_train, batch_size, replace=True)
            loss, grads = self.loss(X[idx], y[idx], reg=reg)
            loss_history.append(float(loss))
            for name, grad in grads.items():
                self.params[name] -= learning_rate * grad

            if (it + 1) % iterations_per_epoch == 0:
                train_acc_history.append(float(np.mean(self.predict(X) == y)))
                val_acc_history.append(float(np.mean(self.predict(X_val) == y_val)))
                learning_rate *= learning_rate_decay
            # END SOLUTION
            if verbose and it % 100 == 0:
                print(f"iteration {it} / {num_iters}: loss {loss_history[-1]:.4f}")

        return {
            "loss_history": loss_history,
            "train_acc_history": train_acc_history,
            "val_acc_history": val_acc_history,
        }

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted labels of X (N, D): an int array (N,), the highest-scoring class."""
        # BEGIN SOLUTION
        return np.argmax(self.loss(X), axis=1)
        # END SOLUTION
