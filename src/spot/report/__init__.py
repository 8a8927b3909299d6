"""The report (paper, Section 5 and its figures): one static page of a run's results.

``spot report RUN_DIR`` finds what a run directory holds (``collect``), ties evaluations to
the training runs they evaluated and to the base model (``results``), draws the figures
(``plots``: Figure 2 accuracy over steps, Figure 4 implicit rewards, Figure 5 change ratios,
the objectives' trade-off frontier over a learning-rate sweep), shows pairs with their edits
highlighted (``diff``, ``pairs``: Figures 6-9), and writes ``report.html`` with every image
inline plus a PNG of each (``html``, ``stage``).
"""
