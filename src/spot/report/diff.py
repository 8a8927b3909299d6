"""The oracle's edit made visible: which words of y- it deleted and which of y+ it wrote.

    rejected, chosen = edit_spans("12 + 7 = 18, so", "12 + 7 = 19, so")
    # rejected == [("12 + 7 = ", False), ("18", True), (", so", False)]

Both texts are cut into words, runs of spaces, and single punctuation marks, and aligned
by an exact longest common subsequence of those pieces (rapidfuzz, as the filter's change
ratio): pieces of y- outside the LCS are what the oracle deleted, pieces of y+ outside it
what it inserted. Word pieces keep a changed number whole ("18" -> "19", not "8" -> "9"),
which is how a reader sees an edit.
"""

from __future__ import annotations

import re

from rapidfuzz.distance import LCSseq

PIECE = re.compile(r"\w+|\s+|[^\w\s]", re.UNICODE)

Spans = list[tuple[str, bool]]
"""A text as consecutive (text, edited) spans; joined, the texts give the text back."""


def pieces(text: str) -> list[str]:
    return PIECE.findall(text)


def edit_spans(rejected: str, chosen: str) -> tuple[Spans, Spans]:
    """(spans of y- with deletions marked, spans of y+ with insertions marked)."""
    a, b = pieces(rejected), pieces(chosen)
    kept_a, kept_b = [False] * len(a), [False] * len(b)
    for op in LCSseq.opcodes(a, b):
        if op.tag == "equal":
            kept_a[op.src_start : op.src_end] = [True] * (op.src_end - op.src_start)
            kept_b[op.dest_start : op.dest_end] = [True] * (op.dest_end - op.dest_start)
    return _merge(a, kept_a), _merge(b, kept_b)


def _merge(parts: list[str], kept: list[bool]) -> Spans:
    """Neighbouring pieces of the same kind as one span. A space between two edited pieces
    joins their span, so "12 + 5" -> "3 * 4" reads as one edit rather than five."""
    edited = [not k for k in kept]
    for i in range(1, len(parts) - 1):
        if parts[i].isspace() and edited[i - 1] and edited[i + 1]:
            edited[i] = True
    spans: Spans = []
    for text, mark in zip(parts, edited, strict=True):
        if spans and spans[-1][1] == mark:
            spans[-1] = (spans[-1][0] + text, mark)
        else:
            spans.append((text, mark))
    return spans
