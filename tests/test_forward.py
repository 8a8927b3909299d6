"""Issue 11: the prefix-shared pair forward, completion-only logits and the reference cache.

Parity: per-example log-probs and gradients of the shared (and packed) layouts equal those
of two separate forwards (fp32), and completion-only log-probs equal a full-vocabulary
log-softmax.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
from pathlib import Path

import pytest
import torch

from spot.models.loading import TOY_MODEL, load_model
from spot.records.jsonl import write_records
from spot.train import forward
from spot.train.encode import Encoded
from spot.train.forward import completion_logps, pair_logps, run, supports_4d
from spot.train.layout import build_layout, pack, plain_unit, shared_unit

sys.path.insert(0, str(Path(__file__).parent))
from toy_pairs import pairs as toy_pairs  # noqa: E402

TOL = 1e-5


@pytest.fixture(scope="module")
def model_and_pairs():
    model, tok = load_model("toy", "float32")
    forward.install_head(model, chunk=7)  # small chunks: the chunked path is what runs
    rng = random.Random(0)
    pairs = []
    for share in (0.0, 0.3, 0.6, 0.9, 1.0):
        prompt = tuple(rng.randrange(3, 250) for _ in range(rng.randint(5, 30)))
        n = rng.randint(20, 60)
        common = int(share * n)
        a = [rng.randrange(3, 250) for _ in range(n)]
        b = a[:common] + [rng.randrange(3, 250) for _ in range(rng.randint(5, 60))]
        pairs.append((Encoded(prompt, tuple(a)), Encoded(prompt, tuple(b))))
    return model, tok.pad_token_id, pairs


def _naive(model, e: Encoded) -> torch.Tensor:
    """Summed completion log-prob from full-vocabulary logits (what other trainers compute)."""
    ids = torch.tensor([e.prompt + e.completion])
    with forward.scoring(model, *[torch.zeros(0, dtype=torch.long)] * 3):
        pass  # the head is idle outside a scoring block: plain logits below
    logits = model(input_ids=ids).logits[0, :-1].float().log_softmax(-1)
    targets = ids[0, 1:]
    lp = logits.gather(-1, targets[:, None]).squeeze(-1)
    return lp[len(e.prompt) - 1 :].sum()


def per_token(model, pairs, pad, layout: str, pack_rows: bool = False) -> list[torch.Tensor]:
    """The log-prob of every completion token, per sum (y+ of each pair, then y-)."""
    n = len(pairs)
    if layout == "shared":
        units = [shared_unit(c, r, b, n) for b, (c, r) in enumerate(pairs)]
    else:
        units = [plain_unit(c, b) for b, (c, _) in enumerate(pairs)]
        units += [plain_unit(r, n + b) for b, (_, r) in enumerate(pairs)]
    batch = build_layout(
        pack(units, pack_rows=pack_rows), 2 * n, pad, four_d=True, dtype=torch.float32
    )
    with torch.no_grad():
        lp = run(model, batch)
    return [lp[batch.owner_entry[batch.owner == o]] for o in range(2 * n)]


def test_shared_layout_equals_separate_forwards_and_full_logits(model_and_pairs):
    """Every token's log-prob agrees within 1e-5; sums of n tokens within n * 1e-5 (fp32
    rounding: a sum of -600 has a float32 spacing of 6e-5 by itself)."""
    model, pad, pairs = model_and_pairs
    separate = per_token(model, pairs, pad, "separate")
    for other in (
        per_token(model, pairs, pad, "shared"),
        per_token(model, pairs, pad, "shared", pack_rows=True),
    ):
        for a, b in zip(other, separate, strict=True):
            # within 1e-5 of each log-prob's own size (fp32 rounding of a -20 nat token)
            assert a.shape == b.shape and ((a - b).abs() <= TOL * b.abs().clamp(min=1.0)).all()
    with torch.no_grad():
        shared = pair_logps(model, pairs, pad, "cpu", layout="shared")
        naive = torch.stack([torch.stack([_naive(model, c), _naive(model, r)]) for c, r in pairs])
    counts = torch.tensor([[len(c.completion), len(r.completion)] for c, r in pairs])
    assert ((shared.stacked() - naive).abs() <= TOL * counts).all()
    assert torch.equal(
        torch.stack([shared.chosen_tokens, shared.rejected_tokens], 1), counts.float()
    )
    with torch.no_grad():  # the point of it: fewer tokens through the model
        apart = pair_logps(model, pairs, pad, "cpu", layout="separate")
    assert shared.tokens < apart.tokens


def test_gradients_match_separate_forwards(model_and_pairs):
    model, pad, pairs = model_and_pairs
    grads = {}
    for layout in ("shared", "separate"):
        model.zero_grad()
        out = pair_logps(model, pairs, pad, "cpu", layout=layout)
        (out.chosen * torch.arange(1, 6) - 0.5 * out.rejected).sum().backward()
        grads[layout] = {n: p.grad.clone() for n, p in model.named_parameters()}
    # each parameter's gradient agrees to 1e-5 of its own scale (fp32 sums of hundreds of
    # terms differ in their last bits; measured: 3e-6 relative on the toy pairs)
    for name, a in grads["shared"].items():
        b = grads["separate"][name]
        assert (a - b).abs().max() <= TOL * b.abs().max().clamp(min=1.0), name


def test_completion_logps_match_full_logits(model_and_pairs):
    model, pad, pairs = model_and_pairs
    rows = [c for c, _ in pairs]
    with torch.no_grad():
        out = completion_logps(model, rows, pad, "cpu")
        packed = completion_logps(model, rows, pad, "cpu", pack_rows=True)
    naive = torch.stack([_naive(model, e) for e in rows])
    counts = torch.tensor([len(e.completion) for e in rows])
    assert ((out.logps.sum(1) - naive).abs() <= TOL * counts).all()
    assert torch.allclose(packed.logps, out.logps, atol=TOL) and torch.equal(packed.mask, out.mask)
    assert out.mask.sum(1).tolist() == [len(e.completion) for e in rows]


def test_the_shared_unit_reads_each_token_where_it_is_predicted():
    # prompt (1, 2), y+ = (5, 6, 7), y- = (5, 6, 9, 9): common prefix 2 -> shared (1, 2, 5, 6)
    c, r = Encoded((1, 2), (5, 6, 7)), Encoded((1, 2), (5, 6, 9, 9))
    u = shared_unit(c, r, 0, 1)
    assert u.ids == [1, 2, 5, 6, 7, 9, 9] and u.positions == [0, 1, 2, 3, 4, 4, 5]
    assert u.branch == [0, 0, 0, 0, 1, 2, 2]
    assert u.scored == [
        (1, 5, (0, 1)),  # position 1 (token 2) predicts the shared 5, for both
        (2, 6, (0, 1)),
        (3, 7, (0,)),  # the last shared position predicts y+'s own first token ...
        (3, 9, (1,)),  # ... and y-'s
        (5, 9, (1,)),  # y-'s second own token, predicted by its first (index 5)
    ]
    same = shared_unit(Encoded((1,), (4, 5)), Encoded((1,), (4, 5, 6)), 0, 1)
    assert same.branch.count(1) >= 1 and same.branch.count(2) >= 1  # each keeps one of its own


def test_eager_attention_and_the_fallback(model_and_pairs, tmp_path):
    _, pad, pairs = model_and_pairs
    eager, _ = load_model("toy", "float32", attn_implementation="eager")  # --attn-implementation
    assert eager.config._attn_implementation == "eager"
    forward.install_head(eager)
    sdpa, _ = load_model("toy", "float32")
    forward.install_head(sdpa)
    with torch.no_grad():
        a = pair_logps(eager, pairs, pad, "cpu", layout="shared").stacked()
        b = pair_logps(sdpa, pairs, pad, "cpu", layout="separate").stacked()
    counts = torch.tensor([[len(c.completion), len(r.completion)] for c, r in pairs])
    assert ((a - b).abs() <= TOL * counts).all() and supports_4d(eager)
    from accelerate import Accelerator

    from spot.fields import build
    from spot.train.config import TrainConfig
    from spot.train.setup import packed, pair_layout

    eager.config._attn_implementation = "flash_attention_2"  # takes no 4D mask
    assert not supports_4d(eager)
    assert pair_layout(TrainConfig(), eager, Accelerator(cpu=True)) == "separate"
    assert not packed(
        build(TrainConfig, dict(pack=True)), eager, Accelerator(cpu=True)
    )  # packing needs 4D


def test_bf16_shared_layout_stays_close(model_and_pairs):
    """Under bf16 autocast the shared and separate layouts differ by rounding only."""
    model, pad, pairs = model_and_pairs
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        a = pair_logps(model, pairs, pad, "cpu", layout="shared").stacked()
        b = pair_logps(model, pairs, pad, "cpu", layout="separate").stacked()
    n_tokens = torch.tensor([[len(c.completion), len(r.completion)] for c, r in pairs])
    per_token = ((a - b).abs() / n_tokens).max().item()
    assert per_token < 0.02, per_token  # docs/training.md states the measured figure


# --- the reference cache --------------------------------------------------------------------


def _train(tmp_path, data, out, objective, model="toy", cache=None, **kw):
    from spot.fields import build
    from spot.train.config import TrainConfig
    from spot.train.loop import train

    cfg = build(
        TrainConfig,
        dict(
            model=model,
            data=data,
            out=out,
            objective=objective,
            batch_size=4,
            micro_batch_size=4,
            max_length=256,
            lr=1e-3,
            max_steps=1,
            ref_cache=cache or tmp_path / "cache",
            **kw,
        ),
    )
    return train(cfg)


def test_reference_cache_is_shared_and_never_stale(tmp_path, capfd):
    data = tmp_path / "pairs.jsonl"
    write_records(data, toy_pairs(8))
    _train(tmp_path, data, tmp_path / "bco", "bco")
    assert "reference log-probs of 8 pairs in" in capfd.readouterr().out
    files = list((tmp_path / "cache").glob("*.pt"))
    assert len(files) == 1
    _train(tmp_path, data, tmp_path / "dpo", "dpo")  # another objective, same pairs
    assert "reused from" in capfd.readouterr().out
    _train(tmp_path, data, tmp_path / "sep", "bce", pair_layout="separate")  # other numerics
    assert "reference log-probs of 8 pairs in" in capfd.readouterr().out
    # other weights under the same name: a copy of the toy model with one weight changed
    other = tmp_path / "toy-copy"
    shutil.copytree(TOY_MODEL, other)
    from safetensors.torch import load_file, save_file

    state = load_file(other / "model.safetensors")
    name = next(iter(state))
    state[name] = state[name] + 1e-3
    save_file(state, other / "model.safetensors", metadata={"format": "pt"})
    _train(tmp_path, data, tmp_path / "other", "bco", model=str(other))
    assert "reference log-probs of 8 pairs in" in capfd.readouterr().out
    write_records(data, toy_pairs(8, seed=1))  # other pairs in the same file
    _train(tmp_path, data, tmp_path / "new-data", "bco")
    assert "reference log-probs of 8 pairs in" in capfd.readouterr().out
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 4
    first = json.loads((tmp_path / "bco" / "metrics.jsonl").read_text().splitlines()[0])
    assert 0 <= first["padding"] < 1


def test_mask_of_a_shared_pair_is_the_hand_derived_one_for_sdpa_and_flex():
    """prompt [1, 2], y+ [3, 4, 5], y- [3, 6]: the common token 3 joins the shared part;
    4, 5 (branch 1) and 6 (branch 2) see the shared part and their own branch only. A
    padding column sees itself only. The flex BlockMask's pattern is the same."""
    from torch.nn.attention.flex_attention import create_mask

    unit = shared_unit(Encoded((1, 2), (3, 4, 5)), Encoded((1, 2), (3, 6)), 0, 1)
    short = plain_unit(Encoded((1,), (2,)), 0)
    batch = build_layout([[unit], [short]], 2, 0, four_d=True, dtype=torch.float32)
    hand = torch.tensor(
        [  # row 0: 1 2 3 4 5 6
            [1, 0, 0, 0, 0, 0],
            [1, 1, 0, 0, 0, 0],
            [1, 1, 1, 0, 0, 0],
            [1, 1, 1, 1, 0, 0],
            [1, 1, 1, 1, 1, 0],
            [1, 1, 1, 0, 0, 1],  # 6 (y-'s own) skips 4 and 5 (y+'s own)
        ],
        dtype=torch.bool,
    )
    padded = torch.eye(6, dtype=torch.bool)  # row 1: tokens 1 2, then 4 padding columns
    padded[1, 0] = True
    dense = batch.attention_mask("sdpa")
    assert dense.shape == (2, 1, 6, 6)
    assert torch.equal(dense[:, 0] == 0, torch.stack([hand, padded]))
    flex = batch.attention_mask("flex_attention")
    assert torch.equal(
        create_mask(flex.mask_mod, 2, 1, 6, 6, device="cpu")[:, 0], torch.stack([hand, padded])
    )
    assert torch.equal(batch.attention_mask("flash_attention_2"), dense)  # falls back dense
    plain = build_layout([[short]], 1, 0, four_d=False, dtype=torch.float32)
    assert torch.equal(plain.attention_mask("sdpa"), torch.tensor([[1, 1]]))


def test_flex_attention_with_a_block_mask_matches_sdpa(model_and_pairs):
    """The prefix-shared forward through transformers' flex_attention with spot's BlockMask
    (torch compiles it on CPU: about 30 s) gives the SDPA log-probs. Forward only: torch has
    no FlexAttention backward on CPU, so training with it is for GPUs."""
    model, pad, pairs = model_and_pairs
    flex, _ = load_model(
        str(TOY_MODEL), "float32", device="cpu", attn_implementation="flex_attention"
    )
    forward.install_head(flex)
    with torch.no_grad():
        a = pair_logps(flex, pairs[:4], pad, "cpu", layout="shared").stacked()
        b = pair_logps(model, pairs[:4], pad, "cpu", layout="shared").stacked()
    counts = torch.tensor([[len(c.completion), len(r.completion)] for c, r in pairs[:4]])
    assert ((a - b).abs() <= TOL * counts).all()
