"""Well-behaved fake student code for tests/test_sandbox.py."""
import os
import sys

import numpy as np


def echo(*args, **kwargs):
    return args, kwargs


def double(x):
    return x * 2


def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1) @ w + b
    cache = (x, w, b, lambda: "not plain data")     # only ever lives in the worker
    return out, cache


def affine_backward(dout, cache):
    x, w, b, _ = cache
    return (dout @ w.T).reshape(x.shape), x.reshape(x.shape[0], -1).T @ dout, dout.sum(axis=0)


class Model:
    def __init__(self, n_in, n_out, seed=0):
        rng = np.random.default_rng(seed)
        self.params = {"W1": rng.standard_normal((n_in, n_out)), "b1": np.zeros(n_out)}
        self.calls = 0

    def loss(self, X, y=None):
        self.calls += 1
        scores = X @ self.params["W1"] + self.params["b1"]
        if y is None:
            return scores
        return float(scores.sum()), {k: np.ones_like(v) for k, v in self.params.items()}


class Trainer:
    """Takes a handle (a Model) and plain data, like the given Solver."""

    def __init__(self, model, data, lr=0.1):
        self.model, self.data, self.lr = model, data, lr

    def step(self):
        _, grads = self.model.loss(self.data["X"], self.data["y"])
        for k, g in grads.items():
            self.model.params[k] -= self.lr * g
        return self.model.calls


def calls_of(bundle):
    """Handles nested in plain containers arrive as the objects they stand for."""
    return [m.calls for m in bundle["models"]]


def not_done(W, X):
    # TODO: students fill this in
    raise NotImplementedError


def inner_helper(a):
    return np.dot(a, np.ones(5))


def bad_shapes(a):
    return inner_helper(a)


def shout(n_lines):
    for i in range(n_lines):
        print(f"line {i}")
    print("to stderr", file=sys.stderr)
    return n_lines


def environment():
    import resource
    return {"cwd": os.getcwd(), "uid": os.getuid(), "env": dict(os.environ),
            "as_mb": resource.getrlimit(resource.RLIMIT_AS)[0] >> 20,
            "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            "files": sorted(os.listdir(".")), "path0": sys.path[0],
            "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS")}


def write_tmp(name, text):
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), name)
    with open(path, "w") as f:
        f.write(text)
    return path


def exit_in_function():
    sys.exit(3)


def hard_exit(code):
    os._exit(code)


def delayed_exit(seconds):
    """Return now, die a little later (from a timer signal; a thread cannot start under a
    process limit of 1): the next import must not be blamed."""
    import signal
    signal.signal(signal.SIGALRM, lambda *_: os._exit(1))
    signal.setitimer(signal.ITIMER_REAL, seconds)
    return "bye"
