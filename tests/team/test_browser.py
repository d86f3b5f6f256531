"""The MLflow UI of a table run, checked in a real browser: Debian's Chromium driven by Selenium
through Debian's chromedriver (no browser or driver download: Selenium Manager is never called).

A small table runs into a temporary SQLite store, ``sla2p-bench ui`` serves it on a free port,
and the browser opens, by explicit URLs (not the links the suite prints):

* the experiment's runs view, which lists the parent run;
* the parent run's page, whose "Child runs" lists every cell as ``method/dataset/class/ratio/seed``;
* the Artifacts tab on ``report/report.md``, whose Markdown table is rendered (a table, not pipes);
  and ``report/report.html`` when the run has one (rendered in the viewer's frame).

Screenshots go to the test's temporary folder; with ``SLA2P_BROWSER_SHOTS=DIR`` the parent run
page and the report are also written to DIR as small PNGs (``docs/img`` for the README).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
from pathlib import Path

import psutil
import pytest

from support.flows_cli import cli, mlflow_runs, table_csv
from flows.ui_server import free_port
from support.ui import START_TIMEOUT, stop_all, ui_process, wait_for_url

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
HAVE_BROWSER = Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not HAVE_BROWSER, reason="no Chromium/chromedriver found (Debian: apt-get install "
                                                "chromium chromium-driver)"),
]

METHODS = ("sla2p", "iforest")
DATASETS = ("arrhythmia", "odds_wbc")
TABLE = f"""
kind: table
name: browse
seeds: [0]
datasets: {{{', '.join(f'{d}: {{}}' for d in DATASETS)}}}
methods:
  sla2p: {{params: {{n_projections: 16, proj_dim: 16, epsilon: 1.0}}}}
  iforest: {{params: {{n_estimators: 50}}}}
"""
PAGE_WAIT = 90  # s for one page to show what is asserted (a loaded 2-core machine)
# The README's images: the parent run and its report.
SHOTS_FOR_DOCS = {"parent_run.png": "mlflow-parent-run.png", "report.png": "mlflow-report.png"}


@pytest.fixture
def browser(tmp_path, monkeypatch):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.selenium_manager import SeleniumManager

    def no_manager(*_a, **_k):
        raise AssertionError("Selenium Manager was called (it would look for a browser on the network)")

    monkeypatch.setattr(SeleniumManager, "binary_paths", no_manager)
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,860", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'chromium'}",
                # nothing leaves the machine
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-default-apps", "--metrics-recording-only"):
        opts.add_argument(arg)
    service = Service(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(service=service, options=opts)
    driver.set_page_load_timeout(PAGE_WAIT)
    driver_proc = psutil.Process(service.process.pid)
    spawned = driver_proc.children(recursive=True)  # Chromium's processes
    try:
        yield driver
    finally:
        try:
            driver.quit()
        finally:  # whatever quit() left, even if it failed
            for p in (driver_proc, *spawned):
                try:
                    p.kill()
                except psutil.Error:
                    pass


def _wait(driver, what: str, cond, timeout: float = PAGE_WAIT):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.5).until(lambda d: cond(d))
    except TimeoutException:
        body = driver.find_element("tag name", "body").text
        raise AssertionError(f"{what}: not shown within {timeout} s on {driver.current_url}; page text: "
                             f"{' '.join(body.split())[:1500]}") from None


def _open(driver, url: str) -> None:
    """Load ``url`` as a new page: MLflow's single-page app reads an artifact path only when its
    view mounts, so a change of the hash alone would keep showing the previous file."""
    driver.get("about:blank")
    driver.get(url)


def _cells(driver, role: str) -> list[str]:
    """The texts of a rendered table's header or body cells (MLflow's Markdown view draws tables
    with ARIA roles on divs; HTML has th/td)."""
    css = {"columnheader": '[role="columnheader"], th', "cell": '[role="cell"], td'}[role]
    return [e.text.strip() for e in driver.find_elements("css selector", css)]


def _small_png(src: Path, dst: Path) -> None:
    """A README image: the screenshot with a 256-colour palette (a UI has few colours)."""
    from PIL import Image

    with Image.open(src) as im:
        im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(dst, optimize=True)


def test_the_ui_shows_the_children_and_the_rendered_report(tmp_path, browser):
    from selenium.webdriver.common.by import By

    t0 = time.monotonic()

    def step(what: str) -> None:  # where the time goes, with -s
        print(f"{time.monotonic() - t0:6.1f} s  {what}")

    cli(tmp_path, "table", TABLE)
    step("table run")
    (parent,), children = mlflow_runs(tmp_path, "sla2p-bench/table")
    assert len(children) == len(METHODS) * len(DATASETS)
    exp, run = parent.info.experiment_id, parent.info.run_id
    auroc = table_csv(tmp_path)
    from mlflow.tracking import MlflowClient

    report_files = {a.path for a in MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").list_artifacts(run, "report")}
    assert "report/report.md" in report_files, report_files

    shots = tmp_path / "shots"
    shots.mkdir()
    port = free_port()
    ui = ui_process(f"sqlite:///{tmp_path / 'mlflow.db'}", port)
    started: list[psutil.Process] = []
    try:
        wait_for_url(ui, port, timeout=START_TIMEOUT)
        step("ui answers")
        started = psutil.Process(ui.pid).children(recursive=True)
        base = f"http://127.0.0.1:{port}/#/experiments/{exp}"
        query = "?workflowType=machine_learning"  # the runs' view of MLflow 3, not GenAI's traces
        browser.get(f"http://127.0.0.1:{port}/")
        # MLflow's assistant panel opens itself on a first visit and covers a third of the page
        browser.execute_script("localStorage.setItem('mlflow.assistant.fab.autoOpenedOnFirstLoad_v1', 'true');"
                               "localStorage.setItem('mlflow.assistant.panelOpen_v1', 'false');")

        # the runs view lists the parent
        _open(browser, f"{base}/runs{query}")
        _wait(browser, f"the parent run {parent.info.run_name!r} in the runs view",
              lambda d: d.find_elements(By.XPATH, f'//a[normalize-space()="{parent.info.run_name}"]'))
        browser.save_screenshot(str(shots / "runs.png"))
        step("runs view")

        # the parent run page lists its children by name
        _open(browser, f"{base}/runs/{run}{query}")
        names = {c.info.run_id: c.info.run_name for c in children}

        def child_links(d):
            found = {rid: [a.text.strip().rstrip(",") for a in d.find_elements(By.CSS_SELECTOR, f'a[href*="/runs/{rid}"]')]
                     for rid in names}
            return found if all(names[rid] in texts for rid, texts in found.items()) else None

        _wait(browser, "'Child runs' on the parent run page",
              lambda d: d.find_elements(By.XPATH, '//*[normalize-space(text())="Child runs"]'))
        _wait(browser, f"links to the child runs {sorted(names.values())}", child_links)
        for name in names.values():  # method/dataset/class/ratio/seed
            method, dataset, _cls, _ratio, seed = name.split("/")
            assert method in METHODS and dataset in DATASETS and re.fullmatch(r"s\d+", seed), name
        browser.save_screenshot(str(shots / "parent_run.png"))
        step("parent run page")

        # the Artifacts tab renders report.md's Markdown table
        _open(browser, f"{base}/runs/{run}/artifacts/report/report.md{query}")
        _wait(browser, "report.md's AUROC table rendered (header cells)",
              lambda d: {"dataset", *METHODS} <= set(_cells(d, "columnheader")))
        cells = _cells(browser, "cell")
        assert set(DATASETS) <= set(cells), cells
        for ds in DATASETS:
            for m in METHODS:
                assert any(c.startswith(f"{auroc.loc[ds, m]:.3f}") for c in cells), (ds, m, cells)
        body = browser.find_element(By.TAG_NAME, "body").text
        assert not re.search(r"^\s*\|.*\|\s*$", body, re.M), "Markdown shown as text, not rendered"
        tab = browser.find_elements(By.XPATH, '//*[@role="tab" and normalize-space()="Artifacts"]')
        assert tab and tab[0].get_attribute("aria-selected") == "true"
        browser.save_screenshot(str(shots / "report_md.png"))
        shutil.copy2(shots / "report_md.png", shots / "report.png")
        step("report.md")

        # the self-contained HTML report, when the run has one, renders in the viewer's frame
        if "report/report.html" in report_files:
            _open(browser, f"{base}/runs/{run}/artifacts/report/report.html{query}")
            frame = _wait(browser, "report.html's frame", lambda d: d.find_elements(By.TAG_NAME, "iframe"))[0]
            browser.switch_to.frame(frame)
            _wait(browser, "a table in report.html", lambda d: d.find_elements(By.TAG_NAME, "table"))
            assert "AUROC" in browser.find_element(By.TAG_NAME, "body").text
            # inline images (self-contained): each one decoded, none broken
            broken = browser.execute_script("return [...document.images].filter(i => !(i.complete && "
                                            "i.naturalWidth > 0)).map(i => i.alt || i.src.slice(0, 40))")
            assert not broken, broken
            browser.switch_to.default_content()
            browser.save_screenshot(str(shots / "report_html.png"))
            shutil.copy2(shots / "report_html.png", shots / "report.png")
            step("report.html")

        ui.send_signal(signal.SIGTERM)
        assert ui.wait(30) == 128 + signal.SIGTERM
    finally:
        stop_all(ui, started)
    assert not psutil.wait_procs(started, timeout=5)[1]

    for name in ("runs.png", "parent_run.png", "report.png"):
        assert (shots / name).stat().st_size > 10_000, name  # a page, not a blank
    if os.environ.get("SLA2P_BROWSER_SHOTS"):
        out = Path(os.environ["SLA2P_BROWSER_SHOTS"])
        out.mkdir(parents=True, exist_ok=True)
        for src, dst in SHOTS_FOR_DOCS.items():
            _small_png(shots / src, out / dst)
    print(f"screenshots: {shots}")
