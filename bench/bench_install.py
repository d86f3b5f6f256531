"""A non-editable install in a fresh virtual environment, as an outside user makes it: copy the
working tree (the files git tracks or would track), ``python3.11 -m venv``, ``pip install -c
constraints.txt <copy>`` (not editable; torch resolves through its pin), then run
``sla2p-bench table --profile smoke --dry-run`` from an empty folder outside the checkout: once
with no project root (no data anywhere) and once with ``SLA2P_PROJECT_ROOT`` at this checkout
(its data). Prints each command's exit code and last lines, and whether the named config was
read from the installed copy (``site-packages/flows/configs/smoke.yaml``).

    .venv/bin/python bench/bench_install.py            # about 2 minutes with a warm pip cache
    .venv/bin/python bench/bench_install.py --keep     # keep the folder (printed) to look around

Exit 0 when the installed copy found the config in both runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = "python3.11"
COMMAND = ["table", "--profile", "smoke", "--dry-run"]


def copy_tree(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def dry_run(venv: Path, cwd: Path, project_root: Path | None) -> bool:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLA2P_", "VIRTUAL_ENV"))}
    env.update(DO_NOT_TRACK="true", MLFLOW_DISABLE_TELEMETRY="true", DVC_NO_ANALYTICS="1",
               PREFECT_SERVER_ANALYTICS_ENABLED="false")
    if project_root:
        env["SLA2P_PROJECT_ROOT"] = str(project_root)
    out = run([str(venv / "bin" / "sla2p-bench"), *COMMAND], cwd=cwd, env=env)
    text = out.stdout + out.stderr
    installed = str(next(venv.glob("lib/python*/site-packages")) / "flows" / "configs" / "smoke.yaml")
    found = "config error" not in text and (installed in text or "project root" in text or "data error" in text
                                             or "estimate error" in text)
    where = f"SLA2P_PROJECT_ROOT={project_root}" if project_root else "no project root"
    print(f"\n$ cd {cwd} && {where} sla2p-bench {' '.join(COMMAND)}\nexit {out.returncode}")
    print("\n".join(text.strip().splitlines()[-8:]))
    print(f"-> config {'found in the installed copy' if found else 'NOT found'}"
          + (f" ({installed})" if installed in text else " (the run stopped after reading it)" if found else ""))
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sla2p-install-"))
    src, venv, elsewhere = tmp / "src", tmp / "venv", tmp / "elsewhere"
    for d in (src, elsewhere):
        d.mkdir()
    try:
        copy_tree(src)
        run([PYTHON, "-m", "venv", str(venv)], check=True)
        t0 = time.time()
        pip = run([str(venv / "bin" / "pip"), "install", "-c", str(src / "constraints.txt"), str(src)])
        print(f"$ pip install -c constraints.txt <copy>   (non-editable): exit {pip.returncode}, "
              f"{time.time() - t0:.0f} s")
        if pip.returncode:
            print(pip.stdout[-3000:] + pip.stderr[-3000:])
            return 1
        print(run([str(venv / "bin" / "pip"), "show", "sla2p-bench", "torch"]).stdout)
        ok = [dry_run(venv, elsewhere, None), dry_run(venv, elsewhere, ROOT)]
        return 0 if all(ok) else 1
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
