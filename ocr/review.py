"""The review sheet of a batch: ``review.html`` and the plots people would rather look at.

Built from the batch folder that :mod:`ocr.batch` wrote (``results.csv``, ``digits.csv``,
``review.csv``, ``manifest.json``, ``crops/``)::

    write_review_outputs(out_dir)   # -> [confidence_histogram.png, review_per_digit.png, review.html]

``review.html`` is one self-contained page: inline CSS and JavaScript, crops embedded as
``data:`` URIs (up to a size budget, then relative links into ``crops/`` that still open from
disk), no server, no network. Every file name and value comes from scans or from whoever named
the files, so all of it goes through :func:`html.escape`: never trusted as markup.

``review.csv`` stays the editable sheet (see :mod:`ocr.corrections`); the page is for looking.
"""

from __future__ import annotations

import base64
import html
import json
import re
import urllib.parse
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ocr.errors import OCRError
from ocr.report import atomic_writer, read_csv, read_csv_pieces, write_atomic_bytes

HTML_NAME = "review.html"
HISTOGRAM_NAME = "confidence_histogram.png"
PER_DIGIT_NAME = "review_per_digit.png"
# Crops embedded in the page up to this many bytes in all; beyond it, relative links into crops/
# (a night of 2,000 pages would otherwise make a page too heavy for a browser).
EMBED_BUDGET = 40 * 1024 * 1024
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def unneutralise(text: str) -> str:
    """A cell as a person typed it: the ``'`` that :func:`ocr.report.safe_cell` put before a
    formula-like text is taken off again (for display and for matching rows; never for writing CSV)."""
    if text.startswith("'") and text[1:].startswith(_FORMULA_START):
        return text[1:]
    return text


def reason_kinds(reason: str) -> list[str]:
    """A review reason -> the kinds it names, for filtering (``"low-confidence digit at positions
    2, 8; segmentation doubt"`` -> ``["low-confidence digit", "segmentation doubt"]``)."""
    kinds = []
    for part in str(reason).split(";"):
        part = part.strip()
        if not part:
            continue
        kind = re.split(r" \(| at position|:", part, maxsplit=1)[0].strip()
        kind = kind[:80] or part[:80]
        if kind not in kinds:
            kinds.append(kind)
    return kinds or ["(no reason given)"]


# --- the batch folder, read back -------------------------------------------------------------------


@dataclass
class DigitEntry:
    """One segmented digit of a field in review, as ``digits.csv`` has it (plus its crop's path)."""

    position: int
    label: str
    penalty_best: str
    penalty_second: str
    confidence: float
    status: str
    crop: str = ""  # relative to the batch folder, "" when the batch wrote none


@dataclass
class FieldEntry:
    """One field in review: ``review.csv``'s field row joined with ``results.csv`` and ``digits.csv``."""

    document: str
    file: str
    page: str
    field: str
    type: str
    value: str
    status: str
    confidence: float
    reason: str
    crop: str
    digits: list[DigitEntry] = field(default_factory=list)
    flagged: set[int] = field(default_factory=set)  # positions with their own digit row in review.csv

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.document, self.page, self.field)


def _float(text, default: float = float("nan")) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return default


def _int(text, default: int = -1) -> int:
    try:
        return int(float(text))
    except (TypeError, ValueError):
        return default


def _csv(out_dir: Path, name: str, required: bool) -> Path | None:
    """The batch CSV ``name`` of ``out_dir``; ``None`` when there is none and it is not ``required``."""
    path = out_dir / name
    if path.is_file():
        return path
    if required:
        raise OCRError(f"{path} not found: is {out_dir} the output folder of `ocr batch`?")
    return None


def _read(out_dir: Path, name: str, required: bool = True) -> pd.DataFrame:
    path = _csv(out_dir, name, required)
    return read_csv(path) if path is not None else pd.DataFrame()


def _pieces(out_dir: Path, name: str, columns: tuple[str, ...] | None = None, required: bool = False):
    """:func:`ocr.report.read_csv_pieces` of the batch CSV ``name`` (none when there is no such file and it
    is not ``required``)."""
    path = _csv(out_dir, name, required)
    return read_csv_pieces(path, columns) if path is not None else iter(())


KEY_COLUMNS = ("document", "page", "field")
# Fields in review built at a time for the page (each with its review rows, result row and digit rows): the page
# and its counts are made block by block, so a batch with tens of thousands of fields in review is never held
# whole (5,000 documents all in review: 100 MiB at once before; README, "Throughput").
ENTRY_BLOCK = 2_000


def _keys_of(piece: pd.DataFrame) -> list[tuple[str, ...]]:
    """The (document, page, field) of every row of a piece, as :func:`_key` makes it."""
    return list(zip(*(piece[c].astype(str).str.strip().map(unneutralise) for c in KEY_COLUMNS), strict=True))


def _rows_of(out_dir: Path, name: str, keys: set[tuple], required: bool = False
             ) -> Iterator[tuple[tuple[str, ...], dict]]:
    """(key, row) for the rows of the batch CSV ``name`` (none when there is no such file and it is not
    ``required``) whose (document, page, field) is among ``keys``, read piece by piece (a batch's
    ``digits.csv`` is never held whole; only the rows kept become dicts)."""
    for piece in _pieces(out_dir, name, required=required):
        if len(piece):
            found = _keys_of(piece)
            take = [k in keys for k in found]
            yield from zip([k for k, t in zip(found, take, strict=True) if t], piece[take].to_dict("records"),
                           strict=True)


def _review_keys(out_dir: Path) -> list[tuple[str, ...]]:
    """The fields of ``review.csv`` in the order they first appear there (sheet order)."""
    seen: dict[tuple, None] = {}
    for piece in _pieces(out_dir, "review.csv", KEY_COLUMNS, required=True):
        if len(piece):
            seen.update(dict.fromkeys(_keys_of(piece)))
    return list(seen)


def _build_entries(out_dir: Path, keys: set[tuple]) -> dict[tuple, FieldEntry]:
    """The review entries of the fields ``keys`` (each in ``review.csv``), in sheet order, from their rows
    of ``review.csv``, ``results.csv`` and ``digits.csv``."""
    by_result = dict(_rows_of(out_dir, "results.csv", keys))
    by_field_digits: dict[tuple, list[dict]] = {}
    for key, r in _rows_of(out_dir, "digits.csv", keys):
        by_field_digits.setdefault(key, []).append(r)

    entries: dict[tuple, FieldEntry] = {}
    crop_lists: dict[tuple, list[str]] = {}
    digit_crops: dict[tuple, dict[int, str]] = {}
    for key, r in _rows_of(out_dir, "review.csv", keys, required=True):
        if key not in entries:
            res = by_result.get(key, {})
            entries[key] = FieldEntry(
                document=key[0], file=unneutralise(str(res.get("file", "") or key[0])), page=key[1], field=key[2],
                type=str(res.get("type", "")), value=unneutralise(str(res.get("value", r.get("value", "")))),
                status=str(res.get("status", "review")), confidence=_float(res.get("confidence", r.get("confidence"))),
                reason=unneutralise(str(res.get("reason", r.get("reason", "")))), crop=str(r.get("field_crop", "")))
        e = entries[key]
        crops = [c for c in str(r.get("digit_crops", "")).split(";") if c]
        if str(r.get("kind", "")).strip() == "digit":
            pos = _int(r.get("position"))
            e.flagged.add(pos)
            if crops:
                digit_crops.setdefault(key, {})[pos] = crops[0]
        else:
            crop_lists[key] = crops
            e.crop = str(r.get("field_crop", "")) or e.crop
            e.value = unneutralise(str(r.get("value", ""))) if not by_result.get(key) else e.value
            e.reason = unneutralise(str(r.get("reason", ""))) or e.reason
            e.confidence = _float(r.get("confidence"), e.confidence)
    for key, e in entries.items():
        rows = sorted(by_field_digits.get(key, []), key=lambda d: _int(d["position"]))
        listed = crop_lists.get(key, [])
        for d in rows:
            pos = _int(d["position"])
            crop = digit_crops.get(key, {}).get(pos, "")
            if not crop and len(listed) == len(rows):
                crop = listed[pos] if 0 <= pos < len(listed) else ""
            e.digits.append(DigitEntry(position=pos, label=str(d["label"]), penalty_best=str(d["penalty_best"]),
                                       penalty_second=str(d["penalty_second"]),
                                       confidence=_float(d["confidence"]), status=str(d["status"]), crop=crop))
    return entries


def _page_order(e: FieldEntry) -> float:
    return -1.0 if np.isnan(e.confidence) else e.confidence


@dataclass
class ReviewCounts:
    """What the head of the review page counts of its entries."""

    fields: int = 0
    digits_in_review: int = 0
    types: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)

    def add(self, e: FieldEntry) -> None:
        self.fields += 1
        self.digits_in_review += sum(1 for d in e.digits if d.status == "review")
        self.types[e.type or "(unknown)"] += 1
        self.reasons.update(reason_kinds(e.reason))


def iter_review_entries(out_dir: str | Path, keys: list[tuple[str, ...]] | None = None,
                        block: int | None = None) -> Iterator[FieldEntry]:
    """The entries of the fields ``keys`` (default: :func:`review_plan`'s order) in that order, built ``block``
    (:data:`ENTRY_BLOCK`) at a time: never more than a block of them held."""
    out_dir = Path(out_dir)
    block = block or ENTRY_BLOCK
    keys = review_plan(out_dir, block)[0] if keys is None else keys
    for start in range(0, len(keys), block):
        part = keys[start : start + block]
        built = _build_entries(out_dir, set(part))
        yield from (built[k] for k in part)


def review_plan(out_dir: str | Path, block: int | None = None) -> tuple[list[tuple[str, ...]], ReviewCounts]:
    """The fields in review of a batch folder in page order (lowest confidence first, ties in sheet order) and
    the page's counts, from their entries taken in sheet order by :func:`iter_review_entries`."""
    keys = _review_keys(Path(out_dir))
    counts = ReviewCounts()
    order: list[tuple[float, int]] = []
    for i, e in enumerate(iter_review_entries(out_dir, keys, block)):
        counts.add(e)
        order.append((_page_order(e), i))
    order.sort()  # by confidence, then sheet order: what a stable sort on confidence gave
    return [keys[i] for _, i in order], counts


def review_entries(out_dir: str | Path) -> list[FieldEntry]:
    """The fields in review of a batch folder, lowest confidence first (ties in sheet order), as one list
    (the page itself takes them block by block: :func:`iter_review_entries`)."""
    return list(iter_review_entries(out_dir))


# --- plots -------------------------------------------------------------------------------------------


def batch_threshold(out_dir: str | Path) -> tuple[float | None, str]:
    """The batch's digit confidence threshold and where it came from.

    From the weights file and target error the manifest names (when that file is still there and its
    sha256 matches); else estimated from ``digits.csv`` as the lowest confidence of an accepted digit;
    ``(None, "")`` when neither can be had.
    """
    out_dir = Path(out_dir)
    manifest_path = out_dir / "manifest.json"
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text())
            weights = Path(manifest["weights"])
            target = float(manifest.get("settings", {}).get("target_error"))
            from ocr.batch import file_sha256

            if weights.is_file() and file_sha256(weights) == manifest.get("weights_sha256"):
                from ocr.classify import parse_field_error
                from ocr.lenet5 import load_weights
                from ocr.reject import Rejector

                _, info = load_weights(weights)
                rejector = Rejector.from_calibration(info["j"], info["calibration"], target)
                note = f"calibrated for {target:.1%} digit error"
                field_error = manifest.get("settings", {}).get("field_error") or 0
                if any(parse_field_error(field_error).values()) and info["calibration"].get("fields"):
                    shown = f"{field_error:.1%}" if isinstance(field_error, (int, float)) else field_error
                    note += f"; fields may need more, for {shown} field error"
                return rejector.confidence_threshold, note
        except (OSError, ValueError, KeyError, TypeError, OCRError):
            pass
    lowest = np.inf
    for piece in _pieces(out_dir, "digits.csv", ("status", "confidence")):
        if {"status", "confidence"} <= set(piece.columns):
            acc = pd.to_numeric(piece.loc[piece["status"] == "accepted", "confidence"], errors="coerce").dropna()
            lowest = min(lowest, float(acc.min())) if len(acc) else lowest
    if np.isfinite(lowest):
        return lowest, "estimated: lowest accepted confidence"
    return None, ""


def _logit(p) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=np.float64), 0.001, 0.99999)  # the ends collect in the outer bins
    return np.log(q / (1 - q))


def review_counts_per_label(digits: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``digits.csv`` rows -> ``(digits per predicted label, of them in review)``, two ``int64 [10]``."""
    if digits.empty:
        return np.zeros(10, np.int64), np.zeros(10, np.int64)
    labels = pd.to_numeric(digits["label"], errors="coerce")
    review = digits["status"].astype(str) == "review"
    total = np.bincount(labels.dropna().astype(int).clip(0, 9), minlength=10)[:10]
    in_review = np.bincount(labels[review].dropna().astype(int).clip(0, 9), minlength=10)[:10]
    return total.astype(np.int64), in_review.astype(np.int64)


def write_plots(out_dir: str | Path, threshold: float | None = None) -> list[Path]:
    """Per batch: ``confidence_histogram.png`` (digit confidence, the threshold marked) and
    ``review_per_digit.png`` (digits in review per predicted label, with the review rate).

    ``threshold`` (a confidence in [0, 1]) defaults to :func:`batch_threshold`. Returns the paths.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    # digits.csv is read piece by piece and counted as it goes: a batch's digits are never held whole.
    edges = np.linspace(_logit(0.001), _logit(0.99999), 46)
    counts = np.zeros(len(edges) - 1, np.int64)
    total, in_review = np.zeros(10, np.int64), np.zeros(10, np.int64)
    n_review = 0
    for piece in _pieces(out_dir, "digits.csv", ("label", "status", "confidence"), required=True):
        conf = pd.to_numeric(piece.get("confidence", pd.Series(dtype=str)), errors="coerce").to_numpy(float)
        counts += np.histogram(_logit(conf[np.isfinite(conf)]), bins=edges)[0]
        if {"label", "status"} <= set(piece.columns):
            n_review += int((piece["status"].astype(str) == "review").sum())
            t, r = review_counts_per_label(piece)
            total, in_review = total + t, in_review + r
    how = "given"
    if threshold is None:
        threshold, how = batch_threshold(out_dir)

    paths = []
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    # Confidence piles up just below 1 and the threshold sits there too (0.99+): a log-odds axis
    # spreads that end out; the ticks are still labelled in confidence.
    ax.hist(edges[:-1], bins=edges, weights=counts, color="tab:blue", edgecolor="white", linewidth=0.4)
    if threshold is not None:
        ax.axvline(_logit(threshold), color="tab:red", ls="--", lw=1.2,
                   label=f"threshold {threshold:.4f} ({how})")
        ax.legend(loc="upper left", fontsize=8)
    ticks = [0.001, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 0.99999]
    names = [f"{t:g}" for t in ticks]
    names[0], names[-1] = f"≤{names[0]}", f"≥{names[-1]}"  # the outer bins hold everything beyond
    ax.set_xticks(_logit(np.array(ticks)), names, fontsize=8)
    ax.set(xlabel="digit confidence (log-odds scale)", ylabel="digits",
           title=f"Digit confidence: {int(counts.sum())} digits, {n_review} in review")
    if counts.sum():
        ax.set_yscale("log")  # nearly all digits sit at the top: log shows the doubtful tail
    fig.tight_layout()
    paths.append(_save(fig, out_dir / HISTOGRAM_NAME))
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    bars = ax.bar(range(10), in_review, color="tab:orange")
    for d, b in enumerate(bars):
        if total[d]:
            ax.annotate(f"{100 * in_review[d] / total[d]:.0f}%", (b.get_x() + b.get_width() / 2, b.get_height()),
                        ha="center", va="bottom", fontsize=8)
    ax.set(xlabel="predicted digit", ylabel="digits in review", xticks=range(10),
           title="Digits in review per predicted label (% of that label's digits)")
    ax.set_ylim(0, max(1, int(in_review.max(initial=0))) * 1.15)
    fig.tight_layout()
    paths.append(_save(fig, out_dir / PER_DIGIT_NAME))
    plt.close(fig)
    return paths


def _save(fig, path: Path) -> Path:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    write_atomic_bytes(path, buf.getvalue())
    return path


# --- the page ----------------------------------------------------------------------------------------


class _Images:
    """PNG crops -> ``src`` attribute values: ``data:`` URIs while the budget lasts, then relative links.

    Only PNG files inside the batch folder are read: a path in a (hand-edited) sheet that points
    elsewhere is shown as missing, never read into the page.
    """

    def __init__(self, out_dir: Path, budget: int):
        self.root = out_dir.resolve()
        self.budget = budget
        self.embedded = 0
        self.linked = 0
        self.missing = 0

    def src(self, rel: str) -> str | None:
        rel = unneutralise(str(rel).strip())
        if not rel or not rel.lower().endswith(".png"):
            if rel:
                self.missing += 1
            return None
        path = (self.root / rel).resolve()
        try:
            path.relative_to(self.root)
        except ValueError:
            self.missing += 1
            return None
        if not path.is_file():
            self.missing += 1
            return None
        size = path.stat().st_size
        if size <= self.budget:
            self.budget -= size
            self.embedded += 1
            return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
        self.linked += 1
        return urllib.parse.quote(path.relative_to(self.root).as_posix())


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _num(text: str, digits: int = 2) -> str:
    """A number from a CSV cell, rounded for the page (the cell as it is when it is not a number)."""
    x = _float(text)
    return str(text) if np.isnan(x) else f"{x:.{digits}f}"


def _fmt(x: float, digits: int = 3) -> str:
    return "" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{digits}f}"


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.2em;color:#222;background:#fafafa}
h1{font-size:1.3em;margin:0 0 .3em}
.counts{display:flex;flex-wrap:wrap;gap:.6em;margin:.6em 0}
.count{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.35em .7em}
.count b{font-size:1.2em}
.bar{position:sticky;top:0;background:#fafafa;padding:.5em 0;border-bottom:1px solid #ddd;z-index:1}
label{margin-right:1em}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #e4e4e4;padding:.4em .5em;text-align:left;vertical-align:top}
th{background:#f0f0f0;font-weight:600}
td.doc{max-width:14em;overflow-wrap:anywhere}
td.digitcells{min-width:31em}
td.fieldcrop img{max-width:280px;max-height:120px;border:1px solid #ccc;image-rendering:auto}
.digits{display:flex;flex-wrap:wrap;gap:.35em}
.digit{border:1px solid #ccc;border-radius:4px;padding:.2em;text-align:center;font-size:.75em;min-width:3.6em}
.digit.review{border-color:#d9822b;background:#fff5ea}
.digit img{width:32px;height:32px;object-fit:contain;background:#fff;display:block;margin:0 auto}
.digit .label{font-size:1.35em;font-weight:700}
.pen{color:#555;font-family:ui-monospace,monospace}
.conf{font-family:ui-monospace,monospace}
.low{color:#b3261e;font-weight:600}
.missing{color:#999;font-style:italic}
.plots img{max-width:48%;border:1px solid #ddd;background:#fff}
.reason{min-width:11em;max-width:22em}
"""

# The page's only script: filters, the visible count, and a data attribute saying how many images
# loaded (for people: a number at the top; for the browser test: in the DOM after the scripts ran).
_JS = """
(function(){
  var rows = Array.prototype.slice.call(document.querySelectorAll('tr.entry'));
  var typeSel = document.getElementById('f-type'), reasonSel = document.getElementById('f-reason');
  var shown = document.getElementById('shown');
  function apply(){
    var t = typeSel.value, r = reasonSel.value, n = 0;
    rows.forEach(function(row){
      var kinds = JSON.parse(row.getAttribute('data-reasons'));
      var ok = (t === '' || row.getAttribute('data-type') === t) && (r === '' || kinds.indexOf(r) >= 0);
      row.hidden = !ok; if (ok) n++;
    });
    shown.textContent = String(n);
  }
  // A filter can be bookmarked: review.html#type=zip&reason=segmentation%20doubt
  var wanted = new URLSearchParams(window.location.hash.slice(1));
  function preselect(sel, value){
    if (value === null) return;
    for (var i = 0; i < sel.options.length; i++) if (sel.options[i].value === value) sel.value = value;
  }
  preselect(typeSel, wanted.get('type')); preselect(reasonSel, wanted.get('reason'));
  function remember(){
    var h = new URLSearchParams();
    if (typeSel.value) h.set('type', typeSel.value);
    if (reasonSel.value) h.set('reason', reasonSel.value);
    history.replaceState(null, '', '#' + h.toString());
  }
  typeSel.addEventListener('change', function(){ apply(); remember(); });
  reasonSel.addEventListener('change', function(){ apply(); remember(); });
  apply();
  function countImages(){
    var imgs = Array.prototype.slice.call(document.images);
    var ok = imgs.filter(function(im){ return im.complete && im.naturalWidth > 0; }).length;
    document.body.setAttribute('data-images-loaded', String(ok));
    document.body.setAttribute('data-images-total', String(imgs.length));
    document.getElementById('images-loaded').textContent = ok + ' of ' + imgs.length;
  }
  countImages();
  window.addEventListener('load', countImages);
})();
"""


def _turned_pages(out_dir: Path) -> dict[tuple[str, str], int]:
    """``(document, page) -> degrees`` of the pages the batch read turned the right way up (``manifest.json``)."""
    try:
        manifest = json.loads((out_dir / "manifest.json").read_text())
        return {(str(t["document"]), str(t["page"])): int(t["degrees"]) for t in manifest.get("turned_pages", [])}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def render_review_html(out_dir: str | Path, entries: list[FieldEntry] | None = None,
                       embed_budget: int = EMBED_BUDGET) -> str:
    """The review page of a batch folder as one HTML string (see :func:`write_review_sheet`)."""
    return "".join(review_page(out_dir, entries, embed_budget))


def _results_count(out_dir: Path) -> tuple[int, str]:
    """How many rows ``results.csv`` has and the batch its first row names ("" when none), read piece by piece."""
    n, batch = 0, ""
    for piece in _pieces(out_dir, "results.csv", ("batch",)):
        if not n and len(piece) and "batch" in piece:
            batch = unneutralise(str(piece["batch"].iloc[0]))
        n += len(piece)
    return n, batch


def review_page(out_dir: str | Path, entries: list[FieldEntry] | None = None,
                embed_budget: int = EMBED_BUDGET) -> Iterator[str]:
    """The review page of a batch folder in pieces, the table one row at a time: written as they come
    (:func:`write_review_sheet`), a page with its embedded crops (up to ``embed_budget`` bytes) is never
    held whole. The plots are embedded first, then the crops while the budget lasts."""
    out_dir = Path(out_dir)
    if entries is None:  # built block by block, twice: once to count and order them, once to show them
        keys, counts = review_plan(out_dir)
        entries_in_order: Iterable[FieldEntry] = iter_review_entries(out_dir, keys)
    else:
        counts = ReviewCounts()
        for e in entries:
            counts.add(e)
        entries_in_order = entries
    images = _Images(out_dir, embed_budget)
    errors = _read(out_dir, "errors.csv", required=False)
    n_results, batch = _results_count(out_dir)
    batch = batch or out_dir.resolve().name

    turned = _turned_pages(out_dir)
    type_counts, reason_counts, n_fields = counts.types, counts.reasons, counts.fields

    def rows() -> Iterator[str]:
        for i, e in enumerate(entries_in_order, 1):
            kinds = reason_kinds(e.reason)
            crop_src = images.src(e.crop)
            crop_html = (f'<img src="{_e(crop_src)}" alt="{_e(e.field)} of {_e(e.file)}">' if crop_src
                         else '<span class="missing">no crop</span>')
            digit_cells = []
            for d in e.digits:
                src = images.src(d.crop)
                img = (f'<img src="{_e(src)}" alt="digit {d.position + 1}">' if src
                       else '<span class="missing">no crop</span>')
                cls = "digit review" if d.status == "review" or d.position in e.flagged else "digit"
                digit_cells.append(
                    f'<div class="{cls}" title="position {d.position + 1}">{img}'
                    f'<div class="label">{_e(d.label)}</div>'
                    f'<div class="pen">{_e(_num(d.penalty_best))}<br>{_e(_num(d.penalty_second))}</div>'
                    f'<div class="conf{" low" if d.status == "review" else ""}">{_fmt(d.confidence)}</div></div>')
            digits_html = ('<div class="digits">' + "".join(digit_cells) + "</div>" if digit_cells
                           else '<span class="missing">no digits segmented</span>')
            where = _e(e.file) + (f" (page {_e(e.page)})" if e.page not in ("", "1") else "")
            if e.document != e.file:
                where += f"<br><small>{_e(e.document)}</small>"
            if (e.document, e.page) in turned:  # the crops stand upright; the scan itself does not
                where += f'<br><small class="turned">read turned {turned[e.document, e.page]}° clockwise</small>'
            yield ("\n" if i > 1 else "") + (
                f'<tr class="entry" data-type="{_e(e.type)}" data-reasons="{_e(json.dumps(kinds))}" '
                f'data-confidence="{_fmt(e.confidence, 6)}">'
                f'<td>{i}</td><td class="doc">{where}</td>'
                f'<td>{_e(e.field)}<br><small>{_e(e.type)}</small></td>'
                f'<td class="fieldcrop">{crop_html}</td><td class="digitcells">{digits_html}</td>'
                f'<td><b>{_e(e.value)}</b></td><td class="conf">{_fmt(e.confidence)}</td>'
                f'<td class="reason">{_e(e.reason)}</td></tr>')

    def options(counter: Counter) -> str:
        return "".join(f'<option value="{_e(k)}">{_e(k)} ({n})</option>' for k, n in sorted(counter.items()))

    plots = []
    for name, alt in ((HISTOGRAM_NAME, "confidence histogram"), (PER_DIGIT_NAME, "digits in review per label")):
        src = images.src(name) if (out_dir / name).is_file() else None
        if src:
            plots.append(f'<a href="{_e(urllib.parse.quote(name))}"><img src="{_e(src)}" alt="{_e(alt)}"></a>')
    count_rows = [
        ("fields in review", n_fields),
        ("digits in review", counts.digits_in_review),
        ("fields read", n_results),
        ("documents or pages not read (errors.csv)", len(errors)),
    ]
    counts_html = "".join(f'<div class="count"><b>{n}</b> {_e(label)}</div>' for label, n in count_rows)
    by_type = ", ".join(f"{_e(k)} {n}" for k, n in sorted(type_counts.items())) or "none"
    by_reason = ", ".join(f"{_e(k)} {n}" for k, n in sorted(reason_counts.items())) or "none"
    yield f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data: file: 'self'; \
style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>Review: {_e(batch)}</title><style>{_CSS}</style></head>
<body data-images-loaded="0">
<h1>Review sheet: batch {_e(batch)}</h1>
<p>Fields a person must check, lowest confidence first. Correct them in <code>review.csv</code>
(column <code>corrected_value</code>; <code>illegible</code> or <code>duplicate</code> (read before: sent twice)
on a field row, <code>not_a_digit</code> on a digit row), then run <code>ocr review apply review.csv</code>.
Under each digit: predicted label, best and second-best RBF penalty, confidence.</p>
<div class="counts">{counts_html}<div class="count">images loaded: <b id="images-loaded">?</b></div></div>
<p>By field type: {by_type}. By reason: {by_reason}.</p>
<div class="plots">{"".join(plots)}</div>
<p><a href="{_e(HISTOGRAM_NAME)}">confidence histogram (PNG)</a> ·
<a href="{_e(PER_DIGIT_NAME)}">digits in review per label (PNG)</a></p>
<div class="bar"><label>Field type <select id="f-type"><option value="">all</option>{options(type_counts)}</select>
</label><label>Reason <select id="f-reason"><option value="">all</option>{options(reason_counts)}</select>
</label> showing <b id="shown">{n_fields}</b> of {n_fields}</div>
<table><thead><tr><th>#</th><th>document</th><th>field</th><th>field crop</th>
<th>digits (label, penalties best / second, confidence)</th><th>read</th><th>confidence</th><th>reason</th>
</tr></thead><tbody>
"""
    yield from rows() if n_fields else ['<tr><td colspan="8">Nothing to review.</td></tr>']
    yield f"""
</tbody></table>
<script>{_JS}</script>
</body></html>
"""


def write_review_sheet(out_dir: str | Path, embed_budget: int = EMBED_BUDGET) -> Path:
    """Write ``review.html`` into the batch folder ``out_dir`` (atomically) and return its path."""
    out_dir = Path(out_dir)
    path = out_dir / HTML_NAME
    with atomic_writer(path, "w", encoding="utf-8", newline="") as fh:
        for piece in review_page(out_dir, embed_budget=embed_budget):
            fh.write(piece)
    return path


def write_review_outputs(out_dir: str | Path, threshold: float | None = None) -> list[Path]:
    """Plots, then the page that links them: what a batch run calls once its CSVs are merged."""
    paths = write_plots(out_dir, threshold)
    paths.append(write_review_sheet(out_dir))
    return paths
