"""Attacks on resources: loops, memory, processes, output."""
import os
import sys
import time

import numpy as np


def spin():
    while True:
        pass


def sleep_forever():
    time.sleep(10_000)


def huge_array():
    return np.ones((50_000, 50_000))          # 20 GB


def grow_list():
    chunks = []
    while True:
        chunks.append(np.empty(10_000_000))  # 80 MB of address space at a time
        chunks[-1][::512] = 1.0               # touch a page in every 4 KB


def fork_bomb(n, hold):
    """Fork up to n children that sleep `hold` seconds; report how many forks worked."""
    made, error = 0, ""
    for _ in range(n):
        try:
            pid = os.fork()
        except OSError as exc:
            error = type(exc).__name__
            break
        if pid == 0:
            time.sleep(hold)
            os._exit(0)
        made += 1
    return made, error


def flood_stdout(megabytes):
    line = "x" * 1023 + "\n"
    block = line * 1024
    for _ in range(megabytes):
        sys.stdout.write(block)
    sys.stdout.flush()
    return megabytes


def big_file(megabytes):
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "big.bin")
    try:
        with open(path, "wb") as f:
            for _ in range(megabytes):
                f.write(b"\0" * (1 << 20))
        return "wrote"
    except OSError as exc:
        return type(exc).__name__


def return_big(megabytes):
    return np.zeros(megabytes << 17)          # megabytes MB of float64
