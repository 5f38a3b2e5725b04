"""Prefect flows around the ``ocr`` library: orchestration only (tasks, retries, artifacts, schedules).

- ``flows.process_batch``: the ``process-batch`` flow (discover -> one task per chunk of documents -> merge),
  also the ``prefect`` runner of ``ocr batch`` and ``python -m flows.process_batch``.
- ``flows.train_lenet5``: the ``train-lenet5`` flow around ``ocr.train.train``.

Deployments of both are declared in ``prefect.yaml`` at the repository root.
"""
