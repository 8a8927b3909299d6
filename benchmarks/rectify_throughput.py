"""Benchmark: `spot rectify` against a loopback oracle that answers each request after 500 ms.

    python benchmarks/rectify_throughput.py [--items 4000] [--concurrency 200]

With 4000 items at concurrency 200 the ideal wall time is 4000 / 200 * 0.5 s
= 10 s. Prints the measured wall time, its ratio to the ideal, and the
client's CPU time (user + system of this process).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from toy_pairs import wrong_samples  # noqa: E402

from spot.fields import build  # noqa: E402
from spot.records.jsonl import write_records  # noqa: E402
from spot.rectify.config import RectifyConfig  # noqa: E402
from spot.rectify.stage import rectify  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=4000)
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--delay", type=float, default=0.5)
    args = ap.parse_args()
    server = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "rectify_server.py"),
            "--delay",
            str(args.delay),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    url = server.stdout.readline().split(" at ")[1].strip()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            errors = Path(tmp) / "errors.jsonl"
            write_records(errors, wrong_samples(args.items))
            cfg = build(
                RectifyConfig,
                dict(
                    errors=errors,
                    out=Path(tmp) / "out",
                    oracle="openai",
                    base_url=url,
                    model="oracle",
                    concurrency=args.concurrency,
                    timeout=60,
                ),
            )
            before = resource.getrusage(resource.RUSAGE_SELF)
            t = time.perf_counter()
            summary = rectify(cfg)
            wall = time.perf_counter() - t
            after = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        server.kill()
    ideal = args.items / args.concurrency * args.delay
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"items {args.items}, concurrency {args.concurrency}, server delay {args.delay}s")
    print(
        f"accepted {summary['accepted']}, rejected {summary['rejected']}, usage {summary['usage']}"
    )
    print(f"wall {wall:.2f} s vs ideal {ideal:.1f} s (ratio {wall / ideal:.2f}; target <= 12 s)")
    print(f"client CPU {cpu:.2f} s ({cpu / args.items * 1e3:.2f} ms per item)")


if __name__ == "__main__":
    main()
