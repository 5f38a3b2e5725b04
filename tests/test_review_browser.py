"""review.html in a real browser: headless Chromium renders the sample batch's page from disk.

Chromium runs with no sandbox (tests may run as root in CI), no GPU, a fresh profile, and nothing that
talks to the network on its own; the page itself has no network access to ask for (inline everything).
Skipped only where Chromium is not installed (``.ci/run`` installs the Debian package ``chromium``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ocr.review import write_review_outputs, write_review_sheet
from tests.review_batch import copy_batch
from tests.test_review import EVIL_FILE, EVIL_VALUE, made_batch

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian package 'chromium'; "
                                                         ".ci/run installs it from .ci/apt-packages)")


def chromium(url: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-extensions", "--disable-default-apps", "--mute-audio", f"--user-data-dir={profile}",
           # Let the page's load event and scripts finish before dumping or shooting.
           "--virtual-time-budget=5000", *args, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)


def dump_dom(page: Path, tmp_path: Path, fragment: str = "") -> str:
    run = chromium(page.as_uri() + fragment, tmp_path / f"profile-dom{len(fragment)}", "--dump-dom")
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


@pytest.fixture(scope="module")
def sample_page(tmp_path_factory) -> Path:
    out = copy_batch(tmp_path_factory, tmp_path_factory.mktemp("browser") / "out")
    return write_review_outputs(out)[-1]


def test_the_sample_batch_page_shows_its_crops(sample_page, tmp_path):
    dom = dump_dom(sample_page, tmp_path)
    body = re.search(r"<body[^>]*>", dom).group(0)
    loaded = int(re.search(r'data-images-loaded="(\d+)"', body).group(1))
    total = int(re.search(r'data-images-total="(\d+)"', body).group(1))
    n_rows = dom.count('<tr class="entry"')
    assert n_rows > 0
    assert total >= 2 + 2 * n_rows  # the two plots; per row a field crop and at least one digit
    assert loaded == total  # every image decoded (naturalWidth > 0): no broken crop
    assert re.search(r'id="shown">(\d+)<', dom).group(1) == str(n_rows)

    shot = tmp_path / "review.png"
    run = chromium(sample_page.as_uri(), tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1400,1800",
                   "--hide-scrollbars")
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    with Image.open(shot) as im:
        pixels = np.asarray(im.convert("L"), dtype=np.float32)
    assert pixels.shape == (1800, 1400)
    # Something is drawn: text, crops and plots, not a blank or error page.
    assert pixels.std() > 20 and (pixels < 80).mean() > 0.005


def test_a_bookmarked_filter_hides_the_other_rows(sample_page, tmp_path):
    types = re.findall(r'<tr class="entry" data-type="([^"]*)"', sample_page.read_text(encoding="utf-8"))
    wanted = sorted(set(types))[0]
    dom = dump_dom(sample_page, tmp_path, f"#type={wanted}")
    rows = re.findall(r'<tr class="entry" data-type="([^"]*)"[^>]*>', dom)
    hidden = [("hidden" in r) for r in re.findall(r'<tr class="entry"[^>]*>', dom)]
    assert len(rows) == len(types)
    assert [not h for h in hidden] == [t == wanted for t in rows]
    assert re.search(r'id="shown">(\d+)<', dom).group(1) == str(types.count(wanted))


def test_markup_in_names_stays_text_in_the_browser(tmp_path):
    out = made_batch(tmp_path / "out")
    dom = dump_dom(write_review_outputs(out)[-1], tmp_path)
    assert dom.count("<script") == 1  # only the page's own script element exists after parsing
    assert "<img src=\"x\"" not in dom and "onerror=\"alert" not in dom
    assert EVIL_FILE.replace("<", "&lt;").replace(">", "&gt;") in dom
    assert EVIL_VALUE.replace("<", "&lt;").replace(">", "&gt;") in dom


def test_crops_linked_instead_of_embedded_still_open_from_disk(sample_page, tmp_path):
    # Past the embedding budget (a very large night) the page links crops/ relatively instead.
    page = write_review_sheet(sample_page.parent, embed_budget=0)
    text = page.read_text(encoding="utf-8")
    assert "data:image/png" not in text and 'src="crops/' in text
    dom = dump_dom(page, tmp_path)
    loaded = int(re.search(r'data-images-loaded="(\d+)"', dom).group(1))
    assert loaded == int(re.search(r'data-images-total="(\d+)"', dom).group(1)) > 2
