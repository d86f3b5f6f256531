"""Every Prefect task of the suite, in one place: thin wrappers over the plain functions of the
stages (which run, and are tested, without a Prefect server).

No Prefect result cache and no persisted results: a cell is done exactly when its checksummed
result files are in the results folder the user named (:func:`tasks.store.load_record`, which the
flow checks before submitting). A cache of Prefect's own (kept under ``PREFECT_HOME``, not in the
results folder) would answer for cells whose files are elsewhere, and they would go missing.
The data stage caches its embeddings itself (:mod:`tasks.embed.cache`).
"""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from .detect import fit_and_score
from .embed import prepare_dataset

# Task runs are named for what they work on, so that Prefect's UI reads as the table does: a
# dataset's preparation as ``data/<dataset>``, a cell as its MLflow child run
# (``method/dataset/class/ratio/seed``). A cell that raises is a Failed task run (no retry: a
# rerun of the job tries it again).
prepare_dataset_task = task(prepare_dataset, name="prepare-dataset", task_run_name="data/{name}", retries=1,
                            retry_delay_seconds=2, cache_policy=NO_CACHE, persist_result=False)

fit_and_score_task = task(fit_and_score, name="fit-and-score", task_run_name="{work.name}",
                          cache_policy=NO_CACHE, persist_result=False, retries=0)
