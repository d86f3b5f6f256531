"""Metrics: per-cell AUROC/AUPR from scores (``evaluate``) and the paper's reduction over classes
and seeds into tables (``aggregate``)."""

from .aggregate import (
    METRICS,
    ablation_base,
    ablation_curves,
    ablation_effects,
    cell_text,
    cells_frame,
    comparable,
    effects_summary,
    over_seeds,
    row_label,
    summary_frame,
    variants,
)
from .evaluate import evaluate

__all__ = ["evaluate", "METRICS", "cells_frame", "comparable", "over_seeds", "row_label", "cell_text",
           "summary_frame", "ablation_curves", "ablation_base",
           "ablation_effects", "effects_summary", "variants"]
