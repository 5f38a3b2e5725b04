"""The corrections loop: an audited ``review.csv`` -> ``final.csv`` and a training set of the digits.

``ocr review apply OUT_DIR/review.csv`` (:func:`apply_review`):

1. validates every row of the sheet against the batch (``results.csv``, ``digits.csv``): rows that name no
   field or digit of the batch, values that do not fit the field type (:func:`ocr.assemble.form_problem`),
   ``not_a_digit`` on a field row, ``illegible`` or ``duplicate`` on a digit row, contradicting rows. Any bad row: a
   :class:`ReviewSheetError` listing every bad row, and nothing is written;
2. writes ``final.csv``: ``results.csv`` with the corrections applied (status ``corrected``, ``illegible``
   or ``duplicate``, the original value, the reviewer and when), atomically;
3. exports the digits of the corrected fields with their labels under ``OUT_DIR/corrections/``:
   ``digits.npz`` (``inputs`` ``float32 [N, 32, 32]`` exactly as the network saw them, ``labels``
   ``uint8 [N]``) and ``digits.csv`` (where each came from). :func:`load_digit_set` reads it back for
   ``ocr train --extra``.

What the sheet's ``corrected_value`` may hold:

- field row: the right value (``1250.50``, ``411001``, ``07082023`` or ``07/08/2023``), ``illegible``, or
  ``duplicate`` (the document was already read: a scan sent twice, the reason says "sent twice", or a second
  scan of the same cheque; its value must not be used again);
- digit row: the right digit (``0``-``9``), or ``not_a_digit`` (a speck, a comma, half a digit);
- empty: no correction (the field stays ``review`` in ``final.csv``).

The 32x32 inputs are not kept by the batch; they are recomputed by reading the field crop the batch
saved (``crops/...png``, lossless) again with the batch's weights: the same crop, the same code and the
same weights give the same segmentation, and every recomputed field is checked against ``digits.csv``
(digit count, and labels when the weights file is the one the manifest names). A field whose
segmentation does not line up with its corrected value (a digit missed or two read as one) cannot give
one label per crop; it is left out of the export and said so.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ocr.assemble import form_problem, format_value
from ocr.errors import OCRError
from ocr.report import RESULTS_COLUMNS, read_csv, write_atomic_bytes, write_csv
from ocr.review import unneutralise

CORRECTIONS_DIR = "corrections"
FINAL_NAME = "final.csv"
DIGITS_NPZ = "digits.npz"
FINAL_COLUMNS = RESULTS_COLUMNS + ["original_value", "reviewer", "reviewed_at"]
EXPORT_COLUMNS = ["document", "page", "field", "type", "position", "label", "predicted", "field_crop"]
ILLEGIBLE = "illegible"
DUPLICATE = "duplicate"
FIELD_VERDICTS = (ILLEGIBLE, DUPLICATE)  # what a field row may say instead of a value (final.csv's status)
NOT_A_DIGIT = "not_a_digit"
SHEET_COLUMNS = ("kind", "document", "page", "field", "position", "corrected_value")
MAX_LISTED = 50  # problems spelled out in the exception's one line (all are in .problems)


class ReviewSheetError(OCRError):
    """An audited sheet with bad rows; ``problems`` lists them, one line each (spreadsheet row numbers)."""

    def __init__(self, sheet: Path, problems: list[str]):
        self.sheet = Path(sheet)
        self.problems = list(problems)
        listed = "; ".join(self.problems[:MAX_LISTED])
        more = f"; and {len(self.problems) - MAX_LISTED} more" if len(self.problems) > MAX_LISTED else ""
        super().__init__(f"{self.sheet.name}: {len(self.problems)} bad row{'s' if len(self.problems) != 1 else ''}, "
                         f"nothing applied: {listed}{more}")


@dataclass
class ApplyResult:
    """What :func:`apply_review` wrote and counted."""

    final_csv: Path
    digits_npz: Path
    fields_corrected: int = 0
    fields_illegible: int = 0
    fields_duplicate: int = 0  # already read elsewhere: not to be used again
    fields_unchanged: int = 0  # corrected to the value the machine had read (confirmed)
    digits_exported: int = 0
    not_exported: list[str] = field(default_factory=list)  # one line per field left out of the export


# --- values ----------------------------------------------------------------------------------------


def parse_value(field_type: str, text: str) -> tuple[str, list[int], int | None]:
    """A corrected value as a person typed it -> ``(value as the batch writes it, digit labels,
    digits before the decimal point or None)``. Raises ``ValueError`` with the reason it does not fit.

    Accepted spellings: amounts with grouping commas, a currency sign or a trailing ``/-``
    (``₹1,68,900/-``); zips with or without the ``-`` of ZIP+4; dates ``DDMMYYYY`` or with ``/ - .``
    separators (``07/08/2023``).
    """
    s = re.sub(r"\s+", "", unneutralise(str(text)))
    if field_type == "amount":
        s = re.sub(r"^(₹|\$|Rs\.?|INR)", "", s, flags=re.IGNORECASE)
        s = re.sub(r"/-$", "", s).replace(",", "")
        if not re.fullmatch(r"\d+(\.\d+)?", s):
            raise ValueError(f"{text!r} is not an amount (digits, optionally a decimal point and 1 or 2 digits)")
        whole, _, frac = s.partition(".")
        if len(frac) > 2:
            raise ValueError(f"{text!r} does not fit an amount field: decimal part must have 1 or 2 digits")
        point_after = len(whole) if frac else None
        digits = whole + frac
    elif field_type == "zip":
        if not re.fullmatch(r"\d{5}(-?\d{4})?|\d+", s):
            raise ValueError(f"{text!r} is not a zip code (5 digits, or 9 as 12345-6789)")
        digits, point_after = s.replace("-", ""), None
    elif field_type == "date":
        m = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})", s)
        if m:
            s = f"{int(m.group(1)):02d}{int(m.group(2)):02d}{m.group(3)}"
        if not re.fullmatch(r"\d+", s):
            raise ValueError(f"{text!r} is not a date (DDMMYYYY or DD/MM/YYYY)")
        digits, point_after = s, None
    else:
        if not re.fullmatch(r"\d+", s):
            raise ValueError(f"{text!r} is not a digit string")
        digits, point_after = s, None
    labels = [int(c) for c in digits]
    # A person's reading is authoritative: an amount written with one decimal ("12.5") is what the
    # paper says, even though the reader sends such a reading to review (it is more often a lost digit).
    problem = form_problem(field_type, labels, None if field_type == "amount" else point_after)
    if problem:
        if (field_type, len(digits)) in (("date", 7), ("zip", 4), ("zip", 8)):
            problem += ("; a spreadsheet may have dropped a leading zero: format the column as text, or type "
                        "the value with a ' in front")
        raise ValueError(f"{text!r} does not fit a {field_type} field: {problem}")
    return format_value(field_type, labels, point_after), labels, point_after


def _point_after(value: str) -> int | None:
    """Digits before the decimal point of a value string as the batch wrote it (None: no point)."""
    if "." not in value:
        return None
    return sum(c.isdigit() for c in value.split(".", 1)[0])


# --- the sheet ---------------------------------------------------------------------------------------


@dataclass
class _FieldWork:
    """Everything known about one field the sheet touches."""

    key: tuple[str, str, str]
    result_index: int
    type: str
    value: str
    digit_labels: dict[int, int]  # position -> label, from digits.csv
    field_crop: str = ""
    field_row: int | None = None
    field_text: str = ""
    digit_rows: dict[int, tuple[int, str]] = field(default_factory=dict)  # position -> (row, text)


def _row_no(i: int) -> int:
    return i + 2  # the header is row 1 in a spreadsheet


def _where(r: dict) -> str:
    parts = [unneutralise(str(r.get("document", ""))), str(r.get("field", ""))]
    if str(r.get("kind", "")).strip() == "digit":
        try:
            parts.append(f"digit {int(float(r.get('position'))) + 1}")
        except (TypeError, ValueError):
            parts.append(f"digit {r.get('position')!r}")
    return ", ".join(p for p in parts if p)


def _load_batch(out_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    for name in ("results.csv", "digits.csv"):
        if not (out_dir / name).is_file():
            raise OCRError(f"{out_dir / name} not found: the sheet must sit in (or --batch name) the output "
                           "folder of `ocr batch`")
    return read_csv(out_dir / "results.csv"), read_csv(out_dir / "digits.csv")


def _k(value) -> str:
    return unneutralise(str(value).strip())


def read_sheet(sheet: Path) -> pd.DataFrame:
    """An audited sheet as a spreadsheet program may have saved it: UTF-8 with or without a byte-order
    mark (Excel's "CSV UTF-8"), else Windows-1252 (Excel's plain "CSV"); comma, semicolon (locales with
    a decimal comma) or tab separated. Every cell as text."""
    raw = Path(sheet).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    first = text.split("\n", 1)[0]
    sep = max((",", ";", "\t"), key=first.count)
    try:
        return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise OCRError(f"{sheet}: cannot read the sheet as CSV ({exc})") from None


def _collect(sheet: Path, results: pd.DataFrame, digits: pd.DataFrame) -> tuple[dict, list[str], set]:
    """The sheet's corrections per field, every problem found (one line each), and the fields with a bad row."""
    rows = read_sheet(sheet)
    missing = [c for c in SHEET_COLUMNS if c not in rows.columns]
    if missing:
        raise OCRError(f"{sheet}: not a review sheet, missing column{'s' if len(missing) > 1 else ''} "
                       f"{', '.join(missing)}")
    by_field = {(_k(r["document"]), _k(r["page"]), _k(r["field"])): i for i, r in results.iterrows()}
    labels_of: dict[tuple, dict[int, int]] = {}
    for _, d in digits.iterrows():
        try:
            labels_of.setdefault((_k(d["document"]), _k(d["page"]), _k(d["field"])), {})[int(d["position"])] = \
                int(d["label"])
        except ValueError:
            continue  # a digits.csv row without a label cannot be corrected; the sheet's row will say unknown
    fields: dict[tuple, _FieldWork] = {}
    problems: list[str] = []
    bad: set[tuple] = set()
    seen, prev_key = 0, None
    for i, r in enumerate(rows.to_dict("records")):
        if len(problems) > seen:  # the previous row added a problem: remember its field
            bad.add(prev_key)
            seen = len(problems)
        prev_key = (_k(r["document"]), _k(r["page"]), _k(r["field"]))
        n = _row_no(i)
        kind = str(r["kind"]).strip()
        text = unneutralise(str(r["corrected_value"]).strip())
        key = (_k(r["document"]), _k(r["page"]), _k(r["field"]))
        where = _where(r)
        if kind not in ("field", "digit"):
            problems.append(f"row {n} ({where}): unknown kind {kind!r} (expected 'field' or 'digit')")
            continue
        if key not in by_field:
            problems.append(f"row {n} ({where}): unknown row, the batch has no field {key[2]!r} on page {key[1]} "
                            f"of document {key[0]!r}")
            continue
        res = results.iloc[by_field[key]]
        work = fields.setdefault(key, _FieldWork(key=key, result_index=by_field[key], type=str(res["type"]),
                                                 value=unneutralise(str(res["value"])),
                                                 digit_labels=labels_of.get(key, {})))
        work.field_crop = work.field_crop or str(r.get("field_crop", "") or "")
        if kind == "field":
            if work.field_row is not None and text and work.field_text and text != work.field_text:
                problems.append(f"row {n} ({where}): the field appears again (row {work.field_row}) with a "
                                f"different correction")
                continue
            if text or work.field_row is None:
                work.field_row, work.field_text = n, text
            if not text:
                continue
            if text.lower() == NOT_A_DIGIT:
                problems.append(f"row {n} ({where}): 'not_a_digit' marks a digit row, not a field row "
                                f"(use 'illegible' for a field nobody can read)")
            elif text.lower() not in FIELD_VERDICTS:
                try:
                    parse_value(work.type, text)
                except ValueError as exc:
                    problems.append(f"row {n} ({where}): {exc}")
            continue
        # a digit row
        try:
            position = int(float(str(r["position"])))
        except ValueError:
            problems.append(f"row {n} ({where}): position {r['position']!r} is not a number")
            continue
        if position not in work.digit_labels:
            problems.append(f"row {n} ({where}): unknown row, the field has no digit at position {position}")
            continue
        if position in work.digit_rows and text and work.digit_rows[position][1] \
                and text != work.digit_rows[position][1]:
            problems.append(f"row {n} ({where}): the digit appears again (row {work.digit_rows[position][0]}) "
                            "with a different correction")
            continue
        if not text:
            continue
        if text.lower() in FIELD_VERDICTS:
            problems.append(f"row {n} ({where}): {text.lower()!r} marks a field row, not a digit (use "
                            "'not_a_digit' for a mark that is no digit)")
        elif text.lower() != NOT_A_DIGIT and not re.fullmatch(r"\d", text):
            problems.append(f"row {n} ({where}): {text!r} is not one digit (0-9) or 'not_a_digit'")
        else:
            work.digit_rows[position] = (n, text.lower())
    if len(problems) > seen:
        bad.add(prev_key)
    return fields, problems, bad


@dataclass
class _Decision:
    status: str  # "corrected", "illegible" or "duplicate"
    value: str
    export: list[tuple[int, int]]  # (position, label) of digits to export
    not_exported: str = ""


def _decide(work: _FieldWork, problems: list[str]) -> _Decision | None:
    """The final value of one touched field (None: no correction) and the labelled digits to export."""
    where = f"{work.key[0]}, {work.key[2]}"
    positions = sorted(work.digit_labels)
    removed = {p for p, (_, t) in work.digit_rows.items() if t == NOT_A_DIGIT}
    kept = [p for p in positions if p not in removed]
    from_digits = [int(work.digit_rows[p][1]) if p in work.digit_rows else work.digit_labels[p] for p in kept]
    digit_row_nos = ", ".join(str(work.digit_rows[p][0]) for p in sorted(work.digit_rows))
    text = work.field_text
    if text.lower() in FIELD_VERDICTS:
        if work.digit_rows:
            problems.append(f"row {work.field_row} ({where}): the field is marked {text.lower()} but row"
                            f"{'s' if len(work.digit_rows) > 1 else ''} {digit_row_nos} correct its digits")
            return None
        return _Decision(text.lower(), "", [])
    if text:
        value, labels, _ = parse_value(work.type, text)
        if work.digit_rows and labels != from_digits:
            problems.append(f"row {work.field_row} ({where}): the field is corrected to {value!r} but the digit "
                            f"corrections (rows {digit_row_nos}) make it {''.join(map(str, from_digits))!r}")
            return None
    elif work.digit_rows:
        point = _point_after(work.value)
        if point is not None:  # a digit left out before the point moves the point left
            point -= len(removed & set(positions[:point]))
        labels = from_digits
        value = format_value(work.type, labels, point)
        problem = form_problem(work.type, labels, point)
        if problem:
            problems.append(f"row{'s' if len(work.digit_rows) > 1 else ''} {digit_row_nos} ({where}): with these "
                            f"digit corrections the {work.type} would read {value!r}: {problem}; correct the "
                            "field row instead")
            return None
    else:
        return None
    if len(labels) != len(kept):
        return _Decision("corrected", value, [], f"{where}: {len(kept)} digits segmented but {len(labels)} in the "
                                                 f"corrected value {value!r}: its crops cannot be labelled one by one")
    return _Decision("corrected", value, list(zip(kept, labels, strict=True)))


# --- the 32x32 inputs of the corrected digits --------------------------------------------------------


def _batch_classifier(out_dir: Path, device: str):
    """The classifier the batch ran with (manifest.json), and whether it is provably the same file."""
    from ocr.classify import Classifier

    manifest = {}
    if (out_dir / "manifest.json").is_file():
        try:
            manifest = json.loads((out_dir / "manifest.json").read_text())
        except ValueError:
            manifest = {}
    target = float(manifest.get("settings", {}).get("target_error", 0.001) or 0.001)
    field_target = manifest.get("settings", {}).get("field_error", 0) or 0
    weights = Path(manifest["weights"]) if manifest.get("weights") else None
    if weights is not None and not weights.is_file():
        weights = None
    clf = Classifier.load(weights, device=device, target=target, field_target=field_target)
    same = False
    if manifest.get("weights_sha256"):
        from ocr.batch import file_sha256

        same = file_sha256(clf.weights) == manifest["weights_sha256"]
    return clf, same


def _inputs_for(out_dir: Path, works: list[tuple[_FieldWork, _Decision]], device: str
                ) -> tuple[dict[tuple, dict[int, np.ndarray]], dict[tuple, str]]:
    """Re-read the saved field crops of ``works`` (one classifier call for all) -> per field,
    position -> ``float32 [32, 32]`` input; and per field the reason when that failed."""
    from ocr.pages import read_gray
    from ocr.reader import read_fields
    from ocr.records import FieldImage

    failed: dict[tuple, str] = {}
    images, keys = [], []
    root = out_dir.resolve()
    for work, _ in works:
        rel = unneutralise(work.field_crop)
        path = (root / rel).resolve() if rel else None
        if path is None or not path.is_relative_to(root) or not path.is_file():
            failed[work.key] = f"{work.key[0]}, {work.key[2]}: field crop {rel or '(none)'} not found in the batch"
            continue
        try:
            crop = read_gray(path)
        except OCRError as exc:
            failed[work.key] = f"{work.key[0]}, {work.key[2]}: {exc}"
            continue
        images.append(FieldImage(name=work.key[2], type=work.type, crop=crop, document=work.key[0]))
        keys.append(work)
    if not images:
        return {}, failed
    clf, same_weights = _batch_classifier(out_dir, device)
    out: dict[tuple, dict[int, np.ndarray]] = {}
    for work, fr in zip(keys, read_fields(images, clf), strict=True):
        expected = [work.digit_labels[p] for p in sorted(work.digit_labels)]
        got = [d.label for d in fr.digits]
        if len(got) != len(expected) or (same_weights and got != expected):
            failed[work.key] = (f"{work.key[0]}, {work.key[2]}: reading the saved crop again gave {len(got)} digits "
                                f"{''.join(map(str, got))!r}, digits.csv has {''.join(map(str, expected))!r} "
                                "(other weights or code than the batch's?)")
            continue
        positions = sorted(work.digit_labels)
        out[work.key] = {positions[k]: d.digit_image.astype(np.float32) for k, d in enumerate(fr.digits)}
    return out, failed


# --- apply -------------------------------------------------------------------------------------------


def apply_review(sheet: str | Path, reviewer: str | None = None, out_dir: str | Path | None = None, *,
                 now: dt.datetime | None = None, device: str = "auto", export: bool = True) -> ApplyResult:
    """Apply an audited review sheet to its batch (see the module docstring).

    ``out_dir`` is the batch folder (default: the sheet's folder). Raises :class:`ReviewSheetError`
    (with ``problems``, one per bad row) before writing anything when any row is bad.
    """
    sheet = Path(sheet)
    if not sheet.is_file():
        raise OCRError(f"review sheet {sheet} not found")
    out = Path(out_dir) if out_dir is not None else sheet.resolve().parent
    results, digits = _load_batch(out)
    fields, problems, bad = _collect(sheet, results, digits)
    decisions: dict[tuple, _Decision] = {}
    for key, work in fields.items():
        if key in bad:
            continue  # its rows are already wrong; no follow-up problems on top
        d = _decide(work, problems)
        if d is not None:
            decisions[key] = d
    if problems:
        raise ReviewSheetError(sheet, problems)

    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    final = results.copy()
    for col in ("original_value", "reviewer", "reviewed_at"):
        final[col] = ""
    counts = {"corrected": 0, "illegible": 0, "duplicate": 0, "unchanged": 0}
    for key, d in decisions.items():
        i = fields[key].result_index
        original = final.at[i, "value"]
        final.at[i, "original_value"] = original
        final.at[i, "value"] = d.value
        final.at[i, "status"] = d.status
        final.at[i, "reviewer"] = reviewer or ""
        final.at[i, "reviewed_at"] = when
        if d.status in FIELD_VERDICTS:
            counts[d.status] += 1
        else:
            counts["corrected"] += 1
            counts["unchanged"] += int(unneutralise(str(original)) == d.value)
    final = final.reindex(columns=FINAL_COLUMNS + [c for c in final.columns if c not in FINAL_COLUMNS])

    # The training set: every digit of a corrected field whose segmentation lines up with its value.
    not_exported = [d.not_exported for d in decisions.values() if d.not_exported]
    to_export = [(fields[k], d) for k, d in decisions.items() if d.export]
    inputs: list[np.ndarray] = []
    labels: list[int] = []
    index: list[dict] = []
    if export and to_export:
        by_field, failed = _inputs_for(out, to_export, device)
        not_exported += list(failed.values())
        for work, d in to_export:
            if work.key not in by_field:
                continue
            for position, label in d.export:
                inputs.append(by_field[work.key][position])
                labels.append(label)
                index.append({"document": work.key[0], "page": work.key[1], "field": work.key[2], "type": work.type,
                              "position": position, "label": label, "predicted": work.digit_labels[position],
                              "field_crop": work.field_crop})
    corrections = out / CORRECTIONS_DIR
    npz = corrections / DIGITS_NPZ
    x = np.stack(inputs).astype(np.float32) if inputs else np.zeros((0, 32, 32), np.float32)
    y = np.asarray(labels, dtype=np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, inputs=x, labels=y)
    # Every check is done and everything computed: now write, the final table last.
    write_atomic_bytes(npz, buf.getvalue())
    write_csv(pd.DataFrame(index, columns=EXPORT_COLUMNS), corrections / "digits.csv")
    final_path = out / FINAL_NAME
    write_csv(final, final_path)  # write_csv neutralises formula-like cells
    return ApplyResult(final_csv=final_path, digits_npz=npz, fields_corrected=counts["corrected"],
                       fields_illegible=counts["illegible"], fields_duplicate=counts["duplicate"],
                       fields_unchanged=counts["unchanged"],
                       digits_exported=len(y), not_exported=not_exported)


# --- reading a digit set back ------------------------------------------------------------------------


def _npz_files(path: Path) -> list[Path]:
    if path.is_file():
        if path.suffix != ".npz":
            raise OCRError(f"digit set {path}: expected a .npz file or a folder holding one")
        return [path]
    if path.is_dir():
        for candidate in (path / DIGITS_NPZ, path / CORRECTIONS_DIR / DIGITS_NPZ):
            if candidate.is_file():
                return [candidate]
        found = sorted(path.glob("*.npz"))
        if found:
            return found
        raise OCRError(f"digit set {path}: no .npz file in the folder (run `ocr review apply` to make one)")
    raise OCRError(f"digit set {path} not found")


def load_digit_set(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """A labelled digit set -> ``(inputs float32 [N, 32, 32], labels uint8 [N])``.

    ``path``: a ``.npz`` file with arrays ``inputs`` (normalised 32x32 network inputs, see
    :func:`ocr.normalize.normalize_digit`) and ``labels`` (0-9); or a folder holding ``digits.npz``
    (``OUT_DIR/corrections``), a batch folder with ``corrections/digits.npz``, or several ``*.npz``
    (all read, in name order). Raises :class:`OCRError` naming the file when it is not such a set.
    """
    from ocr.normalize import BACKGROUND, INK, SIZE

    xs, ys = [], []
    for f in _npz_files(Path(path)):
        try:
            with np.load(f, allow_pickle=False) as data:
                if "inputs" not in data or "labels" not in data:
                    raise OCRError(f"digit set {f}: needs arrays 'inputs' and 'labels', has {sorted(data.files)}")
                x, y = data["inputs"], data["labels"]
        except (OSError, ValueError) as exc:
            raise OCRError(f"digit set {f} is unreadable ({exc})") from None
        if x.ndim != 3 or x.shape[1:] != (SIZE, SIZE):
            raise OCRError(f"digit set {f}: inputs must be [N, {SIZE}, {SIZE}], got {list(x.shape)}")
        if len(y) != len(x) or y.ndim != 1:
            raise OCRError(f"digit set {f}: {len(x)} inputs but labels of shape {list(y.shape)}")
        if not np.issubdtype(y.dtype, np.integer) or (len(y) and (y.min() < 0 or y.max() > 9)):
            raise OCRError(f"digit set {f}: labels must be integers 0-9")
        x = x.astype(np.float32)
        if not np.isfinite(x).all() or (len(x) and (x.min() < BACKGROUND - 1e-3 or x.max() > INK + 1e-3)):
            raise OCRError(f"digit set {f}: inputs are not normalised digits (values outside "
                           f"{BACKGROUND}..{INK} or not finite)")
        xs.append(x)
        ys.append(y.astype(np.uint8))
    return np.concatenate(xs), np.concatenate(ys)
