"""Stage 3: the change ratio and `spot filter`."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from spot.filter.config import FilterConfig
from spot.filter.lcs import change_ratio
from spot.filter.stage import filter_pairs, run_filter
from spot.records.jsonl import read_records, write_records
from spot.records.schema import Pair
from spot.toy.model import build_tokenizer


def lcs_dp(a, b) -> int:
    """The textbook O(n*m) dynamic programme."""
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


@given(
    st.lists(st.integers(0, 6), max_size=80), st.lists(st.integers(0, 6), min_size=1, max_size=80)
)
@settings(max_examples=300, deadline=None)
def test_change_ratio_equals_dynamic_programme_on_ints(a, b):
    assert abs(change_ratio(a, b) - (1 - lcs_dp(a, b) / len(b))) < 1e-12


@given(st.text("abc \n", max_size=70), st.text("abc \n", min_size=1, max_size=70))
@settings(max_examples=200, deadline=None)
def test_change_ratio_equals_dynamic_programme_on_strings(a, b):
    assert abs(change_ratio(a, b) - (1 - lcs_dp(a, b) / len(b))) < 1e-12
    assert (
        abs(
            change_ratio(a.split(), b.split() or ["x"])
            - (1 - lcs_dp(a.split(), b.split() or ["x"]) / len(b.split() or ["x"]))
        )
        < 1e-12
    )


def test_hand_computed_ratios():
    assert change_ratio("abcd", "abxd") == 0.25  # LCS "abd": 1 - 3/4
    assert change_ratio([1, 2, 3], [1, 2, 3, 4, 5]) == 0.4
    assert change_ratio("", "ab") == 1.0 and change_ratio("", "") == 0.0
    assert change_ratio("anything", "") == 1.0


def pair(i, chosen, rejected, prompt="p"):
    return Pair(f"id{i}", prompt, chosen, rejected)


def test_filter_drops_by_reason_and_dedups():
    pairs = [
        pair(0, "abcd", "abxd"),
        pair(1, "abcd", "abxd"),  # second is a duplicate
        pair(2, "same", "same"),
        pair(3, "wxyz", "abcd"),
        pair(4, "abcdefghij", "abcdefghiX"),
    ]
    kept, dropped = filter_pairs(pairs, gamma=0.6, unit="chars")
    assert [p.id for p in kept] == ["id0", "id4"]
    assert [p.change_ratio for p in kept] == [0.25, 0.1]
    assert {k: [p.id for p in v] for k, v in dropped.items()} == {
        "duplicate id": [],
        "duplicate": ["id1"],
        "unchanged": ["id2"],
        "over gamma": ["id3"],
        "over max_pairs": [],
    }


def test_token_unit_counts_token_ids():
    tok = build_tokenizer()  # byte-level: tokens are bytes
    kept, _ = filter_pairs([pair(0, "12 + 5", "12 + 4")], gamma=0.6, unit="tokens", tokenizer=tok)
    assert kept[0].change_ratio == 1 / 6
    kept, _ = filter_pairs([pair(0, "one two three", "one two four")], gamma=1.0, unit="words")
    assert abs(kept[0].change_ratio - 1 / 3) < 1e-12


def test_spot_filter_files(tmp_path):
    pairs = [
        pair(i, f"step one\nstep {i}\nanswer {i}", f"step one\nstep {i + 1}\nanswer {i + 1}")
        for i in range(20)
    ] + [pair(99, "XYZ XYZ XYZ", "nothing alike at all")]
    write_records(tmp_path / "corrected.jsonl", pairs)
    (tmp_path / "corrected.jsonl").open("a").write("{broken\n")
    cfg = FilterConfig(
        pairs=tmp_path / "corrected.jsonl", out=tmp_path / "pairs.jsonl", gamma=0.6, unit="chars"
    )
    stats = run_filter(cfg)
    kept = read_records(tmp_path / "pairs.jsonl", Pair)
    assert len(kept) == 20 and all(p.change_ratio <= 0.6 for p in kept)
    assert stats["kept"] == 20 and stats["dropped"]["over gamma"] == 1
    assert stats["skipped_lines"]["count"] == 1  # the broken line is reported, not lost silently
    assert json.loads((tmp_path / "pairs.filter_stats.json").read_text()) == stats
    dropped = [json.loads(x) for x in (tmp_path / "pairs.dropped.jsonl").read_text().splitlines()]
    assert [(d["dropped"], d["chosen"]) for d in dropped] == [("over gamma", "XYZ XYZ XYZ")]
    assert dropped[0]["change_ratio"] > 0.6  # what `spot report` draws as dropped
    png = (tmp_path / "pairs.change_ratio.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_max_pairs_keeps_a_seeded_subset_in_file_order(tmp_path):
    pairs = [pair(i, f"answer {i}", f"answer {i + 1}") for i in range(10)]
    pairs.append(pair(99, "XYZ XYZ XYZ", "nothing alike at all"))
    write_records(tmp_path / "corrected.jsonl", pairs)

    def run(seed):
        out = tmp_path / f"pairs{seed}.jsonl"
        cfg = FilterConfig(pairs=tmp_path / "corrected.jsonl", out=out, unit="chars")
        cfg.max_pairs, cfg.seed = 4, seed
        stats = run_filter(cfg)
        return stats, [p.id for p in read_records(out, Pair)]

    stats, ids = run(0)
    assert stats["kept"] == 4 and stats["max_pairs"] == 4
    assert stats["dropped"]["over gamma"] == 1 and stats["dropped"]["over max_pairs"] == 6
    assert ids == sorted(ids, key=lambda s: int(s[2:])) and "id99" not in ids
    assert run(0)[1] == ids and run(1)[1] != ids  # the seed, and only the seed, picks
    # quantiles cover every pair that was measured, subsampled or not
    assert stats["change_ratio"]["max"] > 0.6 and stats["change_ratio"]["min"] < 0.2
