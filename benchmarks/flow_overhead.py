"""Orchestration overhead of the process-batch flow: the flow's wall time vs. calling the library
(``ocr.batch.run_batch``) directly, on the sample batch scaled to N documents, in one process.

    python benchmarks/flow_overhead.py --docs 1000            # copies of data/samples under new names
    python benchmarks/flow_overhead.py --docs 200 --chunk-size 16 --device cpu

Both runs use the same classifier (loaded once, by a warm-up run of each on a few documents that also
starts Prefect's ephemeral API), fresh output folders, and the same chunks. Prints a table: seconds,
pages/s, and the flow's overhead in percent (target <= 10%). The ephemeral API's start-up, paid once
per process by ``ocr batch``/``python -m flows.process_batch`` and not at all with a server, is shown apart.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")  # the run logger's per-chunk lines would dominate output

REPO = Path(__file__).resolve().parent.parent
SCAN_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".pdf"}


def scaled_batch(samples: Path, n: int, dest: Path) -> Path:
    """``n`` documents: the sample scans copied round-robin under new names (``<stem>-c<k>.<ext>``, so the
    batch.yaml rules ``cheque-*``/``form-*`` still apply), plus the batch's batch.yaml."""
    scans = sorted(p for p in samples.iterdir() if p.suffix.lower() in SCAN_SUFFIXES)
    if not scans:
        raise SystemExit(f"no scans in {samples}")
    dest.mkdir(parents=True)
    if (samples / "batch.yaml").is_file():
        shutil.copy(samples / "batch.yaml", dest / "batch.yaml")
    for i in range(n):
        src = scans[i % len(scans)]
        shutil.copy(src, dest / f"{src.stem}-c{i // len(scans):03d}{src.suffix}")
    return dest


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and of its children still running (the ephemeral
    Prefect API server): unlike wall time, barely moved by other jobs on a shared machine."""
    import psutil  # installed with distributed (the flows extra)

    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for child in me.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.Error:
            pass
    return total


def main() -> None:
    from ocr.classify import BATCH_HELP, batch_size_option

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=1000, help="documents in the scaled batch (default 1000)")
    parser.add_argument("--samples", type=Path, default=REPO / "data" / "samples")
    parser.add_argument("--chunk-size", type=int, default=16)
    parser.add_argument("--batch-size", type=batch_size_option, default=None, help=BATCH_HELP)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeat", type=int, default=2, help="library/flow pairs, alternating (default 2)")
    parser.add_argument("--dask-workers", type=int, default=0,
                        help="also time the flow on a local Dask cluster of N worker processes")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one, removed after)")
    args = parser.parse_args()

    from flows.process_batch import process_batch
    from ocr.batch import BatchConfig, run_batch

    work = args.work or Path(tempfile.mkdtemp(prefix="flow-overhead-"))
    try:
        batch = scaled_batch(args.samples, args.docs, work / "batch")
        warm = scaled_batch(args.samples, 2, work / "warm")
        common = dict(chunk_size=args.chunk_size, batch_size=args.batch_size, device=args.device)

        t = time.perf_counter()
        run_batch(BatchConfig(input_dir=warm, out_dir=work / "warm-lib", **common), progress=False)
        load_s = time.perf_counter() - t
        t = time.perf_counter()
        process_batch(input_dir=str(warm), output_dir=str(work / "warm-flow"), **common)
        warm_flow_s = time.perf_counter() - t

        # Alternate library and flow runs (--repeat pairs) so that a change in the machine's load hits both.
        lib_times, flow_times, lib_cpu, flow_cpu = [], [], [], []
        for r in range(args.repeat):
            t, c = time.perf_counter(), cpu_seconds()
            lib = run_batch(BatchConfig(input_dir=batch, out_dir=work / f"out-lib{r}", **common), progress=False)
            lib_times.append(time.perf_counter() - t)
            lib_cpu.append(cpu_seconds() - c)
            t, c = time.perf_counter(), cpu_seconds()
            flow = process_batch(input_dir=str(batch), output_dir=str(work / f"out-flow{r}"), **common)
            flow_times.append(time.perf_counter() - t)
            flow_cpu.append(cpu_seconds() - c)

        dask_s = None
        if args.dask_workers:
            t = time.perf_counter()
            process_batch(input_dir=str(batch), output_dir=str(work / "out-dask"), dask_workers=args.dask_workers,
                          **common)
            dask_s = time.perf_counter() - t
        outs = [f"out-flow{r}" for r in range(args.repeat)] + (["out-dask"] if dask_s else [])
        same = all((work / "out-lib0" / n).read_bytes() == (work / o / n).read_bytes()
                   for n in ("results.csv", "digits.csv", "review.csv", "errors.csv") for o in outs)
        chunks = -(-lib.documents // args.chunk_size)
        print(f"documents {lib.documents}, pages {lib.pages}, fields {lib.fields}, chunks {chunks} of "
              f"{args.chunk_size}, device {args.device}, {os.cpu_count()} CPUs; identical CSVs: {same}")
        print(f"warm-up: classifier load + 2 documents {load_s:.1f} s (library); "
              f"ephemeral Prefect API start + 2 documents {warm_flow_s:.1f} s (flow, once per process)")
        print()
        print("| run | library s | flow s | library pages/s | flow pages/s | overhead (wall) | "
              "library CPU s | flow CPU s | overhead (CPU) |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        rows = list(zip(lib_times, flow_times, lib_cpu, flow_cpu, strict=True))
        med = [statistics.median(col) for col in zip(*rows, strict=True)]
        for r, (a, b, ca, cb) in [*enumerate(rows, 1), ("median", med)]:
            print(f"| {r} | {a:.1f} | {b:.1f} | {lib.pages / a:.2f} | {flow.pages / b:.2f} | "
                  f"{100 * (b - a) / a:+.1f}% | {ca:.1f} | {cb:.1f} | {100 * (cb - ca) / ca:+.1f}% |")
        if dask_s:
            print(f"\nflow on a local Dask cluster of {args.dask_workers} workers (cluster start included): "
                  f"{dask_s:.1f} s, {flow.pages / dask_s:.2f} pages/s")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
