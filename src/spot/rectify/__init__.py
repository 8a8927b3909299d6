"""Stage 2, oracle-guided surgical rectification (paper, Section 2 and Appendix F).

An oracle minimally edits each wrong answer y- into a correct y+ in the same
style. ``config`` holds the stage's settings, ``oracle`` the interface every
oracle implements and its typed outcomes, ``prompts`` the two Appendix F
prompts, ``judge`` turns an oracle's raw output into an accepted pair or a
typed rejection, ``stage`` runs it all file to file, and ``oracles/`` has one
oracle per file (API model, the policy itself, the exact toy rule, a human),
found by name through :data:`spot.rectify.config.ORACLES`.
"""
