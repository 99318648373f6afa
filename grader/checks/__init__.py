"""The checks library: trusted-side checks used by every suite (nothing here runs student code
except through the worker handed in by the caller).

- `compare`    coercion of returned values to plain float64 arrays, shape/finiteness/tolerance
- `gradcheck`  numeric gradients of a backward against centred differences of the student's
               own forward, batched into few worker calls
- `verdicts`   verdicts from hidden inputs: record them, require them for visible points
- `sanity`     ln C at chance, regularization raises the loss, stability, loss decreases,
               label checks, determinism, overfitting a tiny set
- `accuracy`   held-out accuracy computed here and its calibrated partial-credit band
- `speed`      vectorized vs the student's own naive version, timed from the trusted side
- `writeup`    the two_layer_net REPORT.md checks (sections, stated values)

Import the submodules directly (`from grader.checks import gradcheck`).
"""
