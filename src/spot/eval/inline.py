"""Evaluating a model held in memory: the training-time hook, the toy recipe, ``spot toy eval``.

The same suites, prompts, sampling settings and judges as ``spot eval``, without files:
``evaluate_model(model, tokenizer, ["toy-prior"], n=100)`` -> ``{"toy-prior": 0.93}`` (each
suite's headline score).
"""

from __future__ import annotations

from spot.eval.config import EvalConfig
from spot.eval.stage import sampling_params
from spot.eval.suites import build, expand
from spot.models.chat import ChatOptions
from spot.sampling.loop import Job, sample_and_judge
from spot.sampling.seeds import sample_seed


def evaluate_model(
    model,
    tokenizer,
    suites: list[str] | str,
    *,
    n: int = 0,
    seed: int = 0,
    toy_seed: int = 9999,
    batch_size: int = 64,
    chat: ChatOptions = ChatOptions(),
) -> dict[str, float]:
    """Headline score of each suite (k = 1, each suite's own temperature) on ``model``."""
    from spot.sampling.hf import HFBackend

    names = expand(suites) if isinstance(suites, str) else suites
    cfg = EvalConfig(suite=",".join(names), limit=n, seed=seed, toy_seed=toy_seed, k="1")
    backend = HFBackend(model, tokenizer, batch_size=batch_size, chat=chat)
    scores = {}
    for name in names:
        suite = build(name, cfg)
        jobs = []
        for item in suite.items():
            prompt, gold = suite.prompt(item, 0)
            job_seed = sample_seed(seed, f"{name}:{item.id}", 0)
            jobs.append(Job(item.id, prompt, job_seed, (suite, item, gold)))
        rows: list = []
        sample_and_judge(
            backend,
            jobs,
            sampling_params(cfg, suite),
            lambda job, g: [_scored(*job.context, g.text)],
            rows.append,
        )
        scores[name] = suite.aggregate(rows)[suite.headline]
    return scores


def _scored(suite, item, gold, text: str) -> dict:
    scored = suite.score(item, gold, text)
    return {"score": scored.score, "metrics": scored.metrics}


def periodic_eval(cfg):
    """``eval_fn(model, tokenizer, step)`` for a training run's ``--eval-suites`` (None without
    them): the headline score of each suite on the model in training (k = 1, ``--eval-n``
    questions), for :func:`spot.train.loop.train`."""
    if not cfg.eval.suites:
        return None
    chat = ChatOptions.parse(cfg.raw_prompt, cfg.template_args)

    def eval_fn(model, tokenizer, step):
        return evaluate_model(model, tokenizer, cfg.eval.suites, n=cfg.eval.n, chat=chat)

    return eval_fn
