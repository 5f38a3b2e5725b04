"""The Prefect flows against a throw-away Prefect API (``prefect_test_harness``), on small batches made
here with ``ocr.synth`` (MNIST test digits). The real server, deploy and worker are in test_deployment.py."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import yaml

pytest.importorskip("prefect")

from prefect.client.orchestration import get_client  # noqa: E402
from prefect.client.schemas.actions import DeploymentScheduleCreate  # noqa: E402
from prefect.client.schemas.filters import (  # noqa: E402
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterParentFlowRunId,
)
from prefect.client.schemas.schedules import CronSchedule  # noqa: E402
from prefect.flow_engine import run_flow  # noqa: E402
from prefect.testing.utilities import prefect_test_harness  # noqa: E402

from flows.process_batch import fill_date, process_batch, run_batch_flow  # noqa: E402
from ocr.batch import BatchConfig, discover, part_dir, plan_chunks, process_chunk, run_batch  # noqa: E402
from ocr.synth import write_batch  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CSVS = ("results.csv", "digits.csv", "review.csv", "errors.csv")


@pytest.fixture(scope="module")
def harness():
    with prefect_test_harness(server_startup_timeout=300):
        yield


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    """Five synthetic scans (cheques and forms) and one file that is not an image of a document."""
    folder = tmp_path_factory.mktemp("batch") / "incoming"
    write_batch("both", 5, seed=11, out=folder)
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    return folder


@pytest.fixture(scope="module")
def direct(batch, tmp_path_factory) -> Path:
    """The batch through the library runner, no Prefect: the reference outputs."""
    out = tmp_path_factory.mktemp("direct")
    run_batch(BatchConfig(input_dir=batch, out_dir=out, chunk_size=2, device="cpu"), progress=False)
    return out


def assert_same_csvs(got: Path, want: Path) -> None:
    for name in CSVS:
        assert (got / name).read_bytes() == (want / name).read_bytes(), name


def assert_same_rows(got: Path, want: Path) -> None:
    """Same CSVs but for the ``batch`` column (the batch is named after its folder)."""
    for name in CSVS:
        a, b = (pd.read_csv(d / name, dtype=str, keep_default_na=False) for d in (got, want))
        pd.testing.assert_frame_equal(a.drop(columns="batch", errors="ignore"),
                                      b.drop(columns="batch", errors="ignore"))


def test_flow_gives_the_library_csvs_and_publishes_artifacts(harness, batch, direct, tmp_path):
    out = tmp_path / "out"
    ledger = tmp_path / "ledger.csv"
    state = process_batch(input_dir=str(batch), output_dir=str(out), chunk_size=2, device="cpu", return_state=True,
                          ledger=str(ledger))
    assert state.is_completed()
    summary = state.result()
    assert_same_csvs(out, direct)
    # The ledger names every file read; the same files read again into another folder are all sent twice.
    read = pd.read_csv(out / "results.csv", dtype=str)["file"].unique()
    assert sorted(pd.read_csv(ledger, dtype=str)["file"]) == sorted(read)
    assert summary.sent_twice == 0
    twice = process_batch(input_dir=str(batch), output_dir=str(tmp_path / "again"), chunk_size=2, device="cpu",
                          ledger=str(ledger))
    assert twice.sent_twice == len(read) and ("sent twice", f"{len(read)} files (their fields are in review)") in (
        twice.table())
    again = pd.read_csv(tmp_path / "again" / "results.csv", dtype=str, keep_default_na=False)
    assert set(again["status"]) <= {"review", "error"} and again["reason"].str.startswith("sent twice").all()
    assert (summary.documents, summary.chunks) == (6, 3)
    assert summary.errors >= 1  # broken.png is one errors.csv row, the batch went on
    assert "broken.png" in (out / "errors.csv").read_text()

    flow_run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
        task_runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id={"any_": [flow_run_id]}))
    by_key = {a.key: a for a in artifacts}
    assert set(by_key) == {"process-batch-summary", "process-batch-report"}
    table = by_key["process-batch-summary"].data
    row = (yaml.safe_load(table) if isinstance(table, str) else table)[0]
    assert (row["documents"], row["fields"], row["accepted"], row["review"], row["errors"]) == (
        summary.documents, summary.fields, summary.accepted, summary.review, summary.errors)
    assert row["pages/s"] > 0
    report = by_key["process-batch-report"].data
    for name in ("results.csv", "review.csv", "errors.csv"):
        assert str((out / name).resolve()) in report
    # Coarse grain: one task per chunk, plus discover and merge; never one per page or digit.
    names = [t.name for t in task_runs]
    assert len(names) == 5
    assert sorted(n for n in names if n.startswith("chunk-")) == ["chunk-0", "chunk-1", "chunk-2"]


def test_local_dask_cluster_of_two_workers_gives_the_same_outputs(harness, batch, direct, tmp_path):
    out = tmp_path / "out"
    state = process_batch(input_dir=str(batch), output_dir=str(out), chunk_size=2, device="cpu", dask_workers=2,
                          return_state=True)
    assert state.is_completed()
    assert_same_csvs(out, direct)
    with get_client(sync_client=True) as client:
        children = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[state.state_details.flow_run_id])))
    # The chunk tasks ran under the Dask sub-flow, and were recorded in this run's API (not in a
    # temporary server per Dask worker).
    assert len(children) == 1
    with get_client(sync_client=True) as client:
        chunk_runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id={"any_": [children[0].id]}))
    assert sorted(t.name for t in chunk_runs) == ["chunk-0", "chunk-1", "chunk-2"]
    assert all(t.state_type.value == "COMPLETED" for t in chunk_runs)


def test_a_killed_run_started_again_redoes_only_unfinished_chunks(harness, batch, direct, tmp_path):
    out = tmp_path / "out"
    config = BatchConfig(input_dir=batch, out_dir=out, chunk_size=2, device="cpu")
    chunks = plan_chunks(discover(batch, exclude=[out]), 2, config)
    # The killed run had finished chunk 1 only (and had started chunk 2: a part without done.json).
    process_chunk(chunks[1], config)
    done = part_dir(config, chunks[1]) / "done.json"
    finished_at = done.stat().st_mtime_ns
    half_written = part_dir(config, chunks[2])
    shutil.copytree(part_dir(config, chunks[1]), half_written)
    (half_written / "done.json").unlink()

    summary = run_batch_flow(config)
    assert (summary.chunks, summary.chunks_reused) == (3, 1)
    assert done.stat().st_mtime_ns == finished_at
    assert_same_csvs(out, direct)

    # The same batch again: nothing redone, identical files, no duplicate rows.
    again = run_batch_flow(config)
    assert again.chunks_reused == 3
    assert_same_csvs(out, direct)


def test_nightly_cron_schedule_makes_runs_that_read_that_nights_folder(harness, batch, direct, tmp_path, monkeypatch):
    """The nightly deployment as prefect.yaml declares it: its cron schedule makes scheduled runs (here a
    backfill, through the same server code the scheduler service calls), and a run scheduled for
    2020-02-29 02:00 reads incoming/2020-02-29 and writes out/nightly/2020-02-29."""
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    nightly = next(d for d in spec["deployments"] if d["name"] == "nightly")
    cron = nightly["schedules"][0]
    tz = ZoneInfo(cron["timezone"])
    monkeypatch.chdir(tmp_path)  # the deployment's folders are relative to the working directory
    night = tmp_path / fill_date(nightly["parameters"]["input_dir"], dt.date(2020, 2, 29))
    night.parent.mkdir(parents=True)
    shutil.copytree(batch, night)
    parameters = {**nightly["parameters"], "chunk_size": 2, "device": "cpu"}

    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("process-batch")
        deployment_id = client.create_deployment(
            flow_id=flow_id, name="nightly", entrypoint=nightly["entrypoint"], parameters=parameters,
            schedules=[DeploymentScheduleCreate(schedule=CronSchedule(cron=cron["cron"], timezone=cron["timezone"]),
                                                active=True)])
        start = dt.datetime(2020, 2, 28, 12, 0, tzinfo=tz)
        response = client.request("POST", "/deployments/{id}/schedule", path_params={"id": deployment_id},
                                  json={"start_time": start.isoformat(), "end_time": (start + dt.timedelta(days=2))
                                        .isoformat(), "max_runs": 10})
        response.raise_for_status()
        runs = client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])))
    starts = sorted(r.expected_start_time.astimezone(tz) for r in runs)
    assert [s.strftime("%Y-%m-%d %H:%M") for s in starts] == ["2020-02-29 02:00", "2020-03-01 02:00"]
    assert all(r.state_type.value == "SCHEDULED" for r in runs)

    run = next(r for r in runs if r.expected_start_time.astimezone(tz).date() == dt.date(2020, 2, 29))
    summary = run_flow(process_batch, flow_run=run, parameters=run.parameters)
    assert summary.out_dir == Path("out/nightly/2020-02-29")
    assert_same_rows(tmp_path / "out" / "nightly" / "2020-02-29", direct)
    assert "2020-02-29" in (tmp_path / "out" / "nightly" / "2020-02-29" / "results.csv").read_text()


def test_train_flow_publishes_the_model_card(harness, tmp_path):
    from flows.train_lenet5 import train_lenet5

    # A tiny "training set" for the plumbing only: 400 digits of the shipped MNIST test files under the
    # training file names; the weights go to tmp_path and are thrown away.
    data = tmp_path / "mnist"
    data.mkdir()
    shipped = REPO / "data" / "mnist"
    (data / "train-images-idx3-ubyte.gz").symlink_to(shipped / "t10k-images-idx3-ubyte.gz")
    (data / "train-labels-idx1-ubyte.gz").symlink_to(shipped / "t10k-labels-idx1-ubyte.gz")
    out = tmp_path / "model" / "lenet5.pt"
    state = train_lenet5(data_dir=str(data), epochs=1, seed=3, out=str(out), device="cpu", limit=400, val_size=80,
                         checkpoint_dir=str(tmp_path / "ckpt"), fields=15, init_seed=5, pair_fields=20, pair_epochs=1,
                         return_state=True)
    assert state.is_completed()
    card = state.result()
    assert out.is_file() and out.with_suffix(".json").is_file()
    assert card["training"]["config"]["epochs"] == 1
    # The shipped recipe's options reach ocr.train: field strips trained on and calibrated with.
    assert card["training"]["config"]["fields"] == 15 and card["training"]["config"]["init_seed"] == 5
    assert card["calibration"]["fields"]["n"] == 15  # strips per type, as many as --fields
    assert card["pairs"]["fields"] == 20 and len(card["pairs"]["history"]) == 1  # the two-digit detector too
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])))
    by_key = {a.key: a for a in artifacts}
    assert "# Model card: LeNet-5" in by_key["lenet5-model-card"].data
    assert "## Two-digit detector" in by_key["lenet5-model-card"].data
    assert f"{100 * card['test']['error']:.2f}%" in by_key["lenet5-model-card"].data


def test_a_per_type_field_error_is_a_flow_parameter_and_a_typo_fails_the_run_at_once(harness, batch, tmp_path):
    out = tmp_path / "out"
    state = process_batch(input_dir=str(batch), output_dir=str(out), device="cpu", field_error="zap=0.01",
                          return_state=True)
    assert state.is_failed()
    assert "unknown field type 'zap'" in state.message
    assert not (out / "results.csv").exists()
