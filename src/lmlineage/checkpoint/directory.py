"""Checkpoint directories that survive a crash at any moment.

A checkpoint is a directory: ``model.safetensors`` + ``config.json`` (the model),
the tokenizer's files, and for training state ``optimizer.safetensors`` +
``trainer_state.json``; ``manifest.json`` lists every file with its sha256 and the
format version. A directory is written under a temporary name, every file fsynced,
then renamed into place, so a reader sees the old checkpoint or the new one, never half.

The swap is two renames (``target`` -> ``.target.old-PID``, ``.target.tmp-PID`` -> ``target``); a
crash between them leaves no ``target``, only its old copy, which :func:`recover` puts back. A crash
elsewhere leaves ``.target.tmp-PID`` / ``.target.old-PID`` litter, which :func:`recover` removes.
``benchmarks/kill_test.py`` SIGKILLs a training run at random moments to prove all of this.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import torch

from ..core.errors import UserError
from ..core.version import __version__

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(directory: Path) -> None:
    files = sorted(p.name for p in directory.iterdir() if p.is_file() and p.name != MANIFEST)
    manifest = {
        "format_version": FORMAT_VERSION,
        "lmlineage_version": __version__,
        "torch_version": torch.__version__,
        "files": {name: sha256(directory / name) for name in files},
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


@contextlib.contextmanager
def atomic_directory(target: Path, manifest: bool = True):
    """Yield a temporary directory; on success it replaces ``target`` atomically."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
        if manifest:
            write_manifest(tmp)
        for p in sorted(tmp.rglob("*"), reverse=True):  # a run of stages holds checkpoint directories
            if p.is_dir():
                _fsync_dir(p)
                continue
            with open(p, "rb") as f:
                os.fsync(f.fileno())
        _fsync_dir(tmp)
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        if old.exists():  # this pid's litter from an earlier crash (pids repeat, e.g. in containers)
            shutil.rmtree(old)
        if target.exists():
            os.rename(target, old)
        os.rename(tmp, target)
        _fsync_dir(target.parent)
        if old.exists():
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def recoverable(target: Path) -> Path | None:
    """The directory a resume of ``target`` would read, without changing anything: ``target``
    itself, or where a crash between the swap's two renames left none, its newest intact old copy
    (``None``: no checkpoint at all). A partly deleted old copy (a crash while it was being
    removed) fails verification, so it is never picked over an intact one."""
    target = Path(target)
    if target.exists():
        return target
    olds = [p for p in target.parent.glob(f".{target.name}.old-*") if p.is_dir()] if target.parent.is_dir() else []
    olds.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for old in olds:
        try:
            verify(old)
            return old
        except UserError:
            continue
    return olds[0] if olds else None  # none intact: hand over the newest, so that loading it says why


def recover(target: Path) -> None:
    """Finish an interrupted swap: if ``target`` is gone but an old copy survives, restore it;
    then remove the temporary and old copies that crashed writers left behind."""
    target = Path(target)
    source = recoverable(target)
    if source is not None and source != target:
        try:
            os.rename(source, target)
        except OSError:
            if not target.exists():  # another process (a DDP rank) may have restored it first
                raise
        _fsync_dir(target.parent)
    if not target.parent.is_dir():
        return
    for litter in [*target.parent.glob(f".{target.name}.tmp-*"), *target.parent.glob(f".{target.name}.old-*")]:
        if _writer_gone(litter.name.rsplit("-", 1)[-1]):
            shutil.rmtree(litter, ignore_errors=True)


_LITTER = re.compile(r"^\.(.+)\.(?:tmp|old)-\d+$")  # .NAME.tmp-PID / .NAME.old-PID of a swap


def recover_run(run: Path) -> None:
    """:func:`recover` every checkpoint of a run directory: last/, best/ and any step-N/ whose write
    a crash cut short. A crash before the first last/ existed (best/ is written first) leaves litter
    that a fresh start, not a resume, must clear."""
    run = Path(run)
    if not run.is_dir():
        return
    names = {"last", "best"} | {m.group(1) for p in run.iterdir() if (m := _LITTER.match(p.name))}
    for name in sorted(names):
        recover(run / name)


def _writer_gone(pid: str) -> bool:
    """Whether the process that named a temporary directory is no longer writing it: it is this
    process (which is not inside a write while it recovers) or no longer running."""
    if not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. PermissionError: it exists
        return False
    return False


def verify(directory: Path) -> dict:
    """Check the manifest's format version and every file's checksum."""
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.exists():
        raise UserError(f"{directory} has no {MANIFEST}", "is this a lmlineage checkpoint directory?")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UserError(f"{path} is not valid JSON", "the checkpoint is damaged") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files", {}), dict):
        raise UserError(f"{path} is not a lmlineage manifest (no files object)", "the checkpoint is damaged")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise UserError(
            f"{directory} has checkpoint format {version!r}, written by lmlineage "
            f"{manifest.get('lmlineage_version', '?')}; this lmlineage reads format {FORMAT_VERSION}",
            "use the lmlineage version that wrote it",
        )
    for name, digest in manifest.get("files", {}).items():
        if "/" in name or "\\" in name or name in ("..", "."):
            raise UserError(f"{path} names {name!r}, outside the checkpoint directory")
        file = directory / name
        if not file.exists():
            raise UserError(f"{directory} is missing {name}", "the checkpoint is incomplete")
        if not isinstance(digest, str) or sha256(file) != digest:
            raise UserError(f"{file} does not match its checksum", "the file is damaged or was changed")
    return manifest
