"""A tiny training run end to end: weights, card, calibration, and resuming from a checkpoint."""

import gzip
import json

import numpy as np
import pytest
import torch

from ocr.errors import OCRError
from ocr.fieldset import FIELD_TARGETS
from ocr.lenet5 import load_weights
from ocr.train import TrainConfig, distort, train
from ocr.views import VIEWS


def _write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def _tiny_mnist(tmp_path, mnist_test, n=600):
    images, labels = mnist_test
    folder = tmp_path / "mnist"
    folder.mkdir()
    _write_idx(folder / "train-images-idx3-ubyte.gz", images[:n])
    _write_idx(folder / "train-labels-idx1-ubyte.gz", labels[:n])
    return folder


def test_training_writes_weights_card_and_resumes(tmp_path, mnist_test):
    data = _tiny_mnist(tmp_path, mnist_test)
    cfg = TrainConfig(data_dir=str(data), out=str(tmp_path / "m" / "w.pt"), epochs=1, val_size=200, seed=1,
                      checkpoint_dir=str(tmp_path / "ck"), device="cpu")
    card = train(cfg, progress=False, log=lambda s: None)
    assert (tmp_path / "m" / "w.pt").is_file() and (tmp_path / "m" / "w.json").is_file()
    assert (tmp_path / "m" / "README.md").is_file() and (tmp_path / "m" / "w_rejection.png").is_file()
    assert card["parameters"]["total"] == 60_000
    assert len(card["training"]["history"]) == 1
    assert set(card["data"]["train_sha256"]) == {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"}
    assert card["calibration"]["split"] == "validation" and card["calibration"]["n"] == 120
    assert card["calibration"]["views"] == [list(v) for v in VIEWS]  # thresholds for the pipeline's views
    _, info = load_weights(tmp_path / "m" / "w.pt")
    assert info["calibration"]["thresholds"] == card["calibration"]["thresholds"]

    # Resume: two epochs in all, the first one taken from the checkpoint.
    cfg2 = TrainConfig(**{**cfg.__dict__, "epochs": 2, "resume": True})
    card2 = train(cfg2, progress=False, log=lambda s: None)
    hist = card2["training"]["history"]
    assert [h["epoch"] for h in hist] == [1, 2]
    assert hist[0] == card["training"]["history"][0]
    saved = json.loads((tmp_path / "m" / "w.json").read_text())
    assert len(saved["training"]["history"]) == 2


def test_distortions_keep_shape_background_and_ink():
    g = torch.Generator().manual_seed(0)
    x = torch.full((8, 1, 32, 32), -0.1)
    x[:, :, 8:24, 14:18] = 1.175
    out = distort(x, g)
    assert out.shape == x.shape
    assert out.min() >= -0.1 - 1e-5 and out.max() <= 1.175 + 1e-5
    corners = out[:, :, :3, :3]
    assert torch.allclose(corners, torch.full_like(corners, -0.1), atol=1e-4)
    assert not torch.allclose(out, x)  # something moved
    ink = (out > 0.5).flatten(1).sum(1)
    assert (ink > 20).all()  # no digit erased


def test_rubbish_examples_are_normalised_non_digits(mnist_test):
    from ocr.normalize import BACKGROUND, INK
    from ocr.train import make_rubbish

    images, _ = mnist_test
    rubbish = make_rubbish(images[:200], 40, np.random.default_rng(0))
    assert rubbish.shape == (40, 32, 32) and rubbish.dtype == np.float32
    assert rubbish.min() >= BACKGROUND - 1e-6 and rubbish.max() <= INK + 1e-6
    # Parts of two digits side by side are wider, for their height, than single digits.
    def aspect(batch):
        w = np.array([np.ptp(np.flatnonzero((r > 0.3).any(0))) + 1 for r in batch])
        h = np.array([np.ptp(np.flatnonzero((r > 0.3).any(1))) + 1 for r in batch])
        return (w / h).mean()

    from ocr.normalize import normalize_many

    assert aspect(rubbish) > 1.3 * aspect(normalize_many(images[:200]))


def test_training_on_field_examples_calibrates_on_held_out_fields(tmp_path, mnist_test):
    """--fields: the segmenter's cuts of strips written with training digits join the training set;
    the thresholds come from strips written with validation digits, and `ocr calibrate` rebuilds
    exactly those."""
    from ocr.train import recalibrate

    data = _tiny_mnist(tmp_path, mnist_test, n=800)
    cfg = TrainConfig(data_dir=str(data), out=str(tmp_path / "m" / "w.pt"), epochs=1, val_size=200, seed=2,
                      checkpoint_dir=str(tmp_path / "ck"), device="cpu", fields=30)
    logs = []
    card = train(cfg, progress=False, log=logs.append)
    assert any(line.startswith("field examples: ") for line in logs)
    cal = card["calibration"]
    assert "synthetic field strips written with 160 digits held out" in cal["digits"]
    assert cal["n"] > 6 * 3  # at least most digits of 6 held-out strips (30 // 5)
    assert "val_field_error" in card["training"]["history"][0]
    assert "hysteresis" not in cal  # cleaned with Otsu's threshold alone, as the shipped weights were
    # Field thresholds: per type, for every field error target, from strips of validation digits.
    fields = cal["fields"]
    assert set(fields["thresholds"]) == {"zip", "amount", "date", "zip/cells", "date/cells"}
    assert fields["n"] == 30  # as many strips per type as --fields (and as many again to choose thresholds on)
    assert all(list(t) == [f"{x:g}" for x in FIELD_TARGETS] for t in fields["thresholds"].values())
    assert all({"score", "accepted", "error"} <= set(c) for t in fields["thresholds"].values() for c in t.values())
    assert set(fields["digit_threshold"]) == set(fields["thresholds"]) == set(fields["scorers"])
    assert "Field scores (`--field-error`" in (tmp_path / "m" / "README.md").read_text()
    again = recalibrate(tmp_path / "m" / "w.pt", str(data), device="cpu")
    assert again["calibration"]["thresholds"] == cal["thresholds"] and again["calibration"]["n"] == cal["n"]
    assert again["calibration"]["fields"]["thresholds"] == fields["thresholds"]
    plain = recalibrate(tmp_path / "m" / "w.pt", str(data), device="cpu", views=False)
    assert cal["views"] == [list(v) for v in VIEWS] and plain["calibration"]["views"] == [[0.0, 1.0]]



def test_committee_of_networks_trained_on_the_same_data(tmp_path, mnist_test, capsys):
    """`ocr train --init-seed` trains another network on the same digits (same held-out set);
    `ocr committee` reads them as one, calibrated on that set, with every member in its card; members
    trained on other data are refused with the option that differs."""
    from ocr.classify import Classifier
    from ocr.cli import main
    from ocr.lenet5 import Committee
    from ocr.train import make_committee

    data = _tiny_mnist(tmp_path, mnist_test)
    base = dict(data_dir=str(data), epochs=1, val_size=200, seed=1, device="cpu")
    cards = []
    for k, init in enumerate((None, 7)):
        cfg = TrainConfig(**base, init_seed=init, out=str(tmp_path / f"m{k}" / "w.pt"),
                          checkpoint_dir=str(tmp_path / f"ck{k}"))
        cards.append(train(cfg, progress=False, log=lambda s: None))
    a, _ = load_weights(tmp_path / "m0" / "w.pt")
    b, _ = load_weights(tmp_path / "m1" / "w.pt")
    assert not torch.equal(a.c1.weight, b.c1.weight)  # another network ...
    assert cards[0]["calibration"]["n"] == cards[1]["calibration"]["n"] == 120  # ... the same held-out digits
    assert cards[1]["training"]["config"]["init_seed"] == 7

    out = tmp_path / "c" / "committee.pt"
    code = main(["committee", str(tmp_path / "m0" / "w.pt"), str(tmp_path / "m1" / "w.pt"), "--out", str(out),
                 "--data", str(data), "--device", "cpu"])
    assert code == 0 and "a committee of 2" in capsys.readouterr().out
    model, info = load_weights(out)
    assert isinstance(model, Committee)
    card = json.loads(out.with_suffix(".json").read_text())
    assert [m["init_seed"] for m in card["committee"]["members"]] == [None, 7]
    assert card["calibration"]["n"] == 120 and info["calibration"]["thresholds"] == card["calibration"]["thresholds"]
    readme = (out.parent / "README.md").read_text()
    assert "A committee of 2 such networks" in readme and "| `w.pt` | 7 | 1 |" in readme
    x = np.random.default_rng(0).random((5, 32, 32), np.float32) * 1.275 - 0.1
    with torch.inference_mode():
        mean = ((a(torch.from_numpy(x[:, None])) + b(torch.from_numpy(x[:, None]))) / 2).numpy()
    clf = Classifier.load(out, "cpu")
    clf.views = ((0.0, 1.0),)  # compare one view with the members' plain forward
    assert np.allclose(clf.penalties(x), mean, rtol=1e-4, atol=1e-3) and clf.forward_passes == 1

    other = TrainConfig(**{**base, "seed": 2}, out=str(tmp_path / "m2" / "w.pt"), checkpoint_dir=str(tmp_path / "ck2"))
    train(other, progress=False, log=lambda s: None)
    with pytest.raises(OCRError, match="m2/w.pt was trained with seed = 2"):
        make_committee([tmp_path / "m0" / "w.pt", tmp_path / "m2" / "w.pt"], tmp_path / "bad.pt", str(data), "cpu")
    with pytest.raises(OCRError, match="at least two"):
        make_committee([tmp_path / "m0" / "w.pt"], tmp_path / "bad.pt", str(data), "cpu")


def test_field_level_training_from_trained_weights(tmp_path, mnist_test):
    """--init WEIGHTS --epochs 0 --graph-fields N --graph-epochs E: the network starts from the given
    weights, trains on segmentation graphs only, is calibrated afresh, and its card names both steps."""
    data = _tiny_mnist(tmp_path, mnist_test)
    first = TrainConfig(data_dir=str(data), out=str(tmp_path / "a" / "w.pt"), epochs=1, val_size=200, seed=1,
                        checkpoint_dir=str(tmp_path / "ck"), device="cpu")
    train(first, progress=False, log=lambda s: None)
    logs = []
    cfg = TrainConfig(**{**first.__dict__, "out": str(tmp_path / "b" / "w.pt"), "epochs": 0,
                         "init": str(tmp_path / "a" / "w.pt"), "graph_fields": 12, "graph_epochs": 2})
    card = train(cfg, progress=False, log=logs.append)
    assert any(line.startswith("graph examples: ") for line in logs)
    graph = card["training"]["graph_history"]
    assert [h["epoch"] for h in graph] == [1, 2] and all(h["graph_loss"] > 0 for h in graph)
    assert card["training"]["history"] == []
    init = card["training"]["init"]
    assert init["weights"] == "w.pt" and init["epochs"] == 1 and len(init["sha256"]) == 64
    before, _ = load_weights(tmp_path / "a" / "w.pt")
    after, _ = load_weights(tmp_path / "b" / "w.pt")
    assert not torch.equal(before.c1.weight, after.c1.weight)  # trained further, not copied
    text = (tmp_path / "b" / "README.md").read_text()
    assert "field-level training on the segmentation graphs of 12 strips" in text
    assert init["command"] in text  # the command that made the starting weights, then this one


def test_graph_strips_and_graph_epochs_go_together(tmp_path):
    for extra in ({"graph_fields": 10}, {"graph_epochs": 2}):
        with pytest.raises(OCRError, match="--graph-fields and --graph-epochs go together"):
            train(TrainConfig(out=str(tmp_path / "w.pt"), epochs=0, device="cpu", **extra), progress=False,
                  log=lambda s: None)


def test_styles_redraw_training_ones_and_sevens_and_field_scores_can_wait(tmp_path, mnist_test):
    """--styles: flagged '1's and crossed '7's among the training digits, said in the card; --no-field-scores:
    no field scores until `ocr calibrate` fits them, on the same held-out strips as without styles."""
    from ocr.train import held_out_digits, recalibrate

    data = _tiny_mnist(tmp_path, mnist_test, n=800)
    cfg = TrainConfig(data_dir=str(data), out=str(tmp_path / "m" / "w.pt"), epochs=1, val_size=200, seed=2,
                      checkpoint_dir=str(tmp_path / "ck"), device="cpu", fields=30, styles=0.5, field_scores=False)
    logs = []
    card = train(cfg, progress=False, log=logs.append)
    ones_sevens = int(np.isin(mnist_test[1][:800], (1, 7)).sum())
    styled_line = [line for line in logs if line.startswith("styles: ")]
    assert styled_line and 0.3 * ones_sevens < int(styled_line[0].split()[1]) < 0.5 * ones_sevens
    assert card["training"]["config"]["styles"] == 0.5
    assert "fields" not in card["calibration"]
    assert "a flagged '1' and a crossed '7'" in (tmp_path / "m" / "README.md").read_text()
    # The held-out digits are MNIST's own, as without styles.
    raw, labels = held_out_digits(tmp_path / "m" / "w.pt", str(data))
    originals = {im.tobytes() for im in mnist_test[0][:800]}
    assert np.isin(labels, (1, 7)).sum() > 10 and all(im.tobytes() in originals for im in raw)
    again = recalibrate(tmp_path / "m" / "w.pt", str(data), device="cpu")
    assert set(again["calibration"]["fields"]["thresholds"]) == {"zip", "amount", "date", "zip/cells", "date/cells"}


def test_training_with_hysteresis_records_it_and_the_reader_cleans_so(tmp_path, mnist_test):
    """--hysteresis: the training and held-out strips are cleaned with it, the calibration and the card say so,
    `ocr calibrate` keeps it, and a classifier loaded from the weights cleans its fields so."""
    from ocr.classify import Classifier
    from ocr.train import recalibrate

    data = _tiny_mnist(tmp_path, mnist_test, n=500)
    cfg = TrainConfig(data_dir=str(data), out=str(tmp_path / "m" / "w.pt"), epochs=1, val_size=200, seed=2,
                      checkpoint_dir=str(tmp_path / "ck"), device="cpu", fields=10, field_scores=False,
                      hysteresis=True)
    card = train(cfg, progress=False, log=lambda s: None)
    assert card["calibration"]["hysteresis"] is True and card["training"]["config"]["hysteresis"] is True
    assert "cleaned with hysteresis" in (tmp_path / "m" / "README.md").read_text()
    assert Classifier.load(tmp_path / "m" / "w.pt", device="cpu").hysteresis
    again = recalibrate(tmp_path / "m" / "w.pt", str(data), device="cpu")
    assert again["calibration"]["hysteresis"] is True
    assert again["calibration"]["thresholds"] == card["calibration"]["thresholds"]
