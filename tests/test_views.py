"""Test-time views: each digit classified as it is, turned and scaled; penalties averaged."""

import numpy as np
import torch

from ocr.classify import Classifier
from ocr.normalize import BACKGROUND, normalize_many
from ocr.views import AS_IS, VIEWS, mean_over_views, view_stack


def _bar(n=3):
    x = torch.full((n, 1, 32, 32), BACKGROUND)
    x[:, :, 6:26, 15:17] = 1.175  # an upright stroke: a '1'
    return x


def test_views_turn_and_scale_about_the_centre_and_keep_the_paper():
    x = _bar()
    out = view_stack(x, VIEWS)
    assert out.shape == (len(VIEWS) * 3, 1, 32, 32)
    torch.testing.assert_close(out[:3], x, atol=1e-5, rtol=0)  # view 0 is the digit as it is
    assert torch.allclose(out[:, :, :2, :2], torch.tensor(BACKGROUND), atol=1e-5)  # corners stay paper
    turned, smaller, larger = out[3], out[9], out[12]  # +8 degrees; x0.9; x1.1 (first digit of each)
    ink = lambda v: (v[0] > 0.5).nonzero()  # noqa: E731
    cols = ink(turned)[:, 1]
    assert cols.max() - cols.min() >= 3  # the upright stroke now leans across several columns
    rows = lambda v: int(ink(v)[:, 0].max() - ink(v)[:, 0].min())  # noqa: E731
    assert rows(smaller) < rows(x[0]) < rows(larger)
    assert view_stack(x, AS_IS) is x


def test_mean_over_views_averages_each_digit_over_its_views():
    p = torch.arange(2 * 3 * 10, dtype=torch.float32).view(6, 10)  # 2 views of 3 digits
    torch.testing.assert_close(mean_over_views(p, 2), (p[:3] + p[3:]) / 2)


def test_the_classifier_averages_the_views_it_was_calibrated_with(mnist_test):
    images, _ = mnist_test
    x = normalize_many(images[:40])
    clf = Classifier.load(device="cpu", batch_size=16)
    assert clf.views == tuple(map(tuple, clf.info["calibration"].get("views", AS_IS)))
    clf.views = VIEWS
    averaged = clf.penalties(x)
    assert clf.forward_passes == 3  # every view of 16 digits in one pass: 16 + 16 + 8 digits
    with torch.inference_mode():
        each = [clf.model(view_stack(torch.from_numpy(x[:, None]), (v,))).numpy() for v in VIEWS]
    np.testing.assert_allclose(averaged, np.mean(each, axis=0), rtol=1e-4, atol=1e-3)
    clf.views = AS_IS
    assert not np.allclose(clf.penalties(x), averaged, atol=1e-2)
