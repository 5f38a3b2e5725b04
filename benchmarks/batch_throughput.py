"""Batch throughput: pages per second, where the time goes, cost per page as the batch grows, peak memory.

    .venv/bin/python benchmarks/batch_throughput.py --sizes 100 400 --threads 2

For each size N, writes N synthetic documents (half cheques, half forms, 200 dpi) under /tmp (made once
and reused), runs the library runner (``ocr.batch.run_batch``) on them in a fresh process limited to
``--threads`` torch/OpenCV threads, and prints: pages, seconds, pages/s, ms per page, seconds per stage
(load, register, fields = crop + clean + segment + normalise, classify = forward passes, write) and the
peak resident memory of that process (``resource.getrusage``, in MiB).
Flat ms/page and flat peak memory from small to large batches mean the batch is streamed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from ocr.classify import BATCH_HELP, batch_size_option  # noqa: E402


def _child(args) -> None:
    """Run one batch in this process and print its figures as JSON (the parent prints the table)."""
    import cv2
    import torch

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    from ocr.batch import BatchConfig, run_batch

    out = Path(tempfile.mkdtemp(prefix="ocr-throughput-", dir="/tmp"))
    cfg = BatchConfig(input_dir=args.input, out_dir=out, device=args.device, chunk_size=args.chunk_size,
                      batch_size=args.batch_size)
    t = time.perf_counter()
    s = run_batch(cfg, progress=False)
    wall = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux -> MiB
    print(json.dumps({"pages": s.pages, "fields": s.fields, "seconds": wall, "timings": s.timings,
                      "peak_mib": peak, "accepted": s.accepted, "errors": s.errors}))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 400])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--chunk-size", type=int, default=16)
    ap.add_argument("--batch-size", type=batch_size_option, default=None, help=BATCH_HELP)
    ap.add_argument("--data", type=Path, default=Path("/tmp/ocr-throughput-data"),
                    help="where the synthetic batches are written (reused between runs)")
    ap.add_argument("--seed", type=int, default=900)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(args)
        return 0
    from ocr.synth import write_batch

    rows = []
    for n in args.sizes:
        folder = args.data / f"n{n}"
        if not (folder / "truth.csv").is_file():
            print(f"writing {n} synthetic documents to {folder} ...", file=sys.stderr)
            write_batch("both", n, args.seed, folder, dpi=200)
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
        cmd = [sys.executable, __file__, "--child", "--input", str(folder), "--threads", str(args.threads),
               "--device", args.device, "--chunk-size", str(args.chunk_size),
               "--batch-size", str(args.batch_size or "auto")]
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        fig = json.loads(res.stdout.strip().splitlines()[-1])
        fig["n"] = n
        rows.append(fig)
    stages = ["load", "register", "fields", "classify", "write"]
    print(f"threads {args.threads}, device {args.device}, chunk size {args.chunk_size}, "
          f"batch size {args.batch_size or 'auto'}")
    head = f"{'docs':>6} {'pages':>6} {'seconds':>8} {'pages/s':>8} {'ms/page':>8} " + \
        " ".join(f"{s:>9}" for s in stages) + f" {'peak MiB':>9}"
    print(head)
    print("-" * len(head))
    for f in rows:
        per = 1000 * f["seconds"] / max(f["pages"], 1)
        st = " ".join(f"{f['timings'].get(s, 0.0) / f['seconds']:>8.0%} " for s in stages)
        print(f"{f['n']:>6} {f['pages']:>6} {f['seconds']:>8.1f} {f['pages'] / f['seconds']:>8.2f} {per:>8.0f} "
              f"{st}{f['peak_mib']:>9.0f}")
    print("(stage columns: share of the wall time; the rest is discovery, hashing and merging)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
