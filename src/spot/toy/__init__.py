"""The toy task world: multi-step arithmetic, probe tasks and a shipped tiny model.

Everything here runs offline on a laptop CPU so the whole SPoT method can be
seen working in minutes; the same stages then run unchanged on real models.
"""
