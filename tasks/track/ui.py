"""Links into MLflow's UI that open on the classic runs view, with the suite's metrics as columns.

What MLflow 3.17's UI does (read from its bundled JavaScript, ``mlflow/server/js/build``):

* The experiment page opens on GenAI "Traces" because the UI's *workflow type* defaults to
  ``genai``. The workflow type is UI state, not the experiment's: the URL's ``workflowType`` query
  parameter (``genai`` | ``machine_learning``), else the browser's local storage
  (``mlflow.workflowType``), else ``genai``. In the open-source build the experiment tag
  ``mlflow.experimentKind`` is not read for this (a feature flag makes the UI take the workflow
  type instead), which is why setting that tag changed nothing. So every link carries
  ``workflowType=machine_learning``; the tag is still set (:data:`EXPERIMENT_KIND`) for builds and
  views that read it (the experiment's kind selector shows it).
* Which columns the runs table shows is UI state too (local storage), with one exception that
  is the experiment's: a *shared view*, an experiment tag ``mlflow.sharedViewState.<key>`` holding
  the view as JSON (``selectedColumns``, ``searchFilter``, ``orderByKey``...), opened by the URL
  parameter ``viewStateShareKey=<key>``. It is ignored when the URL itself carries a search facet
  (``searchFilter``, ``orderByKey``...): the links below carry none.
* The runs table nests children under their (collapsed) parent only while it is sorted by
  date; sorted by anything else it lists every matching run flat. So one parent's cells view is
  filtered on ``mlflow.parentRunId`` and sorted by run name: each cell a row, in the table's order.

Column ids are MLflow's canonical keys: ``metrics.`auroc```, ``attributes.`Dataset```.
"""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

WORKFLOW = "machine_learning"          # the UI's classic "Model training" view
EXPERIMENT_KIND = "custom_model_development"  # the value MLflow's kind selector writes for it
KIND_TAG = "mlflow.experimentKind"
SHARED_VIEW_TAG = "mlflow.sharedViewState."
EXPERIMENT_VIEW = "sla2p-columns"      # share key of the experiment's view: every run, metrics shown
COLUMNS = ("auroc", "aupr", "fit_seconds")
DEFAULT_UI_PORT = 5000                 # `sla2p-bench ui`'s default
RUN_NAME = "attributes.`Run Name`"     # the run-name column (wide enough for an ablation's names)
RUN_NAME_WIDTH = 340                   # px
BY_DATE = "attributes.start_time"      # sort keys
BY_NAME = "tags.`mlflow.runName`"


def columns(metrics=COLUMNS) -> list[str]:
    """The runs table's columns: the dataset input (data version) and the metrics."""
    return ["attributes.`Dataset`", *(f"metrics.`{m}`" for m in metrics)]


def view_state(search_filter: str = "", metrics=COLUMNS, order_by: str = BY_DATE) -> str:
    """The JSON of a shared view: the metrics as columns, optionally filtered; newest first
    (parents with their children folded under them) or by name, ascending (every run a row)."""
    return json.dumps({"searchFilter": search_filter, "orderByKey": order_by, "orderByAsc": order_by != BY_DATE,
                       "selectedColumns": columns(metrics),
                       # a width applies only to a column the order lists; the others keep theirs
                       "columnOrder": [RUN_NAME], "columnWidths": {RUN_NAME: RUN_NAME_WIDTH}},
                      separators=(",", ":"))


def cells_view_state(parent_id: str) -> str:
    """One parent's cells, each a row, by name."""
    return view_state(cells_filter(parent_id), order_by=BY_NAME)


def cells_view_key(parent_id: str) -> str:
    """The share key of one parent's cells view."""
    return f"sla2p-cells-{parent_id}"


def cells_filter(parent_id: str) -> str:
    return f"tags.`mlflow.parentRunId` = '{parent_id}'"


def is_tracking_server(tracking_uri: str) -> bool:
    """An ``http(s)://`` URI: a tracking server, which has its own UI and artifact store (the
    other URIs are databases the suite's process writes to itself)."""
    return str(tracking_uri).startswith(("http://", "https://"))


def ui_base(tracking_uri: str, port: int = DEFAULT_UI_PORT) -> str:
    """Where the UI for ``tracking_uri`` is served: a tracking server serves its own; a local
    store (SQLite) is browsed with ``sla2p-bench ui`` on 127.0.0.1:``port``."""
    if is_tracking_server(tracking_uri):
        return tracking_uri.rstrip("/")
    return f"http://127.0.0.1:{port}"


def _query(**params) -> str:
    return urlencode({k: v for k, v in params.items() if v}, quote_via=quote)


def runs_url(base: str, experiment_id: str, share_key: str | None = EXPERIMENT_VIEW) -> str:
    """The experiment's runs view (training workflow, the shared view's columns)."""
    return f"{base}/#/experiments/{experiment_id}/runs?" + _query(workflowType=WORKFLOW, viewStateShareKey=share_key)


def run_url(base: str, experiment_id: str, run_id: str) -> str:
    """One run's page (its children, parameters, datasets and artifacts)."""
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}?" + _query(workflowType=WORKFLOW)
