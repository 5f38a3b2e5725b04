"""Soak: N documents through one batch in one process; pages/s and memory over time, which must stay flat.

    .venv/bin/python benchmarks/soak.py --n 5000                 # the issue's soak (about 1 h on 2 busy cores)
    .venv/bin/python benchmarks/soak.py --n 800 --runner local   # shorter, the library runner

The documents are the 20 sample scans of ``data/samples`` copied (hard links where possible) into sub-folders
(``0042/cheque-7-0000.jpg``...; ``batch.yaml`` rules still apply), so every document is real work
and the outputs can be checked: each copy must read exactly like its original (in review where the original
was accepted: a copy is sent twice). ``--runner flow`` (default)
runs the ``process-batch`` Prefect flow in this process (ephemeral API); ``local`` calls
``ocr.batch.run_batch``.

While the batch runs, a thread samples this process's resident memory (RSS; psutil when installed, else
/proc/self/status) and that of its child processes (the ephemeral Prefect API server) every
``--interval`` seconds. Afterwards each chunk's completion time and pages are read from its part
(``out/.parts/*/done.json``), and the run is cut into ``--windows`` windows of documents, printing per window:
documents done, elapsed seconds, pages/s in that window, this process's CPU milliseconds per page (flat CPU per
page with falling pages/s means a busy machine, not a slower pipeline), the 1-minute load average, RSS at its
end and the highest RSS seen so far.
The last line compares the RSS after the first window (warm: model loaded, caches filled) with the end.
Outputs go under /tmp (``--work``); nothing is written in the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"
MIB = 1024 * 1024


def _rss_bytes() -> tuple[int, int]:
    """(this process's RSS, its children's RSS) in bytes."""
    try:
        import psutil

        me = psutil.Process()
        kids = 0
        for c in me.children(recursive=True):
            try:
                kids += c.memory_info().rss
            except psutil.Error:
                pass
        return me.memory_info().rss, kids
    except ImportError:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024, 0
        return 0, 0


def _peak_rss_bytes() -> int:
    """The process's high-water mark (VmHWM), which a short peak between two samples cannot hide from."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Sampler(threading.Thread):
    """(seconds since start, RSS, children's RSS, VmHWM, CPU seconds of this process, load average) every
    ``interval`` seconds."""

    def __init__(self, interval: float):
        super().__init__(daemon=True)
        self.interval = interval
        self.samples: list[tuple[float, int, int, int, float, float]] = []
        self.stop = threading.Event()
        self.t0 = time.time()

    def run(self) -> None:
        while not self.stop.is_set():
            rss, kids = _rss_bytes()
            cpu = os.times()
            self.samples.append((time.time() - self.t0, rss, kids, _peak_rss_bytes(), cpu.user + cpu.system,
                                 os.getloadavg()[0]))
            self.stop.wait(self.interval)


def make_input(n: int, folder: Path) -> dict[str, str]:
    """``n`` copies of the sample scans in ``folder``, in sub-folders of 20 (one of each original, so every
    window of the batch has the same mix of cheques and forms); returns relative path -> original name."""
    originals = sorted(p for p in SAMPLES.iterdir() if p.suffix.lower() in (".jpg", ".png", ".tif"))
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    shutil.copy(SAMPLES / "batch.yaml", folder / "batch.yaml")
    mapping = {}
    for i in range(n):
        src = originals[i % len(originals)]
        dst = folder / f"{i // len(originals):04d}" / src.name
        dst.parent.mkdir(exist_ok=True)
        try:
            os.link(src, dst)
        except OSError:  # another file system: copy
            shutil.copy(src, dst)
        mapping[dst.relative_to(folder).as_posix()] = src.name
    return mapping


def chunk_times(out: Path, t0: float) -> list[tuple[float, int, int]]:
    """(seconds since t0 when the chunk finished, documents, pages) per chunk, in finishing order."""
    rows = []
    for done in out.glob(".parts/*/done.json"):
        info = json.loads(done.read_text())
        rows.append((done.stat().st_mtime - t0, int(info["counts"]["documents"]), int(info["counts"]["pages"])))
    return sorted(rows)


def check_outputs(out: Path, mapping: dict[str, str], reference: Path | None) -> str:
    """Every copy has rows; when a reference run of the 20 originals exists, each copy reads like its original."""
    import pandas as pd

    res = pd.read_csv(out / "results.csv", dtype=str, keep_default_na=False)
    err = pd.read_csv(out / "errors.csv", dtype=str, keep_default_na=False)
    seen = set(res["file"]) | set(err["file"])
    missing = sorted(set(mapping) - seen)
    msg = f"documents with rows: {len(seen)} of {len(mapping)}; errors: {len(err)}"
    if missing:
        msg += f"; MISSING {len(missing)} (e.g. {missing[:3]})"
    if reference is not None:
        ref = pd.read_csv(reference / "results.csv", dtype=str, keep_default_na=False)
        want = {(f, fld): (v, s) for f, fld, v, s in zip(ref["file"], ref["field"], ref["value"], ref["status"],
                                                           strict=True)}
        # A copy is byte for byte its original: the batch reads it the same and, being sent twice, never accepts
        # it (ocr.batch.sent_twice: "review", the reason saying so), so an accepted original's copy is in review.
        def same(f, fld, v, s, why) -> bool:
            value, status = want.get((mapping[f], fld), (None, None))
            twice = why.startswith("sent twice") and status == "accepted" and s == "review"
            return v == value and (s == status or twice)

        differ = sum(not same(*row) for row in zip(res["file"], res["field"], res["value"], res["status"],
                                                   res["reason"], strict=True))
        msg += f"; fields reading differently from their original: {differ}"
    return msg


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=5000, help="documents (default 5000)")
    ap.add_argument("--runner", choices=("flow", "local"), default="flow")
    ap.add_argument("--chunk-size", type=int, default=16)
    ap.add_argument("--windows", type=int, default=10, help="rows of the table (windows of N/windows documents)")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between memory samples")
    ap.add_argument("--threads", type=int, default=2, help="torch/OpenCV threads")
    ap.add_argument("--work", type=Path, default=Path("/tmp/ocr-soak"), help="input and output folders go here")
    args = ap.parse_args(argv)
    if args.n < 1:
        ap.error("--n must be at least 1")

    import cv2
    import torch

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    sys.path.insert(0, str(ROOT))
    from ocr.batch import BatchConfig, run_batch

    inp = args.work / "batch"
    mapping = make_input(args.n, inp)
    # The 20 originals once, to check that every copy in the soak reads exactly like its original.
    reference = args.work / "reference"
    shutil.rmtree(reference, ignore_errors=True)
    run_batch(BatchConfig(input_dir=SAMPLES, out_dir=reference, device="cpu", chunk_size=args.chunk_size),
              progress=False)
    out = args.work / "out"
    shutil.rmtree(out, ignore_errors=True)
    config = BatchConfig(input_dir=inp, out_dir=out, device="cpu", chunk_size=args.chunk_size)
    if args.runner == "flow":
        from flows.process_batch import run_batch_flow as run
    else:
        def run(cfg):
            return run_batch(cfg, progress=False)

    sampler = Sampler(args.interval)
    sampler.start()
    start = time.perf_counter()
    summary = run(config)
    wall = time.perf_counter() - start
    sampler.stop.set()
    sampler.join()
    chunks = chunk_times(out, sampler.t0)

    print(f"soak: {args.n} documents, runner {args.runner}, chunk size {args.chunk_size}, "
          f"{args.threads} threads, {os.cpu_count()} cores")
    print(f"{'docs done':>10} {'t (s)':>8} {'pages':>6} {'pages/s':>8} {'CPU ms/page':>11} {'load':>5} "
          f"{'RSS MiB':>8} {'peak MiB':>9} {'child MiB':>9}")
    per = max(1, args.n // args.windows)
    done_docs, done_pages, last_t, last_pages, boundary = 0, 0, 0.0, 0, per
    first_window = True
    rss_warm = None
    samples = sampler.samples
    last_cpu = samples[0][4] if samples else 0.0
    for t, docs, pages in chunks:
        done_docs += docs
        done_pages += pages
        if done_docs >= boundary or (done_docs == args.n):
            upto = [s for s in samples if s[0] <= t] or samples[:1]
            window = [s for s in upto if s[0] > last_t] or upto[-1:]
            rss = upto[-1][1] / MIB
            peak = upto[-1][3] / MIB
            kids = max(s[2] for s in window) / MIB
            rate = (done_pages - last_pages) / max(t - last_t, 1e-9)
            cpu_ms = (upto[-1][4] - last_cpu) * 1000 / max(done_pages - last_pages, 1)
            load = sum(s[5] for s in window) / len(window)
            last_cpu = upto[-1][4]
            if first_window:  # includes loading the model and (flow) starting the API: not a steady rate
                rate_txt, first_window, rss_warm = f"({rate:.2f})", False, rss
            else:
                rate_txt = f"{rate:.2f}"
            print(f"{done_docs:>10} {t:>8.0f} {done_pages:>6} {rate_txt:>8} {cpu_ms:>11.0f} {load:>5.1f} {rss:>8.0f} "
                  f"{peak:>9.0f} {kids:>9.0f}")
            last_t, last_pages = t, done_pages
            boundary = (done_docs // per + 1) * per
    rss_end = samples[-1][1] / MIB if samples else 0.0
    print(f"total: {summary.pages} pages in {wall:.0f} s = {summary.pages / wall:.2f} pages/s "
          f"(stages: {', '.join(f'{k} {v:.0f} s' for k, v in summary.timings.items())})")
    if rss_warm is not None:
        print(f"RSS after the first window {rss_warm:.0f} MiB, at the end {rss_end:.0f} MiB "
              f"({rss_end - rss_warm:+.0f} MiB); peak (VmHWM) {_peak_rss_bytes() / MIB:.0f} MiB")
    print(check_outputs(out, mapping, reference))
    return 0


if __name__ == "__main__":
    sys.exit(main())
