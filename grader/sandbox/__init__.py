"""The trust boundary: run student code in a separate, isolated worker process.

    from grader.sandbox import Worker, Handle, StudentError, start_worker
    with Worker(workdir, decl.limits, forbidden_imports=decl.forbidden_imports) as w:
        loss, dW = w.call("softmax.softmax_loss_naive", (W, X, y, 0.1))

Modules, each importing only those after it: `client` (trusted API: Worker, requests),
`isolation` (bwrap / uid / plain: how a worker is launched, and which mode works here),
`uids` (one unprivileged uid per running sandbox, leased from a pool),
`process` (one worker process: start, hello, kill its tree), `errors` (StudentError),
`protocol` (plain-data wire format and message caps, shared with the worker) and
`worker_main` (runs inside the sandbox; it imports nothing of the grader).
"""
from grader.sandbox.client import (Handle, Request, Worker, req_call, req_get_attr,
                                   req_method, req_new, req_set_item, start_worker)
from grader.sandbox.errors import KINDS, StudentError
from grader.sandbox.isolation import SandboxUnavailable

__all__ = ["Worker", "Handle", "StudentError", "KINDS", "Request", "SandboxUnavailable",
           "start_worker", "req_call", "req_method", "req_set_item", "req_get_attr", "req_new"]
