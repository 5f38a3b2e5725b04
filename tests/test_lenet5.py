import numpy as np
import pytest
import torch

from ocr.errors import OCRError
from ocr.lenet5 import (
    C3_TABLE,
    PROTOTYPES_ART,
    LeNet5,
    layer_parameter_counts,
    load_weights,
    map_loss,
    rbf_prototypes,
    save_weights,
    squash,
)


def test_parameter_counts_are_the_papers():
    counts = layer_parameter_counts(LeNet5())
    assert counts == {"c1": 156, "s2": 12, "c3": 1516, "s4": 32, "c5": 48120, "f6": 10164, "output": 0}
    assert sum(p.numel() for p in LeNet5().parameters() if p.requires_grad) == 60_000


def test_layer_shapes():
    m = LeNet5()
    x = torch.randn(3, 1, 32, 32)
    c1 = m.c1(x)
    s2 = m.s2(squash(c1))
    c3 = m.c3(squash(s2))
    s4 = m.s4(squash(c3))
    c5 = m.c5(squash(s4))
    assert c1.shape == (3, 6, 28, 28) and s2.shape == (3, 6, 14, 14)
    assert c3.shape == (3, 16, 10, 10) and s4.shape == (3, 16, 5, 5) and c5.shape == (3, 120, 1, 1)
    assert m.features(x).shape == (3, 84)
    assert m(x).shape == (3, 10)


def test_c3_connection_table_is_table_one():
    sizes = [len(t) for t in C3_TABLE]
    assert sizes == [3] * 6 + [4] * 9 + [6]
    for i in range(6):  # contiguous (cyclic) triples and quadruples
        assert C3_TABLE[i] == tuple((i + k) % 6 for k in range(3))
        assert C3_TABLE[6 + i] == tuple((i + k) % 6 for k in range(4))
    assert C3_TABLE[12:15] == ((0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5))  # discontinuous
    mask = LeNet5().c3.connection_mask()
    assert mask.sum() == 60 and mask[15].all()


def test_c3_ignores_maps_it_is_not_connected_to():
    m = LeNet5().eval()
    x = torch.randn(1, 6, 14, 14)
    base = m.c3(x)
    x2 = x.clone()
    x2[:, 5] += 3.0  # S2 map 5 is not read by C3 map 0 (0,1,2) or map 6 (0,1,2,3)
    out = m.c3(x2)
    assert torch.allclose(out[:, 0], base[:, 0]) and torch.allclose(out[:, 6], base[:, 6])
    assert not torch.allclose(out[:, 3], base[:, 3])  # map 3 reads (3,4,5)


def test_subsampling_is_scaled_sum_plus_bias():
    m = LeNet5()
    with torch.no_grad():
        m.s2.coefficient.fill_(0.5)
        m.s2.bias.fill_(0.25)
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(1, 6, 1, 1)
    out = m.s2(x)
    assert out.shape == (1, 6, 2, 2)
    assert out[0, 0, 0, 0].item() == pytest.approx(0.5 * (0 + 1 + 4 + 5) + 0.25)


def test_squash_constants():
    assert squash(torch.tensor(1.0)).item() == pytest.approx(1.0, abs=2e-3)
    assert squash(torch.tensor(100.0)).item() == pytest.approx(1.7159, abs=1e-4)


def test_prototypes_are_fixed_pm1_bitmaps_and_distinct():
    w = rbf_prototypes()
    assert w.shape == (10, 84) and set(w.unique().tolist()) == {-1.0, 1.0}
    for d, art in PROTOTYPES_ART.items():
        rows = art.strip().splitlines()
        assert len(rows) == 12 and all(len(r) == 7 for r in rows), d
    dist = torch.cdist(w, w)
    assert (dist + torch.eye(10) * 100).min() > 4.0  # every pair differs by more than 4 pixels
    m = LeNet5()
    assert not any(p is m.output.prototypes for p in m.parameters())


def test_rbf_is_squared_euclidean_distance():
    m = LeNet5()
    x = torch.randn(5, 84)
    expected = ((x[:, None, :] - m.output.prototypes[None]) ** 2).sum(-1)
    assert torch.allclose(m.output(x), expected, atol=1e-4)


def test_map_loss_matches_the_formula():
    y = torch.tensor([[1.0, 5.0, 9.0, 30, 30, 30, 30, 30, 30, 30], [4.0, 2.0, 8, 8, 8, 8, 8, 8, 8, 8]])
    t = torch.tensor([0, 1])
    j = 3.0
    manual = [y[i, t[i]] + torch.log(torch.exp(torch.tensor(-j)) + torch.exp(-y[i]).sum()) for i in range(2)]
    assert map_loss(y, t, j).item() == pytest.approx(torch.stack(manual).mean().item(), rel=1e-6)
    # Lowering the correct class's penalty lowers the loss; lowering a wrong one raises it.
    better = y.clone()
    better[0, 0] = 0.5
    worse = y.clone()
    worse[0, 1] = 1.5
    assert map_loss(better, t, j) < map_loss(y, t, j) < map_loss(worse, t, j)


def test_weights_round_trip_and_errors(tmp_path):
    m = LeNet5()
    path = tmp_path / "w.pt"
    save_weights(m, path, j=10.0, calibration={"thresholds": {}})
    loaded, info = load_weights(path)
    x = torch.randn(2, 1, 32, 32)
    assert torch.allclose(loaded(x), m.eval()(x)) and info["j"] == 10.0

    with pytest.raises(OCRError, match="not found.*missing.pt"):
        load_weights(tmp_path / "missing.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:300])
    with pytest.raises(OCRError, match="truncated.pt"):
        load_weights(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"something": torch.zeros(3)}, foreign)
    with pytest.raises(OCRError, match="foreign.pt.*not an ocr LeNet-5"):
        load_weights(foreign)
    text = tmp_path / "text.pt"
    text.write_text("hello")
    with pytest.raises(OCRError, match="text.pt"):
        load_weights(text)


def test_cli_reports_bad_weights_in_one_line(tmp_path, capsys):
    from ocr.cli import main

    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00" * 100)
    img = tmp_path / "d.png"
    import cv2

    cv2.imwrite(str(img), np.full((28, 28), 255, np.uint8))
    code = main(["classify", str(img), "--weights", str(bad)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "bad.pt" in err and "Traceback" not in err


def test_folded_inference_model_computes_the_same_penalties():
    from ocr.lenet5 import fold_for_inference

    m = LeNet5()
    torch.manual_seed(0)
    with torch.no_grad():  # move away from the initial weights so every fold matters
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    m.eval()
    x = torch.rand(16, 1, 32, 32) * 1.275 - 0.1
    with torch.inference_mode():
        expected, got = m(x), fold_for_inference(m)(x)
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-3)
    assert torch.equal(got.argmin(1), expected.argmin(1))


def test_map_loss_for_rubbish_targets_pushes_every_digit_above_j():
    from ocr.lenet5 import RUBBISH

    j = 5.0
    t = torch.tensor([RUBBISH])
    far = torch.full((1, 10), 30.0)
    near = far.clone()
    near[0, 4] = 1.0  # the rubbish looks like a 4
    assert map_loss(far, t, j) < map_loss(near, t, j)
    expected = j + torch.logsumexp(torch.cat([torch.tensor([-j]), -far[0]]), 0)
    assert map_loss(far, t, j).item() == pytest.approx(expected.item(), rel=1e-6)


def test_committee_averages_its_members_penalties_and_round_trips(tmp_path):
    """A committee file holds every member; loaded (and folded for inference) it reads a batch in one
    call as the mean of its members' penalties; a damaged member is named."""
    from ocr.lenet5 import Committee, fold_for_inference

    torch.manual_seed(1)
    members = []
    for _ in range(3):
        m = LeNet5()
        with torch.no_grad():
            for p in m.parameters():
                p.add_(torch.randn_like(p) * 0.1)
        members.append(m.eval())
    x = torch.rand(8, 1, 32, 32) * 1.275 - 0.1
    with torch.inference_mode():
        each = torch.stack([m(x) for m in members])
    path = tmp_path / "c.pt"
    save_weights(Committee(members), path, j=10.0, calibration={"thresholds": {}})
    loaded, info = load_weights(path)
    assert isinstance(loaded, Committee) and len(loaded.members) == 3 and info["j"] == 10.0
    with torch.inference_mode():
        got, folded = loaded(x), fold_for_inference(loaded)(x)
    assert torch.allclose(got, each.mean(0), atol=1e-5)
    assert not torch.allclose(got, each[0], atol=1e-2)  # not just the first member
    assert torch.allclose(folded, got, rtol=1e-4, atol=1e-3)

    with pytest.raises(ValueError, match="at least two"):
        Committee(members[:1])
    payload = torch.load(path, weights_only=True)
    payload["members"][1] = {"c1.weight": torch.zeros(1)}
    broken = tmp_path / "broken.pt"
    torch.save(payload, broken)
    with pytest.raises(OCRError, match="broken.pt \\(committee member 2\\) does not fit LeNet-5"):
        load_weights(broken)
