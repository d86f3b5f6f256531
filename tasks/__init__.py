"""Thin Prefect tasks over plain functions, one module per stage.

``cells`` (what a cell is and its key), ``data`` (fetch + embed), ``detect`` (fit and score one
cell), ``metrics`` (AUROC/AUPR), ``store`` (per-cell result files), ``aggregate`` (tables),
``tracking`` (MLflow). Each module's plain functions run without a Prefect server; the ``*_task``
objects wrap them for flows.
"""
