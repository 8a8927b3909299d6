"""Evaluation items beyond the held-out prefix are ones the shipped model's recipe never drew."""

import random

from spot.eval.toy import EVAL_SEED
from spot.toy import heldout, tasks
from spot.train import toy_pretrain


def test_first_items_are_unchanged_and_the_rest_were_never_drawn():
    seen = heldout.seen_keys()
    for family, prefix in (("arith", 500), ("prior", 300)):
        items = heldout.questions(family, 1200)
        assert len(items) == 1200
        old = tasks.generate(family, prefix, EVAL_SEED)
        assert [q.prompt for q in items[:prefix]] == [q.prompt for q in old]
        assert [q.id for q in items[:prefix]] == [q.id for q in old]
        fresh = items[prefix:]
        assert not any(heldout.key(q.prompt) in seen for q in fresh)
        assert len({q.prompt for q in fresh}) == len(fresh)
        assert len({q.id for q in items}) == 1200
    assert heldout.questions("ood", 700) == tasks.generate("ood", 700, EVAL_SEED)
    assert heldout.questions("prior", 400, seed=5) == tasks.generate("prior", 400, 5)


def test_the_replay_is_the_stream_pretraining_draws():
    # pretraining's batches come from the same generator the replay walks
    held_out = heldout.held_out_prompts()
    a = heldout.examples(random.Random("pretrain:0"), 0.8, held_out)
    b = heldout.examples(random.Random("pretrain:0"), 0.8, held_out)
    drawn = [next(a) for _ in range(500)]
    assert drawn == [next(b) for _ in range(500)]
    assert not any(prompt in held_out for prompt, _ in drawn)
    assert all(heldout.key(p) in heldout.seen_keys() for p, _ in drawn)


def test_an_arithmetic_question_is_the_same_whatever_its_form():
    assert heldout.key("What is 3 + 4 * 2?") == heldout.key("Compute: 3 + 4 * 2")
    assert heldout.key("Calculate 3 + 4 * 2.") != heldout.key("Compute: 3 + 4 * 5")
    assert heldout.key("Reverse the digits of 1234.") == "Reverse the digits of 1234."


def test_stages_come_from_the_log_with_the_recipes_defaults():
    log = [
        '{"stage": "1", "config": {"steps": 40, "arith_fraction": 0.8}}',
        '{"step": 10, "arith": 0.1}',
        '{"stage": "2", "config": {"steps": 5, "batch_size": 8, "arith_fraction": 0.5, "seed": 3}}',
    ]
    assert heldout.stages(log) == [
        {"steps": 40, "batch_size": 32, "arith_fraction": 0.8, "seed": 0},
        {"steps": 5, "batch_size": 8, "arith_fraction": 0.5, "seed": 3},
    ]


def test_recipe_defaults_are_those_of_spot_toy_pretrain():
    cfg = toy_pretrain.PretrainConfig()
    assert heldout.RECIPE_DEFAULTS == {"batch_size": cfg.batch_size, "seed": cfg.seed}


def test_asking_for_more_unseen_items_than_exist_is_an_error_not_a_hang(monkeypatch):
    import pytest

    monkeypatch.setattr(heldout, "max_draws", lambda n: 400)  # as if the space ran out
    with pytest.raises(ValueError, match="--toy-n 1000: toy-prior has only"):
        heldout.questions("prior", 1000)
