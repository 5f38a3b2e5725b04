"""The two-digit detector and the pair reader: their labels, training commands, batching, and what the reader
makes of their answers."""

import json

import numpy as np
import pytest
import torch

from ocr.classify import Classifier
from ocr.errors import OCRError
from ocr.handwriting import DigitPool, render_text
from ocr.lenet5 import LeNet5, load_weights, save_weights
from ocr.pairs import (
    READINGS,
    TWO_DIGITS,
    PairDetector,
    PairReader,
    label_pairs,
    label_readings,
    pair_doubt,
    pair_examples,
    reading_class,
    reading_examples,
)
from ocr.reader import classify_prepared, decide_fields, prepare_fields
from ocr.records import FieldImage
from tests.test_train import _tiny_mnist


def _forced(two: bool) -> PairDetector:
    """A detector that answers the same whatever it sees: P(two digits) 0.993 or 0.007."""
    det = PairDetector()
    with torch.no_grad():
        det.output.weight.zero_()
        det.output.bias.copy_(torch.tensor([0.0, 5.0] if two else [5.0, 0.0]))
    return det.eval()


def test_candidates_are_labelled_by_who_wrote_their_ink():
    owner = np.full((10, 20), -1)
    owner[:, 2:8] = 0  # digit 0
    owner[:, 8:14] = 1  # digit 1, touching it
    ink = owner >= 0
    boxes = [(2, 0, 14, 10), (2, 0, 8, 10), (2, 0, 5, 10), (2, 0, 10, 10)]
    masks = [ink[y0:y1, x0:x1] for x0, y0, x1, y1 in boxes]
    # both digits whole; digit 0 alone; half of digit 0; digit 0 and a third of digit 1: neither
    assert label_pairs(masks, boxes, owner, ink).tolist() == [1, 0, -1, -1]
    assert label_pairs(masks[:1], boxes[:1], np.full((10, 20), -1), ink).tolist() == [-1]  # no digits


def test_examples_from_strips_hold_both_kinds(mnist_test):
    images, labels = mnist_test
    x, y, wide = pair_examples(images[:2000], labels[:2000], 12, seed=0, touching=0.5)
    assert x.shape[1:] == (32, 32) and len(x) == len(y) == len(wide)
    assert set(y.tolist()) == {0, 1}
    assert wide[y == 1].mean() > wide[y == 0].mean()  # pairs are mostly the wide marks


def test_the_detector_is_asked_once_per_batch_and_only_about_marked_rows(classifier):
    model = LeNet5().eval()
    plain = {"j": 10.0, "calibration": classifier.info["calibration"]}
    clf = Classifier(model, {**plain, "pairs": _forced(True)}, torch.device("cpu"), batch_size=128)
    x = np.random.default_rng(0).random((300, 32, 32), np.float32) * 1.275 - 0.1
    ask = np.zeros(300, bool)
    ask[[0, 200, 299]] = True
    penalties, two = clf.read(x, ask)
    assert clf.forward_passes == 3
    assert np.flatnonzero(~np.isnan(two)).tolist() == [0, 200, 299]
    assert np.allclose(two[ask], 1 / (1 + np.exp(-5.0)), atol=1e-4)
    without = Classifier(model, plain, torch.device("cpu"))
    assert np.allclose(penalties, without.penalties(x))
    assert clf.read(x, np.zeros(300, bool))[1] is None  # nothing asked
    # Every forward pass of either network is of one shape: partial batches (44 digits, 1 asked) are padded,
    # and the padding's answers are dropped: a detector that is not forced answers each asked digit as alone.
    det = PairDetector().eval()
    seen = {"digits": set(), "detector": set()}
    model.register_forward_hook(lambda m, a, o: seen["digits"].add(tuple(a[0].shape)))
    det.output.register_forward_hook(lambda m, a, o: seen["detector"].add(tuple(a[0].shape)))
    real = Classifier(model, {**plain, "pairs": det}, torch.device("cpu"), batch_size=128)
    _, two = real.read(x, ask)
    assert seen["digits"] == {(128 * len(real.views), 1, 32, 32)} and seen["detector"] == {(128, 84)}
    with torch.inference_mode():
        alone = det.two_digits(torch.from_numpy(x[ask][:, None])).numpy()
    np.testing.assert_allclose(two[ask], alone, atol=1e-5)
    assert without.read(x, ask)[1] is None
    with pytest.raises(ValueError, match="ask must mark each of the 300 inputs"):
        clf.read(x, ask[:10])


def test_a_wide_mark_read_as_one_digit_is_doubted_when_the_detector_says_two(classifier):
    """'2 15 7' with the '15' touching: the reader reads each mark whole as a confident digit, the pair
    as a '5' (penalties built here). The field is accepted unless the detector calls a mark two digits."""
    rng = np.random.default_rng(4)
    pool = DigitPool()
    parts = [render_text(t, pool, rng, height=40, touching_p=p, spacing=0.6)[0] for t, p in
             (("2", 0.0), ("15", 1.0), ("7", 0.0))]
    h = max(p.shape[0] for p in parts)
    ink = np.concatenate([np.pad(p, ((h - p.shape[0], 0), (0, 8))) for p in parts], axis=1)
    prep = prepare_fields([FieldImage("amount", "amount", np.pad(255 - ink, 12, constant_values=255))])
    groups = prep.cleaned[0][2].groups
    assert len(groups) == 3 and len(groups[1].candidates) > 1  # the pair may be cut
    first = np.cumsum([0] + [len(g.candidates) for g in groups])[:-1]
    y = np.full((len(prep.stack), 10), 60.0, np.float32)  # cut pieces: no digit
    for k, d in zip(first, (2, 5, 7), strict=True):
        y[k, d] = 1.0
    wide = np.asarray(prep.sources) == "wide blob"
    assert wide[first[1]]

    def read(p_two):
        two = np.where(wide, 0.01, np.nan).astype(np.float32)
        two[first[1]] = p_two
        [r] = decide_fields(prep, y, classifier, {"amount": {"alone": 1.0, "joined": 1.0}}, two)
        return r

    assert read(0.2).status == "accepted" and read(0.2).value == "257"
    [plain] = decide_fields(prep, y, classifier, {"amount": {"alone": 1.0, "joined": 1.0}})
    assert plain.status == "accepted"  # weights without a detector: no such doubt
    assert read(TWO_DIGITS - 0.05).status == "accepted"
    doubted = read(TWO_DIGITS + 0.05)
    assert doubted.status == "review" and doubted.value == "257"
    assert doubted.reason == "the wide mark read as digit 2 looks like two touching digits (a digit lost?)"
    assert doubted.digits[1].two_digits == pytest.approx(TWO_DIGITS + 0.05)
    from ocr.cli.read import result_json
    shown = result_json(doubted)["digits"]  # ocr read --json: the detector's answer where it was asked
    assert shown[1]["two_digits"] == pytest.approx(TWO_DIGITS + 0.05)
    assert all("two_digits" not in d for d in result_json(plain)["digits"])
    assert pair_doubt([1, 3]).startswith("the wide marks read as digits 1, 3 look like")

    forced = Classifier(classifier.model, {**classifier.info, "pairs": _forced(True)}, torch.device("cpu"))
    _, asked, _ = classify_prepared(prep, forced)
    # Asked of every mark read whole (the narrow ones too: a digit may hide in one), not of cut pieces.
    read_whole = np.isin(prep.sources, ("blob", "wide blob"))
    assert wide[read_whole].any() and not read_whole.all()
    assert np.flatnonzero(~np.isnan(asked)).tolist() == np.flatnonzero(read_whole).tolist()
    # A zip's count catches a digit lost in a pair: the detector is not asked there.
    as_zip = prepare_fields([FieldImage("zip", "zip", prep.fields[0].crop)])
    assert "wide blob" in as_zip.sources and classify_prepared(as_zip, forced)[1] is None

    # Where a cut reads the pair as two confident digits, but reading it whole is cheaper, the reader reads
    # '5'. Called two digits, the field still goes to a person, shown cut: "2157".
    two_piece = next(p for p in groups[1].paths if len(p) == 2)
    y2 = y.copy()
    for piece, d in zip(two_piece, (1, 5), strict=True):
        y2[first[1] + piece] = 60.0
        y2[first[1] + piece, d] = 1.0
    whole = np.where(wide, 0.01, np.nan).astype(np.float32)
    [r] = decide_fields(prep, y2, classifier, {"amount": {"alone": 1.0, "joined": 1.0}}, whole)
    assert r.value == "257" and r.status == "accepted"  # reading it whole is cheaper
    whole[first[1]] = TWO_DIGITS + 0.05
    [r] = decide_fields(prep, y2, classifier, {"amount": {"alone": 1.0, "joined": 1.0}}, whole)
    assert r.value == "2157" and r.status == "review"
    assert r.reason == pair_doubt([2, 3], cut=True)
    assert "shown cut, as digits 2, 3 (check the cut)" in r.reason


def _tiny_network(tmp_path, mnist_test):
    """A network trained for one epoch on 800 digits (with field strips): (its MNIST folder, its weights)."""
    from ocr.train import TrainConfig, train

    data = _tiny_mnist(tmp_path, mnist_test, n=800)
    weights = tmp_path / "m" / "w.pt"
    train(TrainConfig(data_dir=str(data), out=str(weights), epochs=1, val_size=200, seed=2,
                      checkpoint_dir=str(tmp_path / "ck"), device="cpu", fields=30), progress=False, log=lambda s: None)
    return data, weights


def _train_second_network(tmp_path, mnist_test, capsys, command: str, fields: int, wrote: str):
    """A tiny network, then ``ocr COMMAND`` on it (``fields`` strips, one epoch), which must print ``wrote``
    and leave the digit network and its thresholds as they were. Returns (MNIST folder, weights, the
    command's arguments, the weights' info, the model card)."""
    from ocr.cli import main

    data, weights = _tiny_network(tmp_path, mnist_test)
    before, info0 = load_weights(weights)
    args = [command, "--weights", str(weights), "--data", str(data), "--fields", str(fields), "--epochs", "1",
            "--device", "cpu"]
    assert main(args) == 0 and wrote in capsys.readouterr().out
    after, info = load_weights(weights)
    assert all(torch.equal(a, b) for a, b in zip(before.state_dict().values(), after.state_dict().values(),
                                                 strict=True))  # the digit network is unchanged ...
    assert info["calibration"] == info0["calibration"]  # ... and so are its thresholds
    return data, weights, args, info, json.loads(weights.with_suffix(".json").read_text())


def test_train_pairs_stores_the_detector_and_keeps_or_recalibrates_the_thresholds(tmp_path, mnist_test, capsys):
    from ocr.cli import main
    from ocr.train import recalibrate

    data, weights, args, info, card = _train_second_network(tmp_path, mnist_test, capsys, "train-pairs", 40,
                                                            "wrote the two-digit detector into")
    assert isinstance(info["pairs"], PairDetector)
    pairs = card["pairs"]
    assert pairs["fields"] == 40 and pairs["held_out_fields"] == 8 and len(pairs["history"]) == 1
    assert pairs["examples"]["one"] > 0 and pairs["examples"]["two"] > 0
    assert set(pairs["held_out"]) == {"all", "wide"} and pairs["threshold"] == TWO_DIGITS
    readme = (weights.parent / "README.md").read_text()
    assert "## Two-digit detector" in readme and pairs["command"] in readme and "calibrated without it" in readme

    # --recalibrate: the field thresholds are chosen again, counting its doubts; the card says so.
    assert main([*args, "--recalibrate"]) == 0 and "recalibrated with it" in capsys.readouterr().out
    card = json.loads(weights.with_suffix(".json").read_text())
    assert card["calibration"]["fields"]["pairs"] is True and card["calibration"] != info["calibration"]
    assert "calibrated with that doubt" in (weights.parent / "README.md").read_text()
    recalibrate(weights, str(data), device="cpu")  # a later recalibration keeps the detector
    assert isinstance(load_weights(weights)[1]["pairs"], PairDetector)


def test_a_broken_detector_in_a_weights_file_is_a_clear_error(tmp_path):
    path = tmp_path / "w.pt"
    bad = PairDetector()
    with torch.no_grad():
        bad.output.bias.fill_(float("nan"))
    save_weights(LeNet5(), path, j=10.0, pairs=bad)
    with pytest.raises(OCRError, match="its two-digit detector, holds non-finite values in output.bias"):
        load_weights(path)
    save_weights(LeNet5(), path, j=10.0, pairs=torch.nn.Linear(84, 2))  # some other network
    with pytest.raises(OCRError, match=r"w.pt, its two-digit detector, does not fit the two-digit detector"):
        load_weights(path)


# --- the pair reader ------------------------------------------------------------------------------

def _forced_reader(cls: int, p: float = 0.98) -> PairReader:
    """A pair reader that reads every mark as the class ``cls`` with probability ``p``."""
    net = PairReader()
    with torch.no_grad():
        net.output.weight.zero_()
        net.output.bias.zero_()
        net.output.bias[cls] = float(np.log(p / (1 - p) * (READINGS - 1)))
    return net.eval()


def test_wide_marks_are_labelled_with_the_digits_who_wrote_their_ink():
    owner = np.full((10, 20), -1)
    owner[:, 2:8] = 0  # the strip's digit 0, a '3'
    owner[:, 8:14] = 1  # its digit 1, an '8', touching it
    ink = owner >= 0
    boxes = [(2, 0, 14, 10), (8, 0, 14, 10), (2, 0, 5, 10), (2, 0, 10, 10)]
    masks = [ink[y0:y1, x0:x1] for x0, y0, x1, y1 in boxes]
    # the pair "38"; the '8' alone; half of the '3'; the '3' and a third of the '8': neither
    assert label_readings(masks, boxes, owner, ink, [3, 8]).tolist() == [38, 108, -1, -1]
    assert reading_class([3, 8]) == 38 and reading_class([0, 7]) == 7 and reading_class([4]) == 104
    assert reading_class([1, 2, 3]) is None and READINGS == 110


def test_reading_examples_are_wide_marks_mostly_touching_pairs(mnist_test):
    images, labels = mnist_test
    x, y = reading_examples(images[:2000], labels[:2000], 12, seed=0, touching=0.8)
    assert x.shape[1:] == (32, 64) and len(x) == len(y) > 0
    assert ((y >= 0) & (y < READINGS)).all() and (y < 100).any()


def test_the_pair_reader_reads_the_wide_marks_only_once_per_batch(classifier):
    clf = Classifier(classifier.model, {**classifier.info, "pair_reader": _forced_reader(42)}, torch.device("cpu"),
                     batch_size=2)
    x = np.random.default_rng(0).random((7, 32, 64), np.float32) * 1.275 - 0.1
    calls = []
    clf.pair_reader.register_forward_hook(lambda module, args, out: calls.append(args[0].shape))
    got = clf.read_marks(x)
    # The last batch is padded to the batch's shape (lenet5.pad_batch): the backend sees no new input shape.
    assert got.shape == (7, READINGS) and [c[0] for c in calls] == [2, 2, 2, 2]
    assert (got.argmax(axis=1) == 42).all() and np.allclose(np.exp(got).sum(axis=1), 1.0, atol=1e-5)
    # the same marks one at a time read the same
    assert np.allclose(np.concatenate([clf.read_marks(x[k : k + 1]) for k in range(7)]), got, atol=1e-5)
    without = Classifier(classifier.model, {**classifier.info, "pair_reader": None}, torch.device("cpu"))
    assert clf.read_marks(x[:0]) is None and without.read_marks(x) is None
    with pytest.raises(ValueError, match="normalised wide"):
        clf.read_marks(x[:, :, :32])


def test_each_digit_read_from_a_wide_mark_carries_how_likely_the_pair_reader_finds_its_reading(classifier):
    """'2 15 1' with the '15' touching, read (penalties built here) as 2, 5, 1 with the pair whole. A digit
    read from a wide mark carries log P(that digit) by the pair reader; the others carry nothing. Cut into
    '1' and '5', both pieces carry log P('15'). The field score's feature is the least likely reading."""
    from ocr.fieldscore import FEATURES, digit_features

    rng = np.random.default_rng(4)
    pool = DigitPool()
    parts = [render_text(t, pool, rng, height=40, touching_p=p, spacing=0.6)[0] for t, p in
             (("2", 0.0), ("15", 1.0), ("1", 0.0))]
    h = max(p.shape[0] for p in parts)
    ink = np.concatenate([np.pad(p, ((h - p.shape[0], 0), (0, 8))) for p in parts], axis=1)
    prep = prepare_fields([FieldImage("amount", "amount", np.pad(255 - ink, 12, constant_values=255))])
    groups = prep.cleaned[0][2].groups
    first = np.cumsum([0] + [len(g.candidates) for g in groups])[:-1]
    y = np.full((len(prep.stack), 10), 60.0, np.float32)
    for k, d in zip(first, (2, 5, 1), strict=True):
        y[k, d] = 1.0
    # Sure of '15', but not sure enough to read it alone (PAIR_READ): it judges the readings of the graph's paths.
    reads_15 = Classifier(classifier.model, {**classifier.info, "pair_reader": _forced_reader(15, 0.8)},
                          torch.device("cpu"))
    _, _, readings = classify_prepared(prep, reads_15)
    wide = np.asarray(prep.sources) == "wide blob"
    assert np.isfinite(readings[:, 0]).tolist() == wide.tolist() and wide[first[1]]
    loose = {"amount": {"alone": 1.0, "joined": 1.0}}
    [r] = decide_fields(prep, y, reads_15, loose, None, readings)
    assert r.value == "251"
    for d, k, label in zip(r.digits, first, (2, 5, 1), strict=True):
        assert (d.pair_reading == pytest.approx(readings[k, 100 + label])) if wide[k] else np.isnan(d.pair_reading)
    assert r.digits[1].pair_reading < -5 and not wide[first[2]]  # a '1' is narrow
    least = min(d.pair_reading for d in r.digits if wide[first[d.position]])
    assert digit_features(r.digits, "amount")[FEATURES.index("pair reading")] == pytest.approx(least)
    from ocr.cli.read import result_json
    shown = result_json(r)["digits"]
    assert "pair_reading" not in shown[2] and shown[1]["pair_reading"] == pytest.approx(np.exp(readings[first[1], 105]),
                                                                                      abs=1e-4)
    # Cut into '1' and '5' (the cut pieces confident, reading whole no digit): both carry log P('15').
    two_piece = next(p for p in groups[1].paths if len(p) == 2)
    y2 = y.copy()
    y2[first[1]] = 60.0
    for piece, d in zip(two_piece, (1, 5), strict=True):
        y2[first[1] + piece] = 60.0
        y2[first[1] + piece, d] = 1.0
    [r] = decide_fields(prep, y2, reads_15, loose, None, readings)
    assert r.value == "2151"
    assert [round(d.pair_reading, 4) for d in r.digits[1:3]] == [round(float(readings[first[1], 15]), 4)] * 2
    assert r.digits[1].pair_reading == pytest.approx(np.log(0.8), abs=1e-4)
    # Without a pair reader nothing is carried.
    [plain] = decide_fields(prep, y2, classifier, loose)
    assert all(np.isnan(d.pair_reading) for d in plain.digits)
    # Read whole as a '5' and cut as '1' '5', both confident: the pair reader has its say in which reading
    # the path takes (reading_cost). Without it the whole mark, one piece cheaper, is taken.
    y3 = y2.copy()
    y3[first[1]] = y[first[1]]
    assert decide_fields(prep, y3, classifier, loose)[0].value == "251"
    assert decide_fields(prep, y3, reads_15, loose, None, readings)[0].value == "2151"
    reads_5 = Classifier(classifier.model, {**classifier.info, "pair_reader": _forced_reader(105)},
                         torch.device("cpu"))
    _, _, readings_5 = classify_prepared(prep, reads_5)
    assert decide_fields(prep, y3, reads_5, loose, None, readings_5)[0].value == "251"


def test_a_mark_no_cut_reads_as_the_pair_reader_does_is_read_by_the_pair_reader_alone_when_it_is_sure(classifier):
    """A touching '15' whose cut pieces the network reads as nothing like '1' and '5' (penalties built here):
    sure enough (PAIR_READ), the pair reader reads the mark as two digits on its own, shown as the halves of
    its box, with its log-odds as their margin and no RBF penalties; less sure, or when a cut reads '15', not."""
    from ocr.fieldscore import FEATURES, digit_features
    from ocr.reader import PAIR_READ, PAIR_READ_SOURCE

    rng = np.random.default_rng(4)
    ink = render_text("15", DigitPool(), rng, height=40, touching_p=1.0, spacing=0.6)[0]
    prep = prepare_fields([FieldImage("d", "digits", np.pad(255 - ink, 12, constant_values=255))])
    [group] = prep.cleaned[0][2].groups
    assert len(group.paths) > 1 and prep.sources[0] == "wide blob"
    y = np.full((len(prep.stack), 10), 30.0, np.float32)  # every cut piece like no digit at all
    y[0] = 60.0
    y[0, 5] = 1.0  # the mark read whole: a confident '5'
    loose = {"digits": {"alone": -np.inf, "joined": -np.inf}}

    def read(p: float, y: np.ndarray):
        clf = Classifier(classifier.model, {**classifier.info, "pair_reader": _forced_reader(15, p)},
                         torch.device("cpu"))
        _, _, readings = classify_prepared(prep, clf)
        return decide_fields(prep, y, clf, loose, None, readings)[0]

    r = read(0.98, y)
    assert PAIR_READ < 0.98 and r.value == "15"
    assert [d.source for d in r.digits] == [PAIR_READ_SOURCE] * 2
    (x0, y0, x1, y1), c = group.bbox, prep.cleaned[0][1]
    mid = x0 + (x1 - x0) // 2
    assert [d.bbox for d in r.digits] == [c.box_in_crop((x0, y0, mid, y1)), c.box_in_crop((mid, y0, x1, y1))]
    assert all(np.isnan(d.penalties).all() and d.digit_image.shape == (32, 32) for d in r.digits)
    assert [d.margin for d in r.digits] == [pytest.approx(np.log(0.98 / 0.02), abs=1e-3)] * 2
    assert [d.pair_reading for d in r.digits] == [pytest.approx(np.log(0.98), abs=1e-4)] * 2
    assert digit_features(r.digits, "digits")[FEATURES.index("pair-read digits")] == 2
    from ocr.cli.read import result_json
    shown = json.loads(json.dumps(result_json(r), allow_nan=False))["digits"]
    assert [(d["source"], d["penalty_best"], d["penalty_second"]) for d in shown] == [(PAIR_READ_SOURCE, None,
                                                                                      None)] * 2
    # Less sure: the graph's own readings only ('5', the cheapest with the pair reader's say).
    assert read(0.8, y).value == "5"
    # A cut reading three digits, each confidently: the pair reader, which knows no triples, does not read alone.
    three_piece = next(p for p in group.paths if len(p) == 3)
    y3 = y.copy()
    for piece, d in zip(three_piece, (1, 2, 4), strict=True):
        y3[piece] = 60.0
        y3[piece, d] = 1.0
    assert PAIR_READ_SOURCE not in [d.source for d in read(0.98, y3).digits]
    # A cut that reads '15': that cut, its pieces with their penalties.
    two_piece = next(p for p in group.paths if len(p) == 2)
    for piece, d in zip(two_piece, (1, 5), strict=True):
        y[piece] = 60.0
        y[piece, d] = 1.0
    r = read(0.98, y)
    assert r.value == "15" and [d.source for d in r.digits] == ["cut", "cut"]
    assert all(np.isfinite(d.penalties).all() for d in r.digits)


def test_the_pair_reader_adds_its_doubt_about_a_reading_to_the_path_cost():
    from ocr.reader import READING_CAP, READING_WEIGHT, reading_cost

    readings = np.full((3, READINGS), np.nan, np.float32)
    readings[0] = np.log(np.full(READINGS, 0.5 / (READINGS - 1)))
    readings[0, 15] = np.log(0.5)
    assert reading_cost(readings, 0, (1, 5)) == pytest.approx(READING_WEIGHT * np.log(2))
    assert reading_cost(readings, 0, (5,)) == pytest.approx(READING_WEIGHT * np.log(2 * (READINGS - 1)))
    assert reading_cost(readings, 0, (1, 5, 7)) == READING_WEIGHT * READING_CAP  # three digits: it cannot say
    readings[0, 107] = -1e6
    assert reading_cost(readings, 0, (7,)) == READING_WEIGHT * READING_CAP  # at most the cap
    assert reading_cost(readings, 1, (1, 5)) == 0.0 and reading_cost(None, 0, (1, 5)) == 0.0  # a mark it did not read


def test_train_pair_reader_stores_it_and_keeps_or_recalibrates_the_thresholds(tmp_path, mnist_test, capsys):
    from ocr.cli import main
    from ocr.train import recalibrate

    data, weights, args, info, card = _train_second_network(tmp_path, mnist_test, capsys, "train-pair-reader", 60,
                                                            "wrote the pair reader into")
    assert isinstance(info["pair_reader"], PairReader) and info["pairs"] is None
    reader = card["pair_reader"]
    assert reader["fields"] == 60 and reader["held_out_fields"] == 12 and len(reader["history"]) == 1
    assert reader["examples"]["pairs"] > 0 and reader["examples"]["singles"] > 0
    assert 0.0 <= reader["held_out"]["pairs_read_right"] <= 1.0
    readme = (weights.parent / "README.md").read_text()
    assert "## Pair reader" in readme and reader["command"] in readme and "fitted without it" in readme

    # --recalibrate: the field scores are fitted again with its answers; the card says so. The detector,
    # trained afterwards, keeps it, and so does a later recalibration.
    assert main([*args, "--recalibrate"]) == 0 and "recalibrated with it" in capsys.readouterr().out
    card = json.loads(weights.with_suffix(".json").read_text())
    assert card["calibration"]["fields"]["pair_reader"] is True
    assert "fitted with it" in (weights.parent / "README.md").read_text()
    assert main(["train-pairs", "--weights", str(weights), "--data", str(data), "--fields", "40", "--epochs", "1",
                 "--device", "cpu"]) == 0
    recalibrate(weights, str(data), device="cpu")
    info = load_weights(weights)[1]
    assert isinstance(info["pair_reader"], PairReader) and isinstance(info["pairs"], PairDetector)


def test_a_broken_pair_reader_in_a_weights_file_is_a_clear_error(tmp_path):
    path = tmp_path / "w.pt"
    bad = PairReader()
    with torch.no_grad():
        bad.output.weight.fill_(float("inf"))
    save_weights(LeNet5(), path, j=10.0, pair_reader=bad)
    with pytest.raises(OCRError, match="its pair reader, holds non-finite values in output.weight"):
        load_weights(path)
    save_weights(LeNet5(), path, j=10.0, pair_reader=PairDetector())  # the detector in the reader's place
    with pytest.raises(OCRError, match=r"w.pt, its pair reader, does not fit the pair reader"):
        load_weights(path)
    # A pair reader of the first kind (32x32 marks, a linear output on F6) says how to replace it.
    first_kind = PairDetector()
    first_kind.output = torch.nn.Linear(84, READINGS)
    save_weights(LeNet5(), path, j=10.0, pair_reader=first_kind)
    with pytest.raises(OCRError, match=r"w.pt: its pair reader reads marks at 32x32.*ocr train-pair-reader"):
        load_weights(path)
    assert load_weights(path, pair_reader=False)[1]["pair_reader"] is None


def test_a_narrow_mark_the_detector_calls_two_digits_sends_an_amount_to_a_person(classifier):
    """"914" with the '1' drawn along the '9''s stem is one mark no wider than a '9', read '9': nothing counts
    an amount's digits. The detector, asked of every mark read whole, calls it two digits: the field goes to a
    person. Its answer on a narrow mark does not enter the field score (fitted on wide marks' answers)."""
    from ocr.fieldscore import digit_features

    rng = np.random.default_rng(5)
    pool = DigitPool()
    parts = [render_text(t, pool, rng, height=40, touching_p=0.0)[0] for t in ("9", "4")]
    h = max(p.shape[0] for p in parts)
    ink = np.concatenate([np.pad(p, ((h - p.shape[0], 0), (0, 12))) for p in parts], axis=1)
    prep = prepare_fields([FieldImage("amount", "amount", np.pad(255 - ink, 12, constant_values=255))])
    groups = prep.cleaned[0][2].groups
    first = np.cumsum([0] + [len(g.candidates) for g in groups])[:-1]
    assert len(groups) == 2 and [prep.sources[k] for k in first] == ["blob", "blob"]
    y = np.full((len(prep.stack), 10), 60.0, np.float32)
    for k, d in zip(first, (9, 4), strict=True):
        y[k, d] = 1.0
    thresholds = {"amount": {"alone": 1.0, "joined": 1.0}}

    def read(p_two):
        two = np.where(np.isin(prep.sources, ("blob", "wide blob")), 0.01, np.nan).astype(np.float32)
        two[first[0]] = p_two
        [r] = decide_fields(prep, y, classifier, thresholds, two)
        return r

    calm, called = read(0.01), read(TWO_DIGITS + 0.05)
    assert (calm.status, calm.value) == ("accepted", "94")
    assert (called.status, called.value) == ("review", "94")
    assert called.reason == "the mark read as digit 1 looks like two digits run together (a digit hidden in it?)"
    assert called.digits[0].source == "blob" and called.digits[0].two_digits == pytest.approx(TWO_DIGITS + 0.05)
    np.testing.assert_array_equal(digit_features(called.digits, "amount"), digit_features(calm.digits, "amount"))
    forced = Classifier(classifier.model, {**classifier.info, "pairs": _forced(True)}, torch.device("cpu"))
    _, asked, _ = classify_prepared(prep, forced)
    assert np.isfinite(asked[first]).all()  # the narrow marks are asked about
