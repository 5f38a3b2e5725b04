"""Document templates: what a kind of document looks like and where its fields are.

A template is one YAML file (the bundled ones are in ``ocr/templates/``; a user adds a form by
writing one more file in a folder given with ``--templates DIR``)::

    kind: form-sample                 # the template's name (defaults to the file's stem)
    description: the synthetic application form of `ocr synth --kind form`
    size_mm: [148, 105]               # width, height of the paper; or `aspect: 1.41` (width / height)
    fields:
      - name: zip
        type: zip                     # amount | zip | date | digits
        box: [0.10, 0.55, 0.40, 0.68] # x0, y0, x1, y1 as fractions of the document's width/height
        snap: frame                   # optional: move the box onto the printed rectangle found near it
        cells: 6                      # optional: the printed frame is divided into this many cells
        search: 0.03                  # optional: how far (fraction of the page) to look for the frame
        currency_cell: 0.08           # optional: the form prints a currency sign at the box's left; a printed
                                      # rule this close (fraction of the page width) to the box's left edge
                                      # divides off its cell: read right of it; with no such rule the sign
                                      # is inside the box (FieldImage.printed_sign)

Boxes are relative to the registered document (top-left origin, x to the right, y down).
Every problem raises :class:`OCRError` naming the file and the key.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ocr.errors import OCRError
from ocr.records import FIELD_TYPES

BUNDLED_DIR = Path(__file__).resolve().parent / "templates"
SNAP_KINDS = ("none", "frame")
BATCH_CONFIG_NAME = "batch.yaml"


@dataclass(frozen=True)
class FieldSpec:
    """One field of a template. ``box`` is ``(x0, y0, x1, y1)`` in fractions of the document."""

    name: str
    type: str
    box: tuple[float, float, float, float]
    snap: str = "none"
    cells: int = 0
    search: float = 0.03
    currency_cell: float = 0.0


@dataclass(frozen=True)
class Template:
    """A document kind: its aspect ratio (width / height) and its fields."""

    name: str
    aspect: float
    fields: tuple[FieldSpec, ...]
    description: str = ""
    source: Path | None = None
    size_mm: tuple[float, float] | None = None
    match_aspect: bool = True  # take part in choosing a template by the page's shape

    @property
    def portrait(self) -> bool:
        return self.aspect < 1.0

    def fits(self, aspect: float) -> bool:
        """Whether a page of this width / height has this kind's shape (within :data:`ASPECT_TOLERANCE`)."""
        return abs(math.log(aspect / self.aspect)) <= math.log(ASPECT_TOLERANCE)


def _fail(path: Path, key: str, why: str) -> OCRError:
    return OCRError(f"template {path.name}: {key}: {why}")


def _number(path: Path, key: str, value, lo: float | None = None, hi: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(path, key, f"must be a number, got {value!r}")
    v = float(value)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise _fail(path, key, f"must be between {lo} and {hi}, got {value!r}")
    return v


def _field(path: Path, i: int, raw) -> FieldSpec:
    where = f"fields[{i}]"
    if not isinstance(raw, dict):
        raise _fail(path, where, "must be a mapping with name, type and box")
    unknown = set(raw) - {"name", "type", "box", "snap", "cells", "search", "currency_cell"}
    if unknown:
        raise _fail(path, f"{where}.{sorted(unknown)[0]}", "unknown key")
    for key in ("name", "type", "box"):
        if key not in raw:
            raise _fail(path, f"{where}.{key}", "missing")
    name = raw["name"]
    if not isinstance(name, str) or not name.strip():
        raise _fail(path, f"{where}.name", "must be a non-empty string")
    where = f"fields[{i}] ({name})"
    ftype = raw["type"]
    if ftype not in FIELD_TYPES:
        raise _fail(path, f"{where}.type", f"must be one of {', '.join(FIELD_TYPES)}, got {ftype!r}")
    box = raw["box"]
    if not isinstance(box, (list, tuple)) or len(box) != 4:
        raise _fail(path, f"{where}.box", f"must be [x0, y0, x1, y1], got {box!r}")
    b = tuple(_number(path, f"{where}.box", v, 0.0, 1.0) for v in box)
    if not (b[0] < b[2] and b[1] < b[3]):
        raise _fail(path, f"{where}.box", f"needs x0 < x1 and y0 < y1, got {list(box)}")
    snap = raw.get("snap", "none") or "none"
    if snap not in SNAP_KINDS:
        raise _fail(path, f"{where}.snap", f"must be one of {', '.join(SNAP_KINDS)}, got {snap!r}")
    cells = int(_number(path, f"{where}.cells", raw.get("cells", 0), 0, 64))
    search = _number(path, f"{where}.search", raw.get("search", 0.03), 0.0, 0.5)
    currency = _number(path, f"{where}.currency_cell", raw.get("currency_cell", 0.0), 0.0, 0.5)
    return FieldSpec(name=name, type=ftype, box=b, snap=snap, cells=cells, search=search, currency_cell=currency)


def parse_template(path: str | Path) -> Template:
    """Read and check one template YAML file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise OCRError(f"template {path.name}: cannot read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise OCRError(f"template {path.name}: not valid YAML{at}") from None
    if not isinstance(raw, dict):
        raise OCRError(f"template {path.name}: must be a mapping with kind, size_mm or aspect, and fields")
    unknown = set(raw) - {"kind", "description", "size_mm", "aspect", "fields", "match"}
    if unknown:
        raise _fail(path, sorted(unknown)[0], "unknown key")
    name = raw.get("kind", path.stem)
    if not isinstance(name, str) or not name.strip():
        raise _fail(path, "kind", "must be a non-empty string")
    size_mm = None
    if "size_mm" in raw:
        size = raw["size_mm"]
        if not isinstance(size, (list, tuple)) or len(size) != 2:
            raise _fail(path, "size_mm", f"must be [width, height] in millimetres, got {size!r}")
        size_mm = (_number(path, "size_mm", size[0], 1, 5000), _number(path, "size_mm", size[1], 1, 5000))
        aspect = size_mm[0] / size_mm[1]
    elif "aspect" in raw:
        aspect = _number(path, "aspect", raw["aspect"], 0.05, 20)
    else:
        raise _fail(path, "size_mm", "missing (give size_mm: [width, height] or aspect: width/height)")
    fields = raw.get("fields")
    if not isinstance(fields, list) or not fields:
        raise _fail(path, "fields", "missing or empty (a list of fields with name, type and box)")
    specs = tuple(_field(path, i, f) for i, f in enumerate(fields))
    names = [s.name for s in specs]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise _fail(path, "fields", f"field name {dup!r} is used twice")
    match = raw.get("match", True)
    if not isinstance(match, bool):
        raise _fail(path, "match", f"must be true or false, got {match!r}")
    return Template(name=name, aspect=aspect, fields=specs, description=str(raw.get("description", "")),
                    source=path, size_mm=size_mm, match_aspect=match)


# A page fits a template whose width / height is within this factor of its own.
ASPECT_TOLERANCE = 1.25


@dataclass
class TemplateSet:
    """The templates a batch can use, by name, and the rules that choose one per file."""

    templates: dict[str, Template]
    rules: list[tuple[str, str]] = field(default_factory=list)  # (file-name glob, template name)
    forced: str | None = None

    def get(self, name: str) -> Template:
        if name not in self.templates:
            raise OCRError(f"no template named {name!r} (known: {', '.join(sorted(self.templates))})")
        return self.templates[name]

    def rule_for(self, relative_name: str) -> Template | None:
        """The template a ``--template`` or a batch.yaml rule names for this file, else ``None``."""
        if self.forced:
            return self.get(self.forced)
        base = relative_name.rsplit("/", 1)[-1]
        for pattern, name in self.rules:
            if fnmatch.fnmatch(relative_name, pattern) or fnmatch.fnmatch(base, pattern):
                return self.get(name)
        return None

    def match(self, aspect: float) -> Template:
        """The template whose aspect ratio (width / height, log scale) is closest to the page's."""
        candidates = [t for t in self.templates.values() if t.match_aspect] or list(self.templates.values())
        best = min(candidates, key=lambda t: (abs(math.log(aspect / t.aspect)), t.name))
        if not best.fits(aspect):
            raise OCRError(f"no template fits a page of aspect {aspect:.2f} (closest: {best.name}, "
                           f"{best.aspect:.2f}); name one with --template or in batch.yaml")
        return best


def load_templates(templates_dir: str | Path | None = None) -> dict[str, Template]:
    """The bundled templates, then those of ``templates_dir`` (a user's file replaces a bundled one of
    the same kind)."""
    out: dict[str, Template] = {}
    dirs = [BUNDLED_DIR] + ([Path(templates_dir)] if templates_dir else [])
    for d in dirs:
        if not d.is_dir():
            raise OCRError(f"templates folder {d} does not exist")
        for path in sorted(d.glob("*.yaml")) + sorted(d.glob("*.yml")):
            t = parse_template(path)
            out[t.name] = t
    return out


def load_batch_rules(input_dir: str | Path) -> list[tuple[str, str]]:
    """Rules from an optional ``batch.yaml`` in the input folder::

        templates:
          - match: "cheques/*.jpg"     # glob on the path relative to the input folder, or the file name
            template: cheque-cts2010
    """
    path = Path(input_dir) / BATCH_CONFIG_NAME
    if not path.is_file():
        return []
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        raise OCRError(f"{BATCH_CONFIG_NAME}: not valid YAML") from None
    if not isinstance(raw, dict):
        raise OCRError(f"{BATCH_CONFIG_NAME}: must be a mapping with a 'templates' list")
    rules = raw.get("templates", [])
    if not isinstance(rules, list):
        raise OCRError(f"{BATCH_CONFIG_NAME}: templates: must be a list of {{match, template}}")
    out = []
    for i, r in enumerate(rules):
        if not isinstance(r, dict) or not isinstance(r.get("match"), str) or not isinstance(r.get("template"), str):
            raise OCRError(f"{BATCH_CONFIG_NAME}: templates[{i}]: needs 'match' (a glob) and 'template' (a name)")
        out.append((r["match"], r["template"]))
    return out


def template_set(input_dir: str | Path | None, templates_dir: str | Path | None = None,
                 template: str | None = None) -> TemplateSet:
    """Everything that decides which template a file of a batch gets (see :class:`TemplateSet`)."""
    ts = TemplateSet(load_templates(templates_dir), load_batch_rules(input_dir) if input_dir else [], template)
    for _, name in ts.rules:
        ts.get(name)  # an unknown name in batch.yaml is a batch-level error, said up front
    if template:
        ts.get(template)
    return ts
