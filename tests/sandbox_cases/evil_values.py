"""Attack: return values that pretend to equal anything."""
import numpy as np


class AlwaysEqual:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = object.__hash__


class SneakyArray(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(self), dtype=bool)

    def __array_finalize__(self, obj):
        pass


class SneakyFloat(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


def always_equal():
    return AlwaysEqual()


def always_equal_nested():
    return (np.zeros(3), {"dW": AlwaysEqual()})


def array_subclass():
    return np.arange(6.0).reshape(2, 3).view(SneakyArray)


def float_subclass():
    return SneakyFloat(1.5)


def object_array():
    return np.array([AlwaysEqual(), 1], dtype=object)


def complex_array():
    return np.ones(3, dtype=complex)


def numpy_scalars():
    return np.float32(0.5), np.int64(7), np.bool_(True), np.float64(np.nan)


def forge_reply():
    """Write a bogus frame (an object-dtype array) straight onto the reply pipe."""
    import json
    import os
    import struct
    with open("/proc/self/cmdline", "rb") as f:
        config = json.loads(f.read().split(b"\0")[-2])
    body = json.dumps({"x": 1}).encode()
    body = json.dumps(["d", "id", 1, "ok", True, "value", ["a", 0, "|O", [2]]]).encode()
    frame = b"GK1\0" + struct.pack("<II", len(body), 1) + body + struct.pack("<Q", 16) + b"\0" * 16
    os.write(config["resp_fd"], frame)
    os._exit(0)
