"""Cleaning a field: printed lines go, the strokes that cross them stay."""

import cv2
import numpy as np
import pytest

from ocr.errors import OCRError
from ocr.fields import clean_field, estimate_skew, ink_from_gray
from ocr.normalize import normalize_digit
from tests.conftest import mnist_digit


def _paper_with_digit(digit28: np.ndarray, height: int = 40) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A field 80 px tall, 160 wide, a box around it, the digit pasted dark on light paper."""
    rows, cols = np.flatnonzero(digit28.max(1)), np.flatnonzero(digit28.max(0))
    d = digit28[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    w = max(1, round(d.shape[1] * height / d.shape[0]))
    d = cv2.resize(d, (w, height), interpolation=cv2.INTER_LINEAR)
    gray = np.full((80, 160), 235, np.float32)
    cv2.rectangle(gray, (3, 10), (156, 70), 90, 2)
    y0, x0 = 20, 60
    a = d.astype(np.float32) / 255
    gray[y0 : y0 + height, x0 : x0 + w] = gray[y0 : y0 + height, x0 : x0 + w] * (1 - a) + 30 * a
    return gray, (x0, y0, x0 + w, y0 + height)


def test_box_line_through_a_digit_is_removed_and_the_digit_survives(mnist_test, classifier):
    images, labels = mnist_test
    gray, (x0, y0, x1, y1) = _paper_with_digit(mnist_digit(images, labels, 7, 0))
    ymid = (y0 + y1) // 2
    cv2.line(gray, (3, ymid), (156, ymid), 90, 2)  # a printed line straight through the 7
    crop = np.clip(gray, 0, 255).astype(np.uint8)
    clean = clean_field(crop)
    assert clean.lines[0] >= 3  # the box's top and bottom and the line through the digit
    # The line is gone away from the digit ...
    assert not clean.mask[ymid - 1 : ymid + 2, 5:x0 - 3].any()
    assert not clean.mask[ymid - 1 : ymid + 2, x1 + 3 : 150].any()
    # ... the box too ...
    assert not clean.mask[:, :6].any() and not clean.mask[:, 154:].any()
    # ... and the digit is one piece, whole in height, still read as a 7.
    n, lab = cv2.connectedComponents(clean.mask.astype(np.uint8), connectivity=8)
    sizes = np.bincount(lab.ravel())[1:]
    biggest = 1 + int(np.argmax(sizes))
    ys, xs = np.nonzero(lab == biggest)
    assert ys.max() - ys.min() >= 0.9 * (y1 - y0)
    digit = np.where(lab == biggest, clean.ink, 0)
    assert int(classifier.classify(normalize_digit(digit)[None]).labels[0]) == 7


def test_skew_of_printed_lines_is_found_and_levelled():
    gray = np.full((90, 300), 230, np.uint8)
    m = cv2.getRotationMatrix2D((150, 45), 2.0, 1.0)
    pts = np.array([[10, 70, 1], [290, 70, 1]], np.float64) @ m.T
    cv2.line(gray, tuple(int(v) for v in pts[0]), tuple(int(v) for v in pts[1]), 40, 2)
    assert estimate_skew(gray) == pytest.approx(2.0, abs=0.5)
    clean = clean_field(gray)
    assert abs(clean.angle - 2.0) < 0.5
    assert not clean.mask.any()  # the only ink was the printed line


def test_clean_field_keeps_grey_levels_and_refuses_non_images():
    gray = np.full((60, 60), 240, np.uint8)
    cv2.circle(gray, (30, 30), 12, 20, 4, cv2.LINE_AA)
    clean = clean_field(gray)
    assert clean.ink.dtype == np.uint8 and clean.ink.max() == 255
    assert len(np.unique(clean.ink[clean.mask])) > 3  # anti-aliased edge kept
    with pytest.raises(OCRError):
        clean_field(np.zeros((4, 4), np.uint8))
    with pytest.raises(OCRError):
        clean_field(np.zeros((20, 20, 3), np.uint8))
    assert ink_from_gray(np.full((5, 5), 200, np.uint8)).max() == 0


def test_column_medians_match_numpy_median():
    from ocr.fields import _column_medians

    rng = np.random.default_rng(0)
    for _ in range(100):
        m = rng.random((int(rng.integers(1, 30)), int(rng.integers(1, 30)))) < 0.3
        m[int(rng.integers(0, m.shape[0])), :] = True  # every column holds ink
        expected = [np.median(np.flatnonzero(m[:, c])) for c in range(m.shape[1])]
        assert np.array_equal(_column_medians(m), expected)


def test_a_stroke_filling_a_comb_cell_is_not_taken_for_a_cell_wall():
    """A comb of five cells; in the second, a '1' written with a broad pen from line to line. It is
    as straight and as tall as a wall, but it stands in the middle of a cell, off the comb's pitch:
    the six walls go, the '1' stays."""
    gray = np.full((70, 260), 235, np.uint8)
    top, bottom, x0, pitch = 10, 60, 5, 50
    cv2.line(gray, (x0, top), (x0 + 5 * pitch, top), 60, 2)
    cv2.line(gray, (x0, bottom), (x0 + 5 * pitch, bottom), 60, 2)
    for k in range(6):
        cv2.line(gray, (x0 + k * pitch, top), (x0 + k * pitch, bottom), 60, 2)
    one = x0 + pitch + pitch // 2
    cv2.line(gray, (one, top + 1), (one, bottom - 1), 30, 5)  # the '1', touching both lines
    clean = clean_field(gray)
    assert clean.lines == (2, 6)
    assert clean.mask[top + 5 : bottom - 5, one - 1 : one + 2].all()  # the '1' survives whole
    for k in range(6):  # every wall is gone
        assert not clean.mask[top + 5 : bottom - 5, x0 + k * pitch - 1 : x0 + k * pitch + 2].any()


def test_a_microprinted_rule_is_removed_and_the_stroke_crossing_it_stays(mnist_test, classifier):
    """CTS-2010 cheques print their box borders as rows of tiny characters (the account number over
    and over): not a solid line, but a printed rule all the same, with a stroke written across it."""
    images, labels = mnist_test
    digit = mnist_digit(images, labels, 7, 0)
    rows, cols = np.flatnonzero(digit.max(1)), np.flatnonzero(digit.max(0))
    d = digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    d = cv2.resize(d, (max(1, round(d.shape[1] * 50 / d.shape[0])), 50), interpolation=cv2.INTER_LINEAR)
    paper = np.full((100, 300), 235, np.uint8)
    # The rule: tiny digits, a few pixels tall, along rows 72-78, across the whole field.
    cv2.putText(paper, "91101004900154591101004900154591101004900154", (2, 78), cv2.FONT_HERSHEY_PLAIN, 0.55, 60, 1)
    gray = paper.astype(np.float32)
    band = (gray[60:90] < 200).any(axis=1)
    top, bottom = 60 + int(np.flatnonzero(band)[0]), 60 + int(np.flatnonzero(band)[-1])
    x0, y0 = 120, 34  # the 7's foot runs down through the rule
    a = d.astype(np.float32) / 255
    gray[y0 : y0 + 50, x0 : x0 + d.shape[1]] = gray[y0 : y0 + 50, x0 : x0 + d.shape[1]] * (1 - a) + 30 * a
    crop = np.clip(gray, 0, 255).astype(np.uint8)
    clean = clean_field(crop)
    assert any(y0_ <= top + 2 and y1_ >= bottom - 2 for y0_, y1_ in clean.rules)  # found as a printed rule
    # The rule is gone on both sides of the digit: at most a few specks of a glyph's foot stay, none
    # bigger than a speck the segmenter drops ...
    for side in (clean.mask[top - 1 : bottom + 2, : x0 - 4], clean.mask[top - 1 : bottom + 2, x0 + d.shape[1] + 4 :]):
        assert side.sum() <= 0.03 * (paper[top : bottom + 1] < 200).sum()
        n, _, stats, _ = cv2.connectedComponentsWithStats(side.astype(np.uint8), connectivity=8)
        assert (stats[1:, cv2.CC_STAT_AREA] < 12).all()
    # ... and the 7 is one piece down to its foot, still read as a 7.
    n, lab = cv2.connectedComponents(clean.mask.astype(np.uint8), connectivity=8)
    biggest = 1 + int(np.argmax(np.bincount(lab.ravel())[1:]))
    ys, _ = np.nonzero(lab == biggest)
    assert ys.max() - ys.min() >= 0.9 * 50
    assert int(classifier.classify(normalize_digit(np.where(lab == biggest, clean.ink, 0))[None]).labels[0]) == 7


def test_a_solid_rule_is_not_taken_again_as_a_dotted_one():
    """The dotted-rule search adds nothing where the solid rules were found: same rules, same ink."""
    import ocr.fields as fields

    gray = np.full((80, 240), 235, np.uint8)
    cv2.rectangle(gray, (3, 10), (236, 70), 90, 2)
    cv2.putText(gray, "1234", (40, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.4, 30, 3)
    with_dots = clean_field(gray)
    plain = fields._add_printed_dots
    try:
        fields._add_printed_dots = lambda mask, lines, rules: (lines, rules)
        without = clean_field(gray)
    finally:
        fields._add_printed_dots = plain
    assert with_dots.rules == without.rules and len(with_dots.rules) == 2
    assert np.array_equal(with_dots.mask, without.mask)


def test_faint_marks_are_digit_sized_ink_the_ink_threshold_lost_and_nothing_read_holds():
    from ocr.fields import faint_marks

    H = 40
    faint = np.zeros((80, 300), bool)
    mask = np.zeros_like(faint)
    cv2.ellipse(faint.view(np.uint8), (60, 40), (12, 18), 0, 0, 360, 1, 3)  # a faint '0', 36 px high
    faint[22:58, 120:130] = True  # a dark '1': the ink threshold keeps it all
    mask[22:58, 120:130] = True
    cv2.ellipse(faint.view(np.uint8), (200, 40), (12, 18), 0, 0, 360, 1, 3)  # a faint mark inside a box read
    faint[20:60, 0:3] = True  # a box's side left over, at the crop's edge
    faint[38:41, 240:290] = True  # a long faint stroke, not as high as a digit
    assert faint_marks(faint, mask, read=[(185, 20, 215, 60)], height=H) == [(46, 20, 75, 61)]
    # Half of it kept by the ink threshold: a digit the reader saw (read or left out on its merits).
    mask[22:40, 40:80] = faint[22:40, 40:80]
    assert faint_marks(faint, mask, read=[(185, 20, 215, 60)], height=H) == []
    # Too small for a digit of this height.
    assert faint_marks(faint, np.zeros_like(mask), read=[(185, 20, 215, 60)], height=90) == []


def _tilted_comb(angle: float, cells: int, one_at: int | None = None) -> tuple[np.ndarray, list[int]]:
    """A comb of ``cells`` cells (a box: one) printed across 600 px of a 640 px crop and scanned turned by
    ``angle`` degrees; with ``one_at``, a '1' written with a slight lean from line to line at that column.
    Returns the crop and the walls' columns before turning."""
    h, w, x0, top, bottom = 80, 640, 18, 10, 66
    pitch = 600 // cells
    gray = np.full((h, w), 235, np.uint8)
    cv2.line(gray, (x0, top), (x0 + cells * pitch, top), 70, 2)
    cv2.line(gray, (x0, bottom), (x0 + cells * pitch, bottom), 70, 2)
    walls = [x0 + k * pitch for k in range(cells + 1)]
    for x in walls:
        cv2.line(gray, (x, top), (x, bottom), 70, 2)
    if one_at is not None:
        cv2.line(gray, (one_at + 3, top + 1), (one_at - 3, bottom - 1), 30, 4)
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    return cv2.warpAffine(gray, turn, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE), walls


def test_walls_cut_off_at_the_corners_of_a_levelled_crop_are_found():
    """A comb scanned 2.5 degrees off level: levelling turns the crop back, and its corners, brought in
    from beyond the crop's edge, cut the first or last wall short of a line. It is found all the same
    (it stands where the comb's walls stand), as are both sides of a box turned so."""
    for angle in (2.5, -2.5, 3.0):
        clean = clean_field(_tilted_comb(angle, 10)[0])
        assert abs(clean.angle - angle) < 0.1
        assert len(clean.walls) == 11, (angle, clean.walls)
        xs = np.array(clean.walls)
        assert np.allclose(np.diff(xs), 60, atol=2)
    clean = clean_field(_tilted_comb(2.5, 1)[0])  # a box: two sides
    assert len(clean.walls) == 2 and clean.walls[0] < 25 and clean.walls[1] > 570


def test_a_leaning_one_from_line_to_line_in_a_box_stays():
    """In a box, a '1' drawn with a lean from the top line to the bottom one is straight only in steps,
    like a wall left tilted by levelling; but it stands neither at the box's ends nor on a comb's pitch,
    so it is not taken for a wall."""
    gray, _ = _tilted_comb(0.0, 1, one_at=300)
    clean = clean_field(gray)
    assert len(clean.walls) == 2
    assert clean.mask[20:56, 294:307].any(axis=1).all()  # the '1' is there, row after row


def test_walls_under_a_broken_top_line_are_found():
    """A comb whose top line is printed broken (dashes, as a worn or dotted print leaves it): no solid
    line to search walls from, but a dotted rule; the walls between it and the bottom line are found and
    taken out, and the '7' written in a cell stays."""
    h, w, x0, top, bottom, pitch = 80, 640, 18, 10, 66, 60
    gray = np.full((h, w), 235, np.uint8)
    for x in range(x0, x0 + 10 * pitch, 8):  # dashes about 6 px long, 2 px apart
        cv2.line(gray, (x, top), (x + 3, top), 70, 2, cv2.LINE_8)
    cv2.line(gray, (x0, bottom), (x0 + 10 * pitch, bottom), 70, 2)
    for k in range(11):
        cv2.line(gray, (x0 + k * pitch, top), (x0 + k * pitch, bottom), 70, 2)
    cv2.line(gray, (x0 + 2 * pitch + 15, 22), (x0 + 2 * pitch + 45, 22), 30, 4)  # a '7' in the third cell
    cv2.line(gray, (x0 + 2 * pitch + 45, 22), (x0 + 2 * pitch + 25, 58), 30, 4)
    clean = clean_field(gray)
    assert len(clean.rules) == 2 and len(clean.walls) == 11
    assert np.allclose(clean.walls, [x0 + k * pitch for k in range(11)], atol=2)
    for k in range(11):
        assert not clean.mask[top + 5 : bottom - 5, x0 + k * pitch - 1 : x0 + k * pitch + 2].any()
    assert clean.mask[24:56, x0 + 2 * pitch + 20 : x0 + 2 * pitch + 46].any(axis=1).all()


def test_hysteresis_keeps_a_pale_stretch_of_a_stroke_and_leaves_a_pale_mark_alone():
    """A '0' written dark but for a pale stretch across its top, as a thin pen leaves it: Otsu's threshold opens
    the loop (a '9' so opened reads '4'). With hysteresis the pale stretch, joined to the ink, is ink and the loop
    closes; a pale ring that touches no ink stays out, and the default cleaning is as before."""
    gray = np.full((80, 200), 235, np.uint8)
    cv2.ellipse(gray, (60, 40), (14, 22), 0, 0, 360, 40, 3)
    cv2.ellipse(gray, (60, 40), (14, 22), 0, 240, 300, 170, 3)  # the pale stretch, across the top
    cv2.circle(gray, (150, 40), 12, 170, 3)  # a pale ring alone

    def holes(mask):
        return cv2.connectedComponents((~mask).astype(np.uint8), connectivity=4)[0] - 2  # less the paper round it

    plain = clean_field(gray, level=False)
    joined = clean_field(gray, level=False, hysteresis=True)
    assert holes(plain.mask) == 0 and not plain.mask[14:22, 52:68].any()
    assert holes(joined.mask) == 1 and joined.mask[14:22, 52:68].any()
    assert (joined.ink[joined.mask] > 0).all() and not joined.mask.any(axis=0)[130:].any()
    assert joined.mask[plain.mask].all()  # it only adds
    assert not (joined.faint & joined.mask).any()  # what it took is no longer a faint mark
