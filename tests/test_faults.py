"""Faults: a run killed with SIGKILL and started again ends with the same files as an uninterrupted run;
a missing or corrupt weights file, an output folder that cannot be written and a full disk stop the run
with one clear line and leave earlier outputs as they were; inputs are never changed, and ``--archive``
moves only what was read, only after its rows are written, and never overwrites."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ocr.cli import main
from ocr.report import read_csv

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
DOCS = ("cheque-7-0000.jpg", "cheque-7-0002.jpg", "form-7-0001.jpg", "form-7-0003.jpg")
TABLES = ("results", "digits", "review", "errors")
ROOT = Path(__file__).resolve().parent.parent

# Runs `ocr` in a child process that can be killed at a chosen moment:
#   pause MS          -> sleep MS after each chunk (the test kills it between chunks)
#   replace NAME:K    -> SIGKILL itself at the K-th os.replace onto a file named NAME: its temp file is
#                        written, the rename never happens
CHILD = r"""
import os, signal, sys, time
import ocr.batch as batch
mode, arg = sys.argv[1], sys.argv[2]
if mode == "pause":
    original = batch.process_chunk
    def process_chunk(*a, **kw):
        out = original(*a, **kw)
        time.sleep(int(arg) / 1000)
        return out
    batch.process_chunk = process_chunk
elif mode == "replace":
    name, nth = arg.split(":")
    real, calls = os.replace, [0]
    def replace(src, dst):
        calls[0] += os.path.basename(dst) == name
        if calls[0] == int(nth):
            os.kill(os.getpid(), signal.SIGKILL)
        return real(src, dst)
    os.replace = replace
from ocr.cli import main
sys.exit(main(sys.argv[3:]))
"""


def _digest(root: Path, skip_hidden: bool = False) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if skip_hidden and rel.startswith("."):
            continue
        if p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _outputs(out: Path) -> dict[str, str]:
    """The batch's visible outputs (CSVs, manifest, crops), not the resumable parts."""
    return _digest(out, skip_hidden=True)


def _args(inp: Path, out: Path, *extra: str) -> list[str]:
    return ["batch", str(inp), "--out", str(out), "--device", "cpu", "--chunk-size", "1", "--runner", "local",
            "--quiet", *extra]


def _child(mode: str, arg: int, argv: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("OCR_WEIGHTS", None)  # the shipped weights, as everywhere in the tests
    return subprocess.Popen([sys.executable, "-c", CHILD, mode, str(arg), *argv], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """A small input folder (5 documents: 5 chunks of one) and its uninterrupted outputs."""
    root = tmp_path_factory.mktemp("faults")
    inp = root / "in" / "batch"
    inp.mkdir(parents=True)
    for name in (*DOCS, "batch.yaml"):
        shutil.copy(SAMPLES / name, inp / name)
    (inp / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    hashes = _digest(inp)
    assert main(_args(inp, root / "reference")) == 0
    yield {"root": root, "inp": inp, "ref": root / "reference"}
    assert _digest(inp) == hashes, "an input file was changed, moved or added"


def _assert_same_as_reference(out: Path, ref: Path) -> None:
    assert _outputs(out) == _outputs(ref)
    leftovers = [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == [], leftovers
    for t in TABLES:
        df = read_csv(out / f"{t}.csv")  # parses
        if t == "results":
            assert not df.duplicated(["document", "page", "field"]).any()


def test_sigkill_between_chunks_then_restart(batch):
    out = batch["root"] / "killed-between"
    child = _child("pause", 1500, _args(batch["inp"], out))
    deadline = time.monotonic() + 120
    while not list((out / ".parts").glob("*/done.json")) and time.monotonic() < deadline:
        assert child.poll() is None, child.communicate()
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.communicate()
    assert child.returncode == -signal.SIGKILL
    done = list((out / ".parts").glob("*/done.json"))
    assert 1 <= len(done) < len(DOCS) + 1 and not (out / "results.csv").exists()
    # Started again (a plain `ocr batch`): finishes the rest, reuses what was done.
    again = subprocess.run([sys.executable, "-m", "ocr", *_args(batch["inp"], out)], cwd=ROOT, text=True,
                           capture_output=True, env={k: v for k, v in os.environ.items() if k != "OCR_WEIGHTS"})
    assert again.returncode == 0, again.stderr
    reused = next(line for line in again.stdout.splitlines() if line.startswith("chunks (reused)"))
    assert reused.split()[-1] == f"({len(done)})"
    _assert_same_as_reference(out, batch["ref"])


# Each of the 5 chunks renames its part's errors.csv; the merge writes its files complete and then renames them
# one by one (results, digits, review, errors, manifest), then writes the review page.
@pytest.mark.parametrize("where", ["errors.csv:3", f"errors.csv:{len(DOCS) + 2}", "review.html:1"],
                         ids=["in a part", "in the merge's renames", "in the review page"])
def test_sigkill_in_the_middle_of_a_write_then_restart(batch, where):
    out = batch["root"] / f"killed-{where.replace(':', '-')}"
    child = _child("replace", where, _args(batch["inp"], out))
    child.communicate(timeout=300)
    assert child.returncode == -signal.SIGKILL
    assert list(out.rglob("*.tmp")), "the kill was meant to leave a temp file behind"
    assert main(_args(batch["inp"], out)) == 0
    _assert_same_as_reference(out, batch["ref"])


@pytest.fixture
def previous(batch, tmp_path):
    """An output folder holding an earlier, different batch's outputs (the reference minus one document)."""
    out = tmp_path / "out"
    shutil.copytree(batch["ref"], out)
    shutil.rmtree(out / ".parts")  # so the new run does all its work (and its writes) again
    for t in TABLES:
        df = read_csv(out / f"{t}.csv")
        df[df["document"] != DOCS[0]].to_csv(out / f"{t}.csv", index=False)
    return out, _outputs(out)


def _one_line_error(capsys, code: int, *words: str) -> str:
    err = capsys.readouterr().err.strip()
    assert code != 0 and err.startswith("ocr: ") and "\n" not in err and "Traceback" not in err, err
    for w in words:
        assert w in err, err
    return err


@pytest.mark.parametrize("content,words", [(None, ["weights file not found"]),
                                           (b"PK\x03\x04 not really a zip" * 50, ["weights file", "unreadable"]),
                                           (b"", ["weights file", "unreadable"])])
def test_bad_weights_stop_the_run_and_keep_outputs(batch, previous, capsys, tmp_path, content, words):
    out, before = previous
    weights = tmp_path / "lenet5.pt"
    if content is not None:
        weights.write_bytes(content)
    code = main(_args(batch["inp"], out, "--weights", str(weights)))
    _one_line_error(capsys, code, *words)
    assert _outputs(out) == before


def test_output_folder_that_cannot_be_made(batch, capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code = main(_args(batch["inp"], blocker / "out"))
    _one_line_error(capsys, code, "cannot be written", str(blocker / "out"))
    assert blocker.read_text() == "not a folder"
    # The same as a person sees it: the whole of stderr is that one line.
    run = subprocess.run([sys.executable, "-m", "ocr", *_args(batch["inp"], blocker / "out")], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and run.stderr.startswith("ocr: "), run.stderr


def _fail_writes(mp, name: str = "", err: int = errno.ENOSPC) -> None:
    """Make the writes of files whose name contains ``name`` (every file when empty) fail as on a full (or
    read-only) disk: every atomic write fsyncs its temp file before renaming it, so this is a write that fails
    half-way. Temp files are named after their target (``.digits.csv.x1y2.tmp``)."""
    real = os.fsync

    def fsync(fd):
        if name in os.path.basename(os.readlink(f"/proc/self/fd/{fd}")):
            raise OSError(err, os.strerror(err))
        return real(fd)

    mp.setattr(os, "fsync", fsync)


@pytest.mark.parametrize("when", ["first write", "merge"])
def test_full_disk_stops_the_run_and_keeps_earlier_outputs(batch, previous, capsys, monkeypatch, when):
    out, before = previous
    # The merge writes results.csv first, then digits.csv: fail there, with the new results.csv already written.
    _fail_writes(monkeypatch, "" if when == "first write" else ".digits.csv.staged")
    code = main(_args(batch["inp"], out))
    _one_line_error(capsys, code, "No space left on device")
    assert _outputs(out) == before
    assert not list(out.rglob("*.tmp"))
    monkeypatch.undo()
    assert main(_args(batch["inp"], out)) == 0  # room again: the run resumes and completes
    _assert_same_as_reference(out, batch["ref"])


def test_read_only_output_folder_stops_the_run(batch, previous, capsys, monkeypatch):
    """Tests run as root, which ignores permission bits: a write refused with EROFS stands for it."""
    out, before = previous
    _fail_writes(monkeypatch, "", errno.EROFS)
    code = main(_args(batch["inp"], out))
    _one_line_error(capsys, code, "Read-only file system")
    assert _outputs(out) == before


# --- --archive -------------------------------------------------------------------------------------------------

def _copy_inputs(batch, dest: Path) -> Path:
    shutil.copytree(batch["inp"], dest)
    return dest


def test_archive_moves_only_what_was_read_after_the_rows_are_written(batch, tmp_path, capsys):
    inp = _copy_inputs(batch, tmp_path / "in" / "batch")
    archive = tmp_path / "archive"
    (archive / DOCS[1]).parent.mkdir(parents=True)
    (archive / DOCS[1]).write_bytes(b"an earlier night's file of the same name")
    before = _digest(inp)
    assert main(_args(inp, tmp_path / "out", "--archive", str(archive))) == 0
    assert "archived" in capsys.readouterr().out
    # Outputs as if there were no archive; the read documents moved, the broken file and batch.yaml stay.
    got, want = _outputs(tmp_path / "out"), _outputs(batch["ref"])
    assert got.pop("manifest.json") and want.pop("manifest.json")  # it names the input folder, a copy here
    assert got == want
    assert sorted(p.name for p in inp.iterdir()) == ["batch.yaml", "broken.png"]
    moved = _digest(archive)
    assert moved.pop(DOCS[1]) == hashlib.sha256(b"an earlier night's file of the same name").hexdigest()
    assert sorted(moved.values()) == sorted(before[d] for d in DOCS)  # same bytes, nothing overwritten
    assert len(moved) == len(DOCS)


def test_archive_moves_nothing_when_the_run_fails(batch, tmp_path, capsys, monkeypatch):
    inp = _copy_inputs(batch, tmp_path / "in" / "batch")
    before = _digest(inp)
    _fail_writes(monkeypatch, ".digits.csv.staged")  # in the merge, after every part was written
    code = main(_args(inp, tmp_path / "out", "--archive", str(tmp_path / "archive")))
    _one_line_error(capsys, code, "No space left on device")
    assert _digest(inp) == before
    assert not (tmp_path / "archive").exists() or not any((tmp_path / "archive").rglob("*"))


def test_archive_inside_the_input_folder_is_refused(batch, tmp_path, capsys):
    inp = _copy_inputs(batch, tmp_path / "in" / "batch")
    before = _digest(inp)
    code = main(_args(inp, tmp_path / "out", "--archive", str(inp / "done")))
    _one_line_error(capsys, code, "archive")
    assert _digest(inp) == before and not (tmp_path / "out" / "results.csv").exists()
