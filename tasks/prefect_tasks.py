"""Every Prefect task of the suite, in one place: thin wrappers over the plain functions of the
stages (which run, and are tested, without a Prefect server)."""

from __future__ import annotations

from datetime import timedelta

from prefect import task

from .detect import fit_and_score
from .embed import prepare_dataset


def _cell_cache_key(context, parameters) -> str:
    # Exactly the cell, its data and the code version (all inside payload["key"]).
    return f"sla2p-cell-{parameters['payload']['key']}"


prepare_dataset_task = task(prepare_dataset, name="prepare-dataset", retries=1, retry_delay_seconds=2)

fit_and_score_task = task(
    fit_and_score, name="fit-and-score", task_run_name="{payload[name]}",
    cache_key_fn=_cell_cache_key, persist_result=True, cache_expiration=timedelta(days=3650),
    retries=0,
)
