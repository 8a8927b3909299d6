"""Benchmark: spot's math verifier against math-verify called directly, per check.

    python benchmarks/verify_speed.py

spot's ``verify_math`` runs math-verify in a worker process with a time limit (a runaway
expression cannot hang elicitation or evaluation), so each check pays a round trip to the
worker. Prints the time per check of: math-verify in-process (``parse`` + ``verify``, the
peer, no time limit), spot sequentially, spot from 8 threads, and the ratio to the peer; and
that a runaway expression comes back as ``timeout`` within its limit.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from math_verify import parse, verify

from spot.verify.math import verify_math

PAIRS = [(rf"\boxed{{\frac{{{2 * i}}}{{2}}}}", str(i)) for i in range(200)]
PAIRS += [(rf"\boxed{{{i + 1}}}", str(i)) for i in range(200)]


def per_check(fn, threads: int = 1) -> float:
    start = time.perf_counter()
    if threads == 1:
        for response, truth in PAIRS:
            fn(response, truth)
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(lambda p: fn(*p), PAIRS))
    return (time.perf_counter() - start) / len(PAIRS)


def peer(response: str, truth: str) -> bool:
    return verify(parse(truth), parse(response))


def main() -> None:
    verify_math(r"\boxed{1}", "1")  # start the worker
    rows = {
        "math-verify in-process (peer)": statistics.median(per_check(peer) for _ in range(3)),
        "spot verify_math": statistics.median(per_check(verify_math) for _ in range(3)),
        "spot verify_math, 8 threads": statistics.median(
            per_check(verify_math, 8) for _ in range(3)
        ),
    }
    base = rows["math-verify in-process (peer)"]
    for name, seconds in rows.items():
        print(f"{name:32s} {1000 * seconds:7.2f} ms/check  ({seconds / base:.2f}x the peer)")
    start = time.perf_counter()
    runaway = verify_math(r"\boxed{10^{10^{10^{10}}}}", "1", timeout=1.0)
    took = time.perf_counter() - start
    print(f"runaway expression: {runaway.reason} after {took:.2f} s (limit 1.0 s)")


if __name__ == "__main__":
    main()
