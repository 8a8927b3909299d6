"""Child processes that never outlive spot: engines, data-parallel workers.

Each child leads a process group of its own (``start_new_session``), so that stopping it
stops what it started too (vLLM's engine-core and worker processes), and asks the kernel
to send it SIGTERM when the spot process that started it dies (``PR_SET_PDEATHSIG``): a
``kill -9`` of spot, which runs no cleanup, still takes its engines down. Linux only; the
request is skipped where ``prctl`` does not exist.

PDEATHSIG fires when the *thread* that started the child ends, not the process: start these
children from a thread that lives as long as they should (the main thread).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel SIGTERM the child when this process dies (None
    where there is no ``prctl``). ``prctl`` is looked up here, before the fork: loading a
    library in the child of a threaded parent could deadlock."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the request took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def end_with_parent() -> None:
    """Have the kernel SIGTERM this process when its parent dies (a rank whose launcher is
    killed); nothing where there is no ``prctl``."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def start(command: list[str], *, env: dict[str, str] | None = None, log=None) -> subprocess.Popen:
    """``command`` in a process group of its own that dies with this process; its output to
    ``log`` (a file opened for writing), else this process's."""
    return subprocess.Popen(
        command,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT if log is not None else None,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent(),
    )


def stop(proc: subprocess.Popen, grace: float = 30.0) -> int | None:
    """SIGTERM the child's whole process group, SIGKILL it after ``grace`` seconds; returns
    the child's exit status."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass  # the group is gone (or only zombies are left)
        deadline = time.monotonic() + grace
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc.poll() is not None:
            _reap_group(proc.pid)
            return proc.returncode
    proc.wait()
    return proc.returncode


def _reap_group(pgid: int, grace: float = 5.0) -> None:
    """The leader is gone; what it started may still be shutting down: give it ``grace``
    seconds, then kill what is left of the group."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.1)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
