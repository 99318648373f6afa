"""Attack: look outside the sandbox (files, network, processes)."""
import os
import socket


def read_file(path):
    try:
        with open(path, "rb") as f:
            return "read %d bytes" % len(f.read())
    except OSError as exc:
        return type(exc).__name__


def list_dir(path):
    try:
        return sorted(os.listdir(path))
    except OSError as exc:
        return type(exc).__name__


def connect(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2.0)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(b"stolen")
        return "connected"
    except OSError as exc:
        return type(exc).__name__
    finally:
        s.close()


def kill_parent():
    os.kill(os.getppid(), 9)
    return "still here"


def kill_everything():
    try:
        os.kill(-1, 9)
    except OSError as exc:
        return type(exc).__name__
    return "sent"


def whoami():
    return {"uid": os.getuid(), "gid": os.getgid(), "pid": os.getpid(), "ppid": os.getppid()}


def exit_after_answering(delay):
    """Answer, then end the process between calls (from a timer signal: under a process
    limit of 1 no thread can start)."""
    import signal
    signal.signal(signal.SIGALRM, lambda *_: os._exit(3))
    signal.setitimer(signal.ITIMER_REAL, delay)
    return "answered"
