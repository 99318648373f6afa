"""The checks library: trusted-side checks used by every suite (nothing here runs student code
except through the worker handed in by the caller).

- `compare`    coercion of returned values to plain float64 arrays, shape/finiteness/tolerance
- `gradcheck`  numeric gradients of a backward against centred differences of the student's
               own forward, batched into few worker calls
- `verdicts`   verdicts from hidden inputs: record them, require them for visible points
- `sanity`     ln C at chance, regularization raises the loss, stability, loss decreases,
               label checks, determinism, overfitting a tiny set, weights drawn from a
               normal, a returned gradient along a random direction of a trusted loss
- `accuracy`   held-out accuracy computed here and its calibrated partial-credit band, and
               the student's HYPERPARAMS validated (measuring the reference is
               `grader/calibration.py`, a staff tool outside this library)
- `speed`      the student's function timed against a trusted yardstick on fresh inputs
               (and `speedup`: one sandboxed function against another)
- `layers`     a layer's forward/backward pair: expected values, gradients against its own
               forward, speed and backward cost (convnet's layer tests)
- `writeup`    the two_layer_net REPORT.md checks (sections, stated values)

Import the submodules directly (`from grader.checks import gradcheck`).
"""
