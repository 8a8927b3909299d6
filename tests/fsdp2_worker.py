"""One rank of an FSDP2 run on CPU (gloo), started by torchrun from tests/test_engines.py.

accelerate enables FSDP only on GPUs, so this drives torch's ``fully_shard`` directly with
spot's own pieces: the scored head, the prefix-shared pair forward, the reference pass, the
loss of the step (a sum over examples over the global batch, as the loop computes it), the
distance probe on DTensor shards, and a full state dict gathered for saving. What it writes:
``rank-R.json`` (the rank, the world, the parameter entries it held) on every rank, and on
rank 0 ``result.json`` (step losses, dist/l2) and ``model.pt`` (the gathered weights).

    torchrun --nproc-per-node 2 tests/fsdp2_worker.py PAIRS OUT STEPS
"""

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from torch.distributed.fsdp import fully_shard

from spot.models.chat import ChatOptions
from spot.models.loading import load_model
from spot.train import forward, objectives
from spot.train.batches import StepPlan, micro_batches
from spot.train.data import build_examples
from spot.train.losses import PairLoss
from spot.train.probe import Anchor
from spot.train.reference import reference_logps
from spot.train.reward_shift import RewardShift

BATCH, MICRO, LR = 8, 2, 1e-4


def main(pairs: Path, out: Path, steps: int) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    model, tokenizer = load_model("toy", "float32", device="cpu")
    forward.install_head(model)
    examples, _ = build_examples(pairs, tokenizer, paired=True, chat=ChatOptions(), max_length=256)
    for layer in model.model.layers:
        fully_shard(layer)
    fully_shard(model)  # the root: embeddings, norm and the (tied) head
    held = sum(p.to_local().numel() for p in model.parameters())
    (out / f"rank-{rank}.json").write_text(json.dumps({"rank": rank, "world": world, "held": held}))
    rows = [(e.chosen, e.rejected) for e in examples]
    reference = reference_logps(model, rows, tokenizer.pad_token_id, 4, "cpu")  # (n, 2)
    loss = PairLoss(
        objectives.OBJECTIVES["bce"],
        examples,
        reference,
        beta=0.1,
        shift=RewardShift("ema", 0.9),
        pad_id=tokenizer.pad_token_id,
    )
    anchor = Anchor(model)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=(0.9, 0.95), weight_decay=0.01)
    plan = StepPlan(len(examples), BATCH, 1, steps, 0)
    lengths = [
        len(e.chosen.prompt) + len(e.chosen.completion) + len(e.rejected.completion)
        for e in examples
    ]
    losses = []
    for step in range(steps):
        batch = plan.global_batch(step)
        total = torch.zeros(())
        for idx, weight in micro_batches(
            batch, rank, world, MICRO, BATCH // (world * MICRO), lengths=lengths
        ):
            per_example, _, _ = loss(model, idx)
            # a sum over the step's pairs / the global batch; undo FSDP's mean over ranks
            (per_example.sum() * weight * world / len(batch)).backward()
            total += weight * per_example.detach().sum()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        dist.all_reduce(total)
        losses.append(total.item() / len(batch))
    moved = anchor.distance(model)  # a collective: every rank
    state = get_model_state_dict(
        model, options=StateDictOptions(full_state_dict=True, cpu_offload=True)
    )
    if rank == 0:
        (out / "result.json").write_text(json.dumps({"losses": losses, **moved}))
        torch.save(
            {k.replace(".head.weight", ".weight"): v for k, v in state.items()}, out / "model.pt"
        )
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
