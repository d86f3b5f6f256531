"""``--precision`` of ``table`` and ``ablate``: it reaches the job, sets ``precision`` on every cell
whose detector takes it (so those cells differ from the config's by key), and leaves the others."""

from __future__ import annotations

import pytest
import typer
from support.flows_cli import TINY_ABLATION
from typer.testing import CliRunner

TABLE = """
kind: table
name: tiny
seeds: [0, 1]
datasets: {arrhythmia: {}}
methods:
  sla2p: {params: {n_projections: 8, proj_dim: 8}}
  sla: {params: {n_projections: 8, proj_dim: 8}}
  sla2p_official: {detector: sla2p, params: {n_projections: 8, proj_dim: 8, compat: official},
                   row_order: inliers_first}
  iforest: {params: {n_estimators: 50}}
"""

ABLATION = TINY_ABLATION


def load(tmp_path, text, kind="table", precision=None):
    from flows.cli import _load_job
    from flows.options import Filters, RunOptions

    path = tmp_path / f"{kind}.yaml"
    path.write_text(text)
    return _load_job(kind, str(path), Filters(), RunOptions(), precision)


def test_the_flag_sets_precision_on_the_cells_that_take_it(tmp_path):
    plain, bf16 = load(tmp_path, TABLE), load(tmp_path, TABLE, precision="bf16")
    assert len(plain.cells) == len(bf16.cells) == 8
    for a, b in zip(plain.cells, bf16.cells):
        if a.detector_name in ("sla2p", "sla"):
            assert "precision" not in a.param_dict and b.param_dict["precision"] == "bf16"
            assert b.param_dict == {**a.param_dict, "precision": "bf16"}
            assert a.key("data") != b.key("data")  # refitted, cached apart
        else:
            assert a == b and a.key("data") == b.key("data")
    assert plain.key != bf16.key
    # float32 is the detectors' default: the config's own cells, keys included
    assert load(tmp_path, TABLE, precision="float32").cells == plain.cells


def test_the_flag_reaches_an_ablation_and_refuses_a_bad_value(tmp_path):
    job = load(tmp_path, ABLATION, kind="ablation", precision="bf16")
    assert [c.param_dict["precision"] for c in job.cells] == ["bf16"] * len(job.cells)
    assert [dict(c.point) for c in job.cells] == [dict(c.point) for c in load(tmp_path, ABLATION, "ablation").cells]
    with pytest.raises(typer.Exit) as exc:
        load(tmp_path, TABLE, precision="fp16")
    assert exc.value.exit_code == 2


def test_a_grid_over_precision_is_refused_with_the_flag(tmp_path):
    grid = ABLATION.replace("grid: {epsilon: [0.0, 1.0]}", "grid: {precision: [float32, bf16]}")
    assert len(load(tmp_path, grid, kind="ablation").cells) == 2
    with pytest.raises(typer.Exit) as exc:
        load(tmp_path, grid, kind="ablation", precision="bf16")  # its two points would be one cell
    assert exc.value.exit_code == 2


@pytest.mark.parametrize("command, kind", [("table", "table"), ("ablate", "ablation")])
def test_the_commands_pass_the_flag_on(monkeypatch, command, kind):
    import flows.cli as cli

    seen = []
    monkeypatch.setattr(cli, "_run", lambda *args: seen.append(args))
    out = CliRunner().invoke(cli.app, [command, "--config", "x.yaml", "--precision", "bf16"])
    assert out.exit_code == 0, out.output
    (args,) = seen
    assert args[0] == kind and args[-1] == "bf16"
    CliRunner().invoke(cli.app, [command, "--config", "x.yaml"])
    assert seen[-1][-1] is None
