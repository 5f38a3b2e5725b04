"""Synthetic handwriting: MNIST test digits, marks, touching pairs, field strips."""

import numpy as np
import pytest

from ocr.handwriting import DigitPool, group_amount, make_field, make_field_strip, random_value, render_text


@pytest.fixture(scope="module")
def pool():
    return DigitPool()


def test_pool_is_the_test_set(pool):
    assert len(pool.images) == 10_000  # MNIST test split, never the 60,000 training digits
    rng = np.random.default_rng(0)
    g = pool.sample(7, rng)
    assert g.dtype == np.uint8 and g[0].max() > 0 and g[:, 0].max() > 0  # cut to ink


def test_render_text_boxes_follow_the_characters(pool):
    rng = np.random.default_rng(1)
    ink, chars = render_text("$12.5/-", pool, rng, height=40, touching_p=0.0)
    assert [c for c, _ in chars] == list("$12.5/-")
    assert ink.dtype == np.uint8 and ink.max() > 200
    xs = [b[0] for _, b in chars]
    assert xs == sorted(xs)
    for _, (x0, y0, x1, y1) in chars:
        assert ink[y0:y1, x0:x1].max() > 0
    digits = [b for c, b in chars if c.isdigit()]
    assert all(30 <= b[3] - b[1] <= 46 for b in digits)
    point = dict(chars)["."]
    assert point[3] - point[1] < 15  # a point is small


def test_touching_p_one_joins_every_pair(pool):
    import cv2

    rng = np.random.default_rng(2)
    ink, chars = render_text("4071", pool, rng, height=40, touching_p=1.0)
    n, _ = cv2.connectedComponents((ink > 60).astype(np.uint8), connectivity=8)
    assert n - 1 < 4
    ink0, _ = render_text("4071", pool, rng, height=40, touching_p=0.0)
    n0, _ = cv2.connectedComponents((ink0 > 60).astype(np.uint8), connectivity=8)
    assert n0 - 1 >= 4


def test_group_amount():
    assert group_amount("168900", "indian") == "1,68,900"
    assert group_amount("168900.50", "western") == "168,900.50"
    assert group_amount("12", "indian") == "12"


@pytest.mark.parametrize("field_type", ["zip", "amount", "date", "digits"])
def test_make_field_strip_is_dark_on_light(pool, field_type):
    rng = np.random.default_rng(3)
    value = random_value(field_type, rng)
    f = make_field(field_type, value, rng, pool=pool)
    assert f.image.dtype == np.uint8 and f.image.ndim == 2
    assert np.median(f.image) > 150 and f.image.min() < 110
    assert len(f.digit_boxes) == sum(c.isdigit() for c in value)
    img = make_field_strip(field_type, value, np.random.default_rng(3), boxes="cells", pool=pool)
    assert img.shape[0] > 30


def test_touching_offset_puts_the_right_ink_against_the_left_ink():
    from ocr.handwriting import touching_offset

    left = np.zeros((10, 12), np.uint8)
    left[2:8, 9] = 255  # rightmost ink at column 9 in rows 2-7
    right = np.zeros((10, 6), np.uint8)
    right[5:10, 3] = 255  # leftmost ink at column 3 in rows 5-9
    x = touching_offset(left, right)
    assert x == 6  # column 3 of the right image lands on column 9: they share the pixels of rows 5-7
    canvas = np.zeros((10, 20), bool)
    canvas[:, :12] |= left > 128
    placed = np.zeros_like(canvas)
    placed[:, x : x + 6] = right > 128
    assert (canvas & placed).any() and not (canvas[:, : x + 3] & placed[:, : x + 3]).any()
    assert touching_offset(left, np.zeros((10, 6), np.uint8)) is None


def test_cts_hand_writes_the_marks_of_indian_cheques(pool):
    """make_field(cts_hand=True) writes an amount as on an Indian CTS cheque: a rupee sign and Indian
    grouping, commas as long strokes hanging below the line, mostly a trailing '/-', and the zeros
    after the last comma sometimes half as high. ``written`` keeps the plain spelling."""
    small = low = 0
    for seed in range(30):
        s = make_field("amount", "150000", np.random.default_rng(seed), pool=pool, cts_hand=True,
                       touching_p=0.0, boxes="none", angle=0.0)
        assert s.written in ("₹1,50,000", "₹1,50,000/-") and len(s.digit_boxes) == 6
        heights = [b[3] - b[1] for b in s.digit_boxes]
        small += max(heights[3:]) < 0.7 * max(heights[:3])
        base = max(b[3] for b in s.digit_boxes)
        ys = np.nonzero(s.owner == -2)[0]  # marks' ink
        low += bool(ys.size and ys.max() > base + 0.15 * max(heights))
    assert 4 <= small <= 20 and low >= 15
    plain = make_field("amount", "150000", np.random.default_rng(0), pool=pool, grouping="indian", currency="₹")
    assert plain.written.startswith("₹1,50,000")


def test_cts_hand_writes_a_crossed_slash_dash_and_runs_slashes_into_the_last_digit(pool):
    """'/-' as Canara cheque writers make it: a '/' towering over the digits with its '-' drawn through it or
    on from it, one mark (ocr.handwriting.SLASH_CROSSED); and a CTS writer's '/' often runs into the digit
    before it (CTS_SLASH_TOUCHING), the '0' and the '/' one blob. Plain writers never run it in."""
    import cv2

    from ocr.handwriting import SLASH_CROSSED, _draw_mark, _render

    for seed in range(10):
        img, top = _draw_mark(SLASH_CROSSED, 40, 4, np.random.default_rng(seed))
        n, _ = cv2.connectedComponents((img > 128).astype(np.uint8), connectivity=8)
        assert n - 1 == 1 and img.shape[0] >= 1.4 * 40 and top < 0  # one mark, rising above the digits' top line

    def marks_apart(p: float, seed: int) -> bool:
        ink, chars, _ = _render("50/-", pool, np.random.default_rng(seed), height=40, pen_scale=1.0,
                                touching_p=0.0, slash_touching_p=p)
        n, _ = cv2.connectedComponents((ink > 60).astype(np.uint8), connectivity=8)
        return n - 1 == 4

    assert not any(marks_apart(1.0, seed) for seed in range(5))
    assert all(marks_apart(0.0, seed) for seed in range(5))


def test_cts_hand_writes_the_zeros_after_the_last_comma_as_one_run_in_some_amounts(pool):
    """Many Indian writers end "2,70,000" with its "000" in one stroke: the zeros after the last comma
    touch one another in about 3 amounts of 10 (CTS_ZEROS_JOINED); the digits before them, and amounts
    with paise, are written as ever."""
    import cv2

    from ocr.handwriting import _render, cts_hand_text

    joined = 0
    for seed in range(40):
        text, _, joined_from = cts_hand_text("₹2,70,000/-", np.random.default_rng(seed))
        if joined_from is not None:
            assert text[joined_from : joined_from + 3] == "000"
            joined += 1
    assert 4 <= joined <= 22
    assert all(cts_hand_text("₹2,70,000.50", np.random.default_rng(s))[2] is None for s in range(20))
    assert all(cts_hand_text("₹2,70,125/-", np.random.default_rng(s))[2] is None for s in range(20))

    def blobs(joined_from: int | None, seed: int) -> int:
        ink, chars, _ = _render("270000", pool, np.random.default_rng(seed), height=40, pen_scale=1.0,
                                touching_p=0.0, joined_from=joined_from)
        return cv2.connectedComponents((ink > 60).astype(np.uint8), connectivity=8)[0] - 1

    assert all(blobs(None, seed) == 6 for seed in range(5))
    assert all(blobs(3, seed) == 4 for seed in range(5))  # '2', '7', '0', and the run of three zeros
