"""Local folder endpoint: a drop folder on this machine (or a mounted share).

Watchdog (inotify) events only wake the poller early; the folder listing plus the
readiness rules decide what is taken, so a missed event costs a poll interval, never a file.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import BinaryIO

from ..errors import TransientError
from ..model import Folder, SettleMode
from ..store.atomic import PRIVATE, DurableBatch
from .base import escape_controls
from .readiness import Entry

CHUNK = 1 << 20


def safe_name(name: str) -> str:
    """A file name as text the ledger, logs and acks can carry: undecodable bytes and
    control characters shown as escapes (``\\xe9``, ``\\x0a``)."""
    return escape_controls(name.encode("utf-8", "surrogateescape")
                           .decode("utf-8", "backslashreplace"))


class LocalTransport:
    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path

    def describe(self) -> str:
        return str(self.path)

    def ensure(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TransientError(f"endpoint {self.name}: cannot create {self.path}: {exc}"
                                 ) from exc

    def list(self) -> list[Entry]:
        try:
            entries = []
            with os.scandir(self.path) as it:
                for de in it:
                    try:
                        if not de.is_file(follow_symlinks=False):
                            continue
                        st = de.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    entries.append(Entry(de.name, st.st_size, st.st_mtime))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise TransientError(f"endpoint {self.name}: cannot list {self.path}: {exc}"
                                 ) from exc
        entries.sort(key=lambda e: e.name)
        return entries

    def open(self, name: str) -> BinaryIO:
        try:
            return open(self.path / name, "rb")  # noqa: SIM115 - caller closes
        except OSError as exc:
            raise TransientError(f"endpoint {self.name}: cannot read {name}: {exc}") from exc

    def stat(self, name: str) -> Entry | None:
        try:
            st = os.stat(self.path / name)
        except FileNotFoundError:
            return None
        return Entry(name, st.st_size, st.st_mtime)

    def settle(self, name: str, mode: SettleMode, *, tag: str, done_suffix: str | None) -> None:
        """Remove or move a source whose exchange is committed (Rule 1)."""
        src = self.path / name
        try:
            if mode is SettleMode.MOVE:
                dest_dir = self.path / Folder.PROCESSED
                dest_dir.mkdir(exist_ok=True)
                dest = dest_dir / name
                if dest.exists():
                    dest = dest_dir / f"{name}.{tag}"
                os.replace(src, dest)
            else:
                os.unlink(src)
        except FileNotFoundError:
            pass  # already settled before a crash
        except OSError as exc:
            raise TransientError(f"endpoint {self.name}: cannot settle {name}: {exc}") from exc
        if done_suffix:
            try:
                os.unlink(self.path / (name + done_suffix))
            except FileNotFoundError:
                pass

    def quarantine(self, name: str, *, tag: str) -> None:
        """Move a refused file aside, never delete it: nothing that arrived is lost."""
        qdir = self.path / Folder.QUARANTINE
        try:
            qdir.mkdir(exist_ok=True)
            os.replace(self.path / name, qdir / f"{name}.{tag}")
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise TransientError(f"endpoint {self.name}: cannot quarantine {name}: {exc}"
                                 ) from exc

    @property
    def watch_path(self) -> Path:
        """The folder inotify watches to wake the poller early."""
        return self.path

    # -- delivery: stage (temporary name) → make durable → publish (rename) ---------------
    def staged_path(self, name: str) -> Path:
        return self.path / f".{name}.part"

    def stage(self, name: str, src: BinaryIO, size: int) -> None:
        """Write an output under its temporary name, ``.NAME.part``."""
        tmp = self.staged_path(name)
        try:
            try:  # 0640: outputs and acks are partners' data
                fh = open(tmp, "wb", opener=PRIVATE)  # noqa: SIM115 - closed below
            except FileNotFoundError:  # the folder was removed: make it again
                self.ensure()
                fh = open(tmp, "wb", opener=PRIVATE)  # noqa: SIM115
            with fh:
                while chunk := src.read(CHUNK):
                    fh.write(chunk)
        except OSError as exc:
            raise TransientError(f"endpoint {self.name}: cannot write {tmp}: {exc}") from exc

    def _batch(self, names: list[str]) -> DurableBatch:
        batch = DurableBatch()
        for name in names:
            batch.add(self.staged_path(name), self.path / name)
        return batch

    def make_durable(self, names: list[str]) -> None:
        """The staged files' bytes are on disk (one sync for many files)."""
        self._batch(names).flush()

    def publish(self, names: list[str]) -> None:
        """Rename staged files into place, in order; durable on return."""
        self._batch([n for n in names if self.is_staged(n)]).publish()

    def discard(self, names: list[str]) -> None:
        self._batch(names).discard()

    def is_staged(self, name: str) -> bool:
        return self.staged_path(name).exists()

    def exists(self, name: str) -> bool:
        return (self.path / name).exists()


class Watcher:
    """Sets ``wake`` whenever something changes in one of the watched folders."""

    def __init__(self, folders: list[Path], wake: threading.Event) -> None:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        class _Handler(FileSystemEventHandler):
            def on_any_event(self, event) -> None:  # type: ignore[no-untyped-def]
                if event.event_type in ("created", "moved", "closed", "modified"):
                    wake.set()

        self._observer = Observer()
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
            self._observer.schedule(_Handler(), str(folder), recursive=False)

    def start(self) -> None:
        self._observer.start()

    def stop(self) -> None:
        self._observer.stop()
        self._observer.join(timeout=5)
