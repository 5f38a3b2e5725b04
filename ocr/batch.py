"""A folder of scans -> results.csv, digits.csv, review.csv, errors.csv (+ crops, manifest.json).

The library runner and the pieces the Prefect flows call (no Prefect here)::

    docs = discover(cfg.input_dir)                 # sorted; ids safe as file names
    chunks = plan_chunks(docs, cfg.chunk_size, cfg)
    outs = [process_chunk(c, cfg, classifier) for c in chunks]   # resumable: finished parts are reused
    summary = merge_outputs(cfg, outs)

A chunk's work is written under ``out_dir/.parts/<key>/`` (the four CSVs, then ``done.json`` last), so
a run killed midway and started again redoes only the chunks without ``done.json``. The chunk key is a
hash of its documents' content (sha256) and of every setting that changes results, so a changed file or
setting is never answered from an old part. Only one document's pixels are held at a time and only one
chunk's field crops.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

import ocr
from ocr.checksums import sha256_of
from ocr.classify import (
    DEFAULT_BATCH,
    DEFAULT_FIELD_TARGET,
    DEFAULT_TARGET,
    Classifier,
    FieldError,
    check_batch_size,
    default_weights,
    parse_field_error,
)
from ocr.errors import OCRError
from ocr.pages import DEFAULT_MAX_PIXELS, DEFAULT_PDF_DPI, SUPPORTED_SUFFIXES, PageError, iter_pages
from ocr.records import Box, FieldImage, FieldResult
from ocr.register import Registered, crop_fields, document_box_to_page, register_page, upright
from ocr.report import (
    DIGITS_COLUMNS,
    ERRORS_COLUMNS,
    RESULTS_COLUMNS,
    REVIEW_COLUMNS,
    TABLES,
    atomic_writer,
    frame,
    read_csv,
    review_order,
    write_atomic_bytes,
    write_csv,
    write_png,
)
from ocr.review import unneutralise, write_review_outputs
from ocr.templates import BATCH_CONFIG_NAME, BUNDLED_DIR, TemplateSet, template_set

log = logging.getLogger("ocr.batch")
PARTS_DIR = ".parts"
DONE_NAME = "done.json"
STAGES = ("load", "register", "fields", "classify", "write")


@dataclass
class BatchConfig:
    """Everything a batch run needs. Paths may be given as strings."""

    input_dir: Path
    out_dir: Path
    templates_dir: Path | None = None
    template: str | None = None
    device: str = "auto"
    batch_size: int | None = DEFAULT_BATCH  # None: by device (ocr.classify.batch_size_for)
    chunk_size: int = 16
    target_error: float = DEFAULT_TARGET
    field_error: FieldError = DEFAULT_FIELD_TARGET  # 0: digit threshold only; or per type (ocr.classify)
    weights: Path | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    pdf_dpi: float = DEFAULT_PDF_DPI
    # A CSV of the files earlier batches read (sha256, file, batch, output, read_at): a file found there, read
    # into another output folder, is the same scan sent again (its fields go to review); this batch's files are
    # added once its CSVs are written. None: no such memory between batches.
    ledger: Path | None = None

    def __post_init__(self):
        self.input_dir = Path(self.input_dir)
        self.out_dir = Path(self.out_dir)
        self.ledger = Path(self.ledger) if self.ledger else None
        self.templates_dir = Path(self.templates_dir) if self.templates_dir else None
        self.weights = Path(self.weights) if self.weights else None
        if self.chunk_size < 1:
            raise OCRError(f"chunk size must be at least 1, got {self.chunk_size}")
        self.batch_size = check_batch_size(self.batch_size)
        parse_field_error(self.field_error)  # a typo in a per-type spec stops the batch before any work

    @property
    def batch_name(self) -> str:
        return self.input_dir.resolve().name


@dataclass(frozen=True)
class Document:
    """One input file. ``id`` is made from its path relative to the input folder: unique in the batch
    and safe as a file name (letters, digits, ``. _ -``). ``error`` is set for a file that must not be
    read (e.g. a symbolic link pointing outside the input folder); it becomes an errors.csv row.
    ``same_as`` names an earlier file with the very same bytes (of this batch: its relative path; of an
    earlier batch, from the ledger: that file, batch and output folder): the same scan sent twice, which a
    person must see before anything is paid twice (:func:`sent_twice`)."""

    id: str
    path: Path
    sha256: str
    size: int
    relative: str = ""
    error: str = ""
    same_as: str = ""


@dataclass(frozen=True)
class Chunk:
    """Documents processed together (their fields classified in shared batches). ``key`` names its part."""

    index: int
    documents: tuple[Document, ...]
    key: str


@dataclass
class ChunkOutput:
    """What processing a chunk produced: counts, seconds per stage, and where its part files are."""

    chunk: Chunk
    part_dir: Path
    documents: int = 0
    pages: int = 0
    fields: int = 0
    accepted: int = 0
    review: int = 0
    errors: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    reused: bool = False

    @property
    def key(self) -> str:
        return self.chunk.key

    @property
    def index(self) -> int:
        return self.chunk.index


@dataclass
class BatchSummary:
    """Counts and speed of a batch, and the paths of its outputs."""

    documents: int
    pages: int
    fields: int
    accepted: int
    review: int
    errors: int
    seconds: float
    pages_per_second: float
    out_dir: Path
    results_csv: Path
    digits_csv: Path
    review_csv: Path
    errors_csv: Path
    manifest: Path
    timings: dict[str, float] = field(default_factory=dict)
    chunks: int = 0
    chunks_reused: int = 0
    review_files: list[Path] = field(default_factory=list)  # review.html and its plots
    sent_twice: int = 0  # files whose bytes an earlier file (of this batch, or of the ledger's) already had

    def table(self) -> list[tuple[str, str]]:
        """(label, value) rows for a short printed summary."""
        rows = [("documents", str(self.documents)), ("pages", str(self.pages)), ("fields", str(self.fields)),
                ("accepted", str(self.accepted)), ("review", str(self.review)), ("errors", str(self.errors)),
                *([("sent twice", f"{self.sent_twice} files (their fields are in review)")] if self.sent_twice
                  else []),
                ("chunks (reused)", f"{self.chunks} ({self.chunks_reused})"),
                ("seconds", f"{self.seconds:.1f}"), ("pages/s", f"{self.pages_per_second:.2f}")]
        rows += [(f"  {k} s", f"{v:.1f}") for k, v in self.timings.items()]
        rows += [("results", str(self.results_csv)), ("review queue", str(self.review_csv)),
                 ("errors", str(self.errors_csv))]
        return rows


# --- discovering the inputs -------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str, limit: int = 120) -> str:
    """Any text -> a name safe as one path component: only ``A-Z a-z 0-9 . _ -``, no leading dot or
    dash, never ``.``/``..``, at most ``limit`` characters (a hash keeps long names distinct)."""
    name = _UNSAFE.sub("_", text.replace("/", "__").replace("\\", "__")).lstrip(".-_") or "document"
    if len(name) > limit:
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
        name = name[: limit - 11] + "-" + digest
    return name


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def discover(input_dir: str | Path, exclude: Sequence[str | Path] = ()) -> list[Document]:
    """The documents of a batch folder: image, TIFF and PDF files found recursively, sorted by path.

    Hidden files and folders (name starting with ``.``) and ``batch.yaml`` are skipped, and so are files
    of other types (logged). Symbolic links are followed only when they stay inside ``input_dir``; one that
    points outside becomes a Document with ``error`` set. ``exclude`` lists folders to leave out (e.g. the
    output folder when it sits inside the input folder).
    """
    root = Path(input_dir)
    if not root.is_dir():
        raise OCRError(f"input folder {root} does not exist or is not a folder")
    real_root = root.resolve()
    excluded = [Path(e).resolve() for e in exclude]
    found: list[tuple[str, Path, str]] = []  # (relative posix path, path, error)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        keep = []
        for d in sorted(dirnames):
            p = here / d
            if d.startswith(".") or any(p.resolve() == e for e in excluded):
                continue
            if p.is_symlink():
                rel = p.relative_to(root).as_posix()
                if not _inside(p.resolve(), real_root):
                    found.append((rel, p, "symbolic link to a folder outside the input folder (not followed)"))
                continue  # a link to a folder inside is already walked as itself
            keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            if name.startswith(".") or name == BATCH_CONFIG_NAME:
                continue
            p = here / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                target = p.resolve()
                if not _inside(target, real_root):
                    found.append((rel, p, "symbolic link pointing outside the input folder (not followed)"))
                    continue
                if not target.is_file():
                    found.append((rel, p, "symbolic link to nothing (broken link)"))
                    continue
            if p.suffix.lower() not in SUPPORTED_SUFFIXES:
                log.info("skipping %s: not a scan (supported: %s)", rel, " ".join(SUPPORTED_SUFFIXES))
                continue
            found.append((rel, p, ""))
    found.sort(key=lambda t: t[0])
    docs: list[Document] = []
    used: set[str] = set()
    for rel, p, error in found:
        doc_id = safe_name(rel)
        if doc_id in used:  # "a b.png" and "a_b.png": keep both, distinguishably
            doc_id = safe_name(f"{rel}-{hashlib.sha256(rel.encode()).hexdigest()[:8]}")
        used.add(doc_id)
        if error:
            docs.append(Document(id=doc_id, path=p, sha256="", size=0, relative=rel, error=error))
            continue
        try:
            docs.append(Document(id=doc_id, path=p, sha256=sha256_of(p), size=p.stat().st_size, relative=rel))
        except OSError as exc:
            docs.append(Document(id=doc_id, path=p, sha256="", size=0, relative=rel,
                                 error=f"cannot read file ({exc.strerror or exc})"))
    return _mark_copies(docs)


def _mark_copies(docs: list[Document]) -> list[Document]:
    """Set ``same_as`` on every file whose bytes are those of an earlier file (in path order)."""
    first: dict[str, str] = {}
    out = []
    for d in docs:
        if d.sha256 and not d.error:
            if d.sha256 in first:
                log.warning("%s is the same file as %s (identical bytes): its fields go to review",
                            d.relative, first[d.sha256])
                d = replace(d, same_as=first[d.sha256])
            else:
                first[d.sha256] = d.relative
        out.append(d)
    return out


LEDGER_COLUMNS = ["sha256", "file", "batch", "output", "read_at"]


def _read_ledger(path: Path) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame(columns=LEDGER_COLUMNS)
    try:
        table = read_csv(path)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise OCRError(f"ledger {path} cannot be read as CSV ({exc})") from None
    missing = [c for c in LEDGER_COLUMNS if c not in table.columns]
    if missing:
        raise OCRError(f"ledger {path} lacks the column(s) {', '.join(missing)} "
                       f"(a ledger has {', '.join(LEDGER_COLUMNS)})")
    return table


def seen_before(docs: Sequence[Document], config: BatchConfig) -> list[Document]:
    """Set ``same_as`` on the documents whose bytes were first read by another batch, into another output
    folder (``config.ledger``). Running a batch again into its own folder (redoing a night) is not sending its
    files again, even when a later batch has read them since: the first to read a file keeps it."""
    if config.ledger is None:
        return list(docs)
    table = _read_ledger(config.ledger)
    asked = {d.sha256 for d in docs if d.sha256 and not d.error and not d.same_as}
    # Of this batch's files only: each one's first reading, unless that was into this very folder.
    firsts = table[table["sha256"].isin(asked)].sort_values("read_at", kind="stable").drop_duplicates("sha256")
    firsts = firsts[~_of_output(firsts, str(config.out_dir.resolve()))]
    earlier_by_sha = {row["sha256"]: row for row in firsts.to_dict("records")}
    out = []
    for d in docs:
        row = earlier_by_sha.get(d.sha256) if not d.same_as else None  # a copy within the batch says so already
        if row is not None:
            earlier = (f"{unneutralise(row['file'])} of batch {unneutralise(row['batch'])} "
                       f"(read {row['read_at'][:10]} into {unneutralise(row['output'])})")
            log.warning("%s was read before: %s; its fields go to review", d.relative, earlier)
            d = replace(d, same_as=earlier)
        out.append(d)
    return out


def find_documents(config: BatchConfig) -> list[Document]:
    """:func:`discover` the batch's documents (its output folder left out), with the files sent twice marked:
    within the batch, and against the ledger of earlier batches when there is one."""
    return seen_before(discover(config.input_dir, exclude=[config.out_dir]), config)


def documents_read(out_dir: Path) -> tuple[dict, list[dict]]:
    """A finished batch's ``manifest.json`` and its entries of the documents that were read: at least one row
    in ``results.csv`` (a file with only error rows, or one never read, is not)."""
    manifest = json.loads((out_dir / "manifest.json").read_text())
    read = set(pd.read_csv(out_dir / "results.csv", usecols=["document"], dtype=str,
                           keep_default_na=False)["document"])  # ids never start like a formula
    return manifest, [d for d in manifest["documents"] if not d["error"] and d["id"] in read]


def _of_output(table: pd.DataFrame, here: str) -> pd.Series:
    """The ledger rows of the batch written to the output folder ``here`` (resolved)."""
    return table["output"].map(unneutralise) == here


def _update_ledger(path: Path, change) -> None:
    """``change(table) -> table`` applied to the ledger at ``path`` under an exclusive lock (two batches
    finishing at once must not lose each other's rows), written whole and renamed."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        write_csv(change(_read_ledger(path))[LEDGER_COLUMNS], path)


def record_in_ledger(config: BatchConfig) -> int:
    """Add the files this batch read (a row in ``results.csv``) to ``config.ledger``, replacing the rows an
    earlier run into the same output folder left (a file keeps the time it was first read there); under a lock,
    written whole and renamed. Returns the rows written for this batch."""
    if config.ledger is None:
        return 0
    from datetime import UTC, datetime

    manifest, read = documents_read(config.out_dir)
    here = str(config.out_dir.resolve())
    now = datetime.now(UTC).isoformat(timespec="seconds")
    rows: list[dict] = []

    def add(table: pd.DataFrame) -> pd.DataFrame:
        ours = _of_output(table, here)
        since = dict(zip(table["sha256"][ours], table["read_at"][ours], strict=True))
        rows.extend({"sha256": d["sha256"], "file": d["file"], "batch": manifest["batch"], "output": here,
                     "read_at": since.get(d["sha256"], now)} for d in read)
        return pd.concat([table[~ours], frame(rows, LEDGER_COLUMNS)], ignore_index=True)

    _update_ledger(config.ledger, add)
    return len(rows)


def forget_in_ledger(ledger: str | Path, out_dir: str | Path) -> int:
    """Take the files of the batch written to ``out_dir`` out of ``ledger`` (a run into the wrong folder, a
    test run), so that they no longer count as read. Returns the rows removed; the ledger must exist."""
    ledger = Path(ledger)
    if not ledger.is_file():
        raise OCRError(f"ledger {ledger} not found")
    here = str(Path(out_dir).resolve())
    removed = 0

    def drop(table: pd.DataFrame) -> pd.DataFrame:
        nonlocal removed
        ours = _of_output(table, here)
        removed = int(ours.sum())
        return table[~ours]

    _update_ledger(ledger, drop)
    return removed


def sent_twice(result: FieldResult, same_as: str) -> FieldResult:
    """A field of a file that is byte for byte an earlier file (``same_as``, :class:`Document`): never
    accepted, whatever was read, with that said first in its reason; an error stays an error."""
    note = f"sent twice: identical bytes to {same_as}"
    return replace(result, status="review" if result.status == "accepted" else result.status,
                   reason="; ".join(r for r in (note, result.reason) if r))


# --- settings that change results, and the classifier ----------------------------------------------

@functools.lru_cache(maxsize=8)
def _file_sha256(path: str, mtime_ns: int, size: int) -> str:
    return sha256_of(Path(path))


def file_sha256(path: Path) -> str:
    """sha256 of a file, cached by path, mtime and size (the weights are hashed once per process)."""
    st = Path(path).stat()
    return _file_sha256(str(Path(path).resolve()), st.st_mtime_ns, st.st_size)


def weights_path(config: BatchConfig) -> Path:
    return Path(config.weights) if config.weights else default_weights()


def config_fingerprint(config: BatchConfig) -> dict:
    """The settings that change what a batch writes (device, batch and chunk size do not)."""
    tdirs = [BUNDLED_DIR] + ([config.templates_dir] if config.templates_dir else [])
    templates = {}
    for d in tdirs:
        if Path(d).is_dir():
            for p in sorted(Path(d).glob("*.y*ml")):
                templates[f"{Path(d).name}/{p.name}"] = sha256_of(p)
    rules = config.input_dir / BATCH_CONFIG_NAME
    wp = weights_path(config)
    return {
        "ocr_version": ocr.__version__,
        "template": config.template,
        "templates": templates,
        "batch_yaml": sha256_of(rules) if rules.is_file() else None,
        "target_error": config.target_error,
        "field_error": config.field_error,
        "weights_sha256": file_sha256(wp) if wp.is_file() else None,
        "max_pixels": config.max_pixels,
        "pdf_dpi": config.pdf_dpi,
    }


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


@functools.lru_cache(maxsize=4)
def _cached_classifier(weights: str, device: str, batch_size: int | None, target: float,
                       field_target: FieldError) -> Classifier:
    return Classifier.load(weights or None, device=device, batch_size=batch_size, target=target,
                           field_target=field_target)


def get_classifier(config: BatchConfig) -> Classifier:
    """The classifier for ``config``, loaded once per process and reused by every chunk."""
    return _cached_classifier(str(config.weights or ""), config.device, config.batch_size, config.target_error,
                              config.field_error)


# --- chunks ----------------------------------------------------------------------------------------

def plan_chunks(documents: Sequence[Document], chunk_size: int, config: BatchConfig | None = None) -> list[Chunk]:
    """Split the (sorted) documents into chunks of ``chunk_size``. Each key hashes the chunk's document
    ids and sha256 and, when ``config`` is given, the settings that change results."""
    if chunk_size < 1:
        raise OCRError(f"chunk size must be at least 1, got {chunk_size}")
    settings = _digest(config_fingerprint(config)) if config is not None else ""
    chunks = []
    for i, start in enumerate(range(0, len(documents), chunk_size)):
        docs = tuple(documents[start : start + chunk_size])
        # A copy's key names what it copies (its fields are read differently); other keys are as they were.
        key = _digest({"docs": [(d.id, d.sha256, d.error, *((d.same_as,) if d.same_as else ())) for d in docs],
                       "settings": settings})[:24]
        chunks.append(Chunk(index=i, documents=docs, key=key))
    return chunks


def part_dir(config: BatchConfig, chunk: Chunk) -> Path:
    return config.out_dir / PARTS_DIR / chunk.key


def _load_done(pdir: Path, fingerprint: str) -> dict | None:
    done = pdir / DONE_NAME
    if not done.is_file():
        return None
    try:
        info = json.loads(done.read_text())
    except (OSError, ValueError):
        return None
    if info.get("fingerprint") != fingerprint or not all((pdir / f"{t}.csv").is_file() for t in TABLES):
        return None
    return info


@dataclass
class _PageWork:
    document: Document
    page: int
    template: str
    reg: Registered  # without its image (only the mapping back to the page is kept for the chunk)
    fields: list[tuple[FieldImage, Box]]  # crop and its box in document pixels


class _StageClock:
    """Seconds per stage; the classifier's own time is taken out of the field reader's."""

    def __init__(self):
        self.seconds = dict.fromkeys(STAGES, 0.0)

    def add(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] += now - since
        return now


def _prepare_document(doc: Document, config: BatchConfig, ts: TemplateSet, clock: _StageClock,
                      errors: list[dict]) -> list[_PageWork]:
    """Load, register and crop one document; its failures become error rows (the batch goes on)."""
    work: list[_PageWork] = []
    base = {"batch": config.batch_name, "document": doc.id, "file": doc.relative}
    if doc.error:
        errors.append({**base, "page": "", "reason": f"{doc.relative}: {doc.error}"})
        return work
    page_no: int | str = ""
    try:
        ruled = ts.rule_for(doc.relative)
        t = time.perf_counter()
        for item in iter_pages(doc.path, max_pixels=config.max_pixels, pdf_dpi=config.pdf_dpi):
            t = clock.add("load", t)
            if isinstance(item, PageError):
                errors.append({**base, "page": item.page_number, "reason": item.reason})
                continue
            page_no = item.page_number
            try:
                reg, template, boxes = upright(register_page(item), lambda aspect: ruled or ts.match(aspect))
                if reg.turned:
                    log.info("%s page %s: turned %d degrees clockwise to stand the right way up",
                             doc.relative, page_no, reg.turned)
                t = clock.add("register", t)
                crops = crop_fields(item, reg, template, document=doc.id, boxes=boxes)
                t = clock.add("fields", t)
            except OCRError as exc:
                errors.append({**base, "page": page_no, "reason": str(exc)})
                t = time.perf_counter()
                continue
            # Keep the crops and the page mapping, not the page: a chunk holds one page's pixels at a time.
            slim = replace(reg, image=np.zeros((0, 0), np.uint8))
            work.append(_PageWork(doc, item.page_number, template.name, slim, crops))
            del reg, item
            t = time.perf_counter()
    except OCRError as exc:
        errors.append({**base, "page": page_no, "reason": str(exc)})
    except Exception as exc:  # a bug must not cost the rest of the batch; it is reported, not hidden
        log.exception("unexpected error on %s", doc.relative)
        errors.append({**base, "page": page_no,
                       "reason": f"{doc.relative}: unexpected error ({type(exc).__name__}: {exc})"})
    return work


def _digit_crop(crop: np.ndarray, bbox: Box, pad: int = 3) -> np.ndarray:
    x0, y0, x1, y1 = bbox
    h, w = crop.shape[:2]
    return crop[max(0, y0 - pad) : min(h, y1 + pad), max(0, x0 - pad) : min(w, x1 + pad)]


def _rows_for_field(pw: _PageWork, fr: FieldResult, doc_box: Box, config: BatchConfig,
                    tables: dict[str, list[dict]]) -> None:
    doc, f = pw.document, fr.field
    tables["results"].append({"batch": config.batch_name, "document": doc.id, "file": doc.relative,
                              "page": pw.page, "template": pw.template, "field": f.name, "type": f.type,
                              "value": fr.value, "status": fr.status, "confidence": round(float(fr.confidence), 6),
                              "reason": fr.reason})
    needs_person = fr.status != "accepted"
    crop_dir = Path("crops") / doc.id
    stem = f"p{pw.page}-{safe_name(f.name)}"
    digit_paths = []
    for d in fr.digits:
        bx0, by0, bx1, by1 = d.bbox
        page_box = document_box_to_page(pw.reg, (bx0 + doc_box[0], by0 + doc_box[1],
                                                  bx1 + doc_box[0], by1 + doc_box[1]))
        tables["digits"].append({"document": doc.id, "page": pw.page, "field": f.name, "position": d.position,
                                 "x0": page_box[0], "y0": page_box[1], "x1": page_box[2], "y1": page_box[3],
                                 "label": d.label, "penalty_best": round(d.best_penalty, 6),
                                 "penalty_second": round(d.second_penalty, 6),
                                 "confidence": round(float(d.confidence), 6),
                                 "status": "accepted" if d.accepted else "review"})
        if needs_person or not d.accepted:
            rel = crop_dir / f"{stem}-d{d.position}.png"
            write_png(config.out_dir / rel, _digit_crop(f.crop, d.bbox))
            digit_paths.append(rel.as_posix())
            if not d.accepted:
                tables["review"].append({"kind": "digit", "document": doc.id, "page": pw.page, "field": f.name,
                                         "position": d.position, "value": d.label,
                                         "confidence": round(float(d.confidence), 6),
                                         "reason": "digit below the confidence threshold",
                                         "field_crop": (crop_dir / f"{stem}.png").as_posix(),
                                         "digit_crops": rel.as_posix(), "corrected_value": ""})
    if needs_person or digit_paths:
        write_png(config.out_dir / crop_dir / f"{stem}.png", f.crop)
    if needs_person:
        tables["review"].append({"kind": "field", "document": doc.id, "page": pw.page, "field": f.name,
                                 "position": "", "value": fr.value, "confidence": round(float(fr.confidence), 6),
                                 "reason": fr.reason, "field_crop": (crop_dir / f"{stem}.png").as_posix(),
                                 "digit_crops": ";".join(digit_paths), "corrected_value": ""})


def _remove_stale_temps(folder: Path, *patterns: str) -> None:
    """Delete the files matching ``patterns`` in ``folder``: temp files (``.NAME.*.tmp``, see
    :func:`ocr.report.write_atomic_bytes`) that a run killed before their rename left behind."""
    if folder.is_dir():
        for pattern in patterns:
            for p in folder.glob(pattern):
                p.unlink(missing_ok=True)


def process_chunk(chunk: Chunk, config: BatchConfig, classifier: Classifier | None = None) -> ChunkOutput:
    """Load, register and crop every document of ``chunk``, read all their fields in ONE call of
    :func:`ocr.reader.read_fields` (shared classifier batches), write crops and the part CSVs.

    A part already complete for the same settings is returned as it is (resume); its CSVs are not
    rewritten. Writes only under ``config.out_dir``.
    """
    fingerprint = _digest(config_fingerprint(config))
    pdir = part_dir(config, chunk)
    done = _load_done(pdir, fingerprint)
    if done is not None:
        return ChunkOutput(chunk=chunk, part_dir=pdir, reused=True, timings=done.get("timings", {}),
                           **{k: done["counts"][k] for k in ("documents", "pages", "fields", "accepted",
                                                              "review", "errors")})
    from ocr.reader import Timings, read_fields  # the field reader: segmentation, normalisation, classification

    # A run killed between writing a temp file and renaming it left it behind; these folders are this chunk's.
    for folder in (pdir, *(config.out_dir / "crops" / d.id for d in chunk.documents)):
        _remove_stale_temps(folder, ".*.tmp")
    steady_malloc()
    classifier = classifier if classifier is not None else get_classifier(config)
    ts = template_set(config.input_dir, config.templates_dir, config.template)
    clock = _StageClock()
    errors: list[dict] = []
    work: list[_PageWork] = []
    for doc in chunk.documents:
        work.extend(_prepare_document(doc, config, ts, clock, errors))
    fields = [f for pw in work for f, _ in pw.fields]
    t = time.perf_counter()
    steps = Timings()
    results = read_fields(fields, classifier, timings=steps) if fields else []
    read_seconds = time.perf_counter() - t
    # Segmentation and normalisation count as "fields"; the forward passes as "classify".
    clock.seconds["classify"] += steps.classify
    clock.seconds["fields"] += read_seconds - steps.classify
    if len(results) != len(fields):
        raise RuntimeError(f"read_fields returned {len(results)} results for {len(fields)} fields")
    t = time.perf_counter()
    tables: dict[str, list[dict]] = {"results": [], "digits": [], "review": [], "errors": errors}
    it = iter(results)
    for pw in work:
        for _, doc_box in pw.fields:
            fr = next(it)
            if pw.document.same_as:
                fr = sent_twice(fr, pw.document.same_as)
            _rows_for_field(pw, fr, doc_box, config, tables)
    frames = {name: frame(tables[name], cols) for name, cols in TABLES.items()}
    pdir.mkdir(parents=True, exist_ok=True)
    for name, df in frames.items():
        write_csv(df, pdir / f"{name}.csv")
    clock.add("write", t)
    res = frames["results"]
    counts = {"documents": len(chunk.documents), "pages": len(work), "fields": len(res),
              "accepted": int((res["status"] == "accepted").sum()) if len(res) else 0,
              "review": int((res["status"] != "accepted").sum()) if len(res) else 0,
              "errors": len(frames["errors"])}
    timings = {k: round(v, 4) for k, v in clock.seconds.items()}
    # done.json last: its presence is what says the part is complete.
    # Pages read turned the right way up (ocr.register.upright), for the manifest: an audit can see them.
    turned = [{"document": pw.document.id, "page": pw.page, "degrees": pw.reg.turned} for pw in work if pw.reg.turned]
    write_atomic_bytes(pdir / DONE_NAME, json.dumps({"key": chunk.key, "fingerprint": fingerprint,
                                                     "counts": counts, "timings": timings,
                                                     "documents": [d.id for d in chunk.documents],
                                                     "turned": turned},
                                                    indent=1).encode())
    release_free_memory()
    return ChunkOutput(chunk=chunk, part_dir=pdir, timings=timings, **counts)


@functools.cache
def _glibc(name: str):
    """glibc's function ``name`` (``malloc_trim``, ``mallopt``), or ``None`` where the C library has none
    (macOS, musl)."""
    import ctypes
    import ctypes.util

    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None


def _malloc_trim():
    """glibc's ``malloc_trim``, or ``None`` where the C library has none (macOS, musl)."""
    return _glibc("malloc_trim")


# Arrays at least this large get pages of their own from the system (mmap), handed back the moment they are
# freed, instead of a place in the heap: a page image, a field's masks. glibc starts at 128 kB but raises
# the bar to the size of every such block freed (up to 32 MiB), so after the first chunk pages and masks
# land in the heap among small arrays still held, and each chunk's peak rose over a run (1,000 pages: 510
# MiB in the first chunks, 600 in the last; with this: 440-500 throughout). With 512-digit batches it cost
# about 7% more time per page (their activations got fresh pages every batch); with the 64 digits per batch
# of a CPU now (ocr.classify.CPU_BATCH) nothing measurable. A user who would rather glibc slid sets
# MALLOC_MMAP_THRESHOLD_ (33554432: glibc's ceiling). README, "Throughput".
MMAP_THRESHOLD = 4 << 20
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)


@functools.cache
def steady_malloc() -> bool:
    """Fix glibc's mmap threshold at :data:`MMAP_THRESHOLD` for this process (once; it stops glibc's
    sliding threshold). Left alone where the user set ``MALLOC_MMAP_THRESHOLD_`` or there is no glibc.
    Returns whether it was set."""
    mallopt = _glibc("mallopt")
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def release_free_memory() -> None:
    """Hand the memory a chunk freed back to the system (glibc keeps freed heap pages for the next
    allocation, and the arrays of a chunk, freed in another order than they were made, leave holes: the
    process grew with the batch, 553 MiB at 100 pages and 703-755 MiB at 1,000; README, "Throughput")."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


# --- merging ---------------------------------------------------------------------------------------

def library_versions() -> dict[str, str]:
    """The versions of the libraries that decide what is read: image decoding and resampling (OpenCV,
    Pillow), thresholds and connected components (scikit-image, SciPy), the networks (torch). A batch's
    manifest records them and the benchmarks print them beside their figures: another OpenCV build
    moves penalties in their fourth decimal and writes other JPEG bytes for the same synthetic scan
    (README, "Documents")."""
    import cv2
    import PIL
    import scipy
    import skimage
    import torch

    return {"ocr": ocr.__version__, "torch": torch.__version__, "numpy": np.__version__,
            "opencv": cv2.__version__, "scikit-image": skimage.__version__, "scipy": scipy.__version__,
            "pillow": PIL.__version__, "pandas": pd.__version__}


def versions_text() -> str:
    """:func:`library_versions` as one line: ``"ocr 0.1.0, torch 2.13.0+cpu, ..."``."""
    return ", ".join(f"{name} {version}" for name, version in library_versions().items())


def _concat_csv(parts: Sequence[Path], columns: list[str], path: Path) -> None:
    """Part CSVs (same header) -> one CSV, streamed line by line (never the whole table in memory), atomically."""
    header = ",".join(columns) + "\n"
    with atomic_writer(path, "w", encoding="utf-8", newline="") as dst:
        dst.write(header)
        for part in parts:
            with open(part, encoding="utf-8", newline="") as src:
                first = src.readline()
                if first != header:
                    raise OCRError(f"{part}: unexpected header (written by another version?)")
                shutil.copyfileobj(src, dst, 1 << 20)


def merge_outputs(config: BatchConfig, chunks: Sequence[Chunk | ChunkOutput], seconds: float | None = None
                  ) -> BatchSummary:
    """Concatenate the chunks' parts, in chunk order, into the batch's four CSVs (each written
    atomically) and write ``manifest.json``. Re-running gives identical files. Every chunk must have
    been processed (its ``done.json`` present)."""
    out = config.out_dir
    fingerprint_obj = config_fingerprint(config)
    fingerprint = _digest(fingerprint_obj)
    merged: dict[str, list[Path]] = {name: [] for name in TABLES}
    totals = dict.fromkeys(("documents", "pages", "fields", "accepted", "review", "errors"), 0)
    timings = dict.fromkeys(STAGES, 0.0)
    reused = 0
    chunk_list = [c.chunk if isinstance(c, ChunkOutput) else c for c in chunks]
    for c in chunks:
        reused += int(isinstance(c, ChunkOutput) and c.reused)
    documents = []
    turned: list[dict] = []
    for chunk in sorted(chunk_list, key=lambda c: c.index):
        pdir = part_dir(config, chunk)
        info = _load_done(pdir, fingerprint)
        if info is None:
            raise OCRError(f"chunk {chunk.index} ({chunk.key}) has not been processed: run process_chunk first")
        for name in TABLES:
            merged[name].append(pdir / f"{name}.csv")
        for k in totals:
            totals[k] += int(info["counts"][k])
        for k in STAGES:
            timings[k] += float(info.get("timings", {}).get(k, 0.0))
        documents += [{"id": d.id, "file": d.relative, "sha256": d.sha256, "size": d.size, "error": d.error,
                       **({"same_as": d.same_as} if d.same_as else {})} for d in chunk.documents]
        turned += info.get("turned", [])
    paths = {name: out / f"{name}.csv" for name in TABLES}
    paths["manifest"] = out / "manifest.json"
    # Every new file is first written complete beside the old one (".NAME.staged.tmp"), and only then are they
    # renamed over the old ones: a failure while writing (a full disk) leaves ALL the previous outputs as they were.
    staged = {name: out / f".{p.name}.staged.tmp" for name, p in paths.items()}
    # Temp files at the top of the output folder are the merge's own (CSVs, manifest, review page and plots):
    # any still there are from a run killed before its renames.
    _remove_stale_temps(out, ".*.tmp")
    try:
        _write_merged(config, merged, staged, chunk_list, documents, totals, fingerprint_obj, turned)
    except BaseException:
        for p in staged.values():
            p.unlink(missing_ok=True)
        raise
    for name in (*TABLES, "manifest"):  # the manifest last: it describes the CSVs beside it
        os.replace(staged[name], paths[name])
    manifest_path = paths["manifest"]
    # The auditors' page and plots, from the CSVs just written (both runners come through here).
    review_files = write_review_outputs(out)
    record_in_ledger(config)  # last: only a batch whose outputs are all written counts as read
    secs = float(seconds) if seconds is not None else sum(timings.values())
    return BatchSummary(**totals, seconds=secs, pages_per_second=totals["pages"] / secs if secs > 0 else 0.0,
                        out_dir=out, results_csv=paths["results"], digits_csv=paths["digits"],
                        review_csv=paths["review"], errors_csv=paths["errors"], manifest=manifest_path,
                        timings={k: round(v, 3) for k, v in timings.items()}, chunks=len(chunk_list),
                        chunks_reused=reused, review_files=review_files,
                        sent_twice=sum(1 for d in documents if d.get("same_as")))


def _write_merged(config: BatchConfig, merged: dict[str, list[Path]], staged: dict[str, Path],
                  chunk_list: list[Chunk], documents: list[dict], totals: dict, fingerprint_obj: dict,
                  turned: list[dict]) -> None:
    """The four CSVs and manifest.json of :func:`merge_outputs`, each to its ``staged`` path (atomically);
    ``turned`` lists the pages read turned the right way up (document, page, degrees clockwise)."""
    for name, cols in TABLES.items():
        if name == "review":
            # The review queue is sorted across the batch (lowest confidence first), so it is read whole;
            # it holds only what needs a person.
            frames = [read_csv(p) for p in merged[name]]
            df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)
            write_csv(review_order(df.reindex(columns=cols)), staged[name])
        else:
            _concat_csv(merged[name], cols, staged[name])
    wp = weights_path(config)
    manifest = {
        "batch": config.batch_name,
        "input_dir": str(config.input_dir.resolve()),
        "documents": documents,
        "chunks": [c.key for c in sorted(chunk_list, key=lambda c: c.index)],
        "weights": str(wp),
        "weights_sha256": fingerprint_obj["weights_sha256"],
        "settings": fingerprint_obj,
        "versions": library_versions(),
        "counts": totals,
        "turned_pages": turned,
        # The ledger of earlier batches consulted (None: none), and the files that are byte for byte an earlier
        # file, of this batch or of the ledger's (their fields are in review).
        "ledger": str(config.ledger.resolve()) if config.ledger else None,
        "same_files": [{"document": d["id"], "file": d["file"], "same_as": d["same_as"]}
                       for d in documents if d.get("same_as")],
    }
    write_atomic_bytes(staged["manifest"], json.dumps(manifest, indent=1, sort_keys=True).encode())


def check_output_dir(out_dir: Path) -> None:
    """Create the output folder and make sure it can be written, before any work is done."""
    _ensure_writable(out_dir, "output folder")


def _ensure_writable(folder: Path, what: str) -> None:
    """Create ``folder`` and write and remove a probe file in it; an OCRError naming it if that fails."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OCRError(f"{what} {folder} cannot be written ({exc.strerror or exc})") from None


def run_batch(config: BatchConfig, progress: bool = True) -> BatchSummary:
    """The library runner: discover, plan, process each chunk (tqdm progress), merge."""
    from tqdm import tqdm

    start = time.perf_counter()
    check_output_dir(config.out_dir)
    template_set(config.input_dir, config.templates_dir, config.template)  # bad templates fail up front
    docs = find_documents(config)
    chunks = plan_chunks(docs, config.chunk_size, config)
    classifier = get_classifier(config) if chunks else None
    outputs = []
    for chunk in tqdm(chunks, desc="chunks", unit="chunk", disable=not progress):
        outputs.append(process_chunk(chunk, config, classifier))
    summary = merge_outputs(config, outputs, seconds=None)
    summary.seconds = time.perf_counter() - start
    summary.pages_per_second = summary.pages / summary.seconds if summary.seconds > 0 else 0.0
    return summary



# --- archiving the inputs (only when asked: ocr batch --archive DIR) ----------------------------------------

def check_archive_dir(config: BatchConfig, archive_dir: str | Path) -> Path:
    """Create ``archive_dir`` and make sure it can be written, before any work is done. It must not lie inside
    the input folder (the next run would read the archived files again)."""
    archive = Path(archive_dir)
    if _inside(archive.resolve(), config.input_dir.resolve()):
        raise OCRError(f"archive folder {archive} is inside the input folder {config.input_dir}: "
                       "choose a folder outside it")
    _ensure_writable(archive, "archive folder")
    return archive


def _move_without_overwriting(src: Path, dst: Path) -> Path:
    """Move ``src`` to ``dst``, or to ``dst`` with ``-1``, ``-2``... before its suffix when that name is taken.
    The new name is claimed atomically (a hard link, or a file created with O_EXCL), so nothing is overwritten."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    for k in range(10_000):
        cand = dst if k == 0 else dst.with_name(f"{dst.stem}-{k}{dst.suffix}")
        try:
            os.link(src, cand, follow_symlinks=False)
        except FileExistsError:
            continue
        except OSError:  # another file system, or no hard links there: copy into a new file, then remove
            try:
                with open(src, "rb") as a, open(cand, "xb") as b:
                    shutil.copyfileobj(a, b, 1 << 20)
                    b.flush()
                    os.fsync(b.fileno())
            except FileExistsError:
                continue
            except BaseException:
                cand.unlink(missing_ok=True)
                raise
            shutil.copystat(src, cand)
        os.unlink(src)
        return cand
    raise OCRError(f"{dst}: no free name in the archive folder")


def archive_inputs(config: BatchConfig, archive_dir: str | Path) -> list[tuple[Path, Path]]:
    """Move the input files that were read (at least one row in ``results.csv``) into ``archive_dir``, keeping
    their paths relative to the input folder. Call it only after :func:`merge_outputs` has written the CSVs:
    it reads the batch's ``manifest.json`` and ``results.csv``. Files with only error rows stay for a person to
    look at; symbolic links stay; a file whose content changed since it was read stays. Never overwrites a
    file in ``archive_dir``. Returns ``(from, to)`` pairs."""
    archive = Path(archive_dir)
    moved = []
    for d in documents_read(config.out_dir)[1]:
        src = config.input_dir / d["file"]
        if src.is_symlink() or not src.is_file():
            continue
        if sha256_of(src) != d["sha256"]:
            log.warning("not archiving %s: it changed after it was read", d["file"])
            continue
        moved.append((src, _move_without_overwriting(src, archive / d["file"])))
    return moved


__all__ = ["BatchConfig", "BatchSummary", "archive_inputs", "check_archive_dir", "Chunk", "ChunkOutput",
           "Document", "discover", "documents_read", "find_documents", "forget_in_ledger", "get_classifier",
           "merge_outputs", "plan_chunks", "process_chunk", "record_in_ledger", "run_batch", "safe_name",
           "seen_before", "sent_twice", "RESULTS_COLUMNS", "DIGITS_COLUMNS", "REVIEW_COLUMNS", "ERRORS_COLUMNS"]
