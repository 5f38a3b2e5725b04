"""Assembling digits into values, and the reasons a field goes to review."""

import numpy as np
import pytest

from ocr.assemble import assemble, form_problem, format_value
from ocr.handwriting import DigitPool, make_field, render_text
from ocr.reader import read_fields
from ocr.records import DigitResult, FieldImage


def _digits(labels, accepted=None, conf=0.99):
    accepted = accepted or [True] * len(labels)
    return [DigitResult(position=i, bbox=(i * 10, 0, i * 10 + 8, 20), label=d, penalties=np.zeros(10),
                        confidence=conf if ok else 0.4, accepted=ok)
            for i, (d, ok) in enumerate(zip(labels, accepted, strict=True))]


def _field(kind):
    return FieldImage(name="f", type=kind, crop=np.zeros((10, 10), np.uint8))


def test_four_digit_zip_goes_to_review_with_the_reason():
    r = assemble(_field("zip"), _digits([1, 2, 3, 4]))
    assert r.status == "review"
    assert r.reason == "wrong digit count (4, zip needs 5 or 9)"
    assert r.value == "1234"


def test_zip_five_and_nine_digits():
    assert assemble(_field("zip"), _digits([1, 2, 3, 4, 5])).status == "accepted"
    r = assemble(_field("zip"), _digits([1, 2, 3, 4, 5, 6, 7, 8, 9]))
    assert (r.status, r.value) == ("accepted", "12345-6789")


def test_low_confidence_digit_is_named_by_position():
    r = assemble(_field("zip"), _digits([1, 2, 3, 4, 5], accepted=[True, True, False, True, True]))
    assert r.status == "review"
    assert r.reason == "low-confidence digit at position 3"
    assert r.confidence == pytest.approx(0.4)


def test_amount_with_decimal_point_and_date_validation():
    assert format_value("amount", [1, 2, 3, 4, 5], point_after=3) == "123.45"
    assert form_problem("amount", [1, 2, 3, 4, 5, 6], point_after=3) == "decimal part must have 2 digits (read 3)"
    assert form_problem("amount", [1, 2, 3, 4], point_after=3) == "decimal part must have 2 digits (read 1)"
    assert form_problem("date", [2, 9, 0, 2, 2, 0, 2, 4]) == ""
    assert form_problem("date", [3, 0, 0, 2, 2, 0, 2, 4]).startswith("not a valid date")
    assert form_problem("date", [1, 2, 3]).startswith("wrong digit count")
    assert assemble(_field("digits"), []).reason == "no digits found"


def test_an_amount_that_starts_with_zero_goes_to_review():
    r = assemble(_field("amount"), _digits([0, 2, 8, 4, 1, 2, 9, 9]), point_after=6)
    assert (r.status, r.value) == ("review", "028412.99")
    assert r.reason == "amount starts with 0 (a mark read as a digit?)"
    assert assemble(_field("amount"), _digits([0, 5, 0]), point_after=1).status == "accepted"  # 0.50
    zero = assemble(_field("amount"), _digits([0]))  # "$30" whose tall '3' was taken for the '$'
    assert (zero.status, zero.reason) == ("review", "amount of 0 (a digit taken for a sign?)")
    assert assemble(_field("amount"), _digits([2, 0, 8, 4])).status == "accepted"
    assert assemble(_field("digits"), _digits([0, 2, 8])).status == "accepted"  # other types keep their zeros


def test_an_amount_with_nothing_read_before_its_decimal_point_goes_to_review_and_keeps_the_point():
    """A faint '9' of "9.74" left out as a sign leaves ".74": read as 74 it was a hundred times the amount."""
    r = assemble(_field("amount"), _digits([7, 4]), point_after=0)
    assert (r.status, r.value) == ("review", ".74")
    assert r.reason == "nothing read before the decimal point (a digit taken for a sign?)"
    assert form_problem("amount", [7], point_after=0) == "decimal part must have 2 digits (read 1)"
    assert assemble(_field("amount"), _digits([0, 7, 4]), point_after=1).value == "0.74"


def test_segmentation_doubt_sends_to_review():
    r = assemble(_field("digits"), _digits([7, 7]), doubts=["segmentation doubt"])
    assert (r.status, r.reason) == ("review", "segmentation doubt")


def test_an_amount_with_a_decimal_point_reads_123_45(classifier):
    pool = DigitPool()
    rng = np.random.default_rng(2)
    strip = make_field("amount", "123.45", rng, pool=pool, boxes="box", currency="", grouping="none", suffix="",
                       noise=3, blur=0.3, angle=1.0, jpeg_quality=85, touching_p=0.0)
    [r] = read_fields([FieldImage("amount", "amount", strip.image)], classifier)
    assert r.value == "123.45"


def test_a_handwritten_four_digit_zip_goes_to_review(classifier):
    pool = DigitPool()
    rng = np.random.default_rng(3)
    strip = make_field("zip", "4071", rng, pool=pool, boxes="baseline", noise=3, blur=0.3, angle=0.5,
                       jpeg_quality=85, touching_p=0.0)
    [r] = read_fields([FieldImage("zip", "zip", strip.image)], classifier)
    assert r.status == "review"
    assert "wrong digit count (4, zip needs 5 or 9)" in r.reason


def test_a_date_digit_may_only_be_read_otherwise_as_what_keeps_it_a_date():
    from ocr.assemble import date_alternatives

    alt = date_alternatives([2, 5, 0, 1, 2, 0, 1, 6])  # 25/01/2016
    allowed = [set(np.flatnonzero(row)) for row in alt]
    assert allowed[0] == {0, 1, 2}  # 05, 15, 25 (35 is no day)
    assert allowed[2] == {0, 1}  # a month starts with 0 or 1
    assert allowed[3] == set(range(1, 10))  # 01-09
    assert allowed[4] == {2} and allowed[5] == {0}  # 2016, not 1016 or 2116: years 1900-2099
    assert allowed[7] == set(range(10))
    assert [set(np.flatnonzero(r)) for r in date_alternatives([3, 1, 1, 2, 1, 9, 9, 9])][1] == {0, 1}  # 30, 31 Dec
    assert form_problem("date", [0, 1, 0, 1, 2, 2, 0, 4]) == "not a valid date (01/01/2204: a year outside 1900-2099)"
    assert form_problem("date", [3, 1, 0, 2, 2, 0, 0, 4]) == "not a valid date (31/02/2004)"


def test_a_date_digit_whose_only_rival_breaks_the_date_is_not_in_doubt(classifier):
    """The month's first digit looks nearly as much like a '6' as like the '0' it is: with no date
    having a 6 there, it is no doubt. With a '1' as the rival (another date), it stays one."""
    from ocr.reader import decide_fields, prepare_fields

    rng = np.random.default_rng(3)
    ink, _ = render_text("25012016", DigitPool(), rng, height=40, touching_p=0.0, spacing=0.6)
    gray = np.pad(255 - ink, 12, constant_values=255)
    prep = prepare_fields([FieldImage("date", "date", gray)])
    groups = prep.cleaned[0][2].groups
    assert len(groups) == 8
    whole = np.cumsum([0] + [len(g.candidates) for g in groups])[:-1]  # each group's blob read whole
    strict = {"date": {"alone": 1.0, "joined": 1.0}}

    def read(rival: int):
        y = np.full((len(prep.stack), 10), 60.0)  # cut pieces: no digit at all
        for k, d in zip(whole, [2, 5, 0, 1, 2, 0, 1, 6], strict=True):
            y[k, d] = 2.0
        y[whole[2], 0], y[whole[2], rival] = 5.0, 5.5  # margin 0.49 against that rival
        [r] = decide_fields(prep, y.astype(np.float32), classifier, strict)
        return r

    six, one = read(6), read(1)
    assert six.value == one.value == "25012016"
    assert six.status == "accepted" and six.digits[2].margin > 4.0
    assert one.status == "review" and one.reason == "low-confidence digit at position 3"
    assert one.digits[2].margin == pytest.approx(0.49, abs=0.01)
