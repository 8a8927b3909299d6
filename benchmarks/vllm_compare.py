"""The checks of ``benchmarks/vllm_check.sh``: compare the files that `spot elicit` and
`spot eval` wrote with different backends, and append one verdict line to a results file.

    python benchmarks/vllm_compare.py same    RESULTS NAME RUN_A RUN_B   # texts identical
    python benchmarks/vllm_compare.py differ  RESULTS NAME RUN           # n samples not all equal
    python benchmarks/vllm_compare.py skipped RESULTS NAME RUN COUNT     # prompts skipped, counted
    python benchmarks/vllm_compare.py partial RESULTS NAME RUN           # a killed run kept lines
    python benchmarks/vllm_compare.py report  RESULTS                    # PASS/FAIL; exit 1 on FAIL

RUN is an elicit directory (``all_results.jsonl``) or an eval directory (``SUITE/samples.jsonl``
for each suite). Each line of RESULTS is ``PASS|FAIL <tab> name <tab> numbers``.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path


def texts(run: Path) -> dict[str, str]:
    """``question#sample`` (eval: ``suite/item#sample``) -> the response text."""
    if (run / "all_results.jsonl").exists():
        rows = _read(run / "all_results.jsonl")
        return {f"{r['question_id']}#{r['sample_index']}": r["response"] for r in rows}
    out = {}
    for path in sorted(run.glob("*/samples.jsonl")):
        for r in _read(path):
            out[f"{path.parent.name}/{r['item_id']}#{r['sample_index']}"] = r["response"]
    return out


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def same(a: Path, b: Path) -> tuple[bool, str]:
    ta, tb = texts(a), texts(b)
    keys = sorted(set(ta) | set(tb))
    equal = sum(ta.get(k) == tb.get(k) and k in ta and k in tb for k in keys)
    first = next((k for k in keys if ta.get(k) != tb.get(k)), None)
    detail = f"{equal}/{len(keys)} identical"
    if first is not None:
        detail += f" (first difference: {first}: {ta.get(first)!r:.80} vs {tb.get(first)!r:.80})"
    return bool(keys) and equal == len(keys), detail


def differ(run: Path) -> tuple[bool, str]:
    """At temperature 1 the n samples of a question should not all be one text."""
    by_question: dict[str, set[str]] = defaultdict(set)
    counts: dict[str, int] = defaultdict(int)
    for key, text in texts(run).items():
        question = key.rsplit("#", 1)[0]
        by_question[question].add(text)
        counts[question] += 1
    varied = sum(len(v) > 1 for v in by_question.values())
    n_distinct = sum(len(v) for v in by_question.values())
    detail = (
        f"{varied}/{len(by_question)} questions with differing samples "
        f"({n_distinct} distinct texts in {sum(counts.values())} samples)"
    )
    return bool(by_question) and 2 * varied >= len(by_question), detail


def skipped(run: Path, expected: int) -> tuple[bool, str]:
    summary = json.loads((run / "summary.json").read_text())
    got = sum(summary["skipped_prompts"].values())
    detail = f"{got} skipped (expected {expected}), {summary['samples']} samples written"
    return got == expected and summary["missing"] == 0, detail + f": {summary['skipped_prompts']}"


def partial(run: Path, total: int) -> tuple[bool, str]:
    """A run killed mid-way: what finished batches wrote is on disk, and not everything."""
    path = run / "all_results.jsonl"
    kept = len(path.read_text().splitlines()) if path.exists() else 0
    return 0 < kept < total, f"{kept}/{total} samples on disk after kill -9"


def report(results: Path) -> int:
    rows = [line.split("\t") for line in results.read_text().splitlines() if line.strip()]
    failed = [r for r in rows if r[0] != "PASS"]
    width = max((len(r[1]) for r in rows), default=0)
    for verdict, name, detail in rows:
        print(f"  {verdict}  {name:<{width}}  {detail}")
    print(f"vLLM check: {len(rows) - len(failed)}/{len(rows)} checks passed", end="")
    print(f", {len(failed)} FAILED" if failed else "")
    return 1 if failed or not rows else 0


def main(argv: list[str]) -> int:
    what, results = argv[0], Path(argv[1])
    if what == "report":
        return report(results)
    name, run = argv[2], Path(argv[3])
    checks = {
        "same": lambda: same(run, Path(argv[4])),
        "differ": lambda: differ(run),
        "skipped": lambda: skipped(run, int(argv[4])),
        "partial": lambda: partial(run, int(argv[4])),
    }
    try:
        ok, detail = checks[what]()
    except (OSError, KeyError, ValueError) as e:  # a run that wrote nothing fails its check
        ok, detail = False, f"{type(e).__name__}: {e}"
    with results.open("a") as f:
        f.write(f"{'PASS' if ok else 'FAIL'}\t{name}\t{detail}\n")
    print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
