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
    "hidden_size": None,          # TODO: number of hidden units
    "learning_rate": None,        # TODO: initial step size
    "learning_rate_decay": None,  # TODO: factor applied to the step size every epoch
    "reg": None,                  # TODO: regularization strength
    "num_iters": None,            # TODO: number of minibatch steps
    "batch_size": None,           # TODO: examples per minibatch
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

        raise NotImplementedError("TwoLayerNet.loss: not implemented (the forward pass)")
        if y is None:
            return scores

        raise NotImplementedError("TwoLayerNet.loss: not implemented (the loss and the backward pass)")
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
            raise NotImplementedError("TwoLayerNet.train: not implemented")
            if verbose and it % 100 == 0:
                print(f"iteration {it} / {num_iters}: loss {loss_history[-1]:.4f}")

        return {
            "loss_history": loss_history,
            "train_acc_history": train_acc_history,
            "val_acc_history": val_acc_history,
        }

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted labels of X (N, D): an int array (N,), the highest-scoring class."""
        raise NotImplementedError("TwoLayerNet.predict: not implemented")
