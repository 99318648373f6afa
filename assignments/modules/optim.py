"""Optimizers over a module's parameters (graded); Torch's `optim` package as objects.

    model = lenet5(rng)
    optimizer = Adam(model.parameters(), model.gradients(), lr=1e-3)
    model.zero_grad(); ...forward, criterion, backward...; optimizer.step()

An optimizer keeps the two lists it is given (the arrays themselves, `params[i]` and
`grads[i]` of the same shape). `step()` updates every `params[i]` IN PLACE from the current
`grads[i]` and its own state; it changes neither the gradients nor their objects, and it does
not zero them (the training loop calls `model.zero_grad()`). State arrays (velocities,
running averages) start at zeros and have the shape of their parameter.

Weight decay (L2 regularization, `weight_decay >= 0`, applied to every parameter): each rule
below uses g = grads[i] + weight_decay * params[i] in place of the gradient, i.e. the gradient
of loss + weight_decay / 2 * sum(p**2).
"""
from __future__ import annotations

import numpy as np


class Optimizer:
    """Base class: holds `params`, `grads` (lists) and `lr`; subclasses write `step`."""

    def __init__(self, params: list[np.ndarray], grads: list[np.ndarray], lr: float,
                 weight_decay: float = 0.0) -> None:
        self.params, self.grads = list(params), list(grads)
        if len(self.params) != len(self.grads) or any(
                p.shape != g.shape for p, g in zip(self.params, self.grads)):
            raise ValueError("params and grads must be lists of arrays of the same shapes")
        self.lr, self.weight_decay = float(lr), float(weight_decay)

    def step(self) -> None:
        """One update of every parameter, in place."""
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent with (heavy-ball) momentum, per parameter:
        v = momentum * v + g          (v starts at zeros, so the first step is p -= lr * g)
        p -= lr * v
    momentum = 0 is plain SGD: p -= lr * g. State: `self.velocities` (one array a parameter).
    """

    def __init__(self, params: list[np.ndarray], grads: list[np.ndarray], lr: float = 0.01,
                 momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        super().__init__(params, grads, lr, weight_decay)
        self.momentum = float(momentum)
        self.velocities = [np.zeros_like(p) for p in self.params]

    def step(self) -> None:
        raise NotImplementedError("SGD.step: not implemented")


class AdaGrad(Optimizer):
    """AdaGrad (Duchi et al. 2011): per-coordinate steps shrinking with the sum of all squared
    gradients so far:
        sum_squares += g**2
        p -= lr * g / (sqrt(sum_squares) + eps)
    State: `self.sum_squares`."""

    def __init__(self, params: list[np.ndarray], grads: list[np.ndarray], lr: float = 0.01,
                 eps: float = 1e-10, weight_decay: float = 0.0) -> None:
        super().__init__(params, grads, lr, weight_decay)
        self.eps = float(eps)
        self.sum_squares = [np.zeros_like(p) for p in self.params]

    def step(self) -> None:
        raise NotImplementedError("AdaGrad.step: not implemented")


class RMSprop(Optimizer):
    """RMSprop (Hinton): AdaGrad with a leaky average of the squared gradients:
        square_avg = alpha * square_avg + (1 - alpha) * g**2
        p -= lr * g / (sqrt(square_avg) + eps)
    State: `self.square_avg`."""

    def __init__(self, params: list[np.ndarray], grads: list[np.ndarray], lr: float = 0.01,
                 alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params, grads, lr, weight_decay)
        self.alpha, self.eps = float(alpha), float(eps)
        self.square_avg = [np.zeros_like(p) for p in self.params]

    def step(self) -> None:
        raise NotImplementedError("RMSprop.step: not implemented")


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015), with bias correction; `self.t` counts the steps taken:
        t += 1                                  (once per step(), shared by all parameters)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        p -= lr * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + eps)
    State: `self.m`, `self.v` (lists), `self.t` (int, 0 at first)."""

    def __init__(self, params: list[np.ndarray], grads: list[np.ndarray], lr: float = 1e-3,
                 beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, grads, lr, weight_decay)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0

    def step(self) -> None:
        raise NotImplementedError("Adam.step: not implemented")
