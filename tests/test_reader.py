"""read_fields batching and failure isolation, and the `ocr read` command's CSV contract."""

import csv
import io
import json

import cv2
import numpy as np
import pytest

from ocr.cli import main
from ocr.handwriting import DigitPool, make_field
from ocr.reader import read_fields
from ocr.records import DigitResult, FieldImage


@pytest.fixture(scope="module")
def strips():
    pool = DigitPool()
    rng = np.random.default_rng(7)
    values = ["12345", "67890", "24680", "13579", "55012", "90210"]
    return [make_field("zip", v, rng, pool=pool, boxes="box", noise=3, blur=0.3, angle=0.5, jpeg_quality=85,
                       touching_p=0.0) for v in values]


def test_all_fields_are_classified_in_one_forward_pass(strips):
    from ocr.classify import Classifier

    classifier = Classifier.load(device="cpu", batch_size=4096)
    fields = [FieldImage(f"z{i}", "zip", s.image) for i, s in enumerate(strips)] * 4
    before = classifier.forward_passes
    results = read_fields(fields, classifier)
    assert classifier.forward_passes - before == 1  # 24 fields, >= 120 candidates, one batch of 4096
    assert len(results) == len(fields)
    ok = [r.value == s.value for r, s in zip(results, strips * 4, strict=True)]
    assert sum(ok) >= 0.8 * len(ok)
    r = results[0]
    assert all(d.digit_image.shape == (32, 32) for d in r.digits)
    h, w = strips[0].image.shape
    assert all(0 <= d.bbox[0] < d.bbox[2] <= w + 2 and 0 <= d.bbox[1] < d.bbox[3] <= h + 2 for d in r.digits)


def test_a_bad_field_becomes_an_error_and_the_others_are_read(strips, classifier):
    fields = [FieldImage("good", "zip", strips[0].image), FieldImage("tiny", "zip", np.zeros((3, 3), np.uint8)),
              FieldImage("colour", "zip", np.zeros((20, 20, 3), np.uint8)), FieldImage("good2", "zip", strips[1].image)]
    results = read_fields(fields, classifier)
    assert [r.status for r in results][1:3] == ["error", "error"]
    assert "too small" in results[1].reason
    assert results[0].status != "error" and results[3].status != "error"
    assert results[0].value == strips[0].value


def test_blank_field_is_review_with_no_digits_found(classifier):
    [r] = read_fields([FieldImage("blank", "amount", np.full((60, 200), 240, np.uint8))], classifier)
    assert (r.status, r.reason, r.value) == ("review", "no digits found", "")


def test_cli_read_unreadable_file_is_an_error_row_and_others_are_read(strips, tmp_path, capsys):
    paths = []
    for i, s in enumerate(strips[:2]):
        p = tmp_path / f"zip{i}.png"
        cv2.imwrite(str(p), s.image)
        paths.append(p)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image at all")
    code = main(["read", str(paths[0]), str(bad), str(paths[1]), "--field", "zip", "--device", "cpu"])
    out, err = capsys.readouterr()
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "file,field,value,status,confidence"
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["file"] for r in rows] == [str(paths[0]), str(bad), str(paths[1])]
    assert rows[1]["status"] == "error" and rows[1]["value"] == ""
    assert "broken.png" in err and "not an image" in err
    assert rows[0]["value"] == strips[0].value and rows[2]["value"] == strips[1].value
    assert {rows[0]["status"], rows[2]["status"]} <= {"accepted", "review"}
    assert 0 <= float(rows[0]["confidence"]) <= 1


def test_cli_read_json_gives_per_digit_detail(strips, tmp_path, capsys):
    p = tmp_path / "z.png"
    cv2.imwrite(str(p), strips[2].image)
    assert main(["read", str(p), "--field", "zip", "--json", "--device", "cpu"]) == 0
    [doc] = json.loads(capsys.readouterr().out)
    assert doc["value"] == strips[2].value
    d = doc["digits"][0]
    assert set(d) >= {"bbox", "label", "penalty_best", "penalty_second", "confidence", "source"}
    assert d["source"] in ("blob", "wide blob", "cut")
    assert d["penalty_best"] <= d["penalty_second"]


def _one_blob_group(x0: int, optional: str = ""):
    from ocr.records import Component
    from ocr.segment import Group

    box = (x0, 0, x0 + 20, 30)
    return Group(box, [Component(ink=np.full((30, 20), 255, np.uint8), bbox=box)], [(0,)], optional=optional)


def test_a_leading_mark_like_a_rupee_sign_is_dropped_only_when_it_is_not_digit_like():
    from ocr.reader import _choose_paths
    from ocr.segment import Segmentation

    seg = Segmentation([_one_blob_group(0, optional="a rupee sign"), _one_blob_group(30), _one_blob_group(60)], 30.0)
    costs, labels = np.array([9.0, 4.1, 4.2]), np.array([7, 1, 2])
    ok = np.array([False, True, True])
    # Not a digit by any measure: the rupee sign is left out, the field reads 12 with no doubt.
    chosen, doubts, _ = _choose_paths(seg, "amount", costs, labels, ok, digit_like=np.array([False, True, True]))
    assert chosen == [1, 2] and doubts == []
    # Digit-like but not accepted: still left out, and a person is asked (it may be a 7: 712, not 12).
    chosen, doubts, _ = _choose_paths(seg, "amount", costs, labels, ok, digit_like=np.array([True, True, True]))
    assert chosen == [1, 2] and doubts == ["a mark that may be a rupee sign or a digit"]
    # Confidently a digit: read.
    chosen, doubts, _ = _choose_paths(seg, "amount", costs, labels, np.array([True, True, True]),
                                      digit_like=np.array([True, True, True]))
    assert chosen == [0, 1, 2]


def test_a_first_mark_left_out_as_a_sign_before_the_decimal_point_sends_the_amount_to_review():
    """"9.74" whose '9' is neither a confident digit nor digit-like: left out as a '$', as a sign would
    be, it leaves the point with nothing before it. The reading keeps the point (".74", not 74) and a
    person is asked."""
    from ocr.assemble import assemble
    from ocr.reader import _choose_paths
    from ocr.segment import Segmentation

    seg = Segmentation([_one_blob_group(0, optional="a dollar sign"), _one_blob_group(30), _one_blob_group(60)],
                       30.0, point_after=1)
    costs, labels = np.array([9.0, 4.1, 4.2]), np.array([9, 7, 4])
    chosen, doubts, point_after = _choose_paths(seg, "amount", costs, labels, np.array([False, True, True]),
                                                digit_like=np.array([False, True, True]))
    assert (chosen, doubts, point_after) == ([1, 2], [], 0)
    digits = [DigitResult(position=i, bbox=(30 * (i + 1), 0, 30 * (i + 1) + 20, 30), label=d, penalties=np.zeros(10),
                          confidence=0.99, accepted=True) for i, d in enumerate((7, 4))]
    r = assemble(FieldImage(name="f", type="amount", crop=np.zeros((30, 90), np.uint8)), digits, point_after)
    assert (r.status, r.value) == ("review", ".74")
    assert "nothing read before the decimal point" in r.reason


def test_a_mark_like_a_rupee_sign_whose_cut_pieces_read_as_digits_is_not_dropped_silently():
    """Two touching digits (a '15') may show a rupee sign's two bars. Read whole the blob is no
    digit; cut, it is two confident digits: dropping it would read 15.34 as 34, so a person is asked."""
    from ocr.reader import _choose_paths
    from ocr.records import Component
    from ocr.segment import Group, Segmentation

    box = (0, 0, 36, 30)
    piece = lambda a, b: Component(ink=np.full((30, b - a), 255, np.uint8), bbox=(a, 0, b, 30))  # noqa: E731
    wide = Group(box, [piece(0, 36), piece(0, 14), piece(14, 36)], [(0,), (1, 2)], optional="a rupee sign")
    seg = Segmentation([wide, _one_blob_group(50), _one_blob_group(80)], 30.0)
    costs, labels = np.array([9.0, 4.3, 4.2, 4.1, 4.2]), np.array([7, 1, 5, 3, 4])
    not_digit_like = np.array([False, True, True, True, True])
    chosen, doubts, _ = _choose_paths(seg, "amount", costs, labels, np.array([False, True, True, True, True]),
                                      digit_like=not_digit_like)
    assert chosen == [3, 4] and doubts == ["a mark that may be a rupee sign or digits"]
    # Its pieces unsure as well: nothing digit-like in it, left out as the sign it looks like.
    chosen, doubts, _ = _choose_paths(seg, "amount", costs, labels, np.array([False, True, False, True, True]),
                                      digit_like=not_digit_like)
    assert chosen == [3, 4] and doubts == []


def test_three_zeros_written_as_one_run_are_read_as_three_after_the_last_comma():
    """"70,000" with its zeros in one run: the run read whole as one unsure '0' leaves two digits after the
    last comma, which no grouping has. A confident reading of the run as two zeros makes three: it is read
    so. With no confident one, the field still shows three digits, and goes to a person saying why."""
    from ocr.reader import UNSURE_CUT, _choose_paths
    from ocr.records import Component
    from ocr.segment import Group, Segmentation

    box = (90, 0, 130, 30)
    piece = lambda a, b: Component(ink=np.full((30, b - a), 255, np.uint8), bbox=(a, 0, b, 30))  # noqa: E731
    run = Group(box, [piece(90, 130), piece(90, 110), piece(110, 130)], [(0,), (1, 2)])
    seg = Segmentation([_one_blob_group(0), _one_blob_group(30), _one_blob_group(60), run], 30.0, last_comma=2)
    costs, labels = np.array([4.1, 4.2, 4.1, 4.0, 4.4, 4.5]), np.array([7, 0, 0, 0, 0, 0])
    confident = np.array([True, True, True, False, True, True])
    chosen, doubts, _ = _choose_paths(seg, "amount", costs, labels, confident, digit_like=np.ones(6, bool))
    assert chosen == [0, 1, 2, 4, 5] and doubts == []
    # The cut zeros unsure too: the cheapest reading with three after the comma, and why a person sees it.
    unsure = np.array([True, True, True, False, False, True])
    chosen, doubts, _ = _choose_paths(seg, "amount", costs, labels, unsure, digit_like=np.ones(6, bool))
    assert chosen == [0, 1, 2, 4, 5]
    assert doubts == [f"2 digits after the last comma, not 3, read as written; {UNSURE_CUT}"]
    # Without a comma nothing counts the digits: the run is read whole, as before.
    seg.last_comma = None
    chosen, _, _ = _choose_paths(seg, "amount", costs, labels, confident, digit_like=np.ones(6, bool))
    assert chosen == [0, 1, 2, 3]


def test_a_small_mark_is_read_only_when_it_is_surely_a_digit():
    from ocr.reader import _choose_paths
    from ocr.segment import HALF_MARK_DOUBT, SMALL_MARK, Segmentation

    seg = Segmentation([_one_blob_group(0), _one_blob_group(30, optional=SMALL_MARK), _one_blob_group(60)], 30.0)
    costs, labels = np.array([4.1, 4.5, 4.2]), np.array([1, 0, 2])
    chosen, doubts, _ = _choose_paths(seg, "digits", costs, labels, np.array([True, True, True]),
                                      digit_like=np.array([True, True, True]))
    assert chosen == [0, 1, 2] and doubts == []
    # Not sure, even if not digit-like at all: left out, and a person is asked (unlike a sign).
    chosen, doubts, _ = _choose_paths(seg, "digits", costs, labels, np.array([True, False, True]),
                                      digit_like=np.array([True, False, True]))
    assert chosen == [0, 2] and doubts == [HALF_MARK_DOUBT]


def test_a_zip_one_digit_short_shows_its_unsure_cut_to_a_person_rather_than_four_digits():
    """Four groups, the second a wide blob (two touching digits): read whole it is the cheapest
    reading, four digits, no zip. Its cut pieces are not confident, so the grammar may not force
    them; the reader still shows the five-digit reading, with a doubt that sends it to review."""
    from ocr.reader import UNSURE_CUT, _choose_paths
    from ocr.records import Component
    from ocr.segment import Group, Segmentation

    piece = lambda a, b: Component(ink=np.full((30, b - a), 255, np.uint8), bbox=(a, 0, b, 30))  # noqa: E731
    wide = Group((30, 0, 70, 30), [piece(30, 70), piece(30, 50), piece(50, 70)], [(0,), (1, 2)])
    seg = Segmentation([_one_blob_group(0), wide, _one_blob_group(80), _one_blob_group(110)], 30.0)
    costs, labels = np.array([4.1, 6.0, 5.0, 5.5, 4.2, 4.3]), np.array([2, 8, 9, 6, 2, 1])
    unsure_cut = np.array([True, True, False, True, True, True])
    chosen, doubts, _ = _choose_paths(seg, "zip", costs, labels, unsure_cut, digit_like=np.ones(6, bool))
    assert chosen == [0, 2, 3, 4, 5]
    assert doubts == [f"wrong digit count (4, zip needs 5 or 9), read as written; {UNSURE_CUT}"]
    # Confident pieces, the blob read whole not: the grammar forces the cut, no doubt.
    whole_unsure = np.array([True, False, True, True, True, True])
    chosen, doubts, _ = _choose_paths(seg, "zip", costs, labels, whole_unsure, digit_like=np.ones(6, bool))
    assert chosen == [0, 2, 3, 4, 5] and doubts == []
    # Both confident: a zip may really be four digits long; read as written (the digit count
    # sends it to review).
    chosen, doubts, _ = _choose_paths(seg, "zip", costs, labels, np.ones(6, bool), digit_like=np.ones(6, bool))
    assert chosen == [0, 1, 4, 5] and doubts == []
    # A free-form digit string has no count to keep: the blob is read whole.
    chosen, doubts, _ = _choose_paths(seg, "digits", costs, labels, unsure_cut, digit_like=np.ones(6, bool))
    assert chosen == [0, 1, 4, 5] and doubts == []


def _with_field_thresholds(classifier, thresholds: dict, field_target):
    """The classifier's network with its calibration plus per-type field thresholds
    (type -> (alone, joined))."""
    import copy

    from ocr.classify import Classifier

    info = copy.deepcopy(classifier.info)
    info["calibration"]["fields"] = {"thresholds": {
        ft: {"0.01": {"alone": a, "joined": j, "accepted": 0.5, "error": 0.01}} for ft, (a, j) in thresholds.items()},
        "wide_alone": ["date", "zip"]}
    return Classifier(classifier.model, info, classifier.device, field_target=field_target)


def test_a_stricter_field_threshold_sends_that_type_to_review_and_no_other(strips, classifier):
    clf = _with_field_thresholds(classifier, {"zip": (1e9, 1e9)}, 0.01)
    assert clf.threshold_for("zip", "blob") == clf.threshold_for("zip", "cut") == 1e9
    digit = _with_field_thresholds(classifier, {}, 0.01).rejector.threshold
    assert clf.threshold_for("amount") == digit  # no field threshold: the digit one
    fields = [FieldImage(f"z{i}", "zip", s.image) for i, s in enumerate(strips)]
    plain = read_fields(fields, _with_field_thresholds(classifier, {}, 0.01))
    strict = read_fields(fields, clf)
    assert any(r.status == "accepted" for r in plain)
    assert all(r.status == "review" and r.reason.startswith("low-confidence digit") for r in strict)
    assert [r.value for r in strict] == [r.value for r in plain]  # the same reading, only not accepted
    d = [FieldImage("d", "digits", strips[0].image)]
    assert read_fields(d, clf)[0].status == read_fields(d, _with_field_thresholds(classifier, {}, 0.01))[0].status


def test_digits_read_whole_and_joined_digits_have_their_own_threshold(strips, classifier):
    """A digit that stood alone answers to the 'alone' threshold, a piece cut from a wider blob to the
    'joined' one. A wider blob read whole is alone in a zip or a date (a touching pair read as one
    digit would break their digit count) and joined in an amount (nothing counts its digits)."""
    from ocr.classify import source_kind

    assert [source_kind(s, "zip") for s in ("blob", "wide blob", "cut")] == ["alone", "alone", "joined"]
    assert [source_kind(s, "date") for s in ("blob", "wide blob", "cut")] == ["alone", "alone", "joined"]
    assert [source_kind(s, "amount") for s in ("blob", "wide blob", "cut")] == ["alone", "joined", "joined"]
    # Comb fields: nothing touches in a cell; a wide blob there is a digit with a piece of wall.
    assert source_kind("wide blob", "zip/cells") == source_kind("wide blob", "date/cells") == "joined"
    # Weights calibrated before the distinction keep the meaning their thresholds were made for.
    assert source_kind("wide blob", "zip", wide_alone=()) == "joined"
    assert classifier.wide_alone == ("date", "zip")
    fields = [FieldImage(f"z{i}", "zip", s.image) for i, s in enumerate(strips)]
    plain = read_fields(fields, _with_field_thresholds(classifier, {}, 0.01))
    joined_only = read_fields(fields, _with_field_thresholds(classifier, {"zip": (-1e9, 1e9)}, 0.01))
    alone_only = read_fields(fields, _with_field_thresholds(classifier, {"zip": (1e9, -1e9)}, 0.01))
    kinds = [{source_kind(d.source, "zip") for d in r.digits} for r in plain]
    for r, j, a, k in zip(plain, joined_only, alone_only, kinds, strict=True):
        assert j.status == ("review" if "joined" in k else r.status)
        assert a.status == ("review" if "alone" in k else r.status)
        for d, dj, da in zip(r.digits, j.digits, a.digits, strict=True):
            assert dj.accepted == (d.accepted and source_kind(d.source, "zip") == "alone")
            assert da.accepted == (d.accepted and source_kind(d.source, "zip") == "joined")


def test_a_field_written_in_printed_cells_has_its_own_thresholds_when_calibrated(strips, classifier):
    """A template's comb field (one digit per printed cell: nothing can touch) is judged by the
    thresholds calibrated on such fields; without them, by its type's."""
    from ocr.classify import threshold_key

    assert threshold_key("zip", 5) == "zip/cells" and threshold_key("zip", 0) == threshold_key("zip", 1) == "zip"
    free = [FieldImage(f"z{i}", "zip", s.image) for i, s in enumerate(strips)]
    combed = [FieldImage(f"z{i}", "zip", s.image, cells=5) for i, s in enumerate(strips)]
    both = _with_field_thresholds(classifier, {"zip": (1e9, 1e9), "zip/cells": (-1e9, -1e9)}, 0.01)
    plain = read_fields(free, _with_field_thresholds(classifier, {}, 0.01))
    assert all(r.status == "review" for r in read_fields(free, both))
    assert [r.status for r in read_fields(combed, both)] == [r.status for r in plain]
    only_type = _with_field_thresholds(classifier, {"zip": (1e9, 1e9)}, 0.01)
    assert all(r.status == "review" for r in read_fields(combed, only_type))


def test_a_looser_field_threshold_never_loosens_the_digit_threshold(strips, classifier):
    clf = _with_field_thresholds(classifier, {"zip": (-1e9, -1e9)}, 0.01)
    assert clf.threshold_for("zip") == clf.rejector.threshold
    off = _with_field_thresholds(classifier, {"zip": (1e9, 1e9)}, 0)  # --field-error 0: digit threshold only
    assert off.threshold_for("zip", "cut") == off.rejector.threshold


def test_a_field_error_the_weights_were_not_calibrated_for_is_a_clear_error(classifier):
    from ocr.errors import OCRError

    with pytest.raises(OCRError, match=r"field error 0.003 on zip fields \(calibrated: 0.01\)"):
        _with_field_thresholds(classifier, {"zip": (1.0, 1.0)}, 0.003)


def _calibrated_pair(calibration: dict):
    """(field type, target) -> what the reader holds that type to for that target: the shipped weights'
    field score threshold (and no field threshold per digit)."""
    table = calibration["fields"]["thresholds"]
    return lambda ft, key: {"alone": -np.inf, "joined": -np.inf, "score": float(table[ft][key]["score"])}


def test_a_field_error_may_be_given_per_type(classifier, tmp_path, capsys):
    """'zip=0.02,amount=0.01': each type named is held to exactly its target (amounts too: the
    operator asked), the others to the default; a bare number is for the types not named; 0 is the
    digit threshold only. A typo stops the command with the reason, before any work."""
    from ocr.classify import field_error_option, field_thresholds, parse_field_error
    from ocr.errors import OCRError

    cal = classifier.info["calibration"]
    pick = _calibrated_pair(cal)
    assert parse_field_error("zip=0.02, amount=0.01") == {"*": 0.01, "zip": 0.02, "amount": 0.01}
    assert parse_field_error(0.005) == parse_field_error("0.005") == {"*": 0.005}
    named = field_thresholds(cal, "zip=0.02,amount=0.01")
    assert named["zip"] == pick("zip", "0.02") and named["zip/cells"] == pick("zip/cells", "0.02")
    assert named["amount"] == pick("amount", "0.01") != pick("amount", "0.005")
    assert named["date"] == pick("date", "0.01")
    rest = field_thresholds(cal, "0.02,zip=0")
    assert "zip" not in rest and "zip/cells" not in rest
    assert rest["date"] == pick("date", "0.02") and rest["amount"] == pick("amount", "0.005")
    assert field_thresholds(cal, "digits=0") == field_thresholds(cal, 0.01)  # no thresholds to turn off
    assert field_error_option("0.005") == 0.005 and field_error_option("zip=0.02") == "zip=0.02"
    for spec, reason in (("zap=0.01", "unknown field type 'zap'"), ("zip=abc", "'abc' in 'zip=abc' is not a number"),
                         ("zip=2", "not an error rate"), ("zip=0.003", r"field error 0.003 on zip fields"),
                         ("digits=0.01", "digits fields, which the weights have no field calibration for")):
        with pytest.raises(OCRError, match=reason):
            field_thresholds(cal, spec)
    with pytest.raises(SystemExit):
        main(["read", str(tmp_path / "none.png"), "--field", "zip", "--field-error", "zap=0.01"])
    assert "unknown field type 'zap'" in capsys.readouterr().err


def test_amounts_are_held_to_the_stricter_field_error_whatever_is_asked(classifier):
    """Money: at the default 1% field error the amount thresholds are the ones calibrated for 0.5%
    (other types keep 1%); a stricter target applies to amounts too; 0 still means the digit
    threshold only."""
    from ocr.classify import FIELD_TARGET_CAPS, Classifier, field_thresholds

    cal = classifier.info["calibration"]
    pick = _calibrated_pair(cal)
    assert FIELD_TARGET_CAPS == {"amount": 0.005}
    at_1 = field_thresholds(cal, 0.01)
    assert at_1["amount"] == pick("amount", "0.005") != pick("amount", "0.01")
    assert at_1["zip"] == pick("zip", "0.01") and at_1["date/cells"] == pick("date/cells", "0.01")
    assert field_thresholds(cal, 0.02)["amount"] == pick("amount", "0.005")
    assert field_thresholds(cal, 0.002)["amount"] == pick("amount", "0.002")
    assert field_thresholds(cal, 0) == {}
    clf = Classifier(classifier.model, classifier.info, classifier.device)  # the default field target
    assert clf.field_thresholds["amount"] == pick("amount", "0.005")
    assert clf.threshold_for("amount", "cut") == clf.rejector.threshold  # the score judges the field, not each digit


def test_cli_read_printed_sign_asks_about_a_tall_first_mark(tmp_path, capsys):
    """`ocr read --printed-sign cell`: the form prints the sign, so a tall first mark is not a second '$'
    but a digit written tall ('4263' with a tall '4'; without the option it is read 263, as a '$' would be).
    The option is for amounts only."""
    from tests.conftest import tall_first_digit_amount

    p = tmp_path / "amount.png"
    cv2.imwrite(str(p), tall_first_digit_amount(DigitPool()))
    values = []
    for extra in ([], ["--printed-sign", "cell"]):
        assert main(["read", str(p), "--field", "amount", "--device", "cpu", *extra]) == 0
        values.append(next(csv.DictReader(io.StringIO(capsys.readouterr().out)))["value"])
    assert values == ["263", "4263"]
    assert main(["read", str(p), "--field", "zip", "--printed-sign", "inside", "--device", "cpu"]) == 2
    assert "for amounts" in capsys.readouterr().err


def test_an_amount_digit_written_too_lightly_for_the_ink_threshold_is_not_lost_silently(classifier):
    """"54" with its '5' written at 40% of the pen's darkness: the ink threshold loses it whole, and
    the amount read 4, accepted. The sensitive threshold still sees a digit-sized mark that nothing
    read covers: a person is asked. The same strip written evenly is read as before."""
    from ocr.reader import FAINT_MARK_DOUBT

    st = make_field("amount", "54", np.random.default_rng(2), pool=DigitPool(), boxes="none", currency="",
                    grouping="none", suffix="", touching_p=0, noise=0, blur=0, angle=0, jpeg_quality=0, height=40)
    img = st.image.astype(np.float32)
    cut = (st.digit_boxes[0][2] + st.digit_boxes[1][0]) // 2
    img[:, :cut] = 255 - (255 - img[:, :cut]) * 0.4
    img = np.clip(img + np.random.default_rng(0).normal(0, 3, img.shape), 0, 255).astype(np.uint8)
    faint, even = read_fields([FieldImage("f", "amount", img), FieldImage("e", "amount", st.image)], classifier)
    assert (faint.value, faint.status) == ("4", "review") and FAINT_MARK_DOUBT in faint.reason
    assert even.value == "54" and FAINT_MARK_DOUBT not in even.reason


def test_a_mark_left_out_as_a_rupee_sign_that_reads_most_like_a_9_is_not_dropped_silently():
    """"541.50" whose '5', a flag over a bowl, has the two bars of a rupee sign and is not digit-like
    enough to read: a rupee sign reads most like a '7', '2' or '3', so one that reads most like a '9' may be
    the amount's first digit. Left out, with a doubt; one that reads most like a '7' is left out silently."""
    from ocr.reader import _choose_paths
    from ocr.segment import Segmentation

    seg = Segmentation([_one_blob_group(0, optional="a rupee sign"), _one_blob_group(30), _one_blob_group(60)], 30.0)
    costs, ok, like = np.array([9.0, 4.1, 4.2]), np.array([False, True, True]), np.array([False, True, True])
    chosen, doubts, _ = _choose_paths(seg, "amount", costs, np.array([9, 4, 1]), ok, digit_like=like)
    assert chosen == [1, 2]
    assert doubts == ["a mark left out as a rupee sign (it looks most like a '9': a digit with two bars?)"]
    chosen, doubts, _ = _choose_paths(seg, "amount", costs, np.array([8, 4, 1]), ok, digit_like=like)
    assert doubts == ["a mark left out as a rupee sign (it looks most like an '8': a digit with two bars?)"]
    # The review sheet's filter names the doubt once, whatever digit the mark looks like.
    from ocr.review import reason_kinds
    assert reason_kinds(doubts[0]) == ["a mark left out as a rupee sign"]
    for sign_like in (7, 2, 3):
        chosen, doubts, _ = _choose_paths(seg, "amount", costs, np.array([sign_like, 4, 1]), ok, digit_like=like)
        assert (chosen, doubts) == ([1, 2], [])
    # A possible currency sign of another kind is judged as before.
    other = Segmentation([_one_blob_group(0, optional="a currency sign"), _one_blob_group(30), _one_blob_group(60)],
                         30.0)
    chosen, doubts, _ = _choose_paths(other, "amount", costs, np.array([9, 4, 1]), ok, digit_like=like)
    assert (chosen, doubts) == ([1, 2], [])


def test_the_reader_cleans_with_hysteresis_only_when_the_weights_were_trained_so(classifier):
    """Weights trained with `ocr train --hysteresis` say so in their calibration, and the reader then keeps the
    pale stretch of a stroke the ink threshold loses (ocr.fields.join_faint); the shipped weights do not."""
    from ocr.classify import Classifier

    gray = np.full((80, 120), 235, np.uint8)
    cv2.ellipse(gray, (60, 40), (14, 22), 0, 0, 360, 40, 3)
    cv2.ellipse(gray, (60, 40), (14, 22), 0, 240, 300, 170, 3)  # a '0' whose top a thin pen left pale
    trained_so = Classifier(classifier.model, {**classifier.info, "calibration": {
        **classifier.info["calibration"], "hysteresis": True}}, classifier.device, field_target=None)
    assert not classifier.hysteresis and trained_so.hysteresis
    field = [FieldImage("zero", "digits", gray)]
    [plain], [joined] = read_fields(field, classifier), read_fields(field, trained_so)
    assert len(plain.digits) == len(joined.digits) == 1
    top = joined.digits[0].bbox[1]
    assert top < plain.digits[0].bbox[1] - 3  # the box reaches the pale top of the loop
    assert (joined.digits[0].digit_image[4:9] > 0).sum() > (plain.digits[0].digit_image[4:9] > 0).sum()
