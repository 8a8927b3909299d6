"""Mathematical answers: math-verify in a killable worker process.

The final answer (:func:`spot.verify.extract.extract_answer`) is compared with
the ground truth by math-verify for mathematical equivalence, in a separate
worker process with a time limit, so that no check can hang the caller.
:data:`spot.verify.registry.VERIFIERS` names :func:`verify_math` as the default verifier.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from contextlib import suppress
from multiprocessing.connection import Connection
from pathlib import Path

from spot.verify.extract import clean_answer, extract_answer
from spot.verify.registry import Verdict

DEFAULT_TIMEOUT = 3.0
"""Seconds one math check may take before it counts as wrong."""
_STARTUP_TIMEOUT = 60.0
"""Seconds a fresh worker may take to import math-verify (sympy) on a busy machine."""

# Digit-group separators such as 1\,000 or 1 000: math-verify reads them as a
# product (1*000 = 0), so an answer "1\,000" would equal a ground truth "0".
_DIGIT_GROUP = re.compile(r"(?<=\d)(?:\\[,;:! ]|~|\s)+(?=\d{3}(?!\d))")


# Number names written as words, which math-verify would read as products of
# letters (2*m*i*l*l*i*o*n): "2 million" is 2 \times 10^{6}, "2 dozen" is 2 \times 12,
# "5 pi" is 5\pi.
_SCALES = {"hundred": "10^{2}", "thousand": "10^{3}", "million": "10^{6}", "billion": "10^{9}"}
_SCALES |= {"trillion": "10^{12}", "dozen": "12"}
_SCALE_WORD = re.compile(r"(?<=[\d}])\s*\b(" + "|".join(_SCALES) + r")s?\b", re.IGNORECASE)
_PI_WORD = re.compile(r"(?<![\\A-Za-z])pi(?![A-Za-z])", re.IGNORECASE)


def _as_latex(answer: str) -> str:
    # The answer, stated or boxed, has already been cut out of its sentence, so it is
    # read as one expression rather than searched by math-verify's text patterns,
    # which pick a number out of it: 2 from "x + 2", "2\sqrt{2}" or "2 million", 1.2
    # from "1,2". math-verify parses the content of a box as one LaTeX expression;
    # a box (unlike $...$) also keeps multi-line answers such as matrices whole.
    s = _DIGIT_GROUP.sub("", clean_answer(answer))
    s = _SCALE_WORD.sub(lambda m: " \\times " + _SCALES[m[1].lower()], s)
    return "\\boxed{" + _PI_WORD.sub(r"\\pi ", s) + "}"


def _judge(pred: str, gold: str) -> str:
    """Compare in the worker; math-verify's own timeouts are off as they need the main thread."""
    from math_verify import parse, verify

    gold_parsed = parse(gold, parsing_timeout=None)
    if all(isinstance(g, str) for g in gold_parsed):  # nothing sympy could read
        return "unparseable ground truth"
    pred_parsed = parse(pred, parsing_timeout=None)
    return "match" if verify(gold_parsed, pred_parsed, timeout_seconds=None) else "mismatch"


def _serve(fd: int) -> None:
    """Worker loop: answer ``(pred, gold)`` requests on socket ``fd`` until it closes."""
    conn = Connection(fd)
    # Ctrl+C reaches the whole process group; the parent decides what to do about it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Its "timeout disabled" warning is for us, and we bound the time from outside.
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    import math_verify  # noqa: F401  (pay the sympy import before reporting ready)

    conn.send("ready")
    while True:
        try:
            pred, gold = conn.recv()
        except (EOFError, OSError):  # the parent has gone
            return
        try:
            reply = _judge(pred, gold)
        except Exception as e:
            reply = f"error: {type(e).__name__}: {str(e)[:200]}"
        with suppress(OSError):  # the parent has gone; the next recv ends the loop
            conn.send(reply)


class _MathWorker:
    """One reusable child process running math-verify, replaced when a check overruns.

    Killing a process is the only way to stop sympy inside a long big-integer
    operation, and it works from any thread, unlike math-verify's ``signal.alarm``.
    The worker is a fresh interpreter (subprocess) rather than a multiprocessing
    child: 'fork' would copy a threaded caller (torch, verifier threads) with
    locks held by other threads, and 'spawn' re-imports the caller's ``__main__``
    (re-running any script without a ``__name__`` guard) and is refused inside
    daemonic processes such as pool workers.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # one request in flight on the pipe at a time
        self._proc: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self._ready = False

    def check(self, pred: str, gold: str, timeout: float) -> str:
        with self._lock:
            try:
                return self._ask(pred, gold, timeout)
            except TimeoutError:
                failure = "timeout"
            except (EOFError, OSError) as e:
                failure = f"error: math-verify worker failed ({type(e).__name__}: {e})"
            self.close()
            self._start()  # warm up the replacement while the caller moves on
            return failure

    def _ask(self, pred: str, gold: str, timeout: float) -> str:
        if self._conn is None:
            self._start()
        assert self._conn is not None
        if not self._ready:  # start-up is not charged to the check's timeout
            if not self._conn.poll(_STARTUP_TIMEOUT):
                raise OSError("math-verify worker did not start")
            self._conn.recv()
            self._ready = True
        self._conn.send((pred, gold))
        if not self._conn.poll(timeout):
            raise TimeoutError
        return self._conn.recv()

    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        # Import this very file, whether or not spot is installed.
        src = str(Path(__file__).resolve().parents[2])
        path = os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))
        code = f"from spot.verify.math import _serve; _serve({theirs.fileno()})"
        self._proc = subprocess.Popen(
            [sys.executable, "-c", code],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": path},
        )
        theirs.close()  # so that the worker's death shows as EOF here
        self._conn = Connection(ours.detach())
        self._ready = False

    def close(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
        if self._conn is not None:
            self._conn.close()
        self._proc, self._conn, self._ready = None, None, False

    def forget(self) -> None:
        """In a forked child: drop the parent's worker without killing it."""
        if self._conn is not None:
            with suppress(OSError):
                self._conn.close()  # our copy of the descriptor only
        self._lock = threading.Lock()
        self._proc, self._conn, self._ready = None, None, False


_WORKER = _MathWorker()
atexit.register(_WORKER.close)
os.register_at_fork(after_in_child=_WORKER.forget)


def math_equal(extracted: str, ground_truth: str, timeout: float = DEFAULT_TIMEOUT) -> Verdict:
    """Whether ``extracted`` equals ``ground_truth`` mathematically (math-verify); never raises.

    A check that takes longer than ``timeout`` seconds is wrong with reason "timeout".
    A ground truth math-verify cannot read at all is compared as an exact string.
    """
    try:
        reason = _WORKER.check(_as_latex(extracted), _as_latex(ground_truth), timeout)
    except Exception as e:  # e.g. no worker can be started (out of processes or memory)
        return Verdict(False, extracted, f"error: {type(e).__name__}: {e}", checker_failed=True)
    if reason.startswith("error: "):  # the worker's own failure, reported as text over the pipe
        return Verdict(False, extracted, reason, checker_failed=True)
    if reason == "unparseable ground truth":
        same = " ".join(clean_answer(extracted).split()) == " ".join(
            clean_answer(ground_truth).split()
        )
        reason += "; exact string " + ("match" if same else "mismatch")
        return Verdict(same, extracted, reason)
    return Verdict(reason == "match", extracted, reason)


def verify_math(response: str, ground_truth: str, *, timeout: float = DEFAULT_TIMEOUT) -> Verdict:
    """Extract the final answer of ``response`` and compare it with :func:`math_equal`."""
    answer = extract_answer(response)
    if answer is None:
        return Verdict(False, None, "no answer found")
    return math_equal(answer, ground_truth, timeout)
