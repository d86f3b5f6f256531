"""The command line refuses every bad input before any work, with one line that names the problem
and what is accepted (exit 2): no Prefect server, no tracking DB, no results folder is made.
Also: ``--version``, and flags shown as flags in the help."""

from __future__ import annotations

import shutil
import subprocess
from importlib.metadata import version

import pytest
from support.flows_cli import CLI, ROOT, TINY_ABLATION, cli, env_for

TINY = """
kind: table
name: tiny
datasets: {arrhythmia: {}}
methods:
  iforest: {params: {n_estimators: 50}}
"""

ABLATION = TINY_ABLATION


def refused(tmp, kind, config, *args, name=None, env=None):
    """Run the CLI expecting a refusal; no Prefect home is prepared, so none may appear."""
    return cli(tmp, kind, config, *args, check=False, name=name, env=env or env_for(tmp, fresh_prefect=True))


def assert_refused(tmp, out, *needles):
    err = out.stderr.strip()
    assert out.returncode == 2, (out.returncode, out.stdout[-2000:], out.stderr[-2000:])
    assert len(err.splitlines()) == 1 and "Traceback" not in err, out.stderr
    for n in needles:
        assert n in err, err
    made = [p.name for p in (tmp / "results", tmp / "mlflow.db", tmp / "prefect") if p.exists()]
    assert not made, f"work started before the refusal: {made}"


@pytest.mark.slow
@pytest.mark.parametrize("option, value, needles", [
    ("--seeds", "abc", ["--seeds: 'abc' is not an integer", "e.g. --seeds 0,1,2"]),
    ("--runner", "spark", ["--runner: 'spark'", "threads, dask, ray"]),
    ("--workers", "-3", ["--workers: -3", "integer >= 1"]),
    ("--workers", "0", ["--workers: 0", "integer >= 1"]),
    ("--device", "tpu", ["--device: 'tpu'", "auto, cpu, cuda, cuda:N"]),
    ("--ratios", "0", ["--ratios: 0 is outside (0, 1]"]),
    ("--ratios", "1.5", ["--ratios: 1.5 is outside (0, 1]"]),
])
def test_bad_options_are_refused_in_one_line(tmp_path, option, value, needles):
    out = refused(tmp_path, "table", TINY, option, value)
    assert_refused(tmp_path, out, "error: ", *needles)


@pytest.mark.slow
def test_a_config_of_the_other_kind_is_refused(tmp_path):
    out = refused(tmp_path, "ablate", TINY, name="tiny-table")
    assert_refused(tmp_path, out, "is a table config: run it with `sla2p-bench table --config")
    out = refused(tmp_path, "table", ABLATION, name="tiny-ablation")
    assert_refused(tmp_path, out, "is an ablation config: run it with `sla2p-bench ablate --config")


@pytest.mark.slow
def test_a_tampered_data_file_is_refused_in_one_line(tmp_path):
    from tasks.fetch.sources import ensure_files

    ensure_files(["odds/wbc.mat"])  # the project's copy, pulled if this is the first test to need it
    data = tmp_path / "data"
    (data / "odds").mkdir(parents=True)
    shutil.copy2(ROOT / "data" / "odds" / "wbc.mat", data / "odds" / "wbc.mat")
    with open(data / "odds" / "wbc.mat", "r+b") as f:  # flip one byte
        f.seek(200)
        b = f.read(1)
        f.seek(200)
        f.write(bytes([b[0] ^ 0xFF]))
    env = {**env_for(tmp_path, fresh_prefect=True), "SLA2P_DATA_DIR": str(data),
           "SLA2P_CACHE_DIR": str(tmp_path / "cache")}
    out = refused(tmp_path, "table", TINY.replace("arrhythmia", "odds_wbc"), env=env)
    assert_refused(tmp_path, out, "data error: refusing", "odds/wbc.mat", "data.dvc pins",
                   "dvc checkout --force data/odds/wbc.mat")


@pytest.mark.slow
def test_version_and_help(tmp_path):
    env = env_for(tmp_path, fresh_prefect=True)
    out = subprocess.run(CLI + ["--version"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == f"sla2p-bench {version('sla2p-bench')}"
    out = subprocess.run(CLI + ["table", "--help"], cwd=ROOT, env=env, capture_output=True, text=True)
    flags = [ln for ln in out.stdout.splitlines() if "--refresh" in ln or "--dry-run" in ln]
    assert len(flags) == 2 and not any("<bool>" in ln for ln in flags), flags  # flags take no value


def test_option_checks():
    """The same checks, in process: one error type, naming the option and the accepted values."""
    from flows.options import Filters, OptionError, RunOptions

    assert Filters.parse(seeds="0, 2", ratios="0.1,1") == Filters(seeds=[0, 2], ratios=[0.1, 1.0])
    assert Filters.parse(seeds=",") == Filters()  # nothing listed: no filter
    for kwargs, message in [({"seeds": "1,x"}, "--seeds: 'x' is not an integer"),
                            ({"seeds": "-1"}, "--seeds: -1 is negative"),
                            ({"ratios": "abc"}, "--ratios: 'abc' is not a number"),
                            ({"ratios": "nan"}, r"--ratios: nan is outside \(0, 1\]")]:
        with pytest.raises(OptionError, match=message):
            Filters.parse(**kwargs)
    assert RunOptions(workers=1, runner="dask", device="cuda:1").device == "cuda:1"
    for kwargs, message in [({"workers": 0}, "--workers: 0"), ({"workers": True}, "--workers: True"),
                            ({"runner": "spark"}, "threads, dask, ray"), ({"device": "cuda:"}, "cuda:N"),
                            ({"device": "CPU"}, "auto, cpu"), ({"address": "tcp://x:1"}, "--runner dask")]:
        with pytest.raises(OptionError, match=message):
            RunOptions(**kwargs)


@pytest.mark.slow  # verifies the CIFAR-10 archive it lists: 11 s
def test_data_list_says_rows_dims_outliers_and_what_is_cached(tmp_path):
    """``data list``: per dataset its rows, dimensions, outliers or classes and whether its
    features are cached; a data folder without the files says "not pulled" and pulls nothing."""
    from tasks.datasets import get_spec
    from tasks.embed import load_features
    from tasks.fetch.sources import ensure_files

    ensure_files([*get_spec("arrhythmia").files, *get_spec("cifar10").files])  # listed from their files
    cache = tmp_path / "cache"
    env = {**env_for(tmp_path), "SLA2P_CACHE_DIR": str(cache)}

    def listed(*names, env=env) -> dict[str, list[str]]:
        out = subprocess.run(CLI + ["data", "list", "--datasets", ",".join(names)], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        return {line.split()[0]: line.split() for line in out.stdout.splitlines()[1:1 + len(names)]}

    rows = listed("arrhythmia", "cifar10")
    assert rows["arrhythmia"][1:] == ["tabular", "452", "?", "66", "outliers", "identity", "not", "cached", "paper"]
    assert rows["cifar10"][1:5] == ["image", "60,000", "?", "10"], rows["cifar10"]
    load_features("arrhythmia", cache_dir=cache)
    assert listed("arrhythmia")["arrhythmia"][1:] == ["tabular", "452", "274", "66", "outliers", "identity",
                                                      "cached", "paper"]

    empty = tmp_path / "no-data"
    empty.mkdir()
    row = listed("arrhythmia", env={**env, "SLA2P_DATA_DIR": str(empty)})["arrhythmia"]
    assert row[-3:-1] == ["not", "pulled"] and not any(empty.iterdir()), row


# -- the environment, checked before any work (flows/preflight.py) ------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("case, needles", [
    ("results-in-proc", ["results folder /proc cannot be written"]),
    ("results-is-a-file", ["is not a folder"]),
    ("corrupt-db", ["bad.db is not a usable SQLite database", "file is not a database"]),
])
def test_an_unusable_results_folder_or_store_is_refused_in_one_line(tmp_path, case, needles):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "bad.db").write_bytes(b"not a database at all" * 10)
    extra = {"results-in-proc": ["--results-dir", "/proc"],
             "results-is-a-file": ["--results-dir", str(tmp_path / "afile")],
             "corrupt-db": ["--tracking-uri", f"sqlite:///{tmp_path / 'bad.db'}"]}[case]
    assert_refused(tmp_path, refused(tmp_path, "table", TINY, *extra), "refused: ", *needles)


@pytest.mark.slow
def test_a_binary_config_is_refused_in_one_line(tmp_path):
    cfg = tmp_path / "binary.yaml"
    cfg.write_bytes(bytes(range(128, 256)) * 4)
    out = subprocess.run(CLI + ["table", "--config", str(cfg), "--results-dir", str(tmp_path / "results"),
                                "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"],
                         cwd=ROOT, env=env_for(tmp_path, fresh_prefect=True), capture_output=True, text=True, timeout=300)
    assert_refused(tmp_path, out, "config error: ", "is not a text file")


@pytest.mark.slow
@pytest.mark.parametrize("command", ["report", "ui"])
def test_report_and_ui_refuse_a_corrupt_store_in_one_line(tmp_path, command):
    (tmp_path / "bad.db").write_bytes(b"not a database at all" * 10)
    out = subprocess.run(CLI + [command, "--tracking-uri", f"sqlite:///{tmp_path / 'bad.db'}"], cwd=ROOT,
                         env=env_for(tmp_path, fresh_prefect=True), capture_output=True, text=True, timeout=300)
    assert_refused(tmp_path, out, "refused: ", "is not a usable SQLite database")


@pytest.mark.slow
def test_a_fit_too_large_for_the_memory_is_refused_in_one_line(tmp_path):
    big = TINY.replace("iforest: {params: {n_estimators: 50}}", "sla2p: {params: {n_projections: 1000000}}")
    assert_refused(tmp_path, refused(tmp_path, "table", big), "refused: one fit of sla2p on arrhythmia needs about")
