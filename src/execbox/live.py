"""The live side of one run: output as the program writes it, input while it runs, a stop.

A run is a stream of events (DESIGN 12): a :class:`LiveRun` is handed to the
engine by whoever watches the run (a WebSocket, ``execbox run`` on a terminal);
the synchronous API is the same run without one, its output collected.

Threads meet here.  The backend's read loop calls :meth:`LiveStep.output` with
each piece of output it *kept* (the output cap is enforced before, so nothing
past the cap is ever passed on); a pump thread per step writes the input the
client sends to the program's stdin without ever blocking the read loop; the
client's side calls :meth:`LiveRun.feed`, :meth:`LiveRun.end_input` and
:meth:`LiveRun.stop` from any thread.  Buffers are bounded: input waiting for
the program is at most ``max_pending_input`` bytes (``feed`` says when it is
full, so the caller can stop reading its client: backpressure), and output is
bounded by the output cap, which the backend enforces while reading.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

log = logging.getLogger(__name__)

OutputSink = Callable[[str, bytes], None]
"""Receives ``(stream, data)`` in order: ``("stage", b"compile")`` or ``("stage", b"run")``
when a step starts, then that step's ``stdout`` and ``stderr`` as they are read."""

_PUMP_CHUNK = 65536
_POLL_MS = 100


class LiveRun:
    """One run's live channel; every method is safe from any thread."""

    def __init__(self, sink: OutputSink, *, stdin: bytes = b"", max_pending_input: int) -> None:
        self._sink = sink
        self._cond = threading.Condition()
        self._pending = bytearray(stdin)
        self._max_pending = max(max_pending_input, len(stdin))
        self._input_open = True
        self._input_gone = False  # the program closed its stdin: input is dropped
        self._stop_reason: str | None = None
        self._killer: Callable[[], None] | None = None

    # --- the client's side ------------------------------------------------------------------

    def feed(self, data: bytes) -> bool:
        """Queue ``data`` for the program's stdin; False (nothing queued) while the queue is
        full, so the caller should wait and try again.  Input after ``end_input`` is dropped."""
        with self._cond:
            if not self._input_open or self._input_gone or self._stop_reason is not None:
                return True
            if self._pending and len(self._pending) + len(data) > self._max_pending:
                return False
            self._pending += data
            self._cond.notify_all()
            return True

    def end_input(self) -> None:
        """Close the program's stdin once what was fed is written."""
        with self._cond:
            self._input_open = False
            self._cond.notify_all()

    def stop(self, reason: str) -> None:
        """End the run now (``reason`` is the result's message); a no-op once it ended."""
        with self._cond:
            if self._stop_reason is not None:
                return
            self._stop_reason = reason
            self._input_open = False
            self._cond.notify_all()
            killer = self._killer
            if killer is not None:
                killer()

    @property
    def stop_reason(self) -> str | None:
        with self._cond:
            return self._stop_reason

    # --- the engine's side ------------------------------------------------------------------

    def step(self, kind: str) -> LiveStep:
        """The live side of the run's next step (``compile`` or ``run``), announced."""
        self._emit("stage", kind.encode())
        return LiveStep(self, kind)

    def _emit(self, stream: str, data: bytes) -> None:
        if not data:
            return
        try:
            self._sink(stream, data)
        except Exception:  # a watcher's failure must not fail the run, nor the read loop
            log.exception("a live run's output sink failed; output goes on being collected")


class LiveStep:
    """One step of a live run as its backend sees it."""

    def __init__(self, run: LiveRun, kind: str) -> None:
        self.run = run
        self.kind = kind
        self.takes_input = kind == "run"
        """Only the run step reads the client's input; a compile step's stdin is empty."""
        self.stopped = False
        """A stop ended this step (set while the step was running)."""

    def output(self, stream: str, data: bytes) -> None:
        """A piece of kept output, in the order it was read."""
        self.run._emit(stream, data)

    @contextmanager
    def stoppable(self, kill: Callable[[], None]) -> Iterator[None]:
        """While inside, a stop calls ``kill`` (at once if one was already asked for).

        ``kill`` is never called after the block ends, so it may use descriptors the
        backend closes afterwards."""
        run = self.run

        def killer() -> None:
            self.stopped = True
            kill()

        with run._cond:
            run._killer = killer
            if run._stop_reason is not None:
                killer()
        try:
            yield
        finally:
            with run._cond:
                run._killer = None

    @contextmanager
    def pump_input(self, fd: int, close: Callable[[], None]) -> Iterator[None]:
        """Write the client's input to ``fd`` (a pipe or socket, set non-blocking here) as
        it comes, from a thread of its own; ``close`` ends the program's stdin (called once,
        when the input ends or the block does).  The block waits for the thread, which
        notices its end within a tenth of a second, whatever the program does."""
        os.set_blocking(fd, False)
        done = threading.Event()
        closed = threading.Lock()
        is_closed = [False]

        def close_once() -> None:
            with closed:
                if not is_closed[0]:
                    is_closed[0] = True
                    with suppress(OSError):
                        close()

        thread = threading.Thread(
            target=self._pump, args=(fd, close_once, done), name="execbox-stdin", daemon=True
        )
        thread.start()
        try:
            yield
        finally:
            done.set()
            with self.run._cond:
                self.run._cond.notify_all()
            thread.join()
            close_once()

    def _pump(self, fd: int, close: Callable[[], None], done: threading.Event) -> None:
        run = self.run
        while True:
            with run._cond:
                while not run._pending and run._input_open and not done.is_set():
                    run._cond.wait()
                if done.is_set():
                    return
                if not run._pending:
                    break  # input closed and all of it written
                chunk = bytes(run._pending[:_PUMP_CHUNK])
            written = _write_some(fd, chunk, done)
            with run._cond:
                if written is None:
                    run._input_gone = True
                    run._pending.clear()
                else:
                    del run._pending[:written]
                run._cond.notify_all()
            if written is None:
                break
        close()


def _write_some(fd: int, data: bytes, done: threading.Event) -> int | None:
    """Bytes of ``data`` written to non-blocking ``fd``, waiting for room; None once the
    reader is gone or the step is over."""
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    while not done.is_set():
        try:
            return os.write(fd, data)
        except BlockingIOError:
            poller.poll(_POLL_MS)
        except OSError as exc:
            if exc.errno in (errno.EPIPE, errno.ECONNRESET, errno.EBADF, errno.ENOTCONN):
                return None
            raise
    return None
