"""spot: Surgical Post-Training of language models.

The package layout follows the pipeline: ``schema`` (records passed between
stages), ``jsonl`` (their files), then one module per stage. ``spot.toy`` is
the embedded toy world with a shipped tiny model.
"""

__version__ = "0.1.0"
