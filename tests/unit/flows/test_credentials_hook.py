"""A table run against a team server that refuses this shell's credentials stops before any work
with one line naming the variables to export (flows.cli._credentials), not a client traceback."""

from __future__ import annotations

import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from support import ROOT
from support.flows_cli import CLI, env_for


class _Refuses(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the stdlib's name)
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="mlflow"')
        self.end_headers()

    def log_message(self, *args):  # quiet
        pass


@pytest.mark.slow  # a CLI subprocess: about 10 s on an idle machine
def test_a_server_refusing_the_credentials_is_one_line_and_exit_2(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refuses)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        uri = f"http://127.0.0.1:{server.server_address[1]}"
        out = subprocess.run(CLI + ["table", "--profile", "smoke", "--datasets", "arrhythmia", "--methods", "iforest",
                                    "--results-dir", str(tmp_path / "results"), "--tracking-uri", uri],
                             cwd=ROOT, env=env_for(tmp_path), capture_output=True, text=True, timeout=300)
    finally:
        server.shutdown()
    assert out.returncode == 2, out.stdout + out.stderr
    lines = [ln for ln in out.stderr.splitlines() if "refuse" in ln]
    assert len(lines) == 1 and "MLFLOW_TRACKING_USERNAME" in lines[0] and "401" in lines[0], out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "results" / ".locks").exists()  # refused before the lock
