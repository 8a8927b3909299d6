"""How far the oracle's voice puts y+ from the policy: per-token log-probs and change ratios.

    python results/oracle_voice.py runs/voice surgical v10 v25 v50 v100

For each rectify entry (``rectify/NAME/corrected.jsonl``, before the filter) of a `spot run`
directory: under the base model (the reference), the mean log pi_ref per token of y+ and of
y-, the same of the tokens of y+ the oracle wrote (those off the LCS with y-), and the
change-ratio distribution (tokens; share over gamma 0.6). The first entry should be the
oracle without a voice: each entry's y+ is then also compared with that entry's y+ for the
same wrong answer (the same corrections in the policy's phrasing): those extra nats over the
tokens of the lines it wrote (``extra_nats_per_written_token``) is the figure matched
against a real oracle's (RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch


def pairs_of(run: Path, name: str) -> dict[str, tuple[str, str, str]]:
    """sample id -> (prompt, y-, y+) of an entry's accepted corrections."""
    out = {}
    for line in (run / "rectify" / name / "corrected.jsonl").read_text().splitlines():
        r = json.loads(line)
        out[r["id"]] = (r["prompt"], r["rejected"], r["chosen"])
    return out


@torch.no_grad()
def token_logps(model, tok, rows: list[tuple[str, str]]) -> list[torch.Tensor]:
    """Per-token log pi(response | prompt) of each (prompt, response), (T_i,) each."""
    from spot.models.chat import ChatOptions
    from spot.train.encode import encode
    from spot.train.forward import completion_logps

    out = []
    for i in range(0, len(rows), 64):
        enc = [encode(tok, p, r, chat=ChatOptions(), max_length=1024) for p, r in rows[i : i + 64]]
        lp = completion_logps(model, enc, tok.pad_token_id, "cpu").logps  # (B, T), 0 past end
        out += [lp[j, : len(e.completion)] for j, e in enumerate(enc)]
    return out


def written_mask(bad: list[int], good: list[int]) -> torch.Tensor:
    """Tokens of y+ off its LCS with y- (what the oracle wrote), (T+,) bool."""
    from rapidfuzz.distance import LCSseq

    mask = torch.ones(len(good), dtype=torch.bool)
    for op in LCSseq.opcodes(bad, good):
        if op.tag == "equal":
            mask[op.dest_start : op.dest_end] = False
    return mask


def changed_line_tokens(rejected: str, chosen: str) -> int:
    """Tokens (bytes, for the toy tokenizer) of the lines of y+ that differ from y-'s line at
    the same place, newline included: the lines the oracle wrote."""
    kept = rejected.split("\n")
    lines = chosen.split("\n")
    return sum(len(x.encode()) + 1 for i, x in enumerate(lines) if i >= len(kept) or x != kept[i])


def measure(run: Path, names: list[str], n: int) -> list[dict]:
    from spot.filter.lcs import change_ratio
    from spot.models.chat import ChatOptions
    from spot.models.loading import load_model
    from spot.train import forward
    from spot.train.encode import encode

    model, tok = load_model("toy", "float32")
    forward.install_head(model.eval())
    plain = pairs_of(run, names[0])
    rows = []
    for name in names:
        found = pairs_of(run, name)
        ids = sorted(found.keys() & plain.keys())[:n]
        good = token_logps(model, tok, [(found[i][0], found[i][2]) for i in ids])
        bad = token_logps(model, tok, [(found[i][0], found[i][1]) for i in ids])
        own = token_logps(model, tok, [(plain[i][0], plain[i][2]) for i in ids])
        written, gaps, ratios, line_tokens = [], [], [], 0
        for i, g, o in zip(ids, good, own, strict=True):
            prompt, rejected, chosen = found[i]
            y_bad, y_good = (
                encode(tok, prompt, s, chat=ChatOptions(), max_length=1024).completion
                for s in (rejected, chosen)
            )
            m = written_mask(y_bad, y_good)
            if m.any():
                written.append(g[m].mean().item())
            gaps.append((o.sum() - g.sum()).item())  # nats the voice costs, whole answer
            ratios.append(change_ratio(y_bad, y_good))
            line_tokens += changed_line_tokens(rejected, chosen)
        ratios.sort()
        rows.append(
            {
                "entry": name,
                "pairs": len(ids),
                "logp_chosen_per_token": statistics.fmean(x.mean().item() for x in good),
                "logp_rejected_per_token": statistics.fmean(x.mean().item() for x in bad),
                "logp_written_per_token": statistics.fmean(written) if written else None,
                "extra_nats_vs_no_voice": statistics.fmean(gaps),
                "extra_nats_per_written_token": sum(gaps) / max(line_tokens, 1),
                "change_ratio_median": ratios[len(ratios) // 2],
                "change_ratio_p90": ratios[int(0.9 * len(ratios))],
                "over_gamma_0.6": sum(r > 0.6 for r in ratios) / len(ratios),
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("names", nargs="+", help="rectify entries; the first without a voice")
    ap.add_argument("--pairs", type=int, default=1000)
    args = ap.parse_args()
    rows = measure(args.run, args.names, args.pairs)
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for r in rows:
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in r.values()]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
