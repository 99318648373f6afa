"""Minibatch training loop for the models of this assignment (given, not graded).

    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-3},
                    batch_size=50, num_epochs=2, seed=0)
    solver.train()
    solver.check_accuracy(data["X_test"], data["y_test"])

`model` needs `params` (a dict of arrays) and `loss(X, y=None)` as in this assignment's README;
`data` needs `X_train, y_train, X_val, y_val`. After `train()`, `model.params` holds the
parameters with the best validation accuracy seen at the end of an epoch.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

import optim


class Solver:
    """Trains `model` on `data` with one update rule per parameter.

    Keyword options:
      update_rule      name of a function in `optim.py` (or the function itself); default 'sgd'
      optim_config     hyper-parameters passed to the rule, e.g. {'learning_rate': 1e-3}
      lr_decay         the learning rate is multiplied by this after every epoch (1.0)
      batch_size       examples per step (100)
      num_epochs       passes over the training data (10)
      num_train_samples / num_val_samples   examples used for the per-epoch accuracy checks
                       (1000 / None meaning all); the final numbers use the same sizes
      seed             seeds minibatch order and accuracy subsampling (None: unseeded)
      print_every      print the loss every this many steps when verbose (10)
      verbose          print progress (True)
    """

    def __init__(self, model: Any, data: dict[str, np.ndarray], **kwargs: Any) -> None:
        self.model = model
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]

        self.update_rule: str | Callable = kwargs.pop("update_rule", "sgd")
        self.optim_config: dict = dict(kwargs.pop("optim_config", {}))
        self.lr_decay: float = kwargs.pop("lr_decay", 1.0)
        self.batch_size: int = kwargs.pop("batch_size", 100)
        self.num_epochs: int = kwargs.pop("num_epochs", 10)
        self.num_train_samples: int | None = kwargs.pop("num_train_samples", 1000)
        self.num_val_samples: int | None = kwargs.pop("num_val_samples", None)
        self.seed: int | None = kwargs.pop("seed", None)
        self.print_every: int = kwargs.pop("print_every", 10)
        self.verbose: bool = kwargs.pop("verbose", True)
        if kwargs:
            raise ValueError(f"unknown Solver option(s): {', '.join(sorted(kwargs))}")

        if callable(self.update_rule):
            self._update = self.update_rule
        elif hasattr(optim, self.update_rule):
            self._update = getattr(optim, self.update_rule)
        else:
            raise ValueError(f"no update rule {self.update_rule!r} in optim.py")
        self._rng = np.random.default_rng(self.seed)
        self._reset()

    def _reset(self) -> None:
        self.epoch = 0
        self.best_val_acc = -1.0
        self.best_params: dict[str, np.ndarray] = {}
        self.loss_history: list[float] = []
        self.train_acc_history: list[float] = []
        self.val_acc_history: list[float] = []
        # Each parameter keeps its own state (velocity, moments, ...).
        self.optim_configs = {name: dict(self.optim_config) for name in self.model.params}

    def _step(self, idx: np.ndarray) -> None:
        loss, grads = self.model.loss(self.X_train[idx], self.y_train[idx])
        self.loss_history.append(float(loss))
        for name, w in self.model.params.items():
            next_w, self.optim_configs[name] = self._update(w, grads[name],
                                                            self.optim_configs[name])
            self.model.params[name] = next_w

    def check_accuracy(self, X: np.ndarray, y: np.ndarray, num_samples: int | None = None,
                       batch_size: int = 100) -> float:
        """Fraction of `X` classified as `y`, on a random subset of `num_samples` if given,
        scored `batch_size` examples at a time to bound memory."""
        if num_samples is not None and len(X) > num_samples:
            idx = self._rng.choice(len(X), num_samples, replace=False)
            X, y = X[idx], y[idx]
        preds = [np.argmax(self.model.loss(X[i:i + batch_size]), axis=1)
                 for i in range(0, len(X), batch_size)]
        return float(np.mean(np.concatenate(preds) == y)) if len(X) else 0.0

    def _end_of_epoch(self) -> None:
        train_acc = self.check_accuracy(self.X_train, self.y_train, self.num_train_samples)
        val_acc = self.check_accuracy(self.X_val, self.y_val, self.num_val_samples)
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        if self.verbose:
            print(f"(epoch {self.epoch} / {self.num_epochs}) train acc: {train_acc:.4f}; "
                  f"val acc: {val_acc:.4f}")
        if val_acc > self.best_val_acc:
            self.best_val_acc = val_acc
            self.best_params = {k: v.copy() for k, v in self.model.params.items()}

    def train(self) -> None:
        """Run `num_epochs` epochs of minibatch updates (each epoch a fresh shuffle), check
        accuracy after each epoch, and finish with the best parameters in `model.params`."""
        n_train = len(self.X_train)
        steps_per_epoch = max(n_train // self.batch_size, 1)
        step = 0
        for _ in range(self.num_epochs):
            order = self._rng.permutation(n_train)
            for k in range(steps_per_epoch):
                self._step(order[k * self.batch_size:(k + 1) * self.batch_size])
                step += 1
                if self.verbose and step % self.print_every == 0:
                    print(f"(step {step} / {steps_per_epoch * self.num_epochs}) "
                          f"loss: {self.loss_history[-1]:.6f}")
            self.epoch += 1
            for cfg in self.optim_configs.values():
                if "learning_rate" in cfg:        # every rule sets it on its first step
                    cfg["learning_rate"] *= self.lr_decay
            self._end_of_epoch()
        if self.best_params:
            self.model.params.update(self.best_params)
