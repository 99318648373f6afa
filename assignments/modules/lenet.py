"""LeNet-5 on MNIST from your modules, its training loop and a random search (graded).

The network (LeCun et al. 1998, as in the Torch7 tutorial), for 1x28x28 images; `lenet5`
returns exactly this `Sequential` of 12 modules, in this order:

    0  Conv2d(1, 6, 5, padding=2)     (N, 1, 28, 28) -> (N, 6, 28, 28)
    1  ReLU
    2  MaxPool2d(2)                   -> (N, 6, 14, 14)
    3  Conv2d(6, 16, 5)               -> (N, 16, 10, 10)
    4  ReLU
    5  MaxPool2d(2)                   -> (N, 16, 5, 5)
    6  Flatten                        -> (N, 400)
    7  Linear(400, 120)
    8  ReLU
    9  Linear(120, 84)
    10 ReLU
    11 Linear(84, 10)                 -> (N, 10) class scores (no softmax: see train)

61,706 parameters. The activation is ReLU (the 1998 paper used scaled tanh; ReLU trains
faster and pairs with He initialization). Weights: `kaiming_normal(weight.shape, rng)` for the
five weight arrays in module order; biases zero.

Training (`train`): the fused `CrossEntropyCriterion` on the scores, `Adam` with the given
learning rate and weight decay, minibatches from a fresh permutation every epoch.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from nn import (Conv2d, CrossEntropyCriterion, Flatten, Linear, MaxPool2d, Module, ReLU,
                Sequential, kaiming_normal)
from optim import Adam

# The hyper-parameters the grader trains your lenet5 with: the keys are exactly the keyword
# arguments of `train` besides model, X, y and rng (the grader passes those, and caps
# `epochs`). Pick values that reach a good validation accuracy within a few seconds.
HYPERPARAMS = {
    "learning_rate": None,   # TODO: Adam's step size
    "weight_decay": None,    # TODO: L2 regularization strength
    "batch_size": None,      # TODO: examples per minibatch
    "epochs": None,          # TODO: passes over the training data
}


def lenet5(rng: np.random.Generator) -> Sequential:
    """LeNet-5 as described at the top of this file: the 12 modules in that order, weights
    from `kaiming_normal(shape, rng)` (conv1, conv2, fc1, fc2, fc3, one call each, in that
    order), biases zero. Create the modules with `rng=rng` too (their default values are then
    replaced)."""
    raise NotImplementedError("lenet5: not implemented")


def train(model: Module, X: np.ndarray, y: np.ndarray, learning_rate: float,
          weight_decay: float, batch_size: int, epochs: int,
          rng: np.random.Generator) -> list[float]:
    """Train `model` in place on X (N, ...), y (N,) labels; returns the loss of every
    minibatch, in order.

    `model.train()` first. Each epoch: `order = rng.permutation(N)`, then minibatches of
    `batch_size` consecutive indices of `order` (the last one may be smaller). Per minibatch:
    zero_grad, forward, `CrossEntropyCriterion` loss, backward, one `Adam(model.parameters(),
    model.gradients(), lr=learning_rate, weight_decay=weight_decay)` step (ONE optimizer for
    the whole run: its moments carry over). Leaves the model in training mode.
    """
    raise NotImplementedError("train: not implemented")


def predict(model: Module, X: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Predicted labels (N,) ints: `model.eval()`, argmax of the scores, `batch_size` rows at a
    time (keeps memory small)."""
    raise NotImplementedError("predict: not implemented")


def random_search(build_model: Callable[[np.random.Generator], Module], X_train: np.ndarray,
                  y_train: np.ndarray, X_val: np.ndarray, y_val: np.ndarray,
                  rng: np.random.Generator, num_trials: int,
                  lr_range: tuple[float, float] = (1e-4, 1e-2),
                  reg_range: tuple[float, float] = (1e-6, 1e-2),
                  epochs: int = 1, batch_size: int = 50) -> dict:
    """Random hyper-parameter search in log space (Bergstra & Bengio 2012).

    First draw ALL settings, trial by trial, learning rate then weight decay, each with one
    call `10 ** rng.uniform(log10(low), log10(high))` over its range: log-uniform, so each
    decade of the range gets the same share of the trials. Then for every trial:
    `model = build_model(rng)`, `train(model, X_train, y_train, learning_rate=...,
    weight_decay=..., batch_size=batch_size, epochs=epochs, rng=rng)`, and the validation
    accuracy `mean(predict(model, X_val) == y_val)`.

    Returns plain data: {"learning_rate": float, "weight_decay": float, "val_accuracy": float}
    of the best trial (the first one on a tie), plus "trials": a list of such dicts, one per
    trial, in order.
    """
    raise NotImplementedError("random_search: not implemented")
