"""Content-addressed archive: ``archive/sha256/ab/cdef…``, written once, never modified.

Every file exchanged, in or out, is stored here by its sha256, so that an audit, a
reprocess or a redelivery reads exactly the bytes that were exchanged.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import StorageError, TransientError
from ..model import Folder
from .atomic import READ_ONLY, DurableBatch, temp_name

CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Blob:
    sha256: str
    size: int


class BlobWriter(io.RawIOBase):
    """A file being written into the archive: hashes as it goes, stages on ``finish``."""

    def __init__(self, archive: Archive, batch: DurableBatch) -> None:
        super().__init__()
        self._archive = archive
        self._batch = batch
        self._hash = hashlib.sha256()
        self._size = 0
        self._tmp = temp_name(archive.tmp_dir / "blob")
        try:  # read-only from the start: the archive is never modified (closed in finish)
            self._fh = open(self._tmp, "wb", buffering=CHUNK, opener=READ_ONLY)  # noqa: SIM115
        except FileNotFoundError:  # the tmp folder was removed under us: make it again
            archive.tmp_dir.mkdir(parents=True, exist_ok=True)
            self._fh = open(self._tmp, "wb", buffering=CHUNK, opener=READ_ONLY)  # noqa: SIM115
        self.blob: Blob | None = None

    def writable(self) -> bool:
        return True

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._hash.update(data)
        self._size += len(data)
        try:
            return self._fh.write(data)
        except OSError as exc:  # a full or failing disk: retried later, never a bad file
            raise StorageError(f"archive write failed: {exc}") from exc

    @property
    def tmp_path(self) -> Path:
        return self._tmp

    def finish(self) -> Blob:
        """Close the temp file; queue its rename into the archive on the batch."""
        if self.blob is not None:
            return self.blob
        try:
            self._fh.close()
        except OSError as exc:
            raise StorageError(f"archive write failed: {exc}") from exc
        digest = self._hash.hexdigest()
        final = self._archive.path(digest)
        if final.exists():
            self._tmp.unlink()  # same content already archived: nothing to do
        else:
            self._archive.make_dir(final.parent)
            self._batch.add(self._tmp, final)
        self.blob = Blob(digest, self._size)
        return self.blob

    def abort(self) -> None:
        self._fh.close()
        try:
            self._tmp.unlink()
        except FileNotFoundError:
            pass


class Archive:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_dir = root / "tmp"
        (root / "sha256").mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self._dirs: set[Path] = set()  # fan-out folders known to exist

    def make_dir(self, path: Path) -> None:
        if path not in self._dirs:
            path.mkdir(parents=True, exist_ok=True)
            self._dirs.add(path)

    @classmethod
    def in_workspace(cls, workspace: Path) -> Archive:
        return cls(workspace / Folder.ARCHIVE)

    def path(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256[:2] / sha256[2:]

    def writer(self, batch: DurableBatch) -> BlobWriter:
        try:
            return BlobWriter(self, batch)
        except OSError as exc:
            raise StorageError(f"archive not writable: {exc}") from exc

    def put_stream(self, src: BinaryIO, batch: DurableBatch, expected_size: int | None = None
                   ) -> Blob:
        """Copy a stream into the archive; the caller publishes the batch before committing."""
        w = self.writer(batch)
        try:
            while chunk := src.read(CHUNK):
                w.write(chunk)
            if expected_size is not None and w.size != expected_size:
                raise TransientError(f"read {w.size} bytes, listing said {expected_size}: "
                                     "file still changing")
        except TransientError:  # the source failed: its partial copy is removed at once
            w.abort()
            raise
        except OSError as exc:
            w.abort()
            raise StorageError(f"archive write failed: {exc}") from exc
        except BaseException:
            w.abort()
            raise
        return w.finish()

    def open(self, sha256: str) -> BinaryIO:
        return open(self.path(sha256), "rb")  # noqa: SIM115 - caller closes

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def iter_blobs(self) -> Iterator[tuple[str, Path]]:
        base = self.root / "sha256"
        for sub in sorted(base.iterdir()):
            if sub.is_dir():
                for f in sorted(sub.iterdir()):
                    if not f.name.startswith("."):
                        yield sub.name + f.name, f

    @staticmethod
    def hash_stream(fh: BinaryIO) -> str:
        h = hashlib.sha256()
        while chunk := fh.read(CHUNK):
            h.update(chunk)
        return h.hexdigest()

    @classmethod
    def hash_file(cls, path: Path) -> str:
        with open(path, "rb") as fh:
            return cls.hash_stream(fh)

    def verify(self, expected: Iterator[str]) -> list[str]:
        """Re-hash every blob; return one message per mismatch or missing blob."""
        problems = []
        seen = set()
        for digest, path in self.iter_blobs():
            seen.add(digest)
            actual = self.hash_file(path)
            if actual != digest:
                problems.append(f"{path}: content hashes to {actual}, stored as {digest}")
        for digest in expected:
            if digest not in seen:
                problems.append(f"missing blob {digest} referenced by the ledger")
        return problems

    def clean_temp(self) -> None:
        """Remove temporary files left by a crash; they were never referenced."""
        if self.tmp_dir.exists():
            for f in self.tmp_dir.iterdir():
                try:
                    os.unlink(f)
                except OSError:
                    pass
