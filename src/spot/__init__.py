"""spot: Surgical Post-Training of language models (arXiv 2603.01683).

The package reads as the pipeline. At the bottom, what flows between stages
and what every stage uses; then one package per stage; then what chains them.

* ``records``: question, sample and pair records and their JSONL files.
* ``models``: loading a policy; the one chat-template renderer.
* ``sampling``: sampling backends (transformers, OpenAI-compatible servers, vLLM).
* ``verify``: answer extraction and checking, found per data source.
* ``elicit``: stage 1, the policy's wrong answers (Section 2).
* ``rectify``: stage 2, the oracle's minimal corrections (Section 2, Appendix F).
* ``filter``: stage 3, the LCS change-ratio filter (eq. 1).
* ``train``: stage 4, the objectives against a frozen reference (eqs. 2-10).
* ``eval``: evaluation (Section 5).
* ``serve``: an OpenAI-compatible server for local models.
* ``pipeline``: the stages chained from one YAML file (``spot run``, ``spot demo``).
* ``toy``: the embedded toy world and its shipped model.
"""

__version__ = "0.1.0"
