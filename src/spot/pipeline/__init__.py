"""Chaining the stages: ``spot run PIPELINE.yaml`` for any model, ``spot demo`` on a shipped file.

The whole protocol of the paper (Sections 2-5: elicit, rectify, filter, train each
objective, evaluate every model, compare in the shape of Tables 1-3) from one YAML file,
each stage the same function its own command runs and skipped when its output is
complete. ``config`` reads the file, ``stages`` turns it into steps, ``runner`` runs them,
``finish`` writes the table and ``pipeline.json``; ``demo`` holds the two commands.
"""
