"""Segmentation: broken digits merge, touching digits split, marks are left out."""

import cv2
import numpy as np
import pytest

from ocr.fields import clean_field, faint_walls
from ocr.handwriting import DigitPool, make_field, render_text
from ocr.reader import comb_of, read_fields
from ocr.records import FieldImage
from ocr.segment import (
    CRUMBS_AT_POINT,
    HALF_MARK_DOUBT,
    SMALL_DIGIT_DOUBT,
    SMALL_MARK,
    STROKE_OVER_DIGIT,
    TRAIN_DRIFT,
    components,
    cut_paths,
    find_comb,
    merge_broken,
    segment,
)


@pytest.fixture(scope="module")
def pool():
    return DigitPool()


def _broken_five() -> np.ndarray:
    """A 5 drawn with a pen, its top bar lifted off the stem (a gap of 4 px)."""
    ink = np.zeros((60, 60), np.uint8)
    cv2.line(ink, (22, 5), (42, 5), 255, 4, cv2.LINE_AA)  # the bar, detached
    cv2.line(ink, (22, 14), (20, 28), 255, 4, cv2.LINE_AA)  # the stem
    cv2.ellipse(ink, (29, 38), (12, 11), 0, -150, 150, 255, 4, cv2.LINE_AA)  # the bowl
    return ink


def test_a_broken_five_merges_into_one_component(classifier):
    ink = _broken_five()
    blobs = components(ink > 60)
    assert len(blobs) == 2  # the bar and the body really are apart
    merged = merge_broken(blobs, H=float(max(b.height for b in blobs)))
    assert len(merged) == 1
    gray = np.pad(255 - ink, 10, constant_values=255)
    seg = segment(*(lambda c: (c.ink, c.mask))(clean_field(gray)), "digits")
    assert len(seg.groups) == 1
    [result] = read_fields([FieldImage("five", "digits", gray)], classifier)
    assert result.value == "5"


def test_two_touching_digits_are_split_and_read(pool, classifier):
    rng = np.random.default_rng(4)
    ink, chars = render_text("38", pool, rng, height=40, touching_p=1.0)
    n, _ = cv2.connectedComponents((ink > 60).astype(np.uint8), connectivity=8)
    assert n - 1 == 1  # one blob: the 3 and the 8 touch
    gray = np.pad(255 - ink, 12, constant_values=255)
    clean = clean_field(gray)
    seg = segment(clean.ink, clean.mask, "digits")
    assert len(seg.groups) == 1 and len(seg.groups[0].paths) > 1  # candidate cuts were made
    [result] = read_fields([FieldImage("38", "digits", gray)], classifier)
    assert result.value == "38"
    assert len(result.digits) == 2
    assert result.digits[0].bbox[2] <= result.digits[1].bbox[2]


def test_currency_comma_and_slash_dash_are_not_digits(pool, classifier):
    rng = np.random.default_rng(11)
    strip = make_field("amount", "1234", rng, pool=pool, boxes="none", currency="$", grouping="western",
                       suffix="/-", noise=2, blur=0, angle=0, jpeg_quality=0, touching_p=0.0)
    assert strip.written == "$1,234/-"
    clean = clean_field(strip.image)
    seg = segment(clean.ink, clean.mask, "amount")
    assert len(seg.groups) == 4
    kinds = [k for k, _ in seg.dropped]
    assert "currency sign" in kinds and "slash" in kinds and "dash" in kinds
    # The comma between the 1 and the 2 is left out (as a comma, or as a point followed by three
    # digits: a thousands separator).
    first, second = seg.groups[0].bbox, seg.groups[1].bbox
    between = [k for k, b in seg.dropped if first[2] <= b[0] and b[2] <= second[0]]
    assert between and set(between) <= {"comma", "separator"}
    [result] = read_fields([FieldImage("amt", "amount", strip.image)], classifier)
    assert result.value == "1234" and result.status == "accepted"


def test_rupee_sign_and_indian_grouping(pool, classifier):
    rng = np.random.default_rng(5)
    strip = make_field("amount", "168900", rng, pool=pool, boxes="baseline", currency="₹", grouping="indian",
                       suffix="", noise=2, blur=0, angle=0, jpeg_quality=0, touching_p=0.0)
    assert strip.written == "₹1,68,900"
    [result] = read_fields([FieldImage("amt", "amount", strip.image)], classifier)
    assert len(result.digits) == 6
    assert result.value == "168900"


def test_a_touching_pair_whose_first_digit_is_written_wide_is_cut_and_read(pool, classifier):
    """A '0' written 1.25 times as wide as high, touching the '4' after it: the piece left of the right cut
    is wider than a digit usually is, and must still be a candidate (``MAX_PIECE_WIDTH``), among enough
    cuts (``MAX_CUTS``) for the right one to be there."""
    H = 40
    left, right = _digit(pool, 0, 0, (int(1.25 * H), H)), _digit(pool, 4, 0, (int(0.6 * H), H))
    ink = np.zeros((H + 20, left.shape[1] + right.shape[1] + 20), np.uint8)
    ink[10 : 10 + H, 10 : 10 + left.shape[1]] = left
    x = 10 + left.shape[1] - 4  # the 4 overlaps the 0 by four columns
    ink[10 : 10 + H, x : x + right.shape[1]] = np.maximum(ink[10 : 10 + H, x : x + right.shape[1]], right)
    n, _ = cv2.connectedComponents((ink > 60).astype(np.uint8), connectivity=8)
    assert n - 1 == 1  # one blob
    gray = 255 - ink
    clean = clean_field(gray)
    [group] = segment(clean.ink, clean.mask, "digits").groups
    widths = [group.candidates[p[0]].bbox[2] - group.candidates[p[0]].bbox[0] for p in group.paths if len(p) == 2]
    assert max(widths) > 1.15 * H  # a two-piece path whose first piece is the wide 0
    [result] = read_fields([FieldImage("04", "digits", gray)], classifier)
    assert result.value == "04" and result.status == "accepted"


def test_a_cut_path_steps_aside_to_save_ink_but_does_not_wander():
    """A cut path moves off its anchor column only where that saves as much ink as it costs."""
    H = 40.0
    mask = np.zeros((40, 36), bool)
    mask[:, 0:6] = True  # a left digit's stem
    mask[:, 30:36] = True  # a right digit's stem
    mask[10:30, 17] = True  # a stroke running down the anchor column: one column aside saves 20 ink pixels
    [path] = cut_paths(mask, [17], H=H)
    cols = np.arange(mask.shape[1])[None, :]
    crossed = mask[np.arange(40), path].sum()
    assert crossed == 0 and np.all(np.abs(path - 17) <= 1)  # round the stroke, and no further
    # An 'L' whose foot reaches under the next digit: winding 10 columns round the end of the
    # right stroke would cross no ink, but it is the kind of wandering that cuts pairs wrong, so
    # the path stays near its anchor and cuts through the foot.
    mask = np.zeros((40, 36), bool)
    mask[:, 0:6] = True
    mask[33:, 0:32] = True
    mask[:21, 24:27] = True
    [path] = cut_paths(mask, [17], H=H)
    assert np.all(np.abs(path - 17) <= 2)
    left, right = mask & (cols < path[:, None]), mask & (cols >= path[:, None])
    assert left[:, 0:6].all() and right[:21, 24:27].all()
    # The wandering cuts the network is trained on (TRAIN_DRIFT) do wind round the stroke's end.
    [path] = cut_paths(mask, [17], H=H, drift=TRAIN_DRIFT)
    left, right = mask & (cols < path[:, None]), mask & (cols >= path[:, None])
    assert left[33:].sum() == mask[33:].sum() and right.sum() == mask[:21, 24:27].sum()


@pytest.mark.parametrize("mark", ["low point", "comma"])
def test_a_comma_or_low_point_before_the_last_two_digits_goes_to_a_person(pool, classifier, mark):
    """"7,90" fits no grouping style: it is a decimal point written low, or a grouping comma before a
    touching pair read as one blob ("58,124" with "12" touching) - never silently either."""
    rng = np.random.default_rng(3)
    ink, chars = render_text("790", pool, rng, height=40, touching_p=0.0, spacing=0.35)
    (_, seven), (_, nine) = chars[0], chars[1]
    base = max(b[3] for _, b in chars)
    x = (seven[2] + nine[0]) // 2
    if mark == "comma":
        cv2.line(ink, (x, base - 3), (x - 2, base + 11), 255, 2)  # a stroke hanging below the baseline
    else:
        cv2.circle(ink, (x, base + 2), 3, 255, -1)  # a round dot, a little below the baseline
    gray = np.pad(255 - ink, 12, constant_values=255)
    clean = clean_field(gray)
    seg = segment(clean.ink, clean.mask, "amount")
    assert seg.point_after is None and len(seg.groups) == 3
    assert seg.comma_after == 1  # the marks after it decide, once read
    [result] = read_fields([FieldImage("amt", "amount", gray)], classifier)
    assert result.status == "review" and "a comma before the last 2 digits (a decimal point?)" in result.reason


def test_a_grouping_comma_before_a_touching_group_is_no_doubt_once_three_digits_are_read(pool, classifier):
    """'58,124' with every digit touching the one before: one blob after the comma. Geometry alone
    cannot tell a grouping comma from a decimal point written low; the reading can: three digits
    after it are a group of thousands, two are a person's call."""
    results = []
    for seed in (0, 5):
        ink, _ = render_text("58,124", pool, np.random.default_rng(seed), height=40, touching_p=1.0, spacing=0.3)
        gray = np.pad(255 - ink, 12, constant_values=255)
        clean = clean_field(gray)
        seg = segment(clean.ink, clean.mask, "amount")
        assert len(seg.groups) == 2 and seg.comma_after == 1  # '58' and '124', each one blob
        [result] = read_fields([FieldImage("amt", "amount", gray)], classifier)
        results.append(result)
    assert results[0].value == "58124" and "comma" not in results[0].reason
    assert results[1].value == "5824" and "a comma before the last 2 digits (a decimal point?)" in results[1].reason


@pytest.mark.parametrize("written, doubt", [("688,958", False), ("688,95847", True)])
def test_more_than_three_digits_after_the_last_comma_go_to_a_person(pool, classifier, written, doubt):
    """Every grouping style has three digits after its last comma. "688,958.47" whose faint point
    was lost in binarisation read 68895847, a hundred times too much, and was accepted; five digits
    after the last comma now send it to a person."""
    ink, _ = render_text(written, pool, np.random.default_rng(5), height=40, touching_p=0.0, spacing=0.3)
    gray = np.pad(255 - ink, 12, constant_values=255)
    clean = clean_field(gray)
    seg = segment(clean.ink, clean.mask, "amount")
    assert seg.last_comma == 3 and seg.comma_after is None
    [result] = read_fields([FieldImage("amt", "amount", gray)], classifier)
    assert result.value == written.replace(",", "")
    reason = "5 digits after the last comma, not 3 (a decimal point lost, or a digit added?)"
    assert (reason in result.reason) == doubt and (result.status == "review" or not doubt)


def test_a_digit_broken_into_specks_and_dashes_is_not_lost_silently(pool, classifier):
    """A faint middle digit that binarisation breaks into short pieces, each of them left out as
    punctuation: together they are as tall as a digit, so a person is asked."""
    rng = np.random.default_rng(3)
    ink, chars = render_text("105", pool, rng, height=40, touching_p=0.0, spacing=0.4)
    x0, y0, x1, y1 = chars[1][1]  # the '0'
    for y in range(y0 + 5, y1, 9):  # erase a band every 9 rows: pieces at most 6 rows tall
        ink[y : y + 3, x0 - 2 : x1 + 2] = 0
    gray = np.pad(255 - ink, 12, constant_values=255)
    clean = clean_field(gray)
    seg = segment(clean.ink, clean.mask, "amount")
    assert len(seg.groups) == 2  # the '1' and the '5'; the '0' fell apart
    assert len(seg.dropped) >= 3
    assert any("broken digit" in d for d in seg.doubts)
    [result] = read_fields([FieldImage("amt", "amount", gray)], classifier)
    assert result.status == "review" and "broken digit" in result.reason


def _digits_and_a_five(pool, bar_to: int, star: bool = False) -> np.ndarray:
    """'1234' in MNIST digits, then a '5' drawn with its bar lifted off and running to column
    ``bar_to``; with ``star``, a '*' written before the '1' at the height of the digits' tops."""
    ink, _ = render_text("1234", pool, np.random.default_rng(7), height=40, touching_p=0.0)
    five = np.zeros((ink.shape[0], 70), np.uint8)
    cv2.line(five, (22, 8), (bar_to, 8), 255, 4, cv2.LINE_AA)
    cv2.line(five, (22, 17), (20, 29), 255, 4, cv2.LINE_AA)
    cv2.ellipse(five, (29, 38), (12, 11), 0, -150, 150, 255, 4, cv2.LINE_AA)
    parts = [ink, five]
    if star:
        mark = np.zeros((ink.shape[0], 24), np.uint8)
        for dx, dy in ((7, 0), (6, 4), (6, -4)):
            cv2.line(mark, (11 - dx, 10 - dy), (11 + dx, 10 + dy), 255, 2, cv2.LINE_AA)
        parts.insert(0, mark)
    return np.pad(255 - np.hstack(parts), 12, constant_values=255)


def test_a_five_whose_long_bar_is_left_out_goes_to_a_person(pool, classifier):
    """A '5' whose bar, written apart, runs on too far to be merged into its body: the bar is left
    out, and the body alone looks like a '6' the network may be sure of. A person is asked."""
    gray = _digits_and_a_five(pool, bar_to=62)
    clean = clean_field(gray)
    seg = segment(clean.ink, clean.mask, "zip")
    assert len(seg.groups) == 5 and [k for k, _ in seg.dropped] == ["star"]
    assert STROKE_OVER_DIGIT in seg.doubts
    [result] = read_fields([FieldImage("zip", "zip", gray)], classifier)
    assert result.status == "review" and STROKE_OVER_DIGIT in result.reason
    # A '*' written before the digits, at their height, stands over none of them: no doubt.
    clean = clean_field(_digits_and_a_five(pool, bar_to=62, star=True))
    seg = segment(clean.ink, clean.mask, "amount")
    assert [k for k, _ in seg.dropped][0] in ("star", "raised mark") and len(seg.dropped) == 2
    assert seg.doubts.count(STROKE_OVER_DIGIT) == 1  # the bar's, not the star's
    clean = clean_field(_digits_and_a_five(pool, bar_to=40, star=True))  # a bar short enough to merge
    seg = segment(clean.ink, clean.mask, "amount")
    assert [k for k, _ in seg.dropped] in (["star"], ["raised mark"]) and len(seg.groups) == 5
    assert STROKE_OVER_DIGIT not in seg.doubts


def test_a_tall_mark_wider_than_a_sign_is_not_dropped_as_a_currency_sign():
    """A leading mark taller than the digits is a '$' only if it is S-wide: a box frame caught with a
    digit, or two digits, are read (and judged by the classifier), not dropped."""
    H = 40
    for width, dropped in ((22, True), (70, False)):
        mask = np.zeros((80, 260), bool)
        mask[10:64, 10 : 10 + width] = True  # the tall leading mark (1.35 H)
        for x in (110, 150, 190):  # three digit-sized blobs
            mask[18:58, x : x + 24] = True
        seg = segment(mask.astype(np.uint8) * 255, mask, "amount")
        kinds = [k for k, _ in seg.dropped]
        assert ("currency sign" in kinds) is dropped
        assert len(seg.groups) == (3 if dropped else 4)
        assert seg.digit_height == pytest.approx(H, abs=1)


def test_a_faint_decimal_point_too_small_for_a_point_goes_to_a_person(pool):
    """'8.81' whose point scanned as a speck of a few pixels: read without it the amount would be
    881, a hundred times too much; a person decides."""
    rng = np.random.default_rng(4)
    ink, chars = render_text("881", pool, rng, height=60, touching_p=0.0, spacing=0.4)
    (_, first), (_, second) = chars[0], chars[1]
    base = max(b[3] for _, b in chars)
    x = (first[2] + second[0]) // 2
    ink[base - 2 : base, x : x + 2] = 255  # 4 pixels: below any point's size for digits 60 px tall
    gray = np.pad(255 - ink, 12, constant_values=255)
    clean = clean_field(gray)
    seg = segment(clean.ink, clean.mask, "amount")
    assert seg.point_after is None and len(seg.groups) == 3
    assert any(d.startswith("a speck before the last 2 digits") for d in seg.doubts)
    # Where nothing lies between the digits there is no such doubt.
    ink[base - 2 : base, x : x + 2] = 0
    clean = clean_field(np.pad(255 - ink, 12, constant_values=255))
    assert not segment(clean.ink, clean.mask, "amount").doubts


def test_a_faint_point_before_a_digit_that_lost_its_foot_still_goes_to_a_person(pool):
    """'8.77' whose point scanned as a speck and whose first '7' was written so faintly that its foot
    did not survive: measured against that '7', standing high, the speck seemed to lie below the line,
    and 877 was accepted (CTS strips, seed 2). The line of either neighbour, or of the field, will do."""
    rng = np.random.default_rng(4)
    ink, chars = render_text("877", pool, rng, height=60, touching_p=0.0, spacing=0.4)
    (_, first), (_, second) = chars[0], chars[1]
    base = max(b[3] for _, b in chars)
    ink[second[1] + int(0.6 * (second[3] - second[1])) :, second[0] : second[2]] = 0  # its foot lost
    x = (first[2] + second[0]) // 2
    ink[base - 2 : base, x : x + 2] = 255
    clean = clean_field(np.pad(255 - ink, 12, constant_values=255))
    seg = segment(clean.ink, clean.mask, "amount")
    assert seg.point_after is None and len(seg.groups) == 3
    assert any(d.startswith("a speck before the last") for d in seg.doubts)


def test_crumbs_of_a_faint_digit_beside_a_decimal_point_go_to_a_person(pool, classifier):
    """'7404' with its first '4' written so faintly that two crumbs of it are left after
    binarisation, one round like a point: read as it stands the amount is 7.04, a thousand times
    too little. A point with other marks left out right beside it is no sure point; a person decides."""
    ink, chars = render_text("704", pool, np.random.default_rng(4), height=40, touching_p=0.0, spacing=0.9)
    (_, first), (_, second) = chars[0], chars[1]
    base = max(b[3] for _, b in chars)
    x = (first[2] + second[0]) // 2
    dot = ink.copy()
    cv2.circle(dot, (x + 3, base - 4), 3, 255, -1)  # round, on the baseline: a decimal point
    crumbs = dot.copy()
    crumbs[base - 12 : base - 3, x - 5 : x - 2] = 255  # and a short stroke just left of it
    for picture, doubt in ((dot, False), (crumbs, True)):
        gray = np.pad(255 - picture, 12, constant_values=255)
        clean = clean_field(gray)
        seg = segment(clean.ink, clean.mask, "amount")
        assert seg.point_after == 1 and len(seg.groups) == 3
        assert (CRUMBS_AT_POINT in seg.doubts) == doubt
        [result] = read_fields([FieldImage("amt", "amount", gray)], classifier)
        assert result.value == "7.04"
        assert (CRUMBS_AT_POINT in result.reason and result.status == "review") == doubt


def _rupee(ink: np.ndarray, x: int, top: int, w: int, h: int, pen: int = 5) -> None:
    """Draw a rupee sign ``w`` wide and ``h`` tall at (x, top): two bars, a bowl, a leg."""
    mid = top + int(0.28 * h)
    cv2.line(ink, (x, top), (x + w, top), 255, pen)
    cv2.line(ink, (x, mid), (x + w, mid), 255, pen)
    cv2.ellipse(ink, (x + int(0.3 * w), mid), (int(0.35 * w), int(0.2 * h)), 0, -90, 90, 255, pen)
    join = (x + int(0.3 * w), mid + int(0.2 * h))
    cv2.line(ink, (x, join[1]), join, 255, pen)
    cv2.line(ink, join, (x + w, top + h), 255, pen)


def test_a_rupee_sign_written_wide_is_still_a_sign_but_a_wide_pair_is_not():
    """A rupee sign drawn with a broad pen is 0.8-0.95 H wide; it must still be told as a possible
    sign (read only if the classifier is sure it is a digit), or it is read as a '7' in front of the
    amount. A blob wider than that (1.2 H) is a pair of digits, bars or not."""
    H = 40
    for width, sign in ((24, True), (31, True), (44, False)):  # boxes 0.72, 0.9 and 1.2 H wide
        ink = np.zeros((80, 260), np.uint8)
        _rupee(ink, 10, 18, width, 38)
        for x in (110, 150, 190):  # three digit-sized blobs
            ink[18:58, x : x + 24] = 255
        mask = ink > 60
        seg = segment(ink, mask, "amount")
        assert seg.digit_height == pytest.approx(H, abs=1)
        assert len(seg.groups) == 4
        assert (seg.groups[0].optional == "a rupee sign") is sign, width


def test_a_rupee_sign_taller_than_the_digits_may_be_wider_than_one():
    """A rupee sign written 1.55 H tall may be 1.1 H wide (a cheque's '₹' in a broad hand). No
    touching pair is taller than the digits, so its bars still tell it from one; read as a digit it
    put a '3' in front of the amount."""
    ink = np.zeros((100, 260), np.uint8)
    _rupee(ink, 6, 8, 38, 56)  # with the pen 1.1 H wide, 1.55 H tall, standing on the baseline
    for x in (110, 150, 190):
        ink[26:66, x : x + 24] = 255
    seg = segment(ink, ink > 60, "amount")
    assert seg.digit_height == pytest.approx(40, abs=1)
    assert len(seg.groups) == 4 and seg.groups[0].optional == "a rupee sign"


def _three_digits(top: int, base: int) -> np.ndarray:
    """A ``uint8 [90, 300]`` amount mask with three digits, 1 H = base - top tall, as solid bars at x 10-114."""
    mask = np.zeros((90, 300), np.uint8)
    for x in (10, 50, 90):
        mask[top:base, x : x + 24] = 1
    return mask


@pytest.mark.parametrize("ending", ["flourish", "wide slash", "flat zero"])
def test_a_slash_dash_written_wide_or_as_a_flourish_is_left_out(ending):
    """'/-' as real cheques have it: the '-' a long rising stroke (2.5 times as wide as tall, 0.7 H),
    or the '/' a broad lean (0.9 H wide, 1.4 H tall). Read, they were digits ("329,000/-" read with
    two more '1's). A flat '0' at the end is wider than tall too, but it has a loop: a digit."""
    top, base = 20, 60
    mask = _three_digits(top, base)
    if ending == "flourish":
        cv2.line(mask, (140, base - 1), (150, top), 1, 4)  # '/'
        cv2.polylines(mask, [np.array([(165, top + 30), (190, top + 22), (215, top + 14), (235, top + 4)])],
                      False, 1, 4)
    elif ending == "wide slash":
        cv2.line(mask, (140, base + 2), (172, top - 10), 1, 4)
        mask[top + 14 : top + 24, 185:215] = 1  # '-'
    else:
        cv2.ellipse(mask, (175, top + 26), (36, 13), 0, 0, 360, 1, 3)
    m = mask.astype(bool)
    seg = segment(mask * 255, m, "amount")
    kinds = sorted(k for k, _ in seg.dropped)
    if ending == "flat zero":
        assert len(seg.groups) == 4 and "dash" not in kinds
    else:
        assert len(seg.groups) == 3 and kinds == ["dash", "slash"]


@pytest.mark.parametrize("ending", ["short flourish", "seven", "open four"])
def test_a_short_flourish_after_a_slash_is_the_dash_but_a_digit_after_a_one_is_not(ending):
    """'59,000/' followed by a short bowed stroke rising steeply (1.3 H long, 0.9 H of rise) read 5900011:
    too short for a flourish anywhere, it is one after a '/' that ends the amount. A '7' or an open '4'
    after a '1' leaning like a '/' is as wide and as tall, but its strokes stand over each other
    ("217" read 2)."""
    top, base = 20, 60
    mask = _three_digits(top, base)
    cv2.line(mask, (140, base - 1), (152, top), 1, 4)  # the '/' (or a '1' leaning right)
    if ending == "short flourish":
        cv2.polylines(mask, [np.array([(165, top + 38), (180, top + 24), (195, top + 12), (217, top + 4)])],
                      False, 1, 4)
    elif ending == "seven":
        cv2.polylines(mask, [np.array([(165, top + 4), (205, top + 4), (178, base - 2)])], False, 1, 4)
    else:
        cv2.polylines(mask, [np.array([(172, top + 2), (165, top + 26), (205, top + 22)])], False, 1, 4)
        cv2.line(mask, (198, top + 8), (194, base - 2), 1, 4)
    seg = segment(mask * 255, mask.astype(bool), "amount")
    kinds = sorted(k for k, _ in seg.dropped)
    if ending == "short flourish":
        assert len(seg.groups) == 3 and kinds == ["dash", "slash"]
    else:
        assert len(seg.groups) == 5 and "dash" not in kinds


@pytest.mark.parametrize("ending", ["slash and dash", "slash and a low foot", "a 2 and its foot"])
def test_a_dash_at_the_foot_of_the_mark_taken_for_a_slash_goes_to_a_person(ending):
    """'9402' whose '2' binarisation broke into its hook and its foot: the foot, low and short, passes
    for the '-' of '/-' and the hook, narrow, for its '/', and the amount read 940. A '-' at the foot of
    the mark it follows, where it starts, is a doubt; a '-' at mid-height beside a '/' is not. A hook that
    curls (rows crossing its ink twice) is no '/' at all: it is read, and a person checks it."""
    from ocr.segment import SLASH_FOOT_DOUBT, SLASH_JOINED_DOUBT

    top, base = 20, 60
    mask = _three_digits(top, base)
    if ending == "slash and dash":
        cv2.line(mask, (140, base - 1), (152, top), 1, 4)
        mask[top + 18 : top + 22, 162:176] = 1
    elif ending == "slash and a low foot":
        cv2.line(mask, (140, base - 6), (152, top), 1, 4)
        mask[base - 12 : base - 8, 156:163] = 1
    else:
        cv2.polylines(mask, [np.array([(140, top + 8), (150, top), (162, top + 8), (140, base - 6)])], False, 1, 4)
        mask[base - 12 : base - 8, 162:169] = 1  # the foot (too small to merge), broken off where the stroke turned
    seg = segment(mask * 255, mask.astype(bool), "amount")
    if ending == "a 2 and its foot":
        assert len(seg.groups) == 4 and seg.doubts == [SLASH_JOINED_DOUBT]
    else:
        assert len(seg.groups) == 3 and sorted(k for k, _ in seg.dropped) == ["dash", "slash"]
        assert (SLASH_FOOT_DOUBT in seg.doubts) == (ending == "slash and a low foot")


@pytest.mark.parametrize("point", [True, False])
@pytest.mark.parametrize("dash", ["flourish", "thin"])
def test_a_slash_and_a_tall_dash_after_a_decimal_point_go_to_a_person(point, dash):
    """'213900.12' whose '1' passed for a '/' and whose '2', written with a long flat foot, for a flourished
    '-' of '/-': read 213900. After a point, such a '/-' goes to a person; '/-' after digits does not, nor a
    '/-' with a thin dash after a dot (a speck before a '/-' written plainly)."""
    from ocr.segment import POINT_BEFORE_SLASH

    top, base = 20, 60
    mask = _three_digits(top, base)
    if point:
        mask[base - 6 : base, 124:130] = 1
    cv2.line(mask, (140, base - 1), (152, top), 1, 4)
    if dash == "flourish":  # a rising stroke 0.6 H tall, 2.5 times as wide
        cv2.line(mask, (165, top + 34), (225, top + 10), 1, 4)
    else:
        mask[top + 18 : top + 22, 162:176] = 1
    seg = segment(mask * 255, mask.astype(bool), "amount")
    assert len(seg.groups) == 3 and {"dash", "slash"} <= {k for k, _ in seg.dropped}
    assert (POINT_BEFORE_SLASH in seg.doubts) == (point and dash == "flourish")


def test_a_small_zero_before_the_decimal_point_counts_among_the_groups_before_it(pool, classifier):
    """'150.25' with its '0' written half as high: the small '0' is a group of its own (read with a
    doubt), so the decimal point stands after three groups, not after the two full-height digits
    (which read it 15.025, a decimal part of three digits)."""
    rng = np.random.default_rng(1)
    big, _ = render_text("150", pool, rng, height=40, touching_p=0.0, spacing=0.3)
    small, _ = render_text("0", pool, rng, height=20, touching_p=0.0)
    tail, _ = render_text(".25", pool, rng, height=40, touching_p=0.0, spacing=0.3)
    lead = big[:, : big.shape[1] * 2 // 3]  # "15", the big '0' cut away
    lead = lead[:, : np.flatnonzero(lead.max(axis=0))[-1] + 1]
    h = max(lead.shape[0], tail.shape[0])
    parts = [np.pad(x, ((h - x.shape[0], 0), (4, 4))) for x in (lead, small, tail)]  # one baseline
    ink = np.hstack(parts)
    gray = np.pad(255 - ink, 12, constant_values=255)
    clean = clean_field(gray)
    seg = segment(clean.ink, clean.mask, "amount")
    assert [g.optional for g in seg.groups] == ["", "", SMALL_MARK, "", ""] and seg.point_after == 3
    [result] = read_fields([FieldImage("amt", "amount", gray)], classifier)
    assert result.value == "150.25" and SMALL_DIGIT_DOUBT in result.reason


@pytest.mark.parametrize("stroke", ["slash-dash", "tall one"])
def test_a_slash_dash_in_one_stroke_is_a_mark_the_classifier_must_claim(pool, classifier, stroke):
    """'150/-' with the '-' drawn on from the foot of the '/' without lifting the pen: one blob,
    taller than the digits and sparse. It was read as a digit ('1500' with a '6' or a '4' after it).
    Its '/' a straight stroke towering over the digits and its '-' a stroke across, it is left out as
    '/-' (ocr.segment._trailing_slash); a tall narrow '1' at the end is still an ordinary digit."""
    rng = np.random.default_rng(0)
    ink, chars = render_text("150", pool, rng, height=40, touching_p=0.0, spacing=0.3)
    top, base, right = min(b[1] for _, b in chars), max(b[3] for _, b in chars), chars[-1][1][2]
    ink = np.pad(ink, ((16, 8), (0, 80)))
    top, base = top + 16, base + 16
    if stroke == "slash-dash":
        cv2.polylines(ink, [np.array([(right + 32, top - 14), (right + 10, base + 2), (right + 70, base - 16)])],
                      False, 255, 2, cv2.LINE_AA)
    else:
        cv2.line(ink, (right + 24, top - 14), (right + 18, base + 2), 255, 4, cv2.LINE_AA)
    gray = np.pad(255 - ink, 12, constant_values=255)
    clean = clean_field(gray)
    seg = segment(clean.ink, clean.mask, "amount")
    assert len(seg.groups) == (3 if stroke == "slash-dash" else 4) and not any(g.optional for g in seg.groups)
    assert ("slash" in [k for k, _ in seg.dropped]) == (stroke == "slash-dash")
    [result] = read_fields([FieldImage("amt", "amount", gray)], classifier)
    if stroke == "slash-dash":
        assert result.value == "150"
    else:
        assert len(result.digits) == 4


def test_amounts_written_as_on_cts_cheques_are_read_without_a_wrong_one_accepted(pool, classifier):
    """'₹1,50,000/-' written 40 times as Indian cheque writers do (ocr.handwriting cts_hand: long
    commas, '/-' as a flourish, in one stroke or crossed, run into the last digit, small trailing
    zeros). Before these marks were told apart none was read right (long commas and the '/' read as
    '1's) and 5 were accepted wrong; now most are read right and none is accepted wrong."""
    strips = [make_field("amount", "150000", np.random.default_rng(seed), pool=pool, cts_hand=True,
                         touching_p=0.0, boxes="none", angle=0.0) for seed in range(40)]
    results = read_fields([FieldImage(f"a{i}", "amount", s.image) for i, s in enumerate(strips)], classifier)
    assert sum(r.value == "150000" for r in results) >= 28
    assert not [r.value for r in results if r.status == "accepted" and r.value != "150000"]


def test_zeros_written_small_at_the_end_of_an_amount_are_read_but_checked(pool, classifier):
    """'15000' with its last two zeros written half as high, as the trailing zeros of Indian amounts
    often are: they are read (left out, the amount would be a hundred times too small), and a person
    checks, since no digit count does. A slash as small is still left out, with its doubt."""
    rng = np.random.default_rng(1)
    big, _ = render_text("150", pool, rng, height=40, touching_p=0.0, spacing=0.3)
    small, _ = render_text("00", pool, rng, height=20, touching_p=0.0, spacing=0.4)
    ink = np.zeros((big.shape[0], big.shape[1] + small.shape[1] + 10), np.uint8)
    ink[:, : big.shape[1]] = big
    ink[big.shape[0] - small.shape[0] :, big.shape[1] + 10 :] = small  # on the same baseline
    slash = ink.copy()
    slash[:, big.shape[1] :] = 0
    cv2.line(slash, (big.shape[1] + 14, big.shape[0] - 6), (big.shape[1] + 20, big.shape[0] - 22), 255, 3)
    results = []
    for img in (ink, slash):
        gray = np.pad(255 - img, 12, constant_values=255)
        clean = clean_field(gray)
        seg = segment(clean.ink, clean.mask, "amount")
        assert len(seg.groups) == (5 if img is ink else 3)
        assert [g.optional for g in seg.groups[3:]] == ([SMALL_MARK] * 2 if img is ink else [])
        [result] = read_fields([FieldImage("amt", "amount", gray)], classifier)
        results.append(result)
    assert results[0].value == "15000" and results[0].status == "review"
    assert SMALL_DIGIT_DOUBT in results[0].reason
    assert results[1].value == "150" and HALF_MARK_DOUBT in results[1].reason


@pytest.mark.parametrize("zero", ["open ring", "filled in"])
def test_a_small_zero_left_open_or_filled_in_is_offered_to_the_classifier(zero):
    """A trailing zero written half as high with a gap in its ring, or filled in by a broad pen, has no
    loop; it was left out ("59,000" shown as 5900). A compact mark is offered to the classifier as a
    digit written small (read, it sends the amount to a person unless the grouping after a comma counts it);
    a small stroke as high ('/') is not."""
    top, base = 20, 60
    mask = _three_digits(top, base)
    if zero == "open ring":
        cv2.ellipse(mask, (135, base - 9), (6, 7), 0, 60, 330, 1, 3)  # 0.45 H tall
    else:
        cv2.ellipse(mask, (135, base - 9), (6, 8), 0, 0, 360, 1, -1)
    cv2.line(mask, (160, base - 2), (166, base - 18), 1, 3)  # a stroke as high: no digit
    seg = segment(mask * 255, mask.astype(bool), "amount")
    assert [g.optional for g in seg.groups] == ["", "", "", SMALL_MARK]
    assert [k for k, _ in seg.dropped] == ["half mark"] and HALF_MARK_DOUBT in seg.doubts


@pytest.mark.parametrize("comma", [True, False])
def test_zeros_written_small_in_the_group_after_the_last_comma_are_counted_by_the_grouping(pool, classifier, comma):
    """'215,000' with its last two zeros written half as high: the grouping counts the three digits after the
    last comma (a mark taken for a zero, or a zero lost, leaves two or four), so those zeros need no person
    of their own; '215000' written the same way without the comma still does."""
    rng = np.random.default_rng(1)
    big, chars = render_text("215,0" if comma else "2150", pool, rng, height=40, touching_p=0.0, spacing=0.3)
    small, _ = render_text("00", pool, rng, height=20, touching_p=0.0, spacing=0.4)
    ink = np.zeros((big.shape[0] + 10, big.shape[1] + small.shape[1] + 10), np.uint8)
    ink[: big.shape[0], : big.shape[1]] = big
    base = max(b[3] for c, b in chars if c.isdigit())  # the digits' baseline
    ink[base - small.shape[0] : base, big.shape[1] + 10 :] = small
    gray = np.pad(255 - ink, 12, constant_values=255)
    clean = clean_field(gray)
    seg = segment(clean.ink, clean.mask, "amount")
    assert [g.optional for g in seg.groups] == [""] * 4 + [SMALL_MARK] * 2
    assert seg.last_comma == (3 if comma else None)
    [result] = read_fields([FieldImage("amt", "amount", gray)], classifier)
    assert result.value == "215000"
    assert (SMALL_DIGIT_DOUBT in result.reason) == (not comma)


def test_a_slash_twice_the_digits_height_does_not_set_the_line():
    """'6900/-' with the '/' drawn through at twice the digits' height (a real Canara cheque): with
    the tallest mark setting the half-height cut, the digits fell under it, the '/' alone made the
    line height, and every digit became "a mark half a digit high"."""
    top, base = 30, 70
    mask = np.zeros((120, 320), np.uint8)
    for x in (10, 50, 90, 130):
        mask[top:base, x : x + 26] = 1
    cv2.line(mask, (205, 8), (175, 104), 1, 4)  # the '/', 2.4 H tall
    mask[top + 18 : top + 24, 215:250] = 1  # the '-'
    seg = segment(mask * 255, mask.astype(bool), "amount")
    assert seg.digit_height == pytest.approx(40, abs=1)
    assert len(seg.groups) == 4 and not any(g.optional for g in seg.groups)


def _joined_ending(ending: str) -> np.ndarray:
    """Three digits (solid bars, 1 H = 40 px, the last at x 90-113) and '/-' after them as CTS cheque
    writers make it: its '/' towering over the digits with the '-' drawn through it, apart or joined to
    the last digit; a '/' as tall as the digits joined to it and a '-' after; '/-' in one stroke joined
    to it."""
    top, base = 30, 70
    mask = _three_digits(top, base)
    mask = np.pad(mask, ((0, 30), (0, 0)))
    if ending.startswith("crossed"):
        x = 116 if ending == "crossed, joined" else 140
        cv2.line(mask, (x, base + 6), (x + 16, top - 24), 1, 4)
        cv2.line(mask, (x - 2, top + 16), (x + 50, top + 10), 1, 4)
    elif ending == "joined, '-' after":
        cv2.line(mask, (116, base - 1), (130, top), 1, 4)
        mask[top + 18 : top + 22, 142:162] = 1
    else:  # one stroke, joined
        cv2.polylines(mask, [np.array([(134, top - 18), (116, base - 1), (172, base - 18)])], False, 1, 4)
    return mask


@pytest.mark.parametrize("ending", ["crossed", "crossed, joined", "joined, '-' after", "one stroke, joined"])
def test_a_slash_joined_to_the_last_digit_or_crossed_by_its_dash_is_taken_apart_and_left_out(ending):
    """'/-' as on real Canara cheques: the '-' drawn through a '/' twice the digits' height, often with
    the '/' run into the last '0' ("69,00,000/-" read 690000011). The '/' is found as the rightmost
    straight stroke of the mark (ocr.segment._trailing_slash) and left out with its '-'; the digit it
    touches is read alone. Before, the crossed '/-' was read as a '4' or '+', and '/' and digit as one."""
    mask = _joined_ending(ending)
    seg = segment(mask * 255, mask.astype(bool), "amount")
    assert len(seg.groups) == 3 and not any(g.optional for g in seg.groups) and not seg.doubts
    x0, y0, x1, y1 = seg.groups[-1].bbox  # the last digit, at most with the foot of the '/' where it touched
    assert x0 == 90 and x1 < 126 and y1 - y0 <= 44
    assert "slash" in [k for k, _ in seg.dropped]


@pytest.mark.parametrize("ending", ["one stroke as tall as the digits", "seven with a bar across", "nine against it",
                                    "crossed seven after one digit"])
def test_what_only_looks_like_a_slash_joined_to_a_digit_is_read_and_checked_or_kept(ending):
    """Where a '/' joined to a digit cannot be told from a digit, nothing is left out silently. '/-' in one
    stroke joined to the last digit but no taller than it is shaped as a '2' with a long foot: read as
    written and checked ("7" with such a '/-' was accepted as 2). A '7' with a bar across, as tall as the
    digits, is a digit. A '9' written against a '/' before the '-' makes a narrow mark that was left out
    whole as the '/' ("79/-" accepted as 7): its rows cross the ink twice, so it is read and checked.
    "97" with a crossed '7' lost its '7' as a '/' towering over the '9': the ends of the two bars left of
    the stem, half a digit high, were measured as a digit."""
    from ocr.segment import SLASH_JOINED_DOUBT, TRAILING_SLASH_DOUBT

    top, base = 30, 70
    mask = np.pad(_three_digits(top, base), ((0, 30), (0, 0)))
    if ending == "crossed seven after one digit":
        mask[:, 40:] = 0
        cv2.line(mask, (66, base - 1), (84, top), 1, 4)  # the stem, leaning as a '/'
        cv2.line(mask, (56, top + 9), (80, top + 7), 1, 4)  # the top bar, from the left into the stem
        cv2.line(mask, (54, top + 26), (96, top + 22), 1, 4)  # the bar across
    elif ending == "one stroke as tall as the digits":
        cv2.polylines(mask, [np.array([(128, top), (116, base - 1), (162, base - 12)])], False, 1, 4)
    elif ending == "seven with a bar across":
        cv2.polylines(mask, [np.array([(140, top), (170, top), (150, base - 1)])], False, 1, 4)
        cv2.line(mask, (150, top + 20), (188, top + 18), 1, 4)
    else:
        cv2.line(mask, (140, base - 1), (152, top), 1, 4)
        cv2.circle(mask, (143, top + 9), 6, 1, 3)
        mask[top + 18 : top + 22, 164:182] = 1
    seg = segment(mask * 255, mask.astype(bool), "amount")
    assert "slash" not in [k for k, _ in seg.dropped]
    if ending == "one stroke as tall as the digits":
        assert len(seg.groups) == 3 and seg.doubts == [TRAILING_SLASH_DOUBT]
    elif ending == "seven with a bar across":
        assert len(seg.groups) == 4 and not seg.doubts
    elif ending == "crossed seven after one digit":
        assert len(seg.groups) == 2 and seg.groups[-1].bbox[0] <= 56 and seg.groups[-1].bbox[2] >= 94
    else:
        assert len(seg.groups) == 4 and seg.doubts == [SLASH_JOINED_DOUBT]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_amount_whose_crossed_slash_dash_touches_its_last_zero_is_read(pool, classifier, seed):
    """'250' written with MNIST digits and '/-' as on Canara cheques: a tall '/' run into the '0', its '-'
    drawn on from it at mid-height. Read 250 (the '/' read as a '1' and the '-' as another before)."""
    rng = np.random.default_rng(seed)
    ink, chars = render_text("250", pool, rng, height=40, touching_p=0.0, spacing=0.3)
    ink = np.pad(ink, ((30, 16), (0, 90)))
    top, base = min(b[1] for _, b in chars) + 30, max(b[3] for _, b in chars) + 30
    ys, xs = np.nonzero(ink > 128)
    mine = xs >= chars[-1][1][0]
    lean = 18 / (base - top + 26)  # the '/' from (x, base) to (x + 18, top - 26), just clear of the '0' ink
    x = int(np.max(xs[mine] - lean * (base - ys[mine]))) + 3
    cv2.line(ink, (x, base), (x + 18, top - 26), 255, 4, cv2.LINE_AA)
    cv2.line(ink, (x + 12, top + 14), (x + 60, top + 8), 255, 4, cv2.LINE_AA)
    [result] = read_fields([FieldImage("amt", "amount", np.pad(255 - ink, 12, constant_values=255))], classifier)
    assert result.value == "250"


def test_a_crumb_after_the_last_digit_does_not_hide_the_decimal_point(pool, classifier):
    """'7.98' with a stray dot after the 8 (a crumb of a faint digit, or a full stop): the decimal
    point is the last mark with digits after it, not the last mark. Read as 798 the amount would be
    a hundred times too much."""
    rng = np.random.default_rng(3)
    ink, chars = render_text("7.98", pool, rng, height=40, touching_p=0.0, spacing=0.35)
    base = max(b[3] for _, b in chars)
    ink = np.pad(ink, ((0, 0), (0, 20)))
    x = chars[-1][1][2] + 8
    cv2.circle(ink, (x, base - 3), 3, 255, -1)  # a round dot on the baseline, clear of the 8
    gray = np.pad(255 - ink, 12, constant_values=255)
    clean = clean_field(gray)
    seg = segment(clean.ink, clean.mask, "amount")
    assert len(seg.groups) == 3 and seg.point_after == 1
    assert [k for k, _ in seg.dropped] == ["separator"]  # the dot after the 8
    [result] = read_fields([FieldImage("amt", "amount", gray)], classifier)
    assert result.value == "7.98"


def _date_with_a_small_zero(pool, seed: int) -> np.ndarray:
    """'25102016' with its '0' written a little over half as tall as the other digits (and wider)."""
    rng = np.random.default_rng(seed)
    ink, chars = render_text("25102016", pool, rng, height=40, touching_p=0.0, spacing=0.5)
    x0, y0, x1, y1 = chars[3][1]
    zero = ink[y0:y1, x0:x1].copy()
    ink[y0:y1, x0:x1] = 0
    h, w = int(0.55 * (y1 - y0)), x1 - x0 + 6
    ink[y1 - h : y1, x0 - 3 : x0 - 3 + w] = cv2.resize(zero, (w, h))
    return np.pad(255 - ink, 12, constant_values=255)


def test_a_digit_written_small_is_read_when_the_classifier_is_sure_and_asked_about_when_not(pool, classifier):
    """A flat '0' in a date is only half a digit high. Left out, the date has 7 digits and goes to a
    person; read when the classifier is sure of it, and left out with a doubt when it is not."""
    gray = _date_with_a_small_zero(pool, seed=1)
    clean = clean_field(gray)
    seg = segment(clean.ink, clean.mask, "date")
    assert len(seg.groups) == 8 and seg.groups[3].optional == SMALL_MARK and not seg.doubts
    [result] = read_fields([FieldImage("date", "date", gray)], classifier)
    assert result.value == "25102016" and HALF_MARK_DOUBT not in result.reason
    # Another hand's small '0' that the classifier doubts: not read, and a person is asked.
    [result] = read_fields([FieldImage("date", "date", _date_with_a_small_zero(pool, seed=7))], classifier)
    assert result.value == "2512016" and result.status == "review" and HALF_MARK_DOUBT in result.reason
    # In an amount a half-high mark goes to the classifier only when it has a loop, as this '0'
    # has (signs, dashes and commas have none), and read it sends the field to a person.
    seg = segment(clean.ink, clean.mask, "amount")
    assert len(seg.groups) == 8 and seg.groups[3].optional == SMALL_MARK and HALF_MARK_DOUBT not in seg.doubts
    [result] = read_fields([FieldImage("amt", "amount", gray)], classifier)
    assert result.value == "25102016" and SMALL_DIGIT_DOUBT in result.reason


def test_a_thick_comma_and_a_thick_trailing_dash_are_punctuation_in_an_amount():
    """'8,475/-' written with a broad pen: the comma is 0.46 H wide and the dash 0.36 H tall, a
    little over what a thin pen leaves. Neither is "a mark half a digit high" for a person to check."""
    H = 40
    mask = np.zeros((90, 400), bool)
    top, base = 20, 60
    mask[top:base, 10:34] = True  # the 8
    mask[top + 26 : base + 9, 40:59] = True  # the comma: 0.48 H wide, 0.58 H tall, hanging below
    for x in (70, 110, 150):  # 4, 7, 5
        mask[top:base, x : x + 24] = True
    cv2.line(mask.view(np.uint8), (190, base - 1), (204, top), 1, 5)  # the '/'
    mask[top + 14 : top + 28, 214:242] = True  # the '-', 14 px (0.35 H) tall
    mask = mask.astype(bool)
    seg = segment(mask.astype(np.uint8) * 255, mask, "amount")
    kinds = sorted(k for k, _ in seg.dropped)
    comma = [b for k, b in seg.dropped if k == "comma"]
    assert kinds == ["comma", "dash", "slash"] and comma and (comma[0][2] - comma[0][0]) > 0.42 * H
    assert len(seg.groups) == 4 and not seg.doubts and seg.comma_after is None


def _amount_with_a_low_stroke(where: str) -> tuple[np.ndarray, int]:
    """Digits as blocks 1 H tall on one baseline (H = 40) and a stroke written low: from 0.5 H
    under the top line to 0.35 H below the baseline, slanted, as a long grouping comma is written.
    ``where``: after two digits ("42,020"), or first ("1" written low), or a small '0' written low
    (a ring) instead of the stroke. Returns the mask and the stroke's left column."""
    top, base = 20, 60
    mask = np.zeros((100, 330), np.uint8)
    xs = [10, 45] + [115, 150, 185] if where != "first" else [115, 150, 185]
    for x in xs:
        mask[top:base, x : x + 26] = 1
    x = 80
    if where == "loop":
        cv2.ellipse(mask, (x + 10, base), (10, 14), 0, 0, 360, 1, 3)  # a small '0', 0.7 H, written low
    else:
        cv2.line(mask, (x + 14, top + 20), (x + 2, base + 14), 1, 4)
    return mask.astype(bool), x


@pytest.mark.parametrize("where", ["comma", "first", "loop"])
def test_a_long_comma_hanging_below_the_line_is_left_out_but_not_a_low_digit(where):
    """Real cheques' grouping commas are often long strokes, from low in the line to well below the
    baseline ("42,020"; 0.85 H long, taller than the short comma rule allows): read, they were '1's.
    A stroke with no digit before it is not a comma (a '1' written low at the start), nor is a mark
    with a loop (a small '0' written low)."""
    mask, x = _amount_with_a_low_stroke(where)
    seg = segment(mask.astype(np.uint8) * 255, mask, "amount")
    commas = [b for k, b in seg.dropped if k == "comma"]
    if where == "comma":
        assert len(seg.groups) == 5 and seg.long_commas == [2] and commas and commas[0][0] >= x
    else:
        assert not commas and not seg.long_commas and len(seg.groups) == (6 if where == "loop" else 4)
        assert any(g.bbox[0] <= x + 4 < g.bbox[2] for g in seg.groups)  # the mark is read


@pytest.mark.parametrize("printed", ["inside", ""])
def test_a_digit_written_after_the_sign_is_no_comma(classifier, printed):
    """"4,352" on a cheque that prints the '₹' inside the amount box was accepted as 352: the open '4'
    after the sign, its foot a little below the printed sign's and its top 0.45 H under it, stood "low"
    against the sign, and was left out as a long comma. After the printed sign nothing is a comma (no
    digit comes before it); after a sign the writer may have written, such a stroke is still taken for
    one, but the amount goes to a person."""
    from ocr.reader import FIRST_COMMA_DOUBT

    top, base = 22, 61  # the digits: 1 H = 39 px
    ink = np.zeros((100, 300), np.uint8)
    _rupee(ink, 4, 4, 24, 46)  # the sign: two bars, standing higher than the digits
    cv2.polylines(ink, [np.array([(56, top), (47, top + 25), (68, top + 25)])], False, 255, 4)  # an open '4'
    cv2.line(ink, (63, top + 8), (62, base + 2), 255, 4)
    cv2.line(ink, (94, top + 20), (82, base + 14), 255, 4)  # the comma, long, hanging below the line
    for x in (115, 150, 185):
        ink[top:base, x : x + 26] = 255
    seg = segment(ink, ink > 0, "amount", printed_sign=printed)
    four_read = any(g.bbox[0] <= 50 < g.bbox[2] for g in seg.groups)
    assert four_read == bool(printed) and seg.long_commas == ([1] if printed else [0, 0])
    [result] = read_fields([FieldImage("amt", "amount", 255 - ink, printed_sign=printed)], classifier)
    assert (FIRST_COMMA_DOUBT in result.reason) != bool(printed)
    if not printed:
        assert result.status == "review"


@pytest.mark.parametrize("after, doubt", [("020", False), ("0201", True)])
def test_a_long_comma_needs_digits_after_it_that_group_as_after_a_comma(pool, classifier, after, doubt):
    """Left out as a comma, a long low stroke must be followed by digits that group as after a
    comma (3, or 3 plus pairs, or multiples of 3). Four digits after it cannot: the stroke may be a
    '1' written low, so the field goes to a person, with the reading as punctuation shown."""
    rng = np.random.default_rng(6)
    ink, chars = render_text("42 " + after, pool, rng, height=40, touching_p=0.0, spacing=0.3)
    ink = np.pad(ink, ((0, 20), (0, 0)))  # room below the baseline
    boxes = [b for _, b in chars]
    top, base = min(b[1] for b in boxes), max(b[3] for b in boxes)
    x = (boxes[1][2] + boxes[2][0]) // 2
    cv2.line(ink, (x + 5, top + 20), (x - 5, base + 14), 255, 3, cv2.LINE_AA)
    gray = np.pad(255 - ink, 12, constant_values=255)
    clean = clean_field(gray)
    seg = segment(clean.ink, clean.mask, "amount")
    assert len(seg.long_commas) == 1 and len(seg.groups) == 2 + len(after)
    [result] = read_fields([FieldImage("amt", "amount", gray)], classifier)
    assert result.value == "42" + after
    reason = f"a long stroke left out as a comma, but {len(after)} digits follow it (a '1' written low?)"
    assert (reason in result.reason) == doubt and (result.status == "review" or not doubt)



@pytest.mark.parametrize("low", [True, False])
def test_a_one_standing_low_between_digits_is_checked_by_a_person(pool, classifier, low):
    """A comma written long, but not quite as low as a long comma hangs ("9,324": its foot 0.1-0.2 H below
    the baseline, short of the 0.2 H a long comma needs) was read as a '1' and accepted as 91324. A '1'
    standing that low between digits now goes to a person; one standing on the line does not."""
    from ocr.reader import LOW_ONE_DOUBT

    rng = np.random.default_rng(6)
    ink, chars = render_text("9 324", pool, rng, height=40, touching_p=0.0, spacing=0.3)
    ink = np.pad(ink, ((0, 20), (0, 0)))  # room below the baseline
    boxes = [b for _, b in chars]
    top, base = min(b[1] for b in boxes), max(b[3] for b in boxes)
    x = (boxes[0][2] + boxes[1][0]) // 2
    y0, y1 = (top + 14, base + 3) if low else (top + 1, base - 1)  # ink 0.3 H under the top, 0.12 H below
    cv2.line(ink, (x + 4, y0), (x - 2, y1), 255, 4, cv2.LINE_AA)
    gray = np.pad(255 - ink, 12, constant_values=255)
    clean = clean_field(gray)
    seg = segment(clean.ink, clean.mask, "amount")
    assert not seg.long_commas and len(seg.groups) == 5 and seg.low_strokes == ([1] if low else [])
    [result] = read_fields([FieldImage("amt", "amount", gray)], classifier)
    assert result.value == "91324"
    assert (LOW_ONE_DOUBT in result.reason) == low
    if low:
        assert result.status == "review"


def _amount_with_small_zeros(pool, seed: int, low: bool) -> np.ndarray:
    """ "69,000" as written on cheques: "69" 40 px high, the zeros after the comma 24 px (small), the comma
    a long slanted stroke from 0.7 H under the top line to 0.6 H below the baseline (``low``), or a '1'
    written on the line from the top to the baseline. Dark on light, with a margin."""
    rng = np.random.default_rng(seed)
    big, big_chars = render_text("69", pool, rng, height=40, touching_p=0.0, spacing=0.3)
    small, small_chars = render_text("000", pool, rng, height=24, touching_p=0.0, spacing=0.3)
    top, base = min(b[1] for _, b in big_chars), max(b[3] for _, b in big_chars)
    h, gap = base - top, 40
    canvas = np.zeros((big.shape[0] + 40, big.shape[1] + gap + small.shape[1] + 8), np.uint8)
    canvas[: big.shape[0], : big.shape[1]] = big
    y, x0 = base - max(b[3] for _, b in small_chars), big.shape[1] + gap  # the zeros on the same baseline
    canvas[y : y + small.shape[0], x0 : x0 + small.shape[1]] = small
    x = big.shape[1] + gap // 2
    y0, y1 = (top + int(0.7 * h), base + int(0.6 * h)) if low else (top, base)
    cv2.line(canvas, (x + 13, y0), (x - 13, y1), 255, 4, cv2.LINE_AA)
    return np.pad(255 - canvas, 12, constant_values=255)


@pytest.mark.parametrize("low", [True, False])
def test_a_long_comma_before_zeros_written_small_is_checked_by_a_person(pool, classifier, low):
    """Zeros written half as high after the last comma pull the field's median height down, and a long comma,
    measured against it, was too long and too wide for one: read as a '1' and accepted ("69,000" as
    691000, on synthetic CTS-2010 cheques). Measured against the digit before it, the stroke stands low, and
    a person checks it; a '1' written on the line stays a '1'."""
    from ocr.reader import LOW_ONE_DOUBT

    for seed in (0, 2):
        gray = _amount_with_small_zeros(pool, seed, low)
        clean = clean_field(gray)
        seg = segment(clean.ink, clean.mask, "amount")
        assert len(seg.groups) == 6 and seg.low_strokes == ([2] if low else [])
        [result] = read_fields([FieldImage("amt", "amount", gray)], classifier)
        if low:
            assert result.status == "review" and LOW_ONE_DOUBT in result.reason
        else:
            assert LOW_ONE_DOUBT not in result.reason


@pytest.mark.parametrize("dot", [175, None])
def test_a_decimal_point_too_faint_to_binarise_sends_the_amount_to_a_person(pool, classifier, dot):
    """A point written faintly is lost to binarisation when the pen is dark elsewhere: "45.52" was read
    4552, a hundred times too much, and accepted. A dot the sensitive threshold still sees in the gap
    before the last two digits is a doubt; without it there is none."""
    rng = np.random.default_rng(3)
    ink, chars = render_text("45 52", pool, rng, height=40, touching_p=0.0, spacing=0.3)
    gray = 255 - ink
    boxes = [b for _, b in chars]
    if dot is not None:
        x, y = (boxes[1][2] + boxes[2][0]) // 2, max(b[3] for b in boxes) - 4
        cv2.circle(gray, (x, y), 3, dot, -1)
    gray = np.pad(gray, 12, constant_values=255)
    clean = clean_field(gray)
    seg = segment(clean.ink, clean.mask, "amount")
    assert seg.point_after is None and len(seg.groups) == 4  # the dot is no ink
    [result] = read_fields([FieldImage("amt", "amount", gray)], classifier)
    assert result.value == "4552"
    doubt = "a faint dot before the last 2 digits (a decimal point?)"
    assert (doubt in result.reason) == (dot is not None)
    if dot is not None:
        assert result.status == "review"


@pytest.mark.parametrize("seed, gap, dash", [(2, -3, False), (3, -3, False), (2, -3, True), (3, -3, True),
                                             (2, 12, True)])
def test_a_digit_read_out_of_a_mark_twice_as_tall_as_the_digits_is_a_doubt(pool, classifier, seed, gap, dash):
    """The '/' of '/-' drawn at twice the digits' height and run into the last '0' (real Canara cheques:
    "33,00,000/-" read 33000001) makes one blob with it. With its '-' after it, the '/' is taken apart
    from the '0' and left out (ocr.segment._trailing_slash); without one, whatever digits are read out
    of that blob, one of them may be the '/', and a person checks. Standing apart, the '/' is left out
    and nothing is in doubt."""
    from ocr.reader import TOWERING_DOUBT

    rng = np.random.default_rng(seed)
    ink, chars = render_text("3300", pool, rng, height=40, touching_p=0.0, spacing=0.3)
    ink = np.pad(ink, ((30, 10), (0, 80)))
    boxes = [b for _, b in chars]
    base = max(b[3] for b in boxes) + 30
    x = boxes[-1][2] + gap
    cv2.line(ink, (x, base), (x + 22, base - 80), 255, 4, cv2.LINE_AA)  # '/', 80 px against 40 px digits
    if dash:
        cv2.line(ink, (x + 26, base - 30), (x + 60, base - 32), 255, 4, cv2.LINE_AA)  # '-'
    [result] = read_fields([FieldImage("amt", "amount", np.pad(255 - ink, 12, constant_values=255))], classifier)
    if not dash:
        assert TOWERING_DOUBT in result.reason and result.status == "review" and result.value != "3300"
    else:
        assert TOWERING_DOUBT not in result.reason and result.value == "3300"


@pytest.mark.parametrize("written, doubt", [("1,6,900", True), ("16,8,900", True), ("1,6890,000", True),
                                            ("1,68,900", False), ("1,689,000", False), ("168,900", False)])
def test_digits_between_commas_must_group_as_indian_or_western(pool, classifier, written, doubt):
    """Indian grouping has one or two digits before the first comma, then pairs (1,68,900); Western one to
    three, then threes (1,689,000). Other counts between commas are a digit lost or added: a touching pair
    read as one digit turns 1,68,900 into 1,6,900."""
    from ocr.reader import GROUPING_DOUBT

    ink, _ = render_text(written, pool, np.random.default_rng(1), height=40, touching_p=0.0, spacing=0.3)
    gray = np.pad(255 - np.pad(ink, ((0, 15), (0, 0))), 12, constant_values=255)
    [result] = read_fields([FieldImage("amt", "amount", gray)], classifier)
    assert result.value == written.replace(",", "")
    assert (GROUPING_DOUBT in result.reason) == doubt
    if doubt:
        assert result.status == "review"


def test_commas_are_an_amounts_grammar_only(pool, classifier):
    """A comma-like mark in a zip or a date (a speck low between two digits) says nothing of grouping."""
    from ocr.reader import GROUPING_DOUBT

    ink, _ = render_text("1,2,345", pool, np.random.default_rng(1), height=40, touching_p=0.0, spacing=0.3)
    gray = np.pad(255 - np.pad(ink, ((0, 15), (0, 0))), 12, constant_values=255)
    results = read_fields([FieldImage("z", "zip", gray), FieldImage("a", "amount", gray)], classifier)
    assert [GROUPING_DOUBT in r.reason for r in results] == [False, True]

# --- comb fields: printed cells, one digit in each -------------------------------------------------

CELL = 44  # cell width (px) of the combs below; digits are 34 px tall


def _comb(cells: list[np.ndarray], below: bool = False, line: int = 40) -> np.ndarray:
    """A printed comb of ``len(cells)`` cells (rules and walls of grey ``line``, 2 px; ``255``: no
    comb), each holding the ink (``uint8``, bright on 0, at most 40x40) centred in it, on white paper.
    ``below``: printed letters under the comb, cut by the crop's lower edge (as a 'D D M M Y Y' under
    a cheque's date cells)."""
    n = len(cells)
    top, bottom = 6, 52
    ink = np.zeros((top + bottom, 10 + n * CELL + 10), np.uint8)
    for k, c in enumerate(cells):
        h, w = c.shape
        y, x = (top + bottom - h) // 2, 10 + k * CELL + (CELL - w) // 2
        np.maximum(ink[y : y + h, x : x + w], c, out=ink[y : y + h, x : x + w])
    if below:
        for k in range(n):
            cv2.rectangle(ink, (10 + k * CELL + 13, ink.shape[0] - 3), (10 + k * CELL + 31, ink.shape[0] + 6), 255, 2)
    gray = 255 - ink
    cv2.rectangle(gray, (10, top), (10 + n * CELL, bottom), line, 2)
    for k in range(1, n):
        cv2.line(gray, (10 + k * CELL, top), (10 + k * CELL, bottom), line, 2)
    return gray


def _digit(pool, label: int, nth: int = 0, size: tuple[int, int] = (24, 34)) -> np.ndarray:
    """An MNIST test digit cut to its ink and scaled to ``size`` (w, h)."""
    img = pool.images[np.flatnonzero(pool.labels == label)[nth]]
    rows, cols = np.flatnonzero(img.max(1) > 40), np.flatnonzero(img.max(0) > 40)
    return cv2.resize(img[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], size, interpolation=cv2.INTER_LINEAR)


def _comb_of(gray: np.ndarray, cells: int):
    clean = clean_field(gray)
    comb = find_comb(clean.rules, clean.walls, cells, clean.ink.shape[0])
    return clean, comb


def test_the_cells_of_a_comb_are_found_from_its_walls_and_a_one_taken_for_a_wall_is_no_comb():
    rules = [(5, 8), (50, 53)]
    comb = find_comb(rules, [10.0, 54.0, 98.0, 142.0, 186.0, 230.0], 5, 58)
    assert comb is not None and np.allclose(comb.edges, [10, 54, 98, 142, 186, 230])
    assert (comb.top, comb.bottom) == (8, 50)
    assert comb.cell_of(60) == 1 and comb.cell_of(0) == 0 and comb.cell_of(500) == 4
    # Walls a cleaning missed (faint print) are where the even division puts them.
    comb = find_comb(rules, [10.0, 98.0, 143.0, 230.0], 5, 58)
    assert comb is not None and np.allclose(comb.edges, [10, 54, 98, 142, 186, 230])
    # A wall that is not on the division (a '1' written straight along it), too few walls, no rules:
    # not a comb the reader can rely on, so it segments the field as written freely.
    assert find_comb(rules, [10.0, 54.0, 75.0, 98.0, 142.0, 186.0, 230.0], 5, 58) is None
    assert find_comb(rules, [10.0, 230.0], 5, 58) is None
    assert find_comb([(5, 8)], [10.0, 54.0, 98.0, 142.0, 186.0, 230.0], 5, 58) is None
    assert find_comb(rules, [10.0, 54.0, 98.0, 142.0, 186.0, 230.0], 0, 58) is None
    # The frame's right side not found (the crop ends at it): where the field's width has room for
    # it on one side only, the cells are still known; with room on both sides, or none, they are not.
    comb = find_comb(rules, [10.0, 54.0, 98.0, 142.0, 186.0], 5, 58, width=234)
    assert comb is not None and np.allclose(comb.edges, [10, 54, 98, 142, 186, 230])
    comb = find_comb(rules, [54.0, 98.0, 142.0, 186.0, 230.0], 5, 58, width=232)
    assert comb is not None and np.allclose(comb.edges, [10, 54, 98, 142, 186, 230])
    assert find_comb(rules, [54.0, 98.0, 142.0, 186.0, 230.0], 5, 58, width=300) is None
    assert find_comb(rules, [10.0, 54.0, 98.0, 142.0, 186.0], 5, 58) is None  # width unknown


def test_printed_letters_under_the_cells_are_left_out_without_asking_anyone(pool):
    gray = _comb([_digit(pool, d) for d in (3, 0, 1, 2)], below=True)
    clean, comb = _comb_of(gray, 4)
    assert comb is not None and len(comb.edges) == 5
    free = segment(clean.ink, clean.mask, "digits")
    assert HALF_MARK_DOUBT in free.doubts  # without the cells: marks a person is asked about
    seg = segment(clean.ink, clean.mask, "digits", comb=comb)
    assert len(seg.groups) == 4 and not seg.doubts
    assert [k for k, _ in seg.dropped].count("outside the cells") == 4


def test_a_cell_is_read_as_one_digit_never_cut_nor_left_out(pool):
    """A '0' written wider than a digit may be is not cut into two; a '4' drawn as two strokes
    that do not meet is one digit; a '2' written flat like a tilde is the cell's digit, not a
    dash or a star."""
    wide_zero = _digit(pool, 0, size=(40, 30))
    four = np.zeros((34, 28), np.uint8)
    cv2.line(four, (10, 1), (3, 22), 255, 3)
    cv2.line(four, (3, 22), (17, 22), 255, 3)
    cv2.line(four, (22, 1), (22, 33), 255, 3)  # the stem, 5 px right of the crossbar's end
    flat_two = _digit(pool, 2, size=(30, 14))
    gray = _comb([_digit(pool, 7), wide_zero, four, flat_two, _digit(pool, 5)])
    clean, comb = _comb_of(gray, 5)
    free = segment(clean.ink, clean.mask, "zip")
    assert len(free.groups) != 5 or any(len(g.paths) > 1 for g in free.groups)
    seg = segment(clean.ink, clean.mask, "zip", comb=comb)
    assert len(seg.groups) == 5 and all(g.paths == [(0,)] and not g.optional for g in seg.groups)
    assert seg.groups[1].wide and not seg.groups[0].wide
    assert [comb.cell_of((g.bbox[0] + g.bbox[2]) / 2) for g in seg.groups] == [0, 1, 2, 3, 4]


def test_two_digits_touching_across_a_wall_are_cut_at_the_wall_and_a_wall_remnant_is_left_out(pool):
    gray = _comb([_digit(pool, 6), np.zeros((1, 1), np.uint8), np.zeros((1, 1), np.uint8), _digit(pool, 3)])
    # A '1' written against the right wall of its cell and a '0' against the left wall of the next,
    # joined by a stroke across the wall.
    x_wall = 10 + 2 * CELL
    cv2.line(gray, (x_wall - 6, 12), (x_wall - 6, 46), 0, 3)
    cv2.ellipse(gray, (x_wall + 14, 29), (10, 16), 0, 0, 360, 0, 3)
    cv2.line(gray, (x_wall - 6, 29), (x_wall + 4, 29), 0, 3)
    # Beside the '3', a sliver of its wall that the scan thickened.
    cv2.line(gray, (10 + 3 * CELL + 4, 10), (10 + 3 * CELL + 4, 48), 60, 1)
    clean, comb = _comb_of(gray, 4)
    assert comb is not None
    free = segment(clean.ink, clean.mask, "digits")
    assert any(g.bbox[0] < x_wall - 4 and g.bbox[2] > x_wall + 4 for g in free.groups)  # the pair is one blob
    seg = segment(clean.ink, clean.mask, "digits", comb=comb)
    assert len(seg.groups) == 4
    assert [comb.cell_of((g.bbox[0] + g.bbox[2]) / 2) for g in seg.groups] == [0, 1, 2, 3]
    assert seg.groups[1].bbox[2] <= x_wall + 3 and seg.groups[2].bbox[0] >= x_wall - 3
    assert "cell wall" in [k for k, _ in seg.dropped]


def test_a_comb_field_is_read_cell_by_cell(pool, classifier):
    """Through the reader: a zip in 5 printed cells with letters under them and a '4' in two strokes."""
    four = np.zeros((34, 28), np.uint8)
    cv2.line(four, (10, 1), (3, 22), 255, 3)
    cv2.line(four, (3, 22), (17, 22), 255, 3)
    cv2.line(four, (22, 1), (22, 33), 255, 3)
    gray = _comb([_digit(pool, 3), _digit(pool, 0), four, _digit(pool, 1), _digit(pool, 2)], below=True)
    free, comb = read_fields([FieldImage("zip", "zip", gray), FieldImage("zip", "zip", gray, cells=5)], classifier)
    assert comb.value == "30412", comb.reason
    assert free.value != "30412" or free.status != "accepted"


def _scanned(gray: np.ndarray, seed: int = 0) -> np.ndarray:
    """``gray`` as a scanner leaves it: paper a little grey, blurred, with noise."""
    rng = np.random.default_rng(seed)
    out = cv2.GaussianBlur(gray.astype(np.float32) * 0.94, (3, 3), 0.8) + rng.normal(0, 5, gray.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def test_a_comb_printed_too_faint_to_be_ink_is_found_from_its_grey_levels(pool, classifier):
    """Cell walls printed pale (a light or worn print, a drop-out colour the scanner kept faintly)
    never become ink, but they still darken every row they cross, which no digit does: the cells are
    found from the grey levels, and the field is read cell by cell as with dark walls."""
    four = np.zeros((34, 28), np.uint8)
    cv2.line(four, (10, 1), (3, 22), 255, 3)
    cv2.line(four, (3, 22), (17, 22), 255, 3)
    cv2.line(four, (22, 1), (22, 33), 255, 3)  # a '4' in two strokes that do not meet
    digits = [_digit(pool, 3), _digit(pool, 0), four, _digit(pool, 1), _digit(pool, 2)]
    gray = _scanned(_comb(digits, line=200))
    clean = clean_field(gray)
    assert not clean.walls and clean.lines == (0, 0)  # nothing printed was taken for ink
    assert find_comb(clean.rules, clean.walls, 5, *clean.ink.shape) is None
    edges = faint_walls(clean.gray, 5)
    assert edges is not None and np.allclose(edges, [10 + k * CELL for k in range(6)], atol=1.5)
    comb = comb_of(clean, 5)
    assert comb is not None and (comb.top, comb.bottom) == (0.0, float(gray.shape[0]))
    seg = segment(clean.ink, clean.mask, "zip", comb=comb)
    assert [comb.cell_of((g.bbox[0] + g.bbox[2]) / 2) for g in seg.groups] == [0, 1, 2, 3, 4]
    [cells] = read_fields([FieldImage("zip", "zip", gray, cells=5)], classifier)
    assert cells.value == "30412", cells.reason
    # Dark walls are found by the cleaning, and the grey levels put the cells in the same place.
    dark = clean_field(_scanned(_comb(digits)))
    assert np.allclose(comb_of(dark, 5).edges, faint_walls(dark.gray, 5), atol=1.5)


def test_no_comb_is_made_up_from_digits_or_from_too_few_walls(pool):
    # No comb printed: the digits alone, even '1's written evenly spaced, are no comb.
    ones = np.zeros((34, 10), np.uint8)
    cv2.line(ones, (5, 0), (5, 33), 255, 3)
    for cells in ([_digit(pool, d) for d in (3, 0, 4, 1, 2)], [ones] * 5):
        clean = clean_field(_scanned(_comb(cells, line=255)))
        assert faint_walls(clean.gray, 5) is None and comb_of(clean, 5) is None
    # A comb of four cells is not one of five, nor of three.
    clean = clean_field(_scanned(_comb([_digit(pool, d) for d in (3, 0, 4, 1)], line=200)))
    assert faint_walls(clean.gray, 4) is not None
    assert faint_walls(clean.gray, 5) is None and faint_walls(clean.gray, 3) is None
    assert comb_of(clean, 1) is None and comb_of(clean, 0) is None


def test_ocr_read_reads_comb_fields_with_cells(pool, tmp_path, capsys):
    import csv
    import io

    from ocr.cli import main

    four = np.zeros((34, 28), np.uint8)
    cv2.line(four, (10, 1), (3, 22), 255, 3)
    cv2.line(four, (3, 22), (17, 22), 255, 3)
    cv2.line(four, (22, 1), (22, 33), 255, 3)
    path = tmp_path / "zip.png"
    digits = [_digit(pool, 3), _digit(pool, 0), four, _digit(pool, 1), _digit(pool, 2)]
    cv2.imwrite(str(path), _comb(digits, below=True))
    assert main(["read", str(path), "--field", "zip", "--cells", "5", "--device", "cpu"]) == 0
    [row] = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert row["value"] == "30412"
    # In 9 cells those five digits are not a ZIP+4, however sure each digit is.
    main(["read", str(path), "--field", "zip", "--cells", "9", "--device", "cpu", "--json"])
    import json

    [doc] = json.loads(capsys.readouterr().out)
    assert doc["status"] == "review"
    assert main(["read", str(path), "--field", "zip", "--cells", "1", "--device", "cpu"]) == 2
    assert "--cells" in capsys.readouterr().err
