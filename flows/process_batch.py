"""The ``process-batch`` flow: a folder of scans -> results.csv, digits.csv, review.csv, errors.csv.

Reads like a to-do list: find the documents, process them one chunk per task, merge the parts, publish
artifacts. The work itself is ``ocr.batch`` (the library knows nothing of Prefect); this module adds
retries, the run logger, artifacts, the night's folder for schedules, and an optional Dask task runner.

Three ways in, one flow:

- ``ocr batch IN --out OUT`` (runner ``prefect``, entry point group ``ocr.runners``) -> :func:`run_batch_flow`;
- ``python -m flows.process_batch IN --out OUT [--dask-workers 2 | --dask-address tcp://...]``;
- a deployment (``prefect.yaml``: ``process-batch/nightly``, ``process-batch/adhoc``) run by a process worker.

Without ``PREFECT_API_URL`` the first two run in Prefect's ephemeral mode (a throw-away local API, no server).

Grain: one task per chunk of ``chunk_size`` documents, never per page or digit (each task run costs
tens of milliseconds of API traffic on a 2-core machine); every digit of a chunk goes through the
classifier in ``batch_size`` batches inside ``ocr.batch.process_chunk``.

Resume: ``process_chunk`` writes ``out/.parts/<chunk key>/`` atomically and returns at once when that part
is already complete, so a killed run started again only does the unfinished chunks. The chunk key is
derived from the documents' content hashes, so this is the task cache, kept by the library instead of
Prefect's result store (which would need result persistence configured on every worker).
"""

from __future__ import annotations

import os

# Set before Prefect is imported (its settings are read at import). Offline machines: no analytics
# calls. Slow 2-core CI machines: the ephemeral API server can take more than the default 20 s to start.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

from prefect import flow, get_run_logger, task, unmapped  # noqa: E402
from prefect.artifacts import create_markdown_artifact, create_table_artifact  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402
from prefect.client.orchestration import get_client  # noqa: E402
from prefect.runtime import flow_run  # noqa: E402

from ocr.batch import (  # noqa: E402
    BatchConfig,
    BatchSummary,
    Chunk,
    ChunkOutput,
    Document,
    check_output_dir,
    find_documents,
    get_classifier,
    merge_outputs,
    plan_chunks,
    process_chunk,
)
from ocr.classify import DEFAULT_BATCH, DEFAULT_FIELD_TARGET, DEFAULT_TARGET  # noqa: E402
from ocr.cli.common import add_model_options  # noqa: E402
from ocr.errors import OCRError  # noqa: E402
from ocr.templates import template_set  # noqa: E402

# --- the night's folder ---------------------------------------------------------------------------------


def run_date(date: str | None = None, timezone: str = "UTC") -> dt.date:
    """The date a run works for: ``date`` (``YYYY-MM-DD``) when given, else the run's scheduled start
    time in ``timezone`` (a cron run at 02:00 reads that night's folder even if it starts late), else today."""
    if date:
        return dt.date.fromisoformat(date)
    return flow_run.scheduled_start_time.astimezone(ZoneInfo(timezone)).date()


def fill_date(path: str, date: dt.date) -> str:
    """``"incoming/{date}"`` -> ``"incoming/2026-11-24"``; strftime codes work too: ``{date:%Y/%m/%d}``."""
    if "{" not in path:
        return path
    try:
        return path.format(date=date)
    except (KeyError, IndexError, ValueError) as exc:
        raise OCRError(f"folder {path!r}: the only placeholder is {{date}} (or {{date:%Y%m%d}}), not {exc}") from None


# --- tasks: coarse and idempotent -----------------------------------------------------------------------


def _retry_on_io(task, task_run, state) -> bool:
    """Retry I/O failures (a network share hiccup), not a bad template or a missing folder (OCRError):
    those fail the same way every time."""
    try:
        state.result()
    except OSError:
        return True
    except Exception:
        return False
    return False


@task(name="discover", retries=2, retry_delay_seconds=2, retry_condition_fn=_retry_on_io, cache_policy=NO_CACHE)
def discover_task(config: BatchConfig) -> list[Document]:
    """Check the output folder and the templates, then list the documents with their sha256, the files sent
    twice marked (within the batch, and against the ledger of earlier batches when there is one) (I/O)."""
    check_output_dir(config.out_dir)
    template_set(config.input_dir, config.templates_dir, config.template)  # bad templates fail before any work
    return find_documents(config)


@task(name="process-chunk", task_run_name="chunk-{chunk.index}", retries=1, retry_delay_seconds=2,
      retry_condition_fn=_retry_on_io, cache_policy=NO_CACHE)
def process_chunk_task(chunk: Chunk, config: BatchConfig) -> ChunkOutput:
    """One chunk of documents -> its part files (a finished part is reused: resume). Per-document failures
    are errors.csv rows inside the library, so a failed task means the part could not be written (I/O).
    The classifier is loaded once per process (``get_classifier``), so once per Dask worker too."""
    return process_chunk(chunk, config, get_classifier(config))


@task(name="merge", retries=2, retry_delay_seconds=2, retry_condition_fn=_retry_on_io, cache_policy=NO_CACHE)
def merge_task(config: BatchConfig, outputs: list[ChunkOutput]) -> BatchSummary:
    """The parts -> the batch's CSVs and manifest.json, each written atomically (I/O)."""
    return merge_outputs(config, outputs)


@flow(name="process-chunks-on-dask", validate_parameters=False)
def _chunks_on_dask(chunks: list, config: BatchConfig) -> list:
    futures = process_chunk_task.map(chunks, config=unmapped(config))
    return [f.result() for f in futures]


def _dask_runner(dask_address: str | None, dask_workers: int):
    from prefect_dask import DaskTaskRunner  # only needed when scaling out

    if dask_address:
        # Workers of an existing cluster must have this package installed and PREFECT_API_URL set to
        # the server's API (they report the task runs there).
        return DaskTaskRunner(address=dask_address)
    # The worker processes must report their task runs to this run's API. In ephemeral mode that API
    # is a temporary server known only to this process: without its address every Dask worker would
    # start a temporary server of its own (seconds each, and the task runs lost with it).
    api_url = str(get_client(sync_client=True).api_url).rstrip("/")
    # One thread per worker process: torch and OpenCV already use the cores; processes give each
    # worker its own classifier and its own GIL.
    return DaskTaskRunner(cluster_kwargs={"n_workers": dask_workers, "threads_per_worker": 1, "processes": True,
                                          "dashboard_address": None, "env": {"PREFECT_API_URL": api_url}})


# --- the flow -------------------------------------------------------------------------------------------


@flow(name="process-batch", log_prints=False)
def process_batch(
    input_dir: str,
    output_dir: str,
    templates: str | None = None,
    template: str | None = None,
    device: str = "auto",
    batch_size: int | None = DEFAULT_BATCH,
    chunk_size: int = 16,
    target_error: float = DEFAULT_TARGET,
    field_error: float | str = DEFAULT_FIELD_TARGET,
    weights: str | None = None,
    dask_address: str | None = None,
    dask_workers: int = 0,
    date: str | None = None,
    timezone: str = "UTC",
    max_pixels: int | None = None,
    pdf_dpi: float | None = None,
    ledger: str | None = None,
) -> BatchSummary:
    """Read every scan under ``input_dir`` and write the batch's CSVs to ``output_dir``.

    ``input_dir`` and ``output_dir`` may hold ``{date}``: the run's scheduled date in ``timezone``
    (or ``date``, ``YYYY-MM-DD``, to redo a given night). ``dask_address`` runs the chunk tasks on an
    existing Dask scheduler; ``dask_workers > 0`` on a local Dask cluster of that many processes;
    neither: in this process, one chunk after another. ``max_pixels``, ``pdf_dpi`` and ``ledger`` (a CSV of the files
earlier batches read: one read again is sent to review as sent twice): see ``ocr batch``.
    Returns the library's ``BatchSummary`` (its ``seconds`` and ``pages_per_second`` are the flow's wall time).
    """
    logger = get_run_logger()
    started = time.perf_counter()
    day = run_date(date, timezone)
    config = BatchConfig(**_config_values(
        input_dir=fill_date(input_dir, day), out_dir=fill_date(output_dir, day), templates_dir=templates,
        template=template, device=device, batch_size=batch_size, chunk_size=chunk_size, target_error=target_error,
        field_error=field_error,
        weights=weights, max_pixels=max_pixels, pdf_dpi=pdf_dpi, ledger=ledger))
    documents = discover_task(config)
    chunks = plan_chunks(documents, config.chunk_size, config)
    logger.info("%d documents in %s -> %d chunks of up to %d", len(documents), config.input_dir, len(chunks),
                config.chunk_size)
    if chunks and (dask_address or dask_workers > 0):
        logger.info("chunk tasks run on %s", dask_address or f"a local Dask cluster of {dask_workers} workers")
        outputs = _chunks_on_dask.with_options(task_runner=_dask_runner(dask_address, dask_workers))(chunks, config)
    else:
        # In this process, one chunk after another: a chunk already keeps the cores busy (torch, OpenCV),
        # and the classifier is shared, so threads would only contend.
        outputs = [process_chunk_task(chunk, config) for chunk in chunks]
    for out in outputs:
        logger.info("chunk %d%s: %s", out.index, " (reused, finished by an earlier run)" if out.reused else "",
                    _counts(out))
    summary = merge_task(config, outputs)
    summary.seconds = time.perf_counter() - started
    summary.pages_per_second = summary.pages / summary.seconds if summary.seconds > 0 else 0.0
    publish_artifacts(summary, config)
    logger.info("%s; %.1f s, %.2f pages/s; results in %s", _counts(summary), summary.seconds,
                summary.pages_per_second, summary.out_dir)
    return summary


def _config_values(**values) -> dict:
    """The flow's parameters for ``BatchConfig`` (``None`` keeps the library's default)."""
    return {k: v for k, v in values.items() if v is not None}


def _counts(record) -> str:
    return ", ".join(f"{k} {getattr(record, k)}" for k in ("documents", "pages", "fields", "accepted", "review",
                                                            "errors"))


def publish_artifacts(summary: BatchSummary, config: BatchConfig) -> None:
    """A table of the batch and a markdown summary linking the CSVs. The keys are fixed, so the UI keeps
    each night's version of both under the same artifact."""
    row = {"documents": summary.documents, "pages": summary.pages, "fields": summary.fields,
           "accepted": summary.accepted, "review": summary.review, "errors": summary.errors,
           "sent twice": summary.sent_twice, "pages/s": round(summary.pages_per_second, 2),
           "seconds": round(summary.seconds, 1), "chunks (reused)": f"{summary.chunks} ({summary.chunks_reused})"}
    create_table_artifact(key="process-batch-summary", table=[row],
                          description=f"Batch {config.input_dir} -> {config.out_dir}")
    links = []
    for label, path in (("results", summary.results_csv), ("review queue", summary.review_csv),
                        ("errors", summary.errors_csv), ("digits", summary.digits_csv),
                        ("manifest", summary.manifest)):
        path = Path(path).resolve()
        size = f" ({path.stat().st_size:,} bytes)" if path.exists() else ""
        links.append(f"- {label}: [{path.name}]({path.as_uri()}) `{path}`{size}")
    markdown = "\n".join([
        f"# Batch `{config.input_dir}`",
        "",
        f"{summary.documents} documents, {summary.pages} pages, {summary.fields} fields: "
        f"**{summary.accepted} accepted**, **{summary.review} to review**, **{summary.errors} errors**. "
        f"{summary.seconds:.1f} s, {summary.pages_per_second:.2f} pages/s.",
        *(["", f"**{summary.sent_twice} files sent twice** (the same bytes as a file read before): "
           "their fields are in the review queue, reason \"sent twice\"."] if summary.sent_twice else []),
        "",
        *links,
        "",
        "A person checks the rows of the review queue (fields or digits below the rejection threshold, "
        "with their crops); each failed document is one row of the errors file, with the reason.",
    ])
    create_markdown_artifact(key="process-batch-report", markdown=markdown, description=f"Batch {config.input_dir}")


# --- entry points without a server ----------------------------------------------------------------------


def run_batch_flow(config: BatchConfig, *, dask_address: str | None = None, dask_workers: int = 0) -> BatchSummary:
    """The ``prefect`` runner of ``ocr batch`` (entry point group ``ocr.runners``): ``config`` -> ``BatchSummary``
    through the flow, in this process (ephemeral mode unless ``PREFECT_API_URL`` names a server)."""
    def literal(path) -> str:  # no {date} filling here: a brace in a folder name stays a brace
        return str(path).replace("{", "{{").replace("}", "}}")

    return process_batch(
        input_dir=literal(config.input_dir), output_dir=literal(config.out_dir),
        templates=str(config.templates_dir) if config.templates_dir else None, template=config.template,
        device=config.device, batch_size=config.batch_size, chunk_size=config.chunk_size,
        target_error=config.target_error, field_error=config.field_error,
        weights=str(config.weights) if config.weights else None,
        dask_address=dask_address, dask_workers=dask_workers, max_pixels=config.max_pixels, pdf_dpi=config.pdf_dpi,
        ledger=str(config.ledger) if config.ledger else None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.process_batch",
                                     description="Run the process-batch flow in this process (no server needed).")
    parser.add_argument("input_dir", help="folder of scans; may hold {date} (the run's date)")
    parser.add_argument("--out", required=True, dest="output_dir", help="output folder; may hold {date}")
    parser.add_argument("--templates", help="folder of extra document templates (YAML)")
    parser.add_argument("--template", help="use this template for every document instead of detecting it")
    add_model_options(parser)
    parser.add_argument("--chunk-size", type=int, default=16, help="documents per task (default 16)")
    parser.add_argument("--dask-address", help="run the chunk tasks on this Dask scheduler (tcp://host:8786)")
    parser.add_argument("--dask-workers", type=int, default=0, help="run them on a local Dask cluster of N workers")
    parser.add_argument("--ledger", help="CSV of the files earlier batches read; a file read again goes to review")
    parser.add_argument("--date", help="YYYY-MM-DD for {date} (default: today in --timezone)")
    parser.add_argument("--timezone", default="UTC", help="time zone of {date} (default UTC)")
    args = parser.parse_args(argv)
    try:
        summary = process_batch(**vars(args))
    except OCRError as exc:
        print(f"ocr: {exc}", file=sys.stderr)
        return 2
    for label, value in summary.table():
        print(f"{label:<16} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
