"""Integration test with real parts: a Prefect server, the process work pool, `prefect deploy` from
prefect.yaml, `prefect deployment run`, a process worker, and the CSVs it writes.

Runs by default (CI included); set OCR_SKIP_PREFECT_SERVER_TEST=1 to skip it. Slow machines: the waits are
generous (OCR_PREFECT_TEST_TIMEOUT seconds, default 300, for each of server start-up and the run).
Every process started here is stopped here: the worker (SIGTERM, then SIGKILL: it ignores one SIGTERM
while busy) before the server.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

pytestmark = pytest.mark.skipif(bool(os.environ.get("OCR_SKIP_PREFECT_SERVER_TEST")),
                                reason="OCR_SKIP_PREFECT_SERVER_TEST is set")

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "data" / "samples"
TIMEOUT = float(os.environ.get("OCR_PREFECT_TEST_TIMEOUT", "300"))
CSVS = ("results.csv", "digits.csv", "review.csv", "errors.csv")
PREFECT = [sys.executable, "-m", "prefect"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen, grace: float = 20.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left after ``grace`` seconds."""
    if proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue
    proc.wait(timeout=grace)


def _api(base: str, path: str, body: dict | None = None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _cli(env: dict, *args: str, timeout: float = TIMEOUT) -> str:
    done = subprocess.run([*PREFECT, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"prefect {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory):
    """A real `prefect server start` on a free local port with a throw-away PREFECT_HOME; yields the env."""
    home = tmp_path_factory.mktemp("prefect_home")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), PREFECT_API_URL=f"http://127.0.0.1:{port}/api",
               PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_CLI_PROMPT="false", PREFECT_SERVER_UI_ENABLED="false",
               PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="300")
    log = open(home / "server.log", "w")  # noqa: SIM115 (closed below)
    server = subprocess.Popen([*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                if _api(env["PREFECT_API_URL"], "/health") is True:
                    break
            except OSError:
                pass
            assert server.poll() is None, f"server exited: {(home / 'server.log').read_text()[-3000:]}"
            assert time.monotonic() < deadline, "server did not start in time"
            time.sleep(1)
        yield env
    finally:
        _stop(server)
        log.close()


def _nightly_schedule() -> dict:
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    nightly = next(d for d in spec["deployments"] if d["name"] == "nightly")
    return nightly["schedules"][0]


def _sample_batch(dest: Path) -> Path:
    if not SAMPLES.is_dir():
        pytest.fail(f"the sample batch {SAMPLES} is missing")
    shutil.copytree(SAMPLES, dest)
    return dest


def test_deploy_run_adhoc_with_a_process_worker(prefect_server, tmp_path):
    from ocr.batch import BatchConfig, run_batch

    env = prefect_server
    api = env["PREFECT_API_URL"]
    batch = _sample_batch(tmp_path / "incoming")

    _cli(env, "work-pool", "create", "ocr-pool", "--type", "process")
    _cli(env, "--no-prompt", "deploy", "--all")
    deployments = {d["name"]: d for d in _api(api, "/deployments/filter", {})}
    assert set(deployments) == {"nightly", "adhoc", "manual"}
    assert deployments["nightly"]["parameters"]["input_dir"] == "incoming/{date}"
    assert deployments["nightly"]["parameters"]["ledger"] == "out/nightly/ledger.csv"

    out = tmp_path / "out-deployed"
    created = _cli(env, "deployment", "run", "process-batch/adhoc", "-p", f"input_dir={batch}",
                   "-p", f"output_dir={out}", "-p", "device=cpu")
    run_id = re.search(r"UUID: ([0-9a-f-]{36})", created).group(1)

    worker_log = open(tmp_path / "worker.log", "w")  # noqa: SIM115 (closed below)
    worker = subprocess.Popen([*PREFECT, "worker", "start", "--pool", "ocr-pool", "--run-once"], cwd=tmp_path,
                              env=env, stdout=worker_log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # Meanwhile, in this process: the same batch through the library, and the nightly schedule.
        direct = tmp_path / "out-direct"
        run_batch(BatchConfig(input_dir=batch, out_dir=direct, device="cpu"), progress=False)
        # The nightly cron schedule makes scheduled runs on the server (the scheduler service does this; it
        # silently never did with SQLAlchemy 2.1).
        deadline = time.monotonic() + TIMEOUT
        while not (runs := _api(api, "/flow_runs/filter",
                                {"deployments": {"id": {"any_": [deployments["nightly"]["id"]]}}})):
            assert time.monotonic() < deadline, "the nightly schedule made no scheduled run"
            time.sleep(2)
        timezone = ZoneInfo(_nightly_schedule()["timezone"])
        assert all(r["state_type"] == "SCHEDULED" for r in runs)
        assert all(dt.datetime.fromisoformat(r["expected_start_time"]).astimezone(timezone).strftime("%H:%M")
                   == "02:00" for r in runs)
        worker.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        pass
    finally:
        _stop(worker)  # before the server (the fixture stops it)
        worker_log.close()
    run = _api(api, f"/flow_runs/{run_id}")
    assert run["state_type"] == "COMPLETED", (tmp_path / "worker.log").read_text()[-5000:]
    for name in CSVS:
        assert (out / name).read_bytes() == (direct / name).read_bytes(), name
