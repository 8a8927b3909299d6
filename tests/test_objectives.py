"""Numbers for spot.objectives: hand-computed closed forms, gradient coefficients, TRL parity."""

from __future__ import annotations

import math
from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch

from spot.train.objectives import (
    OBJECTIVES,
    PAIR_METRICS,
    bce,
    bco,
    dft,
    dpo,
    reward_sft,
    sft,
)

LN2 = math.log(2.0)
BETA = 0.1
METRIC_KEYS = set(PAIR_METRICS)


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def log_sig(x: float) -> float:
    """log sigmoid(x) = -log(1 + exp(-x)), written out by hand."""
    return -math.log1p(math.exp(-x))


def t(*values: float, grad: bool = False) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64, requires_grad=grad)


def pair_inputs(pc, pr, rc, rr, grad: bool = False) -> dict[str, torch.Tensor]:
    return {
        "policy_chosen_logps": t(*pc, grad=grad),
        "policy_rejected_logps": t(*pr, grad=grad),
        "ref_chosen_logps": t(*rc),
        "ref_rejected_logps": t(*rr),
    }


# Two pairs. Pair 0: r+ = 0.1 * (-10 - -12) = 0.2, r- = 0.1 * (-20 - -18) = -0.2.
# Pair 1: r+ = 0.1 * (-30 - -29) = -0.1, r- = 0.1 * (-15 - -18) = 0.3 (misranked).
EXAMPLE = pair_inputs((-10.0, -30.0), (-20.0, -15.0), (-12.0, -29.0), (-18.0, -18.0))
R_POS = (0.2, -0.1)
R_NEG = (-0.2, 0.3)


PAIR_OBJECTIVES = {name: o for name, o in OBJECTIVES.items() if o.pairs}
TOKEN_OBJECTIVES = {name: o for name, o in OBJECTIVES.items() if not o.pairs}

# ----------------------------------------------------------------------------- closed forms


def test_hand_values_all_pair_objectives():
    delta = 0.05
    for i, (rp, rn) in enumerate(zip(R_POS, R_NEG, strict=True)):
        expected = {
            "dpo": math.log(1.0 + math.exp(-(rp - rn))),
            "reward_sft": math.log(1.0 + math.exp(-rp)),
            "bce": math.log(1.0 + math.exp(-rp)) + math.log(1.0 + math.exp(rn)),
        }
        for name, value in expected.items():
            losses, _ = PAIR_OBJECTIVES[name](**EXAMPLE, beta=BETA)
            assert losses[i].item() == pytest.approx(value, rel=1e-12), name
        losses, _ = bco(**EXAMPLE, beta=BETA, delta=torch.tensor(delta, dtype=torch.float64))
        bco_value = math.log(1.0 + math.exp(-(rp - delta))) + math.log(1.0 + math.exp(rn - delta))
        assert losses[i].item() == pytest.approx(bco_value, rel=1e-12)


def test_pair0_literal_numbers():
    # r+ = 0.2, r- = -0.2: dpo = log(1 + e^-0.4) = 0.5130152523999526
    losses, _ = dpo(**EXAMPLE, beta=BETA)
    assert losses[0].item() == pytest.approx(0.5130152523999526, rel=1e-12)
    # reward_sft = log(1 + e^-0.2) = 0.5981388693815918; bce doubles it by symmetry here.
    losses, _ = reward_sft(**EXAMPLE, beta=BETA)
    assert losses[0].item() == pytest.approx(0.5981388693815918, rel=1e-12)
    losses, _ = bce(**EXAMPLE, beta=BETA)
    assert losses[0].item() == pytest.approx(2 * 0.5981388693815918, rel=1e-12)


@pytest.mark.parametrize(
    ("name", "value"),
    [("dpo", LN2), ("reward_sft", LN2), ("bce", 2 * LN2), ("bco", 2 * LN2)],
)
def test_initial_loss_at_reference(name, value):
    logps = pair_inputs((-7.0, -123.4, 0.0), (-3.5, -99.0, -1e-3), (0, 0, 0), (0, 0, 0))
    logps["ref_chosen_logps"] = logps["policy_chosen_logps"].clone()
    logps["ref_rejected_logps"] = logps["policy_rejected_logps"].clone()
    losses, _ = PAIR_OBJECTIVES[name](**logps, beta=BETA, delta=torch.tensor(0.0))
    assert losses.shape == (3,)
    torch.testing.assert_close(losses, torch.full((3,), value, dtype=torch.float64))


def test_bco_with_zero_delta_equals_bce():
    torch.manual_seed(0)
    kwargs = {
        k: torch.randn(16, dtype=torch.float64) * 20 - 50
        for k in ("policy_chosen_logps", "policy_rejected_logps")
    }
    kwargs |= {
        k: torch.randn(16, dtype=torch.float64) * 20 - 50
        for k in ("ref_chosen_logps", "ref_rejected_logps")
    }
    a, ma = bce(**kwargs, beta=0.3)
    b, mb = bco(**kwargs, beta=0.3, delta=torch.tensor(0.0))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    for key in METRIC_KEYS:
        torch.testing.assert_close(ma[key], mb[key], rtol=0, atol=0)


def test_bco_requires_scalar_delta():
    with pytest.raises(ValueError, match="delta"):
        bco(**EXAMPLE, beta=BETA)
    with pytest.raises(ValueError, match="scalar"):
        bco(**EXAMPLE, beta=BETA, delta=torch.zeros(2))


def test_only_the_objective_that_takes_the_shift_gets_delta():
    assert [name for name, o in OBJECTIVES.items() if o.shift] == ["bco"]
    for name in ("dpo", "reward_sft", "bce"):
        a, _ = PAIR_OBJECTIVES[name](**EXAMPLE, beta=BETA)
        b, _ = PAIR_OBJECTIVES[name](**EXAMPLE, beta=BETA, delta=torch.tensor(3.0))
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        with pytest.raises(TypeError, match="delta"):  # the pure function has no such input
            OBJECTIVES[name].loss(**EXAMPLE, beta=BETA, delta=torch.tensor(3.0))


def test_shape_mismatch_is_rejected():
    bad = dict(EXAMPLE, ref_rejected_logps=t(1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="shape"):
        dpo(**bad, beta=BETA)


# ----------------------------------------------------------------------------- gradients


def grads(objective, r_pos: float, r_neg: float, beta: float, delta: float | None = None):
    """d loss / d (policy chosen, policy rejected) at rewards (r_pos, r_neg), ref logps 0."""
    inputs = pair_inputs((r_pos / beta,), (r_neg / beta,), (0.0,), (0.0,), grad=True)
    kwargs = {} if delta is None else {"delta": torch.tensor(delta, dtype=torch.float64)}
    losses, _ = objective(**inputs, beta=beta, **kwargs)
    losses.sum().backward()
    # a tensor outside the loss's graph (y- under reward_sft) keeps grad None: zero gradient
    return tuple(
        0.0 if inputs[k].grad is None else inputs[k].grad.item()
        for k in ("policy_chosen_logps", "policy_rejected_logps")
    )


@pytest.mark.parametrize("r_pos", [-3.0, 0.0, 0.7, 4.0, 10.0, 25.0])
@pytest.mark.parametrize("beta", [0.1, 1.0])
def test_reward_sft_gradient_is_the_elastic_tether(r_pos, beta):
    g_pos, g_neg = grads(reward_sft, r_pos, -1.0, beta)
    # eq. 7 by hand: 1 - sigmoid(r) = e^-r / (1 + e^-r), written without the cancellation
    # that 1 - 1/(1 + e^-r) suffers in float64 at r = 25
    tether = math.exp(-r_pos) / (1.0 + math.exp(-r_pos))
    assert g_pos == pytest.approx(-beta * tether, rel=1e-9, abs=1e-300)
    assert g_neg == 0.0


def test_tether_at_reward_10_matches_paper():
    g_pos, _ = grads(reward_sft, 10.0, 0.0, BETA)
    # the paper: lambda = 1 - sigmoid(10) ~= 4.5e-5
    assert -g_pos / BETA == pytest.approx(4.5398e-5, rel=1e-4)
    _, metrics = reward_sft(**pair_inputs((100.0,), (0.0,), (0.0,), (0.0,)), beta=BETA)
    assert metrics["tether/chosen"].item() == pytest.approx(4.5397868702434395e-05, rel=1e-9)


@pytest.mark.parametrize(("r_pos", "r_neg"), [(0.0, 0.0), (0.2, -0.2), (10.0, -5.0), (-2.0, 3.0)])
def test_bce_gradients_are_decoupled(r_pos, r_neg):
    g_pos, g_neg = grads(bce, r_pos, r_neg, BETA)
    assert g_pos == pytest.approx(-BETA * (1.0 - sig(r_pos)), rel=1e-9)
    assert g_neg == pytest.approx(BETA * sig(r_neg), rel=1e-9)


@pytest.mark.parametrize(
    ("r_pos", "r_neg", "delta"),
    [(0.0, 0.0, 0.0), (10.0, 6.0, 8.0), (0.2, -0.2, -0.5), (3.0, 1.0, 2.0)],
)
def test_bco_shift_moves_the_tethers(r_pos, r_neg, delta):
    g_pos, g_neg = grads(bco, r_pos, r_neg, BETA, delta)
    assert g_pos == pytest.approx(-BETA * (1.0 - sig(r_pos - delta)), rel=1e-9)
    assert g_neg == pytest.approx(BETA * sig(r_neg - delta), rel=1e-9)
    # and the reported tethers are exactly these coefficients divided by beta
    _, m = bco(
        **pair_inputs((r_pos / BETA,), (r_neg / BETA,), (0.0,), (0.0,)),
        beta=BETA,
        delta=torch.tensor(delta),
    )
    assert m["tether/chosen"].item() == pytest.approx(-g_pos / BETA, rel=1e-9)
    assert m["tether/rejected"].item() == pytest.approx(g_neg / BETA, rel=1e-9)


def test_bco_shift_revives_a_saturated_chosen_gradient():
    # r+ = 10 is saturated under bce; with delta = 8 its coefficient is 1 - sigmoid(2) ~= 0.12
    saturated, _ = grads(bce, 10.0, 6.0, BETA)
    shifted, _ = grads(bco, 10.0, 6.0, BETA, 8.0)
    assert abs(shifted) / abs(saturated) > 2000


def test_delta_carries_no_gradient():
    delta = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    inputs = pair_inputs((-1.0,), (-2.0,), (-1.5,), (-2.5,), grad=True)
    losses, _ = bco(**inputs, beta=BETA, delta=delta)
    losses.sum().backward()
    assert delta.grad is None


@pytest.mark.parametrize(("r_pos", "r_neg"), [(0.0, 0.0), (0.2, -0.2), (-1.0, 2.0), (7.0, -7.0)])
def test_dpo_gradients_equal_and_opposite(r_pos, r_neg):
    g_pos, g_neg = grads(dpo, r_pos, r_neg, BETA)
    assert g_pos == pytest.approx(-g_neg, rel=1e-12)
    assert g_pos == pytest.approx(-BETA * sig(-(r_pos - r_neg)), rel=1e-9)


def test_reference_gets_no_gradient():
    inputs = pair_inputs((-1.0,), (-2.0,), (-1.5,), (-2.5,), grad=True)
    for k in ("ref_chosen_logps", "ref_rejected_logps"):
        inputs[k].requires_grad_(True)
    for name, objective in PAIR_OBJECTIVES.items():
        losses, _ = objective(**inputs, beta=BETA, delta=torch.tensor(0.1))
        losses.sum().backward()
        assert inputs["ref_chosen_logps"].grad is None, name
        assert inputs["ref_rejected_logps"].grad is None, name


# ----------------------------------------------------------------------------- metrics


@pytest.mark.parametrize("name", sorted(PAIR_OBJECTIVES))
def test_pair_metrics_detached_shaped_and_correct(name):
    inputs = pair_inputs((-10.0, -30.0), (-20.0, -15.0), (-12.0, -29.0), (-18.0, -18.0), grad=True)
    delta = torch.tensor(0.05, dtype=torch.float64)
    _, m = PAIR_OBJECTIVES[name](**inputs, beta=BETA, delta=delta)
    assert set(m) == METRIC_KEYS
    for key, value in m.items():
        assert value.shape == (2,), key
        assert not value.requires_grad and value.grad_fn is None, key
    shift = 0.05 if name == "bco" else 0.0
    for i, (rp, rn) in enumerate(zip(R_POS, R_NEG, strict=True)):
        assert m["rewards/chosen"][i].item() == pytest.approx(rp, rel=1e-12)
        assert m["rewards/rejected"][i].item() == pytest.approx(rn, rel=1e-12)
        assert m["rewards/margins"][i].item() == pytest.approx(rp - rn, rel=1e-12)
        assert m["tether/chosen"][i].item() == pytest.approx(1 - sig(rp - shift), rel=1e-12)
        assert m["tether/rejected"][i].item() == pytest.approx(sig(rn - shift), rel=1e-12)
    assert m["rewards/accuracies"].tolist() == [1.0, 0.0]
    assert m["logps/chosen"].tolist() == [-10.0, -30.0]
    assert m["logps/rejected"].tolist() == [-20.0, -15.0]


def test_accuracy_is_strict_on_ties():
    _, m = dpo(**pair_inputs((-1.0,), (-1.0,), (-1.0,), (-1.0,)), beta=BETA)
    assert m["rewards/accuracies"].tolist() == [0.0]


def test_the_registry_says_what_each_objective_needs():
    assert set(PAIR_OBJECTIVES) == {"dpo", "reward_sft", "bce", "bco"}
    assert set(TOKEN_OBJECTIVES) == {"sft", "dft"}
    assert all(o.summary for o in OBJECTIVES.values())
    assert OBJECTIVES["bco"].metrics == PAIR_METRICS


def test_the_cli_and_the_pipeline_take_their_choices_from_the_registry(tmp_path):
    import typing

    from spot.checks import OptionError
    from spot.pipeline.config import load_pipeline
    from spot.train.config import ObjectiveName

    assert typing.get_args(ObjectiveName) == tuple(OBJECTIVES)
    pipe = tmp_path / "p.yaml"
    pipe.write_text(
        "out: o\nmodel: toy\nquestions: {source: 'toy:arith', n: 10}\n"
        "rectify: {s: {oracle: rule}}\n"
        "train:\n  runs:\n    - {name: x, objective: bce, data: correct}\n"
    )
    with pytest.raises(OptionError, match="bce trains on pairs"):
        load_pipeline(pipe)
    pipe.write_text(pipe.read_text().replace("objective: bce", "objective: nonsense"))
    with pytest.raises(OptionError, match="nonsense"):
        load_pipeline(pipe)


def test_float32_extremes_stay_finite():
    inputs = {
        k: torch.tensor([-5000.0, 0.0, -1e-6], requires_grad=k.startswith("policy"))
        for k in EXAMPLE
    }
    inputs["ref_chosen_logps"] = torch.tensor([0.0, -5000.0, -1e-6])
    for name, objective in PAIR_OBJECTIVES.items():
        losses, m = objective(**inputs, beta=1.0, delta=torch.tensor(0.0))
        losses.sum().backward()
        assert torch.isfinite(losses).all(), name
        assert all(torch.isfinite(v).all() for v in m.values()), name
        assert torch.isfinite(inputs["policy_chosen_logps"].grad).all(), name


# ----------------------------------------------------------------------------- token objectives

# (2, 4) example; the padding (mask 0) holds values that must not leak, including -inf.
TOKEN_LOGPS = [[-0.5, -1.0, -2.0, -float("inf")], [-0.1, -0.2, 123.0, -7.0]]
MASK = [[1, 1, 1, 0], [1, 1, 0, 0]]


def test_sft_hand_values():
    logps = torch.tensor(TOKEN_LOGPS, dtype=torch.float64)
    mask = torch.tensor(MASK)
    losses, m = sft(token_logps=logps, mask=mask)
    torch.testing.assert_close(losses, t(3.5, 0.3))
    losses, m2 = sft(token_logps=logps, mask=mask, reduction="token_mean")
    torch.testing.assert_close(losses, t(3.5 / 3, 0.3 / 2))
    for metrics in (m, m2):
        torch.testing.assert_close(metrics["logps/chosen"], t(-3.5, -0.3))
        torch.testing.assert_close(metrics["nll/token_mean"], t(3.5 / 3, 0.15))
    with pytest.raises(ValueError, match="reduction"):
        sft(token_logps=logps, mask=mask, reduction="mean")


def test_dft_hand_values_and_gradient():
    logps = torch.tensor(TOKEN_LOGPS, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor(MASK, dtype=torch.bool)
    row0 = 0.5 * math.exp(-0.5) + 1.0 * math.exp(-1.0) + 2.0 * math.exp(-2.0)
    row1 = 0.1 * math.exp(-0.1) + 0.2 * math.exp(-0.2)
    losses, m = dft(token_logps=logps, mask=mask)
    torch.testing.assert_close(losses, t(row0, row1))
    mean_losses, _ = dft(token_logps=logps, mask=mask, reduction="token_mean")
    torch.testing.assert_close(mean_losses, t(row0 / 3, row1 / 2))
    torch.testing.assert_close(m["logps/chosen"], t(-3.5, -0.3))
    torch.testing.assert_close(m["nll/token_mean"], t(3.5 / 3, 0.15))
    assert all(not v.requires_grad for v in m.values())
    # d/d log p of -sg(p) log p is -p on completion tokens, 0 on padding
    losses.sum().backward()
    expected = [
        [-math.exp(-0.5), -math.exp(-1.0), -math.exp(-2.0), 0.0],
        [-math.exp(-0.1), -math.exp(-0.2), 0.0, 0.0],
    ]
    torch.testing.assert_close(logps.grad, torch.tensor(expected, dtype=torch.float64))


def test_sft_gradient_is_uniform():
    logps = torch.tensor(TOKEN_LOGPS, dtype=torch.float64, requires_grad=True)
    losses, _ = sft(token_logps=logps, mask=torch.tensor(MASK))
    losses.sum().backward()
    torch.testing.assert_close(logps.grad, -torch.tensor(MASK, dtype=torch.float64))


def test_token_shape_mismatch_is_rejected():
    with pytest.raises(ValueError, match="shape"):
        sft(token_logps=torch.zeros(2, 4), mask=torch.ones(2, 3))


# ----------------------------------------------------------------------------- TRL parity
#
# TRL 1.16 has no standalone loss function: DPOTrainer._compute_loss and
# SFTTrainer.compute_loss run the model and compute the loss in one method. The model
# is called with `fused_lm_head=True` and must return a FusedCausalLMOutput holding
# per-token log-probs (zero where the label is -100). We call these methods unbound,
# with a stub `self` holding only the attributes they read (copied from a real
# DPOConfig / SFTConfig where they come from the config) and a stub model returning
# given log-probs, so TRL's own loss code runs on exactly our tensors.


# DPOConfig and SFTConfig default gradient_checkpointing, which transformers 5 renames
quiet_config = pytest.mark.filterwarnings("ignore:`gradient_checkpointing` is deprecated")


@pytest.fixture(scope="module")
def trl_mod():
    trl = pytest.importorskip("trl")
    from trl.trainer.utils import FusedCausalLMOutput

    return SimpleNamespace(trl=trl, Output=FusedCausalLMOutput)


class _FixedLogProbsModel:
    """Stands in for a model patched with TRL's fused LM head."""

    training = False

    def __init__(self, output_cls, log_probs: torch.Tensor, label_mask: torch.Tensor):
        self.output_cls, self.log_probs, self.label_mask = output_cls, log_probs, label_mask

    def __call__(self, **kwargs):
        assert kwargs.get("fused_lm_head") is True
        zeros = torch.zeros_like(self.log_probs.detach())
        return self.output_cls(
            loss=None,
            log_probs=self.log_probs,
            entropy=zeros,
            mean_logits=zeros,
            is_top1=zeros.bool(),
            label_mask=self.label_mask,
        )


def _stub_trainer(args, **attrs):
    identity = lambda x: x  # noqa: E731 - single process: gather is the identity
    accelerator = SimpleNamespace(
        device=torch.device("cpu"),
        gather=identity,
        gather_for_metrics=identity,
        parallelism_config=None,
        num_processes=1,
    )
    return SimpleNamespace(
        args=args,
        accelerator=accelerator,
        model=SimpleNamespace(training=False),
        aux_loss_enabled=False,
        _metrics={"train": defaultdict(list), "eval": defaultdict(list)},
        _total_train_tokens=0,
        _tp_size=1,
        **attrs,
    )


def _random_completion(batch: int, length: int, seed: int):
    """Log-probs (batch, length - 1), zero off-mask; completion mask (batch, length); its shift."""
    gen = torch.Generator().manual_seed(seed)
    completion_mask = torch.zeros(batch, length, dtype=torch.long)
    for row in range(batch):
        start = int(torch.randint(1, 4, (1,), generator=gen))
        end = int(torch.randint(start + 2, length + 1, (1,), generator=gen))
        completion_mask[row, start:end] = 1
    shift_mask = completion_mask[:, 1:].bool()
    raw = -torch.rand(batch, length - 1, generator=gen, dtype=torch.float64) * 6
    log_probs = torch.where(shift_mask, raw, torch.zeros_like(raw)).requires_grad_(True)
    return log_probs, completion_mask, shift_mask


@pytest.mark.parametrize(("trl_loss", "ours"), [("sigmoid", "dpo"), ("bco_pair", "bce")])
@pytest.mark.parametrize("beta", [0.1, 0.5])
@quiet_config
def test_parity_with_trl_dpo_trainer(trl_mod, tmp_path, trl_loss, ours, beta):
    from trl import DPOConfig, DPOTrainer

    batch = 5
    args = DPOConfig(
        output_dir=str(tmp_path),
        beta=beta,
        loss_type=[trl_loss],
        precompute_ref_log_probs=True,
        use_cpu=True,
        bf16=False,
        report_to="none",
    )
    stub = _stub_trainer(
        args,
        beta=args.beta,
        precompute_ref_logps=args.precompute_ref_log_probs,
        loss_types=args.loss_type,
        loss_weights=args.loss_weights or [1.0] * len(args.loss_type),
        ld_alpha=args.ld_alpha,
        f_divergence_type=args.f_divergence_type,
        label_smoothing=args.label_smoothing,
        use_weighting=args.use_weighting,
    )
    # TRL's batch is [chosen rows; rejected rows]
    log_probs, completion_mask, shift_mask = _random_completion(2 * batch, 12, seed=7)
    gen = torch.Generator().manual_seed(11)
    ref = -torch.rand(2 * batch, generator=gen, dtype=torch.float64) * 30
    inputs = {
        "input_ids": torch.zeros_like(completion_mask),
        "attention_mask": torch.ones_like(completion_mask),
        "completion_mask": completion_mask,
        "ref_chosen_logps": ref[:batch],
        "ref_rejected_logps": ref[batch:],
    }
    model = _FixedLogProbsModel(trl_mod.Output, log_probs, shift_mask)
    trl_loss_value = DPOTrainer._compute_loss(stub, model, inputs, False)
    (trl_grad,) = torch.autograd.grad(trl_loss_value, log_probs)

    seq = (log_probs * shift_mask).sum(dim=1)
    losses, metrics = PAIR_OBJECTIVES[ours](
        policy_chosen_logps=seq[:batch],
        policy_rejected_logps=seq[batch:],
        ref_chosen_logps=ref[:batch],
        ref_rejected_logps=ref[batch:],
        beta=beta,
    )
    our_loss = losses.mean()  # TRL reduces per-sequence losses with a batch mean
    (our_grad,) = torch.autograd.grad(our_loss, log_probs)

    assert our_loss.item() == pytest.approx(trl_loss_value.item(), abs=1e-6)
    # off the completion TRL's fused head zero-fills the log-probs, so no gradient reaches there
    torch.testing.assert_close(our_grad[shift_mask], trl_grad[shift_mask], atol=1e-6, rtol=1e-6)
    logged = stub._metrics["eval"]
    for key in ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"):
        assert metrics[key].mean().item() == pytest.approx(logged[key][0], abs=1e-6), key
    for key in ("logps/chosen", "logps/rejected"):
        assert metrics[key].mean().item() == pytest.approx(logged[key][0], abs=1e-6), key


@quiet_config
def test_trl_bco_pair_initial_loss_is_2ln2(trl_mod, tmp_path):
    """TRL >= 0.29 bco_pair has no delta: at policy == reference it is 2 ln 2, like our bce."""
    from trl import DPOConfig, DPOTrainer

    args = DPOConfig(output_dir=str(tmp_path), loss_type=["bco_pair"], use_cpu=True, bf16=False)
    stub = _stub_trainer(
        args,
        beta=args.beta,
        precompute_ref_logps=True,
        loss_types=args.loss_type,
        loss_weights=[1.0],
        ld_alpha=None,
        f_divergence_type=args.f_divergence_type,
        label_smoothing=0.0,
        use_weighting=False,
    )
    log_probs, completion_mask, shift_mask = _random_completion(4, 8, seed=3)
    seq = (log_probs * shift_mask).sum(dim=1).detach()
    inputs = {
        "input_ids": torch.zeros_like(completion_mask),
        "completion_mask": completion_mask,
        "ref_chosen_logps": seq[:2],
        "ref_rejected_logps": seq[2:],
    }
    model = _FixedLogProbsModel(trl_mod.Output, log_probs, shift_mask)
    loss = DPOTrainer._compute_loss(stub, model, inputs, False)
    assert loss.item() == pytest.approx(2 * LN2, abs=1e-9)


@pytest.mark.parametrize(("trl_loss", "ours"), [("dft", "dft"), ("nll", "sft")])
@quiet_config
def test_parity_with_trl_sft_trainer(trl_mod, tmp_path, trl_loss, ours):
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        output_dir=str(tmp_path), loss_type=trl_loss, use_cpu=True, bf16=False, report_to="none"
    )
    stub = _stub_trainer(args, compute_loss_func=None, label_smoother=None)
    log_probs, completion_mask, shift_mask = _random_completion(4, 10, seed=5)
    inputs = {
        "input_ids": torch.zeros_like(completion_mask),
        "attention_mask": torch.ones_like(completion_mask),
        "labels": torch.zeros_like(completion_mask),
    }
    model = _FixedLogProbsModel(trl_mod.Output, log_probs, shift_mask)
    trl_loss_value = SFTTrainer.compute_loss(stub, model, inputs)
    (trl_grad,) = torch.autograd.grad(trl_loss_value, log_probs)

    losses, _ = TOKEN_OBJECTIVES[ours](token_logps=log_probs, mask=shift_mask, reduction="sum")
    # TRL normalizes by the batch's total token count (a global token mean)
    our_loss = losses.sum() / shift_mask.sum()
    (our_grad,) = torch.autograd.grad(our_loss, log_probs)

    assert our_loss.item() == pytest.approx(trl_loss_value.item(), abs=1e-6)
    torch.testing.assert_close(our_grad[shift_mask], trl_grad[shift_mask], atol=1e-6, rtol=1e-6)
    # the per-row token_mean is a different estimator whenever lengths differ
    objective = TOKEN_OBJECTIVES[ours]
    per_row, _ = objective(token_logps=log_probs, mask=shift_mask, reduction="token_mean")
    assert shift_mask.sum(dim=1).unique().numel() > 1
    assert abs(per_row.mean().item() - trl_loss_value.item()) > 1e-3


def test_declared_metric_names_match_what_objectives_return():
    from spot.train.objectives import PAIR_METRICS, TOKEN_METRICS

    zero = torch.zeros(2)
    for fn in PAIR_OBJECTIVES.values():
        _, metrics = fn(
            policy_chosen_logps=zero,
            policy_rejected_logps=zero,
            ref_chosen_logps=zero,
            ref_rejected_logps=zero,
            beta=BETA,
            delta=torch.tensor(0.0),
        )
        assert set(metrics) == set(PAIR_METRICS)
    for fn in TOKEN_OBJECTIVES.values():
        _, metrics = fn(token_logps=torch.zeros(2, 3), mask=torch.ones(2, 3))
        assert set(metrics) == set(TOKEN_METRICS)
