"""A worker process that reads a large file and sends what it found, message by message.

A spawned process (no inherited locks, nothing of the main process's state) is given a
plan of plain values. A thread of the main process receives its messages a few ahead (it
waits on the pipe without the GIL), so that neither process waits for the other message
by message. Closed, the worker is killed if it still runs: a worker whose main process is
gone ends by itself at its next message (its pipe is broken).
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
from collections.abc import Callable
from typing import Any


class WorkerPipe:
    def __init__(self, target: Callable[[Any, Any], None], plan: Any, name: str,
                 ahead: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=target, args=(plan, child), daemon=True,
                                 name=f"gateway-{name}")
        self._proc.start()
        child.close()
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=ahead)
        self._thread = threading.Thread(target=self._receive, daemon=True,
                                        name=f"gateway-{name}-receiver")
        self._thread.start()

    def _receive(self) -> None:
        try:
            while True:
                self._queue.put(self._conn.recv_bytes())
        except (EOFError, OSError):  # the worker is done (or died): no more messages
            self._queue.put(None)

    def message(self) -> bytes | None:
        """The worker's next message; None once it has ended, with a last word or not."""
        return self._queue.get()

    def close(self) -> None:
        if self._proc.is_alive():
            self._proc.kill()
        self._proc.join()
        while self._thread.is_alive():  # let a receiver blocked on a full queue finish
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self._conn.close()

    def __enter__(self) -> WorkerPipe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
