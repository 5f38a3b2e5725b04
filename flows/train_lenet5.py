"""The ``train-lenet5`` flow: ``ocr train`` as a Prefect run, with the model card as a markdown artifact.

Thin: :func:`ocr.train.train` trains, calibrates, evaluates on the MNIST test set and writes the weights,
``<stem>.json`` and ``README.md`` beside them; the flow logs its progress through the run logger and
publishes the card. Training is one task (one long computation; retrying it would only repeat it), with
``resume`` to continue from the last epoch's checkpoint after a crash.
"""

from __future__ import annotations

import os

# Before Prefect is imported: see flows/process_batch.py.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.artifacts import create_markdown_artifact, create_table_artifact  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402

from ocr.train import TrainConfig, card_markdown, train, train_pair_detector  # noqa: E402


@task(name="train", cache_policy=NO_CACHE)
def train_task(config: TrainConfig) -> dict:
    logger = get_run_logger()
    return train(config, progress=False, log=logger.info)


@task(name="train-pairs", cache_policy=NO_CACHE)
def pairs_task(weights: str, data_dir: str | None, fields: int, epochs: int, workers: int, device: str) -> dict:
    return train_pair_detector(Path(weights), data_dir, fields=fields, epochs=epochs, workers=workers, device=device,
                               log=get_run_logger().info)


@flow(name="train-lenet5", log_prints=False)
def train_lenet5(
    data_dir: str | None = None,
    epochs: int = 30,
    seed: int = 0,
    out: str = "models/lenet5.pt",
    device: str = "auto",
    batch_size: int = 128,
    limit: int | None = None,
    val_size: int = 10_000,
    checkpoint_dir: str = "runs/lenet5",
    resume: bool = False,
    fields: int = 0,
    workers: int = 1,
    init_seed: int | None = None,
    init: str | None = None,
    graph_fields: int = 0,
    graph_epochs: int = 0,
    pair_fields: int = 0,
    pair_epochs: int = 3,
) -> dict:
    """Train LeNet-5 on the MNIST training set in ``data_dir`` (else ``$OCR_MNIST_DIR``) and publish the card.

    ``limit`` trains on the first N digits only (smoke runs). ``fields`` and ``workers`` as ``ocr train
    --fields N --workers N`` (the shipped recipe: ``epochs=40, fields=10000, workers=2``); ``init_seed``
    as ``--init-seed`` (another network on the same data, for ``ocr committee``); ``init``, ``graph_fields``
    and ``graph_epochs`` as ``--init``, ``--graph-fields`` and ``--graph-epochs`` (field-level training on
    segmentation graphs, from trained weights: ``init=<weights>, epochs=0, graph_fields=15000,
    graph_epochs=10``; measured and not adopted for the shipped weights, see the README). ``pair_fields``:
    then train the two-digit detector on that many strips for ``pair_epochs`` (``ocr train-pairs --fields N
    --epochs E``; the shipped recipe: 30000 and 3). Returns the model card.
    """
    config = TrainConfig(data_dir=data_dir, out=out, epochs=epochs, seed=seed, device=device, batch_size=batch_size,
                         limit=limit, val_size=val_size, checkpoint_dir=checkpoint_dir, resume=resume,
                         fields=fields, workers=workers, init_seed=init_seed, init=init,
                         graph_fields=graph_fields, graph_epochs=graph_epochs)
    card = train_task(config)
    if pair_fields:
        card = pairs_task(out, data_dir, pair_fields, pair_epochs, workers, device)
    test = card["test"]
    create_table_artifact(key="lenet5-test-figures", table=[{
        "weights": str(Path(out)), "epochs": len(card["training"]["history"]), "seed": seed,
        "test error %": round(100 * test["error"], 3),
        "rejection for 0.5% error %": round(100 * test["rejection_for_0.5%_error"], 2),
    }], description="LeNet-5 on the MNIST test set")
    create_markdown_artifact(key="lenet5-model-card", markdown=card_markdown(card, Path(out).stem),
                             description=f"Model card of {out}")
    get_run_logger().info("test error %.2f%%; weights %s", 100 * test["error"], out)
    return card


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.train_lenet5", description="Run train-lenet5 in-process.")
    parser.add_argument("--data", dest="data_dir", help="MNIST training folder (default $OCR_MNIST_DIR)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="models/lenet5.pt")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--limit", type=int, help="train on the first N digits only (smoke runs)")
    parser.add_argument("--fields", type=int, default=0, help="as `ocr train --fields` (shipped recipe: 10000)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--init-seed", type=int, default=None)
    parser.add_argument("--init", default=None, help="as `ocr train --init` (weights to start from)")
    parser.add_argument("--graph-fields", type=int, default=0, help="as `ocr train --graph-fields`")
    parser.add_argument("--graph-epochs", type=int, default=0, help="as `ocr train --graph-epochs`")
    parser.add_argument("--pair-fields", type=int, default=0, help="as `ocr train-pairs --fields` (0: no detector)")
    parser.add_argument("--pair-epochs", type=int, default=3, help="as `ocr train-pairs --epochs`")
    args = parser.parse_args(argv)
    card = train_lenet5(**vars(args))
    print(f"test error {100 * card['test']['error']:.2f}%  weights {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
