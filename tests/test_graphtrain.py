"""Field-level training through the segmentation graphs: the loss, the graphs, the training stage."""

import itertools

import numpy as np
import torch

from ocr.graphtrain import graph_batch, graph_examples, graph_loss
from ocr.reader import PIECE_COST

J = 10.0


def _one_blob(wide=(0.0, 0.0, 0.0)):
    """One blob read whole (candidate 0) or cut in two (candidates 1, 2); the cut reads 3 then 5."""
    return {"paths": torch.tensor([[0, -1], [1, 2]]), "truth": torch.tensor([[0, 0], [3, 5]]),
            "right": torch.tensor([False, True]), "blob": torch.tensor([0, 0]),
            "wide": torch.tensor(wide, dtype=torch.float32), "aspect": torch.zeros(3, 10)}


def _penalties(whole: int, left: int, right: int, sure=2.0, unsure=60.0):
    """RBF penalties: each candidate close to one digit's prototype, far from the others."""
    y = torch.full((3, 10), unsure)
    for k, d in enumerate((whole, left, right)):
        y[k, d] = sure
    return y


def _brute_force(y: torch.Tensor, batch: dict, j: float) -> float:
    """-log P(right path read right) by enumerating every path and every labelling."""
    full = torch.cat([y, torch.full_like(y[:, :1], j)], 1)
    log_p = (-y - torch.logsumexp(-full, 1, keepdim=True)).double()
    cost = -log_p + PIECE_COST + batch["wide"][:, None].double()
    total, right = 0.0, 0.0
    for p, ok, truth in zip(batch["paths"].tolist(), batch["right"].tolist(), batch["truth"].tolist(), strict=True):
        pieces = [c for c in p if c >= 0]
        for labels in itertools.product(range(10), repeat=len(pieces)):
            e = float(torch.exp(-sum(cost[c, d] for c, d in zip(pieces, labels, strict=True))))
            total += e
            if ok and list(labels) == truth[: len(pieces)]:
                right += e
    return -np.log(right / total)


def test_graph_loss_is_minus_log_probability_of_the_right_reading():
    batch = _one_blob(wide=(0.5, 0.0, 0.0))
    for y in (_penalties(8, 3, 5), _penalties(8, 3, 5, sure=9.0), _penalties(8, 2, 5), _penalties(1, 4, 7, 5.0, 8.0)):
        assert abs(float(graph_loss(y, batch, J)) - _brute_force(y, batch, J)) < 1e-4


def test_graph_loss_punishes_a_confident_wrong_path():
    batch = _one_blob()
    # The pieces close to a 3 and a 5, the whole blob unlike any digit: the right path wins.
    good = _penalties(8, 3, 5)
    good[0] = 40.0
    right = float(graph_loss(good, batch, J))
    # The whole blob close to an '8' and the pieces unlike anything: the wrong path wins.
    wrong = _penalties(8, 3, 5)
    wrong[1:] = 40.0
    assert right < 0.1 < 5.0 < float(graph_loss(wrong, batch, J))
    # One gradient step on the penalties lowers the loss by raising the whole blob's '8' and
    # lowering the pieces' 3 and 5.
    y = wrong.clone().requires_grad_(True)
    graph_loss(y, batch, J).backward()
    assert y.grad[0, 8] < 0 and y.grad[1, 3] > 0 and y.grad[2, 5] > 0


def test_graph_loss_averages_over_blobs():
    a, b = _one_blob(), _one_blob()
    shifted = torch.where(b["paths"] >= 0, b["paths"] + 3, -1)
    both = {"paths": torch.cat([a["paths"], shifted]), "truth": torch.cat([a["truth"], b["truth"]]),
            "right": torch.cat([a["right"], b["right"]]), "blob": torch.tensor([0, 0, 1, 1]),
            "wide": torch.zeros(6), "aspect": torch.zeros(6, 10)}
    y1, y2 = _penalties(8, 3, 5), _penalties(8, 2, 5)
    expected = (float(graph_loss(y1, a, J)) + float(graph_loss(y2, b, J))) / 2
    assert abs(float(graph_loss(torch.cat([y1, y2]), both, J)) - expected) < 1e-5


def test_graph_examples_hold_right_paths_of_touching_digits(mnist_test):
    images, labels = mnist_test
    g = graph_examples(images[:500], labels[:500], 12, seed=4, touching=1.0)
    assert g.n_blobs > 10 and len(g.inputs) == len(g.wide) == len(g.aspect)
    assert g.inputs.shape[1:] == (32, 32) and g.paths.max() < len(g.inputs)
    per_blob = np.diff(g.blob_paths)
    assert (per_blob >= 1).all() and (per_blob > 1).any()  # touching digits give blobs with several paths
    for b in range(g.n_blobs):
        rows = slice(g.blob_paths[b], g.blob_paths[b + 1])
        assert g.right[rows].any()  # only blobs with a right reading are kept
        assert (g.path_blob[rows] == b).all()
    # A blob cut into two right pieces: the right path reads two digits.
    two = [r for r in np.flatnonzero(g.right) if (g.paths[r] >= 0).sum() == 2]
    assert two
    # Batches renumber their candidates: every path index points into the batch's own candidates.
    used, batch = graph_batch(g, np.arange(min(5, g.n_blobs)))
    assert batch["paths"].max() < len(used) and len(batch["wide"]) == len(used)
    loss = graph_loss(torch.full((len(used), 10), 30.0), batch, J)
    assert torch.isfinite(loss) and loss > 0


def test_training_on_no_graphs_is_a_clear_error():
    import pytest

    from ocr.errors import OCRError
    from ocr.graphtrain import Graphs, train_on_graphs
    from ocr.lenet5 import LeNet5

    empty = Graphs(np.zeros((0, 32, 32), np.float32), np.zeros(0, np.float32), np.zeros((0, 10), np.float32),
                   np.zeros((0, 1), np.int64), np.zeros(0, np.int64), np.zeros(0, bool), np.zeros((0, 1), np.int64),
                   np.zeros(1, np.int64))
    with pytest.raises(OCRError, match="right path"):
        train_on_graphs(LeNet5(), empty, torch.zeros(4, 1, 32, 32), torch.zeros(4, dtype=torch.int64), epochs=1,
                        lr=1e-4, j=J, generator=torch.Generator().manual_seed(0), device=torch.device("cpu"))
